"""The nftables layer as an operator runs it on an offline root: plan lists the table and its unit, apply
writes them (and nothing of ufw), verify cannot see a kernel there, deselecting the layer deletes them and
a rollback brings them back; ufw with the nftables backend is refused with the layer as the fix."""

import os
import subprocess
import sys
from pathlib import Path

from dockharden.targets import nft_table

REPO = Path(__file__).resolve().parents[2]
ENGINE = ("--engine-version", "29.1.0")


def dockharden(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "dockharden", *args], capture_output=True, text=True, env=env)


def on(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def test_plan_with_the_nftables_layer_lists_the_table_and_its_unit_and_no_ufw_block(tmp_path):
    done = dockharden("plan", "--root", str(tmp_path), "--profile", "baseline,nftables", *ENGINE)
    assert done.returncode == 0, done.stderr
    assert f"create     {nft_table.PATH}" in done.stdout and f"create     {nft_table.UNIT_PATH}" in done.stdout
    assert '+ firewall-backend = "nftables"  <- nftables' in done.stdout
    assert "/etc/ufw/after.rules" not in done.stdout


def test_apply_writes_the_checked_table_rollback_and_deselecting_the_layer_undo_it(tmp_path):
    done = dockharden("apply", "--root", str(tmp_path), "--profile", "baseline,nftables", "--yes", *ENGINE)
    assert done.returncode == 0, done.stderr
    table = on(tmp_path, nft_table.PATH)
    assert table.read_text().startswith("# Managed by dockharden (the nftables layer)")
    assert "ip daddr @container_networks_v4 ct state new drop" in table.read_text()
    assert on(tmp_path, nft_table.UNIT_PATH).read_text() == nft_table.UNIT
    assert not on(tmp_path, "/etc/ufw/after.rules").exists()
    # an offline root: this machine's `nft -c` is not the image's judge, and apply says so instead of running it
    assert "dockharden.nft was not checked with nft -c" in done.stdout

    verify = dockharden("verify", "--root", str(tmp_path), "--profile", "baseline,nftables")
    assert "nftables table inet dockharden" in verify.stdout and "not verifiable here" in verify.stdout
    assert f"ok              file {nft_table.PATH}" in verify.stdout

    off = dockharden("apply", "--root", str(tmp_path), "--profile", "baseline", "--yes", *ENGINE)
    assert off.returncode == 0, off.stderr
    assert not table.exists() and not on(tmp_path, nft_table.UNIT_PATH).exists()
    assert on(tmp_path, "/etc/ufw/after.rules").exists()

    back = dockharden("rollback", "--root", str(tmp_path), "--yes")
    assert back.returncode == 0, back.stderr
    assert "ct state new drop" in table.read_text() and on(tmp_path, nft_table.UNIT_PATH).exists()


def test_the_ufw_block_with_the_nftables_backend_is_refused_with_the_nftables_layer_as_the_fix(tmp_path):
    layer = tmp_path / "backend.toml"
    layer.write_text('[daemon]\nfirewall-backend = "nftables"\n')
    root = tmp_path / "root"
    root.mkdir()
    done = dockharden("plan", "--root", str(root), "--profile", "baseline", "--layer", str(layer), *ENGINE)
    assert done.returncode == 1
    assert "key `ufw.enabled`" in done.stderr and "no DOCKER-USER chain" in done.stderr
    assert "--profile baseline,nftables" in done.stderr and "Traceback" not in done.stderr
    assert not any(root.iterdir())


def test_a_bad_port_in_the_nftables_table_is_refused_before_anything_is_written(tmp_path):
    layer = tmp_path / "site.toml"
    layer.write_text('[nftables]\nallow_ports = ["8000-8100"]\n')
    root = tmp_path / "root"
    root.mkdir()
    done = dockharden("apply", "--root", str(root), "--profile", "baseline,nftables", "--layer", str(layer),
                      "--yes", *ENGINE)
    assert done.returncode == 1
    assert str(layer) in done.stderr and "nftables.allow_ports" in done.stderr and "8000:8100" in done.stderr
    assert not any(root.iterdir())


def test_hosts_without_the_nftables_layer_plan_no_nftables_file(tmp_path):
    done = dockharden("plan", "--root", str(tmp_path), "--profile", "baseline", *ENGINE)
    assert done.returncode == 0, done.stderr
    assert "nftables" not in done.stdout


ENGINE29_TARBALL = Path(os.environ.get("DOCKHARDEN_ENGINE29_TARBALL")
                        or REPO.parent / "shared" / "engines" / "docker-engine-29.7.2-linux-amd64.tar.zst")


def test_engine_29s_dockerd_validates_the_daemon_json_the_nftables_layer_writes(tmp_path):
    """The static dockerd 29.7.2 of ../shared/engines (as tests/corpus uses it) judges the file."""
    import io
    import tarfile

    assert ENGINE29_TARBALL.is_file(), f"Engine 29.7.2 is missing: no {ENGINE29_TARBALL}"
    unpacked = subprocess.run(["zstd", "-dc", str(ENGINE29_TARBALL)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(unpacked)) as tar:
        (tmp_path / "dockerd").write_bytes(tar.extractfile(tar.getmember("dockerd")).read())
    (tmp_path / "dockerd").chmod(0o755)
    root = tmp_path / "root"
    root.mkdir()
    done = dockharden("apply", "--root", str(root), "--profile", "baseline,nftables", "--yes",
                      "--engine-version", "29.7.2")
    assert done.returncode == 0, done.stderr
    daemon_json = on(root, "/etc/docker/daemon.json")
    assert '"firewall-backend": "nftables"' in daemon_json.read_text()
    judged = subprocess.run([str(tmp_path / "dockerd"), "--validate", "--config-file", str(daemon_json)],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert judged.returncode == 0 and "configuration OK" in judged.stdout + judged.stderr, judged.stderr


def test_the_nftables_table_takes_close_published_ports_as_the_ufw_table_does_and_the_option_names_both(tmp_path):
    chosen = tmp_path / "close.toml"
    chosen.write_text("[nftables]\nclose_published_ports = true\n")
    root = tmp_path / "root"
    root.mkdir()
    plan = dockharden("plan", "--root", str(root), "--profile", "baseline,nftables", "--layer", str(chosen),
                      "--json", *ENGINE)
    assert plan.returncode == 0, plan.stderr
    import json

    assert json.loads(plan.stdout)["published_ports_closed"] is None  # an offline root runs no container
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[nftables]\nclose_published_ports = "yes"\n')
    done = dockharden("apply", "--root", str(root), "--profile", "baseline,nftables", "--layer", str(wrong),
                      "--yes", *ENGINE)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "nftables.close_published_ports" in done.stderr and str(wrong) in done.stderr, done.stderr
    assert not any(root.iterdir())
    helped = dockharden("apply", "--help")
    assert "nftables" in " ".join(helped.stdout.split()) and "DOCKER-USER" in helped.stdout
