"""Issue 24, class 4: dockharden's state and saved plans that pass their schema but not their own logic.

A uid beyond what chown takes, a mode written as a float (JSON Schema's "integer" takes 420.0), a file
listed twice, a generation directory named with non-ASCII digits, managed.json keys inside another key's
value, a saved plan whose parts name different paths or whose bytes are not base64: one paragraph, exit 1,
no traceback, and no rollback left half done (no journal at `writing`, no temporary file).
"""

import json
from pathlib import Path

import pytest
from test_damaged_state import NoTools, dockharden, one_paragraph  # the same command and checks

from dockharden import api
from dockharden.execute import generations
from dockharden.execute.planfile import checksum

GENS = "var/lib/dockharden/generations"


def request(root: Path, layer: Path | None = None) -> api.Request:
    return api.Request(root=str(root), profiles=["baseline"], layers=[str(layer)] if layer else None,
                       runner=NoTools())


@pytest.fixture
def two(tmp_path):
    """A root after two applies: generation N set max-concurrent-downloads = N."""
    root = tmp_path / "root"
    root.mkdir()
    for n in (1, 2):
        layer = tmp_path / f"l{n}.toml"
        layer.write_text(f'[layer]\nname = "l{n}"\n[daemon]\nmax-concurrent-downloads = {n}\n')
        assert api.apply(request(root, layer), restart=False).result.result == "applied"
    return root


def edit_record(root: Path, gen: str, change) -> None:
    path = root / GENS / gen / "record.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def first_existing(doc):
    return next(e for e in doc["files"] if e["existed"])


LOGIC_DAMAGES = {
    "float-mode": lambda doc: first_existing(doc).update(mode=420.0),
    "uid-beyond-chown": lambda doc: first_existing(doc).update(uid=2**40),
    "gid-minus-one-as-unsigned": lambda doc: first_existing(doc).update(gid=2**32 - 1),
    "mode-beyond-chmod": lambda doc: first_existing(doc).update(mode=0o7777 + 1),
    "a-file-twice": lambda doc: doc["files"].append(dict(doc["files"][0])),
    "paths-disagree": lambda doc: doc["plan"]["changes"][0].update(path="/etc/elsewhere"),
    "backup-name-with-newline": lambda doc: first_existing(doc).update(backup=first_existing(doc)["backup"] + "\n"),
}


def leftovers(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if ".dockharden-" in p.name or p.name.endswith(".tmp")]


@pytest.mark.parametrize("damage", sorted(LOGIC_DAMAGES))
def test_a_record_that_passes_its_schema_but_not_its_logic_is_damaged_and_no_rollback_half_starts(two, damage):
    edit_record(two, "0002", LOGIC_DAMAGES[damage])
    gens = generations.list_generations(str(two))
    assert [g.id for g in gens if g.damaged] == ["0002"], [(g.id, g.damaged) for g in gens]
    history = dockharden("history", "--root", str(two))
    assert history.returncode == 0 and "Traceback" not in history.stderr, history.stderr
    one_paragraph(dockharden("rollback", "--root", str(two), "--yes", "--no-restart"),
                  "generation 0002's record is damaged", "Hint:")
    one_paragraph(dockharden("rollback", "--root", str(two), "--to", "0001", "--yes", "--no-restart"),
                  "generation 0002's record is damaged")
    after = generations.list_generations(str(two))
    assert [g.id for g in after] == ["0001", "0002"]  # nothing journaled, nothing at `writing`
    assert not leftovers(two)


@pytest.mark.parametrize("name", ["０００３", "1e3", "３", "0003\u0661"])
def test_a_generation_directory_not_named_by_ascii_digits_is_not_a_generation(two, name):
    strange = two / GENS / name
    strange.mkdir()
    (strange / "record.json").write_text((two / GENS / "0002/record.json").read_text())
    assert [g.id for g in generations.list_generations(str(two))] == ["0001", "0002"]
    history = dockharden("history", "--root", str(two))
    assert history.returncode == 0 and "Traceback" not in history.stderr and name not in history.stdout
    one_paragraph(dockharden("rollback", "--root", str(two), "--to", name, "--yes", "--no-restart"),
                  "is not a generation")


def test_a_generation_named_with_non_ascii_digits_does_not_take_the_next_number(two, tmp_path):
    (two / GENS / "９９").mkdir()
    layer = tmp_path / "l3.toml"
    layer.write_text('[layer]\nname = "l3"\n[daemon]\nmax-concurrent-downloads = 3\n')
    assert api.apply(request(two, layer), restart=False).result.generation == "0003"


