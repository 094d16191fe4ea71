"""What dockerd --validate accepts and the daemon refuses at start, refused by `plan` on a directory root
before anything is written: log options the driver does not take, a default-runtime nobody registered."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SYSLOG = {"log-driver": "syslog", "log-opts": {"syslog-address": "udp://127.0.0.1:514"}}


def plan(root: Path, layer_text: str, existing: dict | None = None):
    (root / "etc/docker").mkdir(parents=True, exist_ok=True)
    if existing is not None:
        (root / "etc/docker/daemon.json").write_text(json.dumps(existing))
    layer = root / "site.toml"
    layer.write_text(layer_text)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    done = subprocess.run([sys.executable, "-m", "dockharden", "plan", "--root", str(root), "--engine-version",
                           "29.0.0", "--profile", "prune", "--layer", str(layer)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing written
    return done


def test_a_layer_adding_max_size_to_a_syslog_host_is_refused_in_one_paragraph_naming_layer_option_and_fix(tmp_path):
    done = plan(tmp_path, '[daemon."log-opts"]\nmax-size = "10m"\n', SYSLOG)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "site.toml, key `daemon.log-opts.max-size`" in done.stderr
    assert "log-driver `syslog`" in done.stderr and '[unset] daemon = ["log-opts/max-size"]' in done.stderr


def test_a_layer_switching_a_syslog_host_to_journald_is_refused_for_the_syslog_address(tmp_path):
    done = plan(tmp_path, '[daemon]\nlog-driver = "journald"\n', SYSLOG)
    assert done.returncode == 1 and "/etc/docker/daemon.json, key `log-opts.syslog-address`" in done.stderr
    assert "log-driver `journald` (set by layer site)" in done.stderr


def test_the_syslog_hosts_own_options_with_a_tag_from_a_layer_plan_fine(tmp_path):
    done = plan(tmp_path, '[daemon."log-opts"]\ntag = "{{.Name}}"\n', SYSLOG)
    assert done.returncode == 0, done.stderr


def test_a_default_runtime_nobody_registered_is_refused_and_one_registered_in_the_layer_is_planned(tmp_path):
    done = plan(tmp_path, '[daemon]\ndefault-runtime = "crun"\n')
    assert done.returncode == 1 and "key `daemon.default-runtime`" in done.stderr and "crun" in done.stderr
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/crun").write_text("")
    done = plan(tmp_path, '[daemon]\ndefault-runtime = "crun"\n[daemon.runtimes.crun]\npath = "/usr/bin/crun"\n')
    assert done.returncode == 0, done.stderr
