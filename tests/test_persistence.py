"""JsonPersistence on its own: layout, coalescing, errors, corrupt files, modes, symlinks.

Everything runs against the real file system in ``tmp_path``; ``os.replace`` and
``Store.write`` are only wrapped to count calls (the real function still runs) or to inject a
fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import errno
import itertools
import json
import os
import shutil
import stat
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from checks import assert_same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from state_files import document
from strategies import (
    INT_MAX,
    INT_MIN,
    bot_data_keys,
    conversation_keys,
    handler_names,
    values,
)

from jsonpersist import (
    Codec,
    CorruptStateError,
    JsonPersistence,
    StateLockedError,
    StateWriteError,
    UnsupportedTypeError,
)
from jsonpersist._entries import EntryCodec
from jsonpersist._store import Store

CATEGORIES = ("user_data", "chat_data", "bot_data", "callback_data", "conversations")


# --------------------------------------------------------------------------------- helpers


def rich_value(i: int) -> dict[str, Any]:
    """A user's data with every kind of value plain JSON loses."""
    return {
        "tuple": (i, "a", (1, 2)),
        "list": [1, [2, (3,)]],
        "set": {1, 2, i},
        "frozenset": frozenset({"x", "y"}),
        "int_keys": {1: "one", 2: {3: "three"}},
        "mixed_keys": {1: "int one", "1": "str one"},
        "tuple_keys": {(1, 2): "pair"},
        "zoned": datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Berlin")),
        "utc": datetime(2024, 1, 1, 12, tzinfo=timezone.utc),
        "naive": datetime(2024, 1, 1, 12, 0, 0, 123456),
        "day": date(2024, 2, 29),
        "delta": timedelta(days=-1, microseconds=5),
        "big": 2**100 + i,
        "negative_big": -(2**70),
        "float": 1.5,
        "inf": float("-inf"),
        "bytes": b"\x00\xff",
        "decimal": Decimal("1.10"),
        "uuid": uuid.UUID(int=i),
        "$dollar": "a key that looks like a tag",
        "none": None,
        "bool": True,
        "text": 'ünïcødé \u2028 "quoted"',
    }


def state_text(category: str, data: Any, version: Any = 1) -> bytes:
    """A hand-written (not canonical) state file."""
    tree = {"jsonpersist": version, "category": category, "data": data}
    return json.dumps(tree, indent=2).encode()


@contextlib.contextmanager
def count_replaces() -> Iterator[list[str]]:
    """Records the target name of every ``os.replace``; the real one still runs."""
    targets: list[str] = []
    real = os.replace

    def spy(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        targets.append(os.path.basename(dst))
        real(src, dst, *args, **kwargs)

    with mock.patch("os.replace", spy):
        yield targets


def snapshot(directory: Path) -> dict[str, bytes]:
    """The state files of a directory (not the locks), by name."""
    return {path.name: path.read_bytes() for path in sorted(directory.glob("*.json"))}


def temp_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(".tmp"))


async def read_back(directory: Path, name: str = "user_data") -> Any:
    """What a fresh, read-only persistence loads from the directory for one category."""
    reader = JsonPersistence(directory, read_only=True)
    getter = {
        "user_data": reader.get_user_data,
        "chat_data": reader.get_chat_data,
        "bot_data": reader.get_bot_data,
        "callback_data": reader.get_callback_data,
    }.get(name)
    if getter is None:
        return await reader.get_conversations("handler")
    return await getter()


async def loaded(directory: Path, **kwargs: Any) -> JsonPersistence[Any, Any, Any]:
    """A persistence that has loaded every category, as Application.initialize does."""
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory, **kwargs)
    await persistence.get_user_data()
    await persistence.get_chat_data()
    await persistence.get_bot_data()
    await persistence.get_callback_data()
    await persistence.get_conversations("handler")
    return persistence


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture(params=[False, True], ids=["on_flush=False", "on_flush=True"])
def on_flush(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


# ------------------------------------------------------------------ behavioural suite


async def test_every_category_round_trips_with_its_types(directory: Path, on_flush: bool) -> None:
    persistence = await loaded(directory, on_flush=on_flush)
    callback = (
        [("kb-1", 1700000000.5, {"btn-1": (1, {2: "two"}), "btn-2": {3: {4}}})],
        {"query-1": "kb-1"},
    )
    await asyncio.gather(
        persistence.update_user_data(1, rich_value(1)),
        persistence.update_user_data(-5, {"n": 1}),
        persistence.update_chat_data(-100123, rich_value(2)),
        persistence.update_bot_data({"global": rich_value(3), 7: "int key at the top"}),
        persistence.update_callback_data(callback),
        persistence.update_conversation("handler", (1, 2), 3),
        persistence.update_conversation("handler", (1, "x"), "state"),
        persistence.update_conversation("other", (5,), (1, 2)),
    )
    await persistence.flush()

    again = await loaded(directory, on_flush=on_flush)
    assert_same(await again.get_user_data(), {1: rich_value(1), -5: {"n": 1}})
    assert_same(await again.get_chat_data(), {-100123: rich_value(2)})
    assert_same(await again.get_bot_data(), {"global": rich_value(3), 7: "int key at the top"})
    assert_same(await again.get_callback_data(), callback)
    assert_same(await again.get_conversations("handler"), {(1, 2): 3, (1, "x"): "state"})
    assert_same(await again.get_conversations("other"), {(5,): (1, 2)})
    assert_same(await again.get_conversations("never used"), {})
    await again.flush()


async def test_drop_user_and_chat_data(directory: Path, on_flush: bool) -> None:
    persistence = await loaded(directory, on_flush=on_flush)
    await asyncio.gather(
        *(persistence.update_user_data(i, {"i": i}) for i in (1, 2, 3)),
        *(persistence.update_chat_data(-i, {"i": i}) for i in (1, 2)),
    )
    await asyncio.gather(persistence.drop_user_data(2), persistence.drop_chat_data(-1))
    await persistence.drop_user_data(404)  # never stored: nothing to do, no error
    await persistence.flush()

    again = await loaded(directory)
    assert await again.get_user_data() == {1: {"i": 1}, 3: {"i": 3}}
    assert await again.get_chat_data() == {-2: {"i": 2}}
    assert '"2"' not in again.user_data_json
    await again.flush()


async def test_unsupported_value_fails_only_its_own_caller(
    directory: Path, on_flush: bool
) -> None:
    persistence = await loaded(directory, on_flush=on_flush)
    await asyncio.gather(*(persistence.update_user_data(i, {"v": "old"}) for i in (1, 2, 3)))

    results = await asyncio.gather(
        persistence.update_user_data(1, {"v": "new"}),
        persistence.update_user_data(2, {"v": "new", "cart": [1, {"bad": object()}]}),
        persistence.update_user_data(3, {"v": "new"}),
        persistence.update_chat_data(-1, {"v": "new"}),
        return_exceptions=True,
    )
    assert results[0] is None
    assert results[2] is None
    assert results[3] is None
    error = results[1]
    assert isinstance(error, UnsupportedTypeError)
    assert isinstance(error, TypeError)
    assert error.where == "user_data[2]['cart'][1]['bad']"
    assert "user_data[2]['cart'][1]['bad']" in str(error)
    assert "object" in str(error)
    await persistence.flush()

    stored = await read_back(directory)
    assert stored == {1: {"v": "new"}, 2: {"v": "old"}, 3: {"v": "new"}}
    assert await read_back(directory, "chat_data") == {-1: {"v": "new"}}


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"tags": {"caf\udce9"}}, "user_data[2]['tags'][0]"),
        ({7: "caf\udce9"}, "user_data[2][7]"),
        ({"caf\udce9": 1}, "user_data[2]['caf\\udce9']"),
    ],
    ids=["in a set", "int-keyed dict", "as a key"],
)
async def test_a_lone_surrogate_fails_only_its_own_caller(
    directory: Path, bad: dict[Any, Any], where: str
) -> None:
    # PTB reads updates with Python's json, which turns a "\udce9" escape into a lone surrogate
    persistence = await loaded(directory)
    results = await asyncio.gather(
        persistence.update_user_data(1, {"v": "new"}),
        persistence.update_user_data(2, bad),
        return_exceptions=True,
    )
    assert results[0] is None
    assert isinstance(results[1], UnsupportedTypeError)
    assert results[1].where == where
    await persistence.flush()
    assert await read_back(directory) == {1: {"v": "new"}}


