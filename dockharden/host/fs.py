"""The host's filesystem as dockharden sees it: every read and write of a host path goes through here.

Touches the machine. A host path (`/etc/docker/daemon.json`) is found under `root` (`/` on a live host, an
image or chroot otherwise) by resolving it as if `root` were `/`: each symlink on the way is followed
inside the root (an absolute target starts again at the root, a relative one may not climb above it),
so no read, write, lock, backup or cleanup ever lands outside the root. Reads take regular files only,
judged on the opened descriptor, up to a size limit; writes are atomic (ansible's atomic_move recipe:
a temporary file in the same directory, written, chmod/chown, fsync, renamed over the target, the
directory fsync'd). dockharden's own outputs (reports, textfiles, units) go through write_own, which
refuses a symlink at the path instead of following it. Every directory and file made here gets its mode
by chmod, never from the umask.
"""

from __future__ import annotations

import errno
import os
import stat
from functools import cached_property
from pathlib import Path

from dockharden.errors import ApplyError, DockhardenError, HostFileError, from_os_error
from dockharden.model import HostFile

MAX_FILE = 16 << 20  # a daemon.json, after.rules or unit file is kilobytes; more is not a config file
MAX_HOPS = 40  # symlinks followed for one path, as the kernel's own ELOOP limit
DIR_MODE = 0o755
READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | os.O_NOFOLLOW


