"""What plan says about services, as an operator reads it: never a restart next to "dockerd is not running",
no service action for an image, and a summary line that counts what it lists.

The running system's root is read in a private mount namespace whose /run is an empty tmpfs: no dockerd
pidfile or socket is visible there, so the daemon is "not running" whatever this machine runs. plan only
reads; nothing on the machine is written.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def plan_without_a_daemon(*args):
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    env["PYTHONPATH"] = str(REPO)
    inner = " ".join([sys.executable, "-m", "dockharden", "plan", "--root", "/", *args])
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                           f"mount -t tmpfs tmpfs /run && exec {inner}"], capture_output=True, text=True, env=env,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_with_dockerd_stopped_the_services_section_says_apply_leaves_it_stopped(tmp_path):
    layer = tmp_path / "mtu.toml"
    layer.write_text("[daemon]\nmtu = 1442\n")  # not reloadable: the daemon would need a restart
    done = plan_without_a_daemon("--profile", "baseline", "--layer", str(layer))
    assert done.returncode == 0, done.stderr
    services = done.stdout[done.stdout.index("Services:"):done.stdout.index("\nPlan: ")]
    assert "docker restart not done: dockerd is not running: apply leaves it stopped" in services
    assert "docker restart:" not in services
    assert "dockerd is not running and stays stopped" in done.stdout.splitlines()[-1]

    doc = json.loads(plan_without_a_daemon("--profile", "baseline", "--layer", str(layer), "--json").stdout)
    assert not any(s["service"] == "docker" for s in doc["services"])
    [docker] = [s for s in doc["services_left"] if s["service"] == "docker"]
    assert docker["action"] == "restart" and "dockerd is not running" in docker["left_because"]


def dockharden(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "dockharden", *args], capture_output=True, text=True, env=env,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_plan_and_apply_on_an_image_promise_and_take_no_service_action(tmp_path):
    image = tmp_path / "image"
    (image / "etc/init.d").mkdir(parents=True)
    # an image's own init script must never be run on the machine that prepares it
    (image / "etc/init.d/docker").write_text("#!/bin/sh\ntouch /proc/never\n")
    plan = json.loads(dockharden("plan", "--root", str(image), "--json").stdout)
    assert plan["services"] == [] and {s["service"] for s in plan["services_left"]} >= {"docker"}
    assert plan["summary"]["text"].endswith("; no service is touched (the root is not the running system)")
    done = dockharden("apply", "--root", str(image), "--yes", "--json")  # no --no-restart: implied
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["result"] == "applied"
    assert {s["action"] for s in result["services"]} == {"skipped"}


def test_the_summary_line_counts_creates_updates_and_deletes(tmp_path):
    root = tmp_path / "root"
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_text('{\n  "debug": true\n}\n')
    done = dockharden("plan", "--root", str(root), "--profile", "baseline")
    last = done.stdout.splitlines()[-1]
    assert last.startswith("Plan: 5 to create, 1 to update, 0 to delete; no service is touched"), last
    doc = json.loads(dockharden("plan", "--root", str(root), "--profile", "baseline", "--json").stdout)
    assert (doc["summary"]["create"], doc["summary"]["update"], doc["summary"]["delete"]) == (5, 1, 0)
    assert doc["summary"]["create"] == sum(c["action"] == "create" for c in doc["changes"])
    assert doc["has_changes"] is True
