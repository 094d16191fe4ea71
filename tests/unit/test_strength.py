"""Enforce or default (issue 21): the merge of strengths across layers, and defaults yielding to the operator's
daemon.json, with plain values."""

import pytest

from dockharden.core.merge import merge_layers
from dockharden.core.strength import unit_of, yield_impossible, yield_to_operator
from dockharden.model import Layer
from dockharden.targets.daemon_json import desired_daemon_config, managed_record, operator_document


def layer(name, daemon=None, defaults=None, unset=(), source=None):
    return Layer(name=name, source=source or name, tables={"daemon": daemon} if daemon is not None else {},
                 unset={"daemon": tuple(unset)} if unset else {},
                 defaults={"daemon": defaults} if defaults is not None else {})


# each row: the layers in order, then the key's merged value, the layer it comes from and its strength
MERGE_ROWS = [
    ("a default alone applies, as a default",
     [layer("a", defaults={"debug": True})], True, "a", "defaults"),
    ("an enforced value from an earlier layer beats a later default",
     [layer("a", daemon={"debug": False}), layer("b", defaults={"debug": True})], False, "a", "enforces"),
    ("an enforced value from a later layer beats an earlier default",
     [layer("a", defaults={"debug": True}), layer("b", daemon={"debug": False})], False, "b", "enforces"),
    ("among defaults the later layer wins",
     [layer("a", defaults={"debug": True}), layer("b", defaults={"debug": False})], False, "b", "defaults"),
    ("among enforced values the later layer wins",
     [layer("a", daemon={"debug": True}), layer("b", daemon={"debug": False})], False, "b", "enforces"),
    ("one layer enforcing and defaulting the same key: enforced wins",
     [layer("a", daemon={"debug": False}, defaults={"debug": True})], False, "a", "enforces"),
    ("a later layer's unset removes an earlier default",
     [layer("a", defaults={"debug": True}), layer("b", unset=[("debug",)])], None, "", "enforces"),
    ("a default set again after an unset applies",
     [layer("a", unset=[("debug",)]), layer("b", defaults={"debug": True})], True, "b", "defaults"),
]


@pytest.mark.parametrize("why, layers, value, origin, strength", MERGE_ROWS, ids=[r[0] for r in MERGE_ROWS])
def test_strengths_merge_enforced_over_default_and_later_over_earlier_within_a_strength(why, layers, value, origin,
                                                                                         strength):
    s = merge_layers(layers)
    assert s.table("daemon").get("debug") == value
    assert s.origin("daemon", ("debug",)) == origin
    assert s.strength("daemon", ("debug",)) == strength


def test_map_entries_keep_their_own_strength_when_enforced_and_default_maps_merge():
    s = merge_layers([layer("a", defaults={"log-opts": {"max-size": "10m", "max-file": "5"}}),
                      layer("b", daemon={"log-opts": {"max-size": "50m"}})])
    assert s.table("daemon") == {"log-opts": {"max-size": "50m", "max-file": "5"}}
    assert s.strength("daemon", ("log-opts", "max-size")) == "enforces"
    assert s.strength("daemon", ("log-opts", "max-file")) == "defaults"


def test_a_layer_without_defaults_merges_exactly_as_before():
    s = merge_layers([layer("a", daemon={"icc": False, "log-opts": {"max-size": "1m"}})])
    assert s.table("daemon") == {"icc": False, "log-opts": {"max-size": "1m"}} and s.defaulted == frozenset()


@pytest.mark.parametrize("path, unit", [(("icc",), ("icc",)), (("log-opts", "max-size"), ("log-opts", "max-size")),
                                        (("default-ulimits", "nofile", "Hard"), ("default-ulimits", "nofile")),
                                        (("builder", "gc", "enabled"), ("builder", "gc")),
                                        (("default-address-pools",), ("default-address-pools",))])
