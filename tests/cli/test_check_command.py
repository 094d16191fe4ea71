"""`dockharden check` as CI and auditors run it: versions, levels, formats, exceptions, the textfile."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TODAY = dt.datetime.now(dt.UTC).date()


def dockharden(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "dockharden", *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=120)


def check_json(root, *args):
    done = dockharden("check", "--root", str(root), "--format", "json", *args)
    assert done.returncode in (0, 2), done.stderr
    return done, json.loads(done.stdout)


def exceptions_file(root: Path, text: str) -> Path:
    path = root / "etc/dockharden/exceptions.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def exception(control: str, expires: dt.date, reason: str = "accepted risk RISK-7") -> str:
    return (f'[[exception]]\ncontrol = "{control}"\nreason = "{reason}"\nowner = "secops@example.com"\n'
            f"expires = {expires.isoformat()}\n")


# sections 1-3 (62, 63 in v1.8.0), then 4.1 and section 5's eleven runtime controls
@pytest.mark.parametrize("version,tls_id,count", [("1.6", "2.7", 62 + 12), ("1.7", "2.7", 62 + 12), ("1.8", "2.8", 63 + 12)])
def test_each_benchmark_version_reports_its_own_ids_and_titles(tmp_path, version, tls_id, count):
    _, doc = check_json(tmp_path, "--benchmark", version)
    assert doc["benchmark"] == f"CIS Docker Benchmark v{version}.0" and doc["benchmark_version"] == version
    controls = {c["id"]: c for c in doc["controls"]}
    assert len(controls) == count and controls[tls_id]["key"] == "daemon.tls"
    assert controls[tls_id]["title"] == "Ensure TLS authentication for Docker daemon is configured"


def test_the_newest_version_is_the_default_and_json_is_an_alias_of_format_json(tmp_path):
    done = dockharden("check", "--root", str(tmp_path), "--json")
    assert json.loads(done.stdout)["benchmark_version"] == "1.8"


def test_level_1_reports_only_level_1_controls(tmp_path):
    _, doc = check_json(tmp_path, "--level", "1")
    assert doc["level"] == 1 and {c["level"] for c in doc["controls"]} == {"1"}


def test_an_exception_in_force_makes_a_failure_excepted_and_the_exit_status_follows(tmp_path):
    done, doc = check_json(tmp_path)
    failing = {c["key"] for c in doc["controls"] if c["counted"]}
    assert done.returncode == 2 and failing
    exceptions_file(tmp_path, "".join(exception(key, TODAY + dt.timedelta(days=90)) for key in sorted(failing)))
    done, doc = check_json(tmp_path)
    assert done.returncode == 0, [c for c in doc["controls"] if c["counted"]]
    assert {c["key"] for c in doc["controls"] if c["status"] == "excepted"} == failing
    assert doc["exceptions_file"] == "/etc/dockharden/exceptions.toml"


def test_an_expired_exception_counts_as_a_failure_and_says_it_expired(tmp_path):
    _, doc = check_json(tmp_path)
    key = next(c["key"] for c in doc["controls"] if c["counted"])
    exceptions_file(tmp_path, exception(key, TODAY - dt.timedelta(days=1)))
    done, doc = check_json(tmp_path)
    control = next(c for c in doc["controls"] if c["key"] == key)
    assert done.returncode == 2 and control["status"] == "fail" and control["exception"]["state"] == "expired"
    assert control["evidence"].startswith("exception expired on ")
    assert f"exception for {key} expired on" in done.stderr


def test_exceptions_can_come_from_a_file_named_on_the_command_line(tmp_path):
    path = tmp_path / "site-exceptions.toml"
    path.write_text(exception("daemon.icc", TODAY + dt.timedelta(days=10)))
    done, doc = check_json(tmp_path / "..", "--exceptions", str(path))
    assert next(c for c in doc["controls"] if c["key"] == "daemon.icc")["status"] == "excepted"
    assert "expires on" in done.stderr and "in 10 day(s)" in done.stderr


def test_a_bad_exceptions_file_is_one_paragraph_naming_file_entry_and_fix_and_exit_1(tmp_path):
    exceptions_file(tmp_path, exception("daemon.icc", TODAY) + '[[exception]]\ncontrol = "daemon.ic"\n')
    done = dockharden("check", "--root", str(tmp_path))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("dockharden: error: /etc/dockharden/exceptions.toml, [[exception]] entry 2, "
                                  "key `control`: no control has the key 'daemon.ic'. Hint: ")


@pytest.mark.parametrize("args,says", [
    (("--format", "xml"), "unknown format 'xml'"), (("--benchmark", "1.5"), "no CIS Docker Benchmark version '1.5'"),
    (("--level", "3"), "no profile level 3"), (("--json", "--format", "sarif"), "--json asks for json"),
    (("--textfile", "/tmp/x.txt"), "files ending in .prom"),
])
def test_a_bad_option_value_is_one_paragraph_and_exit_1(tmp_path, args, says):
    done = dockharden("check", "--root", str(tmp_path), *args)
    assert done.returncode == 1 and says in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_sarif_and_junit_are_printed_for_ci(tmp_path):
    sarif = dockharden("check", "--root", str(tmp_path), "--format", "sarif")
    assert sarif.returncode == 2 and json.loads(sarif.stdout)["version"] == "2.1.0"
    junit = dockharden("check", "--root", str(tmp_path), "--format", "junit")
    assert junit.returncode == 2 and junit.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')


def test_the_textfile_is_written_atomically_next_to_the_report(tmp_path):
    target = tmp_path / "collector/dockharden.prom"
    target.parent.mkdir()
    done = dockharden("check", "--root", str(tmp_path), "--textfile", str(target), "--benchmark", "1.7")
    assert done.returncode == 2
    text = target.read_text()
    assert 'dockharden_cis_control_failing{id="2.7",key="daemon.tls"' in text
    assert 'benchmark="CIS Docker Benchmark v1.7.0"' in text and "dockharden_check_last_run_timestamp_seconds" in text
    assert oct(target.stat().st_mode & 0o777) == "0o644" and os.listdir(target.parent) == ["dockharden.prom"]


def test_plan_and_verify_show_exceptions_that_expire_within_30_days_as_notes(tmp_path):
    exceptions_file(tmp_path, exception("daemon.authorization", TODAY + dt.timedelta(days=5))
                    + exception("daemon.icc", TODAY + dt.timedelta(days=60)))
    plan = json.loads(dockharden("plan", "--root", str(tmp_path), "--json").stdout)
    notes = [n["message"] for n in plan["notes"] if "exception" in n["message"]]
    assert len(notes) == 1 and "exception for daemon.authorization expires on" in notes[0] and "in 5 day(s)" in notes[0]
    verify = dockharden("verify", "--root", str(tmp_path))
    assert verify.returncode == 2 and "exception for daemon.authorization expires on" in verify.stdout


def test_check_with_a_probe_that_cannot_run_says_so_in_one_line_and_exits_1(tmp_path):
    done = dockharden("check", "--root", str(tmp_path), "--probe")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("dockharden: error: "), done.stderr
    assert "the probe did not run (" in done.stderr and "Hint: name a local image with --image" in done.stderr
    assert "None" not in done.stderr and "('" not in done.stderr
