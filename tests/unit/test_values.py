"""Every value a layer, a flag or dockharden.toml gives is checked against what it means, at the root.

Table-driven hostile values for each check of dockharden.values (and of the schema shapes in front of
it), then properties on generated values: what a check accepts is what the firewall, the certificate
or the daemon will use, and on any text a check raises nothing but its own Invalid.
"""

import ipaddress
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from dockharden import api
from dockharden.core import values
from dockharden.core.merge import merge_layers
from dockharden.core.selection import choose_selection, parse_config, split_profiles
from dockharden.errors import DockhardenError, LayerError, SchemaError
from dockharden.host.inputs import load_layer_file
from dockharden.host.runner import Runner
from dockharden.targets.ufw_block import block_v4

PURE = settings(max_examples=300, deadline=None)


class NoTools(Runner):
    def which(self, program):
        return None


def layer(tmp_path, text, name="mine.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# --- one check, hostile values ------------------------------------------------------------------------

REFUSED = [
    (values.port_spec, "70000/tcp", "outside 1-65535"),
    (values.port_spec, "65536", "would take it as port 0"),
    (values.port_spec, "0", "outside 1-65535"),
    (values.port_spec, "90:80/tcp", "did you mean `80:90/tcp`"),
    (values.port_spec, "80:0", "outside"),
    (values.port_spec, "443/sctp", "tcp or udp"),
    (values.port_spec, "443/", "not a port"),
    (values.port_spec, ":443", "not a port"),
    (values.port_spec, "", "not a port"),
    (lambda t: values.network(t, 4), "10.0.0.1/8", "did you mean the network `10.0.0.0/8`"),
    (lambda t: values.network(t, 4), "10.0.0.300/8", "not a network"),
    (lambda t: values.network(t, 4), "10.0.0.0/33", "not a network"),
    (lambda t: values.network(t, 4), "fd00::/64", "*_v6"),
    (lambda t: values.network(t, 6), "10.0.0.0/8", "without _v6"),
    (lambda t: values.network(t, 6), "fe80::%eth0/64", "not a network"),
    (lambda t: values.network(t, 4), "", "not a network"),
    (values.ip_address, "10.0.0.256", "not an IPv4 or IPv6 address"),
    (values.ip_address, "docker.example.net", "tls.dns_names"),
    (values.ip_address, "167772165", "not an IPv4"),
    (values.dns_name, "10.0.0.5", "tls.ip_addresses"),
    (values.dns_name, "-bad.example", "not a DNS name"),
    (values.dns_name, "bad-.example", "not a DNS name"),
    (values.dns_name, "a..example", "not a DNS name"),
    (values.dns_name, "a" * 64 + ".example", "63 characters"),
    (values.dns_name, ".".join(["a" * 60] * 5), "253 in all"),
    (values.dns_name, "under_score.example", "not a DNS name"),
    (values.dns_name, "host.123", "all digits"),
    (values.dns_name, "", "not a DNS name"),
    (values.dns_name, "*", "not a DNS name"),
    (values.tcp_address, "tcp://0.0.0.0", "not a TCP address"),
    (values.tcp_address, "tcp://0.0.0.0:0", "outside 1-65535"),
    (values.tcp_address, "tcp://0.0.0.0:70000", "outside 1-65535"),
    (values.tcp_address, "tcp://[10.0.0.1]:2376", "not an IPv6 address"),
    (values.tcp_address, "tcp://::1:2376", "not a TCP address"),
    (values.tcp_address, "tcp://bad_host:2376", "neither an IPv4 address nor a host name"),
    (values.tcp_address, "unix:///var/run/docker.sock", "not a TCP address"),
    (values.audit_permissions, "", "audit permission set"),
    (values.audit_permissions, "rr", "each once"),
    (values.audit_permissions, "rwxq", "audit permission set"),
    (values.user_name, "-rf", "not a user name"),
    (values.user_name, "1000", "not a user name"),
    (values.user_name, "a" * 33, "32 characters"),
    (values.user_name, "ci@host", "not a user name"),
    (values.user_name, "", "not a user name"),
    (values.user_and_group, "remap:", "not a user name"),
    (values.user_and_group, "root:root", "not an unprivileged user"),
    (values.unprivileged_user, "root", "not an unprivileged user"),
    (lambda t: values.network(t, 4), "0.0.0.0/0", "every address"),
    (lambda t: values.network(t, 6), "::/0", "every address"),
    (values.audit_path, "/srv/a b", "without spaces"),
    (values.audit_path, "/srv/a\n-D", "control characters"),
    (values.audit_path, "srv/app", "absolute path"),
    (values.user_and_group, "a:b:c", "not a user name"),
    (values.engine_version, "banana", "not an engine version"),
    (values.engine_version, "24", "MAJOR.MINOR"),
    (values.engine_version, "24.", "not an engine version"),
    (values.engine_version, "", "not an engine version"),
    (values.generation_id, "abc", "not a generation"),
    (values.generation_id, "0", "not a generation"),
    (values.generation_id, "-1", "not a generation"),
    (values.syscalls, ["mkdirr"], "did you mean 'mkdir'"),
    (values.architectures, ["x86-65"], "unknown architecture"),
    (values.each(values.port_spec), ["443", "443/tcp"], "`443/tcp` is listed twice (as `443`)"),
    (values.each(lambda t: values.network(t, 4)), ["10.0.0.5", "10.0.0.5/32"], "listed twice"),
    (values.each(values.dns_name), ["Docker.example", "docker.example."], "listed twice"),
    (values.each(values.ip_address), ["::1", "0::1"], "listed twice"),
]


@pytest.mark.parametrize("check,value,needle", REFUSED, ids=[f"{i}-{v!r}"[:60] for i, (_, v, _) in enumerate(REFUSED)])
def test_a_hostile_value_is_refused_with_what_is_wrong_and_the_fix(check, value, needle):
    with pytest.raises(values.Invalid) as caught:
        check(value)
    assert needle in caught.value.message + " | " + caught.value.fix
    assert caught.value.fix


ACCEPTED = [
    (values.port_spec, "443", (443, 443, "tcp")),
    (values.port_spec, "1:65535/udp", (1, 65535, "udp")),
    (values.port_spec, "80:80", (80, 80, "tcp")),
    (lambda t: values.network(t, 4), "10.0.0.5", "10.0.0.5/32"),
    (lambda t: values.network(t, 6), "FD00:1::/64", "fd00:1::/64"),
    (values.dns_name, "*.Docker.example.", "*.docker.example"),
    (values.tcp_address, "tcp://[::]:2376", ("[::]", 2376)),
    (values.tcp_address, "tcp://docker.example.net:2376", ("docker.example.net", 2376)),
    (values.user_and_group, "remap:remap", "remap:remap"),
    (values.engine_version, "20.10.24+dfsg1", "20.10.24+dfsg1"),
    (values.engine_version, "26.1.5-ce", "26.1.5-ce"),
    (values.generation_id, "3", "0003"),
]


@pytest.mark.parametrize("check,value,expected", ACCEPTED, ids=[repr(v) for _, v, _ in ACCEPTED])
def test_a_good_value_is_accepted_as_what_it_means(check, value, expected):
    assert check(value) == expected


# --- in a layer file: the file, the key, the fix -------------------------------------------------------

BAD_LAYER_VALUES = [
    ('[ufw]\nallow_ports = ["70000/tcp"]\n', LayerError, "ufw.allow_ports", "outside 1-65535"),
    ('[ufw]\nallow_ports = ["90:80/tcp"]\n', LayerError, "ufw.allow_ports", "80:90/tcp"),
    ('[ufw]\nallow_ports = ["443", "443"]\n', SchemaError, "ufw.allow_ports", "listed twice"),
    ('[ufw]\nallow_ports = ["443", "443/tcp"]\n', LayerError, "ufw.allow_ports", "listed twice"),
    ('[ufw]\nallow_ports = ["22/icmp"]\n', SchemaError, "ufw.allow_ports.0", "tcp or udp"),
    ('[ufw]\nallow_sources = ["10.0.0.1/8"]\n', LayerError, "ufw.allow_sources", "10.0.0.0/8"),
    ('[ufw]\nallow_sources_v6 = ["10.0.0.0/8"]\n', LayerError, "ufw.allow_sources_v6", "IPv4 network"),
    ('[ufw]\ncontainer_networks = ["fd00::/64"]\n', LayerError, "ufw.container_networks", "_v6"),
    ('[ufw]\nallow_sources = ["any"]\n', SchemaError, "ufw.allow_sources.0", "CIDR"),
    ('[tls]\naddress = "tcp://0.0.0.0:99999"\n', LayerError, "tls.address", "outside 1-65535"),
    ('[tls]\naddress = "tcp://0.0.0.0"\n', SchemaError, "tls.address", "tcp://HOST:PORT"),
    ('[tls]\ndns_names = ["bad_name.example"]\n', SchemaError, "tls.dns_names.0", "DNS name"),
    ('[tls]\ndns_names = ["-x.example"]\n', LayerError, "tls.dns_names", "not a DNS name"),
    ('[tls]\ndns_names = ["10.0.0.5"]\n', LayerError, "tls.dns_names", "tls.ip_addresses"),
    ('[tls]\nip_addresses = ["10.0.0.256"]\n', LayerError, "tls.ip_addresses", "not an IPv4"),
    ('[tls]\ndays = 0\n', SchemaError, "tls.days", "90"),
    ('[tls]\ndays = 100000\n', SchemaError, "tls.days", "3650"),
    ('[audit]\nkey = "has space"\n', SchemaError, "audit.key", "auditctl -k"),
    ('[audit]\nkey = "' + "k" * 32 + '"\n', SchemaError, "audit.key", "1 to 31"),
    ('[audit]\npermissions = ""\n', SchemaError, "audit.permissions", "r, w, x and a"),
    ('[audit]\npermissions = "rr"\n', LayerError, "audit.permissions", "each once"),
    ('[userns]\nuser = "-rf"\n', SchemaError, "userns.user", "user name"),
    ('[rootless]\nuser = "root:root"\n', SchemaError, "rootless.user", "user name"),
    ('[rootless]\nuser = "root"\n', LayerError, "rootless.user", "unprivileged"),
    ('[userns]\nuser = "root"\n', LayerError, "userns.user", "unprivileged"),
    ('[ufw]\nallow_sources = ["0.0.0.0/0"]\n', LayerError, "ufw.allow_sources", "allow_ports"),
    ('[audit]\nextra_paths = ["/srv/my app"]\n', LayerError, "audit.extra_paths", "without spaces"),
    ('[audit]\nextra_paths = ["/srv/app", "/srv/app"]\n', SchemaError, "audit.extra_paths", "listed twice"),
    ('[seccomp]\ndeny = ["mkdirr"]\n', LayerError, "seccomp.deny", "did you mean 'mkdir'"),
    ('[seccomp]\ndeny = ["mkdir", "mkdir"]\n', SchemaError, "seccomp.deny", "listed twice"),
    ('[seccomp]\narchitectures = ["vax"]\n', LayerError, "seccomp.architectures", "unknown architecture"),
    ('[unset]\ndaemon = ["icc", "icc"]\n', SchemaError, "unset.daemon", "listed twice"),
]


@pytest.mark.parametrize("text,error,key,needle", BAD_LAYER_VALUES, ids=[t.strip() for t, *_ in BAD_LAYER_VALUES])
def test_a_layer_value_that_does_not_mean_what_its_key_means_names_the_file_the_key_and_the_fix(
        tmp_path, text, error, key, needle):
    path = layer(tmp_path, text)
    with pytest.raises(error) as caught:
        load_layer_file(path)
    message = str(caught.value)
    assert str(path) in message and f"key `{key}`" in message and needle in message, message
    assert caught.value.hint


def test_a_disabled_table_is_checked_too(tmp_path):
    with pytest.raises(LayerError):
        load_layer_file(layer(tmp_path, '[ufw]\nenabled = false\nallow_ports = ["70000"]\n'))


def test_two_layers_of_one_name_are_refused_naming_both(tmp_path):
    a = layer(tmp_path, '[layer]\nname = "site"\n', "a.toml")
    b = layer(tmp_path, '[layer]\nname = "site"\n', "b.toml")
    (tmp_path / "root").mkdir()
    with pytest.raises(LayerError) as caught:
        api.make_plan(api.Request(root=str(tmp_path / "root"), profiles=["baseline"], layers=[str(a), str(b)],
                                  runner=NoTools()))
    assert str(a) in str(caught.value) and str(b) in str(caught.value)


def test_a_layer_file_named_like_a_builtin_profile_must_name_itself(tmp_path):
    mine = layer(tmp_path, "[daemon]\ndebug = true\n", "baseline.toml")
    (tmp_path / "root").mkdir()
    with pytest.raises(LayerError) as caught:
        api.make_plan(api.Request(root=str(tmp_path / "root"), profiles=["baseline"], layers=[str(mine)],
                                  runner=NoTools()))
    assert "profile:baseline" in str(caught.value) and "[layer] name" in str(caught.value)


NAMES = ["web-hosts", "10-base", "site.v2", "a" * 64, "evil\nname", "e\x1b[31mx", "my layer", "-dash", ".hidden",
         "a" * 65, "caf\u00e9", "tab\there", "bidi\u202e"]


@pytest.mark.parametrize("stem", NAMES, ids=[ascii(n)[:20] for n in NAMES])
def test_a_name_taken_from_a_file_name_passes_the_rule_of_a_layer_s_own_name_and_no_other(tmp_path, stem):
    named = layer(tmp_path, f"[layer]\nname = {json.dumps(stem)}\n[daemon]\ndebug = true\n", "named.toml")
    try:
        load_layer_file(named)
        as_a_name = True
    except SchemaError:
        as_a_name = False
    unnamed = tmp_path / f"{stem}.toml"
    unnamed.write_text("[daemon]\ndebug = true\n")
    try:
        assert load_layer_file(unnamed).name == stem
        as_a_file_name = True
    except LayerError as exc:
        as_a_file_name = False
        message = str(exc)
        assert message.startswith(f"{unnamed}: the layer has no [layer] name, so it would be named after its file")
        assert json.dumps(stem) in message and "rename the file" in exc.hint and "[layer] name" in exc.hint
    assert as_a_file_name == as_a_name


def test_a_layer_file_whose_name_holds_a_newline_is_one_printable_paragraph_and_exit_1(tmp_path):
    (tmp_path / "root").mkdir()
    evil = tmp_path / "evil\nname.toml"
    evil.write_text("[daemon]\ndebug = true\n")
    done = subprocess.run([sys.executable, "-m", "dockharden", "plan", "--root", str(tmp_path / "root"), "--layer",
                           str(evil)], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])))
    assert done.returncode == 1 and done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert "evil\\nname.toml: the layer has no [layer] name" in done.stderr and "Hint: rename the file" in done.stderr


