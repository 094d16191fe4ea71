"""The checks of sections 1 (host, audit), 2 (daemon) and 3 (files), one per stable key. Pure.

Written once: each benchmark version's table (benchmarks/) maps its IDs onto these keys. Daemon
settings are read from the effective configuration (daemon.json merged with the running dockerd's
flags) and from what `docker info` reports; audit controls from the rules loaded in the kernel; files
with "this mode or stricter" (the server key: exactly 0400). A missing target is not applicable.
"""

from __future__ import annotations

from dockharden.core.engine_gating import parse_version
from dockharden.inspect import engine_lines
from dockharden.inspect.results import FAIL, INFO, NA, PASS, UNVERIFIABLE, Check
from dockharden.model import Facts
from dockharden.targets.audit_rules import CIS_AUDIT_PATHS

AUDIT_FIX = "layer baseline ([audit]): dockharden apply loads the watch"
# Section 1.1's IDs are the same in every version: the audit target names its watches by them.
AUDIT_KEYS = {
    "1.1.3": "audit.dockerd", "1.1.4": "audit.run-containerd", "1.1.5": "audit.var-lib-docker",
    "1.1.6": "audit.etc-docker", "1.1.7": "audit.docker-service", "1.1.8": "audit.containerd-sock",
    "1.1.9": "audit.docker-socket", "1.1.10": "audit.etc-default-docker", "1.1.11": "audit.daemon-json",
    "1.1.12": "audit.containerd-config", "1.1.13": "audit.etc-sysconfig-docker", "1.1.14": "audit.containerd",
    "1.1.15": "audit.containerd-shim", "1.1.16": "audit.containerd-shim-runc-v1",
    "1.1.17": "audit.containerd-shim-runc-v2", "1.1.18": "audit.runc"}


def host_controls() -> list[Check]:
    return [Check("host.separate-partition", "mount the data root on a filesystem of its own", _separate_partition),
            Check("host.trusted-users", "remove untrusted users from the docker group", _docker_group),
            Check("host.hardened", "harden the host with its distribution's own benchmark", _hardened),
            Check("host.docker-up-to-date", "upgrade the Engine to the latest patch of a maintained line",
                  _up_to_date)]


def audit_controls() -> list[Check]:
    by_id: dict[str, list[tuple[str, ...]]] = {}
    always: dict[str, bool] = {}
    for control, paths, required in CIS_AUDIT_PATHS:
        by_id.setdefault(control, []).append(paths)
        always[control] = always.get(control, False) or (required and control in ("1.1.3", "1.1.4"))
    found = []
    for control, groups in by_id.items():
        candidates = tuple(p for group in groups for p in group)
        found.append(Check(AUDIT_KEYS[control], AUDIT_FIX,
                           _audit_check(candidates, always[control], containerd=control == "1.1.8")))
    return found


def _audit_check(candidates: tuple[str, ...], required: bool, containerd: bool = False):
    def check(facts: Facts) -> tuple[str, str]:
        paths = (facts.containerd_socket,) if containerd else candidates
        if facts.audit_unavailable:
            in_files = [p for p in paths if p in facts.audit_file_watches]
            return UNVERIFIABLE, (f"{facts.audit_unavailable}; the rules files watch "
                                  + (", ".join(in_files) if in_files else "none of " + ", ".join(paths))
                                  + " (loaded at boot on a host kernel)")
        if facts.audit_error:
            return FAIL, f"audit rules cannot be read: {facts.audit_error}"
        present = [p for p in paths if p in facts.existing]
        targets = present or (list(paths[:1]) if required else [])
        used = f" ({facts.containerd_found_by})" if containerd else ""
        if not targets:
            return NA, "not on this host: " + ", ".join(paths) + used
        watched = [p for p in targets if p in facts.audit_watched]
        if watched:
            return PASS, "loaded watch on " + ", ".join(watched) + used
        return FAIL, "no loaded audit rule watches " + ", ".join(targets) + used
    return check


def _separate_partition(facts: Facts) -> tuple[str, str]:
    if not facts.live:
        return UNVERIFIABLE, "a --root other than / is a tree, not the host's filesystems"
    if facts.data_root_separate is None:
        return NA, f"{facts.data_root} not found"
    if facts.data_root_separate:
        return PASS, f"{facts.data_root} is on a filesystem of its own" + (
            f" (mounted at {facts.data_root_mount})" if facts.data_root_mount else "")
    return FAIL, f"{facts.data_root} is on the same filesystem as its parent directory" + (
        f" (mounted at {facts.data_root_mount})" if facts.data_root_mount else "")


