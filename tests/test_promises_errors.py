"""The promises of ``docs/errors.md`` and the tests behind them (see ``tests/promises.py``).

The tests here back the promises no other test proved: where the errors show up in a real
``Application`` (``initialize()``, ``shutdown()``), a read-only persistence, and the typed
errors for a path that is not a directory, a state file that cannot be read and a type
registered twice.
"""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import Any

import pytest
from checks import crash_after_the_journal
from offline import BOT_TOKEN, OfflineRequest
from promises import on_page
from telegram.ext import Application, ApplicationBuilder, CallbackContext, ExtBot

from jsonpersist import (
    CorruptStateError,
    JsonPersistence,
    JsonPersistError,
    RegistrationError,
    StateDirectoryError,
    StateLockedError,
    StateWriteError,
    TypeRegistry,
    UnsupportedTypeError,
)
from jsonpersist._journal import JOURNAL, TEMP_SUFFIX

PAGE = "docs/errors.md"
ME = "tests/test_promises_errors.py"


_p = on_page(PAGE)


PROMISES = [
    _p(
        "Every exception jsonpersist raises is a `jsonpersist.JsonPersistError` **and** the "
        "builtin exception a caller would catch anyway",
        "tests/test_errors.py::test_every_error_is_a_json_persist_error_and_its_documented_builtin",
        f"{ME}::test_a_file_in_place_of_the_directory_is_a_state_directory_error",
        f"{ME}::test_a_state_file_that_cannot_be_read_is_a_state_directory_error",
        f"{ME}::test_registering_twice_or_a_non_dataclass_raises_typed_errors",
    ),
    _p(
        "Errors of the `get_*()` methods are raised by `Application.initialize()` (so by "
        "`run_polling()`/`run_webhook()`): the bot does not start on a state it cannot read.",
        f"{ME}::test_initialize_raises_on_a_corrupt_directory_and_leaves_it_alone",
        f"{ME}::test_initialize_raises_on_a_directory_another_bot_owns",
    ),
    _p(
        "Errors of the `update_*()` methods during `update_persistence()` are handed by PTB to "
        "the application's error handlers (`application.add_error_handler(...)`) and the bot "
        "keeps running",
        "tests/test_application.py::test_a_value_that_cannot_be_stored_reaches_the_error_handler",
        "tests/test_faults.py::test_a_failed_save_reaches_the_applications_error_handler",
    ),
    _p(
        "`flush()` raises its errors from `Application.shutdown()`.",
        f"{ME}::test_flush_errors_surface_from_application_shutdown",
    ),
    _p(
        "user_data[123456]['cart'][2]: cannot store a Fraction (register it, see docs/types.md)",
        "tests/test_codec.py::test_an_unsupported_value_is_refused_with_its_type_and_path",
    ),
    _p(
        "it is nested deeper than `MAX_DEPTH` (240) levels of JSON, or it holds a string that "
        "UTF-8 cannot hold (a lone surrogate",
        "tests/test_codec.py::test_nesting_10000_deep_is_refused_without_recursion_error",
        "tests/test_codec.py::test_lone_surrogates_are_refused_with_their_path",
    ),
    _p(
        "also for a value of the wrong shape for its category (`update_user_data(1, 1)`, "
        "callback data that is not PTB's `(keyboards, queries)`)",
        "tests/ptb_contract/test_ptb_wrong_shapes.py::test_a_wrong_shape_is_refused_and_the_file_stays_loadable",
    ),
    _p(
        "**What happened**: only that entry was not saved. The user's (chat's, handler's) "
        "previous version stays on disk; every other change of the round was saved.",
        "tests/test_persistence.py::test_unsupported_value_fails_only_its_own_caller",
    ),
    _p(
        "A `Bot` other than the persistence's own is not an error: it is stored as `None`, "
        "with a `PTBUserWarning`.",
        "tests/test_codec.py::test_an_unknown_bot_value_is_stored_as_none_and_warns",
    ),
    _p(
        "**Stored data cannot be decoded.** The file is left exactly as it is, and the "
        "persistence never writes that category",
        "tests/test_persistence.py::test_a_corrupt_file_is_refused_and_never_overwritten",
        f"{ME}::test_initialize_raises_on_a_corrupt_directory_and_leaves_it_alone",
    ),
    _p(
        "The message is `FILE WHERE: reason`, as above.",
        "tests/test_errors.py::test_a_bad_tag_in_a_file_names_the_file_and_the_key_path",
        "tests/test_errors.py::test_invalid_json_names_the_line_and_column",
        "tests/test_errors.py::test_another_format_version_names_the_version_member",
    ),
    _p(
        "A subclass of `CorruptStateError`, so everything above applies",
        "tests/test_errors.py::test_every_error_is_a_json_persist_error_and_its_documented_builtin",
        "tests/test_cli.py::test_check_names_a_merge_conflict_with_its_lines_and_entries",
    ),
    _p(
        "`pid`, the process id the owner recorded in `.jsonpersist.lock`",
        "tests/test_lock_holder.py::test_the_holder_in_this_process_is_named_at_once",
        "tests/test_security.py::test_a_rival_is_refused_with_the_pid_and_a_killed_holder_frees_the_directory",
    ),
    _p(
        "by `jsonpersist import-pickle` and `snapshot` when their target is owned by a running "
        "bot.",
        "tests/test_cli.py::test_snapshot_of_a_running_bot_is_one_save",
    ),
    _p(
        "A crashed process never holds the lock (the kernel releases it)",
        "tests/test_security.py::test_a_rival_is_refused_with_the_pid_and_a_killed_holder_frees_the_directory",
    ),
    _p(
        "use `JsonPersistence(directory, read_only=True)`",
        "tests/test_cli.py::test_snapshot_of_a_running_bot_is_one_save",
        f"{ME}::test_a_read_only_persistence_reads_an_owned_directory",
    ),
    _p(
        "`replaced`, `True` when only the final directory `fsync` failed",
        "tests/test_faults.py::test_a_failing_call",
    ),
    _p(
        "**What happened**: no temporary file is left; the state files hold the previous "
        "version (or, with `replaced`, the new one). The changes stay in memory: the next "
        "save of that category, or `flush()` at shutdown, writes them again.",
        "tests/test_faults.py::test_a_failing_call",
    ),
    _p(
        "**A file larger than `max_file_size`** is not written either (`errno` `EFBIG`",
        "tests/test_lose_nothing.py::test_a_save_larger_than_max_file_size_is_refused_and_the_bot_still_starts",
        f"{ME}::test_a_save_beyond_max_file_size_is_efbig",
    ),
    _p(
        "**From `flush()`**, the persistence keeps the directory and the changes, so another "
        "`flush()` can try again",
        f"{ME}::test_flush_errors_surface_from_application_shutdown",
    ),
    _p(
        "`.jsonpersist.lock` or `.jsonpersist.round.lock` is a directory, a symlink, a FIFO or "
        "another special file",
        "tests/test_local_attackers.py::test_every_planted_file_is_a_typed_error_naming_it_in_bounded_time",
    ),
    _p(
        "**Attributes**: `file`; `errno` when the system gave one (`EROFS` for a read-only "
        "mount).",
        "tests/test_local_attackers.py::test_a_read_only_file_system_is_a_typed_error_naming_the_lock",
        f"{ME}::test_a_state_file_that_cannot_be_read_is_a_state_directory_error",
    ),
    _p(
        "| `is a symlink` |",
        "tests/test_security.py::test_a_symlinked_state_file_is_refused_on_load",
    ),
    _p(
        "| `is N bytes, more than max_file_size` |",
        "tests/test_promises_files.py::test_the_default_max_file_size_is_512_mib",
    ),
    _p(
        "| `unreadable redo journal` |",
        "tests/test_directory.py::test_an_unreadable_journal_is_corrupt_state",
    ),
    _p(
        "| `'X' is not a registered type` |",
        "tests/test_promises_types.py::test_the_corrupt_state_messages_of_the_table",
    ),
    _p(
        "| `more than 32 items share one hash` |",
        "tests/test_codec.py::test_more_items_sharing_one_hash_are_refused",
    ),
    _p(
        "Missing parents are created `0700`.",
        "tests/test_local_attackers.py::test_missing_parents_are_created_0700_even_with_umask_0",
    ),
    _p(
        "a directory above it is writable by group or others without the sticky bit (`/tmp`, "
        "mode `1777`, is fine)",
        "tests/test_local_attackers.py::test_nothing_is_created_under_a_parent_others_can_write",
        "tests/test_local_attackers.py::test_a_sticky_parent_writable_by_everyone_is_fine",
    ),
    _p(
        "**Raised by** `JsonPersistence(...)`, and by `import-pickle` and `snapshot` for their "
        "target (exit code `3`).",
        "tests/test_local_attackers.py::test_a_directory_another_user_could_replace_is_refused",
        "tests/test_promises_cli.py::test_a_target_that_cannot_be_used_exits_3",
    ),
    _p(
        "the path given to `JsonPersistence` is a file, or runs through one",
        f"{ME}::test_a_file_in_place_of_the_directory_is_a_state_directory_error",
    ),
    _p(
        "a state file cannot be read (`EIO`, no permission)",
        f"{ME}::test_a_state_file_that_cannot_be_read_is_a_state_directory_error",
    ),
    _p(
        "A state file that could not be read is read again at the next attempt: it is not "
        "taken for a broken one.",
        f"{ME}::test_a_state_file_that_cannot_be_read_is_a_state_directory_error",
    ),
    _p(
        "the command line exits `3`",
        "tests/test_promises_cli.py::test_a_target_that_cannot_be_used_exits_3",
        "tests/test_promises_cli.py::test_a_read_failure_exits_3",
    ),
    _p(
        "**What happened**: nothing; the registry is left as it was.",
        f"{ME}::test_registering_twice_or_a_non_dataclass_raises_typed_errors",
    ),
    _p(
        "an update is called on a `read_only=True` persistence (`this persistence of ... is "
        "read-only`)",
        f"{ME}::test_an_update_of_a_read_only_persistence_raises_and_writes_nothing",
    ),
    _p(
        "exits with `1` for problems with the state (`CorruptStateError`, unsupported values), "
        "`3` for `StateLockedError`, `StateWriteError` and other I/O errors",
        "tests/test_promises_cli.py::test_a_read_failure_exits_3",
        "tests/test_promises_cli.py::test_a_write_failure_exits_3",
        "tests/test_cli.py::test_check_names_every_damaged_file_and_leaves_it_alone",
        "tests/test_cli.py::test_snapshot_of_a_running_bot_is_one_save",
    ),
    _p(
        "RegistrationError      (also a ValueError)",
        f"{ME}::test_registering_twice_or_a_non_dataclass_raises_typed_errors",
    ),
]


