"""verify's statuses on plain values: in force, drift, pending and not verifiable; what the summary may
conclude from them; what each output carries. Nothing here reads the machine."""

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dockharden import report
from dockharden.core.effective import Effective, judge_daemon
from dockharden.inspect.verify import (
    DRIFT,
    IN_FORCE,
    PENDING,
    UNVERIFIABLE,
    Row,
    daemon_key_rows,
    probe_rows,
    settle_by_probe,
)
from dockharden.inspect.verify_report import render_textfile, summarize, summary_line

INFO = {"ServerVersion": "20.10.24", "LiveRestoreEnabled": True, "SecurityOptions": ["name=seccomp,profile=default"],
        "LoggingDriver": "json-file"}
BRIDGE = {"com.docker.network.bridge.enable_icc": "false"}
CONFIG = {"live-restore": True, "icc": False, "no-new-privileges": True, "userland-proxy": False,
          "log-opts": {"max-size": "10m"}, "features": {"buildkit": True}, "builder": {"gc": {"enabled": True}},
          "max-concurrent-downloads": 3, "max-concurrent-uploads": 5, "default-ulimits": {"nofile": {}},
          "log-level": "info"}


def statuses(rows):
    return {r.check: r.status for r in rows}


def test_a_key_the_daemon_shows_is_in_force_or_drift_and_every_other_key_is_not_verifiable():
    rows = statuses(daemon_key_rows(CONFIG, Effective(INFO, BRIDGE)))
    assert rows["daemon live-restore"] == IN_FORCE and rows["daemon icc"] == IN_FORCE
    for key in ("no-new-privileges", "userland-proxy", "log-opts", "features", "builder", "max-concurrent-downloads",
                "max-concurrent-uploads", "default-ulimits", "log-level"):
        assert rows[f"daemon {key}"] == UNVERIFIABLE, key
    drifted = statuses(daemon_key_rows(CONFIG, Effective(dict(INFO, LiveRestoreEnabled=False), BRIDGE)))
    assert drifted["daemon live-restore"] == DRIFT


def test_no_row_claims_a_probe_container_shows_what_no_probe_shows():
    rows = daemon_key_rows(CONFIG, Effective(INFO, BRIDGE))
    said = {r.check: r.detail for r in rows}
    assert "probe" not in said["daemon max-concurrent-downloads"] and "probe" not in said["daemon features"]
    assert "`verify --probe` shows the nofile limit" in said["daemon default-ulimits"]
    assert "Engine 20.10.24 does not report it" in said["daemon no-new-privileges"]


def test_no_new_privileges_is_judged_where_the_engine_reports_it():
    info = dict(INFO, ServerVersion="29.7.2")
    assert "no-new-privileges" in judge_daemon(CONFIG, Effective(info, BRIDGE))[1]
    assert statuses(daemon_key_rows(CONFIG, Effective(info, BRIDGE)))["daemon no-new-privileges"] == DRIFT


def test_only_a_row_seen_in_force_is_ok_and_only_drift_is_drift():
    rows = [Row("a", IN_FORCE, ""), Row("b", PENDING, "waits for web, worker to restart"),
            Row("c", UNVERIFIABLE, "not shown"), Row("d", DRIFT, "wanted x")]
    assert [r.ok for r in rows] == [True, False, False, False]
    assert [r.drifted for r in rows] == [False, False, False, True]


def test_a_row_with_a_status_verify_does_not_know_is_refused():
    with pytest.raises(ValueError, match="status True"):
        Row("daemon icc", True, "effective")


@pytest.mark.parametrize("rows,ends", [
    ([IN_FORCE] * 3, "3 in force, 0 pending, 0 not verifiable, 0 drift: everything desired is in force."),
    ([IN_FORCE] * 12 + [PENDING] + [UNVERIFIABLE] * 3,
     "12 in force, 1 pending, 3 not verifiable, 0 drift: in force where it can be seen; 3 not verifiable here, "
     "1 pending."),
    ([IN_FORCE, PENDING], "1 in force, 1 pending, 0 not verifiable, 0 drift: in force where it can be seen; "
                          "1 pending."),
    ([IN_FORCE, UNVERIFIABLE, DRIFT], "1 in force, 0 pending, 1 not verifiable, 1 drift: 1 mismatch(es)."),
])
def test_the_summary_says_everything_is_in_force_only_when_every_row_is(rows, ends):
    assert summary_line(summarize([Row(str(i), s, "") for i, s in enumerate(rows)])) == ends


