"""Root filesystems of the systemd hosts: one per Debian suite, built with mmdebstrap and cached.

The engines under test and the packages of their root filesystems are listed here and nowhere
else (:data:`ENGINES`). A root filesystem is built from Debian's own packages with the mirror this
machine's apt already uses (read from its sources at run time), as a ``.tar.zst``, then unpacked
once into a base directory that machines only ever use as an overlayfs lower layer.

Cache (kept between runs): ``/var/cache/dockharden-tests/`` (or ``$DOCKHARDEN_TEST_CACHE``)::

    rootfs/SUITE-KEY.tar.zst   the mmdebstrap output
    base/SUITE-KEY/            its unpacked tree (never written: machines mount it read-only)
    locks/SUITE-KEY.lock       flock held while one process builds or unpacks that key
    logs/SUITE-KEY.log         the last build's output

KEY hashes the suite, the package list, the apt options and :data:`RECIPE_VERSION` (and, for an
engine in Docker CE's layout, the sha256 of the engine tarball and of moby's rootless scripts), so a
change of any of them builds anew. Each artefact is made under a temporary name and renamed into place under
the lock, so concurrent test processes never see half of one; different suites build concurrently.

Also a command, for CI and by hand::

    python3 tests/systemd/rootfs.py build [--background] [SUITE|ID ...]  # build what is missing
                                      # (a suite names its Debian line; ce-29.7 by its id)
    python3 tests/systemd/rootfs.py list                              # engines, keys, cache state
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

#: Bump when the way a root filesystem is made changes (hooks, options, unpacking).
RECIPE_VERSION = 1

CACHE = Path(os.environ.get("DOCKHARDEN_TEST_CACHE", "/var/cache/dockharden-tests"))

#: Every root filesystem: a booting systemd, the files dockharden manages, an sshd for a
#: controller, busybox-static for the probe image, and what a rootless daemon under
#: ``systemctl --user`` needs. The engine itself comes from each line's extra packages: Debian's
#: docker.io (which ships dockerd-rootless-setuptool.sh in all three suites), or, in Docker CE's
#: layout, Debian's containerd, runc and CLI with the engine tarball's binaries (:class:`CELayout`).
COMMON_PACKAGES = (
    "systemd-sysv", "dbus", "iptables", "ufw", "python3", "python3-venv", "auditd",
    "iproute2", "procps", "openssh-server", "busybox-static", "ca-certificates",
    "rootlesskit", "uidmap", "slirp4netns", "dbus-user-session",
    "sudo",  # the README's first command: `sudo bash scripts/install.sh && sudo /usr/local/bin/dockharden plan`
)
REPO = Path(__file__).resolve().parents[2]
#: moby's contrib/dockerd-rootless.sh and dockerd-rootless-setuptool.sh of the engine's tag, as
#: Docker CE's docker-ce-rootless-extras installs them in /usr/bin (tests/systemd/ce/README.md).
CE_EXTRAS = Path(__file__).resolve().parent / "ce"
CE_ROOTLESS_SCRIPTS = ("dockerd-rootless.sh", "dockerd-rootless-setuptool.sh")
#: What an engine tarball must hold (docker-engine-VERSION-linux-amd64.tar.zst, see
#: scripts/build-engine29.sh): both binaries go to /usr/bin, both units to /usr/lib/systemd/system.
CE_BINARIES = ("dockerd", "docker-proxy")
CE_UNITS = ("docker.service", "docker.socket")
#: The mmdebstrap hooks that turn the root filesystem into Docker CE's layout. mmdebstrap runs
#: each hook with ``sh -c``, $1 being the root filesystem; they are constants (the files come in
#: with copy-in hooks, from arguments).
CE_COMMAND_HOOKS = (
    # the docker group, as docker-ce's postinst makes it (docker.socket's SocketGroup=docker)
    'chroot "$1" groupadd --system docker',
    # docker-init is tini, as Docker CE ships it (Debian's tini-static provides the binary)
    'ln -s tini-static "$1/usr/bin/docker-init"',
    'chroot "$1" systemctl enable docker.socket docker.service',
)


@dataclass(frozen=True)
class CELayout:
    """An engine installed as Docker CE installs it, from a tarball made of moby's release tag.

    The tarball is ``REPO/../shared/engines/NAME`` unless the environment variable ``env`` names
    another file. A missing tarball makes the build (and so every test of the line) fail, with
    how to make it."""

    tarball_name: str
    env: str

    @property
    def tarball(self) -> Path:
        override = os.environ.get(self.env)
        return Path(override) if override else (REPO.parent / "shared" / "engines" / self.tarball_name).resolve()

    def missing(self) -> str | None:
        """Why the tarball cannot be used (None when it is there)."""
        if self.tarball.is_file():
            return None
        return (f"the engine tarball {self.tarball} is missing: rebuild it from moby's tag with "
                f"`scripts/build-engine29.sh` (about 3 minutes), or point {self.env} at a copy")

    def sha256(self) -> str:
        why = self.missing()
        if why:
            raise BuildError(why)
        return _file_sha256(str(self.tarball), self.tarball.stat().st_mtime_ns)

    def extras_sha256(self) -> str:
        digest = hashlib.sha256()
        for name in CE_ROOTLESS_SCRIPTS:
            digest.update(name.encode() + b"\0" + (CE_EXTRAS / name).read_bytes())
        return digest.hexdigest()


@cache
def _file_sha256(path: str, _mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Engine:
    """A Docker Engine line: as Debian ships it in one suite, or in Docker CE's layout (``ce``)
    on a suite's containerd, runc and CLI."""

    id: str  # the pytest parameter id, e.g. "trixie-26.1"
    suite: str
    docker_major: int
    extra_packages: tuple[str, ...] = ()
    apt_options: tuple[str, ...] = ()
    ce: CELayout | None = None

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(sorted(set(COMMON_PACKAGES + self.extra_packages)))

    @property
    def key(self) -> str:
        """SUITE-HASH (SUITE-ceMAJOR-HASH in Docker CE's layout). Raises BuildError when the
        engine tarball of a CE line is missing (its hash is part of the key)."""
        recipe = {"suite": self.suite, "packages": self.packages, "apt_options": self.apt_options,
                  "recipe": RECIPE_VERSION, "variant": "minbase"}
        prefix = self.suite
        if self.ce is not None:  # absent for the Debian lines, so their keys stay what they were
            recipe["ce"] = {"tarball_sha256": self.ce.sha256(), "extras_sha256": self.ce.extras_sha256(),
                            "hooks": CE_COMMAND_HOOKS}
            prefix = f"{self.suite}-ce{self.docker_major}"
        digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
        return f"{prefix}-{digest}"

    @property
    def tarball(self) -> Path:
        return CACHE / "rootfs" / f"{self.key}.tar.zst"

    @property
    def base(self) -> Path:
        return CACHE / "base" / self.key

    @property
    def lock_file(self) -> Path:
        return CACHE / "locks" / f"{self.key}.lock"

    @property
    def log_file(self) -> Path:
        return CACHE / "logs" / f"{self.key}.log"


