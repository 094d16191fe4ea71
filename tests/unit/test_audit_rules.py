import pytest

from dockharden.errors import RenderError
from dockharden.merge import merge_layers
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
    settings = merge_layers([Layer("b", "b", {"audit": {"enabled": True, "key": "docker"}})])
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
    settings = merge_layers([Layer("b", "b", {"audit": {"enabled": True}})])
    host = HostSnapshot(root="/", files={}, existing_paths=frozenset({"/etc/docker"}),
                        operator_watches={"/etc/docker": "/etc/audit/rules.d/site.rules"})
    [rules] = render_audit_rules(settings, host)
    assert "-w /etc/docker " not in rules.content.decode()
    assert "-w /etc/docker/daemon.json " in rules.content.decode()
