"""Nothing a person edits or the application hands over is lost, and nothing saved breaks a start.

Each test here reproduces a loss found by trying the library as an attacker and as PTB's own
tests would (watch mode overwriting edits, values saved that could not load again, files read
too laxly, tools reading half a round), driven through a real Application where the behaviour
depends on it.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import itertools
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from offline import BOT_TOKEN, OfflineRequest
from state_files import document, edit, entries
from strategies import values
from telegram import TelegramObject, Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from jsonpersist import (
    Codec,
    CorruptStateError,
    JsonPersistence,
    StateWriteError,
    UnsupportedTypeError,
)

_ids = itertools.count(1)


def message(application: Application, user_id: int, text: str = "hi") -> Update:
    user = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
    data: dict[str, Any] = {
        "update_id": next(_ids),
        "message": {
            "message_id": next(_ids),
            "date": int(dtm.datetime.now(dtm.timezone.utc).timestamp()),
            "chat": {"id": user_id, "type": "private"},
            "from": user,
            "text": text,
        },
    }
    return Update.de_json(data, application.bot)


class Bot:
    """A real Application whose handler counts each user's messages and records what it saw."""

    def __init__(self, directory: Path, **options: Any) -> None:
        self.seen: dict[int, list[dict[str, Any]]] = {}
        self.errors: list[BaseException] = []
        self.on_message: Callable[[ContextTypes.DEFAULT_TYPE], None] | None = None
        self.persistence = JsonPersistence(directory, update_interval=3600, **options)
        self.app = (
            Application.builder()
            .token(BOT_TOKEN)
            .request(OfflineRequest())
            .get_updates_request(OfflineRequest())
            .persistence(self.persistence)
            .build()
        )
        self.app.add_handler(MessageHandler(filters.ALL, self.handle))
        self.app.add_error_handler(self.on_error)

    async def handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_user is not None
        self.seen.setdefault(update.effective_user.id, []).append(
            {"user": dict(context.user_data), "bot": dict(context.bot_data)}
        )
        context.user_data["count"] = context.user_data.get("count", 0) + 1
        if self.on_message is not None:
            self.on_message(context)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        self.errors.append(context.error)  # type: ignore[arg-type]

    async def say(self, user_id: int) -> dict[str, Any]:
        await self.app.process_update(message(self.app, user_id))
        return self.seen[user_id][-1]


def on_disk(path: Path) -> dict[Any, Any]:
    return entries(path)


# ------------------------------------------------------------------- watch mode keeps edits


async def test_an_edit_is_kept_when_another_users_message_reads_the_file_first(
    tmp_path: Path,
) -> None:
    bot = Bot(tmp_path, watch=True)
    users = tmp_path / "user_data.json"
    async with bot.app:
        await bot.say(5)
        await bot.app.update_persistence()
        await bot.say(5)  # the handler changes user 5 again (not saved yet)
        edit(users, lambda data: data[5].update(note="VIP"))
        await bot.say(6)  # its refresh reads the edited file
        await bot.app.update_persistence()
        assert on_disk(users)[5] == {"count": 1, "note": "VIP"}
        seen = await bot.say(5)  # user 5's next handler is given the edit
        assert seen["user"] == {"count": 1, "note": "VIP"}
        await bot.app.update_persistence()
    assert on_disk(users)[5] == {"count": 2, "note": "VIP"}
    assert bot.errors == []


async def test_an_unsaved_change_survives_an_edit_of_another_bot_data_key(
    tmp_path: Path,
) -> None:
    bot = Bot(tmp_path, watch=True)
    async with bot.app:
        bot.app.bot_data["a"] = "old"
        await bot.app.update_persistence()
        bot.app.bot_data["a"] = "new"  # a handler's change, not saved yet
        edit(tmp_path / "bot_data.json", lambda data: data.update(b="added"))
        seen = await bot.say(5)
        assert seen["bot"] == {"a": "new", "b": "added"}
        await bot.app.update_persistence()
    assert on_disk(tmp_path / "bot_data.json") == {"a": "new", "b": "added"}


