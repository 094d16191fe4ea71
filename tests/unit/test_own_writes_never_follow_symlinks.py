"""Issue 24, class 1: every write of dockharden's own files and every read of its own state goes through
the one accessor (host/fs.py), with the same refusals as plan and apply.

A symlink standing where dockharden writes a report, a textfile or a unit is refused, never followed (the
file it points at keeps its bytes and its mode); `schedule run --root` writes its reports under the root;
a rollback never writes through a link put in place of a file it restores (refused; a recovery replaces
the link itself); a generation's backups are never read through a linked files/ directory.
"""

import json
import os
import stat
from pathlib import Path

import pytest
from test_damaged_state import NoTools, dockharden, one_paragraph  # the same command and checks

from dockharden import api
from dockharden.execute import generations

SECRET = b"someone else's file\n"


@pytest.fixture
def victim(tmp_path):
    """Someone else's file, mode 0600: what a planted symlink points at."""
    path = tmp_path / "victim"
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return path


def untouched(victim: Path) -> None:
    assert victim.read_bytes() == SECRET
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600


def plant(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def test_check_textfile_refuses_a_final_symlink_and_leaves_its_target_alone(tmp_path, victim):
    root = tmp_path / "root"
    root.mkdir()
    link = tmp_path / "metrics" / "dockharden.prom"
    plant(link, victim)
    done = dockharden("check", "--root", str(root), "--textfile", str(link))
    one_paragraph(done, "symlink", str(link))
    untouched(victim)
    assert link.is_symlink()


def test_check_textfile_replaces_a_hard_link_by_rename_so_the_other_name_keeps_its_bytes(tmp_path, victim):
    root = tmp_path / "root"
    root.mkdir()
    target = tmp_path / "metrics" / "dockharden.prom"
    target.parent.mkdir()
    os.link(victim, target)
    done = dockharden("check", "--root", str(root), "--textfile", str(target))
    assert done.returncode in (0, 2), done.stderr
    untouched(victim)
    assert b"dockharden" in target.read_bytes()


def test_schedule_run_writes_its_reports_under_the_root_not_on_this_machine(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    reports = "/var/lib/dockharden-test-reports-issue24"
    done = dockharden("schedule", "run", "--root", str(root), "--reports", reports,
                      "--textfile", "/var/lib/node_exporter-issue24/dockharden.prom")
    assert done.returncode in (0, 2), done.stderr
    assert not Path(reports).exists() and not Path("/var/lib/node_exporter-issue24").exists()
    written = sorted(p.name for p in (root / reports.lstrip("/")).iterdir())
    assert written == ["check.json", "check.prom", "verify.json", "verify.prom"]
    assert (root / "var/lib/node_exporter-issue24/dockharden.prom").is_file()


@pytest.mark.parametrize("where", ["reports/check.json", "reports/verify.prom", "textfile"])
def test_schedule_run_refuses_a_symlink_where_a_report_goes(tmp_path, victim, where):
    root = tmp_path / "root"
    root.mkdir()
    link = root / ("var/lib/prom/d.prom" if where == "textfile" else f"var/lib/dockharden/{where}")
    plant(link, victim)
    done = dockharden("schedule", "run", "--root", str(root), "--reports", "/var/lib/dockharden/reports",
                      "--textfile", "/var/lib/prom/d.prom")
    one_paragraph(done, "symlink")
    untouched(victim)


@pytest.mark.parametrize("unit", ["dockharden-check.service", "dockharden-check.timer"])
def test_schedule_install_refuses_a_symlink_where_a_unit_goes(tmp_path, victim, unit):
    root = tmp_path / "root"
    plant(root / "etc/systemd/system" / unit, victim)
    one_paragraph(dockharden("schedule", "install", "--root", str(root), "--no-enable"), "symlink", unit)
    untouched(victim)


def request(root: Path, layer: Path | None = None) -> api.Request:
    return api.Request(root=str(root), profiles=["baseline"], layers=[str(layer)] if layer else None,
                       runner=NoTools())


@pytest.fixture
def applied(tmp_path):
    """A root whose operator daemon.json dockharden changed once (generation 0001 holds its backup)."""
    root = tmp_path / "root"
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_text('{"labels": ["mine=1"]}\n')
    assert api.apply(request(root), restart=False).result.result == "applied"
    return root


def test_rollback_refuses_a_symlink_that_replaced_a_file_it_restores(applied, victim):
    daemon = applied / "etc/docker/daemon.json"
    daemon.unlink()
    daemon.symlink_to(victim)
    one_paragraph(dockharden("rollback", "--root", str(applied), "--yes", "--no-restart"),
                  "symlink", "/etc/docker/daemon.json", "nothing was changed")
    untouched(victim)
    assert [g.id for g in generations.list_generations(str(applied))] == ["0001"]


def test_a_recovery_replaces_a_planted_symlink_itself_and_never_writes_through_it(applied, victim):
    daemon = applied / "etc/docker/daemon.json"
    daemon.unlink()
    daemon.symlink_to(victim)
    generation = generations.list_generations(str(applied))[0]
    assert "/etc/docker/daemon.json" in generations.restore_files(str(applied), generation)
    untouched(victim)
    assert not daemon.is_symlink() and json.loads(daemon.read_text()) == {"labels": ["mine=1"]}


def test_a_link_the_record_saw_is_still_followed_by_a_restore(tmp_path):
    root = tmp_path / "root"
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/docker/real.json").write_text('{"labels": ["mine=1"]}\n')
    (root / "etc/docker/daemon.json").symlink_to("real.json")
    assert api.apply(request(root), restart=False).result.result == "applied"
    generation = generations.list_generations(str(root))[0]
    assert generation.record["files"][0]["symlink"] == "real.json"
    generations.restore_files(str(root), generation)
    assert (root / "etc/docker/daemon.json").is_symlink()
    assert json.loads((root / "etc/docker/real.json").read_text()) == {"labels": ["mine=1"]}


def test_backups_are_never_read_through_a_linked_files_directory(applied, tmp_path):
    gen = applied / "var/lib/dockharden/generations/0001"
    elsewhere = tmp_path / "elsewhere"
    (gen / "files").rename(elsewhere)
    (gen / "files").symlink_to(elsewhere)
    one_paragraph(dockharden("rollback", "--root", str(applied), "--yes", "--no-restart"),
                  "backup of /etc/docker/daemon.json", "symlink")
