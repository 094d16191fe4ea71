"""The Ansible collection across a fleet of three hosts: two image roots and one real-daemon test host.

ansible-core from PyPI; the collection is built and installed offline from ansible/. The real-daemon
host is reached with a Python interpreter that enters its namespaces, so the module runs there with
root `/`, exactly as on a managed host, and talks to its dockerd.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from managed_host import ORIGINAL

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: harden
      dockharden.host.harden:
        profiles: [baseline]
        layers: "{{ dh_layers }}"
        root: "{{ dh_root }}"
        restart: "{{ dh_restart }}"
        close_published_ports: "{{ dh_close_published_ports | default(false) }}"
      register: harden
    - name: show the published ports the block closes
      ansible.builtin.debug:
        var: harden.published_ports_closed
    - name: show what the run did to the running containers
      ansible.builtin.debug:
        var: harden.workload
"""


def ansible_bin(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.fail(f"{name} is missing: install the test extras (pip install -e '.[test]', ansible-core)",
                    pytrace=False)
    return found


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """The collection built and installed offline, as an operator would."""
    out = tmp_path_factory.mktemp("collection")
    build = subprocess.run([ansible_bin("ansible-galaxy"), "collection", "build", str(REPO / "ansible"),
                            "--output-path", str(out)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    [tarball] = out.glob("dockharden-host-*.tar.gz")
    installed = out / "collections"
    install = subprocess.run([ansible_bin("ansible-galaxy"), "collection", "install", str(tarball), "-p",
                              str(installed), "--offline"], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    return installed


class Fleet:
    def __init__(self, tmp: Path, collections: Path, real):
        self.tmp, self.collections, self.real = tmp, collections, real
        self.roots = {name: tmp / name for name in ("image1", "image2")}
        for root in self.roots.values():
            (root / "etc/docker").mkdir(parents=True)
            (root / "etc/docker/daemon.json").write_text('{\n  "data-root": "/srv/docker"\n}\n')
        self.inventory = tmp / "inventory.ini"
        self.playbook = tmp / "harden.yml"
        self.playbook.write_text(PLAYBOOK)
        self.python_in_real = tmp / "python-in-real-host"
        pythonpath = str(REPO)
        self.python_in_real.write_text(
            "#!/bin/sh\n"
            f"exec nsenter -t {real.host.pid} -m -n --wd=/ -- env PYTHONPATH={pythonpath} {sys.executable} \"$@\"\n")
        self.python_in_real.chmod(0o755)
        self.write_inventory({})

    def write_inventory(self, extra_layers: dict[str, list[str]]):
        lines = ["[docker_hosts]"]
        for name, root in self.roots.items():
            layers = json.dumps(extra_layers.get(name, []))
            lines.append(f"{name} ansible_connection=local ansible_python_interpreter={sys.executable} "
                         f"dh_root={root} dh_restart=false dh_layers='{layers}'")
        layers = json.dumps(self.real.layers[1::2] + extra_layers.get("real", []))
        lines.append(f"real ansible_connection=local ansible_python_interpreter={self.python_in_real} "
                     f"dh_root=/ dh_restart=true dh_layers='{layers}'")
        self.inventory.write_text("\n".join(lines) + "\n")

    def play(self, *args) -> tuple[int, dict[str, dict[str, int]], str]:
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(self.collections), ANSIBLE_HOST_KEY_CHECKING="False",
                   ANSIBLE_LOCAL_TEMP=str(self.tmp / "ansible-local"), ANSIBLE_REMOTE_TEMP=str(self.tmp / "ansible-remote"),
                   ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", LC_ALL="C.UTF-8", PYTHONPATH=str(REPO))
        done = subprocess.run([ansible_bin("ansible-playbook"), "-i", str(self.inventory), str(self.playbook), *args],
                              capture_output=True, text=True, env=env, timeout=600)
        recap = {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
                 for m in re.finditer(r"^(\S+)\s+:\s+(ok=.*)$", done.stdout, re.M)}
        return done.returncode, recap, done.stdout + done.stderr

    def snapshot(self) -> dict:
        files = {}
        for name, root in self.roots.items():
            files[name] = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
        files["real"] = self.real.daemon_json()
        return files


@pytest.fixture
def fleet(tmp_path, collection, managed):
    return Fleet(tmp_path, collection, managed)


def test_check_mode_reports_a_change_on_each_host_and_writes_nothing(fleet):
    before = fleet.snapshot()
    code, recap, out = fleet.play("--check", "--diff")
    assert code == 0, out
    assert {h: recap[h]["changed"] for h in ("image1", "image2", "real")} == {"image1": 1, "image2": 1, "real": 1}
    assert '"live-restore": true' in out and "/etc/docker/daemon.json" in out  # --diff shows before/after
    assert fleet.snapshot() == before


def test_a_real_run_applies_on_each_host_and_a_second_check_reports_no_change(fleet):
    code, recap, out = fleet.play()
    assert code == 0, out
    assert all(recap[h]["changed"] == 1 and recap[h]["failed"] == 0 for h in ("image1", "image2", "real")), out
    assert json.loads((fleet.roots["image1"] / "etc/docker/daemon.json").read_text())["data-root"] == "/srv/docker"
    assert fleet.real.host.info()["LiveRestoreEnabled"] is True  # restarted and verified on the real daemon
    code, recap, out = fleet.play("--check")
    assert code == 0 and all(recap[h]["changed"] == 0 for h in recap), out


def test_a_bad_layer_fails_that_hosts_task_and_leaves_it_as_it_was(fleet):
    bad = fleet.tmp / "bad.toml"
    bad.write_text('[daemon]\nlive-restor = true\n')
    fleet.write_inventory({"image2": [str(bad)]})
    before = fleet.snapshot()
    code, recap, out = fleet.play()
    assert code != 0
    assert recap["image2"]["failed"] == 1 and "did you mean `live-restore`" in out
    assert recap["image1"]["changed"] == 1 and recap["real"]["changed"] == 1
    assert fleet.snapshot()["image2"] == before["image2"]


def test_a_failed_apply_on_the_real_host_fails_the_task_and_the_host_is_rolled_back(fleet):
    refused = fleet.real.write_layer("refused.toml", '[daemon.log-opts]\nmode = "banana"\n')
    fleet.write_inventory({"real": [refused]})
    code, recap, out = fleet.play()
    assert recap["real"]["failed"] == 1 and "every file was restored" in out, out
    assert fleet.real.daemon_json() == ORIGINAL and fleet.real.host.info()["ServerVersion"]


def test_a_serving_port_the_block_would_close_fails_the_task_unless_close_published_ports_is_chosen(fleet):
    host = fleet.real.host
    host.run(["ufw", "--force", "enable"])
    image = host.import_busybox_image()
    host.docker("run", "-d", "--name", "web", "--restart", "unless-stopped", "-p", "8080:80", image,
                "/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/tmp")
    code, recap, out = fleet.play("--check")
    flat = re.sub(r"\s+", " ", out)
    assert code == 0 and '"container": "web", "container_port": 80, "host_ip": "0.0.0.0", "host_port": 8080' in flat, out
    code, recap, out = fleet.play()
    assert recap["real"]["failed"] == 1 and recap["image1"]["changed"] == 1, out
    assert '"result": "refused"' in out and "8080/tcp of web" in out and '"published_ports_closed": {' in out, out
    assert fleet.real.daemon_json() == ORIGINAL
    code, recap, out = fleet.play("-e", "dh_close_published_ports=true")
    assert code == 0 and recap["real"]["changed"] == 1, out
    assert '"ports_closed_to_outside": [ { "container": "web"' in re.sub(r"\s+", " ", out), out
