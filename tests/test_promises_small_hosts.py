"""The promises of docs/small-hosts.md, and the tests that stand behind those no suite covered.

See ``tests/promises.py``: each quote is on the page, each test named fails if it breaks.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import os
import re
import stat
import weakref
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from promises import ROOT, Promise
from state_files import entries
from telegram.ext import ContextTypes, PicklePersistence

from jsonpersist import JsonPersistence

PAGE = "docs/small-hosts.md"

S = "tests/test_promises_small_hosts.py"
SIZE = f"{S}::test_the_typical_entry_and_the_size_of_10_000_users"

PROMISES = [
    Promise(
        PAGE,
        "jsonpersist writes only in rounds (one per `update_interval`, plus one at shutdown), "
        "only when something changed, and only the categories that changed.",
        (
            "tests/ptb_contract/test_ptb_lifecycle.py::test_the_loop_saves_every_update_interval",
            "tests/ptb_contract/test_ptb_lifecycle.py::"
            "test_shutdown_saves_once_and_flushes_once_last",
            "tests/test_persistence.py::test_unchanged_data_writes_nothing",
            "tests/test_persistence.py::test_a_category_that_did_not_change_is_not_rewritten",
        ),
    ),
    Promise(
        PAGE,
        "A round rewrites each changed category file whole",
        ("tests/test_persistence.py::test_gather_of_500_updates_replaces_the_file_once",),
    ),
    Promise(
        PAGE,
        "(1,440 at the default of 60 seconds)",
        ("tests/ptb_contract/test_ptb_lifecycle.py::test_update_interval_is_the_persistences",),
    ),
    Promise(
        PAGE,
        "The few hundred bytes of a redo journal (only when a round changes several files)",
        (
            "tests/test_crash.py::test_journal_costs_a_few_hundred_bytes_per_round",
            "tests/test_persistence.py::test_a_category_that_did_not_change_is_not_rewritten",
        ),
    ),
    Promise(
        PAGE,
        "A round in which nothing changed writes nothing, even though PTB hands the persistence "
        "`bot_data` and the callback data on every run: unchanged data is recognised by its "
        "encoded lines and not written.",
        (
            "tests/test_lines.py::test_a_message_that_changes_nothing_writes_nothing",
            "tests/ptb_contract/test_ptb_writes.py::test_nothing_changed_writes_nothing",
        ),
    ),
    Promise(
        PAGE,
        "Each user (or chat) is one line: a comma, `[`, the id, a comma, the data as compact "
        "JSON, `]` and a line break.",
        (SIZE, "tests/test_persistence.py::test_file_is_deterministic_sorted_by_id_one_line_each"),
    ),
    Promise(
        PAGE,
        "is 189 bytes, so **10,000 such users make a `user_data.json` of 1.9 MB** (the same state "
        "pickled by `PicklePersistence` is 0.87 MB).",
        (SIZE,),
    ),
    Promise(
        PAGE,
        "jsonpersist rewrites a changed category file once per round whatever the number of "
        "changes in it",
        ("tests/test_persistence.py::test_gather_of_500_updates_replaces_the_file_once",),
    ),
    Promise(
        PAGE,
        "(a clean stop always saves everything)",
        (
            "tests/ptb_contract/test_ptb_lifecycle.py::"
            "test_shutdown_saves_once_and_flushes_once_last",
        ),
    ),
    Promise(
        PAGE,
        "switch off categories you do not use; a disabled category is never read or written.",
        (
            "tests/test_application.py::test_a_disabled_category_is_never_read_nor_written",
            "tests/ptb_contract/test_ptb_store_data.py::"
            "test_a_disabled_category_is_inert_when_called_directly",
        ),
    ),
    Promise(
        PAGE,
        "**`on_flush=True`** writes only at shutdown",
        (
            "tests/ptb_contract/test_ptb_writes.py::"
            "test_with_on_flush_nothing_is_written_before_shutdown",
        ),
    ),
    Promise(
        PAGE,
        "`PostgresPersistence` ([PostgreSQL](postgres.md)) writes only the rows that changed.",
        ("tests/postgres/test_pg_persistence.py::test_a_round_writes_only_the_rows_that_changed",),
    ),
    Promise(
        PAGE,
        "Each round also costs one `fsync` per changed file (and one for the journal when several "
        "changed) and one or two of the directory",
        (
            f"{S}::test_fsyncs_per_round_one_per_file_one_for_the_journal_one_or_two_of_the_directory",
            "tests/test_faults.py::test_every_step_is_reached",
        ),
    ),
    Promise(
        PAGE,
        "Between rounds, the persistence keeps the *encoded bytes* of each entry (the line it "
        "last wrote), not the objects: that is what lets it re-encode only what changed.",
        (
            f"{S}::test_the_persistence_keeps_no_reference_to_the_objects_it_saved",
            "tests/test_promises_how_it_works.py::"
            "test_a_round_encodes_only_the_changed_user_chat_and_bot_data_entries",
        ),
    ),
    Promise(
        PAGE,
        "the persistence also keeps a copy of each top-level member to compare with (the "
        "containers copied, the strings and numbers shared with the application's data)",
        (
            f"{S}::test_the_persistence_keeps_no_reference_to_the_objects_it_saved",
            "tests/test_same.py::test_clone_copies_every_container_and_shares_the_rest",
        ),
    ),
    Promise(
        PAGE,
        "`max_file_size` (512 MiB by default) refuses a file too large to load instead of running "
        "out of memory",
        ("tests/test_hostile.py::test_a_file_beyond_max_file_size_is_refused_without_reading_it",),
    ),
    Promise(
        PAGE,
        "Encoding and writing run in a worker thread, so the event loop keeps answering users "
        "during a save.",
        (
            "tests/test_promises_how_it_works.py::"
            "test_a_round_encodes_and_writes_off_the_event_loop",
        ),
    ),
    Promise(
        PAGE,
        "The cost of a round grows with the number of changed entries, plus a join of the cached "
        "lines of each changed file.",
        ("tests/test_lines.py::test_a_round_encodes_only_the_conversation_that_changed",),
    ),
    Promise(
        PAGE,
        "If the install finds no C compiler it goes on without it and the same check runs in "
        "Python: the same files",
        (
            "tests/test_build.py::"
            "test_a_build_without_a_c_compiler_warns_and_ships_no_stale_module",
            "tests/test_build.py::test_the_c_check_reads_keys_of_every_width_like_the_python_walk",
        ),
    ),
    Promise(
        PAGE,
        "`jsonpersist --version` ends in `(plain-JSON check: C)` when the module was built.",
        ("tests/test_cli.py::test_help_has_examples_and_exit_codes",),
    ),
]

FIRST = 100_000_000
USERS = 10_000


def typical(user: int) -> dict[str, Any]:
    """The page's typical user."""
    return {
        "history": [12, 15, 20],
        "joined": datetime(2024, 5, 1, 12, 40, tzinfo=timezone.utc),
        "lang": "en",
        "name": f"User {user}",
        "score": 700_000_000,
        "settings": {"notify": True, "tz": "Europe/Berlin"},
    }


