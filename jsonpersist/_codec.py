"""Lossless conversion between Python values and JSON-native trees.

Plain JSON (``str``-keyed dicts, lists, ``str``, ``int``, finite ``float``, ``bool``, ``None``)
passes through unchanged. Every other supported type becomes a *tagged object*: a JSON object
with exactly one key starting with ``$``, which names the tag; the tag's other keys are its fields.
A user's own dict that has a key starting with ``$`` is escaped as ``{"$": {...}}``.
See ``docs/format.md`` for the full specification. This module knows nothing about files.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import math
import uuid
import warnings
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import telegram
from telegram import Bot, TelegramObject
from telegram.warnings import PTBUserWarning

from jsonpersist._errors import CorruptStateError, UnsupportedTypeError

__all__ = ("MAX_DEPTH", "Codec", "TypeRegistry", "is_plain")

#: The deepest JSON nesting the codec writes or reads. orjson refuses to write more than 254
#: levels; the margin leaves room for the file around a value.
MAX_DEPTH = 240

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1  # orjson reads and writes the whole u64 range exactly
_SORT = orjson.OPT_SORT_KEYS
T = TypeVar("T")
_Encoder = Callable[[Any], Any]
_Decoder = Callable[[Any], Any]


class TypeRegistry:
    """The application's own types that the codec may store, each under a name.

    Registration is explicit: a file can only name a type that was registered here, and the
    decoder never imports anything a file names.

    Examples:
        .. code-block:: python

            types = TypeRegistry()
            types.register_dataclass(CartItem)
            types.register_enum(Plan)
            types.register(Fraction, encode=str, decode=Fraction)
            persistence = JsonPersistence("state", types=types)
    """

    __slots__ = ("_by_name", "_by_type")

    def __init__(self) -> None:
        self._by_type: dict[type, tuple[str, _Encoder]] = {}
        self._by_name: dict[str, _Decoder] = {}

    def register(
        self,
        cls: type[T],
        *,
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
        name: str | None = None,
    ) -> None:
        """Registers a type with functions converting it to and from a storable value.

        Args:
            cls (:obj:`type`): The exact class (subclasses need their own registration).
            encode (Callable): Takes an instance, returns any value the codec can store.
            decode (Callable): Takes what :paramref:`encode` returned, returns an instance.
            name (:obj:`str`, optional): The name written to files. Defaults to the class's
                ``__qualname__``. Keep it stable: renaming it makes old files unreadable.

        Raises:
            ValueError: The class or the name is already registered.
        """
        key = name or cls.__qualname__
        if cls in self._by_type or key in self._by_name:
            raise ValueError(f"{cls.__qualname__} or the name {key!r} is already registered")
        self._by_type[cls] = (key, encode)
        self._by_name[key] = decode

    def register_dataclass(self, cls: type[Any], *, name: str | None = None) -> None:
        """Registers a dataclass; it is stored as a dict of its ``init`` fields.

        Args:
            cls (:obj:`type`): A dataclass.
            name (:obj:`str`, optional): The name written to files, see :meth:`register`.

        Raises:
            TypeError: :paramref:`cls` is not a dataclass.
        """
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise TypeError(f"{cls!r} is not a dataclass")
        names = tuple(field.name for field in dataclasses.fields(cls) if field.init)

        def encode(obj: Any) -> dict[str, Any]:
            return {field: getattr(obj, field) for field in names}

        def decode(data: Any) -> Any:
            if type(data) is not dict or set(data) - set(names):
                raise ValueError(f"expected a dict with the fields {list(names)}")
            return cls(**data)

        self.register(cls, encode=encode, decode=decode, name=name)

    def register_enum(self, cls: type[enum.Enum], *, name: str | None = None) -> None:
        """Registers an :class:`enum.Enum` (including ``IntEnum``); stored by member value.

        Args:
            cls (:obj:`type`): An enum class.
            name (:obj:`str`, optional): The name written to files, see :meth:`register`.
        """
        self.register(cls, encode=lambda member: member.value, decode=cls, name=name)

    def _lookup(self, cls: type) -> tuple[str, _Encoder] | None:
        return self._by_type.get(cls)

    def _decoder(self, name: str) -> _Decoder | None:
        return self._by_name.get(name)


class _Unsupported(Exception):
    """Internal: carries the key path outwards while the recursion unwinds."""

    __slots__ = ("message", "path")

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[object] = []


class _Corrupt(_Unsupported):
    __slots__ = ()


def _fail(message: str) -> NoReturn:
    raise _Corrupt(message)


def _format_path(root: str, path: list[object]) -> str:
    keys = [f"[{key!r}]" for key in reversed(path)]
    if len(keys) > 16:  # noqa: PLR2004 - a path through deep nesting stays readable
        keys[8:-8] = [f"...{len(keys) - 16} more..."]
    return root + "".join(keys)


_TELEGRAM_CLASSES: dict[str, type[TelegramObject]] = {}
_TELEGRAM_NAMES: dict[type, str] = {}


def _telegram_name(cls: type) -> str:
    """The stable name of a TelegramObject subclass: its name in ``telegram``, else its path."""
    name: str = cls.__name__
    if getattr(telegram, name, None) is cls:
        return name
    return f"{cls.__module__}.{cls.__qualname__}"


def _refresh_telegram_classes() -> None:
    """Indexes every TelegramObject subclass loaded so far. Nothing is imported."""
    todo: list[type[TelegramObject]] = [TelegramObject]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if not issubclass(cls, Bot) and cls not in _TELEGRAM_NAMES:
            name = _telegram_name(cls)
            _TELEGRAM_NAMES[cls] = name
            _TELEGRAM_CLASSES.setdefault(name, cls)


try:
    from jsonpersist import _speedups
except ImportError:  # installed without a C compiler: the walk below gives the same answers
    _speedups = None  # type: ignore[assignment]

#: Where :func:`is_plain` runs, as ``jsonpersist --version`` shows it.
PLAIN_CHECK = "C" if _speedups is not None else "Python, the C module was not built"


def is_plain(value: object) -> bool:
    """Tells whether ``value`` is plain JSON that the codec writes as it is, with no tags.

    The codec asks this of every value it encodes, so it runs in C where
    ``jsonpersist/_speedups.c`` was built: a walk in Python costs several times what orjson
    needs to write the value.

    Args:
        value: Any value.

    Returns:
        :obj:`bool`: Whether it holds only ``str``-keyed dicts (no key starting with ``$``),
        lists, ``str``, ``bool``, ``None``, ints from -2⁶³ to 2⁶⁴-1 and finite floats, of
        exactly those types, nested at most :data:`MAX_DEPTH` levels.
    """
    if _speedups is not None:
        return _speedups.is_plain(value, MAX_DEPTH)
    return _walk_plain(value)


def _walk_plain(value: object, depth: int = 0) -> bool:  # noqa: PLR0911, PLR0912
    """:func:`is_plain` in Python: the reference for the C version, and its stand-in."""
    if depth > MAX_DEPTH:
        return False
    kind = type(value)
    if kind is dict:
        for key in value:  # type: ignore[attr-defined]
            if type(key) is not str or key[:1] == "$":
                return False
        items: Iterable[object] = value.values()  # type: ignore[attr-defined]
    elif kind is list:
        items = value  # type: ignore[assignment]
    else:
        items = (value,)
        depth -= 1
    for item in items:
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not _INT_MIN <= item <= _INT_MAX:  # type: ignore[operator]
                return False
        elif kind is float:
            if item - item != 0.0:  # type: ignore[operator]  # NaN and +-inf
                return False
        elif kind is dict or kind is list:
            if not _walk_plain(item, depth + 1):
                return False
        else:
            return False
    return True


def _sort_key(tree: object) -> bytes:
    return orjson.dumps(tree, option=_SORT)


class Codec:
    """Converts Python values to JSON-native trees and back, losslessly.

    Args:
        bot (:class:`telegram.Bot`, optional): The bot whose references are stored as a
            placeholder and restored as the current bot. Can be set later via :attr:`bot`.
        types (:class:`TypeRegistry`, optional): The application's own types.

    Attributes:
        bot (:class:`telegram.Bot` | :obj:`None`): The current bot.
        types (:class:`TypeRegistry`): The application's own types.
    """

    __slots__ = ("bot", "types")

    def __init__(self, bot: Bot | None = None, types: TypeRegistry | None = None) -> None:
        self.bot = bot
        self.types = types or TypeRegistry()

    # ----------------------------------------------------------------------------- encoding

    def encode(self, value: object, where: str = "value") -> Any:
        """Turns a value into a tree of plain JSON types.

        Args:
            value: The value to encode.
            where (:obj:`str`, optional): How to name the value in error messages.

        Returns:
            A tree of ``dict`` (``str`` keys), ``list``, ``str``, ``int``, ``float``, ``bool``
            and ``None`` that :func:`orjson.dumps` writes as is. Plain JSON input is returned
            as the same object, not copied.

        Raises:
            UnsupportedTypeError: A value (named by its key path) cannot be stored, or the
                value is nested deeper than :data:`MAX_DEPTH`. A string that UTF-8 cannot hold
                (a lone surrogate) is refused here when it is a set item or in a key that is
                sorted, else by :meth:`dumps`.
        """
        if is_plain(value):
            return value
        try:
            return self._encode(value, 0)
        except _Unsupported as exc:
            error = UnsupportedTypeError(exc.message, _format_path(where, exc.path))
            raise error from exc.__cause__
        except orjson.JSONEncodeError as exc:  # from sorting a set or the pairs of a $dict
            raise self._unwritable(value, where, exc) from exc

    def dumps(self, value: object, where: str = "value") -> bytes:
        """Encodes a value to compact, deterministic JSON bytes (keys sorted).

        Raises:
            UnsupportedTypeError: See :meth:`encode`; also any string that UTF-8 cannot
                hold (a lone surrogate), named by its key path.
        """
        tree = self.encode(value, where)
        try:
            return orjson.dumps(tree, option=_SORT)
        except orjson.JSONEncodeError as exc:
            raise self._unwritable(value, where, exc) from exc

    def _unwritable(self, value: object, where: str, exc: Exception) -> UnsupportedTypeError:
        """The error for a value orjson refused: it names the string UTF-8 cannot hold."""
        try:
            _StringCheck(self.bot, self.types)._encode(value, 0)
        except _Unsupported as found:
            return UnsupportedTypeError(found.message, _format_path(where, found.path))
        return UnsupportedTypeError(f"cannot store this value: {exc}", where)

    def _encode(self, value: Any, depth: int) -> Any:  # noqa: PLR0911, PLR0912
        if depth > MAX_DEPTH:
            raise _Unsupported(f"nested deeper than {MAX_DEPTH} levels of JSON; flatten it")
        kind = type(value)
        if kind is str or kind is bool or value is None:
            return value
        if kind is int:
            if _INT_MIN <= value <= _INT_MAX:
                return value
            try:
                return {"$int": str(value)}
            except ValueError:  # beyond sys.get_int_max_str_digits(): hex has no limit
                return {"$int": hex(value)}
        if kind is float:
            if value - value == 0.0:
                return value
            if not math.isnan(value):
                return {"$float": "inf" if value > 0 else "-inf"}
            return {"$float": "-nan" if math.copysign(1.0, value) < 0 else "nan"}
        if kind is dict:
            return self._encode_dict(value, depth)
        if kind is list:
            return self._encode_items(value, depth + 1)
        if kind is tuple:
            return {"$tuple": self._encode_items(value, depth + 2)}
        if kind is set or kind is frozenset:
            items = self._encode_items(value, depth + 2)
            items.sort(key=_sort_key)
            return {"$set" if kind is set else "$frozenset": items}
        if kind is bytes:
            return {"$bytes": base64.b64encode(value).decode("ascii")}
        if kind is datetime:
            return {"$datetime": _format_datetime(value)}
        if kind is date:
            return {"$date": value.isoformat()}
        if kind is time:
            if value.tzinfo is not None and type(value.tzinfo) is not timezone:
                raise _Unsupported(f"cannot store a time with a {type(value.tzinfo).__name__}")
            _check_offset(value.tzinfo)
            return {"$time": value.isoformat()}
        if kind is timedelta:
            return {"$timedelta": _format_timedelta(value)}
        if kind is Decimal:
            return {"$decimal": str(value)}
        if kind is uuid.UUID:
            return {"$uuid": str(value)}
        registered = self.types._lookup(kind)
        if registered is not None:
            name, to_json = registered
            try:
                payload = to_json(value)
            except _Unsupported:
                raise
            except Exception as exc:
                raise _Unsupported(f"the encoder registered for {name} failed: {exc!r}") from exc
            return {"$obj": name, "data": self._encode(payload, depth + 1)}
        if isinstance(value, Bot):
            return self._encode_bot(value)
        if isinstance(value, TelegramObject):
            return self._encode_telegram(value, depth)
        raise _Unsupported(f"cannot store a {kind.__qualname__} (register it, see docs/types.md)")

    def _encode_items(self, items: Iterable[object], depth: int) -> list[Any]:
        out = []
        for index, item in enumerate(items):
            try:
                out.append(self._encode(item, depth))
            except _Unsupported as exc:
                exc.path.append(index)
                raise
        return out

    def _encode_dict(self, value: dict[Any, Any], depth: int) -> Any:
        if all(type(key) is str for key in value):
            escape = any(key[:1] == "$" for key in value)
            inner = depth + (2 if escape else 1)  # the escape {"$": ...} is a level of its own
            out = {}
            for key, item in value.items():
                try:
                    out[key] = self._encode(item, inner)
                except _Unsupported as exc:
                    exc.path.append(key)
                    raise
            return {"$": out} if escape else out
        pairs = []
        for key, item in value.items():
            try:
                pairs.append([self._encode(key, depth + 3), self._encode(item, depth + 3)])
            except _Unsupported as exc:
                exc.path.append(key)
                raise
        pairs.sort(key=_sort_key)  # by key; the value only breaks ties (two NaN keys)
        return {"$dict": pairs}

    def _encode_bot(self, bot: Bot) -> Any:
        if bot is self.bot:
            return {"$bot": "current"}
        warnings.warn(
            "jsonpersist: an unknown Bot instance is stored as None (only the persistence's own "
            "bot is restored on load)",
            PTBUserWarning,
            stacklevel=4,
        )
        return None

    def _encode_telegram(self, obj: TelegramObject, depth: int) -> Any:
        cls = type(obj)
        name = _TELEGRAM_NAMES.get(cls)
        if name is None:
            _refresh_telegram_classes()
            name = _TELEGRAM_NAMES[cls]
        out: dict[str, Any] = {"$tg": name}
        attached = getattr(obj, "_bot", None)
        if attached is not None:
            if attached is self.bot:
                out["bot"] = "current"
            else:
                self._encode_bot(attached)  # warns; the object is stored without a bot
        # to_json() rather than to_dict(): the latter keeps PTB's enum members and datetimes
        try:
            data = orjson.loads(obj.to_json())
        except orjson.JSONDecodeError as exc:  # e.g. a lone surrogate in a message's text
            raise _Unsupported(f"cannot store this {name}: {exc}") from exc
        out["data"] = self._encode(data, depth + 1)
        return out

    # ----------------------------------------------------------------------------- decoding

    def decode(self, tree: Any, where: str = "value") -> Any:
        """Turns a tree produced by :meth:`encode` (or read from a file) back into the value.

        Args:
            tree: JSON-native data, e.g. from :func:`orjson.loads`. Plain subtrees are reused,
                so pass a tree you own.
            where (:obj:`str`, optional): How to name the value in error messages.

        Raises:
            CorruptStateError: The tree is malformed: an unknown tag, a field of the wrong
                shape, a type that is not registered; the message names the key path.
        """
        try:
            return self._decode(tree, 0)
        except _Unsupported as exc:
            error = CorruptStateError(exc.message, where=_format_path(where, exc.path))
            raise error from exc.__cause__ or exc.__context__

    def loads(self, data: bytes | str, where: str = "value") -> Any:
        """Parses JSON text and decodes it, see :meth:`decode`.

        Raises:
            CorruptStateError: The text is not JSON or does not decode.
        """
        try:
            tree = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CorruptStateError(str(exc), where=where) from None
        return self.decode(tree, where)

    def _decode(self, tree: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            _fail(f"nested deeper than {MAX_DEPTH} levels")
        kind = type(tree)
        if kind is dict:
            tag = None
            for key in tree:
                if key[:1] == "$":
                    if tag is not None:
                        _fail(f"an object has two tags, {tag!r} and {key!r}")
                    tag = key
            if tag is None:
                for key, item in tree.items():
                    tree[key] = self._decode_child(item, key, depth + 1)
                return tree
            try:
                return self._decode_tag(tag, tree, depth)
            except _Unsupported as exc:
                exc.path.append(tag)
                raise
        if kind is list:
            for index, item in enumerate(tree):
                tree[index] = self._decode_child(item, index, depth + 1)
            return tree
        if kind is str or kind is int or kind is float or kind is bool or tree is None:
            return tree
        _fail(f"{kind.__name__} is not a JSON type")

    def _decode_child(self, tree: Any, key: object, depth: int) -> Any:
        kind = type(tree)
        if kind is str or kind is int or kind is bool or tree is None or kind is float:
            return tree
        try:
            return self._decode(tree, depth)
        except _Unsupported as exc:
            exc.path.append(key)
            raise

    def _decode_list(self, payload: Any, depth: int) -> list[Any]:
        if type(payload) is not list:
            _fail(f"expected a list, found {type(payload).__name__}")
        return self._decode(payload, depth)  # type: ignore[no-any-return]

    def _decode_tag(self, tag: str, tree: dict[str, Any], depth: int) -> Any:  # noqa: PLR0911, PLR0912
        payload = tree[tag]
        fields = tree.keys() - {tag}
        allowed = {"$tg": {"bot", "data"}, "$obj": {"data"}}.get(tag, set())
        if fields - allowed:
            _fail(f"unexpected fields {sorted(fields - allowed)} beside the tag {tag}")
        if tag == "$":
            if type(payload) is not dict:
                _fail("an escaped dict must hold an object")
            for key, item in payload.items():
                payload[key] = self._decode_child(item, key, depth + 2)
            return payload
        if tag == "$tuple":
            return tuple(self._decode_list(payload, depth + 1))
        if tag in ("$set", "$frozenset"):
            items = self._decode_list(payload, depth + 1)
            try:
                return set(items) if tag == "$set" else frozenset(items)
            except TypeError:
                _fail("a set holds an unhashable value")
        if tag == "$dict":
            return self._decode_pairs(payload, depth + 1)
        if tag == "$tg":
            return self._decode_telegram(payload, tree, depth)
        if tag == "$obj":
            return self._decode_registered(payload, tree, depth)
        if tag == "$bot":
            if payload != "current":
                _fail(f"unknown bot placeholder {payload!r}")
            return self.bot
        parse = _SCALAR_TAGS.get(tag)
        if parse is None:
            _fail(f"unknown tag {tag!r} (written by a newer jsonpersist, or a typo?)")
        if type(payload) is not str:
            _fail(f"{tag} expects a string")
        try:
            return parse(payload)
        except (ValueError, TypeError, ArithmeticError, InvalidOperation, binascii.Error) as exc:
            _fail(f"invalid {tag} value {payload[:80]!r}: {exc}")

    def _decode_pairs(self, payload: Any, depth: int) -> dict[Any, Any]:
        out = {}
        for index, pair in enumerate(self._decode_list(payload, depth)):
            if type(pair) is not list or len(pair) != 2:  # noqa: PLR2004
                exc = _Corrupt("a $dict entry must be a [key, value] pair")
                exc.path.append(index)
                raise exc
            key, item = pair
            try:
                if key in out:
                    _fail(f"the key {key!r} appears twice")
                out[key] = item
            except TypeError:
                exc = _Corrupt(f"an unhashable key of type {type(key).__name__}")
                exc.path.append(index)
                raise exc from None
        return out

    def _decode_telegram(self, name: Any, tree: dict[str, Any], depth: int) -> TelegramObject:
        if type(name) is not str:
            _fail("$tg expects the name of a Telegram type")
        cls = _TELEGRAM_CLASSES.get(name)
        if cls is None:
            _refresh_telegram_classes()
            cls = _TELEGRAM_CLASSES.get(name)
            if cls is None:
                _fail(f"unknown Telegram type {name!r}")
        bot_field = tree.get("bot")
        if bot_field not in (None, "current"):
            _fail(f"unknown bot placeholder {bot_field!r}")
        data = self._decode(tree.get("data"), depth + 1)
        if type(data) is not dict:
            _fail(f"the data of a {name} must be an object")
        bot = self.bot if bot_field == "current" else None
        try:
            obj = cls.de_json(data, bot)
        except Exception as exc:  # de_json raises whatever the data provokes
            _fail(f"cannot rebuild a {name}: {exc!r}")
        if obj is None:
            _fail(f"cannot rebuild a {name} from this data")
        return obj

    def _decode_registered(self, name: Any, tree: dict[str, Any], depth: int) -> Any:
        if type(name) is not str:
            _fail("$obj expects the registered name of a type")
        from_json = self.types._decoder(name)
        if from_json is None:
            _fail(f"{name!r} is not a registered type (register it before loading)")
        data = self._decode(tree.get("data"), depth + 1)
        try:
            return from_json(data)
        except Exception as exc:  # the registered decoder may raise anything
            _fail(f"the decoder registered for {name} failed: {exc!r}")


class _StringCheck(Codec):
    """Encodes as its codec does, refusing a string UTF-8 cannot hold, with its key path.

    It runs only after orjson refused a tree (a lone surrogate), so that the common path pays
    nothing for the check.
    """

    __slots__ = ()

    def _encode(self, value: Any, depth: int) -> Any:
        if type(value) is str and not _utf8(value):
            raise _Unsupported(_UNWRITABLE)
        return super()._encode(value, depth)

    def _encode_dict(self, value: dict[Any, Any], depth: int) -> Any:
        for key in value:
            if type(key) is str and not _utf8(key):
                exc = _Unsupported(_UNWRITABLE)
                exc.path.append(key)
                raise exc
        return super()._encode_dict(value, depth)


_UNWRITABLE = "cannot store a string UTF-8 cannot hold (it has a lone surrogate)"


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------------------------- scalars


def _check_offset(tz: tzinfo | None) -> None:
    # datetime.fromisoformat() reads "+00:00:00.000001" back as UTC, so refuse such offsets.
    offset = tz.utcoffset(None) if type(tz) is timezone else None
    if offset is not None and offset % timedelta(seconds=1):
        raise _Unsupported("cannot store a UTC offset with a fraction of a second")


def _format_datetime(value: datetime) -> str:
    tz = value.tzinfo
    _check_offset(tz)
    if tz is None or type(tz) is timezone:
        return value.isoformat()
    if type(tz) is ZoneInfo and tz.key:
        return f"{value.isoformat()}[{tz.key}]"
    raise _Unsupported(
        f"cannot store a datetime with a {type(tz).__name__}; use zoneinfo or a fixed offset"
    )


def _whole_second_offset(tz: tzinfo | None) -> None:
    """Refuses what the encoder refuses: an offset with a fraction of a second."""
    offset = tz.utcoffset(None) if type(tz) is timezone else None
    if offset is not None and offset % timedelta(seconds=1):
        raise ValueError("a UTC offset with a fraction of a second")


def _parse_datetime(text: str) -> datetime:
    stamp, _, zone = text.partition("[")
    value = datetime.fromisoformat(stamp)
    _whole_second_offset(value.tzinfo)
    if not zone:
        return value
    if not zone.endswith("]") or value.tzinfo is None:
        raise ValueError("a zone needs an offset and a closing ]")
    try:
        tz: tzinfo = ZoneInfo(zone[:-1])
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a tzdata folder
        raise ValueError(f"unknown time zone {zone[:-1]!r}") from exc
    local = value.replace(tzinfo=tz)
    if local.utcoffset() != value.utcoffset():  # the second of two ambiguous wall times
        local = local.replace(fold=1)
    return local


def _format_timedelta(value: timedelta) -> str:
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    return f"{sign}{seconds}.{fraction:06d}".rstrip("0").rstrip(".")


def _parse_time(text: str) -> time:
    value = time.fromisoformat(text)
    _whole_second_offset(value.tzinfo)
    return value


def _parse_timedelta(text: str) -> timedelta:
    amount = Decimal(text)
    if not amount.is_finite():
        raise ValueError("not a finite number of seconds")
    if amount.adjusted() > 15:  # noqa: PLR2004 - timedelta ends below 10**14 s; don't build a huge int
        raise ValueError("longer than a timedelta can be")
    micros = amount.scaleb(6)
    if micros != micros.to_integral_value():
        raise ValueError("more precise than a microsecond")
    return timedelta(microseconds=int(micros))


def _parse_int(text: str) -> int:
    digits = text.lstrip("-")
    if digits.startswith("0x"):
        return int(text, 16)
    if not digits.isdigit():
        raise ValueError("not an integer")
    return int(text)


def _parse_float(text: str) -> float:
    if text not in ("nan", "-nan", "inf", "-inf"):
        raise ValueError("expected nan, -nan, inf or -inf")
    return float(text)


_SCALAR_TAGS: dict[str, Callable[[str], Any]] = {
    "$int": _parse_int,
    "$float": _parse_float,
    "$bytes": lambda text: base64.b64decode(text, validate=True),
    "$datetime": _parse_datetime,
    "$date": date.fromisoformat,
    "$time": _parse_time,
    "$timedelta": _parse_timedelta,
    "$decimal": Decimal,
    "$uuid": uuid.UUID,
}
