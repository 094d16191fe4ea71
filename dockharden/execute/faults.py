"""Named failpoints for the fault-injection tests: SIGKILL, pause or fail dockharden at a chosen step.

A failpoint is a parameter (`Request.failpoint`, `Engine.failpoint`, `Context.failpoint`), a callable
given the point's name; production code calls it and, by default, it does nothing. The `dockharden`
command never builds one: only the tests' entry point (tests/failpoints.py) builds one from the
environment (`from_environment`) and gives it to cli.run: DOCKHARDEN_FAILPOINT=`kill:after-record` kills at
that point, `pause:after-lock:3` sleeps there 3 seconds, `fail:during-verify` fails the step there as a
refused check would. The points: during-plan, after-lock, after-record, after-write-N (N counts the
plan's changes from 0), during-restart, during-verify. With DOCKHARDEN_FAILPOINT_MARK set, a pause first
creates that file: a test knows the point is reached.
"""

from __future__ import annotations

import os
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

    def point(name: str) -> None:
        if name == where:
            _act(action, arg, mark, name)
    return point


def _act(action: str, arg: str, mark: str | None, name: str) -> None:
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "pause":
        if mark:
            open(mark, "w").close()
        time.sleep(float(arg or 5))
    elif action == "fail":
        from dockharden.errors import ApplyError

        raise ApplyError(f"injected failure at {name} (DOCKHARDEN_FAILPOINT)")
