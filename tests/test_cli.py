"""The ``jsonpersist`` command line, run as subprocesses on state written by PTB's real
PicklePersistence (single and multi-file) and by the real JsonPersistence."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from _cli_types import TYPES, Point
from offline import BOT_TOKEN, OfflineRequest
from telegram import Chat, Message, User
from telegram.ext import ExtBot, PicklePersistence

from jsonpersist import JsonPersistence, __version__, _plain
from jsonpersist._store import Store

TESTS = Path(__file__).resolve().parent
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(
        [str(TESTS), str(TESTS.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    ),
}
STATE_FILES = [
    f"{name}.json"
    for name in ("user_data", "chat_data", "bot_data", "callback_data", "conversations")
]


def jsonpersist(*args: object, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jsonpersist", *map(str, args)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
        check=False,
    )


def new_bot() -> ExtBot[None]:
    request = OfflineRequest()
    return ExtBot(BOT_TOKEN, request=request, get_updates_request=request)


def sample_state(bot: ExtBot[None]) -> dict[str, Any]:
    message = Message(
        42,
        dtm.datetime(2024, 5, 1, 12, tzinfo=dtm.timezone.utc),
        Chat(7, "private"),
        from_user=User(7, "Ann", is_bot=False),
        text="hello",
    )
    message.set_bot(bot)
    return {
        "user_data": {
            7: {
                "cart": (1, 2),
                "seen": {3, 1, 2},
                10: "an int key",
                "when": dtm.datetime(2024, 5, 1, 14, tzinfo=ZoneInfo("Europe/Berlin")),
                "last": message,
            },
            8: {},
        },
        "chat_data": {-100123: {"members": frozenset({7, 8}), "since": dtm.date(2024, 1, 1)}},
        "bot_data": {"count": 3, ("a", 1): [1.5, None], "big": 2**70},
        "callback_data": (
            [("kb1", 1700000000.5, {"b1": ("choice", 1), "b2": {1: "x"}})],
            {"q1": "kb1"},
        ),
        "conversations": {"checkout": {(7, 7): "ASK_ADDRESS", (8, 8): 3}},
    }


async def write_pickle(path: Path, single: bool, bot: ExtBot[None], state: dict[str, Any]) -> None:
    persistence = PicklePersistence(path, single_file=single, on_flush=True)
    persistence.set_bot(bot)
    await persistence.get_user_data()  # what Application.initialize does first
    await persistence.get_chat_data()
    await persistence.get_bot_data()
    await persistence.get_callback_data()
    await persistence.get_conversations("checkout")
    for user, data in state["user_data"].items():
        await persistence.update_user_data(user, data)
    for chat, data in state["chat_data"].items():
        await persistence.update_chat_data(chat, data)
    await persistence.update_bot_data(state["bot_data"])
    await persistence.update_callback_data(state["callback_data"])
    for name, states in state["conversations"].items():
        for key, value in states.items():
            await persistence.update_conversation(name, key, value)
    await persistence.update_conversation("checkout", (9, 9), None)  # ended: kept as None
    await persistence.flush()


async def read_pickle(path: Path, bot: ExtBot[None]) -> dict[str, Any]:
    persistence = PicklePersistence(path)
    persistence.set_bot(bot)
    return {
        "user_data": await persistence.get_user_data(),
        "chat_data": await persistence.get_chat_data(),
        "bot_data": await persistence.get_bot_data(),
        "callback_data": await persistence.get_callback_data(),
        "conversations": {"checkout": await persistence.get_conversations("checkout")},
    }


async def write_json(directory: Path, bot: ExtBot[None], state: dict[str, Any]) -> None:
    persistence = JsonPersistence(directory)
    persistence.set_bot(bot)
    await persistence.get_user_data()
    await persistence.get_chat_data()
    await persistence.get_bot_data()
    await persistence.get_callback_data()
    await persistence.get_conversations("checkout")
    await asyncio.gather(
        *(persistence.update_user_data(user, data) for user, data in state["user_data"].items()),
        *(persistence.update_chat_data(chat, data) for chat, data in state["chat_data"].items()),
        persistence.update_bot_data(state["bot_data"]),
        persistence.update_callback_data(state["callback_data"]),
        *(
            persistence.update_conversation(name, key, value)
            for name, states in state["conversations"].items()
            for key, value in states.items()
        ),
    )
    await persistence.flush()


async def read_json(directory: Path, bot: ExtBot[None], **kwargs: Any) -> dict[str, Any]:
    persistence = JsonPersistence(directory, read_only=True, **kwargs)
    persistence.set_bot(bot)
    return {
        "user_data": await persistence.get_user_data(),
        "chat_data": await persistence.get_chat_data(),
        "bot_data": await persistence.get_bot_data(),
        "callback_data": await persistence.get_callback_data(),
        "conversations": {"checkout": await persistence.get_conversations("checkout")},
    }


def assert_same_state(loaded: dict[str, Any], original: dict[str, Any], bot: ExtBot[None]) -> None:
    assert loaded == original
    user = loaded["user_data"][7]
    # == does not tell these apart: a frozenset equals a set, a datetime equals one in
    # another zone, and Telegram objects compare by id only.
    assert type(loaded["chat_data"][-100123]["members"]) is frozenset
    assert type(user["seen"]) is set
    assert user["when"].tzinfo == ZoneInfo("Europe/Berlin")
    assert user["last"].to_dict() == original["user_data"][7]["last"].to_dict()
    assert user["last"].get_bot() is bot


def state_bytes(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in STATE_FILES}


@pytest.mark.parametrize("single", [True, False], ids=["single-file", "multi-file"])
async def test_pickle_import_check_show_export_round_trip(tmp_path: Path, single: bool) -> None:
    state = sample_state(new_bot())
    pickle_path, directory = tmp_path / "bot.pickle", tmp_path / "state"
    await write_pickle(pickle_path, single, state["user_data"][7]["last"].get_bot(), state)
    assert pickle_path.exists() is single

    imported = jsonpersist("import-pickle", pickle_path, directory)
    assert imported.returncode == 0, imported.stderr
    assert "user_data: 2 users" in imported.stdout
    user_file = (directory / "user_data.json").read_text()
    assert '"$tg":"Message","bot":"current"' in user_file
    assert '{"$tuple":[1,2]}' in user_file

    checked = jsonpersist("check", directory)
    assert checked.returncode == 0, checked.stderr
    assert "OK" in checked.stdout

    shown = jsonpersist("show", directory)
    assert shown.returncode == 0, shown.stderr
    for text in (
        "'cart': (1, 2)",
        "'members': frozenset({",
        "(7, 7): 'ASK_ADDRESS'",
        "bot=current",
    ):
        assert text in shown.stdout
    assert "(9, 9)" not in shown.stdout  # the ended conversation is not imported
    entry = jsonpersist("show", directory, "user_data", "--key", 7)
    assert entry.returncode == 0, entry.stderr
    assert "10: 'an int key'" in entry.stdout
    assert "-100123" not in entry.stdout

    exported = jsonpersist("export-pickle", directory, tmp_path / "back.pickle")
    assert exported.returncode == 0, exported.stderr
    bot = new_bot()
    assert_same_state(await read_pickle(tmp_path / "back.pickle", bot), state, bot)
    assert_same_state(await read_json(directory, bot), state, bot)


async def test_json_state_check_show_export_and_back_byte_for_byte(tmp_path: Path) -> None:
    bot = new_bot()
    state = sample_state(bot)
    directory = tmp_path / "state"
    await write_json(directory, bot, state)

    assert jsonpersist("check", directory).returncode == 0
    shown = jsonpersist("show", directory, "conversations")
    assert shown.returncode == 0, shown.stderr
    assert "'checkout'" in shown.stdout
    assert "== user_data" not in shown.stdout

    exported = jsonpersist("export-pickle", directory, tmp_path / "bot.pickle")
    assert exported.returncode == 0, exported.stderr
    other = new_bot()
    assert_same_state(await read_pickle(tmp_path / "bot.pickle", other), state, other)

    again = jsonpersist("import-pickle", tmp_path / "bot.pickle", tmp_path / "again")
    assert again.returncode == 0, again.stderr
    assert state_bytes(tmp_path / "again") == state_bytes(directory)


async def test_unsupported_values_are_listed_and_nothing_is_written(tmp_path: Path) -> None:
    bot = new_bot()
    state = sample_state(bot)
    state["user_data"][7]["where"] = Point(1, 2)
    state["bot_data"]["points"] = {Point(3, 4)}
    state["conversations"]["checkout"][(7, 7)] = Point(5, 6)
    await write_pickle(tmp_path / "bot.pickle", True, bot, state)
    directory = tmp_path / "state"

    refused = jsonpersist("import-pickle", tmp_path / "bot.pickle", directory)
    assert refused.returncode == 1
    for where in (
        "user_data[7]['where']: cannot store a Point",
        "bot_data['points'][0]: cannot store a Point",
        "conversations['checkout'][(7, 7)]: cannot store a Point",
    ):
        assert where in refused.stderr
    assert "nothing was written" in refused.stderr
    assert not directory.exists()

    skipped = jsonpersist(
        "import-pickle", tmp_path / "bot.pickle", directory, "--skip-unsupported"
    )
    assert skipped.returncode == 0, skipped.stderr
    assert "left out 3 values" in skipped.stderr
    loaded = await read_json(directory, bot)
    assert "where" not in loaded["user_data"][7]
    assert loaded["user_data"][7]["cart"] == (1, 2)
    assert loaded["bot_data"]["points"] == set()
    assert loaded["conversations"]["checkout"] == {(8, 8): 3}

    typed = tmp_path / "typed"
    registered = jsonpersist(
        "import-pickle", tmp_path / "bot.pickle", typed, "--types", "_cli_types:TYPES"
    )
    assert registered.returncode == 0, registered.stderr
    assert (await read_json(typed, bot, types=TYPES))["user_data"][7]["where"] == Point(1, 2)
    unregistered = jsonpersist("check", typed)
    assert unregistered.returncode == 1
    assert "'Point' is not a registered type" in unregistered.stderr
    assert jsonpersist("check", typed, "--types", "_cli_types:TYPES").returncode == 0
    shown = jsonpersist("show", typed, "bot_data", "--types", "_cli_types:TYPES")
    assert "'points': {Point(3, 4)}" in shown.stdout


async def test_check_names_every_damaged_file_and_leaves_it_alone(tmp_path: Path) -> None:
    bot = new_bot()
    directory = tmp_path / "state"
    await write_json(directory, bot, sample_state(bot))
    users = directory / "user_data.json"
    users.write_bytes(users.read_bytes()[:-20])  # cut short, as by a crashed naive writer
    chats = directory / "chat_data.json"
    chats.write_text(chats.read_text().replace('"jsonpersist":2', '"jsonpersist":3'))
    conversations = directory / "conversations.json"
    conversations.write_text(
        conversations.read_text().replace("[8,8],3]", '[8,8],{"$tupel":[3]}]')
    )
    before = state_bytes(directory)

    checked = jsonpersist("check", directory)
    assert checked.returncode == 1
    lines = checked.stderr.splitlines()
    assert any(
        re.match(rf"{re.escape(str(users.resolve()))} line \d+, column \d+: not valid JSON", line)
        for line in lines
    )
    assert any(str(chats.resolve()) in line and "format version 3" in line for line in lines)
    assert any(str(conversations.resolve()) in line and "'$tupel'" in line for line in lines)
    assert "bot_data.json" not in checked.stderr
    assert "3 problems found" in checked.stderr

    shown = jsonpersist("show", directory)
    assert shown.returncode == 1
    assert "== user_data (does not decode, see below)" in shown.stdout
    assert "'count': 3" in shown.stdout  # the good categories are still shown
    assert state_bytes(directory) == before


WRITER = """
import asyncio, sys
from jsonpersist import JsonPersistence, __version__, _plain