class HostFS:
    """The filesystem under `root`, addressed by host paths. A plain class: made at every start, where a
    plan defines no dataclass (model.py; the cost is measured in docs/performance.md)."""

    def __init__(self, root: str = "/") -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"HostFS(root={self.root!r})"

    @cached_property
    def _base(self) -> str:
        return os.path.realpath(self.root)

    @property
    def base(self) -> Path:
        return Path(self._base)

    @property
    def live(self) -> bool:
        """The root is this machine's own `/` (a daemon, a kernel and /proc go with it)."""
        return self._base == "/"

    # --- where a host path really is -------------------------------------------------------------

    def real(self, path: str, *, follow_last: bool = True) -> Path:
        """The real location of host path `path` under the root; `follow_last=False` keeps a final
        symlink itself (to replace or remove the link, or to read what it says)."""
        return Path(self._resolve(path, follow_last))

    def _resolve(self, path: str, follow_last: bool = True) -> str:
        """real(), as a string: what the readers below hand to os (a Path costs more to make than to use)."""
        base = self._base
        parts = [p for p in os.path.normpath("/" + path).split("/") if p]
        parts.reverse()  # popped from the end: the next component is parts[-1]
        current, hops = base, 0
        while parts:
            part = parts.pop()
            if part == "..":
                if current == base and base != "/":
                    raise HostFileError("a symlink on the way leads outside the root; dockharden never reads or "
                                        "writes there", hint="point the symlink inside the root", path=path)
                current = os.path.dirname(current) if current != base else base
                continue
            candidate = os.path.join(current, part)
            if not (parts or follow_last) or not os.path.islink(candidate):
                current = candidate
                continue
            hops += 1
            if hops > MAX_HOPS:
                raise HostFileError("too many levels of symlinks", hint="fix the symlink loop", path=path)
            target = os.readlink(candidate)
            parts += reversed([p for p in target.split("/") if p and p != "."])
            current = base if target.startswith("/") else current
        return current

    def host_path(self, real: Path | str) -> str:
        """The host path of a real location under the root."""
        rel = os.path.relpath(real, self._base)
        return "/" if rel == "." else "/" + rel

    # --- reading ---------------------------------------------------------------------------------

    def read(self, path: str, *, limit: int = MAX_FILE) -> HostFile:
        """A file's bytes, mode and owner; following a symlink inside the root, whose own target and
        the real host path it leads to are recorded. Anything but a regular file is refused."""
        link_path = self._resolve(path, follow_last=False)
        link = os.readlink(link_path) if os.path.islink(link_path) else None
        full = self._resolve(path)
        real = self.host_path(full) if link else None
        try:
            # refused before opening: opening some devices acts (a watchdog arms), a socket cannot be opened;
            # the descriptor is checked again below, so a path swapped in between cannot slip through
            if not stat.S_ISREG(os.stat(full).st_mode):
                raise HostFileError("exists but is not a regular file", hint="move it away", path=path)
            fd = os.open(full, READ_FLAGS)
        except FileNotFoundError:
            return HostFile(path, exists=False, symlink_target=link, real_path=real)
        except OSError as exc:
            raise from_os_error(exc, "cannot read it", path=path, error=HostFileError) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise HostFileError("exists but is not a regular file", hint="move it away", path=path)
            data = read_at_most(fd, limit + 1, path)
        finally:
            os.close(fd)
        if len(data) > limit:
            raise HostFileError(f"is more than {limit >> 20} MiB; dockharden reads files of that kind only up to "
                                "that size", hint="check that this is the right file", path=path)
        return HostFile(path, exists=True, content=data, mode=stat.S_IMODE(info.st_mode), uid=info.st_uid,
                        gid=info.st_gid, symlink_target=link, real_path=real)

    def read_text(self, path: str, default: str = "") -> str:
        """A text file's contents (undecodable bytes replaced), `default` when it does not exist."""
        found = self.read(path)
        return found.content.decode(errors="replace") if found.exists else default

    def tail(self, path: str, start: int | None = None, size: int = 16384) -> str:
        """The end of a log file, from byte `start` when given (a file that shrank was rotated: all of it)."""
        try:
            full = self.real(path)
            fd = os.open(full, READ_FLAGS)
        except (OSError, HostFileError):
            return ""
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return ""
            begin = start if start is not None and start <= info.st_size else 0
            os.lseek(fd, max(begin, info.st_size - size), os.SEEK_SET)
            return read_at_most(fd, size, path).decode(errors="replace")
        except OSError:
            return ""
        finally:
            os.close(fd)

    def size(self, path: str) -> int:
        info = self.stat(path)
        return info.st_size if info else 0

    def stat(self, path: str, *, follow_last: bool = True) -> os.stat_result | None:
        """The status of what `path` names (None when nothing does)."""
        try:
            return os.lstat(self._resolve(path, follow_last))
        except (OSError, HostFileError):
            return None

    def exists(self, path: str) -> bool:
        """Something (even a dangling symlink) is at `path`."""
        return self.stat(path, follow_last=False) is not None

    def is_link(self, path: str) -> bool:
        info = self.stat(path, follow_last=False)
        return info is not None and stat.S_ISLNK(info.st_mode)

    def is_dir(self, path: str) -> bool:
        info = self.stat(path)
        return info is not None and stat.S_ISDIR(info.st_mode)

    def is_file(self, path: str) -> bool:
        info = self.stat(path)
        return info is not None and stat.S_ISREG(info.st_mode)

    def refuse_one_file_twice(self, paths) -> None:
        """Refuse (ConflictError) when two of `paths` are one file: a symlink from one to the other, or hard
        links (the same st_dev and st_ino). Writing both would make one the other's copy: after.rules
        linked to after6.rules would leave IPv4 with the IPv6 rules, and every plan would flip them."""
        from dockharden.errors import ConflictError

        seen: dict[tuple[int, int], str] = {}
        for path in dict.fromkeys(paths):
            info = self.stat(path)
            if info is None:
                continue
            first = seen.setdefault((info.st_dev, info.st_ino), path)
            if first != path:
                how = "a symlink leads from one to the other" if self.is_link(path) or self.is_link(first) else \
                    "they are hard links of one file"
                raise ConflictError(f"{first} and {path} are one file ({how}); dockharden manages each as a file "
                                    "of its own, and writing both would leave one with the other's content",
                                    hint=f"make {path} a file of its own (remove the link and copy the file); "
                                         "nothing was written", path=path)

    def list(self, directory: str, pattern: str = "*") -> list[str]:
        """Host paths of the entries of `directory` whose names match `pattern`, sorted."""
        try:
            real = self.real(directory)
            if not real.is_dir():
                return []
            names = sorted(p.name for p in real.glob(pattern))
        except (OSError, HostFileError):
            return []
        return [f"{directory.rstrip('/')}/{name}" for name in names]

    # --- writing ---------------------------------------------------------------------------------

    def write(self, path: str, content: bytes, mode: int, uid: int = 0, gid: int = 0, *,
              through_link: bool = True) -> None:
        """Put `content` at `path` so a reader sees the old or the new file, never a mix.

        `through_link` False: a symlink at `path` is replaced itself, never followed (a recovery restoring a
        file someone replaced by a link); write_own refuses it instead."""
        target = self.real(path, follow_last=through_link)
        self._make_parents(target.parent, uid, gid)
        tmp = target.parent / f".{target.name}.dockharden-{os.getpid()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                write_all(fd, content)
                if os.geteuid() == 0:
                    os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except OSError as exc:
            remove_quietly(tmp)
            raise from_os_error(exc, "could not write it", path=path, error=ApplyError,
                                then="the previous file is unchanged") from None
        except BaseException:  # an interrupt, or a mode or owner chmod/chown refuses: no temporary file stays
            remove_quietly(tmp)
            raise
        fsync_dir(target.parent)

    def write_own(self, path: str, content: bytes, mode: int) -> None:
        """Write one of dockharden's own files (a report, a textfile, a unit): as write(), but a symlink
        standing at `path` is refused, never followed, so no one else's file is replaced or gets its mode.
        The file is replaced by rename, so a second hard link to it keeps its old bytes and mode."""
        self._refuse_link_or_odd(self.real(path, follow_last=False), path)
        self.write(path, content, mode, through_link=False)

    @staticmethod
    def _refuse_link_or_odd(target: Path, path: str) -> None:
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise from_os_error(exc, "cannot look at it", path=path, error=HostFileError) from None
        if stat.S_ISLNK(info.st_mode):
            raise symlink_refused(target, path, "writes", "remove the symlink, or give a path where it can write "
                                                          "its file; nothing was written")
        if not stat.S_ISREG(info.st_mode):
            raise HostFileError("exists but is not a regular file", hint="move it away, or give another path; "
                                "nothing was written", path=path)

    def remove(self, path: str) -> None:
        """Delete the file at `path` durably (a symlink itself, never what it points at); missing is fine."""
        target = self.real(path, follow_last=False)
        try:
            target.unlink()
        except FileNotFoundError:
            return
        fsync_dir(target.parent)

    def remove_temporaries(self, path: str) -> None:
        """Leftover temporary files of an interrupted write of `path` (in its real directory)."""
        target = self.real(path)
        if target.parent.is_dir():
            for temp in target.parent.glob(f".{target.name}.dockharden-*"):
                if temp.is_file() and not temp.is_symlink():
                    temp.unlink(missing_ok=True)

    def make_private_dir(self, path: str) -> Path:
        """A 0700 directory at `path` (missing parents 0755, as every directory dockharden makes), whatever
        the umask; its real location."""
        real = self.real(path)
        self._make_parents(real.parent, 0, 0)
        try:
            real.mkdir(mode=0o700)
        except FileExistsError:
            pass
        os.chmod(real, 0o700)
        return real

    def _make_parents(self, directory: Path, uid: int, gid: int) -> None:
        """Create missing directories, 0755 whatever the umask (under 000 mkdir's mode would leave /var
        world-writable, under 077 the seccomp profile's directory closed to the docker group's CLI); in a
        user's home (a rootless daemon's file) they are the user's."""
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for made in reversed(missing):
            made.mkdir(mode=DIR_MODE)
            os.chmod(made, DIR_MODE)
            if uid and os.geteuid() == 0:
                os.chown(made, uid, gid)
            fsync_dir(made.parent)


