"""`dockharden.probe` against a real dockerd in a private host: what throwaway containers of a locally
imported image measure, and that no probe container outlives the probe, even when it is killed.

The probe runs INSIDE the host (the daemon's socket is only reachable there), in a child Python that
prints the ProbeResult as JSON.
"""

import json
import signal
import subprocess
import sys

from harness import DOCKER_CLI, DOCKER_SOCKET, REPO_ROOT

PROBE_IMAGE = "dockharden-probe:busybox"

RUN_PROBE = """
import json, sys
from dataclasses import asdict
from dockharden.inspect.probe import run_probe
from dockharden.host.runner import Runner
image = sys.argv[2] or None
result = run_probe(Runner(), docker=[sys.argv[1]], image=image, build_from=sys.argv[3])
print(json.dumps(asdict(result)))
"""

# Pauses in a subprocess (as a slow docker call would) right after container B started, and says so.
RUN_PROBE_SLOWLY = """
import sys
from dockharden.inspect.probe import ProbeInterrupted, run_probe
from dockharden.host.runner import Runner

class SlowAfterTargetStarts(Runner):
    def run(self, argv, **kw):
        done = super().run(argv, **kw)
        if "-d" in argv:
            print("container B started", flush=True)
            super().run(["sleep", "30"], timeout=40)
        return done

try:
    run_probe(SlowAfterTargetStarts(), docker=[sys.argv[1]], image=None)
except ProbeInterrupted as exc:
    print(exc, flush=True)
    sys.exit(exc.exit_code)
"""


def inside_env():
    return {"PYTHONPATH": str(REPO_ROOT), "DOCKER_HOST": f"unix://{DOCKER_SOCKET}"}


def probe(host, image: str = "", build_from: str = "/bin/busybox") -> dict:
    done = host.run([sys.executable, "-c", RUN_PROBE, DOCKER_CLI, image, build_from], env=inside_env(),
                    cwd=REPO_ROOT, timeout=90)
    return json.loads(done.stdout)


def probe_containers(host) -> list[str]:
    return host.docker("ps", "-a", "--filter", "label=dockharden.probe=1", "-q").stdout.split()


def test_default_daemon_probe_builds_its_image_and_reports_docker_defaults_and_leaves_no_container(docker_host):
    result = probe(docker_host)

    assert result["errors"] == []
    assert result["image"] == PROBE_IMAGE
    docker_host.docker("image", "inspect", PROBE_IMAGE)
    assert result["seccomp_mode"] == 2
    assert result["no_new_privs"] is False
    assert result["root_remapped"] is False and result["uid_map"][0][:2] == [0, 0]
    assert result["icc_blocked"] is False
    assert all(isinstance(v, int) for v in result["nofile"] + result["nproc"])
    assert probe_containers(docker_host) == []


def test_hardened_daemon_probe_sees_icc_off_no_new_privs_remapped_root_and_the_default_nofile(docker_host):
    (docker_host.dir / "etc/docker/daemon.json").write_text(json.dumps({
        "icc": False, "no-new-privileges": True, "userns-remap": "default",
        "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 4096, "Soft": 2048}},
    }))
    docker_host.restart_dockerd()

    # The remapped daemon has its own, empty image store: the probe imports its image there.
    result = probe(docker_host)

    assert result["errors"] == []
    assert result["icc_blocked"] is True
    assert result["no_new_privs"] is True
    assert result["root_remapped"] is True and result["uid_map"][0][0] == 0 and result["uid_map"][0][1] != 0
    assert result["nofile"] == [2048, 4096]
    assert result["seccomp_mode"] == 2
    assert probe_containers(docker_host) == []


def test_probe_never_pulls_a_missing_image_and_explains_when_it_has_no_static_busybox(docker_host):
    named = probe(docker_host, image="busybox:latest")
    assert named["errors"] and "never pulls" in named["errors"][0] and "busybox:latest" in named["errors"][0]
    assert named["seccomp_mode"] is None and named["icc_blocked"] is None

    # /bin/ls has a dynamic loader (PT_INTERP): it cannot be a whole image.
    dynamic = probe(docker_host, build_from="/bin/ls")
    assert dynamic["errors"] == ["no probe image: name one with --image, or install busybox-static"]
    assert dynamic["no_new_privs"] is None and dynamic["uid_map"] == []

    assert docker_host.docker("images", "-q").stdout.split() == []
    assert probe_containers(docker_host) == []


def test_probe_killed_with_sigterm_while_container_b_runs_removes_its_containers(docker_host):
    argv = [sys.executable, "-c", RUN_PROBE_SLOWLY, DOCKER_CLI]
    child = subprocess.Popen(docker_host._nsenter(argv, REPO_ROOT), env=docker_host._env(inside_env()),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "container B started", child.stderr.read()
        running = docker_host.docker("ps", "--filter", "label=dockharden.probe=1",
                                     "--format", "{{.Names}}").stdout.split()
        assert len(running) == 1 and running[0].startswith("dockharden-probe-b-")

        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=40)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    assert child.returncode == 128 + signal.SIGTERM, err
    assert "interrupted by SIGTERM" in out and "Traceback" not in err
    assert probe_containers(docker_host) == []


def test_a_second_probe_reuses_the_imported_image(docker_host):
    probe(docker_host)
    first = docker_host.docker("image", "inspect", "--format", "{{.Id}}", PROBE_IMAGE).stdout
    assert probe(docker_host)["errors"] == []
    assert docker_host.docker("image", "inspect", "--format", "{{.Id}}", PROBE_IMAGE).stdout == first
