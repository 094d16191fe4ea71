"""What each value in a layer, a flag and dockharden.toml means, checked: ports, networks, names, versions.

Pure. The layer schema checks shapes (types, patterns, bounds, duplicates it can see); this module checks
what a pattern cannot: port ranges and their order, IP versions, host bits, DNS label lengths, syscall and
architecture names, duplicates after normalising ("443" is "443/tcp"). Every check raises Invalid (what
is wrong, and the fix); `checked` turns that into a typed error naming the file and the key.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Any

from dockharden.errors import DockhardenError, LayerError

MAX_PORT = 65535
# the patterns are strings: re compiles (and caches) one when a value first needs it, not at every start
# shadow-utils' rule (what useradd accepts), with capitals allowed: a letter or '_' first, at most 32
USER_NAME = r"[A-Za-z_][A-Za-z0-9_.-]{0,31}"
DNS_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
ENGINE_VERSION = r"(\d{1,4})\.(\d{1,4})(\.\d{1,4})*([-+~][0-9A-Za-z.+~-]{1,64})?"
PORT_SPEC = r"(\d{1,5})(?::(\d{1,5}))?(?:/(tcp|udp))?"


class Invalid(ValueError):
    """A value that does not mean what it must: what is wrong, and the fix."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message, self.fix = message, fix


# --- one value ----------------------------------------------------------------------------------------

def port_spec(text: str) -> tuple[int, int, str]:
    """'8000:8100/udp' -> (8000, 8100, 'udp'); a bare port or range is tcp."""
    match = re.fullmatch(PORT_SPEC, text)
    if not match:
        raise Invalid(f"`{text}` is not a port", 'write "443", "8000:8100" or "53/udp" (protocol tcp or udp)')
    low, high, proto = int(match.group(1)), int(match.group(2) or match.group(1)), match.group(3)
    for port in (low, high):
        if not 1 <= port <= MAX_PORT:
            wraps = f" (the firewall would take it as port {port % 65536})" if port > MAX_PORT else ""
            raise Invalid(f"`{text}`: port {port} is outside 1-{MAX_PORT}{wraps}", f"use ports from 1 to {MAX_PORT}")
    if low > high:
        raise Invalid(f"`{text}` is a reversed range", f"did you mean `{high}:{low}"
                      + (f"/{proto}`" if proto else "`") + "? (low:high)")
    return low, high, proto or "tcp"


def network(text: str, version: int) -> str:
    """A CIDR network of IP version `version`, as ipaddress writes it ('10.1.0.0/16'); a bare address is
    its one host (/32 or /128). Host bits set are refused: was the network or the one host meant?"""
    try:
        net = ipaddress.ip_network(text, strict=False)
        if "%" in text:  # a scope id: the firewall has no use for it
            raise ValueError
    except ValueError:
        raise Invalid(f"`{text}` is not a network (CIDR)", "write it like 10.1.0.0/16 (or fd00:1::/64)") from None
    if net.version != version:
        raise Invalid(f"`{text}` is an IPv{net.version} network in an IPv{version} list",
                      "put IPv6 networks in the *_v6 lists" if net.version == 6 else
                      "put IPv4 networks in the lists without _v6")
    if net.network_address != ipaddress.ip_address(text.split("/")[0]):
        raise Invalid(f"`{text}` has host bits set", f"did you mean the network `{net}`, or the one host "
                      f"`{text.split('/')[0]}/{net.max_prefixlen}`?")
    if net.prefixlen == 0:
        raise Invalid(f"`{text}` is every address: the DOCKER-USER block would let every connection through",
                      "name the networks that may connect; to publish a port to everyone, use allow_ports")
    return str(net)


def ip_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise Invalid(f"`{text}` is not an IPv4 or IPv6 address",
                      "put host names in tls.dns_names" if dns_name_problem(text) is None
                      else "write an address such as 10.0.0.5 or fd00::5") from None


def dns_name(text: str) -> str:
    """A host name for a certificate: labels of letters, digits and '-', 63 at most, 253 in all;
    '*.' may start it. Returned lower case, without a trailing dot."""
    problem = dns_name_problem(text)
    if problem:
        raise Invalid(*problem)
    return text.rstrip(".").lower()


def dns_name_problem(text: str) -> tuple[str, str] | None:
    """(what is wrong, the fix), or None for a valid DNS name."""
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    if labels[0] == "*":
        labels = labels[1:]
    if not name or len(name) > 253 or not labels or not all(re.fullmatch(DNS_LABEL, label) for label in labels):
        return (f"`{text}` is not a DNS name", "labels of letters, digits and '-' (not first or last), separated "
                "by dots, 63 characters each and 253 in all; encode international names as xn--")
    if _is_ip(name):
        return f"`{text}` is an IP address, not a DNS name", "put it in tls.ip_addresses"
    if labels[-1].isdigit():
        return f"`{text}` is not a DNS name (its last label is all digits)", "write a host name or put an " \
            "address in tls.ip_addresses"
    return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def tcp_address(text: str) -> tuple[str, int]:
    """'tcp://host:port' with host an IPv4 address, [an IPv6 address] or a DNS name; port 1-65535."""
    fix = "write it like tcp://0.0.0.0:2376, tcp://[::]:2376 or tcp://docker.example.net:2376"
    match = re.fullmatch(r"tcp://(\[[^\]]*\]|[^:/\[\]]*):(\d{1,5})", text)
    if not match:
        raise Invalid(f"`{text}` is not a TCP address", fix)
    host, port = match.group(1), int(match.group(2))
    if not 1 <= port <= MAX_PORT:
        raise Invalid(f"`{text}`: port {port} is outside 1-{MAX_PORT}", fix)
    if host.startswith("[") and not (_is_ip(host[1:-1]) and ipaddress.ip_address(host[1:-1]).version == 6):
        raise Invalid(f"`{text}`: `{host}` is not an IPv6 address in brackets", fix)
    if not host.startswith("[") and not _is_ip(host) and dns_name_problem(host):
        raise Invalid(f"`{text}`: `{host}` is neither an IPv4 address nor a host name", fix)
    return host, port


def metrics_address(text: str) -> str:
    """daemon.json `metrics-addr`: HOST:PORT with HOST a loopback address (127.0.0.0/8 or [::1]). dockerd
    serves /metrics without TLS or authentication, so anything else is refused."""
    fix = ("write 127.0.0.1:9323 (or [::1]:9323); to scrape from another machine, put a TLS-terminating proxy "
           "in front of the loopback listener")
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not 1 <= int(port) <= MAX_PORT:
        raise Invalid(f"`{text}` is not HOST:PORT with a port from 1 to {MAX_PORT}", fix)
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        loopback = ipaddress.ip_address(bare).is_loopback and (host == bare) == (":" not in bare)
    except ValueError:
        if host:
            raise Invalid(f"`{text}`: `{host}` is not a loopback IP address (a name may resolve to any interface, "
                          "and dockerd serves /metrics without TLS or authentication)", fix) from None
        loopback = False
    if not loopback:
        where = "every interface" if host in ("", "0.0.0.0", "[::]") else f"`{host or '*'}`"
        raise Invalid(f"`{text}` would serve the daemon's metrics on {where}: dockerd serves /metrics without TLS "
                      "or authentication, so only a loopback address is accepted", fix)
    return text


GO_DURATION = r"(?:\d{1,6}(?:h|m|s))+"
LABEL_PART = r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}"
SIZE = r"\d{1,9}(?:\.\d{1,3})?(?:[kKmMgGtT]i?[bB]?|[bB])?"
CALENDAR = r"[A-Za-z0-9 *:,./~-]{1,64}"


def prune_filter(text: str) -> str:
    """A `docker system prune --filter`: until=DURATION (Go's 24h, 90m, 1h30m), label=KEY[=VALUE] or
    label!=KEY[=VALUE], KEY and VALUE of letters, digits and . _ / - (it becomes an ExecStart argument)."""
    fix = "write until=168h (hours, minutes, seconds: 24h, 90m, 1h30m), label=KEY[=VALUE] or label!=KEY[=VALUE]"
    if not text.isprintable():
        raise Invalid(f"{text!r} holds a line break or control character", fix)
    name, eq, value = text.partition("=")
    if name == "until" and eq:
        if re.fullmatch(GO_DURATION, value):
            return text
        raise Invalid(f"`{text}`: `{value}` is not a duration (no spaces, quotes or special characters)", fix)
    if name in ("label", "label!") and eq:
        if all(re.fullmatch(LABEL_PART, part) for part in value.split("=", 1)):
            return text
        raise Invalid(f"`{text}`: `{value}` is not KEY or KEY=VALUE of letters, digits and . _ / - (no spaces, "
                      "quotes or special characters)", fix)
    raise Invalid(f"`{text}` is not a prune filter (`docker system prune` takes until and label)", fix)


