"""The promises of docs/watch.md, and the tests that stand behind those no suite covered.

See ``tests/promises.py``: each quote is on the page, each test named fails if it breaks.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import itertools
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from doc_counts import figures
from offline import BOT_TOKEN, OfflineRequest
from promises import ROOT, Promise
from state_files import document, edit, entries
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from jsonpersist import CorruptStateError, JsonPersistence
from jsonpersist import _store as store_module

PAGE = "docs/watch.md"
WATCH = ROOT / PAGE

W = "tests/test_promises_watch.py"
EVERY_CATEGORY = (
    "tests/test_watch.py::"
    "test_hand_edits_of_every_category_reach_the_handler_and_survive_a_restart"
)
MERGED = "tests/test_watch.py::test_an_edit_made_before_a_save_is_merged_not_clobbered"
RACE = "tests/test_watch_race.py::test_no_edit_is_lost_while_saves_race_it"
SWAPPED_BACK = f"{W}::test_an_edit_renamed_in_after_the_check_is_swapped_back_and_merged"

PROMISES = [
    Promise(
        "docs/watch.md",
        "the earlier of their two files is put back in place and the later one is kept beside "
        "it as `user_data.json.raced-<nanoseconds>`, never deleted.",
        ("tests/test_store_swap.py::test_a_file_written_twice_within_the_swap_keeps_both_edits",),
    ),
    Promise(
        PAGE,
        "Each costs one `stat` of the category's file.",
        (f"{W}::test_a_refresh_with_nothing_changed_costs_one_lstat",),
    ),
    Promise(
        PAGE,
        "If the file is not the version this persistence last loaded or wrote, it is read, and "
        "every entry someone else changed is put into the application's data **in place**",
        (EVERY_CATEGORY, MERGED, f"{W}::test_an_edit_is_read_in_a_worker_thread"),
    ),
    Promise(
        PAGE,
        "The file is read in a worker thread, never on the event loop.",
        (f"{W}::test_an_edit_is_read_in_a_worker_thread",),
    ),
    Promise(
        PAGE,
        "it is compared with the version the bot knows as a set of lines, and only the lines "
        "whose bytes differ are parsed.",
        (
            "tests/test_watch_lines.py::test_one_edited_line_is_the_only_one_parsed",
            "tests/test_watch_lines.py::test_an_added_and_a_removed_line_are_found",
        ),
    ),
    Promise(
        PAGE,
        "A file laid out differently (reformatted by hand, conflict markers) is parsed whole, so "
        "its errors are named the same way",
        (
            "tests/test_watch_lines.py::test_a_reformatted_file_is_parsed_whole",
            "tests/test_watch_lines.py::"
            "test_a_bad_edit_of_one_line_is_refused_as_a_whole_parse_would",
        ),
    ),
    Promise(
        PAGE,
        "If someone changed it meanwhile, their version is loaded first and the bot's changes are "
        "applied on top.",
        (MERGED, f"{W}::test_an_entry_both_changed_is_merged_inside_and_the_person_wins_a_clash"),
    ),
    Promise(
        PAGE,
        "An entry the person did not touch keeps the bot's version, **unsaved changes included**.",
        (
            MERGED,
            "tests/test_lose_nothing.py::"
            "test_an_unsaved_change_survives_an_edit_of_another_bot_data_key",
        ),
    ),
    Promise(
        PAGE,
        "An entry the person changed and the bot did not takes the person's version, which is "
        "also handed to the application before its next handler (for `bot_data`, only the "
        "changed keys: the other keys keep the application's values). An entry the person "
        "removed is removed (the user's dict is emptied in place).",
        (
            EVERY_CATEGORY,
            "tests/test_lose_nothing.py::"
            "test_an_unsaved_change_survives_an_edit_of_another_bot_data_key",
            "tests/test_watch.py::test_an_entry_removed_by_hand_is_removed_from_the_app",
        ),
    ),
    Promise(
        PAGE,
        "An entry both changed is merged inside: plain dicts (a user's data, a `bot_data` value) "
        "key by key, recursively; a key only one side changed takes that side's value, a key both "
        "changed takes **the person's**. Anything else (a list, a tagged value) is the person's "
        "whole.",
        (f"{W}::test_an_entry_both_changed_is_merged_inside_and_the_person_wins_a_clash",),
    ),
    Promise(
        PAGE,
        "a save in between (another user's message triggered the file read, say) keeps the "
        "person's version.",
        (
            "tests/test_lose_nothing.py::"
            "test_an_edit_is_kept_when_another_users_message_reads_the_file_first",
        ),
    ),
    Promise(
        PAGE,
        "A save merges the file this way before it writes it, `flush()` at shutdown included.",
        (
            MERGED,
            "tests/test_lose_nothing.py::test_a_valid_edit_is_not_undone_by_the_shutdown_flush",
        ),
    ),
    Promise(
        PAGE,
        "So an edit the save finds keeps its entries, also when the bot changed the same user; "
        "edits and saves of different users, or of different keys of one user, all survive.",
        (MERGED, f"{W}::test_an_entry_both_changed_is_merged_inside_and_the_person_wins_a_clash"),
    ),
    Promise(
        PAGE,
        "the bot keeps running on the data it has in memory; handlers run as usual;",
        (
            "tests/test_watch.py::test_a_malformed_edit_is_reported_once_and_never_overwritten",
            f"{W}::test_every_save_of_a_malformed_category_reports_it",
        ),
    ),
    Promise(
        PAGE,
        "each save of that category refuses to overwrite the person's file and raises a "
        "`CorruptStateError` naming the file and the position, which PTB hands to the "
        "application's error handlers (`Application.add_error_handler`); `flush()` at shutdown "
        "raises it too, from `Application.shutdown()`, and leaves the file as it is;",
        (
            f"{W}::test_every_save_of_a_malformed_category_reports_it",
            f"{W}::test_every_update_of_a_malformed_category_raises",
            "tests/test_lose_nothing.py::test_a_malformed_edit_is_not_overwritten_at_shutdown",
        ),
    ),
    Promise(
        PAGE,
        "the bot's changes stay in memory; once the person fixes the file, it is loaded, merged "
        "by the rule above, and the next save writes the result.",
        ("tests/test_watch.py::test_a_malformed_edit_is_reported_once_and_never_overwritten",),
    ),
    Promise(
        PAGE,
        "On Linux, jsonpersist swaps its file in with `renameat2(RENAME_EXCHANGE)` (a new file "
        "with `RENAME_NOREPLACE`).",
        (SWAPPED_BACK, f"{W}::test_a_file_created_after_the_check_is_not_replaced", RACE),
    ),
    Promise(
        PAGE,
        "If it is not the version the save checked, the two are swapped back at once, in the same "
        "C call",
        (SWAPPED_BACK, RACE),
    ),
    Promise(
        PAGE,
        "and the save merges it and writes again. So a save does not leave its own file over an "
        "edit saved by renaming a file over the state file (how editors save)",
        (SWAPPED_BACK, RACE),
    ),
    Promise(
        PAGE,
        "0 of 1,000 edits lost in the default run",
        (RACE, f"{W}::test_the_race_figures_are_the_tests"),
    ),
    Promise(
        PAGE,
        "An edit replaces the contents of the bot's callback data cache.",
        ("tests/test_watch.py::test_an_edit_of_callback_data_reaches_the_button_handler",),
    ),
    Promise(
        PAGE,
        "an edit takes effect at the next start. Until then a save never undoes it",
        (
            "tests/test_watch.py::"
            "test_an_edit_of_conversations_is_kept_by_the_next_save_and_a_restart",
        ),
    ),
    Promise(
        PAGE,
        "Edits are detected by inode, size and modification time (nanoseconds).",
        (f"{W}::test_an_edit_of_the_same_size_in_place_is_seen_by_its_time", EVERY_CATEGORY),
    ),
    Promise(
        PAGE,
        "With nothing changed on disk, the three refresh calls cost a few microseconds per update "
        "(one `lstat` per category).",
        (f"{W}::test_a_refresh_with_nothing_changed_costs_one_lstat",),
    ),
]

BROKEN = b'[{"jsonpersist":2,"category":"user_data"}\n,[77,{"count":5,}]\n]\n'


class Bot:
    """A real offline Application with ``watch=True`` whose handler counts messages of user 77."""

    def __init__(self, directory: Path) -> None:
        self.seen: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        self.ids = itertools.count(1)
        self.app = (
            Application.builder()
            .token(BOT_TOKEN)
            .request(OfflineRequest())
            .get_updates_request(OfflineRequest())
            .persistence(JsonPersistence(directory, watch=True, update_interval=3600))
            .build()
        )
        self.app.add_handler(MessageHandler(filters.ALL, self.handle))
        self.app.add_error_handler(self.on_error)

    async def handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.user_data is not None
        self.seen.append({"user": dict(context.user_data)})
        context.user_data["count"] = context.user_data.get("count", 0) + 1

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.error is not None
        self.errors.append(context.error)

    async def say(self) -> dict[str, Any]:
        """One message of user 77, then a round of ``update_persistence()``."""
        number = next(self.ids)
        data: dict[str, Any] = {
            "update_id": number,
            "message": {
                "message_id": number,
                "date": int(dtm.datetime.now(dtm.timezone.utc).timestamp()),
                "chat": {"id": 77, "type": "private"},
                "from": {"id": 77, "is_bot": False, "first_name": "Ann"},
                "text": "hi",
            },
        }
        await self.app.process_update(Update.de_json(data, self.app.bot))
        await self.app.update_persistence()
        return self.seen[-1]


async def test_every_save_of_a_malformed_category_reports_it(tmp_path: Path) -> None:
    """Not only the first save after the edit: each one, through PTB's error handlers."""
    bot = Bot(tmp_path)
    async with bot.app:
        await bot.say()
        (tmp_path / "user_data.json").write_bytes(BROKEN)
        for saves in range(1, 4):
            seen = await bot.say()  # a handler runs, changes the user, and the round saves
            assert seen["user"] == {"count": saves}
            await asyncio.sleep(0.05)  # PTB hands a save's errors to its error handlers in a task
            assert len(bot.errors) == saves
            error = bot.errors[-1]
            assert isinstance(error, CorruptStateError)
            assert error.file == tmp_path / "user_data.json"
            assert "line 2" in error.where, error.where  # the position of the stray comma
            assert (tmp_path / "user_data.json").read_bytes() == BROKEN
        (tmp_path / "user_data.json").write_bytes(BROKEN.replace(b",}", b"}"))
    assert len(bot.errors) == 3


