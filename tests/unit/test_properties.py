"""Properties of merge, rendering, apply and rollback, checked on generated inputs (hypothesis).

The pure stages get plain generated values. Apply and rollback run on a real directory tree per
example: a TemporaryDirectory inside the test body, because hypothesis runs many examples in one call
of the test function and the function-scoped tmp_path would be shared by all of them.
"""

import json
import math
import os
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from dockharden import api
from dockharden.core.layers import load_builtin
from dockharden.core.merge import merge_layers
from dockharden.daemon_json_codec import parse_daemon_json, serialize
from dockharden.errors import ConflictError
from dockharden.host.runner import Runner
from dockharden.keypaths import get_path
from dockharden.model import HostFile, HostSnapshot, Layer
from dockharden.targets import audit_rules, daemon_json, ufw_block
from dockharden.targets.daemon_json import render_daemon_json
from dockharden.targets.ufw_block import BEGIN, END, splice_block

PURE = settings(max_examples=150, deadline=None)
ON_DISK = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DAEMON, AUDIT, UFW = daemon_json.PATH, audit_rules.PATH, ufw_block.PATH_V4
SECCOMP = daemon_json.SECCOMP_PATH
OWN = ("/var/lib/dockharden/managed.json", "/etc/dockharden/dockharden.toml")
BLOCK = f"{BEGIN}\n*filter\n-A DOCKER-USER -j RETURN\nCOMMIT\n{END}\n"


class NoTools(Runner):
    """No host tool may run or change an outcome: which() finds nothing."""

    def which(self, program):
        return None


# --- generated values --------------------------------------------------------------------------------

KEYS = st.sampled_from("abcd")  # a small alphabet, so that layers collide on keys
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "x", "é"]),
                    st.floats(allow_nan=False, allow_infinity=False, width=32))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(KEYS, inner, max_size=3)), max_leaves=8)
TABLE = st.dictionaries(KEYS, VALUES, max_size=4)
TABLES = st.dictionaries(st.sampled_from(["daemon", "audit"]), TABLE, max_size=2)

ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
JSON_ANY = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), ANY_TEXT),
                        lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                st.dictionaries(ANY_TEXT, inner, max_size=3)), max_leaves=10)


def layer(name, tables, unset=None):
    return Layer(name=name, source=name, tables=tables, unset=unset or {})


def snapshot(files=None, existing=(), managed=None):
    """A host snapshot as read_host would give it: `files` maps host path -> bytes (or HostFile)."""
    entries = {}
    for path, content in (files or {}).items():
        entries[path] = content if isinstance(content, HostFile) else \
            HostFile(path, exists=content is not None, content=content, mode=0o644 if content is not None else None,
                     uid=0, gid=0)
    return HostSnapshot(root="/nonexistent-root", files=entries, existing_paths=frozenset(existing),
                        managed=managed or {})


def leaf_paths(doc, prefix=()):
    """Paths to values that are not maps (an empty map is not a leaf: nothing in it was set)."""
    for key, value in doc.items():
        if isinstance(value, dict):
            yield from leaf_paths(value, prefix + (key,))
        else:
            yield prefix + (key,)


# --- merge ---------------------------------------------------------------------------------------------

@PURE
@given(a=TABLES, b=TABLES, c=TABLES)
def test_merging_a_then_b_as_one_layer_then_c_gives_the_tables_of_merging_all_three(a, b, c):
    together = merge_layers([layer("A", a), layer("B", b), layer("C", c)])
    first_two = merge_layers([layer("A", a), layer("B", b)])
    stepwise = merge_layers([layer("AB", first_two.tables), layer("C", c)])
    assert together.tables == stepwise.tables


@PURE
@given(tables=st.lists(TABLES, min_size=1, max_size=4))
def test_every_merged_leaf_names_the_last_layer_that_set_it_and_has_its_value(tables):
    layers = [layer(f"L{i}", t) for i, t in enumerate(tables)]
    merged = merge_layers(layers)
    for table, doc in merged.tables.items():
        for path in leaf_paths(doc):
            setters = [lay for lay in layers if get_path(lay.tables.get(table, {}), path)[0]]
            assert setters, (table, path)
            assert merged.provenance[(table, path)] == setters[-1].name, (table, path)
            assert get_path(doc, path)[1] == get_path(setters[-1].tables[table], path)[1]


@PURE
@given(a=TABLES, b=TABLES)
def test_merging_leaves_the_layers_it_was_given_unchanged(a, b):
    before = json.dumps([a, b], sort_keys=True)
    merge_layers([layer("A", a), layer("B", b)])
    assert json.dumps([a, b], sort_keys=True) == before


# --- rendering -----------------------------------------------------------------------------------------

