"""A restart into another data root or image store (userns-remap, data-root, the containerd snapshotter): the
plan names the running containers it would orphan and their ports, apply refuses unless the operator
accepts that apply stops them first, and verify names container shims that no daemon manages."""

import json

import pytest

from dockharden.core.merge import merge_layers
from dockharden.core.plan import hold_services, make_plan
from dockharden.core.store_switch import (
    ACCEPT,
    find_orphans,
    find_switch,
    orphans_detail,
    refuse_orphaning,
    with_switch,
)
from dockharden.errors import ConflictError
from dockharden.host.shims import shim_container
from dockharden.model import Container, DaemonProcess, HostSnapshot, Layer, PublishedPort, RenderedFile, Selection

PATH = "/etc/docker/daemon.json"
WEB = Container("web", id="a" * 64, restart_policy="unless-stopped", networks=("bridge",),
                ports=(PublishedPort("", 8080, 80),), pid=501)
WORKER = Container("worker", id="b" * 64, restart_policy="", networks=("bridge",), ports=(), pid=502)
GRAPH = {"DockerRootDir": "/var/lib/docker", "Driver": "overlay2", "LiveRestoreEnabled": True,
         "SecurityOptions": ["name=seccomp,profile=default"], "ContainersRunning": 2}
CONTAINERD = dict(GRAPH, Driver="overlayfs", DriverStatus=[["driver-type", "io.containerd.snapshotter.v1"]])
REMAPPED = dict(GRAPH, DockerRootDir="/var/lib/docker/100000.100000",
                SecurityOptions=["name=seccomp,profile=default", "name=userns"])
IMPACT = {"images": 3, "containers": 2, "volumes": 1, "incompatible": [], "source": "docker info"}


def host_with(info=GRAPH, containers=(WEB, WORKER), engine="20.10.24", impact=IMPACT, store=None):
    return HostSnapshot(root="/", files={}, existing_paths=frozenset(), daemon=DaemonProcess(42, ("dockerd",)),
                        daemon_info=info, containers=containers, engine_version=engine, userns_impact=impact,
                        image_store=store or {"images": 3, "containers": 2, "source": "docker info"})


def userns_settings():
    return merge_layers([Layer("userns", source="profile:userns", tables={"daemon": {"userns-remap": "default"}})])


def plan_for(host, config, settings, *, stop_first=False, restart=True):
    rendered = [RenderedFile("daemon.json", path=PATH, content=(json.dumps(config) + "\n").encode())]
    plan = make_plan(Selection(("userns",), layers=()), settings, host, rendered, [], frozenset())
    plan = hold_services(plan, host, live=True, restart=restart)
    return with_switch(plan, find_switch(config, settings, host, stop_first=stop_first))


def test_userns_with_running_containers_names_each_orphan_and_its_ports_and_says_apply_refuses():
    plan = plan_for(host_with(), {"userns-remap": "default"}, userns_settings())
    [note] = [n for n in plan.notes if "another store" in n.message]
    assert note.message.startswith("The docker restart moves dockerd to another store (userns-remap (from userns)): "
                                   "data root /var/lib/docker -> /var/lib/docker/<uid>.<gid>. ")
    assert "3 image(s), 2 container(s) and 1 volume(s) (from docker info) disappear from view" in note.message
    assert "The 2 running container(s) web, worker would become orphans" in note.message
    assert "published ports (web 8080->80/tcp) stop answering" in note.message
    assert "apply refuses while any container runs" in note.message and ACCEPT in note.message
    [docker] = plan.services
    assert docker.stops == ("web", "worker") and "refused while 2 container(s) run" in docker.effect
    assert "keep running" not in docker.reason and "it switches data root" in docker.reason


def test_apply_refuses_the_switch_in_one_paragraph_naming_the_containers_the_key_the_layer_and_the_fix():
    plan = plan_for(host_with(), {"userns-remap": "default"}, userns_settings())
    with pytest.raises(ConflictError) as caught:
        refuse_orphaning(plan)
    text = caught.value.paragraph()
    assert text.startswith("profile:userns, key `daemon.userns-remap`: ")
    assert "while 2 container(s) run: web, worker" in text and "orphans that no daemon manages" in text
    assert "8080->80/tcp" in text and "nothing was written" in text
    assert "docker stop web worker" in caught.value.hint and ACCEPT in caught.value.hint


def test_accepted_the_plan_says_apply_stops_the_containers_first_and_apply_goes_ahead():
    plan = plan_for(host_with(), {"userns-remap": "default"}, userns_settings(), stop_first=True)
    refuse_orphaning(plan)  # no error
    [note] = [n for n in plan.notes if "another store" in n.message]
    assert "apply stops the 2 running container(s) first (web, worker: docker stop" in note.message
    assert "none is left running without a daemon" in note.message and "orphans" not in note.message
    assert plan.services[0].effect == "apply stops 2 running container(s) first: web, worker"
    assert plan.store_switch.stop_first is True


