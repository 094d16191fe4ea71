"""Published ports and the DOCKER-USER block: which ports of the running containers a plan closes to outside
sources, and what an apply or a rollback did to the workload.

Pure: the containers, the block's text as it is on disk and as planned, and the layers' values come in;
values go out. The block is read as iptables reads it, rule by rule. Docker DNATs a published port to the
container before FORWARD, so DOCKER-USER sees the container's address and port; the block matches the
destination address (`-d NET ... DROP`) and the port the client dialled (`--ctorigdstport`, the published
host port, from conntrack). A NEW connection from a source outside the `-s` list to a container address in a
dropped network is dropped unless its host port is listed; the host's own connections never pass FORWARD.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
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
from dockharden.targets import ufw_docker
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
    import re

    sets = {name: [e.strip() for e in elements.split(",") if e.strip()] for name, elements in
            re.findall(r"set (\w+) \{[^}]*?elements = \{([^}]*)\}", text or "")}
    ports = [(int(low), int(high or low), proto) for proto, low, high in
             re.findall(r"meta l4proto (tcp|udp) ct original proto-dst (\d+)(?:-(\d+))? accept", text or "")]
    networks = tuple(sets.get("container_networks_v4", ()))
    sources = networks + tuple(sets.get("allow_sources_v4", ())) if "ip saddr" in (text or "") else ()
    drops = networks if "ip daddr @container_networks_v4 ct state new drop" in (text or "") else ()
    return BlockRules(sources, tuple(ports), drops)


def table_closure_note(changes, containers: Iterable[Container] | None, path: str) -> str:
    """What the nftables table's change does to the running containers' published ports: a sentence with
    the [nftables] line that keeps them open ("" when it closes none or no container is known)."""
    change = next((c for c in changes if c.path == path and c.new.content is not None), None)
    if change is None or not containers:
        return ""
    text = lambda data: (data or b"").decode("utf-8", errors="replace")  # noqa: E731
    new = table_rules(text(change.new.content))
    ports = newly_closed(containers, table_rules(text(change.old.content)), new)
    if not ports:
        return ""
    closure = PortClosure(ports, keep_open_line(allowed_words(new), ports))
    return (f"the nftables table closes published port(s) of running containers to outside sources: "
            f"{described(closure)}; to keep them open, put `{closure.keep_open}` in the [nftables] table of one "
            f"of your layers")


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


def newly_closed(containers: Iterable[Container], old: BlockRules, new: BlockRules) -> tuple[ClosedPort, ...]:
    """Every published port the new block closes to outside sources and the old one left open."""
    open_to = tuple(s for s in new.sources if s not in new.drops)
    found = []
    for container in containers:
        for port in dict.fromkeys(container.ports):
            if reachable_from_outside(port) and closes(new, container, port) and not closes(old, container, port):
                found.append(ClosedPort(container.name, port, open_to))
    return tuple(found)


def port_word(port: PublishedPort) -> str:
    """How allow_ports names a port: "8080", or "53/udp"."""
    return str(port.host_port) if port.proto == "tcp" else f"{port.host_port}/{port.proto}"


def keep_open_line(allowed: Iterable[str], ports: Iterable[ClosedPort]) -> str:
    """The [ufw] line that keeps every port open: lists replace, never append, so the ones allowed now stay."""
    words = list(dict.fromkeys([*allowed, *(port_word(p.port) for p in ports)]))
    return "allow_ports = [" + ", ".join(f'"{w}"' for w in words) + "]"


def port_closure(changes, services: Iterable[ServiceAction], containers: Iterable[Container] | None, *,
                 layer: str = "", accepted_by: str = "") -> PortClosure | None:
    """What the plan's change of the IPv4 block does to the running containers' published ports; None when it
    closes none (or no container is known). `layer` sets allow_ports now; `accepted_by` sets
    close_published_ports = true ("" none)."""
    change = next((c for c in changes if c.path == PATH_V4 and c.new.content is not None), None)
    if change is None or not containers:
        return None
    text = lambda data: (data or b"").decode("utf-8", errors="replace")  # noqa: E731
    new = block_rules(text(change.new.content))
    ports = newly_closed(containers, block_rules(text(change.old.content)), new)
    if not ports:
        return None
    return PortClosure(ports, keep_open_line(allowed_words(new), ports), layer=layer, accepted_by=accepted_by,
                       takes_effect=any(s.service == "ufw" for s in services))


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
    return f"`{closure.keep_open}` in the [ufw] table of {where}"


def refuse_unchosen_closure(closure: PortClosure | None, *, chosen: bool) -> None:
    """A run that asks no one must not close a serving port silently: the operator chose it (the option, the
    question) or a layer did (close_published_ports = true), or nothing is done."""
    if closure is None or not closure.takes_effect or chosen or closure.accepted_by:
        return
    refused = PortsClosedError(
        f"the DOCKER-USER block would close published port(s) of running containers to outside sources: "
        f"{described(closure)}; a run without a question needs an explicit choice, so nothing was written",
        hint=f"to keep them open, put {keep_open_advice(closure)}; to close them, give "
             f"{CLOSE_OPTION} (the Ansible module: close_published_ports: true) or put `{CLOSE_LINE}` in a "
             "layer's [ufw] table")
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
