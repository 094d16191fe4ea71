"""dockharden's own state, read and checked: the generations (their records, backups and which applies
are in force) and managed.json. Writing them is execute/generations.py's.

Reads /var/lib/dockharden only. dockharden writes these files atomically, so one that is not JSON, not
the shape of its schema (record.schema.json, managed.schema.json) or not consistent with its directory
was cut short or edited by hand. It is never trusted: a damaged record marks its generation damaged (the
others stay usable), a damaged managed.json stops plan and apply with one paragraph saying what to do.
"""


import json
import os
import re
from pathlib import Path
from typing import Any, NamedTuple

from dockharden.errors import HostFileError, StateError
from dockharden.host.fs import HostFS, read_own
from dockharden.model import MANAGED_STATE, STATE_DIR, UNFINISHED, HostFile, Journal, Note, decode_key_path

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
        data = read_own(directory / RECORD, shown=f"{_shown(directory)}/{RECORD}")
    except IsADirectoryError:
        return {}, "record.json is not a file"
    except OSError as exc:  # ELOOP: a symlink, which dockharden never writes
        return {}, f"record.json cannot be read ({exc.strerror or exc})"
    except HostFileError as exc:
        return {}, f"record.json {exc.message}"
    doc, problem = parse_state(data, "record.schema.json")
    if not problem and doc["id"] != directory.name:
        problem = f"it says it is generation {doc['id']}, but it is in directory {directory.name}"
    problem = problem or record_logic_problem(doc)
    return (doc, "") if not problem else ({}, problem)


MAX_ID = 2**32 - 2  # a uid or gid the kernel accepts (-1, 4294967295, means "unchanged" to chown)
BACKUP_NAME = re.compile(r"files/[0-9]{3,6}")


def is_number(name: str) -> bool:
    """A generation's name: ASCII digits only (str.isdigit takes '０００１' and '²', int() then reads them)."""
    return name.isascii() and name.isdigit()


def id_problem(value: Any, what: str, *, mode: bool = False) -> str:
    """'' when `value` is a whole number dockharden can hand to chmod or chown (or None), else the problem."""
    if value is None:
        return ""
    top = 0o7777 if mode else MAX_ID
    if type(value) is not int or not 0 <= value <= top:  # a float 420.0 passes the schema's "integer"
        return f"{what} {value!r} is not a whole number from 0 to {top:o}" if mode else \
            f"{what} {value!r} is not a whole number from 0 to {top}"
    return ""


def record_logic_problem(doc: dict[str, Any]) -> str:
    """What the schema cannot say: every file once, modes and owners usable, backups named as written."""
    seen: set[str] = set()
    for index, entry in enumerate(doc["files"]):
        where = f"at files.{index}"
        if entry["path"] in seen:
            return f"{where}: {entry['path']} is listed twice"
        seen.add(entry["path"])
        for key in ("uid", "gid", "mode"):
            problem = id_problem(entry[key], key, mode=key == "mode")
            if problem:
                return f"{where}: {problem}"
        if entry["backup"] is not None and not BACKUP_NAME.fullmatch(entry["backup"]):
            return f"{where}: backup {entry['backup']!r} is not a name dockharden writes"
        if not entry["path"].isprintable() or "\0" in entry["path"]:
            return f"{where}: path {entry['path']!r} is not a printable path"
    plan = doc.get("plan") if isinstance(doc.get("plan"), dict) else {}
    for index, change in enumerate(plan.get("changes") or []):
        path = change.get("path") if isinstance(change, dict) else None
        if path not in seen:  # every file a run changes is backed up first: the parts name the same paths
            return f"at plan.changes.{index}: {path!r} is changed but not among the files backed up"
    return ""


def damaged_record_error(gen_id: str, directory: Path, problem: str, why: str, hint: str) -> StateError:
    return StateError(f"generation {gen_id}'s record is damaged: {problem}; {why}", hint=hint,
                      path=f"{_shown(directory)}/{RECORD}")


def _shown(directory: Path) -> str:
    """The directory as the host names it: /var/lib/dockharden/generations/NNNN (whatever the root)."""
    return f"/var/lib/dockharden/generations/{directory.name}"


