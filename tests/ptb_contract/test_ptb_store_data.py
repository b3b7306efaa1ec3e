"""``store_data``: a disabled category is never read nor written.

PTB neither loads nor saves a category whose ``PersistenceInput`` flag is off; the persistence
adds that its getter hands back an empty value and its ``update_*`` writes nothing even when
called directly, and that what is stored for that category (a file left in the directory, rows
left in the database) is never opened. Each test runs on the files and on PostgreSQL.
"""

from __future__ import annotations

import pytest
from contract_app import CHAT, USER, Harness, remembering, steps
from contract_backends import CATEGORIES, Backend
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.ext import PersistenceInput

METHODS = {
    "user_data": ("get_user_data", "update_user_data", "drop_user_data", "refresh_user_data"),
    "chat_data": ("get_chat_data", "update_chat_data", "drop_chat_data", "refresh_chat_data"),
    "bot_data": ("get_bot_data", "update_bot_data", "refresh_bot_data"),
    "callback_data": ("get_callback_data", "update_callback_data"),
}


async def run_a_bot(harness: Harness) -> None:
    """Touches every category: a message, a conversation, a keyboard, a dropped chat."""
    async with harness.app:
        await harness.say("/alpha")
        await harness.app.bot.send_message(
            CHAT,
            "Pick",
            reply_markup=InlineKeyboardMarkup.from_button(
                InlineKeyboardButton("one", callback_data=("one", 1))
            ),
        )
        harness.app.drop_chat_data(-999)
        harness.app.drop_user_data(999)


@pytest.mark.parametrize("disabled", CATEGORIES)
async def test_a_disabled_category_is_never_read_nor_written(
    backend: Backend, disabled: str
) -> None:
    store_data = PersistenceInput(**{disabled: False})
    # The disabled category holds something that would not load.
    await backend.plant(disabled)
    planted = await backend.raw(disabled)
    persistence = backend.counting(store_data=store_data)
    harness = Harness(persistence, [remembering(), steps("alpha")])
    await run_a_bot(harness)
    assert harness.errors == []

    for method in METHODS[disabled]:
        assert persistence.count(method) == 0, method
    for enabled in set(CATEGORIES) - {disabled}:
        assert persistence.count(METHODS[enabled][0]) == 1, enabled
        assert persistence.count(METHODS[enabled][1]) >= 1, enabled
    assert await backend.raw(disabled) == planted
    # The disabled one being what was planted:
    assert await backend.categories() == {*CATEGORIES, "conversations"}

    # The next start with the same flags: the disabled category starts empty.
    again = Harness(backend.make(store_data=store_data), [steps("alpha")])
    async with again.app:
        assert again.app.user_data.get(USER) == (
            None if disabled == "user_data" else {"said": ["/alpha"]}
        )
        assert again.app.chat_data.get(CHAT) == (
            None if disabled == "chat_data" else {"last": "/alpha"}
        )
        assert again.app.bot_data == ({} if disabled == "bot_data" else {"messages": 1})
        keyboards, _ = again.app.bot.callback_data_cache.persistence_data  # type: ignore[attr-defined]
        assert len(keyboards) == (0 if disabled == "callback_data" else 1)
    assert again.errors == []
    assert await backend.raw(disabled) == planted


@pytest.mark.parametrize("disabled", CATEGORIES)
async def test_a_disabled_category_is_inert_when_called_directly(
    backend: Backend, disabled: str
) -> None:
    persistence = backend.make(store_data=PersistenceInput(**{disabled: False}))
    saves = {
        "user_data": lambda: persistence.update_user_data(1, {"a": 1}),
        "chat_data": lambda: persistence.update_chat_data(-1, {"a": 1}),
        "bot_data": lambda: persistence.update_bot_data({"a": 1}),
        "callback_data": lambda: persistence.update_callback_data(([("k", 1.0, {"b": 1})], {})),
    }
    drops = {
        "user_data": lambda: persistence.drop_user_data(1),
        "chat_data": lambda: persistence.drop_chat_data(-1),
    }
    await saves[disabled]()
    if disabled in drops:
        await drops[disabled]()
    await persistence.flush()
    assert disabled not in await backend.categories()

    empty = {"user_data": {}, "chat_data": {}, "bot_data": {}, "callback_data": None}
    getters = {
        "user_data": persistence.get_user_data,
        "chat_data": persistence.get_chat_data,
        "bot_data": persistence.get_bot_data,
        "callback_data": persistence.get_callback_data,
    }
    assert await getters[disabled]() == empty[disabled]
    await persistence.flush()
    assert disabled not in await backend.categories()


async def test_with_nothing_enabled_only_conversations_are_kept(backend: Backend) -> None:
    store_data = PersistenceInput(
        user_data=False, chat_data=False, bot_data=False, callback_data=False
    )
    harness = Harness(backend.make(store_data=store_data), [steps("alpha")])
    await run_a_bot(harness)
    assert harness.errors == []
    assert await backend.categories() == {"conversations"}
    assert (await backend.stored("alpha"))["conversations"] == {"alpha": {(CHAT, USER): 1}}
