"""The model's values: NamedTuples whose mapping fields share one empty default that refuses changes."""

import json

import pytest

from dockharden.model import NO_ENTRIES, HostSnapshot, Layer, Plan, Settings


def test_a_mapping_field_left_out_is_empty_and_refuses_to_be_filled():
    snapshot = HostSnapshot(root="/", files={}, existing_paths=frozenset())
    assert snapshot.tools == {} and snapshot.tools is NO_ENTRIES
    for change in (lambda m: m.__setitem__("docker", "/usr/bin/docker"), lambda m: m.update(a=1),
                   lambda m: m.setdefault("a", 1), lambda m: m.pop("a", None), lambda m: m.clear(),
                   lambda m: m.popitem()):
        with pytest.raises(TypeError, match="copy it"):
            change(snapshot.tools)
    assert NO_ENTRIES == {} and HostSnapshot(root="/", files={}, existing_paths=frozenset()).managed == {}


def test_the_shared_empty_mapping_reads_and_copies_as_an_ordinary_empty_dict():
    layer = Layer("l", source="l.toml", tables={"daemon": {}})
    assert json.dumps(layer.unset) == "{}" and dict(layer.unset) == {} and {**layer.unset, "a": 1} == {"a": 1}
    copied = dict(Settings({}, provenance={}, removed={}, layers=()).sources)
    copied["l"] = "l.toml"
    assert copied == {"l": "l.toml"} and NO_ENTRIES == {}


def test_a_changed_copy_leaves_the_original_as_it_was():
    plan = Plan(None, settings=None, engine_version=None, changes=(), unchanged=(), services=(), notes=(), rendered=())
    later = plan._replace(engine_version="28.5.0")
    assert plan.engine_version is None and later.engine_version == "28.5.0" and later.why_unchanged == {}
