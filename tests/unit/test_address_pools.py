"""Address pools that cannot collide: the pure judgement on plain values, and the refusal in the plan's checks."""

import json

import pytest

from dockharden.core import address_pools
from dockharden.core.conflicts import check_conflicts
from dockharden.core.merge import merge_layers
from dockharden.errors import ConflictError
from dockharden.model import HostFile, HostSnapshot, Layer

POOLS = [{"base": "172.20.0.0/14", "size": 24}]
ROUTES = [{"dst": "default", "gateway": "10.0.0.1", "dev": "eth0"},
          {"dst": "10.0.0.0/24", "dev": "eth0", "protocol": "kernel"},
          {"dst": "172.21.0.0/16", "dev": "wg0"},
          {"dst": "172.17.0.0/16", "dev": "docker0"},
          {"dst": "fe80::/64", "dev": "eth0"},
          {"type": "local", "dst": "10.0.0.5", "dev": "eth0", "table": "local"}]
ADDRS = [{"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
         {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "10.0.0.5", "prefixlen": 24},
                                          {"family": "inet6", "local": "fe80::1", "prefixlen": 64}]},
         {"ifname": "docker0", "addr_info": [{"family": "inet", "local": "172.17.0.1", "prefixlen": 16}]}]
NETWORKS = [{"Name": "bridge", "IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]}},
            {"Name": "app", "IPAM": {"Config": [{"Subnet": "192.168.90.0/24"}]}}, {"Name": "host", "IPAM": {}}]


def used(routes=ROUTES, addrs=ADDRS, networks=NETWORKS):
    return {"routes": address_pools.routes_of(routes), "addresses": address_pools.addresses_of(addrs),
            "networks": address_pools.networks_of(networks)}


def test_routes_leave_out_the_default_route_docker_bridges_link_local_and_local_entries():
    assert address_pools.routes_of(ROUTES) == [("10.0.0.0/24", "eth0"), ("172.21.0.0/16", "wg0")]


def test_addresses_are_the_interfaces_networks_without_docker_bridges_and_link_local():
    assert address_pools.addresses_of(ADDRS) == [("127.0.0.0/8", "lo"), ("10.0.0.0/24", "eth0")]


def test_networks_are_each_ipam_subnet_by_name():
    assert address_pools.networks_of(NETWORKS) == [("172.17.0.0/16", "bridge"), ("192.168.90.0/24", "app")]


def test_a_pool_over_a_vpn_route_is_a_collision_naming_the_route_and_its_device():
    assert address_pools.collisions(POOLS, used()) == [("172.20.0.0/14", "the route to 172.21.0.0/16 (dev wg0)")]


def test_a_pool_over_an_interface_and_over_a_docker_network_is_named_for_each():
    hits = address_pools.collisions([{"base": "10.0.0.0/8", "size": 24}, {"base": "192.168.0.0/16", "size": 24}],
                                    used(routes=[]))
    assert hits == [("10.0.0.0/8", "interface eth0's network 10.0.0.0/24"),
                    ("192.168.0.0/16", "docker network app (192.168.90.0/24)")]


def test_a_network_allocated_from_the_pools_in_force_is_not_a_collision():
    assert address_pools.collisions([{"base": "192.168.0.0/16", "size": 24}], used(routes=[]),
                                    ["192.168.0.0/16"]) == []


def test_a_free_range_is_found_for_the_fix():
    assert address_pools.free_range(16, used()) == "10.1.0.0/16"


def host(existing=None, info=None, in_use=None):
    files = {"/etc/docker/daemon.json": HostFile("/etc/docker/daemon.json", exists=True,
                                                 content=json.dumps(existing).encode())} \
        if existing is not None else {}
    return HostSnapshot(root="/", files=files, existing_paths=frozenset(), daemon_info=info,
                        networks_in_use=used() if in_use is None else in_use)


def check(config, h, layer_pools=True):
    daemon = {"default-address-pools": config["default-address-pools"]} if layer_pools else {}
    settings = merge_layers([Layer("pools", source="/etc/dockharden/pools.toml", tables={"daemon": daemon})])
    return check_conflicts(config, settings, h, {}, set())


def test_a_layers_pool_over_a_route_is_refused_in_the_layers_file_with_a_free_range():
    with pytest.raises(ConflictError) as err:
        check({"default-address-pools": POOLS}, host())
    assert err.value.path == "/etc/dockharden/pools.toml" and err.value.key == "daemon.default-address-pools"
    assert "172.20.0.0/14" in str(err.value) and "172.21.0.0/16 (dev wg0)" in str(err.value)
    assert 'default-address-pools = [{ base = "10.0.0.0/14"' not in err.value.hint  # 10.0.0.0/24 is eth0's
    assert 'base = "10.4.0.0/14", size = 24' in err.value.hint


def test_the_operators_own_pools_are_not_judged():
    check({"default-address-pools": POOLS}, host(), layer_pools=False)


def test_pools_already_in_the_file_or_in_force_are_not_new_and_not_judged():
    check({"default-address-pools": POOLS}, host(existing={"default-address-pools": POOLS}))
    check({"default-address-pools": POOLS}, host(info={"DefaultAddressPools": [{"Base": "172.20.0.0/14", "Size": 24}]}))


def test_an_offline_root_cannot_compare_and_does_not_refuse():
    h = host()._replace(networks_in_use=None)
    check({"default-address-pools": POOLS}, h)
