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


# --- one unit writer, systemd's own quoting (issue 24, class 11) ---------------------------------------

@pytest.mark.parametrize("option,value", [
    ("--on-calendar", "weekly\n[Service]\nExecStartPre=/bin/sh -c id"),
    ("--on-calendar", "weekly\rx"), ("--on-calendar", "daily\x1b[2J"), ("--on-calendar", "Sun %H"),
    ("--randomized-delay", "1h\nExecStartPre=/bin/sh"), ("--randomized-delay", "1h\n"),
    ("--randomized-delay", "$DELAY"), ("--randomized-delay", "1 fortnight"),
    ("--reports", "/srv/reports\n[Install]"), ("--textfile", "/srv/x\x07.prom")])
def test_a_schedule_value_that_could_open_a_new_setting_or_section_is_refused_and_nothing_is_written(
        tmp_path, option, value):
    done = dockharden("schedule", "install", "--root", str(tmp_path), option, value)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and option in done.stderr, done.stderr
    assert not (tmp_path / UNITS).exists()


def test_reports_paths_with_specifiers_variables_spaces_and_quotes_reach_execstart_as_written(tmp_path):
    reports, textfile = '/srv/rep %x "q"/$HOME\\n', "/var/lib/n e/%n$X.prom"
    done = dockharden("schedule", "install", "--root", str(tmp_path), "--reports", reports, "--textfile", textfile,
                      "--on-calendar", "Sun *-*-* 03:00:00", "--randomized-delay", "30min", "--no-enable")
    assert done.returncode == 0, done.stderr
    service, timer = tmp_path / UNITS / "dockharden-check.service", tmp_path / UNITS / "dockharden-check.timer"
    checked = analyze(service, timer)  # an unescaped %x is "Failed to resolve unit specifiers" here
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr
    line = next(x for x in service.read_text().splitlines() if x.startswith("ExecStart="))
    assert ' --reports "/srv/rep %%x \\"q\\"/$$HOME\\\\n" ' in line, line
    assert line.endswith(' --textfile "/var/lib/n e/%%n$$X.prom"'), line
    assert "OnCalendar=Sun *-*-* 03:00:00\n" in timer.read_text() and "RandomizedDelaySec=30min\n" in timer.read_text()


def test_the_calendar_and_delay_dockharden_accepts_are_ones_systemd_accepts():
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is missing (package systemd)"
    from dockharden.core import values

    for expression in ("weekly", "daily", "Sun *-*-* 03:00:00", "Mon..Fri 22:30", "*-*-01 00:00:00"):
        assert values.calendar(expression) == expression
        assert subprocess.run([tool, "calendar", expression], capture_output=True).returncode == 0, expression
    for span in ("1h", "30min", "90s", "2d", "1w", "0"):
        assert values.time_span(span) == span
        assert subprocess.run([tool, "timespan", span], capture_output=True).returncode == 0, span


def test_every_unit_dockharden_writes_quotes_execstart_through_the_one_writer():
    """The prune layer's service, the schedule's service and the tls drop-in share systemd_unit's quoting."""
    from dockharden.execute import schedule
    from dockharden.targets import prune_timer, systemd_dropin, systemd_unit

    assert prune_timer.systemd_quote("100%") == systemd_unit.quote("100%") == '"100%%"'
    units = schedule.render_units(schedule.Schedule(command=("/opt/dock harden/bin/dockharden",), reports="/srv/$r"))
    assert 'ExecStart="/opt/dock harden/bin/dockharden" schedule run --root / --reports "/srv/$$r" ' \
        in units[f"{schedule.UNIT_DIR}/{schedule.SERVICE}"]
    # the drop-in keeps the unit's own syntax: a whole-word $VAR stays a variable systemd splits
    assert systemd_dropin.join_exec(("/usr/bin/dockerd", "--label=a b", "$DOCKER_OPTS", "${EXTRA}")) == \
        '/usr/bin/dockerd "--label=a b" $DOCKER_OPTS ${EXTRA}'
    with pytest.raises(ValueError):
        systemd_unit.exec_line(["/usr/bin/docker", "a\nExecStartPre=/bin/sh"])
