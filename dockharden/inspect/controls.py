"""The checks of sections 1 (host, audit), 2 (daemon), 3 (files) and 5 (running containers, with 4.1), one per
stable key. Pure.

Written once: each benchmark version's table (benchmarks/) maps its IDs onto these keys. Daemon
settings are read from the effective configuration (daemon.json merged with the running dockerd's
flags) and from what `docker info` reports; audit controls from the rules loaded in the kernel; files
with "this mode or stricter" (the server key: exactly 0400). A missing target is not applicable.
"""

from __future__ import annotations

import json

from dockharden.core.engine_gating import parse_version
from dockharden.host.check_values import APPARMOR_ENABLED, Facts
from dockharden.inspect import engine_lines
from dockharden.inspect.results import FAIL, INFO, NA, PASS, UNVERIFIABLE, Check
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
    return f"{key} = {json.dumps(value)} ({_src(facts, key)})" if key in facts.config else f"{key} not set"


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


def _configured_only(facts: Facts, key: str, configured: bool, unseen: str) -> tuple[str, str]:
    """A control the running daemon must show, where it cannot: a configuration that asks for the setting is
    not verifiable (never a pass on the file's word); one that does not ask for it fails."""
    return (UNVERIFIABLE if configured else FAIL), f"{_setting(facts, key)}; {unseen}"


def _icc(facts: Facts) -> tuple[str, str]:
    icc = facts.bridge_options.get("com.docker.network.bridge.enable_icc")
    if icc is None:
        return _configured_only(facts, "icc", facts.config.get("icc") is False,
                                "the daemon does not answer: the default bridge's enable_icc cannot be read")
    if icc == "false":
        return PASS, "default bridge enable_icc = false"
    evidence = f"default bridge enable_icc = {icc}"
    if facts.config.get("iptables") is False:  # baseline leaves icc out here: dockerd would not start (core/strength.py)
        evidence += f"; {_setting(facts, 'iptables')}: icc false needs iptables, so baseline leaves icc out until it is on"
    return FAIL, evidence


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
        return _configured_only(facts, "userns-remap", bool(facts.config.get("userns-remap")),
                                "the daemon does not answer: SecurityOptions cannot be read")
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
    """A remote driver, or journald (the host's journal, which forwards), passes; log files on the host fail."""
    from dockharden.core.log_drivers import logging_kind

    driver = (facts.info or {}).get("LoggingDriver") or facts.config.get("log-driver", "json-file")
    seen = "in use" if (facts.info or {}).get("LoggingDriver") else f"configured ({_src(facts, 'log-driver')})"
    kind = logging_kind(driver)
    if kind == "remote":
        return PASS, f"log driver {driver} {seen}: a remote driver, logs leave the host"
    if kind == "journald":
        return PASS, f"log driver journald {seen}: logs go to the host's journal, which can forward them"
    if kind == "plugin":
        return INFO, f"log driver {driver} {seen}: a plugin; whether it logs remotely is for a person to decide"
    return FAIL, f"log driver {driver} {seen}: logs stay in files on this host (set log-driver to a remote " \
                 "driver or journald)"


def _nnp(facts: Facts) -> tuple[str, str]:
    if "name=no-new-privileges" in _security(facts):
        return PASS, "SecurityOptions has name=no-new-privileges"
    if facts.info is None:
        return _configured_only(facts, "no-new-privileges", facts.config.get("no-new-privileges") is True,
                                "the daemon does not answer: SecurityOptions cannot be read")
    if _engine(facts) < (24, 0):
        return _configured_only(facts, "no-new-privileges", facts.config.get("no-new-privileges") is True,
                                "Engine before 24.0 does not report it in SecurityOptions; `check --probe` "
                                "shows NoNewPrivs")
    return FAIL, "SecurityOptions lacks name=no-new-privileges"


def _live_restore(facts: Facts) -> tuple[str, str]:
    info = facts.info or {}
    if ((info.get("Swarm") or {}).get("LocalNodeState")) == "active":
        return NA, "swarm is active: live-restore is not required (they conflict)"
    if facts.info is None:
        return _configured_only(facts, "live-restore", facts.config.get("live-restore") is True,
                                "the daemon does not answer: LiveRestoreEnabled cannot be read")
    on = info.get("LiveRestoreEnabled")
    return (PASS if on else FAIL), f"LiveRestoreEnabled = {json.dumps(on)}"


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
    return (FAIL if on else PASS), f"experimental = {json.dumps(bool(on))}"


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


