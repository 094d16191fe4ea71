"""Read the live host for `dockharden check`: the effective daemon configuration (daemon.json merged
with the running dockerd's flags), what the daemon reports, the kernel's audit rules, the modes
and owners of the files section 3 covers, the running containers (section 5) and the kernel's AppArmor.

Reads only. `flags_to_config` is pure: it turns a dockerd command line into daemon.json keys using the
schema's flag names and types.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from dockharden.core.schema import daemon_keys
from dockharden.daemon_json_codec import parse_daemon_json
from dockharden.host import dockerapi
from dockharden.host import facts as hostmod
from dockharden.host.check_values import APPARMOR_ENABLED, ContainerFacts, Facts, FileFacts
from dockharden.host.effective import WATCH
from dockharden.host.fs import HostFS
from dockharden.host.runner import Runner
from dockharden.model import HostSnapshot
from dockharden.targets import audit_rules, daemon_json
from dockharden.targets.containerd_socket import CANDIDATES as CONTAINERD_SOCKETS
from dockharden.targets.containerd_socket import containerd_socket

NOT_THIS_KERNEL = "a --root other than / is a tree, not the running kernel"
SECTION_3_PATHS = ("/etc/docker", "/etc/docker/daemon.json", "/var/run/docker.sock", "/etc/default/docker",
                   "/etc/sysconfig/docker", *CONTAINERD_SOCKETS)


def flags_to_config(argv: list[str], keys: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    """{key: (value, 'flag --x')} for the dockerd flags in `argv` (repeatable flags collect lists)."""
    by_flag = {flag: key for key, spec in keys.items() for flag in spec.get("x-flag", [])}
    found: dict[str, tuple[Any, str]] = {}
    index = 0
    while index < len(argv):
        arg = argv[index]
        name, has_value, value = arg.partition("=")
        key = by_flag.get(name)
        index += 1
        if key is None:
            continue
        kind = keys[key].get("type")
        if kind == "boolean":
            found[key] = ((value.lower() != "false") if has_value else True, f"flag {name}")
            continue
        if not has_value and index < len(argv):
            value, index = argv[index], index + 1
        if kind == "array":
            previous = found.get(key, ([], ""))[0]
            found[key] = (previous + [value], f"flag {name}")
        else:
            found[key] = (int(value) if kind == "integer" and value.lstrip("-").isdigit() else value, f"flag {name}")
    return found


def effective_config(host: HostSnapshot, path: str) -> tuple[dict, dict]:
    """daemon.json overlaid with the running dockerd's flags, and where each key came from."""
    daemon = host.daemon
    config = parse_daemon_json(host.file(path).content, path)
    sources = {key: "daemon.json" for key in config}
    if daemon:
        for key, (value, source) in flags_to_config(list(daemon.argv[1:]), daemon_keys()).items():
            config[key], sources[key] = value, source
    return config, sources


def audit_watched(runner: Runner) -> tuple[frozenset[str], str]:
    """Paths watched by the rules loaded in the kernel (not by files), or the reason they are unknown."""
    if not runner.which("auditctl"):
        return frozenset(), "auditctl is not installed"
    result = runner.run(["auditctl", "-l"], timeout=20)
    if not result.ok:
        return frozenset(), result.stderr.strip() or f"auditctl -l exited {result.returncode}"
    paths = set()
    for line in result.stdout.splitlines():
        match = WATCH.match(line.strip())
        if match:
            paths.add(match.group(1))
        elif " path=" in line or "-F path=" in line:
            paths.add(line.split("path=", 1)[1].split()[0])
    return frozenset(paths), ""


def audit_file_watches(root: str) -> frozenset[str]:
    """Paths the rules files under /etc/audit/rules.d watch (what auditd loads at boot)."""
    fs, found = HostFS(root), set()
    for rules in fs.list("/etc/audit/rules.d", "*.rules"):
        for line in fs.read_text(rules).splitlines():
            match = WATCH.match(line.strip())
            if match:
                found.add(match.group(1))
    return frozenset(found)


def file_facts(root: str, paths: list[str]) -> dict[str, FileFacts]:
    fs, found = HostFS(root), {}
    for path in paths:
        st = fs.stat(path)
        found[path] = FileFacts(path=path, exists=True, mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid) if st else \
            FileFacts(path=path, exists=False)
    return found


def section_3_paths(root: str, config: dict, containerd: str = "") -> list[str]:
    units = [f"{d}/{u}" for d in audit_rules.UNIT_DIRS for u in ("docker.service", "docker.socket")]
    fs = HostFS(root)
    certs = [cert for registry in fs.list("/etc/docker/certs.d") for cert in fs.list(registry, "*.crt")]
    tls = [config[k] for k in ("tlscacert", "tlscert", "tlskey") if isinstance(config.get(k), str)]
    seen, unique = set(), []
    for path in list(SECTION_3_PATHS) + ([containerd] if containerd else []) + units + certs + tls:
        real = fs.real(path)  # /lib is /usr/lib on merged-/usr systems
        if real not in seen:
            seen.add(real)
            unique.append(path)
    return unique


