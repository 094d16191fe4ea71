"""A real rootless dockerd (Debian's docker.io 20.10 + rootlesskit), without systemd.

Usage (as root)::

    d = RootlessDaemon("dhrootless", "/home/dhrootless", "/tmp/dh-rootless-run")
    d.start()                      # waits for GET /_ping; raises with the log tail
    d.info()["SecurityOptions"]    # [..., "name=rootless"]
    d.reload()                     # SIGHUP to $XDG_RUNTIME_DIR/docker.pid
    d.restart()
    d.stop()                       # nothing of the daemon is left running

What ``start`` runs, as one process (the pid never changes, so it is the
pid of rootlesskit, i.e. of the user unit's MAINPID)::

    unshare --mount --propagation private --          (root: private mounts)
      python3 rootless_daemon.py --launch USER        (root: see below, then setuid USER)
        dockerd-rootless.sh [DOCKERD_ROOTLESS_SH_FLAGS] (exec; as USER)
          rootlesskit ... dockerd-rootless.sh         (exec; user+mount+net namespaces)

The launcher, in its private mount namespace only, binds mode-0666 copies of
the device nodes /dev/net/tun and /dev/fuse over them when the machine's nodes
are not world-accessible (on the CI VMs both are ``crw------- root``, so
slirp4netns fails with ``open: Permission denied`` and fuse-overlayfs with
``fuse: failed to open /dev/fuse: Permission denied``), and makes ``/``
rshared so that rootlesskit's ``--propagation=rslave`` applies. Nothing
changes outside.

Files, as for a systemd-managed rootless daemon:
``$HOME/.config/docker/daemon.json`` (config), ``$HOME/.local/share/docker``
(data root), ``$XDG_RUNTIME_DIR/docker.sock``, ``$XDG_RUNTIME_DIR/docker.pid``
(dockerd's pid). This helper adds ``$XDG_RUNTIME_DIR/dh-rootless.json``
(rootlesskit's pid, its start time, dockerd's user namespace, the extra
environment) and, unless told otherwise, the log
``$XDG_RUNTIME_DIR/dockerd-rootless.log`` (rootlesskit + dockerd output,
appended).

There is no pid namespace: other daemons are visible. Processes are found by
pidfile / state file and by user namespace, never by name.
"""

from __future__ import annotations

import http.client
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

HERE = Path(__file__).resolve()
#: Debian's docker.io ships the rootless scripts here, not on PATH.
CONTRIB_DIR = "/usr/share/docker.io/contrib"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TUN = "/dev/net/tun"
#: slirp4netns opens /dev/net/tun, fuse-overlayfs /dev/fuse, as the user.
USER_DEVICES = (TUN, "/dev/fuse")
STATE_NAME = "dh-rootless.json"
LOG_NAME = "dockerd-rootless.log"
#: Variables that must not leak into the daemon's environment from extra_env.
_FORBIDDEN_ENV = {"_DOCKERD_ROOTLESS_CHILD", "_DOCKERD_ROOTLESS_SELINUX"}


class RootlessDaemonError(RuntimeError):
    """Start/stop/reload failed; the message ends with the log tail."""


# ------------------------------------------------------------------ /proc
def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the comm: [state, ppid, ...]."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return data[data.rfind(")") + 2 :].split()


def _alive(pid: int) -> bool:
    """Running; zombies count as gone."""
    f = _stat_fields(pid)
    return f is not None and f[0] not in ("Z", "X")


def _starttime(pid: int) -> int | None:
    f = _stat_fields(pid)
    return int(f[19]) if f is not None else None  # field 22 of stat


def _userns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/user")
    except OSError:
        return None


