"""check's formats for CI and audits: SARIF valid against the 2.1.0 schema, JUnit read by a standard
JUnit parser, a Prometheus textfile read by Prometheus' own parser, and the versioned JSON document."""

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from junitparser import Failure, JUnitXml, Skipped
from prometheus_client.parser import text_string_to_metric_families

from dockharden.inspect.benchmarks import benchmark
from dockharden.inspect.cis import EXCEPTED, FAIL, INFO, NA, PASS, UNVERIFIABLE, ControlResult
from dockharden.inspect.exceptions import apply_exceptions, parse_exceptions
from dockharden.inspect.formats import (
    CHECK_FORMAT_VERSION,
    Run,
    check_document,
    render_junit,
    render_text,
    render_textfile,
    sarif_document,
)

SCHEMA = json.loads((Path(__file__).parents[1] / "schemas/sarif-schema-2.1.0.json").read_text())
RUN = Run(benchmark="CIS Docker Benchmark v1.8.0", version="1.8", level=2, time="2026-12-01T02:00:00+00:00",
          host="host-1", exceptions_file="/etc/dockharden/exceptions.toml")
STATUS = {"1.1.1": FAIL, "1.1.2": INFO, "1.1.13": NA, "1.1.3": UNVERIFIABLE, "2.2": PASS, "2.13": FAIL, "3.14": FAIL}


def results():
    found = []
    for row in benchmark("1.8").rows:
        if row.id in STATUS:
            status = STATUS[row.id]
            found.append(ControlResult(id=row.id, key=row.key, title=row.title, level=row.level, assessment=row.assessment, status=status,
                                       evidence=f'evidence of {row.id} with "quotes" & <angle>', fix="a fix" if status == FAIL else ""))
    exceptions = parse_exceptions(b'[[exception]]\ncontrol = "daemon.authorization"\nreason = "RISK-142"\n'
                                  b'owner = "secops"\nexpires = 2027-03-31\n', "exceptions.toml")
    return apply_exceptions(found, exceptions, dt.date(2026, 12, 1))


