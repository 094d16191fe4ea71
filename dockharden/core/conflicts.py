"""Find settings that contradict each other or the way dockerd runs, before anything is written.

Pure. Each conflict is a ConflictError naming the key and the fix; softer problems become notes.
"""

from __future__ import annotations

from typing import Any

from dockharden.core.forward_policy import DROPS, dark_ports, policies, running_backend
from dockharden.core.image_store import removed_driver_notes
from dockharden.errors import ConflictError
from dockharden.model import HostAction, HostSnapshot, Note, Settings

DAEMON_JSON = "/etc/docker/daemon.json"
PATH_KEYS = ("tlscacert", "tlscert", "tlskey", "seccomp-profile")
# the package that brings each runtime a built-in layer registers (the hint when it is missing)
RUNTIME_PACKAGES = {"runsc": "runsc"}


def pointed_paths(config: dict[str, Any]) -> set[str]:
    """The host paths a daemon.json names: the PATH_KEYS files and each runtime's `path`."""
    found = {v for k, v in config.items() if k in PATH_KEYS and isinstance(v, str)}
    runtimes = config.get("runtimes")
    for spec in (runtimes.values() if isinstance(runtimes, dict) else ()):
        if isinstance(spec, dict) and isinstance(spec.get("path"), str):
            found.add(spec["path"])
    return found


def check_conflicts(config: dict[str, Any], settings: Settings, host: HostSnapshot,
                    flags_by_key: dict[str, list[str]], written: set[str],
                    start_flags: list[str] | None = None) -> list[Note]:
    """Raise ConflictError for the first hard conflict; return warnings.

    `start_flags` are the flags dockerd will start with (after a planned drop-in); default: now's.
    """
    flags = host.start_flags() if start_flags is None else start_flags
    try:
        notes = _check_all(config, settings, host, flags_by_key, written, flags)
    except ConflictError as exc:
        if exc.path == DAEMON_JSON:
            exc.path = host.daemon_json_path  # a rootless user's file, when that is the target
        raise
    return notes + _warnings(config, host)


def relevant_flags(host: HostSnapshot, planned_exec: tuple[str, ...] | None) -> list[str]:
    """The flags a new daemon.json must not repeat: those dockerd will start with, and, unless a
    planned drop-in replaces them, those it runs with now (a reload is checked against these)."""
    flags = host.start_flags(planned_exec)
    if planned_exec is None and host.daemon:
        flags += [f for f in host.daemon.argv[1:] if f not in flags]
    return flags


def _check_all(config: dict[str, Any], settings: Settings, host: HostSnapshot,
               flags_by_key: dict[str, list[str]], written: set[str], flags: list[str]) -> list[Note]:
    if settings.table("rootless").get("enabled"):
        _rootless_limits(config, host)  # first: its reasons are the real ones on a rootless host
    _flag_duplicates(config, settings, flags, flags_by_key)
    _icc_needs_iptables(config, flags)
    _tcp_needs_tls(config)
    _userns_conflicts(config, host)
    _live_restore_and_swarm(config, host)
    _paths_exist(config, host, written)
    _runtimes_exist(config, host, settings)
    _ulimits_grantable(config, host)
    notes = _log_opts_fit_driver(config, settings, host, flags)
    _default_runtime_exists(config, settings, host)
    notes += _pools_free(config, settings, host)
    notes += removed_driver_notes(config, settings, host)
    if settings.table("ufw").get("enabled"):
        _firewall_backend(config, host)
    notes += forwarding_at_boot_notes(config, host)
    _userns_user(config, host)
    _snapshotter_driver(config)
    if config.get("bridge") and config.get("bip"):
        raise _conflict("`bridge` and `bip` are mutually exclusive", "bip", "set only one of them")
    return notes


