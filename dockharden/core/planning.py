"""The plan, assembled: layers -> merged settings -> engine gating -> derived keys -> rendered files ->
conflicts and ownership -> Plan, against the host's facts.

Pure: the facts come in (host/facts.py reads them), the plan goes out; api.py runs the host tools'
checks of what would be written (iptables-restore --test) and adds what they say.
"""

from __future__ import annotations

import json

from dockharden.core import conflicts, derive, image_store, ownership, store_switch, strength
from dockharden.core import engine_gating as engine
from dockharden.core import plan as planmod
from dockharden.core import schema as validate
from dockharden.core.selection import CONFIG_PATH
from dockharden.daemon_json_codec import parse_daemon_json
from dockharden.errors import LayerError
from dockharden.model import MANAGED_STATE, HostSnapshot, Plan, Selection, Settings
from dockharden.targets import audit_rules, daemon_json, render_all, systemd_dropin, ufw_block


def render_with_sources(settings, host: HostSnapshot):
    """render_all, with a layer error naming the file of the layer that set the key."""
    try:
        return render_all(settings, host)
    except LayerError as exc:
        if not exc.path and exc.key and "." in exc.key:
            table, _, key = exc.key.partition(".")
            exc.path = settings.sources.get(settings.origin(table, (key.split(".")[0],)), "")
        raise


def plan_from(selection: Selection, settings: Settings, host: HostSnapshot, *, engine_version: str | None = None,
              restart: bool = True, live: bool = True, stop_first: bool = False) -> Plan:
    """Everything `plan` shows, from the merged layers and the host's facts; nothing is read or written here.

    `engine_version` is --engine-version (else the host's); `restart` false is apply --no-restart; `live`
    says the root is the running system (services can be acted on); `stop_first` is
    --stop-containers-for-store-switch (apply stops the running containers before a switch of store)."""
    version = engine_version or host.engine_version
    settings, notes = settings_for_host(settings, host, version)
    existing = parse_daemon_json(host.file(host.daemon_json_path).content, host.daemon_json_path)
    # the operator's own file first: a wrong value must be reported, not silently replaced by a layer's
    validate.check_daemon_config(existing, path=host.daemon_json_path, engine=version)
    previous = host.managed.get("daemon", {})
    daemon_config = daemon_json.desired_daemon_config(existing, settings, previous)
    state = {"format": 1, "daemon": daemon_json.managed_record(existing, settings, previous)}
    check_merged_config(daemon_config, settings, host.daemon_json_path, version)
    rendered, render_notes = render_with_sources(settings, host)
    notes += render_notes
    state.update(ufw_block.adopted_state(settings, host))  # an adopted ufw-docker block, kept once it is gone
    state["created"] = ownership.check_ownership(rendered, host)
    written = {f.path for f in rendered}
    planned = systemd_dropin.planned_exec(settings, host)
    notes += conflicts.check_conflicts(daemon_config, settings, host, flags_by_key(), written,
                                       conflicts.relevant_flags(host, planned))
    notes += engine_note(host, engine_version)
    notes += [planmod.Note("info", f"audit: {path} is already watched by {where}; not duplicated")
              for path, where in sorted(host.operator_watches.items())
              if settings.table("audit").get("enabled") and path in audit_rules.candidate_paths()]
    rendered += own_files(host, selection, state)
    plan = planmod.make_plan(selection, settings, host, rendered, notes, reloadable_keys())
    plan = planmod.hold_services(plan, host, live=live, restart=restart)
    plan = store_switch.with_switch(plan, store_switch.find_switch(daemon_config, settings, host,
                                                                   stop_first=stop_first))
    plan = plan._replace(port_closure=closure_of(plan, settings, host))
    plan = with_forward_policy(plan, daemon_config, settings, host, live=live)
    return plan._replace(engine_version=version, docker_socket=host.docker_socket,
                         rootless_user=host.rootless_user, daemon_pid=host.daemon.pid if host.daemon else None,
                         start_flags=tuple(host.start_flags(systemd_dropin.exec_after(host, rendered))))


def with_forward_policy(plan: Plan, daemon_config: dict, settings: Settings, host: HostSnapshot, *,
                        live: bool) -> Plan:
    """The FORWARD policies apply sets to ACCEPT after docker restarts on the nftables backend (host
    actions, core/forward_policy.py), and the warning for a policy it leaves that drops Docker's traffic."""
    from dockharden.core.forward_policy import planned_actions

    actions = planned_actions(daemon_config, host, plan.services, live=live)
    notes = conflicts.forward_policy_notes(daemon_config, settings, host, actions)
    return plan._replace(host_actions=actions, notes=plan.notes + tuple(notes))


