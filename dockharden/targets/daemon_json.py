"""Target /etc/docker/daemon.json: the operator's document with the layers merged over it.

Pure. The operator's keys that no layer sets stay, in their order; output is stable (2-space indent,
trailing newline). A document that does not parse is an error, never overwritten. Reading and writing the
bytes is the codec's (dockharden/daemon_json_codec.py); walking key paths is dockharden/keypaths.py's.
"""

from __future__ import annotations

import copy
from typing import Any

from dockharden.daemon_json_codec import check_encodable, parse_daemon_json, serialize
from dockharden.errors import RenderError
from dockharden.keypaths import get_path, leaf_paths, maps_on_the_way, merged_over, remove_path, set_path
from dockharden.model import (
    DAEMON_JSON,
    HostFile,
    HostSnapshot,
    RenderedFile,
    Settings,
    decode_key_path,
    encode_key_path,
)

PATH = DAEMON_JSON
SECCOMP_PATH = "/etc/docker/seccomp/default.json"
MODE = 0o644


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


def restore_unmanaged(existing: dict[str, Any], managed: dict[str, Any], now: set[str]) -> dict[str, Any]:
    """`existing` with the operator's own values back for keys dockharden no longer manages."""
    doc = copy.deepcopy(existing)
    for path_text, original in managed.items():
        if path_text in now:
            continue
        path = decode_key_path(path_text)
        if not maps_on_the_way(doc, path):
            continue  # the operator has put a value where dockharden's key had a map above it: theirs now
        if "wrote" in original and get_path(doc, path) != (True, original["wrote"]):
            continue  # a default dockharden wrote that the operator has changed (or removed) since: theirs now
        remove_path(doc, path)
        if original.get("had"):
            set_path(doc, path, original.get("value"))
    return doc


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
    return [RenderedFile("daemon.json", path=path, content=serialize(doc), mode=kept_mode(current, MODE),
                         uid=uid, gid=gid)]


def kept_mode(current: HostFile, wanted: int) -> int:
    """The operator's mode when it is already stricter than ours, else ours."""
    if current.exists and current.mode is not None and not (current.mode & ~wanted & 0o7777):
        return current.mode & 0o7777
    return wanted
