"""Running containers across dockharden's restarts, on a real dockerd (20.10): every daemon that stops or
starts while they run has live-restore on, the plan's promise about each container is what happens, and the
default bridge's keys are reported pending (not drift, not rolled back) while containers keep it.

Each test compares what the plan said for each container with its state and process afterwards.
"""

import json

import pytest
from managed_host import ORIGINAL, result_of

pytestmark = pytest.mark.host


def run_two(host):
    """`web` (unless-stopped) and `worker` (no restart policy), both running; their pids."""
    image = host.import_busybox_image()
    host.docker("run", "-d", "--name", "web", "--restart", "unless-stopped", image, "sleep", "3600")
    host.docker("run", "-d", "--name", "worker", image, "sleep", "3600")
    return pids(host)


def pids(host) -> dict[str, str]:
    """Each container's running state and process: {"web": "true 1234", ...}."""
    return {name: host.docker("inspect", "-f", "{{.State.Running}} {{.State.Pid}}", name).stdout.strip()
            for name in ("web", "worker")}


def icc(host) -> str:
    return host.docker("network", "inspect", "bridge", "--format",
                       '{{index .Options "com.docker.network.bridge.enable_icc"}}').stdout.strip()


def plan_of(managed, *args):
    done = managed.host.dockharden("plan", "--json", *args, timeout=120)
    assert done.returncode in (0, 2), done.stdout + done.stderr
    return json.loads(done.stdout)


def docker_service(doc):
    return next(s for s in doc["services"] if s["service"] == "docker")


def test_the_first_apply_on_a_host_without_live_restore_stops_no_container(managed):
    host = managed.host
    before = run_two(host)
    assert host.info()["LiveRestoreEnabled"] is False
    promised = docker_service(plan_of(managed, "--profile", "baseline", *managed.layers))
    assert promised["action"] == "restart" and promised["containers_stop"] == []
    assert promised["steps"] == ["reload: live-restore on", "restart"]
    assert promised["pending_until_no_container_runs"] == ["icc"]
    daemon_before = host.dockerd_pid()
    done = managed.apply("--profile", "baseline", *managed.layers)
    assert done.returncode == 0, done.stdout + done.stderr
    assert host.dockerd_pid() != daemon_before  # it did restart
    assert pids(host) == before  # and both containers run on, the same processes
    [docker] = [s for s in result_of(done)["services"] if s["service"] == "docker"]
    assert docker["steps"] == ["reload: live-restore on", "restart"]
    assert sorted(docker["containers_kept"]) == ["web", "worker"]
    assert any(m.startswith("pending: icc") and "web" in m for m in result_of(done)["messages"])
    assert host.info()["LiveRestoreEnabled"] is True and icc(host) == "true"  # kept while they run


def test_a_rollback_that_removes_live_restore_stops_no_container_and_turns_it_off(managed):
    host = managed.host
    before = run_two(host)
    assert managed.apply("--profile", "baseline", *managed.layers).returncode == 0
    assert pids(host) == before
    shown = host.dockharden("rollback", timeout=120)  # no answer on standard input: the plan, then no
    assert shown.returncode == 1 and "nothing was changed" in shown.stderr, shown.stdout + shown.stderr
    assert "the 2 running container(s) keep running" in shown.stdout
    assert "in this order: restart; then reload: live-restore off" in shown.stdout
    undo = host.dockharden("rollback", "--yes", "--json", timeout=180)
    assert undo.returncode == 0, undo.stdout + undo.stderr
    assert managed.daemon_json() == ORIGINAL  # the original bytes, not a step's file
    assert pids(host) == before
    assert host.info()["LiveRestoreEnabled"] is False  # the file does not set it: turned off by the reload


def test_baseline_on_a_host_that_already_has_live_restore_applies_with_icc_pending_until_no_container_runs(managed):
    host = managed.host
    (host.dir / "etc/docker/daemon.json").write_text('{"live-restore": true}\n')
    host.restart_dockerd()
    before = run_two(host)
    promised = docker_service(plan_of(managed, "--profile", "baseline", *managed.layers))
    assert promised["steps"] == ["restart"] and promised["containers_stop"] == []
    assert promised["pending_until_no_container_runs"] == ["icc"]
    done = managed.apply("--profile", "baseline", *managed.layers)
    assert done.returncode == 0, done.stdout + done.stderr  # not rolled back for the kept bridge
    assert result_of(done)["result"] == "applied" and pids(host) == before
    assert any("icc" in m and "worker" in m for m in result_of(done)["messages"])
    assert icc(host) == "true"
    host.docker("rm", "-f", "web", "worker")
    host.restart_dockerd()  # the first restart with no container running applies the bridge's keys
    assert icc(host) == "false"
