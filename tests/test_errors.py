"""The exceptions (``jsonpersist/_errors.py``): what they inherit and what they carry.

``docs/errors.md`` promises that every error is a ``JsonPersistError`` and the builtin a caller
would catch anyway, and that a ``CorruptStateError`` from a state file reads
``"<file> <where>: <message>"`` with ``file`` and ``where`` set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jsonpersist import CorruptStateError, JsonPersistence, JsonPersistError, _convert, _errors

BUILTINS: dict[str, type[BaseException]] = {
    "CorruptStateError": ValueError,
    "MergeConflictError": ValueError,
    "UnsupportedTypeError": TypeError,
    "StateLockedError": TimeoutError,
    "StateWriteError": OSError,
    "PicklePathError": ValueError,
    "PickleLoadError": ValueError,
    "RegistrationError": ValueError,
    "StateDirectoryError": OSError,
    "UnsafeDirectoryError": PermissionError,
}


def envelope(data: bytes, version: bytes = b"1") -> bytes:
    return (
        b'{\n  "jsonpersist": ' + version + b',\n  "category": "user_data",\n  "data": ' + data
    ) + b"\n}\n"


async def load_error(directory: Path, raw: bytes) -> CorruptStateError:
    directory.mkdir()
    (directory / "user_data.json").write_bytes(raw)
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    with pytest.raises(CorruptStateError) as caught:
        await persistence.get_user_data()
    return caught.value


def assert_documented_format(exc: CorruptStateError, file: Path, where: str) -> None:
    assert exc.file is not None
    assert exc.file.resolve() == file.resolve()
    assert exc.where == where
    assert str(exc).startswith(f"{exc.file} {where}: ")
    assert str(exc) == f"{exc.file} {exc.where}: {exc.reason}"


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b'{\n    "5": {"$nope":1}\n  }', "user_data[5]['$nope']"),  # as jsonpersist writes
        (b'{ "5" : { "$nope" : 1 } }', "user_data[5]['$nope']"),  # edited by hand
        (b'{\n    "5": {"cart":[1,{"$nope":1}]}\n  }', "user_data[5]['cart'][1]['$nope']"),
    ],
    ids=["canonical", "hand-edited", "nested"],
)
async def test_a_bad_tag_in_a_file_names_the_file_and_the_key_path(
    tmp_path: Path, data: bytes, where: str
) -> None:
    exc = await load_error(tmp_path / "state", envelope(data))
    assert_documented_format(exc, tmp_path / "state" / "user_data.json", where)
    assert "unknown tag '$nope'" in exc.reason


async def test_invalid_json_names_the_line_and_column(tmp_path: Path) -> None:
    exc = await load_error(tmp_path / "state", b'{\n  "jsonpersist": 1,\n  "x" }\n')
    assert_documented_format(exc, tmp_path / "state" / "user_data.json", "line 3, column 7")
    assert exc.reason.startswith("not valid JSON: ")


async def test_another_format_version_names_the_version_member(tmp_path: Path) -> None:
    exc = await load_error(tmp_path / "state", envelope(b"{}", version=b"3"))
    assert_documented_format(exc, tmp_path / "state" / "user_data.json", '["jsonpersist"]')
    assert exc.reason.startswith("format version 3 is not supported")


def pickle_error(name: str) -> type[BaseException]:
    """The class wherever this version defines it (``_errors`` now, ``_convert`` before)."""
    found: set[type[BaseException]] = {
        getattr(module, name) for module in (_errors, _convert) if hasattr(module, name)
    }
    assert len(found) == 1, f"{name}: {found}"
    return found.pop()


@pytest.mark.parametrize("name", ["PicklePathError", "PickleLoadError"])
def test_pickle_errors_are_json_persist_errors(name: str) -> None:
    cls = pickle_error(name)
    assert issubclass(cls, JsonPersistError)
    assert issubclass(cls, ValueError)


def test_pickle_errors_raised_by_the_converter_are_caught_as_json_persist_errors(
    tmp_path: Path,
) -> None:
    with pytest.raises(JsonPersistError) as missing:
        _convert.read_pickle(tmp_path / "nothing.pickle", _convert.Options())
    assert type(missing.value) is pickle_error("PicklePathError")
    (tmp_path / "junk.pickle").write_bytes(b"not a pickle")
    with pytest.raises(JsonPersistError) as junk:
        _convert.read_pickle(tmp_path / "junk.pickle", _convert.Options())
    assert type(junk.value) is pickle_error("PickleLoadError")


def test_every_error_is_a_json_persist_error_and_its_documented_builtin() -> None:
    assert set(_errors.__all__) == {"JsonPersistError", *BUILTINS}
    for name in _errors.__all__:
        cls = getattr(_errors, name)
        assert issubclass(cls, JsonPersistError), name
        assert issubclass(cls, BUILTINS.get(name, Exception)), name
