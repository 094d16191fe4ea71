"""A storage driver the engine removed is a finding with the fix, never a silent switch (plain values)."""

import json

from dockharden.core.conflicts import check_conflicts
from dockharden.core.merge import merge_layers
from dockharden.model import HostFile, HostSnapshot, Layer


def host(existing, version="24.0.7", info=None, store=None):
    path = "/etc/docker/daemon.json"
    return HostSnapshot(root="/", files={path: HostFile(path, exists=True, content=json.dumps(existing).encode())},
                        existing_paths=frozenset(), engine_version=version, daemon_info=info, image_store=store)


def notes(existing, layer=None, **more):
    config = {**existing, **(layer or {})}
    settings = merge_layers([Layer("site", source="/etc/dockharden/site.toml", tables={"daemon": layer or {}})])
    return [n.message for n in check_conflicts(config, settings, host(existing, **more), {}, set())
            if "storage-driver" in n.message]


def test_devicemapper_kept_on_engine_24_warns_that_25_removes_it_with_the_fix():
    [said] = notes({"storage-driver": "devicemapper"})
    assert "Engine 25.0 removes it" in said and "does not switch it" in said and "docker save" in said


def test_aufs_on_engine_24_is_said_to_be_removed_already():
    [said] = notes({"storage-driver": "aufs"}, version="24.0.0")
    assert "Engine 24.0 removed it: this Engine 24.0.0 does not start with it" in said


def test_a_layer_switching_a_removed_driver_says_what_stays_out_of_view_with_the_counts():
    [said] = notes({"storage-driver": "devicemapper"}, {"storage-driver": "overlay2"},
                   store={"driver": "devicemapper", "images": 3, "containers": 2})
    assert "switched to `overlay2` by layer site" in said and "3 image(s) and 2 container(s)" in said


def test_the_running_daemons_driver_counts_when_the_file_names_none():
    [said] = notes({}, info={"Driver": "overlay"}, version="23.0.6")
    assert "`overlay`" in said and "24.0 removes it" in said


def test_a_current_driver_is_no_finding():
    assert notes({"storage-driver": "btrfs"}) == [] and notes({"storage-driver": "overlay2"}) == []
