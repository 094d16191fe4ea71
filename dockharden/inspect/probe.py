"""Measure what the daemon really enforces, from inside throwaway containers of a LOCAL image.

Touches the machine: runs docker (through the Runner; the image tarball through `feed_bytes`), reads
the busybox binary, and traps SIGINT/SIGTERM while containers exist so they are always removed. Never
pulls. `parse_probe_output`, `icc_verdict`, `maps_root_elsewhere`, `is_static_elf` and
`build_rootfs_tar` are pure.
"""

from __future__ import annotations

import io
import secrets
import signal
import struct
import subprocess
import tarfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockharden.errors import DockhardenError
from dockharden.host.runner import Result, Runner

PROBE_IMAGE = "dockharden-probe:busybox"
LABEL = "dockharden.probe=1"
RUN_LABEL = "dockharden.probe.run"
APPLETS = ("sh", "cat", "grep", "id", "sleep", "ping", "nc", "ip", "ls", "head")
ROOTFS_DIRS = ("bin", "proc", "sys", "dev", "etc", "tmp")
UNLIMITED = -1  # a ulimit of "unlimited", as resource.RLIM_INFINITY spells it
NO_IMAGE = "no probe image: name one with --image, or install busybox-static"

# Runs in container A. $1 is container B's address ("" when B has none): passed as an argument,
# never pasted into the script. Every line is "key: value" so parsing needs no shell knowledge.
SCRIPT = r"""grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status
while read -r inside outside count; do echo "uid_map: $inside $outside $count"; done < /proc/self/uid_map
echo "nofile: $(ulimit -Sn) $(ulimit -Hn)"
echo "nproc: $(ulimit -Su) $(ulimit -Hu)"
if [ -n "$1" ]; then
  out=$(ping -c 1 -W 2 "$1" 2>&1); rc=$?
  echo "$out" | while read -r line; do echo "ping: $line"; done
  echo "ping_rc: $rc"
fi
"""


class ProbeInterrupted(DockhardenError):
    """SIGINT or SIGTERM arrived during the probe; its containers were removed before this was raised."""

    def __init__(self, signum: int) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"the probe was interrupted by {name}; its containers were removed")
        self.signum = signum
        self.exit_code = 128 + signum


@dataclass(frozen=True, kw_only=True)
class ProbeResult:
    image: str
    no_new_privs: bool | None = None
    seccomp_mode: int | None = None
    uid_map: list[tuple[int, int, int]] = field(default_factory=list)
    root_remapped: bool | None = None
    nofile: tuple[int, int] | None = None
    nproc: tuple[int, int] | None = None
    icc_blocked: bool | None = None
    errors: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------ pure parts
def parse_probe_output(text: str) -> dict[str, Any]:
    """The measurement script's output -> no_new_privs, seccomp_mode, uid_map, nofile, nproc,
    ping_rc, ping_output (None / [] / "" for what the output lacks)."""
    found: dict[str, Any] = {"no_new_privs": None, "seccomp_mode": None, "uid_map": [], "nofile": None,
                             "nproc": None, "ping_rc": None, "ping_output": ""}
    ping: list[str] = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        value = value.strip()
        if not sep:
            continue
        if key == "NoNewPrivs" and value in ("0", "1"):
            found["no_new_privs"] = value == "1"
        elif key == "Seccomp" and value.isdigit():
            found["seccomp_mode"] = int(value)
        elif key == "uid_map" and _ints(value.split(), 3):
            found["uid_map"].append(tuple(int(v) for v in value.split()))
        elif key in ("nofile", "nproc"):
            found[key] = _limit_pair(value)
        elif key == "ping":
            ping.append(value)
        elif key == "ping_rc" and value.isdigit():
            found["ping_rc"] = int(value)
    found["ping_output"] = "\n".join(ping).strip()
    return found


MEASURES = ("no_new_privs", "seccomp_mode", "uid_map", "root_remapped", "nofile", "nproc", "icc_blocked")


def not_run_reason(probe: dict[str, Any]) -> str | None:
    """Why the probe saw nothing (its errors, joined), or None when it measured anything at all."""
    if any(probe.get(key) not in (None, [], ()) for key in MEASURES):
        return None
    return "; ".join(probe.get("errors") or ()) or "no probe container reported anything"


def describe(probe: dict[str, Any]) -> list[str]:
    """What the probe saw, one `name: value` line each, in words: nothing of Python's own spelling."""
    def plain(key: str, value: Any) -> str:
        if value is None or value == []:
            return "not seen"
        if key == "uid_map":
            return ", ".join(" ".join(map(str, entry)) for entry in value) + " (inside outside count)"
        if key in ("nofile", "nproc"):
            return "/".join("unlimited" if v == UNLIMITED else str(v) for v in value) + " (soft/hard)"
        return "yes" if value is True else "no" if value is False else str(value)
    lines = [f"image: {probe.get('image', '')}"] + [f"{key}: {plain(key, probe.get(key))}" for key in MEASURES]
    return lines + [f"error: {error}" for error in probe.get("errors") or ()]


def _ints(words: list[str], n: int) -> bool:
    return len(words) == n and all(w.isdigit() for w in words)


