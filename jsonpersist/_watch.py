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
from pathlib import Path
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

    __slots__ = ("_known", "base", "edit_error", "incoming")

    def __init__(self, base: Lines | None = None) -> None:
        # The lines of the file as last loaded, written or merged: the base of a merge.
        self.base: Lines = {} if base is None else base
        # The key of each line of base (without its newline), made when first needed.
        self._known: dict[bytes, Any] | None = None
        # Entries someone else changed that the application has not been given yet.
        self.incoming: dict[Any, Any] = {}
        # A malformed edit: the category is not written until the file changes again.
        self.edit_error: CorruptStateError | None = None

    def known(self) -> dict[bytes, Any]:
        """The key of each line of :attr:`base`, by the line without its newline."""
        if self._known is None:
            self._known = {line[:-1]: key for key, line in self.base.items()}
        return self._known

    def set_base(self, key: Any, line: bytes | None) -> None:
        """Changes one entry of the base (:obj:`None`: removes it)."""
        old = self.base.pop(key, None)
        if self._known is not None and old is not None:
            self._known.pop(old[:-1], None)
        if line is not None:
            self.base[key] = line
            if self._known is not None:
                self._known[line[:-1]] = key

    def replace_base(self, base: Lines) -> None:
        """Takes a whole new base."""
        self.base, self._known = base, None


class _Edit:
    """Someone's version of a file, and the entries they changed: key -> (line, value)."""

    __slots__ = ("changes", "keys", "theirs", "whole")

    def __init__(self, theirs: Lines, keys: set[Any], whole: bool) -> None:
        self.theirs = theirs  # their lines: all, or (not whole) those of the changed entries
        self.keys = keys  # the entries that differ from the base
        self.whole = whole  # whether the whole file was parsed (else only changed lines)
        self.changes: dict[Any, tuple[bytes | None, Any]] = {}


