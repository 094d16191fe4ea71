"""The plan pipeline: selection -> layers -> merged settings -> host snapshot -> rendered files -> Plan.

Orchestration only: the pure stages do the work; host reading and the tool checks are the I/O.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Callable

from dockharden.host import tool_checks as checks, dockerapi, rootless, facts as hostmod
from dockharden.core import (conflicts, derive, engine_gating as engine, image_store, merge, ownership,
                             plan as planmod, layers as profiles, schema as validate)
from dockharden.execute import faults
from dockharden.errors import LayerError
from dockharden.host.facts import MANAGED_STATE
from dockharden.host.root import is_running_system
from dockharden.model import HostSnapshot, Plan, Selection
from dockharden.host.runner import Runner
from dockharden.core.selection import CONFIG_PATH, choose_selection, parse_config
from dockharden.host.state import created_files, read_managed_state
from dockharden.targets import audit_rules, daemon_json, managed_paths, render_all, systemd_dropin


ACCOUNT_FILES = ("/etc/passwd", "/etc/subuid", "/etc/subgid")
OWN_FILES = (MANAGED_STATE, CONFIG_PATH)


@dataclass(frozen=True)
class Context:
    """What every command needs: where the host is and how to run programs."""

    root: str = "/"
    runner: Runner = Runner()
    engine_version: str | None = None
    manager: str | None = None  # the docker service manager; None: from dockharden.toml, else detected
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    user: str | None = None  # the rootless daemon's user (--user)


def read_selection(ctx: Context, profile_names: list[str] | None, layer_files: list[str] | None):
    """The host's dockharden.toml and the selection the flags and that file make."""
    config_file = hostmod.read_file(ctx.root, CONFIG_PATH)
    config = parse_config(config_file.content)
    return config, choose_selection(config, profile_names, layer_files)


def render_with_sources(settings, host: HostSnapshot):
    """render_all, with a layer error naming the file of the layer that set the key."""
    try:
        return render_all(settings, host)
    except LayerError as exc:
        if not exc.path and exc.key and "." in exc.key:
            table, _, key = exc.key.partition(".")
            exc.path = settings.sources.get(settings.origin(table, (key.split(".")[0],)), "")
        raise


def service_manager(ctx: Context, config: dict) -> str:
    """The docker service manager: --given, [service] manager, else what this host runs."""
    from dockharden.execute.services import detect_manager

    named = ctx.manager or config.get("service", {}).get("manager", "auto")
    return detect_manager(ctx.root, ctx.runner) if named == "auto" else named


