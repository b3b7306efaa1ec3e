"""Representative state files and their seeded damage, for the damaged-file suites.

The files of format version 2 are written by the real persistence; those of version 1 are the
fixtures jsonpersist 1 wrote (``tests/fixtures/v1/typical``), still read.

Shared by ``tests/test_damaged.py`` (loads) and ``tests/test_cli_hostile.py`` (every command),
so that neither test module imports the other.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Coroutine
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Chat, Message, User

from jsonpersist import JsonPersistence

CATEGORIES = ("user_data", "chat_data", "bot_data", "callback_data", "conversations")
CONVERSATION = "conv"
MUTATIONS = 10_000
#: Files of format version 1, written by jsonpersist 7f4ce51 (see make_v1.py there).
V1_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "v1" / "typical"
INTERESTING = b'{}[]":,\\$-+.0123456789eEtfn \n\x00\x7f\x80\xbf\xc3\xed\xf0\xff'


def representative_values() -> dict[str, Any]:
    """A state that uses every kind of tag the codec writes."""
    user = User(7, "Ann", is_bot=False)
    message = Message(
        42, datetime(2024, 5, 1, 12, tzinfo=timezone.utc), Chat(7, "private"), from_user=user
    )
    return {
        "user_data": {
            7: {
                "name": "Ann",
                "cart": [("apple", 2), ("pear", 1)],
                "seen": {1, 2, 3},
                5: None,
                "last": message,
                "when": datetime(2024, 3, 31, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")),
            },
            123456789: {"$price": Decimal("9.90"), "big": 2**80, "ratio": -0.5},
        },
        "chat_data": {
            -100123: {
                "members": frozenset({7, 8}),
                "limits": {1: 2.5, (2, "x"): [None, True]},
                "blob": b"\x00\xffbinary",
            },
            8: {"id": uuid.UUID(int=5), "day": date(2024, 2, 29), "tz": "\u00e9\u4e2d"},
        },
        "bot_data": {
            "counter": 3,
            "every": timedelta(hours=1, microseconds=5),
            "inf": float("inf"),
            "nested": {"a": [1, [2, [3, {"b": (4,)}]]]},
        },
        "callback_data": (
            [("kb-1", 1700000000.5, {"b1": ("pay", 10), "b2": {1: "one"}})],
            {"query-1": "kb-1"},
        ),
        "conversations": {
            (7, 7): "ASK_NAME",
            (8, -100123): 2,
            (7, "AgAAAB1cAgAI"): ("STEP", {"n": 1}),  # an inline message's id is a str
        },
    }


def getter(persistence: JsonPersistence, name: str) -> Callable[[], Coroutine[Any, Any, Any]]:
    if name == "conversations":
        return lambda: persistence.get_conversations(CONVERSATION)
    return getattr(persistence, f"get_{name}")  # type: ignore[no-any-return]


async def write_state(directory: Path) -> dict[str, bytes]:
    """Saves the representative state with the real persistence; returns the files' bytes."""
    values = representative_values()
    persistence = JsonPersistence(directory)
    for name in CATEGORIES:
        await getter(persistence, name)()
    await asyncio.gather(
        *(persistence.update_user_data(k, v) for k, v in values["user_data"].items()),
        *(persistence.update_chat_data(k, v) for k, v in values["chat_data"].items()),
        persistence.update_bot_data(values["bot_data"]),
        persistence.update_callback_data(values["callback_data"]),
        *(
            persistence.update_conversation(CONVERSATION, k, v)
            for k, v in values["conversations"].items()
        ),
    )
    await persistence.flush()
    return {name: (directory / f"{name}.json").read_bytes() for name in CATEGORIES}


def v1_originals() -> dict[str, bytes]:
    """The version-1 fixture of each category, by name."""
    return {name: (V1_FIXTURES / f"{name}.json").read_bytes() for name in CATEGORIES}


def mutate(raw: bytes, rng: random.Random) -> bytes:
    """One to three random edits: flip, set, insert, delete, duplicate or swap bytes."""
    data = bytearray(raw)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        at = rng.randrange(len(data)) if data else 0
        kind = rng.randrange(7)
        if kind == 0 and data:
            data[at] ^= 1 << rng.randrange(8)
        elif kind == 1 and data:
            data[at] = rng.randrange(256)
        elif kind == 2:
            data.insert(at, rng.choice(INTERESTING))
        elif kind == 3 and data:
            del data[at : at + rng.randint(1, 4)]
        elif kind == 4 and data:
            data[at] = rng.choice(INTERESTING)
        elif kind == 5:
            chunk = data[at : at + rng.randint(1, 40)]
            data[at:at] = chunk
        elif data:
            other = rng.randrange(len(data))
            data[at], data[other] = data[other], data[at]
    return bytes(data)


def mutations(originals: dict[str, bytes]) -> list[tuple[str, bytes]]:
    """The same seeded mutations for every test: (category, damaged bytes)."""
    rng = random.Random(20240501)
    return [
        (
            CATEGORIES[index % len(CATEGORIES)],
            mutate(originals[CATEGORIES[index % len(CATEGORIES)]], rng),
        )
        for index in range(MUTATIONS)
    ]
