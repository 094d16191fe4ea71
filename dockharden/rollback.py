"""Turn a generation back into a Plan: every file as it was before that generation was applied.

Reads the generation store and the host; the Plan it returns is executed by apply like any other, so
a rollback is validated, applied, verified and recorded, and can itself be rolled back.
"""

from __future__ import annotations

from dockharden import generations, host as hostmod
from dockharden.errors import DockhardenError
from dockharden.generations import Generation
from dockharden.model import Note, Plan, RenderedFile, Selection, Settings
from dockharden.plan import make_plan
from dockharden.runner import Runner
from dockharden.targets.systemd_dropin import exec_after

EMPTY = Settings(tables={}, provenance={}, removed={}, layers=())


def default_target(root: str) -> Generation:
    """The most recent successful apply that changed something and was not undone already."""
    candidates = [g for g in generations.list_generations(root)
                  if g.record.get("state") == "applied" and not g.record.get("undone_by") and g.record["files"]]
    if not candidates:
        raise DockhardenError("there is no applied generation to roll back",
                              hint="`dockharden history` lists the generations")
    return candidates[-1]


def files_before(root: str, target: Generation) -> list[RenderedFile]:
    """For each file any generation from `target` on touched: its bytes before the first of them."""
    seen: dict[str, RenderedFile] = {}
    for generation in generations.list_generations(root):
        if int(generation.id) < int(target.id):
            continue
        for entry in generation.record["files"]:
            if entry["path"] not in seen:
                seen[entry["path"]] = RenderedFile(
                    target_of(entry["path"]), entry["path"], generations.backup_bytes(generation, entry),
                    mode=entry["mode"] if entry["mode"] is not None else 0o644,
                    uid=entry["uid"] or 0, gid=entry["gid"] or 0,
                    secret=entry["mode"] is not None and not entry["mode"] & 0o044)
    return list(seen.values())


def target_of(path: str) -> str:
    """The target a recorded path belongs to (daemon.json may be a rootless user's)."""
    if path == "/etc/docker/daemon.json" or path.endswith("/.config/docker/daemon.json"):
        return "daemon.json"
    return "restore"


def rollback_plan(root: str, runner: Runner, target: Generation, reloadable: frozenset[str]) -> Plan:
    rendered = files_before(root, target)
    snapshot = hostmod.read_host(root, runner, [f.path for f in rendered])
    notes = [Note("info", f"restores every file to how it was before generation {target.id} "
                          f"({target.record.get('time')})")]
    plan = make_plan(Selection((), (), "rollback"), EMPTY, snapshot, rendered, notes, reloadable)
    flags = tuple(snapshot.start_flags(exec_after(snapshot, rendered)))
    return Plan(**{**plan.__dict__, "state": None, "start_flags": flags})
