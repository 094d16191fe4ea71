#!/usr/bin/env python3
"""Write docs/man/dockharden.1 from the command line itself (dockharden/ui/manpage.py).

Run after changing a command, an option or a help text; tests/cli/test_completion_and_man.py fails while
the page is not current.

    python3 scripts/make-man.py          # then: man -l docs/man/dockharden.1
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "man" / "dockharden.1"


def generate() -> str:
    sys.path.insert(0, str(REPO))
    import typer

    from dockharden import __version__
    from dockharden.cli import app
    from dockharden.ui.manpage import render

    return render(typer.main.get_command(app), __version__)


if __name__ == "__main__":
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(generate())
    print(f"wrote {PAGE}")
