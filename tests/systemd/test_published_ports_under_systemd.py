"""A published port that baseline's DOCKER-USER block would close, on real hosts booted with systemd: named in
the plan, never closed silently, closed only when chosen; and what the plan promised about the port is
checked against what a client in another network namespace sees."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.systemd

REQUEST = "GET /index.html HTTP/1.0\r\n\r\n"


def answers(outside, link) -> bool:
    """Whether the outside client gets the page from the host's published port 8080."""
    got = outside.run(["busybox", "nc", "-w", "3", link.host_ip, "8080"], input=REQUEST, check=False)
    return "200 OK" in got.stdout


def document(done) -> dict:
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout, done.stderr
    return json.loads(done.stdout[done.stdout.index("{"):])


def test_a_published_port_baseline_would_close_is_named_refused_without_a_choice_and_closed_as_promised(
        systemd_host, make_netns):
    host = systemd_host
    outside = make_netns()
    link = outside.link(host)
    host.run(["ufw", "--force", "enable"])
    image = host.import_busybox_image()
    host.docker("run", "-d", "--name", "web", "--restart", "unless-stopped", "-p", "8080:80", image,
                "httpd", "-f", "-p", "80", "-h", "/www")
    assert answers(outside, link)
    fit = host.fit_limits_layer()

    plan = document(host.dockharden("plan", "--json", "--profile", "baseline", *fit))
    promised = plan["published_ports_closed"]
    assert [(p["container"], p["host_port"], p["container_port"]) for p in promised["ports"]] == [("web", 8080, 80)]
    assert promised["keep_open"] == 'allow_ports = ["8080"]' and promised["takes_effect"] is True

    refused = host.dockharden("apply", "--yes", "--json", "--profile", "baseline", *fit)
    assert refused.returncode == 1 and document(refused)["error"]["type"] == "PortsClosedError", refused.stderr
    assert not host.path("/etc/docker/daemon.json").exists() and not host.path("/etc/ufw/after.rules").read_text() \
        .count("BEGIN dockharden")
    assert answers(outside, link)  # nothing was written, nothing closed

    done = host.dockharden("apply", "--yes", "--json", "--close-published-ports", "--profile", "baseline", *fit)
    result = document(done)
    assert done.returncode == 0 and result["result"] == "applied", done.stdout + done.stderr
    closed = {(p["container"], p["host_port"]) for p in result["workload"]["ports_closed_to_outside"]}
    assert closed == {(p["container"], p["host_port"]) for p in promised["ports"]}
    # the promise against what happened: every port the plan said it closes is closed to the outside client
    assert not answers(outside, link)
    assert "web" in host.docker("ps", "--format", "{{.Names}}").stdout.split()
