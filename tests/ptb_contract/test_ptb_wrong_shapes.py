"""Values of the wrong shape for their category are refused when saved.

PTB's own persistence tests hand ``update_user_data(1, 1)`` and ``update_callback_data("x")``
to PicklePersistence, which stores them. Stored here, such a value would make the whole
category unloadable at the next start (PTB expects a dict per user, a tuple of two for callback
data). So each is refused at save time with ``UnsupportedTypeError`` (a ``TypeError``), the
rest of the round is saved, and the store stays loadable by a fresh persistence. Each test runs
on the files and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from contract_app import Harness, remembering
from contract_backends import Backend

from jsonpersist import UnsupportedTypeError

Persistence = Any  # a JsonPersistence or a PostgresPersistence
GOOD_KEYBOARDS = ([("kb", 1.5, {"b": ("x", 1)})], {"q": "kb"})


async def save_good(persistence: Persistence) -> None:
    await persistence.update_user_data(1, {"good": 1})
    await persistence.update_chat_data(1, {"good": 1})
    await persistence.update_bot_data({"good": 1})
    await persistence.update_callback_data(GOOD_KEYBOARDS)


WRONG: dict[str, tuple[str, Callable[[Persistence], Awaitable[None]]]] = {
    "user data 1": ("user_data", lambda p: p.update_user_data(1, 1)),
    "user data a list": ("user_data", lambda p: p.update_user_data(1, [("a", 1)])),
    "chat data 'x'": ("chat_data", lambda p: p.update_chat_data(1, "x")),
    "chat data None": ("chat_data", lambda p: p.update_chat_data(1, None)),
    "bot data 5": ("bot_data", lambda p: p.update_bot_data(5)),
    "callback data 'x'": ("callback_data", lambda p: p.update_callback_data("x")),
    "callback data time not a float": (
        "callback_data",
        lambda p: p.update_callback_data(([("kb", "not-a-float", {})], {})),
    ),
    "callback data three parts": (
        "callback_data",
        lambda p: p.update_callback_data(([], {}, {})),
    ),
    "callback data keyboard id an int": (
        "callback_data",
        lambda p: p.update_callback_data(([(7, 1.0, {})], {})),
    ),
    "callback data query to an int": (
        "callback_data",
        lambda p: p.update_callback_data(([], {"q": 7})),
    ),
}
EXPECTED = {
    "user_data": {1: {"good": 1}, 2: {"other": 2}, 3: {"after": 3}},
    "chat_data": {1: {"good": 1}, 2: {"other": 2}},
    "bot_data": {"good": 1},
    "callback_data": GOOD_KEYBOARDS,
}


@pytest.mark.parametrize("case", WRONG.values(), ids=WRONG.keys())
async def test_a_wrong_shape_is_refused_and_the_file_stays_loadable(
    backend: Backend, case: tuple[str, Callable[[Persistence], Awaitable[None]]]
) -> None:
    category, save_wrong = case
    persistence = backend.make()
    await persistence.get_user_data()
    await save_good(persistence)

    # In one round with other changes, as PTB's update_persistence() hands them over.
    results = await asyncio.gather(
        save_wrong(persistence),
        persistence.update_user_data(2, {"other": 2}),
        persistence.update_chat_data(2, {"other": 2}),
        return_exceptions=True,
    )
    assert isinstance(results[0], UnsupportedTypeError), results[0]
    assert isinstance(results[0], TypeError)
    assert results[0].where.startswith(category), results[0].where
    assert results[1:] == [None, None]

    # The persistence goes on, and the store loads in a fresh one with the last good value.
    await persistence.update_user_data(3, {"after": 3})
    await persistence.flush()
    saved = await backend.stored()
    assert saved[category] == EXPECTED[category]
    assert saved["user_data"][3] == {"after": 3}


async def test_wrong_bot_data_from_a_handler_reaches_the_error_handler(backend: Backend) -> None:
    harness = Harness(backend.make(), [remembering()])
    async with harness.app:
        await harness.say("hello")
        await harness.app.update_persistence()
        harness.app.bot_data = 5  # a plain attribute of the Application
        await harness.say("more", user=2, chat=-2)  # fails in remember(): 5 has no .get
        harness.errors.clear()
        await harness.app.update_persistence()
        assert [type(error) for error in harness.errors] == [UnsupportedTypeError]
        assert harness.errors[0].where == "bot_data"  # type: ignore[attr-defined]
        harness.app.bot_data = {"fixed": True}
    saved = await backend.stored()
    assert saved["bot_data"] == {"fixed": True}
    assert saved["user_data"][2] == {"said": ["more"]}  # before remember() failed

    again = Harness(backend.make(), [])
    async with again.app:  # starts with what was saved
        assert again.app.bot_data == {"fixed": True}
