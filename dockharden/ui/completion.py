"""Shell completion for bash and zsh: the scripts `dockharden completion SHELL` prints, and the answers the
shell asks dockharden for while an operator types.

Reads only what it completes from (the built-in profiles, the generations under --root). Click's own
protocol: the script runs `dockharden` with _DOCKHARDEN_COMPLETE=bash_complete (or zsh_complete) and
COMP_WORDS/COMP_CWORD set, and dockharden answers instead of running a command. Imported only then, or
for `completion`: a plan never loads it.
"""

from __future__ import annotations

import os
import sys

# typer's own copy of Click: the command line is built of its classes. It keeps Click's completion machinery
# (ShellComplete resolves what is being completed) but not Click's bash and zsh scripts, and typer's own
# scripts drop the file and directory completion Click's have: those two classes are Click 8.3's, below.
from typer._click.core import Command, Context
from typer._click.shell_completion import CompletionItem, ShellComplete, split_arg_string

PROG = "dockharden"
VARIABLE = "_DOCKHARDEN_COMPLETE"
WHERE = {
    "bash": "/etc/bash_completion.d/dockharden (all users) or ~/.local/share/bash-completion/completions/dockharden",
    "zsh": "a directory on $fpath as _dockharden, e.g. /usr/local/share/zsh/site-functions/_dockharden",
}


def script(command: Command, shell: str) -> str:
    """The completion script for `shell`, to be saved where that shell loads completions (WHERE)."""
    source = SHELLS[shell](command, {}, PROG, VARIABLE).source()
    return f"# dockharden completion for {shell}: save as {WHERE[shell]}\n{source}"


def answer(command: Command, environ: dict[str, str] | None = None) -> int:
    """Answer the shell's question in `environ` (_DOCKHARDEN_COMPLETE=bash_complete|zsh_complete|..._source)."""
    environ = os.environ if environ is None else environ
    shell, _, instruction = environ[VARIABLE].partition("_")
    if shell not in SHELLS or instruction not in ("source", "complete"):
        return 1
    completer = SHELLS[shell](command, {}, PROG, VARIABLE, environ)
    sys.stdout.write((completer.source() if instruction == "source" else completer.complete()) + "\n")
    return 0


def complete_value(kind: str, ctx: Context, incomplete: str) -> list[CompletionItem]:
    """Completions of a value of `kind` (cli._Text): dir and file are listed by the shell itself; profiles
    (also after a comma) and generation ids (under --root) are ours."""
    if kind in ("dir", "file"):
        return [CompletionItem(incomplete, type=kind)]
    return [CompletionItem(value) for value in _values(kind, ctx, incomplete)]


def _values(kind: str, ctx: Context, incomplete: str) -> list[str]:
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


# Click's bash and zsh completion (Click 8.3, BSD-3-Clause, (c) Pallets), with the environment passed in.
BASH_SCRIPT = """\
%(complete_func)s() {
    local IFS=$'\\n'
    local response

    response=$(env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD=$COMP_CWORD \
%(complete_var)s=bash_complete $1)

    for completion in $response; do
        IFS=',' read type value <<< "$completion"

        if [[ $type == 'dir' ]]; then
            COMPREPLY=()
            compopt -o dirnames
        elif [[ $type == 'file' ]]; then
            COMPREPLY=()
            compopt -o default
        elif [[ $type == 'plain' ]]; then
            COMPREPLY+=($value)
        fi
    done

    return 0
}

%(complete_func)s_setup() {
    complete -o nosort -F %(complete_func)s %(prog_name)s
}

%(complete_func)s_setup;
"""

ZSH_SCRIPT = """\
#compdef %(prog_name)s

%(complete_func)s() {
    local -a completions
    local -a completions_with_descriptions
    local -a response
    (( ! $+commands[%(prog_name)s] )) && return 1

    response=("${(@f)$(env COMP_WORDS="${words[*]}" COMP_CWORD=$((CURRENT-1)) \
%(complete_var)s=zsh_complete %(prog_name)s)}")

    for type key descr in ${response}; do
        if [[ "$type" == "plain" ]]; then
            if [[ "$descr" == "_" ]]; then
                completions+=("$key")
            else
                completions_with_descriptions+=("$key":"$descr")
            fi
        elif [[ "$type" == "dir" ]]; then
            _path_files -/
        elif [[ "$type" == "file" ]]; then
            _path_files -f
        fi
    done

    if [ -n "$completions_with_descriptions" ]; then
        _describe -V unsorted completions_with_descriptions -U
    fi

    if [ -n "$completions" ]; then
        compadd -U -V unsorted -a completions
    fi
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    # autoload from fpath, call function directly
    %(complete_func)s "$@"
else
    # eval/source/. command, register function for later
    compdef %(complete_func)s %(prog_name)s
fi
"""


class _Shell(ShellComplete):
    def __init__(self, cli: Command, ctx_args, prog_name: str, complete_var: str, environ=None) -> None:
        super().__init__(cli, ctx_args, prog_name, complete_var)
        self.environ = os.environ if environ is None else environ

    def source_vars(self) -> dict[str, str]:
        return {"complete_func": self.func_name, "complete_var": self.complete_var, "prog_name": self.prog_name}

    def get_completion_args(self) -> tuple[list[str], str]:
        words = split_arg_string(self.environ["COMP_WORDS"])
        current = int(self.environ["COMP_CWORD"])
        return words[1:current], words[current] if current < len(words) else ""


class BashComplete(_Shell):
    name = "bash"
    source_template = BASH_SCRIPT

    def format_completion(self, item: CompletionItem) -> str:
        return f"{item.type},{item.value}"


class ZshComplete(_Shell):
    name = "zsh"
    source_template = ZSH_SCRIPT

    def format_completion(self, item: CompletionItem) -> str:
        described = item.help or "_"
        # _describe splits a described value at its first unescaped colon; compadd takes a plain one as is
        value = item.value.replace(":", r"\:") if described != "_" else item.value
        return f"{item.type}\n{value}\n{described}"


SHELLS = {"bash": BashComplete, "zsh": ZshComplete}
