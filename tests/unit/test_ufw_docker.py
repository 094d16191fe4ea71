"""chaifeng/ufw-docker's block: recognised only when it is ufw-docker's own, translated when adopted."""

from pathlib import Path

import pytest

from dockharden.errors import HostFileError
from dockharden.model import HostFile, HostSnapshot, Note
from dockharden.targets import ufw_docker
from dockharden.targets.ufw_block import BEGIN, END, adopted_state, render_ufw, split_lines

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "after-rules"
ADOPTABLE = ["ernter4-webserver-config--files-ufw-after.rules", "il-da-r-dockerufw--etc-ufw-after.rules",
             "moldhouse-setup--after.rules"]
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
UFW = "*filter\n:ufw-after-input - [0:0]\n-A ufw-after-input -p udp --dport 137 -j DROP\nCOMMIT\n"
# the block as ufw-docker's install command writes it (the 2019-2024 script)
CLASSIC = """# BEGIN UFW AND DOCKER
*filter
:ufw-user-forward - [0:0]
:ufw-docker-logging-deny - [0:0]
:DOCKER-USER - [0:0]
-A DOCKER-USER -j ufw-user-forward

-A DOCKER-USER -j RETURN -s 10.0.0.0/8
-A DOCKER-USER -j RETURN -s 172.16.0.0/12
-A DOCKER-USER -j RETURN -s 192.168.0.0/16

-A DOCKER-USER -p udp -m udp --sport 53 --dport 1024:65535 -j RETURN

-A DOCKER-USER -j ufw-docker-logging-deny -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -d 192.168.0.0/16
-A DOCKER-USER -j ufw-docker-logging-deny -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -d 10.0.0.0/8
-A DOCKER-USER -j ufw-docker-logging-deny -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -d 172.16.0.0/12
-A DOCKER-USER -j ufw-docker-logging-deny -p udp -m udp --dport 0:32767 -d 192.168.0.0/16
-A DOCKER-USER -j ufw-docker-logging-deny -p udp -m udp --dport 0:32767 -d 10.0.0.0/8
-A DOCKER-USER -j ufw-docker-logging-deny -p udp -m udp --dport 0:32767 -d 172.16.0.0/12

-A DOCKER-USER -j RETURN

-A ufw-docker-logging-deny -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix "[UFW DOCKER BLOCK] "
-A ufw-docker-logging-deny -j DROP

COMMIT
# END UFW AND DOCKER
"""
# the IPv6 block of the newer script (after6.rules)
V6 = """# BEGIN UFW AND DOCKER
*filter
:ufw6-user-forward - [0:0]
:ufw6-docker-logging-deny - [0:0]
:DOCKER-USER - [0:0]
-A DOCKER-USER -j ufw6-user-forward

-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A DOCKER-USER -m conntrack --ctstate INVALID -j DROP
-A DOCKER-USER -i docker0 -o docker0 -j ACCEPT

-A DOCKER-USER -j RETURN -s fd00::/8
-A DOCKER-USER -j ufw6-docker-logging-deny -m conntrack --ctstate NEW -d fd00::/8

-A DOCKER-USER -j RETURN

-A ufw6-docker-logging-deny -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix "[UFW DOCKER BLOCK] "
-A ufw6-docker-logging-deny -j DROP

COMMIT
# END UFW AND DOCKER
"""


def find(text: str, version: int = 4):
    return ufw_docker.find(split_lines(text), path="/etc/ufw/after.rules", version=version)


def refusal(text: str, version: int = 4) -> str:
    with pytest.raises(HostFileError) as err:
        find(text, version)
    assert err.value.path == "/etc/ufw/after.rules" and err.value.key == "ufw"
    return str(err.value)


@pytest.mark.parametrize("name", ADOPTABLE)
def test_each_corpus_file_with_ufw_dockers_own_block_is_recognised_with_the_private_sources_it_allowed(name):
    text = (CORPUS / name).read_text()
    found = find(text)
    assert found.sources == PRIVATE and found.user_forward == "ufw-user-forward"
    lines = split_lines(text)
    assert lines[found.begin].strip() == ufw_docker.BEGIN and lines[found.end].strip() == ufw_docker.END


def test_the_block_ufw_docker_install_writes_is_recognised():
    found = find(UFW + CLASSIC)
    assert found.sources == PRIVATE and found.user_forward == "ufw-user-forward"
    assert (found.begin, found.end) == (4, 4 + CLASSIC.count("\n") - 1)


