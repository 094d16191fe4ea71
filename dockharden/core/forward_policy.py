"""The iptables FORWARD policy when dockerd moves to its nftables firewall backend (issue 22.4).

Pure. Docker's iptables backend sets the FORWARD policy to DROP when it turns IPv4 forwarding on; its
restart onto the nftables backend leaves that policy until the next boot, and a packet must be accepted by
every hook's chains, so every published port stops answering outside clients (measured on Engine 29.7.2).
When no other firewall of the operator's sets it (ufw not active), the DROP is Docker's own, which a reboot
clears: the plan then sets it to ACCEPT right after the restart, as a planned host action, so that the
state after apply is the state after a reboot; a rollback puts the recorded policy back once docker is on
its iptables backend again.
"""

from __future__ import annotations

from collections.abc import Iterable

from dockharden.model import Container, HostAction, HostSnapshot, ServiceAction

KIND = "firewall_policy"
CHAIN = "FORWARD"
DROPS = ("DROP", "REJECT")
# each tool, and where host/facts.py puts its FORWARD policy in HostSnapshot.firewall
TOOLS = (("iptables", "forward_policy"), ("ip6tables", "forward_policy_v6"))


def running_backend(host: HostSnapshot) -> str:
    """The running daemon's firewall backend as `docker info` reports it ("" : no daemon, or not said)."""
    return str(((host.daemon_info or {}).get("FirewallBackend") or {}).get("Driver", ""))


def switches_to_nftables(config: dict, host: HostSnapshot) -> bool:
    """Whether the new daemon.json moves a running daemon from its iptables backend to nftables."""
    backend = running_backend(host)
    return config.get("firewall-backend") == "nftables" and bool(backend) and not backend.startswith("nftables")


def restarts_docker(services: Iterable[ServiceAction]) -> bool:
    return any(s.service == "docker" and s.action == "restart" for s in services)


def policies(host: HostSnapshot) -> dict[str, str]:
    """The live FORWARD policy by tool, for the tools that said one ({} on an offline root)."""
    return {tool: host.firewall[key] for tool, key in TOOLS if host.firewall.get(key)}


def planned_actions(config: dict, host: HostSnapshot, services: Iterable[ServiceAction], *,
                    live: bool) -> tuple[HostAction, ...]:
    """The FORWARD policies apply sets to ACCEPT right after docker restarts on the nftables backend: on the
    running system, when the plan switches the daemon from iptables, ufw is not active (so the DROP is
    Docker's own), and a tool's policy is DROP or REJECT."""
    if not live or host.ufw_enabled or not switches_to_nftables(config, host) or not restarts_docker(services):
        return ()
    return tuple(HostAction(KIND, tool=tool, chain=CHAIN, before=before, after="ACCEPT", reason=(
        f"docker's iptables backend set `{tool} -P {CHAIN} {before}` when it turned forwarding on, and its restart "
        "onto the nftables backend leaves it until the next boot, which clears it: until then it drops what "
        "Docker's nftables rules accept (every published port, containers' traffic out); set to ACCEPT right "
        "after docker restarts, as a reboot would leave it; a rollback puts it back"))
        for tool, before in policies(host).items() if before in DROPS)


def restore_actions(recorded: Iterable[tuple[str, list[dict]]], now: dict[str, str], *, to_nftables: bool,
                    services: Iterable[ServiceAction]) -> tuple[HostAction, ...]:
    """A rollback's host actions: each policy the generations it undoes set (`recorded`: each generation's
    id and its `firewall_policy` entries, oldest first; the first entry of a tool holds the policy before all
    of them), put back after docker restarts on the restored daemon.json, unless that file keeps the
    nftables backend (the DROP would darken it again) or the policy already is what was recorded."""
    if to_nftables or not restarts_docker(services):
        return ()
    first: dict[str, tuple[str, str]] = {}
    for generation, entries in recorded:
        for entry in entries:
            if entry.get("chain", CHAIN) == CHAIN:
                first.setdefault(entry["tool"], (generation, entry["before"]))
    return tuple(HostAction(KIND, tool=tool, chain=CHAIN, before=now[tool], after=before, reason=(
        f"generation {generation} set it from {before} to ACCEPT when docker moved to its nftables backend; put "
        f"back once docker runs on its iptables backend again"))
        for tool, (generation, before) in first.items() if now.get(tool) and now[tool] != before)


def dark_ports(containers: Iterable[Container] | None) -> list[str]:
    """The running containers' published ports an outside client dials (`8080/tcp of web (8080->80/tcp)`)."""
    from dockharden.core.published_ports import reachable_from_outside

    return [f"{p.host_port}/{p.proto} of {c.name} ({p})" for c in containers or ()
            for p in dict.fromkeys(c.ports) if reachable_from_outside(p)]


def describe(action: HostAction) -> str:
    """`iptables FORWARD policy DROP -> ACCEPT, right after the docker restart`."""
    return (f"{action.tool} {action.chain} policy {action.before} -> {action.after}, right after the "
            f"{action.after_service} restart")
