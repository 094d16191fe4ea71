"""Docker Engine release lines: which are end of life, and the latest patch of each known to this
release of dockharden. Pure data and a pure verdict for CIS 1.2.2 ("the version of Docker is up to date").

Compiled from Docker's release notes (docs.docker.com/engine/release-notes/, one page per line; 29.0.0
came out on 2025-11-10, which ended line 28) and Docker's statement that it publishes packages only for
maintained lines (moby/moby discussion #47328: "Docker no longer publishes updated docker-ce packages
for the 23.0 release"). Line 29's latest patch is the newest tag this release was checked against
(moby/moby docker-v29.7.2; a host on a later 29.x patch passes). The end-of-life lines' last patches
decide nothing (an end-of-life line fails whatever its patch) and are shown as evidence only.
A line missing here that is older than every line listed is end of life too; one newer than every
line is newer than this table, and the verdict says so instead of guessing. Update the table (and
KNOWN_AS_OF) with each dockharden release.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockharden.core.engine_gating import parse_version

KNOWN_AS_OF = "2026-10-01"
SOURCE = "Docker Engine release notes, docs.docker.com/engine/release-notes/"


@dataclass(frozen=True)
class Line:
    line: str                 # "20.10", "26.1", "29"
    end_of_life: bool
    latest: str | None        # the latest patch known at KNOWN_AS_OF (None: not recorded, the line is EOL)
    note: str = ""


LINES: tuple[Line, ...] = (
    Line("20.10", True, "20.10.27", "since December 2023"),
    Line("23.0", True, None, "Docker publishes no packages for it"),
    Line("24.0", True, "24.0.9"),
    Line("25.0", True, None),
    Line("26.0", True, "26.0.2"),
    Line("26.1", True, "26.1.5"),
    Line("27", True, "27.5.1"),
    Line("28", True, "28.5.2", "since 29.0.0 (2025-11-10)"),
    Line("29", False, "29.7.2"),
)


def _line_of(version: tuple[int, ...]) -> Line | None:
    for line in LINES:
        wanted = tuple(int(p) for p in line.line.split("."))
        if version[:len(wanted)] == wanted:
            return line
    return None


def _full(text: str) -> tuple[int, ...] | None:
    """'20.10.24+dfsg1' -> (20, 10, 24); None when it does not start with a version."""
    parts = []
    for part in text.split("+")[0].split("-")[0].split(".")[:3]:
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts) if len(parts) >= 2 else None


def verdict(server_version: str | None) -> tuple[str, str]:
    """("pass" | "fail" | "info" | "not_verifiable", evidence) for the Engine the daemon reports."""
    if not server_version:
        return "not_verifiable", "the daemon does not answer: its version is unknown"
    version = _full(server_version)
    if version is None or parse_version(server_version) is None:
        return "info", f"Engine {server_version}: not a version dockharden can compare"
    known = f"(dockharden's table of Engine lines, {KNOWN_AS_OF})"
    line = _line_of(version)
    newest = max(LINES, key=lambda entry: _full(entry.line + ".0") or ())
    if line is None and version > (_full(newest.line + ".0") or ()):
        return "info", f"Engine {server_version} is newer than every line dockharden knows {known}"
    if line is None or line.end_of_life:
        maintained = ", ".join(entry.line for entry in LINES if not entry.end_of_life)
        note = f" {line.note}" if line and line.note else ""
        backport = " (a distribution's package may carry backported fixes; the line still gets none upstream)"
        return "fail", (f"Engine {server_version}: line {line.line if line else server_version.rsplit('.', 1)[0]} "
                        f"is end of life{note}; maintained: {maintained}{backport} {known}")
    latest = _full(line.latest or "")
    if latest and version < latest:
        return "fail", f"Engine {server_version} is behind {line.latest}, the latest patch of line {line.line} {known}"
    return "pass", f"Engine {server_version} is the latest patch known of maintained line {line.line} {known}"
