"""Which published ports of the running containers a planned firewall (the DOCKER-USER block, the nftables
layer's table) closes to outside sources, and what an apply did to the workload: plain values in, values out."""

import pytest

from dockharden.core.published_ports import (
    NO_BLOCK,
    aftermath,
    block_rules,
    closes,
    keep_open_line,
    newly_closed,
    port_closure,
    refuse_unchosen_closure,
)
from dockharden.errors import PortsClosedError
from dockharden.model import Action, Change, Container, HostFile, PublishedPort, RenderedFile, ServiceAction
from dockharden.report import closing_question, closure_document, render_aftermath, render_closure
from dockharden.targets.ufw_block import PATH_V4, Port, block_text

NETS = ["172.20.0.0/14", "172.17.0.0/16"]
WEB = Container("web", id="w" * 64, restart_policy="unless-stopped", networks=("bridge",),
                ports=(PublishedPort("0.0.0.0", 8080, 80, "tcp"),
                                                                  PublishedPort("::", 8080, 80, "tcp")),
                addresses=("172.17.0.2",))
DNS = Container("dns", id="d" * 64, restart_policy="", networks=("bridge",),
                ports=(PublishedPort("", 5353, 53, "udp"),), addresses=("172.17.0.3",))
LOCAL = Container("admin", id="a" * 64, restart_policy="", networks=("bridge",),
                  ports=(PublishedPort("127.0.0.1", 9000, 9000, "tcp"),),
                  addresses=("172.17.0.4",))
ELSEWHERE = Container("lab", id="l" * 64, restart_policy="", networks=("labnet",),
                      ports=(PublishedPort("0.0.0.0", 7000, 7000, "tcp"),),
                      addresses=("10.99.0.2",))
UFW_RELOAD = ServiceAction("ufw", action="reload", reason="the DOCKER-USER block changed and ufw is active")


def block(ports=(), sources=()):
    return block_text(NETS, list(sources), [Port(*p) for p in ports])


def rules(ports=(), sources=()):
    return block_rules("*filter\n:ufw-before-input - [0:0]\nCOMMIT\n" + block(ports, sources))


def ufw_change(old: str | None, new: str) -> Change:
    return Change("ufw", path=PATH_V4, action=Action.UPDATE if old else Action.CREATE,
                  old=HostFile(PATH_V4, exists=old is not None,
                               content=old.encode() if old else None), new=RenderedFile("ufw", path=PATH_V4,
                                                                                                 content=new.encode()))


def test_the_block_is_read_as_iptables_reads_it_sources_ports_and_dropped_networks():
    found = rules(ports=[("443", "tcp"), ("8000:8100", "tcp"), ("53", "udp")], sources=["192.0.2.0/24"])
    assert found.sources == ("172.20.0.0/14", "172.17.0.0/16", "192.0.2.0/24")
    assert found.ports == ((443, 443, "tcp"), (8000, 8100, "tcp"), (53, 53, "udp"))
    assert found.drops == ("172.20.0.0/14", "172.17.0.0/16")


def test_a_file_without_the_block_closes_nothing():
    assert block_rules("*filter\nCOMMIT\n") == NO_BLOCK
    assert block_rules(None) == NO_BLOCK
    assert not closes(NO_BLOCK, WEB, WEB.ports[0])


def test_the_block_matches_the_published_host_port_not_the_container_port():
    # --ctorigdstport is the port the client dialled before docker's DNAT: 8080, not the container's 80
    assert not closes(rules(ports=[("8080", "tcp")]), WEB, WEB.ports[0])
    assert closes(rules(ports=[("80", "tcp")]), WEB, WEB.ports[0])


def test_a_port_range_and_the_protocol_both_count():
    assert not closes(rules(ports=[("8000:8100", "tcp")]), WEB, WEB.ports[0])
    assert closes(rules(ports=[("8080", "udp")]), WEB, WEB.ports[0])
    assert not closes(rules(ports=[("5353", "udp")]), DNS, DNS.ports[0])


