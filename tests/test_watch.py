"""JsonPersistence(watch=True): hand edits of the state files reach a running bot."""

from __future__ import annotations

import asyncio
import datetime as dtm
import itertools
from pathlib import Path
from typing import Any

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from jsonpersist import CorruptStateError, JsonPersistence
from tests.offline import BOT_TOKEN, OfflineRequest
from tests.state_files import edit, entries

USER = {"id": 77, "is_bot": False, "first_name": "Ann"}
_ids = itertools.count(1)


def message(application: Application, text: str) -> Update:
    data: dict[str, Any] = {
        "update_id": next(_ids),
        "message": {
            "message_id": next(_ids),
            "date": int(dtm.datetime.now(dtm.timezone.utc).timestamp()),
            "chat": {"id": USER["id"], "type": "private"},
            "from": USER,
            "text": text,
        },
    }
    return Update.de_json(data, application.bot)


class Bot:
    """A real Application whose handler records what it sees and counts messages."""

    def __init__(self, directory: Path) -> None:
        self.seen: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        self.persistence = JsonPersistence(directory, watch=True, update_interval=3600)
        self.app = (
            Application.builder()
            .token(BOT_TOKEN)
            .request(OfflineRequest())
            .get_updates_request(OfflineRequest())
            .persistence(self.persistence)
            .build()
        )
        self.app.add_handler(MessageHandler(filters.ALL, self.handle))
        self.app.add_error_handler(self.on_error)

    async def handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        self.seen.append(
            {
                "user": dict(context.user_data),
                "chat": dict(context.chat_data),
                "bot": dict(context.bot_data),
            }
        )
        context.user_data["count"] = context.user_data.get("count", 0) + 1
        context.bot_data["total"] = context.bot_data.get("total", 0) + 1

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        self.errors.append(context.error)  # type: ignore[arg-type]

    async def say(self, text: str = "hi") -> dict[str, Any]:
        await self.app.process_update(message(self.app, text))
        await self.app.update_persistence()
        return self.seen[-1] if self.seen else {}


async def test_hand_edits_of_every_category_reach_the_handler_and_survive_a_restart(
    tmp_path: Path,
) -> None:
    bot = Bot(tmp_path)
    async with bot.app:
        await bot.say()
        await bot.say()
        assert bot.seen[-1]["user"] == {"count": 1}

        edit(tmp_path / "user_data.json", lambda data: data[77].update(count=100))
        edit(tmp_path / "bot_data.json", lambda data: data.update(total=500, motd="hello"))
        bot.app.chat_data[77]["x"] = 1
        bot.app.mark_data_for_update_persistence(chat_ids=77)
        await bot.app.update_persistence()
        edit(tmp_path / "chat_data.json", lambda data: data[77].update(x=2, y=[1, 2]))

        seen = await bot.say()
        assert seen["user"] == {"count": 100}
        assert seen["bot"] == {"total": 500, "motd": "hello"}
        assert seen["chat"] == {"x": 2, "y": [1, 2]}
        assert bot.errors == []

    restarted = Bot(tmp_path)
    async with restarted.app:
        seen = await restarted.say()
    assert seen["user"] == {"count": 101}
    assert seen["bot"] == {"total": 501, "motd": "hello"}
    assert seen["chat"] == {"x": 2, "y": [1, 2]}


async def test_an_edit_made_before_a_save_is_merged_not_clobbered(tmp_path: Path) -> None:
    persistence = JsonPersistence(tmp_path, watch=True)
    await persistence.get_user_data()
    await asyncio.gather(*(persistence.update_user_data(i, {"v": i}) for i in (1, 2, 3)))

    # A person changes user 2 and adds user 9 while the bot is about to save users 1 and 2.
    edit(tmp_path / "user_data.json", lambda data: data.update({2: {"v": "person"}, 9: {}}))
    await asyncio.gather(
        persistence.update_user_data(1, {"v": "bot"}),
        persistence.update_user_data(2, {"v": "bot, older copy"}),
    )
    on_disk = entries(tmp_path / "user_data.json")
    assert on_disk == {1: {"v": "bot"}, 2: {"v": "person"}, 3: {"v": 3}, 9: {}}

    # The application is given the person's version of user 2 before its next handler.
    data: dict[str, Any] = {"v": "bot, older copy"}
    await persistence.refresh_user_data(2, data)
    assert data == {"v": "person"}
    await persistence.flush()


