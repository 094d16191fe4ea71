"""The effective state: what the running daemon, the kernel's audit rules and the firewall hold now, and the
live repairs a plan needs when they no longer hold what the unchanged files say.

Reads the machine (the daemon's API socket, auditctl -l, iptables -S, a TLS handshake). The comparison
with the desired settings is pure and lives in core/effective.py.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from dockharden.core.effective import (  # noqa: F401 (pure side)
    ENGINE_DEFAULTS,
    NOT_OBSERVABLE,
    Effective,
    Mismatch,
    compare_daemon,
    metrics_endpoint,
    not_observable,
    tcp_endpoints,
    with_defaults_for,
)
from dockharden.errors import ApplyError
from dockharden.host import dockerapi
from dockharden.host.runner import Runner
from dockharden.model import Plan, ServiceAction
from dockharden.targets import audit_rules, ufw_block


def silent_unix_hosts(config: dict[str, Any], root: str) -> list[str]:
    """The unix sockets in `hosts` that do not answer (TCP hosts are checked by a TLS handshake)."""
    from dockharden.host.facts import socket_path

    return [h for h in config.get("hosts") or [] if h.startswith("unix://")
            and not dockerapi.ping(socket_path(root, h[len("unix://"):]))]


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


def metrics_problems(config: dict[str, Any], timeout: float = 5.0) -> list[str]:
    """`metrics-addr` must answer GET /metrics with Prometheus text (dockerd serves it without TLS)."""
    import http.client

    endpoint = metrics_endpoint(config)
    if endpoint is None:
        return []
    host, port = endpoint
    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request("GET", "/metrics")
        answer = conn.getresponse()
        body = answer.read(65536)
        conn.close()
    except (OSError, http.client.HTTPException) as exc:
        return [f"metrics-addr {config['metrics-addr']} does not answer: {exc or exc.__class__.__name__}"]
    if answer.status != 200 or b"# HELP" not in body:
        return [f"metrics-addr {config['metrics-addr']} answers {answer.status} without Prometheus metrics"]
    return []


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
    return sorted(path for path, _, _ in wanted - loaded_watches(runner))


def missing_firewall_rules(runner: Runner, block_text: str, tool: str = "iptables") -> list[str]:
    """Rules of the managed block in an after.rules text absent from the live DOCKER-USER chain. Only the
    managed block's: dockharden writes them as `iptables -S` prints them, where a file without the block (one
    a rollback restores, such as chaifeng/ufw-docker's, `-j RETURN -s NET`) may spell its own otherwise."""
    live = runner.run([tool, "-S", "DOCKER-USER"], timeout=20)
    lines = {line.strip() for line in live.stdout.splitlines()}
    wanted = ufw_block.block_rules(block_text)
    return [rule for rule in wanted if rule not in lines]


WATCH = re.compile(r"^-w (\S+) -p ([rwxa]+) -k (\S+)$")


def watches(text: str | None) -> set[tuple[str, str, str]]:
    """The (path, permissions, key) watches in an audit rules text."""
    found = set()
    for line in (text or "").splitlines():
        match = WATCH.match(line.strip())
        if match:
            found.add(match.groups())
    return found


def loaded_watches(runner: Runner) -> set[tuple[str, str, str]]:
    result = runner.run(["auditctl", "-l"], timeout=20)
    if not result.ok:
        raise ApplyError(f"auditctl -l failed: {result.stderr.strip()}", hint="is auditd installed and are "
                         "we root?", path="/etc/audit/rules.d/docker.rules")
    return watches(result.stdout)


def live_repairs(plan: Plan, root: str, runner) -> list[ServiceAction]:
    """Service actions for live state the unchanged files no longer describe (none when a file changes:
    then the plan's own service actions load it)."""
    import os

    if os.path.realpath(root) != "/":  # an image or a tree: no kernel, no chain of its own
        return []
    rendered = {f.path: f.content for f in plan.rendered}
    planned = {s.service for s in plan.services}
    found = []
    audit = rendered.get(audit_rules.PATH)
    if audit and audit_rules.PATH in plan.unchanged and "auditd" not in planned and _audit_loadable(runner):
        missing = missing_audit_watches(runner, watches(audit.decode(errors="replace")))
        if missing:
            found.append(ServiceAction("auditd", action="reload", reason="the kernel lacks watches of the rules file ("
                                       + ", ".join(missing) + "): auditctl loads them"))
    block = rendered.get(ufw_block.PATH_V4)
    if block and ufw_block.PATH_V4 in plan.unchanged and "ufw" not in planned and _firewall_readable(root, runner):
        missing = missing_firewall_rules(runner, block.decode(errors="replace"))
        if missing:
            found.append(ServiceAction("ufw", action="reload",
                                       reason=f"the live DOCKER-USER chain lacks {len(missing)} rule(s) "
                                              "of the block: ufw reload restores it"))
    found += _nftables_repair(plan, rendered, planned, runner)
    return found


def _nftables_repair(plan: Plan, rendered: dict, planned: set[str], runner) -> list[ServiceAction]:
    """The nftables layer's table, when the file is as rendered but the live table is gone or differs."""
    from dockharden.targets import nft_table

    table = rendered.get(nft_table.PATH)
    if not table or nft_table.PATH not in plan.unchanged or "nftables" in planned or not runner.which("nft"):
        return []
    listed = runner.run(["nft", "list", "table", *nft_table.TABLE.split()], timeout=20)
    if "Operation not permitted" in listed.stderr:
        return []
    if listed.ok and nft_table.table_body(listed.stdout) == nft_table.table_body(table.decode(errors="replace")):
        return []
    what = "differs from" if listed.ok else "is not loaded from"
    return [ServiceAction("nftables", action="load",
                          reason=f"the live table {nft_table.TABLE} {what} {nft_table.PATH}: nft -f loads it again")]


def _audit_loadable(runner) -> bool:
    from dockharden.host.facts import AUDIT_AVAILABLE, kernel_audit

    return runner.which("auditctl") is not None and kernel_audit() == AUDIT_AVAILABLE


def _firewall_readable(root: str, runner) -> bool:
    from dockharden.host.facts import ufw_enabled

    return ufw_enabled(root) and runner.which("iptables") is not None


def with_repairs(plan: Plan, root: str, runner) -> Plan:
    """The plan with the live repairs among its service actions."""
    repairs = live_repairs(plan, root, runner)
    return plan._replace(services=plan.services + tuple(repairs)) if repairs else plan
