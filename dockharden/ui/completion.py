"""Shell completion for bash and zsh: the scripts `dockharden completion SHELL` prints, and the answers the
shell asks dockharden for while an operator types.

Reads only what it completes from (the built-in profiles, the generations under --root). Click's
protocol, with Click 8.3's scripts (they complete files and directories; Typer's own drop that): the
script runs `dockharden` with _DOCKHARDEN_COMPLETE=bash_complete (or zsh_complete) and COMP_WORDS/
COMP_CWORD set, and dockharden answers instead of running a command. Only Typer's public API: the
command line's objects are walked through their public methods. Imported only then, or
for `completion`: a plan never loads it.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass

PROG = "dockharden"
VARIABLE = "_DOCKHARDEN_COMPLETE"
FUNCTION = "_dockharden_completion"
WHERE = {
    "bash": "/etc/bash_completion.d/dockharden (all users) or ~/.local/share/bash-completion/completions/dockharden",
    "zsh": "a directory on $fpath as _dockharden, e.g. /usr/local/share/zsh/site-functions/_dockharden",
}


@dataclass(frozen=True)
class Offer:
    """One answer to the shell: a value, or `dir`/`file` for the shell to list paths itself. Click's
    CompletionItem has the same three fields, so the command line's own offers (option and command names,
    a Literal's values) are read the same way."""

    value: str
    type: str = "plain"
    help: str | None = None


def script(shell: str) -> str:
    """The completion script for `shell`, to be saved where that shell loads completions (WHERE)."""
    source = SCRIPTS[shell] % {"complete_func": FUNCTION, "complete_var": VARIABLE, "prog_name": PROG}
    return f"# dockharden completion for {shell}: save as {WHERE[shell]}\n{source}"


def answer(command, environ: dict[str, str] | None = None) -> int:
    """Answer the shell's question in `environ` (_DOCKHARDEN_COMPLETE=bash_complete|zsh_complete|..._source)
    about `command`, the whole command line (typer.main.get_command of the app)."""
    environ = os.environ if environ is None else environ
    shell, _, instruction = environ[VARIABLE].partition("_")
    if shell not in SCRIPTS or instruction not in ("source", "complete"):
        return 1
    if instruction == "source":
        sys.stdout.write(script(shell) + "\n")
        return 0
    words = _split(environ.get("COMP_WORDS", ""))
    current = int(environ.get("COMP_CWORD", "0") or 0)
    incomplete = words[current] if current < len(words) else ""
    offers = offers_for(command, words[1:current], incomplete)
    sys.stdout.write("\n".join(FORMATS[shell](offer) for offer in offers) + "\n")
    return 0


def offers_for(command, words: list[str], incomplete: str) -> list:
    """What completes `incomplete` after `words` (the words typed so far, the program's name left out).

    Walks the command line as Click's own completion does, through the public methods of its objects:
    a group's subcommand by name (get_command), each command's options parsed leniently (make_context with
    resilient_parsing: values given so far, --root among them, are in ctx.params), then asks the option
    whose value is being typed, the first argument still missing, or the command (option and command
    names) for its offers (shell_complete)."""
    words = list(words)
    if incomplete == "=":
        incomplete = ""
    elif incomplete.startswith("--") and "=" in incomplete:
        name, _, incomplete = incomplete.partition("=")
        words.append(name)
    ctx = command.make_context(PROG, [], resilient_parsing=True)
    while hasattr(command, "get_command"):  # a group: follow the first word that names one of its commands
        names = [w for w in words if not w.startswith("-")]
        sub = command.get_command(ctx, names[0]) if names else None
        if sub is None:
            break
        words = words[words.index(names[0]) + 1:]
        ctx = sub.make_context(names[0], list(words), parent=ctx, resilient_parsing=True)
        command = sub
    options_ended = "--" in words
    if incomplete.startswith("-") and not options_ended:
        return list(command.shell_complete(ctx, incomplete))
    params = command.get_params(ctx)
    if words and not options_ended:
        for param in params:
            takes_value = param.param_type_name == "option" and not param.is_flag and not param.count
            if takes_value and words[-1] in param.opts:
                return _value_offers(param, ctx, incomplete)
    for param in params:
        source = ctx.get_parameter_source(param.name)
        if param.param_type_name == "argument" and getattr(source, "name", None) != "COMMANDLINE":
            return _value_offers(param, ctx, incomplete)
    return list(command.shell_complete(ctx, incomplete))


#: What a value is, by the metavar the command line shows for it: dir and file are listed by the shell
#: itself; profiles (also after a comma) and generation ids (under --root) are ours. Other values offer what
#: their type knows (a choice's words).
KINDS = {"DIR": "dir", "FILE": "file", "[FILE]": "file", "NAMES": "profiles", "ID": "generation"}


def _value_offers(param, ctx, incomplete: str) -> list:
    kind = KINDS.get(param.metavar or "")
    if kind is None:
        return list(param.shell_complete(ctx, incomplete))
    if kind in ("dir", "file"):
        return [Offer(incomplete, type=kind)]
    return [Offer(value) for value in _values(kind, ctx, incomplete)]


def _split(line: str) -> list[str]:
    """COMP_WORDS as the shell's words; an unclosed quote keeps the partial word (what is being typed)."""
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split, lexer.commenters = True, ""
    words: list[str] = []
    try:
        words.extend(lexer)
    except ValueError:
        words.append(lexer.token)
    return words


def _values(kind: str, ctx, incomplete: str) -> list[str]:
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


def _bash(offer) -> str:
    return f"{offer.type},{offer.value}"


def _zsh(offer) -> str:
    described = offer.help or "_"
    # _describe splits a described value at its first unescaped colon; compadd takes a plain one as is
    value = offer.value.replace(":", r"\:") if described != "_" else offer.value
    return f"{offer.type}\n{value}\n{described}"


SCRIPTS = {"bash": BASH_SCRIPT, "zsh": ZSH_SCRIPT}
FORMATS = {"bash": _bash, "zsh": _zsh}
