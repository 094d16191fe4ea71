"""An offline root (an image, a chroot: a --root other than /) is judged from its files: nothing of the
machine running dockharden is read for it (the builder's kernel audit rules, its firewall, its dockerd,
its systemd), and what only the live host can show is `not_verifiable`.

The machine's programs are replaced, on PATH, by stand-ins that write down every call and fail: a call
is a test failure. That includes the checks of a rendered file (`iptables-restore --test`, `nft -c`):
their verdict is this machine's iptables and kernel, not the image's, so the plan says they were not run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 60

#: every program dockharden could ask about the running system
LIVE_TOOLS = ("auditctl", "iptables", "ip6tables", "iptables-legacy", "iptables-nft", "ip6tables-legacy",
              "ip6tables-nft", "iptables-save", "ip6tables-save", "docker", "dockerd", "systemctl", "service",
              "ufw", "ip", "containerd", "runc", "journalctl", "iptables-restore", "ip6tables-restore", "nft")


@pytest.fixture
def machine(tmp_path):
    """A PATH whose live-state programs log each call (and fail); the log's path."""
    bindir, log = tmp_path / "bin", tmp_path / "calls.log"
    bindir.mkdir()
    log.write_text("")
    for tool in LIVE_TOOLS:
        (bindir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\nexit 3\n')
        (bindir / tool).chmod(0o755)
    return bindir, log


def run(machine, *args):
    bindir, _ = machine
    env = dict(os.environ, PYTHONPATH=str(REPO), PATH=f"{bindir}:{os.environ.get('PATH', '')}")
    return subprocess.run([sys.executable, "-m", "dockharden", *args], capture_output=True, text=True, env=env,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def live_calls(machine) -> list[str]:
    """The calls made to a program that reads or changes the running system."""
    _, log = machine
    return log.read_text().splitlines()


def image(tmp_path: Path) -> Path:
    root = tmp_path / "image"
    for d in ("etc/docker", "etc/audit/rules.d", "etc/ufw", "lib/systemd/system", "usr/bin"):
        (root / d).mkdir(parents=True)
    (root / "etc/ufw/after.rules").write_text("*filter\n:ufw-after-forward - [0:0]\nCOMMIT\n")
    (root / "etc/ufw/after6.rules").write_text("*filter\n:ufw6-after-forward - [0:0]\nCOMMIT\n")
    (root / "etc/ufw/ufw.conf").write_text("ENABLED=yes\n")
    return root


def test_apply_and_rollback_on_an_image_run_nothing_of_the_machine_that_builds_it(tmp_path, machine):
    root = image(tmp_path)
    done = run(machine, "apply", "--root", str(root), "--profile", "baseline,tls", "--yes")
    assert done.returncode == 0, done.stderr
    assert (root / "etc/docker/daemon.json").exists()
    done = run(machine, "rollback", "--root", str(root), "--yes")
    assert done.returncode == 0, done.stderr
    assert live_calls(machine) == []  # no dockerd --validate of the builder's engine, no systemctl, no auditctl
    # an engine version given for the image (one --validate knows) does not make the builder's dockerd its judge
    done = run(machine, "apply", "--root", str(root), "--profile", "baseline", "--engine-version", "28.5.0", "--yes")
    assert done.returncode == 0, done.stderr
    assert live_calls(machine) == []


def test_a_plan_for_an_image_does_not_check_its_firewall_files_with_this_machines_tools_and_says_so(
        tmp_path, machine):
    root = image(tmp_path)
    done = run(machine, "plan", "--root", str(root), "--profile", "baseline", "--json")
    assert done.returncode == 0, done.stderr
    notes = [n["message"] for n in json.loads(done.stdout)["notes"] if "was not checked with" in n["message"]]
    assert [n.split(" ")[0] for n in notes] == ["/etc/ufw/after.rules", "/etc/ufw/after6.rules"], notes
    assert "iptables-restore --test" in notes[0] and "ip6tables-restore --test" in notes[1]
    assert all("not the image's" in n for n in notes)
    done = run(machine, "plan", "--root", str(root), "--profile", "baseline,nftables", "--engine-version", "29.1.0")
    assert done.returncode == 0, done.stderr
    assert "[info] /etc/dockharden/nftables/dockharden.nft was not checked with nft -c" in done.stdout
    assert live_calls(machine) == []


def test_the_switch_to_nftables_on_an_image_plans_no_forward_policy_and_apply_and_rollback_run_no_iptables(
        tmp_path, machine):
    """The iptables FORWARD policy is a live host's (core/forward_policy.py): an image has none to judge, so its
    plan has no host action and no warning about it, and nothing is run to read or set it."""
    root = image(tmp_path)
    (root / "etc/ufw/ufw.conf").unlink()  # no ufw: on a live host the policy would be Docker's own
    engine = ("--profile", "baseline,nftables", "--engine-version", "29.1.0")
    done = run(machine, "plan", "--root", str(root), *engine, "--json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["host_actions"] == []
    assert not any("FORWARD policy is" in n["message"] for n in plan["notes"])
    done = run(machine, "apply", "--root", str(root), *engine, "--yes")
    assert done.returncode == 0, done.stderr
    assert "Host actions:" not in done.stdout and "-P FORWARD" not in done.stdout
    assert '"firewall-backend": "nftables"' in (root / "etc/docker/daemon.json").read_text()
    done = run(machine, "rollback", "--root", str(root), "--yes")
    assert done.returncode == 0, done.stderr
    assert "Host actions:" not in done.stdout
    assert live_calls(machine) == []


def test_verify_on_an_image_says_the_kernel_and_firewall_state_is_not_verifiable_and_reads_neither(
        tmp_path, machine):
    root = image(tmp_path)
    assert run(machine, "apply", "--root", str(root), "--profile", "baseline", "--yes").returncode == 0
    done = run(machine, "verify", "--root", str(root), "--profile", "baseline", "--json")
    assert done.returncode in (0, 2), done.stderr
    status = {c["check"]: (c["status"], c["detail"]) for c in json.loads(done.stdout)["checks"]}
    for row in ("audit watches loaded", "DOCKER-USER chain"):
        assert status[row][0] == "not_verifiable" and "not the running kernel" in status[row][1], status[row]
    assert status["file /etc/docker/daemon.json"][0] == "in_force"  # the files are judged
    assert live_calls(machine) == []


def test_check_on_an_image_judges_the_audit_controls_by_its_rules_files_never_by_this_kernels_rules(
        tmp_path, machine):
    root = image(tmp_path)
    assert run(machine, "apply", "--root", str(root), "--profile", "baseline", "--yes").returncode == 0
    done = run(machine, "check", "--root", str(root), "--format", "json")
    assert done.returncode in (0, 2), done.stderr
    results = {r["id"]: r for r in json.loads(done.stdout)["controls"]}
    audit = [r for cid, r in results.items() if cid.startswith("1.1.") and cid not in ("1.1.1", "1.1.2")]
    assert audit and all(r["status"] == "not_verifiable" for r in audit), audit
    assert all("not the running kernel" in r["evidence"] for r in audit)
    assert "the rules files watch /etc/docker" in results["1.1.6"]["evidence"]  # what the image's files say
    assert results["1.1.1"]["status"] == "not_verifiable"  # partitions are the host's, not a tree's
    assert live_calls(machine) == []


def test_check_on_an_image_does_not_ask_this_kernel_about_audit(tmp_path, monkeypatch):
    """In process: the netlink question to the kernel (no program to intercept) is not asked either."""
    from dockharden.host import check_facts
    from dockharden.host import facts as hostmod
    from dockharden.host.runner import Runner

    class NoRunner(Runner):
        def run(self, argv, **kwargs):
            raise AssertionError(f"ran {argv} for an offline root")

        def run_all(self, calls, **kwargs):
            raise AssertionError(f"ran {calls} for an offline root")

    def asked():
        raise AssertionError("asked the running kernel about audit for an offline root")

    root = image(tmp_path)
    monkeypatch.setattr(hostmod, "kernel_audit", asked)
    host = hostmod.read_host(str(root), NoRunner(), ["/etc/docker/daemon.json"])
    found = check_facts.read_facts(host, NoRunner(), str(root / "var/run/docker.sock"))
    assert found.live is False and found.audit_watched == frozenset()
    assert found.audit_unavailable == check_facts.NOT_THIS_KERNEL


# --- an image's docker.service (issue 24, class 17) ----------------------------------------------------

DEBIAN_UNIT = """\
[Unit]
Description=Docker Application Container Engine

[Service]
Type=notify
ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock
ExecReload=/bin/kill -s HUP $MAINPID

[Install]
WantedBy=multi-user.target
"""


def debian_image(tmp_path: Path, unit: str = DEBIAN_UNIT) -> Path:
    root = image(tmp_path)
    (root / "lib/systemd/system/docker.service").write_text(unit)
    return root


def test_an_images_docker_service_with_fd_gets_the_tls_layers_drop_in_as_a_live_host_would(tmp_path, machine):
    root = debian_image(tmp_path)
    done = run(machine, "apply", "--root", str(root), "--profile", "baseline,tls", "--yes")
    assert done.returncode == 0, done.stderr
    dropin = (root / "etc/systemd/system/docker.service.d/dockharden.conf").read_text()
    assert "ExecStart=\nExecStart=/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock\n" in dropin
    hosts = json.loads((root / "etc/docker/daemon.json").read_text())["hosts"]
    assert hosts[0] == "fd://"  # socket activation kept: the unit's -H fd:// moves into daemon.json
    assert live_calls(machine) == []
    again = run(machine, "plan", "--root", str(root), "--profile", "baseline,tls", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr  # the decision does not flip once the drop-in exists


def test_an_images_drop_in_is_read_and_its_host_flags_are_replaced_too(tmp_path, machine):
    root = debian_image(tmp_path)
    override = root / "etc/systemd/system/docker.service.d/10-listen.conf"
    override.parent.mkdir(parents=True)
    override.write_text("[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// -H tcp://127.0.0.1:2375 --debug\n")
    done = run(machine, "plan", "--root", str(root), "--profile", "baseline,tls", "--json")
    assert done.returncode == 0, done.stderr
    change = next(c for c in json.loads(done.stdout)["changes"] if c["path"].endswith("docker.service.d/dockharden.conf"))
    assert "+ExecStart=/usr/bin/dockerd --debug\n" in change["diff"]


def test_an_images_environment_file_that_also_passes_h_is_a_conflict_error_and_nothing_is_written(tmp_path, machine):
    root = debian_image(tmp_path, DEBIAN_UNIT.replace("containerd.sock\n", "containerd.sock $DOCKER_OPTS\n"))
    (root / "etc/default").mkdir()
    (root / "etc/default/docker").write_text('DOCKER_OPTS="--dns 192.0.2.53 -H tcp://0.0.0.0:2375"\n')
    before = sorted(p for p in root.rglob("*"))
    done = run(machine, "apply", "--root", str(root), "--profile", "baseline,tls", "--yes")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "`hosts` is also given to dockerd as -H" in done.stderr, done.stderr
    assert sorted(p for p in root.rglob("*")) == before


def test_a_sysvinit_image_whose_docker_opts_pass_h_is_a_conflict_error(tmp_path, machine):
    root = image(tmp_path)
    (root / "etc/init.d").mkdir()
    (root / "etc/init.d/docker").write_text("#!/bin/sh\n")
    (root / "etc/default").mkdir()
    (root / "etc/default/docker").write_text('DOCKER_OPTS="-H tcp://0.0.0.0:2375"\n')
    done = run(machine, "plan", "--root", str(root), "--profile", "baseline,tls")
    assert done.returncode == 1 and "`hosts` is also given to dockerd as -H" in done.stderr, done.stderr
    assert live_calls(machine) == []


# --- the tls layer baked into an image (issue 24, class 13) --------------------------------------------

def test_a_plan_that_bakes_the_tls_layer_into_an_image_warns_of_the_shared_keys_and_names_the_safe_way(
        tmp_path, machine):
    root = debian_image(tmp_path)
    done = run(machine, "plan", "--root", str(root), "--profile", "baseline,tls", "--json")
    assert done.returncode == 0, done.stderr
    warnings = [n["message"] for n in json.loads(done.stdout)["notes"]
                if n["level"] == "warning" and n["message"].startswith("tls in an image")]
    assert len(warnings) == 1, json.loads(done.stdout)["notes"]
    said = warnings[0]
    for needle in ("/etc/docker/tls/ca-key.pem", "/etc/docker/tls/client/key.pem", "every clone",
                   "DNS:localhost", "tcp://0.0.0.0:2376", "first boot", "docs/layers/tls.md"):
        assert needle in said, (needle, said)
    text = run(machine, "plan", "--root", str(root), "--profile", "baseline,tls")
    assert "[warning] tls in an image: " in text.stdout
    plain = run(machine, "plan", "--root", str(root), "--profile", "baseline", "--json")
    assert not [n for n in json.loads(plain.stdout)["notes"] if n["message"].startswith("tls in an image")]


def test_the_image_warning_is_not_given_on_the_running_system():
    from dockharden.model import HostSnapshot
    from dockharden.targets import certs, tls_files

    keys = [certs.CA_KEY, certs.CLIENT_KEY, certs.SERVER_KEY]

    def host(root):
        return HostSnapshot(root=root, files={}, existing_paths=frozenset())

    assert tls_files.image_note(host("/"), keys, ["tcp://0.0.0.0:2376"], {"DNS:localhost"}) is None
    assert tls_files.image_note(host("/mnt/image"), keys, ["tcp://0.0.0.0:2376"], None) is not None
