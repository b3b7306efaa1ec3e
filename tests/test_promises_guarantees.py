"""The promises of docs/guarantees.md, and the tests that stand behind those no suite covered.

See ``tests/promises.py``: each quote is on the page, each test named fails if it breaks.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import test_crash
import test_faults
import test_lock_holder
from damage import CATEGORIES, mutations, v1_originals, write_state
from doc_counts import figures
from hostile_cases import CORRUPT, GENERATED
from promises import ROOT, Promise
from test_security import CRAFTED

from jsonpersist import JsonPersistence, StateWriteError
from jsonpersist._store import JOURNAL, TEMP_SUFFIX

PAGE = "docs/guarantees.md"
CONVERSATION = "conv"

G = "tests/test_promises_guarantees.py"
CRASH_ALL = "tests/test_crash.py::test_kill_9_while_saving_every_category"
CRASH_PAIR = "tests/test_crash.py::test_kill_9_across_two_files_never_mixes"
FAILING_CALL = "tests/test_faults.py::test_a_failing_call"
RIVAL = (
    "tests/test_security.py::"
    "test_a_rival_is_refused_with_the_pid_and_a_killed_holder_frees_the_directory"
)
HOSTILE = "tests/test_hostile.py::test_hostile_file"
ONE_MB = "tests/test_hostile.py::test_a_file_of_up_to_1_mb_loads_or_is_refused_within_a_second"
SYNCED_AGAIN = f"{G}::test_after_a_failed_directory_fsync_the_same_data_is_synced_again"

PROMISES = [
    Promise(
        PAGE,
        "each is listed with its reason in `tests/mutation/equivalent-MODULE.txt` and left out "
        "of the score",
        (f"{G}::test_the_equivalent_mutants_the_page_counts_are_listed_with_reasons",),
    ),
    Promise(
        PAGE,
        "the state of the last save that returned, or of the one in flight; never a broken file, "
        "never files of two different saves",
        (CRASH_ALL, CRASH_PAIR, "tests/test_crash.py::test_kill_9_as_a_plain_subprocess"),
    ),
    Promise(
        PAGE,
        "the same, if the disk honours `fsync` (see [Power loss](#power-loss))",
        ("tests/test_faults.py::test_every_step_is_reached",),
    ),
    Promise(
        PAGE,
        "a `StateWriteError`; the previous files byte for byte; no temporary file left; the next "
        "save works once the cause is gone",
        (
            FAILING_CALL,
            "tests/test_store.py::test_a_failed_step_leaves_the_old_file_byte_identical",
        ),
    ),
    Promise(
        PAGE,
        "`StateWriteError` with `replaced=True`: the new file is in place, its durability is "
        "unknown",
        (
            FAILING_CALL,
            "tests/test_store.py::test_a_failed_directory_sync_says_the_new_version_is_in_place",
        ),
    ),
    Promise(
        PAGE,
        "`CorruptStateError` naming the file; the file is never rewritten; the other categories "
        "work",
        (
            "tests/test_damaged.py::test_every_truncation",
            "tests/test_damaged.py::test_random_mutations",
            "tests/test_damaged.py::test_a_damaged_file_does_not_stop_the_other_categories",
        ),
    ),
    Promise(
        PAGE,
        "loaded when it is valid (strictly parsed); refused with `CorruptStateError` otherwise",
        (
            "tests/test_persistence.py::test_a_hand_edited_file_loads_and_is_stored_canonically",
            "tests/test_persistence.py::test_ambiguous_hand_edits_are_refused",
            HOSTILE,
        ),
    ),
    Promise(
        PAGE,
        "a typed error in bounded time and memory; nothing named in the file is imported or "
        "called",
        (
            HOSTILE,
            ONE_MB,
            "tests/test_hostile.py::test_a_file_of_hundreds_of_mb_within_the_limit_is_bounded",
            "tests/test_security.py::"
            "test_a_crafted_file_makes_the_decoder_neither_import_nor_call_anything",
        ),
    ),
    Promise(
        PAGE,
        "`StateLockedError` with the holder's PID; a holder killed with `kill -9` frees it at "
        "once",
        (
            RIVAL,
            "tests/test_store.py::"
            "test_a_directory_held_by_another_process_is_refused_until_it_dies",
        ),
    ),
    Promise(
        PAGE,
        "An update coroutine (`update_user_data()`, ...) returns only when its round is on disk, "
        "so what PTB's `update_persistence()` finished is what a restart loads.",
        (
            "tests/test_persistence.py::test_update_is_on_disk_when_the_coroutine_returns",
            CRASH_ALL,
        ),
    ),
    Promise(
        PAGE,
        "everything loads, and equals exactly the state of one round `R` (each file compared "
        "with the expected value of round `R`: no file from another round); - `R` is the last "
        "round the child reported, or the one after it (written, not yet reported); - no "
        "temporary file and no journal is left after that start;",
        (CRASH_ALL, CRASH_PAIR),
    ),
    Promise(
        PAGE,
        "when the kill left a redo journal, that start completed it: `R` is the round in flight, "
        "and each temporary file the journal still named is now its state file (the same inode).",
        (CRASH_ALL, CRASH_PAIR),
    ),
    Promise(
        PAGE,
        "the test requires at least one kill in ten to leave temporary files, one in forty to "
        "leave a pending journal, and at least one start that completed renames from a journal.",
        (CRASH_ALL, CRASH_PAIR),
    ),
    Promise(
        PAGE,
        "Two controls run in the same loop and must fail, which shows that the harness sees what "
        "it looks for",
        (
            "tests/test_crash.py::test_the_naive_writer_is_caught_corrupting",
            "tests/test_crash.py::test_two_rounds_in_a_row_are_caught_mixing",
        ),
    ),
    Promise(
        PAGE,
        "| all categories (default run) | 200 | 0 | 0 | 0 | 0 |",
        (CRASH_ALL, f"{G}::test_the_kill_and_edit_counts_are_the_suites"),
    ),
    Promise(
        PAGE,
        "| conversation + user data (default run) | 200 | 0 | 0 | 0 | 0 |",
        (CRASH_PAIR, f"{G}::test_the_kill_and_edit_counts_are_the_suites"),
    ),
    Promise(
        PAGE,
        "The redo journal makes a round all or nothing across files. It costs about **200 "
        "bytes** and one more file `fsync` and directory `fsync` per round that changes more "
        "than one file (a round that changes one file writes no journal)",
        (
            CRASH_PAIR,
            "tests/test_crash.py::test_journal_costs_a_few_hundred_bytes_per_round",
            "tests/test_faults.py::test_every_step_is_reached",
        ),
    ),
    Promise(
        PAGE,
        "it does not complete a journal that a crash left (the next start of the bot does): it "
        "reads the new files that journal names, the round as the journal decided it",
        (
            "tests/test_promises_errors.py::"
            "test_a_read_only_persistence_never_completes_a_crashed_round",
        ),
    ),
    Promise(
        PAGE,
        "The `jsonpersist` commands read a crash-left journal's round as the journal decided it: "
        "the new files it names count, never a mix of two rounds (`tests/test_directory.py`).",
        (
            "tests/test_directory.py::test_read_state_sees_the_round_a_journal_decided",
            "tests/test_directory.py::"
            "test_read_state_sees_the_round_when_one_file_was_already_renamed",
            "tests/test_lose_nothing.py::"
            "test_show_and_export_read_a_crash_left_round_as_the_journal_decided",
        ),
    ),
    Promise(
        PAGE,
        "the temporary file is fsynced before the rename (without that, ext4 with "
        "`noauto_da_alloc`, XFS and btrfs can show an empty file after a power cut), the "
        "directory is fsynced after it (or the rename itself can be lost), the journal is "
        "fsynced and the directory synced before any state file is renamed",
        ("tests/test_faults.py::test_every_step_is_reached",),
    ),
    Promise(
        PAGE,
        "on macOS `F_FULLFSYNC` also flushes the drive's cache.",
        (f"{G}::test_on_macos_a_state_file_is_flushed_with_f_fullfsync",),
    ),
    Promise(
        PAGE,
        "Each with `ENOSPC`, `EIO`, `EROFS` and `EACCES`, once and persistently: 208 cases, all "
        "passing.",
        (FAILING_CALL, f"{G}::test_the_fault_crafted_and_seed_counts_are_the_suites"),
    ),
    Promise(
        PAGE,
        "The caller of `update_*()` gets a `StateWriteError` with the `errno`; through a real "
        "`Application` it reaches the error handlers",
        (
            FAILING_CALL,
            "tests/test_faults.py::test_a_failed_save_reaches_the_applications_error_handler",
        ),
    ),
    Promise(
        PAGE,
        "Before the rename, the files are byte for byte what they were, and no temporary file is "
        "left.",
        (FAILING_CALL,),
    ),
    Promise(
        PAGE,
        "`fsync` is never called again in a save after it failed (after a failed fsync the page "
        "cache cannot be trusted); the next save writes a new temporary file from the data in "
        "memory.",
        (FAILING_CALL, SYNCED_AGAIN),
    ),
    Promise(
        PAGE,
        "The next save after the fault is gone writes everything, and leaves no temporary file "
        "and no journal.",
        (FAILING_CALL,),
    ),
    Promise(
        PAGE,
        "In every case a bot restarting from the directory at that moment (a copy of it is "
        "opened) loads the old round or the new one, never a mix.",
        (FAILING_CALL,),
    ),
    Promise(
        PAGE,
        '`StateWriteError.replaced` is `True` and the message says "the new version is in place '
        'but may not survive a power loss". The category is still marked unsaved, so the next '
        "save renames and syncs again.",
        (
            "tests/test_store.py::test_a_failed_directory_sync_says_the_new_version_is_in_place",
            SYNCED_AGAIN,
            f"{G}::test_a_failed_directory_fsync_is_synced_again_by_flush",
        ),
    ),
    Promise(
        PAGE,
        "The round is decided: the temporary files stay, named by the journal, and the next save "
        "or start completes the renames.",
        (
            FAILING_CALL,
            "tests/test_store.py::test_a_fault_in_a_round_of_several_files_is_all_or_nothing",
        ),
    ),
    Promise(
        PAGE,
        "all raise `CorruptStateError` naming the file, except the file without its final "
        "newline, which is still the same JSON and loads. A writable persistence given every 7th "
        "prefix refuses the following update of that category, and the file stays as it was.",
        (
            "tests/test_damaged.py::test_every_truncation",
            "tests/test_damaged.py::test_every_truncation_of_a_version_1_file",
        ),
    ),
    Promise(
        PAGE,
        "(1,381 prefixes of version 2, 1,195 of version 1)",
        (f"{G}::test_the_damaged_file_counts_are_the_suites",),
    ),
    Promise(
        PAGE,
        "9,061 raise `CorruptStateError` naming the file, 939 load, and each of those has the "
        "right shape (`{int: dict}` for user and chat data, the callback-data tuple...) and can "
        "be saved again; no other exception, no file rewritten.",
        ("tests/test_damaged.py::test_random_mutations",),
    ),
    Promise(
        PAGE,
        "Every 10th mutation of each category (1,000) is then loaded by a writable persistence: "
        "those that do not load are followed by an update, which is refused, and the file stays.",
        (
            "tests/test_damaged.py::test_random_mutations_are_never_overwritten",
            f"{G}::test_the_damaged_file_counts_are_the_suites",
        ),
    ),
    Promise(
        PAGE,
        "**A valid file of the wrong shape** (`bot_data` holding a list, callback data without "
        "its keyboards) is refused the same way, and never overwritten.",
        ("tests/test_damaged.py::test_a_valid_file_of_the_wrong_shape_is_never_overwritten",),
    ),
    Promise(
        PAGE,
        "A damaged category never stops the others",
        ("tests/test_damaged.py::test_a_damaged_file_does_not_stop_the_other_categories",),
    ),
    Promise(
        PAGE,
        "duplicate keys are refused (in the envelope, in the data, inside a tag, as user ids), so "
        "are `NaN`/`Infinity` literals, invalid UTF-8, lone surrogates, a BOM, comments and "
        "trailing commas.",
        (HOSTILE, "tests/test_persistence.py::test_ambiguous_hand_edits_are_refused"),
    ),
    Promise(
        PAGE,
        'User and chat ids must be written plainly: `"07"`, `"+7"`, `" 7"`, `"1_0"` and '
        'non-ASCII digits are refused rather than merged with `"7"`.',
        ("tests/test_persistence.py::test_ids_that_collide_after_parsing_are_refused",),
    ),
    Promise(
        PAGE,
        "Integers beyond 64 bits keep every digit (`18446744073709551616` loads as that `int`, "
        "not as a float).",
        ("tests/test_persistence.py::test_a_huge_int_in_a_hand_edited_file_stays_exact",),
    ),
    Promise(
        PAGE,
        "`-0` is the integer `0`, and `1e-400` underflows to `0.0`; `1e400` and longer integers "
        "than a float can hold are refused.",
        (HOSTILE,),
    ),
    Promise(
        PAGE,
        "With `watch=True` a save merges a person's edit of the file first ([Hand "
        "edits](watch.md)): entry by entry, inside an entry both changed, `flush()` included; it "
        "never writes over a malformed edit.",
        (
            "tests/test_watch.py::test_an_edit_made_before_a_save_is_merged_not_clobbered",
            "tests/test_lose_nothing.py::test_a_valid_edit_is_not_undone_by_the_shutdown_flush",
            "tests/test_lose_nothing.py::test_a_malformed_edit_is_not_overwritten_at_shutdown",
            "tests/test_promises_watch.py::test_every_save_of_a_malformed_category_reports_it",
        ),
    ),
    Promise(
        PAGE,
        "On Linux a save that races an edit does not leave its own file in place: it swaps its "
        "file in with `renameat2(RENAME_EXCHANGE)` and swaps back at once a file that is not the "
        "one it checked.",
        ("tests/test_watch_race.py::test_no_edit_is_lost_while_saves_race_it",),
    ),
    Promise(
        PAGE,
        "0 of 1,000 edits lost in the default run",
        (
            "tests/test_watch_race.py::test_no_edit_is_lost_while_saves_race_it",
            f"{G}::test_the_kill_and_edit_counts_are_the_suites",
        ),
    ),
    Promise(
        PAGE,
        "it raises `CorruptStateError` naming the file, or loads the one value JSON gives it; "
        "each load takes **under 1 s** (asserted",
        (HOSTILE,),
    ),
    Promise(
        PAGE,
        "A directory or a FIFO in place of a state file is refused without blocking.",
        (
            "tests/test_hostile.py::test_a_directory_in_place_of_a_file",
            "tests/test_hostile.py::test_a_fifo_in_place_of_a_file_does_not_hang",
        ),
    ),
    Promise(
        PAGE,
        "Each must load or be refused within 1 s. Ids are bounded to signed 64 bits, and a set or "
        "dict to 32 items sharing a hash",
        (
            ONE_MB,
            "tests/test_codec.py::test_items_sharing_one_hash_load_up_to_the_bound",
            "tests/test_codec.py::test_more_items_sharing_one_hash_are_refused",
            "tests/test_hostile.py::test_the_edges_of_the_64_bit_range_are_ids",
            "tests/test_hostile.py::test_a_user_id_beyond_64_bits_is_named",
        ),
    ),
    Promise(
        PAGE,
        "| 33,491 user ids that are multiples of 2⁶¹-1 |",
        (f"{G}::test_the_1_mb_table_counts_the_items_of_the_tests_files", ONE_MB),
    ),
    Promise(
        PAGE,
        "| 600 MiB (sparse), over the 512 MiB `max_file_size` | refused before it is read |",
        ("tests/test_hostile.py::test_a_file_beyond_max_file_size_is_refused_without_reading_it",),
    ),
    Promise(
        PAGE,
        "| 50 MiB, one string | loads |",
        ("tests/test_hostile.py::test_a_valid_file_of_50_mb_loads_in_bounded_time_and_memory",),
    ),
    Promise(
        PAGE,
        "finds no `pickle`, `marshal`, `shelve`, `importlib`, `subprocess`, `eval`, `exec`, "
        "`compile` or `__import__`, and no import inside a function except `fcntl` in "
        "`_files.full_fsync` (macOS).",
        (
            "tests/test_security.py::test_the_load_path_holds_no_code_loading",
            "tests/test_security.py::test_imports_happen_at_module_level_only",
        ),
    ),
    Promise(
        PAGE,
        "loading state never imports either (checked in a fresh process).",
        ("tests/test_security.py::test_loading_never_imports_the_command_line",),
    ),
    Promise(
        PAGE,
        "A fresh process with an audit hook decodes 23 crafted files",
        (
            "tests/test_security.py::"
            "test_a_crafted_file_makes_the_decoder_neither_import_nor_call_anything",
            f"{G}::test_the_fault_crafted_and_seed_counts_are_the_suites",
        ),
    ),
    Promise(
        PAGE,
        "They are now neither stored nor loaded ([format](format.md#telegram-objects)).",
        (
            "tests/test_security.py::"
            "test_a_ptb_class_that_reads_the_disk_is_neither_loaded_nor_stored",
        ),
    ),
    Promise(
        PAGE,
        "Neither sees a path outside the state directory, but for the directories on its path "
        "(the lock library resolves them) and time-zone data.",
        (
            "tests/test_security.py::"
            "test_loading_the_hostile_corpus_looks_at_no_path_outside_its_directory",
            "tests/test_security.py::test_strace_sees_no_path_outside_the_directory",
        ),
    ),
    Promise(
        PAGE,
        "a test checks that zone names such as `os/path`, `jsonpersist/_cli` or "
        "`../../etc/passwd` reach nothing outside `tzdata` and `zoneinfo`'s own machinery.",
        ("tests/test_security.py::test_a_time_zone_name_can_only_reach_the_tzdata_package",),
    ),
    Promise(
        PAGE,
        "New state files, the journal and the lock files are `0600` and the directory `0700`, "
        "even with a umask of `0`; so are the parents jsonpersist creates for a missing "
        "directory",
        (
            "tests/test_security.py::test_new_files_are_private_and_existing_modes_are_kept",
            "tests/test_local_attackers.py::"
            "test_missing_parents_are_created_0700_even_with_umask_0",
        ),
    ),
    Promise(
        PAGE,
        "A file whose mode was changed (`0640`, `0400`) keeps it across saves. `.gitignore` is "
        "`0644`: it is meant to be committed.",
        ("tests/test_security.py::test_new_files_are_private_and_existing_modes_are_kept",),
    ),
    Promise(
        PAGE,
        "refuses, with `UnsafeDirectoryError` (a `PermissionError`) naming the directory and the "
        "culprit, a state directory when the directory or one above it belongs to another user",
        (
            "tests/test_local_attackers.py::"
            "test_a_directory_another_user_could_replace_is_refused",
            "tests/test_local_attackers.py::test_the_swap_of_the_issue_is_refused",
            "tests/test_local_attackers.py::test_a_sticky_parent_writable_by_everyone_is_fine",
            "tests/test_local_attackers.py::test_a_group_writable_state_directory_is_fine",
            "tests/test_local_attackers.py::test_readers_do_not_check_the_owners",
        ),
    ),
    Promise(
        PAGE,
        "in place of a state file are refused on load and on save (also one planted after "
        "loading), and the target is left untouched",
        (
            "tests/test_persistence.py::"
            "test_a_symlinked_state_file_is_refused_and_its_target_untouched",
            "tests/test_security.py::test_a_symlink_planted_after_loading_is_refused_on_save",
        ),
    ),
    Promise(
        PAGE,
        "A journal naming a file outside the directory is refused and nothing is moved.",
        ("tests/test_security.py::test_a_journal_naming_files_elsewhere_moves_nothing",),
    ),
    Promise(
        PAGE,
        "raise `StateDirectoryError` (an `OSError`) naming the file; a FIFO, a directory or a "
        "symlink in place of `.jsonpersist.journal` raises `CorruptStateError` naming it",
        (
            "tests/test_local_attackers.py::"
            "test_every_planted_file_is_a_typed_error_naming_it_in_bounded_time",
            "tests/test_local_attackers.py::"
            "test_a_read_only_file_system_is_a_typed_error_naming_the_lock",
        ),
    ),
    Promise(
        PAGE,
        "A temporary file that is a directory is left alone by the sweep, a symlink there is "
        "removed (not its target), and a `.gitignore` symlink is never followed.",
        (
            "tests/test_local_attackers.py::"
            "test_planted_temporary_and_gitignore_files_are_not_followed",
        ),
    ),
    Promise(
        PAGE,
        "A rival now waits up to a second for the PID of a live process (`os.kill(pid, 0)`), and "
        "a holder empties the file before it lets go: it names the live holder or no one, never "
        "a dead process.",
        (
            "tests/test_lock_holder.py::"
            "test_a_rival_started_at_the_same_instant_names_the_live_holder",
            "tests/test_lock_holder.py::test_closing_empties_the_lock_file",
            "tests/test_lock_holder.py::test_a_dead_pid_left_in_the_lock_file_is_never_named",
        ),
    ),
    Promise(
        PAGE,
        "The load targets' seeds (39 files in `fuzz/corpus/`, `load_time/` aside)",
        (f"{G}::test_the_fault_crafted_and_seed_counts_are_the_suites",),
    ),
    Promise(
        PAGE,
        "Its 34 seeds cover every shape with ints that share one hash",
        (f"{G}::test_the_fault_crafted_and_seed_counts_are_the_suites",),
    ),
    Promise(
        PAGE,
        "Each count is the number of cases of the test named; a test compares it with this table",
        (
            "tests/test_hostile.py::test_the_guarantees_page_counts_what_was_tried",
            "tests/test_security.py::test_the_guarantees_page_counts_what_was_tried",
            "tests/test_local_attackers.py::test_the_guarantees_page_counts_what_was_tried",
            "tests/test_lock_holder.py::test_the_guarantees_page_counts_what_was_tried",
            "tests/test_cli_hostile.py::test_the_guarantees_page_counts_what_was_tried",
        ),
    ),
    Promise(
        PAGE,
        "`test_a_file_of_up_to_1_mb_loads_or_is_refused_within_a_second` (15 files)",
        (ONE_MB, f"{G}::test_the_fault_crafted_and_seed_counts_are_the_suites"),
    ),
    Promise(
        PAGE,
        "| a failed rename in a round of several files | the temporary file was deleted, so the "
        "journal could not complete the round: a restart loaded a mix |",
        (FAILING_CALL,),
    ),
    Promise(
        PAGE,
        "| a lone surrogate inside a set or an int-keyed dict of one user | a bare `TypeError` "
        "from sorting the items: every update of that round failed |",
        ("tests/test_persistence.py::test_a_lone_surrogate_fails_only_its_own_caller",),
    ),
    Promise(
        PAGE,
        "| a Telegram object with an int beyond 64 bits (a `User` id of `2**64 + 5`) |",
        ("tests/test_codec.py::test_a_telegram_object_with_an_int_beyond_64_bits_keeps_it",),
    ),
    Promise(
        PAGE,
        "fixed: `_format.parse_json` and `Codec.loads` fall back to the standard library for that "
        "refusal",
        (
            "tests/test_lose_nothing.py::test_a_state_orjson_refuses_to_parse_still_loads",
            "tests/test_codec.py::test_a_valid_document_orjson_refuses_for_memory_still_loads",
        ),
    ),
    Promise(
        PAGE,
        "| `$set` with an item twice, `$int` in Arabic-Indic digits, a zone with another offset |",
        ("tests/test_codec.py::test_what_the_encoder_never_writes_is_refused",),
    ),
    Promise(
        PAGE,
        "| a missing state directory under `umask 0` | its parents were created `0777`",
        (
            "tests/test_local_attackers.py::"
            "test_missing_parents_are_created_0700_even_with_umask_0",
            "tests/test_local_attackers.py::test_the_swap_of_the_issue_is_refused",
        ),
    ),
    Promise(
        PAGE,
        "| `jsonpersist show` of a stored `10**5000`; `import-pickle` of categories PTB pickled "
        "as `None` |",
        ("tests/test_cli_hostile.py::test_the_issues_cases_as_real_processes",),
    ),
    Promise(
        PAGE,
        '| `{"$timedelta": "1e999993"}` | about 30 s of CPU before the error |',
        ("tests/test_hostile.py::test_a_huge_timedelta_is_refused_quickly",),
    ),
]


# ------------------------------------------------ a failed directory fsync is synced again


class DirectorySyncs:
    """Counts ``os.fsync`` calls on directories; the ``fail_at``-th one counted fails (EIO)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.fail_at = 0
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                self.calls += 1
                if self.calls == self.fail_at:
                    raise OSError(errno.EIO, os.strerror(errno.EIO))
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)


