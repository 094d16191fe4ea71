"""Output that cannot be written, and signals, as an operator's shell delivers them to the real process.

The command's result stands whatever happens to its output: a reader that stops early ends it quietly,
a closed or full output is said once on stderr. A signal outside a transaction is one line and
128 + its number; inside an apply the step under way finishes and the generation is rolled back
(the same on a real daemon: tests/host/test_faults.py).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockharden.execute.faults import release

REPO = Path(__file__).resolve().parents[2]
ORIGINAL = b'{\n  "debug": true\n}\n'


def env(**extra):
    return dict(os.environ, PYTHONPATH=str(REPO), **extra)


def argv(*args):
    return [sys.executable, "-m", "dockharden", *args]


def failpoint_argv(*args):
    """dockharden through the tests' entry point, which alone reads DOCKHARDEN_FAILPOINT (tests/failpoints.py)."""
    return [sys.executable, str(REPO / "tests" / "failpoints.py"), *args]


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_bytes(ORIGINAL)
    return root


def state_of(root: Path) -> str | None:
    record = root / "var/lib/dockharden/generations/0001/record.json"
    return json.loads(record.read_text())["state"] if record.exists() else None


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if "dockharden-" in p.name or p.name in (".record.json.tmp", "reserve"))


# --- output that cannot be written ----------------------------------------------------------------------

def run_with_stdout(args, stdout, stderr=subprocess.PIPE, **kwargs):
    done = subprocess.run(argv(*args), stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, env=env(),
                          timeout=120, **kwargs)
    return done.returncode, (done.stderr or b"").decode()


def closed(fd: int):
    return lambda: os.close(fd)


def test_a_reader_that_has_gone_ends_plan_quietly_with_plan_s_own_status(root):
    proc = subprocess.Popen(argv("plan", "--root", str(root), "--detailed-exitcode", "--diff"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env())
    proc.stdout.close()  # the reader is gone before the first byte: every write meets a broken pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 2, err
    assert err == ""


def test_a_reader_that_stops_after_one_line_ends_plan_quietly(root):
    shell = f"set -o pipefail; {' '.join(argv('plan', '--root', str(root), '--diff'))} | head -1 >/dev/null"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, env=env(), timeout=120)
    assert done.returncode == 0 and done.stderr == ""


@pytest.mark.parametrize("command,status", [("plan", 2), ("check", 2), ("history", 0)])
def test_closed_stdout_keeps_the_command_s_status_and_says_once_that_the_output_was_lost(root, command, status):
    extra = ["--detailed-exitcode"] if command == "plan" else []
    code, err = run_with_stdout([command, "--root", str(root), *extra], None, preexec_fn=closed(1))
    assert code == status, err
    assert err == f"dockharden: the output could not be written (standard output is closed); the exit status " \
                  f"({status}) is the command's own\n"


def test_plan_to_a_full_disk_keeps_its_status_and_names_the_error(root):
    with open("/dev/full", "wb") as full:
        code, err = run_with_stdout(["plan", "--root", str(root), "--detailed-exitcode", "--json"], full)
    assert code == 2 and "No space left on device" in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("how", ["closed", "full", "broken pipe"])
def test_an_apply_whose_report_cannot_be_printed_still_exits_0_and_is_applied(root, how):
    args = ["apply", "--root", str(root), "--no-restart", "--yes", "--json"]
    if how == "closed":
        code, err = run_with_stdout(args, None, preexec_fn=closed(1))
    elif how == "full":
        with open("/dev/full", "wb") as full:
            code, err = run_with_stdout(args, full)
    else:
        read_end, write_end = os.pipe()
        os.close(read_end)
        code, err = run_with_stdout(args, write_end)
        os.close(write_end)
    assert code == 0, err
    assert state_of(root) == "applied" and b"live-restore" in (root / "etc/docker/daemon.json").read_bytes()
    assert "Traceback" not in err
    assert ("could not be written" in err) == (how != "broken pipe")


