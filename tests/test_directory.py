"""The tools' reader and writer of whole state directories, on the real file system.

State is written by a real ``JsonPersistence`` (or by ``write_state``) into ``tmp_path``; a round
that a crash left half-renamed is laid out by hand the way ``Store.write`` leaves it (temporary
files plus a redo journal). ``Store.write`` is only wrapped to count its calls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest
from telegram.ext import ContextTypes

from jsonpersist import (
    Codec,
    CorruptStateError,
    JsonPersistence,
    StateLockedError,
    UnsupportedTypeError,
)
from jsonpersist._categories import CATEGORIES, CHAT_DATA, USER_DATA, Category
from jsonpersist._directory import (
    State,
    copy_files,
    has_pending_round,
    holds_files,
    read_state,
    write_state,
)
from jsonpersist._entries import EntryCodec
from jsonpersist._format import FORMAT_VERSION, render
from jsonpersist._store import Store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file semantics")

FILES = sorted(category.file for category in CATEGORIES.values())
JOURNAL = ".jsonpersist.journal"
CALLBACK = ([("kb-1", 1700000000.5, {"btn": (1, "buy")})], {"q-1": "kb-1"})


def full_state() -> State:
    return State(
        user_data={1: {"pair": (1, 2)}, -5: {"tags": {"a"}}},
        chat_data={-100123: {"by_id": {7: "seven"}}},
        bot_data={"total": 17, "started": (2024, 5)},
        callback_data=CALLBACK,
        conversations={"checkout": {(1, 2): "ASK"}, "other": {(3,): 0}},
    )


async def save(
    directory: Path, state: State, *, keep: bool = False
) -> JsonPersistence[Any, Any, Any]:
    """Saves ``state`` with a real persistence; it keeps the directory when ``keep``."""
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    for user_id, data in state.user_data.items():
        await persistence.update_user_data(user_id, data)
    for chat_id, data in state.chat_data.items():
        await persistence.update_chat_data(chat_id, data)
    await persistence.update_bot_data(state.bot_data)
    if state.callback_data is not None:
        await persistence.update_callback_data(state.callback_data)
    for name, states in state.conversations.items():
        for key, value in states.items():
            await persistence.update_conversation(name, key, value)
    if not keep:
        await persistence.flush()
    return persistence


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file in the directory but the locks, by name."""
    return {
        path.name: path.read_bytes()
        for path in sorted(directory.iterdir())
        if not path.name.endswith(".lock")
    }


def file_of(entries: EntryCodec, category: Category, value: dict[Any, Any]) -> bytes:
    lines = {key: entries.encode(category, key, entry) for key, entry in value.items()}
    return render(category.name, lines, entries.order(category, lines))


def crash_left_round(
    directory: Path, entries: EntryCodec, user_data: dict[int, Any], chat_data: dict[int, Any]
) -> dict[str, str]:
    """Leaves what ``Store.write`` leaves when it dies after the journal, before the renames."""
    moves = {}
    for category, value in ((USER_DATA, user_data), (CHAT_DATA, chat_data)):
        temp = f".{category.file}.x7q2kd.tmp"
        (directory / temp).write_bytes(file_of(entries, category, value))
        moves[category.file] = temp
    journal = orjson.dumps({"jsonpersist-journal": 1, "moves": moves})
    (directory / JOURNAL).write_bytes(journal)
    return moves


def claim(directory: Path) -> None:
    """Takes the directory and gives it back, as any owner would; raises if it is taken."""
    store = Store(directory)
    store.open()
    store.close()


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def entries() -> EntryCodec:
    return EntryCodec(Codec(), ContextTypes())


def as_read(state: State, names: Any = CATEGORIES) -> State:
    """``state`` as ``read_state`` gives it: each category's file was read as version 2."""
    return dataclasses.replace(state, versions=dict.fromkeys(names, FORMAT_VERSION))