def docker_group(root: str) -> tuple[int | None, tuple[str, ...]]:
    for line in (hostmod.read_file(root, "/etc/group").content or b"").decode(errors="replace").splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[0] == "docker":
            return int(parts[2]), tuple(m for m in parts[3].split(",") if m)
    return None, ()


def separate_partition(root: str, path: str) -> bool | None:
    fs = HostFS(root)
    here, parent = fs.stat(path), fs.stat(os.path.dirname(path.rstrip("/")) or "/")
    return None if here is None or parent is None else here.st_dev != parent.st_dev


def mount_point(root: str, path: str) -> str:
    """The mount point of the filesystem holding `path` (from /proc/self/mountinfo), '' if unknown."""
    if os.path.realpath(root) != "/":
        return ""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return ""
    points = [line.split()[4] for line in lines if len(line.split()) > 4]
    real = os.path.realpath(path)
    inside = [p for p in points if real == p or real.startswith(p.rstrip("/") + "/")]
    return max(inside, key=len) if inside else ""


def container_facts(inspected: dict) -> ContainerFacts:
    """The fields section 5 reads from one container's `GET /containers/{id}/json`. Pure."""
    host = inspected.get("HostConfig") or {}
    config = inspected.get("Config") or {}
    pids = host.get("PidsLimit")
    return ContainerFacts(
        name=str(inspected.get("Name") or "").lstrip("/") or str(inspected.get("Id", ""))[:12],
        id=str(inspected.get("Id", ""))[:12], privileged=bool(host.get("Privileged")),
        network_mode=str(host.get("NetworkMode") or ""), pid_mode=str(host.get("PidMode") or ""),
        ipc_mode=str(host.get("IpcMode") or ""), uts_mode=str(host.get("UTSMode") or ""),
        userns_mode=str(host.get("UsernsMode") or ""), memory=int(host.get("Memory") or 0),
        pids_limit=int(pids) if isinstance(pids, int) else None,
        security_opt=tuple(str(o) for o in host.get("SecurityOpt") or ()),
        apparmor_profile=str(inspected.get("AppArmorProfile") or ""), user=str(config.get("User") or ""),
        mount_sources=tuple(str(m.get("Source") or "") for m in inspected.get("Mounts") or () if isinstance(m, dict)))


def running_containers(socket_path: str) -> tuple[ContainerFacts, ...] | None:
    """Every running container as the daemon's API shows it (GET /containers/json, then each one's
    /containers/{id}/json); None when the daemon does not answer. A container gone in between is left out."""
    listed = dockerapi.running_containers(socket_path)
    if listed is None:
        return None
    return tuple(sorted((container_facts(detail) for _, detail in listed), key=lambda c: c.name))


def apparmor_kernel(root: str) -> str:
    """What the kernel says of AppArmor (/sys/module/apparmor/parameters/enabled: "Y" or "N"), '' when absent."""
    return HostFS(root).read_text(APPARMOR_ENABLED).strip()


def read_facts(host: HostSnapshot, runner: Runner, socket_path: str, daemon_json_path: str = daemon_json.PATH) -> Facts:
    """Everything the controls need: the host's snapshot (host/facts.py, the one plan and verify read too)
    and what only the controls look at (the bridge's options, the kernel's loaded watches, the modes of
    section 3's files, the docker group, the data root's partition)."""
    root, daemon = host.root, host.daemon
    config, sources = effective_config(host, daemon_json_path)
    info = host.daemon_info if isinstance(host.daemon_info, dict) else None
    bridge = (dockerapi.get_json(socket_path, "/networks/bridge") or {}).get("Options") or {} if info else {}
    live = os.path.realpath(root) == "/"
    # the kernel's loaded rules are the running system's: a tree (an image, a chroot) is judged by its files
    state = (host.kernel_audit or hostmod.kernel_audit()) if live else NOT_THIS_KERNEL
    unavailable = "" if state == hostmod.AUDIT_AVAILABLE else state
    watched, audit_error = audit_watched(runner) if not unavailable else (frozenset(), "")
    gid, members = docker_group(root)
    data_root = (info or {}).get("DockerRootDir") or config.get("data-root") or "/var/lib/docker"
    data_root = str(Path(data_root).parent) if (info and "name=userns" in (info.get("SecurityOptions") or [])) \
        else data_root
    existing = host.existing_paths & frozenset(audit_rules.candidate_paths())
    socket, found_by = containerd_socket(daemon.argv if daemon else (), config, existing)
    return Facts(config=config, config_sources=sources, info=info if isinstance(info, dict) else None,
                 bridge_options=bridge, audit_watched=watched, audit_error=audit_error,
                 audit_unavailable=unavailable, audit_file_watches=audit_file_watches(root),
                 existing=existing | hostmod.existing(root, [socket]),
                 files=file_facts(root, section_3_paths(root, config, socket)), docker_gid=gid,
                 docker_group_members=members, data_root_separate=separate_partition(root, data_root),
                 data_root=data_root, data_root_mount=mount_point(root, data_root),
                 containerd_socket=socket, containerd_found_by=found_by,
                 live=live,
                 containers=running_containers(socket_path) if info else None, apparmor_kernel=apparmor_kernel(root))
