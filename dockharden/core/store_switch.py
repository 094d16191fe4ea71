"""A docker restart that moves dockerd to another data root or image store: what becomes of the running containers.

Pure. userns-remap moves dockerd onto <data-root>/<uid>.<gid> (and off the containerd image store, which
it does not support), `data-root` moves it outright, `features.containerd-snapshotter` and `storage-driver`
switch the image store. The daemon that comes back reads only the containers of its own data root and
store: with live-restore the running ones keep running with no daemon managing them (orphans: out of
`docker ps -a`, their published ports dead); without it the old daemon stops them as it shuts down. The
plan says which, by name; apply refuses while any runs, unless the operator accepts that apply stops them
first (docker stop), so that no process is left without a daemon.
"""

from __future__ import annotations

import posixpath
from typing import Any

from dockharden.core.image_store import GRAPH_DRIVERS
from dockharden.errors import ConflictError
from dockharden.model import HostSnapshot, Note, Plan, ServiceAction, Settings, StoreSwitch

ACCEPT = "--stop-containers-for-store-switch"
DEFAULT_ROOT = "/var/lib/docker"
REMAPPED_DIR = "<uid>.<gid>"
SNAPSHOTTER_TYPE = "io.containerd.snapshotter.v1"


def find_switch(config: dict[str, Any], settings: Settings, host: HostSnapshot, *,
                stop_first: bool = False) -> StoreSwitch | None:
    """The switch the desired daemon.json `config` makes against the running daemon (None: none, or no daemon
    answers, so no container is known to run)."""
    info = host.daemon_info
    if not isinstance(info, dict):
        return None
    flags = host.start_flags()
    remap = bool(config.get("userns-remap") or _flag(flags, "--userns-remap"))
    moves, keys = [], []
    for found in (_root_move(config, info, flags, remap), _store_move(config, info, host, remap)):
        if found:
            moves.append(found[0])
            keys += [k for k in found[1] if k not in keys]
    if not moves:
        return None
    running = tuple(host.containers or ())
    return StoreSwitch(
        moves=tuple(moves), keys=tuple(f"{k} (from {_layer(settings, k)})" for k in keys),
        hidden=hidden_from_view(host, keys), running=tuple(c.name for c in running),
        ports=tuple(dict.fromkeys(f"{c.name} {p}" for c in running for p in c.ports)),  # IPv4 and IPv6 say one
        orphans=bool(info.get("LiveRestoreEnabled") or config.get("live-restore") is True),
        stop_first=stop_first, layer_file=settings.sources.get(_layer(settings, keys[0]), ""),
        key=_layer_key(settings, keys[0]))


def _root_move(config: dict, info: dict, flags: list[str], remap: bool) -> tuple[str, list[str]] | None:
    """The data root the daemon uses now and the one it starts with, when they differ."""
    security = info.get("SecurityOptions") or []
    remapped_now = "name=userns" in security
    now = _clean(info.get("DockerRootDir") or DEFAULT_ROOT)
    base_now = posixpath.dirname(now) if remapped_now else now
    default = base_now if "name=rootless" in security else DEFAULT_ROOT  # a rootless daemon's is in its home
    base = _clean(config.get("data-root") or _flag(flags, "--data-root") or default)
    keys = (["userns-remap"] if remap != remapped_now else []) + (["data-root"] if base != base_now else [])
    if not keys:
        return None
    return f"data root {now} -> {base}/{REMAPPED_DIR if remap else ''}".rstrip("/"), keys


def _store_move(config: dict, info: dict, host: HostSnapshot, remap: bool) -> tuple[str, list[str]] | None:
    """The image store (kind and driver) the daemon uses now and the one it starts with, when they differ."""
    from dockharden.core.engine_gating import parse_version

    status = {row[0]: row[1] for row in info.get("DriverStatus") or [] if isinstance(row, list) and len(row) == 2}
    containerd_now = status.get("driver-type") == SNAPSHOTTER_TYPE
    driver_now = str(info.get("Driver") or "?")
    wanted = (config.get("features") or {}).get("containerd-snapshotter")
    old_engine = (parse_version(host.engine_version) or (0, 0)) < (29, 0)
    if remap:
        containerd, key = False, "userns-remap"  # userns-remap turns the containerd image store off
    elif wanted is None and not old_engine and config.get("storage-driver") in GRAPH_DRIVERS:
        containerd, key = False, "storage-driver"  # Engine 29 starts on a graph driver it is told to use
    elif wanted is None:
        containerd, key = containerd_now and not old_engine, "features.containerd-snapshotter"
    else:
        containerd, key = wanted, "features.containerd-snapshotter"
    driver = config.get("storage-driver")
    if containerd != containerd_now:
        driver = driver or ("overlayfs" if containerd else "overlay2")
    elif not driver or driver == driver_now:
        return None
    else:
        key = "storage-driver"
    return f"image store {_store(containerd_now, driver_now)} -> {_store(containerd, driver)}", [key]