@pytest.mark.parametrize(
    ("category", "bad", "where"),
    [
        ("bot_data", {"a": "\udce9"}, "bot_data['a']"),
        ("callback_data", ([("kb", 1.0, {"b": "\udce9"})], {}), "callback_data"),
    ],
    ids=["bot_data", "callback_data"],
)
async def test_a_lone_surrogate_in_a_value_category_is_an_unsupported_type_error(
    directory: Path, category: str, bad: Any, where: str
) -> None:
    # Plain strings skip the codec's checks; the error must still be typed, name the place,
    # and fail only its own caller.
    persistence = await loaded(directory)
    results = await asyncio.gather(
        persistence.update_user_data(1, {"v": "new"}),
        getattr(persistence, f"update_{category}")(bad),
        return_exceptions=True,
    )
    assert results[0] is None
    assert isinstance(results[1], UnsupportedTypeError)
    assert results[1].where.startswith(where)
    await persistence.flush()
    assert await read_back(directory) == {1: {"v": "new"}}


async def test_a_key_that_looks_like_the_whole_marker_is_an_ordinary_key(directory: Path) -> None:
    # The marker of a value laid out whole was once the string "\x00whole": a bot_data key
    # or handler name spelled so replaced the whole file's data with one line.
    persistence = await loaded(directory)
    await persistence.update_bot_data({"\x00whole": 1, "a": 2})
    await persistence.update_conversation("\x00whole", (1, 2), 3)
    await persistence.flush()
    again = await loaded(directory)
    assert await again.get_bot_data() == {"\x00whole": 1, "a": 2}
    assert await again.get_conversations("\x00whole") == {(1, 2): 3}
    await again.flush()


async def test_unsupported_bot_data_keeps_the_last_good_version(
    directory: Path, on_flush: bool
) -> None:
    persistence = await loaded(directory, on_flush=on_flush)
    await persistence.update_bot_data({"v": "old"})
    with pytest.raises(UnsupportedTypeError, match=r"bot_data\['when'\]"):
        await persistence.update_bot_data({"v": "new", "when": lambda: None})
    await persistence.flush()
    assert await read_back(directory, "bot_data") == {"v": "old"}


# ------------------------------------------------------------------------ writing to disk


@pytest.mark.parametrize("category", CATEGORIES)
async def test_update_is_on_disk_when_the_coroutine_returns(
    directory: Path, category: str
) -> None:
    persistence = await loaded(directory)
    value: Any
    if category == "user_data":
        await persistence.update_user_data(7, {"t": (1, 2)})
        value = {7: {"t": (1, 2)}}
    elif category == "chat_data":
        await persistence.update_chat_data(-7, {"t": {1, 2}})
        value = {-7: {"t": {1, 2}}}
    elif category == "bot_data":
        await persistence.update_bot_data({"t": {1: 2}})
        value = {"t": {1: 2}}
    elif category == "callback_data":
        value = ([("kb", 1.0, {"b": (1, {2: 3})})], {"q": "kb"})
        await persistence.update_callback_data(value)
    else:
        await persistence.update_conversation("handler", (1, 2), 5)
        value = {(1, 2): 5}
    # No flush: a separate reader (no lock needed) sees the change right away.
    assert_same(await read_back(directory, category), value)
    await persistence.flush()


async def test_drop_is_on_disk_when_the_coroutine_returns(directory: Path) -> None:
    persistence = await loaded(directory)
    await persistence.update_user_data(1, {"a": 1})
    await persistence.update_chat_data(2, {"a": 1})
    await persistence.drop_user_data(1)
    await persistence.drop_chat_data(2)
    assert await read_back(directory) == {}
    assert await read_back(directory, "chat_data") == {}
    await persistence.flush()


