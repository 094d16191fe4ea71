"""Whether other hosts can reach and trust the API the tls layer serves: ufw's incoming policy against the
port, and the host's own addresses against the names in the server certificate. Pure: host/facts.py
reads ufw's settings and the addresses (`ip -j addr`), targets/certs.py the certificate's names.
"""

from __future__ import annotations

import ipaddress

from dockharden.model import HostSnapshot, Note

ANY = ("0.0.0.0", "::")


def reach_notes(endpoints: list[str], host: HostSnapshot, sans: set[str] | None) -> list[Note]:
    """Warnings for each TCP endpoint (`tcp://HOST:PORT`) that is not loopback: ufw would drop its clients,
    or the certificate (`sans`, as certs.san_strings gives them; None: unknown) names none of the
    addresses clients would connect to."""
    notes: list[Note] = []
    for endpoint in endpoints:
        listen, port = split_endpoint(endpoint)
        if listen is None or _loopback(listen):
            continue
        notes += _ufw_note(endpoint, port, host)
        reach = host.addresses if listen in ANY else (listen,)
        notes += _san_note(reach or (), sans)
    return list(dict.fromkeys(notes))


def split_endpoint(endpoint: str) -> tuple[str | None, int]:
    """`tcp://0.0.0.0:2376` -> ("0.0.0.0", 2376); `tcp://[::]:2376` -> ("::", 2376); (None, 0) otherwise."""
    if not endpoint.startswith("tcp://"):
        return None, 0
    hostport = endpoint[len("tcp://"):].rstrip("/")
    host, _, port = hostport.rpartition(":")
    return (host.strip("[]") or "0.0.0.0"), int(port) if port.isdigit() else 2376


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def _ufw_note(endpoint: str, port: int, host: HostSnapshot) -> list[Note]:
    policy = host.ufw_input_policy or "DROP"
    if not host.ufw_enabled or policy == "ACCEPT" or str(port) in host.ufw_allowed_ports:
        return []
    return [Note("warning", f"tls: ufw is active and its default incoming policy is {policy}, and no ufw rule "
                            f"allows port {port}: the API on {endpoint} answers only this host until one does, "
                            f"e.g. `ufw allow from 10.0.0.0/24 to any port {port} proto tcp` (your clients' "
                            "network); the DOCKER-USER block does not cover it, it filters containers' traffic")]


def _san_note(reach: tuple[str, ...], sans: set[str] | None) -> list[Note]:
    if sans is None or not reach:
        return []
    missing = [a for a in reach if f"IP:{_normal(a)}" not in sans]
    if not missing:
        return []
    names = ", ".join(sorted(s[4:] for s in sans if s.startswith("DNS:"))) or "none"
    return [Note("warning", f"tls: the server certificate has no name for this host's own address(es) "
                            f"{', '.join(missing)}: a client that connects by address fails verification; add "
                            f"them to [tls] ip_addresses, or connect by a name it has (DNS: {names})")]


def _normal(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address
