"""A switch of data root with a running container, through systemd, on every engine line: userns-remap on a
host with live-restore and a container `web` that serves 8080 to a client in another network namespace.

Refused (nothing written, web serving, managed) until the operator accepts; accepted, apply stops web
first, as the plan says: no containerd shim is left without a daemon and verify finds no orphan.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.systemd

REQUEST = "GET /index.html HTTP/1.0\r\n\r\n"
LIVE = '{\n  "live-restore": true\n}\n'


def shims(host) -> list[str]:
    found = host.run(["pgrep", "-af", "containerd-shim"], check=False).stdout
    return [line for line in found.splitlines() if " -namespace moby " in line]


def test_userns_with_a_serving_container_is_refused_until_accepted_and_then_leaves_no_orphan(systemd_host, make_netns):
    host = systemd_host
    fit = host.fit_limits_layer()
    host.write_file("/etc/docker/daemon.json", LIVE)
    host.systemctl("restart", "docker")
    image = host.import_busybox_image()
    host.docker("run", "-d", "--name", "web", "--restart", "unless-stopped", "-p", "8080:80", image,
                "httpd", "-f", "-p", "80", "-h", "/www")
    ident = host.docker("inspect", "--format", "{{.Id}}", "web").stdout.strip()
    outside = make_netns("outside")
    link = outside.link(host)

    def serving() -> bool:
        got = outside.run(["busybox", "nc", "-w", "5", link.host_ip, "8080"], input=REQUEST, check=False)
        return "200 OK" in got.stdout

    assert serving()
    plan = host.dockharden("plan", "--profile", "userns", *fit)
    said = " ".join(plan.stdout.split())
    assert "The 1 running container(s) web would become orphans" in said, plan.stdout + plan.stderr
    assert "(web 8080->80/tcp) stop answering" in said and "data root /var/lib/docker ->" in said

    refused = host.dockharden("apply", "--yes", "--profile", "userns", *fit)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stdout + refused.stderr
    assert "while 1 container(s) run: web" in refused.stderr and "--stop-containers-for-store-switch" in refused.stderr
    assert host.read_text("/etc/docker/daemon.json") == LIVE
    assert host.docker("inspect", "--format", "{{.State.Running}}", "web").stdout.strip() == "true"
    assert serving() and any(ident in line for line in shims(host))

    done = host.dockharden("apply", "--yes", "--json", "--profile", "userns", *fit,
                           "--stop-containers-for-store-switch")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout[done.stdout.index("{"):])
    assert result["result"] == "applied"
    assert {"service": "containers", "action": "stopped", "containers": ["web"]} in result["services"]
    assert "name=userns" in host.info()["SecurityOptions"]
    assert not any(ident in line for line in shims(host))  # no process left without a daemon
    assert not serving()
    verify = host.dockharden("verify", "--json")
    rows = {r["check"]: r for r in json.loads(verify.stdout)["checks"]}
    assert rows["containers without a daemon"]["ok"] is True, rows.get("containers without a daemon")