def _limit_pair(value: str) -> tuple[int, int] | None:
    words = value.split()
    if len(words) != 2:
        return None
    limits = [UNLIMITED if w == "unlimited" else int(w) if w.isdigit() else None for w in words]
    return None if None in limits else (limits[0], limits[1])


def maps_root_elsewhere(uid_map: Sequence[tuple[int, int, int]]) -> bool | None:
    """True when container uid 0 is not host uid 0 (an unmapped root is the overflow uid)."""
    if not uid_map:
        return None
    for inside, outside, count in uid_map:
        if inside <= 0 < inside + count:
            return outside - inside != 0
    return True


def icc_verdict(ping_rc: int | None, output: str) -> tuple[bool | None, str | None]:
    """(icc_blocked, error) from container A's ping of container B."""
    if ping_rc is None:
        return None, "icc: container A did not report a ping result"
    if ping_rc == 0:
        return False, None
    lowered = output.lower()
    if "permission denied" in lowered or "operation not permitted" in lowered:
        return None, f"icc: ping is not allowed in the probe container (NET_RAW dropped?): {output}"
    if "100% packet loss" in lowered:
        return True, None
    return None, f"icc: ping failed for another reason (exit {ping_rc}): {output or 'no output'}"


def is_static_elf(data: bytes) -> bool:
    """True for an ELF executable without a PT_INTERP program header (needs no dynamic loader)."""
    if len(data) < 0x40 or data[:4] != b"\x7fELF":
        return False
    end = "<" if data[5] == 1 else ">"
    # e_phoff, then e_phentsize and e_phnum: offsets differ between ELF64 and ELF32 headers.
    offset_format, offset_at, sizes_at = (end + "Q", 0x20, 0x36) if data[4] == 2 else (end + "I", 0x1C, 0x2A)
    (phoff,) = struct.unpack_from(offset_format, data, offset_at)
    phentsize, phnum = struct.unpack_from(end + "HH", data, sizes_at)
    if phnum == 0 or phoff + phnum * phentsize > len(data):
        return False
    return all(struct.unpack_from(end + "I", data, phoff + i * phentsize)[0] != 3 for i in range(phnum))


def build_rootfs_tar(busybox: bytes) -> bytes:
    """The probe image's whole filesystem as a tar: /bin/busybox, its applet links, empty dirs; root-owned."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in ROOTFS_DIRS:
            tar.addfile(_entry(name, tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755))
        tar.addfile(_entry("bin/busybox", tarfile.REGTYPE, 0o755, size=len(busybox)), io.BytesIO(busybox))
        for applet in APPLETS:
            tar.addfile(_entry(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox"))
    return buf.getvalue()


def _entry(name: str, kind: bytes, mode: int, *, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


# ------------------------------------------------------------------------------------ machine
def feed_bytes(argv: Sequence[str], data: bytes, *, timeout: float) -> Result:
    """Run argv with binary stdin (the Runner speaks text); same failure conventions as Runner.run."""
    argv = tuple(str(a) for a in argv)
    try:
        done = subprocess.run(argv, input=data, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return Result(argv, 127, "", f"{argv[0]}: command not found")
    except subprocess.TimeoutExpired:
        return Result(argv, 124, "", f"{argv[0]}: timed out after {timeout} s")
    return Result(argv, done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))


class _Budget:
    """The probe's whole time allowance; each docker call gets the rest, capped, never below 1 s."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self, cap: float) -> float:
        return max(1.0, min(cap, self.end - time.monotonic()))


def _why(done: Result) -> str:
    return (done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}")[-400:]


def _image_present(runner: Runner, docker: list[str], image: str, budget: _Budget) -> tuple[bool, str | None]:
    done = runner.run([*docker, "image", "inspect", "--format", "{{.Id}}", image], timeout=budget.left(20))
    if done.ok:
        return True, None
    if "no such" in done.stderr.lower():
        return False, None
    return False, f"docker image inspect {image} failed: {_why(done)}"


# busybox-static is about 2 MiB; 32 MiB leaves room for any build and keeps a wrong file out of memory.
BUSYBOX_LIMIT = 32 << 20


def _static_busybox(path: str) -> bytes | None:
    from dockharden.host.inputs import read_regular_file

    try:
        data = read_regular_file(Path(path), limit=BUSYBOX_LIMIT)
    except DockhardenError:  # not there, not a regular file, too large: no image to build, as NO_IMAGE says
        return None
    return data if is_static_elf(data) else None


def ensure_image(runner: Runner, docker: list[str], image: str | None, build_from: str,
                 budget: _Budget) -> tuple[str | None, str | None]:
    """(image to run, None) or (None, why there is none). Imports the busybox image once per daemon."""
    present, error = _image_present(runner, docker, image or PROBE_IMAGE, budget)
    if present or error:
        return (image or PROBE_IMAGE, None) if present else (None, error)
    if image:
        return None, (f"image {image} is not on this daemon and dockharden never pulls: "
                      "load it (docker load / docker import) or omit --image")
    busybox = _static_busybox(build_from)
    if busybox is None:
        return None, NO_IMAGE
    argv = [*docker, "import", "--change", 'CMD ["/bin/sh"]', "-", PROBE_IMAGE]
    done = feed_bytes(argv, build_rootfs_tar(busybox), timeout=budget.left(60))
    return (PROBE_IMAGE, None) if done.ok else (None, f"importing {PROBE_IMAGE} failed: {_why(done)}")


