"""Hypothesis: any storable value goes through the database and comes back the same.

Values are user data, bot data (any hashable key: one row per key) and conversation states,
with every type the codec stores and registered ones (``tests/strategies.py``).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg_server import PgServer
from strategies import hashables, user_types, user_values

from jsonpersist import Codec, PostgresPersistence

TYPES = user_types()
_names = itertools.count()
# Every example is a bot of its own, with a connection of its own: fewer than the default.
DATABASE_EXAMPLES = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


async def _round_trip(url: str, state: dict[str, Any]) -> dict[str, Any]:
    name = f"hypothesis-{next(_names)}"
    writer: PostgresPersistence[Any, Any, Any] = PostgresPersistence(url, name=name, types=TYPES)
    try:
        await writer.get_conversations("h")
        await writer.get_user_data()
        await asyncio.gather(
            *(writer.update_user_data(key, value) for key, value in state["user_data"].items()),
            writer.update_bot_data(state["bot_data"]),
            *(writer.update_conversation("h", key, value) for key, value in state["h"].items()),
        )
    finally:
        await writer.flush()
    reader: PostgresPersistence[Any, Any, Any] = PostgresPersistence(url, name=name, types=TYPES)
    try:
        return {
            "user_data": await reader.get_user_data(),
            "bot_data": await reader.get_bot_data(),
            "h": await reader.get_conversations("h"),
        }
    finally:
        await reader.flush()


def test_values_round_trip_through_the_database(pg_server: PgServer) -> None:
    url = pg_server.new_database()

    @DATABASE_EXAMPLES
    @given(
        user_data=st.dictionaries(
            st.integers(-(2**63), 2**63 - 1),
            st.dictionaries(st.text(max_size=5), user_values(), max_size=4),
            max_size=3,
        ),
        bot_data=st.dictionaries(hashables(), user_values(), max_size=5),
        conversations=st.dictionaries(
            st.tuples(st.integers(-(2**63), 2**63 - 1), st.text(max_size=3)),
            user_values().filter(lambda value: value is not None),
            max_size=3,
        ),
    )
    def check(user_data: Any, bot_data: Any, conversations: Any) -> None:
        state = {"user_data": user_data, "bot_data": bot_data, "h": conversations}
        loaded = asyncio.run(_round_trip(url, state))
        # The codec's bytes are canonical (keys and set items sorted) and lossless (see
        # test_codec): equal bytes mean the same values of the same types, NaN included.
        codec = Codec(types=TYPES)
        for name, value in state.items():
            assert type(loaded[name]) is dict
            assert codec.dumps(loaded[name]) == codec.dumps(value), name

    check()
