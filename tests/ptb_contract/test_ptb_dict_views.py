"""DictPersistence's attributes, after a real Application ran on the persistence.

``JsonPersistence`` is a ``DictPersistence``: ``user_data`` … ``conversations`` are the data as
last handed over, and ``user_data_json`` … ``conversations_json`` load into a real
``DictPersistence`` (values inside keep jsonpersist's tags, which ``codec.decode`` undoes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checks import assert_same
from contract_app import CHAT, USER, AnyContext, Harness, remembering, sent_buttons, steps
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, DictPersistence, MessageHandler, filters

from jsonpersist import JsonPersistence

CHOICE: Any = {"buy": (2, "apples"), 3: frozenset({"x"})}


async def typed(update: Update, context: AnyContext) -> None:
    """Values that JSON alone would not bring back: a tuple, an int key, a set."""
    context.user_data["pair"] = (1, 2)  # type: ignore[index]
    context.chat_data[7] = "int key"  # type: ignore[index]
    context.bot_data[("a", 1)] = {3, 4}


async def pressed(update: Update, context: AnyContext) -> None:
    """Answers a button press: nothing to do."""


def handlers() -> list[Any]:
    return [
        remembering(),
        (MessageHandler(filters.Regex("^typed$"), typed), 0),
        (steps("alpha"), 1),
        (steps("beta", per_chat=False, state=lambda n: ("step", n)), 2),
        (CallbackQueryHandler(pressed), 3),
    ]


def dict_persistence(persistence: JsonPersistence[Any, Any, Any]) -> DictPersistence:
    """A real DictPersistence made from the attributes; raises TypeError on a bad shape."""
    return DictPersistence(
        user_data_json=persistence.user_data_json,
        chat_data_json=persistence.chat_data_json,
        bot_data_json=persistence.bot_data_json,
        callback_data_json=persistence.callback_data_json,
        conversations_json=persistence.conversations_json,
    )


async def run(harness: Harness) -> None:
    await harness.say("typed")
    await harness.say("/alpha")
    await harness.say("alpha")
    await harness.say("/beta", user=8, chat=-8)
    await harness.app.bot.send_message(
        CHAT,
        "Pick",
        reply_markup=InlineKeyboardMarkup.from_button(
            InlineKeyboardButton("x", callback_data=CHOICE)
        ),
    )
    await harness.press(sent_buttons(harness.request)[0])
    await harness.app.update_persistence()


async def check_the_attributes(persistence: JsonPersistence[Any, Any, Any], app: Any) -> None:
    cache = app.bot.callback_data_cache.persistence_data
    expected = {
        "user_data": dict(app.user_data),
        "chat_data": dict(app.chat_data),
        "bot_data": app.bot_data,
        "callback_data": cache,
        "conversations": {"alpha": {(CHAT, USER): 2}, "beta": {(8,): ("step", 1)}},
    }
    for name, value in expected.items():
        assert_same(getattr(persistence, name), value, name)

    codec = persistence.codec
    loaded = dict_persistence(persistence)
    users = await loaded.get_user_data()
    assert_same({user: codec.decode(data) for user, data in users.items()}, expected["user_data"])
    chats = await loaded.get_chat_data()
    assert_same({chat: codec.decode(data) for chat, data in chats.items()}, expected["chat_data"])
    assert_same(codec.decode(await loaded.get_bot_data()), expected["bot_data"])
    for name, states in expected["conversations"].items():
        restored = await loaded.get_conversations(name)
        assert_same({key: codec.decode(state) for key, state in restored.items()}, states)
    callback_data = await loaded.get_callback_data()
    assert callback_data is not None
    keyboards, queries = callback_data
    assert_same(queries, cache[1])
    assert_same(
        [
            (kid, time, {b: codec.decode(v) for b, v in buttons.items()})
            for kid, time, buttons in keyboards
        ],
        cache[0],
    )
    # The tags are inside the values DictPersistence holds: it cannot undo them itself.
    assert loaded.user_data is not None
    assert loaded.user_data[USER]["pair"] == {"$tuple": [1, 2]}


async def test_the_attributes_after_a_run_load_into_dict_persistence(tmp_path: Path) -> None:
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    harness = Harness(persistence, handlers())
    async with harness.app:
        await run(harness)
        await check_the_attributes(persistence, harness.app)
    # Still there after shutdown's flush, for a script that prints them at the end.
    await check_the_attributes(persistence, harness.app)
    assert harness.errors == []


async def test_the_attributes_are_not_the_applications_objects(tmp_path: Path) -> None:
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    harness = Harness(persistence, handlers())
    async with harness.app:
        await run(harness)
        assert persistence.user_data is not None
        assert persistence.user_data[USER] is not harness.app.user_data[USER]
        assert persistence.bot_data is not harness.app.bot_data
        # Changed by a handler but not handed over yet: the attributes show what was saved.
        await harness.say("more")
        assert persistence.user_data[USER]["said"] == ["typed", "/alpha", "alpha"]
        assert persistence.bot_data["messages"] == 4
        await harness.app.update_persistence()
        assert persistence.user_data[USER]["said"][-1] == "more"
    assert harness.errors == []


async def test_the_attributes_after_a_restart_show_the_loaded_state(tmp_path: Path) -> None:
    first = Harness(JsonPersistence(tmp_path), handlers())
    async with first.app:
        await run(first)
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    for name in ("user_data", "chat_data", "bot_data", "callback_data", "conversations"):
        assert getattr(persistence, name) is None, name  # nothing loaded yet
    second = Harness(persistence, handlers())
    async with second.app:
        await check_the_attributes(persistence, second.app)
    assert first.errors == second.errors == []
