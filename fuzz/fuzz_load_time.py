"""Fuzzes the time a load takes: the input is a recipe for a file of up to 1 MB, see README.md.

Usage: ``python fuzz/fuzz_load_time.py [libFuzzer flags] [corpus directories]``.

Small inputs cannot make a loader quadratic; large files built from a pattern can (ids or set
items that all share one hash made a 1 MB file take 18 s). So the first bytes of an input
choose a shape (user or chat ids, a ``$set``/``$frozenset``/``$dict`` of ints, Decimals, UUIDs,
tuples, frozensets or Telegram users, conversation keys, bot data keys, many small sets, a
repeated fragment), a base number (a multiple of 2**61 - 1 makes every item share a hash) and
the layout (format version 2 as jsonpersist writes it or otherwise, or version 1), and the
rest of the input is repeated into the file until it is 1 MB. The file is loaded read-only:
it must load, or raise ``CorruptStateError`` naming the file, within a second. A load that
seems slower (atheris' instrumentation slows the code down) is timed again, twice, in a fresh
uninstrumented process, and only the faster of those counts.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _harness
from _harness import CATEGORIES, CONVERSATION

from jsonpersist import CorruptStateError, JsonPersistence

#: Every file up to this size must load or be refused within TIME_LIMIT.
MAX_SIZE = 1_000_000
TIME_LIMIT = 1.0
MERSENNE_61 = 2**61 - 1
BASES = (MERSENNE_61, 2**64, 1, 10**19, 2**63 - 1, 2**127)
SHAPES = (
    "ids",
    "$set",
    "$frozenset",
    "$dict",
    "conversation-keys",
    "small-sets",
    "fragment",
    "bot-data-keys",
)
#: The layouts: version 2 as a person writes it, as jsonpersist writes it (the loader's fast
#: path), version 1 (still read).
LAYOUTS = ("v2", "canonical", "v1")
WRAPS: tuple[Callable[[int, bytes], Any], ...] = (
    lambda number, _: {"$int": str(number)},
    lambda number, _: {"$decimal": str(number)},
    lambda number, _: {"$uuid": str(uuid.UUID(int=number % 2**128))},
    lambda number, extra: {"$tuple": [{"$int": str(number)}, extra.decode("latin-1")]},
    lambda number, _: {"$frozenset": [{"$int": str(number)}]},
    lambda number, _: {
        "$tg": "User",
        "data": {"id": {"$int": str(number)}, "first_name": "a", "is_bot": False},
    },
    lambda number, _: number,  # plain JSON (orjson keeps up to 64 bits; more is a float)
)


class Recipe:
    """Reads an input's bytes as choices; past the end every choice is 0."""

    __slots__ = ("at", "data")

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def byte(self) -> int:
        value = self.data[self.at] if self.at < len(self.data) else 0
        self.at += 1
        return value

    def pick(self, options: tuple[Any, ...]) -> Any:
        return options[self.byte() % len(options)]

    def rest(self) -> bytes:
        return self.data[self.at :]


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def fill(
    head: bytes, item: Callable[[int], bytes], tail: bytes, limit: int, separator: bytes = b","
) -> bytes:
    """``head``, then ``item(0), item(1)...`` (comma separated) while they fit, ``tail``."""
    parts, size = [], len(head) + len(tail)
    for index in range(limit):
        piece = item(index)
        if size + len(piece) + len(separator) > MAX_SIZE:
            break
        parts.append(piece)
        size += len(piece) + len(separator)
    return head + separator.join(parts) + tail


def entries(category: str, layout: str, entry: Callable[[int], bytes], limit: int) -> bytes:
    """A version-2 file of the entries ``entry(0), entry(1)...`` (each a JSON array)."""
    if layout == "canonical":
        head = b'[{"jsonpersist":2,"category":"%s"}\n' % category.encode()
        return fill(head, lambda i: b",%b\n" % entry(i), b"]\n", limit, b"")
    head = b'[{"jsonpersist": 2, "category": "%s"},\n ' % category.encode()
    return fill(head, entry, b"]\n", limit, b",\n ")


