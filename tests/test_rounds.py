"""Save rounds under cancellation (``jsonpersist/_rounds.py``).

A round writes in a worker thread, which cannot be stopped. A caller cancelled meanwhile is
cancelled at once (the ``Future`` contract), the other callers of its round still get the
round's real outcome, and nothing else writes before the thread is done.

The writes are the real ``Store.write`` on ``tmp_path``; the patch only holds a write until the
test releases it, or makes it fail with ``ENOSPC``.
"""

from __future__ import annotations

import asyncio
import errno
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from state_files import entries

from jsonpersist import JsonPersistence, StateWriteError
from jsonpersist._store import Signature, Store

# The task that runs a round: Rounds._run now, JsonPersistence._run_round before the split.
ROUND_TASKS = frozenset({"Rounds._run", "JsonPersistence._run_round"})
SAFETY = 3.0  # seconds after which a held write goes on anyway, so that no test can hang


class Writes:
    """Patches ``Store.write``: records each call's start and end, holds the first one.

    Attributes:
        events (list[str]): ``"start N"`` and ``"end N"`` for the N-th write, in order.
        release (threading.Event): Lets the held first write go on.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_first: bool = False) -> None:
        self.events: list[str] = []
        self.release = threading.Event()
        self.fail_first = fail_first
        self._started = [threading.Event() for _ in range(8)]
        self._ended = [threading.Event() for _ in range(8)]
        self._lock = threading.Lock()
        self._original = Store.write

        def write(
            store: Store, files: Mapping[str, bytes | Sequence[bytes]], mode: int = 0o600
        ) -> dict[str, Signature]:
            return self._write(store, files, mode)

        monkeypatch.setattr(Store, "write", write)

    def _write(
        self, store: Store, files: Mapping[str, bytes | Sequence[bytes]], mode: int
    ) -> dict[str, Signature]:
        with self._lock:
            number = sum(event.startswith("start") for event in self.events)
            self.events.append(f"start {number}")
        self._started[number].set()
        try:
            if number == 0:
                self.release.wait(SAFETY)
                if self.fail_first:
                    cause = OSError(errno.ENOSPC, "No space left on device")
                    raise StateWriteError(store.path(next(iter(files))), cause)
            return self._original(store, files, mode)
        finally:
            with self._lock:
                self.events.append(f"end {number}")
            self._ended[number].set()

    async def started(self, number: int, timeout: float = SAFETY) -> bool:
        return await asyncio.to_thread(self._started[number].wait, timeout)

    async def ended(self, number: int, timeout: float = SAFETY) -> bool:
        return await asyncio.to_thread(self._ended[number].wait, timeout)


def on_disk(directory: Path) -> dict[Any, Any]:
    path = directory / "user_data.json"
    return entries(path) if path.exists() else {}


async def loaded(directory: Path) -> JsonPersistence[Any, Any, Any]:
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    await persistence.get_user_data()
    return persistence


async def test_a_cancelled_caller_leaves_the_others_the_real_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    persistence = await loaded(tmp_path / "state")
    writes = Writes(monkeypatch, fail_first=True)
    cancelled = asyncio.ensure_future(persistence.update_user_data(1, {"a": 1}))
    other = asyncio.ensure_future(persistence.update_user_data(2, {"b": 2}))
    gathered = asyncio.gather(cancelled, other, return_exceptions=True)  # as PTB does
    assert await writes.started(0)

    cancelled.cancel()
    await asyncio.wait((cancelled,), timeout=1)
    assert cancelled.cancelled(), "the cancelled caller waits for the write it cannot stop"
    assert not other.done()
    assert "end 0" not in writes.events

    writes.release.set()
    results = await gathered
    assert isinstance(results[0], asyncio.CancelledError)
    assert isinstance(results[1], StateWriteError), f"the other caller got {results[1]!r}"
    assert results[1].errno == errno.ENOSPC
    assert on_disk(tmp_path / "state") == {}

    await persistence.flush()  # the failed round's changes are kept for the next save
    assert on_disk(tmp_path / "state")[2] == {"b": 2}


async def test_wait_for_times_out_promptly_and_the_round_still_saves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    persistence = await loaded(tmp_path / "state")
    writes = Writes(monkeypatch)
    begun = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):  # TimeoutError from 3.11 on
        await asyncio.wait_for(persistence.update_user_data(1, {"a": 1}), timeout=0.05)
    waited = time.monotonic() - begun
    assert waited < 1, f"wait_for took {waited:.2f} s: it waited for the held write"
    assert writes.events == ["start 0"]

    writes.release.set()
    assert await writes.ended(0)
    assert on_disk(tmp_path / "state") == {1: {"a": 1}}
    await persistence.flush()
    assert writes.events == ["start 0", "end 0"]


async def test_a_cancelled_caller_is_done_at_once_and_can_be_awaited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    persistence = await loaded(tmp_path / "state")
    writes = Writes(monkeypatch)
    caller = asyncio.ensure_future(persistence.update_user_data(1, {"a": 1}))
    assert await writes.started(0)
    assert caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(caller), timeout=1)
    assert caller.cancelled()
    assert writes.events == ["start 0"]
    writes.release.set()
    await persistence.flush()
    assert on_disk(tmp_path / "state") == {1: {"a": 1}}


async def test_the_round_lock_is_held_until_the_thread_has_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    persistence = await loaded(tmp_path / "state")
    writes = Writes(monkeypatch)
    first = asyncio.ensure_future(persistence.update_user_data(1, {"a": 1}))
    assert await writes.started(0)
    (round_task,) = (task for task in asyncio.all_tasks() if _runs_a_round(task))

    round_task.cancel()
    second = asyncio.ensure_future(persistence.update_user_data(2, {"b": 2}))
    flushing = asyncio.ensure_future(persistence.flush())
    # A second write starting now would run beside the held one.
    assert not await writes.started(1, timeout=0.3), writes.events
    assert not first.done(), "the first caller was told its change is saved before it was"

    writes.release.set()
    await asyncio.wait_for(asyncio.gather(first, second, flushing), timeout=SAFETY * 2)
    assert writes.events == ["start 0", "end 0", "start 1", "end 1"]
    assert round_task.cancelled()
    assert on_disk(tmp_path / "state") == {1: {"a": 1}, 2: {"b": 2}}


def _runs_a_round(task: asyncio.Task[Any]) -> bool:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", "") in ROUND_TASKS


async def test_a_cancelled_round_task_still_hands_its_callers_the_failed_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # asyncio.run() cancels leftover tasks at exit: the round's callers must then get the
    # write's real outcome, not a success for a file that was never written.
    persistence = await loaded(tmp_path)
    writes = Writes(monkeypatch, fail_first=True)
    callers = asyncio.gather(
        persistence.update_user_data(1, {"a": 1}),
        persistence.update_user_data(2, {"b": 2}),
        return_exceptions=True,
    )
    assert await writes.started(0)
    (round_task,) = (task for task in asyncio.all_tasks() if _runs_a_round(task))
    round_task.cancel()
    await asyncio.sleep(0.05)
    writes.release.set()
    outcomes = await callers
    assert [type(outcome) for outcome in outcomes] == [StateWriteError, StateWriteError]
    assert not (tmp_path / "user_data.json").exists()
    await persistence.flush()  # the changes were kept: the next write saves them
    assert on_disk(tmp_path) == {1: {"a": 1}, 2: {"b": 2}}
