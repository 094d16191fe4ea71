"""The controls on plain facts: Engine 20.10's reporting and a current engine's; each benchmark version's IDs."""

import pytest

from dockharden.core.schema import daemon_keys
from dockharden.host.check_facts import flags_to_config
from dockharden.inspect.benchmarks import VERSIONS, benchmark
from dockharden.inspect.cis import FAIL, INFO, NA, PASS, UNVERIFIABLE, Facts, FileFacts, apply_probe, controls, evaluate

V16 = benchmark("1.6")

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


def facts(config=None, info=INFO_20_10, icc="false", files=None, watched=(), existing=(), **more):
    config = dict(HARDENED if config is None else config)
    return Facts(config=config, config_sources={k: "daemon.json" for k in config}, info=info,
                 bridge_options={"com.docker.network.bridge.enable_icc": icc} if info else {},
                 audit_watched=frozenset(watched), existing=frozenset(existing), files=files or {}, docker_gid=998,
                 **more)


def by_id(results):
    """v1.6.0's IDs (the tests below were written for them), unless the results are of another version."""
    return {r.id: r for r in results}


def v16(found):
    return evaluate(found, V16)


def test_a_hardened_20_10_daemon_passes_its_controls_and_no_new_privileges_from_the_config_is_not_verifiable():
    results = by_id(v16(facts()))
    for control in ("2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8", "2.9", "2.15", "2.16", "2.18"):
        assert results[control].status == PASS, (control, results[control].evidence)
    assert results["2.14"].status == UNVERIFIABLE and "Engine before 24.0" in results["2.14"].evidence
    assert "no-new-privileges = true (daemon.json)" in results["2.14"].evidence


def test_a_current_engine_must_report_no_new_privileges_in_security_options():
    assert by_id(v16(facts(info=INFO_29)))["2.14"].status == PASS
    missing = dict(INFO_29, SecurityOptions=["name=seccomp,profile=builtin", "name=userns"])
    result = by_id(v16(facts(info=missing)))["2.14"]
    assert result.status == FAIL and result.fix == "layer baseline (no-new-privileges)"


def test_an_unhardened_daemon_fails_with_the_layer_that_fixes_each_control():
    info = dict(INFO_20_10, LiveRestoreEnabled=False, SecurityOptions=["name=seccomp,profile=default"])
    results = by_id(v16(facts(config={}, info=info, icc="true")))
    expected = {"2.2": "layer baseline (icc false)", "2.8": "layer baseline (default-ulimits)",
                "2.9": "layer userns", "2.14": "layer baseline (no-new-privileges)",
                "2.15": "layer baseline (live-restore)", "2.16": "layer baseline (userland-proxy false)"}
    for control, fix in expected.items():
        assert (results[control].status, results[control].fix) == (FAIL, fix)
    assert results["2.7"].status == NA and results["2.1"].status == INFO


def test_tcp_without_client_verification_fails_2_7():
    config = dict(HARDENED, tlsverify=False)
    assert by_id(v16(facts(config=config)))["2.7"].status == FAIL


def test_live_restore_is_not_required_on_a_swarm_node():
    info = dict(INFO_20_10, LiveRestoreEnabled=False, Swarm={"LocalNodeState": "active"})
    assert by_id(v16(facts(info=info)))["2.15"].status == NA


def test_audit_controls_read_the_kernels_rules_and_missing_paths_are_not_applicable():
    existing = {"/etc/docker", "/usr/sbin/dockerd"}
    results = by_id(v16(facts(watched={"/etc/docker", "/usr/sbin/dockerd"}, existing=existing)))
    assert results["1.1.6"].status == PASS and results["1.1.3"].status == PASS
    assert results["1.1.4"].status == FAIL  # /run/containerd: watched whether or not it exists
    assert results["1.1.13"].status == NA


