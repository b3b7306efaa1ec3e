"""State in git: real git, a real PTB Application, and `jsonpersist merge` as git's driver.

Each scenario commits a base state written by the bot, changes it on two branches by running
the bot again, merges with real git through the driver `jsonpersist git-setup` configured,
then checks the result: `jsonpersist check` passes and the merged state is the base with both
sides' changes and nothing else (or, for one entry changed differently, conflict markers
around that entry's lines only and a `check` that says "merge conflict").
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from offline import BOT_TOKEN, OfflineRequest
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    ExtBot,
    MessageHandler,
    filters,
)

from jsonpersist import JsonPersistence
from jsonpersist._gitsetup import driver_command

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

AnyContext = ContextTypes.DEFAULT_TYPE
STATE = "state"
USERS = [5, *range(1000, 1010), 9000]
_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}

# ---------------------------------------------------------------------------------- the bot


async def _start(update: Update, context: AnyContext) -> None:
    assert context.user_data is not None
    context.user_data["started"] = True


async def _score(update: Update, context: AnyContext) -> None:
    assert update.effective_message is not None
    assert context.user_data is not None
    context.user_data["score"] = int((update.effective_message.text or "").split()[1])


async def _set(update: Update, context: AnyContext) -> None:
    assert update.effective_message is not None
    _, key, value = (update.effective_message.text or "").split()
    context.bot_data[key] = value


async def _forget(update: Update, context: AnyContext) -> None:
    assert update.effective_user is not None
    context.application.drop_user_data(update.effective_user.id)


async def _buy(update: Update, context: AnyContext) -> int:
    return 1


async def _pay(update: Update, context: AnyContext) -> int:
    return 2


def _checkout() -> ConversationHandler[Any]:
    return ConversationHandler(
        entry_points=[CommandHandler("buy", _buy)],
        states={1: [CommandHandler("pay", _pay)], 2: [CommandHandler("pay", _pay)]},
        fallbacks=[],
        name="checkout",
        persistent=True,
    )


def _update(app: Application[Any, Any, Any, Any, Any, Any], user: int, text: str) -> Update:
    number = _update.counter = getattr(_update, "counter", 0) + 1  # type: ignore[attr-defined]
    raw: dict[str, Any] = {
        "update_id": number,
        "message": {
            "message_id": number,
            "date": 1_700_000_000,
            "chat": {"id": user, "type": "private", "first_name": "U"},
            "from": {"id": user, "is_bot": False, "first_name": "U"},
            "text": text,
        },
    }
    if text.startswith("/"):
        length = len(text.split(maxsplit=1)[0])
        raw["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    update = Update.de_json(raw, app.bot)
    assert update is not None
    return update


def run_bot(directory: Path, messages: list[tuple[int, str]]) -> None:
    """Starts the bot on ``directory``, feeds it the messages, saves and shuts it down."""

    async def main() -> None:
        bot: ExtBot[Any] = ExtBot(BOT_TOKEN, request=OfflineRequest())
        app = (
            ApplicationBuilder()
            .bot(bot)
            .persistence(JsonPersistence(directory, update_interval=3600))
            .build()
        )
        app.add_handler(_checkout())
        app.add_handler(CommandHandler("start", _start))
        app.add_handler(CommandHandler("set", _set))
        app.add_handler(CommandHandler("forget", _forget))
        app.add_handler(MessageHandler(filters.Regex(r"^score \d+$"), _score))
        async with app:
            for user, text in messages:
                await app.process_update(_update(app, user, text))
            await app.update_persistence()

    asyncio.run(main())


async def _load(directory: Path) -> dict[str, Any]:
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(directory, read_only=True)
    return {
        "user_data": await reader.get_user_data(),
        "chat_data": await reader.get_chat_data(),
        "bot_data": dict(await reader.get_bot_data()),
        "conversations": await reader.get_conversations("checkout"),
    }


def load(directory: Path) -> dict[str, Any]:
    """What a fresh bot loads from ``directory``, per category."""
    return asyncio.run(_load(directory))


# ---------------------------------------------------------------------------------- git


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=check,
        env={**os.environ, **_ENV},
    )


def jsonpersist(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jsonpersist", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **_ENV},
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A work tree whose base commit holds a bot's state, with the merge driver set up."""
    repo = tmp_path / "bot"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    run_bot(
        repo / STATE,
        [(user, "/start") for user in USERS]
        + [(1000, "score 10"), (1001, "score 11"), (9000, "/buy"), (0, "/set motd hello")],
    )
    setup = jsonpersist(repo, "git-setup", STATE)
    assert setup.returncode == 0, setup.stderr
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    return repo


def branch(repo: Path, name: str, messages: list[tuple[int, str]]) -> None:
    git(repo, "checkout", "-q", "-b", name, "main")
    run_bot(repo / STATE, messages)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", name)


def three_way(base: Any, ours: Any, theirs: Any) -> Any:
    """What a merge of two dicts changed from ``base`` must give (no conflicts)."""
    out = dict(base)
    for side in (ours, theirs):
        for key in base.keys() - side.keys():
            out.pop(key, None)
        for key, value in side.items():
            if base.get(key, object()) != value:
                out[key] = value
    return out


