"""Watch mode: hand edits of the state files reach the running bot, and saves merge them.

Exists only with ``JsonPersistence(..., watch=True)``. It hooks into the session (a category
was loaded), the rounds (before a file is written, after it was written) and PTB's
``refresh_*`` calls; the default path never runs any of it.

The merge rule: an entry that differs between the file on disk and the version this
persistence last loaded or wrote was changed by someone else, and their version wins; every
other entry keeps the bot's version. A malformed edit is never overwritten: the category is not
written until the file is fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jsonpersist._categories import BOT_DATA, CALLBACK_DATA, CONVERSATIONS
from jsonpersist._entries import Lines
from jsonpersist._errors import CorruptStateError
from jsonpersist._format import WHOLE
from jsonpersist._rounds import DROP, Rounds, run_to_completion
from jsonpersist._session import CategoryState, Session
from jsonpersist._store import Signature

__all__ = ("Watcher",)


class _Watched:
    """What watch mode knows of one category file."""

    __slots__ = ("base", "edit_error", "incoming")

    def __init__(self) -> None:
        # The lines of the file as last loaded, written or merged: the base of a merge.
        self.base: Lines = {}
        # Entries someone else changed that the application has not been given yet.
        self.incoming: dict[Any, Any] = {}
        # A malformed edit: the category is not written until the file changes again.
        self.edit_error: CorruptStateError | None = None


class Watcher:
    """Picks up other people's edits of the state files and merges them before writing.

    Args:
        session (:class:`Session`): The categories; told to report every load.
        rounds (:class:`Rounds`): The rounds; given this watcher's write hooks.
        on_conversations (Callable): Called with a handler's name and its edited states (or
            ``DROP``): PTB cannot hand a running ``ConversationHandler`` new states, so the
            persistence keeps them for its next save.
    """

    __slots__ = ("_files", "_on_conversations", "_rounds", "_session")

    def __init__(
        self, session: Session, rounds: Rounds, on_conversations: Callable[[str, Any], None]
    ) -> None:
        self._session = session
        self._rounds = rounds
        self._on_conversations = on_conversations
        self._files = {name: _Watched() for name in session.states}
        session.on_load = self._loaded
        rounds.hooks = self

    # -------------------------------------------------------------------- hooks (thread)

    def _loaded(self, state: CategoryState) -> None:
        watched = self._files[state.category.name] = _Watched()
        watched.base = dict(state.lines)

    def before_write(self, state: CategoryState) -> CorruptStateError | None:
        """Merges an edit made since the last load or write; returns a malformed edit's error."""
        watched = self._files[state.category.name]
        self._pick_up(state, watched)
        return watched.edit_error

    def pending_edits(self, state: CategoryState) -> set[Any]:
        """The keys someone else changed that the application has not been given yet.

        The application's copy of such an entry predates the edit: a save keeps the edit.
        """
        return set(self._files[state.category.name].incoming)

    def after_commit(self, state: CategoryState, keys: set[Any]) -> None:
        """The lines of ``keys`` are on disk now: they are the base of the next merge."""
        base = self._files[state.category.name].base
        for key in keys:
            line = state.lines.get(key)
            if line is None:
                base.pop(key, None)
            else:
                base[key] = line

    # ------------------------------------------------------------------ refresh (event loop)

    async def refresh_entry(self, name: str, key: int, target: Any) -> None:
        """Gives a user's or chat's data (``target``, in place) what someone else wrote."""
        incoming = await self._edits(name)
        if key in incoming:
            async with self._rounds.lock:  # a round decides about the edit by this key
                value = incoming.pop(key, DROP)
            _replace_contents(target, {} if value is DROP else value)

    async def refresh_bot_data(self, target: Any) -> None:
        """Gives the bot data (``target``, in place) the members someone else changed.

        The other members keep the application's values, unsaved changes included.
        """
        incoming = await self._edits(BOT_DATA.name)
        if not incoming:
            return
        if WHOLE in incoming or WHOLE in self._session.states[BOT_DATA.name].lines:
            _replace_contents(target, await self._take_whole(BOT_DATA.name))
            return
        async with self._rounds.lock:
            edits = dict(incoming)
            incoming.clear()
        for member, value in edits.items():
            if value is DROP:
                target.pop(member, None)
            else:
                target[member] = value

    async def refresh_callback_data(self, bot: Any) -> None:
        """Replaces the contents of the bot's callback data cache by an edit of its file."""
        cache = getattr(bot, "callback_data_cache", None)
        if cache is None or not await self._edits(CALLBACK_DATA.name):
            return
        data = await self._take_whole(CALLBACK_DATA.name)
        cache.clear_callback_data()
        cache.clear_callback_queries()
        if data is not None:
            cache.load_persistence_data(data)

    async def _edits(self, name: str) -> dict[Any, Any]:
        """The edits waiting for the application, after one ``stat`` of the file."""
        state, watched = self._session.states[name], self._files[name]
        if not self._session.is_current(state):
            return {}
        if self._session.store.signature(state.category.file) != state.version:
            async with self._rounds.lock:
                await run_to_completion(self._pick_up, state, watched)
        return watched.incoming

    async def _take_whole(self, name: str) -> Any:
        """A value category's whole value, now that edits of it were handed over."""
        state = self._session.states[name]
        self._files[name].incoming.clear()
        path = self._session.store.path(state.category.file)
        return await run_to_completion(
            self._session.entries.decode_lines, state.category, dict(state.lines), path
        )

    # ------------------------------------------------------------------- merging (thread)

    def _pick_up(self, state: CategoryState, watched: _Watched) -> None:
        """Merges the file into the state's lines if it is not the version last seen."""
        version = self._session.store.signature(state.category.file)
        if version != state.version:
            self._merge(state, watched, version)

    def _merge(self, state: CategoryState, watched: _Watched, version: Signature | None) -> None:
        store, category = self._session.store, state.category
        path = store.path(category.file)
        try:
            raw, version = store.read_version(category.file)
            theirs, values = (
                ({}, {}) if raw is None else self._session.entries.parse(category, raw, path)
            )
        except CorruptStateError as exc:
            state.version, watched.edit_error = version, exc
            return
        base, watched.base = watched.base, theirs
        state.version, watched.edit_error = version, None
        for key in base.keys() | theirs.keys():
            if theirs.get(key) == base.get(key):
                continue
            if category is CONVERSATIONS and key in theirs and key in state.lines:
                # Both changed one handler: merge per conversation, the person's first.
                merged = self._merge_states(state, key, base.get(key), values[key])
                state.set_line(key, self._session.entries.encode(category, key, merged))
                watched.incoming[key] = merged
            elif key in theirs:
                state.set_line(key, theirs[key])
                watched.incoming[key] = values[key]
            else:
                state.drop_line(key)
                watched.incoming[key] = DROP
            state.changed.add(key)  # written back canonically with the bot's other changes
        if category is CONVERSATIONS:
            for name in list(watched.incoming):
                self._on_conversations(name, watched.incoming.pop(name))

    def _merge_states(
        self, state: CategoryState, name: str, base: bytes | None, theirs: dict[Any, Any]
    ) -> dict[Any, Any]:
        """Three-way merge of one handler's conversations: theirs, plus our other changes."""
        entries, path = self._session.entries, self._session.store.path(state.category.file)
        before, mine = (
            entries.decode_line(state.category, name, line, path) if line else {}
            for line in (base, state.lines[name])
        )
        merged = dict(theirs)
        for key in before.keys() | mine.keys():
            if mine.get(key) != before.get(key) and theirs.get(key) == before.get(key):
                if key in mine:
                    merged[key] = mine[key]
                else:
                    merged.pop(key, None)
        return merged


def _replace_contents(target: Any, value: Any) -> None:
    """Gives the application's object (which handlers hold) new contents, in place."""
    target.clear()
    target.update(value)
