"""The running workload as apply and rollback measure it before and after they act: the running containers
and which of their published TCP ports answer a connect on the host.

Reads the machine: the daemon's API and TCP connects (each with a short timeout), nothing else. A connect
from the host itself goes through OUTPUT, not FORWARD: it says whether the container serves, never whether
the DOCKER-USER block lets outside clients in.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import NamedTuple

from dockharden.host.facts import read_containers
from dockharden.model import Container


class Workload(NamedTuple):
    """The running containers and the (host_ip, host_port) of their published TCP ports that answered."""

    containers: tuple[Container, ...]
    answering: frozenset[tuple[str, int]]


def read_workload(socket_path: str, timeout: float = 0.5) -> Workload | None:
    """The workload now; None when the daemon does not answer."""
    containers = read_containers(socket_path)
    if containers is None:
        return None
    targets = {(p.host_ip, p.host_port) for c in containers for p in c.ports if p.proto == "tcp"}
    return Workload(containers, frozenset(t for t in targets if answers(*t, timeout=timeout)))


def settled_workload(socket_path: str, before: Workload, wait: float = 10.0,
                     clock: Callable[[], float] = time.monotonic) -> Workload | None:
    """The workload after a run, read again for up to `wait` seconds while something that ran before is
    missing: containers with a restart policy, and their ports, come back a moment after the daemon does."""
    start = clock()
    while True:
        now = read_workload(socket_path)
        if now is not None and complete(before, now) or clock() - start >= wait:
            return now
        time.sleep(0.5)


def complete(before: Workload, now: Workload) -> bool:
    ids = {c.id for c in now.containers}
    return all(c.id in ids for c in before.containers) and before.answering <= now.answering


def answers(host_ip: str, port: int, timeout: float = 0.5) -> bool:
    """Whether a TCP connect to the port succeeds on the host: 127.0.0.1 (::1) for a port published on every
    address, else the address it is published on."""
    address = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host_ip, host_ip)
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False
