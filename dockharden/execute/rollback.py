"""Turn a generation back into a Plan: every file as it was before that generation was applied.

Reads the generation store and the host; the Plan it returns is executed by apply like any other, so
a rollback is validated, applied, verified and recorded, and can itself be rolled back.
"""

from __future__ import annotations

from dockharden.core.plan import hold_services, make_plan
from dockharden.core.published_ports import port_closure
from dockharden.errors import ConflictError, DockhardenError
from dockharden.execute import generations
from dockharden.host import facts as hostmod
from dockharden.host.runner import Runner
from dockharden.host.state import Generation, in_force  # noqa: F401 (in_force: callers read it here too)
from dockharden.model import Journal, Note, Plan, RenderedFile, RunOutcome, Selection, Settings
from dockharden.targets.systemd_dropin import exec_after

EMPTY = Settings(tables={}, provenance={}, removed={}, layers=())


def default_target(root: str) -> Generation:
    """What a plain rollback undoes: the newest apply still in force. So each plain rollback goes one
    generation further back, past rollbacks and past what was already undone."""
    gens = generations.list_generations(root)
    stack, _ = in_force(gens)
    if not stack:
        damaged = [g.id for g in gens if g.damaged]
        raise DockhardenError("there is nothing left to roll back: no apply is in force"
                              + (f" (the record of generation {', '.join(damaged)} is damaged)" if damaged else ""),
                              hint="`dockharden history` lists the generations; `rollback --to N` restores the "
                                   "files as they were before generation N")
    check_range(gens, stack[-1], plain=True)
    return stack[-1]


def target_generation(root: str, gen_id: str) -> Generation:
    """The generation `rollback --to` names, when every generation from it on can be trusted."""
    gens = generations.list_generations(root)
    target = generations.find_generation(root, gen_id, gens)
    check_range(gens, target, plain=False)
    return target


def check_range(gens: list[Generation], target: Generation, *, plain: bool) -> None:
    """Refuse to roll back past a generation whose record is damaged: which files it changed is unknown,
    so some of them could be left as it made them."""
    damaged = next((g for g in gens if g.damaged and int(g.id) >= int(target.id)), None)
    if damaged is None:
        return
    newer = [g.id for g in gens if not g.damaged and int(g.id) > int(damaged.id)]
    way = (f"`dockharden rollback --to {newer[0]}` goes back to just after it; " if newer else "")
    why = ("a plain rollback would go past it" if plain else
           f"rolling back to before generation {target.id} would go past it")
    raise generations.damaged_record_error(
        damaged.id, damaged.directory, damaged.damaged,
        f"which files it changed is unknown, and {why}, leaving them as it made them",
        way + f"to go past it, put back its record.json, or move {damaged.directory.name} out of "
              "/var/lib/dockharden/generations (its backups are in its files/ directory)")


def first_entries(root: str, target: Generation) -> list[tuple[Generation, dict]]:
    """For each file any generation from `target` on touched: the first of them and its record entry."""
    seen: dict[str, tuple[Generation, dict]] = {}
    for generation in generations.list_generations(root):
        if int(generation.id) < int(target.id) or generation.damaged:  # damaged: refused by check_range
            continue
        for entry in generation.record["files"]:
            seen.setdefault(entry["path"], (generation, entry))
    return list(seen.values())


def files_before(root: str, target: Generation) -> list[RenderedFile]:
    """For each file any generation from `target` on touched: its bytes before the first of them."""
    return [RenderedFile(target_of(entry["path"]), path=entry["path"],
                         content=generations.backup_bytes(generation, entry),
                         mode=entry["mode"] if entry["mode"] is not None else 0o644,
                         uid=entry["uid"] or 0, gid=entry["gid"] or 0,
                         secret=entry["mode"] is not None and not entry["mode"] & 0o044)
            for generation, entry in first_entries(root, target)]


def refuse_swapped_links(root: str, target: Generation, snapshot) -> None:
    """A symlink that replaced a recorded file since is never written through: refused before anything."""
    for generation, entry in first_entries(root, target):
        current = snapshot.file(entry["path"])
        if generations.link_swapped_in(entry, current):
            raise ConflictError(f"is now a symlink to {current.symlink_target}, but generation {generation.id} "
                                "recorded a file there; rollback never writes through a link put in place of a "
                                "file it restores", path=entry["path"],
                                hint="remove the symlink (the file then comes back as it was) or put the file "
                                     "back, and run rollback again; nothing was changed")


def target_of(path: str) -> str:
    """The target a recorded path belongs to (daemon.json may be a rootless user's)."""
    if path == "/etc/docker/daemon.json" or path.endswith("/.config/docker/daemon.json"):
        return "daemon.json"
    return "restore"


def rootless_user_of(root: str, target: Generation) -> str | None:
    """The rootless user whose daemon the generations from `target` on configured (None: the system's).

    One rollback brings back one daemon: generations of two daemons are rolled back one at a time.
    """
    owners = {}
    for generation in generations.list_generations(root):
        if int(generation.id) >= int(target.id) and not generation.damaged and generation.record["files"]:
            owners.setdefault(generation.record.get("rootless_user"), generation.id)
    if len(owners) > 1:
        named = ", ".join(f"{'the rootless daemon of ' + u if u else 'the system daemon'} (generation {g})"
                          for u, g in sorted(owners.items(), key=lambda item: item[1]))
        raise DockhardenError(f"the generations from {target.id} on configured more than one daemon: {named}",
                              hint="roll back one daemon at a time: `dockharden rollback --to` the newest "
                                   "generation of one of them first")
    return next(iter(owners), None)


