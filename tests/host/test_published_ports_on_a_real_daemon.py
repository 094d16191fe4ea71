"""Published ports of running containers and the DOCKER-USER block, on a real dockerd 20.10 with a real ufw:
a container serving on a published port, and a client in another network namespace ("outside") that
reaches it through the host, as a client on the LAN does (DNAT, FORWARD, DOCKER-USER).

What the plan promises about each port is checked against what happened to it, from outside and on the host.
"""

import json

import pytest
from managed_host import ORIGINAL, result_of

OUTSIDE_NS = "outside"
HOST_ADDRESS = "198.51.100.1"
CLIENT_ADDRESS = "198.51.100.2"
AFTER_RULES = "etc/ufw/after.rules"


class Serving:
    """The managed host with ufw active, a container `web` publishing 8080 -> 80 (restarted by docker after a
    restart), and an outside client joined to the host by a veth pair."""

    def __init__(self, managed):
        self.managed, self.host = managed, managed.host
        self.host.run(["ufw", "--force", "enable"])
        image = self.host.import_busybox_image()
        self.host.docker("run", "-d", "--name", "web", "--restart", "unless-stopped", "-p", "8080:80", image,
                         "/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/tmp")
        run = self.host.run
        run(["ip", "netns", "add", OUTSIDE_NS])
        run(["ip", "link", "add", "dh-out", "type", "veth", "peer", "name", "dh-in"])
        run(["ip", "link", "set", "dh-in", "netns", OUTSIDE_NS])
        run(["ip", "addr", "add", f"{HOST_ADDRESS}/24", "dev", "dh-out"])
        run(["ip", "link", "set", "dh-out", "up"])
        for argv in (["ip", "addr", "add", f"{CLIENT_ADDRESS}/24", "dev", "dh-in"], ["ip", "link", "set", "dh-in", "up"],
                     ["ip", "link", "set", "lo", "up"], ["ip", "route", "add", "default", "via", HOST_ADDRESS]):
            run(["ip", "netns", "exec", OUTSIDE_NS, *argv])
        assert self.answers_outside(), "the outside client cannot reach the published port before any apply"

    def answers_outside(self, port: int = 8080) -> bool:
        """A TCP connect from the outside namespace to the host's address (3 s)."""
        return self._connects(["ip", "netns", "exec", OUTSIDE_NS], HOST_ADDRESS, port)

    def answers_on_host(self, port: int = 8080) -> bool:
        return self._connects([], "127.0.0.1", port)

    def _connects(self, prefix, address: str, port: int) -> bool:
        import sys

        code = (f"import socket\ntry:\n    socket.create_connection(('{address}', {port}), timeout=3).close()\n"
                "except OSError:\n    raise SystemExit(1)\n")
        return self.host.run([*prefix, sys.executable, "-c", code], check=False).returncode == 0

    def after_rules(self) -> bytes | None:
        path = self.host.dir / AFTER_RULES
        return path.read_bytes() if path.exists() else None


def silent_bindings(workload) -> list[tuple[str, int]]:
    """The (host_ip, host_port) that answered a connect on the host before the run and not after.

    Measured here: dockerd 20.10 with the userland proxy (its default) has docker-proxy listen on [::]:8080
    too, so a connect to [::1]:8080 answers; baseline sets userland-proxy = false, after which nothing
    forwards IPv6 to a container that has no IPv6 address, and [::]:8080 stops answering. apply reports it."""
    return [(p["host_ip"], p["host_port"]) for p in workload["ports_stopped_answering"]]


@pytest.fixture
def serving(managed):
    return Serving(managed)


def test_the_plan_names_the_published_port_baseline_would_close_and_the_layer_line_that_keeps_it_open(serving):
    plan = serving.host.dockharden("plan", "--json", "--profile", "baseline", *serving.managed.layers)
    assert plan.returncode == 0, plan.stderr
    closure = json.loads(plan.stdout)["published_ports_closed"]
    assert closure["ports"] == [{"container": "web", "host_ip": "0.0.0.0", "host_port": 8080, "container_port": 80,
                                 "proto": "tcp", "open_to": []}]
    assert closure["keep_open"] == 'allow_ports = ["8080"]' and closure["takes_effect"] is True
    text = serving.host.dockharden("plan", "--profile", "baseline", *serving.managed.layers).stdout
    assert "Published ports closed to outside sources:" in text
    assert "8080/tcp  web (8080->80/tcp): new connections from outside are dropped" in text


def test_apply_yes_refuses_to_close_a_serving_port_nobody_chose_to_close_and_writes_nothing(serving):
    rules_before = serving.after_rules()
    done = serving.managed.apply("--profile", "baseline", *serving.managed.layers)
    assert done.returncode == 1, done.stdout + done.stderr
    error = result_of(done)["error"]
    assert error["type"] == "PortsClosedError"
    assert "8080/tcp of web (8080->80/tcp)" in error["message"] and "nothing was written" in error["message"]
    assert 'allow_ports = ["8080"]' in error["hint"] and "--close-published-ports" in error["hint"]
    assert "close_published_ports = true" in error["hint"]
    assert serving.managed.daemon_json() == ORIGINAL and serving.after_rules() == rules_before
    assert not (serving.host.dir / "var/lib/dockharden/generations").exists() or \
        not any((serving.host.dir / "var/lib/dockharden/generations").iterdir())
    assert serving.answers_outside()


