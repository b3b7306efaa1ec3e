"""The layout of a category file: header, one line per entry, and parsing it strictly.

What a state file looks like on disk, independent of PTB and of how values are encoded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from jsonpersist._errors import CorruptStateError
from jsonpersist._store import Signature

__all__ = (
    "BY_ID",
    "DROP",
    "FORMAT_VERSION",
    "LIVE",
    "SORT",
    "WHOLE",
    "Slot",
    "canonical_lines",
    "entry_line",
    "entry_where",
    "render",
    "render_chunks",
    "replace_contents",
    "sorted_keys",
    "strict_tree",
)

#: The version of the state-file layout, written into every file as ``"jsonpersist"``.
FORMAT_VERSION = 1
SORT = orjson.OPT_SORT_KEYS
DROP = object()  # staged in place of a value: the entry is to be removed
LIVE = object()  # staged for a conversation handler: its states are copied when the round runs
WHOLE = "\x00whole"  # the key of a value category laid out on one line
BY_ID = frozenset({"user_data", "chat_data"})


class Slot:
    """One category: its file, the encoded lines of its last save and what awaits encoding."""

    __slots__ = (
        "broken",
        "external",
        "file",
        "held",
        "keyed",
        "lines",
        "loaded",
        "name",
        "order",
        "pending",
        "saved",
        "seen",
        "unsaved",
    )

    def __init__(self, name: str, keyed: bool) -> None:
        self.name = name
        self.file = f"{name}.json"
        self.keyed = keyed  # entries are users/chats/handlers, merged one by one
        self.loaded = False
        self.broken: CorruptStateError | None = None
        self.lines: dict[Any, bytes] = {}
        self.order: list[Any] | None = None  # the sorted keys of ``lines``; None: sort again
        self.pending: dict[Any, Any] = {}
        self.unsaved = False
        # With ``watch``: the version of the file last loaded or written, the entries someone
        # else changed that the application has not been given yet, and the error of a
        # malformed edit that keeps this category from being written until it is fixed.
        self.seen: Signature | None = None
        self.saved: dict[Any, bytes] = {}  # the lines of that version
        self.external: dict[Any, Any] = {}
        self.held: CorruptStateError | None = None


def entry_line(key: Any, value: bytes) -> bytes:
    """The line of one entry; a value category laid out whole is just its value."""
    if type(key) is int:
        return b'    "%d": %b' % (key, value)
    if key is WHOLE:
        return value
    return b"    " + orjson.dumps(str(key)) + b": " + value


def sorted_keys(name: str, lines: dict[Any, bytes]) -> list[Any]:
    """User and chat ids sort as numbers, other keys as text."""
    return sorted(lines) if name in BY_ID else sorted(lines, key=str)


def render_chunks(name: str, lines: dict[Any, bytes], order: list[Any] | None) -> list[bytes]:
    """Lays a category out: a short header, then one line per entry, sorted.

    A change to one entry is a one-line diff. The pieces are written as they are (with
    ``writev``), so the whole file never has to exist as one buffer.
    """
    head = b'{\n  "jsonpersist": %d,\n  "category": "%s",\n  "data": ' % (
        FORMAT_VERSION,
        name.encode(),
    )
    if WHOLE in lines:
        return [head, lines[WHOLE], b"\n}\n"]
    if not lines:
        return [head, b"{}\n}\n"]
    chunks = [head, b"{\n"]
    separator = b",\n"
    for key in order if order is not None else sorted_keys(name, lines):
        chunks.append(lines[key])
        chunks.append(separator)
    chunks[-1] = b"\n  }\n}\n"
    return chunks


def render(name: str, lines: dict[Any, bytes]) -> bytes:
    return b"".join(render_chunks(name, lines, None))


def canonical_lines(name: str, raw: bytes, members: dict[Any, Any]) -> dict[Any, bytes] | None:
    """The lines of a file that is byte for byte what jsonpersist writes; else :obj:`None`.

    Byte equality with a fresh encoding is what proves a file has no duplicate keys, no
    integers orjson rounded and no hand-made layout.
    """
    lines = {
        key: entry_line(key, orjson.dumps(member, option=SORT)) for key, member in members.items()
    }
    return lines if render(name, lines) == raw else None


def entry_where(name: str, key: Any) -> str:
    """How error messages name an entry: ``user_data[123]``, or ``bot_data['motd']``."""
    return name if key is WHOLE else f"{name}[{key!r}]"


def replace_contents(target: Any, value: Any) -> None:
    """Gives the application's object (which handlers hold) new contents, in place."""
    target.clear()
    target.update(value)


def strict_tree(raw: bytes, path: Path) -> Any:
    """Parses a file that is not byte-for-byte what jsonpersist writes (e.g. hand-edited).

    Slower than orjson, but it refuses duplicate keys and NaN literals and keeps integers of
    any size exactly, where orjson would silently resolve or round them.
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
        raise CorruptStateError(f"invalid UTF-8 at byte {exc.start}", file=path) from None
    except RecursionError:
        raise CorruptStateError("nested too deeply", file=path) from None
    except ValueError as exc:
        raise CorruptStateError(str(exc), file=path) from None
