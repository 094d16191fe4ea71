"""A scheduled run of `check` and `verify`: a systemd timer and service rendered from templates/,
installed by `dockharden schedule install`, and what the service runs, `dockharden schedule run`,
which writes the JSON reports and Prometheus textfiles into a reports directory, each atomically.

`render_units` is pure; `install_units` writes two files under the root and, on the live host,
asks systemd to load and start the timer; `run_scheduled` reads the host as check and verify do.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from dockharden.errors import DockhardenError
from dockharden.host.runner import Runner

UNIT_DIR = "/etc/systemd/system"
SERVICE, TIMER = "dockharden-check.service", "dockharden-check.timer"
REPORTS = "/var/lib/dockharden/reports"
# Weekly, as the hardening references advise; the delay spreads a fleet's runs over an hour.
ON_CALENDAR, RANDOMIZED_DELAY = "weekly", "1h"


@dataclass(frozen=True)
class Schedule:
    command: tuple[str, ...]
    root: str = "/"
    reports: str = REPORTS
    benchmark: str = "1.8"
    level: int = 2
    textfile: str = ""
    on_calendar: str = ON_CALENDAR
    randomized_delay: str = RANDOMIZED_DELAY


def default_command() -> tuple[str, ...]:
    """How the service starts dockharden: the installed `dockharden` on PATH, else this Python's module."""
    import sys

    found = shutil.which("dockharden")
    return (os.path.realpath(found),) if found else (sys.executable, "-m", "dockharden")


def render_units(schedule: Schedule) -> dict[str, str]:
    """{unit file path: text} for the service and the timer."""
    from dockharden.targets.templating import render_template

    for value, what in ((schedule.reports, "--reports"), (schedule.textfile or "/", "--textfile")):
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise DockhardenError(f"{value!r} must be an absolute path without whitespace", key=what,
                                  hint="a systemd unit names it on its ExecStart line")
    values = dict(command=shlex.join(schedule.command), root=schedule.root, reports=schedule.reports,
                  benchmark=schedule.benchmark, level=schedule.level, textfile=schedule.textfile,
                  on_calendar=schedule.on_calendar, randomized_delay=schedule.randomized_delay)
    return {f"{UNIT_DIR}/{SERVICE}": render_template("dockharden-check.service.j2", **values),
            f"{UNIT_DIR}/{TIMER}": render_template("dockharden-check.timer.j2", **values)}


def install_units(root: str, units: dict[str, str], runner: Runner, *, enable: bool = True) -> list[str]:
    """Write the units under `root` (0644); on the live host with systemd, reload and start the timer."""
    from dockharden.host.fs import HostFS

    fs, done = HostFS(root), []
    for path, text in units.items():
        fs.write(path, text.encode(), 0o644)
        done.append(f"wrote {path}")
    if enable and fs.live and fs.is_dir("/run/systemd/system"):
        for argv in (["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", TIMER]):
            result = runner.run(argv, timeout=60)
            if not result.ok:
                raise DockhardenError(f"{' '.join(argv)} failed: {result.stderr.strip()}", path=f"{UNIT_DIR}/{TIMER}",
                                      hint="see `systemd-analyze verify` on the unit and `journalctl -xe`")
            done.append(" ".join(argv))
    return done


def run_scheduled(root: str, runner: Runner, schedule: Schedule,
                  clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> tuple[int, list[str]]:
    """check and verify, each report written atomically into the reports directory:
    check.json, check.prom, verify.json, verify.prom. (exit status as check/verify give it, lines said)"""
    import time

    from dockharden.inspect import formats as check_formats
    from dockharden.inspect.check import run_check
    from dockharden.host.fs import HostFS

    socket_path, rows, notes = _verify(root, runner)
    outcome = run_check(root, runner, socket_path, benchmark=schedule.benchmark, level=schedule.level, clock=clock)
    now = time.time()
    textfile = check_formats.render_textfile(outcome.results, outcome.run, now)
    drift = [r for r in rows if not r.ok]
    reports = {"check.json": check_formats.render_json(outcome.results, outcome.run),
               "check.prom": textfile, "verify.json": _verify_json(rows, notes),
               "verify.prom": _verify_textfile(rows, now)}
    for name, text in reports.items():
        HostFS("/").write(os.path.join(schedule.reports, name), text.encode(), 0o644)
    if schedule.textfile:
        HostFS("/").write(schedule.textfile, (textfile + _verify_textfile(rows, now)).encode(), 0o644)
    said = [f"wrote {schedule.reports}/{name}" for name in reports] + outcome.notes
    failing = sum(r.counted for r in outcome.results)
    said.append(f"check: {failing} failure(s) counted; verify: {len(drift)} mismatch(es)")
    return (2 if failing or drift else 0), said


def _verify(root: str, runner: Runner):
    from dockharden import api
    from dockharden.inspect import verify as drift
    from dockharden.core import planning as pipeline
    from dockharden.execute.apply import docker_socket
    from dockharden.inspect.check import exception_notes
    from dockharden.core.planning import Context

    ctx = Context(root=root, runner=runner)
    config, selection = pipeline.read_selection(ctx, None, None)
    the_plan = pipeline.build_plan(ctx, selection, config)
    engine = api.engine_for(ctx, config, api.Request(root=root, runner=runner)).for_plan(the_plan)
    return docker_socket(root, config), drift.find_drift(the_plan, engine), \
        exception_notes(root, datetime.now(timezone.utc))


def _verify_json(rows, notes) -> str:
    from dockharden import report

    return json.dumps(report.drift_document(rows, notes), indent=2) + "\n"


def _verify_textfile(rows, unix_time: float) -> str:
    bad = sum(not r.ok for r in rows)
    return ("# HELP dockharden_verify_mismatches Desired settings not in force at the last verify.\n"
            "# TYPE dockharden_verify_mismatches gauge\n"
            f"dockharden_verify_mismatches {bad}\n"
            "# HELP dockharden_verify_last_run_timestamp_seconds When dockharden verify last ran (Unix time).\n"
            "# TYPE dockharden_verify_last_run_timestamp_seconds gauge\n"
            f"dockharden_verify_last_run_timestamp_seconds {unix_time:.3f}\n")
