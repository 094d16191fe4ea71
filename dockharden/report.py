"""Render plans and run results for humans and as versioned JSON documents.

Pure: returns strings and documents. It reads nothing (no file, no environment, no host: what it shows
comes in as values, from api), and imports no module that could (tests/unit/test_architecture.py).
The CLI prints what it returns.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any

from dockharden.model import Action, Change, Plan, RunOutcome, Settings

if TYPE_CHECKING:  # a plan does not import the apply engine
    from dockharden.execute.apply import RunResult

FORMAT_VERSION = 1


def plan_document(plan: Plan, root: str) -> dict[str, Any]:
    """The plan as a versioned JSON-able document."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": "dockharden.plan",
        "root": root,
        "engine_version": plan.engine_version,
        "selection": {"profiles": list(plan.selection.profiles), "layers": list(plan.selection.layers),
                      "from": plan.selection.source,
                      "profiles_from": plan.selection.profiles_from or plan.selection.source,
                      "layers_from": plan.selection.layers_from or plan.selection.source},
        "has_changes": plan.has_changes,
        "summary": summary_document(plan),
        "changes": [_change_document(c) for c in plan.changes],
        "unchanged": list(plan.unchanged),
        "unchanged_reasons": {path: plan.why_unchanged.get(path, "") for path in plan.unchanged},
        "services": [_service_document(s) for s in plan.services],
        "services_left": [dict(_service_document(s), left_because=s.left_because) for s in plan.left],
        "notes": [{"level": n.level, "message": n.message} for n in plan.notes],
        "kept": kept_document(plan.settings),
        "store_switch": plan.store_switch._asdict() if plan.store_switch else None,
        "published_ports_closed": closure_document(plan.port_closure),
        "host_actions": [a._asdict() for a in plan.host_actions],
    }


def kept_document(settings: Settings) -> list[dict[str, Any]]:
    """The layers' daemon.json keys the plan leaves to the operator: a default where the operator has a value
    (or a key it belongs with), or a built-in profile's enforced key that cannot work with their choice."""
    return [{"key": ".".join(path), "operator_had": entry["had"], "operator_value": entry["value"],
             "layer": entry["layer"], "strength": "enforces" if entry.get("enforced") else "defaults",
             "because": entry["because"] or "the operator's daemon.json has its own value"}
            for path, entry in sorted(settings.kept.items())]


def closure_document(closure) -> dict[str, Any] | None:
    """The published ports the plan closes to outside sources (None: it closes none)."""
    if closure is None:
        return None
    return {"ports": [_closed_port_document(p) for p in closure.ports], "keep_open": closure.keep_open,
            "layer": closure.layer, "accepted_by": closure.accepted_by, "takes_effect": closure.takes_effect,
            "table": closure.table}


def _closed_port_document(closed) -> dict[str, Any]:
    return {"container": closed.container, **_port_document(closed.port), "open_to": list(closed.open_to)}


def _port_document(port) -> dict[str, Any]:
    return {"host_ip": port.host_ip, "host_port": port.host_port, "container_port": port.container_port,
            "proto": port.proto}


def _service_document(action) -> dict[str, Any]:
    return {"service": action.service, "action": action.action, "reason": action.reason, "effect": action.effect,
            "containers_stop": list(action.stops), "containers_keep": list(action.keeps), "steps": list(action.steps),
            "pending_until_no_container_runs": list(action.pending)}


def summary_document(plan: Plan) -> dict[str, Any]:
    """The counts a summary line states, and the line."""
    counts = {kind: sum(c.action == kind for c in plan.changes) for kind in Action}
    return {**counts, "unchanged": len(plan.unchanged), "text": summary_line(plan)}


def summary_line(plan: Plan) -> str:
    """`3 to create, 2 to update, 0 to delete; docker restart (containers keep running: live-restore)`."""
    counts = [f"{sum(c.action == kind for c in plan.changes)} to {kind}" for kind in Action]
    acts = [s.effect if s.left_because else f"{s.service} {s.action}" + (f" ({s.effect})" if s.effect else "")
            for s in plan.needed]
    return ", ".join(counts) + ("; " + ", ".join(dict.fromkeys(acts)) if acts else "")


