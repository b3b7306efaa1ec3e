"""The plain-JSON check (``jsonpersist/_plain.py``), in C and in Python.

The codec asks every value whether it is plain JSON. ``jsonpersist/_speedups.c`` answers in C;
``_plain._walk_plain`` is its reference in Python and stands in where the C was not built.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from strategies import (
    INT_MAX,
    INT_MIN,
    NOT_QUITE_PLAIN,
    NOT_QUITE_PLAIN_KEYS,
    nearly_plain,
    plain_json,
    user_values,
    values,
)

from jsonpersist import MAX_DEPTH, _plain


def nest(wrap: Callable[[Any], Any], levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = wrap(value)
    return value


PURE_PYTHON = os.environ.get("JSONPERSIST_EXPECT_PURE_PYTHON") == "1"
needs_c = pytest.mark.skipif(
    _plain._speedups is None, reason="the C check was not built (pure-Python install)"
)


def test_the_c_check_is_in_use_unless_the_install_is_pure_python() -> None:
    # CI also installs without a C compiler and runs the codec tests with this set to 1
    assert (_plain._speedups is None) is PURE_PYTHON


@needs_c
@given(nearly_plain() | plain_json() | values() | user_values())
def test_the_c_check_gives_the_answers_of_the_python_walk(value: Any) -> None:
    assert _plain._speedups.is_plain(value, MAX_DEPTH) is _plain._walk_plain(value)


@pytest.mark.parametrize(
    "value",
    [
        *NOT_QUITE_PLAIN,
        *({key: 1} for key in NOT_QUITE_PLAIN_KEYS),
        {"a": {(1,): 2}},
        [[{"a": ()}]],
    ],
    ids=repr,
)
def test_values_one_step_from_plain_json_are_not_plain(value: Any) -> None:
    assert not _plain.is_plain(value)
    assert not _plain.is_plain([value])
    assert not _plain.is_plain({"key": [1, value]})
    assert not _plain._walk_plain({"key": [1, value]})


@pytest.mark.parametrize(
    "value",
    [INT_MIN, INT_MAX, 2**63, 2**63 - 1, -0.0, 5e-324, 1.7976931348623157e308, "", "a$", "$"],
    ids=repr,
)
def test_the_edges_of_plain_json_are_plain(value: Any) -> None:
    assert _plain.is_plain(value)
    assert _plain.is_plain({"a$": [value], "": None, "b": {"c": value}})
    assert _plain._walk_plain({"a$": [value], "": None, "b": {"c": value}})


@pytest.mark.parametrize(
    "wrap", [lambda value: [value], lambda value: {"k": value}], ids=["list", "dict"]
)
@pytest.mark.parametrize("inside", [1, [], {}], ids=["scalar", "empty list", "empty dict"])
def test_plain_json_nests_at_most_max_depth_levels(
    wrap: Callable[[Any], Any], inside: Any
) -> None:
    containers = int(isinstance(inside, (list, dict)))
    for levels in range(MAX_DEPTH - 3, MAX_DEPTH + 4):
        value = nest(wrap, levels, inside)
        expected = levels + containers <= MAX_DEPTH + 1  # the outermost container is level 0
        assert _plain.is_plain(value) is expected, levels
        assert _plain._walk_plain(value) is expected, levels


@needs_c
@pytest.mark.parametrize("max_depth", [0, 1, 2, 7])
def test_the_c_check_counts_levels_like_the_python_walk(
    max_depth: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_plain, "MAX_DEPTH", max_depth)
    for levels in range(max_depth + 4):
        for value in (nest(lambda v: [v], levels, 1), nest(lambda v: {"k": v}, levels, [])):
            assert _plain._speedups.is_plain(value, max_depth) is _plain._walk_plain(value)


@needs_c
def test_the_c_check_leaves_reference_counts_alone() -> None:
    big, huge = 2**64 - 1, 2**64
    inner = [1, 2.5, "x", None, True, big, huge, math.nan]
    values = [{"a": inner}, [inner, {"b": huge}], {"$": inner}, {1: inner}]
    watched = [*values, inner, big, huge]
    before = [sys.getrefcount(each) for each in watched]
    for _ in range(1000):
        for value in values:
            _plain._speedups.is_plain(value, MAX_DEPTH)
    del value
    assert [sys.getrefcount(each) for each in watched] == before


@needs_c
def test_the_c_check_refuses_wrong_arguments() -> None:
    with pytest.raises(TypeError):
        _plain._speedups.is_plain({})  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="max_depth"):
        _plain._speedups.is_plain({}, -1)
    with pytest.raises(TypeError):
        _plain._speedups.is_plain({}, "240")  # type: ignore[arg-type]
