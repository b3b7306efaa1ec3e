"""Callback data, with and without ``arbitrary_callback_data``.

With it, PTB's ``CallbackDataCache`` replaces each button's Python object by a uuid before the
keyboard goes to Telegram, and hands its ``persistence_data`` to ``update_callback_data()``:
after a restart a press of a button sent before must resolve to the original object. Without
it PTB never asks for callback data, and none is stored. Each test runs on the files and on
PostgreSQL.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from checks import assert_same
from contract_app import (
    CHAT,
    AnyContext,
    Harness,
    remembering,
    sent_buttons,
)
from contract_backends import Backend
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, InvalidCallbackData

CHOICES: list[Any] = [
    ("buy", 3, None),
    {1: "int key", "nested": (date(2024, 2, 29), frozenset({"a"}))},
    "a plain string",
]


class Presses:
    """A CallbackQueryHandler that records what each press resolved to.

    A press that resolves to ``drop_on`` drops its keyboard from the cache.
    """

    def __init__(self, drop_on: Any = None) -> None:
        self.data: list[Any] = []
        self.drop_on = drop_on

    async def __call__(self, update: Update, context: AnyContext) -> None:
        assert update.callback_query is not None
        self.data.append(update.callback_query.data)
        if self.drop_on is not None and update.callback_query.data == self.drop_on:
            context.drop_callback_data(update.callback_query)

    def handler(self) -> CallbackQueryHandler[Any, Any]:
        return CallbackQueryHandler(self)


async def send_choices(harness: Harness) -> list[str]:
    await harness.app.bot.send_message(
        CHAT,
        "Pick one",
        reply_markup=InlineKeyboardMarkup.from_row(
            [
                InlineKeyboardButton(str(i), callback_data=choice)
                for i, choice in enumerate(CHOICES)
            ]
        ),
    )
    return sent_buttons(harness.request)


async def test_a_keyboard_of_objects_survives_a_restart(backend: Backend) -> None:
    presses = Presses()
    first = Harness(backend.make(), [presses.handler()])
    async with first.app:
        sent = await send_choices(first)
        assert all(type(data) is str for data in sent)
        await first.press(sent[0])
        cache = first.app.bot.callback_data_cache.persistence_data  # type: ignore[attr-defined]
    assert_same(presses.data, [CHOICES[0]])

    persistence = backend.counting()
    presses = Presses(drop_on=CHOICES[-1])
    second = Harness(persistence, [presses.handler()])
    async with second.app:
        assert persistence.count("get_callback_data") == 1
        restored = second.app.bot.callback_data_cache.persistence_data  # type: ignore[attr-defined]
        assert_same(restored, cache)
        await second.press(sent[1])
        await second.press(sent[2], user=8)
        assert_same(presses.data, CHOICES[1:])
        # drop_callback_data() forgot the keyboard: so does the store, at the next round.
        await second.app.update_persistence()
        keyboards, queries = (await backend.stored())["callback_data"]
        assert keyboards == []
        cache = second.app.bot.callback_data_cache  # type: ignore[attr-defined]
        assert_same((keyboards, queries), cache.persistence_data)
    assert first.errors == second.errors == []

    third_presses = Presses()
    third = Harness(backend.make(), [third_presses.handler()])
    async with third.app:
        await third.press(sent[0])
    assert len(third_presses.data) == 1
    assert isinstance(third_presses.data[0], InvalidCallbackData)
    assert third.errors == []


async def test_the_callback_data_file_holds_the_caches_data(backend: Backend) -> None:
    harness = Harness(backend.make(), [Presses().handler()])
    async with harness.app:
        sent = await send_choices(harness)
        await harness.press(sent[1])
        await harness.app.update_persistence()
        keyboards, queries = (await backend.stored())["callback_data"]
        ((keyboard_id, timestamp, buttons),) = keyboards
        assert type(timestamp) is float
        assert sorted(keyboard_id + button for button in buttons) == sorted(sent)
        assert_same(
            [buttons[data[len(keyboard_id) :]] for data in sent],
            CHOICES,
        )
        # The press is remembered until the query is answered or dropped.
        assert list(queries.values()) == [keyboard_id]
    assert harness.errors == []


async def test_without_arbitrary_callback_data_there_is_no_callback_file(backend: Backend) -> None:
    persistence = backend.counting()
    presses = Presses()
    harness = Harness(
        persistence, [presses.handler(), remembering()], arbitrary_callback_data=False
    )
    async with harness.app:
        assert harness.app.bot.callback_data_cache is None  # type: ignore[attr-defined]
        await harness.app.bot.send_message(
            CHAT,
            "Pick",
            reply_markup=InlineKeyboardMarkup.from_button(
                InlineKeyboardButton("yes", callback_data="yes")
            ),
        )
        assert sent_buttons(harness.request) == ["yes"]
        await harness.press("yes")
        await harness.say("hello")
        await harness.app.update_persistence()
    assert presses.data == ["yes"]
    assert persistence.count("get_callback_data") == 0
    assert persistence.count("update_callback_data") == 0
    stored = await backend.categories()
    assert "callback_data" not in stored
    assert "user_data" in stored
    again = backend.make()
    assert await again.get_callback_data() is None
    await again.flush()
    assert harness.errors == []


async def test_a_restart_without_arbitrary_callback_data_keeps_the_file(
    backend: Backend,
) -> None:
    first = Harness(backend.make(), [Presses().handler()])
    async with first.app:
        await send_choices(first)
    before = await backend.raw("callback_data")
    assert before

    second = Harness(backend.make(), [], arbitrary_callback_data=False)
    async with second.app:
        pass
    assert await backend.raw("callback_data") == before
    keyboards, _ = (await backend.stored())["callback_data"]
    assert len(keyboards) == 1
    assert first.errors == second.errors == []
