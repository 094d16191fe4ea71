"""The layers from the references' checklist on real hosts booted with systemd (Engines 20.10, 26.1, 28.5, 29.7):
the prune timer enabled, started and run by systemd, then stopped and removed with its layer; the metrics
endpoint answering on loopback under the packaged unit; the baseline's concurrency limits in effect."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.systemd

TIMER = "dockharden-prune.timer"
SERVICE = "dockharden-prune.service"


def apply(host, *args):
    done = host.dockharden("apply", "--yes", "--json", *args, *host.fit_limits_layer())
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout, done.stderr
    return done, json.loads(done.stdout[done.stdout.index("{"):])


def test_the_prune_layer_enables_its_timer_systemd_runs_it_and_dropping_the_layer_removes_it(systemd_host):
    host = systemd_host
    done, result = apply(host, "--profile", "baseline,prune")
    assert done.returncode == 0 and result["result"] == "applied", done.stdout + done.stderr
    assert host.systemctl("is-enabled", TIMER, check=False).stdout.strip() == "enabled"
    assert host.systemctl("is-active", TIMER, check=False).stdout.strip() == "active"
    assert host.show(TIMER, "NextElapseUSecRealtime")["NextElapseUSecRealtime"] not in ("", "0")

    # systemd runs the service as the timer would: both prune commands succeed against the real daemon
    image = host.import_busybox_image()
    host.docker("create", "--name", "stopped-one", image, "true")
    host.systemctl("start", SERVICE, timeout=180)
    shown = host.show(SERVICE, "Result", "ExecMainStatus")
    assert shown["Result"] == "success" and shown["ExecMainStatus"] == "0", shown
    # until=168h: a container created a minute ago is kept
    assert host.docker("ps", "-a", "--filter", "name=stopped-one", "--format", "{{.Names}}").stdout.strip() == "stopped-one"

    done, result = apply(host, "--profile", "baseline")
    assert done.returncode == 0 and result["result"] == "applied", done.stdout + done.stderr
    assert host.systemctl("is-active", TIMER, check=False).stdout.strip() != "active"
    assert not host.path(f"/etc/systemd/system/{TIMER}").exists()
    assert not host.path(f"/etc/systemd/system/{SERVICE}").exists()
    assert not host.path(f"/etc/systemd/system/timers.target.wants/{TIMER}").exists()


def test_the_monitoring_layer_serves_metrics_on_loopback_and_the_baseline_limits_are_in_effect(systemd_host):
    host = systemd_host
    done, result = apply(host, "--profile", "baseline,monitoring")
    assert done.returncode == 0 and result["result"] == "applied", done.stdout + done.stderr
    config = json.loads(host.read_text("/etc/docker/daemon.json"))
    assert config["metrics-addr"] == "127.0.0.1:9323"
    assert config["max-concurrent-downloads"] == 3 and config["max-concurrent-uploads"] == 5
    assert config["experimental"] is False and host.info()["ExperimentalBuild"] is False
    # the endpoint answers inside the machine's network namespace, on loopback only
    metrics = host.run(["python3", "-c", "import urllib.request; print(urllib.request.urlopen("
                        "'http://127.0.0.1:9323/metrics', timeout=10).read().decode()[:4000])"]).stdout
    assert "engine_daemon_engine_info" in metrics or "# HELP" in metrics, metrics[:500]
    listening = host.run(["ss", "-Hltn", "sport = :9323"], check=False).stdout
    assert "127.0.0.1:9323" in listening and "0.0.0.0:9323" not in listening, listening
    # verify holds both
    verify = host.dockharden("verify", "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr

