"""The layers for the references' remaining items, applied and verified against a real dockerd (20.10 here):
metrics answering on 127.0.0.1:9323 inside the host, the concurrency limits and experimental off in
effect, runsc registered in `docker info` Runtimes with runc the default, the prune units written."""

import json
import re
import shutil
import subprocess

from managed_host import ORIGINAL, result_of

METRICS = ("import urllib.request; r = urllib.request.urlopen('http://127.0.0.1:9323/metrics', timeout=10); "
           "print(r.status); print(r.read().decode())")


def reload_line_config(host) -> dict:
    """The config of the daemon's last `Reloaded configuration` log line (20.10 logs it as JSON)."""
    lines = [line for line in host.log().splitlines() if "Reloaded configuration" in line]
    assert lines, host.log_tail(20)
    text = lines[-1].split("Reloaded configuration:", 1)[1].strip().strip('"').replace('\\"', '"')
    return json.loads(text[: text.rindex("}") + 1])


def test_monitoring_serves_metrics_on_loopback_inside_the_host_and_apply_verifies_it(managed):
    host = managed.host
    done = managed.apply("--profile", "baseline,monitoring", *managed.layers)
    assert done.returncode == 0, done.stdout + done.stderr
    assert result_of(done)["result"] == "applied"
    assert json.loads(managed.daemon_json())["metrics-addr"] == "127.0.0.1:9323"
    answer = host.run(["python3", "-c", METRICS]).stdout
    assert answer.startswith("200\n") and "# HELP engine_daemon" in answer
    # no experimental flag needed on 20.10 (the reference lists none): the daemon runs with it off
    assert host.info()["ExperimentalBuild"] is False
    verified = host.dockharden("verify")
    assert verified.returncode == 0 and "GET /metrics answers" in verified.stdout, verified.stdout
    assert host.dockharden("plan", "--detailed-exitcode").returncode == 0


def test_a_layer_asking_for_metrics_on_every_interface_is_refused_and_nothing_is_written(managed):
    open_to_all = managed.write_layer("open.toml", '[daemon]\nmetrics-addr = "0.0.0.0:9323"\n')
    done = managed.apply("--profile", "baseline,monitoring", *managed.layers, "--layer", open_to_all)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "/etc/dockharden/layers/open.toml" in done.stderr and "daemon.metrics-addr" in done.stderr
    assert "TLS-terminating proxy" in done.stderr
    assert managed.daemon_json() == ORIGINAL


def test_baseline_concurrency_limits_reload_into_the_daemon_and_experimental_stays_off(managed):
    host = managed.host
    done = managed.apply("--profile", "baseline", *managed.layers)
    assert done.returncode == 0, done.stdout + done.stderr
    config = json.loads(managed.daemon_json())
    assert (config["max-concurrent-downloads"], config["max-concurrent-uploads"], config["experimental"]) == (3, 5, False)
    assert host.info()["ExperimentalBuild"] is False
    # a later layer changes only the limits: a reload (SIGHUP), no restart, and the daemon takes the values
    pid = host.dockerd_pid()
    faster = managed.write_layer("faster.toml", "[daemon]\nmax-concurrent-downloads = 6\nmax-concurrent-uploads = 2\n")
    plan = host.dockharden("plan", "--json", "--profile", "baseline", *managed.layers, "--layer", faster)
    services = [(s["service"], s["action"]) for s in json.loads(plan.stdout)["services"]]
    assert services == [("docker", "reload")], plan.stdout
    done = managed.apply("--profile", "baseline", *managed.layers, "--layer", faster)
    assert done.returncode == 0, done.stdout + done.stderr
    assert host.dockerd_pid() == pid
    reloaded = reload_line_config(host)
    assert (reloaded["max-concurrent-downloads"], reloaded["max-concurrent-uploads"]) == (6, 2)


def test_gvisor_registers_runsc_in_docker_info_and_keeps_runc_the_default(managed):
    host = managed.host
    done = managed.apply("--profile", "baseline,gvisor", *managed.layers)
    assert done.returncode == 0, done.stdout + done.stderr
    info = host.info()
    assert info["Runtimes"]["runsc"]["path"] == "/usr/bin/runsc" and info["DefaultRuntime"] == "runc"
    assert host.dockharden("verify").returncode == 0
    # a container under runsc, where gVisor can run. Inside this sandbox it cannot: runsc refuses with
    # "cannot run with network enabled in root network namespace" (the namespace host's network namespace
    # is not one gVisor accepts), --network=none included. dockerd did hand the container to runsc, which
    # is asserted; where the machine allows it, the container runs under gVisor's kernel.
    image = host.import_busybox_image()
    under = host.docker("run", "--rm", "--runtime=runsc", "--network=none", image, "dmesg", check=False, timeout=120)
    if under.returncode == 0:
        assert "gVisor" in under.stdout or "Starting gVisor" in under.stdout, under.stdout
    else:
        assert "unknown or invalid runtime name" not in under.stderr
        assert "OCI runtime" in under.stderr, under.stderr
    assert host.docker("run", "--rm", image, "true").returncode == 0  # runc, the default, still runs containers


def test_gvisor_pointing_at_a_runsc_that_is_not_installed_is_refused_with_the_install_hint(managed):
    elsewhere = managed.write_layer("elsewhere.toml", '[daemon.runtimes.runsc]\npath = "/opt/none/runsc"\n')
    done = managed.apply("--profile", "baseline,gvisor", *managed.layers, "--layer", elsewhere)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "/etc/dockharden/layers/elsewhere.toml, key `daemon.runtimes.runsc.path`" in done.stderr
    assert "apt install runsc" in done.stderr
    assert managed.daemon_json() == ORIGINAL


def test_the_prune_layer_writes_units_systemd_accepts_and_deselecting_it_removes_them(managed):
    host = managed.host
    # no systemd runs docker here: the plan says the timer is not started
    planned = host.dockharden("plan", "--profile", "baseline,prune", *managed.layers)
    assert "nothing starts dockharden-prune.timer" in planned.stdout, planned.stdout
    done = managed.apply("--profile", "baseline,prune", *managed.layers)
    assert done.returncode == 0, done.stdout + done.stderr
    unit_dir = host.dir / "etc/systemd/system"
    service = (unit_dir / "dockharden-prune.service").read_text()
    assert "ExecStart=/usr/bin/docker system prune --force --filter until=168h\n" in service
    assert "ExecStart=/usr/bin/docker builder prune --force --keep-storage 10GB\n" in service
    assert "OnCalendar=weekly" in (unit_dir / "dockharden-prune.timer").read_text()
    if shutil.which("systemd-analyze"):
        checked = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit_dir / "dockharden-prune.service"),
                                  str(unit_dir / "dockharden-prune.timer")], capture_output=True, text=True,
                                 timeout=60)
        problems = [line for line in checked.stderr.splitlines() if "dockharden-prune" in line
                    and not re.search(r"docker\.(service|socket)", line)]
        assert checked.returncode == 0 and not problems, checked.stderr
    # the commands the service runs work against this daemon
    for argv in (["system", "prune", "--force", "--filter", "until=168h"],
                 ["builder", "prune", "--force", "--keep-storage", "10GB"]):
        assert host.docker(*argv, check=False).returncode == 0
    assert host.dockharden("plan", "--detailed-exitcode").returncode == 0
    done = managed.apply("--profile", "baseline", *managed.layers)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (unit_dir / "dockharden-prune.service").exists() and not (unit_dir / "dockharden-prune.timer").exists()
