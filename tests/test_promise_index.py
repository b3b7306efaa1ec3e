"""Every promise listed in ``tests/test_promises_*.py`` is still on its page, and every test
named as its proof exists (see ``tests/promises.py``)."""

from __future__ import annotations

import pytest
from promises import ROOT, Promise, all_promises, defined_tests, normalized

PROMISES = all_promises()


def _id(promise: Promise) -> str:
    return f"{promise.page}: {normalized(promise.quote)[:60]}"


def test_there_are_promises_for_the_readme_and_every_page() -> None:
    pages = {promise.page for promise in PROMISES}
    expected = {"README.md"} | {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert expected <= pages, f"pages with no promise listed: {sorted(expected - pages)}"


@pytest.mark.parametrize("promise", PROMISES, ids=_id)
def test_the_promise_is_on_its_page(promise: Promise) -> None:
    page = normalized((ROOT / promise.page).read_text("utf-8"))
    assert normalized(promise.quote) in page, f"{promise.page} no longer says: {promise.quote}"


@pytest.mark.parametrize("promise", PROMISES, ids=_id)
def test_the_tests_behind_the_promise_exist(promise: Promise) -> None:
    assert promise.tests, f"no test stands behind: {promise.quote}"
    for test in promise.tests:
        path = ROOT / test.split("::", 1)[0]
        assert path.is_file(), f"{test}: no such file"
        assert test.split("[", 1)[0] in defined_tests(path), f"{test}: no such test"
