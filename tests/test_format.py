"""The state-file format on its own: entry lines, the envelope, the layout and strict parsing.

No files are written: the functions of ``_format`` take and give bytes and JSON trees, and the
path they are given only names the file in errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import INT_MAX, INT_MIN, plain_json

from jsonpersist import FORMAT_VERSION, CorruptStateError
from jsonpersist._categories import USER_DATA
from jsonpersist._format import (
    WHOLE,
    canonical_lines,
    entry_line,
    entry_value,
    envelope_data,
    parse_json,
    render,
    render_chunks,
    render_data,
    rendered_size,
    strict_tree,
)

PATH = Path("/state/user_data.json")
HEAD = b'{\n  "jsonpersist": 1,\n  "category": "user_data",\n  "data": '


def lines_of(members: dict[Any, Any]) -> dict[Any, bytes]:
    """The entry lines jsonpersist writes for already encoded members."""
    return {
        key: entry_line(key, orjson.dumps(member, option=orjson.OPT_SORT_KEYS))
        for key, member in members.items()
    }


def rendered(members: dict[int, Any]) -> bytes:
    """A canonical ``user_data.json`` holding ``members``."""
    lines = lines_of(members)
    return render("user_data", lines, sorted(lines))


def reread_lines(raw: bytes) -> dict[Any, bytes] | None:
    """What the loader's fast path makes of a ``user_data.json``: its lines, or None."""
    data = envelope_data(parse_json(raw, PATH), "user_data", PATH)
    members = USER_DATA.members(data, PATH, strict=False)
    return canonical_lines("user_data", raw, members, USER_DATA.sort(members))


def corrupt(call: Callable[[], Any]) -> CorruptStateError:
    with pytest.raises(CorruptStateError) as caught:
        call()
    assert isinstance(caught.value, ValueError)
    return caught.value


# ---------------------------------------------------------------------------- entry lines


@pytest.mark.parametrize("key", [0, 1, -1, 42, -1001234567890, INT_MIN, INT_MAX, 2**100])
def test_an_int_key_is_written_as_a_json_string_and_its_value_comes_back(key: int) -> None:
    line = entry_line(key, b'{"a":1}')
    assert line == b'    "%d": {"a":1}' % key
    assert entry_value(key, line) == b'{"a":1}'
    assert json.loads(b"{" + line + b"}") == {str(key): {"a": 1}}


@pytest.mark.parametrize(
    "key",
    ['say "hi"', "back\\slash", "ünïcødé ✓ 🤖", "\u2028\u2029", "\x00", "\x1f\n\t\r", "\x7f", ""],
    ids=["quotes", "backslash", "unicode", "line separators", "nul", "controls", "del", "empty"],
)
def test_a_str_key_is_escaped_and_its_value_comes_back(key: str) -> None:
    line = entry_line(key, b"[1]")
    assert line.startswith(b'    "')
    assert entry_value(key, line) == b"[1]"
    assert json.loads(b"{" + line + b"}") == {key: [1]}
    assert b"\n" not in line  # one entry, one line


def test_text_outside_ascii_is_written_as_it_is_not_escaped() -> None:
    assert entry_line("é", b"1") == '    "é": 1'.encode()


#: Small JSON values, where their content does not matter.
small_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(INT_MIN, INT_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=6,
)


@given(st.text(), small_json)
def test_any_str_key_round_trips(key: str, value: Any) -> None:
    encoded = orjson.dumps(value)
    line = entry_line(key, encoded)
    assert entry_value(key, line) == encoded
    assert json.loads(b"{" + line + b"}") == {key: json.loads(encoded)}


@given(st.integers(), small_json)
def test_any_int_key_round_trips(key: int, value: Any) -> None:
    encoded = orjson.dumps(value)
    line = entry_line(key, encoded)
    assert entry_value(key, line) == encoded
    assert json.loads(b"{" + line + b"}") == {str(key): json.loads(encoded)}


