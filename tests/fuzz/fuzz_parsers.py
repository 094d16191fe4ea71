"""Fuzz the parsers an operator's files go through: only a DockhardenError may ever come out of them.

Long-running and standalone (no test_ prefix: pytest does not collect it). Each target gets
`max_examples` generated inputs; anything but a DockhardenError subclass is a crash. Every distinct
crash (exception type and the dockharden line it came through) is printed with the smallest input
that caused it, and the command exits 1.

    python3 tests/fuzz/fuzz_parsers.py                 # 20000 examples per target
    python3 tests/fuzz/fuzz_parsers.py 100000          # longer
    python3 tests/fuzz/fuzz_parsers.py 5000 --target splice-block --skip-known

tests/unit/test_bad_input.py imports TARGETS from here and runs each with 300 derandomized examples.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from hypothesis import HealthCheck, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from dockharden.core.layers import _layer_from_text  # noqa: E402
from dockharden.core.merge import merge_layers  # noqa: E402
from dockharden.core.schema import check_daemon_config, daemon_keys, load_schema, removed_daemon_keys  # noqa: E402
from dockharden.daemon_json_codec import parse_daemon_json, serialize  # noqa: E402
from dockharden.errors import DockhardenError  # noqa: E402
from dockharden.host.inputs import load_layer_file  # noqa: E402
from dockharden.model import HostSnapshot  # noqa: E402
from dockharden.targets import audit_rules, daemon_json, render_seccomp_file, ufw_block  # noqa: E402

# ---------------------------------------------------------------------------------------------------
# Vocabulary: the keys and tokens the parsers care about, so generated inputs get past the first check.

DAEMON_KEYS = sorted(daemon_keys())
REMOVED_KEYS = sorted(removed_daemon_keys())
LAYER_TABLES = {name: sorted(spec.get("properties", {}))
                for name, spec in load_schema("layer.schema.json")["properties"].items()}
NEAR_MISSES = ["live-restor", "deamon", "", " ", "log_opts", "Debug", "icc ", "a", "b"]
KEY_POOL = DAEMON_KEYS + REMOVED_KEYS + sorted({k for keys in LAYER_TABLES.values() for k in keys}) + NEAR_MISSES

# Inputs of the crashes this fuzz found (huge integers, nesting past the recursion limit, lone surrogate
# escapes, a UTF-16 BOM before bytes that are not UTF-16, TOML dates and times). All are fixed and each
# has a test in tests/unit/test_bad_input.py; they stay here so they stay fixed. When a new crash gets
# an xfail test before its fix, add its inputs here: `--skip-known` leaves them out of a run that looks
# for more, and the quick pytest run uses known=True only while this holds no open crash.
KNOWN_CRASH_TOKENS_JSON = ['"\\ud800"', '"x\\udfff"', "1" + "0" * 4300, "-" + "9" * 4400]
KNOWN_CRASH_BOMS = [codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE]  # then bytes that are not UTF-16
KNOWN_CRASH_TOKENS_TOML = ["1979-05-27", "07:32:00", "1979-05-27T07:32:00Z", "1979-05-27 07:32:00.5",
                           "1" + "0" * 4300]


def _settings(max_examples: int, **extra: Any) -> settings:
    return settings(max_examples=max_examples, deadline=None, database=None, print_blob=True,
                    suppress_health_check=list(HealthCheck), **extra)


# ---------------------------------------------------------------------------------------------------
# Strategies

def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Python values json.loads could return: maps (keys from KEY_POOL or any text), lists, scalars."""
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                        st.text(max_size=12), st.sampled_from(["/etc/docker/x", "10m", "tcp://0.0.0.0:2375",
                                                               "unix:///var/run/docker.sock", "172.17.0.1/16"]))
    keys = st.one_of(st.sampled_from(KEY_POOL), st.text(max_size=6))
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(keys, inner, max_size=4)),
                        max_leaves=max_leaves)


def daemon_configs() -> st.SearchStrategy[dict[str, Any]]:
    """A daemon.json-shaped dict: mostly real keys, any JSON value under each."""
    keys = st.one_of(st.sampled_from(DAEMON_KEYS), st.sampled_from(REMOVED_KEYS), st.text(max_size=8))
    return st.dictionaries(keys, json_values(), max_size=6)


_JUNK = [",", "//c\n", "/*", "*/", "}", "]", "{", "[", "\x00", "\ufeff", '"', "\\", " ", "\n", "\r", "#",
         ":", "'", "=", "\t", "\u2028"]


