"""Named failpoints for the fault-injection tests: SIGKILL or pause dockharden at a chosen step.

Touches the process only when DOCKHARDEN_FAILPOINT is set (tests set it; nothing else should):
`kill:after-record` kills at that point, `pause:after-lock:3` sleeps there 3 seconds, `fail:during-verify`
fails the step there as a refused check would. The points: during-plan, after-lock, after-record,
after-write-N (N counts the plan's changes from 0), during-restart, during-verify. With
DOCKHARDEN_FAILPOINT_MARK set, a pause first creates that file: a test knows the point is reached.
"""

from __future__ import annotations

import os
import signal
import time


def point(name: str) -> None:
    """Honour DOCKHARDEN_FAILPOINT if it names this point; otherwise do nothing."""
    spec = os.environ.get("DOCKHARDEN_FAILPOINT", "")
    if not spec:
        return
    action, _, rest = spec.partition(":")
    where, _, arg = rest.partition(":")
    if where != name:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "pause":
        mark = os.environ.get("DOCKHARDEN_FAILPOINT_MARK")
        if mark:
            open(mark, "w").close()
        time.sleep(float(arg or 5))
    elif action == "fail":
        from dockharden.errors import ApplyError

        raise ApplyError(f"injected failure at {name} (DOCKHARDEN_FAILPOINT)")