def test_a_whole_value_is_its_line() -> None:
    value = b'{"$dict":[[1,"a"]]}'
    assert entry_line(WHOLE, value) == value
    assert entry_value(WHOLE, value) == value


def test_an_int_key_and_its_text_give_the_same_line() -> None:
    # The file cannot tell them apart; the category's members() decides which it is.
    assert entry_line(5, b"1") == entry_line("5", b"1")


# --------------------------------------------------------------------------------- layout


def test_an_empty_keyed_category_is_an_empty_data_object() -> None:
    expected = HEAD + b"{}\n}\n"
    assert render("user_data", {}, []) == expected
    assert render_data({}, []) == b"{}"
    assert json.loads(expected) == {"jsonpersist": 1, "category": "user_data", "data": {}}


def test_one_entry_is_one_indented_line() -> None:
    lines = {5: entry_line(5, b'{"a":1}')}
    assert render("user_data", lines, [5]) == HEAD + b'{\n    "5": {"a":1}\n  }\n}\n'


def test_entries_are_laid_out_in_the_given_order() -> None:
    lines = {key: entry_line(key, b"%d" % key) for key in (2, 10, -5)}
    assert render("user_data", lines, [-5, 2, 10]) == (
        HEAD + b'{\n    "-5": -5,\n    "2": 2,\n    "10": 10\n  }\n}\n'
    )
    assert render("user_data", lines, [10, 2, -5]) == (
        HEAD + b'{\n    "10": 10,\n    "2": 2,\n    "-5": -5\n  }\n}\n'
    )


def test_an_order_naming_fewer_keys_leaves_the_others_out() -> None:
    lines = {key: entry_line(key, b"0") for key in (1, 2)}
    assert render("user_data", lines, [2]) == HEAD + b'{\n    "2": 0\n  }\n}\n'


def test_a_whole_value_follows_the_data_key() -> None:
    lines = {WHOLE: b'{"$dict":[[1,"a"]]}'}
    assert render("bot_data", lines, [WHOLE]) == (
        b'{\n  "jsonpersist": 1,\n  "category": "bot_data",\n  "data": {"$dict":[[1,"a"]]}\n}\n'
    )
    assert render_data(lines, [WHOLE]) == b'{"$dict":[[1,"a"]]}'


def test_the_format_version_is_written_into_the_header() -> None:
    assert json.loads(render("chat_data", {}, []))["jsonpersist"] == FORMAT_VERSION


LAYOUTS = {
    "empty": ({}, []),
    "one": ({7: entry_line(7, b'{"x":[1,2]}')}, [7]),
    "several": ({k: entry_line(k, b'"%d"' % k) for k in (-3, 0, 9)}, [-3, 0, 9]),
    "str keys": ({k: entry_line(k, b"null") for k in ("b", 'q"')}, ['q"', "b"]),
    "whole": ({WHOLE: b'[1,{"$tuple":[2]}]'}, [WHOLE]),
}


@pytest.mark.parametrize(("lines", "order"), LAYOUTS.values(), ids=LAYOUTS.keys())
def test_render_data_is_json_on_its_own_equal_to_the_files_data(
    lines: dict[Any, bytes], order: list[Any]
) -> None:
    whole = render("user_data", lines, order)
    data = render_data(lines, order)
    assert json.loads(data) == json.loads(whole)["data"]
    assert whole == HEAD + data + b"\n}\n"


@pytest.mark.parametrize(("lines", "order"), LAYOUTS.values(), ids=LAYOUTS.keys())
def test_render_chunks_join_to_render(lines: dict[Any, bytes], order: list[Any]) -> None:
    chunks = render_chunks("user_data", lines, order)
    assert all(type(chunk) is bytes for chunk in chunks)
    assert b"".join(chunks) == render("user_data", lines, order)


# ------------------------------------------------------------------------- canonical check

MEMBERS = {5: {"a": 1, "b": [1, 2]}, 42: {}}
CANONICAL = rendered(MEMBERS)

