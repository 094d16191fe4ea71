"""Read the host under `root` into a HostSnapshot: managed files, which paths exist, the running daemon.

Reads only. With root `/` it also asks the running dockerd (its pidfile, /proc/<pid>/cmdline and the
API socket); with any other root (an image, a chroot) it reads files only.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from pathlib import Path
from typing import Any, Iterable

from dockharden.host import dockerapi
from dockharden.errors import HostFileError
from dockharden.host.fs import HostFS
from dockharden.model import DaemonProcess, HostFile, HostSnapshot
from dockharden.host.runner import Runner

PIDFILES = ("/var/run/docker.pid", "/run/docker.pid")
SOCKET = "/var/run/docker.sock"
UNIT_FILES = ("/etc/systemd/system/docker.service", "/lib/systemd/system/docker.service",
              "/usr/lib/systemd/system/docker.service")
DROPIN_DIRS = ("/etc/systemd/system/docker.service.d", "/run/systemd/system/docker.service.d")
MANAGED_STATE = "/var/lib/dockharden/managed.json"
TOOLS = ("iptables-restore", "ip6tables-restore", "auditctl", "augenrules", "ufw", "dockerd")


def read_file(root: str, path: str) -> HostFile:
    """A file's bytes, mode and owner, through the accessor (symlinks followed inside the root only)."""
    return HostFS(root).read(path)


def socket_path(root: str, path: str) -> str:
    """Where a unix socket of the host is, seen from here (resolved inside the root)."""
    return str(HostFS(root).real(path))


def read_host(root: str, runner: Runner, paths: Iterable[str], probe: Iterable[str] = (),
              live: bool | None = None, manager: str = "none") -> HostSnapshot:
    """Snapshot the host: `paths` are read, `probe` paths are only checked for existence."""
    fs = HostFS(root)
    live = fs.live if live is None else live
    files = {p: fs.read(p) for p in paths}
    present = existing(root, set(probe) | set(paths))
    daemon = find_daemon(root) if live else None
    info = dockerapi.get_json(socket_path(root, SOCKET), "/info") if live else None
    version, source = engine_version(root, runner, live)
    return HostSnapshot(root=root, files=files, existing_paths=present, engine_version=version,
                        engine_source=source, daemon=daemon, daemon_info=info,
                        unit_exec=tuple(unit_exec(root)), unit_exec_base=tuple(unit_exec(root, own_dropin=False)),
                        default_opts=tuple(default_opts(root)),
                        manager=manager, tools=find_tools(runner),
                        hostname=os.uname().nodename if live else "localhost",
                        ufw_enabled=ufw_enabled(root),
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


def engine_version(root: str, runner: Runner, live: bool) -> tuple[str | None, str]:
    """The engine version from the API, else from `dockerd --version`; (None, why) when unknown."""
    if not live:
        return None, "not asked (offline root)"
    answer = dockerapi.get_json(socket_path(root, SOCKET), "/version")
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
        if match:
            return shlex.split(match.group(1))
    return []


def find_tools(runner: Runner) -> dict[str, str]:
    """Paths of the external programs dockharden can use, for those that are installed."""
    return {name: path for name in TOOLS if (path := runner.which(name))}


def ufw_enabled(root: str) -> bool:
    """Whether ufw is set to start (ENABLED=yes in /etc/ufw/ufw.conf)."""
    return re.search(r"^ENABLED=yes", HostFS(root).read_text("/etc/ufw/ufw.conf"), re.M) is not None


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
    chains = []
    for name, tool in (("legacy", "iptables-legacy"), ("nf_tables", "iptables-nft")):
        if runner.which(tool):
            listing = runner.run([tool, "-S", "FORWARD"], timeout=10).stdout
            if "DOCKER" in listing:
                chains.append(name)
    return {"variant": variant, "docker_chains": chains}


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
