"""Moving from chaifeng/ufw-docker on a real dockerd with a real ufw: the host runs ufw-docker's block and a
`ufw route allow` rule for a published port (what `ufw-docker allow web 80` adds); dockharden adopts the
block, ufw loads the result, the port stays open to outside through the route rule and is closed by the
managed block once the rule goes; rollback brings ufw-docker's block back, byte for byte and live."""

import json
import sys
from pathlib import Path

from managed_host import result_of
from test_published_ports_on_a_real_daemon import Serving

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_ufw_docker import CLASSIC  # noqa: E402  (the block ufw-docker's install writes)


def test_ufw_dockers_block_is_adopted_its_route_rules_keep_working_and_rollback_restores_it(managed):
    serving = Serving(managed)
    host, rules = serving.host, host_rules(serving)
    rules.write_bytes(rules.read_bytes() + CLASSIC.encode())
    host.run(["ufw", "reload"])
    address = host.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web").stdout.strip()
    # ufw-docker in force: the published port is closed to the outside client until ufw-docker allows it
    assert not serving.answers_outside()
    route = ["route", "allow", "proto", "tcp", "from", "any", "to", address, "port", "80"]
    host.run(["ufw", *route])
    assert serving.answers_outside()
    original = rules.read_bytes()

    refused = host.dockharden("plan", "--profile", "baseline", *managed.layers)
    assert refused.returncode == 1 and "chaifeng/ufw-docker's DOCKER-USER block" in refused.stderr
    assert "--adopt-ufw-docker" in refused.stderr

    done = managed.apply("--profile", "baseline", *managed.layers, "--adopt-ufw-docker")
    assert done.returncode == 0, done.stdout + done.stderr
    assert result_of(done)["result"] == "applied"
    chain = host.run(["iptables", "-S", "DOCKER-USER"]).stdout
    assert "-A DOCKER-USER -j ufw-user-forward" in chain and "-A DOCKER-USER -s 10.0.0.0/8 -j RETURN" in chain
    assert "ufw-docker-logging-deny" not in chain
    assert serving.answers_outside()  # through the route rule, which the managed block still jumps to
    again = host.dockharden("plan", "--json", "--profile", "baseline", *managed.layers)
    assert again.returncode == 0 and json.loads(again.stdout)["has_changes"] is False, again.stdout + again.stderr

    host.run(["ufw", "route", "delete", "allow", *route[2:]])
    assert not serving.answers_outside()  # the managed block closes it, as baseline says

    host.run(["ufw", *route])
    back = host.dockharden("rollback", "--yes", "--json", timeout=180)
    assert back.returncode == 0, back.stdout + back.stderr
    assert rules.read_bytes() == original
    assert "ufw-docker-logging-deny" in host.run(["iptables", "-S", "DOCKER-USER"]).stdout
    assert serving.answers_outside()


def host_rules(serving) -> Path:
    return serving.host.dir / "etc/ufw/after.rules"
