"""Conversations: several persistent handlers, nested ones, ended ones.

PTB loads each persistent handler's conversations (nested handlers included) at
``initialize()`` and saves each changed conversation with ``update_conversation(name, key,
state)``, ``None`` when it ended. jsonpersist removes an ended conversation from the store.
Each test runs on the files and on PostgreSQL, but for ``DictPersistence``'s ``conversations``
attribute, which ``PostgresPersistence`` does not have (``docs/postgres.md``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from contract_app import (
    CHAT,
    USER,
    AnyContext,
    Harness,
    message,
    steps,
)
from contract_backends import Backend
from telegram import Update
from telegram.ext import CommandHandler, ConversationHandler, MessageHandler, filters

from jsonpersist import JsonPersistence

KEY = (CHAT, USER)


def several() -> list[Any]:
    return [
        (steps("alpha"), 0),
        (steps("beta", per_chat=False, state=lambda n: f"step-{n}"), 1),
        (steps("gamma", state=lambda n: ("tuple", n, None)), 2),
    ]


async def test_several_handlers_resume_after_a_restart(backend: Backend) -> None:
    names = ("alpha", "beta", "gamma")
    first = Harness(backend.make(), several())
    async with first.app:
        await first.say("/alpha", user=1, chat=-1)
        await first.say("/alpha", user=2, chat=-1)
        await first.say("alpha", user=2, chat=-1)
        await first.say("/beta", user=1, chat=-1)
        await first.say("/gamma", user=3, chat=3)
    assert first.errors == []
    saved = await backend.stored(*names)
    assert saved["conversations"] == {
        "alpha": {(-1, 1): 1, (-1, 2): 2},
        "beta": {(1,): "step-1"},
        "gamma": {(3, 3): ("tuple", 1, None)},
    }

    persistence = backend.counting()
    second = Harness(persistence, several())
    async with second.app:
        assert sorted(persistence.first_args("get_conversations")) == sorted(names)
        await second.say("alpha", user=2, chat=-1)  # state 2 -> 3
        await second.say("beta", user=1, chat=-77)  # per user only: any chat
        await second.say("gamma", user=3, chat=3)
        await second.app.update_persistence()
        updates = sorted(
            (call.args for call in persistence.calls if call.method == "update_conversation"),
            key=repr,
        )
        assert updates == [
            ("alpha", (-1, 2), 3),
            ("beta", (1,), "step-2"),
            ("gamma", (3, 3), ("tuple", 2, None)),
        ]
        saved = await backend.stored(*names)
        assert saved["conversations"] == {
            "alpha": {(-1, 1): 1, (-1, 2): 3},
            "beta": {(1,): "step-2"},
            "gamma": {(3, 3): ("tuple", 2, None)},
        }
        assert type(next(iter(saved["conversations"]["gamma"].values()))) is tuple
    assert second.errors == []


async def test_an_ended_conversation_is_removed_from_the_file(backend: Backend) -> None:
    persistence = backend.counting()
    harness = Harness(persistence, [steps("alpha", last=2)])
    async with harness.app:
        await harness.say("/alpha", user=1)
        await harness.say("/alpha", user=2)
        await harness.app.update_persistence()
        await harness.say("alpha", user=1)
        await harness.say("alpha", user=1)  # ends user 1's conversation
        await harness.app.update_persistence()
        assert ("alpha", (CHAT, 1), None) in [call.args for call in persistence.calls]
        assert (await backend.stored("alpha"))["conversations"] == {"alpha": {(CHAT, 2): 1}}
        assert await persistence.get_conversations("alpha") == {(CHAT, 2): 1}
        await harness.say("alpha", user=2)
        await harness.say("alpha", user=2)
    # Every conversation ended: nothing is left of them, and the next start begins afresh.
    assert (await backend.stored("alpha"))["conversations"] == {"alpha": {}}
    again = Harness(backend.make(), [steps("alpha", last=2)])
    async with again.app:
        handler = again.app.handlers[0][0]
        assert not handler.check_update(message(again.app, "alpha", user=1))
        assert handler.check_update(message(again.app, "/alpha", user=1))
    assert harness.errors == again.errors == []


async def test_an_ended_conversation_leaves_the_conversations_attribute(tmp_path: Path) -> None:
    # DictPersistence's attribute: the files only (PostgresPersistence has none of them).
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    await persistence.get_conversations("alpha")
    await persistence.update_conversation("alpha", (CHAT, 1), 1)
    await persistence.update_conversation("alpha", (CHAT, 2), 1)
    assert persistence.conversations == {"alpha": {(CHAT, 1): 1, (CHAT, 2): 1}}
    await persistence.update_conversation("alpha", (CHAT, 1), None)
    assert persistence.conversations == {"alpha": {(CHAT, 2): 1}}
    await persistence.flush()


# ---------------------------------------------------------------------- nested handlers

PARENT_1, PARENT_2 = 1, 2
CHILD_1, CHILD_2, CHILD_DONE = 11, 12, 13
GRAND_1, GRAND_DONE = 21, 22


def answer(state: Any) -> Any:
    async def callback(update: Update, context: AnyContext) -> Any:
        return state

    return callback


def on(text: str, state: Any) -> MessageHandler[Any, Any, Any]:
    return MessageHandler(filters.Regex(f"^{text}$"), answer(state))


def nested() -> ConversationHandler[Any]:
    """parent (/parent) > child ("child") > grandchild ("grand"); "up", "leave" and "finish"
    end them from the inside out, each mapping its end to a state of its parent.
    """
    grandchild = ConversationHandler(
        entry_points=[on("grand", GRAND_1)],
        states={GRAND_1: [on("up", GRAND_DONE)]},
        fallbacks=[],
        name="grandchild",
        persistent=True,
        map_to_parent={GRAND_DONE: CHILD_2},
    )
    child = ConversationHandler(
        entry_points=[on("child", CHILD_1)],
        states={CHILD_1: [grandchild], CHILD_2: [on("leave", CHILD_DONE)]},
        fallbacks=[],
        name="child",
        persistent=True,
        map_to_parent={CHILD_DONE: PARENT_2},
    )
    return ConversationHandler(
        entry_points=[CommandHandler("parent", answer(PARENT_1))],
        states={PARENT_1: [child], PARENT_2: [on("finish", ConversationHandler.END)]},
        fallbacks=[],
        name="parent",
        persistent=True,
    )


NESTED = ("parent", "child", "grandchild")


async def restart(backend: Backend, harness: Harness | None) -> tuple[Harness, Any]:
    """Shuts ``harness`` down and starts a new application with new nested handlers."""
    if harness is not None:
        await harness.app.shutdown()
        assert harness.errors == []
    persistence = backend.counting()
    harness = Harness(persistence, [nested()])
    await harness.app.initialize()
    assert sorted(persistence.first_args("get_conversations")) == sorted(NESTED)
    return harness, persistence


async def test_nested_conversations_survive_restarts_at_every_level(backend: Backend) -> None:
    async def step(harness: Harness, text: str, expected: dict[str, Any]) -> None:
        await harness.say(text)
        await harness.app.update_persistence()
        assert (await backend.stored(*NESTED))["conversations"] == expected

    harness, _ = await restart(backend, None)
    await step(harness, "/parent", {"parent": {KEY: PARENT_1}, "child": {}, "grandchild": {}})
    await step(
        harness, "child", {"parent": {KEY: PARENT_1}, "child": {KEY: CHILD_1}, "grandchild": {}}
    )

    harness, persistence = await restart(backend, harness)
    everything = {
        "parent": {KEY: PARENT_1},
        "child": {KEY: CHILD_1},
        "grandchild": {KEY: GRAND_1},
    }
    await step(harness, "grand", everything)

    harness, persistence = await restart(backend, harness)
    await step(
        harness, "up", {"parent": {KEY: PARENT_1}, "child": {KEY: CHILD_2}, "grandchild": {}}
    )
    # The grandchild's end and the child's new state were saved in the same round.
    assert sorted(
        (call.args for call in persistence.calls if call.method == "update_conversation"),
        key=repr,
    ) == [("child", KEY, CHILD_2), ("grandchild", KEY, None)]

    harness, _ = await restart(backend, harness)
    await step(harness, "leave", {"parent": {KEY: PARENT_2}, "child": {}, "grandchild": {}})

    harness, _ = await restart(backend, harness)
    await step(harness, "finish", {"parent": {}, "child": {}, "grandchild": {}})
    await harness.app.shutdown()
    assert harness.errors == []


async def test_a_non_blocking_conversation_is_saved_once_its_state_is_known(
    backend: Backend,
) -> None:
    release = asyncio.Event()

    async def slow_start(update: Update, context: AnyContext) -> int:
        await release.wait()
        return 1

    def handler() -> ConversationHandler[Any]:
        return ConversationHandler(
            entry_points=[CommandHandler("slow", slow_start)],
            states={1: [on("slow", ConversationHandler.END)]},
            fallbacks=[],
            name="slow",
            persistent=True,
            block=False,
        )

    persistence = backend.counting()
    harness = Harness(persistence, [handler()])
    async with harness.app:
        await harness.app.start()
        await harness.say("/slow")
        await harness.app.update_persistence()
        # Still running: PTB hands over the state before it, None; nothing is stored.
        assert ("slow", KEY, None) in [call.args for call in persistence.calls]
        assert (await backend.stored("slow"))["conversations"] == {"slow": {}}
        release.set()
        for _ in range(5):
            await asyncio.sleep(0)
        await harness.app.update_persistence()
        assert ("slow", KEY, 1) in [call.args for call in persistence.calls]
        assert (await backend.stored("slow"))["conversations"] == {"slow": {KEY: 1}}
        await harness.app.stop()
    again = Harness(backend.make(), [handler()])
    async with again.app:
        assert again.app.handlers[0][0].check_update(message(again.app, "slow"))
    assert harness.errors == again.errors == []


async def test_a_stored_end_state_is_cleaned_up_at_the_next_start(backend: Backend) -> None:
    # A non-blocking callback that ends the conversation: PTB hands over END (-1) itself.
    release = asyncio.Event()

    async def slow_end(update: Update, context: AnyContext) -> int:
        await release.wait()
        return ConversationHandler.END

    def handler() -> ConversationHandler[Any]:
        return ConversationHandler(
            entry_points=[CommandHandler("slow", answer(1))],
            states={1: [MessageHandler(filters.Regex("^slow$"), slow_end)]},
            fallbacks=[],
            name="slow",
            persistent=True,
            block=False,
        )

    first = Harness(backend.make(), [handler()])
    async with first.app:
        await first.app.start()
        await first.say("/slow")
        for _ in range(5):
            await asyncio.sleep(0)
        await first.say("slow")
        release.set()
        for _ in range(5):
            await asyncio.sleep(0)
        await first.app.update_persistence()
        await first.app.stop()
    # PTB stores END like any state here (PicklePersistence does the same).
    assert (await backend.stored("slow"))["conversations"] == {"slow": {KEY: -1}}

    persistence = backend.counting()
    again = Harness(persistence, [handler()])
    async with again.app:
        assert again.app.handlers[0][0].check_update(message(again.app, "/slow"))
        await again.app.update_persistence()
        assert ("slow", KEY, None) in [call.args for call in persistence.calls]
        assert (await backend.stored("slow"))["conversations"] == {"slow": {}}
    assert first.errors == again.errors == []
