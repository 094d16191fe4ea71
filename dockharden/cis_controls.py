"""The control definitions of sections 1.1 (audit), 2 (daemon) and 3 (files). Pure.

Daemon settings are read from the effective configuration (daemon.json merged with the running
dockerd's flags) and from what `docker info` reports; audit controls from the rules loaded in the
kernel; files with "this mode or stricter" (3.14: exactly 0400). A missing target is not applicable.
"""

from __future__ import annotations

from dockharden.cis import FAIL, INFO, NA, PASS, UNVERIFIABLE, Control, Facts
from dockharden.engine import parse_version
from dockharden.targets.audit_rules import CIS_AUDIT_PATHS

AUDIT_FIX = "layer baseline ([audit]): dockharden apply loads the watch"
TITLES_1_1 = {
    "1.1.3": "Audit the Docker daemon", "1.1.4": "Audit /run/containerd", "1.1.5": "Audit /var/lib/docker",
    "1.1.6": "Audit /etc/docker", "1.1.7": "Audit docker.service", "1.1.8": "Audit containerd.sock",
    "1.1.9": "Audit docker.socket", "1.1.10": "Audit /etc/default/docker", "1.1.11": "Audit daemon.json",
    "1.1.12": "Audit /etc/containerd/config.toml", "1.1.13": "Audit /etc/sysconfig/docker",
    "1.1.14": "Audit /usr/bin/containerd", "1.1.15": "Audit /usr/bin/containerd-shim",
    "1.1.16": "Audit /usr/bin/containerd-shim-runc-v1", "1.1.17": "Audit /usr/bin/containerd-shim-runc-v2",
    "1.1.18": "Audit /usr/bin/runc"}


def audit_controls() -> list[Control]:
    found = [Control("1.1.1", "Separate partition for containers", "mount the data root on its own filesystem",
                     _separate_partition, scored=False),
             Control("1.1.2", "Only trusted users in the docker group", "remove untrusted users from `docker`",
                     _docker_group, scored=False)]
    by_id: dict[str, list[tuple[str, ...]]] = {}
    always: dict[str, bool] = {}
    for control, paths, required in CIS_AUDIT_PATHS:
        by_id.setdefault(control, []).append(paths)
        always[control] = always.get(control, False) or (required and control in ("1.1.3", "1.1.4"))
    for control, groups in by_id.items():
        candidates = tuple(p for group in groups for p in group)
        found.append(Control(control, TITLES_1_1[control], AUDIT_FIX,
                             _audit_check(candidates, always[control])))
    return found


def _audit_check(candidates: tuple[str, ...], required: bool):
    def check(facts: Facts) -> tuple[str, str]:
        if facts.audit_unavailable:
            in_files = [p for p in candidates if p in facts.audit_file_watches]
            return UNVERIFIABLE, (f"{facts.audit_unavailable}; the rules files watch "
                                  + (", ".join(in_files) if in_files else "none of " + ", ".join(candidates))
                                  + " (loaded at boot on a host kernel)")
        if facts.audit_error:
            return FAIL, f"audit rules cannot be read: {facts.audit_error}"
        present = [p for p in candidates if p in facts.existing]
        targets = present or (list(candidates[:1]) if required else [])
        if not targets:
            return NA, "not on this host: " + ", ".join(candidates)
        watched = [p for p in targets if p in facts.audit_watched]
        if watched:
            return PASS, "loaded watch on " + ", ".join(watched)
        return FAIL, "no loaded audit rule watches " + ", ".join(targets)
    return check


def _separate_partition(facts: Facts) -> tuple[str, str]:
    if facts.data_root_separate is None:
        return INFO, f"{facts.data_root} not found"
    return INFO, f"{facts.data_root} is {'on its own filesystem' if facts.data_root_separate else 'on the root filesystem'}"


def _docker_group(facts: Facts) -> tuple[str, str]:
    members = ", ".join(facts.docker_group_members) or "no members"
    return INFO, f"docker group: {members} (each member is root-equivalent)"


def _security(facts: Facts) -> set[str]:
    return set((facts.info or {}).get("SecurityOptions") or [])


def _engine(facts: Facts) -> tuple[int, int]:
    return parse_version((facts.info or {}).get("ServerVersion")) or (0, 0)


def _src(facts: Facts, key: str) -> str:
    return facts.config_sources.get(key, "not set")


def _setting(facts: Facts, key: str) -> str:
    value = facts.config.get(key)
    return f"{key} = {value!r} ({_src(facts, key)})" if key in facts.config else f"{key} not set"


def daemon_controls() -> list[Control]:
    return [
        Control("2.1", "Run the daemon as a non-root user (rootless)", "layer rootless", _rootless, scored=False),
        Control("2.2", "Restrict traffic between containers on the default bridge", "layer baseline (icc false)", _icc),
        Control("2.3", "Logging level set to info", "remove log-level, or set it to info", _log_level),
        Control("2.4", "Allow Docker to make changes to iptables", "remove iptables false", _iptables),
        Control("2.5", "No insecure registries", "remove insecure-registries", _insecure),
        Control("2.6", "aufs storage driver not used", "layer baseline (storage-driver overlay2)", _aufs),
        Control("2.7", "TLS authentication for the Docker daemon", "layer tls (tlsverify)", _tls),
        Control("2.8", "Default ulimits configured", "layer baseline (default-ulimits)", _ulimits),
        Control("2.9", "User namespace support enabled", "layer userns", _userns),
        Control("2.10", "Default cgroup usage confirmed", "remove cgroup-parent", _cgroup_parent),
        Control("2.11", "Base device size not changed", "remove the dm.basesize storage option", _basesize),
        Control("2.12", "Authorization for Docker client commands enabled",
                "configure an authorization plugin (no built-in layer)", _authz),
        Control("2.13", "Centralized and remote logging configured", "layer logging (journald) or syslog", _logging),
        Control("2.14", "Containers restricted from acquiring new privileges", "layer baseline (no-new-privileges)",
                _nnp),
        Control("2.15", "Live restore enabled", "layer baseline (live-restore)", _live_restore),
        Control("2.16", "Userland proxy disabled", "layer baseline (userland-proxy false)", _userland_proxy),
        Control("2.17", "Daemon-wide custom seccomp profile applied, if appropriate",
                "layer baseline [seccomp] mode = \"strict\"", _seccomp, scored=False),
        Control("2.18", "Experimental features not used in production", "remove experimental", _experimental),
    ]


