"""Writes the seed corpora: small real state files, saved by the real persistence.

Usage: ``python fuzz/make_corpus.py`` (rewrites ``fuzz/corpus/``; the output is deterministic,
so a rerun shows no diff unless the file format changed).

Each category gets the files a bot writes in format version 2 (empty, plain, every kind of tag,
Telegram objects with the bot placeholder, registered types), the same files re-indented by
hand, which take the strict parser's path, and a few files of format version 1 (the fixtures
jsonpersist 1 wrote, still read). The codec gets the encodings of assorted values.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from _harness import CATEGORIES, CONVERSATION, Color, Point, types
from fuzz_load_time import SHAPES
from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, Message, User
from telegram.ext import ExtBot

from jsonpersist import Codec, JsonPersistence

CORPUS = Path(__file__).parent / "corpus"
#: Files of format version 1 written by jsonpersist 7f4ce51 (see make_v1.py there).
V1_FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "v1"
BOT = ExtBot("123456:fuzz-corpus-token")


def telegram_values() -> dict[str, Any]:
    user = User(7, "Ann", is_bot=False, username="ann")
    message = Message(
        42,
        datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
        Chat(-100123, "supergroup", title="Group"),
        from_user=user,
        text="hello",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="ok")]]),
    )
    message.set_bot(BOT)
    return {"user": user, "message": message, "bot": BOT}


def tagged() -> dict[Any, Any]:
    """One of every tag the codec writes."""
    return {
        "tuple": (1, "two", None),
        "set": {3, 1, 2},
        "frozenset": frozenset({"a", "b"}),
        "bytes": b"\x00\xff",
        "datetime": datetime(2024, 3, 31, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        "naive": datetime(2024, 1, 1, 0, 0, 0, 5),
        "date": date(2024, 2, 29),
        "time": time(23, 59, tzinfo=timezone(timedelta(hours=-3))),
        "timedelta": timedelta(days=-1, microseconds=7),
        "decimal": Decimal("-1.50E+3"),
        "uuid": uuid.UUID(int=0xFEED),
        "big": 2**100,
        "negative big": -(2**70),
        "nan": float("nan"),
        "inf": float("-inf"),
        1: "int key",
        (2, "x"): "tuple key",
        None: "None key",
        "point": Point(1, 2),
        "color": Color.BLUE,
    }


def variants() -> dict[str, dict[str, Any]]:
    """Per category: variant name -> the value(s) to save."""
    tg = telegram_values()
    return {
        "user_data": {
            "empty": {},
            "plain": {1: {"name": "Ann", "score": 3.5, "tags": ["a", "b"]}, 2: {}},
            "tagged": {7: tagged(), -5: {"$escaped": {"$": 1}}},
            "telegram": {7: {"last": tg["message"], "me": tg["user"], "bot": tg["bot"]}},
        },
        "chat_data": {
            "empty": {},
            "plain": {-100123: {"title": "Group", "members": [1, 2, 3]}},
            "tagged": {-100123: tagged(), 8: {"nested": {"a": [(1, {2}), {3: (4,)}]}}},
        },
        "bot_data": {
            "empty": {},
            "plain": {"counter": 3, "names": ["x", "y"], "ratio": 0.25},
            "tagged": tagged(),
            "whole": {"$price": Decimal("9.90"), "$": "dollar"},
            "telegram": {"message": tg["message"]},
        },
        "callback_data": {
            "one": (
                [("kb-1", 1700000000.5, {"b1": ("pay", 10), "b2": {1: "one"}})],
                {"q": "kb-1"},
            ),
            "tagged": ([("kb-2", 1.0, {"t": tagged()}), ("kb-3", 2.0, {})], {}),
        },
        "conversations": {
            "one": {(7, 7): "ASK_NAME"},
            "many": {(7,): 1, (8, -100123): 2, (9, -100123, 5): ("state", 3)},
        },
    }


async def save(category: str, value: Any) -> bytes:
    directory = Path(tempfile.mkdtemp(prefix="fuzz-corpus-"))
    try:
        persistence = JsonPersistence(directory, types=types())
        persistence.set_bot(BOT)
        if category == "conversations":
            await persistence.get_conversations(CONVERSATION)
            await asyncio.gather(
                *(persistence.update_conversation(CONVERSATION, k, v) for k, v in value.items())
            )
        elif category in ("user_data", "chat_data"):
            await getattr(persistence, f"get_{category}")()
            kind = category.split("_", maxsplit=1)[0]
            update = getattr(persistence, f"update_{kind}_data")
            await asyncio.gather(*(update(key, entry) for key, entry in value.items()))
            if not value:  # an empty category is still a file: drop an entry again
                await update(1, {})
                await getattr(persistence, f"drop_{kind}_data")(1)
        else:
            await getattr(persistence, f"get_{category}")()
            if not value:  # unchanged data writes nothing: save something first
                await getattr(persistence, f"update_{category}")({"x": 1})
            await getattr(persistence, f"update_{category}")(value)
        await persistence.flush()
        return (directory / f"{category}.json").read_bytes()
    finally:
        shutil.rmtree(directory)


def reindented(raw: bytes) -> bytes:
    """The same state as a person's editor might save it: not byte-for-byte canonical."""
    return (json.dumps(json.loads(raw), indent=4, ensure_ascii=False) + "\n").encode()