def _snapshotter_driver(config: dict) -> None:
    from dockharden.core.image_store import GRAPH_TO_SNAPSHOTTER

    driver = config.get("storage-driver")
    if (config.get("features") or {}).get("containerd-snapshotter") is True and driver in GRAPH_TO_SNAPSHOTTER:
        raise _conflict(f"`storage-driver` {driver} is a graph driver, but `features.containerd-snapshotter` turns on "
                        "the containerd image store, which has no snapshotter of that name: dockerd starts and then "
                        "every image pull or import fails", "storage-driver",
                        f"set storage-driver to `{GRAPH_TO_SNAPSHOTTER[driver]}`, or leave the image store off")


def _conflict(message: str, key: str, hint: str) -> ConflictError:
    return ConflictError(message, hint=hint, path=DAEMON_JSON, key=key)


def _flag_names(flags: list[str]) -> set[str]:
    return {f.split("=", 1)[0] for f in flags if f.startswith("-")}


def _flag_duplicates(config: dict, settings: Settings, flags: list[str], flags_by_key: dict[str, list[str]]) -> None:
    present = _flag_names(flags)
    for key in config:
        clash = sorted(present & set(flags_by_key.get(key, [])))
        if clash and key != "runtimes":
            who = settings.origin("daemon", (key,)) or "the existing daemon.json"
            hint = (f"remove `{key}` (set by {who}) or remove {clash[0]} from dockerd's command line; "
                    "under systemd the tls layer writes a drop-in without -H")
            raise _conflict(f"`{key}` is also given to dockerd as {clash[0]}; dockerd refuses to start "
                            "when a setting is both a flag and in daemon.json", key, hint)


def _flag_value(flags: list[str], flag: str) -> str | None:
    # boolean flags only take `--flag=value`; a bare `--flag` means true
    for arg in flags:
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def _flag_argument(flags: list[str], flag: str) -> str | None:
    """The value of `flag` given as `--flag=value` or `--flag value`."""
    for index, arg in enumerate(flags):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and index + 1 < len(flags):
            return flags[index + 1]
    return None


def _icc_needs_iptables(config: dict, flags: list[str]) -> None:
    iptables_off = config.get("iptables") is False or _flag_value(flags, "--iptables") == "false"
    if config.get("icc") is False and iptables_off:
        raise _conflict("`icc` false needs iptables, but `iptables` is false; dockerd would not start",
                        "icc", "set `iptables` to true, or unset `icc` in a later layer")


def _tcp_needs_tls(config: dict) -> None:
    """A TCP host off loopback needs TLS client verification: anyone who reaches it controls the host.
    One on a loopback address (127.0.0.0/8, [::1]) is not exposed to the network and is kept; _warnings
    names who still reaches it."""
    tcp = [h for h in config.get("hosts") or [] if isinstance(h, str) and h.startswith("tcp://")]
    exposed = [h for h in tcp if not loopback_endpoint(h)]
    if exposed and not tls_verified(config):
        raise _conflict(f"the API would listen on {exposed[0]} without TLS client verification; anyone who "
                        "reaches it controls the host", "hosts",
                        "select the tls profile (tlsverify true with certificates), remove the TCP host, or "
                        "listen on a loopback address only (tcp://127.0.0.1:2375 or tcp://[::1]:2375)")


def tls_verified(config: dict) -> bool:
    return config.get("tlsverify") is True or (config.get("tls") is True and "tlsverify" not in config)


def loopback_endpoint(endpoint: str) -> bool:
    """`tcp://127.0.0.1:2375`, `tcp://127.1.2.3:2375`, `tcp://[::1]:2375`: a literal loopback address (a name
    such as localhost is not: what it resolves to is the resolver's choice, not the file's)."""
    import ipaddress

    from dockharden.targets.tls_reach import split_endpoint

    listen, _ = split_endpoint(endpoint)
    try:
        return listen is not None and ipaddress.ip_address(listen).is_loopback
    except ValueError:
        return False


