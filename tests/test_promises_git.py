"""The promises of ``docs/git.md`` and the tests behind them (see ``tests/promises.py``).

The page's examples (the ``.gitattributes`` lines, the ``.gitignore``, the diff, the conflicted
file and ``check``'s message) are compared with what the code writes by ``tests/test_git_docs.py``.
"""

from __future__ import annotations

from promises import Promise

PAGE = "docs/git.md"
GIT = "tests/test_git.py"
DOCS = "tests/test_git_docs.py"
LINES = "tests/test_lines.py"

PROMISES = [
    Promise(
        PAGE,
        "one line per entry (a user, a chat, a conversation, a bot data key), deterministic "
        "bytes, ids in numeric order",
        (
            f"{LINES}::test_the_seeded_state_is_one_line_per_user_and_per_conversation",
            "tests/test_format_v2.py::test_an_example_of_the_docs_is_what_the_code_reads_and_writes",
        ),
    ),
    Promise(
        PAGE,
        "it adds one line per state file of that directory to the `.gitattributes` at the top "
        "of the work tree",
        (
            f"{DOCS}::test_the_gitattributes_lines_are_those_git_setup_writes",
            f"{GIT}::test_git_setup_marks_nothing_but_the_five_files",
        ),
    ),
    Promise(
        PAGE,
        "`<this python> -m jsonpersist merge %O %A %B %P` with the absolute path of the Python "
        "that ran `git-setup`",
        (f"{GIT}::test_the_driver_really_ran",),
    ),
    Promise(
        PAGE,
        "it decodes every file first, as `check` does, and copies nothing if one does not load; "
        "it writes the copies into `DEST` atomically, all or none, and removes a state file from "
        "`DEST` that no longer exists in the source. `--force` is needed when `DEST` already "
        "holds files",
        (
            "tests/test_promises_cli.py::test_snapshot_refuses_a_source_that_does_not_load",
            "tests/test_promises_cli.py::test_snapshot_writes_the_state_files_and_gitignore_all_or_none",
            "tests/test_promises_cli.py::test_snapshot_removes_a_state_file_gone_from_the_source_durably",
            "tests/test_promises_cli.py::test_snapshot_refuses_a_destination_that_holds_files_without_force",
        ),
    ),
    Promise(
        PAGE,
        "A bot that registers its own types passes them, as to `check`",
        ("tests/test_promises_cli.py::test_snapshot_of_registered_types_needs_the_types",),
    ),
    Promise(
        PAGE,
        "Running it again changes nothing.",
        (f"{GIT}::test_git_setup_twice_changes_nothing",),
    ),
    Promise(
        PAGE,
        "Without the driver, git falls back to its line merge, which conflicts whenever both "
        "branches changed neighbouring lines.",
        (f"{GIT}::test_the_driver_really_ran",),
    ),
    Promise(
        PAGE,
        "The `.gitignore` jsonpersist writes into the state directory keeps out what is not state",
        (
            f"{DOCS}::test_the_gitignore_the_page_shows_is_the_one_written_into_the_state_directory",
            "tests/test_persistence.py::test_an_existing_gitignore_is_left_alone",
        ),
    ),
    Promise(
        PAGE,
        "`snapshot` takes the directory's round lock (the bot's saves wait for it, for as long as "
        "the copy takes), so the copy holds every file of one save",
        ("tests/test_cli.py::test_snapshot_of_a_running_bot_is_one_save",),
    ),
    Promise(
        PAGE,
        "a user's data changed: one line out, one line in",
        (f"{LINES}::test_one_users_change_is_one_line_out_and_one_in",),
    ),
    Promise(
        PAGE,
        "a conversation moved on one step (with the user data its handler changed): one line each",
        (f"{LINES}::test_a_conversation_step_changes_a_few_lines",),
    ),
    Promise(
        PAGE,
        "a new user: one line added to `user_data.json` (and to the other files the first update "
        "touched); no existing line changes, not even the one before it",
        (
            f"{LINES}::test_a_new_user_adds_lines_and_changes_none",
            f"{LINES}::test_a_new_users_first_step_changes_a_few_lines",
        ),
    ),
    Promise(
        PAGE,
        "a user's data dropped: one line removed",
        (f"{LINES}::test_dropping_a_user_and_their_chat_removes_exactly_their_lines",),
    ),
    Promise(
        PAGE,
        "Here user 1001's score changed and user 1003 was added (git's own output)",
        (f"{DOCS}::test_the_diff_is_what_git_shows",),
    ),
    Promise(
        PAGE,
        "With 2,000 users, a user's change is a diff of one line out and one in; a conversation "
        "step or a new user changes at most six lines across the files, under 4 KB of diff",
        (
            f"{LINES}::test_one_users_change_is_one_line_out_and_one_in",
            f"{LINES}::test_a_conversation_step_changes_a_few_lines",
            f"{LINES}::test_a_new_users_first_step_changes_a_few_lines",
        ),
    ),
    Promise(
        PAGE,
        "an entry only one branch changed (or added, or removed) takes that branch's version",
        (f"{GIT}::test_two_branches_merge_cleanly_with_both_sides_changes",),
    ),
    Promise(
        PAGE,
        "an entry both branches changed the same way is kept once",
        (f"{GIT}::test_an_entry_both_branches_changed_the_same_way_is_kept_once",),
    ),
    Promise(
        PAGE,
        "the driver writes that entry's two versions between git's markers, one line each, "
        "merges everything else, and git reports the file as conflicted",
        (f"{GIT}::test_one_entry_changed_differently_conflicts_on_its_lines_only",),
    ),
    Promise(
        PAGE,
        "Two branches that changed different users merge cleanly, neighbours included",
        (f"{GIT}::test_two_branches_merge_cleanly_with_both_sides_changes",),
    ),
    Promise(
        PAGE,
        "So do new users on both branches, conversation steps of two users, different `bot_data` "
        "keys, and a removed user beside a changed neighbour.",
        (f"{GIT}::test_two_branches_merge_cleanly_with_both_sides_changes",),
    ),
    Promise(
        PAGE,
        "if one branch removed a user that the other changed, that is a conflict, "
        "with the changed version between the markers",
        (f"{GIT}::test_a_delete_against_a_change_of_the_same_entry_keeps_the_change_in_conflict",),
    ),
    Promise(
        PAGE,
        "The driver reads the files as entries without decoding the values, so it needs no "
        "registered types.",
        (f"{DOCS}::test_the_driver_needs_no_registered_types",),
    ),
    Promise(
        PAGE,
        "Files of format version 1 (written by older jsonpersist) are merged too; the result is "
        "version 2.",
        (
            f"{GIT}::test_a_version_1_side_merges_with_a_version_2_side",
            "tests/test_review_merge_v1_ids.py::test_a_version_1_id_the_loader_refuses_is_not_merged_as_another_id",
        ),
    ),
    Promise(
        PAGE,
        "is handed to git's own line merge, with a message on stderr saying so, and the merge "
        "reports a conflict even if git's line merge was clean",
        (f"{DOCS}::test_a_side_that_is_no_state_file_falls_back_to_gits_line_merge",),
    ),
    Promise(
        PAGE,
        "`jsonpersist check` says so, with the file, the lines and the entries",
        (
            f"{DOCS}::test_the_conflict_and_checks_message_are_what_the_page_shows",
            "tests/test_format_v2.py::test_a_file_with_conflict_markers_is_a_merge_conflict_naming_its_lines",
        ),
    ),
    Promise(
        PAGE,
        "Keeping both lines is refused by `check` (the same key twice).",
        (f"{DOCS}::test_the_conflict_and_checks_message_are_what_the_page_shows",),
    ),
    Promise(
        PAGE,
        "decodes every state file as the bot would at start-up and exits with status 1, naming "
        "each bad file and the position, if one does not load",
        (
            f"{GIT}::test_one_entry_changed_differently_conflicts_on_its_lines_only",
            "tests/test_cli.py::test_check_names_every_damaged_file_and_leaves_it_alone",
        ),
    ),
    Promise(
        PAGE,
        "The hook runs only when a state file is part of the commit.",
        (f"{GIT}::test_the_pre_commit_hook_runs_check_on_the_state_files",),
    ),
    Promise(
        PAGE,
        "With [`watch=True`](watch.md) the bot picks restored files up while it runs; without it, "
        "stop the bot first, or it overwrites the restored files at its next save.",
        (
            "tests/test_watch.py::test_hand_edits_of_every_category_reach_the_handler_and_survive_a_restart",
            "tests/test_watch.py::test_without_watch_edits_are_not_picked_up",
        ),
    ),
]