def test_an_apply_with_stdout_and_stderr_closed_still_applies_and_exits_0(root):
    done = subprocess.run(argv("apply", "--root", str(root), "--no-restart", "--yes"), stdin=subprocess.DEVNULL,
                          env=env(), timeout=120, preexec_fn=lambda: (os.close(1), os.close(2)))
    assert done.returncode == 0 and state_of(root) == "applied"
    # descriptors 1 and 2 were filled with /dev/null: no file opened later (the lock, the journal) took them
    assert not [p for p in root.rglob("*") if p.is_file() and b"dockharden" in p.read_bytes()
                and p.suffix not in (".json", ".toml", ".rules")]
    assert json.loads((root / "var/lib/dockharden/generations/0001/record.json").read_text())["state"] == "applied"


def test_an_error_with_stderr_full_is_still_exit_1_without_a_traceback_in_its_place(root):
    with open("/dev/full", "wb") as full:
        done = subprocess.run(argv("plan", "--root", str(root / "missing")), stdout=subprocess.PIPE, stderr=full,
                              stdin=subprocess.DEVNULL, env=env(), timeout=120)
    assert done.returncode == 1 and done.stdout == b""


def test_a_question_with_no_input_is_no_and_changes_nothing(root):
    done = subprocess.run(argv("apply", "--root", str(root), "--no-restart"), capture_output=True, text=True,
                          env=env(), timeout=120, preexec_fn=closed(0))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "no answer" in done.stderr and "--yes" in done.stderr and "nothing was changed" in done.stderr
    assert (root / "etc/docker/daemon.json").read_bytes() == ORIGINAL and state_of(root) is None


# --- signals --------------------------------------------------------------------------------------------

class Paused(subprocess.Popen):
    """dockharden held at a failpoint until `go()`: the test orders events by marks, never by a window of
    time (execute/faults.py: the mark file says the point is reached, the FIFO lets the process go on)."""

    fifo = ""

    def go(self) -> None:
        release(self.fifo)

    def communicate(self, *args, **kwargs):
        if self.poll() is None and self.fifo:
            try:
                self.go()  # whatever the test did while it held the process, it goes on now
            except OSError:
                pass  # it left the pause already (a signal raised there)
        return super().communicate(*args, **kwargs)


def start_paused(tmp_path: Path, point: str, *args, stdin=subprocess.DEVNULL, preexec_fn=None) -> Paused:
    mark, fifo = tmp_path / "reached", tmp_path / "release"
    os.mkfifo(fifo)
    proc = Paused(failpoint_argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin, text=True,
                  env=env(DOCKHARDEN_FAILPOINT=f"pause:{point}", DOCKHARDEN_FAILPOINT_MARK=str(mark),
                          DOCKHARDEN_FAILPOINT_RELEASE=str(fifo)), preexec_fn=preexec_fn)
    proc.fifo = str(fifo)
    while not mark.exists():  # the mark: the process holds at the point, the FIFO open
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    return proc


SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


@pytest.mark.parametrize("signum", SIGNALS, ids=[s.name for s in SIGNALS])
@pytest.mark.parametrize("command", ["plan", "verify", "apply"])
def test_a_signal_before_any_change_is_one_line_and_128_plus_its_number(tmp_path, root, command, signum):
    extra = ["--yes", "--no-restart"] if command == "apply" else []
    proc = start_paused(tmp_path, "during-plan", command, "--root", str(root), *extra)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert err == f"dockharden: interrupted by {signum.name}; nothing was changed\n"
    assert (root / "etc/docker/daemon.json").read_bytes() == ORIGINAL and state_of(root) is None


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_right_after_the_lock_stops_before_anything_changed_and_frees_the_lock(tmp_path, root, signum):
    proc = start_paused(tmp_path, "after-lock", "apply", "--root", str(root), "--yes", "--no-restart")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert err == f"dockharden: interrupted by {signum.name} after taking the lock; nothing was changed\n"
    assert state_of(root) is None and (root / "var/lib/dockharden/lock").read_bytes() == b""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("point", ["after-record", "after-write-0", "after-write-2"])
