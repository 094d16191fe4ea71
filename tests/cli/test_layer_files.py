"""Layer files that are not regular files, or far too large: refused at once, naming the file and the fix.

Run as the operator runs it (a real process, a real tree); a regression that hangs on a FIFO or reads
/dev/zero forever fails on the timeout instead of hanging the suite.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockharden.core.layers import LAYER_LIMIT

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


# --- layer files that are not regular files ----------------------------------------------------------

def make_fifo(tmp_path: Path) -> Path:
    fifo = tmp_path / "layer.toml"
    os.mkfifo(fifo)
    return fifo


@pytest.mark.parametrize("command", ["plan", "apply", "show", "verify"])
def test_a_fifo_as_a_layer_is_refused_at_once_naming_the_file_and_the_fix(tmp_path, command):
    fifo, root = make_fifo(tmp_path), tmp_path / "root"
    root.mkdir()
    extra = ["--yes", "--no-restart"] if command == "apply" else []
    done = dockharden(command, "--root", str(root), "--layer", str(fifo), *extra)
    assert_one_paragraph(done, str(fifo), "named pipe (FIFO)", "not a regular file", "TOML or JSON file")
    assert tree(root) == {}


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null", "/dev/stdin"])
def test_a_device_as_a_layer_is_refused_without_reading_it(tmp_path, device):
    done = dockharden("plan", "--root", str(tmp_path), "--layer", device)
    assert_one_paragraph(done, device, "not a regular file")


def test_a_directory_as_a_layer_is_refused_naming_it(tmp_path):
    done = dockharden("plan", "--root", str(tmp_path), "--layer", str(tmp_path))
    assert_one_paragraph(done, str(tmp_path), "is a directory")


def test_a_fifo_named_in_the_persisted_selection_is_refused_like_one_on_the_command_line(tmp_path):
    fifo, root = make_fifo(tmp_path), tmp_path / "root"
    (root / "etc/dockharden").mkdir(parents=True)
    (root / "etc/dockharden/dockharden.toml").write_text(f'profiles = ["baseline"]\nlayers = ["{fifo}"]\n')
    before = tree(root)
    done = dockharden("apply", "--root", str(root), "--yes", "--no-restart")
    assert_one_paragraph(done, str(fifo), "named pipe (FIFO)")
    assert tree(root) == before


def padded_layer(path: Path, size: int) -> Path:
    body = b"[daemon]\nlive-restore = true\n"
    path.write_bytes(b"#" * (size - len(body) - 1) + b"\n" + body)
    assert path.stat().st_size == size
    return path


def test_a_layer_of_exactly_the_limit_is_read(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    layer = padded_layer(tmp_path / "big.toml", LAYER_LIMIT)
    done = dockharden("plan", "--root", str(root), "--layer", str(layer), "--json")
    assert done.returncode == 0, done.stderr
    assert '"live-restore"' in done.stdout


def test_a_layer_one_byte_over_the_limit_is_refused_naming_its_size_and_the_limit(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    layer = padded_layer(tmp_path / "big.toml", LAYER_LIMIT + 1)
    done = dockharden("plan", "--root", str(root), "--layer", str(layer))
    assert_one_paragraph(done, str(layer), f"{LAYER_LIMIT + 1} bytes", "1 MiB")


def test_a_missing_layer_names_where_its_path_came_from(tmp_path):
    done = dockharden("plan", "--root", str(tmp_path), "--layer", str(tmp_path / "nope.toml"))
    assert_one_paragraph(done, "nope.toml", "not found", "--layer")


def test_more_layer_files_than_the_limit_are_refused_before_any_is_read(tmp_path):
    from dockharden.core.layers import MAX_LAYER_FILES

    layer = padded_layer(tmp_path / "big.toml", LAYER_LIMIT)
    args = []
    for n in range(MAX_LAYER_FILES + 1):  # hard links: distinct names, one 1 MiB file (a repeat is refused)
        (tmp_path / f"big{n}.toml").hardlink_to(layer)
        args += ["--layer", str(tmp_path / f"big{n}.toml")]
    done = dockharden("plan", "--root", str(tmp_path), *args)
    assert_one_paragraph(done, f"{MAX_LAYER_FILES + 1} layer files", "merge them")
