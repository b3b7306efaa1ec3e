"""Lossless conversion between Python values and JSON-native trees.

Plain JSON (``str``-keyed dicts, lists, ``str``, ``int``, finite ``float``, ``bool``, ``None``)
passes through unchanged. Every other supported type becomes a *tagged object*: a JSON object
with exactly one key starting with ``$``, which names the tag; the tag's other keys are its fields.
A user's own dict that has a key starting with ``$`` is escaped as ``{"$": {...}}``.
See ``docs/format.md`` for the full specification. This module knows nothing about files.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Iterable
from typing import Any

import orjson
from telegram import Bot, TelegramObject
from telegram.warnings import PTBUserWarning

from jsonpersist._decoding import Decoding, parse
from jsonpersist._errors import CorruptStateError, UnsupportedTypeError
from jsonpersist._hashes import CROWDED, MAX_SAME_HASH, crowded
from jsonpersist._plain import INT_MAX, INT_MIN, MAX_DEPTH, is_plain
from jsonpersist._scalars import ENCODERS
from jsonpersist._telegram import PROBES, PROBING_CLASSES, lost_attributes, telegram_name
from jsonpersist._tree import Unsupported, format_path
from jsonpersist._types import TypeRegistry

__all__ = ("MAX_DEPTH", "MAX_SAME_HASH", "PROBING_CLASSES", "Codec", "TypeRegistry", "is_plain")

_SORT = orjson.OPT_SORT_KEYS
# 19 digits: the shortest ints orjson cannot read exactly (below -2**63) have them.
_LONG_NUMBER = re.compile(r"[0-9]{19}")


def _level(depth: int) -> None:
    """Refuses a JSON array or object at ``depth`` (the outermost at 0) beyond MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise Unsupported(f"nested deeper than {MAX_DEPTH} levels of JSON; flatten it")


def _sort_key(tree: object) -> bytes:
    return orjson.dumps(tree, option=_SORT)


