"""Each reason the system gives for saying no gets the hint that fits it, never a catch-all."""

import errno

import pytest

from dockharden.errors import ApplyError, DockhardenError, from_os_error, os_error_hint

FITTING = [
    (errno.ENOENT, "does not exist"),
    (errno.ENOTDIR, "is a file where a directory is expected"),
    (errno.EISDIR, "a directory stands where a file is expected"),
    (errno.EEXIST, "already has this name"),
    (errno.EACCES, "run dockharden as root"),
    (errno.EPERM, "immutable attribute"),
    (errno.EROFS, "mounted read-only"),
    (errno.ENOSPC, "free some space"),
    (errno.EDQUOT, "quota"),
    (errno.ELOOP, "symlink loop"),
    (errno.ENAMETOOLONG, "too long"),
    (errno.EIO, "dmesg"),
    (errno.EMFILE, "ulimit -n"),
    (errno.EBUSY, "mount point"),
    (errno.EXDEV, "crosses filesystems"),
]


@pytest.mark.parametrize("code,needle", FITTING, ids=[errno.errorcode[c] for c, _ in FITTING])
def test_each_errno_gets_a_hint_that_fits_its_cause(code, needle):
    hint = os_error_hint(OSError(code, "x"))
    assert needle in hint


@pytest.mark.parametrize("code", [c for c, _ in FITTING if c not in (errno.EACCES, errno.EPERM)])
def test_only_a_permission_error_is_told_to_run_as_root(code):
    assert "as root" not in os_error_hint(OSError(code, "x"))


def test_an_errno_without_a_hint_of_its_own_says_what_the_system_said():
    assert "Connection reset by peer" in os_error_hint(OSError(errno.ECONNRESET, "Connection reset by peer"))


def test_an_os_error_becomes_a_typed_paragraph_with_the_file_the_reason_and_what_follows():
    error = from_os_error(OSError(errno.ENOSPC, "No space left on device", "/etc/docker/daemon.json"),
                          "could not write it", error=ApplyError, then="the previous file is unchanged")
    assert isinstance(error, ApplyError) and isinstance(error, DockhardenError)
    assert error.paragraph() == ("/etc/docker/daemon.json: could not write it: No space left on device. Hint: the "
                                 "filesystem is full: free some space there (df -h shows which) and run again; the "
                                 "previous file is unchanged")
