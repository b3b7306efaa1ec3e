"""Which members of the bot data changed since the last save, without encoding them.

PTB hands ``update_bot_data()`` the whole bot data every round. Encoding all of it to learn
what changed costs a round at 100,000 keys hundreds of milliseconds; comparing each member
with a copy decoded from its line costs a dict lookup and a small comparison. The comparison
is stricter than ``==`` (which takes ``1`` for ``1.0`` and ``True``, ``0.0`` for ``-0.0``, a
set for a frozenset): only exactly equal built-in JSON-like values count as the same, and
anything else (a datetime, a Telegram object, a registered class) is encoded to find out.

In C (``jsonpersist/_speedups.c``) where it was built, else the same walk in Python, which is
the C version's reference.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from jsonpersist._plain import _speedups  # type: ignore[attr-defined]

__all__ = (
    "changed_chunks",
    "changed_members",
    "clone",
    "copies",
    "same",
    "share_strings",
    "simple_keys",
)

#: How many members one call into C compares before it lets other threads run.
CHUNK = 8192
_MAX_DEPTH = 256
_DOUBLE = struct.Struct("d")


def changed_members(values: dict[Any, Any], copies: dict[Any, Any]) -> Iterator[Any]:
    """The keys of ``values`` whose member is not certainly the same as its copy.

    ``copies`` must be made by :func:`copies` (keys and set items checked).

    A key missing from ``copies`` counts as changed; keys only in ``copies`` (removed
    members) are not reported: compare the sizes.
    """
    if _speedups is not None:
        position = 0
        while position >= 0:
            keys, position = _speedups.changed_members(values, copies, position, CHUNK)
            yield from keys
        return
    missing = object()
    for key, value in values.items():
        if not _simple(key) or not same(value, copies.get(key, missing)):
            yield key


def changed_chunks(values: dict[Any, Any], copies: dict[Any, Any]) -> Iterator[list[Any]]:
    """:func:`changed_members` a chunk of :data:`CHUNK` members at a time: a list for each.

    For a caller that lets others run between chunks. Neither dict may change meanwhile.
    """
    if _speedups is not None:
        position = 0
        while position >= 0:
            keys, position = _speedups.changed_members(values, copies, position, CHUNK)
            yield keys
        return
    items = list(values.items())
    missing = object()
    for start in range(0, max(len(items), 1), CHUNK):
        yield [
            key
            for key, value in items[start : start + CHUNK]
            if not _simple(key) or not same(value, copies.get(key, missing))
        ]


def same(left: Any, right: Any, depth: int = 0) -> bool:  # noqa: PLR0911
    """Whether two values certainly encode to the same JSON (:obj:`False` when unsure).

    ``right`` is a copy whose dict keys and set items are exact ``str`` or ``int`` only
    (:func:`simple_keys`): a key of ``left`` found there is then of the same type.
    """
    kind = type(left)
    if kind is not type(right):
        return False
    if left is None or kind is bool:
        return left is right
    if kind is str or kind is int:
        return bool(left == right)
    if kind is float:
        return _DOUBLE.pack(left) == _DOUBLE.pack(right)
    if depth > _MAX_DEPTH:
        return False
    if kind is dict:
        return len(left) == len(right) and all(
            _simple(key) and key in right and same(value, right[key], depth + 1)
            for key, value in left.items()
        )
    if kind is list or kind is tuple:
        return len(left) == len(right) and all(
            same(a, b, depth + 1) for a, b in zip(left, right, strict=True)
        )
    if kind is set or kind is frozenset:
        return len(left) == len(right) and all(map(_simple, left)) and left <= right
    return False


def _simple(key: Any) -> bool:
    """A key or set item whose equality implies equal JSON: an exact str or int."""
    kind = type(key)
    return kind is str or kind is int


def clone(value: Any) -> Any:
    """A copy of the dicts, lists, tuples and sets in ``value``, sharing everything else.

    The bot data's copies are made so at load: sharing the strings with the application's
    data (and with the deep copies PTB hands over each round) makes comparing them cheap, and
    no container of the application's is shared, so a change made in place is always seen.
    """
    if _speedups is not None:
        return _speedups.clone(value)
    kind = type(value)
    if kind is dict:
        return {key: clone(item) for key, item in value.items()}
    if kind is list:
        return [clone(item) for item in value]
    if kind is tuple:
        return tuple(clone(item) for item in value)
    if kind is set:
        return set(value)
    return value


def copies(values: dict[Any, Any], shared: bool) -> dict[Any, Any]:
    """The copies of members that :func:`changed_members` can compare with, by key.

    Members with a key or set item other than an exact ``str`` or ``int`` are left out (they
    count as changed, and are encoded to find out).

    Args:
        values (dict): The members.
        shared (:obj:`bool`): Whether the members belong to someone else (the application):
            they are copied with :func:`clone`; else they are taken as they are.
    """
    check = _speedups.simple_keys if _speedups is not None else simple_keys
    return {
        key: clone(value) if shared else value
        for key, value in values.items()
        if _simple(key) and check(value)
    }


def simple_keys(value: Any, depth: int = 0) -> bool:
    """Whether every dict key and set item in ``value`` is an exact ``str`` or ``int``."""
    kind = type(value)
    if depth > _MAX_DEPTH:
        return False
    if kind is dict:
        return all(_simple(key) and simple_keys(item, depth + 1) for key, item in value.items())
    if kind is list or kind is tuple:
        return all(simple_keys(item, depth + 1) for item in value)
    if kind is set or kind is frozenset:
        return all(map(_simple, value))
    return True


def share_strings(tree: Any) -> None:
    """Makes equal short strings in a parsed file one object each, in place (C only).

    orjson makes a new string for every value it reads: a bot data of 100,000 members holds
    ``"en"`` 100,000 times, and its copies would hold it again. Sharing them keeps memory close
    to the data, and makes comparing the members with their copies a pointer check for them.
    Only the bot data's file is shared so (users' and chats' data keep no copies, and the walk
    costs a tenth of their load). Without the C module nothing is done: the values are the
    same, only not shared.
    """
    if _speedups is not None:
        _speedups.share_strings(tree, {})
