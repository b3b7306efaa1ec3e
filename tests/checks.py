"""Assertions that several test modules share (test modules never import each other)."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest


def assert_same(actual: Any, expected: Any, where: str = "value") -> None:
    """Asserts equality *and* identical types all the way down (keys included)."""
    assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    if isinstance(expected, dict):
        assert len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
        for key, value in expected.items():
            twins = [k for k in actual if k == key and type(k) is type(key)]
            assert twins, f"{where}: key {key!r} ({type(key).__name__}) missing"
            assert_same(actual[twins[0]], value, f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
        for index, (left, right) in enumerate(zip(actual, expected, strict=True)):
            assert_same(left, right, f"{where}[{index}]")
    elif isinstance(expected, (set, frozenset)):
        assert actual == expected, where
        assert sorted(map(repr, actual)) == sorted(map(repr, expected)), where
    elif isinstance(expected, datetime):
        assert actual == expected, where
        assert actual.tzinfo == expected.tzinfo, f"{where}: {actual.tzinfo} != {expected.tzinfo}"
        assert actual.fold == expected.fold, where
        assert actual.isoformat() == expected.isoformat(), where
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


@contextlib.contextmanager
def crash_after_the_journal(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Makes the second ``os.replace`` fail, as a process killed right there would leave it.

    A round of several files first renames its redo journal into place, then each state file:
    so the journal is in place and no state file is. Yields the targets renamed (or tried).
    """
    replace, calls = os.replace, []

    def crashing(source: Any, target: Any) -> None:
        calls.append(str(target))
        if len(calls) == 2:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        replace(source, target)

    with monkeypatch.context() as faults:
        faults.setattr(os, "replace", crashing)
        yield calls
