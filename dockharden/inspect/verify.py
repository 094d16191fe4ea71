"""`dockharden verify`: is the desired state in force? Files, the live daemon (with AppArmor), audit rules,
firewall.

Reads only (the daemon's API, auditctl, iptables). Each check is a row with a status: in force, drift,
pending (in force once something named happens: a container restarts, ufw is enabled) or not verifiable
(nothing here shows it: a key `docker info` does not report, a kernel without AppArmor, audit rules a
container cannot read). Only drift makes verify exit 2; the summary counts the four (verify_report.summarize), and
never says everything is in force while a row is pending or not verifiable.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockharden.daemon_json_codec import parse_daemon_json
from dockharden.host import effective as verify
from dockharden.host.runner import Runner
from dockharden.inspect.verify_report import DRIFT, IN_FORCE, PENDING, STATUSES, UNVERIFIABLE
from dockharden.model import OWN_TARGETS, Action, Plan
from dockharden.targets import audit_rules, nft_table, ufw_block

TREE = "a --root other than / is a tree, not the running kernel"
NOT_SHOWN = "not shown by docker info or the default bridge: daemon.json sets it, nothing here reads it back"


@dataclass(frozen=True)
class Where:
    """Where verify looks: the root, how to run programs, and the socket of the daemon the plan is for."""

    root: str
    runner: Runner
    socket: str


@dataclass(frozen=True)
class Row:
    """One thing verify looked at. `detail` says what was seen, or for a pending row what it waits for
    (the containers that must restart, by name)."""

    check: str
    status: str
    detail: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"verify row {self.check!r}: status {self.status!r} is none of {STATUSES}")

    @property
    def ok(self) -> bool:
        """In force, seen to be so; pending and not verifiable are not."""
        return self.status == IN_FORCE

    @property
    def drifted(self) -> bool:
        return self.status == DRIFT


def _seen(check: str, ok: bool, detail: str) -> Row:
    return Row(check, IN_FORCE if ok else DRIFT, detail)


def find_drift(plan: Plan, engine: Where) -> list[Row]:
    own = {f.path for f in plan.rendered if f.target in OWN_TARGETS}  # dockharden's bookkeeping, not hardening
    rows = [Row(f"file {c.path}", DRIFT, _change_detail(c)) for c in plan.changes if c.path not in own]
    rows += [Row(f"file {p}", IN_FORCE, "as the layers render it") for p in plan.unchanged if p not in own]
    rendered = {f.path: f.content for f in plan.rendered}
    rows += _daemon_rows(rendered.get(plan.daemon_json_path), engine)
    rows += _audit_rows(rendered.get(audit_rules.PATH), engine)
    if ufw_block.PATH_V4 in rendered:
        rows += _firewall_rows(rendered[ufw_block.PATH_V4], engine)
    if rendered.get(nft_table.PATH):
        rows += nftables_rows(rendered[nft_table.PATH], engine)
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
        return [Row("dockerd answers", DRIFT, f"no answer on {engine.socket}")]
    config = parse_daemon_json(content)
    rows = [Row("dockerd answers", IN_FORCE, f"Engine {effective.info.get('ServerVersion')}"),
            apparmor_row(engine.root, effective.info), orphan_row(engine, effective.info, config)]
    rows += daemon_key_rows(config, effective, running_names(engine.socket, effective.info))
    if "metrics-addr" in config:
        problems = verify.metrics_problems(config)
        rows.append(_seen("daemon metrics-addr", not problems, "; ".join(problems) or "GET /metrics answers"))
    return rows


def orphan_row(engine: Where, info: dict, config: dict) -> Row:
    """Container processes that no daemon manages: a containerd shim in moby's namespace (and in the daemon's
    mount namespace) whose container the daemon does not list. Only the running system has processes to read."""
    import os

    from dockharden.core.store_switch import ORPHAN_CHECK, find_orphans, orphans_detail
    from dockharden.host import dockerapi, shims
    from dockharden.host.facts import find_daemon

    if os.path.realpath(engine.root) != "/":
        return Row(ORPHAN_CHECK, UNVERIFIABLE, f"--root {engine.root} is not the running system")
    if "name=rootless" in (info.get("SecurityOptions") or []):
        return Row(ORPHAN_CHECK, UNVERIFIABLE, "a rootless daemon's containers run in its own "
                                               "namespaces, where dockharden does not look")
    listed = dockerapi.get_json(engine.socket, "/containers/json?all=1")
    daemon = find_daemon(engine.root)
    if not isinstance(listed, list) or daemon is None:
        return Row(ORPHAN_CHECK, UNVERIFIABLE, "without the daemon's list and its process, its "
                                               "containers cannot be told from orphans")
    found = shims.read_shims(config.get("containerd-namespace") or "moby", same_mounts_as=daemon.pid)
    known = {c.get("Id") for c in listed if isinstance(c, dict)}
    unknown = [i for i in found if i not in known]
    names = shims.known_names(engine.root, info.get("DockerRootDir") or "/var/lib/docker", unknown)
    orphans = find_orphans(found, known, names)
    return _seen(ORPHAN_CHECK, not orphans, orphans_detail(orphans, len(found)))


def running_names(socket: str, info: dict) -> tuple[str, ...]:
    """The running containers' names (none asked when the daemon says none run)."""
    from dockharden.host.facts import read_containers

    return tuple(c.name for c in read_containers(socket) or ()) if info.get("ContainersRunning") else ()


