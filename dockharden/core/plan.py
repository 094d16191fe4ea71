"""Compare rendered files with the host and decide what apply would do: the Plan value.

Pure. JSON files get a key-level diff with the layer behind each change, text files a unified diff;
services get the least disruptive action that makes the change effective.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from typing import Any

from dockharden.core.transitions import (
    LIVE_RESTORE_OFF,
    LIVE_RESTORE_ON,
    RESTART,
    changed_bridge_keys,
    describe_stops,
    is_swarm_node,
    restart_steps,
)
from dockharden.daemon_json_codec import parse_daemon_json
from dockharden.model import (
    Action,
    Change,
    HostFile,
    HostSnapshot,
    KeyChange,
    Note,
    Plan,
    RenderedFile,
    Selection,
    ServiceAction,
    Settings,
)
from dockharden.targets import TARGETS, daemon_json, nft_table, prune_timer


def make_plan(selection: Selection, settings: Settings, host: HostSnapshot, rendered: Iterable[RenderedFile],
              notes: Iterable[Note], reloadable: frozenset[str]) -> Plan:
    """The plan: every file that would change, the service actions, and the notes."""
    changes, unchanged, why = [], [], {}
    for new in rendered:
        change = file_change(new, host, settings)
        if change:
            changes.append(change)
        else:
            unchanged.append(new.path)
            why[new.path] = unchanged_reason(new, host.file(new.path))
    services = service_actions(changes, host, reloadable)
    return Plan(selection=selection, settings=settings, engine_version=host.engine_version,
                daemon_json_path=host.daemon_json_path,
                changes=tuple(changes), unchanged=tuple(unchanged), why_unchanged=why, services=tuple(services),
                notes=tuple(notes) + tuple(_service_notes(changes, services, host)), rendered=tuple(rendered))


def unchanged_reason(new: RenderedFile, old: HostFile) -> str:
    """Why a file the layers render needs nothing: what was compared, and found equal."""
    if new.content is None:
        return "absent, as it should be: no layer renders it"
    what = {"ufw": "the managed DOCKER-USER block (the rules around it are the operator's)",
            "daemon.json": "every key a layer sets (and the operator's own keys, kept)"}.get(new.target, "content")
    what = "the private key" if new.secret else what
    return f"{what}, mode {new.mode:04o} and owner {new.uid}:{new.gid} already as rendered"


def file_change(new: RenderedFile, host: HostSnapshot, settings: Settings) -> Change | None:
    """The Change for one rendered file, or None when bytes, mode and owner already match."""
    old = host.file(new.path)
    if new.content is None:
        if not old.exists:
            return None
        # a daemon.json removed (a rollback of the apply that created it) drops every key it set
        keys = (tuple(json_key_changes(parse_daemon_json(old.content, new.path), {}, settings))
                if new.target == "daemon.json" else ())
        return Change(new.target, path=new.path, action=Action.DELETE, old=old, new=new, key_changes=keys)
    mode = None if old.mode == new.mode else (old.mode, new.mode)
    owner = None if (old.uid, old.gid) == (new.uid, new.gid) else ((old.uid, old.gid), (new.uid, new.gid))
    if old.exists and old.content == new.content and not mode and not owner:
        return None
    action = Action.UPDATE if old.exists else Action.CREATE
    keys: tuple[KeyChange, ...] = ()
    if new.target == "daemon.json" and old.content != new.content:
        keys = tuple(json_key_changes(parse_daemon_json(old.content, new.path),
                                      json.loads(new.content), settings))
    diff = "(private key: content not shown)" if new.secret and old.content != new.content else unified_diff(old, new)
    return Change(new.target, path=new.path, action=action, old=old, new=new, diff=diff,
                  key_changes=keys, mode_change=mode, owner_change=owner)


def unified_diff(old, new: RenderedFile) -> str:
    if old.content == new.content:
        return ""
    before = (old.content or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
    after = (new.content or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
    label = new.path
    return "".join(difflib.unified_diff(before, after, f"{label} (now)" if old.exists else "/dev/null",
                                        f"{label} (planned)", n=2))


def json_key_changes(old: dict[str, Any], new: dict[str, Any], settings: Settings) -> list[KeyChange]:
    """Key-level differences of two JSON documents, each with the layer that caused it.

    Maps are compared key by key, down to the innermost map; a list or scalar that differs is one
    change (lists are replaced whole, never merged, so that is how an operator should read them).
    """
    changes = [_key_change(kind, path, before, after, settings) for kind, path, before, after in diff_documents(old, new)]
    return sorted(changes, key=lambda c: c.path)


def diff_documents(old: Any, new: Any, path: tuple = ()) -> list[tuple[str, tuple, Any, Any]]:
    """(kind, path, old, new) for each added, removed or changed key; pure and cheap to import."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [] if _same(old, new) else [("changed", path, old, new)]
    found = []
    for key in list(old) + [k for k in new if k not in old]:
        here = path + (key,)
        if key not in new:
            found.append(("removed", here, old[key], None))
        elif key not in old:
            found.append(("added", here, None, new[key]))
        else:
            found += diff_documents(old[key], new[key], here)
    return found


