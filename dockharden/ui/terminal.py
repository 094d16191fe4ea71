"""What a terminal shows beyond plain text: colour in a plan, and a live line while apply waits.

Touches one output stream (standard error for progress, standard output for a plan's colours), and is
imported only when that stream is a terminal that wants it (console.colour_wanted, console.can_animate):
a plan in a pipe, in CI or with NO_COLOR never loads it. The engine never prints: it reports through
Engine.progress and Engine.waiting, and Progress draws them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

RESET = "\x1b[0m"
STYLES = {"create": "\x1b[32m", "added": "\x1b[32m", "+": "\x1b[32m",
          "update": "\x1b[33m", "changed": "\x1b[33m", "~": "\x1b[33m",
          "delete": "\x1b[31m", "removed": "\x1b[31m", "-": "\x1b[31m",
          "@": "\x1b[36m", "heading": "\x1b[1m", "left": "\x1b[2m"}


CONTROLS = (RESET, *STYLES.values())  # the only control sequences a plan's text may hold (console.GuardedOutput)


def paint(kind: str, text: str) -> str:
    """`text` in the colour of `kind` (an action, a key change, a diff line's first character)."""
    style = STYLES.get(kind)
    return f"{style}{text}{RESET}" if style and text else text


FRAMES = "|/-\\"
CLEAR = "\r\x1b[2K"


class Progress:
    """The CLI's progress reporter: `progress(message)` for a step, `with progress.waiting(what):` for a
    wait. On a terminal a wait is one line redrawn ten times a second (a spinner, what is awaited, the
    time so far), ended by a plain line with how long it took; elsewhere every message is a plain line."""

    def __init__(self, stream: TextIO, *, live: bool, prefix: str = "dockharden: ",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.live, self.prefix, self.clock = stream, live, prefix, clock
        self._what: str | None = None
        self._detail = ""
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        with self._lock:
            if self.live and self._what is not None:
                self._detail = message  # during a wait a message says what is awaited now
            else:
                self._line(message)

    @contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        start = self.clock()
        with self._lock:
            self._what, self._detail = what, ""
            if not self.live:
                self._line(what)
        stop = threading.Event()
        drawer = threading.Thread(target=self._draw, args=(stop, start), daemon=True) if self.live else None
        if drawer:
            drawer.start()
        outcome = "failed"
        try:
            yield
            outcome = "done"
        finally:
            stop.set()
            if drawer:
                drawer.join()
            with self._lock:
                self._what = None
                self._line(f"{what}: {outcome} in {self.clock() - start:.1f} s", clear=self.live)

    def _draw(self, stop: threading.Event, start: float) -> None:
        import shutil

        width = max(20, shutil.get_terminal_size().columns - 1)  # a wrapped line could not be redrawn
        frame = 0
        while not stop.is_set():
            with self._lock:
                if self._what is not None:
                    elapsed = f"  {self.clock() - start:.1f} s"
                    text = f"{FRAMES[frame % len(FRAMES)]} {self._what}" + (f" ({self._detail})" if self._detail else "")
                    self._control(CLEAR)
                    self.stream.write(text[:width - len(elapsed)] + elapsed)
                    self.stream.flush()
            frame += 1
            stop.wait(0.1)

    def _line(self, text: str, clear: bool = False) -> None:
        if clear:
            self._control(CLEAR)
        self.stream.write(f"{self.prefix}{text}\n")
        self.stream.flush()

    def _control(self, sequence: str) -> None:
        """A redraw's own control sequence: past the guard that makes every other text printable."""
        getattr(self.stream, "write_control", self.stream.write)(sequence)
