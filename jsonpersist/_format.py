"""The state-file format: the envelope, one line per entry, and parsing it strictly.

What a category file looks like on disk, as bytes and JSON trees. It knows neither PTB nor how
values are encoded (that is ``_entries``), and it holds no runtime state.

A file is an *envelope* around the category's data::

    {
      "jsonpersist": 1,
      "category": "user_data",
      "data": {
        "123": {...},
        "456": {...}
      }
    }

Each member of ``data`` is one *entry line*, sorted, so that a change to one entry is a one-line
diff. A category whose value cannot be split into members is laid out whole after ``"data": ``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from jsonpersist._errors import CorruptStateError

__all__ = (
    "FORMAT_VERSION",
    "WHOLE",
    "canonical_lines",
    "entry_line",
    "entry_value",
    "envelope_data",
    "parse_json",
    "render",
    "render_chunks",
    "render_data",
    "rendered_size",
    "strict_tree",
)

#: The version of the state-file layout, written into every file as ``"jsonpersist"``.
FORMAT_VERSION = 1


class _Whole:
    __slots__ = ()

    def __repr__(self) -> str:
        return "WHOLE"


#: The key of a category value laid out whole, on the line after ``"data": ``. An object of
#: its own, so that no key of the application's (a string, say) can ever be taken for it.
WHOLE: Any = _Whole()
_SORT = orjson.OPT_SORT_KEYS
_INDENT = b"    "
_ENVELOPE_KEYS = frozenset({"jsonpersist", "category", "data"})
_TAIL = b"\n}\n"


def entry_line(key: Any, value: bytes) -> bytes:
    """The line of one entry: its key and its JSON value; a whole value is just the value.

    Args:
        key: An ``int`` id, a ``str`` member name or :data:`WHOLE`.
        value (:obj:`bytes`): The entry's JSON, on one line.
    """
    if type(key) is int:
        return b'%b"%d": %b' % (_INDENT, key, value)
    if key is WHOLE:
        return value
    return _INDENT + orjson.dumps(str(key)) + b": " + value


def entry_value(key: Any, line: bytes) -> bytes:
    """The JSON value of an entry line made by :func:`entry_line` (the line without its key)."""
    return line[len(entry_line(key, b"")) :]


def _head(name: str) -> bytes:
    return b'{\n  "jsonpersist": %d,\n  "category": "%s",\n  "data": ' % (
        FORMAT_VERSION,
        name.encode(),
    )


def _body(lines: Mapping[Any, bytes], order: Iterable[Any]) -> list[bytes]:
    """The ``data`` object of a file from its entry lines, in the given order, as pieces."""
    if WHOLE in lines:
        return [lines[WHOLE]]
    chunks = [b"{\n"]
    for key in order:
        chunks.append(lines[key])
        chunks.append(b",\n")
    if len(chunks) == 1:
        return [b"{}"]
    chunks[-1] = b"\n  }"
    return chunks


def render_chunks(name: str, lines: Mapping[Any, bytes], order: Iterable[Any]) -> list[bytes]:
    """Lays a category file out: the envelope, then one line per entry in ``order``.

    The pieces are written as they are (with ``writev``), so the whole file never has to exist
    as one buffer. Built in one pass: a round at N = 100,000 users does this once.
    """
    head = _head(name)
    if WHOLE in lines:
        return [head, lines[WHOLE], _TAIL]
    chunks = [head, b"{\n"]
    append = chunks.append
    for key in order:
        append(lines[key])
        append(b",\n")
    if len(chunks) == 2:  # noqa: PLR2004 - the head and the opening brace: no entry
        return [head, b"{}", _TAIL]
    chunks[-1] = b"\n  }" + _TAIL
    return chunks


def rendered_size(name: str, count: int, total: int, whole: bool) -> int:
    """The size of the file :func:`render_chunks` lays out, without laying it out.

    Args:
        name (:obj:`str`): The category.
        count (:obj:`int`): How many entry lines.
        total (:obj:`int`): Their lengths added up.
        whole (:obj:`bool`): Whether the one line is a value laid out whole.
    """
    head = len(_head(name))
    if whole:
        return head + total + len(_TAIL)
    if not count:
        return head + len(b"{}") + len(_TAIL)
    return head + len(b"{\n") + total + len(b",\n") * (count - 1) + len(b"\n  }") + len(_TAIL)


def render(name: str, lines: Mapping[Any, bytes], order: Iterable[Any]) -> bytes:
    """:func:`render_chunks` joined into one byte string."""
    return b"".join(render_chunks(name, lines, order))


def render_data(lines: Mapping[Any, bytes], order: Iterable[Any]) -> bytes:
    """Only the ``data`` object of a category file, as valid JSON on its own."""
    return b"".join(_body(lines, order))


def canonical_lines(
    name: str, raw: bytes, members: Mapping[Any, Any], order: Iterable[Any]
) -> dict[Any, bytes] | None:
    """The lines of a file that is byte for byte what jsonpersist writes; else :obj:`None`.

    Byte equality with a fresh rendering is what proves a file has no duplicate keys, no
    integers orjson rounded and no hand-made layout.

    Raises:
        orjson.JSONEncodeError: A member is nested deeper than orjson writes.
    """
    lines = {
        key: entry_line(key, orjson.dumps(member, option=_SORT)) for key, member in members.items()
    }
    return lines if render(name, lines, order) == raw else None


def parse_json(raw: bytes, path: Path) -> Any:
    """Parses a file with orjson (fast; lenient about duplicate keys and huge integers).

    Raises:
        CorruptStateError: Not JSON; ``where`` gives the line and column.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if not str(exc).startswith("failed to allocate memory"):
            raise _not_json(exc, path) from None
    # orjson 3.13.0 refuses some valid documents so (an indented object holding an array of a
    # thousand small arrays, a few KB, as jsonpersist itself writes them): the standard library
    # reads them; a file that is not canonical is then parsed strictly anyway.
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise _not_json(exc, path) from None
    except ValueError as exc:  # NaN, Infinity, or not UTF-8
        raise CorruptStateError(str(exc), file=path) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _not_json(exc: json.JSONDecodeError, path: Path) -> CorruptStateError:
    """The error for a syntax error found by orjson or by :mod:`json`, naming its place."""
    return CorruptStateError(
        f"not valid JSON: {exc.msg} (byte {exc.pos})",
        file=path,
        where=f"line {exc.lineno}, column {exc.colno}",
    )


def envelope_data(tree: Any, name: str, path: Path) -> Any:
    """Checks a parsed file's envelope and returns its ``data``.

    Raises:
        CorruptStateError: Not an envelope, another version or another category's file.
    """
    if type(tree) is not dict or tree.keys() != _ENVELOPE_KEYS:
        raise CorruptStateError(
            'expected an object with the keys "jsonpersist", "category" and "data"', file=path
        )
    version = tree["jsonpersist"]
    if type(version) is not int or version != FORMAT_VERSION:
        raise CorruptStateError(
            f"format version {version!r} is not supported by this jsonpersist "
            f"(it reads version {FORMAT_VERSION}); upgrade jsonpersist",
            file=path,
            where='["jsonpersist"]',
        )
    if tree["category"] != name:
        raise CorruptStateError(
            f"holds {tree['category']!r}, expected {name!r}", file=path, where='["category"]'
        )
    return tree["data"]


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
        raise _not_json(exc, path) from None
    except ValueError as exc:
        raise CorruptStateError(str(exc), file=path) from None
