"""Section 5 (and 4.1) on plain values: each control passes, fails naming the containers and the inspect field,
passes with nothing running, cannot judge without a daemon; exceptions by key; every format; the AppArmor state."""

import datetime as dt
import json
from dataclasses import replace

import pytest
from junitparser import Failure, JUnitXml
from prometheus_client.parser import text_string_to_metric_families

from dockharden.host.check_facts import container_facts
from dockharden.inspect.benchmarks import VERSIONS, benchmark
from dockharden.inspect.cis import EXCEPTED, FAIL, PASS, UNVERIFIABLE, ContainerFacts, Facts, evaluate
from dockharden.inspect.controls import apparmor_state
from dockharden.inspect.exceptions import apply_exceptions, parse_exceptions
from dockharden.inspect.formats import Run, check_document, render_junit, render_text, render_textfile, sarif_document

INFO = {"ServerVersion": "20.10.24+dfsg1", "SecurityOptions": ["name=seccomp,profile=default"]}
GOOD = ContainerFacts(name="good", id="aaaaaaaaaaaa", network_mode="bridge", pid_mode="", ipc_mode="private",
                      uts_mode="", memory=64 << 20, pids_limit=100, security_opt=("no-new-privileges",),
                      apparmor_profile="docker-default", user="1000", mount_sources=("/srv/data",))
# key -> (the bad container, the evidence its failure shows)
BAD = {
    "container.privileged": (dict(name="p", privileged=True), "HostConfig.Privileged = true"),
    "container.host-network": (dict(name="n", network_mode="host"), "HostConfig.NetworkMode = host"),
    "container.host-pid": (dict(name="pid", pid_mode="host"), "HostConfig.PidMode = host"),
    "container.host-ipc": (dict(name="ipc", ipc_mode="host"), "HostConfig.IpcMode = host"),
    "container.host-uts": (dict(name="uts", uts_mode="host"), "HostConfig.UTSMode = host"),
    "container.memory": (dict(name="m", memory=0), "HostConfig.Memory = 0 (no limit)"),
    "container.pids-limit": (dict(name="pl", pids_limit=-1), "HostConfig.PidsLimit = -1 (no limit)"),
    "container.seccomp": (dict(name="s", security_opt=("no-new-privileges", "seccomp=unconfined")),
                          "HostConfig.SecurityOpt = seccomp=unconfined"),
    "container.docker-socket": (dict(name="sock", mount_sources=("/srv/data", "/var/run/docker.sock")),
                                "Mounts[].Source = /var/run/docker.sock"),
    "container.no-new-privileges": (dict(name="nnp", security_opt=()),
                                    "HostConfig.SecurityOpt = no no-new-privileges"),
    "container.root-user": (dict(name="root", user=""), "Config.User = '' (root)"),
    "container.apparmor": (dict(name="aa", apparmor_profile="unconfined"), "AppArmorProfile = unconfined"),
}
IDS = {"container.root-user": "4.1", "container.apparmor": "5.2", "container.privileged": "5.5",
       "container.host-network": "5.10", "container.memory": "5.11", "container.host-pid": "5.16",
       "container.host-ipc": "5.17", "container.host-uts": "5.21", "container.seccomp": "5.22",
       "container.no-new-privileges": "5.26", "container.pids-limit": "5.29", "container.docker-socket": "5.32"}
APPARMOR_ON = dict(INFO, SecurityOptions=["name=apparmor", "name=seccomp,profile=default"])


def facts(containers, info=APPARMOR_ON, config=None, kernel="Y", live=True):
    return Facts(config=config or {}, config_sources={}, info=info, bridge_options={}, audit_watched=frozenset(),
                 containers=None if containers is None else tuple(containers), apparmor_kernel=kernel, live=live)


def by_key(found, version="1.8"):
    return {r.key: r for r in evaluate(found, benchmark(version)) if r.key.startswith("container.")}


def bad_variant(key):
    """GOOD with the one bad setting of `key`, so that it fails that control only."""
    return replace(GOOD, id="bbbbbbbbbbbb", **BAD[key][0])


@pytest.mark.parametrize("version", VERSIONS)
def test_each_version_lists_4_1_and_the_eleven_section_5_controls_with_the_same_ids(version):
    table = benchmark(version)
    assert {k: table.row_for_key(k).id for k in IDS} == IDS
    assert all(table.row_for_key(k).levels == (1,) and table.row_for_key(k).assessment == "Manual" for k in IDS)


def test_a_well_run_container_passes_every_control_and_is_named_in_the_evidence():
    results = by_key(facts([GOOD]))
    assert {k: r.status for k, r in results.items()} == dict.fromkeys(IDS, PASS)
    assert "1 running container(s) (good (aaaaaaaaaaaa))" in results["container.privileged"].evidence
    assert "daemon applies docker-default" in results["container.apparmor"].evidence


