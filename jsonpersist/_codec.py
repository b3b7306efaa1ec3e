"""Lossless conversion between Python values and JSON-native trees.

Plain JSON (``str``-keyed dicts, lists, ``str``, ``int``, finite ``float``, ``bool``, ``None``)
passes through unchanged. Every other supported type becomes a *tagged object*: a JSON object
with exactly one key starting with ``$``, which names the tag; the tag's other keys are its fields.
A user's own dict that has a key starting with ``$`` is escaped as ``{"$": {...}}``.
See ``docs/format.md`` for the full specification. This module knows nothing about files.
"""

from __future__ import annotations

import binascii
import json
import math
import re
import warnings
from collections import Counter
from collections.abc import Iterable
from decimal import InvalidOperation
from typing import Any, NoReturn

import orjson
import telegram
from telegram import Bot, TelegramObject
from telegram.warnings import PTBUserWarning

from jsonpersist._errors import CorruptStateError, UnsupportedTypeError
from jsonpersist._plain import INT_MAX, INT_MIN, MAX_DEPTH, is_plain
from jsonpersist._scalars import ENCODERS, PARSERS
from jsonpersist._types import TypeRegistry

__all__ = ("MAX_DEPTH", "Codec", "TypeRegistry", "is_plain")

_SORT = orjson.OPT_SORT_KEYS
# 19 digits: the shortest ints orjson cannot read exactly (below -2**63) have them.
_LONG_NUMBER = re.compile(r"[0-9]{19}")


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
    keys = [f"[{_key_repr(key)}]" for key in reversed(path)]
    if len(keys) > 16:  # noqa: PLR2004 - a path through deep nesting stays readable
        keys[8:-8] = [f"...{len(keys) - 16} more..."]
    return root + "".join(keys)


