"""The PostgreSQL store of the contract tests: a bot name of its own in a shared database.

Imported by the ``backend`` fixture only once the server and psycopg are known to be there.
All the contract tests share one database of the session's server; each test has its own bot
name (its rows and its lock), so that they never see each other's state.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from contract_app import Counting
from contract_backends import GARBAGE, Backend
from telegram.ext import ContextTypes

from jsonpersist import Codec, PostgresPersistence, TypeRegistry
from jsonpersist._entries import EntryCodec
from jsonpersist._pg_state import read_database

__all__ = ("CountingPostgresPersistence", "PostgresBackend")


class CountingPostgresPersistence(Counting, PostgresPersistence[Any, Any, Any]):
    """A :class:`PostgresPersistence` that records every call of PTB's methods.

    Args:
        dsn: The database.
        **kwargs: Given to :class:`PostgresPersistence` (``name`` among them).
    """

    def __init__(self, dsn: str, **kwargs: Any) -> None:
        super().__init__(dsn, **kwargs)


class PostgresBackend(Backend):
    """The rows of a bot name in a PostgreSQL database.

    Args:
        url: The database.
        name: The bot name; the other stores' names start with it.
    """

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name

    def make(self, **options: Any) -> PostgresPersistence[Any, Any, Any]:
        return PostgresPersistence(self.url, name=self.name, **options)

    def counting(self, **options: Any) -> CountingPostgresPersistence:
        return CountingPostgresPersistence(self.url, name=self.name, **options)

    def other(self, label: str) -> PostgresBackend:
        return PostgresBackend(self.url, f"{self.name}/{label}")

    async def stored(self, *handlers: str, types: TypeRegistry | None = None) -> dict[str, Any]:
        entries = EntryCodec(Codec(types=types), ContextTypes())
        state, problems, _ = await asyncio.to_thread(read_database, self.url, self.name, entries)
        assert problems == {}
        return {
            "user_data": state.user_data,
            "chat_data": state.chat_data,
            "bot_data": state.bot_data,
            "callback_data": state.callback_data,
            "conversations": {name: state.conversations.get(name, {}) for name in handlers},
        }

    async def _rows(self, what: str, where: str = "", *args: Any) -> list[tuple[Any, ...]]:
        """``what`` of this bot name's rows (``where`` narrows them), ordered; none if no table."""
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            found = await (
                await conn.execute("SELECT to_regclass('jsonpersist_entries')")
            ).fetchone()
            if found is None or found[0] is None:
                return []
            cursor = await conn.execute(
                f"SELECT {what} FROM jsonpersist_entries WHERE bot = %s {where} ORDER BY 1, 2",
                (self.name, *args),
            )
            return await cursor.fetchall()

    async def snapshot(self) -> object:
        # xmin is the transaction that wrote the row's version: an UPDATE to the same value
        # changes it too, as a rewrite of a file with the same content changes its inode.
        return await self._rows("category, key, xmin::text, pos, value::text, value_text")

    async def categories(self) -> set[str]:
        return {category for (category, _) in await self._rows("DISTINCT category, 1")}

    async def plant(self, category: str) -> None:
        creating = self.make()  # the first get_* creates the tables
        await creating.get_conversations("any")
        await creating.flush()
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute(
                "INSERT INTO jsonpersist_entries (bot, category, key, value_text) "
                "VALUES (%s, %s, 'planted', %s)",
                (self.name, category, GARBAGE),
            )

    async def raw(self, category: str) -> object:
        return await self._rows(
            "key, xmin::text, pos, value::text, value_text", "AND category = %s", category
        )
