"""Element-level differences inside one changed daemon.json value: a registry mirror added, one address
pool's base changed, one runtime argument removed. Pure.

The plan's key diff (core/plan.py) stops at lists, because a layer replaces a list whole; an operator
still wants to see which element moved. deepdiff does that comparison, in order (a list's order is part
of its meaning: mirrors are tried in order, runtime arguments are positional), and is slow to import
(docs/performance.md), so this module is imported only when such a change is displayed.
"""

from __future__ import annotations

from typing import Any

# deepdiff's report names, as the plan's own kinds
_KINDS = {
    "iterable_item_added": "added", "dictionary_item_added": "added",
    "iterable_item_removed": "removed", "dictionary_item_removed": "removed",
    "values_changed": "changed", "type_changes": "changed",
}


def element_changes(old: Any, new: Any) -> list[tuple[str, str, Any, Any]]:
    """(kind, where, old, new) for each element that differs, `where` written as `[1].base`; in order,
    never ignoring it. Empty when deepdiff sees no difference the plan's own JSON equality does (true
    against 1): the caller then shows the two whole values."""
    from deepdiff import DeepDiff

    tree = DeepDiff(old, new, ignore_order=False, verbose_level=2, view="tree")
    found = []
    for report, items in tree.items():
        kind = _KINDS.get(report)
        if kind is None:  # repetition or attribute reports cannot occur between JSON values
            continue
        for item in items:
            found.append((kind, item.path(output_format="list"), _present(item.t1), _present(item.t2)))
    found.sort(key=lambda change: [(0, step, "") if isinstance(step, int) else (1, 0, str(step)) for step in change[1]])
    return [(kind, _where(path), before, after) for kind, path, before, after in found]


def _where(path: list) -> str:
    """`[1].base`; a key that is not a plain name is quoted: `["a.b"]`."""
    import json
    import re

    parts = [f"[{step}]" if isinstance(step, int) else f".{step}" if re.fullmatch(r"[\w-]+", str(step))
             else f"[{json.dumps(step)}]" for step in path]
    joined = "".join(parts)
    return joined[1:] if joined.startswith(".") else joined


def _present(value: Any) -> Any:
    """deepdiff's marker for a side that does not exist, as None."""
    return None if type(value).__name__ == "NotPresent" else value

