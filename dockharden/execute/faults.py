"""Named failpoints for the fault-injection tests: SIGKILL, pause or fail dockharden at a chosen step.

A failpoint is a parameter (`Request.failpoint`, `Engine.failpoint`, `Context.failpoint`), a callable
given the point's name; production code calls it and, by default, it does nothing. The `dockharden`
command never builds one: only the tests' entry point (tests/failpoints.py) builds one from the
environment (`from_environment`) and gives it to cli.run: DOCKHARDEN_FAILPOINT=`kill:after-record` kills at
that point, `pause:after-lock` holds there until the test releases it, `fail:during-verify` fails the step
there as a refused check would. The points: during-plan, after-lock, after-record, after-write-N (N counts
the plan's changes from 0), during-restart, during-verify.

A pause waits on marks, never on a wall-clock window: DOCKHARDEN_FAILPOINT_RELEASE names a FIFO the test
made, which the pause opens first; DOCKHARDEN_FAILPOINT_MARK names a file the pause then creates (the test
knows the point is reached, the FIFO is open), and the pause holds until the test writes to the FIFO or
closes it (`release`). A signal meanwhile is handled as anywhere else (noted, or raised before any change).
A pause holds the first time the run reaches its point only: a rollback that passes the same point again
(its own restart at during-restart) goes on, as the test released the run once.
`pause:POINT:SECONDS` without a FIFO sleeps instead: a window of time, kept only where a test has no mark
for what the window gave (docs/testing.md names them).
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable, Mapping


def nowhere(name: str) -> None:
    """The failpoint of a normal run: nothing happens anywhere."""


def from_environment(environ: Mapping[str, str]) -> Callable[[str], None]:
    """The failpoint DOCKHARDEN_FAILPOINT asks for (`nowhere` when it is not set)."""
    spec = environ.get("DOCKHARDEN_FAILPOINT", "")
    if not spec:
        return nowhere
    action, _, rest = spec.partition(":")
    where, _, arg = rest.partition(":")
    mark = environ.get("DOCKHARDEN_FAILPOINT_MARK")
    release = environ.get("DOCKHARDEN_FAILPOINT_RELEASE", "")

    reached = []

    def point(name: str) -> None:
        if name == where and not (action == "pause" and reached):
            reached.append(name)
            _act(action, arg, mark, release, name)
    return point


def _act(action: str, arg: str, mark: str | None, release: str, name: str) -> None:
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "pause":
        if release or not arg:
            _hold(mark, release)
        else:  # `pause:POINT:SECONDS`, a window of time: only where a test has no mark yet (docs/testing.md)
            if mark:
                open(mark, "w").close()
            time.sleep(float(arg))
    elif action == "fail":
        from dockharden.errors import ApplyError

        raise ApplyError(f"injected failure at {name} (DOCKHARDEN_FAILPOINT)")


def _hold(mark: str | None, release: str) -> None:
    """Hold until the test writes to or closes the FIFO `release` (opened before `mark` is created, so the
    test's own open of the FIFO for writing never finds no reader)."""
    if not release:
        raise RuntimeError("a pause failpoint needs DOCKHARDEN_FAILPOINT_RELEASE (a FIFO the test releases)")
    fd = os.open(release, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO opened so never blocks
    try:
        if mark:
            open(mark, "w").close()
        waiting = select.poll()
        waiting.register(fd, select.POLLIN)
        waiting.poll()  # until a writer came and wrote or went (Linux reports no hang-up before a writer came)
    finally:
        os.close(fd)


def release(fifo: str) -> None:
    """The test's side: let the process held at the pause go on (its reader has the FIFO open)."""
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, b"go\n")
    finally:
        os.close(fd)
