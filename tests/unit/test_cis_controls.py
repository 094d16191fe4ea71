"""The controls on plain facts: Engine 20.10's reporting and a current engine's."""

from dockharden.checkfacts import flags_to_config
from dockharden.cis import FAIL, INFO, NA, PASS, Facts, FileFacts, apply_probe, evaluate
from dockharden.validate import daemon_keys

HARDENED = {"icc": False, "live-restore": True, "userland-proxy": False, "no-new-privileges": True,
            "userns-remap": "default", "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 1, "Soft": 1}},
            "hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"], "tlsverify": True,
            "tlscacert": "/etc/docker/tls/ca.pem", "tlscert": "/etc/docker/tls/server-cert.pem",
            "tlskey": "/etc/docker/tls/server-key.pem"}
INFO_20_10 = {"ServerVersion": "20.10.24+dfsg1", "LiveRestoreEnabled": True, "Driver": "overlay2",
              "LoggingDriver": "json-file", "SecurityOptions": ["name=seccomp,profile=default", "name=userns"],
              "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"]}, "ExperimentalBuild": False}
INFO_29 = dict(INFO_20_10, ServerVersion="29.7.2", Driver="overlayfs",
               SecurityOptions=["name=seccomp,profile=builtin", "name=userns", "name=cgroupns",
                                "name=no-new-privileges"])


def facts(config=None, info=INFO_20_10, icc="false", files=None, watched=(), existing=()):
    config = dict(HARDENED if config is None else config)
    return Facts(config=config, config_sources={k: "daemon.json" for k in config}, info=info,
                 bridge_options={"com.docker.network.bridge.enable_icc": icc} if info else {},
                 audit_watched=frozenset(watched), existing=frozenset(existing), files=files or {}, docker_gid=998)


def by_id(results):
    return {r.id: r for r in results}


def test_a_hardened_20_10_daemon_passes_its_controls_with_no_new_privileges_from_the_config():
    results = by_id(evaluate(facts()))
    for control in ("2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8", "2.9", "2.14", "2.15", "2.16", "2.18"):
        assert results[control].status == PASS, (control, results[control].evidence)
    assert "Engine before 24.0" in results["2.14"].evidence


def test_a_current_engine_must_report_no_new_privileges_in_security_options():
    assert by_id(evaluate(facts(info=INFO_29)))["2.14"].status == PASS
    missing = dict(INFO_29, SecurityOptions=["name=seccomp,profile=builtin", "name=userns"])
    result = by_id(evaluate(facts(info=missing)))["2.14"]
    assert result.status == FAIL and result.fix == "layer baseline (no-new-privileges)"


def test_an_unhardened_daemon_fails_with_the_layer_that_fixes_each_control():
    info = dict(INFO_20_10, LiveRestoreEnabled=False, SecurityOptions=["name=seccomp,profile=default"])
    results = by_id(evaluate(facts(config={}, info=info, icc="true")))
    expected = {"2.2": "layer baseline (icc false)", "2.8": "layer baseline (default-ulimits)",
                "2.9": "layer userns", "2.14": "layer baseline (no-new-privileges)",
                "2.15": "layer baseline (live-restore)", "2.16": "layer baseline (userland-proxy false)"}
    for control, fix in expected.items():
        assert (results[control].status, results[control].fix) == (FAIL, fix)
    assert results["2.7"].status == NA and results["2.1"].status == INFO


def test_tcp_without_client_verification_fails_2_7():
    config = dict(HARDENED, tlsverify=False)
    assert by_id(evaluate(facts(config=config)))["2.7"].status == FAIL


def test_live_restore_is_not_required_on_a_swarm_node():
    info = dict(INFO_20_10, LiveRestoreEnabled=False, Swarm={"LocalNodeState": "active"})
    assert by_id(evaluate(facts(info=info)))["2.15"].status == NA


def test_audit_controls_read_the_kernels_rules_and_missing_paths_are_not_applicable():
    existing = {"/etc/docker", "/usr/sbin/dockerd"}
    results = by_id(evaluate(facts(watched={"/etc/docker", "/usr/sbin/dockerd"}, existing=existing)))
    assert results["1.1.6"].status == PASS and results["1.1.3"].status == PASS
    assert results["1.1.4"].status == FAIL  # /run/containerd: watched whether or not it exists
    assert results["1.1.13"].status == NA


def test_file_permissions_are_this_mode_or_stricter_but_the_server_key_exactly_0400():
    files = {"/etc/docker/daemon.json": FileFacts("/etc/docker/daemon.json", True, 0o600, 0, 0),
             "/etc/docker/tls/server-key.pem": FileFacts("/etc/docker/tls/server-key.pem", True, 0o600, 0, 0),
             "/etc/docker/tls/ca.pem": FileFacts("/etc/docker/tls/ca.pem", True, 0o644, 0, 0),
             "/var/run/docker.sock": FileFacts("/var/run/docker.sock", True, 0o660, 0, 998)}
    results = by_id(evaluate(facts(files=files)))
    assert results["3.18"].status == PASS and results["3.14"].status == FAIL and results["3.10"].status == FAIL
    assert results["3.15"].status == PASS and results["3.16"].status == PASS
    assert results["3.22"].status == NA


def test_dockerd_flags_become_daemon_json_keys_with_their_types():
    keys = daemon_keys()
    found = flags_to_config(["-H", "fd://", "--host=tcp://0.0.0.0:2376", "--icc=false", "--live-restore",
                             "--log-level", "debug", "--insecure-registry=10.0.0.0/8"], keys)
    assert found["hosts"][0] == ["fd://", "tcp://0.0.0.0:2376"]
    assert found["icc"] == (False, "flag --icc") and found["live-restore"][0] is True
    assert found["log-level"][0] == "debug" and found["insecure-registries"][0] == ["10.0.0.0/8"]


def test_a_probe_settles_what_engine_20_10_does_not_report():
    results = evaluate(facts(config=dict(HARDENED, **{"no-new-privileges": False})))
    settled = by_id(apply_probe(results, {"no_new_privs": True, "root_remapped": True, "icc_blocked": True}))
    assert settled["2.14"].status == PASS and "NoNewPrivs = True" in settled["2.14"].evidence
