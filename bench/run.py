#!/usr/bin/env python3
"""dockharden's benchmarks: plan against the Ansible anchor, apply with nothing to do, the disruption
of reload and restart on a real daemon, and how plan time grows with the size of the work.

    sudo python3 bench/run.py            # full run (about 3 minutes), prints the table
    sudo python3 bench/run.py --runs 5   # fewer alternated runs

Run as root after `sudo bash scripts/install-test-deps.sh` (docker.io, ansible-core). dockharden is
installed (not editable) into a fresh venv, so it runs with compiled bytecode as an operator's would.
Results: printed, and written to bench/results/latest.md and latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
sys.path.insert(0, str(REPO / "tests" / "host"))
WORK = Path(tempfile.gettempdir()) / "dockharden-bench"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV.update(LC_ALL="C.UTF-8", ANSIBLE_NOCOLOR="1")


def timed(argv: list[str], **kwargs) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=ENV, **kwargs)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 2):
        raise SystemExit(f"bench: {' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed


def stats(samples: list[float]) -> dict:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "n": len(samples)}


def install_venv() -> Path:
    venv = WORK / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(REPO)], check=True, env=ENV)
    return venv / "bin" / "dockharden"


def anchor_root(name: str) -> Path:
    root = WORK / name
    shutil.rmtree(root, ignore_errors=True)
    for sub in ("etc/docker", "etc/audit/rules.d", "etc/ufw"):
        (root / sub).mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_text('{\n  "debug": true\n}\n')
    source = Path("/etc/ufw/after.rules")
    (root / "etc/ufw/after.rules").write_text(source.read_text() if source.exists() else "*filter\nCOMMIT\n")
    return root


def bench_plan_vs_ansible(cli: Path, runs: int) -> dict:
    """Target 1: plan (baseline+userns, cold process) against the Ansible play, alternated."""
    root = anchor_root("anchor-root")
    playbook = ["ansible-playbook", str(BENCH / "anchor" / "anchor.yml"), "--check", "--diff", "-i", "localhost,",
                "-e", f"root={root}", "-e", f"ansible_python_interpreter={sys.executable}"]
    plan = [str(cli), "plan", "--root", str(root), "--profile", "baseline,userns"]
    timed(plan), timed(playbook, cwd=BENCH / "anchor")  # warm the page cache for both
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(timed(plan))
        theirs.append(timed(playbook, cwd=BENCH / "anchor"))
    return {"plan": stats(ours), "ansible": stats(theirs),
            "ratio": statistics.median(theirs) / statistics.median(ours)}


def import_breakdown(cli: Path) -> list[tuple[str, float]]:
    """Cumulative import time of the top-level modules a plan imports (python -X importtime)."""
    root = anchor_root("import-root")
    python = str(cli.parent / "python")
    done = subprocess.run([python, "-X", "importtime", "-m", "dockharden", "plan", "--root", str(root),
                           "--profile", "baseline,userns"], capture_output=True, text=True, env=ENV)
    rows = []
    for line in done.stderr.splitlines()[1:]:
        parts = line.split("|")
        if len(parts) == 3 and not parts[2].startswith("  "):
            rows.append((parts[2].strip(), int(parts[1]) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:8]


def bench_noop_apply(cli: Path, runs: int) -> dict:
    """Target 2: apply with nothing to do is no slower than plan (alternated)."""
    root = anchor_root("noop-root")
    base = ["--root", str(root), "--profile", "baseline,userns"]
    timed([str(cli), "apply", *base, "--yes", "--no-restart"])
    plans, applies = [], []
    for _ in range(runs):
        plans.append(timed([str(cli), "plan", *base]))
        applies.append(timed([str(cli), "apply", *base, "--yes", "--no-restart"]))
    return {"plan": stats(plans), "apply": stats(applies),
            "ratio": statistics.median(applies) / statistics.median(plans)}


def bench_scale(cli: Path, runs: int) -> dict:
    """Target 4: plan time against daemon.json size and the number of layers."""
    sizes, layers = {}, {}
    for keys in (10, 100, 1000):
        root = anchor_root(f"scale-{keys}")
        # a deep map the checks take whole (log-opts are checked against the log driver's options since issue 21)
        doc = {"runtimes": {f"rt{i}": {"path": f"/usr/bin/rt{i}", "runtimeArgs": ["--a", str(i)]} for i in range(keys)}}
        (root / "etc/docker/daemon.json").write_text(json.dumps(doc, indent=2))
        argv = [str(cli), "plan", "--root", str(root), "--profile", "baseline,userns"]
        sizes[keys] = stats([timed(argv) for _ in range(runs)])
    for count in (1, 10, 50):
        root = anchor_root(f"layers-{count}")
        files = []
        for i in range(count):
            layer = root / f"layer{i}.toml"
            layer.write_text(f'[daemon.runtimes.rt{i}]\npath = "/usr/bin/rt{i}"\n[daemon]\nlabels = ["layer={i}"]\n')
            runtime = root / f"usr/bin/rt{i}"  # a layer's runtime must be installed in the root
            runtime.parent.mkdir(parents=True, exist_ok=True)
            runtime.write_text("#!/bin/sh\n")
            runtime.chmod(0o755)
            files += ["--layer", str(layer)]
        argv = [str(cli), "plan", "--root", str(root), "--profile", "baseline", *files]
        layers[count] = stats([timed(argv) for _ in range(runs)])
    return {"keys": sizes, "layers": layers,
            "keys_linear": _no_worse_than_linear(sizes), "layers_linear": _no_worse_than_linear(layers)}


def _no_worse_than_linear(points: dict) -> bool:
    """The cost per unit over the top range is at most twice that over the bottom range (20 ms floor)."""
    (n0, a), (n1, b), (n2, c) = sorted((n, s["median"]) for n, s in points.items())
    low = max((b - a) / (n1 - n0), 0.02 / (n1 - n0))  # 20 ms: below that, differences are noise here
    return (c - b) / (n2 - n1) <= 2 * low


POLLER = r"""
import select, socket, sys, time
def ping():
    try:
        s = socket.socket(socket.AF_UNIX); s.settimeout(0.2); s.connect("/var/run/docker.sock")
        s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n"); ok = s.recv(64).startswith(b"HTTP/1.0 200"); s.close(); return ok
    except OSError:
        return False
