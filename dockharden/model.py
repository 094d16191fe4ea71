"""Frozen values every stage shares: layers, merged settings, host snapshot, rendered files, the plan.

Pure: no I/O. The plan is a value: it can be printed, serialised and tested without touching a host.

Every value a command makes on its way (the model, and the values of core, targets, host, execute and api)
is a NamedTuple: a frozen dataclass compiles its methods with exec when it is defined, at every start, and
a plan defines these values before it reads a byte (docs/performance.md has the measured cost; a test keeps
`dataclasses` off plan's path). A NamedTuple cannot be keyword-only: a wide one (more than four fields) is
built with its first field at most by position and the rest by keyword (a test reads every call). A changed
copy is `value._replace(...)`. The annotations are evaluated (no `from __future__ import annotations`):
NamedTuple compiles each annotation left as a string. A mapping field left out defaults to NO_ENTRIES, one
shared empty mapping that refuses to be changed (a NamedTuple's defaults are made once, not per value).

The values of `check`, `verify`, saved plans, the schedule, TLS certificates and shell completion, off a plain
plan's path, are frozen dataclasses, keyword-only when they have more than four fields (a test).
"""


from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

KeyPath = tuple[str, ...]


def encode_key_path(path: KeyPath) -> str:
    """A key path as one string (managed.json's keys): the keys joined by '/', each escaped as in a JSON
    Pointer (RFC 6901: '~' as '~0', '/' as '~1'), so a key holding '/' (`log-opts."a/b"`) stays one key.
    A path of plain keys reads as before ('log-opts/max-size'): records written earlier keep working."""
    return "/".join(key.replace("~", "~0").replace("/", "~1") for key in path)


def decode_key_path(text: str) -> KeyPath:
    """The key path `encode_key_path` wrote."""
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in text.split("/"))


class _NoEntries(dict):
    """An empty dict that cannot be filled: the shared default of the values' mapping fields. A dict (not
    a MappingProxyType) so that json and every reader treat it as the empty mapping it is."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a value's default mapping is shared by every value: copy it (dict(...)) to change it")

    __setitem__ = __delitem__ = __ior__ = update = setdefault = pop = popitem = clear = _refuse


NO_ENTRIES: dict[Any, Any] = _NoEntries()

class Action(StrEnum):
    """What apply does to one file."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class RunOutcome(StrEnum):
    """How an apply or a rollback ended (RunResult.result)."""

    APPLIED = "applied"
    UNCHANGED = "unchanged"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


class Journal(StrEnum):
    """A generation's state, as its record.json journals it: how far a run got."""

    PENDING = "pending"
    VALIDATING = "validating"
    WRITING = "writing"
    SERVICES = "services"
    VERIFYING = "verifying"
    APPLIED = "applied"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


# A run killed in one of these states is finished or undone by the next one.
UNFINISHED = (Journal.PENDING, Journal.VALIDATING, Journal.WRITING, Journal.SERVICES, Journal.VERIFYING,
              Journal.ROLLING_BACK)

# Host paths several stages name: here once.
DAEMON_JSON = "/etc/docker/daemon.json"
DOCKER_SOCKET = "/var/run/docker.sock"
DOCKER_PIDFILES = ("/var/run/docker.pid", "/run/docker.pid")
CONFIG_PATH = "/etc/dockharden/dockharden.toml"   # the selection and the service settings
EXCEPTIONS_PATH = "/etc/dockharden/exceptions.toml"  # exceptions to CIS controls
STATE_DIR = "/var/lib/dockharden"                  # generations, managed.json, the lock
MANAGED_STATE = STATE_DIR + "/managed.json"


class Layer(NamedTuple):
    """One layer: a built-in profile or an operator's file, parsed but not merged."""

    name: str
    source: str
    tables: dict[str, Any]
    unset: dict[str, tuple[KeyPath, ...]] = NO_ENTRIES
    description: str = ""
    defaults: dict[str, Any] = NO_ENTRIES  # `[defaults.daemon]`: values that apply only where the operator has none


