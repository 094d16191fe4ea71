"""Desired settings against the effective ones the daemon reports: which keys are in force.

Pure: `compare_daemon` takes the desired daemon.json and what `docker info` and the default bridge
report (read by host/effective.py) and names every mismatch. Keys the daemon does not report (log-opts,
default-ulimits, userland-proxy) are listed as not observable, never as passed.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from dockharden.core.engine_gating import parse_version

NOT_OBSERVABLE = ("log-opts", "default-ulimits", "userland-proxy", "builder", "features", "storage-opts",
                  "max-concurrent-downloads", "max-concurrent-uploads", "metrics-addr")


class Mismatch(NamedTuple):
    key: str
    wanted: Any
    effective: Any

    def __str__(self) -> str:
        return f"{self.key}: wanted {json.dumps(self.wanted)}, the daemon reports {json.dumps(self.effective)}"


class Effective(NamedTuple):
    """What the daemon reports: `docker info`, the default bridge's options."""

    info: dict[str, Any]
    bridge_options: dict[str, str]


def compare_daemon(config: dict[str, Any], eff: Effective) -> list[Mismatch]:
    """Every desired daemon.json value that the running daemon does not show."""
    return judge_daemon(config, eff)[0]


def judge_daemon(config: dict[str, Any], eff: Effective) -> tuple[list[Mismatch], set[str]]:
    """(the mismatches, the desired keys the daemon's report could show at all): a desired key outside the
    second is not verifiable from `docker info` and the default bridge, neither in force nor drift."""
    info, found, shown = eff.info, [], set()
    security = {s for s in info.get("SecurityOptions") or []}
    engine = parse_version(info.get("ServerVersion")) or (99, 0)

    def want(key: str, ok: bool, effective: Any) -> None:
        if key in config:
            shown.add(key)
            if not ok:
                found.append(Mismatch(key, config[key], effective))

    want("live-restore", info.get("LiveRestoreEnabled") == bool(config.get("live-restore")),
         info.get("LiveRestoreEnabled"))
    want("log-driver", info.get("LoggingDriver") == config.get("log-driver"), info.get("LoggingDriver"))
    want("storage-driver", _driver_matches(config.get("storage-driver"), info), info.get("Driver"))
    want("debug", info.get("Debug") == config.get("debug"), info.get("Debug"))
    want("experimental", info.get("ExperimentalBuild") == config.get("experimental"), info.get("ExperimentalBuild"))
    want("default-runtime", info.get("DefaultRuntime") == config.get("default-runtime"), info.get("DefaultRuntime"))
    want("runtimes", _runtimes_match(config.get("runtimes"), info.get("Runtimes")), info.get("Runtimes"))
    want("labels", set(config.get("labels") or []) <= set(info.get("Labels") or []), info.get("Labels"))
    want("userns-remap", ("name=userns" in security) == bool(config.get("userns-remap")), sorted(security))
    if engine >= (24, 0):
        want("no-new-privileges", ("name=no-new-privileges" in security) == bool(config.get("no-new-privileges")),
             sorted(security))
    want("seccomp-profile", _seccomp_matches(config.get("seccomp-profile"), security), sorted(security))
    want("exec-opts", _cgroup_driver_matches(config.get("exec-opts") or [], info), info.get("CgroupDriver"))
    want("registry-mirrors", _mirrors(config.get("registry-mirrors")) == _mirrors(
        (info.get("RegistryConfig") or {}).get("Mirrors")), (info.get("RegistryConfig") or {}).get("Mirrors"))
    want("data-root", str(info.get("DockerRootDir", "")).startswith(str(config.get("data-root"))),
         info.get("DockerRootDir"))
    want("icc", eff.bridge_options.get("com.docker.network.bridge.enable_icc") == str(config.get("icc")).lower(),
         eff.bridge_options.get("com.docker.network.bridge.enable_icc"))
    reported = _pools(info.get("DefaultAddressPools"))
    if reported is not None and ("DefaultAddressPools" in info or engine >= (23, 0)):
        want("default-address-pools", _pools(config.get("default-address-pools")) == reported,
             info.get("DefaultAddressPools"))
    return found, shown


