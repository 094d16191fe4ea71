"""The probe's pure parts: the container's output, the ping verdict, the uid map, the ELF check and
the image's tarball, as plain values."""

import io
import struct
import tarfile

import pytest

from dockharden.inspect.probe import (
    APPLETS,
    UNLIMITED,
    build_rootfs_tar,
    icc_verdict,
    is_static_elf,
    maps_root_elsewhere,
    parse_probe_output,
)

DEFAULT_DAEMON = """NoNewPrivs:\t0
Seccomp:\t2
uid_map: 0 0 4294967295
nofile: 1048576 1048576
nproc: unlimited unlimited
ping: PING 172.17.0.2 (172.17.0.2): 56 data bytes
ping: 64 bytes from 172.17.0.2: seq=0 ttl=64 time=0.090 ms
ping:
ping: --- 172.17.0.2 ping statistics ---
ping: 1 packets transmitted, 1 packets received, 0% packet loss
ping_rc: 0
"""

HARDENED_DAEMON = """NoNewPrivs:\t1
Seccomp:\t2
uid_map: 0 100000 65536
nofile: 2048 4096
nproc: 96365 96365
ping: PING 172.17.0.2 (172.17.0.2): 56 data bytes
ping:
ping: --- 172.17.0.2 ping statistics ---
ping: 1 packets transmitted, 0 packets received, 100% packet loss
ping_rc: 1
"""


@pytest.mark.parametrize("text, expected", [
    (DEFAULT_DAEMON, {"no_new_privs": False, "seccomp_mode": 2, "uid_map": [(0, 0, 4294967295)],
                      "nofile": (1048576, 1048576), "nproc": (UNLIMITED, UNLIMITED), "ping_rc": 0}),
    (HARDENED_DAEMON, {"no_new_privs": True, "seccomp_mode": 2, "uid_map": [(0, 100000, 65536)],
                       "nofile": (2048, 4096), "nproc": (96365, 96365), "ping_rc": 1}),
    # No container B (no address): the script prints no ping lines.
    ("NoNewPrivs:\t0\nSeccomp:\t0\nuid_map: 0 0 4294967295\nnofile: 1024 4096\nnproc: 10 20\n",
     {"seccomp_mode": 0, "ping_rc": None, "ping_output": ""}),
    # Two uid_map rows are both kept, in order.
    ("uid_map: 0 1000 1\nuid_map: 1 100000 65536\n", {"uid_map": [(0, 1000, 1), (1, 100000, 65536)]}),
    # Garbage, partial lines and unknown keys are measured as nothing, never guessed.
    ("NoNewPrivs: yes\nSeccomp: filter\nuid_map: 0 0\nnofile: 1024\nnproc: a b\nping_rc: x\nhello\n",
     {"no_new_privs": None, "seccomp_mode": None, "uid_map": [], "nofile": None, "nproc": None, "ping_rc": None}),
    ("", {"no_new_privs": None, "seccomp_mode": None, "uid_map": [], "nofile": None, "nproc": None}),
])
def test_probe_output_parses_into_measurements(text, expected):
    found = parse_probe_output(text)
    assert {key: found[key] for key in expected} == expected


def test_ping_lines_are_joined_for_the_verdict():
    found = parse_probe_output(HARDENED_DAEMON)
    assert found["ping_output"].startswith("PING 172.17.0.2")
    assert found["ping_output"].endswith("100% packet loss")


@pytest.mark.parametrize("rc, output, blocked, error_part", [
    (0, "1 packets transmitted, 1 packets received, 0% packet loss", False, None),
    (1, "1 packets transmitted, 0 packets received, 100% packet loss", True, None),
    (1, "ping: permission denied (are you root?)", None, "NET_RAW"),
    (1, "ping: socket: Operation not permitted", None, "NET_RAW"),
    (2, "ping: sendto: Network unreachable", None, "another reason (exit 2)"),
    (127, "", None, "no output"),
    (None, "", None, "did not report"),
])
def test_ping_of_container_b_decides_whether_icc_is_blocked(rc, output, blocked, error_part):
    verdict, error = icc_verdict(rc, output)
    assert verdict is blocked
    assert (error is None) if error_part is None else (error_part in error)