def build(data: bytes) -> tuple[str, bytes]:  # noqa: PLR0911 - one return per shape
    """The category and the file an input stands for."""
    recipe = Recipe(data)
    shape, base = recipe.pick(SHAPES), recipe.pick(BASES)
    sign = -1 if recipe.byte() & 1 else 1
    start = recipe.byte() + 1
    wrap = recipe.pick(WRAPS)
    count = (recipe.byte() << 8 | recipe.byte()) or MAX_SIZE  # how many items at most
    layout = recipe.pick(LAYOUTS)
    extra = recipe.rest()[:64]

    def number(index: int) -> int:
        return sign * (start + index) * base

    if shape == "ids":
        category = recipe.pick(("user_data", "chat_data"))
        if layout == "v1":
            head = b'{"jsonpersist": 1, "category": "%s", "data": {' % category.encode()
            return category, fill(head, lambda i: b'"%d": {}' % number(i), b"}}", count)
        return category, entries(category, layout, lambda i: b"[%d,{}]" % number(i), count)

    def key(index: int) -> bytes:
        return dumps(wrap(number(index), extra))

    if shape == "conversation-keys":
        if layout == "v1":
            head = (
                b'{"jsonpersist": 1, "category": "conversations", "data": {"%s": {"$dict": ['
                % (CONVERSATION.encode())
            )
            return "conversations", fill(head, lambda i: b'[{"$tuple":[' + key(i) + b",1]},1]",
                                         b"]}}}", count)  # fmt: skip
        line = b'["' + CONVERSATION.encode() + b'",[%b,1],1]'
        return "conversations", entries("conversations", layout, lambda i: line % key(i), count)
    if shape == "bot-data-keys":
        if layout == "v1":
            head = b'{"jsonpersist": 1, "category": "bot_data", "data": {"$dict": ['
            return "bot_data", fill(head, lambda i: b"[" + key(i) + b",0]", b"]}}", count)
        return "bot_data", entries("bot_data", layout, lambda i: b"[" + key(i) + b",0]", count)
    if shape == "small-sets":
        size = max(1, count % 64)
        one = dumps({"$set": [wrap(number(i), extra) for i in range(size)]})
        return "bot_data", value(layout, b"[", lambda i: one, b"]", MAX_SIZE)
    if shape == "fragment":  # the input itself, repeated: a pattern atheris shapes freely
        piece = extra or b"0"
        return "bot_data", value(layout, b"[", lambda i: piece, b"]", count)
    if shape == "$dict":
        return "bot_data", value(layout, b'{"$dict":[', lambda i: b"[" + key(i) + b",0]", b"]}",
                                 count)  # fmt: skip
    return "bot_data", value(layout, b'{"' + shape.encode() + b'":[', key, b"]}", count)


def value(
    layout: str, opener: bytes, item: Callable[[int], bytes], closer: bytes, limit: int
) -> bytes:
    """A bot_data file whose key ``"v"`` holds ``opener``, the items, ``closer``."""
    if layout == "v1":
        head, tail = b'{"jsonpersist": 1, "category": "bot_data", "data": {"v": ', b"}}"
    elif layout == "canonical":
        head, tail = b'[{"jsonpersist":2,"category":"bot_data"}\n,["v",', b"]\n]\n"
    else:
        head, tail = b'[{"jsonpersist": 2, "category": "bot_data"},\n ["v", ', b"]]\n"
    return fill(head + opener, item, closer + tail, limit)


LOADER = textwrap.dedent(
    """
    import asyncio, sys, time
    from jsonpersist import CorruptStateError, JsonPersistence

    persistence = JsonPersistence(sys.argv[1], read_only=True)
    started = time.perf_counter()
    try:
        if sys.argv[2] == "conversations":
            asyncio.run(persistence.get_conversations(sys.argv[3]))
        else:
            asyncio.run(getattr(persistence, "get_" + sys.argv[2])())
    except CorruptStateError:
        pass
    print(time.perf_counter() - started)
    """
)


def uninstrumented_seconds(directory: Path, category: str) -> float:
    """The time the same load takes in a fresh process that atheris does not slow down."""
    done = subprocess.run(
        [sys.executable, "-c", LOADER, str(directory), category, CONVERSATION],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return float(done.stdout)


def time_target() -> Callable[[bytes], None]:
    directory = Path(tempfile.mkdtemp(prefix="fuzz-load-time-"))
    loop = asyncio.new_event_loop()

    def test_one_input(data: bytes) -> None:
        category, raw = build(data)
        assert len(raw) <= MAX_SIZE
        for name in CATEGORIES:
            (directory / f"{name}.json").unlink(missing_ok=True)
        path = directory / f"{category}.json"
        path.write_bytes(raw)
        persistence = JsonPersistence(directory, read_only=True)
        load = (
            persistence.get_conversations(CONVERSATION)
            if category == "conversations"
            else getattr(persistence, f"get_{category}")()
        )
        started = time.perf_counter()
        try:
            loop.run_until_complete(load)
        except CorruptStateError as exc:
            if exc.file != path:
                raise AssertionError(f"the error does not name the file: {exc}") from exc
        seconds = time.perf_counter() - started
        if seconds >= TIME_LIMIT:  # twice: a busy machine may slow one run down
            again = min(uninstrumented_seconds(directory, category) for _ in range(2))
            if again >= TIME_LIMIT:
                raise AssertionError(
                    f"a {len(raw):,}-byte {category}.json took {again:.2f} s to load "
                    f"(a limit of {TIME_LIMIT} s): {raw[:200]!r}..."
                )

    return _harness._known(test_one_input)


if __name__ == "__main__":
    _harness.main(time_target())
