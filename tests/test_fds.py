"""No file descriptor is leaked: not by a save, a load, a flush, a lock cycle or a failed write.

A bot runs for months; one descriptor lost per save exhausts even a large open-file limit, and
the default limit (often 1,024, or far more under systemd) hides it in any short test. So each
test counts this process's open descriptors (``/proc/self/fd``) before and after repeating one
kind of work many times, after one warm-up round (lazy imports, caches, an event loop's own
descriptors), and asserts the count did not grow (a leak) nor shrink (a descriptor closed that
was not the library's, such as stdin). ``test_the_count_sees_a_leaked_descriptor`` shows the
check is not blind.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from telegram.ext import Application, ContextTypes, ExtBot

from jsonpersist import (
    CorruptStateError,
    JsonPersistence,
    StateLockedError,
    StateWriteError,
)
from jsonpersist._store import Store

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc/self/fd"
)

ROUNDS = 25
FILES = ("a.json", "b.json", "c.json")


def open_descriptors() -> dict[int, str]:
    """This process's open descriptors and what each is (the listing's own one left out)."""
    found = {}
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
    return found


def assert_no_leak(work: Callable[[int], None], rounds: int = ROUNDS) -> None:
    """Runs ``work(0)`` to warm up, then ``work(1..rounds)``; no descriptor may stay open."""
    work(0)
    before = open_descriptors()
    for number in range(1, rounds + 1):
        work(number)
    after = open_descriptors()
    _compare(before, after)


async def assert_no_leak_async(
    work: Callable[[int], Awaitable[None]], rounds: int = ROUNDS
) -> None:
    """:func:`assert_no_leak` for a coroutine."""
    await work(0)
    before = open_descriptors()
    for number in range(1, rounds + 1):
        await work(number)
    after = open_descriptors()
    _compare(before, after)


def _compare(before: dict[int, str], after: dict[int, str]) -> None:
    leaked = {fd: target for fd, target in after.items() if before.get(fd) != target}
    closed = {fd: target for fd, target in before.items() if after.get(fd) != target}
    assert len(after) <= len(before), f"{len(after) - len(before)} descriptors leaked: {leaked}"
    # Closing a descriptor it did not open (stdin, a caller's file) is as bad.
    assert len(after) == len(before), f"descriptors closed that were not ours: {closed}"


@contextlib.contextmanager
def failing(function: str, code: int, matches: Callable[..., bool]) -> Iterator[None]:
    """``os.<function>`` raises ``OSError(code)`` for every call that ``matches``."""
    real = getattr(os, function)

    def faulty(*args: Any, **kwargs: Any) -> Any:
        if matches(*args):
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    with mock.patch(f"os.{function}", faulty):
        yield


def _describes(fd: int, predicate: Callable[[str], bool]) -> bool:
    try:
        return predicate(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return False


def temp_fd(fd: int, *_: object) -> bool:
    """Whether ``fd`` is open on one of the store's temporary files."""
    return _describes(fd, lambda target: target.endswith(".tmp"))


def directory_fd(directory: Path) -> Callable[..., bool]:
    """Matches a descriptor open on ``directory`` itself."""
    resolved = str(directory.resolve())
    return lambda fd, *_: _describes(fd, lambda target: target == resolved)


# ------------------------------------------------------------------------------ the store


def test_writes_reads_and_rounds_of_the_store_leak_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "state")
    store.open()

    def work(number: int) -> None:
        store.write({"user_data.json": b"[%d]\n" % number})
        store.write(dict.fromkeys(FILES, b"[%d]\n" % number))  # a round, with a journal
        assert store.read("user_data.json") == b"[%d]\n" % number
        assert store.read("missing.json") is None
        signature = store.signature("a.json")
        _, raced = store.swap({"a.json": b"[-%d]\n" % number}, {"a.json": signature})
        assert raced == set()
        assert store.read("a.json") == b"[-%d]\n" % number

    try:
        assert_no_leak(work)
    finally:
        store.close()


def test_refused_reads_leak_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    store = Store(directory, max_file_size=10)
    (directory / "a_directory.json").mkdir()
    (directory / "too_large.json").write_bytes(b"x" * 11)
    (directory / "real.json").write_bytes(b"[]")
    (directory / "link.json").symlink_to(directory / "real.json")

    def work(_: int) -> None:
        for name in ("a_directory.json", "too_large.json", "link.json"):
            with pytest.raises(CorruptStateError):
                store.read(name)

    assert_no_leak(work)


def test_taking_and_giving_up_the_directory_leaks_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "state"

    def work(_: int) -> None:
        owner = Store(directory)
        owner.open()
        with owner.round_lock():
            pass
        rival = Store(directory)
        with pytest.raises(StateLockedError):
            rival.open()
        owner.close()
        rival.open()
        rival.close()

    assert_no_leak(work)


