"""The host tool's check of a rendered DOCKER-USER block: run once per changed file, in order, where the
plan checks rendered files; not run for a block already on disk as rendered; what it says is what the
plan says; and never run for an offline root, whose judge this machine's tool is not. The tool here is a
script standing in for iptables-restore (the real one is run by the host tests and test_ufw_block.py): it
logs what it was given and answers as told."""

import stat

import pytest

from dockharden.api import build_plan
from dockharden.errors import RenderError
from dockharden.host.facts import Context
from dockharden.host.runner import Runner
from dockharden.host.tool_checks import check_rendered
from dockharden.model import HostFile, HostSnapshot, RenderedFile, Selection

AFTER_RULES = "/etc/ufw/after.rules"
BLOCK = ("*filter\nCOMMIT\n# BEGIN dockharden DOCKER-USER\n*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -j {}\n"
         "COMMIT\n# END dockharden DOCKER-USER\n")


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


def running_system(tool, on_disk: bytes | None = None) -> HostSnapshot:
    """The running system (root /) as the plan saw it, with `on_disk` as its after.rules."""
    files = {AFTER_RULES: HostFile(path=AFTER_RULES, exists=True, content=on_disk)} if on_disk is not None else {}
    return HostSnapshot(root="/", files=files, existing_paths=frozenset(files), tools={"iptables-restore": str(tool)})


def rendered(target: str) -> RenderedFile:
    return RenderedFile("ufw", path=AFTER_RULES, content=BLOCK.format(target).encode())


def test_a_changed_block_is_checked_once_with_only_the_managed_block_and_the_plan_carries_no_note(tmp_path):
    tool, log = fake_iptables_restore(tmp_path)
    notes = check_rendered([rendered("DROP")], running_system(tool, BLOCK.format("RETURN").encode()),
                           ScriptedTools(tool))
    calls = log.read_text()
    assert calls.count("--- --test --noflush") == 1 and "-j DROP" in calls and notes == []
    assert calls.count("*filter") == 1  # the block, not the operator's part of the file


def test_a_block_the_tool_refuses_fails_the_plan_with_what_the_tool_said(tmp_path):
    tool, log = fake_iptables_restore(tmp_path, status=2, stderr="iptables-restore: line 4 failed")
    with pytest.raises(RenderError, match="line 4 failed") as refused:
        check_rendered([rendered("DROP")], running_system(tool), ScriptedTools(tool))
    assert refused.value.path == AFTER_RULES and log.read_text().count("--- ") == 1


def test_a_tool_that_needs_root_is_a_warning_that_the_block_was_not_tested(tmp_path):
    tool, _ = fake_iptables_restore(tmp_path, status=1, stderr="iptables-restore: Permission denied (you must be root)")
    [note] = check_rendered([rendered("DROP")], running_system(tool), ScriptedTools(tool))
    assert note.level == "warning" and "needs root" in note.message


def test_a_block_already_on_disk_as_rendered_starts_no_tool(tmp_path):
    tool, log = fake_iptables_restore(tmp_path)
    same = rendered("DROP")
    assert check_rendered([same], running_system(tool, same.content), ScriptedTools(tool)) == []
    assert not log.exists()


def test_a_missing_tool_is_a_warning_naming_the_file_on_the_running_system():
    host = HostSnapshot(root="/", files={}, existing_paths=frozenset())
    [note] = check_rendered([rendered("DROP")], host, Runner())
    assert note.level == "warning" and "iptables-restore is not installed" in note.message and AFTER_RULES in note.message


# --- an offline root (issue 24, class 8) ----------------------------------------------------------------

def image_with_after_rules(tmp_path):
    root = tmp_path / "image"
    (root / "etc/ufw").mkdir(parents=True)
    (root / "etc/ufw/after.rules").write_text("*filter\nCOMMIT\n")
    return root


def plan(root, tool):
    ctx = Context(root=str(root), runner=ScriptedTools(tool), engine_version="26.1.5", manager="none")
    return build_plan(ctx, Selection(("baseline",), layers=(), source="test"))


def test_a_plan_for_an_offline_root_runs_no_tool_and_says_the_block_was_not_checked_here(tmp_path):
    tool, log = fake_iptables_restore(tmp_path, status=2, stderr="this machine's verdict")
    result = plan(image_with_after_rules(tmp_path), tool)  # a refusal here would have failed the plan
    assert not log.exists()
    [note] = [n for n in result.notes if AFTER_RULES in n.message]
    assert note.level == "info" and "iptables-restore --test" in note.message and "not the image's" in note.message


def test_an_offline_root_whose_block_is_on_disk_as_rendered_gets_no_note(tmp_path):
    tool, _ = fake_iptables_restore(tmp_path)
    root = image_with_after_rules(tmp_path)
    [after] = [f for f in plan(root, tool).rendered if f.path == AFTER_RULES]
    (root / "etc/ufw/after.rules").write_bytes(after.content)
    assert not [n for n in plan(root, tool).notes if AFTER_RULES in n.message]


def test_an_offline_root_gets_no_nft_check_either(tmp_path):
    from dockharden.targets import nft_table

    host = HostSnapshot(root=str(tmp_path), files={}, existing_paths=frozenset(), tools={"nft": "/nonexistent/nft"})
    [note] = check_rendered([RenderedFile("nftables", path=nft_table.PATH, content=b"table inet dockharden {}\n")],
                            host,
                            Runner())
    assert note.level == "info" and "nft -c" in note.message and "not the image's" in note.message