# --- the selection and the flags -----------------------------------------------------------------------

@pytest.mark.parametrize("flag,needle", [
    ("", "names no profile"), (",", "names no profile"), (" , ", "names no profile"),
    ("baseline,,userns", "empty profile name"), ("baseline,baseline", "`baseline` is selected twice"),
    ("baseline, baseline", "selected twice"),
])
def test_a_profile_flag_that_selects_nothing_or_a_profile_twice_is_refused(flag, needle):
    with pytest.raises(LayerError) as caught:
        choose_selection({}, split_profiles(flag), None)
    assert needle in str(caught.value) and "--profile" in str(caught.value)


@pytest.mark.parametrize("name", ["../profiles/baseline", "baseline.toml", "/etc/passwd", "BASELINE"])
def test_a_profile_is_a_builtin_name_never_a_path(tmp_path, name):
    with pytest.raises(LayerError) as caught:
        api.make_plan(api.Request(root=str(tmp_path), profiles=[name], runner=NoTools()))
    assert "no built-in profile" in str(caught.value) and "--profile" in str(caught.value)


def test_an_unknown_profile_in_dockharden_toml_names_the_file_and_the_key(tmp_path):
    (tmp_path / "etc/dockharden").mkdir(parents=True)
    (tmp_path / "etc/dockharden/dockharden.toml").write_text('profiles = ["baselin"]\n')
    with pytest.raises(LayerError) as caught:
        api.make_plan(api.Request(root=str(tmp_path), runner=NoTools()))
    message = str(caught.value)
    assert "/etc/dockharden/dockharden.toml, key `profiles`" in message and "did you mean `baseline`" in message


