"""Decoding: JSON-native trees (parsed from a file) back into the values they hold.

The half of :class:`~jsonpersist.Codec` that reads; it refuses, with the key path, anything a
file could use to make loading slow, ambiguous or touch the system.
"""

from __future__ import annotations

import binascii
import json
from decimal import InvalidOperation
from typing import Any, NoReturn

import orjson
from telegram import Bot, TelegramObject

from jsonpersist._hashes import check_hashes, duplicate, unhashable
from jsonpersist._plain import MAX_DEPTH
from jsonpersist._scalars import PARSERS
from jsonpersist._telegram import PROBES, PROBING_CLASSES, telegram_class
from jsonpersist._tree import Corrupt, Unsupported, fail, shown
from jsonpersist._types import TypeRegistry

__all__ = ("Decoding", "parse")

#: The fields a tag may have beside itself.
_TAG_FIELDS = {"$tg": frozenset({"bot", "data"}), "$obj": frozenset({"data"})}


class Decoding:
    """The decoding methods of :class:`~jsonpersist.Codec` (a mixin: it has its attributes)."""

    __slots__ = ()
    bot: Bot | None
    types: TypeRegistry

    def _decode(self, tree: Any, depth: int) -> Any:  # noqa: PLR0912 - one hot loop, kept flat
        if depth > MAX_DEPTH:
            fail(f"nested deeper than {MAX_DEPTH} levels")
        kind = type(tree)
        if kind is dict:
            tag = None
            for key in tree:
                if key[:1] == "$":
                    if tag is not None:
                        fail(f"an object has two tags, {tag!r} and {key!r}")
                    tag = key
            if tag is None:
                for key, item in tree.items():
                    tree[key] = self._decode_child(item, key, depth + 1)
                return tree
            if tag == "$dict":
                return self._decode_dict(tree, depth)
            try:
                return self._decode_tag(tag, tree, depth)
            except Unsupported as exc:
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
        fail(f"{kind.__name__} is not a JSON type")

    def _decode_child(self, tree: Any, key: object, depth: int) -> Any:
        kind = type(tree)
        if kind is str or kind is int or kind is bool or tree is None or kind is float:
            return tree
        try:
            return self._decode(tree, depth)
        except Unsupported as exc:
            exc.path.append(key)
            raise

    def _decode_list(self, payload: Any, depth: int) -> list[Any]:
        if type(payload) is not list:
            fail(f"expected a list, found {type(payload).__name__}")
        return self._decode(payload, depth)  # type: ignore[no-any-return]

    def _decode_tag(self, tag: str, tree: dict[str, Any], depth: int) -> Any:  # noqa: PLR0911, PLR0912
        payload = tree[tag]
        if len(tree) > 1:
            fields = tree.keys() - {tag} - _TAG_FIELDS.get(tag, frozenset())
            if fields:
                fail(f"unexpected fields {sorted(fields)} beside the tag {tag}")
        if tag == "$":
            if type(payload) is not dict:
                fail("an escaped dict must hold an object")
            for key, item in payload.items():
                payload[key] = self._decode_child(item, key, depth + 2)
            return payload
        if tag == "$tuple":
            return tuple(self._decode_list(payload, depth + 1))
        if tag in ("$set", "$frozenset"):
            items = self._decode_list(payload, depth + 1)
            check_hashes(items, "a set holds an unhashable value")
            try:
                built = set(items) if tag == "$set" else frozenset(items)
            except TypeError:
                unhashable(items, "a set holds an unhashable value")
            if len(built) != len(items):  # the encoder writes each item once
                fail(f"the item {shown(duplicate(items))} appears twice")
            return built
        if tag == "$tg":
            return self._decode_telegram(payload, tree, depth)
        if tag == "$obj":
            return self._decode_registered(payload, tree, depth)
        if tag == "$bot":
            if payload != "current":
                fail(f"unknown bot placeholder {payload!r}")
            return self.bot
        parse = PARSERS.get(tag)
        if parse is None:
            fail(f"unknown tag {tag!r} (written by a newer jsonpersist, or a typo?)")
        if type(payload) is not str:
            fail(f"{tag} expects a string")
        try:
            return parse(payload)
        except (ValueError, TypeError, ArithmeticError, InvalidOperation, binascii.Error) as exc:
            fail(f"invalid {tag} value {payload[:80]!r}: {exc}")

    def _decode_dict(self, tree: dict[str, Any], depth: int) -> dict[Any, Any]:
        """A ``$dict``: its pairs (the keys a JSON object cannot hold), its other members.

        A problem in the pairs is named under ``$dict``; one in a member by the member's key,
        as in any object.
        """
        try:
            out = self._decode_pairs(tree["$dict"], depth + 1)
            for key in tree:
                if key != "$dict" and key in out:
                    fail(f"the key {key!r} appears twice")
        except Unsupported as exc:
            exc.path.append("$dict")
            raise
        for key, item in tree.items():
            if key != "$dict":
                out[key] = self._decode_child(item, key, depth + 1)
        return out

    def _decode_pairs(self, payload: Any, depth: int) -> dict[Any, Any]:
        pairs = self._decode_list(payload, depth)
        for index, pair in enumerate(pairs):
            if type(pair) is not list or len(pair) != 2:  # noqa: PLR2004
                exc = Corrupt("a $dict entry must be a [key, value] pair")
                exc.path.append(index)
                raise exc
        keys = [key for key, _ in pairs]
        check_hashes(keys, "an unhashable key of type {}")
        try:
            out = dict(pairs)
        except TypeError:
            unhashable(keys, "an unhashable key of type {}")
        if len(out) != len(pairs):  # the encoder writes each key once
            fail(f"the key {shown(duplicate(keys))} appears twice")
        return out

    def _decode_telegram(self, name: Any, tree: dict[str, Any], depth: int) -> TelegramObject:
        if type(name) is not str:
            fail("$tg expects the name of a Telegram type")
        cls = telegram_class(name)
        if cls is None:
            fail(f"unknown Telegram type {name!r}")
        if issubclass(cls, PROBING_CLASSES):
            fail(f"a {name} cannot be loaded: {PROBES}")
        bot_field = tree.get("bot")
        if bot_field not in (None, "current"):
            fail(f"unknown bot placeholder {bot_field!r}")
        data = self._decode(tree.get("data"), depth + 1)
        if type(data) is not dict:
            fail(f"the data of a {name} must be an object")
        bot = self.bot if bot_field == "current" else None
        try:
            obj = cls.de_json(data, bot)
        except Exception as exc:  # de_json raises whatever the data provokes
            fail(f"cannot rebuild a {name}: {exc!r}")
        if obj is None:
            fail(f"cannot rebuild a {name} from this data")
        return obj

    def _decode_registered(self, name: Any, tree: dict[str, Any], depth: int) -> Any:
        if type(name) is not str:
            fail("$obj expects the registered name of a type")
        from_json = self.types.decoder(name)
        if from_json is None:
            fail(f"{name!r} is not a registered type (register it before loading)")
        data = self._decode(tree.get("data"), depth + 1)
        try:
            return from_json(data)
        except Exception as exc:  # the registered decoder may raise anything
            fail(f"the decoder registered for {name} failed: {exc!r}")


def parse(data: bytes | str) -> Any:
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
