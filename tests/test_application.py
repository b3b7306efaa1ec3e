"""A real PTB Application on JsonPersistence: save everything, restart, carry on.

The bots are real ``ExtBot`` instances whose requests are answered by :class:`OfflineRequest`;
updates are built with ``Update.de_json`` and fed to ``Application.process_update``.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from checks import assert_same
from offline import BOT_TOKEN, OfflineRequest
from state_files import entries
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import (
    Application,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    ExtBot,
    MessageHandler,
    PersistenceInput,
    filters,
)

from jsonpersist import JsonPersistence, UnsupportedTypeError

USER = 4242
CHAT = -100500
NAME, AGE = 1, "age"
BERLIN = ZoneInfo("Europe/Berlin")
WHEN = datetime(2024, 3, 31, 3, 30, tzinfo=BERLIN)  # just after the DST switch

# --------------------------------------------------------------------------------- updates


def _user(user_id: int = USER) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Ann", "language_code": "de"}


def _message(update_id: int, text: str, user_id: int = USER) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": 1_700_000_000 + update_id,
        "chat": {"id": CHAT, "type": "group", "title": "Test group"},
        "from": _user(user_id),
        "text": text,
    }
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": update_id, "message": message}


def text_update(
    app: Application[Any, Any, Any, Any, Any, Any], update_id: int, text: str, user_id: int = USER
) -> Update:
    update = Update.de_json(_message(update_id, text, user_id), app.bot)
    assert update is not None
    return update


def button_update(
    app: Application[Any, Any, Any, Any, Any, Any], update_id: int, query_id: str, data: str
) -> Update:
    raw = {
        "update_id": update_id,
        "callback_query": {
            "id": query_id,
            "from": _user(),
            "chat_instance": "instance-1",
            "data": data,
        },
    }
    update = Update.de_json(raw, app.bot)
    assert update is not None
    app.bot.insert_callback_data(update)  # type: ignore[attr-defined]  # as the Updater does
    return update


# ------------------------------------------------------------------------------ the bot


class Bot:
    """Builds Applications on one directory and records what the handlers saw."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.seen: dict[str, Any] = {}
        self.errors: list[BaseException] = []

    async def start(self, update: Update, context: CallbackContext[Any, Any, Any, Any]) -> int:
        assert update.message is not None
        context.user_data["message"] = update.message
        context.user_data["visits"] = (1, WHEN)
        context.user_data["tags"] = {"new", "de"}
        context.user_data[7] = {1: "int keys", (2, 3): "tuple key"}
        context.chat_data["members"] = {USER: {"joined": WHEN, "roles": frozenset({"admin"})}}
        context.chat_data["big"] = 2**80
        context.bot_data["started"] = datetime(2024, 1, 1, tzinfo=timezone.utc)
        context.bot_data["ttl"] = timedelta(hours=1, microseconds=1)
        context.bot_data[USER] = ("int key", None)
        await update.message.reply_text("What is your name?")
        return NAME

    async def name(self, update: Update, context: CallbackContext[Any, Any, Any, Any]) -> str:
        assert update.message is not None
        self.seen["name"] = update.message.text
        self.seen["user_data type"] = type(context.user_data)
        context.user_data["name"] = update.message.text
        return AGE

    async def age(self, update: Update, context: CallbackContext[Any, Any, Any, Any]) -> int:
        self.seen["age"] = update.message.text if update.message else None
        return ConversationHandler.END

    async def button(self, update: Update, context: CallbackContext[Any, Any, Any, Any]) -> None:
        assert update.callback_query is not None
        self.seen.setdefault("buttons", []).append(update.callback_query.data)

    async def error(self, update: object, context: CallbackContext[Any, Any, Any, Any]) -> None:
        assert context.error is not None
        self.errors.append(context.error)

    def build(
        self,
        *,
        context_types: ContextTypes[Any, Any, Any, Any] | None = None,
        store_data: PersistenceInput | None = None,
    ) -> tuple[Application[Any, Any, Any, Any, Any, Any], OfflineRequest]:
        request = OfflineRequest()
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(
            self.directory, context_types=context_types, store_data=store_data
        )
        builder = (
            Application.builder()
            .token(BOT_TOKEN)
            .request(request)
            .get_updates_request(OfflineRequest())
            .persistence(persistence)
            .arbitrary_callback_data(True)
        )
        if context_types is not None:
            builder = builder.context_types(context_types)
        app = builder.build()
        app.add_handler(
            ConversationHandler(
                entry_points=[CommandHandler("start", self.start)],
                states={
                    NAME: [MessageHandler(filters.TEXT & ~filters.COMMAND, self.name)],
                    AGE: [MessageHandler(filters.TEXT & ~filters.COMMAND, self.age)],
                },
                fallbacks=[],
                name="signup",
                persistent=True,
            )
        )
        app.add_handler(CallbackQueryHandler(self.button))
        app.add_error_handler(self.error)
        return app, request


