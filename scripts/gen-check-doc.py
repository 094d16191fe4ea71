#!/usr/bin/env python3
"""Write the control tables of docs/check.md from dockharden/benchmarks (tests/unit/test_check_doc.py
fails when they differ)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dockharden.inspect.benchmarks.markdown import replace_generated  # noqa: E402

doc = ROOT / "docs/check.md"
doc.write_text(replace_generated(doc.read_text()))
