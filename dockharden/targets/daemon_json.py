"""Target /etc/docker/daemon.json: the operator's document with the layers merged over it.

Pure. The operator's keys that no layer sets stay, in their order; output is stable (2-space indent,
trailing newline). A document that does not parse is an error, never overwritten.
"""

from __future__ import annotations

import codecs
import copy
import json
from typing import Any

from dockharden.core.merge import get_path, merged_over, remove_path, set_path
from dockharden.errors import HostFileError, RenderError
from dockharden.model import HostFile, HostSnapshot, RenderedFile, Settings, decode_key_path, encode_key_path

PATH = "/etc/docker/daemon.json"
SECCOMP_PATH = "/etc/docker/seccomp/default.json"
MODE = 0o644


def parse_daemon_json(content: bytes | None, path: str = PATH) -> dict[str, Any]:
    """The document as a dict; {} for a missing or empty file. Raises HostFileError otherwise."""
    text = _decode(content or b"", path).strip()
    if not text:
        return {}
    try:
        doc = json.loads(text, object_pairs_hook=lambda pairs: _no_duplicates(pairs, path))
    except json.JSONDecodeError as exc:
        raise HostFileError(f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                            hint="fix the file by hand (dockharden never overwrites a file it cannot "
                                 "read); JSON has no comments or trailing commas", path=path) from None
    except (ValueError, RecursionError) as exc:  # absurd numbers or nesting: not a daemon configuration
        raise HostFileError(f"cannot be read as a daemon configuration ({exc.__class__.__name__}: "
                            f"{str(exc)[:80]}; nested too deeply, or a number too long)",
                            hint="fix the file by hand", path=path) from None
    check_encodable(doc, path)
    if not isinstance(doc, dict):
        raise HostFileError("the top level must be a JSON object", hint="wrap the settings in { }", path=path)
    return doc


# Nesting no real configuration comes near (daemon.json's deepest keys are 5 levels down): a deeper document
# is refused where it is read, before any merge walks it recursively.
MAX_DEPTH = 32


def check_encodable(doc: Any, path: str, error: type = HostFileError) -> None:
    """Refuse, naming the key, what the file dockharden writes could not hold as plain JSON the engine reads:
    a lone surrogate escape (\\ud800: UTF-8 cannot hold it), NaN or an infinite number (`NaN`, `Infinity`,
    or `1e400`, which Python reads as infinity: not JSON at all), a TOML date or time, and nesting deeper
    than MAX_DEPTH. The one gate every layer and every daemon.json passes when it is parsed."""
    found = _not_plain(doc, (), 0)
    if found is not None:
        where, problem, fix = found
        raise error(problem, hint=fix, path=path, key=".".join(where) or "(top level)")


def _not_plain(value: Any, at: tuple, depth: int) -> tuple | None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return at, "holds a lone surrogate escape (\\ud800-\\udfff): not text any program can use", \
                "remove the escape"
        return None
    if isinstance(value, bool | int) or value is None:
        return None
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return at, (f"{value} is not a number JSON can hold (NaN, Infinity, or a number too large such as "
                        "1e400)"), "write a finite number"
        return None
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            return at, f"nested more than {MAX_DEPTH} levels deep: not a configuration", "flatten the value"
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and _not_plain(key, (), 0) is not None:
                return at + (key.encode("utf-8", "backslashreplace").decode(),), \
                    "a key holds a lone surrogate escape (\\ud800-\\udfff): not text any program can use", \
                    "remove the escape"
            found = _not_plain(item, at + (str(key),), depth + 1)
            if found is not None:
                return found
        return None
    kind = type(value).__name__  # tomllib's datetime, date and time
    return at, f"a TOML {kind} value ({value}): daemon.json and layers hold only strings, numbers, true/false, " \
               "arrays and tables", "quote it as a string"


def _decode(content: bytes, path: str) -> str:
    if content.startswith(codecs.BOM_UTF16_LE) or content.startswith(codecs.BOM_UTF16_BE):
        try:
            return content.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise HostFileError(f"starts with a UTF-16 byte order mark but is not UTF-16 (byte {exc.start})",
                                hint="save it as UTF-8", path=path) from None
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HostFileError(f"not UTF-8 text (byte {exc.start})", hint="save it as UTF-8", path=path) from None