@pytest.mark.parametrize(
    "step",
    ["create temp", "write", "fsync", "replace", "fsync directory", "open directory"],
)
def test_failed_writes_leak_nothing(tmp_path: Path, step: str) -> None:
    directory = tmp_path / "state"
    store = Store(directory)
    store.open()
    faults: dict[str, tuple[str, int, Callable[..., bool]]] = {
        "create temp": ("open", errno.ENOSPC, lambda path, *_: str(path).endswith(".tmp")),
        "write": ("writev", errno.ENOSPC, temp_fd),
        "fsync": ("fsync", errno.EIO, temp_fd),
        "replace": ("replace", errno.EIO, lambda source, *_: str(source).endswith(".tmp")),
        "fsync directory": ("fsync", errno.EIO, directory_fd(directory)),
        "open directory": ("open", errno.EMFILE, lambda path, *_: Path(path) == directory),
    }

    def work(number: int) -> None:
        with failing(*faults[step]):
            for files in (
                {"one.json": b"[%d]" % number},
                dict.fromkeys(FILES, b"[%d]" % number),
            ):
                with pytest.raises(StateWriteError):
                    store.write(files)
        store.write(dict.fromkeys(FILES, b"[]"))  # the fault is gone: a round works

    try:
        assert_no_leak(work)
    finally:
        store.close()


def test_a_process_started_without_stdin_leaks_nothing(tmp_path: Path) -> None:
    """A daemon may run with descriptor 0 closed: then a temporary file can be descriptor 0."""
    store = Store(tmp_path / "state")
    store.open()
    saved = os.dup(0)
    try:
        with store.round_lock():  # taken first, so that its own descriptor is not the 0
            os.close(0)
            store.write({"user_data.json": b"[]"})
            with pytest.raises(OSError, match="Bad file descriptor"):
                os.fstat(0)  # descriptor 0 was the temporary file's, and is closed again
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        store.close()
    assert (tmp_path / "state" / "user_data.json").read_bytes() == b"[]"


def test_replaying_a_journal_leaks_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "state"

    def work(number: int) -> None:
        store = Store(directory)
        store.open()
        # A round that failed after its journal was in place: the next open completes it.
        with (
            failing("replace", errno.EIO, lambda _, target, *__: str(target).endswith("c.json")),
            pytest.raises(StateWriteError),
        ):
            store.write(dict.fromkeys(FILES, b"[%d]" % number))
        store.close()
        store.open()
        assert store.read("c.json") == b"[%d]" % number
        store.close()

    assert_no_leak(work)


# ----------------------------------------------------------------------- the persistence


async def test_saves_loads_and_flushes_of_a_persistence_leak_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "state"

    async def work(number: int) -> None:
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
        assert (await persistence.get_user_data()).get(1, {}).get("n", 0) == max(number - 1, 0)
        await persistence.get_chat_data()
        await persistence.get_bot_data()
        await persistence.get_conversations("talk")
        await persistence.update_user_data(1, {"n": number})
        await persistence.update_chat_data(-5, {"n": number})
        await persistence.update_bot_data({"n": number})
        await persistence.update_conversation("talk", (1, 2), number)
        with failing("fsync", errno.EIO, temp_fd), pytest.raises(StateWriteError):
            await persistence.update_user_data(2, {"n": number})
        await persistence.flush()
        reader: JsonPersistence[Any, Any, Any] = JsonPersistence(directory, read_only=True)
        assert await reader.get_bot_data() == {"n": number}
        await reader.flush()

    await assert_no_leak_async(work)


async def test_an_application_on_the_persistence_leaks_nothing(
    tmp_path: Path, offline_bot: ExtBot[None]
) -> None:
    directory = tmp_path / "state"
    errors: list[object] = []

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    async def work(number: int) -> None:
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
        application = Application.builder().bot(offline_bot).persistence(persistence).build()
        application.add_error_handler(on_error)
        async with application:
            assert application.bot_data.get("round", 0) == max(number - 1, 0)
            application.bot_data["round"] = number
            application.user_data[1]["round"] = number
            application.chat_data[-1]["round"] = number
            application.mark_data_for_update_persistence(user_ids=1, chat_ids=-1)
            await application.update_persistence()
            application.bot_data["failed"] = number
            with failing("writev", errno.ENOSPC, temp_fd):
                await application.update_persistence()
                await asyncio.sleep(0)  # error handlers run as tasks

    await assert_no_leak_async(work, rounds=10)
    assert errors, "the failed saves did not reach the error handler"
    assert all(isinstance(error, StateWriteError) for error in errors)


def test_the_count_sees_a_leaked_descriptor(tmp_path: Path) -> None:
    """The check above is not blind: one descriptor kept open per round fails it."""
    kept: list[int] = []
    try:
        with pytest.raises(AssertionError, match="descriptors leaked"):
            assert_no_leak(lambda _: kept.append(os.open(tmp_path, os.O_RDONLY)), rounds=3)
    finally:
        for fd in kept:
            os.close(fd)
