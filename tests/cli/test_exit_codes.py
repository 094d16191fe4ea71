"""The exit-status contract, command by command: 2 means only what a command documents.

plan --detailed-exitcode: 2 = changes pending; verify: 2 = drift; check: 2 = a counted control fails;
schedule run: 2 = either.
Everything else that goes wrong, a mistyped option included, is one paragraph on stderr and 1.
verify's 0 needs a daemon that runs the desired settings: it is in
tests/host/test_faults.py::test_verify_exits_0_in_force_2_on_drift_and_1_on_an_error_against_a_real_daemon.
"""

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HARDENING = '[daemon]\nauthorization-plugins = ["authz-broker"]\n'  # 2.12; the logging layer gives 2.13


def run(*argv, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def dockharden(*args, wrap=()):
    return run(*wrap, sys.executable, "-m", "dockharden", *args)


def nothing(root: Path) -> None:
    pass


def applied(root: Path) -> None:
    done = dockharden("apply", "--root", str(root), "--no-restart", "--yes")
    assert done.returncode == 0, done.stderr


def hardened(root: Path) -> None:
    """Every control a file can show passes (the audit watches are the kernel's: see `check` below)."""
    layer = root.parent / "authz.toml"
    layer.write_text(HARDENING)
    done = dockharden("apply", "--root", str(root), "--profile", "baseline,userns,logging,tls", "--layer", str(layer),
                      "--no-restart", "--yes")
    assert done.returncode == 0, done.stderr


def bad_daemon_json(root: Path) -> None:
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_text('{"debug": true,}')


def bad_selection_file(root: Path) -> None:
    (root / "etc/dockharden").mkdir(parents=True)
    (root / "etc/dockharden/dockharden.toml").write_text("profiles = [baseline\n")


def bad_layer(root: Path) -> None:
    (root.parent / "bad.toml").write_text('[daemon]\nicc = "no"\n')


def planned(root: Path) -> None:
    """A plan saved next to the root (the test's own 0700 directory)."""
    done = dockharden("plan", "--root", str(root), "--out", str(root.parent / "plan.json"))
    assert done.returncode == 0, done.stderr


def planned_then_changed(root: Path) -> None:
    planned(root)
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_text('{"debug": true}\n')


def planned_then_edited(root: Path) -> None:
    planned(root)
    plan = root.parent / "plan.json"
    plan.write_text(plan.read_text().replace('"baseline"', '"userns"', 1))


# check reads the kernel's audit watches; in a user namespace the kernel refuses to show them, so the
# audit controls are "unverifiable" instead of failing and the file-backed controls decide.
NO_KERNEL_AUDIT = ("unshare", "--user", "--map-root-user")


@dataclass(frozen=True)
class Case:
    command: str
    outcome: str          # success | documented 2 | usage error | error
    args: tuple
    status: int
    setup: Callable[[Path], None] = nothing
    wrap: tuple = field(default=())
    says: str = ""        # in stderr (errors) or stdout
    label: str = ""       # tells apart cases of one command and outcome


CASES = [
    Case("plan", "success", ("--root", "{root}"), 0),
    Case("plan", "success", ("--root", "{root}", "--detailed-exitcode"), 0, applied, says="Nothing to do"),
    Case("plan", "documented 2", ("--root", "{root}", "--detailed-exitcode"), 2, says="to create"),
    Case("plan", "usage error", ("--root", "{root}", "--detailed-exitcod"), 1, says="'--detailed-exitcode'"),
    Case("plan", "error", ("--root", "{root}", "--detailed-exitcode"), 1, bad_daemon_json, says="not valid JSON"),
    Case("apply", "success", ("--root", "{root}", "--no-restart", "--yes"), 0),
    Case("apply", "usage error", ("--root", "{root}", "--yes", "--no-restrat"), 1, says="'--no-restart'"),
    Case("apply", "error", ("--root", "{root}", "--layer", "{root}/../bad.toml", "--yes"), 1, bad_layer,
         says="daemon.icc"),
    Case("apply", "success", ("{root}/../plan.json", "--root", "{root}"), 0, planned, says="applied",
         label="saved-plan"),
    Case("apply", "usage error", ("{root}/../plan.json", "extra"), 1, planned, says="unexpected extra argument",
         label="saved-plan"),
    Case("apply", "error", ("{root}/../plan.json", "--root", "{root}"), 1, planned_then_changed,
         says="/etc/docker/daemon.json was created", label="saved-plan-host-changed"),
    Case("apply", "error", ("{root}/../plan.json", "--root", "{root}"), 1, planned_then_edited,
         says="checksum does not match", label="saved-plan-edited"),
    Case("apply", "error", ("{root}/../plan.json", "--root", "{root}", "--profile", "userns"), 1, planned,
         says="takes no --profile", label="saved-plan-with-a-layer-flag"),
    Case("rollback", "success", ("--root", "{root}", "--no-restart", "--yes"), 0, applied),
    Case("rollback", "usage error", ("--root", "{root}", "--to"), 1, says="requires an argument"),
    Case("rollback", "error", ("--root", "{root}", "--to", "0042", "--yes"), 1, applied, says="no generation"),
    Case("history", "success", ("--root", "{root}",), 0, applied),
    Case("history", "usage error", ("--root", "{root}", "0001"), 1, says="unexpected extra argument"),
    Case("history", "error", ("--root", "{root}/missing"), 1, says="does not exist"),
    Case("verify", "documented 2", ("--root", "{root}",), 2, applied, says="DRIFT"),  # no daemon answers here
    Case("verify", "usage error", ("--root", "{root}", "--probe", "--image"), 1, says="requires an argument"),
    Case("verify", "error", ("--root", "{root}",), 1, bad_daemon_json, says="not valid JSON"),
    Case("show", "success", ("--root", "{root}",), 0, says="<- baseline"),
    Case("show", "usage error", ("--root", "{root}", "--profile"), 1, says="requires an argument"),
    Case("show", "error", ("--root", "{root}", "--profile", "baselin"), 1, says="no built-in profile"),
    Case("show", "success", ("{root}/../plan.json",), 0, planned_then_changed, says="apply would REFUSE it",
         label="saved-plan"),
    Case("check", "success", ("--root", "{root}",), 0, hardened, NO_KERNEL_AUDIT, says="0 failure(s) counted"),
    Case("check", "documented 2", ("--root", "{root}",), 2, says="failure(s) counted:"),
    Case("check", "usage error", ("--root", "{root}", "--jsn"), 1, says="'--json'"),
    Case("check", "error", ("--root", "{root}",), 1, bad_selection_file, says="invalid TOML"),
    Case("schedule", "success", ("install", "--root", "{root}", "--no-enable"), 0, says="wrote /etc/systemd/system/"),
    Case("schedule", "documented 2", ("run", "--root", "{root}", "--reports", "{root}/../reports"), 2,
         says="failure(s) counted; verify:"),
    Case("schedule", "usage error", ("install", "--root", "{root}", "--on-calender", "daily"), 1,
         says="'--on-calendar'"),
    Case("schedule", "error", ("install", "--root", "{root}", "--reports", "reports"), 1,
         says="must be an absolute path"),
    Case("completion", "success", ("bash",), 0, says="_dockharden_completion"),
    Case("completion", "usage error", ("fish",), 1, says="'fish' is not one of 'bash', 'zsh'"),
    Case("profiles", "success", (), 0, says="baseline"),
    Case("profiles", "usage error", ("baseline",), 1, says="unexpected extra argument"),
    # profiles reads only what ships with dockharden: it has no error of its own to show
]


def case_id(case: Case) -> str:
    return f"{case.command}-{case.outcome.replace(' ', '-')}-{case.status}" + (f"-{case.label}" if case.label else "")


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_each_command_exits_with_the_status_its_contract_gives_each_outcome(tmp_path, case):
    root = tmp_path / "root"
    root.mkdir()
    case.setup(root)
    args = [a.replace("{root}", str(root)) for a in case.args]
    done = dockharden(case.command, *args, wrap=case.wrap)
    assert done.returncode == case.status, done.stdout[-2000:] + done.stderr
    assert "Traceback" not in done.stderr
    if case.outcome in ("usage error", "error"):
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("dockharden: error: "), done.stderr
        assert case.says in done.stderr, done.stderr
        assert done.stderr.count("did you mean") <= 1
    else:
        assert case.says in done.stdout, done.stdout[-2000:]


def test_the_table_covers_every_command_and_each_documented_2():
    import typer

    from dockharden.cli import app

    commands = set(typer.main.get_command(app).list_commands(None))
    assert {c.command for c in CASES} == commands
    assert {c.command for c in CASES if c.status == 2} == {"plan", "verify", "check", "schedule"}
    for command in commands:
        assert {"success", "usage error"} <= {c.outcome for c in CASES if c.command == command} or \
            command == "verify"


USAGE_ERRORS = [
    (("plna",), "no such command 'plna' (did you mean 'plan'?)"),
    (("aply", "--yes"), "(did you mean 'apply'?)"),
    (("plan", "--detailed-exitcod"), "plan: no such option '--detailed-exitcod' (did you mean '--detailed-exitcode'?)"),
    (("plan", "--root"), "plan: option '--root' requires an argument"),
    (("plan", "extra"), "plan: got unexpected extra argument"),  # "argument(s) (extra)" from typer 0.26
    (("check", "--jsn", "--prob"), "check: no such option '--jsn' (did you mean '--json'?)"),
    (("--bogus",), "no such option '--bogus'"),
    ((), "no command given"),
]


@pytest.mark.parametrize("args,says", USAGE_ERRORS, ids=[" ".join(a) or "nothing" for a, _ in USAGE_ERRORS])
def test_a_usage_error_is_one_paragraph_with_one_suggestion_and_exit_1(args, says):
    done = dockharden(*args)
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("dockharden: error: "), done.stderr
    assert says in done.stderr, done.stderr
    assert done.stderr.count("did you mean") <= 1 and "Hint: " in done.stderr and "--help`" in done.stderr


@pytest.mark.parametrize("command,documented", [
    ("plan", "2 changes are pending"), ("apply", "interrupted by SIGINT"), ("rollback", "rolled back"),
    ("verify", "2 drift"), ("check", "2 a counted control fails"), ("history", "1 an error"),
    ("show", "1 an error"), ("profiles", "1 an error"), ("completion", "1 an error"),
])
def test_each_command_s_help_states_its_exit_statuses(command, documented):
    done = dockharden(command, "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "Exit status:" in text and documented in text and "130, 143 or 129" in text
