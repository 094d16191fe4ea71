"""docs/check.md's control tables, rendered from the benchmark tables and the checks. Pure.

`scripts/gen-check-doc.py` writes them into docs/check.md between the markers; a test keeps the doc
and the tables equal.
"""

from __future__ import annotations

from dockharden.inspect.benchmarks import VERSIONS, benchmark

BEGIN = "<!-- BEGIN generated from dockharden/benchmarks (scripts/gen-check-doc.py) -->"
END = "<!-- END generated -->"


def controls_markdown() -> str:
    from dockharden.inspect.cis import controls

    parts = []
    for version in reversed(VERSIONS):
        table = benchmark(version)
        parts += [f"### {table.name} ({table.released})", "",
                  "| ID | Title | Level | Automated/Manual | Key |", "|---|---|---|---|---|"]
        parts += [f"| {r.id} | {r.title} | {r.level} | {r.assessment} | `{r.key}` |" for r in table.rows]
        parts.append("")
    checks = controls()
    ids = {key: " / ".join(_id_of(key, v) for v in VERSIONS) for key in checks}
    parts += ["### The checks, by stable key", "",
              "IDs in v1.6.0 / v1.7.0 / v1.8.0 (— where a version has no such control).", "",
              "| Key | IDs | Fix when it fails |", "|---|---|---|"]
    parts += [f"| `{key}` | {ids[key]} | {checks[key].fix} |" for key in _ordered(checks)]
    return "\n".join(parts) + "\n"


def _id_of(key: str, version: str) -> str:
    row = benchmark(version).row_for_key(key)
    return row.id if row else "—"


def _ordered(checks) -> list[str]:
    order = [r.key for r in benchmark(VERSIONS[-1]).rows]
    return order + sorted(set(checks) - set(order))


def replace_generated(doc: str) -> str:
    """`doc` with the text between the markers replaced by the current tables."""
    head, _, rest = doc.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{controls_markdown()}{END}{tail}"
