"""The generated fast validators: fresh, and never more lenient than jsonschema, the authority."""


from hypothesis import event, given, settings
from hypothesis import strategies as st

from dockharden.core.schema import ONE_LINE, _validator, load_schema
from dockharden.schema import _fast_daemon, _fast_layer

DAEMON = load_schema("daemon.schema.json")
KEYS = sorted(DAEMON["properties"])
json_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=12),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                          max_size=3), max_leaves=6)
likely = {"log-opts": st.dictionaries(st.sampled_from(["max-size", "max-file", "tag"]), st.text(max_size=4) | st.integers()),
          "default-ulimits": st.dictionaries(st.sampled_from(["nofile", "nproc"]), st.fixed_dictionaries(
              {"Name": st.text(max_size=6), "Hard": st.integers(-1, 10), "Soft": st.integers(-1, 10)})),
          "hosts": st.lists(st.sampled_from(["unix:///x", "tcp://0.0.0.0:2376", "fd://", "bogus", "tcp://"])),
          "default-address-pools": st.lists(st.fixed_dictionaries({"base": st.text(max_size=12), "size": st.integers(0, 200)}))}


def test_the_generated_validators_match_the_shipped_schemas():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "compile-schemas.py"
    spec = importlib.util.spec_from_file_location("compile_schemas", script)
    compiler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compiler)
    for name in compiler.SCHEMAS:
        assert compiler.target(name).read_text() == compiler.generate(name), \
            f"{name} changed: run python3 scripts/compile-schemas.py"


def from_schema(node, root, depth=0):
    """Documents drawn from a schema (the keywords dockharden's schemas use): mostly valid, with strings that
    end in a newline, integers given as floats and numbers beyond Go's int64, so that both validators decide
    on documents near the edge rather than on junk both refuse at the first key."""
    if "$ref" in node:
        return from_schema(root["$defs"][node["$ref"].rsplit("/", 1)[-1]], root, depth)
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "string":
        if "pattern" in node:
            base = st.from_regex(node["pattern"].replace(ONE_LINE, "", 1), fullmatch=True)
        else:
            base = st.text(min_size=node.get("minLength", 0), max_size=max(node.get("minLength", 0), 12))
        return base | base.map(lambda text: text + "\n")
    if kind == "integer":
        low, high = node.get("minimum", -10), node.get("maximum", 70000)
        number = st.integers(max(low, -10), min(high, max(low, -10) + 70000))
        return number | number.map(float) | st.sampled_from([2**63, -2**63 - 1, 2**64, 1e300, low, high])
    if kind == "boolean":
        return st.booleans()
    if kind == "array" and depth < 4:
        items = from_schema(node.get("items", {}), root, depth + 1)
        return st.lists(items, max_size=min(node.get("maxItems", 3), 3))
    if kind == "object" and depth < 4:
        known = {key: from_schema(sub, root, depth + 1) for key, sub in node.get("properties", {}).items()}
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            free = st.dictionaries(st.text(min_size=1, max_size=6), from_schema(extra, root, depth + 1), max_size=2)
            return st.fixed_dictionaries({}, optional=known) | free
        return st.fixed_dictionaries({}, optional=known)
    return json_values


def layer_documents():
    layer = load_schema("layer.schema.json")
    tables = {key: from_schema(sub, layer) for key, sub in layer["properties"].items() if key != "daemon"}
    return st.fixed_dictionaries({}, optional={**tables, "daemon": daemon_documents()})


def daemon_documents():
    return st.fixed_dictionaries({}, optional={key: from_schema(sub, DAEMON) for key, sub in DAEMON["properties"].items()
                                               if key not in ("host-gateway-ip", "runtimes", "builder")})


def agree(fast, schema_name, doc):
    try:
        fast.validate(doc)
        fast_accepts = True
    except ValueError:
        fast_accepts = False
    strict_accepts = not any(_validator(schema_name).iter_errors(doc))
    assert fast_accepts == strict_accepts, f"fast {fast_accepts}, jsonschema {strict_accepts}: {doc!r}"
    return fast_accepts


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4)
       | st.fixed_dictionaries({}, optional={k: v for k, v in likely.items()}) | daemon_documents())
def test_the_fast_daemon_validator_and_jsonschema_decide_alike(config):
    agree(_fast_daemon, "daemon.schema.json", config)


