"""Rows: the entries of each category as database rows, and back to PTB's values.

One row per entry, as in the state files' one line per entry: its *key* is the compact JSON of
the entry's key part, its *value* the codec's tagged JSON. User and chat data: the id (``5``);
conversations: ``["handler", [5, 5]]``; bot data: the codec's JSON of each top-level key
(``"total"``, ``42``, ``{"$tuple":[1,2]}``); callback data: ``["keyboard", "<uuid>"]`` holding
``[time, {buttons}]`` and ``["query", "<id>"]`` holding the keyboard's uuid. A bot or callback
data value that is not laid out by keys (a registered class, or an empty cache) is one row with
the key :data:`WHOLE_KEY`. Keyboards keep PTB's least-recently-used order in a position.

This module knows the categories and the codec, not the database.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from telegram.ext import ContextTypes

from jsonpersist._categories import (
    BOT_DATA,
    CALLBACK_DATA,
    CATEGORIES,
    CONVERSATIONS,
    AnyContextTypes,
    Category,
)
from jsonpersist._codec import Codec
from jsonpersist._errors import CorruptStateError, UnsupportedTypeError
from jsonpersist._format import WHOLE

__all__ = ("WHOLE_KEY", "NotJson", "Row", "RowCodec", "Rows", "jsonb_safe", "parse_value")

#: The key of a category value stored whole: no key part (a line ``[value]`` in the files).
WHOLE_KEY = "[]"
_SORT = orjson.OPT_SORT_KEYS
_PLAIN = ContextTypes()
_KEYBOARD, _QUERY = "keyboard", "query"
# What jsonb cannot hold as the codec wrote it: a string with U+0000 (an escape preceded by an
# even number of backslashes), a float written with a non-negative exponent (1e16 comes back
# as the int 10000000000000000) and -0.0 (comes back as 0.0). A string that merely looks
# like one of them only costs that row its jsonb column.
_NOT_JSONB = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000|[0-9][eE]\+?[0-9]|-0\.0(?![0-9])")


class Row(NamedTuple):
    """One entry as stored: its JSON value and, for a callback keyboard, its position."""

    value: bytes
    pos: int | None = None


#: A category's rows by key.
Rows = dict[str, Row]


class NotJson(str):
    """A row's value text that is not JSON (an edit in SQL): decoding its category names it."""

    __slots__ = ()


def parse_value(text: str) -> Any:
    """A row's value as the state files hold it, or :class:`NotJson`.

    ``jsonb`` keeps an object's keys in an order of its own (shorter keys first); they are put
    back in the order the files keep (sorted), so that a value loads the same from both.
    """
    try:
        tree = orjson.loads(text)
    except orjson.JSONDecodeError:
        return NotJson(text)
    if "{" in text:
        with contextlib.suppress(orjson.JSONEncodeError):  # too deep: decoding refuses it
            tree = orjson.loads(orjson.dumps(tree, option=_SORT))
    return tree


def jsonb_safe(value: bytes) -> bool:
    """Whether ``jsonb`` gives this JSON back as the same value (else it is stored as text)."""
    return _NOT_JSONB.search(value) is None


def _where(category: Category, key: Any) -> str:
    """How messages name a bot data key, also one holding an int too long for ``repr()``."""
    try:
        return category.where(key)
    except ValueError:
        return f"{category.name}[<a {type(key).__name__} with an int too long to show>]"


def _dumps(tree: Any, where: str) -> bytes:
    try:
        return orjson.dumps(tree, option=_SORT)
    except orjson.JSONEncodeError as exc:
        raise UnsupportedTypeError(f"cannot store this key: {exc}", where) from None