# --- managed.json -------------------------------------------------------------------------------------

def read_managed_state(root: str) -> dict[str, Any]:
    """What earlier applies recorded about the keys dockharden manages ({} before the first)."""
    state = HostFS(root).read(MANAGED_STATE)
    if not state.exists:
        return {}
    doc, problem = parse_state(state.content or b"", "managed.schema.json")
    problem = problem or managed_logic_problem(doc)
    if problem:
        raise StateError(f"dockharden's record of your own daemon.json values is damaged: {problem}",
                         hint=managed_hint(root), path=MANAGED_STATE)
    return doc


def managed_logic_problem(doc: dict[str, Any]) -> str:
    """What the schema cannot say about managed.json: no recorded key path lies inside another one's value
    (`log-opts` and `log-opts/max-size` both recorded: which value is the operator's is unknowable)."""
    from dockharden.core.schema import depth_inside_a_value

    paths = {decode_key_path(text): text for text in doc["daemon"]}
    for path, text in paths.items():
        depth = depth_inside_a_value(path, records=False)
        if depth is not None:
            return (f"daemon key `{text}` goes inside `{'.'.join(path[:depth])}`, which is one value in daemon.json "
                    "(a key path deeper than its value)")
        for depth in range(1, len(path)):
            if path[:depth] in paths:
                return (f"daemon key `{text}` lies inside the value recorded for `{paths[path[:depth]]}` (a key "
                        "path deeper than its value)")
    return ""


def managed_hint(root: str) -> str:
    """What to do with a damaged managed.json: remove it, or roll back to a generation that kept a copy."""

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
    from dockharden.core.ownership import LEGACY

    found: dict[str, str] = {}
    for directory in generation_dirs(generations_dir(root)):
        record, problem = record_problem(directory)
        if not problem and record.get("kind", "apply") == "apply":  # a damaged record proves nothing
            found.update({e["path"]: LEGACY for e in record["files"] if e.get("existed") is False})
    return found




class Generation(NamedTuple):
    """One generation. `damaged` says why its record cannot be trusted ('' when it can); a damaged
    generation's `record` is empty."""

    id: str
    directory: Path
    record: dict[str, Any]
    damaged: str = ""


GENERATIONS = STATE_DIR + "/generations"


def generations_dir(root: str) -> Path:
    """The real directory of the generations, found inside the root like every host path."""
    return HostFS(root).real(GENERATIONS)


def generation_dirs(base: Path) -> list[Path]:
    """The numbered directories under `base`, in order; a symlink or a file there is not a generation."""
    try:
        entries = list(base.iterdir()) if base.is_dir() else []
    except OSError:
        return []
    return sorted((p for p in entries if is_number(p.name) and p.is_dir() and not p.is_symlink()),
                  key=lambda p: int(p.name))


def list_generations(root: str) -> list[Generation]:
    """Every recorded generation, oldest first."""
    found = []
    for directory in generation_dirs(generations_dir(root)):
        if os.path.lexists(directory / RECORD):  # a symlink there is a damaged record, not no record
            record, problem = record_problem(directory)
            found.append(Generation(directory.name, directory, record, problem))
    return found


def sha256(content: bytes | None) -> str | None:
    import hashlib  # only apply records hashes; a plan does not pay for the import

    return hashlib.sha256(content).hexdigest() if content is not None else None


def record_path(generation: Generation) -> Path:
    return generation.directory / "record.json"


def reread(generation: Generation) -> Generation:
    """`generation` as its journal on disk says now."""
    record, problem = record_problem(generation.directory)
    if problem:
        raise damaged_record_error(generation.id, generation.directory, problem,
                                   "it changed under this run, which cannot go on from it",
                                   "see `dockharden history`; its backups are in its files/ directory")
    return Generation(generation.id, generation.directory, record)


