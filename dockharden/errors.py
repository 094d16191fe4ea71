"""Typed errors. Each carries a message, a hint and an exit status; only cli.py turns them into exits.

Pure: no I/O. A user never sees a traceback for bad input: every expected failure is one of these.
"""

from __future__ import annotations

import errno


class DockhardenError(Exception):
    """An expected failure, explained to the operator in one paragraph."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "", *, path: str = "", key: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = path
        self.key = key

    def paragraph(self) -> str:
        """The whole explanation as one paragraph: where, what, and how to fix it."""
        where = self.path
        if self.key:
            where = f"{where}, key `{self.key}`" if where else f"key `{self.key}`"
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text = f"{text.rstrip('.')}. Hint: {self.hint}"
        return text

    def __str__(self) -> str:
        return self.paragraph()


class LayerError(DockhardenError):
    """A layer file cannot be found, parsed or validated."""


class HostFileError(DockhardenError):
    """A file on the host (daemon.json, after.rules, ...) cannot be read or understood."""


class SchemaError(DockhardenError):
    """A value does not match the daemon.json or layer schema."""


class ConflictError(DockhardenError):
    """The merged settings contradict each other or how the daemon runs."""


class RenderError(DockhardenError):
    """A rendered file failed its own validation (iptables-restore --test, audit syntax, ...)."""


class ApplyError(DockhardenError):
    """Applying a plan failed; the host was restored."""


class PortsClosedError(DockhardenError):
    """A run without a question would close running containers' published ports, and no one chose that.
    `closure` is the model.PortClosure it refused."""

    closure = None


class LockError(DockhardenError):
    """Another dockharden run holds the lock."""


class RootError(DockhardenError):
    """The directory given as --root cannot be the host's root."""


class ProbeError(DockhardenError):
    """--probe was asked for and no probe container ran, so nothing it would show was seen."""


# The hint that fits each reason the system gives (errno), so a full disk is never told to "run as root".
OS_HINTS = {
    errno.ENOENT: "check the path: it, or a directory on the way to it, does not exist",
    errno.ENOTDIR: "a part of the path is a file where a directory is expected: check the path",
    errno.EISDIR: "a directory stands where a file is expected: check the path, or move the directory away",
    errno.EEXIST: "something already has this name (a file where a directory is expected?): move it away",
    errno.EACCES: "run dockharden as root, and check the modes of the directories on the way",
    errno.EPERM: "not even root may do this here: look for an immutable attribute (lsattr), a read-only bind "
                 "mount or a security module (SELinux, AppArmor) refusing it",
    errno.EROFS: "the filesystem is mounted read-only: remount it read-write, or work on a writable copy with --root",
    errno.ENOSPC: "the filesystem is full: free some space there (df -h shows which) and run again",
    errno.EDQUOT: "a disk quota is used up: raise it or free some space",
    errno.ELOOP: "a symlink loop, or too many symlinks on the way: fix the symlinks",
    errno.ENAMETOOLONG: "the path is too long: shorten it",
    errno.EIO: "the disk or the filesystem returned an I/O error: check the kernel log (dmesg) before going on",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n)",
    errno.ENFILE: "the system has too many open files: close some, or raise fs.file-max",
    errno.ENOMEM: "the system is out of memory: free some and run again",
    errno.EBUSY: "it is busy, or a mount point (a file bind-mounted into a container cannot be replaced): change "
                 "it where it is mounted from",
    errno.EXDEV: "the path crosses filesystems where a rename cannot: keep the file and its directory on one "
                 "filesystem",
    errno.ETXTBSY: "a running program holds it: stop the program first",
}


def os_error_hint(exc: OSError) -> str:
    """The hint that fits why the system refused (its errno)."""
    return OS_HINTS.get(exc.errno or 0, f"the system refused it ({exc.strerror or exc}); check the path")


def from_os_error(exc: OSError, doing: str = "", path: str = "", error: type[DockhardenError] = DockhardenError,
                  then: str = "") -> DockhardenError:
    """`exc` as a typed error: what failed, the system's reason, and the hint for that reason.

    `then` adds what the operator should know after the fix (e.g. "nothing was changed").
    """
    reason = exc.strerror or str(exc)
    message = f"{doing}: {reason}" if doing else reason
    hint = os_error_hint(exc) + (f"; {then}" if then else "")
    return error(message, hint=hint, path=path or (str(exc.filename) if exc.filename else ""))


class StateError(DockhardenError):
    """dockharden's own state (a generation record, managed.json) is damaged: cut short or edited by hand."""