def closure_of(plan: Plan, settings: Settings, host: HostSnapshot):
    """The running containers' published ports the planned firewall (the DOCKER-USER block, the nftables
    table) closes to outside sources, with the layer choices of that firewall's table."""
    from dockharden.core.published_ports import port_closure

    closure = port_closure(plan.changes, plan.services, host.containers)
    if closure is None:
        return None
    table = closure.table
    accepted = settings.table(table).get("close_published_ports") is True
    layer = settings.origin(table, ("allow_ports",))
    own = not settings.sources.get(layer, "").startswith("profile:")  # a built-in profile is not edited
    return closure._replace(layer=layer if own else "",
                            accepted_by=(settings.origin(table, ("close_published_ports",)) or "a layer")
                            if accepted else "")


def settings_for_host(settings: Settings, host: HostSnapshot, version: str | None) -> tuple[Settings, list]:
    """The merged settings as this engine and this image store take them, with the keys other tables
    imply (derive); and the notes saying what was left out or changed."""
    settings, notes = for_operator(settings, host)
    settings, gate_notes = engine.gate_for_engine(settings, version,
                                                  engine.since_map(validate.load_schema("daemon.schema.json")))
    notes += gate_notes
    settings, store_notes = image_store.keep_populated_store(settings, host)
    settings, driver_notes = image_store.fit_storage_driver(settings)
    return derive.derive(settings, host), notes + store_notes + driver_notes


def for_operator(settings: Settings, host: HostSnapshot) -> tuple[Settings, list]:
    """The defaults the operator's own daemon.json decides left out, and a built-in profile's enforced key
    that cannot work with the operator's choice (core.strength); with the notes and findings saying so."""
    existing = parse_daemon_json(host.file(host.daemon_json_path).content, host.daemon_json_path)
    operator = daemon_json.operator_document(existing, host.managed.get("daemon"))
    settings = strength.yield_to_operator(settings, operator)
    settings = strength.yield_ungrantable(settings, host.daemon)
    settings, findings = strength.yield_impossible(settings, operator, host.start_flags() + list(host.rootless_flags))
    return settings, strength.kept_notes(settings) + findings


def own_files(host: HostSnapshot, selection: Selection, state: dict) -> list:
    """dockharden's own files as this plan leaves them: managed.json (the operator's values of the keys the
    layers manage) and, when the selection did not come from it, dockharden.toml. Planned like any other
    file: backed up, recorded and rolled back with the generation, and written only when they change."""
    from dockharden.core.selection import selection_file
    from dockharden.model import RenderedFile

    data = (json.dumps(state, indent=2, allow_nan=False, sort_keys=True) + "\n").encode()
    files = [RenderedFile("state", path=MANAGED_STATE, content=data, mode=0o600)]
    wanted = selection_file(host.file(CONFIG_PATH), selection)
    return files + ([wanted] if wanted else [])


def check_flags(given_engine: str | None, user: str | None) -> None:
    """--engine-version is a version and --user a user name (the layers' values are checked as they load)."""
    from dockharden.core.values import checked, engine_version, unprivileged_user
    from dockharden.errors import DockhardenError

    if given_engine is not None:
        checked(engine_version, given_engine, key="--engine-version", error=DockhardenError)
    if user is not None:
        checked(unprivileged_user, user, key="--user", error=DockhardenError)


def check_merged_config(config: dict, settings, path: str, version: str | None) -> None:
    """The daemon.json apply would write against the schema and this engine; a refused key a layer set
    is reported in that layer's file."""
    try:
        validate.check_daemon_config(config, path=path, engine=version)
    except validate.SchemaError as exc:
        layer = settings.origin("daemon", (exc.key.split(".")[0],)) if exc.key else ""
        if settings.sources.get(layer):
            exc.path = settings.sources[layer]
            exc.key = "daemon." + exc.key
            exc.hint = exc.hint.replace(f"from {path}", f"from {exc.path}")
        raise


def engine_note(host: HostSnapshot, given: str | None) -> list:
    if given:
        return [planmod.Note("info", f"engine version {given} given on the command line")]
    if host.engine_version:
        return [planmod.Note("info", f"Engine {host.engine_version} (from {host.engine_source})")]
    return [planmod.Note("info", f"engine version unknown ({host.engine_source}): every setting is kept; "
                                 "pass --engine-version to plan for an older engine")]


def flags_by_key() -> dict[str, list[str]]:
    return {key: spec.get("x-flag", []) for key, spec in validate.daemon_keys().items()}


def reloadable_keys() -> frozenset[str]:
    return frozenset(k for k, spec in validate.daemon_keys().items() if spec.get("x-reload"))
