"""The promises of docs/how-it-works.md, and the tests that stand behind those no suite covered.

See ``tests/promises.py``: each quote is on the page, each test named fails if it breaks.
"""

from __future__ import annotations

import ast
import asyncio
import errno
import json
import os
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from promises import ROOT, Promise

from jsonpersist import Codec, JsonPersistence, StateLockedError, StateWriteError, _watch

PAGE = "docs/how-it-works.md"

HOW = "tests/test_promises_how_it_works.py"
G = "tests/test_promises_guarantees.py"
DIFF = "tests/ptb_contract/test_ptb_differences.py"

PROMISES = [
    Promise(
        PAGE,
        "without `watch=True` none of its code runs.",
        (f"{HOW}::test_without_watch_no_code_of_the_watch_module_runs",),
    ),
    Promise(
        PAGE,
        "The store knows nothing about Telegram or values, the codec nothing about files, and the "
        "format nothing about either.",
        (f"{HOW}::test_the_store_the_codec_and_the_format_know_nothing_of_each_other",),
    ),
    Promise(
        PAGE,
        "the `jsonpersist` command line and the pickle converter; a bot never imports them",
        ("tests/test_security.py::test_loading_never_imports_the_command_line",),
    ),
    Promise(
        PAGE,
        "The `.gitignore` (`.jsonpersist.*` and `.*.tmp`) is written when the persistence first "
        "opens the directory, unless one exists",
        (
            "tests/test_persistence.py::test_the_directory_can_be_committed_to_git",
            "tests/test_persistence.py::test_an_existing_gitignore_is_left_alone",
        ),
    ),
    Promise(
        PAGE,
        "The lock files stay on disk on purpose",
        ("tests/test_lock_holder.py::test_closing_empties_the_lock_file",),
    ),
    Promise(
        PAGE,
        "The first of them *opens* the directory: takes the owner lock (or raises "
        "[`StateLockedError`](errors.md#statelockederror)), completes a save that a crash "
        "interrupted (the redo journal), removes stale temporary files and writes the "
        "`.gitignore`.",
        (
            "tests/test_store.py::"
            "test_a_directory_held_by_another_process_is_refused_until_it_dies",
            "tests/test_store.py::test_a_crashed_round_is_completed_from_the_journal_at_start_up",
            "tests/test_persistence.py::test_stale_temp_files_are_removed_and_never_loaded",
            "tests/test_persistence.py::test_the_directory_can_be_committed_to_git",
        ),
    ),
    Promise(
        PAGE,
        "Each file is read and decoded in a worker thread, off the event loop.",
        (f"{HOW}::test_files_are_read_and_decoded_off_the_event_loop",),
    ),
    Promise(
        PAGE,
        "Each `update_*` call returns when its change is on disk (with `on_flush=True`: when it "
        "is encoded).",
        (
            "tests/test_persistence.py::test_update_is_on_disk_when_the_coroutine_returns",
            "tests/ptb_contract/test_ptb_writes.py::"
            "test_with_on_flush_a_bad_value_is_reported_by_the_round",
        ),
    ),
    Promise(
        PAGE,
        "If the same persistence is used again (an `Application` initialized again, a second "
        "one), it takes the directory again and reads every file again before using it",
        (
            "tests/test_session.py::"
            "test_an_application_started_again_reads_what_changed_meanwhile",
            "tests/test_session.py::test_a_state_imported_with_force_between_two_uses_is_kept",
            "tests/test_session.py::test_an_update_after_flush_does_not_write_a_stale_file",
        ),
    ),
    Promise(
        PAGE,
        "If `flush()` cannot write, it raises and keeps the directory and the changes, so that "
        "another `flush()` can try again.",
        (f"{HOW}::test_a_flush_that_cannot_write_keeps_the_directory_and_the_changes",),
    ),
    Promise(
        PAGE,
        "The first one starts the round, which lets the event loop turn so that every other call "
        "of the same `gather` is staged too.",
        (
            "tests/test_persistence.py::test_gather_of_500_updates_replaces_the_file_once",
            "tests/test_persistence.py::"
            "test_gather_across_categories_is_one_round_with_one_journal",
        ),
    ),
    Promise(
        PAGE,
        "In a worker thread, the round encodes only the staged entries.",
        (
            f"{HOW}::test_a_round_encodes_and_writes_off_the_event_loop",
            f"{HOW}::test_a_round_encodes_only_the_changed_user_chat_and_bot_data_entries",
        ),
    ),
    Promise(
        PAGE,
        "so an unchanged user costs nothing and a changed user costs one encoding of that user's "
        "data.",
        (
            f"{HOW}::test_a_round_encodes_only_the_changed_user_chat_and_bot_data_entries",
            "tests/test_lines.py::test_a_round_encodes_only_the_conversation_that_changed",
        ),
    ),
    Promise(
        PAGE,
        "A conversation step is one entry: the round encodes that conversation's state, not the "
        "handler's other conversations.",
        ("tests/test_lines.py::test_a_round_encodes_only_the_conversation_that_changed",),
    ),
    Promise(
        PAGE,
        "Each top-level key is an entry of its own; the round compares each member with a copy "
        "made when it was last loaded or saved, and encodes only the members that are not "
        "certainly the same.",
        (
            f"{HOW}::test_a_round_encodes_only_the_changed_user_chat_and_bot_data_entries",
            "tests/test_same.py::test_only_the_changed_members_are_encoded",
            "tests/test_lines.py::test_one_bot_data_key_is_one_line_out_and_one_in",
        ),
    ),
    Promise(
        PAGE,
        "The comparison is stricter than `==` (`1`, `1.0` and `True` differ, so do `0.0` and "
        "`-0.0`, a set and a frozenset)",
        (
            "tests/test_same.py::test_a_change_that_equals_the_old_value_is_still_seen",
            "tests/test_same.py::test_a_change_is_saved_with_its_type",
        ),
    ),
    Promise(
        PAGE,
        "A category whose lines did not change is not written: a round in which nothing changed "
        "writes nothing at all.",
        (
            "tests/test_persistence.py::test_a_category_that_did_not_change_is_not_rewritten",
            "tests/test_persistence.py::test_unchanged_data_writes_nothing",
            "tests/test_lines.py::test_a_message_that_changes_nothing_writes_nothing",
        ),
    ),
    Promise(
        PAGE,
        "user 5's `update_user_data()` raises "
        "[`UnsupportedTypeError`](errors.md#unsupportedtypeerror) (PTB passes it to your error "
        "handlers), user 5's previous line stays in the file, and every other change of the round "
        "is saved.",
        (
            "tests/test_persistence.py::test_unsupported_value_fails_only_its_own_caller",
            "tests/test_application.py::"
            "test_a_value_that_cannot_be_stored_reaches_the_error_handler",
        ),
    ),
    Promise(
        PAGE,
        "With `on_flush=True`, rounds still encode (so a bad value is reported right away) but "
        "nothing is written until `flush()`.",
        (
            "tests/ptb_contract/test_ptb_writes.py::"
            "test_with_on_flush_a_bad_value_is_reported_by_the_round",
            "tests/test_persistence.py::test_on_flush_writes_nothing_until_flush",
        ),
    ),
    Promise(
        PAGE,
        "give it the mode of the file it replaces (`0600` for a new one), and `fsync` it",
        (
            "tests/test_security.py::test_new_files_are_private_and_existing_modes_are_kept",
            "tests/test_faults.py::test_every_step_is_reached",
        ),
    ),
    Promise(
        PAGE,
        "rename it over the state file (`os.replace`, atomic on POSIX file systems); 4. `fsync` "
        "the directory, so the rename itself survives a power loss.",
        ("tests/test_faults.py::test_every_step_is_reached",),
    ),
    Promise(
        PAGE,
        "each file's temporary file, and its inode, which tells a replay the renames already done",
        (f"{HOW}::test_the_journal_names_each_temporary_file_and_its_inode",),
    ),
    Promise(
        PAGE,
        "4. rename every temporary file over its state file; 5. `fsync` the directory and delete "
        "the journal.",
        (
            "tests/test_faults.py::test_every_step_is_reached",
            "tests/test_persistence.py::"
            "test_gather_across_categories_is_one_round_with_one_journal",
        ),
    ),
    Promise(
        PAGE,
        "If the process dies before the journal is in place, the old files are untouched and the "
        "next open removes the temporary files: the round never happened.",
        (
            "tests/test_crash.py::test_kill_9_across_two_files_never_mixes",
            "tests/test_persistence.py::test_stale_temp_files_are_removed_and_never_loaded",
        ),
    ),
    Promise(
        PAGE,
        "If it dies after, the next open (or the next save, by anyone holding the round lock) "
        "finds the journal and completes the renames: the round happened entirely.",
        (
            "tests/test_crash.py::test_kill_9_while_saving_every_category",
            "tests/test_crash.py::test_kill_9_across_two_files_never_mixes",
            "tests/test_store.py::test_a_crashed_round_is_completed_from_the_journal_at_start_up",
            "tests/test_faults.py::test_a_failing_call",
        ),
    ),
    Promise(
        PAGE,
        "the save raises [`StateWriteError`](errors.md#statewriteerror): the temporary files are "
        "removed, the previous files are intact, and the changes stay in memory; the next save of "
        "that category, or `flush()` at shutdown, writes them again.",
        (
            "tests/test_faults.py::test_a_failing_call",
            "tests/test_persistence.py::"
            "test_a_failed_write_reaches_the_caller_and_the_next_round_writes",
            f"{HOW}::test_a_flush_that_cannot_write_keeps_the_directory_and_the_changes",
        ),
    ),
    Promise(
        PAGE,
        "a rename fails in a round of several files, after the journal was written: the temporary "
        "files the journal names are kept on purpose, and the next save (or the next start) "
        "completes the round from the journal",
        ("tests/test_faults.py::test_a_failing_call",),
    ),
    Promise(
        PAGE,
        "only the final directory `fsync` fails: the new files are already in place but may not "
        "survive a power loss (`StateWriteError.replaced` is `True`). A failed `fsync` is never "
        "retried on the same file",
        (
            "tests/test_faults.py::test_a_failing_call",
            "tests/test_store.py::test_a_failed_directory_sync_says_the_new_version_is_in_place",
            f"{G}::test_after_a_failed_directory_fsync_the_same_data_is_synced_again",
        ),
    ),
    Promise(
        PAGE,
        "a second one gets [`StateLockedError`](errors.md#statelockederror) at once, naming the "
        "process id the owner wrote into the lock file.",
        (
            "tests/test_security.py::"
            "test_a_rival_is_refused_with_the_pid_and_a_killed_holder_frees_the_directory",
            "tests/test_lock_holder.py::test_the_holder_in_this_process_is_named_at_once",
        ),
    ),
    Promise(
        PAGE,
        "The kernel releases the lock when the owning process dies, even by `kill -9`, so a "
        "crashed bot never leaves a stale lock behind.",
        (
            "tests/test_store.py::"
            "test_a_directory_held_by_another_process_is_refused_until_it_dies",
        ),
    ),
    Promise(
        PAGE,
        "Anyone else who takes it sees the files of one complete round: `jsonpersist snapshot` "
        "and `jsonpersist export-pickle` do, to copy or export a running bot's state "
        "consistently.",
        ("tests/test_cli.py::test_snapshot_of_a_running_bot_is_one_save",),
    ),
    Promise(
        PAGE,
        "`JsonPersistence(directory, read_only=True)` reads the files without taking the owner "
        "lock, so scripts can read while the bot runs",
        ("tests/test_promises_errors.py::test_a_read_only_persistence_reads_an_owned_directory",),
    ),
    Promise(
        PAGE,
        "Every `update_*()` of a read-only persistence raises `JsonPersistError`.",
        (
            "tests/test_promises_errors.py::"
            "test_an_update_of_a_read_only_persistence_raises_and_writes_nothing",
        ),
    ),
    Promise(
        PAGE,
        "Both are made from the encoded entries and kept until the data changes: reading them "
        "again costs nothing. They stay readable after `flush()`.",
        (
            "tests/test_views.py::test_data_attributes_are_decoded_once_per_change",
            "tests/test_views.py::test_data_attributes_still_show_the_data_after_flush",
        ),
    ),
    Promise(
        PAGE,
        "`user_data_json` and friends are JSON in the shapes `DictPersistence(user_data_json=..., "
        "callback_data_json=..., conversations_json=...)` accepts",
        ("tests/test_views.py::test_json_attributes_load_into_dict_persistence",),
    ),
    Promise(
        PAGE,
        "Any other file (edited by hand, written by an older layout) is parsed strictly: "
        "duplicate keys, `NaN` literals and invalid UTF-8 are errors, and big integers keep "
        "every digit. It is written back canonically at the next save.",
        (
            "tests/test_persistence.py::test_ambiguous_hand_edits_are_refused",
            "tests/test_persistence.py::test_invalid_utf_8_is_named_at_its_line",
            "tests/test_persistence.py::test_a_huge_int_in_a_hand_edited_file_stays_exact",
            "tests/test_persistence.py::test_a_hand_edited_file_loads_and_is_stored_canonically",
        ),
    ),
    Promise(
        PAGE,
        "A file that does not decode raises [`CorruptStateError`](errors.md#corruptstateerror) "
        "naming the file and the position. The file is left as it is, and this persistence never "
        "writes that category",
        (
            "tests/test_persistence.py::test_a_corrupt_file_names_the_position_or_key",
            "tests/test_persistence.py::test_a_corrupt_file_is_refused_and_never_overwritten",
            "tests/test_damaged.py::test_random_mutations_are_never_overwritten",
        ),
    ),
    Promise(
        PAGE,
        "A file larger than `max_file_size` (512 MiB by default) is refused before it is read.",
        ("tests/test_hostile.py::test_a_file_beyond_max_file_size_is_refused_without_reading_it",),
    ),
    Promise(
        PAGE,
        "So a state file that is a symlink is refused, on load and on save, with a "
        "[`CorruptStateError`](errors.md#corruptstateerror)",
        (
            "tests/test_persistence.py::"
            "test_a_symlinked_state_file_is_refused_and_its_target_untouched",
            "tests/test_security.py::test_a_symlink_planted_after_loading_is_refused_on_save",
        ),
    ),
    Promise(
        PAGE,
        "Other special files (a FIFO, a device) are refused too.",
        (
            "tests/test_persistence.py::"
            "test_a_fifo_in_place_of_a_state_file_is_refused_without_hanging",
        ),
    ),
    Promise(
        PAGE,
        "The directory path itself may contain symlinks: it is resolved once, when the "
        "persistence is created.",
        (f"{HOW}::test_a_symlink_in_the_directory_path_is_resolved_once",),
    ),
    Promise(
        PAGE,
        "On load, both become **the current bot**: the new instance after a restart. A restored "
        "message answers `reply_text()` through it.",
        (
            "tests/test_codec.py::"
            "test_a_telegram_object_of_the_current_bot_comes_back_with_the_new_current_bot",
            "tests/test_codec.py::test_the_bot_itself_is_stored_as_a_placeholder",
            "tests/test_application.py::test_everything_survives_a_restart",
        ),
    ),
    Promise(
        PAGE,
        "A reference to any *other* `Bot` instance is stored as `null` (a Telegram object "
        "attached to one is stored without a bot), with a `PTBUserWarning`",
        (
            "tests/test_codec.py::test_an_unknown_bot_value_is_stored_as_none_and_warns",
            "tests/test_codec.py::"
            "test_a_telegram_object_of_an_unknown_bot_is_stored_without_it_and_warns",
        ),
    ),
    Promise(
        PAGE,
        "With `watch=True`, a running bot notices that someone changed a file, merges the edit "
        "into its data before the next handler sees it, and merges it into the file before it "
        "writes the file.",
        (
            "tests/test_watch.py::"
            "test_hand_edits_of_every_category_reach_the_handler_and_survive_a_restart",
            "tests/test_watch.py::test_an_edit_made_before_a_save_is_merged_not_clobbered",
        ),
    ),
    Promise(
        PAGE,
        "An ended conversation (`update_conversation(..., None)`) is removed from the file",
        (
            f"{DIFF}::test_an_ended_conversation_is_removed_where_pickle_keeps_none",
            "tests/ptb_contract/test_ptb_conversations.py::"
            "test_an_ended_conversation_is_removed_from_the_file",
        ),
    ),
    Promise(
        PAGE,
        "A file that cannot be read raises [`CorruptStateError`](errors.md#corruptstateerror), a "
        "`ValueError`, naming the file; the file is left as it is and the `Application` does not "
        "start.",
        (f"{DIFF}::test_an_unreadable_file_is_a_value_error_where_ptb_raises_type_error",),
    ),
    Promise(
        PAGE,
        "A value of the wrong shape for its category (`update_user_data(1, 1)`, "
        '`update_bot_data(5)`, `update_callback_data("x")`) is refused when saved',
        (
            f"{DIFF}::test_a_value_of_the_wrong_shape_is_refused_where_pickle_stores_it",
            "tests/ptb_contract/test_ptb_wrong_shapes.py::"
            "test_a_wrong_shape_is_refused_and_the_file_stays_loadable",
        ),
    ),
    Promise(
        PAGE,
        "A `TelegramObject` subclass of your own is stored when it comes back whole",
        (
            "tests/ptb_contract/test_ptb_telegram_objects.py::"
            "test_whatever_was_accepted_loads_again",
        ),
    ),
    Promise(
        PAGE,
        "Types are matched exactly: an `IntEnum` member (as the states in PTB's own tests) must "
        "be registered",
        (f"{DIFF}::test_an_unregistered_enum_state_is_refused_where_pickle_stores_it",),
    ),
    Promise(
        PAGE,
        "Dict keys come back sorted (the files are deterministic).",
        (f"{DIFF}::test_dict_keys_come_back_sorted_where_pickle_keeps_their_order",),
    ),
    Promise(
        PAGE,
        "A keyboard's time in callback data comes back a `float`",
        (f"{DIFF}::test_a_keyboard_time_comes_back_a_float_where_pickle_keeps_an_int",),
    ),
    Promise(
        PAGE,
        "A category disabled in `store_data` is never read nor written, even when its "
        "`get_*`/`update_*` is called directly",
        (
            f"{DIFF}::test_a_disabled_category_is_inert_where_pickle_reads_and_writes_it",
            "tests/ptb_contract/test_ptb_store_data.py::"
            "test_a_disabled_category_is_inert_when_called_directly",
        ),
    ),
    Promise(
        PAGE,
        "Before loading, `user_data_json`, `chat_data_json`, `bot_data_json` and "
        '`conversations_json` are `"{}"`, which `DictPersistence` loads',
        (f"{DIFF}::test_json_attributes_before_loading_load_where_dict_persistence_has_null",),
    ),
    Promise(
        PAGE,
        "`user_data_json` and friends hold jsonpersist's tags inside values "
        '(`{"$tuple": [1, 2]}`): a `DictPersistence` loads them',
        (
            f"{DIFF}::test_json_attributes_hold_tags_where_dict_persistence_loses_types",
            "tests/ptb_contract/test_ptb_dict_views.py::"
            "test_the_attributes_after_a_run_load_into_dict_persistence",
        ),
    ),
    Promise(
        PAGE,
        "One owner per directory: a second persistence gets "
        "[`StateLockedError`](errors.md#statelockederror) at its first `get_*()`.",
        (f"{DIFF}::test_a_second_owner_is_refused_where_pickle_lets_both_write",),
    ),
    Promise(
        PAGE,
        "A persistence used again after `flush()` (an `Application` started again) reads the "
        "files again, and never writes a stale copy over another owner's work.",
        (
            f"{DIFF}::test_a_persistence_used_again_reads_the_files_again_where_pickle_does_not",
            "tests/ptb_contract/test_ptb_lifecycle.py::"
            "test_the_same_application_started_again_loads_again",
        ),
    ),
    Promise(
        PAGE,
        "PTB's `Application.stop()` does not save",
        (
            "tests/ptb_contract/test_ptb_lifecycle.py::"
            "test_stop_ends_the_loop_and_shutdown_does_the_last_save",
        ),
    ),
]