def test_the_verify_document_carries_each_row_s_status_and_the_counts():
    rows = [Row("file /etc/docker/daemon.json", IN_FORCE, "as the layers render it"),
            Row("AppArmor", UNVERIFIABLE, "not verifiable here: the kernel has no AppArmor enabled"),
            Row("daemon icc", PENDING, "takes effect when web restarts")]
    doc = report.drift_document(rows)
    assert doc["format_version"] == 2 and doc["kind"] == "dockharden.verify"
    assert doc["ok"] is False and doc["drift"] is False
    assert doc["counts"] == {"in_force": 1, "pending": 1, "not_verifiable": 1, "drift": 0}
    assert [(c["status"], c["ok"]) for c in doc["checks"]] == [("in_force", True), ("not_verifiable", False),
                                                              ("pending", False)]
    assert doc["summary"].endswith("in force where it can be seen; 1 not verifiable here, 1 pending.")
    json.dumps(doc)


def test_the_verify_text_labels_each_row_and_never_concludes_in_force_with_a_row_unseen():
    text = report.render_drift([Row("file /etc/docker/daemon.json", IN_FORCE, "as the layers render it"),
                                Row("audit watches loaded", UNVERIFIABLE, "not verifiable here: no kernel audit")])
    lines = text.splitlines()
    assert lines[0].startswith("ok ") and lines[1].startswith("not_verifiable ")
    assert "Everything desired is in force" not in text and "everything desired is in force" not in text
    assert lines[-1] == "1 in force, 0 pending, 1 not verifiable, 0 drift: in force where it can be seen; " \
                        "1 not verifiable here."


def test_the_verify_textfile_counts_each_status():
    rows = [Row("a", IN_FORCE, ""), Row("b", UNVERIFIABLE, ""), Row("c", UNVERIFIABLE, "")]
    samples = {(s.name, s.labels.get("status")): s.value
               for f in text_string_to_metric_families(render_textfile(rows, 1.0)) for s in f.samples}
    assert samples[("dockharden_verify_mismatches", None)] == 0
    assert samples[("dockharden_verify_rows", "not_verifiable")] == 2
    assert samples[("dockharden_verify_rows", "in_force")] == 1


def test_what_a_probe_saw_settles_the_row_docker_info_could_not_and_replaces_the_probe_row():
    config = {"no-new-privileges": True, "max-concurrent-downloads": 3}
    rows = daemon_key_rows(config, Effective(INFO, BRIDGE))
    rows += probe_rows(config, {"no_new_privs": True, "errors": []})
    settled = {r.check: r for r in settle_by_probe(rows)}
    assert settled["daemon no-new-privileges"].status == IN_FORCE
    assert settled["daemon no-new-privileges"].detail == "a probe container shows it: containers see no_new_privs = true"
    assert "probe no-new-privileges" not in settled
    assert settled["daemon max-concurrent-downloads"].status == UNVERIFIABLE


def test_a_probe_error_is_not_verifiable_rather_than_drift():
    rows = probe_rows({"icc": False}, {"icc_blocked": None, "errors": ["icc: ping is not allowed"]})
    assert [(r.check, r.status) for r in rows] == [("probe", UNVERIFIABLE)]


def test_icc_that_differs_while_containers_run_is_pending_with_their_names_not_drift():
    kept = {"com.docker.network.bridge.enable_icc": "true"}
    rows = {r.check: r for r in daemon_key_rows(CONFIG, Effective(INFO, kept), ("web", "worker"))}
    assert rows["daemon icc"].status == PENDING
    assert "first docker restart with none running (running now: web, worker)" in rows["daemon icc"].detail
    assert rows["daemon live-restore"].status == IN_FORCE


def test_icc_that_differs_with_no_container_running_is_drift():
    kept = {"com.docker.network.bridge.enable_icc": "true"}
    rows = {r.check: r for r in daemon_key_rows(CONFIG, Effective(INFO, kept))}
    assert rows["daemon icc"].status == DRIFT