_TELEGRAM_CLASSES: dict[str, type[TelegramObject]] = {}
#: The fields a tag may have beside itself.
_TAG_FIELDS = {"$tg": frozenset({"bot", "data"}), "$obj": frozenset({"data"})}
#: PTB's classes whose constructor looks a string up on the file system
#: (``telegram._utils.files.parse_file_input``: ``Path(media).is_file()``). Decoding one from a
#: file would stat any path the file names, and the value would tell which exist: they are
#: neither stored nor loaded.
PROBING_CLASSES: tuple[type[TelegramObject], ...] = tuple(
    cls
    for name in (
        "InputMedia",
        "InputMediaSticker",
        "InputPaidMedia",
        "InputProfilePhoto",
        "InputSticker",
        "InputStoryContent",
    )
    if isinstance(cls := getattr(telegram, name, None), type)
)
_PROBES = (
    "python-telegram-bot's constructor looks its files up on the file system, which loading "
    "must never do; store the file_id (a str) and build the object when you send it"
)
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

    def _encode(self, value: Any, depth: int) -> Any:  # noqa: PLR0911
        if depth > MAX_DEPTH:
            raise _Unsupported(f"nested deeper than {MAX_DEPTH} levels of JSON; flatten it")
        kind = type(value)
        if kind is str or kind is bool or value is None:
            return value
        if kind is int:
            return value if INT_MIN <= value <= INT_MAX else _encode_big_int(value)
        if kind is float:
            return value if value - value == 0.0 else _encode_special_float(value)
        if kind is dict:
            return self._encode_dict(value, depth)
        if kind is list:
            return self._encode_items(value, depth + 1)
        if kind is tuple:
            return {"$tuple": self._encode_items(value, depth + 2)}
        if kind is set or kind is frozenset:
            if len(value) > MAX_SAME_HASH and _crowded(value):
                raise _Unsupported(_CROWDED)
            items = self._encode_items(value, depth + 2)
            items.sort(key=_sort_key)
            return {"$set" if kind is set else "$frozenset": items}
        scalar = ENCODERS.get(kind)
        if scalar is not None:
            try:
                return scalar(value)
            except ValueError as exc:
                raise _Unsupported(str(exc)) from None
        return self._encode_object(value, kind, depth)

    def _encode_object(self, value: Any, kind: type, depth: int) -> Any:
        """A registered type, a bot or a Telegram object."""
        registered = self.types.encoder(kind)
        if registered is not None:
            name, to_json = registered
            try:
                payload = to_json(value)
            except _Unsupported:
                raise
            except Exception as exc:
                raise _Unsupported(f"the encoder registered for {name} failed: {exc!r}") from exc
            out = {"$obj": name, "data": self._encode(payload, depth + 1)}
            self._check_it_loads(out, name)
            return out
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
        if len(value) > MAX_SAME_HASH and _crowded(value):
            raise _Unsupported(_CROWDED)
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
        if isinstance(obj, PROBING_CLASSES):
            raise _Unsupported(f"cannot store a {cls.__qualname__}: {_PROBES}")
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
            text = obj.to_json()
            # orjson reads an int beyond 64 bits as a float: only json keeps it exact
            data = json.loads(text) if _LONG_NUMBER.search(text) else orjson.loads(text)
        # JSONDecodeError: e.g. a lone surrogate in a message's text; json's ValueError: an
        # int beyond Python's digit limit
        except ValueError as exc:
            raise _Unsupported(f"cannot store this {name}: {exc}") from exc
        out["data"] = self._encode(data, depth + 1)
        if "." in name:  # the application's own subclass: PTB's classes all rebuild
            rebuilt = self._check_it_loads(out, name)
            lost = _lost_attributes(obj, rebuilt)
            if lost:
                raise _Unsupported(
                    f"cannot store this {name}: its {lost} would not come back (to_dict() "
                    "leaves it out, or __init__ does not take it); register the class in a "
                    "TypeRegistry with an encoder and decoder that keep it (see docs/types.md)"
                )
        return out

    def _check_it_loads(self, tree: dict[str, Any], name: str) -> Any:
        """Decodes a tagged object just encoded, so that what would not load is refused now.

        Stored, such a value would make its whole file fail to load at the next start.
        """
        try:
            return self._decode(orjson.loads(orjson.dumps(tree)), 0)  # decode() reuses trees
        except _Unsupported as exc:
            raise _Unsupported(
                f"cannot store this {name}: it would not load again ({exc.message}); make its "
                "encoder and decoder match, or register the class (see docs/types.md)"
            ) from None

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
        if is_plain(tree):  # in C: no tag anywhere, and not too deep; nothing to rebuild
            return tree
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
            tree = _parse(data)
        except (ValueError, RecursionError) as exc:
            raise CorruptStateError(str(exc) or "nested too deeply", where=where) from None
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
                kind = type(item)
                if (
                    kind is dict
                    or kind is list
                    or not (
                        kind is str or kind is int or kind is bool or item is None or kind is float
                    )
                ):
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
        if len(tree) > 1:
            fields = tree.keys() - {tag} - _TAG_FIELDS.get(tag, frozenset())
            if fields:
                _fail(f"unexpected fields {sorted(fields)} beside the tag {tag}")
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
            _check_hashes(items, "a set holds an unhashable value")
            try:
                built = set(items) if tag == "$set" else frozenset(items)
            except TypeError:
                _unhashable(items, "a set holds an unhashable value")
            if len(built) != len(items):  # the encoder writes each item once
                _fail(f"the item {_shown(_duplicate(items))} appears twice")
            return built
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
        parse = PARSERS.get(tag)
        if parse is None:
            _fail(f"unknown tag {tag!r} (written by a newer jsonpersist, or a typo?)")
        if type(payload) is not str:
            _fail(f"{tag} expects a string")
        try:
            return parse(payload)
        except (ValueError, TypeError, ArithmeticError, InvalidOperation, binascii.Error) as exc:
            _fail(f"invalid {tag} value {payload[:80]!r}: {exc}")

    def _decode_pairs(self, payload: Any, depth: int) -> dict[Any, Any]:
        pairs = self._decode_list(payload, depth)
        for index, pair in enumerate(pairs):
            if type(pair) is not list or len(pair) != 2:  # noqa: PLR2004
                exc = _Corrupt("a $dict entry must be a [key, value] pair")
                exc.path.append(index)
                raise exc
        keys = [key for key, _ in pairs]
        _check_hashes(keys, "an unhashable key of type {}")
        try:
            out = dict(pairs)
        except TypeError:
            _unhashable(keys, "an unhashable key of type {}")
        if len(out) != len(pairs):  # the encoder writes each key once
            _fail(f"the key {_shown(_duplicate(keys))} appears twice")
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
        if issubclass(cls, PROBING_CLASSES):
            _fail(f"a {name} cannot be loaded: {_PROBES}")
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
        from_json = self.types.decoder(name)
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


