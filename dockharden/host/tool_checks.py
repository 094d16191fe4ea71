"""Check rendered files with the host's own tools before they could be written.

Touches the machine (runs iptables-restore --test, nft -c). A check that cannot run (binary missing, not
root) becomes a note in the plan, never a silent pass. An offline root (an image, a chroot: a --root
other than /) is not checked by this machine's tools: their verdict is this machine's (its iptables, its
kernel's modules), not the image's, so the plan says the check was not run.
"""

from __future__ import annotations

from dockharden.errors import RenderError
from dockharden.host.root import is_running_system
from dockharden.host.runner import Runner
from dockharden.model import HostSnapshot, Note, RenderedFile
from dockharden.targets import nft_table, ufw_block

Call = tuple[tuple[str, ...], str]  # a tool's argument list and what it reads on its standard input
TIMEOUT = 20  # seconds for one check


def check_rendered(files: list[RenderedFile], host: HostSnapshot, runner: Runner) -> list[Note]:
    """Raise RenderError when a host tool rejects a rendered file; notes for checks that could not run.

    A file already on disk as rendered is not checked again (it was checked when it was written: a plan
    with nothing to change starts no process). The IPv4 and IPv6 blocks are tested at the same time: each
    check is a process start.
    """
    changed = [f for f in files if host.file(f.path).content != f.content]
    if not is_running_system(host.root):
        return [_not_this_machine(rendered) for rendered in changed if _tool_for(rendered)]
    calls, notes = _calls(changed, host)
    results = runner.run_all([call for call, _ in calls], timeout=TIMEOUT)
    for (_, (rendered, tool)), result in zip(calls, results, strict=True):
        notes += _judge(rendered, tool, result)
    return notes


def _tool_for(rendered: RenderedFile) -> str | None:
    """The tool that checks `rendered`, or None when no tool checks it."""
    if rendered.content is None:
        return None
    if rendered.target == "ufw":
        return "ip6tables-restore" if rendered.path == ufw_block.PATH_V6 else "iptables-restore"
    return "nft" if rendered.path == nft_table.PATH else None


def _not_this_machine(rendered: RenderedFile) -> Note:
    tool = _tool_for(rendered)
    how = "nft -c" if tool == "nft" else f"{tool} --test"
    return Note("info", f"{rendered.path} was not checked with {how}: on a --root other than / the verdict would "
                        f"be this machine's (its {tool.split('-')[0]} and kernel), not the image's, whose own "
                        f"{'nft' if tool == 'nft' else 'ufw'} loads the file at boot")


def _calls(files: list[RenderedFile], host: HostSnapshot) -> tuple[list[tuple[Call, tuple[RenderedFile, str]]],
                                                                   list[Note]]:
    """The tool calls that check `files`, each with its file and tool; notes for checks that cannot run."""
    notes: list[Note] = []
    calls = []
    for rendered in files:
        tool = _tool_for(rendered)
        if tool is None:
            continue
        if tool not in host.tools:
            notes.append(Note("warning", f"nft is not installed: {rendered.path} was not checked (`nft -c`)"
                              if tool == "nft" else
                              f"{tool} is not installed: the DOCKER-USER block in {rendered.path} was not tested"))
        elif tool == "nft":  # `nft -c` parses and checks the whole transaction with the kernel, loads nothing
            calls.append((((host.tools["nft"], "-c", "-f", "-"), rendered.content.decode()), (rendered, "nft")))
        else:
            calls.append((((host.tools[tool], "--test", "--noflush"), managed_block(rendered)), (rendered, tool)))
    return calls, notes


def managed_block(rendered: RenderedFile) -> str:
    lines = ufw_block.split_lines(rendered.content.decode("utf-8", errors="replace"))
    span = ufw_block.find_block(lines, path=rendered.path)
    return "".join(line.rstrip("\r\n") + "\n" for line in lines[span[0]:span[1] + 1]) if span else ""


def _judge(rendered: RenderedFile, tool: str, result) -> list[Note]:
    if result.ok:
        return []
    if tool == "nft":
        if "Operation not permitted" in result.stderr:
            return [Note("warning", f"nft -c needs root (CAP_NET_ADMIN): {rendered.path} was not checked")]
        raise RenderError(f"nft -c rejects the nftables table: {result.stderr.strip()}",
                          hint="check nftables.allow_sources, allow_ports and container_networks in your layers "
                               "(nothing was written)", path=rendered.path)
    if "Permission denied" in result.stderr or "must be root" in result.stderr:
        return [Note("warning", f"{tool} --test needs root: the DOCKER-USER block was not tested")]
    raise RenderError(f"{tool} --test rejects the managed DOCKER-USER block: {result.stderr.strip()}",
                      hint="check ufw.allow_sources, allow_ports and container_networks in your layers",
                      path=rendered.path)
