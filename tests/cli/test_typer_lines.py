"""The command line works on every Typer line pyproject.toml allows, not only the one installed here.

dockharden uses Typer's public API only (no private module such as `typer._click`), so its pin spans the
lines that work. For the pin's lowest line and its newest allowed release, a virtual environment gets that
Typer (from the package index, over this Python's other packages) and runs the command line's contract:
usage errors as one paragraph with exit 1, shell completion, the man page. Widen the pin to a line that
breaks it and this test fails. The environments are cached, keyed by the requirement and this Python.
"""

import hashlib
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("DOCKHARDEN_TEST_CACHE", "/var/cache/dockharden-tests")) / "typer-lines"
#: The tests of the command line's contract that depend on how Typer and Click behave.
CONTRACT = [
    "tests/cli/test_exit_codes.py::test_a_usage_error_is_one_paragraph_with_one_suggestion_and_exit_1",
    "tests/cli/test_completion_and_man.py::test_bash_completes_commands_options_and_built_in_profiles",
    "tests/cli/test_completion_and_man.py::test_rollback_to_completes_the_generations_under_root",
    "tests/cli/test_completion_and_man.py::test_completion_for_another_shell_is_a_usage_error",
    "tests/cli/test_completion_and_man.py::test_the_man_page_documents_every_command_and_man_reads_it_without_a_warning",
]


def typer_pin() -> tuple[str, str]:
    """The pin's bounds: ("0.20", "0.29") for typer>=0.20,<0.29."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    spec = next(d for d in project["dependencies"] if re.match(r"typer\b", d))
    low, high = re.search(r">=\s*([\d.]+)", spec), re.search(r"<\s*([\d.]+)", spec)
    assert low and high, f"the typer requirement {spec!r} needs a lower and an upper bound"
    return low.group(1), high.group(1)


def lines_to_try() -> list[str]:
    low, high = typer_pin()
    return [f"typer=={low}.*", f"typer<{high}"]  # the lowest line's newest release, the newest allowed


def environment_with(requirement: str) -> Path:
    """A venv over this Python's packages with `requirement` installed in it (cached)."""
    key = hashlib.sha256(f"{requirement}|{sys.version}|{sys.executable}".encode()).hexdigest()[:12]
    venv = CACHE / key
    python = venv / "bin" / "python"
    if (venv / "ready").exists():
        return python
    building = CACHE / f"{key}.building-{os.getpid()}"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(building)], check=True, timeout=300)
    done = subprocess.run([str(building / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           requirement], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"pip install {requirement} failed (the package index must answer):\n{done.stderr}"
    (building / "ready").write_text(requirement + "\n")
    try:
        building.rename(venv)
    except OSError:  # another worker made it first
        subprocess.run(["rm", "-rf", str(building)], check=False)
    return python


@pytest.mark.parametrize("requirement", lines_to_try())
def test_the_command_line_keeps_its_contract_on_each_typer_line_the_pin_allows(requirement):
    python = environment_with(requirement)
    version = subprocess.run([str(python), "-c", "import typer; print(typer.__version__)"], capture_output=True,
                             text=True, check=True).stdout.strip()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", *CONTRACT],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"typer {version} ({requirement}):\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"


def test_no_module_imports_a_private_part_of_typer():
    private = re.compile(r"^\s*(from|import)\s+typer\._", re.M)
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "dockharden").rglob("*.py") if private.search(p.read_text())]
    assert offenders == [], f"private Typer modules imported in {offenders}: use typer's public API"
