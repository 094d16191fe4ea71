"""Section 5 (and 4.1) of `dockharden check` against real containers on a real dockerd 20.10: each bad
setting (privileged, the Docker socket mounted, seccomp and AppArmor unconfined, the host's network, PID,
IPC and UTS namespaces, no memory or PIDs limit, root) fails its control naming the container, a
container run well passes them all, and once the bad container is removed the control passes again."""

import json

# key -> the `docker run` options of a container that fails it (and only it, with the good options below)
GOOD_OPTIONS = ("--memory", "64m", "--pids-limit", "64", "--user", "1000", "--security-opt", "no-new-privileges")
BAD = {
    "container.privileged": ("--privileged",),
    "container.docker-socket": ("-v", "/var/run/docker.sock:/var/run/docker.sock"),
    "container.seccomp": ("--security-opt", "seccomp=unconfined"),
    "container.host-network": ("--network", "host"),
    "container.host-pid": ("--pid", "host"),
    "container.host-ipc": ("--ipc", "host"),
    "container.host-uts": ("--uts", "host"),
}
# (the option dropped from the good ones, the field the evidence names)
MISSING = {"container.memory": ("--memory", "HostConfig.Memory = 0 (no limit)"),
           "container.pids-limit": ("--pids-limit", "HostConfig.PidsLimit"),
           "container.root-user": ("--user", "Config.User = '' (root)"),
           "container.no-new-privileges": ("no-new-privileges", "HostConfig.SecurityOpt = no no-new-privileges")}
FIELD = {"container.privileged": "HostConfig.Privileged = true",
         "container.docker-socket": "Mounts[].Source = /var/run/docker.sock",
         "container.seccomp": "HostConfig.SecurityOpt = seccomp=unconfined",
         "container.host-network": "HostConfig.NetworkMode = host", "container.host-pid": "HostConfig.PidMode = host",
         "container.host-ipc": "HostConfig.IpcMode = host", "container.host-uts": "HostConfig.UTSMode = host"}
IDS = {"container.root-user": "4.1", "container.apparmor": "5.2", "container.privileged": "5.5",
       "container.host-network": "5.10", "container.memory": "5.11", "container.host-pid": "5.16",
       "container.host-ipc": "5.17", "container.host-uts": "5.21", "container.seccomp": "5.22",
       "container.no-new-privileges": "5.26", "container.pids-limit": "5.29", "container.docker-socket": "5.32"}


def section_5(host, version="1.8"):
    done = host.dockharden("check", "--json", "--benchmark", version, timeout=180)
    assert done.returncode in (0, 2), done.stdout[-2000:] + done.stderr
    return {c["key"]: c for c in json.loads(done.stdout)["controls"] if c["key"].startswith("container.")}


def without(options, dropped):
    """The good options without `dropped` (and its value)."""
    found, skip = [], False
    for index, option in enumerate(options):
        if skip:
            skip = False
            continue
        if option == dropped:
            skip = option.startswith("--")
            continue
        if option == "--security-opt" and options[index + 1] == dropped:
            skip = True
            continue
        found.append(option)
    return tuple(found)


def run(host, image, name, options):
    return host.docker("run", "-d", "--name", name, *options, image, "sleep", "600").stdout.strip()[:12]


