"""Fault injection: each system call of a save fails in turn, once and persistently.

Every step of ``Store.write`` (creating the temporary file, writing it, setting its mode, fsyncing
it, renaming it into place, opening and fsyncing the directory) fails with ENOSPC, EIO, EROFS and
EACCES, for a round that writes one file and for one that writes two (through the redo
journal). Checked each time:

* a :class:`~jsonpersist.StateWriteError` carrying the errno reaches the caller;
* the files are what they were, byte for byte, as long as nothing was renamed yet; whatever
  happened, a bot restarting from the directory at that moment loads the old round or the new
  one, never a mix;
* no temporary file is left (except those the redo journal names, to be completed);
* fsync is never called again in a save after it failed once;
* the next save succeeds once the fault is gone.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from state_files import entries
from telegram.ext import Application, ContextTypes

from jsonpersist import JsonPersistence, StateWriteError
from jsonpersist._store import JOURNAL, TEMP_SUFFIX

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file semantics")

ERRNOS = [errno.ENOSPC, errno.EIO, errno.EROFS, errno.EACCES]
CONVERSATION = "conv"
KEY = (1, 1)


class FaultyOS:
    """Wraps the ``os`` calls of a save; the ``nth`` matching call of ``step`` fails.

    Steps: ``mkstemp`` (``os.open`` of a temporary file), ``write`` (``os.write`` or
    ``os.writev``), ``fchmod`` and
    ``fsync-file`` (on a temporary file), ``replace``, ``open-dir`` and ``fsync-dir`` (the
    directory). With ``persistent``, every matching call from the ``nth`` on fails.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
        self.directory = directory.resolve()
        self.step = ""
        self.nth = 0
        self.error = 0
        self.persistent = False
        self.seen = 0
        self.log: list[tuple[str, bool]] = []  # (step, failed) of every call on the state dir
        self._temps: set[int] = set()
        self._dirs: set[int] = set()
        real_open, real_close, real_replace = os.open, os.close, os.replace
        real_write, real_writev, real_fchmod, real_fsync = os.write, os.writev, os.fchmod, os.fsync

        def open_(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
            kind = self._kind(path)
            if kind:
                self._call("mkstemp" if kind == "temp" else "open-dir")
            fd = real_open(path, flags, mode, **kwargs)
            (self._temps if kind == "temp" else self._dirs if kind == "dir" else set()).add(fd)
            return fd

        def close(fd: int) -> None:
            self._temps.discard(fd)
            self._dirs.discard(fd)
            real_close(fd)

        def write(fd: int, data: Any) -> int:
            if fd in self._temps:
                self._call("write")
            return real_write(fd, data)

        def writev(fd: int, buffers: Any) -> int:
            if fd in self._temps:
                self._call("write")
            return real_writev(fd, buffers)

        def fchmod(fd: int, mode: int) -> None:
            if fd in self._temps:
                self._call("fchmod")
            real_fchmod(fd, mode)

        def fsync(fd: int) -> None:
            if fd in self._temps:
                self._call("fsync-file")
            elif fd in self._dirs:
                self._call("fsync-dir")
            real_fsync(fd)

        def replace(source: Any, target: Any, **kwargs: Any) -> None:
            if self._kind(source) == "temp":
                self._call("replace")
            real_replace(source, target, **kwargs)

        for name, function in (
            ("open", open_),
            ("close", close),
            ("write", write),
            ("writev", writev),
            ("fchmod", fchmod),
            ("fsync", fsync),
            ("replace", replace),
        ):
            monkeypatch.setattr(os, name, function)

    def _kind(self, path: Any) -> str:
        path = Path(os.fspath(path))
        if path == self.directory:
            return "dir"
        if path.parent == self.directory and path.name.endswith(TEMP_SUFFIX):
            return "temp"
        return ""

    def arm(self, step: str, nth: int, error: int, persistent: bool) -> None:
        self.step, self.nth, self.error, self.persistent = step, nth, error, persistent
        self.seen = 0
        self.log.clear()

    def disarm(self) -> None:
        self.step = ""

    def _call(self, step: str) -> None:
        failing = False
        if step == self.step:
            self.seen += 1
            failing = self.seen == self.nth or (self.persistent and self.seen > self.nth)
        self.log.append((step, failing))
        if failing:
            raise OSError(self.error, os.strerror(self.error))

    def fsyncs_after_a_failed_fsync(self) -> int:
        failed = [i for i, (step, bad) in enumerate(self.log) if bad and step.startswith("fsync")]
        if not failed:
            return 0
        return sum(1 for step, _ in self.log[failed[0] + 1 :] if step.startswith("fsync"))


# ------------------------------------------------------------------------------ the state


def user(round_: int) -> dict[str, Any]:
    return {"round": round_, "text": f"round {round_} " * 50}


async def save(persistence: JsonPersistence, round_: int, two_files: bool) -> None:
    if two_files:
        await asyncio.gather(
            persistence.update_conversation(CONVERSATION, KEY, round_),
            persistence.update_user_data(1, user(round_)),
        )
    else:
        await persistence.update_user_data(1, user(round_))


async def restart_view(directory: Path, scratch: Path) -> tuple[Any, Any]:
    """What a bot restarting from ``directory`` right now would load (a copy is used)."""
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(directory, scratch)
    persistence = JsonPersistence(scratch)
    try:
        users = await persistence.get_user_data()
        conversations = await persistence.get_conversations(CONVERSATION)
    finally:
        await persistence.flush()
    leftover = [entry.name for entry in scratch.iterdir() if entry.name.endswith(TEMP_SUFFIX)]
    assert leftover == [], "start-up must finish or sweep every temporary file"
    assert not (scratch / JOURNAL).exists()
    return (
        users.get(1, {}).get("round"),
        conversations.get(KEY),
    )


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        entry.name: entry.read_bytes()
        for entry in directory.iterdir()
        if entry.name.endswith(".json")
    }


