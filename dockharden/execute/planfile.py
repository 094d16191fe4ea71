"""A saved plan: the file `plan --out` writes, `show FILE` renders and `apply FILE` executes.

Touches the machine: writes and reads that one file (never under the root). The file holds the plan as
`plan --json` shows it, the new bytes of every file it writes (private keys included: it is written 0600
and read only when no one else can change it), what it was computed from (hostmatch.py), and a checksum
over all of it, so a file that was cut short or edited is refused instead of applied. The format is
described by schema/savedplan.schema.json.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockharden.errors import DockhardenError, from_os_error
from dockharden.host.fs import remove_quietly, write_all
from dockharden.model import (
    Change,
    ClosedPort,
    HostAction,
    HostFile,
    KeyChange,
    Note,
    Plan,
    PortClosure,
    PublishedPort,
    RenderedFile,
    Selection,
    ServiceAction,
    Settings,
    StoreSwitch,
)

FORMAT_VERSION = 1
KIND = "dockharden.saved-plan"
LIMIT = 64 << 20  # plans are KiB; a wrong path (an image, /dev/zero) is not read whole
REMAKE = "make a new plan with `dockharden plan --out FILE`, review it, and apply that"


class PlanFileError(DockhardenError):
    """A saved plan that cannot be used: unsafe, damaged, edited, or made for another host or version."""


@dataclass(frozen=True)
class SavedPlan:
    """A plan file as read: its document (checked) and the Plan it describes."""

    path: str
    document: dict[str, Any]
    plan: Plan

    @property
    def restart(self) -> bool:
        return self.document["execution"]["restart"]

    @property
    def root(self) -> str:
        return self.document["target"]["root"]


def saved_document(plan: Plan, plan_doc: dict[str, Any], *, target: dict[str, Any], made_with: dict[str, Any],
                   inputs: dict[str, Any], restart: bool, created: str, version: str) -> dict[str, Any]:
    """The whole saved plan, checksum included."""
    doc = {"format_version": FORMAT_VERSION, "kind": KIND, "dockharden_version": version, "created": created,
           "target": target, "made_with": made_with, "inputs": inputs, "plan": plan_doc,
           "execution": {"restart": restart, "engine_version": plan.engine_version,
                         "daemon_json_path": plan.daemon_json_path, "docker_socket": plan.docker_socket,
                         "rootless_user": plan.rootless_user, "start_flags": list(plan.start_flags)},
           "files": [_payload(c.new) for c in plan.changes]}
    return dict(doc, checksum=checksum(doc))


def _payload(new: RenderedFile) -> dict[str, Any]:
    content = None if new.content is None else base64.b64encode(new.content).decode()
    return {"path": new.path, "target": new.target, "content_base64": content, "mode": new.mode, "uid": new.uid,
            "gid": new.gid, "secret": new.secret}


def checksum(doc: dict[str, Any]) -> str:
    """sha256 over the document without its checksum, in a canonical form (key order and spacing free)."""
    body = {k: v for k, v in doc.items() if k != "checksum"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


# --- writing --------------------------------------------------------------------------------------------

def write_plan_file(path: str, doc: dict[str, Any]) -> None:
    """Write the plan 0600, atomically (a reader sees the old file or the new one), never through a symlink."""
    target = Path(os.path.abspath(path))
    _refuse_shared_directory(target.parent, path)
    if target.exists() and not target.is_symlink() and not target.is_file():
        raise PlanFileError("exists and is not a regular file", hint="give --out the path of a file", path=path)
    tmp = target.parent / f".{target.name}.dockharden-{os.getpid()}"
    data = (json.dumps(doc, indent=2, allow_nan=False) + "\n").encode()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask: the file holds private keys
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        remove_quietly(tmp)
        raise from_os_error(exc, "could not write the plan", path=path, error=PlanFileError) from None


# --- reading --------------------------------------------------------------------------------------------

def read_plan_file(path: str) -> SavedPlan:
    """The saved plan at `path`, refused in one paragraph when anyone else could have changed it, when it
    is not a saved plan, or when it is damaged or edited (its checksum)."""
    doc = _parse(path, _read_private(path))
    if doc.get("kind") != KIND:
        raise PlanFileError(f"not a saved plan (its kind is {doc.get('kind')!r})",
                            hint=f"give the file `dockharden plan --out` wrote; {REMAKE}", path=path)
    if doc.get("format_version") != FORMAT_VERSION:
        raise PlanFileError(f"a saved plan of format_version {doc.get('format_version')!r}; this dockharden reads "
                            f"format_version {FORMAT_VERSION}", hint=f"{REMAKE} (with this dockharden)", path=path)
    if doc.get("checksum") != checksum(doc):
        raise PlanFileError("the plan was changed after it was made, or damaged (its checksum does not match its "
                            "content); dockharden applies a plan only exactly as it was made and reviewed",
                            hint=REMAKE, path=path)
    problem = _shape_problem(doc) or logic_problem(doc)
    if problem:
        raise PlanFileError(f"not a valid saved plan: {problem}", hint=REMAKE, path=path)
    try:
        the_plan = plan_from_document(doc)
    except (KeyError, TypeError, ValueError, IndexError) as exc:  # a part the checks above did not foresee
        raise PlanFileError(f"not a valid saved plan: its parts do not fit together ({exc.__class__.__name__}: "
                            f"{str(exc)[:80]})", hint=REMAKE, path=path) from None
    return SavedPlan(path, doc, the_plan)


def logic_problem(doc: dict[str, Any]) -> str:
    """What the schema cannot say of a saved plan: each change has its file (same path, same target, once),
    the bytes are base64, modes and owners are whole numbers chmod and chown take."""
    import binascii

    from dockharden.host.state import id_problem

    payload: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(doc["files"]):
        where = f"at files.{index}"
        if entry["path"] in payload:
            return f"{where}: {entry['path']} is listed twice"
        payload[entry["path"]] = entry
        for key in ("uid", "gid", "mode"):
            problem = id_problem(entry[key], key, mode=key == "mode")
            if problem:
                return f"{where}: {problem}"
        if entry["content_base64"] is not None:
            try:
                base64.b64decode(entry["content_base64"], validate=True)
            except (binascii.Error, ValueError):
                return f"{where}: content_base64 of {entry['path']} is not base64"
    changes = doc["plan"]["changes"]
    for index, change in enumerate(changes):
        where = f"at plan.changes.{index}"
        found = payload.get(change["path"])
        if found is None:
            return f"{where}: {change['path']} has no entry in files (the two parts name different paths)"
        if found["target"] != change["target"]:
            return f"{where}: {change['path']} is `{change['target']}` here but `{found['target']}` in files"
    if len(payload) != len(changes):
        extra = sorted(set(payload) - {c["path"] for c in changes})
        return f"files holds {', '.join(extra) or 'a path'} that no change in plan.changes names"
    return ""


def _read_private(path: str) -> bytes:
    """The bytes of a regular file that only its owner (root, or whoever runs dockharden) can change."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise PlanFileError("not found", hint="apply FILE and show FILE take a plan saved by "
                                              "`dockharden plan --out FILE`; layers are chosen with --profile and "
                                              "--layer", path=path) from None
    except OSError as exc:
        raise from_os_error(exc, "cannot open the plan", path=path, error=PlanFileError) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PlanFileError("not a regular file", hint="give the file `dockharden plan --out` wrote", path=path)
        _refuse_writable_by_others(info, path)
        _refuse_shared_directory(Path(os.path.realpath(path)).parent, path)
        if info.st_size > LIMIT:
            raise PlanFileError(f"{info.st_size} bytes: far larger than any plan", hint=REMAKE, path=path)
        chunks, size = [], 0
        while size <= LIMIT:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise from_os_error(exc, "cannot read the plan", path=path, error=PlanFileError) from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _refuse_writable_by_others(info: os.stat_result, path: str) -> None:
    if info.st_uid not in (0, os.geteuid()):
        raise PlanFileError(f"it belongs to uid {info.st_uid}: a plan says what dockharden writes as root, so "
                            "only a plan owned by root (or by you) is used", hint=REMAKE, path=path)
    if info.st_mode & 0o022:
        raise PlanFileError(f"others can write to it (mode {stat.S_IMODE(info.st_mode):04o}): a plan says what "
                            "dockharden writes as root, so it is used only when no one else can change it",
                            hint=f"check that it is the plan you made, then chmod 600 it (plan --out writes it "
                                 f"0600); or {REMAKE}", path=path)


