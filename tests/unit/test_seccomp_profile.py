"""The seccomp target: a deterministic profile, never less strict than Docker's default."""

from __future__ import annotations

import json

import pytest

from dockharden.targets import seccomp_syscalls as lists
from dockharden.targets.seccomp import (
    allowed_syscalls,
    arg_filtered_syscalls,
    docker_default_profile,
    is_no_less_strict_than_docker_default,
    render_seccomp,
)

ALL_ARCHES = ["x86_64", "aarch64", "mips64", "mips64n32", "mipsel64", "mipsel64n32", "s390x", "riscv64",
              "loongarch64"]
PROFILE_ARCHES = ("x86_64", "x86", "x32", "aarch64", "arm")
EVERY_CAP = frozenset(cap for cap, _names in lists.DOCKER_CAP_ALLOWS)


def profile(**settings: object) -> dict:
    return json.loads(render_seccomp(settings))


def test_rendering_is_deterministic_for_the_same_settings() -> None:
    settings = {"enabled": True, "mode": "per-container", "deny": ["mknod", "chmod"]}
    assert render_seccomp(settings) == render_seccomp(dict(settings))
    assert render_seccomp({"deny": ["chmod", "mknod"]}) == render_seccomp(settings)


def test_output_is_two_space_indented_json_with_a_trailing_newline() -> None:
    text = render_seccomp({}).decode("utf-8")
    assert text.endswith("}\n")
    assert text.splitlines()[1].startswith('  "defaultAction"')


def test_the_profile_denies_by_default_with_eperm() -> None:
    doc = profile()
    assert list(doc)[:2] == ["defaultAction", "defaultErrnoRet"]
    assert doc["defaultAction"] == "SCMP_ACT_ERRNO"
    assert doc["defaultErrnoRet"] == 1


def test_default_architectures_are_x86_64_and_aarch64_with_their_sub_architectures() -> None:
    assert profile()["archMap"] == [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    ]


def test_a_sub_architecture_selects_its_parent_entry() -> None:
    assert [entry["architecture"] for entry in profile(architectures=["x86", "arm64"])["archMap"]] == [
        "SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"]


def test_an_unknown_architecture_raises_value_error_naming_a_close_match() -> None:
    with pytest.raises(ValueError, match="x86-64.*x86_64"):
        render_seccomp({"architectures": ["x86-64"]})


@pytest.mark.parametrize("arch", PROFILE_ARCHES)
def test_no_dangerous_syscall_is_allowed_to_a_container_without_capabilities(arch: str) -> None:
    doc = profile()
    assert allowed_syscalls(doc, arch) & set(lists.DANGEROUS) == set()


def test_the_allow_list_holds_nothing_dangerous_and_nothing_docker_does_not_allow() -> None:
    assert set(lists.ALLOW) & set(lists.DANGEROUS) == set()
    assert set(lists.ALLOW) <= set(lists.DOCKER_UNCONDITIONAL)


def test_ptrace_stays_behind_cap_sys_ptrace_although_docker_allows_it_on_kernels_from_4_8() -> None:
    doc = profile()
    assert "ptrace" not in allowed_syscalls(doc, "x86_64") | arg_filtered_syscalls(doc, "x86_64")
    assert "ptrace" in allowed_syscalls(doc, "x86_64", frozenset({"CAP_SYS_PTRACE"}))


def test_personality_is_allowed_only_for_docker_s_persona_values() -> None:
    doc = profile()
    assert "personality" in arg_filtered_syscalls(doc)
    values = sorted(rule["args"][0]["value"] for rule in doc["syscalls"] if rule["names"] == ["personality"])
    assert values == sorted(lists.PERSONALITY_VALUES)


@pytest.mark.parametrize("arch", ALL_ARCHES)
def test_the_rendered_profile_is_no_less_strict_than_docker_s_default(arch: str) -> None:
    assert is_no_less_strict_than_docker_default(profile(architectures=[arch])) == []


def test_docker_s_own_default_passes_the_strictness_check() -> None:
    assert is_no_less_strict_than_docker_default(docker_default_profile()) == []