@pytest.mark.parametrize("key", sorted(BAD))
def test_a_container_with_the_bad_setting_fails_its_control_naming_it_with_the_field_and_value(key):
    bad, evidence = bad_variant(key), BAD[key][1]
    results = by_key(facts([GOOD, bad]))
    failed = {k for k, r in results.items() if r.status == FAIL}
    assert failed == {key}, {k: results[k].evidence for k in failed}
    assert f"{bad.name} ({bad.id}) {evidence}" in results[key].evidence
    assert "good (aaaaaaaaaaaa)" not in results[key].evidence  # only the bad one is listed
    assert results[key].fix and results[key].id == IDS[key]


def test_with_no_running_container_every_control_passes_saying_so():
    results = by_key(facts([]))
    assert {r.status for r in results.values()} == {PASS}
    assert results["container.privileged"].evidence == "no running container"
    assert results["container.root-user"].evidence == "no userns-remap; no running container"


def test_when_the_daemon_does_not_answer_the_controls_cannot_be_judged():
    results = by_key(facts(None, info=None))
    assert {r.status for r in results.values()} == {UNVERIFIABLE}
    assert results["container.privileged"].evidence == "the daemon does not answer: its containers cannot be listed"


def test_no_new_privileges_set_daemon_wide_covers_containers_that_do_not_set_it_but_not_one_that_turns_it_off():
    plain = ContainerFacts(name="plain", id="888888888888")
    off = ContainerFacts(name="off", id="999999999999", security_opt=("no-new-privileges:false",))
    wide = dict(INFO, SecurityOptions=["name=no-new-privileges"])
    result = by_key(facts([plain, off], info=wide))["container.no-new-privileges"]
    assert result.status == FAIL and "off (999999999999) HostConfig.SecurityOpt = no-new-privileges=false" in result.evidence
    assert "plain" not in result.evidence and result.evidence.startswith("daemon-wide: SecurityOptions has")
    from_config = by_key(facts([plain], info=INFO, config={"no-new-privileges": True}))["container.no-new-privileges"]
    assert from_config.status == UNVERIFIABLE and "no-new-privileges = true (not set)" in from_config.evidence
    assert "plain (888888888888) rely on the configured daemon-wide setting" in from_config.evidence
    own = ContainerFacts(name="own", id="777777777777", security_opt=("no-new-privileges",))
    assert by_key(facts([own], info=INFO, config={"no-new-privileges": True}))[
        "container.no-new-privileges"].status == PASS
    current = dict(INFO, ServerVersion="29.7.2")  # reports it: configured but not reported is not daemon-wide
    unloaded = by_key(facts([plain], info=current, config={"no-new-privileges": True}))["container.no-new-privileges"]
    assert unloaded.status == FAIL and "not set daemon-wide" in unloaded.evidence


def test_root_in_a_container_passes_under_userns_remap_unless_the_container_leaves_the_user_namespace():
    userns = dict(APPARMOR_ON, SecurityOptions=["name=userns", "name=apparmor"])
    root = ContainerFacts(name="r", id="aaaaaaaaaaa1", user="root")
    host_ns = ContainerFacts(name="h", id="aaaaaaaaaaa2", user="0:0", userns_mode="host")
    result = by_key(facts([root, host_ns], info=userns))["container.root-user"]
    assert result.status == FAIL and "r (" not in result.evidence
    assert "h (aaaaaaaaaaa2) Config.User = '0:0' with HostConfig.UsernsMode = host" in result.evidence
    assert by_key(facts([root], info=userns))["container.root-user"].status == PASS
    named = ContainerFacts(name="u", id="aaaaaaaaaaa3", user="app:app")
    assert by_key(facts([named]))["container.root-user"].status == PASS


@pytest.mark.parametrize("kernel, options, live, status, says", [
    ("Y", ["name=apparmor"], True, PASS, "the daemon applies docker-default"),
    ("Y", ["name=seccomp,profile=default"], True, FAIL, "SecurityOptions lacks name=apparmor"),
    ("N", ["name=apparmor"], True, UNVERIFIABLE, "the kernel has no AppArmor enabled"),
    ("", [], True, UNVERIFIABLE, "/sys/module/apparmor/parameters/enabled is absent"),
    ("Y", None, True, UNVERIFIABLE, "the daemon does not answer"),
    ("Y", ["name=apparmor"], False, UNVERIFIABLE, "a --root other than / is a tree"),
])
def test_apparmor_is_reported_from_the_kernel_and_security_options_and_a_kernel_without_it_is_said_not_passed(
        kernel, options, live, status, says):
    found, evidence = apparmor_state(kernel, options, live)
    assert found == status and says in evidence


def test_the_apparmor_control_says_so_on_a_kernel_without_apparmor_even_with_an_unconfined_container():
    unconfined = ContainerFacts(name="aa", id="777777777777", apparmor_profile="unconfined")
    result = by_key(facts([unconfined], kernel=""))["container.apparmor"]
    assert result.status == UNVERIFIABLE and "no AppArmor" in result.evidence


