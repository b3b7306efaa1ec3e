"""The Application and the persistence: what PTB fetches and saves, when, and how often.

``initialize()`` loads each enabled category once and each persistent handler's conversations
once; ``update_persistence()`` saves what was touched (bot and callback data every time);
``stop()`` ends the saving loop; ``shutdown()`` saves once more and flushes once, last. The
loop's period is the persistence's ``update_interval``. Each test runs on the files and on
PostgreSQL, but for the edit of a file that ``refresh_*`` does not pick up.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from contract_app import (
    CHAT,
    USER,
    CountingPersistence,
    Harness,
    message,
    remembering,
    steps,
)
from contract_backends import Backend
from telegram import Update
from telegram.ext import MessageHandler, PersistenceInput, filters
from telegram.warnings import PTBUserWarning

from jsonpersist import JsonPersistence

GETTERS = {
    "user_data": "get_user_data",
    "chat_data": "get_chat_data",
    "bot_data": "get_bot_data",
    "callback_data": "get_callback_data",
}
ALL = PersistenceInput()
NONE = PersistenceInput(bot_data=False, chat_data=False, user_data=False, callback_data=False)
ONLY_CHATS = PersistenceInput(bot_data=False, user_data=False, callback_data=False)


def two_handlers_and_a_transient() -> list[Any]:
    return [
        (steps("alpha"), 0),
        (steps("beta", per_chat=False), 1),
        (steps("gamma", persistent=False), 2),
        remembering(),
    ]


@pytest.mark.parametrize("store_data", [ALL, NONE, ONLY_CHATS], ids=["all", "none", "chats"])
async def test_initialize_fetches_each_enabled_category_once(
    backend: Backend, store_data: PersistenceInput
) -> None:
    persistence = backend.counting(store_data=store_data)
    harness = Harness(persistence, two_handlers_and_a_transient())

    await harness.app.initialize()
    methods = persistence.methods()
    assert methods[0] == "set_bot"
    assert persistence.calls[0].args == (harness.app.bot,)
    for category, getter in GETTERS.items():
        expected = 1 if getattr(store_data, category) else 0
        assert persistence.count(getter) == expected, getter
    # Conversations are not a store_data flag: each persistent handler asks for its own.
    assert sorted(persistence.first_args("get_conversations")) == ["alpha", "beta"]
    assert set(methods) <= {"set_bot", "get_conversations", *GETTERS.values()}

    persistence.calls.clear()
    await harness.app.shutdown()
    assert persistence.methods()[-1] == "flush"
    assert persistence.count("flush") == 1
    # Nothing was processed: the final save hands over bot and callback data only.
    assert persistence.updated() == {
        name
        for name, enabled in (
            ("update_bot_data", store_data.bot_data),
            ("update_callback_data", store_data.callback_data),
        )
        if enabled
    }
    assert harness.errors == []


async def test_what_initialize_returns_becomes_the_applications_data(backend: Backend) -> None:
    first = Harness(backend.make(), two_handlers_and_a_transient())
    async with first.app:
        await first.say("/alpha")
        await first.say("/beta")
        await first.say("beta")
        await first.say("/gamma")

    alpha, beta, gamma = (
        steps("alpha"),
        steps("beta", per_chat=False),
        steps("gamma", persistent=False),
    )
    second = Harness(backend.make(), [(alpha, 0), (beta, 1), (gamma, 2)])
    async with second.app:
        assert second.app.user_data[USER]["said"] == ["/alpha", "/beta", "beta", "/gamma"]
        assert second.app.chat_data[CHAT] == {"last": "/gamma"}
        assert second.app.bot_data == {"messages": 4}
        assert alpha.check_update(message(second.app, "alpha"))
        assert beta.check_update(message(second.app, "beta"))  # in state 2 now
        assert not gamma.check_update(message(second.app, "gamma"))  # not persistent
        assert dict(alpha._conversations) == {(CHAT, USER): 1}
        assert dict(beta._conversations) == {(USER,): 2}
    assert first.errors == second.errors == []


async def test_update_persistence_hands_over_only_what_was_touched(backend: Backend) -> None:
    persistence = backend.counting()
    harness = Harness(persistence, two_handlers_and_a_transient())
    async with harness.app:
        await harness.say("/alpha", user=1, chat=-1)
        await harness.say("hello", user=2, chat=-2)
        assert persistence.updated() == set()  # processing an update saves nothing

        persistence.calls.clear()
        await harness.app.update_persistence()
        assert sorted(persistence.first_args("update_user_data")) == [1, 2]
        assert sorted(persistence.first_args("update_chat_data")) == [-2, -1]
        assert persistence.count("update_bot_data") == 1
        assert persistence.count("update_callback_data") == 1
        assert [
            call.args for call in persistence.calls if call.method == "update_conversation"
        ] == [("alpha", (-1, 1), 1)]
        assert persistence.count("flush") == 0

        # Nothing touched since: only bot and callback data are handed over again.
        persistence.calls.clear()
        await harness.app.update_persistence()
        assert persistence.updated() == {"update_bot_data", "update_callback_data"}

        # An id marked by hand is handed over once.
        persistence.calls.clear()
        harness.app.mark_data_for_update_persistence(user_ids=3, chat_ids=[-3])
        await harness.app.update_persistence()
        assert persistence.first_args("update_user_data") == [3]
        assert persistence.first_args("update_chat_data") == [-3]
    assert harness.errors == []
    saved = await backend.stored("alpha")
    assert saved["user_data"] == {1: {"said": ["/alpha"]}, 2: {"said": ["hello"]}, 3: {}}
    assert saved["conversations"]["alpha"] == {(-1, 1): 1}


async def test_shutdown_saves_once_and_flushes_once_last(backend: Backend) -> None:
    persistence = backend.counting()
    harness = Harness(persistence, two_handlers_and_a_transient())
    async with harness.app:
        await harness.say("/alpha")
        await harness.say("/beta")
        assert persistence.updated() == set()
        assert persistence.count("flush") == 0
        persistence.calls.clear()
    assert persistence.count("update_user_data", USER) == 1
    assert persistence.count("update_chat_data", CHAT) == 1
    assert persistence.count("update_bot_data") == 1
    assert persistence.count("update_callback_data") == 1
    assert sorted(persistence.first_args("update_conversation")) == ["alpha", "beta"]
    assert persistence.count("flush") == 1
    assert persistence.methods()[-1] == "flush"
    saved = await backend.stored("alpha", "beta")
    assert saved["user_data"] == {USER: {"said": ["/alpha", "/beta"]}}
    assert saved["conversations"] == {"alpha": {(CHAT, USER): 1}, "beta": {(USER,): 1}}
    assert harness.errors == []


async def test_stop_ends_the_loop_and_shutdown_does_the_last_save(backend: Backend) -> None:
    persistence = backend.counting()  # update_interval 60: the loop never fires
    harness = Harness(persistence, [remembering()])
    async with harness.app:
        await harness.app.start()
        await harness.say("hello")
        persistence.calls.clear()
        await harness.app.stop()
        # PTB's stop() only ends the loop (it does not run update_persistence itself) ...
        assert persistence.updated() == set()
        assert persistence.count("flush") == 0
        assert "user_data" not in await backend.categories()
    # ... shutdown() then saves and flushes.
    assert persistence.count("update_user_data", USER) == 1
    assert persistence.methods()[-1] == "flush"
    assert (await backend.stored())["user_data"] == {USER: {"said": ["hello"]}}


def test_update_interval_is_the_persistences(backend: Backend) -> None:
    assert backend.make().update_interval == 60
    persistence = backend.make(update_interval=0.25)
    assert persistence.update_interval == 0.25
    with pytest.raises(AttributeError):
        persistence.update_interval = 1  # type: ignore[misc]


async def test_the_loop_saves_every_update_interval(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    persistence = backend.counting(update_interval=0.1)
    harness = Harness(persistence, [remembering()])
    times: list[float] = []
    application = type(harness.app)  # on the class: PTB's Application has slots (Python 3.13)
    real = application.update_persistence

    async def timed(self: Any) -> None:
        times.append(time.monotonic())
        await real(self)

    monkeypatch.setattr(application, "update_persistence", timed)
    async with harness.app:
        assert harness.app.persistence is persistence
        assert harness.app.persistence.update_interval == 0.1
        started = time.monotonic()
        await harness.app.start()
        await harness.say("hello")
        await asyncio.sleep(0.55)
        await harness.app.stop()
        runs = len(times)
        # Each run of the loop hands bot data over once.
        assert persistence.count("update_bot_data") == runs
        assert 2 <= runs <= 6, runs  # about 5; a busy machine may delay a run
        assert times[0] - started >= 0.09  # the first run waits one interval
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert 0.09 <= sum(gaps) / len(gaps) <= 0.3, gaps
        # The user's message reached the store through the loop, before shutdown.
        assert (await backend.stored())["user_data"] == {USER: {"said": ["hello"]}}
    assert harness.errors == []


def noting(seen: list[dict[str, Any]]) -> MessageHandler[Any, Any]:
    """A handler of "note" that notes the user data it gets, then sets ``k`` to ``"bot"``."""

    async def note(update: Update, context: Any) -> None:
        seen.append(dict(context.user_data))
        context.user_data["k"] = "bot"

    return MessageHandler(filters.Regex("^note$"), note)


async def test_refresh_is_called_before_each_handler_that_runs(backend: Backend) -> None:
    persistence = backend.counting()
    harness = Harness(persistence, [noting([])])
    async with harness.app:
        for _ in range(3):
            await harness.say("note", user=5, chat=-7)
        await harness.say("no handler takes this", user=5, chat=-7)
        assert persistence.count("refresh_bot_data") == 3
        assert persistence.first_args("refresh_chat_data") == [-7, -7, -7]
        assert persistence.first_args("refresh_user_data") == [5, 5, 5]
        # refresh_* gets the application's own objects, to update in place.
        refresh = next(call for call in persistence.calls if call.method == "refresh_user_data")
        assert refresh.args[1] is harness.app.user_data[5]
    assert harness.errors == []


async def test_without_watch_an_edit_of_the_file_is_not_refreshed(tmp_path: Path) -> None:
    # The files only: while PostgresPersistence owns the bot name, nobody else writes its rows
    # (its refresh_* do nothing, docs/postgres.md).
    state = tmp_path / "state"
    persistence = CountingPersistence(state)
    seen: list[dict[str, Any]] = []
    harness = Harness(persistence, [noting(seen)])
    async with harness.app:
        await harness.say("note", user=5, chat=-7)
        assert seen[-1] == {}
        await harness.app.update_persistence()
        edited = tmp_path / "edited"
        other: JsonPersistence[Any, Any, Any] = JsonPersistence(edited)
        await other.get_user_data()
        await other.update_user_data(5, {"k": "person"})
        await other.flush()
        shutil.copyfile(edited / "user_data.json", state / "user_data.json")
        await harness.say("note", user=5, chat=-7)
        assert seen[-1] == {"k": "bot"}
        assert persistence.count("refresh_user_data") == 2
    assert harness.errors == []


async def test_refresh_follows_store_data(backend: Backend) -> None:
    persistence = backend.counting(store_data=ONLY_CHATS)
    harness = Harness(persistence, [remembering()])
    async with harness.app:
        await harness.say("hello", user=5, chat=-7)
        await harness.say("hello", user=5, chat=-7)
    assert persistence.count("refresh_user_data") == 0
    assert persistence.count("refresh_bot_data") == 0
    assert persistence.first_args("refresh_chat_data") == [-7, -7]
    assert harness.errors == []


async def test_a_handler_added_after_initialize_is_loaded_too(backend: Backend) -> None:
    first = Harness(backend.make(), [steps("late")])
    async with first.app:
        await first.say("/late")
    persistence = backend.counting()
    harness = Harness(persistence, [steps("alpha")])
    async with harness.app:
        assert persistence.first_args("get_conversations") == ["alpha"]
        await harness.app.start()
        late = steps("late")
        with pytest.warns(PTBUserWarning, match="after `Application.initialize`"):
            harness.app.add_handler(late)
        for _ in range(5):  # PTB loads it in a task of its own
            await asyncio.sleep(0)
        assert persistence.first_args("get_conversations") == ["alpha", "late"]
        assert dict(late._conversations) == {(CHAT, USER): 1}
        await harness.say("late")
        await harness.app.stop()
    assert (await backend.stored("late"))["conversations"] == {"late": {(CHAT, USER): 2}}
    assert first.errors == harness.errors == []


async def test_the_same_application_started_again_loads_again(backend: Backend) -> None:
    persistence = backend.counting()
    harness = Harness(persistence, [remembering(), steps("alpha")])
    async with harness.app:
        await harness.say("/alpha")
    # Meanwhile another owner changes the store.
    other = backend.make()
    await other.get_user_data()
    await other.update_user_data(9, {"from": "other"})
    await other.flush()

    async with harness.app:
        assert persistence.count("get_user_data") == 2
        assert persistence.count("get_conversations", "alpha") == 2
        assert dict(harness.app.user_data) == {
            USER: {"said": ["/alpha"]},
            9: {"from": "other"},
        }
        await harness.say("alpha")
    assert persistence.count("flush") == 2
    saved = await backend.stored("alpha")
    assert saved["user_data"] == {USER: {"said": ["/alpha", "alpha"]}, 9: {"from": "other"}}
    assert saved["conversations"] == {"alpha": {(CHAT, USER): 2}}
    assert harness.errors == []
