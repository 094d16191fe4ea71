"""Moving from chaifeng/ufw-docker: the command refuses its block until the operator chooses adoption, then
replaces it, keeps what it allowed, has nothing more to do, and rolls back to the very bytes (offline roots)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "unit"))
from test_ufw_docker import CLASSIC, UFW, V6  # noqa: E402  (the blocks ufw-docker writes)

PRIVATE = "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16"


def dockharden(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "dockharden", *args], capture_output=True, text=True, env=env)


def tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def root(tmp_path):
    (tmp_path / "etc/ufw").mkdir(parents=True)
    (tmp_path / "etc/ufw/after.rules").write_text(UFW + CLASSIC)
    return tmp_path


def test_without_a_choice_plan_refuses_the_block_in_one_paragraph_naming_it_and_how_to_adopt_it(root):
    before = tree(root)
    done = dockharden("plan", "--root", str(root), "--profile", "baseline")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("dockharden: error: /etc/ufw/after.rules") and done.stderr.count("\n") == 1
    assert "lines 5-31 hold chaifeng/ufw-docker's DOCKER-USER block" in done.stderr
    assert "--adopt-ufw-docker" in done.stderr and "`adopt_ufw_docker = true` in a layer's [ufw] table" in done.stderr
    assert tree(root) == before


def test_plan_with_the_option_shows_the_blocks_removal_and_what_it_allowed_carried_over(root):
    done = dockharden("plan", "--root", str(root), "--profile", "baseline", "--adopt-ufw-docker")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "-# BEGIN UFW AND DOCKER" in out and "-# END UFW AND DOCKER" in out
    assert "--A ufw-docker-logging-deny -j DROP" in out and "+# BEGIN dockharden DOCKER-USER" in out
    assert "adopting chaifeng/ufw-docker's block in /etc/ufw/after.rules (lines 5-31)" in out
    assert f"allowed sources {PRIVATE} -> allow_sources" in out
    assert "`ufw route allow` rules (`ufw-docker allow`'s, chain ufw-user-forward) keep working" in out


def test_adopting_applies_then_a_plan_without_the_option_has_nothing_to_do_and_rollback_restores_the_bytes(root):
    before = tree(root)
    done = dockharden("apply", "--root", str(root), "--profile", "baseline", "--adopt-ufw-docker", "--yes")
    assert done.returncode == 0, done.stderr
    after = (root / "etc/ufw/after.rules").read_text()
    assert "UFW AND DOCKER" not in after and "-A DOCKER-USER -j ufw-user-forward" in after
    assert "-A DOCKER-USER -s 192.168.0.0/16 -j RETURN" in after
    managed = json.loads((root / "var/lib/dockharden/managed.json").read_text())
    assert managed["ufw_docker"] == {"/etc/ufw/after.rules": {"allow_sources": PRIVATE.split(", "),
                                                              "user_forward": "ufw-user-forward"}}
    again = dockharden("plan", "--root", str(root), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    back = dockharden("rollback", "--root", str(root), "--yes")
    assert back.returncode == 0, back.stderr
    assert (root / "etc/ufw/after.rules").read_bytes() == before["etc/ufw/after.rules"]
    assert not (root / "var/lib/dockharden/managed.json").exists()


def test_a_layers_adopt_ufw_docker_key_adopts_and_its_allow_sources_win_with_the_plan_saying_which_are_dropped(
        root, tmp_path_factory):
    layer = tmp_path_factory.mktemp("layers") / "site.toml"
    layer.write_text('[ufw]\nadopt_ufw_docker = true\nallow_sources = ["192.168.0.0/16"]\n')
    done = dockharden("plan", "--root", str(root), "--profile", "baseline", "--layer", str(layer))
    assert done.returncode == 0, done.stderr
    assert f"the layer site ({layer}) sets allow_sources, which wins (it still allows 192.168.0.0/16)" in done.stdout
    assert "no longer allowed: 10.0.0.0/8, 172.16.0.0/12" in done.stdout
    assert "+-A DOCKER-USER -s 10.0.0.0/8 -j RETURN" not in done.stdout


def test_the_ipv6_block_in_after6_rules_is_adopted_beside_the_ipv4_one(root):
    (root / "etc/ufw/after6.rules").write_text(UFW + V6)
    before = tree(root)
    done = dockharden("apply", "--root", str(root), "--profile", "baseline", "--adopt-ufw-docker", "--yes")
    assert done.returncode == 0, done.stderr
    after6 = (root / "etc/ufw/after6.rules").read_text()
    assert "UFW AND DOCKER" not in after6 and "-A DOCKER-USER -s fd00::/8 -j RETURN" in after6
    assert ":ufw6-user-forward - [0:0]" in after6 and "-A DOCKER-USER -j ufw6-user-forward" in after6
    assert dockharden("plan", "--root", str(root), "--detailed-exitcode").returncode == 0
    assert dockharden("rollback", "--root", str(root), "--yes").returncode == 0
    assert {k: v for k, v in tree(root).items() if k.startswith("etc/")} == before


def test_a_block_with_a_rule_ufw_docker_does_not_write_stays_refused_with_the_option(root):
    text = UFW + CLASSIC.replace("-A DOCKER-USER -j RETURN\n\n", "-A DOCKER-USER -p tcp --dport 22 -j ACCEPT\n"
                                 "-A DOCKER-USER -j RETURN\n\n")
    (root / "etc/ufw/after.rules").write_text(text)
    before = tree(root)
    done = dockharden("apply", "--root", str(root), "--profile", "baseline", "--adopt-ufw-docker", "--yes")
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "(`-A DOCKER-USER -p tcp --dport 22 -j ACCEPT`) in chaifeng/ufw-docker's block" in done.stderr
    assert tree(root) == before


def test_a_saved_adopting_plan_records_the_option_and_applies_as_it_was_made(root, tmp_path_factory):
    saved = tmp_path_factory.mktemp("plans") / "adopt.plan"
    made = dockharden("plan", "--root", str(root), "--profile", "baseline", "--adopt-ufw-docker", "--out", str(saved))
    assert made.returncode == 0, made.stderr
    assert json.loads(saved.read_text())["made_with"]["adopt_ufw_docker"] is True
    shown = dockharden("show", str(saved), "--root", str(root))
    assert "; --adopt-ufw-docker" in shown.stdout.splitlines()[1], shown.stdout + shown.stderr
    refused = dockharden("apply", str(saved), "--root", str(root), "--adopt-ufw-docker")
    assert refused.returncode == 1 and "takes no --adopt-ufw-docker" in refused.stderr
    done = dockharden("apply", str(saved), "--root", str(root))
    assert done.returncode == 0, done.stderr
    assert "UFW AND DOCKER" not in (root / "etc/ufw/after.rules").read_text()
