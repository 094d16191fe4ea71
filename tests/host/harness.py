"""A private "host" per test, with a real dockerd, in mount + network namespaces.

Each :class:`NamespaceHost` is a holder process (``nshost.py``) started under
``unshare --mount --net --fork --propagation private``. Inside it, private
directories of the host tree ``D`` are bind-mounted over /etc/docker,
/etc/dockharden, /etc/audit, /etc/ufw, /etc/default, /etc/systemd,
/var/lib/docker, /var/lib/dockharden and /var/log, and /run is a tmpfs. So:

- inside (``host.run(...)``, via ``nsenter -t PID -m -n``) every tool sees the
  standard paths, exactly as on a real host: dockerd started with no flags
  uses /etc/docker/daemon.json, /var/run/docker.sock and /var/lib/docker;
- outside, the same files are under ``host.dir`` (``D/etc/docker/daemon.json``,
  ``D/var/log/dockerd.log``...), which is what ``dockharden --root D`` sees.

Not private: the kernel audit rules, cgroups, loaded modules and the process
table (there is no pid namespace). Find daemons by pidfile, never by name.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
NSHOST = HERE / "nshost.py"
#: The fault-injection tests' entry point: the only one that reads DOCKHARDEN_FAILPOINT.
FAILPOINTS = HERE.parent / "failpoints.py"


def _entry(env) -> list[str]:
    """How dockharden is started: `-m dockharden`, or the failpoints entry when a failpoint is asked for."""
    return [str(FAILPOINTS)] if (env or {}).get("DOCKHARDEN_FAILPOINT") else ["-m", "dockharden"]
#: The service manager of a namespace host; give dockharden's ``command``
#: manager ``f"{DOCKERD_CTL} restart"`` / ``f"{DOCKERD_CTL} reload"``.
DOCKERD_CTL = HERE / "dockerd-ctl"
#: Inside a host: extra dockerd flags, one argv element per line.
FLAGS_FILE = "/etc/default/dockerd-test-flags"
DOCKER_SOCKET = "/var/run/docker.sock"
#: busybox-static's binary, the whole userland of the probe image.
BUSYBOX = Path("/bin/busybox")
BUSYBOX_APPLETS = ("sh", "cat", "grep", "id", "sleep", "ls", "echo", "true", "env", "head")

_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def _search_path() -> str:
    """The caller's PATH with the sbin directories (dockerd, iptables) added."""
    parts = [p for p in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep) if p]
    parts += [d for d in _SBIN if d not in parts]
    return os.pathsep.join(parts)


PATH = _search_path()
#: The docker CLI used by the harness: the first on PATH. On the dev machine
#: that is /usr/local/bin/docker (28.x), which talks to Debian's 20.10 daemon
#: through API version negotiation (1.41); Debian's own is /usr/bin/docker.
DOCKER_CLI = shutil.which("docker", path=PATH)
DOCKERD = shutil.which("dockerd", path=PATH)

# Probe image tarball, built once per session (keyed by busybox path).
_TARBALLS: dict[str, bytes] = {}
_OPEN_HOSTS: list[NamespaceHost] = []


def missing_prerequisites() -> list[str]:
    """What keeps namespace hosts from working here ([] when all is well)."""
    missing = []
    if os.geteuid() != 0:
        missing.append(f"must run as root (euid is {os.geteuid()})")
    for tool, pkg in (
        ("dockerd", "docker.io"),
        ("docker", "docker.io"),
        ("containerd", "containerd (dependency of docker.io)"),
        ("unshare", "util-linux"),
        ("nsenter", "util-linux"),
        ("mount", "mount"),
        ("ip", "iproute2"),
        ("tar", "tar"),
    ):
        if shutil.which(tool, path=PATH) is None:
            missing.append(f"{tool} not found on PATH (package {pkg})")
    return missing


class CommandFailed(subprocess.CalledProcessError):
    """A failed command inside a host; its message shows the output."""

    def __str__(self) -> str:
        def show(x: object) -> str:
            if isinstance(x, bytes):
                x = x.decode(errors="replace")
            return (x or "").strip()[-4000:]

        return (
            f"{self.cmd!r} exited with {self.returncode}\n"
            f"--- stdout ---\n{show(self.stdout)}\n--- stderr ---\n{show(self.stderr)}"
        )


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of pid, or None if gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = data[data.rfind(")") + 2 :].split()
    return rest[0], int(rest[1])


def _alive(pid: int) -> bool:
    st = _proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def _signal_and_wait(pids: Iterable[int], grace: float) -> set[int]:
    """SIGTERM, wait up to grace, SIGKILL, wait; returns the survivors."""
    pids = set(pids)
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in pids:
            if _alive(pid):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
    return {p for p in pids if _alive(p)}


