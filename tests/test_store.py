"""The directory lock across processes, the redo journal and faults in each step of a write.

Locks are taken by real child processes (``tests/_children.py``) and killed with SIGKILL; faults
are injected by wrapping one ``os`` function so that it raises once for the file under test and
otherwise calls the real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from jsonpersist import CorruptStateError, JsonPersistence, StateLockedError, StateWriteError
from jsonpersist._store import Store

CHILD = Path(__file__).with_name("_children.py")
REPO = Path(__file__).resolve().parent.parent
LOCK = ".jsonpersist.lock"
JOURNAL = ".jsonpersist.journal"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file semantics")


def temp_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(".tmp"))


def state(category: str, data: dict[str, Any]) -> bytes:
    return json.dumps({"jsonpersist": 1, "category": category, "data": data}).encode()


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "state"


# ------------------------------------------------------------------------------- locking


@contextlib.asynccontextmanager
async def holder(directory: Path) -> Any:
    """A child process that owns ``directory`` until the block ends (or it is killed)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), "hold", str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
        assert line.split() == [b"ready", str(proc.pid).encode()], line
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


async def test_a_directory_held_by_another_process_is_refused_until_it_dies(
    directory: Path,
) -> None:
    async with holder(directory) as child:
        lock = directory / LOCK
        inode = lock.stat().st_ino
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)

        started = time.perf_counter()
        with pytest.raises(StateLockedError) as caught:
            await persistence.get_user_data()
        assert time.perf_counter() - started < 1.0
        error = caught.value
        assert isinstance(error, TimeoutError)
        assert error.directory == directory.resolve()
        assert error.pid == child.pid
        assert str(directory.resolve()) in str(error)
        assert f"process {child.pid}" in str(error)
        with pytest.raises(StateLockedError):
            await persistence.update_user_data(2, {"by": "parent"})
        with pytest.raises(StateLockedError):
            await persistence.get_chat_data()
        assert lock.stat().st_ino == inode

        # Readers need no lock: the child's save is visible.
        reader: JsonPersistence[Any, Any, Any] = JsonPersistence(directory, read_only=True)
        assert await reader.get_user_data() == {1: {"held by": child.pid}}

        child.send_signal(signal.SIGKILL)
        child.wait()
        started = time.perf_counter()
        assert await persistence.get_user_data() == {1: {"held by": child.pid}}
        assert time.perf_counter() - started < 1.0
        assert lock.stat().st_ino == inode  # the same lock file, never deleted
        assert lock.read_text() == str(os.getpid())

    await persistence.update_user_data(2, {"by": "parent"})
    await persistence.flush()
    assert lock.exists()
    again: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    assert await again.get_user_data() == {1: {"held by": child.pid}, 2: {"by": "parent"}}
    await again.flush()


async def test_a_child_that_exits_normally_releases_the_directory(directory: Path) -> None:
    async with holder(directory) as child:
        assert child.stdin is not None
        child.stdin.close()
        assert child.wait(timeout=30) == 0
    assert (directory / LOCK).exists()
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    assert await persistence.get_user_data() == {1: {"held by": child.pid}}
    await persistence.flush()


async def test_a_second_instance_in_the_same_process_is_refused(directory: Path) -> None:
    first: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    await first.get_user_data()
    await first.update_user_data(1, {"by": "first"})
    lock = directory / LOCK
    inode = lock.stat().st_ino
    saved = (directory / "user_data.json").read_bytes()

    second: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    started = time.perf_counter()
    with pytest.raises(StateLockedError) as caught:
        await second.get_user_data()
    assert time.perf_counter() - started < 1.0
    assert caught.value.pid == os.getpid()
    assert caught.value.directory == directory.resolve()
    with pytest.raises(StateLockedError):
        await second.update_user_data(1, {"by": "second"})
    with pytest.raises(StateLockedError):
        await second.get_conversations("handler")
    assert (directory / "user_data.json").read_bytes() == saved
    assert lock.stat().st_ino == inode

    await first.update_user_data(1, {"by": "first, still the owner"})
    await first.flush()
    assert lock.stat().st_ino == inode
    assert await second.get_user_data() == {1: {"by": "first, still the owner"}}
    await second.flush()


# ------------------------------------------------------------------------------- journal


