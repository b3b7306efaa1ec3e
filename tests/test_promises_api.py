"""The promises of ``docs/api.md`` and the tests behind them (see ``tests/promises.py``)."""

from __future__ import annotations

import importlib
import re

import pytest
from promises import ROOT, Promise

import jsonpersist

PAGE = "docs/api.md"
ME = "tests/test_promises_api.py"


PROMISES = [
    Promise(
        PAGE,
        "Everything public is importable from the `jsonpersist` package",
        (f"{ME}::test_the_page_imports_and_documents_everything_public",),
    ),
    Promise(
        PAGE,
        "`jsonpersist.FORMAT_VERSION` (`2`)",
        (f"{ME}::test_the_constants_have_the_values_the_page_gives",),
    ),
    Promise(
        PAGE,
        "Files of version 1 are read and written as version 2 at the next save; a file with "
        "another version is refused",
        (
            "tests/test_format_v2.py::test_version_1_is_rewritten_as_version_2_at_the_next_save",
            "tests/test_errors.py::test_another_format_version_names_the_version_member",
        ),
    ),
    Promise(
        PAGE,
        "`jsonpersist.MAX_DEPTH` (`240`)",
        (
            f"{ME}::test_the_constants_have_the_values_the_page_gives",
            "tests/test_promises_format.py::test_depth_is_counted_in_json",
        ),
    ),
]


def page() -> str:
    return (ROOT / PAGE).read_text("utf-8")


def test_the_page_imports_and_documents_everything_public() -> None:
    text = page()
    block = re.search(r"from jsonpersist import \((.*?)\n\)", text, re.DOTALL)
    assert block is not None
    imported = set(re.findall(r"\b([A-Z][A-Za-z_]+)\b", re.sub(r"#.*", "", block.group(1))))
    assert imported == set(jsonpersist.__all__)
    for name in imported:
        assert getattr(jsonpersist, name) is not None
    documented = set(re.findall(r"^::: jsonpersist\.(\w+)$", text, re.MULTILINE))
    constants = {"FORMAT_VERSION", "MAX_DEPTH"}
    assert documented == set(jsonpersist.__all__) - constants
    for name in constants:
        assert f"`jsonpersist.{name}`" in text


@pytest.mark.parametrize(("name", "value"), [("FORMAT_VERSION", 2), ("MAX_DEPTH", 240)])
def test_the_constants_have_the_values_the_page_gives(name: str, value: int) -> None:
    assert f"`jsonpersist.{name}` (`{value}`)" in page()
    assert getattr(importlib.import_module("jsonpersist"), name) == value
