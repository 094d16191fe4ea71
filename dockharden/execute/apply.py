"""Execute a Plan: journal a generation, validate, write atomically, act on services, verify,
and on any failure restore every file and bring the daemon back as it was.

Touches the machine through the filesystem accessor (hostfs), generations, services and the runner. Apply executes exactly
what the plan says: it never re-renders. The generation's record is the journal: its `state` says how
far a run got, so a run killed at any point can be finished or undone by the next one (recovery.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from dockharden.daemon_json_codec import parse_daemon_json
from dockharden.errors import ApplyError, DockhardenError, from_os_error
from dockharden.execute import faults, generations, services, transitions
from dockharden.execute.generations import STATE_DIR, Generation
from dockharden.execute.interrupts import Interrupted
from dockharden.host import effective as verify
from dockharden.host.facts import docker_socket, read_file, socket_path  # noqa: F401 (docker_socket: callers)
from dockharden.host.fs import HostFS
from dockharden.host.runner import Runner
from dockharden.model import Action, Aftermath, Journal, Plan, RunOutcome
from dockharden.targets import audit_rules, daemon_json, nft_table, ufw_block


class RunResult(NamedTuple):
    """What apply did: `applied`, `unchanged`, `rolled_back` or `failed`, with the generation."""

    result: str
    generation: str | None = None
    written: tuple[str, ...] = ()
    services: tuple[dict, ...] = ()
    messages: tuple[str, ...] = ()
    interrupted: int | None = None  # the signal that stopped the run (it was then rolled back)
    aftermath: Aftermath | None = None  # what the run did to the running containers and their ports

    @property
    def ok(self) -> bool:
        return self.result in (RunOutcome.APPLIED, RunOutcome.UNCHANGED)


class Engine(NamedTuple):
    """Everything apply touches, passed in: no hidden globals."""

    root: str
    runner: Runner
    now: Callable[[], datetime]
    config: dict[str, Any]
    progress: Callable[[str], None] = lambda message: None
    # Wraps each wait (a restart and its API, a reload's confirmation, verification): `with waiting(what):`.
    # A terminal draws a live line for it; progress messages during it say what is awaited now.
    waiting: Callable[[str], AbstractContextManager] = nullcontext
    # Called at each step boundary; raises Interrupted when a signal arrived during the step (interrupts.py)
    checkpoint: Callable[[str], None] = lambda where: None
    failpoint: Callable[[str], None] = faults.nowhere  # the fault-injection tests' hook (faults.py)
    wait_timeout: float = 60.0
    default_socket: str = "/var/run/docker.sock"
    daemon_json_path: str = daemon_json.PATH  # the daemon's file, named in its errors

    @property
    def socket(self) -> str:
        return docker_socket(self.root, self.config, default=self.default_socket)

    def for_plan(self, plan: Plan) -> Engine:
        """This engine aimed at the plan's daemon (a rootless user's, with its own socket and manager)."""
        return self.for_rootless_user(plan.rootless_user)

    def for_rootless_user(self, user: str | None) -> Engine:
        """This engine aimed at `user`'s rootless daemon (None: unchanged, the system daemon)."""
        if not user:
            return self
        from dockharden.host.rootless import find_user

        found = find_user(self.root, user)
        service = dict(self.config.get("service", {}))
        if service.get("manager", "auto") == "auto":
            service.update(manager="rootless", user=user)
        return self._replace(config=dict(self.config, service=service), default_socket=found.socket,
                             daemon_json_path=found.daemon_json)


def plan_summary(plan: Plan) -> dict:
    return {"changes": [{"path": c.path, "action": c.action} for c in plan.changes],
            "services": [{"service": s.service, "action": s.action} for s in plan.services]}


