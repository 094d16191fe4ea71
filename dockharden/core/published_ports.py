"""Published ports and the firewall in front of the containers: which ports of the running containers a plan
closes to outside sources, and what an apply or a rollback did to the workload.

Pure: the containers, the firewall's text as it is on disk and as planned, and the layers' values come in;
values go out. Two firewalls, one judgement: the ufw target's DOCKER-USER block (iptables backend) and the
nftables layer's table `inet dockharden` (nftables backend) are both read into the same BlockRules, rule by
rule. Docker DNATs a published port to the container before the forward hook, so both see the container's
address and port; both match the destination address (`-d NET ... DROP`, `ip daddr @container_networks_v4
ct state new drop`) and the port the client dialled (`--ctorigdstport`, `ct original proto-dst`: the
published host port, from conntrack). A NEW connection from a source outside the allowed ones to a container
address in a dropped network is dropped unless its host port is listed; the host's own connections never
pass the forward hook.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import NamedTuple

from dockharden.errors import PortsClosedError
from dockharden.model import (
    Aftermath,
    ClosedPort,
    Container,
    PortClosure,
    PublishedPort,
    ServiceAction,
)
from dockharden.targets import nft_table, ufw_docker
from dockharden.targets.ufw_block import BEGIN, END, PATH_V4

LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")


class BlockRules(NamedTuple):
    """The rules of one DOCKER-USER block that decide a new connection from outside."""

    sources: tuple[str, ...]                 # -s NET -j RETURN (container networks and allow_sources)
    ports: tuple[tuple[int, int, str], ...]  # --ctorigdstport LOW[:HIGH] -j RETURN, with its protocol
    drops: tuple[str, ...]                   # -d NET --ctstate NEW -j DROP


NO_BLOCK = BlockRules((), (), ())


def block_rules(text: str | None) -> BlockRules:
    """The rules of the managed block in an after.rules file's text, else of chaifeng/ufw-docker's block (which
    an adopting plan replaces: what it closed was closed before); NO_BLOCK when there is neither."""
    lines = (text or "").splitlines()
    for begin_marker, end_marker in ((BEGIN, END), (ufw_docker.BEGIN, ufw_docker.END)):
        begin = next((i for i, line in enumerate(lines) if line.strip() == begin_marker), None)
        end = next((i for i, line in enumerate(lines) if line.strip() == end_marker), None)
        if begin is not None and end is not None and begin < end:
            return _rules(lines[begin + 1:end])
    return NO_BLOCK


def _rules(lines: list[str]) -> BlockRules:
    sources, ports, drops = [], [], []
    for line in lines:
        words = line.split()
        if words[:2] != ["-A", "DOCKER-USER"] or "-j" not in words[:-1]:
            continue
        verdict = words[words.index("-j") + 1]
        if verdict == "RETURN" and "-s" in words[:-1]:
            sources.append(words[words.index("-s") + 1])
        elif verdict == "RETURN" and "--ctorigdstport" in words[:-1]:
            proto = words[words.index("-p") + 1] if "-p" in words[:-1] else "tcp"
            low, _, high = words[words.index("--ctorigdstport") + 1].partition(":")
            ports.append((int(low), int(high or low), proto))
        elif (verdict == "DROP" or verdict.endswith("-docker-logging-deny")) and "-d" in words[:-1]:
            drops.append(words[words.index("-d") + 1])
    return BlockRules(tuple(sources), tuple(ports), tuple(drops))


def table_rules(text: str | None) -> BlockRules:
    """The IPv4 rules of the nftables layer's table (targets/nft_table.py) as the block's would be: the two
    sets' networks return, the `ct original proto-dst` ports return, the container networks' set drops."""
    sets = {name: [e.strip() for e in elements.split(",") if e.strip()] for name, elements in
            re.findall(r"set (\w+) \{[^}]*?elements = \{([^}]*)\}", text or "")}
    ports = [(int(low), int(high or low), proto) for proto, low, high in
             re.findall(r"meta l4proto (tcp|udp) ct original proto-dst (\d+)(?:-(\d+))? accept", text or "")]
    networks = tuple(sets.get("container_networks_v4", ()))
    sources = networks + tuple(sets.get("allow_sources_v4", ())) if "ip saddr" in (text or "") else ()
    drops = networks if "ip daddr @container_networks_v4 ct state new drop" in (text or "") else ()
    return BlockRules(sources, tuple(ports), drops)


class Firewall(NamedTuple):
    """A firewall dockharden writes in front of the containers, as the closure judgement sees it."""

    table: str                              # the layers' table that configures it
    path: str                               # the file whose (IPv4) rules decide
    rules: Callable[[str | None], BlockRules]
    service: str                            # the service action that loads a change now
    name: str                               # how a message calls it
    loads: str                              # what loads it when apply does not


FIREWALLS = (
    Firewall("ufw", path=PATH_V4, rules=block_rules, service="ufw", name="the DOCKER-USER block",
             loads="when ufw next loads it"),
    Firewall("nftables", path=nft_table.PATH, rules=table_rules, service="nftables",
             name=f"the nftables table {nft_table.TABLE}",
             loads=f"when it is next loaded ({nft_table.UNIT_NAME} at boot)"),
)
BY_TABLE = {f.table: f for f in FIREWALLS}


def closes(rules: BlockRules, container: Container, port: PublishedPort) -> bool:
    """Whether `rules` drop a new connection from outside to `port` of `container` (IPv4 block)."""
    if any(low <= port.host_port <= high and proto == port.proto for low, high, proto in rules.ports):
        return False
    addresses = [a for a in container.addresses if _version(a) == 4]
    if not addresses:  # not known: a published port is on a bridge network, which the defaults cover
        return bool(rules.drops)
    return any(_inside(address, net) for address in addresses for net in rules.drops)


def reachable_from_outside(port: PublishedPort) -> bool:
    """An IPv4 binding an outside client can dial: every address, or one that is not loopback. (IPv6
    bindings are left out: the IPv4 block does not see them.)"""
    if port.host_ip in ("", "0.0.0.0"):
        return True
    return _version(port.host_ip) == 4 and ipaddress.ip_address(port.host_ip) not in LOOPBACK_V4


def newly_closed(containers: Iterable[Container], old: BlockRules | Iterable[BlockRules],
                 new: BlockRules) -> tuple[ClosedPort, ...]:
    """Every published port the new rules close to outside sources and the old ones (one firewall's, or
    several: closed by any is closed) left open."""
    olds = (old,) if isinstance(old, BlockRules) else tuple(old)
    open_to = tuple(s for s in new.sources if s not in new.drops)
    found = []
    for container in containers:
        for port in dict.fromkeys(container.ports):
            if reachable_from_outside(port) and closes(new, container, port) \
                    and not any(closes(rules, container, port) for rules in olds):
                found.append(ClosedPort(container.name, port, open_to))
    return tuple(found)


def port_word(port: PublishedPort) -> str:
    """How allow_ports names a port: "8080", or "53/udp"."""
    return str(port.host_port) if port.proto == "tcp" else f"{port.host_port}/{port.proto}"


def keep_open_line(allowed: Iterable[str], ports: Iterable[ClosedPort]) -> str:
    """The allow_ports line that keeps every port open: lists replace, never append, so the ones allowed now
    stay."""
    words = list(dict.fromkeys([*allowed, *(port_word(p.port) for p in ports)]))
    return "allow_ports = [" + ", ".join(f'"{w}"' for w in words) + "]"


def port_closure(changes, services: Iterable[ServiceAction], containers: Iterable[Container] | None, *,
                 layer: str = "", accepted_by: str = "") -> PortClosure | None:
    """What the plan's change of a firewall (the DOCKER-USER block, the nftables table) does to the running
    containers' published ports; None when it closes none (or no container is known). A port either firewall
    closes now, as on disk, was closed before: moving from the block to the table closes nothing new. When
    both are planned (both tables enabled, an engine before 29), the block's ports are named, the table's only
    when the block closes none. `layer` sets allow_ports now; `accepted_by` sets close_published_ports = true
    ("" none)."""
    if not containers:
        return None
    text = lambda data: (data or b"").decode("utf-8", errors="replace")  # noqa: E731
    planned = {c.path: c for c in changes if c.path in {f.path for f in FIREWALLS}}
    before = [f.rules(text(planned[f.path].old.content)) for f in FIREWALLS if f.path in planned]
    for firewall in FIREWALLS:
        change = planned.get(firewall.path)
        if change is None or change.new.content is None:
            continue
        new = firewall.rules(text(change.new.content))
        ports = newly_closed(containers, before, new)
        if ports:
            return PortClosure(ports, keep_open=keep_open_line(allowed_words(new), ports), layer=layer,
                               accepted_by=accepted_by, takes_effect=loads_now(firewall, services),
                               table=firewall.table)
    return None


def loads_now(firewall: Firewall, services: Iterable[ServiceAction]) -> bool:
    """Whether apply loads the firewall's change now (ufw reloaded, the table loaded with nft -f)."""
    return any(s.service == firewall.service and s.action != "remove" for s in services)