def page() -> str:
    return re.sub(r"\s+", " ", (ROOT / PAGE).read_text("utf-8"))


async def test_the_typical_entry_and_the_size_of_10_000_users(tmp_path: Path) -> None:
    """The line the page shows, its size, and the size of the file of 10,000 such users."""
    text = (ROOT / PAGE).read_text("utf-8")
    (shown,) = re.findall(r"A typical entry\n\n```json\n(.*?)\n```", text, flags=re.DOTALL)
    persistence = JsonPersistence(tmp_path / "json")
    await persistence.get_user_data()
    users = {FIRST + number: typical(FIRST + number) for number in range(USERS)}
    await asyncio.gather(*(persistence.update_user_data(k, v) for k, v in users.items()))
    await persistence.flush()
    raw = (tmp_path / "json" / "user_data.json").read_bytes()
    line = raw.splitlines()[1].decode()
    assert line == shown
    stated = int(re.search(r"is (\d+) bytes, so", page()).group(1))  # type: ignore[union-attr]
    assert len(line) + 1 == stated  # with its line break
    assert "10,000 such users make a `user_data.json` of 1.9 MB" in page()
    assert round(len(raw) / 1e6, 1) == 1.9

    # PicklePersistence pickles the same state (each user its own objects, as after a load).
    pickled = PicklePersistence(tmp_path / "bot", single_file=False, on_flush=True)
    await pickled.get_user_data()
    for key, value in users.items():
        await pickled.update_user_data(key, copy.deepcopy(value))
    await pickled.flush()
    assert "pickled by `PicklePersistence` is 0.87 MB" in page()
    assert round((tmp_path / "bot_user_data").stat().st_size / 1e6, 2) == 0.87


async def test_fsyncs_per_round_one_per_file_one_for_the_journal_one_or_two_of_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    persistence = JsonPersistence(tmp_path)
    await persistence.get_user_data()
    await persistence.get_chat_data()
    await persistence.get_bot_data()
    syncs: Counter[str] = Counter()
    fsync = os.fsync

    def counting(fd: int) -> None:
        syncs["directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"] += 1
        fsync(fd)

    monkeypatch.setattr(os, "fsync", counting)
    await persistence.update_user_data(1, {"a": 1})
    assert syncs == {"file": 1, "directory": 1}
    syncs.clear()
    await asyncio.gather(
        persistence.update_user_data(1, {"a": 2}),
        persistence.update_chat_data(-1, {"a": 2}),
        persistence.update_bot_data({"a": 2}),
    )
    assert syncs == {"file": 3 + 1, "directory": 2}  # three files and the journal
    await persistence.flush()


async def test_the_persistence_keeps_no_reference_to_the_objects_it_saved(tmp_path: Path) -> None:
    """Between rounds it holds encoded lines (and for bot data copies), not the objects."""

    class Data(dict):  # type: ignore[type-arg]
        """A dict a weak reference can point to."""

    context_types = ContextTypes(user_data=Data, bot_data=Data)
    persistence = JsonPersistence(tmp_path, context_types=context_types)
    await persistence.get_user_data()
    await persistence.get_bot_data()
    user, bot_data = Data(a=[1, 2]), Data(k=[4, 5])
    await persistence.update_user_data(1, user)
    await persistence.update_bot_data(bot_data)
    # A member changed in place: had the persistence kept it rather than a copy, it would
    # compare equal to itself and the change would not be saved.
    kept = bot_data["k"]
    kept.append(6)
    await persistence.update_bot_data(bot_data)
    assert entries(tmp_path / "bot_data.json") == {"k": [4, 5, 6]}
    references = [weakref.ref(user), weakref.ref(bot_data)]
    del user, bot_data
    gc.collect()
    assert [reference() for reference in references] == [None, None]
    await persistence.flush()
