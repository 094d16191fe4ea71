"""Target /etc/ufw/after.rules (and after6.rules): one managed DOCKER-USER block between markers.

Pure. Everything outside the markers is the operator's and is kept byte for byte. Exactly one
well-formed block, or an error. The block never opens the host to whole private ranges: it returns
only for the networks and ports the layer names, plus replies and the containers' own traffic.
"""


import ipaddress
import re
from typing import Any, NamedTuple

from dockharden.errors import HostFileError, LayerError
from dockharden.model import HostSnapshot, RenderedFile, Settings

PATH_V4 = "/etc/ufw/after.rules"
PATH_V6 = "/etc/ufw/after6.rules"
BEGIN = "# BEGIN dockharden DOCKER-USER"
END = "# END dockharden DOCKER-USER"
DEFAULT_BRIDGE_V4 = "172.17.0.0/16"


class Port(NamedTuple):  # a NamedTuple: 0.1 ms to define, a frozen dataclass 0.8 ms (on every start)
    port: str
    proto: str


def render_ufw(settings: Settings, host: HostSnapshot) -> list[RenderedFile]:
    ufw = settings.table("ufw")
    if not ufw.get("enabled"):
        return []
    from dockharden.targets.daemon_json import desired_on_host

    daemon = desired_on_host(settings, host)  # the operator's own pools and bip count too
    files = [_render_one(PATH_V4, block_v4(ufw, daemon), host)]
    if host.file(PATH_V6).exists or ufw.get("ipv6"):
        files.append(_render_one(PATH_V6, block_v6(ufw, daemon), host))
    return files


def _render_one(path: str, block: str, host: HostSnapshot) -> RenderedFile:
    current = host.file(path)
    text = (current.content or b"").decode("utf-8", errors="surrogateescape")
    new = splice_block(text, block, path=path)
    # ufw owns these files: an existing one keeps its mode and owner
    mode, uid, gid = (current.mode, current.uid, current.gid) if current.exists else (0o640, 0, 0)
    return RenderedFile("ufw", path, new.encode("utf-8", errors="surrogateescape"), mode=mode, uid=uid, gid=gid)


def block_v4(ufw: dict[str, Any], daemon: dict[str, Any]) -> str:
    """The IPv4 block: container networks come from the layer or from the daemon's pools."""
    networks = ufw.get("container_networks") or container_networks(daemon, version=4)
    return _render_block(networks, ufw.get("allow_sources", []), ufw.get("allow_ports", []), 4)


def block_v6(ufw: dict[str, Any], daemon: dict[str, Any]) -> str:
    networks = ufw.get("container_networks_v6") or container_networks(daemon, version=6)
    return _render_block(networks, ufw.get("allow_sources_v6", []), ufw.get("allow_ports", []), 6)


def container_networks(daemon: dict[str, Any], version: int) -> list[str]:
    """The networks docker gives containers: the default bridge and the address pools."""
    nets = [pool.get("base", "") for pool in daemon.get("default-address-pools", [])]
    nets.append(daemon.get("bip") or DEFAULT_BRIDGE_V4 if version == 4 else daemon.get("fixed-cidr-v6", ""))
    return [n for n in dict.fromkeys(nets) if n and _ip_version(n) == version]


def _ip_version(text: str) -> int:
    try:
        return ipaddress.ip_network(text, strict=False).version
    except ValueError:
        return 0


def _render_block(networks: list[str], sources: list[str], ports: list[str], version: int) -> str:
    return block_text([_network(n, version, "container_networks") for n in networks],
                      [_network(n, version, "allow_sources") for n in sources], [_port(p) for p in ports])


def block_text(networks: list[str], sources: list[str], ports: list[Port]) -> str:
    """The block between the markers. Written in Python, not a template: it is on every plan's path, where
    Jinja2 would cost 40 ms to import (docs/performance.md)."""
    rules = ["-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"]
    rules += [f"-A DOCKER-USER -s {net} -j RETURN" for net in networks + sources]
    rules += [f"-A DOCKER-USER -p {p.proto} -m conntrack --ctorigdstport {p.port} -j RETURN" for p in ports]
    rules += [f"-A DOCKER-USER -d {net} -m conntrack --ctstate NEW -j DROP" for net in networks]
    lines = [BEGIN,
             "# Managed by dockharden. New connections into containers are dropped unless they come from a network",
             "# or go to a published port allowed below; replies and container traffic pass. Edit the layer, not this.",
             "*filter", ":DOCKER-USER - [0:0]", *rules, "-A DOCKER-USER -j RETURN", "COMMIT", END]
    return "\n".join(lines) + "\n"


def _network(text: str, version: int, key: str) -> str:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise LayerError(f"`{text}` is not a network (CIDR)", hint="write it like 10.1.0.0/16",
                         key=f"ufw.{key}") from None
    if net.version != version:
        raise LayerError(f"`{text}` is an IPv{net.version} network in an IPv{version} list",
                         hint="put IPv6 networks in the *_v6 lists", key=f"ufw.{key}")
    return str(net)


