"""Act on the services behind the managed files: docker (reload/restart), kernel audit rules, ufw.

Touches the machine through the Runner. The docker service manager is systemd, sysvinit, or plain
commands from /etc/dockharden/dockharden.toml (`[service] manager = "command"`), for hosts without
either. Commands are argument lists; a string is split as a shell would split it, never run by one.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from dockharden.errors import ApplyError, HostFileError
from dockharden.host.effective import WATCH, loaded_watches, watches  # noqa: F401 (the read side)
from dockharden.host.facts import PIDFILES, chain_policy, detect_manager
from dockharden.host.fs import HostFS
from dockharden.host.runner import Result, Runner

CONFIG = "/etc/dockharden/dockharden.toml"
MANAGERS = ("systemd", "sysvinit", "command")


class DockerService(NamedTuple):
    """How to reload and restart dockerd on this host."""

    manager: str
    restart: tuple[str, ...]
    reload: tuple[str, ...] | None  # None: SIGHUP to the pid in the pidfile
    before_restart: tuple[str, ...] | None = None
    timeout: float = 90.0
    pidfiles: tuple[str, ...] = PIDFILES
    # `systemctl show` of a unit whose restart returns before dockerd answers (Type=simple, as
    # the rootless unit is): how apply sees that dockerd exited without waiting for its socket
    status: tuple[str, ...] | None = None


def _argv(value: Any, key: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(shlex.split(value))
    if isinstance(value, list) and all(isinstance(v, str) for v in value) and value:
        return tuple(value)
    raise HostFileError(f"`{key}` must be a command: a list of strings or one string", path=CONFIG,
                        key=f"service.{key}", hint='e.g. restart_command = ["/usr/local/bin/restart-docker"]')


def docker_service(root: str, config: dict[str, Any], runner: Runner) -> DockerService:
    """The manager named in [service], else the one this host runs."""
    section = config.get("service", {})
    manager = section.get("manager", "auto")
    timeout = float(section.get("timeout", 90))
    if manager == "auto":
        manager = detect_manager(root, runner)
    if manager == "systemd":
        return DockerService("systemd", restart=("systemctl", "restart", "docker"),
                             reload=("systemctl", "reload", "docker"),
                             before_restart=("systemctl", "reset-failed", "docker"), timeout=timeout)
    if manager == "sysvinit":
        return DockerService("sysvinit", restart=("service", "docker", "restart"),
                             reload=("service", "docker", "reload"),
                             before_restart=None, timeout=timeout)
    if manager == "command":
        restart = _argv(section.get("restart_command"), "restart_command")
        if not restart:
            raise HostFileError("`manager = \"command\"` needs `restart_command`", path=CONFIG,
                                key="service.restart_command", hint="add the command that restarts dockerd")
        return DockerService("command", restart=restart, reload=_argv(section.get("reload_command"), "reload_command"),
                             before_restart=None, timeout=timeout)
    if manager == "rootless":
        user = section.get("user")
        if not user:
            raise HostFileError("`manager = \"rootless\"` needs `user`, the rootless daemon's user", path=CONFIG,
                                key="service.user", hint='e.g. user = "ci"')
        from dockharden.host.rootless import find_user

        pidfile = find_user(root, user).pidfile  # dockerd's own pid: MAINPID is RootlessKit's
        user_systemctl = ("systemctl", "--user", f"--machine={user}@")
        return DockerService("rootless", restart=(*user_systemctl, "restart", "docker"), reload=None,
                             before_restart=(*user_systemctl, "reset-failed", "docker"), timeout=timeout,
                             pidfiles=(pidfile,),
                             status=(*user_systemctl, "show", "docker", "-p", "ActiveState", "-p", "SubState",
                                     "-p", "NRestarts"))
    raise HostFileError(f"no way to restart docker on this host (manager `{manager}`)", path=CONFIG,
                        key="service.manager",
                        hint='set [service] manager = "command" with restart_command (and reload_command), '
                             "or use --no-restart")


def daemon_pid(root: str, pidfiles: tuple[str, ...] = PIDFILES) -> int | None:
    for pidfile in pidfiles:
        try:
            pid = int(HostFS(root).read_text(pidfile).strip())
        except (OSError, ValueError, HostFileError):
            continue
        if Path(f"/proc/{pid}").exists():
            return pid
    return None


def reload_docker(service: DockerService, root: str, runner: Runner) -> Result:
    """SIGHUP dockerd (through the manager, or straight to its pid)."""
    if service.reload:
        return runner.run(service.reload, timeout=service.timeout)
    pid = daemon_pid(root, service.pidfiles)
    if pid is None:
        return Result(("kill", "-HUP"), 1, "", "dockerd is not running (no live pid in its pidfile)")
    os.kill(pid, signal.SIGHUP)
    return Result(("kill", "-HUP", str(pid)), 0, "", "")


def restart_docker(service: DockerService, runner: Runner) -> Result:
    """Restart dockerd; under systemd clear a failed state first so the start limit cannot lock it."""
    if service.before_restart:
        runner.run(service.before_restart, timeout=30)
    return runner.run(service.restart, timeout=service.timeout)


def unit_state(service: DockerService, runner: Runner) -> dict[str, str]:
    """The unit's ActiveState, SubState and NRestarts ({} without a status command or an answer)."""
    if not service.status:
        return {}
    result = runner.run(service.status, timeout=30)
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line) if result.ok else {}


