"""Upgrade (issue 21): a host that the code before enforce/default applied baseline to. Its managed.json and
generation 0001 were written by that code (tests/cases/upgrade-from-enforcing-baseline/root, made by commit
e1ff3d8 on an operator's journald/btrfs daemon.json); the new code plans from them, and rollback still walks
back through the old generation."""

import json
import shutil
from pathlib import Path

from dockharden import api
from dockharden.host.runner import Runner

CASE = Path(__file__).parents[1] / "cases" / "upgrade-from-enforcing-baseline"
OPERATORS = {"log-driver": "journald", "storage-driver": "btrfs",
             "default-address-pools": [{"base": "10.201.0.0/16", "size": 24}], "max-concurrent-downloads": 10}


class NoTools(Runner):
    def which(self, program):
        return None


def request(root: Path) -> api.Request:
    return api.Request(root=str(root), engine_version="29.7.2", runner=NoTools())


def upgraded_root(tmp_path: Path) -> Path:
    import tomllib

    root = tmp_path / "root"
    shutil.copytree(CASE / "root", root)
    for rel, mode in tomllib.loads((CASE / "case.toml").read_text())["modes"].items():
        (root / rel).chmod(int(mode, 8))
    return root


def daemon_json(root: Path) -> dict:
    return json.loads((root / "etc/docker/daemon.json").read_text())


def test_an_old_managed_json_gives_the_operators_values_back_once_baseline_only_defaults_them(tmp_path):
    root = upgraded_root(tmp_path)
    assert api.apply(request(root), restart=False).result.result == "applied"
    doc = daemon_json(root)
    assert {k: doc[k] for k in OPERATORS} == OPERATORS
    assert "log-opts" not in doc and "features" not in doc  # json-file options and the image store were baseline's
    assert doc["icc"] is False and doc["live-restore"] is True and doc["no-new-privileges"] is True
    assert api.make_plan(request(root)).changes == ()


def test_rollback_after_the_upgrade_walks_back_through_the_old_codes_generation_to_the_operators_bytes(tmp_path):
    root = upgraded_root(tmp_path)
    old_apply = (root / "etc/docker/daemon.json").read_bytes()
    api.apply(request(root), restart=False)
    assert api.rollback(request(root), restart=False).result.result == "applied"
    assert (root / "etc/docker/daemon.json").read_bytes() == old_apply
    assert api.rollback(request(root), restart=False).result.result == "applied"  # undoes the old code's 0001
    assert daemon_json(root) == OPERATORS


def test_a_plan_saved_by_the_old_code_applies_exactly_as_saved_and_the_next_plan_upgrades(tmp_path):
    # before/saved-plan.json was saved by commit e1ff3d8 for before/root at /tmp/dh-saved-root; here it is
    # pointed at this test's root (target.root and the checksum only: its files and inputs are the old code's)
    from dockharden.execute.planfile import checksum

    root = tmp_path / "root"
    shutil.copytree(CASE / "before" / "root", root)
    (root / "etc/docker/daemon.json").chmod(0o644)  # as saved (git keeps no mode but 0644, a checkout's umask may add)
    doc = json.loads((CASE / "before" / "saved-plan.json").read_text())
    doc["target"]["root"] = str(root.resolve())
    doc["checksum"] = checksum(doc)
    saved_path = tmp_path / "plan.json"
    saved_path.write_text(json.dumps(doc))
    saved_path.chmod(0o600)
    saved = api.read_saved_plan(str(saved_path))
    assert api.saved_plan_status(request(root), saved) == ([], [])
    assert api.apply_saved(request(root), saved).result.result == "applied"
    assert (root / "etc/docker/daemon.json").read_bytes() == (CASE / "root/etc/docker/daemon.json").read_bytes()
    assert api.apply(request(root), restart=False).result.result == "applied"
    assert {k: daemon_json(root)[k] for k in OPERATORS} == OPERATORS
