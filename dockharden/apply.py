"""Execute a Plan: record a generation, back up, write atomically, then act on services.

Touches the machine through fsops, generations and the runner. Apply executes exactly what the plan
says: it never re-renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from dockharden import fsops, generations
from dockharden.errors import DockhardenError
from dockharden.host import read_file
from dockharden.model import Plan
from dockharden.selection import CONFIG_PATH, render_config


@dataclass(frozen=True)
class RunResult:
    """What apply did: `applied`, `unchanged`, `rolled_back` or `failed`, with the generation."""

    result: str
    generation: str | None = None
    written: tuple[str, ...] = ()
    services: tuple[dict, ...] = ()
    messages: tuple[str, ...] = field(default_factory=tuple)


def _write_changes(plan: Plan, root: str) -> None:
    for change in plan.changes:
        if change.action == "delete":
            fsops.remove(root, change.path)
        else:
            new = change.new
            fsops.atomic_write(root, change.path, new.content, new.mode, new.uid, new.gid)


def plan_summary(plan: Plan) -> dict:
    return {"changes": [{"path": c.path, "action": c.action} for c in plan.changes],
            "services": [{"service": s.service, "action": s.action} for s in plan.services]}


def apply_files(plan: Plan, root: str, config: dict, now: Callable[[], datetime], *, restart: bool) -> RunResult:
    """Write the plan's files under a new generation; services are acted on only when `restart`."""
    if restart:
        raise DockhardenError("service actions (reload, restart, verify) are not available yet",
                              hint="use `apply --no-restart` and restart docker yourself")
    selection_bytes = render_config(config, plan.selection)
    selection_file = read_file(root, CONFIG_PATH)
    selection_changed = plan.selection.source != CONFIG_PATH and selection_file.content != selection_bytes
    if not plan.changes:
        if selection_changed:
            fsops.atomic_write(root, CONFIG_PATH, selection_bytes, 0o644)
        return RunResult("unchanged")
    old_files = [c.old for c in plan.changes] + ([selection_file] if selection_changed else [])
    selection = {"profiles": list(plan.selection.profiles), "layers": list(plan.selection.layers)}
    generation = generations.start_generation(root, now(), selection, old_files, plan_summary(plan))
    try:
        _write_changes(plan, root)
        if selection_changed:
            fsops.atomic_write(root, CONFIG_PATH, selection_bytes, 0o644)
    except DockhardenError as exc:
        generations.restore_files(root, generation)
        generations.set_state(generation, "failed", error=exc.paragraph())
        exc.message += "; every file was restored from generation " + generation.id
        raise
    generations.set_state(generation, "applied", services="skipped (--no-restart)")
    return RunResult("applied", generation.id, tuple(c.path for c in plan.changes),
                     tuple({"service": s.service, "action": "skipped"} for s in plan.services))
