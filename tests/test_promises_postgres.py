"""The promises of ``docs/postgres.md`` and the tests behind them (see ``tests/promises.py``).

All of them run against a real PostgreSQL server (``tests/postgres``); its schema and queries
are checked against the page by ``tests/postgres/test_pg_docs.py``.
"""

from __future__ import annotations

from promises import on_page

PAGE = "docs/postgres.md"
PG = "tests/postgres/test_pg_persistence.py"
APP = "tests/postgres/test_pg_application.py"
COPY = "tests/postgres/test_pg_copy.py"
CRASH = "tests/postgres/test_pg_crash.py"
DOCS = "tests/postgres/test_pg_docs.py"


_promise = on_page(PAGE)


PROMISES = [
    _promise(
        "one row per user, chat, conversation, bot-data key and callback keyboard, holding the "
        "same tagged JSON as the files (as `jsonb`), with every type coming back as it was",
        f"{PG}::test_rows_hold_the_entry_model_and_jsonb_only_where_it_is_exact",
        f"{PG}::test_every_category_comes_back_the_same",
        "tests/postgres/test_pg_roundtrip.py::test_values_round_trip_through_the_database",
    ),
    _promise(
        "and `jsonpersist copy postgresql://... state/` is the way back",
        f"{COPY}::test_files_to_database_and_back_is_lossless",
        f"{COPY}::test_database_written_by_the_bot_to_files",
    ),
    _promise(
        "nothing of it is imported unless you use `PostgresPersistence` or a URL in the tools",
        f"{PG}::test_importing_jsonpersist_does_not_import_psycopg",
    ),
    _promise(
        "jsonpersist refuses others, since `jsonb` strings would lose characters",
        f"{DOCS}::test_a_database_not_in_utf8_is_refused",
    ),
    _promise(
        "an `application_name` of the form `jsonpersist NAME pid PID on HOST`, which is what a "
        "second owner is told. The password never appears in errors.",
        f"{PG}::test_a_second_owner_is_refused_within_a_second_naming_the_holder",
        f"{PG}::test_a_holder_killed_with_sigkill_frees_the_name",
        f"{PG}::test_the_password_never_shows_in_errors",
    ),
    _promise(
        "several bots share one database, each with its own name (its rows and its lock)",
        f"{PG}::test_context_types_and_bot_names",
        f"{DOCS}::test_two_bots_starting_at_once_on_an_empty_database_both_start",
    ),
    _promise(
        "Seconds that connecting, and each statement or fetch, may take before the operation "
        "fails with `DatabaseError`. Large rounds are written in statements of 5,000 rows",
        f"{PG}::test_an_unreachable_server_fails_in_bounded_time",
        f"{PG}::test_a_large_round_is_written_in_bounded_statements",
    ),
    _promise(
        "Created on first use (under a transaction-level advisory lock, so that two bots starting "
        "at once do not race), version 1",
        f"{DOCS}::test_two_bots_starting_at_once_on_an_empty_database_both_start",
        f"{DOCS}::test_the_schema_the_page_shows_is_the_one_created",
    ),
    _promise(
        "A jsonpersist that finds another schema version refuses to start (`DatabaseError`).",
        f"{PG}::test_a_newer_schema_is_refused",
    ),
    _promise(
        "a bot-data key can be longer than that",
        f"{PG}::test_keys_longer_than_a_btree_entry_are_stored",
    ),
    _promise(
        "A round therefore writes the keyboards that changed or moved, not the whole cache.",
        f"{PG}::test_bot_data_and_keyboards_write_only_their_changed_rows",
    ),
    _promise(
        "A row whose JSON contains one of them (also a string that merely looks like one) is "
        "stored as exact text in `value_text`, with `value` NULL.",
        f"{PG}::test_rows_hold_the_entry_model_and_jsonb_only_where_it_is_exact",
    ),
    _promise(
        "-- users per language",
        f"{DOCS}::test_the_pages_queries_run_and_answer_what_they_say",
    ),
    _promise(
        "An `UPDATE` of a value (keep it in the codec's format; `jsonpersist check URL` decodes "
        "every row) is loaded at the bot's next start.",
        f"{PG}::test_rows_edited_with_sql_are_loaded",
        f"{COPY}::test_check_and_show_read_a_url",
    ),
    _promise(
        "users whose data did not change cost nothing, and a round with no change sends no "
        "statement at all",
        f"{PG}::test_a_round_writes_only_the_rows_that_changed",
        f"{PG}::test_after_a_restart_unchanged_data_writes_nothing",
    ),
    _promise(
        "A value that cannot be stored fails only its own `update_*` (with "
        "`UnsupportedTypeError`, naming the key path); its row keeps the last good value.",
        f"{PG}::test_a_value_that_cannot_be_stored_fails_only_its_own_entry",
        f"{APP}::test_a_value_that_cannot_be_stored_reaches_the_error_handler",
    ),
    _promise(
        "leave the previous round or this whole round, never a part, across all categories",
        f"{CRASH}::test_kill_9_while_saving_every_category",
        f"{CRASH}::test_the_server_crashing_mid_round_keeps_all_or_nothing",
        f"{CRASH}::test_all_or_nothing_after_a_crash_mid_round",
    ),
    _promise(
        "While the server is unreachable, each round fails with `DatabaseError` within `timeout` "
        "seconds",
        f"{PG}::test_an_unreachable_server_fails_in_bounded_time",
        f"{CRASH}::test_the_server_crashing_mid_round_keeps_all_or_nothing",
    ),
    _promise(
        "A connection that died while idle (a server restart) is opened again and the round "
        "retried once, without an error.",
        f"{CRASH}::test_a_connection_the_server_cut_is_opened_again",
    ),
    _promise(
        "`on_flush=True` encodes as changes come and writes only at `flush()` (shutdown).",
        f"{PG}::test_on_flush_writes_only_at_flush",
    ),
    _promise(
        "A row does not decode (a hand edit): names the bot, the category and the key path. "
        "Nothing is overwritten.",
        f"{PG}::test_bad_rows_raise_corrupt_state_error_naming_them",
    ),
    _promise(
        "A second one, in this or another process or host, gets a `DatabaseLockedError` (a "
        "`StateLockedError`) within a second, naming the holder",
        f"{PG}::test_a_second_owner_is_refused_within_a_second_naming_the_holder",
    ),
    _promise(
        "The name is released by `flush()` (at the end of `Application.shutdown()`), or when the "
        "holder's connection ends: immediately when the holder is killed with SIGKILL",
        f"{PG}::test_the_name_is_free_as_soon_as_flush_returns",
        f"{PG}::test_a_holder_killed_with_sigkill_frees_the_name",
    ),
    _promise(
        "If another instance took it meanwhile, the round fails with `DatabaseLockedError`.",
        f"{CRASH}::test_losing_the_name_while_disconnected_is_reported",
    ),
    _promise(
        "`refresh_user_data`, `refresh_chat_data` and `refresh_bot_data` do nothing here",
        f"{DOCS}::test_refresh_does_nothing_even_after_a_row_was_edited",
    ),
    _promise(
        "Reading takes no lock and creates nothing",
        f"{COPY}::test_check_and_show_read_a_url",
        f"{DOCS}::test_the_tools_read_a_database_a_running_bot_owns",
    ),
    _promise(
        "refuses a destination that already holds state unless `--force`, and never writes into "
        "a destination that a running bot owns",
        f"{COPY}::test_a_destination_with_state_needs_force",
        f"{COPY}::test_never_into_a_database_a_running_bot_owns",
        f"{COPY}::test_never_into_a_directory_a_running_bot_owns",
    ),
    _promise(
        "Copying files to the database and back gives the same files byte for byte (tested).",
        f"{COPY}::test_files_to_database_and_back_is_lossless",
    ),
    _promise(
        "Switching a bot from the files is that line, plus one copy of its state",
        f"{APP}::test_everything_survives_a_restart",
        f"{COPY}::test_files_to_database_and_back_is_lossless",
    ),
]
