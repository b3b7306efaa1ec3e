"""Local attackers: another user who could swap the state directory, or plant files in it.

* Missing parents are created 0700 even under ``umask 0`` (``Path.mkdir(parents=True)`` gives
  them the umask's mode); a state directory that another user could replace (a parent writable
  by others without the sticky bit, a parent or the directory owned by another user) is refused
  with :class:`~jsonpersist.UnsafeDirectoryError` naming it. ``/tmp`` (sticky) stays fine.
  The tests run as root here: "another user" is a directory chown-ed to another uid.
* A directory, a symlink, a dangling symlink or a FIFO in place of a lock file or of the redo
  journal, a hard link as the lock file and a read-only file system: each is a typed
  :class:`~jsonpersist.JsonPersistError` naming the file, within a few seconds, and the start
  looks at no path outside the directory.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import stat
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from doc_counts import stated
from state_files import document, entries
from watch_paths import outside, start_watched, strace

import jsonpersist
from jsonpersist import CorruptStateError, JsonPersistence, JsonPersistError
from jsonpersist._store import Store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX owners and modes")
as_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root"
)

#: A uid no account of this machine has: "another user".
OTHER_UID = 54_321
#: What "bounded time" means for a start on a planted file (a FIFO used to block forever).
START_LIMIT = 5.0


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def unsafe_error() -> type[Exception]:
    """``jsonpersist.UnsafeDirectoryError`` (looked up here: new with issue 13)."""
    error: type[Exception] = jsonpersist.UnsafeDirectoryError  # type: ignore[attr-defined]
    return error


async def start(directory: Path) -> None:
    persistence = JsonPersistence(directory)
    await persistence.get_user_data()
    await persistence.flush()


# ------------------------------------------------------------------ who can replace the path


async def test_missing_parents_are_created_0700_even_with_umask_0(tmp_path: Path) -> None:
    old_umask = os.umask(0)
    try:
        await start(tmp_path / "srv" / "bot" / "state")
    finally:
        os.umask(old_umask)
    for path in (tmp_path / "srv", tmp_path / "srv" / "bot", tmp_path / "srv" / "bot" / "state"):
        assert mode(path) == 0o700, path


@dataclass(frozen=True)
class Unsafe:
    """A state directory ``base/shared/state`` that another user could replace."""

    id: str
    make: Callable[[Path], Path]  # (shared) -> the directory another user can change
    why: str
    root_only: bool = False


def chmod(mode: int, which: str = "shared") -> Callable[[Path], Path]:
    def make(shared: Path) -> Path:
        path = shared if which == "shared" else shared / "state"
        path.mkdir(exist_ok=True)
        path.chmod(mode)
        return path

    return make


def chown(which: str) -> Callable[[Path], Path]:
    def make(shared: Path) -> Path:
        path = shared if which == "shared" else shared / "state"
        path.mkdir(exist_ok=True)
        os.chown(path, OTHER_UID, OTHER_UID)
        return path

    return make


UNSAFE = [
    Unsafe("parent-0777", chmod(0o777), "writable by everyone"),
    Unsafe("parent-0757", chmod(0o757), "writable by everyone"),
    Unsafe("parent-0770", chmod(0o770), "writable by its group"),
    Unsafe("parent-0775", chmod(0o775), "writable by its group"),
    Unsafe("directory-0777", chmod(0o777, "state"), "writable by everyone"),
    Unsafe("directory-1777", chmod(0o1777, "state"), "writable by everyone"),
    Unsafe("parent-of-another-user", chown("shared"), f"uid {OTHER_UID}", root_only=True),
    Unsafe("directory-of-another-user", chown("state"), f"uid {OTHER_UID}", root_only=True),
]


@pytest.mark.parametrize("unsafe", UNSAFE, ids=[unsafe.id for unsafe in UNSAFE])
def test_a_directory_another_user_could_replace_is_refused(tmp_path: Path, unsafe: Unsafe) -> None:
    """Whoever can write ``shared`` can rename ``shared/state`` away and put their own there."""
    if unsafe.root_only and (not hasattr(os, "geteuid") or os.geteuid() != 0):
        pytest.skip("chown needs root")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "state").mkdir()
    changeable = unsafe.make(shared)
    directory = shared / "state"
    with pytest.raises(unsafe_error()) as raised:
        JsonPersistence(directory)
    error: Any = raised.value
    assert isinstance(error, JsonPersistError)
    assert isinstance(error, PermissionError)
    assert error.directory == directory
    assert error.file == changeable
    assert str(directory) in str(error)
    assert unsafe.why in str(error)
    assert sorted(path.name for path in directory.iterdir()) == [], "nothing is written there"


def test_nothing_is_created_under_a_parent_others_can_write(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(unsafe_error()):
        JsonPersistence(shared / "bot" / "state")
    assert not (shared / "bot").exists()


def test_a_sticky_parent_writable_by_everyone_is_fine(tmp_path: Path) -> None:
    """Like /tmp: others may create entries there, but not rename or delete ours."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    assert JsonPersistence(shared / "state").directory == shared / "state"


