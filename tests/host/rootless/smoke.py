#!/usr/bin/env python3
"""Self-check of RootlessDaemon on this machine, with timings (run as root).

    python3 tests/host/rootless/smoke.py [USER]     (default user: dhrootless)

Checks, in a fresh home/runtime dir under /tmp (removed at the end):
prerequisites; start; ``name=rootless`` in SecurityOptions; daemon.json of
the user is read (debug, labels); SIGHUP reload changes them; restart; a
container from a busybox image (if /bin/busybox exists) runs; stop leaves no
process of the daemon (rootlesskit's descendants and its user namespace).
Not a pytest module on purpose (not collected). Exit 0 when all passed.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rootless_daemon import RootlessDaemon, _alive, _descendants, _in_userns, missing_prerequisites  # noqa: E402


def timed(fn, *a, **kw) -> float:
    t = time.monotonic()
    fn(*a, **kw)
    return time.monotonic() - t


def busybox_tar() -> bytes | None:
    if not os.path.exists("/bin/busybox"):
        return None
    root = tempfile.mkdtemp()
    try:
        for d in ("bin", "proc", "sys", "dev", "etc", "tmp"):
            os.makedirs(f"{root}/{d}")
        shutil.copy("/bin/busybox", f"{root}/bin/busybox")
        for a in ("sh", "cat", "grep", "id", "sleep"):
            os.symlink("busybox", f"{root}/bin/{a}")
        return subprocess.run(["tar", "-C", root, "-c", "."], capture_output=True, check=True).stdout
    finally:
        shutil.rmtree(root)


def main() -> int:
    user = sys.argv[1] if len(sys.argv) > 1 else "dhrootless"
    missing = missing_prerequisites(user)
    if missing:
        print("MISSING:", *missing, sep="\n  ")
        return 1
    base = tempfile.mkdtemp(prefix="dh-rootless-smoke.", dir="/tmp")
    os.chmod(base, 0o755)  # the user must traverse it
    d = RootlessDaemon(user, f"{base}/home", f"{base}/run")
    ok = True

    def check(cond: bool, what: str) -> None:
        nonlocal ok
        ok &= bool(cond)
        print(("ok   " if cond else "FAIL ") + what)

    try:
        d.write_config({"debug": True, "labels": ["dh.smoke=1"]})
        t_first = timed(d.start)
        info = d.info()
        check("name=rootless" in info["SecurityOptions"], f"SecurityOptions {info['SecurityOptions']}")
        check(info["Debug"] is True and info["Labels"] == ["dh.smoke=1"],
              f"daemon.json read: Debug={info['Debug']} Labels={info['Labels']}")
        print(f"     driver={info['Driver']} cgroupdriver={info['CgroupDriver']} "
              f"root={info['DockerRootDir']} version={info['ServerVersion']}")

        reloads = []
        for n in range(5):
            d.write_config({"debug": n % 2 == 1, "labels": [f"dh.smoke={n + 2}"]})
            reloads.append(timed(d.reload))
            info = d.info()
            check(info["Labels"] == [f"dh.smoke={n + 2}"] and info["Debug"] is (n % 2 == 1),
                  f"SIGHUP reload -> Debug={info['Debug']} Labels={info['Labels']}")

        restarts = [timed(d.restart) for _ in range(3)]
        check(d.running(), f"running after restart (dockerd pid {d.pid()})")

        tar = busybox_tar()
        if tar is not None:
            docker = ["docker", "-H", d.docker_host]
            if shutil.which("docker"):
                subprocess.run(docker + ["import", "-", "dh-busybox"], input=tar,
                               capture_output=True, check=True)
                r = subprocess.run(docker + ["run", "--rm", "dh-busybox", "sh", "-c",
                                             "cat /proc/self/uid_map"], capture_output=True, text=True)
                check(r.returncode == 0, f"container runs; uid_map: {r.stdout.split()}")
                subprocess.run(docker + ["run", "-d", "dh-busybox", "sleep", "1000"],
                               capture_output=True, check=True)

        state = json.loads(d.state_file.read_text())
        parent, ns = state["pid"], state["userns"]
        before = _descendants(parent) | _in_userns(ns) | {parent}
        t_stop = timed(d.stop, container_stop_timeout=0)
        left = {p for p in before | _in_userns(ns) if _alive(p)}
        check(not left, f"nothing left after stop (was {len(before)} processes): {sorted(left)}")
        starts, stops = [], []
        for _ in range(3):
            starts.append(timed(d.start))
            stops.append(timed(d.stop))
        print(f"\ntimings: first start {t_first:.2f}s; start {statistics.median(starts):.2f}s "
              f"(median of 3); restart {statistics.median(restarts):.2f}s (median of 3); "
              f"reload {statistics.median(reloads) * 1000:.0f}ms (median of 5, SIGHUP until "
              f"'Reloaded configuration' logged and .Debug applied); stop with a container {t_stop:.2f}s; "
              f"idle stop {statistics.median(stops):.2f}s")
    finally:
        try:
            d.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)
    print("ALL OK" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
