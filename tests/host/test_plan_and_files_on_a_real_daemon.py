"""The core pipeline against a real dockerd in a private host: what plan reads, and that what apply
writes is accepted and effective once the real daemon restarts with it."""

import json

LAYER_DIR = "/etc/dockharden/layers"


def write_layer(host, name: str, text: str) -> str:
    path = host.dir / "etc/dockharden/layers" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return f"{LAYER_DIR}/{name}"


def fit_limits_layer(host) -> list[str]:
    """`--layer` args that lower nofile to what this machine lets dockerd grant (none on a normal host).

    Sandboxes such as this CI machine run without CAP_SYS_RESOURCE and a hard nofile limit below
    baseline's 65536; baseline's default yields there (see the test below), and the other tests say
    what an operator of such a host would.
    """
    limits = (host.run(["cat", f"/proc/{host.dockerd_pid()}/limits"]).stdout.splitlines())
    hard = int(next(r for r in limits if r.startswith("Max open files")).split()[4])
    if hard >= 65536:
        return []
    layer = write_layer(host, "fit.toml", "[daemon.default-ulimits]\n"
                        f'nofile = {{ Name = "nofile", Hard = {hard}, Soft = {hard} }}\n')
    return ["--layer", layer]


def plan_json(host, *args):
    done = host.dockharden("plan", "--json", *args)
    assert done.returncode in (0, 2), done.stderr
    return json.loads(done.stdout)


def test_plan_reads_the_running_engine_and_leaves_out_what_it_does_not_know(docker_host):
    doc = plan_json(docker_host, "--profile", "baseline", *fit_limits_layer(docker_host))
    assert doc["engine_version"].startswith("20.10")
    assert any("containerd-snapshotter" in n["message"] and "24.0" in n["message"] for n in doc["notes"])
    daemon = next(c for c in doc["changes"] if c["path"] == "/etc/docker/daemon.json")
    assert "features" not in {k["key"].split("/")[0] for k in daemon["keys"]}
    assert {"service": "docker", "action": "restart"}.items() <= doc["services"][0].items()
    assert "no container is running" in doc["services"][0]["reason"]


def test_hosts_in_a_layer_is_refused_while_the_running_dockerd_has_an_h_flag(ns_host):
    ns_host.start_dockerd(["-H", "unix:///var/run/docker.sock"])
    layer = write_layer(ns_host, "hosts.toml", '[daemon]\nhosts = ["unix:///var/run/docker.sock"]\n')
    before = (ns_host.dir / "etc/docker").exists() and sorted((ns_host.dir / "etc/docker").iterdir())
    done = ns_host.dockharden("apply", "--layer", layer, "--no-restart", "--yes")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "`hosts`" in done.stderr and "-H" in done.stderr
    assert ((ns_host.dir / "etc/docker").exists() and sorted((ns_host.dir / "etc/docker").iterdir())) == before


