"""A plan says exactly what apply will do: the summary counts what it says, no service action is promised
that apply will not take, and a restart says which containers it stops."""

import json

from dockharden.core.merge import merge_layers
from dockharden.core.plan import hold_services, make_plan
from dockharden.model import Container, DaemonProcess, HostFile, HostSnapshot, Layer, RenderedFile, Selection
from dockharden.report import plan_document, render_plan, summary_line

PATH = "/etc/docker/daemon.json"
RULES = "/etc/audit/rules.d/docker.rules"
DROPIN = "/etc/systemd/system/docker.service.d/dockharden.conf"
RELOADABLE = frozenset({"debug", "labels"})
RUNNING = DaemonProcess(4242, ("dockerd",))


def host_with(info=None, daemon=None, containers=(), files=()):
    return HostSnapshot(root="/", files={f.path: f for f in files}, existing_paths=frozenset(), daemon=daemon,
                        daemon_info=info,
                        containers=tuple(Container(name, id=name * 2) for name in containers))


def plan_on(host, new=None, extra=(), *, live=True, restart=True):
    new = {"icc": False} if new is None else new
    settings = merge_layers([Layer("baseline", source="b", tables={"daemon": new})])
    rendered = [RenderedFile("daemon.json", path=PATH, content=(json.dumps(new, indent=2) + "\n").encode()), *extra]
    plan = make_plan(Selection(("baseline",), layers=()), settings, host, rendered, [], RELOADABLE)
    return hold_services(plan, host, live=live, restart=restart)


def rules_file():
    return RenderedFile("audit", path=RULES, content=b"-w /usr/bin/dockerd -p rwxa -k docker\n", mode=0o640)


def dropin_file():
    return RenderedFile("systemd", path=DROPIN, content=b"[Service]\n")


def test_a_stopped_dockerd_is_left_stopped_and_the_other_services_are_still_acted_on():
    plan = plan_on(host_with(), extra=[rules_file(), dropin_file()])
    assert [(s.service, s.action) for s in plan.services] == [("systemd", "daemon-reload"), ("auditd", "reload")]
    [docker] = plan.left
    assert (docker.service, docker.action) == ("docker", "restart")
    assert "dockerd is not running" in docker.left_because and "leaves it stopped" in docker.left_because
    text = render_plan(plan, "/")
    services = text[text.index("Services:"):text.index("Plan:")]
    assert "docker restart not done: dockerd is not running" in services
    assert "docker restart:" not in services  # no restart promised next to "not running"
    assert summary_line(plan).endswith("; systemd daemon-reload, dockerd is not running and stays stopped, "
                                       "auditd reload")


def test_a_root_that_is_not_the_running_system_promises_no_service_action():
    host = HostSnapshot(root="/mnt/image", files={}, existing_paths=frozenset())
    plan = plan_on(host, extra=[rules_file()], live=False)
    assert plan.services == ()
    assert [(s.service, s.action) for s in plan.needed] == [("docker", "restart"), ("auditd", "reload")]
    assert {s.left_because for s in plan.left} == {
        "--root /mnt/image is not the running system: apply writes the files only (as with --no-restart); the "
        "system that starts from it reads them when its services start"}
    assert "docker restart, auditd reload not done: --root /mnt/image" in render_plan(plan, "/mnt/image")
    assert summary_line(plan) == "2 to create, 0 to update, 0 to delete; no service is touched (the root is not " \
                                 "the running system)"


def test_no_restart_promises_no_service_action_even_with_a_running_daemon():
    plan = plan_on(host_with({"LiveRestoreEnabled": True, "ContainersRunning": 2}, RUNNING), restart=False)
    assert plan.services == () and [s.service for s in plan.left] == ["docker"]
    assert summary_line(plan).endswith("; no service is touched (--no-restart)")


def test_a_restart_while_containers_run_turns_live_restore_on_by_reload_first_and_keeps_them():
    host = host_with({"LiveRestoreEnabled": False, "ContainersRunning": 2}, RUNNING, containers=("db", "web"))
    [docker] = plan_on(host, new={"icc": False, "live-restore": True}).services
    assert docker.steps == ("reload: live-restore on", "restart")
    assert docker.stops == ()
    assert "live-restore is turned on by a reload first: the 2 running container(s) keep running (db, web)" \
        in docker.reason
    assert summary_line(plan_on(host)) == "1 to create, 0 to update, 0 to delete; docker restart (containers keep " \
                                          "running: live-restore)"
    assert "in this order: reload: live-restore on; then restart" in render_plan(
        plan_on(host, new={"icc": False, "live-restore": True}), "/")
    assert plan_document(plan_on(host), "/")["services"][0]["containers_stop"] == []


