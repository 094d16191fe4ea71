"""daemon.json as bytes and back: the one reading of the document (UTF-8 or UTF-16, no duplicate key, no
value JSON cannot hold) and the one writing of it (stable bytes, NaN refused).

A leaf: imports nothing of dockharden but `model` and `errors`, so that core (layers, plans), targets (the
daemon.json renderer) and the stages that read a host all use the same codec. `check_encodable` is also
the gate every layer passes when it is loaded (core/layers.py). Pure.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from dockharden.errors import HostFileError
from dockharden.model import DAEMON_JSON


def parse_daemon_json(content: bytes | None, path: str = DAEMON_JSON) -> dict[str, Any]:
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


def serialize(doc: dict[str, Any]) -> bytes:
    """Stable bytes: same document, same bytes."""
    return (json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n").encode("utf-8")