def temps(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir() if entry.name.endswith(TEMP_SUFFIX))


def journal_names(directory: Path) -> set[str]:
    try:
        return set(orjson.loads((directory / JOURNAL).read_bytes())["moves"].values())
    except FileNotFoundError:
        return set()


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    """One failing call and what must hold afterwards."""

    step: str
    nth: int
    two_files: bool
    after: str  # "old": nothing changed on disk; "new": the round is on disk (renamed)

    @property
    def id(self) -> str:
        layout = "two-files" if self.two_files else "one-file"
        return f"{layout}-{self.step}-{self.nth}"


ONE_FILE = [
    Case("mkstemp", 1, False, "old"),
    Case("write", 1, False, "old"),
    Case("fchmod", 1, False, "old"),
    Case("fsync-file", 1, False, "old"),
    Case("replace", 1, False, "old"),
    # The directory is synced after the rename: the new file is already in place and
    # visible; only its durability across a power loss is unknown. See docs/guarantees.md.
    Case("open-dir", 1, False, "new"),
    Case("fsync-dir", 1, False, "new"),
]
# Two files: temporary files 1 and 2 are the state files, 3 is the journal; rename 1 installs
# the journal, 2 and 3 the state files; directory sync 1 follows the journal, 2 the renames.
TWO_FILES = [
    *(
        Case(step, nth, True, "old")
        for step in ("mkstemp", "write", "fchmod", "fsync-file")
        for nth in (1, 2, 3)
    ),
    Case("replace", 1, True, "old"),
    Case("open-dir", 1, True, "old"),
    Case("fsync-dir", 1, True, "old"),
    # From here on the journal is in place: a restart completes the round.
    Case("replace", 2, True, "new"),
    Case("replace", 3, True, "new"),
    Case("open-dir", 2, True, "new"),
    Case("fsync-dir", 2, True, "new"),
]


def params() -> list[Any]:
    out = []
    for case in ONE_FILE + TWO_FILES:
        for error in ERRNOS:
            for persistent in (False, True):
                mode = "persistent" if persistent else "once"
                out.append(
                    pytest.param(
                        case,
                        error,
                        persistent,
                        id=f"{case.id}-{errno.errorcode[error]}-{mode}",
                    )
                )
    return out


@pytest.fixture
async def setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[JsonPersistence, FaultyOS, Path]:
    directory = tmp_path / "state"
    persistence = JsonPersistence(directory)
    await persistence.get_user_data()
    await persistence.get_conversations(CONVERSATION)
    await save(persistence, 0, two_files=True)
    return persistence, FaultyOS(monkeypatch, directory), directory