async def test_conversation_end_removes_it(directory: Path) -> None:
    persistence = await loaded(directory)
    await persistence.update_conversation("handler", (1, 2), 5)
    await persistence.update_conversation("handler", (3, 4), 6)
    await persistence.update_conversation("handler", (1, 2), None)
    assert_same(await read_back(directory, "conversations"), {(3, 4): 6})
    assert_same(persistence.conversations, {"handler": {(3, 4): 6}})
    await persistence.flush()


async def test_file_is_deterministic_sorted_by_id_one_line_each(tmp_path: Path) -> None:
    ids = [100, 2, -5, 10, 3_000_000_000, -100_123_456_789, 0]
    texts = []
    for name, order in (("a", ids), ("b", list(reversed(ids)))):
        persistence = await loaded(tmp_path / name)
        await asyncio.gather(
            *(persistence.update_user_data(i, {"z": 1, "a": (i,), "m": {2, 1}}) for i in order)
        )
        await persistence.flush()
        texts.append((tmp_path / name / "user_data.json").read_bytes())
    assert texts[0] == texts[1]

    text = texts[0].decode("utf-8")
    lines = text.splitlines()
    assert lines[0] == '[{"jsonpersist":2,"category":"user_data"}'
    assert lines[-1] == "]"
    tree = json.loads(text)
    assert tree[0] == {"jsonpersist": 2, "category": "user_data"}
    entries = lines[1:-1]
    assert len(entries) == len(ids) == len(tree) - 1
    assert all(line.startswith(",[") and line.endswith("]") for line in entries)
    keys = [json.loads(line[1:])[0] for line in entries]
    assert keys == sorted(ids)  # as numbers, not as text
    assert all(type(key) is int for key in keys)
    assert text.endswith("]\n")


async def test_a_change_to_one_user_is_a_one_line_diff(directory: Path) -> None:
    persistence = await loaded(directory)
    await asyncio.gather(
        *(persistence.update_user_data(i, {"n": i, "s": {i}}) for i in range(1, 51))
    )
    before = (directory / "user_data.json").read_text().splitlines()
    await persistence.update_user_data(25, {"n": 25, "s": {25, 26}})
    after = (directory / "user_data.json").read_text().splitlines()
    changed = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("---", "+++"))
    ]
    assert len(changed) == 2
    assert changed[0].startswith("-,[25,")
    assert changed[1].startswith("+,[25,")
    await persistence.flush()


async def test_gather_of_500_updates_replaces_the_file_once(directory: Path) -> None:
    persistence = await loaded(directory)
    with count_replaces() as targets:
        await asyncio.gather(*(persistence.update_user_data(i, {"i": (i,)}) for i in range(500)))
    assert targets == ["user_data.json"]
    assert len(await read_back(directory)) == 500
    await persistence.flush()


async def test_gather_of_500_updates_before_any_get_reads_and_replaces_once(
    directory: Path,
) -> None:
    first = await loaded(directory)
    await asyncio.gather(*(first.update_user_data(i, {"i": (i,)}) for i in range(100)))
    await first.flush()

    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    reads: list[str] = []
    real_open = os.open

    def counting_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.path.basename(path) == "user_data.json" and not flags & os.O_WRONLY:
            reads.append(str(path))
        return real_open(path, flags, *args, **kwargs)

    with mock.patch("os.open", counting_open), count_replaces() as targets:
        await asyncio.gather(*(persistence.update_user_data(i, {"i": i}) for i in range(500)))
    await persistence.flush()
    assert await read_back(directory) == {i: {"i": i} for i in range(500)}
    assert len(reads) == 1
    assert targets.count("user_data.json") == 1


async def test_gather_across_categories_is_one_round_with_one_journal(directory: Path) -> None:
    persistence = await loaded(directory)
    real_write = Store.write
    with (
        mock.patch.object(Store, "write", autospec=True, side_effect=real_write) as writes,
        count_replaces() as targets,
    ):
        await asyncio.gather(
            *(persistence.update_user_data(i, {"i": i}) for i in range(100)),
            *(persistence.update_chat_data(-i, {"i": i}) for i in range(100)),
            *(persistence.update_conversation("handler", (i, i), i) for i in range(100)),
        )
    assert writes.call_count == 1
    assert sorted(writes.call_args.args[1]) == [
        "chat_data.json",
        "conversations.json",
        "user_data.json",
    ]
    assert sorted(targets) == [
        ".jsonpersist.journal",
        "chat_data.json",
        "conversations.json",
        "user_data.json",
    ]
    assert not (directory / ".jsonpersist.journal").exists()
    assert temp_files(directory) == []
    await persistence.flush()


async def test_unchanged_data_writes_nothing(directory: Path) -> None:
    persistence = await loaded(directory)
    await asyncio.gather(
        persistence.update_user_data(1, rich_value(1)),
        persistence.update_chat_data(2, {"a": (1,)}),
        persistence.update_bot_data({"b": {1: 2}}),
        persistence.update_callback_data(([("kb", 1.0, {"b": (1,)})], {})),
        persistence.update_conversation("handler", (1, 2), 3),
    )
    before = {path.name: os.stat(path) for path in directory.glob("*.json")}
    assert len(before) == 5
    with count_replaces() as targets:
        await asyncio.gather(
            persistence.update_user_data(1, rich_value(1)),
            persistence.update_chat_data(2, {"a": (1,)}),
            persistence.update_bot_data({"b": {1: 2}}),
            persistence.update_callback_data(([("kb", 1.0, {"b": (1,)})], {})),
            persistence.update_conversation("handler", (1, 2), 3),
            persistence.drop_user_data(99),
        )
        await persistence.flush()
    assert targets == []
    for path in directory.glob("*.json"):
        info = os.stat(path)
        assert (info.st_ino, info.st_mtime_ns) == (
            before[path.name].st_ino,
            before[path.name].st_mtime_ns,
        )