def test_a_directory_right_under_tmp_is_fine() -> None:
    base = Path(tempfile.gettempdir())
    assert stat.S_IMODE(base.stat().st_mode) & stat.S_ISVTX or base != Path("/tmp")
    directory = Path(tempfile.mkdtemp(prefix="jsonpersist-"))
    try:
        asyncio.run(start(directory))
        asyncio.run(start(directory / "nested"))
    finally:
        for path in sorted(directory.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
        directory.rmdir()


async def test_a_group_writable_state_directory_is_fine(tmp_path: Path) -> None:
    """A group may share the editing of the state (the directory's own mode is yours)."""
    directory = tmp_path / "state"
    directory.mkdir()
    directory.chmod(0o770)
    await start(directory)


@as_root
async def test_the_swap_of_the_issue_is_refused(tmp_path: Path) -> None:
    """The attack: a bot's state under a parent another user can write, swapped for theirs."""
    parent = tmp_path / "srv"
    state = parent / "bot" / "state"
    await start(state)
    parent.chmod(0o777)  # as `mkdir(parents=True)` under umask 0 left it before the fix
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "user_data.json").write_text(document("user_data", {666: {"role": "admin"}}))
    os.chown(theirs, OTHER_UID, OTHER_UID)
    os.rename(parent / "bot", tmp_path / "moved")
    (parent / "bot").mkdir()
    os.chown(parent / "bot", OTHER_UID, OTHER_UID)
    os.rename(theirs, state)
    with pytest.raises(unsafe_error()):
        await start(state)


def test_readers_do_not_check_the_owners(tmp_path: Path) -> None:
    """The command line reads any directory (an admin may look at another user's bot)."""
    shared = tmp_path / "shared"
    (shared / "state").mkdir(parents=True)
    shared.chmod(0o777)
    assert Store(shared / "state", create=False).directory == shared / "state"


# ----------------------------------------------------------- planted lock and journal files

LOCK = ".jsonpersist.lock"
ROUND_LOCK = ".jsonpersist.round.lock"
JOURNAL = ".jsonpersist.journal"


@dataclass(frozen=True)
class Trick:
    id: str
    plant: Callable[[Path, Path], Path]  # (state directory, outside) -> the planted path
    error: str  # the name of the typed error expected


def fifo(name: str) -> Callable[[Path, Path], Path]:
    def plant(directory: Path, elsewhere: Path) -> Path:
        os.mkfifo(directory / name)
        return directory / name

    return plant


def subdirectory(name: str) -> Callable[[Path, Path], Path]:
    def plant(directory: Path, elsewhere: Path) -> Path:
        (directory / name).mkdir()
        return directory / name

    return plant


def symlink(name: str, target: str) -> Callable[[Path, Path], Path]:
    def plant(directory: Path, elsewhere: Path) -> Path:
        (directory / name).symlink_to(elsewhere / target)
        return directory / name

    return plant


def hard_link(name: str) -> Callable[[Path, Path], Path]:
    def plant(directory: Path, elsewhere: Path) -> Path:
        os.link(elsewhere / "precious", directory / name)
        return directory / name

    return plant


def loop_link(name: str) -> Callable[[Path, Path], Path]:
    def plant(directory: Path, elsewhere: Path) -> Path:
        (directory / name).symlink_to(directory / name)
        return directory / name

    return plant


TRICKS = [
    *(
        trick
        for name, label in ((LOCK, "lock"), (ROUND_LOCK, "round-lock"))
        for trick in (
            Trick(f"{label}-directory", subdirectory(name), "StateDirectoryError"),
            Trick(f"{label}-symlink", symlink(name, "precious"), "StateDirectoryError"),
            Trick(f"{label}-dangling-symlink", symlink(name, "missing"), "StateDirectoryError"),
            Trick(f"{label}-symlink-loop", loop_link(name), "StateDirectoryError"),
            Trick(f"{label}-fifo", fifo(name), "StateDirectoryError"),
        )
    ),
    Trick("lock-hard-link", hard_link(LOCK), "StateDirectoryError"),
    Trick("journal-fifo", fifo(JOURNAL), "CorruptStateError"),
    Trick("journal-directory", subdirectory(JOURNAL), "CorruptStateError"),
    Trick("journal-symlink", symlink(JOURNAL, "journal"), "CorruptStateError"),
    Trick("journal-dangling-symlink", symlink(JOURNAL, "missing"), "CorruptStateError"),
    Trick("journal-symlink-to-a-fifo", symlink(JOURNAL, "fifo"), "CorruptStateError"),
]
PRECIOUS = b"not jsonpersist's: must stay as it is\n"