#: The most items of one set, frozenset or ``$dict`` that may share a hash. ``hash(int)`` is
#: ``x mod (2**61 - 1)``, so ints (and the Decimals, UUIDs, tuples and Telegram objects made
#: of them) can be chosen to share one: n of them make building the set take n**2 / 2
#: comparisons. Values a bot stores share a hash by chance only, a few at most.
MAX_SAME_HASH = 32


def _parse(data: bytes | str) -> Any:
    """``orjson.loads``, and ``json.loads`` where orjson refuses a valid document.

    orjson 3.13.0 reports "failed to allocate memory" for some valid documents (an indented
    object holding an array of a thousand small arrays, a few KB); the standard library then
    parses it, refusing ``NaN`` as orjson does.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if not str(exc).startswith("failed to allocate memory"):
            raise
    return json.loads(data, parse_constant=_not_json)


def _not_json(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _crowded(items: Iterable[Any]) -> bool:
    """Whether more than :data:`MAX_SAME_HASH` of the items share a hash.

    Raises:
        TypeError: An item cannot be hashed.
    """
    counts = Counter(map(hash, items))
    return max(counts.values(), default=0) > MAX_SAME_HASH


_CROWDED = (
    f"cannot store more than {MAX_SAME_HASH} items sharing one hash in one set or dict "
    "(ints chosen as multiples of 2**61 - 1, say): loading them would be refused as hash "
    "flooding, see docs/format.md"
)


def _check_hashes(items: list[Any], unhashable: str) -> None:
    """Refuses more than :data:`MAX_SAME_HASH` items sharing one hash, before a set is built.

    Counting by hash first keeps every set and dict a file makes linear to build. (The hashes
    themselves are ints below 2**63, of which only a handful share a hash in turn.) An item
    that cannot be hashed is refused here too, or by building the set (:func:`_unhashable`).
    """
    if len(items) <= MAX_SAME_HASH:
        return
    try:
        if not _crowded(items):
            return
    except TypeError:
        _unhashable(items, unhashable)
    counts: dict[int, int] = {}
    for index, item in enumerate(items):
        digest = hash(item)
        counts[digest] = count = counts.get(digest, 0) + 1
        if count > MAX_SAME_HASH:
            exc = _Corrupt(
                f"more than {MAX_SAME_HASH} items share one hash (a hash-flooding attempt: "
                "such a set or dict would take minutes to build)"
            )
            exc.path.append(index)
            raise exc


def _unhashable(items: list[Any], message: str) -> NoReturn:
    """Refuses the first item that cannot be hashed (there is one), naming its index."""
    for index, item in enumerate(items):
        try:
            hash(item)
        except TypeError:
            exc = _Corrupt(message.format(type(item).__name__))
            exc.path.append(index)
            raise exc from None
    raise AssertionError("no unhashable item")  # pragma: no cover


def _duplicate(items: list[Any]) -> Any:
    """The first item equal to an earlier one (there is one; hashes already checked)."""
    seen = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    raise AssertionError("no duplicate")  # pragma: no cover


def _key_repr(value: Any) -> str:
    """``repr()``, also of an int (or a tuple of them) beyond Python's digit limit."""
    try:
        return repr(value)
    except ValueError:  # beyond sys.get_int_max_str_digits()
        return hex(value) if type(value) is int else f"<a {type(value).__name__} too long to show>"


def _shown(value: Any) -> str:
    """A value's repr for a message: at most 80 characters, even for an int of 10**5000."""
    text = _key_repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."  # noqa: PLR2004


def _encode_big_int(value: int) -> dict[str, str]:
    try:
        return {"$int": str(value)}
    except ValueError:  # beyond sys.get_int_max_str_digits(): hex has no limit
        return {"$int": hex(value)}


def _encode_special_float(value: float) -> dict[str, str]:
    if not math.isnan(value):
        return {"$float": "inf" if value > 0 else "-inf"}
    return {"$float": "-nan" if math.copysign(1.0, value) < 0 else "nan"}


def _lost_attributes(original: TelegramObject, rebuilt: Any) -> str:
    """Which attributes of a Telegram object differ once rebuilt; empty when none do."""
    if type(rebuilt) is not type(original):
        return f"class ({type(rebuilt).__qualname__} instead)"
    before = original._get_attrs(include_private=True, recursive=True, remove_bot=True)
    after = rebuilt._get_attrs(include_private=True, recursive=True, remove_bot=True)
    lost = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    return f"attribute{'s' if len(lost) > 1 else ''} {', '.join(lost)}" if lost else ""
