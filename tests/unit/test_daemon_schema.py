"""Tests of dockharden/schema/daemon.schema.json (Docker daemon.json on Linux)."""

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "dockharden" / "schema" / "daemon.schema.json"

# Production daemon.json from ../shared/seeds/000_c8e7217278f7080b.txt
PRODUCTION_DAEMON_JSON = {
    "log-driver": "json-file",
    "log-opts": {"max-size": "10m", "max-file": "5"},
    "storage-driver": "overlay2",
    "live-restore": True,
    "userland-proxy": False,
    "no-new-privileges": True,
    "icc": False,
    "default-ulimits": {
        "nofile": {"Name": "nofile", "Hard": 65536, "Soft": 65536},
        "nproc": {"Name": "nproc", "Hard": 4096, "Soft": 4096},
    },
    "default-address-pools": [{"base": "172.20.0.0/14", "size": 24}],
    "exec-opts": ["native.cgroupdriver=systemd"],
    "features": {"containerd-snapshotter": True},
    "builder": {"gc": {"enabled": True, "defaultKeepStorage": "20GB"}},
}

# Core hardened daemon.json from ../shared/seeds/002_03f2978f366b18e1.txt
HARDENED_DAEMON_JSON = {
    "icc": False,
    "userns-remap": "default",
    "no-new-privileges": True,
    "log-driver": "json-file",
    "log-opts": {"max-size": "10m", "max-file": "5"},
    "storage-driver": "overlay2",
    "live-restore": True,
    "userland-proxy": False,
    "default-ulimits": {
        "nofile": {"Name": "nofile", "Hard": 65536, "Soft": 32768},
        "nproc": {"Name": "nproc", "Hard": 4096, "Soft": 2048},
    },
    "seccomp-profile": "/etc/docker/seccomp/default.json",
    "default-address-pools": [{"base": "172.17.0.0/16", "size": 24}],
    "iptables": True,
    "ip-forward": True,
    "ip-masq": True,
    "experimental": False,
    "metrics-addr": "127.0.0.1:9323",
    "max-concurrent-downloads": 3,
    "max-concurrent-uploads": 5,
    "default-runtime": "runc",
    "runtimes": {
        "runsc": {"path": "/usr/local/bin/runsc", "runtimeArgs": ["--platform=ptrace"]},
    },
}

# TLS daemon.json from the same seed file
TLS_DAEMON_JSON = {
    "tls": True,
    "tlsverify": True,
    "tlscacert": "/etc/docker/tls/ca.pem",
    "tlscert": "/etc/docker/tls/server-cert.pem",
    "tlskey": "/etc/docker/tls/server-key.pem",
    "hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"],
}

# Mutual TLS example of the reference (section 8)
REFERENCE_TLS_DAEMON_JSON = {
    "hosts": ["fd://", "tcp://0.0.0.0:2376"],
    "tlsverify": True,
    "tlscacert": "/etc/docker/tls/ca.pem",
    "tlscert": "/etc/docker/tls/server-cert.pem",
    "tlskey": "/etc/docker/tls/server-key.pem",
}

SIGHUP_RELOADABLE = {
    "debug", "labels", "live-restore", "max-concurrent-downloads", "max-concurrent-uploads",
    "max-download-attempts", "shutdown-timeout", "default-stop-timeout", "features",
    "insecure-registries", "registry-mirrors", "network-diagnostic-port", "nri-opts",
    "default-runtime", "runtimes", "default-shm-size", "default-cgroupns-mode",
    "default-ipc-mode", "authorization-plugins",
}

MUST_BE_REJECTED = {
    "graph", "cluster-store", "cluster-advertise", "cluster-store-opts", "oom-score-adjust",
    "api-cors-header", "disable-legacy-registry", "api-enable-cors", "deprecated-key-path",
    "allow-nondistributable-artifacts", "swarm-raft-heartbeat-tick", "swarm-raft-election-tick",
    "default-init", "resolv-conf", "containerd-plugin-namespace", "containerd-plugins-namespace",
    "http-proxy", "https-proxy", "no-proxy",
}


