"""The bot data's change check: only members that changed are encoded, and none is missed.

`jsonpersist._same` compares each member PTB hands over with a copy decoded from its line. It
must never call a changed member the same (that would lose the change), above all where `==`
would: `1`, `1.0` and `True`; `0.0` and `-0.0`; a set and a frozenset; a key `1` and `True`.
The C version and the Python one (the reference, used without a compiler) must agree.
"""

from __future__ import annotations

import asyncio
import copy
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import values

from jsonpersist import Codec, JsonPersistence, _same
from jsonpersist._entries import EntryCodec

CHANGES: dict[str, tuple[Any, Any]] = {
    "int to float": (1, 1.0),
    "int to bool": (1, True),
    "float to int": (2.0, 2),
    "zero to minus zero": (0.0, -0.0),
    "nan sign": (math.nan, -math.nan),
    "set to frozenset": ({1, 2}, frozenset({1, 2})),
    "list to tuple": ([1, 2], (1, 2)),
    "key int to bool": ({1: "a"}, {True: "a"}),
    "key int to str": ({1: "a"}, {"1": "a"}),
    "key int to float": ({1: "a"}, {1.0: "a"}),
    "nested value": ({"a": {"b": [1, 2]}}, {"a": {"b": [1, 2, 3]}}),
    "nested int to bool": ({"a": [0]}, {"a": [False]}),
    "set item int to bool": ({1, 2}, {True, 2}),
    "str to bytes": ("a", b"a"),
    "timezone of the same instant": (
        datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
        datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2))),
    ),
    "dict key removed": ({"a": 1, "b": 2}, {"a": 1}),
    "dict key added": ({"a": 1}, {"a": 1, "b": None}),
}


@pytest.fixture(params=["C", "Python"])
def check(request: pytest.FixtureRequest) -> Any:
    """The module as it runs, or with its Python fallback (no C module)."""
    if request.param == "C":
        if _same._speedups is None:
            pytest.skip("the C module was not built in this install")
        yield _same
    else:
        with mock.patch.object(_same, "_speedups", None):
            yield _same


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_that_equals_the_old_value_is_still_seen(check: Any, change: str) -> None:
    old, new = CHANGES[change]
    copies = check.copies({"k": old}, shared=True)
    assert list(check.changed_members({"k": new}, copies)) == ["k"]
    assert list(check.changed_chunks({"k": new}, copies)) == [["k"]]


def test_chunks_cover_every_member_once(check: Any) -> None:
    values = {i: {"n": i} for i in range(3 * _same.CHUNK + 5)}
    copies = check.copies(values, shared=True)
    values[7] = {"n": -1}
    values[2 * _same.CHUNK + 1] = {"n": True}
    chunks = list(check.changed_chunks(values, copies))
    assert len(chunks) == 4
    assert [key for chunk in chunks for key in chunk] == [7, 2 * _same.CHUNK + 1]


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_is_saved_with_its_type(tmp_path: Path, change: str) -> None:
    """Through a real persistence: the new value comes back after a restart, type and all."""
    old, new = CHANGES[change]

    async def run() -> Any:
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
        await persistence.get_bot_data()
        await persistence.update_bot_data({"k": old, "other": 1})
        await persistence.flush()
        persistence = JsonPersistence(tmp_path)
        data = await persistence.get_bot_data()
        assert persistence._session.states["bot_data"].copies is not None  # the fast path
        data = copy.deepcopy(data)  # as PTB hands it over
        data["k"] = new
        await persistence.update_bot_data(data)
        await persistence.flush()
        return (await JsonPersistence(tmp_path, read_only=True).get_bot_data())["k"]

    loaded = asyncio.run(run())
    assert type(loaded) is type(new)
    assert repr(loaded) == repr(new) or (isinstance(new, float) and math.isnan(new))
    if isinstance(new, float) and math.isnan(new):
        assert math.copysign(1, loaded) == math.copysign(1, new)
    if isinstance(new, dict):
        assert [type(key) for key in loaded] == [type(key) for key in new]
    if isinstance(new, set):
        assert sorted(map(type, loaded), key=str) == sorted(map(type, new), key=str)


@settings(max_examples=300, deadline=None)
@given(values())
def test_a_copy_is_the_same_and_the_two_versions_agree(value: Any) -> None:
    copies = _same.copies({"k": value}, shared=True)
    with mock.patch.object(_same, "_speedups", None):
        reference = _same.copies({"k": value}, shared=True)
    assert copies.keys() == reference.keys()
    fresh = copy.deepcopy(value)
    answers = []
    for module in (_same.changed_members, _python_changed_members):
        answers.append(list(module({"k": fresh}, copies)))
    assert answers[0] == answers[1]
    if "k" in copies and _encodes_the_same_by_equality(value):
        assert answers[0] == []  # an unchanged plain value is never re-encoded


@settings(max_examples=300, deadline=None)
@given(values(), values())
def test_same_never_calls_values_that_encode_differently_the_same(left: Any, right: Any) -> None:
    copies = _same.copies({"k": right}, shared=True)
    if "k" not in copies:
        return
    changed = list(_same.changed_members({"k": left}, copies))
    if not changed:
        assert Codec().dumps(left) == Codec().dumps(right)


def _python_changed_members(values: dict[Any, Any], copies: dict[Any, Any]) -> Any:
    with mock.patch.object(_same, "_speedups", None):
        return list(_same.changed_members(values, copies))


