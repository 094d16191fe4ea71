"""The apply engine on a real dockerd: effective settings, least disruption, rollback, recovery, locking.

Each test's host runs dockerd through tests/host/dockerd-ctl, configured as dockharden's `command`
service manager, as on a host without systemd. Audit rules are machine-wide, so every test loads them
under a key of its own and removes exactly those afterwards.
"""

import json

import pytest
from managed_host import ORIGINAL, result_of, spawn_held


def test_apply_makes_baseline_and_userns_effective_and_keeps_the_operators_keys(managed):
    host = managed.host
    done = managed.apply("--profile", "baseline,userns", *managed.layers)
    assert done.returncode == 0, done.stdout + done.stderr
    assert result_of(done)["result"] == "applied"
    info = host.info()
    assert info["LiveRestoreEnabled"] is True and "name=userns" in info["SecurityOptions"]
    assert "team=ops" in info["Labels"] and info["LoggingDriver"] == "json-file"
    icc = host.docker("network", "inspect", "bridge", "--format",
                      '{{index .Options "com.docker.network.bridge.enable_icc"}}').stdout.strip()
    assert icc == "false"
    assert json.loads(managed.daemon_json())["labels"] == ["team=ops"]
    assert any(line.startswith("-w /etc/docker/daemon.json ") for line in managed.loaded_watches())
    assert host.dockharden("verify").returncode == 0


def test_a_second_apply_does_nothing_and_the_daemon_keeps_its_pid(managed):
    assert managed.apply("--profile", "baseline", *managed.layers).returncode == 0
    pid = managed.host.dockerd_pid()
    done = managed.apply()
    assert done.returncode == 0 and result_of(done)["result"] == "unchanged"
    assert managed.host.dockerd_pid() == pid
    history = json.loads(managed.host.dockharden("history", "--json").stdout)["generations"]
    assert [g["id"] for g in history] == ["0001"]


def test_a_reloadable_only_change_is_reloaded_by_sighup_with_the_same_pid(managed):
    assert managed.apply("--profile", "baseline", *managed.layers).returncode == 0
    pid = managed.host.dockerd_pid()
    debug = managed.write_layer("debug.toml", "[daemon]\ndebug = true\nlabels = [\"team=ops\", \"tier=prod\"]\n")
    done = managed.apply("--profile", "baseline", *managed.layers, "--layer", debug)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [s["action"] for s in result_of(done)["services"] if s["service"] == "docker"] == ["reload"]
    assert managed.host.dockerd_pid() == pid
    info = managed.host.info()
    assert info["Debug"] is True and "tier=prod" in info["Labels"]


def test_a_setting_the_daemon_refuses_at_start_is_rolled_back_with_the_previous_bytes_and_the_daemon_up(managed):
    bad = managed.write_layer("bad.toml", '[daemon.log-opts]\nmode = "banana"\n')
    done = managed.apply("--profile", "baseline", *managed.layers, "--layer", bad)
    assert done.returncode == 1, done.stdout
    result = result_of(done)
    assert result["result"] == "rolled_back"
    assert "mode not supported: banana" in " ".join(result["messages"])  # the daemon's own error line
    assert managed.daemon_json() == ORIGINAL
    assert managed.host.info()["LiveRestoreEnabled"] is False
    assert managed.loaded_watches() == []
    assert json.loads(managed.host.dockharden("history", "--json").stdout)["generations"][0]["result"] == "rolled_back"


def test_a_reload_the_daemon_refuses_is_detected_and_rolled_back(managed):
    assert managed.apply("--profile", "baseline", *managed.layers).returncode == 0
    before = managed.daemon_json()
    pid = managed.host.dockerd_pid()
    # a value the schema and plan's checks let through and the daemon's reload refuses (it wants 1 or more)
    bad = managed.write_layer("attempts.toml", '[daemon]\nmax-download-attempts = 0\n')
    done = managed.apply("--profile", "baseline", *managed.layers, "--layer", bad)
    assert done.returncode == 1 and result_of(done)["result"] == "rolled_back"
    assert "reload" in " ".join(result_of(done)["messages"])
    assert managed.daemon_json() == before and managed.host.dockerd_pid() == pid


@pytest.mark.parametrize("point", ["after-record", "after-write-0", "after-write-2", "during-restart",
                                   "during-verify"])
def test_sigkill_at_each_step_is_recovered_by_the_next_command_without_losing_the_original_files(managed, point):
    done = managed.apply("--profile", "baseline", *managed.layers, env={"DOCKHARDEN_FAILPOINT": f"kill:{point}"})
    assert done.returncode == -9, done.stdout + done.stderr
    plan = managed.host.dockharden("plan", *managed.layers)
    assert "interrupted" in plan.stdout
    again = managed.host.dockharden("rollback", "--to", "0001", "--yes", "--json")
    assert "recovered: generation 0001" in again.stderr, again.stderr
    assert managed.daemon_json() == ORIGINAL
    assert managed.host.info()["LiveRestoreEnabled"] is False  # the original config is in force
    assert managed.loaded_watches() == []
    assert not list((managed.host.dir / "etc/docker").glob(".daemon.json.dockharden-*"))
    final = managed.apply("--profile", "baseline", *managed.layers)
    assert final.returncode == 0 and result_of(final)["result"] == "applied"