def daemon_key_rows(config: dict, effective: verify.Effective, running: tuple[str, ...] = ()) -> list[Row]:
    """A row per desired key but metrics-addr: in force or drift where the daemon's report shows the key,
    else not verifiable (said why); a key of the default bridge that differs while containers run is
    pending (dockerd keeps the bridge until it starts with none running: core/transitions.py). Pure."""
    from dockharden.core.effective import judge_daemon
    from dockharden.core.transitions import BRIDGE_KEYS

    mismatches, shown = judge_daemon(config, effective)
    wrong = {m.key: m for m in mismatches}
    rows = []
    for key in config:
        if key in shown and key in wrong and key in BRIDGE_KEYS and running:
            rows.append(Row(f"daemon {key}", PENDING, f"{wrong[key]}: dockerd keeps the default bridge while "
                            f"containers run; takes effect at the first docker restart with none running "
                            f"(running now: {', '.join(running)})"))
        elif key in shown:
            rows.append(_seen(f"daemon {key}", key not in wrong, str(wrong[key]) if key in wrong else "effective"))
        elif key != "metrics-addr":
            rows.append(Row(f"daemon {key}", UNVERIFIABLE, _why_not_shown(key, effective.info)))
    return rows


def _why_not_shown(key: str, info: dict) -> str:
    if key == "no-new-privileges":
        return (f"Engine {info.get('ServerVersion')} does not report it in SecurityOptions (24.0 and later do); "
                "`verify --probe` shows what containers get")
    if key == "default-ulimits":
        return NOT_SHOWN + "; `verify --probe` shows the nofile limit containers get"
    return NOT_SHOWN


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
        return Row("AppArmor", UNVERIFIABLE, f"not verifiable here: {evidence}")
    return _seen("AppArmor", status == PASS, evidence)


def _audit_rows(content: bytes | None, engine: Where) -> list[Row]:
    if content is None:
        return []
    if not _live(engine.root):
        return [Row("audit watches loaded", UNVERIFIABLE, f"not verifiable here: {TREE}")]
    if not engine.runner.which("auditctl"):
        return [Row("audit watches loaded", UNVERIFIABLE, "not verifiable here: auditctl is not installed, so "
                                                          "the kernel's rules cannot be listed")]
    from dockharden.host.facts import AUDIT_AVAILABLE, kernel_audit

    if (state := kernel_audit()) != AUDIT_AVAILABLE:
        return [Row("audit watches loaded", UNVERIFIABLE, f"not verifiable here: {state}; the rules file loads "
                                                          "at boot on a host kernel")]
    missing = verify.missing_audit_watches(engine.runner, verify.watches(content.decode(errors="replace")))
    return [_seen("audit watches loaded", not missing, "missing: " + ", ".join(missing) if missing else "all")]


def _live(root: str) -> bool:
    import os

    return os.path.realpath(root) == "/"


