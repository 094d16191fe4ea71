"""Fault injection: what real hosts throw at an apply, and proof that nothing is ever lost."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from harness import DOCKERD_CTL
from managed_host import ORIGINAL, result_of, spawn_held

REPO = Path(__file__).resolve().parents[2]


def record_state(host, gen_id: str) -> str | None:
    record = host.dir / f"var/lib/dockharden/generations/{gen_id}/record.json"
    try:
        return json.loads(record.read_text())["state"]
    except (OSError, ValueError):
        return None


@pytest.mark.parametrize("point", ["after-record", "after-write-0", "during-restart"])
def test_sigkill_during_a_rollback_is_recovered_and_the_original_bytes_come_back(managed, point):
    assert managed.apply("--profile", "baseline", *managed.layers).returncode == 0
    applied = managed.daemon_json()
    killed = managed.host.dockharden("rollback", "--to", "0001", "--yes",
                                     env={"DOCKHARDEN_FAILPOINT": f"kill:{point}"})
    assert killed.returncode == -9
    assert "interrupted" in managed.host.dockharden("plan", *managed.layers).stdout
    assert record_state(managed.host, "0002") not in ("applied", "rolled_back")
    again = managed.host.dockharden("rollback", "--to", "0001", "--yes", "--json", timeout=180)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "recovered: generation 0002" in again.stderr
    assert managed.daemon_json() == ORIGINAL != applied
    assert managed.host.info()["LiveRestoreEnabled"] is False


def test_the_daemon_dying_during_verify_is_rolled_back_and_brought_back_up(managed):
    """Held at during-verify by a mark, dockerd killed, the run released once the daemon is dead: the rollback
    starts it at once, while the containerd it started may still be shutting down (its first start can fail,
    "timeout waiting for containerd to start"; the rollback's restart tries a second time)."""
    host = managed.host
    proc = spawn_held(host, "during-verify", "apply", "--yes", "--json", "--profile", "baseline", *managed.layers)
    assert record_state(host, "0001") == "verifying"
    pid = host.dockerd_pid()
    os.kill(pid, signal.SIGKILL)
    while Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
        time.sleep(0.05)  # until the daemon is dead (a condition, not a window)
    proc.go()
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, out + err
    assert json.loads(out[out.index("{"):])["result"] == "rolled_back", out + err
    assert managed.daemon_json() == ORIGINAL
    assert host.info()["LiveRestoreEnabled"] is False  # up again, with the original configuration


def test_a_restart_command_that_hangs_is_cut_off_and_the_apply_rolled_back(managed):
    host = managed.host
    hang = host.dir / "etc/dockharden/restart-hangs-once"
    hang.write_text("#!/bin/sh\n# the first restart hangs (a wedged service manager), later ones work\n"
                    "if [ ! -e /run/hung-once ]; then touch /run/hung-once; exec sleep 600; fi\n"
                    f"exec {DOCKERD_CTL} restart\n")
    hang.chmod(0o755)
    config = host.dir / "etc/dockharden/dockharden.toml"
    config.write_text(config.read_text().replace(
        f'restart_command = ["{DOCKERD_CTL}", "restart"]',
        # long enough for the rollback's own restart on a loaded machine, far shorter than the hang
        'restart_command = ["/etc/dockharden/restart-hangs-once"]\ntimeout = 30'))
    done = managed.apply("--profile", "baseline", *managed.layers)  # the harness gives up long before 600 s
    assert done.returncode == 1 and result_of(done)["result"] == "rolled_back", done.stdout + done.stderr
    assert "timed out after 30" in " ".join(result_of(done)["messages"])
    assert managed.daemon_json() == ORIGINAL and host.info()["LiveRestoreEnabled"] is False


def test_a_file_changed_between_plan_and_apply_is_refused_and_kept(managed):
    host = managed.host
    proc = spawn_held(host, "after-lock", "apply", "--yes", "--profile", "baseline", *managed.layers)
    assert "apply" in (host.dir / "var/lib/dockharden/lock").read_text()  # it holds the lock
    edited = b'{\n  "debug": true\n}\n'
    (host.dir / "etc/docker/daemon.json").write_bytes(edited)
    proc.go()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "changed since the plan was made" in err, out + err
    assert managed.daemon_json() == edited
    assert not (host.dir / "var/lib/dockharden/generations").exists() or \
        not list((host.dir / "var/lib/dockharden/generations").iterdir())


def test_an_apply_racing_a_rollback_lets_exactly_one_proceed(managed):
    host = managed.host
    assert managed.apply("--profile", "baseline", *managed.layers).returncode == 0
    userns = spawn_held(host, "after-lock", "apply", "--yes", "--profile", "baseline,userns", *managed.layers)
    assert "apply" in (host.dir / "var/lib/dockharden/lock").read_text()  # it holds the lock until released
    rollback = host.dockharden("rollback", "--yes")
    assert rollback.returncode == 1 and "holds the lock" in rollback.stderr
    userns.go()
    out, err = userns.communicate(timeout=180)
    assert userns.returncode == 0, out + err
    assert "name=userns" in host.info()["SecurityOptions"]


# -- the filesystem says no ----------------------------------------------------------------------

def operator_tree(root: Path) -> dict:
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/ufw").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_bytes(ORIGINAL)
    (root / "etc/ufw/after.rules").write_text("*filter\n:ufw-after-input - [0:0]\nCOMMIT\n")
    return snapshot(root)


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode) for p in root.rglob("*") if p.is_file()}