async def test_a_category_that_did_not_change_is_not_rewritten(directory: Path) -> None:
    persistence = await loaded(directory)
    await asyncio.gather(
        persistence.update_user_data(1, {"a": 1}),
        persistence.update_chat_data(2, {"a": 1}),
    )
    chat_before = os.stat(directory / "chat_data.json")
    with count_replaces() as targets:
        await asyncio.gather(
            persistence.update_user_data(1, {"a": 2}),
            persistence.update_chat_data(2, {"a": 1}),
        )
    assert targets == ["user_data.json"]
    chat_after = os.stat(directory / "chat_data.json")
    assert (chat_after.st_ino, chat_after.st_mtime_ns) == (
        chat_before.st_ino,
        chat_before.st_mtime_ns,
    )
    await persistence.flush()


async def test_a_failed_write_reaches_the_caller_and_the_next_round_writes(
    directory: Path,
) -> None:
    persistence = await loaded(directory)
    await persistence.update_user_data(1, {"v": "old"})
    old = (directory / "user_data.json").read_bytes()
    real_fsync = os.fsync
    failures = []

    def failing_fsync(fd: int) -> None:
        if not failures and stat.S_ISREG(os.fstat(fd).st_mode):
            failures.append(fd)
            raise OSError(errno.EIO, "injected")
        real_fsync(fd)

    with mock.patch("os.fsync", failing_fsync), pytest.raises(StateWriteError) as caught:
        await persistence.update_user_data(1, {"v": "new"})
    assert caught.value.errno == errno.EIO
    assert caught.value.file == directory.resolve() / "user_data.json"
    assert (directory / "user_data.json").read_bytes() == old
    assert temp_files(directory) == []

    await persistence.update_user_data(1, {"v": "new"})  # same data: must still be written
    assert await read_back(directory) == {1: {"v": "new"}}
    await persistence.flush()


async def test_an_unexpected_error_in_a_round_reaches_the_callers(directory: Path) -> None:
    persistence = await loaded(directory)
    (directory / ".jsonpersist.journal").mkdir()  # a journal that is no file: refused, typed
    try:
        with pytest.raises(CorruptStateError, match="journal"):
            await persistence.update_user_data(1, {"a": 1})
    finally:
        (directory / ".jsonpersist.journal").rmdir()
        await persistence.flush()


# ----------------------------------------------------------------------------- on_flush


async def test_on_flush_writes_nothing_until_flush(directory: Path) -> None:
    persistence = await loaded(directory, on_flush=True)
    with count_replaces() as targets:
        await asyncio.gather(
            *(persistence.update_user_data(i, {"i": i}) for i in range(10)),
            persistence.update_chat_data(1, {"c": 1}),
            persistence.update_bot_data({"b": 1}),
            persistence.update_conversation("handler", (1,), 1),
        )
        await persistence.drop_user_data(3)
        assert targets == []
        assert sorted(path.name for path in directory.glob("*.json")) == []
        await persistence.flush()
    assert sorted(targets) == [
        ".jsonpersist.journal",
        "bot_data.json",
        "chat_data.json",
        "conversations.json",
        "user_data.json",
    ]
    assert await read_back(directory) == {i: {"i": i} for i in range(10) if i != 3}
    assert await read_back(directory, "bot_data") == {"b": 1}


# ------------------------------------------------------------------------------- locking


async def test_flush_releases_the_directory(directory: Path) -> None:
    first = await loaded(directory)
    await first.update_user_data(1, {"by": "first"})
    second: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    with pytest.raises(StateLockedError):
        await second.get_user_data()
    await first.flush()

    assert await second.get_user_data() == {1: {"by": "first"}}
    await second.update_user_data(1, {"by": "second"})
    await second.flush()
    # The first instance takes the directory again on its next load.
    assert await first.get_chat_data() == {}
    await first.flush()


async def test_an_update_after_flush_does_not_write_into_another_owners_directory(
    directory: Path,
) -> None:
    first = await loaded(directory)
    await first.update_user_data(1, {"by": "first"})
    await first.flush()
    second = await loaded(directory)
    await second.update_user_data(1, {"by": "second"})
    try:
        with pytest.raises(StateLockedError):
            await first.update_user_data(1, {"by": "first, after flush"})
        assert await read_back(directory) == {1: {"by": "second"}}
    finally:
        await second.flush()


# ------------------------------------------------------------------------ loop and files


