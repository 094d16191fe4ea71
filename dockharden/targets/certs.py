"""Target `tls`: the CA, server and client certificates that let dockerd serve its API over mutual TLS.

Stage: targets. Pure apart from randomness: the caller passes the files' current bytes and the clock.
Certificates are generated here, at plan time, so that the plan shows and apply writes the same bytes,
and a second plan after apply finds nothing to do.

Two modes, told apart by `ca-key.pem`: when it exists dockharden runs the CA and renews what it
signed; when it does not, the operator brought the certificates and we only check them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dockharden.errors import ConflictError
from dockharden.model import Note, RenderedFile

TLS_DIR = "/etc/docker/tls"
CLIENT_DIR = f"{TLS_DIR}/client"
CA = f"{TLS_DIR}/ca.pem"
CA_KEY = f"{TLS_DIR}/ca-key.pem"
SERVER_CERT = f"{TLS_DIR}/server-cert.pem"
SERVER_KEY = f"{TLS_DIR}/server-key.pem"
CLIENT_CA = f"{CLIENT_DIR}/ca.pem"
CLIENT_CERT = f"{CLIENT_DIR}/cert.pem"
CLIENT_KEY = f"{CLIENT_DIR}/key.pem"
ALL_PATHS: tuple[str, ...] = (CA, CA_KEY, SERVER_CERT, SERVER_KEY, CLIENT_CA, CLIENT_CERT, CLIENT_KEY)

RENEW_BEFORE = timedelta(days=30)
TARGET = "tls"
CERT_MODE = 0o444
KEY_MODE = 0o400
# Backdated so a client whose clock runs a little behind the host's still accepts a fresh certificate.
CLOCK_SKEW = timedelta(hours=1)
REMOVE_HINT = "remove the three files to let dockharden create a CA"
OPERATOR_HINT = f"replace it, or {REMOVE_HINT}"


@dataclass(frozen=True, kw_only=True)
class Paths:
    """Where each file lives; daemon.json's tlscacert/tlscert/tlskey may move the server's three."""

    ca: str = CA
    ca_key: str = CA_KEY
    cert: str = SERVER_CERT
    key: str = SERVER_KEY
    client_ca: str = CLIENT_CA
    client_cert: str = CLIENT_CERT
    client_key: str = CLIENT_KEY


@dataclass(frozen=True, kw_only=True)
class Request:
    """What the operator asked for, validated once."""

    paths: Paths
    hostname: str
    sans: tuple[str, ...]
    days: int
    now: datetime


@dataclass(frozen=True)
class Pair:
    """A certificate and its private key, as PEM bytes."""

    cert: bytes
    key: bytes


@dataclass(frozen=True)
class Leaf:
    """A certificate the CA signs: the server's or the client's."""

    what: str
    cert_path: str
    key_path: str
    server: bool


# --- public helpers -------------------------------------------------------------------------


def check_pair(cert_pem: bytes, key_pem: bytes) -> bool:
    """True when `key_pem` is the private key of the (first) certificate in `cert_pem`."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    return _spki(cert.public_key()) == _spki(key.public_key())


def chains_to(cert_pem: bytes, ca_pem: bytes) -> bool:
    """True when the first certificate in `cert_pem` was signed by a certificate in `ca_pem`,
    directly or through intermediates that follow it in `cert_pem` (issuer name and signature)."""
    current, *rest = x509.load_pem_x509_certificates(cert_pem)
    roots = x509.load_pem_x509_certificates(ca_pem)
    for _ in range(len(rest) + 1):
        if any(_issued_by(current, root) for root in roots):
            return True
        parent = next((c for c in rest if _issued_by(current, c)), None)
        if parent is None:
            return False
        current, rest = parent, [c for c in rest if c is not parent]
    return False


def not_after(cert_pem: bytes) -> datetime:
    """The (first) certificate's expiry, timezone-aware UTC."""
    return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc


def san_strings(cert_pem: bytes) -> set[str]:
    """The subject alternative names as {"DNS:localhost", "IP:127.0.0.1"}."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {f"DNS:{name}" for name in san.get_values_for_type(x509.DNSName)} | {
        f"IP:{ip}" for ip in san.get_values_for_type(x509.IPAddress)}


# --- the decision ---------------------------------------------------------------------------


def plan_certificates(existing: dict[str, bytes | None], *, dns_names: list[str], ip_addresses: list[str],
                      hostname: str, days: int, now: datetime,
                      paths: dict[str, str] | None = None) -> tuple[list[RenderedFile], list[Note]]:
    """The files to write (none when all is well) and notes saying what was decided and why."""
    req = _request(hostname, dns_names, ip_addresses, days, now, paths)
    p = req.paths
    if existing.get(p.ca_key) is not None:
        return _plan_managed(existing, req)
    if any(existing.get(path) is not None for path in (p.ca, p.cert, p.key)):
        return [], _check_operator(existing, req)
    return _create_all(req, why="")


def _request(hostname: str, dns_names: list[str], ip_addresses: list[str], days: int, now: datetime,
             paths: dict[str, str] | None) -> Request:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("plan_certificates needs a timezone-aware `now`")
    if not hostname or not hostname.isascii():
        raise ConflictError(f"the host name `{hostname}` cannot go in the server certificate",
                            hint="set an ASCII host name with `hostnamectl set-hostname`")
    # A validity inside the renewal window would make every plan renew again: never idempotent.
    if isinstance(days, bool) or not isinstance(days, int) or days <= RENEW_BEFORE.days:
        raise ConflictError(f"certificate validity {days!r} days is not above the {RENEW_BEFORE.days}-day "
                            "renewal window", hint="use 365 or more", key="tls.days")
    over = paths or {}
    server = Paths(ca=over.get("ca", CA), cert=over.get("cert", SERVER_CERT), key=over.get("key", SERVER_KEY))
    return Request(paths=server, hostname=hostname, sans=_required_sans(hostname, dns_names, ip_addresses), days=days, now=now)


def _required_sans(hostname: str, dns_names: list[str], ip_addresses: list[str]) -> tuple[str, ...]:
    for name in dns_names:
        if not isinstance(name, str) or not name or not name.isascii() or " " in name:
            raise ConflictError(f"`{name}` is not a DNS name", key="tls.dns_names",
                                hint="write ASCII host names; encode international names as xn--")
    ips = [_ip(value) for value in ["127.0.0.1", *ip_addresses]]
    wanted = [f"DNS:{n}" for n in [hostname, "localhost", *dns_names]] + [f"IP:{ip}" for ip in ips]
    return tuple(dict.fromkeys(wanted))  # ordered and without duplicates


def _ip(value: object) -> str:
    # ipaddress also accepts integers; a layer's 167772165 is a mistake, not 10.0.0.5.
    try:
        if not isinstance(value, str):
            raise ValueError
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ConflictError(f"`{value}` is not an IP address", key="tls.ip_addresses",
                            hint="write IPv4 or IPv6 addresses such as 10.0.0.5; put names in tls.dns_names") from None


# --- dockharden runs the CA -----------------------------------------------------------------


def _plan_managed(existing: dict[str, bytes | None], req: Request) -> tuple[list[RenderedFile], list[Note]]:
    p = req.paths
    problem = _ca_problem(existing.get(p.ca), existing[p.ca_key] or b"", req)
    if problem:
        return _create_all(req, why=problem)
    ca = Pair(existing[p.ca] or b"", existing[p.ca_key] or b"")
    files: list[RenderedFile] = []
    notes = [_valid_note(p.ca, ca.cert)]
    for leaf in _leaves(p):
        why = _leaf_problem(existing, leaf, ca.cert, req)
        if why:
            issued = _issue_leaf(leaf, ca, req)
            files += _leaf_files(leaf, issued)
            notes.append(_issued_note("renew", leaf.what, leaf.cert_path, issued.cert, why, req, leaf.server))
        else:
            notes.append(_valid_note(leaf.cert_path, existing[leaf.cert_path] or b""))
    if existing.get(p.client_ca) != ca.cert:
        files.append(_file(p.client_ca, ca.cert))
        state = "missing" if existing.get(p.client_ca) is None else f"differs from {_label(p.ca)}"
        notes.append(Note("info", f"tls: write {_label(p.client_ca)}: {state}"))
    return files, notes


def _ca_problem(cert: bytes | None, key: bytes, req: Request) -> str:
    """Why the CA must be replaced, '' when it can keep signing. Raises when replacing would be unsafe."""
    p = req.paths
    _load_key(key, p.ca_key)
    if cert is None:
        return f"{_label(p.ca)} is missing"
    _load_cert(cert, p.ca)
    # A key that does not match may be an operator's CA we must not overwrite: ask, never guess.
    if not check_pair(cert, key):
        raise ConflictError(f"{_label(p.ca_key)} does not match {_label(p.ca)}", path=p.ca_key,
                            hint=f"if you manage your own CA, remove {_label(p.ca_key)}; otherwise remove "
                                 f"both to let dockharden create a new CA")
    return _expiry_problem(cert, req.now)


def _leaf_problem(existing: dict[str, bytes | None], leaf: Leaf, ca_pem: bytes, req: Request) -> str:
    cert, key = existing.get(leaf.cert_path), existing.get(leaf.key_path)
    for path, pem in ((leaf.cert_path, cert), (leaf.key_path, key)):
        if pem is None:
            return f"{_label(path)} is missing"
    _load_cert(cert, leaf.cert_path)
    _load_key(key, leaf.key_path)
    if not check_pair(cert, key):
        return f"{_label(leaf.key_path)} does not match {_label(leaf.cert_path)}"
    if not chains_to(cert, ca_pem):
        return f"not signed by {_label(req.paths.ca)}"
    missing = _missing_sans(req.sans, san_strings(cert)) if leaf.server else []
    return _expiry_problem(cert, req.now) or (f"missing SAN {', '.join(missing)}" if missing else "")


def _create_all(req: Request, why: str) -> tuple[list[RenderedFile], list[Note]]:
    p = req.paths
    ca = _new_ca(req)
    verb = "renew" if why else "create"
    files = [_file(p.ca, ca.cert), _file(p.ca_key, ca.key, secret=True), _file(p.client_ca, ca.cert)]
    notes = [_issued_note(verb, "CA", p.ca, ca.cert, why, req, False)]
    for leaf in _leaves(p):
        issued = _issue_leaf(leaf, ca, req)
        files += _leaf_files(leaf, issued)
        notes.append(_issued_note(verb, leaf.what, leaf.cert_path, issued.cert, "the CA is new" if why else "",
                                  req, leaf.server))
    return files, notes


# --- the operator runs the CA ---------------------------------------------------------------


def _check_operator(existing: dict[str, bytes | None], req: Request) -> list[Note]:
    """Check the operator's CA, certificate and key; refuse what dockerd would refuse, warn about the rest."""
    p = req.paths
    # a file that is there but is not what its key names (a tlskey that is no key) is the problem to name,
    # before one that is missing (the CA, checked first, would be named instead)
    for path, load in ((p.key, _load_key), (p.cert, _load_cert), (p.ca, _load_cert)):
        if existing.get(path) is not None:
            load(existing[path] or b"", path)
    for path in (p.ca, p.cert, p.key):
        if existing.get(path) is None:
            raise ConflictError(f"{_label(path)} is missing and there is no {_label(p.ca_key)} to sign a new one",
                                path=path, hint=f"add it, or {REMOVE_HINT}")
    ca, cert, key = existing[p.ca] or b"", existing[p.cert] or b"", existing[p.key] or b""
    _load_cert(ca, p.ca)
    _load_cert(cert, p.cert)
    _load_key(key, p.key)
    if not check_pair(cert, key):
        raise ConflictError(f"{_label(p.key)} does not match {_label(p.cert)}", path=p.key, hint=OPERATOR_HINT)
    if not chains_to(cert, ca):
        raise ConflictError(f"{_label(p.cert)} is not signed by {_label(p.ca)}", path=p.cert, hint=OPERATOR_HINT)
    notes = [_operator_expiry(p.ca, ca, req.now), _operator_expiry(p.cert, cert, req.now)]
    missing = _missing_sans(req.sans, san_strings(cert))
    if missing:
        notes.append(Note("warning", f"tls: {_label(p.cert)} lacks SAN {', '.join(missing)}: clients using "
                                     "those names will refuse it; reissue it if they need them"))
    return notes + _check_operator_client(existing, p, ca)


