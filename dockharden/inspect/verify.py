"""`dockharden verify`: is the desired state in force? Files, the live daemon (with AppArmor), audit rules,
firewall.

Reads only (the daemon's API, auditctl, iptables). Each check is a row; any failed row means drift.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockharden.host import effective as verify
from dockharden.host.runner import Runner
from dockharden.model import OWN_TARGETS, Action, Plan
from dockharden.targets import audit_rules, daemon_json, ufw_block


@dataclass(frozen=True)
class Where:
    """Where verify looks: the root, how to run programs, and the socket of the daemon the plan is for."""

    root: str
    runner: Runner
    socket: str


@dataclass(frozen=True)
class Row:
    check: str
    ok: bool
    detail: str


def find_drift(plan: Plan, engine: Where) -> list[Row]:
    own = {f.path for f in plan.rendered if f.target in OWN_TARGETS}  # dockharden's bookkeeping, not hardening
    rows = [Row(f"file {c.path}", False, _change_detail(c)) for c in plan.changes if c.path not in own]
    rows += [Row(f"file {p}", True, "as the layers render it") for p in plan.unchanged if p not in own]
    rendered = {f.path: f.content for f in plan.rendered}
    rows += _daemon_rows(rendered.get(plan.daemon_json_path), engine)
    rows += _audit_rows(rendered.get(audit_rules.PATH), engine)
    if plan.rendered and any(f.path == ufw_block.PATH_V4 for f in plan.rendered) and engine.runner.which("iptables"):
        rows += _firewall_rows(rendered[ufw_block.PATH_V4], engine)
    return rows


def _change_detail(change) -> str:
    """What differs, as far as a line can say: the mode and owner found against those wanted."""
    said = []
    if change.mode_change and change.action != Action.CREATE:
        old, new = change.mode_change
        said.append(f"mode {'-' if old is None else f'{old:04o}'}, wanted {new:04o}")
    if change.owner_change and change.action != Action.CREATE:
        (ou, og), (nu, ng) = change.owner_change
        said.append(f"owner {ou}:{og}, wanted {nu}:{ng}")
    if change.old.content != change.new.content or change.action != Action.UPDATE:
        said.insert(0, "its content differs" if change.action == Action.UPDATE else f"it would be {change.action}d")
    return f"would be {change.action}d by apply (run `dockharden plan`): " + "; ".join(said)


def _daemon_rows(content: bytes | None, engine: Where) -> list[Row]:
    if content is None:
        return []
    effective = verify.read_effective(engine.socket)
    if effective is None:
        return [Row("dockerd answers", False, f"no answer on {engine.socket}")]
    config = daemon_json.parse_daemon_json(content)
    wrong = {m.key: m for m in verify.compare_daemon(config, effective)}
    rows = [Row("dockerd answers", True, f"Engine {effective.info.get('ServerVersion')}"),
            apparmor_row(engine.root, effective.info), orphan_row(engine, effective.info, config)]
    rows += [Row(f"daemon {key}", key not in wrong, str(wrong[key]) if key in wrong else "effective")
             for key in config if key not in verify.NOT_OBSERVABLE]
    rows += [Row(f"daemon {key}", True, "not shown by docker info (a probe container shows it)")
             for key in verify.not_observable(config) if key != "metrics-addr"]
    if "metrics-addr" in config:
        problems = verify.metrics_problems(config)
        rows.append(Row("daemon metrics-addr", not problems, "; ".join(problems) or "GET /metrics answers"))
    return rows


def orphan_row(engine: Where, info: dict, config: dict) -> Row:
    """Container processes that no daemon manages: a containerd shim in moby's namespace (and in the daemon's
    mount namespace) whose container the daemon does not list. Only the running system has processes to read."""
    import os

    from dockharden.core.store_switch import ORPHAN_CHECK, find_orphans, orphans_detail
    from dockharden.host import dockerapi, shims
    from dockharden.host.facts import find_daemon

    if os.path.realpath(engine.root) != "/":
        return Row(ORPHAN_CHECK, True, f"not verifiable here: --root {engine.root} is not the running system")
    if "name=rootless" in (info.get("SecurityOptions") or []):
        return Row(ORPHAN_CHECK, True, "not verifiable here: a rootless daemon's containers run in its own "
                                       "namespaces, where dockharden does not look")
    listed = dockerapi.get_json(engine.socket, "/containers/json?all=1")
    daemon = find_daemon(engine.root)
    if not isinstance(listed, list) or daemon is None:
        return Row(ORPHAN_CHECK, True, "not verifiable here: without the daemon's list and its process, its "
                                       "containers cannot be told from orphans")
    found = shims.read_shims(config.get("containerd-namespace") or "moby", same_mounts_as=daemon.pid)
    known = {c.get("Id") for c in listed if isinstance(c, dict)}
    unknown = [i for i in found if i not in known]
    names = shims.known_names(engine.root, info.get("DockerRootDir") or "/var/lib/docker", unknown)
    orphans = find_orphans(found, known, names)
    return Row(ORPHAN_CHECK, not orphans, orphans_detail(orphans, len(found)))


def apparmor_row(root: str, info: dict) -> Row:
    """Whether the kernel has AppArmor and the daemon applies docker-default; a kernel without AppArmor is
    said so (not verifiable), never passed as if it were on."""
    import os

    from dockharden.host.check_facts import apparmor_kernel
    from dockharden.inspect.controls import apparmor_state
    from dockharden.inspect.results import PASS, UNVERIFIABLE

    status, evidence = apparmor_state(apparmor_kernel(root), info.get("SecurityOptions") or [],
                                      os.path.realpath(root) == "/")
    if status == UNVERIFIABLE:
        return Row("AppArmor", True, f"not verifiable here: {evidence}")
    return Row("AppArmor", status == PASS, evidence)


def _audit_rows(content: bytes | None, engine: Where) -> list[Row]:
    if content is None or not engine.runner.which("auditctl"):
        return []
    from dockharden.host.facts import AUDIT_AVAILABLE, kernel_audit

    if (state := kernel_audit()) != AUDIT_AVAILABLE:
        return [Row("audit watches loaded", True, f"not verifiable here: {state}; the rules file loads at boot "
                                                  "on a host kernel")]
    missing = verify.missing_audit_watches(engine.runner, verify.watches(content.decode(errors="replace")))
    return [Row("audit watches loaded", not missing, "missing: " + ", ".join(missing) if missing else "all")]


def _firewall_rows(content: bytes, engine: Where) -> list[Row]:
    from dockharden.host.facts import ufw_enabled

    if not ufw_enabled(engine.root):
        return [Row("DOCKER-USER chain", True, "ufw is not active: the block loads when it is enabled")]
    missing = verify.missing_firewall_rules(engine.runner, content.decode(errors="replace"))
    return [Row("DOCKER-USER chain", not missing, "missing: " + "; ".join(missing) if missing else "all rules live")]


def probe_rows(config: dict, probe: dict) -> list[Row]:
    """What probe containers saw, against what the desired daemon.json asks for."""
    rows = []
    wanted = [("no-new-privileges", "no_new_privs", bool(config.get("no-new-privileges"))),
              ("userns-remap", "root_remapped", bool(config.get("userns-remap"))),
              ("icc", "icc_blocked", config.get("icc") is False)]
    for key, field, want in wanted:
        seen = probe.get(field)
        if seen is not None:
            rows.append(Row(f"probe {key}", seen == want, f"containers see {field} = {seen}"))
    nofile = ((config.get("default-ulimits") or {}).get("nofile") or {})
    if nofile and probe.get("nofile"):
        want = [nofile.get("Soft", nofile.get("soft")), nofile.get("Hard", nofile.get("hard"))]
        rows.append(Row("probe default-ulimits nofile", list(probe["nofile"]) == want,
                        f"containers see soft/hard {list(probe['nofile'])}, wanted {want}"))
    rows += [Row("probe", False, error) for error in probe.get("errors", [])]
    return rows
