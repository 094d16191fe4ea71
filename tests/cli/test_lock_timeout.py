"""`--lock-timeout` on apply and rollback (terraform's -lock-timeout): wait for another run's lock up to a
duration instead of failing at once. The waits are on marks (the waiting process has the lock file open),
never on wall-clock windows."""

import fcntl
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCK = "var/lib/dockharden/lock"


def argv(*args):
    return [sys.executable, "-m", "dockharden", *args]


def env():
    return dict(os.environ, PYTHONPATH=str(REPO))


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    (root / "etc/docker").mkdir(parents=True)
    (root / "var/lib/dockharden").mkdir(parents=True, mode=0o700)
    return root


@pytest.fixture
def held(root):
    """Another run's lock, held by this test until it closes the descriptor."""
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.pwrite(fd, b"pid 4242, check since 2026-12-06T21:00:00+00:00\n", 0)
    yield fd
    try:
        os.close(fd)
    except OSError:
        pass


def waits_on_the_lock(proc, root) -> bool:
    """The mark: the process has the lock file open (it tries it every 0.1 s from then on)."""
    target = str((root / LOCK).resolve())
    try:
        return any(os.readlink(f"/proc/{proc.pid}/fd/{fd}") == target for fd in os.listdir(f"/proc/{proc.pid}/fd"))
    except OSError:
        return False


def start(*args):
    return subprocess.Popen(argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                            stdin=subprocess.DEVNULL)


def wait_for_mark(proc, root):
    while not waits_on_the_lock(proc, root):
        assert proc.poll() is None, proc.communicate()


def test_without_a_lock_timeout_apply_fails_at_once_naming_the_holder_and_the_option(root, held):
    done = subprocess.run(argv("apply", "--root", str(root), "--profile", "baseline", "--yes"), capture_output=True,
                          text=True, env=env(), timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "another dockharden run holds the lock (pid 4242, check since" in done.stderr, done.stderr
    assert "--lock-timeout" in done.stderr and not (root / "etc/docker/daemon.json").exists()


def test_apply_with_a_lock_timeout_waits_for_the_holder_then_applies(root, held):
    proc = start("apply", "--root", str(root), "--profile", "baseline", "--yes", "--lock-timeout", "5m", "--json")
    wait_for_mark(proc, root)
    assert proc.poll() is None and not (root / "etc/docker/daemon.json").exists()  # still waiting
    os.close(held)  # the scheduled run ends
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out)["result"] == "applied" and (root / "etc/docker/daemon.json").exists()


def test_rollback_with_a_lock_timeout_waits_for_the_holder_too(root):
    applied = subprocess.run(argv("apply", "--root", str(root), "--profile", "baseline", "--yes"), capture_output=True,
                             text=True, env=env(), timeout=120, stdin=subprocess.DEVNULL)
    assert applied.returncode == 0, applied.stderr
    fd = os.open(root / LOCK, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    proc = start("rollback", "--root", str(root), "--yes", "--lock-timeout", "1m")
    wait_for_mark(proc, root)
    os.close(fd)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert not (root / "etc/docker/daemon.json").exists()


def test_a_lock_still_held_when_the_timeout_ends_is_the_lock_error_saying_how_long_it_waited(root, held):
    done = subprocess.run(argv("apply", "--root", str(root), "--profile", "baseline", "--yes", "--lock-timeout", "300ms"),
                          capture_output=True, text=True, env=env(), timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1 and "holds the lock" in done.stderr and "after waiting 0.3 s" in done.stderr, \
        done.stderr
    assert not (root / "etc/docker/daemon.json").exists()


def test_a_signal_while_waiting_for_the_lock_ends_the_wait_with_nothing_changed(root, held):
    proc = start("apply", "--root", str(root), "--profile", "baseline", "--yes", "--lock-timeout", "10m")
    wait_for_mark(proc, root)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err == "dockharden: interrupted by SIGTERM while waiting for another run's lock; nothing was changed\n", err
    assert not (root / "etc/docker/daemon.json").exists()


@pytest.mark.parametrize("value", ["5x", "-1s", "1e3", "2d", "25h", "1h\n", ""])
def test_a_bad_lock_timeout_is_one_paragraph_and_exit_1(root, value):
    done = subprocess.run(argv("apply", "--root", str(root), "--profile", "baseline", "--yes", "--lock-timeout", value),
                          capture_output=True, text=True, env=env(), timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1 and "--lock-timeout" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (root / "etc/docker/daemon.json").exists()


def test_lock_wait_reads_go_durations_and_plain_seconds():
    from dockharden.core.values import lock_wait

    assert [lock_wait(t) for t in ("0", "0s", "30", "30s", "5m", "1m30s", "500ms", "1h")] == \
        [0, 0, 30, 30, 300, 90, 0.5, 3600]
