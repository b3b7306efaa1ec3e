"""A pytest plugin for ``mutate.py``: which tests run which lines of the mutated module.

Loaded with ``-p linemap`` (``mutate.py`` copies it beside the package it tests).
``MUTATE_TARGET`` names the module's file; at the end of the session ``MUTATE_LINEMAP``
receives a JSON object: ``tests`` maps each test's node ID to the lines of that file it ran
(setup and teardown included), and ``outside`` lists the lines run outside any test (on
import: constants, default arguments). Lines run in a subprocess are not seen.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

Tracer = Callable[[FrameType, str, Any], Any]

_TARGET = os.path.realpath(os.environ.get("MUTATE_TARGET", ""))
_lines: dict[str, set[int]] = {}
_current = [""]  # the node ID of the test running, "" outside any test
_ours: dict[str, bool] = {}  # co_filename -> whether it is the target (realpath is slow)


def _local(frame: FrameType, event: str, arg: Any) -> Tracer:
    if event == "line":
        _lines.setdefault(_current[0], set()).add(frame.f_lineno)
    return _local


def _global(frame: FrameType, event: str, arg: Any) -> Tracer | None:
    filename = frame.f_code.co_filename
    ours = _ours.get(filename)
    if ours is None:
        ours = _ours[filename] = os.path.realpath(filename) == _TARGET
    if ours:
        _lines.setdefault(_current[0], set()).add(frame.f_lineno)
        return _local
    return None


def pytest_configure(config: pytest.Config) -> None:
    """Starts tracing before the test modules (and so the target module) are imported."""
    sys.settrace(_global)
    threading.settrace(_global)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    """Attributes the lines run during ``item`` (setup, call, teardown) to it."""
    _current[0] = item.nodeid
    yield
    _current[0] = ""


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Writes the map (see the module's docstring)."""
    sys.settrace(None)
    threading.settrace(None)
    outside = sorted(_lines.pop("", set()))
    tests = {node: sorted(lines) for node, lines in _lines.items()}
    Path(os.environ["MUTATE_LINEMAP"]).write_text(
        json.dumps({"tests": tests, "outside": outside}), "utf-8"
    )