def _change_document(change: Change) -> dict[str, Any]:
    doc: dict[str, Any] = {"path": change.path, "target": change.target, "action": change.action,
                           "mode": _octal(change.new.mode)}
    if change.mode_change:
        doc["mode_change"] = {"old": _octal(change.mode_change[0]), "new": _octal(change.mode_change[1])}
    if change.owner_change:
        doc["owner_change"] = {"old": list(change.owner_change[0]), "new": list(change.owner_change[1])}
    if change.old.symlink_target:
        doc["symlink"] = {"target": change.old.symlink_target, "writes": change.old.real_path}
    if change.key_changes:
        doc["keys"] = [_key_document(k) for k in change.key_changes]
    doc["diff"] = change.diff
    return doc


def _key_document(key) -> dict[str, Any]:
    doc = {"kind": key.kind, "key": key.path, "old": key.old, "new": key.new, "layer": key.layer,
           "strength": key.strength or None}
    elements = _elements(key)
    if elements:
        doc["elements"] = [{"kind": kind, "at": where, "old": before, "new": after}
                           for kind, where, before, after in elements]
    return doc


def _octal(mode: int | None) -> str | None:
    return None if mode is None else f"{mode:04o}"


def _plain(kind: str, text: str) -> str:
    return text


def render_plan(plan: Plan, root: str, *, full_diff: bool = False, paint=None, run: str = "dockharden apply") -> str:
    """The plan for a terminal: per file what changes, then services and notes. `paint(kind, text)`
    colours additions, changes and removals (terminal.paint; by default nothing is coloured); `run` is
    the command that makes these changes (a rollback's plan names the rollback)."""
    paint = paint or _plain
    from dockharden.core.selection import describe_selection

    head = (f"dockharden plan: {describe_selection(plan.selection)}; engine {plan.engine_version or 'unknown'}; "
            f"root {root}")
    lines = [head, ""]
    for change in plan.changes:
        lines += _render_change(change, full_diff, paint)
    lines += [f"  unchanged  {path}" + (f"  ({plan.why_unchanged[path]})" if path in plan.why_unchanged else "")
              for path in plan.unchanged]
    lines += ["", paint("heading", "Services:")] + _render_services(plan)
    if plan.host_actions:
        from dockharden.core.forward_policy import describe

        lines += ["", paint("heading", "Host actions:")]
        lines += [f"  {describe(a)}: {a.reason}" for a in plan.host_actions]
    if plan.port_closure:
        lines += ["", paint("heading", "Published ports closed to outside sources:")]
        lines += render_closure(plan.port_closure, rollback=plan.selection.source == "rollback")
    if plan.notes:
        lines += ["", "Notes:"] + [f"  [{n.level}] {n.message}" for n in plan.notes]
    lines += ["", paint("heading", f"Plan: {summary_line(plan)}.") + (f" Run `{run}` to make these changes."
                                                                     if plan.has_changes else " Nothing to do.")]
    return "\n".join(lines) + "\n"


def render_closure(closure, *, rollback: bool = False) -> list[str]:
    """Each published port the plan closes, and the two ways on: keep it open, or close it on purpose."""
    lines = []
    for closed in closure.ports:
        still = f"; still open to {', '.join(closed.open_to)} (allow_sources)" if closed.open_to else ""
        lines.append(f"  {closed.port.host_port}/{closed.port.proto}  {closed.container} ({closed.port}): new "
                     f"connections from outside are dropped{still}")
    from dockharden.core.published_ports import firewall_of, keep_open_advice

    firewall = firewall_of(closure)
    lines.append(f"  to keep them open: {keep_open_advice(closure)}")
    if not closure.takes_effect:
        lines.append(f"  apply does not load {firewall.name} now: it closes them {firewall.loads}")
    elif rollback:
        lines.append(f"  the rollback restores {firewall.name} as it was before, which closes them (it asks; with "
                     "--yes it goes ahead: a rollback is never refused for this)")
    elif closure.accepted_by:
        lines.append(f"  closed on purpose: `close_published_ports = true` in the layer {closure.accepted_by}")
    else:
        lines.append("  apply asks; without a question (--yes, apply FILE) it refuses unless given "
                     f"--close-published-ports or `close_published_ports = true` in a layer's [{closure.table}] table")
    return lines