def exit_watch(service: DockerService, runner: Runner) -> Callable[[], bool]:
    """Right after a restart: a check that is true once dockerd has exited since, as the unit shows it
    (failed, waiting to be restarted, or restarted by systemd already); always false without a status."""
    if not service.status:
        return lambda: False
    first = unit_state(service, runner)

    def exited() -> bool:
        now = unit_state(service, runner)
        return (now.get("ActiveState") == "failed" or now.get("SubState") == "auto-restart"
                or now.get("NRestarts", "") != first.get("NRestarts", ""))

    return exited


def sync_audit_rules(runner: Runner, old_text: str | None, new_text: str | None) -> list[str]:
    """Load `new_text`'s watches and unload those only `old_text` (our previous file) had.

    A watch is removed only if our own previous file had it: an operator's rule with the same key
    stays, even for a path our file skips because the operator watches it already.
    """
    wanted = watches(new_text)
    loaded = loaded_watches(runner)
    done = []
    for path, perms, key in sorted((watches(old_text) & loaded) - wanted):
        runner.run(["auditctl", "-W", path, "-p", perms, "-k", key], timeout=20)
        done.append(f"removed watch {path}")
    for path, perms, key in sorted(wanted - loaded):
        result = runner.run(["auditctl", "-w", path, "-p", perms, "-k", key], timeout=20)
        if not result.ok:
            raise ApplyError(f"auditctl refused the watch on {path}: {result.stderr.strip()}",
                             hint="the path's parent directory must exist", path="/etc/audit/rules.d/docker.rules")
        done.append(f"loaded watch {path}")
    return done


def prune_timer(root: str, runner: Runner, action: str) -> dict:
    """Start (enable --now) or stop the prune layer's timer. Stopping happens after its unit files are
    deleted, when `systemctl disable` no longer finds them: the timer is stopped and the wants link that
    `enable` made is removed by hand."""
    from dockharden.errors import ApplyError
    from dockharden.host.fs import HostFS
    from dockharden.targets import prune_timer as units

    if action == "start":
        result = runner.run(["systemctl", "enable", "--now", units.TIMER_NAME], timeout=60)
        if not result.ok:
            raise ApplyError(f"systemctl enable --now {units.TIMER_NAME} failed: {result.stderr.strip()}",
                             path=units.TIMER_PATH, hint=f"see `systemd-analyze verify {units.TIMER_PATH}`")
        return {"service": "prune-timer", "action": "enabled and started"}
    runner.run(["systemctl", "stop", units.TIMER_NAME], timeout=60)  # not loaded any more: nothing to stop
    fs = HostFS(root)
    link = fs.real(units.WANTS_LINK, follow_last=False)
    if os.path.islink(link):
        os.unlink(link)
    runner.run(["systemctl", "daemon-reload"], timeout=60)
    return {"service": "prune-timer", "action": "stopped and disabled"}


