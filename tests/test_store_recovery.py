"""Completing a round a crash interrupted, sweeping what it left, and the faults around it.

A round of several files is decided once its journal is in place: whatever fails after that,
the next write or start-up completes it, durably (the directory is fsynced before the journal
goes), and a failure while completing it is a typed error that leaves the journal for the next
try. Start-up also sweeps stale temporary files, and only those. Faults are injected by
patching the ``os`` call of one step; everything else is the real file system.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from jsonpersist import CorruptStateError, StateDirectoryError, StateWriteError
from jsonpersist._store import Store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file semantics")

JOURNAL = ".jsonpersist.journal"


def temp_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(".tmp"))


def is_directory_fd(fd: int) -> bool:
    try:
        return stat.S_ISDIR(os.fstat(fd).st_mode)
    except OSError:
        return False


@contextlib.contextmanager
def failing(function: str, code: int, matches: Callable[..., bool]) -> Iterator[list[Any]]:
    """``os.<function>`` raises ``OSError(code)`` for the calls that ``matches``; yields them."""
    real = getattr(os, function)
    hits: list[Any] = []

    def faulty(*args: Any, **kwargs: Any) -> Any:
        if matches(*args):
            hits.append(args)
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    with mock.patch(f"os.{function}", faulty):
        yield hits


def renaming_to(name: str) -> Callable[..., bool]:
    return lambda _, target, *__: os.path.basename(target) == name


@pytest.fixture
def interrupted(tmp_path: Path) -> Iterator[tuple[Store, Path]]:
    """A store whose last round (a, b: old -> new) failed renaming b: a is new, b still old."""
    directory = tmp_path / "state"
    store = Store(directory)
    store.open()
    store.write({"a.json": b"old a", "b.json": b"old b"})
    with failing("replace", errno.EIO, renaming_to("b.json")), pytest.raises(StateWriteError):
        store.write({"a.json": b"new a", "b.json": b"new b"})
    assert (directory / JOURNAL).exists()
    assert (directory / "b.json").read_bytes() == b"old b"
    yield store, directory
    store.close()


def test_the_next_write_completes_the_interrupted_round_first(
    interrupted: tuple[Store, Path],
) -> None:
    store, directory = interrupted
    store.write({"c.json": b"c"})
    assert (directory / "a.json").read_bytes() == b"new a"
    assert (directory / "b.json").read_bytes() == b"new b"
    assert not (directory / JOURNAL).exists()
    assert temp_files(directory) == []


def test_a_round_of_two_files_failing_its_last_rename_is_completed_at_start_up(
    interrupted: tuple[Store, Path],
) -> None:
    store, directory = interrupted
    store.close()
    store.open()
    assert (directory / "a.json").read_bytes() == b"new a"
    assert (directory / "b.json").read_bytes() == b"new b"
    assert temp_files(directory) == []


def test_a_replayed_round_is_fsynced_before_its_journal_goes(
    interrupted: tuple[Store, Path],
) -> None:
    store, _ = interrupted
    store.close()
    events: list[str] = []
    real_replace, real_fsync, real_unlink = os.replace, os.fsync, os.unlink

    def replace(source: Any, target: Any, **kwargs: Any) -> None:
        events.append(f"rename {os.path.basename(target)}")
        real_replace(source, target, **kwargs)

    def fsync(fd: int) -> None:
        if is_directory_fd(fd):
            events.append("fsync directory")
        real_fsync(fd)

    def unlink(path: Any, **kwargs: Any) -> None:
        events.append(f"unlink {os.path.basename(path)}")
        real_unlink(path, **kwargs)

    with (
        mock.patch("os.replace", replace),
        mock.patch("os.fsync", fsync),
        mock.patch("os.unlink", unlink),
    ):
        store.open()
    assert events.index("rename b.json") < events.index("fsync directory")
    assert events.index("fsync directory") < events.index(f"unlink {JOURNAL}")


@pytest.mark.parametrize("step", ["open directory", "fsync directory"])
def test_a_replay_whose_directory_sync_fails_says_the_files_are_in_place_and_keeps_the_journal(
    interrupted: tuple[Store, Path], step: str
) -> None:
    store, directory = interrupted
    store.close()
    resolved = directory.resolve()
    fault = (
        ("open", errno.EIO, lambda path, *_: Path(path) == resolved)
        if step == "open directory"
        else ("fsync", errno.EIO, is_directory_fd)
    )
    with failing(*fault) as hits, pytest.raises(StateWriteError) as raised:
        store.open()
    assert hits
    assert raised.value.file == resolved
    assert raised.value.replaced is True
    assert raised.value.errno == errno.EIO
    assert (directory / "b.json").read_bytes() == b"new b"
    assert (directory / JOURNAL).exists()
    store.close()
    store.open()  # the fault is gone: the replay is finished
    assert not (directory / JOURNAL).exists()


def test_a_replay_whose_rename_fails_keeps_the_files_to_finish_later(
    interrupted: tuple[Store, Path],
) -> None:
    store, directory = interrupted
    store.close()
    with (
        failing("replace", errno.EIO, renaming_to("b.json")),
        pytest.raises(StateWriteError) as raised,
    ):
        store.open()
    assert raised.value.file == directory.resolve() / "b.json"
    assert (directory / "b.json").read_bytes() == b"old b"
    store.close()
    store.open()
    assert (directory / "b.json").read_bytes() == b"new b"
    assert not (directory / JOURNAL).exists()


def test_a_journal_that_cannot_be_removed_is_a_typed_error_naming_it(
    interrupted: tuple[Store, Path],
) -> None:
    store, directory = interrupted
    store.close()
    with (
        failing("unlink", errno.EACCES, lambda path, *_: str(path).endswith(JOURNAL)),
        pytest.raises(StateWriteError) as raised,
    ):
        store.open()
    assert raised.value.file == directory.resolve() / JOURNAL
    assert raised.value.replaced is True
    assert raised.value.errno == errno.EACCES
    assert (directory / "b.json").read_bytes() == b"new b"
    store.close()


def test_start_up_sweeps_every_stale_temporary_file_and_nothing_else(tmp_path: Path) -> None:
    """Left by a process killed mid-save; directories and other files are never touched."""
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    kept = ["user_data.json", "notes.txt", ".hidden", "tmp.json", ".x.json.tmp.bak"]
    for index, name in enumerate(kept):
        (directory / name).write_bytes(b"%d" % index)
    for index in range(5):
        (directory / f".dir{index}.tmp").mkdir()
        (directory / f".dir{index}.tmp" / "inside").write_bytes(b"kept")
    for index in range(20):
        (directory / f".user_data.json.{index}.tmp").write_bytes(b"half a fi")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (directory / ".link.tmp").symlink_to(elsewhere)  # a link is no directory of ours
    store = Store(directory)
    store.open()
    store.close()
    assert temp_files(directory) == [f".dir{index}.tmp" for index in range(5)]
    for index, name in enumerate(kept):
        assert (directory / name).read_bytes() == b"%d" % index
    for index in range(5):
        assert (directory / f".dir{index}.tmp" / "inside").read_bytes() == b"kept"
    assert elsewhere.is_dir()


def test_a_stale_temporary_file_that_cannot_be_removed_is_a_typed_error_naming_it(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    stale = directory / ".user_data.json.x.tmp"
    stale.write_bytes(b"half")
    store = Store(directory)
    with (
        failing("unlink", errno.EPERM, lambda path, *_: str(path).endswith(".tmp")),
        pytest.raises(StateDirectoryError) as raised,
    ):
        store.open()
    assert raised.value.file == stale.resolve()
    assert "stale temporary file" in str(raised.value)
    store.close()


def test_a_stale_temporary_file_removed_meanwhile_is_no_error(tmp_path: Path) -> None:
    """Someone (a reader's cleanup, an editor) removed it between the listing and the unlink."""
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    (directory / ".user_data.json.x.tmp").write_bytes(b"half")
    store = Store(directory)
    real_unlink = os.unlink

    def gone_first(path: Any, **kwargs: Any) -> None:
        real_unlink(path, **kwargs)
        if str(path).endswith(".tmp"):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))

    with mock.patch("os.unlink", gone_first):
        store.open()
    assert store.is_open
    assert temp_files(directory) == []
    store.close()


