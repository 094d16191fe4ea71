"""The host tool's check of a changed DOCKER-USER block starts before the plan is assembled and is not
run twice; what it says is what the plan says. The tool here is a script standing in for
iptables-restore (the real one is run by the host tests): it logs what it was given and answers as told."""

import os
import stat

import pytest

from dockharden.api import build_plan
from dockharden.errors import RenderError
from dockharden.host.facts import Context
from dockharden.host.runner import Runner
from dockharden.host.tool_checks import EarlyChecks, check_rendered
from dockharden.model import HostSnapshot, RenderedFile, Selection

AFTER_RULES = "*filter\nCOMMIT\n"


class ScriptedTools(Runner):
    """iptables-restore is `tool`; no other host tool is installed."""

    def __init__(self, tool):
        super().__init__()
        self.tool = str(tool)

    def which(self, program):
        return self.tool if program == "iptables-restore" else None


def fake_iptables_restore(tmp_path, *, status=0, stderr=""):
    log = tmp_path / "calls.log"
    script = tmp_path / "iptables-restore"
    script.write_text(f"#!/bin/sh\n{{ echo \"--- $*\"; cat; }} >> {log}\n"
                      f"[ -n '{stderr}' ] && echo '{stderr}' >&2\nexit {status}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


def root_with_after_rules(tmp_path):
    root = tmp_path / "root"
    (root / "etc/ufw").mkdir(parents=True)
    (root / "etc/ufw/after.rules").write_text(AFTER_RULES)
    return root


def plan(root, tool):
    ctx = Context(root=str(root), runner=ScriptedTools(tool), engine_version="26.1.5", manager="none")
    return build_plan(ctx, Selection(("baseline",), (), "test"))


def test_a_changed_block_is_checked_once_and_the_plan_carries_no_warning(tmp_path):
    tool, log = fake_iptables_restore(tmp_path)
    result = plan(root_with_after_rules(tmp_path), tool)
    calls = log.read_text()
    assert calls.count("--- --test --noflush") == 1 and ":DOCKER-USER - [0:0]" in calls
    assert not [n for n in result.notes if "DOCKER-USER" in n.message]


def test_a_block_the_tool_refuses_fails_the_plan_with_what_the_tool_said(tmp_path):
    tool, log = fake_iptables_restore(tmp_path, status=2, stderr="iptables-restore: line 4 failed")
    with pytest.raises(RenderError, match="line 4 failed") as refused:
        plan(root_with_after_rules(tmp_path), tool)
    assert refused.value.path == "/etc/ufw/after.rules" and log.read_text().count("--- ") == 1


def test_a_block_already_on_disk_as_rendered_starts_no_tool(tmp_path):
    tool, log = fake_iptables_restore(tmp_path)
    root = root_with_after_rules(tmp_path)
    first = plan(root, tool)
    [after] = [f for f in first.rendered if f.path == "/etc/ufw/after.rules"]
    (root / "etc/ufw/after.rules").write_bytes(after.content)
    os.remove(log)
    plan(root, tool)
    assert not log.exists()


def test_a_file_that_differs_from_the_one_checked_early_is_checked_again(tmp_path):
    tool, log = fake_iptables_restore(tmp_path)
    host = HostSnapshot(root="/", files={}, existing_paths=frozenset(), tools={"iptables-restore": str(tool)})
    block = "# BEGIN dockharden DOCKER-USER\n*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -j {}\nCOMMIT\n" \
            "# END dockharden DOCKER-USER\n"
    early = EarlyChecks([RenderedFile("ufw", "/etc/ufw/after.rules", block.format("RETURN").encode())], host,
                        ScriptedTools(tool))
    final = RenderedFile("ufw", "/etc/ufw/after.rules", block.format("DROP").encode())
    assert check_rendered([final], host, ScriptedTools(tool), early=early) == []
    calls = log.read_text()
    assert calls.count("--- ") == 2 and "-j RETURN" in calls and "-j DROP" in calls
