"""Holder of a private test "host": run inside a fresh mount + network namespace.

Started by the test harness as::

    unshare --mount --net --fork --propagation private -- python3 nshost.py D

It lays out the private tree D, bind-mounts its parts over the real paths
(/etc/docker, /etc/dockharden, /etc/audit, /etc/ufw, /etc/default,
/etc/systemd, /var/lib/docker, /var/lib/dockharden, /var/log), mounts a tmpfs
on /run, brings ``lo`` up, prints ``ready`` and then holds the namespaces
open until it is killed.

If its standard input is a pipe (the harness passes one), end of file on it
means the test process died: the holder then kills what runs in its namespace
(dockerd, containerd, shims, containers) and exits, so an aborted test run
does not leave daemons behind. SIGTERM does the same.

Standalone on purpose: only the standard library, every command run with an
argument list (never a shell string).
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

# Directories copied from the machine into D first (ufw needs its files).
COPIED = ("etc/audit", "etc/ufw", "etc/default")
# Private directories bind-mounted over the real path of the same name.
BOUND = (
    "etc/docker",
    "etc/dockharden",
    "etc/audit",
    "etc/ufw",
    "etc/default",
    "etc/systemd",
    "var/lib/docker",
    "var/lib/dockharden",
    "var/log",
)
DOCKERD_PIDFILE = "/run/docker.pid"


def log(msg: str) -> None:
    print(f"nshost: {msg}", file=sys.stderr, flush=True)


def run(argv: list[str]) -> None:
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(
            f"nshost: {argv!r} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
        )


def mount_target(real: str) -> str:
    """The directory to mount on for ``real``, created if missing.

    A symlink is followed (the kernel would follow it anyway); a dangling one
    gets its target directory created. Mount points that are missing are
    created on the machine's file system (empty directories): a mount needs
    an existing directory to cover.
    """
    target = os.path.realpath(real)
    if os.path.lexists(target) and not os.path.isdir(target):
        raise SystemExit(f"nshost: {real} resolves to {target}, which is not a directory")
    os.makedirs(target, exist_ok=True)
    return target


def prepare_tree(d: Path) -> None:
    for rel in COPIED:
        src = Path("/") / rel
        dst = d / rel
        # Copy only into a directory not laid out yet: a test may have seeded it.
        if src.is_dir() and not dst.exists():
            shutil.copytree(src, dst, symlinks=True)
    for rel in BOUND:
        (d / rel).mkdir(parents=True, exist_ok=True)


def mount_all(d: Path) -> None:
    for rel in BOUND:
        target = mount_target("/" + rel)
        run(["mount", "--bind", str(d / rel), target])

    # A private /run: pidfiles, sockets, locks of this host only.
    run_dir = mount_target("/run")
    run(["mount", "-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "tmpfs", run_dir])
    os.makedirs("/run/lock", exist_ok=True)
    os.chmod("/run/lock", 0o1777)
    # On Debian /var/run is a symlink to /run; if it is not, cover it too.
    if os.path.realpath("/var/run") != run_dir:
        run(["mount", "--bind", run_dir, mount_target("/var/run")])

    run(["ip", "link", "set", "lo", "up"])


def _proc_stat(pid: int) -> tuple[str, int] | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = data[data.rfind(")") + 2 :].split()
    return rest[0], int(rest[1])  # state, ppid


def alive(pid: int) -> bool:
    st = _proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def namespace_processes() -> set[int]:
    """Pids in this network namespace (but us and our parent), plus all their descendants."""
    return namespace_members(os.readlink("/proc/self/ns/net"), {os.getpid(), os.getppid()})


def namespace_members(netns: str, skip: set[int]) -> set[int]:
    """Pids in network namespace `netns`, plus all their descendants (container processes have
    namespaces of their own but descend from a shim in it); `skip` and its pids are left out.
    Also used by harness.py, from outside the namespace."""
    parents: dict[int, int] = {}
    members: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        st = _proc_stat(pid)
        if st is None:
            continue
        parents[pid] = st[1]
        try:
            if os.readlink(f"/proc/{pid}/ns/net") == netns and pid not in skip:
                members.add(pid)
        except OSError:
            pass
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in members and pid not in members and pid not in skip:
                members.add(pid)
                changed = True
    return members


def _signal_and_wait(pids: set[int], grace: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            if alive(pid):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.05)


def _read_pid(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def kill_all(grace: float = 5.0) -> None:
    """Stop dockerd first (it stops its containerd), then whatever is left."""
    members = namespace_processes()  # a stale pidfile must not hit a stranger
    # Containers first and hard: their init may ignore SIGTERM, and dockerd
    # would wait 10 s for each while shutting down.
    own = os.readlink("/proc/self/ns/net")
    containers = set()
    for pid in members:
        try:
            if os.readlink(f"/proc/{pid}/ns/net") != own:
                containers.add(pid)
        except OSError:
            pass
    for pid in containers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    dockerd = _read_pid(DOCKERD_PIDFILE)
    if dockerd in members:
        _signal_and_wait({dockerd}, 10.0)
    _signal_and_wait(namespace_processes() - {os.getpid()}, grace)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: nshost.py HOST_DIR", file=sys.stderr)
        return 2
    d = Path(argv[1]).resolve()
    d.mkdir(parents=True, exist_ok=True)

    def cleanup_and_exit(*_: object) -> None:
        kill_all()
        os._exit(0)

    signal.signal(signal.SIGTERM, cleanup_and_exit)
    signal.signal(signal.SIGINT, cleanup_and_exit)

    prepare_tree(d)
    mount_all(d)

    sys.stdout.write("ready\n")
    sys.stdout.flush()

    if stat.S_ISFIFO(os.fstat(0).st_mode):
        # The harness keeps the write end open; EOF means it is gone.
        while True:
            try:
                if not os.read(0, 4096):
                    break
            except InterruptedError:
                continue
        log("stdin closed: stopping everything in this host")
        cleanup_and_exit()
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