async def save(persistence: JsonPersistence, kind: str, value: Any) -> None:
    """One round: the user data alone, the bot data alone, or a conversation and the user."""
    if kind == "user_data":
        await persistence.update_user_data(1, value)
    elif kind == "bot_data":
        await persistence.update_bot_data(value)
    else:
        await asyncio.gather(
            persistence.update_conversation(CONVERSATION, (1, 1), value["text"]),
            persistence.update_user_data(1, value),
        )


@pytest.mark.parametrize("watch", [False, True], ids=["plain", "watch"])
@pytest.mark.parametrize("kind", ["user_data", "bot_data", "two-files"])
async def test_after_a_failed_directory_fsync_the_same_data_is_synced_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, watch: bool
) -> None:
    """The round after a failed directory fsync renames and syncs again, its data unchanged."""
    persistence = JsonPersistence(tmp_path, watch=watch)
    await persistence.get_user_data()
    await persistence.get_bot_data()
    await persistence.get_conversations(CONVERSATION)
    await save(persistence, kind, {"text": "old"})
    syncs = DirectorySyncs(monkeypatch)
    new = {"text": "new"}

    # The two-file round syncs the directory after the journal, then after the renames.
    syncs.fail_at = 2 if kind == "two-files" else 1
    with pytest.raises(StateWriteError) as raised:
        await save(persistence, kind, new)
    assert raised.value.replaced is True
    assert raised.value.errno == errno.EIO
    name = "bot_data.json" if kind == "bot_data" else "user_data.json"
    in_place = os.stat(tmp_path / name).st_ino

    syncs.calls, syncs.fail_at = 0, 0
    await save(persistence, kind, dict(new))  # the same data, handed over again
    assert syncs.calls >= 1, "the next save did not sync the directory"
    assert os.stat(tmp_path / name).st_ino != in_place, "the next save did not rename again"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)]
    assert not (tmp_path / JOURNAL).exists()

    syncs.calls = 0
    await save(persistence, kind, dict(new))  # now it is on disk: nothing more to do
    assert syncs.calls == 0
    await persistence.flush()
    restarted = JsonPersistence(tmp_path)
    loaded = (
        await restarted.get_bot_data() if kind == "bot_data" else await restarted.get_user_data()
    )
    assert loaded == (new if kind == "bot_data" else {1: new})
    await restarted.flush()


