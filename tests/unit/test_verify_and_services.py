from dockharden.execute.services import docker_service, watches
from dockharden.host.effective import Effective, compare_daemon
from dockharden.host.runner import Runner

INFO_20_10 = {"ServerVersion": "20.10.24+dfsg1", "LiveRestoreEnabled": True, "LoggingDriver": "json-file",
              "Driver": "overlay2", "Debug": False, "Labels": ["team=ops"],
              "SecurityOptions": ["name=seccomp,profile=default", "name=userns"], "CgroupDriver": "cgroupfs",
              "DockerRootDir": "/var/lib/docker/100000.100000"}


def effective(info=INFO_20_10, icc="false"):
    return Effective(info, {"com.docker.network.bridge.enable_icc": icc})


def test_the_effective_baseline_on_engine_20_10_has_no_mismatch():
    config = {"live-restore": True, "log-driver": "json-file", "storage-driver": "overlay2", "icc": False,
              "no-new-privileges": True, "userns-remap": "default", "labels": ["team=ops"],
              "data-root": "/var/lib/docker", "log-opts": {"max-size": "10m"}}
    assert compare_daemon(config, effective()) == []


def test_a_setting_the_daemon_does_not_run_with_is_a_mismatch_naming_both_values():
    wrong = compare_daemon({"live-restore": False, "icc": False}, effective(icc="true"))
    assert {m.key for m in wrong} == {"live-restore", "icc"}
    assert "wanted false" in str(next(m for m in wrong if m.key == "live-restore"))


def test_security_options_are_compared_as_a_set_and_no_new_privileges_only_from_24():
    info = dict(INFO_20_10, ServerVersion="27.1.0", SecurityOptions=["name=userns", "name=seccomp,profile=builtin"])
    assert [m.key for m in compare_daemon({"no-new-privileges": True}, effective(info))] == ["no-new-privileges"]
    assert compare_daemon({"no-new-privileges": True}, effective()) == []
    assert compare_daemon({"seccomp-profile": "builtin"}, effective(info)) == []


def test_the_containerd_image_store_reports_overlayfs_for_overlay2():
    assert compare_daemon({"storage-driver": "overlay2"}, effective(dict(INFO_20_10, Driver="overlayfs"))) == []


def test_audit_watches_are_read_from_rules_text():
    text = "## comment\n-w /etc/docker -p rwxa -k docker\n-a always,exit -F arch=b64 -S mount\n"
    assert watches(text) == {("/etc/docker", "rwxa", "docker")}


def test_a_command_service_manager_splits_strings_like_a_shell_but_runs_no_shell(tmp_path):
    config = {"service": {"manager": "command", "restart_command": "/usr/local/bin/dockerd-ctl 'restart now'"}}
    service = docker_service(str(tmp_path), config, Runner())
    assert service.restart == ("/usr/local/bin/dockerd-ctl", "restart now") and service.reload is None


def test_systemd_clears_a_failed_state_before_restarting(tmp_path):
    service = docker_service(str(tmp_path), {"service": {"manager": "systemd"}}, Runner())
    assert service.before_restart == ("systemctl", "reset-failed", "docker")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("ci:x:1001:1001::/home/ci:/bin/sh\n")
    rootless = docker_service(str(tmp_path), {"service": {"manager": "rootless", "user": "ci"}}, Runner())
    assert rootless.restart == ("systemctl", "--user", "--machine=ci@", "restart", "docker")
    assert rootless.reload is None and rootless.pidfiles == ("/run/user/1001/docker.pid",)


class FakeAuditctl(Runner):
    """auditctl with a kernel rule list in memory (the real one is machine-wide)."""

    def __init__(self, loaded):
        super().__init__()
        self.loaded = set(loaded)

    def run(self, argv, **kwargs):
        from dockharden.host.runner import Result

        if argv[:2] == ["auditctl", "-l"]:
            return Result(tuple(argv), 0, "".join(f"-w {p} -p {m} -k {k}\n" for p, m, k in sorted(self.loaded)), "")
        rule = (argv[2], argv[4], argv[6])
        (self.loaded.discard if argv[1] == "-W" else self.loaded.add)(rule)
        return Result(tuple(argv), 0, "", "")


def test_audit_sync_removes_only_watches_our_previous_file_had_never_the_operators():
    from dockharden.execute.services import sync_audit_rules

    operator = ("/etc/docker", "wa", "docker")
    ours_old = ("/var/lib/docker", "rwxa", "docker")
    runner = FakeAuditctl({operator, ours_old})
    sync_audit_rules(runner, "-w /var/lib/docker -p rwxa -k docker\n", "-w /usr/bin/dockerd -p rwxa -k docker\n")
    assert runner.loaded == {operator, ("/usr/bin/dockerd", "rwxa", "docker")}