def _refuse_shared_directory(directory: Path, path: str) -> None:
    """A directory others can write to (without the sticky bit, as /tmp has) lets them swap the file."""
    try:
        info = directory.stat()
    except OSError as exc:
        raise from_os_error(exc, "cannot use the plan's directory", path=str(directory),
                            error=PlanFileError) from None
    sticky = info.st_mode & stat.S_ISVTX
    if not sticky and (info.st_mode & 0o022 or info.st_uid not in (0, os.geteuid())):
        raise PlanFileError(f"its directory {directory} can be changed by others (mode "
                            f"{stat.S_IMODE(info.st_mode):04o}, uid {info.st_uid}), who could swap the plan",
                            hint="keep plans in a directory only you (or root) can write, such as /root or "
                                 "/var/lib/dockharden", path=path)


def _parse(path: str, data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PlanFileError(f"not a dockharden plan: not UTF-8 text (byte {exc.start}); it may be damaged", hint=REMAKE,
                            path=path) from None
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"not a dockharden plan: not JSON (line {exc.lineno} column {exc.colno}: {exc.msg}); "
                            "it may be cut short or damaged", hint=REMAKE, path=path) from None
    except (ValueError, RecursionError) as exc:
        raise PlanFileError(f"not a dockharden plan: not JSON ({exc.__class__.__name__})", hint=REMAKE,
                            path=path) from None
    if not isinstance(doc, dict):
        raise PlanFileError("not a dockharden plan: not a JSON object", hint=REMAKE, path=path)
    return doc


