"""Image-store switches on populated hosts, keys an engine removed, and the flags --validate is given."""

import json

import pytest

from dockharden.core.conflicts import store_switch_warning
from dockharden.core.image_store import keep_populated_store
from dockharden.core.merge import merge_layers
from dockharden.core.plan import make_plan
from dockharden.core.schema import check_daemon_config
from dockharden.errors import SchemaError
from dockharden.host.dockerd_validate import without_config_file
from dockharden.model import HostFile, HostSnapshot, Layer, RenderedFile, Selection
from dockharden.targets.systemd_dropin import PATH as DROPIN
from dockharden.targets.systemd_dropin import exec_after

SNAPSHOTTER = {"features": {"containerd-snapshotter": True}}


def store(kind="graphdriver", images=3, containers=2):
    return {"store": kind, "driver": "overlay2" if kind == "graphdriver" else "overlayfs", "images": images,
            "containers": containers, "source": "docker info"}


def host_with(image_store, daemon_json=None, engine="26.1.5"):
    files = {}
    if daemon_json is not None:
        files["/etc/docker/daemon.json"] = HostFile("/etc/docker/daemon.json", exists=True,
                                                    content=json.dumps(daemon_json).encode())
    return HostSnapshot(root="/", files=files, existing_paths=frozenset(), image_store=image_store,
                        engine_version=engine)


def settings_from(source):
    return merge_layers([Layer("baseline" if source.startswith("profile:") else "site", source=source,
                               tables={"daemon": SNAPSHOTTER})])


def test_baseline_does_not_switch_the_image_store_of_a_host_whose_overlay2_store_holds_images():
    settings, notes = keep_populated_store(settings_from("profile:baseline"), host_with(store()))
    assert "features" not in settings.table("daemon")
    assert "3 image(s) and 2 container(s)" in notes[0].message and "layer of your own" in notes[0].message


def test_baseline_switches_an_empty_host_to_the_containerd_store():
    settings, notes = keep_populated_store(settings_from("profile:baseline"), host_with(store(images=0, containers=0)))
    assert settings.table("daemon")["features"] == {"containerd-snapshotter": True} and notes == []


def test_a_host_already_on_the_containerd_store_keeps_the_key():
    settings, _ = keep_populated_store(settings_from("profile:baseline"), host_with(store("containerd")))
    assert settings.table("daemon")["features"] == {"containerd-snapshotter": True}


def test_an_operators_layer_switches_a_populated_host_and_plan_warns_with_the_counts():
    settings, notes = keep_populated_store(settings_from("/etc/dockharden/site.toml"), host_with(store()))
    assert settings.table("daemon")["features"] == {"containerd-snapshotter": True} and notes == []
    [warning] = store_switch_warning(SNAPSHOTTER, host_with(store()))
    assert warning.level == "warning" and "3 image(s) and 2 container(s)" in warning.message


def test_counts_read_from_disk_when_the_daemon_is_down_still_keep_baseline_from_switching():
    on_disk = {"store": None, "driver": "overlay2", "images": 1, "containers": 0, "source": "/var/lib/docker on disk"}
    settings, notes = keep_populated_store(settings_from("profile:baseline"), host_with(on_disk))
    assert "features" not in settings.table("daemon") and "on disk" in notes[0].message


def test_leaving_a_populated_containerd_store_is_warned_about():
    [warning] = store_switch_warning({"features": {"containerd-snapshotter": False}}, host_with(store("containerd")))
    assert "leaves the containerd image store" in warning.message


@pytest.mark.parametrize("config, warned", [({}, False), ({"storage-driver": "overlayfs"}, False),
                                            ({"storage-driver": "overlay2"}, True)],
                         ids=["default-store", "snapshotter-named", "graph-driver-named"])
def test_on_engine_29_only_a_storage_driver_naming_a_graph_driver_leaves_a_populated_containerd_store(config, warned):
    # Engine 29's default is the containerd store; a graph driver named without the feature is used instead
    found = store_switch_warning(config, host_with(store("containerd"), engine="29.7.2"))
    assert bool(found) is warned and all("leaves the containerd image store" in w.message for w in found)


@pytest.mark.parametrize("engine, accepted", [("20.10.24", True), ("27.5.1", True), ("28.5.2", False),
                                              (None, False)])
def test_api_cors_header_is_accepted_only_by_engines_older_than_28(engine, accepted):
    config = {"api-cors-header": "*"}
    if accepted:
        check_daemon_config(config, path="/etc/docker/daemon.json", engine=engine)
        return
    with pytest.raises(SchemaError) as err:
        check_daemon_config(config, path="/etc/docker/daemon.json", engine=engine)
    assert "removed in Engine 28.0" in str(err.value)
    assert (f"runs Engine {engine}" in str(err.value)) if engine else "--engine-version" in str(err.value)