def test_the_same_layer_file_twice_is_refused_however_its_path_is_written(tmp_path):
    mine = layer(tmp_path, "[daemon]\ndebug = true\n")
    again = tmp_path / "sub" / ".." / "mine.toml"
    (tmp_path / "sub").mkdir()
    with pytest.raises(LayerError) as caught:
        choose_selection({}, ["baseline"], [str(mine), str(again)])
    assert "selected twice" in str(caught.value)


def test_an_empty_layer_path_is_refused():
    with pytest.raises(LayerError):
        choose_selection({}, ["baseline"], [""])


@pytest.mark.parametrize("text,key,needle", [
    ('profiles = "baseline"\n', "profiles", "list of strings"),
    ("profiles = []\n", "profiles", "names no profile"),
    ('profiles = ["baseline", "baseline"]\n', "profiles", "selected twice"),
    ('profiles = ["baseline"]\nlayers = ["/a.toml", "/a.toml"]\n', "layers", "selected twice"),
    ('profiles = ["baseline"]\nlayers = [1]\n', "layers", "list of strings"),
    ('service = "systemd"\n', "service", "must be a table"),
    ('[service]\nmanager = "upstart"\n', "service.manager", "use one of"),
    ('[service]\ntimeout = "banana"\n', "service.timeout", "seconds"),
    ("[service]\ntimeout = 0\n", "service.timeout", "seconds"),
    ("[service]\ntimeout = true\n", "service.timeout", "seconds"),
    ("[service]\nrestart_command = []\n", "service.restart_command", "not a command"),
    ('[service]\nuser = "-x"\n', "service.user", "not a user name"),
    ("[service]\nuser = 5\n", "service.user", "expected a string"),
    ('[docker]\nhost = "tcp://10.0.0.1:2375"\n', "docker.host", "unix socket"),
    ('[docker]\nlog_file = "docker.log"\n', "docker.log_file", "absolute path"),
    ('profiles = ["baseline"]\nlayers = ["site.toml"]\n', "layers", "not an absolute path"),
    ('[service]\nuser = "root"\n', "service.user", "unprivileged"),
])
def test_a_bad_value_in_dockharden_toml_names_the_file_and_the_key(text, key, needle):
    with pytest.raises(DockhardenError) as caught:
        parse_config(text.encode())
    message = str(caught.value)
    assert "/etc/dockharden/dockharden.toml" in message and f"key `{key}`" in message and needle in message, message