async def test_every_update_of_a_malformed_category_raises(tmp_path: Path) -> None:
    """The same without an Application: each ``update_user_data()`` and ``flush()`` raises."""
    persistence = JsonPersistence(tmp_path, watch=True)
    await persistence.get_user_data()
    await persistence.update_user_data(77, {"count": 1})
    (tmp_path / "user_data.json").write_bytes(BROKEN)
    for count in (2, 3, 4):
        with pytest.raises(CorruptStateError, match=r"user_data\.json"):
            await persistence.update_user_data(77, {"count": count})
        assert (tmp_path / "user_data.json").read_bytes() == BROKEN
    with pytest.raises(CorruptStateError, match=r"user_data\.json"):
        await persistence.flush()
    assert (tmp_path / "user_data.json").read_bytes() == BROKEN


async def test_a_refresh_with_nothing_changed_costs_one_lstat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``refresh_*`` of an unchanged file: one ``lstat`` of its file, nothing read."""
    persistence = JsonPersistence(tmp_path, watch=True)
    user = await persistence.get_user_data()
    chat = await persistence.get_chat_data()
    bot = await persistence.get_bot_data()
    await persistence.update_user_data(1, {"a": 1})
    await persistence.update_chat_data(-1, {"a": 1})
    await persistence.update_bot_data({"a": 1})
    calls: list[tuple[str, str]] = []
    lstat, open_ = os.lstat, os.open

    def counting_lstat(path: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(("lstat", os.path.basename(os.fspath(path))))
        return lstat(path, *args, **kwargs)

    def counting_open(path: Any, *args: Any, **kwargs: Any) -> int:
        calls.append(("open", os.path.basename(os.fspath(path))))
        return open_(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", counting_lstat)
    monkeypatch.setattr(os, "open", counting_open)
    await persistence.refresh_user_data(1, user.get(1, {}))
    await persistence.refresh_chat_data(-1, chat.get(-1, {}))
    await persistence.refresh_bot_data(bot)
    monkeypatch.undo()
    assert calls == [
        ("lstat", "user_data.json"),
        ("lstat", "chat_data.json"),
        ("lstat", "bot_data.json"),
    ]
    await persistence.flush()


async def test_an_entry_both_changed_is_merged_inside_and_the_person_wins_a_clash(
    tmp_path: Path,
) -> None:
    """The person's edit lands before the bot's save of the same user: a three-way merge."""
    persistence = JsonPersistence(tmp_path, watch=True)
    await persistence.get_user_data()
    base = {"a": 1, "b": {"x": 1, "y": 1}, "l": [1], "k": 1, "s": 0, "gone": 1}
    await persistence.update_user_data(1, base)
    person = {"a": 2, "b": {"x": 2, "y": 1}, "l": [2], "k": 1, "s": 1, "p": 1}
    edit(tmp_path / "user_data.json", lambda data: data.update({1: person}))
    bot = {"a": 1, "b": {"x": 1, "y": 3}, "l": [3], "k": 5, "s": 2, "gone": 1}
    await persistence.update_user_data(1, bot)
    assert entries(tmp_path / "user_data.json")[1] == {
        "a": 2,  # only the person changed it
        "b": {"x": 2, "y": 3},  # a dict both changed: key by key, recursively
        "l": [2],  # a list both changed: the person's, whole
        "k": 5,  # only the bot changed it
        "s": 1,  # both changed it: the person's
        "p": 1,  # the person added it
    }  # and "gone", which the person removed, stays removed
    await persistence.flush()


async def test_an_edit_is_read_in_a_worker_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    persistence = JsonPersistence(tmp_path, watch=True)
    users = await persistence.get_user_data()
    await persistence.update_user_data(1, {"a": 1})
    edit(tmp_path / "user_data.json", lambda data: data[1].update(a=2))
    threads: list[int] = []
    open_ = os.open

    def opening(path: Any, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path).endswith("user_data.json"):
            threads.append(threading.get_ident())
        return open_(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", opening)
    data = users.get(1, {})
    await persistence.refresh_user_data(1, data)
    monkeypatch.undo()
    assert data == {"a": 2}
    assert threads
    assert threading.get_ident() not in threads
    await persistence.flush()


async def test_an_edit_of_the_same_size_in_place_is_seen_by_its_time(tmp_path: Path) -> None:
    """Same inode, same size: the modification time (nanoseconds) tells the edit apart."""
    persistence = JsonPersistence(tmp_path, watch=True)
    await persistence.get_user_data()
    await persistence.update_user_data(1, {"a": 1})
    path = tmp_path / "user_data.json"
    before = os.stat(path)
    with open(path, "r+b") as file:  # in place: the inode stays
        raw = file.read()
        file.seek(0)
        file.write(raw.replace(b'"a":1', b'"a":2'))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1))
    after = os.stat(path)
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)
    data: dict[str, Any] = {"a": 1}
    await persistence.refresh_user_data(1, data)
    assert data == {"a": 2}
    await persistence.flush()


needs_exchange = pytest.mark.skipif(
    store_module._exchange is None, reason="needs the C module jsonpersist._exchange (Linux)"
)


@needs_exchange
async def test_an_edit_renamed_in_after_the_check_is_swapped_back_and_merged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The person's rename lands between the save's check and its swap: nothing is lost."""
    persistence = JsonPersistence(tmp_path, watch=True)
    await persistence.get_user_data()
    await persistence.update_user_data(1, {"bot": 1})
    path = tmp_path / "user_data.json"
    real = store_module._exchange.exchange_checked
    raced: list[bool] = []

    def edit_then_exchange(*args: Any) -> int:
        if not raced:  # once: the person's editor saves right after the save's check
            raced.append(True)
            edit(path, lambda data: data.update({2: {"person": 1}}))
        return real(*args)

    monkeypatch.setattr(store_module._exchange, "exchange_checked", edit_then_exchange)
    await persistence.update_user_data(1, {"bot": 2})
    assert raced
    assert entries(path) == {1: {"bot": 2}, 2: {"person": 1}}
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("user_data")) == [
        "user_data.json"
    ]
    await persistence.flush()


