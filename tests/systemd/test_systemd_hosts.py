"""The systemd hosts themselves, on each engine: what the dockharden scenarios rely on is real."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.systemd


def ansible_bin(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.fail(f"{name} is missing: install the test extras (pip install -e '.[test]', ansible-core)",
                    pytrace=False)
    return found


def test_the_machine_boots_with_systemd_as_pid_1_and_docker_active_at_the_engine_version(bare_systemd_host, engine):
    assert bare_systemd_host.run(["cat", "/proc/1/comm"]).stdout.strip() == "systemd"
    assert bare_systemd_host.run(["systemctl", "is-system-running"], check=False).stdout.strip() in ("running", "degraded")
    assert bare_systemd_host.is_active("docker") == "active"
    assert bare_systemd_host.engine_version().split(".")[0] == str(engine.docker_major)
    assert bare_systemd_host.info()["DockerRootDir"] == "/var/lib/docker"
    # The names are the machine's own, and so is the kernel audit: refused in any container.
    assert bare_systemd_host.run(["hostname"]).stdout.strip() == bare_systemd_host.name
    failed = bare_systemd_host.systemctl("list-units", "--failed", "--plain", "--no-legend").stdout
    assert "docker" not in failed and "containerd" not in failed


def test_restart_changes_docker_main_pid_and_reload_keeps_it(bare_systemd_host):
    first = bare_systemd_host.main_pid("docker")
    bare_systemd_host.systemctl("restart", "docker")
    second = bare_systemd_host.main_pid("docker")
    assert second not in (0, first)
    cursor = bare_systemd_host.journal_cursor()
    bare_systemd_host.systemctl("reload", "docker")
    assert bare_systemd_host.main_pid("docker") == second
    assert bare_systemd_host.is_active("docker") == "active"
    assert "Reload" in bare_systemd_host.journal("docker", since=cursor)  # systemd's "Reloading..." line


def test_a_fourth_quick_restart_hits_the_start_limit_unless_reset_failed_runs_first(bare_systemd_host):
    # reset-failed also clears the start counter: from here StartLimitBurst=3 starts in 60 s pass.
    bare_systemd_host.systemctl("reset-failed", "docker")
    outcomes = [bare_systemd_host.systemctl("restart", "docker", check=False) for _ in range(4)]
    assert [o.returncode for o in outcomes[:3]] == [0, 0, 0]
    assert outcomes[3].returncode != 0 and "too often" in outcomes[3].stderr
    assert bare_systemd_host.show("docker", "Result")["Result"] == "start-limit-hit"

    for _ in range(4):
        bare_systemd_host.systemctl("reset-failed", "docker")
        bare_systemd_host.systemctl("restart", "docker")
        assert bare_systemd_host.is_active("docker") == "active"


def test_dockharden_from_the_wheel_plans_with_the_systemd_manager_detected(systemd_host):
    assert systemd_host.run(["readlink", "-f", "/usr/local/bin/dockharden"]).stdout.strip() \
        == "/opt/dockharden/bin/dockharden"
    assert not systemd_host.path("/etc/dockharden/dockharden.toml").exists()
    # Baseline only defaults nofile 65536, above what dockerd may have here: the default yields, naming the limit;
    # a layer that enforces it is refused, naming the limit.
    limit = systemd_host.nofile_hard_limit()
    yielded = systemd_host.dockharden("plan")
    assert yielded.returncode == 0 and "Traceback" not in yielded.stderr, yielded.stderr
    assert f"Hard 65536 is above dockerd's own hard limit {limit} here" in yielded.stdout, yielded.stdout
    systemd_host.write_file("/etc/dockharden/layers/nofile.toml",
                            '[daemon.default-ulimits]\nnofile = { Name = "nofile", Hard = 65536, Soft = 65536 }\n')
    refused = systemd_host.dockharden("plan", "--layer", "/etc/dockharden/layers/nofile.toml")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"hard limit {limit}" in refused.stderr

    done = systemd_host.dockharden("plan", "--json", "--profile", "baseline,tls", *systemd_host.fit_limits_layer())
    assert done.returncode in (0, 2), done.stderr
    doc = json.loads(done.stdout)
    assert doc["root"] == "/" and doc["engine_version"] == systemd_host.engine_version()
    # Under systemd the tls layer keeps docker.service's socket activation (read from the unit) and
    # moves -H out of ExecStart with a drop-in, which needs a daemon-reload.
    daemon = next(c for c in doc["changes"] if c["path"] == "/etc/docker/daemon.json")
    hosts = next(k["new"] for k in daemon["keys"] if k["key"] == "hosts")
    assert hosts[0] == "fd://"
    assert any(c["path"].startswith("/etc/systemd/system/docker.service.d/") for c in doc["changes"])
    assert {"service": "systemd", "action": "daemon-reload"}.items() <= doc["services"][0].items()
    plain = systemd_host.dockharden("plan", "--profile", "baseline,tls", *systemd_host.fit_limits_layer())
    assert "systemd daemon-reload" in plain.stdout and "root /" in plain.stdout


def test_a_file_written_inside_survives_stop_and_boot_and_run_does_not(systemd_host):
    systemd_host.write_file("/etc/dockharden-test/kept", "kept\n")
    systemd_host.write_file("/run/dockharden-test-gone", "gone\n")

    systemd_host.reboot()

    assert systemd_host.boots == 2
    assert systemd_host.read_text("/etc/dockharden-test/kept") == "kept\n"
    assert not systemd_host.path("/run/dockharden-test-gone").exists()
    assert systemd_host.is_active("docker") == "active"
    assert systemd_host.run(["dockharden", "--help"]).returncode == 0
    # The journal is persistent: two boots, and the previous one's docker lines are still there.
    assert len(systemd_host.run(["journalctl", "--list-boots", "--no-pager", "-q"]).stdout.splitlines()) == 2
    assert "Started" in systemd_host.journal("docker", boot="-1")


def test_a_published_port_answers_from_a_second_namespace_over_a_veth(bare_systemd_host, make_netns):
    image = bare_systemd_host.import_busybox_image()
    bare_systemd_host.docker("run", "-d", "--name", "web", "-p", "8080:80", image,
                        "httpd", "-f", "-p", "80", "-h", "/www")
    outside = make_netns()
    link = outside.link(bare_systemd_host)
    answer = outside.run(["busybox", "nc", "-w", "5", link.host_ip, "8080"],
                         input="GET /index.html HTTP/1.0\r\n\r\n")
    assert "200 OK" in answer.stdout and "dockharden-test-page" in answer.stdout
    # Nothing else is reachable: the machine's own network has only lo, the veth and docker's.
    assert outside.run(["busybox", "nc", "-w", "2", link.host_ip, "8081"], input="x", check=False).returncode != 0


def test_sshd_answers_the_controller_on_two_machines(make_systemd_host, make_controller, tmp_path):
    first, second = make_systemd_host(dockharden=False), make_systemd_host(dockharden=False)
    controller = make_controller(first, second)
    assert controller.ssh(first, ["hostname"]).stdout.strip() == first.name
    assert controller.ssh(second, ["systemctl", "is-active", "docker"]).stdout.strip() == "active"
    # What a fleet test will do: Ansible over SSH from the controller, with the guest's Python.
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(controller.inventory())
    done = controller.run([ansible_bin("ansible"), "-i", str(inventory), "machines", "-m", "ansible.builtin.command",
                           "-a", "systemctl is-active docker"], check=False, timeout=300,
                          env=controller.ansible_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("CHANGED | rc=0") == 2 and first.name in done.stdout and second.name in done.stdout


def test_a_rootless_daemon_runs_under_the_users_systemd_on_the_engines_default_image_store(bare_systemd_host, engine):
    uid = bare_systemd_host.add_user("alice")
    bare_systemd_host.start_user_manager("alice")
    setup = bare_systemd_host.install_rootless("alice")  # Debian's copy off PATH, Docker CE's in /usr/bin
    if bare_systemd_host.rootless_setuptool() == "/usr/bin/dockerd-rootless-setuptool.sh":
        assert setup.returncode == 0, setup.stderr  # the CLI is beside it: every step ran
    assert bare_systemd_host.user_systemctl("alice", "is-active", "docker").stdout.strip() == "active"
    info = json.loads(bare_systemd_host.run_as("alice", ["docker", "info", "--format", "{{json .}}"],
                                               env={"DOCKER_HOST": f"unix:///run/user/{uid}/docker.sock"}).stdout)
    assert "name=rootless" in info["SecurityOptions"]
    store = dict(tuple(row) for row in info["DriverStatus"]).get("driver-type")
    if engine.docker_major >= 29:  # a fresh install of Engine 29 starts on the containerd image store
        assert (info["Driver"], store) == ("overlayfs", "io.containerd.snapshotter.v1")
    else:
        assert (info["Driver"], store) == ("overlay2", None)


def test_the_daemon_is_the_lines_own_and_the_ce_line_has_nothing_of_debians_docker_io(bare_systemd_host, engine):
    host = bare_systemd_host
    exec_start = host.show("docker", "ExecStart")["ExecStart"]
    packages = host.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n"]).stdout.split("\n")
    installed = {line.split()[0] for line in packages if line.endswith("ii ")}
    if engine.ce is None:  # Debian's docker.io: its daemon in /usr/sbin, its unit
        assert "path=/usr/sbin/dockerd" in exec_start and "docker.io" in installed
        return
    # Docker CE's layout: moby's unit runs the tarball's dockerd from /usr/bin, socket-activated
    assert "path=/usr/bin/dockerd" in exec_start and "--containerd=/run/containerd/containerd.sock" in exec_start
    assert host.show("docker", "FragmentPath")["FragmentPath"] == "/usr/lib/systemd/system/docker.service"
    assert host.is_active("docker.socket") == "active" and host.is_active("containerd") == "active"
    assert "docker.io" not in installed and {"containerd", "runc", "docker-cli"} <= installed
    for gone in ("/usr/sbin/dockerd", "/usr/sbin/docker-proxy", "/etc/init.d/docker", "/etc/default/docker"):
        assert not host.path(gone).exists(), gone
    assert host.run(["dpkg", "-S", "/usr/bin/dockerd"], check=False).returncode != 0  # no package owns it
    assert host.run(["dockerd", "--version"]).stdout.startswith(f"Docker version {host.engine_version()}, build ")
    assert host.run(["getent", "group", "docker"]).stdout.startswith("docker:")
    assert "tini" in host.run(["docker-init", "--version"]).stdout
    api = host.docker("version", "--format", "{{.Client.APIVersion}}").stdout.strip()
    assert tuple(map(int, api.split("."))) >= (1, 44)  # sid's CLI speaks what Engine 29 needs at least


def test_a_missing_engine_tarball_fails_the_line_with_how_to_make_it_and_starts_no_build(tmp_path, monkeypatch):
    import rootfs

    [ce] = [e for e in rootfs.ENGINES if e.ce is not None]
    monkeypatch.setenv(ce.ce.env, str(tmp_path / "gone.tar.zst"))
    assert rootfs.build_in_background([ce]) == []
    with pytest.raises(rootfs.BuildError) as err:
        rootfs.ensure_base(ce)
    assert f"{tmp_path}/gone.tar.zst is missing" in str(err.value) and "scripts/build-engine29.sh" in str(err.value)
    assert ce.ce.env in str(err.value)
