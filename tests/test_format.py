"""The state-file format on its own: entry lines, the header, the layout and strict parsing.

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

from jsonpersist import FORMAT_VERSION, CorruptStateError, MergeConflictError
from jsonpersist._format import (
    TAIL,
    canonical_line,
    conflict_regions,
    entry_line,
    file_entries,
    head,
    line_value,
    parse_json,
    render,
    render_chunks,
    rendered_size,
    strict_tree,
)

PATH = Path("/state/user_data.json")
HEAD = b'[{"jsonpersist":2,"category":"user_data"}\n'


def lines_of(members: dict[int, Any]) -> dict[int, bytes]:
    """The entry lines jsonpersist writes for already encoded user data members."""
    return {
        key: entry_line(b"%d" % key, orjson.dumps(member, option=orjson.OPT_SORT_KEYS))
        for key, member in members.items()
    }


def rendered(members: dict[int, Any]) -> bytes:
    """A canonical ``user_data.json`` holding ``members``."""
    lines = lines_of(members)
    return render("user_data", lines, sorted(lines))


def canonical(raw: bytes, name: str = "user_data") -> bool:
    """The loader's test for its fast path: the file is what jsonpersist writes for its data."""
    tree = file_entries(parse_json(raw, PATH), name, PATH)
    return raw == head(name) + b"".join(map(canonical_line, tree[1:])) + TAIL


def corrupt(call: Callable[[], Any]) -> CorruptStateError:
    with pytest.raises(CorruptStateError) as caught:
        call()
    assert isinstance(caught.value, ValueError)
    return caught.value


# ---------------------------------------------------------------------------- entry lines


def test_the_header_line_names_the_version_and_the_category() -> None:
    assert head("user_data") == HEAD
    assert json.loads(head("bot_data") + b"]") == [{"jsonpersist": 2, "category": "bot_data"}]
    assert FORMAT_VERSION == 2
    assert TAIL == b"]\n"


@pytest.mark.parametrize("key", [0, 1, -1, 42, -1001234567890, INT_MIN, 2**63 - 1])
def test_an_id_is_a_json_integer_and_the_value_comes_back(key: int) -> None:
    line = entry_line(b"%d" % key, b'{"a":1}')
    assert line == b',[%d,{"a":1}]\n' % key
    assert line_value(b"%d" % key, line) == b'{"a":1}'
    assert json.loads(line[1:]) == [key, {"a": 1}]


@pytest.mark.parametrize(
    "key",
    ['say "hi"', "back\\slash", "ünïcødé ✓ 🤖", "\u2028\u2029", "\x00", "\x1f\n\t\r", "\x7f", ""],
    ids=["quotes", "backslash", "unicode", "line separators", "nul", "controls", "del", "empty"],
)
def test_a_str_key_is_escaped_and_its_value_comes_back(key: str) -> None:
    encoded = orjson.dumps(key)
    line = entry_line(encoded, b"[1]")
    assert line.startswith(b',["')
    assert line_value(encoded, line) == b"[1]"
    assert json.loads(line[1:]) == [key, [1]]
    assert line.count(b"\n") == 1  # one entry, one line
    assert line.endswith(b"]\n")


def test_text_outside_ascii_is_written_as_it_is_not_escaped() -> None:
    assert entry_line(orjson.dumps("é"), b"1") == ',["é",1]\n'.encode()


def test_a_conversations_key_is_two_elements() -> None:
    key = b'"checkout",[5,5]'
    line = entry_line(key, b'"ASK"')
    assert line == b',["checkout",[5,5],"ASK"]\n'
    assert line_value(key, line) == b'"ASK"'


def test_a_whole_value_is_an_entry_without_a_key() -> None:
    value = b'{"$dict":[[1,"a"]]}'
    line = entry_line(None, value)
    assert line == b',[{"$dict":[[1,"a"]]}]\n'
    assert line_value(None, line) == value
    assert json.loads(line[1:]) == [{"$dict": [[1, "a"]]}]


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


@given(st.lists(st.text() | st.integers(INT_MIN, INT_MAX), max_size=2), small_json)
def test_any_key_round_trips(parts: list[Any], value: Any) -> None:
    key = b",".join(map(orjson.dumps, parts)) if parts else None
    encoded = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    line = entry_line(key, encoded)
    assert line_value(key, line) == encoded
    assert json.loads(line[1:]) == [*parts, json.loads(encoded)]
    assert canonical_line(json.loads(line[1:])) == line


# --------------------------------------------------------------------------------- layout


