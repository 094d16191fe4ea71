"""The conventions an operator expects of a command line: --version, -h, a help that lists every command
and fits each one, one suggestion per typo, and --json documents that are versioned, errors included."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from dockharden.cli import app

REPO = Path(__file__).resolve().parents[2]
COMMANDS = typer.main.get_command(app).list_commands(None)
READ_ONLY = {"plan", "history", "verify", "show", "check"}
WRITERS = {"apply", "rollback"}


def dockharden(*args, stdin=subprocess.DEVNULL):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "dockharden", *args], capture_output=True, text=True, env=env,
                          timeout=120, stdin=stdin)


def test_version_prints_the_package_version_and_exits_0():
    from dockharden import __version__

    done = dockharden("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"dockharden {__version__}\n", "")


def test_the_top_level_help_lists_every_command_and_minus_h_is_the_same_as_help():
    long, short = dockharden("--help"), dockharden("-h")
    assert long.returncode == short.returncode == 0 and long.stdout == short.stdout
    listed = long.stdout[long.stdout.index("Commands:"):].split("\n\n")[0]
    assert [line.split()[0] for line in listed.splitlines()[1:]] == COMMANDS
    assert "--version" in long.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_takes_minus_h(command):
    done = dockharden(command, "-h")
    assert done.returncode == 0 and done.stdout.startswith(f"Usage: dockharden {command}"), done.stderr
    assert "-h, --help" in done.stdout


@pytest.mark.parametrize("command", sorted(READ_ONLY | WRITERS))
def test_root_help_says_read_for_reading_commands_and_read_and_write_for_apply_and_rollback(command):
    text = " ".join(dockharden(command, "-h").stdout.split())
    says = text[text.index("--root DIR"):]
    if command in WRITERS:
        assert says.startswith("--root DIR Read and write every host path"), says[:80]
    else:
        assert says.startswith("--root DIR Read every host path"), says[:80]


@pytest.mark.parametrize("typo,meant", [("plna", "plan"), ("aplly", "apply"), ("histroy", "history"),
                                        ("rollbak", "rollback"), ("shwo", "show")])
def test_a_mistyped_command_gets_exactly_one_suggestion(typo, meant):
    done = dockharden(typo)
    assert done.returncode == 1
    assert done.stderr.count("did you mean") == 1 and f"(did you mean '{meant}'?)" in done.stderr


def test_history_json_is_a_versioned_document(tmp_path):
    assert dockharden("apply", "--root", str(tmp_path), "--yes").returncode == 0
    doc = json.loads(dockharden("history", "--root", str(tmp_path), "--json").stdout)
    assert (doc["format_version"], doc["kind"]) == (2, "dockharden.history")
    assert [g["id"] for g in doc["generations"]] == ["0001"]


def error_document(done):
    doc = json.loads(done.stdout)
    assert (doc["format_version"], doc["kind"]) == (1, "dockharden.error")
    assert doc["exit_status"] == done.returncode
    return doc


def test_with_json_an_error_is_a_document_on_stdout_and_the_paragraph_stays_on_stderr(tmp_path):
    (tmp_path / "etc/docker").mkdir(parents=True)
    (tmp_path / "etc/docker/daemon.json").write_text('{"debug": true,}')
    done = dockharden("plan", "--root", str(tmp_path), "--json", "--detailed-exitcode")
    assert done.returncode == 1  # never 2: that means "changes pending"
    doc = error_document(done)
    assert doc["command"] == "plan" and doc["error"]["type"] == "HostFileError"
    assert doc["error"]["path"] == "/etc/docker/daemon.json" and "not valid JSON" in doc["error"]["message"]
    assert doc["error"]["hint"]
    assert done.stderr.startswith("dockharden: error: /etc/docker/daemon.json") and done.stderr.count("\n") == 1


def test_with_json_a_usage_error_is_a_document_too():
    done = dockharden("history", "--json", "--bogus")
    assert done.returncode == 1
    doc = error_document(done)
    assert doc["command"] == "history" and doc["error"]["type"] == "usage"
    assert "--bogus" in doc["error"]["message"] and "--help" in doc["error"]["hint"]


def test_with_json_a_declined_apply_is_a_document_and_exit_1(tmp_path):
    done = dockharden("apply", "--root", str(tmp_path), "--json")  # standard input ends: no answer is no
    assert done.returncode == 1
    doc = error_document(done)
    assert doc["error"]["type"] == "declined" and "--yes" in doc["error"]["hint"]
    assert [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "lock"] == []  # asked under the lock


def test_without_json_an_error_prints_nothing_on_stdout(tmp_path):
    done = dockharden("plan", "--root", str(tmp_path / "missing"))
    assert done.returncode == 1 and done.stdout == ""
