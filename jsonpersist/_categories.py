"""The five kinds of data PTB persists, each described once.

A :class:`Category` says everything that differs between them: its file, whether its entries are
independent (one user, chat or conversation handler each) or the members of one value, how an
entry's key is written, the order of the lines, which checks a decoded entry must pass and how
the value PTB expects is put together. Everything else (parsing, encoding, rounds, watching)
is one generic routine driven by these descriptions, looked up in :data:`CATEGORIES`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from telegram.ext import ContextTypes, PersistenceInput

from jsonpersist._errors import CorruptStateError, UnsupportedTypeError
from jsonpersist._format import WHOLE

__all__ = (
    "BOT_DATA",
    "CALLBACK_DATA",
    "CATEGORIES",
    "CHAT_DATA",
    "CONVERSATIONS",
    "USER_DATA",
    "Category",
)

AnyContextTypes = ContextTypes[Any, Any, Any, Any]


class Category:
    """A kind of data PTB persists, and how its file holds it.

    Args:
        name (:obj:`str`): PTB's name for it, also the file's name without ``.json``.

    Attributes:
        name (:obj:`str`): PTB's name, e.g. ``"user_data"``.
        file (:obj:`str`): The file's name in the state directory.
        keyed (:obj:`bool`): Whether PTB saves it entry by entry (users, chats, handlers);
            otherwise PTB hands over the whole value and its members are split out here.
    """

    __slots__ = ("file", "name")
    keyed = False
    #: Whether PTB's values are instances of the ``context_types`` class of the same name.
    context_typed = False

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
        return self.name if key is WHOLE else f"{self.name}[{key!r}]"

    def sort(self, keys: Iterable[Any]) -> list[Any]:
        """The order of the entry lines in the file."""
        return sorted(keys, key=str)

    def members(self, data: Any, path: Path, strict: bool = True) -> dict[Any, Any]:
        """Splits the ``data`` of a file into the entries that get a line each.

        Args:
            data: The ``data`` of the envelope, as parsed.
            path (:class:`pathlib.Path`): The file, for errors.
            strict (:obj:`bool`, optional): :obj:`False` on the fast path, where a file that
                renders back byte for byte is proven canonical afterwards anyway.

        Raises:
            CorruptStateError: The data is not of this category's shape.
        """
        if type(data) is dict and not any(key[:1] == "$" for key in data):
            return dict(data)
        return {WHOLE: data}

    def plain_class(self, context_types: AnyContextTypes) -> type | None:
        """The class of a decoded entry that :meth:`entry` hands back as it is."""
        return None

    def entry(self, value: Any, context_types: AnyContextTypes, path: Path, key: Any) -> Any:
        """Turns a decoded entry into what PTB expects of it, checking its shape."""
        return value

    def assemble(self, values: dict[Any, Any], context_types: AnyContextTypes, path: Path) -> Any:
        """Puts PTB's value of the category together from its decoded entries.

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

    def staged(self, value: Any) -> Any:
        """What a round encodes of a staged value; a live value is copied when the round runs."""
        return value


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
    keyed = True
    context_typed = True
    #: The range of Telegram's user and chat ids: signed 64-bit integers.
    min_id = -(2**63)
    max_id = 2**63 - 1

    def sort(self, keys: Iterable[Any]) -> list[Any]:
        return sorted(keys)

    def storable(self, value: Any, context_types: AnyContextTypes, key: Any) -> Any:
        """Refuses an id the file could not hold (it would make the whole file unloadable).

        Raises:
            UnsupportedTypeError: ``key`` is not an int from -2**63 to 2**63 - 1.
        """
        if type(key) is not int or not self.min_id <= key <= self.max_id:
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

    def members(self, data: Any, path: Path, strict: bool = True) -> dict[Any, Any]:
        if type(data) is not dict:
            raise CorruptStateError('"data" must be an object', file=path)
        if not strict:
            # int() is lenient ("010", " 1"), but such a key cannot render back to the same
            # bytes, which sends the file to the strict path and parse_id.
            try:
                keys = [int(key) for key in data]
            except ValueError:
                pass
            else:
                # Checked before any dict is built from them: ints beyond 64 bits can all share
                # one hash (k * (2**61 - 1)), which makes building the dict quadratic.
                if keys and (min(keys) < self.min_id or max(keys) > self.max_id):
                    for text in data:
                        self.parse_id(text, path)
                return dict(zip(keys, data.values(), strict=True))
        members = {}
        for text, member in data.items():
            key = self.parse_id(text, path)
            if key in members:
                raise CorruptStateError(
                    "the same id appears twice", file=path, where=f"{self.name}[{text!r}]"
                )
            members[key] = member
        return members

    def parse_id(self, text: str, path: Path) -> int:
        """An id as written in the file: an integer, written plainly, that fits in 64 bits.

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
        elif not self.min_id <= number <= self.max_id:
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


class _Handlers(Category):
    """Conversations: one entry per ``ConversationHandler`` name, mapping keys to states."""

    __slots__ = ()
    keyed = True

    def enabled(self, store_data: PersistenceInput) -> bool:
        return True  # PTB persists a handler's conversations when the handler asks for it

    def members(self, data: Any, path: Path, strict: bool = True) -> dict[Any, Any]:
        if type(data) is not dict:
            raise CorruptStateError('"data" must be an object', file=path)
        return dict(data)

    def plain_class(self, context_types: AnyContextTypes) -> type | None:
        return dict

    def entry(self, value: Any, context_types: AnyContextTypes, path: Path, key: Any) -> Any:
        if type(value) is not dict:
            raise CorruptStateError(
                "a handler's conversations must be a dict", file=path, where=self.where(key)
            )
        return value

    def staged(self, value: Any) -> Any:
        return dict(value)  # the handler's live states: copy them once per round


class _BotData(Category):
    """Bot data: one value, laid out one top-level key per line when it is a plain dict."""

    __slots__ = ()
    context_typed = True

    def assemble(self, values: dict[Any, Any], context_types: AnyContextTypes, path: Path) -> Any:
        if not values:
            return context_types.bot_data()
        value = values.get(WHOLE, values)
        return _as_context_type(value, context_types.bot_data, path, self.name)


class _CallbackData(Category):
    """The callback data cache: ``(keyboards, queries)``, stored as an object of the two."""

    __slots__ = ()

    def assemble(self, values: dict[Any, Any], context_types: AnyContextTypes, path: Path) -> Any:
        if not values:
            return None
        data = values.get(WHOLE, values)
        if type(data) is not dict or data.keys() != {"keyboards", "queries"}:
            raise CorruptStateError(
                'expected an object with the keys "keyboards" and "queries"',
                file=path,
                where=self.name,
            )
        problem = _callback_problem(data["keyboards"], data["queries"])
        if problem is not None:
            raise CorruptStateError(problem[0], file=path, where=self.name + problem[1])
        keyboards = [(kid, float(time), buttons) for kid, time, buttons in data["keyboards"]]
        return keyboards, data["queries"]

    def storable(self, value: Any, context_types: AnyContextTypes, key: Any) -> Any:
        if not isinstance(value, (tuple, list)) or len(value) != 2:  # noqa: PLR2004
            raise UnsupportedTypeError("expected (keyboards, queries)", self.name)
        keyboards, queries = value
        problem = _callback_problem(keyboards, queries)
        if problem is not None:
            raise UnsupportedTypeError(problem[0], self.name + problem[1])
        return {"keyboards": [list(keyboard) for keyboard in keyboards], "queries": queries}


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
CONVERSATIONS = _Handlers("conversations")
#: Every category by name, in the order PTB loads them.
CATEGORIES: dict[str, Category] = {
    category.name: category
    for category in (USER_DATA, CHAT_DATA, BOT_DATA, CALLBACK_DATA, CONVERSATIONS)
}
