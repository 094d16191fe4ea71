"""A changed list or map inside daemon.json is shown element by element (deepdiff, in order), and a plan
without such a change never imports deepdiff."""

import subprocess
import sys
from pathlib import Path

from dockharden.core.element_diff import element_changes
from dockharden.model import KeyChange

REPO = Path(__file__).resolve().parents[2]


def test_a_registry_mirror_put_first_is_one_element_added_at_the_front():
    assert element_changes(["https://a"], ["https://z", "https://a"]) == [("added", "[0]", None, "https://z")]


def test_one_address_pool_changed_names_the_pool_and_the_key():
    old = [{"base": "10.10.0.0/16", "size": 24}, {"base": "10.20.0.0/16", "size": 24}]
    new = [{"base": "10.10.0.0/16", "size": 24}, {"base": "10.30.0.0/16", "size": 24}]
    assert element_changes(old, new) == [("changed", "[1].base", "10.20.0.0/16", "10.30.0.0/16")]


def test_a_runtime_argument_added_is_found_inside_the_runtimes_map():
    old = {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--platform=systrap"]}}
    new = {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--platform=systrap", "--net-raw"]}}
    assert element_changes(old, new) == [("added", "runsc.runtimeArgs[1]", None, "--net-raw")]


def test_order_matters_two_swapped_elements_are_two_changes():
    assert element_changes(["--a", "--b"], ["--b", "--a"]) == [("changed", "[0]", "--a", "--b"),
                                                              ("changed", "[1]", "--b", "--a")]


def test_a_removed_element_and_a_key_that_is_not_a_plain_name():
    assert element_changes([{"a.b": 1}, 2], [{"a.b": 2}]) == [("changed", '[0]["a.b"]', 1, 2),
                                                             ("removed", "[1]", 2, None)]


def test_the_plan_shows_elements_in_text_and_json():
    from dockharden.model import Action, Change, HostFile, RenderedFile
    from dockharden.report import _change_document, _render_change

    key = KeyChange("changed", path="registry-mirrors", old=["https://a"], new=["https://z", "https://a"], layer="site")
    change = Change("daemon", path="/etc/docker/daemon.json", action=Action.UPDATE,
                    old=HostFile("/etc/docker/daemon.json", exists=b"{}"),
                    new=RenderedFile("daemon", path="/etc/docker/daemon.json", content=b"{}"), key_changes=(key,))
    text = "\n".join(_render_change(change, False))
    assert "~ registry-mirrors:  <- site" in text and '+ [0] = "https://z"' in text
    doc = _change_document(change)
    assert doc["keys"][0]["elements"] == [{"kind": "added", "at": "[0]", "old": None, "new": "https://z"}]


def test_true_against_1_is_shown_as_the_two_whole_values():
    """deepdiff sees [1] and [true] as equal; the plan's JSON equality does not: whole values then."""
    from dockharden.report import _elements

    assert _elements(KeyChange("changed", path="k", old=[1], new=[True])) == []


def test_a_plan_without_a_changed_list_does_not_import_deepdiff(tmp_path):
    code = ("import sys; from dockharden.cli import main\n"
            "try:\n    main(['plan', '--root', sys.argv[1], '--profile', 'baseline'])\n"
            "except SystemExit:\n    pass\n"
            "print('deepdiff' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert done.stderr.strip().splitlines()[-1] == "False", done.stderr
