import ipaddress

import pytest

from dockharden.errors import HostFileError, LayerError
from dockharden.targets.ufw_block import BEGIN, END, block_v4, splice_block

BLOCK = f"{BEGIN}\n*filter\n-A DOCKER-USER -j RETURN\nCOMMIT\n{END}\n"
UFW = "# operator\n*filter\n:ufw-after-input - [0:0]\n-A ufw-after-input -p udp --dport 137 -j DROP\nCOMMIT\n"


def test_the_block_is_appended_and_the_operator_text_kept_byte_for_byte():
    out = splice_block(UFW, BLOCK, path="after.rules")
    assert out.startswith(UFW) and out.endswith(BLOCK)


def test_an_existing_block_is_replaced_in_place():
    text = UFW + f"{BEGIN}\nold\n{END}\n# after\n"
    out = splice_block(text, BLOCK, path="after.rules")
    assert out == UFW + BLOCK + "# after\n"


def test_splicing_twice_is_a_no_op():
    once = splice_block(UFW, BLOCK, path="p")
    assert splice_block(once, BLOCK, path="p") == once


def test_a_file_without_final_newline_gets_one_before_the_block():
    assert splice_block("COMMIT", BLOCK, path="p") == "COMMIT\n" + BLOCK


def test_crlf_lines_outside_the_block_survive_and_the_block_follows_their_style():
    text = "# a\r\nCOMMIT\r\n"
    out = splice_block(text, BLOCK, path="p")
    assert out.startswith(text) and f"{BEGIN}\r\n" in out


@pytest.mark.parametrize("text,needle", [
    (UFW + f"{BEGIN}\n-A x\n", "has no partner"),
    (UFW + f"{END}\n", "has no partner"),
    (UFW + f"{BEGIN}\n{END}\n{BEGIN}\n{END}\n", "exactly one managed block"),
    ("*filter\n" + f"{BEGIN}\n{END}\nCOMMIT\n", "inside the table"),
    (f"{END}\n{BEGIN}\n", "has no partner"),
])
def test_a_malformed_block_is_an_error_naming_the_file(text, needle):
    with pytest.raises(HostFileError) as err:
        splice_block(text, BLOCK, path="/etc/ufw/after.rules")
    assert needle in str(err.value) and "/etc/ufw/after.rules" in str(err.value)


def test_the_default_block_opens_no_whole_private_range():
    block = block_v4({"enabled": True}, {"default-address-pools": [{"base": "172.20.0.0/14", "size": 24}]})
    wide = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
    for line in block.splitlines():
        if "-s " in line and "RETURN" in line:
            net = ipaddress.ip_network(line.split("-s ")[1].split()[0])
            assert not any(net.supernet_of(w) or net == w for w in wide), line
    assert "--ctstate RELATED,ESTABLISHED -j RETURN" in block
    assert "-d 172.20.0.0/14 -m conntrack --ctstate NEW -j DROP" in block


def test_allowed_sources_and_published_ports_return_before_the_drop():
    block = block_v4({"allow_sources": ["192.0.2.0/24"], "allow_ports": ["443", "53/udp"]}, {})
    lines = block.splitlines()
    drop = next(i for i, line in enumerate(lines) if "-j DROP" in line)
    assert lines.index("-A DOCKER-USER -s 192.0.2.0/24 -j RETURN") < drop
    assert "-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 443 -j RETURN" in lines
    assert "-A DOCKER-USER -p udp -m conntrack --ctorigdstport 53 -j RETURN" in lines


def test_a_bad_network_in_a_layer_names_the_key():
    with pytest.raises(LayerError, match="ufw.allow_sources"):
        block_v4({"allow_sources": ["10.0.0.0/33"]}, {})


def test_the_operators_own_bridge_and_pools_get_drop_rules_too():
    from dockharden.core.merge import merge_layers
    from dockharden.model import HostFile, HostSnapshot, Layer
    from dockharden.targets.ufw_block import render_ufw

    settings = merge_layers([Layer("b", source="b", tables={"ufw": {"enabled": True}})])
    daemon = b'{"bip": "10.99.0.1/24", "default-address-pools": [{"base": "10.200.0.0/16", "size": 24}]}'
    host = HostSnapshot(root="/",
                        files={"/etc/docker/daemon.json": HostFile("/etc/docker/daemon.json", exists=True,
                                                                   content=daemon)},
                        existing_paths=frozenset())
    [rules] = render_ufw(settings, host)
    text = rules.content.decode()
    assert "-d 10.99.0.0/24 -m conntrack --ctstate NEW -j DROP" in text
    assert "-d 10.200.0.0/16 -m conntrack --ctstate NEW -j DROP" in text


@pytest.mark.parametrize("rule, hint", [
    ("-A DOCKER-USER -s 10.20.0.0/16 -j RETURN", 'allow_sources = ["10.20.0.0/16"]'),
    ("-I DOCKER-USER -p udp --dport 53 -j ACCEPT", 'allow_ports = ["53/udp"]'),
    ("-A DOCKER-USER -s 203.0.113.9 -j DROP", "allow_sources / allow_ports"),
    (":DOCKER-USER - [0:0]", "allow_sources / allow_ports"),
])
def test_an_operators_docker_user_rule_outside_the_block_is_refused_with_where_it_belongs(rule, hint):
    text = f"*filter\n:ufw-after-input - [0:0]\n{rule}\nCOMMIT\n"
    for existing in (text, text + BLOCK):
        with pytest.raises(HostFileError) as err:
            splice_block(existing, BLOCK, path="/etc/ufw/after.rules")
        assert "line 3" in str(err.value) and hint in str(err.value) and "flushes" in str(err.value)


