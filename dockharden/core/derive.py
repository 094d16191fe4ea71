"""Daemon settings implied by other tables: the tls layer's `hosts`, a strict seccomp profile's path.

Pure. They are added as if the layer that configured the table had set them, so plan and show name
that layer, and an explicit daemon.json value in any layer wins.
"""

from __future__ import annotations

import copy

from dockharden.model import HostSnapshot, Settings

SECCOMP_PATH = "/etc/docker/seccomp/default.json"
UNIX_SOCKET = "unix:///var/run/docker.sock"


def local_endpoint(host: HostSnapshot) -> str:
    """`fd://` when systemd starts dockerd through socket activation (the unit says -H fd://)."""
    if host.manager == "systemd" and any(a.startswith("fd://") or a.endswith("=fd://") or a == "-Hfd://"
                                         for a in host.unit_exec_base):
        return "fd://"
    return UNIX_SOCKET


def derive(settings: Settings, host: HostSnapshot) -> Settings:
    """`settings` with the implied daemon keys added (never overriding a key a layer set)."""
    daemon = copy.deepcopy(settings.table("daemon"))
    provenance = dict(settings.provenance)
    for key, value, table in _implied(settings, host):
        if key not in daemon:
            daemon[key] = value
            provenance[("daemon", (key,))] = settings.origin(table, ("enabled",)) or table
    return settings._replace(tables=dict(settings.tables, daemon=daemon), provenance=provenance)


def _implied(settings: Settings, host: HostSnapshot) -> list[tuple[str, object, str]]:
    implied = []
    tls = settings.table("tls")
    if tls.get("enabled"):
        implied.append(("hosts", [local_endpoint(host), tls.get("address", "tcp://0.0.0.0:2376")], "tls"))
    userns = settings.table("userns")
    if userns.get("enabled"):
        user = userns.get("user", "dockremap")
        implied.append(("userns-remap", "default" if user == "dockremap" else user, "userns"))
    seccomp = settings.table("seccomp")
    if seccomp.get("enabled") and seccomp.get("mode") == "strict":
        implied.append(("seccomp-profile", SECCOMP_PATH, "seccomp"))
    return implied