def apply_plan(plan: Plan, engine: Engine, *, restart: bool, kind: str = "apply", **record: Any) -> RunResult:
    """Make the plan real, or leave the host as it was. The caller holds the host lock."""
    engine = engine.for_plan(plan)
    if not plan.changes:  # nothing at all is written, dockharden's own files included
        return RunResult(RunOutcome.UNCHANGED)
    refuse_stale_plan(plan, engine.root)
    if restart:
        refuse_orphaning_now(plan, engine)
    if restart and any(s.service == "docker" for s in plan.services):
        services.docker_service(engine.root, engine.config, engine.runner)  # fail before any write
    selection = {"profiles": list(plan.selection.profiles), "layers": list(plan.selection.layers)}
    generation = generations.start_generation(
        engine.root, engine.now(), selection, backed_up(plan, engine),
        plan_summary(plan), kind=kind, restart=restart, audit_rules=_new_audit_text(plan),
        daemon_json=_new_daemon_text(plan), firewall_blocks=_new_firewall_blocks(plan),
        docker_left=any(s.service == "docker" for s in plan.left),
        **_daemon_record(plan), **record)
    engine.failpoint("after-record")
    try:
        generation = _run_steps(plan, engine, generation, restart)
    except Interrupted as exc:  # the step under way finished; now undo the generation
        return roll_back_generation(engine, generation, exc.paragraph())._replace(interrupted=exc.signum)
    except DockhardenError as exc:
        return roll_back_generation(engine, generation, exc.paragraph())
    except OSError as exc:  # a full disk, a read-only mount: undo what was written
        return roll_back_generation(engine, generation, from_os_error(exc, "the apply stopped").paragraph())
    generations.release_reserve(generation)
    return RunResult(RunOutcome.APPLIED, generation=generation.id, written=tuple(c.path for c in plan.changes),
                     services=tuple(generation.record.get("services_done", [])),
                     messages=tuple(generation.record.get("pending") or ()))


def backed_up(plan: Plan, engine: Engine) -> list:
    """The files the run may replace: the plan's, and daemon.json when a restart could write it between its
    steps (execute/transitions.py) though the plan does not change it, so that any end of the run, a kill
    included, gives it back."""
    files = [c.old for c in plan.changes]
    restarts = any(s.service == "docker" and s.action == "restart" for s in plan.services)
    if restarts and not any(c.path == engine.daemon_json_path for c in plan.changes):
        files.append(read_file(engine.root, engine.daemon_json_path))
    return files


def refuse_orphaning_now(plan: Plan, engine: Engine) -> None:
    """Before anything is written: a restart into another store while containers run, not accepted, is
    refused, with the containers that run now (one started since the plan was made counts too; a saved plan
    made without --stop-containers-for-store-switch is held to it)."""
    from dockharden.core.store_switch import refuse_orphaning

    switch = plan.store_switch
    if switch is None or switch.stop_first:
        return
    now = tuple(services.running_containers(engine.socket).values())
    if set(now) != set(switch.running):
        switch = switch._replace(running=tuple(sorted(now)), ports=tuple(p for p in switch.ports
                                                                          if p.split(" ")[0] in now))
    refuse_orphaning(plan._replace(store_switch=switch))


def _daemon_record(plan: Plan) -> dict:
    """Which daemon the generation configures, when it is a rootless user's: its rollback and its recovery
    restart that user's daemon, not the system's."""
    return {"rootless_user": plan.rootless_user} if plan.rootless_user else {}


def _new_daemon_text(plan: Plan) -> str | None:
    """The daemon.json this run writes: a rollback compares the daemon against what it undoes."""
    change = next((c for c in plan.changes if c.target == "daemon.json" and c.new.content), None)
    return change.new.content.decode(errors="replace") if change else None


def _text(content: bytes | None) -> str | None:
    return content.decode(errors="replace") if content is not None else None


def _new_firewall_blocks(plan: Plan) -> dict[str, list[str]]:
    """The managed DOCKER-USER rules each new after.rules loads: a rollback removes them from the live chain
    when the file it restores has no block."""
    from dockharden.targets.ufw_block import block_rules

    return {c.path: block_rules(_text(c.new.content)) for c in plan.changes
            if c.path in services.FIREWALL_TOOLS and block_rules(_text(c.new.content))}


