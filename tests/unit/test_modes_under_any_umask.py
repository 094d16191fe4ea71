"""Issue 24, class 10: every directory and file dockharden creates gets an explicit mode, whatever the umask.

apply on a fresh offline root in a process whose umask is 000, 022 or 077: the same mode for every path it
made. Under 000 no directory on the way (/var, /var/lib, /etc/docker) is world-writable; under 077 the
seccomp profile's directory is 0755 and the profile readable, so the docker group's CLI can use it.
"""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROFILES = "baseline,prune,tls"


def apply_under(umask: int, root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "dockharden", "apply", "--root", str(root), "--profile", PROFILES,
                           "--yes", "--no-restart"], capture_output=True, text=True, env=env,
                          preexec_fn=lambda: os.umask(umask))


def modes(root: Path) -> dict[str, int]:
    found = {}
    for path in root.rglob("*"):
        info = path.lstat()
        found["/" + str(path.relative_to(root))] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode))
    return found


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    roots = {}
    for umask in (0o022, 0o000, 0o077):
        root = tmp_path_factory.mktemp(f"umask{umask:03o}") / "root"
        root.mkdir()
        done = apply_under(umask, root)
        assert done.returncode == 0, done.stderr
        roots[umask] = modes(root)
    return roots


@pytest.mark.parametrize("umask", [0o000, 0o077])
def test_apply_makes_every_path_with_the_same_mode_whatever_the_umask(applied, umask):
    assert applied[umask].keys() == applied[0o022].keys()
    differ = {p: (oct(applied[umask][p][1]), oct(m)) for p, (_, m) in applied[0o022].items()
              if applied[umask][p][1] != m}
    assert not differ


def test_under_umask_000_nothing_dockharden_made_is_writable_by_others(applied):
    writable = [p for p, (_, mode) in applied[0o000].items() if mode & 0o022]
    assert not writable
    for path in ("/var", "/var/lib", "/etc", "/etc/docker"):
        assert applied[0o000][path][1] == 0o755, path


def test_under_umask_077_the_seccomp_profile_stays_readable_for_the_docker_cli(applied):
    made = applied[0o077]
    assert made["/etc/docker"][1] == 0o755 and made["/etc/docker/seccomp"][1] == 0o755
    assert made["/etc/docker/seccomp/default.json"][1] == 0o644
    assert made["/var/lib/dockharden"][1] == 0o700  # dockharden's own state stays private
