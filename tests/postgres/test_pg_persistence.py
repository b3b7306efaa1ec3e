"""PostgresPersistence against a real PostgreSQL server: values, rows, rounds, owner lock."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import datetime, timezone
from typing import Any

import psycopg
import pytest
from checks import assert_same
from telegram.ext import ContextTypes, PersistenceInput

from jsonpersist import (
    CorruptStateError,
    DatabaseError,
    DatabaseLockedError,
    PostgresPersistence,
    StateLockedError,
    UnsupportedTypeError,
)
from jsonpersist._pg_store import SCHEMA_VERSION

AnyPersistence = PostgresPersistence[Any, Any, Any]


def rows(url: str, bot: str = "default") -> dict[tuple[str, str], tuple[Any, Any, Any]]:
    """Every row of a bot: (category, key) -> (pos, value (jsonb), value_text)."""
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT category, key, pos, value, value_text FROM jsonpersist_entries WHERE bot = %s",
            (bot,),
        ).fetchall()
    return {(c, k): (p, v, t) for c, k, p, v, t in found}


def execute(url: str, sql: str, *params: Any) -> list[Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


async def load_all(url: str, *handlers: str, **kwargs: Any) -> dict[str, Any]:
    """Everything a fresh persistence loads; it releases the bot name afterwards."""
    persistence: AnyPersistence = PostgresPersistence(url, **kwargs)
    try:
        return {
            "user_data": await persistence.get_user_data(),
            "chat_data": await persistence.get_chat_data(),
            "bot_data": await persistence.get_bot_data(),
            "callback_data": await persistence.get_callback_data(),
            "conversations": {
                name: await persistence.get_conversations(name) for name in handlers
            },
        }
    finally:
        await persistence.flush()


EVERYTHING: dict[str, Any] = {
    "user_data": {
        5: {
            "cart": (1, 2),
            "seen": {3, 4},
            7: "int key",
            "at": datetime(2024, 1, 1, tzinfo=timezone.utc),
        },
        -(2**63): {"nul": "a\x00b", "big": 1e18, "negative zero": -0.0, "huge": 2**70},
    },
    "chat_data": {-100123: {"$dollar": {"$tuple": "not a tag"}}, 7: {"b": 1, "aa": [2.5, 1e-7]}},
    "bot_data": {"total": 3, 42: "int", (1, 2): "tuple", None: "none", "a\x00": "\x00"},
    "callback_data": (
        [("kb-1", 1.5, {"b1": (1, "x"), "b2": {1: 2}}), ("kb-2", 2.0, {})],
        {"query-1": "kb-1"},
    ),
    "conversations": {"checkout": {(5, 5): 2, (-100, 5, "inline"): "state"}},
}


async def save_everything(persistence: AnyPersistence, state: dict[str, Any]) -> None:
    await persistence.get_conversations("checkout")
    updates = [persistence.update_user_data(k, v) for k, v in state["user_data"].items()]
    updates += [persistence.update_chat_data(k, v) for k, v in state["chat_data"].items()]
    updates.append(persistence.update_bot_data(state["bot_data"]))
    updates.append(persistence.update_callback_data(state["callback_data"]))
    for name, states in state["conversations"].items():
        updates += [persistence.update_conversation(name, k, v) for k, v in states.items()]
    await asyncio.gather(*updates)


def test_importing_jsonpersist_does_not_import_psycopg() -> None:
    code = "import sys, jsonpersist; assert 'psycopg' not in sys.modules, 'imported'; print('ok')"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


async def test_every_category_comes_back_the_same(pg_url: str) -> None:
    persistence: AnyPersistence = PostgresPersistence(pg_url)
    await save_everything(persistence, EVERYTHING)
    await persistence.flush()
    loaded = await load_all(pg_url, "checkout")
    for name, value in EVERYTHING.items():
        assert_same(loaded[name], value, name)


async def test_rows_hold_the_entry_model_and_jsonb_only_where_it_is_exact(pg_url: str) -> None:
    persistence: AnyPersistence = PostgresPersistence(pg_url)
    await save_everything(persistence, EVERYTHING)
    await persistence.flush()
    found = rows(pg_url)
    assert set(found) == {
        ("user_data", "5"),
        ("user_data", str(-(2**63))),
        ("chat_data", "-100123"),
        ("chat_data", "7"),
        ("bot_data", '"total"'),
        ("bot_data", "42"),
        ("bot_data", '{"$tuple":[1,2]}'),
        ("bot_data", "null"),
        ("bot_data", '"a\\u0000"'),
        ("callback_data", '["keyboard","kb-1"]'),
        ("callback_data", '["keyboard","kb-2"]'),
        ("callback_data", '["query","query-1"]'),
        ("conversations", '["checkout",[5,5]]'),
        ("conversations", '["checkout",[-100,5,"inline"]]'),
    }
    # jsonb: queryable as JSON
    assert found[("bot_data", '"total"')] == (None, 3, None)
    assert found[("user_data", "5")][1]["at"] == {"$datetime": "2024-01-01T00:00:00+00:00"}
    assert found[("user_data", "5")][1]["$dict"] == [[7, "int key"]]
    assert found[("callback_data", '["query","query-1"]')] == (None, "kb-1", None)
    assert (
        found[("callback_data", '["keyboard","kb-1"]')][0]
        < found[("callback_data", '["keyboard","kb-2"]')][0]
    )
    # U+0000, 1e18 and -0.0 would not come back from jsonb: those rows are text
    _, value, text = found[("user_data", str(-(2**63)))]
    assert value is None
    for written in ("\\u0000", "1e+18", "-0.0"):
        assert written in text
    assert found[("bot_data", '"a\\u0000"')] == (None, None, '"\\u0000"')


async def test_a_round_writes_only_the_rows_that_changed(pg_url: str) -> None:
    persistence: AnyPersistence = PostgresPersistence(pg_url)
    await persistence.get_user_data()
    users = {user: {"n": 0} for user in range(200)}
    await asyncio.gather(*(persistence.update_user_data(u, d) for u, d in users.items()))
    before = dict(execute(pg_url, "SELECT key, xmin::text FROM jsonpersist_entries"))
    for user in (3, 50, 199):
        users[user]["n"] = 1
    # PTB hands over every user it touched, changed or not: only 3 rows change
    await asyncio.gather(*(persistence.update_user_data(u, d) for u, d in users.items()))
    after = dict(execute(pg_url, "SELECT key, xmin::text FROM jsonpersist_entries"))
    assert {key for key in after if after[key] != before[key]} == {"3", "50", "199"}
    # nothing changed: no transaction at all
    await asyncio.gather(*(persistence.update_user_data(u, d) for u, d in users.items()))
    assert dict(execute(pg_url, "SELECT key, xmin::text FROM jsonpersist_entries")) == after
    await persistence.drop_user_data(50)
    assert "50" not in dict(execute(pg_url, "SELECT key, xmin::text FROM jsonpersist_entries"))
    await persistence.flush()


async def test_bot_data_and_keyboards_write_only_their_changed_rows(pg_url: str) -> None:
    persistence: AnyPersistence = PostgresPersistence(pg_url)
    await persistence.get_bot_data()
    bot_data = {f"key{index}": index for index in range(50)}
    keyboards = [(f"kb{index}", float(index), {"b": index}) for index in range(20)]
    await persistence.update_bot_data(bot_data)
    await persistence.update_callback_data((keyboards, {}))
    before = dict(execute(pg_url, "SELECT key, xmin::text FROM jsonpersist_entries"))
    bot_data["key7"] = "changed"
    del bot_data["key8"]
    await persistence.update_bot_data(bot_data)
    # PTB's cache is least recently used first: a keyboard used again moves to the end
    keyboards.append(keyboards.pop(5))
    await persistence.update_callback_data((keyboards, {}))
    after = dict(execute(pg_url, "SELECT key, xmin::text FROM jsonpersist_entries"))
    changed = {key for key in after if after[key] != before[key]}
    assert changed == {'"key7"', '["keyboard","kb5"]'}
    assert '"key8"' not in after
    await persistence.flush()
    loaded = await load_all(pg_url)
    assert loaded["callback_data"] == (keyboards, {})
    assert loaded["bot_data"] == bot_data


async def test_a_value_that_cannot_be_stored_fails_only_its_own_entry(pg_url: str) -> None:
    persistence: AnyPersistence = PostgresPersistence(pg_url)
    await persistence.get_user_data()
    await persistence.get_conversations("c")
    await persistence.update_user_data(1, {"v": "old"})
    results = await asyncio.gather(
        persistence.update_user_data(1, {"v": object()}),
        persistence.update_user_data(2, {"v": "new"}),
        persistence.update_conversation("c", (1, 1), object()),
        persistence.update_conversation("c", (2, 2), "ok"),
        persistence.update_chat_data(2**64, {}),
        return_exceptions=True,
    )
    assert isinstance(results[0], UnsupportedTypeError)
    assert results[0].where == "user_data[1]['v']"
    assert results[1] is None
    assert isinstance(results[2], UnsupportedTypeError)
    assert results[3] is None
    assert isinstance(results[4], UnsupportedTypeError)
    assert await persistence.get_conversations("c") == {(2, 2): "ok"}
    await persistence.flush()
    loaded = await load_all(pg_url, "c")
    assert loaded["user_data"] == {1: {"v": "old"}, 2: {"v": "new"}}
    assert loaded["conversations"] == {"c": {(2, 2): "ok"}}


async def test_on_flush_writes_only_at_flush(pg_url: str) -> None:
    persistence: AnyPersistence = PostgresPersistence(pg_url, on_flush=True)
    await persistence.get_user_data()
    await persistence.update_user_data(1, {"a": 1})
    assert rows(pg_url) == {}
    await persistence.flush()
    assert rows(pg_url) == {("user_data", "1"): (None, {"a": 1}, None)}


async def test_disabled_categories_are_neither_read_nor_written(pg_url: str) -> None:
    persistence: AnyPersistence = PostgresPersistence(
        pg_url, store_data=PersistenceInput(user_data=False, callback_data=False)
    )
    assert await persistence.get_user_data() == {}
    assert await persistence.get_callback_data() is None
    await persistence.update_user_data(1, {"a": 1})
    await persistence.update_chat_data(1, {"a": 1})
    await persistence.flush()
    assert set(rows(pg_url)) == {("chat_data", "1")}


async def test_context_types_and_bot_names(pg_url: str) -> None:
    class UserData(dict[str, Any]):
        pass

    context_types = ContextTypes(user_data=UserData)
    first: AnyPersistence = PostgresPersistence(pg_url, name="one", context_types=context_types)
    second: AnyPersistence = PostgresPersistence(pg_url, name="two")
    await first.get_user_data()
    await second.get_user_data()  # another name: no conflict
    await first.update_user_data(1, UserData(a=1))
    await second.update_user_data(1, {"b": 2})
    await first.flush()
    await second.flush()
    loaded = await load_all(pg_url, name="one", context_types=context_types)
    assert type(loaded["user_data"][1]) is UserData
    assert loaded["user_data"] == {1: {"a": 1}}
    assert (await load_all(pg_url, name="two"))["user_data"] == {1: {"b": 2}}


async def test_a_second_owner_is_refused_within_a_second_naming_the_holder(pg_url: str) -> None:
    owner: AnyPersistence = PostgresPersistence(pg_url)
    await owner.get_user_data()
    other: AnyPersistence = PostgresPersistence(pg_url)
    started = time.monotonic()
    with pytest.raises(StateLockedError) as caught:
        await other.get_user_data()
    assert time.monotonic() - started < 1
    assert isinstance(caught.value, DatabaseLockedError)
    assert caught.value.pid is not None
    assert "jsonpersist default pid" in caught.value.holder
    assert "Unix socket" in str(caught.value)
    await owner.flush()  # releases the name
    assert await other.get_user_data() == {}
    await other.flush()


async def test_a_holder_killed_with_sigkill_frees_the_name(pg_url: str) -> None:
    code = (
        "import asyncio, sys\n"
        "from jsonpersist import PostgresPersistence\n"
        "async def main():\n"
        "    p = PostgresPersistence(sys.argv[1])\n"
        "    await p.get_user_data()\n"
        "    print('owned', flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, pg_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "owned"
        with pytest.raises(DatabaseLockedError, match=f"pid {child.pid} on"):
            await PostgresPersistence(pg_url).get_user_data()
    finally:
        child.kill()
        child.wait()
    started = time.monotonic()
    persistence: AnyPersistence = PostgresPersistence(pg_url)
    while True:
        try:
            await persistence.get_user_data()
            break
        except DatabaseLockedError:
            assert time.monotonic() - started < 2, "the name stayed taken after SIGKILL"
            await asyncio.sleep(0.02)
    await persistence.flush()


async def test_bad_rows_raise_corrupt_state_error_naming_them(pg_url: str) -> None:
    persistence: AnyPersistence = PostgresPersistence(pg_url)
    await save_everything(persistence, EVERYTHING)
    await persistence.flush()
    execute(
        pg_url,
        "UPDATE jsonpersist_entries SET value = '{\"$nosuchtag\": 1}' WHERE key = '5'",
    )
    with pytest.raises(CorruptStateError, match=r"bot 'default' user_data.*user_data\[5\]"):
        await load_all(pg_url)
    execute(pg_url, "UPDATE jsonpersist_entries SET value = '{}', key = '05' WHERE key = '5'")
    with pytest.raises(CorruptStateError, match="written plainly"):
        await load_all(pg_url)
    execute(pg_url, "DELETE FROM jsonpersist_entries WHERE key = '05'")
    assert (await load_all(pg_url))["user_data"].keys() == {-(2**63)}


async def test_rows_edited_with_sql_are_loaded(pg_url: str) -> None:
    persistence: AnyPersistence = PostgresPersistence(pg_url)
    await persistence.get_user_data()
    await persistence.update_user_data(1, {"plan": "free", "n": 1})
    await persistence.flush()
    execute(
        pg_url,
        "UPDATE jsonpersist_entries SET value = jsonb_set(value, '{plan}', '\"pro\"') "
        "WHERE category = 'user_data' AND key = '1'",
    )
    assert (await load_all(pg_url))["user_data"] == {1: {"plan": "pro", "n": 1}}


async def test_a_newer_schema_is_refused(pg_url: str) -> None:
    await load_all(pg_url)
    execute(pg_url, "UPDATE jsonpersist_schema SET version = %s", SCHEMA_VERSION + 1)
    with pytest.raises(DatabaseError, match=f"schema version {SCHEMA_VERSION + 1}"):
        await load_all(pg_url)


async def test_an_unreachable_server_fails_in_bounded_time() -> None:
    persistence: AnyPersistence = PostgresPersistence(
        "postgresql://postgres@/x?host=/nonexistent-jsonpersist", timeout=2
    )
    started = time.monotonic()
    with pytest.raises(DatabaseError, match="connecting failed"):
        await persistence.get_user_data()
    assert time.monotonic() - started < 3


def test_the_password_never_shows_in_errors() -> None:
    persistence: AnyPersistence = PostgresPersistence(
        "postgresql://bot:s3cret@/x?host=/nonexistent-jsonpersist", timeout=2
    )
    with pytest.raises(DatabaseError) as caught:
        asyncio.run(persistence.get_user_data())
    assert "s3cret" not in str(caught.value)
    assert "bot:***@" in caught.value.url


async def test_keys_longer_than_a_btree_entry_are_stored(pg_url: str) -> None:
    # The primary key holds an md5 of the key: a btree refuses entries over 2704 bytes.
    bot_data = {"k" * 10_000: 1, 10**5000: 2, (10**5000,): 3, "short": 4}
    persistence: AnyPersistence = PostgresPersistence(pg_url)
    await persistence.get_bot_data()
    await persistence.update_bot_data(bot_data)
    bot_data.pop("short")
    await persistence.update_bot_data(bot_data)  # a delete by long keys' neighbours
    await persistence.flush()
    assert (await load_all(pg_url))["bot_data"] == bot_data
    assert len(rows(pg_url)) == 3


def test_bot_names_are_checked() -> None:
    with pytest.raises(ValueError, match="bot name"):
        PostgresPersistence("postgresql:///x", name="")
    with pytest.raises(ValueError, match="bot name"):
        PostgresPersistence("postgresql:///x", name="n" * 300)


async def test_a_large_round_is_written_in_bounded_statements(pg_url: str) -> None:
    # 12,000 rows: three statements of at most 5,000 rows in one transaction, each within
    # the time limit, where one statement of them all could take longer than it.
    persistence: AnyPersistence = PostgresPersistence(pg_url, timeout=5)
    await persistence.get_user_data()
    await asyncio.gather(*(persistence.update_user_data(u, {"u": u}) for u in range(12_000)))
    await asyncio.gather(*(persistence.drop_user_data(u) for u in range(0, 12_000, 2)))
    await persistence.flush()
    loaded = (await load_all(pg_url))["user_data"]
    assert loaded == {u: {"u": u} for u in range(1, 12_000, 2)}


async def test_after_a_restart_unchanged_data_writes_nothing(pg_url: str) -> None:
    # What the database gives back (jsonb's layout) is compared in the codec's form: PTB
    # hands over every user it touched, and a restart must not make them all look changed.
    persistence: AnyPersistence = PostgresPersistence(pg_url)
    await save_everything(persistence, EVERYTHING)
    await persistence.flush()
    before = dict(execute(pg_url, "SELECT category || key, xmin::text FROM jsonpersist_entries"))
    again: AnyPersistence = PostgresPersistence(pg_url)
    await again.get_user_data()
    await save_everything(again, EVERYTHING)
    assert await again.get_user_data() == EVERYTHING["user_data"]  # from memory, same values
    await again.flush()
    after = dict(execute(pg_url, "SELECT category || key, xmin::text FROM jsonpersist_entries"))
    assert after == before


async def test_values_of_the_wrong_shape_are_refused_before_they_reach_a_row(pg_url: str) -> None:
    class BotData(dict[str, Any]):
        pass

    persistence: AnyPersistence = PostgresPersistence(
        pg_url, context_types=ContextTypes(bot_data=BotData)
    )
    await persistence.get_bot_data()
    await persistence.get_user_data()
    await persistence.get_callback_data()
    with pytest.raises(UnsupportedTypeError, match=r"user_data\[1\]: expected a dict"):
        await persistence.update_user_data(1, [1, 2])  # type: ignore[arg-type]
    with pytest.raises(UnsupportedTypeError, match=r"expected a .*BotData .*got a list"):
        await persistence.update_bot_data(["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(UnsupportedTypeError, match="callback_data"):
        await persistence.update_callback_data(([("kb", "not a time", {})], {}))  # type: ignore[arg-type]
    await persistence.update_bot_data(BotData(ok=1))
    await persistence.flush()
    assert set(rows(pg_url)) == {("bot_data", '"ok"')}
    loaded = await load_all(pg_url, context_types=ContextTypes(bot_data=BotData))
    assert type(loaded["bot_data"]) is BotData
    assert loaded["bot_data"] == {"ok": 1}


async def test_the_name_is_free_as_soon_as_flush_returns(pg_url: str) -> None:
    # Unlocked explicitly: closing alone frees it only once the server process has exited
    # (a race, seen under load in the round-trip test; here it rarely shows).
    for round_ in range(30):
        persistence: AnyPersistence = PostgresPersistence(pg_url)
        await persistence.get_user_data()
        await persistence.update_user_data(1, {"round": round_})
        await persistence.flush()
    assert (await load_all(pg_url))["user_data"] == {1: {"round": 29}}
