"""check and its weekly schedule on hosts booted with systemd as PID 1 (Engines 20.10, 26.1, 28.5, 29.7):
every control of the three benchmark versions before and after apply, and the timer firing for real."""

from __future__ import annotations

import json
import time

import pytest

from dockharden.inspect.benchmarks import VERSIONS, benchmark

pytestmark = pytest.mark.systemd

STACK = "baseline,userns,tls"
FIXED_BY_STACK = ("daemon.icc", "daemon.tls", "daemon.default-ulimits", "daemon.userns",
                  "daemon.no-new-privileges", "daemon.live-restore", "daemon.userland-proxy")


def check(host, version):
    done = host.dockharden("check", "--format", "json", "--benchmark", version)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr  # failures counted on every engine
    doc = json.loads(done.stdout)
    table = benchmark(version)
    assert [(c["id"], c["title"], c["level"], c["assessment"]) for c in doc["controls"]] == \
        [(r.id, r.title, r.level, r.assessment) for r in table.rows]
    return {c["key"]: c for c in doc["controls"]}


def test_every_control_of_each_version_before_and_after_apply_under_systemd(systemd_host):
    host = systemd_host
    for version in VERSIONS:
        before = check(host, version)
        assert {before[k]["status"] for k in FIXED_BY_STACK} == {"fail", "not_applicable"}
        assert before["daemon.tls"]["status"] == "not_applicable"
    done = host.dockharden("apply", "--yes", "--json", "--profile", STACK, *host.fit_limits_layer())
    assert done.returncode == 0, done.stdout + done.stderr
    for version in VERSIONS:
        after = check(host, version)
        wrong = {k: after[k]["evidence"] for k in FIXED_BY_STACK if after[k]["status"] != "pass"}
        nnp = wrong.pop("daemon.no-new-privileges", "")  # Engine 20.10 does not report it: configured, not seen
        assert not nnp or (after["daemon.no-new-privileges"]["status"] == "not_verifiable"
                           and "Engine before 24.0" in nnp), nnp
        assert not wrong, wrong
        audit = {c["status"] for k, c in after.items() if k.startswith("audit.")}
        assert audit == {"not_verifiable"}  # kernel audit is refused inside these machines
        up_to_date = after["host.docker-up-to-date"]
        if int(host.engine_version().split(".")[0]) >= 29:  # the one maintained line, at its latest known patch
            assert up_to_date["status"] == "pass" and "maintained line 29" in up_to_date["evidence"], up_to_date
        else:  # 20.10, 26.1 and 28 are end of life, whatever Debian backports
            assert up_to_date["status"] == "fail" and "is end of life" in up_to_date["evidence"], up_to_date
        for key in ("file.docker-service.owner", "file.docker-service.mode", "file.tls-key.mode",
                    "file.containerd-sock.owner", "file.containerd-sock.mode", "file.daemon-json.mode"):
            assert after[key]["status"] == "pass", (key, after[key]["evidence"])


def test_the_timer_fires_by_itself_and_its_service_writes_the_reports(systemd_host):
    host = systemd_host
    # as an operator would have: applied, so dockharden.toml holds the selection verify compares against
    done = host.dockharden("apply", "--yes", "--profile", "baseline", *host.fit_limits_layer())
    assert done.returncode == 0, done.stdout + done.stderr
    done = host.dockharden("schedule", "install", "--on-calendar", "*:*:0/5", "--randomized-delay", "0",
                           "--textfile", "/var/lib/prometheus/node-exporter/dockharden.prom")
    assert done.returncode == 0 and "systemctl enable --now dockharden-check.timer" in done.stdout, done.stderr
    checked = host.run(["systemd-analyze", "verify", "/etc/systemd/system/dockharden-check.service",
                        "/etc/systemd/system/dockharden-check.timer"], check=False)
    assert checked.returncode == 0, checked.stderr
    assert host.is_active("dockharden-check.timer") == "active"
    deadline = time.monotonic() + 150  # the timer's default AccuracySec is one minute
    while time.monotonic() < deadline and not host.path("/var/lib/dockharden/reports/verify.prom").exists():
        time.sleep(2)
    state = host.show("dockharden-check.service", "Result", "ExecMainStatus", "ExecMainStartTimestamp")
    assert state["ExecMainStartTimestamp"], "the timer never started the service"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and host.is_active("dockharden-check.service") == "activating":
        time.sleep(1)
    state = host.show("dockharden-check.service", "Result", "ExecMainStatus")
    assert state["Result"] == "success" and state["ExecMainStatus"] in ("0", "2"), \
        f"{state}\n{host.journal('dockharden-check.service')}"
    report = json.loads(host.read_text("/var/lib/dockharden/reports/check.json"))
    assert report["benchmark_version"] == "1.8" and report["summary"]["counted_failures"] >= 1
    assert json.loads(host.read_text("/var/lib/dockharden/reports/verify.json"))["kind"] == "dockharden.verify"
    prom = host.read_text("/var/lib/prometheus/node-exporter/dockharden.prom")
    assert 'dockharden_cis_control_failing{id="1.2.2",key="host.docker-up-to-date"' in prom
    assert "dockharden_verify_mismatches " in prom and 'dockharden_verify_rows{status="not_verifiable"}' in prom
    # and away again: the timer stopped and disabled, the two units gone, systemd reloaded
    done = host.dockharden("schedule", "uninstall")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["systemctl disable --now dockharden-check.timer",
                                        "systemctl stop dockharden-check.service",
                                        "removed /etc/systemd/system/dockharden-check.timer",
                                        "removed /etc/systemd/system/dockharden-check.service",
                                        "systemctl daemon-reload"]
    assert host.is_active("dockharden-check.timer") in ("inactive", "unknown")
    assert not host.path("/etc/systemd/system/dockharden-check.timer").exists()
    assert not host.path("/etc/systemd/system/timers.target.wants/dockharden-check.timer").is_symlink()
    assert host.show("dockharden-check.timer", "LoadState")["LoadState"] == "not-found"
