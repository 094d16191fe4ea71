"""Issue 24, class 6: two managed targets that are one file are refused before anything is written.

after6.rules linked to after.rules (a symlink either way, or a hard link: the same st_dev and st_ino)
would get both blocks written into one file: IPv4 left with the IPv6 rules, every plan flipping them.
Plan and apply refuse it in one paragraph; apply checks again just before writing (a link made after
the plan was made, a saved plan included).
"""

import os
from pathlib import Path

import pytest

from dockharden import api
from dockharden.errors import ConflictError
from dockharden.execute.apply import refuse_stale_plan
from dockharden.host.facts import Context
from dockharden.host.runner import Runner
from dockharden.model import Selection

AFTER_RULES = "*filter\nCOMMIT\n"


class NoTools(Runner):
    def which(self, program):
        return None


def root_with_ufw(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc/ufw").mkdir(parents=True)
    (root / "etc/ufw/after.rules").write_text(AFTER_RULES)
    return root


def link(root: Path, how: str) -> None:
    ufw = root / "etc/ufw"
    if how == "symlink-6-to-4":
        (ufw / "after6.rules").symlink_to("after.rules")
    elif how == "symlink-4-to-6":
        (ufw / "after.rules").rename(ufw / "after6.rules")
        (ufw / "after.rules").symlink_to("/etc/ufw/after6.rules")
    else:
        os.link(ufw / "after.rules", ufw / "after6.rules")


def request(root: Path) -> api.Request:
    return api.Request(root=str(root), profiles=["baseline"], runner=NoTools())


@pytest.mark.parametrize("how", ["symlink-6-to-4", "symlink-4-to-6", "hard-link"])
def test_after_rules_and_after6_rules_as_one_file_are_refused_before_anything_is_written(tmp_path, how):
    root = root_with_ufw(tmp_path)
    link(root, how)
    before = sorted(str(p) for p in root.rglob("*"))
    for run in (lambda: api.make_plan(request(root)), lambda: api.apply(request(root), restart=False)):
        with pytest.raises(ConflictError) as caught:
            run()
        assert "are one file" in caught.value.message and "after" in caught.value.message
        assert caught.value.path in ("/etc/ufw/after.rules", "/etc/ufw/after6.rules")
    assert sorted(str(p) for p in root.rglob("*")) == before
    regular = [p for p in (root / "etc/ufw").iterdir() if not p.is_symlink()]
    assert regular and all(p.read_text() == AFTER_RULES for p in regular)


def test_a_link_made_after_the_plan_is_refused_just_before_writing(tmp_path):
    root = root_with_ufw(tmp_path)
    (root / "etc/ufw/after6.rules").write_text(AFTER_RULES)
    ctx = Context(root=str(root), runner=NoTools(), engine_version="26.1.5", manager="none")
    the_plan = api.build_plan(ctx, Selection(("baseline",), layers=(), source="test"))
    assert {"/etc/ufw/after.rules", "/etc/ufw/after6.rules"} <= {f.path for f in the_plan.rendered}
    (root / "etc/ufw/after6.rules").unlink()
    os.link(root / "etc/ufw/after.rules", root / "etc/ufw/after6.rules")
    with pytest.raises(ConflictError, match="hard links of one file"):
        refuse_stale_plan(the_plan, str(root))


def test_two_files_of_their_own_are_not_one_file(tmp_path):
    root = root_with_ufw(tmp_path)
    (root / "etc/ufw/after6.rules").write_text(AFTER_RULES)
    assert api.apply(request(root), restart=False).result.result == "applied"
