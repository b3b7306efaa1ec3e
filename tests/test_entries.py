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
from jsonpersist._errors import MergeConflictError
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
    return render(category.name, lines, entries.order(category, lines))


def hand_written(category: str, elements: list[Any], version: int = 2) -> bytes:
    """Entries as a person might write them: indented, the header's keys in their own order."""
    tree = [{"category": category, "jsonpersist": version}, *elements]
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
    parsed_file = entries.parse(USER_DATA, raw, PATH)
    lines, parsed = parsed_file.lines, parsed_file.values

    assert lines == {key: entries.encode(USER_DATA, key, value) for key, value in RICH.items()}
    assert parsed == RICH
    assert list(parsed) == [-100123, 5, 42]  # in the order of the lines: numeric
    assert list(lines) == [-100123, 5, 42]
    assert parsed_file.version == 2
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
    read = entries.parse(CHAT_DATA, raw, PATH)
    lines, parsed = read.lines, read.values
    assert codec.decoded == []
    assert parsed == plain
    assert lines == {key: entries.encode(CHAT_DATA, key, value) for key, value in plain.items()}


def test_a_string_that_looks_like_a_tag_stays_a_string(entries: EntryCodec) -> None:
    value = {1: {"text": '"$tuple" is only special as a key', "$": ["$set"]}}
    read = entries.parse(USER_DATA, file_of(entries, USER_DATA, value), PATH)
    assert read.values == value
    assert (
        read.lines[1]
        == b',[1,{"$":{"$":["$set"],"text":"\\"$tuple\\" is only special as a key"}}]\n'
    )


def test_a_plain_entry_gets_the_context_types_class(codec: CountingCodec) -> None:
    entries = EntryCodec(codec, ContextTypes(user_data=UserDict))
    raw = file_of(entries, USER_DATA, {7: {"a": 1}, 8: {"t": (1,)}})
    parsed = entries.parse(USER_DATA, raw, PATH).values
    assert {key: type(value) for key, value in parsed.items()} == {7: UserDict, 8: UserDict}
    assert parsed == {7: {"a": 1}, 8: {"t": (1,)}}


def test_a_hand_edited_file_gives_canonical_lines(
    entries: EntryCodec, codec: CountingCodec
) -> None:
    canonical = file_of(entries, USER_DATA, RICH)
    elements = json.loads(canonical)[1:]
    raw = hand_written("user_data", list(reversed(elements)))
    assert raw != canonical

    read = entries.parse(USER_DATA, raw, PATH)
    assert read.lines == entries.parse(USER_DATA, canonical, PATH).lines
    assert list(read.lines) == [-100123, 5, 42]  # sorted again
    assert render("user_data", read.lines, entries.order(USER_DATA, read.lines)) == canonical
    assert read.values == RICH
    assert type(read.values[5]["pair"]) is tuple


def test_a_hand_written_big_int_is_kept_exactly_and_tagged(entries: EntryCodec) -> None:
    raw = hand_written("user_data", [[3, {"n": 2**200, "m": -(2**64)}]])
    read = entries.parse(USER_DATA, raw, PATH)
    assert read.values == {3: {"n": 2**200, "m": -(2**64)}}
    assert read.lines[3] == entries.encode(USER_DATA, 3, {"n": 2**200, "m": -(2**64)})
    assert b'"$int"' in read.lines[3]


@pytest.mark.parametrize(
    ("elements", "where"),
    [
        ([[1, {}], [1, {"a": 1}]], "user_data[1]"),
        ([[1, {}], ["01", {}]], "entry 2"),
        ([[1, {}], [1.0, {}]], "entry 2"),
        ([[1, {}], [2**63, {}]], "entry 2"),
    ],
    ids=["same id twice", "id as text", "id as a float", "id beyond 64 bits"],
)
def test_a_hand_written_id_of_the_wrong_kind_or_twice_is_refused(
    entries: EntryCodec, elements: list[Any], where: str
) -> None:
    raw = hand_written("user_data", elements)
    error = corrupt(lambda: entries.parse(USER_DATA, raw, PATH))
    assert error.where == where
    assert error.file == PATH


@pytest.mark.parametrize("canonical", [True, False], ids=["canonical", "hand-written"])
def test_a_bad_tag_names_the_file_and_the_entry(entries: EntryCodec, canonical: bool) -> None:
    elements = [[1, {"ok": 1}], [5, {"cart": [{"$nope": 1}]}]]
    if canonical:
        lines = {key: entry_line(b"%d" % key, orjson.dumps(v)) for key, v in elements}
        raw = render("user_data", lines, sorted(lines))
        place = "line 3"
    else:
        raw = hand_written("user_data", elements)
        place = "entry 2"
    error = corrupt(lambda: entries.parse(USER_DATA, raw, PATH))
    assert error.file == PATH
    assert error.where == f"{place}: user_data[5]['cart'][0]['$nope']"
    assert str(PATH) in str(error)


