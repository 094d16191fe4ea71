"""Wheels to install dockharden inside a machine that has no network, as an operator would offline.

- the project's wheel: ``pip wheel --no-deps`` of a copy of this checkout (so the work tree gets no
  build/ directory), cached by a hash of the files that go into it;
- its dependencies as binary wheels for the guest's Python (bookworm 3.11, trixie 3.13, sid 3.14):
  ``pip download --only-binary=:all: --python-version X.Y --platform manylinux...``, cached by
  Python version + requirements.

Both under ``CACHE/wheels/``, made under a temporary name and renamed into place under a lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rootfs import CACHE

REPO = Path(__file__).resolve().parents[2]
#: What the project's wheel is made of.
SOURCES = ("pyproject.toml", "README.md", "build_hooks.py", "scripts/compile-schemas.py", "dockharden", "profiles",
           "templates")
#: glibc 2.36 (bookworm) and newer: wheels tagged up to manylinux_2_34 run on every guest.
PLATFORMS = ("manylinux_2_34", "manylinux_2_28", "manylinux_2_17", "manylinux2014")


class WheelError(RuntimeError):
    """pip could not build or download a wheel; the message carries pip's output."""


@contextmanager
def _lock(name: str) -> Iterator[None]:
    path = CACHE / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _source_files() -> list[Path]:
    files = []
    for name in SOURCES:
        p = REPO / name
        files += [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
    return files


def _source_hash() -> str:
    h = hashlib.sha256()
    for f in _source_files():
        h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def requirements() -> list[str]:
    return list(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])


def _pip(argv: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *argv], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=900,
                          env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_ROOT_USER_ACTION="ignore"))
    if proc.returncode != 0:
        raise WheelError(f"pip {' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")


def _cached_dir(name: str, make) -> Path:
    """CACHE/wheels/NAME, made by make(tmp_dir) if missing."""
    final = CACHE / "wheels" / name
    if final.is_dir():
        return final
    with _lock(f"wheels-{name}"):
        if final.is_dir():
            return final
        tmp = final.with_name(f".{name}.{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            make(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        os.rename(tmp, final)
    return final


def project_wheel_dir() -> Path:
    """A directory holding the wheel of this checkout as it is now."""

    def make(out: Path) -> None:
        src = out.parent / f".src-{out.name}"
        shutil.rmtree(src, ignore_errors=True)
        try:
            for f in _source_files():
                dest = src / f.relative_to(REPO)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, dest)
            _pip(["wheel", "--no-deps", "--quiet", "-w", str(out), str(src)])
        finally:
            shutil.rmtree(src, ignore_errors=True)

    return _cached_dir(f"project-{_source_hash()}", make)


def dependency_wheel_dir(python_version: str) -> Path:
    """A directory holding binary wheels of dockharden's dependencies for CPython python_version."""
    reqs = requirements()
    machine = platform.machine()
    key = hashlib.sha256("\n".join([python_version, machine, *PLATFORMS, *sorted(reqs)]).encode()).hexdigest()[:12]

    def make(out: Path) -> None:
        argv = ["download", "--quiet", "--only-binary=:all:", "--implementation", "cp",
                "--python-version", python_version, "-d", str(out)]
        for tag in PLATFORMS:
            argv += ["--platform", f"{tag}_{machine}"]
        _pip([*argv, *reqs])

    return _cached_dir(f"deps-py{python_version}-{key}", make)


def build_requirement_wheel_dir() -> Path:
    """A directory holding wheels of pyproject.toml's [build-system] requires (pure Python): what pip needs
    to build dockharden from a checkout or an sdist on a machine without an index."""
    reqs = list(tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"])
    key = hashlib.sha256("\n".join(sorted(reqs)).encode()).hexdigest()[:12]
    return _cached_dir(f"build-{key}", lambda out: _pip(["download", "--quiet", "--only-binary=:all:", "-d", str(out), *reqs]))


def wheelhouse(python_version: str) -> list[Path]:
    """The directories to give ``pip install --no-index --find-links`` inside a guest."""
    return [project_wheel_dir(), dependency_wheel_dir(python_version)]