def build_plan(ctx: Context, selection: Selection, config: dict | None = None, *, restart: bool = True) -> Plan:
    """Everything `plan` shows; nothing is written. `restart`: apply may act on services (not --no-restart)."""
    faults.point("during-plan")
    check_flags(ctx)
    ctx = replace(ctx, manager=service_manager(ctx, config or {}))
    settings = merge.merge_layers(profiles.load_layers(selection))
    host = read_snapshot(ctx, settings.table("daemon"))
    if settings.table("rootless").get("enabled"):
        host = for_rootless_user(ctx, host, settings.table("rootless").get("user"))
    host = with_store_facts(ctx, host, settings)
    host = with_running_containers(ctx, host)
    version = ctx.engine_version or host.engine_version
    settings, notes = engine.gate_for_engine(settings, version,
                                             engine.since_map(validate.load_schema("daemon.schema.json")))
    settings, store_notes = image_store.keep_populated_store(settings, host)
    notes += store_notes
    settings, driver_notes = image_store.fit_storage_driver(settings)
    notes += driver_notes
    settings = derive.derive(settings, host)
    existing = daemon_json.parse_daemon_json(host.file(host.daemon_json_path).content, host.daemon_json_path)
    # the operator's own file first: a wrong value must be reported, not silently replaced by a layer's
    validate.check_daemon_config(existing, path=host.daemon_json_path, engine=version)
    previous = host.managed.get("daemon", {})
    daemon_config = daemon_json.desired_daemon_config(existing, settings, previous)
    state = {"format": 1, "daemon": daemon_json.managed_record(existing, settings, previous)}
    check_merged_config(daemon_config, settings, host.daemon_json_path, version)
    rendered, render_notes = render_with_sources(settings, host)
    notes += render_notes
    state["created"] = ownership.check_ownership(rendered, host)
    written = {f.path for f in rendered}
    planned = systemd_dropin.planned_exec(settings, host)
    notes += conflicts.check_conflicts(daemon_config, settings, host, flags_by_key(), written,
                                       conflicts.relevant_flags(host, planned))
    # a block already on disk as rendered was tested when it was written: no process to start again
    notes += checks.check_rendered([f for f in rendered if host.file(f.path).content != f.content], host, ctx.runner)
    notes += _engine_note(host, ctx)
    notes += [planmod.Note("info", f"audit: {path} is already watched by {where}; not duplicated")
              for path, where in sorted(host.operator_watches.items())
              if settings.table("audit").get("enabled") and path in audit_rules.candidate_paths()]
    rendered += own_files(host, selection, state)
    plan = planmod.make_plan(selection, settings, host, rendered, notes, reloadable_keys())
    plan = planmod.hold_services(plan, host, live=is_running_system(ctx.root), restart=restart)
    return replace(plan, engine_version=version, docker_socket=host.docker_socket,
                   rootless_user=host.rootless_user, daemon_pid=host.daemon.pid if host.daemon else None,
                   start_flags=tuple(host.start_flags(systemd_dropin.exec_after(host, rendered))))



def own_files(host: HostSnapshot, selection: Selection, state: dict) -> list:
    """dockharden's own files as this plan leaves them: managed.json (the operator's values of the keys the
    layers manage) and, when the selection did not come from it, dockharden.toml. Planned like any other
    file: backed up, recorded and rolled back with the generation, and written only when they change."""
    from dockharden.model import RenderedFile
    from dockharden.core.selection import selection_file

    data = (json.dumps(state, indent=2, sort_keys=True) + "\n").encode()
    files = [RenderedFile("state", MANAGED_STATE, data, mode=0o600)]
    wanted = selection_file(host.file(CONFIG_PATH), selection)
    return files + ([wanted] if wanted else [])


def check_flags(ctx: Context) -> None:
    """--engine-version is a version and --user a user name (the layers' values are checked as they load)."""
    from dockharden.errors import DockhardenError
    from dockharden.core.values import checked, engine_version, unprivileged_user

    if ctx.engine_version is not None:
        checked(engine_version, ctx.engine_version, key="--engine-version", error=DockhardenError)
    if ctx.user is not None:
        checked(unprivileged_user, ctx.user, key="--user", error=DockhardenError)


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


def for_rootless_user(ctx: Context, host: HostSnapshot, layer_user: str | None) -> HostSnapshot:
    """The snapshot seen from the rootless daemon of `--user` (or the layer's user)."""
    user = rootless.find_user(ctx.root, ctx.user or layer_user)
    live = os.path.realpath(ctx.root) == "/"
    socket_path = hostmod.socket_path(ctx.root, user.socket)
    info = dockerapi.get_json(socket_path, "/info") if live else None
    version = (dockerapi.get_json(socket_path, "/version") or {}).get("Version") if live else None
    daemon = hostmod.find_daemon(ctx.root, (user.pidfile,)) if live else None
    files = dict(host.files, **{user.daemon_json: hostmod.read_file(ctx.root, user.daemon_json)})
    return replace(host, files=files, daemon_json_path=user.daemon_json, daemon_json_owner=(user.uid, user.gid),
                   daemon_info=info, daemon=daemon, engine_version=version or host.engine_version,
                   manager="rootless", rootless_flags=tuple(rootless.unit_flags(ctx.root, user)),
                   docker_socket=user.socket, rootless_user=user.name)


