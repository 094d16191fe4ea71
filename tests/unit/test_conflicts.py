import pytest

from dockharden.core.conflicts import check_conflicts
from dockharden.core.merge import merge_layers
from dockharden.errors import ConflictError
from dockharden.model import DaemonProcess, HostFile, HostSnapshot, Layer

FLAGS = {"hosts": ["--host", "-H"], "containerd": ["--containerd"], "iptables": ["--iptables"]}


def host(argv=(), info=None, existing=()):
    daemon = DaemonProcess(42, ("/usr/bin/dockerd",) + tuple(argv)) if argv else None
    return HostSnapshot(root="/", files={}, existing_paths=frozenset(existing), daemon=daemon, daemon_info=info)


def settings(**daemon):
    return merge_layers([Layer("mine", source="mine.toml", tables={"daemon": daemon})])


def check(config, h=None, written=()):
    return check_conflicts(config, settings(**config), h or host(), FLAGS, set(written))


def test_hosts_in_daemon_json_while_dockerd_runs_with_h_fd_is_refused_with_the_dropin_hint():
    with pytest.raises(ConflictError) as err:
        check({"hosts": ["unix:///var/run/docker.sock"]}, host(["-H", "fd://"]))
    assert "`hosts`" in str(err.value) and "-H" in str(err.value) and "drop-in" in str(err.value)


def test_a_flag_given_as_name_equals_value_is_detected_too():
    with pytest.raises(ConflictError, match="--containerd"):
        check({"containerd": "/run/containerd/containerd.sock"},
              host(["--containerd=/run/containerd/containerd.sock"]))


def test_icc_false_with_iptables_false_is_refused():
    with pytest.raises(ConflictError, match="iptables"):
        check({"icc": False, "iptables": False})


def test_tcp_without_tls_client_verification_is_refused():
    with pytest.raises(ConflictError, match="without TLS client verification"):
        check({"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]})
    with pytest.raises(ConflictError):
        check({"hosts": ["tcp://0.0.0.0:2376"], "tls": True, "tlsverify": False})


def test_tcp_without_tls_on_a_loopback_address_is_kept_with_a_warning_naming_who_still_reaches_it():
    for address in ("tcp://127.0.0.1:2375", "tcp://127.0.1.1:2375", "tcp://[::1]:2375"):
        notes = check({"hosts": [address, "unix:///var/run/docker.sock"]})
        said = [n.message for n in notes if address in n.message]
        assert len(said) == 1 and "every local user" in said[0] and "host networking" in said[0], notes


def test_tcp_without_tls_on_every_interface_a_public_address_or_a_name_stays_refused_beside_a_loopback_one():
    for address in ("tcp://0.0.0.0:2375", "tcp://[::]:2375", "tcp://:2375", "tcp://192.0.2.10:2375",
                    "tcp://localhost:2375", "tcp://docker.example.net:2375"):
        with pytest.raises(ConflictError, match="without TLS client verification") as refused:
            check({"hosts": ["tcp://127.0.0.1:2375", address]})
        assert address in str(refused.value) and refused.value.key == "hosts"


def test_a_loopback_tcp_host_with_tls_client_verification_has_no_warning():
    certs = ("/etc/docker/tls/ca.pem", "/etc/docker/tls/cert.pem", "/etc/docker/tls/key.pem")
    notes = check({"hosts": ["tcp://127.0.0.1:2376"], "tlsverify": True, "tlscacert": certs[0], "tlscert": certs[1],
                   "tlskey": certs[2]}, host(existing=certs))
    assert not [n for n in notes if "127.0.0.1" in n.message]


def test_tcp_with_tlsverify_and_existing_certificates_passes():
    certs = ("/etc/docker/tls/ca.pem", "/etc/docker/tls/cert.pem", "/etc/docker/tls/key.pem")
    check({"hosts": ["tcp://0.0.0.0:2376"], "tlsverify": True, "tlscacert": certs[0], "tlscert": certs[1],
           "tlskey": certs[2]}, host(existing=certs))


def test_a_runtime_field_dockerd_ignores_is_kept_and_named_in_a_warning():
    notes = check({"runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"},
                                "crun": {"Path": "/usr/bin/crun", "runtimeArgs": []}}})
    said = [n.message for n in notes if n.message.startswith("runtimes.")]
    assert len(said) == 2, notes
    assert "runtimes.crun.Path: dockerd reads it as `path`" in said[0]
    assert "runtimes.nvidia.args is not a runtime field" in said[1] and "`runtimeArgs`" in said[1]
    assert not [n for n in check({"runtimes": {"x": {"path": "/bin/x", "runtimeArgs": ["-d"]}}}, host(existing=["/bin/x"]))
                if n.message.startswith("runtimes.")]


