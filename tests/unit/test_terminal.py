"""Progress while apply waits, and colour in a plan: a live line on a terminal, plain lines elsewhere;
colour only where it can be seen and is wanted."""

import io
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- issue 24 class 9: printable text only, on every output ---------------------------------------------

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\r\x1b[2K\x9b31m\x85\u202e\u2028\x7f\x00"


def only_printable(text: str) -> bool:
    return all(c.isprintable() or c in "\n\t" for c in text)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec=None, exclude_categories=())) | st.just(HOSTILE))
def test_any_text_is_made_printable_and_a_one_line_paragraph_stays_one_line(text):
    from dockharden.ui.console import printable

    assert only_printable(printable(text))
    one_line = printable(text, newlines=False)
    assert only_printable(one_line) and "\n" not in one_line
    if only_printable(text):
        assert printable(text) == text  # ordinary text (non-ASCII letters included) is left alone


def test_the_guarded_stream_escapes_control_sequences_but_lets_its_own_colours_and_redraws_by(tmp_path):
    import os

    from dockharden.ui.console import GuardedOutput
    from dockharden.ui.terminal import CLEAR, CONTROLS

    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    stream = GuardedOutput(fd, "<test>")
    stream.write(f"value {HOSTILE} end\n")
    stream.allow(CONTROLS)
    stream.write(paint("+", f"+ key = {HOSTILE}") + "\n")
    stream.write_control(CLEAR)
    os.close(fd)
    shown = path.read_text()
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\r\\x1b[2K\\x9b31m\\x85\\u202e\\u2028\\x7f\\x00" in shown
    escapes = re.findall("\x1b\\[[0-9;]*[A-Za-z]", shown)
    assert set(escapes) <= set(CONTROLS) | {CLEAR[1:]} and shown.count("\x1b") == len(escapes)


def test_what_host_files_and_layers_hold_reaches_the_terminal_as_visible_escapes(tmp_path):
    """An exception's reason and owner (check's text output) and a layer's file name (an error paragraph)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(repo))
    root = tmp_path / "root"
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_text('{"labels": ["a=\\u001b[2Jb"]}')
    exceptions = tmp_path / "exceptions.toml"
    exceptions.write_text('[[exception]]\ncontrol = "daemon.authorization"\n'
                          'reason = "RISK \\u001b]0;pwned\\u0007\\u001b[2J \\u009b31m \\u202e"\n'
                          'owner = "sec\\u001b[8mops"\nexpires = 2099-03-31\n')
    check = subprocess.run([sys.executable, "-m", "dockharden", "check", "--root", str(root), "--exceptions",
                            str(exceptions)], capture_output=True, text=True, env=env, timeout=120)
    assert "RISK \\x1b]0;pwned\\x07\\x1b[2J \\x9b31m \\u202e" in check.stdout, check.stdout[-2000:]
    assert only_printable(check.stdout) and only_printable(check.stderr)
    layer = tmp_path / f"x{HOSTILE.replace(chr(0), '')}\nsecond.toml"
    plan = subprocess.run([sys.executable, "-m", "dockharden", "plan", "--root", str(root), "--layer", str(layer)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert plan.returncode == 1 and plan.stderr.count("\n") == 1, plan.stderr
    assert only_printable(plan.stderr) and "\\x1b]0;pwned" in plan.stderr and "\\nsecond.toml" in plan.stderr