def test_without_live_restore_the_plan_says_the_containers_stop_rather_than_orphan():
    host = host_with(dict(GRAPH, LiveRestoreEnabled=False))
    plan = plan_for(host, {"userns-remap": "default"}, userns_settings())
    assert "would stop: the daemon shuts down without live-restore" in plan.notes[-1].message
    with pytest.raises(ConflictError, match="would stop"):
        refuse_orphaning(plan)


def test_a_switch_with_no_container_running_is_said_and_not_refused():
    plan = plan_for(host_with(containers=()), {"userns-remap": "default"}, userns_settings())
    assert plan.notes[-1].message.endswith("No container is running now.")
    refuse_orphaning(plan)


def test_with_no_restart_the_switch_waits_for_the_next_restart_and_apply_does_not_refuse():
    plan = plan_for(host_with(), {"userns-remap": "default"}, userns_settings(), restart=False)
    assert plan.notes[-1].message.startswith("The next docker restart (apply does not restart it now) moves")
    assert "apply refuses" not in plan.notes[-1].message
    refuse_orphaning(plan)


def test_userns_on_the_containerd_store_also_says_the_image_store_goes_back_to_a_graph_driver():
    switch = find_switch({"userns-remap": "default"}, userns_settings(), host_with(CONTAINERD, engine="29.7.2"))
    assert switch.moves == ("data root /var/lib/docker -> /var/lib/docker/<uid>.<gid>",
                            "image store containerd (overlayfs) -> graph driver overlay2")


def test_on_engine_29_a_storage_driver_naming_a_graph_driver_without_the_feature_leaves_the_containerd_store():
    # moby docker-v29.7.2 daemon/image_store_choice.go: a registered graph driver named in storage-driver wins
    settings = merge_layers([Layer("site", source="/etc/dockharden/site.toml",
                                   tables={"daemon": {"storage-driver": "overlay2"}})])
    switch = find_switch({"storage-driver": "overlay2"}, settings, host_with(CONTAINERD, engine="29.7.2"))
    assert switch.moves == ("image store containerd (overlayfs) -> graph driver overlay2",)
    assert switch.keys == ("storage-driver (from site)",)
    # before 29 the same file leaves the store too, for the missing feature
    before = find_switch({"storage-driver": "overlay2"}, settings, host_with(CONTAINERD, engine="28.5.2"))
    assert before.moves == ("image store containerd (overlayfs) -> graph driver overlay2",)


def test_the_containerd_snapshotter_switches_the_store_and_hides_images_and_containers_not_volumes():
    settings = merge_layers([Layer("site", source="/etc/dockharden/site.toml",
                                   tables={"daemon": {"features": {"containerd-snapshotter": True}}})])
    switch = find_switch({"features": {"containerd-snapshotter": True}}, settings, host_with(engine="26.1.5"))
    assert switch.moves == ("image store graph driver overlay2 -> containerd (overlayfs)",)
    assert switch.keys == ("features.containerd-snapshotter (from site)",)
    assert switch.hidden.startswith("3 image(s) and 2 container(s) (from docker info)")
    assert switch.layer_file == "/etc/dockharden/site.toml" and switch.key == "daemon.features.containerd-snapshotter"


def test_a_new_data_root_moves_everything_with_the_volumes_counted():
    settings = merge_layers([Layer("site", source="s.toml", tables={"daemon": {"data-root": "/srv/docker"}})])
    host = host_with(store={"images": 4, "containers": 2, "volumes": 5, "source": "docker info"})
    switch = find_switch({"data-root": "/srv/docker"}, settings, host)
    assert switch.moves == ("data root /var/lib/docker -> /srv/docker",)
    assert switch.hidden.startswith("4 image(s), 2 container(s) and 5 volume(s)")


@pytest.mark.parametrize("info, config", [
    (None, {"userns-remap": "default"}),                       # no daemon answers: no container known to run
    (REMAPPED, {"userns-remap": "default"}),                   # already remapped
    (GRAPH, {"storage-driver": "overlay2", "icc": False}),     # the driver in use
    (GRAPH, {"data-root": "/var/lib/docker/"}),                # the same directory
    (CONTAINERD, {"features": {"containerd-snapshotter": True}, "storage-driver": "overlayfs"}),
], ids=["no-daemon", "already-remapped", "same-driver", "same-root", "same-containerd-store"])
def test_no_switch_is_found_where_the_daemon_stays_on_its_store(info, config):
    assert find_switch(config, userns_settings(), host_with(info, engine="29.7.2")) is None


