"""Replace files atomically and keep copies of what they were: the only module that writes host files.

Touches the machine. Recipe (as ansible's atomic_move): temp file in the same directory, write,
chmod/chown, fsync, rename over the target, fsync the directory. Never writes outside `root`.
"""

from __future__ import annotations

import os
from pathlib import Path

from dockharden.errors import ApplyError, from_os_error

DIR_MODE = 0o755


def resolve_inside(root: str, path: str) -> Path:
    """The real file behind host path `path` under root (symlinks resolved as if root were /)."""
    from dockharden.host import resolve_in_root

    return resolve_in_root(root, path)


def atomic_write(root: str, path: str, content: bytes, mode: int, uid: int = 0, gid: int = 0) -> None:
    """Put `content` at `path` (under root) so a reader sees the old or the new file, never a mix."""
    target = resolve_inside(root, path)
    _make_parents(target.parent, uid, gid)
    tmp = target.parent / f".{target.name}.dockharden-{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(fd, content)
            _set_owner(fd, uid, gid)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        _remove_quietly(tmp)
        raise from_os_error(exc, "could not write it", path=path, error=ApplyError,
                            then="the previous file is unchanged") from None
    fsync_dir(target.parent)


def remove(root: str, path: str) -> None:
    """Delete `path` (under root) durably; a missing file is fine."""
    target = resolve_inside(root, path)
    try:
        target.unlink()
    except FileNotFoundError:
        return
    fsync_dir(target.parent)


def copy_preserving(source: Path, dest: Path, mode: int) -> None:
    """Copy bytes into a backup, with the original's mode, durably."""
    with open(source, "rb") as src:
        data = src.read()
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_all(fd, data)
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private_dir(path: Path) -> None:
    """A 0700 directory (and its parents), whatever the umask."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_parents(directory: Path, uid: int, gid: int) -> None:
    """Create missing directories; in a user's home (a rootless daemon's file) they are the user's."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for made in reversed(missing):
        made.mkdir(mode=DIR_MODE)
        if uid and os.geteuid() == 0:
            os.chown(made, uid, gid)
        fsync_dir(made.parent)


def _write_all(fd: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(fd, view):]


def _set_owner(fd: int, uid: int, gid: int) -> None:
    if os.geteuid() == 0:
        os.fchown(fd, uid, gid)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


