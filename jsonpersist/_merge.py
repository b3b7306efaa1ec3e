"""git's merge driver for state files: a three-way merge entry by entry.

``jsonpersist merge BASE OURS THEIRS [PATH]`` is what git runs (``%O %A %B %P``) for a file
marked ``merge=jsonpersist`` in ``.gitattributes``. Each side is read as its entries (a user, a
chat, a conversation, a bot data key, a keyboard or query of the callback data) without
decoding the values, so registered types need not be importable. An entry only one side
changed takes that side's version; an entry both sides changed the same way takes it; an entry
both changed differently is written between git's conflict markers, its two versions only, and
the merge exits 1. No entry either side kept is ever dropped.

Version-1 files are read too and the result is written as version 2. A side that is not a
state file (a damaged file, or one holding conflict markers already) makes the driver fall back
to git's own line merge (``git merge-file``), saying so on stderr, and report a conflict even
when git's merge was clean: a person checks a file jsonpersist could not read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from jsonpersist._categories import CATEGORIES, Category
from jsonpersist._errors import CorruptStateError
from jsonpersist._format import (
    TAIL,
    canonical_line,
    file_entries,
    head,
    parse_json,
    strict_tree,
)

__all__ = ("MergeResult", "merge_files", "merge_texts")

_SORT = orjson.OPT_SORT_KEYS
#: Entries of one side: the JSON of an entry's key (its identity) -> the entry's line.
Entries = dict[bytes, bytes]


class MergeResult:
    """The outcome of a merge.

    Attributes:
        data (:obj:`bytes`): The merged file, conflict markers included.
        conflicts (list[:obj:`str`]): The entries both sides changed differently, as JSON of
            their keys.
    """

    __slots__ = ("conflicts", "data")

    def __init__(self, data: bytes, conflicts: list[str]) -> None:
        self.data = data
        self.conflicts = conflicts


def merge_texts(
    base: bytes | None, ours: bytes, theirs: bytes, name: str | None = None
) -> MergeResult:
    """Merges two versions of a state file changed from a common base.

    Args:
        base (:obj:`bytes` | :obj:`None`): The common ancestor (:obj:`None` or empty: the file
            was added on both sides).
        ours (:obj:`bytes`): Our version.
        theirs (:obj:`bytes`): Their version.
        name (:obj:`str`, optional): The category; default: read from the files' headers.

    Raises:
        CorruptStateError: A side is not a state file of that category.
    """
    category = CATEGORIES[name] if name is not None else _category_of(ours, theirs, base)
    sides = [
        _entries(category, data, label) if data else {}
        for data, label in ((base, "BASE"), (ours, "OURS"), (theirs, "THEIRS"))
    ]
    old, mine, yours = sides
    order = _order(category, mine, yours)
    chunks, conflicts = [head(category.name)], []
    for key in order:
        before, left, right = old.get(key), mine.get(key), yours.get(key)
        if right in (left, before):
            line = left
        elif left == before:
            line = right
        else:
            conflicts.append(key.decode("utf-8", "replace"))
            chunks.append(b"<<<<<<< ours\n")
            chunks.append(left or b"")
            chunks.append(b"=======\n")
            chunks.append(right or b"")
            chunks.append(b">>>>>>> theirs\n")
            continue
        if line is not None:
            chunks.append(line)
    chunks.append(TAIL)
    return MergeResult(b"".join(chunks), conflicts)


def _category_of(*sides: bytes | None) -> Category:
    for data in sides:
        if not data:
            continue
        try:
            tree = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        header = tree[0] if type(tree) is list and tree else tree
        name = header.get("category") if type(header) is dict else None
        if name in CATEGORIES:
            return CATEGORIES[name]
    raise CorruptStateError("none of the three files names its category (not a state file?)")


def _entries(category: Category, data: bytes, label: str) -> Entries:
    """A side's entries by the JSON of their keys, each as its canonical version-2 line."""
    path = Path(label)
    tree = parse_json(data, path)
    if type(tree) is dict:  # version 1
        try:
            elements = _v1_elements(category, strict_tree(data, path), path)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, CorruptStateError):
                raise
            raise CorruptStateError(f"not a valid version-1 file ({exc!r})", file=path) from None
    else:
        elements = file_entries(tree, category.name, path)[1:]
        if not data.startswith(head(category.name)):
            elements = file_entries(strict_tree(data, path), category.name, path)[1:]
    entries: Entries = {}
    for number, element in enumerate(elements, 1):
        if type(element) is not list or not element:
            raise CorruptStateError(
                "an entry must be an array", file=path, where=f"entry {number}"
            )
        if category.name != "bot_data":  # its keys need the codec: left to check and the bot
            category.key_of(element[:-1], None, path, f"entry {number}")  # ids, names, kinds
        try:
            key = _identity(category, element[:-1])
            line = canonical_line(element)
        except orjson.JSONEncodeError:  # nested deeper than orjson writes
            raise CorruptStateError(
                "nested too deeply", file=path, where=f"entry {number}"
            ) from None
        if key in entries:
            raise CorruptStateError(
                f"the key {key.decode()} appears twice", file=path, where=f"entry {number}"
            )
        entries[key] = line
    return entries


