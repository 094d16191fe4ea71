"""What a CIS control's check gives: the statuses, a check (how the host answers one control) and a
result (one control of one benchmark version, with its evidence). Pure values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dockharden.host.check_values import Facts

PASS, FAIL, INFO, NA = "pass", "fail", "info", "not_applicable"
UNVERIFIABLE = "not_verifiable"  # the host cannot show the answer from here (kernel audit in a container)
EXCEPTED = "excepted"            # failed, under an exception in force (exceptions.py)
STATUSES = (PASS, FAIL, EXCEPTED, INFO, NA, UNVERIFIABLE)


@dataclass(frozen=True, kw_only=True)
class ControlResult:
    id: str
    key: str
    title: str
    level: str          # as the version labels it: "1", "2", "1,2", "n/a"
    assessment: str     # "Automated" | "Manual", as the version labels it
    status: str
    evidence: str
    fix: str = ""
    exception: dict[str, str] | None = None  # the exception that applies: reason, owner, expires, state

    @property
    def counted(self) -> bool:
        """Whether this result makes `check` exit 2 (see docs/check.md, "What the exit status counts")."""
        return self.status == FAIL


@dataclass(frozen=True)
class Check:
    """How the host answers one control, whatever its ID in a given version."""

    key: str
    fix: str
    check: Callable[[Facts], tuple[str, str]]
