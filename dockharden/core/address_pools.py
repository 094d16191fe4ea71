"""Address pools that cannot collide: a layer's `default-address-pools` against the host's routes and
interface addresses and the daemon's existing networks.

Pure: the routes, addresses and networks come in as plain values (host/facts.py `network_facts` reads them:
`ip -j route show table all`, `ip -j addr show`, GET /networks); a pool that overlaps one is a ConflictError
naming both, raised before anything is written.

Docker's own bridges (docker0, br-*, docker_gwbridge) are left out of the routes and addresses: their
ranges are the daemon's networks, judged as such. A network whose subnet lies inside the pools the daemon
runs with now (info DefaultAddressPools) was allocated from them and is not a collision.
"""

from __future__ import annotations

import ipaddress
from typing import Any

DOCKER_LINKS = ("docker0", "docker_gwbridge")
SKIPPED_ROUTES = ("default", "multicast", "broadcast")
SKIPPED_TYPES = SKIPPED_ROUTES + ("local", "anycast")  # the host's own addresses: `ip -j addr` has them


def docker_link(name: str) -> bool:
    return name in DOCKER_LINKS or name.startswith(("br-", "veth"))


def routes_of(entries: list[Any]) -> list[tuple[str, str]]:
    """(destination network, device) of each route in `ip -j route show table all`, docker's bridges, the
    default routes and link-local/multicast ranges left out."""
    found = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("type") in SKIPPED_TYPES:
            continue
        dst, dev = entry.get("dst"), str(entry.get("dev", ""))
        if not isinstance(dst, str) or dst in SKIPPED_ROUTES or docker_link(dev):
            continue
        net = _network(dst)
        if net is not None and not net.is_link_local and not net.is_multicast and net.prefixlen > 0:
            found.append((str(net), dev))
    return list(dict.fromkeys(found))


def addresses_of(links: list[Any]) -> list[tuple[str, str]]:
    """(network, interface) of each address in `ip -j addr show`, docker's bridges and link-local left out."""
    found = []
    for link in links if isinstance(links, list) else []:
        name = str(link.get("ifname", "")) if isinstance(link, dict) else ""
        if not name or docker_link(name):
            continue
        for info in link.get("addr_info") or []:
            if isinstance(info, dict) and isinstance(info.get("local"), str) and isinstance(info.get("prefixlen"), int):
                net = _network(f"{info['local']}/{info['prefixlen']}")
                if net is not None and not net.is_link_local:
                    found.append((str(net), name))
    return found


def networks_of(listed: list[Any]) -> list[tuple[str, str]]:
    """(subnet, network name) of each subnet of each network in GET /networks (IPAM.Config[].Subnet)."""
    found = []
    for network in listed if isinstance(listed, list) else []:
        if not isinstance(network, dict):
            continue
        for config in ((network.get("IPAM") or {}).get("Config") or []):
            subnet = config.get("Subnet") if isinstance(config, dict) else None
            if isinstance(subnet, str) and _network(subnet) is not None:
                found.append((str(_network(subnet)), str(network.get("Name", ""))))
    return found


def pool_bases(pools: Any) -> list[str]:
    """The `base` of each pool in a default-address-pools value."""
    return [p["base"] for p in pools if isinstance(p, dict) and isinstance(p.get("base"), str)] \
        if isinstance(pools, list) else []


def collisions(pools: Any, used: dict[str, Any], current_pools: list[str] = ()) -> list[tuple[str, str]]:
    """(pool, what it hits) for each pool base overlapping a route, an interface's address or an existing
    network; `used` is {"routes": [(net, dev)], "addresses": [(net, ifname)], "networks": [(subnet, name)]}.
    A network inside `current_pools` (the pools in force now) came from them and is not a collision."""
    current = [n for n in (_network(p) for p in current_pools) if n is not None]
    hits = []
    for base in pool_bases(pools):
        pool = _network(base)
        if pool is None:
            continue
        for net, dev in used.get("routes") or ():
            if _overlaps(pool, net):
                hits.append((base, f"the route to {net} (dev {dev})" if dev else f"the route to {net}"))
        for net, name in used.get("addresses") or ():
            if _overlaps(pool, net):
                hits.append((base, f"interface {name}'s network {net}"))
        for net, name in used.get("networks") or ():
            inside = _network(net)
            if _overlaps(pool, net) and not any(_within(inside, c) for c in current):
                hits.append((base, f"docker network {name} ({net})"))
    return list(dict.fromkeys(hits))


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _overlaps(pool, other: str) -> bool:
    net = _network(other)
    return net is not None and net.version == pool.version and pool.overlaps(net)


def _within(net, outer) -> bool:
    return net is not None and net.version == outer.version and net.subnet_of(outer)


PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def free_range(prefixlen: int, used: dict[str, Any], current_pools: list[str] = (), limit: int = 4096) -> str | None:
    """The first private IPv4 range of that size that hits nothing in `used` (for the fix), or None."""
    tried = 0
    for block in PRIVATE:
        outer = ipaddress.ip_network(block)
        if prefixlen < outer.prefixlen:
            continue
        for candidate in outer.subnets(new_prefix=prefixlen):
            tried += 1
            if tried > limit:
                return None
            if not collisions([{"base": str(candidate)}], used, current_pools):
                return str(candidate)
    return None