@pytest.fixture
def bot(tmp_path: Path) -> Bot:
    return Bot(tmp_path / "state")


def _button_data(request: OfflineRequest) -> list[str]:
    """The callback_data strings ExtBot sent in place of the Python objects."""
    name, params = request.calls[-1]
    assert name == "sendMessage"
    markup = params["reply_markup"]
    return [button["callback_data"] for row in markup["inline_keyboard"] for button in row]


# -------------------------------------------------------------------------------- tests


async def test_everything_survives_a_restart(bot: Bot) -> None:
    first_choice: Any = (1, "one", {2: "two", "3": (4,)})
    second_choice: Any = {3: (4, 5), "k": {6, 7}, "when": WHEN}
    app, request = bot.build()
    async with app:
        await app.process_update(text_update(app, 1, "/start"))
        await app.bot.send_message(
            CHAT,
            "Pick one",
            reply_markup=InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton("first", callback_data=first_choice),
                        InlineKeyboardButton("second", callback_data=second_choice),
                    ]
                ]
            ),
        )
        first_data, second_data = _button_data(request)
        await app.process_update(button_update(app, 2, "query-1", first_data))
        assert_same(bot.seen["buttons"], [first_choice])
        cache_before = app.bot.callback_data_cache.persistence_data  # type: ignore[attr-defined]
        calls_before = len(request.calls)
    assert bot.errors == []
    assert sorted(path.name for path in bot.directory.glob("*.json")) == [
        "bot_data.json",
        "callback_data.json",
        "chat_data.json",
        "conversations.json",
        "user_data.json",
    ]

    # A new process: new Application, new bot, new persistence, same directory.
    app2, request2 = bot.build()
    async with app2:
        user_data = app2.user_data[USER]
        stored = user_data.pop("message")
        assert_same(
            dict(user_data),
            {
                "visits": (1, WHEN),
                "tags": {"new", "de"},
                7: {1: "int keys", (2, 3): "tuple key"},
            },
        )
        assert user_data["visits"][1].tzinfo is BERLIN
        assert_same(
            dict(app2.chat_data[CHAT]),
            {"members": {USER: {"joined": WHEN, "roles": frozenset({"admin"})}}, "big": 2**80},
        )
        assert_same(
            dict(app2.bot_data),
            {
                "started": datetime(2024, 1, 1, tzinfo=timezone.utc),
                "ttl": timedelta(hours=1, microseconds=1),
                USER: ("int key", None),
            },
        )
        assert_same(
            app2.bot.callback_data_cache.persistence_data,  # type: ignore[attr-defined]
            cache_before,
        )

        # The stored Message is whole and answers through the new bot.
        assert type(stored) is Message
        assert stored.text == "/start"
        assert stored.chat.id == CHAT
        assert stored.from_user is not None
        assert stored.from_user.id == USER
        assert stored.get_bot() is app2.bot
        await stored.reply_text("Welcome back")
        assert request2.calls[-1][0] == "sendMessage"
        assert request2.calls[-1][1]["chat_id"] == CHAT
        assert request2.calls[-1][1]["text"] == "Welcome back"
        assert len(request.calls) == calls_before

        # The conversation goes on in the state it was saved in.
        await app2.process_update(text_update(app2, 3, "Ann"))
        assert bot.seen["name"] == "Ann"
        assert "age" not in bot.seen

        # A button of the keyboard sent before the restart gives back the original object.
        await app2.process_update(button_update(app2, 4, "query-2", second_data))
        assert_same(bot.seen["buttons"], [first_choice, second_choice])
    assert bot.errors == []

    app3, _ = bot.build()
    async with app3:
        assert app3.user_data[USER]["name"] == "Ann"
        await app3.process_update(text_update(app3, 5, "42"))
        assert bot.seen["age"] == "42"
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(bot.directory, read_only=True)
    assert await reader.get_conversations("signup") == {}  # ended: removed from the file


