"""Target /etc/systemd/system/docker.service.d/dockharden.conf: ExecStart without -H when daemon.json
sets `hosts` (the tls layer), the documented fix for the `-H fd://` flag/file conflict.

Pure: the unit's ExecStart comes from the host snapshot. Only under systemd; another manager passing
-H is refused by the conflict checks instead.
"""

from __future__ import annotations

import shlex

from dockharden.model import HostSnapshot, RenderedFile, Settings
from dockharden.targets.systemd_unit import exec_line

PATH = "/etc/systemd/system/docker.service.d/dockharden.conf"
HOST_FLAGS = ("-H", "--host")


def without_host_flags(argv: tuple[str, ...]) -> tuple[str, ...]:
    """`argv` with every -H/--host flag and its value removed."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in HOST_FLAGS:
            skip = True
        elif not any(arg.startswith(f + "=") or (f == "-H" and arg.startswith("-H") and len(arg) > 2)
                     for f in HOST_FLAGS):
            kept.append(arg)
    return tuple(kept)


def planned_exec(settings: Settings, host: HostSnapshot) -> tuple[str, ...] | None:
    """The ExecStart the drop-in sets, or None when no drop-in is needed (judged on the unit without
    our own drop-in, so the decision does not flip once the drop-in exists)."""
    if host.manager != "systemd" or "hosts" not in settings.table("daemon") or not host.unit_exec_base:
        return None
    stripped = without_host_flags(host.unit_exec_base)
    return None if stripped == host.unit_exec_base else stripped


def exec_start_in(text: str, current: list[str] | None = None) -> list[str]:
    """The ExecStart a unit file (or drop-in) leaves in force, starting from `current`: an empty
    `ExecStart=` resets it, as systemd does."""
    exec_start = list(current or [])
    for line in text.splitlines():
        if line.strip().startswith("ExecStart="):
            value = line.split("=", 1)[1].strip()
            exec_start = shlex.split(value) if value else []
    return exec_start


def exec_after(host: HostSnapshot, rendered) -> tuple[str, ...] | None:
    """docker.service's ExecStart once `rendered` is written; None when the plan leaves our drop-in alone."""
    ours = next((f for f in rendered if f.path == PATH), None)
    if ours is None:
        return None
    if ours.content is None:
        return host.unit_exec_base
    return tuple(exec_start_in(ours.content.decode(errors="replace"), list(host.unit_exec_base)))


DROPIN = """\
# Managed by dockharden: dockerd's listen addresses come from daemon.json ("hosts"), so ExecStart is
# replaced without its -H flags (dockerd refuses a setting given both as a flag and in daemon.json).
[Service]
ExecStart=
ExecStart={exec_start}
"""


def render_dropin(settings: Settings, host: HostSnapshot) -> list[RenderedFile]:
    exec_start = planned_exec(settings, host)
    if exec_start is None:
        # not needed (any more): a drop-in we wrote earlier goes
        return [RenderedFile("systemd", path=PATH, content=None)] if host.file(PATH).exists else []
    text = DROPIN.format(exec_start=join_exec(exec_start))
    return [RenderedFile("systemd", path=PATH, content=text.encode(), mode=0o644)]


def join_exec(argv: tuple[str, ...]) -> str:
    """The drop-in's ExecStart: the unit's own arguments, quoted for systemd (systemd_unit.py) as they were
    written in the unit (`%` specifiers and `$VAR` kept: a whole-word `$VAR` stays a variable systemd splits)."""
    return exec_line(argv, verbatim=True)