def read_snapshot(ctx: Context, daemon_table: dict) -> HostSnapshot:
    """The host, with the paths the settings and the operator's daemon.json point at probed too."""
    snapshot = hostmod.read_host(ctx.root, ctx.runner, managed_paths() + list(ACCOUNT_FILES) + list(OWN_FILES),
                                 audit_rules.candidate_paths(), manager=ctx.manager or "none")
    current = daemon_json.parse_daemon_json(snapshot.file(daemon_json.PATH).content)
    pointed = {v for doc in (daemon_table, current) for k, v in doc.items()
               if k in conflicts.PATH_KEYS and isinstance(v, str)}
    managed = read_managed_state(ctx.root)
    # the files they point at are read too: the tls layer writes at the paths a layer names
    pointed_files = {p: hostmod.read_file(ctx.root, p) for p in pointed if p.startswith("/")}
    snapshot = replace(snapshot, existing_paths=snapshot.existing_paths | hostmod.existing(ctx.root, pointed),
                       files={**pointed_files, **snapshot.files}, now=ctx.clock(), managed=managed,
                       created=created_files(ctx.root, managed))
    return snapshot


def with_store_facts(ctx: Context, host: HostSnapshot, settings) -> HostSnapshot:
    """The image store in use and what it holds, and what remapping would hide: what a switch of the
    image store or userns-remap makes disappear from view."""
    info = host.daemon_info if isinstance(host.daemon_info, dict) else None
    current = daemon_json.parse_daemon_json(host.file(host.daemon_json_path).content)
    data_root = (info or {}).get("DockerRootDir") or current.get("data-root") or "/var/lib/docker"
    store = hostmod.image_store(ctx.root, info, data_root)
    host = replace(host, image_store=store)
    remaps = settings.table("userns").get("enabled") or settings.table("daemon").get("userns-remap")
    already = "name=userns" in ((info or {}).get("SecurityOptions") or []) or bool(current.get("userns-remap"))
    if not remaps or already:
        return host
    socket_path = hostmod.socket_path(ctx.root, host.docker_socket or hostmod.SOCKET) if info else None
    return replace(host, userns_impact=hostmod.userns_impact(ctx.root, socket_path, store, data_root))


def with_running_containers(ctx: Context, host: HostSnapshot) -> HostSnapshot:
    """The names of the running containers, asked only when a restart would stop them (the daemon answers,
    live-restore is not in force, and some run): a plan states the disruption it causes by name."""
    info = host.daemon_info if isinstance(host.daemon_info, dict) else None
    if not info or info.get("LiveRestoreEnabled") or not info.get("ContainersRunning"):
        return host
    socket_path = str(hostmod.under(ctx.root, host.docker_socket or hostmod.SOCKET))
    listed = dockerapi.get_json(socket_path, "/containers/json") or []
    names = sorted((c.get("Names") or [c.get("Id", "?")[:12]])[0].lstrip("/") for c in listed if isinstance(c, dict))
    return replace(host, running_containers=tuple(names))


def _engine_note(host: HostSnapshot, ctx: Context):
    if ctx.engine_version:
        return [planmod.Note("info", f"engine version {ctx.engine_version} given on the command line")]
    if host.engine_version:
        return [planmod.Note("info", f"Engine {host.engine_version} (from {host.engine_source})")]
    return [planmod.Note("info", f"engine version unknown ({host.engine_source}): every setting is kept; "
                                 "pass --engine-version to plan for an older engine")]


def flags_by_key() -> dict[str, list[str]]:
    return {key: spec.get("x-flag", []) for key, spec in validate.daemon_keys().items()}


def reloadable_keys() -> frozenset[str]:
    return frozenset(k for k, spec in validate.daemon_keys().items() if spec.get("x-reload"))