#: sid's Release file on the mirror is past its Valid-Until date.
_SID_APT = ('Acquire::Check-Valid-Until "false"',)
ENGINES = (
    Engine("bookworm-20.10", "bookworm", 20, extra_packages=("docker.io",)),
    # From trixie on the CLI is a package of its own.
    Engine("trixie-26.1", "trixie", 26, extra_packages=("docker.io", "docker-cli")),
    Engine("sid-28.5", "sid", 28, extra_packages=("docker.io", "docker-cli"), apt_options=_SID_APT),
    # Docker CE's layout: no docker.io at all (so nothing of Debian's daemon, units or init script),
    # sid's containerd 2.1, runc 1.3 and CLI 28.5 (API 1.51; Engine 29 needs 1.44 or newer), tini
    # as docker-init, and Engine 29.7.2 built from moby's tag (../shared/engines/README.md).
    # nftables: the nftables layer's table is loaded by dockharden-nftables.service (nft -f).
    Engine("ce-29.7", "sid", 29, extra_packages=("docker-cli", "containerd", "runc", "tini-static",
                                                 "nftables"),
           apt_options=_SID_APT,
           ce=CELayout("docker-engine-29.7.2-linux-amd64.tar.zst", "DOCKHARDEN_ENGINE29_TARBALL")),
)
ENGINES_BY_ID = {e.id: e for e in ENGINES}
#: The Debian line of each suite (a suite's CE line is selected by its id).
ENGINES_BY_SUITE = {e.suite: e for e in ENGINES if e.ce is None}


class BuildError(RuntimeError):
    """A root filesystem could not be built or unpacked; the message carries the log's tail."""


# ------------------------------------------------------------------------------------ the mirror
def _os_codename() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    raise BuildError("no VERSION_CODENAME in /etc/os-release")


def _deb822_entries(text: str) -> Iterator[dict[str, str]]:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        last = None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and last:
                fields[last] += " " + line.strip()
                continue
            name, _, value = line.partition(":")
            last = name.strip().lower()
            fields[last] = value.strip()
        if fields:
            yield fields


def _one_line_entries(text: str) -> Iterator[dict[str, str]]:
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        parts = re.sub(r"\[[^\]]*\]", " ", line).split()
        if len(parts) >= 3:
            yield {"types": "deb", "uris": parts[1], "suites": parts[2],
                   "components": " ".join(parts[3:])}


