"""Golden cases as data: each folder holds layers, a root with the current files, the expected plan and
the expected bytes after apply. Set DOCKHARDEN_UPDATE_GOLDEN=1 to rewrite the expected files after
reviewing a deliberate change."""

import os
import shutil
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dockharden.api import build_plan
from dockharden.execute.apply import Engine, apply_plan
from dockharden.host.facts import Context
from dockharden.host.runner import Runner
from dockharden.model import Selection

CASES = sorted(p for p in Path(__file__).parent.iterdir() if (p / "case.toml").is_file())
COMPARED = ("etc/docker/daemon.json", "etc/audit/rules.d/docker.rules", "etc/ufw/after.rules",
            "etc/systemd/system/docker.service.d/dockharden.conf")


class NoTools(Runner):
    """Golden cases are pure data: no host tool may change their outcome."""

    def which(self, program):
        return None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_case_plans_and_renders_exactly_as_recorded(case, tmp_path):
    spec = tomllib.loads((case / "case.toml").read_text())
    root = tmp_path / "root"
    shutil.copytree(case / "root", root)
    for rel, mode in spec.get("modes", {}).items():  # git keeps no mode but 0644/0755: a case states the others
        os.chmod(root / rel, int(mode, 8))
    ctx = Context(root=str(root), runner=NoTools(), engine_version=spec["engine_version"],
                  manager=spec.get("manager", "none"))
    selection = Selection(tuple(spec["profiles"]), layers=tuple(str(case / layer) for layer in spec.get("layers", [])),
                          source="case")
    plan = build_plan(ctx, selection)
    assert [[c.path, c.action] for c in plan.changes] == spec["changes"]
    # the actions the changes need; on this root (not the running system) apply leaves them all
    assert [[s.service, s.action] for s in plan.needed] == spec["services"] and plan.services == ()
    engine = Engine(str(root), runner=NoTools(), now=lambda: datetime(2026, 1, 1, tzinfo=UTC), config={})
    assert apply_plan(plan, engine, restart=False).result == "applied"
    for rel in COMPARED:
        expected, actual = case / "expected" / rel, root / rel
        if os.environ.get("DOCKHARDEN_UPDATE_GOLDEN") and actual.exists():
            expected.parent.mkdir(parents=True, exist_ok=True)
            expected.write_bytes(actual.read_bytes())
        if expected.exists():
            assert actual.read_bytes() == expected.read_bytes(), rel
        else:
            assert not actual.exists(), rel
    again = build_plan(ctx, Selection(selection.profiles, layers=selection.layers, source="case"))
    assert again.changes == ()
