from dockharden.core.merge import merge_layers
from dockharden.keypaths import merged_over
from dockharden.model import Layer


def layer(name, unset=None, **tables):
    return Layer(name=name, source=name, tables=tables, unset=unset or {})


def test_maps_merge_deeply_and_later_scalars_win():
    s = merge_layers([layer("a", daemon={"log-opts": {"max-size": "1m", "max-file": "2"}, "debug": True}),
                      layer("b", daemon={"log-opts": {"max-size": "10m"}, "debug": False})])
    assert s.table("daemon") == {"log-opts": {"max-size": "10m", "max-file": "2"}, "debug": False}


def test_lists_from_a_later_layer_replace_earlier_lists():
    s = merge_layers([layer("a", daemon={"dns": ["1.1.1.1", "8.8.8.8"]}), layer("b", daemon={"dns": ["9.9.9.9"]})])
    assert s.table("daemon")["dns"] == ["9.9.9.9"]


def test_every_key_knows_the_layer_that_set_it():
    s = merge_layers([layer("a", daemon={"log-opts": {"max-size": "1m", "max-file": "2"}}),
                      layer("b", daemon={"log-opts": {"max-size": "10m"}})])
    assert s.origin("daemon", ("log-opts", "max-size")) == "b"
    assert s.origin("daemon", ("log-opts", "max-file")) == "a"


def test_unset_removes_a_key_set_by_an_earlier_layer_and_records_who():
    s = merge_layers([layer("a", daemon={"features": {"containerd-snapshotter": True, "cdi": True}}),
                      layer("b", unset={"daemon": (("features", "containerd-snapshotter"),)})])
    assert s.table("daemon") == {"features": {"cdi": True}}
    assert s.removed[("daemon", ("features", "containerd-snapshotter"))] == "b"
    assert s.origin("daemon", ("features", "containerd-snapshotter")) == "a"  # the map is still a's


def test_a_later_layer_can_set_again_what_an_earlier_one_unset():
    s = merge_layers([layer("a", unset={"daemon": (("debug",),)}), layer("b", daemon={"debug": True})])
    assert s.table("daemon") == {"debug": True}
    assert ("daemon", ("debug",)) not in s.removed


def test_operator_keys_keep_their_order_and_new_keys_follow():
    doc = merged_over({"debug": True, "log-opts": {"labels": "x"}, "data-root": "/srv"},
                      {"log-opts": {"max-size": "10m"}, "icc": False}, removals=[("data-root",)])
    assert list(doc) == ["debug", "log-opts", "icc"]
    assert doc["log-opts"] == {"labels": "x", "max-size": "10m"}


def test_merging_does_not_mutate_the_layers():
    a = layer("a", daemon={"log-opts": {"max-size": "1m"}})
    merge_layers([a, layer("b", daemon={"log-opts": {"max-file": "3"}})])
    assert a.tables["daemon"] == {"log-opts": {"max-size": "1m"}}


def test_a_map_an_unset_empties_goes_away_instead_of_staying_as_an_empty_map():
    s = merge_layers([layer("a", daemon={"features": {"containerd-snapshotter": True}, "icc": False}),
                      layer("b", unset={"daemon": (("features", "containerd-snapshotter"),)})])
    assert s.table("daemon") == {"icc": False}
    assert merged_over({"features": {"cdi": True}}, {}, [("features", "cdi")]) == {}