ENTRIES = 300


def value(number: int, version: str = "") -> dict[Any, Any]:
    """An entry's data, with tags (a tuple, a set, an int key), so nothing is plain."""
    return {"n": number, "pair": (number, version), "seen": {number}, 7: f"{version}{number}"}


class Encodings:
    """Counts :meth:`Codec.encode` calls (every value a save encodes goes through it)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: Counter[str] = Counter()
        encode = Codec.encode

        def counting(codec: Codec, value: Any, where: str = "value") -> Any:
            self.calls[where.split("[", 1)[0]] += 1
            return encode(codec, value, where)

        monkeypatch.setattr(Codec, "encode", counting)


async def seeded(directory: Path) -> JsonPersistence:
    """A fresh persistence on a directory saved with :data:`ENTRIES` users, chats, bot keys."""
    first = JsonPersistence(directory)
    await first.get_user_data()
    await first.get_chat_data()
    await first.get_bot_data()
    await asyncio.gather(
        *(first.update_user_data(number, value(number)) for number in range(ENTRIES)),
        *(first.update_chat_data(-number - 1, value(number)) for number in range(ENTRIES)),
        first.update_bot_data({f"key{number}": value(number) for number in range(ENTRIES)}),
    )
    await first.flush()
    persistence = JsonPersistence(directory)
    await persistence.get_user_data()
    await persistence.get_chat_data()
    await persistence.get_bot_data()
    return persistence


async def test_a_round_encodes_only_the_changed_user_chat_and_bot_data_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Of 300 users, chats and bot data keys, one of each changed: three encodings."""
    persistence = await seeded(tmp_path)
    bot_data = await persistence.get_bot_data()
    bot_data["key5"] = value(5, "changed")
    before = {name: (tmp_path / name).read_bytes().splitlines() for name in ("user_data.json",)}
    counted = Encodings(monkeypatch)
    await asyncio.gather(
        persistence.update_user_data(5, value(5, "changed")),
        persistence.update_chat_data(-6, value(5, "changed")),
        persistence.update_bot_data(bot_data),
    )
    assert counted.calls == {"user_data": 1, "chat_data": 1, "bot_data": 1}
    after = (tmp_path / "user_data.json").read_bytes().splitlines()
    changed = [
        line for old, line in zip(before["user_data.json"], after, strict=True) if old != line
    ]
    assert len(changed) == 1
    assert changed[0].startswith(b",[5,")

    counted.calls.clear()  # handed over again, unchanged: the bot data is compared, not encoded
    await persistence.update_bot_data(bot_data)
    assert counted.calls == {}
    await persistence.flush()


