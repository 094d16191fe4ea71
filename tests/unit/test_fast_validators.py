"""The generated fast validators: fresh, and never more lenient than jsonschema, the authority."""


import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from dockharden.core.schema import load_schema
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


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4)
       | st.fixed_dictionaries({}, optional={k: v for k, v in likely.items()}))
def test_the_fast_daemon_validator_never_accepts_what_jsonschema_rejects(config):
    try:
        _fast_daemon.validate(config)
    except ValueError:
        return
    jsonschema.validate(config, DAEMON, cls=jsonschema.Draft202012Validator)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["layer", "daemon", "audit", "ufw", "seccomp", "tls", "unset", "bogus"]),
                       json_values, max_size=3))
def test_the_fast_layer_validator_never_accepts_what_jsonschema_rejects(doc):
    try:
        _fast_layer.validate(doc)
    except ValueError:
        return
    jsonschema.validate(doc, load_schema("layer.schema.json"), cls=jsonschema.Draft202012Validator)


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
    assert after == "['^[0-9A-Fa-f:.]+/[0-9]{1,3}$']"
