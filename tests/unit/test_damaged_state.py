"""dockharden's own state damaged by hand or cut short: record.json of any generation, managed.json.

A real tree under tmp_path: three applies (each sets its own max-concurrent-downloads through a layer),
then one state file is damaged. A damaged record marks its generation only: history lists and marks it,
plan and apply go on, rollback --to a later generation works, nothing rolls back to or past it. A damaged
managed.json stops plan and apply with one paragraph; rollback restores it. Never a traceback.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockharden import api
from dockharden.errors import DockhardenError, StateError
from dockharden.execute import generations
from dockharden.host import state
from dockharden.host.runner import Runner

REPO = Path(__file__).resolve().parents[2]
GENS = "var/lib/dockharden/generations"
MANAGED = "var/lib/dockharden/managed.json"


class NoTools(Runner):
    def which(self, program):
        return None


def dockharden(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "dockharden", *args], capture_output=True, text=True, env=env)


def one_paragraph(done, *needles):
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr)


def downloads(root: Path):
    path = root / "etc/docker/daemon.json"
    return json.loads(path.read_text()).get("max-concurrent-downloads") if path.exists() else None


def request(root: Path, layer: Path | None = None) -> api.Request:
    return api.Request(root=str(root), profiles=["baseline"], layers=[str(layer)] if layer else None,
                       runner=NoTools())


@pytest.fixture
def three(tmp_path):
    """A root after three applies: generation N set max-concurrent-downloads = N."""
    root = tmp_path / "root"
    root.mkdir()
    for n in (1, 2, 3):
        layer = tmp_path / f"l{n}.toml"
        layer.write_text(f'[layer]\nname = "l{n}"\n[daemon]\nmax-concurrent-downloads = {n}\n')
        assert api.apply(request(root, layer), restart=False).result.result == "applied"
    return root


def record_of(root: Path, gen: str) -> Path:
    return root / GENS / gen / "record.json"


def edited(record: Path, change) -> bytes:
    doc = json.loads(record.read_text())
    change(doc)
    return json.dumps(doc).encode()


DAMAGES = {
    "truncated": lambda p: p.read_bytes()[: len(p.read_bytes()) // 2],
    "empty": lambda p: b"",
    "not-json": lambda p: b"this is not a record\n",
    "not-utf-8": lambda p: b"\xff\xfe{}",
    "a-list": lambda p: b"[]",
    "wrong-type-files": lambda p: edited(p, lambda d: d.update(files="all of them")),
    "wrong-type-state": lambda p: edited(p, lambda d: d.update(state=5)),
    "unknown-state": lambda p: edited(p, lambda d: d.update(state="half-done")),
    "missing-files": lambda p: edited(p, lambda d: d.pop("files")),
    "missing-plan": lambda p: edited(p, lambda d: d.pop("plan")),
    "missing-selection-layers": lambda p: edited(p, lambda d: d["selection"].pop("layers")),
    "file-entry-without-path": lambda p: edited(p, lambda d: d["files"][0].pop("path")),
    "backup-outside-the-generation": lambda p: edited(p, lambda d: [f.update(backup="../../../../../etc/shadow")
                                                                     for f in d["files"] if f["existed"]]),
    "id-of-another-generation": lambda p: edited(p, lambda d: d.update(id="0001")),
    "rollback-without-target": lambda p: edited(p, lambda d: d.update(kind="rollback")),
    "future-format": lambda p: edited(p, lambda d: d.update(format=2)),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_record_marks_its_generation_and_the_others_stay_usable(three, damage):
    record = record_of(three, "0002")
    record.write_bytes(DAMAGES[damage](record))
    gens = generations.list_generations(str(three))
    assert [(g.id, bool(g.damaged)) for g in gens] == [("0001", False), ("0002", True), ("0003", False)]

    notes = [n.message for n in api.make_plan(request(three)).notes]
    assert any("0002's record is damaged" in n for n in notes), notes

    with pytest.raises(StateError) as caught:
        api.rollback(request(three), to="0002", restart=False)
    assert "/var/lib/dockharden/generations/0002/record.json" in str(caught.value) and caught.value.hint
    with pytest.raises(StateError) as caught:
        api.rollback(request(three), to="0001", restart=False)
    assert "rollback --to 0003" in caught.value.hint  # the way that works
    assert downloads(three) == 3  # refused before anything was written

    assert api.rollback(request(three), to="0003", restart=False).result.result == "applied"
    assert downloads(three) == 2


@pytest.mark.parametrize("damage", ["truncated", "missing-files", "wrong-type-state"])
def test_the_command_lists_a_damaged_generation_and_refuses_rollback_past_it_in_one_paragraph(three, damage):
    record = record_of(three, "0002")
    record.write_bytes(DAMAGES[damage](record))
    history = dockharden("history", "--root", str(three))
    assert history.returncode == 0 and "Traceback" not in history.stderr, history.stderr
    lines = {line.split()[0]: line for line in history.stdout.splitlines()[1:] if line.strip()}
    assert "DAMAGED" in lines["0002"] and "DAMAGED" not in lines["0001"] + lines["0003"]
    doc = json.loads(dockharden("history", "--root", str(three), "--json").stdout)["generations"]
    assert [(g["id"], g["result"]) for g in doc] == [("0003", "applied"), ("0002", "damaged"), ("0001", "applied")]
    assert doc[1]["damaged"]

    plan = dockharden("plan", "--root", str(three))
    assert plan.returncode == 0 and "0002's record is damaged" in plan.stdout, plan.stderr
    one_paragraph(dockharden("rollback", "--root", str(three), "--to", "0001", "--yes", "--no-restart"),
                  "generation 0002's record is damaged", "Hint:")

    first = dockharden("rollback", "--root", str(three), "--yes", "--no-restart")
    assert first.returncode == 0 and downloads(three) == 2, first.stderr  # undoes 0003, newer than the damage
    one_paragraph(dockharden("rollback", "--root", str(three), "--yes", "--no-restart"),
                  "generation 0002's record is damaged", "a plain rollback would go past it")
    assert downloads(three) == 2


def test_apply_goes_on_past_a_damaged_record_and_numbers_after_it(three, tmp_path):
    record_of(three, "0003").write_bytes(b"{")
    layer = tmp_path / "l4.toml"
    layer.write_text('[layer]\nname = "l4"\n[daemon]\nmax-concurrent-downloads = 4\n')
    outcome = api.apply(request(three, layer), restart=False)
    assert (outcome.result.result, outcome.result.generation) == ("applied", "0004")
    assert api.rollback(request(three), restart=False).result.result == "applied"  # undoes 0004
    assert downloads(three) == 3


def test_a_record_that_is_a_directory_or_a_generation_that_is_a_file_is_no_traceback(three):
    record = record_of(three, "0003")
    record.unlink()
    record.mkdir()
    (three / GENS / "0009").write_text("not a directory")
    assert [g.id for g in generations.list_generations(str(three)) if g.damaged] == ["0003"]
    done = dockharden("history", "--root", str(three))
    assert done.returncode == 0 and "record.json is not a file" in done.stdout


def test_a_backup_changed_since_its_record_is_not_restored(three):
    gen = three / GENS / "0002"
    entry = next(e for e in json.loads((gen / "record.json").read_text())["files"]
                 if e["path"] == "/etc/docker/daemon.json")
    (gen / entry["backup"]).write_bytes(b'{"debug": true}\n')
    with pytest.raises(StateError) as caught:
        api.rollback(request(three), to="0002", restart=False)
    assert "SHA-256" in str(caught.value) and f"/0002/{entry['backup']}" in str(caught.value)
    (gen / entry["backup"]).unlink()
    with pytest.raises(StateError) as caught:
        api.rollback(request(three), to="0002", restart=False)
    assert "missing" in str(caught.value)
    assert downloads(three) == 3


# --- managed.json ---------------------------------------------------------------------------------------

MANAGED_DAMAGES = {
    "truncated": lambda b: b[: len(b) // 2],
    "empty": lambda b: b"",
    "not-json": lambda b: b"managed\n",
    "a-list": lambda b: b"[]",
    "daemon-a-list": lambda b: b'{"format": 1, "daemon": []}',
    "entry-without-had": lambda b: b'{"format": 1, "daemon": {"icc": {"value": true}}}',
    "had-a-string": lambda b: b'{"format": 1, "daemon": {"icc": {"had": "yes"}}}',
    "missing-format": lambda b: b'{"daemon": {}}',
    "key-path-with-an-empty-part": lambda b: b'{"format": 1, "daemon": {"log-opts//max-file": {"had": false}}}',
}


@pytest.mark.parametrize("damage", sorted(MANAGED_DAMAGES))
def test_a_damaged_managed_json_stops_plan_and_apply_in_one_paragraph_and_rollback_restores_it(three, damage):
    managed = three / MANAGED
    managed.write_bytes(MANAGED_DAMAGES[damage](managed.read_bytes()))
    with pytest.raises(StateError) as caught:
        state.read_managed_state(str(three))
    assert caught.value.path == "/var/lib/dockharden/managed.json"
    assert "remove it" in caught.value.hint and "rollback --to N, N one of 0001" in caught.value.hint.replace("`", "")
    one_paragraph(dockharden("plan", "--root", str(three)), "/var/lib/dockharden/managed.json", "damaged", "Hint:")
    one_paragraph(dockharden("apply", "--root", str(three), "--yes", "--no-restart"),
                  "/var/lib/dockharden/managed.json", "damaged", "Hint:")
    assert downloads(three) == 3
    done = dockharden("rollback", "--root", str(three), "--to", "0001", "--yes", "--no-restart")
    assert done.returncode == 0, done.stderr
    assert not managed.exists() and downloads(three) is None  # as it was before generation 0001
    assert dockharden("plan", "--root", str(three)).returncode == 0


def test_a_removed_managed_json_is_taken_as_never_written_and_planned_again(three):
    (three / MANAGED).unlink()
    plan = api.make_plan(api.Request(root=str(three), runner=NoTools()))  # the selection of dockharden.toml
    assert [(c.path, c.action) for c in plan.changes] == [("/var/lib/dockharden/managed.json", "create")]
    assert plan.services == ()


def test_every_record_dockharden_writes_passes_its_own_check(three):
    api.rollback(request(three), restart=False)
    api.rollback(request(three), to="0004", restart=False)
    for generation in generations.list_generations(str(three)):
        assert generation.damaged == "", (generation.id, generation.damaged)
    doc, problem = state.parse_state((three / MANAGED).read_bytes(), "managed.schema.json")
    assert problem == "" and doc["format"] == 1


def test_a_damaged_record_is_never_a_traceback_whatever_the_bytes(three):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    record = record_of(three, "0002")
    good = record.read_bytes()

    @settings(max_examples=60, deadline=None)
    @given(cut=st.integers(0, len(good)), junk=st.binary(max_size=8))
    def damaged_anyhow(cut, junk):
        record.write_bytes(good[:cut] + junk)
        gens = generations.list_generations(str(three))
        broken = [g.id for g in gens if g.damaged]
        assert broken in ([], ["0002"])
        from dockharden import report

        report.render_history(api.history(request(three)))
        try:
            api.rollback(request(three), to="0001", dry_run=True)
        except DockhardenError:
            assert broken == ["0002"]

    damaged_anyhow()


def test_a_failed_apply_leaves_a_record_that_passes_its_own_check(three, tmp_path):

    from dockharden.execute.faults import from_environment

    layer = tmp_path / "l9.toml"
    layer.write_text('[layer]\nname = "l9"\n[daemon]\nmax-concurrent-downloads = 9\n')
    failing = request(three, layer)._replace(failpoint=from_environment({"DOCKHARDEN_FAILPOINT": "fail:after-write-0"}))
    result = api.apply(failing, restart=False).result
    assert result.result == "rolled_back"
    gen = generations.find_generation(str(three), result.generation)
    assert gen.damaged == "" and gen.record["state"] == "rolled_back" and gen.record["failed_at"] == "writing"
    assert downloads(three) == 3


@pytest.mark.parametrize("point", ["after-record", "after-write-1"])
def test_a_killed_run_is_interrupted_not_damaged_and_the_next_apply_undoes_it(three, tmp_path, point):
    layer = tmp_path / "l9.toml"
    layer.write_text('[layer]\nname = "l9"\n[daemon]\nmax-concurrent-downloads = 9\n')
    env = dict(os.environ, PYTHONPATH=str(REPO), DOCKHARDEN_FAILPOINT=f"kill:{point}")
    killed = subprocess.run([sys.executable, str(REPO / "tests" / "failpoints.py"), "apply", "--root", str(three),
                             "--layer", str(layer),
                             "--yes", "--no-restart"], capture_output=True, text=True, env=env)
    assert killed.returncode == -9, killed.stderr
    [gen] = [g for g in generations.list_generations(str(three)) if g.id == "0004"]
    assert gen.damaged == "" and gen.record["state"] in generations.UNFINISHED
    plan = dockharden("plan", "--root", str(three))
    assert "interrupted" in plan.stdout and "damaged" not in plan.stdout
    again = dockharden("apply", "--root", str(three), "--yes", "--no-restart")
    assert again.returncode == 0 and "recovered: generation 0004" in again.stderr, again.stderr
    assert downloads(three) == 3


@pytest.mark.parametrize("schema", ["record.schema.json", "managed.schema.json"])
def test_a_checkout_never_built_judges_sound_state_with_jsonschema_alone(monkeypatch, schema):
    # No generated _fast_* module (a worktree nobody built): jsonschema decides, and finds nothing wrong.
    monkeypatch.setitem(sys.modules, f"dockharden.schema._fast_{schema.split('.')[0]}", None)
    sound = ({"format": 1, "id": "0001", "kind": "apply", "time": "t", "state": "applied",
              "selection": {"profiles": [], "layers": []}, "files": [], "plan": {"changes": [], "services": []}}
             if schema == "record.schema.json" else {"format": 1, "daemon": {}})
    assert state.shape_problem(sound, schema) == ""
    assert state.shape_problem({"format": 2}, schema) != ""
