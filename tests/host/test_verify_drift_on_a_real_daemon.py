"""verify proves drift: on a real dockerd 20.10 with baseline,userns,tls applied (ufw active, the
host's own audit key), an effective setting is changed behind dockharden's back; verify names the
mismatch and exits 2 (1 stays for errors); apply puts it right and verify exits 0 again."""

import json

import pytest
from managed_host import result_of

STACK = ("--profile", "baseline,userns,tls")


@pytest.fixture
def hardened(managed):
    managed.host.run(["ufw", "--force", "enable"])
    done = managed.apply(*STACK, *managed.layers)
    assert done.returncode == 0 and result_of(done)["result"] == "applied", done.stdout + done.stderr
    in_force = verify(managed)
    assert in_force.returncode == 0, in_force.stdout + in_force.stderr
    return managed


def verify(managed):
    return managed.host.dockharden("verify", "--json", *STACK, *managed.layers, timeout=180)


def mismatches(done) -> dict[str, str]:
    assert done.returncode == 2, done.stdout + done.stderr
    return {c["check"]: c["detail"] for c in json.loads(done.stdout)["checks"] if c["status"] == "drift"}


def put_right(managed):
    done = managed.apply(*STACK, *managed.layers)
    assert done.returncode == 0 and result_of(done)["result"] == "applied", done.stdout + done.stderr
    again = verify(managed)
    assert again.returncode == 0, again.stdout + again.stderr
    return result_of(done)


def test_a_daemon_json_key_edited_and_the_daemon_restarted_is_named_and_apply_puts_it_back(hardened):
    host = hardened.host
    path = host.dir / "etc/docker/daemon.json"
    config = json.loads(path.read_text())
    config["live-restore"] = False
    path.write_text(json.dumps(config, indent=2))
    host.restart_dockerd()
    assert host.info()["LiveRestoreEnabled"] is False
    found = mismatches(verify(hardened))
    assert found["daemon live-restore"] == "live-restore: wanted true, the daemon reports false"
    assert found["file /etc/docker/daemon.json"].startswith("would be updated by apply")
    put_right(hardened)
    assert host.info()["LiveRestoreEnabled"] is True


def test_an_audit_watch_removed_from_the_kernel_is_named_and_apply_loads_it_again(hardened):
    watch = next(w for w in hardened.loaded_watches() if w.startswith("-w /etc/docker/daemon.json "))
    hardened.host.run(["auditctl", "-W", "/etc/docker/daemon.json", "-p", "rwxa", "-k", hardened.key])
    assert watch not in hardened.loaded_watches()
    found = mismatches(verify(hardened))
    assert found == {"audit watches loaded": "missing: /etc/docker/daemon.json"}
    result = put_right(hardened)
    assert watch in hardened.loaded_watches()
    assert {"service": "auditd", "action": "reload"} in [{k: s[k] for k in ("service", "action")}
                                                          for s in result["services"]]


def test_a_flushed_docker_user_chain_is_named_and_apply_restores_the_block(hardened):
    host = hardened.host
    host.run(["iptables", "-F", "DOCKER-USER"])
    found = mismatches(verify(hardened))
    assert list(found) == ["DOCKER-USER chain"]
    assert "-A DOCKER-USER -d 172.20.0.0/14 -m conntrack --ctstate NEW -j DROP" in found["DOCKER-USER chain"]
    put_right(hardened)
    assert "-A DOCKER-USER -d 172.20.0.0/14 -m conntrack --ctstate NEW -j DROP" in \
        host.run(["iptables", "-S", "DOCKER-USER"]).stdout


def test_a_tls_keys_loosened_mode_is_named_and_apply_makes_it_0400_again(hardened):
    key = hardened.host.dir / "etc/docker/tls/server-key.pem"
    key.chmod(0o644)
    found = mismatches(verify(hardened))
    assert list(found) == ["file /etc/docker/tls/server-key.pem"]
    assert "mode 0644, wanted 0400" in found["file /etc/docker/tls/server-key.pem"]
    put_right(hardened)
    assert oct(key.stat().st_mode & 0o777) == "0o400"


def test_verify_still_exits_1_on_an_error_after_drift(hardened):
    (hardened.host.dir / "etc/docker/daemon.json").write_text('{"live-restore": true,}')
    done = verify(hardened)
    assert done.returncode == 1 and done.stderr.startswith("dockharden: error: ") and "Traceback" not in done.stderr


def test_a_removed_watch_and_an_edited_daemon_json_are_both_put_right_by_one_apply(hardened):
    host = hardened.host
    hardened.host.run(["auditctl", "-W", "/etc/docker", "-p", "rwxa", "-k", hardened.key])
    path = host.dir / "etc/docker/daemon.json"
    config = json.loads(path.read_text())
    config["icc"] = True
    path.write_text(json.dumps(config, indent=2))
    host.restart_dockerd()
    found = mismatches(verify(hardened))
    assert found["audit watches loaded"] == "missing: /etc/docker" and "daemon icc" in found
    result = put_right(hardened)
    assert [s["service"] for s in result["services"]] == ["docker", "auditd"]
    assert any(w.startswith("-w /etc/docker ") for w in hardened.loaded_watches())


def test_what_the_daemon_cannot_show_is_not_verifiable_and_the_summary_never_says_all_is_in_force(hardened,
                                                                                                    record_property):
    done = verify(hardened)
    assert done.returncode == 0, done.stdout + done.stderr  # nothing drifts: CI stays green
    doc = json.loads(done.stdout)
    status = {c["check"]: c["status"] for c in doc["checks"]}
    config = json.loads((hardened.host.dir / "etc/docker/daemon.json").read_text())
    assert status["daemon live-restore"] == status["daemon icc"] == status["daemon userns-remap"] == "in_force"
    assert status["daemon no-new-privileges"] == "not_verifiable"   # Engine 20.10 does not report it
    for key in ("userland-proxy", "log-opts", "default-ulimits"):
        assert key not in config or status[f"daemon {key}"] == "not_verifiable", key
    apparmor = hardened.host.run(["cat", "/sys/module/apparmor/parameters/enabled"], check=False).stdout.strip()
    record_property("kernel_branch", "apparmor on" if apparmor == "Y" else f"apparmor off ({apparmor or 'absent'})")
    if "AppArmor" in status and apparmor != "Y":
        assert status["AppArmor"] == "not_verifiable"
    counts = doc["counts"]
    assert counts["drift"] == 0 and counts["not_verifiable"] >= 2 and counts["in_force"] > 0
    assert doc["ok"] is False and doc["drift"] is False
    assert counts == {s: sum(v == s for v in status.values()) for s in counts}
    text = hardened.host.dockharden("verify", *STACK, *hardened.layers, timeout=180)
    assert text.returncode == 0, text.stdout + text.stderr
    last = text.stdout.splitlines()[-1]
    assert f"{counts['not_verifiable']} not verifiable" in last and "in force where it can be seen" in last
    assert "everything desired is in force" not in text.stdout.lower()
