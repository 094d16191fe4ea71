"""`dockerd --validate` on a planned daemon.json (Engine 23+), for `plan` and `apply` alike.

Touches the machine: runs dockerd --validate. Nothing is written where dockerd looks: the new daemon.json,
and the new files it names (TLS certificates and keys, a seccomp profile, which dockerd --validate opens),
are staged in a private directory the caller gives (apply: under dockharden's state; plan: a private
temporary directory outside the root, `validate_planned`), and the staged daemon.json points at the
staged copies.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from dockharden.daemon_json_codec import parse_daemon_json, serialize
from dockharden.host.fs import HostFS
from dockharden.host.runner import Runner
from dockharden.model import Plan

INFO_LINE = re.compile(r"level=(info|debug|warning)")
STAGED_KEYS = ("tlscacert", "tlscert", "tlskey", "seccomp-profile")


def has_validate(version: str | None) -> bool:
    from dockharden.core.engine_gating import parse_version

    parsed = parse_version(version)
    return parsed is not None and parsed >= (23, 0)


def daemon_change(plan: Plan):
    """The plan's change of daemon.json that writes a file, or None."""
    return next((c for c in plan.changes if c.target == "daemon.json" and c.new.content), None)


def _stage(staging: Path, name: str, content: bytes, mode: int) -> Path:
    path = staging / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    return path


def staged_daemon_json(plan: Plan, root: str, staging: Path) -> bytes:
    """The new daemon.json with each file it names that the plan writes replaced by a staged copy
    (kept private: keys stay 0400), and, under a root other than /, existing ones seen from here."""
    config = parse_daemon_json(daemon_change(plan).new.content)
    written = {c.path: c.new for c in plan.changes if c.new.content is not None}
    for index, key in enumerate(STAGED_KEYS):
        value = config.get(key)
        if not isinstance(value, str) or not value.startswith("/"):
            continue
        if value in written:
            config[key] = str(_stage(staging, f"{index}-{Path(value).name}", written[value].content, 0o400))
        elif os.path.realpath(root) != "/":
            config[key] = str(HostFS(root).real(value))
    return serialize(config)


def refusal(plan: Plan, root: str, runner: Runner, staging: Path) -> str | None:
    """What dockerd --validate says against the planned daemon.json staged in `staging` (a private, empty
    directory the caller removes), or None when it accepts it or cannot run (no change, Engine before 23,
    no dockerd)."""
    if daemon_change(plan) is None or not has_validate(plan.engine_version) or not runner.which("dockerd"):
        return None
    probe = _stage(staging, "daemon.json", staged_daemon_json(plan, root, staging), 0o600)
    result = runner.run(["dockerd", "--validate", *without_config_file(plan.start_flags),
                         "--config-file", str(probe)], timeout=60)
    if result.ok or "unknown flag: --validate" in result.stderr:  # a dockerd older than the version planned for
        return None
    said = [line for line in result.stderr.strip().splitlines() if not INFO_LINE.search(line)]
    return " ".join(said) or result.stderr.strip()


def validate_planned(plan: Plan, root: str, runner: Runner) -> None:
    """`plan`'s check: dockerd --validate on the planned daemon.json, staged in a private temporary directory
    (0700, outside the root, removed afterwards); a refusal is a RenderError naming the file."""
    from dockharden.errors import RenderError

    if daemon_change(plan) is None or not has_validate(plan.engine_version) or not runner.which("dockerd"):
        return
    staging = Path(tempfile.mkdtemp(prefix="dockharden-validate-"))  # 0700
    try:
        said = refusal(plan, root, runner, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if said:
        raise RenderError(f"dockerd --validate refuses the planned file: {said}",
                          hint="fix the layer that sets the key it names (or the key in the operator's file); "
                               "nothing was written", path=daemon_change(plan).path)


def without_config_file(flags: tuple[str, ...]) -> list[str]:
    """`flags` without --config-file (both `--config-file F` and `--config-file=F`): the probe file replaces it."""
    kept, skip = [], False
    for flag in flags:
        if skip:
            skip = False
        elif flag == "--config-file":
            skip = True
        elif not flag.startswith("--config-file="):
            kept.append(flag)
    return kept
