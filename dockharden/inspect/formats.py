"""`dockharden check` results for people, CI and audits: text, versioned JSON, SARIF 2.1.0, JUnit XML,
and a Prometheus textfile for node_exporter's textfile collector. Pure: each returns a string.

What every format counts as a failure is what the exit status counts (cis.ControlResult.counted).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from dockharden import __version__
from dockharden.inspect.cis import EXCEPTED, FAIL, INFO, NA, PASS, STATUSES, UNVERIFIABLE, ControlResult

FORMATS = ("text", "json", "sarif", "junit")
# 2: `scored` replaced by `level`, `assessment` and `counted`; `key`, `exception`, `benchmark_version`,
# `level`, `time` and the `excepted` and `not_verifiable` counts added (docs/check.md lists the changes).
CHECK_FORMAT_VERSION = 2
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


@dataclass(frozen=True, kw_only=True)
class Run:
    """What was checked, and when: the frame every format puts the results in."""

    benchmark: str          # "CIS Docker Benchmark v1.8.0"
    version: str            # "1.8"
    level: int
    time: str               # ISO 8601, UTC
    host: str = ""
    exceptions_file: str = ""


def summary(results: list[ControlResult]) -> dict[str, int]:
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    return {**counts, "counted_failures": sum(r.counted for r in results)}


# ------------------------------------------------------------------------------------------ JSON
def check_document(results: list[ControlResult], run: Run, probe: dict | None = None) -> dict[str, Any]:
    doc = {"format_version": CHECK_FORMAT_VERSION, "kind": "dockharden.check", "benchmark": run.benchmark,
           "benchmark_version": run.version, "level": run.level, "time": run.time, "host": run.host,
           "exceptions_file": run.exceptions_file,
           "controls": [{"id": r.id, "key": r.key, "title": r.title, "level": r.level, "assessment": r.assessment,
                         "status": r.status, "counted": r.counted, "evidence": r.evidence, "fix": r.fix,
                         "exception": r.exception} for r in results],
           "summary": summary(results)}
    if probe is not None:
        doc["probe"] = probe
    return doc


def render_json(results: list[ControlResult], run: Run, probe: dict | None = None) -> str:
    return json.dumps(check_document(results, run, probe), indent=2, allow_nan=False) + "\n"


# ------------------------------------------------------------------------------------------ text
def render_text(results: list[ControlResult], run: Run, probe: dict | None = None) -> str:
    width = max((len(r.title) for r in results), default=5)
    lines = [f"{run.benchmark}, Level {run.level} profile" + (f"; exceptions from {run.exceptions_file}"
                                                               if run.exceptions_file else ""), "",
             f"{'id':<7}{'status':<15}{'lvl':<5}{'A/M':<4}{'title':<{width + 2}}evidence"]
    for r in results:
        lines.append(f"{r.id:<7}{r.status:<15}{r.level:<5}{r.assessment[0]:<4}{r.title:<{width + 2}}{r.evidence}")
        if r.exception:
            e = r.exception
            lines.append(f"{'':<31}exception ({e['state']}, expires {e['expires']}, owner {e['owner']}): {e['reason']}")
        if r.fix:
            lines.append(f"{'':<31}fix: {r.fix}")
    if probe is not None:
        from dockharden.inspect.probe import describe

        lines += ["", "Probe container:"] + [f"  {line}" for line in describe(probe)]
    counts = summary(results)
    fails = [r.id for r in results if r.counted]
    lines += ["", ", ".join(f"{counts[s]} {s}" for s in STATUSES),
              f"{len(fails)} failure(s) counted" + (f": {', '.join(fails)}" if fails else ".")]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ SARIF
SARIF_KIND = {PASS: "pass", FAIL: "fail", EXCEPTED: "fail", INFO: "review", NA: "notApplicable",
              UNVERIFIABLE: "open"}


def sarif_document(results: list[ControlResult], run: Run) -> dict[str, Any]:
    """SARIF 2.1.0: one rule per control (id = its stable key), one result per control. A counted failure
    is level "error"; an excepted one keeps kind "fail" with an accepted external suppression."""
    rules = [{"id": r.key, "name": _pascal(r.key),
              "shortDescription": {"text": f"{r.id} {r.title}"},
              "fullDescription": {"text": f"{run.benchmark} {r.id}: {r.title} (Level {r.level}, {r.assessment})"},
              "properties": {"cis_id": r.id, "benchmark": run.benchmark, "level": r.level,
                             "assessment": r.assessment, "tags": ["cis", "docker", f"level-{r.level}"]}}
             for r in results]
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "dockharden", "version": __version__,
                            "rules": rules}},
        "automationDetails": {"id": f"dockharden/check/cis-{run.version}/level-{run.level}/"},
        "invocations": [{"executionSuccessful": True, "endTimeUtc": run.time,
                         **({"machine": run.host} if run.host else {})}],
        "results": [_sarif_result(index, r) for index, r in enumerate(results)]}]}


def _sarif_result(index: int, r: ControlResult) -> dict[str, Any]:
    text = r.evidence + (f". Fix: {r.fix}" if r.fix else "")
    result: dict[str, Any] = {"ruleId": r.key, "ruleIndex": index, "kind": SARIF_KIND[r.status],
                              "level": "error" if r.counted else "none", "message": {"text": text or r.status},
                              "properties": {"cis_id": r.id, "status": r.status}}
    if r.exception:
        result["properties"]["exception"] = r.exception
        if r.status == EXCEPTED:
            result["suppressions"] = [{"kind": "external", "status": "accepted",
                                       "justification": f"{r.exception['reason']} (owner {r.exception['owner']}, "
                                                        f"expires {r.exception['expires']})"}]
    return result


def _pascal(key: str) -> str:
    return "".join(part.capitalize() for part in key.replace(".", "-").split("-"))


def render_sarif(results: list[ControlResult], run: Run, probe: dict | None = None) -> str:
    return json.dumps(sarif_document(results, run), indent=2, allow_nan=False) + "\n"


# ------------------------------------------------------------------------------------------ JUnit
def render_junit(results: list[ControlResult], run: Run, probe: dict | None = None) -> str:
    """JUnit XML: one testcase per control. A counted failure is a <failure>; excepted, not applicable,
    not verifiable and info (a person judges) are <skipped> with the reason; a pass has its evidence."""
    counts = summary(results)
    skipped = len(results) - counts[PASS] - counts["counted_failures"]
    suites = ET.Element("testsuites", name="dockharden check", tests=str(len(results)),
                        failures=str(counts["counted_failures"]), errors="0", skipped=str(skipped),
                        time="0", timestamp=run.time)
    suite = ET.SubElement(suites, "testsuite", name=f"{run.benchmark} Level {run.level}", tests=str(len(results)),
                          failures=str(counts["counted_failures"]), errors="0", skipped=str(skipped), time="0",
                          timestamp=run.time, hostname=run.host or "localhost")
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"cis-{run.version}.section-{r.id.split('.')[0]}",
                             name=f"{r.id} {r.title}", time="0")
        if r.counted:
            failure = ET.SubElement(case, "failure", message=r.evidence, type="fail")
            failure.text = f"{r.evidence}\nfix: {r.fix}" if r.fix else r.evidence
        elif r.status != PASS:
            reason = f"{r.status}: {r.evidence}"
            if r.exception and r.status == EXCEPTED:
                e = r.exception
                reason = f"excepted until {e['expires']} ({e['reason']}; owner {e['owner']}): {r.evidence}"
            ET.SubElement(case, "skipped", message=reason)
        else:
            ET.SubElement(case, "system-out").text = r.evidence
    for element in suites.iter():  # one place for every attribute and text: any evidence, reason or host name
        element.text = _xml_text(element.text)
        element.attrib = {name: _xml_text(value) for name, value in element.attrib.items()}
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


# what XML 1.0 cannot hold at all, even as a character reference: C0 controls but tab, newline and carriage
# return, lone surrogates, U+FFFE and U+FFFF. ElementTree writes them as they are, and the report is then not
# XML: each is written as a visible escape instead (\x1b, \ud800)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str | None) -> str | None:
    if text is None:
        return None
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                        text)


# ------------------------------------------------------------------------------------------ Prometheus
METRIC = "dockharden_cis_control_failing"


def render_textfile(results: list[ControlResult], run: Run, unix_time: float) -> str:
    """node_exporter textfile: one gauge per control (1 when it is a counted failure, else 0; its status
    as a label), the controls of each status (not_verifiable apart from pass), the number of counted
    failures and the time of the run."""
    frame = f'benchmark="{_label(run.benchmark)}",level="{run.level}"'
    counts = summary(results)
    lines = [f"# HELP {METRIC} 1 when the CIS control fails and counts toward check's exit status, else 0.",
             f"# TYPE {METRIC} gauge"]
    for r in results:
        labels = ",".join(f'{k}="{_label(v)}"' for k, v in (
            ("id", r.id), ("key", r.key), ("title", r.title), ("level", r.level), ("assessment", r.assessment),
            ("status", r.status), ("benchmark", run.benchmark)))
        lines.append(f"{METRIC}{{{labels}}} {int(r.counted)}")
    lines += ["# HELP dockharden_check_failing_controls CIS controls that fail and count, in the last run.",
              "# TYPE dockharden_check_failing_controls gauge",
              f"dockharden_check_failing_controls{{{frame}}} {counts['counted_failures']}",
              "# HELP dockharden_check_controls CIS controls of each status in the last run (not_verifiable: "
              "the host could not show the answer).",
              "# TYPE dockharden_check_controls gauge"]
    lines += [f'dockharden_check_controls{{{frame},status="{status}"}} {counts[status]}' for status in STATUSES]
    lines += ["# HELP dockharden_check_last_run_timestamp_seconds When dockharden check last ran (Unix time).",
              "# TYPE dockharden_check_last_run_timestamp_seconds gauge",
              f"dockharden_check_last_run_timestamp_seconds{{{frame}}} {unix_time:.3f}"]
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    """A label value: escaped as the exposition format wants, and with what no text file can hold (a lone
    surrogate) or a reader would take as a control written as a visible escape."""
    return (_xml_text(value) or "").replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


RENDERERS = {"text": render_text, "json": render_json, "sarif": render_sarif, "junit": render_junit}


def render(fmt: str, results: list[ControlResult], run: Run, probe: dict | None = None) -> str:
    return RENDERERS[fmt](results, run, probe)
