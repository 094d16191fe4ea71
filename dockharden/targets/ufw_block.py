"""Target /etc/ufw/after.rules (and after6.rules): one managed DOCKER-USER block between markers.

Pure. Everything outside the markers is the operator's and is kept byte for byte. Exactly one
well-formed block, or an error; chaifeng/ufw-docker's block is refused too, unless the operator chooses to
adopt it: then it is replaced by the managed block, which keeps what it allowed (targets/ufw_docker.py).
The block never opens the host to whole private ranges on its own: it returns only for the networks and
ports the layer names (and an adopted ufw-docker block's sources), plus replies and the containers' own
traffic.
"""


import ipaddress
import re
import shlex
from typing import Any, NamedTuple

from dockharden.errors import HostFileError, LayerError
from dockharden.model import HostSnapshot, Note, RenderedFile, Settings
from dockharden.targets import ufw_docker

PATH_V4 = "/etc/ufw/after.rules"
PATH_V6 = "/etc/ufw/after6.rules"
BEGIN = "# BEGIN dockharden DOCKER-USER"
END = "# END dockharden DOCKER-USER"
DEFAULT_BRIDGE_V4 = "172.17.0.0/16"
NOTHING = ufw_docker.Carried((), "")


class Port(NamedTuple):  # a value: model.py's idiom
    port: str
    proto: str


def render_ufw(settings: Settings, host: HostSnapshot) -> list[RenderedFile | Note]:
    ufw = settings.table("ufw")
    if not ufw.get("enabled"):
        return []
    from dockharden.targets.daemon_json import desired_on_host

    daemon = desired_on_host(settings, host)  # the operator's own pools and bip count too
    out: list[RenderedFile | Note] = []
    for path, version in managed_files(ufw, host):
        out += _render_one(path, version, settings, daemon, host)
    return out


def managed_files(ufw: dict[str, Any], host: HostSnapshot) -> list[tuple[str, int]]:
    """The files the block is written to, with their IP version: after6.rules when it exists or ipv6 is on."""
    return [(PATH_V4, 4)] + ([(PATH_V6, 6)] if host.file(PATH_V6).exists or ufw.get("ipv6") else [])


def _render_one(path: str, version: int, settings: Settings, daemon: dict[str, Any],
                host: HostSnapshot) -> list[RenderedFile | Note]:
    current = host.file(path)
    text = (current.content or b"").decode("utf-8", errors="surrogateescape")
    lines = split_lines(text)
    found = ufw_docker.find(lines, path=path, version=version)
    if found and not ufw_docker.chosen(settings):
        # a rule that would stop the adoption too is named first: choosing would not be enough
        span = find_block(lines, path=path)
        refuse_chain_rules_outside(lines, [s for s in (span, (found.begin, found.end)) if s is not None], path=path)
        raise ufw_docker.not_chosen(found, path=path)
    key = "allow_sources" if version == 4 else "allow_sources_v6"
    layer = operator_layer(settings, key)
    entry = ufw_docker.record(found) if found else host.managed.get(ufw_docker.STATE_KEY, {}).get(path)
    carry = ufw_docker.carried(entry, layer_sets_sources=bool(layer))
    ufw = settings.table("ufw")
    block = block_v4(ufw, daemon, carry) if version == 4 else block_v6(ufw, daemon, carry)
    new = splice_block(text, block, path=path, replacing=(found.begin, found.end) if found else None)
    # ufw owns these files: an existing one keeps its mode and owner
    mode, uid, gid = (current.mode, current.uid, current.gid) if current.exists else (0o640, 0, 0)
    out: list[RenderedFile | Note] = [RenderedFile("ufw", path=path,
                                                   content=new.encode("utf-8", errors="surrogateescape"),
                                                   mode=mode, uid=uid, gid=gid)]
    if found:
        shown = f"{layer} ({settings.sources[layer]})" if settings.sources.get(layer) else layer
        out.append(Note("info", ufw_docker.adoption_line(found, path=path, key=key, layer=shown,
                                                         layer_sources=list(ufw.get(key, [])))))
    return out


def operator_layer(settings: Settings, key: str) -> str:
    """The operator layer that sets [ufw] `key` ("" when none does: a built-in profile's value is a default
    that ufw-docker's adopted sources join)."""
    layer = settings.origin("ufw", (key,))
    return layer if layer and not settings.sources.get(layer, "").startswith("profile:") else ""


def adopted_state(settings: Settings, host: HostSnapshot) -> dict[str, Any]:
    """managed.json's record of adopted ufw-docker blocks (path -> what the managed block keeps of it): the
    earlier record, with the blocks this plan adopts. Later plans render from it once the block is gone."""
    entries = dict(host.managed.get(ufw_docker.STATE_KEY, {}))
    ufw = settings.table("ufw")
    if ufw.get("enabled") and ufw_docker.chosen(settings):
        for path, version in managed_files(ufw, host):
            text = (host.file(path).content or b"").decode("utf-8", errors="surrogateescape")
            found = ufw_docker.find(split_lines(text), path=path, version=version)
            if found:
                entries[path] = ufw_docker.record(found)
    return {ufw_docker.STATE_KEY: entries} if entries else {}


