"""EntryCodec: category files to entry lines and values, and values to entry lines.

Files are made here as bytes (rendered from encoded lines, or hand-written with ``json.dumps``)
and parsed without touching the disk; the path only names the file in errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import values
from telegram.ext import ContextTypes

from jsonpersist import MAX_DEPTH, Codec, CorruptStateError, UnsupportedTypeError
from jsonpersist._categories import (
    BOT_DATA,
    CALLBACK_DATA,
    CHAT_DATA,
    CONVERSATIONS,
    USER_DATA,
    Category,
)
from jsonpersist._entries import EntryCodec
from jsonpersist._format import WHOLE, entry_line, render

PATH = Path("/state/user_data.json")


class CountingCodec(Codec):
    """A real codec that records where it was asked to decode."""

    __slots__ = ("decoded",)

    def __init__(self) -> None:
        super().__init__()
        self.decoded: list[str] = []

    def decode(self, tree: Any, where: str = "value") -> Any:
        self.decoded.append(where)
        return super().decode(tree, where)


class UserDict(dict[Any, Any]):
    """A ``context_types`` class for user data."""


@pytest.fixture
def codec() -> CountingCodec:
    return CountingCodec()


@pytest.fixture
def entries(codec: CountingCodec) -> EntryCodec:
    return EntryCodec(codec, ContextTypes())


def file_of(entries: EntryCodec, category: Category, value: dict[Any, Any]) -> bytes:
    """The canonical file of a keyed category holding ``value``."""
    lines = {key: entries.encode(category, key, entry) for key, entry in value.items()}
    return render(category.name, lines, category.sort(lines))


def hand_written(category: str, data: Any) -> bytes:
    """The same data as a person might write it: indented, keys in their own order."""
    tree = {"data": data, "category": category, "jsonpersist": 1}
    return json.dumps(tree, indent=2, ensure_ascii=False).encode()


def corrupt(call: Any) -> CorruptStateError:
    with pytest.raises(CorruptStateError) as caught:
        call()
    return caught.value


RICH = {
    5: {"pair": (1, "a"), "tags": {3, 1}, "by_id": {1: "one", 2: frozenset({"x"})}},
    42: {"plain": [1, {"deep": None}], "name": "Ada"},
    -100123: {},
}


# ---------------------------------------------------------------------------------- parsing


def test_a_canonical_file_gives_its_lines_and_typed_values(entries: EntryCodec) -> None:
    raw = file_of(entries, USER_DATA, RICH)
    lines, parsed = entries.parse(USER_DATA, raw, PATH)

    assert lines == {key: entries.encode(USER_DATA, key, value) for key, value in RICH.items()}
    assert parsed == RICH
    assert list(parsed) == [-100123, 5, 42]  # in the order of the lines: numeric
    assert type(parsed[5]["pair"]) is tuple
    assert type(parsed[5]["tags"]) is set
    assert type(parsed[5]["by_id"][2]) is frozenset
    assert all(type(key) is int for key in parsed[5]["by_id"])
    assert all(type(key) is int for key in parsed)


def test_only_lines_with_a_tag_are_decoded(entries: EntryCodec, codec: CountingCodec) -> None:
    raw = file_of(entries, USER_DATA, RICH)
    entries.parse(USER_DATA, raw, PATH)
    assert codec.decoded == ["user_data[5]"]


def test_a_plain_file_is_not_decoded_at_all(entries: EntryCodec, codec: CountingCodec) -> None:
    plain = {1: {"a": [1, 2.5, "x", None, True]}, 2: {"nested": {"b": {}}}}
    raw = file_of(entries, CHAT_DATA, plain)
    lines, parsed = entries.parse(CHAT_DATA, raw, PATH)
    assert codec.decoded == []
    assert parsed == plain
    assert lines == {key: entries.encode(CHAT_DATA, key, value) for key, value in plain.items()}


def test_a_string_that_looks_like_a_tag_stays_a_string(entries: EntryCodec) -> None:
    value = {1: {"text": '"$tuple" is only special as a key', "$": ["$set"]}}
    lines, parsed = entries.parse(USER_DATA, file_of(entries, USER_DATA, value), PATH)
    assert parsed == value
    assert (
        lines[1] == b'    "1": {"$":{"$":["$set"],"text":"\\"$tuple\\" is only special as a key"}}'
    )


def test_a_plain_entry_gets_the_context_types_class(codec: CountingCodec) -> None:
    entries = EntryCodec(codec, ContextTypes(user_data=UserDict))
    raw = file_of(entries, USER_DATA, {7: {"a": 1}, 8: {"t": (1,)}})
    _, parsed = entries.parse(USER_DATA, raw, PATH)
    assert {key: type(value) for key, value in parsed.items()} == {7: UserDict, 8: UserDict}
    assert parsed == {7: {"a": 1}, 8: {"t": (1,)}}


def test_a_hand_edited_file_gives_canonical_lines(
    entries: EntryCodec, codec: CountingCodec
) -> None:
    canonical = file_of(entries, USER_DATA, RICH)
    data = json.loads(canonical)["data"]
    raw = hand_written("user_data", dict(reversed(data.items())))
    assert raw != canonical

    lines, parsed = entries.parse(USER_DATA, raw, PATH)
    assert lines == entries.parse(USER_DATA, canonical, PATH)[0]
    assert render("user_data", lines, USER_DATA.sort(lines)) == canonical
    assert parsed == RICH
    assert type(parsed[5]["pair"]) is tuple


def test_a_hand_written_big_int_is_kept_exactly_and_tagged(entries: EntryCodec) -> None:
    raw = hand_written("user_data", {"3": {"n": 2**200, "m": -(2**64)}})
    lines, parsed = entries.parse(USER_DATA, raw, PATH)
    assert parsed == {3: {"n": 2**200, "m": -(2**64)}}
    assert lines[3] == entries.encode(USER_DATA, 3, {"n": 2**200, "m": -(2**64)})
    assert b'"$int"' in lines[3]


def test_a_hand_written_id_with_a_leading_zero_is_refused(entries: EntryCodec) -> None:
    raw = hand_written("user_data", {"1": {}, "01": {}})
    error = corrupt(lambda: entries.parse(USER_DATA, raw, PATH))
    assert error.where == "user_data['01']"
    assert error.file == PATH


@pytest.mark.parametrize("canonical", [True, False], ids=["canonical", "hand-written"])
def test_a_bad_tag_names_the_file_and_the_entry(entries: EntryCodec, canonical: bool) -> None:
    data = {"1": {"ok": 1}, "5": {"cart": [{"$nope": 1}]}}
    if canonical:
        lines = {int(k): entry_line(int(k), orjson.dumps(v)) for k, v in data.items()}
        raw = render("user_data", lines, sorted(lines))
    else:
        raw = hand_written("user_data", data)
    error = corrupt(lambda: entries.parse(USER_DATA, raw, PATH))
    assert error.file == PATH
    assert error.where.startswith("user_data[5]")
    assert error.where == "user_data[5]['cart'][0]['$nope']"
    assert str(PATH) in str(error)


def test_a_user_entry_that_is_not_a_dict_is_refused(entries: EntryCodec) -> None:
    raw = render("user_data", {5: entry_line(5, b"[1,2]")}, [5])
    error = corrupt(lambda: entries.parse(USER_DATA, raw, PATH))
    assert error.where == "user_data[5]"
    assert error.file == PATH


def test_a_canonical_file_nested_deeper_than_the_codec_reads_is_refused(
    entries: EntryCodec,
) -> None:
    deep: Any = 1
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    raw = render("user_data", {1: entry_line(1, orjson.dumps({"d": deep}))}, [1])
    error = corrupt(lambda: entries.parse(USER_DATA, raw, PATH))
    assert error.file == PATH
    assert "nested deeper" in error.reason


def test_callback_data_of_the_wrong_shape_is_refused_on_parse(entries: EntryCodec) -> None:
    raw = hand_written("callback_data", {"keyboards": [["kb", "noon", {}]], "queries": {}})
    error = corrupt(lambda: entries.parse(CALLBACK_DATA, raw, PATH))
    assert error.where == "callback_data['keyboards'][0][1]"


@pytest.mark.parametrize(
    "raw",
    [b"not json", hand_written("chat_data", {}), hand_written("user_data", [])],
    ids=["not json", "another category", "data not an object"],
)
def test_a_file_that_is_no_category_file_is_refused(entries: EntryCodec, raw: bytes) -> None:
    error = corrupt(lambda: entries.parse(USER_DATA, raw, PATH))
    assert error.file == PATH


# ------------------------------------------------------------------------ lines and values


@pytest.mark.parametrize(
    ("category", "key", "value"),
    [
        (USER_DATA, 5, {"pair": (1, 2), "when": {3: {4}}}),
        (CHAT_DATA, -100123, {"$dollar": 1, "b": b"\x00"}),
        (CONVERSATIONS, "checkout", {(1, 2): "ASK", (3,): 0}),
        (BOT_DATA, "motd", ("hello", frozenset({1}))),
    ],
    ids=["user", "chat", "conversations", "bot member"],
)
def test_encode_and_decode_line_round_trip(
    entries: EntryCodec, category: Category, key: Any, value: Any
) -> None:
    line = entries.encode(category, key, value)
    assert line == entry_line(key, entries.codec.dumps(value))
    decoded = entries.decode_line(category, key, line, PATH)
    assert decoded == value
    assert entries.encode(category, key, decoded) == line


def test_encode_stores_a_context_types_dict_as_a_plain_dict(codec: CountingCodec) -> None:
    entries = EntryCodec(codec, ContextTypes(user_data=UserDict))
    assert entries.encode(USER_DATA, 1, UserDict(a=1)) == b'    "1": {"a":1}'


def test_encode_names_the_path_of_a_value_it_cannot_store(entries: EntryCodec) -> None:
    with pytest.raises(UnsupportedTypeError) as caught:
        entries.encode(USER_DATA, 5, {"cart": [1, object()]})
    assert caught.value.where == "user_data[5]['cart'][1]"


def test_plain_bot_data_is_one_line_per_key(entries: EntryCodec) -> None:
    value = {"total": 17, "started": (2024, 5), "nested": {"a": [1]}}
    lines = entries.encode_members(BOT_DATA, value)
    assert lines == {
        key: entry_line(key, entries.codec.dumps(member)) for key, member in value.items()
    }
    assert lines["started"] == b'    "started": {"$tuple":[2024,5]}'


@pytest.mark.parametrize(
    "value",
    [{"$x": 1, "y": 2}, {1: "a", "b": 2}, {(1, 2): "tuple key"}, {True: 1}],
    ids=["dollar key", "int key", "tuple key", "bool key"],
)
def test_bot_data_that_is_not_a_plain_dict_is_whole(entries: EntryCodec, value: Any) -> None:
    lines = entries.encode_members(BOT_DATA, value)
    assert list(lines) == [WHOLE]
    assert lines[WHOLE] == entries.codec.dumps(value)
    assert entries.decode_lines(BOT_DATA, lines, PATH) == value


def test_empty_bot_data_has_no_lines(entries: EntryCodec) -> None:
    assert entries.encode_members(BOT_DATA, {}) == {}
    assert entries.decode_lines(BOT_DATA, {}, PATH) == {}


def test_callback_data_is_two_lines(entries: EntryCodec) -> None:
    value = ([("kb-1", 1.5, {"btn": (1, "buy")})], {"q-1": "kb-1"})
    lines = entries.encode_members(CALLBACK_DATA, value)
    assert lines == {
        "keyboards": b'    "keyboards": [["kb-1",1.5,{"btn":{"$tuple":[1,"buy"]}}]]',
        "queries": b'    "queries": {"q-1":"kb-1"}',
    }
    assert entries.decode_lines(CALLBACK_DATA, lines, PATH) == value


def test_encode_members_names_the_path_of_a_value_it_cannot_store(entries: EntryCodec) -> None:
    with pytest.raises(UnsupportedTypeError) as caught:
        entries.encode_members(BOT_DATA, {"ok": 1, "bad": {object()}})
    assert caught.value.where.startswith("bot_data['bad']")


@pytest.mark.parametrize(
    ("category", "value"),
    [
        (USER_DATA, RICH),
        (CONVERSATIONS, {"a": {(1, 2): 1}, "b": {}}),
    ],
    ids=["user_data", "conversations"],
)
def test_decode_lines_gives_what_parse_gave(
    entries: EntryCodec, category: Category, value: dict[Any, Any]
) -> None:
    raw = file_of(entries, category, value)
    lines, parsed = entries.parse(category, raw, PATH)
    assert entries.decode_lines(category, lines, PATH) == parsed == value


@pytest.mark.parametrize(
    ("category", "value"),
    [
        (BOT_DATA, {"a": (1,), "b": {2: 3}}),
        (BOT_DATA, {1: "whole"}),
        (CALLBACK_DATA, ([("kb", 2.0, {"x": {1}})], {"q": "kb"})),
    ],
    ids=["bot members", "bot whole", "callback data"],
)
def test_decode_lines_of_a_value_category_gives_what_parse_assembles(
    entries: EntryCodec, category: Category, value: Any
) -> None:
    lines = entries.encode_members(category, value)
    raw = render(category.name, lines, category.sort(lines))
    parsed_lines, parsed = entries.parse(category, raw, PATH)
    assert parsed_lines == lines
    assert entries.decode_lines(category, lines, PATH) == entries.assemble(category, parsed, PATH)
    assert entries.decode_lines(category, lines, PATH) == value


# ----------------------------------------------------------------------------- round trip


@given(
    st.dictionaries(
        st.integers(-(2**63), 2**63 - 1),
        st.dictionaries(st.text(max_size=8), values(), max_size=3),
        max_size=3,
    )
)
def test_any_user_data_round_trips_through_a_file(user_data: dict[int, Any]) -> None:
    entries = EntryCodec(Codec(), ContextTypes())
    lines = {key: entries.encode(USER_DATA, key, value) for key, value in user_data.items()}
    raw = render("user_data", lines, USER_DATA.sort(lines))

    parsed_lines, parsed = entries.parse(USER_DATA, raw, PATH)
    assert parsed_lines == lines
    assert parsed.keys() == user_data.keys()
    for key, value in parsed.items():
        assert type(value) is dict
        # equal bytes: the same types all the way down (NaN never equals itself)
        assert entries.encode(USER_DATA, key, value) == lines[key]
