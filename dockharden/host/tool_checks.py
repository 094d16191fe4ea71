"""Check rendered files with the host's own tools before they could be written.

Touches the machine (runs iptables-restore --test). A check that cannot run (binary missing, not
root) becomes a note in the plan, never a silent pass.
"""

from __future__ import annotations

from dockharden.errors import RenderError
from dockharden.host.runner import Runner
from dockharden.model import HostSnapshot, Note, RenderedFile
from dockharden.targets import ufw_block


def check_rendered(files: list[RenderedFile], host: HostSnapshot, runner: Runner) -> list[Note]:
    """Raise RenderError when a host tool rejects a rendered file; notes for checks that could not run.

    The IPv4 and IPv6 blocks are tested at the same time: each check is a process start.
    """
    notes: list[Note] = []
    calls = []
    for rendered in files:
        if rendered.target == "ufw" and rendered.content is not None:
            tool = "ip6tables-restore" if rendered.path == ufw_block.PATH_V6 else "iptables-restore"
            if tool in host.tools:
                calls.append((rendered, tool))
            else:
                notes.append(Note("warning", f"{tool} is not installed: the DOCKER-USER block in "
                                             f"{rendered.path} was not tested"))
    results = runner.run_all([([host.tools[tool], "--test", "--noflush"], managed_block(rendered))
                              for rendered, tool in calls], timeout=20)
    for (rendered, tool), result in zip(calls, results, strict=True):
        notes += _judge(rendered, tool, result)
    return notes


def managed_block(rendered: RenderedFile) -> str:
    lines = ufw_block.split_lines(rendered.content.decode("utf-8", errors="replace"))
    span = ufw_block.find_block(lines, path=rendered.path)
    return "".join(line.rstrip("\r\n") + "\n" for line in lines[span[0]:span[1] + 1]) if span else ""


def _judge(rendered: RenderedFile, tool: str, result) -> list[Note]:
    if result.ok:
        return []
    if "Permission denied" in result.stderr or "must be root" in result.stderr:
        return [Note("warning", f"{tool} --test needs root: the DOCKER-USER block was not tested")]
    raise RenderError(f"{tool} --test rejects the managed DOCKER-USER block: {result.stderr.strip()}",
                      hint="check ufw.allow_sources, allow_ports and container_networks in your layers",
                      path=rendered.path)
