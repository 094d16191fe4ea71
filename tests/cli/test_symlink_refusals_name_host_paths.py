"""Issue 24, class 12 (symlink errors naming the real path): a symlink refused where dockharden keeps its
own files (the lock, a journal record, a report) is named by its path as the operator knows it on the host
(`/var/lib/dockharden/lock`, whatever `--root` is), with what the link says, never by the real location
under the root the accessor resolved, and never as "a symlink loop" (O_NOFOLLOW's ELOOP means the file
itself is a link). The refusals come from one place, host/fs.py (`symlink_refused`, `open_own`, `read_own`).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def dockharden(*args):
    return subprocess.run([sys.executable, "-m", "dockharden", *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), stdin=subprocess.DEVNULL, timeout=120)


def named_as_on_the_host(done, root: Path, host_path: str, link_says: str) -> None:
    """One paragraph, exit 1, naming `host_path` and the link's target; the real location never."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert f"error: {host_path}: is a symlink (to {link_says})" in done.stderr, done.stderr
    assert str(root) not in done.stderr, done.stderr
    assert "loop" not in done.stderr and "Too many levels" not in done.stderr, done.stderr


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "img"
    (root / "etc/docker").mkdir(parents=True)
    return root


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim"
    path.write_bytes(b"someone else's\n")
    return path


def test_a_symlink_where_the_lock_goes_is_named_by_its_host_path_and_the_lock_is_not_taken_through_it(
        root, victim):
    (root / "var/lib/dockharden").mkdir(parents=True)
    (root / "var/lib/dockharden/lock").symlink_to(victim)
    done = dockharden("apply", "--root", str(root), "--yes", "--no-restart")
    named_as_on_the_host(done, root, "/var/lib/dockharden/lock", str(victim))
    assert victim.read_bytes() == b"someone else's\n" and not (root / "etc/docker/daemon.json").exists()


def test_a_relative_symlink_at_the_lock_is_named_with_what_it_says(root):
    (root / "var/lib/dockharden").mkdir(parents=True)
    (root / "var/lib/dockharden/elsewhere").write_text("")
    (root / "var/lib/dockharden/lock").symlink_to("elsewhere")
    named_as_on_the_host(dockharden("rollback", "--root", str(root), "--yes", "--no-restart"), root,
                         "/var/lib/dockharden/lock", "elsewhere")


@pytest.fixture
def applied(root):
    (root / "etc/docker/daemon.json").write_text('{"labels": ["mine=1"]}\n')
    done = dockharden("apply", "--root", str(root), "--yes", "--no-restart")
    assert done.returncode == 0, done.stderr
    return root


def test_a_record_replaced_by_a_symlink_is_a_damaged_generation_named_by_its_host_path_and_kept(applied, tmp_path):
    generation = applied / "var/lib/dockharden/generations/0001"
    (generation / "record.json").rename(tmp_path / "record.json")
    (generation / "record.json").symlink_to(tmp_path / "record.json")
    history = dockharden("history", "--root", str(applied), "--json")
    assert history.returncode == 0, history.stderr
    damaged = json.loads(history.stdout)["generations"][0]["damaged"]
    assert f"is a symlink (to {tmp_path / 'record.json'})" in damaged and "never through a link" in damaged
    done = dockharden("rollback", "--root", str(applied), "--yes", "--no-restart")
    assert done.returncode == 1 and "damaged" in done.stderr and str(applied) not in done.stderr, done.stderr
    # not taken for the backup directory of a run killed before its record: its backups stay
    assert generation.is_dir() and list((generation / "files").iterdir())


def test_a_report_path_that_is_a_symlink_is_named_by_its_host_path_under_the_root(root, victim):
    (root / "var/lib/reports").mkdir(parents=True)
    (root / "var/lib/reports/check.json").symlink_to(victim)
    done = dockharden("schedule", "run", "--root", str(root), "--reports", "/var/lib/reports")
    named_as_on_the_host(done, root, "/var/lib/reports/check.json", str(victim))