def test_live_restore_on_a_swarm_node_is_refused():
    with pytest.raises(ConflictError, match="swarm"):
        check({"live-restore": True}, host(info={"Swarm": {"LocalNodeState": "active"}}))


def test_userns_remap_on_a_rootless_daemon_is_refused():
    with pytest.raises(ConflictError, match="rootless"):
        check({"userns-remap": "default"}, host(info={"SecurityOptions": ["name=seccomp", "name=rootless"]}))


def test_userns_remap_with_the_containerd_image_store_is_refused():
    with pytest.raises(ConflictError, match="containerd-snapshotter"):
        check({"userns-remap": "default", "features": {"containerd-snapshotter": True}})


def test_a_seccomp_profile_that_does_not_exist_is_refused_unless_this_plan_writes_it():
    with pytest.raises(ConflictError, match="does not exist"):
        check({"seccomp-profile": "/etc/docker/seccomp/default.json"})
    check({"seccomp-profile": "/etc/docker/seccomp/default.json"}, written=["/etc/docker/seccomp/default.json"])


def test_userns_remap_warns_that_existing_images_disappear():
    notes = check({"userns-remap": "default"})
    assert any("data root" in n.message for n in notes)


def test_a_default_ulimit_the_daemon_cannot_grant_is_refused_before_containers_break():
    daemon = DaemonProcess(42, ("dockerd",), {"nofile": 20000}, can_raise_limits=False)
    h = HostSnapshot(root="/", files={}, existing_paths=frozenset(), daemon=daemon)
    with pytest.raises(ConflictError, match="every container would fail to start"):
        check({"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 65536, "Soft": 65536}}}, h)
    check({"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 20000, "Soft": 20000}}}, h)
    able = HostSnapshot(root="/", files={}, existing_paths=frozenset(),
                        daemon=DaemonProcess(42, ("dockerd",), {"nofile": 20000}, can_raise_limits=True))
    check({"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 65536, "Soft": 65536}}}, able)


def test_json_file_rotation_options_with_another_log_driver_are_refused_naming_the_unset():
    with pytest.raises(ConflictError, match=r'log-opts/max-size'):
        check({"log-driver": "journald", "log-opts": {"max-size": "10m"}})
    check({"log-driver": "journald", "log-opts": {"tag": "x"}})


def test_a_named_remap_user_needs_ranges_and_ranges_must_not_overlap():
    files = {"/etc/passwd": b"root:x:0:0::/root:/bin/sh\nremap:x:999:999::/:/bin/false\n",
             "/etc/subuid": b"remap:100000:65536\nalice:150000:65536\n", "/etc/subgid": b"remap:100000:65536\n"}
    h = HostSnapshot(root="/", files={p: HostFile(p, exists=True, content=c) for p, c in files.items()},
                     existing_paths=frozenset())
    with pytest.raises(ConflictError, match="overlaps alice"):
        check({"userns-remap": "remap"}, h)
    files["/etc/subuid"] = b"remap:100000:65536\nalice:200000:65536\n"
    h = HostSnapshot(root="/", files={p: HostFile(p, exists=True, content=c) for p, c in files.items()},
                     existing_paths=frozenset())
    check({"userns-remap": "remap"}, h)
    with pytest.raises(ConflictError, match="no range"):
        check({"userns-remap": "bob"}, h)


def test_the_ufw_block_is_refused_when_docker_uses_nftables_or_the_other_iptables():
    nft = HostSnapshot(root="/", files={}, existing_paths=frozenset(),
                       daemon_info={"FirewallBackend": {"Driver": "nftables"}})
    ufw = merge_layers([Layer("b", source="b", tables={"ufw": {"enabled": True}})])
    with pytest.raises(ConflictError, match="nftables"):
        check_conflicts({}, ufw, nft, FLAGS, set())
    mixed = HostSnapshot(root="/", files={}, existing_paths=frozenset(),
                         firewall={"variant": "nf_tables", "docker_chains": ["legacy"]})
    with pytest.raises(ConflictError, match="iptables-legacy"):
        check_conflicts({}, ufw, mixed, FLAGS, set())


def test_the_userns_warning_counts_what_disappears_and_names_containers_that_break():
    h = HostSnapshot(root="/", files={}, existing_paths=frozenset(), userns_impact={
        "images": 3, "containers": 2, "volumes": 1, "incompatible": [{"name": "vpn", "uses": ["host network"]}]})
    [note] = check({"userns-remap": "default"}, h)
    assert "3 image(s), 2 container(s) and 1 volume(s)" in note.message and "vpn (host network)" in note.message
