"""The README's first command on a server that has never seen dockharden, on every Debian line: the
system Python is externally managed (PEP 668) and has no pip, and the command still installs dockharden
and runs the main job. Offline, as such a server often is: pip is told in /etc/pip.conf to use the wheels
copied in (the dependencies and the build requirements; dockharden itself is built from the checkout).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import wheels
from rootfs import guest_python_version

pytestmark = pytest.mark.systemd
REPO = Path(__file__).resolve().parents[2]


def readme_main_command() -> str:
    """The first command block under the README's "Two commands": the one that installs and plans."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Two commands", 1)[1]
    return re.search(r"```\n(.+?)\n```", section, re.S).group(1).strip()


def tracked_files_copy(dest: Path) -> Path:
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, text=True,
                            check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes((REPO / name).read_bytes())
            (dest / name).chmod((REPO / name).stat().st_mode & 0o777)
    return dest


def test_the_readme_command_installs_dockharden_on_a_server_with_an_externally_managed_python_and_plans(
        bare_systemd_host, tmp_path):
    host = bare_systemd_host
    python = guest_python_version(host.base)
    assert host.path(f"/usr/lib/python{python}/EXTERNALLY-MANAGED").exists(), "the suite's hosts are PEP 668 hosts"
    assert host.run(["python3", "-m", "pip", "--version"], check=False).returncode != 0, "no pip on the system Python"
    assert host.run(["sh", "-c", "command -v dockharden"], check=False).returncode != 0

    for d in (wheels.dependency_wheel_dir(python), wheels.build_requirement_wheel_dir()):
        host.copy_in(d, "/var/tmp/wheels")
    host.write_file("/etc/pip.conf", "[global]\nno-index = true\nfind-links = /var/tmp/wheels\n")
    host.copy_in(tracked_files_copy(tmp_path / "dockharden"), "/root/dockharden")

    command = readme_main_command()
    assert command.startswith("sudo bash scripts/install.sh && sudo /usr/local/bin/dockharden plan"), command
    done = host.run(["bash", "-c", command], cwd="/root/dockharden", check=False, timeout=600)
    assert done.returncode == 0, f"{command!r} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "Plan: " in done.stdout and "daemon.json" in done.stdout
    assert host.run(["readlink", "/usr/local/bin/dockharden"]).stdout.strip() == "/opt/dockharden/bin/dockharden"
    assert host.run(["ls", "/var/lib/dockharden"], check=False).returncode != 0, "plan wrote no state"

    # Upgrade is the same command again; removal takes the venv and the link and leaves the state alone.
    again = host.run(["bash", "scripts/install.sh"], cwd="/root/dockharden", timeout=600)
    assert "is in /opt/dockharden" in again.stderr
    host.run(["bash", "scripts/install.sh", "--uninstall"], cwd="/root/dockharden")
    assert not host.path("/opt/dockharden").exists() and not host.path("/usr/local/bin/dockharden").is_symlink()