def allowed_words(rules: BlockRules) -> list[str]:
    """The block's allowed ports as allow_ports spells them ("443", "8000:8100", "53/udp")."""
    words = []
    for low, high, proto in rules.ports:
        word = str(low) if low == high else f"{low}:{high}"
        words.append(word if proto == "tcp" else f"{word}/{proto}")
    return words


def described(closure: PortClosure) -> str:
    """`8080/tcp of web (0.0.0.0:8080->80/tcp), 53/udp of dns (...)`."""
    return ", ".join(f"{p.port.host_port}/{p.port.proto} of {p.container} ({p.port})" for p in closure.ports)


CLOSE_OPTION = "--close-published-ports"
CLOSE_LINE = "close_published_ports = true"


def keep_open_advice(closure: PortClosure) -> str:
    """`allow_ports = [...]` and where it goes: a built-in profile is not edited, an operator's layer is."""
    where = f"your layer {closure.layer}" if closure.layer else "one of your layers"
    return f"`{closure.keep_open}` in the [{closure.table}] table of {where}"


def firewall_of(closure: PortClosure) -> Firewall:
    return BY_TABLE.get(closure.table, FIREWALLS[0])


def refuse_unchosen_closure(closure: PortClosure | None, *, chosen: bool) -> None:
    """A run that asks no one must not close a serving port silently: the operator chose it (the option, the
    question) or a layer did (close_published_ports = true), or nothing is done."""
    if closure is None or not closure.takes_effect or chosen or closure.accepted_by:
        return
    refused = PortsClosedError(
        f"{firewall_of(closure).name} would close published port(s) of running containers to outside sources: "
        f"{described(closure)}; a run without a question needs an explicit choice, so nothing was written",
        hint=f"to keep them open, put {keep_open_advice(closure)}; to close them, give "
             f"{CLOSE_OPTION} (the Ansible module: close_published_ports: true) or put `{CLOSE_LINE}` in a "
             f"layer's [{closure.table}] table")
    refused.closure = closure  # what a caller (the Ansible module) reports besides the paragraph
    raise refused


def aftermath(before: tuple[Container, ...], answered: frozenset, after: tuple[Container, ...],
              answering: frozenset, closed: tuple[ClosedPort, ...] = ()) -> Aftermath:
    """The containers running before and not after (by id), and the published ports that answered on the host
    before and do not after (`answered`, `answering`: (host_ip, host_port) pairs that took a TCP connect)."""
    running = {c.id for c in after}
    stopped = tuple(c for c in before if c.id not in running)
    silent = tuple((c.name, p) for c in before for p in dict.fromkeys(c.ports)
                   if (p.host_ip, p.host_port) in answered and (p.host_ip, p.host_port) not in answering)
    return Aftermath(stopped, silent, closed)


def _version(address: str) -> int:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return 0


def _inside(address: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False
