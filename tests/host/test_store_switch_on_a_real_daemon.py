"""A switch of data root with a running container, on a real dockerd 20.10 with live-restore: userns-remap
moves dockerd onto /var/lib/docker/<uid>.<gid>, whose daemon does not know the containers of the old root.

The plan names the container that would become an orphan and its published port; apply refuses (nothing
written, the container still runs, managed); with --stop-containers-for-store-switch apply stops it first,
as the plan says, and no process is left without a daemon; and verify finds a real orphan, made the way
an operator makes one: userns-remap written by hand and dockerd restarted under live-restore.
"""

import json
import sys
from pathlib import Path

import pytest
from managed_host import result_of
from test_ansible_fleet import collection  # noqa: F401 (the built collection, a fixture)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dockharden.host.shims import read_shims  # noqa: E402

LIVE = b'{\n  "debug": false,\n  "labels": ["team=ops"],\n  "live-restore": true\n}\n'


@pytest.fixture
def serving(managed):
    """The managed host with live-restore on and a container `web` publishing 8080, running."""
    host = managed.host
    (host.dir / "etc/docker/daemon.json").write_bytes(LIVE)
    host.restart_dockerd()
    image = host.import_busybox_image()
    host.docker("run", "-d", "--name", "web", "--restart", "unless-stopped", "-p", "8080:80", image,
                "sleep", "100000")
    assert port_answers(host, 8080)
    return managed


def port_answers(host, port: int) -> bool:
    code = (f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), 2).close()\n"
            "    print('open')\nexcept OSError:\n    print('closed')\n")
    return host.run([sys.executable, "-c", code]).stdout.strip() == "open"


def container(host, name: str) -> dict:
    return json.loads(host.docker("inspect", name).stdout)[0]


def orphans(host) -> dict[str, int]:
    """The container shims of this host that its running daemon does not list."""
    listed = set(host.docker("ps", "-aq", "--no-trunc").stdout.split())
    return {i: pid for i, pid in read_shims(same_mounts_as=host.dockerd_pid()).items() if i not in listed}


def test_userns_with_a_running_container_is_planned_as_an_orphan_refused_and_the_container_stays_managed(serving):
    host = serving.host
    web = container(host, "web")
    plan = host.dockharden("plan", "--profile", "userns", *serving.layers)
    assert plan.returncode == 0, plan.stderr
    said = " ".join(plan.stdout.split())
    assert "data root /var/lib/docker -> /var/lib/docker/<uid>.<gid>" in said
    assert "The 1 running container(s) web would become orphans" in said
    assert "published ports (web 8080->80/tcp) stop answering" in said
    assert "apply refuses while any container runs" in said
    done = serving.apply("--profile", "userns", *serving.layers)
    assert done.returncode == 1, done.stdout + done.stderr
    text = done.stdout + done.stderr
    assert "web" in text and "userns.enabled" in text and "--stop-containers-for-store-switch" in text
    assert (host.dir / "etc/docker/daemon.json").read_bytes() == LIVE  # nothing written
    assert not (host.dir / "var/lib/dockharden/generations").exists() or \
        not any((host.dir / "var/lib/dockharden/generations").iterdir())
    now = container(host, "web")
    assert now["State"]["Running"] and now["State"]["Pid"] == web["State"]["Pid"]  # untouched, still managed
    assert port_answers(host, 8080) and orphans(host) == {}


def test_with_the_acceptance_apply_stops_the_container_first_and_leaves_no_orphan(serving):
    host = serving.host
    pid = container(host, "web")["State"]["Pid"]
    plan = host.dockharden("plan", "--profile", "userns", *serving.layers, "--stop-containers-for-store-switch")
    assert "apply stops the 1 running container(s) first (web: docker stop" in " ".join(plan.stdout.split())
    done = serving.apply("--profile", "userns", *serving.layers, "--stop-containers-for-store-switch")
    assert done.returncode == 0, done.stdout + done.stderr
    result = result_of(done)
    assert result["result"] == "applied"
    assert {"service": "containers", "action": "stopped", "containers": ["web"]} in result["services"]
    assert "name=userns" in host.info()["SecurityOptions"]
    assert not Path(f"/proc/{pid}").exists()  # the container's process ended: nothing runs without a daemon
    assert orphans(host) == {} and not port_answers(host, 8080)
    verify = host.dockharden("verify", "--json")
    rows = {r["check"]: r for r in json.loads(verify.stdout)["checks"]}
    assert rows["containers without a daemon"]["ok"] is True, rows["containers without a daemon"]
    # a rollback moves dockerd back to the old data root: a container of the remapped one is not orphaned either
    image = host.import_busybox_image()
    host.docker("run", "-d", "--name", "remapped", image, "sleep", "100000")
    refused = host.dockharden("rollback", "--yes")
    assert refused.returncode == 1 and "while 1 container(s) run: remapped" in refused.stderr, refused.stderr
    assert "rollback --stop-containers-for-store-switch" in refused.stderr
    assert "name=userns" in host.info()["SecurityOptions"] and container(host, "remapped")["State"]["Running"]
    back = host.dockharden("rollback", "--yes", "--stop-containers-for-store-switch")
    assert back.returncode == 0, back.stdout + back.stderr
    assert "name=userns" not in host.info()["SecurityOptions"] and orphans(host) == {}
    # the switch undone, the container is back in view: stopped, as the plan said
    assert container(host, "web")["State"]["Running"] is False


