"""The figures of ``docs/benchmarks.md`` are those of the runs it says they are from.

The page is tables of measured figures; what it promises is that each figure is what a kept run
(``benchmarks/results-*``) printed. These tests recompute the workload tables from the kept
results (``bench_workloads.py --from FILE --markdown``) and find every row of the user-data
tables in the kept output of ``bench_persistence.py``, so an edited or mistyped figure fails.
"""

from __future__ import annotations

import re
import subprocess
import sys

from promises import ROOT, Promise

PAGE = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "benchmarks"
HERE = "tests/test_promises_benchmarks.py"


def section(start: str, end: str) -> str:
    """The page's text from the heading ``start`` to the heading ``end``."""
    return PAGE.read_text("utf-8").split(f"\n{start}\n", 1)[1].split(f"\n{end}\n", 1)[0]


def table_rows(text: str) -> list[str]:
    """The body rows of the Markdown tables in ``text`` (no header or rule rows)."""
    lines = [line.strip() for line in text.splitlines()]
    return [
        line
        for line, after in zip(lines, [*lines[1:], ""], strict=True)
        if line.startswith("| ") and "---" not in line and "---" not in after
    ]


def test_the_workload_tables_are_the_kept_runs() -> None:
    printed: set[str] = set()
    for run in ("after", "watch"):
        done = subprocess.run(
            [
                sys.executable,
                str(RESULTS / "bench_workloads.py"),
                "--from",
                str(RESULTS / f"results-workloads-2026-12-03-{run}.json"),
                "--markdown",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        printed.update(line.strip() for line in done.stdout.splitlines())
    rows = table_rows(section("### Results", "### Targets of these workloads"))
    assert len(rows) > 80  # every workload, size and kind
    assert [row for row in rows if row not in printed] == []


def test_the_user_data_tables_are_the_kept_run() -> None:
    kept = [line.split() for line in (RESULTS / "results-2026-12-03.txt").read_text().splitlines()]
    rows = table_rows(section("### Update rounds", "## Targets"))
    assert len(rows) > 100
    for row in rows:
        if not re.match(r"\| [\d,]+ \|", row):
            continue  # the round's parts: measured apart, see the page
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        size = cells[0].replace(",", "")
        figures = [c.replace(",", "") for c in cells[1:] if re.fullmatch(r"[\d.,/]+x?", c)]
        assert any(line[:1] == [size] and all(f in line for f in figures) for line in kept), row


def test_the_instruction_counts_are_the_kept_run() -> None:
    kept = (RESULTS / "results-instructions-2026-12-03.txt").read_text().splitlines()
    shown = section(
        "### Against the code before the one-line-per-entry format, in instructions",
        "## The codec",
    )
    rows = table_rows(shown)
    assert len(rows) == 2
    for row, line in zip(rows, kept[1:], strict=True):
        figures = [cell.strip().replace(",", "") for cell in row.strip("|").split("|")[1:]]
        assert re.findall(r"(?:load|K=[\d,]+) ([\d.]+)", line) == figures, row


PROMISES = [
    Promise(
        "docs/benchmarks.md",
        "the results, for `--compare` and the plots, "
        "`benchmarks/results-workloads-2026-12-03-after.json`",
        (f"{HERE}::test_the_workload_tables_are_the_kept_runs",),
    ),
    Promise(
        "docs/benchmarks.md",
        "`benchmarks/results-2026-12-03.txt` in the repository",
        (f"{HERE}::test_the_user_data_tables_are_the_kept_run",),
    ),
    Promise(
        "docs/benchmarks.md",
        "Millions of instructions per operation at N = 10,000 users (output kept in "
        "`benchmarks/results-instructions-2026-12-03.txt`)",
        (f"{HERE}::test_the_instruction_counts_are_the_kept_run",),
    ),
]