def cli(*args, without_dac_override: bool = False):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "dockharden", *args]
    if without_dac_override:  # root that must obey file permissions, like an unprivileged user
        argv = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def small_tmpfs():
    mount = Path(tempfile.mkdtemp(prefix="dh-tmpfs-", dir="/tmp"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)
    mount.rmdir()


def test_a_full_disk_fails_cleanly_and_every_file_is_as_it_was(small_tmpfs):
    before = operator_tree(small_tmpfs)
    free = os.statvfs(small_tmpfs)
    filler = small_tmpfs / "filler"
    filler.write_bytes(b"\0" * (free.f_bavail * free.f_frsize - 24 * 1024))  # leave 24 KiB: the seccomp file won't fit
    before["filler"] = (filler.read_bytes(), filler.stat().st_mode)
    done = cli("apply", "--root", str(small_tmpfs), "--profile", "baseline", "--no-restart", "--yes", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "No space left" in done.stdout + done.stderr
    after = {k: v for k, v in snapshot(small_tmpfs).items() if not k.startswith("var/lib/dockharden")}
    assert after == before


def fill_leaving(root: Path, kib: int) -> None:
    free = os.statvfs(root)
    (root / "filler").write_bytes(b"\0" * (free.f_bavail * free.f_frsize - kib * 1024))


def test_a_disk_that_fills_at_any_step_ends_rolled_back_or_failed_with_the_backups_named():
    """Free space from too little for the backups to enough for everything, in 8 KiB steps: the disk runs
    out while backing up, while writing a target, while writing dockharden's own files and while journaling.
    Each run ends in a state the journal records, never at `writing` with a hint about root."""
    seen = set()
    for kib in range(8, 136, 8):
        mount = Path(tempfile.mkdtemp(prefix="dh-fill-", dir="/tmp"))
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(mount)], check=True)
        try:
            seen.add(_fill_and_apply(mount, kib))
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=False)
            mount.rmdir()
    assert {"nothing written", "rolled_back", "applied"} <= seen, seen  # every outcome was reached


def _fill_and_apply(root: Path, kib: int) -> str:
    before = operator_tree(root)
    fill_leaving(root, kib)
    done = cli("apply", "--root", str(root), "--profile", "baseline", "--no-restart", "--yes", "--json")
    where = f"with {kib} KiB free: {done.stdout}{done.stderr}"
    assert "Traceback" not in done.stderr and "as root" not in done.stderr, where
    generation = root / "var/lib/dockharden/generations/0001"
    after = {k: v for k, v in snapshot(root).items() if not k.startswith("var/lib/dockharden") and k != "filler"}
    leftovers = [p.name for p in root.rglob(".*") if "dockharden-" in p.name or p.name.endswith(".tmp")]
    assert leftovers == [], where
    if done.returncode == 0:
        assert json.loads(done.stdout)["result"] == "applied" and record_state_at(generation) == "applied", where
        assert not (generation / "reserve").exists(), where
        return "applied"
    assert done.returncode == 1 and "No space left on device" in done.stdout + done.stderr, where
    if not generation.exists():  # out of space while backing up: refused before the first write
        assert "nothing was changed" in done.stderr and after == before, where
        return "nothing written"
    result = json.loads(done.stdout)
    assert record_state_at(generation) == result["result"] in ("rolled_back", "failed"), where
    if result["result"] == "rolled_back":
        assert after == before, where
    else:
        assert f"{generation.relative_to(root)}/files" in " ".join(result["messages"]), where
    return result["result"]


def record_state_at(generation: Path) -> str | None:
    try:
        return json.loads((generation / "record.json").read_text())["state"]
    except (OSError, ValueError):
        return None


def test_a_read_only_target_is_refused_with_nothing_changed(small_tmpfs):
    before = operator_tree(small_tmpfs)
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    done = cli("apply", "--root", str(small_tmpfs), "--profile", "baseline", "--no-restart", "--yes")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "Read-only file system" in done.stderr and done.stderr.count("\n") == 1
    assert snapshot(small_tmpfs) == before