def _mutated(texts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`texts` with up to three junk tokens inserted at arbitrary places."""
    edits = st.lists(st.tuples(st.integers(0, 1 << 16), st.sampled_from(_JUNK)), max_size=3)

    def apply(pair: tuple[str, list[tuple[int, str]]]) -> str:
        text, inserts = pair
        for position, token in inserts:
            at = position % (len(text) + 1)
            text = text[:at] + token + text[at:]
        return text
    return st.tuples(texts, edits).map(apply)


def _encoded(texts: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    encodings = st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be",
                                 "utf-32", "latin-1", "cp1252"])
    return st.tuples(texts, encodings).map(lambda pair: pair[0].encode(pair[1], errors="replace"))


def _json_texts(documents: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    layout = st.sampled_from([None, 0, 2, 4, "\t"])
    ascii_only = st.booleans()
    return st.tuples(documents, layout, ascii_only).map(
        lambda t: json.dumps(t[0], indent=t[1], ensure_ascii=t[2]))


def _nested_texts(opener: str, closer: str, middle: str) -> st.SearchStrategy[str]:
    depths = st.one_of(st.sampled_from([900, 999, 1000, 1001, 2000, 5000]), st.integers(1, 5000))
    return depths.map(lambda n: opener * n + middle + closer * n)


def _token_documents(tokens: list[str], keys: list[str]) -> st.SearchStrategy[str]:
    """Small JSON objects carrying one of `tokens` under a real key, possibly nested in a table."""
    return st.tuples(st.sampled_from(keys), st.sampled_from(tokens), st.sampled_from(["", "daemon"])).map(
        lambda t: (f'{{"{t[2]}": {{"{t[0]}": {t[1]}}}}}' if t[2] else f'{{"{t[0]}": {t[1]}}}'))


def daemon_json_bytes(known: bool = True) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, and JSON-ish documents (mutated, in several encodings) of daemon.json keys."""
    structured = _json_texts(st.one_of(daemon_configs(), json_values()))
    texts = [_mutated(structured), structured, st.text(max_size=40)]
    if known:
        texts += [_nested_texts("[", "]", ""), _nested_texts('{"log-opts": ', "}", "{}"),
                  _token_documents(KNOWN_CRASH_TOKENS_JSON, ["data-root", "mtu", "labels", "log-opts"])]
    boms = st.sampled_from([b"", b"", b"", codecs.BOM_UTF8] + (KNOWN_CRASH_BOMS if known else []))
    framed = st.tuples(boms, _encoded(st.one_of(*texts))).map(lambda pair: pair[0] + pair[1])
    data = st.one_of(st.binary(max_size=200), framed)
    return data if known else data.filter(_not_broken_utf16)


def _not_broken_utf16(data: bytes) -> bool:
    if not data.startswith(tuple(KNOWN_CRASH_BOMS)):
        return True
    try:
        data.decode("utf-16")
    except UnicodeDecodeError:
        return False
    return True


def layer_documents() -> st.SearchStrategy[dict[str, Any]]:
    """A layer as a Python structure: real table names, keys from each table (or near misses)."""
    def table(name: str) -> st.SearchStrategy[Any]:
        keys = LAYER_TABLES[name] or DAEMON_KEYS
        if name == "unset":
            return st.fixed_dictionaries({}, optional={"daemon": st.lists(
                st.one_of(st.sampled_from(DAEMON_KEYS), st.sampled_from(["log-opts/max-file", "/", "a//b", ""]),
                          st.text(max_size=8)), max_size=3)})
        return st.one_of(st.dictionaries(st.one_of(st.sampled_from(keys), st.sampled_from(NEAR_MISSES)),
                                         json_values(6), max_size=5), json_values(4))
    names = sorted(LAYER_TABLES) + ["deamon", "extra"]
    return st.lists(st.sampled_from(names), unique=True, max_size=4).flatmap(
        lambda chosen: st.fixed_dictionaries({n: table(n) if n in LAYER_TABLES else json_values(4) for n in chosen}))


def _toml_value(known: bool) -> st.SearchStrategy[str]:
    scalars = st.one_of(
        st.sampled_from(["true", "false", "1", "-0", "+1", "0x1F", "0o7", "0b1", "1_000", "3.14", "1e400", "-inf",
                         "nan", "'literal'", '"""multi\nline"""', "'''raw'''", '""', "[]", "{}", "yes", "1.",
                         '"\\u00e9"', '"\\U0001F600"', '"\\x"']),
        st.integers().map(str),
        st.text(max_size=12).map(json.dumps),
        st.sampled_from(["/etc/docker/x", "10.0.0.0/8", "22/tcp", "docker", "rwxa", "tcp://0.0.0.0:2376"]).map(
            json.dumps))
    if known:
        scalars = st.one_of(scalars, st.sampled_from(KNOWN_CRASH_TOKENS_TOML))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(st.sampled_from(KEY_POOL[:40] + ["a", "b"]), inner), max_size=3).map(
            lambda kv: "{ " + ", ".join(f'"{k}" = {v}' for k, v in kv) + " }")), max_leaves=6)


