"""Networks around systemd hosts: an "outside" namespace joined to machines by veth pairs, and a
controller that reaches machines over SSH.

Every machine boots with ``--private-network`` (only ``lo``). A :class:`NetNamespace` is a network
namespace of its own, held by a process (so nothing is left in /run/netns); :meth:`NetNamespace.link`
creates a veth pair there and moves one end into a machine's namespace (through its PID 1), so
from that namespace a test reaches the machine's address, e.g. a container's published port::

    outside = make_netns()
    link = outside.link(host)            # link.host_ip is the machine's address on the link
    outside.run(["busybox", "nc", link.host_ip, "8080"], input="GET / HTTP/1.0\\r\\n\\r\\n")

A :class:`Controller` is such a namespace linked to several machines, with an SSH key the test
generated, authorized for root on each: ``controller.ssh(host, ["systemctl", "is-active", "docker"])``
or ``controller.inventory()`` for ansible-playbook run with ``controller.run(argv, env=controller.ansible_env())``.

Nothing is created in the machine's own network namespace: the veth pair is made inside the
outside namespace and ends when either side's namespace does.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from machine import CommandFailed, SystemdHost

_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
#: Subnets 10.231.N.0/24, one per link made by this process (unique inside any machine).
_SUBNETS = count(1)
_OPEN: list[NetNamespace] = []
SSH_OPTIONS = ("-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null",
               "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR")


def _env() -> dict[str, str]:
    parts = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p]
    return dict(os.environ, PATH=os.pathsep.join(parts + [d for d in _SBIN if d not in parts]))


@dataclass(frozen=True)
class Link:
    """A veth pair between a namespace (``peer_if``, ``peer_ip``) and a machine (``host_if``, ``host_ip``)."""

    host: SystemdHost
    peer_if: str
    peer_ip: str
    host_if: str
    host_ip: str


class NetNamespace:
    """A network namespace on this machine's mounts and tools (its holder: ``unshare --net cat``,
    which ends when its stdin pipe closes, so an aborted test leaves nothing)."""

    def __init__(self, name: str = "outside"):
        self.name = name
        self.links: list[Link] = []
        self._holder = subprocess.Popen(["unshare", "--net", "--", "cat"], stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        env=_env(), start_new_session=True)
        self.pid = self._holder.pid
        _OPEN.append(self)
        # unshare execs cat once the namespace exists: wait for that before using it.
        own = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 10
        while True:
            try:
                if os.readlink(f"/proc/{self.pid}/ns/net") != own:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self._holder.poll() is not None:
                self.close()
                raise RuntimeError(f"unshare --net did not make a network namespace (pid {self.pid})")
            time.sleep(0.01)
        self.run(["ip", "link", "set", "lo", "up"])

    def run(self, argv: Sequence[str | os.PathLike], *, check: bool = True, timeout: float = 120,
            input: str | bytes | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run argv (this machine's programs) inside the namespace."""
        proc = subprocess.run(["nsenter", "-t", str(self.pid), "-n", "--", *map(str, argv)],
                              capture_output=True, text=not isinstance(input, bytes), timeout=timeout,
                              input=input, stdin=None if input is not None else subprocess.DEVNULL,
                              env={**_env(), **(env or {})})
        if check and proc.returncode != 0:
            raise CommandFailed(proc.returncode, list(map(str, argv)), proc.stdout, proc.stderr)
        return proc

    def link(self, host: SystemdHost) -> Link:
        """A veth pair from here into the running machine, both ends addressed and up."""
        n = next(_SUBNETS)
        if n > 254:
            raise RuntimeError("out of 10.231.N.0/24 subnets")
        peer_if = f"dh{n}"
        taken = {line.split(": ")[1].split("@")[0] for line in host.run(["ip", "-o", "link"]).stdout.splitlines()}
        host_if = next(f"ext{i}" for i in count() if f"ext{i}" not in taken)
        self.run(["ip", "link", "add", peer_if, "type", "veth", "peer", "name", host_if,
                  "netns", str(host.leader)])
        self.run(["ip", "addr", "add", f"10.231.{n}.1/24", "dev", peer_if])
        self.run(["ip", "link", "set", peer_if, "up"])
        host.run(["ip", "addr", "add", f"10.231.{n}.2/24", "dev", host_if])
        host.run(["ip", "link", "set", host_if, "up"])
        link = Link(host, peer_if, f"10.231.{n}.1", host_if, f"10.231.{n}.2")
        self.links.append(link)
        return link

    def link_to(self, host: SystemdHost) -> Link:
        """The link to host made by :meth:`link` (the latest, if several)."""
        for link in reversed(self.links):
            if link.host is host:
                return link
        raise KeyError(f"{self.name} has no link to {host.name}")

    def close(self) -> None:
        if self in _OPEN:
            _OPEN.remove(self)
        if self._holder.poll() is None:
            self._holder.stdin.close()  # type: ignore[union-attr]
            try:
                self._holder.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._holder.kill()
                self._holder.wait()

    def __repr__(self) -> str:
        return f"<NetNamespace {self.name} pid={self.pid}>"


