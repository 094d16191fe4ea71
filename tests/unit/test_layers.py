import pytest

from dockharden.core.layers import builtin_profiles
from dockharden.errors import LayerError, SchemaError
from dockharden.host.inputs import load_layer_file, load_layers
from dockharden.model import Selection


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_four_builtin_profiles_ship_and_load():
    assert {"baseline", "userns", "rootless", "tls"} <= set(builtin_profiles())
    for layer in load_layers(Selection(tuple(builtin_profiles()), ())):
        assert layer.tables or layer.unset


def test_baseline_carries_the_reference_production_settings():
    [baseline] = load_layers(Selection(("baseline",), ()))
    d = baseline.tables["daemon"]
    assert d["log-opts"] == {"max-size": "10m", "max-file": "5"}
    assert d["live-restore"] is True and d["userland-proxy"] is False and d["icc"] is False
    assert d["no-new-privileges"] is True and d["storage-driver"] == "overlay2"
    assert d["default-ulimits"]["nofile"]["Soft"] == 65536 and d["default-ulimits"]["nproc"]["Hard"] == 4096


def test_an_unknown_daemon_key_names_the_file_and_the_closest_valid_key(tmp_path):
    path = write(tmp_path, "mine.toml", "[daemon]\nlive-restor = true\n")
    with pytest.raises(SchemaError) as err:
        load_layer_file(path)
    text = str(err.value)
    assert str(path) in text and "daemon.live-restor" in text and "did you mean `live-restore`" in text


def test_a_wrong_type_names_the_key_path_and_what_was_expected(tmp_path):
    path = write(tmp_path, "mine.toml", "[daemon.log-opts]\nmax-file = 3\n")
    with pytest.raises(SchemaError) as err:
        load_layer_file(path)
    assert "daemon.log-opts.max-file" in str(err.value) and "string" in str(err.value)


def test_a_removed_key_is_refused_with_its_replacement(tmp_path):
    path = write(tmp_path, "mine.toml", '[daemon]\ngraph = "/srv/docker"\n')
    with pytest.raises(SchemaError, match="data-root"):
        load_layer_file(path)


def test_broken_toml_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "mine.toml", "[daemon\nicc = false\n")
    with pytest.raises(LayerError) as err:
        load_layer_file(path)
    assert str(path) in str(err.value) and "line 1" in str(err.value)


def test_a_json_layer_is_accepted(tmp_path):
    path = write(tmp_path, "mine.json", '{"daemon": {"debug": true}, "unset": {"daemon": ["icc"]}}')
    layer = load_layer_file(path)
    assert layer.tables == {"daemon": {"debug": True}} and layer.unset == {"daemon": (("icc",),)}


def test_unsetting_an_unknown_key_suggests_the_known_one(tmp_path):
    path = write(tmp_path, "mine.toml", '[unset]\ndaemon = ["live-restor"]\n')
    with pytest.raises(LayerError, match="did you mean `live-restore`"):
        load_layer_file(path)


def test_an_unknown_table_is_refused(tmp_path):
    path = write(tmp_path, "mine.toml", "[deamon]\nicc = false\n")
    with pytest.raises(SchemaError, match="did you mean `daemon`"):
        load_layer_file(path)


def test_an_unknown_profile_lists_the_builtin_ones():
    with pytest.raises(LayerError, match="did you mean `baseline`"):
        load_layers(Selection(("baselin",), ()))


def test_a_missing_layer_file_is_a_clear_error(tmp_path):
    with pytest.raises(LayerError, match="not found"):
        load_layer_file(tmp_path / "nope.toml")


def test_an_unset_path_with_an_empty_part_is_refused(tmp_path):
    path = write(tmp_path, "mine.toml", '[unset]\ndaemon = ["log-opts//max-file"]\n')
    with pytest.raises(LayerError, match="empty part"):
        load_layer_file(path)
