"""The `dockharden` process: the garbage collector paused only while the modules load, and an end without
the interpreter's teardown that loses nothing (dockharden/__main__.py).

The command runs as an operator runs it (`python -m dockharden`, a process of its own). What runs before
it or beside it comes from a `sitecustomize` module on PYTHONPATH, which the interpreter imports at start.
Whether the teardown ran is seen through an atexit callback that sitecustomize registers: dockharden's
entry point cannot see a callback registered before it starts, so the callback runs exactly when the
process ends the ordinary way."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEARDOWN = "teardown ran"  # what the sitecustomize's exit callback writes

#: an exit callback registered at interpreter start, before dockharden's entry point
CALLBACK_AT_START = f"""
    import atexit, os
    atexit.register(lambda: os.write(1, b"{TEARDOWN}\\n"))
"""


def python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=REPO)


def with_site(tmp_path: Path, sitecustomize: str, **env: str) -> dict[str, str]:
    """An environment in which the interpreter imports `sitecustomize` at start, and the opt-out is not set."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(textwrap.dedent(sitecustomize))
    environ = {k: v for k, v in os.environ.items() if k != "DOCKHARDEN_NO_FAST_EXIT"}
    return dict(environ, PYTHONPATH=f"{site}{os.pathsep}{REPO}", **env)


def command(tmp_path: Path, sitecustomize: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`python -m dockharden ARGS` with `sitecustomize` imported at the interpreter's start."""
    return subprocess.run([sys.executable, "-m", "dockharden", *args], capture_output=True, text=True, timeout=120,
                          env=with_site(tmp_path, sitecustomize, **env), cwd=tmp_path)


def when_imported(module: str, body: str) -> str:
    """sitecustomize code that runs `body` once `module` is imported, i.e. while the command runs."""
    return f"""
        import sys

        def _hook(event, args):
            if event == "import" and args[0] == "{module}":
{textwrap.indent(textwrap.dedent(body), " " * 16)}
        sys.addaudithook(_hook)
    """


def test_the_command_runs_with_the_collector_on_and_the_start_up_objects_frozen():
    code = ("import gc, sys\nfrom dockharden import __main__ as entry, cli\n"
            "def seen(argv=None):\n    print(gc.isenabled(), gc.get_freeze_count() > 10000)\n    return 3\n"
            "cli.run = seen\nentry.main()")
    done = python(code)
    assert (done.returncode, done.stdout) == (3, "True True\n"), done.stderr


def test_a_command_ends_with_its_status_and_skips_the_teardown(tmp_path):
    done = command(tmp_path, CALLBACK_AT_START, "plan", "--root", "/nonexistent")
    assert done.returncode == 1 and "root directory does not exist" in done.stderr
    assert TEARDOWN not in done.stdout  # the fast end: the callback it could not see did not run


def test_the_installed_script_is_the_command_too_and_skips_the_teardown(tmp_path):
    """The `dockharden` script pip writes for the entry point (its text as pip's installer writes it)."""
    script = tmp_path / "dockharden"
    script.write_text(f"#!{sys.executable}\nimport re\nimport sys\nfrom dockharden.__main__ import main\n"
                      "if __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
                      "    sys.exit(main())\n")
    script.chmod(0o755)
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120,
                          env=with_site(tmp_path, CALLBACK_AT_START))
    assert (done.returncode, done.stdout) == (0, "dockharden 0.1.0\n"), done.stderr


def test_the_opt_out_variable_makes_the_process_exit_the_ordinary_way(tmp_path):
    done = command(tmp_path, CALLBACK_AT_START, "--version", DOCKHARDEN_NO_FAST_EXIT="1")
    assert (done.returncode, done.stdout) == (0, f"dockharden 0.1.0\n{TEARDOWN}\n"), done.stderr
    done = command(tmp_path, CALLBACK_AT_START, "--version", DOCKHARDEN_NO_FAST_EXIT="0")  # 0 or empty: not set
    assert (done.returncode, done.stdout) == (0, "dockharden 0.1.0\n"), done.stderr


def test_an_atexit_callback_registered_while_the_command_runs_runs(tmp_path):
    register = """
        import atexit, os
        atexit.register(lambda: os.write(1, b"registered while running\\n"))
    """
    done = command(tmp_path, when_imported("dockharden.cli", register), "--version")
    assert (done.returncode, done.stdout) == (0, "dockharden 0.1.0\nregistered while running\n"), done.stderr


def test_an_atexit_callback_of_a_program_that_runs_dockharden_inside_it_runs():
    code = ("import atexit, runpy, sys\natexit.register(print, 'the program\\'s callback ran')\n"
            "sys.argv = ['dockharden', '--version']\nrunpy.run_module('dockharden', run_name='__main__', alter_sys=True)")
    done = python(code)
    assert (done.returncode, done.stdout) == (0, "dockharden 0.1.0\nthe program's callback ran\n"), done.stderr


def test_a_thread_that_is_not_a_daemon_is_waited_for_by_an_ordinary_exit(tmp_path):
    mark = tmp_path / "finished"
    work = f"""
        import threading, time
        def _work():  # finishes once the main thread has stopped, i.e. only if the exit waits for it
            while threading.main_thread().is_alive():
                time.sleep(0.01)
            open({str(mark)!r}, "w").write("done")
        threading.Thread(target=_work).start()
    """
    done = command(tmp_path, when_imported("dockharden.cli", work), "plan", "--root", "/nonexistent")
    assert done.returncode == 1 and mark.read_text() == "done", done.stderr


def test_a_monitoring_tool_makes_the_exit_ordinary_where_python_has_sys_monitoring(tmp_path):
    tool = CALLBACK_AT_START + """
    import sys
    if hasattr(sys, "monitoring"):  # Python 3.12+
        sys.monitoring.use_tool_id(sys.monitoring.PROFILER_ID, "a profiler")
    """
    done = command(tmp_path, tool, "--version")
    assert done.returncode == 0, done.stderr
    if hasattr(sys, "monitoring"):
        assert TEARDOWN in done.stdout, "Python 3.12+: a registered tool gets the ordinary exit"
    else:
        assert TEARDOWN not in done.stdout, "Python 3.11: no sys.monitoring, nothing to see, the fast end"


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
