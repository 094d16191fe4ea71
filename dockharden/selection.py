"""The per-host selection of layers, persisted in /etc/dockharden/dockharden.toml.

Reads and renders that file; writing it goes through fsops like every other file. Flags given on the
command line override what the file says.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from dockharden.errors import HostFileError
from dockharden.model import Selection
from dockharden.profiles import DEFAULT_PROFILES

CONFIG_PATH = "/etc/dockharden/dockharden.toml"


def parse_config(content: bytes | None, path: str = CONFIG_PATH) -> dict[str, Any]:
    """The host's dockharden.toml as a dict ({} when absent)."""
    if not content:
        return {}
    try:
        return tomllib.loads(content.decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise HostFileError(f"invalid TOML: {exc}", hint="fix the file or remove it", path=path) from None


def choose_selection(config: dict[str, Any], profiles: list[str] | None, layers: list[str] | None) -> Selection:
    """Flags win; else the persisted selection; else the built-in default."""
    saved_profiles = config.get("profiles")
    saved_layers = config.get("layers", [])
    if profiles is None and layers is None and saved_profiles is not None:
        return Selection(tuple(saved_profiles), tuple(saved_layers), source=CONFIG_PATH)
    chosen = tuple(profiles) if profiles is not None else tuple(saved_profiles or DEFAULT_PROFILES)
    return Selection(chosen, tuple(str(Path(p).absolute()) for p in layers or ()),
                     source="command line" if profiles or layers else "default")


def split_profiles(text: str | None) -> list[str] | None:
    """'baseline,userns' -> ['baseline', 'userns']; None stays None (not given)."""
    if text is None:
        return None
    return [p.strip() for p in text.split(",") if p.strip()]


def render_config(config: dict[str, Any], selection: Selection) -> bytes:
    """dockharden.toml with the selection written in and every other table kept."""
    merged = dict(config, profiles=list(selection.profiles), layers=list(selection.layers))
    lines = ["# dockharden's selection for this host; `dockharden plan` without flags uses it."]
    scalars = {k: v for k, v in merged.items() if not isinstance(v, dict)}
    lines += [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
    for name, table in merged.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return ("\n".join(lines) + "\n").encode()


def _toml_value(value: Any) -> str:
    # JSON strings, numbers, booleans and arrays of them are valid TOML
    return json.dumps(value)