def block_v4(ufw: dict[str, Any], daemon: dict[str, Any], carry: ufw_docker.Carried = NOTHING) -> str:
    """The IPv4 block: container networks come from the layer or from the daemon's pools."""
    networks = ufw.get("container_networks") or container_networks(daemon, version=4)
    return _render_block(networks, [*ufw.get("allow_sources", []), *carry.sources], ufw.get("allow_ports", []), 4,
                         carry.user_forward)


def block_v6(ufw: dict[str, Any], daemon: dict[str, Any], carry: ufw_docker.Carried = NOTHING) -> str:
    networks = ufw.get("container_networks_v6") or container_networks(daemon, version=6)
    return _render_block(networks, [*ufw.get("allow_sources_v6", []), *carry.sources], ufw.get("allow_ports", []),
                         6, carry.user_forward)


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


def _render_block(networks: list[str], sources: list[str], ports: list[str], version: int, forward: str) -> str:
    return block_text([_network(n, version, "container_networks") for n in networks],
                      list(dict.fromkeys(_network(n, version, "allow_sources") for n in sources)),
                      [_port(p) for p in ports], forward)


def block_text(networks: list[str], sources: list[str], ports: list[Port], forward: str = "") -> str:
    """The block between the markers. Written in Python, not a template: it is on every plan's path, where
    importing Jinja2 would cost more than rendering (docs/performance.md). `forward`: ufw's route-rules
    chain, kept from an adopted ufw-docker block (declared, as ufw loads after.rules before user.rules
    fills it)."""
    rules = ["-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"]
    rules += [f"-A DOCKER-USER -j {forward}"] if forward else []
    rules += [f"-A DOCKER-USER -s {net} -j RETURN" for net in networks + sources]
    rules += [f"-A DOCKER-USER -p {p.proto} -m conntrack --ctorigdstport {p.port} -j RETURN" for p in ports]
    rules += [f"-A DOCKER-USER -d {net} -m conntrack --ctstate NEW -j DROP" for net in networks]
    lines = [BEGIN,
             "# Managed by dockharden. New connections into containers are dropped unless they come from a network",
             "# or go to a published port allowed below; replies and container traffic pass. Edit the layer, not this.",
             "*filter", ":DOCKER-USER - [0:0]", *([f":{forward} - [0:0]"] if forward else []), *rules,
             "-A DOCKER-USER -j RETURN", "COMMIT", END]
    return "\n".join(lines) + "\n"


def _network(text: str, version: int, key: str) -> str:
    return str(parse_network(text, version, f"ufw.{key}"))