def is_container_change(old: Any, new: Any) -> bool:
    """Whether a changed value is a list (or a map inside one) on both sides: shown element by element
    (core/element_diff.py, which imports deepdiff, is loaded only for such a change)."""
    return isinstance(old, (list, dict)) and type(old) is type(new)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1 (Python says it is), 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _key_change(kind: str, path: tuple, before: Any, after: Any, settings: Settings) -> KeyChange:
    kept = _kept_entry(settings, path)
    if kept is not None:  # the operator's value (back), or a default that yields: not the layer's doing
        return KeyChange(kind, path="/".join(path), old=before, new=after, layer=kept["layer"], strength="kept")
    return KeyChange(kind, path="/".join(path), old=before, new=after, layer=_layer(settings, path, kind),
                     strength=_strength(settings, path, kind))


def _kept_entry(settings: Settings, path: tuple) -> dict | None:
    for kept_path, entry in sorted(settings.kept.items()):
        if path[: len(kept_path)] == kept_path or kept_path[: len(path)] == path:
            return entry
    return None


def _strength(settings: Settings, path: tuple, kind: str) -> str:
    if kind == "removed" or not settings.origin("daemon", path):
        return ""
    return settings.strength("daemon", path)


def _layer(settings: Settings, path: tuple, kind: str) -> str:
    if kind == "removed":
        for n in range(len(path), 0, -1):
            if ("daemon", path[:n]) in settings.removed:
                return settings.removed[("daemon", path[:n])]
        return ""
    return settings.origin("daemon", path)


# Reloadable keys a SIGHUP resets when they are absent from the file. Removing any other reloadable key
# (debug, labels, live-restore, registries, ...) leaves the old value running until a restart.
RESET_BY_RELOAD = frozenset({"max-concurrent-downloads", "max-concurrent-uploads", "max-download-attempts",
                             "features", "nri-opts", "network-diagnostic-port", "authorization-plugins"})


def service_actions(changes: list[Change], host: HostSnapshot, reloadable: frozenset[str]) -> list[ServiceAction]:
    """docker reload or restart, audit rules load, ufw reload: only for what changed."""
    by_name = {t.name: t.service for t in TARGETS}
    by_path = {path: t.service for t in TARGETS for path in t.paths}
    touched = {by_name.get(c.target) or by_path.get(c.path, "") for c in changes}
    actions = []
    if "systemd" in touched:
        actions.append(ServiceAction("systemd", action="daemon-reload", reason="the docker.service drop-in changed"))
    actions += _prune_timer_action(changes, host, "systemd" in touched)
    actions += _nftables_action(changes, host, any(a.action == "daemon-reload" for a in actions))
    docker = _docker_action(changes, host, reloadable)
    if docker:
        actions.append(docker)
    if "auditd" in touched and host.audit_loadable:
        actions.append(ServiceAction("auditd", action="reload", reason="audit rules changed: the kernel's watches "
                                     "for this key are synced with auditctl"))
    if "ufw" in touched and host.ufw_enabled:
        actions.append(ServiceAction("ufw", action="reload", reason="the DOCKER-USER block changed and ufw is active"))
    return actions


def _prune_timer_action(changes: list[Change], host: HostSnapshot, reloading: bool) -> list[ServiceAction]:
    """The prune layer's timer: started when its units are written, stopped when they go; under systemd only
    (elsewhere the units are written and a note says the timer is not started)."""
    timer = next((c for c in changes if c.path == prune_timer.TIMER_PATH), None)
    service = next((c for c in changes if c.path == prune_timer.SERVICE_PATH), None)
    if (timer is None and service is None) or host.manager != "systemd":
        return []
    reload = [] if reloading else [ServiceAction("systemd", action="daemon-reload", reason="the prune units changed")]
    if (timer or service).action == Action.DELETE:
        return reload + [ServiceAction("prune-timer", action="stop", reason=f"the prune layer is off: "
                                       f"{prune_timer.TIMER_NAME} is stopped and disabled")]
    return reload + [ServiceAction("prune-timer", action="start",
                                   reason=f"{prune_timer.TIMER_NAME} is enabled and started (systemctl enable --now)")]