def _docker_group(facts: Facts) -> tuple[str, str]:
    members = ", ".join(facts.docker_group_members) or "no members"
    return INFO, f"docker group: {members} (each member is root-equivalent: a person decides who is trusted)"


def _hardened(facts: Facts) -> tuple[str, str]:
    return INFO, "the host operating system is outside this benchmark: assess it with its distribution's benchmark"


def _up_to_date(facts: Facts) -> tuple[str, str]:
    return engine_lines.verdict((facts.info or {}).get("ServerVersion"))


def _security(facts: Facts) -> set[str]:
    return set((facts.info or {}).get("SecurityOptions") or [])


def _engine(facts: Facts) -> tuple[int, int]:
    return parse_version((facts.info or {}).get("ServerVersion")) or (0, 0)


def _src(facts: Facts, key: str) -> str:
    return facts.config_sources.get(key, "not set")


def _setting(facts: Facts, key: str) -> str:
    value = facts.config.get(key)
    return f"{key} = {value!r} ({_src(facts, key)})" if key in facts.config else f"{key} not set"


def daemon_controls() -> list[Check]:
    return [
        Check("daemon.rootless", "layer rootless", _rootless),
        Check("daemon.icc", "layer baseline (icc false)", _icc),
        Check("daemon.log-level", "remove log-level, or set it to info", _log_level),
        Check("daemon.iptables", "remove iptables false", _iptables),
        Check("daemon.insecure-registries", "remove insecure-registries", _insecure),
        Check("daemon.no-aufs", "layer baseline (storage-driver overlay2)", _aufs),
        Check("daemon.no-devicemapper", "layer baseline (storage-driver overlay2)", _devicemapper),
        Check("daemon.tls", "layer tls (tlsverify)", _tls),
        Check("daemon.default-ulimits", "layer baseline (default-ulimits)", _ulimits),
        Check("daemon.userns", "layer userns", _userns),
        Check("daemon.cgroup-parent", "remove cgroup-parent", _cgroup_parent),
        Check("daemon.base-device-size", "remove the dm.basesize storage option", _basesize),
        Check("daemon.authorization", "configure an authorization plugin (no built-in layer)", _authz),
        Check("daemon.remote-logging", "layer logging (journald) or syslog", _logging),
        Check("daemon.no-new-privileges", "layer baseline (no-new-privileges)", _nnp),
        Check("daemon.live-restore", "layer baseline (live-restore)", _live_restore),
        Check("daemon.userland-proxy", "layer baseline (userland-proxy false)", _userland_proxy),
        Check("daemon.seccomp", "layer baseline [seccomp] mode = \"strict\"", _seccomp),
        Check("daemon.experimental", "remove experimental", _experimental),
    ]


def _rootless(facts: Facts) -> tuple[str, str]:
    if "name=rootless" in _security(facts):
        return PASS, "SecurityOptions has name=rootless: the daemon runs as a non-root user"
    if facts.info is None:
        return UNVERIFIABLE, "the daemon does not answer"
    return INFO, "the daemon runs as root (the benchmark asks for rootless only where possible: a person decides)"


def _icc(facts: Facts) -> tuple[str, str]:
    icc = facts.bridge_options.get("com.docker.network.bridge.enable_icc")
    if icc is None:
        ok = facts.config.get("icc") is False
        return (PASS if ok else FAIL), _setting(facts, "icc") + " (the daemon does not answer)"
    return (PASS if icc == "false" else FAIL), f"default bridge enable_icc = {icc}"


def _log_level(facts: Facts) -> tuple[str, str]:
    return (PASS if facts.config.get("log-level", "info") == "info" else FAIL), _setting(facts, "log-level")


def _iptables(facts: Facts) -> tuple[str, str]:
    return (FAIL if facts.config.get("iptables") is False else PASS), _setting(facts, "iptables")


def _insecure(facts: Facts) -> tuple[str, str]:
    registry = (facts.info or {}).get("RegistryConfig") or {}
    cidrs = [c for c in registry.get("InsecureRegistryCIDRs") or [] if c not in ("127.0.0.0/8", "::1/128")]
    named = facts.config.get("insecure-registries") or []
    insecure = sorted(set(cidrs) | set(named))
    return (FAIL if insecure else PASS), ("insecure: " + ", ".join(insecure)) if insecure else "none (loopback only)"