def _leave_a_crashed_round(directory: Path, renamed: int) -> dict[str, bytes]:
    """Builds what a crash after the journal and ``renamed`` renames of a round leaves.

    Returns:
        The contents each file must have once the round is completed.
    """
    directory.mkdir()
    old = {
        "user_data.json": state("user_data", {"1": {"v": "old"}}),
        "chat_data.json": state("chat_data", {"-1": {"v": "old"}}),
        "conversations.json": state("conversations", {"h": {"$dict": [[{"$tuple": [1]}, 1]]}}),
    }
    new = {
        "user_data.json": state("user_data", {"1": {"v": "new"}, "2": {"t": {"$tuple": [2]}}}),
        "chat_data.json": state("chat_data", {"-1": {"v": "new"}}),
        "conversations.json": state("conversations", {"h": {"$dict": [[{"$tuple": [1]}, 2]]}}),
    }
    moves = {}
    for index, (name, data) in enumerate(new.items()):
        (directory / name).write_bytes(old[name])
        temp = f".{name}.crash{index}.tmp"
        (directory / temp).write_bytes(data)
        moves[name] = temp
    (directory / JOURNAL).write_bytes(
        json.dumps({"jsonpersist-journal": 1, "moves": moves}).encode()
    )
    for name in list(moves)[:renamed]:
        os.replace(directory / moves[name], directory / name)
    (directory / ".user_data.json.unrelated.tmp").write_bytes(b"{ half a file")
    return new


@pytest.mark.parametrize("renamed", [0, 1, 2, 3])
async def test_a_crashed_round_is_completed_from_the_journal_at_start_up(
    directory: Path, renamed: int
) -> None:
    expected = _leave_a_crashed_round(directory, renamed)
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    assert await persistence.get_user_data() == {1: {"v": "new"}, 2: {"t": (2,)}}
    assert await persistence.get_chat_data() == {-1: {"v": "new"}}
    assert await persistence.get_conversations("h") == {(1,): 2}
    for name, data in expected.items():
        assert (directory / name).read_bytes() == data
    assert not (directory / JOURNAL).exists()
    assert temp_files(directory) == []
    await persistence.flush()


@pytest.mark.parametrize(
    "journal",
    [
        b"{ not json",
        b'{"jsonpersist-journal": 1}',
        b'{"jsonpersist-journal": 1, "moves": {"../escaped.json": ".user_data.json.x.tmp"}}',
        b'{"jsonpersist-journal": 1, "moves": {"user_data.json": "victim.json"}}',
    ],
    ids=["not JSON", "no moves", "target outside", "source not a temp file"],
)
async def test_a_bad_journal_is_refused_and_nothing_is_moved(
    directory: Path, journal: bytes
) -> None:
    directory.mkdir()
    (directory / "user_data.json").write_bytes(state("user_data", {"1": {"v": "old"}}))
    (directory / ".user_data.json.x.tmp").write_bytes(state("user_data", {}))
    (directory / "victim.json").write_bytes(b"someone else's file")
    (directory / JOURNAL).write_bytes(journal)
    before = {path.name: path.read_bytes() for path in directory.iterdir()}

    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    with pytest.raises(CorruptStateError) as caught:
        await persistence.get_user_data()
    assert caught.value.file == directory.resolve() / JOURNAL
    await persistence.flush()
    after = {path.name: path.read_bytes() for path in directory.iterdir()}
    for name, data in before.items():
        assert after[name] == data, name
    assert not (directory.parent / "escaped.json").exists()


# ------------------------------------------------------------------------ fault injection


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def _is_temp_fd(fd: int) -> bool:
    return _fd_path(fd).endswith(".tmp")


def _is_dir_fd(fd: int) -> bool:
    try:
        return stat.S_ISDIR(os.fstat(fd).st_mode)
    except OSError:
        return False