LAYOUT_EDITS: dict[str, Callable[[bytes], bytes]] = {
    "extra space in an entry": lambda raw: raw.replace(b'{"a":1,', b'{"a": 1,'),
    "space after a key": lambda raw: raw.replace(b'"42": ', b'"42":  '),
    "keys of an entry reordered": lambda raw: raw.replace(
        b'{"a":1,"b":[1,2]}', b'{"b":[1,2],"a":1}'
    ),
    "entries reordered": lambda raw: raw.replace(
        b'    "5": {"a":1,"b":[1,2]},\n    "42": {}', b'    "42": {},\n    "5": {"a":1,"b":[1,2]}'
    ),
    "entry indented by two": lambda raw: raw.replace(b'    "5"', b'  "5"'),
    "header indented by four": lambda raw: raw.replace(b'  "category"', b'    "category"'),
    "tab indentation": lambda raw: raw.replace(b'    "42"', b'\t"42"'),
    "header keys reordered": lambda raw: raw.replace(
        b'"jsonpersist": 1,\n  "category": "user_data"',
        b'"category": "user_data",\n  "jsonpersist": 1',
    ),
    "trailing newline missing": lambda raw: raw[:-1],
    "two trailing newlines": lambda raw: raw + b"\n",
    "crlf line ends": lambda raw: raw.replace(b"\n", b"\r\n"),
    "byte order mark": lambda raw: b"\xef\xbb\xbf" + raw,
    "trailing comma gone, one line": lambda raw: orjson.dumps(json.loads(raw)),
    "ascii escapes": lambda raw: raw.replace(b'"a"', b'"\\u0061"'),
}


def test_canonical_lines_accepts_what_render_produces() -> None:
    assert reread_lines(CANONICAL) == lines_of(MEMBERS)
    assert reread_lines(rendered({})) == {}


@pytest.mark.parametrize("edit", LAYOUT_EDITS.values(), ids=LAYOUT_EDITS.keys())
def test_canonical_lines_refuses_any_other_layout(edit: Callable[[bytes], bytes]) -> None:
    raw = edit(CANONICAL)
    assert raw != CANONICAL
    if raw.startswith(b"\xef\xbb\xbf"):
        assert canonical_lines("user_data", raw, MEMBERS, sorted(MEMBERS)) is None
        return
    assert json.loads(raw) == json.loads(CANONICAL)  # the same data, laid out otherwise
    assert reread_lines(raw) is None


def test_canonical_lines_refuses_an_id_the_fast_path_read_leniently() -> None:
    raw = CANONICAL.replace(b'"5"', b'"05"')
    assert USER_DATA.members(parse_json(raw, PATH)["data"], PATH, strict=False).keys() == {5, 42}
    assert reread_lines(raw) is None


def test_canonical_lines_refuses_a_file_of_another_category() -> None:
    assert canonical_lines("chat_data", CANONICAL, MEMBERS, sorted(MEMBERS)) is None


def test_canonical_lines_refuses_a_large_int_orjson_rounded() -> None:
    raw = CANONICAL.replace(b'"a":1,', b'"a":18446744073709551616,')  # 2**64: a float to orjson
    assert reread_lines(raw) is None


def test_canonical_lines_refuses_a_duplicate_key_orjson_resolved() -> None:
    raw = CANONICAL.replace(b'{"a":1,', b'{"a":0,"a":1,')
    assert reread_lines(raw) is None


def test_canonical_lines_lets_orjsons_depth_limit_through() -> None:
    deep: Any = 0
    for _ in range(300):
        deep = [deep]
    with pytest.raises(orjson.JSONEncodeError):
        canonical_lines("user_data", b"", {1: deep}, [1])


user_members = st.dictionaries(st.integers(-(2**63), 2**63 - 1), plain_json(), max_size=3)