async def test_a_malformed_edit_is_not_overwritten_at_shutdown(tmp_path: Path) -> None:
    bot = Bot(tmp_path, watch=True)
    users = tmp_path / "user_data.json"
    await bot.app.initialize()
    await bot.app.start()
    await bot.say(5)
    await bot.app.update_persistence()
    half_done = users.read_text()[:-12]  # an editor's save of a half-finished edit
    users.write_text(half_done)
    await bot.say(5)
    await bot.app.update_persistence()  # refused: reported to the error handlers
    assert any(isinstance(error, CorruptStateError) for error in bot.errors)
    await bot.app.stop()
    with pytest.raises(CorruptStateError):
        await bot.app.shutdown()  # flush() reports it too, and writes nothing over it
    assert users.read_text() == half_done


async def test_a_valid_edit_is_not_undone_by_the_shutdown_flush(tmp_path: Path) -> None:
    first = Bot(tmp_path, on_flush=True)
    async with first.app:
        await first.say(7)
        await first.say(8)
    users = tmp_path / "user_data.json"
    assert on_disk(users) == {7: {"count": 1}, 8: {"count": 1}}

    second = Bot(tmp_path, on_flush=True, watch=True)
    async with second.app:
        await second.say(7)
        await second.say(8)
        await second.app.update_persistence()  # encoded only: on_flush writes at shutdown
        edit(users, lambda data: data[7].update(note="edited"))
    # Both changed user 7: merged key by key, the bot's unsaved count and the person's note.
    assert on_disk(users) == {7: {"count": 2, "note": "edited"}, 8: {"count": 2}}


# ------------------------------------------------- values that cannot come back are refused


class Note(TelegramObject):
    """A Telegram object of the application's own that rebuilds faithfully."""

    __slots__ = ("text",)

    def __init__(self, text: str, *, api_kwargs: Any = None) -> None:
        super().__init__(api_kwargs=api_kwargs)
        self.text = text
        self._id_attrs = (text,)
        self._freeze()


