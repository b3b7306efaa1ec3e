"""The database side of the PostgreSQL backend: connection, schema, owner lock, reads, writes.

It knows rows (a key, a JSON value, a position), not PTB or the codec. Every operation runs
within a time limit, and any failure closes the connection and raises
:class:`~jsonpersist.DatabaseError`: the transaction it was in is rolled back by the server.

The schema (version :data:`SCHEMA_VERSION`), created on first use::

    jsonpersist_schema (version integer PRIMARY KEY)
    jsonpersist_entries (
        bot text, category text, key text,        -- the entry: bot name, category, key JSON
        key_md5 uuid GENERATED ALWAYS AS (md5(key)::uuid) STORED,
                                                  -- PRIMARY KEY (bot, category, key_md5)
        pos bigint,                               -- callback keyboards: PTB's LRU order
        value jsonb,                              -- the entry's tagged JSON, or NULL when
        value_text text                           -- jsonb cannot hold it exactly: then here
    )

The bot name is owned with ``pg_try_advisory_lock`` on the same connection that writes: when
the connection goes, the lock goes with it, and it is taken again before anything is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

from jsonpersist._pg_errors import DatabaseError, DatabaseLockedError, redact
from jsonpersist._pg_rows import Row, Rows, jsonb_safe, parse_value

__all__ = ("SCHEMA_VERSION", "Database", "LoadedRows")

#: The version of the tables' layout, kept in ``jsonpersist_schema``.
SCHEMA_VERSION = 1
#: A category's rows as read: the position and the parsed JSON value, by key.
LoadedRows = dict[str, tuple[int | None, Any]]
T = TypeVar("T")
_SORT = orjson.OPT_SORT_KEYS
# Serializes the creation of the tables by several processes at their first start.
_SCHEMA_LOCK = int.from_bytes(
    hashlib.blake2b(b"jsonpersist schema", digest_size=8).digest(), "big", signed=True
)

# Tries of the advisory lock while its holder is not in pg_stat_activity (it is exiting).
_HOLDER_GONE_RETRIES = 20
# Rows per statement or fetch: each must end within the time limit, whatever a round's size.
_CHUNK = 5000
# Bot names are part of the primary key, whose entries a btree limits to 2704 bytes.
_MAX_NAME = 256

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS jsonpersist_schema (version integer PRIMARY KEY)",
    """CREATE TABLE IF NOT EXISTS jsonpersist_entries (
        bot text NOT NULL,
        category text NOT NULL CHECK (category IN
            ('user_data', 'chat_data', 'bot_data', 'callback_data', 'conversations')),
        key text NOT NULL,
        -- the primary key holds a digest of the key: a btree refuses entries over 2704 bytes
        key_md5 uuid GENERATED ALWAYS AS (md5(key)::uuid) STORED,
        pos bigint,
        value jsonb,
        value_text text,
        PRIMARY KEY (bot, category, key_md5),
        CHECK ((value IS NULL) <> (value_text IS NULL))
    )""",
)
# %b: arrays go in binary; psycopg escapes text arrays with a regex per element (30 ms for
# 100 rows of JSON).
_UPSERT = """
INSERT INTO jsonpersist_entries AS e (bot, category, key, pos, value, value_text)
SELECT %s, u.category, u.key, u.pos, u.value::jsonb, u.value_text
FROM unnest(%b::text[], %b::text[], %b::int8[], %b::text[], %b::text[])
    AS u(category, key, pos, value, value_text)
