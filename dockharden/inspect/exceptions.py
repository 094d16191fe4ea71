"""Exceptions to CIS controls, as compliance teams keep them: a TOML file of entries, each naming a
control, a reason, an owner and an expiry date.

`parse_exceptions` is pure (bytes in, exceptions out, or one ExceptionsFileError naming the file, the
entry and the fix); `apply_exceptions` and `expiring_notes` are pure; `load_exceptions` reads the file.

An entry names a control by its stable key (`control = "daemon.authorization"`), which is the same in
every benchmark version, or by a version's ID together with that version (`id = "2.13"`,
`benchmark = "1.8"`), which is turned into the key when the file is read. Either way the exception
follows the control across a renumbering (v1.8.0's 2.13 is v1.7.0's 2.12).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from dockharden.errors import DockhardenError
from dockharden.inspect.benchmarks import VERSIONS, all_keys, benchmark
from dockharden.model import EXCEPTIONS_PATH

PATH = EXCEPTIONS_PATH
LIMIT = 1 << 20
WARN_DAYS = 30
FIELDS = ("control", "id", "benchmark", "reason", "owner", "expires")
EXAMPLE = ("[[exception]] with control = \"daemon.authorization\", reason = \"...\", owner = \"team@example.com\", "
           "expires = 2027-03-31, one key a line (docs/check.md)")


class ExceptionsFileError(DockhardenError):
    """The exceptions file cannot be read or an entry in it is not valid."""


@dataclass(frozen=True, kw_only=True)
class ControlException:
    key: str
    named_as: str            # as the file names it: the key, or "2.13 (v1.8)"
    reason: str
    owner: str
    expires: dt.date
    entry: int               # 1-based position in the file

    def expired(self, today: dt.date) -> bool:
        """In force up to and including its expiry date."""
        return today > self.expires

    def as_dict(self, today: dt.date) -> dict[str, str]:
        return {"control": self.named_as, "reason": self.reason, "owner": self.owner,
                "expires": self.expires.isoformat(), "state": "expired" if self.expired(today) else "in force"}


def load_exceptions(root: str, path: str | None = None) -> tuple[list[ControlException], str]:
    """The exceptions of `path` (given on the command line, read as given) or of PATH under `root`
    ([] when that default file does not exist), and the file they came from."""
    from dockharden.host.fs import HostFS
    from dockharden.host.inputs import read_regular_file

    if path is None:
        fs = HostFS(root)
        if not fs.exists(PATH):
            return [], PATH
        data = read_regular_file(fs.real(PATH), limit=LIMIT, error=ExceptionsFileError,
                                 named_in=f"({PATH} under --root)")
        return parse_exceptions(data, PATH), PATH
    data = read_regular_file(Path(path), limit=LIMIT, error=ExceptionsFileError, named_in="with --exceptions")
    return parse_exceptions(data, path), path


def parse_exceptions(data: bytes, path: str) -> list[ControlException]:
    """Every entry, checked: one paragraph naming the file, the entry and the fix for the first bad one."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ExceptionsFileError(f"not valid TOML: {exc}", path=path,
                                  hint="fix the file; each entry is an " + EXAMPLE) from None
    except (ValueError, RecursionError) as exc:  # absurd numbers or nesting
        raise ExceptionsFileError(f"cannot be read ({exc.__class__.__name__}: nested too deeply, or a number too "
                                  "long)", path=path, hint="fix the file; each entry is an " + EXAMPLE) from None
    extra = sorted(set(doc) - {"exception"})
    if extra:
        raise ExceptionsFileError(f"unknown top-level key `{extra[0]}`", path=path,
                                  hint="the file holds only [[exception]] entries")
    entries = doc.get("exception", [])
    if not isinstance(entries, list):
        raise ExceptionsFileError("`exception` must be an array of tables ([[exception]])", path=path,
                                  hint="write each entry as [[exception]]")
    found: list[ControlException] = []
    for number, entry in enumerate(entries, 1):
        found.append(_entry(entry, number, path))
    seen: dict[str, int] = {}
    for exc in found:
        if exc.key in seen:
            raise _bad(path, exc.entry, "control", f"{exc.key} is already excepted by entry {seen[exc.key]}",
                       "keep one entry per control")
        seen[exc.key] = exc.entry
    return found


def _bad(path: str, number: int, field: str, message: str, fix: str) -> ExceptionsFileError:
    return ExceptionsFileError(message, hint=fix, path=f"{path}, [[exception]] entry {number}",
                               key=field)