def test_a_user_entry_that_is_not_a_dict_is_refused(entries: EntryCodec) -> None:
    raw = render("user_data", {5: entry_line(b"5", b"[1,2]")}, [5])
    error = corrupt(lambda: entries.parse(USER_DATA, raw, PATH))
    assert error.where == "user_data[5]"
    assert error.file == PATH


def test_a_canonical_file_nested_deeper_than_the_codec_reads_is_refused(
    entries: EntryCodec,
) -> None:
    deep: Any = 1
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    raw = render("user_data", {1: entry_line(b"1", orjson.dumps({"d": deep}))}, [1])
    error = corrupt(lambda: entries.parse(USER_DATA, raw, PATH))
    assert error.file == PATH
    assert "nested deeper" in error.reason


def test_callback_data_of_the_wrong_shape_is_refused_on_parse(entries: EntryCodec) -> None:
    raw = hand_written("callback_data", [["keyboard", "kb", ["noon", {}]]])
    error = corrupt(lambda: entries.parse(CALLBACK_DATA, raw, PATH))
    assert error.where == "callback_data['keyboards'][0][1]"


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        hand_written("chat_data", []),
        hand_written("user_data", [], version=3),
        hand_written("user_data", [{"5": {}}]),
        hand_written("user_data", [5]),
        json.dumps({"jsonpersist": 1, "category": "user_data", "data": []}).encode(),
        json.dumps({"jsonpersist": 2, "category": "user_data", "data": {}}).encode(),
        b'[{"jsonpersist":2,"category":"user_data"}\n<<<<<<< a\n,[1,{}]\n=======\n>>>>>>> b\n]\n',
    ],
    ids=[
        "not json",
        "another category",
        "version 3",
        "an entry that is an object",
        "an entry that is no array",
        "version 1 data not an object",
        "version 2 as an object",
        "merge conflict",
    ],
)
def test_a_file_that_is_no_category_file_is_refused(entries: EntryCodec, raw: bytes) -> None:
    error = corrupt(lambda: entries.parse(USER_DATA, raw, PATH))
    assert error.file == PATH
    assert isinstance(error, MergeConflictError) == (b"<<<<<<<" in raw)


# ------------------------------------------------------------------------ lines and values


@pytest.mark.parametrize(
    ("category", "key", "value"),
    [
        (USER_DATA, 5, {"pair": (1, 2), "when": {3: {4}}}),
        (CHAT_DATA, -100123, {"$dollar": 1, "b": b"\x00"}),
        (CONVERSATIONS, ("checkout", (1, 2)), "ASK"),
        (CONVERSATIONS, ("settings", ("x", -5)), (0, frozenset({1}))),
        (BOT_DATA, "motd", ("hello", frozenset({1}))),
        (BOT_DATA, ("a", 1), {1: "a", "b": 2}),
    ],
    ids=["user", "chat", "conversation", "conversation with a str key", "bot", "bot tuple key"],
)
def test_encode_and_decode_line_round_trip(
    entries: EntryCodec, category: Category, key: Any, value: Any
) -> None:
    line = entries.encode_stored(category, key, value)
    assert line == entry_line(category.key_json(key, entries.codec), entries.codec.dumps(value))
    assert orjson.loads(line[1:])[:-1] == json.loads(
        b"[%b]" % category.key_json(key, entries.codec)
    )
    decoded = entries.decode_line(category, key, line, PATH)
    assert decoded == value
    assert entries.encode_stored(category, key, decoded) == line


def test_encode_stores_a_context_types_dict_as_a_plain_dict(codec: CountingCodec) -> None:
    entries = EntryCodec(codec, ContextTypes(user_data=UserDict))
    assert entries.encode(USER_DATA, 1, UserDict(a=1)) == b',[1,{"a":1}]\n'


def test_a_conversation_is_one_line(entries: EntryCodec) -> None:
    line = entries.encode(CONVERSATIONS, ("checkout", (5, 5)), "ASK")
    assert line == b',["checkout",[5,5],"ASK"]\n'


def test_encode_names_the_path_of_a_value_it_cannot_store(entries: EntryCodec) -> None:
    with pytest.raises(UnsupportedTypeError) as caught:
        entries.encode(USER_DATA, 5, {"cart": [1, object()]})
    assert caught.value.where == "user_data[5]['cart'][1]"


