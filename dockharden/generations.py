"""The on-disk history of applies under /var/lib/dockharden: one numbered generation per apply.

Touches the machine. A generation is recorded (previous bytes, mode, owner and hash of every file it
will replace) before the first write, so the files as they were can always be given back.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dockharden import fsops
from dockharden.host import under
from dockharden.model import HostFile

STATE_DIR = "/var/lib/dockharden"
FORMAT = 1


@dataclass(frozen=True)
class Generation:
    id: str
    directory: Path
    record: dict[str, Any]


def generations_dir(root: str) -> Path:
    return under(root, STATE_DIR) / "generations"


def list_generations(root: str) -> list[Generation]:
    """Every recorded generation, oldest first."""
    base = generations_dir(root)
    if not base.is_dir():
        return []
    found = []
    for directory in sorted(p for p in base.iterdir() if p.name.isdigit()):
        record = directory / "record.json"
        if record.is_file():
            found.append(Generation(directory.name, directory, json.loads(record.read_text())))
    return found


def sha256(content: bytes | None) -> str | None:
    return hashlib.sha256(content).hexdigest() if content is not None else None


def start_generation(root: str, now: datetime, selection: dict, files: list[HostFile],
                     plan_summary: dict) -> Generation:
    """Back up `files` as they are now and record a pending generation (before anything is written)."""
    base = generations_dir(root)
    fsops.make_private_dir(under(root, STATE_DIR))
    fsops.make_private_dir(base)
    gen_id = _next_id(base)
    directory = base / gen_id
    fsops.make_private_dir(directory)
    fsops.make_private_dir(directory / "files")
    entries = [_backup(root, directory, index, f) for index, f in enumerate(files)]
    record = {"format": FORMAT, "id": gen_id, "time": now.isoformat(timespec="seconds"), "state": "pending",
              "selection": selection, "files": entries, "plan": plan_summary}
    write_record(directory, record)
    return Generation(gen_id, directory, record)


def _next_id(base: Path) -> str:
    numbers = [int(p.name) for p in base.iterdir() if p.name.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


def _backup(root: str, directory: Path, index: int, old: HostFile) -> dict[str, Any]:
    entry = {"path": old.path, "existed": old.exists, "mode": old.mode, "uid": old.uid, "gid": old.gid,
             "sha256": sha256(old.content), "backup": None}
    if old.exists:
        name = f"files/{index:03d}"
        fsops.copy_preserving(fsops.resolve_inside(root, old.path), directory / name, old.mode or 0o600)
        entry["backup"] = name
    return entry


def write_record(directory: Path, record: dict[str, Any]) -> None:
    """Replace record.json atomically (it is the journal the next run trusts)."""
    data = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()
    tmp = directory / ".record.json.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, directory / "record.json")
    fsops.fsync_dir(directory)


def set_state(generation: Generation, state: str, **extra: Any) -> Generation:
    record = dict(generation.record, state=state, **extra)
    write_record(generation.directory, record)
    return Generation(generation.id, generation.directory, record)


def restore_files(root: str, generation: Generation) -> list[str]:
    """Put every file of `generation` back as it was before it (bytes, mode, owner, or absence)."""
    restored = []
    for entry in generation.record["files"]:
        if entry["existed"]:
            data = (generation.directory / entry["backup"]).read_bytes()
            fsops.atomic_write(root, entry["path"], data, entry["mode"], entry["uid"] or 0, entry["gid"] or 0)
        else:
            fsops.remove(root, entry["path"])
        restored.append(entry["path"])
    return restored