def test_the_strictness_check_names_what_a_loosened_profile_adds() -> None:
    doc = profile()
    doc["syscalls"][0]["names"] += ["bpf", "socket"]
    doc["syscalls"].append({"names": ["ptrace"], "action": "SCMP_ACT_ALLOW",
                            "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]})
    violations = is_no_less_strict_than_docker_default(doc)
    assert [line.split(":")[0] for line in violations] == ["bpf", "ptrace", "socket"]


def test_the_strictness_check_refuses_a_profile_that_allows_by_default() -> None:
    assert is_no_less_strict_than_docker_default({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []})


def test_the_strictness_check_counts_a_min_kernel_rule_as_allowing() -> None:
    doc = profile()
    doc["syscalls"].append({"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}})
    assert [line.split(":")[0] for line in is_no_less_strict_than_docker_default(doc)] == ["ptrace"]


def test_deny_removes_a_syscall_from_the_allow_list() -> None:
    before, after = profile(), profile(deny=["mknod", "mknodat"])
    assert {"mknod", "mknodat"} <= allowed_syscalls(before)
    assert allowed_syscalls(after) == allowed_syscalls(before) - {"mknod", "mknodat"}


def test_deny_removes_a_syscall_from_capability_rules_too() -> None:
    assert "mount" not in allowed_syscalls(profile(deny=["mount"]), caps=frozenset({"CAP_SYS_ADMIN"}))


def test_deny_of_clone3_keeps_the_enosys_answer_so_glibc_still_falls_back() -> None:
    rules = [rule for rule in profile(deny=["clone3"])["syscalls"] if rule["names"] == ["clone3"]]
    assert rules == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]


def test_an_unknown_deny_name_raises_value_error_mentioning_a_close_match() -> None:
    with pytest.raises(ValueError, match="'io_uring_setpu'.*'io_uring_setup'"):
        render_seccomp({"deny": ["io_uring_setpu"]})


def test_a_deny_that_is_not_a_list_of_strings_raises_value_error() -> None:
    with pytest.raises(ValueError, match="seccomp.deny"):
        render_seccomp({"deny": "mount"})


@pytest.mark.parametrize("caps", [frozenset(), EVERY_CAP])
def test_io_uring_is_not_allowed_whatever_the_capabilities(caps: frozenset[str]) -> None:
    doc = profile()
    for arch in PROFILE_ARCHES:
        reachable = allowed_syscalls(doc, arch, caps) | arg_filtered_syscalls(doc, arch, caps)
        assert reachable & set(lists.IO_URING) == set()
    assert "io_uring" not in render_seccomp({}).decode()


def test_mount_is_allowed_only_with_cap_sys_admin() -> None:
    doc = profile()
    assert "mount" not in allowed_syscalls(doc, "x86_64")
    assert "mount" not in allowed_syscalls(doc, "x86_64", EVERY_CAP - {"CAP_SYS_ADMIN"})
    assert "mount" in allowed_syscalls(doc, "x86_64", frozenset({"CAP_SYS_ADMIN"}))


def test_clone_is_arg_filtered_even_with_cap_sys_admin_and_clone3_answers_enosys() -> None:
    doc = profile()
    for caps in (frozenset(), frozenset({"CAP_SYS_ADMIN"})):
        assert "clone" in arg_filtered_syscalls(doc, "x86_64", caps)
        assert "clone" not in allowed_syscalls(doc, "x86_64", caps)
    [clone] = [rule for rule in doc["syscalls"] if rule["names"] == ["clone"]]
    assert clone["args"] == [{"index": 0, "value": lists.CLONE_NAMESPACE_FLAGS, "op": "SCMP_CMP_MASKED_EQ"}]
    assert "clone3" not in allowed_syscalls(doc, "x86_64", EVERY_CAP)


def test_the_syscalls_a_shell_needs_are_allowed_on_x86_64() -> None:
    doc = profile()
    shell = {"read", "write", "openat", "execve", "exit_group", "rt_sigaction", "mmap", "brk", "wait4",
             "getdents64", "fstat", "newfstatat", "arch_prctl"}
    assert shell <= allowed_syscalls(doc, "x86_64")
    assert "clone" in arg_filtered_syscalls(doc, "x86_64")


def test_per_architecture_allows_follow_the_architecture() -> None:
    doc = profile()
    assert "arch_prctl" not in allowed_syscalls(doc, "aarch64")
    assert {"set_tls", "cacheflush", "breakpoint"} <= allowed_syscalls(doc, "arm")
    assert "s390_runtime_instr" not in json.dumps(doc)
    assert "s390_runtime_instr" in allowed_syscalls(profile(architectures=["s390x"]), "s390x")
