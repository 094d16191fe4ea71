"""The one accessor of the host's filesystem: every path resolved inside the root, regular files only,
bounded reads, atomic writes; and what plan and apply do with symlinks through it."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dockharden import api
from dockharden.errors import ConflictError, HostFileError
from dockharden.host.fs import HostFS
from dockharden.host.runner import Runner

REPO = Path(__file__).resolve().parents[2]


class NoTools(Runner):
    def which(self, program):
        return None


def request(root, **kw):
    return api.Request(root=str(root), profiles=["baseline"], layers=[], runner=NoTools(), **kw)


def tree(path: Path) -> dict:
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() and not p.is_symlink() else os.readlink(p)
            if p.is_symlink() else None for p in path.rglob("*")}


@pytest.fixture
def outside(tmp_path):
    """A directory beside the root that nothing may touch."""
    place = tmp_path / "outside"
    place.mkdir()
    (place / "daemon.json").write_text('{"debug": true}\n')
    return place


@pytest.fixture
def root(tmp_path):
    place = tmp_path / "root"
    (place / "etc/docker").mkdir(parents=True)
    return place


def test_an_absolute_symlink_is_followed_inside_the_root_as_in_a_chroot(root, outside):
    (root / "var").symlink_to(outside)  # absolute: /…/outside, read as <root>/…/outside
    fs = HostFS(str(root))
    assert fs.real("/var/lib/dockharden/lock") == root / str(outside).lstrip("/") / "lib/dockharden/lock"


def test_a_relative_symlink_that_climbs_above_the_root_is_refused(root):
    (root / "etc/docker/tls").symlink_to("../../../../../../../etc")
    with pytest.raises(HostFileError, match="outside the root"):
        HostFS(str(root)).real("/etc/docker/tls/ca.pem")


def test_a_symlinked_var_keeps_the_lock_generations_and_backups_inside_the_root(root, outside):
    (root / "var").symlink_to(outside)
    before = tree(outside)
    outcome = api.apply(request(root), restart=False)
    assert outcome.result.result == "applied"
    assert tree(outside) == before  # nothing written beside the root
    inside = root / str(outside).lstrip("/")
    assert (inside / "lib/dockharden/lock").exists() and list((inside / "lib/dockharden/generations").iterdir())


def test_a_managed_file_that_is_a_symlink_is_shown_with_its_target_and_written_there(root):
    (root / "srv/conf").mkdir(parents=True)
    (root / "srv/conf/daemon.json").write_text('{"debug": true}\n')
    (root / "etc/docker/daemon.json").symlink_to("/srv/conf/daemon.json")
    plan = api.make_plan(request(root))
    change = next(c for c in plan.changes if c.path == "/etc/docker/daemon.json")
    assert change.old.symlink_target == "/srv/conf/daemon.json" and change.old.real_path == "/srv/conf/daemon.json"
    from dockharden.report import plan_document, render_plan

    assert "the file written is /srv/conf/daemon.json" in render_plan(plan, str(root))
    doc = next(c for c in plan_document(plan, str(root))["changes"] if c["path"] == "/etc/docker/daemon.json")
    assert doc["symlink"] == {"target": "/srv/conf/daemon.json", "writes": "/srv/conf/daemon.json"}
    assert api.apply(request(root), restart=False).result.result == "applied"
    assert os.readlink(root / "etc/docker/daemon.json") == "/srv/conf/daemon.json"  # the link stays a link
    assert json.loads((root / "srv/conf/daemon.json").read_text())["debug"] is True


def test_a_whole_file_target_that_is_a_symlink_to_the_operators_file_is_refused(root):
    (root / "etc/audit/rules.d").mkdir(parents=True)
    (root / "etc/audit/rules.d/audit.rules").write_text("-D\n-w /etc/passwd -p wa -k identity\n")
    (root / "etc/audit/rules.d/docker.rules").symlink_to("audit.rules")
    before = tree(root)
    with pytest.raises(ConflictError, match="symlink to audit.rules"):
        api.apply(request(root), restart=False)
    assert tree(root) == before


def test_a_unit_file_linked_outside_the_root_is_read_from_inside_it(root, outside):
    (outside / "docker.service").write_text("[Service]\nExecStart=/usr/bin/evil\n")
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/docker.service").symlink_to(outside / "docker.service")
    from dockharden.host.facts import unit_exec

    assert unit_exec(str(root)) == []  # <root>/…/outside/docker.service does not exist: nothing is read


def test_a_leftover_temporary_name_that_is_a_symlink_is_not_followed_when_cleaning_up(root, outside):
    victim = outside / "precious"
    victim.write_text("keep me\n")
    (root / "etc/docker/.daemon.json.dockharden-999").symlink_to(victim)
    HostFS(str(root)).remove_temporaries("/etc/docker/daemon.json")
    assert victim.read_text() == "keep me\n"


@pytest.mark.parametrize("kind", ["fifo", "directory", "socket"])
def test_a_managed_path_that_is_not_a_regular_file_is_refused_without_hanging(root, kind):
    target = root / "etc/docker/daemon.json"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    else:
        import socket

        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(target))
    result = {}
    worker = threading.Thread(target=lambda: result.update(f=_try_read(root)), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "reading a special file hung"
    assert "not a regular file" in result["f"]


def _try_read(root):
    try:
        HostFS(str(root)).read("/etc/docker/daemon.json")
    except HostFileError as exc:
        return str(exc)
    return "read"


def test_a_huge_daemon_json_is_refused_instead_of_read_whole(root):
    with open(root / "etc/docker/daemon.json", "wb") as f:
        f.truncate(17 << 20)
    with pytest.raises(HostFileError, match="more than 16 MiB"):
        HostFS(str(root)).read("/etc/docker/daemon.json")


def test_removing_a_path_that_is_a_symlink_removes_the_link_never_its_target(root, outside):
    (root / "etc/docker/old.json").symlink_to(outside / "daemon.json")
    HostFS(str(root)).remove("/etc/docker/old.json")
    assert not (root / "etc/docker/old.json").is_symlink() and (outside / "daemon.json").exists()


def test_the_command_on_a_root_whose_var_links_out_leaves_the_outside_alone(root, outside):
    (root / "var").symlink_to(outside)
    before = tree(outside)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "dockharden", "apply", "--root", str(root), "--profile", "baseline",
                           "--no-restart", "--yes"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert subprocess.run([sys.executable, "-m", "dockharden", "rollback", "--root", str(root), "--yes",
                           "--no-restart"], capture_output=True, text=True, env=env).returncode == 0
    assert tree(outside) == before