class Fault:
    """Makes ``os.<function>`` raise ``OSError(code)`` the first ``times`` calls that match."""

    def __init__(
        self, function: str, code: int, matches: Callable[..., bool], times: int = 1
    ) -> None:
        self.function, self.code, self.matches, self.remaining = function, code, matches, times
        self.hits = 0

    @contextlib.contextmanager
    def active(self) -> Iterator[Fault]:
        # The store writes a file's pieces with writev, and single buffers with write.
        names = [self.function] + (["writev"] if self.function == "write" else [])
        with contextlib.ExitStack() as stack:
            for name in names:
                stack.enter_context(mock.patch(f"os.{name}", self._faulty(getattr(os, name))))
            yield self

    def _faulty(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def faulty(*args: Any, **kwargs: Any) -> Any:
            if self.remaining and self.matches(*args):
                self.remaining -= 1
                self.hits += 1
                raise OSError(self.code, os.strerror(self.code))
            return real(*args, **kwargs)

        return faulty


def _fault(step: str, directory: Path, target: str) -> Fault:
    """The fault for one step of ``Store.write`` of ``target``."""
    resolved = str(directory.resolve())
    faults = {
        "create temp": ("open", errno.ENOSPC, lambda path, *_: str(path).endswith(".tmp")),
        "write": ("write", errno.ENOSPC, lambda fd, *_: _is_temp_fd(fd)),
        "chmod": ("fchmod", errno.EPERM, lambda fd, *_: _is_temp_fd(fd)),
        "fsync": ("fsync", errno.EIO, _is_temp_fd),
        "replace": ("replace", errno.EIO, lambda _, dst, *__: os.path.basename(dst) == target),
        "open directory": ("open", errno.EIO, lambda path, *_: str(path) == resolved),
        "fsync directory": ("fsync", errno.EIO, _is_dir_fd),
    }
    function, code, matches = faults[step]
    return Fault(function, code, matches)


STEPS = ["create temp", "write", "chmod", "fsync", "replace", "open directory", "fsync directory"]
AFTER_REPLACE = {"open directory", "fsync directory"}


@pytest.fixture
def store(directory: Path) -> Iterator[Store]:
    store = Store(directory)
    store.open()
    store.write({"user_data.json": b"old contents\n"})
    os.chmod(directory / "user_data.json", 0o640)
    yield store
    store.close()


@pytest.mark.parametrize("step", STEPS)
def test_a_failed_step_raises_a_typed_error_leaves_no_temp_and_the_next_write_works(
    store: Store, directory: Path, step: str
) -> None:
    fault = _fault(step, directory, "user_data.json")
    with fault.active(), pytest.raises(StateWriteError) as caught:
        store.write({"user_data.json": b"new contents\n"})
    assert fault.hits == 1
    error = caught.value
    assert isinstance(error, OSError)
    assert error.errno == fault.code
    assert isinstance(error.__cause__, OSError)
    assert error.__cause__.errno == fault.code
    expected_file = directory.resolve() / ("" if step in AFTER_REPLACE else "user_data.json")
    assert error.file == expected_file
    assert str(error.file) in str(error)
    assert temp_files(directory) == []
    assert (directory / "user_data.json").read_bytes() in (b"old contents\n", b"new contents\n")

    store.write({"user_data.json": b"next contents\n"})
    assert (directory / "user_data.json").read_bytes() == b"next contents\n"
    assert stat.S_IMODE(os.stat(directory / "user_data.json").st_mode) == 0o640
    assert temp_files(directory) == []
    assert not (directory / JOURNAL).exists()


@pytest.mark.parametrize("step", [step for step in STEPS if step not in AFTER_REPLACE])
def test_a_failed_step_leaves_the_old_file_byte_identical(
    store: Store, directory: Path, step: str
) -> None:
    before = os.stat(directory / "user_data.json")
    with (
        _fault(step, directory, "user_data.json").active(),
        pytest.raises(StateWriteError) as raised,
    ):
        store.write({"user_data.json": b"new contents\n"})
    assert (directory / "user_data.json").read_bytes() == b"old contents\n"
    assert os.stat(directory / "user_data.json").st_ino == before.st_ino
    assert raised.value.replaced is False
    assert "previous version is intact" in str(raised.value)


@pytest.mark.parametrize("step", sorted(AFTER_REPLACE))
def test_a_failed_directory_sync_says_the_new_version_is_in_place(
    store: Store, directory: Path, step: str
) -> None:
    with (
        _fault(step, directory, "user_data.json").active(),
        pytest.raises(StateWriteError) as raised,
    ):
        store.write({"user_data.json": b"new contents\n"})
    assert (directory / "user_data.json").read_bytes() == b"new contents\n"
    assert raised.value.replaced is True
    assert "may not survive a power loss" in str(raised.value)


@pytest.mark.parametrize("step", ["create temp", "write", "fsync", "replace"])
def test_a_fault_writing_a_new_file_creates_nothing(directory: Path, step: str) -> None:
    store = Store(directory)
    store.open()
    try:
        with _fault(step, directory, "chat_data.json").active(), pytest.raises(StateWriteError):
            store.write({"chat_data.json": b"new\n"})
        assert not (directory / "chat_data.json").exists()
        assert temp_files(directory) == []
    finally:
        store.close()


FILES = ("a.json", "b.json", "c.json")


@pytest.mark.parametrize(
    "failing",
    [
        "write of the 2nd temp",
        "write of the journal",
        "replace of the journal",
        pytest.param(
            "replace of a.json",
        ),
        pytest.param(
            "replace of c.json",
        ),
        "fsync directory",
    ],
)
def test_a_fault_in_a_round_of_several_files_is_all_or_nothing(
    directory: Path, failing: str
) -> None:
    store = Store(directory)
    store.open()
    store.write({name: b"old " + name.encode() for name in FILES})
    if failing == "write of the 2nd temp":
        fault = Fault("write", errno.ENOSPC, lambda fd, *_: ".b.json." in _fd_path(fd))
    elif failing == "write of the journal":
        fault = Fault("write", errno.ENOSPC, lambda fd, *_: f".{JOURNAL}." in _fd_path(fd))
    elif failing == "fsync directory":
        fault = _fault("fsync directory", directory, "")
        fault.remaining = 2  # after the journal and after the renames
    else:
        target = JOURNAL if failing.endswith("journal") else failing.rsplit(maxsplit=1)[-1]
        fault = Fault("replace", errno.EIO, lambda src, dst, *_: os.path.basename(dst) == target)
    with fault.active(), pytest.raises(StateWriteError) as caught:
        store.write({name: b"new " + name.encode() for name in FILES})
    assert fault.hits >= 1
    assert caught.value.errno == fault.code
    store.close()  # the process dies here; the next one opens the directory

    recovered = Store(directory)
    recovered.open()
    try:
        contents = {name: (directory / name).read_bytes() for name in FILES}
        ages = {data.split()[0] for data in contents.values()}
        assert len(ages) == 1, contents
        assert temp_files(directory) == []
        assert not (directory / JOURNAL).exists()
        recovered.write({name: b"next " + name.encode() for name in FILES})
        assert {(directory / name).read_bytes() for name in FILES} == {
            b"next " + name.encode() for name in FILES
        }
    finally:
        recovered.close()


async def test_a_persistence_round_that_fails_to_write_keeps_every_file(directory: Path) -> None:
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    await persistence.get_user_data()
    await persistence.get_chat_data()
    await asyncio.gather(
        persistence.update_user_data(1, {"v": "old"}), persistence.update_chat_data(1, {"v": 0})
    )
    before = {
        name: (directory / name).read_bytes() for name in ("user_data.json", "chat_data.json")
    }
    with Fault("write", errno.ENOSPC, lambda fd, *_: ".chat_data.json." in _fd_path(fd)).active():
        results = await asyncio.gather(
            persistence.update_user_data(1, {"v": "new"}),
            persistence.update_chat_data(1, {"v": 1}),
            return_exceptions=True,
        )
    assert all(isinstance(result, StateWriteError) for result in results), results
    assert all(result.errno == errno.ENOSPC for result in results)  # type: ignore[union-attr]
    for name, data in before.items():
        assert (directory / name).read_bytes() == data
    assert temp_files(directory) == []

    await persistence.flush()  # writes what the failed round could not
    reader: JsonPersistence[Any, Any, Any] = JsonPersistence(directory, read_only=True)
    assert await reader.get_user_data() == {1: {"v": "new"}}
    assert await reader.get_chat_data() == {1: {"v": 1}}


def test_a_read_allocates_about_the_file_not_max_file_size(tmp_path: Path) -> None:
    """A 3-byte file read with the default limit (512 MiB) must not ask for 512 MiB: a host
    without memory overcommit (or under ulimit -v) failed every read so."""
    (tmp_path / "user_data.json").write_bytes(b"[]\n")
    store = Store(tmp_path, create=False)
    tracemalloc.start()
    try:
        raw, _ = store.read_version("user_data.json")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert raw == b"[]\n"
    assert peak < 1 << 20


@pytest.mark.parametrize(("limit", "refused"), [(50, True), (100, False), (5000, False)])
def test_a_file_that_grows_while_read_is_read_whole_or_refused(
    tmp_path: Path, limit: int, refused: bool
) -> None:
    store = Store(tmp_path, max_file_size=limit, create=False)
    grown = io.BytesIO(b"x" * 100)  # fstat said 10 bytes; 100 are there by the time of reading
    if refused:
        with pytest.raises(CorruptStateError, match="grew beyond max_file_size"):
            store._read_capped(grown, 10, tmp_path / "user_data.json")
    else:
        assert store._read_capped(grown, 10, tmp_path / "user_data.json") == b"x" * 100
