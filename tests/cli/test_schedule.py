"""`dockharden schedule`: a systemd timer and service that systemd-analyze accepts, and the run it starts
writing the check and verify reports atomically."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
UNITS = "etc/systemd/system"


def dockharden(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "dockharden", *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=180)


def analyze(*paths):
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is missing (package systemd): the units cannot be verified"
    return subprocess.run([tool, "verify", "--man=no", *map(str, paths)], capture_output=True, text=True, timeout=60)


def test_the_installed_timer_and_service_pass_systemd_analyze_verify(tmp_path):
    done = dockharden("schedule", "install", "--root", str(tmp_path), "--textfile",
                      "/var/lib/prometheus/node-exporter/dockharden.prom")
    assert done.returncode == 0, done.stderr
    service, timer = tmp_path / UNITS / "dockharden-check.service", tmp_path / UNITS / "dockharden-check.timer"
    assert oct(service.stat().st_mode & 0o777) == "0o644" == oct(timer.stat().st_mode & 0o777)
    checked = analyze(service, timer)
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr
    text = service.read_text()
    assert " schedule run --root / --reports /var/lib/dockharden/reports --benchmark 1.8 --level 2 --textfile " in text
    assert "SuccessExitStatus=2" in text and "OnCalendar=weekly" in timer.read_text()


def test_systemd_analyze_refuses_a_broken_unit_so_the_verification_is_real(tmp_path):
    assert dockharden("schedule", "install", "--root", str(tmp_path)).returncode == 0
    timer = tmp_path / UNITS / "dockharden-check.timer"
    timer.write_text(timer.read_text().replace("OnCalendar=weekly", "OnCalendar=weakly"))
    assert analyze(timer).returncode != 0


@pytest.mark.parametrize("args,says", [(("--reports", "reports"), "must be an absolute path"),
                                       (("--benchmark", "2.0"), "no CIS Docker Benchmark version"),
                                       (("--textfile", "/tmp/x"), "ending in .prom")])
def test_a_bad_schedule_option_is_one_paragraph_and_exit_1(tmp_path, args, says):
    done = dockharden("schedule", "install", "--root", str(tmp_path), *args)
    assert done.returncode == 1 and says in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / UNITS).exists()


def test_the_scheduled_run_writes_check_and_verify_reports_and_textfiles(tmp_path):
    root = tmp_path / "root"
    reports = root / "var/lib/dockharden/reports"  # --reports is a host path: under --root (issue 24)
    root.mkdir()
    done = dockharden("schedule", "run", "--root", str(root), "--reports", "/var/lib/dockharden/reports",
                      "--benchmark", "1.7")
    assert done.returncode == 2, done.stderr  # no daemon answers in a tree: failures and drift
    assert sorted(os.listdir(reports)) == ["check.json", "check.prom", "verify.json", "verify.prom"]
    assert json.loads((reports / "check.json").read_text())["benchmark_version"] == "1.7"
    assert json.loads((reports / "verify.json").read_text())["kind"] == "dockharden.verify"
    names = {f.name for f in text_string_to_metric_families((reports / "check.prom").read_text()
                                                            + (reports / "verify.prom").read_text())}
    assert {"dockharden_cis_control_failing", "dockharden_verify_mismatches"} <= names
    assert "check: " in done.stdout and "failure(s) counted; verify: " in done.stdout
    assert " not verifiable, " in done.stdout and "everything desired is in force" not in done.stdout


def test_schedule_uninstall_removes_the_two_units_it_wrote_and_then_has_nothing_to_remove(tmp_path):
    assert dockharden("schedule", "install", "--root", str(tmp_path)).returncode == 0
    (tmp_path / UNITS / "docker.service.d").mkdir()
    done = dockharden("schedule", "uninstall", "--root", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["removed /etc/systemd/system/dockharden-check.timer",
                                        "removed /etc/systemd/system/dockharden-check.service"]
    assert sorted(os.listdir(tmp_path / UNITS)) == ["docker.service.d"]
    again = dockharden("schedule", "uninstall", "--root", str(tmp_path))
    assert again.returncode == 0 and again.stdout.startswith("nothing to remove: ")


def test_schedule_uninstall_refuses_a_symlink_and_a_unit_it_did_not_write_and_removes_nothing(tmp_path):
    assert dockharden("schedule", "install", "--root", str(tmp_path)).returncode == 0
    timer, service = tmp_path / UNITS / "dockharden-check.timer", tmp_path / UNITS / "dockharden-check.service"
    elsewhere = tmp_path / "operator.timer"
    elsewhere.write_text("[Timer]\nOnCalendar=daily\n")
    timer.unlink()
    timer.symlink_to(elsewhere)
    done = dockharden("schedule", "uninstall", "--root", str(tmp_path))
    assert done.returncode == 1 and "a symlink stands where dockharden wrote its unit" in done.stderr
    assert timer.is_symlink() and elsewhere.exists() and service.exists()
    timer.unlink()
    service.write_text("# the operator's own service\n[Service]\nExecStart=/bin/true\n")
    done = dockharden("schedule", "uninstall", "--root", str(tmp_path))
    assert done.returncode == 1 and "not written by `dockharden schedule install`" in done.stderr
    assert service.read_text().startswith("# the operator's own service")
