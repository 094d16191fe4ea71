"""The nftables layer on Docker CE 29 booted with systemd (the ce-29.7 line only: the one engine with the
nftables firewall backend), judged by real clients in other network namespaces over veth links, as the ufw
block's tests judge the DOCKER-USER block: a published port answers before apply and is dropped after; an
allowed source and an allowed port get through; a container still reaches the outside; a rollback removes
the table; after a reboot the table is loaded before dockerd starts; a table `nft -c` refuses leaves
nothing written.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import rootfs
from test_hardening_under_systemd import apply as apply_as_json
from test_hardening_under_systemd import write_layer as layer

pytestmark = pytest.mark.systemd

CE29 = [pytest.param(rootfs.ENGINES_BY_ID["ce-29.7"], id="ce-29.7")]
PROFILE = ("--profile", "baseline,nftables")
TABLE = "/etc/dockharden/nftables/dockharden.nft"
UNIT = "dockharden-nftables.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"
REQUEST = "GET /index.html HTTP/1.0\r\n\r\n"


def answers(client, link, port: int) -> bool:
    """Whether the client gets the page from the host's published port."""
    got = client.run(["busybox", "nc", "-w", "3", link.host_ip, str(port)], input=REQUEST, check=False)
    return "200 OK" in got.stdout


def apply(host, *args):
    """`dockharden apply --yes --json --profile baseline,nftables ARGS`; (process, its document)."""
    return apply_as_json(host, *PROFILE, *args)


def serve(host, image: str, name: str, port: int) -> None:
    """busybox httpd behind docker-init (--init), which passes the shutdown's SIGTERM on: httpd as PID 1 of its
    namespace would ignore it, and the machine's poweroff would wait 90 s for it."""
    host.docker("run", "-d", "--init", "--name", name, "--restart", "unless-stopped", "-p", f"{port}:80", image,
                "httpd", "-f", "-p", "80", "-h", "/www")


def table_listed(host) -> str:
    return host.run(["nft", "list", "table", "inet", "dockharden"], check=False).stdout


def files(host) -> dict[str, bytes | None]:
    """daemon.json, the table's file and its unit as they are (None: absent)."""
    paths = ("/etc/docker/daemon.json", TABLE, UNIT_PATH)
    return {p: host.path(p).read_bytes() if host.path(p).exists() else None for p in paths}


