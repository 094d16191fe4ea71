"""Target /etc/systemd/system/docker.service.d/dockharden.conf: ExecStart without -H when daemon.json
sets `hosts` (the tls layer), the documented fix for the `-H fd://` flag/file conflict.

Pure: the unit's ExecStart comes from the host snapshot. Only under systemd; another manager passing
-H is refused by the conflict checks instead.
"""

from __future__ import annotations

import shlex

from dockharden.model import HostSnapshot, RenderedFile, Settings
from dockharden.templating import render_template

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
    """The ExecStart the drop-in sets, or None when no drop-in is needed."""
    if host.manager != "systemd" or "hosts" not in settings.table("daemon") or not host.unit_exec:
        return None
    current = host.unit_exec
    return without_host_flags(current)


def render_dropin(settings: Settings, host: HostSnapshot) -> list[RenderedFile]:
    exec_start = planned_exec(settings, host)
    if exec_start is None:
        return []
    if exec_start == host.unit_exec and not host.file(PATH).exists:
        return []  # the unit passes no -H: nothing to fix
    text = render_template("docker-dropin.conf.j2", exec_start=shlex.join(exec_start))
    return [RenderedFile("systemd", PATH, text.encode(), mode=0o644)]
