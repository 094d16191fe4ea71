"""The library API: plan, apply and roll back a host, as the CLI and the Ansible module do.

Orchestration only (the stages do the work); it touches the machine through apply and recovery.
Everything is a parameter: the root, the runner, the clock, service settings, a progress callback
and, for apply, the confirmation step between plan and execution.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from dockharden.model import Plan
from dockharden.pipeline import Context
from dockharden.runner import Runner

if TYPE_CHECKING:  # apply is imported where it is used: a plan does not pay for it
    from dockharden.apply import Engine, RunResult


@dataclass(frozen=True)
class Request:
    """What to do, and to which host."""

    root: str = "/"
    profiles: list[str] | None = None   # None: the persisted selection, else baseline
    layers: list[str] | None = None
    engine_version: str | None = None
    user: str | None = None              # the rootless daemon's user
    service: dict[str, Any] | None = None  # overrides of dockharden.toml's [service] (and [docker])
    runner: Runner | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    progress: Callable[[str], None] = lambda message: None


@dataclass(frozen=True)
class Outcome:
    """A plan and, when it was executed, what happened; `recovered` lists interrupted runs undone first."""

    plan: Plan
    result: "RunResult | None" = None
    recovered: tuple[str, ...] = ()


def _context(request: Request, *, writes: bool = False) -> Context:
    from dockharden.hostroot import require_root

    require_root(request.root, writes=writes)
    return Context(root=request.root, runner=request.runner or Runner(), engine_version=request.engine_version,
                   clock=request.clock, user=request.user)


def _config(ctx: Context, request: Request):
    from dockharden import pipeline

    config, selection = pipeline.read_selection(ctx, request.profiles, request.layers)
    if request.service:
        overrides = dict(request.service)
        docker = {k: overrides.pop(k) for k in ("host", "log_file") if k in overrides}
        config = dict(config, service={**config.get("service", {}), **overrides},
                      docker={**config.get("docker", {}), **docker})
    return config, selection


def engine_for(ctx: Context, config: dict, request: Request,
               checkpoint: Callable[[str], None] = lambda where: None) -> "Engine":
    from dockharden.apply import Engine

    return Engine(root=ctx.root, runner=ctx.runner, now=request.clock, config=config, progress=request.progress,
                  checkpoint=checkpoint)


def make_plan(request: Request, *, restart: bool = True) -> Plan:
    """What apply would do (with `restart` false: apply --no-restart); writes nothing. Interrupted runs are
    reported in the notes."""
    from dockharden import pipeline
    from dockharden.recovery import interrupted_notes

    ctx = _context(request)
    config, selection = _config(ctx, request)
    plan = pipeline.build_plan(ctx, selection, config, restart=restart)
    return replace(plan, notes=plan.notes + tuple(interrupted_notes(request.root)))


def apply(request: Request, *, restart: bool = True, confirm: Callable[[Plan], bool] = lambda plan: True) -> Outcome:
    """Plan, then (under the host lock, after undoing any interrupted run) execute the plan.

    Under the lock SIGINT, SIGTERM and SIGHUP are deferred to the engine's step boundaries: the step under
    way finishes, then the generation is rolled back (RunResult.interrupted says by which signal). A root
    other than / is not the running system: no service is acted on there (as with restart=False).
    """
    from dockharden import apply as applymod, faults, pipeline, recovery
    from dockharden.interrupts import Deferral
    from dockharden.lock import HostLock

    ctx = _context(request, writes=True)
    restart = restart and pipeline.is_running_system(request.root)
    config, selection = _config(ctx, request)
    # bad input fails here, before any file is created
    plan = pipeline.build_plan(ctx, selection, config, restart=restart)
    with Deferral() as signals, HostLock(request.root, request.clock(), "apply"):
        faults.point("after-lock")
        _stop_if_signalled(signals, "after taking the lock", [])
        engine = engine_for(ctx, config, request, signals.checkpoint)
        recovered = recovery.recover(engine)
        _stop_if_signalled(signals, "before applying", recovered)
        if recovered:  # the interrupted run may have written dockharden.toml: read it again, as restored
            config, selection = _config(ctx, request)
            plan = pipeline.build_plan(ctx, selection, config, restart=restart)
        if plan.has_changes and not _ask(signals, confirm, plan, recovered):
            return Outcome(plan, None, tuple(recovered))
        result = applymod.apply_plan(plan, engine, restart=restart)
    return Outcome(plan, result, tuple(recovered))


def _stop_if_signalled(signals, where: str, recovered: list[str]) -> None:
    """Before the transaction: a signal ends the command here, saying what recovery did."""
    from dockharden.interrupts import Interrupted

    if signals.received is not None:
        raise Interrupted(signals.received, where, _nothing_else(recovered))


def _nothing_else(recovered: list[str]) -> str:
    return "; ".join([*recovered, "nothing else was changed"]) if recovered else "nothing was changed"


def _ask(signals, confirm: Callable[[Plan], bool], plan: Plan, recovered: list[str]) -> bool:
    """The confirmation, with signals handled as outside a transaction: nothing is under way."""
    from dockharden.interrupts import Interrupted, Signalled

    try:
        with signals.paused():
            answer = confirm(plan)
    except Signalled as exc:
        raise Interrupted(exc.signum, "at the question", _nothing_else(recovered)) from None
    _stop_if_signalled(signals, "after the question", recovered)
    return answer


def rollback(request: Request, *, to: str | None = None, restart: bool = True,
             confirm: Callable[[Plan], bool] = lambda plan: True, dry_run: bool = False) -> Outcome:
    """Every file back to how it was before generation `to`; without `to`, undo the newest apply still in
    force (so each plain rollback goes one generation further back)."""
    from dockharden import apply as applymod, pipeline, recovery, rollback as rb
    from dockharden.interrupts import Deferral
    from dockharden.lock import HostLock

    ctx = _context(request, writes=not dry_run)
    restart = restart and pipeline.is_running_system(request.root)
    config, _ = _config(ctx, request)
    if to is not None:
        from dockharden.errors import DockhardenError
        from dockharden.values import checked, generation_id

        to = checked(generation_id, to, key="--to", error=DockhardenError)
    choose = (lambda: rb.target_generation(request.root, to)) if to else (lambda: rb.default_target(request.root))
    if dry_run:
        return Outcome(rb.rollback_plan(request.root, ctx.runner, choose(), pipeline.reloadable_keys(),
                                          restart=restart))
    with Deferral() as signals, HostLock(request.root, request.clock(), "rollback"):
        _stop_if_signalled(signals, "after taking the lock", [])
        engine = engine_for(ctx, config, request, signals.checkpoint)
        recovered = recovery.recover(engine)
        _stop_if_signalled(signals, "before applying", recovered)
        target = choose()
        plan = rb.rollback_plan(request.root, ctx.runner, target, pipeline.reloadable_keys(), restart=restart)
        if plan.has_changes and not _ask(signals, confirm, plan, recovered):
            return Outcome(plan, None, tuple(recovered))
        result = applymod.apply_plan(plan, engine, restart=restart, kind="rollback", target=target.id)
        if result.result == "unchanged":
            result = rb.record_files_in_place(request.root, request.clock(), target)
    return Outcome(plan, result, tuple(recovered))
