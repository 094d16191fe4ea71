"""Whether other hosts can reach and trust the tls layer's API, judged on plain values: ufw's incoming
policy and rules, the host's own addresses against the certificate's names."""

import pytest

from dockharden.host.facts import global_addresses
from dockharden.model import HostSnapshot
from dockharden.targets import tls_files
from dockharden.targets.tls_reach import reach_notes, split_endpoint

ANY = ["tcp://0.0.0.0:2376"]
SANS = {"DNS:node1", "DNS:localhost", "IP:127.0.0.1"}


def host(**facts):
    return HostSnapshot(root="/", files={}, existing_paths=frozenset(), **facts)


def messages(notes):
    return [n.message for n in notes if n.level == "warning"]


def test_an_active_ufw_that_denies_incoming_is_named_with_the_port_and_the_rule_that_opens_it():
    [said] = messages(reach_notes(ANY, host(ufw_enabled=True, ufw_input_policy="DROP"), None))
    assert said.startswith("tls: ufw is active and its default incoming policy is DROP, and no ufw rule allows "
                           "port 2376: the API on tcp://0.0.0.0:2376 answers only this host")
    assert "`ufw allow from 10.0.0.0/24 to any port 2376 proto tcp`" in said


@pytest.mark.parametrize("facts", [dict(ufw_enabled=False), dict(ufw_enabled=True, ufw_input_policy="ACCEPT"),
                                   dict(ufw_enabled=True, ufw_allowed_ports=frozenset({"2376"}))])
def test_ufw_is_not_named_when_it_lets_clients_in(facts):
    assert messages(reach_notes(ANY, host(**facts), None)) == []


def test_an_api_on_loopback_only_needs_neither_ufw_nor_an_address_in_the_certificate():
    facts = host(ufw_enabled=True, addresses=("10.0.0.5",))
    assert reach_notes(["tcp://127.0.0.1:2376", "unix:///var/run/docker.sock"], facts, SANS) == []


def test_the_host_s_own_addresses_missing_from_the_certificate_are_named():
    facts = host(addresses=("10.0.0.5", "fd00::5"))
    [said] = messages(reach_notes(ANY, facts, SANS | {"IP:fd00::5"}))
    assert said == ("tls: the server certificate has no name for this host's own address(es) 10.0.0.5: a client "
                    "that connects by address fails verification; add them to [tls] ip_addresses, or connect by "
                    "a name it has (DNS: localhost, node1)")
    assert reach_notes(ANY, facts, SANS | {"IP:10.0.0.5", "IP:fd00::5"}) == []


def test_addresses_not_read_or_a_certificate_not_known_say_nothing_rather_than_guess():
    assert reach_notes(ANY, host(addresses=None), SANS) == []
    assert reach_notes(ANY, host(addresses=("10.0.0.5",)), None) == []


def test_an_api_bound_to_one_address_is_judged_on_that_address():
    facts = host(addresses=("10.0.0.5", "192.168.1.9"))
    [said] = messages(reach_notes(["tcp://192.168.1.9:2376"], facts, SANS))
    assert "address(es) 192.168.1.9:" in said


@pytest.mark.parametrize("endpoint,split", [("tcp://0.0.0.0:2376", ("0.0.0.0", 2376)),
                                            ("tcp://[::]:2377", ("::", 2377)), ("tcp://:2376", ("0.0.0.0", 2376)),
                                            ("unix:///run/docker.sock", (None, 0))])
def test_endpoints_split_into_address_and_port(endpoint, split):
    assert split_endpoint(endpoint) == split


def test_the_host_s_addresses_are_the_global_ones_outside_docker_s_bridges():
    links = [{"ifname": "lo", "addr_info": [{"local": "127.0.0.1", "scope": "host"}]},
             {"ifname": "eth0", "addr_info": [{"local": "10.0.0.5", "scope": "global"},
                                              {"local": "fe80::1", "scope": "link"},
                                              {"local": "fd00::5", "scope": "global"}]},
             {"ifname": "docker0", "addr_info": [{"local": "172.17.0.1", "scope": "global"}]},
             {"ifname": "br-1a2b", "addr_info": [{"local": "172.18.0.1", "scope": "global"}]},
             {"ifname": "veth9", "addr_info": []}, "garbage"]
    assert global_addresses(links) == ("10.0.0.5", "fd00::5")


def test_the_tls_layer_s_plan_names_an_address_its_new_certificate_lacks():
    from datetime import UTC, datetime

    from dockharden.core.layers import load_builtin
    from dockharden.core.merge import merge_layers

    settings = merge_layers([load_builtin("baseline"), load_builtin("tls")])
    facts = host(addresses=("10.0.0.5",), hostname="node1", now=datetime(2026, 12, 1, tzinfo=UTC))
    notes = [n for n in tls_files.render_tls(settings, facts) if not hasattr(n, "path")]
    assert any("has no name for this host's own address(es) 10.0.0.5" in n.message for n in notes)
