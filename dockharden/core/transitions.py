"""How a docker restart keeps the running containers: the order of reloads and the restart.

Pure. A daemon that *starts* without live-restore stops every container it finds, and one that *stops*
without it stops them too; live-restore is reloadable (SIGHUP). So while containers run, every restart
dockharden makes happens with live-restore on in both daemons: turned on by a reload first when the
running daemon does not have it, kept on in the file the new daemon starts with, and turned off by a reload
afterwards when the final file does not want it. apply (and a rollback) compute the same steps from the
live daemon; the plan computes them from the host's snapshot, so what it promises is what happens.

A rootless daemon's containers live in RootlessKit's namespaces, which go with the daemon, and a swarm node
cannot run with live-restore: there a restart stops the containers, and the plan says so, by name.

The default bridge is kept as it is while containers run across a restart (moby's
`initNetworkController`: with active sandboxes the network configuration is not applied), so the keys that
shape it take effect only at the first restart with no container running: BRIDGE_KEYS.
"""

from typing import Any, NamedTuple

from dockharden.model import Container

LIVE_RESTORE_ON = "reload: live-restore on"      # SIGHUP with live-restore true in the file
RESTART = "restart"                              # with live-restore true in the file when containers run
LIVE_RESTORE_OFF = "reload: live-restore off"    # SIGHUP with live-restore false, then the final file

# daemon.json keys that configure the default bridge when dockerd starts with no container running: moby's
# daemon/daemon_unix.go, initNetworkController skips configureNetworking when sandboxes are restored ("there
# are running containers, updated network configuration will not take affect"), and initBridgeDriver reads
# these (bip6 from Engine 28). With containers kept running they wait for such a start; icc proven by trial
# (tests/host/test_running_containers_across_restarts.py).
BRIDGE_KEYS = ("bip", "bip6", "bridge", "default-gateway", "default-gateway-v6", "fixed-cidr", "fixed-cidr-v6",
               "icc", "ip", "ip-masq", "ipv6", "mtu")


class Restart(NamedTuple):
    """A restart's steps and what it does to the running containers."""

    steps: tuple[str, ...]
    keeps: bool                          # the running containers keep running
    stops: tuple[Container, ...] = ()    # those that stop (when it does not keep them)
    why_not: str = ""                    # why live-restore cannot keep them here


def restart_steps(live_restore_now: bool, live_restore_after: bool, containers: tuple[Container, ...], *,
                  rootless: bool = False, swarm: bool = False) -> Restart:
    """The steps of a restart from a daemon with `live_restore_now` to the file with `live_restore_after`."""
    if not containers:
        return Restart((RESTART,), True)
    if rootless:
        return Restart((RESTART,), False, containers, "a rootless daemon's containers go with RootlessKit when "
                                                       "it restarts, live-restore or not")
    if swarm:
        return Restart((RESTART,), False, containers, "this node is in a swarm, where live-restore cannot be on")
    steps = ((LIVE_RESTORE_ON,) if not live_restore_now else ()) + (RESTART,)
    return Restart(steps + ((LIVE_RESTORE_OFF,) if not live_restore_after else ()), True)


def with_live_restore(config: dict[str, Any], value: bool) -> dict[str, Any]:
    """The file of a step: `config` with live-restore set to `value` (kept in its place when it is there)."""
    return {**config, "live-restore": value}


def is_swarm_node(info: dict[str, Any] | None) -> bool:
    return ((info or {}).get("Swarm") or {}).get("LocalNodeState") == "active"


def changed_bridge_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The default bridge's keys whose value the change makes different."""
    return [key for key in BRIDGE_KEYS if old.get(key) != new.get(key)]


def describe_stops(stops: tuple[Container, ...]) -> str:
    """`web (unless-stopped: starts again), worker (no restart policy: stays stopped)`."""
    return ", ".join(f"{c.name} ({_comes_back(c)})" for c in stops)


def _comes_back(container: Container) -> str:
    if container.restarts_by_itself:
        return f"{container.restart_policy}: starts again"
    if container.restart_policy == "on-failure":
        return "on-failure: may stay stopped"
    return "no restart policy: stays stopped"
