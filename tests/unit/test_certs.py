import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from dockharden.errors import ConflictError
from dockharden.targets import certs
from dockharden.targets.certs import (
    ALL_PATHS,
    CA,
    CA_KEY,
    CLIENT_CA,
    CLIENT_CERT,
    CLIENT_KEY,
    SERVER_CERT,
    SERVER_KEY,
    chains_to,
    check_pair,
    not_after,
    plan_certificates,
    san_strings,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NOTHING: dict[str, bytes | None] = {path: None for path in ALL_PATHS}


def plan(existing=None, *, now=NOW, days=365, ips=(), names=(), paths=None):
    return plan_certificates(NOTHING if existing is None else existing, dns_names=list(names),
                             ip_addresses=list(ips), hostname="dock1", days=days, now=now, paths=paths)


def written(files):
    return {f.path: f.content for f in files}


def after(existing, files):
    """The host's files once apply has written `files`."""
    return {**existing, **written(files)}


def messages(notes, level=None):
    return " | ".join(n.message for n in notes if level is None or n.level == level)


def fresh(**kwargs):
    files, _ = plan(**kwargs)
    return after(NOTHING, files)


def cert(pem):
    return x509.load_pem_x509_certificate(pem)


def eku(pem):
    return list(cert(pem).extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


# --- case 1: nothing exists ---------------------------------------------------------------


def test_nothing_on_the_host_creates_all_seven_files_with_notes():
    files, notes = plan()
    assert sorted(f.path for f in files) == sorted(ALL_PATHS)
    assert {f.target for f in files} == {"tls"} and {(f.uid, f.gid) for f in files} == {(0, 0)}
    assert all(n.level == "info" for n in notes)
    assert "tls: create CA ca.pem, expires 2036-11-20" in messages(notes)
    assert "create server certificate server-cert.pem" in messages(notes)
    assert "create client certificate client/cert.pem" in messages(notes)


def test_keys_are_0400_and_secret_and_certificates_are_0444():
    files, _ = plan()
    modes = {f.path: (f.mode, f.secret) for f in files}
    for key in (CA_KEY, SERVER_KEY, CLIENT_KEY):
        assert modes[key] == (0o400, True)
    for crt in (CA, SERVER_CERT, CLIENT_CA, CLIENT_CERT):
        assert modes[crt] == (0o444, False)


def test_client_bundle_carries_the_same_ca_bytes():
    host = fresh()
    assert host[CLIENT_CA] == host[CA]


def test_ca_is_a_self_signed_critical_ca_that_outlives_its_certificates_tenfold():
    ca = cert(fresh()[CA])
    assert ca.subject == ca.issuer and "dockharden CA for dock1" in ca.subject.rfc4514_string()
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert basic.critical and basic.value.ca and usage.key_cert_sign and usage.crl_sign
    assert ca.not_valid_after_utc == NOW + timedelta(days=3650)  # 10 x 365: renewals keep the CA
    assert ca.not_valid_before_utc == NOW - timedelta(hours=1)


def test_server_certificate_has_the_required_sans_and_server_auth():
    host = fresh(ips=["10.0.0.5", "fd00::1"], names=["docker.example"])
    assert san_strings(host[SERVER_CERT]) == {"DNS:dock1", "DNS:localhost", "DNS:docker.example",
                                              "IP:127.0.0.1", "IP:10.0.0.5", "IP:fd00::1"}
    assert eku(host[SERVER_CERT]) == [ExtendedKeyUsageOID.SERVER_AUTH]
    usage = cert(host[SERVER_CERT]).extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment


def test_client_certificate_has_client_auth_and_both_chain_to_the_ca():
    host = fresh()
    assert eku(host[CLIENT_CERT]) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert "dockharden client" in cert(host[CLIENT_CERT]).subject.rfc4514_string()
    for crt, key in ((SERVER_CERT, SERVER_KEY), (CLIENT_CERT, CLIENT_KEY), (CA, CA_KEY)):
        assert check_pair(host[crt], host[key])
    assert chains_to(host[SERVER_CERT], host[CA]) and chains_to(host[CLIENT_CERT], host[CA])


def test_keys_are_unencrypted_pkcs8_ecdsa_p256():
    host = fresh()
    for key in (CA_KEY, SERVER_KEY, CLIENT_KEY):
        assert host[key].startswith(b"-----BEGIN PRIVATE KEY-----")
    assert cert(host[SERVER_CERT]).public_key().curve.name == "secp256r1"


# --- case 2: everything valid -------------------------------------------------------------


def test_second_plan_after_apply_has_nothing_to_do_and_states_each_expiry():
    host = fresh(ips=["10.0.0.5"])
    files, notes = plan(host, ips=["10.0.0.5"], now=NOW + timedelta(days=100))
    assert files == []
    assert all(n.level == "info" for n in notes)
    assert "tls: ca.pem valid until 2036-11-20" in messages(notes)
    for label in ("server-cert.pem", "client/cert.pem"):
        assert f"tls: {label} valid until 2027-11-23" in messages(notes)


def test_same_host_and_clock_give_the_same_decision():
    host = fresh()
    host[SERVER_CERT] = None
    first, second = plan(host), plan(host)
    assert [f.path for f in first[0]] == [f.path for f in second[0]]
    assert messages(first[1]) == messages(second[1])


# --- case 3: re-issue from the existing CA ------------------------------------------------


def test_server_certificate_expiring_within_30_days_is_renewed_from_the_same_ca():
    host = fresh(days=1000)
    host[SERVER_CERT] = None
    host = after(host, plan(host, days=60)[0])  # a short-lived server certificate
    files, notes = plan(host, days=1000, now=NOW + timedelta(days=40))
    assert set(written(files)) == {SERVER_CERT, SERVER_KEY}
    assert "renew server certificate server-cert.pem: expires 2027-01-22, within 30 days" in messages(notes)
    new = written(files)
    assert chains_to(new[SERVER_CERT], host[CA]) and new[SERVER_KEY] != host[SERVER_KEY]


def test_missing_san_reissues_only_the_server_certificate():
    host = fresh()
    files, notes = plan(host, ips=["10.0.0.5"])
    assert set(written(files)) == {SERVER_CERT, SERVER_KEY}
    assert "missing SAN IP:10.0.0.5" in messages(notes)
    assert "IP:10.0.0.5" in san_strings(written(files)[SERVER_CERT])
    assert plan(after(host, files), ips=["10.0.0.5"])[0] == []


def test_missing_client_certificate_is_reissued_alone():
    host = fresh()
    host[CLIENT_CERT] = None
    files, notes = plan(host)
    assert set(written(files)) == {CLIENT_CERT, CLIENT_KEY}
    assert "client/cert.pem is missing" in messages(notes)


def test_server_key_that_does_not_match_reissues_the_pair():
    host = fresh()
    host[SERVER_KEY] = host[CLIENT_KEY]
    files, notes = plan(host)
    assert set(written(files)) == {SERVER_CERT, SERVER_KEY}
    assert "server-key.pem does not match server-cert.pem" in messages(notes)


def test_client_certificate_from_another_ca_is_reissued():
    host = fresh()
    other = fresh()
    host[CLIENT_CERT], host[CLIENT_KEY] = other[CLIENT_CERT], other[CLIENT_KEY]
    files, notes = plan(host)
    assert set(written(files)) == {CLIENT_CERT, CLIENT_KEY}
    assert "not signed by ca.pem" in messages(notes)


def test_client_ca_copy_that_differs_is_rewritten():
    host = fresh()
    host[CLIENT_CA] = fresh()[CA]
    files, notes = plan(host)
    assert written(files) == {CLIENT_CA: host[CA]}
    assert "client/ca.pem: differs from ca.pem" in messages(notes)


# --- case 4: the CA itself expires --------------------------------------------------------


def test_ca_expiring_within_30_days_is_replaced_and_both_certificates_reissued():
    host = fresh(days=60)
    files, notes = plan(host, days=365, now=NOW + timedelta(days=3630))
    new = written(files)
    assert sorted(new) == sorted(ALL_PATHS)
    assert new[CA] != host[CA] and chains_to(new[SERVER_CERT], new[CA]) and not chains_to(new[SERVER_CERT], host[CA])
    assert "renew CA ca.pem: expires 2036-11-20, within 30 days" in messages(notes)
    assert "the CA is new" in messages(notes)


def test_ca_key_that_does_not_match_ca_is_refused_rather_than_overwritten():
    host = fresh()
    host[CA_KEY] = host[SERVER_KEY]
    with pytest.raises(ConflictError) as err:
        plan(host)
    assert err.value.path == CA_KEY and "ca-key.pem does not match ca.pem" in str(err.value)


def test_leaf_certificates_never_outlive_their_ca():
    host = fresh(days=365)  # the CA runs to NOW + 3650 days
    host[SERVER_CERT] = None
    files, _ = plan(host, days=365, now=NOW + timedelta(days=3550))  # 100 days of CA left
    assert not_after(written(files)[SERVER_CERT]) == not_after(host[CA])


# --- case 5: the operator's own PKI -------------------------------------------------------


def operator_host(**kwargs):
    """An operator's CA, certificate and key: dockharden's output without the CA key or client bundle."""
    host = fresh(**kwargs)
    return {**host, CA_KEY: None, CLIENT_CA: None, CLIENT_CERT: None, CLIENT_KEY: None}


def test_operator_certificates_are_used_never_replaced():
    files, notes = plan(operator_host())
    assert files == []
    assert "tls: server-cert.pem valid until 2027-11-23" in messages(notes, "info")
    assert "no client bundle" in messages(notes, "warning")


def test_operator_client_bundle_is_checked_when_present():
    host = {**fresh(), CA_KEY: None}
    files, notes = plan(host)
    assert files == [] and "tls: client/cert.pem valid until 2027-11-23" in messages(notes)
    assert messages(notes, "warning") == ""


def test_operator_key_that_does_not_match_is_a_conflict_with_a_hint():
    host = operator_host()
    host[SERVER_KEY] = fresh()[SERVER_KEY]
    with pytest.raises(ConflictError) as err:
        plan(host)
    assert err.value.path == SERVER_KEY
    assert "server-key.pem does not match server-cert.pem" in str(err.value)
    assert "remove the three files to let dockharden create a CA" in err.value.hint


def test_operator_certificate_from_another_ca_is_a_conflict():
    host = operator_host()
    host[CA] = fresh()[CA]
    with pytest.raises(ConflictError) as err:
        plan(host)
    assert err.value.path == SERVER_CERT and "not signed by ca.pem" in str(err.value)


def test_expired_operator_ca_is_a_conflict():
    with pytest.raises(ConflictError) as err:
        plan(operator_host(), now=NOW + timedelta(days=3651))
    assert err.value.path == CA and "ca.pem expired on 2036-11-20" in str(err.value)


def test_expired_operator_server_certificate_names_the_certificate():
    host = fresh(days=1000)
    host[SERVER_CERT] = None
    host = {**after(host, plan(host, days=60)[0]), CA_KEY: None}
    with pytest.raises(ConflictError) as err:
        plan(host, now=NOW + timedelta(days=61))
    assert err.value.path == SERVER_CERT and "server-cert.pem expired on 2027-01-22" in str(err.value)


def test_operator_certificate_expiring_soon_or_lacking_a_san_is_only_a_warning():
    files, notes = plan(operator_host(), ips=["10.0.0.5"], now=NOW + timedelta(days=350))
    assert files == []
    warnings = messages(notes, "warning")
    assert "server-cert.pem expires 2027-11-23, within 30 days" in warnings
    assert "lacks SAN IP:10.0.0.5" in warnings


def test_operator_paths_from_daemon_json_are_checked_where_they_are():
    host = fresh()
    moved = {"ca": "/srv/pki/ca.crt", "cert": "/srv/pki/dock1.crt", "key": "/srv/pki/dock1.key"}
    existing = {**NOTHING, moved["ca"]: host[CA], moved["cert"]: host[SERVER_CERT], moved["key"]: host[SERVER_KEY]}
    files, notes = plan(existing, paths=moved)
    assert files == [] and "/srv/pki/dock1.crt valid until" in messages(notes)
    existing[moved["key"]] = host[CLIENT_KEY]
    with pytest.raises(ConflictError) as err:
        plan(existing, paths=moved)
    assert err.value.path == "/srv/pki/dock1.key"


def test_operator_ca_without_certificate_or_ca_key_is_a_conflict():
    host = operator_host()
    host[SERVER_CERT] = None
    with pytest.raises(ConflictError) as err:
        plan(host)
    assert err.value.path == SERVER_CERT and "missing" in str(err.value)


# --- case 6 and bad input -----------------------------------------------------------------


@pytest.mark.parametrize("path", [CA, CA_KEY, SERVER_CERT, SERVER_KEY, CLIENT_CERT])
def test_a_file_that_is_not_pem_is_a_conflict_naming_it(path):
    host = fresh()
    host[path] = b"not a certificate\n"
    with pytest.raises(ConflictError) as err:
        plan(host)
    assert err.value.path == path and "is not a PEM" in str(err.value)


def test_an_empty_operator_file_is_not_pem_rather_than_missing():
    host = operator_host()
    host[CA] = b""
    with pytest.raises(ConflictError) as err:
        plan(host)
    assert err.value.path == CA


@pytest.mark.parametrize("value", ["10.0.0.300", "dock1", 167772165])
def test_a_bad_ip_address_names_the_key_and_the_value(value):
    with pytest.raises(ConflictError) as err:
        plan(ips=[value])
    assert err.value.key == "tls.ip_addresses" and str(value) in str(err.value)


def test_a_validity_inside_the_renewal_window_is_refused_because_it_would_never_settle():
    with pytest.raises(ConflictError) as err:
        plan(days=30)
    assert err.value.key == "tls.days"


def test_a_naive_clock_is_a_programming_error():
    with pytest.raises(ValueError):
        plan(now=datetime(2026, 11, 23))


def test_helpers_read_plain_pem_bytes():
    host = fresh()
    assert not check_pair(host[SERVER_CERT], host[CLIENT_KEY])
    assert not chains_to(host[SERVER_CERT], fresh()[CA])
    assert not_after(host[CLIENT_CERT]) == NOW + timedelta(days=365)
    assert san_strings(host[CA]) == set()


def test_chains_to_follows_intermediates_in_the_certificate_file():
    root, other = fresh(), fresh()
    # Re-sign the other CA under the root: other's server certificate then chains root <- other CA <- leaf.
    other_ca = cert(other[CA])
    root_key = serialization.load_pem_private_key(root[CA_KEY], password=None)
    intermediate = (x509.CertificateBuilder().subject_name(other_ca.subject).issuer_name(cert(root[CA]).subject)
                    .public_key(other_ca.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(NOW).not_valid_after(NOW + timedelta(days=10))
                    .sign(root_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    assert not chains_to(other[SERVER_CERT], root[CA])
    assert chains_to(other[SERVER_CERT] + intermediate, root[CA])
    assert chains_to(other[SERVER_CERT] + intermediate, other[CA])


# --- a real mutual TLS handshake ----------------------------------------------------------


def write_pems(tmp_path, host):
    names = {CA: "ca.pem", SERVER_CERT: "server-cert.pem", SERVER_KEY: "server-key.pem",
             CLIENT_CERT: "cert.pem", CLIENT_KEY: "key.pem"}
    for path, name in names.items():
        (tmp_path / name).write_bytes(host[path])
    return {path: str(tmp_path / name) for path, name in names.items()}


def serve_once(files):
    """A TLS server on 127.0.0.1 that requires a client certificate, answers b"ok" once and stops."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files[SERVER_CERT], files[SERVER_KEY])
    context.load_verify_locations(files[CA])
    context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def run():
        try:
            conn, _ = listener.accept()
            conn.settimeout(5)
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")
        except (OSError, ssl.SSLError):
            pass  # the refused handshake: the client side asserts on it
        finally:
            listener.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def connect(files, port, with_client_cert):
    context = ssl.create_default_context(cafile=files[CA])
    if with_client_cert:
        context.load_cert_chain(files[CLIENT_CERT], files[CLIENT_KEY])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.recv(2)


def test_mutual_tls_handshake_succeeds_with_the_client_bundle(tmp_path):
    files = write_pems(tmp_path, fresh())
    port, thread = serve_once(files)
    assert connect(files, port, with_client_cert=True) == b"ok"
    thread.join(5)


def test_mutual_tls_handshake_fails_without_a_client_certificate(tmp_path):
    files = write_pems(tmp_path, fresh())
    port, thread = serve_once(files)
    # With TLS 1.3 the client finishes its handshake first and learns of the refusal on the first read.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        assert connect(files, port, with_client_cert=False) == b"ok"
    thread.join(5)


def test_module_constants_name_the_host_paths():
    assert certs.TLS_DIR == "/etc/docker/tls" and certs.RENEW_BEFORE == timedelta(days=30)
    assert CLIENT_CA == "/etc/docker/tls/client/ca.pem" and len(ALL_PATHS) == 7


@pytest.mark.parametrize("name", ["bücher.example", "", "two words"])
def test_a_bad_dns_name_names_the_key(name):
    with pytest.raises(ConflictError) as err:
        plan(names=[name])
    assert err.value.key == "tls.dns_names"


def test_an_operator_tls_key_that_is_not_a_key_is_named_before_a_missing_ca():
    """Issue 24 class 12: tlskey pointing at a file that is no key was refused with a message about ca.pem."""
    host = fresh()
    moved = {"key": "/etc/ssl/notakey.pem"}
    for not_a_key in (b"hello\n", host[SERVER_CERT]):
        existing = {**NOTHING, moved["key"]: not_a_key}
        with pytest.raises(ConflictError) as err:
            plan(existing, paths=moved)
        assert err.value.path == "/etc/ssl/notakey.pem" and "is not a PEM private key" in str(err.value)
        assert "ca.pem" not in str(err.value)