async def main() -> None:
    persistence = JsonPersistence(sys.argv[1])
    await persistence.get_user_data()
    await persistence.get_chat_data()
    await persistence.get_bot_data()
    n = 0
    while True:
        n += 1
        await asyncio.gather(
            persistence.update_user_data(1, {"n": n}),
            persistence.update_chat_data(1, {"n": n}),
            persistence.update_bot_data({"n": n}),
        )
        if n == 20:
            print("running", flush=True)

asyncio.run(main())
"""


def rounds_in(directory: Path) -> set[int]:
    """The round each state file of the writer's directory comes from."""
    data = [
        dict(json.loads((directory / f"{name}.json").read_text())[1:])
        for name in ("user_data", "chat_data", "bot_data")
    ]
    return {data[0][1]["n"], data[1][1]["n"], data[2]["n"]}


async def test_snapshot_of_a_running_bot_is_one_save(tmp_path: Path) -> None:
    live = tmp_path / "live"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(live)], stdout=subprocess.PIPE, text=True, env=ENV
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "running"
        seen = []
        for attempt in range(3):
            snapshot = jsonpersist(
                "snapshot", live, tmp_path / "snap", *(["--force"] * bool(attempt))
            )
            assert snapshot.returncode == 0, snapshot.stderr
            (round_,) = rounds_in(tmp_path / "snap")  # every file from the same save
            seen.append(round_)
        assert seen == sorted(seen)
        assert seen[-1] > seen[0]  # the bot kept saving meanwhile
        assert (tmp_path / "snap" / ".gitignore").read_text() == (live / ".gitignore").read_text()
        assert jsonpersist("check", tmp_path / "snap").returncode == 0
        assert jsonpersist("check", live).returncode == 0  # reads without the owner's lock

        # Unlocked copies are mixed only now and then, so show the lock is taken: while this
        # test holds the round lock, the snapshot (like the bot's next save) waits for it.
        with Store(live).round_lock():
            waiting = subprocess.Popen(
                [sys.executable, "-m", "jsonpersist", "snapshot", live, tmp_path / "held"],
                env=ENV,
            )
            with pytest.raises(subprocess.TimeoutExpired):
                waiting.wait(timeout=2)
            (held_round,) = rounds_in(live)
        assert waiting.wait(timeout=30) == 0
        (copied_round,) = rounds_in(tmp_path / "held")
        assert copied_round >= held_round  # the bot may save once more before it gets the lock

        locked = jsonpersist("snapshot", tmp_path / "snap", live, "--force")
        assert locked.returncode == 3
        assert f"in use by process {writer.pid}" in locked.stderr
        bot = new_bot()
        await write_pickle(tmp_path / "bot.pickle", True, bot, sample_state(bot))
        importing = jsonpersist("import-pickle", tmp_path / "bot.pickle", live, "--force")
        assert importing.returncode == 3
        assert f"in use by process {writer.pid}" in importing.stderr
        assert writer.poll() is None
    finally:
        writer.kill()
        writer.wait()


