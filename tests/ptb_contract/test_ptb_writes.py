"""When the files are written: ``on_flush`` both ways, and never when nothing changed.

With ``on_flush=False`` each ``update_persistence()`` is on disk when it returns. With
``on_flush=True`` nothing reaches the disk before ``flush()`` (shutdown), and then everything
does; a value that cannot be stored is still reported by the round. A round in which nothing
changed writes no file at all, although PTB hands bot and callback data over every time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from contract_app import (
    CHAT,
    USER,
    CountingPersistence,
    Harness,
    on_disk,
    remembering,
    sent_buttons,
    snapshot,
    steps,
)
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from jsonpersist import JsonPersistence, UnsupportedTypeError

HANDLERS = ("alpha", "beta")


def handlers() -> list[Any]:
    return [remembering(), (steps("alpha"), 0), (steps("beta", per_chat=False), 1)]


async def send_keyboard(harness: Harness, choice: Any) -> str:
    await harness.app.bot.send_message(
        CHAT,
        "Pick",
        reply_markup=InlineKeyboardMarkup.from_button(
            InlineKeyboardButton("x", callback_data=choice)
        ),
    )
    return sent_buttons(harness.request)[0]


async def a_saved_state(directory: Path) -> None:
    harness = Harness(JsonPersistence(directory), handlers())
    async with harness.app:
        await harness.say("/alpha")
        await send_keyboard(harness, ("first", 1))
    assert harness.errors == []


async def test_without_on_flush_each_round_is_on_disk_when_it_returns(tmp_path: Path) -> None:
    harness = Harness(JsonPersistence(tmp_path, on_flush=False), handlers())
    async with harness.app:
        await harness.say("/alpha")
        await harness.app.update_persistence()
        saved = await on_disk(tmp_path, *HANDLERS)
        assert saved["user_data"] == {USER: {"said": ["/alpha"]}}
        assert saved["chat_data"] == {CHAT: {"last": "/alpha"}}
        assert saved["bot_data"] == {"messages": 1}
        assert saved["callback_data"] == ([], {})
        assert saved["conversations"] == {"alpha": {(CHAT, USER): 1}, "beta": {}}

        await harness.say("alpha")
        await harness.say("/beta")
        await send_keyboard(harness, ("second", 2))
        await harness.app.update_persistence()
        saved = await on_disk(tmp_path, *HANDLERS)
        assert saved["user_data"] == {USER: {"said": ["/alpha", "alpha", "/beta"]}}
        assert saved["bot_data"] == {"messages": 3}
        assert len(saved["callback_data"][0]) == 1
        assert saved["conversations"] == {"alpha": {(CHAT, USER): 2}, "beta": {(USER,): 1}}
    assert harness.errors == []


async def test_with_on_flush_nothing_is_written_before_shutdown(tmp_path: Path) -> None:
    await a_saved_state(tmp_path)
    before = snapshot(tmp_path)
    persistence = CountingPersistence(tmp_path, on_flush=True)
    harness = Harness(persistence, handlers())
    async with harness.app:
        await harness.say("alpha")
        await harness.say("/beta", user=7, chat=-7)
        await send_keyboard(harness, ("second", 2))
        harness.app.drop_chat_data(CHAT)
        for _ in range(3):
            await harness.app.update_persistence()
        assert persistence.count("update_user_data") == 2
        assert persistence.count("drop_chat_data") == 1
        assert snapshot(tmp_path) == before
        # The persistence itself has the changes (DictPersistence's attributes).
        assert persistence.user_data is not None
        assert persistence.user_data[7] == {"said": ["/beta"]}
    assert persistence.count("flush") == 1
    saved = await on_disk(tmp_path, *HANDLERS)
    assert saved["user_data"] == {
        USER: {"said": ["/alpha", "alpha"]},
        7: {"said": ["/beta"]},
    }
    assert saved["chat_data"] == {-7: {"last": "/beta"}}
    assert saved["bot_data"] == {"messages": 3}
    assert len(saved["callback_data"][0]) == 2
    assert saved["conversations"] == {"alpha": {(CHAT, USER): 2}, "beta": {(7,): 1}}
    assert harness.errors == []


async def test_with_on_flush_a_bad_value_is_reported_by_the_round(tmp_path: Path) -> None:
    harness = Harness(JsonPersistence(tmp_path, on_flush=True), handlers())
    async with harness.app:
        await harness.say("hello", user=1, chat=-1)
        await harness.say("hello", user=2, chat=-2)
        harness.app.user_data[2]["socket"] = object()
        await harness.app.update_persistence()
        assert len(harness.errors) == 1
        assert isinstance(harness.errors[0], UnsupportedTypeError)
        assert "user_data[2]" in str(harness.errors[0])
        assert list(tmp_path.glob("*.json")) == []
        del harness.app.user_data[2]["socket"]
        harness.app.mark_data_for_update_persistence(user_ids=2)
    assert len(harness.errors) == 1
    saved = await on_disk(tmp_path)
    assert saved["user_data"] == {1: {"said": ["hello"]}, 2: {"said": ["hello"]}}


@pytest.mark.parametrize("on_flush", [False, True])
async def test_nothing_changed_writes_nothing(tmp_path: Path, on_flush: bool) -> None:
    await a_saved_state(tmp_path)
    persistence = CountingPersistence(tmp_path, on_flush=on_flush)
    harness = Harness(persistence, handlers())
    async with harness.app:
        before = snapshot(tmp_path)
        for _ in range(3):
            # Touched but unchanged: user, chat and conversation are handed over again.
            await harness.say("alpha stay")
            harness.app.user_data[USER]["said"].pop()
            harness.app.chat_data[CHAT]["last"] = "/alpha"
            harness.app.bot_data["messages"] -= 1
            await harness.app.update_persistence()
            await harness.app.update_persistence()
        assert persistence.count("update_user_data", USER) == 3
        assert persistence.count("update_chat_data", CHAT) == 3
        assert persistence.count("update_conversation", "alpha") == 3
        assert persistence.count("update_bot_data") == 6
        assert persistence.count("update_callback_data") == 6
        assert snapshot(tmp_path) == before
    assert harness.errors == []
    # Nor does the shutdown's flush, with nothing left to write.
    assert snapshot(tmp_path) == before