def read(directory: Path, entries: EntryCodec, **kwargs: Any) -> State:
    """``read_state``, asserting that every category decodes."""
    state, problems = read_state(directory, entries, **kwargs)
    assert problems == {}
    return state


# ------------------------------------------------------------------------------------ reading


async def test_read_state_reads_every_category_a_persistence_wrote(
    directory: Path, entries: EntryCodec
) -> None:
    await save(directory, full_state())
    assert sorted(path.name for path in directory.glob("*.json")) == FILES

    state = read(directory, entries)
    assert state == as_read(full_state())
    assert state.versions == dict.fromkeys(CATEGORIES, 2)
    assert type(state.user_data[1]["pair"]) is tuple
    assert type(state.chat_data[-100123]["by_id"]) is dict
    assert list(state.chat_data[-100123]["by_id"]) == [7]
    keyboard = state.callback_data[0][0]
    assert type(keyboard) is tuple
    assert type(keyboard[2]["btn"]) is tuple


async def test_read_state_reads_only_the_categories_asked_for(
    directory: Path, entries: EntryCodec
) -> None:
    await save(directory, full_state())
    state = read(directory, entries, names=["chat_data", "callback_data"])
    assert state == as_read(
        State(chat_data=full_state().chat_data, callback_data=CALLBACK),
        ["chat_data", "callback_data"],
    )


def test_read_state_of_a_missing_directory_is_empty_and_creates_nothing(
    directory: Path, entries: EntryCodec
) -> None:
    assert read(directory, entries) == State()
    assert State().callback_data is None
    assert State().versions == {}
    assert not directory.exists()


def test_read_state_takes_no_file_in_the_directory(directory: Path, entries: EntryCodec) -> None:
    directory.mkdir()
    (directory / "user_data.json").write_bytes(file_of(entries, USER_DATA, {1: {}}))
    before = sorted(os.listdir(directory))
    assert read(directory, entries).user_data == {1: {}}
    assert sorted(os.listdir(directory)) == before


async def test_read_state_reports_each_damaged_category_and_reads_the_others(
    directory: Path, entries: EntryCodec
) -> None:
    await save(directory, full_state())
    (directory / "user_data.json").write_bytes(b'[{"jsonpersist":2,"category":')
    chat_data = (directory / "chat_data.json").read_bytes()
    (directory / "chat_data.json").write_bytes(chat_data.replace(b"chat_data", b"user_data", 1))

    state, problems = read_state(directory, entries)
    assert sorted(problems) == ["chat_data", "user_data"]
    assert all(isinstance(error, CorruptStateError) for error in problems.values())
    assert problems["user_data"].file == directory.resolve() / "user_data.json"
    assert problems["user_data"].where.startswith("line 1, column ")
    assert problems["chat_data"].where == "line 1"
    assert "holds 'user_data', expected 'chat_data'" in problems["chat_data"].reason
    assert state.user_data == {}  # left as the default, not half read
    assert state.chat_data == {}
    assert state.bot_data == full_state().bot_data
    assert state.callback_data == CALLBACK
    assert state.conversations == full_state().conversations


@pytest.mark.parametrize("one_round", [False, True], ids=["lock-free", "one round"])
async def test_read_state_reads_while_a_persistence_owns_the_directory(
    directory: Path, entries: EntryCodec, one_round: bool
) -> None:
    owner = await save(directory, full_state(), keep=True)
    try:
        with pytest.raises(StateLockedError):
            claim(directory)
        assert read(directory, entries, one_round=one_round) == as_read(full_state())
        await owner.update_user_data(1, {"changed": True})
        assert read(directory, entries, one_round=one_round).user_data[1] == {"changed": True}
    finally:
        await owner.flush()


# --------------------------------------------------------------------------- the redo journal

OLD_USERS = {1: {"v": "old"}, 2: {"v": "old"}}
OLD_CHATS = {-1: {"v": "old"}}
NEW_USERS = {1: {"v": "new"}, 3: {"v": (3,)}}
NEW_CHATS = {-1: {"v": "new"}, -2: {}}


