"""Colour as an operator meets it: on a terminal, and nowhere else unless asked; and a plan in a pipe loads
no code for colour, progress, saved plans or completion (plan must stay fast)."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ESC = "\x1b["


def on_a_terminal(*args, **env):
    """Run dockharden with standard output and error on a pseudo-terminal; what it printed."""
    master, slave = os.openpty()
    environ = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm", **env}
    environ = {k: v for k, v in environ.items() if v is not None}
    proc = subprocess.Popen([sys.executable, "-m", "dockharden", *args], stdout=slave, stderr=slave,
                            stdin=subprocess.DEVNULL, env=environ)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError as exc:  # the terminal's other side closed
            if exc.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=120) == 0
    return b"".join(chunks).decode()


def in_a_pipe(*args, **env):
    environ = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm", **env}
    done = subprocess.run([sys.executable, "-m", "dockharden", *args], capture_output=True, text=True,
                          env=environ, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def root(tmp_path):
    (tmp_path / "etc/docker").mkdir(parents=True)
    (tmp_path / "etc/docker/daemon.json").write_text('{\n  "debug": true,\n  "icc": true\n}\n')
    return tmp_path


def test_on_a_terminal_the_plan_shows_additions_changes_and_removals_in_colour(root):
    shown = on_a_terminal("plan", "--root", str(root), NO_COLOR=None)
    assert f"{ESC}32mcreate" in shown and f"{ESC}33mupdate" in shown
    assert f"{ESC}32m+ live-restore = true" in shown and f"{ESC}33m~ icc: true -> false" in shown


@pytest.mark.parametrize("how", ["NO_COLOR", "TERM=dumb", "--no-color"])
def test_no_colour_with_no_color_a_dumb_terminal_or_no_color_flag(root, how):
    if how == "NO_COLOR":
        shown = on_a_terminal("plan", "--root", str(root), NO_COLOR="1")
    elif how == "TERM=dumb":
        shown = on_a_terminal("plan", "--root", str(root), TERM="dumb", NO_COLOR=None)
    else:
        shown = on_a_terminal("plan", "--root", str(root), "--no-color", NO_COLOR=None)
    assert "update" in shown and ESC not in shown


def test_no_colour_in_a_pipe_unless_asked(root):
    assert ESC not in in_a_pipe("plan", "--root", str(root))
    assert f"{ESC}32mcreate" in in_a_pipe("plan", "--root", str(root), "--color")


def test_a_plan_in_a_pipe_loads_no_code_for_colour_progress_saved_plans_or_completion(root):
    probe = ("import sys; from dockharden import cli; status = cli._run(['plan', '--root', sys.argv[1]]); "
             "print('\\n' + __import__('json').dumps(sorted(m for m in sys.modules if m.startswith(('dockharden', "
             "'jsonschema')))))")
    done = subprocess.run([sys.executable, "-c", probe, str(root)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
    loaded = set(json.loads(done.stdout.rsplit("\n", 2)[-2]))
    assert "dockharden.core.planning" in loaded  # the probe did plan
    assert not loaded & {"dockharden.ui.terminal", "dockharden.execute.planfile", "dockharden.host.plan_inputs",
                         "dockharden.ui.completion", "dockharden.ui.manpage", "dockharden.execute.apply", "jsonschema"}
