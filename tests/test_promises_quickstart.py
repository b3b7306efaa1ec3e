"""The promises of docs/quickstart.md, and the tests that stand behind those no suite covered.

See ``tests/promises.py``: each quote is on the page, each test named fails if it breaks.
"""

from __future__ import annotations

import datetime as dtm
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from offline import BOT_TOKEN, OfflineRequest
from promises import ROOT, Promise
from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from jsonpersist import JsonPersistence, TypeRegistry, UnsupportedTypeError

PAGE = "docs/quickstart.md"

QS = "tests/test_promises_quickstart.py"
HOW = "tests/test_promises_how_it_works.py"
COUNT_BOT = f"{QS}::test_the_count_bot_writes_the_file_the_page_shows"

PROMISES = [
    Promise(
        PAGE,
        "jsonpersist needs Python 3.10 or later and python-telegram-bot 22. CI runs the whole "
        "test suite on Python 3.10, 3.11, 3.12 and 3.13, with the C modules built.",
        (f"{QS}::test_ci_runs_the_suite_on_every_python_the_package_claims",),
    ),
    Promise(
        PAGE,
        "It depends on `python-telegram-bot`, [orjson](https://github.com/ijl/orjson) (JSON) and "
        "[filelock](https://github.com/tox-dev/filelock) (the directory lock).",
        (f"{QS}::test_the_dependencies_are_the_three_the_page_names",),
    ),
    Promise(
        PAGE,
        "The install also compiles two small C modules",
        (
            "tests/test_build.py::"
            "test_a_build_without_a_c_compiler_warns_and_ships_no_stale_module",
        ),
    ),
    Promise(
        PAGE,
        "Without a C compiler the install still succeeds and uses the same check written in "
        "Python",
        (
            "tests/test_build.py::"
            "test_a_build_without_a_c_compiler_warns_and_ships_no_stale_module",
            "tests/test_build.py::test_the_c_check_reads_keys_of_every_width_like_the_python_walk",
        ),
    ),
    Promise(
        PAGE,
        "`jsonpersist --version` says which one you have.",
        ("tests/test_cli.py::test_help_has_examples_and_exit_codes",),
    ),
    Promise(
        PAGE,
        '`JsonPersistence("state/")` creates the directory (mode `0700`) if it is missing.',
        (
            "tests/test_local_attackers.py::"
            "test_missing_parents_are_created_0700_even_with_umask_0",
            "tests/test_security.py::test_new_files_are_private_and_existing_modes_are_kept",
        ),
    ),
    Promise(
        PAGE,
        "the persistence takes the directory (a lock: a second bot on the same directory gets a "
        "[`StateLockedError`](errors.md#statelockederror)), completes a save a crash may have "
        "interrupted, writes a `.gitignore` for its own lock and temporary files, and loads each "
        "category.",
        (
            "tests/test_store.py::"
            "test_a_directory_held_by_another_process_is_refused_until_it_dies",
            "tests/test_store.py::test_a_crashed_round_is_completed_from_the_journal_at_start_up",
            "tests/test_persistence.py::test_the_directory_can_be_committed_to_git",
            "tests/ptb_contract/test_ptb_lifecycle.py::"
            "test_initialize_fetches_each_enabled_category_once",
        ),
    ),
    Promise(
        PAGE,
        "Every `update_interval` seconds (60 by default) and when the application stops, PTB "
        "hands the persistence what changed; everything of one such run is saved together, off "
        "the event loop.",
        (
            "tests/ptb_contract/test_ptb_lifecycle.py::test_update_interval_is_the_persistences",
            "tests/ptb_contract/test_ptb_lifecycle.py::test_the_loop_saves_every_update_interval",
            "tests/test_persistence.py::"
            "test_gather_across_categories_is_one_round_with_one_journal",
            f"{HOW}::test_a_round_encodes_and_writes_off_the_event_loop",
        ),
    ),
    Promise(
        PAGE,
        "PTB saves once more and calls `flush()`, which writes what is left and releases the "
        "directory.",
        (
            "tests/ptb_contract/test_ptb_lifecycle.py::"
            "test_shutdown_saves_once_and_flushes_once_last",
            "tests/test_persistence.py::test_flush_releases_the_directory",
        ),
    ),
    Promise(
        PAGE,
        "After a user has sent `/count` twice, `state/user_data.json` reads:",
        (COUNT_BOT,),
    ),
    Promise(
        PAGE,
        "The set is stored as a set and comes back as one.",
        (COUNT_BOT, "tests/test_codec.py::test_every_supported_value_round_trips_identically"),
    ),
    Promise(
        PAGE,
        "The `jsonpersist` command reads a state directory, also while the bot runs:",
        (
            COUNT_BOT,
            "tests/test_directory.py::"
            "test_read_state_reads_while_a_persistence_owns_the_directory",
        ),
    ),
    Promise(
        PAGE,
        "store_data=PersistenceInput(callback_data=False), # which categories to keep (default: "
        "all)",
        ("tests/test_application.py::test_a_disabled_category_is_never_read_nor_written",),
    ),
    Promise(
        PAGE,
        "on_flush=False, # True: write only at shutdown (default: every run is on disk)",
        (
            "tests/ptb_contract/test_ptb_writes.py::"
            "test_with_on_flush_nothing_is_written_before_shutdown",
            "tests/test_persistence.py::test_update_is_on_disk_when_the_coroutine_returns",
        ),
    ),
    Promise(
        PAGE,
        "max_file_size=512 * 2**20, # larger files are refused on load (default: 512 MiB)",
        ("tests/test_hostile.py::test_a_file_beyond_max_file_size_is_refused_without_reading_it",),
    ),
    Promise(
        PAGE,
        "read_only=False, # True: for tools that read a running bot's state",
        ("tests/test_promises_errors.py::test_a_read_only_persistence_reads_an_owned_directory",),
    ),
    Promise(
        PAGE,
        "give each `ConversationHandler` a `name` and `persistent=True`; its states are saved in "
        "`conversations.json`, one line per conversation.",
        (
            "tests/test_application.py::test_a_conversation_state_is_on_disk_after_the_round",
            "tests/test_persistence.py::test_any_conversations_are_a_line_each_in_one_order",
        ),
    ),
    Promise(
        PAGE,
        "the objects in your `InlineKeyboardButton`s are saved in `callback_data.json` and keep "
        "their types like everything else.",
        (
            "tests/ptb_contract/test_ptb_callback_data.py::"
            "test_a_keyboard_of_objects_survives_a_restart",
        ),
    ),
    Promise(
        PAGE,
        "until it is, storing one raises [`UnsupportedTypeError`](errors.md#unsupportedtypeerror) "
        "naming the key path.",
        (
            "tests/test_codec.py::test_an_unsupported_value_is_refused_with_its_type_and_path",
            "tests/test_codec.py::"
            "test_the_path_of_an_unsupported_value_shows_each_key_with_its_type",
        ),
    ),
    Promise(
        PAGE,
        "a `dict` subclass given as `user_data`, `chat_data` or `bot_data` class comes back as "
        "that class; any other class must be registered in `types`.",
        (
            "tests/test_application.py::test_custom_context_types_come_back_as_their_classes",
            f"{QS}::test_a_context_types_class_that_is_no_dict_must_be_registered",
        ),
    ),
    Promise(
        PAGE,
        "After a restart it is attached to the *new* bot, so "
        '`context.user_data["last"].reply_text("still here")` works. A reference to the bot '
        "itself is restored the same way.",
        (
            "tests/test_application.py::test_everything_survives_a_restart",
            "tests/test_codec.py::test_the_bot_itself_is_stored_as_a_placeholder",
        ),
    ),
    Promise(
        PAGE,
        "jsonpersist import-pickle bot.pickle state/",
        ("tests/test_cli.py::test_pickle_import_check_show_export_round_trip",),
    ),
]

