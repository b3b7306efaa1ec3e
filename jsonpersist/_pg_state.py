"""A bot's whole state in a database, for the tools: read it, or replace it in one transaction.

The counterpart of ``_directory``'s :func:`read_state` and :func:`write_state` for a
``postgresql://`` URL, working on the same decoded :class:`State`. Reading takes no lock (one
statement sees one moment, so a running bot's state is read as of one round); writing takes
the bot name like a bot would, refusing a name that a running bot owns.
"""

from __future__ import annotations

import asyncio
from typing import Any

from jsonpersist._categories import CATEGORIES
from jsonpersist._directory import State
from jsonpersist._entries import EntryCodec
from jsonpersist._errors import CorruptStateError, UnsupportedTypeError
from jsonpersist._pg_rows import Row, RowCodec
from jsonpersist._pg_store import Database

__all__ = ("DEFAULT_TIMEOUT", "database_holds_rows", "read_database", "write_database")

#: Seconds each database operation of a tool may take.
DEFAULT_TIMEOUT = 30.0


def _row_codec(database: Database, entries: EntryCodec) -> RowCodec:
    return RowCodec(entries.codec, entries.context_types, f"{database.url} bot {database.name!r}")


def read_database(
    url: str, name: str, entries: EntryCodec, names: list[str] | None = None
) -> tuple[State, dict[str, CorruptStateError], bool]:
    """Decodes the categories of a bot name in a database, without taking the name.

    Args:
        url (:obj:`str`): The database.
        name (:obj:`str`): The bot name.
        entries (:class:`EntryCodec`): The application's codec and context types.
        names (list[:obj:`str`], optional): The categories to read. Default: all.

    Returns:
        The decoded state, the error of each category that does not decode, and whether the
        bot name has any rows at all.

    Raises:
        DatabaseError: The database cannot be read.
    """
    database = Database(url, name, DEFAULT_TIMEOUT)
    wanted = list(names or CATEGORIES)

    async def read() -> dict[str, Any]:
        try:
            await database.connect(own=False)
            return await database.rows(wanted)
        finally:
            await database.close()

    loaded = asyncio.run(read())
    rows, state, problems = _row_codec(database, entries), State(), {}
    for category, found in loaded.items():
        try:
            setattr(state, category, rows.decode(category, found))
        except CorruptStateError as exc:
            problems[category] = exc
    return state, problems, any(loaded.values())


def database_holds_rows(url: str, name: str) -> bool:
    """Whether a bot name has any rows in a database (no tables: no rows)."""
    database = Database(url, name, DEFAULT_TIMEOUT)

    async def check() -> bool:
        try:
            await database.connect(own=False)
            return await database.holds_rows()
        finally:
            await database.close()

    return asyncio.run(check())


def write_database(
    url: str, name: str, state: State, entries: EntryCodec, *, force: bool
) -> list[BaseException]:
    """Makes a bot name in a database hold exactly ``state``, in one transaction.

    Args:
        url (:obj:`str`): The database; the tables are created if missing.
        name (:obj:`str`): The bot name.
        state (:class:`State`): What it is to hold.
        entries (:class:`EntryCodec`): The application's codec and context types.
        force (:obj:`bool`): Replace rows the name already has; otherwise raise.

    Returns:
        list[:class:`BaseException`]: The values that cannot be stored; when there are any,
        nothing was written.

    Raises:
        FileExistsError: The name has rows and not ``force``.
        StateLockedError: A running bot owns the name.
        DatabaseError: Nothing was written.
    """
    database = Database(url, name, DEFAULT_TIMEOUT)
    rows, errors = _row_codec(database, entries), list[BaseException]()
    changes: dict[str, dict[str, Row | None]] = {}
    for category in CATEGORIES:
        changes[category] = _category_rows(rows, category, getattr(state, category), errors)
    if errors:
        return errors

    async def write() -> None:
        try:
            await database.connect(own=True)  # refuses a name that a running bot owns
            if not force and await database.holds_rows():
                raise FileExistsError(f"bot {name!r} in {database.url} already has rows")
            await database.write(changes, replace=True)
        finally:
            await database.close()

    asyncio.run(write())
    return []


def _category_rows(
    rows: RowCodec, category: str, value: Any, errors: list[BaseException]
) -> dict[str, Row | None]:
    """A category's rows; what cannot be stored goes to ``errors``, each entry on its own."""
    if category == "conversations":
        entries = [
            ((handler, key), state)
            for handler, states in value.items()
            for key, state in states.items()
        ]
    elif CATEGORIES[category].keyed:
        entries = list(value.items())
    else:
        entries = []
    out: dict[str, Row | None] = {}
    try:
        if not CATEGORIES[category].keyed and value is not None:  # None: no callback data
            out.update(rows.value_rows(category, value, {}))
        for key, entry in entries:
            try:
                text, row = rows.entry_row(category, key, entry)
            except UnsupportedTypeError as exc:
                errors.append(exc)
            else:
                out[text] = row
    except UnsupportedTypeError as exc:
        errors.append(exc)
    return out