def byte_size(text: str) -> str:
    """A size `docker builder prune --keep-storage` takes: 10GB, 512MB, 1.5g; "" means no trimming."""
    if text and not re.fullmatch(SIZE, text):
        raise Invalid(f"`{text}` is not a size", 'write a number and a unit, e.g. 10GB or 512MB ("" keeps the '
                      "build cache untrimmed)")
    return text


def calendar(text: str) -> str:
    """A systemd OnCalendar expression, from the characters calendar expressions use (one line)."""
    if not re.fullmatch(CALENDAR, text) or not text.strip():
        raise Invalid(f"{text!r} is not a calendar expression dockharden writes",
                      'write one such as weekly, daily or "Sun *-*-* 03:00:00" (letters, digits, spaces and '
                      "* : , . / ~ -; check it with `systemd-analyze calendar`)")
    return text


TIME_SPAN = r"[0-9]{1,6}(?:ms|s|min|m|h|d|w)?"


def time_span(text: str) -> str:
    """A systemd time span as dockharden writes it (RandomizedDelaySec=): a number and one unit."""
    if not re.fullmatch(TIME_SPAN, text):
        raise Invalid(f"{text!r} is not a time span dockharden writes",
                      "write a number and one unit: ms, s, min, m, h, d or w (e.g. 1h or 30min); "
                      "check it with `systemd-analyze timespan`")
    return text


WAIT = r"(?:[0-9]{1,6}(?:ms|s|m|h))+|[0-9]{1,6}"
_WAIT_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def lock_wait(text: str) -> float:
    """`--lock-timeout`'s duration in seconds: Go's 30s, 5m, 1m30s, 500ms, 1h (as terraform's -lock-timeout),
    or plain seconds; at most a day."""
    fix = "write a duration such as 0s, 30s, 5m or 1m30s (a number alone is seconds)"
    if not isinstance(text, str) or not re.fullmatch(WAIT, text):
        raise Invalid(f"{text!r} is not a duration", fix)
    seconds = float(text) if text.isdigit() else sum(
        int(number) * _WAIT_UNITS[unit] for number, unit in re.findall(r"([0-9]+)(ms|s|m|h)", text))
    if seconds > 86400:
        raise Invalid(f"`{text}` is longer than a day", fix)
    return seconds


def audit_permissions(text: str) -> str:
    if not text or set(text) - set("rwxa") or len(set(text)) != len(text):
        raise Invalid(f"`{text}` is not an audit permission set",
                      'one or more of r, w, x and a, each once (e.g. "wa" or "rwxa")')
    return text


def user_name(text: str) -> str:
    """A user name useradd accepts: a letter or '_' first, then letters, digits, '_', '.', '-'; 32 at most."""
    if not re.fullmatch(USER_NAME, text):
        raise Invalid(f"`{text}` is not a user name", "a letter or '_' first, then letters, digits, '_', '.' or "
                      "'-', 32 characters at most")
    return text


def unprivileged_user(text: str) -> str:
    """A user name that is not root: remapping to root, or a rootless daemon run by root, is no isolation."""
    if user_name(text) == "root":
        raise Invalid("`root` is not an unprivileged user", "name the unprivileged user that should own the "
                      "containers' processes (e.g. dockremap)")
    return text


def audit_path(text: str) -> str:
    """A path for a `-w PATH` watch: absolute, one word (the rules file is split on whitespace)."""
    if not text.startswith("/") or any(c.isspace() or not c.isprintable() for c in text):
        raise Invalid(f"{text!r} is not a path auditctl can watch", "an absolute path without spaces or control "
                      "characters, e.g. /srv/app")
    return text


def user_and_group(text: str) -> str:
    """`user` or `user:group`, as userns-remap takes them."""
    user, colon, group = text.partition(":")
    unprivileged_user(user)
    if colon:
        user_name(group)
    return text


def engine_version(text: str) -> str:
    """MAJOR.MINOR[.PATCH...], with a packager's suffix allowed ('20.10.24+dfsg1', '26.1.5-ce')."""
    if not re.fullmatch(ENGINE_VERSION, text):
        raise Invalid(f"`{text}` is not an engine version",
                      "write MAJOR.MINOR[.PATCH] as `dockerd --version` prints it, e.g. 24.0 or 20.10.24")
    return text


def generation_id(text: str) -> str:
    """A generation number ('3' or '0003'), as `history` lists them."""
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) == 0:  # \d takes "０００３" too
        raise Invalid(f"`{text}` is not a generation", "give its number as `dockharden history` lists it, "
                      "e.g. 0003")
    return f"{int(text):04d}"