def test_a_container_outside_the_dropped_networks_is_not_closed():
    assert not closes(rules(), ELSEWHERE, ELSEWHERE.ports[0])


def test_a_container_whose_address_is_unknown_counts_as_closed_when_the_block_drops_anything():
    unknown = WEB._replace(addresses=())
    assert closes(rules(), unknown, unknown.ports[0])
    assert not closes(NO_BLOCK, unknown, unknown.ports[0])


def test_a_new_block_names_every_published_port_it_closes_once_and_skips_loopback_and_ipv6_bindings():
    closed = newly_closed([WEB, DNS, LOCAL, ELSEWHERE], NO_BLOCK, rules())
    assert [(c.container, c.port.host_port, c.port.proto) for c in closed] == [("web", 8080, "tcp"),
                                                                             ("dns", 5353, "udp")]


def test_a_port_the_current_block_already_closes_is_not_newly_closed():
    assert newly_closed([WEB], rules(), rules(sources=["192.0.2.0/24"])) == ()


def test_a_port_the_current_block_allows_and_the_new_one_drops_is_newly_closed():
    closed = newly_closed([WEB], rules(ports=[("8080", "tcp")]), rules(sources=["192.0.2.0/24"]))
    assert [c.port.host_port for c in closed] == [8080]
    assert closed[0].open_to == ("192.0.2.0/24",)


def test_the_line_that_keeps_ports_open_repeats_the_ports_allowed_now_because_lists_replace():
    closed = newly_closed([WEB, DNS], NO_BLOCK, rules())
    assert keep_open_line([], closed) == 'allow_ports = ["8080", "5353/udp"]'
    assert keep_open_line(["443"], closed[:1]) == 'allow_ports = ["443", "8080"]'


def test_the_plan_s_closure_comes_from_the_block_on_disk_and_the_planned_one():
    change = ufw_change(None, block(ports=[("443", "tcp")]))
    closure = port_closure([change], [UFW_RELOAD], [WEB], layer="site")
    assert [c.container for c in closure.ports] == ["web"]
    assert closure.keep_open == 'allow_ports = ["443", "8080"]'
    assert closure.takes_effect and closure.layer == "site" and not closure.accepted_by


def test_no_closure_without_containers_without_a_block_change_or_when_nothing_new_closes():
    change = ufw_change(None, block())
    assert port_closure([change], [UFW_RELOAD], None) is None
    assert port_closure([change], [UFW_RELOAD], ()) is None
    assert port_closure([], [UFW_RELOAD], [WEB]) is None
    assert port_closure([ufw_change(block(), block(sources=["192.0.2.0/24"]))], [UFW_RELOAD], [WEB]) is None


def test_a_block_that_ufw_does_not_load_now_closes_nothing_at_this_apply():
    closure = port_closure([ufw_change(None, block())], [], [WEB])
    assert not closure.takes_effect
    refuse_unchosen_closure(closure, chosen=False)
    assert closing_question(_plan_with(closure)) == ""


def test_a_run_that_asks_no_one_refuses_to_close_ports_nobody_chose_to_close():
    closure = port_closure([ufw_change(None, block())], [UFW_RELOAD], [WEB], layer="site")
    with pytest.raises(PortsClosedError) as refused:
        refuse_unchosen_closure(closure, chosen=False)
    text = refused.value.paragraph()
    assert "8080/tcp of web (8080->80/tcp)" in text and "nothing was written" in text
    assert 'allow_ports = ["8080"]` in the [ufw] table of your layer site' in text
    assert "--close-published-ports" in text and "close_published_ports = true" in text
    assert refused.value.closure is closure


def test_the_option_or_a_layer_setting_is_an_explicit_choice():
    closure = port_closure([ufw_change(None, block())], [UFW_RELOAD], [WEB])
    refuse_unchosen_closure(closure, chosen=True)
    refuse_unchosen_closure(closure._replace(accepted_by="site"), chosen=False)
    refuse_unchosen_closure(None, chosen=False)


def _plan_with(closure):
    from dockharden.model import Plan, Selection, Settings

    return Plan(Selection((), layers=()), settings=Settings({}, provenance={}, removed={}, layers=()),
                engine_version=None, changes=(), unchanged=(), services=(), notes=(), rendered=(), port_closure=closure)


