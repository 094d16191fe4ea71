"""A real host with systemd as PID 1, booted with systemd-nspawn from a cached root filesystem.

A :class:`SystemdHost` lives in a directory ``D`` of its own (under the test's tmp_path)::

    D/upper, D/work       the overlayfs upper and work directories over the read-only base:
                          everything the machine writes (kept across stop and boot)
    D/merged              the mount point of the overlay (mounted only in the holder's namespace)
    D/var-lib-docker      bind-mounted on /var/lib/docker (overlay2 cannot live on overlayfs)
    D/var-lib-containerd  bind-mounted on /var/lib/containerd
    D/home                bind-mounted on /home (a rootless daemon's data root is in its user's home)
    D/console.log         the machine's console, all boots appended

Each boot is a holder process (``nspawn_holder.py``) that mounts the overlay in a private mount
namespace and runs ``systemd-nspawn -b --private-network`` in cgroups of its own. Commands run
inside with ``nsenter -t LEADER -a`` (LEADER: the machine's PID 1), always from an argument list.

What these machines cannot do (see docs/testing.md): load kernel audit rules (auditd.service and
audit-rules.service fail, so the system is ``degraded``), load kernel modules, or give dockerd a
nofile limit above this machine's hard limit (20000 on CI machines).
"""

from __future__ import annotations

import atexit
import io
import json
import os
import posixpath
import select
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Mapping, Sequence
from itertools import count
from pathlib import Path

from rootfs import Engine, ensure_base

HERE = Path(__file__).resolve().parent
HOLDER = HERE / "nspawn_holder.py"
#: The project's installer for servers (the README's first command runs it).
INSTALLER = HERE.parents[1] / "scripts" / "install.sh"
GUEST_PREFIX = "/opt/dockharden"  # where INSTALLER puts its venv (DOCKHARDEN_PREFIX's default)
FAILPOINTS = HERE.parent / "failpoints.py"  # the fault-injection tests' entry point
#: The environment of every command run inside: a login's, not the test process's.
GUEST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root", "USER": "root", "LOGNAME": "root", "LANG": "C.UTF-8", "TERM": "dumb",
    "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}
BUSYBOX_APPLETS = ("sh", "cat", "grep", "id", "sleep", "ls", "echo", "true", "env", "head",
                   "nc", "httpd", "ps", "hostname", "ip")
#: Debian's docker.io ships the rootless scripts here, off PATH.
DEBIAN_CONTRIB = "/usr/share/docker.io/contrib"
_SEQ = count(1)
_OPEN: list[SystemdHost] = []


class CommandFailed(subprocess.CalledProcessError):
    """A failed command inside a machine; its message shows the output."""

    def __str__(self) -> str:
        def show(x: object) -> str:
            if isinstance(x, bytes):
                x = x.decode(errors="replace")
            return (x or "").strip()[-4000:]

        return (f"{self.cmd!r} exited with {self.returncode}\n"
                f"--- stdout ---\n{show(self.stdout)}\n--- stderr ---\n{show(self.stderr)}")


class BootFailed(AssertionError):
    """The machine did not reach running/degraded with docker.service active."""


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return data[data.rfind(")") + 2:].split()[0] not in ("Z", "X")


def unique_name(engine: Engine) -> str:
    """A machine (and host) name no other machine on this computer has now."""
    return f"dh-{engine.suite}-{os.getpid()}-{next(_SEQ)}-{uuid.uuid4().hex[:4]}"