async def test_refusals_and_replacing_with_force(tmp_path: Path) -> None:
    bot = new_bot()
    await write_pickle(tmp_path / "bot.pickle", True, bot, sample_state(bot))
    directory = tmp_path / "state"
    await write_json(directory, bot, {**sample_state(bot), "user_data": {99: {"old": True}}})
    before = state_bytes(directory)

    refused = jsonpersist("import-pickle", tmp_path / "bot.pickle", directory)
    assert refused.returncode == 2
    assert "--force" in refused.stderr
    assert state_bytes(directory) == before
    (directory / "chat_data.json").write_text("{")
    damaged = jsonpersist("import-pickle", tmp_path / "bot.pickle", directory, "--force")
    assert damaged.returncode == 1
    assert re.search(r"chat_data.json line \d+, column \d+: not valid JSON", damaged.stderr)
    assert (directory / "user_data.json").read_bytes() == before["user_data.json"]
    (directory / "chat_data.json").write_bytes(before["chat_data.json"])
    replaced = jsonpersist("import-pickle", tmp_path / "bot.pickle", directory, "--force")
    assert replaced.returncode == 0, replaced.stderr
    assert set((await read_json(directory, bot))["user_data"]) == {7, 8}

    exists = jsonpersist("export-pickle", directory, tmp_path / "bot.pickle")
    assert exists.returncode == 2
    assert "--force" in exists.stderr
    missing = jsonpersist("import-pickle", tmp_path / "nothing.pickle", tmp_path / "new")
    assert missing.returncode == 2
    assert "nothing.pickle_user_data" in missing.stderr
    (tmp_path / "junk.pickle").write_bytes(b"not a pickle")
    junk = jsonpersist("import-pickle", tmp_path / "junk.pickle", tmp_path / "new")
    assert junk.returncode == 1
    assert "cannot load" in junk.stderr
    assert not (tmp_path / "new").exists()
    no_dir = jsonpersist("check", tmp_path / "absent")
    assert no_dir.returncode == 2
    assert not (tmp_path / "absent").exists()
    assert jsonpersist("show", directory, "--key", "7").returncode == 2
    assert jsonpersist("show", directory, "user_data", "--key", "12345").returncode == 1


