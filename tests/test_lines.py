"""What one change of a real bot's state does to its files, as git sees it (issues 14 and 15).

A real PTB ``Application`` (offline) with 2,000 users, each in a persistent
``ConversationHandler``, saves into a state directory that is a git work tree. Each test makes
one change through the application, saves, and reads ``git diff --numstat`` of the state files:
one user's change is one line out and one in, a conversation step or a new user touches a few
lines, an ended conversation takes exactly its own line away. A round also encodes only what
changed, however many conversations are active.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import subprocess
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from offline import BOT_TOKEN, OfflineRequest
from state_files import entries
from telegram import Update
from telegram.ext import (
    Application,
    CallbackContext,
    CommandHandler,
    ConversationHandler,
    ExtBot,
    MessageHandler,
    filters,
)

from jsonpersist import Codec, JsonPersistence
from jsonpersist._entries import EntryCodec

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

USERS = 2_000
#: Telegram-like ids, two apart, so that a new user can come between two neighbours.
FIRST_ID = 1_000_000_000
IDS = [FIRST_ID + 2 * number for number in range(USERS)]
HANDLER = "signup"
NAME, AGE = 1, 2
JOINED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
#: The key of the README's example: one key a JSON object cannot hold in a user's data.
LAST = ("last", "message")
FILES = ("bot_data.json", "chat_data.json", "conversations.json", "user_data.json")
MAX_LINES = 6
#: Bot data keyed by user id (issue 15's shape), and a few named keys.
BOT_DATA: dict[Any, Any] = {
    **{user: {"invited": 1} for user in reversed(IDS[:300])},
    "likes": 0,
    "motd": "hello",
}
MAX_DIFF = 4096

AnyApp = Application[Any, Any, Any, Any, Any, Any]
AnyContext = CallbackContext[Any, Any, Any, Any]
_update_ids = itertools.count(1)


# ------------------------------------------------------------------------------- the bot


async def start(update: Update, context: AnyContext) -> int:
    assert context.user_data is not None
    assert update.effective_message is not None
    context.user_data.setdefault("joined", JOINED)
    context.user_data.setdefault("tags", {"new"})
    context.user_data[LAST] = update.effective_message.text
    return NAME


async def got_name(update: Update, context: AnyContext) -> int:
    assert context.user_data is not None
    assert update.effective_message is not None
    context.user_data["name"] = update.effective_message.text
    context.user_data[LAST] = update.effective_message.text
    return AGE


async def got_age(update: Update, context: AnyContext) -> int:
    assert context.user_data is not None
    assert update.effective_message is not None
    context.user_data["age"] = int(update.effective_message.text or "0")
    context.user_data[LAST] = update.effective_message.text
    return ConversationHandler.END


async def score(update: Update, context: AnyContext) -> None:
    assert context.user_data is not None
    context.user_data["score"] = context.user_data.get("score", 0) + 1


async def like(update: Update, context: AnyContext) -> None:
    context.bot_data["likes"] = context.bot_data.get("likes", 0) + 1


def application(directory: Path) -> AnyApp:
    """A real Application on ``directory``: a persistent sign-up conversation and /score."""
    request = OfflineRequest()
    bot: ExtBot[None] = ExtBot(BOT_TOKEN, request=request, get_updates_request=OfflineRequest())
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory, update_interval=3600)
    app: AnyApp = Application.builder().bot(bot).persistence(persistence).build()
    text = filters.TEXT & ~filters.COMMAND
    app.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("start", start)],
            states={
                NAME: [MessageHandler(text, got_name)],
                AGE: [MessageHandler(filters.Regex(r"^\d+$"), got_age)],
            },
            fallbacks=[],
            name=HANDLER,
            persistent=True,
            allow_reentry=True,
        )
    )
    app.add_handler(CommandHandler("score", score), group=1)
    app.add_handler(CommandHandler("like", like), group=1)
    return app


def message(app: AnyApp, user: int, text: str) -> Update:
    """A private message from ``user`` as Telegram sends it."""
    update_id = next(_update_ids)
    raw: dict[str, Any] = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000 + update_id,
            "chat": {"id": user, "type": "private", "first_name": f"User {user}"},
            "from": {"id": user, "is_bot": False, "first_name": f"User {user}"},
            "text": text,
        },
    }
    if text.startswith("/"):
        length = len(text.split(maxsplit=1)[0])
        raw["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    update = Update.de_json(raw, app.bot)
    assert update is not None
    return update


async def say(app: AnyApp, user: int, *texts: str) -> None:
    for text in texts:
        await app.process_update(message(app, user, text))


async def seed(directory: Path, users: list[int], bot_data: dict[Any, Any] | None = None) -> None:
    """Every user has started and given a name: their conversations wait for the age."""
    app = application(directory)
    async with app:
        for user in users:
            await say(app, user, "/start", f"User {user}")
        app.bot_data.update(bot_data or {})
        await app.update_persistence()
        assert app.persistence is not None
        assert len(await app.persistence.get_conversations(HANDLER)) == len(users)


# ------------------------------------------------------------------------------------ git


class Repo:
    """The state directory as a git work tree; only the state files are committed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.git("init", "-q")
        self.commit()

    def git(self, *args: str) -> str:
        done = subprocess.run(
            [
                "git",
                *("-c", "user.name=jsonpersist tests", "-c", "user.email=tests@example.org"),
                *("-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"),
                *args,
            ],
            cwd=self.directory,
            env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def commit(self) -> None:
        self.git("add", "-A", "--", "*.json")
        self.git("commit", "-q", "--allow-empty", "-m", "state")

    def numstat(self) -> dict[str, tuple[int, int]]:
        """``git diff --numstat`` of the state files since the last commit: (added, deleted)."""
        self.git("add", "-A", "--", "*.json")
        out = {}
        for line in self.git("diff", "--cached", "--numstat").splitlines():
            added, deleted, name = line.split("\t")
            out[name] = (int(added), int(deleted))
        return out

    def diff(self) -> str:
        """The diff git shows for it (what a reviewer reads)."""
        self.git("add", "-A", "--", "*.json")
        return self.git("diff", "--cached")

    def lines(self, name: str, sign: str) -> list[str]:
        """The lines of ``name`` the diff removes (``-``) or adds (``+``)."""
        self.git("add", "-A", "--", "*.json")
        diff = self.git("diff", "--cached", "-U0", "--", name).splitlines()
        return [line[1:] for line in diff if line[:1] == sign and line[:3] != sign * 3]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory saved by the bot with :data:`USERS` users, made once per module."""
    directory = tmp_path_factory.mktemp("seeded") / "state"
    asyncio.run(seed(directory, IDS, BOT_DATA))
    return directory


@pytest.fixture
def state(seeded: Path, tmp_path: Path) -> tuple[Path, Repo]:
    """A copy of the seeded state directory, committed to a fresh git repository."""
    directory = tmp_path / "state"
    shutil.copytree(seeded, directory)
    return directory, Repo(directory)


def total_lines(numstat: dict[str, tuple[int, int]]) -> int:
    return sum(added + deleted for added, deleted in numstat.values())


# ------------------------------------------------------------------------------ the diffs


def test_the_seeded_state_is_one_line_per_user_and_per_conversation(seeded: Path) -> None:
    users = entries(seeded / "user_data.json")
    assert list(users) == IDS
    conversations = entries(seeded / "conversations.json")
    assert list(conversations) == [(HANDLER, (user, user)) for user in IDS]
    assert set(conversations.values()) == {AGE}
    lines = (seeded / "conversations.json").read_text().splitlines()
    assert len(lines) == USERS + 2  # the header, one line per conversation, the end
    assert lines[1] == f',["{HANDLER}",[{FIRST_ID},{FIRST_ID}],{AGE}]'


async def test_one_users_change_is_one_line_out_and_one_in(
    state: tuple[Path, Repo],
) -> None:
    directory, repo = state
    user = IDS[USERS // 2]
    neighbours = [IDS[USERS // 2 - 1], IDS[USERS // 2 + 1]]  # ids two apart
    app = application(directory)
    async with app:
        await say(app, user, "/score")
        await app.update_persistence()
        assert repo.numstat() == {"user_data.json": (1, 1)}
    assert repo.numstat() == {"user_data.json": (1, 1)}  # the shutdown's save adds nothing
    (removed,) = repo.lines("user_data.json", "-")
    (added,) = repo.lines("user_data.json", "+")
    assert removed.startswith(f",[{user},")
    assert added.startswith(f",[{user},")
    assert '"score":1' in added
    users = entries(directory / "user_data.json")
    assert users[user]["score"] == 1
    assert all("score" not in users[other] for other in neighbours)


async def test_a_users_str_keys_stay_readable_beside_a_tuple_key(
    state: tuple[Path, Repo],
) -> None:
    directory, _ = state
    user = IDS[0]
    data = entries(directory / "user_data.json")[user]
    # Only the tuple key is tagged; the str keys are plain members of the user's object.
    assert data["name"] == f"User {user}"
    assert data["tags"] == {"$set": ["new"]}
    assert data["$dict"] == [[{"$tuple": list(LAST)}, f"User {user}"]]
    app = application(directory)
    async with app:
        assert app.user_data[user][LAST] == f"User {user}"
        assert app.user_data[user]["joined"] == JOINED


async def test_a_message_that_changes_nothing_writes_nothing(state: tuple[Path, Repo]) -> None:
    directory, repo = state
    before = {name: (directory / name).stat().st_mtime_ns for name in FILES}
    app = application(directory)
    async with app:
        await say(app, IDS[3], "not an age")  # no handler takes it in state AGE
        await app.update_persistence()
    assert repo.numstat() == {}
    assert {name: (directory / name).stat().st_mtime_ns for name in FILES} == before


async def test_a_conversation_step_changes_a_few_lines(state: tuple[Path, Repo]) -> None:
    directory, repo = state
    user = IDS[1234]
    app = application(directory)
    async with app:
        await say(app, user, "/start")  # started again: AGE -> NAME
        await app.update_persistence()
        numstat = repo.numstat()
        diff = repo.diff()
    assert numstat == {"conversations.json": (1, 1), "user_data.json": (1, 1)}
    assert total_lines(numstat) <= MAX_LINES
    assert len(diff.encode()) < MAX_DIFF, len(diff.encode())
    assert repo.lines("conversations.json", "-") == [f',["{HANDLER}",[{user},{user}],{AGE}]']
    assert repo.lines("conversations.json", "+") == [f',["{HANDLER}",[{user},{user}],{NAME}]']


async def test_a_new_users_first_step_changes_a_few_lines(state: tuple[Path, Repo]) -> None:
    directory, repo = state
    newcomer = IDS[100] + 1  # between two neighbours
    app = application(directory)
    async with app:
        await say(app, newcomer, "/start")
        await app.update_persistence()
        repo.commit()
        await say(app, newcomer, "Newcomer")  # NAME -> AGE
        await app.update_persistence()
        numstat = repo.numstat()
        diff = repo.diff()
    assert numstat == {"conversations.json": (1, 1), "user_data.json": (1, 1)}
    assert total_lines(numstat) <= MAX_LINES
    assert len(diff.encode()) < MAX_DIFF, len(diff.encode())
    conversation = f',["{HANDLER}",[{newcomer},{newcomer}],'
    assert repo.lines("conversations.json", "-") == [f"{conversation}{NAME}]"]
    assert repo.lines("conversations.json", "+") == [f"{conversation}{AGE}]"]


@pytest.mark.parametrize(
    "newcomer",
    [FIRST_ID - 5, IDS[USERS // 2] + 1, IDS[-1] + 1, IDS[-1] + 10**9],
    ids=["before the first", "between two neighbours", "next to the last", "after the last"],
)
async def test_a_new_user_adds_lines_and_changes_none(
    state: tuple[Path, Repo], newcomer: int
) -> None:
    directory, repo = state
    before = {name: (directory / name).read_text().splitlines() for name in FILES}
    app = application(directory)
    async with app:
        await say(app, newcomer, "/start")
        await app.update_persistence()
        numstat = repo.numstat()
        diff = repo.diff()
    assert all(deleted == 0 for _, deleted in numstat.values()), numstat
    assert numstat == {
        "chat_data.json": (1, 0),
        "conversations.json": (1, 0),
        "user_data.json": (1, 0),
    }
    assert total_lines(numstat) <= MAX_LINES
    assert len(diff.encode()) < MAX_DIFF, len(diff.encode())
    for name in FILES:
        after = (directory / name).read_text().splitlines()
        # Every line that was there is still there, unchanged and in the same order.
        kept = [line for line in after if line in set(before[name])]
        assert kept == before[name], name
    assert repo.lines("conversations.json", "+") == [
        f',["{HANDLER}",[{newcomer},{newcomer}],{NAME}]'
    ]
    assert repo.lines("chat_data.json", "+") == [f",[{newcomer},{{}}]"]


async def test_ending_a_conversation_removes_exactly_its_line(
    state: tuple[Path, Repo],
) -> None:
    directory, repo = state
    user = IDS[USERS - 2]
    app = application(directory)
    async with app:
        await say(app, user, "42")  # AGE -> END
        await app.update_persistence()
        numstat = repo.numstat()
    assert numstat == {"conversations.json": (0, 1), "user_data.json": (1, 1)}
    assert repo.lines("conversations.json", "-") == [f',["{HANDLER}",[{user},{user}],{AGE}]']
    assert repo.lines("conversations.json", "+") == []
    conversations = entries(directory / "conversations.json")
    assert len(conversations) == USERS - 1
    assert (HANDLER, (user, user)) not in conversations
    assert entries(directory / "user_data.json")[user]["age"] == 42


async def test_dropping_a_user_and_their_chat_removes_exactly_their_lines(
    state: tuple[Path, Repo],
) -> None:
    directory, repo = state
    user = IDS[500]
    app = application(directory)
    async with app:
        app.drop_user_data(user)
        app.drop_chat_data(user)
        await app.update_persistence()
        numstat = repo.numstat()
    assert numstat == {"chat_data.json": (0, 1), "user_data.json": (0, 1)}
    (removed,) = repo.lines("user_data.json", "-")
    assert removed.startswith(f",[{user},")
    assert repo.lines("chat_data.json", "-") == [f",[{user},{{}}]"]
    assert user not in entries(directory / "user_data.json")
    assert len(entries(directory / "user_data.json")) == USERS - 1


async def test_one_bot_data_key_is_one_line_out_and_one_in(state: tuple[Path, Repo]) -> None:
    directory, repo = state
    lines = (directory / "bot_data.json").read_text().splitlines()
    assert len(lines) == len(BOT_DATA) + 2  # a line per top-level key
    assert [int(line[2:].split(",", 1)[0]) for line in lines[1:301]] == IDS[:300]  # numeric
    app = application(directory)
    async with app:
        await say(app, IDS[9], "/like")
        await app.update_persistence()
        numstat = repo.numstat()
    assert numstat == {"bot_data.json": (1, 1)}
    assert repo.lines("bot_data.json", "-") == [',["likes",0]']
    assert repo.lines("bot_data.json", "+") == [',["likes",1]']


# ----------------------------------------------------------------- work per round (issue 15)


class Encodings:
    """Counts ``Codec.dumps``, ``Codec.decode`` and ``EntryCodec.encode`` calls (the real ones
    still run), and the bytes ``Codec.dumps`` returns, by category.

    The bytes tell the work apart from the calls: one call encoding a whole handler's
    conversations would be one call too, but thousands of bytes.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.dumps: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()
        self.decodes: Counter[str] = Counter()
        self.encodes: Counter[str] = Counter()
        dumps, decode, encode = Codec.dumps, Codec.decode, EntryCodec.encode

        def category(where: Any) -> str:
            return str(where).split("[", 1)[0]

        def counting_dumps(codec: Codec, value: Any, where: str = "value") -> bytes:
            out: bytes = dumps(codec, value, where)
            self.dumps[category(where)] += 1
            self.bytes[category(where)] += len(out)
            return out

        def counting_decode(codec: Codec, tree: Any, where: str = "value") -> Any:
            self.decodes[category(where)] += 1
            return decode(codec, tree, where)

        def counting_encode(entries: EntryCodec, category: Any, key: Any, value: Any) -> bytes:
            self.encodes[category.name] += 1
            return encode(entries, category, key, value)

        monkeypatch.setattr(Codec, "dumps", counting_dumps)
        monkeypatch.setattr(Codec, "decode", counting_decode)
        monkeypatch.setattr(EntryCodec, "encode", counting_encode)

    def clear(self) -> None:
        for counter in (self.dumps, self.bytes, self.decodes, self.encodes):
            counter.clear()

    def snapshot(self) -> dict[str, Counter[str]]:
        """The counts so far: ``dumps``, ``bytes``, ``decodes`` and ``encodes``."""
        return {
            "dumps": Counter(self.dumps),
            "bytes": Counter(self.bytes),
            "decodes": Counter(self.decodes),
            "encodes": Counter(self.encodes),
        }


async def one_step_among(
    directory: Path, active: int, counted: Encodings
) -> dict[str, Counter[str]]:
    """Seeds ``active`` conversations, then counts the work of a round with one step."""
    await seed(directory, IDS[:active])
    app = application(directory)
    async with app:
        user = IDS[active // 2]
        await say(app, user, "/start")  # started again: AGE -> NAME
        counted.clear()
        await app.update_persistence()
        assert entries(directory / "conversations.json")[HANDLER, (user, user)] == NAME
        work = counted.snapshot()

        counted.clear()
        await app.update_persistence()  # nothing changed since
        assert counted.encodes["conversations"] == 0
        assert counted.dumps["conversations"] == 0
    return work


async def test_a_round_encodes_only_the_conversation_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted = Encodings(monkeypatch)
    few = await one_step_among(tmp_path / "few", 10, counted)
    many = await one_step_among(tmp_path / "many", 1_000, counted)
    for work in (few, many):
        # One conversation, one user and one chat handed over: each encoded once, alone.
        assert work["encodes"] == {"conversations": 1, "user_data": 1, "chat_data": 1}
        assert work["dumps"]["conversations"] == 1
        assert work["bytes"]["conversations"] <= 8, work  # the state, not the handler
        assert sum(work["dumps"].values()) <= 4, work
        assert sum(work["decodes"].values()) == 0, work  # a round decodes nothing
    # The same work with 1,000 active conversations as with 10.
    assert many["encodes"] == few["encodes"]
    assert many["dumps"] == few["dumps"]
    assert many["bytes"]["conversations"] == few["bytes"]["conversations"]
