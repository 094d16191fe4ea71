import json

from dockharden.core.merge import merge_layers
from dockharden.core.plan import make_plan
from dockharden.model import HostFile, HostSnapshot, Layer, RenderedFile, Selection

PATH = "/etc/docker/daemon.json"
RELOADABLE = frozenset({"debug", "live-restore", "labels"})


def plan_for(old: dict | None, new: dict, info=None, ufw_enabled=False, extra=()):
    settings = merge_layers([Layer("baseline", source="b", tables={"daemon": new})])
    content = None if old is None else json.dumps(old).encode()
    files = {PATH: HostFile(PATH, exists=old is not None, content=content, mode=0o644 if old is not None else None,
                            uid=0, gid=0)}
    host = HostSnapshot(root="/", files=files, existing_paths=frozenset(), daemon_info=info,
                        ufw_enabled=ufw_enabled)
    rendered = [RenderedFile("daemon.json", path=PATH,
                             content=(json.dumps(new, indent=2) + "\n").encode())] + list(extra)
    return make_plan(Selection(("baseline",), layers=()), settings, host, rendered, [], RELOADABLE)


def test_only_reloadable_keys_changed_means_a_reload():
    plan = plan_for({"debug": False}, {"debug": True, "live-restore": True})
    assert [(s.service, s.action) for s in plan.services] == [("docker", "reload")]


def test_any_other_key_means_a_restart_and_says_whether_containers_survive():
    plan = plan_for({}, {"icc": False}, info={"LiveRestoreEnabled": False, "ContainersRunning": 0})
    [docker] = plan.services
    assert docker.action == "restart" and "icc" in docker.reason and "no container is running" in docker.reason
    assert docker.steps == ("restart",)


def test_key_changes_name_the_layer_that_caused_them():
    plan = plan_for({"icc": True, "data-root": "/srv"}, {"icc": False, "data-root": "/srv"})
    [change] = plan.changes
    assert [(k.kind, k.path, k.old, k.new, k.layer) for k in change.key_changes] == [
        ("changed", "icc", True, False, "baseline")]


def test_a_file_whose_bytes_and_mode_match_is_unchanged_and_not_in_changes():
    doc = {"icc": False}
    settings_bytes = (json.dumps(doc, indent=2) + "\n").encode()
    plan = plan_for(None, doc)
    assert plan.changes[0].action == "create"
    settings = merge_layers([Layer("baseline", source="b", tables={"daemon": doc})])
    host = HostSnapshot(root="/",
                        files={PATH: HostFile(PATH, exists=True, content=settings_bytes, mode=0o644, uid=0, gid=0)},
                        existing_paths=frozenset())
    again = make_plan(Selection(("baseline",), layers=()), settings, host,
                      [RenderedFile("daemon.json", path=PATH, content=settings_bytes)], [], RELOADABLE)
    assert again.changes == () and again.unchanged == (PATH,) and again.services == ()


def test_ufw_is_reloaded_only_when_it_is_active():
    rules = RenderedFile("ufw", path="/etc/ufw/after.rules", content=b"x\n", mode=0o640)
    assert [s.service for s in plan_for({}, {}, extra=[rules]).services] == []
    assert [s.service for s in plan_for({}, {}, ufw_enabled=True, extra=[rules]).services] == ["ufw"]


def test_removing_a_key_a_reload_would_not_revert_needs_a_restart():
    plan = plan_for({"debug": True, "icc": False}, {"icc": False})
    [docker] = plan.services
    assert docker.action == "restart" and "removal of debug" in docker.reason


def test_key_changes_go_down_to_the_innermost_map_and_treat_lists_whole():
    from dockharden.core.plan import diff_documents

    old = {"log-opts": {"max-size": "5m", "tag": "x"}, "dns": ["1.1.1.1"], "debug": 1}
    new = {"log-opts": {"max-size": "10m"}, "dns": ["1.1.1.1", "9.9.9.9"], "debug": True, "icc": False}
    assert sorted(diff_documents(old, new)) == sorted([
        ("changed", ("log-opts", "max-size"), "5m", "10m"), ("removed", ("log-opts", "tag"), "x", None),
        ("changed", ("dns",), ["1.1.1.1"], ["1.1.1.1", "9.9.9.9"]), ("changed", ("debug",), 1, True),
        ("added", ("icc",), None, False)])
    assert diff_documents({"a": [1, {"b": True}]}, {"a": [1, {"b": True}]}) == []


def test_deleting_a_daemon_json_removes_each_of_its_keys_and_restarts_docker():
    # what a rollback of the apply that created the file plans: the daemon must drop those settings too
    settings = merge_layers([])
    old = {"live-restore": True, "log-driver": "json-file", "debug": True}
    host = HostSnapshot(root="/",
                        files={PATH: HostFile(PATH, exists=True, content=json.dumps(old).encode(), mode=0o644, uid=0,
                                              gid=0)},
                        existing_paths=frozenset(), daemon_info={"LiveRestoreEnabled": True, "ContainersRunning": 0})
    plan = make_plan(Selection((), layers=(), source="rollback"), settings, host,
                     [RenderedFile("daemon.json", path=PATH, content=None)], [],
                     RELOADABLE)
    [change] = plan.changes
    assert change.action == "delete"
    assert {(k.kind, k.path) for k in change.key_changes} == {("removed", "debug"), ("removed", "live-restore"),
                                                              ("removed", "log-driver")}
    [docker] = plan.services
    assert docker.action == "restart" and "log-driver" in docker.reason


def test_every_unchanged_file_carries_the_reason_nothing_is_done():
    from dockharden.core.plan import unchanged_reason
    from dockharden.model import HostFile, RenderedFile

    same = RenderedFile("ufw", path="/etc/ufw/after.rules", content=b"x", mode=0o640)
    assert unchanged_reason(same, HostFile("/etc/ufw/after.rules", exists=True, content=b"x", mode=0o640)) == (
        "the managed DOCKER-USER block (the rules around it are the operator's), mode 0640 and owner 0:0 "
        "already as rendered")
    key = RenderedFile("tls", path="/etc/docker/tls/server-key.pem", content=b"k", mode=0o400, secret=True)
    assert unchanged_reason(key,
                            HostFile(key.path, exists=True, content=b"k",
                                     mode=0o400)).startswith("the private key, mode 0400")
    gone = RenderedFile("systemd", path="/etc/systemd/system/docker.service.d/dockharden.conf", content=None)
    assert unchanged_reason(gone, HostFile(gone.path, exists=False)) == "absent, as it should be: no layer renders it"
