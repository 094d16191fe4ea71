"""Target tls: the certificate files of the tls layer, and their modes (keys 0400, certificates 0444).

Pure apart from key generation (certs.py). Files that are fine keep their bytes; their modes and owner
are still managed, so a key left readable by others shows up in the plan (CIS 3.9-3.14).
"""

from __future__ import annotations

from dockharden.model import HostSnapshot, Note, RenderedFile, Settings
from dockharden.targets.tls_reach import reach_notes

SERVER_KEYS = {"tlscacert": "ca", "tlscert": "cert", "tlskey": "key"}


def tls_paths(settings: Settings) -> dict[str, str]:
    """Server file paths, as daemon.json names them (the tls layer sets the defaults)."""
    daemon = settings.table("daemon")
    return {role: daemon[key] for key, role in SERVER_KEYS.items() if isinstance(daemon.get(key), str)}


def render_tls(settings: Settings, host: HostSnapshot) -> list[RenderedFile | Note]:
    tls = settings.table("tls")
    if not tls.get("enabled"):
        return []
    from dockharden.targets import certs  # cryptography is imported only when the tls layer is selected

    paths = tls_paths(settings)
    every = set(certs.ALL_PATHS) | set(paths.values())
    existing = {p: host.file(p).content if host.file(p).exists else None for p in every}
    files, notes = certs.plan_certificates(existing, dns_names=tls.get("dns_names", []),
                                           ip_addresses=tls.get("ip_addresses", []), hostname=host.hostname,
                                           days=tls.get("days", 365), now=host.now, paths=paths or None)
    written = {f.path for f in files}
    keys = {certs.CA_KEY, certs.CLIENT_KEY, paths.get("key", certs.SERVER_KEY)}
    kept = [RenderedFile("tls", path=p, content=existing[p], mode=0o400 if p in keys else 0o444, secret=p in keys)
            for p in sorted(every) if existing[p] is not None and p not in written]
    server = paths.get("cert", certs.SERVER_CERT)
    cert = next((f.content for f in [*files, *kept] if f.path == server), None)
    baked = [image_note(host, [f.path for f in [*files, *kept] if f.secret], _endpoints(settings), _sans(cert))]
    return [*files, *kept, *notes, *reach_notes(_endpoints(settings), host, _sans(cert)), *filter(None, baked)]


def image_note(host: HostSnapshot, keys: list[str], endpoints: list[str], sans: set[str] | None) -> Note | None:
    """On a root other than / (an image to clone), what baking the tls layer puts in every clone; None on
    the running system. The safe procedure is in docs/layers/tls.md ("Images")."""
    from dockharden.targets import certs

    if host.root in ("/", ""):
        return None
    shared = []
    if certs.CA_KEY in keys:
        shared.append(f"the CA's private key ({certs.CA_KEY}: whoever copies it issues certificates every clone "
                      "trusts)")
    if certs.CLIENT_KEY in keys:
        shared.append(f"a client key that controls every clone's daemon as root ({certs.CLIENT_KEY})")
    names = ", ".join(sorted(sans)) if sans else "the image's names"
    return Note("warning", "tls in an image: every clone of this root gets the same keys: "
                + "; ".join(shared + ["the server key"]) + f"; and one server certificate for {names} while dockerd "
                "listens on " + ", ".join(endpoints) + ". The safe way: leave the tls layer out of the image and "
                "apply it on each host at its first boot (certificates issued per host, the CA key kept off the "
                "image), as docs/layers/tls.md (Images) describes")


def _endpoints(settings: Settings) -> list[str]:
    """The TCP addresses dockerd will serve: `hosts` a layer sets, else the tls layer's address."""
    hosts = [h for h in settings.table("daemon").get("hosts") or [] if isinstance(h, str) and h.startswith("tcp://")]
    return hosts or [settings.table("tls").get("address", "tcp://0.0.0.0:2376")]


def _sans(cert: bytes | None) -> set[str] | None:
    from dockharden.targets import certs

    try:
        return certs.san_strings(cert) if cert else None
    except ValueError:  # not a certificate: the checks of certs.py say so
        return None
