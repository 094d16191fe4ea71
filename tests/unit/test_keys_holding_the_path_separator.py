"""Issue 24, class 15: a key path is a list of keys, never a string split on '/'.

A map key that holds '/' (`features."x/y"`) is one key: dropping the layer that set it takes it out of
daemon.json again (managed.json names it escaped, as a JSON Pointer does). `[unset]` takes an array of keys
for such a key, refuses an empty part ("log-opts/" would mean the whole map) and a path into a value that
is not a map (a ulimit's Hard), and managed.json files written before keep working.
"""

import json
from pathlib import Path

import pytest

from dockharden import api
from dockharden.core.layers import load_layer_file
from dockharden.errors import DockhardenError
from dockharden.host.runner import Runner
from dockharden.model import decode_key_path, encode_key_path


class NoTools(Runner):
    def which(self, program):
        return None


def request(root: Path, *layers: Path) -> api.Request:
    return api.Request(root=str(root), profiles=["baseline"], layers=[str(p) for p in layers] or None,
                       runner=NoTools())


def daemon(root: Path) -> dict:
    return json.loads((root / "etc/docker/daemon.json").read_text())


def managed(root: Path) -> dict:
    return json.loads((root / "var/lib/dockharden/managed.json").read_text())["daemon"]


@pytest.mark.parametrize("path", [("a",), ("log-opts", "a/b"), ("x~1", "/", "~"), ("a~", "~0/~1")])
def test_a_key_path_survives_its_managed_json_name_whatever_its_keys_hold(path):
    assert decode_key_path(encode_key_path(path)) == path


def test_a_plain_key_path_is_named_as_managed_json_always_named_it():
    assert encode_key_path(("log-opts", "max-size")) == "log-opts/max-size"
    assert decode_key_path("default-ulimits/nofile") == ("default-ulimits", "nofile")


def test_a_key_holding_a_slash_goes_away_with_the_layer_that_set_it(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    layer = tmp_path / "slash.toml"
    layer.write_text('[layer]\nname = "slash"\n[daemon.features]\n"x/y" = true\n')
    assert api.apply(request(root, layer), restart=False).result.result == "applied"
    assert daemon(root)["features"]["x/y"] is True
    assert "features/x~1y" in managed(root)
    assert api.apply(request(root), restart=False).result.result == "applied"
    assert "x/y" not in daemon(root).get("features", {})


def test_a_managed_json_written_before_key_paths_were_escaped_still_works(tmp_path):
    root = tmp_path / "root"
    (root / "etc/docker").mkdir(parents=True)
    (root / "var/lib/dockharden").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_text(json.dumps({"features": {"foo": True}, "labels": ["a=1"]}))
    # as the code before this change wrote it: a dropped layer had set features.foo, the operator never had it
    (root / "var/lib/dockharden/managed.json").write_text(json.dumps(
        {"format": 1, "daemon": {"features/foo": {"had": False}}}))
    assert api.apply(request(root), restart=False).result.result == "applied"
    assert "foo" not in daemon(root).get("features", {})
    assert daemon(root)["labels"] == ["a=1"]


def unset_layer(tmp_path: Path, value: str) -> Path:
    layer = tmp_path / "unset.toml"
    layer.write_text(f'[layer]\nname = "u"\n[unset]\ndaemon = {value}\n')
    return layer


def test_unset_takes_an_array_of_keys_for_a_key_that_holds_a_slash(tmp_path):
    layer = load_layer_file(unset_layer(tmp_path, '[["log-opts", "a/b"], "log-opts/max-file"]'),
                            Path.read_bytes)
    assert layer.unset["daemon"] == (("log-opts", "a/b"), ("log-opts", "max-file"))


@pytest.mark.parametrize("value, words", [
    ('["log-opts/"]', "empty part"),
    ('["/log-opts"]', "empty part"),
    ('[["log-opts", ""]]', "not valid"),  # the schema: no empty key
    ('["default-ulimits/nofile/Hard"]', "half a value"),
    ('["log-level/x"]', "half a value"),
    ('["default-address-pools/0"]', "half a value"),
    ('["log-opts/a", ["log-opts", "a"]]', "twice"),
])
def test_unset_refuses_an_empty_part_or_half_a_value_in_one_paragraph(tmp_path, value, words):
    with pytest.raises(DockhardenError) as caught:
        load_layer_file(unset_layer(tmp_path, value), Path.read_bytes)
    assert caught.value.key.startswith("unset"), caught.value.key
    assert words in caught.value.message, caught.value.message