def toml_texts(known: bool = True) -> st.SearchStrategy[str]:
    """TOML-ish layers: table headers, key = value lines, comments, junk; LF, CRLF or bare CR."""
    headers = [f"[{name}]" for name in LAYER_TABLES] + ["[daemon.log-opts]", "[daemon.features]", "[[daemon]]",
                                                      "[deamon]", "[]", "[daemon", "[unset.daemon]"]
    keys = st.one_of(st.sampled_from(KEY_POOL), st.sampled_from(['"log-opts".max-size', "a.b.c", '""', "x y"]))
    assignment = st.tuples(keys, _toml_value(known)).map(
        lambda kv: f"{repr(kv[0]) if ' ' in kv[0] else kv[0]} = {kv[1]}")
    line = st.one_of(st.sampled_from(headers), assignment, assignment, st.sampled_from(["# comment", "", "   "]),
                     st.text(max_size=20))
    text = st.tuples(st.lists(line, max_size=12), st.sampled_from(["\n", "\r\n", "\r"])).map(
        lambda t: t[1].join(t[0]) + t[1])
    if known:
        text = st.one_of(text, _nested_texts("x = [", "]", "1").map(str), _nested_texts("x = {a = ", "}", "1"))
    return text


def layer_inputs(known: bool = True) -> st.SearchStrategy[tuple[bytes, str]]:
    """(bytes, 'toml' | 'json'): arbitrary bytes, TOML-ish text, and JSON layers (some broken)."""
    json_text = _json_texts(layer_documents())
    json_choices = [json_text, _mutated(json_text)]
    if known:
        json_choices += [_nested_texts("[", "]", ""),
                         _token_documents(KNOWN_CRASH_TOKENS_JSON, ["data-root", "mtu", "log-opts"])]
    as_json = st.tuples(_encoded(st.one_of(*json_choices)), st.just("json"))
    as_toml = st.tuples(_encoded(st.one_of(toml_texts(known), _mutated(toml_texts(known)))), st.just("toml"))
    raw = st.tuples(st.binary(max_size=200), st.sampled_from(["toml", "json"]))
    return st.one_of(raw, as_toml, as_json)


_RULES_LINES = [ufw_block.BEGIN, ufw_block.END, "  " + ufw_block.BEGIN + " ", "*filter", "*nat", " *mangle",
                "COMMIT", " COMMIT ", "# comment", ":DOCKER-USER - [0:0]", "-A DOCKER-USER -j RETURN", "",
                "# BEGIN dockharden", "END dockharden DOCKER-USER",
                # chaifeng/ufw-docker's markers and rules (the adopt-ufw-docker target)
                "# BEGIN UFW AND DOCKER", "# END UFW AND DOCKER", ":ufw-user-forward - [0:0]",
                "-A DOCKER-USER -j ufw-user-forward", "-A DOCKER-USER -j RETURN -s 10.0.0.0/8",
                "-A DOCKER-USER -j RETURN -s fd00::/8", "-A DOCKER-USER -j DROP -m conntrack --ctstate NEW -d 10.0.0.0/8"]


def rules_texts() -> st.SearchStrategy[str]:
    """after.rules-ish text: markers, tables, COMMITs, any unicode, any line ending (or none)."""
    line = st.one_of(st.sampled_from(_RULES_LINES), st.text(max_size=20))
    ending = st.sampled_from(["\n", "\n", "\r\n", "\r", "", "\x85", "\u2028", "\x0c"])
    return st.lists(st.tuples(line, ending), max_size=15).map(lambda pairs: "".join(a + b for a, b in pairs))


# ---------------------------------------------------------------------------------------------------
# Targets: each takes one generated input; a DockhardenError is an accepted outcome, nothing else is.

