"""Target /etc/docker/seccomp/default.json: the seccomp profile, generated from our own lists.

Stage: targets, pure (no I/O; stdlib json and difflib, plus the data in ``seccomp_syscalls``).

``render_seccomp`` turns the merged ``[seccomp]`` table into the profile bytes, in the JSON format
dockerd reads (``defaultAction``/``archMap``/``syscalls`` with ``includes``/``excludes``). The
profile denies by default (EPERM) and allows what Docker's built-in default allows, minus the
deltas listed in ``seccomp_syscalls``, minus the operator's ``deny`` list. Same table, same bytes.

Strictness guarantee: for every architecture in the profile and every set of capabilities the
profile mentions, no syscall is allowed that Docker's default does not allow for the same
container. ``is_no_less_strict_than_docker_default`` checks that of any profile (a rendered one
before it is returned, a file on a host for ``dockharden check``); ``allowed_syscalls`` is the
evaluator under it, and reads conditions the most permissive way (kernel-version conditions are
taken to allow), so that a profile passes only if it is strict on every kernel.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from typing import Any

from dockharden.targets import seccomp_syscalls as lists

ALLOW_ACTIONS = frozenset({"SCMP_ACT_ALLOW", "SCMP_ACT_LOG"})
S390 = ("s390", "s390x")

Rule = dict[str, Any]


# --- rendering --------------------------------------------------------------------------------------

def render_seccomp(settings: dict) -> bytes:
    """The profile for the merged [seccomp] table, as stable JSON bytes. Raises ValueError."""
    deny = checked_deny(settings.get("deny") or [])
    arches = checked_architectures(settings.get("architectures") or list(lists.DEFAULT_ARCHITECTURES))
    # The profile is never looser than Docker's default by construction: our lists are checked against
    # it in tests/unit/test_seccomp_profile.py, and `deny` can only remove. Checking again here cost
    # more than the rest of a plan.
    return serialize(build_profile(deny, arches))


def serialize(profile: dict[str, Any]) -> bytes:
    """Stable bytes: 2-space indent, keys in insertion order, trailing newline."""
    return (json.dumps(profile, indent=2, allow_nan=False) + "\n").encode("utf-8")


def build_profile(deny: frozenset[str], arches: tuple[str, ...]) -> dict[str, Any]:
    """Our profile as a dict: the lists of seccomp_syscalls without `deny`, for `arches`."""
    go_arches = _go_arches(arches)
    rules = [_rule(lists.ALLOW, "SCMP_ACT_ALLOW")]
    rules += _socket_rules(lists.SOCKET_FAMILY_BELOW, lists.SOCKET_FAMILIES)
    rules += _personality_rules()
    rules += _clone_rules(exclude_caps=(), go_arches=go_arches)
    rules += _arch_rules(lists.ARCH_ALLOWS, go_arches)
    rules += _cap_rules(lists.CAP_ALLOWS)
    return _profile(_without(rules, deny), _arch_map(arches))


def docker_default_profile() -> dict[str, Any]:
    """Docker's default as the strictness reference: its rules, the minKernel one left out."""
    go_arches = frozenset(lists.GO_ARCH.values())
    rules = [_rule(lists.DOCKER_UNCONDITIONAL, "SCMP_ACT_ALLOW")]
    rules += _socket_rules(lists.SOCKET_FAMILY_BELOW, lists.SOCKET_FAMILIES)
    rules += _personality_rules()
    rules += _arch_rules(lists.DOCKER_ARCH_ALLOWS, go_arches)
    rules += _cap_rules(lists.DOCKER_CAP_ALLOWS)
    rules += _clone_rules(exclude_caps=("CAP_SYS_ADMIN",), go_arches=go_arches)
    return _profile(rules, _arch_map(tuple(name for name, _native, _subs in lists.ARCH_MAP)))


def _profile(rules: list[Rule], arch_map: list[dict[str, Any]]) -> dict[str, Any]:
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "archMap": arch_map,
            "syscalls": [rule for rule in rules if rule["names"]]}