def _port(text: str) -> Port:
    port, _, proto = text.partition("/")
    return Port(port=port, proto=proto or "tcp")


def block_rules(text: str | None) -> list[str]:
    """The `-A DOCKER-USER` rules of the managed block in an after.rules text ([] without a block)."""
    rules, inside = [], False
    for line in (text or "").splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            inside = True
        elif stripped == END:
            inside = False
        elif inside and stripped.startswith("-A DOCKER-USER"):
            rules.append(stripped)
    return rules


def split_lines(text: str) -> list[str]:
    """Lines as iptables-restore reads them: ended by \\n only (a bare \\r is part of its line)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _newline(lines: list[str]) -> str:
    """The file's own line ending: CRLF when most of its lines use it."""
    crlf = sum(line.endswith("\r\n") for line in lines)
    return "\r\n" if crlf * 2 > sum(line.endswith("\n") for line in lines) else "\n"


def splice_block(text: str, block: str, *, path: str) -> str:
    """`text` with its managed block replaced by `block` (appended when there is none)."""
    lines = split_lines(text)
    newline = _newline(lines)
    block_lines = [line + newline for line in block.rstrip("\n").split("\n")]
    span = find_block(lines, path=path)
    refuse_chain_rules_outside(lines, span, path=path)
    if span is None:
        _check_outside_tables(lines, len(lines), path=path, hint="end the table with COMMIT first; "
                              "dockharden appends its block after the last line")
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += newline
        return "".join(lines + block_lines)
    start, end = span
    return "".join(lines[:start] + block_lines + lines[end + 1:])


CHAIN_LINE = (r"^\s*(?::DOCKER-USER\b|(?:-A|-I|-R|-D|-N|-F|--append|--insert|--replace|--delete|"
              r"--new-chain|--flush)\s+DOCKER-USER\b)")


def refuse_chain_rules_outside(lines: list[str], span: tuple[int, int] | None, *, path: str) -> None:
    """The operator's own DOCKER-USER lines outside the block would be lost without a word: ufw loads
    the file with iptables-restore --noflush, where the block's `:DOCKER-USER` declaration flushes the
    chain (rules above it vanish) and its final RETURN makes rules below it dead."""
    for number, line in enumerate(lines, 1):
        inside = span is not None and span[0] < number <= span[1] + 1
        if not inside and re.match(CHAIN_LINE, line):
            raise HostFileError(
                f"line {number} (`{line.strip()[:80]}`) changes the DOCKER-USER chain outside dockharden's "
                "managed block; ufw would silently lose it when it loads the block, which declares (and so "
                "flushes) the chain", hint=_move_hint(line), path=path, key="ufw")


def _move_hint(line: str) -> str:
    """Where the rule belongs in a layer, spelled out when it is a plain allow rule."""
    words = line.split()
    verdict = words[words.index("-j") + 1] if "-j" in words[:-1] else ""
    source = words[words.index("-s") + 1] if "-s" in words[:-1] else ""
    port = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("--dport", "--ctorigdstport")), "")
    proto = words[words.index("-p") + 1] if "-p" in words[:-1] else "tcp"
    if verdict in ("RETURN", "ACCEPT") and source and not port:
        return f'move it into a layer: [ufw] allow_sources = ["{source}"], then delete the line'
    if verdict in ("RETURN", "ACCEPT") and port and not source:
        return f'move it into a layer: [ufw] allow_ports = ["{port.replace(":", "-")}/{proto}"], then delete the line'
    return ("move what it allows into a layer's [ufw] allow_sources / allow_ports, then delete the line "
            "(dockharden owns the DOCKER-USER chain in this file)")


def find_block(lines: list[str], *, path: str) -> tuple[int, int] | None:
    """Line indexes of BEGIN and END, None when absent; HostFileError when malformed."""
    begins = [i for i, line in enumerate(lines) if line.strip() == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    hint = f"repair the block between `{BEGIN}` and `{END}` by hand, or delete it to let dockharden add it"
    if len(begins) > 1 or len(ends) > 1:
        raise HostFileError(f"{len(begins)} BEGIN and {len(ends)} END markers; exactly one managed block "
                            "is allowed", hint=hint, path=path)
    if not begins and not ends:
        return None
    if not ends or not begins or ends[0] < begins[0]:
        which = "BEGIN" if begins else "END"
        line = (begins or ends)[0] + 1
        raise HostFileError(f"the managed block's {which} marker at line {line} has no partner",
                            hint=hint, path=path)
    _check_outside_tables(lines, begins[0], path=path, hint=hint)
    return begins[0], ends[0]


def _check_outside_tables(lines: list[str], begin: int, *, path: str, hint: str) -> None:
    open_table = None
    for number, line in enumerate(lines[:begin], 1):
        word = line.strip()
        if word.startswith("*"):
            open_table = number
        elif word == "COMMIT":
            open_table = None
    if open_table is not None:
        raise HostFileError(f"the managed block would start inside the table opened at line {open_table} "
                            "(no COMMIT before it)", hint=hint, path=path)
