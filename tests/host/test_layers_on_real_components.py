"""The hardening layers on real components: a TLS handshake, the kernel's audit rules, a real ufw,
a container under the seccomp profile, and a probe container showing what the daemon enforces."""

import json
from datetime import UTC

from managed_host import ORIGINAL, result_of


def tls_docker(host, *args, client=True):
    env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/etc/docker/tls/client"} if client else {}
    argv = ["docker", "-H", "tcp://127.0.0.1:2376", *args] if client else \
        ["docker", "-H", "tcp://127.0.0.1:2376", "--tls", "--tlscacert", "/etc/docker/tls/ca.pem", *args]
    return host.run(argv, env=env, check=False, timeout=60)


def test_baseline_userns_tls_make_every_layer_effective_on_real_components(managed):
    host = managed.host
    host.run(["ufw", "--force", "enable"])
    done = managed.apply("--profile", "baseline,userns,tls", *managed.layers)
    assert done.returncode == 0, done.stdout + done.stderr
    assert result_of(done)["result"] == "applied"
    # TLS: the API answers with the client bundle, refuses a client without a certificate, and the
    # local socket still works.
    with_bundle = tls_docker(host, "version", "--format", "{{.Server.Version}}")
    assert with_bundle.returncode == 0 and with_bundle.stdout.strip().startswith("20.10"), with_bundle.stderr
    without = tls_docker(host, "version", client=False)
    assert without.returncode != 0 and "certificate" in without.stderr.lower()
    assert host.info()["ServerVersion"].startswith("20.10")
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in (host.dir / "etc/docker/tls").rglob("*.pem")}
    assert modes["server-key.pem"] == modes["ca-key.pem"] == modes["key.pem"] == "0o400"
    assert modes["server-cert.pem"] == modes["ca.pem"] == "0o444"
    # audit: the kernel holds the watches; ufw: the live DOCKER-USER chain holds the block
    assert any(w.startswith("-w /etc/docker/daemon.json ") for w in managed.loaded_watches())
    chain = host.run(["iptables", "-S", "DOCKER-USER"]).stdout
    assert "-A DOCKER-USER -d 172.20.0.0/14 -m conntrack --ctstate NEW -j DROP" in chain
    # a probe container: no-new-privileges, a remapped root, the default nofile limit, seccomp filtering
    image = host.import_busybox_image()
    probe = host.docker("run", "--rm", "--security-opt", "seccomp=/etc/docker/seccomp/default.json", image,
                        "sh", "-c", "grep -E 'NoNewPrivs|Seccomp:' /proc/self/status; cat /proc/self/uid_map; "
                                    "ulimit -n").stdout
    nofile = json.loads(managed.daemon_json())["default-ulimits"]["nofile"]["Soft"]
    lines = probe.split("\n")
    assert "NoNewPrivs:\t1" in probe and "Seccomp:\t2" in probe
    uid_map = next(line.split() for line in lines if line.strip().startswith("0 "))
    assert uid_map[1] != "0"
    assert lines[-2].strip() == str(nofile)
    assert host.dockharden("verify").returncode == 0
    again = host.dockharden("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout


def test_a_strict_seccomp_layer_sets_the_profile_daemon_wide_and_containers_run_under_it(managed):
    strict = managed.write_layer("strict.toml", '[seccomp]\nmode = "strict"\n')
    done = managed.apply("--profile", "baseline", *managed.layers, "--layer", strict)
    assert done.returncode == 0, done.stdout + done.stderr
    security = managed.host.info()["SecurityOptions"]
    assert "name=seccomp,profile=/etc/docker/seccomp/default.json" in security
    image = managed.host.import_busybox_image()
    assert "Seccomp:\t2" in managed.host.docker("run", "--rm", image, "grep", "Seccomp:", "/proc/self/status").stdout


def test_the_logging_layer_switches_containers_to_journald_and_drops_json_file_options(managed):
    done = managed.apply("--profile", "baseline,logging", *managed.layers)
    assert done.returncode == 0, done.stdout + done.stderr
    assert managed.host.info()["LoggingDriver"] == "journald"
    config = json.loads(managed.daemon_json())
    assert "max-size" not in config["log-opts"] and config["log-opts"]["tag"] == "{{.Name}}"


def test_operator_certificates_that_do_not_match_are_refused_and_nothing_is_written(managed):
    tls_dir = managed.host.dir / "etc/docker/tls"
    tls_dir.mkdir(parents=True)
    # an operator's PKI: CA and server cert, but a key of another pair
    from datetime import datetime

    from dockharden.targets import certs
    files, _ = certs.plan_certificates({}, dns_names=[], ip_addresses=[], hostname="h", days=365,
                                       now=datetime.now(UTC))
    other, _ = certs.plan_certificates({}, dns_names=[], ip_addresses=[], hostname="h", days=365,
                                       now=datetime.now(UTC))
    by_path = {f.path: f.content for f in files}
    (tls_dir / "ca.pem").write_bytes(by_path[certs.CA])
    (tls_dir / "server-cert.pem").write_bytes(by_path[certs.SERVER_CERT])
    (tls_dir / "server-key.pem").write_bytes(next(f.content for f in other if f.path == certs.SERVER_KEY))
    done = managed.apply("--profile", "baseline,tls", *managed.layers)
    assert done.returncode == 1 and "does not match" in done.stderr and "Traceback" not in done.stderr
    assert managed.daemon_json() == ORIGINAL