def _driver(facts: Facts, forbidden: str) -> tuple[str, str]:
    driver = (facts.info or {}).get("Driver") or facts.config.get("storage-driver")
    return (FAIL if driver == forbidden else PASS), f"storage driver {driver or 'unknown'}"


def _aufs(facts: Facts) -> tuple[str, str]:
    return _driver(facts, "aufs")


def _devicemapper(facts: Facts) -> tuple[str, str]:
    return _driver(facts, "devicemapper")


def _tls(facts: Facts) -> tuple[str, str]:
    tcp = [h for h in facts.config.get("hosts") or [] if str(h).startswith("tcp://")]
    if not tcp:
        return NA, "no TCP host is served"
    verify = facts.config.get("tlsverify") is True or (facts.config.get("tls") is True and
                                                        "tlsverify" not in facts.config)
    return (PASS if verify else FAIL), f"{', '.join(tcp)} with {_setting(facts, 'tlsverify')}"


def _ulimits(facts: Facts) -> tuple[str, str]:
    ulimits = facts.config.get("default-ulimits")
    return (PASS if ulimits else FAIL), (f"default-ulimits: {', '.join(sorted(ulimits))}" if ulimits
                                         else "default-ulimits not set")


def _userns(facts: Facts) -> tuple[str, str]:
    if facts.info is None:
        return (PASS if facts.config.get("userns-remap") else FAIL), _setting(facts, "userns-remap")
    on = "name=userns" in _security(facts)
    return (PASS if on else FAIL), ("SecurityOptions has name=userns" if on else "SecurityOptions lacks name=userns")


def _cgroup_parent(facts: Facts) -> tuple[str, str]:
    return (FAIL if facts.config.get("cgroup-parent") else PASS), _setting(facts, "cgroup-parent")


def _basesize(facts: Facts) -> tuple[str, str]:
    opts = [o for o in facts.config.get("storage-opts") or [] if str(o).startswith("dm.basesize")]
    return (FAIL if opts else PASS), ("storage-opts: " + ", ".join(opts)) if opts else "no dm.basesize"


def _authz(facts: Facts) -> tuple[str, str]:
    plugins = ((facts.info or {}).get("Plugins") or {}).get("Authorization") or \
        facts.config.get("authorization-plugins") or []
    return (PASS if plugins else FAIL), ("authorization plugins: " + ", ".join(plugins)) if plugins else \
        "no authorization plugin"


def _logging(facts: Facts) -> tuple[str, str]:
    driver = (facts.info or {}).get("LoggingDriver") or facts.config.get("log-driver", "json-file")
    return (FAIL if driver in ("json-file", "local", "none") else PASS), f"log driver {driver}"


def _nnp(facts: Facts) -> tuple[str, str]:
    if "name=no-new-privileges" in _security(facts):
        return PASS, "SecurityOptions has name=no-new-privileges"
    configured = facts.config.get("no-new-privileges") is True
    if _engine(facts) < (24, 0) or facts.info is None:
        note = " (Engine before 24.0 does not report it in SecurityOptions; `check --probe` shows NoNewPrivs)"
        return (PASS if configured else FAIL), _setting(facts, "no-new-privileges") + note
    return FAIL, "SecurityOptions lacks name=no-new-privileges"


def _live_restore(facts: Facts) -> tuple[str, str]:
    info = facts.info or {}
    if ((info.get("Swarm") or {}).get("LocalNodeState")) == "active":
        return NA, "swarm is active: live-restore is not required (they conflict)"
    on = info.get("LiveRestoreEnabled") if facts.info is not None else facts.config.get("live-restore") is True
    return (PASS if on else FAIL), f"LiveRestoreEnabled = {on}"


def _userland_proxy(facts: Facts) -> tuple[str, str]:
    off = facts.config.get("userland-proxy") is False
    return (PASS if off else FAIL), _setting(facts, "userland-proxy") + " (docker info does not show it)"


def _seccomp(facts: Facts) -> tuple[str, str]:
    profiles = [s.split("profile=", 1)[1] for s in _security(facts) if s.startswith("name=seccomp,profile=")]
    custom = [p for p in profiles if p not in ("builtin", "default", "unconfined")]
    if custom:
        return PASS, f"daemon-wide seccomp profile {custom[0]}"
    seen = f"seccomp profile {profiles[0]}" if profiles else _setting(facts, "seccomp-profile")
    return INFO, seen + " (Docker's default; a custom profile only where appropriate: a person decides)"