def test_turning_userns_off_on_a_remapped_daemon_is_a_switch_back_to_the_base_root():
    settings = merge_layers([])
    switch = find_switch({}, settings, host_with(REMAPPED))
    assert switch.moves == ("data root /var/lib/docker/100000.100000 -> /var/lib/docker",)


def test_verify_names_each_shim_whose_container_the_daemon_does_not_list():
    shims = {"a" * 64: 501, "c" * 64: 777}
    orphans = find_orphans(shims, {"a" * 64}, {"c" * 64: "web (in /var/lib/docker)"})
    assert orphans == ["cccccccccccc web (in /var/lib/docker) (shim pid 777)"]
    detail = orphans_detail(orphans, len(shims))
    assert detail.startswith("1 container(s) run with no daemon managing them")
    assert "`dockharden rollback`" in detail and "kill the shim's children, then the shim" in detail
    assert orphans_detail([], 2).startswith("none: each of the 2 container shim(s)")


@pytest.mark.parametrize("argv, expected", [
    (["/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-id", "a" * 64, "-address", "/run/c.sock"], "a" * 64),
    (["containerd-shim", "-namespace", "moby", "-workdir",
      "/var/lib/docker/containerd/daemon/io.containerd.runtime.v1.linux/moby/" + "b" * 64], "b" * 64),
    (["/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "a" * 64], None),
    (["/usr/bin/containerd-shim-runc-v2", "-namespace", "plugins.moby", "-id", "a" * 64], None),
    (["sleep", "-namespace", "moby", "-id", "a" * 64], None),
    ([], None),
], ids=["runc-v2", "v1-workdir", "other-namespace", "plugins", "not-a-shim", "kernel-thread"])
def test_a_shim_command_line_gives_the_container_id_of_moby_s_namespace_only(argv, expected):
    assert shim_container(argv) == expected


def test_under_an_offline_root_the_orphan_check_is_not_verifiable_and_reads_no_process(tmp_path):
    from dockharden.host.runner import Runner
    from dockharden.inspect.verify import Where, orphan_row

    row = orphan_row(Where(str(tmp_path), Runner(), str(tmp_path / "docker.sock")), {}, {})
    assert row.check == "containers without a daemon"
    assert row.status == "not_verifiable" and row.detail == f"--root {tmp_path} is not the running system"


def test_an_orphans_name_is_found_where_the_switch_left_it(tmp_path):
    from dockharden.host.shims import known_names

    for where, ident, name in (("var/lib/docker", "a" * 64, "/web"), ("var/lib/docker/100000.100000", "b" * 64,
                                                                      "/worker")):
        config = tmp_path / where / "containers" / ident / "config.v2.json"
        config.parent.mkdir(parents=True)
        config.write_text(json.dumps({"Name": name}))
    remapped = known_names(str(tmp_path), "/var/lib/docker/100000.100000", ["a" * 64, "c" * 64])
    assert remapped == {"a" * 64: "web (in /var/lib/docker)"}
    moved = known_names(str(tmp_path), "/srv/docker", ["a" * 64, "b" * 64])  # data-root moved off the default
    assert moved == {"a" * 64: "web (in /var/lib/docker)", "b" * 64: "worker (in /var/lib/docker/100000.100000)"}


def test_apply_s_result_names_the_containers_it_stopped_before_the_switch():
    from dockharden.execute.apply import RunResult
    from dockharden.report import render_result

    done = RunResult("applied", generation="0002", services=({"service": "containers", "action": "stopped",
                                                   "containers": ["web", "worker"]},
                                                  {"service": "docker", "action": "restart", "pid": 7}))
    assert "  containers: stopped (web, worker)\n  docker: restart\n" in render_result(done)


def test_a_rootless_daemon_s_data_root_in_its_home_is_not_a_switch():
    info = dict(GRAPH, DockerRootDir="/home/alice/.local/share/docker",
                SecurityOptions=["name=seccomp,profile=default", "name=rootless"])
    assert find_switch({"icc": False}, merge_layers([]), host_with(info)) is None
    moved = find_switch({"data-root": "/srv/alice"}, merge_layers([]), host_with(info))
    assert moved.moves == ("data root /home/alice/.local/share/docker -> /srv/alice",)


def test_for_a_rootless_daemon_the_orphan_check_is_not_verifiable(tmp_path):
    from dockharden.host.runner import Runner
    from dockharden.inspect.verify import Where, orphan_row

    row = orphan_row(Where("/", Runner(), str(tmp_path / "docker.sock")), {"SecurityOptions": ["name=rootless"]}, {})
    assert row.status == "not_verifiable" and row.detail.startswith("a rootless daemon's containers")
