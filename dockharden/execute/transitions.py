"""Restart dockerd without stopping the running containers: live-restore on in every daemon that stops or
starts while they run (the steps are core/transitions.py's; this module takes them on the live host).

Touches the machine: daemon.json is written between the steps (atomically, with the final file's mode
and owner) and always ends as it was before the restart began, the final file the plan wrote (or the one
a rollback restored), whatever happens in between.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from dockharden.core.transitions import (
    LIVE_RESTORE_OFF,
    LIVE_RESTORE_ON,
    is_swarm_node,
    restart_steps,
    with_live_restore,
)
from dockharden.daemon_json_codec import parse_daemon_json, serialize
from dockharden.errors import ApplyError
from dockharden.host import dockerapi
from dockharden.host.facts import read_containers, read_file
from dockharden.host.fs import HostFS

Engine = Any  # execute.apply.Engine (imported there; importing it here would make a cycle)


def restart_keeping_containers(engine: Engine, step: Callable[[str, Engine], dict]) -> dict:
    """Restart docker (`step("restart", engine)`) in the order that keeps the running containers; the
    result names the steps taken and the containers that were kept or stopped."""
    final = read_file(engine.root, engine.daemon_json_path)
    config = parse_daemon_json(final.content)
    info = dockerapi.get_json(engine.socket, "/info")
    info = info if isinstance(info, dict) else {}
    running = (read_containers(engine.socket) or ()) if info.get("ContainersRunning") else ()
    plan = restart_steps(bool(info.get("LiveRestoreEnabled")), bool(config.get("live-restore")), running,
                         rootless=engine.config.get("service", {}).get("manager") == "rootless",
                         swarm=is_swarm_node(info))
    if len(plan.steps) == 1:
        done = step("restart", engine)
        return {**done, "containers_stopped": [c.name for c in plan.stops]} if plan.stops else done
    engine.progress("restarting docker so that the running containers keep running: " + "; then ".join(plan.steps))
    try:
        for name in plan.steps:
            if name == LIVE_RESTORE_ON:
                if not config.get("live-restore"):
                    _write(engine, final, with_live_restore(config, True))
                step("reload", engine)
                _expect_live_restore(engine, True)
            elif name == LIVE_RESTORE_OFF:
                _write(engine, final, with_live_restore(config, False))
                step("reload", engine)
                _expect_live_restore(engine, False)
            else:
                if not config.get("live-restore"):
                    _write(engine, final, with_live_restore(config, True))
                done = step("restart", engine)
    finally:
        _put_back(engine, final)
    return {**done, "steps": list(plan.steps), "containers_kept": [c.name for c in running]}


def _write(engine: Engine, final, config: dict) -> None:
    HostFS(engine.root).write(engine.daemon_json_path, serialize(config),
                              final.mode if final.exists and final.mode is not None else 0o644,
                              final.uid or 0, final.gid or 0)


def _put_back(engine: Engine, final) -> None:
    """daemon.json as it was before the steps: the final file (none, when there was none)."""
    fs = HostFS(engine.root)
    now = read_file(engine.root, engine.daemon_json_path)
    if (now.exists, now.content) == (final.exists, final.content):
        return
    if final.exists:
        fs.write(engine.daemon_json_path, final.content, final.mode if final.mode is not None else 0o644,
                 final.uid or 0, final.gid or 0)
    else:
        fs.remove(engine.daemon_json_path)


def _expect_live_restore(engine: Engine, wanted: bool) -> None:
    info = dockerapi.get_json(engine.socket, "/info")
    have = info.get("LiveRestoreEnabled") if isinstance(info, dict) else None
    if have is not wanted:
        raise ApplyError(f"the reload did not turn live-restore {'on' if wanted else 'off'} (the daemon reports "
                         f"{json.dumps(have)}); nothing was restarted with containers at stake",
                         path=engine.daemon_json_path, hint="see the daemon's log for why it refused the reload")