def _loopback_tcp_warning(config: dict) -> list[Note]:
    tcp = [h for h in config.get("hosts") or [] if isinstance(h, str) and h.startswith("tcp://")]
    plain = [h for h in tcp if loopback_endpoint(h)] if not tls_verified(config) else []
    if not plain:
        return []
    return [Note("warning", f"hosts: the API listens on {', '.join(plain)} without TLS: not reachable from the "
                            "network, but every local user and every container with host networking "
                            "(--network host) that connects to it controls the host, as root can; use the unix "
                            "socket (its group decides who may), or the tls profile")]


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
        if not isinstance(value, str) or not value or value in ("builtin", "unconfined"):
            continue
        if not value.startswith("/"):
            raise _conflict(f"`{key}` is the relative path {value}: dockerd resolves it from its own working "
                            "directory, dockharden from the root", key, "write an absolute path")
        if value not in host.existing_paths and value not in written:
            raise _conflict(f"`{key}` points to {value}, which does not exist; dockerd would not start",
                            key, "create the file first or point the key at an existing one")


def _runtimes_exist(config: dict, host: HostSnapshot, settings: Settings) -> None:
    """A runtime a layer registers by its path must be installed there: dockerd accepts a missing one and every
    container run under it fails (`docker run --runtime` names a binary that is not there). A runtime in the
    operator's own daemon.json is the operator's, and is left alone."""
    runtimes = config.get("runtimes")
    for name, spec in sorted((runtimes or {}).items() if isinstance(runtimes, dict) else ()):
        path = spec.get("path") if isinstance(spec, dict) else None
        if not isinstance(path, str) or not path.startswith("/") or path in host.existing_paths:
            continue
        layer = settings.origin("daemon", ("runtimes", name, "path"))
        if not layer:  # the operator's own daemon.json registered it: kept as it is, as every operator setting
            continue
        package = RUNTIME_PACKAGES.get(name)
        hint = (f"install it (`apt install {package}` puts it at /usr/bin/{name}), or point runtimes.{name}.path "
                "at where it is" if package else f"install the runtime, or point runtimes.{name}.path at where it is")
        error = _conflict(f"runtime `{name}` is registered at {path}, which is not installed on this host",
                          f"runtimes.{name}.path", hint)
        if settings.sources.get(layer):  # named in the layer that registers it
            error.path, error.key = settings.sources[layer], f"daemon.runtimes.{name}.path"
        raise error


def _ulimits_grantable(config: dict, host: HostSnapshot) -> None:
    """A default ulimit above dockerd's own hard limit, without CAP_SYS_RESOURCE, fails every container."""
    from dockharden.core.strength import ungrantable_ulimits

    for name, hard, limit in ungrantable_ulimits(config, host.daemon):
        raise _conflict(f"`default-ulimits.{name}` Hard {hard} is above dockerd's own hard limit {limit}, "
                        "and dockerd lacks CAP_SYS_RESOURCE here: every container would fail to start "
                        "(error setting rlimit)", f"default-ulimits.{name}",
                        f"lower it to {limit} or less in a layer, or raise dockerd's limit "
                        "(LimitNOFILE=/LimitNPROC= in its unit)")