def _uid(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def _all_pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        f = _stat_fields(pid)
        if f is not None:
            children.setdefault(int(f[1]), []).append(pid)
    out: set[int] = set()
    todo = [root]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _in_userns(ns: str) -> set[int]:
    return {p for p in _all_pids() if _userns(p) == ns}


def _wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while True:
        left = {p for p in pids if _alive(p)}
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def _kill(pids: set[int], sig: int) -> None:
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


# ------------------------------------------------------------------- HTTP
class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("docker", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self._path)
        except OSError:
            s.close()
            raise
        self.sock = s


def api(sock_path: str, method: str, path: str, body: object | None = None,
        timeout: float = 30.0) -> tuple[int, bytes]:
    """One Engine API request on a unix socket; returns (status, body)."""
    conn = _UnixHTTPConnection(sock_path, timeout)
    try:
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# ------------------------------------------------------------ prerequisites
def find_rootless_sh() -> str | None:
    return shutil.which("dockerd-rootless.sh", path=f"{CONTRIB_DIR}:{BASE_PATH}")


def missing_prerequisites(user: str | None = None) -> list[str]:
    """What keeps a rootless daemon from starting here ([] when all is well)."""
    missing = []
    if os.geteuid() != 0:
        missing.append(f"the helper must run as root (euid is {os.geteuid()})")
    for tool, pkg in (("dockerd", "docker.io"), ("rootlesskit", "rootlesskit"),
                      ("slirp4netns", "slirp4netns"), ("newuidmap", "uidmap"),
                      ("newgidmap", "uidmap"), ("unshare", "util-linux"), ("mount", "mount")):
        path = shutil.which(tool, path=BASE_PATH)
        if path is None:
            missing.append(f"{tool} (package {pkg})")
        elif tool.startswith("new") and not os.stat(path).st_mode & stat.S_ISUID:
            missing.append(f"{path} is not setuid root (reinstall uidmap)")
    if find_rootless_sh() is None:
        missing.append(f"dockerd-rootless.sh (package docker.io, {CONTRIB_DIR})")
    for knob, want in (("/proc/sys/kernel/unprivileged_userns_clone", "1"),
                       ("/proc/sys/user/max_user_namespaces", None)):
        try:
            val = Path(knob).read_text().strip()
        except OSError:
            continue  # the knob does not exist on this kernel: no restriction
        if (want is not None and val != want) or (want is None and val == "0"):
            missing.append(f"{knob} is {val} (unprivileged user namespaces disabled)")
    if not os.path.exists(TUN):
        missing.append(f"{TUN} does not exist (slirp4netns needs it; or use the "
                       "DOCKERD_ROOTLESS_ROOTLESSKIT_NET=host fallback, see README)")
    if user is not None:
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            missing.append(f"user {user!r} does not exist")
        else:
            if pw.pw_uid == 0:
                missing.append(f"user {user!r} is root")
            for f in ("/etc/subuid", "/etc/subgid"):
                try:
                    lines = Path(f).read_text().splitlines()
                except OSError:
                    lines = []
                if not any(line.split(":")[0] in (user, str(pw.pw_uid)) for line in lines if line.strip()):
                    missing.append(f"no {f} range for {user} (usermod --add-subuids/--add-subgids)")
    return missing


# ----------------------------------------------------------------- daemon
class RootlessDaemon:
    """A rootless dockerd of ``user`` with HOME ``home`` and XDG_RUNTIME_DIR ``runtime_dir``.

    Must be driven as root. Several daemons may run at once (same or other
    users) as long as each has its own home and runtime dir. ``home`` and
    ``runtime_dir`` are created (owned by the user, runtime dir mode 0700)
    if missing; every parent must be traversable by the user (a pytest
    ``tmp_path`` under /tmp/pytest-of-root/ is not: it is mode 0700).
    """

    def __init__(self, user: str, home: str | os.PathLike, runtime_dir: str | os.PathLike, *,
                 log_path: str | os.PathLike | None = None,
                 start_timeout: float = 60.0, stop_timeout: float = 60.0):
        self.user = user
        self.home = Path(home)
        self.runtime_dir = Path(runtime_dir)
        self.log_path = Path(log_path) if log_path else self.runtime_dir / LOG_NAME
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._proc: subprocess.Popen | None = None

    # paths
    @property
    def socket_path(self) -> Path:
        return self.runtime_dir / "docker.sock"

    @property
    def docker_host(self) -> str:
        """For ``DOCKER_HOST`` / ``docker -H``."""
        return f"unix://{self.socket_path}"

    @property
    def pidfile(self) -> Path:
        return self.runtime_dir / "docker.pid"

    @property
    def state_file(self) -> Path:
        return self.runtime_dir / STATE_NAME

    @property
    def config_file(self) -> Path:
        return self.home / ".config" / "docker" / "daemon.json"

    @property
    def data_root(self) -> Path:
        return self.home / ".local" / "share" / "docker"

    def __repr__(self) -> str:
        return f"<RootlessDaemon user={self.user} home={self.home} runtime_dir={self.runtime_dir}>"

    # state
    def _read_state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def parent_pid(self) -> int | None:
        """rootlesskit's pid (the launcher's, same process), if it runs."""
        st = self._read_state()
        pid = st.get("pid")
        if isinstance(pid, int) and _alive(pid) and _starttime(pid) == st.get("starttime"):
            return pid
        return None

    def pid(self) -> int | None:
        """dockerd's pid (from $XDG_RUNTIME_DIR/docker.pid), if it runs."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _alive(pid) or _uid(pid) != pwd.getpwnam(self.user).pw_uid:
            return None
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() != "dockerd":
                return None
        except OSError:
            return None
        return pid

    def ping(self, timeout: float = 2.0) -> bool:
        try:
            status, body = api(str(self.socket_path), "GET", "/_ping", timeout=timeout)
        except (OSError, http.client.HTTPException):
            return False
        return status == 200 and body.strip() == b"OK"

    def running(self) -> bool:
        return self.pid() is not None and self.ping()

    # logs
    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 30) -> str:
        lines = self.log().splitlines()
        return "\n".join(lines[-n:]) if lines else "(empty log)"

    def _fail(self, msg: str) -> RootlessDaemonError:
        return RootlessDaemonError(f"{self!r}: {msg}\n--- log tail ({self.log_path}) ---\n{self.log_tail()}")

    # API
    def api(self, method: str, path: str, body: object | None = None,
            timeout: float = 30.0) -> tuple[int, bytes]:
        return api(str(self.socket_path), method, path, body, timeout)

    def info(self) -> dict:
        status, body = self.api("GET", "/info")
        if status != 200:
            raise self._fail(f"GET /info: HTTP {status}: {body[:300]!r}")
        return json.loads(body)

    # lifecycle
    def _prepare_dirs(self) -> None:
        pw = pwd.getpwnam(self.user)
        if pw.pw_uid == 0:
            raise RootlessDaemonError(f"user {self.user!r} is root; rootless needs an unprivileged user")
        for d, mode in ((self.home, 0o755), (self.runtime_dir, 0o700)):
            if not d.exists():
                d.parent.mkdir(parents=True, exist_ok=True)  # root-owned, umask modes
                d.mkdir(mode=mode)
                os.chown(d, pw.pw_uid, pw.pw_gid)
                os.chmod(d, mode)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)

    def write_config(self, config: Mapping | str) -> Path:
        """Write ``$HOME/.config/docker/daemon.json`` (a dict is dumped as
        JSON, a str written as is), creating the home, ``.config`` and
        ``.config/docker`` owned by the user: dockerd writes its key.json
        there and fails (``Error saving key file: ... permission denied``)
        when root created that directory."""
        self._prepare_dirs()
        pw = pwd.getpwnam(self.user)
        d = self.home
        for part in (".config", "docker"):
            d = d / part
            if not d.exists():
                d.mkdir(mode=0o755)
                os.chown(d, pw.pw_uid, pw.pw_gid)
        text = config if isinstance(config, str) else json.dumps(config, indent=2) + "\n"
        self.config_file.write_text(text)
        os.chown(self.config_file, pw.pw_uid, pw.pw_gid)
        return self.config_file

    def _env(self, extra_env: Mapping[str, str]) -> dict[str, str]:
        bad = _FORBIDDEN_ENV & set(extra_env)
        if bad:
            raise ValueError(f"extra_env must not set {sorted(bad)}")
        env = {
            "HOME": str(self.home),
            "USER": self.user,
            "LOGNAME": self.user,
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "PATH": f"{CONTRIB_DIR}:{BASE_PATH}",
        }
        env.update(extra_env)
        return env

    def start(self, extra_env: Mapping[str, str] = {}) -> None:  # noqa: B006 (read only)
        """Start the daemon and wait until GET /_ping answers.

        ``extra_env`` goes to dockerd-rootless.sh: ``DOCKERD_ROOTLESS_ROOTLESSKIT_*``
        (NET, MTU, PORT_DRIVER, FLAGS...), ``XDG_CONFIG_HOME``, and
        ``DOCKERD_ROOTLESS_SH_FLAGS`` (split like a shell would, as the
        systemd unit's ``ExecStart=dockerd-rootless.sh $DOCKERD_ROOTLESS_SH_FLAGS``).
        Already running and answering: returns at once.
        Raises RootlessDaemonError with the log tail on failure (and leaves
        nothing running).
        """
        if self.parent_pid() is not None or self.pid() is not None:
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline and (self.parent_pid() or self.pid()):
                if self.ping():
                    return
                time.sleep(0.05)
            raise self._fail("already running but does not answer on " + str(self.socket_path))

        rootless_sh = find_rootless_sh()
        if rootless_sh is None:
            raise RootlessDaemonError(f"dockerd-rootless.sh not found (package docker.io, {CONTRIB_DIR})")
        self._prepare_dirs()
        extra_env = dict(extra_env)
        env = self._env(extra_env)
        # dockerd refuses to start when its pidfile names a live process.
        self.pidfile.unlink(missing_ok=True)
        self.state_file.unlink(missing_ok=True)
        with open(self.log_path, "ab") as logf:
            logf.write(f"--- rootless_daemon start {time.strftime('%Y-%m-%dT%H:%M:%S')} "
                       f"extra_env={extra_env!r}\n".encode())
            logf.flush()
            proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--",
                 sys.executable, str(HERE), "--launch", self.user, rootless_sh],
                env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True)
        self._proc = proc
        state = {"pid": proc.pid, "starttime": _starttime(proc.pid), "userns": None,
                 "extra_env": extra_env}
        self.state_file.write_text(json.dumps(state))

        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self._cleanup_after_failed_start()
                raise self._fail(f"rootlesskit/dockerd exited with status {proc.returncode} while starting")
            if self.ping(timeout=1.0):
                dpid = self.pid()
                state["userns"] = _userns(dpid) if dpid else None
                self.state_file.write_text(json.dumps(state))
                return
            time.sleep(0.05)
        self._cleanup_after_failed_start()
        raise self._fail(f"no answer on {self.socket_path} within {self.start_timeout:.0f} s")

    def _cleanup_after_failed_start(self) -> None:
        try:
            self.stop()
        except RootlessDaemonError:
            pass

    def stop(self, container_stop_timeout: int | None = None) -> None:
        """SIGTERM to rootlesskit (it forwards it to dockerd, which stops its
        containers and containerd), wait up to ``stop_timeout``, then SIGKILL
        whatever is left: rootlesskit's descendants and every process in the
        daemon's user namespace (container shims are reparented to pid 1, so
        only the namespace finds them). No-op when not running.

        ``container_stop_timeout``: first stop running containers through the
        API with this timeout (0 = at once); otherwise dockerd gives each
        container 10 s, and a busybox ``sleep`` as pid 1 ignores SIGTERM.
        Raises RootlessDaemonError if a process survives SIGKILL.
        """
        st = self._read_state()
        parent = self.parent_pid()
        dpid = self.pid()
        userns = st.get("userns") or (_userns(dpid) if dpid else None)
        if container_stop_timeout is not None and dpid is not None and self.ping():
            try:
                status, body = self.api("GET", "/containers/json")
                for c in json.loads(body) if status == 200 else []:
                    self.api("POST", f"/containers/{c['Id']}/stop?t={int(container_stop_timeout)}",
                             timeout=container_stop_timeout + 30)
            except (OSError, http.client.HTTPException, ValueError):
                pass

        def group() -> set[int]:
            pids: set[int] = set()
            if parent is not None and _alive(parent):
                pids |= {parent} | _descendants(parent)
            if userns is not None:
                pids |= _in_userns(userns)
            if dpid is not None and _alive(dpid):
                pids.add(dpid)
            return {p for p in pids if _alive(p)}

        first = group()
        target = parent if parent is not None else dpid
        if target is not None:
            _kill({target}, signal.SIGTERM)
            deadline = time.monotonic() + self.stop_timeout
            while time.monotonic() < deadline and _alive(target):
                time.sleep(0.05)
        # Short grace for the rest (e.g. slirp4netns, shims) to follow.
        left = _wait_gone(group() | first, 2.0)
        survivors: set[int] = set()
        if left:
            _kill(left, signal.SIGKILL)
            survivors = _wait_gone(left | group(), 5.0)
            if survivors:  # something forked meanwhile: once more
                _kill(survivors, signal.SIGKILL)
                survivors = _wait_gone(survivors | group(), 5.0)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self._proc = None
        if self.pid() is None:
            self.pidfile.unlink(missing_ok=True)
        self.state_file.unlink(missing_ok=True)
        if survivors:
            raise self._fail(f"processes survived SIGKILL: {sorted(survivors)}")

    def restart(self, extra_env: Mapping[str, str] | None = None) -> None:
        """stop() then start(); ``extra_env`` None = the one of the last start."""
        if extra_env is None:
            extra_env = self._read_state().get("extra_env") or {}
        self.stop()
        self.start(extra_env)

    def reload(self, wait: float = 5.0) -> str | None:
        """SIGHUP to dockerd ($XDG_RUNTIME_DIR/docker.pid), as
        ``kill -HUP $(cat $XDG_RUNTIME_DIR/docker.pid)``.

        With ``wait`` > 0, waits up to that long for dockerd's verdict in the
        log and returns that line: ``Reloaded configuration: {...}`` (info
        level), or raises RootlessDaemonError on a reload error. Returns None
        when nothing was logged in time (e.g. log-level warn or higher) or
        with ``wait=0``.
        """
        dpid = self.pid()
        if dpid is None:
            raise self._fail("reload: dockerd is not running")
        try:
            offset = self.log_path.stat().st_size
        except OSError:
            offset = 0
        os.kill(dpid, signal.SIGHUP)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                with open(self.log_path, "rb") as f:
                    f.seek(offset)
                    new = f.read().decode(errors="replace")
            except OSError:
                new = ""
            for line in new.splitlines():
                if "Reloaded configuration" in line:
                    self._wait_debug_applied(deadline)
                    return line
                if ("level=error" in line or "level=fatal" in line) and (
                        "reload" in line.lower() or "configur" in line.lower()):
                    raise self._fail(f"reload failed: {line}")
            time.sleep(0.02)
        return None

    def _wait_debug_applied(self, deadline: float) -> None:
        """dockerd logs "Reloaded configuration" before it toggles ``debug``
        (cmd/dockerd does that after Daemon.Reload returns): when daemon.json
        sets debug, poll /info until .Debug matches (bounded)."""
        try:
            want = json.loads(self.config_file.read_text()).get("debug")
        except (OSError, ValueError, AttributeError):
            return
        if not isinstance(want, bool):
            return
        deadline = max(deadline, time.monotonic() + 1.0)
        while time.monotonic() < deadline:
            try:
                if self.info().get("Debug") is want:
                    return
            except (OSError, http.client.HTTPException, ValueError, RootlessDaemonError):
                pass
            time.sleep(0.01)


# --------------------------------------------------------------- launcher
def _launch(argv: list[str]) -> int:
    """``rootless_daemon.py --launch USER ROOTLESS_SH``, as root inside
    ``unshare --mount --propagation private``: make /dev/net/tun and /dev/fuse usable,
    drop to USER, exec dockerd-rootless.sh (same pid)."""
    user, rootless_sh = argv
    pw = pwd.getpwnam(user)

    def say(msg: str) -> None:
        print(f"rootless_daemon launcher: {msg}", file=sys.stderr, flush=True)

    # Devices the user must open inside its user namespace, where root's
    # 0600 nodes stay closed to it: bind 0666 copies over them, here only.
    closed = [dev for dev in USER_DEVICES
              if os.path.exists(dev) and (os.stat(dev).st_mode & 0o006) != 0o006]
    if closed:
        tmp = tempfile.mkdtemp(prefix="dh-rootless-dev.")
        try:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=64k", "dh-rootless-dev", tmp],
                           check=True)
            for dev in closed:
                st = os.stat(dev)
                node = os.path.join(tmp, os.path.basename(dev))
                os.mknod(node, 0o666 | stat.S_IFCHR, st.st_rdev)
                os.chmod(node, 0o666)
                subprocess.run(["mount", "--bind", node, dev], check=True)
                say(f"{dev} is {stat.filemode(st.st_mode)}: bound a crw-rw-rw- copy over it "
                    "(this mount namespace only)")
            subprocess.run(["umount", "--lazy", tmp], check=True)
        finally:
            os.rmdir(tmp)
    subprocess.run(["mount", "--make-rshared", "/"], check=True)

    os.initgroups(user, pw.pw_gid)
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)
    env = dict(os.environ)
    for var, need in (("HOME", os.W_OK | os.X_OK), ("XDG_RUNTIME_DIR", os.W_OK | os.X_OK)):
        path = env.get(var, "")
        if not path or not os.access(path, need):
            say(f"{var}={path!r} is not writable/searchable by {user} "
                "(is every parent directory traversable by that user?)")
            return 1
    os.chdir(env["HOME"])
    flags = shlex.split(env.get("DOCKERD_ROOTLESS_SH_FLAGS", ""))
    os.execve(rootless_sh, [rootless_sh, *flags], env)
    return 1  # not reached


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--launch":
        sys.exit(_launch(sys.argv[2:]))
    print("usage: rootless_daemon.py --launch USER ROOTLESS_SH (internal; use RootlessDaemon)",
          file=sys.stderr)
    sys.exit(2)