def _shape_problem(doc: dict[str, Any]) -> str:
    import jsonschema  # only here: a saved plan is read once per apply

    from dockharden.core.schema import load_schema

    validator = jsonschema.Draft202012Validator(load_schema("savedplan.schema.json"))
    errors = list(validator.iter_errors(doc))
    if not errors:
        return ""
    error = min(errors, key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    where = ".".join(str(p) for p in error.absolute_path) or "the top level"
    return f"at {where}: {error.message[:160]}"


# --- the Plan it describes ------------------------------------------------------------------------------

EMPTY_SETTINGS = Settings(tables={}, provenance={}, removed={}, layers=())


def plan_from_document(doc: dict[str, Any]) -> Plan:
    """The Plan a checked document describes. Each change's `old` says only what the file was (its hash is
    in the inputs); apply_saved reads the files again once the host is known to match."""
    pdoc, run = doc["plan"], doc["execution"]
    payload = {f["path"]: f for f in doc["files"]}
    files = doc["inputs"]["files"]
    changes = tuple(_change(c, payload[c["path"]], files.get(c["path"], {})) for c in pdoc["changes"])
    selection = pdoc["selection"]
    return Plan(selection=Selection(tuple(selection["profiles"]), layers=tuple(selection["layers"]),
                                    source=selection["from"]),
                settings=EMPTY_SETTINGS, engine_version=run["engine_version"], changes=changes,
                unchanged=tuple(pdoc["unchanged"]), why_unchanged=dict(pdoc.get("unchanged_reasons", {})),
                services=tuple(_service(s) for s in pdoc["services"]),
                notes=tuple(Note(n["level"], n["message"]) for n in pdoc["notes"]),
                rendered=tuple(c.new for c in changes), daemon_json_path=run["daemon_json_path"],
                docker_socket=run["docker_socket"], rootless_user=run["rootless_user"],
                start_flags=tuple(run["start_flags"]), left=tuple(_service(s) for s in pdoc["services_left"]),
                daemon_pid=doc["inputs"]["daemon"]["pid"], store_switch=_store_switch(pdoc.get("store_switch")),
                port_closure=_closure(pdoc.get("published_ports_closed")),
                host_actions=tuple(HostAction(**{k: v for k, v in a.items() if k in HostAction._fields})
                                   for a in pdoc.get("host_actions") or ()))


def _store_switch(sdoc: dict[str, Any] | None) -> StoreSwitch | None:
    if not sdoc:
        return None
    return StoreSwitch(**{k: tuple(v) if isinstance(v, list) else v for k, v in sdoc.items()
                          if k in StoreSwitch._fields})


def _closure(cdoc: dict[str, Any] | None) -> PortClosure | None:
    """The published ports the plan closed when it was made (apply FILE measures them again)."""
    if not cdoc:
        return None
    ports = tuple(ClosedPort(p["container"], PublishedPort(p["host_ip"], p["host_port"], p["container_port"],
                                                           p["proto"]), tuple(p["open_to"])) for p in cdoc["ports"])
    return PortClosure(ports, keep_open=cdoc["keep_open"], layer=cdoc["layer"], accepted_by=cdoc["accepted_by"],
                       takes_effect=cdoc["takes_effect"], table=cdoc.get("table", "ufw"))


def _change(cdoc: dict[str, Any], payload: dict[str, Any], was: dict[str, Any]) -> Change:
    content = payload["content_base64"]
    new = RenderedFile(payload["target"], path=payload["path"],
                       content=None if content is None else base64.b64decode(content, validate=True),
                       mode=payload["mode"], uid=payload["uid"], gid=payload["gid"], secret=payload["secret"])
    old = HostFile(cdoc["path"], exists=was.get("sha256") is not None, content=None, mode=was.get("mode"),
                   uid=was.get("uid"), gid=was.get("gid"))
    mode = cdoc.get("mode_change")
    owner = cdoc.get("owner_change")
    return Change(cdoc["target"], path=cdoc["path"], action=cdoc["action"], old=old, new=new, diff=cdoc["diff"],
                  key_changes=tuple(KeyChange(k["kind"], path=k["key"], old=k["old"], new=k["new"], layer=k["layer"])
                                    for k in cdoc.get("keys", [])),
                  mode_change=(_mode(mode["old"]), _mode(mode["new"])) if mode else None,
                  owner_change=(tuple(owner["old"]), tuple(owner["new"])) if owner else None)


def _mode(text: str | None) -> int | None:
    return None if text is None else int(text, 8)


def _service(sdoc: dict[str, Any]) -> ServiceAction:
    return ServiceAction(sdoc["service"], action=sdoc["action"], reason=sdoc["reason"], effect=sdoc.get("effect", ""),
                         stops=tuple(sdoc.get("containers_stop", [])), left_because=sdoc.get("left_because", ""),
                         steps=tuple(sdoc.get("steps", [])), keeps=tuple(sdoc.get("containers_keep", [])),
                         pending=tuple(sdoc.get("pending_until_no_container_runs", [])))