# What dockerd runs with when daemon.json does not set the key (and no flag does): after a rollback
# removes a key the failed run added, the daemon must report these.
ENGINE_DEFAULTS: dict[str, Any] = {"live-restore": False, "debug": False, "icc": True, "no-new-privileges": False,
                                   "userns-remap": "", "experimental": False, "log-driver": "json-file",
                                   "seccomp-profile": "builtin", "labels": [], "registry-mirrors": []}


def with_defaults_for(config: dict[str, Any], added: list[str]) -> dict[str, Any]:
    """`config` plus the engine default of each key in `added` it does not set."""
    return {**{key: ENGINE_DEFAULTS[key] for key in added if key in ENGINE_DEFAULTS}, **config}


def _driver_matches(wanted: str | None, info: dict) -> bool:
    driver = info.get("Driver")
    # the containerd image store reports its snapshotter: overlay2 becomes overlayfs
    return driver == wanted or (wanted == "overlay2" and driver == "overlayfs")


def _runtimes_match(wanted: dict | None, reported: dict | None) -> bool:
    """Each runtime daemon.json registers is in `docker info` Runtimes, with its path when it names one."""
    reported = reported if isinstance(reported, dict) else {}
    for name, spec in (wanted or {}).items():
        have = reported.get(name)
        if not isinstance(have, dict):
            return False
        if isinstance(spec, dict) and spec.get("path") and have.get("path") not in (None, spec["path"]):
            return False
    return True


def metrics_endpoint(config: dict[str, Any]) -> tuple[str, int] | None:
    """(host, port) of `metrics-addr`, brackets off an IPv6 host; None when it is not set."""
    address = config.get("metrics-addr")
    if not isinstance(address, str) or ":" not in address:
        return None
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port) if port.isdigit() else 0


def _seccomp_matches(wanted: str | None, security: set[str]) -> bool:
    profiles = {s.split("profile=", 1)[1] for s in security if s.startswith("name=seccomp,profile=")}
    if wanted in (None, "builtin"):
        return not profiles or bool(profiles & {"builtin", "default"})
    return wanted in profiles


def _cgroup_driver_matches(opts: list[str], info: dict) -> bool:
    wanted = [o.split("=", 1)[1] for o in opts if o.startswith("native.cgroupdriver=")]
    return not wanted or info.get("CgroupDriver") == wanted[-1]


def _mirrors(values) -> list[str]:
    return sorted(v.rstrip("/") for v in values or [])


def _pools(values) -> list[tuple[str, int]] | None:
    """The pools as (network, size); None when the daemon reports one it cannot print (Engine 28 shows
    `"Base": "invalid Prefix"` after a reload): not observable, never a mismatch."""
    import ipaddress

    pools = []
    for pool in values or []:
        base = pool.get("base", pool.get("Base")) if isinstance(pool, dict) else None
        try:
            pools.append((str(ipaddress.ip_network(base, strict=False)), pool.get("size", pool.get("Size"))))
        except (TypeError, ValueError):
            return None
    return sorted(pools)


def not_observable(config: dict[str, Any]) -> list[str]:
    """Desired keys `docker info` cannot show (only a probe container can show them)."""
    return [k for k in config if k in NOT_OBSERVABLE]


def tcp_endpoints(config: dict[str, Any]) -> list[tuple[str, int]]:
    """(host, port) of each tcp:// address in `hosts`; 0.0.0.0 and :: are reached on loopback."""
    found = []
    for address in config.get("hosts") or []:
        if address.startswith("tcp://"):
            hostport = address[len("tcp://"):].rstrip("/")
            host, _, port = hostport.rpartition(":")
            host = host.strip("[]") or "127.0.0.1"
            found.append(("127.0.0.1" if host in ("0.0.0.0", "::") else host, int(port or 2376)))
    return found
