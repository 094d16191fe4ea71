"""One dockharden at a time per host: an exclusive flock on /var/lib/dockharden/lock.

Touches the machine. The kernel drops a flock when its holder dies (even by SIGKILL), so a lock left by
a dead process is simply free again; the pid and time written in the file say who holds a live one.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from datetime import datetime

from dockharden.errors import LockError
from dockharden.host.fs import HostFS, open_own

LOCK_PATH = "/var/lib/dockharden/lock"


WAIT_STEP = 0.1  # seconds between two tries while waiting (`--lock-timeout`)


class HostLock:
    """Context manager: take the lock, at once or within `wait` seconds (`--lock-timeout`, as terraform's
    -lock-timeout: a fleet run waits for a scheduled one), else raise LockError naming the holder.
    `checkpoint` is called between tries: a signal noted while waiting ends the wait (execute/interrupts.py)."""

    def __init__(self, root: str, now: datetime, purpose: str, *, wait: float = 0.0,
                 checkpoint: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.fs = HostFS(root)
        self.now = now
        self.purpose = purpose
        self.wait, self.checkpoint, self.clock, self.sleep = wait, checkpoint, clock, sleep
        self.fd: int | None = None

    def __enter__(self) -> HostLock:
        directory = self.fs.make_private_dir(os.path.dirname(LOCK_PATH))
        # the lock file itself is never a symlink to follow: refused, naming its host path
        fd = open_own(directory / os.path.basename(LOCK_PATH), os.O_RDWR | os.O_CREAT, 0o600, shown=LOCK_PATH)
        os.fchmod(fd, 0o600)  # whatever the umask
        deadline = self.clock() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - self.clock()
                if left > 0:
                    try:
                        if self.checkpoint:
                            self.checkpoint("while waiting for another run's lock; nothing was changed")
                    except BaseException:
                        os.close(fd)
                        raise
                    self.sleep(min(WAIT_STEP, left))
                    continue
                # the holder wrote one line; anything else in the file is not shown as if it were ours
                holder = " ".join(os.pread(fd, 200, 0).decode(errors="replace").split()) or "another process"
                os.close(fd)
                waited = f" after waiting {self.wait:g} s" if self.wait else ""
                raise LockError(f"another dockharden run holds the lock ({holder}){waited}",
                                hint="wait for it to finish, or give --lock-timeout 5m to wait for it; a lock whose "
                                     "holder died is released by the kernel", path=LOCK_PATH) from None
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