def _rootless(facts: Facts) -> tuple[str, str]:
    rootless = "name=rootless" in _security(facts)
    return INFO, "the daemon runs rootless" if rootless else "the daemon runs as root"


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


def _aufs(facts: Facts) -> tuple[str, str]:
    driver = (facts.info or {}).get("Driver") or facts.config.get("storage-driver")
    return (FAIL if driver == "aufs" else PASS), f"storage driver {driver or 'unknown'}"


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
    return INFO, (f"seccomp profile {profiles[0]}" if profiles else _setting(facts, "seccomp-profile"))


def _experimental(facts: Facts) -> tuple[str, str]:
    on = (facts.info or {}).get("ExperimentalBuild", facts.config.get("experimental", False))
    return (FAIL if on else PASS), f"experimental = {bool(on)}"


# -- section 3: ownership and permissions ------------------------------------------------------

def file_controls() -> list[Control]:
    specs = [("3.1", "3.2", "docker.service", "unit:docker.service", 0o644, "root:root"),
             ("3.3", "3.4", "docker.socket", "unit:docker.socket", 0o644, "root:root"),
             ("3.5", "3.6", "/etc/docker", "/etc/docker", 0o755, "root:root"),
             ("3.7", "3.8", "registry certificates", "certs.d", 0o444, "root:any"),
             ("3.9", "3.10", "TLS CA certificate", "tlscacert", 0o444, "root:root"),
             ("3.11", "3.12", "Docker server certificate", "tlscert", 0o444, "root:root"),
             ("3.13", "3.14", "Docker server key", "tlskey", 0o400, "root:root"),
             ("3.15", "3.16", "Docker socket", "/var/run/docker.sock", 0o660, "root:docker"),
             ("3.17", "3.18", "daemon.json", "/etc/docker/daemon.json", 0o644, "root:root"),
             ("3.19", "3.20", "/etc/default/docker", "/etc/default/docker", 0o644, "root:root"),
             ("3.21", "3.22", "/etc/sysconfig/docker", "/etc/sysconfig/docker", 0o644, "root:root"),
             ("3.23", "3.24", "containerd socket", "/run/containerd/containerd.sock", 0o660, "root:root")]
    found = []
    for own_id, mode_id, title, ref, mode, owner in specs:
        fix = "dockharden apply (it writes daemon.json 0644 root:root)" if ref.endswith("daemon.json") else \
            f"chown {owner.replace(':any', '')} / chmod {mode:o} the file"
        found.append(Control(own_id, f"{title} ownership is {owner.replace(':any', '')}", fix,
                             _ownership(ref, owner)))
        found.append(Control(mode_id, f"{title} permissions are {mode:o}" + ("" if mode_id == "3.14" else
                                                                             " or more restrictive"), fix,
                             _permissions(ref, mode, exact=mode_id == "3.14")))
    return found


def _targets(facts: Facts, ref: str) -> list:
    if ref in ("tlscacert", "tlscert", "tlskey"):
        path = facts.config.get(ref)
        return [facts.files[path]] if path and path in facts.files and facts.files[path].exists else []
    if ref.startswith("unit:") or ref == "certs.d":
        return [f for p, f in sorted(facts.files.items()) if f.exists and _matches(p, ref)]
    found = facts.files.get(ref)
    return [found] if found and found.exists else []


def _matches(path: str, ref: str) -> bool:
    if ref == "certs.d":
        return path.startswith("/etc/docker/certs.d/") and path.endswith(".crt")
    return path.endswith("/" + ref.split(":", 1)[1])


def _ownership(ref: str, owner: str):
    def check(facts: Facts) -> tuple[str, str]:
        files = _targets(facts, ref)
        if not files:
            return NA, f"{ref} does not exist"
        want_group = {"root": 0, "docker": facts.docker_gid, "any": None}[owner.split(":")[1]]
        wrong = [f for f in files if f.uid != 0 or (want_group is not None and f.gid != want_group)]
        evidence = ", ".join(f"{f.path} {f.uid}:{f.gid}" for f in files)
        return (FAIL if wrong else PASS), evidence
    return check


def _permissions(ref: str, mode: int, exact: bool):
    def check(facts: Facts) -> tuple[str, str]:
        files = _targets(facts, ref)
        if not files:
            return NA, f"{ref} does not exist"
        wrong = [f for f in files if (f.mode != mode if exact else f.mode & ~mode & 0o7777)]
        evidence = ", ".join(f"{f.path} {f.mode:04o}" for f in files)
        return (FAIL if wrong else PASS), evidence
    return check