def _log_opts_fit_driver(config: dict, settings: Settings, host: HostSnapshot, flags: list[str] = ()) -> list[Note]:
    """Every log option must be one the driver takes (core/log_drivers.py, from moby's ValidateLogOpt): dockerd
    --validate does not look, and the daemon refuses to start. A plugin's options are not judged (a note).
    The driver is daemon.json's, else dockerd's --log-driver flag's, else json-file."""
    from dockharden.core import log_drivers
    from dockharden.core.engine_gating import parse_version

    driver = config.get("log-driver") or _flag_argument(list(flags), "--log-driver") or "json-file"
    opts = config.get("log-opts") if isinstance(config.get("log-opts"), dict) else {}
    if not isinstance(driver, str):
        return []
    set_by = settings.origin("daemon", ("log-driver",))
    whose = f"log-driver `{driver}`" + (f" (set by layer {set_by})" if set_by else "")
    removed = log_drivers.REMOVED.get(driver)
    version = parse_version(host.engine_version)
    if removed and version and version >= removed or driver in log_drivers.WINDOWS_ONLY:
        when = f"Engine {removed[0]}.{removed[1]} removed it" if removed else "it exists on Windows only"
        raise _located(settings, ("log-driver",), f"{whose}: {when}; dockerd would not start", "log-driver",
                       "set log-driver to a driver this engine has (journald, syslog, gelf, fluentd, ...)")
    if not log_drivers.known(driver):
        return [Note("info", f"{whose} is not a built-in driver (a plugin): its log-opts are not checked")] \
            if opts else []
    for opt in log_drivers.refused(driver, opts):
        takers = log_drivers.takers(opt)
        where = f"`{opt}` is an option of {', '.join(takers)}" if takers else f"no built-in driver takes `{opt}`"
        layer = settings.origin("daemon", ("log-opts", opt))
        if layer:
            fix = (f'remove it from that layer, or unset it in a later one: [unset] daemon = ["log-opts/{opt}"] '
                   f"({where})")
        else:
            fix = f"remove `{opt}` from log-opts in the operator's daemon.json ({where})"
        raise _located(settings, ("log-opts", opt), f"log-opts `{opt}` is not an option of {whose}: the daemon "
                       f"would refuse to start (unknown log opt '{opt}'), and dockerd --validate does not see it",
                       f"log-opts.{opt}", fix)
    return []


# moby v20.10.24 daemon/config/config.go builtinRuntimes; docker-v29.7.2 daemon/runtime_unix.go stockRuntimes
BUILTIN_RUNTIMES = {(20, 10): {"runc", "io.containerd.runtime.v1.linux", "io.containerd.runc.v2"},
                    (23, 0): {"runc", "io.containerd.runc.v2"}}


def default_runtime_known(name: str, registered: set[str], version: tuple[int, int] | None) -> bool:
    """Whether dockerd starts with `default-runtime` `name`: a built-in, a registered runtime, or (Engine 23+,
    isPermissibleC8dRuntimeName) a containerd shim name: a '.', no '/', not starting with '.'."""
    if name in registered:
        return True
    old = version is not None and version < (23, 0)
    if name in BUILTIN_RUNTIMES[(20, 10) if old or version is None else (23, 0)]:
        return True
    return not old and "." in name and "/" not in name and not name.startswith(".")


def _default_runtime_exists(config: dict, settings: Settings, host: HostSnapshot) -> None:
    """`dockerd --validate` accepts a default-runtime the daemon does not have; the start fails
    (`specified default runtime ... does not exist`)."""
    from dockharden.core.engine_gating import parse_version

    name = config.get("default-runtime")
    if not isinstance(name, str) or not name:
        return
    runtimes = config.get("runtimes") if isinstance(config.get("runtimes"), dict) else {}
    live = (host.daemon_info or {}).get("Runtimes")
    registered = set(runtimes) | (set(live) if isinstance(live, dict) else set())  # live: --add-runtime too
    version = parse_version(host.engine_version)
    if default_runtime_known(name, registered, version):
        return
    have = ", ".join(sorted(registered | BUILTIN_RUNTIMES[(20, 10) if version and version < (23, 0) else (23, 0)]))
    raise _located(settings, ("default-runtime",), f"`default-runtime` {name} names a runtime this daemon does not "
                   f"have (it has {have}): dockerd --validate accepts it, the daemon refuses to start",
                   "default-runtime", f"register it first (runtimes.{name}.path in the same layer), or set "
                   "default-runtime to one it has (runc)")