ON CONFLICT (bot, category, key_md5) DO UPDATE
SET pos = EXCLUDED.pos, value = EXCLUDED.value, value_text = EXCLUDED.value_text"""
_DELETE = """
DELETE FROM jsonpersist_entries AS e
USING unnest(%b::text[], %b::text[]) AS d(category, key)
WHERE e.bot = %s AND e.category = d.category AND e.key_md5 = md5(d.key)::uuid
  AND e.key = d.key"""
_SELECT = """
SELECT category, key, pos, coalesce(value::text, value_text) FROM jsonpersist_entries
WHERE bot = %s AND category = ANY(%s::text[])"""
_HOLDER = """
SELECT a.pid, a.application_name, host(a.client_addr), a.client_hostname, a.client_port
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = %s::int8::oid AND l.objid = %s::int8::oid"""


def lock_key(name: str) -> int:
    """The advisory lock key (a signed 64-bit int) of a bot name."""
    digest = hashlib.blake2b(f"jsonpersist bot {name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def canonical(text: str) -> bytes:
    """A value as read back (jsonb's layout) in the codec's compact, sorted form."""
    return orjson.dumps(orjson.loads(text), option=_SORT)


class Database:
    """One connection to a database, for one bot name.

    Args:
        dsn (:obj:`str`): A libpq connection string or ``postgresql://`` URL.
        name (:obj:`str`): The bot name.
        timeout (:obj:`float`): Seconds any operation (connecting included) may take.

    Attributes:
        url (:obj:`str`): The connection string without its password, for messages.
        name (:obj:`str`): The bot name.
    """

    __slots__ = ("_conn", "_params", "_tables", "name", "timeout", "url")

    def __init__(self, dsn: str, name: str, timeout: float) -> None:
        self.url, self.name, self.timeout = redact(dsn), name, timeout
        if not 0 < len(name.encode("utf-8", "replace")) <= _MAX_NAME or "\x00" in name:
            raise ValueError(f"a bot name has 1 to {_MAX_NAME} bytes and no NUL: {name[:80]!r}")
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as exc:
            raise DatabaseError(self.url, name, f"not a connection string: {exc}") from None
        params.setdefault("connect_timeout", max(2, round(timeout)))
        # Shown in pg_stat_activity, and so in the error another owner gets.
        who = f"jsonpersist {name} pid {os.getpid()} on {socket.gethostname()}"
        params.setdefault("application_name", who[:63])
        self._params = params
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._tables = False  # whether the tables exist (a reading tool creates none)

    @property
    def connected(self) -> bool:
        """:obj:`bool`: Whether the connection is open (as far as the client knows)."""
        return self._conn is not None and not self._conn.closed and not self._conn.broken

    async def _bounded(self, work: Awaitable[T], doing: str, *, stepwise: bool = False) -> T:
        """Runs ``work`` within the time limit; any failure closes the connection.

        ``stepwise`` work bounds each of its steps (see :meth:`_step`) instead of the whole:
        a large round takes longer than one statement may, and must still end.
        """
        try:
            return await (work if stepwise else asyncio.wait_for(work, self.timeout))
        except (DatabaseLockedError, DatabaseError):
            await self.close()
            raise
        except (psycopg.Error, OSError, asyncio.TimeoutError) as exc:
            await self.close()
            reason = (
                f"no answer within {self.timeout:g} s"
                if isinstance(exc, asyncio.TimeoutError)
                else str(exc).strip().splitlines()[0]
                if str(exc).strip()
                else type(exc).__name__
            )
            raise DatabaseError(
                self.url, self.name, f"{doing} failed: {reason}; nothing of it was saved"
            ) from exc

    async def _step(self, work: Awaitable[T]) -> T:
        """One statement or fetch of a stepwise operation, within the time limit."""
        return await asyncio.wait_for(work, self.timeout)

    async def connect(self, *, own: bool) -> None:
        """Connects and (``own``) creates the tables if missing and takes the bot name.

        Without ``own`` (a tool that only reads) nothing is created: no tables read as empty.

        Raises:
            DatabaseLockedError: ``own`` and another connection holds the bot name.
            DatabaseError: The server cannot be reached, refuses, or the schema is another's.
        """
        await self.close()
        await self._bounded(self._connect(own), "connecting")

    async def _connect(self, own: bool) -> None:
        conn = await psycopg.AsyncConnection.connect(
            make_conninfo("", **self._params), autocommit=True
        )
        self._conn = conn
        millis = int(self.timeout * 1000)
        for setting in (
            "statement_timeout",
            "lock_timeout",
            "idle_in_transaction_session_timeout",
        ):
            await conn.execute(f"SET {setting} = {millis}")
        encoding = await (await conn.execute("SHOW server_encoding")).fetchone()
        if encoding is None or encoding[0] != "UTF8":
            raise DatabaseError(
                self.url, self.name,
                f"the database's encoding is {encoding and encoding[0]}, not UTF8; create it "
                "with ENCODING 'UTF8' (jsonb strings would lose characters otherwise)",
            )  # fmt: skip
        await self._schema(conn, create=own)
        if own:
            await self._own(conn)

    async def _schema(self, conn: psycopg.AsyncConnection[Any], create: bool) -> None:
        async with conn.transaction():
            if create:
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                for statement in _SCHEMA:
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO jsonpersist_schema SELECT %s WHERE NOT EXISTS "
                    "(SELECT FROM jsonpersist_schema)",
                    (SCHEMA_VERSION,),
                )
            exists = await (
                await conn.execute("SELECT to_regclass('jsonpersist_schema') IS NOT NULL")
            ).fetchone()
            self._tables = bool(exists and exists[0])
            if not self._tables:
                return
            row = await (
                await conn.execute("SELECT max(version) FROM jsonpersist_schema")
            ).fetchone()
        if row is None or row[0] != SCHEMA_VERSION:
            raise DatabaseError(
                self.url, self.name,
                f"the tables have schema version {row and row[0]}; this jsonpersist uses "
                f"version {SCHEMA_VERSION} (upgrade jsonpersist)",
            )  # fmt: skip

    async def _own(self, conn: psycopg.AsyncConnection[Any]) -> None:
        key = lock_key(self.name)
        unsigned = key & (2**64 - 1)
        for _ in range(_HOLDER_GONE_RETRIES):
            row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))).fetchone()
            if row is not None and row[0]:
                return
            found = await (
                await conn.execute(_HOLDER, (unsigned >> 32, unsigned & 0xFFFFFFFF))
            ).fetchone()
            if found is not None:
                break
            # A holder whose connection just closed keeps the lock until its server process
            # has exited, no longer in pg_stat_activity: it is free a moment later.
            await asyncio.sleep(0.05)
        if found is None:
            holder, pid = "another connection, which has just ended (try again)", None
        else:
            pid, application, address, hostname, port = found
            client = (
                "a Unix socket on the server's host"
                if address is None and port == -1
                else f"{hostname or address}:{port}"
                if address is not None
                else "an unknown client (grant pg_read_all_stats to see it)"
            )
            holder = f"{application or 'a client'!r} from {client} (server pid {pid})"
        raise DatabaseLockedError(self.url, self.name, holder, pid)

    async def rows(self, categories: Iterable[str]) -> dict[str, LoadedRows]:
        """Reads the rows of some categories as of one moment (one query).

        Raises:
            DatabaseError: See :class:`Database`.
        """
        names = list(categories)
        return await self._bounded(self._rows(names), "reading", stepwise=True)

    async def _rows(self, names: list[str]) -> dict[str, LoadedRows]:
        conn = await self._connection()
        out: dict[str, LoadedRows] = {name: {} for name in names}
        if not self._tables:
            return out
        await self._step(conn.execute("BEGIN"))
        cursor = conn.cursor("jsonpersist_rows")  # on the server: fetched in bounded steps
        await self._step(cursor.execute(_SELECT, (self.name, names)))
        while found := await self._step(cursor.fetchmany(_CHUNK)):
            for category, key, pos, text in found:
                out[category][key] = (pos, parse_value(text))
        await self._step(cursor.close())
        await self._step(conn.execute("COMMIT"))
        return out

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        # Never connects by itself: writing must happen on the connection that owns the name.
        if self._conn is None or self._conn.closed:
            raise DatabaseError(self.url, self.name, "not connected")
        return self._conn

    async def holds_rows(self) -> bool:
        """Whether any row of this bot name exists."""
        return await self._bounded(self._holds_rows(), "reading")

    async def _holds_rows(self) -> bool:
        conn = await self._connection()
        if not self._tables:
            return False
        cursor = await conn.execute(
            "SELECT EXISTS (SELECT FROM jsonpersist_entries WHERE bot = %s)", (self.name,)
        )
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def write(
        self, changes: dict[str, dict[str, Row | None]], *, replace: bool = False
    ) -> None:
        """Writes rows (``None``: delete the row) in one transaction: all of them or none.

        Args:
            changes: By category, the rows to write or delete, by key.
            replace (:obj:`bool`, optional): Delete every other row of the bot name first.

        Raises:
            DatabaseError: Nothing was written (or, if the connection broke during COMMIT,
                perhaps everything: read the rows again to know).
        """
        await self._bounded(self._write(changes, replace), "saving", stepwise=True)

    async def _write(self, changes: dict[str, dict[str, Row | None]], replace: bool) -> None:
        upserts: list[list[Any]] = [[], [], [], [], []]  # category, key, pos, value, value_text
        deletes: list[list[str]] = [[], []]  # category, key
        for category, rows in changes.items():
            for key, row in rows.items():
                if row is None:
                    deletes[0].append(category)
                    deletes[1].append(key)
                    continue
                text = row.value.decode()
                safe = jsonb_safe(row.value)
                items = (category, key, row.pos, text if safe else None, None if safe else text)
                for column, item in zip(upserts, items, strict=True):
                    column.append(item)
        conn = await self._connection()
        # One transaction, in statements of at most _CHUNK rows, each within the time limit;
        # any failure closes the connection, and the server rolls the transaction back.
        await self._step(conn.execute("BEGIN"))
        if replace:
            await self._step(
                conn.execute("DELETE FROM jsonpersist_entries WHERE bot = %s", (self.name,))
            )
        for start in range(0, len(deletes[0]), _CHUNK):
            chunk = [column[start : start + _CHUNK] for column in deletes]
            await self._step(conn.execute(_DELETE, (*chunk, self.name)))
        for start in range(0, len(upserts[0]), _CHUNK):
            chunk = [column[start : start + _CHUNK] for column in upserts]
            await self._step(conn.execute(_UPSERT, (self.name, *chunk)))
        await self._step(conn.execute("COMMIT"))

    async def close(self) -> None:
        """Closes the connection (which releases the bot name); never raises."""
        conn, self._conn = self._conn, None
        if conn is None or conn.closed:
            return
        with contextlib.suppress(psycopg.Error, OSError, asyncio.TimeoutError):
            if not conn.broken and conn.info.transaction_status == TransactionStatus.IDLE:
                # Released now, not when the server process has exited after the close: a
                # successor that connects right after flush() finds the name free.
                await asyncio.wait_for(conn.execute("SELECT pg_advisory_unlock_all()"), 1)
        # The server rolls back and unlocks when it sees the connection gone anyway.
        with contextlib.suppress(psycopg.Error, OSError, asyncio.TimeoutError):
            await asyncio.wait_for(conn.close(), self.timeout)


def rows_of(loaded: LoadedRows) -> Rows:
    """Loaded rows in the form they are written, to tell later which ones changed."""
    return {key: Row(orjson.dumps(tree, option=_SORT), pos) for key, (pos, tree) in loaded.items()}