def test_the_ipv6_block_of_after6_rules_is_recognised_with_its_own_chains():
    found = find(V6, version=6)
    assert found.sources == ("fd00::/8",) and found.user_forward == "ufw6-user-forward"


def test_the_ipv6_block_is_not_ufw_dockers_in_an_ipv4_file():
    assert "not a rule ufw-docker writes" in refusal(V6, version=4)


def test_a_file_without_the_markers_has_no_ufw_docker_block():
    assert find(UFW) is None
    assert find(UFW + "# ufw-docker rules\n*filter\n-A DOCKER-USER -j RETURN\nCOMMIT\n") is None


def test_a_block_that_accepts_everything_between_the_markers_is_not_ufw_dockers():
    text = (CORPUS / "jonpas-dotfiles--ufw-after.rules").read_text()
    message = refusal(text)
    assert "`-A DOCKER-USER -j ACCEPT`" in message and "is not a rule ufw-docker writes" in message


def test_a_foreign_rule_inside_the_block_is_refused_naming_its_line():
    text = UFW + CLASSIC.replace("-A DOCKER-USER -j RETURN\n\n", "-A DOCKER-USER -p tcp --dport 22 -j ACCEPT\n"
                                 "-A DOCKER-USER -j RETURN\n\n")
    number = split_lines(text).index("-A DOCKER-USER -p tcp --dport 22 -j ACCEPT\n") + 1
    message = refusal(text)
    assert f"line {number} (`-A DOCKER-USER -p tcp --dport 22 -j ACCEPT`)" in message
    assert "cannot adopt" in message


@pytest.mark.parametrize("text,needle", [
    (UFW + CLASSIC.replace("# END UFW AND DOCKER\n", ""), "has no partner"),
    (UFW + CLASSIC.replace("# BEGIN UFW AND DOCKER\n", ""), "has no partner"),
    (UFW + CLASSIC + CLASSIC, "2 `# BEGIN UFW AND DOCKER` and 2 `# END UFW AND DOCKER`"),
    (UFW + "# END UFW AND DOCKER\n" + CLASSIC.replace("# END UFW AND DOCKER\n", ""), "has no partner"),
    ("*filter\n" + CLASSIC + "COMMIT\n", "inside the table opened at line 1"),
    (UFW + CLASSIC.replace("*filter", "*nat"), "is not the `*filter` line"),
    (UFW + CLASSIC.replace("COMMIT\n", ""), "is not the COMMIT line"),
    (UFW + CLASSIC.replace("-j RETURN -s 10.0.0.0/8", "-j RETURN -s 10.0.0.0/99"), "does not name an IPv4 network"),
    (UFW + CLASSIC.replace("-j RETURN -s 10.0.0.0/8", "-j RETURN -s 0.0.0.0/0"), "not /0"),
    (UFW + CLASSIC.replace("-j RETURN -s 10.0.0.0/8", "-j RETURN -s 10.0.0.1/8"), "no host bits"),
])
def test_a_damaged_or_doubled_block_stays_refused(text, needle):
    assert needle in refusal(text)


def test_a_crlf_block_is_recognised_as_the_same_block():
    found = find((UFW + CLASSIC).replace("\n", "\r\n"))
    assert found.sources == PRIVATE and found.user_forward == "ufw-user-forward"


# --- rendering: the refusal, the adoption, what is remembered ---------------------------------------------

def settings(adopt: bool, allow_sources=None, layer: str = "baseline"):
    from dockharden.model import Settings

    ufw = {"enabled": True, "allow_sources": allow_sources or []}
    provenance = {("ufw", ("enabled",)): "baseline", ("ufw", ("allow_sources",)): layer}
    sources = {"baseline": "profile:baseline", "mine": "/etc/dockharden/mine.toml"}
    plain = Settings(tables={"ufw": ufw}, provenance=provenance, removed={}, layers=("baseline",), sources=sources)
    return ufw_docker.chosen_by_option(plain) if adopt else plain


def host(text: str, managed=None) -> HostSnapshot:
    data = text.encode()
    return HostSnapshot(root="/",
                        files={"/etc/ufw/after.rules": HostFile("/etc/ufw/after.rules", exists=True, content=data)},
                        existing_paths=frozenset({"/etc/ufw/after.rules"}), managed=managed or {})


