"""A persistence's hold on its state directory: ownership, and each category as loaded.

A :class:`Session` opens the directory (the owner lock) when a category is first loaded, keeps
every loaded category's entry lines in a :class:`CategoryState`, and forgets them all when it
closes: whatever another owner, a person or a tool writes while this persistence does not own
the directory is read again before this persistence uses the category again.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Any

from jsonpersist._categories import CATEGORIES, Category
from jsonpersist._entries import EntryCodec, Lines
from jsonpersist._errors import CorruptStateError, JsonPersistError, StateDirectoryError
from jsonpersist._format import FORMAT_VERSION, TAIL, WHOLE, head, rendered_size
from jsonpersist._same import copies
from jsonpersist._store import Signature, Store

__all__ = ("CategoryState", "Session")

# Up to this many changed lines are put in place one by one (a binary search each) when a file
# is laid out; more, and the ordered lines are made again in one pass.
_FEW = 256


class CategoryState:
    """One category as this persistence holds it: its entry lines and what awaits a round.

    Attributes:
        category (:class:`Category`): Which category.
        lines (dict): The entry line of every entry, as the application last handed it over
            (written, or waiting in :attr:`changed` to be written).
        changed (set): The keys whose lines differ from the file since it was last loaded or
            written; a key without a line was removed.
        loaded (:obj:`bool`): Whether :attr:`lines` were read from the file.
        stale (:obj:`bool`): Whether the directory was released since: the file must be read
            again before the category is used (the lines stay, for the data attributes).
        load_error (:class:`~jsonpersist.CorruptStateError` | :obj:`None`): Why the file did not
            load; the category is then never written.
        version (:data:`Signature` | :obj:`None`): The file as last loaded or written.
        staged (dict): Values handed over for the next round, by key.
        generation (:obj:`int`): Grows whenever :attr:`lines` change, so views can be cached.
        copies (dict | :obj:`None`): Of the bot data: a decoded copy of each member's line,
            what a round compares the application's members with (:obj:`None`: encode all).
        rewrite (:obj:`bool`): Whether the next save of the category writes its file even with
            no entry changed: the file is of an older format version, or is still missing.
        present (:obj:`bool`): Whether the file exists or was saved (an empty callback data
            cache is not the same as none).
    """

    __slots__ = (
        "_order",
        "_ordered",
        "_outdated",
        "_size",
        "_sort_key",
        "category",
        "changed",
        "copies",
        "generation",
        "lines",
        "load_error",
        "loaded",
        "present",
        "rewrite",
        "staged",
        "stale",
        "version",
    )

    def __init__(self, category: Category, sort_key: Callable[[Any], Any] | None) -> None:
        self.category = category
        self._sort_key = sort_key  # None: the lines keep the order they were set in
        self.staged: dict[Any, Any] = {}
        self.generation = 0
        self.forget()

    def forget(self) -> None:
        """Drops everything read from the file: it must be loaded again before use."""
        self.lines: Lines = {}
        self._size = 0  # the lines' lengths added up, for the file's size without laying it out
        self._order: list[Any] | None = None  # the keys in file order, once needed
        self._ordered: list[bytes] | None = None  # their lines, in the same order
        self._outdated: set[Any] = set()  # keys whose line in _ordered is an older one
        self.changed: set[Any] = set()
        self.loaded = self.stale = False
        self.load_error: CorruptStateError | None = None
        self.version: Signature | None = None
        self.rewrite = self.present = False
        self.copies: dict[Any, Any] | None = None
        self.generation += 1

    def loaded_from(
        self,
        lines: Lines,
        version: Signature | None,
        file_format: int | None = FORMAT_VERSION,
        ordered: bool = False,
    ) -> None:
        """Takes the lines of the file just read, of the given format (:obj:`None`: no file).

        ``ordered``: the lines are in file order already (no sorting at the first save).
        """
        self.forget()
        self.lines, self.version, self.loaded = lines, version, True
        if ordered:
            self._order, self._ordered = list(lines), list(lines.values())
        self.present = file_format is not None
        self.rewrite = self.present and file_format != FORMAT_VERSION
        self._size = sum(map(len, lines.values()))

    @property
    def dirty(self) -> bool:
        """:obj:`bool`: Whether the file must be written: an entry changed, or its format."""
        return bool(self.changed) or self.rewrite

    def saved(self) -> None:
        """Notes that the application saved the category: its file is to exist from now on."""
        if not self.present:
            self.present = self.rewrite = True

    def written(self) -> None:
        """Notes that the lines are on disk now (in the current format)."""
        self.changed = set()
        self.rewrite = False
        self.present = True

    def set_line(self, key: Any, line: bytes) -> None:
        """Sets one entry's line, noting the change if it is one."""
        old = self.lines.get(key)
        if old != line:
            self.lines[key] = line
            if old is None:
                self._size += len(line)
                self._place(key, line)
            else:
                self._size += len(line) - len(old)
                if self._order is not None:
                    self._outdated.add(key)  # put in place when the file is laid out
            self.changed.add(key)
            self.generation += 1

    def drop_line(self, key: Any) -> None:
        """Removes one entry's line, noting the change if it had one."""
        old = self.lines.pop(key, None)
        if old is not None:
            self._size -= len(old)
            if self._order is not None:
                index = self._index(key)
                del self._order[index]
                del self._ordered[index]  # type: ignore[union-attr]
                self._outdated.discard(key)
            self.changed.add(key)
            self.generation += 1

    def _place(self, key: Any, line: bytes) -> None:
        """Puts a new key into the file order (a sorted category's), or forgets the order."""
        if self._order is None:
            return
        if self._sort_key is None:
            self._order = self._ordered = None  # laid out again from the lines when needed
            return
        index = bisect_right(self._order, self._sort_key(key), key=self._sort_key)
        self._order.insert(index, key)
        self._ordered.insert(index, line)  # type: ignore[union-attr]

    def _index(self, key: Any) -> int:
        """Where a key is in the file order (a binary search in a sorted category)."""
        order = self._order
        assert order is not None
        if self._sort_key is not None:
            index = bisect_left(order, self._sort_key(key), key=self._sort_key)
            if index < len(order) and order[index] == key:
                return index
        return order.index(key)

    def set_lines(self, lines: Lines) -> None:
        """Makes :attr:`lines` equal to ``lines``, entry by entry.

        A category that keeps the order of its members also takes their order.
        """
        for key in self.lines.keys() - lines.keys():
            self.drop_line(key)
        for key, line in lines.items():
            self.set_line(key, line)
        if self._sort_key is None and list(self.lines) != list(lines):
            self.lines = {key: self.lines[key] for key in lines}
            self._order = self._ordered = None
            self.changed.update(lines)  # a move changes the file
            self.generation += 1

    def chunks(self) -> list[bytes]:
        """The file's contents: the header, the lines in file order, the end.

        The lines are kept in file order as they change, so laying the file out copies one
        list (a round at 100,000 entries does not look each of them up again).
        """
        self.order()
        ordered = self._ordered
        assert ordered is not None  # order() made it
        if len(self._outdated) > _FEW:  # a round that changed many: one pass over all lines
            lines = self.lines
            self._ordered = ordered = [lines[key] for key in self._order]  # type: ignore[union-attr]
        else:  # a few changed lines: each found by a binary search
            for key in self._outdated:
                ordered[self._index(key)] = self.lines[key]
        self._outdated.clear()
        return [head(self.category.name), *ordered, TAIL]

    def file_size(self) -> int:
        """The size of the file :meth:`chunks` lays out, without laying it out."""
        return rendered_size(self.category.name, self._size)

    def order(self) -> list[Any]:
        """The keys in file order (sorted once, then kept in order as keys come and go)."""
        if self._order is None:
            self._order = (
                list(self.lines)
                if self._sort_key is None
                else sorted(self.lines, key=self._sort_key)
            )
            self._ordered = [self.lines[key] for key in self._order]
            self._outdated.clear()
        return self._order