def test_two_applies_at_once_exactly_one_proceeds(managed):
    first = spawn_held(managed.host, "after-lock", "apply", "--yes", "--profile", "baseline", *managed.layers)
    second = managed.apply("--profile", "baseline", *managed.layers)  # while the first holds the lock
    assert second.returncode == 1 and "holds the lock" in second.stderr
    first.go()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err


def test_rollback_to_the_first_generation_gives_back_the_original_bytes(managed):
    assert managed.apply("--profile", "baseline", *managed.layers).returncode == 0
    assert managed.apply("--profile", "baseline,userns", *managed.layers).returncode == 0
    assert "name=userns" in managed.host.info()["SecurityOptions"]
    done = managed.host.dockharden("rollback", "--to", "0001", "--yes", "--json", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert managed.daemon_json() == ORIGINAL
    assert not (managed.host.dir / "etc/audit/rules.d/docker.rules").exists()
    info = managed.host.info()
    assert "name=userns" not in info["SecurityOptions"] and info["LiveRestoreEnabled"] is False
    assert managed.loaded_watches() == []
    nothing = managed.host.dockharden("rollback", "--yes", "--json", timeout=180)  # a plain one goes further back
    assert nothing.returncode == 1 and "nothing left to roll back" in nothing.stderr, nothing.stdout + nothing.stderr
    rollback_id = json.loads(done.stdout)["generation"]
    undo = managed.host.dockharden("rollback", "--to", rollback_id, "--yes", "--json", timeout=180)
    assert undo.returncode == 0, undo.stdout + undo.stderr  # a rollback can be undone, explicitly
    assert "name=userns" in managed.host.info()["SecurityOptions"]


def test_with_live_restore_effective_a_running_container_survives_a_restart_requiring_apply(managed):
    assert managed.apply("--profile", "baseline", *managed.layers).returncode == 0
    image = managed.host.import_busybox_image()
    cid = managed.host.docker("run", "-d", image, "sleep", "600").stdout.strip()
    pid_before = managed.host.docker("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
    daemon_before = managed.host.dockerd_pid()
    bigger = managed.write_layer("logs.toml", '[daemon.log-opts]\nmax-size = "20m"\n')
    done = managed.apply("--profile", "baseline", *managed.layers, "--layer", bigger)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [s["action"] for s in result_of(done)["services"] if s["service"] == "docker"] == ["restart"]
    assert managed.host.dockerd_pid() != daemon_before
    state = managed.host.docker("inspect", "-f", "{{.State.Running}} {{.State.Pid}}", cid).stdout.split()
    assert state == ["true", pid_before]


def test_a_failure_after_a_successful_restart_is_rolled_back_with_the_daemon_restarted_on_the_restored_files(managed):
    host = managed.host
    pid = host.dockerd_pid()
    done = managed.apply("--profile", "baseline,userns", *managed.layers, env={"DOCKHARDEN_FAILPOINT": "fail:during-verify"})
    assert done.returncode == 1 and result_of(done)["result"] == "rolled_back", done.stdout + done.stderr
    assert "the daemon runs with them" in " ".join(result_of(done)["messages"])
    assert managed.daemon_json() == ORIGINAL
    info = host.info()  # the daemon's effective settings are the restored file's again
    assert info["LiveRestoreEnabled"] is False and "name=userns" not in info["SecurityOptions"]
    assert host.dockerd_pid() not in (None, pid)
    icc = host.docker("network", "inspect", "bridge", "--format",
                      '{{index .Options "com.docker.network.bridge.enable_icc"}}').stdout.strip()
    assert icc == "true"
    assert managed.loaded_watches() == []
    [generation] = json.loads(host.dockharden("history", "--json").stdout)["generations"]
    assert generation["result"] == "rolled_back"


def test_a_failure_after_a_successful_reload_undoes_even_what_sighup_keeps(managed):
    assert managed.apply("--profile", "baseline", *managed.layers).returncode == 0
    debug = managed.write_layer("debug.toml", "[daemon]\ndebug = true\n")
    before = managed.daemon_json()
    done = managed.apply("--profile", "baseline", *managed.layers, "--layer", debug,
                         env={"DOCKHARDEN_FAILPOINT": "fail:during-verify"})
    assert done.returncode == 1 and result_of(done)["result"] == "rolled_back", done.stdout + done.stderr
    assert managed.daemon_json() == before
    assert managed.host.info()["Debug"] is False  # a SIGHUP leaves debug on when the key is gone: restarted
