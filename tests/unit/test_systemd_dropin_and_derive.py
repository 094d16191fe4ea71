from dockharden.core.derive import derive
from dockharden.core.merge import merge_layers
from dockharden.model import HostFile, HostSnapshot, Layer
from dockharden.targets.systemd_dropin import PATH, join_exec, render_dropin, without_host_flags

DEBIAN_UNIT = ("/usr/sbin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock", "$DOCKER_OPTS")


def host(manager="systemd", unit=DEBIAN_UNIT, dropin=None):
    files = {PATH: HostFile(PATH, exists=dropin is not None, content=dropin)}
    return HostSnapshot(root="/", files=files, existing_paths=frozenset(), manager=manager, unit_exec=unit,
                        unit_exec_base=unit)


def tls_settings():
    return merge_layers([Layer("tls", source="tls", tables={"tls": {"enabled": True, "address": "tcp://0.0.0.0:2376"},
                                              "daemon": {"tlsverify": True}})])


def test_every_form_of_the_host_flag_is_removed_and_the_rest_kept():
    argv = ("dockerd", "-H", "fd://", "--host=tcp://x:1", "-Hunix:///s", "--host", "y", "--debug")
    assert without_host_flags(argv) == ("dockerd", "--debug")


def test_exec_lines_quote_for_systemd_but_leave_variables_to_systemd():
    assert join_exec(("/usr/bin/dockerd", "--label=a b", "$DOCKER_OPTS")) == '/usr/bin/dockerd "--label=a b" $DOCKER_OPTS'


def test_tls_under_systemd_socket_activation_keeps_fd_and_gets_a_dropin_without_h():
    settings = derive(tls_settings(), host())
    assert settings.table("daemon")["hosts"] == ["fd://", "tcp://0.0.0.0:2376"]
    assert settings.origin("daemon", ("hosts",)) == "tls"
    [dropin] = render_dropin(settings, host())
    text = dropin.content.decode()
    assert "ExecStart=\nExecStart=/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock $DOCKER_OPTS\n" in text


def test_without_systemd_the_unix_socket_is_kept_and_no_dropin_is_written():
    settings = derive(tls_settings(), host(manager="command"))
    assert settings.table("daemon")["hosts"] == ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"]
    assert render_dropin(settings, host(manager="command")) == []


def test_a_dropin_no_longer_needed_is_removed():
    no_tls = merge_layers([Layer("b", source="b", tables={"daemon": {"icc": False}})])
    [gone] = render_dropin(no_tls, host(dropin=b"[Service]\n"))
    assert gone.content is None


def test_a_layer_that_sets_hosts_itself_wins_over_the_derived_value():
    settings = merge_layers([Layer("tls", source="tls", tables={"tls": {"enabled": True}}),
                             Layer("mine", source="m",
                                   tables={"daemon": {"hosts": ["unix:///run/d.sock", "tcp://10.0.0.1:2376"]}})])
    assert derive(settings, host()).table("daemon")["hosts"] == ["unix:///run/d.sock", "tcp://10.0.0.1:2376"]


def test_a_strict_seccomp_layer_sets_the_daemon_wide_profile():
    settings = merge_layers([Layer("s", source="s", tables={"seccomp": {"enabled": True, "mode": "strict"}})])
    assert derive(settings, host()).table("daemon")["seccomp-profile"] == "/etc/docker/seccomp/default.json"
