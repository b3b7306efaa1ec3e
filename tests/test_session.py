"""A persistence's hold on its directory (``jsonpersist/_session.py``).

``flush()`` ends a persistence's use of the directory: another persistence, a person or
``jsonpersist import-pickle --force`` may change the files before it is used again, so the next
use reads them again instead of writing its stale view over them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from offline import BOT_TOKEN, OfflineRequest
from state_files import entries
from telegram import Update
from telegram.ext import (
    Application,
    CallbackContext,
    ExtBot,
    MessageHandler,
    PicklePersistence,
    filters,
)

import jsonpersist
from jsonpersist import JsonPersistence
from jsonpersist._categories import CATEGORIES
from jsonpersist._session import CategoryState

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


def on_disk(directory: Path, name: str = "user_data") -> dict[Any, Any]:
    """The entries of a state file as plain JSON, read without jsonpersist."""
    return entries(directory / f"{name}.json")


async def loaded(directory: Path) -> JsonPersistence[Any, Any, Any]:
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    await persistence.get_user_data()
    await persistence.get_conversations("signup")
    return persistence


async def test_two_persistences_taking_turns_read_each_others_users(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    first = await loaded(directory)
    await first.update_user_data(1, {"by": "first"})
    await first.flush()

    second = await loaded(directory)
    assert await second.get_user_data() == {1: {"by": "first"}}
    await second.update_user_data(2, {"by": "second"})
    await second.flush()

    assert await first.get_user_data() == {1: {"by": "first"}, 2: {"by": "second"}}
    await first.update_user_data(3, {"by": "first again"})
    await first.flush()
    assert on_disk(directory) == {
        1: {"by": "first"},
        2: {"by": "second"},
        3: {"by": "first again"},
    }


async def test_an_update_after_flush_does_not_write_a_stale_file(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    first = await loaded(directory)
    await first.update_user_data(1, {"v": 1})
    await first.flush()
    second = await loaded(directory)
    await second.update_user_data(2, {"v": 2})
    await second.drop_user_data(1)
    await second.flush()

    await first.update_user_data(3, {"v": 3})  # no get_*() first
    await first.flush()
    assert on_disk(directory) == {2: {"v": 2}, 3: {"v": 3}}  # user 1 stays dropped


async def test_conversations_of_two_persistences_taking_turns(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    first = await loaded(directory)
    await first.update_conversation("signup", (1, 1), "ASK_NAME")
    await first.flush()
    second = await loaded(directory)
    assert await second.get_conversations("signup") == {(1, 1): "ASK_NAME"}
    await second.update_conversation("signup", (2, 2), "ASK_AGE")
    await second.update_conversation("other", (3, 3), 1)
    await second.flush()

    await first.update_conversation("signup", (1, 1), "ASK_AGE")
    await first.flush()
    assert await first.get_conversations("signup") == {(1, 1): "ASK_AGE", (2, 2): "ASK_AGE"}
    assert await first.get_conversations("other") == {(3, 3): 1}
    await first.flush()


async def test_a_hand_edit_between_two_uses_is_kept(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    persistence = await loaded(directory)
    await persistence.update_user_data(1, {"name": "Ann"})
    await persistence.update_user_data(2, {"name": "Bob"})
    await persistence.flush()
    path = directory / "user_data.json"
    path.write_text(path.read_text().replace('"Ann"', '"Anna"'))

    await persistence.update_user_data(2, {"name": "Bob", "visits": 2})
    await persistence.flush()
    assert on_disk(directory) == {1: {"name": "Anna"}, 2: {"name": "Bob", "visits": 2}}


# ----------------------------------------------------------------- a real Application


def message(update_id: int, user_id: int, bot: Any) -> Update:
    raw = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000 + update_id,
            "chat": {"id": user_id, "type": "private", "first_name": "Ann"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Ann"},
            "text": "hello",
        },
    }
    update = Update.de_json(raw, bot)
    assert update is not None
    return update


async def count(update: Update, context: CallbackContext[Any, Any, Any, Any]) -> None:
    assert context.user_data is not None
    context.user_data["messages"] = context.user_data.get("messages", 0) + 1


def application(persistence: JsonPersistence[Any, Any, Any]) -> AnyApplication:
    app = (
        Application.builder()
        .token(BOT_TOKEN)
        .request(OfflineRequest())
        .get_updates_request(OfflineRequest())
        .updater(None)
        .persistence(persistence)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, count))
    return app


async def run_once(app: AnyApplication, update_id: int, user_id: int) -> None:
    """One run of the bot: start, handle one message, save, stop, shut down (flush)."""
    await app.initialize()
    await app.start()
    await app.process_update(message(update_id, user_id, app.bot))
    await app.update_persistence()
    await app.stop()
    await app.shutdown()


async def test_an_application_started_again_reads_what_changed_meanwhile(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "state"
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    app = application(persistence)
    await run_once(app, 1, user_id=1)
    assert on_disk(directory) == {1: {"messages": 1}}

    other = await loaded(directory)  # e.g. a maintenance script, while the bot is stopped
    await other.update_user_data(2, {"messages": 5})
    await other.flush()

    await app.initialize()  # the same Application and persistence, as PTB allows
    try:
        assert dict(app.user_data) == {1: {"messages": 1}, 2: {"messages": 5}}
        await app.start()
        await app.process_update(message(2, user_id=1, bot=app.bot))
        await app.update_persistence()
        await app.stop()
    finally:
        await app.shutdown()
    assert on_disk(directory) == {1: {"messages": 2}, 2: {"messages": 5}}


async def test_a_new_application_on_the_same_persistence_reads_a_hand_edit(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "state"
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    await run_once(application(persistence), 1, user_id=1)
    path = directory / "user_data.json"
    path.write_text(path.read_text().replace('"messages":1', '"messages":40'))

    app = application(persistence)
    await run_once(app, 2, user_id=1)
    assert on_disk(directory) == {1: {"messages": 41}}


# ------------------------------------------------------------- import-pickle --force


def cli(*args: object) -> subprocess.CompletedProcess[str]:
    """Runs the command line of the jsonpersist this test imported (not another install)."""
    package_root = Path(jsonpersist.__file__).resolve().parent.parent
    tests = Path(__file__).resolve().parent
    path = [str(package_root), str(tests), *filter(None, [os.environ.get("PYTHONPATH")])]
    return subprocess.run(
        [sys.executable, "-m", "jsonpersist", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        timeout=60,
        check=False,
    )


async def write_pickle(path: Path, users: dict[int, Any], bot_data: dict[str, Any]) -> None:
    request = OfflineRequest()
    pickled = PicklePersistence(path, single_file=True, on_flush=True)
    pickled.set_bot(ExtBot(BOT_TOKEN, request=request, get_updates_request=request))
    await pickled.get_user_data()
    await pickled.get_chat_data()
    await pickled.get_bot_data()
    await pickled.get_callback_data()
    await pickled.get_conversations("signup")
    for user, data in users.items():
        await pickled.update_user_data(user, data)
    await pickled.update_bot_data(bot_data)
    await pickled.update_conversation("signup", (7, 7), "ASK_NAME")
    await pickled.flush()


async def test_a_state_imported_with_force_between_two_uses_is_kept(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    persistence = await loaded(directory)
    await persistence.get_bot_data()
    await persistence.update_user_data(1, {"old": True})
    await persistence.update_user_data(2, {"old": True})
    await persistence.update_bot_data({"version": "old"})
    await persistence.update_conversation("signup", (1, 1), "OLD")
    await persistence.flush()

    await write_pickle(tmp_path / "bot.pickle", {7: {"imported": True}}, {"version": "new"})
    imported = cli("import-pickle", tmp_path / "bot.pickle", directory, "--force")
    assert imported.returncode == 0, imported.stderr
    assert on_disk(directory) == {7: {"imported": True}}

    # The same persistence object is used again, as by a restarted Application.
    assert await persistence.get_user_data() == {7: {"imported": True}}
    assert await persistence.get_bot_data() == {"version": "new"}
    assert await persistence.get_conversations("signup") == {(7, 7): "ASK_NAME"}
    await persistence.update_user_data(8, {"new": True})
    await persistence.update_conversation("signup", (8, 8), "ASK_AGE")
    await persistence.flush()
    assert on_disk(directory) == {7: {"imported": True}, 8: {"new": True}}
    assert on_disk(directory, "bot_data") == {"version": "new"}
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(directory, read_only=True)
    assert await reader.get_conversations("signup") == {(7, 7): "ASK_NAME", (8, 8): "ASK_AGE"}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-300, 300), st.one_of(st.none(), st.integers(0, 3))), max_size=900
    ),
    st.booleans(),
)
def test_the_lines_laid_out_are_always_the_current_ones_in_order(
    changes: list[tuple[int, int | None]], lay_out_between: bool
) -> None:
    """Lines kept in file order as they change: a few changed lines put in place one by one,
    many in one pass (over 256), new and dropped ones at their place; the file laid out is
    always the sorted lines of now."""
    state = CategoryState(CATEGORIES["user_data"], lambda key: key)
    state.loaded_from({key: b",[%d,9]\n" % key for key in range(-300, 301, 2)}, None, 2, True)
    state.chunks()
    for index, (key, value) in enumerate(changes):
        if value is None:
            state.drop_line(key)
        else:
            state.set_line(key, b",[%d,%d]\n" % (key, value))
        if lay_out_between and index % 7 == 0:
            state.chunks()
    expected = [state.lines[key] for key in sorted(state.lines)]
    assert state.chunks()[1:-1] == expected


@pytest.mark.parametrize("changed", [3, 500])
def test_changed_lines_are_laid_out_few_one_by_one_or_many_in_one_pass(changed: int) -> None:
    state = CategoryState(CATEGORIES["user_data"], lambda key: key)
    state.loaded_from({key: b",[%d,0]\n" % key for key in range(1000)}, None, 2, True)
    state.chunks()
    for key in range(0, 2 * changed, 2):
        state.set_line(key, b",[%d,1]\n" % key)
    assert state.chunks()[1:-1] == [state.lines[key] for key in range(1000)]