@given(user_members)
def test_any_rendered_file_is_json_and_canonical(members: dict[int, Any]) -> None:
    lines = lines_of(members)
    raw = render("user_data", lines, sorted(lines))
    parsed = json.loads(raw)
    assert parsed == {
        "jsonpersist": 1,
        "category": "user_data",
        "data": {str(key): orjson.loads(orjson.dumps(value)) for key, value in members.items()},
    }
    assert reread_lines(raw) == lines
    assert canonical_lines("user_data", raw, members, sorted(members)) == lines


def _token_gaps(raw: bytes) -> list[int]:
    """The positions in ``raw`` between two JSON tokens, where whitespace means nothing."""
    tokens: list[int | None] = []  # per byte: the token it belongs to; None for punctuation
    count, in_string, escaped = 0, False, False
    for index, byte in enumerate(raw):
        if in_string:
            tokens.append(count)
            if escaped:
                escaped = False
            elif byte == ord("\\"):
                escaped = True
            elif byte == ord('"'):
                in_string = False
        elif byte == ord('"'):
            count += 1
            tokens.append(count)
            in_string = True
        elif byte in b"{}[],: \n":
            tokens.append(None)
        else:  # a number, true, false or null
            if index == 0 or tokens[index - 1] is None or raw[index - 1] == ord('"'):
                count += 1
            tokens.append(count)
    return [
        index
        for index in range(len(raw) + 1)
        if index in {0, len(raw)}
        or tokens[index - 1] is None
        or tokens[index - 1] != tokens[index]
    ]


@given(st.dictionaries(st.integers(-(2**63), 2**63 - 1), small_json, max_size=3), st.data())
def test_whitespace_added_anywhere_between_tokens_is_not_canonical(
    members: dict[int, Any], data: st.DataObject
) -> None:
    raw = rendered(members)
    where = data.draw(st.sampled_from(_token_gaps(raw)))
    space = data.draw(st.sampled_from([b" ", b"\n", b"\t", b"\r"]))
    edited = raw[:where] + space + raw[where:]
    assert json.loads(edited) == json.loads(raw)
    assert reread_lines(edited) is None


# ---------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{\n  "a": }', "line 2, column 8"),
        (b"", "line 1, column 1"),
        (b'{"a": 1,}', "line 1, column 8"),
        (b"[1, 2", "line 1, column 6"),
        (b"\n\n   x", "line 3, column 4"),
    ],
    ids=["missing value", "empty", "trailing comma", "cut short", "third line"],
)
def test_parse_json_names_the_line_and_column(raw: bytes, where: str) -> None:
    error = corrupt(lambda: parse_json(raw, PATH))
    assert error.file == PATH
    assert error.where == where
    assert str(PATH) in str(error)
    assert where in str(error)
    assert error.reason.startswith("not valid JSON")


def test_parse_json_reads_a_canonical_file() -> None:
    assert parse_json(CANONICAL, PATH)["data"] == {"5": {"a": 1, "b": [1, 2]}, "42": {}}


def envelope(**fields: Any) -> dict[str, Any]:
    tree = {"jsonpersist": 1, "category": "user_data", "data": {"1": {}}}
    tree.update(fields)
    return {key: value for key, value in tree.items() if value is not ...}


def test_envelope_data_gives_the_data() -> None:
    assert envelope_data(envelope(), "user_data", PATH) == {"1": {}}


@pytest.mark.parametrize(
    "tree",
    [
        [],
        "user_data",
        None,
        1,
        envelope(data=...),
        envelope(category=...),
        envelope(jsonpersist=...),
        {**envelope(), "extra": 1},
        {"data": {}},
    ],
    ids=[
        "list",
        "string",
        "null",
        "number",
        "no data",
        "no category",
        "no version",
        "extra key",
        "only data",
    ],
)
def test_envelope_data_refuses_anything_but_the_three_keys(tree: Any) -> None:
    error = corrupt(lambda: envelope_data(tree, "user_data", PATH))
    assert error.file == PATH
    assert error.where == ""
    assert '"jsonpersist", "category" and "data"' in error.reason