def nftables(root: str, runner: Runner, action: str, text: str | None = None) -> dict:
    """The nftables layer's table. "load": `nft -f` the file (its text: the file on disk under `root`), then
    enable the unit that loads it at boot (under systemd). "remove": delete the live table, then stop and
    disable the unit (its file is gone already: the wants link `enable` made is removed by hand)."""
    from dockharden.targets import nft_table as nft

    manager = detect_manager(root, runner)
    if action == "load":
        if text is None:
            text = HostFS(root).read_text(nft.PATH)
        result = runner.run(["nft", "-f", "-"], input=text, timeout=60)
        if not result.ok:
            raise ApplyError(f"nft -f {nft.PATH} failed: {result.stderr.strip()}", path=nft.PATH,
                             hint=f"see `nft -c -f {nft.PATH}`")
        if manager == "systemd":
            result = runner.run(["systemctl", "enable", nft.UNIT_NAME], timeout=60)
            if not result.ok:
                raise ApplyError(f"systemctl enable {nft.UNIT_NAME} failed: {result.stderr.strip()}",
                                 path=nft.UNIT_PATH, hint=f"see `systemd-analyze verify {nft.UNIT_PATH}`")
        return {"service": "nftables", "action": "loaded" + (" and enabled" if manager == "systemd" else "")}
    if table_loaded(runner):
        runner.run(["nft", "delete", "table", *nft.TABLE.split()], timeout=60)
    if manager == "systemd":
        runner.run(["systemctl", "stop", nft.UNIT_NAME], timeout=60)  # ExecStop: the table once more (gone)
        link = HostFS(root).real(nft.WANTS_LINK, follow_last=False)
        if os.path.islink(link):
            os.unlink(link)
        runner.run(["systemctl", "daemon-reload"], timeout=60)
    return {"service": "nftables", "action": "removed" + (" and disabled" if manager == "systemd" else "")}


def table_loaded(runner: Runner) -> bool:
    from dockharden.targets import nft_table as nft

    return runner.run(["nft", "list", "table", *nft.TABLE.split()], timeout=20).ok


def chain_policy_now(runner: Runner, tool: str, chain: str) -> str:
    """A chain's live policy (`iptables -S FORWARD`'s `-P FORWARD DROP`: "DROP"), "" when it cannot say."""
    listed = runner.run([tool, "-w", "-S", chain], timeout=20)
    return chain_policy(listed.stdout, chain) if listed.ok else ""


def set_chain_policy(runner: Runner, tool: str, chain: str, policy: str) -> Result:
    """`iptables -w -P FORWARD ACCEPT`: one chain's policy (core/forward_policy.py plans it)."""
    return runner.run([tool, "-w", "-P", chain, policy], timeout=20)


def reload_ufw(runner: Runner) -> Result:
    return runner.run(["ufw", "reload"], timeout=60)


FIREWALL_TOOLS = {"/etc/ufw/after.rules": "iptables", "/etc/ufw/after6.rules": "ip6tables"}


def unload_dropped_block(runner: Runner, path: str, before: str | None, after: str | None) -> list[str]:
    """When `after` has no managed block and `before` had one, delete that block's rules from the live
    DOCKER-USER chain: `ufw reload` loads what the files declare and never empties a chain no file declares
    any more, so without this the old rules would keep closing ports until a reboot. (A file with a block
    declares the chain, which flushes it on reload: nothing to do then.)"""
    from dockharden.targets.ufw_block import block_rules

    tool = FIREWALL_TOOLS.get(path)
    old = block_rules(before)
    if not tool or not old or block_rules(after) or not runner.which(tool):
        return []
    done = []
    for rule in reversed(old):
        argv = shlex.split(rule)
        if runner.run([tool, "-D", *argv[1:]], timeout=20).ok:
            done.append(f"removed {rule}")
    return done


