"""The man page dockharden(1), generated from the command line itself: every command with its help, its
options as `-h` shows them, and its exit statuses.

Pure: returns roff text. `scripts/make-man.py` writes it to docs/man/dockharden.1, and a test fails when
that file is not what the command line says now. Never imported by a command.
"""

from __future__ import annotations

from typer import Context  # Click's Context as Typer gives it (its own copy of Click since 0.26)
from typer.core import TyperCommand as Command
from typer.core import TyperGroup as Group

SECTIONS = {
    "FILES": [
        ("/etc/docker/daemon.json", "the daemon's configuration: the layers' keys merged over the operator's"),
        ("/etc/audit/rules.d/docker.rules", "audit watches of the CIS 1.1.x paths"),
        ("/etc/ufw/after.rules, /etc/ufw/after6.rules", "the DOCKER-USER block, between dockharden's markers"),
        ("/etc/docker/seccomp/default.json", "the generated seccomp profile"),
        ("/etc/dockharden/dockharden.toml", "this host's layer selection, [service] and [docker]"),
        ("/var/lib/dockharden/", "generations (backups and journal), managed.json and the lock"),
    ],
    "ENVIRONMENT": [
        ("NO_COLOR", "when set and not empty, no colour (unless --color)"),
        ("TERM", "dumb: no colour, and plain progress lines instead of a live line"),
        ("DOCKER_HOST", "the daemon's unix socket (unix:// only), unless [docker] host is set"),
        ("DOCKHARDEN_NO_FAST_EXIT", "set and not 0: the process ends the ordinary way (Python's teardown, atexit "
                                    "callbacks), not with os._exit once its output is flushed"),
        ("_DOCKHARDEN_COMPLETE", "set by the completion scripts when the shell asks what to complete"),
    ],
}
DESCRIPTION_MORE = ("A saved plan (plan --out FILE) is applied exactly by apply FILE, or refused, naming what "
                    "changed, when the host no longer matches it; it is written mode 0600 and holds the private "
                    "keys it creates. The full guide is docs/user-guide.md.")


def render(group: Group, version: str) -> str:
    """The whole page for `group` (the dockharden command) at `version`."""
    top = Context(group, info_name="dockharden", help_option_names=["-h", "--help"])
    lines = [f'.TH DOCKHARDEN 1 "" "dockharden {version}" "User Commands"',
             ".SH NAME", r"dockharden \- harden a Docker host idempotently and safely",
             ".SH SYNOPSIS", r".B dockharden", r"[\fB\-\-version\fR] [\fB\-h\fR] \fICOMMAND\fR [\fIOPTIONS\fR]",
             ".SH DESCRIPTION", *_paragraphs(group.help or ""), ".PP", _text(DESCRIPTION_MORE),
             ".PP", _text(group.epilog or ""), ".SH COMMANDS"]
    for name in group.list_commands(top):
        lines += _command(group.get_command(top, name), name, top)
    for section, rows in SECTIONS.items():
        lines.append(f".SH {section}")
        for term, text in rows:
            lines += [".TP", rf"\fB{_text(term)}\fR", _text(text)]
    lines += [".SH SEE ALSO", r"\fBdocker\fR(1), \fBdockerd\fR(8), \fBauditctl\fR(8), \fBufw\fR(8)"]
    return "\n".join(lines) + "\n"


def _command(command: Command, name: str, parent: Context) -> list[str]:
    ctx = Context(command, info_name=name, parent=parent, help_option_names=["-h", "--help"])
    usage = " ".join(command.collect_usage_pieces(ctx))
    lines = [f'.SS "dockharden {name} {_text(usage)}"', *_paragraphs(command.help or "")]
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record:
            lines += [".TP", rf"\fB{_text(record[0])}\fR", _text(record[1])]
    if command.epilog:
        lines += [".PP", _text(command.epilog)]
    return lines


def _paragraphs(text: str) -> list[str]:
    lines = []
    for paragraph in (p for p in text.split("\n\n") if p.strip()):
        lines += [".PP", _text(" ".join(paragraph.split()))]
    return lines[1:] if lines else []


def _text(text: str) -> str:
    """`text` safe in roff: backslashes, hyphens of options, a leading dot or quote."""
    text = text.replace("\\", r"\e").replace("-", r"\-")
    return ("\\&" + text) if text[:1] in (".", "'") else text