def test_without_the_choice_the_refusal_names_the_block_and_how_to_adopt_it():
    with pytest.raises(HostFileError) as err:
        render_ufw(settings(adopt=False), host(UFW + CLASSIC))
    message = str(err.value)
    assert "lines 5-" in message and "chaifeng/ufw-docker's DOCKER-USER block" in message
    assert "--adopt-ufw-docker" in message and "adopt_ufw_docker = true" in message


def test_adoption_replaces_the_block_in_place_keeps_its_sources_and_jump_and_says_so():
    rendered, note = render_ufw(settings(adopt=True), host(UFW + "# tail\n" + CLASSIC + "# after\n"))
    text = rendered.content.decode()
    assert text.startswith(UFW + "# tail\n" + BEGIN + "\n") and text.endswith(END + "\n# after\n")
    assert ufw_docker.BEGIN not in text and "ufw-docker-logging-deny" not in text
    for net in PRIVATE:
        assert f"-A DOCKER-USER -s {net} -j RETURN" in text
    assert ":ufw-user-forward - [0:0]" in text
    rules = [line for line in text.splitlines() if line.startswith("-A DOCKER-USER")]
    assert rules[:2] == ["-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
                         "-A DOCKER-USER -j ufw-user-forward"]
    assert isinstance(note, Note)
    assert ("adopting chaifeng/ufw-docker's block in /etc/ufw/after.rules (lines 6-32)" in note.message
            and "allowed sources 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 -> allow_sources" in note.message)
    state = adopted_state(settings(adopt=True), host(UFW + CLASSIC))
    assert state == {"ufw_docker": {"/etc/ufw/after.rules": {"allow_sources": list(PRIVATE),
                                                             "user_forward": "ufw-user-forward"}}}


def test_once_adopted_the_remembered_record_renders_the_same_block_without_the_choice():
    [adopted, _] = render_ufw(settings(adopt=True), host(UFW + CLASSIC))
    state = adopted_state(settings(adopt=True), host(UFW + CLASSIC))
    later = host(adopted.content.decode(), managed=state)
    assert render_ufw(settings(adopt=False), later) == [adopted]
    assert adopted_state(settings(adopt=False), later) == state


def test_an_operator_layers_allow_sources_wins_over_the_adopted_ones_and_the_plan_says_which_are_dropped():
    rendered, note = render_ufw(settings(adopt=True, allow_sources=["10.0.0.0/8", "203.0.113.0/24"], layer="mine"),
                                host(UFW + CLASSIC))
    text = rendered.content.decode()
    assert "-s 10.0.0.0/8 -j RETURN" in text and "-s 203.0.113.0/24 -j RETURN" in text
    assert "172.16.0.0/12 -j RETURN" not in text and "192.168.0.0/16 -j RETURN" not in text
    assert "the layer mine (/etc/dockharden/mine.toml) sets allow_sources, which wins (it still allows 10.0.0.0/8)" in note.message
    assert "no longer allowed: 172.16.0.0/12, 192.168.0.0/16" in note.message


def test_a_docker_user_rule_outside_an_adopted_block_stays_refused():
    text = UFW + "*filter\n-A DOCKER-USER -s 198.51.100.7 -j RETURN\nCOMMIT\n" + CLASSIC
    with pytest.raises(HostFileError) as err:
        render_ufw(settings(adopt=True), host(text))
    assert "line 6 (`-A DOCKER-USER -s 198.51.100.7 -j RETURN`)" in str(err.value)


def test_a_crlf_file_is_adopted_in_its_own_line_ending():
    rendered, _ = render_ufw(settings(adopt=True), host((UFW + CLASSIC).replace("\n", "\r\n")))
    text = rendered.content.decode()
    assert text.startswith(UFW.replace("\n", "\r\n")) and f"{BEGIN}\r\n" in text and ufw_docker.BEGIN not in text


def test_what_ufw_dockers_block_closed_counts_as_closed_before_so_adopting_it_newly_closes_no_such_port():
    from dockharden.core.published_ports import block_rules

    rules = block_rules(UFW + CLASSIC)
    assert rules.sources == PRIVATE and set(rules.drops) == set(PRIVATE)


def test_without_the_choice_a_rule_that_would_stop_the_adoption_too_is_named_first():
    text = UFW + "*filter\n-A DOCKER-USER -s 198.51.100.7 -j RETURN\nCOMMIT\n" + CLASSIC
    with pytest.raises(HostFileError) as err:
        render_ufw(settings(adopt=False), host(text))
    assert "line 6 (`-A DOCKER-USER -s 198.51.100.7 -j RETURN`)" in str(err.value)
