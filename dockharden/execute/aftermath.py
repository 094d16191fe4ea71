"""The running workload around an apply or a rollback: measured before the run acts and after it ends, so
its result can list the containers that stopped and did not come back, and the published ports that stopped
answering on the host. A report, never a failure: the run's outcome is its own.

Touches the machine only through host.workload (the daemon's API, TCP connects).
"""

from __future__ import annotations

from collections.abc import Callable

from dockharden.core.published_ports import aftermath
from dockharden.execute.apply import Engine, RunResult
from dockharden.host.workload import read_workload, settled_workload
from dockharden.model import Plan, RunOutcome


def watched(plan: Plan, engine: Engine, run: Callable[[], RunResult], *, live: bool) -> RunResult:
    """`run()`, with its result's `aftermath` (None when services are not acted on or the daemon is silent)."""
    socket = engine.for_plan(plan).socket
    before = read_workload(socket) if live else None
    result = run()
    if before is None or result.result == RunOutcome.UNCHANGED:
        return result
    after = settled_workload(socket, before)
    if after is None:
        return result._replace(messages=result.messages + (
            "dockerd does not answer after the run: which containers still run is not known",))
    closure = plan.port_closure
    closed = closure.ports if closure and closure.takes_effect and result.result == RunOutcome.APPLIED else ()
    return result._replace(aftermath=aftermath(before.containers, before.answering, after.containers,
                                               after.answering, closed))