@pytest.mark.parametrize("request_kwargs,key", [
    ({"engine_version": "banana"}, "--engine-version"),
    ({"engine_version": "24"}, "--engine-version"),
    ({"user": "-rf"}, "--user"),
    ({"user": "root"}, "--user"),
    ({"profiles": []}, "--profile"),
    ({"profiles": ["baseline", "baseline"]}, "--profile"),
])
def test_a_bad_flag_through_the_library_is_a_typed_error_naming_the_flag(tmp_path, request_kwargs, key):
    kwargs = dict({"profiles": ["baseline"]}, **request_kwargs)
    with pytest.raises(DockhardenError) as caught:
        api.make_plan(api.Request(root=str(tmp_path), runner=NoTools(), **kwargs))
    assert f"`{key}`" in str(caught.value) and caught.value.hint


def test_rollback_to_a_generation_that_is_not_a_number_is_refused_before_the_lock(tmp_path):
    with pytest.raises(DockhardenError) as caught:
        api.rollback(api.Request(root=str(tmp_path), runner=NoTools()), to="../0001")
    assert "`--to`" in str(caught.value)
    assert not (tmp_path / "var").exists()


# --- properties ---------------------------------------------------------------------------------------

CHECKS = [values.port_spec, lambda t: values.network(t, 4), lambda t: values.network(t, 6), values.ip_address,
          values.dns_name, values.tcp_address, values.audit_permissions, values.user_name, values.user_and_group,
          values.engine_version, values.generation_id]