SCENARIOS: dict[str, tuple[list[tuple[int, str]], list[tuple[int, str]]]] = {
    "adjacent ids": ([(1000, "score 20")], [(1001, "score 21")]),
    "distant ids": ([(1000, "score 20")], [(9000, "score 90")]),
    "a new user on each branch": ([(5000, "/start")], [(5001, "/start")]),
    "conversation steps of adjacent users": ([(1000, "/buy")], [(1001, "/buy")]),
    "a conversation step and a conversation start": ([(9000, "/pay")], [(1002, "/buy")]),
    "different bot_data keys": ([(0, "/set a 1")], [(0, "/set b 2")]),
    "a delete and a change of its neighbour": ([(1000, "/forget")], [(1001, "score 31")]),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_two_branches_merge_cleanly_with_both_sides_changes(repo: Path, scenario: str) -> None:
    ours, theirs = SCENARIOS[scenario]
    base = load(repo / STATE)
    branch(repo, "ours", ours)
    mine = load(repo / STATE)
    branch(repo, "theirs", theirs)
    yours = load(repo / STATE)
    git(repo, "checkout", "-q", "ours")
    merged = git(repo, "merge", "--no-edit", "theirs", check=False)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "<<<<<<<" not in "".join(p.read_text() for p in (repo / STATE).glob("*.json"))
    checked = jsonpersist(repo, "check", STATE)
    assert checked.returncode == 0, checked.stderr
    result = load(repo / STATE)
    for name in result:
        assert result[name] == three_way(base[name], mine[name], yours[name]), name
    assert result != base  # both sides changed something, and it is there


def test_the_driver_really_ran(repo: Path) -> None:
    """Without the driver, git's line merge conflicts on adjacent ids: the driver made it clean."""
    assert git(repo, "config", "merge.jsonpersist.driver").stdout.strip() == driver_command()
    attributes = (repo / ".gitattributes").read_text().splitlines()
    assert sorted(attributes) == sorted(
        f"/{STATE}/{name}.json merge=jsonpersist"
        for name in ("user_data", "chat_data", "bot_data", "callback_data", "conversations")
    )
    branch(repo, "ours", [(1000, "score 20")])
    branch(repo, "theirs", [(1001, "score 21")])
    git(repo, "checkout", "-q", "ours")
    plain = git(repo, "-c", "merge.jsonpersist.driver=false", "merge", "theirs", check=False)
    assert plain.returncode != 0  # the driver is what merges them
    git(repo, "merge", "--abort")
    assert git(repo, "merge", "--no-edit", "theirs", check=False).returncode == 0


def test_one_entry_changed_differently_conflicts_on_its_lines_only(repo: Path) -> None:
    branch(repo, "ours", [(1000, "score 20"), (1005, "score 50")])
    branch(repo, "theirs", [(1000, "score 30"), (1006, "score 60")])
    git(repo, "checkout", "-q", "ours")
    merged = git(repo, "merge", "--no-edit", "theirs", check=False)
    assert merged.returncode != 0
    text = (repo / STATE / "user_data.json").read_text()
    lines = text.splitlines()
    start, middle, end = (
        lines.index("<<<<<<< ours"),
        lines.index("======="),
        lines.index(">>>>>>> theirs"),
    )
    assert (middle - start, end - middle) == (2, 2)  # one line of each side
    assert '"score":20' in lines[start + 1]
    assert '"score":30' in lines[middle + 1]
    assert lines[start + 1].startswith(",[1000,")
    assert lines[middle + 1].startswith(",[1000,")
    assert text.count("<<<<<<<") == 1  # the other users merged cleanly
    assert any(line.startswith(",[1005,") and '"score":50' in line for line in lines)
    assert any(line.startswith(",[1006,") and '"score":60' in line for line in lines)

    checked = jsonpersist(repo, "check", STATE)
    assert checked.returncode == 1
    assert "merge conflict" in checked.stderr
    assert f"lines {start + 1}-{end + 1}" in checked.stderr
    assert "user_data[1000]" in checked.stderr

    # Resolving as the message says: keep one line, delete the markers.
    resolved = [*lines[:start], lines[start + 1], *lines[end + 1 :]]
    (repo / STATE / "user_data.json").write_text("\n".join(resolved) + "\n")
    assert jsonpersist(repo, "check", STATE).returncode == 0
    assert load(repo / STATE)["user_data"][1000]["score"] == 20


def test_an_entry_both_branches_changed_the_same_way_is_kept_once(repo: Path) -> None:
    branch(repo, "ours", [(1000, "score 40"), (1005, "score 50")])
    branch(repo, "theirs", [(1000, "score 40"), (1006, "score 60")])
    git(repo, "checkout", "-q", "ours")
    assert git(repo, "merge", "--no-edit", "theirs", check=False).returncode == 0
    lines = (repo / STATE / "user_data.json").read_text().splitlines()
    assert [line for line in lines if line.startswith(",[1000,")] == [
        ',[1000,{"score":40,"started":true}]'
    ]
    assert load(repo / STATE)["user_data"][1005]["score"] == 50
    assert load(repo / STATE)["user_data"][1006]["score"] == 60


def test_a_delete_against_a_change_of_the_same_entry_keeps_the_change_in_conflict(
    repo: Path,
) -> None:
    branch(repo, "ours", [(1000, "/forget")])
    branch(repo, "theirs", [(1000, "score 99")])
    git(repo, "checkout", "-q", "ours")
    assert git(repo, "merge", "--no-edit", "theirs", check=False).returncode != 0
    lines = (repo / STATE / "user_data.json").read_text().splitlines()
    start, middle = lines.index("<<<<<<< ours"), lines.index("=======")
    assert middle == start + 1  # ours deleted it: nothing between
    assert '"score":99' in lines[middle + 1]  # theirs kept it: never lost


def test_git_setup_twice_changes_nothing(repo: Path) -> None:
    config = (repo / ".git" / "config").read_bytes()
    attributes = (repo / ".gitattributes").read_bytes()
    again = jsonpersist(repo, "git-setup", STATE)
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout
    assert (repo / ".git" / "config").read_bytes() == config
    assert (repo / ".gitattributes").read_bytes() == attributes


def test_git_setup_outside_a_work_tree_is_a_usage_error(tmp_path: Path) -> None:
    done = jsonpersist(tmp_path, "git-setup", ".")
    assert done.returncode == 2
    assert "git" in done.stderr


def test_git_setup_marks_nothing_but_the_five_files(repo: Path) -> None:
    (repo / "other.json").write_text("{}\n")
    (repo / STATE / "notes.json").write_text("{}\n")
    checked = git(
        repo,
        "check-attr",
        "merge",
        "--",
        "other.json",
        f"{STATE}/notes.json",
        f"{STATE}/user_data.json",
        "user_data.json",
    )
    assert checked.stdout.splitlines() == [
        "other.json: merge: unspecified",
        f"{STATE}/notes.json: merge: unspecified",
        f"{STATE}/user_data.json: merge: jsonpersist",
        "user_data.json: merge: unspecified",
    ]


def test_a_version_1_side_merges_with_a_version_2_side(tmp_path: Path) -> None:
    """A branch still on format 1 merges with one the new bot rewrote as format 2."""
    fixtures = Path(__file__).parent / "fixtures" / "v1" / "typical"
    repo = tmp_path / "bot"
    (repo / STATE).mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    for path in fixtures.glob("*.json"):
        shutil.copy(path, repo / STATE / path.name)
    assert jsonpersist(repo, "git-setup", STATE).returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1 base")
    base = load(repo / STATE)
    branch(repo, "ours", [(1000, "score 20")])  # the bot rewrites user_data.json as v2
    assert (repo / STATE / "user_data.json").read_text().startswith('[{"jsonpersist":2')
    mine = load(repo / STATE)
    git(repo, "checkout", "-q", "-b", "theirs", "main")  # edited by hand, still version 1
    path = repo / STATE / "user_data.json"
    path.write_text(path.read_text().replace('"score":11', '"score":12'))
    git(repo, "commit", "-qam", "theirs")
    yours = load(repo / STATE)
    git(repo, "checkout", "-q", "ours")
    merged = git(repo, "merge", "--no-edit", "theirs", check=False)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    result = load(repo / STATE)
    for name in result:
        assert result[name] == three_way(base[name], mine[name], yours[name]), name
    assert result["user_data"][1000]["score"] == 20
    assert result["user_data"][1001]["score"] == 12


def test_the_pre_commit_hook_runs_check_on_the_state_files(repo: Path) -> None:
    """`.pre-commit-hooks.yaml` runs the installed `jsonpersist check` with the user's args."""
    hooks = yaml.safe_load((Path(__file__).parent.parent / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "jsonpersist-check"
    assert hook["pass_filenames"] is False
    matches = re.compile(hook["files"]).search
    names = ("user_data", "chat_data", "bot_data", "callback_data", "conversations")
    assert all(matches(f"{STATE}/{name}.json") for name in names)
    assert not any(matches(path) for path in ("package.json", f"{STATE}/notes.json"))
    command, *arguments = hook["entry"].split()
    script = Path(sys.executable).parent / command  # the console script pre-commit installs
    assert script.exists()
    assert subprocess.run([script, *arguments, STATE], cwd=repo, check=False).returncode == 0
    path = repo / STATE / "user_data.json"
    lines = path.read_text().splitlines()
    path.write_text(
        "\n".join(
            [
                *lines[:2],
                "<<<<<<< ours",
                lines[2],
                "=======",
                lines[2],
                ">>>>>>> theirs",
                *lines[3:],
            ]
        )
        + "\n"
    )
    done = subprocess.run(
        [script, *arguments, STATE], cwd=repo, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "merge conflict" in done.stderr
