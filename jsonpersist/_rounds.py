"""Save rounds: the updates of one ``asyncio.gather`` staged, encoded and written together.

PTB's ``update_persistence()`` calls ``update_user_data()`` and friends for everything that
changed, all in one ``asyncio.gather``. Each call *stages* its change and waits; the first one
starts a *round*, which lets the loop turn so that every other call of the gather is staged
too, then encodes only the staged entries and writes every changed file in one
:meth:`Store.write` (all or nothing), in a worker thread. Each caller then gets its own
outcome: a value that cannot be stored fails only its own entry.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from jsonpersist._errors import (
    CorruptStateError,
    JsonPersistError,
    StateWriteError,
    UnsupportedTypeError,
)
from jsonpersist._format import WHOLE
from jsonpersist._same import changed_chunks, changed_members
from jsonpersist._session import CategoryState, Session
from jsonpersist._store import Signature

__all__ = ("DROP", "Rounds", "WriteHooks", "run_to_completion")

T = TypeVar("T")
#: Staged in place of a value: the entry is to be removed.
DROP: Any = object()
_ALL = object()
# With watch mode, the writes of one round when edits keep landing during them; changes still
# unwritten then wait, merged, for the next round.
_WRITES_PER_ROUND = 4  # the key of an error that concerns every entry of a category


async def run_to_completion(function: Callable[..., T], *args: Any) -> T:
    """Runs ``function`` in a worker thread and waits for its end, even when cancelled.

    A thread cannot be stopped: a caller cancelled while it writes must not release the locks
    the thread relies on. The cancellation is raised once the thread is done.
    """
    future = asyncio.get_running_loop().run_in_executor(None, function, *args)
    cancelled = False
    while not future.done():
        try:
            await asyncio.wait((future,))  # unlike await future, never cancels it
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return future.result()


class WriteHooks(Protocol):
    """What watch mode adds around the writing of a category file."""

    def before_write(self, state: CategoryState) -> CorruptStateError | None:
        """Merges an edit made since the last load or write; returns what blocks writing."""

    def committed(self, state: CategoryState, version: Signature) -> None:
        """Notes that the state's lines are on disk now, as ``version``."""

    def pending_edits(self, state: CategoryState) -> set[Any]:
        """The keys someone else changed that the application has not been given yet."""


class _Round:
    """The changes staged while one gather of updates runs, and their outcome."""

    __slots__ = ("done", "errors", "task", "waiters")

    def __init__(self) -> None:
        self.done = asyncio.get_running_loop().create_future()
        self.errors: dict[tuple[str, Any], BaseException] = {}
        self.task: asyncio.Task[None] | None = None  # referenced, so that it is not collected
        # One future per caller: a caller cancelled cancels its own, never the round's. (Cheaper
        # than asyncio.shield, which makes a future and two closures per call: at 100,000
        # updates in one gather that is garbage enough to set off the collector.)
        self.waiters: list[asyncio.Future[None]] = []

    def finish(self) -> None:
        """Wakes every caller still waiting, and whoever waits for the round."""
        self.done.set_result(None)
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)

    def error_for(self, name: str, key: Any) -> BaseException | None:
        return self.errors.get((name, key)) or self.errors.get((name, _ALL))