def test_a_removed_key_on_an_older_engine_still_has_its_old_type_checked():
    with pytest.raises(SchemaError, match="integer"):
        check_daemon_config({"oom-score-adjust": "-500"}, path="/etc/docker/daemon.json", engine="20.10.24")


def test_validate_gets_the_flags_of_the_planned_dropin_not_the_units_h_fd():
    host = HostSnapshot(root="/", files={}, existing_paths=frozenset(), manager="systemd",
                        unit_exec=("/usr/sbin/dockerd", "-H", "fd://", "--containerd=/run/c.sock"),
                        unit_exec_base=("/usr/sbin/dockerd", "-H", "fd://", "--containerd=/run/c.sock"))
    dropin = RenderedFile("systemd", path=DROPIN,
                          content=b"[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd --containerd=/run/c.sock\n")
    assert host.start_flags(exec_after(host, [dropin])) == ["--containerd=/run/c.sock"]
    assert host.start_flags(exec_after(host, [])) == ["-H", "fd://", "--containerd=/run/c.sock"]


def test_removing_our_dropin_gives_the_units_own_flags_back():
    host = HostSnapshot(root="/", files={}, existing_paths=frozenset(), manager="systemd",
                        unit_exec=("/usr/sbin/dockerd",), unit_exec_base=("/usr/sbin/dockerd", "-H", "fd://"))
    assert host.start_flags(exec_after(host, [RenderedFile("systemd", path=DROPIN, content=None)])) == ["-H", "fd://"]


def test_the_config_file_flag_is_replaced_by_the_probe_file_in_both_spellings():
    assert without_config_file(("--config-file", "/a.json", "--debug", "--config-file=/b.json")) == ["--debug"]


def test_plan_says_kernel_audit_is_unavailable_and_loads_nothing():
    rules = "/etc/audit/rules.d/docker.rules"
    settings = merge_layers([Layer("baseline", source="b", tables={"audit": {"enabled": True}})])
    host = HostSnapshot(root="/", files={}, existing_paths=frozenset(),
                        kernel_audit="the kernel refuses audit requests from this process (Operation not permitted)")
    watch = RenderedFile("audit", path=rules, content=b"-w /usr/bin/dockerd -p rwxa -k docker\n")
    plan = make_plan(Selection(("baseline",), layers=()), settings, host, [watch], [], frozenset())
    assert [c.path for c in plan.changes] == [rules]
    assert not any(s.service == "auditd" for s in plan.services)
    assert any("kernel audit is not available here" in n.message and "Operation not permitted" in n.message
               for n in plan.notes)


def test_with_the_containerd_store_baselines_overlay2_becomes_the_overlayfs_snapshotter():
    from dockharden.core.image_store import fit_storage_driver

    layer = Layer("baseline", source="profile:baseline",
                  tables={"daemon": {"storage-driver": "overlay2", **SNAPSHOTTER}})
    settings, [note] = fit_storage_driver(merge_layers([layer]))
    assert settings.table("daemon")["storage-driver"] == "overlayfs" and "overlayfs" in note.message
    graph = Layer("baseline", source="profile:baseline", tables={"daemon": {"storage-driver": "overlay2"}})
    assert fit_storage_driver(merge_layers([graph]))[0].table("daemon")["storage-driver"] == "overlay2"


def test_an_operators_overlay2_with_the_containerd_store_is_refused_with_the_snapshotter_name():
    from dockharden.core.conflicts import check_conflicts
    from dockharden.errors import ConflictError

    config = {"storage-driver": "overlay2", **SNAPSHOTTER}
    settings = merge_layers([Layer("site", source="/etc/site.toml", tables={"daemon": config})])
    with pytest.raises(ConflictError, match="overlayfs"):
        check_conflicts(config, settings, host_with(None), {}, set())


def test_volumes_count_as_a_populated_store_and_baseline_does_not_switch():
    settings, notes = keep_populated_store(settings_from("profile:baseline"),
                                           host_with(dict(store(images=0, containers=0), volumes=2)))
    assert "features" not in settings.table("daemon") and "2 volume(s)" in notes[0].message


def test_an_offline_root_cannot_count_and_baseline_does_not_switch_its_image_store():
    offline = host_with(store(images=0, containers=0))._replace(root="/srv/image")
    settings, notes = keep_populated_store(settings_from("profile:baseline"), offline)
    assert "features" not in settings.table("daemon") and "cannot be counted" in notes[0].message


def test_an_offline_root_whose_daemon_json_already_has_the_containerd_store_keeps_it():
    offline = host_with(store(images=0, containers=0), daemon_json=SNAPSHOTTER)._replace(root="/srv/image")
    settings, notes = keep_populated_store(settings_from("profile:baseline"), offline)
    assert settings.table("daemon")["features"] == {"containerd-snapshotter": True} and notes == []
