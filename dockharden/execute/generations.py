"""The on-disk history of applies under /var/lib/dockharden: one numbered generation per apply.

Touches the machine. A generation is recorded (previous bytes, mode, owner and hash of every file it
will replace) before the first write, so the files as they were can always be given back.
"""

from __future__ import annotations

import errno
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from dockharden.errors import ApplyError, HostFileError, from_os_error
from dockharden.host.fs import HostFS, copy_preserving, fsync_dir, open_own, write_all
from dockharden.host.state import (  # noqa: F401 (read side)
    GENERATIONS,
    RECORD,
    STATE_DIR,
    UNFINISHED,
    Generation,
    backup_bytes,
    damaged_record_error,
    find_generation,
    generation_dirs,
    generations_dir,
    is_number,
    link_swapped_in,
    list_generations,
    record_path,
    record_problem,
    reread,
    sha256,
    unfinished,
)
from dockharden.model import HostFile, Journal

FORMAT = 1


def start_generation(root: str, now: datetime, selection: dict, files: list[HostFile],
                     plan_summary: dict, kind: str = "apply", **extra: Any) -> Generation:
    """Back up `files` as they are now and record a pending generation (before anything is written)."""
    fs = HostFS(root)
    fs.make_private_dir(STATE_DIR)
    base = fs.make_private_dir(GENERATIONS)
    gen_id = _next_id(base)
    directory = base / gen_id
    try:
        fs.make_private_dir(f"{GENERATIONS}/{gen_id}")
        fs.make_private_dir(f"{GENERATIONS}/{gen_id}/files")
        entries = [_backup(root, directory, index, f) for index, f in enumerate(files)]
        record = {"format": FORMAT, "id": gen_id, "kind": kind, "time": now.isoformat(timespec="seconds"),
                  "state": Journal.PENDING, "selection": selection, "files": entries, "plan": plan_summary, **extra}
        write_record(directory, record)
        _reserve(directory, reserve_size(files, record))
    except (OSError, HostFileError) as exc:
        import shutil

        shutil.rmtree(directory, ignore_errors=True)  # nothing was written yet: leave no half record
        if isinstance(exc, HostFileError):  # a symlink where its own file goes: refused, naming the host path
            raise
        raise from_os_error(exc, "could not back up the files before writing", error=ApplyError,
                            path=f"{STATE_DIR}/generations/{gen_id}", then="nothing was changed") from None
    return Generation(gen_id, directory, record)


RESERVE = "reserve"
BLOCK = 4096


def reserve_size(files: list[HostFile], record: dict[str, Any]) -> int:
    """Room for a rollback on a full disk: a temporary copy of every file to restore (a file that did not
    exist is only deleted), and the journal written twice over (a new record sits next to the old one
    until it replaces it, and gains the error text), in whole blocks."""
    def blocks(size: int) -> int:
        return max(1, -(-size // BLOCK)) * BLOCK

    journal = len(json.dumps(record, indent=2, allow_nan=False, sort_keys=True)) + BLOCK
    return sum(blocks(len(f.content or b"")) for f in files if f.exists) + 2 * blocks(journal)


def _reserve(directory: Path, size: int) -> None:
    """Hold `size` bytes of the disk the journal is on, given back when the generation ends or rolls back."""
    fd = open_own(directory / RESERVE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600,
                  shown=f"{GENERATIONS}/{directory.name}/{RESERVE}")
    try:
        os.fchmod(fd, 0o600)  # every file dockharden makes has its mode whatever the umask
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            _write_zeros(fd, size)  # a filesystem without fallocate
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_zeros(fd: int, size: int) -> None:
    block = bytes(65536)
    while size > 0:
        size -= os.write(fd, block[:min(size, len(block))])


def release_reserve(generation: Generation) -> None:
    """Give back the space held for this generation's rollback."""
    try:
        (generation.directory / RESERVE).unlink()
    except FileNotFoundError:
        pass


def _next_id(base: Path) -> str:
    numbers = [int(p.name) for p in base.iterdir() if is_number(p.name)]  # a damaged one keeps its number too
    return f"{max(numbers, default=0) + 1:04d}"


def _backup(root: str, directory: Path, index: int, old: HostFile) -> dict[str, Any]:
    entry = {"path": old.path, "existed": old.exists, "mode": old.mode, "uid": old.uid, "gid": old.gid,
             "sha256": sha256(old.content), "backup": None, "symlink": old.symlink_target}
    if old.exists:
        name = f"files/{index:03d}"
        copy_preserving(HostFS(root).real(old.path), directory / name, old.mode or 0o600, shown=old.path)
        entry["backup"] = name
    return entry


def write_record(directory: Path, record: dict[str, Any]) -> None:
    """Replace record.json atomically (it is the journal the next run trusts)."""
    data = (json.dumps(record, indent=2, allow_nan=False, sort_keys=True) + "\n").encode()
    tmp = directory / ".record.json.tmp"
    try:
        fd = open_own(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600,
                      shown=f"{GENERATIONS}/{directory.name}/{tmp.name}")
        try:
            os.fchmod(fd, 0o600)
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, directory / "record.json")
    except OSError as exc:
        tmp.unlink(missing_ok=True)  # the journal stays the old record, whole; no half-written copy is left
        exc.filename, exc.filename2 = f"{GENERATIONS}/{directory.name}/record.json", None  # its host path
        raise
    fsync_dir(directory)


def set_state(generation: Generation, state: str, **extra: Any) -> Generation:
    """Journal a new state (and facts) on top of what the record on disk says now."""
    record = dict(reread(generation).record, state=state, **extra)
    write_record(generation.directory, record)
    return Generation(generation.id, generation.directory, record)


def note_facts(generation: Generation, **facts: Any) -> None:
    """Journal facts a step found before it acts (a chain's policy before apply sets it), state unchanged."""
    write_record(generation.directory, dict(reread(generation).record, **facts))


def note_service_started(generation: Generation, service: str) -> None:
    """Journal that `service` is about to act: a rollback then knows to undo it."""
    current = reread(generation).record
    write_record(generation.directory, dict(current, services_started=current.get("services_started", []) + [service]))


def restore_files(root: str, generation: Generation) -> list[str]:
    """Put every file of `generation` back as it was before it (bytes, mode, owner, or absence).

    A file already as it was is left alone; leftover temporary files of an interrupted write go.
    """
    fs, restored = HostFS(root), []
    entries = generation.record["files"]
    backups = [backup_bytes(generation, entry) for entry in entries]  # every backup checked before any write
    for entry, data in zip(entries, backups, strict=True):
        fs.remove_temporaries(entry["path"])
        current = fs.read(entry["path"])
        follow = not link_swapped_in(entry, current)
        if follow and current.content == data and (data is None or (current.mode, current.uid, current.gid) ==
                                                   (entry["mode"], entry["uid"], entry["gid"])):
            continue
        if data is None:
            fs.remove(entry["path"])
        else:  # a symlink that replaced the file since is replaced itself, never written through
            fs.write(entry["path"], data, entry["mode"], entry["uid"] or 0, entry["gid"] or 0,
                     through_link=follow)
        restored.append(entry["path"])
    return restored


