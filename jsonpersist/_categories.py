"""The five kinds of data PTB persists, each described once.

A :class:`Category` says everything that differs between them: its file, whether PTB saves it
entry by entry (users, chats, conversations) or hands over one value whose members become the
entries (bot data, the callback data cache), how an entry's key is written and read, the order
of the lines, which checks a decoded entry must pass and how the value PTB expects is put
together. Everything else (parsing, encoding, rounds, watching) is one generic routine driven
by these descriptions, looked up in :data:`CATEGORIES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from telegram.ext import ContextTypes, PersistenceInput

from jsonpersist._errors import CorruptStateError, UnsupportedTypeError
from jsonpersist._format import WHOLE
from jsonpersist._tree import shown

__all__ = (
    "BOT_DATA",
    "CALLBACK_DATA",
    "CATEGORIES",
    "CHAT_DATA",
    "CONVERSATIONS",
    "USER_DATA",
    "Category",
    "KeyCodec",
)

AnyContextTypes = ContextTypes[Any, Any, Any, Any]
#: Encodes (``dumps``) or decodes (``decode``) a bot data key: the codec's methods.
KeyCodec = Any
#: Telegram's user and chat ids, and the ints of a conversation key: signed 64-bit integers.
MIN_ID, MAX_ID = -(2**63), 2**63 - 1


class Category:
    """A kind of data PTB persists, and how its file holds it.

    Args:
        name (:obj:`str`): PTB's name for it, also the file's name without ``.json``.

    Attributes:
        name (:obj:`str`): PTB's name, e.g. ``"user_data"``.
        file (:obj:`str`): The file's name in the state directory.
        keyed (:obj:`bool`): Whether PTB saves it entry by entry (users, chats,
            conversations); otherwise PTB hands over the whole value and its members are
            split out here.
        sorted (:obj:`bool`): Whether the lines are sorted by key (else they keep the order
            of the value's members).
    """

    __slots__ = ("file", "name")
    keyed = True
    sorted = True
    #: Whether rounds find the changed members by comparing with decoded copies (bot data).
    keeps_copies = False
    #: Whether PTB's values are instances of the ``context_types`` class of the same name.
    context_typed = False
    #: Whether each key is a Telegram id, the lines in numeric order (users and chats).
    ids = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.file = f"{name}.json"

    def __repr__(self) -> str:
        return f"<category {self.name}>"

    def enabled(self, store_data: PersistenceInput) -> bool:
        """Whether ``store_data`` asks for this category to be stored."""
        return bool(getattr(store_data, self.name))

    def where(self, key: Any) -> str:
        """How messages name an entry: ``user_data[123]``, ``bot_data['motd']``."""
        return self.name if key is WHOLE else f"{self.name}[{shown(key)}]"

    # ---------------------------------------------------------------------------- keys

    def key_json(self, key: Any, codec: KeyCodec) -> bytes | None:
        """The key's elements of an entry line, as JSON (:obj:`None`: a value laid out whole).

        Raises:
            UnsupportedTypeError: The key cannot be stored.
        """
        return b"%d" % key

    def key_of(self, parts: list[Any], codec: KeyCodec, path: Path, where: str) -> Any:
        """The key of an entry line from its elements before the value.

        Raises:
            CorruptStateError: The key is not of this category's shape.
        """
        if len(parts) != 1 or type(parts[0]) is not int or not MIN_ID <= parts[0] <= MAX_ID:
            raise CorruptStateError(
                "an entry must be [id, value], the id a Telegram id (an integer from -2**63 "
                "to 2**63 - 1)",
                file=path,
                where=where,
            )
        return parts[0]

    def sort_key(self, codec: KeyCodec) -> Callable[[Any], Any]:
        """The sort key of the lines (only for :attr:`sorted` categories)."""
        return _identity

    def sort(self, keys: Iterable[Any], codec: KeyCodec) -> list[Any]:
        """The order of the entry lines in the file."""
        return sorted(keys, key=self.sort_key(codec)) if self.sorted else list(keys)

    # -------------------------------------------------------------------------- values

    def split(self, value: Any) -> dict[Any, Any]:
        """PTB's whole value of the category (as the tools hold it) as entries, by key."""
        return dict(value)

    def plain_class(self, context_types: AnyContextTypes) -> type | None:
        """The class of a decoded entry that :meth:`entry` hands back as it is."""
        return None

    def entry(self, value: Any, context_types: AnyContextTypes, path: Path, key: Any) -> Any:
        """Turns a decoded entry into what PTB expects of it, checking its shape."""
        return value

    def assemble(
        self,
        values: dict[Any, Any],
        context_types: AnyContextTypes,
        path: Path,
        present: bool = True,
    ) -> Any:
        """Puts PTB's value of the category together from its decoded entries.

        ``present`` tells whether the file exists (or was saved) at all: the callback data
        of a file holding no entries is an empty cache, without a file it is :obj:`None`.

        Raises:
            CorruptStateError: They do not make what PTB expects.
        """
        return values

    def storable(self, value: Any, context_types: AnyContextTypes, key: Any) -> Any:
        """Turns what PTB hands to ``update_*`` into a value the codec takes.

        Raises:
            UnsupportedTypeError: The value is not of this category's shape: stored, it would
                make the file unloadable. Nothing is stored.
        """
        if self.context_typed:
            cls = getattr(context_types, self.name)
            # A plain dict loads back as a dict subclass of context_types; anything else must
            # already be of that class, or it would not load back as PTB's data.
            if not (isinstance(value, cls) or (type(value) is dict and issubclass(cls, dict))):
                raise UnsupportedTypeError(
                    f"expected a {cls.__qualname__} (context_types.{self.name}), got a "
                    f"{type(value).__qualname__}",
                    self.where(key),
                )
            return _plain_dict(value, cls)
        return value


def _identity(key: Any) -> Any:
    return key


def _as_context_type(value: Any, cls: type, path: Path, where: str) -> Any:
    """Gives user, chat or bot data the class that ``context_types`` asks for."""
    if type(value) is dict and cls is not dict and issubclass(cls, dict):
        restored = cls()
        restored.update(value)
        return restored
    if not isinstance(value, cls):
        raise CorruptStateError(
            f"expected a {cls.__qualname__}, found a {type(value).__qualname__}",
            file=path,
            where=where,
        )
    return value


def _plain_dict(value: Any, cls: type) -> Any:
    """A ``context_types`` dict subclass is stored as the plain dict it holds."""
    if type(value) is cls and cls is not dict and isinstance(value, dict):
        return dict(value)
    return value


class _ById(Category):
    """User or chat data: one entry per Telegram id, in numeric order."""

    __slots__ = ()
    context_typed = True
    ids = True
    #: The range of Telegram's user and chat ids: signed 64-bit integers.
    min_id, max_id = MIN_ID, MAX_ID

    def storable(self, value: Any, context_types: AnyContextTypes, key: Any) -> Any:
        """Refuses an id the file could not hold (it would make the whole file unloadable).

        Raises:
            UnsupportedTypeError: ``key`` is not an int from -2**63 to 2**63 - 1.
        """
        if type(key) is not int or not MIN_ID <= key <= MAX_ID:
            try:
                shown = repr(key)
            except ValueError:  # more digits than Python converts
                shown = f"<an int of {key.bit_length():,} bits>"
            raise UnsupportedTypeError(
                f"{shown[:60]} is not a Telegram id (an int from -2**63 to 2**63 - 1), the only "
                f"keys {self.file} holds",
                f"{self.name}[{shown[:60]}]",
            )
        return super().storable(value, context_types, key)

    def parse_id(self, text: str, path: Path) -> int:
        """An id as a version-1 file writes it: an integer, written plainly, in 64 bits.

        Telegram's user and chat ids are signed 64-bit integers. Larger ones are refused before
        they reach a dict: all multiples of 2**61 - 1 have the same hash, and a file of them
        would take minutes to load.

        Raises:
            CorruptStateError: Anything else, like ``"042"``, ``"1e3"`` or
                ``"18446744073709551616"`` (2**64).
        """
        try:
            number: int | None = int(text)
        except ValueError:  # not a number, or more digits than Python converts
            number = None
        if number is None or str(number) != text:
            problem = "ids must be integers written plainly (like 123 or -100123)"
        elif not MIN_ID <= number <= MAX_ID:
            shown = text if len(text) <= 40 else f"{text[:40]}..."  # noqa: PLR2004
            problem = (
                f"the id {shown} is outside the range of Telegram ids (signed 64-bit integers, "
                "-2**63 to 2**63 - 1)"
            )
        else:
            return number
        raise CorruptStateError(problem, file=path, where=f"{self.name}[{text!r}]")

    def plain_class(self, context_types: AnyContextTypes) -> type | None:
        return dict if getattr(context_types, self.name) is dict else None

    def entry(self, value: Any, context_types: AnyContextTypes, path: Path, key: Any) -> Any:
        return _as_context_type(value, getattr(context_types, self.name), path, self.where(key))


class _Conversations(Category):
    """Conversations: one entry per conversation, keyed by the handler's name and its key."""

    __slots__ = ()

    def enabled(self, store_data: PersistenceInput) -> bool:
        return True  # PTB persists a handler's conversations when the handler asks for it

    def where(self, key: Any) -> str:
        name, conversation = key
        return f"{self.name}[{shown(name)}][{shown(conversation)}]"

    def key_json(self, key: Any, codec: KeyCodec) -> bytes | None:
        name, conversation = key
        try:
            return orjson.dumps(name) + b"," + orjson.dumps(list(conversation))
        except orjson.JSONEncodeError as exc:  # a lone surrogate, or an int beyond 64 bits
            raise UnsupportedTypeError(f"cannot store this key: {exc}", self.where(key)) from None

    def key_of(self, parts: list[Any], codec: KeyCodec, path: Path, where: str) -> Any:
        if (
            len(parts) != 2  # noqa: PLR2004
            or type(parts[0]) is not str
            or type(parts[1]) is not list
            or not _key_parts(parts[1])
        ):
            raise CorruptStateError(
                "a conversation must be [handler name, [key parts], state], the key parts "
                "integers (64-bit) or strings",
                file=path,
                where=where,
            )
        return parts[0], tuple(parts[1])

    def sort_key(self, codec: KeyCodec) -> Callable[[Any], Any]:
        return _conversation_order

    def storable(self, value: Any, context_types: AnyContextTypes, key: Any) -> Any:
        name, conversation = key
        if (
            type(name) is not str
            or type(conversation) is not tuple
            or not all(_key_part(part) for part in conversation)
        ):
            raise UnsupportedTypeError(
                "a conversation's key must be a tuple of ints (64-bit) and strings, and the "
                "handler's name a string",
                self.where(key),
            )
        return value

    def split(self, value: Any) -> dict[Any, Any]:
        return {
            (name, key): state for name, states in value.items() for key, state in states.items()
        }

    def assemble(
        self,
        values: dict[Any, Any],
        context_types: AnyContextTypes,
        path: Path,
        present: bool = True,
    ) -> Any:
        handlers: dict[str, dict[Any, Any]] = {}
        for (name, key), state in values.items():
            states = handlers.get(name)
            if states is None:
                states = handlers[name] = {}
            states[key] = state
        return handlers


def _key_part(part: Any) -> bool:
    return type(part) is str or (type(part) is int and MIN_ID <= part <= MAX_ID)


def _key_parts(parts: Iterable[Any]) -> bool:
    """Whether every part of a conversation key is a str or a 64-bit int.

    A plain loop: a load of 100,000 conversations calls this for each.
    """
    for part in parts:
        kind = type(part)
        if kind is not str and (kind is not int or not MIN_ID <= part <= MAX_ID):
            return False
    return True


def _conversation_order(key: Any) -> Any:
    """The order of conversation lines.

    By handler name; then the keys of ints only, in numeric order; then the keys with a str
    part, part by part (ints before strs).
    """
    name, conversation = key
    for part in conversation:  # the usual key, all ints: compared as it is
        if type(part) is not int:
            break
    else:
        return name, 0, conversation
    return (
        name,
        1,
        tuple((0, part, "") if type(part) is int else (1, 0, part) for part in conversation),
    )


class _BotData(Category):
    """Bot data: one line per top-level key; one line in all when it is not a dict."""

    __slots__ = ()
    keyed = False
    keeps_copies = True
    context_typed = True

    def key_json(self, key: Any, codec: KeyCodec) -> bytes | None:
        if key is WHOLE:
            return None
        if type(key) is str:
            try:
                return orjson.dumps(key)
            except orjson.JSONEncodeError:
                pass  # the codec names the lone surrogate
        return codec.dumps(key, f"{self.name} key {shown(key)}")  # type: ignore[no-any-return]

    def key_of(self, parts: list[Any], codec: KeyCodec, path: Path, where: str) -> Any:
        if not parts:
            return WHOLE
        if len(parts) != 1:
            raise CorruptStateError(
                "a bot data entry must be [key, value] (or [value] for a bot data that is not "
                "a dict)",
                file=path,
                where=where,
            )
        key = parts[0]
        if type(key) is str or type(key) is int:
            return key
        try:
            key = codec.decode(key, f"{where} key")
            hash(key)
        except CorruptStateError as exc:
            raise exc.in_file(path) from None
        except TypeError:
            raise CorruptStateError(
                f"a bot data key must be hashable, not a {type(key).__qualname__}",
                file=path,
                where=where,
            ) from None
        return key

    def sort_key(self, codec: KeyCodec) -> Callable[[Any], Any]:
        def order(key: Any) -> Any:
            kind = type(key)
            if kind is int:
                return 0, key, b""
            if kind is str:
                return 1, 0, key.encode("utf-8", "surrogatepass")
            return 2, 0, b"" if key is WHOLE else codec.dumps(key)

        return order

    def split(self, value: Any) -> dict[Any, Any]:
        # Not copied: PTB hands update_bot_data() a deep copy of its own.
        return value if type(value) is dict else {WHOLE: value}

    def assemble(
        self,
        values: dict[Any, Any],
        context_types: AnyContextTypes,
        path: Path,
        present: bool = True,
    ) -> Any:
        if not values:
            return context_types.bot_data()
        if WHOLE in values:
            if len(values) > 1:
                raise CorruptStateError(
                    "a bot data laid out whole ([value]) cannot have keyed entries beside it",
                    file=path,
                    where=self.name,
                )
            value = values[WHOLE]
        else:
            value = values
        return _as_context_type(value, context_types.bot_data, path, self.name)

    def storable(self, value: Any, context_types: AnyContextTypes, key: Any) -> Any:
        return super().storable(value, context_types, WHOLE)


#: The two kinds of entries of the callback data cache.
KEYBOARD, QUERY = "keyboard", "query"


class _CallbackData(Category):
    """The callback data cache: a line per keyboard and per callback query, in PTB's order.

    PTB's ``(keyboards, queries)`` is ``[(keyboard_id, time, {button_id: data}), ...]`` and
    ``{query_id: keyboard_id}``; both are least-recently-used caches, so their order is kept.
    """

    __slots__ = ()
    keyed = False
    sorted = False

    def where(self, key: Any) -> str:
        return f"{self.name}[{key[0]!r}][{key[1]!r}]" if type(key) is tuple else self.name

    def key_json(self, key: Any, codec: KeyCodec) -> bytes | None:
        return orjson.dumps(key[0]) + b"," + orjson.dumps(key[1])

    def key_of(self, parts: list[Any], codec: KeyCodec, path: Path, where: str) -> Any:
        if len(parts) != 2 or parts[0] not in (KEYBOARD, QUERY) or type(parts[1]) is not str:  # noqa: PLR2004
            raise CorruptStateError(
                'a callback data entry must be ["keyboard", id, [time, buttons]] or '
                '["query", id, keyboard id]',
                file=path,
                where=where,
            )
        return parts[0], parts[1]

    def split(self, value: Any) -> dict[Any, Any]:
        keyboards, queries = value
        entries: dict[Any, Any] = {
            (KEYBOARD, kid): [time, buttons] for kid, time, buttons in keyboards
        }
        entries.update(((QUERY, query), kid) for query, kid in queries.items())
        return entries

    def assemble(
        self,
        values: dict[Any, Any],
        context_types: AnyContextTypes,
        path: Path,
        present: bool = True,
    ) -> Any:
        if not values:
            return ([], {}) if present else None
        keyboards, queries = [], {}
        for (kind, kid), value in values.items():
            if kind == KEYBOARD:
                if type(value) is not list or len(value) != 2:  # noqa: PLR2004
                    raise CorruptStateError(
                        "a keyboard's value must be [time, buttons]",
                        file=path,
                        where=self.where((kind, kid)),
                    )
                keyboards.append((kid, *value))
            else:
                queries[kid] = value
        problem = _callback_problem(keyboards, queries)
        if problem is not None:
            raise CorruptStateError(problem[0], file=path, where=self.name + problem[1])
        return [(kid, float(time), buttons) for kid, time, buttons in keyboards], queries

    def storable(self, value: Any, context_types: AnyContextTypes, key: Any) -> Any:
        if not isinstance(value, (tuple, list)) or len(value) != 2:  # noqa: PLR2004
            raise UnsupportedTypeError("expected (keyboards, queries)", self.name)
        keyboards, queries = value
        problem = _callback_problem(keyboards, queries)
        if problem is not None:
            raise UnsupportedTypeError(problem[0], self.name + problem[1])
        return keyboards, queries


def _callback_problem(keyboards: Any, queries: Any) -> tuple[str, str] | None:  # noqa: PLR0911
    """What keeps callback data from being PTB's shape, and where; :obj:`None` if nothing.

    PTB's shape: ``[(keyboard_id, time, {button_id: object}), ...], {query_id: keyboard_id}``.
    """
    if not isinstance(keyboards, (list, tuple)):
        return "the keyboards must be a list", "['keyboards']"
    for index, keyboard in enumerate(keyboards):
        where = f"['keyboards'][{index}]"
        if not isinstance(keyboard, (list, tuple)) or len(keyboard) != 3:  # noqa: PLR2004
            return "a keyboard must be [id, time, buttons]", where
        kid, time, buttons = keyboard
        if type(kid) is not str:
            return "a keyboard's id must be a string", f"{where}[0]"
        if type(time) not in (int, float) or not _fits_a_float(time):
            return "a keyboard's time must be a number of seconds", f"{where}[1]"
        if type(buttons) is not dict or not all(type(button) is str for button in buttons):
            return "a keyboard's buttons must map button ids to objects", f"{where}[2]"
    if type(queries) is not dict or not all(
        type(query) is str and type(kid) is str for query, kid in queries.items()
    ):
        return "the queries must map query ids to keyboard ids", "['queries']"
    return None


def _fits_a_float(number: float) -> bool:
    try:
        float(number)
    except OverflowError:
        return False
    return True


USER_DATA = _ById("user_data")
CHAT_DATA = _ById("chat_data")
BOT_DATA = _BotData("bot_data")
CALLBACK_DATA = _CallbackData("callback_data")
CONVERSATIONS = _Conversations("conversations")
#: Every category by name, in the order PTB loads them.
CATEGORIES: dict[str, Category] = {
    category.name: category
    for category in (USER_DATA, CHAT_DATA, BOT_DATA, CALLBACK_DATA, CONVERSATIONS)
}
