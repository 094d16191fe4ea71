"""Where the shipped data lives: built-in profiles, templates, schemas.

Reads nothing itself. Installed, they are the packages `dockharden.profiles`, `dockharden.templates`
and `dockharden.schema`; in a source checkout they are the top-level `profiles/` and `templates/`.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(os.path.abspath(__file__)).parent  # not resolve() (a stat per part): a path through a link works


def _data_dir(package: str, checkout_dir: str) -> Path:
    inside = _PACKAGE / package
    if inside.is_dir():
        return inside
    return _PACKAGE.parent / checkout_dir


def profiles_dir() -> Path:
    """The directory of the built-in layers (`baseline.toml`, `userns.toml`, ...)."""
    return _data_dir("profiles", "profiles")


def templates_dir() -> Path:
    """The directory of the Jinja2 templates."""
    return _data_dir("templates", "templates")


def schema_path(name: str) -> Path:
    """A shipped JSON Schema, e.g. `daemon.schema.json` or `layer.schema.json`."""
    return _PACKAGE / "schema" / name
