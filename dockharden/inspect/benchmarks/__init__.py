"""The CIS Docker Benchmark versions dockharden checks: one table per version (IDs, titles, levels,
Automated/Manual), each row naming the stable key of the check that answers it. Pure data.

The check logic is written once per key (cis_controls.py); a version's table maps its IDs onto those
keys. So v1.8.0's renumbering (2.7 devicemapper inserted, 2.7-2.18 become 2.8-2.19) is a table, and an
exception written against a key survives it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockharden.errors import DockhardenError


@dataclass(frozen=True)
class Row:
    """One control as a benchmark version states it."""

    id: str
    key: str                      # stable across versions: the check that answers it
    title: str
    levels: tuple[int, ...]       # the profile levels the version lists (() = not given: a general recommendation)
    assessment: str               # "Automated" | "Manual"

    @property
    def level(self) -> str:
        """The level as the version labels it: "1", "2", "1,2" or "n/a"."""
        return ",".join(str(n) for n in self.levels) or "n/a"

    def in_level(self, level: int) -> bool:
        """Part of the Level `level` profile (Level 2 includes Level 1; an unlevelled row is in both)."""
        return not self.levels or min(self.levels) <= level


@dataclass(frozen=True)
class Benchmark:
    version: str                  # "1.8"
    name: str                     # "CIS Docker Benchmark v1.8.0"
    released: str
    rows: tuple[Row, ...]

    def row_for_key(self, key: str) -> Row | None:
        return next((r for r in self.rows if r.key == key), None)

    def row_for_id(self, control_id: str) -> Row | None:
        return next((r for r in self.rows if r.id == control_id), None)


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
