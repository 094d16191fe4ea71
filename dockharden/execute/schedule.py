"""A scheduled run of `check` and `verify`: a systemd timer and service rendered from templates/,
installed by `dockharden schedule install`, and what the service runs, `dockharden schedule run`,
which writes the JSON reports and Prometheus textfiles into a reports directory, each atomically.

`render_units` is pure; `install_units` writes two files under the root and, on the live host,
asks systemd to load and start the timer; `run_scheduled` reads the host as check and verify do.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass

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


