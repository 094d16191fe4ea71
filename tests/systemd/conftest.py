"""Fixtures for tests on real hosts booted with systemd as PID 1, one per Docker Engine line.

- ``engine``: parametrized over :data:`rootfs.ENGINES` (ids ``bookworm-20.10``, ``trixie-26.1``,
  ``sid-28.5``: Debian's docker.io; ``ce-29.7``: Engine 29 in Docker CE's layout, from the engine
  tarball in ``../shared/engines/`` or ``$DOCKHARDEN_ENGINE29_TARBALL``); a test that takes it (or
  any fixture below) runs once per engine.
- ``systemd_host``: a booted :class:`machine.SystemdHost` of that engine with dockharden installed
  from wheels (``dockharden`` on PATH, its defaults: root ``/``, no dockharden.toml).
- ``bare_systemd_host``: the same without dockharden.
- ``make_systemd_host``: factory for more machines in one test:
  ``make_systemd_host(engine=None, *, dockharden=True, name=None)``.
- ``make_netns``: factory for an "outside" network namespace (:class:`net.NetNamespace`).
- ``make_controller``: ``make_controller(*hosts)`` -> :class:`net.Controller` linked to each
  host, its SSH key authorized there and sshd answering.
- ``dockharden_wheels``: the wheel directories for the engine's guest Python.

Every test here is marked ``systemd`` and put in the pytest-xdist group of its engine (run with
``-n 5 --dist loadgroup``, as scripts/test-all does, the engines run side by side, each engine's tests in
order on one worker).
Select one engine with ``-k trixie-26.1``. A missing prerequisite (root, mmdebstrap,
systemd-nspawn, zstd, the engine tarball...) makes the fixtures FAIL, never skip: install them with
``scripts/install-test-deps.sh``. Root filesystems missing from the cache start building in the
background as soon as collection is done (see rootfs.py).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

import rootfs  # noqa: E402
from machine import SystemdHost  # noqa: E402
from net import Controller, NetNamespace, ssh_keypair  # noqa: E402

_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
#: Commands the harness runs on this machine, and the Debian package that brings each.
REQUIRED_COMMANDS = (
    ("mmdebstrap", "mmdebstrap"), ("systemd-nspawn", "systemd-container"), ("zstd", "zstd"),
    ("unshare", "util-linux"), ("nsenter", "util-linux"), ("mount", "mount"), ("tar", "tar"),
    ("ip", "iproute2"), ("ssh", "openssh-client"), ("ssh-keygen", "openssh-client"),
    ("busybox", "busybox-static"),
)
_BUILDERS: list = []


def missing_prerequisites() -> list[str]:
    """What keeps systemd hosts from booting here ([] when all is well)."""
    missing = []
    if os.geteuid() != 0:
        missing.append(f"must run as root (euid is {os.geteuid()})")
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    for tool, pkg in REQUIRED_COMMANDS:
        if shutil.which(tool, path=path) is None:
            missing.append(f"{tool} not found on PATH (package {pkg})")
    if not Path("/sys/fs/cgroup/unified/cgroup.procs").exists() and not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        missing.append("no cgroup2 hierarchy (/sys/fs/cgroup/unified or /sys/fs/cgroup)")
    return missing


def _engine_of(item) -> rootfs.Engine | None:
    callspec = getattr(item, "callspec", None)
    engine = callspec.params.get("engine") if callspec else None
    return engine if isinstance(engine, rootfs.Engine) else None


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the xdist_group marks into node ids
def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE not in Path(str(item.fspath)).resolve().parents:
            continue
        item.add_marker(pytest.mark.systemd)
        engine = _engine_of(item)
        if engine is not None:
            item.add_marker(pytest.mark.xdist_group(engine.id))


def pytest_collection_finish(session):
    """Start building the root filesystems the selected tests need, before the first test runs."""
    if session.config.option.collectonly:
        return  # counting the tests (docs/testing.md) boots and builds nothing
    if os.geteuid() != 0 or shutil.which("mmdebstrap") is None:
        return  # the fixtures fail with the reason
    wanted = {e for item in session.items if (e := _engine_of(item)) is not None}
    if wanted:
        _BUILDERS.extend(rootfs.build_in_background(sorted(wanted, key=lambda e: e.id)))


def pytest_unconfigure(config):
    # A builder may serve another xdist worker: let it finish, but not forever.
    for proc in _BUILDERS:
        try:
            proc.wait(timeout=900)
        except BaseException:
            os.killpg(proc.pid, 9)  # its own session: mmdebstrap and apt with it
            proc.wait()


def _require_prerequisites() -> None:
    missing = missing_prerequisites()
    if missing:
        pytest.fail("systemd host tests cannot run: " + "; ".join(missing)
                    + ". Install them with `sudo scripts/install-test-deps.sh` and run as root.", pytrace=False)


@pytest.fixture(params=[pytest.param(e, id=e.id) for e in rootfs.ENGINES])
def engine(request) -> rootfs.Engine:
    """The Docker Engine line under test (a :class:`rootfs.Engine`)."""
    return request.param


def _base(engine: rootfs.Engine) -> Path:
    try:
        return rootfs.ensure_base(engine)
    except rootfs.BuildError as exc:
        pytest.fail(f"root filesystem of {engine.id}: {exc}", pytrace=False)


@pytest.fixture
def dockharden_wheels(engine) -> list[Path]:
    import wheels

    _require_prerequisites()
    try:
        return wheels.wheelhouse(rootfs.guest_python_version(_base(engine)))
    except wheels.WheelError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def make_systemd_host(engine, tmp_path):
    """Factory: ``make_systemd_host(engine=None, *, dockharden=True, name=None)`` -> a booted
    SystemdHost (default: the test's engine) under tmp_path; all are closed after the test."""
    import wheels

    _require_prerequisites()
    hosts: list[SystemdHost] = []

    def make(which: rootfs.Engine | None = None, *, dockharden: bool = True, name: str | None = None) -> SystemdHost:
        which = which or engine
        _base(which)
        host = SystemdHost.launch(which, tmp_path / f"machine{len(hosts) + 1}", name=name)
        hosts.append(host)
        if dockharden:
            host.install_dockharden(wheels.wheelhouse(rootfs.guest_python_version(host.base)))
        return host

    yield make

    errors = []
    for host in reversed(hosts):
        try:
            host.close()
        except Exception as exc:  # close them all, then report
            errors.append(f"{host!r}: {exc}")
    if errors:
        pytest.fail("closing systemd hosts: " + "\n".join(errors), pytrace=False)


@pytest.fixture
def systemd_host(make_systemd_host) -> SystemdHost:
    """A booted machine of the test's engine: systemd PID 1, docker.service active, dockharden installed."""
    return make_systemd_host()


@pytest.fixture
def bare_systemd_host(make_systemd_host) -> SystemdHost:
    """A booted machine of the test's engine without dockharden (5 s less on these machines)."""
    return make_systemd_host(dockharden=False)


@pytest.fixture
def make_netns():
    """Factory: ``make_netns(name="outside")`` -> a NetNamespace; link it with ``ns.link(host)``."""
    spaces: list[NetNamespace] = []

    def make(name: str = "outside") -> NetNamespace:
        ns = NetNamespace(name)
        spaces.append(ns)
        return ns

    yield make
    for ns in reversed(spaces):
        ns.close()


@pytest.fixture
def make_controller(tmp_path):
    """Factory: ``make_controller(*hosts)`` -> a Controller linked to each running host, with an
    SSH key (tmp_path/ssh) authorized for root there and sshd answering on each."""
    controllers: list[Controller] = []

    def make(*hosts: SystemdHost) -> Controller:
        key = ssh_keypair(tmp_path / f"ssh{len(controllers) + 1}")
        controller = Controller(key)
        controllers.append(controller)
        for host in hosts:
            controller.add(host)
        for host in hosts:
            controller.wait_for_ssh(host)
        return controller

    yield make
    for controller in reversed(controllers):
        controller.close()