def parse_network(text: str, version: int, key: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A layer's network (CIDR) of IP `version`, or a LayerError naming `key` (`ufw.allow_sources`): the
    firewall targets' one reading of their network lists."""
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise LayerError(f"`{text}` is not a network (CIDR)", hint="write it like 10.1.0.0/16", key=key) from None
    if net.version != version:
        raise LayerError(f"`{text}` is an IPv{net.version} network in an IPv{version} list",
                         hint="put IPv6 networks in the *_v6 lists", key=key)
    return net


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


def splice_block(text: str, block: str, *, path: str, replacing: tuple[int, int] | None = None) -> str:
    """`text` with its managed block replaced by `block` (appended when there is none). `replacing`: the line
    indexes of an adopted ufw-docker block, whose lines are removed (the managed block takes their place when
    the file has none yet)."""
    lines = split_lines(text)
    newline = _newline(lines)
    block_lines = [line + newline for line in block.rstrip("\n").split("\n")]
    span = find_block(lines, path=path)
    refuse_chain_rules_outside(lines, [s for s in (span, replacing) if s is not None], path=path)
    if replacing is not None:
        start, end = span or replacing
        gone = set(range(replacing[0], replacing[1] + 1))
        return "".join([line for i, line in enumerate(lines[:start]) if i not in gone] + block_lines
                       + [line for i, line in enumerate(lines[end + 1:], end + 1) if i not in gone])
    if span is None:
        _check_outside_tables(lines, len(lines), path=path, hint="end the table with COMMIT first; "
                              "dockharden appends its block after the last line")
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += newline
        return "".join(lines + block_lines)
    start, end = span
    return "".join(lines[:start] + block_lines + lines[end + 1:])


# iptables' commands that name a chain they change (or, for -L/-S/-C, read: still the operator's DOCKER-USER
# rules, in a file where dockharden owns the chain), long and short; getopt_long also takes any unambiguous
# abbreviation of a long one (`--app=DOCKER-USER`), and bundled short options (`-vADOCKER-USER`)
CHAIN_COMMANDS = {"append": "A", "insert": "I", "replace": "R", "delete": "D", "new-chain": "N", "flush": "F",
                  "delete-chain": "X", "zero": "Z", "rename-chain": "E", "policy": "P", "list": "L",
                  "list-rules": "S", "check": "C"}
# iptables' long options, to tell an abbreviation of a command from one of another option (--d is ambiguous)
OTHER_LONG = ("destination", "dport", "dst-range", "protocol", "source", "jump", "goto", "in-interface",
              "out-interface", "match", "table", "numeric", "verbose", "exact", "line-numbers", "modprobe",
              "set-counters", "wait", "wait-interval", "fragment", "ipv4", "ipv6", "help", "version")
SHORT_WITH_ARGUMENT = set("tjgsdpiomwcW") | set(CHAIN_COMMANDS.values())


def chains_changed(line: str) -> list[str]:
    """The chains an iptables-restore line declares or names as the chain of a command, read as
    iptables-restore reads it: `:CHAIN POLICY [p:b]`, or a rule line split into words with its quoting
    (`-A "DOCKER-USER"`), any spelling of the command (`-ADOCKER-USER`, `--append=DOCKER-USER`,
    `--append DOCKER-USER`, `-I DOCKER-USER 1`)."""
    text = line.strip()
    if text.startswith(":"):  # iptables-restore: strtok(buffer + 1, " \t\n") is the chain
        return text[1:].split()[:1]
    if not text.startswith("-"):
        return []
    argv, found = _argv(text), []
    for index, word in enumerate(argv):
        following = argv[index + 1] if index + 1 < len(argv) else ""
        if word.startswith("--") and len(word) > 2:
            name, equals, value = word[2:].partition("=")
            matches = [long for long in CHAIN_COMMANDS if long.startswith(name)]
            if name in CHAIN_COMMANDS or (matches and not any(o.startswith(name) for o in OTHER_LONG)):
                found.append(value if equals else following)
        elif word.startswith("-") and len(word) > 1 and not word[1:].lstrip("-").isdigit():
            for at, letter in enumerate(word[1:], 1):
                if letter in CHAIN_COMMANDS.values():
                    found.append(word[at + 1:] or following)
                    break
                if letter in SHORT_WITH_ARGUMENT:
                    break
    return [chain.strip("\"'") for chain in found if chain]


def _argv(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:  # an unbalanced quote: iptables-restore refuses the file, but read what it says
        return text.split()


def refuse_chain_rules_outside(lines: list[str], spans: list[tuple[int, int]], *, path: str) -> None:
    """The operator's own DOCKER-USER lines outside the block would be lost without a word: ufw loads
    the file with iptables-restore --noflush, where the block's `:DOCKER-USER` declaration flushes the
    chain (rules above it vanish) and its final RETURN makes rules below it dead."""
    for number, line in enumerate(lines, 1):
        inside = any(span[0] < number <= span[1] + 1 for span in spans)
        if not inside and "DOCKER-USER" in chains_changed(line):
            raise HostFileError(
                f"line {number} (`{line.strip()[:80]}`) changes the DOCKER-USER chain outside dockharden's "
                "managed block; ufw would silently lose it when it loads the block, which declares (and so "
                "flushes) the chain", hint=_move_hint(line), path=path, key="ufw")


def _move_hint(line: str) -> str:
    """Where the rule belongs in a layer, spelled out when it is a plain allow rule."""
    words = _argv(line.strip())
    verdict = words[words.index("-j") + 1] if "-j" in words[:-1] else ""
    source = words[words.index("-s") + 1] if "-s" in words[:-1] else ""
    port = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("--dport", "--ctorigdstport")), "")
    proto = words[words.index("-p") + 1] if "-p" in words[:-1] else "tcp"
    if verdict in ("RETURN", "ACCEPT") and source and not port:
        return f'move it into a layer: [ufw] allow_sources = ["{source}"], then delete the line'
    if verdict in ("RETURN", "ACCEPT") and port and not source and _allow_port(port, proto):
        return f'move it into a layer: [ufw] allow_ports = ["{port}/{proto}"], then delete the line'
    return ("move what it allows into a layer's [ufw] allow_sources / allow_ports, then delete the line "
            "(dockharden owns the DOCKER-USER chain in this file)")


def _allow_port(port: str, proto: str) -> bool:
    """Whether `PORT/PROTO` is what a layer's allow_ports accepts (core.values.port_spec: a port or a low:high
    range of 1-65535, tcp or udp): a hint never suggests a value the layer check would refuse."""
    match = re.fullmatch(r"(\d{1,5})(?::(\d{1,5}))?", port)
    if not match or proto not in ("tcp", "udp"):
        return False
    low, high = int(match.group(1)), int(match.group(2) or match.group(1))
    return 1 <= low <= high <= 65535


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