def test_a_default_yields_by_top_level_key_or_by_entry_of_a_map_of_independent_entries(path, unit):
    assert unit_of(path) == unit


BASELINE_LIKE = layer("baseline", daemon={"icc": False, "live-restore": True},
                      defaults={"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "5"},
                                "storage-driver": "overlay2", "features": {"containerd-snapshotter": True},
                                "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 65536, "Soft": 65536},
                                                    "nproc": {"Name": "nproc", "Hard": 4096, "Soft": 4096}}},
                      source="profile:baseline")

# each row: the operator's daemon.json, then the daemon.json dockharden writes
HOST_ROWS = [
    ("an empty file takes every default and every enforced key",
     {}, {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "5"}, "storage-driver": "overlay2",
          "features": {"containerd-snapshotter": True},
          "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 65536, "Soft": 65536},
                              "nproc": {"Name": "nproc", "Hard": 4096, "Soft": 4096}},
          "icc": False, "live-restore": True}),
    ("a syslog driver keeps its options and gets no json-file option",
     {"log-driver": "syslog", "log-opts": {"syslog-address": "udp://127.0.0.1:514"}},
     {"log-driver": "syslog", "log-opts": {"syslog-address": "udp://127.0.0.1:514"}, "storage-driver": "overlay2",
      "features": {"containerd-snapshotter": True},
      "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 65536, "Soft": 65536},
                          "nproc": {"Name": "nproc", "Hard": 4096, "Soft": 4096}},
      "icc": False, "live-restore": True}),
    ("log options without a driver (json-file, the engine's) are completed option by option",
     {"log-opts": {"max-size": "100m"}},
     {"log-opts": {"max-size": "100m", "max-file": "5"}, "log-driver": "json-file", "storage-driver": "overlay2",
      "features": {"containerd-snapshotter": True},
      "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 65536, "Soft": 65536},
                          "nproc": {"Name": "nproc", "Hard": 4096, "Soft": 4096}},
      "icc": False, "live-restore": True}),
    ("a storage driver of the operator's keeps the image store off, their ulimit whole; the other ulimit is added",
     {"storage-driver": "btrfs", "default-ulimits": {"nofile": {"name": "nofile", "hard": 1048576, "soft": 1048576}},
      "icc": True},
     {"storage-driver": "btrfs", "default-ulimits": {"nofile": {"name": "nofile", "hard": 1048576, "soft": 1048576},
                                                     "nproc": {"Name": "nproc", "Hard": 4096, "Soft": 4096}},
      "icc": False, "log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "5"},
      "live-restore": True}),
    ("userns-remap keeps the containerd image store off (it refuses remapping)",
     {"userns-remap": "default", "log-driver": "journald"},
     {"userns-remap": "default", "log-driver": "journald", "storage-driver": "overlay2",
      "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 65536, "Soft": 65536},
                          "nproc": {"Name": "nproc", "Hard": 4096, "Soft": 4096}},
      "icc": False, "live-restore": True}),
    ("an operator's image store choice keeps the storage driver's name theirs too",
     {"features": {"containerd-snapshotter": False}},
     {"features": {"containerd-snapshotter": False}, "log-driver": "json-file",
      "log-opts": {"max-size": "10m", "max-file": "5"},
      "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 65536, "Soft": 65536},
                          "nproc": {"Name": "nproc", "Hard": 4096, "Soft": 4096}},
      "icc": False, "live-restore": True}),
]


def written(existing, managed=None, layers=(BASELINE_LIKE,), flags=()):
    operator = operator_document(existing, managed)
    settings = yield_to_operator(merge_layers(layers), operator)
    settings, notes = yield_impossible(settings, operator, list(flags))
    return desired_daemon_config(existing, settings, managed), settings, notes


@pytest.mark.parametrize("why, existing, expected", HOST_ROWS, ids=[r[0] for r in HOST_ROWS])
def test_defaults_apply_only_where_the_operators_daemon_json_has_no_value_and_enforced_keys_always(why, existing,
                                                                                                    expected):
    doc, _, _ = written(existing)
    assert doc == expected


