"""The one writer of systemd unit text: every unit and drop-in dockharden writes (the prune layer's service
and timer, `schedule install`'s service and timer, the tls layer's docker.service drop-in, the nftables
layer's boot unit) puts its
ExecStart lines and its settings through here.

Pure. Quoting follows systemd.syntax(7) and systemd.service(5): an argument is bare when it holds only
plain characters, else double-quoted with `\\` and `"` escaped; `%` (specifiers) is written `%%` and `$`
(variables) `$$`, so systemd expands nothing dockharden did not mean. A setting's value is one line of
printable text: a line break would start a new setting or section, so it is refused (ValueError), never
written. Values reach here already checked for their meaning (core/values.py); this is the last guard.
"""

from __future__ import annotations

import re

_PLAIN = r"[A-Za-z0-9_./:=+,@!-]+"
_VARIABLE = r"\$(?:[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z_][A-Za-z0-9_]*\})"


def one_line(value: str, what: str = "a unit setting") -> str:
    """`value` unchanged when it is one line of printable text; ValueError otherwise."""
    if not isinstance(value, str) or not value.isprintable():
        raise ValueError(f"{value!r} holds a line break or control character: it cannot be {what}")
    return value


def quote(arg: str, *, verbatim: bool = False) -> str:
    """One ExecStart argument as systemd reads it back as exactly `arg`.

    `verbatim`: `arg` was read from a unit file (the unit's own ExecStart, kept in a drop-in), so its `%`
    and `$` are already in unit syntax and a whole-word `$VAR` stays a variable systemd splits."""
    one_line(arg, "one ExecStart argument")
    if verbatim and re.fullmatch(_VARIABLE, arg):
        return arg
    text = arg if verbatim else arg.replace("%", "%%").replace("$", "$$")
    if arg and re.fullmatch(_PLAIN, arg):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exec_line(argv, *, verbatim: bool = False) -> str:
    """An ExecStart= value: the absolute program and its arguments, each quoted for systemd."""
    argv = list(argv)
    if not argv or not (verbatim or str(argv[0]).startswith("/")):
        raise ValueError(f"{argv!r}: an ExecStart line starts with an absolute program path")
    return " ".join(quote(str(a), verbatim=verbatim) for a in argv)


def setting(key: str, value: str) -> str:
    """`Key=value`, the value one printable line."""
    return f"{key}={one_line(value, f'the value of {key}=')}"