def _pools_free(config: dict, settings: Settings, host: HostSnapshot) -> list[Note]:
    """A layer's `default-address-pools` must not overlap the host's routes and interfaces or the daemon's
    networks (core/address_pools.py): networks created from it would take traffic meant for the LAN, a VPN
    or another network. The operator's own pools are theirs; pools already in force are not new."""
    import json

    from dockharden.core import address_pools

    pools = config.get("default-address-pools")
    layer = settings.origin("daemon", ("default-address-pools",))
    if not pools or not layer:
        return []
    try:
        existing = json.loads(host.file(host.daemon_json_path).content or b"{}").get("default-address-pools")
    except (ValueError, AttributeError):
        existing = None
    in_force = [p.get("Base") for p in (host.daemon_info or {}).get("DefaultAddressPools") or []
                if isinstance(p, dict) and isinstance(p.get("Base"), str)]
    if existing == pools or (in_force and sorted(address_pools.pool_bases(pools)) == sorted(in_force)):
        return []
    if host.networks_in_use is None:  # an offline root, or `ip` could not say: nothing to compare with
        return []
    hits = address_pools.collisions(pools, host.networks_in_use, in_force)
    if not hits:
        return []
    pool, what = hits[0]
    more = f" (and {len(hits) - 1} more overlap)" if len(hits) > 1 else ""
    size = next((p.get("size", 24) for p in pools if isinstance(p, dict) and p.get("base") == pool), 24)
    free = address_pools.free_range(int(pool.split("/")[1]), host.networks_in_use, in_force) if "/" in pool else None
    example = f'[{{ base = "{free or "<a free range>"}", size = {size} }}]'
    raise _located(settings, ("default-address-pools",), f"default-address-pools {pool} overlaps {what}{more}: "
                   "networks docker creates from it would collide with it", "default-address-pools",
                   f"give a range nothing on this host uses, in a layer: [daemon] default-address-pools = {example}")


def _located(settings: Settings, path: tuple[str, ...], message: str, key: str, hint: str) -> ConflictError:
    """A conflict in the file that set `path`: the layer's (key `daemon.<key>`), else the operator's daemon.json."""
    error = _conflict(message, key, hint)
    layer = settings.origin("daemon", path)
    if settings.sources.get(layer):
        error.path, error.key = settings.sources[layer], f"daemon.{key}"
    return error


def _userns_user(config: dict, host: HostSnapshot) -> None:
    """A named remap user must exist with subordinate ranges; no range may overlap another user's."""
    remap = config.get("userns-remap")
    if not remap:
        return
    user = "dockremap" if remap == "default" else remap.split(":")[0]
    if user.isdigit():  # dockerd accepts a uid; the ranges are kept under the user's name
        user = passwd_users(host.file("/etc/passwd").content, by_uid=True).get(user, user)
    for path in ("/etc/subuid", "/etc/subgid"):
        ranges = parse_subid(host.file(path).content)
        mine = [r for r in ranges if r[0] == user]
        if remap != "default" and not mine:
            raise ConflictError(f"`userns-remap` names `{user}`, who has no range in {path}",
                                hint=f"add one, e.g. `usermod --add-subuids 200000-265535 --add-subgids "
                                     f"200000-265535 {user}`", path=path, key="userns-remap")
        for _name, start, count in mine:
            for other, o_start, o_count in ranges:
                if other != user and start < o_start + o_count and o_start < start + count:
                    raise ConflictError(f"{user}'s range {start}-{start + count - 1} overlaps {other}'s "
                                        f"{o_start}-{o_start + o_count - 1}", path=path, key="userns-remap",
                                        hint="give each user a range of its own")
    if remap != "default" and not user.isdigit() and user not in passwd_users(host.file("/etc/passwd").content):
        raise ConflictError(f"`userns-remap` names `{user}`, who does not exist", path="/etc/passwd",
                            key="userns-remap", hint=f"create it: useradd --system --no-create-home {user}")


def parse_subid(content: bytes | None) -> list[tuple[str, int, int]]:
    ranges = []
    for line in (content or b"").decode(errors="replace").splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            ranges.append((parts[0], int(parts[1]), int(parts[2])))
    return ranges


def passwd_users(content: bytes | None, by_uid: bool = False):
    """The user names in a passwd file (or, with by_uid, a uid -> name map)."""
    rows = [line.split(":") for line in (content or b"").decode(errors="replace").splitlines() if line]
    if by_uid:
        return {r[2]: r[0] for r in rows if len(r) > 2}
    return {r[0] for r in rows}