def closing_question(plan: Plan) -> str:
    """What the confirmation adds when the plan closes published ports ('' when it closes none now)."""
    closure = plan.port_closure
    if closure is None or not closure.takes_effect:
        return ""
    ports = ", ".join(f"{p.port.host_port}/{p.port.proto} ({p.container})" for p in closure.ports)
    return f" This closes published port(s) {ports} to outside sources."


def saved_plan_document(status) -> dict[str, Any]:
    """`show FILE --json` (`status`: api.SavedPlanStatus): the plan as `plan --json` shows it, and what it
    was saved with (never the new files' bytes)."""
    saved, wrong, changed = status.saved, status.wrong, status.changed
    doc = saved.document
    return dict(doc["plan"], saved={
        "file": saved.path, "created": doc["created"], "dockharden_version": doc["dockharden_version"],
        "target": doc["target"], "made_with": doc["made_with"], "inputs": doc["inputs"],
        "restart": doc["execution"]["restart"], "checksum": doc["checksum"],
        "host_now": {"applicable": not wrong and not changed, "wrong_target": wrong, "changed": changed,
                     "layers_changed": list(status.layers_changed)}})


def render_saved_plan(status, *, paint=None) -> str:
    """`show FILE` (`status`: api.SavedPlanStatus): where and from what the plan was made, whether
    `apply FILE` would go ahead, the plan."""
    saved, wrong, changed = status.saved, status.wrong, status.changed
    doc, made = saved.document, saved.document["made_with"]
    target, daemon = doc["target"], doc["inputs"]["daemon"]
    on = f" on host {target['hostname']}" if target["hostname"] else ""
    lines = [f"Saved plan {saved.path}: made {doc['created']} by dockharden {doc['dockharden_version']} for root "
             f"{target['root']}{on}",
             f"  from: profiles {', '.join(made['profiles']) or '-'}"
             + (f", layers {', '.join(made['layers'])}" if made["layers"] else "")
             + f"; engine {daemon['engine_version'] or 'unknown'}"
             + (f"; dockerd pid {daemon['pid']}" if daemon["pid"] else "; dockerd not running")
             + ("; --no-restart" if made["no_restart"] else "")
             + ("; --adopt-ufw-docker" if made.get("adopt_ufw_docker") else "")]
    # apply takes a saved plan for the root it was made for only: the command said names that root
    again = apply_saved_command(saved.path, target["root"])
    if wrong or changed:
        lines.append("  the host now: apply would REFUSE it: " + "; ".join(wrong or changed))
    else:
        lines.append(f"  the host now: matches the plan; `{again}` would apply it")
    lines += [f"  note: layer file {what} since (the plan keeps what it was made from)"
              for what in status.layers_changed]
    return "\n".join(lines) + "\n\n" + render_plan(saved.plan, target["root"], paint=paint,
                                                   run=again)


def said_command(*args: str) -> str:
    """A dockharden command as the operator would type it (each word quoted as a shell needs): said, never run."""
    return shlex.join(["dockharden", *args])


def apply_saved_command(path: str, root: str) -> str:
    """The command that applies a saved plan: apply takes one for the root it was made for only, so the
    command names that root."""
    return said_command("apply", path, *(["--root", root] if root != "/" else []))


def saved_plan_line(plan: Plan, path: str, root: str) -> str:
    """What `plan --out FILE` says once the plan is saved."""
    keys = any(c.new.secret for c in plan.changes)
    return (f"saved the plan to {path} (mode 0600: it holds the new files' bytes"
            + (", private keys included" if keys else "") + f"); `{apply_saved_command(path, root)}` applies "
            "exactly this plan, and refuses if the host changes meanwhile")


def _render_services(plan: Plan) -> list[str]:
    """What apply does to each service, then what the changes would need that apply leaves, and why."""
    lines, said = [], set()
    for action in plan.needed:
        if not action.left_because:
            lines.append(f"  {action.service} {action.action}: {action.reason}")
            if len(action.steps) > 1:
                lines.append(f"    in this order: {'; then '.join(action.steps)}")
        elif action.left_because not in said:  # one line per reason
            said.add(action.left_because)
            alike = ", ".join(f"{s.service} {s.action}" for s in plan.left if s.left_because == action.left_because)
            lines.append(f"  {alike} not done: {action.left_because}")
    return lines or ["  none"]