# ------------------------------------------------------------------ faults of one write


def test_a_target_that_cannot_be_looked_at_is_a_typed_error_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path)
    store.open()
    store.write({"user_data.json": b"old"})
    target = str(tmp_path.resolve() / "user_data.json")
    try:
        with (
            failing("lstat", errno.EACCES, lambda path, *_: os.fspath(path) == target),
            pytest.raises(StateWriteError) as raised,
        ):
            store.write({"user_data.json": b"new"})
        assert raised.value.file == Path(target)
        assert raised.value.errno == errno.EACCES
        assert (tmp_path / "user_data.json").read_bytes() == b"old"
        assert temp_files(tmp_path) == []
    finally:
        store.close()


def test_a_state_file_replaced_by_a_symlink_is_refused_and_its_target_untouched(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "state"
    store = Store(directory)
    store.open()
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes(b"someone else's")
    (directory / "user_data.json").symlink_to(elsewhere)
    try:
        with pytest.raises(CorruptStateError) as raised:
            store.write({"user_data.json": b"new"})
        assert raised.value.file == directory.resolve() / "user_data.json"
        with pytest.raises(CorruptStateError, match="symlink"):
            store.read("user_data.json")
        assert (directory / "user_data.json").is_symlink()
        assert elsewhere.read_bytes() == b"someone else's"
        assert temp_files(directory) == []
    finally:
        store.close()


@pytest.mark.parametrize("most", [1, 3, 7])
def test_short_writes_still_write_every_byte_in_order(
    tmp_path: Path, most: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk nearly full, a signal: write() and writev() may write less than asked."""
    real_write = os.write
    calls: list[int] = []

    def short_write(fd: int, data: Any) -> int:
        calls.append(fd)
        return real_write(fd, bytes(data)[:most])

    def short_writev(fd: int, buffers: Any) -> int:
        calls.append(fd)
        return real_write(fd, b"".join(bytes(buffer) for buffer in buffers)[:most])

    pieces = [b"[", b"", b"1,2,3", b",", b"4" * 20, b"]\n"]
    store = Store(tmp_path)
    store.open()
    try:
        monkeypatch.setattr(os, "write", short_write)
        monkeypatch.setattr(os, "writev", short_writev)
        store.write({"user_data.json": pieces, "chat_data.json": b"{}" * 10})
        monkeypatch.undo()
        assert calls, "the short writes were not reached"
        assert (tmp_path / "user_data.json").read_bytes() == b"".join(pieces)
        assert (tmp_path / "chat_data.json").read_bytes() == b"{}" * 10
    finally:
        monkeypatch.undo()
        store.close()


def test_a_swap_round_cut_short_never_puts_a_replaced_file_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A swap leaves the file it replaced under the temporary name the journal names.

    Here the process could not remove it (it died, or the unlink failed) and the round broke
    off at the next file: the replay must see that a.json is already the new file.
    """
    exchange = pytest.importorskip("jsonpersist._exchange")
    if not sys.platform.startswith("linux"):
        pytest.skip("renameat2 is Linux's")
    store = Store(tmp_path)
    store.open()
    store.write({"a.json": b"old a", "b.json": b"old b"})
    expect = {name: store.signature(name) for name in ("a.json", "b.json")}
    real_exchange, real_unlink = exchange.exchange_checked, os.unlink

    def exchange_checked(new: Any, path: Any, *args: Any) -> int:
        if str(path).endswith("b.json"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        status: int = real_exchange(new, path, *args)
        return status

    def unlink(path: Any, **kwargs: Any) -> None:
        if str(path).endswith(".tmp"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_unlink(path, **kwargs)

    monkeypatch.setattr(exchange, "exchange_checked", exchange_checked)
    monkeypatch.setattr(os, "unlink", unlink)
    with pytest.raises(StateWriteError):
        store.swap({"a.json": b"new a", "b.json": b"new b"}, expect)
    monkeypatch.undo()
    assert b"old a" in [(tmp_path / name).read_bytes() for name in temp_files(tmp_path)]
    store.close()
    store.open()
    try:
        assert (tmp_path / "a.json").read_bytes() == b"new a"
        assert (tmp_path / "b.json").read_bytes() == b"new b"
        assert temp_files(tmp_path) == []
    finally:
        store.close()


def _journal(directory: Path, moves: dict[str, str], size: int) -> None:
    """A valid journal padded with spaces to exactly ``size`` bytes."""
    text = json.dumps({"jsonpersist-journal": 1, "moves": moves}).encode()
    (directory / JOURNAL).write_bytes(text + b" " * (size - len(text)))


@pytest.mark.parametrize(("size", "refused"), [(1024 * 1024, False), (1024 * 1024 + 1, True)])
def test_a_journal_up_to_one_mib_is_replayed_and_a_larger_one_refused(
    tmp_path: Path, size: int, refused: bool
) -> None:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    (directory / "a.json").write_bytes(b"old")
    (directory / ".a.json.x.tmp").write_bytes(b"new")
    _journal(directory, {"a.json": ".a.json.x.tmp"}, size)
    store = Store(directory)
    try:
        if refused:
            with pytest.raises(CorruptStateError, match="too large") as raised:
                store.open()
            assert raised.value.file == directory.resolve() / JOURNAL
            assert (directory / "a.json").read_bytes() == b"old"
        else:
            store.open()
            assert (directory / "a.json").read_bytes() == b"new"
    finally:
        store.close()


def test_a_journal_that_cannot_be_read_is_a_write_error_naming_it(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    (directory / "a.json").write_bytes(b"old")
    (directory / ".a.json.x.tmp").write_bytes(b"new")
    _journal(directory, {"a.json": ".a.json.x.tmp"}, 100)
    store = Store(directory)
    with (
        failing("open", errno.EIO, lambda path, *_: str(path).endswith(JOURNAL)),
        pytest.raises(StateWriteError) as raised,
    ):
        store.open()
    assert raised.value.file == directory.resolve() / JOURNAL
    assert raised.value.errno == errno.EIO
    assert (directory / "a.json").read_bytes() == b"old"
    store.close()
    store.open()  # readable again: the round is completed
    assert (directory / "a.json").read_bytes() == b"new"
    store.close()


@pytest.mark.parametrize("temp", ["../outside.tmp", "sub/inner.tmp"])
def test_a_journal_naming_a_temporary_file_elsewhere_is_refused(tmp_path: Path, temp: str) -> None:
    directory = tmp_path / "state"
    (directory / "sub").mkdir(parents=True, mode=0o700)
    (directory / "a.json").write_bytes(b"old")
    (tmp_path / "outside.tmp").write_bytes(b"someone else's")
    (directory / "sub" / "inner.tmp").write_bytes(b"someone else's")
    _journal(directory, {"a.json": temp}, 100)
    store = Store(directory)
    with pytest.raises(CorruptStateError, match="elsewhere"):
        store.open()
    assert (directory / "a.json").read_bytes() == b"old"
    assert (directory / temp).read_bytes() == b"someone else's"
    store.close()


def test_a_file_of_more_pieces_than_one_writev_takes_is_written_whole(tmp_path: Path) -> None:
    """A state of thousands of entries is thousands of pieces; writev takes 1,024 at a time."""
    pieces = [b"[\n"] + [b"[%d, {}],\n" % number for number in range(3000)] + [b"[]]\n"]
    store = Store(tmp_path)
    store.open()
    try:
        store.write({"user_data.json": pieces})
        assert (tmp_path / "user_data.json").read_bytes() == b"".join(pieces)
    finally:
        store.close()
