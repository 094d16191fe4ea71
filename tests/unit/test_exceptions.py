"""Exceptions to CIS controls: the file checked like every input, applied by stable key, expiry counted."""

import datetime as dt

import pytest

from dockharden.inspect.benchmarks import benchmark
from dockharden.inspect.cis import EXCEPTED, FAIL, PASS, ControlResult
from dockharden.inspect.exceptions import ExceptionsFileError, apply_exceptions, expiring_notes, parse_exceptions

TODAY = dt.date(2026, 12, 1)
PATH = "/etc/dockharden/exceptions.toml"


def entry(**fields):
    lines = ["[[exception]]"]
    for key, value in fields.items():
        lines.append(f"{key} = {value}" if key == "expires" and not value.startswith('"') else f"{key} = {value!s}")
    return "\n".join(lines) + "\n"


def parse(text):
    return parse_exceptions(text.encode(), PATH)


def result(control_id, key, status=FAIL, version="1.8"):
    row = benchmark(version).row_for_id(control_id)
    assert row.key == key
    return ControlResult(id=row.id, key=row.key, title=row.title, level=row.level, assessment=row.assessment,
                         status=status, evidence="no authorization plugin",
                         fix="configure an authorization plugin" if status == FAIL else "")


GOOD = entry(control='"daemon.authorization"', reason='"no plugin fits our runners (RISK-142)"',
             owner='"platform-security@example.com"', expires="2027-03-31")


def test_an_exception_by_key_applies_to_the_control_whatever_its_id_in_each_version():
    [exc] = parse(GOOD)
    v17 = apply_exceptions([result("2.12", "daemon.authorization", version="1.7")], [exc], TODAY)
    v18 = apply_exceptions([result("2.13", "daemon.authorization")], [exc], TODAY)
    for [r] in (v17, v18):
        assert r.status == EXCEPTED and not r.counted
        assert r.exception == {"control": "daemon.authorization", "reason": "no plugin fits our runners (RISK-142)",
                               "owner": "platform-security@example.com", "expires": "2027-03-31", "state": "in force"}


def test_an_exception_by_a_versions_id_is_turned_into_the_key_and_survives_the_renumbering():
    [exc] = parse(entry(id='"2.13"', benchmark='"1.8"', reason='"r"', owner='"o"', expires="2027-01-01"))
    assert exc.key == "daemon.authorization" and exc.named_as == "2.13 (v1.8)"
    [r] = apply_exceptions([result("2.12", "daemon.authorization", version="1.7")], [exc], TODAY)
    assert r.status == EXCEPTED


def test_an_expired_exception_counts_as_a_failure_and_says_it_expired():
    [exc] = parse(GOOD.replace("2027-03-31", "2026-11-30"))
    [r] = apply_exceptions([result("2.13", "daemon.authorization")], [exc], TODAY)
    assert r.status == FAIL and r.counted and r.exception["state"] == "expired"
    assert r.evidence.startswith("exception expired on 2026-11-30 (no plugin fits our runners (RISK-142); owner ")


def test_an_exception_holds_through_its_expiry_day():
    [exc] = parse(GOOD.replace("2027-03-31", "2026-12-01"))
    assert apply_exceptions([result("2.13", "daemon.authorization")], [exc], TODAY)[0].status == EXCEPTED


def test_a_passing_control_keeps_its_status_and_shows_its_exception():
    [exc] = parse(GOOD)
    [r] = apply_exceptions([result("2.13", "daemon.authorization", status=PASS)], [exc], TODAY)
    assert r.status == PASS and r.exception["state"] == "in force"


def test_exceptions_that_expire_within_30_days_or_expired_are_notes():
    found = parse(GOOD.replace("2027-03-31", "2026-12-20") + entry(
        control='"daemon.tls"', reason='"r"', owner='"o"', expires="2026-11-01") + entry(
        control='"daemon.icc"', reason='"r"', owner='"o"', expires="2027-06-01"))
    notes = expiring_notes(found, TODAY)
    assert len(notes) == 2
    assert notes[0].startswith("exception for daemon.tls expired on 2026-11-01")
    assert "daemon.authorization expires on 2026-12-20, in 19 day(s)" in notes[1]


def test_an_empty_file_or_one_without_entries_excepts_nothing():
    assert parse("") == [] and parse("# nothing yet\n") == []


BAD = [
    ("x = [", "not valid TOML", PATH),
    ("title = 'x'\n", "unknown top-level key `title`", PATH),
    (entry(control='"daemon.tsl"', reason='"r"', owner='"o"', expires="2027-01-01"), "no control has the key",
     f"{PATH}, [[exception]] entry 1, key `control`"),
    (entry(id='"2.13"', reason='"r"', owner='"o"', expires="2027-01-01"), "needs the benchmark version",
     "key `benchmark`"),
    (entry(id='"2.19"', benchmark='"1.7"', reason='"r"', owner='"o"', expires="2027-01-01"),
     "CIS Docker Benchmark v1.7.0 has no control '2.19'", "key `id`"),
    (entry(control='"daemon.tls"', owner='"o"', expires="2027-01-01"), "`reason` is missing", "key `reason`"),
    (entry(control='"daemon.tls"', reason='"r"', owner='" "', expires="2027-01-01"), "`owner` is missing or empty",
     "key `owner`"),
    (entry(control='"daemon.tls"', reason='"r"', owner='"o"'), "`expires` is missing or not a date", "key `expires`"),
    (entry(control='"daemon.tls"', reason='"r"', owner='"o"', expires='"next year"'), "got 'next year'", "`expires`"),
    (entry(control='"daemon.tls"', reason='"r"', owner='"o"', expires="2027-01-01", until="2027-01-01"),
     "unknown key `until`", "key `until`"),
    (GOOD + GOOD, "daemon.authorization is already excepted by entry 1", "[[exception]] entry 2, key `control`"),
    # issue 24 class 12: TOML reads id = 3.10 as the number 3.1, another control: refused, asking for a string
    (entry(id="3.10", benchmark='"1.8"', reason='"r"', owner='"o"', expires="2027-01-01"),
     "written as a float (3.1)", 'key `id`'),
    ("x = " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply", PATH),
    (entry(id='"2.13"', benchmark="1.8", reason='"r"', owner='"o"', expires="2027-01-01"),
     'quote it as a string: benchmark = "1.8"', "key `benchmark`"),
    (entry(id="5", benchmark='"1.8"', reason='"r"', owner='"o"', expires="2027-01-01"), 'id = "5"', "key `id`"),
]


@pytest.mark.parametrize("text,says,where", BAD, ids=[b[1][:30] for b in BAD])
def test_a_bad_exceptions_file_is_one_paragraph_naming_the_file_the_entry_and_the_fix(text, says, where):
    with pytest.raises(ExceptionsFileError) as caught:
        parse(text)
    paragraph = caught.value.paragraph()
    assert says in paragraph and where in paragraph and "Hint: " in paragraph and "\n" not in paragraph
