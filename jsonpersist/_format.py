"""The state-file format: a header line, one line per entry, and parsing it strictly.

What a category file looks like on disk, as bytes and JSON trees. It knows neither PTB nor how
values are encoded (that is ``_entries``), and it holds no runtime state.

A file (format version 2) is a JSON array: a header, then one *entry line* each, in order::

    [{"jsonpersist":2,"category":"user_data"}
    ,[5,{"lang":"en"}]
    ,[42,{}]
    ]

An entry is an array whose last element is the value and whose elements before it are the key
(one for a user, chat or bot data key; a handler's name and a conversation's key for a
conversation; none for a bot data that is not a dict). Every entry line starts with its own
comma, and the header and the closing bracket never change: adding an entry adds a line and
changes none, removing one removes its line and nothing else.

Version 1 (one object with ``"jsonpersist": 1``, ``"category"`` and ``"data"``) is read by
``_entries`` and written as version 2 at the next save.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from jsonpersist._errors import CorruptStateError, MergeConflictError

__all__ = (
    "FORMAT_VERSION",
    "TAIL",
    "WHOLE",
    "conflict_regions",
    "entry_line",
    "file_entries",
    "head",
    "line_value",
    "parse_json",
    "render",
    "render_chunks",
    "rendered_size",
    "strict_tree",
)

#: The version of the state-file layout, written into every file's header.
FORMAT_VERSION = 2


class _Whole:
    __slots__ = ()

    def __repr__(self) -> str:
        return "WHOLE"


#: The key of a category value laid out whole, on one line with no key. An object of its own,
#: so that no key of the application's (a string, say) can ever be taken for it.
WHOLE: Any = _Whole()
#: The last line of every file.
TAIL = b"]\n"
_SORT = orjson.OPT_SORT_KEYS
_MARKERS = (b"<<<<<<<", b"=======", b">>>>>>>", b"|||||||")


def head(name: str) -> bytes:
    """The first line of a category's file: the header, and the array's opening bracket."""
    return b'[{"jsonpersist":%d,"category":"%s"}\n' % (FORMAT_VERSION, name.encode())


def entry_line(key: bytes | None, value: bytes) -> bytes:
    """The line of one entry.

    Args:
        key (:obj:`bytes` | :obj:`None`): The key's elements as JSON, comma-separated
            (``b"5"``, ``b'"checkout",[5,5]'``); :obj:`None` for a value laid out whole.
        value (:obj:`bytes`): The entry's JSON, on one line.
    """
    if key is None:
        return b",[%b]\n" % value
    return b",[%b,%b]\n" % (key, value)


def line_value(key: bytes | None, line: bytes) -> bytes:
    """The JSON value of a line made by :func:`entry_line` for ``key``."""
    start = 2 if key is None else len(key) + 3
    return line[start:-2]


def render_chunks(name: str, lines: Mapping[Any, bytes], order: Iterable[Any]) -> list[bytes]:
    """Lays a category file out: the header, one line per entry in ``order``, the end.

    The pieces are written as they are (with ``writev``), so the whole file never has to exist
    as one buffer.
    """
    chunks = [head(name)]
    chunks.extend(map(lines.__getitem__, order))
    chunks.append(TAIL)
    return chunks


def rendered_size(name: str, total: int) -> int:
    """The size of the file :func:`render_chunks` lays out from lines of ``total`` bytes."""
    return len(head(name)) + total + len(TAIL)


def render(name: str, lines: Mapping[Any, bytes], order: Iterable[Any]) -> bytes:
    """:func:`render_chunks` joined into one byte string."""
    return b"".join(render_chunks(name, lines, order))


def conflict_regions(raw: bytes) -> list[tuple[int, int, list[bytes]]]:
    """Git's conflict regions in a file: first and last line number, and the lines inside.

    A region starts at a line beginning with ``<<<<<<<`` and ends at one beginning with
    ``>>>>>>>``; an unterminated one ends at the last line.
    """
    if b"<<<<<<<" not in raw:
        return []
    regions: list[tuple[int, int, list[bytes]]] = []
    start: int | None = None
    inside: list[bytes] = []
    lines = raw.split(b"\n")
    for number, line in enumerate(lines, 1):
        if line.startswith(_MARKERS[0]):
            start, inside = number, []
        elif start is not None and line.startswith(_MARKERS[2]):
            regions.append((start, number, inside))
            start = None
        elif start is not None and not line.startswith(_MARKERS[1:]):
            inside.append(line)
    if start is not None:
        regions.append((start, len(lines), inside))
    return regions


def file_entries(tree: Any, name: str, path: Path) -> list[Any]:
    """Checks a parsed version-2 file's header and returns its entries.

    Raises:
        CorruptStateError: Not a version-2 file of this category.
    """
    if type(tree) is not list or not tree or type(tree[0]) is not dict:
        raise CorruptStateError(
            'expected an array whose first element is the header {"jsonpersist": 2, '
            '"category": ...}',
            file=path,
        )
    header = tree[0]
    version = header.get("jsonpersist")
    if header.keys() != {"jsonpersist", "category"}:
        raise CorruptStateError(
            'the header must have exactly the keys "jsonpersist" and "category"',
            file=path,
            where="line 1",
        )
    if type(version) is int and version == 1:
        raise CorruptStateError(
            'a file of format version 1 is one object {"jsonpersist": 1, "category": ..., '
            '"data": ...}, not an array; write it so, or as version 2',
            file=path,
            where="line 1",
        )
    if type(version) is not int or version != FORMAT_VERSION:
        raise CorruptStateError(
            f"format version {version!r} is not supported by this jsonpersist "
            f"(it reads versions 1 and {FORMAT_VERSION}); upgrade jsonpersist",
            file=path,
            where="line 1",
        )
    if header["category"] != name:
        raise CorruptStateError(
            f"holds {header['category']!r}, expected {name!r}", file=path, where="line 1"
        )
    return tree


def parse_json(raw: bytes, path: Path) -> Any:
    """Parses a file with orjson (fast; lenient about duplicate keys and huge integers).

    Raises:
        MergeConflictError: The file holds git's conflict markers.
        CorruptStateError: Not JSON; ``where`` gives the line and column.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if not str(exc).startswith("failed to allocate memory"):
            raise _not_json(exc, raw, path) from None
    # orjson 3.13.0 refuses some valid documents so (an indented object holding an array of a
    # thousand small arrays, a few KB, as jsonpersist 1 wrote them): the standard library
    # reads them; a file that is not canonical is then parsed strictly anyway.
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise _not_json(exc, raw, path) from None
    except ValueError as exc:  # NaN, Infinity, or not UTF-8
        raise CorruptStateError(str(exc), file=path) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _not_json(exc: json.JSONDecodeError, raw: bytes, path: Path) -> CorruptStateError:
    """The error for a syntax error found by orjson or :mod:`json`: a conflict, or its place."""
    regions = conflict_regions(raw)
    if regions:
        return MergeConflictError(path, [(first, last) for first, last, _ in regions], [])
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:  # orjson names no place for it: name the byte's
        line = raw.count(b"\n", 0, bad.start) + 1
        column = bad.start - raw.rfind(b"\n", 0, bad.start)
        return CorruptStateError(
            f"invalid UTF-8 at byte {bad.start}", file=path, where=f"line {line}, column {column}"
        )
    return CorruptStateError(
        f"not valid JSON: {exc.msg} (byte {exc.pos})",
        file=path,
        where=f"line {exc.lineno}, column {exc.colno}",
    )


def strict_tree(raw: bytes, path: Path) -> Any:
    """Parses a file that is not byte for byte what jsonpersist writes (e.g. hand-edited).

    Slower than orjson, but it refuses duplicate keys and NaN literals and keeps integers of
    any size exactly, where orjson would silently resolve or round them.

    Raises:
        CorruptStateError: Not strict JSON, naming the reason.
    """

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise ValueError(f"duplicate key {key!r} in one object")
            out[key] = value
        return out

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=pairs, parse_constant=constant)
    except UnicodeDecodeError as exc:
        raise CorruptStateError(
            f"invalid UTF-8 at byte {exc.start}", file=path, where=f"byte {exc.start}"
        ) from None
    except RecursionError:
        raise CorruptStateError("nested too deeply", file=path) from None
    except json.JSONDecodeError as exc:
        raise _not_json(exc, raw, path) from None
    except ValueError as exc:
        raise CorruptStateError(str(exc), file=path) from None


def canonical_line(element: Any) -> bytes:
    """The line jsonpersist writes for a parsed entry (to compare with the file's bytes).

    Raises:
        orjson.JSONEncodeError: The entry is nested deeper than orjson writes.
    """
    return b"," + orjson.dumps(element, option=_SORT) + b"\n"