def _is_static_elf(path: Path) -> bool:
    """True for an ELF executable with no PT_INTERP (no dynamic loader)."""
    import struct

    data = path.read_bytes()
    if data[:4] != b"\x7fELF":
        return False
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        phoff, = struct.unpack_from(end + "Q", data, 0x20)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 0x36)
    else:
        phoff, = struct.unpack_from(end + "I", data, 0x1C)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 0x2A)
    for i in range(phnum):
        p_type, = struct.unpack_from(end + "I", data, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


class NamespaceHost:
    """One private test host. Create with :meth:`launch`; always :meth:`close`.

    Attributes:
        dir: the private tree D (``D/etc/docker/daemon.json`` is the host's
            /etc/docker/daemon.json; ``D/var/log/dockerd.log`` its dockerd log).
        pid: pid of the holder process (inside the namespaces; nsenter target).
        docker_cli: the docker client used by :meth:`docker` / :meth:`info`.
    """

    def __init__(self, d: Path, unshare: subprocess.Popen, pid: int, holder_log: Path):
        self.dir = d
        self.pid = pid
        self.docker_cli = DOCKER_CLI
        self._unshare = unshare
        self._holder_log = holder_log
        self._closed = False

    # ----------------------------------------------------------------- start
    @classmethod
    def launch(cls, d: Path | str, *, timeout: float = 30.0) -> NamespaceHost:
        d = Path(d).resolve()
        d.mkdir(parents=True, exist_ok=True)
        holder_log = d.with_name(d.name + ".holder.log")
        env = dict(os.environ, PATH=PATH)
        with open(holder_log, "ab") as errf:
            unshare = subprocess.Popen(
                ["unshare", "--mount", "--net", "--fork", "--propagation", "private",
                 "--", sys.executable, str(NSHOST), str(d)],
                # The holder exits (killing its daemons) when this pipe closes,
                # i.e. when the test process dies without closing the host.
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errf,
                env=env,
            )
        try:
            cls._wait_ready(unshare, holder_log, timeout)
            pid = cls._holder_pid(unshare.pid)
        except BaseException:
            _signal_and_wait([unshare.pid, *cls._children(unshare.pid)], 2.0)
            unshare.wait()
            raise
        host = cls(d, unshare, pid, holder_log)
        _OPEN_HOSTS.append(host)
        return host

    @staticmethod
    def _wait_ready(unshare: subprocess.Popen, holder_log: Path, timeout: float) -> None:
        assert unshare.stdout is not None
        fd = unshare.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"namespace holder not ready after {timeout:.0f} s: "
                                   f"{holder_log.read_text(errors='replace')}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    unshare.wait(timeout=5)
                    raise RuntimeError(
                        f"namespace holder exited ({unshare.returncode}) before ready: "
                        f"{holder_log.read_text(errors='replace').strip()}")
                buf += chunk
        if buf.split(b"\n", 1)[0].strip() != b"ready":
            raise RuntimeError(f"namespace holder said {buf!r}, expected 'ready'")

    @staticmethod
    def _children(pid: int) -> list[int]:
        try:
            return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return [int(e) for e in os.listdir("/proc")
                    if e.isdigit() and (_proc_stat(int(e)) or ("", -1))[1] == pid]

    @classmethod
    def _holder_pid(cls, unshare_pid: int) -> int:
        # unshare --fork: the nshost.py process is unshare's only child.
        kids = cls._children(unshare_pid)
        if len(kids) != 1:
            raise RuntimeError(f"expected one child of unshare ({unshare_pid}), found {kids}")
        return kids[0]

    # ------------------------------------------------------------- commands
    def _env(self, extra: Mapping[str, str | None] | None) -> dict[str, str]:
        env = dict(os.environ, PATH=PATH)
        # A host is reached through its standard socket only.
        for var in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
            env.pop(var, None)
        for key, value in (extra or {}).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def _nsenter(self, argv: Sequence[str], cwd: str | os.PathLike | None) -> list[str]:
        cmd = ["nsenter", "-t", str(self.pid), "-m", "-n"]
        cmd.append(f"--wdns={cwd if cwd is not None else '/'}")
        return [*cmd, "--", *map(str, argv)]

    def run(
        self,
        argv: Sequence[str | os.PathLike],
        *,
        check: bool = True,
        timeout: float = 60,
        env: Mapping[str, str | None] | None = None,
        input: str | None = None,
        cwd: str | os.PathLike | None = None,
    ) -> subprocess.CompletedProcess:
        """Run argv inside the host (text mode, output captured).

        env: variables set over the inherited environment (None removes one).
        cwd: working directory inside the host (default /).
        check: raise :class:`CommandFailed` (showing the output) on non-zero.
        """
        cmd = self._nsenter(argv, cwd)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=self._env(env), input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise CommandFailed(proc.returncode, list(map(str, argv)), proc.stdout, proc.stderr)
        return proc

    def dockharden(self, *args: str, check: bool = False, timeout: float = 120,
                   env: Mapping[str, str | None] | None = None,
                   input: str | None = None) -> subprocess.CompletedProcess:
        """``python -m dockharden ARGS`` inside, from the working tree."""
        pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
        return self.run([sys.executable, *_entry(env), *args], check=check, timeout=timeout,
                        env={"PYTHONPATH": pythonpath, **(env or {})}, input=input, cwd=REPO_ROOT)

    def spawn_dockharden(self, *args: str, env: Mapping[str, str | None] | None = None) -> subprocess.Popen:
        """``python -m dockharden ARGS`` inside, in the background (for races and kills)."""
        pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
        cmd = self._nsenter([sys.executable, *_entry(env), *args], REPO_ROOT)
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL, env=self._env({"PYTHONPATH": pythonpath, **(env or {})}))

    def ctl(self, action: str, *, check: bool = False, timeout: float = 90) -> subprocess.CompletedProcess:
        """``dockerd-ctl ACTION`` inside (start|stop|restart|reload|status)."""
        return self.run([DOCKERD_CTL, action], check=check, timeout=timeout)

    def docker(self, *args: str, check: bool = True, timeout: float = 120,
               input: str | None = None) -> subprocess.CompletedProcess:
        """The docker CLI inside, on the host's /var/run/docker.sock."""
        if DOCKER_CLI is None:
            raise RuntimeError("no docker CLI on PATH (package docker.io)")
        return self.run([DOCKER_CLI, *args], check=check, timeout=timeout, input=input,
                        env={"DOCKER_HOST": f"unix://{DOCKER_SOCKET}"})

    # --------------------------------------------------------------- dockerd
    def start_dockerd(self, flags: Sequence[str] = ()) -> int:
        """Write the flags file (one argv element per line), start dockerd
        and wait until it answers; returns its pid. Fails with the log."""
        flags_file = self.dir / FLAGS_FILE.lstrip("/")
        flags_file.write_text("".join(f"{f}\n" for f in flags))
        proc = self.ctl("start")
        if proc.returncode != 0:
            raise AssertionError(
                f"dockerd-ctl start failed ({proc.returncode}) with flags {list(flags)!r}\n"
                f"{proc.stdout}{proc.stderr}\n--- dockerd log (tail) ---\n{self.log_tail(40)}")
        pid = self.dockerd_pid()
        assert pid is not None, f"dockerd answers but has no pidfile\n{self.log_tail(40)}"
        return pid

    def stop_dockerd(self) -> None:
        proc = self.ctl("stop")
        if proc.returncode != 0:
            raise AssertionError(f"dockerd-ctl stop failed ({proc.returncode})\n{proc.stdout}{proc.stderr}")

    def restart_dockerd(self) -> int:
        """``dockerd-ctl restart``, asserting success; returns the new pid."""
        proc = self.ctl("restart")
        if proc.returncode != 0:
            raise AssertionError(
                f"dockerd-ctl restart failed ({proc.returncode})\n{proc.stdout}{proc.stderr}\n"
                f"--- dockerd log (tail) ---\n{self.log_tail(40)}")
        pid = self.dockerd_pid()
        assert pid is not None
        return pid

    def _inside(self, path: str) -> Path:
        """A path inside the host as reachable from outside (/proc/PID/root)."""
        return Path(f"/proc/{self.pid}/root") / path.lstrip("/")

    def _read_pidfile(self, path: str) -> int | None:
        try:
            return int(self._inside(path).read_text().strip())
        except (OSError, ValueError):
            return None

    def dockerd_pid(self) -> int | None:
        """Pid of this host's running dockerd (from /var/run/docker.pid), or None."""
        pid = self._read_pidfile("/run/docker.pid")
        if pid is not None and _alive(pid) and self._in_host(pid):
            return pid
        return None

    def _in_host(self, pid: int) -> bool:
        try:
            return os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink(f"/proc/{self.pid}/ns/mnt")
        except OSError:
            return False

    def info(self) -> dict:
        """``docker info`` as a dict."""
        return json.loads(self.docker("info", "--format", "{{json .}}").stdout)

    def log(self) -> str:
        """The host's dockerd log (all starts appended)."""
        try:
            return (self.dir / "var/log/dockerd.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 20) -> str:
        return "\n".join(self.log().splitlines()[-n:])

    # ----------------------------------------------------------------- image
    def import_busybox_image(self, name: str = "dh-busybox") -> str:
        """Import a tiny image made of busybox-static; returns its name.

        No registry needed. Import it after any change of data root (e.g.
        userns-remap), since images live under the data root.
        """
        tarball = _TARBALLS.get(str(BUSYBOX))
        if tarball is None:
            tarball = self._build_busybox_tarball()
            _TARBALLS[str(BUSYBOX)] = tarball
        if DOCKER_CLI is None:
            raise RuntimeError("no docker CLI on PATH (package docker.io)")
        argv = [DOCKER_CLI, "import", "--change", 'CMD ["/bin/sh"]', "-", name]
        proc = subprocess.run(self._nsenter(argv, None), input=tarball, capture_output=True,
                              timeout=120, env=self._env({"DOCKER_HOST": f"unix://{DOCKER_SOCKET}"}))
        if proc.returncode != 0:
            raise CommandFailed(proc.returncode, argv, proc.stdout, proc.stderr)
        return name

    def _build_busybox_tarball(self) -> bytes:
        if not BUSYBOX.is_file():
            raise RuntimeError(f"{BUSYBOX} missing: install busybox-static")
        if not _is_static_elf(BUSYBOX):
            raise RuntimeError(f"{BUSYBOX} is not statically linked: install busybox-static")
        root = self.dir / "imgroot"
        if root.exists():
            shutil.rmtree(root)
        for sub in ("bin", "proc", "sys", "dev", "etc", "tmp"):
            (root / sub).mkdir(parents=True)
        (root / "tmp").chmod(0o1777)
        shutil.copy2(BUSYBOX, root / "bin/busybox")
        for applet in BUSYBOX_APPLETS:
            (root / "bin" / applet).symlink_to("busybox")
        tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = tar.communicate(timeout=60)
        if tar.returncode != 0:
            raise RuntimeError(f"tar failed: {err.decode(errors='replace')}")
        return out

    # ----------------------------------------------------------------- close
    def processes(self) -> set[int]:
        """Pids of this host: in its network namespace (holder and unshare
        excluded), plus all their descendants (containers have their own
        namespaces but descend from a shim that is in the host's)."""
        from nshost import namespace_members

        try:
            netns = os.readlink(f"/proc/{self.pid}/ns/net")
        except OSError:
            return set()
        members = namespace_members(netns, {self.pid, self._unshare.pid})
        return {p for p in members if _alive(p)}

    def close(self) -> None:
        """Stop dockerd, kill everything left in the host, end the holder.

        Raises RuntimeError if a process of the host survives SIGKILL.
        """
        if self._closed:
            return
        self._closed = True
        if self in _OPEN_HOSTS:
            _OPEN_HOSTS.remove(self)
        survivors: set[int] = set()
        try:
            if _alive(self.pid):
                # Graceful first: dockerd stops its containerd. Running
                # containers are stopped at once before, else dockerd waits
                # 10 s for each whose init ignores SIGTERM.
                if self.dockerd_pid() is not None:
                    try:
                        ids = self.docker("ps", "-q", check=False, timeout=20).stdout.split()
                        if ids:
                            self.docker("stop", "--time", "0", *ids, check=False, timeout=60)
                        self.ctl("stop", timeout=60)
                    except subprocess.TimeoutExpired:
                        pass
                leftovers = self.processes()
                for pidfile in ("/run/docker.pid", "/run/docker/containerd/containerd.pid"):
                    pid = self._read_pidfile(pidfile)
                    if pid is not None and _alive(pid) and self._in_host(pid):
                        leftovers.add(pid)
                # What is left after a graceful stop (containers kept by
                # live-restore, their shims) gets SIGTERM and, soon, SIGKILL:
                # a container's init ignores SIGTERM.
                survivors = _signal_and_wait(leftovers, 1.0)
        finally:
            # The holder's own SIGTERM handler sweeps the namespace once more.
            survivors |= _signal_and_wait([self.pid], 10.0)
            try:
                self._unshare.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._unshare.kill()
                self._unshare.wait()
            for stream in (self._unshare.stdin, self._unshare.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
        if survivors:
            raise RuntimeError(f"processes of test host {self.dir} survived SIGKILL: {sorted(survivors)}")

    def __enter__(self) -> NamespaceHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<NamespaceHost dir={self.dir} pid={self.pid}>"


@atexit.register
def _close_leftover_hosts() -> None:
    for host in list(_OPEN_HOSTS):
        try:
            host.close()
        except Exception as exc:  # pragma: no cover - best effort at exit
            print(f"harness: closing {host!r}: {exc}", file=sys.stderr)