def _operator_expiry(path: str, pem: bytes, now: datetime) -> Note:
    end = not_after(pem)
    if end <= now:
        raise ConflictError(f"{_label(path)} expired on {_day(end)}", path=path, hint=OPERATOR_HINT)
    if end - now <= RENEW_BEFORE:
        return Note("warning", f"tls: {_label(path)} expires {_day(end)}, within {RENEW_BEFORE.days} days: "
                               "renew it in your PKI")
    return _valid_note(path, pem)


def _check_operator_client(existing: dict[str, bytes | None], p: Paths, ca: bytes) -> list[Note]:
    # The client bundle only serves the operator's own `docker --tlsverify` (and verify): warn, never refuse.
    bundle = (p.client_ca, p.client_cert, p.client_key)
    absent = [_label(path) for path in bundle if existing.get(path) is None]
    if absent:
        return [Note("warning", f"tls: no client bundle ({', '.join(absent)} absent); dockharden cannot sign one "
                                f"without {_label(p.ca_key)}: issue a clientAuth certificate from your CA")]
    cert, key = existing[p.client_cert] or b"", existing[p.client_key] or b""
    _load_cert(existing[p.client_ca] or b"", p.client_ca)
    _load_cert(cert, p.client_cert)
    _load_key(key, p.client_key)
    if not check_pair(cert, key):
        return [Note("warning", f"tls: {_label(p.client_key)} does not match {_label(p.client_cert)}")]
    if not chains_to(cert, ca):
        return [Note("warning", f"tls: {_label(p.client_cert)} is not signed by {_label(p.ca)}: "
                                "dockerd will refuse it")]
    return [_valid_note(p.client_cert, cert)]


