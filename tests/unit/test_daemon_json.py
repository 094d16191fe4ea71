import codecs
import json

import pytest

from dockharden.core.merge import merge_layers
from dockharden.daemon_json_codec import parse_daemon_json
from dockharden.errors import HostFileError
from dockharden.model import HostFile, HostSnapshot, Layer
from dockharden.targets.daemon_json import PATH, render_daemon_json


def host_with(content: bytes | None, mode=0o644) -> HostSnapshot:
    f = HostFile(PATH, exists=content is not None, content=content, mode=mode if content is not None else None, uid=0,
                 gid=0)
    return HostSnapshot(root="/", files={PATH: f}, existing_paths=frozenset())


def settings(**daemon):
    return merge_layers([Layer("baseline", source="t", tables={"daemon": daemon})])


def test_a_missing_or_empty_file_is_an_empty_config():
    assert parse_daemon_json(None) == {} and parse_daemon_json(b"  \n") == {}


def test_invalid_json_reports_line_and_column():
    with pytest.raises(HostFileError) as err:
        parse_daemon_json(b'{\n  "debug": true,\n}\n')
    assert "line 3 column 1" in str(err.value) and PATH in str(err.value)


def test_comments_are_not_json():
    with pytest.raises(HostFileError, match="not valid JSON"):
        parse_daemon_json(b'{ // mine\n "debug": true }')


def test_duplicate_keys_are_refused_because_the_daemon_would_silently_take_the_last():
    with pytest.raises(HostFileError, match="`debug` appears twice"):
        parse_daemon_json(b'{"debug": true, "debug": false}')


def test_a_utf8_bom_and_utf16_are_read_as_the_daemon_reads_them():
    assert parse_daemon_json(codecs.BOM_UTF8 + b'{"debug": true}') == {"debug": True}
    assert parse_daemon_json(codecs.BOM_UTF16_LE + '{"debug": true}'.encode("utf-16-le")) == {"debug": True}


def test_a_top_level_array_is_refused():
    with pytest.raises(HostFileError, match="JSON object"):
        parse_daemon_json(b"[]")


def test_operator_keys_stay_in_their_order_and_managed_keys_are_set():
    existing = b'{\n  "data-root": "/srv/docker",\n  "icc": true,\n  "log-opts": {"labels": "app"}\n}\n'
    [out] = render_daemon_json(settings(icc=False, **{"log-opts": {"max-size": "10m"}}), host_with(existing))
    doc = json.loads(out.content)
    assert list(doc) == ["data-root", "icc", "log-opts"]
    assert doc == {"data-root": "/srv/docker", "icc": False, "log-opts": {"labels": "app", "max-size": "10m"}}


def test_output_is_stable_two_space_indented_with_a_trailing_newline():
    [a] = render_daemon_json(settings(icc=False), host_with(None))
    [b] = render_daemon_json(settings(icc=False), host_with(None))
    assert a.content == b.content == b'{\n  "icc": false\n}\n'
    assert a.mode == 0o644 and (a.uid, a.gid) == (0, 0)


def test_a_stricter_mode_the_operator_chose_is_kept_and_a_looser_one_tightened():
    [strict] = render_daemon_json(settings(icc=False), host_with(b"{}", mode=0o600))
    [loose] = render_daemon_json(settings(icc=False), host_with(b"{}", mode=0o666))
    assert strict.mode == 0o600 and loose.mode == 0o644


def test_a_key_no_layer_manages_any_more_gets_the_operators_value_back():
    from dockharden.targets.daemon_json import desired_daemon_config, managed_record

    operator = {"icc": True, "debug": True}
    with_userns = merge_layers([Layer("b", source="b", tables={"daemon": {"icc": False, "userns-remap": "default"}})])
    state = managed_record(operator, with_userns, {})
    applied = desired_daemon_config(operator, with_userns, state)
    assert applied == {"icc": False, "debug": True, "userns-remap": "default"}
    without = merge_layers([Layer("b", source="b", tables={"daemon": {"debug": True}})])
    assert desired_daemon_config(applied, without, state) == {"icc": True, "debug": True}