class Settings(NamedTuple):
    """The merged layers: one table per target, and which layer set (or removed) each key."""

    tables: dict[str, Any]
    provenance: dict[tuple[str, KeyPath], str]
    removed: dict[tuple[str, KeyPath], str]
    layers: tuple[str, ...]
    sources: dict[str, str] = NO_ENTRIES  # layer name -> its file (or profile:NAME)
    # (table, path) of each value only a default (`[defaults.daemon]`): the operator's own value wins
    defaulted: frozenset[tuple[str, KeyPath]] = frozenset()
    # the layers' daemon keys left to the operator, filled against a host (core.strength): path -> {"had",
    # "value" (the operator's), "layer", "because" ("" when the operator has their own value), and "enforced"
    # for a built-in profile's enforced key that cannot work with the operator's choice}
    kept: Mapping[KeyPath, dict[str, Any]] = NO_ENTRIES

    def table(self, name: str) -> dict[str, Any]:
        return self.tables.get(name, {})

    def origin(self, table: str, path: KeyPath) -> str:
        """The layer that set `path` (or the closest enclosing map), '' when none did."""
        for n in range(len(path), 0, -1):
            who = self.provenance.get((table, path[:n]))
            if who:
                return who
        return ""

    def strength(self, table: str, path: KeyPath) -> str:
        """'defaults' when the value at `path` comes from a `[defaults.*]` table, else 'enforces'."""
        return "defaults" if (table, path) in self.defaulted else "enforces"


class Selection(NamedTuple):
    """Which layers to merge: built-in profiles then operator files, in order."""

    profiles: tuple[str, ...]
    layers: tuple[str, ...]
    source: str = "default"
    profiles_from: str = ""     # where each part came from, when they differ ("" = `source`)
    layers_from: str = ""


class HostFile(NamedTuple):
    """A managed path as found on the host (under root)."""

    path: str
    exists: bool
    content: bytes | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    symlink_target: str | None = None
    real_path: str | None = None  # for a symlink: the host path of the file it leads to (that file is written)


class DaemonProcess(NamedTuple):
    """The running dockerd: pid and command line, found through its pidfile."""

    pid: int
    argv: tuple[str, ...]
    hard_limits: dict[str, int | None] = NO_ENTRIES
    can_raise_limits: bool = True


class PublishedPort(NamedTuple):
    """A container port published on the host: what an outside client dials."""

    host_ip: str        # "" or 0.0.0.0 / :: for every address
    host_port: int
    container_port: int
    proto: str = "tcp"

    def __str__(self) -> str:
        where = f"{self.host_ip}:" if self.host_ip not in ("", "0.0.0.0", "::") else ""
        return f"{where}{self.host_port}->{self.container_port}/{self.proto}"


class Container(NamedTuple):
    """A running container as a plan needs it: what a restart, a firewall block or a store switch does to it."""

    name: str
    id: str                                   # the full id
    restart_policy: str = ""                  # "", "no", "always", "unless-stopped", "on-failure"
    networks: tuple[str, ...] = ()            # network names ("bridge" is the default bridge)
    ports: tuple[PublishedPort, ...] = ()
    pid: int = 0                              # its init process on the host (0: unknown)
    addresses: tuple[str, ...] = ()           # its IP addresses on its networks (what DOCKER-USER's -d sees)

    @property
    def restarts_by_itself(self) -> bool:
        """Whether dockerd starts it again after a restart that stopped it (unless-stopped, always)."""
        return self.restart_policy in ("always", "unless-stopped")


class StoreSwitch(NamedTuple):
    """A docker restart that moves dockerd to another data root or image store (userns-remap, data-root,
    features.containerd-snapshotter, storage-driver): the daemon that comes back does not know the containers
    of the old one. core/store_switch.py finds it and says what becomes of the running containers."""

    moves: tuple[str, ...]          # each move in words: "data root /var/lib/docker -> /var/lib/docker/<uid>.<gid>"
    keys: tuple[str, ...]           # the daemon.json keys that cause it, each "key (from LAYER)"
    hidden: str                     # what disappears from view, with the counts and where they come from
    running: tuple[str, ...] = ()   # the running containers' names
    ports: tuple[str, ...] = ()     # their published ports: "web 8080->80/tcp"
    orphans: bool = True            # live-restore keeps them running (orphans), else the old daemon stops them
    stop_first: bool = False        # the operator accepted: apply stops them (docker stop) before the restart
    layer_file: str = ""            # the file of the layer that asks for it ("" : the operator's daemon.json)
    key: str = ""                   # the first key, as a layer names it (daemon.userns-remap, userns.enabled)
class ClosedPort(NamedTuple):
    """A running container's published port that the planned firewall (the DOCKER-USER block or the nftables
    table) closes to outside sources."""

    container: str
    port: PublishedPort
    open_to: tuple[str, ...] = ()  # the sources the firewall still lets in (the layers' allow_sources)


