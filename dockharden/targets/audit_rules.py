"""Target /etc/audit/rules.d/docker.rules: a watch for each CIS 1.1.x path that exists on the host.

Pure: which paths exist comes from the host snapshot. Rendered by rules_text (Python, not a template: see docs/performance.md).
"""


import re
from typing import NamedTuple

from dockharden.errors import RenderError
from dockharden.model import HostSnapshot, RenderedFile, Settings
from dockharden.targets.containerd_socket import CANDIDATES as CONTAINERD_SOCKETS
from dockharden.targets.containerd_socket import containerd_socket

PATH = "/etc/audit/rules.d/docker.rules"
UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")


class Watch(NamedTuple):  # a value: model.py's idiom
    control: str
    path: str


# (control, candidate paths, watched even when absent). 1.1.3 and 1.1.4 are required either way;
# /etc/docker and daemon.json exist once apply has written daemon.json, so they are watched from the
# first apply on (otherwise the second plan would differ from the first).
CIS_AUDIT_PATHS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("1.1.3", ("/usr/bin/dockerd",), True),
    ("1.1.3", ("/usr/sbin/dockerd",), False),
    ("1.1.4", ("/run/containerd",), True),
    ("1.1.5", ("/var/lib/docker",), False),
    ("1.1.6", ("/etc/docker",), True),
    ("1.1.7", tuple(f"{d}/docker.service" for d in UNIT_DIRS), False),
    ("1.1.8", CONTAINERD_SOCKETS, False),  # the one dockerd uses: see audit_watches
    ("1.1.9", tuple(f"{d}/docker.socket" for d in UNIT_DIRS), False),
    ("1.1.10", ("/etc/default/docker",), False),
    ("1.1.11", ("/etc/docker/daemon.json",), True),
    ("1.1.12", ("/etc/containerd/config.toml",), False),
    ("1.1.13", ("/etc/sysconfig/docker",), False),
    ("1.1.14", ("/usr/bin/containerd",), False),
    ("1.1.15", ("/usr/bin/containerd-shim",), False),
    ("1.1.16", ("/usr/bin/containerd-shim-runc-v1",), False),
    ("1.1.17", ("/usr/bin/containerd-shim-runc-v2",), False),
    ("1.1.18", ("/usr/bin/runc",), False),
)


def candidate_paths() -> set[str]:
    """Every path whose existence decides the rules (host.py checks these)."""
    return {p for _, paths, _ in CIS_AUDIT_PATHS for p in paths} | {"/etc/audit"}


def audit_watches(existing: frozenset[str], extra: list[str] = (), containerd: str | None = None) -> list[Watch]:
    """The watches for this host: the first existing candidate of each control, unit paths resolved;
    for 1.1.8 the containerd socket dockerd uses (`containerd`), when it exists."""
    watches: list[Watch] = []
    for control, paths, always in CIS_AUDIT_PATHS:
        if control == "1.1.8" and containerd:
            paths = (containerd,)
        found = next((p for p in paths if p in existing), None)
        if found or always:
            watches.append(Watch(control, found or paths[0]))
    watches += [Watch("extra", p) for p in extra]
    return _unique(watches)


def _unique(watches: list[Watch]) -> list[Watch]:
    seen, result = set(), []
    for watch in watches:
        if watch.path not in seen:
            seen.add(watch.path)
            result.append(watch)
    return result


def render_audit_rules(settings: Settings, host: HostSnapshot) -> list[RenderedFile]:
    audit = settings.table("audit")
    if not audit.get("enabled"):
        return []
    socket, _ = containerd_socket(host.daemon.argv if host.daemon else (), _daemon_config(settings, host),
                                  host.existing_paths)
    mine = [w for w in audit_watches(host.existing_paths, audit.get("extra_paths", []), socket)
            if w.path not in host.operator_watches]  # the operator's own rules already cover these
    text = rules_text([w.path for w in mine], audit.get("key", "docker"), audit.get("permissions", "rwxa"))
    check_audit_syntax(text)
    return [RenderedFile("audit", path=PATH, content=text.encode(), mode=0o640)]


def _daemon_config(settings: Settings, host: HostSnapshot) -> dict:
    """daemon.json as apply will leave it, as far as `containerd` goes: the layers' value, else the file's."""
    if "containerd" in settings.table("daemon"):
        return settings.table("daemon")
    from dockharden.daemon_json_codec import parse_daemon_json
    from dockharden.errors import HostFileError

    current = host.file(host.daemon_json_path)
    try:
        return parse_daemon_json(current.content, host.daemon_json_path) if current.exists else {}
    except HostFileError:  # the daemon.json target reports a broken file itself
        return {}


_RULE = r"-w /\S+ -p [rwxa]{1,4} -k [A-Za-z0-9_-]{1,31}"


def check_audit_syntax(text: str, path: str = PATH) -> None:
    """Every line is a comment, blank, or a well-formed watch."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.startswith("#") and not re.fullmatch(_RULE, line):
            raise RenderError(f"line {number} is not a valid audit watch: {line!r}",
                              hint="check extra_paths in your audit layer", path=path)


HEADER = ("## Managed by dockharden: CIS Docker Benchmark 1.1 audit watches. Edits are shown by `dockharden plan`.\n"
          "## One watch per CIS path that exists on this host (1.1.3, 1.1.4, /etc/docker and daemon.json always); "
          'key "{key}".\n')


def rules_text(paths: list[str], key: str, permissions: str) -> str:
    """The rules file: a header, then one watch per path. Written in Python, not a template: these few lines
    are on every plan's path, where importing Jinja2 would cost more than rendering (docs/performance.md)."""
    return HEADER.format(key=key) + "".join(f"-w {path} -p {permissions} -k {key}\n" for path in paths)