def test_the_plan_shows_each_closed_port_and_the_question_names_it():
    closure = port_closure([ufw_change(None, block())], [UFW_RELOAD], [WEB], layer="site")
    shown = "\n".join(render_closure(closure))
    assert "8080/tcp  web (8080->80/tcp): new connections from outside are dropped" in shown
    assert '`allow_ports = ["8080"]` in the [ufw] table of your layer site' in shown
    assert closing_question(_plan_with(closure)) == " This closes published port(s) 8080/tcp (web) to outside sources."
    doc = closure_document(closure)
    assert doc["ports"] == [{"container": "web", "host_ip": "0.0.0.0", "host_port": 8080, "container_port": 80,
                             "proto": "tcp", "open_to": []}]
    assert doc["keep_open"] == 'allow_ports = ["8080"]' and doc["takes_effect"] is True and doc["table"] == "ufw"


def test_after_a_run_the_containers_that_stopped_and_the_ports_that_went_silent_are_listed():
    worker = Container("worker", id="k" * 64)
    answered = frozenset({("0.0.0.0", 8080), ("::", 8080)})
    after = aftermath((WEB, worker), answered, (WEB,), frozenset({("::", 8080)}))
    assert after.stopped == (worker,)
    assert after.silent == (("web", WEB.ports[0]),)
    shown = "\n".join(render_aftermath(after))
    assert "STOPPED and not running again: container worker (no restart policy" in shown
    assert "STOPPED ANSWERING on the host: 8080/tcp of web (0.0.0.0:8080, published as 8080->80/tcp)" in shown


def test_a_port_published_on_ipv6_that_went_silent_is_shown_with_its_address_family():
    answered = frozenset({("0.0.0.0", 8080), ("::", 8080)})
    after = aftermath((WEB,), answered, (WEB,), frozenset({("0.0.0.0", 8080)}))
    assert after.silent == (("web", WEB.ports[1]),)
    assert "8080/tcp of web ([::]:8080, published as 8080->80/tcp)" in render_aftermath(after)[0]


def test_a_port_that_did_not_answer_before_is_not_said_to_have_stopped_answering():
    assert aftermath((WEB,), frozenset(), (), frozenset()).silent == ()


def test_a_run_that_changed_nothing_for_the_workload_says_so():
    after = aftermath((WEB,), frozenset({("0.0.0.0", 8080)}), (WEB,), frozenset({("0.0.0.0", 8080)}))
    assert after.stopped == after.silent == ()
    assert "every one still runs" in render_aftermath(after)[0]


def _plan_from_layers(*tables, containers=(WEB,), profiles=("baseline",), engine="20.10.24"):
    from dockharden.core.layers import load_builtin
    from dockharden.core.merge import merge_layers
    from dockharden.core.planning import plan_from
    from dockharden.model import HostSnapshot, Layer, Selection

    layers = [load_builtin(p) for p in profiles] + [Layer(f"site{i}", source=f"/etc/dockharden/layers/site{i}.toml",
                                                          tables=t)
                                                    for i, t in enumerate(tables)]
    settings = merge_layers(layers)
    settings = settings._replace(sources={layer.name: layer.source for layer in layers})
    host = HostSnapshot(root="/", files={}, existing_paths=frozenset(), ufw_enabled=True, containers=containers,
                        engine_version=engine, manager="systemd")
    return plan_from(Selection(tuple(profiles), layers=()), settings, host)


def test_baseline_on_a_host_with_a_serving_container_names_its_port_and_keeps_no_profile_as_the_place_to_edit():
    closure = _plan_from_layers().port_closure
    assert [(c.container, c.port.host_port) for c in closure.ports] == [("web", 8080)]
    assert closure.layer == "" and closure.keep_open == 'allow_ports = ["8080"]' and closure.takes_effect


def test_a_layer_that_allows_the_port_keeps_it_open_and_the_plan_names_nothing():
    assert _plan_from_layers({"ufw": {"allow_ports": ["8080"]}}).port_closure is None


