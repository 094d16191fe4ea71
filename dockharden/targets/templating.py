"""Render the shipped Jinja2 templates (the schedule's systemd units). Pure (templates are package data).

Every value a template prints goes through the unit writer's check (systemd_unit.one_line): one line of
printable text, so no value can open a new setting or section; ExecStart values arrive already quoted.

Jinja2 is imported on first use only: a plan that renders no template does not pay for it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from dockharden.resources import templates_dir


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              autoescape=False, finalize=_one_line)


def _one_line(value: Any) -> str:
    from dockharden.targets.systemd_unit import one_line

    return one_line(str(value), "a value in a unit")


def render_template(name: str, **values: Any) -> str:
    """The template `name` rendered with `values` (missing values are errors, not blanks)."""
    return _environment().get_template(name).render(**values)