async def test_a_failed_directory_fsync_is_synced_again_by_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without another update, ``flush()`` at shutdown renames and syncs again."""
    persistence = JsonPersistence(tmp_path)
    await persistence.get_user_data()
    syncs = DirectorySyncs(monkeypatch)
    syncs.fail_at = 1
    with pytest.raises(StateWriteError):
        await persistence.update_user_data(1, {"text": "new"})
    syncs.calls, syncs.fail_at = 0, 0
    await persistence.flush()
    assert syncs.calls >= 1


# ------------------------------------------------------------ the counts the page states


async def test_the_damaged_file_counts_are_the_suites(tmp_path: Path) -> None:
    """The sizes, prefixes and mutations the page states are those ``test_damaged`` runs."""
    originals = await write_state(tmp_path / "originals")
    v1 = v1_originals()
    # test_every_truncation loads every prefix but the whole file; the version-1 test, all.
    assert figures(
        r"Every truncation\*\* of each file \(# prefixes of version 2, # of version 1\)"
    ) == [
        sum(len(raw) for raw in originals.values()),
        sum(len(raw) + 1 for raw in v1.values()),
    ]
    sizes = sorted(len(raw) for raw in originals.values())
    assert figures(r"in format version 2, # to # bytes each") == [sizes[0], sizes[-1]]
    damaged = mutations(originals)
    assert figures(r"\*\*# random mutations\*\* of the version-2 files") == [len(damaged)]
    tenth = sum(len([kind for kind, _ in damaged if kind == name][::10]) for name in CATEGORIES)
    assert figures(r"Every 10th mutation of each category \(#\)") == [tenth]


def test_the_fault_crafted_and_seed_counts_are_the_suites() -> None:
    assert figures(r"once and persistently: # cases, all passing") == [len(test_faults.params())]
    assert figures(r"decodes # crafted files") == [len(CRAFTED)]
    corpus = ROOT / "fuzz" / "corpus"
    load_seeds = [
        path
        for directory in corpus.glob("load_*")
        if directory.name != "load_time"
        for path in directory.iterdir()
    ]
    assert figures(r"The load targets' seeds \(# files in `fuzz/corpus/`") == [len(load_seeds)]
    assert figures(r"Its # seeds cover every shape") == [
        len(list((corpus / "load_time").iterdir()))
    ]
    refused = [case for case in GENERATED if case.expect == CORRUPT]
    assert figures(
        r"`test_a_file_of_up_to_1_mb_loads_or_is_refused_within_a_second` \(# files\)"
    ) == [len(refused)]
    assert figures(
        r"`test_a_rival_started_at_the_same_instant_names_the_live_holder` \(# pairs\)"
    ) == [test_lock_holder.PAIRS]


def test_the_kill_and_edit_counts_are_the_suites() -> None:
    """The kills of each run in the crash table, and the edits of the watch race."""
    quick, long = test_crash.QUICK_CYCLES, 5000  # the long run's default
    for row, kills in (
        (r"all categories \(default run\)", quick),
        (r"conversation \+ user data \(default run\)", quick),
        (r"all categories \(long run\)", long),
        (r"conversation \+ user data \(long run\)", long),
    ):
        assert figures(rf"\| {row} \| # \|") == [kills]
    source = (ROOT / "tests" / "test_crash.py").read_text("utf-8")
    assert '"JSONPERSIST_CRASH_CYCLES", "5000"' in source
    for control, nth in (("naive in-place writer", 40), ("two rounds in a row", 60)):
        assert figures(rf"\| \*\*control: {control}\*\* \| # \|") == [nth]
        assert f'tmp_path / "state", {nth}, seed=' in source
    assert (
        figures(
            r"against nonstop saves of a real `Application`: # of # edits lost in the default run"
        )[1]
        == 1000
    )
    assert (
        '"JSONPERSIST_RACE_EDITS", "1000"' in (ROOT / "tests" / "test_watch_race.py").read_text()
    )


def colliding_items(case_id: str) -> int:
    """How many ids, items or keys share one hash in a generated file of the hostile corpus."""
    raw = next(case for case in GENERATED if case.id == case_id).build()
    tree = json.loads(raw)
    longest, stack = 0, [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            longest = max(longest, len(node))
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
    # A file laid out as [header, entry, ...] counts its header too.
    is_entries = isinstance(tree, list) and len(tree) == longest and isinstance(tree[0], dict)
    return longest - 1 if is_entries else longest


@pytest.mark.parametrize(
    ("row", "case_id"),
    [
        (r"# user ids that are multiples of 2⁶¹-1", "user-ids-colliding-1mb"),
        (r"# chat ids, negative", "chat-ids-colliding-1mb"),
        (r"# user ids, laid out as jsonpersist writes", "user-ids-colliding-canonical-1mb"),
        (r"a `\$set` of # big ints", "set-of-colliding-ints-1mb"),
        (r"a `\$frozenset` of # big ints", "frozenset-of-colliding-ints-1mb"),
        (r"a `\$dict` of # big int keys", "dict-of-colliding-int-keys-1mb"),
        (r"a `\$set` of # Decimals", "set-of-colliding-decimals-1mb"),
        (r"a `\$set` of # UUIDs", "set-of-colliding-uuids-1mb"),
        (r"a `\$set` of # one-int tuples", "set-of-colliding-tuples-1mb"),
        (r"a `\$set` of # Users", "set-of-colliding-users-1mb"),
        (r"# conversation keys \(tuples\)", "conversation-keys-colliding-v1-1mb"),
        (r"# sets of 32 colliding ints each", "sets-of-32-colliding-ints-1mb"),
        (r"a `\$set` of # distinct big ints", "set-of-distinct-big-ints-1mb"),
        (r"# distinct user ids", "user-ids-distinct-1mb"),
    ],
)
def test_the_1_mb_table_counts_the_items_of_the_tests_files(row: str, case_id: str) -> None:
    assert figures(rf"\| {row}") == [colliding_items(case_id)]


async def test_on_macos_a_state_file_is_flushed_with_f_fullfsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where ``sys.platform`` is ``darwin``, files get ``F_FULLFSYNC`` instead of ``fsync``."""
    import fcntl  # POSIX only, like the code under test

    persistence = JsonPersistence(tmp_path)
    await persistence.get_user_data()
    full, plain = [], []
    real_fsync = os.fsync

    def fake_fcntl(fd: int, command: int, *args: Any) -> int:
        full.append(stat.S_ISREG(os.fstat(fd).st_mode) and command == 51)
        return 0

    def recording_fsync(fd: int) -> None:
        plain.append(stat.S_ISREG(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr("sys.platform", "darwin")
    monkeypatch.setattr(fcntl, "F_FULLFSYNC", 51, raising=False)
    monkeypatch.setattr(fcntl, "fcntl", fake_fcntl)
    monkeypatch.setattr(os, "fsync", recording_fsync)
    await persistence.update_user_data(1, {"a": 1})
    monkeypatch.undo()
    assert full == [True]  # the temporary file of user_data.json
    assert plain == [False]  # the directory (F_FULLFSYNC is for files)
    await persistence.flush()


def test_the_equivalent_mutants_the_page_counts_are_listed_with_reasons() -> None:
    text = (ROOT / "docs" / "guarantees.md").read_text("utf-8")
    section = text.split("\n## Mutation scores\n", 1)[1].split("\n## ", 1)[0]
    stated = re.findall(r"^\| `(_\w+)\.py`[^|]*\|[^|]*\| (\d+) \|", section, re.MULTILINE)
    assert len(stated) == 4
    for module, count in stated:
        listed = ROOT / "tests" / "mutation" / f"equivalent-{module.lstrip('_')}.txt"
        rows = [
            row
            for row in listed.read_text("utf-8").splitlines()
            if row.strip() and not row.startswith("#")
        ]
        assert len(rows) == int(count), module
        assert all(re.match(r"L\d+:C\d+:\S+  \S", row) for row in rows), module  # a reason each