def apt_entries(etc_apt: Path = Path("/etc/apt")) -> list[dict[str, str]]:
    """Every enabled source of this machine's apt, deb822 and one-line style alike."""
    entries: list[dict[str, str]] = []
    for path in sorted((etc_apt / "sources.list.d").glob("*.sources")):
        entries += [e for e in _deb822_entries(path.read_text()) if e.get("enabled", "yes") != "no"]
    lists = sorted((etc_apt / "sources.list.d").glob("*.list"))
    if (etc_apt / "sources.list").is_file():
        lists.insert(0, etc_apt / "sources.list")
    for path in lists:
        entries += list(_one_line_entries(path.read_text()))
    return entries


def debian_mirror(etc_apt: Path = Path("/etc/apt"), codename: str | None = None) -> str:
    """The URI this machine installs its own Debian release from (its suite, component main)."""
    codename = codename or _os_codename()
    for entry in apt_entries(etc_apt):
        if ("deb" in entry.get("types", "").split() and codename in entry.get("suites", "").split()
                and "main" in entry.get("components", "").split()):
            return entry["uris"].split()[0].rstrip("/")
    raise BuildError(f"no apt source for {codename} main in {etc_apt}/sources.list(.d): "
                     "the root filesystems are built from the machine's own Debian mirror")


# ---------------------------------------------------------------------------------------- build
@contextmanager
def _locked(engine: Engine, blocking: bool = True) -> Iterator[bool]:
    engine.lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(engine.lock_file, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _remove_stale(engine: Engine) -> None:
    """Temporary leftovers of an interrupted build of this key (we hold its lock)."""
    for parent, prefix in ((engine.tarball.parent, f".{engine.key}."), (engine.base.parent, f".{engine.key}.")):
        if parent.is_dir():
            for stale in parent.glob(prefix + "*"):
                shutil.rmtree(stale) if stale.is_dir() and not stale.is_symlink() else stale.unlink()


def mmdebstrap_argv(engine: Engine, out: Path, mirror: str, ce_files: Path | None = None) -> list[str]:
    """ce_files: for a CE line, the directory the engine tarball was unpacked into."""
    argv = ["mmdebstrap", "--variant=minbase", "--mode=root",
            "--include=" + ",".join(engine.packages)]
    argv += [f"--aptopt={opt}" for opt in engine.apt_options]
    if engine.ce is not None:
        if ce_files is None:
            raise ValueError(f"{engine.id} is in Docker CE's layout: give the unpacked engine tarball")
        bins = [str(ce_files / b) for b in CE_BINARIES] + [str(CE_EXTRAS / s) for s in CE_ROOTLESS_SCRIPTS]
        argv += ["--customize-hook=copy-in " + " ".join(bins) + " /usr/bin",
                 "--customize-hook=copy-in " + " ".join(str(ce_files / u) for u in CE_UNITS)
                 + " /usr/lib/systemd/system"]
        argv += [f"--customize-hook={hook}" for hook in CE_COMMAND_HOOKS]
    return [*argv, engine.suite, str(out), f"deb {mirror} {engine.suite} main"]


def _unpack_engine_tarball(engine: Engine, into: Path, log) -> Path:
    """The CE line's engine tarball unpacked into a fresh directory ``into``; checks it holds
    the two binaries and the two units."""
    assert engine.ce is not None
    into.mkdir(parents=True)
    argv = ["tar", "-C", str(into), "--use-compress-program=zstd", "-xf", str(engine.ce.tarball),
            *CE_BINARIES, *CE_UNITS]
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise BuildError(f"{engine.ce.tarball} lacks one of {', '.join(CE_BINARIES + CE_UNITS)} "
                         f"(tar exited {proc.returncode}); rebuild it with scripts/build-engine29.sh")
    for name in CE_BINARIES:
        os.chmod(into / name, 0o755)
    for name in CE_UNITS:
        os.chmod(into / name, 0o644)
    return into


def _build_tarball(engine: Engine, log) -> None:
    mirror = debian_mirror()
    tmp = engine.tarball.with_name(f".{engine.key}.{os.getpid()}.tar.zst")
    ce_files = None
    if engine.ce is not None:
        ce_files = _unpack_engine_tarball(engine, engine.tarball.with_name(f".{engine.key}.{os.getpid()}.engine"), log)
    try:
        _run_mmdebstrap(engine, tmp, mmdebstrap_argv(engine, tmp, mirror, ce_files), log)
    finally:
        if ce_files is not None:
            shutil.rmtree(ce_files, ignore_errors=True)


def _run_mmdebstrap(engine: Engine, tmp: Path, argv: list[str], log) -> None:
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    started = time.monotonic()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                          env=dict(os.environ, LC_ALL="C.UTF-8"))
    log.write(f"--- mmdebstrap exited {proc.returncode} after {time.monotonic() - started:.1f} s\n")
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"mmdebstrap {engine.suite} failed ({proc.returncode})")
    os.rename(tmp, engine.tarball)