def symlink_refused(real: Path | str, shown: str, verb: str, hint: str) -> HostFileError:
    """The refusal of a symlink standing where dockharden reads or writes one of its own files. It names
    `shown`, the path as the operator knows it on the host (`/var/lib/dockharden/lock`, whatever the
    root), and what the link says: never the real location under the root the accessor resolved."""
    try:
        says = f" (to {os.readlink(real)})"
    except OSError:
        says = ""
    return HostFileError(f"is a symlink{says}; dockharden {verb} its own files only where it finds a regular "
                         "file or nothing, never through a link", hint=hint, path=shown)


def open_own(real: Path, flags: int, mode: int = 0o600, *, shown: str) -> int:
    """Open one of dockharden's own files (the lock, a journal record, the reserve) at its real location,
    never through a symlink (O_NOFOLLOW). A refusal is a HostFileError naming `shown`, its host path."""
    try:
        return os.open(real, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(real):  # O_NOFOLLOW: the file itself is a link
            raise symlink_refused(real, shown, "opens", "remove the symlink: dockharden never makes one there, "
                                                        "and never follows one") from None
        raise from_os_error(exc, "cannot open it", path=shown, error=HostFileError) from None


def read_own(real: Path, limit: int = MAX_FILE, *, within: Path | None = None, shown: str = "") -> bytes:
    """One of dockharden's own files (a journal record, a backup) at its real location: never through a
    symlink, a regular file only, at most `limit` bytes. With `within` (a generation's directory), no
    directory between it and the file may be a symlink either (a linked files/ directory is refused).
    A final symlink is a HostFileError naming `shown` (the host path; the real one when not given)."""
    shown = shown or str(real)
    try:
        fd = _open_beneath(within, real) if within is not None else os.open(real, READ_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(real):
            raise symlink_refused(real, shown, "reads", "remove the symlink: dockharden never makes one there, "
                                                        "and never follows one") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(21, "not a regular file", shown)
        data = read_at_most(fd, limit + 1, shown)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise HostFileError(f"is more than {limit >> 20} MiB", hint="it is not a file dockharden wrote", path=shown)
    return data


def _open_beneath(within: Path, real: Path) -> int:
    """Open `real` under `within`, each directory on the way opened without following a symlink (ELOOP or
    ENOTDIR when one is a link)."""
    parts = Path(os.path.relpath(real, within)).parts
    if not parts or parts[0] == ".." or any(part in (".", "..") for part in parts):
        raise PermissionError(1, "outside its generation", str(real))
    dir_fd = os.open(within, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = next_fd
        return os.open(parts[-1], READ_FLAGS, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def copy_preserving(source: Path, dest: Path, mode: int, *, shown: str) -> None:
    """Copy the regular file `source` (a real path the accessor resolved; `shown`, its host path, is what a
    refusal names) into a backup, durably."""
    fd_in = os.open(source, READ_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd_in).st_mode):
            raise HostFileError("is not a regular file any more", hint="run again", path=shown)
        data = read_at_most(fd_in, MAX_FILE + 1, shown)
    finally:
        os.close(fd_in)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        write_all(fd, data)
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_at_most(fd: int, count: int, path: str, error: type[DockhardenError] = HostFileError) -> bytes:
    """At most `count` bytes from `fd`; a read error becomes `error` naming `path`."""
    chunks, left = [], count
    try:
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise from_os_error(exc, "cannot read it", path=path, error=error) from None
    return b"".join(chunks)


def write_all(fd: int, content: bytes) -> None:
    """Every byte of `content` to `fd` (os.write may write fewer than asked)."""
    view = memoryview(content)
    while view:
        view = view[os.write(fd, view):]


def remove_quietly(path: Path) -> None:
    """Remove a temporary file we made, if it is there; an error cleaning up never hides the first one."""
    try:
        path.unlink()
    except OSError:
        pass