# ------------------------------------------------------------------------ a real Application


def application(
    persistence: JsonPersistence[Any, Any, Any],
) -> Application[Any, Any, Any, Any, Any, Any]:
    request = OfflineRequest()
    bot: ExtBot[None] = ExtBot(BOT_TOKEN, request=request, get_updates_request=request)
    return ApplicationBuilder().bot(bot).persistence(persistence).build()


async def test_initialize_raises_on_a_corrupt_directory_and_leaves_it_alone(
    tmp_path: Path,
) -> None:
    (tmp_path / "user_data.json").write_bytes(b'[{"jsonpersist":2,"category":"user_data"}\n,[5,')
    before = (tmp_path / "user_data.json").read_bytes()
    app = application(JsonPersistence(tmp_path))
    with pytest.raises(CorruptStateError) as caught:
        await app.initialize()
    assert caught.value.file == (tmp_path / "user_data.json").resolve()
    assert not app._initialized  # PTB has no public flag for a failed start
    assert (tmp_path / "user_data.json").read_bytes() == before
    # The failed start released the directory: once fixed, the same process starts.
    (tmp_path / "user_data.json").unlink()
    async with application(JsonPersistence(tmp_path)) as started:
        assert dict(started.user_data) == {}


async def test_initialize_raises_on_a_directory_another_bot_owns(tmp_path: Path) -> None:
    owner: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    await owner.get_user_data()
    try:
        app = application(JsonPersistence(tmp_path))
        with pytest.raises(StateLockedError) as caught:
            await app.initialize()
        assert caught.value.pid == os.getpid()
        assert caught.value.directory == tmp_path.resolve()
    finally:
        await owner.flush()
    async with application(JsonPersistence(tmp_path)):
        pass  # free again once the owner let go