def _firewall_backend(config: dict, host: HostSnapshot) -> None:
    if config.get("firewall-backend") == "nftables" or running_backend(host).startswith("nftables"):
        raise ConflictError("docker uses the nftables firewall backend, which has no DOCKER-USER chain: the "
                            "ufw block would filter nothing", path="/etc/ufw/after.rules", key="ufw.enabled",
                            hint="select the nftables layer (--profile baseline,nftables): it turns the ufw block "
                                 "off and filters the same way in nftables ([nftables] allow_sources, allow_ports); "
                                 "or keep the ufw block with firewall-backend iptables")
    chains, variant = host.firewall.get("docker_chains", []), host.firewall.get("variant")
    if chains and variant not in chains:
        raise ConflictError(f"docker's chains are in iptables-{chains[0]}, but `iptables` (used by ufw) is "
                            f"{variant}: the DOCKER-USER block would load where docker never looks",
                            path="/etc/ufw/after.rules", key="ufw.enabled",
                            hint="make both use one backend (update-alternatives --config iptables), then "
                                 "restart docker")


def uses_nftables(config: dict, host: HostSnapshot) -> bool:
    """Whether dockerd filters with its nftables backend once the plan is applied (its daemon.json, else
    what the running daemon reports)."""
    if "firewall-backend" in config:
        return config["firewall-backend"] == "nftables"
    return running_backend(host).startswith("nftables")


def forward_policy_notes(config: dict, settings: Settings, host: HostSnapshot,
                         planned: tuple[HostAction, ...] = ()) -> list[Note]:
    """Issue 22.4: with Docker's nftables backend, an iptables FORWARD policy of DROP (ufw's default "deny
    routed") still drops what Docker's nftables chains accept: every hook's chains must accept a packet.
    `planned` are the policies the plan itself sets to ACCEPT (core/forward_policy.py): those are no warning,
    the plan says them as actions. What is left is warned, naming the running containers' published ports
    that stop answering outside clients, with the fix."""
    if not uses_nftables(config, host):
        return []
    set_by_plan = {a.tool for a in planned}
    dropping = {tool: p for tool, p in policies(host).items() if p in DROPS and tool not in set_by_plan}
    ufw_drops = host.ufw_enabled and host.ufw_forward_policy in ("", *DROPS)
    if not dropping and not ufw_drops:
        return []
    tool, policy = next(iter(dropping.items()), ("", ""))
    why = (f"the {tool} FORWARD policy is {policy}" if policy
           else f"ufw is active with DEFAULT_FORWARD_POLICY=\"{host.ufw_forward_policy or 'DROP'}\" (deny routed)")
    if ufw_drops and policy:
        why += f" (ufw's DEFAULT_FORWARD_POLICY=\"{host.ufw_forward_policy or 'DROP'}\", deny routed)"
    ports = dark_ports(host.containers)
    what = (f"these published ports of running containers stop answering outside clients: {', '.join(ports)} "
            "(and containers' traffic out is blocked). " if ports
            else "published ports and container traffic out are blocked. ")
    said = f"{why}: with docker's nftables firewall backend that policy still drops what Docker's nftables rules accept, so {what}"
    if ufw_drops:
        fix = ("Set DEFAULT_FORWARD_POLICY=\"ACCEPT\" in /etc/default/ufw (and `ufw reload`), keeping what must stay "
               "closed in ufw's route rules (`ufw route deny ...`) and the nftables layer's [nftables] table")
    else:  # ufw is not active, yet the plan does not set it: docker is not restarted now (--no-restart, not running)
        tools = " (and ".join(f"`{t} -P FORWARD ACCEPT`" for t in dropping) + (")" if len(dropping) > 1 else "")
        fix = ("Docker's iptables backend sets that policy and its switch to nftables leaves it until the next boot "
               "(Docker's documentation, \"FORWARD policy in iptables\"); this apply does not restart docker from its "
               f"iptables backend, so it leaves the policy: once docker runs on the nftables backend, run {tools}; "
               "if a firewall of yours sets it, "
               "accept Docker's traffic in its FORWARD chain instead")
    return [Note("warning", said + fix + "; or keep the ufw block with firewall-backend iptables")]


