"""/etc/dockharden/dockharden.toml: written with tomlkit, keeping the operator's comments, order and
layout, and only inside a generation, as a planned change like any other file.
"""

import json
import os
import tomllib
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockharden import api
from dockharden.core.selection import CONFIG_PATH, render_config
from dockharden.execute import generations
from dockharden.host.runner import Runner
from dockharden.model import Selection

TOML = CONFIG_PATH.lstrip("/")
OPERATOR = """# Site selection, reviewed by ops (TICKET-42)
profiles = ["baseline"]   # keep baseline first

[service]
manager = "command"       # our own wrapper
restart_command = ["/usr/local/bin/restart-docker", "--quick"]
timeout = 90

# who to call
[site.owner]
team = "platform"
since = 2024-01-15
pager = { primary = "ops", backup = "sre" }
"""


class NoTools(Runner):
    def which(self, program):
        return None


def selection(*profiles, layers=()):
    return Selection(tuple(profiles), layers=tuple(layers), source="command line")


# --- rendering: pure ------------------------------------------------------------------------------------

def test_a_new_selection_keeps_every_comment_table_date_and_blank_line_of_the_operators_file():
    out = render_config(OPERATOR.encode(), selection("baseline", "userns")).decode()
    assert out == OPERATOR.replace('profiles = ["baseline"]   # keep', 'profiles = ["baseline", "userns"]   # keep')
    doc = tomllib.loads(out)
    assert doc["site"]["owner"]["since"] == date(2024, 1, 15) and doc["site"]["owner"]["pager"]["backup"] == "sre"


def test_a_selection_already_in_the_file_leaves_its_bytes_alone_however_they_are_laid_out():
    text = b'profiles=[ "baseline","userns" ]  # mine\nlayers = [\n  "/etc/dockharden/site.toml",\n]\n'
    assert render_config(text, selection("baseline", "userns", layers=["/etc/dockharden/site.toml"])) == text


def test_without_a_file_it_starts_with_a_header_and_parses_back():
    out = render_config(None, selection("baseline", layers=["/srv/a.toml"]))
    assert out.startswith(b"# dockharden's selection")
    assert tomllib.loads(out.decode()) == {"profiles": ["baseline"], "layers": ["/srv/a.toml"]}


SCALARS = st.one_of(st.integers(-10**6, 10**6), st.booleans(), st.text(max_size=8), st.dates(),
                    st.lists(st.integers(0, 9), max_size=3))
KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(lambda k: k not in ("profiles", "layers"))
TABLES = st.dictionaries(KEYS, st.one_of(SCALARS, st.dictionaries(KEYS, SCALARS, max_size=3)), max_size=4)


def _toml(doc: dict, prefix: str = "") -> str:
    """A TOML text for `doc`, written by hand as an operator would: comments, tables, sub-tables."""
    import tomlkit

    return "# operator's header\n" + tomlkit.dumps(doc) + "# operator's footer\n"


@settings(max_examples=150, deadline=None)
@given(tables=st.dictionaries(KEYS, TABLES, max_size=3), top=st.dictionaries(KEYS, SCALARS, max_size=3),
       profiles=st.lists(st.sampled_from(["baseline", "userns", "tls"]), min_size=1, max_size=3, unique=True))
def test_whatever_the_file_holds_the_output_is_toml_with_it_all_and_the_new_selection(tables, top, profiles):
    doc = {**top, **{k: v for k, v in tables.items() if k not in top}}
    text = _toml(doc)
    out = render_config(text.encode(), selection(*profiles)).decode()
    assert tomllib.loads(out) == {**tomllib.loads(text), "profiles": profiles}
    assert out.startswith("# operator's header\n") and "# operator's footer\n" in out
    assert render_config(out.encode(), selection(*profiles)).decode() == out


# --- inside a generation ---------------------------------------------------------------------------------

def request(root: Path, profiles=None):
    return api.Request(root=str(root), profiles=profiles, runner=NoTools())


@pytest.fixture
def applied(tmp_path):
    """A root whose operator wrote dockharden.toml, after one apply of baseline."""
    root = tmp_path / "root"
    (root / "etc/dockharden").mkdir(parents=True)
    (root / TOML).write_text(OPERATOR)
    assert api.apply(request(root), restart=False).result.result == "applied"
    return root


def test_an_empty_plan_writes_nothing_not_even_the_selection_file(applied):
    toml = applied / TOML
    toml.write_text(toml.read_text().replace("profiles = [", "profiles=[").replace('"]   #', '"]#'))
    before = (toml.read_bytes(), toml.stat().st_mtime_ns, toml.stat().st_ino)
    for flags in (None, ["baseline"]):  # from the file; from a flag that says the same
        plan = api.make_plan(request(applied, flags))
        assert plan.changes == ()
        assert api.apply(request(applied, flags), restart=False).result.result == "unchanged"
    assert (toml.read_bytes(), toml.stat().st_mtime_ns, toml.stat().st_ino) == before
    assert [g.id for g in generations.list_generations(str(applied))] == ["0001"]


