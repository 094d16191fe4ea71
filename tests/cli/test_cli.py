"""The command as an operator runs it: a real process, a real directory tree as the root."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TARGETS = {"/etc/docker/daemon.json", "/etc/audit/rules.d/docker.rules", "/etc/ufw/after.rules",
           "/etc/docker/seccomp/default.json"}
OWN = {"/var/lib/dockharden/managed.json", "/etc/dockharden/dockharden.toml"}
OPERATOR_UFW = "# operator's own rules\n*filter\n:ufw-after-input - [0:0]\n-A ufw-after-input -p udp --dport 137 -j DROP\nCOMMIT\n"


def dockharden(*args, check=False):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "dockharden", *args], capture_output=True, text=True, env=env)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def tree_snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def operator_root(tmp_path):
    (tmp_path / "etc/docker").mkdir(parents=True)
    (tmp_path / "etc/ufw").mkdir(parents=True)
    (tmp_path / "etc/docker/daemon.json").write_text('{\n  "data-root": "/srv/docker",\n  "debug": true\n}\n')
    (tmp_path / "etc/ufw/after.rules").write_text(OPERATOR_UFW)
    return tmp_path


def test_plan_on_an_empty_root_lists_the_four_targets_and_dockhardens_own_files_and_exits_2(tmp_path):
    done = dockharden("plan", "--root", str(tmp_path), "--profile", "baseline", "--json", "--detailed-exitcode")
    assert done.returncode == 2, done.stderr
    doc = json.loads(done.stdout)
    assert doc["format_version"] == 1
    assert {c["path"] for c in doc["changes"]} == TARGETS | OWN
    assert all(c["action"] == "create" for c in doc["changes"])
    # a root that is not the running system: apply acts on no service there, and the plan says so
    assert doc["services"] == []
    assert {"service": "docker", "action": "restart"}.items() <= doc["services_left"][0].items()
    assert "is not the running system" in doc["services_left"][0]["left_because"]
    assert list(tmp_path.iterdir()) == []  # plan wrote nothing


def test_apply_keeps_operator_keys_and_ufw_lines_then_plan_reports_nothing_to_do(operator_root):
    dockharden("apply", "--root", str(operator_root), "--profile", "baseline", "--no-restart", "--yes", check=True)
    daemon = json.loads((operator_root / "etc/docker/daemon.json").read_text())
    assert list(daemon)[:2] == ["data-root", "debug"] and daemon["data-root"] == "/srv/docker"
    assert daemon["live-restore"] is True and daemon["icc"] is False
    assert (operator_root / "etc/ufw/after.rules").read_text().startswith(OPERATOR_UFW)
    again = dockharden("plan", "--root", str(operator_root), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to do" in again.stdout


def test_apply_backs_up_replaced_files_in_a_private_generation(operator_root):
    before = (operator_root / "etc/docker/daemon.json").read_bytes()
    done = dockharden("apply", "--root", str(operator_root), "--no-restart", "--yes", "--json", check=True)
    result = json.loads(done.stdout)
    assert result["result"] == "applied" and result["generation"] == "0001"
    gen = operator_root / "var/lib/dockharden/generations/0001"
    assert oct(gen.stat().st_mode & 0o777) == "0o700"
    record = json.loads((gen / "record.json").read_text())
    entry = next(e for e in record["files"] if e["path"] == "/etc/docker/daemon.json")
    assert (gen / entry["backup"]).read_bytes() == before
    assert record["state"] == "applied"


def test_a_second_apply_changes_nothing_and_records_no_generation(operator_root):
    dockharden("apply", "--root", str(operator_root), "--no-restart", "--yes", check=True)
    done = dockharden("apply", "--root", str(operator_root), "--no-restart", "--yes", "--json", check=True)
    assert json.loads(done.stdout)["result"] == "unchanged"
    assert [p.name for p in (operator_root / "var/lib/dockharden/generations").iterdir()] == ["0001"]


def test_the_persisted_selection_is_reused_and_flags_override_it(operator_root):
    dockharden("apply", "--root", str(operator_root), "--profile", "baseline,userns", "--no-restart", "--yes",
               check=True)
    plan = json.loads(dockharden("plan", "--root", str(operator_root), "--json").stdout)
    assert plan["selection"]["profiles"] == ["baseline", "userns"] and plan["changes"] == []
    flagged = json.loads(dockharden("plan", "--root", str(operator_root), "--profile", "baseline", "--json").stdout)
    assert any(k["key"] == "userns-remap" and k["kind"] == "removed" for c in flagged["changes"]
               for k in c.get("keys", []))


@pytest.mark.parametrize("daemon_json,needle", [
    (b'{"debug": true,}', "line 1 column 16"),
    (b'{"graph": "/srv"}', "data-root"),
    (b'{"live-restor": true}', "did you mean `live-restore`"),
    (b'{"log-opts": {"tag": 5}}', "log-opts.tag"),
])
def test_bad_daemon_json_is_one_paragraph_exit_1_and_nothing_is_touched(operator_root, daemon_json, needle):
    (operator_root / "etc/docker/daemon.json").write_bytes(daemon_json)
    before = tree_snapshot(operator_root)
    done = dockharden("apply", "--root", str(operator_root), "--no-restart", "--yes")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and needle in done.stderr
    assert "/etc/docker/daemon.json" in done.stderr and done.stderr.count("\n") == 1
    assert tree_snapshot(operator_root) == before


def test_a_malformed_layer_is_one_paragraph_exit_1_and_nothing_is_touched(operator_root, tmp_path_factory):
    layer = tmp_path_factory.mktemp("layers") / "mine.toml"
    layer.write_text('[daemon]\nicc = "no"\n')
    before = tree_snapshot(operator_root)
    done = dockharden("apply", "--root", str(operator_root), "--layer", str(layer), "--no-restart", "--yes")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert str(layer) in done.stderr and "daemon.icc" in done.stderr and "boolean" in done.stderr
    assert tree_snapshot(operator_root) == before


def test_an_unclosed_managed_block_is_one_paragraph_exit_1_and_nothing_is_touched(operator_root):
    (operator_root / "etc/ufw/after.rules").write_text(OPERATOR_UFW + "# BEGIN dockharden DOCKER-USER\n")
    before = tree_snapshot(operator_root)
    done = dockharden("plan", "--root", str(operator_root))
    assert done.returncode == 1 and "has no partner" in done.stderr and "after.rules" in done.stderr
    assert tree_snapshot(operator_root) == before


def test_a_setting_the_daemon_would_refuse_is_caught_at_plan_time(operator_root, tmp_path_factory):
    layer = tmp_path_factory.mktemp("layers") / "open.toml"
    layer.write_text('[daemon]\nhosts = ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]\n')
    done = dockharden("plan", "--root", str(operator_root), "--layer", str(layer))
    assert done.returncode == 1 and "without TLS client verification" in done.stderr


def test_show_prints_each_key_with_the_layer_that_set_it():
    done = dockharden("show", "--profile", "baseline,userns", check=True)
    assert "daemon.live-restore = true  <- baseline" in done.stdout
    assert "daemon.userns-remap = \"default\"  <- userns" in done.stdout
    assert "daemon.features.containerd-snapshotter removed  <- userns" in done.stdout


@pytest.mark.parametrize("layer, needle", [
    ('[daemon]\ntlscert = "/etc/ssl/someone.pem"\n', "did not create it"),  # a real certificate, not ours
    ('[daemon]\ntlscert = "/etc/passwd"\n', "is not a PEM certificate"),
    ('[daemon]\ntlscert = "certs/server.pem"\n', "relative path"),
    ('[daemon]\ntlskey = "/etc/docker/tls/server-cert.pem"\n', "is not a PEM private key"),
])
def test_a_tls_layer_naming_a_file_dockharden_must_not_write_is_refused_and_nothing_is_touched(
        operator_root, layer, needle):
    (operator_root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (operator_root / "etc/ssl").mkdir()
    (operator_root / "etc/ssl/someone.pem").write_bytes(Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()
                                                        .split(b"-----END CERTIFICATE-----")[0]
                                                        + b"-----END CERTIFICATE-----\n")
    dockharden("apply", "--root", str(operator_root), "--profile", "baseline,tls", "--no-restart", "--yes", check=True)
    site = operator_root / "site.toml"
    site.write_text(layer)
    before = tree_snapshot(operator_root)
    done = dockharden("apply", "--root", str(operator_root), "--profile", "baseline,tls", "--layer", str(site),
                      "--no-restart", "--yes")
    assert done.returncode == 1 and needle in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert tree_snapshot(operator_root) == before


@pytest.mark.parametrize("args,needle", [
    (["--profile", ""], "names no profile"),
    (["--profile", ","], "names no profile"),
    (["--profile", "baseline,baseline"], "selected twice"),
    (["--profile", "baselin"], "did you mean `baseline`"),
    (["--engine-version", "banana"], "not an engine version"),
    (["--user", "-rf"], "not a user name"),
])
def test_a_flag_that_does_not_mean_what_it_must_is_one_paragraph_exit_1_and_nothing_is_touched(operator_root, args,
                                                                                                  needle):
    before = tree_snapshot(operator_root)
    done = dockharden("apply", "--root", str(operator_root), "--no-restart", "--yes", *args)
    assert done.returncode == 1 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert needle in done.stderr and args[0] in done.stderr, done.stderr
    assert tree_snapshot(operator_root) == before


def test_verify_takes_the_rootless_user_as_plan_and_apply_do(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\nci:x:1001:1001::/home/ci:/bin/sh\n")
    without = dockharden("verify", "--root", str(tmp_path), "--profile", "baseline,rootless")
    assert without.returncode == 1 and "pass --user NAME" in without.stderr
    done = dockharden("verify", "--root", str(tmp_path), "--profile", "baseline,rootless", "--user", "ci", "--json")
    assert "Traceback" not in done.stderr and "needs the daemon's user" not in done.stderr, done.stderr
    assert "/home/ci/.config/docker/daemon.json" in done.stdout


def test_an_offline_root_has_no_running_containers_so_its_plan_closes_no_published_port_and_apply_yes_goes_ahead(
        operator_root):
    plan = dockharden("plan", "--root", str(operator_root), "--profile", "baseline", "--json", check=True)
    assert json.loads(plan.stdout)["published_ports_closed"] is None
    done = dockharden("apply", "--root", str(operator_root), "--profile", "baseline", "--yes", "--json", check=True)
    result = json.loads(done.stdout)
    assert result["result"] == "applied" and result["workload"] is None  # no service acted on: nothing measured


def test_apply_takes_close_published_ports_for_a_run_without_a_question():
    done = dockharden("apply", "--help")
    assert "--close-published-ports" in done.stdout


def test_verify_on_a_tree_counts_each_status_and_exits_2_only_for_the_drift(operator_root):
    dockharden("apply", "--root", str(operator_root), "--profile", "baseline", "--no-restart", "--yes", check=True)
    done = dockharden("verify", "--root", str(operator_root), "--profile", "baseline", "--json")
    assert done.returncode == 2, done.stderr
    doc = json.loads(done.stdout)
    status = {c["check"]: c["status"] for c in doc["checks"]}
    assert status["file /etc/docker/daemon.json"] == "in_force"
    assert status["dockerd answers"] == "drift"           # no daemon runs in a tree
    assert status["audit watches loaded"] == status["DOCKER-USER chain"] == "not_verifiable"  # not this kernel's
    assert doc["counts"]["drift"] == 1 and doc["drift"] is True and doc["ok"] is False
    assert sum(doc["counts"].values()) == len(doc["checks"]) and doc["format_version"] == 2
    text = dockharden("verify", "--root", str(operator_root), "--profile", "baseline")
    assert text.returncode == 2 and text.stdout.splitlines()[-1].endswith("1 drift: 1 mismatch(es).")
    assert any(line.startswith("not_verifiable ") and "a --root other than / is a tree" in line
               for line in text.stdout.splitlines())


def test_the_plan_header_says_where_the_profiles_and_the_layers_each_came_from(operator_root, tmp_path_factory):
    dockharden("apply", "--root", str(operator_root), "--profile", "baseline", "--no-restart", "--yes", check=True)
    layer = tmp_path_factory.mktemp("layers") / "site.toml"
    layer.write_text("[daemon]\ndebug = false\n")
    done = dockharden("plan", "--root", str(operator_root), "--layer", str(layer))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"dockharden plan: profiles baseline (from /etc/dockharden/dockharden.toml), "
                                  f"layers {layer} (from command line); "), done.stdout.splitlines()[0]
    doc = json.loads(dockharden("plan", "--root", str(operator_root), "--layer", str(layer), "--json").stdout)
    assert (doc["selection"]["profiles_from"], doc["selection"]["layers_from"]) == (
        "/etc/dockharden/dockharden.toml", "command line")
    saved = dockharden("plan", "--root", str(operator_root))
    assert saved.stdout.startswith("dockharden plan: profiles baseline (from /etc/dockharden/dockharden.toml); ")


def test_a_rollback_plan_names_the_rollback_command_with_its_arguments_not_apply(operator_root):
    dockharden("apply", "--root", str(operator_root), "--profile", "baseline", "--no-restart", "--yes", check=True)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "dockharden", "rollback", "--to", "0001", "--root",
                           str(operator_root), "--no-restart"], input="n\n", capture_output=True, text=True, env=env)
    assert done.returncode == 1, done.stderr
    assert f"Run `dockharden rollback --to 0001 --root {operator_root} --no-restart` to make these changes." \
        in done.stdout
    assert "dockharden apply" not in done.stdout and done.stdout.startswith("dockharden plan: a rollback")