def test_baseline_written_by_apply_starts_the_real_daemon_and_is_effective_with_operator_keys_kept(docker_host):
    (docker_host.dir / "etc/docker/daemon.json").write_text('{\n  "debug": true,\n  "labels": ["team=ops"]\n}\n')
    docker_host.restart_dockerd()
    fit = fit_limits_layer(docker_host)
    done = docker_host.dockharden("apply", "--profile", "baseline", *fit, "--no-restart", "--yes")
    assert done.returncode == 0, done.stderr
    docker_host.restart_dockerd()
    info = docker_host.info()
    assert info["LiveRestoreEnabled"] is True and info["LoggingDriver"] == "json-file"
    assert info["Driver"] == "overlay2" and info["Debug"] is True and "team=ops" in info["Labels"]
    icc = docker_host.docker("network", "inspect", "bridge", "--format",
                             '{{index .Options "com.docker.network.bridge.enable_icc"}}').stdout.strip()
    assert icc == "false"
    image = docker_host.import_busybox_image()
    probe = docker_host.docker("run", "--rm", image, "sh", "-c",
                               "grep NoNewPrivs /proc/self/status; ulimit -n").stdout
    wanted = json.loads((docker_host.dir / "etc/docker/daemon.json").read_text())["default-ulimits"]["nofile"]
    assert "NoNewPrivs:\t1" in probe and probe.strip().endswith(str(wanted["Soft"]))
    again = docker_host.dockharden("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_change_to_reloadable_keys_only_is_planned_as_a_reload_of_the_running_daemon(docker_host):
    fit = fit_limits_layer(docker_host)
    assert docker_host.dockharden("apply", "--profile", "baseline", *fit, "--no-restart", "--yes").returncode == 0
    docker_host.restart_dockerd()
    layer = write_layer(docker_host, "debug.toml", "[daemon]\ndebug = true\nmax-concurrent-downloads = 6\n")
    doc = plan_json(docker_host, *fit, "--layer", layer)
    own = ("selection", "state")  # the new layer is a new selection; its keys are newly managed
    assert [c["path"] for c in doc["changes"] if c["target"] not in own] == ["/etc/docker/daemon.json"]
    assert [(s["service"], s["action"]) for s in doc["services"] if s["service"] != "auditd"] == [("docker", "reload")]
    # --no-restart left the rules file's watches out of the kernel: the plan also loads them (audit is
    # machine-wide, so whether they are there depends on other tests' watches under the same key)
    assert all("the kernel lacks watches" in s["reason"] for s in doc["services"] if s["service"] == "auditd")


def test_the_generated_seccomp_profile_runs_a_real_container(docker_host):
    fit = fit_limits_layer(docker_host)
    assert docker_host.dockharden("apply", "--profile", "baseline", *fit, "--no-restart", "--yes").returncode == 0
    image = docker_host.import_busybox_image()
    out = docker_host.docker("run", "--rm", "--security-opt", "seccomp=/etc/docker/seccomp/default.json",
                             image, "sh", "-c", "grep Seccomp: /proc/self/status; id -u").stdout
    assert "Seccomp:\t2" in out and out.strip().endswith("0")


def test_userns_written_by_apply_remaps_root_in_the_real_daemon(docker_host):
    fit = fit_limits_layer(docker_host)
    done = docker_host.dockharden("apply", "--profile", "baseline,userns", *fit, "--no-restart", "--yes")
    assert done.returncode == 0, done.stderr
    docker_host.restart_dockerd()
    assert "name=userns" in docker_host.info()["SecurityOptions"]
    image = docker_host.import_busybox_image()
    uid_map = docker_host.docker("run", "--rm", image, "cat", "/proc/self/uid_map").stdout.split()
    assert uid_map[0] == "0" and uid_map[1] != "0"


def test_the_docker_user_block_passes_real_iptables_restore_and_ufw_loads_it(docker_host):
    fit = fit_limits_layer(docker_host)
    assert docker_host.dockharden("apply", "--profile", "baseline", *fit, "--no-restart", "--yes").returncode == 0
    docker_host.run(["ufw", "--force", "enable"])
    rules = docker_host.run(["iptables", "-S", "DOCKER-USER"]).stdout
    assert "-A DOCKER-USER -d 172.20.0.0/14 -m conntrack --ctstate NEW -j DROP" in rules
    assert "-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN" in rules
    assert "10.0.0.0/8" not in rules and "192.168.0.0/16" not in rules


def test_a_default_ulimit_the_running_daemon_cannot_grant_yields_and_an_enforced_one_is_refused_with_the_limit_named(
        docker_host):
    pid = docker_host.dockerd_pid()
    docker_host.run(["prlimit", "--pid", str(pid), "--nofile=8192:8192"])
    status = docker_host.run(["cat", f"/proc/{pid}/status"]).stdout
    cap_eff = int(next(line for line in status.splitlines() if line.startswith("CapEff:")).split()[1], 16)
    done = docker_host.dockharden("plan", "--profile", "baseline")
    if cap_eff >> 24 & 1:  # with CAP_SYS_RESOURCE runc can raise the limit: nothing to refuse
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "`default-ulimits.nofile`: not written (Hard 65536 is above dockerd's own hard limit 8192 here" in done.stdout
    layer = write_layer(docker_host, "nofile.toml",
                        '[daemon.default-ulimits]\nnofile = { Name = "nofile", Hard = 65536, Soft = 65536 }\n')
    refused = docker_host.dockharden("plan", "--profile", "baseline", "--layer", layer)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "default-ulimits.nofile" in refused.stderr and "8192" in refused.stderr


def test_the_tls_plan_warns_that_an_active_ufw_blocks_the_api_and_that_the_certificate_lacks_the_host_s_address(
        docker_host):
    host = docker_host
    host.run(["ip", "addr", "add", "10.99.0.5/32", "dev", "lo"])  # scope global: an address clients could use
    host.run(["ufw", "--force", "enable"])
    fit = fit_limits_layer(host)

    def warnings(*layers):
        doc = plan_json(host, "--profile", "baseline,tls", *fit, *layers)
        return [n["message"] for n in doc["notes"] if n["level"] == "warning" and n["message"].startswith("tls: ")]

    said = warnings()
    assert any("ufw is active and its default incoming policy is DROP" in m and "port 2376" in m for m in said), said
    assert any("has no name for this host's own address(es) 10.99.0.5:" in m for m in said), said
    layer = write_layer(host, "addr.toml", '[tls]\nip_addresses = ["10.99.0.5"]\n')
    host.run(["ufw", "allow", "2376/tcp"])
    assert warnings("--layer", layer) == []
