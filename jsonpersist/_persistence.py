"""The :class:`telegram.ext.BasePersistence` adapter: PTB's methods, each delegating.

Loading is the session's part (``_session``), saving the rounds' (``_rounds``), hand edits the
watcher's (``_watch``, only with ``watch=True``), and DictPersistence's data attributes the
views' (``_views``). What differs between user, chat, bot and callback data and conversations
is said once, in ``_categories``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generic, cast, overload

from telegram.ext import ContextTypes, DictPersistence, PersistenceInput
from telegram.ext._utils.types import BD, CD, UD, CDCData, ConversationDict, ConversationKey

from jsonpersist._categories import CATEGORIES
from jsonpersist._codec import Codec, TypeRegistry
from jsonpersist._entries import EntryCodec
from jsonpersist._errors import UnsupportedTypeError
from jsonpersist._format import WHOLE
from jsonpersist._rounds import DROP, Rounds
from jsonpersist._session import Session
from jsonpersist._store import DEFAULT_MAX_FILE_SIZE, Store
from jsonpersist._views import Views
from jsonpersist._watch import Watcher

__all__ = ("JsonPersistence",)


class JsonPersistence(DictPersistence, Generic[UD, CD, BD]):
    """Makes a bot persistent in one readable, crash-safe JSON file per category.

    Each category (``user_data``, ``chat_data``, ``bot_data``, ``callback_data``,
    ``conversations``) lives in ``<directory>/<category>.json``, with one line per user, chat
    or conversation handler. All updates of one :meth:`telegram.ext.Application.
    update_persistence` run are saved together, off the event loop, by writing temporary files,
    fsyncing them and renaming them into place (all or nothing across files). Only the entries
    that changed are encoded again. One persistence owns a directory at a time.

    Values keep their types across restarts (tuples, sets, ``int`` keys, datetimes, Telegram
    objects with the current bot attached, registered types), see ``docs/types.md``.

    Attention:
        The interface provided by this class is intended to be accessed exclusively by
        :class:`~telegram.ext.Application`. Calling any of the methods below manually might
        interfere with the integration of persistence into :class:`~telegram.ext.Application`.

    Examples:
        .. code-block:: python

            persistence = JsonPersistence("state/")
            app = Application.builder().token(TOKEN).persistence(persistence).build()

    Args:
        directory (:obj:`str` | :class:`pathlib.Path`): Where the state files live; created
            (mode 0700) if missing.
        store_data (:class:`telegram.ext.PersistenceInput`, optional): Which kinds of data are
            saved. A disabled category is never read or written. Default: all.
        update_interval (:obj:`int` | :obj:`float`, optional): Seconds between two runs of
            :meth:`telegram.ext.Application.update_persistence`. Default: ``60``.
        context_types (:class:`telegram.ext.ContextTypes`, optional): Custom classes for user,
            chat and bot data. ``dict`` subclasses are restored as such; other classes must be
            registered in :paramref:`types`.
        on_flush (:obj:`bool`, optional): When :obj:`True`, changes are encoded as they come
            but written only by :meth:`flush` (at shutdown). Default: :obj:`False`, every
            update is on disk when its coroutine returns.
        types (:class:`jsonpersist.TypeRegistry`, optional): The application's own types.
        max_file_size (:obj:`int`, optional): State files larger than this many bytes are
            refused on load. Default: 512 MiB.
        watch (:obj:`bool`, optional): Pick up changes that someone else (a person, a script,
            ``git checkout``) makes to the files while the bot runs: before a handler sees user,
            chat or bot data, the data is updated in place from the file; a save never replaces
            a file changed meanwhile without merging it first (an entry the person changed wins
            over the bot's older copy). Costs one ``stat`` per category and handler call.
            Default: :obj:`False`.
        read_only (:obj:`bool`, optional): Read the files without taking the directory (they
            are always whole, so a running bot's state can be read); every update raises
            :exc:`~jsonpersist.JsonPersistError`. For tools and inspection. Default:
            :obj:`False`.

    Attributes:
        directory (:class:`pathlib.Path`): The resolved state directory.
        on_flush (:obj:`bool`): Whether files are written only by :meth:`flush`.
        context_types (:class:`telegram.ext.ContextTypes`): The types of user, chat and bot
            data.
        codec (:class:`jsonpersist.Codec`): The codec converting values to JSON and back.
    """

    __slots__ = (
        "_handler_states",
        "_rounds",
        "_session",
        "_views",
        "_watcher",
        "codec",
        "context_types",
        "on_flush",
        "read_only",
        "watch",
    )

    @overload
    def __init__(
        self: JsonPersistence[dict[Any, Any], dict[Any, Any], dict[Any, Any]],
        directory: str | Path,
        *,
        store_data: PersistenceInput | None = None,
        update_interval: float = 60,
        on_flush: bool = False,
        types: TypeRegistry | None = None,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        read_only: bool = False,
        watch: bool = False,
    ) -> None: ...

    @overload
    def __init__(
        self: JsonPersistence[UD, CD, BD],
        directory: str | Path,
        *,
        store_data: PersistenceInput | None = None,
        update_interval: float = 60,
        context_types: ContextTypes[Any, UD, CD, BD] | None = None,
        on_flush: bool = False,
        types: TypeRegistry | None = None,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        read_only: bool = False,
        watch: bool = False,
    ) -> None: ...

    def __init__(
        self,
        directory: str | Path,
        *,
        store_data: PersistenceInput | None = None,
        update_interval: float = 60,
        context_types: ContextTypes[Any, UD, CD, BD] | None = None,
        on_flush: bool = False,
        types: TypeRegistry | None = None,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        read_only: bool = False,
        watch: bool = False,
    ) -> None:
        super().__init__(store_data=store_data, update_interval=update_interval)
        self.codec = Codec(types=types)
        self.on_flush, self.read_only, self.watch = on_flush, read_only, watch
        self.context_types: ContextTypes[Any, UD, CD, BD] = cast(
            "ContextTypes[Any, UD, CD, BD]", context_types or ContextTypes()
        )
        store = Store(Path(directory), max_file_size)
        self._session = Session(store, EntryCodec(self.codec, self.context_types), read_only)
        self._rounds = Rounds(self._session, on_flush)
        self._views = Views(self._session)
        # The states of every persistent ConversationHandler, live: PTB saves them one by one.
        self._handler_states: dict[str, dict[ConversationKey, object]] | None = None
        self._watcher = (
            Watcher(self._session, self._rounds, self._conversations_edited) if watch else None
        )

    @property
    def directory(self) -> Path:
        """:class:`pathlib.Path`: The resolved state directory."""
        return self._session.store.directory

    def set_bot(self, bot: Any) -> None:
        """Sets the bot whose references are stored as a placeholder, see the codec docs.

        Args:
            bot (:class:`telegram.Bot`): The bot.
        """
        super().set_bot(bot)
        self.codec.bot = bot

    async def _save(self, name: str, key: Any, value: Any) -> None:
        if CATEGORIES[name].enabled(self.store_data):
            await self._rounds.save(name, key, value)

    # ---------------------------------------------------------------------- get (PTB API)

    async def get_user_data(self) -> dict[int, UD]:  # type: ignore[override]
        """Returns the user data from ``user_data.json`` (empty when there is none).

        Returns:
            dict[:obj:`int`, :obj:`dict`]: The restored user data.

        Raises:
            CorruptStateError: The file cannot be decoded; it is left as it is.
            StateLockedError: Another persistence owns the directory.
        """
        if not self.store_data.user_data:
            return {}
        return cast("dict[int, UD]", await self._session.values("user_data"))

    async def get_chat_data(self) -> dict[int, CD]:  # type: ignore[override]
        """Returns the chat data from ``chat_data.json`` (empty when there is none).

        Returns:
            dict[:obj:`int`, :obj:`dict`]: The restored chat data.

        Raises:
            CorruptStateError: The file cannot be decoded; it is left as it is.
            StateLockedError: Another persistence owns the directory.
        """
        if not self.store_data.chat_data:
            return {}
        return cast("dict[int, CD]", await self._session.values("chat_data"))

    async def get_bot_data(self) -> BD:  # type: ignore[override]
        """Returns the bot data from ``bot_data.json``, or a new ``context_types.bot_data()``.

        Returns:
            :obj:`dict` | :attr:`telegram.ext.ContextTypes.bot_data`: The restored bot data.

        Raises:
            CorruptStateError: The file cannot be decoded; it is left as it is.
            StateLockedError: Another persistence owns the directory.
        """
        if not self.store_data.bot_data:
            return self.context_types.bot_data()
        return cast("BD", await self._session.values("bot_data"))

    async def get_callback_data(self) -> CDCData | None:
        """Returns the callback data from ``callback_data.json``, or :obj:`None`.

        Returns:
            tuple[list[tuple[:obj:`str`, :obj:`float`, dict[:obj:`str`, :class:`object`]]], \
            dict[:obj:`str`, :obj:`str`]] | :obj:`None`: The restored metadata.

        Raises:
            CorruptStateError: The file cannot be decoded; it is left as it is.
            StateLockedError: Another persistence owns the directory.
        """
        if not self.store_data.callback_data:
            return None
        return cast("CDCData | None", await self._session.values("callback_data"))

    async def get_conversations(self, name: str) -> ConversationDict:
        """Returns the conversations of the handler ``name`` from ``conversations.json``.

        Args:
            name (:obj:`str`): The handler's name.

        Returns:
            :obj:`dict`: The restored conversations of that handler.

        Raises:
            CorruptStateError: The file cannot be decoded; it is left as it is.
            StateLockedError: Another persistence owns the directory.
        """
        return dict((await self._handlers()).get(name, {}))

    async def _handlers(self) -> dict[str, dict[ConversationKey, object]]:
        if self._handler_states is None:
            self._handler_states = await self._session.values("conversations")
        return self._handler_states

    def _conversations_edited(self, name: str, states: Any) -> None:
        if self._handler_states is not None:
            if states is DROP:
                self._handler_states.pop(name, None)
            else:
                self._handler_states[name] = states

    # ------------------------------------------------------------------- update (PTB API)

    async def update_user_data(self, user_id: int, data: UD) -> None:  # type: ignore[override]
        """Saves the data of one user; on disk when this returns (unless :attr:`on_flush`).

        Args:
            user_id (:obj:`int`): The user.
            data (:obj:`dict`): :attr:`telegram.ext.Application.user_data` ``[user_id]``.

        Raises:
            UnsupportedTypeError: The data holds a value that cannot be stored; the user's last
                good version stays on disk.
            StateWriteError: The file could not be written; the previous file is intact.
            CorruptStateError: ``user_data.json`` could not be loaded; it is never overwritten.
        """
        await self._save("user_data", user_id, data)

    async def update_chat_data(self, chat_id: int, data: CD) -> None:  # type: ignore[override]
        """Saves the data of one chat, see :meth:`update_user_data`.

        Args:
            chat_id (:obj:`int`): The chat.
            data (:obj:`dict`): :attr:`telegram.ext.Application.chat_data` ``[chat_id]``.
        """
        await self._save("chat_data", chat_id, data)

    async def update_bot_data(self, data: BD) -> None:  # type: ignore[override]
        """Saves the bot data, see :meth:`update_user_data`.

        Args:
            data (:obj:`dict` | :attr:`telegram.ext.ContextTypes.bot_data`): The bot data.
        """
        await self._save("bot_data", WHOLE, data)

    async def update_callback_data(self, data: CDCData) -> None:
        """Saves the callback data, see :meth:`update_user_data`.

        Args:
            data (:obj:`tuple`): The data of the callback data cache, as
                ``(list[(keyboard_id, time, {button_id: object})], {query_id: keyboard_id})``.
        """
        await self._save("callback_data", WHOLE, data)

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        """Saves the state of one conversation; :obj:`None` ends (removes) it.

        Args:
            name (:obj:`str`): The handler's name.
            key (:obj:`tuple`): The conversation's key.
            new_state (:class:`object`): The new state, or :obj:`None`.
        """
        states = (await self._handlers()).setdefault(name, {})
        previous = states.get(key)
        _set_or_pop(states, key, new_state)
        try:
            await self._save("conversations", name, states)  # copied when the round runs
        except UnsupportedTypeError:
            _set_or_pop(states, key, previous)  # keep what was last saved, for later updates
            raise

    async def drop_chat_data(self, chat_id: int) -> None:
        """Removes a chat's data, see :meth:`update_user_data`.

        Args:
            chat_id (:obj:`int`): The chat.
        """
        await self._save("chat_data", chat_id, DROP)

    async def drop_user_data(self, user_id: int) -> None:
        """Removes a user's data, see :meth:`update_user_data`.

        Args:
            user_id (:obj:`int`): The user.
        """
        await self._save("user_data", user_id, DROP)

    # ------------------------------------------------------------------ refresh (PTB API)

    async def refresh_user_data(self, user_id: int, user_data: UD) -> None:  # type: ignore[override]
        """With ``watch``, updates ``user_data`` in place from an edit of ``user_data.json``.

        Only when someone else changed this user's entry in the file since it was last loaded
        or written; otherwise this costs one ``stat`` and does nothing.

        Args:
            user_id (:obj:`int`): The user.
            user_data (:obj:`dict`): The application's data of that user, updated in place.

        A malformed edit leaves ``user_data`` as it is; the bot goes on with what it has in
        memory, and the next save reports a :exc:`~jsonpersist.CorruptStateError` naming the
        file instead of overwriting it, until the file is fixed.
        """
        if self._watcher is not None:
            await self._watcher.refresh_entry("user_data", user_id, user_data)

    async def refresh_chat_data(self, chat_id: int, chat_data: CD) -> None:  # type: ignore[override]
        """With ``watch``, updates ``chat_data`` in place, see :meth:`refresh_user_data`.

        Args:
            chat_id (:obj:`int`): The chat.
            chat_data (:obj:`dict`): The application's data of that chat, updated in place.
        """
        if self._watcher is not None:
            await self._watcher.refresh_entry("chat_data", chat_id, chat_data)

    async def refresh_bot_data(self, bot_data: BD) -> None:  # type: ignore[override]
        """With ``watch``, updates ``bot_data`` in place, see :meth:`refresh_user_data`.

        The bot's callback data cache is refreshed here too, from an edit of
        ``callback_data.json``.

        Args:
            bot_data (:obj:`dict`): The application's bot data, updated in place.
        """
        if self._watcher is not None:
            await self._watcher.refresh_bot_data(bot_data)
            await self._watcher.refresh_callback_data(self.bot if self.bot else None)

    async def flush(self) -> None:
        """Writes whatever is not on disk yet and releases the directory.

        :class:`telegram.ext.Application` calls this at shutdown. Whatever is used after
        this is read from the files again first: another owner, a person or a tool may have
        changed them meanwhile.

        Raises:
            StateWriteError: A file could not be written; the previous file is intact, and
                the persistence keeps the directory and its changes (a later :meth:`flush`
                tries again; the process ending releases the directory).
            CorruptStateError: With ``watch``, a person's malformed edit keeps a category
                from being written; the file is left as it is.
        """
        await self._rounds.flush()
        self._session.close()
        self._handler_states = None

    # --------------------------------------------------------- DictPersistence attributes

    @property
    def user_data(self) -> dict[int, dict[Any, Any]] | None:
        """:obj:`dict`: The user data as last handed over; :obj:`None` before loading."""
        return cast("dict[int, dict[Any, Any]] | None", self._views.value("user_data"))

    @property
    def chat_data(self) -> dict[int, dict[Any, Any]] | None:
        """:obj:`dict`: The chat data as last handed over; :obj:`None` before loading."""
        return cast("dict[int, dict[Any, Any]] | None", self._views.value("chat_data"))

    @property
    def bot_data(self) -> dict[Any, Any] | None:
        """:obj:`dict`: The bot data as last handed over; :obj:`None` before loading."""
        return cast("dict[Any, Any] | None", self._views.value("bot_data"))

    @property
    def callback_data(self) -> CDCData | None:
        """The callback data as last handed over; :obj:`None` when there is none."""
        return cast("CDCData | None", self._views.value("callback_data"))

    @property
    def conversations(self) -> dict[str, ConversationDict] | None:
        """:obj:`dict`: The conversations as last handed over; :obj:`None` before loading."""
        return cast("dict[str, ConversationDict] | None", self._views.value("conversations"))

    @property
    def user_data_json(self) -> str:
        """:obj:`str`: :attr:`user_data` as JSON that ``DictPersistence`` loads."""
        return self._views.json("user_data")

    @property
    def chat_data_json(self) -> str:
        """:obj:`str`: :attr:`chat_data` as JSON that ``DictPersistence`` loads."""
        return self._views.json("chat_data")

    @property
    def bot_data_json(self) -> str:
        """:obj:`str`: :attr:`bot_data` as JSON that ``DictPersistence`` loads."""
        return self._views.json("bot_data")

    @property
    def callback_data_json(self) -> str:
        """:obj:`str`: :attr:`callback_data` as JSON that ``DictPersistence`` loads."""
        return self._views.json("callback_data")

    @property
    def conversations_json(self) -> str:
        """:obj:`str`: :attr:`conversations` as JSON that ``DictPersistence`` loads."""
        return self._views.json("conversations")


def _set_or_pop(states: dict[Any, Any], key: Any, value: object | None) -> None:
    if value is None:
        states.pop(key, None)
    else:
        states[key] = value