def _identity(category: Category, parts: list[Any]) -> bytes:
    """What makes two entries the same: their key's JSON.

    For bot data, keys Python takes for one (``1``, ``1.0`` and ``true``, or ``{"$int":"5"}``
    and ``5``) are one entry, so that two branches adding them differently conflict instead of
    merging into a file that does not load.
    """
    if category.name == "bot_data" and len(parts) == 1:
        number = _number(parts[0])
        if number is not None:
            return b"[%d]" % number if type(number) is int else b"[%r]" % number
    return orjson.dumps(parts, option=_SORT)


def _number(key: Any) -> int | float | None:
    """A bot data key's number, as Python compares it (``True`` is 1, ``2.0`` is 2)."""
    if type(key) is dict and key.keys() == {"$int"} and type(key["$int"]) is str:
        try:
            return int(key["$int"], 0)
        except ValueError:
            return None
    if type(key) is bool or type(key) is int:
        return int(key)
    if type(key) is float:
        return int(key) if key.is_integer() else key
    return None


def _order(category: Category, mine: Entries, yours: Entries) -> list[bytes]:
    """The keys of the merged file: sorted, or ours in our order and then theirs."""
    keys = list(mine) + [key for key in yours if key not in mine]
    if not category.sorted:
        return keys
    return sorted(keys, key=_sort_key(category))


def _sort_key(category: Category) -> Callable[[bytes], Any]:
    def order(key: bytes) -> Any:
        parts = json.loads(key)  # the standard library: ints beyond 64 bits too
        if category.name == "conversations" and len(parts) == 2:  # noqa: PLR2004
            name, conversation = parts  # as the bot sorts them (_categories)
            if all(type(p) is int for p in conversation):
                return 0, name, 0, tuple(conversation)
            tagged = tuple((0, p, "") if type(p) is int else (1, 0, str(p)) for p in conversation)
            return 0, name, 1, tagged
        if len(parts) == 1 and type(parts[0]) is int:
            return 0, parts[0], ""
        if len(parts) == 1 and type(parts[0]) is dict and parts[0].keys() == {"$int"}:
            number = _number(parts[0])  # an int beyond JSON's numbers: among the ints
            if number is not None:
                return 0, number, ""
        if len(parts) == 1 and type(parts[0]) is str:
            return 1, 0, parts[0]
        return 2, 0, key.decode()

    return order


# ------------------------------------------------------------------------------ version 1