def _render_change(change: Change, full_diff: bool, paint=_plain) -> list[str]:
    lines = [f"  {paint(change.action, f'{change.action:<9}')}  {change.path}"
             + (f"  (mode {_octal(change.new.mode)})" if change.action == Action.CREATE else "")]
    if change.old.symlink_target:
        lines.append(f"      {change.path} is a symlink ({change.old.symlink_target}): the file written is "
                     f"{change.old.real_path}")
    if change.mode_change and change.action != Action.CREATE:
        lines.append(f"      mode {_octal(change.mode_change[0]) or '-'} -> {_octal(change.mode_change[1])}")
    if change.owner_change and change.action != Action.CREATE:
        (ou, og), (nu, ng) = change.owner_change
        was = "-" if ou is None else f"{ou}:{og}"
        lines.append(f"      owner {was} -> {nu}:{ng}")
    for key in change.key_changes:
        elements = _elements(key)
        lines.append("      " + paint(key.kind, _render_key(key, bool(elements))))
        lines += ["          " + paint(kind, _render_element(kind, where, before, after))
                  for kind, where, before, after in elements]
    if change.key_changes:
        return lines
    if change.new.secret:
        return lines + ["      private key: content not shown"]
    if change.action == Action.CREATE and not full_diff:
        count = len((change.new.content or b"").splitlines())
        return lines + [f"      new file, {count} lines (--diff shows them)"]
    return lines + ["      " + _paint_diff_line(line, paint) for line in change.diff.splitlines()]


def _paint_diff_line(line: str, paint) -> str:
    if line.startswith(("+++", "---")):
        return paint("heading", line)
    return paint(line[:1], line) if line[:1] in "+-@" else line


def _elements(key) -> list[tuple[str, str, Any, Any]]:
    """A changed list or map, element by element (deepdiff, imported only here, only then)."""
    from dockharden.core.plan import is_container_change

    if key.kind != "changed" or not is_container_change(key.old, key.new):
        return []
    from dockharden.core.element_diff import element_changes

    return element_changes(key.old, key.new)


def _render_element(kind: str, where: str, before: Any, after: Any) -> str:
    if kind == "added":
        return f"+ {where} = {json.dumps(after)}"
    if kind == "removed":
        return f"- {where} (was {json.dumps(before)})"
    return f"~ {where}: {json.dumps(before)} -> {json.dumps(after)}"


def _render_key(key, by_element: bool = False) -> str:
    if key.strength == "kept":
        who = (f"  kept: operator's value, {key.layer} only defaults this key" if key.kind != "removed" else
               f"  {key.layer} only defaults this key, and the operator's choice excludes it (see the notes)")
        key = key._replace(layer="")  # said above: a removal here is not the layer's unset
    else:
        who = f"  <- {key.layer}" + (" (defaults)" if key.strength == "defaults" else "") if key.layer else ""
    if by_element:
        return f"~ {key.path}:{who}"
    if key.kind == "added":
        return f"+ {key.path} = {json.dumps(key.new)}{who}"
    if key.kind == "removed":
        return f"- {key.path} (was {json.dumps(key.old)}){'  unset by ' + key.layer if key.layer else who}"
    return f"~ {key.path}: {json.dumps(key.old)} -> {json.dumps(key.new)}{who}"


def render_provenance(settings: Settings) -> str:
    """Every merged key with the layer that set it (what `show` prints)."""
    lines = []
    for (table, path), layer in sorted(settings.provenance.items()):
        value = _lookup(settings.tables.get(table, {}), path)
        if not isinstance(value, dict):
            strength = f" ({settings.strength(table, path)})" if table == "daemon" else ""
            lines.append(f"{table}.{'.'.join(path)} = {json.dumps(value)}  <- {layer}{strength}")
    for (table, path), layer in sorted(settings.removed.items()):
        lines.append(f"{table}.{'.'.join(path)} removed  <- {layer}")
    return "\n".join(lines) + "\n"


def provenance_document(settings: Settings) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, "kind": "dockharden.settings", "layers": list(settings.layers),
            "tables": settings.tables,
            "provenance": {f"{t}.{'.'.join(p)}": layer for (t, p), layer in sorted(settings.provenance.items())},
            "removed": {f"{t}.{'.'.join(p)}": layer for (t, p), layer in sorted(settings.removed.items())},
            "strength": {f"{t}.{'.'.join(p)}": settings.strength(t, p) for (t, p) in sorted(settings.provenance)
                         if t == "daemon" and not isinstance(_lookup(settings.tables.get(t, {}), p), dict)}}