# --- issuing --------------------------------------------------------------------------------


def _new_ca(req: Request) -> Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    extensions = [
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (x509.KeyUsage(False, False, False, False, False, key_cert_sign=True, crl_sign=True,
                       encipher_only=False, decipher_only=False), True),
    ]
    # the CA outlives its certificates (10x, at least ten years): renewing a server or client
    # certificate then keeps the CA, and client bundles copied elsewhere keep working
    ca_days = max(req.days * 10, 3650)
    cert = _sign(f"dockharden CA for {req.hostname}", key, None, key, req.now + timedelta(days=ca_days),
                 extensions, req.now)
    return Pair(_cert_pem(cert), _key_pem(key))


def _issue_leaf(leaf: Leaf, ca: Pair, req: Request) -> Pair:
    ca_cert = x509.load_pem_x509_certificate(ca.cert)
    ca_key = serialization.load_pem_private_key(ca.key, password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    # Never outlive the CA: the chain stops verifying when the CA expires anyway.
    end = min(req.now + timedelta(days=req.days), ca_cert.not_valid_after_utc)
    cn = req.hostname if leaf.server else "dockharden client"
    cert = _sign(cn, key, ca_cert, ca_key, end, _leaf_extensions(leaf, req), req.now)
    return Pair(_cert_pem(cert), _key_pem(key))


def _leaf_extensions(leaf: Leaf, req: Request) -> list[tuple[x509.ExtensionType, bool]]:
    usage = ExtendedKeyUsageOID.SERVER_AUTH if leaf.server else ExtendedKeyUsageOID.CLIENT_AUTH
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.KeyUsage(True, False, key_encipherment=leaf.server, data_encipherment=False, key_agreement=False,
                       key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False), True),
        (x509.ExtendedKeyUsage([usage]), False),
    ]
    if leaf.server:
        extensions.append((x509.SubjectAlternativeName([_general_name(s) for s in req.sans]), False))
    return extensions