@needs_exchange
async def test_a_file_created_after_the_check_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No file at the check, one at the rename: ``RENAME_NOREPLACE`` keeps it, then a merge."""
    persistence = JsonPersistence(tmp_path, watch=True)
    await persistence.get_user_data()
    path = tmp_path / "user_data.json"
    real = store_module._exchange.rename_noreplace
    raced: list[bool] = []

    def create_then_rename(*args: Any) -> None:
        if not raced:
            raced.append(True)
            path.write_text(document("user_data", {2: {"person": 1}}))
        real(*args)

    monkeypatch.setattr(store_module._exchange, "rename_noreplace", create_then_rename)
    await persistence.update_user_data(1, {"bot": 1})
    assert raced
    assert entries(path) == {1: {"bot": 1}, 2: {"person": 1}}
    await persistence.flush()


def test_the_race_figures_are_the_tests() -> None:
    """The edits of the race test the page states are the test's default."""
    source = (ROOT / "tests" / "test_watch_race.py").read_text("utf-8")
    assert '"JSONPERSIST_RACE_EDITS", "1000"' in source
    assert figures(r"# of # edits lost in the default run", WATCH) == [0, 1000]
    assert figures(r"# of # in the long run \(# saves raced them\)", WATCH)[0] == 0
    assert "JSONPERSIST_RACE_EDITS=20000" in WATCH.read_text("utf-8")