def test_an_empty_category_is_the_header_and_the_end() -> None:
    expected = HEAD + b"]\n"
    assert render("user_data", {}, []) == expected
    assert json.loads(expected) == [{"jsonpersist": 2, "category": "user_data"}]


def test_one_entry_is_one_line_starting_with_its_comma() -> None:
    lines = lines_of({5: {"a": 1}})
    assert render("user_data", lines, [5]) == HEAD + b',[5,{"a":1}]\n]\n'


def test_entries_are_laid_out_in_the_given_order() -> None:
    lines = lines_of({key: key for key in (2, 10, -5)})
    assert render("user_data", lines, [-5, 2, 10]) == HEAD + b",[-5,-5]\n,[2,2]\n,[10,10]\n]\n"
    assert render("user_data", lines, [10, 2, -5]) == HEAD + b",[10,10]\n,[2,2]\n,[-5,-5]\n]\n"


def test_an_order_naming_fewer_keys_leaves_the_others_out() -> None:
    lines = lines_of({1: 0, 2: 0})
    assert render("user_data", lines, [2]) == HEAD + b",[2,0]\n]\n"


def test_appending_or_removing_an_entry_changes_no_other_line() -> None:
    lines = lines_of({1: "a", 2: "b", 3: "c"})
    before = render("user_data", lines, [1, 2]).splitlines(keepends=True)
    after = render("user_data", lines, [1, 2, 3]).splitlines(keepends=True)
    assert after == [*before[:-1], lines[3], before[-1]]  # one line in, none changed
    without = render("user_data", lines, [1, 3]).splitlines(keepends=True)
    assert without == [line for line in after if line != lines[2]]


def test_the_format_version_is_written_into_the_header() -> None:
    assert json.loads(render("chat_data", {}, []))[0] == {
        "jsonpersist": FORMAT_VERSION,
        "category": "chat_data",
    }


LAYOUTS = {
    "empty": ({}, []),
    "one": ({7: entry_line(b"7", b'{"x":[1,2]}')}, [7]),
    "several": ({k: entry_line(b"%d" % k, b'"%d"' % k) for k in (-3, 0, 9)}, [-3, 0, 9]),
    "str keys": ({k: entry_line(orjson.dumps(k), b"null") for k in ("b", 'q"')}, ['q"', "b"]),
    "whole": ({None: entry_line(None, b'[1,{"$tuple":[2]}]')}, [None]),
}


@pytest.mark.parametrize(("lines", "order"), LAYOUTS.values(), ids=LAYOUTS.keys())
def test_a_rendered_file_is_one_json_array_of_the_header_and_the_entries(
    lines: dict[Any, bytes], order: list[Any]
) -> None:
    whole = render("user_data", lines, order)
    assert json.loads(whole) == [
        {"jsonpersist": 2, "category": "user_data"},
        *(json.loads(lines[key][1:]) for key in order),
    ]
    assert whole.count(b"\n") == len(order) + 2
    assert canonical(whole)


@pytest.mark.parametrize(("lines", "order"), LAYOUTS.values(), ids=LAYOUTS.keys())
def test_render_chunks_join_to_render(lines: dict[Any, bytes], order: list[Any]) -> None:
    chunks = render_chunks("user_data", lines, order)
    assert all(type(chunk) is bytes for chunk in chunks)
    assert b"".join(chunks) == render("user_data", lines, order)
    assert len(chunks) == len(order) + 2


# ------------------------------------------------------------------------- canonical check

MEMBERS = {5: {"a": 1, "b": [1, 2]}, 42: {}}
CANONICAL = rendered(MEMBERS)

LAYOUT_EDITS: dict[str, Callable[[bytes], bytes]] = {
    "extra space in an entry": lambda raw: raw.replace(b'{"a":1,', b'{"a": 1,'),
    "space after a comma": lambda raw: raw.replace(b",[42,", b", [42,"),
    "keys of an entry reordered": lambda raw: raw.replace(
        b'{"a":1,"b":[1,2]}', b'{"b":[1,2],"a":1}'
    ),
    "comma at the end of the line": lambda raw: raw.replace(
        b'[5,{"a":1,"b":[1,2]}]\n,[42,{}]\n', b'[5,{"a":1,"b":[1,2]}],\n[42,{}]\n'
    ),
    "entry indented": lambda raw: raw.replace(b"\n,[5", b"\n  ,[5"),
    "header keys reordered": lambda raw: raw.replace(
        b'{"jsonpersist":2,"category":"user_data"}', b'{"category":"user_data","jsonpersist":2}'
    ),
    "header spaced": lambda raw: raw.replace(b'"jsonpersist":2', b'"jsonpersist": 2'),
    "trailing newline missing": lambda raw: raw[:-1],
    "two trailing newlines": lambda raw: raw + b"\n",
    "crlf line ends": lambda raw: raw.replace(b"\n", b"\r\n"),
    "one line": lambda raw: orjson.dumps(json.loads(raw)),
    "indented": lambda raw: json.dumps(json.loads(raw), indent=2).encode(),
    "ascii escapes": lambda raw: raw.replace(b'"a"', b'"\\u0061"'),
    "id written as 5e0": lambda raw: raw.replace(b",[5,", b",[5e0,"),
}


