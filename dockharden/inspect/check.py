"""`dockharden check` as a library call: read the host, evaluate the chosen benchmark version at the
chosen level, settle what a probe saw, apply the exceptions. Orchestration only; reads the machine
through checkfacts and probe, never writes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dockharden.host.runner import Runner
from dockharden.inspect.cis import ControlResult
from dockharden.inspect.formats import Run
from dockharden.model import HostSnapshot


@dataclass(frozen=True)
class CheckOutcome:
    results: list[ControlResult]
    run: Run
    probe: dict | None
    notes: list[str]          # exceptions that expired or expire within 30 days


def run_check(host: HostSnapshot, runner: Runner, socket_path: str, *, benchmark: str | None = None, level: int = 2,
              exceptions_file: str | None = None, probe: Callable[[], dict] | None = None,
              clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> CheckOutcome:
    """Every control of the chosen version in the Level `level` profile, with exceptions applied.

    Bad input (an unknown version, a damaged exceptions file) fails before the host is read.
    """
    from dockharden.host import check_facts as checkfacts
    from dockharden.inspect import cis
    from dockharden.inspect.benchmarks import benchmark as benchmark_table
    from dockharden.inspect.exceptions import apply_exceptions, expiring_notes, load_exceptions

    root = host.root
    table = benchmark_table(benchmark)
    exceptions, source = load_exceptions(root, exceptions_file)
    now = clock()
    results = cis.evaluate(checkfacts.read_facts(host, runner, socket_path), table, level)
    found = probe() if probe else None
    if found:
        results = cis.apply_probe(results, found)
    results = apply_exceptions(results, exceptions, now.date())
    run = Run(benchmark=table.name, version=table.version, level=level, time=now.isoformat(timespec="seconds"),
              host=os.uname().nodename if os.path.realpath(root) == "/" else "", exceptions_file=source if exceptions else "")
    return CheckOutcome(results, run, found, expiring_notes(exceptions, now.date()))


def exception_notes(root: str, now: datetime) -> list:
    """For plan and verify: the exceptions of the default file that expired or expire within 30 days, as
    warnings. A damaged file stops the command as everywhere (one paragraph, exit 1)."""
    from dockharden.inspect.exceptions import PATH, expiring_notes, load_exceptions
    from dockharden.model import Note

    exceptions, _ = load_exceptions(root)
    return [Note("warning", f"{PATH}: {note}") for note in expiring_notes(exceptions, now.date())]