def _no_duplicates(pairs: list[tuple[str, Any]], path: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise HostFileError(f"key `{key}` appears twice; the daemon would silently use the last one",
                                hint="keep one of them", path=path, key=key)
        seen[key] = value
    return seen


def desired_daemon_config(existing: dict[str, Any], settings: Settings,
                          managed: dict[str, Any] | None = None) -> dict[str, Any]:
    """The operator's document with the layers' daemon table and removals applied.

    `managed` is what earlier applies recorded: for each key path a layer set or removed, the
    operator's value before dockharden touched it. A key no layer manages any more gets that value
    back (or goes away if the operator never had it), so dropping a profile undoes it.
    """
    doc = restore_unmanaged(existing, managed or {}, managed_paths(settings))
    removals = [path for (table, path) in settings.removed if table == "daemon"]
    return merged_over(doc, settings.table("daemon"), removals)


def managed_paths(settings: Settings) -> set[str]:
    """The daemon.json key paths the layers set or remove now, as managed.json names them ('a/b';
    model.encode_key_path: a key holding '/' is escaped, never split)."""
    leaves = {encode_key_path(p) for p in leaf_paths(settings.table("daemon"))}
    return leaves | {encode_key_path(p) for (table, p) in settings.removed if table == "daemon"}


def leaf_paths(doc: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            paths += leaf_paths(value, prefix + (key,))
        else:
            paths.append(prefix + (key,))
    return paths


def restore_unmanaged(existing: dict[str, Any], managed: dict[str, Any], now: set[str]) -> dict[str, Any]:
    """`existing` with the operator's own values back for keys dockharden no longer manages."""
    doc = copy.deepcopy(existing)
    for path_text, original in managed.items():
        if path_text in now:
            continue
        path = decode_key_path(path_text)
        if not _maps_on_the_way(doc, path):
            continue  # the operator has put a value where dockharden's key had a map above it: theirs now
        if "wrote" in original and get_path(doc, path) != (True, original["wrote"]):
            continue  # a default dockharden wrote that the operator has changed (or removed) since: theirs now
        remove_path(doc, path)
        if original.get("had"):
            set_path(doc, path, original.get("value"))
    return doc


def _maps_on_the_way(doc: dict[str, Any], path: tuple[str, ...]) -> bool:
    """Every key above the last of `path` is a map in `doc`, or absent (set_path can make it)."""
    for key in path[:-1]:
        doc = doc.get(key, {})
        if not isinstance(doc, dict):
            return False
    return True


def managed_record(existing: dict[str, Any], settings: Settings, previous: dict[str, Any]) -> dict[str, Any]:
    """What to remember after this apply: the operator's original value of every managed path."""
    record = {}
    for path_text in sorted(managed_paths(settings)):
        path = decode_key_path(path_text)
        if path_text in previous:
            record[path_text] = previous[path_text]
        else:
            found, value = get_path(existing, path)
            record[path_text] = {"had": found, "value": value} if found else {"had": False}
        entry = {k: v for k, v in record[path_text].items() if k not in ("strength", "wrote")}
        if ("daemon", path) in settings.defaulted:  # written where the operator had nothing: what, to tell edits
            entry.update(strength="defaults", wrote=get_path(settings.table("daemon"), path)[1])
        record[path_text] = entry
    return record


def operator_document(existing: dict[str, Any], managed: dict[str, Any] | None) -> dict[str, Any]:
    """The operator's daemon.json as it would be without dockharden: every value it recorded given back."""
    return restore_unmanaged(existing, managed or {}, set())


def serialize(doc: dict[str, Any]) -> bytes:
    """Stable bytes: same document, same bytes."""
    return (json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n").encode("utf-8")


def desired_on_host(settings: Settings, host: HostSnapshot) -> dict[str, Any]:
    """The daemon.json apply would write on this host: its current file with the layers over it."""
    path = host.daemon_json_path
    existing = parse_daemon_json(host.file(path).content, path)
    return desired_daemon_config(existing, settings, host.managed.get("daemon"))


def render_daemon_json(settings: Settings, host: HostSnapshot) -> list[RenderedFile]:
    path = host.daemon_json_path
    current = host.file(path)
    doc = desired_on_host(settings, host)
    # every part was checked where it was read; a value given back from managed.json is checked here too
    check_encodable(doc, path, RenderError)
    uid, gid = (current.uid or 0, current.gid or 0) if path != PATH and current.exists else host.daemon_json_owner
    return [RenderedFile("daemon.json", path, serialize(doc), mode=kept_mode(current, MODE), uid=uid, gid=gid)]


def kept_mode(current: HostFile, wanted: int) -> int:
    """The operator's mode when it is already stricter than ours, else ours."""
    if current.exists and current.mode is not None and not (current.mode & ~wanted & 0o7777):
        return current.mode & 0o7777
    return wanted
