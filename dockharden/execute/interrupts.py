"""SIGINT, SIGTERM and SIGHUP: held until the next step boundary inside a transaction, raised outside.

Touches the process's signal handlers, and only inside the two context managers below: `raising` (the
command line's entry point) and `Deferral` (an apply or rollback under the host lock). Outside the main
thread (a library caller's worker) handlers cannot be set, and both do nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dockharden.errors import DockhardenError

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class Signalled(BaseException):
    """A signal outside a transaction. A BaseException, as KeyboardInterrupt: no handler of errors may
    take it for a failure to recover from; it unwinds to the entry point, which exits 128 + signum."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


class Interrupted(DockhardenError):
    """A signal inside a transaction, raised at the step boundary after it arrived."""

    def __init__(self, signum: int, where: str, then: str = "") -> None:
        super().__init__(f"interrupted by {signal_name(signum)} {where}" + (f"; {then}" if then else ""))
        self.signum = signum
        self.exit_code = 128 + signum


def _install(handler: Callable[[int, Any], None]) -> dict[int, Any]:
    """Set `handler` for each signal this process was not told to ignore (nohup ignores SIGHUP, a
    shell's background job SIGINT: an apply started that way must not stop on them)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, handler) for s in SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _raise(signum: int, frame: Any) -> None:
    raise Signalled(signum)


@contextmanager
def raising(*, then_ignore: bool = False) -> Iterator[None]:
    """Outside a transaction nothing is half done: a signal raises Signalled where the program is.
    `then_ignore`: on leaving, the signals are ignored instead of handed back (the command's outcome is
    settled; the handlers before were the entry point's start-up ones)."""
    previous = _install(_raise)
    try:
        yield
    finally:
        if then_ignore:
            ignore()
        else:
            _restore(previous)


class Deferral:
    """Inside a transaction: a signal is only noted; `checkpoint` raises Interrupted at the next step
    boundary, so the step under way (a write, a restart and its wait) always finishes first.

    Context manager; the engine receives its `checkpoint` as a parameter.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Deferral:
        self._previous = _install(self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        _restore(self._previous)
        self._previous = {}

    def _note(self, signum: int, frame: Any) -> None:
        if self.received is None:  # the first one counts; repeating Ctrl-C cannot cut a rollback short
            self.received = signum

    def checkpoint(self, where: str) -> None:
        """Raise Interrupted if a signal arrived (`where` says at which boundary)."""
        if self.received is not None:
            raise Interrupted(self.received, where)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """While a human is asked a question, the outer handling is back: an interrupt ends the command."""
        previous, self._previous = self._previous, {}
        _restore(previous)
        try:
            yield
        finally:
            self._previous = _install(self._note)


def ignore() -> None:
    """Once a command's outcome is settled, a late signal changes nothing: ignore the signals for the
    last lines (and the exit)."""
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
