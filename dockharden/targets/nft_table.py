"""Target /etc/dockharden/nftables/dockharden.nft and its unit dockharden-nftables.service: the nftables
layer's filter for Docker's nftables firewall backend (`firewall-backend: nftables`, Engine 29).

Pure. With the nftables backend there is no DOCKER-USER chain; Docker's documentation
(engine/network/firewall-nftables) says to filter in a table of one's own with a forward base chain at
priority `filter - 1`, before Docker's own chains (priority filter). In nftables an accept is final only
for its own base chain: a packet accepted here still passes Docker's chains, a drop is final. So the
table keeps the ufw target's semantics exactly (targets/ufw_block.py), with `accept` in the place of the
DOCKER-USER block's RETURN: replies, the containers' own traffic, allowed sources and allowed published
ports (matched by the original destination port, `ct original proto-dst`, as --ctorigdstport) go on to
Docker's rules; new connections to the container networks from anywhere else are dropped. Nothing here
accepts what Docker's rules would drop, so no `bridge-accept-fwmark` is needed (docs/layers/nftables.md).

The file replaces the table atomically when loaded with `nft -f` (declare, delete, define in one
transaction); the unit loads it at boot after the operator's nftables.service and before docker.service.
Set elements are collapsed and sorted here, so the table reads back from `nft list table` as written
(inspect/verify.py compares the two).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from dockharden.model import HostSnapshot, RenderedFile, Settings
from dockharden.targets.systemd_unit import exec_line

TABLE = "inet dockharden"
DIR = "/etc/dockharden/nftables"
PATH = f"{DIR}/dockharden.nft"
UNIT_NAME = "dockharden-nftables.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
WANTS_LINK = f"/etc/systemd/system/multi-user.target.wants/{UNIT_NAME}"
NFT = "/usr/sbin/nft"
HEADER = ("# Managed by dockharden (the nftables layer). New connections into containers are dropped unless\n"
          "# they come from a network or go to a published port allowed in the layer; replies and container\n"
          "# traffic pass on to Docker's own chains. Edit the layer, not this file. Loaded by\n"
          f"# {UNIT_NAME} at boot, before docker.service.\n")

UNIT = f"""\
# Managed by dockharden (the nftables layer): loads {PATH} at boot, after the operator's
# nftables.service and before docker.service, so Docker's containers are never reachable unfiltered.
[Unit]
Description=dockharden: nftables filter for Docker's containers
DefaultDependencies=no
Wants=network-pre.target
After=nftables.service
Before=network-pre.target docker.service shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={exec_line([NFT, "-f", PATH])}
ExecStop={exec_line([NFT, "delete", "table", *TABLE.split()])}

[Install]
WantedBy=multi-user.target
"""


def render_nftables(settings: Settings, host: HostSnapshot) -> list[RenderedFile]:
    table = settings.table("nftables")
    if not table.get("enabled"):
        # off: the files an earlier apply wrote go (a file of the same name dockharden did not write stays)
        return [RenderedFile("nftables", path=p, content=None) for p in (PATH, UNIT_PATH)
                if host.file(p).exists and host.created.get(p) == "nftables"]
    from dockharden.targets.daemon_json import desired_on_host

    daemon = desired_on_host(settings, host)  # the operator's own pools and bip count too, as for ufw
    return [RenderedFile("nftables", path=PATH, content=ruleset(table, daemon).encode(), mode=0o644),
            RenderedFile("nftables", path=UNIT_PATH, content=UNIT.encode(), mode=0o644)]


def networks_of(table: dict[str, Any], daemon: dict[str, Any], version: int) -> list[str]:
    """The container networks: the layer's, else the daemon's bridge and pools (as the ufw target)."""
    from dockharden.targets.ufw_block import container_networks

    key = "container_networks" if version == 4 else "container_networks_v6"
    return table.get(key) or container_networks(daemon, version=version)


def ruleset(table: dict[str, Any], daemon: dict[str, Any]) -> str:
    """The whole file: the table declared, deleted and defined again, so `nft -f` replaces it in one go."""
    nets4 = _collapse(networks_of(table, daemon, 4), 4, "container_networks")
    nets6 = _collapse(networks_of(table, daemon, 6), 6, "container_networks_v6")
    src4 = _collapse(table.get("allow_sources", []), 4, "allow_sources")
    src6 = _collapse(table.get("allow_sources_v6", []), 6, "allow_sources_v6")
    ipv6 = bool(table.get("ipv6") or nets6 or src6)
    return HEADER + f"table {TABLE} {{}}\ndelete table {TABLE}\n" + table_text(
        nets4, src4, nets6 if ipv6 else [], src6 if ipv6 else [], table.get("allow_ports", []))


def table_text(nets4: list[str], src4: list[str], nets6: list[str], src6: list[str], ports: list[str]) -> str:
    """The table definition, written as `nft list table` prints it back."""
    lines = [f"table {TABLE} {{"]
    for name, kind, elements in (("container_networks_v4", "ipv4_addr", nets4), ("allow_sources_v4", "ipv4_addr", src4),
                                 ("container_networks_v6", "ipv6_addr", nets6), ("allow_sources_v6", "ipv6_addr", src6)):
        if elements:
            lines += [f"\tset {name} {{", f"\t\ttype {kind}", "\t\tflags interval",
                      f"\t\telements = {{ {', '.join(elements)} }}", "\t}", ""]
    lines += ["\tchain forward {", "\t\ttype filter hook forward priority filter - 1; policy accept;"]
    lines += ["\t\tct state established,related accept"]
    for family, nets, src in (("ip", nets4, src4), ("ip6", nets6, src6)):
        suffix = "v4" if family == "ip" else "v6"
        lines += [f"\t\t{family} saddr @container_networks_{suffix} accept"] if nets else []
        lines += [f"\t\t{family} saddr @allow_sources_{suffix} accept"] if src else []
    for proto, spec in _ports(ports):  # one rule each, as in the ufw block (nft lists an anonymous set of
        # `ct original proto-dst` values back as "[invalid type]", which verify could not compare)
        lines.append(f"\t\tmeta l4proto {proto} ct original proto-dst {spec} accept")
    for family, nets in (("ip", nets4), ("ip6", nets6)):
        suffix = "v4" if family == "ip" else "v6"
        lines += [f"\t\t{family} daddr @container_networks_{suffix} ct state new drop"] if nets else []
    lines += ["\t}", "}"]
    return "\n".join(lines) + "\n"


def _collapse(items: list[str], version: int, key: str) -> list[str]:
    from dockharden.targets.ufw_block import parse_network

    nets = [parse_network(text, version, f"nftables.{key}") for text in items]
    return [_element(n) for n in ipaddress.collapse_addresses(nets)]  # type: ignore[type-var]


def _element(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """A set element as nft prints it: a single address without its /32 or /128."""
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _ports(ports: list[str]) -> list[tuple[str, str]]:
    """(protocol, port or range) in the layer's order, each once; ufw's range `8000:8100` is nft's `8000-8100`."""
    out = []
    for text in ports:
        port, _, proto = text.partition("/")
        out.append((proto or "tcp", port.replace(":", "-")))
    return list(dict.fromkeys(out))


def table_body(text: str) -> str:
    """The table definition of a rendered file, or of `nft list table` output, with comments and whitespace
    removed: two texts with the same body are the same table."""
    start = text.find(f"table {TABLE} {{\n")
    body = text[start:] if start >= 0 else ""
    return "".join("".join(line.split("#", 1)[0].split()) for line in body.splitlines())
