"""chaifeng/ufw-docker's DOCKER-USER block in after.rules and after6.rules: recognised, refused unless the
operator chooses to adopt it, and translated into the managed block's terms when adopted (issue 21).

Pure: lines in, a value (or a HostFileError naming the line) out. Only a block that is recognisably
ufw-docker's is adopted: its two markers, each once, in that order, outside any table, holding one `*filter`
table whose lines are the rule shapes ufw-docker writes (every version since 2019, IPv4 and IPv6). Anything
else stays refused: dockharden will not drop rules it cannot account for.

What adoption carries over, and how (docs/layers.md, "Moving from ufw-docker"):
- `-A DOCKER-USER -j RETURN -s NET` (ufw-docker lets the private ranges reach every container): NET joins
  the block's allow_sources (allow_sources_v6 in after6.rules), unless an operator layer sets that list:
  the layer wins then, and the plan says which of ufw-docker's sources are no longer allowed;
- `-A DOCKER-USER -j ufw-user-forward` (where `ufw-docker allow` and `ufw route allow` put their rules):
  the managed block keeps that jump (after the replies' RETURN), so those rules keep working;
- the replies, DNS-reply, INVALID and docker0 rules: the managed block returns replies and the containers'
  own traffic itself; the drops of new connections to the private ranges: the managed block drops new
  connections to the container networks; the logging chain: no longer used (nothing is logged).
What was carried over is recorded in managed.json, so later plans (without the choice) keep it.
"""

import ipaddress
import re
from typing import Any, NamedTuple

from dockharden.errors import HostFileError
from dockharden.model import Settings

BEGIN = "# BEGIN UFW AND DOCKER"
END = "# END UFW AND DOCKER"
OPTION = "--adopt-ufw-docker"
KEY = "adopt_ufw_docker"
STATE_KEY = "ufw_docker"  # managed.json: path -> {"allow_sources": [...], "user_forward": "ufw-user-forward"}
HOW = (f"give {OPTION} to plan and apply (the Ansible module: {KEY}: true), or put `{KEY} = true` in a "
       "layer's [ufw] table")


class Found(NamedTuple):
    """ufw-docker's block in a file: where it is and what it allowed."""

    begin: int                   # line indexes of the markers
    end: int
    sources: tuple[str, ...]     # the networks it returned (allowed) for
    user_forward: str            # the ufw route-rules chain it jumped to ("" none)


def chosen(settings: Settings) -> bool:
    """Whether the operator chose adoption: the option or a layer's `adopt_ufw_docker = true`."""
    return settings.table("ufw").get(KEY) is True


def chosen_by_option(settings: Settings) -> Settings:
    """The settings with the choice --adopt-ufw-docker made, credited to the option."""
    tables = dict(settings.tables, ufw={**settings.table("ufw"), KEY: True})
    return settings._replace(tables=tables, provenance={**settings.provenance, ("ufw", (KEY,)): OPTION})


def _shapes(version: int) -> list[tuple[str, re.Pattern]]:
    prefix = "ufw" if version == 4 else "ufw6"
    forward, deny = f"{prefix}-user-forward", f"{prefix}-docker-logging-deny"
    net = r"(?P<net>[0-9A-Fa-f.:]+/[0-9]{1,3})"
    new = r"(?:-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN|-p udp -m udp --dport 0:32767|-m conntrack --ctstate NEW)"
    shapes = {
        "declare": rf":(?:{forward}|{deny}|DOCKER-USER) - \[0:0\]",
        "forward": rf"-A DOCKER-USER -j {forward}",
        "source": rf"-A DOCKER-USER -j RETURN -s {net}",
        "dns": r"-A DOCKER-USER -p udp -m udp --sport 53 --dport 1024:65535 -j RETURN",
        "replies": r"-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        "invalid": r"-A DOCKER-USER -m conntrack --ctstate INVALID -j DROP",
        "bridge": r"-A DOCKER-USER -i docker0 -o docker0 -j ACCEPT",
        "deny": rf"-A DOCKER-USER -j (?:{deny}|DROP) {new} -d {net}",
        "return": r"-A DOCKER-USER -j RETURN",
        "log": rf'-A {deny} -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix "\[UFW DOCKER BLOCK\] "',
        "drop": rf"-A {deny} -j DROP",
    }
    return [(name, re.compile(pattern)) for name, pattern in shapes.items()]


