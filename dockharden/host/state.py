"""dockharden's own state, read and checked: generation records and managed.json.

Reads /var/lib/dockharden only. dockharden writes these files atomically, so one that is not JSON, not
the shape of its schema (record.schema.json, managed.schema.json) or not consistent with its directory
was cut short or edited by hand. It is never trusted: a damaged record marks its generation damaged (the
others stay usable), a damaged managed.json stops plan and apply with one paragraph saying what to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dockharden.errors import HostFileError, StateError
from dockharden.host.facts import MANAGED_STATE, read_file
from dockharden.host.fs import read_own

RECORD = "record.json"


def parse_state(data: bytes, schema: str) -> tuple[Any, str]:
    """(document, '') for sound bytes, (None, what is wrong) for damaged ones."""
    if not data.strip():
        return None, "it is empty"
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, f"it is not UTF-8 text (byte {exc.start})"
    except json.JSONDecodeError as exc:
        return None, f"it is not JSON (line {exc.lineno} column {exc.colno}: {exc.msg}; cut short or edited by hand?)"
    except (ValueError, RecursionError) as exc:
        return None, f"it is not JSON ({exc.__class__.__name__})"
    return doc, shape_problem(doc, schema)


def shape_problem(doc: Any, schema: str) -> str:
    """'' when `doc` matches the shipped schema `schema`, else its first problem in words."""
    from importlib import import_module

    try:
        import_module(f"dockharden.schema._fast_{schema.split('.')[0]}").validate(doc)
        return ""
    except (ValueError, ModuleNotFoundError):  # rejected, or a checkout never built: jsonschema decides
        pass
    import jsonschema  # only for a damaged file: it explains

    from dockharden.core.schema import load_schema

    validator = jsonschema.Draft202012Validator(load_schema(schema))
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:  # a checkout never built has no fast validator: jsonschema accepts it
        return ""
    error = errors[0]
    where = ".".join(str(p) for p in error.absolute_path) or "the top level"
    return f"at {where}: {error.message[:160]}"


# --- generation records -------------------------------------------------------------------------------

def record_problem(directory: Path) -> tuple[dict[str, Any], str]:
    """(record, '') for a sound record.json, ({}, what is wrong) for a damaged one."""
    try:
        data = read_own(directory / RECORD)
    except IsADirectoryError:
        return {}, "record.json is not a file"
    except OSError as exc:  # ELOOP: a symlink, which dockharden never writes
        return {}, f"record.json cannot be read ({exc.strerror or exc})"
    except HostFileError as exc:
        return {}, f"record.json {exc.message}"
    doc, problem = parse_state(data, "record.schema.json")
    if not problem and doc["id"] != directory.name:
        problem = f"it says it is generation {doc['id']}, but it is in directory {directory.name}"
    return (doc, "") if not problem else ({}, problem)


def damaged_record_error(gen_id: str, directory: Path, problem: str, why: str, hint: str) -> StateError:
    return StateError(f"generation {gen_id}'s record is damaged: {problem}; {why}", hint=hint,
                      path=f"{_shown(directory)}/{RECORD}")


def _shown(directory: Path) -> str:
    """The directory as the host names it: /var/lib/dockharden/generations/NNNN (whatever the root)."""
    return f"/var/lib/dockharden/generations/{directory.name}"


# --- managed.json -------------------------------------------------------------------------------------

def read_managed_state(root: str) -> dict[str, Any]:
    """What earlier applies recorded about the keys dockharden manages ({} before the first)."""
    state = read_file(root, MANAGED_STATE)
    if not state.exists:
        return {}
    doc, problem = parse_state(state.content or b"", "managed.schema.json")
    if problem:
        raise StateError(f"dockharden's record of your own daemon.json values is damaged: {problem}",
                         hint=managed_hint(root), path=MANAGED_STATE)
    return doc


def managed_hint(root: str) -> str:
    """What to do with a damaged managed.json: remove it, or roll back to a generation that kept a copy."""
    from dockharden.execute.generations import list_generations

    keeping = [g.id for g in list_generations(root)
               if not g.damaged and any(e["path"] == MANAGED_STATE for e in g.record["files"])]
    remove = ("remove it: dockharden then takes daemon.json as it is now for your own (a key that a layer you "
              "drop later had set then stays as it is)")
    if not keeping:
        return remove
    return (f"{remove}; or `dockharden rollback --to N`, N one of {', '.join(keeping)}: each of these generations "
            "changed it and gives back the copy from before it, with the files it belongs to")


def created_files(root: str, managed: dict[str, Any]) -> dict[str, str]:
    """The whole files dockharden created (path -> target): managed.json's record, or, on a host last
    applied by a version that kept none, every path a sound generation record shows it created."""
    if isinstance(managed.get("created"), dict):
        return dict(managed["created"])
    from dockharden.execute.generations import generation_dirs, generations_dir
    from dockharden.core.ownership import LEGACY

    found: dict[str, str] = {}
    for directory in generation_dirs(generations_dir(root)):
        record, problem = record_problem(directory)
        if not problem and record.get("kind", "apply") == "apply":  # a damaged record proves nothing
            found.update({e["path"]: LEGACY for e in record["files"] if e.get("existed") is False})
    return found
