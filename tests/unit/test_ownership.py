"""dockharden writes a whole file only where it created that file for the same purpose."""

import pytest

from dockharden.core.ownership import LEGACY, check_ownership
from dockharden.errors import ConflictError
from dockharden.model import HostFile, HostSnapshot, RenderedFile

CERT = "/etc/docker/tls/server-cert.pem"


def host(files=(), created=None):
    found = {f.path: f for f in files}
    return HostSnapshot(root="/", files=found, existing_paths=frozenset(found), created=created or {})


def existing(path, content=b"someone's\n", link=None):
    return HostFile(path, exists=True, content=content, mode=0o644, uid=0, gid=0, symlink_target=link)


def test_a_new_file_is_written_and_recorded_as_created_by_its_target():
    assert check_ownership([RenderedFile("tls", path=CERT, content=b"pem")], host()) == {CERT: "tls"}


def test_a_layer_pointing_a_certificate_at_someone_elses_file_is_refused():
    with pytest.raises(ConflictError, match="did not create it") as err:
        check_ownership([RenderedFile("tls", path="/etc/passwd", content=b"pem")], host([existing("/etc/passwd")]))
    assert err.value.path == "/etc/passwd" and "tlscert" in str(err.value)


def test_a_file_dockharden_created_is_rewritten_and_stays_recorded():
    created = check_ownership([RenderedFile("tls", path=CERT, content=b"new")], host([existing(CERT)], {CERT: "tls"}))
    assert created == {CERT: "tls"}


def test_a_file_created_by_an_older_version_counts_as_dockhardens():
    assert check_ownership([RenderedFile("tls", path=CERT, content=b"new")],
                           host([existing(CERT)], {CERT: LEGACY})) == {CERT: "tls"}


def test_a_file_created_for_another_purpose_is_refused():
    with pytest.raises(ConflictError, match="created this file for `seccomp`"):
        check_ownership([RenderedFile("tls", path=CERT, content=b"pem")], host([existing(CERT)], {CERT: "seccomp"}))


def test_an_identical_file_or_a_mode_change_of_an_operators_file_is_allowed():
    mine = existing(CERT, b"pem")
    assert check_ownership([RenderedFile("tls", path=CERT, content=b"pem", mode=0o444)], host([mine])) == {}


def test_a_relative_path_is_refused():
    with pytest.raises(ConflictError, match="relative path"):
        check_ownership([RenderedFile("tls", path="certs/server.pem", content=b"pem")], host())


def test_two_targets_writing_one_path_are_refused():
    with pytest.raises(ConflictError, match="both `tls` and `seccomp`"):
        check_ownership([RenderedFile("tls", path="/etc/x.pem", content=b"a"),
                         RenderedFile("seccomp", path="/etc/x.pem", content=b"b")], host())


def test_a_symlinked_whole_file_is_refused_naming_the_link_target_even_when_once_created_by_dockharden():
    rules = "/etc/audit/rules.d/docker.rules"
    link = existing(rules, b"-D\n", link="audit.rules")
    for created in ({}, {rules: "audit"}):
        with pytest.raises(ConflictError, match="symlink to audit.rules"):
            check_ownership([RenderedFile("audit", path=rules, content=b"-w /x -p wa -k docker\n")],
                            host([link], created))


def test_merged_files_are_always_ours_to_change():
    daemon = existing("/etc/docker/daemon.json", b"{}")
    assert check_ownership([RenderedFile("daemon.json", path=daemon.path, content=b'{"icc": false}')],
                           host([daemon])) == {}
