"""Hosts an operator already runs take baseline through systemd and keep their own choices (issue 21), on
Engines 20.10, 26.1 and 28.5.

Each machine starts with the operator's daemon.json (the daemon restarted on it), then takes
`dockharden apply --profile baseline` (plus the nofile layer these machines need). baseline enforces
what hardening needs (icc, live-restore, userland-proxy, no-new-privileges, experimental) and only
defaults the rest, so what the operator chose keeps working on the real daemon:

- a syslog host (UDP to a receiver on 127.0.0.1:514) with its own address pools and a populated
  graph-driver store: the daemon starts, logs still reach the receiver, new networks come from the
  operator's pools, and every image and container is still listed;
- a journald host with `iptables: false`: logs still reach the journal; icc is not written (dockerd
  would not start) and both the plan and `check` name CIS 2.2 as the control that stays failing;
- a `userns-remap` host: the containerd image store (which refuses remapping) is not turned on, the plan
  says why, and the daemon runs remapped.
"""

from __future__ import annotations

import ipaddress
import json
import time

import pytest

pytestmark = pytest.mark.systemd

POOL = "10.201.0.0/16"
SYSLOG_LOG = "/var/log/udp-syslog.log"
# A syslog receiver as a host's collector is for the daemon: every datagram to 127.0.0.1:514, one a line.
UDP_RECEIVER = f"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 514))
with open({SYSLOG_LOG!r}, "ab", buffering=0) as out:
    while True:
        data, _ = s.recvfrom(65536)
        out.write(data.rstrip(b"\\n") + b"\\n")
"""


def operator_file(host, doc: dict) -> None:
    """The operator's daemon.json, and the daemon restarted on it (as their host runs before dockharden)."""
    host.write_file("/etc/docker/daemon.json", json.dumps(doc, indent=2) + "\n")
    host.systemctl("restart", "docker")
    assert host.is_active("docker") == "active"


def plan(host, fit: list[str]) -> dict:
    done = host.dockharden("plan", "--json", "--profile", "baseline", *fit)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    return json.loads(done.stdout)


def apply(host, fit: list[str]) -> dict:
    done = host.dockharden("apply", "--yes", "--json", "--profile", "baseline", *fit)
    assert "Traceback" not in done.stderr, done.stderr
    result = json.loads(done.stdout[done.stdout.index("{"):]) if "{" in done.stdout else {}
    assert done.returncode == 0 and result.get("result") == "applied", done.stdout + done.stderr
    assert host.is_active("docker") == "active", host.journal("docker", lines=40)
    return result


def notes(doc: dict) -> list[str]:
    return [n["message"] for n in doc["notes"]]


def daemon_json(host) -> dict:
    return json.loads(host.read_text("/etc/docker/daemon.json"))


def wait_for(what: str, probe, timeout: float = 15) -> str:
    """probe() until it returns text containing `what` (a daemon's log line takes a moment)."""
    deadline, seen = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        seen = probe()
        if what in seen:
            return seen
        time.sleep(0.3)
    return seen


def listing(host) -> tuple[list[str], list[str]]:
    """What `docker image ls -a` and `docker ps -a` list (ids and names; not the ages, which move)."""
    images = host.docker("image", "ls", "-a", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}").stdout
    containers = host.docker("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.Image}}").stdout
    return sorted(images.splitlines()), sorted(containers.splitlines())


def store_kind(host) -> str:
    """`graphdriver` or `snapshotter`: the image store the running daemon uses (docker info DriverStatus)."""
    status = dict(tuple(row) for row in host.info()["DriverStatus"])
    return "snapshotter" if status.get("driver-type") == "io.containerd.snapshotter.v1" else "graphdriver"


def check(host) -> dict[str, dict]:
    """`dockharden check --format json`: each control by id (exit 2: some control fails on every host here)."""
    done = host.dockharden("check", "--format", "json")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stdout + done.stderr
    return {c["id"]: c for c in json.loads(done.stdout)["controls"]}


