"""A whole state directory, for the tools: read it, write a whole state, copy its files.

The command line and the pickle converter use these instead of a bot's persistence. Reading
takes no lock, so it works while a bot runs, and it sees a round that a crash left half-renamed
(a pending redo journal) as the journal decided it. Writing takes the directory like a bot
would (refusing one that a running bot owns) and replaces every file in one atomic save.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonpersist._categories import CATEGORIES, Category
from jsonpersist._entries import EntryCodec, Lines
from jsonpersist._errors import CorruptStateError, StateWriteError, UnsupportedTypeError
from jsonpersist._format import render_chunks
from jsonpersist._journal import JOURNAL
from jsonpersist._store import BOOKKEEPING, GITIGNORE, Store

__all__ = (
    "UNFINISHED_ROUND",
    "State",
    "copy_files",
    "has_pending_round",
    "holds_files",
    "install_files",
    "read_state",
    "round_files",
    "undecodable",
    "write_state",
)

#: What to do about a redo journal that a crash left behind.
UNFINISHED_ROUND = (
    "an unfinished save (a redo journal a crash left behind); start the bot (or any "
    "JsonPersistence) on the directory once to complete it, then retry"
)


@dataclass(slots=True)
class State:
    """The five categories, decoded, as PTB holds them."""

    user_data: dict[int, Any] = field(default_factory=dict)
    chat_data: dict[int, Any] = field(default_factory=dict)
    bot_data: Any = field(default_factory=dict)
    callback_data: Any = None
    conversations: dict[str, dict[Any, Any]] = field(default_factory=dict)
    #: The format version each category's file was read in (files that exist only).
    versions: dict[str, int] = field(default_factory=dict)


def holds_files(directory: Path) -> bool:
    """Whether a directory exists and has anything but jsonpersist's own lock and ignore files.

    Raises:
        NotADirectoryError: ``directory`` is something else.
    """
    if not directory.exists():
        return False
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} exists and is not a directory")
    return any(entry.name not in BOOKKEEPING for entry in os.scandir(directory))


def has_pending_round(directory: Path) -> bool:
    """Whether a crash left a round half-renamed (a redo journal) in the directory."""
    return bool(Store(directory, create=False).pending_moves())


def read_state(
    directory: Path,
    entries: EntryCodec,
    names: tuple[str, ...] | list[str] = tuple(CATEGORIES),
    *,
    one_round: bool = False,
) -> tuple[State, dict[str, CorruptStateError]]:
    """Decodes the categories of a state directory without taking it from a running bot.

    Args:
        directory (:class:`pathlib.Path`): The state directory; it is not created.
        entries (:class:`EntryCodec`): The application's codec and context types.
        names (Sequence[:obj:`str`], optional): The categories to read. Default: all.
        one_round (:obj:`bool`, optional): Read under the directory's round lock, so that the
            categories of a running bot are read as of one save. Default: :obj:`False`.

    Returns:
        tuple[:class:`State`, dict[:obj:`str`, :class:`~jsonpersist.CorruptStateError`]]:
        The decoded state and the error of each category that does not decode.
    """
    store = Store(directory, create=False)
    state, problems = State(), {}
    # Taking the lock would create a missing directory: there is nothing to lock there.
    locked = one_round and directory.is_dir()
    with store.round_lock() if locked else contextlib.nullcontext():
        moves = store.pending_moves()
        for name in names:
            try:
                setattr(
                    state, name, _read_category(store, entries, CATEGORIES[name], moves, state)
                )
            except CorruptStateError as exc:
                problems[name] = exc
    return state, problems


def _read_category(
    store: Store, entries: EntryCodec, category: Category, moves: dict[str, str], state: State
) -> Any:
    raw = None
    if category.file in moves:  # the round a crash interrupted is decided: its file counts
        raw = store.read(moves[category.file])
    if raw is None:  # (or it was renamed into place meanwhile)
        raw = store.read(category.file)
    path = store.path(category.file)
    if raw is None:
        return entries.assemble(category, {}, path, present=False)
    parsed = entries.parse(category, raw, path)
    state.versions[category.name] = parsed.version
    return entries.assemble(category, parsed.values, path)


def write_state(directory: Path, state: State, entries: EntryCodec) -> list[BaseException]:
    """Makes a state directory hold exactly ``state``, in one atomic save.

    Args:
        directory (:class:`pathlib.Path`): The state directory, created if missing.
        state (:class:`State`): What it is to hold.
        entries (:class:`EntryCodec`): The application's codec and context types.

    Returns:
        list[:class:`BaseException`]: The values that cannot be stored; when there are any,
        nothing was written.

    Raises:
        StateLockedError: A running bot owns the directory.
        CorruptStateError: A state file in the directory does not decode; it is left alone.
        StateWriteError: The files could not be written; the previous files are intact.
    """
    store = Store(directory)
    store.open()
    try:
        files: dict[str, list[bytes]] = {}
        errors: list[BaseException] = []
        for name, category in CATEGORIES.items():
            raw = store.read(category.file)
            if raw is not None:  # never replace a file nobody could read
                entries.parse(category, raw, store.path(category.file))
            value = getattr(state, name)
            lines = _encode_category(entries, category, value, errors)
            if lines or raw is not None or not _reads_as_missing(entries, category, value):
                files[category.file] = render_chunks(name, lines, entries.order(category, lines))
        if errors:
            return errors
        if files:
            store.write(files)
        return []
    finally:
        store.close()


def _reads_as_missing(entries: EntryCodec, category: Category, value: Any) -> bool:
    """Whether an empty ``value`` is what no file reads as (an empty cache is not: ``None`` is).

    Only called for a value without lines, so the comparison is cheap.
    """
    return bool(value == entries.assemble(category, {}, Path(category.file), present=False))


def _encode_category(
    entries: EntryCodec, category: Category, value: Any, errors: list[BaseException]
) -> Lines:
    """The lines of a category's whole value; the values that cannot be stored go to errors."""
    if value is None:
        return {}
    try:
        members = category.split(value) if category.keyed else entries.members(category, value)
    except UnsupportedTypeError as exc:
        errors.append(exc)
        return {}
    lines = {}
    for key, member in members.items():
        try:
            if category.keyed:
                lines[key] = entries.encode(category, key, member)
            else:
                lines[key] = entries.encode_stored(category, key, member)
        except UnsupportedTypeError as exc:
            errors.append(exc)
    return lines


