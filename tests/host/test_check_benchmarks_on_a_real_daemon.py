"""Every control of sections 1-3 of CIS Docker Benchmark v1.6.0, v1.7.0 and v1.8.0, on a real dockerd
20.10, before and after `apply --profile baseline,userns,tls`: the version's IDs and titles, and the
result the live host gives. Audit rules are machine-wide (other hosts' tests may load watches on the
same paths at the same time), so before apply an audit control may pass or fail; after apply every
watch dockharden loads passes."""

import json

from dockharden.inspect.benchmarks import VERSIONS, benchmark

# The result by stable key (so one table serves all three versions); a set where the machine decides.
ANY_AUDIT = {"pass", "fail", "not_applicable"}
BEFORE = {
    "host.separate-partition": {"pass", "fail"}, "host.trusted-users": {"info"}, "host.hardened": {"info"},
    "host.docker-up-to-date": {"fail"},
    "daemon.rootless": {"info"}, "daemon.icc": {"fail"}, "daemon.log-level": {"pass"}, "daemon.iptables": {"pass"},
    "daemon.insecure-registries": {"pass"}, "daemon.no-aufs": {"pass"}, "daemon.no-devicemapper": {"pass"},
    "daemon.tls": {"not_applicable"}, "daemon.default-ulimits": {"fail"}, "daemon.userns": {"fail"},
    "daemon.cgroup-parent": {"pass"}, "daemon.base-device-size": {"pass"}, "daemon.authorization": {"fail"},
    "daemon.remote-logging": {"fail"}, "daemon.no-new-privileges": {"fail"}, "daemon.live-restore": {"fail"},
    "daemon.userland-proxy": {"fail"}, "daemon.seccomp": {"info"}, "daemon.experimental": {"pass"},
    "file.etc-docker.owner": {"pass"}, "file.etc-docker.mode": {"pass"},
    "file.daemon-json.owner": {"pass"}, "file.daemon-json.mode": {"pass"},
    "file.docker-sock.owner": {"pass"}, "file.docker-sock.mode": {"pass"},
    "file.containerd-sock.owner": {"pass"}, "file.containerd-sock.mode": {"pass"},
    **{f"file.{stem}.{kind}": {"not_applicable"} for stem in ("tls-ca", "tls-cert", "tls-key", "registry-certs",
                                                              "etc-sysconfig-docker") for kind in ("owner", "mode")},
}
AFTER = {
    **BEFORE, "daemon.icc": {"pass"}, "daemon.tls": {"pass"}, "daemon.default-ulimits": {"pass"},
    # Engine 20.10 does not report no-new-privileges: configured is not_verifiable (check --probe settles it)
    "daemon.userns": {"pass"}, "daemon.no-new-privileges": {"not_verifiable"}, "daemon.live-restore": {"pass"},
    "daemon.userland-proxy": {"pass"}, "daemon.seccomp": {"info", "pass"},
    **{f"file.{stem}.{kind}": {"pass"} for stem in ("tls-ca", "tls-cert", "tls-key") for kind in ("owner", "mode")},
}
# What dockharden's audit layer watches on this host once applied (the paths that exist here).
WATCHED_AFTER = {"audit.dockerd", "audit.run-containerd", "audit.etc-docker", "audit.daemon-json",
                 "audit.containerd-sock", "audit.var-lib-docker"}


def check(host, version):
    done = host.dockharden("check", "--format", "json", "--benchmark", version, timeout=180)
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr  # 1.2.2: Engine 20.10 is end of life
    return json.loads(done.stdout)


def assert_results(doc, version, expected, audit):
    table = benchmark(version)
    assert [(c["id"], c["title"], c["level"], c["assessment"]) for c in doc["controls"]] == \
        [(r.id, r.title, r.level, r.assessment) for r in table.rows]
    wrong = []
    for control in doc["controls"]:
        key, status = control["key"], control["status"]
        allowed = expected.get(key) or (audit(key) if key.startswith("audit.") else None)
        if allowed is not None and status not in allowed:
            wrong.append(f"{version} {control['id']} {key}: {status} ({control['evidence']}), expected {sorted(allowed)}")
        assert control["evidence"], control
    assert not wrong, "\n".join(wrong)


def test_every_control_of_each_version_before_and_after_apply_of_the_full_stack(managed):
    for version in VERSIONS:
        assert_results(check(managed.host, version), version, BEFORE, lambda key: ANY_AUDIT)
    done = managed.apply("--profile", "baseline,userns,tls", *managed.layers)
    assert done.returncode == 0, done.stdout + done.stderr
    for version in VERSIONS:
        doc = check(managed.host, version)
        assert_results(doc, version, AFTER, lambda key: {"pass"} if key in WATCHED_AFTER else ANY_AUDIT)
        counted = {c["key"] for c in doc["controls"] if c["counted"]}
        assert counted <= {"host.docker-up-to-date", "daemon.authorization", "daemon.remote-logging",
                           "host.separate-partition"} | {k for k in counted if k.startswith("audit.")}, counted
    by_key = {c["key"]: c for c in doc["controls"]}
    assert by_key["audit.containerd-sock"]["evidence"] == \
        "loaded watch on /run/docker/containerd/containerd.sock (dockerd's own containerd)"
    assert by_key["file.containerd-sock.mode"]["evidence"].startswith("/run/docker/containerd/containerd.sock ")
    assert "line 20.10 is end of life" in by_key["host.docker-up-to-date"]["evidence"]