async def test_an_unchanged_user_handed_over_is_encoded_once_and_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user PTB hands over without a change costs one encoding, and no write."""
    persistence = await seeded(tmp_path)
    inode = (tmp_path / "user_data.json").stat().st_ino
    counted = Encodings(monkeypatch)
    await persistence.update_user_data(5, value(5))
    assert counted.calls == {"user_data": 1}
    assert (tmp_path / "user_data.json").stat().st_ino == inode
    await persistence.flush()


async def test_a_round_encodes_and_writes_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every encoding and every file write of a round runs in another thread than the loop's."""
    loop_thread = threading.get_ident()
    threads: set[tuple[str, int]] = set()
    encode, replace = Codec.encode, os.replace

    def encoding(codec: Codec, value: Any, where: str = "value") -> Any:
        threads.add(("encode", threading.get_ident()))
        return encode(codec, value, where)

    def replacing(source: Any, target: Any, **kwargs: Any) -> None:
        threads.add(("replace", threading.get_ident()))
        replace(source, target, **kwargs)

    persistence = JsonPersistence(tmp_path)
    await persistence.get_user_data()
    await persistence.get_bot_data()
    monkeypatch.setattr(Codec, "encode", encoding)
    monkeypatch.setattr(os, "replace", replacing)
    await asyncio.gather(
        *(persistence.update_user_data(number, value(number)) for number in range(20)),
        persistence.update_bot_data({"key": value(1)}),
    )
    await persistence.flush()
    assert {step for step, _ in threads} == {"encode", "replace"}
    assert loop_thread not in {thread for _, thread in threads}


