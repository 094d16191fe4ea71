"""The CIS Docker Benchmark versions dockharden checks: one table per version (IDs, titles, levels,
Automated/Manual), each row naming the stable key of the check that answers it. Pure data.

The check logic is written once per key (inspect/controls.py); a version's table maps its IDs onto those
keys. So v1.8.0's renumbering (2.7 devicemapper inserted, 2.7-2.18 become 2.8-2.19) is a table, and an
exception written against a key survives it.
"""

from __future__ import annotations

from dockharden.errors import DockhardenError
from dockharden.inspect.benchmarks.table import Benchmark, Row  # noqa: F401 (the shape of a version's table)


def _load() -> dict[str, Benchmark]:
    from dockharden.inspect.benchmarks import v1_6_0, v1_7_0, v1_8_0

    return {m.BENCHMARK.version: m.BENCHMARK for m in (v1_6_0, v1_7_0, v1_8_0)}


VERSIONS = ("1.6", "1.7", "1.8")
NEWEST = VERSIONS[-1]


def benchmark(version: str | None = None) -> Benchmark:
    """The table of `version` ("1.6", "1.7", "1.8"; also "1.8.0" or "v1.8.0"); the newest by default."""
    wanted = (version or NEWEST).lstrip("v")
    wanted = wanted[:-2] if wanted.count(".") == 2 and wanted.endswith(".0") else wanted
    tables = _load()
    if wanted not in tables:
        raise DockhardenError(f"no CIS Docker Benchmark version {version!r}", key="--benchmark",
                              hint="use one of " + ", ".join(VERSIONS) + f" (default {NEWEST})")
    return tables[wanted]


def all_keys() -> set[str]:
    return {row.key for table in _load().values() for row in table.rows}
