"""DictPersistence's data attributes on JsonPersistence (``jsonpersist/_views.py``).

``user_data_json`` and friends must load into a real ``telegram.ext.DictPersistence`` (the
parent class's contract; tagged values inside are allowed), and ``user_data`` and friends must
not decode a whole category again on every access.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from offline import BOT_TOKEN, OfflineRequest
from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, User
from telegram.ext import DictPersistence, ExtBot

from jsonpersist import JsonPersistence
from jsonpersist._codec import Codec

USERS: dict[int, dict[Any, Any]] = {
    1: {
        "cart": (1, 2),
        "seen": {3, 1, 2},
        10: "an int key",
        "nested": {"deep": {4: ("a", None)}, "plain": [1.5, "x"]},
    },
    2: {"name": "Ann", "visits": 3},
    -5: {},
}
CHATS: dict[int, dict[Any, Any]] = {-100123: {"members": frozenset({7, 8}), "title": "group"}}
BOT_DATA: dict[Any, Any] = {"count": 3, ("a", 1): [1.5, None], "tags": {"x"}}
CONVERSATIONS: dict[str, dict[tuple[int | str, ...], Any]] = {
    "signup": {(1, 1): "ASK_NAME", (2, 2): 3},
    "checkout": {(-100123, 7): ("ADDRESS", 2), ("inline", 9): "DONE"},
}
CHOICES: list[Any] = [("x", 1), {1: "one", "two": (2,)}]
PROPERTIES = ("user_data", "chat_data", "bot_data", "callback_data", "conversations")


def extbot() -> ExtBot[None]:
    request = OfflineRequest()
    return ExtBot(
        BOT_TOKEN, request=request, get_updates_request=request, arbitrary_callback_data=True
    )


def press(bot: ExtBot[None]) -> tuple[str, list[str]]:
    """Sends a keyboard of arbitrary callback data through the bot's real cache, presses it.

    Returns:
        The keyboard's uuid and the callback_data strings that went to Telegram.
    """
    cache = bot.callback_data_cache
    assert cache is not None
    markup = InlineKeyboardMarkup.from_row(
        [InlineKeyboardButton(str(i), callback_data=choice) for i, choice in enumerate(CHOICES)]
    )
    sent = cache.process_keyboard(markup)
    data = [str(button.callback_data) for row in sent.inline_keyboard for button in row]
    query = CallbackQuery("query-1", User(7, "Ann", is_bot=False), "instance", data=data[0])
    cache.process_callback_query(query)
    return data[0][:32], data


async def saved_persistence(directory: Path) -> tuple[JsonPersistence[Any, Any, Any], Any]:
    """A persistence that loaded every category and saved the sample state in one gather."""
    bot = extbot()
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    persistence.set_bot(bot)
    assert await persistence.get_user_data() == {}
    assert await persistence.get_chat_data() == {}
    assert await persistence.get_bot_data() == {}
    assert await persistence.get_callback_data() is None
    assert await persistence.get_conversations("signup") == {}
    keyboard = press(bot)
    assert bot.callback_data_cache is not None
    await asyncio.gather(
        *(persistence.update_user_data(user, copy.deepcopy(data)) for user, data in USERS.items()),
        *(persistence.update_chat_data(chat, copy.deepcopy(data)) for chat, data in CHATS.items()),
        persistence.update_bot_data(copy.deepcopy(BOT_DATA)),
        persistence.update_callback_data(copy.deepcopy(bot.callback_data_cache.persistence_data)),
        *(
            persistence.update_conversation(name, key, state)
            for name, states in CONVERSATIONS.items()
            for key, state in states.items()
        ),
    )
    return persistence, keyboard


def dict_persistence(persistence: JsonPersistence[Any, Any, Any]) -> DictPersistence:
    return DictPersistence(
        user_data_json=persistence.user_data_json,
        chat_data_json=persistence.chat_data_json,
        bot_data_json=persistence.bot_data_json,
        callback_data_json=persistence.callback_data_json,
        conversations_json=persistence.conversations_json,
    )


async def test_json_attributes_load_into_dict_persistence(tmp_path: Path) -> None:
    persistence, (keyboard_uuid, sent) = await saved_persistence(tmp_path / "state")
    codec = persistence.codec

    loaded = dict_persistence(persistence)  # raises TypeError on a shape it does not accept

    users = await loaded.get_user_data()
    assert set(users) == set(USERS)
    assert {user: codec.decode(data) for user, data in users.items()} == USERS
    chats = await loaded.get_chat_data()
    assert set(chats) == set(CHATS)
    assert codec.decode(chats[-100123]) == CHATS[-100123]
    assert codec.decode(await loaded.get_bot_data()) == BOT_DATA

    callback_data = await loaded.get_callback_data()
    assert callback_data is not None
    keyboards, queries = callback_data
    assert queries == {"query-1": keyboard_uuid}
    ((uuid, timestamp, buttons),) = keyboards
    assert uuid == keyboard_uuid
    assert isinstance(timestamp, float)
    assert sorted(uuid + button for button in buttons) == sorted(sent)
    by_button = {uuid + button: codec.decode(value) for button, value in buttons.items()}
    assert [by_button[data] for data in sent] == CHOICES

    for name, states in CONVERSATIONS.items():
        restored = await loaded.get_conversations(name)
        assert set(restored) == set(states)  # DictPersistence makes the keys tuples again
        assert {key: codec.decode(state) for key, state in restored.items()} == states


async def test_json_attributes_of_an_empty_or_unloaded_state_load(tmp_path: Path) -> None:
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path / "state")
    before = dict_persistence(persistence)
    assert await before.get_user_data() == {}
    assert await before.get_callback_data() is None

    persistence.set_bot(extbot())
    await persistence.get_user_data()
    await persistence.get_chat_data()
    await persistence.get_bot_data()
    await persistence.get_callback_data()
    await persistence.get_conversations("signup")
    loaded = dict_persistence(persistence)
    assert await loaded.get_user_data() == {}
    assert await loaded.get_chat_data() == {}
    assert await loaded.get_bot_data() == {}
    assert await loaded.get_callback_data() is None
    assert await loaded.get_conversations("signup") == {}


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ``where`` of every ``Codec.decode`` call from now on."""
    calls: list[str] = []
    decode = Codec.decode

    def counting(self: Codec, tree: Any, where: str = "value") -> Any:
        calls.append(where)
        return decode(self, tree, where)

    monkeypatch.setattr(Codec, "decode", counting)
    return calls


