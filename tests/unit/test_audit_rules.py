import pytest

from dockharden.core.merge import merge_layers
from dockharden.errors import RenderError
from dockharden.model import HostSnapshot, Layer
from dockharden.targets.audit_rules import audit_watches, check_audit_syntax, render_audit_rules


def test_controls_1_1_3_and_1_1_4_are_watched_even_when_absent():
    paths = {w.path for w in audit_watches(frozenset())}
    assert {"/usr/bin/dockerd", "/run/containerd", "/etc/docker/daemon.json"} <= paths
    assert "/var/lib/docker" not in paths


def test_unit_files_are_resolved_to_where_this_distro_keeps_them():
    watches = audit_watches(frozenset({"/lib/systemd/system/docker.service", "/usr/sbin/dockerd"}))
    paths = [w.path for w in watches]
    assert "/lib/systemd/system/docker.service" in paths and "/usr/sbin/dockerd" in paths
    assert "/etc/systemd/system/docker.service" not in paths


def test_rendered_rules_have_one_watch_per_path_with_the_key():
    settings = merge_layers([Layer("b", source="b", tables={"audit": {"enabled": True, "key": "docker"}})])
    host = HostSnapshot(root="/", files={}, existing_paths=frozenset({"/etc/docker", "/var/lib/docker"}))
    [rules] = render_audit_rules(settings, host)
    text = rules.content.decode()
    assert "-w /etc/docker -p rwxa -k docker\n" in text and "-w /var/lib/docker -p rwxa -k docker\n" in text
    watched = [line for line in text.splitlines() if line.startswith("-w")]
    assert len(watched) == len(set(watched))


def test_a_malformed_rule_is_caught_before_writing():
    with pytest.raises(RenderError, match="line 2"):
        check_audit_syntax("# ok\n-w /etc/docker -p rwxz -k docker\n")


def test_paths_the_operator_already_watches_are_not_duplicated():
    settings = merge_layers([Layer("b", source="b", tables={"audit": {"enabled": True}})])
    host = HostSnapshot(root="/", files={}, existing_paths=frozenset({"/etc/docker"}),
                        operator_watches={"/etc/docker": "/etc/audit/rules.d/site.rules"})
    [rules] = render_audit_rules(settings, host)
    assert "-w /etc/docker " not in rules.content.decode()
    assert "-w /etc/docker/daemon.json " in rules.content.decode()


def _rules_for(existing, argv=(), daemon_json=None):
    from dockharden.model import DaemonProcess, HostFile

    settings = merge_layers([Layer("b", source="b", tables={"audit": {"enabled": True}})])
    files = {"/etc/docker/daemon.json": HostFile("/etc/docker/daemon.json", exists=True,
                                                 content=daemon_json)} if daemon_json else {}
    host = HostSnapshot(root="/", files=files, existing_paths=frozenset(existing),
                        daemon=DaemonProcess(1, ("dockerd", *argv)) if argv is not None else None)
    [rules] = render_audit_rules(settings, host)
    return rules.content.decode()


@pytest.mark.parametrize("existing,argv,daemon_json,watched", [
    ({"/run/containerd/containerd.sock"}, (), None, "/run/containerd/containerd.sock"),
    ({"/run/docker/containerd/containerd.sock"}, (), None, "/run/docker/containerd/containerd.sock"),
    ({"/run/containerd/containerd.sock", "/srv/ctr.sock"}, ("--containerd=/srv/ctr.sock",), None, "/srv/ctr.sock"),
    ({"/run/containerd/containerd.sock", "/srv/ctr.sock"}, (), b'{"containerd": "/srv/ctr.sock"}', "/srv/ctr.sock"),
], ids=["system", "dockerd's own", "--containerd flag", "daemon.json containerd"])
def test_1_1_8_watches_the_containerd_socket_dockerd_really_uses(existing, argv, daemon_json, watched):
    text = _rules_for(existing, argv, daemon_json)
    sockets = [line.split()[1] for line in text.splitlines() if line.endswith(".sock -p rwxa -k docker")]
    assert sockets == [watched]


def test_1_1_8_watches_no_containerd_socket_that_does_not_exist():
    assert "containerd.sock" not in _rules_for(set(), ("--containerd=/srv/ctr.sock",))