CIDRS_V4 = ["10.1.0.0/16", "192.168.7.0/24", "172.30.0.0/16", "100.64.0.0/10"]
PORTS = ["22", "443/tcp", "53/udp", "8000:8100", "8000:8100/udp"]
OPERATOR_LAYER = st.fixed_dictionaries({
    "daemon": TABLE,
    "audit": st.fixed_dictionaries({"enabled": st.just(True)}, optional={
        "extra_paths": st.lists(st.sampled_from(["/srv/app", "/etc/containerd", "/opt/données"]), max_size=3),
        "key": st.sampled_from(["docker", "cis-docker"]), "permissions": st.sampled_from(["wa", "rwxa"])}),
    "ufw": st.fixed_dictionaries({"enabled": st.just(True)}, optional={
        "allow_sources": st.lists(st.sampled_from(CIDRS_V4), max_size=3), "ipv6": st.booleans(),
        "allow_ports": st.lists(st.sampled_from(PORTS), max_size=3),
        "container_networks": st.lists(st.sampled_from(CIDRS_V4), max_size=2)}),
})
OUTSIDE_LINES = st.lists(st.one_of(st.sampled_from(["# operator", "*filter", "COMMIT", ":ufw-after-input - [0:0]",
                                                    "-A ufw-after-input -p udp --dport 137 -j DROP", ""]),
                                   st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=12)),
                         max_size=6)


def _render_everything(settings_, host):
    out = []
    for render in (render_daemon_json, audit_rules.render_audit_rules, ufw_block.render_ufw):
        out += [(f.path, f.content, f.mode) for f in render(settings_, host)]
    return out


@PURE
@given(tables=OPERATOR_LAYER, operator=st.dictionaries(KEYS, VALUES, max_size=4),
       present=st.lists(st.sampled_from(sorted(audit_rules.candidate_paths())), unique=True),
       rules=OUTSIDE_LINES)
def test_the_same_settings_and_host_render_the_same_bytes_however_the_snapshot_was_built(
        tables, operator, present, rules):
    settings_ = merge_layers([load_builtin("baseline"), layer("mine", tables)])
    rules_text = "".join(line + "\n" for line in rules + ["COMMIT"])
    files = {DAEMON: serialize(operator), UFW: rules_text.encode(), AUDIT: None}
    one = snapshot(files, present)
    other = snapshot(dict(reversed(list(files.items()))), list(reversed(present)))
    first = _render_everything(settings_, one)
    assert _render_everything(settings_, one) == first
    assert _render_everything(settings_, other) == first


@PURE
@given(doc=st.dictionaries(ANY_TEXT, JSON_ANY, max_size=5))
def test_serializing_what_parsing_serialized_output_gives_the_same_bytes(doc):
    """Whatever the document; one holding NaN or an infinity is refused instead (it would not be JSON)."""
    event("NaN or an infinity: refused" if not _finite(doc) else "finite: round trip")  # which claim ran
    if not _finite(doc):
        with pytest.raises(ValueError):
            serialize(doc)
        return
    once = serialize(doc)
    assert serialize(parse_daemon_json(once)) == once


def _finite(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return all(_finite(item) for item in items)


@PURE
@given(operator=st.dictionaries(st.one_of(st.sampled_from("abcdef"), ANY_TEXT), VALUES, max_size=7),
       table=st.dictionaries(st.sampled_from("abcdef"), VALUES, max_size=3),
       unset=st.lists(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=2).map(tuple), max_size=2),
       indent=st.sampled_from([None, 2, "\t"]))
def test_every_operator_key_no_layer_sets_or_unsets_keeps_its_value_and_its_place(operator, table, unset, indent):
    settings_ = merge_layers([layer("mine", {"daemon": table}, {"daemon": tuple(unset)})])
    host = snapshot({DAEMON: json.dumps(operator, indent=indent).encode()})
    result = json.loads(render_daemon_json(settings_, host)[0].content)
    untouched = [k for k in operator if k not in table and all(path[0] != k for path in unset)]
    assert [k for k in result if k in untouched] == untouched
    assert all(result[k] == operator[k] for k in untouched)


# --- after.rules ---------------------------------------------------------------------------------------

LINE_CHARS = st.one_of(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"),
                       st.sampled_from(["\r", "#", "*", " ", "\x85", "\u2028", "\x0c"]))
RULE_LINES = st.one_of(st.sampled_from(["*filter", "*nat", "COMMIT", " COMMIT", "# BEGIN dockharden",
                                        "END dockharden DOCKER-USER", "#" + BEGIN[1:].lower(), "# a\r*filter", ""]),
                       st.text(LINE_CHARS, max_size=15)).filter(lambda s: BEGIN not in s and END not in s)