def fail_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("on_flush", [False, True], ids=["default", "on_flush"])
async def test_flush_errors_surface_from_application_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_flush: bool
) -> None:
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path, on_flush=on_flush)
    app = application(persistence)
    handled: list[object] = []

    async def on_error(update: object, context: CallbackContext[Any, Any, Any, Any]) -> None:
        handled.append(context.error)

    app.add_error_handler(on_error)
    await app.initialize()
    app.bot_data["total"] = 17  # PTB hands bot_data over at every update_persistence()
    with monkeypatch.context() as faults:
        fail_fsync(faults)
        with pytest.raises(StateWriteError) as caught:
            await app.shutdown()
    assert caught.value.errno == errno.ENOSPC
    assert not (tmp_path / "bot_data.json").exists()
    # Without on_flush, the round of update_persistence() failed first: an error handler got it.
    assert [type(error) for error in handled] == ([] if on_flush else [StateWriteError])
    # The persistence kept the directory and the change: another flush() writes it.
    assert persistence.directory == tmp_path.resolve()
    await persistence.flush()
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path, read_only=True)
    assert await reader.get_bot_data() == {"total": 17}


# ---------------------------------------------------------------------------------- read-only


async def saved_directory(directory: Path) -> dict[str, bytes]:
    writer: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    await writer.get_user_data()
    await writer.get_chat_data()
    await writer.update_user_data(1, {"n": 1})
    await writer.update_chat_data(2, {"n": 2})
    await writer.flush()
    return files(directory)


def files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}