async def test_a_conversation_state_is_on_disk_after_the_round(bot: Bot) -> None:
    app, _ = bot.build()
    async with app:
        await app.process_update(text_update(app, 1, "/start"))
        await app.update_persistence()
        reader: JsonPersistence[Any, Any, Any] = JsonPersistence(bot.directory, read_only=True)
        assert await reader.get_conversations("signup") == {(CHAT, USER): NAME}
        await app.process_update(text_update(app, 2, "Ann"))
        await app.update_persistence()
        reader = JsonPersistence(bot.directory, read_only=True)
        assert await reader.get_conversations("signup") == {(CHAT, USER): AGE}


class UserData(dict[Any, Any]):
    """A custom class for user data."""


class ChatData(dict[Any, Any]):
    """A custom class for chat data."""


class BotData(dict[Any, Any]):
    """A custom class for bot data."""


async def test_custom_context_types_come_back_as_their_classes(bot: Bot) -> None:
    types = ContextTypes(user_data=UserData, chat_data=ChatData, bot_data=BotData)
    app, _ = bot.build(context_types=types)
    async with app:
        assert type(app.bot_data) is BotData
        await app.process_update(text_update(app, 1, "/start"))
        assert type(app.user_data[USER]) is UserData

    app2, _ = bot.build(context_types=types)
    async with app2:
        assert type(app2.user_data[USER]) is UserData
        assert type(app2.chat_data[CHAT]) is ChatData
        assert type(app2.bot_data) is BotData
        assert app2.user_data[USER]["visits"] == (1, WHEN)
        assert app2.chat_data[CHAT]["big"] == 2**80
        assert app2.bot_data[USER] == ("int key", None)
        await app2.process_update(text_update(app2, 2, "Ann"))
        assert bot.seen["user_data type"] is UserData
    assert bot.errors == []