@settings(max_examples=150, deadline=None)
@given(layer_documents())
def test_the_fast_layer_validator_and_jsonschema_decide_alike_on_generated_layers(doc):
    accepted = agree(_fast_layer, "layer.schema.json", doc)
    event("accepted" if accepted else "refused")  # `pytest --hypothesis-show-statistics` shows both happen


def test_generated_layers_are_mostly_ones_the_schema_accepts():
    """The comparison above is only worth something if the layers it draws pass: count them."""
    seen = []

    @settings(max_examples=100, deadline=None, database=None)
    @given(layer_documents())
    def count(doc):
        seen.append(agree(_fast_layer, "layer.schema.json", doc))

    count()
    assert sum(seen) >= len(seen) // 10, f"only {sum(seen)} of {len(seen)} generated layers are valid"


def test_every_pattern_of_every_schema_refuses_a_newline_even_at_the_end():
    """`$` also matches before a final newline: every pattern starts with (?!.*\\n), and both validators
    refuse `value\\n` for a value they accept."""
    import re

    from dockharden.resources import schema_path

    found = []
    for path in sorted(schema_path("daemon.schema.json").parent.glob("*.schema.json")):
        text = path.read_text()
        found += [(path.name, pattern) for pattern in re.findall(r'"pattern": "((?:[^"\\\\]|\\\\.)*)"', text)]
    assert len(found) > 40
    for name, pattern in found:
        assert pattern.startswith("^" + ONE_LINE.replace("\\", "\\\\")), f"{name}: {pattern}"
    for key, value in [("registry-mirrors", ["https://mirror.example\n"]), ("dns", ["1.1.1.1\n"]),
                       ("exec-opts", ["native.cgroupdriver=systemd\n"]), ("bip", "10.20.0.1/24\n"),
                       ("labels", ["a=b\n"]), ("hosts", ["unix:///run/docker.sock\n"])]:
        assert not agree(_fast_daemon, "daemon.schema.json", {key: value}), key
        assert agree(_fast_daemon, "daemon.schema.json", {key: value[0].strip() if isinstance(value, list) else
                                                          value.strip()} if not isinstance(value, list) else
                     {key: [value[0].strip()]}), key
    for doc in ({"audit": {"key": "docker\n"}}, {"layer": {"name": "web\n"}}, {"ufw": {"allow_ports": ["443\n"]}},
                {"audit": {"extra_paths": ["/etc/x\n-w /etc/shadow -p r -k x"]}}):
        assert not agree(_fast_layer, "layer.schema.json", doc), doc


def test_an_integer_is_an_int_in_range_for_both_validators():
    """Go's encoding/json refuses 1500.0 for an int, and a number beyond int64."""
    for value in (1500.0, 1e300, 2**63, 99999999999999999999, True):
        assert not agree(_fast_daemon, "daemon.schema.json", {"mtu": value}), value
    for value in (2**63 - 1, -2**63, -1):
        assert agree(_fast_daemon, "daemon.schema.json", {"shutdown-timeout": value}), value
    assert agree(_fast_daemon, "daemon.schema.json", {"mtu": 1500})


def test_the_builtin_profiles_pass_the_fast_path():
    import tomllib

    from dockharden.resources import profiles_dir

    for path in profiles_dir().glob("*.toml"):
        doc = tomllib.loads(path.read_text())
        _fast_layer.validate(doc)
        _fast_daemon.validate(doc.get("daemon", {}))


def test_a_pattern_is_compiled_when_a_document_first_needs_it_not_when_the_validator_is_imported():
    import subprocess
    import sys

    code = ("from dockharden.schema import _fast_daemon as v\n"
            "print(len(v.REGEX_PATTERNS), len(v._PATTERN_SOURCES))\n"
            "v.validate({'bip': '10.20.0.1/24'})\n"
            "try:\n    v.validate({'bip': 'not an address'})\nexcept ValueError:\n    print('refused')\n"
            "print(sorted(v.REGEX_PATTERNS))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    before, refused, after = done.stdout.splitlines()
    compiled, known = map(int, before.split())
    assert compiled == 0 and known > 5 and refused == "refused"
    assert after == "['^(?!.*\\\\n)[0-9A-Fa-f:.]+/[0-9]{1,3}$']"
