"""One dockharden at a time per host: an exclusive flock on /var/lib/dockharden/lock.

Touches the machine. The kernel drops a flock when its holder dies (even by SIGKILL), so a lock left by
a dead process is simply free again; the pid and time written in the file say who holds a live one.
"""

from __future__ import annotations

import fcntl
import os
from datetime import datetime

from dockharden.errors import LockError
from dockharden.host.fs import HostFS

LOCK_PATH = "/var/lib/dockharden/lock"


class HostLock:
    """Context manager: take the lock at once or raise LockError naming the holder."""

    def __init__(self, root: str, now: datetime, purpose: str) -> None:
        self.fs = HostFS(root)
        self.now = now
        self.purpose = purpose
        self.fd: int | None = None

    def __enter__(self) -> HostLock:
        directory = self.fs.make_private_dir(os.path.dirname(LOCK_PATH))
        # the lock file itself is never a symlink to follow (O_NOFOLLOW): it is opened where it is
        fd = os.open(directory / os.path.basename(LOCK_PATH), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # the holder wrote one line; anything else in the file is not shown as if it were ours
            holder = " ".join(os.pread(fd, 200, 0).decode(errors="replace").split()) or "another process"
            os.close(fd)
            raise LockError(f"another dockharden run holds the lock ({holder})",
                            hint="wait for it to finish; a lock whose holder died is released by the kernel",
                            path=LOCK_PATH) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, {self.purpose} since {self.now.isoformat(timespec='seconds')}\n"
                  .encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