class NoKwargs(TelegramObject):
    """PTB's de_json passes api_kwargs, which this __init__ does not take."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self._freeze()


class Secret(TelegramObject):
    """A private attribute that to_dict() leaves out."""

    __slots__ = ("_secret", "text")

    def __init__(self, text: str, secret: str | None = None, *, api_kwargs: Any = None) -> None:
        super().__init__(api_kwargs=api_kwargs)
        self.text = text
        self._secret = secret
        self._freeze()


async def test_an_object_that_cannot_come_back_fails_its_own_user_and_the_bot_restarts(
    tmp_path: Path,
) -> None:
    stored = {5: Note("kept"), 6: NoKwargs("lost"), 7: Secret("text", "s3cret")}
    bot = Bot(tmp_path)

    def store(context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context._user_id is not None
        context.user_data["object"] = stored[context._user_id]

    bot.on_message = store
    async with bot.app:
        for user_id in stored:
            await bot.say(user_id)
        await bot.app.update_persistence()
    refused = sorted(
        error.where for error in bot.errors if isinstance(error, UnsupportedTypeError)
    )
    assert refused == ["user_data[6]['object']", "user_data[7]['object']"]

    again = Bot(tmp_path)
    async with again.app:  # today's code failed here: user_data.json did not load
        assert again.app.user_data[5]["object"] == Note("kept")
        assert again.app.user_data[5]["object"].text == "kept"
        assert "object" not in again.app.user_data.get(6, {})


CODEC = Codec()
TELEGRAM_OBJECTS = st.sampled_from(
    [Note("a"), NoKwargs("b"), Secret("c"), Secret("d", "hidden"), Note("e")]
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.dictionaries(st.text(max_size=3), values() | TELEGRAM_OBJECTS, max_size=3))
async def test_whatever_an_update_accepted_loads_again(tmp_path: Path, value: Any) -> None:
    directory = tmp_path / f"state-{next(_ids)}"
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    await persistence.get_user_data()
    try:
        await persistence.update_user_data(1, value)
    except UnsupportedTypeError:
        await persistence.flush()
        return
    await persistence.flush()
    again: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    loaded = (await again.get_user_data())[1]
    await again.flush()
    # The same bytes once encoded again: types, keys, NaN signs and Telegram objects alike.
    assert CODEC.dumps(loaded) == CODEC.dumps(value)
    for key, item in value.items():
        assert type(loaded[key]) is type(item)


@pytest.mark.parametrize(
    ("update", "where"),
    [
        (lambda p: p.update_user_data(1, 1), "user_data[1]"),
        (lambda p: p.update_chat_data(1, "x"), "chat_data[1]"),
        (lambda p: p.update_bot_data(5), "bot_data"),
        (lambda p: p.update_callback_data("x"), "callback_data"),
        (lambda p: p.update_callback_data(([("kb", "noon", {})], {})), "callback_data"),
    ],
    ids=["user int", "chat str", "bot int", "callback str", "callback time"],
)
async def test_a_value_of_the_wrong_shape_is_refused_and_the_file_stays_loadable(
    tmp_path: Path, update: Callable[[Any], Any], where: str
) -> None:
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    await persistence.get_user_data()
    await persistence.update_user_data(2, {"kept": True})
    with pytest.raises(UnsupportedTypeError) as raised:
        await update(persistence)
    assert raised.value.where.startswith(where)
    await persistence.flush()
    again: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    assert await again.get_user_data() == {2: {"kept": True}}
    assert await again.get_chat_data() == {}
    assert await again.get_bot_data() == {}
    assert await again.get_callback_data() is None
    await again.flush()


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"keyboards": [[7, 1.5, {}]], "queries": {}}, "callback_data['keyboards'][0][0]"),
        ({"keyboards": [["kb", 1.5, [["b", 1]]]], "queries": {}}, "['keyboards'][0][2]"),
        ({"keyboards": [], "queries": [["q", "kb"]]}, "callback_data['queries']"),
        ({"keyboards": [], "queries": {}, "extra": 1}, "callback_data"),
    ],
    ids=["int id", "buttons as pairs", "queries as pairs", "an extra key"],
)
async def test_a_loose_version_1_callback_data_file_is_refused_naming_the_place(
    tmp_path: Path, data: dict[str, Any], where: str
) -> None:
    document = {"jsonpersist": 1, "category": "callback_data", "data": data}
    await _refused_naming(tmp_path, json.dumps(document, indent=2), where)


@pytest.mark.parametrize(
    ("members", "where"),
    [
        ([["keyboard", 7, [1.5, {}]]], "entry 1"),
        ([["keyboard", "kb", [1.5, [["b", 1]]]]], "callback_data['keyboards'][0][2]"),
        ([["keyboard", "kb", ["noon", {}]]], "callback_data['keyboards'][0][1]"),
        ([["keyboard", "kb", [{}]]], "callback_data['keyboard']['kb']"),
        ([["keyboard", "kb", [1.5, {}]], ["query", "q", 5]], "callback_data['queries']"),
        ([["keyboard", "kb", [1.5, {}]], ["extra", "x", 1]], "entry 2"),
    ],
    ids=[
        "int id",
        "buttons as pairs",
        "time as text",
        "no time",
        "a query's keyboard as an int",
        "another kind",
    ],
)
async def test_a_loose_callback_data_file_is_refused_naming_the_place(
    tmp_path: Path, members: list[list[Any]], where: str
) -> None:
    await _refused_naming(tmp_path, document("callback_data", members), where)


async def _refused_naming(directory: Path, text: str, where: str) -> None:
    path = directory / "callback_data.json"
    path.write_text(text)
    before = path.read_bytes()
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    with pytest.raises(CorruptStateError) as raised:
        await persistence.get_callback_data()
    assert where in raised.value.where
    assert raised.value.file == path
    await persistence.flush()
    assert path.read_bytes() == before


async def test_a_save_larger_than_max_file_size_is_refused_and_the_bot_still_starts(
    tmp_path: Path,
) -> None:
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path, max_file_size=4096)
    await persistence.get_user_data()
    await persistence.update_user_data(1, {"small": 1})
    before = (tmp_path / "user_data.json").read_bytes()
    results = await asyncio.gather(
        persistence.update_user_data(2, {"big": "x" * 5000}),
        persistence.update_chat_data(3, {"other": "category"}),
        return_exceptions=True,
    )
    assert isinstance(results[0], StateWriteError)
    assert "max_file_size" in str(results[0])
    assert results[1] is None  # the other category of the round is written
    assert (tmp_path / "user_data.json").read_bytes() == before
    with pytest.raises(StateWriteError):
        await persistence.flush()  # the change is kept (with the directory) and still refused
    # What is on disk loads with the bot's own settings.
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(
        tmp_path, max_file_size=4096, read_only=True
    )
    assert await reader.get_user_data() == {1: {"small": 1}}
    assert await reader.get_chat_data() == {3: {"other": "category"}}


# ------------------------------------------------------------ tools see one round, not two


async def test_show_and_export_read_a_crash_left_round_as_the_journal_decided(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    old: JsonPersistence[Any, Any, Any] = JsonPersistence(state)
    await old.get_user_data()
    await asyncio.gather(old.update_user_data(1, {"v": "old"}), old.update_chat_data(-1, {}))
    await old.flush()
    # The next round, written by a real persistence elsewhere, left as temporary files and a
    # journal: what a kill -9 between the journal and the renames leaves behind.
    scratch = tmp_path / "scratch"
    new: JsonPersistence[Any, Any, Any] = JsonPersistence(scratch)
    await new.get_user_data()
    await asyncio.gather(new.update_user_data(1, {"v": "new"}), new.update_chat_data(-1, {"v": 2}))
    await new.flush()
    moves = {}
    for name in ("user_data.json", "chat_data.json"):
        moves[name] = f".{name}.crash1.tmp"
        (state / moves[name]).write_bytes((scratch / name).read_bytes())
    journal = {"jsonpersist-journal": 1, "moves": moves}
    (state / ".jsonpersist.journal").write_text(json.dumps(journal))

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    shown = subprocess.run(
        [sys.executable, "-m", "jsonpersist", "show", str(state)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "'v': 'new'" in shown.stdout
    assert "'v': 'old'" not in shown.stdout
    assert "-1: {'v': 2}" in shown.stdout

    target = tmp_path / "bot.pickle"
    exported = subprocess.run(
        [sys.executable, "-m", "jsonpersist", "export-pickle", str(state), str(target)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    data = pickle.loads(target.read_bytes())
    assert data["user_data"] == {1: {"v": "new"}}
    assert data["chat_data"] == {-1: {"v": 2}}


async def test_a_handler_name_utf8_cannot_hold_fails_only_its_own_update(tmp_path: Path) -> None:
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    await persistence.get_conversations("ok")
    results = await asyncio.gather(
        persistence.update_conversation("\ud800", (1, 2), "s"),
        persistence.update_user_data(1, {"a": 1}),
        persistence.update_conversation("ok", (1,), 1),
        return_exceptions=True,
    )
    assert isinstance(results[0], UnsupportedTypeError)
    assert results[1:] == [None, None]
    await persistence.flush()
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path, read_only=True)
    assert await reader.get_conversations("ok") == {(1,): 1}
    assert await reader.get_user_data() == {1: {"a": 1}}


async def test_an_application_that_cannot_load_does_not_keep_the_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "user_data.json").write_text("{ not json")
    bot = Bot(tmp_path)
    with pytest.raises(CorruptStateError):
        await bot.app.initialize()
    (tmp_path / "user_data.json").unlink()  # fixed (here: removed) while the process runs
    again = Bot(tmp_path)  # a second start in the same process gets the directory
    async with again.app:
        await again.say(5)
    assert on_disk(tmp_path / "user_data.json") == {5: {"count": 1}}


async def test_a_state_orjson_refuses_to_parse_still_loads(tmp_path: Path) -> None:
    # orjson 3.13.0 says "failed to allocate memory" for this valid file, as jsonpersist
    # writes it: the bot must still start on its own state.
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    await persistence.get_bot_data()
    await persistence.update_bot_data({"x": [[1]] * 1300})
    await persistence.flush()
    again: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    assert await again.get_bot_data() == {"x": [[1]] * 1300}
    await again.flush()