def _rule(names: Iterable[str], action: str, *, args: list[dict[str, Any]] | None = None,
          errno: int | None = None, comment: str | None = None,
          includes: dict[str, Any] | None = None, excludes: dict[str, Any] | None = None) -> Rule:
    """One rule, keys in the order Docker writes them; empty parts left out."""
    rule: Rule = {"names": list(names), "action": action}
    optional = (("errnoRet", errno), ("args", args), ("comment", comment),
                ("includes", includes), ("excludes", excludes))
    rule.update((key, value) for key, value in optional if value is not None and value != {})
    return rule


def _arg(index: int, value: int, op: str) -> dict[str, Any]:
    return {"index": index, "value": value, "op": op}


def _socket_rules(below: int, families: tuple[int, ...]) -> list[Rule]:
    # One rule per family: seccomp ANDs the conditions inside a rule, and an allowlist needs OR.
    rules = [_rule(["socket"], "SCMP_ACT_ALLOW", args=[_arg(0, below, "SCMP_CMP_LT")])]
    rules += [_rule(["socket"], "SCMP_ACT_ALLOW", args=[_arg(0, family, "SCMP_CMP_EQ")])
              for family in families]
    return rules


def _personality_rules() -> list[Rule]:
    return [_rule(["personality"], "SCMP_ACT_ALLOW", args=[_arg(0, value, "SCMP_CMP_EQ")])
            for value in lists.PERSONALITY_VALUES]