@pytest.fixture(scope="module")
def schema():
    with SCHEMA_PATH.open(encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def validator(schema):
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def is_valid(validator, document):
    return not list(validator.iter_errors(document))


def test_the_schema_is_a_valid_draft_2020_12_schema(schema):
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://dockharden.dev/schema/daemon.schema.json"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["title"]


def test_the_schema_file_is_pretty_printed_with_sorted_property_keys(schema):
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    assert text == json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    keys = list(schema["properties"])
    assert keys == sorted(keys)


def test_production_daemon_json_from_the_reference_is_valid(validator):
    assert is_valid(validator, PRODUCTION_DAEMON_JSON)


def test_core_hardened_daemon_json_from_the_reference_is_valid(validator):
    assert is_valid(validator, HARDENED_DAEMON_JSON)


def test_tls_daemon_json_examples_are_valid(validator):
    assert is_valid(validator, TLS_DAEMON_JSON)
    assert is_valid(validator, REFERENCE_TLS_DAEMON_JSON)


def test_an_empty_object_is_valid(validator):
    assert is_valid(validator, {})


def test_a_number_in_log_opts_is_invalid(validator):
    assert not is_valid(validator, {"log-opts": {"max-file": 3}})


def test_graph_is_invalid(validator):
    assert not is_valid(validator, {"graph": "/var/lib/docker"})


def test_an_unknown_key_such_as_live_restor_is_invalid(validator):
    assert not is_valid(validator, {"live-restor": True})


def test_default_shm_size_as_a_number_is_invalid(validator):
    assert not is_valid(validator, {"default-shm-size": 64})
    assert is_valid(validator, {"default-shm-size": "64M"})


def test_host_gateway_ip_and_host_gateway_ips_together_are_invalid(validator):
    assert not is_valid(validator, {"host-gateway-ip": "1.2.3.4", "host-gateway-ips": ["1.2.3.4"]})
    assert is_valid(validator, {"host-gateway-ip": "1.2.3.4"})
    assert is_valid(validator, {"host-gateway-ips": ["1.2.3.4"]})


def test_an_unknown_cgroup_driver_in_exec_opts_is_invalid(validator):
    assert not is_valid(validator, {"exec-opts": ["native.cgroupdriver=foo"]})
    assert is_valid(validator, {"exec-opts": ["native.cgroupdriver=cgroupfs"]})


def test_proxy_keys_are_valid_inside_proxies_only(validator):
    assert is_valid(validator, {"proxies": {"http-proxy": "http://proxy:3128", "no-proxy": "localhost"}})
    assert not is_valid(validator, {"http-proxy": "http://proxy:3128"})
    assert not is_valid(validator, {"proxies": {"ftp-proxy": "x"}})


def test_hosts_must_use_a_linux_scheme(validator):
    assert is_valid(validator, {"hosts": ["fd://", "fd://3", "unix:///run/docker.sock", "tcp://127.0.0.1:2376"]})
    assert not is_valid(validator, {"hosts": ["npipe:////./pipe/docker_engine"]})


def test_log_level_outside_the_enum_is_invalid(validator):
    assert is_valid(validator, {"log-level": "warn"})
    assert not is_valid(validator, {"log-level": "verbose"})


def test_lowercase_ulimit_field_names_are_valid_and_unknown_ones_are_not(validator):
    assert is_valid(validator, {"default-ulimits": {"nofile": {"name": "nofile", "hard": 1024, "soft": 1024}}})
    assert not is_valid(validator, {"default-ulimits": {"nofile": {"Name": "nofile", "Max": 1}}})
    assert not is_valid(validator, {"default-ulimits": {"nofile": {"Name": "nofile", "Hard": "1024"}}})


def test_address_pools_need_base_and_size_and_nothing_else(validator):
    assert not is_valid(validator, {"default-address-pools": [{"base": "10.10.0.0/16"}]})
    assert not is_valid(validator, {"default-address-pools": [{"base": "10.10.0.0/16", "size": 24, "x": 1}]})


def test_runtime_named_runc_and_path_with_runtime_type_are_invalid(validator):
    assert not is_valid(validator, {"runtimes": {"runc": {"path": "/usr/bin/runc"}}})
    assert not is_valid(validator, {"runtimes": {"x": {"path": "/bin/x", "runtimeType": "io.containerd.x.v1"}}})
    assert is_valid(validator, {"runtimes": {"x": {"runtimeType": "io.containerd.x.v1", "options": {"a": 1}}}})


def test_a_runtime_field_dockerd_does_not_know_is_valid_as_dockerd_accepts_it_but_known_fields_keep_their_types(
        validator):
    # Engines 26.1, 28.5 and 29.7.2: `dockerd --validate` accepts these (Go's JSON decoder ignores the
    # unknown field) and refuses a field of the wrong type (tests/corpus/test_dockerd_validate.py runs them)
    assert is_valid(validator, {"runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}})
    assert is_valid(validator, {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}}})
    assert is_valid(validator, {"runtimes": {"x": {"path": "/bin/x", "args": "not a list", "foo": 1}}})
    assert not is_valid(validator, {"runtimes": {"x": {"path": 5}}})
    assert not is_valid(validator, {"runtimes": {"x": {"path": "/bin/x", "runtimeArgs": "--debug"}}})


def test_features_values_must_be_booleans(validator):
    assert is_valid(validator, {"features": {"cdi": False, "some-future-feature": True}})
    assert not is_valid(validator, {"features": {"cdi": "false"}})


def test_mtu_must_not_be_negative(validator):
    assert not is_valid(validator, {"mtu": -1})


def test_every_property_has_x_since_x_reload_and_x_flag(schema):
    for key, prop in schema["properties"].items():
        assert re.fullmatch(r"[0-9]{2}\.[0-9]{1,2}", prop["x-since"]), key
        assert isinstance(prop["x-reload"], bool), key
        assert isinstance(prop["x-flag"], list), key
        assert all(f.startswith("-") for f in prop["x-flag"]), key
        assert prop.get("description"), key
        assert "type" in prop, key


def test_x_reload_is_true_exactly_for_the_sighup_keys(schema):
    reloadable = {k for k, p in schema["properties"].items() if p["x-reload"]}
    assert reloadable == SIGHUP_RELOADABLE


def test_every_x_removed_key_is_absent_from_properties_and_rejected(schema, validator):
    removed = schema["x-removed"]
    assert MUST_BE_REJECTED <= set(removed)
    for key, why in removed.items():
        assert key not in schema["properties"], key
        assert isinstance(why, str) and why, key
        assert not is_valid(validator, {key: "x"}), key


def test_x_since_nested_paths_start_with_a_known_property(schema):
    for path, since in schema["x-since-nested"].items():
        assert path.split("/")[0] in schema["properties"], path
        assert re.fullmatch(r"[0-9]{2}\.[0-9]{1,2}", since), path