USER_ID = 123456789


def fenced(language: str) -> list[str]:
    """The page's fenced blocks of ``language``, in order."""
    text = (ROOT / PAGE).read_text("utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


async def count(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The page's handler, as it is printed there."""
    assert update.message is not None
    assert context.user_data is not None
    context.user_data["count"] = context.user_data.get("count", 0) + 1
    context.user_data.setdefault("seen", set()).add(update.message.message_id)
    await update.message.reply_text(f"You have counted {context.user_data['count']}.")


def command(application: Application[Any, Any, Any, Any, Any, Any], message_id: int) -> Update:
    data = {
        "update_id": message_id,
        "message": {
            "message_id": message_id,
            "date": int(dtm.datetime.now(dtm.timezone.utc).timestamp()),
            "chat": {"id": USER_ID, "type": "private"},
            "from": {"id": USER_ID, "is_bot": False, "first_name": "Ann"},
            "text": "/count",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    return Update.de_json(data, application.bot)


async def test_the_count_bot_writes_the_file_the_page_shows(tmp_path: Path) -> None:
    """``/count`` twice (messages 1001 and 1003), then the file, ``show`` and ``check``."""
    source = fenced("python")[0]
    assert 'context.user_data.setdefault("seen", set()).add(update.message.message_id)' in source
    directory = tmp_path / "state"
    application = (
        Application.builder()
        .token(BOT_TOKEN)
        .request(OfflineRequest())
        .get_updates_request(OfflineRequest())
        .persistence(JsonPersistence(directory))
        .build()
    )
    application.add_handler(CommandHandler("count", count))
    async with application:
        for message_id in (1001, 1003):
            await application.process_update(command(application, message_id))
    # The shutdown saved once more and flushed: the file is what the page shows.
    (shown,) = (block for block in fenced("json") if '"category":"user_data"' in block)
    assert (directory / "user_data.json").read_text("utf-8") == shown

    (console,) = fenced("console")
    for line in console.splitlines():
        if line.startswith("$ jsonpersist "):
            arguments = line.removeprefix("$ jsonpersist ").replace("state/", str(directory))
            done = subprocess.run(
                [sys.executable, "-m", "jsonpersist", *arguments.split()],
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            expected = console.split(line + "\n", 1)[1].split("$ ", 1)[0]
            assert done.stdout.replace(str(directory), "state") == expected


def test_the_dependencies_are_the_three_the_page_names() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    block = pyproject.split("\ndependencies = [\n", 1)[1].split("\n]", 1)[0]
    names = {
        re.split(r"[<>=;\s]", line.strip().strip('",'), maxsplit=1)[0]
        for line in block.splitlines()
    }
    # tzdata only on Windows, where the system has no zone database.
    assert names == {"python-telegram-bot", "orjson", "filelock", "tzdata"}
    assert "tzdata; platform_system == 'Windows'" in block


async def test_a_context_types_class_that_is_no_dict_must_be_registered(tmp_path: Path) -> None:
    @dataclass
    class Profile:
        """A ``user_data`` class that is no dict."""

        visits: int = 0

    context_types = ContextTypes(user_data=Profile)
    bare = JsonPersistence(tmp_path / "bare", context_types=context_types)
    await bare.get_user_data()
    with pytest.raises(UnsupportedTypeError):
        await bare.update_user_data(1, Profile(3))
    await bare.flush()

    types = TypeRegistry()
    types.register_dataclass(Profile)
    registered = JsonPersistence(tmp_path / "types", context_types=context_types, types=types)
    await registered.get_user_data()
    await registered.update_user_data(1, Profile(3))
    await registered.flush()
    again = JsonPersistence(tmp_path / "types", context_types=context_types, types=types)
    assert await again.get_user_data() == {1: Profile(3)}
    await again.flush()


def test_ci_runs_the_suite_on_every_python_the_package_claims() -> None:
    """Each Python version pyproject.toml lists is one that .ci/run tests on: the machine's
    ``python3`` (README's command) and each version of its pyenv loop."""
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    claimed = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject)
    assert 'requires-python = ">=3.10"' in pyproject
    assert claimed == ["3.10", "3.11", "3.12", "3.13"]
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    looped = re.search(r"^for version in ([\d. ]+); do$", ci, re.MULTILINE)
    assert looped is not None
    python3 = subprocess.run(
        ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tested = {python3, *looped.group(1).split()}
    assert tested == set(claimed)
    assert '".venv-py$version/bin/python" -m pytest' in ci  # the whole suite, as README's