def _store(containerd: bool, driver: str) -> str:
    return f"containerd ({driver})" if containerd else f"graph driver {driver}"


def _clean(path: str) -> str:
    return posixpath.normpath(path) if path.startswith("/") else path


def _flag(flags: list[str], name: str) -> str | None:
    """The value of `--name V` or `--name=V` among dockerd's start flags."""
    for index, flag in enumerate(flags):
        if flag.startswith(name + "="):
            return flag.split("=", 1)[1]
        if flag == name and index + 1 < len(flags):
            return flags[index + 1]
    return None


def _layer(settings: Settings, key: str) -> str:
    path = tuple(key.split("."))
    return (settings.origin("daemon", path) or settings.removed.get(("daemon", path[:1]), "")
            or "the operator's daemon.json")


def _layer_key(settings: Settings, key: str) -> str:
    """The key as the layer spells it: [userns] enabled implies userns-remap."""
    if key == "userns-remap" and settings.table("userns").get("enabled"):
        return "userns.enabled"
    return "daemon." + key


def hidden_from_view(host: HostSnapshot, keys: list[str]) -> str:
    """What disappears from `docker ps -a`, `docker images` and `docker volume ls`, with the counts."""
    store = host.image_store or {}
    impact = host.userns_impact if "userns-remap" in keys and host.userns_impact else None
    counts = impact or store
    moved_root = "userns-remap" in keys or "data-root" in keys
    volumes = counts.get("volumes") if moved_root else None
    what = [f"{counts.get('images', 0)} image(s)", f"{counts.get('containers', 0)} container(s)"]
    what += [f"{volumes} volume(s)"] if volumes is not None else []
    broken = [f"{c['name']} ({', '.join(c['uses'])})" for c in (impact or {}).get("incompatible", [])]
    return (f"{', '.join(what[:-1])} and {what[-1]} (from {counts.get('source', 'the host')}) disappear from view "
            "until it is switched back (they stay on disk)"
            + ("; these running containers cannot run remapped: " + ", ".join(broken) if broken else ""))


def switch_note(switch: StoreSwitch, *, restarting: bool = True) -> Note:
    """The plan's account of the switch: what moves, what disappears, and each running container's fate."""
    when = "The docker restart" if restarting else "The next docker restart (apply does not restart it now)"
    text = (f"{when} moves dockerd to another store ({_and(switch.keys)}): {'; '.join(switch.moves)}. "
            f"{switch.hidden[0].upper()}{switch.hidden[1:]}.")
    if not switch.running:
        return Note("warning", text + " No container is running now.")
    return Note("warning", f"{text} {fate(switch, restarting=restarting)}")


def fate(switch: StoreSwitch, *, restarting: bool = True) -> str:
    """What happens to the running containers, by name, and what apply does about it."""
    names, count = ", ".join(switch.running), len(switch.running)
    ports = (f"; their published ports ({', '.join(switch.ports)}) stop answering" if switch.ports else "")
    if switch.stop_first and restarting:
        return (f"apply stops the {count} running container(s) first ({names}: docker stop, their stop timeout "
                f"then SIGKILL), so none is left running without a daemon; they stay, stopped, in the old store "
                f"until the switch is undone (`dockharden rollback`){ports}.")
    if switch.orphans:
        said = (f"The {count} running container(s) {names} would become orphans: live-restore keeps them running, "
                "but the restarted daemon does not know them (not in `docker ps -a`, not stoppable with docker)")
    else:
        said = (f"The {count} running container(s) {names} would stop: the daemon shuts down without "
                "live-restore, and the restarted one does not know them")
    if not restarting:
        return said + ports + "."
    return (said + ports + f". apply refuses while any container runs: stop them first, or give {ACCEPT} "
            "to have apply stop them cleanly before the restart.")


