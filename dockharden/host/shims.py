"""The containerd shims of moby's containers, read from /proc, and the names an old data root keeps.

Reads only. Each running container's processes descend from its shim,
`containerd-shim-runc-v2 -namespace moby -id <id> -address <containerd socket>`; a shim whose id the running
daemon does not list keeps a container that no daemon manages (core/store_switch.py judges). Only shims
in the daemon's own mount namespace count: another daemon's (a test host, docker inside a container, a
rootless daemon) is not this daemon's business.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from pathlib import Path

from dockharden.errors import HostFileError
from dockharden.host.fs import HostFS

PROC = "/proc"
DEFAULT_DATA_ROOT = "/var/lib/docker"


def read_shims(namespace: str = "moby", *, same_mounts_as: int | None = None, proc: str = PROC) -> dict[str, int]:
    """container id -> shim pid, for every containerd shim of `namespace`; with `same_mounts_as`, only the
    shims in that process's mount namespace."""
    found: dict[str, int] = {}
    for entry in _pids(proc):
        ident = shim_container(_cmdline(proc, entry), namespace)
        if ident and (same_mounts_as is None or _mount_ns(proc, entry) == _mount_ns(proc, same_mounts_as)):
            found.setdefault(ident, entry)
    return found


def shim_container(argv: list[str], namespace: str = "moby") -> str | None:
    """The container id a shim's command line serves in `namespace` (runc v2: `-id`; the v1 shim: the last part
    of `-workdir`), None for any other process."""
    if not argv or not posixpath.basename(argv[0]).startswith("containerd-shim"):
        return None
    args = dict(zip(argv[1:], argv[2:], strict=False))
    if args.get("-namespace") != namespace:
        return None
    ident = args.get("-id") or posixpath.basename(args.get("-workdir", ""))
    return ident if re.fullmatch(r"[0-9a-f]{12,64}", ident or "") else None


def _pids(proc: str) -> list[int]:
    try:
        return sorted(int(e) for e in os.listdir(proc) if e.isdigit())
    except OSError:
        return []


def _cmdline(proc: str, pid: int) -> list[str]:
    try:
        raw = Path(proc, str(pid), "cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _mount_ns(proc: str, pid: int) -> str | None:
    try:
        return os.readlink(f"{proc}/{pid}/ns/mnt")
    except OSError:
        return None


def known_names(root: str, data_root: str, ids: list[str]) -> dict[str, str]:
    """id -> name, from `containers/<id>/config.v2.json` in the data root in use, its base when it is a
    remapped one (<base>/<uid>.<gid>), the default /var/lib/docker, and every remapped root beside those:
    where a switch left them."""
    fs = HostFS(root)
    base = posixpath.dirname(data_root) if re.fullmatch(r"\d+\.\d+", posixpath.basename(data_root)) else data_root
    roots = [data_root]
    for where in dict.fromkeys((base, DEFAULT_DATA_ROOT)):  # the default one: a data-root moved away from it
        roots += [where] + [p for p in fs.list(where) if re.fullmatch(r"\d+\.\d+", posixpath.basename(p))]
    names: dict[str, str] = {}
    for ident in ids:
        for where in dict.fromkeys(roots):
            name = _config_name(fs, f"{where}/containers/{ident}/config.v2.json")
            if name:
                names[ident] = f"{name} (in {where})"
                break
    return names


def _config_name(fs: HostFS, path: str) -> str | None:
    try:
        doc = json.loads(fs.read_text(path))
    except (HostFileError, OSError, ValueError):
        return None
    name = doc.get("Name") if isinstance(doc, dict) else None
    return name.lstrip("/") if isinstance(name, str) and name else None
