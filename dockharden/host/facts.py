"""Read the host under `root` into a HostSnapshot: managed files, which paths exist, the running daemon.

Reads only. With root `/` it also asks the running dockerd (its pidfile, /proc/<pid>/cmdline and the
API socket); with any other root (an image, a chroot) it reads files only.
"""


import json
import os
import re
import shlex
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from dockharden.core.selection import choose_selection, parse_config
from dockharden.errors import HostFileError
from dockharden.host import dockerapi, rootless
from dockharden.host.fs import HostFS
from dockharden.host.runner import Runner
from dockharden.model import (
    CONFIG_PATH,
    DOCKER_PIDFILES,
    DOCKER_SOCKET,
    MANAGED_STATE,
    Container,
    DaemonProcess,
    HostFile,
    HostSnapshot,
    PublishedPort,
)

PIDFILES = DOCKER_PIDFILES
SOCKET = DOCKER_SOCKET
UNIT_FILES = ("/etc/systemd/system/docker.service", "/lib/systemd/system/docker.service",
              "/usr/lib/systemd/system/docker.service")
DROPIN_DIRS = ("/etc/systemd/system/docker.service.d", "/run/systemd/system/docker.service.d")
TOOLS = ("iptables-restore", "ip6tables-restore", "auditctl", "augenrules", "ufw", "dockerd", "nft")


def read_file(root: str, path: str) -> HostFile:
    """A file's bytes, mode and owner, through the accessor (symlinks followed inside the root only)."""
    return HostFS(root).read(path)


def socket_path(root: str, path: str) -> str:
    """Where a unix socket of the host is, seen from here (resolved inside the root)."""
    return str(HostFS(root).real(path))


def read_host(root: str, runner: Runner, paths: Iterable[str], probe: Iterable[str] = (),
              live: bool | None = None, manager: str = "none", socket: str | None = None) -> HostSnapshot:
    """Snapshot the host: `paths` are read, `probe` paths are only checked for existence; the daemon is
    asked on `socket` (a path as dockharden reaches it; default: the standard one under the root)."""
    fs = HostFS(root)
    live = fs.live if live is None else live
    files = {p: fs.read(p) for p in paths}
    present = existing(root, set(probe) | set(paths))
    daemon = find_daemon(root) if live else None
    socket = socket or socket_path(root, SOCKET)
    info = dockerapi.get_json(socket, "/info") if live else None
    version, source = engine_version(root, runner, live, socket)
    return HostSnapshot(root=root, files=files, existing_paths=present, engine_version=version,
                        engine_source=source, daemon=daemon, daemon_info=info,
                        unit_exec=tuple(unit_exec(root)), unit_exec_base=tuple(unit_exec(root, own_dropin=False)),
                        default_opts=tuple(default_opts(root)),
                        manager=manager, tools=find_tools(runner),
                        hostname=os.uname().nodename if live else "localhost",
                        ufw_enabled=ufw_enabled(root), ufw_input_policy=ufw_input_policy(root),
                        ufw_forward_policy=ufw_forward_policy(root),
                        ufw_allowed_ports=ufw_allowed_ports(root),
                        ip_forward_at_boot=ip_forward_at_boot(root),
                        operator_watches=operator_watches(root),
                        firewall=firewall_variants(runner) if live else {},
                        cgroup_v2=Path("/sys/fs/cgroup/cgroup.controllers").exists() if live else None,
                        kernel_audit=kernel_audit() if live else None)


def existing(root: str, paths: Iterable[str]) -> frozenset[str]:
    """Which of `paths` exist under root."""
    fs = HostFS(root)
    return frozenset(p for p in paths if fs.exists(p))


def find_daemon(root: str, pidfiles: tuple[str, ...] = PIDFILES) -> DaemonProcess | None:
    """The running dockerd from its pidfile (never by name: other hosts' daemons are visible)."""
    fs = HostFS(root)
    for pidfile in pidfiles:
        try:
            pid = int(fs.read_text(pidfile).strip())
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, HostFileError):
            continue
        args = tuple(a.decode(errors="replace") for a in argv if a)
        if args and os.path.basename(args[0]).startswith("dockerd"):
            # in a user namespace (rootless) CAP_SYS_RESOURCE is not the init namespace's: no raising
            can_raise = has_capability(pid, CAP_SYS_RESOURCE) and not in_user_namespace(pid)
            return DaemonProcess(pid, args, hard_limits(pid), can_raise)
    return None