def _lines(min_size=0):
    """Lines as iptables-restore reads them: ended by \n (or \r\n); a bare \r, \x85 or \u2028 is content."""
    return st.lists(st.tuples(RULE_LINES, st.sampled_from(["\n", "\r\n"])), min_size=min_size, max_size=8).map(
        lambda pairs: "".join(a + b for a, b in pairs))


def _open_table(text):
    """Whether `text` leaves a table open: a `*table` line with no `COMMIT` line after it."""
    opened = False
    for line in text.split("\n"):
        word = line.strip()
        if word.startswith("*"):
            opened = True
        elif word == "COMMIT":
            opened = False
    return opened


def _closed(texts):
    return texts.map(lambda t: t + "COMMIT\n" if _open_table(t) else t)


def _is_the_block(text):
    """`text` is BLOCK, with \n or with \r\n after every line (one style, whichever the file uses)."""
    return text in (BLOCK, BLOCK.replace("\n", "\r\n"))


UNTERMINATED = st.text(LINE_CHARS, max_size=5)  # a last line without a newline


@settings(max_examples=300, deadline=None)
@given(before=_closed(_lines()), after=st.tuples(_lines(), UNTERMINATED).map("".join),
       old=st.lists(RULE_LINES, max_size=4), marker_end=st.sampled_from(["\n", "\r\n"]))
def test_text_before_and_after_the_managed_block_survives_byte_for_byte(before, after, old, marker_end):
    text = before + BEGIN + marker_end + "".join(x + marker_end for x in old) + END + marker_end + after
    out = splice_block(text, BLOCK, path=UFW)
    assert out.startswith(before) and out.endswith(after)
    assert _is_the_block(out[len(before):len(out) - len(after)])


@settings(max_examples=300, deadline=None)
@given(head=_closed(_lines()), last=UNTERMINATED)
def test_a_file_without_a_block_keeps_all_its_text_and_gets_the_block_after_it(head, last):
    assume(not last.strip().startswith("*"))  # a last line opening a table is another test's case
    text = head + last
    out = splice_block(text, BLOCK, path=UFW)
    assert out.startswith(text)
    rest = out[len(text):]
    if text and not text.endswith("\n"):  # the last line gets the newline it lacked, then the block follows
        rest = rest.removeprefix("\r\n") if rest.startswith("\r\n") else rest.removeprefix("\n")
    assert _is_the_block(rest)


@settings(max_examples=300, deadline=None)
@given(head=_closed(_lines()), last=UNTERMINATED)
def test_splicing_into_its_own_output_changes_nothing(head, last):
    assume(not last.strip().startswith("*"))
    text = head + last
    once = splice_block(text, BLOCK, path=UFW)
    assert splice_block(once, BLOCK, path=UFW) == once


# --- apply and rollback on a real tree -----------------------------------------------------------------

OPERATOR_KEYS = {  # daemon.json keys with values the schema accepts and no layer conflicts with
    "debug": st.booleans(), "experimental": st.booleans(), "icc": st.booleans(), "live-restore": st.booleans(),
    "log-level": st.sampled_from(["debug", "info", "warn"]),
    "data-root": st.sampled_from(["/srv/docker", "/var/lib/docker", "/données/docker"]),
    "labels": st.lists(st.sampled_from(["env=prod", "team=ops", "é=ü"]), max_size=3),
    "dns": st.lists(st.sampled_from(["1.1.1.1", "9.9.9.9", "2606:4700::1111"]), max_size=2),
    "max-concurrent-downloads": st.integers(0, 10), "shutdown-timeout": st.integers(-1, 60),
    "mtu": st.integers(576, 9000),
    "insecure-registries": st.lists(st.sampled_from(["registry.local:5000", "10.0.0.0/8"]), max_size=2),
    "registry-mirrors": st.lists(st.sampled_from(["https://mirror.example", "http://10.0.0.5:5000"]), max_size=2),
    "log-driver": st.sampled_from(["json-file", "local"]),
    "log-opts": st.dictionaries(st.sampled_from(["max-size", "max-file", "tag"]),
                                st.sampled_from(["1m", "3", "{{.Name}}"]), max_size=3),
    "features": st.dictionaries(st.sampled_from(["cdi", "containerd-snapshotter"]), st.booleans(), max_size=2),
    "storage-driver": st.sampled_from(["overlay2", "fuse-overlayfs"]),
    "default-address-pools": st.just([{"base": "10.10.0.0/16", "size": 24}]),
    "proxies": st.just({"http-proxy": "http://proxy:3128"}),
}


