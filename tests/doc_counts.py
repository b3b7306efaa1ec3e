"""The counts the guarantees page states, so that a test can compare them with its corpus.

``docs/guarantees.md`` has a table of what was tried (its section "What was tried"): one row
per test, the test's name in backquotes, the number of cases in the second column. A test
asserts that the number stated is the number of cases it has, so the page never drifts.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ("stated",)

GUARANTEES = Path(__file__).resolve().parent.parent / "docs" / "guarantees.md"


def stated(test: str) -> int:
    """The number of cases the table of what was tried states for ``test``."""
    text = GUARANTEES.read_text("utf-8")
    section = text.split("\n## What was tried\n", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and any(f"`{test}`" in cell for cell in cells[2:]):
            return int(cells[1].replace(",", ""))
    raise AssertionError(f"docs/guarantees.md states no count for {test}")