def _experimental(facts: Facts) -> tuple[str, str]:
    on = (facts.info or {}).get("ExperimentalBuild", facts.config.get("experimental", False))
    return (FAIL if on else PASS), f"experimental = {bool(on)}"


# -- section 3: ownership and permissions ------------------------------------------------------

FILE_SPECS = (  # (key stem, what, path or reference, widest mode, owner)
    ("docker-service", "docker.service", "unit:docker.service", 0o644, "root:root"),
    ("docker-socket-unit", "docker.socket", "unit:docker.socket", 0o644, "root:root"),
    ("etc-docker", "/etc/docker", "/etc/docker", 0o755, "root:root"),
    ("registry-certs", "registry certificates", "certs.d", 0o444, "root:any"),
    ("tls-ca", "TLS CA certificate", "tlscacert", 0o444, "root:root"),
    ("tls-cert", "Docker server certificate", "tlscert", 0o444, "root:root"),
    ("tls-key", "Docker server key", "tlskey", 0o400, "root:root"),
    ("docker-sock", "Docker socket", "/var/run/docker.sock", 0o660, "root:docker"),
    ("daemon-json", "daemon.json", "/etc/docker/daemon.json", 0o644, "root:root"),
    ("etc-default-docker", "/etc/default/docker", "/etc/default/docker", 0o644, "root:root"),
    ("etc-sysconfig-docker", "/etc/sysconfig/docker", "/etc/sysconfig/docker", 0o644, "root:root"),
    ("containerd-sock", "containerd socket", "containerd-socket", 0o660, "root:root"),
)
EXACT_MODE = ("tls-key",)  # the server key must be exactly 0400, not merely as strict


def file_controls() -> list[Check]:
    found = []
    for stem, _, ref, mode, owner in FILE_SPECS:
        who = owner.replace(":any", "")
        fix = "dockharden apply (it writes daemon.json 0644 root:root)" if stem == "daemon-json" else \
            f"chown {who} / chmod {mode:o} the file"
        found.append(Check(f"file.{stem}.owner", fix, _ownership(ref, owner)))
        found.append(Check(f"file.{stem}.mode", fix, _permissions(ref, mode, exact=stem in EXACT_MODE)))
    return found


def _targets(facts: Facts, ref: str) -> list:
    if ref in ("tlscacert", "tlscert", "tlskey"):
        path = facts.config.get(ref)
        return [facts.files[path]] if path and path in facts.files and facts.files[path].exists else []
    if ref == "containerd-socket":
        found = facts.files.get(facts.containerd_socket)
        return [found] if found and found.exists else []
    if ref.startswith("unit:") or ref == "certs.d":
        return [f for p, f in sorted(facts.files.items()) if f.exists and _matches(p, ref)]
    found = facts.files.get(ref)
    return [found] if found and found.exists else []


def _named(facts: Facts, ref: str) -> str:
    if ref == "containerd-socket":
        return f"{facts.containerd_socket} ({facts.containerd_found_by})"
    if ref in ("tlscacert", "tlscert", "tlskey"):
        return f"{ref} ({facts.config.get(ref) or 'not set'})"
    if ref.startswith("unit:"):
        return f"the {ref[5:]} unit file"
    if ref == "certs.d":
        return "a registry certificate (/etc/docker/certs.d/**/*.crt)"
    return ref


def _matches(path: str, ref: str) -> bool:
    if ref == "certs.d":
        return path.startswith("/etc/docker/certs.d/") and path.endswith(".crt")
    return path.endswith("/" + ref.split(":", 1)[1])


def _ownership(ref: str, owner: str):
    def check(facts: Facts) -> tuple[str, str]:
        files = _targets(facts, ref)
        if not files:
            return NA, f"{_named(facts, ref)} does not exist"
        want_group = {"root": 0, "docker": facts.docker_gid, "any": None}[owner.split(":")[1]]
        wrong = [f for f in files if f.uid != 0 or (want_group is not None and f.gid != want_group)]
        evidence = ", ".join(f"{f.path} {f.uid}:{f.gid}" for f in files)
        return (FAIL if wrong else PASS), evidence
    return check


def _permissions(ref: str, mode: int, exact: bool):
    def check(facts: Facts) -> tuple[str, str]:
        files = _targets(facts, ref)
        if not files:
            return NA, f"{_named(facts, ref)} does not exist"
        wrong = [f for f in files if (f.mode != mode if exact else f.mode & ~mode & 0o7777)]
        evidence = ", ".join(f"{f.path} {f.mode:04o}" for f in files)
        return (FAIL if wrong else PASS), evidence
    return check
