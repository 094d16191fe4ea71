"""The facts `dockharden check` judges, as frozen values: what host/check_facts.py reads and the controls
(inspect/controls.py) look at. Pure data; kept out of model.py so that a plan does not build them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class FileFacts:
    """A path as found on the host: None fields when it does not exist."""

    path: str
    exists: bool
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None


APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"  # "Y" when the kernel has AppArmor on


@dataclass(frozen=True, kw_only=True)
class ContainerFacts:
    """One running container as `docker inspect` shows it: the fields section 5's controls read."""

    name: str
    id: str                                 # the short id (12 hex digits)
    privileged: bool = False                # HostConfig.Privileged
    network_mode: str = ""                  # HostConfig.NetworkMode
    pid_mode: str = ""                      # HostConfig.PidMode
    ipc_mode: str = ""                      # HostConfig.IpcMode
    uts_mode: str = ""                      # HostConfig.UTSMode
    userns_mode: str = ""                   # HostConfig.UsernsMode
    memory: int = 0                         # HostConfig.Memory (bytes; 0 = no limit)
    pids_limit: int | None = None           # HostConfig.PidsLimit (None, 0 or -1 = no limit)
    security_opt: tuple[str, ...] = ()      # HostConfig.SecurityOpt
    apparmor_profile: str = ""              # AppArmorProfile
    user: str = ""                          # Config.User
    mount_sources: tuple[str, ...] = ()     # Mounts[].Source (binds and volumes)

    @property
    def named(self) -> str:
        return f"{self.name} ({self.id})"


@dataclass(frozen=True, kw_only=True)
class Facts:
    """Everything the controls look at, read once from the live host."""

    config: dict[str, Any]                  # daemon.json merged with the running dockerd's flags
    config_sources: dict[str, str]          # key -> "daemon.json" | "flag --x"
    info: dict[str, Any] | None             # docker info, None when the daemon does not answer
    bridge_options: dict[str, str]
    audit_watched: frozenset[str]           # paths the kernel's audit rules watch (auditctl -l)
    audit_error: str = ""
    audit_unavailable: str = ""             # why the kernel's audit rules cannot be read here ('' when they can)
    audit_file_watches: frozenset[str] = frozenset()  # paths watched by the rules files (loaded at boot)
    existing: frozenset[str] = frozenset()  # which candidate paths exist
    files: dict[str, FileFacts] = field(default_factory=dict)
    docker_gid: int | None = None
    docker_group_members: tuple[str, ...] = ()
    data_root_separate: bool | None = None
    data_root: str = "/var/lib/docker"
    data_root_mount: str = ""               # the filesystem holding the data root (its mount point), if known
    live: bool = True                       # root is `/`: the running machine, not an image or a tree
    containerd_socket: str = "/run/containerd/containerd.sock"
    containerd_found_by: str = "the system containerd"
    containers: tuple[ContainerFacts, ...] | None = None  # the running containers; None: the daemon does not answer
    apparmor_kernel: str = ""               # /sys/module/apparmor/parameters/enabled ("Y", "N"; '' when absent)