def test_a_rendered_file_is_canonical() -> None:
    assert canonical(CANONICAL)
    assert canonical(rendered({}))


@pytest.mark.parametrize("edit", LAYOUT_EDITS.values(), ids=LAYOUT_EDITS.keys())
def test_any_other_layout_of_the_same_data_is_not_canonical(
    edit: Callable[[bytes], bytes],
) -> None:
    raw = edit(CANONICAL)
    assert raw != CANONICAL
    assert json.loads(raw) == json.loads(CANONICAL)  # the same data, laid out otherwise
    assert not canonical(raw)


def test_a_byte_order_mark_is_not_json_to_orjson() -> None:
    error = corrupt(lambda: parse_json(b"\xef\xbb\xbf" + CANONICAL, PATH))
    assert error.where == "line 1, column 1"


def test_a_large_int_orjson_rounded_is_not_canonical() -> None:
    raw = CANONICAL.replace(b'"a":1,', b'"a":18446744073709551616,')  # 2**64: a float to orjson
    assert not canonical(raw)


def test_a_duplicate_key_orjson_resolved_is_not_canonical() -> None:
    raw = CANONICAL.replace(b'{"a":1,', b'{"a":0,"a":1,')
    assert not canonical(raw)


def test_canonical_line_lets_orjsons_depth_limit_through() -> None:
    deep: Any = 0
    for _ in range(300):
        deep = [deep]
    with pytest.raises(orjson.JSONEncodeError):
        canonical_line([1, deep])


user_members = st.dictionaries(st.integers(-(2**63), 2**63 - 1), plain_json(), max_size=3)


@given(user_members)
def test_any_rendered_file_is_json_and_canonical(members: dict[int, Any]) -> None:
    raw = rendered(members)
    parsed = json.loads(raw)
    assert parsed == [
        {"jsonpersist": 2, "category": "user_data"},
        *([key, orjson.loads(orjson.dumps(members[key]))] for key in sorted(members)),
    ]
    assert canonical(raw)


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
    assert not canonical(edited)


# ---------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'[{"a": }', "line 1, column 8"),
        (b"", "line 1, column 1"),
        (HEAD + b",[1,{}],\n]\n", "line 2, column 8"),
        (b"[1, 2", "line 1, column 6"),
        (b"\n\n   x", "line 3, column 4"),
        (HEAD + b",[1,{}]\n,[2,{]\n]\n", "line 3, column 6"),
    ],
    ids=["missing value", "empty", "trailing comma", "cut short", "third line", "bad entry"],
)
def test_parse_json_names_the_line_and_column(raw: bytes, where: str) -> None:
    error = corrupt(lambda: parse_json(raw, PATH))
    assert error.file == PATH
    assert error.where == where
    assert str(PATH) in str(error)
    assert where in str(error)
    assert error.reason.startswith("not valid JSON")
    assert not isinstance(error, MergeConflictError)


def test_parse_json_reads_a_canonical_file() -> None:
    assert parse_json(CANONICAL, PATH) == [
        {"jsonpersist": 2, "category": "user_data"},
        [5, {"a": 1, "b": [1, 2]}],
        [42, {}],
    ]


# ------------------------------------------------------------------------- merge conflicts

CONFLICTED = (
    HEAD
    + b",[1,{}]\n"
    + b"<<<<<<< ours\n"
    + b',[5,{"a":1}]\n'
    + b"=======\n"
    + b',[5,{"a":2}]\n'
    + b">>>>>>> theirs\n"
    + b",[9,{}]\n"
    + b"<<<<<<< ours\n"
    + b"||||||| base\n"
    + b",[10,{}]\n"
    + b"=======\n"
    + b",[10,{}]\n"
    + b',[11,{"b":1}]\n'
    + b">>>>>>> theirs\n"
    + b"]\n"
)