def test_file_permissions_are_this_mode_or_stricter_but_the_server_key_exactly_0400():
    files = {"/etc/docker/daemon.json": FileFacts(path="/etc/docker/daemon.json", exists=True, mode=0o600, uid=0, gid=0),
             "/etc/docker/tls/server-key.pem": FileFacts(path="/etc/docker/tls/server-key.pem", exists=True, mode=0o600, uid=0, gid=0),
             "/etc/docker/tls/ca.pem": FileFacts(path="/etc/docker/tls/ca.pem", exists=True, mode=0o644, uid=0, gid=0),
             "/var/run/docker.sock": FileFacts(path="/var/run/docker.sock", exists=True, mode=0o660, uid=0, gid=998)}
    results = by_id(v16(facts(files=files)))
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
    results = v16(facts(config=dict(HARDENED, **{"no-new-privileges": False})))
    settled = by_id(apply_probe(results, {"no_new_privs": True, "root_remapped": True, "icc_blocked": True}))
    assert settled["2.14"].status == PASS and "NoNewPrivs = true" in settled["2.14"].evidence


def test_every_row_of_every_version_is_answered_by_a_check_written_once():
    checks = controls()
    for version in VERSIONS:
        table = benchmark(version)
        assert {row.key for row in table.rows} <= set(checks), version
        assert len({row.id for row in table.rows}) == len(table.rows)
    assert {row.key for v in VERSIONS for row in benchmark(v).rows} == set(checks)


def test_v1_8_inserts_devicemapper_as_2_7_and_renumbers_the_rest_of_section_2():
    v17, v18 = benchmark("1.7"), benchmark("1.8")
    assert v18.row_for_id("2.7").key == "daemon.no-devicemapper" and v17.row_for_key("daemon.no-devicemapper") is None
    for old in range(7, 19):
        assert v17.row_for_id(f"2.{old}").key == v18.row_for_id(f"2.{old + 1}").key
    assert [r.id for r in v17.rows if r.id.startswith(("1.", "3."))] == \
        [r.id for r in v18.rows if r.id.startswith(("1.", "3."))]
    results = {r.id: r for r in evaluate(facts(info=dict(INFO_29, Driver="devicemapper")), v18)}
    assert results["2.7"].status == FAIL and results["2.8"].key == "daemon.tls" and results["2.8"].status == PASS


def test_3_21_is_the_sysconfig_files_permissions_and_3_22_its_ownership_in_every_version():
    files = {"/etc/sysconfig/docker": FileFacts(path="/etc/sysconfig/docker", exists=True, mode=0o666, uid=0, gid=0)}
    for version in VERSIONS:
        results = {r.id: r for r in evaluate(facts(files=files), benchmark(version))}
        assert results["3.21"].key == "file.etc-sysconfig-docker.mode" and results["3.21"].status == FAIL
        assert "permissions" in results["3.21"].title and "0666" in results["3.21"].evidence
        assert results["3.22"].key == "file.etc-sysconfig-docker.owner" and results["3.22"].status == PASS
        assert "ownership" in results["3.22"].title


def test_1_1_1_is_a_result_with_its_evidence_labelled_manual_as_the_benchmark_labels_it():
    on_root = {r.id: r for r in evaluate(facts(data_root_separate=False, data_root_mount="/"), benchmark("1.8"))}
    own = {r.id: r for r in evaluate(facts(data_root_separate=True, data_root_mount="/var/lib/docker"), V16)}
    assert on_root["1.1.1"].status == FAIL and "mounted at /" in on_root["1.1.1"].evidence
    assert on_root["1.1.1"].assessment == "Manual" and on_root["1.1.1"].fix
    assert own["1.1.1"].status == PASS and "its own" in own["1.1.1"].evidence


@pytest.mark.parametrize("version,status,says", [
    ("20.10.24+dfsg1", FAIL, "line 20.10 is end of life"), ("28.5.2+dfsg3", FAIL, "line 28 is end of life"),
    ("29.1.0", FAIL, "behind 29.7.2"), ("29.7.2", PASS, "latest patch known"), ("29.8.0", PASS, "latest patch known"),
    (None, UNVERIFIABLE, "does not answer"),
])
def test_1_2_2_says_when_the_engine_is_end_of_life_or_behind_its_lines_latest_patch(version, status, says):
    info = dict(INFO_29, ServerVersion=version) if version else None
    result = {r.id: r for r in evaluate(facts(info=info), benchmark("1.7"))}["1.2.2"]
    assert result.status == status and says in result.evidence, result.evidence
    assert result.title == "Ensure that the version of Docker is up to date"


