"""Live state that drifted while the files did not: audit watches unloaded from the kernel, a DOCKER-USER
chain flushed. `live_repairs` finds them (reads auditctl and iptables) as service actions for the plan;
`repair_live_state` carries them out when a plan has no file to change. Both read the same facts verify
reads (verify.py), so what verify names as drift is what apply puts right.
"""

from __future__ import annotations

from dataclasses import replace

from dockharden.execute import services
from dockharden.host import effective as verify
from dockharden.errors import ApplyError
from dockharden.model import Plan, ServiceAction
from dockharden.targets import audit_rules, ufw_block


def live_repairs(plan: Plan, root: str, runner) -> list[ServiceAction]:
    """Service actions for live state the unchanged files no longer describe (none when a file changes:
    then the plan's own service actions load it)."""
    import os

    if os.path.realpath(root) != "/":  # an image or a tree: no kernel, no chain of its own
        return []
    rendered = {f.path: f.content for f in plan.rendered}
    planned = {s.service for s in plan.services}
    found = []
    audit = rendered.get(audit_rules.PATH)
    if audit and audit_rules.PATH in plan.unchanged and "auditd" not in planned and _audit_loadable(runner):
        missing = verify.missing_audit_watches(runner, services.watches(audit.decode(errors="replace")))
        if missing:
            found.append(ServiceAction("auditd", "reload", "the kernel lacks watches of the rules file ("
                                       + ", ".join(missing) + "): auditctl loads them"))
    block = rendered.get(ufw_block.PATH_V4)
    if block and ufw_block.PATH_V4 in plan.unchanged and "ufw" not in planned and _firewall_readable(root, runner):
        missing = verify.missing_firewall_rules(runner, block.decode(errors="replace"))
        if missing:
            found.append(ServiceAction("ufw", "reload", f"the live DOCKER-USER chain lacks {len(missing)} rule(s) "
                                                        "of the block: ufw reload restores it"))
    return found


def _audit_loadable(runner) -> bool:
    from dockharden.host.facts import AUDIT_AVAILABLE, kernel_audit

    return runner.which("auditctl") is not None and kernel_audit() == AUDIT_AVAILABLE


def _firewall_readable(root: str, runner) -> bool:
    from dockharden.host.facts import ufw_enabled

    return ufw_enabled(root) and runner.which("iptables") is not None


def with_repairs(plan: Plan, root: str, runner) -> Plan:
    """The plan with the live repairs among its service actions."""
    repairs = live_repairs(plan, root, runner)
    return replace(plan, services=plan.services + tuple(repairs)) if repairs else plan


def repair_live_state(plan: Plan, engine):
    """Carry out a plan that changes no file but repairs live state; nothing to back up, so no generation.
    Verified like an apply: the watches are loaded and the chain holds the block afterwards."""
    from dockharden.execute.apply import RunResult

    rendered = {f.path: f.content.decode(errors="replace") for f in plan.rendered if f.content is not None}
    done, messages = [], []
    for action in plan.services:
        if action.service == "auditd":
            messages += services.sync_audit_rules(engine.runner, None, rendered[audit_rules.PATH])
        elif action.service == "ufw":
            result = services.reload_ufw(engine.runner)
            if not result.ok:
                raise ApplyError(f"ufw reload failed: {result.stderr.strip()}", path=ufw_block.PATH_V4,
                                 hint="check the DOCKER-USER block and `ufw status`")
        done.append({"service": action.service, "action": action.action, "reason": action.reason})
    left = live_repairs(replace(plan, services=()), engine.root, engine.runner)
    if left:
        raise ApplyError("live state is still not as the files say: " + "; ".join(a.reason for a in left),
                         hint="see `dockharden verify`", path=audit_rules.PATH)
    return RunResult("applied", None, (), tuple(done), tuple(["live state repaired, no file changed"] + messages))
