"""State files (format version 2) read and written as plain JSON, without jsonpersist.

A file is ``[header, entry, entry, ...]``; an entry is an array whose last element is the value
and whose elements before it are the key. Here a key of one element (a user's or chat's id, a
bot data key) is that element, a key of several (a conversation's handler name and key, a
callback data entry's kind and id) is a tuple of them with lists as tuples, and the key of a
bot data laid out whole (``[value]``) is ``()``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ("VERSION", "document", "edit", "entries", "header")

#: The format version these helpers read and write.
VERSION = 2


def header(category: str) -> dict[str, Any]:
    """The first element of a category's file."""
    return {"jsonpersist": VERSION, "category": category}


def entries(path: Path) -> dict[Any, Any]:
    """The entries of a version-2 file, by key, their values as JSON trees, in file order."""
    tree = json.loads(path.read_bytes())
    assert type(tree) is list, f"{path.name}: not a version-2 file"
    assert tree[0] == header(path.stem), f"{path.name}: header {tree[0]!r}"
    out: dict[Any, Any] = {}
    for entry in tree[1:]:
        assert type(entry) is list, f"{path.name}: entry {entry!r}"
        assert entry, f"{path.name}: an empty entry"
        key = _key(entry[:-1])
        assert key not in out, f"{path.name}: {key!r} twice"
        out[key] = entry[-1]
    return out


def document(category: str, members: dict[Any, Any] | Iterable[list[Any]]) -> str:
    """A file as a person writes one: indented, not jsonpersist's layout.

    ``members`` is a dict by key (as :func:`entries` gives it) or the entries as arrays.
    """
    arrays = (
        [[*_parts(key), value] for key, value in members.items()]
        if isinstance(members, dict)
        else [list(entry) for entry in members]
    )
    return json.dumps([header(category), *arrays], indent=2)


def edit(path: Path, change: Callable[[dict[Any, Any]], Any]) -> None:
    """Edits a file as a person would: load it, change its entries, write it back indented."""
    members = entries(path)
    change(members)
    path.write_text(document(path.stem, members))


def _key(parts: list[Any]) -> Any:
    if len(parts) == 1 and type(parts[0]) in (int, str):
        return parts[0]
    return tuple(_freeze(part) for part in parts)


def _freeze(part: Any) -> Any:
    return tuple(map(_freeze, part)) if type(part) is list else part


def _parts(key: Any) -> list[Any]:
    if type(key) is tuple:
        return [_thaw(part) for part in key]
    return [key]


def _thaw(part: Any) -> Any:
    return [_thaw(item) for item in part] if type(part) is tuple else part