EMPTY_HOST = HostSnapshot(root="/nonexistent-dockharden-fuzz-root", files={}, existing_paths=frozenset())
BLOCK = f"{ufw_block.BEGIN}\n*filter\n-A DOCKER-USER -j RETURN\nCOMMIT\n{ufw_block.END}\n"


def _parse_daemon_json(data: bytes) -> None:
    """parse_daemon_json, then what plan does with an accepted document: check it and write it out."""
    doc = parse_daemon_json(data, "/etc/docker/daemon.json")
    check_daemon_config(doc, path="/etc/docker/daemon.json")
    serialize(doc)


def _parse_layer(item: tuple[bytes, str]) -> None:
    """_layer_from_text, then merge and render the targets the layer configures (pure renderers)."""
    data, fmt = item
    layer = _layer_from_text(data, source=f"/fuzz/layer.{fmt}", default_name="fuzz", fmt=fmt)
    _render(layer)


def _load_layer_file(item: tuple[bytes, str]) -> None:
    """load_layer_file on a real file (its suffix picks the format)."""
    data, fmt = item
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"layer.{fmt}"
        path.write_bytes(data)
        _render(load_layer_file(path))


def _render(layer) -> None:
    settings_ = merge_layers([layer])
    host = EMPTY_HOST
    for render in (daemon_json.render_daemon_json, audit_rules.render_audit_rules, ufw_block.render_ufw,
                   render_seccomp_file):
        render(settings_, host)


def _check_daemon_config(config: dict[str, Any]) -> None:
    check_daemon_config(config, path="/etc/docker/daemon.json")
    check_daemon_config(config, path="/fuzz/layer.toml", prefix="daemon.")


def _splice_block(text: str) -> None:
    """splice_block, and splice again into its own output (what the next apply does)."""
    once = ufw_block.splice_block(text, BLOCK, path="/etc/ufw/after.rules")
    ufw_block.splice_block(once, BLOCK, path="/etc/ufw/after.rules")


def _adopt_ufw_docker(text: str) -> None:
    """ufw-docker's block recognised (or refused) in either file, adopted, and the result adopted again: no
    block of ufw-docker's is left, and a second splice changes nothing (what the next plan does)."""
    from dockharden.targets import ufw_docker

    lines = ufw_block.split_lines(text)
    for version in (4, 6):
        found = ufw_docker.find(lines, path="/etc/ufw/after.rules", version=version)
        if found is None:
            continue
        once = ufw_block.splice_block(text, BLOCK, path="/etc/ufw/after.rules", replacing=(found.begin, found.end))
        assert ufw_docker.find(ufw_block.split_lines(once), path="/etc/ufw/after.rules", version=version) is None
        assert ufw_block.splice_block(once, BLOCK, path="/etc/ufw/after.rules") == once


def _selection_file(data: bytes) -> None:
    """dockharden.toml: parse and check it, then write a new selection into it and read that back."""
    import tomllib

    from dockharden.core.selection import parse_config, render_config
    from dockharden.model import Selection

    parse_config(data)
    out = render_config(data, Selection(("baseline", "userns"), layers=("/etc/dockharden/site.toml",), source="fuzz"))
    doc = tomllib.loads(out.decode())
    assert doc["profiles"] == ["baseline", "userns"] and doc["layers"] == ["/etc/dockharden/site.toml"]


def _state_file(data: bytes) -> None:
    """A generation record or managed.json: parse_state never raises, it says what is wrong."""
    from dockharden.host.state import parse_state

    for schema in ("record.schema.json", "managed.schema.json"):
        doc, problem = parse_state(data, schema)
        assert problem or doc is not None


def selection_files(known: bool = True) -> st.SearchStrategy[bytes]:
    keys = ["profiles", "layers", "[service]", "manager", "timeout", "[docker]", "host", "[site.owner]"]
    lines = st.lists(st.one_of(st.sampled_from(['profiles = ["baseline"]', "layers = []", "[service]",
                                                'manager = "command"', "timeout = 90", "since = 2024-01-15",
                                                "[site.owner]", "# mine", "", 'x = {a = 1}']),
                               st.sampled_from(keys).map(lambda k: k + " = 1")), max_size=8)
    return st.one_of(st.binary(max_size=120), _encoded(lines.map("\n".join)))


