"""A real PTB ``Application`` (offline bot) on PostgresPersistence: run, restart, carry on.

The same contract as the file backend's (``tests/ptb_contract``), where it concerns what PTB
sees: everything comes back after a restart, conversations go on, buttons of a keyboard sent
before the restart resolve, drops and migrations stay, an error reaches the error handler.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from checks import assert_same
from contract_app import CHAT, USER, Harness, remembering, sent_buttons, steps
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import (
    CallbackContext,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from jsonpersist import PostgresPersistence, UnsupportedTypeError
from jsonpersist._codec import Codec
from jsonpersist._entries import EntryCodec
from jsonpersist._pg_state import read_database

AnyContext = CallbackContext[Any, Any, Any, Any]
WHEN = datetime(2024, 3, 31, 3, 30, tzinfo=timezone.utc)


async def in_database(url: str) -> Any:
    """What the database holds now, read without taking the bot name (as the tools do)."""
    entries = EntryCodec(Codec(), ContextTypes())
    state, problems, _ = await asyncio.to_thread(read_database, url, "default", entries)
    assert problems == {}
    return state


async def keep(update: Update, context: AnyContext) -> None:
    assert update.effective_message is not None
    text = update.effective_message.text
    if text == "/keep":
        context.user_data["message"] = update.effective_message  # type: ignore[index]
        context.user_data["typed"] = {(1, 2): {3}, "when": WHEN}  # type: ignore[index]
        context.chat_data["big"] = 2**80  # type: ignore[index]
        context.bot_data[USER] = frozenset({"x"})
    if text == "/buttons":
        await update.effective_message.reply_text(
            "pick",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("a", callback_data=("choice", {1: "one"}))]]
            ),
        )


def handlers(pressed: list[Any]) -> list[Any]:
    async def press(update: Update, context: AnyContext) -> None:
        assert update.callback_query is not None
        pressed.append(update.callback_query.data)

    return [
        (steps("signup"), 0),
        (MessageHandler(filters.COMMAND, keep), 1),
        (CallbackQueryHandler(press), 2),
        remembering(),
    ]


async def test_everything_survives_a_restart(pg_url: str) -> None:
    pressed: list[Any] = []
    first = Harness(PostgresPersistence(pg_url), handlers(pressed))
    async with first.app:
        await first.say("/signup")
        await first.say("signup")  # state 2
        await first.say("/keep")
        await first.say("/buttons")
        data = sent_buttons(first.request)
        cache = first.app.bot.callback_data_cache.persistence_data  # type: ignore[attr-defined]
    assert first.errors == []
    saved = await in_database(pg_url)
    assert saved.conversations == {"signup": {(CHAT, USER): 2}}

    second = Harness(PostgresPersistence(pg_url), handlers(pressed))
    async with second.app:
        user_data = dict(second.app.user_data[USER])
        stored = user_data.pop("message")
        assert type(stored) is Message
        assert stored.get_bot() is second.app.bot  # answers through the new bot
        await stored.reply_text("welcome back")
        assert second.request.calls[-1][1]["text"] == "welcome back"
        assert_same(user_data["typed"], {(1, 2): {3}, "when": WHEN})
        assert user_data["said"] == ["/signup", "signup", "/keep", "/buttons"]
        assert_same(dict(second.app.chat_data[CHAT]), {"last": "/buttons", "big": 2**80})
        assert_same(second.app.bot_data[USER], frozenset({"x"}))
        assert_same(second.app.bot.callback_data_cache.persistence_data, cache)  # type: ignore[attr-defined]
        await second.press(data[0])
        assert_same(pressed, [("choice", {1: "one"})])
        await second.say("signup")  # state 2 -> 3
        await second.say("signup")  # ends
    assert second.errors == []
    saved = await in_database(pg_url)
    assert saved.conversations == {}


async def test_each_round_is_in_the_database_when_it_returns(pg_url: str) -> None:
    harness = Harness(PostgresPersistence(pg_url), handlers([]))
    async with harness.app:
        await harness.say("/signup")
        await harness.app.update_persistence()
        saved = await in_database(pg_url)
        assert saved.conversations == {"signup": {(CHAT, USER): 1}}
        assert saved.user_data == {USER: {"said": ["/signup"]}}
        harness.app.drop_user_data(USER)
        harness.app.migrate_chat_data(old_chat_id=CHAT, new_chat_id=CHAT - 1)
        await harness.app.update_persistence()
        saved = await in_database(pg_url)
        assert saved.user_data == {}
        assert saved.chat_data == {CHAT - 1: {"last": "/signup"}}
    again = Harness(PostgresPersistence(pg_url), handlers([]))
    async with again.app:
        assert USER not in again.app.user_data
        assert set(again.app.chat_data) == {CHAT - 1}


async def test_a_value_that_cannot_be_stored_reaches_the_error_handler(pg_url: str) -> None:
    async def bad(update: Update, context: AnyContext) -> None:
        context.user_data["lock"] = asyncio.Lock()  # type: ignore[index]
        context.chat_data["fine"] = True  # type: ignore[index]

    harness = Harness(PostgresPersistence(pg_url), [MessageHandler(filters.TEXT, bad)])
    async with harness.app:
        await harness.say("hello")
        await harness.app.update_persistence()
        assert [type(error) for error in harness.errors] == [UnsupportedTypeError]
        assert "user_data[501]['lock']" in str(harness.errors[0])
        saved = await in_database(pg_url)
        assert saved.chat_data == {CHAT: {"fine": True}}
        assert saved.user_data == {}
        del harness.app.user_data[USER]["lock"]
