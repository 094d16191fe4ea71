"""Key paths in nested maps: read, set, remove and merge values by path.

A leaf: imports nothing of dockharden but `model` (core and targets both use it, and neither owns it). A
key path is a tuple of keys (`model.KeyPath`), never a string split on '/': a key that holds '/'
(`log-opts."a/b"`) is one key. Only managed.json names a path as one string, through
`model.encode_key_path`, which escapes the '/' inside a key. Pure.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from dockharden.model import KeyPath


def get_path(doc: Any, path: KeyPath) -> tuple[bool, Any]:
    """(True, value) when `path` exists in nested dicts, else (False, None)."""
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return False, None
        doc = doc[key]
    return True, doc


def set_path(doc: dict[str, Any], path: KeyPath, value: Any) -> None:
    """Set `path` in nested dicts, creating maps on the way."""
    for key in path[:-1]:
        doc = doc.setdefault(key, {})
    doc[path[-1]] = copy.deepcopy(value)


def remove_path(target: dict[str, Any], path: KeyPath) -> bool:
    """Delete `path` from nested dicts; True when something was there. A map the removal leaves
    empty goes too (`"features": {}` says nothing and only adds noise)."""
    parents = [target]
    for key in path[:-1]:
        node = parents[-1].get(key)
        if not isinstance(node, dict):
            return False
        parents.append(node)
    if parents[-1].pop(path[-1], _MISSING) is _MISSING:
        return False
    for depth in range(len(path) - 1, 0, -1):
        if parents[depth]:
            break
        del parents[depth - 1][path[depth - 1]]
    return True


def maps_on_the_way(doc: dict[str, Any], path: KeyPath) -> bool:
    """Every key above the last of `path` is a map in `doc`, or absent (set_path can make it)."""
    for key in path[:-1]:
        doc = doc.get(key, {})
        if not isinstance(doc, dict):
            return False
    return True


def leaf_paths(doc: dict[str, Any], prefix: KeyPath = ()) -> list[KeyPath]:
    """The path of every value in `doc` that is not a non-empty map (an empty map is a value here)."""
    paths = []
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            paths += leaf_paths(value, prefix + (key,))
        else:
            paths.append(prefix + (key,))
    return paths


def deep_update(target: dict[str, Any], values: Mapping[str, Any], prefix: KeyPath = ()) -> list[KeyPath]:
    """Merge `values` into `target` in place; return every path it set (maps and leaves)."""
    touched = []
    for key, value in values.items():
        path = prefix + (key,)
        touched.append(path)
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            touched += deep_update(target[key], value, path)
        else:
            target[key] = copy.deepcopy(value) if isinstance(value, (dict, list)) else value
            if isinstance(value, Mapping):
                touched += [path + sub for sub in _every_path(value)]
    return touched


def merged_over(base: dict[str, Any], settings_table: Mapping[str, Any],
                removals: Iterable[KeyPath]) -> dict[str, Any]:
    """The operator's document with the layers' values merged over it and removals applied.

    Keys keep the base document's order; keys new to it follow in layer order.
    """
    result = copy.deepcopy(base)
    for path in removals:
        remove_path(result, path)
    deep_update(result, settings_table)
    return result


def _every_path(value: Mapping[str, Any], prefix: KeyPath = ()) -> list[KeyPath]:
    """The path of every map and every value inside `value`."""
    paths = []
    for key, sub in value.items():
        paths.append(prefix + (key,))
        if isinstance(sub, Mapping):
            paths += _every_path(sub, prefix + (key,))
    return paths


_MISSING = object()
