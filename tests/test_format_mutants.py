"""The corners of the state-file format that ``tests/test_format.py`` leaves open.

Found by mutation testing (``tests/mutation/mutate.py jsonpersist/_format.py``): each test
here asserts what a user of a state file relies on, where a small slip in ``_format`` would
otherwise go unnoticed. No files are written; the path only names the file in errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from jsonpersist import CorruptStateError, MergeConflictError
from jsonpersist._format import WHOLE, entry_line, parse_json

PATH = Path("/state/bot_data.json")

#: A valid file of format version 1 as jsonpersist 1 wrote it (indented), which orjson 3.13.0
#: refuses with "failed to allocate memory" although it is 5 KB.
OLD_LAYOUT = b'{\n  "v": [' + b",".join([b"[1]"] * 1300) + b"]\n}"


def corrupt(raw: bytes) -> CorruptStateError:
    """The error :func:`parse_json` refuses ``raw`` with, checked to name the file."""
    with pytest.raises(CorruptStateError) as caught:
        parse_json(raw, PATH)
    assert isinstance(caught.value, ValueError)
    assert caught.value.file == PATH
    return caught.value


@pytest.fixture
def orjson_out_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """orjson refuses every document as it refuses :data:`OLD_LAYOUT`: the fallback reads them."""

    def refuse(raw: bytes | str) -> Any:
        raise orjson.JSONDecodeError("failed to allocate memory", "", 0)

    monkeypatch.setattr(orjson, "loads", refuse)


# --------------------------------------------------------------------- the WHOLE key


def test_the_lines_of_a_value_laid_out_whole_print_their_key_as_whole() -> None:
    # What a developer sees for a bot_data that is not a dict, in a debugger or a failed test.
    lines = {WHOLE: entry_line(None, b"[1,2]")}
    assert repr(lines) == "{WHOLE: b',[[1,2]]\\n'}"
    assert f"{WHOLE!r}" == str(WHOLE) == "WHOLE"


# ------------------------------------------------------------ bytes that are not UTF-8


@pytest.mark.parametrize(
    ("raw", "byte", "where"),
    [
        (b"\xff", 0, "line 1, column 1"),
        (b'["caf\xe9"]', 5, "line 1, column 6"),
        (b"\n\xff", 1, "line 2, column 1"),
        (b'[1,\n "caf\xe9"]', 9, "line 2, column 6"),
        (b'{"a":\n\n  "\xc3"}', 10, "line 3, column 4"),
        (
            b'[{"jsonpersist":2,"category":"bot_data"}\n,["k",1]\n,["\xfe",2]\n]\n',
            53,
            "line 3, column 4",
        ),
    ],
    ids=[
        "first byte",
        "first line",
        "after a leading newline",
        "second line",
        "third line",
        "entry",
    ],
)
def test_a_byte_that_is_not_utf8_is_refused_naming_its_line_and_column(
    raw: bytes, byte: int, where: str
) -> None:
    # orjson names no place for it: the error must, so that the user can find it in an editor.
    error = corrupt(raw)
    assert error.where == where
    assert error.reason == f"invalid UTF-8 at byte {byte}"
    assert where in str(error)
    assert not isinstance(error, MergeConflictError)


# -------------------------------------------- documents orjson refuses for lack of memory


def test_a_valid_file_orjson_refuses_for_memory_is_read_in_full() -> None:
    assert parse_json(OLD_LAYOUT, PATH) == {"v": [[1]] * 1300}


@pytest.mark.usefixtures("orjson_out_of_memory")
def test_the_fallback_reads_a_state_file_exactly() -> None:
    raw = b'[{"jsonpersist":2,"category":"bot_data"}\n,["k",{"a":[1,2.5,null,true]}]\n]\n'
    assert parse_json(raw, PATH) == [
        {"jsonpersist": 2, "category": "bot_data"},
        ["k", {"a": [1, 2.5, None, True]}],
    ]


@pytest.mark.usefixtures("orjson_out_of_memory")
@pytest.mark.parametrize(
    ("raw", "where"),
    [(b'{\n  "v": [1,\n}', "line 3, column 1"), (b'{"v": 1}x', "line 1, column 9")],
    ids=["cut short", "extra data"],
)
def test_the_fallback_refuses_a_syntax_error_naming_its_place(raw: bytes, where: str) -> None:
    error = corrupt(raw)
    assert error.where == where
    assert error.reason.startswith("not valid JSON")


@pytest.mark.usefixtures("orjson_out_of_memory")
@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_the_fallback_refuses_nan_and_infinity(literal: bytes) -> None:
    # The standard library would read them as floats that no JSON file can hold.
    error = corrupt(b'{"v": [1, %b]}' % literal)
    assert error.reason == f"{literal.decode()} is not JSON"


@pytest.mark.usefixtures("orjson_out_of_memory")
def test_the_fallback_refuses_bytes_that_are_not_utf8() -> None:
    error = corrupt(b'{"v": "caf\xe9"}')
    assert "utf-8" in error.reason.lower()


@pytest.mark.usefixtures("orjson_out_of_memory")
def test_the_fallback_names_a_merge_conflicts_lines() -> None:
    raw = b'{"v": [\n<<<<<<< ours\n1\n=======\n2\n>>>>>>> theirs\n]}\n'
    error = corrupt(raw)
    assert isinstance(error, MergeConflictError)
    assert error.regions == [(2, 6)]


def test_a_real_nan_in_a_file_orjson_refuses_for_memory_is_refused() -> None:
    # The fallback's NaN check, on orjson's real refusal (3.13.0) rather than a patched one.
    error = corrupt(OLD_LAYOUT[:-2] + b', "n": NaN\n}')
    assert error.reason == "NaN is not JSON"
