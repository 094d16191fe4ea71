"""Live state that drifted while the files did not: audit watches unloaded from the kernel, a DOCKER-USER
chain flushed. `live_repairs` finds them (reads auditctl and iptables) as service actions for the plan;
`repair_live_state` carries them out when a plan has no file to change. Both read the same facts verify
reads (verify.py), so what verify names as drift is what apply puts right.
"""

from __future__ import annotations

from dockharden.errors import ApplyError
from dockharden.execute import services
from dockharden.host import effective
from dockharden.model import Plan, RunOutcome
from dockharden.targets import audit_rules, nft_table, ufw_block


def repair_live_state(plan: Plan, engine):
    """Carry out a plan that changes no file but repairs live state; nothing to back up, so no generation.
    Verified like an apply: the watches are loaded and the chain holds the block afterwards."""
    from dockharden.execute.apply import RunResult

    rendered = {f.path: f.content.decode(errors="replace") for f in plan.rendered if f.content is not None}
    done, messages = [], []
    for action in plan.services:
        if action.service == "auditd":
            messages += services.sync_audit_rules(engine.runner, None, rendered[audit_rules.PATH])
        elif action.service == "nftables":
            services.nftables(engine.root, engine.runner, "load", rendered.get(nft_table.PATH))
        elif action.service == "ufw":
            result = services.reload_ufw(engine.runner)
            if not result.ok:
                raise ApplyError(f"ufw reload failed: {result.stderr.strip()}", path=ufw_block.PATH_V4,
                                 hint="check the DOCKER-USER block and `ufw status`")
        done.append({"service": action.service, "action": action.action, "reason": action.reason})
    left = effective.live_repairs(plan._replace(services=()), engine.root, engine.runner)
    if left:
        raise ApplyError("live state is still not as the files say: " + "; ".join(a.reason for a in left),
                         hint="see `dockharden verify`", path=audit_rules.PATH)
    return RunResult(RunOutcome.APPLIED, generation=None, written=(), services=tuple(done),
                     messages=tuple(["live state repaired, no file changed"] + messages))
