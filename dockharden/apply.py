"""Execute a Plan: record a generation, back up, write atomically, then act on services.

Touches the machine through fsops, generations and the runner. Apply executes exactly what the plan
says: it never re-renders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from dockharden import fsops, generations
from dockharden.errors import DockhardenError
from dockharden.generations import STATE_DIR
from dockharden.host import MANAGED_STATE, read_file, under
from dockharden.model import HostFile, Plan
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


def bookkeeping(plan: Plan, root: str, config: dict) -> list[tuple[HostFile, bytes]]:
    """dockharden's own files that differ from what this plan needs: the selection and the state."""
    wanted = [(MANAGED_STATE, (json.dumps(plan.state, indent=2, sort_keys=True) + "\n").encode())]
    if plan.selection.source != CONFIG_PATH:
        wanted.append((CONFIG_PATH, render_config(config, plan.selection)))
    current = [(read_file(root, path), data) for path, data in wanted]
    return [(old, data) for old, data in current if old.content != data]


def apply_files(plan: Plan, root: str, config: dict, now: Callable[[], datetime], *, restart: bool) -> RunResult:
    """Write the plan's files under a new generation; services are acted on only when `restart`."""
    if restart:
        raise DockhardenError("service actions (reload, restart, verify) are not available yet",
                              hint="use `apply --no-restart` and restart docker yourself")
    ours = bookkeeping(plan, root, config)
    if not plan.changes:
        _write_own(root, ours)
        return RunResult("unchanged")
    selection = {"profiles": list(plan.selection.profiles), "layers": list(plan.selection.layers)}
    generation = generations.start_generation(root, now(), selection,
                                              [c.old for c in plan.changes] + [old for old, _ in ours],
                                              plan_summary(plan))
    try:
        _write_changes(plan, root)
        _write_own(root, ours)
    except DockhardenError as exc:
        generations.restore_files(root, generation)
        generations.set_state(generation, "failed", error=exc.paragraph())
        exc.message += "; every file was restored from generation " + generation.id
        raise
    generations.set_state(generation, "applied", services="skipped (--no-restart)")
    return RunResult("applied", generation.id, tuple(c.path for c in plan.changes),
                     tuple({"service": s.service, "action": "skipped"} for s in plan.services))


def _write_own(root: str, files: list[tuple[HostFile, bytes]]) -> None:
    for old, data in files:
        mode = 0o600 if old.path == MANAGED_STATE else 0o644
        if old.path == MANAGED_STATE:
            fsops.make_private_dir(under(root, STATE_DIR))
        fsops.atomic_write(root, old.path, data, mode)