def _run_args(docker: list[str], name: str, run_id: str, *flags: str) -> list[str]:
    return [*docker, "run", *flags, "--rm", "--label", LABEL, "--label", f"{RUN_LABEL}={run_id}", "--name", name]


def _start_target(runner: Runner, docker: list[str], image: str, run_id: str, names: list[str],
                  budget: _Budget) -> tuple[str, str | None]:
    """Start container B; (its address on the default bridge or "", error)."""
    name = f"dockharden-probe-b-{run_id}"
    names.append(name)  # before starting: an interrupted start may still create it
    done = runner.run([*_run_args(docker, name, run_id, "-d"), image, "sleep", "60"], timeout=budget.left(30))
    if not done.ok:
        return "", f"icc: could not start container B: {_why(done)}"
    done = runner.run([*docker, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name], timeout=budget.left(15))
    address = done.stdout.strip() if done.ok else ""
    return address, None if address else "icc: container B has no address on the default bridge"


def _measure(runner: Runner, docker: list[str], image: str, run_id: str, names: list[str],
             budget: _Budget) -> ProbeResult:
    address, icc_error = _start_target(runner, docker, image, run_id, names, budget)
    name = f"dockharden-probe-{run_id}"
    names.append(name)
    done = runner.run([*_run_args(docker, name, run_id), image, "sh", "-c", SCRIPT, "sh", address],
                      timeout=budget.left(45))
    found = parse_probe_output(done.stdout)
    if done.ok:
        errors = [f"{key}: not in the probe container's output" for key in
                  ("no_new_privs", "seccomp_mode", "uid_map", "nofile", "nproc") if found[key] in (None, [])]
    else:  # one reason is enough: nothing was measured
        errors = [f"the probe container failed: {_why(done)}"]
    icc_blocked = None
    if icc_error is None:
        icc_blocked, icc_error = icc_verdict(found["ping_rc"], found["ping_output"])
    errors += [icc_error] if icc_error else []
    return ProbeResult(image=image, no_new_privs=found["no_new_privs"], seccomp_mode=found["seccomp_mode"],
                       uid_map=found["uid_map"], root_remapped=maps_root_elsewhere(found["uid_map"]),
                       nofile=found["nofile"], nproc=found["nproc"], icc_blocked=icc_blocked, errors=tuple(errors))


def _remove_containers(runner: Runner, docker: list[str], run_id: str, names: list[str]) -> None:
    """Remove this run's containers by name, then any its label finds (a create racing an interrupt)."""
    if names:
        runner.run([*docker, "rm", "-f", *names], timeout=20)
    listed = runner.run([*docker, "ps", "-aq", "--filter", f"label={RUN_LABEL}={run_id}"], timeout=15)
    leftovers = listed.stdout.split() if listed.ok else []
    if leftovers:
        runner.run([*docker, "rm", "-f", *leftovers], timeout=20)


class _SignalTrap:
    """SIGINT/SIGTERM raise ProbeInterrupted while armed; while held (cleanup) they wait, and are
    delivered to the caller's own handlers once those are restored."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.active = threading.current_thread() is threading.main_thread()
        self.previous: dict[int, Any] = {}
        self.pending: list[int] = []

    def arm(self) -> None:
        if self.active:
            self.previous = {s: signal.signal(s, self._raise) for s in self.SIGNALS}

    def hold(self) -> None:
        if self.active:
            for s in self.SIGNALS:
                signal.signal(s, lambda signum, frame: self.pending.append(signum))

    def restore(self) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)
        for signum in self.pending[:1]:
            signal.raise_signal(signum)

    @staticmethod
    def _raise(signum: int, frame: object) -> None:
        raise ProbeInterrupted(signum)


def run_probe(runner: Runner, *, docker: list[str], image: str | None, build_from: str = "/bin/busybox",
              timeout: float = 60.0) -> ProbeResult:
    """Start throwaway containers of a local image and report what the daemon enforces in them.

    `docker` is the CLI prefix (["docker", "-H", "unix:///..."]). `timeout` bounds the whole probe
    (cleanup has its own bound). Every container started is removed, also on SIGINT/SIGTERM, which
    then raise ProbeInterrupted after the cleanup.
    """
    docker = list(docker)
    budget = _Budget(timeout)
    chosen, error = ensure_image(runner, docker, image, build_from, budget)
    if chosen is None:
        return ProbeResult(image=image or PROBE_IMAGE, errors=(error or NO_IMAGE,))
    run_id, names, trap = secrets.token_hex(4), [], _SignalTrap()
    try:
        trap.arm()
        return _measure(runner, docker, chosen, run_id, names, budget)
    finally:
        trap.hold()
        try:
            _remove_containers(runner, docker, run_id, names)
        finally:
            trap.restore()
