"""The counts the guarantees page states, so that a test can compare them with its corpus.

``docs/guarantees.md`` has a table of what was tried (its section "What was tried"): one row
per test, the test's name in backquotes, the number of cases in the second column. A test
asserts that the number stated is the number of cases it has, so the page never drifts.
The counts in its prose are found by :func:`figures`, a pattern around them.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ("figures", "stated")

GUARANTEES = Path(__file__).resolve().parent.parent / "docs" / "guarantees.md"
#: A pattern's ``#`` stands for one count as the page writes it (``1,381``).
_COUNT = r"(\d[\d,]*)"


def figures(pattern: str, page: Path = GUARANTEES) -> list[int]:
    """The counts a sentence of ``page`` states, each ``#`` of ``pattern`` one of them.

    ``pattern`` is the sentence's words as a regular expression (whitespace matches any line
    break); it must occur exactly once, so that a changed sentence fails loudly.
    """
    text = re.sub(r"\s+", " ", page.read_text("utf-8"))
    regex = re.sub(r"\\? ", r"\\s+", pattern).replace("#", _COUNT)
    found = re.findall(regex, text)
    assert len(found) == 1, f"{page.name}: {len(found)} matches for {pattern!r}"
    groups = found[0] if isinstance(found[0], tuple) else (found[0],)
    return [int(group.replace(",", "")) for group in groups]


def stated(test: str) -> int:
    """The number of cases the table of what was tried states for ``test``."""
    text = GUARANTEES.read_text("utf-8")
    section = text.split("\n## What was tried\n", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and any(f"`{test}`" in cell for cell in cells[2:]):
            return int(cells[1].replace(",", ""))
    raise AssertionError(f"docs/guarantees.md states no count for {test}")