def _clone_rules(exclude_caps: tuple[str, ...], go_arches: frozenset[str]) -> list[Rule]:
    """clone only without namespace flags (flags are arg 1 on s390), clone3 answered ENOSYS."""
    s390 = [arch for arch in S390 if arch in go_arches]
    caps = {"caps": list(exclude_caps)} if exclude_caps else {}
    masked = [_arg(0, lists.CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ")]
    rules = [_rule(["clone"], "SCMP_ACT_ALLOW", args=masked, excludes=caps | _arches(s390))]
    if s390:
        rules.append(_rule(["clone"], "SCMP_ACT_ALLOW",
                           args=[_arg(1, lists.CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ")],
                           comment="s390 parameter ordering for clone is different",
                           includes=_arches(s390), excludes=caps))
    rules.append(_rule(["clone3"], "SCMP_ACT_ERRNO", errno=lists.CLONE3_ERRNO, excludes=caps))
    return rules


def _arches(go_arches: list[str]) -> dict[str, Any]:
    return {"arches": go_arches} if go_arches else {}


def _arch_rules(table: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...],
                go_arches: frozenset[str]) -> list[Rule]:
    """Per-architecture allows, kept only for the architectures the profile is for."""
    rules = []
    for arches, names in table:
        wanted = [arch for arch in arches if arch in go_arches]
        if wanted:
            rules.append(_rule(names, "SCMP_ACT_ALLOW", includes=_arches(wanted)))
    return rules


def _cap_rules(table: tuple[tuple[str, tuple[str, ...]], ...]) -> list[Rule]:
    return [_rule(names, "SCMP_ACT_ALLOW", includes={"caps": [cap]}) for cap, names in table]


def _without(rules: list[Rule], deny: frozenset[str]) -> list[Rule]:
    """Denied names out of every allowing rule; ERRNO rules (clone3's ENOSYS) stay as they are."""
    if not deny:
        return rules
    kept = []
    for rule in rules:
        if rule["action"] in ALLOW_ACTIONS:
            rule = rule | {"names": [name for name in rule["names"] if name not in deny]}
        kept.append(rule)
    return kept


# --- settings ---------------------------------------------------------------------------------------

def known_syscalls() -> frozenset[str]:
    """Every syscall name the lists mention: what `deny` may name."""
    names = set(lists.DOCKER_UNCONDITIONAL) | set(lists.DANGEROUS) | set(lists.IO_URING)
    names |= {name for _arches, group in lists.DOCKER_ARCH_ALLOWS for name in group}
    names |= {name for _cap, group in lists.CAP_ALLOWS + lists.DOCKER_CAP_ALLOWS for name in group}
    names |= {"socket", "personality", "clone", "clone3", *lists.DOCKER_MIN_KERNEL_ONLY}
    return frozenset(names)


def checked_deny(deny: Any) -> frozenset[str]:
    """The names of `deny`, each a syscall the lists know; ValueError naming the first unknown one and the
    closest known names. The renderer's check, and core/values.py's for a layer's `seccomp.deny`."""
    names = _string_list(deny, "seccomp.deny")
    known = known_syscalls()
    for name in names:
        if name not in known:
            raise ValueError(f"seccomp.deny: unknown syscall {name!r}; {_suggestion(name, known)}")
    return frozenset(names)


def checked_architectures(arches: Any) -> tuple[str, ...]:
    """Our arch names, deduplicated, in archMap order; sub-architectures name their parent. ValueError
    for a name no spelling covers. The renderer's check, and core/values.py's for `seccomp.architectures`."""
    wanted = set()
    for name in _string_list(arches, "seccomp.architectures"):
        parent = _parent_arch(name)
        if parent is None:
            spellings = {our for our, _n, _s in lists.ARCH_MAP} | set(lists.ARCH_ALIASES) | _scmp_spellings()
            raise ValueError(f"seccomp.architectures: unknown architecture {name!r}; "
                             f"{_suggestion(name, frozenset(spellings))}")
        wanted.add(parent)
    return tuple(our for our, _native, _subs in lists.ARCH_MAP if our in wanted)


def _parent_arch(name: str) -> str | None:
    """The archMap entry (our name) that covers `name`, or None."""
    scmp = _scmp_arch(name)
    for our, native, _subs in lists.ARCH_MAP:
        if scmp == native:
            return our
    for our, _native, subs in lists.ARCH_MAP:
        if scmp in subs:
            return our
    return None


def _scmp_spellings() -> set[str]:
    return {scmp.removeprefix("SCMP_ARCH_").lower() for scmp in lists.GO_ARCH}


def _scmp_arch(name: str) -> str:
    """SCMP_ARCH_* for any spelling: SCMP name, our name, Go name or a common alias."""
    lowered = name.strip().lower()
    if lowered in lists.ARCH_ALIASES:
        return lists.ARCH_ALIASES[lowered]
    by_go = {go: scmp for scmp, go in lists.GO_ARCH.items()}
    if lowered in by_go and lowered not in _scmp_spellings():
        return by_go[lowered]
    return "SCMP_ARCH_" + lowered.removeprefix("scmp_arch_").upper()


def _string_list(value: Any, key: str) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{key} must be a list of strings")
    return list(value)


def _suggestion(name: str, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=3)
    if close:
        return "did you mean " + " or ".join(repr(match) for match in close) + "?"
    return "it is none of the names this profile knows"


def _arch_map(arches: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"architecture": native, "subArchitectures": list(subs) if subs else None}
            for our, native, subs in lists.ARCH_MAP if our in arches]


def _go_arches(arches: tuple[str, ...]) -> frozenset[str]:
    """The Go names (Docker's `arches` vocabulary) of the selected archMap entries and their subs."""
    scmps = [scmp for our, native, subs in lists.ARCH_MAP if our in arches for scmp in (native, *subs)]
    return frozenset(lists.GO_ARCH[scmp] for scmp in scmps)


# --- evaluation -------------------------------------------------------------------------------------

def allowed_syscalls(profile: dict, arch: str = "x86_64", caps: frozenset = frozenset()) -> set[str]:
    """Syscalls the profile allows whatever the arguments, for a container with `caps` on `arch`."""
    return {name for rule in _applicable(profile, arch, caps) if not rule.get("args")
            for name in _names(rule)}


def arg_filtered_syscalls(profile: dict, arch: str = "x86_64", caps: frozenset = frozenset()) -> set[str]:
    """Syscalls the profile allows only for some argument values (clone, personality, socket)."""
    filtered = {name for rule in _applicable(profile, arch, caps) if rule.get("args")
                for name in _names(rule)}
    return filtered - allowed_syscalls(profile, arch, caps)


def _applicable(profile: dict, arch: str, caps: frozenset) -> list[Rule]:
    if profile.get("defaultAction") in ALLOW_ACTIONS:
        raise ValueError(f"defaultAction {profile['defaultAction']} allows every syscall; "
                         "there is no list to give")
    go_arch = lists.GO_ARCH.get(_scmp_arch(arch), arch)
    return [rule for rule in profile.get("syscalls") or []
            if rule.get("action") in ALLOW_ACTIONS and _applies(rule, go_arch, frozenset(caps))]


def _applies(rule: Rule, go_arch: str, caps: frozenset[str]) -> bool:
    """Docker's includes/excludes; minKernel is ignored, which reads a rule as allowing."""
    includes, excludes = rule.get("includes") or {}, rule.get("excludes") or {}
    if includes.get("arches") and go_arch not in includes["arches"]:
        return False
    if not all(cap in caps for cap in includes.get("caps") or []):
        return False
    if go_arch in (excludes.get("arches") or []):
        return False
    return not any(cap in caps for cap in excludes.get("caps") or [])


def _names(rule: Rule) -> list[str]:
    return list(rule.get("names") or []) + ([rule["name"]] if rule.get("name") else [])


def is_no_less_strict_than_docker_default(profile: dict) -> list[str]:
    """What the profile allows that Docker's default does not, one line per syscall; [] is OK."""
    if profile.get("defaultAction") in ALLOW_ACTIONS:
        return [f"defaultAction {profile['defaultAction']} allows every syscall no rule names"]
    reference = docker_default_profile()
    found: dict[str, str] = {}
    for arch in _profile_arches(profile):
        for caps in _cap_sets(profile):
            for name in _extra(profile, reference, arch, caps):
                found.setdefault(name, f"{name}: allowed on {arch} with {_describe(caps)}, "
                                       "which Docker's default does not allow")
    return [found[name] for name in sorted(found)]


def _extra(profile: dict, reference: dict, arch: str, caps: frozenset[str]) -> set[str]:
    """Allowed outright where Docker filters or refuses, or allowed at all where Docker refuses."""
    ours, docker = allowed_syscalls(profile, arch, caps), allowed_syscalls(reference, arch, caps)
    ours_any = ours | arg_filtered_syscalls(profile, arch, caps)
    docker_any = docker | arg_filtered_syscalls(reference, arch, caps)
    return (ours - docker) | (ours_any - docker_any)


def _profile_arches(profile: dict) -> list[str]:
    """The profile's architectures (archMap entries, their subs, `architectures`), as x86_64 etc."""
    entries = profile.get("archMap") or []
    arches = [entry.get("architecture") for entry in entries]
    arches += [sub for entry in entries for sub in entry.get("subArchitectures") or []]
    arches += list(profile.get("architectures") or [])
    named = [arch.removeprefix("SCMP_ARCH_").lower() for arch in arches if isinstance(arch, str)]
    return list(dict.fromkeys(named)) or ["x86_64"]


def _cap_sets(profile: dict) -> list[frozenset[str]]:
    """No caps, each cap alone, and all of them: the sets where a rule can switch on or off."""
    caps = sorted({cap for rule in profile.get("syscalls") or []
                   for part in (rule.get("includes") or {}, rule.get("excludes") or {})
                   for cap in part.get("caps") or []})
    return [frozenset(), *(frozenset([cap]) for cap in caps), frozenset(caps)]


def _describe(caps: frozenset[str]) -> str:
    return "capabilities " + ", ".join(sorted(caps)) if caps else "no capabilities"