ERROR_LINE = re.compile(r"level=(error|fatal)|failed to start daemon|unable to configure|invalid|Error starting",
                        re.I)
LOG_FILES = ("/var/log/docker.log", "/var/log/dockerd.log")


class LogMark(NamedTuple):
    """Where the daemon's log stood before an action: only what it says afterwards explains a failure."""

    since: float                      # the time, for the journal
    sizes: tuple[tuple[str, int], ...]  # log file -> its size then


def _log_files(root: str, config: dict[str, Any]) -> list[str]:
    log_file = config.get("docker", {}).get("log_file")
    return [log_file] if log_file else list(LOG_FILES)


def mark_log(root: str, config: dict[str, Any], now: float) -> LogMark:
    """Remember where the daemon's logs end now."""
    fs = HostFS(root)
    return LogMark(now, tuple((path, fs.size(path)) for path in _log_files(root, config)))


def daemon_error_lines(root: str, config: dict[str, Any], runner: Runner, mark: LogMark | None = None) -> list[str]:
    """The daemon's own error lines (since `mark`): [docker] log_file, else the journal, else the usual logs."""
    since = dict(mark.sizes) if mark else {}
    journal = None if config.get("docker", {}).get("log_file") else journal_match(root, config, runner)
    if journal:
        # never -n with --since: journalctl 252 (bookworm) then shows the first lines after --since, and
        # a rootless start (dockerd-rootless.sh runs with set -x) logs a hundred before dockerd's error
        window = [f"--since=@{int(mark.since)}"] if mark else ["-n", "50"]
        text = runner.run(["journalctl", *journal, *window, "--no-pager", "-o", "cat"], timeout=20).stdout
    else:
        fs = HostFS(root)
        text = next((t for t in (fs.tail(p, since.get(p)) for p in _log_files(root, config)) if t), "")
    return [line for line in text.splitlines() if ERROR_LINE.search(line)]


def journal_match(root: str, config: dict[str, Any], runner: Runner) -> list[str] | None:
    """journalctl's match for the daemon's own lines: a rootless user's docker.service (root's
    `journalctl --user-unit` would look in root's own user units), the system's, or None (no journal)."""
    section = config.get("service", {})
    if section.get("manager") == "rootless" and section.get("user"):
        from dockharden.host.rootless import find_user

        return [f"_UID={find_user(root, section['user']).uid}", "_SYSTEMD_USER_UNIT=docker.service"]
    return ["-u", "docker"] if detect_manager(root, runner) == "systemd" else None



def running_containers(socket_path: str) -> dict[str, str]:
    """The containers running now, id -> name (GET /containers/json)."""
    from dockharden.host import dockerapi

    listed = dockerapi.get_json(socket_path, "/containers/json") or []
    return {c["Id"]: ((c.get("Names") or [c["Id"][:12]])[0]).lstrip("/")
            for c in listed if isinstance(c, dict) and isinstance(c.get("Id"), str)}


def stop_containers(socket_path: str, running: dict[str, str], timeout: float = 120.0) -> list[str]:
    """`docker stop` each container (POST /containers/{id}/stop: its stop signal, its stop timeout, then
    SIGKILL); the ones that did not stop, each with the daemon's answer."""
    failed = []
    for ident, name in running.items():
        status, body = _post(socket_path, f"/containers/{ident}/stop", timeout)
        if status not in (204, 304):  # 304: it had stopped already
            failed.append(f"{name}: {status or 'no answer'} {body.decode(errors='replace').strip()}".strip())
    return failed


def _post(socket_path: str, path: str, timeout: float) -> tuple[int, bytes]:
    """POST `path` with no body over the daemon's unix socket: (HTTP status, body); (0, b"") when it does not
    answer."""
    import socket

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            sock.sendall(f"POST {path} HTTP/1.0\r\nHost: docker\r\nContent-Length: 0\r\n\r\n".encode())
            raw = b"".join(iter(lambda: sock.recv(65536), b""))
    except OSError:
        return 0, b""
    head, _, body = raw.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split(b" ")
    return (int(status[1]) if len(status) > 1 and status[1].isdigit() else 0), body
