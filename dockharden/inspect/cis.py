"""The CIS Docker Benchmark controls of sections 1-3 and 5 (with 4.1), evaluated on facts, for a chosen benchmark version.

Pure: `evaluate(facts, benchmark, level)` joins the version's table (benchmarks/) with the checks
(controls.py, one per stable key, written once for every version) and gives one result per
control, in the version's order, with the evidence seen and, for a failure, what fixes it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from dockharden.host.check_values import ContainerFacts, Facts, FileFacts  # noqa: F401 (the facts the controls read)
from dockharden.inspect.benchmarks import Benchmark
from dockharden.inspect.benchmarks import benchmark as benchmark_table
from dockharden.inspect.controls import (
    audit_controls,
    container_controls,
    daemon_controls,
    file_controls,
    host_controls,
)
from dockharden.inspect.results import EXCEPTED, FAIL, INFO, NA, PASS, STATUSES, UNVERIFIABLE, Check, ControlResult  # noqa: F401


def evaluate(facts: Facts, benchmark: Benchmark | None = None, level: int = 2) -> list[ControlResult]:
    """Every control of `benchmark` (the newest by default) in the Level `level` profile, in its order."""
    table = benchmark or benchmark_table()
    checks = controls()
    results = []
    for row in table.rows:
        if not row.in_level(level):
            continue
        check = checks[row.key]
        status, evidence = check.check(facts)
        results.append(ControlResult(id=row.id, key=row.key, title=row.title, level=row.level,
                                     assessment=row.assessment, status=status, evidence=evidence,
                                     fix=check.fix if status == FAIL else ""))
    return results


def controls() -> dict[str, Check]:

    return {c.key: c for c in host_controls() + audit_controls() + daemon_controls() + file_controls()
            + container_controls()}


def failed(results: list[ControlResult]) -> list[ControlResult]:
    """The results the exit status counts."""
    return [r for r in results if r.counted]


PROBE_SETTLES = {"daemon.no-new-privileges": ("no_new_privs", "probe container: NoNewPrivs = {}"),
                 "daemon.userns": ("root_remapped", "probe container: root remapped = {}"),
                 "daemon.icc": ("icc_blocked", "probe containers: the default bridge blocks traffic = {}")}


def apply_probe(results: list[ControlResult], probe: dict[str, Any]) -> list[ControlResult]:
    """Let what a probe container saw settle the controls `docker info` cannot show."""
    checks = controls()
    updated = []
    for result in results:
        seen = PROBE_SETTLES.get(result.key)
        value = probe.get(seen[0]) if seen else None
        if value is None:
            updated.append(result)
            continue
        status = PASS if value else FAIL
        updated.append(replace(result, status=status, evidence=seen[1].format(json.dumps(value)) + "; " + result.evidence,
                               fix=checks[result.key].fix if status == FAIL else ""))
    return updated
