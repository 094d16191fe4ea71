"""The library API: plan, apply and roll back a host, as the CLI and the Ansible module do.

Orchestration only (the stages do the work); it touches the machine through apply and recovery, and
holds every rule and every write of a command besides the host's own files: a saved plan, check's
textfile, the schedule's units and reports. It returns values and renders nothing (report.py and ui/
do; tests/unit/test_architecture.py). Everything is a parameter: the root, the runner, the clock,
service settings, a progress callback and, for apply, the confirmation step between plan and execution.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from dockharden.host.facts import Context
from dockharden.host.root import is_running_system
from dockharden.host.runner import Runner
from dockharden.model import Plan, RunOutcome

if TYPE_CHECKING:  # apply is imported where it is used: a plan does not pay for it
    from dockharden.execute.apply import Engine, RunResult


class Request(NamedTuple):
    """What to do, and to which host."""

    root: str = "/"
    profiles: list[str] | None = None   # None: the persisted selection, else baseline
    layers: list[str] | None = None
    engine_version: str | None = None
    user: str | None = None              # the rootless daemon's user
    service: dict[str, Any] | None = None  # overrides of dockharden.toml's [service] (and [docker])
    runner: Runner | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    progress: Callable[[str], None] = lambda message: None
    waiting: Callable[[str], AbstractContextManager] = nullcontext  # see apply.Engine.waiting
    failpoint: Callable[[str], None] = lambda name: None  # the fault-injection tests' hook (execute/faults.py)
    stop_for_store_switch: bool = False  # --stop-containers-for-store-switch (core/store_switch.py)
    adopt_ufw_docker: bool = False  # --adopt-ufw-docker (targets/ufw_docker.py)
    lock_timeout: float = 0.0  # --lock-timeout: seconds to wait for another run's lock (execute/lock.py)


class Outcome(NamedTuple):
    """A plan and, when it was executed, what happened; `recovered` lists interrupted runs undone first."""

    plan: Plan
    result: RunResult | None = None
    recovered: tuple[str, ...] = ()


def _context(request: Request, *, writes: bool = False) -> Context:
    from dockharden.host.root import require_root

    require_root(request.root, writes=writes)
    return Context(root=request.root, runner=request.runner or Runner(), engine_version=request.engine_version,
                   clock=request.clock, user=request.user, failpoint=request.failpoint)


def _config(ctx: Context, request: Request):
    from dockharden.host.facts import read_selection

    config, selection = read_selection(ctx, request.profiles, request.layers)
    if request.service:
        overrides = dict(request.service)
        docker = {k: overrides.pop(k) for k in ("host", "log_file") if k in overrides}
        config = dict(config, service={**config.get("service", {}), **overrides},
                      docker={**config.get("docker", {}), **docker})
    return config, selection


def engine_for(ctx: Context, config: dict, request: Request,
               checkpoint: Callable[[str], None] = lambda where: None) -> Engine:
    from dockharden.execute.apply import Engine

    return Engine(root=ctx.root, runner=ctx.runner, now=request.clock, config=config, progress=request.progress,
                  waiting=request.waiting, checkpoint=checkpoint, failpoint=request.failpoint)


def make_plan(request: Request, *, restart: bool = True) -> Plan:
    """What apply would do (with `restart` false: apply --no-restart); writes nothing. Interrupted runs and
    exceptions that expire soon are reported in the notes."""
    from dockharden.host import dockerd_validate
    from dockharden.host.state import interrupted_notes

    ctx = _context(request)
    config, selection = _config(ctx, request)
    plan = build_plan(ctx, selection, config, restart=restart, stop_first=request.stop_for_store_switch,
                      adopt_ufw_docker=request.adopt_ufw_docker)
    # what apply checks before it writes, said by plan (apply validates again, in its own staging); only
    # where the dockerd here is the engine planned for: the running system, its own version
    if is_running_system(ctx.root) and ctx.engine_version is None:
        dockerd_validate.validate_planned(plan, ctx.root, ctx.runner)
    notes = interrupted_notes(request.root) + exception_notes(request.root, request.clock())
    if restart and is_running_system(ctx.root):  # audit watches or the DOCKER-USER chain lost behind our back
        from dockharden.host import effective

        plan = effective.with_repairs(plan, ctx.root, ctx.runner)
    return plan._replace(notes=plan.notes + tuple(notes))


def exception_notes(root: str, now: datetime) -> list:
    """The exceptions that expired or expire within 30 days, as notes; none (and nothing imported) when the
    host keeps no exceptions file."""
    from dockharden.host.fs import HostFS
    from dockharden.model import EXCEPTIONS_PATH

    if not HostFS(root).exists(EXCEPTIONS_PATH):
        return []
    from dockharden.inspect.check import exception_notes as notes

    return notes(root, now)


def apply(request: Request, *, restart: bool = True, confirm: Callable[[Plan], bool] = lambda plan: True,
          close_published_ports: bool = False, asks: bool = False) -> Outcome:
    """Plan, then (under the host lock, after undoing any interrupted run) execute the plan.

    A plan whose firewall (the DOCKER-USER block, the nftables table) closes running containers' published
    ports is refused (nothing written)
    unless that was chosen: `close_published_ports` (the option), a layer's `close_published_ports = true`,
    or `asks`: `confirm` asks a person who sees the plan (and its question names the ports).

    Under the lock SIGINT, SIGTERM and SIGHUP are deferred to the engine's step boundaries: the step under
    way finishes, then the generation is rolled back (RunResult.interrupted says by which signal). A root
    other than / is not the running system: no service is acted on there (as with restart=False).
    """
    from dockharden.core.published_ports import refuse_unchosen_closure
    from dockharden.execute import apply as applymod
    from dockharden.execute import live_repair, recovery
    from dockharden.execute.aftermath import watched
    from dockharden.execute.interrupts import Deferral
    from dockharden.execute.lock import HostLock
    from dockharden.host import effective

    ctx = _context(request, writes=True)
    restart = restart and is_running_system(request.root)
    config, selection = _config(ctx, request)
    # bad input fails here, before any file is created; so does a switch of store that would orphan containers,
    # and a published port closed without a choice
    plan = build_plan(ctx, selection, config, restart=restart, stop_first=request.stop_for_store_switch,
                      adopt_ufw_docker=request.adopt_ufw_docker)
    refuse_orphaning(plan)
    refuse_unchosen_closure(plan.port_closure, chosen=close_published_ports or asks)
    with Deferral() as signals, HostLock(request.root, request.clock(), "apply", wait=request.lock_timeout,
                                         checkpoint=signals.checkpoint):
        request.failpoint("after-lock")
        _stop_if_signalled(signals, "after taking the lock", [])
        engine = engine_for(ctx, config, request, signals.checkpoint)
        recovered = recovery.recover(engine)
        _stop_if_signalled(signals, "before applying", recovered)
        if recovered:  # the interrupted run may have written dockharden.toml: read it again, as restored
            config, selection = _config(ctx, request)
            plan = build_plan(ctx, selection, config, restart=restart, stop_first=request.stop_for_store_switch,
                              adopt_ufw_docker=request.adopt_ufw_docker)
            refuse_orphaning(plan)
        if restart:  # audit watches or the DOCKER-USER chain lost behind dockharden's back
            plan = effective.with_repairs(plan, engine.root, engine.runner)
        refuse_unchosen_closure(plan.port_closure, chosen=close_published_ports or asks)
        if (plan.has_changes or plan.services) and not _ask(signals, confirm, plan, recovered):
            return Outcome(plan, None, tuple(recovered))
        if plan.services and not plan.changes:
            result = live_repair.repair_live_state(plan, engine)
        else:
            result = watched(plan, engine, lambda: applymod.apply_plan(plan, engine, restart=restart), live=restart)
    return Outcome(plan, result, tuple(recovered))


def _stop_if_signalled(signals, where: str, recovered: list[str]) -> None:
    """Before the transaction: a signal ends the command here, saying what recovery did."""
    from dockharden.execute.interrupts import Interrupted

    if signals.received is not None:
        raise Interrupted(signals.received, where, _nothing_else(recovered))


def _nothing_else(recovered: list[str]) -> str:
    return "; ".join([*recovered, "nothing else was changed"]) if recovered else "nothing was changed"


def _ask(signals, confirm: Callable[[Plan], bool], plan: Plan, recovered: list[str]) -> bool:
    """The confirmation, with signals handled as outside a transaction: nothing is under way."""
    from dockharden.execute.interrupts import Interrupted, Signalled

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
    from dockharden.execute import apply as applymod
    from dockharden.execute import recovery
    from dockharden.execute import rollback as rb
    from dockharden.execute.aftermath import watched
    from dockharden.execute.interrupts import Deferral
    from dockharden.execute.lock import HostLock

    ctx = _context(request, writes=not dry_run)
    restart = restart and is_running_system(request.root)
    config, _ = _config(ctx, request)
    if to is not None:
        from dockharden.core.values import checked, generation_id
        from dockharden.errors import DockhardenError

        to = checked(generation_id, to, key="--to", error=DockhardenError)
    choose = (lambda: rb.target_generation(request.root, to)) if to else (lambda: rb.default_target(request.root))
    stop_first = request.stop_for_store_switch
    if dry_run:
        return Outcome(rb.rollback_plan(request.root, ctx.runner, choose(), reloadable_keys(),
                                          restart=restart, stop_first=stop_first))
    with Deferral() as signals, HostLock(request.root, request.clock(), "rollback", wait=request.lock_timeout,
                                         checkpoint=signals.checkpoint):
        _stop_if_signalled(signals, "after taking the lock", [])
        engine = engine_for(ctx, config, request, signals.checkpoint)
        recovered = recovery.recover(engine)
        _stop_if_signalled(signals, "before applying", recovered)
        target = choose()
        plan = rb.rollback_plan(request.root, ctx.runner, target, reloadable_keys(), restart=restart,
                                stop_first=stop_first)
        refuse_orphaning(plan)
        if plan.has_changes and not _ask(signals, confirm, plan, recovered):
            return Outcome(plan, None, tuple(recovered))
        result = watched(plan, engine, lambda: applymod.apply_plan(plan, engine, restart=restart, kind="rollback",
                                                                   target=target.id), live=restart)
        if result.result == RunOutcome.UNCHANGED:
            result = rb.record_files_in_place(request.root, request.clock(), target)
    return Outcome(plan, result, tuple(recovered))


# --- saved plans (plan --out FILE, apply FILE) ------------------------------------------------------------

def save_plan(request: Request, plan: Plan, path: str, shown: dict[str, Any], *, restart: bool = True) -> dict[str, Any]:
    """Write `plan` to `path` (0600, atomically, never through a symlink: execute/planfile.py) with everything
    it was computed from; the document written. `shown` is the plan as `plan --json` shows it
    (report.plan_document), which the file keeps for `show FILE`."""
    from dockharden import __version__
    from dockharden.execute import planfile
    from dockharden.host import plan_inputs as hostmatch

    runner = request.runner or Runner()
    inputs = hostmatch.recorded_inputs(request.root, runner, plan, list(plan.selection.layers),
                                       engine_given=request.engine_version is not None)
    made_with = {"profiles": list(plan.selection.profiles), "layers": list(plan.selection.layers),
                 "selection_from": plan.selection.source, "engine_version": request.engine_version,
                 "user": request.user, "no_restart": not restart,
                 "stop_containers_for_store_switch": request.stop_for_store_switch,
                 "adopt_ufw_docker": request.adopt_ufw_docker}
    doc = planfile.saved_document(plan, shown, target=hostmatch.identity(request.root), made_with=made_with,
                                  inputs=inputs, restart=restart and is_running_system(request.root),
                                  created=request.clock().isoformat(timespec="seconds"), version=__version__)
    planfile.write_plan_file(path, doc)
    return doc


def read_saved_plan(path: str, *, no_restart: bool = False):
    """The saved plan at `path`, checked (planfile.read_plan_file). `no_restart`: it is for an apply that
    touches no service, which a plan that acts on services refuses (it would no longer be the plan that
    was reviewed)."""
    from dockharden.execute.planfile import PlanFileError, read_plan_file

    saved = read_plan_file(path)
    if no_restart and saved.restart and saved.plan.services:
        acts = ", ".join(f"{s.service} {s.action}" for s in saved.plan.services)
        raise PlanFileError(f"the plan says apply acts on services ({acts}); with --no-restart it would not, "
                            "and it would no longer be the plan that was reviewed", path=path,
                            hint="apply it as it is, or make a plan with `dockharden plan --no-restart --out FILE`")
    return saved


class SavedPlanStatus(NamedTuple):
    """`show FILE`: the saved plan, the root it was judged against, how that is not the host or dockharden the
    plan was made for, what changed on the host since, and the layer files whose bytes changed (shown,
    never a reason to refuse: the plan carries every byte it writes)."""

    saved: Any
    root: str
    wrong: list[str]
    changed: list[str]
    layers_changed: list[str]


def show_saved(request: Request, path: str) -> SavedPlanStatus:
    """The saved plan at `path` and whether `apply FILE` would go ahead; judged against the root the plan
    was made for unless the request names another than /. Reads only."""
    from dockharden.host.plan_inputs import layer_differences

    saved = read_saved_plan(path)
    if request.root == "/":
        request = request._replace(root=saved.root)
    wrong, changed = saved_plan_status(request, saved)
    return SavedPlanStatus(saved, root=request.root, wrong=wrong, changed=changed,
                           layers_changed=layer_differences(saved.document["inputs"]))


def saved_plan_status(request: Request, saved) -> tuple[list[str], list[str]]:
    """(how this is not the host or dockharden the plan was made for, what changed on the host since);
    reads only. An empty pair means `apply FILE` would go ahead."""
    from dockharden.host import plan_inputs as hostmatch

    wrong = _wrong_target(saved, request.root)
    if wrong:
        return wrong, []
    recorded = saved.document["inputs"]
    now = hostmatch.current_inputs(request.root, request.runner or Runner(), saved.plan, recorded)
    return [], hostmatch.differences(recorded, now)


def apply_saved(request: Request, saved, *, close_published_ports: bool = False) -> Outcome:
    """Execute a saved plan exactly, as apply executes a fresh one: under the host lock, after undoing any
    interrupted run, refused (nothing changed) unless the host still matches what the plan was computed
    from; validated, verified and rolled back on failure. It asks no one: a block that closes published
    ports of the containers running now is refused unless `close_published_ports` or a layer chose it."""
    from dockharden.core.published_ports import refuse_unchosen_closure
    from dockharden.execute import apply as applymod
    from dockharden.execute import recovery
    from dockharden.execute.aftermath import watched
    from dockharden.execute.interrupts import Deferral
    from dockharden.execute.lock import HostLock
    from dockharden.execute.planfile import REMAKE, PlanFileError

    ctx = _context(request, writes=True)
    wrong = _wrong_target(saved, request.root)
    if wrong:
        raise PlanFileError("this plan is not for here: " + "; ".join(wrong) + "; nothing was changed",
                            hint=_target_hint(saved, request.root), path=saved.path)
    config, _ = _config(ctx, request)
    with Deferral() as signals, HostLock(request.root, request.clock(), "apply", wait=request.lock_timeout,
                                         checkpoint=signals.checkpoint):
        request.failpoint("after-lock")
        _stop_if_signalled(signals, "after taking the lock", [])
        engine = engine_for(ctx, config, request, signals.checkpoint)
        recovered = recovery.recover(engine)
        _stop_if_signalled(signals, "before applying", recovered)
        _, changed = saved_plan_status(request, saved)
        plan, changed = _with_current_files(saved, request.root) if not changed else (None, changed)
        if changed:
            first = f" (first, {'; '.join(recovered)})" if recovered else ""
            shown = changed[:6] + ([f"and {len(changed) - 6} more"] if len(changed) > 6 else [])
            raise PlanFileError(f"the host no longer matches the plan{first}: " + "; ".join(shown)
                                + "; nothing was changed", hint=REMAKE, path=saved.path)
        plan = plan._replace(port_closure=closure_now(plan, engine.for_plan(plan).socket))
        refuse_unchosen_closure(plan.port_closure, chosen=close_published_ports)
        request.progress(f"the host still matches the plan in {saved.path}: applying it")
        result = watched(plan, engine, lambda: applymod.apply_plan(plan, engine, restart=saved.restart),
                         live=saved.restart and is_running_system(request.root))
    return Outcome(plan, result, tuple(recovered))


def closure_now(plan: Plan, socket: str):
    """The saved plan's firewall change (the DOCKER-USER block, the nftables table) measured against the
    containers running now (they may have changed since the plan was made), keeping the layers' choices it
    recorded."""
    from dockharden.core.published_ports import FIREWALLS, loads_now, port_closure
    from dockharden.host.facts import read_containers

    if not any(loads_now(f, plan.services) for f in FIREWALLS):
        return plan.port_closure
    saved = plan.port_closure
    closure = port_closure(plan.changes, plan.services, read_containers(socket),
                           layer=saved.layer if saved else "", accepted_by=saved.accepted_by if saved else "")
    if closure is not None and saved is not None and saved.table != closure.table:
        return closure._replace(layer="", accepted_by="")  # the choices recorded were another table's
    return closure


def _wrong_target(saved, root: str) -> list[str]:
    from dockharden import __version__
    from dockharden.host import plan_inputs as hostmatch

    made_by = saved.document["dockharden_version"]
    if made_by != __version__:
        return [f"it was made by dockharden {made_by}, this is {__version__}"]
    return hostmatch.identity_problems(saved.document["target"], root)


def _target_hint(saved, root: str) -> str:
    import os

    from dockharden.execute.planfile import REMAKE

    planned = saved.document["target"]["root"]
    if planned != os.path.realpath(root):
        return f"give --root {planned} to apply it where it was made; or, for {root}, {REMAKE}"
    return f"apply it where it was made; or, here, {REMAKE}"


def _with_current_files(saved, root: str) -> tuple[Plan | None, list[str]]:
    """The saved plan with each change's `old` read from the host, provided it is still the file the plan
    was made from; else (None, the files that changed since the check a moment ago)."""
    from dockharden.execute.generations import sha256
    from dockharden.host.facts import read_file

    recorded = saved.document["inputs"]["files"]
    changes, changed = [], []
    for change in saved.plan.changes:
        old = read_file(root, change.path)
        if sha256(old.content if old.exists else None) != recorded[change.path]["sha256"]:
            changed.append(f"{change.path} changed")
        changes.append(change._replace(old=old))
    return (None, changed) if changed else (saved.plan._replace(changes=tuple(changes)), [])


# --- the files check and the schedule write besides the host's own -------------------------------------

TEXTFILE_SUFFIX = ".prom"  # node_exporter's textfile collector reads only these


def checked_textfile(path: str) -> str:
    """`--textfile`'s name, refused unless node_exporter's textfile collector would read it."""
    from dockharden.errors import DockhardenError

    if not path.endswith(TEXTFILE_SUFFIX):
        raise DockhardenError("node_exporter's textfile collector reads only files ending in .prom",
                              key="--textfile", path=path, hint="name the file NAME.prom")
    return path


def write_check_textfile(request: Request, path: str, outcome) -> None:
    """check's Prometheus textfile, written atomically at `path` on the machine running dockharden (0644,
    never through a symlink)."""
    import os

    from dockharden.host.fs import HostFS
    from dockharden.inspect.formats import render_textfile

    text = render_textfile(outcome.results, outcome.run, request.clock().timestamp())
    HostFS("/").write_own(os.path.abspath(checked_textfile(path)), text.encode(), 0o644)


def schedule_units(*, reports: str, benchmark: str | None, level: int, textfile: str | None, on_calendar: str,
                   randomized_delay: str) -> dict[str, str]:
    """{unit file path: text}: the timer and service `schedule install` writes, every value checked
    (execute/schedule.py); writes nothing."""
    from dockharden.execute import schedule
    from dockharden.inspect.benchmarks import benchmark as benchmark_table

    checked_level(level)
    table = benchmark_table(benchmark)
    if textfile:
        checked_textfile(textfile)
    return schedule.render_units(schedule.Schedule(
        command=schedule.default_command(), root="/", reports=reports, benchmark=table.version, level=level,
        textfile=textfile or "", on_calendar=on_calendar, randomized_delay=randomized_delay))


def checked_level(level: int) -> int:
    """`--level`: the CIS profile level, 1 or 2."""
    from dockharden.errors import DockhardenError

    if level not in (1, 2):
        raise DockhardenError(f"no profile level {level}", key="--level",
                              hint="use 1 (Level 1 controls) or 2 (Level 1 and Level 2)")
    return level


def install_schedule(request: Request, units: dict[str, str], *, enable: bool = True) -> list[str]:
    """Write `units` under the root (never through a symlink); on the live host under systemd, start the
    timer (with `enable`). What was done, a line each."""
    from dockharden.execute import schedule
    from dockharden.host.root import require_root

    require_root(request.root, writes=True)
    return schedule.install_units(request.root, units, request.runner or Runner(), enable=enable)


def uninstall_schedule(request: Request) -> list[str]:
    """Stop the timer and remove the units `install_schedule` wrote (only dockharden's). What was done."""
    from dockharden.execute import schedule
    from dockharden.host.root import require_root

    require_root(request.root, writes=True)
    return schedule.uninstall_units(request.root, request.runner or Runner())


class ScheduledRun(NamedTuple):
    """What `schedule run` did: the reports written (host paths under the root), check's notes, how many
    controls failed and were counted, and verify's rows counted by status."""

    written: list[str]
    notes: list[str]
    failing: int
    verify_counts: dict[str, int]

    @property
    def drifted(self) -> bool:
        return self.verify_counts["drift"] > 0


def run_scheduled(request: Request, *, reports: str, benchmark: str | None = None, level: int = 2,
                  textfile: str | None = None) -> ScheduledRun:
    """check and verify, each report written atomically into `reports` (a host path under the root, never
    through a symlink): check.json, check.prom, verify.json, verify.prom; with `textfile`, both textfiles
    also in that one file."""
    import os

    from dockharden.host.fs import HostFS
    from dockharden.inspect import formats as check_formats
    from dockharden.inspect import verify_report

    checked_level(level)
    rows, notes = verify(request)
    outcome = check(request, benchmark=benchmark, level=level)
    now = request.clock().timestamp()
    textfile_text = check_formats.render_textfile(outcome.results, outcome.run, now)
    verify_textfile = verify_report.render_textfile(rows, now)
    files = {"check.json": check_formats.render_json(outcome.results, outcome.run),
             "check.prom": textfile_text, "verify.json": verify_report.render_json(rows, notes),
             "verify.prom": verify_textfile}
    fs = HostFS(request.root)  # the reports of an image or chroot go into it, never onto this machine
    for name, text in files.items():
        fs.write_own(os.path.join(reports, name), text.encode(), 0o644)
    if textfile:
        fs.write_own(textfile, (textfile_text + verify_textfile).encode(), 0o644)
    return ScheduledRun([f"{reports}/{name}" for name in files], list(outcome.notes),
                        sum(r.counted for r in outcome.results), verify_report.summarize(rows))


# --- planning, and the read-only commands: none of them imports execute/ ------------------------------

def refuse_orphaning(plan: Plan) -> None:
    """A restart into another data root or image store while containers run, not accepted: refused."""
    from dockharden.core.store_switch import refuse_orphaning as refuse

    refuse(plan)


def build_plan(ctx: Context, selection, config: dict | None = None, *, restart: bool = True,
               stop_first: bool = False, adopt_ufw_docker: bool = False) -> Plan:
    """Everything `plan` shows; nothing is written. The layers and the host's facts are read here, the plan
    is assembled by the pure stages (core/planning.py), then the host's own tools check what would change."""
    from dockharden.core import merge
    from dockharden.core.planning import check_flags, plan_from
    from dockharden.host import facts, inputs, tool_checks
    from dockharden.host.fs import HostFS

    ctx.failpoint("during-plan")
    check_flags(ctx.engine_version, ctx.user)
    ctx = ctx._replace(manager=facts.service_manager(ctx, config or {}))
    settings = merge.merge_layers(inputs.load_layers(selection))
    if adopt_ufw_docker:
        from dockharden.targets.ufw_docker import chosen_by_option

        settings = chosen_by_option(settings)
    host = facts.read_facts(ctx, settings)
    plan = plan_from(selection, settings, host, engine_version=ctx.engine_version, restart=restart,
                     live=is_running_system(ctx.root), stop_first=stop_first)
    HostFS(ctx.root).refuse_one_file_twice([f.path for f in plan.rendered])
    notes = tool_checks.check_rendered(list(plan.rendered), host, ctx.runner)
    return plan._replace(notes=plan.notes + tuple(notes)) if notes else plan


def reloadable_keys() -> frozenset[str]:
    from dockharden.core.planning import reloadable_keys as keys

    return keys()


def daemon_socket(root: str, config: dict, plan: Plan | None = None) -> str:
    """The socket of the daemon a plan is for: a rootless user's, else [docker] host, DOCKER_HOST or the
    standard one."""
    from dockharden.host.facts import docker_socket
    from dockharden.model import DOCKER_SOCKET

    default = plan.docker_socket if plan is not None and plan.rootless_user and plan.docker_socket else DOCKER_SOCKET
    return docker_socket(root, config, default=default)


def verify(request: Request, *, probe: bool = False, image: str | None = None) -> tuple[list, list[str]]:
    """`dockharden verify`: a row per file and setting, in force or not, and the exceptions about to expire."""
    from dockharden.inspect import verify as drift
    ctx = _context(request)
    config, selection = _config(ctx, request)
    the_plan = build_plan(ctx, selection, config)
    socket = daemon_socket(ctx.root, config, the_plan)
    rows = drift.find_drift(the_plan, drift.Where(ctx.root, ctx.runner, socket))
    desired = next((f.content for f in the_plan.rendered if f.target == "daemon.json"), None)
    if probe and desired:
        from dockharden.daemon_json_codec import parse_daemon_json

        rows = drift.settle_by_probe(rows + drift.probe_rows(parse_daemon_json(desired),
                                                             run_probe(ctx.runner, socket, image)))
    return rows, exception_notes(ctx.root, request.clock())


def show(request: Request):
    """`dockharden show`: the merged layers, each key with the layer that set it."""
    from dockharden.core import derive, merge
    from dockharden.host.inputs import load_layers
    from dockharden.model import HostSnapshot

    ctx = _context(request)
    _, selection = _config(ctx, request)
    settings = merge.merge_layers(load_layers(selection))
    return derive.derive(settings, HostSnapshot(root=ctx.root, files={}, existing_paths=frozenset()))


def check(request: Request, *, benchmark: str | None = None, level: int = 2, exceptions_file: str | None = None,
          probe: bool = False, image: str | None = None):
    """`dockharden check`: the chosen benchmark version's controls, read from the live host."""
    from dockharden.host.facts import read_snapshot
    from dockharden.inspect.benchmarks import benchmark as benchmark_table
    from dockharden.inspect.check import run_check
    from dockharden.inspect.exceptions import load_exceptions

    checked_level(level)
    ctx = _context(request)
    config, _ = _config(ctx, request)
    benchmark_table(benchmark), load_exceptions(ctx.root, exceptions_file)  # bad input fails before the host is read
    socket = daemon_socket(ctx.root, config)
    return run_check(read_snapshot(ctx, {}, socket, own_state=False), ctx.runner, socket, benchmark=benchmark,
                     level=level, exceptions_file=exceptions_file,
                     probe=(lambda: run_probe(ctx.runner, socket, image)) if probe else None, clock=request.clock)


class History(NamedTuple):
    """The generations, newest first, and for each apply no longer in force the rollback that took it out
    (replayed from the records: host/state.py in_force)."""

    generations: list
    undone_by: dict[str, str]


def history(request: Request) -> History:
    """The generations, newest first."""
    from dockharden.host.state import in_force, list_generations

    _context(request)
    generations = list_generations(request.root)
    _, undone = in_force(sorted(generations, key=lambda g: int(g.id)))
    return History(list(reversed(generations)), undone)


def profiles() -> list[tuple[str, str]]:
    """The built-in layers: (name, description) each."""
    from dockharden.core.layers import builtin_profiles, load_builtin

    return [(name, load_builtin(name).description) for name in builtin_profiles()]


def run_probe(runner: Runner, socket_path: str, image: str | None) -> dict:
    """What throwaway containers see of the daemon's enforcement. A probe that saw nothing at all (no image,
    no daemon) is an error: the operator asked for what only it shows."""
    from dataclasses import asdict

    from dockharden.errors import ProbeError
    from dockharden.inspect.probe import not_run_reason
    from dockharden.inspect.probe import run_probe as probe

    found = asdict(probe(runner, docker=["docker", "-H", f"unix://{socket_path}"], image=image))
    if reason := not_run_reason(found):
        raise ProbeError(f"the probe did not run ({reason.rstrip('.')}): nothing it would show was seen",
                         key="--probe",
                         hint="name a local image with --image (`docker images` lists them) or install "
                              "busybox-static, and make sure the daemon answers; without --probe nothing is "
                              "started")
    return found