@pytest.mark.parametrize("daemon", [
    {"log-opts": {"had": False}, "log-opts/max-size": {"had": False}},
    {"a/b": {"had": True, "value": 1}, "a/b/c": {"had": False}},
    {"icc/x": {"had": False}},
    {"log-opts/max-size/deeper": {"had": True, "value": "1m"}},
])
def test_managed_json_with_a_key_inside_another_keys_value_is_one_paragraph(two, daemon):
    managed = two / "var/lib/dockharden/managed.json"
    doc = json.loads(managed.read_text())
    doc["daemon"].update(daemon)
    managed.write_text(json.dumps(doc))
    one_paragraph(dockharden("plan", "--root", str(two)), "deeper than its value", "managed.json")


def test_a_managed_key_under_what_the_operator_made_a_scalar_is_left_to_the_operator(two):
    daemon = two / "etc/docker/daemon.json"
    doc = json.loads(daemon.read_text())
    doc["log-opts"] = "the operator's own"
    daemon.write_text(json.dumps(doc))
    managed = two / "var/lib/dockharden/managed.json"
    state = json.loads(managed.read_text())
    state["daemon"]["log-opts/unknown-option"] = {"had": True, "value": "1m"}
    managed.write_text(json.dumps(state))
    done = dockharden("plan", "--root", str(two))
    assert "Traceback" not in done.stderr, done.stderr


def saved_plan(tmp_path: Path, root: Path) -> Path:
    layer = tmp_path / "l9.toml"
    layer.write_text('[layer]\nname = "l9"\n[daemon]\nmax-concurrent-downloads = 9\n')
    out = tmp_path / "plans" / "p.json"
    out.parent.mkdir(mode=0o700)
    done = dockharden("plan", "--root", str(root), "--profile", "baseline", "--layer", str(layer), "--out", str(out))
    assert out.exists(), done.stderr
    return out


def first_file(doc):
    return doc["files"][0]


PLAN_DAMAGES = {
    "float-mode": (lambda doc: first_file(doc).update(mode=420.0), "mode 420.0"),
    "uid-beyond-chown": (lambda doc: first_file(doc).update(uid=2**40), "uid"),
    "invalid-base64": (lambda doc: first_file(doc).update(content_base64="not base64!"), "not base64"),
    "base64-with-junk": (lambda doc: first_file(doc).update(content_base64="e30=\n$$"), "not base64"),
    "paths-disagree": (lambda doc: first_file(doc).update(path="/etc/elsewhere.json"), "different paths"),
    "targets-disagree": (lambda doc: first_file(doc).update(target="audit"), "in files"),
    "a-file-twice": (lambda doc: doc["files"].append(dict(first_file(doc))), "listed twice"),
}


@pytest.mark.parametrize("damage", sorted(PLAN_DAMAGES))
def test_a_saved_plan_that_passes_its_schema_and_checksum_but_not_its_logic_is_one_paragraph(two, tmp_path,
                                                                                               damage):
    out = saved_plan(tmp_path, two)
    doc = json.loads(out.read_text())
    change, words = PLAN_DAMAGES[damage]
    change(doc)
    doc["checksum"] = checksum(doc)  # as an editor who knows the format would
    out.write_text(json.dumps(doc))
    before = (two / "etc/docker/daemon.json").read_bytes()
    one_paragraph(dockharden("apply", str(out), "--root", str(two), "--yes", "--no-restart"), words)
    one_paragraph(dockharden("show", str(out)), words)
    assert (two / "etc/docker/daemon.json").read_bytes() == before
    assert [g.id for g in generations.list_generations(str(two))] == ["0001", "0002"]
    assert not leftovers(two)


def test_a_restore_checks_every_backup_before_it_writes_any_file(two):
    from dockharden.errors import StateError

    generation = generations.list_generations(str(two))[1]
    paths = [e["path"] for e in generation.record["files"]]
    later = [e for e in generation.record["files"][paths.index("/etc/docker/daemon.json") + 1:] if e["existed"]]
    assert later, paths  # a file backed up after daemon.json, whose backup goes bad
    daemon = two / "etc/docker/daemon.json"
    now = daemon.read_bytes()
    (generation.directory / later[-1]["backup"]).write_bytes(b"changed since\n")
    with pytest.raises(StateError, match="does not match"):
        generations.restore_files(str(two), generation)
    assert daemon.read_bytes() == now  # no file restored while a later backup was bad
    assert not leftovers(two)
