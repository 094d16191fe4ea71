"""Check rendered files with the host's own tools before they could be written.

Touches the machine (runs iptables-restore --test). A check that cannot run (binary missing, not
root) becomes a note in the plan, never a silent pass.
"""

from __future__ import annotations

from dockharden.errors import RenderError
from dockharden.model import HostSnapshot, Note, RenderedFile
from dockharden.runner import Runner
from dockharden.targets import ufw_block


def check_rendered(files: list[RenderedFile], host: HostSnapshot, runner: Runner) -> list[Note]:
    """Raise RenderError when a host tool rejects a rendered file; notes for checks that could not run."""
    notes: list[Note] = []
    for rendered in files:
        if rendered.target == "ufw" and rendered.content is not None:
            notes += _check_firewall_block(rendered, host, runner)
    return notes


def _check_firewall_block(rendered: RenderedFile, host: HostSnapshot, runner: Runner) -> list[Note]:
    tool = "ip6tables-restore" if rendered.path == ufw_block.PATH_V6 else "iptables-restore"
    if tool not in host.tools:
        return [Note("warning", f"{tool} is not installed: the DOCKER-USER block in {rendered.path} was not "
                                "tested")]
    text = rendered.content.decode("utf-8", errors="replace")
    lines = text.splitlines()
    span = ufw_block.find_block([line + "\n" for line in lines], path=rendered.path)
    block = "\n".join(lines[span[0]:span[1] + 1]) + "\n" if span else ""
    result = runner.run([host.tools[tool], "--test", "--noflush"], input=block, timeout=20)
    if result.ok:
        return []
    if "Permission denied" in result.stderr or "must be root" in result.stderr:
        return [Note("warning", f"{tool} --test needs root: the DOCKER-USER block was not tested")]
    raise RenderError(f"{tool} --test rejects the managed DOCKER-USER block: {result.stderr.strip()}",
                      hint="check ufw.allow_sources, allow_ports and container_networks in your layers",
                      path=rendered.path)
