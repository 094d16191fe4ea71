"""The namespace-host harness itself, on a real dockerd."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.host


def test_each_host_runs_its_own_dockerd_with_standard_paths(ns_host):
    # Before dockerd runs: status says so, and the host has its private /run.
    assert ns_host.ctl("status").returncode == 3
    assert ns_host.dockerd_pid() is None

    ns_host.start_dockerd()
    info = ns_host.info()
    assert info["DockerRootDir"] == "/var/lib/docker"
    assert info["LiveRestoreEnabled"] is False
    # The standard data root is the private one, readable from outside.
    assert (ns_host.dir / "var/lib/docker/image").is_dir()
    assert "API listen on /var/run/docker.sock" in ns_host.log()
    assert (ns_host.dir / "var/log/dockerd.log").is_file()

    # daemon.json written from outside is the one the daemon reads.
    (ns_host.dir / "etc/docker/daemon.json").write_text(json.dumps({"live-restore": True}))
    old_pid = ns_host.dockerd_pid()
    new_pid = ns_host.restart_dockerd()
    assert new_pid != old_pid
    assert ns_host.info()["LiveRestoreEnabled"] is True
    assert ns_host.ctl("status").returncode == 0


def test_two_hosts_do_not_share_daemon_or_files(ns_host, make_ns_host):
    other = make_ns_host()
    assert other.dir != ns_host.dir

    pid_a = ns_host.start_dockerd(["--label=dh.host=a"])
    pid_b = other.start_dockerd(["--label=dh.host=b"])
    assert pid_a != pid_b
    assert ns_host.info()["Labels"] == ["dh.host=a"]
    assert other.info()["Labels"] == ["dh.host=b"]

    # Files: each host sees its own /etc/docker.
    (ns_host.dir / "etc/docker/only-in-a").write_text("a\n")
    assert ns_host.run(["cat", "/etc/docker/only-in-a"]).stdout == "a\n"
    assert other.run(["cat", "/etc/docker/only-in-a"], check=False).returncode != 0

    # Network: each has its own docker0 and its own DOCKER chain.
    for host in (ns_host, other):
        assert "docker0" in host.run(["ip", "-br", "link"]).stdout
        assert host.run(["iptables", "-t", "nat", "-S", "DOCKER"]).returncode == 0

    # Stopping one leaves the other running.
    ns_host.stop_dockerd()
    assert ns_host.dockerd_pid() is None
    assert other.dockerd_pid() == pid_b
    assert other.ctl("status").returncode == 0


def test_busybox_probe_container_runs_without_a_registry(docker_host):
    image = docker_host.import_busybox_image()
    assert image == "dh-busybox"
    out = docker_host.docker("run", "--rm", image, "cat", "/proc/self/status").stdout
    assert "NoNewPrivs:" in out
    assert "Seccomp:" in out
    # The shell applets and builtins the probes use are there.
    out = docker_host.docker("run", "--rm", image, "sh", "-c", "id -u; ulimit -n").stdout.split()
    assert out[0] == "0"
    assert out[1].isdigit()


def test_reload_keeps_the_same_pid(docker_host):
    pid = docker_host.dockerd_pid()
    assert docker_host.info()["Debug"] is False

    # A reloadable option, picked up by SIGHUP without a restart.
    (docker_host.dir / "etc/docker/daemon.json").write_text(json.dumps({"debug": True}))
    assert docker_host.ctl("reload").returncode == 0
    deadline = time.monotonic() + 10
    while not docker_host.info()["Debug"]:
        assert time.monotonic() < deadline, docker_host.log_tail()
        time.sleep(0.1)

    assert docker_host.dockerd_pid() == pid
    assert docker_host.ctl("status").returncode == 0
