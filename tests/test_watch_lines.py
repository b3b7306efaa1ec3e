"""Watch mode reads a person's edit by the lines that changed, and only those.

A running bot with ``watch=True`` that finds its file edited parses the lines whose bytes
differ from the version it knows, not the whole file (a 100,000-user file took a second to
parse again), and never on the event loop. Whatever the edit, the outcome must be what parsing
the whole file gives: the edited, added and removed entries, or the error a bad edit deserves.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from jsonpersist import CorruptStateError, JsonPersistence
from jsonpersist._entries import EntryCodec

USERS = 2000


def seed(directory: Path) -> None:
    async def run() -> None:
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
        await persistence.get_user_data()
        await asyncio.gather(
            *(persistence.update_user_data(i, {"n": i, "s": f"u{i}"}) for i in range(USERS))
        )
        await persistence.flush()

    asyncio.run(run())


def edit(path: Path, change: Any) -> None:
    """Rewrites the file as an editor does: a new file renamed over the old one."""
    lines = path.read_bytes().split(b"\n")
    lines = change(lines)
    temporary = path.with_name("edit.tmp")
    temporary.write_bytes(b"\n".join(lines))
    os.replace(temporary, path)


def line_of(lines: list[bytes], user: int) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(b",[%d," % user))


def replace_user(user: int, new: bytes) -> Any:
    def change(lines: list[bytes]) -> list[bytes]:
        lines[line_of(lines, user)] = new
        return lines

    return change


class Probe:
    """Counts the entries parsed one by one, and the threads that parse."""

    def __init__(self) -> None:
        self.keys = 0
        self.threads: set[int] = set()
        self.whole = 0


def run_with_probe(directory: Path, change: Any, *users: int) -> tuple[Probe, dict[int, Any]]:
    """Starts a watching bot, lets ``change`` edit the file, refreshes ``users``."""
    probe = Probe()
    key_of = EntryCodec._key
    parse = EntryCodec.parse

    def counting_key(self: EntryCodec, *args: Any) -> Any:
        probe.keys += 1
        probe.threads.add(threading.get_ident())
        return key_of(self, *args)

    def counting_parse(self: EntryCodec, *args: Any) -> Any:
        probe.whole += 1
        return parse(self, *args)

    async def run() -> dict[int, Any]:
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory, watch=True)
        data = await persistence.get_user_data()
        edit(directory / "user_data.json", change)
        loop_thread = threading.get_ident()
        with (
            mock.patch.object(EntryCodec, "_key", counting_key),
            mock.patch.object(EntryCodec, "parse", counting_parse),
        ):
            for user in users:
                await persistence.refresh_user_data(user, data.setdefault(user, {}))
        assert loop_thread not in probe.threads  # never parsed on the event loop
        await persistence.flush()
        return data

    return probe, asyncio.run(run())


def test_one_edited_line_is_the_only_one_parsed(tmp_path: Path) -> None:
    seed(tmp_path)
    probe, data = run_with_probe(
        tmp_path, replace_user(1500, b',[1500,{"n":-1,"s":"edited"}]'), 1500, 7
    )
    assert data[1500] == {"n": -1, "s": "edited"}
    assert data[7] == {"n": 7, "s": "u7"}
    assert probe.keys == 1
    assert probe.whole == 0


def test_an_added_and_a_removed_line_are_found(tmp_path: Path) -> None:
    seed(tmp_path)

    def change(lines: list[bytes]) -> list[bytes]:
        del lines[line_of(lines, 10)]
        lines.insert(line_of(lines, 11), b',[-5,{"new":true}]')
        return lines

    probe, data = run_with_probe(tmp_path, change, 10, -5)
    assert data[10] == {}  # removed by the person: PTB's dict is emptied
    assert data[-5] == {"new": True}
    assert probe.keys == 1
    assert probe.whole == 0
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path, read_only=True)
    saved = asyncio.run(reader.get_user_data())
    assert 10 not in saved
    assert saved[-5] == {"new": True}
    assert len(saved) == USERS


def test_a_reformatted_file_is_parsed_whole(tmp_path: Path) -> None:
    seed(tmp_path)

    def change(lines: list[bytes]) -> list[bytes]:
        lines[line_of(lines, 3)] = b',[3,\n  {"n": 33, "s": "u3"}]'
        return lines

    probe, data = run_with_probe(tmp_path, change, 3)
    assert data[3] == {"n": 33, "s": "u3"}
    assert probe.whole == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (replace_user(20, b',[21,{"n":0}]'), "appears twice"),  # 21's line is still there
        (replace_user(20, b',[20,{"n":NaN}]'), "line 22, column 11: not valid JSON"),
        (replace_user(20, b',[20,{"n":1,"n":2}]'), "duplicate key"),
        (replace_user(20, b',[20,{"$tuple":1}]'), "$tuple"),
        (replace_user(20, b",[20.5,{}]"), "Telegram id"),
        (replace_user(20, b",[20,{}"), "not valid JSON"),
    ],
    ids=["a key twice", "NaN", "a duplicate key", "a bad tag", "a bad id", "broken JSON"],
)
def test_a_bad_edit_of_one_line_is_refused_as_a_whole_parse_would(
    tmp_path: Path, change: Any, message: str
) -> None:
    seed(tmp_path)
    before = None

    async def run() -> None:
        nonlocal before
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path, watch=True)
        data = await persistence.get_user_data()
        edit(tmp_path / "user_data.json", change)
        before = (tmp_path / "user_data.json").read_bytes()
        await persistence.refresh_user_data(20, data[20])
        assert data[20] == {"n": 20, "s": "u20"}  # the application keeps its data
        data[21]["n"] = 99
        with pytest.raises(CorruptStateError, match=message.replace("$", r"\$")):
            await persistence.update_user_data(21, data[21])
        with pytest.raises(CorruptStateError):
            await persistence.flush()

    asyncio.run(run())
    assert (tmp_path / "user_data.json").read_bytes() == before  # never overwritten