@st.composite
def operator_daemon_json(draw):
    """None (no file), or the bytes of a valid daemon.json as an operator might have written it."""
    if draw(st.integers(0, 5)) == 0:
        return None
    keys = draw(st.permutations(sorted(OPERATOR_KEYS)))[:draw(st.integers(0, 8))]
    doc = {key: draw(OPERATOR_KEYS[key]) for key in keys}
    if doc.get("features", {}).get("containerd-snapshotter") is True and doc.get("storage-driver") == "overlay2":
        # the operator's own overlay2 under the containerd image store is refused (every pull would fail); baseline
        # used to overwrite the driver, and since issue 21 only defaults it: an operator of that store names its
        # snapshotter
        doc["storage-driver"] = "overlayfs"
    if isinstance(doc.get("log-opts"), dict):  # valid: only options the driver takes (dockerd refuses others at start)
        from dockharden.core import log_drivers

        refused = set(log_drivers.refused(doc.get("log-driver") or "json-file", doc["log-opts"]))
        doc["log-opts"] = {k: v for k, v in doc["log-opts"].items() if k not in refused}
    text = json.dumps(doc, indent=draw(st.sampled_from([None, 2, 4, "\t"])), ensure_ascii=draw(st.booleans()))
    return (text + draw(st.sampled_from(["", "\n", "\n\n"]))).encode()


@st.composite
def operator_after_rules(draw):
    """None, or after.rules text: operator lines around an optional (old) managed block, tables closed."""
    if draw(st.integers(0, 5)) == 0:
        return None
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = lambda: draw(st.lists(RULE_LINES.filter(lambda s: "\r" not in s), max_size=5))  # noqa: E731
    before = "".join(x + newline for x in lines())
    before += "COMMIT" + newline if _open_table(before) else ""
    middle = ""
    if draw(st.booleans()):
        middle = "".join(x + newline for x in [BEGIN, *lines(), END])
    after = "".join(x + newline for x in lines())
    after += "COMMIT" + newline if _open_table(after) and not middle else ""
    return (before + middle + after).encode()


def _write(root: Path, path: str, content, mode=0o644):
    if content is None:
        return
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    os.chmod(target, mode)


def _state(root: Path, path: str):
    """(bytes, mode) of a host file under root, None when it does not exist."""
    target = root / path.lstrip("/")
    if not target.exists():
        return None
    return target.read_bytes(), stat.S_IMODE(target.stat().st_mode)


@ON_DISK
@given(daemon=operator_daemon_json(), rules=operator_after_rules())
def test_a_second_apply_plans_nothing_and_reports_unchanged(daemon, rules):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(root, DAEMON, daemon)
        _write(root, UFW, rules)
        request = api.Request(root=tmp, profiles=["baseline"], layers=[], runner=NoTools())
        first = api.apply(request, restart=False)
        assert first.result.result == "applied", first.result.messages
        again = api.make_plan(request)
        assert [(c.path, c.action, c.diff) for c in again.changes] == []
        assert api.apply(request, restart=False).result.result == "unchanged"


MODES = st.sampled_from([0o600, 0o640, 0o644])
AUDIT_TEXT = st.lists(st.sampled_from(["-w /usr/bin/dockerd -p wa -k mine", "## operator's", "-w /srv -p w -k x"]),
                      max_size=3).map(lambda xs: "".join(x + "\n" for x in xs).encode())


@ON_DISK
@given(daemon=operator_daemon_json(), rules=operator_after_rules(), audit=AUDIT_TEXT, modes=st.tuples(MODES, MODES))
def test_an_operators_own_audit_rules_file_at_the_managed_path_is_refused_and_nothing_is_written(
        daemon, rules, audit, modes):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for path, content, mode in zip((DAEMON, UFW, AUDIT), (daemon, rules, audit), modes + (0o640,), strict=True):
            _write(root, path, content, mode)
        before = {path: _state(root, path) for path in (DAEMON, UFW, AUDIT, SECCOMP) + OWN}
        request = api.Request(root=tmp, profiles=["baseline"], layers=[], runner=NoTools())
        with pytest.raises(ConflictError, match="did not create it"):
            api.apply(request, restart=False)
        assert {path: _state(root, path) for path in before} == before


@ON_DISK
@given(daemon=operator_daemon_json(), rules=operator_after_rules(), modes=st.tuples(MODES, MODES))
def test_rollback_to_the_first_generation_restores_every_byte_and_mode_and_removes_new_files(
        daemon, rules, modes):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for path, content, mode in zip((DAEMON, UFW), (daemon, rules), modes, strict=True):
            _write(root, path, content, mode)
        managed = (DAEMON, UFW, AUDIT, SECCOMP) + OWN
        before = {path: _state(root, path) for path in managed}
        request = api.Request(root=tmp, profiles=["baseline"], layers=[], runner=NoTools())
        assert api.apply(request, restart=False).result.result == "applied"
        outcome = api.rollback(request, to="0001", restart=False)
        assert outcome.result.result == "applied", outcome.result.messages
        assert {path: _state(root, path) for path in managed} == before
