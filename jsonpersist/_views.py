"""The data attributes :class:`telegram.ext.DictPersistence` promises, from the entry lines.

``user_data`` and friends are the decoded values, ``user_data_json`` and friends JSON in the
shape ``DictPersistence(user_data_json=...)`` accepts (tagged values inside). Both are made
from what the persistence holds (its entry lines) and cached until those change, so reading
them twice costs nothing.
"""

from __future__ import annotations

from typing import Any

import orjson

from jsonpersist._categories import BOT_DATA, CALLBACK_DATA, CONVERSATIONS
from jsonpersist._format import WHOLE
from jsonpersist._session import Session

__all__ = ("Views",)

_EMPTY_JSON = {CALLBACK_DATA.name: "null"}


class Views:
    """Decoded values and DictPersistence-shaped JSON of each category, cached.

    Args:
        session (:class:`Session`): The categories.
    """

    __slots__ = ("_cache", "_session")

    def __init__(self, session: Session) -> None:
        self._session = session
        self._cache: dict[tuple[str, str], tuple[int, Any]] = {}

    def value(self, name: str) -> Any:
        """PTB's value of a category as held now; :obj:`None` before it is loaded."""
        state = self._session.states[name]
        if not state.loaded:
            return None
        return self._cached(name, "value", self._decode)

    def json(self, name: str) -> str:
        """The category as DictPersistence's JSON; empty before it is loaded."""
        if not self._session.states[name].loaded:
            return _EMPTY_JSON.get(name, "{}")
        return str(self._cached(name, "json", self._to_json))

    def _cached(self, name: str, kind: str, make: Any) -> Any:
        generation = self._session.states[name].generation
        cached = self._cache.get((name, kind))
        if cached is None or cached[0] != generation:
            cached = self._cache[(name, kind)] = (generation, make(name))
        return cached[1]

    def _decode(self, name: str) -> Any:
        state = self._session.states[name]
        path = self._session.store.path(state.category.file)
        return self._session.entries.decode_lines(state.category, state.lines, path, state.present)

    def _to_json(self, name: str) -> str:
        state = self._session.states[name]
        codec = self._session.entries.codec
        if state.category is CONVERSATIONS:
            data = self._conversations_json(name)
        elif state.category is CALLBACK_DATA:
            value = self.value(name)
            data = b"null"
            if value is not None:
                keyboards, queries = value
                data = orjson.dumps(
                    [
                        [[kid, time, codec.encode(buttons)] for kid, time, buttons in keyboards],
                        queries,
                    ]
                )
        elif state.category is BOT_DATA:
            context_types = self._session.entries.context_types
            data = codec.dumps(BOT_DATA.storable(self.value(name), context_types, WHOLE))
        else:  # user or chat data: {"id": value}, the values cut out of the lines
            data = b"{%b}" % b",".join(
                b'"%d":%b' % (key, state.lines[key][len(b"%d" % key) + 3 : -2])
                for key in state.order()
            )
        return data.decode("utf-8")

    def _conversations_json(self, name: str) -> bytes:
        """``{handler: {"[key, parts]": state}}``: DictPersistence's keys are JSON lists."""
        codec = self._session.entries.codec
        handlers = self.value(name) or {}
        return orjson.dumps(
            {
                handler: {
                    orjson.dumps(
                        codec.encode(list(key) if type(key) is tuple else key)
                    ).decode(): codec.encode(state)
                    for key, state in states.items()
                }
                for handler, states in handlers.items()
            }
        )
