"""The layers for what the hardening references have and the other layers lacked: monitoring (metrics on
loopback only), the concurrency limits and `experimental: false` in baseline, gvisor (runsc registered,
runc kept the default) and prune (a systemd timer running `docker system prune` with checked filters)."""

from datetime import UTC, datetime

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
    settings = merge_layers([Layer("baseline", source="b", tables={"daemon": new})])
    files = {path: HostFile(path, exists=True, content=json.dumps(old).encode(), mode=0o644, uid=0, gid=0)}
    host = HostSnapshot(root="/", files=files, existing_paths=frozenset(), daemon_info=None)
    rendered = [RenderedFile("daemon.json", path=path, content=(json.dumps(new, indent=2) + "\n").encode())]
    plan = make_plan(Selection(("baseline",), layers=()), settings, host, rendered, [], reloadable_keys())
    return [(s.service, s.action) for s in plan.services]


def test_baseline_states_the_engine_defaults_for_concurrency_and_turns_experimental_off():
    baseline = load_builtin("baseline")
    daemon, defaults = baseline.tables["daemon"], baseline.defaults["daemon"]  # the limits only default (issue 21)
    assert (defaults["max-concurrent-downloads"], defaults["max-concurrent-uploads"], daemon["experimental"]) == (3, 5, False)


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


# --- prune ----------------------------------------------------------------------------------------------

PRUNE_REFUSED = [
    (values.prune_filter, "until=7d", "not a duration"),
    (values.prune_filter, "until=24h;reboot", "not a duration"),
    (values.prune_filter, "until=", "not a duration"),
    (values.prune_filter, "until=24h\nExecStart=/bin/sh", "line break"),
    (values.prune_filter, "label=$HOME", "not KEY or KEY=VALUE"),
    (values.prune_filter, "label=a b", "not KEY or KEY=VALUE"),
    (values.prune_filter, "label==x", "not KEY or KEY=VALUE"),
    (values.prune_filter, "dangling=true", "not a prune filter"),
    (values.prune_filter, "until", "not a prune filter"),
    (values.byte_size, "10 GB", "not a size"),
    (values.byte_size, "lots", "not a size"),
    (values.calendar, "daily\nExecStart=/bin/sh", "not a calendar expression"),
    (values.calendar, "%H:00", "not a calendar expression"),
    (values.calendar, " ", "not a calendar expression"),
]


@pytest.mark.parametrize("check,value,needle", PRUNE_REFUSED, ids=[repr(v) for _, v, _ in PRUNE_REFUSED])
def test_a_prune_value_that_could_change_the_command_line_is_refused_with_the_fix(check, value, needle):
    with pytest.raises(values.Invalid) as caught:
        check(value)
    assert needle in caught.value.message and caught.value.fix


@pytest.mark.parametrize("value", ["until=168h", "until=1h30m", "label=com.example.keep", "label!=keep=yes"])
def test_a_prune_filter_docker_takes_is_accepted_as_written(value):
    assert values.prune_filter(value) == value