def _lookup(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def result_document(result: RunResult, recovered: list[str] = ()) -> dict[str, Any]:
    import signal

    return {"format_version": FORMAT_VERSION, "kind": "dockharden.apply", "result": result.result,
            "generation": result.generation, "written": list(result.written),
            "services": list(result.services), "messages": list(result.messages), "recovered": list(recovered),
            "interrupted_by": signal.Signals(result.interrupted).name if result.interrupted else None,
            "workload": aftermath_document(result.aftermath)}


def aftermath_document(aftermath) -> dict[str, Any] | None:
    """What the run did to the running workload (None: not measured)."""
    if aftermath is None:
        return None
    return {"containers_stopped": [{"name": c.name, "id": c.id, "restart_policy": c.restart_policy}
                                   for c in aftermath.stopped],
            "ports_stopped_answering": [{"container": name, **_port_document(port)} for name, port in aftermath.silent],
            "ports_closed_to_outside": [_closed_port_document(p) for p in aftermath.closed]}


def _binding(port) -> str:
    """The address and port a connect was tried on: `0.0.0.0:8080`, `[::]:8080`."""
    address = port.host_ip or "0.0.0.0"
    return f"[{address}]:{port.host_port}" if ":" in address else f"{address}:{port.host_port}"


def render_aftermath(aftermath) -> list[str]:
    """The workload after the run: what stopped and did not come back, what stopped answering, what was closed."""
    if aftermath is None:
        return []
    lines = [f"  STOPPED and not running again: container {c.name} ("
             + (f"restart policy {c.restart_policy}" if c.restart_policy not in ("", "no") else "no restart policy")
             + f": start it with `docker start {c.name}`)" for c in aftermath.stopped]
    lines += [f"  STOPPED ANSWERING on the host: {port.host_port}/{port.proto} of {name} ({_binding(port)}, "
              f"published as {port})" for name, port in aftermath.silent]
    lines += [f"  closed to outside sources, as planned: {p.port.host_port}/{p.port.proto} of {p.container} "
              "(the host's own connections do not pass the DOCKER-USER block, so this was not measured here)"
              for p in aftermath.closed]
    if not lines:
        lines.append("  running containers: every one still runs, and every published port that answered on "
                     "the host still does")
    return lines


def _service_detail(done: dict) -> str:
    """How a docker restart went: its steps and the containers it kept or stopped."""
    said = [", ".join(done["containers"])] if done.get("containers") else []
    if len(done.get("steps") or ()) > 1:
        said.append("; then ".join(done["steps"]))
    if done.get("containers_kept"):
        said.append("kept running: " + ", ".join(done["containers_kept"]))
    if done.get("containers_stopped"):
        said.append("stopped: " + ", ".join(done["containers_stopped"]))
    return f" ({'; '.join(said)})" if said else ""


def render_result(result: RunResult) -> str:
    if result.result == RunOutcome.UNCHANGED:
        return "Nothing to do: the host already matches the plan.\n"
    lines = [f"{result.result}: generation {result.generation}" if result.generation else result.result]
    lines += [f"  wrote {path}" for path in result.written]
    lines += [f"  {s['service']}: {s['action']}" + _service_detail(s) for s in result.services]
    lines += [f"  {m}" for m in result.messages]
    lines += render_aftermath(result.aftermath)
    return "\n".join(lines) + "\n"


# history --json printed a bare list of generations before it was versioned (call that 1); 2 is the object
HISTORY_FORMAT_VERSION = 2


def history_document(history) -> dict[str, Any]:
    """`history --json` (`history`: api.History): the generations as given (newest first), in a versioned
    document."""
    return {"format_version": HISTORY_FORMAT_VERSION, "kind": "dockharden.history",
            "generations": history_entries(history)}


def history_entries(history) -> list[dict[str, Any]]:
    """The generations as given (`history`: api.History). `undone_by` is the rollback that took an apply
    out of force (as api replayed it from the records); a damaged generation says why instead."""
    return [_damaged_document(g) if g.damaged else _generation_document(g, history.undone_by.get(g.id))
            for g in history.generations]


def _generation_document(g, undone_by: str | None) -> dict[str, Any]:
    record = g.record
    return {"id": g.id, "time": record["time"], "kind": record["kind"], "result": record["state"],
            "profiles": record["selection"]["profiles"], "layers": record["selection"]["layers"],
            "target": record.get("target"), "undone_by": undone_by,
            "files": [c["path"] for c in record["plan"]["changes"]]}


def _damaged_document(g) -> dict[str, Any]:
    return {"id": g.id, "time": None, "kind": None, "result": "damaged", "profiles": [], "layers": [],
            "target": None, "undone_by": None, "files": [], "damaged": g.damaged}


def render_history(history) -> str:
    """`history` (`history`: api.History): a line per generation, newest first."""
    if not history.generations:
        return "No generations yet.\n"
    lines = [f"{'id':<6}{'time':<27}{'kind':<10}{'result':<26}{'files':<7}layers"]
    docs = history_entries(history)
    for doc in docs:
        if doc["result"] == "damaged":
            lines.append(f"{doc['id']:<6}{'?':<27}{'?':<10}{'DAMAGED':<26}{'?':<7}record.json: {doc['damaged']}")
            continue
        layers = ",".join(doc["profiles"] + doc["layers"]) or (f"to {doc['target']}" if doc["target"] else "-")
        result = f"{doc['result']}, undone by {doc['undone_by']}" if doc["undone_by"] else doc["result"]
        lines.append(f"{doc['id']:<6}{doc['time']:<27}{doc['kind']:<10}{result:<26}{len(doc['files']):<7}{layers}")
    if any(doc["result"] == "damaged" for doc in docs):
        lines += ["", "A generation whose record is damaged cannot be rolled back to or past; the others can."]
    return "\n".join(lines) + "\n"


def error_document(command: str | None, status: int, kind: str, message: str, *, hint: str = "", path: str = "",
                   key: str = "", signal: str | None = None) -> dict[str, Any]:
    """A failure as a versioned document: what `--json` prints on standard output instead of a result.
    `kind` is the error's class (LayerError, ...), `usage`, `interrupted`, `declined` or `system`."""
    error = {"type": kind, "message": message, "hint": hint, "path": path, "key": key}
    if signal:
        error["signal"] = signal
    return {"format_version": FORMAT_VERSION, "kind": "dockharden.error", "command": command,
            "exit_status": status, "error": error}


VERIFY_LABELS = {"in_force": "ok", "drift": "DRIFT", "pending": "pending", "not_verifiable": "not_verifiable"}


def drift_document(rows, notes=()) -> dict[str, Any]:
    """verify as a document (format 2: inspect/verify_report.py, which the scheduled run writes too)."""
    from dockharden.inspect.verify_report import document

    return document(rows, notes)


def render_drift(rows, notes=()) -> str:
    from dockharden.inspect.verify_report import summarize, summary_line

    lines = [f"{VERIFY_LABELS[r.status]:<15} {r.check:<36} {r.detail}" for r in rows]
    lines.append(summary_line(summarize(rows)))
    if notes:
        lines += ["", "Notes:"] + [f"  [{n.level}] {n.message}" for n in notes]
    return "\n".join(lines) + "\n"


def interrupted_line(result: RunResult) -> str:
    """What a run stopped by a signal says: the signal, the generation, whether it was undone, and how."""
    undone = "rolled back" if result.result == RunOutcome.ROLLED_BACK else "could NOT be rolled back"
    return f"{result.messages[0]}: generation {result.generation} {undone}; " + "; ".join(result.messages[1:])


def render_profiles(profiles: list[tuple[str, str]]) -> str:
    """`profiles`: a built-in layer a line, with its description."""
    return "".join(f"{name:<10} {description}\n" for name, description in profiles)


def render_units(units: dict[str, str]) -> str:
    """`schedule install --show`: each unit file, headed by its path."""
    return "".join(f"# {path}\n{text}\n" for path, text in units.items())


def scheduled_lines(run) -> list[str]:
    """What `schedule run` says (`run`: api.ScheduledRun): each report written, check's notes, the counts."""
    from dockharden.inspect.verify_report import summary_line

    return ([f"wrote {path}" for path in run.written] + list(run.notes)
            + [f"check: {run.failing} failure(s) counted; verify: {summary_line(run.verify_counts)}"])