def category_of(where: str) -> str:
    return next((name for name in PROPERTIES if where.startswith(name)), where)


async def test_data_attributes_are_decoded_once_per_change(
    tmp_path: Path, decodes: list[str]
) -> None:
    persistence, _ = await saved_persistence(tmp_path / "state")
    expected: dict[str, Any] = {
        "user_data": USERS,
        "chat_data": CHATS,
        "bot_data": BOT_DATA,
        "conversations": CONVERSATIONS,
    }
    entries = {
        "user_data": len(USERS),
        "chat_data": len(CHATS),
        "bot_data": len(BOT_DATA),
        "callback_data": 2,  # one keyboard and one query, an entry each
        "conversations": sum(map(len, CONVERSATIONS.values())),  # an entry per conversation
    }

    decodes.clear()
    first = {name: getattr(persistence, name) for name in PROPERTIES}
    for name, value in expected.items():
        assert first[name] == value
    assert first["callback_data"] is not None
    per_category = Counter(category_of(where) for where in decodes)
    for name, count in per_category.items():
        assert count <= entries[name], f"{name}: {count} decodes for {entries[name]} entries"

    decodes.clear()
    for _ in range(99):
        for name in PROPERTIES:
            getattr(persistence, name)
    assert decodes == [], f"{len(decodes)} decodes in 99 accesses without a change"

    await persistence.update_user_data(2, {"name": "Bob", "visits": 4})
    decodes.clear()
    for _ in range(100):
        assert persistence.user_data == {**USERS, 2: {"name": "Bob", "visits": 4}}
        for name in PROPERTIES:
            getattr(persistence, name)
    assert len(decodes) <= len(USERS), f"{len(decodes)} decodes after one change"
    assert {category_of(where) for where in decodes} <= {"user_data"}


async def test_data_attributes_still_show_the_data_after_flush(tmp_path: Path) -> None:
    # A script that prints persistence.user_data_json after run_polling() (which ends with
    # flush()) sees what was saved, not an empty state; the next use still reads the files.
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    await persistence.get_user_data()
    await persistence.update_user_data(1, {"a": (1, 2)})
    await persistence.flush()
    assert persistence.user_data == {1: {"a": (1, 2)}}
    assert DictPersistence(user_data_json=persistence.user_data_json).user_data == {
        1: {"a": {"$tuple": [1, 2]}}
    }
    other: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    await other.get_user_data()
    await other.update_user_data(2, {"b": 2})
    await other.flush()
    assert await persistence.get_user_data() == {1: {"a": (1, 2)}, 2: {"b": 2}}
    assert persistence.user_data == {1: {"a": (1, 2)}, 2: {"b": 2}}
    await persistence.flush()
