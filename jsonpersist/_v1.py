"""Reading files of format version 1, which jsonpersist wrote before version 2.

A version-1 file is one object: ``{"jsonpersist": 1, "category": ..., "data": {...}}``, with
one member of ``data`` per user, chat, conversation handler (all of its conversations) or bot
data key. It is read strictly (any layout) into the entries of version 2; the next save of the
category writes it as version 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonpersist._categories import CALLBACK_DATA, CONVERSATIONS, Category, _callback_problem
from jsonpersist._errors import CorruptStateError, UnsupportedTypeError
from jsonpersist._format import FORMAT_VERSION

if TYPE_CHECKING:
    from jsonpersist._entries import EntryCodec

__all__ = ("V1_VERSION", "read_v1")

#: The version number of the old layout.
V1_VERSION = 1
_ENVELOPE_KEYS = frozenset({"jsonpersist", "category", "data"})


def read_v1(category: Category, tree: Any, entries: EntryCodec, path: Path) -> dict[Any, Any]:
    """The decoded entries of a version-1 file (parsed strictly), by version-2 key.

    Raises:
        CorruptStateError: The file is not a valid version-1 file of this category.
    """
    data = _data(tree, category.name, path)
    if category.name in ("user_data", "chat_data", CONVERSATIONS.name) and type(data) is not dict:
        raise CorruptStateError('"data" must be an object', file=path)
    if category is CONVERSATIONS:
        out = {}
        for name, member in data.items():
            states = _decode(entries, f"{category.name}[{name!r}]", member, path)
            if type(states) is not dict:
                raise CorruptStateError(
                    "a handler's conversations must be a dict",
                    file=path,
                    where=f"{category.name}[{name!r}]",
                )
            for key, state in states.items():
                try:
                    CONVERSATIONS.storable(state, entries.context_types, (name, key))
                except UnsupportedTypeError as exc:  # a key version 2 cannot hold
                    raise CorruptStateError(exc.args[0], file=path) from None
                out[(name, key)] = state
        return out
    if category.keyed:  # user or chat data
        ids = {}
        for text, member in data.items():
            key = category.parse_id(text, path)  # type: ignore[attr-defined]
            if key in ids:
                raise CorruptStateError(
                    "the same id appears twice", file=path, where=f"{category.name}[{text!r}]"
                )
            ids[key] = _decode(entries, category.where(key), member, path)
        return ids
    if type(data) is dict and not any(key[:1] == "$" for key in data):
        value: Any = {
            key: _decode(entries, f"{category.name}[{key!r}]", member, path)
            for key, member in data.items()
        }
    else:  # laid out whole
        value = _decode(entries, category.name, data, path)
    return _split_whole(category, value, path)


def _data(tree: Any, name: str, path: Path) -> Any:
    if type(tree) is not dict or tree.keys() != _ENVELOPE_KEYS:
        raise CorruptStateError(
            'expected an object with the keys "jsonpersist", "category" and "data"', file=path
        )
    version = tree["jsonpersist"]
    if type(version) is int and version == FORMAT_VERSION:
        raise CorruptStateError(
            "a file of format version 2 is an array: its header, then one line per entry "
            "(see docs/files.md), not an object",
            file=path,
            where='["jsonpersist"]',
        )
    if type(version) is not int or version != V1_VERSION:
        raise CorruptStateError(
            f"format version {version!r} is not supported by this jsonpersist "
            "(it reads versions 1 and 2); upgrade jsonpersist",
            file=path,
            where='["jsonpersist"]',
        )
    if tree["category"] != name:
        raise CorruptStateError(
            f"holds {tree['category']!r}, expected {name!r}", file=path, where='["category"]'
        )
    return tree["data"]


def _decode(entries: EntryCodec, where: str, tree: Any, path: Path) -> Any:
    try:
        return entries.codec.decode(tree, where)
    except CorruptStateError as exc:
        raise exc.in_file(path) from None


def _split_whole(category: Category, value: Any, path: Path) -> dict[Any, Any]:
    """The version-2 entries of a bot or callback data that version 1 stored as one value."""
    if category is CALLBACK_DATA:
        if type(value) is not dict or value.keys() != {"keyboards", "queries"}:
            raise CorruptStateError(
                'expected an object with the keys "keyboards" and "queries"',
                file=path,
                where=category.name,
            )
        keyboards, queries = value["keyboards"], value["queries"]
        problem = _callback_problem(keyboards, queries)
        if problem is not None:
            raise CorruptStateError(problem[0], file=path, where=category.name + problem[1])
        return category.split((keyboards, queries))
    return category.split(value)
