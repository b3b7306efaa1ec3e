"""The store at its edges: the size limit, its bookkeeping files and who the lock file names.

Each test sets up a real directory, at the exact boundary where an off-by-one or a wrong
constant would show: a file of exactly ``max_file_size`` bytes, the default limit of 512 MiB
(with a sparse file, which costs no disk), the modes of the lock files, the journal and the
``.gitignore``, and lock files holding what a crashed or foreign process left.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import pytest

from jsonpersist import CorruptStateError, StateDirectoryError, StateLockedError, StateWriteError
from jsonpersist._store import Store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and flock")

OWNER_LOCK = ".jsonpersist.lock"
ROUND_LOCK = ".jsonpersist.round.lock"
JOURNAL = ".jsonpersist.journal"
MiB = 1024 * 1024


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# --------------------------------------------------------------------------- the size limit


@pytest.mark.parametrize("limit", [1, 10, 4096])
def test_a_file_of_exactly_max_file_size_loads_and_one_byte_more_is_refused(
    tmp_path: Path, limit: int
) -> None:
    store = Store(tmp_path, max_file_size=limit, create=False)
    (tmp_path / "fits.json").write_bytes(b"x" * limit)
    (tmp_path / "too_large.json").write_bytes(b"x" * (limit + 1))
    assert store.read("fits.json") == b"x" * limit
    with pytest.raises(CorruptStateError, match="more than max_file_size") as raised:
        store.read("too_large.json")
    assert raised.value.file == tmp_path.resolve() / "too_large.json"


def test_a_file_growing_to_exactly_max_file_size_while_read_is_read_whole(
    tmp_path: Path,
) -> None:
    """fstat said 10 bytes; by the time of reading the file has 100, the limit."""
    store = Store(tmp_path, max_file_size=100, create=False)
    path = tmp_path / "user_data.json"
    path.write_bytes(b"x" * 10)
    real_fstat = os.fstat

    def fstat_then_grow(fd: int) -> os.stat_result:
        info = real_fstat(fd)
        path.write_bytes(b"x" * 100)  # another writer, right after the size was taken
        return info

    with mock.patch("os.fstat", fstat_then_grow):
        assert store.read("user_data.json") == b"x" * 100


def test_the_default_limit_is_512_mib_and_the_refusal_names_it(tmp_path: Path) -> None:
    """A 1 GiB file (sparse: no disk used) is refused before a byte of it is read."""
    store = Store(tmp_path, create=False)
    path = tmp_path / "user_data.json"
    with path.open("wb") as file:
        file.truncate(1024 * MiB)
    with pytest.raises(CorruptStateError) as raised:
        store.read("user_data.json")
    assert "more than max_file_size (536,870,912)" in str(raised.value)
    assert raised.value.file == tmp_path.resolve() / "user_data.json"


def test_a_state_file_of_a_few_kilobytes_loads_with_the_default_limit(tmp_path: Path) -> None:
    store = Store(tmp_path / "state")
    store.open()
    try:
        big = b"[" + b"1," * 5000 + b"1]\n"
        store.write({"user_data.json": big})
        assert store.read("user_data.json") == big
    finally:
        store.close()


# ------------------------------------------------------------------- bookkeeping files


def test_the_lock_files_stay_readable_by_the_owner_only_after_use(tmp_path: Path) -> None:
    """Deleting a lock file on release would split later waiters across two inodes."""
    store = Store(tmp_path)
    store.open()
    store.write({"user_data.json": b"[]"})
    store.close()
    for name in (OWNER_LOCK, ROUND_LOCK):
        assert (tmp_path / name).is_file(), name
        assert mode(tmp_path / name) == 0o600, name


def test_the_gitignore_written_at_start_up_is_world_readable_and_names_the_bookkeeping(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path)
    store.open()
    store.close()
    text = (tmp_path / ".gitignore").read_text()
    assert ".jsonpersist.*" in text.splitlines()
    assert ".*.tmp" in text.splitlines()
    assert mode(tmp_path / ".gitignore") == 0o644


def test_a_gitignore_someone_wrote_is_kept(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("mine\n")
    os.chmod(tmp_path / ".gitignore", 0o640)
    store = Store(tmp_path)
    store.open()
    store.close()
    assert (tmp_path / ".gitignore").read_text() == "mine\n"
    assert mode(tmp_path / ".gitignore") == 0o640


def test_a_new_state_file_is_private_and_an_existing_one_keeps_its_mode(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.open()
    try:
        store.write({"new.json": b"[]"})
        assert mode(tmp_path / "new.json") == 0o600
        store.write({"new.json": b"[1]", "other.json": b"[]"})
        assert mode(tmp_path / "new.json") == 0o600
        assert mode(tmp_path / "other.json") == 0o600
        os.chmod(tmp_path / "new.json", 0o644)
        store.write({"new.json": b"[2]"})
        assert mode(tmp_path / "new.json") == 0o644
    finally:
        store.close()


def test_the_journal_of_a_round_is_readable_by_the_owner_only(tmp_path: Path) -> None:
    """It names the round's temporary files; a round whose last rename failed leaves it."""
    store = Store(tmp_path)
    store.open()
    real_replace = os.replace

    def failing_replace(source: object, target: object, **kwargs: object) -> None:
        if str(target).endswith("b.json"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_replace(source, target, **kwargs)  # type: ignore[arg-type]

    try:
        with mock.patch("os.replace", failing_replace), pytest.raises(StateWriteError):
            store.write({"a.json": b"[1]", "b.json": b"[2]"})
        assert mode(tmp_path / JOURNAL) == 0o600
    finally:
        store.close()


def test_a_round_of_two_files_leaves_no_journal(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.open()
    try:
        store.write({"a.json": b"[1]", "b.json": b"[2]"})
        assert not (tmp_path / JOURNAL).exists()
        assert (tmp_path / "a.json").read_bytes() == b"[1]"
        assert (tmp_path / "b.json").read_bytes() == b"[2]"
    finally:
        store.close()


# ------------------------------------------------------------------- who holds the lock


@pytest.mark.parametrize("left", ["99999999", "9999999999", " \n9 \n"])
def test_a_new_owner_records_its_pid_over_whatever_the_file_held(
    tmp_path: Path, left: str
) -> None:
    (tmp_path / OWNER_LOCK).write_text(left)
    store = Store(tmp_path)
    store.open()
    try:
        assert (tmp_path / OWNER_LOCK).read_text() == str(os.getpid())
    finally:
        store.close()


@pytest.mark.parametrize(
    "content",
    [
        # No PID has ten digits; asking the kernel about one would overflow, not answer.
        "9999999999",
        # A live PID padded far beyond any PID's length is not read as one.
        str(os.getpid()).rjust(33),
    ],
    ids=["ten digits", "padded"],
)
def test_a_lock_file_that_holds_no_pid_names_no_holder(tmp_path: Path, content: str) -> None:
    holder = Store(tmp_path)
    holder.open()
    (tmp_path / OWNER_LOCK).write_text(content)
    try:
        with (
            mock.patch("jsonpersist._store.HOLDER_WAIT", 0.1),
            pytest.raises(StateLockedError) as raised,
        ):
            Store(tmp_path).open()
        assert raised.value.pid is None
    finally:
        holder.close()


def test_a_rival_waits_for_the_holder_to_record_its_pid_and_names_it(tmp_path: Path) -> None:
    """The holder has the flock but has not written its PID yet (it was paused right there)."""
    holder = Store(tmp_path)
    holder.open()
    (tmp_path / OWNER_LOCK).write_bytes(b"")
    writer = threading.Timer(0.1, (tmp_path / OWNER_LOCK).write_text, [str(os.getpid())])
    started = time.monotonic()
    writer.start()
    try:
        with pytest.raises(StateLockedError) as raised:
            Store(tmp_path).open()
        waited = time.monotonic() - started
        assert raised.value.pid == os.getpid()
        assert 0.05 < waited < 0.6, "noticed the PID soon after it was written"
    finally:
        writer.join()
        holder.close()


def test_a_rival_gives_up_about_a_second_after_finding_no_pid(tmp_path: Path) -> None:
    holder = Store(tmp_path)
    holder.open()
    (tmp_path / OWNER_LOCK).write_bytes(b"")
    started = time.monotonic()
    try:
        with pytest.raises(StateLockedError) as raised:
            Store(tmp_path).open()
        waited = time.monotonic() - started
        assert raised.value.pid is None
        assert 0.9 < waited < 2.5
    finally:
        holder.close()


def test_an_owner_that_cannot_record_its_pid_lets_the_directory_go(tmp_path: Path) -> None:

    def failing_ftruncate(fd: int, length: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    store = Store(tmp_path)
    with (
        mock.patch("os.ftruncate", failing_ftruncate),
        pytest.raises(StateDirectoryError) as raised,
    ):
        store.open()
    assert raised.value.file == tmp_path.resolve() / OWNER_LOCK
    assert not store.is_open
    other = Store(tmp_path)
    other.open()  # the failed owner holds nothing
    assert other.is_open
    other.close()


def test_closing_lets_another_store_in_and_opening_twice_is_harmless(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.open()
    store.open()
    assert store.is_open
    store.close()
    assert not store.is_open
    store.close()
    other = Store(tmp_path)
    other.open()
    other.close()


@pytest.mark.parametrize("lock", [OWNER_LOCK, ROUND_LOCK])
def test_a_lock_that_cannot_be_opened_is_a_typed_error_naming_it(
    tmp_path: Path, lock: str
) -> None:
    store = Store(tmp_path)
    store.open()
    store.close()
    real_open = os.open

    def refusing_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if str(path).endswith(lock):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    with mock.patch("os.open", refusing_open), pytest.raises(StateDirectoryError) as raised:
        store.open()
    assert raised.value.file == tmp_path.resolve() / lock
    assert "read-only" in str(raised.value)
    store.close()


def test_a_holder_running_as_pid_1_is_named(tmp_path: Path) -> None:
    """A bot that is its container's entrypoint runs as PID 1; a rival names it too."""
    holder = Store(tmp_path)
    holder.open()
    (tmp_path / OWNER_LOCK).write_text("1")
    try:
        with pytest.raises(StateLockedError) as raised:
            Store(tmp_path).open()
        assert raised.value.pid == 1
    finally:
        holder.close()


def test_a_store_opened_in_one_thread_can_be_closed_in_another(tmp_path: Path) -> None:
    """asyncio runs the opening load in a worker thread and the closing flush elsewhere."""
    store = Store(tmp_path)
    opener = threading.Thread(target=store.open)
    opener.start()
    opener.join()
    assert store.is_open
    store.close()
    other = Store(tmp_path)
    other.open()
    assert (tmp_path / OWNER_LOCK).read_text() == str(os.getpid())
    other.close()


def test_a_write_waits_for_a_reader_holding_the_round_lock_and_lets_it_go(
    tmp_path: Path,
) -> None:
    """A reader (``read_state``, another process) holds the round lock for a snapshot."""
    store = Store(tmp_path)
    store.open()
    reader = Store(tmp_path, create=False)
    released = threading.Event()

    def read_slowly() -> None:
        with reader.round_lock():
            time.sleep(0.3)
            released.set()

    thread = threading.Thread(target=read_slowly)
    try:
        thread.start()
        time.sleep(0.05)
        store.write({"user_data.json": b"[]"})
        assert released.is_set(), "the write did not wait for the reader's snapshot"
        with reader.round_lock():  # and the writer let it go
            assert reader.read("user_data.json") == b"[]"
    finally:
        thread.join()
        store.close()


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_a_lock_refused_by_the_file_system_says_why_in_words(tmp_path: Path, code: int) -> None:
    real_open = os.open

    def refusing_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if str(path).endswith(OWNER_LOCK):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    with mock.patch("os.open", refusing_open), pytest.raises(StateDirectoryError) as raised:
        Store(tmp_path).open()
    assert f"cannot take the lock: {os.strerror(code)}" in str(raised.value)
    assert ("read_only=True" in str(raised.value)) is (code == errno.EROFS)


def test_a_state_file_that_cannot_be_opened_is_the_os_error_not_corrupt_state(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path, create=False)
    (tmp_path / "user_data.json").write_bytes(b"[]")
    real_open = os.open

    def refusing_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if str(path).endswith("user_data.json"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    with mock.patch("os.open", refusing_open), pytest.raises(PermissionError) as raised:
        store.read("user_data.json")
    assert not isinstance(raised.value, CorruptStateError)


class TrickleFile:
    """A file whose reads return at most ``most`` bytes at a time (a FUSE or network mount)."""

    def __init__(self, data: bytes, most: int) -> None:
        self.data, self.most, self.at = data, most, 0

    def read(self, size: int) -> bytes:
        piece = self.data[self.at : self.at + min(size, self.most)]
        self.at += len(piece)
        return piece


def test_a_file_read_in_short_pieces_past_the_limit_is_refused_not_cut(tmp_path: Path) -> None:
    """fstat said 10 bytes; the file has 150 now and arrives 89 bytes at a time."""
    store = Store(tmp_path, max_file_size=100, create=False)
    with pytest.raises(CorruptStateError, match="grew beyond max_file_size"):
        store._read_capped(TrickleFile(b"x" * 150, 89), 10, tmp_path / "user_data.json")  # type: ignore[arg-type]
    assert store._read_capped(TrickleFile(b"x" * 100, 89), 10, tmp_path / "a.json") == b"x" * 100  # type: ignore[arg-type]


def test_a_write_returns_the_version_of_each_file_it_wrote(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.open()
    try:
        versions = store.write({"a.json": b"[1]", "b.json": b"[22]"})
        assert versions == {name: store.signature(name) for name in ("a.json", "b.json")}
        assert store.read_version("a.json") == (b"[1]", versions["a.json"])
    finally:
        store.close()


def test_a_store_creates_its_missing_directory_and_parents_private_even_under_umask_0(
    tmp_path: Path,
) -> None:
    old_umask = os.umask(0)
    try:
        store = Store(tmp_path / "bots" / "one" / "state")
    finally:
        os.umask(old_umask)
    for path in (tmp_path / "bots", tmp_path / "bots" / "one", store.directory):
        assert mode(path) == 0o700, path
    assert store.directory == (tmp_path / "bots" / "one" / "state").resolve()


def test_a_store_refuses_a_directory_everyone_can_write(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    os.chmod(tmp_path / "state", 0o777)
    with pytest.raises(StateDirectoryError, match="writable by everyone"):
        Store(tmp_path / "state")