def test_an_inspected_container_becomes_its_facts():
    inspected = {"Id": "0123456789abcdef" * 4, "Name": "/web", "AppArmorProfile": "unconfined",
                 "Config": {"User": "1000:1000"},
                 "HostConfig": {"Privileged": True, "NetworkMode": "host", "PidMode": "host", "IpcMode": "host",
                                "UTSMode": "host", "Memory": 0, "PidsLimit": None,
                                "SecurityOpt": ["seccomp=unconfined"]},
                 "Mounts": [{"Type": "bind", "Source": "/var/run/docker.sock", "Destination": "/var/run/docker.sock"}]}
    found = container_facts(inspected)
    assert (found.name, found.id, found.named) == ("web", "0123456789ab", "web (0123456789ab)")
    assert found.privileged and found.network_mode == found.pid_mode == found.ipc_mode == found.uts_mode == "host"
    assert found.pids_limit is None and found.memory == 0 and found.user == "1000:1000"
    assert found.mount_sources == ("/var/run/docker.sock",) and found.security_opt == ("seccomp=unconfined",)
    assert container_facts({"Id": "f" * 64}).name == "f" * 12  # no name: the short id


def test_an_exception_by_key_excepts_a_section_5_failure_in_every_version():
    bad = bad_variant("container.privileged")
    exceptions = parse_exceptions(b'[[exception]]\ncontrol = "container.privileged"\nreason = "CI runner needs it"\n'
                                  b'owner = "ops"\nexpires = 2027-06-30\n', "exceptions.toml")
    for version in VERSIONS:
        results = apply_exceptions(evaluate(facts([GOOD, bad]), benchmark(version)), exceptions, dt.date(2026, 12, 1))
        [result] = [r for r in results if r.key == "container.privileged"]
        assert result.id == "5.5" and result.status == EXCEPTED and not result.counted
        assert result.exception["reason"] == "CI runner needs it"


def section_5_results():
    bad = bad_variant("container.docker-socket")
    return [r for r in evaluate(facts([GOOD, bad]), benchmark("1.8")) if r.key.startswith("container.")]


RUN = Run(benchmark="CIS Docker Benchmark v1.8.0", version="1.8", level=2, time="2026-12-01T02:00:00+00:00",
          host="host-1", exceptions_file="")


def test_every_format_carries_a_section_5_failure_with_its_container_and_evidence(tmp_path):
    results = section_5_results()
    doc = check_document(results, RUN)
    socket = next(c for c in doc["controls"] if c["id"] == "5.32")
    assert socket["status"] == FAIL and socket["counted"] and "sock (bbbbbbbbbbbb)" in socket["evidence"]
    json.dumps(doc)
    text = render_text(results, RUN)
    assert "5.32" in text and "Mounts[].Source = /var/run/docker.sock" in text
    assert text.rstrip().endswith("1 failure(s) counted: 5.32")
    sarif = {r["ruleId"]: r for r in sarif_document(results, RUN)["runs"][0]["results"]}
    assert sarif["container.docker-socket"]["kind"] == "fail" and sarif["container.privileged"]["kind"] == "pass"
    path = tmp_path / "check.xml"
    path.write_text(render_junit(results, RUN))
    [suite] = list(JUnitXml.fromfile(str(path)))
    cases = {case.name.split()[0]: case for case in suite}
    assert isinstance(cases["5.32"].result[0], Failure) and cases["5.5"].is_passed
    assert cases["5.32"].classname == "cis-1.8.section-5" and cases["4.1"].classname == "cis-1.8.section-4"
    samples = {s.labels["id"]: s.value for f in text_string_to_metric_families(render_textfile(results, RUN, 1.0))
               if f.name == "dockharden_cis_control_failing" for s in f.samples}
    assert samples["5.32"] == 1 and samples["5.5"] == 0 and len(samples) == 12


def test_verify_has_an_apparmor_row_that_says_not_verifiable_for_a_root_that_is_not_the_running_kernel(tmp_path):
    from dockharden.inspect.verify import apparmor_row

    (tmp_path / "sys/module/apparmor/parameters").mkdir(parents=True)
    (tmp_path / "sys/module/apparmor/parameters/enabled").write_text("Y\n")
    row = apparmor_row(str(tmp_path), {"SecurityOptions": ["name=apparmor"]})
    assert row.check == "AppArmor" and row.status == "not_verifiable" and not row.ok
    assert row.detail.startswith("not verifiable here: a --root other than /")


def test_the_kernel_s_apparmor_switch_is_read_through_the_root(tmp_path):
    from dockharden.host.check_facts import apparmor_kernel

    assert apparmor_kernel(str(tmp_path)) == ""
    (tmp_path / "sys/module/apparmor/parameters").mkdir(parents=True)
    (tmp_path / "sys/module/apparmor/parameters/enabled").write_text("Y\n")
    assert apparmor_kernel(str(tmp_path)) == "Y"


def test_root_in_a_container_of_a_rootless_daemon_is_not_root_on_the_host():
    rootless = dict(APPARMOR_ON, SecurityOptions=["name=rootless", "name=apparmor"])
    result = by_key(facts([replace(GOOD, user="")], info=rootless))["container.root-user"]
    assert result.status == PASS and result.evidence.startswith("rootless daemon (root in a container is")
