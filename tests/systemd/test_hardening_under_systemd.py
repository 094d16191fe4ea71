"""dockharden on real hosts booted with systemd as PID 1, on Engines 20.10, 26.1, 28.5 and 29.7.

Each machine runs dockharden installed from a wheel, with its defaults: root `/`, the systemd manager
detected, no dockharden.toml. The only layer added is the one an operator of these machines needs
(dockerd's nofile hard limit is 20000 here; baseline asks for 65536). Kernel audit is refused inside
any container: dockharden writes the rules file and says the watches cannot be verified there.
"""

from __future__ import annotations

import json

import pytest
import rootfs

pytestmark = pytest.mark.systemd

STACK = "baseline,userns,tls"
DROPIN = "/etc/systemd/system/docker.service.d/dockharden.conf"
CLIENT = "/etc/docker/tls/client"


def apply(host, *args, env=None):
    """`dockharden apply --yes --json ARGS` inside; (process, its result document)."""
    done = host.dockharden("apply", "--yes", "--json", *args, *host.fit_limits_layer(), env=env)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout, done.stderr
    return done, json.loads(done.stdout[done.stdout.index("{"):])


def write_layer(host, name: str, text: str) -> list[str]:
    host.write_file(f"/etc/dockharden/layers/{name}", text)
    return ["--layer", f"/etc/dockharden/layers/{name}"]


def icc(host) -> str:
    return host.docker("network", "inspect", "bridge", "--format",
                       '{{index .Options "com.docker.network.bridge.enable_icc"}}').stdout.strip()


def tls_docker(host, *args, bundle: bool = True, check: bool = True):
    """The docker CLI over TCP with mutual TLS (or with the CA only: no client certificate)."""
    flags = ["--tlsverify", "--tlscacert", f"{CLIENT}/ca.pem"]
    if bundle:
        flags += ["--tlscert", f"{CLIENT}/cert.pem", "--tlskey", f"{CLIENT}/key.pem"]
    return host.run(["docker", "-H", "tcp://127.0.0.1:2376", *flags, *args], check=check, timeout=60)


def engine_major(host) -> int:
    return int(host.engine_version().split(".")[0])