def test_a_restart_to_a_file_without_live_restore_keeps_it_on_through_the_restart_and_turns_it_off_after():
    host = host_with({"LiveRestoreEnabled": True, "ContainersRunning": 1}, RUNNING, containers=("web",))
    [docker] = plan_on(host, new={"icc": False}).services
    assert docker.steps == ("restart", "reload: live-restore off")
    assert "a reload turns it off afterwards" in docker.reason and docker.stops == ()


def test_a_restart_from_live_restore_to_live_restore_is_one_restart():
    host = host_with({"LiveRestoreEnabled": True, "ContainersRunning": 3}, RUNNING, containers=("a", "b", "c"))
    plan = plan_on(host, new={"live-restore": True, "userland-proxy": False})
    assert summary_line(plan) == "1 to create, 0 to update, 0 to delete; docker restart (containers keep " \
                                 "running: live-restore)"
    assert plan.services[0].stops == () and plan.services[0].steps == ("restart",)


def test_the_default_bridge_keys_are_pending_while_containers_are_kept_running():
    host = host_with({"LiveRestoreEnabled": True, "ContainersRunning": 1}, RUNNING, containers=("web",))
    [docker] = plan_on(host, new={"icc": False, "mtu": 1400, "live-restore": True}).services
    assert docker.pending == ("icc", "mtu")
    assert "icc, mtu take(s) effect only at the first docker restart with no container running" in docker.reason
    assert "web" in docker.reason
    assert plan_document(plan_on(host, new={"icc": False, "live-restore": True}), "/")["services"][0][
        "pending_until_no_container_runs"] == ["icc"]


def test_nothing_is_pending_when_no_container_runs():
    host = host_with({"LiveRestoreEnabled": False, "ContainersRunning": 0}, RUNNING)
    [docker] = plan_on(host, new={"icc": False}).services
    assert docker.pending == () and docker.steps == ("restart",)


def test_a_swarm_node_restart_names_the_containers_that_stop_and_whether_each_comes_back():
    info = {"LiveRestoreEnabled": False, "ContainersRunning": 2, "Swarm": {"LocalNodeState": "active"}}
    host = host_with(info, RUNNING)._replace(containers=(
        Container("db", id="d" * 64, restart_policy="unless-stopped"), Container("web", id="w" * 64)))
    [docker] = plan_on(host).services
    assert docker.stops == ("db", "web")
    assert "the 2 running container(s) stop: db (unless-stopped: starts again), web (no restart policy: " \
           "stays stopped)" in docker.reason
    assert summary_line(plan_on(host)) == "1 to create, 0 to update, 0 to delete; docker restart (2 running " \
                                          "container(s) stop: db, web)"
    assert plan_document(plan_on(host), "/")["services"][0]["containers_stop"] == ["db", "web"]


def test_a_rootless_daemon_restart_says_its_containers_stop():
    host = host_with({"LiveRestoreEnabled": True, "ContainersRunning": 1}, RUNNING,
                     containers=("ci",))._replace(rootless_user="ci")
    [docker] = plan_on(host).services
    assert docker.stops == ("ci",) and "rootless" in docker.reason


def test_a_reload_says_nothing_restarts():
    old = HostFile(PATH, exists=True, content=b'{"debug": false}\n', mode=0o644, uid=0, gid=0)
    plan = plan_on(host_with({"LiveRestoreEnabled": False, "ContainersRunning": 1}, RUNNING, files=[old]),
                   new={"debug": True})
    assert summary_line(plan) == "0 to create, 1 to update, 0 to delete; docker reload (nothing restarts)"


def test_the_summary_counts_each_kind_of_change_and_the_document_carries_it():
    old = HostFile(PATH, exists=True, content=b'{"debug": false}\n', mode=0o644, uid=0, gid=0)
    gone = HostFile("/etc/old", exists=True, content=b"x\n", mode=0o644, uid=0, gid=0)
    host = host_with({"LiveRestoreEnabled": True, "ContainersRunning": 0}, RUNNING, files=[old, gone])
    plan = plan_on(host, new={"icc": False},
                   extra=[rules_file(), RenderedFile("restore", path="/etc/old", content=None)])
    doc = plan_document(plan, "/")
    assert doc["has_changes"] is True
    assert {k: doc["summary"][k] for k in ("create", "update", "delete")} == {"create": 1, "update": 1, "delete": 1}
    assert doc["summary"]["text"] == summary_line(plan)
    assert summary_line(plan).startswith("1 to create, 1 to update, 1 to delete; docker restart")
    assert f"Plan: {summary_line(plan)}. Run `dockharden apply`" in render_plan(plan, "/")


def test_a_plan_with_nothing_to_do_says_so_with_zero_counts():
    content = (json.dumps({"icc": False}, indent=2) + "\n").encode()
    plan = plan_on(host_with(files=[HostFile(PATH, exists=True, content=content, mode=0o644, uid=0, gid=0)]))
    assert plan_document(plan, "/")["has_changes"] is False
    assert "Plan: 0 to create, 0 to update, 0 to delete. Nothing to do." in render_plan(plan, "/")
