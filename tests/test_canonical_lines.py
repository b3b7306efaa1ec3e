"""A file is taken as canonical (the fast load path) only if it is byte for byte what
jsonpersist writes, with the C split and the Python lines giving the same answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import plain_json

from jsonpersist import JsonPersistence, _entries
from jsonpersist._format import TAIL, canonical_line, head

START = head("user_data")
PATH = Path("user_data.json")
entries_lists = st.lists(
    st.tuples(st.integers(-(2**63), 2**63 - 1), plain_json()).map(list), max_size=6
)


def written(entries: list[Any]) -> bytes:
    return START + b"".join(canonical_line(entry) for entry in entries) + TAIL


def both(entries: list[Any], raw: bytes, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What the C path and the Python path answer for the same file."""
    with_c = _entries._canonical_lines(entries, raw, START, PATH)
    monkeypatch.setattr(_entries, "_speedups", None)
    without = _entries._canonical_lines(entries, raw, START, PATH)
    monkeypatch.undo()
    return [with_c, without]


@pytest.mark.skipif(_entries._speedups is None, reason="the C module was not built")
@given(entries=entries_lists)
def test_a_canonical_file_gives_its_lines_both_ways(entries: list[Any]) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        lines = [canonical_line(entry) for entry in entries]
        assert both(entries, written(entries), monkeypatch) == [lines, lines]


@pytest.mark.skipif(_entries._speedups is None, reason="the C module was not built")
@given(entries=entries_lists, cut=st.integers(min_value=0), byte=st.binary(min_size=1, max_size=2))
def test_a_file_changed_anywhere_is_not_canonical_either_way(
    entries: list[Any], cut: int, byte: bytes
) -> None:
    raw = written(entries)
    at = len(START) + cut % (len(raw) - len(START) + 1)
    for changed in (raw[:at] + byte + raw[at:], raw[:at] + raw[at + 1 :]):
        if changed == raw:
            continue
        with pytest.MonkeyPatch.context() as monkeypatch:
            assert both(entries, changed, monkeypatch) == [None, None]


@pytest.mark.skipif(_entries._speedups is None, reason="the C module was not built")
def test_a_line_break_moved_inside_an_entry_is_not_canonical() -> None:
    """Same bytes but the line breaks in other places: every piece still starts with a comma
    and ends with a bracket, yet the lines are not the entries' lines."""
    entries = [["h", [1, 2], 3], ["h", [4], 5]]
    raw = START + b',["h",[1,2]\n,3],["h",[4],5]\n' + TAIL
    assert orjson.loads(raw)[1:] == entries
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert both(entries, raw, monkeypatch) == [None, None]


async def test_a_file_with_a_moved_line_break_loads_and_is_saved_canonical(
    tmp_path: Path,
) -> None:
    (tmp_path / "user_data.json").write_bytes(START + b',[1,{"a":[1,2]}]\n,[2,{"b"\n:2}]\n' + TAIL)
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    assert await persistence.get_user_data() == {1: {"a": [1, 2]}, 2: {"b": 2}}
    await persistence.update_user_data(3, {})
    await persistence.flush()
    assert (tmp_path / "user_data.json").read_bytes() == (
        START + b',[1,{"a":[1,2]}]\n,[2,{"b":2}]\n,[3,{}]\n' + TAIL
    )