def forwarding_at_boot_notes(config: dict, host: HostSnapshot) -> list[Note]:
    """With Docker's nftables backend dockerd no longer turns IPv4 forwarding on (its iptables backend did,
    at each start) and refuses to start without it (the default bridge needs it): unless a sysctl file
    turns it on at boot, the next boot leaves docker down, though it runs now (forwarding still on)."""
    if not uses_nftables(config, host) or config.get("ip-forward") is False:
        return []
    value, path = host.ip_forward_at_boot
    if value == "1":
        return []
    where = f"{path} sets net.ipv4.ip_forward = {value}" if path else "no sysctl file sets net.ipv4.ip_forward = 1"
    return [Note("warning", f"IPv4 forwarding at boot: with docker's nftables firewall backend dockerd does not turn "
                            f"forwarding on (its iptables backend did, at each start) and does not start without it; "
                            f"{where} (/etc/sysctl.d, /usr/lib/sysctl.d, /etc/sysctl.conf), so after the next boot "
                            "docker.service fails. Put `net.ipv4.ip_forward = 1` in "
                            "/etc/sysctl.d/99-docker-forwarding.conf, with nftables rules of yours that drop "
                            "forwarding you do not want between other interfaces (Docker's iptables backend did "
                            "that with a FORWARD policy of DROP)")]


CGROUP_KEYS = ("cgroup-parent", "cpu-rt-period", "cpu-rt-runtime")


def _rootless_limits(config: dict, host: HostSnapshot) -> None:
    """What cannot work under RootlessKit, refused with the reason."""
    if config.get("userns-remap"):
        raise _conflict("`userns-remap` does not work with a rootless daemon (moby/moby#48521)", "userns-remap",
                        "remove it: rootless mode already runs the daemon in a user namespace")
    if config.get("icc") is False and "--iptables=false" in host.rootless_flags:
        raise _conflict("`icc` false needs iptables, but the rootless unit runs dockerd with --iptables=false",
                        "icc", 'unset it for this host ([unset] daemon = ["icc"]) or set up rootless with iptables')
    cgroup = [k for k in CGROUP_KEYS if k in config]
    cgroup += [o for o in config.get("exec-opts") or [] if o == "native.cgroupdriver=systemd"]
    if cgroup and host.cgroup_v2 is not True:
        raise _conflict(f"`{cgroup[0]}` needs cgroup v2 with systemd under a rootless daemon; this host "
                        f"{'has cgroup v1' if host.cgroup_v2 is False else 'could not be checked'}",
                        cgroup[0].split("=")[0], "remove the cgroup settings for rootless hosts")
    if any(h.startswith("tcp://") for h in config.get("hosts") or []):
        raise _conflict("a rootless daemon serves TCP only through RootlessKit's port forwarding, which "
                        "dockharden does not configure", "hosts",
                        "drop the tls layer for rootless hosts, or set DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS yourself")


def _warnings(config: dict, host: HostSnapshot) -> list[Note]:
    from dockharden.core.store_switch import find_switch

    # a running daemon's switch is told whole, with each running container's fate (core/store_switch.py)
    told = find_switch(config, Settings({}, provenance={}, removed={}, layers=()), host) is not None
    notes = [] if told else store_switch_warning(config, host)
    remapped = "name=userns" in ((host.daemon_info or {}).get("SecurityOptions") or [])
    if config.get("userns-remap") and not remapped and not told:
        notes.append(Note("warning", userns_warning(host.userns_impact)))
    if config.get("seccomp-profile") == "unconfined":
        notes.append(Note("warning", "seccomp-profile is unconfined: containers run without syscall filtering"))
    notes += _open_metrics(config)
    notes += _loopback_tcp_warning(config)
    notes += _ignored_runtime_fields(config)
    return notes


