"""When the store is written: ``on_flush`` both ways, and never when nothing changed.

With ``on_flush=False`` each ``update_persistence()`` is stored when it returns. With
``on_flush=True`` nothing reaches the store before ``flush()`` (shutdown), and then everything
does; a value that cannot be stored is still reported by the round. A round in which nothing
changed writes nothing at all (no file, no row), although PTB hands bot and callback data over
every time. Each test runs on the files and on PostgreSQL, but for ``DictPersistence``'s
attributes, which ``PostgresPersistence`` does not have (``docs/postgres.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from contract_app import (
    CHAT,
    USER,
    Harness,
    remembering,
    sent_buttons,
    steps,
)
from contract_backends import Backend
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


async def a_saved_state(backend: Backend) -> None:
    harness = Harness(backend.make(), handlers())
    async with harness.app:
        await harness.say("/alpha")
        await send_keyboard(harness, ("first", 1))
    assert harness.errors == []


async def test_without_on_flush_each_round_is_on_disk_when_it_returns(backend: Backend) -> None:
    harness = Harness(backend.make(on_flush=False), handlers())
    async with harness.app:
        await harness.say("/alpha")
        await harness.app.update_persistence()
        saved = await backend.stored(*HANDLERS)
        assert saved["user_data"] == {USER: {"said": ["/alpha"]}}
        assert saved["chat_data"] == {CHAT: {"last": "/alpha"}}
        assert saved["bot_data"] == {"messages": 1}
        assert saved["callback_data"] == ([], {})
        assert saved["conversations"] == {"alpha": {(CHAT, USER): 1}, "beta": {}}

        await harness.say("alpha")
        await harness.say("/beta")
        await send_keyboard(harness, ("second", 2))
        await harness.app.update_persistence()
        saved = await backend.stored(*HANDLERS)
        assert saved["user_data"] == {USER: {"said": ["/alpha", "alpha", "/beta"]}}
        assert saved["bot_data"] == {"messages": 3}
        assert len(saved["callback_data"][0]) == 1
        assert saved["conversations"] == {"alpha": {(CHAT, USER): 2}, "beta": {(USER,): 1}}
    assert harness.errors == []


async def test_with_on_flush_nothing_is_written_before_shutdown(backend: Backend) -> None:
    await a_saved_state(backend)
    before = await backend.snapshot()
    persistence = backend.counting(on_flush=True)
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
        assert await backend.snapshot() == before
    assert persistence.count("flush") == 1
    saved = await backend.stored(*HANDLERS)
    assert saved["user_data"] == {
        USER: {"said": ["/alpha", "alpha"]},
        7: {"said": ["/beta"]},
    }
    assert saved["chat_data"] == {-7: {"last": "/beta"}}
    assert saved["bot_data"] == {"messages": 3}
    assert len(saved["callback_data"][0]) == 2
    assert saved["conversations"] == {"alpha": {(CHAT, USER): 2}, "beta": {(7,): 1}}
    assert harness.errors == []


async def test_with_on_flush_the_attributes_have_the_changes(tmp_path: Path) -> None:
    # DictPersistence's attributes: the files only (PostgresPersistence has none of them).
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path, on_flush=True)
    harness = Harness(persistence, handlers())
    async with harness.app:
        await harness.say("/beta", user=7, chat=-7)
        await harness.app.update_persistence()
        assert list(tmp_path.glob("*.json")) == []
        assert persistence.user_data is not None
        assert persistence.user_data[7] == {"said": ["/beta"]}
    assert harness.errors == []


async def test_with_on_flush_a_bad_value_is_reported_by_the_round(backend: Backend) -> None:
    harness = Harness(backend.make(on_flush=True), handlers())
    async with harness.app:
        await harness.say("hello", user=1, chat=-1)
        await harness.say("hello", user=2, chat=-2)
        harness.app.user_data[2]["socket"] = object()
        await harness.app.update_persistence()
        assert len(harness.errors) == 1
        assert isinstance(harness.errors[0], UnsupportedTypeError)
        assert "user_data[2]" in str(harness.errors[0])
        assert await backend.categories() == set()
        del harness.app.user_data[2]["socket"]
        harness.app.mark_data_for_update_persistence(user_ids=2)
    assert len(harness.errors) == 1
    saved = await backend.stored()
    assert saved["user_data"] == {1: {"said": ["hello"]}, 2: {"said": ["hello"]}}


@pytest.mark.parametrize("on_flush", [False, True])
async def test_nothing_changed_writes_nothing(backend: Backend, on_flush: bool) -> None:
    await a_saved_state(backend)
    persistence = backend.counting(on_flush=on_flush)
    harness = Harness(persistence, handlers())
    async with harness.app:
        before = await backend.snapshot()
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
        assert await backend.snapshot() == before
    assert harness.errors == []
    # Nor does the shutdown's flush, with nothing left to write.
    assert await backend.snapshot() == before
