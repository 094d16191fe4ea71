"""Saved plans, as an operator uses them: `plan --out FILE` is reviewed, `apply FILE` applies exactly it,
or refuses in one paragraph, naming what changed, when the host or the file is not what was reviewed."""

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ORIGINAL = b'{\n  "debug": true\n}\n'


def dockharden(*args, env=None, umask=None):
    environ = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    preexec = (lambda: os.umask(umask)) if umask is not None else None
    # a failpoint is read only by the tests' entry point (tests/failpoints.py), never by the command
    entry = [str(REPO / "tests" / "failpoints.py")] if "DOCKHARDEN_FAILPOINT" in (env or {}) else ["-m", "dockharden"]
    return subprocess.run([sys.executable, *entry, *args], capture_output=True, text=True, env=environ,
                          timeout=120, stdin=subprocess.DEVNULL, preexec_fn=preexec)


def tree(root: Path) -> dict:
    """Every file and its mode; the lock file aside (the host is compared with the plan under the lock)."""
    return {str(p.relative_to(root)): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
            for p in root.rglob("*") if p.is_file() and p.name != "lock"}


def one_paragraph(done, *needles):
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("dockharden: error: "), done.stderr
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr)


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_bytes(ORIGINAL)
    return root


@pytest.fixture
def saved(tmp_path, root):
    """A plan of baseline for `root`, saved (tmp_path is 0700 and root's: a safe place for it)."""
    path = tmp_path / "plan.json"
    done = dockharden("plan", "--root", str(root), "--profile", "baseline", "--out", str(path))
    assert done.returncode == 0, done.stderr
    return path


def test_a_saved_plan_is_written_0600_whatever_the_umask_and_says_so(tmp_path, root):
    path = tmp_path / "plan.json"
    done = dockharden("plan", "--root", str(root), "--out", str(path), umask=0)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"saved the plan to {path} (mode 0600" in done.stderr and f"dockharden apply {path}" in done.stderr
    doc = json.loads(path.read_text())
    assert (doc["format_version"], doc["kind"]) == (1, "dockharden.saved-plan")
    assert doc["plan"]["kind"] == "dockharden.plan" and doc["checksum"].startswith("sha256:")
    assert doc["target"]["root"] == str(root) and doc["inputs"]["daemon"] == {"pid": None, "engine_version": None}
    assert list(root.rglob("*")) == [root / "etc", root / "etc/docker", root / "etc/docker/daemon.json"]


def test_the_saved_plan_message_names_the_apply_command_with_the_root_it_needs(tmp_path, root):
    path = tmp_path / "plan.json"
    done = dockharden("plan", "--root", str(root), "--profile", "baseline", "--out", str(path))
    said = f"`dockharden apply {path} --root {root}`"
    assert said in done.stderr, done.stderr
    applied = dockharden(*said.strip("`").split()[1:], "--no-restart")
    assert applied.returncode == 0, applied.stderr


def test_a_plans_closing_line_names_the_apply_that_makes_it_root_and_selection_included(tmp_path, root):
    layer = tmp_path / "site.toml"
    layer.write_text("[daemon]\ndebug = false\n")
    done = dockharden("plan", "--root", str(root), "--profile", "baseline", "--layer", str(layer), "--no-restart")
    said = f"`dockharden apply --profile baseline --layer {layer} --root {root} --no-restart`"
    assert f"Run {said} to make these changes." in done.stdout, done.stdout[-600:]
    applied = dockharden(*said.strip("`").split()[1:], "--yes")
    assert applied.returncode == 0, applied.stderr
    again = dockharden("plan", "--root", str(root), "--profile", "baseline", "--layer", str(layer), "--no-restart")
    assert "Nothing to do." in again.stdout, again.stdout[-600:]


def test_show_names_the_apply_of_a_saved_plan_with_its_root(saved, root):
    done = dockharden("show", str(saved))
    said = f"`dockharden apply {saved} --root {root}`"
    assert f"matches the plan; {said} would apply it" in done.stdout and f"Run {said} to make" in done.stdout