def test_bot_data_is_one_line_per_key_of_any_type(entries: EntryCodec) -> None:
    value = {"total": 17, "started": (2024, 5), 7: "int key", ("a", 1): "tuple key", "$x": 1}
    lines = entries.encode_members(BOT_DATA, value)
    assert lines == {
        "total": b',["total",17]\n',
        "started": b',["started",{"$tuple":[2024,5]}]\n',
        7: b',[7,"int key"]\n',
        ("a", 1): b',[{"$tuple":["a",1]},"tuple key"]\n',
        "$x": b',["$x",1]\n',
    }
    assert entries.order(BOT_DATA, lines) == [7, "$x", "started", "total", ("a", 1)]
    assert entries.decode_lines(BOT_DATA, lines, PATH) == value


@pytest.mark.parametrize(
    "value", [[1, 2], ("a", 1), 5, None], ids=["list", "tuple", "int", "none"]
)
def test_bot_data_that_is_not_a_dict_is_one_whole_line(codec: CountingCodec, value: Any) -> None:
    # Allowed only when context_types.bot_data is the value's class (a registered class).
    entries = EntryCodec(codec, ContextTypes(bot_data=type(value)))
    lines = entries.encode_members(BOT_DATA, value)
    assert list(lines) == [WHOLE]
    assert lines[WHOLE] == b",[%b]\n" % entries.codec.dumps(value)
    assert entries.decode_lines(BOT_DATA, lines, PATH) == value


def test_empty_bot_data_has_no_lines(entries: EntryCodec) -> None:
    assert entries.encode_members(BOT_DATA, {}) == {}
    assert entries.decode_lines(BOT_DATA, {}, PATH) == {}


def test_callback_data_is_a_line_per_keyboard_and_query(entries: EntryCodec) -> None:
    value = (
        [("kb-2", 2.5, {}), ("kb-1", 1.5, {"btn": (1, "buy")})],
        {"q-1": "kb-1", "q-0": "kb-2"},
    )
    lines = entries.encode_members(CALLBACK_DATA, value)
    assert list(lines.values()) == [
        b',["keyboard","kb-2",[2.5,{}]]\n',
        b',["keyboard","kb-1",[1.5,{"btn":{"$tuple":[1,"buy"]}}]]\n',
        b',["query","q-1","kb-1"]\n',
        b',["query","q-0","kb-2"]\n',
    ]
    assert entries.order(CALLBACK_DATA, lines) == list(lines)  # PTB's order, not sorted
    assert entries.decode_lines(CALLBACK_DATA, lines, PATH) == value


def test_encode_members_names_the_path_of_a_value_it_cannot_store(entries: EntryCodec) -> None:
    with pytest.raises(UnsupportedTypeError) as caught:
        entries.encode_members(BOT_DATA, {"ok": 1, "bad": {object()}})
    assert caught.value.where.startswith("bot_data['bad']")


@pytest.mark.parametrize(
    ("category", "value"),
    [
        (USER_DATA, RICH),
        (CONVERSATIONS, {("a", (1, 2)): 1, ("b", ("x",)): (1,), ("a", (10,)): None}),
    ],
    ids=["user_data", "conversations"],
)
def test_decode_lines_gives_what_parse_gave(
    entries: EntryCodec, category: Category, value: dict[Any, Any]
) -> None:
    raw = file_of(entries, category, value)
    read = entries.parse(category, raw, PATH)
    assert entries.decode_lines(category, read.lines, PATH) == entries.assemble(
        category, read.values, PATH
    )
    assert read.values == value


@pytest.mark.parametrize(
    ("category", "value"),
    [
        (BOT_DATA, {"a": (1,), "b": {2: 3}}),
        (BOT_DATA, {1: "int key", ("t", 2): "tuple key", "$x": {3}}),
        (CALLBACK_DATA, ([("kb", 2.0, {"x": {1}})], {"q": "kb"})),
    ],
    ids=["bot members", "bot keys of other types", "callback data"],
)
def test_decode_lines_of_a_value_category_gives_what_parse_assembles(
    entries: EntryCodec, category: Category, value: Any
) -> None:
    lines = entries.encode_members(category, value)
    raw = render(category.name, lines, entries.order(category, lines))
    read = entries.parse(category, raw, PATH)
    assert read.lines == lines
    assert entries.decode_lines(category, lines, PATH) == entries.assemble(
        category, read.values, PATH
    )
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
    raw = render("user_data", lines, entries.order(USER_DATA, lines))

    read = entries.parse(USER_DATA, raw, PATH)
    assert read.lines == lines
    assert read.values.keys() == user_data.keys()
    for key, value in read.values.items():
        assert type(value) is dict
        # equal bytes: the same types all the way down (NaN never equals itself)
        assert entries.encode(USER_DATA, key, value) == lines[key]
