"""Issue 21 on a real dockerd: a host whose operator already chose their logging, pools, pull tuning and
turned iptables off takes baseline; the daemon starts with their choices and baseline's enforced keys, and
the plan says which CIS control stays failing."""

import json

OPERATOR = {"iptables": False, "log-driver": "local", "log-opts": {"max-size": "20m"},
            "default-address-pools": [{"base": "10.201.0.0/16", "size": 24}], "max-concurrent-downloads": 7}


def test_an_iptables_off_host_takes_baseline_keeps_its_choices_and_is_told_cis_2_2_stays_failing(managed):
    host = managed.host
    (host.dir / "etc/docker/daemon.json").write_text(json.dumps(OPERATOR, indent=2) + "\n")
    host.restart_dockerd()
    plan = host.dockharden("plan", "--json", "--profile", "baseline", *managed.layers)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    doc = json.loads(plan.stdout)
    kept = {k["key"]: k for k in doc["kept"]}
    assert kept["icc"]["strength"] == "enforces" and kept["log-driver"]["operator_value"] == "local"
    assert any("CIS v1.8.0 2.2" in n["message"] for n in doc["notes"])

    done = managed.apply("--profile", "baseline", *managed.layers)
    assert done.returncode == 0, done.stdout + done.stderr
    config = json.loads(managed.daemon_json())
    assert {k: config[k] for k in OPERATOR} == OPERATOR and "icc" not in config
    assert config["live-restore"] is True and config["no-new-privileges"] is True
    info = host.info()
    assert info["LoggingDriver"] == "local" and info["LiveRestoreEnabled"] is True
    host.docker("network", "create", "dh-pool-check")
    subnet = json.loads(host.docker("network", "inspect", "dh-pool-check").stdout)[0]["IPAM"]["Config"][0]["Subnet"]
    assert subnet.startswith("10.201."), subnet
    host.docker("network", "rm", "dh-pool-check")