async def test_a_large_save_encodes_and_writes_off_the_event_loop(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The promise is that the event loop is not blocked: the encoding and the writing run in
    a worker thread while the loop keeps turning. Asserted by thread, not by the clock (the
    stall in milliseconds is the benchmarks' business)."""
    persistence = await loaded(directory)
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    data = {
        i: {"cart": [(j, "item", when, {j: "x"}) for j in range(50)], "tags": {"a", "b"}}
        for i in range(1500)
    }
    loop_thread = threading.get_ident()
    threads: list[int] = []
    encode, write = EntryCodec.encode, Store.write

    def encoding(self: EntryCodec, *args: Any) -> bytes:
        threads.append(threading.get_ident())
        return encode(self, *args)

    def writing(self: Store, *args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return write(self, *args, **kwargs)

    monkeypatch.setattr(EntryCodec, "encode", encoding)
    monkeypatch.setattr(Store, "write", writing)
    turns = 0
    saving = True

    async def ticker() -> None:
        nonlocal turns
        while saving:
            await asyncio.sleep(0)
            turns += 1

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(persistence.update_user_data(i, v) for i, v in data.items()))
    saving = False
    await task
    await persistence.flush()

    assert len(await read_back(directory)) == 1500
    assert len(threads) > 1500  # every user encoded, and the file written
    assert loop_thread not in threads
    assert turns > 1


async def test_stale_temp_files_are_removed_and_never_loaded(directory: Path) -> None:
    directory.mkdir()
    stale = [
        ".user_data.json.k2j3h4.tmp",
        ".chat_data.json.zz.tmp",
        ".jsonpersist.journal.abc.tmp",
    ]
    for name in stale:
        (directory / name).write_bytes(
            document("user_data", {99: {"from": "a temp file"}}).encode()
        )
    (directory / "notes.tmp").write_text("not ours: no leading dot")

    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    assert await persistence.get_user_data() == {}
    assert await persistence.get_chat_data() == {}
    assert temp_files(directory) == ["notes.tmp"]
    await persistence.flush()


async def test_new_files_are_private_and_existing_modes_are_kept(directory: Path) -> None:
    persistence = await loaded(directory)
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    await persistence.update_user_data(1, {"a": 1})
    await persistence.update_chat_data(1, {"a": 1})
    assert stat.S_IMODE(os.stat(directory / "user_data.json").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(directory / "chat_data.json").st_mode) == 0o600

    os.chmod(directory / "user_data.json", 0o640)
    await persistence.update_user_data(1, {"a": 2})
    await persistence.update_user_data(2, {"a": 2})
    assert stat.S_IMODE(os.stat(directory / "user_data.json").st_mode) == 0o640
    assert await read_back(directory) == {1: {"a": 2}, 2: {"a": 2}}
    await persistence.flush()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
async def test_the_directory_can_be_committed_to_git(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    directory = tmp_path / "state"
    persistence = await loaded(directory)
    await asyncio.gather(
        persistence.update_user_data(1, {"a": 1}), persistence.update_chat_data(1, {"a": 1})
    )
    gitignore = (directory / ".gitignore").read_text()
    assert gitignore.endswith("\n")
    leftovers = [".jsonpersist.journal", ".user_data.json.abc123.tmp"]
    for name in leftovers:  # what a crash leaves; created here to ask git about them
        (directory / name).write_bytes(b"")
    try:
        ignored = subprocess.run(
            ["git", "-C", str(tmp_path), "check-ignore", "--no-index", "--stdin"],
            input="\n".join(
                f"state/{name}"
                for name in [
                    ".jsonpersist.lock",
                    ".jsonpersist.round.lock",
                    *leftovers,
                    "user_data.json",
                    "chat_data.json",
                    ".gitignore",
                ]
            ),
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
    finally:
        for name in leftovers:
            (directory / name).unlink()
    assert sorted(ignored) == sorted(
        f"state/{name}" for name in [".jsonpersist.lock", ".jsonpersist.round.lock", *leftovers]
    )
    status = subprocess.run(
        ["git", "-C", str(tmp_path), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert sorted(line for line in status if line) == [
        "?? state/.gitignore",
        "?? state/chat_data.json",
        "?? state/user_data.json",
    ]
    await persistence.flush()


async def test_an_existing_gitignore_is_left_alone(directory: Path) -> None:
    directory.mkdir()
    (directory / ".gitignore").write_text("mine\n")
    persistence = await loaded(directory)
    await persistence.flush()
    assert (directory / ".gitignore").read_text() == "mine\n"


# ------------------------------------------------------------------- reading and errors


async def test_missing_files_are_empty_categories(directory: Path) -> None:
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    assert persistence.user_data is None  # not loaded is not the same as empty
    assert persistence.conversations is None
    assert await persistence.get_user_data() == {}
    assert await persistence.get_chat_data() == {}
    assert await persistence.get_bot_data() == {}
    assert await persistence.get_callback_data() is None
    assert await persistence.get_conversations("handler") == {}
    assert persistence.user_data == {}
    assert persistence.conversations == {}
    assert list(directory.glob("*.json")) == []
    for category in CATEGORIES:
        text = getattr(persistence, f"{category}_json")
        assert json.loads(text) == (None if category == "callback_data" else {})
    await persistence.flush()


async def test_the_data_properties_are_decoded_once_per_change(directory: Path) -> None:
    persistence = await loaded(directory)
    callback = ([("kb", 2.5, {"b": (1, 2)})], {"q": "kb"})
    await asyncio.gather(
        persistence.update_user_data(1, {"t": (1,)}),
        persistence.update_chat_data(-2, {"s": {1}}),
        persistence.update_bot_data({"k": {1: 2}}),
        persistence.update_callback_data(callback),
        persistence.update_conversation("handler", (1, 2), "s"),
    )
    assert_same(persistence.user_data, {1: {"t": (1,)}})
    assert_same(persistence.chat_data, {-2: {"s": {1}}})
    assert_same(persistence.bot_data, {"k": {1: 2}})
    assert_same(persistence.callback_data, callback)
    assert_same(persistence.conversations, {"handler": {(1, 2): "s"}})
    # DictPersistence hands out its own dicts: reading twice costs nothing, and no decoding
    # runs on the event loop until something changed.
    for category in CATEGORIES:
        assert getattr(persistence, category) is getattr(persistence, category)
        assert getattr(persistence, f"{category}_json") is getattr(persistence, f"{category}_json")
    before = persistence.user_data
    await persistence.update_user_data(1, {"t": (2,)})
    assert persistence.user_data is not before
    assert_same(persistence.user_data, {1: {"t": (2,)}})
    assert persistence.chat_data is persistence.chat_data
    await persistence.flush()


def _corrupt_file(category: str, kind: str, version: int) -> bytes:
    if version == 1:
        return _corrupt_v1_file(category, kind)
    member = {"$nope": 1}
    if kind == "unknown tag":
        entry: list[Any] = {
            "user_data": [1, {"k": member}],
            "chat_data": [1, {"k": member}],
            "bot_data": ["k", member],
            "callback_data": ["keyboard", "kb", [1.5, {"button": member}]],
            "conversations": ["handler", [1], member],
        }[category]
        return document(category, [entry]).encode()
    head = b'[{"jsonpersist":2,"category":"' + category.encode() + b'"}\n'
    return {
        "invalid JSON": head + b",[1,\n]\n",
        "newer version": document(category, []).replace('": 2', '": 99').encode(),
        "no header": b"[\n]\n",
        "other category": document(
            "chat_data" if category != "chat_data" else "user_data", []
        ).encode(),
        "not utf-8": head + b',[1,{"\xff":1}]\n]\n',
    }[kind]


def _corrupt_v1_file(category: str, kind: str) -> bytes:
    if kind == "unknown tag":
        member = {"$nope": 1}
        data: Any = {
            "user_data": {"1": {"k": member}},
            "chat_data": {"1": {"k": member}},
            "bot_data": {"k": member},
            "conversations": {"handler": member},
        }.get(category, member)
        return state_text(category, data)
    head = b'{"jsonpersist": 1, "category": "' + category.encode() + b'", "data": '
    return {
        "invalid JSON": head + b"{",
        "newer version": state_text(category, {}, version=99),
        "no header": json.dumps({"data": {}}).encode(),
        "other category": state_text("chat_data" if category != "chat_data" else "user_data", {}),
        "not utf-8": head + b'{"\xff": 1}}',
    }[kind]


async def _get(persistence: JsonPersistence[Any, Any, Any], category: str) -> Any:
    if category == "conversations":
        return await persistence.get_conversations("handler")
    return await getattr(persistence, f"get_{category}")()


async def _update(persistence: JsonPersistence[Any, Any, Any], category: str) -> None:
    if category == "user_data":
        await persistence.update_user_data(1, {"new": 1})
    elif category == "chat_data":
        await persistence.update_chat_data(1, {"new": 1})
    elif category == "bot_data":
        await persistence.update_bot_data({"new": 1})
    elif category == "callback_data":
        await persistence.update_callback_data(([], {}))
    else:
        await persistence.update_conversation("handler", (1,), 1)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize(
    "kind",
    ["invalid JSON", "newer version", "no header", "other category", "not utf-8", "unknown tag"],
)
async def test_a_corrupt_file_is_refused_and_never_overwritten(
    directory: Path, category: str, kind: str, version: int
) -> None:
    directory.mkdir()
    path = directory / f"{category}.json"
    raw = _corrupt_file(category, kind, version)
    path.write_bytes(raw)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)

    with pytest.raises(CorruptStateError) as caught:
        await _get(persistence, category)
    assert isinstance(caught.value, ValueError)
    assert caught.value.file == path.resolve()
    assert str(path.resolve()) in str(caught.value)

    for _ in range(2):
        with pytest.raises(CorruptStateError):
            await _update(persistence, category)
    with pytest.raises(CorruptStateError):
        await _get(persistence, category)
    # Other categories still work.
    other = "chat_data" if category == "user_data" else "user_data"
    await _get(persistence, other)
    await _update(persistence, other)
    await persistence.flush()

    # A fresh instance that never called get_* refuses to overwrite it as well.
    fresh: JsonPersistence[Any, Any, Any] = JsonPersistence(directory, on_flush=True)
    with pytest.raises(CorruptStateError):
        await _update(fresh, category)
    await fresh.flush()

    assert path.read_bytes() == raw
    assert os.stat(path).st_mtime_ns == 1_000_000_000


async def test_a_corrupt_file_names_the_position_or_key(directory: Path) -> None:
    directory.mkdir()
    (directory / "user_data.json").write_bytes(b'{"jsonpersist": 1,\n  "category": x}')
    (directory / "chat_data.json").write_bytes(
        state_text("chat_data", {"5": {"list": [0, {"$date": "not a date"}]}})
    )
    (directory / "bot_data.json").write_bytes(state_text("bot_data", {}) + b"garbage")
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    with pytest.raises(CorruptStateError, match=r"line 2"):
        await persistence.get_user_data()
    with pytest.raises(CorruptStateError, match=r"chat_data\[5\]\['list'\]\[1\]"):
        await persistence.get_chat_data()
    with pytest.raises(CorruptStateError, match=r"bot_data\.json"):
        await persistence.get_bot_data()
    await persistence.flush()


async def test_a_corrupt_version_2_file_names_the_line_and_key(directory: Path) -> None:
    directory.mkdir()

    def head(category: str) -> bytes:
        return b'[{"jsonpersist":2,"category":"%s"}\n' % category.encode()

    (directory / "user_data.json").write_bytes(
        head("user_data") + b',[1,{"a":1}]\n,[2,{"a":}]\n]\n'
    )
    (directory / "chat_data.json").write_bytes(
        head("chat_data") + b',[4,{}]\n,[5,{"list":[0,{"$date":"not a date"}]}]\n]\n'
    )
    (directory / "bot_data.json").write_bytes(document("bot_data", {"a": 1}).encode() + b"x")
    (directory / "conversations.json").write_bytes(
        head("conversations") + b',["handler",[1],1]\n,["handler","1",2]\n]\n'
    )
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    with pytest.raises(CorruptStateError, match=r"line 3") as caught:
        await persistence.get_user_data()
    assert caught.value.where.startswith("line 3")
    with pytest.raises(CorruptStateError) as caught:
        await persistence.get_chat_data()
    assert caught.value.where.startswith("line 3: chat_data[5]['list'][1]")
    with pytest.raises(CorruptStateError, match=r"bot_data\.json"):
        await persistence.get_bot_data()
    with pytest.raises(CorruptStateError) as caught:
        await persistence.get_conversations("handler")
    assert caught.value.where == "line 3"
    await persistence.flush()


async def test_invalid_utf_8_is_named_at_its_line(directory: Path) -> None:
    directory.mkdir()
    raw = b'[{"jsonpersist":2,"category":"user_data"}\n,[1,{"a":1}]\n,[2,{"\xff":1}]\n]\n'
    (directory / "user_data.json").write_bytes(raw)
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    with pytest.raises(CorruptStateError) as caught:
        await persistence.get_user_data()
    await persistence.flush()
    byte = raw.index(b"\xff")
    # The place named is the bad byte's (line 3), as the strict reader names it.
    where = caught.value.where
    assert where == f"byte {byte}" or where.startswith("line 3,"), where


async def test_a_symlinked_state_file_is_refused_and_its_target_untouched(
    tmp_path: Path, on_flush: bool
) -> None:
    directory = tmp_path / "state"
    directory.mkdir()
    target = tmp_path / "elsewhere.json"
    raw = document("user_data", {1: {"a": 1}}).encode()
    target.write_bytes(raw)
    (directory / "user_data.json").symlink_to(target)
    (directory / "chat_data.json").symlink_to(tmp_path / "dangling.json")

    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory, on_flush=on_flush)
    with pytest.raises(CorruptStateError, match="symlink") as caught:
        await persistence.get_user_data()
    assert caught.value.file == directory.resolve() / "user_data.json"
    with pytest.raises(CorruptStateError, match="symlink"):
        await persistence.get_chat_data()
    with pytest.raises(CorruptStateError):
        await persistence.update_user_data(1, {"a": 2})
    with pytest.raises(CorruptStateError):
        await persistence.update_chat_data(1, {"a": 2})
    await persistence.flush()

    assert target.read_bytes() == raw
    assert not (tmp_path / "dangling.json").exists()
    assert (directory / "user_data.json").is_symlink()
    assert os.readlink(directory / "user_data.json") == str(target)
    assert (directory / "chat_data.json").is_symlink()


@pytest.mark.parametrize("version", [1, 2])
async def test_a_hand_edited_file_loads_and_is_stored_canonically(
    directory: Path, version: int
) -> None:
    directory.mkdir()
    # Pretty-printed, header reordered, ids out of order, tags as written by the codec.
    twenty = {"when": {"$date": "2024-02-29"}, "t": {"$tuple": [1, 2]}}
    three = {"s": {"$set": [2, 1]}, "k": {"$dict": [[2, "b"], [1, "a"]]}}
    tree: Any = (
        {"data": {"20": twenty, "3": three}, "category": "user_data", "jsonpersist": 1}
        if version == 1
        else [{"category": "user_data", "jsonpersist": 2}, [20, twenty], [3, three]]
    )
    (directory / "user_data.json").write_text(json.dumps(tree, indent=4))
    persistence = await loaded(directory)
    expected = {
        20: {"when": date(2024, 2, 29), "t": (1, 2)},
        3: {"s": {1, 2}, "k": {1: "a", 2: "b"}},
    }
    assert_same(await persistence.get_user_data(), expected)

    await persistence.update_user_data(7, {"new": True})
    expected[7] = {"new": True}
    lines = (directory / "user_data.json").read_text().splitlines()
    assert lines[0] == '[{"jsonpersist":2,"category":"user_data"}'
    assert [json.loads(line[1:])[0] for line in lines[1:-1]] == [3, 7, 20]
    assert lines[1] == ',[3,{"k":{"$dict":[[1,"a"],[2,"b"]]},"s":{"$set":[1,2]}}]'
    await persistence.flush()
    assert_same(await read_back(directory), expected)


@pytest.mark.parametrize(
    "text",
    [
        '{"jsonpersist": 1, "category": "user_data", "data": {"1": {"a": 1}, "1": {"a": 2}}}',
        '{"jsonpersist": 1, "category": "user_data", "data": {"1": {"a": 1, "a": 2}}}',
        '{"jsonpersist": 1, "jsonpersist": 1, "category": "user_data", "data": {}}',
        '{"jsonpersist": 1, "category": "user_data", "data": {"1": {"a": NaN}}}',
        '[{"jsonpersist": 2, "category": "user_data"}, [1, {"a": 1}], [1, {"a": 2}]]',
        '[{"jsonpersist": 2, "category": "user_data"}, [1, {"a": 1, "a": 2}]]',
        '[{"jsonpersist": 2, "jsonpersist": 2, "category": "user_data"}]',
        '[{"jsonpersist": 2, "category": "user_data"}, [1, {"a": NaN}]]',
        '[{"jsonpersist": 2, "category": "user_data"}, [10, {"a": 1}], [10.0, {"b": 2}]]',
        '[{"jsonpersist": 2, "category": "user_data"}, [1e1, {"b": 2}]]',
    ],
    ids=[
        "duplicate id",
        "duplicate key inside",
        "duplicate header",
        "NaN literal",
        "v2 duplicate id",
        "v2 duplicate key inside",
        "v2 duplicate header",
        "v2 NaN literal",
        "v2 an id as a float",
        "v2 an id in exponent form",
    ],
)
async def test_ambiguous_hand_edits_are_refused(directory: Path, text: str) -> None:
    directory.mkdir()
    (directory / "user_data.json").write_text(text)
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    with pytest.raises(CorruptStateError):
        await persistence.get_user_data()
    await persistence.flush()
    assert (directory / "user_data.json").read_text() == text


async def test_ids_that_collide_after_parsing_are_refused(directory: Path) -> None:
    directory.mkdir()
    text = '{"jsonpersist": 1, "category": "user_data", "data": {"10": {"a": 1}, "010": {"b": 2}}}'
    (directory / "user_data.json").write_text(text)
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    try:
        with pytest.raises(CorruptStateError):
            await persistence.get_user_data()
    finally:
        await persistence.flush()


HUGE = 123456789012345678901234567890123456789


@pytest.mark.parametrize(
    ("users", "bot_data"),
    [
        (
            '{"jsonpersist": 1, "category": "user_data", "data": {'
            f'"1": {{"n": {HUGE}, "m": -{HUGE}, "u64": {2**64 - 1}}}}}}}',
            f'{{"jsonpersist": 1, "category": "bot_data", "data": {{"n": {HUGE}}}}}',
        ),
        (
            '[{"jsonpersist": 2, "category": "user_data"},\n'
            f' [1, {{"n": {HUGE}, "m": -{HUGE}, "u64": {2**64 - 1}}}]]',
            f'[{{"jsonpersist": 2, "category": "bot_data"}}, ["n", {HUGE}]]',
        ),
        (  # laid out as jsonpersist writes, so that only the digits are unusual
            '[{"jsonpersist":2,"category":"user_data"}\n'
            f',[1,{{"m":-{HUGE},"n":{HUGE},"u64":{2**64 - 1}}}]\n]\n',
            f'[{{"jsonpersist":2,"category":"bot_data"}}\n,["n",{HUGE}]\n]\n',
        ),
    ],
    ids=["version 1", "version 2", "version 2 canonical layout"],
)
async def test_a_huge_int_in_a_hand_edited_file_stays_exact(
    directory: Path, users: str, bot_data: str
) -> None:
    directory.mkdir()
    huge = HUGE
    (directory / "user_data.json").write_text(users)
    (directory / "bot_data.json").write_text(bot_data)
    persistence = await loaded(directory)
    expected = {1: {"n": huge, "m": -huge, "u64": 2**64 - 1}}
    assert_same(await persistence.get_user_data(), expected)
    assert_same(await persistence.get_bot_data(), {"n": huge})

    await persistence.update_user_data(2, {"x": 1})
    await persistence.update_bot_data({"n": huge, "more": 1})
    await persistence.flush()
    expected[2] = {"x": 1}
    assert_same(await read_back(directory), expected)
    assert_same(await read_back(directory, "bot_data"), {"n": huge, "more": 1})


async def test_an_unstorable_conversation_state_fails_only_its_own_update(
    directory: Path,
) -> None:
    persistence = await loaded(directory)
    await persistence.update_conversation("handler", (1,), 1)
    with pytest.raises(UnsupportedTypeError, match=r"\(2,\)"):
        await persistence.update_conversation("handler", (2,), object())
    try:
        await persistence.update_conversation("handler", (3,), 3)
        assert_same(await read_back(directory, "conversations"), {(1,): 1, (3,): 3})
        assert_same(persistence.conversations, {"handler": {(1,): 1, (3,): 3}})
    finally:
        await persistence.flush()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
async def test_a_fifo_in_place_of_a_state_file_is_refused_without_hanging(
    directory: Path,
) -> None:
    directory.mkdir()
    fifo = directory / "user_data.json"
    os.mkfifo(fifo)
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    load = asyncio.ensure_future(persistence.get_user_data())
    done, _ = await asyncio.wait({load}, timeout=1.0)
    if not done:  # release the blocked worker thread, or the test run would never end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    with pytest.raises(CorruptStateError, match="not a regular file"):
        await load
    await persistence.flush()
    assert done, "get_user_data() blocked on the FIFO"


# ----------------------------------------------------- any keys: one line each, one order

PROPERTY = settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
CODEC = Codec()
#: A conversation's state: anything but None, which ends the conversation.
STATES = st.one_of(st.integers(), st.text(max_size=4), values().filter(lambda v: v is not None))


async def _saved(directory: Path, save: Any) -> Path:
    persistence = await loaded(directory)
    await save(persistence)
    await persistence.flush()
    return directory


def _entry_lines(path: Path) -> list[Any]:
    lines = path.read_bytes().split(b"\n")
    assert lines[0] == b'[{"jsonpersist":2,"category":"%s"}' % path.stem.encode()
    assert lines[-2:] == [b"]", b""]
    assert all(line.startswith(b",[") for line in lines[1:-2])
    return [json.loads(line[1:]) for line in lines[1:-2]]


@PROPERTY
@given(
    conversations=st.dictionaries(
        st.tuples(handler_names(), conversation_keys()),
        STATES,
        min_size=1,
        max_size=8,
    ),
    data=st.data(),
)
async def test_any_conversations_are_a_line_each_in_one_order(
    tmp_path: Path, conversations: dict[Any, Any], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(list(conversations)))
    run = uuid.uuid4().hex
    files = []
    for name, order in (("a", list(conversations)), ("b", shuffled)):

        async def save(persistence: Any, order: list[Any] = order) -> None:
            await asyncio.gather(
                *(persistence.update_conversation(*key, conversations[key]) for key in order)
            )

        directory = await _saved(tmp_path / f"{run}-{name}", save)
        files.append(directory / "conversations.json")
    assert files[0].read_bytes() == files[1].read_bytes()  # whatever order they came in

    entries = _entry_lines(files[0])
    assert len(entries) == len(conversations)
    assert {(name, tuple(key)) for name, key, _ in entries} == set(conversations)
    names = [name for name, _, _ in entries]
    assert names == sorted(names)
    for (name, key, _), (next_name, next_key, _) in itertools.pairwise(entries):
        if (
            name == next_name
            and len(key) == len(next_key)
            and all(type(part) is int for part in key + next_key)
        ):
            assert key < next_key, (key, next_key)  # as numbers: 2 before 10
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(files[0].parent, read_only=True)
    for handler in {name for name, _ in conversations}:
        expected = {key: state for (name, key), state in conversations.items() if name == handler}
        # The same bytes once encoded again: types, keys and NaNs alike.
        assert CODEC.dumps(await reader.get_conversations(handler)) == CODEC.dumps(expected)


@PROPERTY
@given(
    bot_data=st.dictionaries(bot_data_keys(), st.integers() | values(), min_size=1, max_size=8),
    data=st.data(),
)
async def test_any_bot_data_keys_are_a_line_each_in_one_order(
    tmp_path: Path, bot_data: dict[Any, Any], data: st.DataObject
) -> None:
    shuffled = {key: bot_data[key] for key in data.draw(st.permutations(list(bot_data)))}
    run = uuid.uuid4().hex
    files = []
    for name, value in (("a", bot_data), ("b", shuffled)):

        async def save(persistence: Any, value: dict[Any, Any] = value) -> None:
            await persistence.update_bot_data(value)

        try:
            directory = await _saved(tmp_path / f"{run}-{name}", save)
        except UnsupportedTypeError:
            return  # refused whole, as the codec refuses such a key anywhere
        files.append(directory / "bot_data.json")
    assert files[0].read_bytes() == files[1].read_bytes()  # whatever order they came in

    entries = _entry_lines(files[0])
    assert len(entries) == len(bot_data)
    assert all(len(entry) == 2 for entry in entries)  # [key, value]: a line per key
    ints = [key for key, _ in entries if type(key) is int]
    assert ints == sorted(ints)  # as numbers
    # str keys and the ints JSON holds exactly are written as they are; others are tagged.
    assert {key for key, _ in entries if type(key) in (str, int)} == {
        key for key in bot_data if type(key) is str or (type(key) is int and plain_int(key))
    }
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(files[0].parent, read_only=True)
    assert CODEC.dumps(await reader.get_bot_data()) == CODEC.dumps(bot_data)


def plain_int(number: int) -> bool:
    return INT_MIN <= number <= INT_MAX


async def test_a_bot_data_key_too_long_to_print_is_stored_or_refused_as_unsupported(
    directory: Path,
) -> None:
    # An int of more than 4,300 digits: Python refuses to turn it into text (repr included).
    key = 10**5000
    persistence = await loaded(directory)
    try:
        await persistence.update_bot_data({key: 1, "other": 2})
    except UnsupportedTypeError:
        stored = False
    else:
        stored = True
    await persistence.flush()
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(directory, read_only=True)
    assert await reader.get_bot_data() == ({key: 1, "other": 2} if stored else {})