def _unpack(engine: Engine, log) -> None:
    tmp = engine.base.with_name(f".{engine.key}.{os.getpid()}")
    tmp.mkdir(parents=True)
    started = time.monotonic()
    argv = ["tar", "-C", str(tmp), "--numeric-owner", "--xattrs", "--xattrs-include=*",
            "--use-compress-program=zstd", "-xpf", str(engine.tarball)]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    log.write(f"--- unpack exited {proc.returncode} after {time.monotonic() - started:.1f} s\n")
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BuildError(f"unpacking {engine.tarball} failed ({proc.returncode})")
    os.rename(tmp, engine.base)


def _log_tail(engine: Engine, n: int = 40) -> str:
    try:
        return "\n".join(engine.log_file.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def ensure_base(engine: Engine) -> Path:
    """The engine's unpacked root filesystem, built and unpacked first if the cache lacks it.

    Blocks while another process builds the same key. Raises :class:`BuildError` with the end
    of the build log when mmdebstrap or tar fails.
    """
    if engine.ce is not None and engine.ce.missing():
        raise BuildError(engine.ce.missing())
    if engine.base.is_dir():
        return engine.base
    with _locked(engine):
        if engine.base.is_dir():
            return engine.base
        _remove_stale(engine)
        for d in (engine.tarball.parent, engine.base.parent, engine.log_file.parent):
            d.mkdir(parents=True, exist_ok=True)
        try:
            with open(engine.log_file, "w") as log:
                if not engine.tarball.is_file():
                    _build_tarball(engine, log)
                _unpack(engine, log)
        except BuildError as exc:
            raise BuildError(f"{exc}; log {engine.log_file}:\n{_log_tail(engine)}") from None
    return engine.base


def build_in_background(engines: list[Engine]) -> list[subprocess.Popen]:
    """Start a builder process for each engine whose base is missing (each in a session of
    its own, so the caller can end it and its mmdebstrap by process group)."""
    procs = []
    for engine in engines:
        if (engine.ce is not None and engine.ce.missing()) or engine.base.is_dir():
            continue  # a missing engine tarball: ensure_base fails the tests with how to make it
        engine.log_file.parent.mkdir(parents=True, exist_ok=True)
        procs.append(subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "build", "--if-free", engine.id],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True))
    return procs


def guest_python_version(base: Path) -> str:
    """"3.11" for the python3 of an unpacked root filesystem (from /usr/bin/python3's link)."""
    target = os.readlink(base / "usr/bin/python3")
    match = re.fullmatch(r"python(\d+\.\d+)", os.path.basename(target))
    if not match:
        raise BuildError(f"{base}/usr/bin/python3 links to {target!r}, not pythonX.Y")
    return match.group(1)


# -------------------------------------------------------------------------------------- command
def _select(names: list[str]) -> list[Engine]:
    if not names:
        return list(ENGINES)
    try:
        return [ENGINES_BY_SUITE.get(n) or ENGINES_BY_ID[n] for n in names]
    except KeyError as exc:
        raise SystemExit(f"rootfs: unknown suite or engine {exc}; known: {', '.join(ENGINES_BY_ID)}") from None


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("build", "list"):
        print(__doc__.split("Also a command", 1)[1], file=sys.stderr)
        return 2
    if argv[0] == "list":
        for e in ENGINES:
            if e.ce is not None and e.ce.missing():
                print(f"{e.id:16} {'-':27} {'no-engine':9} {e.ce.missing()}")
                continue
            state = "unpacked" if e.base.is_dir() else "tarball" if e.tarball.is_file() else "missing"
            print(f"{e.id:16} {e.key:27} {state:9} {' '.join(e.packages)}")
            if e.ce is not None:
                print(f"{'':16} engine {e.ce.tarball}")
        return 0
    args = argv[1:]
    if_free = "--if-free" in args  # a background builder: leave a key someone else builds
    background = "--background" in args
    engines = _select([a for a in args if not a.startswith("--")])
    if background:
        for proc in build_in_background(engines):
            print(f"rootfs: building in the background, pid {proc.pid}")
        return 0
    failed = 0
    for engine in engines:
        started = time.monotonic()
        if if_free:
            with _locked(engine, blocking=False) as got:
                if not got:
                    continue
            # Released at once: ensure_base takes it again; a racer then finds the base built.
        try:
            ensure_base(engine)
            print(f"rootfs: {engine.id} ready in {time.monotonic() - started:.1f} s: {engine.base}")
        except BuildError as exc:
            print(f"rootfs: {engine.id}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