def test_a_syslog_host_with_its_own_address_pools_and_images_keeps_all_three_after_baseline(systemd_host):
    host = systemd_host
    fit = host.fit_limits_layer()
    host.run(["systemd-run", "--unit", "udp-syslog", "python3", "-c", UDP_RECEIVER])
    syslog_opts = {"syslog-address": "udp://127.0.0.1:514"}
    pools = [{"base": POOL, "size": 24}]
    operator_file(host, {"log-driver": "syslog", "log-opts": syslog_opts, "default-address-pools": pools})
    assert host.info()["LoggingDriver"] == "syslog"
    # Debian's engines, 28.5 included, start on the graph-driver store (overlay2); Docker CE 29 on a fresh install on
    # the containerd image store (overlayfs): the operator's images are in that store, whichever it is
    store = ("overlayfs", "snapshotter") if host.engine.docker_major >= 29 else ("overlay2", "graphdriver")
    assert (host.info()["Driver"], store_kind(host)) == store
    image = host.import_busybox_image()
    host.docker("create", "--name", "kept", image)
    host.docker("run", "--name", "before", image, "echo", "dh-proof-syslog-before-apply")
    assert "dh-proof-syslog-before-apply" in wait_for("dh-proof-syslog-before-apply", lambda: host.read_text(SYSLOG_LOG)), \
        "the receiver does not get the syslog driver's datagrams even before dockharden"
    before = listing(host)

    planned = plan(host, fit)
    said = notes(planned)
    assert "daemon.json `log-driver`: kept: operator's value \"syslog\", baseline only defaults this key" in said, said
    assert f"daemon.json `default-address-pools`: kept: operator's value {json.dumps(pools)}, baseline only " \
           "defaults this key" in said, said
    assert any(n.startswith("daemon.json `log-opts.max-size`: not written (the operator sets log-driver") for n in said), said
    if host.engine.docker_major >= 29:  # already on the containerd image store: baseline's default changes nothing
        assert not any("image store" in n and "switch" in n for n in said), said
    elif host.engine.docker_major >= 24:  # baseline defaults the containerd image store: not over a populated store
        assert any("`features.containerd-snapshotter` (from baseline) left out: this host's overlay2 store holds "
                   "1 image(s) and 2 container(s)" in n for n in said), said
    else:  # Engine 20.10 has no containerd image store: the key is left out as unknown
        assert any("`features.containerd-snapshotter` (from baseline) left out: Engine 20.10" in n
                   and "does not know it (added in 24.0)" in n for n in said), said

    apply(host, fit)
    written = daemon_json(host)
    assert written["log-driver"] == "syslog" and written["log-opts"] == syslog_opts, \
        f"the operator's syslog driver and its options must stay exactly as they were: {written}"
    assert written["default-address-pools"] == pools, f"the operator's pools must stay: {written}"
    if store[1] == "graphdriver":
        assert "features" not in written, f"no containerd image store over a populated overlay2 store: {written}"
    assert written["icc"] is False and written["live-restore"] is True  # what baseline enforces is in force
    info = host.info()
    assert info["LoggingDriver"] == "syslog", info["LoggingDriver"]
    assert info["LiveRestoreEnabled"] is True
    # the same store: the same images and containers are listed after apply as before
    assert (info["Driver"], store_kind(host)) == store, info["DriverStatus"]
    after = listing(host)
    assert after[0] == before[0], f"images before apply {before[0]}, after {after[0]}"
    assert after[1] == before[1], f"containers before apply {before[1]}, after {after[1]}"

    # syslog: a container started after apply still logs to the operator's receiver
    host.docker("run", "--name", "after", image, "echo", "dh-proof-syslog-after-apply")
    short_id = host.docker("inspect", "--format", "{{.Id}}", "after").stdout.strip()[:12]
    received = wait_for("dh-proof-syslog-after-apply", lambda: host.read_text(SYSLOG_LOG))
    line = next((x for x in received.splitlines() if "dh-proof-syslog-after-apply" in x), None)
    assert line is not None, f"the container's output after apply never reached the syslog receiver:\n{received}"
    assert f"{short_id}[" in line, f"the line is not tagged with the container's id {short_id}: {line}"

    # address pools: a new network is carved out of the operator's pool, not baseline's 172.20.0.0/14
    host.docker("network", "create", "x")
    subnets = [c["Subnet"] for c in json.loads(host.docker("network", "inspect", "--format", "{{json .IPAM.Config}}",
                                                           "x").stdout)]
    assert subnets and all(ipaddress.ip_network(s).subnet_of(ipaddress.ip_network(POOL)) for s in subnets), \
        f"network x got {subnets}, outside the operator's pool {POOL}"
    assert info["DefaultAddressPools"] == [{"Base": POOL, "Size": 24}], info["DefaultAddressPools"]


