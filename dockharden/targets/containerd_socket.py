"""Which containerd socket dockerd really uses (CIS 1.1.8, 3.23 and 3.24 follow it). Pure.

dockerd talks to the containerd its `--containerd` flag or daemon.json's `containerd` names; without
either, to the system containerd when /run/containerd/containerd.sock exists, otherwise it starts its
own and serves it at /run/docker/containerd/containerd.sock (docker.io without containerd.service, a
dockerd started by hand).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SYSTEM = "/run/containerd/containerd.sock"
MANAGED = "/run/docker/containerd/containerd.sock"
CANDIDATES = (SYSTEM, MANAGED)


def _flag(argv: Iterable[str]) -> str | None:
    args = list(argv)
    for index, arg in enumerate(args):
        if arg.startswith("--containerd="):
            return arg.split("=", 1)[1]
        if arg == "--containerd" and index + 1 < len(args):
            return args[index + 1]
    return None


def containerd_socket(argv: Iterable[str], config: dict[str, Any], existing: Iterable[str]) -> tuple[str, str]:
    """(socket path, how it was found) from the running dockerd's argv, daemon.json and which paths exist."""
    named = _flag(argv)
    if named:
        return _path(named), "dockerd flag --containerd"
    if isinstance(config.get("containerd"), str) and config["containerd"]:
        return _path(config["containerd"]), "daemon.json containerd"
    present = set(existing)
    if SYSTEM not in present and MANAGED in present:
        return MANAGED, "dockerd's own containerd"
    return SYSTEM, "the system containerd"


def _path(address: str) -> str:
    return address[len("unix://"):] if address.startswith("unix://") else address