def test_each_bad_setting_fails_its_control_naming_the_container_and_passes_once_it_is_removed(docker_host):
    host = docker_host
    image = host.import_busybox_image()
    nothing = section_5(host)
    assert {k: c["status"] for k, c in nothing.items() if k != "container.apparmor"} == \
        dict.fromkeys(set(IDS) - {"container.apparmor"}, "pass"), nothing
    assert nothing["container.privileged"]["evidence"] == "no running container"

    good = run(host, image, "good", GOOD_OPTIONS)
    clean = section_5(host)
    assert {k: c["status"] for k, c in clean.items() if k != "container.apparmor"} == \
        dict.fromkeys(set(IDS) - {"container.apparmor"}, "pass"), clean
    assert f"good ({good})" in clean["container.privileged"]["evidence"]
    assert {k: c["id"] for k, c in clean.items()} == IDS

    cases = {key: GOOD_OPTIONS + options for key, options in BAD.items()}
    cases.update({key: without(GOOD_OPTIONS, dropped) for key, (dropped, _) in MISSING.items()})
    for key, options in cases.items():
        name = "bad-" + key.split(".", 1)[1]
        short = run(host, image, name, options)
        before = section_5(host)
        failing = {k for k, c in before.items() if c["status"] == "fail"}
        assert failing == {key}, (key, options, {k: before[k]["evidence"] for k in failing})
        evidence = before[key]["evidence"]
        assert f"{name} ({short}) {FIELD.get(key) or MISSING[key][1]}" in evidence, evidence
        assert "good (" not in evidence and before[key]["fix"]
        host.docker("rm", "-f", name)
        after = section_5(host)
        assert after[key]["status"] == "pass" and name not in after[key]["evidence"], after[key]


def test_the_same_failure_has_each_versions_id_and_an_exception_by_key_excepts_it(docker_host):
    host = docker_host
    image = host.import_busybox_image()
    run(host, image, "priv", GOOD_OPTIONS + ("--privileged",))
    for version, expected in (("1.6", "5.5"), ("1.7", "5.5"), ("1.8", "5.5")):
        control = section_5(host, version)["container.privileged"]
        assert (control["id"], control["status"]) == (expected, "fail")
    exceptions = host.dir / "etc/dockharden/exceptions.toml"
    exceptions.parent.mkdir(parents=True, exist_ok=True)
    exceptions.write_text('[[exception]]\ncontrol = "container.privileged"\nreason = "CI runner"\n'
                          'owner = "ops"\nexpires = 2099-12-31\n')
    control = section_5(host)["container.privileged"]
    assert control["status"] == "excepted" and control["exception"]["reason"] == "CI runner"
    prom = host.dir / "check.prom"
    for fmt in ("sarif", "junit", "text"):
        done = host.dockharden("check", "--format", fmt, "--textfile", str(prom), timeout=180)
        assert done.returncode in (0, 2), done.stderr
        assert "container.privileged" in done.stdout if fmt == "sarif" else "5.5" in done.stdout, fmt
    assert 'dockharden_cis_control_failing{' in prom.read_text() and 'key="container.privileged"' in prom.read_text()


def test_apparmor_in_check_and_verify_says_what_the_kernel_has_and_names_an_unconfined_container_where_it_is_on(
        managed, record_property):
    host = managed.host
    image = host.import_busybox_image()
    kernel = host.run(["cat", "/sys/module/apparmor/parameters/enabled"], check=False).stdout.strip()
    record_property("kernel_branch", "apparmor on" if kernel == "Y" else f"apparmor off ({kernel or 'absent'})")
    done = host.docker("run", "-d", "--name", "aa", "--security-opt", "apparmor=unconfined", *GOOD_OPTIONS,
                       image, "sleep", "600", check=False)
    control = section_5(host)["container.apparmor"]
    verify = host.dockharden("verify", "--json", "--profile", "baseline", *managed.layers, timeout=180)
    rows = {row["check"]: row for row in json.loads(verify.stdout)["checks"]}
    assert "AppArmor" in rows, verify.stdout[-2000:] + verify.stderr
    if kernel != "Y":  # this machine's kernel: AppArmor off or absent, which check and verify say instead of passing
        assert control["status"] == "not_verifiable" and "the kernel has no AppArmor enabled" in control["evidence"]
        assert rows["AppArmor"]["status"] == "not_verifiable" and not rows["AppArmor"]["ok"]
        assert rows["AppArmor"]["detail"].startswith("not verifiable here: the kernel has no")
        return
    assert rows["AppArmor"]["status"] == "in_force" and "docker-default" in rows["AppArmor"]["detail"]
    assert done.returncode == 0, done.stderr
    assert control["status"] == "fail" and "aa (" in control["evidence"], control
    host.docker("rm", "-f", "aa")
    assert section_5(host)["container.apparmor"]["status"] == "pass"