def find(lines: list[str], *, path: str, version: int) -> Found | None:
    """ufw-docker's block in `lines` (as ufw_block.split_lines gives them), None when the file has neither of
    its markers; HostFileError naming the line when a marker is there but the block is not recognisably
    ufw-docker's (then it cannot be adopted, and it is not dockharden's to drop)."""
    begins = [i for i, line in enumerate(lines) if line.strip() == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    if not begins and not ends:
        return None
    hint = ("repair or remove the block by hand: ufw-docker writes one block, between one "
            f"`{BEGIN}` and one `{END}` line, after every table's COMMIT")
    if len(begins) > 1 or len(ends) > 1:
        raise HostFileError(f"{len(begins)} `{BEGIN}` and {len(ends)} `{END}` lines (at lines "
                            f"{', '.join(str(i + 1) for i in sorted(begins + ends))}); chaifeng/ufw-docker writes "
                            "exactly one block, so this one cannot be adopted", hint=hint, path=path, key="ufw")
    if not begins or not ends or ends[0] < begins[0]:
        marker, line = (BEGIN, begins[0]) if begins and not ends else (END, ends[0])
        raise HostFileError(f"line {line + 1}: chaifeng/ufw-docker's `{marker}` line has no partner in the right "
                            "order, so its block cannot be recognised or adopted", hint=hint, path=path, key="ufw")
    begin, end = begins[0], ends[0]
    open_table = _open_table(lines[:begin])
    if open_table is not None:
        raise HostFileError(f"line {begin + 1}: chaifeng/ufw-docker's `{BEGIN}` line stands inside the table opened "
                            f"at line {open_table} (no COMMIT before it), so its block cannot be adopted",
                            hint=hint, path=path, key="ufw")
    return _read_block(lines, begin, end, path=path, version=version)


def _open_table(lines: list[str]) -> int | None:
    open_table = None
    for number, line in enumerate(lines, 1):
        word = line.strip()
        if word.startswith("*"):
            open_table = number
        elif word == "COMMIT":
            open_table = None
    return open_table


def _read_block(lines: list[str], begin: int, end: int, *, path: str, version: int) -> Found:
    shapes = _shapes(version)
    sources: list[str] = []
    forward = ""
    statements = []  # (line number, text) of every line that is neither blank nor a comment
    for index in range(begin + 1, end):
        text = " ".join(lines[index].split())
        if text and not text.startswith("#"):
            statements.append((index + 1, text))

    def refuse(number: int, text: str, why: str) -> HostFileError:
        return HostFileError(
            f"line {number} (`{text[:80]}`) in chaifeng/ufw-docker's block (lines {begin + 1}-{end + 1}) {why}, so "
            "dockharden cannot adopt the block: its DOCKER-USER rules would be lost without a word",
            hint="move what the line does into a layer's [ufw] table (allow_sources, allow_ports) and delete it, "
                 f"or remove the whole block by hand; then plan again ({OPTION} adopts a block of ufw-docker's "
                 "own rules only)", path=path, key="ufw")

    if not statements or statements[0][1] != "*filter":
        number, text = statements[0] if statements else (begin + 1, lines[begin].strip())
        raise refuse(number, text, "is not the `*filter` line ufw-docker's block starts with")
    if statements[-1][1] != "COMMIT":
        raise refuse(*statements[-1], "is not the COMMIT line ufw-docker's block ends with")
    for number, text in statements[1:-1]:
        name, match = next(((n, m) for n, pattern in shapes if (m := pattern.fullmatch(text))), ("", None))
        if match is None:
            raise refuse(number, text, "is not a rule ufw-docker writes")
        if "net" in match.groupdict():
            net = _network(match["net"], version)
            if net is None:
                raise refuse(number, text, f"does not name an IPv{version} network as ufw-docker writes them "
                                           "(no host bits, not /0)")
            if name == "source":
                sources.append(net)
        if name == "forward":
            forward = text.split()[-1]
    if not any(text == ":DOCKER-USER - [0:0]" for _, text in statements):
        raise refuse(*statements[0], "opens a table that does not declare DOCKER-USER as ufw-docker's does")
    return Found(begin, end, tuple(dict.fromkeys(sources)), forward)


def _network(text: str, version: int) -> str | None:
    """The network as allow_sources takes it (no host bits, not /0), None otherwise."""
    try:
        net = ipaddress.ip_network(text)
    except ValueError:
        return None
    return str(net) if net.version == version and net.prefixlen > 0 else None


def not_chosen(found: Found, *, path: str) -> HostFileError:
    """The refusal when the operator has not chosen adoption: it names the block and how to adopt it."""
    return HostFileError(
        f"lines {found.begin + 1}-{found.end + 1} hold chaifeng/ufw-docker's DOCKER-USER block (`{BEGIN}` ... "
        f"`{END}`); dockharden manages the DOCKER-USER chain in this file, and ufw would silently lose one of the "
        "two blocks' rules, so nothing is written until you choose",
        hint=f"to move over from ufw-docker, adopt the block: {HOW}; the plan then shows the block's removal and "
             "what it allowed carried over into dockharden's block (rollback gives the file back byte for byte)",
        path=path, key="ufw")


class Carried(NamedTuple):
    """What the managed block keeps of an adopted ufw-docker block, for one file."""

    sources: tuple[str, ...]   # added to the layer's allow_sources (empty: none, or a layer's list wins)
    user_forward: str          # the chain the block jumps to ("" none)


def record(found: Found) -> dict[str, Any]:
    """managed.json's entry for an adopted block."""
    return {"allow_sources": list(found.sources), "user_forward": found.user_forward}


def carried(entry: dict[str, Any] | None, layer_sets_sources: bool) -> Carried:
    """What the managed block keeps from managed.json's entry (None: nothing adopted for this file)."""
    if not entry:
        return Carried((), "")
    return Carried(() if layer_sets_sources else tuple(entry.get("allow_sources", ())),
                   str(entry.get("user_forward", "")))


def adoption_line(found: Found, *, path: str, key: str, layer: str, layer_sources: list[str]) -> str:
    """The plan's plain account of an adoption: what ufw-docker's block allowed and where each part goes.
    `layer` names the operator layer that sets `key` ("" none: ufw-docker's sources join it)."""
    parts = [f"adopting chaifeng/ufw-docker's block in {path} (lines {found.begin + 1}-{found.end + 1}): it is "
             "replaced by dockharden's"]
    if found.sources and not layer:
        parts.append(f"allowed sources {', '.join(found.sources)} -> {key}")
    elif found.sources:
        kept = [s for s in found.sources if s in layer_sources]
        dropped = [s for s in found.sources if s not in layer_sources]
        parts.append(f"allowed sources {', '.join(found.sources)} -> not carried over: the layer {layer} sets {key}, "
                     "which wins" + (f" (it still allows {', '.join(kept)})" if kept else "")
                     + (f"; no longer allowed: {', '.join(dropped)} (add them to its {key} to keep them)"
                        if dropped else ""))
    if found.user_forward:
        parts.append(f"`ufw route allow` rules (`ufw-docker allow`'s, chain {found.user_forward}) keep working: "
                     "dockharden's block jumps to that chain")
    else:
        parts.append("it did not jump to ufw's route rules, and neither does dockharden's block")
    parts.append("replies and the containers' own traffic pass as before; new connections to the container "
                 "networks from other sources are dropped (not logged)")
    return "; ".join(parts)