class RowCodec:
    """Turns PTB's values into rows and rows into PTB's values.

    Args:
        codec (:class:`jsonpersist.Codec`): Converts the values.
        context_types (:class:`telegram.ext.ContextTypes`): The classes of PTB's data.
        source (:obj:`str`): How error messages name where rows came from.
    """

    __slots__ = ("codec", "context_types", "source")

    def __init__(self, codec: Codec, context_types: AnyContextTypes, source: str) -> None:
        self.codec = codec
        self.context_types = context_types
        self.source = source

    def path(self, category: Category) -> Path:
        """What :class:`CorruptStateError` names as the "file" of a category's rows."""
        return Path(f"{self.source} {category.name}")

    # -------------------------------------------------------------------------------- saving

    def entry_key(self, name: str, key: Any) -> str:
        """The row key of one user's or chat's data (the id), or of one conversation.

        Args:
            name (:obj:`str`): ``user_data``, ``chat_data`` or ``conversations``.
            key: The id, or ``(handler name, conversation key)``.

        Raises:
            UnsupportedTypeError: The key cannot be stored.
        """
        category = CATEGORIES[name]
        if category is not CONVERSATIONS:
            category.storable({}, _PLAIN, key)  # checks the id; the value is checked later
            return str(key)
        handler, conversation = key
        where = f"conversations[{handler!r}][{conversation!r}]"
        if type(conversation) is not tuple or not all(
            type(part) is str or (type(part) is int and -(2**63) <= part < 2**64)
            for part in conversation
        ):
            raise UnsupportedTypeError(
                "a conversation key must be a tuple of strings and 64-bit ints", where
            )
        return _dumps([handler, list(conversation)], where).decode()

    def entry_row(self, name: str, key: Any, value: Any) -> tuple[str, Row]:
        """The row of one user's or chat's data, or of one conversation's state.

        Raises:
            UnsupportedTypeError: The value (or the key) cannot be stored.
        """
        text = self.entry_key(name, key)
        category = CATEGORIES[name]
        if category is CONVERSATIONS:
            return text, Row(self.codec.dumps(value, f"conversations[{key[0]!r}][{key[1]!r}]"))
        storable = category.storable(value, self.context_types, key)
        return text, Row(self.codec.dumps(storable, category.where(key)))

    def value_rows(self, name: str, value: Any, previous: Rows) -> Rows:
        """The rows of the whole bot data or callback data.

        Args:
            name (:obj:`str`): ``bot_data`` or ``callback_data``.
            value: What PTB handed to ``update_*``.
            previous (:data:`Rows`): The rows saved before: keyboards keep their positions.

        Raises:
            UnsupportedTypeError: Something in it cannot be stored, naming its key path.
        """
        category = CATEGORIES[name]
        storable = category.storable(value, self.context_types, WHOLE)
        if category is BOT_DATA and type(storable) is dict:
            rows = {}
            for key, member in storable.items():
                where = _where(category, key)
                text = _dumps(self.codec.encode(key, where), where).decode()
                rows[text] = Row(self.codec.dumps(member, where))
            return rows
        if category is CALLBACK_DATA:
            keyboards, queries = storable
            if keyboards or queries:
                return self._callback_rows({"keyboards": keyboards, "queries": queries}, previous)
            return {WHOLE_KEY: Row(b"[[],{}]")}  # an empty cache (no rows: no cache at all)
        return {WHOLE_KEY: Row(self.codec.dumps(storable, name))}

    def _callback_rows(self, data: dict[str, Any], previous: Rows) -> Rows:
        """Keyboards and queries; positions change only for keyboards PTB moved or added.

        A keyboard keeps its position while the positions still increase along PTB's order;
        one moved to the end (PTB's cache is least recently used first) or new gets the next
        free one. So a round writes the keyboards that changed, not all of them.
        """
        rows: Rows = {}
        where = CALLBACK_DATA.name
        free = 1 + max((row.pos for row in previous.values() if row.pos is not None), default=0)
        last = -1
        for kid, time, buttons in data["keyboards"]:
            text = _dumps([_KEYBOARD, kid], where).decode()
            old = previous.get(text)
            if old is not None and old.pos is not None and old.pos > last:
                pos = old.pos
            else:
                pos, free = free, free + 1
            last = pos
            rows[text] = Row(self.codec.dumps([time, buttons], f"{where}[{kid!r}]"), pos)
        for query, kid in data["queries"].items():
            rows[_dumps([_QUERY, query], where).decode()] = Row(_dumps(kid, where))
        return rows

    # ------------------------------------------------------------------------------- loading

    def decode(self, name: str, rows: dict[str, tuple[int | None, Any]]) -> Any:
        """PTB's value of a category from its rows (conversations: by handler name).

        Args:
            name (:obj:`str`): The category.
            rows: Each row's position and parsed JSON value, by key.

        Raises:
            CorruptStateError: A row does not decode, or the rows do not make PTB's value.
        """
        category = CATEGORIES[name]
        path = self.path(category)
        for text, (_, tree) in rows.items():
            if type(tree) is NotJson:
                raise CorruptStateError(
                    f"the value is not JSON: {tree[:60]!r}", file=path, where=f"{name} key {text}"
                )
        if category is CONVERSATIONS:
            return self._handlers(rows, path)
        if category is CALLBACK_DATA:
            return self._callback_data(rows, path)
        values: dict[Any, Any] = {}
        for text, (_, tree) in rows.items():
            key = self._key(category, text, path)
            try:
                seen = key in values
            except TypeError:  # a hand-written key that decodes to a list or a dict
                raise CorruptStateError(
                    f"the key {text} is not hashable", file=path, where=category.name
                ) from None
            where = _where(category, key)
            if seen:
                raise CorruptStateError("two rows hold the same key", file=path, where=where)
            value = self._decode(tree, where, path)
            if category.keyed:
                value = category.entry(value, self.context_types, path, key)
            values[key] = value
        if category.sorted:  # in the files' order (rows come in the server's)
            values = {key: values[key] for key in category.sort(values, self.codec)}
        if category.keyed:
            return values
        if WHOLE in values and len(values) > 1:
            raise CorruptStateError("a whole value beside keyed rows", file=path)
        return category.assemble(values, self.context_types, path)

    def _key(self, category: Category, text: str, path: Path) -> Any:
        if category.keyed:
            return category.parse_id(text, path)  # type: ignore[attr-defined]
        if text == WHOLE_KEY:
            return WHOLE
        return self._decode(
            self._parse(text, category.name, path), f"{category.name} key {text}", path
        )

    def _handlers(self, rows: dict[str, tuple[int | None, Any]], path: Path) -> Any:
        conversations: dict[tuple[str, tuple[Any, ...]], Any] = {}
        for text, (_, tree) in rows.items():
            parsed = self._parse(text, "conversations", path)
            if not (
                type(parsed) is list
                and len(parsed) == 2  # noqa: PLR2004
                and type(parsed[0]) is str
                and type(parsed[1]) is list
                and all(type(part) in (int, str) for part in parsed[1])
            ):
                raise CorruptStateError(
                    'a conversation key must be ["handler name", [ints and strings]]',
                    file=path,
                    where=f"conversations {text}",
                )
            handler, key = parsed[0], tuple(parsed[1])
            where = f"conversations[{handler!r}][{key!r}]"
            conversations[handler, key] = self._decode(tree, where, path)
        handlers: dict[str, dict[Any, Any]] = {}
        for handler, key in CONVERSATIONS.sort(conversations, self.codec):  # the files' order
            handlers.setdefault(handler, {})[key] = conversations[handler, key]
        return handlers

    def _callback_data(self, rows: dict[str, tuple[int | None, Any]], path: Path) -> Any:
        if not rows:
            return None
        name = CALLBACK_DATA.name
        if WHOLE_KEY in rows:
            if len(rows) > 1 or rows[WHOLE_KEY][1] != [[], {}]:
                raise CorruptStateError(
                    "an empty callback data cache is the one row [[], {}]", file=path, where=name
                )
            return [], {}
        keyboards: list[tuple[int, list[Any]]] = []
        queries: dict[Any, Any] = {}
        for text, (pos, tree) in rows.items():
            parsed = self._parse(text, name, path)
            kind, ident = [*parsed, None, None][:2] if type(parsed) is list else (None, None)
            if kind == _KEYBOARD and type(ident) is str and type(pos) is int:
                value = self._decode(tree, f"{name}[{ident!r}]", path)
                if type(value) is not list or len(value) != 2:  # noqa: PLR2004
                    raise CorruptStateError(
                        "a keyboard's value must be [time, buttons]", file=path, where=text
                    )
                keyboards.append((pos, [ident, *value]))
            elif kind == _QUERY and type(ident) is str and len(parsed) == 2:  # noqa: PLR2004
                queries[ident] = tree
            else:
                raise CorruptStateError(
                    'expected a key ["keyboard", id] (with a position) or ["query", id]',
                    file=path,
                    where=text,
                )
        keyboards.sort(key=lambda item: item[0])
        values: dict[Any, Any] = {
            (_KEYBOARD, keyboard[0]): keyboard[1:] for _, keyboard in keyboards
        }
        values.update(((_QUERY, query), kid) for query, kid in queries.items())
        return CALLBACK_DATA.assemble(values, self.context_types, path)

    def _parse(self, text: str, where: str, path: Path) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            raise CorruptStateError(
                f"the key {text!r} is not JSON", file=path, where=where
            ) from None

    def _decode(self, tree: Any, where: str, path: Path) -> Any:
        try:
            return self.codec.decode(tree, where)
        except CorruptStateError as exc:
            raise exc.in_file(path) from None
