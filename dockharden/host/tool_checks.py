"""Check rendered files with the host's own tools before they could be written.

Touches the machine (runs iptables-restore --test). A check that cannot run (binary missing, not
root) becomes a note in the plan, never a silent pass.
"""

from __future__ import annotations

import threading

from dockharden.errors import RenderError
from dockharden.host.runner import Result, Runner
from dockharden.model import HostSnapshot, Note, RenderedFile
from dockharden.targets import nft_table, ufw_block

Call = tuple[tuple[str, ...], str]  # a tool's argument list and what it reads on its standard input
TIMEOUT = 20  # seconds for one check


class EarlyChecks:
    """Checks started before the plan is assembled, in a thread (the tool takes 5 to 30 ms, about as long
    as the assembly): check_rendered takes the result of each call it would make with the same input. A
    plan that fails before then leaves the thread to end by itself (a daemon thread; a --test changes nothing)."""

    def __init__(self, files: list[RenderedFile], host: HostSnapshot, runner: Runner) -> None:
        self.calls = [call for call, _ in _calls(files, host)[0]]
        self._results: dict[Call, Result] = {}
        self._thread = threading.Thread(target=self._run, args=(runner,), name="dockharden-early-checks",
                                        daemon=True)
        if self.calls:
            self._thread.start()

    def _run(self, runner: Runner) -> None:
        self._results = dict(zip(self.calls, runner.run_all(self.calls, timeout=TIMEOUT), strict=True))

    def results(self) -> dict[Call, Result]:
        if self.calls:
            self._thread.join()
        return self._results



def check_rendered(files: list[RenderedFile], host: HostSnapshot, runner: Runner, *,
                   early: EarlyChecks | None = None) -> list[Note]:
    """Raise RenderError when a host tool rejects a rendered file; notes for checks that could not run.

    The IPv4 and IPv6 blocks are tested at the same time: each check is a process start. A call `early`
    already made with the same input is not made again.
    """
    calls, notes = _calls(files, host)
    done = early.results() if early else {}
    left = [call for call, _ in calls if call not in done]
    done = {**done, **dict(zip(left, runner.run_all(left, timeout=TIMEOUT), strict=True))}
    for call, (rendered, tool) in calls:
        notes += _judge(rendered, tool, done[call])
    return notes


def _calls(files: list[RenderedFile], host: HostSnapshot) -> tuple[list[tuple[Call, tuple[RenderedFile, str]]],
                                                                   list[Note]]:
    """The tool calls that check `files`, each with its file and tool; notes for checks that cannot run."""
    notes: list[Note] = []
    calls = []
    for rendered in files:
        if rendered.target == "ufw" and rendered.content is not None:
            tool = "ip6tables-restore" if rendered.path == ufw_block.PATH_V6 else "iptables-restore"
            if tool in host.tools:
                calls.append((((host.tools[tool], "--test", "--noflush"), managed_block(rendered)), (rendered, tool)))
            else:
                notes.append(Note("warning", f"{tool} is not installed: the DOCKER-USER block in "
                                             f"{rendered.path} was not tested"))
        elif rendered.path == nft_table.PATH and rendered.content is not None:
            if "nft" in host.tools:  # `nft -c` parses and checks the whole transaction with the kernel, loads nothing
                calls.append((((host.tools["nft"], "-c", "-f", "-"), rendered.content.decode()), (rendered, "nft")))
            else:
                notes.append(Note("warning", f"nft is not installed: {rendered.path} was not checked (`nft -c`)"))
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
