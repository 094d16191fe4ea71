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
    for layer in load_layers(Selection(tuple(builtin_profiles()), layers=())):
        assert layer.tables or layer.unset


def test_baseline_carries_the_reference_production_settings_enforcing_only_the_hardening_keys():
    # issue 21: the hardening keys are enforced ([daemon]); the rest only defaults ([defaults.daemon])
    [baseline] = load_layers(Selection(("baseline",), layers=()))
    d, defaults = baseline.tables["daemon"], baseline.defaults["daemon"]
    assert d == {"live-restore": True, "userland-proxy": False, "no-new-privileges": True, "icc": False,
                 "experimental": False}
    assert defaults["log-driver"] == "json-file" and defaults["log-opts"] == {"max-size": "10m", "max-file": "5"}
    assert defaults["storage-driver"] == "overlay2"
    assert defaults["default-ulimits"]["nofile"]["Soft"] == 65536 and defaults["default-ulimits"]["nproc"]["Hard"] == 4096
    assert set(defaults) == {"log-driver", "log-opts", "storage-driver", "default-address-pools",
                             "max-concurrent-downloads", "max-concurrent-uploads", "default-ulimits", "features",
                             "builder"}


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
        load_layers(Selection(("baselin",), layers=()))


def test_a_missing_layer_file_is_a_clear_error(tmp_path):
    with pytest.raises(LayerError, match="not found"):
        load_layer_file(tmp_path / "nope.toml")


def test_an_unset_path_with_an_empty_part_is_refused(tmp_path):
    path = write(tmp_path, "mine.toml", '[unset]\ndaemon = ["log-opts//max-file"]\n')
    with pytest.raises(LayerError, match="empty part"):
        load_layer_file(path)


def test_a_defaults_daemon_table_loads_as_default_strength_and_stays_out_of_the_enforced_tables(tmp_path):
    path = write(tmp_path, "mine.toml", '[daemon]\nicc = false\n[defaults.daemon]\nlog-driver = "local"\n')
    layer = load_layer_file(path)
    assert layer.tables == {"daemon": {"icc": False}} and layer.defaults == {"daemon": {"log-driver": "local"}}


def test_an_unknown_key_in_defaults_daemon_names_its_path_and_the_closest_valid_key(tmp_path):
    path = write(tmp_path, "mine.toml", "[defaults.daemon]\nlive-restor = true\n")
    with pytest.raises(SchemaError) as err:
        load_layer_file(path)
    assert "defaults.daemon.live-restor" in str(err.value) and "did you mean `live-restore`" in str(err.value)


def test_an_unknown_table_under_defaults_is_refused_with_a_did_you_mean(tmp_path):
    path = write(tmp_path, "mine.toml", "[defaults.deamon]\ndebug = true\n")
    with pytest.raises(SchemaError) as err:
        load_layer_file(path)
    assert "defaults.deamon" in str(err.value) and "did you mean `daemon`" in str(err.value)


def test_a_default_metrics_addr_off_loopback_is_refused_as_in_daemon(tmp_path):
    path = write(tmp_path, "mine.toml", '[defaults.daemon]\nmetrics-addr = "0.0.0.0:9323"\n')
    with pytest.raises(LayerError) as err:
        load_layer_file(path)
    assert "defaults.daemon.metrics-addr" in str(err.value)