@pytest.mark.parametrize("rule", [
    "-ADOCKER-USER -s 203.0.113.9 -j RETURN", "--append=DOCKER-USER -j RETURN", "--append DOCKER-USER -j RETURN",
    "--app=DOCKER-USER -j RETURN", "-I DOCKER-USER 1 -j RETURN", "--insert DOCKER-USER -j RETURN",
    '-A "DOCKER-USER" -j RETURN', "-A 'DOCKER-USER' -j RETURN", "-4 -A DOCKER-USER -j RETURN",
    "-vA DOCKER-USER -j RETURN", "-R DOCKER-USER 1 -j RETURN", "--replace=DOCKER-USER 1 -j RETURN",
    "-D DOCKER-USER -j RETURN", "--delete DOCKER-USER 1", "-N DOCKER-USER", "--new-chain DOCKER-USER",
    "-F DOCKER-USER", "--flush=DOCKER-USER", "-X DOCKER-USER", "-Z DOCKER-USER", "-E DOCKER-USER OLD",
    ":DOCKER-USER ACCEPT [0:0]", ": DOCKER-USER - [0:0]", "  -A\tDOCKER-USER -j RETURN", '-A "DOCKER-USER -j RETURN',
])
def test_an_operators_docker_user_rule_in_any_spelling_iptables_restore_accepts_is_refused_not_flushed(rule):
    """Every spelling is one the real iptables-restore takes (--test, in a network namespace of its own),
    but for the last, whose unbalanced quote it refuses: refused all the same."""
    import subprocess

    text = f"*filter\n:ufw-after-input - [0:0]\n{rule}\nCOMMIT\n"
    if rule.count('"') % 2 == 0:
        done = subprocess.run(["unshare", "-n", "iptables-restore", "--test"], input=text, capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == 0, done.stderr
    for existing in (text, text + BLOCK):
        with pytest.raises(HostFileError) as err:
            splice_block(existing, BLOCK, path="/etc/ufw/after.rules")
        assert "line 3" in str(err.value) and "flushes" in str(err.value)


@pytest.mark.parametrize("rule", [
    "-A FORWARD -j DOCKER-USER", "-A ufw-after-input -m comment --comment '-A DOCKER-USER' -j RETURN",
    "-A DOCKER-USERS -j RETURN", "-A ufw-after-input -d 10.0.0.0/8 -j DROP", "# -A DOCKER-USER -j DROP",
    "-A ufw-after-input -p tcp --dport 22 -j ACCEPT", ":DOCKER-USER2 - [0:0]",
])
def test_rules_that_only_mention_docker_user_are_left_alone(rule):
    text = f"*filter\n:ufw-after-input - [0:0]\n{rule}\nCOMMIT\n" + BLOCK
    assert splice_block(text, BLOCK, path="/etc/ufw/after.rules") == text


@pytest.mark.parametrize("rule, hint", [
    ("-A DOCKER-USER -p tcp --dport 8000:8100 -j RETURN", 'allow_ports = ["8000:8100/tcp"]'),
    ("-A DOCKER-USER -p tcp -m multiport --dports 80,443 -j ACCEPT", None),
    ("-A DOCKER-USER -p tcp --dport 70000 -j ACCEPT", None),
    ("-A DOCKER-USER -p sctp --dport 80 -j ACCEPT", None),
])
def test_the_move_hint_suggests_only_a_value_the_layer_check_accepts(rule, hint):
    from dockharden.core.values import port_spec

    text = f"*filter\n{rule}\nCOMMIT\n"
    with pytest.raises(HostFileError) as err:
        splice_block(text, BLOCK, path="/etc/ufw/after.rules")
    said = err.value.hint
    if hint is None:
        assert "allow_ports = [" not in said and "allow_sources / allow_ports" in said
    else:
        assert hint in said
        port_spec(said.split('allow_ports = ["')[1].split('"')[0])  # the layer check takes it


def test_docker_user_lines_inside_the_managed_block_and_other_chains_are_fine():
    text = "*filter\n:ufw-after-input - [0:0]\n-A ufw-after-input -p tcp --dport 22 -j ACCEPT\nCOMMIT\n" + BLOCK
    assert splice_block(text, BLOCK, path="/etc/ufw/after.rules") == text


def test_block_rules_are_the_managed_blocks_docker_user_rules_and_nothing_outside_it():
    from dockharden.targets.ufw_block import BEGIN, END, block_rules

    text = "\n".join(["*filter", "-A ufw-before-input -j ACCEPT", BEGIN, ":DOCKER-USER - [0:0]",
                      "-A DOCKER-USER -s 10.0.0.0/8 -j RETURN", "-A DOCKER-USER -j DROP", END, "COMMIT", ""])
    assert block_rules(text) == ["-A DOCKER-USER -s 10.0.0.0/8 -j RETURN", "-A DOCKER-USER -j DROP"]
    assert block_rules("*filter\n-A DOCKER-USER -j DROP\nCOMMIT\n") == [] and block_rules(None) == []