def test_a_signal_during_apply_finishes_the_step_then_rolls_back_in_one_line(tmp_path, root, point, signum):
    proc = start_paused(tmp_path, point, "apply", "--root", str(root), "--yes", "--no-restart", "--json")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, out + err
    assert "Traceback" not in err
    said = [line for line in err.splitlines() if line.startswith(f"dockharden: interrupted by {signum.name}")]
    assert len(said) == 1 and "generation 0001 rolled back" in said[0] and err.endswith(said[0] + "\n"), err
    result = json.loads(out)
    assert (result["result"], result["interrupted_by"]) == ("rolled_back", signum.name)
    assert (root / "etc/docker/daemon.json").read_bytes() == ORIGINAL
    assert not (root / "etc/audit/rules.d/docker.rules").exists()
    assert state_of(root) == "rolled_back" and leftovers(root) == []
    plan = subprocess.run(argv("plan", "--root", str(root)), capture_output=True, text=True, env=env(), timeout=120)
    assert "interrupted" not in plan.stdout


def test_a_second_signal_does_not_cut_the_rollback_short(tmp_path, root):
    proc = start_paused(tmp_path, "after-write-0", "apply", "--root", str(root), "--yes", "--no-restart")
    for _ in range(3):
        proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGTERM)  # all while the process holds at the point: the first counts
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err  # the first signal counts
    assert (root / "etc/docker/daemon.json").read_bytes() == ORIGINAL and state_of(root) == "rolled_back"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_at_the_question_ends_the_command_with_nothing_changed(root, signum):
    proc = subprocess.Popen(argv("apply", "--root", str(root), "--no-restart"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.PIPE, env=env())
    seen = b""
    while not seen.endswith(b"[y/N]: "):
        chunk = proc.stdout.read1(4096)
        assert chunk, proc.stderr.read()
        seen += chunk
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert err.decode() == f"dockharden: interrupted by {signum.name} at the question; nothing was changed\n"
    assert (root / "etc/docker/daemon.json").read_bytes() == ORIGINAL and state_of(root) is None


def test_a_signal_during_a_rollback_rolls_the_rollback_back(tmp_path, root):
    done = subprocess.run(argv("apply", "--root", str(root), "--no-restart", "--yes"), capture_output=True,
                          env=env(), timeout=120)
    assert done.returncode == 0
    applied = (root / "etc/docker/daemon.json").read_bytes()
    proc = start_paused(tmp_path, "after-write-0", "rollback", "--root", str(root), "--yes", "--no-restart")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "generation 0002 rolled back" in err, err
    assert (root / "etc/docker/daemon.json").read_bytes() == applied
    record = json.loads((root / "var/lib/dockharden/generations/0002/record.json").read_text())
    assert (record["kind"], record["state"]) == ("rollback", "rolled_back") and leftovers(root) == []


def test_a_signal_the_operator_had_ignored_stays_ignored_as_under_nohup(tmp_path, root):
    proc = start_paused(tmp_path, "after-write-0", "apply", "--root", str(root), "--yes", "--no-restart",
                        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    proc.send_signal(signal.SIGHUP)  # the terminal went away; nohup said to carry on
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert state_of(root) == "applied" and "interrupted" not in err


# --- signals while the command line loads (issue 24, class 14) -----------------------------------------

def _handles_sigterm(pid: int) -> bool | None:
    """The mark: the process catches SIGTERM (Python alone does not: dockharden's start-up handler does)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    except OSError:
        return None
    return False


def _signal_at_start(tmp_path, signum, delay, *args):
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    proc = subprocess.Popen(argv("plan", "--root", str(empty), *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env(), stdin=subprocess.DEVNULL)
    while not _handles_sigterm(proc.pid):  # waits on the mark, not on a wall-clock window
        assert proc.poll() is None, "the command ended before dockharden took the signals"
    if delay:
        time.sleep(delay)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("delay", [0, 0.001, 0.003, 0.008, 0.02, 0.05])
def test_a_signal_while_the_command_line_loads_is_the_documented_line_and_128_plus_its_number(
        tmp_path, signum, delay, record_property):
    status, out, err = _signal_at_start(tmp_path, signum, delay)
    name = signal.Signals(signum).name
    assert "Traceback" not in err and "Exception ignored" not in err, err
    record_property("branch", "finished before the signal" if status == 0 else "interrupted")  # which claim ran
    if status == 0:  # the plan of an empty root finished before the signal came (a fast machine, a late delay)
        return
    assert status == 128 + signum, (status, err)
    assert err == f"dockharden: interrupted by {name}; nothing was changed\n", err


@pytest.mark.parametrize("delay", [0, 0.005])
def test_a_signal_while_the_command_line_loads_gives_the_json_error_document_with_json(tmp_path, delay,
                                                                                      record_property):
    from dockharden import report

    status, out, err = _signal_at_start(tmp_path, signal.SIGINT, delay, "--json")
    record_property("branch", "finished before the signal" if status == 0 else "interrupted")
    if status == 0:
        return
    assert status == 130 and "Traceback" not in err, err
    assert json.loads(out) == report.error_document("plan", 130, "interrupted",
                                                    "interrupted by SIGINT; nothing was changed", signal="SIGINT")


def test_the_start_up_handlers_are_taken_before_the_command_line_loads():
    """Importing dockharden.__main__ (in a child: it takes the signals of its process) loads nothing else of
    dockharden, and the handlers are in place; its hand-written error document keeps report's version."""
    from dockharden import report

    done = subprocess.run([sys.executable, "-c", "import signal, sys; import dockharden.__main__ as m; "
                           "print(sorted(n for n in sys.modules if n.startswith('dockharden')), "
                           "all(signal.getsignal(s) is m._startup_signal for s in m.SIGNALS), m.ERROR_FORMAT_VERSION)"],
                          capture_output=True, text=True, env=env(), timeout=60)
    assert done.stdout.strip() == f"['dockharden', 'dockharden.__main__'] True {report.FORMAT_VERSION}", \
        done.stdout + done.stderr


# --- failpoints are the tests' own -----------------------------------------------------------------------

def test_the_dockharden_command_reads_no_fault_injection_variable_only_the_tests_entry_point_does(root):
    asked = env(DOCKHARDEN_FAILPOINT="fail:after-write-0")
    done = subprocess.run(argv("apply", "--root", str(root), "--yes", "--no-restart", "--json"), capture_output=True,
                          text=True, env=asked, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and json.loads(done.stdout)["result"] == "applied", done.stderr
    assert dockharden_mentions("DOCKHARDEN_FAILPOINT") == ["execute/faults.py"]  # defined there, read by tests
    assert dockharden_mentions("from_environment(") == []  # built by tests/failpoints.py alone
    (root / "etc/docker/daemon.json").write_bytes(ORIGINAL)
    injected = subprocess.run(failpoint_argv("apply", "--root", str(root), "--yes", "--no-restart", "--json",
                                             "--profile", "baseline,tls"),
                              capture_output=True, text=True, env=asked, timeout=120, stdin=subprocess.DEVNULL)
    assert injected.returncode == 1 and json.loads(injected.stdout)["result"] == "rolled_back", injected.stderr


def dockharden_mentions(text: str) -> list[str]:
    package = REPO / "dockharden"
    return sorted(str(p.relative_to(package)) for p in package.rglob("*.py")
                  if text in p.read_text() and not (text.endswith("(") and p.name == "faults.py"
                                                    and f"def {text}" in p.read_text()))
