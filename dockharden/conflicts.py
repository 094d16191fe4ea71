"""Find settings that contradict each other or the way dockerd runs, before anything is written.

Pure. Each conflict is a ConflictError naming the key and the fix; softer problems become notes.
"""

from __future__ import annotations

from typing import Any

from dockharden.errors import ConflictError
from dockharden.model import HostSnapshot, Note, Settings

DAEMON_JSON = "/etc/docker/daemon.json"
PATH_KEYS = ("tlscacert", "tlscert", "tlskey", "seccomp-profile")


def check_conflicts(config: dict[str, Any], settings: Settings, host: HostSnapshot,
                    flags_by_key: dict[str, list[str]], written: set[str]) -> list[Note]:
    """Raise ConflictError for the first hard conflict; return warnings."""
    _flag_duplicates(config, settings, host, flags_by_key)
    _icc_needs_iptables(config, host)
    _tcp_needs_tls(config)
    _userns_conflicts(config, host)
    _live_restore_and_swarm(config, host)
    _paths_exist(config, host, written)
    _ulimits_grantable(config, host)
    if config.get("bridge") and config.get("bip"):
        raise _conflict("`bridge` and `bip` are mutually exclusive", "bip", "set only one of them")
    return _warnings(config, host)


def _conflict(message: str, key: str, hint: str) -> ConflictError:
    return ConflictError(message, hint=hint, path=DAEMON_JSON, key=key)


def daemon_flags(host: HostSnapshot) -> list[str]:
    """The flags dockerd runs with now (live process) or would start with (unit files)."""
    live = list(host.daemon.argv[1:]) if host.daemon else []
    return live + [f for f in host.unit_flags if f not in live]


def _flag_names(flags: list[str]) -> set[str]:
    return {f.split("=", 1)[0] for f in flags if f.startswith("-")}


def _flag_duplicates(config: dict, settings: Settings, host: HostSnapshot,
                     flags_by_key: dict[str, list[str]]) -> None:
    present = _flag_names(daemon_flags(host))
    for key in config:
        clash = sorted(present & set(flags_by_key.get(key, [])))
        if clash and key != "runtimes":
            who = settings.origin("daemon", (key,)) or "the existing daemon.json"
            hint = (f"remove `{key}` (set by {who}) or remove {clash[0]} from dockerd's command line; "
                    "for `hosts` under systemd, let the tls layer write the systemd drop-in")
            raise _conflict(f"`{key}` is also given to dockerd as {clash[0]}; dockerd refuses to start "
                            "when a setting is both a flag and in daemon.json", key, hint)


def _flag_value(host: HostSnapshot, flag: str) -> str | None:
    for arg in daemon_flags(host):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def _icc_needs_iptables(config: dict, host: HostSnapshot) -> None:
    iptables_off = config.get("iptables") is False or _flag_value(host, "--iptables") == "false"
    if config.get("icc") is False and iptables_off:
        raise _conflict("`icc` false needs iptables, but `iptables` is false; dockerd would not start",
                        "icc", "set `iptables` to true, or unset `icc` in a later layer")


def _tcp_needs_tls(config: dict) -> None:
    tcp = [h for h in config.get("hosts", []) if h.startswith("tcp://")]
    verified = config.get("tlsverify") is True or (config.get("tls") is True and "tlsverify" not in config)
    if tcp and not verified:
        raise _conflict(f"the API would listen on {tcp[0]} without TLS client verification; anyone who "
                        "reaches it controls the host", "hosts",
                        "select the tls profile (tlsverify true with certificates) or remove the TCP host")


def _userns_conflicts(config: dict, host: HostSnapshot) -> None:
    if not config.get("userns-remap"):
        return
    security = (host.daemon_info or {}).get("SecurityOptions") or []
    if config.get("rootless") or any("name=rootless" in s for s in security):
        raise _conflict("`userns-remap` does not work with a rootless daemon (moby/moby#48521)",
                        "userns-remap", "drop the userns profile for rootless hosts")
    if config.get("features", {}).get("containerd-snapshotter") is True:
        raise _conflict("`userns-remap` with `features.containerd-snapshotter` true: the containerd image "
                        "store refuses user namespace remapping", "features.containerd-snapshotter",
                        "unset it (the userns profile does: [unset] daemon = [\"features/containerd-snapshotter\"])")


def _live_restore_and_swarm(config: dict, host: HostSnapshot) -> None:
    swarm = ((host.daemon_info or {}).get("Swarm") or {}).get("LocalNodeState")
    if config.get("live-restore") is True and swarm == "active":
        raise _conflict("`live-restore` is incompatible with swarm mode, and this node is in a swarm",
                        "live-restore", "unset `live-restore` in a layer for swarm nodes ([unset] daemon = "
                        "[\"live-restore\"])")


def _paths_exist(config: dict, host: HostSnapshot, written: set[str]) -> None:
    for key in PATH_KEYS:
        value = config.get(key)
        if not value or value in ("builtin", "unconfined"):
            continue
        if value not in host.existing_paths and value not in written:
            raise _conflict(f"`{key}` points to {value}, which does not exist; dockerd would not start",
                            key, "create the file first or point the key at an existing one")


def _ulimits_grantable(config: dict, host: HostSnapshot) -> None:
    """A default ulimit above dockerd's own hard limit, without CAP_SYS_RESOURCE, fails every container."""
    daemon = host.daemon
    if daemon is None or daemon.can_raise_limits:
        return
    for name, spec in (config.get("default-ulimits") or {}).items():
        hard = spec.get("Hard", spec.get("hard")) if isinstance(spec, dict) else None
        limit = daemon.hard_limits.get(name)
        if isinstance(hard, int) and limit is not None and hard > limit:
            raise _conflict(f"`default-ulimits.{name}` Hard {hard} is above dockerd's own hard limit {limit}, "
                            "and dockerd lacks CAP_SYS_RESOURCE here: every container would fail to start "
                            "(error setting rlimit)", f"default-ulimits.{name}",
                            f"lower it to {limit} or less in a layer, or raise dockerd's limit "
                            "(LimitNOFILE=/LimitNPROC= in its unit)")


def _warnings(config: dict, host: HostSnapshot) -> list[Note]:
    notes = []
    if config.get("userns-remap"):
        notes.append(Note("warning", "userns-remap moves the data root to <data-root>/<uid>.<gid>: existing "
                                     "images, containers and volumes are not visible until it is removed"))
    if config.get("seccomp-profile") == "unconfined":
        notes.append(Note("warning", "seccomp-profile is unconfined: containers run without syscall filtering"))
    return notes