def test_a_file_row_of_verify_says_what_differs_the_mode_and_owner_found_against_those_wanted():
    from dockharden.inspect.verify import _change_detail
    from dockharden.model import Change, HostFile, RenderedFile

    key = "/etc/docker/tls/server-key.pem"
    loosened = Change("tls", path=key, action="update",
                      old=HostFile(key, exists=True, content=b"k", mode=0o644, uid=0, gid=0),
                      new=RenderedFile("tls", path=key, content=b"k", mode=0o400, secret=True), mode_change=(0o644,
                                                                                                             0o400),
                      owner_change=((1000, 0), (0, 0)))
    assert _change_detail(loosened) == ("would be updated by apply (run `dockharden plan`): mode 0644, wanted 0400; "
                                        "owner 1000:0, wanted 0:0")
    edited = Change("daemon.json", path="/etc/docker/daemon.json", action="update",
                    old=HostFile("/etc/docker/daemon.json", exists=True, content=b"{}"),
                    new=RenderedFile("daemon.json", path="/etc/docker/daemon.json", content=b'{"icc": false}'))
    assert _change_detail(edited).endswith(": its content differs")


class UserSystemd(Runner):
    """`systemctl --user show docker` answering from a list of states, and journalctl recording its argv."""

    def __init__(self, states):
        super().__init__()
        self.states, self.calls = list(states), []

    def run(self, argv, **kwargs):
        from dockharden.host.runner import Result

        self.calls.append(tuple(argv))
        if "show" in argv:
            state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
            return Result(tuple(argv), 0, "".join(f"{k}={v}\n" for k, v in state.items()), "")
        return Result(tuple(argv), 0, 'level=info msg="x"\nfailed to start daemon: unknown log opt\n', "")


def rootless_root(tmp_path):
    (tmp_path / "etc").mkdir(exist_ok=True)
    (tmp_path / "etc/passwd").write_text("ci:x:1001:1001::/home/ci:/bin/sh\n")
    return str(tmp_path)


RUNNING = {"ActiveState": "active", "SubState": "running", "NRestarts": "0"}


def test_a_rootless_daemon_that_exits_after_its_restart_returned_is_seen_without_waiting_for_its_socket(tmp_path):
    # The rootless unit is Type=simple: `systemctl --user restart` returns before dockerd reads its file.
    from dockharden.execute.services import exit_watch

    service = docker_service(rootless_root(tmp_path), {"service": {"manager": "rootless", "user": "ci"}}, Runner())
    assert service.status[:3] == ("systemctl", "--user", "--machine=ci@")
    for later in ({"ActiveState": "activating", "SubState": "auto-restart", "NRestarts": "0"},
                  {"ActiveState": "failed", "SubState": "failed", "NRestarts": "0"},
                  {"ActiveState": "active", "SubState": "running", "NRestarts": "1"}):
        exited = exit_watch(service, UserSystemd([RUNNING, later]))
        assert exited() is True, later
    assert exit_watch(service, UserSystemd([RUNNING])).__call__() is False
    system = docker_service(str(tmp_path), {"service": {"manager": "systemd"}}, Runner())
    assert system.status is None and exit_watch(system, UserSystemd([RUNNING]))() is False


def test_waiting_for_the_daemon_stops_as_soon_as_it_has_exited(tmp_path):
    from dockharden.host.effective import wait_for_daemon

    now = [0.0]

    def clock():
        now[0] += 0.25
        return now[0]

    checks = []
    assert wait_for_daemon(str(tmp_path / "no.sock"), 60, lambda m: None, clock,
                           exited=lambda: checks.append(1) or len(checks) == 2) is False
    assert now[0] < 3 and len(checks) == 2


def test_a_rootless_daemons_error_lines_come_from_its_users_docker_service_in_the_journal(tmp_path):
    from dockharden.execute.services import daemon_error_lines

    runner = UserSystemd([RUNNING])
    lines = daemon_error_lines(rootless_root(tmp_path), {"service": {"manager": "rootless", "user": "ci"}}, runner)
    assert lines == ["failed to start daemon: unknown log opt"]
    [argv] = [c for c in runner.calls if c[0] == "journalctl"]
    assert argv[1:3] == ("_UID=1001", "_SYSTEMD_USER_UNIT=docker.service")


def test_the_daemons_lines_since_an_action_are_all_read_never_cut_to_the_first_n(tmp_path):
    # journalctl 252 with -n and --since shows the first n lines after --since, not the last
    from dockharden.execute.services import LogMark, daemon_error_lines

    runner = UserSystemd([RUNNING])
    daemon_error_lines(rootless_root(tmp_path), {"service": {"manager": "rootless", "user": "ci"}}, runner,
                       LogMark(1796090134.7, ()))
    [argv] = [c for c in runner.calls if c[0] == "journalctl"]
    assert "--since=@1796090134" in argv and "-n" not in argv



def test_pools_the_daemon_reports_as_invalid_prefix_after_a_reload_are_not_a_mismatch():
    # Engine 28.5 after SIGHUP: the pools are still in use (new networks get 172.20.x.0/24), info cannot say so.
    config = {"default-address-pools": [{"base": "172.20.0.0/14", "size": 24}], "debug": True}
    info = dict(INFO_20_10, ServerVersion="28.5.2", Debug=True,
                SecurityOptions=["name=seccomp,profile=builtin"], DefaultAddressPools=[{"Base": "invalid Prefix", "Size": 24}])
    assert compare_daemon(config, effective(info)) == []
    wrong = dict(info, DefaultAddressPools=[{"Base": "10.10.0.0/16", "Size": 24}])
    assert [m.key for m in compare_daemon(config, effective(wrong))] == ["default-address-pools"]