async def test_files_are_read_and_decoded_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading a category reads its file and decodes its values in a worker thread."""
    await seeded(tmp_path)  # written, and loaded by a persistence that is flushed here
    loop_thread = threading.get_ident()
    threads: set[tuple[str, int]] = set()
    decode, open_ = Codec.decode, os.open

    def decoding(codec: Codec, tree: Any, where: str = "value") -> Any:
        threads.add(("decode", threading.get_ident()))
        return decode(codec, tree, where)

    def opening(path: Any, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path).endswith("user_data.json"):
            threads.add(("open", threading.get_ident()))
        return open_(path, *args, **kwargs)

    monkeypatch.setattr(Codec, "decode", decoding)
    monkeypatch.setattr(os, "open", opening)
    persistence = JsonPersistence(tmp_path, read_only=True)
    users = await persistence.get_user_data()
    assert users[5] == value(5)
    assert {step for step, _ in threads} == {"decode", "open"}
    assert loop_thread not in {thread for _, thread in threads}


async def test_without_watch_no_code_of_the_watch_module_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every method of the watcher raises here: a bot without ``watch=True`` never notices."""

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("watch code ran without watch=True")

    for name, member in vars(_watch.Watcher).items():
        if callable(member):
            monkeypatch.setattr(_watch.Watcher, name, forbidden)
    persistence = await seeded(tmp_path)
    users = await persistence.get_user_data()
    bot_data = await persistence.get_bot_data()
    await persistence.refresh_user_data(5, users[5])
    await persistence.refresh_bot_data(bot_data)
    await persistence.update_user_data(5, value(5, "changed"))
    await persistence.flush()
    with pytest.raises(AssertionError, match="watch code ran"):
        JsonPersistence(tmp_path / "watched", watch=True)


