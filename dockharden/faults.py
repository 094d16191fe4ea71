"""Named failpoints for the fault-injection tests: SIGKILL or pause dockharden at a chosen step.

Touches the process only when DOCKHARDEN_FAILPOINT is set (tests set it; nothing else should):
`kill:after-record` kills at that point, `pause:after-lock:3` sleeps there 3 seconds, `fail:during-verify`
fails the step there as a refused check would.
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
        time.sleep(float(arg or 5))
    elif action == "fail":
        from dockharden.errors import ApplyError

        raise ApplyError(f"injected failure at {name} (DOCKHARDEN_FAILPOINT)")