class Rounds:
    """Saves staged updates in rounds, and whatever is left at :meth:`flush`.

    Args:
        session (:class:`Session`): The categories and the directory.
        on_flush (:obj:`bool`): Encode in rounds, but write only at :meth:`flush`.
        enabled (frozenset[:obj:`str`]): The categories to save; updates of others do nothing.

    Attributes:
        hooks (:class:`WriteHooks` | :obj:`None`): Watch mode's hooks, if on.
    """

    __slots__ = ("_enabled", "_lock", "_next", "_session", "hooks", "on_flush")

    def __init__(self, session: Session, on_flush: bool, enabled: frozenset[str]) -> None:
        self._session = session
        self._enabled = enabled
        self.on_flush = on_flush
        self.hooks: WriteHooks | None = None
        self._next: _Round | None = None
        self._lock = asyncio.Lock()  # one writer at a time: a round, a flush or a merge

    @property
    def lock(self) -> asyncio.Lock:
        """:class:`asyncio.Lock`: Held while category lines are encoded, merged or written."""
        return self._lock

    async def save(self, name: str, key: Any, value: Any) -> None:
        """Stages one change and returns when its round saved it.

        Raises:
            UnsupportedTypeError: The value cannot be stored; the entry keeps its last line.
            CorruptStateError: The category's file did not load, or (watch mode) a person's
                malformed edit of it waits to be fixed.
            StateWriteError: The files could not be written; the previous files are intact.
        """
        if name not in self._enabled:
            return
        session = self._session
        state = session.states[name]
        if session.read_only or state.load_error is not None or not session.is_current(state):
            state = await session.writable(name)  # loads it first, or raises why it cannot
        if state.copies is not None and await self._unchanged(state, value):
            return  # the bot data PTB hands over every round, unchanged: nothing to save
        state.staged[key] = value
        round_ = self._next
        loop = asyncio.get_running_loop()
        if round_ is None:
            round_ = self._next = _Round()
            round_.task = loop.create_task(self._run(round_))
        waiter: asyncio.Future[None] = loop.create_future()
        round_.waiters.append(waiter)
        await waiter
        error = round_.error_for(name, key)
        if error is not None:
            raise error

    async def _unchanged(self, state: CategoryState, value: Any) -> bool:
        """Whether a bot data is certainly what its file holds, compared on the event loop.

        PTB hands over the whole bot data every round, mostly unchanged. Comparing it with the
        copies here, a chunk of members at a time with a turn of the loop between chunks, costs
        what PTB's own PicklePersistence's ``==`` does, without a round and its worker thread.
        Anything else going on (a round, an edit, a change of the lines meanwhile) answers
        :obj:`False`, and the value is saved the usual way.

        Raises:
            UnsupportedTypeError: The value is not of the category's shape.
        """
        members = self._session.entries.members(state.category, value)
        copies, generation = state.copies, state.generation
        if (
            copies is None
            or type(members) is not dict
            or len(members) != len(state.lines)
            or state.dirty
            or state.staged
            or self.hooks is not None
            or not state.present
        ):
            return False
        for found in changed_chunks(members, copies):
            if found:
                return False
            if self._lock.locked() or self._next is not None or state.generation != generation:
                return False
            await asyncio.sleep(0)
        return (
            state.copies is copies
            and state.generation == generation
            and not self._lock.locked()
            and self._next is None
        )

    async def _run(self, round_: _Round) -> None:
        # Every coroutine of the gather that started this round stages its change before this
        # task runs; one more turn of the loop lets stragglers in too, and so does waiting for
        # callers that queued behind a first load of their category.
        await asyncio.sleep(0)
        async with self._session.load_lock:
            pass
        await asyncio.sleep(0)
        self._next = None
        batch = {}
        for state in self._session.states.values():
            if state.staged:
                batch[state.category.name] = state.staged
                state.staged = {}
        try:
            async with self._lock:
                await run_to_completion(self._save_batch, batch, round_.errors)
        except Exception as exc:
            round_.errors.update({(name, _ALL): exc for name in batch})
        finally:
            # Also when this task was cancelled: the thread has finished, and its outcome is
            # in round_.errors, so no caller is told "saved" for a write that failed.
            round_.finish()

    def _save_batch(
        self, batch: dict[str, dict[Any, Any]], errors: dict[tuple[str, Any], BaseException]
    ) -> None:
        """Encodes a round's changes and writes the changed files. Runs in a worker thread.

        The outcome goes into ``errors`` as it comes, so that it is there even if the task
        waiting for this thread was cancelled meanwhile.
        """
        for name, entries in batch.items():
            self._encode(self._session.states[name], entries, errors)
        states = [self._session.states[name] for name in batch]
        for name, error in self._write(states, commit=not self.on_flush):
            errors[(name, _ALL)] = error

    def _encode(
        self, state: CategoryState, entries: dict[Any, Any], errors: dict[tuple[str, Any], Any]
    ) -> None:
        """Encodes staged entries into the state's lines; only those are touched.

        An entry that cannot be encoded keeps its last good line, and only its caller fails.
        """
        category, codec = state.category, self._session.entries
        # With watch mode: an entry someone else changed wins over the application's copy,
        # which was made before the edit reached it.
        edited = self.hooks.pending_edits(state) if self.hooks is not None else set()
        for key, value in entries.items():
            try:
                if key in edited:
                    continue
                if value is DROP:
                    state.drop_line(key)
                elif category.keyed:
                    state.set_line(key, codec.encode(category, key, value))
                else:
                    self._encode_members(state, value, edited)
            except UnsupportedTypeError as exc:
                errors[(category.name, key)] = exc

    def _encode_members(self, state: CategoryState, value: Any, edited: set[Any]) -> None:
        """Encodes the members of bot or callback data; the bot data's changed ones only.

        Raises:
            UnsupportedTypeError: A member cannot be stored; no line is changed.
        """
        category, codec = state.category, self._session.entries
        members = codec.members(category, value)
        state.saved()
        copies = state.copies
        if (
            WHOLE in members or WHOLE in state.lines
        ):  # a bot data that is not a dict, now or before
            copies = state.copies = None
        if copies is None:  # callback data, a bot data that is not a dict, or no copies yet
            lines = {key: codec.encode_stored(category, key, m) for key, m in members.items()}
            for member in edited:
                _keep_line(lines, state.lines, member)
            state.set_lines(lines)
            if category.keeps_copies and WHOLE not in lines:
                state.copies = codec.copies(category, state.lines)
            return
        changed = [key for key in changed_members(members, copies) if key not in edited]
        lines = {key: codec.encode_stored(category, key, members[key]) for key in changed}
        added = sum(1 for key in changed if key not in state.lines)
        if len(state.lines) + added != len(members):  # members removed (or edits pending)
            for key in [key for key in state.lines if key not in members]:
                copies.pop(key, None)
                if key not in edited:
                    state.drop_line(key)
        for key, line in lines.items():
            if state.lines.get(key) != line or key not in copies:
                state.set_line(key, line)
                copies.pop(key, None)  # the new value may have no copy: never keep the old
                copies.update(codec.copies(category, {key: line}))

    def _write(
        self, states: list[CategoryState], commit: bool = True
    ) -> list[tuple[str, JsonPersistError]]:
        """Writes the changed categories in one :meth:`Store.write`; returns what failed.

        With watch mode, an edit made since the last write is merged first, a category whose
        file someone left malformed is not written (its changes stay in memory), and an edit
        that lands during the write is merged and written in one more write. With
        ``commit=False`` (``on_flush``) only the first merge runs.
        """
        failed: list[tuple[str, JsonPersistError]] = []
        for _ in range(_WRITES_PER_ROUND):
            ready = self._ready(states, commit, failed)
            if not ready:
                break
            states = self._commit(ready, failed)
            if not states:
                break
        return failed

    def _ready(
        self, states: list[CategoryState], commit: bool, failed: list[tuple[str, Any]]
    ) -> dict[CategoryState, list[bytes]]:
        """The categories to write now, each with its file's contents."""
        ready = {}
        for state in states:
            blocked = self.hooks.before_write(state) if self.hooks is not None else None
            if blocked is not None:
                failed.append((state.category.name, blocked))
            elif state.dirty and commit:
                too_large = self._too_large(state)
                if too_large is not None:
                    failed.append((state.category.name, too_large))
                else:
                    ready[state] = state.chunks()
        return ready

    def _commit(
        self, ready: dict[CategoryState, list[bytes]], failed: list[tuple[str, Any]]
    ) -> list[CategoryState]:
        """Writes the files in one go; returns the categories to write again (a raced edit)."""
        store = self._session.store
        files = {state.category.file: chunks for state, chunks in ready.items()}
        raced: set[str] = set()
        try:
            if self.hooks is None:
                versions = store.write(files)
            else:  # never over a file someone wrote since before_write() looked
                versions, raced = store.swap(files, {s.category.file: s.version for s in ready})
        except JsonPersistError as exc:
            failed.extend((state.category.name, exc) for state in ready)
            return []
        again = []
        for state in ready:
            if state.category.file in raced:
                again.append(state)  # not written: merged by before_write() next time
            elif self.hooks is not None:
                self.hooks.committed(state, versions[state.category.file])
            else:
                state.version = versions[state.category.file]
                state.written()
        return again

    def _too_large(self, state: CategoryState) -> StateWriteError | None:
        """Refuses a file that a load with the same ``max_file_size`` would refuse."""
        store, size = self._session.store, state.file_size()
        if size <= store.max_file_size:
            return None
        cause = OSError(
            errno.EFBIG,
            f"it would be {size:,} bytes, more than max_file_size ({store.max_file_size:,}), "
            "and the next start would refuse it; raise max_file_size",
        )
        return StateWriteError(store.path(state.category.file), cause)

    async def flush(self) -> None:
        """Writes every change not on disk yet (after the round under way, if any).

        Raises:
            StateWriteError: A file could not be written; the changes stay in memory.
            CorruptStateError: (watch mode) A person's malformed edit keeps a category from
                being written; the file is left as it is.
        """
        if self._next is not None:
            await asyncio.shield(self._next.done)
        async with self._lock:
            states = [state for state in self._session.states.values() if state.dirty]
            if states:
                failed = await run_to_completion(self._write, states)
                if failed:
                    raise failed[0][1]


def _keep_line(lines: dict[Any, bytes], current: dict[Any, bytes], key: Any) -> None:
    """Keeps a member's current line (or its absence) in a value's new lines."""
    if key in current:
        lines[key] = current[key]
    else:
        lines.pop(key, None)