def test_permission_denied_is_one_paragraph_with_the_fix_and_nothing_changed():
    root = Path(tempfile.mkdtemp(prefix="dh-perm-", dir="/tmp"))
    try:
        before = operator_tree(root)
        for path in [root, *root.rglob("*")]:
            os.chown(path, 12345, 12345)  # someone else's tree, readable but not writable by us
            path.chmod(0o755 if path.is_dir() else 0o644)
        before = snapshot(root)
        done = cli("apply", "--root", str(root), "--profile", "baseline", "--no-restart", "--yes",
                   without_dac_override=True)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert "Permission denied" in done.stderr and "root" in done.stderr
        assert done.stderr.count("\n") == 1
        assert snapshot(root) == before
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)


def test_sigkill_right_after_taking_the_lock_leaves_nothing_to_recover_and_the_lock_free(managed):
    killed = managed.apply("--profile", "baseline", *managed.layers, env={"DOCKHARDEN_FAILPOINT": "kill:after-lock"})
    assert killed.returncode == -9
    assert managed.daemon_json() == ORIGINAL
    assert "interrupted" not in managed.host.dockharden("plan", *managed.layers).stdout
    again = managed.apply("--profile", "baseline", *managed.layers)
    assert again.returncode == 0 and result_of(again)["result"] == "applied" and not result_of(again)["recovered"]


# -- signals: the step under way finishes, then the generation is rolled back ---------------------

LEFTOVER_DIRS = ("etc/docker", "etc/ufw", "etc/audit", "etc/dockharden", "var/lib/dockharden")


def leftover_files(host) -> list[str]:
    """Temporary files of an interrupted write, a half journal, a space reserve left behind."""
    found = []
    for top in LEFTOVER_DIRS:
        for path in (host.dir / top).rglob("*"):
            if ".dockharden-" in path.name or path.name in (".record.json.tmp", "reserve"):
                found.append(str(path.relative_to(host.dir)))
    return found


def one_line_saying(err: str, signum: int) -> str:
    said = [line for line in err.splitlines() if line.startswith(f"dockharden: interrupted by {signum.name}")]
    assert len(said) == 1 and err.endswith(said[0] + "\n"), err
    assert "Traceback" not in err
    return said[0]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("point", ["after-record", "after-write-0", "during-restart", "during-verify"])
def test_a_signal_during_apply_finishes_the_step_then_the_host_is_back_as_it_was(managed, point, signum):
    host = managed.host
    proc = spawn_held(host, point, "apply", "--yes", "--json", "--profile", "baseline", *managed.layers)
    proc.send_signal(signum)
    proc.go()  # the signal was sent while it held at the point
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 128 + signum, out + err
    assert "generation 0001 rolled back" in one_line_saying(err, signum)
    result = json.loads(out[out.index("{"):])
    assert (result["result"], result["interrupted_by"]) == ("rolled_back", signum.name)
    assert managed.daemon_json() == ORIGINAL
    info = host.info()  # up, on the original settings
    assert info["LiveRestoreEnabled"] is False and info["Labels"] == ["team=ops"] and info["Debug"] is False
    assert managed.loaded_watches() == []
    assert record_state(host, "0001") == "rolled_back"
    assert leftover_files(host) == []
    assert "interrupted" not in host.dockharden("plan", *managed.layers).stdout


def test_a_signal_during_a_rollback_restart_puts_back_what_the_rollback_replaced(managed):
    host = managed.host
    assert managed.apply("--profile", "baseline", *managed.layers).returncode == 0
    applied = managed.daemon_json()
    proc = spawn_held(host, "during-restart", "rollback", "--to", "0001", "--yes", "--json")
    proc.send_signal(signal.SIGTERM)
    proc.go()
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 143, out + err
    assert "generation 0002 rolled back" in one_line_saying(err, signal.SIGTERM)
    assert managed.daemon_json() == applied and host.info()["LiveRestoreEnabled"] is True
    assert record_state(host, "0002") == "rolled_back" and record_state(host, "0001") == "applied"
    assert leftover_files(host) == []
    assert "interrupted" not in host.dockharden("plan", *managed.layers).stdout


def test_verify_exits_0_in_force_2_on_drift_and_1_on_an_error_against_a_real_daemon(managed):
    host = managed.host
    assert managed.apply("--profile", "baseline", *managed.layers).returncode == 0
    in_force = host.dockharden("verify", *managed.layers)
    assert in_force.returncode == 0, in_force.stdout + in_force.stderr
    (host.dir / "etc/docker/daemon.json").write_bytes(ORIGINAL)  # a hand edit: the file drifts
    drift = host.dockharden("verify", *managed.layers)
    assert drift.returncode == 2 and "DRIFT" in drift.stdout, drift.stdout + drift.stderr
    (host.dir / "etc/docker/daemon.json").write_bytes(b'{"debug": true,}')
    error = host.dockharden("verify", *managed.layers)
    assert error.returncode == 1 and error.stderr.startswith("dockharden: error: ") and "Traceback" not in error.stderr
