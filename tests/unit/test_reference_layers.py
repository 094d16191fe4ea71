"""The layers for what the hardening references have and the other layers lacked: monitoring (metrics on
loopback only), the concurrency limits and `experimental: false` in baseline, gvisor (runsc registered,
runc kept the default) and prune (a systemd timer running `docker system prune` with checked filters)."""

import pytest

from dockharden.core import values
from dockharden.core.layers import builtin_profiles, load_builtin
from dockharden.errors import LayerError
from dockharden.host.inputs import load_layer_file

# --- monitoring ----------------------------------------------------------------------------------------

LOOPBACK = ["127.0.0.1:9323", "127.0.0.53:1", "[::1]:9323"]
NOT_LOOPBACK = [("0.0.0.0:9323", "every interface"), (":9323", "every interface"), ("[::]:9323", "every interface"),
                ("10.0.0.1:9323", "10.0.0.1"), ("localhost:9323", "not a loopback IP address"),
                ("::1:9323", "::1"), ("[127.0.0.1]:9323", "[127.0.0.1]"), ("127.0.0.1:0", "port from 1"),
                ("127.0.0.1:70000", "port from 1"), ("9323", "HOST:PORT")]


@pytest.mark.parametrize("address", LOOPBACK)
def test_a_loopback_metrics_address_is_accepted_as_written(address):
    assert values.metrics_address(address) == address


@pytest.mark.parametrize("address,needle", NOT_LOOPBACK)
def test_a_metrics_address_off_loopback_is_refused_with_the_proxy_hint(address, needle):
    with pytest.raises(values.Invalid) as caught:
        values.metrics_address(address)
    assert needle in caught.value.message
    assert "TLS-terminating proxy" in caught.value.fix and "127.0.0.1:9323" in caught.value.fix


def test_an_operator_layer_with_metrics_on_every_interface_is_refused_naming_the_file_the_key_and_the_fix(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text('[daemon]\nmetrics-addr = "0.0.0.0:9323"\n')
    with pytest.raises(LayerError) as caught:
        load_layer_file(path)
    message = str(caught.value)
    assert str(path) in message and "key `daemon.metrics-addr`" in message and "without TLS" in message
    assert "proxy" in caught.value.hint
    assert "\n" not in message.strip()


def test_the_monitoring_profile_serves_metrics_on_loopback_only_and_needs_no_experimental_flag():
    layer = load_builtin("monitoring")
    assert layer.tables == {"daemon": {"metrics-addr": "127.0.0.1:9323"}}
    assert "monitoring" in builtin_profiles()


# --- baseline: the concurrency limits and experimental ---------------------------------------------------

def _services_for(old: dict, new: dict):
    import json

    from dockharden.core.merge import merge_layers
    from dockharden.core.plan import make_plan
    from dockharden.core.planning import reloadable_keys
    from dockharden.model import HostFile, HostSnapshot, Layer, RenderedFile, Selection

    path = "/etc/docker/daemon.json"
    settings = merge_layers([Layer("baseline", "b", {"daemon": new})])
    files = {path: HostFile(path, True, json.dumps(old).encode(), 0o644, 0, 0)}
    host = HostSnapshot(root="/", files=files, existing_paths=frozenset(), daemon_info=None)
    rendered = [RenderedFile("daemon.json", path, (json.dumps(new, indent=2) + "\n").encode())]
    plan = make_plan(Selection(("baseline",), ()), settings, host, rendered, [], reloadable_keys())
    return [(s.service, s.action) for s in plan.services]


def test_baseline_states_the_engine_defaults_for_concurrency_and_turns_experimental_off():
    daemon = load_builtin("baseline").tables["daemon"]
    assert (daemon["max-concurrent-downloads"], daemon["max-concurrent-uploads"], daemon["experimental"]) == (3, 5, False)


def test_adding_only_the_concurrency_limits_is_a_reload():
    assert _services_for({}, {"max-concurrent-downloads": 3, "max-concurrent-uploads": 5}) == [("docker", "reload")]


def test_adding_experimental_false_is_a_restart_because_dockerd_reads_it_only_at_start():
    assert _services_for({}, {"experimental": False}) == [("docker", "restart")]


# --- verification: what docker info shows ---------------------------------------------------------------

def test_a_registered_runtime_is_effective_only_when_docker_info_lists_it_with_its_path():
    from dockharden.core.effective import Effective, compare_daemon

    config = {"runtimes": {"runsc": {"path": "/usr/bin/runsc"}}, "default-runtime": "runc"}
    listed = {"runc": {"path": "runc"}, "runsc": {"path": "/usr/bin/runsc"}}
    assert compare_daemon(config, Effective({"Runtimes": listed, "DefaultRuntime": "runc"}, {})) == []
    [missing] = compare_daemon(config, Effective({"Runtimes": {"runc": {}}, "DefaultRuntime": "runc"}, {}))
    assert missing.key == "runtimes"
    elsewhere = {"runsc": {"path": "/usr/local/bin/runsc"}}
    assert [m.key for m in compare_daemon(config, Effective({"Runtimes": elsewhere, "DefaultRuntime": "runc"}, {}))] \
        == ["runtimes"]


def test_metrics_and_the_concurrency_limits_are_not_claimed_from_docker_info():
    from dockharden.core.effective import metrics_endpoint, not_observable

    config = {"metrics-addr": "[::1]:9323", "max-concurrent-downloads": 3, "max-concurrent-uploads": 5}
    assert not_observable(config) == list(config)
    assert metrics_endpoint(config) == ("::1", 9323)
    assert metrics_endpoint({}) is None


# --- gvisor ---------------------------------------------------------------------------------------------

def _plan(root, profiles):
    from dockharden import api
    from dockharden.host.runner import Runner

    class NoTools(Runner):
        def which(self, program):
            return None

    return api.make_plan(api.Request(root=str(root), profiles=profiles, engine_version="20.10.24",
                                     runner=NoTools()))


def test_the_gvisor_layer_is_refused_with_the_install_hint_when_runsc_is_not_installed(tmp_path):
    from dockharden.errors import ConflictError

    with pytest.raises(ConflictError) as caught:
        _plan(tmp_path, ["baseline", "gvisor"])
    assert "runtimes.runsc.path" in str(caught.value) and "not installed" in str(caught.value)
    assert "apt install runsc" in caught.value.hint
    assert not (tmp_path / "etc/docker/daemon.json").exists()


def test_the_gvisor_layer_registers_runsc_and_keeps_runc_the_default_when_runsc_is_installed(tmp_path):
    import json

    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/runsc").write_bytes(b"\x7fELF")
    plan = _plan(tmp_path, ["baseline", "gvisor"])
    daemon = next(f for f in plan.rendered if f.path == "/etc/docker/daemon.json")
    config = json.loads(daemon.content)
    assert config["runtimes"] == {"runsc": {"path": "/usr/bin/runsc"}} and config["default-runtime"] == "runc"
