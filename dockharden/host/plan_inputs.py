"""Whether the host is still what a saved plan was computed from: its identity, every file plan read, the
running dockerd (its pid) and engine, and the running containers a restart acts on.

Reads the host under the root (files, directory listings, pidfiles, the daemon's API); `differences` is
pure. What the plan itself changes is recorded exactly as the plan saw it (from the Plan value); the
other files plan reads (accounts, docker.service and its drop-ins, /etc/default/docker, ufw.conf, the
operator's audit rules, files daemon.json points at) are read right after it.
"""

from __future__ import annotations

import json
import os
import stat
from typing import Any

from dockharden.errors import DockhardenError
from dockharden.host import dockerapi
from dockharden.host import facts as hostmod
from dockharden.host.root import is_running_system
from dockharden.host.runner import Runner
from dockharden.model import HostFile, Plan

ALSO_READ = ("/etc/passwd", "/etc/subuid", "/etc/subgid", *hostmod.UNIT_FILES, "/etc/default/docker",
             "/etc/ufw/ufw.conf")
LISTED = {**{d: ".conf" for d in hostmod.DROPIN_DIRS}, "/etc/audit/rules.d": ".rules"}


def identity(root: str) -> dict[str, Any]:
    """Which host and root a plan is for: the root's real path, this machine's name (the running system
    only) and the root's /etc/machine-id."""
    machine_id = hostmod.read_file(root, "/etc/machine-id")
    return {"root": os.path.realpath(root), "hostname": os.uname().nodename if is_running_system(root) else None,
            "machine_id": machine_id.content.decode(errors="replace").strip() if machine_id.exists else None}


def identity_problems(saved: dict[str, Any], root: str) -> list[str]:
    """How `root` is not the host the plan was made for ([] when it is)."""
    now = identity(root)
    if saved["root"] != now["root"]:
        return [f"it was made for root {saved['root']}, not {now['root']}"]
    problems = []
    if saved["hostname"] != now["hostname"]:
        problems.append(f"it was made on host {saved['hostname']}, this is {now['hostname']}")
    if saved["machine_id"] != now["machine_id"]:
        problems.append(f"it was made for machine-id {saved['machine_id']}, {now['root']} has {now['machine_id']}")
    return problems


# --- what the plan was computed from --------------------------------------------------------------------

def recorded_inputs(root: str, runner: Runner, plan: Plan, layers: list[str], engine_given: bool) -> dict[str, Any]:
    """What `plan` was computed from, to be found again at apply: the files it changes as it saw them,
    the files it leaves as they are, the other files it reads, the daemon and the containers it stops."""
    files = {path: _file_entry(hostmod.read_file(root, path)) for path in _also_read(root, plan)}
    files.update({c.path: _file_entry(c.old) for c in plan.changes})
    files.update({f.path: _rendered_entry(f) for f in plan.rendered if f.path in plan.unchanged})
    daemon = {"pid": plan.daemon_pid,
              "engine_version": _engine_now(root, runner, plan) if engine_given else plan.engine_version}
    return {"files": files, "listed": _listings(root), "daemon": daemon, "containers_stop": _stops(plan),
            "layers": {os.path.abspath(p): _layer_hash(p) for p in layers}}


def current_inputs(root: str, runner: Runner, plan: Plan, recorded: dict[str, Any]) -> dict[str, Any]:
    """The same facts as they are now (only what `recorded` holds is looked at)."""
    files = {path: _file_entry(_read(root, path)) for path in sorted(set(recorded["files"]) |
                                                                  _listed_paths(root))}
    daemon = {"pid": _pid_now(root, plan), "engine_version": _engine_now(root, runner, plan)}
    running = _running_now(root, plan) if recorded["containers_stop"] is not None else None
    return {"files": files, "listed": _listings(root), "daemon": daemon, "containers_stop": running}