def syscalls(names: list[str]) -> list[str]:
    from dockharden.targets.seccomp import checked_deny  # the syscall lists: only when a layer names some

    try:
        checked_deny(names)
    except ValueError as exc:
        what, _, close = str(exc).removeprefix("seccomp.deny: ").partition("; ")
        raise Invalid(what, (close + " " if close.startswith("did") else "") + "name syscalls as `man 2 syscalls` "
                      "does") from None
    return names


def architectures(names: list[str]) -> list[str]:
    from dockharden.targets.seccomp import checked_architectures

    try:
        checked_architectures(names)
    except ValueError as exc:
        what, _, close = str(exc).removeprefix("seccomp.architectures: ").partition("; ")
        raise Invalid(what, (close + " " if close.startswith("did") else "")
                      + "name architectures as uname -m does (x86_64, aarch64, ...)") from None
    return names


# --- lists: each item, then duplicates once normalised -----------------------------------------------

def each(check: Callable[[str], Any]) -> Callable[[list[str]], list]:
    """A list check: `check` on every item, then no two items that mean the same."""
    def check_list(items: list[str]) -> list:
        seen: dict[Any, str] = {}
        for item in items:
            value = check(item)
            if value in seen:
                same = "" if seen[value] == item else f" (as `{seen[value]}`)"
                raise Invalid(f"`{item}` is listed twice{same}", "remove one of them")
            seen[value] = item
        return list(seen)
    return check_list


def _one_until(items: list[str]) -> list[str]:
    if sum(item.startswith("until=") for item in items) > 1:
        raise Invalid("more than one until= filter", "keep one: docker prunes what is older than a single age")
    return items


def _unique_strings(items: list[str]) -> list[str]:
    return each(lambda item: item)(items)


LAYER_CHECKS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "daemon": {"metrics-addr": metrics_address},
    "audit": {"permissions": audit_permissions, "extra_paths": each(audit_path)},
    "ufw": {"allow_ports": each(port_spec),
            "allow_sources": each(lambda t: network(t, 4)), "allow_sources_v6": each(lambda t: network(t, 6)),
            "container_networks": each(lambda t: network(t, 4)),
            "container_networks_v6": each(lambda t: network(t, 6))},
    "nftables": {"allow_ports": each(port_spec),
                 "allow_sources": each(lambda t: network(t, 4)), "allow_sources_v6": each(lambda t: network(t, 6)),
                 "container_networks": each(lambda t: network(t, 4)),
                 "container_networks_v6": each(lambda t: network(t, 6))},
    "seccomp": {"deny": lambda names: syscalls(_unique_strings(names)),
                "architectures": lambda names: architectures(_unique_strings(names))},
    "tls": {"address": tcp_address, "dns_names": each(dns_name), "ip_addresses": each(ip_address)},
    "userns": {"user": user_and_group},
    "rootless": {"user": unprivileged_user},
    "prune": {"filters": lambda items: _one_until(each(prune_filter)(items)), "keep_storage": byte_size,
              "on_calendar": calendar, "randomized_delay": time_span},
    "unset": {"daemon": each(lambda item: tuple(item) if isinstance(item, list) else tuple(item.split("/")))},
}


def check_layer_values(doc: dict[str, Any], *, path: str) -> None:
    """Raise LayerError for the first value in a schema-valid layer that does not mean what it must."""
    defaults = doc.get("defaults") if isinstance(doc.get("defaults"), dict) else {}
    tables = [(table, doc.get(table), checks) for table, checks in LAYER_CHECKS.items()]
    tables += [(f"defaults.{table}", defaults.get(table), LAYER_CHECKS[table]) for table in ("daemon",)]
    for table, values, checks in tables:
        if not isinstance(values, dict):
            continue
        for key, check in checks.items():
            if key in values:
                checked(check, values[key], path=path, key=f"{table}.{key}")


def checked(check: Callable[[Any], Any], value: Any, *, path: str = "", key: str,
            error: type[DockhardenError] = LayerError) -> Any:
    """`check(value)`, with its Invalid turned into `error` naming the file and the key."""
    try:
        return check(value)
    except Invalid as exc:
        raise error(exc.message, hint=exc.fix or "correct the value", path=path, key=key) from None


def duplicates(items: Iterable[str]) -> list[str]:
    """Items that occur more than once, in order of their second occurrence."""
    seen, twice = set(), []
    for item in items:
        if item in seen and item not in twice:
            twice.append(item)
        seen.add(item)
    return twice
