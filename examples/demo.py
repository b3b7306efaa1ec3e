"""Offline demo: a real PTB Application made persistent by jsonpersist, no token, no network.

A scripted chat runs through a real :class:`telegram.ext.Application` whose bot talks to a local
stand-in for the Bot API. The state files are printed, the application is stopped, a new one is
built on the same directory, and the chat goes on where it left off.

Run it with ``python examples/demo.py [DIRECTORY]`` (default: a fresh temporary directory).
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import itertools
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, RequestData

from jsonpersist import JsonPersistence

BOT = {"id": 1000, "is_bot": True, "first_name": "Demo", "username": "jsonpersist_demo_bot"}
ALICE = {"id": 42, "is_bot": False, "first_name": "Alice"}
ASK_NAME, ASK_COLOUR = range(2)
# Telegram keeps the keyboards the bot sent (with the callback data ids PTB put in them);
# the stand-in below remembers them here so that Alice can press a button after the restart.
SENT_KEYBOARDS: list[dict[str, Any]] = []


class LocalBotAPI(BaseRequest):
    """Answers the Bot API calls the demo makes, locally, and prints the bot's messages."""

    def __init__(self) -> None:
        self._message_ids = itertools.count(1000)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""

    @property
    def read_timeout(self) -> float:
        """Never waits: nothing goes over a network."""
        return 1.0

    async def do_request(  # noqa: PLR0917 - the signature BaseRequest defines
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        """Answers one Bot API call."""
        endpoint = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        result: Any = True
        if endpoint == "getMe":
            result = BOT
        elif endpoint == "sendMessage":
            print(f"  bot -> chat {params['chat_id']}: {params['text']}")
            result = {
                "message_id": next(self._message_ids),
                "date": int(dtm.datetime.now(dtm.timezone.utc).timestamp()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": BOT,
                "text": params["text"],
            }
            if "reply_markup" in params:
                result["reply_markup"] = params["reply_markup"]
                SENT_KEYBOARDS.append(params["reply_markup"])
        return 200, json.dumps({"ok": True, "result": result}).encode()


# ------------------------------------------------------------------------------- handlers


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Starts the conversation."""
    await update.effective_message.reply_text("Hi! What's your name?")
    return ASK_NAME


async def got_name(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Stores the name and offers colours as buttons carrying Python objects."""
    context.user_data["name"] = update.effective_message.text
    context.user_data["joined"] = dtm.datetime.now(dtm.timezone.utc).replace(microsecond=0)
    buttons = [
        InlineKeyboardButton(colour, callback_data=("colour", colour, {1: "first choice"}))
        for colour in ("red", "green")
    ]
    await update.effective_message.reply_text(
        "Pick a colour", reply_markup=InlineKeyboardMarkup([buttons])
    )
    return ASK_COLOUR


async def got_colour(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Receives the original tuple from the button, even after a restart."""
    _, colour, extra = update.callback_query.data
    context.user_data["colour"] = colour
    context.user_data["note"] = extra
    context.bot_data.setdefault("colours_picked", set()).add(colour)
    await update.callback_query.answer()
    await update.effective_message.reply_text(f"{colour} it is, {context.user_data['name']}!")
    return ConversationHandler.END


async def count(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Counts every message per chat and keeps the last one (a telegram.Message)."""
    context.chat_data["messages"] = context.chat_data.get("messages", 0) + 1
    context.chat_data["last_message"] = update.effective_message


def build(directory: Path) -> Application:
    """Builds the demo application on ``directory``."""
    application = (
        Application.builder()
        .token("1000:offline-demo")
        .request(LocalBotAPI())
        .get_updates_request(LocalBotAPI())
        .persistence(JsonPersistence(directory))
        .arbitrary_callback_data(True)
        .build()
    )
    application.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("start", start)],
            states={
                ASK_NAME: [MessageHandler(filters.TEXT & ~filters.COMMAND, got_name)],
                ASK_COLOUR: [CallbackQueryHandler(got_colour)],
            },
            fallbacks=[],
            name="profile",
            persistent=True,
        )
    )
    application.add_handler(MessageHandler(filters.ALL, count), group=1)
    return application


# ------------------------------------------------------------------------------- the chat

_update_ids = itertools.count(1)


def text_update(application: Application, text: str) -> Update:
    """An incoming message from Alice, as Telegram would send it."""
    message: dict[str, Any] = {
        "message_id": next(_update_ids),
        "date": int(dtm.datetime.now(dtm.timezone.utc).timestamp()),
        "chat": {"id": ALICE["id"], "type": "private"},
        "from": ALICE,
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    print(f"Alice: {text}")
    return Update.de_json({"update_id": next(_update_ids), "message": message}, application.bot)


def button_update(application: Application, choice: int) -> Update:
    """Alice presses a button of the last keyboard the bot sent."""
    button = SENT_KEYBOARDS[-1]["inline_keyboard"][0][choice]
    print(f"Alice presses [{button['text']}]")
    query = {
        "id": str(next(_update_ids)),
        "from": ALICE,
        "chat_instance": "demo",
        "data": button["callback_data"],
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": ALICE["id"], "type": "private"},
            "from": BOT,
            "text": "Pick a colour",
        },
    }
    update = Update.de_json(
        {"update_id": next(_update_ids), "callback_query": query}, application.bot
    )
    # What PTB's Updater does with every update it fetches: swap the id for the stored object.
    application.bot.insert_callback_data(update)
    return update


async def first_run(directory: Path) -> None:
    """Alice starts, gives her name and gets a keyboard; then the bot stops."""
    application = build(directory)
    async with application:
        await application.process_update(text_update(application, "/start"))
        await application.process_update(text_update(application, "Alice"))
    # Leaving the block stops the application: a final save and a flush.


async def second_run(directory: Path) -> bool:
    """A new application on the same directory: the conversation goes on."""
    application = build(directory)
    async with application:
        print(f"user_data restored: {application.user_data[ALICE['id']]}")
        last = application.chat_data[ALICE["id"]]["last_message"]
        print(f"last message restored: {last.text!r}, answering it with the new bot:")
        await last.reply_text("I remember you.")
        await application.process_update(button_update(application, 1))
        data = application.user_data[ALICE["id"]]
        print(f"user_data now: {data}")
        print(f"bot_data now: {application.bot_data}")
        return bool(data.get("colour") == "green" and data.get("note") == {1: "first choice"})


def show_files(directory: Path) -> None:
    """Prints the state files, as they are on disk."""
    for path in sorted(directory.glob("*.json")):
        print(f"--- {path.name}")
        print(path.read_text("utf-8"), end="")


def main() -> int:
    """Runs the demo; exits non-zero if the state did not survive the restart."""
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "state"
    print(f"== First run (state in {directory})")
    asyncio.run(first_run(directory))
    print("\n== The state files after the first run")
    show_files(directory)
    print("\n== Second run: a new Application on the same directory")
    survived = asyncio.run(second_run(directory))
    print("\n== The state survived the restart." if survived else "\n== STATE WAS LOST")
    return 0 if survived else 1


if __name__ == "__main__":
    raise SystemExit(main())