def round_files(source: Path) -> dict[str, bytes]:
    """The state files and the ``.gitignore`` of a directory as of one round, as bytes.

    Read under the directory's round lock, so a running bot's save is all in or all out.

    Returns:
        dict[:obj:`str`, :obj:`bytes`]: Each file that exists, by name.

    Raises:
        NotADirectoryError: ``source`` is not a directory.
        CorruptStateError: ``source`` holds a round a crash interrupted (a redo journal), or a
            state file that is a symlink or not a regular file.
    """
    if not source.is_dir():  # taking its lock would create it
        raise NotADirectoryError(f"{source} is not a directory")
    origin = Store(source, create=False)
    with origin.round_lock():
        if origin.pending_moves():  # under the lock, only a crash leaves a journal
            raise CorruptStateError(UNFINISHED_ROUND, file=origin.path(JOURNAL))
        names = [*(category.file for category in CATEGORIES.values()), GITIGNORE]
        return {name: data for name in names if (data := origin.read(name)) is not None}


def undecodable(
    source: Path, files: dict[str, bytes], entries: EntryCodec
) -> dict[str, CorruptStateError]:
    """The error of each state file among ``files`` that does not load as a bot loads it.

    Args:
        source (:class:`pathlib.Path`): The directory the files come from, for the messages.
        files (dict[:obj:`str`, :obj:`bytes`]): The files, by name (see :func:`round_files`).
        entries (:class:`EntryCodec`): The application's codec and context types.

    Returns:
        dict[:obj:`str`, :class:`~jsonpersist.CorruptStateError`]: By category name.
    """
    problems = {}
    for name, category in CATEGORIES.items():
        raw = files.get(category.file)
        if raw is None:
            continue
        path = source.resolve() / category.file
        try:
            entries.assemble(category, entries.parse(category, raw, path).values, path)
        except CorruptStateError as exc:
            problems[name] = exc
    return problems


def install_files(dest: Path, files: dict[str, bytes]) -> int:
    """Makes ``dest`` hold ``files`` (see :func:`round_files`) as its state files.

    The files are written in one atomic save, all or none, durably. A state file ``dest``
    has and ``files`` has not is removed afterwards, and the directory is fsynced again.

    Returns:
        :obj:`int`: How many state files were written.

    Raises:
        StateLockedError: A running bot owns ``dest``.
        StateWriteError: Writing failed; ``dest`` keeps its previous files.
    """
    names = {category.file for category in CATEGORIES.values()}
    target = Store(dest)
    target.open()  # refuses a directory a running bot owns; writes a .gitignore (0644)
    try:
        target.write(files)  # all files or none, durably; the .gitignore keeps its mode
        stale = [name for name in names - files.keys() if os.path.lexists(dest / name)]
        for name in stale:  # gone from the source since the last copy
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target.directory / name)
        if stale:
            _sync_directory(target.directory)
    finally:
        target.close()
    return len(names & files.keys())


def copy_files(source: Path, dest: Path) -> int:
    """Copies the state files of a directory (as of one round) into another, atomically.

    See :func:`round_files` and :func:`install_files`; the files are not decoded.

    Returns:
        :obj:`int`: How many state files were copied.
    """
    return install_files(dest, round_files(source))


def _sync_directory(directory: Path) -> None:
    """Makes the removal of files from ``directory`` durable.

    Raises:
        StateWriteError: The directory could not be fsynced.
    """
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StateWriteError(directory, exc, replaced=True) from exc
