"""A scheduled run of `check` and `verify`: a systemd timer and service rendered from templates/,
installed by `dockharden schedule install`, and what the service runs, `dockharden schedule run`,
which writes the JSON reports and Prometheus textfiles into a reports directory, each atomically.

`render_units` is pure; `install_units` writes two files under the root and, on the live host,
asks systemd to load and start the timer; `uninstall_units` stops the timer and removes those two files
(only while they are dockharden's: regular files that begin with its header); `run_scheduled` reads
the host as check and verify do.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from dockharden.errors import DockhardenError
from dockharden.host.runner import Runner

UNIT_DIR = "/etc/systemd/system"
SERVICE, TIMER = "dockharden-check.service", "dockharden-check.timer"
REPORTS = "/var/lib/dockharden/reports"
WRITTEN_BY = b"# Written by `dockharden schedule install`"  # the first line of each unit (templates/)
# Weekly, as the hardening references advise; the delay spreads a fleet's runs over an hour.
ON_CALENDAR, RANDOMIZED_DELAY = "weekly", "1h"


@dataclass(frozen=True, kw_only=True)
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
    """{unit file path: text} for the service and the timer. Every value is checked as a layer's would be
    (core/values.py) and reaches the units through the one unit writer (targets/systemd_unit.py): the
    ExecStart arguments quoted for systemd (`%` and `$` expand nothing), every other value one printable
    line (a line break cannot open a new setting or section)."""
    from dockharden.core import values
    from dockharden.targets.systemd_unit import exec_line
    from dockharden.targets.templating import render_template

    for value, what in ((schedule.reports, "--reports"), (schedule.textfile or "/", "--textfile")):
        if not value.startswith("/") or not value.isprintable():
            raise DockhardenError(f"{value!r} must be an absolute path of printable characters", key=what,
                                  hint="a systemd unit names it on its ExecStart line")
    for value, what, check in ((schedule.on_calendar, "--on-calendar", values.calendar),
                               (schedule.randomized_delay, "--randomized-delay", values.time_span)):
        try:
            check(value)
        except values.Invalid as exc:
            raise DockhardenError(exc.message, key=what, hint=exc.fix + "; nothing was written") from None
    run = [*schedule.command, "schedule", "run", "--root", schedule.root, "--reports", schedule.reports,
           "--benchmark", schedule.benchmark, "--level", str(schedule.level)]
    run += ["--textfile", schedule.textfile] if schedule.textfile else []
    values_ = dict(exec_start=exec_line(run), reports=schedule.reports, on_calendar=schedule.on_calendar,
                   randomized_delay=schedule.randomized_delay)
    return {f"{UNIT_DIR}/{SERVICE}": render_template("dockharden-check.service.j2", **values_),
            f"{UNIT_DIR}/{TIMER}": render_template("dockharden-check.timer.j2", **values_)}


def install_units(root: str, units: dict[str, str], runner: Runner, *, enable: bool = True) -> list[str]:
    """Write the units under `root` (0644; never through a symlink); on the live host with systemd, reload and
    start the timer."""
    from dockharden.host.fs import HostFS

    fs, done = HostFS(root), []
    for path, text in units.items():
        fs.write_own(path, text.encode(), 0o644)  # a symlink standing there is refused, never followed
        done.append(f"wrote {path}")
    if enable and fs.live and fs.is_dir("/run/systemd/system"):
        for argv in (["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", TIMER]):
            result = runner.run(argv, timeout=60)
            if not result.ok:
                raise DockhardenError(f"{' '.join(argv)} failed: {result.stderr.strip()}", path=f"{UNIT_DIR}/{TIMER}",
                                      hint="see `systemd-analyze verify` on the unit and `journalctl -xe`")
            done.append(" ".join(argv))
    return done




def uninstall_units(root: str, runner: Runner) -> list[str]:
    """Stop and disable the timer (on the live host under systemd), remove the two units dockharden wrote,
    reload systemd. Refuses, changing nothing, when a unit's path is a symlink or holds a file dockharden
    did not write."""
    from dockharden.host.fs import HostFS

    fs = HostFS(root)
    present = own_units(fs, [f"{UNIT_DIR}/{TIMER}", f"{UNIT_DIR}/{SERVICE}"])
    if not present:
        return [f"nothing to remove: no {TIMER} or {SERVICE} in {UNIT_DIR}"]
    systemd = fs.live and fs.is_dir("/run/systemd/system")
    done = []
    if systemd:
        done += _systemctl(runner, ["disable", "--now", TIMER]) if f"{UNIT_DIR}/{TIMER}" in present else []
        done += _systemctl(runner, ["stop", SERVICE])
    for path in present:
        fs.remove(path)
        done.append(f"removed {path}")
    if systemd:
        done += _systemctl(runner, ["daemon-reload"])
    elif fs.is_link(f"{UNIT_DIR}/timers.target.wants/{TIMER}"):
        done.append(f"left {UNIT_DIR}/timers.target.wants/{TIMER} (systemctl's link, not dockharden's): "
                    f"`systemctl --root {root} disable {TIMER}` removes it")
    return done


def own_units(fs, paths: list[str]) -> list[str]:
    """The paths that hold a unit dockharden wrote; a symlink or another writer's file is refused."""
    present = []
    for path in paths:
        if fs.is_link(path):
            raise DockhardenError("a symlink stands where dockharden wrote its unit; it removes no file through a "
                                  "symlink, nor what the link points at", path=path,
                                  hint="remove the link yourself if it is not needed; nothing was changed")
        found = fs.read(path)
        if not found.exists:
            continue
        if not (found.content or b"").startswith(WRITTEN_BY):
            raise DockhardenError("this unit was not written by `dockharden schedule install` (its first line "
                                  "is not dockharden's), so it is not dockharden's to remove", path=path,
                                  hint="remove it yourself if it is not needed; nothing was changed")
        present.append(path)
    return present


def _systemctl(runner: Runner, args: list[str]) -> list[str]:
    argv = ["systemctl", *args]
    result = runner.run(argv, timeout=60)
    if not result.ok:
        raise DockhardenError(f"{' '.join(argv)} failed: {result.stderr.strip()}", path=f"{UNIT_DIR}/{TIMER}",
                              hint="see `systemctl status dockharden-check.timer` and `journalctl -xe`")
    return [" ".join(argv)]
