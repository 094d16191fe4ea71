"""Shell completion as a shell uses it (a real bash and zsh load the scripts `dockharden completion` prints),
and the man page: generated from the command line, current, and readable by man."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def on_path(tmp_path):
    """A `dockharden` on PATH that runs this checkout (the scripts call the command by name)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "dockharden"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{REPO}" exec "{sys.executable}" -m dockharden "$@"\n')
    wrapper.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")


def bash_completes(env, words: str) -> list[str]:
    """What bash offers after `words` (the last word is being typed), through the loaded script."""
    shell = ('source <(dockharden completion bash)\n'
             f'COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\n'
             '[[ "{words}" == *" " ]] && COMP_CWORD=${{#COMP_WORDS[@]}}\n'.replace("{words}", words)
             + '_dockharden_completion dockharden; printf "%s\\n" "${COMPREPLY[@]}"\n')
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completes_commands_options_and_built_in_profiles(on_path):
    assert bash_completes(on_path, "dockharden pl") == ["plan"]
    assert "--profile" in bash_completes(on_path, "dockharden plan --pro")
    assert bash_completes(on_path, "dockharden plan --profile baseline,us") == ["baseline,userns"]
    assert set(bash_completes(on_path, "dockharden com")) == {"completion"}


def test_rollback_to_completes_the_generations_under_root(on_path, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    for _ in range(2):
        subprocess.run(["dockharden", "apply", "--root", str(root), "--yes", "--profile",
                        "baseline" if _ == 0 else "baseline,userns"], env=on_path, check=True, capture_output=True)
    assert bash_completes(on_path, f"dockharden rollback --root {root} --to 000") == ["0002", "0001"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (scripts/install-test-deps.sh)")
def test_zsh_loads_the_script_and_gets_answers(on_path):
    script = subprocess.run(["dockharden", "completion", "zsh"], capture_output=True, text=True, env=on_path,
                            timeout=60).stdout
    assert "#compdef dockharden" in script
    shell = ("autoload -Uz compinit && compinit -u -D && source <(dockharden completion zsh) && "
             "print ${+functions[_dockharden_completion]}")
    done = subprocess.run(["zsh", "-f", "-c", shell], capture_output=True, text=True, env=on_path, timeout=60)
    assert done.stdout.strip() == "1", done.stderr
    env = dict(on_path, _DOCKHARDEN_COMPLETE="zsh_complete", COMP_WORDS="dockharden pl", COMP_CWORD="1")
    answer = subprocess.run(["dockharden"], capture_output=True, text=True, env=env, timeout=60).stdout
    assert answer.splitlines()[:2] == ["plain", "plan"]


def test_completion_for_another_shell_is_a_usage_error():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "dockharden", "completion", "fish"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 1 and "'fish' is not one of 'bash', 'zsh'" in done.stderr


def make_man():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_man", REPO / "scripts" / "make-man.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_man_page_is_current_with_the_command_line():
    module = make_man()
    assert module.PAGE.read_text() == module.generate(), "run python3 scripts/make-man.py"


def test_the_man_page_documents_every_command_and_man_reads_it_without_a_warning():
    import typer

    from dockharden.cli import app

    page = make_man().PAGE
    text = page.read_text()
    for name in typer.main.get_command(app).list_commands(None):
        assert f'.SS "dockharden {name} ' in text, name
    assert "Exit status:" in text and r"\-\-out FILE" in text
    done = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def offers(words: str, incomplete: str) -> list[tuple[str, str]]:
    import typer

    from dockharden.cli import app
    from dockharden.ui.completion import offers_for

    return [(o.type, o.value) for o in offers_for(typer.main.get_command(app), words.split(), incomplete)]


def test_a_value_is_completed_by_what_its_metavar_says_it_is():
    assert offers("plan --layer", "si") == [("file", "si")]
    assert offers("plan --root", "/m") == [("dir", "/m")]
    assert offers("plan", "--root=/m") == [("dir", "/m")]
    assert offers("apply", "pl") == [("file", "pl")]  # the [FILE] argument: a saved plan
    assert ("plain", "bash") in offers("completion", "")


def test_a_group_completes_its_own_commands_and_a_command_its_options():
    assert ("plain", "install") in offers("schedule", "in")
    assert ("plain", "--yes") in offers("apply", "--y")
    assert offers("plan --json", "--js") == []  # given once already
