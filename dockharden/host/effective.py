"""Compare the effective state of the daemon and the kernel with the desired one.

`compare_daemon` is pure (desired daemon.json + what the daemon reports -> mismatches); the readers
below it ask the daemon (API socket) and auditctl. Keys the daemon does not report (log-opts,
default-ulimits, userland-proxy) are listed as not observable, never as passed.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

from dockharden.host import dockerapi
from dockharden.core.engine_gating import parse_version
from dockharden.host.runner import Runner

NOT_OBSERVABLE = ("log-opts", "default-ulimits", "userland-proxy", "builder", "features", "storage-opts")


@dataclass(frozen=True)
class Mismatch:
    key: str
    wanted: Any
    effective: Any

    def __str__(self) -> str:
        return f"{self.key}: wanted {json.dumps(self.wanted)}, the daemon reports {json.dumps(self.effective)}"


@dataclass(frozen=True)
class Effective:
    """What the daemon reports: `docker info`, the default bridge's options."""

    info: dict[str, Any]
    bridge_options: dict[str, str]


def compare_daemon(config: dict[str, Any], eff: Effective) -> list[Mismatch]:
    """Every desired daemon.json value that the running daemon does not show."""
    info, found = eff.info, []
    security = {s for s in info.get("SecurityOptions") or []}
    engine = parse_version(info.get("ServerVersion")) or (99, 0)

    def want(key: str, ok: bool, effective: Any) -> None:
        if key in config and not ok:
            found.append(Mismatch(key, config[key], effective))

    want("live-restore", info.get("LiveRestoreEnabled") == bool(config.get("live-restore")),
         info.get("LiveRestoreEnabled"))
    want("log-driver", info.get("LoggingDriver") == config.get("log-driver"), info.get("LoggingDriver"))
    want("storage-driver", _driver_matches(config.get("storage-driver"), info), info.get("Driver"))
    want("debug", info.get("Debug") == config.get("debug"), info.get("Debug"))
    want("experimental", info.get("ExperimentalBuild") == config.get("experimental"), info.get("ExperimentalBuild"))
    want("default-runtime", info.get("DefaultRuntime") == config.get("default-runtime"), info.get("DefaultRuntime"))
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
    return found


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


def silent_unix_hosts(config: dict[str, Any], root: str) -> list[str]:
    """The unix sockets in `hosts` that do not answer (TCP hosts are checked by a TLS handshake)."""
    from dockharden.host.facts import socket_path

    return [h for h in config.get("hosts") or [] if h.startswith("unix://")
            and not dockerapi.ping(socket_path(root, h[len("unix://"):]))]


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


def tls_ping(host: str, port: int, ca: str, cert: str | None, key: str | None, timeout: float = 5.0) -> str:
    """'' when GET /_ping over mutual TLS answers OK, else what went wrong."""
    import socket
    import ssl

    context = ssl.create_default_context(cafile=ca)
    context.check_hostname = False  # the certificate names the host; we may dial it by address
    if cert and key:
        context.load_cert_chain(cert, key)
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw) as conn:
                conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                answer = conn.recv(4096)
    except (OSError, ssl.SSLError) as exc:
        return str(exc) or exc.__class__.__name__
    return "" if answer.startswith(b"HTTP/1.") and answer.rstrip().endswith(b"OK") else repr(answer[:80])


def tls_problems(config: dict[str, Any], root: str) -> list[str]:
    """Each TCP host must answer with the client bundle and refuse a client without a certificate."""
    from dockharden.host.fs import HostFS

    fs = HostFS(root)
    client = fs.real("/etc/docker/tls/client")
    problems = []
    for host, port in tcp_endpoints(config):
        ca, cert, key = str(client / "ca.pem"), str(client / "cert.pem"), str(client / "key.pem")
        if not (client / "cert.pem").exists():
            ca, cert, key = str(fs.real(config.get("tlscacert", ""))), None, None
        else:
            error = tls_ping(host, port, ca, cert, key)
            if error:
                problems.append(f"tcp://{host}:{port} does not answer with the client bundle: {error}")
        if not tls_ping(host, port, ca, None, None):
            problems.append(f"tcp://{host}:{port} answers a client without a certificate")
    return problems


def read_effective(socket_path: str) -> Effective | None:
    """Ask the daemon; None when it does not answer."""
    info = dockerapi.get_json(socket_path, "/info")
    if not isinstance(info, dict):
        return None
    bridge = dockerapi.get_json(socket_path, "/networks/bridge") or {}
    return Effective(info, bridge.get("Options") or {})


def wait_for_daemon(socket_path: str, timeout: float, progress: Callable[[str], None],
                    clock: Callable[[], float] = time.monotonic,
                    exited: Callable[[], bool] = lambda: False) -> bool:
    """Poll /_ping until it answers or `timeout` seconds pass, reporting progress each second;
    give up as soon as `exited` says the daemon is gone (checked each half second)."""
    start = last = checked = clock()
    while clock() - start < timeout:
        if dockerapi.ping(socket_path):
            return True
        if clock() - checked >= 0.5:
            checked = clock()
            if exited():
                return False
        if clock() - last >= 1:
            progress(f"waiting for dockerd to answer ({clock() - start:.0f}/{timeout:.0f} s)")
            last = clock()
        time.sleep(0.1)
    return dockerapi.ping(socket_path)


def reload_confirmed(socket_path: str, since: float, timeout: float = 10.0) -> bool:
    """True once the daemon reports a `reload` event newer than `since` (a failed reload sends none)."""
    filters = urllib.parse.quote(json.dumps({"type": ["daemon"], "event": ["reload"]}))
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = int(time.time()) + 1
        events = dockerapi.get_stream(socket_path, f"/events?since={int(since) - 1}&until={now}&filters={filters}",
                                      timeout=5)
        if any(e.get("timeNano", 0) / 1e9 >= since - 0.5 for e in events if isinstance(e, dict)):
            return True
        time.sleep(0.2)
    return False


def missing_audit_watches(runner: Runner, wanted: set[tuple[str, str, str]]) -> list[str]:
    """Watches of the rules file the kernel does not hold."""
    from dockharden.execute.services import loaded_watches

    return sorted(path for path, _, _ in wanted - loaded_watches(runner))


def missing_firewall_rules(runner: Runner, block_text: str, tool: str = "iptables") -> list[str]:
    """Rules of the managed block absent from the live DOCKER-USER chain."""
    live = runner.run([tool, "-S", "DOCKER-USER"], timeout=20)
    lines = {line.strip() for line in live.stdout.splitlines()}
    wanted = [line.strip() for line in block_text.splitlines() if line.startswith("-A DOCKER-USER")]
    return [rule for rule in wanted if rule not in lines]