def test_a_new_selection_is_planned_backed_up_recorded_listed_and_rolled_back(applied):
    toml = applied / TOML
    before = toml.read_bytes()
    plan = api.make_plan(request(applied, ["baseline", "userns"]))
    change = next(c for c in plan.changes if c.path == CONFIG_PATH)
    assert change.action == "update" and '+profiles = ["baseline", "userns"]   # keep baseline first' in change.diff
    assert not any(s.service == "selection" for s in plan.services)

    result = api.apply(request(applied, ["baseline", "userns"]), restart=False).result
    assert result.result == "applied" and CONFIG_PATH in result.written
    gen = generations.find_generation(str(applied), result.generation)
    entry = next(e for e in gen.record["files"] if e["path"] == CONFIG_PATH)
    assert generations.backup_bytes(gen, entry) == before
    assert CONFIG_PATH in [c["path"] for c in gen.record["plan"]["changes"]]
    assert "# who to call" in toml.read_text() and tomllib.loads(toml.read_text())["profiles"] == ["baseline", "userns"]

    from dockharden import report

    history = report.history_entries(api.history(api.Request(root=str(applied))))
    assert CONFIG_PATH in history[0]["files"]

    assert api.rollback(request(applied), restart=False).result.result == "applied"
    assert toml.read_bytes() == before
    assert api.make_plan(request(applied)).selection.profiles == ("baseline",)


def test_a_first_apply_creates_the_file_inside_the_generation_and_rollback_removes_it(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    result = api.apply(request(root, ["baseline"]), restart=False).result
    assert (root / TOML).is_file() and oct((root / TOML).stat().st_mode & 0o777) == "0o644"
    gen = generations.find_generation(str(root), result.generation)
    assert {"path": CONFIG_PATH, "existed": False}.items() <= next(
        e for e in gen.record["files"] if e["path"] == CONFIG_PATH).items()
    api.rollback(request(root), restart=False)
    assert not (root / TOML).exists()


def test_a_stricter_mode_the_operator_gave_the_file_is_kept(applied):
    os.chmod(applied / TOML, 0o600)
    assert api.apply(request(applied, ["baseline", "userns"]), restart=False).result.result == "applied"
    assert oct((applied / TOML).stat().st_mode & 0o777) == "0o600"


def test_the_selection_file_is_not_drift_for_verify(applied):
    from dockharden.inspect.verify import find_drift

    plan = api.make_plan(request(applied, ["baseline", "userns"]))
    engine = api.engine_for(api._context(request(applied)), {}, request(applied))
    rows = find_drift(plan, engine)
    assert not any(CONFIG_PATH in r.check or "managed.json" in r.check for r in rows), json.dumps(
        [r.check for r in rows])




@settings(max_examples=200, deadline=None)
@given(profiles=st.lists(st.sampled_from(["baseline", "userns", "tls", "rootless", "logging"]), min_size=1,
                          max_size=4, unique=True),
       layers=st.lists(st.text(min_size=1, max_size=12).map(lambda s: "/etc/" + s), max_size=3, unique=True))
def test_a_new_selection_file_is_written_byte_for_byte_as_tomlkit_writes_it(profiles, layers):
    import tomlkit

    from dockharden.core.selection import HEADER, render_config
    from dockharden.model import Selection

    selection = Selection(tuple(profiles), layers=tuple(layers))
    doc = tomlkit.parse(HEADER)
    doc["profiles"] = profiles
    if layers:
        doc["layers"] = layers
    assert render_config(None, selection) == tomlkit.dumps(doc).encode()


# --- issue 24 class 12: a misspelt key is refused with what was meant, not silently ignored ---------------

@pytest.mark.parametrize("text, says", [
    ('profile = ["baseline", "userns"]\n', "unknown key `profile` (did you mean `profiles`?)"),
    ('layer = ["/srv/site.toml"]\n', "did you mean `layers`?"),
    ('[servce]\nmanager = "command"\n', "did you mean `service`?"),
    ('[service]\nmanagr = "command"\n', "unknown key `managr` in [service] (did you mean `manager`?)"),
    ('[service]\nrestart = ["/usr/local/bin/restart-docker"]\n', "unknown key `restart` in [service]"),
    ('[docker]\nlogfile = "/var/log/dockerd.log"\n', "did you mean `log_file`?"),
    ('manager = "command"\n', "a key of [service]"),
])
def test_a_misspelt_key_in_dockharden_toml_is_refused_saying_what_was_meant(text, says):
    from dockharden.core.selection import parse_config
    from dockharden.errors import HostFileError

    with pytest.raises(HostFileError) as caught:
        parse_config(text.encode())
    assert says in str(caught.value) and caught.value.path == CONFIG_PATH and caught.value.hint


def test_the_operators_own_tables_in_dockharden_toml_stay_accepted():
    from dockharden.core.selection import parse_config

    assert parse_config(OPERATOR.encode())["site"]["owner"]["team"] == "platform"