def _encodes_the_same_by_equality(value: Any) -> bool:
    """Whether `same` is expected to recognise a deep copy: built-in containers and scalars."""
    kind = type(value)
    if kind in (str, int, bool, type(None)):
        return True
    if kind is float:
        return True
    if kind is dict:
        return all(type(key) in (str, int) for key in value) and all(
            _encodes_the_same_by_equality(item) for item in value.values()
        )
    if kind in (list, tuple):
        return all(map(_encodes_the_same_by_equality, value))
    if kind in (set, frozenset):
        return all(type(item) in (str, int) for item in value)
    return False


def test_clone_copies_every_container_and_shares_the_rest() -> None:
    name = "".join(["sh", "ared"])
    value = {"a": [1, {"b": {2, 3}}], "t": ([4],), "s": name, "d": datetime(2024, 1, 1)}
    for clone in (_same.clone, _python_clone):
        copied = clone(value)
        assert copied == value
        assert copied is not value
        assert copied["a"] is not value["a"]
        assert copied["a"][1]["b"] is not value["a"][1]["b"]
        assert copied["t"][0] is not value["t"][0]
        assert copied["s"] is value["s"]
        assert copied["d"] is value["d"]


def _python_clone(value: Any) -> Any:
    with mock.patch.object(_same, "_speedups", None):
        return _same.clone(value)


def test_only_the_changed_members_are_encoded(tmp_path: Path) -> None:
    """A round of 2,000 members with one changed encodes one member, not 2,000."""

    async def run() -> int:
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
        await persistence.get_bot_data()
        await persistence.update_bot_data({i: {"n": i, "s": str(i)} for i in range(2000)})
        await persistence.flush()
        persistence = JsonPersistence(tmp_path)
        data = copy.deepcopy(await persistence.get_bot_data())
        data[7]["n"] = -1
        data["new"] = {"x": 1}
        del data[8]
        with mock.patch.object(
            EntryCodec, "encode_stored", autospec=True, side_effect=EntryCodec.encode_stored
        ) as spy:
            await persistence.update_bot_data(data)
        await persistence.flush()
        loaded = await JsonPersistence(tmp_path, read_only=True).get_bot_data()
        assert loaded == data
        return spy.call_count

    assert asyncio.run(run()) == 2  # member 7 and "new"; 8 is removed without encoding


@given(st.dictionaries(st.integers(-5, 5), st.integers(0, 3), max_size=8))
def test_removed_and_added_members_in_one_round(
    tmp_path_factory: Any, new: dict[int, int]
) -> None:
    directory = tmp_path_factory.mktemp("s")

    async def run() -> Any:
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
        await persistence.get_bot_data()
        await persistence.update_bot_data({i: i % 4 for i in range(-3, 4)})
        await persistence.update_bot_data(dict(new))
        await persistence.flush()
        return await JsonPersistence(directory, read_only=True).get_bot_data()

    assert asyncio.run(run()) == new


def test_a_removed_tuple_key_is_removed_from_the_file(tmp_path: Path) -> None:
    """A tuple key is never among the copies (only str and int keys are); removing it must
    still remove its line, in the same session and after a restart."""

    async def run() -> list[Any]:
        seen = []
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
        await persistence.get_bot_data()
        for value in ({"a": 1, (1, 2): "t"}, {"a": 1}, {"a": 2, (3,): None}, {}):
            await persistence.update_bot_data(copy.deepcopy(value))
            await persistence.flush()  # written, released: read again at the next update
            reader = JsonPersistence(tmp_path, read_only=True)
            seen.append(await reader.get_bot_data())
        return seen

    assert asyncio.run(run()) == [{"a": 1, (1, 2): "t"}, {"a": 1}, {"a": 2, (3,): None}, {}]


class Box:
    """A bot data that is not a dict (context_types.bot_data), stored as one line."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and other.n == self.n

    __hash__ = None  # type: ignore[assignment]


def test_a_bot_data_of_one_line_and_members_never_mix(tmp_path: Path) -> None:
    """A bot data that goes from a dict to a value of its own (one line) and back, in one
    session, leaves no stale line (context_types.bot_data=object takes both)."""
    from telegram.ext import ContextTypes

    from jsonpersist import TypeRegistry

    types = TypeRegistry()
    types.register(Box, encode=lambda box: box.n, decode=Box)
    either = ContextTypes(bot_data=object)

    async def run() -> list[Any]:
        seen: list[Any] = []
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(
            tmp_path, types=types, context_types=either
        )
        await persistence.get_bot_data()
        for value in ({"a": 1, "b": 2}, Box(5), {"c": 3}):
            await persistence.update_bot_data(value)
            seen.append((tmp_path / "bot_data.json").read_text().count("\n,"))
            reader = JsonPersistence(tmp_path, read_only=True, types=types, context_types=either)
            seen.append(await reader.get_bot_data())
        return seen

    assert asyncio.run(run()) == [2, {"a": 1, "b": 2}, 1, Box(5), 1, {"c": 3}]


def test_a_loaded_file_shares_its_equal_short_strings(tmp_path: Path) -> None:
    """orjson makes a string per value read; loading makes equal short ones one object (with
    the C module), which is what keeps comparing the bot data's members cheap."""
    if _same._speedups is None:
        pytest.skip("the C module was not built in this install")

    async def run() -> Any:
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
        await persistence.get_bot_data()
        await persistence.update_bot_data({i: {"lang": "en", "long": "x" * 65} for i in range(3)})
        await persistence.flush()
        return await JsonPersistence(tmp_path, read_only=True).get_bot_data()

    data = asyncio.run(run())
    assert data[0]["lang"] is data[1]["lang"] is data[2]["lang"]
    assert data[0]["long"] == data[1]["long"]
    assert data[0]["long"] is not data[1]["long"]  # longer ones are left as they are