RUNTIME_FIELDS = ("path", "runtimeArgs", "runtimeType", "options")  # moby's types.Runtime, as JSON names them


def _ignored_runtime_fields(config: dict) -> list[Note]:
    """Fields of a runtime that are not moby's: dockerd (--validate and start alike) accepts them and ignores
    them, so `"args": [...]` passes no argument. Kept, as dockerd keeps them, and named. Go matches JSON names
    without regard to case: `Path` is read as `path`."""
    runtimes = config.get("runtimes")
    notes = []
    for name, spec in sorted(runtimes.items() if isinstance(runtimes, dict) else ()):
        for field in (spec if isinstance(spec, dict) else {}):
            if field in RUNTIME_FIELDS:
                continue
            same = next((f for f in RUNTIME_FIELDS if f.lower() == field.lower()), None)
            if same:
                notes.append(Note("warning", f"runtimes.{name}.{field}: dockerd reads it as `{same}` (JSON names "
                                             f"match without regard to case); write `{same}`"))
            else:
                hint = " (a runtime's arguments are `runtimeArgs`)" if field.lower() == "args" else ""
                notes.append(Note("warning", f"runtimes.{name}.{field} is not a runtime field dockerd knows: it "
                                             f"accepts the file and ignores the field{hint}; a runtime takes "
                                             f"{', '.join(RUNTIME_FIELDS)}"))
    return notes


def _open_metrics(config: dict) -> list[Note]:
    """A `metrics-addr` off loopback in the operator's own daemon.json (a layer's is refused when it is read):
    kept, as every key no layer sets, and named."""
    from dockharden.core.values import Invalid, metrics_address

    address = config.get("metrics-addr")
    if not isinstance(address, str) or not address:
        return []
    try:
        metrics_address(address)
    except Invalid as exc:
        return [Note("warning", f"daemon.json (the operator's own) sets metrics-addr {address}: {exc.message}. "
                                f"Fix: {exc.fix}, or select the monitoring profile")]
    return []


def store_switch_warning(config: dict, host: HostSnapshot) -> list[Note]:
    """A switch of the image store that an operator's layer asks for, with what it hides."""
    from dockharden.core.engine_gating import parse_version
    from dockharden.core.image_store import GRAPH_DRIVERS, hidden_by_switch, populated_graphdriver

    wanted = (config.get("features") or {}).get("containerd-snapshotter")
    store = host.image_store or {}
    if wanted is True and populated_graphdriver(host):
        return [Note("warning", "features.containerd-snapshotter switches dockerd to the containerd image store "
                                "(a restart): " + hidden_by_switch(store))]
    # before Engine 29 the graph driver is the default; from 29 a storage-driver naming one picks it
    leaves = wanted is False or (wanted is None and ((parse_version(host.engine_version) or (0, 0)) < (29, 0)
                                                     or config.get("storage-driver") in GRAPH_DRIVERS))
    if store.get("store") == "containerd" and leaves and (store.get("images") or store.get("containers")):
        return [Note("warning", f"without features.containerd-snapshotter dockerd leaves the containerd image "
                                f"store (a restart): its {store.get('images', 0)} image(s) and "
                                f"{store.get('containers', 0)} container(s) disappear from view until it is "
                                "switched back")]
    return []


def userns_warning(impact: dict | None) -> str:
    text = "userns-remap moves the data root to <data-root>/<uid>.<gid>"
    if impact is None:
        return text + ": existing images, containers and volumes are not visible until it is removed"
    text += (f": {impact['images']} image(s), {impact['containers']} container(s) and {impact['volumes']} "
             "volume(s) will no longer be visible until it is removed")
    broken = [f"{c['name']} ({', '.join(c['uses'])})" for c in impact["incompatible"]]
    return text + ("; these running containers fail under remap: " + ", ".join(broken) if broken else "")