def test_conflict_regions_are_the_marked_lines_and_what_they_hold() -> None:
    assert conflict_regions(CONFLICTED) == [
        (3, 7, [b',[5,{"a":1}]', b',[5,{"a":2}]']),
        (9, 15, [b",[10,{}]", b",[10,{}]", b',[11,{"b":1}]']),
    ]
    assert conflict_regions(CANONICAL) == []


def test_an_unterminated_conflict_ends_at_the_last_line() -> None:
    raw = HEAD + b"<<<<<<< ours\n,[5,{}]\n=======\n"
    assert conflict_regions(raw) == [(2, 5, [b",[5,{}]", b""])]


def test_a_marker_inside_a_line_is_not_a_conflict() -> None:
    raw = HEAD + b',[5,"<<<<<<< not a marker"]\n]\n'
    assert conflict_regions(raw) == []
    assert parse_json(raw, PATH)[1] == [5, "<<<<<<< not a marker"]


@pytest.mark.parametrize("parse", [parse_json, strict_tree], ids=["orjson", "strict"])
def test_a_file_with_conflict_markers_is_a_merge_conflict_with_its_lines(
    parse: Callable[[bytes, Path], Any],
) -> None:
    error = corrupt(lambda: parse(CONFLICTED, PATH))
    assert isinstance(error, MergeConflictError)
    assert error.file == PATH
    assert error.regions == [(3, 7), (9, 15)]
    assert error.where == "line 3"
    assert "merge conflict at lines 3-7, lines 9-15" in str(error)
    assert "jsonpersist check" in str(error)


# ------------------------------------------------------------------------------ the header


def test_file_entries_gives_the_header_and_the_entries() -> None:
    tree = [{"jsonpersist": 2, "category": "user_data"}, [1, {}]]
    assert file_entries(tree, "user_data", PATH) == tree


@pytest.mark.parametrize(
    "tree",
    [[], [[1, {}]], "user_data", None, 1, {"jsonpersist": 2, "category": "user_data"}],
    ids=["empty", "no header", "string", "null", "number", "an object"],
)
def test_file_entries_refuses_anything_but_an_array_with_a_header(tree: Any) -> None:
    error = corrupt(lambda: file_entries(tree, "user_data", PATH))
    assert error.file == PATH
    assert "first element is the header" in error.reason


@pytest.mark.parametrize(
    "header",
    [
        {"jsonpersist": 2},
        {"category": "user_data"},
        {"jsonpersist": 2, "category": "user_data", "data": {}},
        {},
    ],
    ids=["no category", "no version", "extra key", "empty"],
)
def test_file_entries_refuses_a_header_of_other_keys(header: dict[str, Any]) -> None:
    error = corrupt(lambda: file_entries([header], "user_data", PATH))
    assert error.where == "line 1"
    assert error.file == PATH
    assert '"jsonpersist" and "category"' in error.reason


@pytest.mark.parametrize(
    "version", [3, 0, -1, "2", 2.0, True, None, [2], "1"], ids=repr
)  # 2.0 == 2, but it is not the int 2
def test_file_entries_refuses_another_version(version: Any) -> None:
    header = {"jsonpersist": version, "category": "user_data"}
    error = corrupt(lambda: file_entries([header], "user_data", PATH))
    assert error.where == "line 1"
    assert error.file == PATH
    assert "upgrade jsonpersist" in error.reason
    assert repr(version) in error.reason


def test_file_entries_says_that_version_1_is_an_object() -> None:
    header = {"jsonpersist": 1, "category": "user_data"}
    error = corrupt(lambda: file_entries([header], "user_data", PATH))
    assert error.where == "line 1"
    assert "format version 1 is one object" in error.reason
    assert "upgrade" not in error.reason


@pytest.mark.parametrize("category", ["chat_data", "USER_DATA", "", None, 1])
def test_file_entries_refuses_another_category(category: Any) -> None:
    header = {"jsonpersist": 2, "category": category}
    error = corrupt(lambda: file_entries([header], "user_data", PATH))
    assert error.where == "line 1"
    assert error.file == PATH
    assert repr(category) in error.reason
    assert "'user_data'" in error.reason


# --------------------------------------------------------------------------- strict parsing


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
    # Python's json names the brace after a trailing comma; 3.13's names the comma itself.
    assert error.where in ("line 3, column 1", "line 2, column 9")
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
        lines: dict[Any, bytes] = {None: entry_line(None, orjson.dumps(list(members)))}
    else:
        lines = lines_of(members)
    total = sum(map(len, lines.values()))
    size = rendered_size("user_data", total)
    assert size == len(render("user_data", lines, list(lines)))
