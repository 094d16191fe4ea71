"""The CIS Docker Benchmark controls dockharden owns (sections 1.1, 2 and 3), evaluated on facts.

Pure: `evaluate(facts)` turns what was read from the live host (checkfacts.py) into one result per
control, with the evidence seen and, for a failure, the layer or setting that fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

PASS, FAIL, INFO, NA = "pass", "fail", "info", "not_applicable"
UNVERIFIABLE = "not_verifiable"  # the host cannot show the answer from here (kernel audit in a container)


@dataclass(frozen=True)
class FileFacts:
    """A path as found on the host: None fields when it does not exist."""

    path: str
    exists: bool
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None


@dataclass(frozen=True)
class Facts:
    """Everything the controls look at, read once from the live host."""

    config: dict[str, Any]                  # daemon.json merged with the running dockerd's flags
    config_sources: dict[str, str]          # key -> "daemon.json" | "flag --x"
    info: dict[str, Any] | None             # docker info, None when the daemon does not answer
    bridge_options: dict[str, str]
    audit_watched: frozenset[str]           # paths the kernel's audit rules watch (auditctl -l)
    audit_error: str = ""
    audit_unavailable: str = ""             # why the kernel's audit rules cannot be read here ('' when they can)
    audit_file_watches: frozenset[str] = frozenset()  # paths watched by the rules files (loaded at boot)
    existing: frozenset[str] = frozenset()  # which candidate paths exist
    files: dict[str, FileFacts] = field(default_factory=dict)
    docker_gid: int | None = None
    docker_group_members: tuple[str, ...] = ()
    data_root_separate: bool | None = None
    data_root: str = "/var/lib/docker"


@dataclass(frozen=True)
class ControlResult:
    id: str
    title: str
    status: str
    evidence: str
    fix: str = ""
    scored: bool = True


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    fix: str
    check: Callable[[Facts], tuple[str, str]]
    scored: bool = True


def evaluate(facts: Facts) -> list[ControlResult]:
    """Every control, in benchmark order."""
    results = []
    for control in controls():
        status, evidence = control.check(facts)
        results.append(ControlResult(control.id, control.title, status, evidence,
                                     control.fix if status == FAIL else "", control.scored))
    return results


def controls() -> list[Control]:
    from dockharden.cis_controls import audit_controls, daemon_controls, file_controls

    return audit_controls() + daemon_controls() + file_controls()


def failed_scored(results: list[ControlResult]) -> list[ControlResult]:
    return [r for r in results if r.scored and r.status == FAIL]


def apply_probe(results: list[ControlResult], probe: dict[str, Any]) -> list[ControlResult]:
    """Let what a probe container saw settle the controls `docker info` cannot show."""
    seen = {"2.14": ("no_new_privs", "probe container: NoNewPrivs = {}"),
            "2.9": ("root_remapped", "probe container: root remapped = {}"),
            "2.2": ("icc_blocked", "probe containers: the default bridge blocks traffic = {}")}
    updated = []
    for result in results:
        key = seen.get(result.id)
        value = probe.get(key[0]) if key else None
        if value is None:
            updated.append(result)
            continue
        status = PASS if value else FAIL
        updated.append(ControlResult(result.id, result.title, status, key[1].format(value) + "; " + result.evidence,
                                     result.fix if status == FAIL else "", result.scored))
    return updated
