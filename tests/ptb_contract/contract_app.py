"""What the PTB contract tests share: a persistence that counts PTB's calls, a real offline
``Application`` on it, updates as Telegram sends them, and a few conversations.

The contract tests check what PTB's own persistence tests (v22.8 ``test_basepersistence.py``,
``test_picklepersistence.py``, ``test_dictpersistence.py``) check of every persistence, against
a real ``Application`` and a real store: each test that does not look at files runs on the
files and on PostgreSQL (the ``backend`` fixture, ``contract_backends.py``).
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

from offline import BOT_TOKEN, OfflineRequest
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseHandler,
    BasePersistence,
    CallbackContext,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    ExtBot,
    MessageHandler,
    filters,
)

from jsonpersist import JsonPersistence, TypeRegistry

__all__ = (
    "CHAT",
    "USER",
    "AnyApp",
    "AnyContext",
    "Call",
    "Counting",
    "CountingPersistence",
    "Harness",
    "button",
    "message",
    "on_disk",
    "remember",
    "remembering",
    "sent_buttons",
    "snapshot",
    "steps",
)

USER = 501
CHAT = -100501
_update_ids = itertools.count(1)

AnyApp = Application[Any, Any, Any, Any, Any, Any]
AnyContext = CallbackContext[Any, Any, Any, Any]


class Call(NamedTuple):
    """One call PTB made: the method's name and its arguments (``self`` left out)."""

    method: str
    args: tuple[Any, ...]


#: PTB's persistence methods that the counting persistence records.
COUNTED = (
    "get_user_data",
    "get_chat_data",
    "get_bot_data",
    "get_callback_data",
    "get_conversations",
    "update_user_data",
    "update_chat_data",
    "update_bot_data",
    "update_callback_data",
    "update_conversation",
    "drop_user_data",
    "drop_chat_data",
    "refresh_user_data",
    "refresh_chat_data",
    "refresh_bot_data",
    "flush",
)


class Counting:
    """What a counting persistence adds to a persistence class: a record of PTB's calls.

    Every method of :data:`COUNTED` (and ``set_bot``) is recorded, then delegated. Arguments
    are recorded as bound to the method's parameters, so a call made with keywords (PTB calls
    ``update_conversation(name=..., key=..., new_state=...)``) reads the same. Mixed in before
    the persistence class; it has no ``__slots__``, so that ``calls`` lives in the instance's
    ``__dict__`` whatever the persistence class's slots.
    """

    calls: list[Call]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = []

    def set_bot(self, bot: Any) -> None:
        self.calls.append(Call("set_bot", (bot,)))
        super().set_bot(bot)  # type: ignore[misc]

    def methods(self) -> list[str]:
        """The names of the methods called, in order."""
        return [call.method for call in self.calls]

    def count(self, method: str, *first: Any) -> int:
        """How often ``method`` was called (with ``first`` as its first argument, if given)."""
        return sum(
            1
            for call in self.calls
            if call.method == method and (not first or call.args[:1] == first)
        )

    def first_args(self, method: str) -> list[Any]:
        """The first argument of each call of ``method``, in order."""
        return [call.args[0] for call in self.calls if call.method == method]

    def updated(self) -> set[str]:
        """The names of the ``update_*`` and ``drop_*`` methods called so far."""
        return {call.method for call in self.calls if call.method.startswith(("update_", "drop_"))}