async def old_round_then_crash(directory: Path, entries: EntryCodec) -> dict[str, str]:
    await save(directory, State(user_data=OLD_USERS, chat_data=OLD_CHATS))
    return crash_left_round(directory, entries, NEW_USERS, NEW_CHATS)


async def test_read_state_sees_the_round_a_journal_decided(
    directory: Path, entries: EntryCodec
) -> None:
    await old_round_then_crash(directory, entries)
    before = snapshot(directory)

    state = read(directory, entries)
    assert state.user_data == NEW_USERS
    assert state.chat_data == NEW_CHATS
    assert type(state.user_data[3]["v"]) is tuple
    assert snapshot(directory) == before  # a reader finishes nothing


async def test_read_state_sees_the_round_when_one_file_was_already_renamed(
    directory: Path, entries: EntryCodec
) -> None:
    moves = await old_round_then_crash(directory, entries)
    os.replace(directory / moves["user_data.json"], directory / "user_data.json")

    state = read(directory, entries)
    assert state.user_data == NEW_USERS
    assert state.chat_data == NEW_CHATS
    assert read(directory, entries, one_round=True) == state


async def test_has_pending_round_until_a_persistence_replays_the_journal(
    directory: Path, entries: EntryCodec
) -> None:
    await save(directory, State(user_data=OLD_USERS))
    assert has_pending_round(directory) is False
    crash_left_round(directory, entries, NEW_USERS, NEW_CHATS)
    assert has_pending_round(directory) is True

    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    assert await persistence.get_user_data() == NEW_USERS
    assert has_pending_round(directory) is False
    assert not (directory / JOURNAL).exists()
    assert [name for name in os.listdir(directory) if name.endswith(".tmp")] == []
    await persistence.flush()
    assert read(directory, entries).chat_data == NEW_CHATS


def test_no_pending_round_in_a_missing_directory(directory: Path) -> None:
    assert has_pending_round(directory) is False
    assert not directory.exists()


@pytest.mark.parametrize(
    "journal",
    [
        b'{"jsonpersist-journal": 1, "moves": ',
        b'{"jsonpersist-journal": 1}',
        b'{"jsonpersist-journal": 1, "moves": ["user_data.json"]}',
        b"[]",
        orjson.dumps({"jsonpersist-journal": 1, "moves": {"user_data.json": "../x.tmp"}}),
        orjson.dumps({"jsonpersist-journal": 1, "moves": {"user_data.json": "user_data.json"}}),
    ],
    ids=["cut short", "no moves", "moves a list", "a list", "elsewhere", "not a temp file"],
)
async def test_an_unreadable_journal_is_corrupt_state(
    directory: Path, entries: EntryCodec, journal: bytes
) -> None:
    await save(directory, State(user_data=OLD_USERS))
    (directory / JOURNAL).write_bytes(journal)
    with pytest.raises(CorruptStateError) as caught:
        read_state(directory, entries)
    assert caught.value.file == directory.resolve() / JOURNAL
    with pytest.raises(CorruptStateError):
        has_pending_round(directory)


# ------------------------------------------------------------------------------------ writing


@contextlib.contextmanager
def state_writes() -> Iterator[list[list[str]]]:
    """Records the file names of each ``Store.write`` of state files; the real one runs.

    The ``.gitignore`` that ``Store.open`` writes into a new directory is not recorded.
    """
    calls: list[list[str]] = []
    real = Store.write

    def spy(store: Store, files: Any, mode: int = 0o600) -> Any:
        if list(files) != [".gitignore"]:
            calls.append(sorted(files))
        return real(store, files, mode)

    with mock.patch.object(Store, "write", spy):
        yield calls


def test_write_state_writes_every_category_in_one_save(
    directory: Path, entries: EntryCodec
) -> None:
    with state_writes() as calls:
        assert write_state(directory, full_state(), entries) == []
    assert calls == [FILES]
    assert read(directory, entries) == as_read(full_state())


