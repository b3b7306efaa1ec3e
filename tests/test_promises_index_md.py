"""The promises of docs/index.md, and the tests that stand behind them.

See ``tests/promises.py``: each quote is on the page, each test named fails if it breaks.
"""

from __future__ import annotations

from promises import Promise

PAGE = "docs/index.md"
HOW = "tests/test_promises_how_it_works.py"

PROMISES = [
    Promise(
        PAGE,
        "one readable file per category, one line per user, chat, conversation or bot data key, "
        "written crash-safely, with every value a handler stored coming back with its type.",
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
        "`DictPersistence` writes JSON but loses tuples, `int` keys nested in dicts, sets and "
        "datetimes.",
        (
            "tests/ptb_contract/test_ptb_differences.py::"
            "test_json_attributes_hold_tags_where_dict_persistence_loses_types",
        ),
    ),
    Promise(
        PAGE,
        "tuples, sets, `int`/tuple keys, big ints, bytes, datetimes with their zone, `Decimal`, "
        "`UUID`, every `TelegramObject` (with the current bot attached after a restart), and your "
        "own registered types.",
        (
            "tests/test_codec.py::test_every_supported_value_round_trips_identically",
            "tests/test_codec.py::test_registered_types_round_trip_identically_anywhere",
            "tests/test_application.py::test_everything_survives_a_restart",
        ),
    ),
    Promise(
        PAGE,
        'plain JSON stays plain; a tag such as `{"$tuple": [1, 2]}` appears only where a type '
        "needs one.",
        ("tests/test_codec.py::test_plain_json_is_returned_as_it_is_and_written_as_json",),
    ),
    Promise(
        PAGE,
        "One line per user, chat, conversation or bot data key, ids sorted as numbers: a change "
        "to one user is a one-line diff, and a new user adds a line without changing another.",
        (
            "tests/test_persistence.py::test_file_is_deterministic_sorted_by_id_one_line_each",
            "tests/test_lines.py::test_one_users_change_is_one_line_out_and_one_in",
            "tests/test_lines.py::test_a_new_user_adds_lines_and_changes_none",
            "tests/test_lines.py::test_one_bot_data_key_is_one_line_out_and_one_in",
        ),
    ),
    Promise(
        PAGE,
        "`jsonpersist merge`, set up by `jsonpersist git-setup`, merges two branches entry by "
        "entry; only an entry both changed differently is a conflict, one line each.",
        (
            "tests/test_git.py::test_two_branches_merge_cleanly_with_both_sides_changes",
            "tests/test_git.py::test_the_driver_really_ran",
            "tests/test_git.py::test_one_entry_changed_differently_conflicts_on_its_lines_only",
            "tests/test_git.py::test_an_entry_both_branches_changed_the_same_way_is_kept_once",
        ),
    ),
    Promise(
        PAGE,
        "every save is a temporary file, `fsync`, rename and directory `fsync`; a save of several "
        "files goes through a redo journal, so a crash never mixes old and new files.",
        (
            "tests/test_faults.py::test_every_step_is_reached",
            "tests/test_crash.py::test_kill_9_across_two_files_never_mixes",
            "tests/test_crash.py::test_kill_9_while_saving_every_category",
        ),
    ),
    Promise(
        PAGE,
        "all updates of one `Application.update_persistence` run are written once, off the event "
        "loop, re-encoding only the entries that changed.",
        (
            "tests/test_persistence.py::"
            "test_gather_across_categories_is_one_round_with_one_journal",
            f"{HOW}::test_a_round_encodes_and_writes_off_the_event_loop",
            f"{HOW}::test_a_round_encodes_only_the_changed_user_chat_and_bot_data_entries",
            "tests/test_lines.py::test_a_round_encodes_only_the_conversation_that_changed",
        ),
    ),
    Promise(
        PAGE,
        "a damaged file raises [`CorruptStateError`](errors.md#corruptstateerror) naming the file "
        "and the position; it is never replaced by an empty state.",
        (
            "tests/test_persistence.py::test_a_corrupt_file_names_the_position_or_key",
            "tests/test_persistence.py::test_a_corrupt_file_is_refused_and_never_overwritten",
            "tests/test_damaged.py::test_every_truncation",
        ),
    ),
    Promise(
        PAGE,
        "the [`jsonpersist` command](cli.md) checks, shows, snapshots and converts state (to and "
        "from `PicklePersistence`).",
        (
            "tests/test_cli.py::test_pickle_import_check_show_export_round_trip",
            "tests/test_cli.py::test_snapshot_of_a_running_bot_is_one_save",
        ),
    ),
    Promise(
        PAGE,
        "the first installs jsonpersist and runs the offline demo, a real `Application` with no "
        "token and no network that goes through a scripted chat, prints its state files, restarts "
        "and carries on where it left off",
        (
            "tests/test_application.py::"
            "test_the_readme_demo_runs_and_its_state_survives_the_restart",
        ),
    ),
]