async def test_a_flush_that_cannot_write_keeps_the_directory_and_the_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``flush()`` raises, still owns the directory, and a second ``flush()`` writes."""
    persistence = JsonPersistence(tmp_path, on_flush=True)
    await persistence.get_user_data()
    await persistence.update_user_data(1, value(1))
    replace = os.replace

    def full_disk(source: Any, target: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(StateWriteError):
        await persistence.flush()
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(StateLockedError):
        await JsonPersistence(tmp_path).get_user_data()  # still owned
    assert not (tmp_path / "user_data.json").exists()
    await persistence.flush()
    assert await JsonPersistence(tmp_path, read_only=True).get_user_data() == {1: value(1)}
    other = JsonPersistence(tmp_path)  # released now
    assert await other.get_user_data() == {1: value(1)}
    await other.flush()


def jsonpersist_imports(module: str) -> set[str]:
    """Every module ``jsonpersist.<module>`` imports, directly or through its own modules."""
    package = ROOT / "jsonpersist"
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        source = package / f"{name}.py"
        if name in seen or not source.exists():
            seen.add(name)
            continue
        seen.add(name)
        for node in ast.walk(ast.parse(source.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found = [node.module]
                if node.module == "jsonpersist":
                    found = [f"jsonpersist.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            else:
                continue
            for imported in found:
                if imported.startswith("jsonpersist."):
                    todo.append(imported.removeprefix("jsonpersist."))
                else:
                    seen.add(imported.split(".", 1)[0])
    return seen - {module}


def test_the_store_the_codec_and_the_format_know_nothing_of_each_other() -> None:
    store = jsonpersist_imports("_store")
    assert not store & {"telegram", "_codec", "_format", "_entries", "_categories"}, store
    codec = jsonpersist_imports("_codec")
    assert not codec & {"_store", "_files", "_journal", "_format", "_session", "os"}, codec
    file_format = jsonpersist_imports("_format")
    assert not file_format & {"telegram", "_codec", "_store", "_files"}, file_format


async def test_the_journal_names_each_temporary_file_and_its_inode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal of a round of two files, as it is installed, and its moves as renamed."""
    persistence = JsonPersistence(tmp_path)
    await persistence.get_user_data()
    await persistence.get_chat_data()
    journals: list[dict[str, Any]] = []
    renames: list[tuple[str, str, int]] = []
    replace = os.replace

    def recording(source: Any, target: Any, **kwargs: Any) -> None:
        name = os.path.basename(os.fspath(target))
        if name == ".jsonpersist.journal":
            journals.append(json.loads(Path(source).read_bytes()))
        else:
            renames.append((name, os.path.basename(os.fspath(source)), os.stat(source).st_ino))
        replace(source, target, **kwargs)

    monkeypatch.setattr(os, "replace", recording)
    await asyncio.gather(
        persistence.update_user_data(1, value(1)), persistence.update_chat_data(-1, value(1))
    )
    (journal,) = journals
    assert set(journal) == {"jsonpersist-journal", "moves", "inodes"}
    assert journal["jsonpersist-journal"] == 1
    assert {name: (temp, number) for name, temp, number in renames} == {
        name: (journal["moves"][name], journal["inodes"][name])
        for name in ("user_data.json", "chat_data.json")
    }
    for name, temp, _ in renames:
        assert re.fullmatch(rf"\.{re.escape(name)}\.[^/]+\.tmp", temp), temp
    await persistence.flush()


async def test_a_symlink_in_the_directory_path_is_resolved_once(tmp_path: Path) -> None:
    """The persistence keeps writing where the path led when it was created."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(mode=0o700)
    second.mkdir(mode=0o700)
    link = tmp_path / "state"
    link.symlink_to(first)
    persistence = JsonPersistence(link)
    link.unlink()
    link.symlink_to(second)
    await persistence.get_user_data()
    await persistence.update_user_data(1, value(1))
    await persistence.flush()
    assert (first / "user_data.json").exists()
    assert not (second / "user_data.json").exists()