def _entry(entry: object, number: int, path: str) -> ControlException:
    if not isinstance(entry, dict):
        raise _bad(path, number, "exception", "is not a table", "write the entry as [[exception]] with its keys")
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise _bad(path, number, unknown[0], f"unknown key `{unknown[0]}`", "use only " + ", ".join(FIELDS))
    key, named_as = _control(entry, number, path)
    texts = {}
    for field in ("reason", "owner"):
        value = entry.get(field)
        if not isinstance(value, str) or not value.strip():
            raise _bad(path, number, field, f"`{field}` is missing or empty",
                       f"say {'why the control is excepted' if field == 'reason' else 'who answers for it'}")
        texts[field] = value.strip()
    return ControlException(key=key, named_as=named_as, reason=texts["reason"], owner=texts["owner"],
                            expires=_date(entry, number, path), entry=number)


def _control(entry: dict, number: int, path: str) -> tuple[str, str]:
    if "control" in entry and "id" in entry:
        raise _bad(path, number, "control", "names both `control` and `id`", "keep one: the key is stable")
    if "control" in entry:
        key = entry["control"]
        if "benchmark" in entry:
            raise _bad(path, number, "benchmark", "`benchmark` goes with `id`, not `control`",
                       "remove it: a key is the same in every version")
        if not isinstance(key, str) or key not in all_keys():
            raise _bad(path, number, "control", f"no control has the key {key!r}",
                       "use a key that `dockharden check --format json` lists, e.g. daemon.authorization")
        return key, key
    if "id" not in entry:
        raise _bad(path, number, "control", "names no control", "add control = \"KEY\" (or id and benchmark)")
    version, control_id = entry.get("benchmark"), entry["id"]
    if not isinstance(control_id, str):  # TOML reads id = 3.10 as the number 3.1: control 3.1, not 3.10
        raise _bad(path, number, "id", f"`id` is written as a {type(control_id).__name__} ({control_id!r}), and "
                   "a number loses what an ID says (3.10 would be read as 3.1)",
                   f'quote it as a string: id = "{control_id}"' if isinstance(control_id, int) else
                   'quote it as a string, as the benchmark writes it: id = "3.10"')
    if isinstance(version, int | float) and not isinstance(version, bool):  # benchmark = 1.8: a number, not "1.8"
        raise _bad(path, number, "benchmark", f"`benchmark` is written as a number ({version!r})",
                   f'quote it as a string: benchmark = "{version}"')
    if not isinstance(version, str) or version.lstrip("v").removesuffix(".0") not in VERSIONS:
        raise _bad(path, number, "benchmark", f"`id` needs the benchmark version it belongs to (got {version!r})",
                   f"add benchmark = one of {', '.join(repr(v) for v in VERSIONS)}: IDs differ between versions")
    table = benchmark(version)
    row = table.row_for_id(str(control_id))
    if row is None:
        raise _bad(path, number, "id", f"{table.name} has no control {control_id!r}",
                   "use an ID that version lists (docs/check.md), or the control's stable key")
    return row.key, f"{row.id} (v{table.version})"


def _date(entry: dict, number: int, path: str) -> dt.date:
    value = entry.get("expires")
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            pass
    if not isinstance(value, dt.date):
        raise _bad(path, number, "expires", f"`expires` is missing or not a date (got {value!r})",
                   "give the last day the exception holds, e.g. expires = 2027-03-31")
    return value


def apply_exceptions(results: list, exceptions: list[ControlException], today: dt.date) -> list:
    """A failure under an exception in force becomes `excepted`; one whose exception expired stays a
    failure and says so. Every result an exception names carries it."""
    from dockharden.inspect.cis import EXCEPTED, FAIL

    by_key = {e.key: e for e in exceptions}
    updated = []
    for result in results:
        exc = by_key.get(result.key)
        if exc is None:
            updated.append(result)
            continue
        info = exc.as_dict(today)
        if result.status == FAIL and not exc.expired(today):
            result = replace(result, status=EXCEPTED)
        elif result.status == FAIL:
            result = replace(result, evidence=f"exception expired on {info['expires']} ({exc.reason}; "
                                              f"owner {exc.owner}); {result.evidence}")
        updated.append(replace(result, exception=info))
    return updated


def expiring_notes(exceptions: list[ControlException], today: dt.date, days: int = WARN_DAYS) -> list[str]:
    """One line per exception that expired or expires within `days` days."""
    notes = []
    for exc in sorted(exceptions, key=lambda e: e.expires):
        left = (exc.expires - today).days
        if left < 0:
            notes.append(f"exception for {exc.named_as} expired on {exc.expires} (owner {exc.owner}): "
                         "check counts the control again")
        elif left <= days:
            notes.append(f"exception for {exc.named_as} expires on {exc.expires}, in {left} day(s) "
                         f"(owner {exc.owner}): renew it or fix the control")
    return notes
