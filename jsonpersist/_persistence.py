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
from jsonpersist._errors import JsonPersistError, StateDirectoryError
from jsonpersist._format import WHOLE
from jsonpersist._rounds import DROP, Rounds
from jsonpersist._session import Session
from jsonpersist._store import DEFAULT_MAX_FILE_SIZE, Store
from jsonpersist._views import Views
from jsonpersist._watch import Watcher

__all__ = ("JsonPersistence",)


def _view(name: str, what: str, as_json: bool = False) -> Any:
    """One of DictPersistence's data attributes, made from the persistence's entry lines."""
    if as_json:
        doc = f":obj:`str`: The {what} as JSON that ``DictPersistence`` loads (tags inside)."
        return property(lambda self: self._views.json(name), doc=doc)
    doc = f"The {what} as last handed over, decoded once per change; :obj:`None` before loading."
    return property(lambda self: self._views.value(name), doc=doc)


def _store(directory: Path, max_file_size: int) -> Store:
    """The state directory's store (the directory created if missing).

    Raises:
        UnsafeDirectoryError: Another user could replace the directory.
        StateDirectoryError: The path is not a directory (a file is in its place, or above
            it), or the directory cannot be created.
    """
    try:
        return Store(directory, max_file_size)
    except JsonPersistError:
        raise
    except OSError as exc:
        raise StateDirectoryError(
            directory,
            f"cannot be used as a state directory: {exc.strerror or exc}; pass a directory "
            "(it is created if missing), not a file or a path through one",
            exc,
        ) from exc


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
        user_data (:obj:`dict` | :obj:`None`): As in ``DictPersistence``, like ``chat_data``,
            ``bot_data``, ``callback_data`` and ``conversations``: the data as last handed
            over, decoded once per change; :obj:`None` before loading.
        user_data_json (:obj:`str`): As in ``DictPersistence``, like ``chat_data_json`` and the
            others: JSON that ``DictPersistence(user_data_json=...)`` loads (tags inside).

    Raises:
        UnsafeDirectoryError: Another user could replace the state directory.
        StateDirectoryError: :paramref:`directory` is not a directory (a file is in its place,
            or on its path) or cannot be created.
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
        context_types: ContextTypes[Any, UD, CD, BD],
        types: TypeRegistry | None = None,
        store_data: PersistenceInput | None = None,
        watch: bool = False,
        update_interval: float = 60,
        on_flush: bool = False,
        read_only: bool = False,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
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
        store = _store(Path(directory), max_file_size)
        self._session = Session(store, EntryCodec(self.codec, self.context_types), read_only)
        enabled = frozenset(
            name for name, category in CATEGORIES.items() if category.enabled(self.store_data)
        )
        self._rounds = Rounds(self._session, on_flush, enabled)
        self._views = Views(self._session)
        # The states of every persistent ConversationHandler, live: PTB saves them one by one.
        # Every handler's conversations, decoded once for all the handlers PTB asks about, with
        # the generation of the lines they were decoded from.
        self._handler_states: tuple[int, dict[str, dict[ConversationKey, object]]] | None = None
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

    # ---------------------------------------------------------------------- get (PTB API)

    async def get_user_data(self) -> dict[int, UD]:  # type: ignore[override]
        """Returns the user data from ``user_data.json`` (empty when there is none).

        The first ``get_*`` takes the directory; one read after :meth:`flush` reads the file
        again.

        Returns:
            dict[:obj:`int`, :obj:`dict`]: The restored user data.

        Raises:
            CorruptStateError: The file cannot be decoded; it is left as it is.
            StateLockedError: Another persistence owns the directory.
            StateDirectoryError: A lock file or the state file cannot be opened or read.
        """
        return cast("dict[int, UD]", await self._load("user_data", {}))

    async def get_chat_data(self) -> dict[int, CD]:  # type: ignore[override]
        """Returns the chat data from ``chat_data.json``, see :meth:`get_user_data`."""
        return cast("dict[int, CD]", await self._load("chat_data", {}))

    async def get_bot_data(self) -> BD:  # type: ignore[override]
        """Returns the bot data (or a new ``bot_data()``), see :meth:`get_user_data`."""
        return cast("BD", await self._load("bot_data", self.context_types.bot_data()))

    async def get_callback_data(self) -> CDCData | None:
        """Returns the callback data, or :obj:`None`, see :meth:`get_user_data`."""
        return cast("CDCData | None", await self._load("callback_data", None))

    async def get_conversations(self, name: str) -> ConversationDict:
        """Returns the conversations of the handler ``name``, see :meth:`get_user_data`.

        Args:
            name (:obj:`str`): The handler's name.
        """
        return dict((await self._handlers()).get(name, {}))

    async def _load(self, name: str, disabled: object) -> object:
        if not CATEGORIES[name].enabled(self.store_data):
            return disabled
        return await self._session.values(name)

    async def _handlers(self) -> dict[str, dict[ConversationKey, object]]:
        state = self._session.states["conversations"]
        cached = self._handler_states
        if cached is None or cached[0] != state.generation or not self._session.is_current(state):
            handlers = await self._session.values("conversations")
            cached = self._handler_states = (state.generation, handlers)
        return cached[1]

    def _conversations_edited(self) -> None:
        self._handler_states = None  # read again by the next get_conversations()

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
        await self._rounds.save("user_data", user_id, data)

    async def update_chat_data(self, chat_id: int, data: CD) -> None:  # type: ignore[override]
        """Saves the data of one chat, see :meth:`update_user_data`."""
        await self._rounds.save("chat_data", chat_id, data)

    async def update_bot_data(self, data: BD) -> None:  # type: ignore[override]
        """Saves the bot data, see :meth:`update_user_data`."""
        await self._rounds.save("bot_data", WHOLE, data)

    async def update_callback_data(self, data: CDCData) -> None:
        """Saves the callback data cache's contents, see :meth:`update_user_data`."""
        await self._rounds.save("callback_data", WHOLE, data)

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        """Saves the state of one conversation; :obj:`None` ends (removes) it.

        Args:
            name (:obj:`str`): The handler's name.
            key (:obj:`tuple`): The conversation's key.
            new_state (:class:`object`): The new state, or :obj:`None`.

        Errors are those of :meth:`update_user_data`.
        """
        await self._rounds.save(
            "conversations", (name, key), DROP if new_state is None else new_state
        )

    async def drop_chat_data(self, chat_id: int) -> None:
        """Removes a chat's data, see :meth:`update_user_data`."""
        await self._rounds.save("chat_data", chat_id, DROP)

    async def drop_user_data(self, user_id: int) -> None:
        """Removes a user's data, see :meth:`update_user_data`."""
        await self._rounds.save("user_data", user_id, DROP)

    # ------------------------------------------------------------------ refresh (PTB API)

    async def refresh_user_data(self, user_id: int, user_data: UD) -> None:  # type: ignore[override]
        """With ``watch``, updates ``user_data`` in place from an edit of ``user_data.json``.

        Only when someone else changed this user's entry in the file since it was last loaded
        or written; otherwise this costs one ``stat``. A malformed edit leaves ``user_data``
        as it is, and the next save reports it instead of overwriting the file.

        Args:
            user_id (:obj:`int`): The user.
            user_data (:obj:`dict`): The application's data of that user, updated in place.
        """
        if self._watcher is not None:
            await self._watcher.refresh_entry("user_data", user_id, user_data)

    async def refresh_chat_data(self, chat_id: int, chat_data: CD) -> None:  # type: ignore[override]
        """With ``watch``, updates ``chat_data`` in place, see :meth:`refresh_user_data`."""
        if self._watcher is not None:
            await self._watcher.refresh_entry("chat_data", chat_id, chat_data)

    async def refresh_bot_data(self, bot_data: BD) -> None:  # type: ignore[override]
        """With ``watch``, updates ``bot_data`` (and the callback data cache) in place.

        See :meth:`refresh_user_data`; ``callback_data.json`` is picked up here too.
        """
        if self._watcher is not None:
            await self._watcher.refresh_bot_data(bot_data)
            await self._watcher.refresh_callback_data(self.bot if self.bot else None)

    async def flush(self) -> None:
        """Writes whatever is not on disk yet and releases the directory.

        :class:`telegram.ext.Application` calls this at shutdown. Whatever is used after this
        is read from the files again first: another owner, a person or a tool may have changed
        them meanwhile.

        Raises:
            StateWriteError: A file could not be written; the previous file is intact, and the
                persistence keeps the directory and the changes for another :meth:`flush`.
            CorruptStateError: With ``watch``, a person's malformed edit keeps a category from
                being written; the file is left as it is.
        """
        await self._rounds.flush()
        self._session.close()
        self._handler_states = None

    # --------------------------------------------------------- DictPersistence attributes

    user_data = _view("user_data", "user data")
    chat_data = _view("chat_data", "chat data")
    bot_data = _view("bot_data", "bot data")
    callback_data = _view("callback_data", "callback data (:obj:`None` when there is none)")
    conversations = _view("conversations", "conversations of every handler")
    user_data_json = _view("user_data", "user data", as_json=True)
    chat_data_json = _view("chat_data", "chat data", as_json=True)
    bot_data_json = _view("bot_data", "bot data", as_json=True)
    callback_data_json = _view("callback_data", "callback data", as_json=True)
    conversations_json = _view("conversations", "conversations", as_json=True)
