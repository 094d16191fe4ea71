"""The rootless layer against a real rootless dockerd (RootlessKit, Debian's docker.io), run by an
unprivileged user inside a private test host. tests/host/rootless/README.md says how it runs here."""

import json
import pwd
import subprocess
from pathlib import Path

import pytest
from managed_host import result_of

USER = "dhrootless"
CTL = Path(__file__).resolve().parent / "rootless" / "rootless-ctl"


def ensure_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER], check=True)
        entry = pwd.getpwnam(USER)
        subids = [line.split(":")[0] for line in Path("/etc/subuid").read_text().splitlines()]
        if USER not in subids:  # Debian's useradd adds them itself; other systems may not
            span = "300000-365535"
            subprocess.run(["usermod", "--add-subuids", span, "--add-subgids", span, USER], check=True)
        return entry


@pytest.fixture
def rootless(ns_host):
    entry = ensure_user()
    runtime = f"/run/user/{entry.pw_uid}"
    ns_host.run(["install", "-d", "-m", "0700", "-o", USER, "-g", str(entry.pw_gid), runtime])
    config = Path(entry.pw_dir) / ".config/docker/daemon.json"
    config.unlink(missing_ok=True)
    ctl = [str(CTL), "--user", USER, "--home", entry.pw_dir, "--runtime-dir", runtime]
    (ns_host.dir / "etc/dockharden").mkdir(parents=True, exist_ok=True)
    (ns_host.dir / "etc/dockharden/dockharden.toml").write_text(
        "[service]\nmanager = \"command\"\n"
        f"restart_command = {json.dumps(ctl + ['restart'])}\nreload_command = {json.dumps(ctl + ['reload'])}\n"
        f"[docker]\nlog_file = \"{runtime}/dockerd-rootless.log\"\n")
    layer = ns_host.dir / "etc/dockharden/rootless-site.toml"
    layer.write_text("[audit]\nenabled = false\n")  # kernel audit rules are the system's, not this user's
    start = ns_host.run(ctl + ["start"], check=False, timeout=120)
    assert start.returncode == 0, start.stdout + start.stderr
    yield ns_host, entry, runtime, ["--layer", "/etc/dockharden/rootless-site.toml"]
    ns_host.run(ctl + ["stop"], check=False, timeout=120)
    config.unlink(missing_ok=True)


def info(host, runtime):
    out = host.run(["docker", "-H", f"unix://{runtime}/docker.sock", "info", "--format", "{{json .}}"]).stdout
    return json.loads(out)


def fit_layer(host, runtime) -> list[str]:
    pid = host.run(["cat", f"{runtime}/docker.pid"]).stdout.strip()
    limits = host.run(["cat", f"/proc/{pid}/limits"]).stdout.splitlines()
    hard = int(next(r for r in limits if r.startswith("Max open files")).split()[4])
    (host.dir / "etc/dockharden/fit.toml").write_text(
        f'[daemon.default-ulimits]\nnofile = {{ Name = "nofile", Hard = {hard}, Soft = {hard} }}\n')
    return ["--layer", "/etc/dockharden/fit.toml"]


def test_a_rootless_daemon_cannot_raise_limits_so_baselines_default_nofile_yields_to_its_limit(rootless):
    host, entry, runtime, layers = rootless
    done = host.dockharden("plan", "--profile", "baseline,rootless", "--user", USER, *layers)
    limits = host.run(["cat", f"/proc/{host.run(['cat', f'{runtime}/docker.pid']).stdout.strip()}/limits"]).stdout
    hard = int(next(r for r in limits.splitlines() if r.startswith("Max open files")).split()[4])
    if hard >= 65536:
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert f"`default-ulimits.nofile`: not written (Hard 65536 is above dockerd's own hard limit {hard} here" in done.stdout


def test_apply_hardens_the_users_daemon_json_and_the_rootless_daemon_runs_with_it(rootless):
    host, entry, runtime, layers = rootless
    done = host.dockharden("apply", "--yes", "--json", "--profile", "baseline,rootless", "--user", USER,
                           *layers, *fit_layer(host, runtime), timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert result_of(done)["result"] == "applied"
    config = Path(entry.pw_dir) / ".config/docker/daemon.json"
    assert config.stat().st_uid == entry.pw_uid and json.loads(config.read_text())["icc"] is False
    effective = info(host, runtime)
    assert "name=rootless" in effective["SecurityOptions"] and effective["LiveRestoreEnabled"] is True
    assert effective["LoggingDriver"] == "json-file"
    pid = host.run(["cat", f"{runtime}/docker.pid"]).stdout.strip()
    (host.dir / "etc/dockharden/labels.toml").write_text('[daemon]\nlabels = ["tier=ci"]\n')
    reload = host.dockharden("apply", "--yes", "--json", "--profile", "baseline,rootless", "--user", USER,
                             *layers, *fit_layer(host, runtime), "--layer", "/etc/dockharden/labels.toml")
    assert reload.returncode == 0, reload.stdout + reload.stderr
    assert [s["action"] for s in result_of(reload)["services"] if s["service"] == "docker"] == ["reload"]
    assert host.run(["cat", f"{runtime}/docker.pid"]).stdout.strip() == pid
    assert "tier=ci" in info(host, runtime)["Labels"]
