"""A test host set up for dockharden as an operator would: a service manager, layers, an audit key.

Audit rules are machine-wide, so each host loads them under a key of its own and removes exactly those.
"""

import json
import uuid

from harness import DOCKERD_CTL

ORIGINAL = b'{\n  "debug": false,\n  "labels": ["team=ops"]\n}\n'


class Managed:
    """A test host set up for dockharden: service manager, its own audit key, limits that fit."""

    def __init__(self, host):
        self.host = host
        self.key = "dh" + uuid.uuid4().hex[:12]
        (host.dir / "etc/dockharden").mkdir(parents=True, exist_ok=True)
        (host.dir / "etc/dockharden/dockharden.toml").write_text(
            "[service]\nmanager = \"command\"\n"
            f"restart_command = [\"{DOCKERD_CTL}\", \"restart\"]\n"
            f"reload_command = [\"{DOCKERD_CTL}\", \"reload\"]\n"
            "[docker]\nlog_file = \"/var/log/dockerd.log\"\n")
        self.layers = ["--layer", self.write_layer("site.toml", self._site_layer())]

    def _site_layer(self) -> str:
        limits = self.host.run(["cat", f"/proc/{self.host.dockerd_pid()}/limits"]).stdout.splitlines()
        hard = int(next(r for r in limits if r.startswith("Max open files")).split()[4])
        text = f'[audit]\nkey = "{self.key}"\n'
        if hard < 65536:  # this sandbox cannot grant baseline's 65536 (see test_plan_and_files_...)
            text += f'[daemon.default-ulimits]\nnofile = {{ Name = "nofile", Hard = {hard}, Soft = {hard} }}\n'
        return text

    def write_layer(self, name: str, text: str) -> str:
        path = self.host.dir / "etc/dockharden/layers" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return f"/etc/dockharden/layers/{name}"

    def apply(self, *args, env=None):
        return self.host.dockharden("apply", "--yes", "--json", *args, env=env, timeout=180)

    def daemon_json(self) -> bytes:
        return (self.host.dir / "etc/docker/daemon.json").read_bytes()

    def loaded_watches(self) -> list[str]:
        return [line for line in self.host.run(["auditctl", "-l"]).stdout.splitlines() if line.endswith(f"-k {self.key}")]

    def remove_watches(self) -> None:
        for line in self.loaded_watches():
            parts = line.split()
            self.host.run(["auditctl", "-W", parts[1], "-p", parts[3], "-k", self.key], check=False)


def result_of(done):
    assert done.stdout, done.stderr
    return json.loads(done.stdout[done.stdout.index("{"):])


def spawn_held(host, point: str, *args):
    """dockharden ARGS held at failpoint `point` (execute/faults.py) until the test calls `go()` on what is
    returned: the test orders its events by marks (the mark file: the point is reached; the FIFO: go on),
    never by a window of time. Returns once the point is reached."""
    import os
    import time

    from dockharden.execute.faults import release

    mark, fifo = host.dir / f"reached-{point}", host.dir / f"release-{point}"
    mark.unlink(missing_ok=True)
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    proc = host.spawn_dockharden(*args, env={"DOCKHARDEN_FAILPOINT": f"pause:{point}",
                                             "DOCKHARDEN_FAILPOINT_MARK": str(mark),
                                             "DOCKHARDEN_FAILPOINT_RELEASE": str(fifo)})
    while not mark.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)

    def go() -> None:
        try:
            release(str(fifo))
        except OSError:
            pass  # it left the pause already (a signal raised there)
    proc.go = go
    return proc