def _nftables_action(changes: list[Change], host: HostSnapshot, reloading: bool) -> list[ServiceAction]:
    """The nftables layer's table: loaded live (`nft -f`) and its unit enabled when its files are written;
    deleted and the unit disabled when they go. The unit needs systemd; the live table does not."""
    table = next((c for c in changes if c.path == nft_table.PATH), None)
    unit = next((c for c in changes if c.path == nft_table.UNIT_PATH), None)
    if table is None and unit is None:
        return []
    systemd = host.manager == "systemd"
    reload = [ServiceAction("systemd", action="daemon-reload", reason=f"{nft_table.UNIT_NAME} changed")] \
        if systemd and unit and not reloading else []
    if (table or unit).action == Action.DELETE:
        return reload + [ServiceAction("nftables", action="remove",
                                       reason=f"the nftables layer is off: table {nft_table.TABLE} is deleted"
                                       + (f" and {nft_table.UNIT_NAME} disabled" if systemd else ""))]
    return reload + [ServiceAction("nftables", action="load", reason=f"table {nft_table.TABLE} is loaded (nft -f "
                                   f"{nft_table.PATH})" + (f" and {nft_table.UNIT_NAME} enabled for boot" if systemd
                                                            else ""))]


def _docker_action(changes: list[Change], host: HostSnapshot, reloadable: frozenset[str]) -> ServiceAction | None:
    daemon = next((c for c in changes if c.target == "daemon.json" and c.old.content != c.new.content), None)
    keys = sorted({c.path.split("/")[0] for c in daemon.key_changes}) if daemon else []
    seccomp = any(c.path == daemon_json.SECCOMP_PATH for c in changes) and _uses_own_seccomp(changes, host)
    restart_files = sorted({by_restart_file(c.path) for c in changes} - {""})
    if not keys and not seccomp and not restart_files:
        return None
    fixed = [k for k in keys if k not in reloadable] + (["seccomp profile file"] if seccomp else [])
    fixed += restart_files
    fixed += [f"removal of {c.path}" for c in (daemon.key_changes if daemon else ())
              if c.kind == "removed" and "/" not in c.path and c.path in reloadable
              and c.path not in RESET_BY_RELOAD]
    if not fixed:
        return ServiceAction("docker", action="reload",
                             reason="only reloadable keys changed (" + ", ".join(keys) + "): SIGHUP",
                             effect="nothing restarts")
    return restart_action(fixed, host, _final_config(daemon, host))


def _final_config(daemon: Change | None, host: HostSnapshot) -> dict[str, Any]:
    """The daemon.json dockerd starts with once the plan is applied."""
    content = daemon.new.content if daemon else host.file(host.daemon_json_path).content
    try:
        return parse_daemon_json(content)
    except Exception:  # an unreadable file was already reported by render
        return {}


def restart_action(fixed: list[str], host: HostSnapshot, final: dict[str, Any]) -> ServiceAction:
    """The docker restart, with its steps and what it does to each running container."""
    current = _final_config(None, host)
    survive, effect, stops, steps = restart_disruption(host, bool(final.get("live-restore")))
    keeps = host.running_containers if effect == LIVE_RESTORE_KEEPS else ()
    pending = tuple(changed_bridge_keys(current, final)) if host.containers and effect == LIVE_RESTORE_KEEPS else ()
    if pending:
        survive += (f"; {', '.join(pending)} take(s) effect only at the first docker restart with no container "
                    f"running: the default bridge is kept while these run: {', '.join(host.running_containers)}")
    return ServiceAction("docker", action="restart", reason="not reloadable: " + ", ".join(fixed) + "; " + survive,
                         effect=effect, stops=stops, steps=steps, pending=pending, keeps=keeps)


def by_restart_file(path: str) -> str:
    """What a file dockerd reads only at start is ('' for other files): TLS material, its unit's drop-in."""
    if path.startswith("/etc/docker/tls/"):
        return "TLS certificates"
    return "systemd drop-in" if path.startswith("/etc/systemd/system/docker.service.d/") else ""


def _uses_own_seccomp(changes: list[Change], host: HostSnapshot) -> bool:
    daemon = next((c for c in changes if c.target == "daemon.json"), None)
    content = daemon.new.content if daemon else host.file(host.daemon_json_path).content
    try:
        config = parse_daemon_json(content)
    except Exception:  # an unreadable file was already reported by render
        return False
    return config.get("seccomp-profile") == daemon_json.SECCOMP_PATH