# -- section 5 (and 4.1): the running containers, as `docker inspect` shows them ----------------------

NOTHING_RUNS = "no running container"
SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")


def container_controls() -> list[Check]:
    return [
        Check("container.apparmor", "keep AppArmor on in the kernel and run no container with "
              "--security-opt apparmor=unconfined (Docker applies docker-default)", _apparmor),
        Check("container.privileged", "run the listed containers without --privileged", _privileged),
        Check("container.host-network", "run the listed containers without --network host", _host_network),
        Check("container.memory", "run the listed containers with --memory", _memory),
        Check("container.host-pid", "run the listed containers without --pid host", _host_pid),
        Check("container.host-ipc", "run the listed containers without --ipc host", _host_ipc),
        Check("container.host-uts", "run the listed containers without --uts host", _host_uts),
        Check("container.seccomp", "run the listed containers without --security-opt seccomp=unconfined",
              _seccomp_unconfined),
        Check("container.no-new-privileges", "layer baseline (no-new-privileges), or run the listed containers "
              "with --security-opt no-new-privileges", _container_nnp),
        Check("container.pids-limit", "run the listed containers with --pids-limit", _pids_limit),
        Check("container.docker-socket", "run the listed containers without a mount of the Docker socket",
              _socket_mounted),
        Check("container.root-user", "layer userns, or run the listed containers with --user (a non-root uid)",
              _root_user),
    ]


def apparmor_state(kernel: str, security_options, live: bool = True) -> tuple[str, str]:
    """Whether the kernel has AppArmor and the daemon applies docker-default: (status, evidence).

    `kernel` is what /sys/module/apparmor/parameters/enabled holds ('' when the file is absent)."""
    if not live:
        return UNVERIFIABLE, "a --root other than / is a tree, not the running kernel"
    if kernel.strip() != "Y":
        said = f"= {json.dumps(kernel.strip())}" if kernel.strip() else "is absent"
        return UNVERIFIABLE, (f"the kernel has no AppArmor enabled ({APPARMOR_ENABLED} {said}): "
                              "containers run without an AppArmor profile")
    if security_options is None:
        return UNVERIFIABLE, "AppArmor is enabled in the kernel; the daemon does not answer"
    if "name=apparmor" in set(security_options):
        return PASS, "AppArmor is enabled in the kernel; the daemon applies docker-default (SecurityOptions has name=apparmor)"
    return FAIL, "AppArmor is enabled in the kernel, but SecurityOptions lacks name=apparmor: the daemon applies no profile"


def _running(facts: Facts, field: str, bad, clean: str) -> tuple[str, str]:
    """FAIL listing each running container whose `field` (as inspect names it) is bad, with its value;
    PASS saying how many run and `clean` (what none of them has)."""
    if facts.containers is None:
        return UNVERIFIABLE, "the daemon does not answer: its containers cannot be listed"
    if not facts.containers:
        return PASS, NOTHING_RUNS
    found = [(c, bad(c)) for c in facts.containers]
    wrong = [f"{c.named} {field} = {value}" for c, value in found if value is not None]
    if wrong:
        return FAIL, "; ".join(wrong)
    names = ", ".join(c.named for c in facts.containers)
    return PASS, f"{len(facts.containers)} running container(s) ({names}): {clean}"


def _mode_host(attribute: str):
    return lambda c: "host" if getattr(c, attribute) == "host" else None


def _privileged(facts: Facts) -> tuple[str, str]:
    return _running(facts, "HostConfig.Privileged", lambda c: "true" if c.privileged else None,
                    "none has HostConfig.Privileged = true")


def _host_network(facts: Facts) -> tuple[str, str]:
    return _running(facts, "HostConfig.NetworkMode", _mode_host("network_mode"), "none has HostConfig.NetworkMode = host")


def _host_pid(facts: Facts) -> tuple[str, str]:
    return _running(facts, "HostConfig.PidMode", _mode_host("pid_mode"), "none has HostConfig.PidMode = host")


def _host_ipc(facts: Facts) -> tuple[str, str]:
    return _running(facts, "HostConfig.IpcMode", _mode_host("ipc_mode"), "none has HostConfig.IpcMode = host")


def _host_uts(facts: Facts) -> tuple[str, str]:
    return _running(facts, "HostConfig.UTSMode", _mode_host("uts_mode"), "none has HostConfig.UTSMode = host")


def _memory(facts: Facts) -> tuple[str, str]:
    return _running(facts, "HostConfig.Memory", lambda c: "0 (no limit)" if not c.memory else None,
                    "each has a HostConfig.Memory limit")