def test_the_full_stack_is_effective_through_the_dropin_and_a_second_apply_does_nothing(systemd_host):
    host = systemd_host
    plan = host.dockharden("plan", "--profile", STACK, *host.fit_limits_layer())
    assert plan.returncode == 0, plan.stderr
    assert "kernel audit is not available here" in plan.stdout and "systemd daemon-reload" in plan.stdout

    done, result = apply(host, "--profile", STACK)
    assert done.returncode == 0 and result["result"] == "applied", done.stdout + done.stderr
    info = host.info()
    assert info["LiveRestoreEnabled"] is True and "name=userns" in info["SecurityOptions"]
    if engine_major(host) >= 24:
        assert "name=no-new-privileges" in info["SecurityOptions"]
    assert icc(host) == "false"
    # -H moved out of ExecStart by the drop-in: dockerd takes its hosts from daemon.json
    assert "-H" not in host.show("docker", "ExecStart")["ExecStart"].split("argv[]=")[1].split(";")[0].split()
    assert host.path(DROPIN).is_file()
    assert json.loads(host.read_text("/etc/docker/daemon.json"))["hosts"][0] == "fd://"
    # the TLS API answers a client with the bundle, refuses one without; the local socket still serves
    assert tls_docker(host, "version", "--format", "{{.Server.Version}}").stdout.strip() == host.engine_version()
    assert tls_docker(host, "version", bundle=False, check=False).returncode != 0
    assert host.docker("-H", "unix:///var/run/docker.sock", "info", "--format", "{{.ServerVersion}}").returncode == 0
    # the rules file is written; the kernel cannot load it here
    assert "-w /etc/docker/daemon.json" in host.read_text("/etc/audit/rules.d/docker.rules")

    pid = host.main_pid()
    again, result = apply(host)
    assert again.returncode == 0 and result["result"] == "unchanged", again.stdout + again.stderr
    assert host.main_pid() == pid
    verify = host.dockharden("verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "not verifiable here" in verify.stdout
    assert "in force where it can be seen" in verify.stdout.splitlines()[-1]  # audit cannot be read in here
    assert "everything desired is in force" not in verify.stdout


def test_a_reloadable_only_change_goes_through_systemctl_reload_with_the_same_main_pid(systemd_host):
    host = systemd_host
    assert apply(host, "--profile", "baseline")[1]["result"] == "applied"
    pid, cursor = host.main_pid(), host.journal_cursor()
    done, result = apply(host, "--profile", "baseline", *write_layer(host, "debug.toml", "[daemon]\ndebug = true\n"))
    assert done.returncode == 0 and result["result"] == "applied", done.stdout + done.stderr
    assert [s["action"] for s in result["services"] if s["service"] == "docker"] == ["reload"]
    assert host.main_pid() == pid and host.info()["Debug"] is True
    assert "Reload" in host.journal("docker", since=cursor)  # systemd's own "Reloading docker.service"


def test_a_restart_the_daemon_refuses_is_rolled_back_with_its_journal_line_and_the_daemon_up_on_the_old_files(
        systemd_host):
    host = systemd_host
    before = host.read_text("/etc/docker/daemon.json") if host.path("/etc/docker/daemon.json").exists() else None
    # dockerd --validate accepts any storage option; only overlay2 itself refuses it, at start
    bad = write_layer(host, "driver.toml", '[daemon]\nstorage-opts = ["overlay2.bogus=1"]\n'
                                           '[daemon.features]\ncontainerd-snapshotter = false\n')
    done, result = apply(host, "--profile", "baseline", *bad)
    assert done.returncode == 1 and result["result"] == "rolled_back", done.stdout + done.stderr
    said = " ".join(result["messages"])
    assert "the daemon says:" in said and "overlay2.bogus" in said  # dockerd's own line, from the journal
    after = host.read_text("/etc/docker/daemon.json") if host.path("/etc/docker/daemon.json").exists() else None
    assert after == before
    assert host.is_active("docker") == "active" and host.info()["Driver"] in ("overlay2", "overlayfs")
    assert not host.path(DROPIN).exists()


def test_a_failure_after_a_successful_restart_is_rolled_back_with_the_daemon_restarted_on_the_restored_files(
        systemd_host):
    host = systemd_host
    pid = host.main_pid()
    done, result = apply(host, "--profile", STACK, env={"DOCKHARDEN_FAILPOINT": "fail:during-verify"})
    assert done.returncode == 1 and result["result"] == "rolled_back", done.stdout + done.stderr
    assert "the daemon runs with them" in " ".join(result["messages"])
    info = host.info()
    assert info["LiveRestoreEnabled"] is False and "name=userns" not in info["SecurityOptions"]
    assert host.main_pid() not in (0, pid) and icc(host) == "true"
    assert not host.path(DROPIN).exists()
    assert "-H" in host.show("docker", "ExecStart")["ExecStart"]  # systemd reloaded without the drop-in
    assert tls_docker(host, "version", check=False).returncode != 0  # nothing listens on 2376 any more


def test_a_refused_ufw_reload_after_a_successful_restart_is_rolled_back_with_the_daemon_on_the_restored_files(
        systemd_host):
    host = systemd_host
    host.run(["ufw", "--force", "enable"])
    # the operator broke after.rules without reloading ufw: the next reload fails
    rules = host.read_text("/etc/ufw/after.rules")
    host.write_file("/etc/ufw/after.rules", rules.replace("COMMIT", "-A ufw-after-input -m no-such-match -j DROP\nCOMMIT", 1),
                    mode=0o640)
    before = host.read_text("/etc/ufw/after.rules")
    done, result = apply(host, "--profile", "baseline")
    assert done.returncode == 1 and result["result"] == "rolled_back", done.stdout + done.stderr
    assert "ufw reload failed" in " ".join(result["messages"])
    assert host.read_text("/etc/ufw/after.rules") == before
    assert host.info()["LiveRestoreEnabled"] is False and icc(host) == "true"


def test_four_restart_requiring_applies_in_a_row_all_succeed(systemd_host):
    host = systemd_host
    proxy = write_layer(host, "proxy.toml", "[daemon]\nuserland-proxy = true\n")
    pids = [host.main_pid()]
    for layers in ([], proxy, [], proxy):
        done, result = apply(host, "--profile", "baseline", *layers)
        assert done.returncode == 0 and result["result"] == "applied", done.stdout + done.stderr
        assert [s["action"] for s in result["services"] if s["service"] == "docker"] == ["restart"]
        pids.append(host.main_pid())
    assert len(set(pids)) == 5 and host.is_active("docker") == "active"


def test_after_the_host_is_stopped_and_booted_again_everything_is_in_force_and_verify_passes(systemd_host):
    host = systemd_host
    host.run(["ufw", "--force", "enable"])
    done, result = apply(host, "--profile", STACK)
    assert done.returncode == 0 and result["result"] == "applied", done.stdout + done.stderr

    host.reboot()

    verify = host.dockharden("verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    info = host.info()
    assert info["LiveRestoreEnabled"] is True and "name=userns" in info["SecurityOptions"]
    assert tls_docker(host, "info", "--format", "{{.ServerVersion}}").returncode == 0
    chain = host.run(["iptables", "-S", "DOCKER-USER"]).stdout
    assert "-m conntrack --ctstate NEW -j DROP" in chain  # ufw loaded the managed block at boot


def test_ufw_with_the_managed_block_refuses_a_published_port_except_from_an_allowed_source(
        systemd_host, make_netns):
    host = systemd_host
    allowed, other = make_netns("allowed"), make_netns("other")
    allowed_link, other_link = allowed.link(host), other.link(host)
    host.run(["ufw", "--force", "enable"])
    site = write_layer(host, "allow.toml", f'[ufw]\nallow_sources = ["{allowed_link.peer_ip}/32"]\n')
    done, result = apply(host, "--profile", "baseline", *site)
    assert done.returncode == 0 and result["result"] == "applied", done.stdout + done.stderr

    image = host.import_busybox_image()
    host.docker("run", "-d", "--name", "web", "-p", "8080:80", image, "httpd", "-f", "-p", "80", "-h", "/www")
    request = "GET /index.html HTTP/1.0\r\n\r\n"
    ok = allowed.run(["busybox", "nc", "-w", "5", allowed_link.host_ip, "8080"], input=request, check=False)
    assert "200 OK" in ok.stdout, ok.stdout + ok.stderr
    refused = other.run(["busybox", "nc", "-w", "3", other_link.host_ip, "8080"], input=request, check=False)
    assert "200 OK" not in refused.stdout


# Engine 23 brought `dockerd --validate` and the containerd image store (24): 26.1, 28.5 and 29.7 here.
ENGINES_WITH_VALIDATE = [pytest.param(e, id=e.id) for e in rootfs.ENGINES if e.docker_major >= 24]


@pytest.mark.parametrize("engine", ENGINES_WITH_VALIDATE, indirect=True)
def test_a_value_dockerd_validate_refuses_is_caught_before_any_file_is_written_and_nothing_restarts(systemd_host):
    host = systemd_host
    pid = host.main_pid()
    bad = write_layer(host, "bad.toml", '[daemon]\nlabels = ["env=blue", "env=green"]\n')
    done, result = apply(host, "--profile", "baseline", *bad)
    assert done.returncode == 1, done.stdout + done.stderr
    said = " ".join(result["messages"]) if result.get("messages") else done.stderr
    assert "dockerd --validate refuses the new file" in said and "conflict labels" in said, said
    assert not host.path("/etc/docker/daemon.json").exists()
    assert host.main_pid() == pid


@pytest.mark.parametrize("engine", ENGINES_WITH_VALIDATE, indirect=True)
def test_the_tls_stack_passes_dockerd_validate_with_the_flags_of_the_planned_dropin(systemd_host):
    host = systemd_host
    done, result = apply(host, "--profile", "baseline,tls")
    assert done.returncode == 0 and result["result"] == "applied", done.stdout + done.stderr


def test_a_key_the_engine_removed_is_refused_at_plan_time_with_the_version_that_removed_it(systemd_host):
    host = systemd_host
    fit, version = host.fit_limits_layer(), host.engine_version()  # while dockerd runs: 28 will not start with it
    host.write_file("/etc/docker/daemon.json", '{\n  "api-cors-header": "*"\n}\n')
    host.systemctl("restart", "docker", check=False)
    plan = host.dockharden("plan", "--profile", "baseline", *fit)
    major = version.split(".")[0]
    if int(major) >= 28:  # dockharden asks `dockerd --version`: the daemon is down
        assert plan.returncode == 1 and "Traceback" not in plan.stderr
        assert f"removed in Engine 28.0, and this host runs Engine {major}." in plan.stderr, plan.stderr
    else:  # older engines still accept it: the operator's key is kept
        assert plan.returncode == 0, plan.stderr
        assert host.is_active("docker") == "active"


@pytest.mark.parametrize("engine", ENGINES_WITH_VALIDATE, indirect=True)
def test_baseline_leaves_the_image_store_of_a_populated_host_alone_and_warns_when_a_layer_switches_it(systemd_host):
    host = systemd_host
    if engine_major(host) >= 29:
        upgraded_from_a_graph_driver_engine(host)
    image = host.import_busybox_image()
    host.docker("create", "--name", "kept", image)
    assert host.info()["Driver"] == "overlay2"  # the graph-driver store holds them
    plan = host.dockharden("plan", "--profile", "baseline", *host.fit_limits_layer())
    assert plan.returncode == 0, plan.stderr
    assert "`features.containerd-snapshotter` (from baseline) left out" in plan.stdout
    assert "1 image(s) and 1 container(s)" in plan.stdout
    switch = write_layer(host, "switch.toml", "[daemon.features]\ncontainerd-snapshotter = true\n")
    plan = host.dockharden("plan", "--profile", "baseline", *switch, *host.fit_limits_layer())
    assert "-> containerd (overlayfs)" in plan.stdout and "1 image(s)" in plan.stdout
    userns = host.dockharden("plan", "--profile", "baseline,userns", *host.fit_limits_layer())
    assert "1 image(s), 1 container(s) and 0 volume(s)" in userns.stdout


def upgraded_from_a_graph_driver_engine(host) -> None:
    """Make a fresh Engine 29 host what a host upgraded from Engine 28 is: Engine 29 starts on the
    containerd image store only when the data root holds no graph driver's directory (moby
    daemon/image_store_choice.go, graphdriver.HasPriorDriver); an upgraded host's overlay2/ keeps it
    on overlay2. The graph driver's data is made by the engine itself, told to use it for one start."""
    host.write_file("/etc/docker/daemon.json", '{"features": {"containerd-snapshotter": false}}\n')
    host.systemctl("restart", "docker")
    host.import_busybox_image("dh-prior")  # the first layer in /var/lib/docker/overlay2
    host.run(["rm", "/etc/docker/daemon.json"])
    host.systemctl("reset-failed", "docker")
    host.systemctl("restart", "docker")
    assert host.info()["Driver"] == "overlay2"
    host.docker("rmi", "dh-prior")


@pytest.mark.parametrize("engine", ENGINES_WITH_VALIDATE, indirect=True)
def test_an_empty_host_is_switched_to_the_containerd_image_store_by_baseline(systemd_host):
    host = systemd_host
    done, result = apply(host, "--profile", "baseline")
    assert done.returncode == 0 and result["result"] == "applied", done.stdout + done.stderr
    status = dict(tuple(row) for row in host.info()["DriverStatus"])
    assert status.get("driver-type") == "io.containerd.snapshotter.v1"


def test_check_reports_the_audit_controls_as_not_verifiable_in_a_container(systemd_host):
    host = systemd_host
    assert apply(host, "--profile", "baseline")[1]["result"] == "applied"
    done = host.dockharden("check", "--json")
    assert "Traceback" not in done.stderr
    controls = {c["id"]: c for c in json.loads(done.stdout)["controls"]}
    assert controls["1.1.3"]["status"] == "not_verifiable"
    assert "/usr/bin/dockerd" in controls["1.1.3"]["evidence"] or "/usr/sbin/dockerd" in controls["1.1.3"]["evidence"]


def test_the_wheel_carries_validators_generated_at_build_time(systemd_host):
    found = systemd_host.run(["/opt/dockharden/bin/python", "-c",
                              "import dockharden.schema._fast_daemon as m; print(m.__file__)"]).stdout
    assert "/opt/dockharden/lib/" in found and "site-packages/dockharden/schema/_fast_daemon.py" in found