def _new_audit_text(plan: Plan) -> str | None:
    change = next((c for c in plan.changes if c.path == audit_rules.PATH and c.new.content), None)
    return change.new.content.decode(errors="replace") if change else None


def _run_steps(plan: Plan, engine: Engine, generation: Generation, restart: bool) -> Generation:
    """Each step, journaled before it starts; between steps, engine.checkpoint lets a signal stop the run."""
    engine.checkpoint("before the first write")
    generation = generations.set_state(generation, Journal.VALIDATING)
    validate_with_dockerd(plan, engine)
    engine.checkpoint("after validating the new files")
    generation = generations.set_state(generation, Journal.WRITING)
    _write_changes(plan, engine)
    engine.checkpoint("after writing the files")
    if not restart:
        return generations.set_state(generation, Journal.APPLIED, services_done=[
            {"service": s.service, "action": "skipped"} for s in plan.needed])
    generation = generations.set_state(generation, "services", daemon_pid_before=services.daemon_pid(engine.root),
                                       services_started=[])
    done = act_on_services(plan, engine, journal=lambda service: generations.note_service_started(generation, service),
                           record=lambda **facts: generations.note_facts(generation, **facts))
    done += [{"service": s.service, "action": "left stopped" if s.service == "docker" else "skipped"}
             for s in plan.left]
    generation = generations.set_state(generation, Journal.VERIFYING, services_done=done)
    engine.failpoint("during-verify")
    with engine.waiting("verifying the settings in force"):
        pending = verify_plan(plan, engine)
    engine.checkpoint("after verifying")
    return generations.set_state(generation, Journal.APPLIED, pending=pending)


def refuse_stale_plan(plan: Plan, root: str) -> None:
    """Refuse when a file changed since the plan was made (another process edited it), or when two of the
    files it manages are one file (a symlink or a hard link made since)."""
    HostFS(root).refuse_one_file_twice([f.path for f in plan.rendered] + [c.path for c in plan.changes])
    for change in plan.changes:
        now = read_file(root, change.path)
        if (now.exists, now.content) != (change.old.exists, change.old.content):
            raise ApplyError("changed since the plan was made; nothing was written",
                             hint="run `dockharden plan` again and review it", path=change.path)


