"""The managed targets: each turns Settings (and the host snapshot) into the bytes of its files.

Pure. The registry maps a target name to its renderer, the service that must act when its files
change, and the host paths it reads.
"""


from collections.abc import Callable
from typing import NamedTuple

from dockharden.model import HostSnapshot, Note, RenderedFile, Settings
from dockharden.targets import audit_rules, daemon_json, nft_table, prune_timer, systemd_dropin, tls_files, ufw_block

SECCOMP_PATH = daemon_json.SECCOMP_PATH
# the tls layer's files (certs.ALL_PATHS, repeated here so that planning without tls imports no crypto)
TLS_PATHS = tuple(f"/etc/docker/tls/{n}" for n in ("ca.pem", "ca-key.pem", "server-cert.pem", "server-key.pem",
                                                   "client/ca.pem", "client/cert.pem", "client/key.pem"))


def render_seccomp_file(settings: Settings, host: HostSnapshot) -> list[RenderedFile]:
    seccomp = settings.table("seccomp")
    if not seccomp.get("enabled"):
        return []
    from dockharden.targets.seccomp import render_seccomp

    try:
        content = render_seccomp(seccomp)
    except ValueError as exc:
        from dockharden.errors import LayerError

        raise LayerError(str(exc), hint="name syscalls as in `man 2 syscalls`", key="seccomp.deny") from None
    return [RenderedFile("seccomp", path=SECCOMP_PATH, content=content, mode=0o644)]


class Target(NamedTuple):  # a value: model.py's idiom
    name: str
    paths: tuple[str, ...]
    render: Callable[[Settings, HostSnapshot], list[RenderedFile | Note]]
    service: str


TARGETS: tuple[Target, ...] = (
    Target("daemon.json", (daemon_json.PATH,), daemon_json.render_daemon_json, "docker"),
    Target("audit", (audit_rules.PATH,), audit_rules.render_audit_rules, "auditd"),
    Target("ufw", (ufw_block.PATH_V4, ufw_block.PATH_V6), ufw_block.render_ufw, "ufw"),
    Target("seccomp", (SECCOMP_PATH,), render_seccomp_file, "docker"),
    Target("systemd", (systemd_dropin.PATH,), systemd_dropin.render_dropin, "systemd"),
    Target("tls", TLS_PATHS, tls_files.render_tls, "docker"),
    Target("prune", (prune_timer.SERVICE_PATH, prune_timer.TIMER_PATH), prune_timer.render_prune, "prune-timer"),
    Target("nftables", (nft_table.PATH, nft_table.UNIT_PATH), nft_table.render_nftables, "nftables"),
)


def managed_paths() -> list[str]:
    """Every host path a target may read or write."""
    return [p for t in TARGETS for p in t.paths]


def render_all(settings: Settings, host: HostSnapshot) -> tuple[list[RenderedFile], list[Note]]:
    """Every target's files, in registry order, and what the renderers had to say."""
    out = [item for target in TARGETS for item in target.render(settings, host)]
    return [f for f in out if isinstance(f, RenderedFile)], [n for n in out if isinstance(n, Note)]