def _firewall_rows(content: bytes, engine: Where) -> list[Row]:
    from dockharden.host.facts import ufw_enabled

    if not _live(engine.root):
        return [Row("DOCKER-USER chain", UNVERIFIABLE, f"not verifiable here: {TREE}")]
    if not ufw_enabled(engine.root):
        return [Row("DOCKER-USER chain", PENDING, "ufw is not active: the block loads when it is enabled "
                                                  "(`ufw enable`)")]
    if not engine.runner.which("iptables"):
        return [Row("DOCKER-USER chain", UNVERIFIABLE, "not verifiable here: iptables is not installed, so the "
                                                       "live chain cannot be listed")]
    missing = verify.missing_firewall_rules(engine.runner, content.decode(errors="replace"))
    return [_seen("DOCKER-USER chain", not missing, "missing: " + "; ".join(missing) if missing else "all rules live")]


def nftables_rows(content: bytes, engine: Where) -> list[Row]:
    """The live table `inet dockharden` against the rendered file: `nft list table` prints the table back
    as the file writes it (targets/nft_table.py), so the two are compared as text, whitespace aside."""
    check = f"nftables table {nft_table.TABLE}"
    if not _live(engine.root):
        return [Row(check, UNVERIFIABLE, f"not verifiable here: {TREE}")]
    if not engine.runner.which("nft"):
        return [Row(check, UNVERIFIABLE, "not verifiable here: nft is not installed, so the live table cannot "
                                         "be listed")]
    listed = engine.runner.run(["nft", "list", "table", *nft_table.TABLE.split()], timeout=20)
    if not listed.ok:
        if "Operation not permitted" in listed.stderr:
            return [Row(check, UNVERIFIABLE, "not verifiable here: nft list table needs root")]
        return [Row(check, DRIFT, f"not loaded (`nft list table {nft_table.TABLE}`: {listed.stderr.strip()}); "
                                  f"`nft -f {nft_table.PATH}` or `systemctl start {nft_table.UNIT_NAME}` loads it")]
    same = nft_table.table_body(listed.stdout) == nft_table.table_body(content.decode(errors="replace"))
    return [_seen(check, same, "as the file defines it" if same else
                  f"the live table differs from {nft_table.PATH}: compare `nft list table {nft_table.TABLE}`; "
                  f"`nft -f {nft_table.PATH}` loads the file again")]


def probe_rows(config: dict, probe: dict) -> list[Row]:
    """What probe containers saw, against what the desired daemon.json asks for."""
    rows = []
    wanted = [("no-new-privileges", "no_new_privs", bool(config.get("no-new-privileges"))),
              ("userns-remap", "root_remapped", bool(config.get("userns-remap"))),
              ("icc", "icc_blocked", config.get("icc") is False)]
    for key, field, want in wanted:
        seen = probe.get(field)
        if seen is not None:
            rows.append(_seen(f"probe {key}", seen == want, f"containers see {field} = {_plain(seen)}"))
    nofile = ((config.get("default-ulimits") or {}).get("nofile") or {})
    if nofile and probe.get("nofile"):
        want = [nofile.get("Soft", nofile.get("soft")), nofile.get("Hard", nofile.get("hard"))]
        seen = "/".join(map(str, probe["nofile"]))
        rows.append(_seen("probe default-ulimits nofile", list(probe["nofile"]) == want,
                          f"containers see soft/hard {seen}, wanted {'/'.join(map(str, want))}"))
    rows += [Row("probe", UNVERIFIABLE, f"the probe could not see everything: {error}")
             for error in probe.get("errors", [])]
    return rows


def _plain(value) -> str:
    return "true" if value is True else "false" if value is False else str(value)


def settle_by_probe(rows: list[Row]) -> list[Row]:
    """A `daemon KEY` row nothing could verify takes the status of the `probe KEY` row that saw it, which
    then goes (one row per key). Pure."""
    probed = {r.check.removeprefix("probe "): r for r in rows if r.check.startswith("probe ")}
    settled = {r.check.removeprefix("daemon ") for r in rows if r.check.startswith("daemon ")
               and r.status == UNVERIFIABLE and r.check.removeprefix("daemon ") in probed}
    out = []
    for row in rows:
        kind, _, key = row.check.partition(" ")
        if kind == "daemon" and key in settled:
            out.append(Row(row.check, probed[key].status, "a probe container shows it: " + probed[key].detail))
        elif not (kind == "probe" and key in settled):
            out.append(row)
    return out
