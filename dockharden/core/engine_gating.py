"""Leave out daemon.json settings the host's engine does not know, and say why.

Pure. The schema annotates each key with the first release that has it (`x-since`, and `x-since-nested`
for keys inside maps such as `features`). An unknown engine version keeps everything.
"""

from __future__ import annotations

import copy
import re

from dockharden.keypaths import remove_path
from dockharden.model import Note, Settings


def parse_version(text: str | None) -> tuple[int, int] | None:
    """'20.10.24+dfsg1' -> (20, 10); None when it is not a version."""
    match = re.match(r"\s*v?(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def gate_for_engine(settings: Settings, engine: str | None, since: dict[str, str]) -> tuple[Settings, list[Note]]:
    """Drop the layer-set daemon keys newer than `engine`; `since` maps 'a/b' paths to 'MAJOR.MINOR'."""
    have = parse_version(engine)
    if have is None:
        return settings, []
    daemon = copy.deepcopy(settings.table("daemon"))
    notes = []
    for path_text, first in sorted(since.items()):
        need = parse_version(first)
        path = tuple(path_text.split("/"))
        if need and have < need and remove_path(daemon, path):
            _prune_empty_parents(daemon, path)
            who = settings.origin("daemon", path) or "a layer"
            notes.append(Note("info", f"daemon.json `{'.'.join(path)}` (from {who}) left out: "
                                      f"Engine {engine} does not know it (added in {first})"))
    tables = dict(settings.tables, daemon=daemon)
    return settings._replace(tables=tables), notes


def since_map(schema: dict) -> dict[str, str]:
    """The 'path' -> first-version map of the daemon schema (top-level and nested keys)."""
    result = {key: spec["x-since"] for key, spec in schema["properties"].items() if "x-since" in spec}
    result.update(schema.get("x-since-nested", {}))
    return result


def _prune_empty_parents(doc: dict, path: tuple[str, ...]) -> None:
    """Drop maps a removal left empty ({"features": {}} says nothing and only adds noise)."""
    for n in range(len(path) - 1, 0, -1):
        parent = doc
        for key in path[: n - 1]:
            parent = parent[key]
        if parent.get(path[n - 1]) == {}:
            del parent[path[n - 1]]