TEXT = st.one_of(st.text(max_size=40), st.from_regex(r"[0-9a-f:./\[\]*_-]{0,30}", fullmatch=True),
                 st.from_regex(r"tcp://[0-9a-z.:\[\]]{0,20}:[0-9]{0,6}", fullmatch=True))


@PURE
@given(text=TEXT, which=st.integers(0, len(CHECKS) - 1))
def test_on_any_text_a_check_returns_or_raises_its_own_invalid_with_a_fix(text, which):
    try:
        CHECKS[which](text)
    except values.Invalid as exc:
        assert exc.message and exc.fix


@PURE
@given(low=st.integers(-10, 70010), high=st.integers(-10, 70010), proto=st.sampled_from(["", "/tcp", "/udp"]))
def test_a_port_range_is_accepted_exactly_when_both_ends_are_ports_and_in_order(low, high, proto):
    text = f"{low}:{high}{proto}"
    good = 1 <= low <= high <= 65535
    try:
        assert values.port_spec(text) == (low, high, proto[1:] or "tcp")
    except values.Invalid:
        assert not good
    else:
        assert good


@PURE
@given(ports=st.lists(st.tuples(st.integers(1, 65535), st.integers(0, 100), st.sampled_from(["tcp", "udp"])),
                      max_size=4, unique=True))
