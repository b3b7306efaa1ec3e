"""A small real bot made persistent with jsonpersist.

Run it with a token from @BotFather::

    TELEGRAM_BOT_TOKEN=123:ABC python examples/bot.py [STATE_DIRECTORY]

``/count`` counts per user, ``/remember TEXT`` keeps notes (a set per user), ``/notes`` lists
them, ``/forget`` drops the user's data. Stop it with Ctrl+C and start it again: everything is
still there, in readable files under ``state/``.
"""

from __future__ import annotations

import logging
import os
import sys

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from jsonpersist import JsonPersistence


async def count(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Counts the user's /count commands."""
    context.user_data["count"] = context.user_data.get("count", 0) + 1
    await update.effective_message.reply_text(f"You have counted {context.user_data['count']}.")


async def remember(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Adds a note to the user's set of notes."""
    note = " ".join(context.args or ())
    if not note:
        await update.effective_message.reply_text("Usage: /remember TEXT")
        return
    context.user_data.setdefault("notes", set()).add(note)
    await update.effective_message.reply_text("Noted.")


async def notes(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Lists the user's notes."""
    stored = sorted(context.user_data.get("notes", set()))
    await update.effective_message.reply_text("\n".join(stored) or "No notes yet.")


async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Drops everything stored for the user."""
    context.application.drop_user_data(update.effective_user.id)
    await update.effective_message.reply_text("Forgotten.")


def main() -> None:
    """Runs the bot until Ctrl+C."""
    token = os.environ.get("TELEGRAM_BOT_TOKEN")
    if not token:
        sys.exit("Set TELEGRAM_BOT_TOKEN to your bot's token (from @BotFather).")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    directory = sys.argv[1] if len(sys.argv) > 1 else "state"
    application = (
        Application.builder()
        .token(token)
        .persistence(JsonPersistence(directory, update_interval=30))
        .build()
    )
    for name, callback in (
        ("count", count),
        ("remember", remember),
        ("notes", notes),
        ("forget", forget),
    ):
        application.add_handler(CommandHandler(name, callback))
    application.run_polling()


if __name__ == "__main__":
    main()