async def test_a_malformed_edit_is_reported_once_and_never_overwritten(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    async with bot.app:
        await bot.say()
        broken = b'[{"jsonpersist":2,"category":"user_data"}\n,[77,{"count":5,}]\n]\n'
        (tmp_path / "user_data.json").write_bytes(broken)

        seen = await bot.say()  # the handler still runs, on the in-memory state
        assert seen["user"] == {"count": 1}
        await asyncio.sleep(0.05)  # PTB hands errors of a save to its error handlers in a task
        assert len(bot.errors) == 1  # the save refused to overwrite the file, and said why
        assert isinstance(bot.errors[0], CorruptStateError)
        assert "user_data.json" in str(bot.errors[0])
        assert (tmp_path / "user_data.json").read_bytes() == broken

        seen = await bot.say()
        assert seen["user"] == {"count": 2}
        assert (tmp_path / "user_data.json").read_bytes() == broken

        # Once the person fixes the file, it is picked up and the bot's changes merge in.
        edit_text = broken.replace(b",}", b"}")
        (tmp_path / "user_data.json").write_bytes(edit_text)
        seen = await bot.say()
        assert seen["user"] == {"count": 5}  # the person's entry wins over the bot's copy
    assert entries(tmp_path / "user_data.json") == {77: {"count": 6}}


async def test_without_watch_edits_are_not_picked_up(tmp_path: Path) -> None:
    persistence = JsonPersistence(tmp_path)
    await persistence.get_user_data()
    await persistence.update_user_data(1, {"v": 1})
    edit(tmp_path / "user_data.json", lambda data: data.update({1: {"v": "person"}}))
    data: dict[str, Any] = {"v": 1}
    await persistence.refresh_user_data(1, data)
    assert data == {"v": 1}
    await persistence.flush()


@pytest.mark.parametrize("deleted", [True, False])
async def test_an_entry_removed_by_hand_is_removed_from_the_app(
    tmp_path: Path, deleted: bool
) -> None:
    persistence = JsonPersistence(tmp_path, watch=True)
    await persistence.get_user_data()
    await persistence.update_user_data(1, {"v": 1})
    if deleted:
        edit(tmp_path / "user_data.json", lambda data: data.pop(1))
    data: dict[str, Any] = {"v": 1}
    await persistence.refresh_user_data(1, data)
    assert data == ({} if deleted else {"v": 1})
    await persistence.flush()


async def test_an_edit_of_callback_data_reaches_the_button_handler(tmp_path: Path) -> None:
    received: list[object] = []
    request = OfflineRequest()
    app = (
        Application.builder()
        .token(BOT_TOKEN)
        .request(request)
        .get_updates_request(OfflineRequest())
        .persistence(JsonPersistence(tmp_path, watch=True, update_interval=3600))
        .arbitrary_callback_data(True)
        .build()
    )

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        received.append(update.callback_query.data)

    async def other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        pass

    app.add_handler(CallbackQueryHandler(pressed))
    app.add_handler(MessageHandler(filters.ALL, other))
    async with app:
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("go", callback_data=("a", 1))]])
        await app.bot.send_message(USER["id"], "pick", reply_markup=markup)
        await app.update_persistence()
        sent = request.calls[-1][1]["reply_markup"]
        button_id = sent["inline_keyboard"][0][0]["callback_data"]

        def retarget(data: dict[Any, Any]) -> None:
            keyboards = [key for key in data if key[0] == "keyboard"]
            assert len(keyboards) == 1
            for key in keyboards:
                _time, buttons = data[key]
                for button in buttons:
                    buttons[button] = {"$tuple": ["b", 2]}

        edit(tmp_path / "callback_data.json", retarget)
        query = {
            "id": "1",
            "from": USER,
            "chat_instance": "x",
            "data": button_id,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": USER["id"], "type": "private"},
                "text": "pick",
            },
        }
        update = Update.de_json({"update_id": next(_ids), "callback_query": query}, app.bot)
        # PTB resolves a button's id when the update arrives, before any refresh: the edit
        # is picked up by the next handler call (here, a message), then the press sees it.
        await app.process_update(message(app, "tick"))
        app.bot.insert_callback_data(update)
        await app.process_update(update)
    assert received == [("b", 2)]


async def test_an_edit_of_conversations_is_kept_by_the_next_save_and_a_restart(
    tmp_path: Path,
) -> None:
    persistence = JsonPersistence(tmp_path, watch=True)
    assert await persistence.get_conversations("profile") == {}
    await persistence.update_conversation("profile", (1, 1), 1)

    def add_conversation(data: dict[Any, Any]) -> None:
        assert data == {("profile", (1, 1)): 1}
        data["profile", (2, 2)] = 5

    edit(tmp_path / "conversations.json", add_conversation)
    await persistence.refresh_bot_data({})  # the hook a handler call goes through
    await persistence.update_conversation("profile", (3, 3), 2)
    await persistence.flush()
    lines = (tmp_path / "conversations.json").read_text().splitlines()
    # Written back canonically: one line per conversation, the person's among the bot's.
    assert lines[1:] == [
        ',["profile",[1,1],1]',
        ',["profile",[2,2],5]',
        ',["profile",[3,3],2]',
        "]",
    ]

    restarted = JsonPersistence(tmp_path)
    assert await restarted.get_conversations("profile") == {(1, 1): 1, (2, 2): 5, (3, 3): 2}
    await restarted.flush()
