"""The CIS Docker Benchmark controls of sections 1-3, evaluated on facts, for a chosen benchmark version.

Pure: `evaluate(facts, benchmark, level)` joins the version's table (benchmarks/) with the checks
(cis_controls.py, one per stable key, written once for every version) and gives one result per
control, in the version's order, with the evidence seen and, for a failure, what fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from dockharden.inspect.benchmarks import Benchmark, benchmark as benchmark_table

PASS, FAIL, INFO, NA = "pass", "fail", "info", "not_applicable"
UNVERIFIABLE = "not_verifiable"  # the host cannot show the answer from here (kernel audit in a container)
EXCEPTED = "excepted"            # failed, under an exception in force (exceptions.py)
STATUSES = (PASS, FAIL, EXCEPTED, INFO, NA, UNVERIFIABLE)


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
    data_root_mount: str = ""               # the filesystem holding the data root (its mount point), if known
    live: bool = True                       # root is `/`: the running machine, not an image or a tree
    containerd_socket: str = "/run/containerd/containerd.sock"
    containerd_found_by: str = "the system containerd"


@dataclass(frozen=True)
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
        results.append(ControlResult(row.id, row.key, row.title, row.level, row.assessment, status, evidence,
                                     check.fix if status == FAIL else ""))
    return results


def controls() -> dict[str, Check]:
    from dockharden.inspect.controls import audit_controls, daemon_controls, file_controls, host_controls

    return {c.key: c for c in host_controls() + audit_controls() + daemon_controls() + file_controls()}


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
        updated.append(replace(result, status=status, evidence=seen[1].format(value) + "; " + result.evidence,
                               fix=checks[result.key].fix if status == FAIL else ""))
    return updated
