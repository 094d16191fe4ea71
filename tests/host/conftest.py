"""Fixtures for tests against real components in a private namespace host.

- ``ns_host``: a fresh :class:`harness.NamespaceHost` (no dockerd running).
- ``docker_host``: ``ns_host`` with dockerd started with no flags.
- ``make_ns_host``: factory for more hosts in one test: ``make_ns_host()``.

Missing root, dockerd, docker, unshare or nsenter makes these fixtures FAIL,
never skip: in CI a missing component is a failure. Install them with
``scripts/install-test-deps.sh``. Every test under tests/host is marked
``host`` (select or deselect with ``-m host`` / ``-m 'not host'``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from harness import NamespaceHost, missing_prerequisites  # noqa: E402


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the xdist_group marks into node ids
def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.host)
            # Under pytest-xdist (scripts/test-all): these run in order on one worker, as without it.
            item.add_marker(pytest.mark.xdist_group("namespace-hosts"))


def _require_prerequisites() -> None:
    missing = missing_prerequisites()
    if missing:
        pytest.fail(
            "namespace host tests cannot run: " + "; ".join(missing)
            + ". Install them with `sudo scripts/install-test-deps.sh` and run as root.",
            pytrace=False,
        )


@pytest.fixture
def make_ns_host(tmp_path):
    """Factory: ``make_ns_host(name=None)`` -> a new NamespaceHost under
    tmp_path (D = tmp_path/NAME); all are closed at the end of the test."""
    _require_prerequisites()
    hosts: list[NamespaceHost] = []

    def make(name: str | None = None) -> NamespaceHost:
        name = name or ("host" if not hosts else f"host{len(hosts) + 1}")
        host = NamespaceHost.launch(tmp_path / name)
        hosts.append(host)
        return host

    yield make

    errors = []
    for host in reversed(hosts):
        try:
            host.close()
        except Exception as exc:  # close them all, then report
            errors.append(f"{host!r}: {exc}")
    if errors:
        pytest.fail("closing namespace hosts: " + "\n".join(errors), pytrace=False)


@pytest.fixture
def ns_host(make_ns_host) -> NamespaceHost:
    """A private host: own mounts (D bind-mounted over the standard paths,
    tmpfs /run) and own network namespace; dockerd not started."""
    return make_ns_host()


@pytest.fixture
def docker_host(ns_host) -> NamespaceHost:
    """``ns_host`` with dockerd running with no flags (standard paths)."""
    ns_host.start_dockerd()
    return ns_host


@pytest.fixture
def managed(docker_host):
    """docker_host with an operator's daemon.json, dockerd-ctl as the service manager, its own audit key."""
    from managed_host import ORIGINAL, Managed

    (docker_host.dir / "etc/docker/daemon.json").write_bytes(ORIGINAL)
    docker_host.restart_dockerd()
    m = Managed(docker_host)
    yield m
    m.remove_watches()