async def test_write_state_replaces_what_a_persistence_wrote(
    directory: Path, entries: EntryCodec
) -> None:
    await save(directory, full_state())
    new = State(user_data={9: {"only": "me"}}, bot_data={"b": 1})

    with state_writes() as calls:
        assert write_state(directory, new, entries) == []
    assert calls == [FILES]  # emptied categories are written too
    assert read(directory, entries) == as_read(dataclasses.replace(new, callback_data=([], {})))
    assert (directory / "chat_data.json").read_bytes() == (
        b'[{"jsonpersist":2,"category":"chat_data"}\n]\n'
    )

    # and it gave the directory back
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    assert await persistence.get_user_data() == {9: {"only": "me"}}
    await persistence.flush()


def test_write_state_of_an_empty_state_into_a_new_directory_writes_no_state_file(
    directory: Path, entries: EntryCodec
) -> None:
    assert write_state(directory, State(), entries) == []
    assert list(directory.glob("*.json")) == []
    assert read(directory, entries) == State()


def test_write_state_of_an_empty_callback_cache_writes_its_file(
    directory: Path, entries: EntryCodec
) -> None:
    # No file reads as no cache (None); an empty cache needs its (empty) file.
    assert write_state(directory, State(callback_data=([], {})), entries) == []
    assert [path.name for path in directory.glob("*.json")] == ["callback_data.json"]
    assert read(directory, entries).callback_data == ([], {})


def test_write_state_keeps_context_types_dicts_as_plain_dicts(directory: Path) -> None:
    class UserDict(dict[Any, Any]):
        pass

    entries = EntryCodec(Codec(), ContextTypes(user_data=UserDict))
    assert write_state(directory, State(user_data={1: UserDict(a=1)}), entries) == []
    state = read(directory, entries)
    assert type(state.user_data[1]) is UserDict
    assert state.user_data == {1: {"a": 1}}


async def test_write_state_refuses_a_directory_a_persistence_owns(
    directory: Path, entries: EntryCodec
) -> None:
    owner = await save(directory, State(user_data=OLD_USERS), keep=True)
    try:
        before = snapshot(directory)
        with pytest.raises(StateLockedError):
            write_state(directory, full_state(), entries)
        assert snapshot(directory) == before
    finally:
        await owner.flush()
    assert read(directory, entries).user_data == OLD_USERS


async def test_write_state_never_replaces_a_file_that_does_not_decode(
    directory: Path, entries: EntryCodec
) -> None:
    await save(directory, full_state())
    damaged = (directory / "chat_data.json").read_bytes().replace(b'"by_id"', b'"by_id":', 1)
    (directory / "chat_data.json").write_bytes(damaged)
    before = snapshot(directory)

    with pytest.raises(CorruptStateError) as caught:
        write_state(directory, State(user_data={1: {}}), entries)
    assert caught.value.file == directory.resolve() / "chat_data.json"
    assert snapshot(directory) == before  # byte for byte, the other files too
    assert (directory / "chat_data.json").read_bytes() == damaged
    claim(directory)  # released: another owner can take it


async def test_write_state_returns_what_cannot_be_stored_and_writes_nothing(
    directory: Path, entries: EntryCodec
) -> None:
    await save(directory, State(user_data=OLD_USERS))
    before = snapshot(directory)
    state = full_state()
    state.user_data[1] = {"bad": [object()]}
    state.user_data[2] = {"fine": 1}
    state.bot_data = {"also bad": {object()}}

    with state_writes() as calls:
        errors = write_state(directory, state, entries)
    assert all(isinstance(error, UnsupportedTypeError) for error in errors)
    assert sorted(getattr(error, "where", "") for error in errors) == [
        "bot_data['also bad'][0]",
        "user_data[1]['bad'][0]",
    ]
    assert calls == []
    assert snapshot(directory) == before
    assert read(directory, entries).user_data == OLD_USERS


