"""What ``docs/postgres.md`` shows is what a real server does: its schema, its queries, the
encoding it refuses, the schema created by two bots at once, ``refresh_*`` doing nothing, and
the tools reading a database that a running bot owns."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pg_server import PgServer

from jsonpersist import DatabaseError, PostgresPersistence
from jsonpersist._cli import EXIT_OK, main

AnyPersistence = PostgresPersistence[Any, Any, Any]
PAGE = (Path(__file__).resolve().parents[2] / "docs" / "postgres.md").read_text("utf-8")


def sql_block(containing: str) -> str:
    """The page's fenced ``sql`` block that contains ``containing``."""
    for found in re.finditer(r"```sql\n(.*?)```", PAGE, re.DOTALL):
        if containing in found.group(1):
            return found.group(1)
    raise AssertionError(f"docs/postgres.md has no sql block with {containing!r}")


def fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql.encode())  # bytes: a '?' is not a placeholder
        return cursor.fetchall() if cursor.description else []


async def seed(url: str) -> None:
    persistence: AnyPersistence = PostgresPersistence(url)
    await persistence.get_conversations("checkout")
    await persistence.get_user_data()
    await persistence.get_chat_data()
    await persistence.get_bot_data()
    users = {
        123456789: {"language": "en", "cart": ["tea"], "premium": True},
        5: {"language": "de"},
        6: {"language": "en"},
    }
    await asyncio.gather(
        *(persistence.update_user_data(user, data) for user, data in users.items()),
        persistence.update_chat_data(-7, {"note": "a\x00b"}),  # U+0000: kept as value_text
        persistence.update_bot_data({"total": 3}),
        persistence.update_conversation("checkout", (5, 5), 2),
        persistence.update_conversation("checkout", (123456789, 123456789), 1),
    )
    await persistence.flush()


def test_the_schema_the_page_shows_is_the_one_created(pg_url: str) -> None:
    asyncio.run(seed(pg_url))
    block = sql_block("CREATE TABLE jsonpersist_entries")
    table = block.split("CREATE TABLE jsonpersist_entries (", 1)[1]
    shown = re.findall(r"^\s{4}(\w+)\s+(\w+)", table, re.MULTILINE)
    shown = [(name, kind) for name, kind in shown if name not in ("PRIMARY", "CHECK")]
    columns = fetch(
        pg_url,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'jsonpersist_entries' ORDER BY ordinal_position",
    )
    assert shown == columns
    key = fetch(
        pg_url,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'jsonpersist_entries'::regclass "
        "AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
    )
    assert [name for (name,) in key] == ["bot", "category", "key_md5"]
    assert "PRIMARY KEY (bot, category, key_md5)" in block
    assert fetch(pg_url, "SELECT version FROM jsonpersist_schema") == [(1,)]
    assert "-- one row: 1" in sql_block("CREATE TABLE jsonpersist_schema")


def test_the_pages_queries_run_and_answer_what_they_say(pg_url: str) -> None:
    asyncio.run(seed(pg_url))
    queries = sql_block("users per language").split(";")
    answers = [fetch(pg_url, query) for query in queries if "SELECT" in query]
    languages, one_user, premium, total, checkout, sizes, as_text = answers
    assert languages == [("en", 2), ("de", 1)]
    assert one_user == [({"language": "en", "cart": ["tea"], "premium": True}, ["tea"])]
    assert premium == [("123456789",)]
    assert total == [(3,)]
    assert sorted(checkout) == [([5, 5], 2), ([123456789, 123456789], 1)]
    assert {row[0] for row in sizes} == {"user_data", "chat_data", "bot_data", "conversations"}
    assert as_text == [("chat_data", "-7")]


def test_a_database_not_in_utf8_is_refused(pg_server: PgServer) -> None:
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE latin ENCODING 'SQL_ASCII' TEMPLATE template0")
    persistence: AnyPersistence = PostgresPersistence(pg_server.url("latin"))
    with pytest.raises(DatabaseError, match="not UTF8"):
        asyncio.run(persistence.get_user_data())
    assert fetch(pg_server.url("latin"), "SELECT to_regclass('jsonpersist_entries')") == [(None,)]


def test_two_bots_starting_at_once_on_an_empty_database_both_start(pg_server: PgServer) -> None:
    async def start_both(url: str) -> None:
        first: AnyPersistence = PostgresPersistence(url, name="first")
        second: AnyPersistence = PostgresPersistence(url, name="second")
        assert await asyncio.gather(first.get_user_data(), second.get_user_data()) == [{}, {}]
        await asyncio.gather(first.flush(), second.flush())

    for _ in range(5):
        url = pg_server.new_database()
        asyncio.run(start_both(url))
        assert fetch(url, "SELECT version FROM jsonpersist_schema") == [(1,)]


async def test_refresh_does_nothing_even_after_a_row_was_edited(pg_url: str) -> None:
    await seed(pg_url)
    persistence: AnyPersistence = PostgresPersistence(pg_url)
    try:
        users = await persistence.get_user_data()
        bot_data = await persistence.get_bot_data()
        fetch(
            pg_url,
            "UPDATE jsonpersist_entries SET value = '{\"language\":\"fr\"}' WHERE key = '5'",
        )
        held = users[5]
        await persistence.refresh_user_data(5, held)
        await persistence.refresh_bot_data(bot_data)
        assert held == {"language": "de"}
        assert bot_data == {"total": 3}
    finally:
        await persistence.flush()


async def test_the_tools_read_a_database_a_running_bot_owns(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(pg_url)
    owner: AnyPersistence = PostgresPersistence(pg_url)
    await owner.get_user_data()  # owns the bot name from here
    try:
        checked = await asyncio.to_thread(main, ["check", pg_url])
        assert checked == EXIT_OK
        assert "user_data: 3 users" in capsys.readouterr().out
    finally:
        await owner.flush()
