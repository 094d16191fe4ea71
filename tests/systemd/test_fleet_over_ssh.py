"""A fleet over SSH: the collection's rolling playbook against two systemd machines.

The collection (ansible/) is built and installed offline with ansible-galaxy, as an operator would,
and its playbook ``dockharden.host.harden_fleet`` (the role ``rolling_harden`` with ``serial: 1`` and
``max_fail_percentage: 0``) runs from a controller namespace over SSH. The machines start without
dockharden: the playbook's install role puts it on each (a venv in /opt/dockharden from the wheels the
controller ships, no index), and the module runs with that venv's Python.

The two machines run different engines, as a fleet in the middle of an upgrade does, in two pairs:
20.10 (bookworm) first and 28.5 (sid) second (the module runs under Python 3.11 on one and 3.14 on
the other, and only the second has ``dockerd --validate``), then 28.5 (Debian's docker.io) first and
29.7 (Docker CE's layout) second.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import wheels
from rootfs import ENGINES_BY_ID, guest_python_version

pytestmark = pytest.mark.systemd

REPO = Path(__file__).resolve().parents[2]
FIT = "/etc/dockharden/layers/fit-limits.toml"
REFUSED = "/etc/dockharden/layers/refused-at-start.toml"
DAEMON_JSON = "/etc/docker/daemon.json"
MANAGED = (DAEMON_JSON, "/etc/audit/rules.d/docker.rules", "/etc/ufw/after.rules", "/etc/ufw/after6.rules",
           "/etc/docker/seccomp/default.json", "/etc/dockharden/dockharden.toml")
#: Each fleet as (first, second) in the roll's order; the test's engine (its xdist group) is the second.
FLEETS = ((ENGINES_BY_ID["bookworm-20.10"], ENGINES_BY_ID["sid-28.5"]),
          (ENGINES_BY_ID["sid-28.5"], ENGINES_BY_ID["ce-29.7"]))
FIRST_OF = {second.id: first for first, second in FLEETS}
PAIRS = [pytest.param(second, id=f"{first.id}+{second.id}") for first, second in FLEETS]


def ansible_bin(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.fail(f"{name} is missing: install the test extras (pip install -e '.[test]', ansible-core)",
                    pytrace=False)
    return found


def installed_collection(out: Path) -> Path:
    """The collection built from ansible/ and installed offline under out/collections."""
    build = subprocess.run([ansible_bin("ansible-galaxy"), "collection", "build", str(REPO / "ansible"),
                            "--output-path", str(out)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    [tarball] = out.glob("dockharden-host-*.tar.gz")
    install = subprocess.run([ansible_bin("ansible-galaxy"), "collection", "install", str(tarball), "-p",
                              str(out / "collections"), "--offline"], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    return out / "collections"


class Fleet:
    """Two machines in inventory order (the order of the roll), a controller, and the playbook runs."""

    def __init__(self, tmp: Path, hosts, controller, collections: Path):
        self.tmp, self.hosts, self.controller, self.collections = tmp, hosts, controller, collections
        self.inventory = tmp / "inventory" / "hosts.ini"
        self.inventory.parent.mkdir()
        # the group the playbook runs on by default, and each host's layers (host_vars beside it)
        self.inventory.write_text(controller.inventory().replace("[machines]", "[docker_hosts]"))
        # the wheels the controller ships: dockharden's and its dependencies' for both hosts' Pythons
        self.wheels = tmp / "wheels"
        for host in hosts:
            for d in wheels.wheelhouse(guest_python_version(host.base)):
                shutil.copytree(d, self.wheels, dirs_exist_ok=True)
        group_vars = self.inventory.parent / "group_vars" / "docker_hosts.yml"
        group_vars.parent.mkdir()
        group_vars.write_text(json.dumps({"dockharden_wheels": str(self.wheels)}) + "\n")
        for host in hosts:
            self.layers(host, [FIT])

    def wheels_of_version(self, version: str) -> Path:
        """The controller's wheel directory with dockharden rebuilt as `version` (a copy of this checkout
        with its __version__ changed): an upgrade as the controller would ship it."""
        source = self.tmp / f"dockharden-{version}"
        shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__",
                                                                    ".pytest_cache", ".hypothesis", "tests"))
        init = source / "dockharden" / "__init__.py"
        init.write_text(re.sub(r'(?m)^__version__ = ".*"$', f'__version__ = "{version}"', init.read_text()))
        out = self.tmp / f"wheels-{version}"
        shutil.copytree(self.wheels, out, ignore=shutil.ignore_patterns("dockharden-*.whl"))
        built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
                               capture_output=True, text=True, timeout=600)
        assert built.returncode == 0, built.stdout + built.stderr
        return out

    def layers(self, host, layers: list[str]) -> None:
        host_vars = self.inventory.parent / "host_vars" / f"{host.name}.yml"
        host_vars.parent.mkdir(exist_ok=True)
        host_vars.write_text(json.dumps({"dockharden_layers": layers}) + "\n")

    def play(self, *args: str, playbook: str = "dockharden.host.harden_fleet") -> tuple[int, dict[str, dict[str, int]], str]:
        env = dict(self.controller.ansible_env(), ANSIBLE_COLLECTIONS_PATH=str(self.collections),
                   ANSIBLE_FORCE_COLOR="0", LC_ALL="C.UTF-8")
        done = self.controller.run([ansible_bin("ansible-playbook"), "-i", str(self.inventory),
                                    playbook, *args], check=False, timeout=600, env=env)
        recap = {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
                 for m in re.finditer(r"^(\S+)\s+:\s+(ok=.*)$", done.stdout, re.M)}
        return done.returncode, recap, done.stdout + done.stderr

    def state(self) -> dict[str, tuple]:
        """Per host: the files dockharden manages (None: absent), docker's MainPID, and whether
        dockharden keeps any state there."""
        def text(host, path):
            return host.read_text(path) if host.path(path).exists() else None

        return {h.name: (tuple(text(h, p) for p in MANAGED), h.main_pid("docker"),
                         h.path("/var/lib/dockharden").exists()) for h in self.hosts}


@pytest.fixture
def fleet(engine, make_systemd_host, make_controller, tmp_path) -> Fleet:
    hosts = [make_systemd_host(FIRST_OF[engine.id], dockharden=False), make_systemd_host(engine, dockharden=False)]
    for host in hosts:
        assert host.fit_limits_layer() == ["--layer", FIT]  # nofile at dockerd's hard limit here (20000)
        assert host.run(["sh", "-c", "command -v dockharden"], check=False).returncode != 0
    return Fleet(tmp_path, hosts, make_controller(*hosts), installed_collection(tmp_path / "collection"))


@pytest.mark.parametrize("engine", PAIRS, indirect=True)
def test_bare_hosts_get_dockharden_from_the_controller_then_check_mode_shows_the_changes_and_the_roll_hardens_both(fleet):
    before = fleet.state()
    code, recap, out = fleet.play("--check")  # bare hosts: nothing to plan with yet, and nothing touched
    assert code == 0 and out.count("dockharden is not installed on this host yet") == 2, out
    assert fleet.state() == before and not any(h.path("/opt/dockharden").exists() for h in fleet.hosts)

    code, recap, out = fleet.play(playbook="dockharden.host.install")
    assert code == 0 and all(recap[h.name]["changed"] >= 1 for h in fleet.hosts), out  # venv, wheels, install, link
    for host in fleet.hosts:
        assert host.run(["readlink", "/usr/local/bin/dockharden"]).stdout.strip() == "/opt/dockharden/bin/dockharden"
        assert host.run(["dockharden", "--version"]).stdout.strip() == "dockharden 0.1.0"
    code, recap, out = fleet.play(playbook="dockharden.host.install")
    assert code == 0 and [recap[h.name]["changed"] for h in fleet.hosts] == [0, 0], out  # the same version: kept

    # the controller ships a new version: every host is upgraded to it, then back (the version is the controller's)
    newer = fleet.wheels_of_version("0.1.1")
    code, recap, out = fleet.play("-e", f"dockharden_wheels={newer}", playbook="dockharden.host.install")
    assert code == 0, out
    assert [h.run(["dockharden", "--version"]).stdout.strip() for h in fleet.hosts] == ["dockharden 0.1.1"] * 2
    code, recap, out = fleet.play(playbook="dockharden.host.install")
    assert code == 0 and [h.run(["dockharden", "--version"]).stdout.strip() for h in fleet.hosts] == ["dockharden 0.1.0"] * 2

    code, recap, out = fleet.play("--check", "--diff")
    assert code == 0, out
    assert [recap[h.name]["changed"] for h in fleet.hosts] == [1, 1], out
    assert out.count(f"+++ after: {DAEMON_JSON}") == 2 and '"live-restore": true' in out, out
    assert fleet.state() == before

    code, recap, out = fleet.play()
    assert code == 0, out
    assert [(recap[h.name]["changed"], recap[h.name]["failed"]) for h in fleet.hosts] == [(1, 0), (1, 0)], out
    # one host at a time, in inventory order
    assert out.index(f"[{fleet.hosts[0].name}]") < out.index(f"[{fleet.hosts[1].name}]")
    for host in fleet.hosts:
        info = host.info()
        assert info["LiveRestoreEnabled"] is True and info["LoggingDriver"] == "json-file"
        assert json.loads(host.read_text(DAEMON_JSON))["no-new-privileges"] is True
        assert host.main_pid("docker") != before[host.name][1]
    assert "name=no-new-privileges" in fleet.hosts[1].info()["SecurityOptions"]

    code, recap, out = fleet.play("--check")
    assert code == 0 and [recap[h.name]["changed"] for h in fleet.hosts] == [0, 0], out


@pytest.mark.parametrize("engine", PAIRS, indirect=True)
def test_a_host_whose_daemon_refuses_the_layer_is_rolled_back_and_the_roll_stops_before_the_next_host(fleet):
    first, second = fleet.hosts
    first.write_file(REFUSED, '[daemon.log-opts]\nmode = "banana"\n')
    fleet.layers(first, [FIT, REFUSED])
    before = fleet.state()

    code, recap, out = fleet.play()

    assert code != 0
    assert recap[first.name]["failed"] == 1, out
    # dockerd's own line; 28.5 says "failed to set log opts: " twice (20.10 once)
    assert (re.search(r"failed to start daemon: (failed to set log opts: )+logger: ", out) and "mode not supported: banana" in out
            and "see its log; every file was restored from generation 0001 and the daemon runs with them" in out), out
    assert "SCMP_ACT_ALLOW" not in out  # the failed task's result shows the plan, not the files' diffs
    assert first.is_active("docker") == "active" and first.info()["LiveRestoreEnabled"] is False
    assert fleet.state()[first.name][0] == before[first.name][0]  # every managed file as before the play
    # the play stopped: the second host was never reached
    assert second.name not in recap or recap[second.name]["ok"] == 0, out
    assert f"[{second.name}]" not in out, out
    assert fleet.state()[second.name] == before[second.name]
