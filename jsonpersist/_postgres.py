""":class:`PostgresPersistence`: the same entries as the state files, as rows in PostgreSQL.

Rows are made and read by ``_pg_rows`` (with the codec and the category descriptions the files
use), written and read by ``_pg_store``. This module is the PTB adapter and its save rounds:
every ``update_*`` of one ``asyncio.gather`` is staged, and one transaction then writes the
rows that changed (compared with what was last written, row by row).
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, cast, overload

import orjson
import psycopg
from telegram.ext import BasePersistence, ContextTypes, PersistenceInput
from telegram.ext._utils.types import BD, CD, UD, CDCData, ConversationDict, ConversationKey

from jsonpersist._categories import CATEGORIES
from jsonpersist._codec import Codec, TypeRegistry
from jsonpersist._errors import UnsupportedTypeError
from jsonpersist._pg_errors import DatabaseError
from jsonpersist._pg_rows import Row, RowCodec, Rows
from jsonpersist._pg_store import Database, LoadedRows, rows_of

__all__ = ("PostgresPersistence",)

#: Staged in place of a value: the entry is to be removed.
_DROP: Any = object()
_ALL = object()  # the key of an error that concerns every entry of a category


class _Table:
    """One category's rows: what the bot holds, what the database holds, which differ."""

    __slots__ = ("dirty", "rows", "written")

    def __init__(self, written: Rows) -> None:
        self.written = written
        self.rows = dict(written)
        self.dirty: set[str] = set()

    def set(self, key: str, row: Row | None) -> None:
        if row is None:
            self.rows.pop(key, None)
        else:
            self.rows[key] = row
        if self.written.get(key) == row:
            self.dirty.discard(key)
        else:
            self.dirty.add(key)

    def replace(self, rows: Rows) -> None:
        """Sets a value category's rows: the keys it no longer has are deleted."""
        for key in self.rows.keys() - rows.keys():
            self.set(key, None)
        for key, row in rows.items():
            self.set(key, row)

    def changes(self) -> dict[str, Row | None]:
        return {key: self.rows.get(key) for key in self.dirty}

    def committed(self, changes: dict[str, Row | None]) -> None:
        for key, row in changes.items():
            if row is None:
                self.written.pop(key, None)
            else:
                self.written[key] = row
            if self.rows.get(key) == row:
                self.dirty.discard(key)

    def resync(self, written: Rows) -> None:
        """After a lost connection: what the database holds now decides what is written."""
        self.written = written
        self.dirty = {
            k for k in self.rows.keys() | written.keys() if self.rows.get(k) != written.get(k)
        }


class _Round:
    """The changes staged while one gather of updates runs, and their outcome."""

    __slots__ = ("errors", "staged", "task", "waiters")

    def __init__(self) -> None:
        self.staged: dict[str, dict[Any, Any]] = {}
        self.errors: dict[tuple[str, Any], BaseException] = {}
        self.task: asyncio.Task[None] | None = None
        self.waiters: list[asyncio.Future[None]] = []

    def finish(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)

    def error_for(self, name: str, key: Any) -> BaseException | None:
        return self.errors.get((name, key)) or self.errors.get((name, _ALL))


