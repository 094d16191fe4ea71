"""The command line's standard streams: writes that never raise, and a record of what could not be written.

Touches the process's file descriptors 0, 1 and 2, from the entry point only. A reader that goes away
(`| head -1`), a closed descriptor (`>&-`) or a full disk (`>/dev/full`) must not turn a command that did
its work into a traceback or a different exit status: the output is dropped, the failure remembered, and
the entry point says once, on standard error, that the output was lost.
"""


import errno
import io
import os
import re
import select
import sys
from typing import NamedTuple

# What a terminal could take as a command rather than text: C0 controls, DEL, C1 controls (\x9b is a CSI on
# some terminals), and every other character Unicode calls non-printable (bidi overrides, line separators).
# A candidate is any character outside printable ASCII; str.isprintable() decides.
_SUSPECT = {True: re.compile(r"[^\x20-\x7e\t\n]"), False: re.compile(r"[^\x20-\x7e\t]")}
_NAMED = {"\n": "\\n", "\r": "\\r"}


def printable(text: str, *, newlines: bool = True) -> str:
    """`text` with every character that is not printable written as a visible escape (`\\x1b`, `\\x85`,
    `\\u202e`): text read from host files and layers (a rule comment, a daemon.json value, a file name, an
    exception's reason) can hold escape sequences that would recolour, move the cursor, retitle or hide
    what a terminal shows. Newlines stay unless `newlines` is false (a one-line paragraph); tabs stay."""
    def escape(match: re.Match) -> str:
        char = match.group()
        if char.isprintable():
            return char
        code = ord(char)
        if char in _NAMED:
            return _NAMED[char]
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"

    return _SUSPECT[newlines].sub(escape, text)


class GuardedOutput(io.TextIOBase):
    """A text stream on a descriptor: writes go straight to it (nothing is left buffered to fail at exit);
    the first failure is kept in `error` and later writes are dropped. Everything written is made
    printable (`printable`): the one place every line of text output and every error paragraph passes.
    Dockharden's own colours pass when the stream was told them (`allow`); a redraw goes by `write_control`."""

    def __init__(self, fd: int, name: str, encoding: str = "utf-8", error: OSError | None = None) -> None:
        super().__init__()
        self._fd = fd
        self._name = name
        self._encoding = encoding or "utf-8"
        self.error = error
        self._allowed: re.Pattern | None = None

    def allow(self, sequences) -> None:
        """Let these exact control sequences (dockharden's own colours) through unescaped."""
        self._allowed = re.compile("(" + "|".join(re.escape(s) for s in sorted(set(sequences), key=len,
                                                                                 reverse=True)) + ")")

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding

    @property
    def name(self) -> str:
        return self._name

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return self.error is None and os.isatty(self._fd)

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # a text stream (Click probes for a binary one with write(b""))
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self._allowed is None:
            return self.write_control(printable(text), length=len(text))
        parts = self._allowed.split(text)  # odd indexes: the allowed sequences themselves
        return self.write_control("".join(part if i % 2 else printable(part) for i, part in enumerate(parts)),
                                  length=len(text))

    def write_control(self, text: str, *, length: int | None = None) -> int:
        """Write `text` as it is: for dockharden's own control sequences (a progress line's redraw)."""
        if self.error is None and text:
            view = memoryview(text.encode(self._encoding, errors="replace"))
            try:
                while view:
                    try:
                        view = view[os.write(self._fd, view):]
                    except BlockingIOError:  # a non-blocking pipe that is full: wait, as a blocking one would
                        select.select([], [self._fd], [])
            except OSError as exc:
                self.error = exc
        return len(text) if length is None else length

    def flush(self) -> None:
        pass


class Streams(NamedTuple):
    """The guarded standard output and error of this process."""

    out: GuardedOutput
    err: GuardedOutput

    def lost_output(self) -> str | None:
        """Why standard output could not be written, if it could not and that matters: a reader that
        stopped reading (a broken pipe) chose to, and is not told anything."""
        error = self.out.error
        if error is None or error.errno == errno.EPIPE:
            return None
        if error.errno == errno.EBADF:
            return "standard output is closed"
        return f"standard output: {error.strerror or error}"


def guard_std_streams() -> Streams:
    """Install guarded sys.stdout and sys.stderr. A closed descriptor 0, 1 or 2 is first filled with
    /dev/null, so no file dockharden opens later (a lock, a journal) can take its number and receive
    output meant for the terminal; a closed output is remembered as such."""
    closed = {fd for fd in (0, 1, 2) if not _is_open(fd)}
    for fd in sorted(closed):
        _fill_with_devnull(fd)
    if 0 in closed:
        sys.stdin = open(0, closefd=False)  # reads end at once: a question gets no answer
    bad = OSError(errno.EBADF, os.strerror(errno.EBADF))
    encoding = getattr(sys.__stdout__, "encoding", None) or "utf-8"
    streams = Streams(GuardedOutput(1, "<stdout>", encoding, bad if 1 in closed else None),
                      GuardedOutput(2, "<stderr>", encoding, bad if 2 in closed else None))
    sys.stdout, sys.stderr = streams.out, streams.err
    return streams


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _fill_with_devnull(fd: int) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    if null != fd:
        os.dup2(null, fd)
        os.close(null)


def colour_wanted(stream, flag: bool | None = None, environ=None) -> bool:
    """Whether to colour what goes to `stream`: --color/--no-color when given, else only on a terminal
    that can show it (not with NO_COLOR set, see no-color.org, nor TERM=dumb)."""
    if flag is not None:
        return flag
    environ = os.environ if environ is None else environ
    return not environ.get("NO_COLOR") and can_animate(stream, environ)


def can_animate(stream, environ=None) -> bool:
    """Whether `stream` is a terminal that can redraw a line (a live progress line); plain lines otherwise."""
    environ = os.environ if environ is None else environ
    try:
        return environ.get("TERM", "") != "dumb" and stream.isatty()
    except (OSError, ValueError):
        return False