CAP_SYS_RESOURCE = 24
LIMIT_ROWS = {"nofile": "Max open files", "nproc": "Max processes", "memlock": "Max locked memory",
              "core": "Max core file size", "stack": "Max stack size"}


def hard_limits(pid: int) -> dict[str, int | None]:
    """The process's hard resource limits by ulimit name (None = unlimited)."""
    try:
        rows = Path(f"/proc/{pid}/limits").read_text().splitlines()
    except OSError:
        return {}
    found: dict[str, int | None] = {}
    for name, label in LIMIT_ROWS.items():
        row = next((r for r in rows if r.startswith(label)), None)
        if row:
            hard = row[len(label):].split()[1]
            found[name] = None if hard == "unlimited" else int(hard)
    return found


def in_user_namespace(pid: int) -> bool:
    """True when the process's uids are mapped (a rootless daemon), not the host's identity map."""
    try:
        first = Path(f"/proc/{pid}/uid_map").read_text().split()
    except OSError:
        return False
    return first[:3] != ["0", "0", "4294967295"]


def has_capability(pid: int, cap: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    match = re.search(r"^CapEff:\s*([0-9a-f]+)", status, re.M)
    return bool(match) and bool(int(match.group(1), 16) >> cap & 1)


def engine_version(root: str, runner: Runner, live: bool, socket: str | None = None) -> tuple[str | None, str]:
    """The engine version from the API, else from `dockerd --version`; (None, why) when unknown."""
    if not live:
        return None, "not asked (offline root)"
    answer = dockerapi.get_json(socket or socket_path(root, SOCKET), "/version")
    if isinstance(answer, dict) and answer.get("Version"):
        return answer["Version"], "docker API"
    result = runner.run(["dockerd", "--version"], timeout=10)
    match = re.search(r"version (\S+?),", result.stdout)
    if result.ok and match:
        return match.group(1), "dockerd --version"
    return None, "dockerd not found"


OWN_DROPIN = "dockharden.conf"


def unit_exec(root: str, *, own_dropin: bool = True) -> list[str]:
    """docker.service's effective ExecStart as an argument list (drop-ins win, as systemd does);
    without dockharden's own drop-in when `own_dropin` is false."""
    from dockharden.targets.systemd_dropin import exec_start_in

    fs = HostFS(root)
    exec_start: list[str] = []
    for unit in _unit_files(fs):
        if own_dropin or os.path.basename(unit) != OWN_DROPIN:
            exec_start = exec_start_in(fs.read_text(unit), exec_start)
    return exec_start


def _unit_files(fs: HostFS) -> list[str]:
    base = next((u for u in UNIT_FILES if fs.is_file(u)), None)
    dropins = sorted((p for d in DROPIN_DIRS for p in fs.list(d, "*.conf")), key=os.path.basename)
    return ([base] if base else []) + dropins


def default_opts(root: str) -> list[str]:
    """DOCKER_OPTS from /etc/default/docker (sysvinit, and Debian's unit through $DOCKER_OPTS)."""
    for line in HostFS(root).read_text("/etc/default/docker").splitlines():
        match = re.match(r'\s*DOCKER_OPTS\s*=\s*(.*)$', line)
        if match:  # a shell assignment (`DOCKER_OPTS="-H tcp://..."`): its one value, split where $DOCKER_OPTS is
            try:
                words = shlex.split(match.group(1), comments=True)
            except ValueError:  # an unclosed quote: the shell would refuse the file too
                words = match.group(1).split()
            return " ".join(words).split()
    return []


def find_tools(runner: Runner) -> dict[str, str]:
    """Paths of the external programs dockharden can use, for those that are installed."""
    return {name: path for name in TOOLS if (path := runner.which(name))}


def ufw_enabled(root: str) -> bool:
    """Whether ufw is set to start (ENABLED=yes in /etc/ufw/ufw.conf)."""
    return re.search(r"^ENABLED=yes", HostFS(root).read_text("/etc/ufw/ufw.conf"), re.M) is not None


def ufw_input_policy(root: str) -> str:
    """DEFAULT_INPUT_POLICY of /etc/default/ufw (DROP, REJECT, ACCEPT), or "" when the file does not say."""
    found = re.search(r'^DEFAULT_INPUT_POLICY="?([A-Z]+)"?', HostFS(root).read_text("/etc/default/ufw"), re.M)
    return found.group(1) if found else ""


def ufw_forward_policy(root: str) -> str:
    """DEFAULT_FORWARD_POLICY of /etc/default/ufw (DROP, REJECT, ACCEPT), or "" when the file does not say."""
    found = re.search(r'^DEFAULT_FORWARD_POLICY="?([A-Z]+)"?', HostFS(root).read_text("/etc/default/ufw"), re.M)
    return found.group(1) if found else ""


SYSCTL_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d")
IP_FORWARD_KEYS = ("net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding")


def ip_forward_at_boot(root: str) -> tuple[str, str]:
    """The value the sysctl files give net.ipv4.ip_forward at boot (systemd-sysctl's order: *.conf by name
    across SYSCTL_DIRS, the first directory's file of a name masking the others', /etc/sysctl.conf last;
    the last assignment wins), and the file that sets it; ("", "") when none does."""
    fs = HostFS(root)
    by_name: dict[str, str] = {}
    for directory in SYSCTL_DIRS:
        for path in fs.list(directory, "*.conf"):
            by_name.setdefault(path.rsplit("/", 1)[1], path)
    found = ("", "")
    for path in [by_name[n] for n in sorted(by_name)] + ["/etc/sysctl.conf"]:
        for line in fs.read_text(path).splitlines():
            key, sep, value = line.strip().lstrip("-").partition("=")
            if sep and not key.startswith(("#", ";")) and key.strip().replace("/", ".") in IP_FORWARD_KEYS:
                found = (value.strip(), path)
    return found


def ufw_allowed_ports(root: str) -> frozenset[str]:
    """The ports the operator's ufw rules accept on input (`ufw allow ... port N` becomes --dport N)."""
    fs, ports = HostFS(root), set()
    for rules in ("/etc/ufw/user.rules", "/etc/ufw/user6.rules"):
        for line in fs.read_text(rules).splitlines():
            if line.startswith("-A ufw-user-input ") and "-j ACCEPT" in line:
                ports.update(re.findall(r"--dport (\d+)\b", line))
    return frozenset(ports)


def host_addresses(runner: Runner) -> tuple[str, ...] | None:
    """The host's own addresses clients may reach it by (`ip -j addr`: global scope, Docker's bridges and
    veths left out); None when `ip` cannot say."""
    done = runner.run(["ip", "-j", "addr", "show"], timeout=5)
    if not done.ok:
        return None
    try:
        links = json.loads(done.stdout or "[]")
    except ValueError:
        return None
    return global_addresses(links if isinstance(links, list) else [])


def global_addresses(links: list) -> tuple[str, ...]:
    """Pure: the global addresses in `ip -j addr`'s list, except those of docker0, br-*, docker_gwbridge, veth*."""
    found = []
    for link in links:
        name = str(link.get("ifname", "")) if isinstance(link, dict) else ""
        if not name or name in ("docker0", "docker_gwbridge") or name.startswith(("br-", "veth")):
            continue
        found += [a["local"] for a in link.get("addr_info") or [] if isinstance(a, dict)
                  and a.get("scope") == "global" and isinstance(a.get("local"), str)]
    return tuple(dict.fromkeys(found))


def operator_watches(root: str) -> dict[str, str]:
    """Paths the operator's own audit rule files already watch (path -> file)."""
    found: dict[str, str] = {}
    fs = HostFS(root)
    for rules in fs.list("/etc/audit/rules.d", "*.rules"):
        if rules.endswith("/docker.rules"):
            continue
        for line in fs.read_text(rules).splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "-w":
                found.setdefault(parts[1], rules)
    return found


def firewall_variants(runner: Runner) -> dict:
    """Which iptables backend `iptables` is, and in which backends docker's chains exist."""
    if not runner.which("iptables"):
        return {}
    version = runner.run(["iptables", "--version"], timeout=10).stdout
    variant = "nf_tables" if "nf_tables" in version else "legacy"
    chains, policy = [], ""
    for name, tool in (("legacy", "iptables-legacy"), ("nf_tables", "iptables-nft")):
        if runner.which(tool):
            listing = runner.run([tool, "-S", "FORWARD"], timeout=10).stdout
            if "DOCKER" in listing:
                chains.append(name)
            if name == variant:  # `-P FORWARD DROP`: what `iptables` (and so ufw) sets
                policy = chain_policy(listing)
    found = {"variant": variant, "docker_chains": chains, "forward_policy": policy}
    if runner.which("ip6tables"):  # Docker's iptables backend sets the IPv6 FORWARD policy too (core/forward_policy.py)
        found["forward_policy_v6"] = chain_policy(runner.run(["ip6tables", "-S", "FORWARD"], timeout=10).stdout)
    return found


def chain_policy(listing: str, chain: str = "FORWARD") -> str:
    """The policy in `iptables -S CHAIN`'s listing (`-P FORWARD DROP`: "DROP"), or ""."""
    return next((line.split()[2] for line in listing.splitlines()
                 if line.startswith(f"-P {chain} ") and len(line.split()) > 2), "")


GRAPHDRIVER, CONTAINERD_STORE = "graphdriver", "containerd"


def image_store(root: str, info: dict | None, data_root: str) -> dict[str, Any]:
    """Which image store dockerd uses and how many images and containers it holds: from `docker info`
    when the daemon answers, else counted in the data root on disk (store then unknown)."""
    if isinstance(info, dict):
        status = {row[0]: row[1] for row in info.get("DriverStatus") or [] if len(row) == 2}
        store = CONTAINERD_STORE if status.get("driver-type") == "io.containerd.snapshotter.v1" else GRAPHDRIVER
        return {"store": store, "driver": info.get("Driver"), "images": info.get("Images", 0),
                "containers": info.get("Containers", 0), "source": "docker info"}
    fs = HostFS(root)
    drivers = [os.path.basename(d) for d in _subdirs(fs, f"{data_root}/image")]
    images = sum(len(fs.list(f"{data_root}/image/{d}/imagedb/content/sha256")) for d in drivers)
    return {"store": None, "driver": drivers[0] if drivers else None, "images": images,
            "containers": len(_subdirs(fs, f"{data_root}/containers")), "source": f"{data_root} on disk"}


def _subdirs(fs: HostFS, directory: str) -> list[str]:
    return [p for p in fs.list(directory) if fs.is_dir(p) and not fs.is_link(p)]


def volume_count(root: str, socket_path: str | None, data_root: str) -> int:
    """Named volumes: from the API when it answers, else the directories under <data-root>/volumes."""
    answer = dockerapi.get_json(socket_path, "/volumes") if socket_path else None
    if isinstance(answer, dict):
        return len(answer.get("Volumes") or [])
    return len(_subdirs(HostFS(root), f"{data_root}/volumes"))


def userns_impact(root: str, socket_path: str | None, store: dict[str, Any], data_root: str) -> dict:
    """What remapping hides and breaks: counts, and running containers that cannot run remapped."""
    broken = []
    for summary in (dockerapi.get_json(socket_path, "/containers/json") if socket_path else None) or []:
        detail = dockerapi.get_json(socket_path, f"/containers/{summary['Id']}/json") or {}
        host_config = detail.get("HostConfig") or {}
        reasons = [r for r, bad in (("--privileged", host_config.get("Privileged")),
                                    ("host network", host_config.get("NetworkMode") == "host"),
                                    ("host PID", host_config.get("PidMode") == "host")) if bad]
        if reasons:
            broken.append({"name": (summary.get("Names") or ["?"])[0].lstrip("/"), "uses": reasons})
    return {"images": store["images"], "containers": store["containers"],
            "volumes": volume_count(root, socket_path, data_root), "incompatible": broken, "source": store["source"]}


AUDIT_AVAILABLE = "available"
NETLINK_AUDIT, AUDIT_GET, NLMSG_ERROR = 9, 1000, 2


def kernel_audit() -> str:
    """AUDIT_AVAILABLE, or why the kernel's audit rules cannot be read or loaded from here.

    Asks the kernel directly (an AUDIT_GET netlink request, as auditctl -s does): it refuses every
    process outside the initial PID namespace (a container, an LXC host) with EPERM and every
    process in a user namespace with ECONNREFUSED, whatever its capabilities.
    """
    import errno
    import socket
    import struct

    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
    except OSError as exc:
        return f"the kernel has no audit support ({exc.strerror})"
    with sock:
        sock.settimeout(2)
        try:
            sock.sendto(struct.pack("=IHHII", 16, AUDIT_GET, 0x1 | 0x4, 1, 0), (0, 0))
            for _ in range(4):
                reply = sock.recv(8192)
                kind, = struct.unpack_from("=H", reply, 4)
                if kind == AUDIT_GET:
                    enabled, = struct.unpack_from("=I", reply, 16 + 4)
                    return AUDIT_AVAILABLE if enabled != 2 else "the kernel's audit rules are locked (-e 2) until reboot"
                if kind == NLMSG_ERROR:
                    code, = struct.unpack_from("=i", reply, 16)
                    if code:
                        return _audit_refusal(-code, errno)
        except OSError as exc:
            return f"the kernel's audit interface did not answer ({exc.strerror or exc})"
    return "the kernel's audit interface did not answer"


def _audit_refusal(code: int, errno) -> str:
    if code == errno.EPERM and os.geteuid() == 0:
        return ("the kernel refuses audit requests from this process (Operation not permitted): it runs in a "
                "container or an LXC guest, outside the host's initial PID namespace")
    if code == errno.ECONNREFUSED:
        return "the kernel refuses audit requests from a user namespace (a rootless or unprivileged container)"
    return f"the kernel refuses audit requests: {os.strerror(code)}"


def detect_manager(root: str, runner: Runner) -> str:
    """How dockerd is started: on the running system, by what runs here (systemd, a sysvinit script with
    `service`); on an offline root (an image, a chroot), by the root's own files, as its boot will start it:
    a docker.service unit is read as a live host's is (its ExecStart and drop-ins give dockerd's flags)."""
    fs = HostFS(root)
    if not fs.live:
        if any(fs.is_file(unit) for unit in UNIT_FILES):
            return "systemd"
        return "sysvinit" if fs.is_file("/etc/init.d/docker") else "none"
    if fs.is_dir("/run/systemd/system"):
        return "systemd"
    if fs.is_file("/etc/init.d/docker") and runner.which("service"):
        return "sysvinit"
    return "none"


ACCOUNT_FILES = ("/etc/passwd", "/etc/subuid", "/etc/subgid")


OWN_FILES = (MANAGED_STATE, CONFIG_PATH)


class Context(NamedTuple):
    """What every command needs: where the host is and how to run programs."""

    root: str = "/"
    runner: Runner = Runner()
    engine_version: str | None = None
    manager: str | None = None  # the docker service manager; None: from dockharden.toml, else detected
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    user: str | None = None  # the rootless daemon's user (--user)
    failpoint: Callable[[str], None] = lambda name: None  # the fault-injection tests' hook (execute/faults.py)


def read_selection(ctx: Context, profile_names: list[str] | None, layer_files: list[str] | None):
    """The host's dockharden.toml and the selection the flags and that file make."""
    config_file = read_file(ctx.root, CONFIG_PATH)
    config = parse_config(config_file.content)
    return config, choose_selection(config, profile_names, layer_files)


def service_manager(ctx: Context, config: dict) -> str:
    """The docker service manager: --given, [service] manager, else what this host runs."""
    named = ctx.manager or config.get("service", {}).get("manager", "auto")
    return detect_manager(ctx.root, ctx.runner) if named == "auto" else named


def for_rootless_user(ctx: Context, host: HostSnapshot, layer_user: str | None) -> HostSnapshot:
    """The snapshot seen from the rootless daemon of `--user` (or the layer's user)."""
    user = rootless.find_user(ctx.root, ctx.user or layer_user)
    live = os.path.realpath(ctx.root) == "/"
    socket = socket_path(ctx.root, user.socket)
    info = dockerapi.get_json(socket, "/info") if live else None
    version = (dockerapi.get_json(socket, "/version") or {}).get("Version") if live else None
    daemon = find_daemon(ctx.root, (user.pidfile,)) if live else None
    files = dict(host.files, **{user.daemon_json: read_file(ctx.root, user.daemon_json)})
    return host._replace(files=files, daemon_json_path=user.daemon_json, daemon_json_owner=(user.uid, user.gid),
                         daemon_info=info, daemon=daemon, engine_version=version or host.engine_version,
                         manager="rootless", rootless_flags=tuple(rootless.unit_flags(ctx.root, user)),
                         docker_socket=user.socket, rootless_user=user.name)


def read_snapshot(ctx: Context, daemon_table: dict, socket: str | None = None, *, own_state: bool = True) -> HostSnapshot:
    """The host, with the paths the settings and the operator's daemon.json point at probed too: the one
    snapshot plan, verify and check read (check gives the socket it was told to use)."""
    from dockharden.core.conflicts import PATH_KEYS, pointed_paths
    from dockharden.daemon_json_codec import parse_daemon_json
    from dockharden.host.state import created_files, read_managed_state
    from dockharden.targets import audit_rules, daemon_json, managed_paths

    snapshot = read_host(ctx.root, ctx.runner, managed_paths() + list(ACCOUNT_FILES) + list(OWN_FILES),
                         audit_rules.candidate_paths(), manager=ctx.manager or "none", socket=socket)
    current = parse_daemon_json(snapshot.file(daemon_json.PATH).content)
    pointed = {v for doc in (daemon_table, current) for k, v in doc.items()
               if k in PATH_KEYS and isinstance(v, str)}
    # runtimes' binaries too: probed, never read
    probed = {p for p in pointed_paths(daemon_table) | pointed_paths(current) if p.startswith("/")}
    managed = read_managed_state(ctx.root) if own_state else {}  # check judges the host, not dockharden's records
    # the files they point at are read too: the tls layer writes at the paths a layer names
    pointed_files = {p: read_file(ctx.root, p) for p in pointed if p.startswith("/")}
    snapshot = snapshot._replace(existing_paths=snapshot.existing_paths | existing(ctx.root, probed),
                                 files={**pointed_files, **snapshot.files}, now=ctx.clock(), managed=managed,
                                 created=created_files(ctx.root, managed) if own_state else {})
    return snapshot


def with_store_facts(ctx: Context, host: HostSnapshot, settings) -> HostSnapshot:
    """The image store in use and what it holds, and what remapping would hide: what a switch of the
    image store or userns-remap makes disappear from view."""
    from dockharden.daemon_json_codec import parse_daemon_json

    info = host.daemon_info if isinstance(host.daemon_info, dict) else None
    current = parse_daemon_json(host.file(host.daemon_json_path).content)
    data_root = (info or {}).get("DockerRootDir") or current.get("data-root") or "/var/lib/docker"
    store = image_store(ctx.root, info, data_root)
    host = host._replace(image_store=store)
    remaps = settings.table("userns").get("enabled") or settings.table("daemon").get("userns-remap")
    already = "name=userns" in ((info or {}).get("SecurityOptions") or []) or bool(current.get("userns-remap"))
    socket = socket_path(ctx.root, host.docker_socket or SOCKET) if info else None
    switches = ((settings.table("daemon").get("features") or {}).get("containerd-snapshotter") is True
                and store.get("store") != CONTAINERD_STORE)
    if (info and (bool(remaps) != already or settings.table("daemon").get("data-root"))) or switches:
        # a move of the data root hides the volumes too (core/store_switch.py says how many); a switch of the
        # image store is made only on an empty store, volumes counted (core/image_store.py)
        host = host._replace(image_store=dict(store, volumes=volume_count(ctx.root, socket, data_root)))
    if not remaps or already:
        return host
    return host._replace(userns_impact=userns_impact(ctx.root, socket, store, data_root))


def with_running_containers(ctx: Context, host: HostSnapshot) -> HostSnapshot:
    """The running containers, asked whenever the daemon answers and says some run: a plan states what a
    restart, a firewall block or a store switch does to each one, by name."""
    info = host.daemon_info if isinstance(host.daemon_info, dict) else None
    if not info:
        return host
    if not info.get("ContainersRunning"):
        return host._replace(containers=())
    return host._replace(containers=read_containers(socket_path(ctx.root, host.docker_socket or SOCKET)))


def read_containers(socket: str) -> tuple[Container, ...] | None:
    """Every running container (GET /containers/json, then each one's /containers/{id}/json for its restart
    policy and process); None when the daemon does not answer. A container gone in between is left out."""
    listed = dockerapi.running_containers(socket)
    if listed is None:
        return None
    found = [container_of(entry, detail) for entry, detail in listed]
    return tuple(sorted(found, key=lambda c: c.name))


def container_of(entry: dict, detail: dict) -> Container:
    """A Container from the API's list entry and its inspect document."""
    host_config = detail.get("HostConfig") or {}
    policy = (host_config.get("RestartPolicy") or {}).get("Name") or ""
    networks = ((detail.get("NetworkSettings") or {}).get("Networks") or {})
    ports = []
    for port in entry.get("Ports") or ():
        if isinstance(port, dict) and port.get("PublicPort"):
            ports.append(PublishedPort(str(port.get("IP") or ""), int(port["PublicPort"]),
                                       int(port.get("PrivatePort") or 0), str(port.get("Type") or "tcp")))
    name = str(detail.get("Name") or "").lstrip("/") or str(detail.get("Id", ""))[:12]
    return Container(name=name, id=str(detail.get("Id", "")), restart_policy=str(policy),
                     networks=tuple(sorted(str(n) for n in networks)), ports=tuple(sorted(set(ports))),
                     pid=int((detail.get("State") or {}).get("Pid") or 0), addresses=addresses_of(networks))


def addresses_of(networks: dict) -> tuple[str, ...]:
    """The container's IPv4 and IPv6 addresses on its networks (inspect's NetworkSettings.Networks)."""
    found = [str(n.get(key)) for n in networks.values() if isinstance(n, dict)
             for key in ("IPAddress", "GlobalIPv6Address") if n.get(key)]
    return tuple(dict.fromkeys(found))


def read_facts(ctx: Context, settings) -> HostSnapshot:
    """The one snapshot of the host a plan (and verify, which plans) is made against: the managed files and
    the files the settings point at, the running daemon (a rootless user's when the settings say so), the
    image store and what a switch or a remap hides, the running containers."""
    host = read_snapshot(ctx, settings.table("daemon"))
    if settings.table("rootless").get("enabled"):
        host = for_rootless_user(ctx, host, settings.table("rootless").get("user"))
    host = with_store_facts(ctx, host, settings)
    if settings.table("tls").get("enabled") and HostFS(ctx.root).live:  # the tls layer names them (or not)
        host = host._replace(addresses=host_addresses(ctx.runner))
    if "default-address-pools" in settings.table("daemon") and HostFS(ctx.root).live:
        host = host._replace(networks_in_use=network_facts(ctx.runner, socket_path(ctx.root, host.docker_socket or SOCKET),
                                                           host.daemon_info is not None))
    return with_running_containers(ctx, host)


def network_facts(runner: Runner, socket: str, daemon_answers: bool) -> dict[str, Any] | None:
    """What a new address pool must not overlap (core/address_pools.py): the routes of every table, the
    interfaces' networks, and the daemon's networks' subnets (when it answers); None when `ip` cannot say."""
    from dockharden.core import address_pools

    found: dict[str, Any] = {}
    for key, argv, parse in (("routes", ["ip", "-j", "route", "show", "table", "all"], address_pools.routes_of),
                             ("addresses", ["ip", "-j", "addr", "show"], address_pools.addresses_of)):
        done = runner.run(argv, timeout=5)
        if not done.ok:
            return None
        try:
            found[key] = parse(json.loads(done.stdout or "[]"))
        except ValueError:
            return None
    listed = dockerapi.get_json(socket, "/networks") if daemon_answers else None
    found["networks"] = address_pools.networks_of(listed) if isinstance(listed, list) else []
    return found


def docker_socket(root: str, config: dict[str, Any], environ: dict[str, str] | None = None,
                  default: str = "/var/run/docker.sock") -> str:
    """The daemon's unix socket: [docker] host, else DOCKER_HOST, else the standard path."""
    from dockharden.errors import DockhardenError

    host = config.get("docker", {}).get("host") or (environ or os.environ).get("DOCKER_HOST") or ""
    if host and not host.startswith("unix://"):
        raise DockhardenError(f"dockharden talks to dockerd over its unix socket, not {host}",
                              hint="set [docker] host = \"unix:///var/run/docker.sock\"", path=CONFIG_PATH)
    return socket_path(root, host[len("unix://"):] if host else default)