def validate_with_dockerd(plan: Plan, engine: Engine) -> None:
    """`dockerd --validate` on the new daemon.json with the flags dockerd will start with once the plan
    is in place (a planned drop-in's, not the unit's current -H fd://), on Engine 23+ (host/dockerd_validate.py).

    Nothing is written where dockerd looks: the new daemon.json and the new files it names are staged in a
    private directory of dockharden's state.
    """
    from dockharden.host import dockerd_validate
    from dockharden.host.root import is_running_system

    change = dockerd_validate.daemon_change(plan)
    if not is_running_system(engine.root):  # an image's dockerd is not this machine's: its own start judges it
        return
    if change is None or not dockerd_validate.has_validate(plan.engine_version) or not engine.runner.which("dockerd"):
        return
    import shutil
    import tempfile

    staging = Path(tempfile.mkdtemp(prefix="validate-", dir=HostFS(engine.root).make_private_dir(STATE_DIR)))  # 0700
    try:
        said = dockerd_validate.refusal(plan, engine.root, engine.runner, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if said:
        raise ApplyError(f"dockerd --validate refuses the new file: {said}",
                         hint="fix the layer that sets the key it names", path=change.path)


def _write_changes(plan: Plan, engine: Engine) -> None:
    fs = HostFS(engine.root)
    for index, change in enumerate(plan.changes):
        if change.action == Action.DELETE:
            fs.remove(change.path)
        else:
            new = change.new
            fs.write(change.path, new.content, new.mode, new.uid, new.gid)
        engine.failpoint(f"after-write-{index}")
        engine.checkpoint(f"while writing the files (after {change.path})")


def act_on_services(plan: Plan, engine: Engine, journal: Callable[[str], None] = lambda service: None,
                    record: Callable[..., None] = lambda **facts: None) -> list[dict]:
    """Docker reload or restart, audit rules, ufw, and the host actions that follow a service: each only when
    the plan says so. `journal` records each service before it acts, so a rollback knows exactly which ones
    to undo; `record` keeps what a host action found before it acted (what the rollback puts back)."""
    done = []
    for action in plan.services:
        journal(action.service)
        if action.service == "systemd":
            result = engine.runner.run(["systemctl", "daemon-reload"], timeout=60)
            if not result.ok:
                raise ApplyError(f"systemctl daemon-reload failed: {result.stderr.strip()}",
                                 path="/etc/systemd/system/docker.service.d/dockharden.conf")
            done.append({"service": "systemd", "action": "daemon-reload"})
        elif action.service == "docker":
            if action.action == "restart" and plan.store_switch and plan.store_switch.stop_first:
                done.append(stop_for_store_switch(engine))
            done.append(docker_action(action.action, engine))
            done += host_actions(plan, engine, "docker", journal, record)
        elif action.service == "auditd":
            done.append(audit_action(plan, engine))
        elif action.service == "prune-timer":
            done.append(services.prune_timer(engine.root, engine.runner, action.action))
        elif action.service == "nftables":
            change = next((c for c in plan.changes if c.path == nft_table.PATH), None)
            done.append(services.nftables(engine.root, engine.runner, action.action,
                                          _text(change.new.content) if change else None))
        elif action.service == "ufw":
            for change in plan.changes:
                services.unload_dropped_block(engine.runner, change.path, _text(change.old.content),
                                              _text(change.new.content))
            result = services.reload_ufw(engine.runner)
            if not result.ok:
                raise ApplyError(f"ufw reload failed: {result.stderr.strip()}", path=ufw_block.PATH_V4,
                                 hint="check the DOCKER-USER block and `ufw status`")
            done.append({"service": "ufw", "action": "reload"})
        engine.checkpoint(f"after the {action.service} {action.action}")
    return done


HOST_ACTIONS = "firewall-policy"  # the journal's name for the host actions (services_started)


def host_actions(plan: Plan, engine: Engine, after: str, journal: Callable[[str], None],
                 record: Callable[..., None]) -> list[dict]:
    """The plan's host actions that follow `after` (a FORWARD policy set to ACCEPT once docker runs on its
    nftables backend): the policy each finds is recorded before any is changed, so a rollback, automatic or
    `rollback --to`, puts it back."""
    actions = [a for a in plan.host_actions if a.after_service == after and a.kind == "firewall_policy"]
    if not actions:
        return []
    found = [(a, services.chain_policy_now(engine.runner, a.tool, a.chain)) for a in actions]
    entries = [{"tool": a.tool, "chain": a.chain, "before": now, "after": a.after}
               for a, now in found if now and now != a.after]
    if not entries:
        return [{"service": HOST_ACTIONS, "action": "none (already as planned)"}]
    record(firewall_policy=entries)
    journal(HOST_ACTIONS)
    for entry in entries:
        result = services.set_chain_policy(engine.runner, entry["tool"], entry["chain"], entry["after"])
        if not result.ok:
            raise ApplyError(f"`{' '.join(result.argv)}` failed: {result.stderr.strip() or result.returncode}",
                             hint=f"check `{entry['tool']} -S {entry['chain']}`")
    return [{"service": HOST_ACTIONS, "action": ", ".join(f"{e['tool']} -P {e['chain']} {e['after']} (was {e['before']})"
                                                          for e in entries)}]


def put_back_policies(engine: Engine, entries: list[dict]) -> None:
    """A rollback's undo of host actions: each recorded policy as it was."""
    for entry in entries:
        services.set_chain_policy(engine.runner, entry["tool"], entry["chain"], entry["before"])


def stop_for_store_switch(engine: Engine) -> dict:
    """Before a restart into another data root or image store, as the operator accepted: every container that
    runs now is stopped (docker stop), so none is left running with no daemon managing it."""
    running = services.running_containers(engine.socket)
    with engine.waiting(f"stopping {len(running)} container(s) before the switch of store"):
        failed = services.stop_containers(engine.socket, running)
    if failed:
        raise ApplyError("the switch of store needs every container stopped first; these did not stop: "
                         + "; ".join(failed), path=engine.daemon_json_path,
                         hint="stop them yourself (docker stop, docker kill) and run apply again")
    names = ", ".join(running.values()) or "none was running"
    engine.progress(f"stopped before the switch of store: {names}")
    return {"service": "containers", "action": "stopped", "containers": list(running.values())}


def docker_action(action: str, engine: Engine) -> dict:
    """A reload, or a restart that keeps the running containers wherever live-restore can
    (core/transitions.py: the same steps the plan promised, computed from the live daemon)."""
    if action == "reload":
        return _docker_step("reload", engine)
    return transitions.restart_keeping_containers(engine, _docker_step)


def _docker_step(action: str, engine: Engine) -> dict:
    service = services.docker_service(engine.root, engine.config, engine.runner)
    since = engine.now().timestamp()
    mark = services.mark_log(engine.root, engine.config, since)
    if action == "reload":
        with engine.waiting("reloading docker: waiting for the daemon to confirm"):
            result = services.reload_docker(service, engine.root, engine.runner)
            confirmed = result.ok and verify.reload_confirmed(engine.socket, since)
        if not confirmed:
            raise ApplyError("the daemon did not confirm the reload (it keeps its old configuration)"
                             + _daemon_error(engine, result, mark), path=engine.daemon_json_path,
                             hint="the new daemon.json has a value the daemon refuses; see its log")
        return {"service": "docker", "action": "reload", "pid": services.daemon_pid(engine.root, service.pidfiles)}
    with engine.waiting(f"restarting docker ({service.manager})"):
        result = services.restart_docker(service, engine.runner)
        engine.failpoint("during-restart")
        up = result.ok and verify.wait_for_daemon(engine.socket, engine.wait_timeout, engine.progress,
                                                  exited=services.exit_watch(service, engine.runner))
    if not up:
        raise ApplyError("docker did not come back after the restart" + _daemon_error(engine, result, mark),
                         path=engine.daemon_json_path, hint="the daemon refused the new configuration; see its log")
    return {"service": "docker", "action": "restart", "pid": services.daemon_pid(engine.root, service.pidfiles)}


def _daemon_error(engine: Engine, result, mark) -> str:
    """Why, in the words of the command that failed and of the daemon's log since the action began."""
    said = []
    if not result.ok and result.stderr.strip():
        said.append(f"`{' '.join(result.argv)}` says: {result.stderr.strip().splitlines()[-1].strip()}")
    lines = services.daemon_error_lines(engine.root, engine.config, engine.runner, mark)
    if lines and not any(lines[-1].strip() in s for s in said):
        said.append(f"the daemon says: {lines[-1].strip()}")
    return "; " + "; ".join(said) if said else ""


def audit_action(plan: Plan, engine: Engine) -> dict:
    change = next((c for c in plan.changes if c.path == audit_rules.PATH), None)
    if not engine.runner.which("auditctl"):
        return {"service": "auditd", "action": "skipped (auditctl not installed)"}
    text = lambda data: data.decode(errors="replace") if data else None  # noqa: E731
    # no change: the rules file stands and the kernel lost some of its watches (live_repair.py)
    old, new = (change.old.content, change.new.content) if change else \
        (None, next(f.content for f in plan.rendered if f.path == audit_rules.PATH))
    done = services.sync_audit_rules(engine.runner, text(old), text(new))
    return {"service": "auditd", "action": "reload", "detail": done}


def verify_plan(plan: Plan, engine: Engine) -> list[str]:
    """The effective state after the services acted: daemon, audit rules, firewall chain. Returns what is
    pending: the default bridge's keys, which wait for a restart with no container running."""
    change = next((c for c in plan.changes if c.target == "daemon.json"), None)
    docker_acted = any(s.service == "docker" for s in plan.services)
    pending: list[str] = []
    if change and change.new.content and docker_acted:
        effective = verify.read_effective(engine.socket)
        if effective is None:
            raise ApplyError("the daemon does not answer after the change", path=change.path)
        config = parse_daemon_json(change.new.content)
        mismatches, pending = split_pending(verify.compare_daemon(config, effective), engine.socket, effective)
        wrong = [str(m) for m in mismatches]
        wrong += [f"no answer on {h}" for h in verify.silent_unix_hosts(config, engine.root)]
        wrong += verify.tls_problems(config, engine.root)
        wrong += verify.metrics_problems(config)
        if wrong:
            raise ApplyError("the daemon runs, but not with the new settings: " + "; ".join(wrong),
                             path=change.path, hint="a flag or another file overrides these keys")
    _verify_audit(plan, engine)
    _verify_firewall(plan, engine)
    _verify_nftables(plan, engine)
    _verify_host_actions(plan, engine)
    return pending


def _verify_host_actions(plan: Plan, engine: Engine) -> None:
    """Each policy the plan set is in force (`iptables -S FORWARD`)."""
    if not any(s.service == "docker" for s in plan.services):
        return
    for action in plan.host_actions:
        now = services.chain_policy_now(engine.runner, action.tool, action.chain)
        if now != action.after:
            raise ApplyError(f"the {action.tool} {action.chain} policy is {now or 'unknown'}, not {action.after}",
                             hint=f"check `{action.tool} -S {action.chain}`: a firewall of yours may set it")


def split_pending(mismatches: list, socket: str, effective) -> tuple[list, list[str]]:
    """(the mismatches that are wrong, a sentence per default-bridge key still waiting): with containers
    running, dockerd keeps the default bridge as it was (core/transitions.BRIDGE_KEYS)."""
    from dockharden.core.transitions import BRIDGE_KEYS
    from dockharden.host.facts import read_containers

    waiting = [m for m in mismatches if m.key in BRIDGE_KEYS]
    running = (read_containers(socket) or ()) if waiting and effective.info.get("ContainersRunning") else ()
    if not running:
        return mismatches, []
    names = ", ".join(c.name for c in running)
    return ([m for m in mismatches if m.key not in BRIDGE_KEYS],
            [f"pending: {m.key} ({m.wanted!r} in daemon.json, the default bridge still has {m.effective!r}) takes "
             f"effect at the first docker restart with no container running; running now: {names}"
             for m in waiting])


def _verify_audit(plan: Plan, engine: Engine) -> None:
    change = next((c for c in plan.changes if c.path == audit_rules.PATH and c.new.content), None)
    if change and engine.runner.which("auditctl") and any(s.service == "auditd" for s in plan.services):
        missing = verify.missing_audit_watches(engine.runner, services.watches(change.new.content.decode()))
        if missing:
            raise ApplyError("the kernel does not hold the watches on " + ", ".join(missing),
                             path=audit_rules.PATH, hint="check `auditctl -s` (enabled, not locked)")


def _verify_nftables(plan: Plan, engine: Engine) -> None:
    """After a load: the live table is the file's (a failure rolls the apply back)."""
    change = next((c for c in plan.changes if c.path == nft_table.PATH and c.new.content), None)
    if not change or not any(s.service == "nftables" and s.action == "load" for s in plan.services):
        return
    listed = engine.runner.run(["nft", "list", "table", *nft_table.TABLE.split()], timeout=20)
    if not listed.ok or nft_table.table_body(listed.stdout) != nft_table.table_body(_text(change.new.content)):
        raise ApplyError(f"the live table {nft_table.TABLE} is not the one {nft_table.PATH} defines"
                         + (f": {listed.stderr.strip()}" if not listed.ok else ""), path=nft_table.PATH,
                         hint=f"compare `nft list table {nft_table.TABLE}` with the file")


def _verify_firewall(plan: Plan, engine: Engine) -> None:
    if not any(s.service == "ufw" for s in plan.services):
        return
    tools = {ufw_block.PATH_V4: "iptables", ufw_block.PATH_V6: "ip6tables"}
    for change in plan.changes:
        if change.path in tools and change.new.content and engine.runner.which(tools[change.path]):
            missing = verify.missing_firewall_rules(engine.runner, change.new.content.decode(errors="replace"),
                                                    tools[change.path])
            if missing:
                raise ApplyError("the live DOCKER-USER chain lacks: " + "; ".join(missing),
                                 path=change.path, hint="is the firewall backend iptables (not nftables)?")


def roll_back_generation(engine: Engine, generation: Generation, reason: str) -> RunResult:
    """Restore every file of `generation`, bring the services back, and record what happened.

    The daemon is brought up on the restored files, and its effective settings are compared with them:
    the result says the host is back only when the daemon agrees. The space reserved when the generation
    was recorded is given back first, so a full disk leaves room for the journal and the restored files.
    """
    engine.progress(f"rolling back generation {generation.id}: {reason}")
    generations.release_reserve(generation)
    generation = generations.reread(generation)  # the journal on disk, not the caller's older copy, says how far it got
    stage = generation.record["state"]
    if stage == Journal.ROLLING_BACK:  # a rollback that was itself interrupted: redo it from its start
        stage = generation.record.get("failed_at", "services")
    # if even this cannot be journaled, restore anyway: the journal still says how far the run got
    generation, _ = _journal(generation, Journal.ROLLING_BACK, error=reason, failed_at=stage)
    try:
        restored = generations.restore_files(engine.root, generation)
        disagree = restore_services(engine, generation, stage)
    except (DockhardenError, OSError) as exc:
        exc = exc if isinstance(exc, DockhardenError) else from_os_error(exc, "restoring failed")
        return _rollback_failed(generation, reason, exc.paragraph())
    if disagree:
        return _rollback_failed(generation, reason, "the files were restored, but the daemon does not run with "
                                "them: " + "; ".join(disagree))
    daemon = " and the daemon runs with them" if generation.record.get("restart") else ""
    generation, problem = _journal(generation, Journal.ROLLED_BACK, restored=restored)
    if problem:
        return RunResult(RunOutcome.FAILED, generation=generation.id, messages=(
            reason, f"every file was restored from generation {generation.id}{daemon}, but the journal could not "
                    f"record it ({problem})",
            f"the backups stay in {generation.directory}/files; free some space, then run `dockharden apply` or "
            f"`dockharden rollback`: it finishes the rollback of generation {generation.id} first"))
    return RunResult(RunOutcome.ROLLED_BACK, generation=generation.id, messages=(
        reason, f"every file was restored from generation {generation.id}{daemon}"))


def _journal(generation: Generation, state: str, **facts: Any) -> tuple[Generation, str]:
    """Journal `state`; when the system refuses (a full disk even now), say why instead of raising."""
    try:
        return generations.set_state(generation, state, **facts), ""
    except OSError as exc:
        return generation, f"{generations.record_path(generation)}: {exc.strerror or exc}"


def _rollback_failed(generation: Generation, reason: str, problem: str) -> RunResult:
    generation, journal_problem = _journal(generation, Journal.FAILED, rollback_error=problem)
    return RunResult(RunOutcome.FAILED, generation=generation.id, messages=(
        reason, f"ROLLBACK FAILED: {problem}",
        f"the previous files are in {generation.directory}/files (record.json says where each belongs); fix the "
        f"cause, then `dockharden rollback --to {generation.id}` puts them back, or copy them by hand"
        + (f"; the journal could not record this ({journal_problem})" if journal_problem else "")))


def restore_services(engine: Engine, generation: Generation, stage: str) -> list[str]:
    """After the files are back: undo what the services did and bring dockerd up on the restored files.

    Returns how the daemon still disagrees with the restored daemon.json ([] when it agrees).
    """
    record = generation.record
    if not record.get("restart"):
        return []
    planned = {s["service"]: s["action"] for s in record["plan"]["services"]}
    started = set(record.get("services_started", planned)) if stage in (Journal.SERVICES, Journal.VERIFYING) else set()
    if "systemd" in started:
        engine.runner.run(["systemctl", "daemon-reload"], timeout=60)
    if "nftables" in started:  # the restored file's table (or none), before docker starts on the old backend
        fs = HostFS(engine.root)
        services.nftables(engine.root, engine.runner, "load" if fs.exists(nft_table.PATH) else "remove")
    disagree = bring_docker_back(engine, generation, planned.get("docker") if "docker" in started else None)
    if HOST_ACTIONS in started:  # after docker is back on the restored backend: the policy as it was
        put_back_policies(engine, record.get("firewall_policy") or [])
    if "auditd" in started and engine.runner.which("auditctl"):
        entry = next((e for e in record["files"] if e["path"] == audit_rules.PATH), None)
        old = generations.backup_bytes(generation, entry) if entry else None
        services.sync_audit_rules(engine.runner, record.get("audit_rules"),
                                  old.decode(errors="replace") if old else None)
    if "ufw" in started:
        for path, rules in (record.get("firewall_blocks") or {}).items():
            entry = next((e for e in record["files"] if e["path"] == path), None)
            restored = generations.backup_bytes(generation, entry) if entry else None
            services.unload_dropped_block(engine.runner, path, "\n".join([ufw_block.BEGIN, *rules, ufw_block.END]),
                                          _text(restored))
        services.reload_ufw(engine.runner)
    if "prune-timer" in started:  # undo what the timer action did: the restored units say which way
        services.prune_timer(engine.root, engine.runner, "stop" if planned["prune-timer"] == "start" else "start")
    return disagree


def bring_docker_back(engine: Engine, generation: Generation, acted: str | None) -> list[str]:
    """Make dockerd run the restored daemon.json: the way it took the new one (reload or restart), a
    restart when it is down or a reload did not undo everything; then compare what it reports."""
    if acted is None and generation.record.get("docker_left"):
        return []  # the plan left a stopped dockerd stopped: so does its rollback
    restarted = False
    if acted == "restart" or not verify.wait_for_daemon(engine.socket, 2, engine.progress):
        _restart_back(engine)
        restarted = True
    elif acted == "reload":
        docker_action("reload", engine)
    if acted is None:
        return []
    expected = restored_daemon_config(generation)
    disagree = _disagreements(expected, engine)
    if disagree and not restarted:
        engine.progress("a reload did not undo every setting: restarting docker")
        docker_action("restart", engine)
        disagree = _disagreements(expected, engine)
    return disagree


def _restart_back(engine: Engine) -> None:
    """A rollback's restart onto the restored files, tried a second time when the first fails: a daemon that
    died (killed, crashed) can leave the containerd it started still shutting down, and a start in that
    moment fails ("failed to start containerd: timeout waiting for containerd to start"); the next start
    finds it gone. systemd's docker.service retries a failed start by itself (Restart=always); a restart
    command or an init script does not."""
    try:
        docker_action("restart", engine)
    except ApplyError as first:
        engine.progress(f"docker did not come back on the restored files ({first.message}): restarting it once more")
        docker_action("restart", engine)


def restored_daemon_config(generation: Generation) -> dict:
    """The daemon.json the rollback restored, with the engine defaults of the keys the failed run added."""
    entry = next((e for e in generation.record["files"] if e["path"] == daemon_json.PATH
                  or e["path"].endswith("/.config/docker/daemon.json")), None)
    old = parse_daemon_json(generations.backup_bytes(generation, entry) if entry else None)
    new = parse_daemon_json((generation.record.get("daemon_json") or "").encode() or None)
    return verify.with_defaults_for(old, added=[k for k in new if k not in old])


def _disagreements(expected: dict, engine: Engine) -> list[str]:
    effective = verify.read_effective(engine.socket)
    if effective is None:
        return [f"dockerd does not answer on {engine.socket}"]
    wrong, _ = split_pending(verify.compare_daemon(expected, effective), engine.socket, effective)
    return [str(m) for m in wrong]