class Codec(Decoding):
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
        except Unsupported as exc:
            error = UnsupportedTypeError(exc.message, format_path(where, exc.path))
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
        except Unsupported as found:
            return UnsupportedTypeError(found.message, format_path(where, found.path))
        return UnsupportedTypeError(f"cannot store this value: {exc}", where)

    def _encode(self, value: Any, depth: int) -> Any:  # noqa: PLR0911
        kind = type(value)
        if (
            kind is str
            or kind is bool
            or value is None
            or (kind is int and INT_MIN <= value <= INT_MAX)
            or (kind is float and value - value == 0.0)
        ):
            return value  # a JSON scalar: no level of its own, as on the plain path
        _level(depth)  # anything else is a JSON array or object at this depth
        if kind is int:
            return _encode_big_int(value)
        if kind is float:
            return _encode_special_float(value)
        if kind is dict:
            return self._encode_dict(value, depth)
        if kind is list:
            return self._encode_items(value, depth + 1)
        if kind is tuple:
            _level(depth + 1)  # the tag's array
            return {"$tuple": self._encode_items(value, depth + 2)}
        if kind is set or kind is frozenset:
            _level(depth + 1)
            if len(value) > MAX_SAME_HASH and crowded(value):
                raise Unsupported(CROWDED)
            items = self._encode_items(value, depth + 2)
            items.sort(key=_sort_key)
            return {"$set" if kind is set else "$frozenset": items}
        scalar = ENCODERS.get(kind)
        if scalar is not None:
            try:
                return scalar(value)
            except ValueError as exc:
                raise Unsupported(str(exc)) from None
        return self._encode_object(value, kind, depth)

    def _encode_object(self, value: Any, kind: type, depth: int) -> Any:
        """A registered type, a bot or a Telegram object."""
        registered = self.types.encoder(kind)
        if registered is not None:
            name, to_json = registered
            try:
                payload = to_json(value)
            except Unsupported:
                raise
            except Exception as exc:
                raise Unsupported(f"the encoder registered for {name} failed: {exc!r}") from exc
            out = {"$obj": name, "data": self._encode(payload, depth + 1)}
            self._check_it_loads(out, name)
            return out
        if isinstance(value, Bot):
            return self._encode_bot(value)
        if isinstance(value, TelegramObject):
            return self._encode_telegram(value, depth)
        raise Unsupported(f"cannot store a {kind.__qualname__} (register it, see docs/types.md)")

    def _encode_items(self, items: Iterable[object], depth: int) -> list[Any]:
        out = []
        for index, item in enumerate(items):
            try:
                out.append(self._encode(item, depth))
            except Unsupported as exc:
                exc.path.append(index)
                raise
        return out

    def _encode_dict(self, value: dict[Any, Any], depth: int) -> Any:
        if all(type(key) is str for key in value):
            escape = any(key[:1] == "$" for key in value)
            inner = depth + (2 if escape else 1)  # the escape {"$": ...} is a level of its own
            if escape:
                _level(depth + 1)
            out = {}
            for key, item in value.items():
                try:
                    out[key] = self._encode(item, inner)
                except Unsupported as exc:
                    exc.path.append(key)
                    raise
            return {"$": out} if escape else out
        if len(value) > MAX_SAME_HASH and crowded(value):
            raise Unsupported(CROWDED)
        # The keys a JSON object can hold stay members, readable as they are; the others
        # (and str keys starting with "$") are [key, value] pairs under "$dict".
        out, pairs = {}, []
        for key, item in value.items():
            try:
                if type(key) is str and key[:1] != "$":
                    out[key] = self._encode(item, depth + 1)
                else:
                    _level(depth + 2)  # the "$dict" array, then the pair's array
                    pairs.append([self._encode(key, depth + 3), self._encode(item, depth + 3)])
            except Unsupported as exc:
                exc.path.append(key)
                raise
        pairs.sort(key=_sort_key)  # by key; the value only breaks ties (two NaN keys)
        out["$dict"] = pairs
        return out

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
            raise Unsupported(f"cannot store a {cls.__qualname__}: {PROBES}")
        name = telegram_name(cls)
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
            raise Unsupported(f"cannot store this {name}: {exc}") from exc
        out["data"] = self._encode(data, depth + 1)
        if "." in name:  # the application's own subclass: PTB's classes all rebuild
            rebuilt = self._check_it_loads(out, name)
            lost = lost_attributes(obj, rebuilt)
            if lost:
                raise Unsupported(
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
        except Unsupported as exc:
            raise Unsupported(
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
        except Unsupported as exc:
            error = CorruptStateError(exc.message, where=format_path(where, exc.path))
            raise error from exc.__cause__ or exc.__context__

    def loads(self, data: bytes | str, where: str = "value") -> Any:
        """Parses JSON text and decodes it, see :meth:`decode`.

        Raises:
            CorruptStateError: The text is not JSON or does not decode.
        """
        try:
            tree = parse(data)
        except (ValueError, RecursionError) as exc:
            raise CorruptStateError(str(exc) or "nested too deeply", where=where) from None
        return self.decode(tree, where)


class _StringCheck(Codec):
    """Encodes as its codec does, refusing a string UTF-8 cannot hold, with its key path.

    It runs only after orjson refused a tree (a lone surrogate), so that the common path pays
    nothing for the check.
    """

    __slots__ = ()

    def _encode(self, value: Any, depth: int) -> Any:
        if type(value) is str and not _utf8(value):
            raise Unsupported(_UNWRITABLE)
        return super()._encode(value, depth)

    def _encode_dict(self, value: dict[Any, Any], depth: int) -> Any:
        for key in value:
            if type(key) is str and not _utf8(key):
                exc = Unsupported(_UNWRITABLE)
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


def _encode_big_int(value: int) -> dict[str, str]:
    try:
        return {"$int": str(value)}
    except ValueError:  # beyond sys.get_int_max_str_digits(): hex has no limit
        return {"$int": hex(value)}


def _encode_special_float(value: float) -> dict[str, str]:
    if not math.isnan(value):
        return {"$float": "inf" if value > 0 else "-inf"}
    return {"$float": "-nan" if math.copysign(1.0, value) < 0 else "nan"}
