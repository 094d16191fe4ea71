"""Target /etc/docker/daemon.json: the operator's document with the layers merged over it.

Pure. The operator's keys that no layer sets stay, in their order; output is stable (2-space indent,
trailing newline). A document that does not parse is an error, never overwritten.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from dockharden.errors import HostFileError
from dockharden.merge import merged_over
from dockharden.model import HostFile, HostSnapshot, RenderedFile, Settings

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
    if not isinstance(doc, dict):
        raise HostFileError("the top level must be a JSON object", hint="wrap the settings in { }", path=path)
    return doc


def _decode(content: bytes, path: str) -> str:
    if content.startswith(codecs.BOM_UTF16_LE) or content.startswith(codecs.BOM_UTF16_BE):
        return content.decode("utf-16")
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


def desired_daemon_config(existing: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The operator's document with the layers' daemon table and removals applied."""
    removals = [path for (table, path) in settings.removed if table == "daemon"]
    return merged_over(existing, derived_daemon_table(settings), removals)


def derived_daemon_table(settings: Settings) -> dict[str, Any]:
    """The layers' [daemon] table plus keys other tables imply (a strict seccomp profile)."""
    table = dict(settings.table("daemon"))
    seccomp = settings.table("seccomp")
    if seccomp.get("enabled") and seccomp.get("mode") == "strict":
        table.setdefault("seccomp-profile", SECCOMP_PATH)
    return table


def serialize(doc: dict[str, Any]) -> bytes:
    """Stable bytes: same document, same bytes."""
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def render_daemon_json(settings: Settings, host: HostSnapshot) -> list[RenderedFile]:
    current = host.file(PATH)
    doc = desired_daemon_config(parse_daemon_json(current.content), settings)
    return [RenderedFile("daemon.json", PATH, serialize(doc), mode=kept_mode(current, MODE))]


def kept_mode(current: HostFile, wanted: int) -> int:
    """The operator's mode when it is already stricter than ours, else ours."""
    if current.exists and current.mode is not None and not (current.mode & ~wanted & 0o7777):
        return current.mode & 0o7777
    return wanted
