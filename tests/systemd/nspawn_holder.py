"""Holder of one booted systemd host: mounts its root, runs systemd-nspawn, cleans up after it.

Started by tests/systemd/machine.py as::

    unshare --mount --propagation private -- python3 nspawn_holder.py SPEC.json

In its private mount namespace it mounts an overlayfs (lower: the read-only base root filesystem;
upper and work: the machine's own directories, kept across boots) and starts ``systemd-nspawn -b``
on it, in a cgroup of its own (``dockharden-tests/NAME`` in each cgroup hierarchy) so that machines
running at the same time never share nspawn's ``payload``/``supervisor`` cgroups.

It prints ``nspawn PID`` once nspawn runs and ``exited RC`` when it is gone. nspawn ends when the
machine powers off. When the holder's standard input (a pipe from the harness) reaches end of file,
or on SIGTERM, it kills the whole machine at once (``cgroup.kill``): the test is over, or the test
process died. Either way it then removes its cgroups; its mounts go with its mount namespace.

Standalone on purpose: only the standard library, every command an argument list.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

CGROUP_GROUP = "dockharden-tests"


def log(msg: str) -> None:
    print(f"nspawn_holder: {msg}", file=sys.stderr, flush=True)


def cgroup_dirs(name: str) -> list[Path]:
    """The machine's cgroup in each hierarchy nspawn uses: the unified one first."""
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():  # pure cgroup2
        return [root / CGROUP_GROUP / name]
    dirs = [root / "unified" / CGROUP_GROUP / name]
    if (root / "systemd" / "cgroup.procs").exists():  # hybrid: nspawn also uses name=systemd
        dirs.append(root / "systemd" / CGROUP_GROUP / name)
    return dirs


def enter_cgroups(dirs: list[Path]) -> None:
    """In the forked child, before exec: nspawn and everything under it lives in dirs."""
    for d in dirs:
        (d / "cgroup.procs").write_text("0\n")


def populated(d: Path) -> bool:
    events = d / "cgroup.events"
    if events.exists():
        return "populated 1" in events.read_text()
    return any(p.read_text().strip() for p in d.rglob("cgroup.procs"))


def kill_cgroups(dirs: list[Path]) -> None:
    unified = dirs[0]
    if (unified / "cgroup.kill").exists():
        unified.joinpath("cgroup.kill").write_text("1\n")
        return
    for d in dirs:  # kernels before 5.14
        for procs in d.rglob("cgroup.procs"):
            for pid in procs.read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass


def remove_cgroups(dirs: list[Path], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    for d in dirs:
        while d.exists():
            try:
                for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                    sub.rmdir()
                d.rmdir()
            except OSError as exc:
                if time.monotonic() > deadline:
                    log(f"cannot remove cgroup {d}: {exc}")
                    break
                time.sleep(0.05)


def nspawn_argv(spec: dict) -> list[str]:
    argv = ["systemd-nspawn", "-D", spec["merged"], "-b", "--register=no", "--keep-unit",
            "--private-network", "--capability=all", f"--machine={spec['name']}",
            f"--uuid={spec['uuid']}", "--console=read-only", "--link-journal=no"]
    argv += [f"--bind={outside}:{inside}" for outside, inside in spec["binds"]]
    return argv


def mount_root(spec: dict) -> None:
    for key in ("base", "upper", "work", "merged"):
        if any(c in spec[key] for c in ",:"):
            raise SystemExit(f"nspawn_holder: overlayfs cannot take {spec[key]!r} (',' or ':')")
    opts = f"lowerdir={spec['base']},upperdir={spec['upper']},workdir={spec['work']}"
    proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, spec["merged"]],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit(f"nspawn_holder: mounting the overlay failed: {proc.stderr.strip()}")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: nspawn_holder.py SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[1]).read_text())
    dirs = cgroup_dirs(spec["name"])
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    mount_root(spec)
    env = dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1", SYSTEMD_SECCOMP="0")
    with open(spec["console_log"], "ab") as console:
        nspawn = subprocess.Popen(nspawn_argv(spec), stdin=subprocess.DEVNULL, stdout=console,
                                  stderr=subprocess.STDOUT, env=env, preexec_fn=lambda: enter_cgroups(dirs))
    print(f"nspawn {nspawn.pid}", flush=True)

    killed = False

    def kill_machine(*_: object) -> None:
        nonlocal killed
        if not killed:
            killed = True
            kill_cgroups(dirs)

    signal.signal(signal.SIGTERM, kill_machine)
    stdin_open = True
    while nspawn.poll() is None:
        if not stdin_open:
            time.sleep(0.1)
            continue
        ready, _, _ = select.select([0], [], [], 0.1)
        if ready and not os.read(0, 4096):
            stdin_open = False
            kill_machine()
    # nspawn is gone; anything it left (it should leave nothing) goes too.
    if any(populated(d) for d in dirs if d.exists()):
        kill_cgroups(dirs)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(populated(d) for d in dirs if d.exists()):
            time.sleep(0.05)
    remove_cgroups(dirs)
    subprocess.run(["umount", "-l", spec["merged"]], capture_output=True, stdin=subprocess.DEVNULL)
    print(f"exited {nspawn.returncode}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