def _sign(cn: str, key, issuer: x509.Certificate | None, signer, end: datetime,
          extensions: list[tuple[x509.ExtensionType, bool]], now: datetime) -> x509.Certificate:
    # X.509 caps a common name at 64 characters; the SANs, not the CN, carry the full host name.
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn[:64])])
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer.subject if issuer else name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - CLOCK_SKEW).not_valid_after(end)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    # Ed25519/Ed448 keys (an operator-supplied CA key) sign without a separate hash.
    digest = None if isinstance(signer, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) else hashes.SHA256()
    return builder.sign(signer, digest)


# --- small pieces ---------------------------------------------------------------------------


def _leaves(p: Paths) -> tuple[Leaf, Leaf]:
    return (Leaf("server certificate", p.cert, p.key, server=True),
            Leaf("client certificate", p.client_cert, p.client_key, server=False))


def _leaf_files(leaf: Leaf, issued: Pair) -> list[RenderedFile]:
    return [_file(leaf.cert_path, issued.cert), _file(leaf.key_path, issued.key, secret=True)]


def _file(path: str, content: bytes, secret: bool = False) -> RenderedFile:
    return RenderedFile(TARGET, path=path, content=content, mode=KEY_MODE if secret else CERT_MODE, uid=0, gid=0,
                        secret=secret)


def _expiry_problem(cert_pem: bytes, now: datetime) -> str:
    end = not_after(cert_pem)
    if end <= now:
        return f"expired on {_day(end)}"
    if end - now <= RENEW_BEFORE:
        return f"expires {_day(end)}, within {RENEW_BEFORE.days} days"
    return ""


def _missing_sans(required: tuple[str, ...], present: set[str]) -> list[str]:
    # DNS names compare case-insensitively; IP strings are already normalised by ipaddress.
    have = {s.lower() for s in present}
    return [s for s in required if s.lower() not in have]


def _issued_note(verb: str, what: str, path: str, cert: bytes, why: str, req: Request, server: bool) -> Note:
    because = f": {why};" if why else ","
    sans = f" SANs {', '.join(req.sans)}," if server else ""
    return Note("info", f"tls: {verb} {what} {_label(path)}{because}{sans} expires {_day(not_after(cert))}")


def _valid_note(path: str, cert_pem: bytes) -> Note:
    return Note("info", f"tls: {_label(path)} valid until {_day(not_after(cert_pem))}")


def _load_cert(pem: bytes, path: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ConflictError(f"{_label(path)} is not a PEM certificate", path=path,
                            hint="replace it with a PEM file; if dockharden created it, remove it to get a new one"
                            ) from None


def _load_key(pem: bytes, path: str) -> None:
    try:
        serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise ConflictError(f"{_label(path)} is encrypted; dockerd cannot ask for a passphrase", path=path,
                            hint=f"decrypt it: openssl pkey -in {path} -out {path}") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConflictError(f"{_label(path)} is not a PEM private key", path=path,
                            hint="replace it with a PEM file; if dockharden created it, remove it to get a new one"
                            ) from None


def _general_name(san: str) -> x509.GeneralName:
    kind, _, value = san.partition(":")
    return x509.DNSName(value) if kind == "DNS" else x509.IPAddress(ipaddress.ip_address(value))


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _label(path: str) -> str:
    """A path as the operator recognises it: relative to /etc/docker/tls when inside it."""
    return path[len(TLS_DIR) + 1:] if path.startswith(TLS_DIR + "/") else path


def _day(moment: datetime) -> str:
    return moment.date().isoformat()
