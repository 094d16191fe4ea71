"""Target /etc/systemd/system/dockharden-prune.{service,timer}: the [prune] table's schedule of
`docker system prune` (with the layer's filters) and `docker builder prune --keep-storage`.

Pure, and plain Python: rendering these two small files needs no template engine, so a plan (with or
without the prune layer) imports no Jinja. Every value on an ExecStart line was checked when its layer
was read (core/values.py: filters, sizes, calendar expressions); each argument is still quoted for
systemd by the one unit writer (systemd_unit.py), never joined into a shell string: systemd runs the
argument list itself, no shell.
"""

from __future__ import annotations

from dockharden.model import HostSnapshot, RenderedFile, Settings
from dockharden.targets.systemd_unit import exec_line, one_line, quote

UNIT_DIR = "/etc/systemd/system"
SERVICE_NAME, TIMER_NAME = "dockharden-prune.service", "dockharden-prune.timer"
SERVICE_PATH, TIMER_PATH = f"{UNIT_DIR}/{SERVICE_NAME}", f"{UNIT_DIR}/{TIMER_NAME}"
WANTS_LINK = f"{UNIT_DIR}/timers.target.wants/{TIMER_NAME}"
DOCKER = "/usr/bin/docker"
# what the prune layer's table means when a key is left out
DEFAULTS = {"filters": ["until=168h"], "keep_storage": "10GB", "all": False, "on_calendar": "weekly",
            "randomized_delay": "1h"}


def systemd_quote(arg: str) -> str:
    """One ExecStart argument quoted for systemd (systemd_unit.py, the one unit writer)."""
    return quote(arg)


def prune_commands(table: dict) -> list[list[str]]:
    """The argument lists the service runs, in order."""
    spec = {**DEFAULTS, **table}
    system = [DOCKER, "system", "prune", "--force"] + (["--all"] if spec["all"] else [])
    for item in spec["filters"]:
        system += ["--filter", item]
    commands = [system]
    if spec["keep_storage"]:
        commands.append([DOCKER, "builder", "prune", "--force", "--keep-storage", spec["keep_storage"]])
    return commands


SERVICE = """\
# Managed by dockharden (the prune layer): run by {timer}.
# Removes what Docker no longer uses: stopped containers, unused networks, {images}
# and build cache{filters}; then trims the build cache to {keep}. Volumes are never pruned.
[Unit]
Description=dockharden: prune unused Docker data
After=docker.service
ConditionPathExists=/var/run/docker.sock

[Service]
Type=oneshot
{exec_lines}
Nice=10
IOSchedulingClass=idle
"""

TIMER = """\
# Managed by dockharden (the prune layer): {service} {on_calendar}.
[Unit]
Description=dockharden: prune unused Docker data, {on_calendar}

[Timer]
OnCalendar={on_calendar}
RandomizedDelaySec={randomized_delay}
Persistent=true

[Install]
WantedBy=timers.target
"""


def render_units(table: dict) -> dict[str, str]:
    """{unit path: text} for the [prune] table."""
    spec = {**DEFAULTS, **table}
    filters = spec["filters"]
    service = SERVICE.format(
        timer=TIMER_NAME, images="all unused images" if spec["all"] else "dangling images",
        filters=(" matching " + ", ".join(filters)) if filters else "",
        keep=spec["keep_storage"] or "(not trimmed)",
        exec_lines="\n".join("ExecStart=" + exec_line(argv) for argv in prune_commands(table)))
    timer = TIMER.format(service=SERVICE_NAME, on_calendar=one_line(spec["on_calendar"], "OnCalendar="),
                         randomized_delay=one_line(spec["randomized_delay"], "RandomizedDelaySec="))
    return {SERVICE_PATH: service, TIMER_PATH: timer}


def render_prune(settings: Settings, host: HostSnapshot) -> list[RenderedFile]:
    table = settings.table("prune")
    if not table.get("enabled"):
        # off: the units an earlier apply wrote go (a unit of the same name that dockharden did not write stays)
        return [RenderedFile("prune", path=p, content=None) for p in (SERVICE_PATH, TIMER_PATH)
                if host.file(p).exists and host.created.get(p) == "prune"]
    return [RenderedFile("prune", path=path, content=text.encode(), mode=0o644)
            for path, text in render_units(table).items()]