def state_files(known: bool = True) -> st.SearchStrategy[bytes]:
    record = {"format": 1, "id": "0001", "kind": "apply", "time": "t", "state": "applied",
              "selection": {"profiles": [], "layers": []}, "files": [], "plan": {"changes": [], "services": []}}
    whole = json.dumps(record).encode()
    cut = st.integers(0, len(whole)).map(lambda n: whole[:n])
    return st.one_of(st.binary(max_size=120), cut, _encoded(_json_texts(json_values())))


@dataclass(frozen=True)
class Target:
    name: str
    strategy: Callable[[bool], st.SearchStrategy[Any]]  # known: include the already-reported crash inputs
    check: Callable[[Any], None]


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("parse-daemon-json", daemon_json_bytes, _parse_daemon_json),
    Target("layer-from-text", layer_inputs, _parse_layer),
    Target("load-layer-file", layer_inputs, _load_layer_file),
    Target("check-daemon-config", lambda known: daemon_configs(), _check_daemon_config),
    Target("splice-block", lambda known: rules_texts(), _splice_block),
    Target("adopt-ufw-docker", lambda known: rules_texts(), _adopt_ufw_docker),
    Target("selection-file", selection_files, _selection_file),
    Target("state-file", state_files, _state_file),
)}


def accept_typed_errors(check: Callable[[Any], None], value: Any) -> None:
    """`check(value)`, with a DockhardenError counted as the right answer to a bad input."""
    try:
        check(value)
    except DockhardenError:
        pass


def shown(value: Any, limit: int = 600) -> str:
    """The input itself (hypothesis would show the strategy that built it), cut when it is long."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters in all)"


@dataclass
class Crash:
    """One distinct crash (exception type and the dockharden line it came through), smallest input seen."""

    kind: str
    value: Any
    size: int
    report: str
    count: int = 1


def crash_kind(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}dockharden{os.sep}" in f.filename] or frames
    here = ours[-1]
    where = os.path.relpath(here.filename, REPO) if here.filename.startswith(str(REPO)) else here.filename
    return f"{type(exc).__name__} through {where}:{here.lineno} ({here.name})"


def record(crashes: dict[str, Crash], value: Any, exc: Exception) -> None:
    kind, size = crash_kind(exc), len(repr(value))
    seen = crashes.get(kind)
    if seen is None or size < seen.size:
        report = "".join(traceback.format_exception(exc, limit=-6))
        crashes[kind] = Crash(kind, value, size, report, seen.count + 1 if seen else 1)
    else:
        seen.count += 1


def fuzz(target: Target, max_examples: int, *, known: bool = True, crashes: dict[str, Crash] | None = None,
         **extra: Any) -> None:
    """Run one target.

    Without `crashes` (pytest): the first crash is raised after hypothesis shrank it, with the input in
    the report. With `crashes` (the long run): every input is tried, and each distinct crash is kept
    with the smallest input that caused it, because hypothesis stops generating at its first failure
    and one known crash would hide every other.
    """
    @_settings(max_examples, **extra)
    @given(target.strategy(known))
    def run(value: Any) -> None:
        try:
            accept_typed_errors(target.check, value)
        except Exception as exc:  # noqa: BLE001 - anything else is the crash we are looking for
            if crashes is None:
                note(f"input: {shown(value)}")
                raise
            record(crashes, value, exc)

    run()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("max_examples", nargs="?", type=int, default=20000)
    parser.add_argument("--target", action="append", choices=sorted(TARGETS), help="repeatable; default: all")
    parser.add_argument("--skip-known", action="store_true", help="leave out inputs of crashes already reported")
    args = parser.parse_args(argv)
    crashed = []
    for name in args.target or list(TARGETS):
        started = time.monotonic()
        print(f"fuzz {name}: {args.max_examples} examples ...", flush=True)
        crashes: dict[str, Crash] = {}
        fuzz(TARGETS[name], args.max_examples, known=not args.skip_known, crashes=crashes)
        took = f"{time.monotonic() - started:.0f} s"
        if not crashes:
            print(f"ok    {name} ({took})", flush=True)
            continue
        crashed.append(name)
        print(f"CRASH {name} ({took}): {len(crashes)} distinct crash(es)", flush=True)
        for crash in sorted(crashes.values(), key=lambda c: c.kind):
            print(f"\n  {crash.kind}: {crash.count} input(s); the smallest:\n    {shown(crash.value, 2000)}\n")
            print("    " + crash.report.rstrip().replace("\n", "\n    "), flush=True)
    if crashed:
        print("\ncrashed: " + ", ".join(crashed))
        return 1
    print("no crash: every bad input was answered with a DockhardenError")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