def _and(items: tuple[str, ...] | list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def with_switch(plan: Plan, switch: StoreSwitch | None) -> Plan:
    """The plan with the switch, its note, and the docker restart saying what it does to the containers."""
    if switch is None:
        return plan
    restarting = any(_is_restart(s) for s in plan.services)
    services = tuple(_restart_effect(s, switch) if _is_restart(s) else s for s in plan.services)
    return plan._replace(store_switch=switch, services=services,
                         notes=plan.notes + (switch_note(switch, restarting=restarting),))


def _is_restart(action: ServiceAction) -> bool:
    return action.service == "docker" and action.action == "restart"


def _restart_effect(action: ServiceAction, switch: StoreSwitch) -> ServiceAction:
    reason = action.reason.split("; live-restore")[0] + "; it switches " + "; ".join(switch.moves)
    if not switch.running:
        return action._replace(reason=reason)
    names = ", ".join(switch.running)
    if switch.stop_first:
        effect = f"apply stops {len(switch.running)} running container(s) first: {names}"
    else:
        effect = f"refused while {len(switch.running)} container(s) run: {names}; {ACCEPT} stops them first"
    # stopped first (or refused): the restart itself then meets no running container, one plain restart
    return action._replace(reason=reason, effect=effect, stops=switch.running, keeps=(), steps=("restart",),
                           pending=())


def refuse_orphaning(plan: Plan) -> None:
    """Raise ConflictError when the plan restarts docker into another store while containers run and the
    operator did not accept that apply stops them first: nothing is written, no container is touched."""
    switch = plan.store_switch
    if switch is None or not switch.running or switch.stop_first or not any(_is_restart(s) for s in plan.services):
        return
    names, command = ", ".join(switch.running), "rollback" if plan.selection.source == "rollback" else "apply"
    become = "keep running as orphans that no daemon manages" if switch.orphans else "stop"
    ports = f", and their published ports ({', '.join(switch.ports)}) would stop answering" if switch.ports else ""
    raise ConflictError(
        f"{_and(switch.keys)} restarts dockerd into another store ({'; '.join(switch.moves)}) while "
        f"{len(switch.running)} container(s) run: {names}; the restarted daemon would not know them: they would "
        f"{become}{ports}; nothing was written",
        hint=f"stop them first (docker stop {' '.join(switch.running)}) and run {command} again; or run {command} {ACCEPT} "
             "to have dockharden stop them cleanly before the restart (they stay, stopped, in the old store until "
             "the switch is undone); or leave the key out of the layers",
        path=switch.layer_file or plan.daemon_json_path, key=switch.key)


# --- verify: container processes no daemon manages ------------------------------------------------------

ORPHAN_CHECK = "containers without a daemon"


def find_orphans(shims: dict[str, int], known: set[str] | frozenset[str], names: dict[str, str]) -> list[str]:
    """Each shim (container id -> shim pid) whose container the running daemon does not list (`known`: every
    id of GET /containers/json?all=1), in words: its short id, its name where an old data root keeps it, its
    shim's pid."""
    return [f"{ident[:12]}" + (f" {names[ident]}" if ident in names else "") + f" (shim pid {pid})"
            for ident, pid in sorted(shims.items()) if ident not in known]


def orphans_detail(orphans: list[str], shims: int) -> str:
    """verify's row: none, or which, with how to clean them up."""
    if not orphans:
        return f"none: each of the {shims} container shim(s) in moby's namespace belongs to a container dockerd lists"
    return (f"{len(orphans)} container(s) run with no daemon managing them (not in `docker ps -a`; their published "
            f"ports no longer answer): {'; '.join(orphans)}. Hint: a switch of data root or image store left them "
            "(userns-remap, data-root, the containerd snapshotter); undo it (`dockharden rollback`) and the daemon "
            "that started them takes them back (with live-restore), then stop them with docker stop before "
            f"switching again ({ACCEPT}); or end them: kill the shim's children, then the shim")
