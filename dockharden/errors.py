"""Typed errors. Each carries a message, a hint and an exit status; only cli.py turns them into exits.

Pure: no I/O. A user never sees a traceback for bad input: every expected failure is one of these.
"""

from __future__ import annotations


class DockhardenError(Exception):
    """An expected failure, explained to the operator in one paragraph."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "", *, path: str = "", key: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = path
        self.key = key

    def paragraph(self) -> str:
        """The whole explanation as one paragraph: where, what, and how to fix it."""
        where = self.path
        if self.key:
            where = f"{where}, key `{self.key}`" if where else f"key `{self.key}`"
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text = f"{text.rstrip('.')}. Hint: {self.hint}"
        return text

    def __str__(self) -> str:
        return self.paragraph()


class LayerError(DockhardenError):
    """A layer file cannot be found, parsed or validated."""


class HostFileError(DockhardenError):
    """A file on the host (daemon.json, after.rules, ...) cannot be read or understood."""


class SchemaError(DockhardenError):
    """A value does not match the daemon.json or layer schema."""


class ConflictError(DockhardenError):
    """The merged settings contradict each other or how the daemon runs."""


class RenderError(DockhardenError):
    """A rendered file failed its own validation (iptables-restore --test, audit syntax, ...)."""


class ApplyError(DockhardenError):
    """Applying a plan failed; the host was restored."""


class LockError(DockhardenError):
    """Another dockharden run holds the lock."""


class StateError(DockhardenError):
    """dockharden's own state (a generation record, managed.json) is damaged: cut short or edited by hand."""