def ssh_keypair(directory: Path) -> Path:
    """A new passphrase-less ed25519 key pair; returns the private key's path (``.pub`` beside it)."""
    key = Path(directory) / "id_ed25519"
    key.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dockharden-tests", "-f", str(key)],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return key


def authorize_key(host: SystemdHost, public_key: str) -> None:
    """Let the key log in as root on the machine (sshd's default permits root by key)."""
    host.run(["install", "-d", "-m", "700", "/root/.ssh"])
    host.write_file("/root/.ssh/authorized_keys", public_key, mode=0o600)


class Controller(NetNamespace):
    """An outside namespace linked to machines, with an SSH key authorized as root on each."""

    def __init__(self, key: Path, name: str = "controller"):
        super().__init__(name)
        self.key = key
        # ssh's control sockets need a short path (108 bytes), which tmp_path is not.
        self._control_dir = Path(tempfile.mkdtemp(prefix="dh-cp-"))

    def close(self) -> None:
        super().close()
        shutil.rmtree(self._control_dir, ignore_errors=True)

    def add(self, host: SystemdHost) -> Link:
        """Link a running machine and authorize the key there (again after each of its boots: the
        link ends with the machine, files do not)."""
        authorize_key(host, Path(f"{self.key}.pub").read_text())
        return self.link(host)

    def ssh_argv(self, host: SystemdHost, argv: Sequence[str]) -> list[str]:
        """The ssh command line that runs argv as root on host (argv quoted for the remote shell)."""
        return ["ssh", "-i", str(self.key), *SSH_OPTIONS, f"root@{self.link_to(host).host_ip}",
                "--", shlex.join(map(str, argv))]

    def ssh(self, host: SystemdHost, argv: Sequence[str], *, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess:
        return self.run(self.ssh_argv(host, argv), check=check, timeout=timeout)

    def wait_for_ssh(self, host: SystemdHost, timeout: float = 60) -> None:
        """Until sshd on host accepts the key (it may still be starting right after boot)."""
        deadline = time.monotonic() + timeout
        while True:
            proc = self.ssh(host, ["true"], check=False, timeout=30)
            if proc.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"ssh to {host.name} fails: {proc.stderr.strip()}")
            time.sleep(0.5)

    def ansible_env(self) -> dict[str, str]:
        """Environment for ansible run with :meth:`run`: its SSH control sockets and temporary files in
        this controller's own directory. Shared ones (~/.ansible/cp, named by address and user)
        would let a concurrent test's connection to a machine at the same address answer for ours."""
        return {"ANSIBLE_SSH_CONTROL_PATH_DIR": str(self._control_dir),
                "ANSIBLE_LOCAL_TEMP": str(self.key.parent / "ansible-tmp"),
                "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1"}

    def inventory(self, python: str = "/usr/bin/python3") -> str:
        """An Ansible INI inventory of the linked machines (group ``machines``), reached over SSH."""
        common = " ".join(SSH_OPTIONS)
        lines = ["[machines]"]
        for link in self.links:
            lines.append(f"{link.host.name} ansible_host={link.host_ip} ansible_user=root "
                         f"ansible_ssh_private_key_file={self.key} ansible_python_interpreter={python} "
                         f"ansible_ssh_common_args='{common}'")
        return "\n".join(lines) + "\n"


@atexit.register
def _close_leftover_namespaces() -> None:
    for ns in list(_OPEN):
        try:
            ns.close()
        except Exception as exc:  # pragma: no cover - best effort at exit
            print(f"net: closing {ns!r}: {exc}", file=sys.stderr)