def rollback_plan(root: str, runner: Runner, target: Generation, reloadable: frozenset[str], *,
                  restart: bool = True, stop_first: bool = False) -> Plan:
    """The files as they were before `target`, and the service actions apply takes for them (`restart`
    false: none, as apply --no-restart). A rollback that moves dockerd back to another data root or image
    store says what becomes of the running containers, as an apply does (`stop_first`: stop them first)."""
    from dockharden.host.root import is_running_system

    rendered = files_before(root, target)
    snapshot = hostmod.read_host(root, runner, [f.path for f in rendered])
    refuse_swapped_links(root, target, snapshot)
    user = rootless_user_of(root, target)
    if user:
        from dockharden.host.facts import Context, for_rootless_user

        snapshot = for_rootless_user(Context(root=root, runner=runner, user=user), snapshot, None)
    snapshot = hostmod.with_running_containers(hostmod.Context(root=root, runner=runner), snapshot)
    notes = [Note("info", f"restores every file to how it was before generation {target.id} "
                          f"({target.record.get('time')})")]
    plan = make_plan(Selection((), layers=(), source="rollback"), EMPTY, snapshot, rendered, notes, reloadable)
    plan = hold_services(plan, snapshot, live=is_running_system(root), restart=restart)
    plan = with_store_switch(plan, root, runner, snapshot, rendered, stop_first)
    flags = tuple(snapshot.start_flags(exec_after(snapshot, rendered)))
    # a block restored as it was may close published ports again: named, and asked about, never refused
    closure = port_closure(plan.changes, plan.services, snapshot.containers)
    return plan._replace(start_flags=flags, rootless_user=snapshot.rootless_user, docker_socket=snapshot.docker_socket,
                         port_closure=closure, host_actions=policies_back(root, target, plan, snapshot, rendered))


def policies_back(root: str, target: Generation, plan: Plan, snapshot, rendered: list[RenderedFile]):
    """The rollback's host actions (core/forward_policy.py): back on the iptables backend, the chain policies
    the generations from `target` on set, as recorded before each was changed; onto the nftables backend (a
    rollback of a rollback), Docker's own DROP set to ACCEPT, as an apply of that switch does."""
    from dockharden.core.forward_policy import planned_actions, policies, restore_actions
    from dockharden.daemon_json_codec import parse_daemon_json
    from dockharden.execute.apply import HOST_ACTIONS
    from dockharden.host.root import is_running_system

    restored = next((f for f in rendered if f.path == snapshot.daemon_json_path), None)
    config = parse_daemon_json(restored.content if restored else hostmod.read_file(root, snapshot.daemon_json_path).content)
    if config.get("firewall-backend") == "nftables":
        return planned_actions(config, snapshot, plan.services, live=is_running_system(root))
    recorded = [(g.id, g.record["firewall_policy"]) for g in generations.list_generations(root)
                if int(g.id) >= int(target.id) and not g.damaged and g.record.get("firewall_policy")
                and HOST_ACTIONS in g.record.get("services_started", []) and g.record.get("state") == Journal.APPLIED]
    return restore_actions(recorded, policies(snapshot), to_nftables=False, services=plan.services)


def with_store_switch(plan: Plan, root: str, runner: Runner, snapshot, rendered: list[RenderedFile],
                      stop_first: bool) -> Plan:
    """The plan with the switch of data root or image store the restored daemon.json makes, if any."""
    from dockharden.core.store_switch import find_switch, with_switch
    from dockharden.daemon_json_codec import parse_daemon_json
    from dockharden.host.facts import Context, image_store, socket_path, volume_count, with_running_containers

    info = snapshot.daemon_info
    restored = next((f for f in rendered if f.path == snapshot.daemon_json_path), None)
    if not isinstance(info, dict) or restored is None:
        return plan
    config = parse_daemon_json(restored.content)
    data_root = info.get("DockerRootDir") or "/var/lib/docker"
    socket = socket_path(root, snapshot.docker_socket or hostmod.SOCKET)
    store = dict(image_store(root, info, data_root), volumes=volume_count(root, socket, data_root))
    snapshot = with_running_containers(Context(root=root, runner=runner), snapshot._replace(image_store=store))
    return with_switch(plan, find_switch(config, EMPTY, snapshot, stop_first=stop_first))


def record_files_in_place(root: str, now, target: Generation):
    """A rollback whose files were already as they were before `target`: recorded all the same (a
    generation without files), so that the next plain rollback goes further back, not to `target` again."""
    from dockharden.execute.apply import RunResult

    generation = generations.start_generation(root, now, {"profiles": [], "layers": []}, [],
                                              {"changes": [], "services": []}, kind="rollback", target=target.id,
                                              restart=False)
    generations.set_state(generation, Journal.APPLIED)
    return RunResult(RunOutcome.APPLIED, generation=generation.id, messages=(
        f"every file was already as it was before generation {target.id}; recorded, so that the next plain "
        "rollback goes further back",))