def codec_seeds() -> dict[str, bytes]:
    codec = Codec(types=types())
    values: dict[str, Any] = {
        "plain": {"a": [1, 2.5, None, True, "x"]},
        "tagged": tagged(),
        "nested": [[[({1: frozenset({(2, 3)})},)]]],
        "escape": {"$": {"$$": 1}},
        "registered": [Point(3, 4), Color.RED],
        "telegram": {"user": telegram_values()["user"]},
        "scalar-int": 2**64,
        "scalar-string": "\u00e9\U0001f600",
    }
    return {name: codec.dumps(value) for name, value in values.items()}


def time_seeds() -> dict[str, bytes]:
    """Recipes for fuzz_load_time.py: each shape, ints that share one hash, 1 MB of them.

    The bytes: shape, base (0: 2**61 - 1), sign, start, wrap, count (2 bytes, 0: as many as
    fit), layout, then a fragment.
    """
    seeds = {}
    for shape_index, shape in enumerate(SHAPES):
        for wrap_index in (0, 1, 3, 5) if shape not in ("ids", "fragment") else (0,):
            recipe = bytes([shape_index, 0, 0, 8, wrap_index, 0, 0, 1])
            fragment = b'{"$int": "11529215046068469755"}' if shape == "fragment" else b"x"
            seeds[f"{shape.strip('$')}-{wrap_index}"] = recipe + fragment
        if shape in ("ids", "$set", "conversation-keys", "bot-data-keys"):
            for layout, name in ((0, "hand-laid"), (2, "v1")):
                recipe = bytes([shape_index, 0, 0, 8, 0, 0, 0, layout])
                seeds[f"{shape.strip('$')}-0-{name}"] = recipe + b"x"
    return seeds


def main() -> None:
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    for category, cases in variants().items():
        target = CORPUS / f"load_{category}"
        target.mkdir(parents=True)
        for name, value in cases.items():
            raw = asyncio.run(save(category, value))
            (target / f"{name}.json").write_bytes(raw)
            (target / f"{name}-reindented.json").write_bytes(reindented(raw))
    for path in sorted(V1_FIXTURES.glob("*/*.json")):
        target = CORPUS / f"load_{path.stem}"
        (target / f"v1-{path.parent.name}.json").write_bytes(path.read_bytes())
    target = CORPUS / "codec"
    target.mkdir(parents=True)
    for name, raw in codec_seeds().items():
        (target / f"{name}.json").write_bytes(raw)
    write_time_seeds()
    count = sum(1 for path in CORPUS.rglob("*") if path.is_file())
    print(f"wrote {count} files under {CORPUS}")


def write_time_seeds() -> None:
    target = CORPUS / "load_time"
    target.mkdir(parents=True, exist_ok=True)
    for name, raw in time_seeds().items():
        (target / f"{name}.bin").write_bytes(raw)


if __name__ == "__main__":
    assert set(variants()) == set(CATEGORIES)
    if sys.argv[1:] == ["--time-seeds"]:  # only the seeds of fuzz_load_time.py
        write_time_seeds()
    else:
        main()