def test_the_sarif_document_is_valid_against_the_sarif_2_1_0_schema():
    doc = sarif_document(results(), RUN)
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(doc)
    [run] = doc["runs"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["file.tls-key.mode"]["level"] == "error" and by_rule["file.tls-key.mode"]["kind"] == "fail"
    assert by_rule["daemon.icc"]["kind"] == "pass" and by_rule["daemon.icc"]["level"] == "none"
    excepted = by_rule["daemon.authorization"]
    assert excepted["level"] == "none" and excepted["suppressions"][0]["status"] == "accepted"
    assert "RISK-142" in excepted["suppressions"][0]["justification"]
    rules = run["tool"]["driver"]["rules"]
    assert all(run["results"][i]["ruleId"] == rules[r["ruleIndex"]]["id"] for i, r in enumerate(run["results"]))


def test_a_document_the_schema_refuses_is_refused_so_the_validation_is_real():
    doc = sarif_document(results(), RUN)
    doc["runs"][0]["results"][0]["kind"] = "failed"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(doc)


def test_junit_xml_loads_in_a_junit_parser_with_one_testcase_per_control(tmp_path):
    path = tmp_path / "check.xml"
    path.write_text(render_junit(results(), RUN))
    xml = JUnitXml.fromfile(str(path))
    [suite] = list(xml)
    cases = {case.name.split()[0]: case for case in suite}
    assert suite.tests == len(STATUS) and suite.failures == 2 and suite.skipped == 4 and suite.errors == 0
    assert isinstance(cases["3.14"].result[0], Failure) and cases["3.14"].result[0].message.startswith("evidence of 3.14")
    assert isinstance(cases["2.13"].result[0], Skipped) and "excepted until 2027-03-31" in cases["2.13"].result[0].message
    assert cases["2.2"].is_passed and cases["2.2"].classname == "cis-1.8.section-2"


def test_the_textfile_has_one_gauge_per_control_with_id_title_level_benchmark_and_the_time_of_the_run():
    text = render_textfile(results(), RUN, 1795000000.5)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    controls = families["dockharden_cis_control_failing"]
    assert controls.type == "gauge" and len(controls.samples) == len(STATUS)
    tls_key = next(s for s in controls.samples if s.labels["id"] == "3.14")
    assert tls_key.value == 1 and tls_key.labels["benchmark"] == "CIS Docker Benchmark v1.8.0"
    assert tls_key.labels["level"] == "1" and tls_key.labels["title"].startswith("Ensure that the Docker server")
    assert tls_key.labels["key"] == "file.tls-key.mode"
    assert next(s for s in controls.samples if s.labels["id"] == "2.13").value == 0  # excepted
    assert families["dockharden_check_failing_controls"].samples[0].value == 2
    assert families["dockharden_check_last_run_timestamp_seconds"].samples[0].value == 1795000000.5


def test_the_json_document_is_versioned_and_says_what_counts():
    doc = check_document(results(), RUN)
    assert doc["format_version"] == CHECK_FORMAT_VERSION == 2 and doc["kind"] == "dockharden.check"
    assert doc["benchmark_version"] == "1.8" and doc["level"] == 2
    controls = {c["id"]: c for c in doc["controls"]}
    assert controls["2.13"]["status"] == EXCEPTED and controls["2.13"]["counted"] is False
    assert controls["3.14"]["counted"] is True and controls["3.14"]["key"] == "file.tls-key.mode"
    assert set(controls["3.14"]) == {"id", "key", "title", "level", "assessment", "status", "counted", "evidence",
                                     "fix", "exception"}
    assert doc["summary"]["counted_failures"] == 2 and doc["summary"]["excepted"] == 1


def test_the_text_report_shows_the_exception_and_the_counted_failures():
    text = render_text(results(), RUN)
    assert "exception (in force, expires 2027-03-31, owner secops): RISK-142" in text
    assert text.rstrip().endswith("2 failure(s) counted: 1.1.1, 3.14")


def test_a_control_that_could_not_be_verified_is_apart_from_pass_in_every_format():
    found = results()
    sarif = {r["ruleId"]: r for r in sarif_document(found, RUN)["runs"][0]["results"]}
    assert sarif["audit.dockerd"]["kind"] == "open" and sarif["audit.dockerd"]["level"] == "none"
    junit = render_junit(found, RUN)
    assert 'message="not_verifiable: evidence of 1.1.3' in junit
    samples = {(s.name, s.labels.get("status")): s.value
               for f in text_string_to_metric_families(render_textfile(found, RUN, 1.0)) for s in f.samples
               if s.name == "dockharden_check_controls"}
    assert samples[("dockharden_check_controls", "not_verifiable")] == 1
    assert samples[("dockharden_check_controls", "pass")] == 1
    assert check_document(found, RUN)["summary"]["not_verifiable"] == 1
    assert "1 not_verifiable" in render_text(found, RUN)


def test_the_text_report_says_what_the_probe_saw_in_words_not_python_values():
    probe = {"image": "busybox:local", "no_new_privs": True, "seccomp_mode": 2, "uid_map": [(0, 100000, 65536)],
             "root_remapped": True, "nofile": (1024, -1), "nproc": None, "icc_blocked": None,
             "errors": ("icc: ping is not allowed in the probe container",)}
    text = render_text(results(), RUN, probe)
    said = text.split("Probe container:\n", 1)[1].split("\n\n", 1)[0] + "\n"
    assert "  no_new_privs: yes\n" in said and "  uid_map: 0 100000 65536 (inside outside count)\n" in said
    assert "  nofile: 1024/unlimited (soft/hard)\n" in said and "  nproc: not seen\n" in said
    assert "  error: icc: ping is not allowed in the probe container\n" in said
    for python in ("None", "True", "(", "["):
        assert python not in said.replace("(soft/hard)", "").replace("(inside outside count)", ""), python


# issue 24 class 16: every format is valid for any text the host or the exceptions file can put in a report
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=20) | st.sampled_from(
    ["\x1b[31m", "\x00", "\x0b\x0c", "\ud800", "\ufffe\uffff", "\x85\x9b", "a\r\nb", "]]>", "&#0;", "\u202e"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evidence=any_text, fix=any_text, reason=any_text, owner=any_text, host=any_text)
def test_every_format_is_valid_for_any_evidence_reason_owner_and_host_name(tmp_path_factory, evidence, fix, reason,
                                                                           owner, host):
    import xml.etree.ElementTree as ET

    from dockharden.inspect.exceptions import ControlException
    from dockharden.inspect.formats import RENDERERS
    from dockharden.ui.console import printable

    found = []
    for row in benchmark("1.8").rows:
        if row.id in STATUS:
            status = STATUS[row.id]
            found.append(ControlResult(id=row.id, key=row.key, title=row.title, level=row.level,
                                       assessment=row.assessment, status=status, evidence=evidence,
                                       fix=fix if status == FAIL else ""))
    excepted = ControlException(key="daemon.authorization", named_as="daemon.authorization", reason=reason or "r", owner=owner or "o",
                                expires=dt.date(2027, 3, 31), entry=1)
    results_ = apply_exceptions(found, [excepted], dt.date(2026, 12, 1))
    run = Run(benchmark=RUN.benchmark, version=RUN.version, level=RUN.level, time=RUN.time, host=host, exceptions_file=RUN.exceptions_file)
    for fmt, render in RENDERERS.items():
        text = render(results_, run)
        if fmt == "text":  # printed through the guarded stream (ui/console.py), which makes it printable
            shown = printable(text)
            assert all(c.isprintable() or c in "\n\t" for c in shown) and shown.encode("utf-8")
            continue
        text.encode("utf-8")  # written as UTF-8: no lone surrogate may reach the file
        if fmt in ("json", "sarif"):
            json.loads(text)
        elif fmt == "junit":
            ET.fromstring(text.encode("utf-8"))
            path = tmp_path_factory.mktemp("junit") / "check.xml"
            path.write_bytes(text.encode("utf-8"))
            [suite] = list(JUnitXml.fromfile(str(path)))
            assert suite.tests == len(STATUS)
        if fmt == "sarif":
            jsonschema.Draft4Validator(SCHEMA).validate(json.loads(text))
    textfile = render_textfile(results_, run, 1795000000.5)
    textfile.encode("utf-8")
    families = {f.name: f for f in text_string_to_metric_families(textfile)}
    assert len(families["dockharden_cis_control_failing"].samples) == len(STATUS)
