"""Progress while apply waits, and colour in a plan: a live line on a terminal, plain lines elsewhere;
colour only where it can be seen and is wanted."""

import io
import re
import time

import pytest

from dockharden.ui.console import can_animate, colour_wanted
from dockharden.ui.terminal import Progress, paint


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Ticks:
    """A clock that moves 0.5 s each time it is read."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        self.now += 0.5
        return self.now


def drawn(text, out, within=10.0):
    """Wait until the live line shows `text` (the drawing thread may be slow to run on a busy machine)."""
    deadline = time.monotonic() + within
    while text not in out.getvalue().rsplit("\n", 1)[-1] and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_wait_on_a_terminal_is_one_redrawn_line_then_a_plain_line_with_its_duration():
    out = Terminal()
    progress = Progress(out, live=True, clock=Ticks())
    progress("rolling back generation 0004")
    with progress.waiting("restarting docker (systemd)"):
        drawn("restarting docker (systemd)", out)
        progress("waiting for dockerd to answer (1/60 s)")
        drawn("(waiting for dockerd to answer (1/60 s))", out)
    text = out.getvalue()
    assert text.startswith("dockharden: rolling back generation 0004\n")
    # a spinner, what is awaited, the time so far
    assert re.search(r"\r\x1b\[2K[|/\\-] restarting docker \(systemd\)  \d+\.\d s", text), text
    assert re.search(r" restarting docker \(systemd\) \(waiting for dockerd to answer \(1/60 s\)\)  \d+\.\d s",
                     text), text
    assert "dockharden: waiting for dockerd" not in text  # during the wait it is what the live line awaits
    last = text.rsplit("\r\x1b[2K", 1)[1]
    assert last.startswith("dockharden: restarting docker (systemd): done in ") and last.endswith(" s\n")


def test_a_wait_elsewhere_is_plain_lines_a_log_can_keep():
    out = io.StringIO()
    progress = Progress(out, live=False, clock=Ticks())
    with progress.waiting("verifying the settings in force"):
        progress("waiting for dockerd to answer (1/60 s)")
    assert out.getvalue().splitlines() == ["dockharden: verifying the settings in force",
                                           "dockharden: waiting for dockerd to answer (1/60 s)",
                                           "dockharden: verifying the settings in force: done in 0.5 s"]
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_a_wait_that_fails_says_so_and_the_error_goes_on():
    out = io.StringIO()
    progress = Progress(out, live=False, clock=Ticks())
    with pytest.raises(RuntimeError):
        with progress.waiting("reloading docker: waiting for the daemon to confirm"):
            raise RuntimeError("no reload event")
    assert out.getvalue().splitlines()[-1] == "dockharden: reloading docker: waiting for the daemon to confirm: " \
                                              "failed in 0.5 s"


@pytest.mark.parametrize("flag,environ,tty,wanted", [
    (None, {"TERM": "xterm"}, True, True),
    (None, {"TERM": "xterm"}, False, False),              # a pipe, a file, CI
    (None, {"TERM": "xterm", "NO_COLOR": "1"}, True, False),
    (None, {"TERM": "xterm", "NO_COLOR": ""}, True, True),  # no-color.org: set and not empty
    (None, {"TERM": "dumb"}, True, False),
    (False, {"TERM": "xterm"}, True, False),              # --no-color
    (True, {"TERM": "dumb", "NO_COLOR": "1"}, False, True),  # --color: asked for
])
def test_colour_is_used_only_where_it_is_wanted(flag, environ, tty, wanted):
    stream = Terminal() if tty else io.StringIO()
    assert colour_wanted(stream, flag, environ) is wanted


def test_a_dumb_terminal_gets_plain_progress_lines():
    assert can_animate(Terminal(), {"TERM": "xterm"}) and not can_animate(Terminal(), {"TERM": "dumb"})
    assert not can_animate(io.StringIO(), {"TERM": "xterm"})


def test_additions_changes_and_removals_have_their_colours():
    assert paint("create", "create") == "\x1b[32mcreate\x1b[0m"
    assert paint("changed", "~ icc") == "\x1b[33m~ icc\x1b[0m"
    assert paint("-", "-old line") == "\x1b[31m-old line\x1b[0m"
    assert paint("unchanged", "x") == "x"
