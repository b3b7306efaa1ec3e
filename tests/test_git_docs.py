"""What docs/git.md shows is what git and jsonpersist do: each example is produced here.

The `.gitattributes` lines, the diff, the conflicted file and `check`'s message are taken from
the page and compared with the real output; the page's other promises about the driver
(no registered types needed, a damaged side falls back to git's line merge, keeping both lines
of a conflict is refused) are tried here too.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jsonpersist import JsonPersistence

DOC = (Path(__file__).parent.parent / "docs" / "git.md").read_text()
STATE = "state-snapshot"
_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def block(language: str, containing: str) -> str:
    """The fenced block of the page in ``language`` that contains ``containing``."""
    for found in re.finditer(rf"```{language}\n(.*?)```", DOC, re.DOTALL):
        text = found.group(1)
        if containing in text:
            lines = [line.removeprefix("  ") for line in text.splitlines()]
            return "\n".join(line for line in lines if line.strip()) + "\n"
    raise AssertionError(f"docs/git.md has no {language} block with {containing!r}")


def run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args),
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **_ENV},
    )


def jsonpersist(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(repo, sys.executable, "-m", "jsonpersist", *args)


def save(directory: Path, users: dict[int, Any], drop: tuple[int, ...] = ()) -> None:
    async def go() -> None:
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
        await persistence.get_user_data()
        for user, data in users.items():
            await persistence.update_user_data(user, data)
        for user in drop:
            await persistence.drop_user_data(user)
        await persistence.flush()

    asyncio.run(go())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "bot"
    repo.mkdir()
    run(repo, "git", "init", "-q", "-b", "main")
    save(
        repo / STATE,
        {999: {"score": 9}, 1000: {"score": 10}, 1001: {"score": 11}, 1002: {"score": 12}},
    )
    assert jsonpersist(repo, "git-setup", f"{STATE}/").returncode == 0
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "base")
    return repo


def test_the_gitattributes_lines_are_those_git_setup_writes(repo: Path) -> None:
    assert (repo / ".gitattributes").read_text() == block("gitattributes", "merge=jsonpersist")


def test_the_diff_is_what_git_shows(repo: Path) -> None:
    save(repo / STATE, {1001: {"score": 21}, 1003: {}})
    diff = run(repo, "git", "diff", "--", f"{STATE}/user_data.json").stdout
    shown = diff.split("\n", 2)[2]  # without the "diff --git" and "index" lines
    assert shown == block("diff", "+++")


def test_the_conflict_and_checks_message_are_what_the_page_shows(repo: Path) -> None:
    for branch, score in (("ours", 20), ("theirs", 30)):
        run(repo, "git", "checkout", "-q", "-b", branch, "main")
        save(repo / STATE, {1000: {"score": score}}, drop=(1002,) if branch == "ours" else ())
        run(repo, "git", "commit", "-qam", branch)
    run(repo, "git", "checkout", "-q", "ours")
    assert run(repo, "git", "merge", "--no-edit", "theirs").returncode != 0
    path = repo / STATE / "user_data.json"
    assert path.read_text() == block("text", "<<<<<<< ours")
    checked = jsonpersist(repo, "check", f"{STATE}/")
    assert checked.returncode == 1
    message = block("text", "$ jsonpersist check").splitlines()[1]
    assert message in checked.stderr.replace(str(repo), "/srv/mybot").splitlines()

    lines = path.read_text().splitlines()
    both = [line for line in lines if not line.startswith(("<<<<<<<", "=======", ">>>>>>>"))]
    path.write_text("\n".join(both) + "\n")  # both versions kept: refused
    refused = jsonpersist(repo, "check", f"{STATE}/")
    assert refused.returncode == 1
    assert "appears twice" in refused.stderr

    start = lines.index("<<<<<<< ours")
    path.write_text("\n".join([*lines[:start], lines[start + 1], *lines[start + 5 :]]) + "\n")
    assert jsonpersist(repo, "check", f"{STATE}/").returncode == 0


def test_the_driver_needs_no_registered_types(repo: Path) -> None:
    """Values of a type only the bot knows ($obj) merge without that type being importable."""
    path = repo / STATE / "user_data.json"
    base = path.read_text()
    cart = '{"cart":{"$obj":"mybot.Cart","data":{"items":[1]}}}'
    ours = base.replace(',[999,{"score":9}]', f",[999,{cart}]")
    theirs = base.replace(',[1002,{"score":12}]', ',[1002,{"score":13}]')
    for side, text in (("base.json", base), ("ours.json", ours), ("theirs.json", theirs)):
        (repo / side).write_text(text)
    merged = jsonpersist(repo, "merge", "base.json", "ours.json", "theirs.json")
    assert merged.returncode == 0, merged.stderr
    result = (repo / "ours.json").read_text()
    assert f",[999,{cart}]" in result
    assert ',[1002,{"score":13}]' in result


def test_a_side_that_is_no_state_file_falls_back_to_gits_line_merge(repo: Path) -> None:
    base = (repo / STATE / "user_data.json").read_text()
    (repo / "base.json").write_text(base)
    (repo / "ours.json").write_text(base.replace('"score":9', '"score":99'))
    (repo / "theirs.json").write_text(base[:-5])  # cut off: not JSON
    merged = jsonpersist(
        repo, "merge", "base.json", "ours.json", "theirs.json", "x/user_data.json"
    )
    assert "falling back to git's line merge" in merged.stderr
    assert merged.returncode == 1  # a conflict, even though git's line merge was clean
    assert '"score":99' in (repo / "ours.json").read_text()


def test_the_gitignore_the_page_shows_is_the_one_written_into_the_state_directory(
    repo: Path,
) -> None:
    assert (repo / STATE / ".gitignore").read_text() == block("gitignore", ".jsonpersist")
