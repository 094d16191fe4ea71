"""Saved plans and what plan says about services, on a real dockerd (20.10, in a private namespace host).

A plan saved with `plan --out` is applied exactly, or refused when the daemon it was made against is no
longer the one running (its pid changed) or a container started that its restart would stop. A stopped
dockerd is left stopped, as the plan says.
"""

import json

from managed_host import ORIGINAL, result_of

MTU = "[daemon]\nmtu = 1442\n"  # not reloadable: a restart


def saved_plan(managed, *layers):
    """`plan --out` of baseline and the site layer (and `layers`), in the host's own directory (root's, 0755)."""
    path = str(managed.host.dir / "friday.plan")
    extra = [a for layer in layers for a in ("--layer", layer)]
    done = managed.host.dockharden("plan", "--profile", "baseline", *managed.layers, *extra, "--out", path,
                                   timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return path, done.stdout


def test_a_saved_plan_is_applied_exactly_on_a_real_daemon_and_is_in_force(managed):
    host = managed.host
    path, shown = saved_plan(managed)
    assert "docker restart:" in shown and "no container is running" in shown
    planned = {f["path"]: f for f in json.loads((host.dir / "friday.plan").read_text())["files"]}
    pid = host.dockerd_pid()
    assert json.loads((host.dir / "friday.plan").read_text())["inputs"]["daemon"]["pid"] == pid

    done = host.dockharden("apply", path, "--json", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    result = result_of(done)
    assert result["result"] == "applied" and set(result["written"]) == set(planned)
    assert [s["action"] for s in result["services"] if s["service"] == "docker"] == ["restart"]
    # not a terminal: each wait is a plain line when it begins and one with its duration when it ends
    for wait in ("restarting docker (command)", "verifying the settings in force"):
        assert f"dockharden: {wait}\n" in done.stderr and f"dockharden: {wait}: done in " in done.stderr
    assert host.dockerd_pid() != pid
    assert host.info()["LiveRestoreEnabled"] is True and "team=ops" in host.info()["Labels"]
    assert host.dockharden("verify").returncode == 0
    assert host.dockharden("plan", "--detailed-exitcode").returncode == 0  # nothing left to do


def test_a_saved_plan_is_refused_after_the_daemon_restarted_and_nothing_is_changed(managed):
    host = managed.host
    path, _ = saved_plan(managed)
    before = host.dockerd_pid()
    after = host.restart_dockerd()
    done = host.dockharden("apply", path, timeout=180)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"dockerd restarted (pid {before}, now {after})" in done.stderr
    assert "the host no longer matches the plan" in done.stderr and "nothing was changed" in done.stderr
    assert managed.daemon_json() == ORIGINAL and host.dockerd_pid() == after
    assert json.loads(host.dockharden("history", "--json").stdout)["generations"] == []


def test_a_restart_names_the_containers_it_keeps_and_a_container_started_since_refuses_the_plan(managed):
    host = managed.host
    image = host.import_busybox_image()
    host.docker("run", "-d", "--name", "web", image, "sleep", "600")
    path, shown = saved_plan(managed)
    assert "the 1 running container(s) keep running (web)" in shown
    assert "docker restart (containers keep running: live-restore)" in shown.splitlines()[-1]
    host.docker("run", "-d", "--name", "db", image, "sleep", "600")
    done = host.dockharden("apply", path, timeout=180)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "container(s) started that the plan's restart did not account for: db" in done.stderr
    assert managed.daemon_json() == ORIGINAL


def test_with_dockerd_stopped_plan_says_it_stays_stopped_and_apply_and_a_saved_plan_leave_it_stopped(managed):
    host = managed.host
    host.stop_dockerd()
    mtu = managed.write_layer("mtu.toml", MTU)
    path, shown = saved_plan(managed, mtu)
    services = shown[shown.index("Services:"):shown.index("\nPlan: ")]
    assert "docker restart not done: dockerd is not running: apply leaves it stopped" in services
    assert "docker restart:" not in services

    done = host.dockharden("apply", path, "--json", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {"service": "docker", "action": "left stopped"} in result_of(done)["services"]
    assert host.dockerd_pid() is None  # exactly as the plan said
    assert json.loads(managed.daemon_json())["mtu"] == 1442

    host.ctl("start", check=True)  # the operator starts it: it runs the new settings
    assert host.info()["LiveRestoreEnabled"] is True
