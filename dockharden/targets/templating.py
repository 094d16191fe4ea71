"""Render the shipped Jinja2 templates. Pure (templates are package data).

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
                              autoescape=False)


def render_template(name: str, **values: Any) -> str:
    """The template `name` rendered with `values` (missing values are errors, not blanks)."""
    return _environment().get_template(name).render(**values)