class PortClosure(NamedTuple):
    """The published ports a plan closes to outside sources (ones the current block leaves open), and how an
    operator keeps them open or closes them on purpose."""

    ports: tuple[ClosedPort, ...]
    keep_open: str                 # the layer line that keeps them all open: allow_ports = ["443", "8080"]
    layer: str = ""                # the layer that sets allow_ports now ("" none: any layer's table)
    accepted_by: str = ""          # the layer that sets close_published_ports = true ("" none)
    takes_effect: bool = True      # apply loads the rules now (else only when ufw or the table next loads them)
    table: str = "ufw"             # the layers' table of the firewall that closes them: "ufw" or "nftables"


class HostAction(NamedTuple):
    """A change to the live host that is no file: apply makes it after the service it follows, records the
    value before in the generation, and a rollback puts that value back. core/forward_policy.py plans the
    only kind so far: `firewall_policy`, a netfilter chain's policy (`iptables -P FORWARD ACCEPT`)."""

    kind: str       # "firewall_policy"
    tool: str       # "iptables" or "ip6tables"
    chain: str      # "FORWARD"
    before: str     # the policy now: "DROP"
    after: str      # the policy apply sets: "ACCEPT"
    reason: str     # why, in one sentence the plan shows
    after_service: str = "docker"  # taken right after this service acted (docker: its restart)


class Aftermath(NamedTuple):
    """What an apply or a rollback did to the running workload, measured before and after it acted."""

    stopped: tuple[Container, ...] = ()                       # running before, not running after
    silent: tuple[tuple[str, PublishedPort], ...] = ()        # (container, port): answered on the host before, not after
    closed: tuple[ClosedPort, ...] = ()                       # closed to outside sources on purpose, as planned


class HostSnapshot(NamedTuple):
    """Everything the pure stages need to know about the host. Read once by host.read_host."""

    root: str
    files: dict[str, HostFile]
    existing_paths: frozenset[str]
    engine_version: str | None = None
    engine_source: str = "unknown"
    daemon: DaemonProcess | None = None
    daemon_info: dict[str, Any] | None = None
    unit_exec: tuple[str, ...] = ()
    unit_exec_base: tuple[str, ...] = ()  # without dockharden's own drop-in
    default_opts: tuple[str, ...] = ()
    manager: str = "none"
    tools: dict[str, str] = NO_ENTRIES
    hostname: str = "localhost"
    ufw_enabled: bool = False
    ufw_input_policy: str = ""  # /etc/default/ufw DEFAULT_INPUT_POLICY ("": not said; ufw's default is DROP)
    ufw_forward_policy: str = ""  # /etc/default/ufw DEFAULT_FORWARD_POLICY ("": not said; ufw's default is DROP)
    ufw_allowed_ports: frozenset[str] = frozenset()  # ports the operator's ufw rules accept (--dport N)
    ip_forward_at_boot: tuple[str, str] = ("", "")  # net.ipv4.ip_forward as the sysctl files set it, and the file
    addresses: tuple[str, ...] | None = None  # the host's own global addresses; None: not read (offline root)
    managed: dict[str, Any] = NO_ENTRIES
    operator_watches: dict[str, str] = NO_ENTRIES
    userns_impact: dict[str, Any] | None = None
    image_store: dict[str, Any] | None = None  # host.image_store: the store in use and what it holds
    firewall: dict[str, Any] = NO_ENTRIES
    now: datetime | None = None
    daemon_json_path: str = "/etc/docker/daemon.json"  # a rootless daemon's is in its user's home
    daemon_json_owner: tuple[int, int] = (0, 0)
    rootless_flags: tuple[str, ...] = ()
    docker_socket: str | None = None  # None: /var/run/docker.sock
    cgroup_v2: bool | None = None
    rootless_user: str | None = None
    created: dict[str, str] = NO_ENTRIES  # whole files dockharden created: path -> target
    kernel_audit: str | None = None  # host.AUDIT_AVAILABLE, why audit cannot be used here, or None (offline root)
    containers: tuple[Container, ...] | None = None  # the running ones; None: not asked (no daemon, offline root)
    # what a new address pool must not overlap: {"routes", "addresses", "networks"}, each [(network, name)]
    # (core/address_pools.py); None: not read (no layer sets pools, or an offline root)
    networks_in_use: dict[str, Any] | None = None

    @property
    def audit_loadable(self) -> bool:
        """Whether apply can load watches into the running kernel (an offline root is not asked)."""
        return self.kernel_audit in (None, "available")

    def file(self, path: str) -> HostFile:
        return self.files.get(path) or HostFile(path=path, exists=False)

    @property
    def running_containers(self) -> tuple[str, ...]:
        """The running containers' names, sorted ('' when none run or the daemon was not asked)."""
        return tuple(c.name for c in self.containers or ())

    def start_flags(self, unit_exec: tuple[str, ...] | None = None) -> list[str]:
        """The flags dockerd starts with next time: from its unit under systemd (`unit_exec` when a
        drop-in is planned), from /etc/default/docker under sysvinit, else its live command line."""
        if self.manager == "systemd":
            exec_line = self.unit_exec if unit_exec is None else unit_exec
            flags = [a for a in exec_line[1:] if not a.startswith("$")]
            return flags + (list(self.default_opts) if any(a.startswith("$") for a in exec_line) else [])
        if self.manager == "sysvinit":
            return list(self.default_opts)
        if self.manager == "rootless":
            return list(self.rootless_flags)
        return list(self.daemon.argv[1:]) if self.daemon else []


