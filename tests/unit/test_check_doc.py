"""docs/check.md lists each version's controls exactly as the tables hold them."""

from pathlib import Path

from dockharden.inspect.benchmarks import VERSIONS, benchmark
from dockharden.inspect.benchmarks.markdown import BEGIN, END, controls_markdown

DOC = Path(__file__).resolve().parents[2] / "docs/check.md"


def test_the_control_tables_in_docs_check_md_are_generated_from_the_benchmark_tables():
    text = DOC.read_text()
    generated = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert generated == "\n" + controls_markdown(), "run scripts/gen-check-doc.py"


def test_every_row_of_every_version_appears_in_the_doc_with_its_title_level_and_assessment():
    text = DOC.read_text()
    for version in VERSIONS:
        table = benchmark(version)
        section = text.split(f"### {table.name}", 1)[1].split("### ", 1)[0]
        for row in table.rows:
            assert f"| {row.id} | {row.title} | {row.level} | {row.assessment} | `{row.key}` |" in section