def test_a_saved_plan_applied_writes_exactly_the_planned_bytes_and_then_nothing_is_left_to_do(saved, root):
    planned = {f["path"]: f for f in json.loads(saved.read_text())["files"]}
    done = dockharden("apply", str(saved), "--root", str(root), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["result"] == "applied" and set(result["written"]) == set(planned)
    import base64

    for path, entry in planned.items():
        target = root / path.lstrip("/")
        assert target.read_bytes() == base64.b64decode(entry["content_base64"]), path
        assert stat.S_IMODE(target.stat().st_mode) == entry["mode"], path
    assert "the host still matches the plan" in done.stderr
    again = dockharden("plan", "--root", str(root), "--profile", "baseline", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout
    record = json.loads((root / "var/lib/dockharden/generations/0001/record.json").read_text())
    assert record["state"] == "applied"
    assert next(e for e in record["files"] if e["path"] == "/etc/docker/daemon.json")["existed"] is True


def test_a_saved_plan_is_refused_after_a_host_file_changed_naming_it_and_nothing_is_changed(saved, root):
    (root / "etc/docker/daemon.json").write_bytes(b'{\n  "debug": false\n}\n')
    before = tree(root)
    done = dockharden("apply", str(saved), "--root", str(root))
    one_paragraph(done, "the host no longer matches the plan", "/etc/docker/daemon.json changed",
                  "nothing was changed", "Hint: make a new plan")
    assert tree(root) == before


@pytest.mark.parametrize("change,says", [
    (lambda root: (root / "etc/ufw").mkdir(parents=True) or (root / "etc/ufw/after.rules").write_text("*filter\n"),
     "/etc/ufw/after.rules was created"),
    (lambda root: (root / "etc/docker/daemon.json").unlink(), "/etc/docker/daemon.json was removed"),
    (lambda root: os.chmod(root / "etc/docker/daemon.json", 0o600), "/etc/docker/daemon.json's mode changed"),
    (lambda root: (root / "etc/systemd/system/docker.service.d").mkdir(parents=True)
     or (root / "etc/systemd/system/docker.service.d/site.conf").write_text("[Service]\n"),
     "/etc/systemd/system/docker.service.d/site.conf appeared"),
    (lambda root: (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n"), "/etc/passwd was created"),
])
def test_any_file_the_plan_read_that_changed_refuses_the_plan(saved, root, change, says):
    change(root)
    one_paragraph(dockharden("apply", str(saved), "--root", str(root), "--yes"), says)


def test_show_renders_a_saved_plan_and_says_whether_the_host_still_matches(saved, root):
    done = dockharden("show", str(saved))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Saved plan {saved}: made ")
    assert "the host now: matches the plan" in done.stdout and "Plan: 5 to create, 1 to update" in done.stdout
    (root / "etc/docker/daemon.json").write_bytes(b"{}\n")
    done = dockharden("show", str(saved), "--json")
    assert done.returncode == 0
    doc = json.loads(done.stdout)
    assert doc["kind"] == "dockharden.plan" and doc["summary"]["create"] == 5
    assert doc["saved"]["host_now"] == {"applicable": False, "wrong_target": [],
                                        "changed": ["/etc/docker/daemon.json changed"], "layers_changed": []}
    assert "content_base64" not in done.stdout


def test_an_edited_plan_file_is_refused_in_one_paragraph(saved, root):
    doc = json.loads(saved.read_text())
    doc["files"][0]["mode"] = 0o777  # looks like a plan, is not the one reviewed
    saved.write_text(json.dumps(doc, indent=2))
    before = tree(root)
    one_paragraph(dockharden("apply", str(saved), "--root", str(root)), "checksum does not match")
    assert tree(root) == before


@pytest.mark.parametrize("damage,says", [
    (lambda data: data[:len(data) // 2], "not JSON"),
    (lambda data: b"", "not JSON"),
    (lambda data: b'{"kind": "dockharden.apply"}', "not a saved plan (its kind is 'dockharden.apply')"),
    (lambda data: data.replace(b'"format_version": 1,\n  "kind": "dockharden.saved-plan"',
                               b'"format_version": 9,\n  "kind": "dockharden.saved-plan"'), "format_version 9"),
    (lambda data: b"\xff\xfe", "not UTF-8"),
])
def test_a_damaged_plan_file_is_refused_in_one_paragraph(saved, root, damage, says):
    saved.write_bytes(damage(saved.read_bytes()))
    one_paragraph(dockharden("apply", str(saved), "--root", str(root)), str(saved), says, "Hint: ")


def test_a_plan_file_others_can_write_is_not_read(saved, root, tmp_path):
    saved.chmod(0o620)
    one_paragraph(dockharden("apply", str(saved), "--root", str(root)), "others can write to it (mode 0620)")
    one_paragraph(dockharden("show", str(saved)), "others can write to it")
    saved.chmod(0o600)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # anyone could swap the file (no sticky bit)
    moved = shared / "plan.json"
    shutil.copy2(saved, moved)
    one_paragraph(dockharden("apply", str(moved), "--root", str(root)), "can be changed by others")
    one_paragraph(dockharden("plan", "--root", str(root), "--out", str(shared / "new.json")),
                  "can be changed by others")


def test_a_plan_made_for_one_root_is_refused_for_another(saved, root, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(root, other)
    before = tree(other)
    one_paragraph(dockharden("apply", str(saved), "--root", str(other)),
                  f"it was made for root {root}, not {other}", f"give --root {root}")
    one_paragraph(dockharden("apply", str(saved)), f"it was made for root {root}, not /")
    assert tree(other) == before


def test_a_plan_made_for_another_machine_id_is_refused(tmp_path, root):
    (root / "etc/machine-id").write_text("1" * 32 + "\n")
    path = tmp_path / "plan.json"
    assert dockharden("plan", "--root", str(root), "--out", str(path)).returncode == 0
    (root / "etc/machine-id").write_text("2" * 32 + "\n")  # the image was replaced by another at the same path
    one_paragraph(dockharden("apply", str(path), "--root", str(root)), "machine-id 1111")


@pytest.mark.parametrize("flags", [("--profile", "baseline"), ("--layer", "x.toml"), ("--engine-version", "24.0"),
                                   ("--user", "ci")])
def test_apply_file_takes_no_selection_flags(saved, root, flags):
    one_paragraph(dockharden("apply", str(saved), "--root", str(root), *flags),
                  f"apply FILE takes the plan as it was made; it takes no {flags[0]}")


def test_no_restart_with_a_plan_that_acts_on_services_is_refused_and_accepted_with_one_that_does_not(tmp_path,
                                                                                                    root):
    path = tmp_path / "plan.json"
    assert dockharden("plan", "--root", str(root), "--no-restart", "--out", str(path)).returncode == 0
    assert dockharden("apply", str(path), "--root", str(root), "--no-restart").returncode == 0


def test_a_missing_plan_file_says_what_apply_file_takes(root, tmp_path):
    one_paragraph(dockharden("apply", "baseline", "--root", str(root)), "baseline: not found",
                  "plan saved by `dockharden plan --out FILE`")


def test_a_run_interrupted_before_the_plan_is_undone_first_and_then_the_plan_applies(tmp_path, root):
    path = tmp_path / "plan.json"
    assert dockharden("plan", "--root", str(root), "--out", str(path)).returncode == 0
    killed = dockharden("apply", "--root", str(root), "--yes", env={"DOCKHARDEN_FAILPOINT": "kill:after-write-0"})
    assert killed.returncode == -9
    done = dockharden("apply", str(path), "--root", str(root), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["result"] == "applied" and doc["generation"] == "0002"
    assert doc["recovered"] and "generation 0001" in doc["recovered"][0]


def test_a_plan_made_on_an_interrupted_run_is_refused_once_recovery_changed_the_host(tmp_path, root):
    killed = dockharden("apply", "--root", str(root), "--yes", env={"DOCKHARDEN_FAILPOINT": "kill:after-write-0"})
    assert killed.returncode == -9
    path = tmp_path / "plan.json"
    made = dockharden("plan", "--root", str(root), "--out", str(path))
    assert "generation 0001 was interrupted" in made.stdout
    done = dockharden("apply", str(path), "--root", str(root))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("dockharden: error: ") and "the host no longer matches the plan (first, recovered: " \
                                                        "generation 0001" in last
    assert "nothing was changed" in last
    assert (root / "etc/docker/daemon.json").read_bytes() == ORIGINAL


def test_a_saved_plan_that_creates_tls_keys_applies_those_keys_not_new_ones(tmp_path, root):
    path = tmp_path / "plan.json"
    made = dockharden("plan", "--root", str(root), "--profile", "baseline,tls", "--out", str(path))
    assert made.returncode == 0, made.stderr
    assert "private keys included" in made.stderr
    keys = {f["path"]: f for f in json.loads(path.read_text())["files"] if f["secret"]}
    assert keys and all(f["mode"] == 0o400 for f in keys.values())
    assert dockharden("apply", str(path), "--root", str(root)).returncode == 0
    import base64

    for key_path, entry in keys.items():
        assert (root / key_path.lstrip("/")).read_bytes() == base64.b64decode(entry["content_base64"])
    shown = dockharden("show", str(path))
    assert "PRIVATE KEY" not in shown.stdout and "content not shown" in shown.stdout


def test_a_saved_plan_whose_run_fails_is_rolled_back_like_any_apply(saved, root):
    done = dockharden("apply", str(saved), "--root", str(root), "--json",
                      env={"DOCKHARDEN_FAILPOINT": "fail:after-write-1"})
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["result"] == "rolled_back" and "injected failure" in result["messages"][0]
    assert (root / "etc/docker/daemon.json").read_bytes() == ORIGINAL
    assert not (root / "etc/audit/rules.d/docker.rules").exists()