def _pids_limit(facts: Facts) -> tuple[str, str]:
    return _running(facts, "HostConfig.PidsLimit",
                    lambda c: f"{c.pids_limit if c.pids_limit is not None else 'null'} (no limit)"
                    if c.pids_limit is None or c.pids_limit <= 0 else None,
                    "each has a HostConfig.PidsLimit above 0")


def _opt(container, name: str) -> str | None:
    """The value a container's SecurityOpt gives `name` (`name=v`, `name:v`; a bare `name` is "true")."""
    for opt in container.security_opt:
        key, sep, value = opt.replace(":", "=", 1).partition("=")
        if key == name:
            return value if sep else "true"
    return None


def _seccomp_unconfined(facts: Facts) -> tuple[str, str]:
    return _running(facts, "HostConfig.SecurityOpt",
                    lambda c: "seccomp=unconfined" if _opt(c, "seccomp") == "unconfined" else None,
                    "none has seccomp=unconfined in HostConfig.SecurityOpt")


def _apparmor(facts: Facts) -> tuple[str, str]:
    status, evidence = apparmor_state(facts.apparmor_kernel, _security(facts) if facts.info is not None else None,
                                      facts.live)
    if status == UNVERIFIABLE or facts.containers is None:
        return status, evidence
    running, seen = _running(facts, "AppArmorProfile", lambda c: c.apparmor_profile
                             if c.apparmor_profile == "unconfined" or _opt(c, "apparmor") == "unconfined" else None,
                             "none has AppArmorProfile = unconfined")
    if running == FAIL:
        return FAIL, f"{evidence}; unconfined: {seen}"
    return status, f"{evidence}; {seen}"


def _nnp_daemon_wide(facts: Facts) -> str:
    """How the daemon-wide setting is known: reported by the daemon, or (where an Engine before 24.0 does not
    report it) configured only; "" when it is not set daemon-wide."""
    if "name=no-new-privileges" in _security(facts):
        return "SecurityOptions has name=no-new-privileges"
    if facts.config.get("no-new-privileges") is True and (_engine(facts) < (24, 0) or facts.info is None):
        return _setting(facts, "no-new-privileges")
    return ""


def _container_nnp(facts: Facts) -> tuple[str, str]:
    daemon_wide = _nnp_daemon_wide(facts)
    relying: list[str] = []

    def bad(c) -> str | None:
        value = _opt(c, "no-new-privileges")
        if value is not None:
            return None if value.lower() == "true" else f"no-new-privileges={value}"
        relying.append(c.named)
        return None if daemon_wide else "no no-new-privileges"
    status, evidence = _running(facts, "HostConfig.SecurityOpt", bad,
                                "none runs without no-new-privileges")
    evidence = (f"daemon-wide: {daemon_wide}; " if daemon_wide else "not set daemon-wide; ") + evidence
    if status == PASS and relying and not daemon_wide.startswith("SecurityOptions"):
        return UNVERIFIABLE, (f"{evidence}; {', '.join(relying)} rely on the configured daemon-wide setting, "
                              "which this Engine does not report (`check --probe` shows NoNewPrivs)")
    return status, evidence


def _socket_mounted(facts: Facts) -> tuple[str, str]:
    def bad(c) -> str | None:
        found = [s for s in c.mount_sources if s in SOCKETS or s.rstrip("/").endswith("/docker.sock")]
        return ", ".join(found) or None
    return _running(facts, "Mounts[].Source", bad, "none mounts the Docker socket")


def _remapped(facts: Facts) -> bool:
    """Root in a container is not root on the host: userns-remap, or a rootless daemon."""
    if facts.info is not None:
        return bool({"name=userns", "name=rootless"} & _security(facts))
    return bool(facts.config.get("userns-remap"))


def _root_user(facts: Facts) -> tuple[str, str]:
    remapped = _remapped(facts)

    def bad(c) -> str | None:
        user = c.user.split(":", 1)[0]
        if user not in ("", "0", "root"):
            return None
        if remapped and c.userns_mode != "host":
            return None
        return (repr(c.user) if c.user else "'' (root)") + (" with HostConfig.UsernsMode = host" if remapped else "")
    status, evidence = _running(facts, "Config.User", bad, "none runs as root on the host")
    how = "rootless daemon" if "name=rootless" in _security(facts) else "userns-remap on"
    return status, (f"{how} (root in a container is an unprivileged host uid); " if remapped
                    else "no userns-remap; ") + evidence