def test_a_journald_host_without_iptables_keeps_both_and_is_told_that_cis_2_2_stays_failing(systemd_host):
    host = systemd_host
    fit = host.fit_limits_layer()
    operator_file(host, {"log-driver": "journald", "iptables": False})
    assert host.info()["LoggingDriver"] == "journald"

    planned = plan(host, fit)
    finding = [n for n in notes(planned) if n.startswith("finding: CIS v1.8.0 2.2 (icc) stays failing")]
    assert finding, notes(planned)
    assert "the operator's daemon.json sets `iptables: false`" in finding[0] and "Fix: turn iptables back on" in finding[0]
    kept = {k["key"]: k for k in planned["kept"]}
    assert kept["icc"]["strength"] == "enforces" and kept["log-driver"]["operator_value"] == "journald", kept

    apply(host, fit)
    written = daemon_json(host)
    assert written["iptables"] is False and "icc" not in written, \
        f"icc false without iptables would keep dockerd from starting: {written}"
    assert written["log-driver"] == "journald" and "log-opts" not in written, \
        f"no json-file rotation options under the operator's journald driver: {written}"
    info = host.info()
    assert info["LoggingDriver"] == "journald" and info["LiveRestoreEnabled"] is True

    # journald: a container started after apply still logs to the host's journal
    image = host.import_busybox_image()
    host.docker("run", "--name", "jlog", image, "echo", "dh-proof-journald-after-apply")
    journal = wait_for("dh-proof-journald-after-apply", lambda: host.run(
        ["journalctl", "--no-pager", "-o", "cat", "CONTAINER_NAME=jlog"], check=False).stdout)
    assert "dh-proof-journald-after-apply" in journal, f"journalctl CONTAINER_NAME=jlog after apply:\n{journal}"

    # check names the controls that stay failing, with what it saw
    controls = check(host)
    assert controls["2.2"]["status"] == "fail" and controls["2.2"]["evidence"] == (
        "default bridge enable_icc = true; iptables = false (daemon.json): icc false needs iptables, so baseline "
        "leaves icc out until it is on"), controls["2.2"]
    assert controls["2.4"]["status"] == "fail" and "iptables = false" in controls["2.4"]["evidence"], controls["2.4"]
    assert controls["2.14"]["status"] == "pass" and "journald" in controls["2.14"]["evidence"], controls["2.14"]
    assert controls["2.16"]["status"] == "pass", controls["2.16"]  # live-restore, which baseline enforces


def test_a_userns_remap_host_takes_baseline_without_the_image_store_that_refuses_remapping(systemd_host):
    host = systemd_host
    fit = host.fit_limits_layer()
    operator_file(host, {"userns-remap": "default"})
    root = host.info()["DockerRootDir"]
    assert "name=userns" in host.info()["SecurityOptions"] and root.startswith("/var/lib/docker/")

    planned = plan(host, fit)
    # on every line, 20.10 included (which would leave the key out anyway as unknown), the reason given is remapping
    reason = ("daemon.json `features.containerd-snapshotter`: not written (the operator sets userns-remap: the "
              "containerd image store refuses user namespace remapping (no CIS control depends on the image "
              "store)); baseline only defaults this key")
    assert reason in notes(planned), notes(planned)
    assert planned["store_switch"] is None, planned["store_switch"]  # the data root stays where it is

    apply(host, fit)
    written = daemon_json(host)
    assert written["userns-remap"] == "default" and "features" not in written, written
    info = host.info()
    assert "name=userns" in info["SecurityOptions"] and info["DockerRootDir"] == root, info
    image = host.import_busybox_image()
    uid_map = host.docker("run", "--rm", image, "cat", "/proc/self/uid_map").stdout.split()
    assert uid_map[0] == "0" and uid_map[1] != "0", f"root in a container is not remapped after apply: uid_map {uid_map}"
    controls = check(host)
    assert controls["2.10"]["status"] == "pass", controls["2.10"]  # user namespace support, the operator's own
    assert controls["2.2"]["status"] == "pass", controls["2.2"]  # icc, which baseline enforces