def test_a_prune_layer_with_two_ages_is_refused_naming_the_file_and_the_key(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text('[prune]\nenabled = true\nfilters = ["until=24h", "until=48h"]\n')
    with pytest.raises(LayerError) as caught:
        load_layer_file(path)
    assert str(path) in str(caught.value) and "key `prune.filters`" in str(caught.value)


def test_the_prune_units_run_argument_lists_with_the_layers_filters_and_keep_storage():
    from dockharden.targets import prune_timer

    table = load_builtin("prune").tables["prune"]
    assert prune_timer.prune_commands(table) == [
        ["/usr/bin/docker", "system", "prune", "--force", "--filter", "until=168h"],
        ["/usr/bin/docker", "builder", "prune", "--force", "--keep-storage", "10GB"]]
    units = prune_timer.render_units(dict(table, all=True, filters=["until=24h", "label!=keep"]))
    service = units[prune_timer.SERVICE_PATH]
    assert "ExecStart=/usr/bin/docker system prune --force --all --filter until=24h --filter label!=keep\n" in service
    assert "ExecStart=/usr/bin/docker builder prune --force --keep-storage 10GB\n" in service
    assert "OnCalendar=weekly\n" in units[prune_timer.TIMER_PATH]
    assert "WantedBy=timers.target" in units[prune_timer.TIMER_PATH]


def test_an_empty_keep_storage_leaves_the_build_cache_untrimmed():
    from dockharden.targets import prune_timer

    assert prune_timer.prune_commands({"keep_storage": ""}) == [
        ["/usr/bin/docker", "system", "prune", "--force", "--filter", "until=168h"]]


@pytest.mark.parametrize("arg,quoted", [("until=24h", "until=24h"), ("a b", '"a b"'), ('say "hi"', '"say \\"hi\\""'),
                                        ("100%", '"100%%"'), ("$HOME", '"$$HOME"'), ("a\\b", '"a\\\\b"')])
def test_an_execstart_argument_is_quoted_so_systemd_reads_it_back_as_one_word_and_expands_nothing(arg, quoted):
    from dockharden.targets.prune_timer import systemd_quote

    assert systemd_quote(arg) == quoted


def test_a_line_break_can_never_become_part_of_an_execstart_line():
    from dockharden.targets.prune_timer import systemd_quote

    with pytest.raises(ValueError):
        systemd_quote("24h\nExecStart=/bin/sh")


def test_the_prune_layer_is_off_unless_selected_and_deselecting_it_deletes_its_units(tmp_path):
    from dockharden.targets import prune_timer

    plan = _plan(tmp_path, ["baseline"])
    assert not any(f.target == "prune" for f in plan.rendered)
    plan = _plan(tmp_path, ["baseline", "prune"])
    assert {c.path for c in plan.changes if c.target == "prune"} == {prune_timer.SERVICE_PATH, prune_timer.TIMER_PATH}
    for path in (prune_timer.SERVICE_PATH, prune_timer.TIMER_PATH):
        (tmp_path / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path.lstrip("/")).write_text("[Unit]\n")
    removed = _plan(tmp_path, ["baseline"])
    assert {c.path for c in removed.changes if c.target == "prune"} == set()  # not ours (not recorded): kept


def test_deselecting_the_prune_layer_deletes_the_units_an_earlier_apply_wrote(tmp_path):
    from dockharden import api
    from dockharden.execute.apply import Engine, apply_plan
    from dockharden.targets import prune_timer

    plan = _plan(tmp_path, ["prune"])
    engine = Engine(str(tmp_path), runner=api.Runner(), now=lambda: datetime.now(UTC), config={})
    assert apply_plan(plan, engine, restart=False).result == "applied"
    assert (tmp_path / prune_timer.TIMER_PATH.lstrip("/")).exists()
    removed = _plan(tmp_path, ["baseline"])
    assert {(c.path, c.action.value) for c in removed.changes if c.target == "prune"} == {
        (prune_timer.SERVICE_PATH, "delete"), (prune_timer.TIMER_PATH, "delete")}


def test_under_systemd_the_prune_units_start_the_timer_and_removing_them_stops_it():
    import json

    from dockharden.core.merge import merge_layers
    from dockharden.core.plan import make_plan
    from dockharden.model import HostFile, HostSnapshot, Layer, RenderedFile, Selection
    from dockharden.targets import prune_timer

    def plan_with(rendered, exists, manager):
        files = {p: HostFile(p, exists=exists, content=b"x" if exists else None, mode=0o644 if exists else None, uid=0,
                             gid=0)
                 for p in (prune_timer.SERVICE_PATH, prune_timer.TIMER_PATH)}
        host = HostSnapshot(root="/", files=files, existing_paths=frozenset(), manager=manager)
        settings = merge_layers([Layer("prune", source="p", tables={"daemon": {}})])
        plan = make_plan(Selection(("prune",), layers=()), settings, host, rendered, [], frozenset())
        return [(s.service, s.action) for s in plan.services], [n.message for n in plan.notes]

    units = [RenderedFile("prune", path=p, content=t.encode()) for p, t in prune_timer.render_units({}).items()]
    assert plan_with(units, False, "systemd")[0] == [("systemd", "daemon-reload"), ("prune-timer", "start")]
    gone = [RenderedFile("prune", path=p, content=None) for p in (prune_timer.SERVICE_PATH, prune_timer.TIMER_PATH)]
    assert plan_with(gone, True, "systemd")[0] == [("systemd", "daemon-reload"), ("prune-timer", "stop")]
    services, notes = plan_with(units, False, "sysvinit")
    assert services == [] and any("nothing starts dockharden-prune.timer" in n for n in notes)
    assert json  # the plan above never reads daemon.json


def test_an_operators_own_metrics_addr_off_loopback_is_kept_and_named_in_a_warning():
    from dockharden.core.conflicts import _warnings
    from dockharden.model import HostSnapshot

    host = HostSnapshot(root="/", files={}, existing_paths=frozenset())
    [note] = _warnings({"metrics-addr": "0.0.0.0:9323"}, host)
    assert note.level == "warning" and "every interface" in note.message and "proxy" in note.message
    assert _warnings({"metrics-addr": "127.0.0.1:9323"}, host) == []


def test_a_runtime_in_the_operators_own_daemon_json_is_kept_even_where_its_binary_is_not_installed(tmp_path):
    """The operator's runtimes are the operator's (a tree prepared for another machine, a binary installed
    later): only a runtime a layer registers must be installed."""
    import json

    (tmp_path / "etc/docker").mkdir(parents=True)
    (tmp_path / "etc/docker/daemon.json").write_text(json.dumps({"runtimes": {"nvidia": {"path": "/usr/bin/nvidia-container-runtime"}}}))
    plan = _plan(tmp_path, ["baseline"])
    daemon = next(f for f in plan.rendered if f.path == "/etc/docker/daemon.json")
    assert json.loads(daemon.content)["runtimes"] == {"nvidia": {"path": "/usr/bin/nvidia-container-runtime"}}
