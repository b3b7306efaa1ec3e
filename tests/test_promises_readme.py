"""The promises of README.md, and the tests that stand behind those no suite covered.

See ``tests/promises.py``: each quote is on the page, each test named fails if it breaks.
"""

from __future__ import annotations

import re
import subprocess
import sys

from promises import ROOT, Promise

PAGE = "README.md"

HOW = "tests/test_promises_how_it_works.py"
ENCODES_CHANGED = f"{HOW}::test_a_round_encodes_only_the_changed_user_chat_and_bot_data_entries"
OFF_THE_LOOP = f"{HOW}::test_a_round_encodes_and_writes_off_the_event_loop"
RIVAL = (
    "tests/test_security.py::"
    "test_a_rival_is_refused_with_the_pid_and_a_killed_holder_frees_the_directory"
)

PROMISES = [
    Promise(
        PAGE,
        "Long runs stay out of the default test run and have their own commands",
        (
            "tests/test_promises_readme.py::test_every_long_run_the_readme_names_is_a_script_that_starts",
        ),
    ),
    Promise(
        PAGE,
        "The first command installs jsonpersist and runs the offline demo: a real "
        "python-telegram-bot `Application` (no token, no network) goes through a scripted chat, "
        "prints its state files, restarts, and carries on where it left off.",
        (
            "tests/test_application.py::"
            "test_the_readme_demo_runs_and_its_state_survives_the_restart",
        ),
    ),
    Promise(
        PAGE,
        "one readable file per category, one line per user, chat, conversation or bot data key, "
        "written crash-safely, with every type a handler stored coming back as it was.",
        (
            "tests/test_persistence.py::test_file_is_deterministic_sorted_by_id_one_line_each",
            "tests/test_persistence.py::test_any_conversations_are_a_line_each_in_one_order",
            "tests/test_persistence.py::test_any_bot_data_keys_are_a_line_each_in_one_order",
            "tests/test_application.py::test_everything_survives_a_restart",
            "tests/test_crash.py::test_kill_9_while_saving_every_category",
        ),
    ),
    Promise(
        PAGE,
        'persistence = JsonPersistence("state/") # created if missing',
        (
            "tests/test_local_attackers.py::"
            "test_missing_parents_are_created_0700_even_with_umask_0",
        ),
    ),
    Promise(
        PAGE,
        "After a restart the set is a set, the key a tuple, and the message answers "
        "# `reply_text()` through the new bot.",
        (
            "tests/test_application.py::test_everything_survives_a_restart",
            "tests/test_lines.py::test_a_users_str_keys_stay_readable_beside_a_tuple_key",
        ),
    ),
    Promise(
        PAGE,
        "| Readable, diffable files | yes | no | JSON, by hand |",
        (
            "tests/test_persistence.py::test_file_is_deterministic_sorted_by_id_one_line_each",
            "tests/test_lines.py::test_one_users_change_is_one_line_out_and_one_in",
        ),
    ),
    Promise(
        PAGE,
        "| Tuples, sets, int keys, datetimes | kept | kept | lost or error |",
        (
            "tests/test_codec.py::test_every_supported_value_round_trips_identically",
            "tests/ptb_contract/test_ptb_differences.py::"
            "test_json_attributes_hold_tags_where_dict_persistence_loses_types",
        ),
    ),
    Promise(
        PAGE,
        "| Safe to load an untrusted file | yes | no (runs code) | yes |",
        (
            "tests/test_security.py::"
            "test_a_crafted_file_makes_the_decoder_neither_import_nor_call_anything",
            "tests/test_hostile.py::test_hostile_file",
        ),
    ),
    Promise(
        PAGE,
        "| Crash during a save | old or new state, never broken | can leave an unloadable file |",
        (
            "tests/test_crash.py::test_kill_9_while_saving_every_category",
            "tests/test_crash.py::test_the_naive_writer_is_caught_corrupting",
        ),
    ),
    Promise(
        PAGE,
        "| Two bots on one directory | refused (lock, with the holder's PID) | silently clobber |",
        (
            RIVAL,
            "tests/ptb_contract/test_ptb_differences.py::"
            "test_a_second_owner_is_refused_where_pickle_lets_both_write",
        ),
    ),
    Promise(
        PAGE,
        "| Cost of a save | changed entries only, off the event loop |",
        (ENCODES_CHANGED, OFF_THE_LOOP),
    ),
    Promise(
        PAGE,
        "tuples, sets, frozensets, `int`/tuple/`None` keys, big ints, NaN, bytes, `datetime` "
        "(with `zoneinfo`), `Decimal`, `UUID`, every `telegram.TelegramObject` (with the current "
        "bot attached on load), and your own registered types.",
        (
            "tests/test_codec.py::test_every_supported_value_round_trips_identically",
            "tests/test_codec.py::test_registered_types_round_trip_identically_anywhere",
            "tests/test_codec.py::"
            "test_a_telegram_object_of_the_current_bot_comes_back_with_the_new_current_bot",
        ),
    ),
    Promise(
        PAGE,
        "with `watch=True`, a person's edit of a state file reaches the running bot before the "
        "next handler, and a save merges it instead of overwriting it",
        (
            "tests/test_watch.py::"
            "test_hand_edits_of_every_category_reach_the_handler_and_survive_a_restart",
            "tests/test_watch.py::test_an_edit_made_before_a_save_is_merged_not_clobbered",
            "tests/test_lose_nothing.py::test_a_valid_edit_is_not_undone_by_the_shutdown_flush",
        ),
    ),
    Promise(
        PAGE,
        "`jsonpersist check | show | import-pickle | export-pickle | snapshot | merge | git-setup "
        "| copy`",
        (
            "tests/test_cli.py::test_help_has_examples_and_exit_codes",
            "tests/test_cli.py::test_snapshot_of_a_running_bot_is_one_save",
            "tests/test_git.py::test_the_driver_really_ran",
            "tests/test_git.py::test_git_setup_twice_changes_nothing",
            "tests/postgres/test_pg_copy.py::test_files_to_database_and_back_is_lossless",
        ),
    ),
    Promise(
        PAGE,
        "`PostgresPersistence(url)` keeps the same entries as rows of one transaction per round, "
        "one owner at a time, and `jsonpersist copy` moves a state between files and the database",
        (
            "tests/postgres/test_pg_persistence.py::"
            "test_rows_hold_the_entry_model_and_jsonb_only_where_it_is_exact",
            "tests/postgres/test_pg_crash.py::test_all_or_nothing_after_a_crash_mid_round",
            "tests/postgres/test_pg_persistence.py::"
            "test_a_second_owner_is_refused_within_a_second_naming_the_holder",
            "tests/postgres/test_pg_copy.py::test_files_to_database_and_back_is_lossless",
        ),
    ),
    Promise(
        PAGE,
        'plain JSON stays plain; tags such as `{"$tuple": [1, 2]}` only where a type needs one.',
        ("tests/test_codec.py::test_plain_json_is_returned_as_it_is_and_written_as_json",),
    ),
    Promise(
        PAGE,
        "Deterministic bytes, ids sorted as numbers, one line per entry: a change to one user is "
        "a one-line diff, and a new user adds a line without touching the others.",
        (
            "tests/test_codec.py::test_equal_values_built_in_another_order_give_identical_bytes",
            "tests/test_persistence.py::test_file_is_deterministic_sorted_by_id_one_line_each",
            "tests/test_lines.py::test_one_users_change_is_one_line_out_and_one_in",
            "tests/test_lines.py::test_a_new_user_adds_lines_and_changes_none",
        ),
    ),
    Promise(
        PAGE,
        "A `.gitignore` for the lock and temporary files is written for you.",
        ("tests/test_persistence.py::test_the_directory_can_be_committed_to_git",),
    ),
    Promise(
        PAGE,
        "two branches that changed different users (neighbours included), conversations or bot "
        "data keys merge cleanly, and a real conflict is one entry's two lines",
        (
            "tests/test_git.py::test_two_branches_merge_cleanly_with_both_sides_changes",
            "tests/test_git.py::test_one_entry_changed_differently_conflicts_on_its_lines_only",
        ),
    ),
    Promise(
        PAGE,
        "temp file, fsync, rename, directory fsync; several files of one save go through a redo "
        "journal, so a crash never mixes old and new.",
        (
            "tests/test_faults.py::test_every_step_is_reached",
            "tests/test_crash.py::test_kill_9_across_two_files_never_mixes",
            "tests/test_crash.py::test_kill_9_while_saving_every_category",
        ),
    ),
    Promise(
        PAGE,
        "all updates of one `update_persistence` run are written once, off the event loop, "
        "re-encoding only what changed; unchanged data writes nothing.",
        (
            "tests/test_persistence.py::"
            "test_gather_across_categories_is_one_round_with_one_journal",
            OFF_THE_LOOP,
            ENCODES_CHANGED,
            "tests/test_lines.py::test_a_round_encodes_only_the_conversation_that_changed",
            "tests/test_persistence.py::test_unchanged_data_writes_nothing",
            "tests/test_lines.py::test_a_message_that_changes_nothing_writes_nothing",
        ),
    ),
    Promise(
        PAGE,
        "Plain data goes to `orjson` as it is, once a small C module, compiled at install, has "
        "checked that it needs no tags (without a C compiler the same check runs in Python",
        (
            "tests/test_codec.py::test_plain_json_is_returned_as_it_is_and_written_as_json",
            "tests/test_build.py::"
            "test_a_build_without_a_c_compiler_warns_and_ships_no_stale_module",
        ),
    ),
    Promise(
        PAGE,
        "`jsonpersist --version` says which",
        ("tests/test_cli.py::test_help_has_examples_and_exit_codes",),
    ),
    Promise(
        PAGE,
        "a damaged or hand-broken file raises `CorruptStateError` naming the file and position or "
        "key path, and is never silently replaced by an empty state.",
        (
            "tests/test_persistence.py::test_a_corrupt_file_names_the_position_or_key",
            "tests/test_persistence.py::test_a_corrupt_file_is_refused_and_never_overwritten",
            "tests/test_damaged.py::test_every_truncation",
        ),
    ),
    Promise(
        PAGE,
        "LGPL-3.0-or-later, like python-telegram-bot.",
        ("tests/test_promises_readme.py::test_the_licence_is_the_one_the_readme_names",),
    ),
]


def test_the_licence_is_the_one_the_readme_names() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    assert re.findall(r'^license = "(.*)"$', pyproject, flags=re.MULTILINE) == [
        "LGPL-3.0-or-later"
    ]


def test_every_long_run_the_readme_names_is_a_script_that_starts() -> None:
    """The "Long runs" block names scripts that exist; those with options answer ``--help``."""
    text = (ROOT / "README.md").read_text("utf-8")
    block = text.split("Long runs stay out of the default test run", 1)[1].split("```sh\n")[1]
    block = block.split("```", 1)[0]
    scripts = re.findall(r"python (?:-m pytest )?((?:benchmarks|tests)/[\w/]+\.py)", block)
    assert len(scripts) >= 8
    for script in scripts:
        assert (ROOT / script).is_file(), script
        source = (ROOT / script).read_text("utf-8")
        if "argparse" in source:
            done = subprocess.run(
                [sys.executable, str(ROOT / script), "--help"],
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            assert done.returncode == 0, (script, done.stderr[-500:])