class PostgresPersistence(BasePersistence[UD, CD, BD], Generic[UD, CD, BD]):
    """Makes a bot persistent in a PostgreSQL database: one row per user, chat, conversation.

    The rows hold the same tagged JSON as :class:`~jsonpersist.JsonPersistence`'s files (as
    ``jsonb``, so they can be queried), with the same types coming back. All updates of one
    :meth:`telegram.ext.Application.update_persistence` run are saved in one transaction that
    writes only the rows that changed. One persistence owns a bot name at a time (a PostgreSQL
    advisory lock, held by its connection). See ``docs/postgres.md``.

    Needs the ``postgres`` extra (``pip install jsonpersist[postgres]``, psycopg 3).

    Examples:
        .. code-block:: python

            persistence = PostgresPersistence("postgresql://bot@db.example/bot")
            app = Application.builder().token(TOKEN).persistence(persistence).build()

    Args:
        dsn (:obj:`str`): A ``postgresql://`` URL or libpq connection string. Parameters it
            lacks are set: ``connect_timeout`` from :paramref:`timeout`, ``application_name``
            to ``jsonpersist NAME pid PID on HOST`` (what another owner is told).
        name (:obj:`str`, optional): The bot name: several bots can share a database, each
            with its own name. Default: ``"default"``.
        store_data (:class:`telegram.ext.PersistenceInput`, optional): Which kinds of data are
            saved. A disabled category is never read or written. Default: all.
        update_interval (:obj:`int` | :obj:`float`, optional): Seconds between two runs of
            :meth:`telegram.ext.Application.update_persistence`. Default: ``60``.
        context_types (:class:`telegram.ext.ContextTypes`, optional): Custom classes for user,
            chat and bot data, as for :class:`~jsonpersist.JsonPersistence`.
        on_flush (:obj:`bool`, optional): When :obj:`True`, changes are encoded as they come
            but written only by :meth:`flush`. Default: :obj:`False`.
        types (:class:`jsonpersist.TypeRegistry`, optional): The application's own types.
        timeout (:obj:`float`, optional): Seconds that connecting and each statement may take
            before the operation fails with :exc:`~jsonpersist.DatabaseError`. Default: ``10``.

    Raises:
        ValueError: ``name`` is empty, longer than 256 bytes or holds U+0000.
        DatabaseError: ``dsn`` is not a connection string.

    Attributes:
        name (:obj:`str`): The bot name.
        url (:obj:`str`): The connection string without its password.
        on_flush (:obj:`bool`): Whether rows are written only by :meth:`flush`.
        context_types (:class:`telegram.ext.ContextTypes`): The types of user, chat and bot
            data.
        codec (:class:`jsonpersist.Codec`): The codec converting values to JSON and back.
    """

    __slots__ = (
        "_db",
        "_enabled",
        "_handlers",
        "_load_lock",
        "_next",
        "_rows",
        "_tables",
        "_write_lock",
        "codec",
        "context_types",
        "on_flush",
    )

    @overload
    def __init__(
        self: PostgresPersistence[dict[Any, Any], dict[Any, Any], dict[Any, Any]],
        dsn: str,
        *,
        name: str = "default",
        store_data: PersistenceInput | None = None,
        update_interval: float = 60,
        on_flush: bool = False,
        types: TypeRegistry | None = None,
        timeout: float = 10,
    ) -> None: ...

    @overload
    def __init__(
        self: PostgresPersistence[UD, CD, BD],
        dsn: str,
        *,
        context_types: ContextTypes[Any, UD, CD, BD],
        name: str = "default",
        store_data: PersistenceInput | None = None,
        update_interval: float = 60,
        on_flush: bool = False,
        types: TypeRegistry | None = None,
        timeout: float = 10,
    ) -> None: ...

    def __init__(
        self,
        dsn: str,
        *,
        name: str = "default",
        store_data: PersistenceInput | None = None,
        update_interval: float = 60,
        context_types: ContextTypes[Any, UD, CD, BD] | None = None,
        on_flush: bool = False,
        types: TypeRegistry | None = None,
        timeout: float = 10,
    ) -> None:
        super().__init__(store_data=store_data, update_interval=update_interval)
        self.codec = Codec(types=types)
        self.on_flush = on_flush
        self.context_types: ContextTypes[Any, UD, CD, BD] = cast(
            "ContextTypes[Any, UD, CD, BD]", context_types or ContextTypes()
        )
        self._db = Database(dsn, name, timeout)
        self._rows = RowCodec(self.codec, self.context_types, f"{self._db.url} bot {name!r}")
        self._enabled = frozenset(n for n, c in CATEGORIES.items() if c.enabled(self.store_data))
        self._tables: dict[str, _Table] = {}
        self._handlers: dict[str, dict[ConversationKey, object]] | None = None
        self._next: _Round | None = None
        self._load_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()

    @property
    def name(self) -> str:
        """:obj:`str`: The bot name."""
        return self._db.name

    @property
    def url(self) -> str:
        """:obj:`str`: The connection string without its password."""
        return self._db.url

    def set_bot(self, bot: Any) -> None:
        """Sets the bot whose references are stored as a placeholder, see the codec docs.

        Args:
            bot (:class:`telegram.Bot`): The bot.
        """
        super().set_bot(bot)
        self.codec.bot = bot

    # ---------------------------------------------------------------------- get (PTB API)

    async def get_user_data(self) -> dict[int, UD]:
        """Returns the user data (empty when there is none).

        The first ``get_*`` connects and takes the bot name.

        Returns:
            dict[:obj:`int`, :obj:`dict`]: The restored user data.

        Raises:
            CorruptStateError: A row does not decode; it is left as it is.
            StateLockedError: Another persistence owns the bot name
                (a :exc:`~jsonpersist.DatabaseLockedError`, naming the holder).
            DatabaseError: The database cannot be reached or did not answer in time.
        """
        return cast("dict[int, UD]", await self._load("user_data", {}))

    async def get_chat_data(self) -> dict[int, CD]:
        """Returns the chat data, see :meth:`get_user_data`."""
        return cast("dict[int, CD]", await self._load("chat_data", {}))

    async def get_bot_data(self) -> BD:
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
        if self._handlers is None:
            self._handlers = await self._load("conversations", {})
        return dict(self._handlers.get(name, {}))

    async def _load(self, name: str, disabled: Any) -> Any:
        if name not in self._enabled:
            return disabled
        loaded = await self._table(name)
        if loaded is not None:
            return await asyncio.to_thread(self._decode, name, loaded, False)
        # Loaded before: decode what the bot last handed over (not while a round encodes).
        async with self._write_lock:
            rows = {key: (row.pos, row.value) for key, row in self._tables[name].rows.items()}
        return await asyncio.to_thread(self._decode, name, rows, True)

    def _decode(self, name: str, loaded: LoadedRows, parse: bool) -> Any:
        if parse:
            loaded = {key: (pos, orjson.loads(value)) for key, (pos, value) in loaded.items()}
        return self._rows.decode(name, loaded)

    async def _table(self, name: str) -> LoadedRows | None:
        """Loads a category's rows once (connecting first); :obj:`None` if loaded before."""
        if name in self._tables:
            return None
        async with self._load_lock:
            if name in self._tables:
                return None
            await self._open()
            loaded = (await self._db.rows([name]))[name]
            self._tables[name] = _Table(rows_of(loaded))
            return loaded

    async def _open(self) -> None:
        """Connects and takes the bot name, if the connection is not open (any more).

        After a lost connection, what the database holds is read again: a round whose COMMIT
        was cut off may be in, or another owner may have written meanwhile.
        """
        if self._db.connected:
            return
        await self._db.connect(own=True)
        if self._tables:
            fresh = await self._db.rows(list(self._tables))
            for name, table in self._tables.items():
                table.resync(rows_of(fresh[name]))

    # ------------------------------------------------------------------- update (PTB API)

    async def update_user_data(self, user_id: int, data: UD) -> None:
        """Saves the data of one user; in the database when this returns (unless on_flush).

        Args:
            user_id (:obj:`int`): The user.
            data (:obj:`dict`): :attr:`telegram.ext.Application.user_data` ``[user_id]``.

        Raises:
            UnsupportedTypeError: The data holds a value that cannot be stored; the user's last
                good version stays in the database.
            DatabaseError: The round's transaction failed; the previous round is intact and
                the changes are written by the next round or :meth:`flush`.
            StateLockedError: The connection was lost and another persistence took the name.
        """
        await self._save("user_data", user_id, data)

    async def update_chat_data(self, chat_id: int, data: CD) -> None:
        """Saves the data of one chat, see :meth:`update_user_data`."""
        await self._save("chat_data", chat_id, data)

    async def update_bot_data(self, data: BD) -> None:
        """Saves the bot data (the top-level keys that changed), see :meth:`update_user_data`."""
        await self._save("bot_data", None, data)

    async def update_callback_data(self, data: CDCData) -> None:
        """Saves the callback data cache's contents, see :meth:`update_user_data`."""
        await self._save("callback_data", None, data)

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
        await self._save("conversations", (name, key), _DROP if new_state is None else new_state)
        if self._handlers is not None:  # what get_conversations() gives from now on
            states = self._handlers.setdefault(name, {})
            if new_state is None:
                states.pop(key, None)
            else:
                states[key] = new_state

    async def drop_chat_data(self, chat_id: int) -> None:
        """Removes a chat's data, see :meth:`update_user_data`."""
        await self._save("chat_data", chat_id, _DROP)

    async def drop_user_data(self, user_id: int) -> None:
        """Removes a user's data, see :meth:`update_user_data`."""
        await self._save("user_data", user_id, _DROP)

    async def _save(self, name: str, key: Any, value: Any) -> None:
        """Stages one change and returns when its round saved it (or failed)."""
        if name not in self._enabled:
            return
        await self._table(name)
        round_ = self._next
        loop = asyncio.get_running_loop()
        if round_ is None:
            round_ = self._next = _Round()
            round_.task = loop.create_task(self._run(round_))
        round_.staged.setdefault(name, {})[key] = value
        waiter: asyncio.Future[None] = loop.create_future()
        round_.waiters.append(waiter)
        await waiter
        error = round_.error_for(name, key)
        if error is not None:
            raise error

    async def _run(self, round_: _Round) -> None:
        # Every coroutine of the gather stages its change before this task runs; waiting for
        # the loads lets in the callers that had to load their category first.
        await asyncio.sleep(0)
        async with self._load_lock:
            pass
        await asyncio.sleep(0)
        self._next = None
        try:
            async with self._write_lock:
                await asyncio.to_thread(self._encode, round_)
                if not self.on_flush:
                    await self._write()
        except Exception as exc:
            round_.errors.update({(name, _ALL): exc for name in round_.staged})
        finally:
            round_.finish()

    def _encode(self, round_: _Round) -> None:
        """Encodes the staged values into rows; a value that cannot be stored fails alone."""
        for name, entries in round_.staged.items():
            table = self._tables[name]
            for key, value in entries.items():
                try:
                    if name in ("bot_data", "callback_data"):
                        table.replace(self._rows.value_rows(name, value, table.rows))
                    elif value is _DROP:
                        table.set(self._rows.entry_key(name, key), None)
                    else:
                        table.set(*self._rows.entry_row(name, key, value))
                except UnsupportedTypeError as exc:
                    round_.errors[(name, key)] = exc

    async def _write(self) -> None:
        """Writes every changed row in one transaction; once more after a lost connection."""
        for attempt in (1, 2):
            await self._open()
            changes = {n: t.changes() for n, t in self._tables.items() if t.dirty}
            if not changes:
                return
            try:
                await self._db.write(changes)
            except DatabaseError as exc:
                # A connection that died while idle (a server restart) fails at the first
                # statement: nothing was sent, so connecting again and retrying is safe.
                if attempt == 1 and _connection_lost(exc):
                    continue
                raise
            for name, rows in changes.items():
                self._tables[name].committed(rows)
            return

    # ------------------------------------------------------------------ refresh (PTB API)

    async def refresh_user_data(self, user_id: int, user_data: UD) -> None:
        """Does nothing: while this persistence owns the bot name, nobody else writes it."""

    async def refresh_chat_data(self, chat_id: int, chat_data: CD) -> None:
        """Does nothing, see :meth:`refresh_user_data`."""

    async def refresh_bot_data(self, bot_data: BD) -> None:
        """Does nothing, see :meth:`refresh_user_data`."""

    async def flush(self) -> None:
        """Writes whatever is not in the database yet and releases the bot name.

        :class:`telegram.ext.Application` calls this at shutdown. Whatever is used after this
        is read from the database again first.

        Raises:
            DatabaseError: The rows could not be written; the persistence keeps the changes
                (and tries to keep the name) for another :meth:`flush`.
        """
        if self._next is not None and self._next.task is not None:
            await asyncio.wait((self._next.task,))
        async with self._write_lock:
            if any(table.dirty for table in self._tables.values()):
                await self._write()
            await self._db.close()
            self._tables.clear()
            self._handlers = None


def _connection_lost(exc: DatabaseError) -> bool:
    """Whether saving failed because the connection was gone (not a timeout, not SQL)."""
    cause = exc.__cause__
    return isinstance(cause, psycopg.OperationalError) and not isinstance(
        cause, psycopg.errors.QueryCanceled
    )