def differences(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What changed since the plan was made, in words ([] when nothing that matters did)."""
    found = [_file_difference(path, was, now["files"].get(path, {"sha256": None}))
             for path, was in sorted(recorded["files"].items())]
    found += [f"{path} appeared" for path in sorted(set(now["files"]) - set(recorded["files"]))
              if now["files"][path]["sha256"] is not None]
    found += _daemon_differences(recorded["daemon"], now["daemon"])
    if recorded["containers_stop"] is not None and now["containers_stop"] is not None:
        new = sorted(set(now["containers_stop"]) - set(recorded["containers_stop"]))
        if new:
            found.append(f"container(s) started that the plan's restart did not account for: {', '.join(new)}")
    return [f for f in found if f]


def layer_differences(recorded: dict[str, Any]) -> list[str]:
    """Layer files whose bytes differ from when the plan was made (shown, never a reason to refuse: the
    plan carries every byte it writes)."""
    return [f"{path} changed" for path, digest in sorted(recorded.get("layers", {}).items())
            if _layer_hash(path) != digest]


# --- the pieces -----------------------------------------------------------------------------------------

def _also_read(root: str, plan: Plan) -> list[str]:
    pointed = []
    for rendered in plan.rendered:
        if rendered.target == "daemon.json" and rendered.content:
            try:
                config = json.loads(rendered.content)
            except ValueError:
                continue
            pointed += [v for k, v in config.items() if k in ("tlscacert", "tlscert", "tlskey", "seccomp-profile")
                        and isinstance(v, str) and v.startswith("/")]
    written = {f.path for f in plan.rendered}
    return sorted((set(ALSO_READ) | set(pointed) | _listed_paths(root)) - written)


def _listed_paths(root: str) -> set[str]:
    return {f"{d}/{name}" for d, names in _listings(root).items() for name in names}


def _listings(root: str) -> dict[str, list[str]]:
    from dockharden.host.fs import HostFS

    fs = HostFS(root)
    return {directory: [os.path.basename(p) for p in fs.list(directory, f"*{suffix}")]
            for directory, suffix in LISTED.items()}


def _read(root: str, path: str) -> HostFile | str:
    try:
        return hostmod.read_file(root, path)
    except (DockhardenError, OSError) as exc:
        return str(exc)


def _sha(content: bytes | None) -> str | None:
    import hashlib

    return None if content is None else hashlib.sha256(content).hexdigest()


def _file_entry(found: HostFile | str) -> dict[str, Any]:
    if isinstance(found, str):
        return {"sha256": None, "unreadable": found}
    if not found.exists:
        return {"sha256": None}
    return {"sha256": _sha(found.content), "mode": found.mode, "uid": found.uid, "gid": found.gid}


def _rendered_entry(rendered) -> dict[str, Any]:
    if rendered.content is None:
        return {"sha256": None}
    return {"sha256": _sha(rendered.content), "mode": rendered.mode, "uid": rendered.uid, "gid": rendered.gid}


def _file_difference(path: str, was: dict[str, Any], now: dict[str, Any]) -> str:
    if now.get("unreadable"):
        return f"{path} cannot be read now ({now['unreadable']})"
    if was["sha256"] is None:
        return "" if now["sha256"] is None else f"{path} was created"
    if now["sha256"] is None:
        return f"{path} was removed"
    if was["sha256"] != now["sha256"]:
        return f"{path} changed"
    if "mode" in was and was["mode"] != now["mode"]:
        return f"{path}'s mode changed ({was['mode']:04o} -> {now['mode']:04o})"
    if "uid" in was and (was["uid"], was["gid"]) != (now["uid"], now["gid"]):
        return f"{path}'s owner changed ({was['uid']}:{was['gid']} -> {now['uid']}:{now['gid']})"
    return ""


def _daemon_differences(was: dict[str, Any], now: dict[str, Any]) -> list[str]:
    found = []
    if was["pid"] != now["pid"]:
        if was["pid"] is None:
            found.append(f"dockerd was started (pid {now['pid']}); the plan was made while it was not running")
        elif now["pid"] is None:
            found.append(f"dockerd stopped (it was pid {was['pid']})")
        else:
            found.append(f"dockerd restarted (pid {was['pid']}, now {now['pid']})")
    if was["engine_version"] != now["engine_version"]:
        found.append(f"the Engine changed ({was['engine_version'] or 'unknown'} -> "
                     f"{now['engine_version'] or 'unknown'})")
    return found


def _stops(plan: Plan) -> list[str] | None:
    """The running containers the plan's restart accounted for (those it stops and those it keeps), or
    None without a restart: a container started since would change what the restart does (its steps,
    the bridge's pending keys, or one more that stops)."""
    restart = next((s for s in plan.services if s.service == "docker" and s.action == "restart"), None)
    return None if restart is None else sorted(restart.stops + restart.keeps)


def _socket(root: str, plan: Plan) -> str:
    return hostmod.socket_path(root, plan.docker_socket or hostmod.SOCKET)


def _pid_now(root: str, plan: Plan) -> int | None:
    if not is_running_system(root):
        return None
    pidfiles = hostmod.PIDFILES
    if plan.rootless_user:
        from dockharden.host.rootless import find_user

        pidfiles = (find_user(root, plan.rootless_user).pidfile,)
    daemon = hostmod.find_daemon(root, pidfiles)
    return daemon.pid if daemon else None


def _engine_now(root: str, runner: Runner, plan: Plan) -> str | None:
    live = is_running_system(root)
    if plan.rootless_user and live:
        answer = dockerapi.get_json(_socket(root, plan), "/version") or {}
        if answer.get("Version"):
            return answer["Version"]
    return hostmod.engine_version(root, runner, live)[0]


def _running_now(root: str, plan: Plan) -> list[str]:
    listed = dockerapi.get_json(_socket(root, plan), "/containers/json") if is_running_system(root) else None
    return sorted((c.get("Names") or [c.get("Id", "?")[:12]])[0].lstrip("/") for c in listed or []
                  if isinstance(c, dict))


def _layer_hash(path: str) -> str | None:
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > (1 << 20):
            return None
        with open(path, "rb") as f:
            return _sha(f.read())
    except OSError:
        return None