def test_a_layer_that_sets_close_published_ports_is_the_explicit_choice():
    closure = _plan_from_layers({"ufw": {"close_published_ports": True}}).port_closure
    assert closure.accepted_by == "site0"
    refuse_unchosen_closure(closure, chosen=False)


def test_the_layer_that_sets_allow_ports_is_where_the_plan_says_the_port_belongs():
    closure = _plan_from_layers({"ufw": {"allow_ports": ["443"]}}).port_closure
    assert closure.layer == "site0" and closure.keep_open == 'allow_ports = ["443", "8080"]'


def test_the_layer_schema_takes_close_published_ports_as_a_boolean_only():
    from dockharden.core.schema import check_layer_document

    check_layer_document({"layer": {"name": "site"}, "ufw": {"close_published_ports": True}}, path="site.toml")
    with pytest.raises(Exception, match="close_published_ports"):
        check_layer_document({"layer": {"name": "site"}, "ufw": {"close_published_ports": "yes"}}, path="site.toml")


def test_a_rollback_that_restores_a_closing_block_names_the_ports_and_says_it_is_not_refused():
    closure = port_closure([ufw_change(block(ports=[("8080", "tcp")]), block())], [UFW_RELOAD], [WEB])
    assert [c.port.host_port for c in closure.ports] == [8080]
    shown = "\n".join(render_closure(closure, rollback=True))
    assert "the rollback restores the DOCKER-USER block as it was before, which closes them" in shown
    assert "never refused" in shown


# The nftables layer's table: the same judgement, the same refusal, its own [nftables] table named.
NFT = ("baseline", "nftables")
NFT_LOAD = ServiceAction("nftables", action="load", reason="table inet dockharden is loaded")


def nft_change(old: str | None, new: str | None) -> Change:
    from dockharden.targets import nft_table

    return Change("nftables", path=nft_table.PATH, action=Action.UPDATE if old else Action.CREATE,
                  old=HostFile(nft_table.PATH, exists=old is not None, content=old.encode() if old else None),
                  new=RenderedFile("nftables", path=nft_table.PATH, content=new.encode() if new is not None else None))


def table(ports=(), sources=()):
    from dockharden.targets import nft_table

    return nft_table.ruleset({"allow_ports": list(ports), "allow_sources": list(sources)},
                             {"bip": "172.17.0.1/16", "default-address-pools": [{"base": "172.20.0.0/14", "size": 24}]})


def test_the_table_and_the_block_read_the_same_for_the_same_layer_values():
    from dockharden.core.published_ports import table_rules

    new = table_rules(table(ports=["443", "8000:8100", "53/udp"], sources=["192.0.2.0/24"]))
    old = rules(ports=[("443", "tcp"), ("8000:8100", "tcp"), ("53", "udp")], sources=["192.0.2.0/24"])
    assert new.ports == old.ports and sorted(new.drops) == sorted(old.drops)
    assert sorted(new.sources) == sorted(old.sources)


def test_a_run_that_asks_no_one_refuses_the_table_closing_ports_and_names_the_nftables_table():
    closure = port_closure([nft_change(None, table())], [NFT_LOAD], [WEB, DNS], layer="site")
    assert closure.table == "nftables" and closure.takes_effect
    assert [(c.container, c.port.host_port) for c in closure.ports] == [("web", 8080), ("dns", 5353)]
    with pytest.raises(PortsClosedError) as refused:
        refuse_unchosen_closure(closure, chosen=False)
    text = refused.value.paragraph()
    assert text.startswith("the nftables table inet dockharden would close published port(s)"), text
    assert '`allow_ports = ["8080", "5353/udp"]` in the [nftables] table of your layer site' in text
    assert "--close-published-ports" in text and "`close_published_ports = true` in a layer's [nftables] table" in text
    assert "[ufw]" not in text and "DOCKER-USER" not in text
    refuse_unchosen_closure(closure, chosen=True)
    refuse_unchosen_closure(closure._replace(accepted_by="site"), chosen=False)