def test_a_kept_key_says_the_operators_value_and_the_layer_that_only_defaults_it():
    _, settings, _ = written({"log-driver": "syslog"})
    assert settings.kept[("log-driver",)] == {"had": True, "value": "syslog", "layer": "baseline", "because": ""}
    assert settings.kept[("log-opts", "max-size")]["because"].startswith("the operator sets log-driver: ")


def test_the_image_store_left_off_for_an_operators_userns_remap_says_why_in_the_plans_note():
    from dockharden.core.strength import kept_notes

    _, settings, _ = written({"userns-remap": "default"})
    [note] = [n for n in kept_notes(settings) if "containerd-snapshotter" in n.message]
    assert "not written (the operator sets userns-remap: the containerd image store refuses user namespace " \
           "remapping" in note.message


def test_a_profiles_icc_is_not_written_where_the_operator_turned_iptables_off_and_the_finding_names_cis_2_2():
    doc, settings, notes = written({"iptables": False})
    assert "icc" not in doc and doc["iptables"] is False and doc["live-restore"] is True
    assert len(notes) == 1 and "CIS v1.8.0 2.2" in notes[0].message and "iptables: false" in notes[0].message
    doc, _, notes = written({}, flags=["--iptables=false"])
    assert "icc" not in doc and "--iptables=false" in notes[0].message


def test_icc_from_the_operators_own_layer_is_left_for_the_conflict_check_to_refuse():
    doc, _, notes = written({"iptables": False}, layers=(BASELINE_LIKE, layer("site", daemon={"icc": False})))
    assert doc["icc"] is False and notes == []


def test_a_default_written_once_is_written_again_in_place_and_recorded_with_its_strength():
    first, settings, _ = written({"debug": True})
    record = managed_record({"debug": True}, settings, {})
    assert record["log-driver"] == {"had": False, "strength": "defaults", "wrote": "json-file"}
    assert "icc" in record and "strength" not in record["icc"]
    again, _, _ = written(first, record)
    assert list(again) == list(first) and again == first


def test_an_operator_who_changes_a_written_default_keeps_the_change_and_the_record_lets_it_go():
    first, settings, _ = written({})
    record = managed_record({}, settings, {})
    edited = dict(first, **{"log-driver": "journald"})
    doc, settings, _ = written(edited, record)
    assert doc["log-driver"] == "journald" and "log-opts" not in doc  # our json-file options leave with our driver
    assert "log-driver" not in managed_record(edited, settings, record)


def test_dropping_the_layer_removes_the_defaults_it_wrote_and_keeps_the_operators_edits():
    first, settings, _ = written({})
    record = managed_record({}, settings, {})
    edited = dict(first, **{"max-concurrent-downloads": 7})
    doc, _, _ = written(edited, record, layers=())
    assert doc == {"max-concurrent-downloads": 7}


def test_upgrade_a_record_of_an_enforced_key_written_before_defaults_gives_the_operators_value_back():
    # what the current code wrote before issue 21: baseline enforced log-driver over the operator's syslog
    on_disk = {"log-driver": "json-file", "log-opts": {"syslog-address": "udp://h:514", "max-size": "10m"},
               "icc": False}
    old_record = {"log-driver": {"had": True, "value": "syslog"}, "log-opts/max-size": {"had": False},
                  "icc": {"had": False}}
    doc, settings, _ = written(on_disk, old_record)
    assert doc["log-driver"] == "syslog" and doc["log-opts"] == {"syslog-address": "udp://h:514"}
    assert doc["icc"] is False
    record = managed_record(on_disk, settings, old_record)
    assert "log-driver" not in record and record["icc"] == {"had": False}