def test_every_accepted_port_reaches_the_firewall_as_itself(ports):
    specs = [f"{p}:{min(p + span, 65535)}/{proto}" for p, span, proto in ports]
    try:
        values.each(values.port_spec)(specs)
        accepted = True
    except values.Invalid:
        accepted = False
    assume(accepted)  # two specs that mean the same are refused: another test's claim
    block = block_v4({"allow_ports": specs}, {})
    found = re.findall(r"-p (tcp|udp) -m conntrack --ctorigdstport (\d+):?(\d+)? ", block)
    rendered = {(int(a), int(b or a), proto) for proto, a, b in found}
    assert rendered == {values.port_spec(s) for s in specs}
    assert all(1 <= a <= b <= 65535 for a, b, _ in rendered)


@PURE
@given(net=st.one_of(st.ip_addresses(v=4).flatmap(lambda a: st.integers(0, 32).map(
    lambda n: ipaddress.ip_network(f"{a}/{n}", strict=False))),
                     st.ip_addresses(v=6).flatmap(lambda a: st.integers(0, 128).map(
                         lambda n: ipaddress.ip_network(f"{a}/{n}", strict=False)))))
def test_a_network_is_accepted_in_its_own_version_list_only_and_comes_back_as_itself(net):
    event("every address: refused" if net.prefixlen == 0 else "a network: accepted")  # which claim ran
    if net.prefixlen == 0:  # every address: refused in either list
        with pytest.raises(values.Invalid):
            values.network(str(net), net.version)
        return
    assert values.network(str(net), net.version) == str(net)
    with pytest.raises(values.Invalid):
        values.network(str(net), 10 - net.version)


@PURE
@given(address=st.ip_addresses(v=4), prefix=st.integers(0, 31))
def test_a_network_with_host_bits_is_refused_naming_the_network_it_may_have_meant(address, prefix):
    net = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    assume(net.network_address != address)  # no host bits: nothing to refuse
    with pytest.raises(values.Invalid) as caught:
        values.network(f"{address}/{prefix}", 4)
    assert f"`{net}`" in caught.value.fix


LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@PURE
@given(labels=st.lists(LABEL, min_size=1, max_size=5), top=st.from_regex(r"[a-z]{2,6}", fullmatch=True))
def test_a_dns_name_of_valid_labels_is_accepted_and_the_certificate_layer_takes_it(labels, top):
    name = ".".join(labels + [top])
    assert values.dns_name(name) == name


@PURE
@given(major=st.integers(1, 99), minor=st.integers(0, 99), patch=st.one_of(st.none(), st.integers(0, 99)))
def test_an_accepted_engine_version_is_one_the_engine_gate_can_compare(major, minor, patch):
    from dockharden.core.engine_gating import parse_version

    text = f"{major}.{minor}" + (f".{patch}" if patch is not None else "")
    assert values.engine_version(text) == text and parse_version(text) == (major, minor)


@PURE
@given(names=st.lists(st.sampled_from(["baseline", "userns", "tls", "logging", "", " "]), max_size=4))
def test_a_profile_selection_is_accepted_only_when_it_names_each_profile_once_and_no_empty_one(names):
    good = bool(names) and all(n.strip() for n in names) and len(set(names)) == len(names)
    try:
        chosen = choose_selection({}, names, None)
    except LayerError:
        assert not good
    else:
        assert good and chosen.profiles == tuple(names)


def test_the_builtin_profiles_pass_every_value_check():
    from dockharden.core.layers import builtin_profiles, load_builtin

    settings_ = merge_layers([load_builtin(name) for name in builtin_profiles()])
    assert settings_.tables["tls"]["address"] == "tcp://0.0.0.0:2376"
    assert json.dumps(settings_.tables, default=str)  # loaded, checked, merged


def test_values_are_checked_before_the_host_is_read(tmp_path):
    mine = layer(tmp_path, '[ufw]\nallow_ports = ["70000/tcp"]\n')
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(LayerError):
        api.make_plan(api.Request(root=str(root), profiles=["baseline"], layers=[str(mine)], runner=NoTools()))
    assert list(root.iterdir()) == []


def test_host_bits_in_the_daemons_own_bip_still_give_its_network_to_the_firewall():
    block = block_v4({}, {"bip": "172.18.0.1/16"})
    assert "-s 172.18.0.0/16 -j RETURN" in block