def test_1_1_8_and_3_23_follow_the_containerd_socket_dockerd_uses():
    sock = "/run/docker/containerd/containerd.sock"
    found = facts(watched={sock}, existing={sock}, containerd_socket=sock, containerd_found_by="dockerd's own containerd",
                  files={sock: FileFacts(path=sock, exists=True, mode=0o660, uid=0, gid=0)})
    results = {r.id: r for r in evaluate(found, benchmark("1.8"))}
    assert results["1.1.8"].status == PASS and sock in results["1.1.8"].evidence
    assert results["3.23"].status == PASS and results["3.24"].status == PASS and sock in results["3.24"].evidence


def test_level_1_leaves_out_the_level_2_controls_and_level_2_includes_level_1():
    one, two = evaluate(facts(), benchmark("1.8"), level=1), evaluate(facts(), benchmark("1.8"), level=2)
    assert {r.level for r in one} == {"1"} and "2.10" not in {r.id for r in one}  # 1.8 2.10: userns, Level 2
    assert {r.id for r in one} < {r.id for r in two} and len(two) == 63 + 12  # sections 1-3, then 4.1 and section 5's 11
    v16_one = {r.id for r in evaluate(facts(), V16, level=1)}
    assert {"1.1.3", "1.2.1"} <= v16_one  # listed at both levels / no level given (a general recommendation)


@pytest.mark.parametrize("control,key", [("2.2", "icc"), ("2.9", "userns-remap"), ("2.14", "no-new-privileges"),
                                         ("2.15", "live-restore")])
def test_a_setting_the_daemon_must_show_is_not_verifiable_on_the_file_s_word_when_the_daemon_does_not_answer(
        control, key):
    asked = by_id(v16(facts(info=None)))[control]
    assert asked.status == UNVERIFIABLE and "the daemon does not answer" in asked.evidence, asked
    assert f"{key} = " in asked.evidence and "True" not in asked.evidence
    unasked = by_id(v16(facts(config={}, info=None)))[control]
    assert unasked.status == FAIL and unasked.fix


@pytest.mark.parametrize("driver, status, said", [
    ("syslog", PASS, "a remote driver"), ("gelf", PASS, "a remote driver"), ("journald", PASS, "journal"),
    ("json-file", FAIL, "log driver json-file in use"), ("local", FAIL, "log driver local in use"),
    ("loki:latest", INFO, "a plugin")])
def test_remote_logging_says_which_driver_is_in_use_and_passes_remote_drivers_and_journald(driver, status, said):
    found = by_id(evaluate(facts(info=dict(INFO_29, LoggingDriver=driver)), benchmark("1.8.0")))
    assert found["2.14"].status == status and said in found["2.14"].evidence
    assert by_id(evaluate(facts(info=dict(INFO_29, LoggingDriver=driver)), V16))["2.13"].status == status


def test_remote_logging_without_a_daemon_judges_the_configured_driver_and_names_its_source():
    result = by_id(v16(facts({"log-driver": "json-file"}, info=None)))["2.13"]
    assert result.status == FAIL and "configured (daemon.json)" in result.evidence


def test_icc_on_a_host_without_iptables_fails_and_says_baseline_cannot_fix_it_until_iptables_is_on():
    config = {k: v for k, v in HARDENED.items() if k != "icc"} | {"iptables": False}
    result = by_id(v16(facts(config=config, icc="true")))["2.2"]
    assert result.status == FAIL
    assert result.evidence == ("default bridge enable_icc = true; iptables = false (daemon.json): icc false needs "
                               "iptables, so baseline leaves icc out until it is on")
    assert by_id(v16(facts(icc="true")))["2.2"].evidence == "default bridge enable_icc = true"  # iptables on: as before