def test_show_prints_each_daemon_key_with_its_layer_and_whether_it_enforces_or_defaults():
    from dockharden.report import provenance_document, render_provenance

    settings = merge_layers([BASELINE_LIKE])
    text = render_provenance(settings)
    assert 'daemon.log-driver = "json-file"  <- baseline (defaults)' in text
    assert "daemon.icc = false  <- baseline (enforces)" in text
    strength = provenance_document(settings)["strength"]
    assert strength["daemon.log-opts.max-size"] == "defaults" and strength["daemon.live-restore"] == "enforces"


def test_plan_on_an_existing_host_says_which_values_are_kept_in_the_text_and_in_the_json(tmp_path):
    import shutil
    from pathlib import Path

    from dockharden.api import build_plan
    from dockharden.host.facts import Context
    from dockharden.model import Selection
    from dockharden.report import plan_document, render_plan
    from tests.cases.test_golden_cases import NoTools

    root = tmp_path / "root"
    shutil.copytree(Path(__file__).parents[1] / "cases" / "operator-choices-kept" / "root", root)
    plan = build_plan(Context(root=str(root), runner=NoTools(), engine_version="29.7.2", manager="none"),
                      Selection(("baseline",), layers=(), source="test"))
    text = render_plan(plan, str(root))
    assert "daemon.json `log-driver`: kept: operator's value \"syslog\", baseline only defaults this key" in text
    assert "+ max-concurrent-uploads = 5  <- baseline (defaults)" in text
    assert "+ live-restore = true  <- baseline\n" in text
    kept = {k["key"]: k for k in plan_document(plan, str(root))["kept"]}
    assert kept["storage-driver"] == {"key": "storage-driver", "operator_had": True, "operator_value": "btrfs",
                                      "layer": "baseline", "strength": "defaults",
                                      "because": "the operator's daemon.json has its own value"}
    assert kept["icc"]["strength"] == "enforces" and kept["icc"]["because"].endswith("`iptables: false`")


def test_a_default_ulimit_above_what_dockerd_can_grant_yields_to_its_limit_and_an_enforced_one_stays():
    from dockharden.core.strength import kept_notes, yield_ungrantable
    from dockharden.model import DaemonProcess

    nofile = {"Name": "nofile", "Hard": 65536, "Soft": 65536}
    nproc = {"Name": "nproc", "Hard": 4096, "Soft": 4096}
    stuck = DaemonProcess(42, ("dockerd",), {"nofile": 20000, "nproc": 8192}, can_raise_limits=False)
    defaults = merge_layers([layer("baseline", defaults={"default-ulimits": {"nofile": nofile, "nproc": nproc}})])
    fitted = yield_ungrantable(defaults, stuck)
    assert fitted.table("daemon") == {"default-ulimits": {"nproc": nproc}}  # nproc 4096 fits under 8192: kept
    (note,) = kept_notes(fitted)
    assert "`default-ulimits.nofile`: not written (Hard 65536 is above dockerd's own hard limit 20000" in note.message

    able = DaemonProcess(42, ("dockerd",), {"nofile": 20000}, can_raise_limits=True)
    assert yield_ungrantable(defaults, able) is defaults and yield_ungrantable(defaults, None) is defaults
    enforced = merge_layers([layer("site", daemon={"default-ulimits": {"nofile": nofile}})])
    assert yield_ungrantable(enforced, stuck) is enforced  # the layer's request: core.conflicts refuses it, naming the limit


def test_a_default_that_yielded_names_no_layer_so_errors_about_that_key_name_the_operators_file():
    s = merge_layers([layer("baseline", defaults={"log-driver": "json-file", "log-opts": {"max-size": "10m"}})])
    yielded = yield_to_operator(s, {"log-driver": "local", "log-opts": {"tag": "x"}})
    assert yielded.table("daemon") == {}
    assert yielded.origin("daemon", ("log-driver",)) == "" and yielded.origin("daemon", ("log-opts", "tag")) == ""