def test_write_state_into_a_new_directory_with_errors_leaves_no_state_file(
    directory: Path, entries: EntryCodec
) -> None:
    errors = write_state(directory, State(chat_data={1: {"x": object()}}), entries)
    assert len(errors) == 1
    assert list(directory.glob("*.json")) == []
    assert [name for name in os.listdir(directory) if name.endswith(".tmp")] == []


# ------------------------------------------------------------------------------------ copying


async def test_copy_files_copies_every_state_file_byte_for_byte(
    tmp_path: Path, entries: EntryCodec
) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    without_callback = full_state()
    without_callback.callback_data = None
    await save(source, without_callback)
    assert write_state(dest, full_state(), entries) == []  # a callback_data.json the source lacks
    (dest / "notes.txt").write_text("mine")

    assert copy_files(source, dest) == 4
    copied = {path.name: path.read_bytes() for path in dest.glob("*.json")}
    assert copied == {path.name: path.read_bytes() for path in source.glob("*.json")}
    assert not (dest / "callback_data.json").exists()
    assert (dest / ".gitignore").read_bytes() == (source / ".gitignore").read_bytes()
    assert (dest / "notes.txt").read_text() == "mine"  # not a state file: left alone
    assert read(dest, entries) == as_read(
        without_callback, ["user_data", "chat_data", "bot_data", "conversations"]
    )


async def test_copy_files_refuses_a_destination_a_persistence_owns(
    tmp_path: Path, entries: EntryCodec
) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    await save(source, full_state())
    owner = await save(dest, State(user_data=OLD_USERS), keep=True)
    try:
        with pytest.raises(StateLockedError):
            copy_files(source, dest)
        assert read(dest, entries).user_data == OLD_USERS
    finally:
        await owner.flush()


async def test_copy_files_reads_a_source_a_persistence_owns(
    tmp_path: Path, entries: EntryCodec
) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    owner = await save(source, full_state(), keep=True)
    try:
        assert copy_files(source, dest) == 5
    finally:
        await owner.flush()
    assert read(dest, entries) == as_read(full_state())


# ---------------------------------------------------------------------------------- emptiness


def test_holds_files_ignores_jsonpersists_own_lock_and_ignore_files(directory: Path) -> None:
    assert holds_files(directory) is False
    directory.mkdir()
    assert holds_files(directory) is False
    claim(directory)  # leaves the owner lock, the round lock and the .gitignore
    assert sorted(os.listdir(directory)) == [
        ".gitignore",
        ".jsonpersist.lock",
        ".jsonpersist.round.lock",
    ]
    assert holds_files(directory) is False


@pytest.mark.parametrize("name", ["user_data.json", "notes.txt", ".hidden", JOURNAL])
def test_holds_files_sees_anything_else(directory: Path, name: str) -> None:
    claim(directory)
    (directory / name).write_bytes(b"")
    assert holds_files(directory) is True


def test_holds_files_sees_a_subdirectory(directory: Path) -> None:
    (directory / "sub").mkdir(parents=True)
    assert holds_files(directory) is True


def test_holds_files_refuses_a_file(tmp_path: Path) -> None:
    path = tmp_path / "state"
    path.write_text("not a directory")
    with pytest.raises(NotADirectoryError) as caught:
        holds_files(path)
    assert str(path) in str(caught.value)


def test_one_round_reads_of_a_missing_directory_create_nothing(
    tmp_path: Path, entries: EntryCodec
) -> None:
    # filelock creates the lock file's parents: taking the round lock of a missing directory
    # made it (with the umask's mode, not 0700).
    missing = tmp_path / "missing"
    state, problems = read_state(missing, entries, one_round=True)
    assert (state.user_data, problems) == ({}, {})
    assert not missing.exists()
    with pytest.raises(NotADirectoryError):
        copy_files(missing, tmp_path / "dest")
    assert not missing.exists()
    assert not (tmp_path / "dest").exists()
