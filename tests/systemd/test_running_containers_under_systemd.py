"""Running containers through dockharden's restarts, on real hosts booted with systemd, on every Engine line.

`web` (unless-stopped, publishing 8080 with busybox httpd) and `worker` (no restart policy) run; a client in
another network namespace dials 8080. Each test holds the plan's promise for each container (and the port)
against what happened to it: the same process still running, the port still answering from outside.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.systemd

REQUEST = "GET /index.html HTTP/1.0\r\n\r\n"


def start_workload(host):
    """web and worker running; {name: "true PID"}."""
    image = host.import_busybox_image()
    host.docker("run", "-d", "--name", "web", "--restart", "unless-stopped", "-p", "8080:80", image,
                "httpd", "-f", "-p", "80", "-h", "/www")
    host.docker("run", "-d", "--name", "worker", image, "sleep", "3600")
    return states(host)


def states(host) -> dict[str, str]:
    return {name: host.docker("inspect", "-f", "{{.State.Running}} {{.State.Pid}}", name).stdout.strip()
            for name in ("web", "worker")}


def answers(client, link) -> bool:
    done = client.run(["busybox", "nc", "-w", "5", link.host_ip, "8080"], input=REQUEST, check=False)
    return "200 OK" in done.stdout


def plan_doc(host, *args):
    done = host.dockharden("plan", "--json", *args, *host.fit_limits_layer())
    assert done.returncode in (0, 2), done.stdout + done.stderr
    return json.loads(done.stdout)


def apply(host, *args):
    done = host.dockharden("apply", "--yes", "--json", *args, *host.fit_limits_layer())
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout[done.stdout.index("{"):])


def docker_of(services):
    return next(s for s in services if s["service"] == "docker")


def icc(host) -> str:
    return host.docker("network", "inspect", "bridge", "--format",
                       '{{index .Options "com.docker.network.bridge.enable_icc"}}').stdout.strip()


def test_the_first_apply_and_its_rollback_stop_no_container_and_the_published_port_keeps_answering(
        systemd_host, make_netns):
    host = systemd_host
    client = make_netns("client")
    link = client.link(host)
    before = start_workload(host)
    assert answers(client, link) and host.info()["LiveRestoreEnabled"] is False
    promised = docker_of(plan_doc(host, "--profile", "baseline")["services"])
    assert promised["containers_stop"] == [] and promised["steps"] == ["reload: live-restore on", "restart"]
    pid = host.main_pid("docker")
    result = apply(host, "--profile", "baseline")
    assert host.main_pid("docker") != pid  # restarted through systemd
    assert states(host) == before and answers(client, link)
    assert sorted(docker_of(result["services"])["containers_kept"]) == ["web", "worker"]
    assert host.info()["LiveRestoreEnabled"] is True

    shown = host.dockharden("rollback")  # no answer on standard input: the plan, then no
    assert "the 2 running container(s) keep running" in shown.stdout, shown.stdout + shown.stderr
    undo = host.dockharden("rollback", "--yes", "--json")
    assert undo.returncode == 0, undo.stdout + undo.stderr
    assert states(host) == before and answers(client, link)
    assert host.info()["LiveRestoreEnabled"] is False
    assert not host.path("/etc/docker/daemon.json").exists()  # the machine had none: none again


def test_baseline_on_a_host_with_live_restore_applies_with_icc_pending_until_the_containers_are_gone(
        systemd_host, make_netns):
    host = systemd_host
    client = make_netns("client")
    link = client.link(host)
    host.write_file("/etc/docker/daemon.json", '{"live-restore": true}\n')
    host.systemctl("restart", "docker")
    before = start_workload(host)
    promised = docker_of(plan_doc(host, "--profile", "baseline")["services"])
    assert promised["steps"] == ["restart"] and promised["pending_until_no_container_runs"] == ["icc"]
    result = apply(host, "--profile", "baseline")
    assert result["result"] == "applied" and states(host) == before and answers(client, link)
    assert any("icc" in m and "web" in m and "worker" in m for m in result["messages"])
    assert icc(host) == "true"
    verify = host.dockharden("verify", "--json", "--profile", "baseline", *host.fit_limits_layer())
    rows = {c["check"]: c for c in json.loads(verify.stdout)["checks"]}
    assert rows["daemon icc"]["status"] == "pending", verify.stdout + verify.stderr
    assert "web, worker" in rows["daemon icc"]["detail"]
    assert verify.returncode == 0, verify.stdout  # pending is not drift
    host.docker("rm", "-f", "web", "worker")
    host.run(["systemctl", "reset-failed", "docker"], check=False)
    host.systemctl("restart", "docker")
    assert icc(host) == "false"  # the first start with no container running builds the bridge anew