down, worst, start = None, 0.0, time.monotonic()
stop = time.monotonic() + float(sys.argv[1])
while time.monotonic() < stop and not select.select([sys.stdin], [], [], 0)[0]:
    now = time.monotonic()
    if ping():
        if down is not None:
            worst, down = max(worst, now - down), None
    elif down is None:
        down = now
    time.sleep(0.005)
if down is not None:
    worst = max(worst, time.monotonic() - down)
print(worst)
"""


def _downtime_during(host, action, window: float = 60.0) -> tuple[float, float]:
    """(seconds the API did not answer, seconds the action took) while `action()` runs."""
    poller = subprocess.Popen(host._nsenter([sys.executable, "-c", POLLER, str(window)], None),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
    time.sleep(0.3)
    start = time.perf_counter()
    action()
    took = time.perf_counter() - start
    time.sleep(0.2)
    out, _ = poller.communicate("stop\n", timeout=window + 30)
    return float(out.strip() or "nan"), took


def bench_disruption(runs: int) -> dict:
    """Target 3: reload (same pid, no downtime) and restart (downtime vs the daemon's own restart)."""
    from harness import NamespaceHost
    from managed_host import Managed

    host = NamespaceHost.launch(WORK / "disruption-host")
    try:
        host.start_dockerd()
        managed = Managed(host)
        site = managed.layers
        assert host.dockharden("apply", "--yes", "--profile", "baseline", *site).returncode == 0
        bare = [_downtime_during(host, lambda: host.ctl("restart", check=True)) for _ in range(runs)]
        image = host.import_busybox_image()
        container = host.docker("run", "-d", image, "sleep", "3600").stdout.strip()
        pid_before = host.docker("inspect", "-f", "{{.State.Pid}}", container).stdout.strip()
        restarts, reloads, same_pid = [], [], []
        for i in range(runs):
            layer = managed.write_layer("bench.toml", f'[daemon.log-opts]\nmax-size = "{20 + i}m"\n')
            restarts.append(_downtime_during(host, lambda layer=layer: _apply(host, site, layer)))
            label = managed.write_layer("label.toml", f'[daemon]\nlabels = ["bench={i}"]\n')
            before = host.dockerd_pid()
            reloads.append(_downtime_during(host, lambda layer=layer, label=label: _apply(host, site, layer, label)))
            same_pid.append(host.dockerd_pid() == before)
        survived = host.docker("inspect", "-f", "{{.State.Running}} {{.State.Pid}}", container).stdout.split()
        noop_events = _noop_contact(host, site, layer, label)
        managed.remove_watches()
    finally:
        host.close()
    return {"bare_restart_downtime": stats([d for d, _ in bare]), "bare_restart_took": stats([t for _, t in bare]),
            "apply_restart_downtime": stats([d for d, _ in restarts]),
            "apply_restart_took": stats([t for _, t in restarts]),
            "reload_downtime": stats([d for d, _ in reloads]), "reload_took": stats([t for _, t in reloads]),
            "reload_same_pid": all(same_pid), "container_survived": survived == ["true", pid_before],
            "noop_apply_daemon_events": noop_events}


def _apply(host, site: list[str], *layers: str) -> None:
    extra = [arg for layer in layers for arg in ("--layer", layer)]
    done = host.dockharden("apply", "--yes", "--profile", "baseline", *site, *extra, timeout=180)
    if done.returncode != 0:
        raise SystemExit(f"bench: apply failed:\n{done.stdout}\n{done.stderr}")


def _noop_contact(host, site: list[str], *layers: str) -> int:
    """Daemon events (reload, restart, container activity) caused by an apply with nothing to do."""
    since = str(int(time.time()))
    _apply(host, site, *layers)
    time.sleep(1)
    events = host.docker("events", "--since", since, "--until", str(int(time.time())), "--format", "{{.Type}} {{.Action}}")
    return len([line for line in events.stdout.splitlines() if line.strip()])


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    engine = subprocess.run(["dockerd", "--version"], capture_output=True, text=True).stdout.strip()
    ansible = subprocess.run(["ansible-playbook", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
            "engine": engine, "ansible": ansible, "date": time.strftime("%Y-%m-%d")}


def table(results: dict) -> str:
    p, n, s, d = results["plan_vs_ansible"], results["noop_apply"], results["scale"], results["disruption"]
    ms = lambda x: f"{x * 1000:.0f} ms"  # noqa: E731
    row = lambda name, st, target, verdict: f"| {name} | {ms(st['median'])} | {ms(st['min'])} | {ms(st['max'])} | {target} | {verdict} |"  # noqa: E501,E731
    lines = ["| Benchmark | Median | Min | Max | Target | Result |", "|---|---|---|---|---|---|",
             row("`plan` baseline+userns, cold process", p["plan"], "25x faster than Ansible", f"{p['ratio']:.1f}x "
                 + ("met" if p["ratio"] >= 25 else "NOT met")),
             row("Ansible play, --check --diff (anchor)", p["ansible"], "-", "-"),
             row("`apply` with nothing to do", n["apply"], "no slower than plan",
                 f"{n['ratio']:.2f}x plan, " + ("met" if n["ratio"] <= 1.1 else "NOT met")),
             row("`plan` (alternated with that apply)", n["plan"], "-", "-"),
             row("bare restart: API down", d["bare_restart_downtime"], "-", "the daemon's own restart"),
             row("restart-requiring apply: API down", d["apply_restart_downtime"], "<= bare + 10 %",
                 f"{d['apply_restart_downtime']['median'] / d['bare_restart_downtime']['median']:.2f}x bare, "
                 + ("met" if d["apply_restart_downtime"]["median"] <= 1.1 * d["bare_restart_downtime"]["median"]
                    else "NOT met")),
             row("restart-requiring apply: whole command", d["apply_restart_took"], "-", "-"),
             row("reload-only apply: API down", d["reload_downtime"], "0 (same pid)",
                 f"same pid: {d['reload_same_pid']}, " + ("met" if d["reload_same_pid"] and
                                                         d["reload_downtime"]["max"] == 0 else "NOT met")),
             row("reload-only apply: whole command", d["reload_took"], "-", "-")]
    for keys, st in s["keys"].items():
        lines.append(row(f"`plan`, operator daemon.json with {keys} keys", st, "linear", "-"))
    for count, st in s["layers"].items():
        lines.append(row(f"`plan`, {count} layer file(s)", st, "linear", "-"))
    lines += ["", f"- plan time vs daemon.json size no worse than linear: {s['keys_linear']}; vs number of layers: "
                  f"{s['layers_linear']}",
              f"- a running container survived the restart-requiring applies (live-restore): {d['container_survived']}",
              f"- daemon events caused by an apply with nothing to do: {d['noop_apply_daemon_events']}",
              "- import time of a plan (cumulative, top-level modules): " + ", ".join(
                  f"{name} {ms(sec)}" for name, sec in results["imports"])]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9, help="alternated runs per measurement (default 9)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root (it starts a real dockerd in a private namespace)")
    WORK.mkdir(exist_ok=True)
    cli = install_venv()
    results = {"machine": machine(), "plan_vs_ansible": bench_plan_vs_ansible(cli, args.runs),
               "imports": import_breakdown(cli), "noop_apply": bench_noop_apply(cli, args.runs),
               "scale": bench_scale(cli, args.runs), "disruption": bench_disruption(max(3, args.runs // 2))}
    text = table(results)
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.md").write_text(f"Measured on {results['machine']}\n\n{text}")
    (out / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results["machine"]))
    print(text)


if __name__ == "__main__":
    main()
