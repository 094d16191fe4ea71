"""verify's statuses and what is made of them: the four statuses, their counts, the line that says what the
counts allow one to conclude, the versioned JSON document (format 2) and the Prometheus textfile.

Pure: rows in (anything with `check`, `status`, `ok` and `detail`: verify.Row), strings and documents out;
it imports no module that reads the machine, so that report.py and the scheduled run share it.
"""

from __future__ import annotations

import json
from typing import Any

IN_FORCE, DRIFT, PENDING = "in_force", "drift", "pending"
UNVERIFIABLE = "not_verifiable"  # spelled as check's status (inspect/results.py)
STATUSES = (IN_FORCE, PENDING, UNVERIFIABLE, DRIFT)
FORMAT_VERSION = 2


def summarize(rows) -> dict[str, int]:
    """How many rows have each status."""
    return {status: sum(r.status == status for r in rows) for status in STATUSES}


def summary_line(counts: dict[str, int]) -> str:
    """`12 in force, 1 pending, 3 not verifiable, 0 drift: ...`: what the counts allow one to conclude."""
    said = (f"{counts[IN_FORCE]} in force, {counts[PENDING]} pending, {counts[UNVERIFIABLE]} not verifiable, "
            f"{counts[DRIFT]} drift")
    if counts[DRIFT]:
        return f"{said}: {counts[DRIFT]} mismatch(es)."
    waiting = [f"{counts[UNVERIFIABLE]} not verifiable here"] if counts[UNVERIFIABLE] else []
    waiting += [f"{counts[PENDING]} pending"] if counts[PENDING] else []
    if waiting:
        return f"{said}: in force where it can be seen; " + ", ".join(waiting) + "."
    return f"{said}: everything desired is in force."


def document(rows, notes=()) -> dict[str, Any]:
    """verify as a document (format 2): each row's `status`, the `counts`, `drift` (what the exit status
    says) and `ok` (every row in force: false while one is pending or not verifiable)."""
    counts = summarize(rows)
    return {"format_version": FORMAT_VERSION, "kind": "dockharden.verify", "ok": all(r.ok for r in rows),
            "drift": counts[DRIFT] > 0, "counts": counts, "summary": summary_line(counts),
            "checks": [{"check": r.check, "status": r.status, "ok": r.ok, "detail": r.detail} for r in rows],
            "notes": [{"level": n.level, "message": n.message} for n in notes]}


def render_json(rows, notes=()) -> str:
    """The document as the scheduled run writes it (verify.json)."""
    return json.dumps(document(rows, notes), indent=2, allow_nan=False) + "\n"


def render_textfile(rows, unix_time: float) -> str:
    """verify.prom: the mismatches, the rows by status and when verify ran, for node_exporter."""
    counts = summarize(rows)
    return ("# HELP dockharden_verify_mismatches Desired settings not in force at the last verify.\n"
            "# TYPE dockharden_verify_mismatches gauge\n"
            f"dockharden_verify_mismatches {counts[DRIFT]}\n"
            "# HELP dockharden_verify_rows verify's rows by status: in_force, pending, not_verifiable, drift.\n"
            "# TYPE dockharden_verify_rows gauge\n"
            + "".join(f'dockharden_verify_rows{{status="{status}"}} {n}\n' for status, n in counts.items()) +
            "# HELP dockharden_verify_last_run_timestamp_seconds When dockharden verify last ran (Unix time).\n"
            "# TYPE dockharden_verify_last_run_timestamp_seconds gauge\n"
            f"dockharden_verify_last_run_timestamp_seconds {unix_time:.3f}\n")