def test_interactive_apply_names_the_port_in_its_question_and_a_no_changes_nothing(serving):
    done = serving.host.dockharden("apply", "--profile", "baseline", *serving.managed.layers, input="n\n")
    assert done.returncode == 1
    assert "Apply these changes? This closes published port(s) 8080/tcp (web) to outside sources." in done.stdout
    assert serving.managed.daemon_json() == ORIGINAL and serving.answers_outside()


def test_a_layer_that_allows_the_port_keeps_it_reachable_from_outside(serving):
    allow = serving.managed.write_layer("allow.toml", '[ufw]\nallow_ports = ["8080"]\n')
    plan = serving.host.dockharden("plan", "--json", "--profile", "baseline", *serving.managed.layers, "--layer", allow)
    assert json.loads(plan.stdout)["published_ports_closed"] is None
    done = serving.managed.apply("--profile", "baseline", *serving.managed.layers, "--layer", allow)
    assert done.returncode == 0, done.stdout + done.stderr
    chain = serving.host.run(["iptables", "-S", "DOCKER-USER"]).stdout
    assert "--ctorigdstport 8080 -j RETURN" in chain
    assert serving.answers_outside()
    workload = result_of(done)["workload"]
    assert workload["ports_closed_to_outside"] == [] and workload["containers_stopped"] == []
    assert silent_bindings(workload) == [("::", 8080)]  # baseline's userland-proxy = false, measured


def test_the_explicit_choice_closes_the_port_to_outside_and_the_report_says_what_was_measured(serving):
    assert serving.answers_on_host()
    done = serving.managed.apply("--profile", "baseline", *serving.managed.layers, "--close-published-ports")
    assert done.returncode == 0, done.stdout + done.stderr
    result = result_of(done)
    assert result["result"] == "applied"
    # the promise: closed to outside sources; what happened: the outside client is dropped
    assert not serving.answers_outside()
    workload = result["workload"]
    assert [(p["container"], p["host_port"]) for p in workload["ports_closed_to_outside"]] == [("web", 8080)]
    # measured on the host: its own connections go through OUTPUT, never FORWARD, so the block does not stop
    # them and the report does not claim the port stopped answering
    assert serving.answers_on_host()
    assert ("0.0.0.0", 8080) not in silent_bindings(workload)
    assert silent_bindings(workload) == [("::", 8080)]  # baseline's userland-proxy = false, measured
    assert workload["containers_stopped"] == []
    # the rollback removes live-restore with web kept running (turned off by a reload after the restart),
    # and takes the block's rules out of the live chain (ufw reload alone would leave them): open again
    back = serving.host.dockharden("rollback", "--yes", "--json", timeout=180)
    assert back.returncode == 0, back.stdout + back.stderr
    workload = result_of(back)["workload"]
    assert serving.host.docker("ps", "--format", "{{.Names}}").stdout.split() == ["web"]
    assert workload["containers_stopped"] == [] and ("0.0.0.0", 8080) not in silent_bindings(workload)
    assert serving.answers_on_host() and serving.answers_outside()
    assert "DROP" not in serving.host.run(["iptables", "-S", "DOCKER-USER"]).stdout


def test_a_layer_that_chooses_to_close_published_ports_lets_apply_yes_go_ahead(serving):
    close = serving.managed.write_layer("close.toml", "[ufw]\nclose_published_ports = true\n")
    done = serving.managed.apply("--profile", "baseline", *serving.managed.layers, "--layer", close)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not serving.answers_outside()


def test_a_saved_plan_that_closes_a_serving_port_is_applied_only_with_the_explicit_choice(serving):
    saved = "/var/lib/dockharden-plan.json"
    made = serving.host.dockharden("plan", "--profile", "baseline", *serving.managed.layers, "--out", saved)
    assert made.returncode == 0, made.stderr
    refused = serving.host.dockharden("apply", saved, "--json")
    assert refused.returncode == 1 and result_of(refused)["error"]["type"] == "PortsClosedError"
    assert serving.managed.daemon_json() == ORIGINAL and serving.answers_outside()
    done = serving.host.dockharden("apply", saved, "--json", "--close-published-ports", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not serving.answers_outside()


def test_a_container_without_a_restart_policy_is_kept_running_by_the_restart_and_the_report_says_none_stopped(
        serving):
    image = "dh-busybox"
    serving.host.docker("run", "-d", "--name", "worker", image, "/bin/busybox", "sleep", "3600")
    allow = serving.managed.write_layer("allow.toml", '[ufw]\nallow_ports = ["8080"]\n')
    done = serving.host.dockharden("apply", "--yes", "--json", "--profile", "baseline", *serving.managed.layers,
                                   "--layer", allow, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert result_of(done)["workload"]["containers_stopped"] == []
    running = serving.host.docker("ps", "--format", "{{.Names}}").stdout.split()
    assert sorted(running) == ["web", "worker"]


def test_a_rollback_that_brings_back_a_block_closing_the_port_names_it_in_its_question(serving):
    closed = serving.managed.apply("--profile", "baseline", *serving.managed.layers, "--close-published-ports")
    assert closed.returncode == 0, closed.stdout + closed.stderr
    allow = serving.managed.write_layer("allow.toml", '[ufw]\nallow_ports = ["8080"]\n')
    opened = serving.managed.apply("--profile", "baseline", *serving.managed.layers, "--layer", allow)
    assert opened.returncode == 0, opened.stdout + opened.stderr
    assert serving.answers_outside()
    asked = serving.host.dockharden("rollback", input="n\n")
    assert asked.returncode == 1
    assert "Roll back? This closes published port(s) 8080/tcp (web) to outside sources." in asked.stdout
    assert "the rollback restores the DOCKER-USER block as it was before, which closes them" in asked.stdout
    assert serving.answers_outside()
