"""Shell completion for bash and zsh: the scripts `dockharden completion SHELL` prints, and the answers the
shell asks dockharden for while an operator types.

Reads only what it completes from (the built-in profiles, the generations under --root). Click's own
protocol: the script runs `dockharden` with _DOCKHARDEN_COMPLETE=bash_complete (or zsh_complete) and
COMP_WORDS/COMP_CWORD set, and dockharden answers instead of running a command. Imported only then, or
for `completion`: a plan never loads it.
"""

from __future__ import annotations

import os

import click
from click.shell_completion import BashComplete, CompletionItem, ZshComplete

PROG = "dockharden"
VARIABLE = "_DOCKHARDEN_COMPLETE"
SHELLS = {"bash": BashComplete, "zsh": ZshComplete}
WHERE = {
    "bash": "/etc/bash_completion.d/dockharden (all users) or ~/.local/share/bash-completion/completions/dockharden",
    "zsh": "a directory on $fpath as _dockharden, e.g. /usr/local/share/zsh/site-functions/_dockharden",
}


def script(command: click.Command, shell: str) -> str:
    """The completion script for `shell`, to be saved where that shell loads completions (WHERE)."""
    source = SHELLS[shell](command, {}, PROG, VARIABLE).source()
    return f"# dockharden completion for {shell}: save as {WHERE[shell]}\n{source}"


def answer(command: click.Command, environ: dict[str, str] | None = None) -> int:
    """Answer the shell's question in `environ` (_DOCKHARDEN_COMPLETE=bash_complete|zsh_complete|..._source)."""
    from click.shell_completion import shell_complete

    environ = os.environ if environ is None else environ
    return shell_complete(command, {}, PROG, VARIABLE, environ[VARIABLE])


def complete_value(kind: str, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
    """Completions of a value of `kind` (cli._Text): dir and file are listed by the shell itself; profiles
    (also after a comma) and generation ids (under --root) are ours."""
    if kind in ("dir", "file"):
        return [CompletionItem(incomplete, type=kind)]
    return [CompletionItem(value) for value in _values(kind, ctx, incomplete)]


def _values(kind: str, ctx: click.Context, incomplete: str) -> list[str]:
    if kind == "profiles":
        from dockharden.core.layers import builtin_profiles

        done, _, last = incomplete.rpartition(",")
        prefix = f"{done}," if done else ""
        chosen = set(done.split(",")) if done else set()
        return [prefix + name for name in builtin_profiles() if name.startswith(last) and name not in chosen]
    if kind == "generation":
        return [g.id for g in _generations(ctx.params.get("root") or "/") if g.id.startswith(incomplete)]
    return []


def _generations(root: str) -> list:
    from dockharden.host.state import list_generations

    try:
        return list(reversed(list_generations(root)))
    except OSError:
        return []