class Watcher:
    """Picks up other people's edits of the state files and merges them before writing.

    Args:
        session (:class:`Session`): The categories; told to report every load.
        rounds (:class:`Rounds`): The rounds; given this watcher's write hooks.
        on_conversations (Callable): Called when conversations were edited (PTB cannot hand a
            running ``ConversationHandler`` new states; the file keeps the edit, and the bot's
            later saves touch only the conversations they change).
    """

    __slots__ = ("_files", "_on_conversations", "_rounds", "_session")

    def __init__(
        self, session: Session, rounds: Rounds, on_conversations: Callable[[], None]
    ) -> None:
        self._session = session
        self._rounds = rounds
        self._on_conversations = on_conversations
        self._files = {name: _Watched() for name in session.states}
        session.on_load = self._loaded
        rounds.hooks = self

    # -------------------------------------------------------------------- hooks (thread)

    def _loaded(self, state: CategoryState) -> None:
        watched = self._files[state.category.name] = _Watched(dict(state.lines))
        watched.known()  # made here, in the loading thread, not at the first edit

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

    def committed(self, state: CategoryState, version: Signature) -> None:
        """The changed lines are on disk now: they are the base of the next merge."""
        watched = self._files[state.category.name]
        state.version = version
        for key in state.changed:
            watched.set_base(key, state.lines.get(key))
        state.written()

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
            self._session.entries.decode_lines,
            state.category,
            dict(state.lines),
            path,
            state.present,
        )

    # ------------------------------------------------------------------- merging (thread)

    def _pick_up(self, state: CategoryState, watched: _Watched) -> None:
        """Merges the file into the state's lines if it is not the version last seen."""
        version = self._session.store.signature(state.category.file)
        if version != state.version:
            self._merge(state, watched, version)

    def _merge(self, state: CategoryState, watched: _Watched, version: Signature | None) -> None:
        """Merges the file someone changed into the state's lines; notes a malformed one."""
        store, category = self._session.store, state.category
        try:
            raw, version = store.read_version(category.file)
            edit = self._edit_from(state, watched, raw)
        except CorruptStateError as exc:
            state.version, watched.edit_error = version, exc
            return
        if edit.whole:
            watched.replace_base(edit.theirs)
        else:
            for key in edit.keys:
                watched.set_base(key, edit.theirs.get(key))
        state.version, watched.edit_error = version, None
        self._apply(state, watched, edit)

    def _edit_from(self, state: CategoryState, watched: _Watched, raw: bytes | None) -> _Edit:
        """What someone changed: the entries of ``raw`` that differ from the base.

        Only the lines that differ from the base are parsed, when the file still has one
        entry a line; otherwise the whole file is.

        Raises:
            CorruptStateError: ``raw`` does not load.
        """
        category, entries, base = state.category, self._session.entries, watched.base
        path = self._session.store.path(category.file)
        found = (
            None
            if raw is None
            else entries.parse_changes(category, raw, path, base, watched.known())
        )
        if found is not None:
            theirs, values, keys = found
            edit = _Edit(theirs, keys, whole=False)
        else:
            parsed = None if raw is None else entries.parse(category, raw, path)
            theirs, values = ({}, {}) if parsed is None else (parsed.lines, parsed.values)
            keys = {key for key in base.keys() | theirs.keys() if theirs.get(key) != base.get(key)}
            edit = _Edit(theirs, keys, whole=True)
        for key in keys:
            ours = state.lines.get(key)
            if key in theirs and ours is not None and ours != base.get(key):
                # Both changed this entry: merge inside it, the person's values first.
                merged = self._merge_entry(state, key, base.get(key), ours, theirs[key])
                encode = entries.encode if category.keyed else entries.encode_stored
                line = encode(category, key, merged)
                value = entries.entry_of(category, key, line, self._path(state))
                edit.changes[key] = (line, value)
            elif key in theirs:
                edit.changes[key] = (theirs[key], values[key])
            else:
                edit.changes[key] = (None, DROP)
        return edit

    def _path(self, state: CategoryState) -> Path:
        return self._session.store.path(state.category.file)

    def _apply(self, state: CategoryState, watched: _Watched, edit: _Edit) -> None:
        """Puts someone's changed entries into the lines, and aside for the application."""
        for key, (line, value) in edit.changes.items():
            if line is None:
                state.drop_line(key)
            else:
                state.set_line(key, line)
            state.changed.add(key)  # written back canonically with the bot's other changes
            if state.copies is not None:
                state.copies.pop(key, None)  # compared again by encoding it
            if state.category is CONVERSATIONS:
                self._on_conversations()  # PTB's handlers keep their own states
            else:
                watched.incoming[key] = value

    def _merge_entry(
        self, state: CategoryState, key: Any, base: bytes | None, ours: bytes, theirs: bytes
    ) -> Any:
        """Three-way merge of one entry both sides changed since ``base``."""
        entries, path = self._session.entries, self._path(state)
        before, mine, yours = (
            entries.decode_line(state.category, key, line, path) if line else _MISSING
            for line in (base, ours, theirs)
        )
        return merge3(before, mine, yours)


_MISSING: Any = object()


def merge3(base: Any, ours: Any, theirs: Any) -> Any:
    """Merges two versions of a value changed from ``base``; the person's (``theirs``) wins.

    Plain dicts (user and chat data, a handler's conversations, a bot data member) are merged
    key by key, recursively: a key only one side changed takes that side's value, a key both
    changed takes theirs. Anything else is replaced whole by theirs. :data:`_MISSING` stands for
    an absent value (a key one side added or removed).
    """
    if not (type(ours) is dict and type(theirs) is dict):
        return theirs
    before = base if type(base) is dict else {}
    merged = {}
    for key in theirs.keys() | ours.keys():
        old, mine, yours = (side.get(key, _MISSING) for side in (before, ours, theirs))
        if _same(yours, old):
            value = mine
        elif _same(mine, old):
            value = yours
        else:
            value = merge3(old, mine, yours)
        if value is not _MISSING:
            merged[key] = value
    return merged


def _same(left: Any, right: Any) -> bool:
    if left is _MISSING or right is _MISSING:
        return left is right
    try:
        return bool(left == right)
    except Exception:
        return False


def _replace_contents(target: Any, value: Any) -> None:
    """Gives the application's object (which handlers hold) new contents, in place."""
    target.clear()
    target.update(value)