@pytest.mark.parametrize(
    "version", [2, 0, -1, "1", 1.0, True, None, [1]], ids=repr
)  # 1.0 == 1 and True == 1, but neither is the int 1
def test_envelope_data_refuses_another_version(version: Any) -> None:
    error = corrupt(lambda: envelope_data(envelope(jsonpersist=version), "user_data", PATH))
    assert error.where == '["jsonpersist"]'
    assert error.file == PATH
    assert "upgrade jsonpersist" in error.reason
    assert repr(version) in error.reason


@pytest.mark.parametrize("category", ["chat_data", "USER_DATA", "", None, 1])
def test_envelope_data_refuses_another_category(category: Any) -> None:
    error = corrupt(lambda: envelope_data(envelope(category=category), "user_data", PATH))
    assert error.where == '["category"]'
    assert error.file == PATH
    assert repr(category) in error.reason
    assert "'user_data'" in error.reason


def test_strict_tree_reads_what_json_reads() -> None:
    raw = b'{"a": [1, 2.5, "x", true, null], "b": {}}'
    assert strict_tree(raw, PATH) == json.loads(raw)


@pytest.mark.parametrize(
    "raw",
    [b'{"a": 1, "a": 2}', b'{"a": 1, "a": 1}', b'[{"x": {"k": 1, "k": 1}}]'],
    ids=["different values", "equal values", "nested"],
)
def test_strict_tree_refuses_duplicate_keys(raw: bytes) -> None:
    error = corrupt(lambda: strict_tree(raw, PATH))
    assert error.file == PATH
    assert "duplicate key" in error.reason


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_strict_tree_refuses_nan_and_infinity_literals(literal: bytes) -> None:
    error = corrupt(lambda: strict_tree(b'{"a": [1, %b]}' % literal, PATH))
    assert error.file == PATH
    assert "is not JSON" in error.reason
    assert literal.decode() in error.reason


@pytest.mark.parametrize(
    ("raw", "byte"),
    [(b'{"a": "\xff"}', 7), (b'{"\xc3": 1}', 2), (b'["ok", "\xed\xa0\x80"]', 8)],
    ids=["0xff", "cut sequence", "encoded surrogate"],
)
def test_strict_tree_refuses_invalid_utf8_naming_the_byte(raw: bytes, byte: int) -> None:
    error = corrupt(lambda: strict_tree(raw, PATH))
    assert error.where == f"byte {byte}"
    assert error.file == PATH
    assert f"invalid UTF-8 at byte {byte}" in str(error)


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_strict_tree_refuses_deep_nesting_without_recursion_error(opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    raw = opener * 100_000 + b"1" + closer * 100_000
    error = corrupt(lambda: strict_tree(raw, PATH))
    assert error.file == PATH
    assert "nested too deeply" in error.reason


def test_strict_tree_names_the_line_and_column_of_a_syntax_error() -> None:
    error = corrupt(lambda: strict_tree(b'{\n  "a": 1,\n}', PATH))
    assert error.where == "line 3, column 1"
    assert error.file == PATH


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 2**200, -(10**100) + 1])
def test_strict_tree_keeps_integers_beyond_64_bits_exactly(number: int) -> None:
    tree = strict_tree(b'{"n": [%d]}' % number, PATH)
    assert tree == {"n": [number]}
    assert type(tree["n"][0]) is int
    assert type(orjson.loads(b"%d" % number)) is float  # where orjson rounds it


@given(st.dictionaries(st.integers(-(2**63), 2**63 - 1), small_json, max_size=5), st.booleans())
def test_the_size_of_a_file_is_known_without_laying_it_out(
    members: dict[int, Any], whole: bool
) -> None:
    # A save refuses a file larger than max_file_size from this figure alone.
    if whole:
        lines = {WHOLE: orjson.dumps(members, option=orjson.OPT_NON_STR_KEYS)}
    else:
        lines = {key: entry_line(key, orjson.dumps(value)) for key, value in members.items()}
    total = sum(map(len, lines.values()))
    size = rendered_size("user_data", len(lines), total, whole)
    assert size == len(render("user_data", lines, sorted(lines, key=str)))
