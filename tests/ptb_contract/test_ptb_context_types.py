"""``context_types`` with custom classes: the application's data objects keep their class.

PTB creates user and chat data with ``context_types.user_data()`` / ``chat_data()`` and
checks at ``initialize()`` that what ``get_bot_data()`` returned is a
``context_types.bot_data``; after a restart every object must be of those classes again, both
in the application and in what the handlers get. Each test runs on the files and on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from contract_app import CHAT, USER, AnyContext, Harness, remembering
from contract_backends import Backend
from telegram import Update
from telegram.ext import CallbackContext, ContextTypes, MessageHandler, filters


class UserData(dict[Any, Any]):
    """The application's user data."""


class ChatData(dict[Any, Any]):
    """The application's chat data."""


class BotData(dict[Any, Any]):
    """The application's bot data."""


TYPES = ContextTypes(
    context=CallbackContext, user_data=UserData, chat_data=ChatData, bot_data=BotData
)


async def test_custom_classes_come_back_after_a_restart(backend: Backend) -> None:
    first = Harness(backend.make(context_types=TYPES), [remembering()], context_types=TYPES)
    async with first.app:
        assert type(first.app.bot_data) is BotData
        await first.say("hello", user=1, chat=-1)
        await first.say("hello", user=2, chat=-2)
        assert type(first.app.user_data[1]) is UserData
    assert first.errors == []

    seen: list[tuple[type, type, type]] = []

    async def look(update: Update, context: AnyContext) -> None:
        seen.append((type(context.user_data), type(context.chat_data), type(context.bot_data)))

    counting = backend.counting(context_types=TYPES)
    second = Harness(counting, [MessageHandler(filters.TEXT, look)], context_types=TYPES)
    async with second.app:
        assert {type(data) for data in second.app.user_data.values()} == {UserData}
        assert {type(data) for data in second.app.chat_data.values()} == {ChatData}
        assert type(second.app.bot_data) is BotData
        assert second.app.user_data[1] == {"said": ["hello"]}
        assert second.app.chat_data[-2] == {"last": "hello"}
        assert second.app.bot_data == {"messages": 2}
        await second.say("again", user=1, chat=-1)
        await second.say("new", user=3, chat=-3)  # created by PTB, not loaded
        # What the getters returned is what PTB put into the application.
        assert counting.count("get_bot_data") == 1
        assert type(await counting.get_bot_data()) is BotData
        assert {type(data) for data in (await counting.get_user_data()).values()} == {UserData}
    assert seen == [(UserData, ChatData, BotData)] * 2
    assert second.errors == []


async def test_a_plain_dict_handed_over_loads_as_the_custom_class(backend: Backend) -> None:
    saving = backend.make(context_types=TYPES)
    await saving.get_user_data()
    await saving.update_user_data(USER, {"plain": True})
    await saving.update_chat_data(CHAT, ChatData(custom=True))
    await saving.get_bot_data()
    await saving.update_bot_data({"plain": True})
    await saving.flush()

    loading = backend.make(context_types=TYPES)
    users = await loading.get_user_data()
    chats = await loading.get_chat_data()
    bot_data = await loading.get_bot_data()
    assert type(users[USER]) is UserData
    assert users[USER] == {"plain": True}
    assert type(chats[CHAT]) is ChatData
    assert chats[CHAT] == {"custom": True}
    assert type(bot_data) is BotData
    assert bot_data == {"plain": True}
    await loading.flush()


async def test_empty_bot_data_is_a_new_custom_object(backend: Backend) -> None:
    one = backend.other("one").make(context_types=TYPES)
    other = backend.other("other").make(context_types=TYPES)
    first, second = await one.get_bot_data(), await other.get_bot_data()
    assert type(first) is BotData
    assert first == {}
    assert first is not second
    await one.flush()
    await other.flush()