def elsewhere_with_bait(tmp_path: Path) -> Path:
    """Files outside the state directories that the planted links point to."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_bytes(PRECIOUS)
    os.mkfifo(elsewhere / "fifo")
    (elsewhere / ".evil.tmp").write_text("{}")
    # A valid journal: followed, it would rename the state directory's own .evil.tmp over
    # user_data.json.
    (elsewhere / "journal").write_text(json.dumps({"moves": {"user_data.json": ".evil.tmp"}}))
    return elsewhere


def planted(tmp_path: Path) -> tuple[Path, Path, list[tuple[Path, str]], list[Path]]:
    root = tmp_path / "dirs"
    elsewhere = elsewhere_with_bait(tmp_path)
    cases, paths = [], []
    for trick in TRICKS:
        directory = root / trick.id
        directory.mkdir(parents=True)
        (directory / "user_data.json").write_text(document("user_data", {1: {"a": 1}}))
        (directory / ".evil.tmp").write_text(document("user_data", {666: {}}))
        paths.append(trick.plant(directory, elsewhere))
        cases.append((directory, "user_data"))
    return root, elsewhere, cases, paths


def test_every_planted_file_is_a_typed_error_naming_it_in_bounded_time(tmp_path: Path) -> None:
    root, elsewhere, cases, paths = planted(tmp_path)
    before = {path.name: path.lstat() for path in elsewhere.iterdir()}
    seen, outcomes = start_watched(cases, root, tmp_path, timeout=120)
    for trick, path, outcome in zip(TRICKS, paths, outcomes, strict=True):
        assert outcome.error == trick.error, (trick.id, outcome)
        assert outcome.typed, (trick.id, outcome)
        assert outcome.file == str(path), (trick.id, outcome)
        assert str(path) in outcome.message, (trick.id, outcome)
        assert outcome.seconds < START_LIMIT, (trick.id, outcome)
        assert entries(path.parent / "user_data.json") == {1: {"a": 1}}, trick.id
    assert (elsewhere / "precious").read_bytes() == PRECIOUS
    after = {path.name: path.lstat() for path in elsewhere.iterdir()}
    assert {
        name: (info.st_ino, info.st_size, info.st_mtime_ns) for name, info in after.items()
    } == {name: (info.st_ino, info.st_size, info.st_mtime_ns) for name, info in before.items()}
    assert outside(seen, root) == [], "a start looked at a path outside its directory"


def test_strace_sees_no_start_look_outside_its_directory(tmp_path: Path) -> None:
    root, _, cases, _ = planted(tmp_path)
    named = strace(cases, root, tmp_path, timeout=120)
    if named is None:
        pytest.skip("strace is not installed, or may not trace here")
    assert outside([path for path in named if path.startswith("/")], root) == []


def test_the_guarantees_page_counts_what_was_tried() -> None:
    assert stated("test_a_directory_another_user_could_replace_is_refused") == len(UNSAFE)
    assert stated("test_every_planted_file_is_a_typed_error_naming_it_in_bounded_time") == len(
        TRICKS
    )
    assert stated("test_a_read_only_file_system_is_a_typed_error_naming_the_lock") == len(LOCKS)


LOCKS = (LOCK, ROUND_LOCK)


@pytest.mark.parametrize("name", LOCKS)
async def test_a_read_only_file_system_is_a_typed_error_naming_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    directory = tmp_path / "state"
    directory.mkdir()
    real_open = os.open

    def read_only(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path).endswith(name) and flags & (os.O_RDWR | os.O_WRONLY | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    persistence = JsonPersistence(directory)
    with pytest.raises(JsonPersistError) as raised:
        await persistence.get_user_data()
    error: Any = raised.value
    assert type(error).__name__ == "StateDirectoryError"
    assert isinstance(error, OSError)
    assert error.errno == errno.EROFS
    assert error.file == directory / name
    assert str(directory / name) in str(error)
    assert "read_only=True" in str(error)
    monkeypatch.undo()
    assert await JsonPersistence(directory, read_only=True).get_user_data() == {}


async def test_planted_temporary_and_gitignore_files_are_not_followed(tmp_path: Path) -> None:
    elsewhere = elsewhere_with_bait(tmp_path)
    directory = tmp_path / "state"
    directory.mkdir()
    (directory / ".x.tmp").mkdir()  # a directory where stale temporary files are swept
    (directory / ".y.tmp").symlink_to(elsewhere / "precious")
    (directory / ".gitignore").symlink_to(elsewhere / "precious")
    await start(directory)
    assert (directory / ".x.tmp").is_dir()
    assert not os.path.lexists(directory / ".y.tmp")  # the link is swept, not its target
    assert (directory / ".gitignore").is_symlink()
    assert (elsewhere / "precious").read_bytes() == PRECIOUS


async def test_a_planted_lock_is_refused_without_touching_what_it_points_to(
    tmp_path: Path,
) -> None:
    elsewhere = elsewhere_with_bait(tmp_path)
    directory = tmp_path / "state"
    directory.mkdir()
    (directory / LOCK).symlink_to(elsewhere / "precious")
    with pytest.raises(JsonPersistError, match="symlink") as raised:
        await start(directory)
    assert raised.value.file == directory / LOCK  # type: ignore[attr-defined]
    assert not isinstance(raised.value, CorruptStateError)
    assert (elsewhere / "precious").read_bytes() == PRECIOUS