def _v1_elements(category: Category, tree: Any, path: Path) -> list[Any]:
    """The version-2 entries of a version-1 file, converted as JSON (nothing is decoded)."""
    if type(tree) is not dict or tree.get("jsonpersist") != 1 or "data" not in tree:
        raise CorruptStateError("not a state file of format version 1 or 2", file=path)
    data = tree["data"]
    if category.name in ("user_data", "chat_data"):  # ids as strictly as the bot reads them
        return [[category.parse_id(key, path), _v2(value)] for key, value in data.items()]  # type: ignore[attr-defined]
    if category.name == "conversations":
        out = []
        for name, states in data.items():
            for key, state in _pairs(states):
                parts = key.get("$tuple") if type(key) is dict else None
                out.append([name, parts if type(parts) is list else key, _v2(state)])
        return out
    if category.name == "callback_data":
        whole: Any = data["$"] if type(data) is dict and "$" in data else data
        keyboards = [
            ["keyboard", kid, [time, _v2(buttons)]] for kid, time, buttons in whole["keyboards"]
        ]
        return keyboards + [["query", query, kid] for query, kid in whole["queries"].items()]
    if type(data) is dict and not any(key[:1] == "$" for key in data):
        return [[key, _v2(value)] for key, value in data.items()]
    if type(data) is dict and ("$dict" in data or "$" in data):
        return [[key, _v2(value)] for key, value in _pairs(data)]
    return [[_v2(data)]]


def _pairs(tree: Any) -> list[tuple[Any, Any]]:
    """The [key, value] pairs of a ``$dict`` (or escaped or plain dict) tree."""
    if type(tree) is not dict:
        raise CorruptStateError("expected a dict")
    if "$" in tree and len(tree) == 1:
        return list(tree["$"].items())
    pairs = [(key, value) for key, value in tree.items() if key != "$dict"]
    return pairs + [(key, value) for key, value in tree.get("$dict", [])]


def _v2(tree: Any) -> Any:
    """A version-1 value tree as version 2 writes it: a ``$dict``'s plain keys as members."""
    if type(tree) is list:
        return [_v2(item) for item in tree]
    if type(tree) is not dict:
        return tree
    out = {key: _v2(value) for key, value in tree.items()}
    pairs = out.get("$dict")
    if len(out) == 1 and type(pairs) is list:
        keep = []
        for pair in pairs:
            if (
                type(pair) is list
                and len(pair) == 2  # noqa: PLR2004 - [key, value]
                and type(pair[0]) is str
                and pair[0][:1] != "$"
            ):
                out[pair[0]] = pair[1]
            else:
                keep.append(pair)
        out["$dict"] = keep
    return out


# ---------------------------------------------------------------------------- git's side


def merge_files(base: Path, ours: Path, theirs: Path, path: str | None = None) -> int:
    """Runs the merge as git's driver: the result replaces OURS.

    Args:
        base (:class:`pathlib.Path`): git's ``%O``.
        ours (:class:`pathlib.Path`): git's ``%A``; the result is written here.
        theirs (:class:`pathlib.Path`): git's ``%B``.
        path (:obj:`str`, optional): git's ``%P``, the file's path in the work tree.

    Returns:
        :obj:`int`: 0 for a clean merge, 1 when entries conflict or a side was not a state
        file (merged by git's line merge instead).
    """
    name = Path(path).stem if path and Path(path).stem in CATEGORIES else None
    shown = path or str(ours)
    try:
        result = merge_texts(base.read_bytes(), ours.read_bytes(), theirs.read_bytes(), name)
    except CorruptStateError as exc:
        print(
            f"jsonpersist merge: {shown}: {exc}; falling back to git's line merge",
            file=sys.stderr,
        )
        return _line_merge(base, ours, theirs)
    ours.write_bytes(result.data)  # git's temporary copy: it reads it back when we exit
    if result.conflicts:
        print(
            f"jsonpersist merge: {shown}: {len(result.conflicts)} conflicting "
            f"entr{'y' if len(result.conflicts) == 1 else 'ies'}: "
            + ", ".join(result.conflicts[:10])
            + ("..." if len(result.conflicts) > 10 else "")  # noqa: PLR2004
            + "; keep one version of each, delete the markers, then `jsonpersist check`",
            file=sys.stderr,
        )
        return 1
    return 0


def _line_merge(base: Path, ours: Path, theirs: Path) -> int:
    done = subprocess.run(
        [
            "git",
            "merge-file",
            "-L",
            "ours",
            "-L",
            "base",
            "-L",
            "theirs",
            os.fspath(ours),
            os.fspath(base),
            os.fspath(theirs),
        ],
        check=False,
    )
    del done  # clean or not, a person looks at a file jsonpersist could not read
    return 1