def backup_bytes(generation: Generation, entry: dict[str, Any]) -> bytes | None:
    """The bytes a file had before `generation` (None: it did not exist), checked against the SHA-256 the
    record took of them: a backup that is missing or was changed is never restored."""
    if not entry["existed"]:
        return None
    where = f"/var/lib/dockharden/generations/{generation.id}/{entry['backup']}"
    try:
        data = read_own(generation.directory / entry["backup"], within=generation.directory)
    except FileNotFoundError:
        raise StateError(f"the backup of {entry['path']} is missing", path=where,
                         hint="it cannot be restored from this generation; `dockharden history` lists the others") \
            from None
    except (OSError, HostFileError) as exc:  # ELOOP, ENOTDIR: a symlink on the way, which dockharden never makes
        why = exc.message if isinstance(exc, HostFileError) else (exc.strerror or str(exc))
        raise StateError(f"the backup of {entry['path']} cannot be read as dockharden wrote it ({why}; a "
                         "symlink in the generation's directory is never followed)", path=where,
                         hint="it cannot be restored from this generation; put back the generation's files/ "
                              "directory, or see `dockharden history` for the others") from None
    if sha256(data) != entry["sha256"]:
        raise StateError(f"the backup of {entry['path']} does not match the SHA-256 its record took of it "
                         "(cut short or edited since)", path=where,
                         hint="it cannot be restored from this generation; `dockharden history` lists the others")
    return data


def link_swapped_in(entry: dict[str, Any], current: HostFile) -> bool:
    """A symlink stands at the path of a recorded file where the record saw no link (or another one): put
    there since, by someone else, so a restore must not follow it. A record from before links were
    recorded (no `symlink` field) trusts the link, as that version did."""
    return "symlink" in entry and current.symlink_target is not None and current.symlink_target != entry["symlink"]


def find_generation(root: str, gen_id: str, gens: list[Generation] | None = None) -> Generation:
    """The generation numbered `gen_id` ('3' or '0003'); a damaged one is refused."""
    from dockharden.errors import DockhardenError

    if not is_number(gen_id):
        raise DockhardenError(f"`{gen_id}` is not a generation number", key="--to",
                              hint="give a number `dockharden history` lists, such as 3 or 0003")
    for generation in list_generations(root) if gens is None else gens:
        if int(generation.id) == int(gen_id):
            if generation.damaged:
                raise damaged_record_error(generation.id, generation.directory, generation.damaged,
                                           "the files as they were before it are unknown",
                                           "roll back to another generation (`dockharden history` lists them), "
                                           "or put back its record.json")
            return generation
    raise DockhardenError(f"no generation `{gen_id}`", hint="`dockharden history` lists them",
                          path=STATE_DIR + "/generations")




def unfinished(root: str) -> list[Generation]:
    """Generations a killed run left half done (the journal says where it stopped)."""
    return [g for g in list_generations(root) if not g.damaged and g.record["state"] in UNFINISHED]


def in_force(gens: list[Generation]) -> tuple[list[Generation], dict[str, str]]:
    """The applies whose changes are in force now, oldest first, and for each apply no longer in force the
    rollback that took it out.

    History is replayed: an applied generation that changed files is pushed; a rollback to before
    generation T sets the list back to what it was just before T (so rolling back a rollback brings back
    what it undid). Failed, rolled-back, interrupted and damaged generations changed nothing that stayed.
    """
    stack: list[Generation] = []
    before: dict[str, list[Generation]] = {}
    undone: dict[str, str] = {}
    for generation in gens:
        before[generation.id] = list(stack)
        if generation.damaged or generation.record["state"] != Journal.APPLIED:
            continue
        if generation.record["kind"] == "rollback":
            kept = before.get(generation.record["target"], stack)
            kept_ids = {g.id for g in kept}
            undone.update({g.id: generation.id for g in stack if g.id not in kept_ids})
            stack = list(kept)
        elif generation.record["files"]:
            stack.append(generation)
        for g in stack:
            undone.pop(g.id, None)
    return stack, undone


def interrupted_notes(root: str) -> list[Note]:
    """What plan says about runs that were cut off, and about damaged records (it changes nothing itself)."""
    gens = list_generations(root)
    notes = [Note("warning", f"generation {g.id} was interrupted while {g.record['state']}; the next apply or "
                             "rollback restores its files first") for g in gens
             if not g.damaged and g.record["state"] in UNFINISHED]
    return notes + [Note("warning", f"generation {g.id}'s record is damaged ({g.damaged}): `history` marks it, and "
                                    "no rollback goes to or past it") for g in gens if g.damaged]
