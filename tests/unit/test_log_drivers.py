import pytest

from dockharden.core import log_drivers
from dockharden.core.conflicts import check_conflicts, default_runtime_known
from dockharden.core.merge import merge_layers
from dockharden.errors import ConflictError
from dockharden.model import HostSnapshot, Layer


def host(version="29.0.0", info=None):
    return HostSnapshot(root="/", files={}, existing_paths=frozenset(), daemon_info=info, engine_version=version)


def check(operator=None, layer=None, h=None):
    """The merged daemon.json of the operator's keys and one layer's (the layer wins), checked."""
    config = {**(operator or {}), **(layer or {})}
    if operator and layer and "log-opts" in operator and "log-opts" in layer:
        config["log-opts"] = {**operator["log-opts"], **layer["log-opts"]}
    settings = merge_layers([Layer("extra", source="/etc/dockharden/extra.toml", tables={"daemon": layer or {}})])
    return check_conflicts(config, settings, h or host(), {}, set())


def test_syslog_takes_its_address_and_the_common_tag_and_labels():
    assert log_drivers.refused("syslog", ["syslog-address", "tag", "labels", "env-regex", "mode"]) == []


def test_syslog_refuses_the_rotation_options_of_json_file():
    assert log_drivers.refused("syslog", ["max-size", "max-file", "syslog-address"]) == ["max-file", "max-size"]


def test_json_file_refuses_another_drivers_address():
    assert log_drivers.refused("json-file", ["syslog-address", "max-size"]) == ["syslog-address"]


def test_local_takes_only_rotation_and_the_daemons_own_options():
    assert log_drivers.refused("local", ["max-size", "compress", "mode", "max-buffer-size", "cache-disabled"]) == []
    assert log_drivers.refused("local", ["tag", "labels"]) == ["labels", "tag"]


def test_awslogs_takes_tag_but_not_labels_and_gcplogs_the_reverse():
    assert log_drivers.refused("awslogs", ["tag", "labels", "awslogs-group"]) == ["labels"]
    assert log_drivers.refused("gcplogs", ["tag", "labels", "gcp-project"]) == ["tag"]


def test_none_takes_anything_and_a_plugin_is_not_judged():
    assert log_drivers.refused("none", ["whatever"]) == []
    assert log_drivers.refused("loki:latest", ["loki-url"]) == []
    assert not log_drivers.known("loki:latest") and log_drivers.known("none")


def test_the_drivers_that_take_an_option_are_named_for_the_fix():
    assert log_drivers.takers("max-size") == ["json-file", "local"]
    assert log_drivers.takers("syslog-address") == ["syslog"]


def test_remote_drivers_journald_and_local_files_are_told_apart():
    assert [log_drivers.logging_kind(d) for d in ("gelf", "journald", "json-file", "local", "x:1")] == [
        "remote", "journald", "local", "local", "plugin"]


def test_a_layer_adding_max_size_to_the_operators_syslog_is_refused_in_the_layers_file():
    with pytest.raises(ConflictError) as err:
        check({"log-driver": "syslog", "log-opts": {"syslog-address": "udp://127.0.0.1:514"}},
              {"log-opts": {"max-size": "10m"}})
    assert err.value.path == "/etc/dockharden/extra.toml" and err.value.key == "daemon.log-opts.max-size"
    assert "syslog" in str(err.value) and 'log-opts/max-size' in err.value.hint and "json-file" in err.value.hint


def test_the_operators_own_wrong_option_is_refused_in_their_daemon_json():
    with pytest.raises(ConflictError) as err:
        check({"log-driver": "json-file", "log-opts": {"syslog-address": "udp://127.0.0.1:514"}})
    assert err.value.path == "/etc/docker/daemon.json" and err.value.key == "log-opts.syslog-address"
    assert "remove `syslog-address`" in err.value.hint and "syslog" in err.value.hint


def test_a_layer_switching_the_driver_to_json_file_under_the_operators_syslog_options_is_refused():
    with pytest.raises(ConflictError, match="log-driver `json-file` \\(set by layer extra\\)"):
        check({"log-driver": "syslog", "log-opts": {"syslog-address": "udp://127.0.0.1:514"}},
              {"log-driver": "json-file"})


def test_a_plugin_driver_is_not_judged_and_a_note_says_so():
    notes = check({"log-driver": "loki:latest", "log-opts": {"loki-url": "http://x"}})
    assert any("not a built-in driver" in n.message and "loki:latest" in n.message for n in notes)


def test_logentries_is_refused_on_engine_25_and_later_and_kept_before():
    with pytest.raises(ConflictError, match="removed it"):
        check({"log-driver": "logentries", "log-opts": {"logentries-token": "t"}}, h=host("25.0.0"))
    check({"log-driver": "logentries", "log-opts": {"logentries-token": "t"}}, h=host("24.0.7"))


def test_a_default_runtime_nobody_registered_is_refused_naming_the_layer():
    with pytest.raises(ConflictError) as err:
        check(layer={"default-runtime": "runsc"})
    assert err.value.key == "daemon.default-runtime" and "runsc" in str(err.value)


def test_a_default_runtime_registered_in_the_file_or_by_the_daemon_is_accepted():
    check({"runtimes": {"runsc": {"path": "/usr/bin/runsc"}}}, {"default-runtime": "runsc"})
    check(layer={"default-runtime": "nvidia"}, h=host(info={"Runtimes": {"runc": {}, "nvidia": {}}}))


def test_builtin_and_containerd_shim_names_depend_on_the_engine():
    assert default_runtime_known("io.containerd.runc.v2", set(), (29, 0))
    assert default_runtime_known("io.containerd.runsc.v1", set(), (29, 0))
    assert not default_runtime_known("io.containerd.runsc.v1", set(), (20, 10))
    assert default_runtime_known("io.containerd.runtime.v1.linux", set(), (20, 10))
    assert not default_runtime_known("crun", set(), (29, 0))


def test_the_driver_given_to_dockerd_as_a_flag_is_the_one_judged():
    settings = merge_layers([Layer("extra", source="/etc/dockharden/extra.toml", tables={"daemon": {}})])
    config = {"log-opts": {"syslog-address": "udp://127.0.0.1:514"}}
    check_conflicts(config, settings, host(), {}, set(), ["--log-driver", "syslog"])
    check_conflicts(config, settings, host(), {}, set(), ["--log-driver=syslog"])
    with pytest.raises(ConflictError, match="log-driver `journald`"):
        check_conflicts(config, settings, host(), {}, set(), ["--log-driver=journald"])
