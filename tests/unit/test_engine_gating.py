from dockharden.core.engine_gating import gate_for_engine, parse_version
from dockharden.core.merge import merge_layers
from dockharden.model import Layer

SINCE = {"features/containerd-snapshotter": "24.0", "log-format": "25.0", "icc": "17.06"}


def baseline():
    return merge_layers([Layer("baseline", source="b", tables={"daemon": {"icc": False, "log-format": "json",
                                                             "features": {"containerd-snapshotter": True}}})])


def test_versions_parse_from_what_engines_report():
    assert parse_version("20.10.24+dfsg1") == (20, 10) and parse_version("29.7.2") == (29, 7)
    assert parse_version(None) is None and parse_version("dev") is None


def test_settings_an_old_engine_does_not_know_are_left_out_with_the_reason():
    settings, notes = gate_for_engine(baseline(), "20.10.24", SINCE)
    assert settings.table("daemon") == {"icc": False}
    assert any("containerd-snapshotter" in n.message and "24.0" in n.message and "baseline" in n.message
               for n in notes)


def test_a_current_engine_keeps_everything():
    settings, notes = gate_for_engine(baseline(), "29.7.2", SINCE)
    assert settings.table("daemon") == baseline().table("daemon") and notes == []


def test_an_unknown_engine_keeps_everything():
    settings, notes = gate_for_engine(baseline(), None, SINCE)
    assert settings.table("daemon") == baseline().table("daemon") and notes == []