def test_a_table_written_but_not_loaded_now_closes_nothing_at_this_apply_and_says_when_it_will():
    closure = port_closure([nft_change(None, table())], [], [WEB])
    assert not closure.takes_effect
    refuse_unchosen_closure(closure, chosen=False)
    shown = "\n".join(render_closure(closure))
    assert "apply does not load the nftables table inet dockharden now: it closes them when it is next loaded " \
           "(dockharden-nftables.service at boot)" in shown
    assert closing_question(_plan_with(closure)) == ""


def test_moving_from_the_ufw_block_to_the_nftables_table_closes_no_port_the_block_already_closed():
    moved = [ufw_change(block(ports=[("443", "tcp")]), block())._replace(
        action=Action.DELETE, new=RenderedFile("ufw", path=PATH_V4, content=None)), nft_change(None,
                                                                                               table(ports=["443"]))]
    assert port_closure(moved, [UFW_RELOAD, NFT_LOAD], [WEB]) is None
    opened_before = [ufw_change(block(ports=[("8080", "tcp")]), block())._replace(
        action=Action.DELETE, new=RenderedFile("ufw", path=PATH_V4, content=None)), nft_change(None, table())]
    closure = port_closure(opened_before, [NFT_LOAD], [WEB])
    assert closure.table == "nftables" and [c.port.host_port for c in closure.ports] == [8080]


def test_the_nftables_layer_on_a_host_with_a_serving_container_names_its_port_and_no_profile_as_the_place():
    plan = _plan_from_layers(profiles=NFT, engine="29.7.2")
    closure = plan.port_closure
    assert closure.table == "nftables" and closure.takes_effect and closure.layer == ""
    assert [(c.container, c.port.host_port) for c in closure.ports] == [("web", 8080)]
    assert not any("nftables table closes" in n.message for n in plan.notes)  # the section, not a warning


def test_the_nftables_table_s_own_allow_ports_and_close_published_ports_are_the_choices_not_ufw_s():
    assert _plan_from_layers({"nftables": {"allow_ports": ["8080"]}}, profiles=NFT, engine="29.7.2").port_closure \
        is None
    chosen = _plan_from_layers({"nftables": {"close_published_ports": True}}, profiles=NFT, engine="29.7.2")
    assert chosen.port_closure.accepted_by == "site0"
    ufw_only = _plan_from_layers({"ufw": {"close_published_ports": True}}, profiles=NFT, engine="29.7.2")
    assert ufw_only.port_closure.accepted_by == ""  # the [ufw] table's choice is not the table's
    where = _plan_from_layers({"nftables": {"allow_ports": ["443"]}}, profiles=NFT, engine="29.7.2").port_closure
    assert where.layer == "site0" and where.keep_open == 'allow_ports = ["443", "8080"]'


def test_the_layer_schema_takes_the_nftables_close_published_ports_as_a_boolean_only():
    from dockharden.core.schema import check_layer_document

    check_layer_document({"layer": {"name": "site"}, "nftables": {"close_published_ports": True}}, path="site.toml")
    with pytest.raises(Exception, match="close_published_ports"):
        check_layer_document({"layer": {"name": "site"}, "nftables": {"close_published_ports": 1}}, path="site.toml")


def test_a_rollback_that_restores_a_closing_table_names_the_table():
    closure = port_closure([nft_change(table(ports=["8080"]), table())], [NFT_LOAD], [WEB])
    shown = "\n".join(render_closure(closure, rollback=True))
    assert "the rollback restores the nftables table inet dockharden as it was before, which closes them" in shown
    assert "in the [nftables] table of one of your layers" in shown


def test_a_saved_plan_keeps_which_table_closes_the_ports():
    from dockharden.execute.planfile import _closure
    from dockharden.report import closure_document

    closure = port_closure([nft_change(None, table())], [NFT_LOAD], [WEB])
    assert _closure(closure_document(closure)) == closure
    older = {k: v for k, v in closure_document(closure).items() if k != "table"}
    assert _closure(older).table == "ufw"  # a plan saved before the table was judged