async def test_a_disabled_category_is_never_read_nor_written(bot: Bot) -> None:
    bot.directory.mkdir()
    corrupt = b"this is not JSON, and must not matter"
    (bot.directory / "user_data.json").write_bytes(corrupt)
    os.utime(bot.directory / "user_data.json", ns=(10**9, 10**9))
    opened: list[str] = []
    real_open = os.open

    def watching_open(path: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(os.path.basename(path))
        return real_open(path, *args, **kwargs)

    store_data = PersistenceInput(user_data=False, bot_data=False)
    app, _ = bot.build(store_data=store_data)
    with mock.patch("os.open", watching_open):
        async with app:
            await app.process_update(text_update(app, 1, "/start"))
            assert app.user_data[USER]["tags"] == {"new", "de"}
    assert bot.errors == []
    assert "user_data.json" not in opened
    assert "bot_data.json" not in opened
    assert (bot.directory / "user_data.json").read_bytes() == corrupt
    assert os.stat(bot.directory / "user_data.json").st_mtime_ns == 10**9
    assert not (bot.directory / "bot_data.json").exists()
    assert (bot.directory / "chat_data.json").exists()

    app2, _ = bot.build(store_data=store_data)
    async with app2:
        assert USER not in app2.user_data
        assert app2.bot_data == {}
        assert app2.chat_data[CHAT]["big"] == 2**80
        await app2.process_update(text_update(app2, 2, "Ann"))
        assert bot.seen["name"] == "Ann"
    assert (bot.directory / "user_data.json").read_bytes() == corrupt


async def test_a_value_that_cannot_be_stored_reaches_the_error_handler(bot: Bot) -> None:
    app, _ = bot.build()
    async with app:
        await app.process_update(text_update(app, 1, "/start"))
        await app.process_update(text_update(app, 2, "/start", user_id=77))
        app.user_data[77]["socket"] = object()
    assert len(bot.errors) == 1
    error = bot.errors[0]
    assert isinstance(error, UnsupportedTypeError)
    assert "user_data[77]['socket']" in str(error)

    app2, _ = bot.build()
    async with app2:
        assert app2.user_data[USER]["tags"] == {"new", "de"}  # the rest of the round was saved
        assert 77 not in app2.user_data  # never stored in a good version
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(bot.directory, read_only=True)
    assert await reader.get_conversations("signup") == {(CHAT, USER): NAME, (CHAT, 77): NAME}


def test_the_readme_demo_runs_and_its_state_survives_the_restart(tmp_path: Path) -> None:
    demo = Path(__file__).resolve().parents[1] / "examples" / "demo.py"
    directory = tmp_path / "state"
    done = subprocess.run(
        [sys.executable, str(demo), str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "== The state survived the restart." in done.stdout
    assert "STATE WAS LOST" not in done.stdout
    # The files it shows are version 2: a header line, then one line per entry.
    assert '--- conversations.json\n[{"jsonpersist":2,"category":"conversations"}\n' in done.stdout
    assert entries(directory / "conversations.json") == {}  # Alice's conversation ended
    assert entries(directory / "user_data.json")[42]["colour"] == "green"


# ------------------------------------------------------- a version-1 directory, upgraded

V1_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "v1" / "typical"
KEYBOARD = "6d1f8a3c0e6b4f0c9a1e2b3c4d5e6f70"
V1_STATE: dict[str, Any] = {  # what tests/fixtures/v1/make_v1.py saved there
    "user_data": {
        5: {"lang": "en", ("last", "message"): "hi", "cart": [("A-1", 2)], "seen": {1, 2, 3}},
        42: {},
        1000: {"score": 10, "when": datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)},
        1001: {"score": 11, "price": Decimal("1.10"), "$weird": 1},
    },
    "chat_data": {-1001234567890: {"title": "Friends", "members": {42, 5}}},
    "bot_data": {
        "started": datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc),
        "total": 17,
        "motd": "hello",
    },
    "callback_data": (
        [(KEYBOARD, 1714564800.25, {"0c5b2a1d9e8f7a6b5c4d3e2f1a0b9c8d": ("buy", "A-1")})],
        {"4432788941210401": KEYBOARD},
    ),
    "conversations": {
        "checkout": {(42, 42): 0, (5, 5): 1, (1000, 1000): 2, (100, 100): "ASK"},
        "settings": {(5, 5): "ASK_LANGUAGE"},
    },
}


def version_1_app(
    directory: Path, store_data: PersistenceInput | None = None
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The bot that wrote the fixtures: a settings and a checkout conversation."""
    request = OfflineRequest()
    bot: Any = ExtBot(
        BOT_TOKEN, request=request, get_updates_request=request, arbitrary_callback_data=True
    )
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(
        directory, **({} if store_data is None else {"store_data": store_data})
    )
    app = Application.builder().bot(bot).persistence(persistence).build()

    async def language(update: Update, context: CallbackContext[Any, Any, Any, Any]) -> int:
        assert update.message is not None
        context.user_data["lang"] = update.message.text
        return ConversationHandler.END

    async def begin(update: Update, context: CallbackContext[Any, Any, Any, Any]) -> str:
        return "ASK"

    app.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("settings", begin)],
            states={"ASK_LANGUAGE": [MessageHandler(filters.TEXT, language)]},
            fallbacks=[],
            name="settings",
            persistent=True,
        )
    )
    app.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("checkout", begin)],
            states={state: [CommandHandler("pay", begin)] for state in (0, 1, 2, "ASK")},
            fallbacks=[],
            name="checkout",
            persistent=True,
        ),
        group=1,
    )
    return app


def private_message(app: Any, update_id: int, user: int, text: str) -> Update:
    raw = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000 + update_id,
            "chat": {"id": user, "type": "private", "first_name": "Ann"},
            "from": {"id": user, "is_bot": False, "first_name": "Ann"},
            "text": text,
        },
    }
    update = Update.de_json(raw, app.bot)
    assert update is not None
    return update


async def loaded_state(directory: Path) -> dict[str, Any]:
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(directory, read_only=True)
    return {
        "user_data": await reader.get_user_data(),
        "chat_data": await reader.get_chat_data(),
        "bot_data": await reader.get_bot_data(),
        "callback_data": await reader.get_callback_data(),
        "conversations": {
            name: await reader.get_conversations(name) for name in ("checkout", "settings")
        },
    }


def version_of(path: Path) -> int:
    raw = path.read_bytes()
    if raw.startswith(b"[{"):
        assert raw.startswith(b'[{"jsonpersist":2,"category":"%s"}\n' % path.stem.encode())
        return 2
    assert b'"jsonpersist": 1,' in raw
    return 1


async def test_a_version_1_directory_is_upgraded_by_the_saves_of_a_running_bot(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "state"
    shutil.copytree(V1_FIXTURES, directory)
    originals = {path.name: path.read_bytes() for path in directory.glob("*.json")}

    # A bot that does not store user data never reads nor writes its file.
    app = version_1_app(directory, PersistenceInput(user_data=False))
    async with app:
        assert_same(dict(app.chat_data), V1_STATE["chat_data"])
    assert (directory / "user_data.json").read_bytes() == originals["user_data.json"]

    # Started and stopped without an update: the flush at the stop writes every category it
    # loaded as version 2, with the same contents.
    app = version_1_app(directory)
    async with app:
        assert_same(dict(app.user_data), V1_STATE["user_data"])
        assert_same(dict(app.chat_data), V1_STATE["chat_data"])
        assert_same(dict(app.bot_data), V1_STATE["bot_data"])
    assert {path.name: version_of(path) for path in directory.glob("*.json")} == dict.fromkeys(
        originals, 2
    )
    assert_same(await loaded_state(directory), V1_STATE)
    upgraded = {path.name: path.read_bytes() for path in directory.glob("*.json")}

    # User 5 answers the settings conversation: their user data, their (new) private chat and
    # the conversation change, and nothing else.
    app = version_1_app(directory)
    async with app:
        await app.process_update(private_message(app, 1, 5, "de"))
        await app.update_persistence()
    changed = {
        path.name for path in directory.glob("*.json") if path.read_bytes() != upgraded[path.name]
    }
    assert changed == {"chat_data.json", "conversations.json", "user_data.json"}
    expected = copy.deepcopy(V1_STATE)
    expected["user_data"][5]["lang"] = "de"
    expected["chat_data"][5] = {}
    del expected["conversations"]["settings"][5, 5]
    assert_same(await loaded_state(directory), expected)
    lines = (directory / "conversations.json").read_text().splitlines()
    assert lines[1:] == [
        ',["checkout",[5,5],1]',
        ',["checkout",[42,42],0]',
        ',["checkout",[100,100],"ASK"]',
        ',["checkout",[1000,1000],2]',
        "]",
    ]