@pytest.mark.parametrize("engine", CE29, indirect=True)
def test_the_table_drops_a_published_port_from_outside_lets_allowed_ones_and_replies_through_and_rollback_removes_it(
        systemd_host, make_netns, tmp_path):
    host = systemd_host
    allowed, other = make_netns("allowed"), make_netns("other")
    allowed_link, other_link = allowed.link(host), other.link(host)
    image = host.import_busybox_image()
    serve(host, image, "web", 8080)
    serve(host, image, "api", 8081)
    assert answers(other, other_link, 8080) and answers(other, other_link, 8081)  # before: open to anyone
    before = files(host)

    site = layer(host, "site.toml", f'[nftables]\nallow_sources = ["{allowed_link.peer_ip}/32"]\n'
                                    'allow_ports = ["8081"]\n')
    refused, doc = apply(host, *site)
    assert refused.returncode == 1 and doc["error"]["type"] == "PortsClosedError", refused.stdout + refused.stderr
    said = " ".join(refused.stderr.split())
    assert "the nftables table inet dockharden would close" in said and "8080/tcp of web" in said, said
    assert "[nftables] table of your layer site" in said and "of api" not in said
    assert files(host) == before  # nothing written
    assert answers(other, other_link, 8080)
    assert "-P FORWARD DROP" in host.run(["iptables", "-S", "FORWARD"]).stdout  # Docker's iptables backend set it

    planned = host.dockharden("plan", "--json", *PROFILE, *site, *host.fit_limits_layer())
    actions = json.loads(planned.stdout)["host_actions"]
    assert {"kind": "firewall_policy", "tool": "iptables", "chain": "FORWARD", "before": "DROP",
            "after": "ACCEPT"}.items() <= actions[0].items(), planned.stdout
    assert not any("FORWARD policy is" in n["message"] for n in json.loads(planned.stdout)["notes"])  # no warning

    done, result = apply(host, *site, "--close-published-ports")
    assert done.returncode == 0 and result["result"] == "applied", done.stdout + done.stderr
    closed = [(p["container"], p["host_port"]) for p in result["workload"]["ports_closed_to_outside"]]
    assert closed == [("web", 8080)]
    assert host.info()["FirewallBackend"]["Driver"].startswith("nftables")
    assert "ct state new drop" in table_listed(host) and host.show(UNIT, "UnitFileState")["UnitFileState"] == "enabled"
    # Docker's iptables backend had set the FORWARD policy to DROP, which its switch to nftables leaves until the
    # next boot: apply set it to ACCEPT right after the restart, as the plan said, with no step by hand
    assert "-P FORWARD ACCEPT" in host.run(["iptables", "-S", "FORWARD"]).stdout
    assert not answers(other, other_link, 8080)       # dropped from outside
    assert answers(other, other_link, 8081)           # an allowed port
    assert answers(allowed, allowed_link, 8080)       # an allowed source
    # a container still reaches the outside: a listener in the other client's namespace answers it
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("outside\n")
    listener = subprocess.Popen(["nsenter", "-t", str(other.pid), "-n", "--", "busybox", "httpd", "-f", "-p",
                                 f"{other_link.peer_ip}:9000", "-h", str(www)], stdin=subprocess.DEVNULL)
    try:
        out = host.docker("run", "--rm", "-i", image, "nc", "-w", "5", other_link.peer_ip, "9000", input=REQUEST,
                          check=False, timeout=60)
        assert "200 OK" in out.stdout and "outside" in out.stdout, out.stdout + out.stderr
    finally:
        listener.terminate()
        listener.wait(timeout=10)
    verify = host.dockharden("verify", *PROFILE, *site, *host.fit_limits_layer())
    assert verify.returncode == 0 and "nftables table inet dockharden" in verify.stdout, verify.stdout + verify.stderr

    back = host.dockharden("rollback", "--yes")
    assert back.returncode == 0, back.stdout + back.stderr
    assert "iptables FORWARD policy ACCEPT -> DROP" in back.stdout, back.stdout  # the rollback's plan says it
    assert table_listed(host) == "" and not host.path(TABLE).exists() and not host.path(UNIT_PATH).exists()
    assert host.show(UNIT, "UnitFileState")["UnitFileState"] in ("", "disabled")
    assert not host.info()["FirewallBackend"]["Driver"].startswith("nftables")
    assert "-P FORWARD DROP" in host.run(["iptables", "-S", "FORWARD"]).stdout  # as Docker's iptables backend had it
    assert answers(other, other_link, 8080) and answers(other, other_link, 8081)  # as before apply

    # `rollback --to` the rollback: onto the nftables backend again, Docker's DROP set to ACCEPT as by apply
    history = json.loads(host.dockharden("history", "--json").stdout)["generations"]
    undo = next(g["id"] for g in history if g["kind"] == "rollback")
    again = host.dockharden("rollback", "--to", undo, "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "iptables FORWARD policy DROP -> ACCEPT" in again.stdout, again.stdout
    assert host.info()["FirewallBackend"]["Driver"].startswith("nftables")
    assert "-P FORWARD ACCEPT" in host.run(["iptables", "-S", "FORWARD"]).stdout
    assert answers(other, other_link, 8081) and not answers(other, other_link, 8080)


NFT_REFUSES = """#!/bin/sh
# stands in for an nft that refuses the table (a kernel without nft_ct answers `nft -c` so)
for arg; do [ "$arg" = -c ] && { echo "Error: Could not process rule: No such file or directory" >&2; exit 1; }; done
exec /usr/sbin/nft "$@"
"""


@pytest.mark.parametrize("engine", CE29, indirect=True)
def test_a_table_nft_refuses_leaves_nothing_written_and_an_applied_table_is_loaded_at_boot_before_dockerd(
        systemd_host, make_netns):
    host = systemd_host
    image = host.import_busybox_image()
    serve(host, image, "web", 8080)
    serve(host, image, "api", 8081)
    site = layer(host, "site.toml", '[nftables]\nallow_ports = ["8081"]\nclose_published_ports = true\n')
    plan = host.dockharden("plan", *PROFILE, *site, *host.fit_limits_layer())
    assert "IPv4 forwarding at boot" in plan.stdout, plan.stdout + plan.stderr
    # as the warning says: Docker's nftables backend does not turn forwarding on, and does not start without it
    host.write_file("/etc/sysctl.d/99-docker-forwarding.conf", "net.ipv4.ip_forward = 1\n")
    plan = host.dockharden("plan", *PROFILE, *site, *host.fit_limits_layer())
    assert plan.returncode == 0 and "IPv4 forwarding at boot" not in plan.stdout, plan.stdout + plan.stderr
    before = files(host)

    host.write_file("/usr/local/sbin/nft", NFT_REFUSES, mode=0o755)
    refused = host.dockharden("apply", "--yes", *PROFILE, *site, *host.fit_limits_layer())
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stdout + refused.stderr
    assert "nft -c rejects the nftables table" in refused.stderr and "Traceback" not in refused.stderr
    assert files(host) == before and table_listed(host) == ""
    host.path("/usr/local/sbin/nft").unlink()

    done, result = apply(host, *site)  # the layer chose to close 8080: no option needed
    assert done.returncode == 0 and result["result"] == "applied", done.stdout + done.stderr
    assert [(p["container"], p["host_port"]) for p in result["workload"]["ports_closed_to_outside"]] == [("web", 8080)]

    host.reboot()

    # the unit is ordered before docker.service and was active before dockerd's process started
    assert UNIT in host.show("docker.service", "After")["After"].split()
    unit = host.show(UNIT, "ActiveState", "UnitFileState", "ActiveEnterTimestampMonotonic")
    docker = host.show("docker.service", "ExecMainStartTimestampMonotonic")
    assert unit["ActiveState"] == "active" and unit["UnitFileState"] == "enabled", unit
    assert 0 < int(unit["ActiveEnterTimestampMonotonic"]) <= int(docker["ExecMainStartTimestampMonotonic"]), (unit, docker)
    assert "ct state new drop" in table_listed(host)
    assert host.info()["FirewallBackend"]["Driver"].startswith("nftables")

    assert "-P FORWARD ACCEPT" in host.run(["iptables", "-S", "FORWARD"]).stdout  # the boot cleared Docker's DROP
    outside = make_netns()
    link = outside.link(host)  # the machine's network namespace is new after the boot
    assert answers(outside, link, 8081)               # the containers came back and forwarding works
    assert not answers(outside, link, 8080)           # still dropped
    verify = host.dockharden("verify", *PROFILE, *site, *host.fit_limits_layer())
    assert verify.returncode == 0, verify.stdout + verify.stderr
