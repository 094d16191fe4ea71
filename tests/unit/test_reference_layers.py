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
