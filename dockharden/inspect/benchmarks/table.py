"""A benchmark version's table and its rows: the shape every version module fills in. Pure values."""

from __future__ import annotations

from dataclasses import dataclass


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