def test_a_container_started_after_a_saved_plan_was_made_is_not_orphaned_by_applying_it(serving):
    host = serving.host
    host.docker("stop", "--time", "1", "web")
    made = host.dockharden("plan", "--profile", "userns", *serving.layers, "--out", "/var/lib/dockharden/userns.plan")
    assert made.returncode == 0 and "No container is running now." in " ".join(made.stdout.split()), made.stderr
    host.docker("start", "web")
    done = host.dockharden("apply", "/var/lib/dockharden/userns.plan", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    said = done.stdout + done.stderr  # refused as a saved plan (a container its restart did not account for)
    assert "container(s) started that the plan's restart did not account for: web" in said
    assert (host.dir / "etc/docker/daemon.json").read_bytes() == LIVE
    assert container(host, "web")["State"]["Running"] and orphans(host) == {}


def test_verify_finds_a_real_orphan_left_by_a_switch_under_live_restore_and_names_it(serving):
    host = serving.host
    ident = container(host, "web")["Id"]
    config = json.loads(LIVE)
    (host.dir / "etc/docker/daemon.json").write_text(json.dumps(dict(config, **{"userns-remap": "default"})))
    host.restart_dockerd()  # live-restore keeps web running; the remapped daemon does not know it
    assert host.docker("ps", "-aq").stdout.strip() == "" and ident in orphans(host)
    verify = host.dockharden("verify", "--json", "--profile", "userns", *serving.layers)
    assert verify.returncode != 0, verify.stdout + verify.stderr
    rows = {r["check"]: r for r in json.loads(verify.stdout)["checks"]}
    row = rows["containers without a daemon"]
    assert row["ok"] is False
    assert f"{ident[:12]} web (in /var/lib/docker) (shim pid {orphans(host)[ident]})" in row["detail"]
    assert "`dockharden rollback`" in row["detail"]


def test_an_orphan_is_taken_back_when_the_switch_is_undone(serving):
    host = serving.host
    ident = container(host, "web")["Id"]
    (host.dir / "etc/docker/daemon.json").write_text(json.dumps(dict(json.loads(LIVE), **{"userns-remap": "default"})))
    host.restart_dockerd()
    assert ident in orphans(host)
    (host.dir / "etc/docker/daemon.json").write_bytes(LIVE)  # what `dockharden rollback` does, by hand
    host.restart_dockerd()
    assert container(host, "web")["State"]["Running"] and orphans(host) == {}


SWITCH_PLAYBOOK = """
- hosts: real
  gather_facts: false
  tasks:
    - name: harden
      dockharden.host.harden:
        profiles: [userns]
        layers: "{{ dh_layers }}"
        stop_containers_for_store_switch: "{{ dh_stop | default(false) }}"
"""


def test_the_ansible_module_fails_the_switch_naming_the_container_unless_told_to_stop_it(
        tmp_path, collection, serving):  # noqa: F811 (the fixture imported above)
    from test_ansible_fleet import Fleet

    fleet = Fleet(tmp_path, collection, serving)
    fleet.playbook.write_text(SWITCH_PLAYBOOK)
    code, recap, out = fleet.play()
    assert code != 0 and recap["real"]["failed"] == 1, out
    assert "web" in out and "--stop-containers-for-store-switch" in out
    assert (serving.host.dir / "etc/docker/daemon.json").read_bytes() == LIVE
    assert container(serving.host, "web")["State"]["Running"]
    code, recap, out = fleet.play("-e", "dh_stop=true")
    assert code == 0 and recap["real"]["changed"] == 1, out
    assert "name=userns" in serving.host.info()["SecurityOptions"] and orphans(serving.host) == {}
