"""Merge layers into one Settings value, remembering which layer set each key.

Pure. Rules: maps merge deeply; scalars and lists from a later layer replace earlier ones; a layer's
`[unset]` removes a key from everything before it (earlier layers and the operator's file) until a
later layer sets it again.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from dockharden.keypaths import deep_update, remove_path
from dockharden.model import KeyPath, Layer, Settings


def merge_layers(layers: Iterable[Layer]) -> Settings:
    """Fold the layers, in order, into merged tables with provenance and strength.

    Two folds, one per strength: `[daemon]` (enforces) and `[defaults.daemon]` (defaults). For each key
    path an enforced value from any layer beats a default; within one strength the later layer wins; a
    layer's `[unset]` removes the path from both folds (and the operator's file) until a later layer sets
    it again.
    """
    enforced: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    provenance: dict[tuple[str, KeyPath], str] = {}
    default_from: dict[tuple[str, KeyPath], str] = {}
    removed: dict[tuple[str, KeyPath], str] = {}
    names, sources = [], {}
    for layer in layers:
        names.append(layer.name)
        sources[layer.name] = layer.source
        for table, paths in layer.unset.items():
            for path in paths:
                for fold, who in ((enforced, provenance), (defaults, default_from)):
                    remove_path(fold.setdefault(table, {}), path)
                    _forget(who, table, path)
                removed[(table, path)] = layer.name
        _fold(defaults, layer.defaults, layer.name, default_from, removed)
        _fold(enforced, layer.tables, layer.name, provenance, removed)
    tables, defaulted = _combine(enforced, defaults, provenance, default_from)
    return Settings(tables=tables, provenance=provenance, removed=removed, layers=tuple(names), sources=sources,
                    defaulted=defaulted)


def _fold(tables: dict[str, Any], layer_tables: Mapping[str, Any], name: str,
          provenance: dict[tuple[str, KeyPath], str], removed: dict[tuple[str, KeyPath], str]) -> None:
    for table, values in layer_tables.items():
        for path in deep_update(tables.setdefault(table, {}), values):
            provenance[(table, path)] = name
            removed.pop((table, path), None)


def _combine(enforced: dict[str, Any], defaults: dict[str, Any], provenance: dict[tuple[str, KeyPath], str],
             default_from: dict[tuple[str, KeyPath], str]) -> tuple[dict[str, Any], frozenset]:
    """The defaults with the enforced values merged over them; `provenance` gains each default that stays,
    and the paths that only default are returned."""
    tables = {table: values for table, values in enforced.items() if values or table not in defaults}
    defaulted = set()
    for table, values in defaults.items():
        if not values:
            continue
        merged = copy.deepcopy(values)
        deep_update(merged, enforced.get(table, {}))
        tables[table] = merged
        for (t, path), layer in default_from.items():
            if t == table and not _covered(enforced.get(table, {}), path):
                provenance[(t, path)] = layer
                defaulted.add((t, path))
    return tables, frozenset(defaulted)


def _covered(enforced: Mapping[str, Any], path: KeyPath) -> bool:
    """Whether an enforced value sets `path` or a value (not a map) above it."""
    node: Any = enforced
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return not isinstance(node, Mapping)
        node = node[key]
    return True


def _forget(provenance: dict, table: str, path: KeyPath) -> None:
    for t, p in list(provenance):
        if t == table and p[: len(path)] == path:
            del provenance[(t, p)]