def _counting(name: str) -> Callable[..., Any]:
    signature = inspect.signature(getattr(BasePersistence, name))

    async def counted(self: Counting, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        self.calls.append(Call(name, tuple(bound.arguments.values())[1:]))
        return await getattr(super(Counting, self), name)(*args, **kwargs)

    counted.__name__ = counted.__qualname__ = name
    return counted


for _name in COUNTED:
    setattr(Counting, _name, _counting(_name))


class CountingPersistence(Counting, JsonPersistence[Any, Any, Any]):
    """A :class:`JsonPersistence` that records every call of PTB's methods, see :class:`Counting`.

    Args:
        directory: The state directory.
        **kwargs: Given to :class:`JsonPersistence`.
    """

    def __init__(self, directory: Path, **kwargs: Any) -> None:
        super().__init__(directory, **kwargs)


class Harness:
    """A real ``Application`` on a persistence, with an offline bot.

    Args:
        persistence: The persistence.
        handlers: Handlers to add, each a handler or a ``(handler, group)`` pair.
        arbitrary_callback_data: Given to the ``ExtBot``.
        context_types: Given to the builder, if not :obj:`None`.

    Attributes:
        app: The application.
        request: The bot's :class:`OfflineRequest`; records each API call.
        errors: What the application's error handler received.
    """

    def __init__(
        self,
        persistence: BasePersistence[Any, Any, Any],
        handlers: Iterable[
            BaseHandler[Any, Any, Any] | tuple[BaseHandler[Any, Any, Any], int]
        ] = (),
        *,
        arbitrary_callback_data: bool = True,
        context_types: ContextTypes[Any, Any, Any, Any] | None = None,
    ) -> None:
        self.request = OfflineRequest()
        bot: ExtBot[Any] = ExtBot(
            BOT_TOKEN,
            request=self.request,
            get_updates_request=OfflineRequest(),
            arbitrary_callback_data=arbitrary_callback_data,
        )
        builder = ApplicationBuilder().bot(bot).persistence(persistence)
        if context_types is not None:
            builder = builder.context_types(context_types)
        self.app: AnyApp = builder.build()
        for handler in handlers:
            if isinstance(handler, tuple):
                self.app.add_handler(handler[0], group=handler[1])
            else:
                self.app.add_handler(handler)
        self.errors: list[BaseException] = []
        self.app.add_error_handler(self._record_error)

    async def _record_error(self, update: object, context: AnyContext) -> None:
        assert context.error is not None
        self.errors.append(context.error)

    async def say(self, text: str, *, user: int = USER, chat: int = CHAT) -> None:
        """Feeds a text message from ``user`` in ``chat`` to the application."""
        await self.app.process_update(message(self.app, text, user=user, chat=chat))

    async def press(self, data: str, *, user: int = USER) -> None:
        """Feeds a press of the button whose ``callback_data`` Telegram got as ``data``."""
        await self.app.process_update(button(self.app, data, user=user))


def message(app: AnyApp, text: str, *, user: int = USER, chat: int = CHAT) -> Update:
    """A message update as Telegram sends it; a text starting with ``/`` is a command."""
    chat_json: dict[str, Any] = (
        {"id": chat, "type": "private", "first_name": "Ann"}
        if chat == user
        else {"id": chat, "type": "group", "title": "Group"}
    )
    update_id = next(_update_ids)
    raw: dict[str, Any] = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000 + update_id,
            "chat": chat_json,
            "from": {"id": user, "is_bot": False, "first_name": "Ann"},
            "text": text,
        },
    }
    if text.startswith("/"):
        length = len(text.split(maxsplit=1)[0])
        raw["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    update = Update.de_json(raw, app.bot)
    assert update is not None
    return update


def button(app: AnyApp, data: str, *, user: int = USER) -> Update:
    """A callback query update; arbitrary callback data is resolved as the Updater does."""
    update_id = next(_update_ids)
    raw = {
        "update_id": update_id,
        "callback_query": {
            "id": f"query-{update_id}",
            "from": {"id": user, "is_bot": False, "first_name": "Ann"},
            "chat_instance": "instance",
            "data": data,
        },
    }
    update = Update.de_json(raw, app.bot)
    assert update is not None
    if app.bot.callback_data_cache is not None:  # type: ignore[attr-defined]
        app.bot.insert_callback_data(update)  # type: ignore[attr-defined]
    return update


def sent_buttons(request: OfflineRequest) -> list[str]:
    """The ``callback_data`` strings of the keyboard in the last message sent."""
    method, params = request.calls[-1]
    assert method == "sendMessage"
    rows = params["reply_markup"]["inline_keyboard"]
    return [key["callback_data"] for row in rows for key in row]


def steps(
    name: str,
    *,
    last: int = 3,
    persistent: bool = True,
    per_chat: bool = True,
    state: Callable[[int], Any] = lambda number: number,
) -> ConversationHandler[Any]:
    """A conversation: ``/name`` starts it in ``state(1)``; each message ``name`` moves it on,
    and the one sent in ``state(last)`` ends it; ``name stay`` keeps the state it is in.
    """

    async def start(update: Update, context: AnyContext) -> Any:
        return state(1)

    def advance(number: int) -> Callable[[Update, AnyContext], Any]:
        async def callback(update: Update, context: AnyContext) -> Any:
            return ConversationHandler.END if number == last else state(number + 1)

        return callback

    def stay(number: int) -> Callable[[Update, AnyContext], Any]:
        async def callback(update: Update, context: AnyContext) -> Any:
            return state(number)

        return callback

    return ConversationHandler(
        entry_points=[CommandHandler(name, start)],
        states={
            state(number): [
                MessageHandler(filters.Regex(f"^{name}$"), advance(number)),
                MessageHandler(filters.Regex(f"^{name} stay$"), stay(number)),
            ]
            for number in range(1, last + 1)
        },
        fallbacks=[],
        name=name,
        persistent=persistent,
        per_chat=per_chat,
    )


async def remember(update: Update, context: AnyContext) -> None:
    """Puts something into user, chat and bot data for every text message."""
    assert update.effective_message is not None
    text = update.effective_message.text
    context.user_data.setdefault("said", []).append(text)  # type: ignore[union-attr]
    context.chat_data["last"] = text  # type: ignore[index]
    context.bot_data["messages"] = context.bot_data.get("messages", 0) + 1


def remembering() -> tuple[BaseHandler[Any, Any, Any], int]:
    """:func:`remember` for every text message, in a group of its own (before the others)."""
    return MessageHandler(filters.TEXT, remember), -1


async def on_disk(
    directory: Path, *handlers: str, types: TypeRegistry | None = None
) -> dict[str, Any]:
    """Everything a fresh, read-only persistence (with ``types``) loads from ``directory``."""
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(
        directory, read_only=True, types=types
    )
    return {
        "user_data": await reader.get_user_data(),
        "chat_data": await reader.get_chat_data(),
        "bot_data": await reader.get_bot_data(),
        "callback_data": await reader.get_callback_data(),
        "conversations": {name: await reader.get_conversations(name) for name in handlers},
    }


def snapshot(directory: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file of ``directory``: inode, modification time (ns) and content.

    The locks are left out: the owner lock holds the owner's process id, written at each
    take-over, and filelock before 4.2.1 (the last for Python 3.10) empties a lock file when
    it takes it, which sets its modification time.
    """
    out = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.name not in {".jsonpersist.lock", ".jsonpersist.round.lock"}:
            stat = path.stat()
            out[path.name] = (stat.st_ino, stat.st_mtime_ns, path.read_bytes())
    return out
