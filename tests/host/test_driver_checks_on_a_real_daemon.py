"""What dockerd --validate accepts and the real daemon refuses at start, refused by plan: log options the
driver does not take, a default-runtime the daemon does not have. Real dockerd 20.10 in a namespace host."""

import json

DAEMON_JSON = "etc/docker/daemon.json"
SYSLOG = {"log-driver": "syslog", "log-opts": {"syslog-address": "udp://127.0.0.1:514"}}


def write_layer(host, name: str, text: str) -> str:
    path = host.dir / "etc/dockharden/layers" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return f"/etc/dockharden/layers/{name}"


def refuses_to_start(host, config: dict) -> str:
    """The real daemon given `config`: its start fails; returns its log. The original file is put back."""
    path = host.dir / DAEMON_JSON
    before = path.read_bytes() if path.exists() else None
    host.stop_dockerd()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    try:
        assert host.ctl("start").returncode != 0
        return host.log()
    finally:
        path.write_bytes(before) if before is not None else path.unlink()
        host.start_dockerd()


def test_a_layer_adding_max_size_to_a_syslog_host_is_refused_by_plan_naming_the_option(docker_host):
    (docker_host.dir / DAEMON_JSON).write_text(json.dumps(SYSLOG))
    docker_host.restart_dockerd()
    assert docker_host.info()["LoggingDriver"] == "syslog"
    layer = write_layer(docker_host, "rotate.toml", '[daemon."log-opts"]\nmax-size = "10m"\n')
    done = docker_host.dockharden("plan", "--profile", "prune", "--layer", layer)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "max-size" in done.stderr and "syslog" in done.stderr and "rotate.toml" in done.stderr
    # the claim, on the real daemon: it does not start with that file
    merged = {**SYSLOG, "log-opts": {**SYSLOG["log-opts"], "max-size": "10m"}}
    assert "unknown log opt 'max-size' for syslog log driver" in refuses_to_start(docker_host, merged)


def test_the_syslog_hosts_own_file_plans_without_a_refusal(docker_host):
    (docker_host.dir / DAEMON_JSON).write_text(json.dumps(SYSLOG))
    docker_host.restart_dockerd()
    layer = write_layer(docker_host, "debug.toml", "[daemon]\ndebug = true\n")
    done = docker_host.dockharden("plan", "--profile", "prune", "--layer", layer)
    assert done.returncode == 0, done.stderr


def test_a_default_runtime_the_daemon_does_not_have_is_refused_by_plan(docker_host):
    layer = write_layer(docker_host, "runtime.toml", '[daemon]\ndefault-runtime = "crun"\n')
    done = docker_host.dockharden("plan", "--profile", "prune", "--layer", layer)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "default-runtime" in done.stderr and "crun" in done.stderr and "runtime.toml" in done.stderr
    assert "specified default runtime 'crun' does not exist" in refuses_to_start(docker_host, {"default-runtime": "crun"})


def test_a_default_runtime_the_daemon_has_is_planned(docker_host):
    layer = write_layer(docker_host, "runtime.toml", '[daemon]\ndefault-runtime = "io.containerd.runc.v2"\n')
    done = docker_host.dockharden("plan", "--profile", "prune", "--layer", layer)
    assert done.returncode == 0, done.stderr


POOL_LAYER = '[daemon]\ndefault-address-pools = [{ base = "172.20.0.0/14", size = 24 }]\n'


def test_a_layers_pool_overlapping_a_route_of_the_host_is_refused_naming_both(docker_host):
    for argv in (["ip", "link", "add", "vpn0", "type", "veth", "peer", "name", "vpn1"], ["ip", "link", "set", "vpn0", "up"],
                 ["ip", "route", "add", "172.21.0.0/16", "dev", "vpn0"]):
        assert docker_host.run(argv).returncode == 0
    layer = write_layer(docker_host, "pools.toml", POOL_LAYER)
    done = docker_host.dockharden("plan", "--profile", "prune", "--layer", layer)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "172.20.0.0/14" in done.stderr and "172.21.0.0/16 (dev vpn0)" in done.stderr
    assert "pools.toml" in done.stderr and "default-address-pools = [{ base =" in done.stderr


def test_a_layers_pool_overlapping_an_existing_docker_network_is_refused_and_a_free_one_planned(docker_host):
    docker_host.docker("network", "create", "--subnet", "172.22.5.0/24", "app")
    layer = write_layer(docker_host, "pools.toml", POOL_LAYER)
    done = docker_host.dockharden("plan", "--profile", "prune", "--layer", layer)
    assert done.returncode == 1 and "docker network app (172.22.5.0/24)" in done.stderr, done.stderr
    free = write_layer(docker_host, "free.toml", POOL_LAYER.replace("172.20.0.0/14", "10.200.0.0/16"))
    done = docker_host.dockharden("plan", "--profile", "prune", "--layer", free)
    assert done.returncode == 0, done.stderr


def remote_logging(host) -> dict:
    done = host.dockharden("check", "--json", "--benchmark", "1.8", timeout=180)
    assert done.returncode in (0, 2), done.stderr
    return next(c for c in json.loads(done.stdout)["controls"] if c["key"] == "daemon.remote-logging")


def test_check_says_which_log_driver_the_real_daemon_uses_syslog_passing_json_file_failing(docker_host):
    control = remote_logging(docker_host)
    assert control["id"] == "2.14" and control["status"] == "fail"
    assert "log driver json-file in use" in control["evidence"]
    (docker_host.dir / DAEMON_JSON).write_text(json.dumps(SYSLOG))
    docker_host.restart_dockerd()
    control = remote_logging(docker_host)
    assert control["status"] == "pass" and "log driver syslog in use: a remote driver" in control["evidence"]
