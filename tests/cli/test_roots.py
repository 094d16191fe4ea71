"""A --root that is not there, or not a directory: said plainly by every command; apply and rollback
create nothing (a typo must not grow a new tree)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 30  # seconds; a healthy refusal takes well under one


def dockharden(*args, timeout=TIMEOUT):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "dockharden", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in root.rglob("*")}


def assert_one_paragraph(done, *needles):
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("dockharden: error: "), done.stderr
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr)


# --- the root -----------------------------------------------------------------------------------------

ROOT_COMMANDS = {
    "plan": (), "apply": ("--yes", "--no-restart"), "rollback": ("--yes", "--no-restart"), "history": (),
    "verify": (), "show": (), "check": (),
}
WRITERS = {"apply", "rollback"}


@pytest.mark.parametrize("command", sorted(ROOT_COMMANDS))
def test_a_missing_root_is_said_plainly_and_nothing_is_created(tmp_path, command):
    missing = tmp_path / "mnt" / "imgae"  # a typo of an image's mount point
    done = dockharden(command, "--root", str(missing), *ROOT_COMMANDS[command])
    assert_one_paragraph(done, str(missing), "the root directory does not exist", "--root")
    if command in WRITERS:
        assert "nothing was created" in done.stderr or "never create" in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", sorted(ROOT_COMMANDS))
def test_a_root_that_is_a_file_is_said_plainly_and_the_file_is_untouched(tmp_path, command):
    afile = tmp_path / "image.raw"
    afile.write_bytes(b"not a tree\n")
    done = dockharden(command, "--root", str(afile), *ROOT_COMMANDS[command])
    assert_one_paragraph(done, str(afile), "is not a directory", "--root takes the directory")
    assert "as root" not in done.stderr
    assert afile.read_bytes() == b"not a tree\n" and [p.name for p in tmp_path.iterdir()] == ["image.raw"]


@pytest.mark.parametrize("command", sorted(ROOT_COMMANDS))
def test_a_root_below_a_file_is_told_a_part_of_its_path_is_a_file(tmp_path, command):
    afile = tmp_path / "image.raw"
    afile.write_bytes(b"")
    done = dockharden(command, "--root", str(afile / "mnt"), *ROOT_COMMANDS[command])
    assert_one_paragraph(done, str(afile / "mnt"), "Not a directory", "a part of the path is a file")


def test_a_root_reached_through_a_symlink_loop_is_told_to_fix_the_links(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    done = dockharden("apply", "--root", str(loop), "--yes", "--no-restart")
    assert_one_paragraph(done, str(loop), "symlink")


def test_an_empty_root_is_named_as_given_and_nothing_is_created(tmp_path):
    done = subprocess.run([sys.executable, "-m", "dockharden", "apply", "--root=", "--yes", "--no-restart"],
                          capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(REPO)),
                          timeout=TIMEOUT)
    assert_one_paragraph(done, "--root ''", "does not exist")
    assert list(tmp_path.iterdir()) == []
