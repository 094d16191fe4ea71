"""The iptables FORWARD policy when dockerd moves to its nftables backend (issue 22.4, core/forward_policy.py):
Docker's own DROP is set to ACCEPT by apply as a planned host action, recorded and put back by a rollback;
an operator's ufw "deny routed" stays a warning that names the published ports that stop answering. The plan
part is judged on plain values; the execute part with the real iptables in a private network namespace."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dockharden.core.conflicts import forward_policy_notes
from dockharden.core.forward_policy import planned_actions, restore_actions
from dockharden.core.layers import load_builtin  # noqa: F401 (the layers the planner knows load)
from dockharden.core.merge import merge_layers
from dockharden.model import (
    Container,
    HostAction,
    HostSnapshot,
    Layer,
    Plan,
    PublishedPort,
    Selection,
    ServiceAction,
)

REPO = Path(__file__).resolve().parents[2]
NFT = {"firewall-backend": "nftables"}
RESTART = (ServiceAction("nftables", action="load", reason="r"), ServiceAction("docker", action="restart", reason="r"))
ON_IPTABLES = {"FirewallBackend": {"Driver": "iptables"}}
DROPS = {"forward_policy": "DROP", "forward_policy_v6": "DROP"}
LAYERS = merge_layers([Layer("n", source="n", tables={"nftables": {"enabled": True}})])
WEB = Container("web", id="w" * 64, restart_policy="", networks=("bridge",),
                ports=(PublishedPort("0.0.0.0", 8080, 80, "tcp"),))
LOCAL = Container("admin", id="a" * 64, restart_policy="", networks=("bridge",),
                  ports=(PublishedPort("127.0.0.1", 9000, 9000, "tcp"),))


def host(**facts):
    facts = {"daemon_info": ON_IPTABLES, "firewall": DROPS, **facts}
    return HostSnapshot(root="/", files={}, existing_paths=frozenset(), **facts)


def test_switching_a_live_host_to_nftables_sets_dockers_drop_policies_to_accept_after_the_docker_restart():
    actions = planned_actions(NFT, host(), RESTART, live=True)
    assert [(a.kind, a.tool, a.chain, a.before, a.after, a.after_service) for a in actions] == [
        ("firewall_policy", "iptables", "FORWARD", "DROP", "ACCEPT", "docker"),
        ("firewall_policy", "ip6tables", "FORWARD", "DROP", "ACCEPT", "docker")]
    assert "until the next boot" in actions[0].reason and "a rollback puts it back" in actions[0].reason


@pytest.mark.parametrize("config,facts,services,live", [
    (NFT, {}, RESTART, False),                                                 # an offline root: nothing live
    (NFT, {"ufw_enabled": True}, RESTART, True),                               # ufw's policy: the operator's
    (NFT, {}, RESTART[:1], True),                                              # docker not restarted now
    (NFT, {"daemon_info": {"FirewallBackend": {"Driver": "nftables"}}}, RESTART, True),  # already on nftables
    (NFT, {"daemon_info": None}, RESTART, True),                               # no daemon answers
    (NFT, {"firewall": {"forward_policy": "ACCEPT"}}, RESTART, True),          # nothing drops
    ({"firewall-backend": "iptables"}, {}, RESTART, True),                     # the iptables backend needs it
    ({}, {}, RESTART, True),
])
def test_no_policy_is_planned_unless_a_live_switch_from_iptables_leaves_dockers_own_drop(config, facts, services,
                                                                                        live):
    assert planned_actions(config, host(**facts), services, live=live) == ()


def test_a_policy_the_plan_sets_is_an_action_not_a_warning():
    snapshot = host(containers=(WEB,))
    actions = planned_actions(NFT, snapshot, RESTART, live=True)
    assert forward_policy_notes(NFT, LAYERS, snapshot, actions) == []


def test_a_drop_policy_the_plan_leaves_is_warned_with_the_dark_ports_and_the_commands_to_run():
    snapshot = host(containers=(WEB, LOCAL))  # apply --no-restart: the plan restarts nothing, sets nothing
    [note] = forward_policy_notes(NFT, LAYERS, snapshot, planned_actions(NFT, snapshot, (), live=True))
    assert note.level == "warning" and "the iptables FORWARD policy is DROP" in note.message
    assert "stop answering outside clients: 8080/tcp of web (8080->80/tcp)" in note.message
    assert "9000" not in note.message  # bound to loopback: no outside client dials it
    assert "`iptables -P FORWARD ACCEPT` (and `ip6tables -P FORWARD ACCEPT`)" in note.message
    assert "/etc/default/ufw" not in note.message


def test_ufws_deny_routed_stays_a_warning_naming_the_published_ports_that_stop_answering_and_the_fix():
    snapshot = host(ufw_enabled=True, containers=(WEB,))
    assert planned_actions(NFT, snapshot, RESTART, live=True) == ()
    [note] = forward_policy_notes(NFT, LAYERS, snapshot, ())
    assert "ufw's DEFAULT_FORWARD_POLICY=\"DROP\", deny routed" in note.message
    assert "these published ports of running containers stop answering outside clients: 8080/tcp of web" \
        in note.message
    assert 'DEFAULT_FORWARD_POLICY="ACCEPT" in /etc/default/ufw (and `ufw reload`)' in note.message


def test_a_rollback_puts_back_the_policy_the_first_generation_it_undoes_found():
    recorded = [("0003", [{"tool": "iptables", "chain": "FORWARD", "before": "DROP", "after": "ACCEPT"}]),
                ("0005", [{"tool": "iptables", "chain": "FORWARD", "before": "REJECT", "after": "ACCEPT"},
                          {"tool": "ip6tables", "chain": "FORWARD", "before": "DROP", "after": "ACCEPT"}])]
    now = {"iptables": "ACCEPT", "ip6tables": "DROP"}
    [action] = restore_actions(recorded, now, to_nftables=False, services=RESTART)
    assert (action.tool, action.before, action.after) == ("iptables", "ACCEPT", "DROP")
    assert "generation 0003" in action.reason
    assert restore_actions(recorded, now, to_nftables=True, services=RESTART) == ()  # DROP would darken it
    assert restore_actions(recorded, now, to_nftables=False, services=()) == ()      # docker not restarted


def test_the_plan_says_its_host_actions_in_text_and_json_and_a_saved_plan_keeps_them():
    from dockharden import report
    from dockharden.execute.planfile import plan_from_document  # noqa: F401 (the reader of the same document)

    action = HostAction("firewall_policy", tool="iptables", chain="FORWARD", before="DROP", after="ACCEPT",
                        reason="because")
    plan = Plan(Selection(("baseline",), layers=()), settings=LAYERS, engine_version="29.7.2", changes=(),
                unchanged=(), services=RESTART, notes=(), rendered=(), host_actions=(action,))
    text = report.render_plan(plan, "/")
    assert "Host actions:\n  iptables FORWARD policy DROP -> ACCEPT, right after the docker restart: because" in text
    assert report.plan_document(plan, "/")["host_actions"] == [
        {"kind": "firewall_policy", "tool": "iptables", "chain": "FORWARD", "before": "DROP", "after": "ACCEPT",
         "reason": "because", "after_service": "docker"}]


def test_the_plan_of_a_live_switch_carries_the_action_through_planning():
    from dockharden.core.planning import with_forward_policy

    plan = Plan(Selection(("baseline",), layers=()), settings=LAYERS, engine_version="29.7.2", changes=(),
                unchanged=(), services=RESTART, notes=(), rendered=())
    done = with_forward_policy(plan, NFT, LAYERS, host(), live=True)
    assert [a.tool for a in done.host_actions] == ["iptables", "ip6tables"] and done.notes == ()
    offline = with_forward_policy(plan, NFT, LAYERS, host(firewall={}), live=False)
    assert offline.host_actions == () and offline.notes == ()


def in_namespace(script: str) -> dict:
    done = subprocess.run(["unshare", "--net", sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_with_the_real_iptables_apply_records_and_sets_the_policy_and_a_rollback_puts_it_back():
    """In a private network namespace: `iptables -P FORWARD DROP` as Docker's iptables backend sets it, then
    apply's step after the docker restart, then the rollback's undo."""
    seen = in_namespace("""
        import json
        from dockharden.execute import apply, services
        from dockharden.host.runner import Runner
        from dockharden.model import HostAction, Plan, Selection, Settings
        runner = Runner()
        runner.run(["iptables", "-w", "-P", "FORWARD", "DROP"])
        engine = apply.Engine("/", runner, now=None, config={})
        action = HostAction("firewall_policy", "iptables", "FORWARD", "DROP", "ACCEPT", "r")
        plan = Plan(Selection((), ()), Settings({}, {}, {}, ()), None, (), (), (), (), (), host_actions=(action,))
        journal, record = [], {}
        done = apply.host_actions(plan, engine, "docker", journal.append, lambda **facts: record.update(facts))
        out = {"done": done, "journal": journal, "record": record,
               "after": services.chain_policy_now(runner, "iptables", "FORWARD")}
        again = apply.host_actions(plan, engine, "docker", journal.append, lambda **facts: None)
        apply.put_back_policies(engine, record["firewall_policy"])
        out.update(again=again, back=services.chain_policy_now(runner, "iptables", "FORWARD"))
        print(json.dumps(out))
    """)
    assert seen["record"] == {"firewall_policy": [{"tool": "iptables", "chain": "FORWARD", "before": "DROP",
                                                   "after": "ACCEPT"}]}
    assert seen["journal"] == ["firewall-policy"] and seen["after"] == "ACCEPT"
    assert seen["done"] == [{"service": "firewall-policy", "action": "iptables -P FORWARD ACCEPT (was DROP)"}]
    assert seen["again"] == [{"service": "firewall-policy", "action": "none (already as planned)"}]
    assert seen["back"] == "DROP"


def test_with_the_real_iptables_an_automatic_rollback_puts_back_the_policy_its_journal_says_was_set(tmp_path):
    """restore_services, as a failed apply's rollback calls it: `firewall-policy` in the journal's
    services_started, and the policy recorded before it was set, is put back (docker is left as the record
    says it was: stopped, so no daemon is needed here)."""
    seen = in_namespace(f"""
        import json
        from pathlib import Path
        from dockharden.execute import apply, services
        from dockharden.host.runner import Runner
        from dockharden.host.state import Generation
        runner = Runner()
        runner.run(["iptables", "-w", "-P", "FORWARD", "ACCEPT"])  # as apply left it
        engine = apply.Engine("/", runner, now=None, config={{}})
        record = {{"restart": True, "docker_left": True, "plan": {{"changes": [], "services": []}}, "files": [],
                  "services_started": ["firewall-policy"],
                  "firewall_policy": [{{"tool": "iptables", "chain": "FORWARD", "before": "DROP", "after": "ACCEPT"}}]}}
        apply.restore_services(engine, Generation("0001", Path({str(tmp_path)!r}), record), "verifying")
        out = {{"back": services.chain_policy_now(runner, "iptables", "FORWARD")}}
        unjournaled = dict(record, services_started=[])
        runner.run(["iptables", "-w", "-P", "FORWARD", "ACCEPT"])
        apply.restore_services(engine, Generation("0001", Path({str(tmp_path)!r}), unjournaled), "verifying")
        out["untouched"] = services.chain_policy_now(runner, "iptables", "FORWARD")
        print(json.dumps(out))
    """)
    assert seen == {"back": "DROP", "untouched": "ACCEPT"}