class SystemdHost:
    """One machine. Create with :meth:`create` (not booted) or :meth:`launch` (booted); always
    :meth:`close` (the fixtures do, and so does interpreter exit).

    Attributes:
        engine: the :class:`rootfs.Engine` it runs.
        name: its machine name and hostname (unique).
        dir: its directory D (see the module docstring).
        leader: pid of its PID 1 as seen from outside while it runs, else None.
    """

    def __init__(self, engine: Engine, d: Path, base: Path, name: str):
        self.engine, self.dir, self.base, self.name = engine, d, base, name
        self.uuid = uuid.uuid4().hex  # one machine-id for all its boots
        self.leader: int | None = None
        self.boots = 0
        self.boot_seconds: float | None = None  # of the latest boot, until docker.service was active
        self._holder: subprocess.Popen | None = None
        self._nspawn: int | None = None
        self._closed = False

    # ------------------------------------------------------------------------ life cycle
    @classmethod
    def create(cls, engine: Engine, d: Path | str, *, name: str | None = None) -> SystemdHost:
        base = ensure_base(engine)
        d = Path(d).resolve()
        for sub in ("upper", "work", "merged", "var-lib-docker", "var-lib-containerd", "home"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        host = cls(engine, d, base, name or unique_name(engine))
        # mmdebstrap copied this computer's /etc/hostname into the base: each machine gets its name.
        (d / "upper/etc").mkdir(exist_ok=True)
        (d / "upper/etc/hostname").write_text(host.name + "\n")
        # udev does not run in a container: do what its rule does on a real host, so that a
        # rootless daemon's slirp4netns (in a user namespace) can open the tun device.
        (d / "upper/etc/tmpfiles.d").mkdir(parents=True, exist_ok=True)
        (d / "upper/etc/tmpfiles.d/dockharden-tests-tun.conf").write_text("z /dev/net/tun 0666 - - -\n")
        _OPEN.append(host)
        return host

    @classmethod
    def launch(cls, engine: Engine, d: Path | str, *, name: str | None = None,
               timeout: float = 180) -> SystemdHost:
        """Create and boot; on a failed boot the machine is closed and BootFailed raised."""
        host = cls.create(engine, d, name=name)
        try:
            host.boot(timeout=timeout)
        except BaseException:
            host.close()
            raise
        return host

    @property
    def running(self) -> bool:
        return self._holder is not None and self._holder.poll() is None

    def boot(self, *, timeout: float = 180) -> None:
        """Boot (again, on the same upper directory): returns once ``systemctl
        is-system-running`` says running or degraded and docker.service is active."""
        if self._closed:
            raise RuntimeError(f"{self.name} is closed")
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        spec = {"name": self.name, "uuid": self.uuid, "base": str(self.base),
                "upper": str(self.dir / "upper"), "work": str(self.dir / "work"),
                "merged": str(self.dir / "merged"), "console_log": str(self.dir / "console.log"),
                "binds": [[str(self.dir / "var-lib-docker"), "/var/lib/docker"],
                          [str(self.dir / "var-lib-containerd"), "/var/lib/containerd"],
                          [str(self.dir / "home"), "/home"]]}
        spec_file = self.dir / "holder.json"
        spec_file.write_text(json.dumps(spec, indent=1))
        self.boots += 1
        with open(self.dir / "console.log", "a") as console:
            console.write(f"\n--- dockharden-tests: boot {self.boots} of {self.name} ---\n")
        started = time.monotonic()
        with open(self.dir / "holder.log", "ab") as errf:
            self._holder = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--",
                 sys.executable, str(HOLDER), str(spec_file)],
                # The holder kills the machine when this pipe closes: at close(), or when the
                # test process dies without closing it.
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf,
                start_new_session=True)  # a ^C of the test run must not reach nspawn
        try:
            self._nspawn = int(self._holder_line("nspawn", 30).split()[1])
            self.leader = self._wait_leader(started + timeout)
            self._wait_booted(started + timeout)
        except BaseException:
            self._kill()
            raise
        self.boot_seconds = time.monotonic() - started

    def _holder_line(self, word: str, timeout: float) -> str:
        assert self._holder is not None and self._holder.stdout is not None
        fd = self._holder.stdout.fileno()
        line = b""
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise BootFailed(f"{self.name}: holder said nothing in {timeout:.0f} s\n{self._holder_log()}")
            chunk = os.read(fd, 1)
            if not chunk:
                raise BootFailed(f"{self.name}: holder exited before `{word}`\n{self._holder_log()}")
            line += chunk
        text = line.decode().strip()
        if not text.startswith(word):
            raise BootFailed(f"{self.name}: holder said {text!r}, expected {word!r}\n{self._holder_log()}")
        return text

    def _holder_log(self) -> str:
        out = []
        for name in ("holder.log", "console.log"):
            try:
                tail = (self.dir / name).read_text(errors="replace").splitlines()[-30:]
                out.append(f"--- {name} (tail) ---\n" + "\n".join(tail))
            except OSError:
                pass
        return "\n".join(out)

    def _wait_leader(self, deadline: float) -> int:
        own_ns = os.readlink(f"/proc/{self._nspawn}/ns/pid")
        while time.monotonic() < deadline:
            for child in _children(self._nspawn):
                try:
                    if os.readlink(f"/proc/{child}/ns/pid") != own_ns:
                        return child
                except OSError:
                    pass
            if not self.running:
                raise BootFailed(f"{self.name}: nspawn exited before the machine started\n{self._holder_log()}")
            time.sleep(0.05)
        raise BootFailed(f"{self.name}: no PID 1 under nspawn {self._nspawn}\n{self._holder_log()}")

    def _wait_booted(self, deadline: float) -> None:
        state = ""
        while time.monotonic() < deadline:
            if not self.running:
                raise BootFailed(f"{self.name}: machine exited while booting\n{self._holder_log()}")
            state = self.run(["systemctl", "is-system-running"], check=False, timeout=30).stdout.strip()
            if state in ("running", "degraded"):
                break
            if state in ("maintenance", "stopping"):
                raise BootFailed(f"{self.name}: system is {state}\n{self._boot_report()}")
            time.sleep(0.2)
        else:
            raise BootFailed(f"{self.name}: system still {state!r} after boot timeout\n{self._boot_report()}")
        while time.monotonic() < deadline:
            docker = self.run(["systemctl", "is-active", "docker"], check=False, timeout=30).stdout.strip()
            if docker == "active":
                return
            if docker in ("failed", "inactive"):
                break
            time.sleep(0.2)
        raise BootFailed(f"{self.name}: docker.service is {docker!r} after boot\n{self._boot_report()}")

    def _boot_report(self) -> str:
        failed = self.run(["systemctl", "--failed", "--no-legend"], check=False, timeout=30).stdout
        return (f"--- failed units ---\n{failed}\n--- journal of docker.service, containerd.service ---\n"
                + self.run(["journalctl", "-b", "--no-pager", "-u", "docker", "-u", "containerd", "-n", "60"],
                           check=False, timeout=30).stdout)

    def stop(self, *, timeout: float = 90) -> None:
        """``systemctl poweroff`` and wait until the machine is gone (upper directory kept)."""
        if not self.running:
            return
        self.run(["systemctl", "poweroff", "--no-block"], check=False, timeout=30)
        try:
            self._holder.wait(timeout=timeout)  # type: ignore[union-attr]
        except subprocess.TimeoutExpired:
            self._kill()
            raise AssertionError(f"{self.name} did not power off in {timeout:.0f} s\n{self._holder_log()}") from None
        self._reap()

    def reboot(self, *, timeout: float = 180) -> None:
        """Stop the host and boot it again: what it wrote to disk survives, /run does not."""
        self.stop()
        self.boot(timeout=timeout)

    def _kill(self) -> None:
        """End the machine at once (the holder kills its cgroup) and reap the holder."""
        holder = self._holder
        if holder is None:
            return
        if holder.stdin is not None and not holder.stdin.closed:
            try:
                holder.stdin.close()  # the holder kills the machine on end of file
            except OSError:
                pass
        try:
            holder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
            if self.leader is not None and _alive(self.leader):
                os.kill(self.leader, signal.SIGKILL)  # ends its whole pid namespace
        self._reap()

    def _reap(self) -> None:
        if self._holder is not None:
            for stream in (self._holder.stdin, self._holder.stdout):
                if stream is not None and not stream.closed:
                    stream.close()
        self._holder, self._nspawn, self.leader = None, None, None

    def close(self) -> None:
        """Kill the machine (nothing to keep; its veth ends go with it) and check it is gone."""
        if self._closed:
            return
        self._closed = True
        if self in _OPEN:
            _OPEN.remove(self)
        errors = []
        leader = self.leader
        self._kill()
        if leader is not None and _alive(leader):
            errors.append(f"PID 1 ({leader}) of {self.name} survived")
        if errors:
            raise RuntimeError(f"closing {self.name}: " + "; ".join(errors))

    def __enter__(self) -> SystemdHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SystemdHost {self.name} {self.engine.id} leader={self.leader}>"

    # -------------------------------------------------------------------------- commands
    def nsenter_argv(self, argv: Sequence[str | os.PathLike], cwd: str = "/") -> list[str]:
        """The command line that runs argv inside (for Popen of long-running commands)."""
        if self.leader is None:
            raise RuntimeError(f"{self.name} is not running")
        return ["nsenter", "-t", str(self.leader), "-a", "-r", f"--wdns={cwd}", "--", *map(str, argv)]

    def run(self, argv: Sequence[str | os.PathLike], *, check: bool = True, timeout: float = 120,
            env: Mapping[str, str | None] | None = None, input: str | bytes | None = None,
            cwd: str = "/", text: bool = True) -> subprocess.CompletedProcess:
        """Run argv inside as root with a login's environment (:data:`GUEST_ENV`, plus env;
        None removes a variable). check: raise :class:`CommandFailed` showing the output."""
        full_env = dict(GUEST_ENV)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        proc = subprocess.run(self.nsenter_argv(argv, cwd), capture_output=True, text=text, env=full_env,
                              timeout=timeout, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise CommandFailed(proc.returncode, list(map(str, argv)), proc.stdout, proc.stderr)
        return proc

    def systemctl(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return self.run(["systemctl", *args], check=check, timeout=timeout)

    def is_active(self, unit: str = "docker") -> str:
        """``systemctl is-active UNIT``: active, failed, inactive, activating..."""
        return self.systemctl("is-active", unit, check=False).stdout.strip()

    def main_pid(self, unit: str = "docker") -> int:
        """The unit's MainPID inside the machine (0 when it has none)."""
        return int(self.systemctl("show", "-p", "MainPID", "--value", unit).stdout.strip())

    def show(self, unit: str, *props: str) -> dict[str, str]:
        """``systemctl show -p ...`` of a unit as a dict."""
        out = self.systemctl("show", unit, *[f"-p{p}" for p in props]).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal_cursor(self) -> str:
        """The journal's current position: give it to :meth:`journal` as ``since``."""
        out = self.run(["journalctl", "-n", "0", "--show-cursor", "--no-pager"]).stdout
        return next(line.split("cursor: ", 1)[1] for line in out.splitlines() if "cursor: " in line)

    def journal(self, unit: str | None = "docker", since: str | None = None, *,
                boot: str | None = None, lines: int | None = None) -> str:
        """Journal lines (short-iso) of a unit (None: all), after a cursor from
        :meth:`journal_cursor` or since a journalctl time ("-5min"); boot: "0", "-1"..."""
        argv = ["journalctl", "--no-pager", "-o", "short-iso"]
        if unit:
            argv += ["-u", unit]
        if since is not None:
            argv += [f"--after-cursor={since}"] if since.startswith("s=") else [f"--since={since}"]
        if boot is not None:
            argv += ["-b", boot]
        if lines is not None:
            argv += ["-n", str(lines)]
        return self.run(argv, check=False).stdout

    def docker(self, *args: str, check: bool = True, timeout: float = 120,
               input: str | bytes | None = None) -> subprocess.CompletedProcess:
        """The machine's own docker CLI on its /var/run/docker.sock."""
        return self.run(["docker", *args], check=check, timeout=timeout, input=input,
                        text=not isinstance(input, bytes))

    def info(self) -> dict:
        """``docker info`` as a dict."""
        return json.loads(self.docker("info", "--format", "{{json .}}").stdout)

    def engine_version(self) -> str:
        return self.docker("version", "--format", "{{.Server.Version}}").stdout.strip()

    def nofile_hard_limit(self, unit: str = "docker") -> int:
        """The hard nofile limit the unit's main process runs with (at most 20000 on CI machines,
        so baseline's 65536 is refused here: give dockharden a layer that lowers it)."""
        limits = self.read_text(f"/proc/{self.main_pid(unit)}/limits").splitlines()
        return int(next(r for r in limits if r.startswith("Max open files")).split()[4])

    # ----------------------------------------------------------------------------- users
    def add_user(self, user: str) -> int:
        """A login user with a home and subordinate ids (useradd -m); returns its uid."""
        self.run(["useradd", "--create-home", "--shell", "/bin/sh", user])
        return int(self.run(["id", "-u", user]).stdout)

    def start_user_manager(self, user: str) -> int:
        """Linger the user and start its ``systemd --user``; returns its uid.

        ``loginctl enable-linger`` fails in these machines ("Protocol driver not attached"), so
        the linger file is written as logind would."""
        uid = int(self.run(["id", "-u", user]).stdout)
        self.write_file(f"/var/lib/systemd/linger/{user}", "")
        self.systemctl("start", f"user@{uid}.service")
        return uid

    def user_systemctl(self, user: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """``systemctl --user`` of a user whose manager runs (:meth:`start_user_manager`)."""
        return self.run(["systemctl", "--user", "-M", f"{user}@", *args], check=check)

    def run_as(self, user: str, argv: Sequence[str], *, check: bool = True, timeout: float = 120,
               env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        """argv as user (runuser), with XDG_RUNTIME_DIR set as a login session would."""
        uid = int(self.run(["id", "-u", user]).stdout)
        home = self.run(["getent", "passwd", user]).stdout.split(":")[5]
        pairs = {"HOME": home, "USER": user, "LOGNAME": user, "XDG_RUNTIME_DIR": f"/run/user/{uid}", **(env or {})}
        return self.run(["runuser", "-u", user, "--", "env", *[f"{k}={v}" for k, v in pairs.items()], *argv],
                        check=check, timeout=timeout)

    def rootless_setuptool(self) -> str:
        """Where this host keeps ``dockerd-rootless-setuptool.sh``: on PATH in Docker CE's layout
        (docker-ce-rootless-extras puts it in /usr/bin), else Debian's docker.io's copy, off PATH."""
        for d in [*GUEST_ENV["PATH"].split(":"), DEBIAN_CONTRIB]:
            if self.path(f"{d}/dockerd-rootless-setuptool.sh").is_file():
                return f"{d}/dockerd-rootless-setuptool.sh"
        raise AssertionError(f"{self.name} has no dockerd-rootless-setuptool.sh on PATH or in {DEBIAN_CONTRIB}")

    def install_rootless(self, user: str) -> subprocess.CompletedProcess:
        """``dockerd-rootless-setuptool.sh install --skip-iptables`` as user (whose manager runs),
        as an operator sets up a rootless daemon under ``systemctl --user``.

        The tool's last step runs the CLI from beside itself: where Debian keeps the tool there is
        none (exit 127, "DIR/docker: not found"), which is accepted; anywhere else (Docker CE's
        /usr/bin) the tool must succeed. Raises :class:`CommandFailed` otherwise."""
        tool = self.rootless_setuptool()
        where = posixpath.dirname(tool)
        argv = [tool, "install", "--skip-iptables"]
        setup = self.run_as(user, argv, env={"PATH": f"{where}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"},
                            timeout=300, check=False)
        cli_beside = self.path(f"{where}/docker").exists()
        if setup.returncode != 0 and (cli_beside or f"{where}/docker: not found" not in setup.stderr):
            raise CommandFailed(setup.returncode, argv, setup.stdout, setup.stderr)
        return setup

    # ----------------------------------------------------------------------------- files
    def path(self, inside: str) -> Path:
        """A path inside the running machine as reachable from outside (through its PID 1's root)."""
        if self.leader is None:
            raise RuntimeError(f"{self.name} is not running")
        return Path(f"/proc/{self.leader}/root") / inside.lstrip("/")

    def read_text(self, inside: str) -> str:
        return self.path(inside).read_text()

    def write_file(self, inside: str, data: str | bytes, mode: int = 0o644) -> None:
        """Write a file inside (parents created), as root, with mode."""
        target = self.path(inside)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode() if isinstance(data, str) else data)
        target.chmod(mode)

    def copy_in(self, src: Path, inside: str) -> None:
        """Copy a file or directory from the test machine into the running machine."""
        target = self.path(inside)
        if Path(src).is_dir():
            shutil.copytree(src, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)

    # ------------------------------------------------------------------------- dockharden
    def install_dockharden(self, wheel_dirs: Sequence[Path]) -> None:
        """Install dockharden as an operator of an offline server would: wheels copied in
        (``wheels.wheelhouse``), then the project's own installer, scripts/install.sh (a venv in
        /opt/dockharden, the command linked into /usr/local/bin), with pip told to use those wheels only."""
        for d in wheel_dirs:
            self.copy_in(d, "/var/tmp/dockharden-wheels")
        self.copy_in(INSTALLER, "/var/tmp/dockharden-install.sh")
        self.run(["bash", "/var/tmp/dockharden-install.sh", "dockharden"], timeout=300,
                 env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/var/tmp/dockharden-wheels"})

    def fit_limits_layer(self) -> list[str]:
        """``--layer`` arguments that lower nofile to what this machine lets dockerd have ([] when
        baseline's 65536 fits): the layer an operator of such a host writes."""
        hard = self.nofile_hard_limit()
        if hard >= 65536:
            return []
        self.write_file("/etc/dockharden/layers/fit-limits.toml", "[daemon.default-ulimits]\n"
                        f'nofile = {{ Name = "nofile", Hard = {hard}, Soft = {hard} }}\n')
        return ["--layer", "/etc/dockharden/layers/fit-limits.toml"]

    def dockharden(self, *args: str, check: bool = False, timeout: float = 300,
                   env: Mapping[str, str | None] | None = None) -> subprocess.CompletedProcess:
        """``dockharden ARGS`` inside, from PATH, as an operator runs it (default check=False). With
        DOCKHARDEN_FAILPOINT in `env`, through the tests' entry point (tests/failpoints.py, copied in and
        run by the installed venv's Python): the installed command reads no fault-injection variable."""
        if (env or {}).get("DOCKHARDEN_FAILPOINT"):
            self.copy_in(FAILPOINTS, "/var/tmp/dockharden-failpoints.py")
            return self.run([f"{GUEST_PREFIX}/bin/python", "/var/tmp/dockharden-failpoints.py", *args], check=check,
                            timeout=timeout, env=env)
        return self.run(["dockharden", *args], check=check, timeout=timeout, env=env)

    # ------------------------------------------------------------------------------ image
    def import_busybox_image(self, name: str = "dh-busybox") -> str:
        """Import a tiny image made of the machine's own busybox-static; returns its name.

        No registry needed. Its applets include ``nc`` and ``httpd`` (busybox ``wget``
        segfaults in containers). Import again after a change of data root (userns-remap)."""
        tarball = busybox_tarball(self.path("/bin/busybox").read_bytes())
        self.docker("import", "--change", 'CMD ["/bin/sh"]', "-", name, input=tarball)
        return name


def busybox_tarball(busybox: bytes) -> bytes:
    """An image root as a tar: /bin/busybox, applet links, and the usual empty directories."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.linkname, info.size = kind, mode, link, len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        for d in ("bin", "proc", "sys", "dev", "etc", "tmp", "www"):
            add(d, tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755)
        add("bin/busybox", tarfile.REGTYPE, 0o755, busybox)
        for applet in BUSYBOX_APPLETS:
            add(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
        add("www/index.html", tarfile.REGTYPE, 0o644, b"dockharden-test-page\n")
    return buf.getvalue()


@atexit.register
def _close_leftover_machines() -> None:
    for host in list(_OPEN):
        try:
            host.close()
        except Exception as exc:  # pragma: no cover - best effort at exit
            print(f"machine: closing {host!r}: {exc}", file=sys.stderr)