LIVE_RESTORE_KEEPS = "containers keep running: live-restore"


def restart_disruption(host: HostSnapshot, live_restore_after: bool
                       ) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
    """What a docker restart does to the running containers: (sentence, a few words, names that stop, steps)."""
    if host.daemon_info is None:
        return ("dockerd is not answering here, so no running containers are known",
                "running containers unknown", (), (RESTART,))
    live_now = bool(host.daemon_info.get("LiveRestoreEnabled"))
    running = host.containers or ()
    restart = restart_steps(live_now, live_restore_after, running, rootless=bool(host.rootless_user),
                            swarm=is_swarm_node(host.daemon_info))
    if not running:
        return "no container is running", "no container is running", (), restart.steps
    if restart.keeps:
        how = []
        if LIVE_RESTORE_ON in restart.steps:
            how.append("live-restore is turned on by a reload first")
        elif live_now:
            how.append("live-restore is effective")
        if LIVE_RESTORE_OFF in restart.steps:
            how.append("the restart keeps it on and a reload turns it off afterwards, as the file says")
        return (f"{' and '.join(how)}: the {len(running)} running container(s) keep running "
                f"({', '.join(host.running_containers)})", LIVE_RESTORE_KEEPS, (), restart.steps)
    names = tuple(c.name for c in restart.stops)
    return (f"{restart.why_not}: the {len(names)} running container(s) stop: {describe_stops(restart.stops)}",
            f"{len(names)} running container(s) stop: {', '.join(names)}", names, restart.steps)


def _service_notes(changes: list[Change], services: list[ServiceAction], host: HostSnapshot) -> list[Note]:
    notes = []
    if any(c.target == "audit" for c in changes) and not host.audit_loadable:
        notes.append(Note("warning", audit_unavailable_note(host.kernel_audit)))
    if any(c.target == "nftables" and c.action != Action.DELETE for c in changes) and host.manager != "systemd":
        notes.append(Note("warning", f"the nftables table is written, but docker is not managed by systemd here "
                                     f"({host.manager}): nothing loads {nft_table.PATH} at boot before dockerd "
                                     f"starts; have your init system run `nft -f {nft_table.PATH}` before docker"))
    if any(c.target == "prune" and c.action != Action.DELETE for c in changes) and host.manager != "systemd":
        notes.append(Note("warning", f"the prune units are written, but docker is not managed by systemd here "
                                     f"({host.manager}): nothing starts {prune_timer.TIMER_NAME}; on a systemd host "
                                     f"run `systemctl enable --now {prune_timer.TIMER_NAME}`"))
    return notes


def hold_services(plan: Plan, host: HostSnapshot, *, live: bool, restart: bool) -> Plan:
    """The service actions apply takes, and those it leaves (Plan.left) with the reason: a plan never
    promises what apply will not do. A root other than / is not the running system: nothing there is
    acted on (apply implies --no-restart). With --no-restart nothing is. A dockerd that is not running is
    left stopped: it reads the new files when it starts, and dockharden does not start a daemon that
    someone stopped (systemd's daemon-reload, the audit watches and ufw are still acted on)."""
    taken, left = [], []
    for action in plan.services:
        why, effect = _left_because(action, host, live, restart)
        if why:
            left.append(action._replace(left_because=why, effect=effect, stops=()))
        else:
            taken.append(action)
    return plan._replace(services=tuple(taken), left=plan.left + tuple(left))


def daemon_running(host: HostSnapshot) -> bool:
    return host.daemon is not None or host.daemon_info is not None


def _left_because(action: ServiceAction, host: HostSnapshot, live: bool, restart: bool) -> tuple[str, str]:
    if not live:
        return (f"--root {host.root} is not the running system: apply writes the files only (as with "
                "--no-restart); the system that starts from it reads them when its services start",
                "no service is touched (the root is not the running system)")
    if not restart:
        return ("--no-restart: apply writes the files only; the running service keeps its old settings until "
                "you act", "no service is touched (--no-restart)")
    if action.service == "docker" and not daemon_running(host):
        return ("dockerd is not running: apply leaves it stopped (it does not start a daemon someone stopped); "
                "it reads the new settings when it starts", "dockerd is not running and stays stopped")
    return "", ""


def audit_unavailable_note(reason: str | None) -> str:
    return (f"kernel audit is not available here: {reason}. The rules file is written (auditd loads it at boot "
            "on a host kernel), no watch is loaded now, and verify and check report the watches as not "
            "verifiable")
