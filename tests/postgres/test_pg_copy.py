"""``jsonpersist copy`` between directories and PostgreSQL, and ``check``/``show`` of a URL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from checks import assert_same
from offline import BOT_TOKEN, OfflineRequest
from telegram import Chat, Message, User
from telegram.ext import ExtBot

from jsonpersist import JsonPersistence, PostgresPersistence
from jsonpersist._cli import EXIT_IO, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, main

STATE_FILES = [
    f"{name}.json"
    for name in ("user_data", "chat_data", "bot_data", "callback_data", "conversations")
]


def state(bot: ExtBot[None]) -> dict[str, Any]:
    message = Message(
        42,
        datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
        Chat(7, "private"),
        from_user=User(7, "Ann", is_bot=False),
        text="hello",
    )
    message.set_bot(bot)
    return {
        "user_data": {
            7: {"last": message, "cart": (1, 2), "tags": {"a"}, 3: None},
            8: {"nul": "a\x00b", "float": 1e17, "zero": -0.0},
        },
        "chat_data": {-100: {"$tag-like": {"$set": [1]}}},
        "bot_data": {"total": 2**70, (1, "x"): frozenset({2})},
        "callback_data": ([("kb", 12.5, {"b": ("buy", 3)})], {"q1": "kb"}),
        "conversations": {"checkout": {(7, 7): "address"}, "other": {(8,): 1}},
    }


async def _save(persistence: Any, values: dict[str, Any]) -> None:
    for handler in values["conversations"]:
        await persistence.get_conversations(handler)
    await persistence.get_user_data()
    updates = [persistence.update_user_data(k, v) for k, v in values["user_data"].items()]
    updates += [persistence.update_chat_data(k, v) for k, v in values["chat_data"].items()]
    updates.append(persistence.update_bot_data(values["bot_data"]))
    updates.append(persistence.update_callback_data(values["callback_data"]))
    for handler, states in values["conversations"].items():
        updates += [persistence.update_conversation(handler, k, v) for k, v in states.items()]
    await asyncio.gather(*updates)
    await persistence.flush()


async def _load(persistence: Any, bot: ExtBot[None]) -> dict[str, Any]:
    persistence.set_bot(bot)
    try:
        return {
            "user_data": await persistence.get_user_data(),
            "chat_data": await persistence.get_chat_data(),
            "bot_data": await persistence.get_bot_data(),
            "callback_data": await persistence.get_callback_data(),
            "conversations": {
                name: await persistence.get_conversations(name) for name in ("checkout", "other")
            },
        }
    finally:
        await persistence.flush()


def _bot() -> ExtBot[None]:
    request = OfflineRequest()
    return ExtBot(BOT_TOKEN, request=request, get_updates_request=request)


def _same(loaded: dict[str, Any], expected: dict[str, Any], bot: ExtBot[None]) -> None:
    message = loaded["user_data"][7].pop("last")
    assert message.get_bot() is bot
    assert message.text == "hello"
    expected = {
        **expected,
        "user_data": {**expected["user_data"], 7: dict(expected["user_data"][7])},
    }
    del expected["user_data"][7]["last"]
    for name, value in expected.items():
        assert_same(loaded[name], value, name)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    bot = _bot()
    directory = tmp_path / "state"
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    persistence.set_bot(bot)
    asyncio.run(_save(persistence, state(bot)))
    return directory


def test_files_to_database_and_back_is_lossless(
    state_dir: Path, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["copy", str(state_dir), pg_url]) == EXIT_OK
    assert "copied" in capsys.readouterr().out
    bot = _bot()
    # The bot switches by changing one line: everything comes back the same.
    _same(asyncio.run(_load(PostgresPersistence(pg_url), bot)), state(bot), bot)
    back = tmp_path / "back"
    assert main(["copy", pg_url, str(back)]) == EXIT_OK
    for name in STATE_FILES:  # byte for byte what the bot wrote
        assert (back / name).read_bytes() == (state_dir / name).read_bytes(), name
    # and between two bot names of a database
    assert main(["copy", pg_url, pg_url, "--dest-name", "copy"]) == EXIT_OK
    _same(asyncio.run(_load(PostgresPersistence(pg_url, name="copy"), bot)), state(bot), bot)


def test_database_written_by_the_bot_to_files(pg_url: str, tmp_path: Path) -> None:
    bot = _bot()
    persistence: PostgresPersistence[Any, Any, Any] = PostgresPersistence(pg_url)
    persistence.set_bot(bot)
    asyncio.run(_save(persistence, state(bot)))
    assert main(["copy", pg_url, str(tmp_path / "files")]) == EXIT_OK
    bot = _bot()
    _same(asyncio.run(_load(JsonPersistence(tmp_path / "files"), bot)), state(bot), bot)


def test_a_destination_with_state_needs_force(
    state_dir: Path, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["copy", str(state_dir), pg_url]) == EXIT_OK
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE jsonpersist_entries SET value = '{\"edited\": 1}', value_text = NULL "
            "WHERE key = '8'"
        )
    capsys.readouterr()
    assert main(["copy", str(state_dir), pg_url]) == EXIT_USAGE
    assert "already has rows; pass --force" in capsys.readouterr().err
    bot = _bot()
    loaded = asyncio.run(_load(PostgresPersistence(pg_url), bot))
    assert loaded["user_data"][8] == {"edited": 1}  # untouched
    assert main(["copy", str(state_dir), pg_url, "--force"]) == EXIT_OK
    _same(asyncio.run(_load(PostgresPersistence(pg_url), bot)), state(bot), bot)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main(["copy", pg_url, str(tmp_path / "other")]) == EXIT_USAGE
    assert "already holds files" in capsys.readouterr().err
    assert not (tmp_path / "other" / "user_data.json").exists()


def test_an_empty_source_is_refused(pg_url: str, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["copy", str(tmp_path / "empty"), pg_url]) == EXIT_PROBLEMS
    assert main(["copy", pg_url, str(tmp_path / "out")]) == EXIT_PROBLEMS
    assert not (tmp_path / "out").exists()
    assert main(["copy", str(tmp_path / "missing"), pg_url]) == EXIT_USAGE


def test_never_into_a_database_a_running_bot_owns(
    state_dir: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = (
        "import asyncio, sys\n"
        "from jsonpersist import PostgresPersistence\n"
        "async def main():\n"
        "    p = PostgresPersistence(sys.argv[1])\n"
        "    await p.get_user_data()\n"
        "    print('owned', flush=True)\n"
        "    sys.stdin.readline()\n"
        "asyncio.run(main())\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code, pg_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == "owned"
        capsys.readouterr()
        assert main(["copy", str(state_dir), pg_url, "--force"]) == EXIT_IO
        assert f"pid {owner.pid} on" in capsys.readouterr().err
    finally:
        owner.communicate("\n", timeout=30)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM jsonpersist_entries").fetchone() == (0,)


def test_never_into_a_directory_a_running_bot_owns(
    state_dir: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["copy", str(state_dir), pg_url]) == EXIT_OK
    before = {name: (state_dir / name).read_bytes() for name in STATE_FILES}
    owner: JsonPersistence[Any, Any, Any] = JsonPersistence(state_dir)
    asyncio.run(owner.get_user_data())  # takes the directory, as a running bot has
    capsys.readouterr()
    assert main(["copy", pg_url, str(state_dir), "--force"]) == EXIT_IO
    assert "in use by" in capsys.readouterr().err
    assert {name: (state_dir / name).read_bytes() for name in STATE_FILES} == before
    asyncio.run(owner.flush())


def test_check_and_show_read_a_url(
    state_dir: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", pg_url]) == EXIT_OK
    assert "no state yet" in capsys.readouterr().out
    with psycopg.connect(pg_url) as conn:  # a reading tool creates no tables
        found = conn.execute("SELECT to_regclass('jsonpersist_entries')").fetchone()
    assert found == (None,)
    assert main(["copy", str(state_dir), pg_url, "--name", "shop"]) == EXIT_OK
    capsys.readouterr()
    assert main(["check", pg_url, str(state_dir), "--name", "shop"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "(bot 'shop'): OK (user_data: 2 users; chat_data: 1 chat; bot_data: 2 keys" in out
    assert f"{state_dir}: OK" in out
    assert main(["show", pg_url, "--name", "shop"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "== user_data: 2 users" in out
    assert "'cart': (1, 2)" in out
    assert "Message(" in out
    assert main(["show", pg_url, "conversations", "--key", "checkout", "--name", "shop"]) == 0
    assert capsys.readouterr().out.strip() == "{(7, 7): 'address'}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE jsonpersist_entries SET value = '{\"$what\": 1}', value_text = NULL "
            "WHERE key = '8'"
        )
    assert main(["check", pg_url, "--name", "shop"]) == EXIT_PROBLEMS
    err = capsys.readouterr().err
    assert "user_data[8]" in err
    assert "$what" in err