async def test_an_update_of_a_read_only_persistence_raises_and_writes_nothing(
    tmp_path: Path,
) -> None:
    before = await saved_directory(tmp_path)
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path, read_only=True)
    assert await reader.get_user_data() == {1: {"n": 1}}
    updates = [
        reader.update_user_data(1, {"n": 9}),
        reader.update_chat_data(2, {}),
        reader.update_bot_data({"x": 1}),
        reader.update_callback_data(([], {})),
        reader.update_conversation("talk", (1,), 1),
        reader.drop_user_data(1),
        reader.drop_chat_data(2),
    ]
    for update in updates:
        with pytest.raises(JsonPersistError) as caught:
            await update
        assert type(caught.value) is JsonPersistError
        assert str(caught.value) == f"this persistence of {tmp_path.resolve()} is read-only"
    await reader.flush()
    assert files(tmp_path) == before


async def test_a_read_only_persistence_reads_an_owned_directory(tmp_path: Path) -> None:
    await saved_directory(tmp_path)
    owner: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    await owner.get_user_data()
    try:
        reader: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path, read_only=True)
        assert await reader.get_user_data() == {1: {"n": 1}}
        assert await reader.get_chat_data() == {2: {"n": 2}}
    finally:
        await owner.flush()


async def test_a_read_only_persistence_never_completes_a_crashed_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await saved_directory(tmp_path)
    writer: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    await writer.get_user_data()
    await writer.get_chat_data()
    with crash_after_the_journal(monkeypatch), pytest.raises(StateWriteError):
        await asyncio.gather(  # one round of two files: a redo journal first
            writer.update_user_data(1, {"n": 10}), writer.update_chat_data(2, {"n": 20})
        )
    assert (tmp_path / JOURNAL).exists()
    left = files(tmp_path)
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path, read_only=True)
    # The round the journal decided, both files of it: not the old chat data beside it.
    assert await reader.get_user_data() == {1: {"n": 10}}
    assert await reader.get_chat_data() == {2: {"n": 20}}
    await reader.flush()
    assert files(tmp_path) == left  # the journal and its temporary files are still there
    assert any(name.endswith(TEMP_SUFFIX) for name in left)


# -------------------------------------------------------------------------- typed errors


def test_a_file_in_place_of_the_directory_is_a_state_directory_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("not a directory")
    for path in (tmp_path / "state", tmp_path / "state" / "below"):
        with pytest.raises(StateDirectoryError) as caught:
            JsonPersistence(path)
        assert isinstance(caught.value, OSError)
        assert caught.value.errno == errno.ENOTDIR
        assert caught.value.file == path
        assert str(path) in str(caught.value)
    assert (tmp_path / "state").read_text() == "not a directory"


async def test_a_state_file_that_cannot_be_read_is_a_state_directory_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await saved_directory(tmp_path)
    users = (tmp_path / "user_data.json").resolve()
    real_open = os.open

    def failing_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path) == str(users):
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))
        return real_open(path, flags, *args, **kwargs)

    app = application(JsonPersistence(tmp_path))
    with monkeypatch.context() as faults:
        faults.setattr(os, "open", failing_open)
        with pytest.raises(StateDirectoryError) as caught:
            await app.initialize()
    assert caught.value.errno == errno.EIO
    assert caught.value.file == users
    assert str(users) in str(caught.value)
    # Not remembered as a broken file, and the directory was released: a retry starts.
    async with application(JsonPersistence(tmp_path)) as started:
        assert dict(started.user_data) == {1: {"n": 1}}


def test_registering_twice_or_a_non_dataclass_raises_typed_errors() -> None:
    class Point:
        pass

    class Other:
        pass

    types = TypeRegistry()
    types.register(Point, encode=lambda p: 0, decode=lambda v: Point(), name="Point")
    for again in (
        lambda: types.register(Point, encode=lambda p: 0, decode=lambda v: Point(), name="P2"),
        lambda: types.register(Other, encode=lambda p: 0, decode=lambda v: Other(), name="Point"),
    ):
        with pytest.raises(RegistrationError) as caught:
            again()
        assert isinstance(caught.value, ValueError)
        assert isinstance(caught.value, JsonPersistError)
    assert caught.value.name == "Point"
    assert caught.value.cls is Other
    assert types.decoder("P2") is None  # the registry is left unchanged
    assert types.encoder(Other) is None
    with pytest.raises(UnsupportedTypeError, match="not a dataclass") as refused:
        types.register_dataclass(Other)
    assert isinstance(refused.value, TypeError)


async def test_a_save_beyond_max_file_size_is_efbig(tmp_path: Path) -> None:
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path, max_file_size=4096)
    await persistence.get_user_data()
    with pytest.raises(StateWriteError) as caught:
        await persistence.update_user_data(1, {"big": "x" * 5000})
    assert caught.value.errno == errno.EFBIG
    assert "more than max_file_size (4,096), and the next start would refuse it" in str(
        caught.value
    )
    assert not (tmp_path / "user_data.json").exists()