@pytest.mark.parametrize("uid_map, remapped", [
    ([(0, 0, 4294967295)], False),
    ([(0, 100000, 65536)], True),
    ([(0, 1001, 1), (1, 100000, 65536)], True),   # rootless-style: root is the user's uid
    ([(1, 100000, 65536)], True),                 # root unmapped: it is the overflow uid, not host root
    ([(0, 0, 1), (1, 100000, 65536)], False),
    ([], None),
])
def test_root_is_remapped_when_container_uid_0_is_not_host_uid_0(uid_map, remapped):
    assert maps_root_elsewhere(uid_map) is remapped


def elf(*program_header_types: int, is64: bool = True, little: bool = True) -> bytes:
    """A minimal ELF image: header plus program headers of the given p_type values."""
    end = "<" if little else ">"
    header = bytearray(64 if is64 else 52)
    header[:6] = b"\x7fELF" + bytes([2 if is64 else 1, 1 if little else 2])
    entsize = 56 if is64 else 32
    if is64:
        struct.pack_into(end + "Q", header, 0x20, len(header))
        struct.pack_into(end + "HH", header, 0x36, entsize, len(program_header_types))
    else:
        struct.pack_into(end + "I", header, 0x1C, len(header))
        struct.pack_into(end + "HH", header, 0x2A, entsize, len(program_header_types))
    table = b"".join(struct.pack(end + "I", t) + bytes(entsize - 4) for t in program_header_types)
    return bytes(header) + table


PT_LOAD, PT_INTERP, PT_NOTE = 1, 3, 4


@pytest.mark.parametrize("data, static", [
    (elf(PT_LOAD, PT_LOAD, PT_NOTE), True),
    (elf(PT_LOAD, PT_INTERP, PT_LOAD), False),
    (elf(PT_LOAD, is64=False), True),
    (elf(PT_INTERP, is64=False, little=False), False),
    (elf(PT_LOAD, little=False), True),
    (elf(), False),                                   # no program headers: not an executable
    (elf(PT_LOAD, PT_LOAD)[:-10], False),             # truncated table
    (b"#!/bin/sh\necho not an ELF\n" + bytes(64), False),
    (b"", False),
])
def test_only_an_elf_without_an_interpreter_counts_as_static(data, static):
    assert is_static_elf(data) is static


def test_rootfs_tar_holds_busybox_its_applets_and_empty_dirs_all_owned_by_root():
    busybox = b"\x7fELF pretend busybox"
    with tarfile.open(fileobj=io.BytesIO(build_rootfs_tar(busybox))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("bin/busybox").read() == busybox

    assert members["bin/busybox"].mode == 0o755
    for applet in ("sh", "grep", "ping", "sleep", "head"):
        assert applet in APPLETS
        assert members[f"bin/{applet}"].issym() and members[f"bin/{applet}"].linkname == "busybox"
    for directory in ("bin", "proc", "sys", "dev", "etc", "tmp"):
        assert members[directory].isdir()
    assert members["tmp"].mode == 0o1777
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {(0, 0, "", "")}


def test_a_probe_that_measured_nothing_says_why_it_did_not_run():
    from dockharden.inspect.probe import NO_IMAGE, not_run_reason

    nothing = {"image": "dockharden-probe:busybox", "no_new_privs": None, "uid_map": [], "errors": (NO_IMAGE,)}
    assert not_run_reason(nothing) == NO_IMAGE
    assert not_run_reason({"errors": ()}) == "no probe container reported anything"
    assert not_run_reason(dict(nothing, no_new_privs=False)) is None
