"""Each plain rollback goes one generation further back; `rollback --to N` is explicit.

On a real tree: three applies, generation N setting max-concurrent-downloads = N, so the daemon.json
says which generation is in force. Then the pure replay (rollback.in_force) on plain records.
"""

import json
from pathlib import Path

import pytest

from dockharden import api
from dockharden.errors import DockhardenError
from dockharden.execute.generations import Generation
from dockharden.execute.rollback import in_force
from dockharden.host.runner import Runner


class NoTools(Runner):
    def which(self, program):
        return None


def downloads(root: Path):
    path = root / "etc/docker/daemon.json"
    return json.loads(path.read_text()).get("max-concurrent-downloads") if path.exists() else None


def request(root: Path, layer: Path | None = None) -> api.Request:
    return api.Request(root=str(root), profiles=["baseline"], layers=[str(layer)] if layer else None,
                       runner=NoTools())


def apply_n(root: Path, n: int) -> str:
    layer = root.parent / f"l{n}.toml"
    layer.write_text(f'[layer]\nname = "l{n}"\n[daemon]\nmax-concurrent-downloads = {n}\n')
    result = api.apply(request(root, layer), restart=False).result
    assert result.result == "applied"
    return result.generation


def rollback(root: Path, to: str | None = None) -> str:
    result = api.rollback(request(root), to=to, restart=False).result
    assert result.result == "applied", result.messages
    return result.generation


@pytest.fixture
def three(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    assert [apply_n(root, n) for n in (1, 2, 3)] == ["0001", "0002", "0003"]
    return root


def test_three_plain_rollbacks_after_three_applies_go_back_one_generation_each(three):
    seen = []
    for _ in range(3):
        rollback(three)
        seen.append(downloads(three))
    assert seen == [2, 1, None]  # before 0003, before 0002, before 0001 (no daemon.json at all)
    assert not (three / "etc/dockharden/dockharden.toml").exists()


def test_when_nothing_is_left_a_plain_rollback_says_so_and_changes_nothing(three):
    for _ in range(3):
        rollback(three)
    with pytest.raises(DockhardenError) as caught:
        api.rollback(request(three), restart=False)
    assert "nothing left to roll back" in str(caught.value) and "--to" in caught.value.hint


def test_a_plain_rollback_after_rollback_to_goes_on_from_where_to_left_the_host(three):
    rollback(three, to="0002")
    assert downloads(three) == 1
    rollback(three)
    assert downloads(three) is None  # before 0001: not back to 0003, not a redo of 0002


def test_rollback_to_a_rollback_generation_redoes_what_it_undid_and_plain_rollback_follows(three):
    undo = rollback(three)  # 0004 undoes 0003
    assert downloads(three) == 2
    rollback(three, to=undo)  # 0005: back to before 0004, i.e. 0003 in force again
    assert downloads(three) == 3
    rollback(three)  # the newest apply in force is 0003 again
    assert downloads(three) == 2


def test_an_apply_after_rollbacks_is_the_next_one_a_plain_rollback_undoes(three):
    rollback(three)
    rollback(three)
    assert downloads(three) == 1
    apply_n(three, 7)
    rollback(three)
    assert downloads(three) == 1
    rollback(three)
    assert downloads(three) is None


def test_a_rollback_whose_files_are_already_in_place_is_recorded_so_the_next_one_goes_further(three, tmp_path):
    before_3 = (three / "etc/docker/daemon.json").read_text().replace('"max-concurrent-downloads": 3',
                                                                       '"max-concurrent-downloads": 2')
    (three / "etc/docker/daemon.json").write_text(before_3)
    (three / "etc/dockharden/dockharden.toml").write_text(
        (three / "etc/dockharden/dockharden.toml").read_text().replace("l3.toml", "l2.toml"))
    outcome = api.rollback(request(three), restart=False)
    assert outcome.result.result == "applied" and "already" in outcome.result.messages[0]
    rollback(three)
    assert downloads(three) == 1


def test_history_says_which_rollback_undid_each_apply(three):
    from dockharden import report

    first, second = rollback(three), rollback(three)
    docs = {d["id"]: d for d in report.history_entries(api.history(api.Request(root=str(three))))}
    assert (docs["0003"]["undone_by"], docs["0002"]["undone_by"], docs["0001"]["undone_by"]) == (first, second, None)
    assert docs[first]["target"] == "0003" and docs[second]["target"] == "0002"


# --- the replay, on plain records -----------------------------------------------------------------------

def gen(n: int, kind: str = "apply", state: str = "applied", target: int | None = None, files: bool = True):
    record = {"kind": kind, "state": state, "files": [{"path": "/x"}] if files else []}
    if target is not None:
        record["target"] = f"{target:04d}"
    return Generation(f"{n:04d}", Path("/nonexistent"), record)


@pytest.mark.parametrize("history,in_force_ids", [
    ([gen(1), gen(2), gen(3)], ["0001", "0002", "0003"]),
    ([gen(1), gen(2), gen(3, "rollback", target=2)], ["0001"]),
    ([gen(1), gen(2), gen(3, "rollback", target=2), gen(4, "rollback", target=1)], []),
    ([gen(1), gen(2), gen(3, "rollback", target=2), gen(4, "rollback", target=3)], ["0001", "0002"]),
    ([gen(1), gen(2, state="rolled_back"), gen(3, state="failed"), gen(4, state="writing")], ["0001"]),
    ([gen(1), gen(2, files=False)], ["0001"]),
    ([gen(1), Generation("0002", Path("/x"), {}, damaged="cut short"), gen(3)], ["0001", "0003"]),
    ([gen(1), gen(2, "rollback", state="rolled_back", target=1)], ["0001"]),
    ([gen(1), gen(2, "rollback", target=1, files=False)], []),
])
def test_the_replay_keeps_exactly_the_applies_still_in_force(history, in_force_ids):
    stack, _ = in_force(history)
    assert [g.id for g in stack] == in_force_ids