@pytest.mark.parametrize(("case", "error", "persistent"), params())
async def test_a_failing_call(
    setup: tuple[JsonPersistence, FaultyOS, Path],
    tmp_path: Path,
    case: Case,
    error: int,
    persistent: bool,
) -> None:
    persistence, faults, directory = setup
    before = snapshot(directory)
    faults.arm(case.step, case.nth, error, persistent)

    with pytest.raises(StateWriteError) as raised:
        await save(persistence, 1, case.two_files)
    assert raised.value.errno == error
    # Only a failed sync of the directory after the renames reports the new version in place.
    after_renames = case.step in ("open-dir", "fsync-dir") and case.after == "new"
    assert raised.value.replaced is after_renames
    assert any(failed for _, failed in faults.log), "the fault was never reached"
    assert faults.fsyncs_after_a_failed_fsync() == 0, "fsync retried after it failed"
    check_after_failure(directory, before, case)
    expected_round = 0 if case.after == "old" else 1
    view = await restart_view(directory, tmp_path / "restart")
    assert view == (expected_round, 0 if not case.two_files else expected_round)

    if persistent:  # still failing: still typed, still no damage
        faults.arm(case.step, 1, error, persistent=True)
        with pytest.raises(StateWriteError):
            await save(persistence, 2, case.two_files)
        users, conversation = await restart_view(directory, tmp_path / "restart")
        # Before the rename nothing reaches the disk; after it, each attempt's round does.
        assert users in ((0,) if case.after == "old" else (1, 2))
        assert conversation == (users if case.two_files else 0), "a mixed state"

    faults.disarm()
    await save(persistence, 3, case.two_files)
    assert temps(directory) == []
    assert not (directory / JOURNAL).exists()
    assert await restart_view(directory, tmp_path / "restart") == (3, 3 if case.two_files else 0)
    await persistence.flush()


def check_after_failure(directory: Path, before: dict[str, bytes], case: Case) -> None:
    left = temps(directory)
    if case.after == "old":
        assert snapshot(directory) == before, "a file changed although the save failed"
        assert left == []
        # A journal may stay after a failed directory sync, naming temporary files that are
        # gone; it is a no-op when replayed.
        assert not any((directory / name).exists() for name in journal_names(directory))
    else:
        # Temporary files may only stay if the journal names them, to be completed.
        assert set(left) <= journal_names(directory)
        if not case.two_files:
            assert snapshot(directory)["user_data.json"] != before["user_data.json"]


# ------------------------------------------------------------- through a real Application


async def test_a_failed_save_reaches_the_applications_error_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_bot: Any
) -> None:
    directory = tmp_path / "state"
    persistence = JsonPersistence(directory)
    application = Application.builder().bot(offline_bot).persistence(persistence).build()
    errors: list[object] = []

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    application.add_error_handler(on_error)
    await application.initialize()
    application.bot_data["round"] = 1
    await application.update_persistence()
    before = snapshot(directory)

    faults = FaultyOS(monkeypatch, directory)
    faults.arm("fsync-file", 1, errno.EIO, persistent=False)
    application.bot_data["round"] = 2
    await application.update_persistence()
    await asyncio.sleep(0)  # error handlers run as tasks
    assert [type(error) for error in errors] == [StateWriteError]
    assert errors[0].errno == errno.EIO  # type: ignore[attr-defined]
    assert snapshot(directory) == before
    assert temps(directory) == []

    faults.disarm()
    await application.update_persistence()
    await application.shutdown()
    assert entries(directory / "bot_data.json") == {"round": 2}
    assert len(errors) == 1


def test_every_step_is_reached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The injector sees each step of a two-file save, in the documented order."""

    async def run() -> list[str]:
        directory = tmp_path / "state"
        persistence = JsonPersistence(directory)
        await persistence.get_user_data()
        await persistence.get_conversations(CONVERSATION)
        faults = FaultyOS(monkeypatch, directory)
        faults.arm("none", 1, errno.EIO, persistent=False)
        await save(persistence, 1, two_files=True)
        await persistence.flush()
        return [step for step, _ in faults.log]

    steps = asyncio.run(run())
    temp_file = ["mkstemp", "write", "fchmod", "fsync-file"]
    journal = ["replace", "open-dir", "fsync-dir"]
    renames = ["replace", "replace", "open-dir", "fsync-dir"]
    assert steps == temp_file * 3 + journal + renames