def test_help_has_examples_and_exit_codes() -> None:
    overview = jsonpersist("--help")
    assert overview.returncode == 0
    assert "exit codes:" in overview.stdout
    for command in ("check", "show", "import-pickle", "export-pickle", "snapshot"):
        result = jsonpersist(command, "--help")
        assert result.returncode == 0
        assert f"examples:\n  jsonpersist {command} " in result.stdout
    assert "Unpickling runs code" in jsonpersist("import-pickle", "--help").stdout
    assert jsonpersist("no-such-command").returncode == 2
    check = "C" if _plain._speedups is not None else "Python, the C module was not built"
    version = jsonpersist("--version").stdout
    assert version == f"jsonpersist {__version__} (plain-JSON check: {check})\n"
    script = Path(sys.executable).with_name("jsonpersist")
    if script.exists():  # the console script of an installed jsonpersist
        assert (
            subprocess.run([script, "--version"], capture_output=True, check=False).returncode == 0
        )


async def test_large_import_shows_progress(tmp_path: Path) -> None:
    bot = new_bot()
    state = {**sample_state(bot), "user_data": {user: {"n": user} for user in range(2500)}}
    await write_pickle(tmp_path / "bot.pickle", True, bot, state)
    result = jsonpersist("import-pickle", tmp_path / "bot.pickle", tmp_path / "state")
    assert result.returncode == 0, result.stderr
    assert "checked 1,000 of 2,505 entries" in result.stderr
    assert "checked 2,000 of 2,505 entries" in result.stderr
    assert "user_data: 2,500 users" in result.stdout
    assert len((await read_json(tmp_path / "state", bot))["user_data"]) == 2500


V1_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "v1" / "typical"


def test_check_says_which_format_version_it_read_and_rewrites_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    shutil.copytree(V1_FIXTURES, directory)
    before = state_bytes(directory)
    checked = jsonpersist("check", directory)
    assert checked.returncode == 0, checked.stderr
    assert "format version 1 in user_data, chat_data, bot_data, callback_data, conversations" in (
        checked.stdout
    )
    assert state_bytes(directory) == before  # check reads; the bot rewrites at its next save


def test_check_names_a_merge_conflict_with_its_lines_and_entries(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    directory.mkdir()
    users = directory / "user_data.json"
    users.write_bytes(
        b'[{"jsonpersist":2,"category":"user_data"}\n,[1,{}]\n<<<<<<< ours\n,[5,{"a":1}]\n'
        b'=======\n,[5,{"a":2}]\n>>>>>>> theirs\n]\n'
    )
    checked = jsonpersist("check", directory)
    assert checked.returncode == 1
    assert f"{users.resolve()} line 3: merge conflict at lines 3-7 (user_data[5])" in (
        checked.stderr
    )
    assert "not valid JSON" not in checked.stderr