# dockharden's own files, planned like the others (backed up, recorded, rolled back): managed.json and
# the selection file. They are bookkeeping, not hardening: no service acts on them, verify skips them.
OWN_TARGETS = frozenset({"state", "selection"})


class RenderedFile(NamedTuple):
    """A target's desired bytes and metadata. `content` None means: remove the file."""

    target: str
    path: str
    content: bytes | None
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    secret: bool = False


class KeyChange(NamedTuple):
    """One key-level difference in a JSON file, with the layer that caused it."""

    kind: str  # added | changed | removed
    path: str
    old: Any = None
    new: Any = None
    layer: str = ""
    strength: str = ""  # the layer's: "enforces" or "defaults" ("" for a removal or the operator's own key)


class Change(NamedTuple):
    """What apply would do to one file."""

    target: str
    path: str
    action: Action
    old: HostFile
    new: RenderedFile
    diff: str = ""
    key_changes: tuple[KeyChange, ...] = ()
    mode_change: tuple[int | None, int] | None = None
    owner_change: tuple[tuple[int | None, int | None], tuple[int, int]] | None = None


class ServiceAction(NamedTuple):
    """A service action the changes need: docker reload/restart, auditd rules load, ufw reload.

    `effect` says in a few words what the operator will notice (containers that stop, or not); `stops`
    names the running containers a docker restart stops. In Plan.left, `left_because` says why apply
    does not take the action.
    """

    service: str
    action: str
    reason: str
    effect: str = ""
    stops: tuple[str, ...] = ()
    left_because: str = ""
    steps: tuple[str, ...] = ()  # a docker restart's order of reloads and restart (core/transitions.py)
    keeps: tuple[str, ...] = ()  # the running containers a docker restart keeps running
    pending: tuple[str, ...] = ()  # keys that take effect only at a restart with no container running


class Note(NamedTuple):
    """Something the operator should read: a key left out for this engine, a warning."""

    level: str  # info | warning
    message: str


class Plan(NamedTuple):
    """The complete answer to 'what would apply do': file changes, service actions and notes.

    `services` are the actions apply takes; `left` the ones the changes need that apply does not take
    (a root that is not the running system, --no-restart, a dockerd that is not running), each saying why.
    """

    selection: Selection
    settings: Settings
    engine_version: str | None
    changes: tuple[Change, ...]
    unchanged: tuple[str, ...]
    services: tuple[ServiceAction, ...]
    notes: tuple[Note, ...]
    rendered: tuple[RenderedFile, ...]
    daemon_json_path: str = "/etc/docker/daemon.json"
    docker_socket: str | None = None
    rootless_user: str | None = None
    start_flags: tuple[str, ...] = ()  # dockerd's flags once the plan is applied (what --validate is given)
    left: tuple[ServiceAction, ...] = ()
    daemon_pid: int | None = None  # the dockerd the plan was made against (None: not running, or an offline root)
    why_unchanged: Mapping[str, str] = NO_ENTRIES  # each unchanged path: what matched
    store_switch: StoreSwitch | None = None  # the restart moves dockerd to another data root or image store
    port_closure: PortClosure | None = None  # published ports the firewall newly closes (None: none)
    host_actions: tuple[HostAction, ...] = ()  # live changes that are no file (a FORWARD policy), in order

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def needed(self) -> tuple[ServiceAction, ...]:
        """Every service action the changes need, taken or left, in the order apply acts."""
        order = ("systemd", "nftables", "docker", "auditd", "ufw")
        return tuple(sorted(self.services + self.left, key=lambda s: order.index(s.service)
                            if s.service in order else len(order)))
