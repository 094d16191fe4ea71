"""Finish what a killed run left: undo every generation whose journal says it did not complete.

Touches the machine (through apply's rollback). Called by apply and rollback under the host lock,
before they plan; plan only reports what it finds.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from dockharden.execute import generations
from dockharden.model import RunOutcome

if TYPE_CHECKING:
    from dockharden.execute.apply import Engine


def recover(engine: Engine) -> list[str]:
    """Undo interrupted generations (files back, services back, daemon up); say what was done."""
    from dockharden.execute.apply import roll_back_generation

    messages = []
    for generation in generations.unfinished(engine.root):
        state = generation.record["state"]
        result = roll_back_generation(engine.for_rootless_user(generation.record.get("rootless_user")), generation,
                                      f"generation {generation.id} was interrupted while {state}")
        verb = "undone" if result.result == RunOutcome.ROLLED_BACK else "could NOT be undone"
        messages.append(f"recovered: generation {generation.id} (interrupted while {state}) {verb}; "
                        + " ".join(result.messages[1:]))
    for generation in generations.list_generations(engine.root):
        if generation.record.get("state") not in generations.UNFINISHED:
            generations.release_reserve(generation)  # a run killed between its last journal entry and this
    for directory in generations.generation_dirs(generations.generations_dir(engine.root)):
        if not os.path.lexists(directory / "record.json"):  # a linked record is damaged, not missing
            shutil.rmtree(directory)  # killed while taking backups: nothing was written yet (rmtree never follows links)
            messages.append(f"recovered: removed the incomplete backup directory {directory.name}")
    return messages