class Session:
    """Owns a state directory while categories are loaded, and loads them.

    Args:
        store (:class:`Store`): The state directory.
        entries (:class:`EntryCodec`): Parses the files.
        read_only (:obj:`bool`): Read without taking the directory; saving is refused.

    Attributes:
        states (dict[:obj:`str`, :class:`CategoryState`]): Every category, by name.
        load_lock (:class:`asyncio.Lock`): Held while a category is loaded.
        on_load (Callable, optional): Called in the worker thread with each state just loaded.
    """

    __slots__ = ("entries", "load_lock", "on_load", "read_only", "states", "store")

    def __init__(self, store: Store, entries: EntryCodec, read_only: bool) -> None:
        self.store = store
        self.entries = entries
        self.read_only = read_only
        self.states = {
            name: CategoryState(category, entries.sort_key(category) if category.sorted else None)
            for name, category in CATEGORIES.items()
        }
        self.load_lock = asyncio.Lock()
        self.on_load: Callable[[CategoryState], None] | None = None

    def is_current(self, state: CategoryState) -> bool:
        """Whether the state's lines were read while this persistence uses the directory."""
        return state.loaded and not state.stale and (self.read_only or self.store.is_open)

    async def values(self, name: str) -> Any:
        """PTB's value of a category: read from the file, or from the lines once loaded.

        Raises:
            CorruptStateError: The file does not decode (and will not be written).
        """
        state = self.states[name]
        async with self.load_lock:
            if state.load_error is not None:
                raise state.load_error
            if self.is_current(state):
                path = self.store.path(state.category.file)
                return await asyncio.to_thread(
                    self.entries.decode_lines, state.category, state.lines, path, state.present
                )
            values = await asyncio.to_thread(self._read, state)
        path = self.store.path(state.category.file)
        return self.entries.assemble(state.category, values, path, state.present)

    async def writable(self, name: str) -> CategoryState:
        """A category ready to take changes: the directory owned and the file loaded.

        Raises:
            JsonPersistError: The persistence is read-only.
            CorruptStateError: The file does not decode; it is never overwritten.
        """
        if self.read_only:
            raise JsonPersistError(f"this persistence of {self.store.directory} is read-only")
        state = self.states[name]
        if not self.is_current(state):
            # Never write a file whose other entries this session has not read.
            async with self.load_lock:
                if not self.is_current(state) and state.load_error is None:
                    await asyncio.to_thread(self._read, state)
        if state.load_error is not None:
            raise state.load_error
        return state

    def _read(self, state: CategoryState) -> dict[Any, Any]:
        """Takes the directory and loads a category's file. Runs in a worker thread."""
        if not self.read_only:
            self.store.open()
        path = self.store.path(state.category.file)
        try:
            raw, version = self._read_file(state.category.file)
            parsed = None if raw is None else self.entries.parse(state.category, raw, path)
        except CorruptStateError as exc:
            state.forget()
            state.load_error = exc  # this category is never written again in this session
            self._release_unused()
            raise
        except OSError as exc:  # a failure to read, not the file's fault: not remembered
            self._release_unused()
            raise StateDirectoryError(
                path,
                f"cannot be read: {exc.strerror or exc}; check the file's permissions and the "
                "file system, then start again",
                exc,
            ) from exc
        if parsed is None:
            state.loaded_from({}, version, None)
        else:
            state.loaded_from(parsed.lines, version, parsed.version, parsed.ordered)
            if self.read_only:
                state.rewrite = False  # a version-1 file stays as it is: this one never writes
            if state.category.keeps_copies and WHOLE not in parsed.lines:
                state.copies = copies(parsed.values, shared=True)
        if self.on_load is not None:
            self.on_load(state)
        return {} if parsed is None else parsed.values

    def _read_file(self, name: str) -> tuple[bytes | None, Signature | None]:
        """A state file's bytes and version; read-only, as a pending journal decided them.

        The owner completes a journal a crash left; a read-only persistence does not, and
        reads the new file the journal names instead of the state file it replaces (or the
        state file, once renamed meanwhile), never a mix of two rounds within one file's place.
        """
        if self.read_only:
            decided = self.store.pending_moves().get(name)
            if decided is not None:
                raw, version = self.store.read_version(decided)
                if raw is not None:  # the rename keeps the inode: the same version after it
                    return raw, version
        return self.store.read_version(name)

    def _release_unused(self) -> None:
        """Releases the directory after a failed first load.

        The application does not start on it (``Application.initialize()`` raises): another
        attempt in this process must not find the directory taken.
        """
        if not any(other.loaded for other in self.states.values()):
            self.store.close()

    def close(self) -> None:
        """Releases the directory: every category is read again before its next use."""
        self.store.close()
        for state in self.states.values():
            if state.load_error is not None:
                state.forget()  # the file may be fixed by then
            state.stale = True
