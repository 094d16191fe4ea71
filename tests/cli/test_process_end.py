"""The `dockharden` process: the garbage collector paused only while the modules load, and an end without
the interpreter's teardown that loses nothing (dockharden/__main__.py)."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=REPO)


def test_the_command_runs_with_the_collector_on_and_the_start_up_objects_frozen():
    code = ("import gc, sys\nfrom dockharden import __main__ as entry, cli\n"
            "def seen(argv=None):\n    print(gc.isenabled(), gc.get_freeze_count() > 10000)\n    return 3\n"
            "cli.run = seen\nentry.main()")
    done = python(code)
    assert (done.returncode, done.stdout) == (3, "True True\n"), done.stderr


def test_the_process_ends_with_the_commands_status_and_skips_the_teardown():
    code = ("import atexit\nfrom dockharden.__main__ import end\n"
            "atexit.register(lambda: print('teardown ran'))\nprint('output', end='')\nend(4)")
    done = python(code)
    assert (done.returncode, done.stdout) == (4, "output")


def test_a_thread_that_is_not_a_daemon_is_waited_for_by_an_ordinary_exit(tmp_path):
    mark = tmp_path / "finished"
    code = ("import sys, threading, time\nfrom pathlib import Path\nfrom dockharden.__main__ import end\n"
            "def work():\n    time.sleep(0.3)\n    Path(sys.argv[1]).write_text('done')\n"
            "threading.Thread(target=work).start()\nend(5)")
    done = python(code, str(mark))
    assert done.returncode == 5 and mark.read_text() == "done"


def test_a_large_output_is_complete_when_the_process_ends(tmp_path):
    root = tmp_path / "root"
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_text('{"debug": true}\n')
    done = subprocess.run([sys.executable, "-m", "dockharden", "plan", "--root", str(root), "--profile", "baseline",
                           "--diff", "--no-color"], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('"SCMP_ACT_ALLOW"') > 5 and done.stdout.rstrip().endswith("to make these changes.")


def test_under_a_profiler_the_process_exits_the_ordinary_way_so_the_profile_is_written(tmp_path):
    out = tmp_path / "plan.prof"
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "dockharden", "--version"],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0 and "dockharden" in done.stdout, done.stderr
    assert out.stat().st_size > 0
