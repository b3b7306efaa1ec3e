"""``Store.swap``: a save never replaces a file someone wrote since the caller looked.

What ``watch=True`` relies on, tested on the store itself: the file expected is replaced, a
file written meanwhile (before the check, right after it, or twice within the swap) is kept
and reported, a file system that refuses ``renameat2`` falls back to a plain rename, and other
failures are typed errors. The person's edit "right after the check" is made by the
``os.lstat`` the check calls; the C module's system calls are replaced only to play a file
system that refuses them, or a race within its own microseconds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from jsonpersist import StateWriteError
from jsonpersist import _store as store_module
from jsonpersist._store import Store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file semantics")

try:
    from jsonpersist import _exchange as exchange  # the C module the store calls
except ImportError:  # not built
    exchange = None  # type: ignore[assignment]
needs_exchange = pytest.mark.skipif(
    not sys.platform.startswith("linux") or exchange is None,
    reason="renameat2 is Linux's, and needs the C module built at install",
)
JOURNAL = ".jsonpersist.journal"


def temp_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(".tmp"))


def edit(path: Path, data: bytes) -> None:
    """A person's editor saving: a new file renamed over the old one."""
    side = path.with_name(path.name + ".editor")
    side.write_bytes(data)
    os.rename(side, path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path)
    store.open()
    yield store
    store.close()


@contextlib.contextmanager
def edited_right_after_the_check(path: Path, data: bytes) -> Iterator[list[str]]:
    """The person saves ``path`` just after the store looked at it (once its temp is written)."""
    real_lstat = os.lstat
    done: list[str] = []

    def lstat(target: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        try:
            return real_lstat(target, *args, **kwargs)  # what the check sees (maybe no file)
        finally:
            if not done and os.fspath(target) == str(path) and temp_files(path.parent):
                edit(path, data)
                done.append(str(path))

    with mock.patch("os.lstat", lstat):
        yield done


def test_the_version_expected_is_replaced(store: Store, tmp_path: Path) -> None:
    store.write({"a.json": b"old"})
    versions, raced = store.swap({"a.json": b"new"}, {"a.json": store.signature("a.json")})
    assert raced == set()
    assert (tmp_path / "a.json").read_bytes() == b"new"
    assert versions["a.json"] == store.signature("a.json")
    assert temp_files(tmp_path) == []


def test_a_file_expected_absent_is_created_private(store: Store, tmp_path: Path) -> None:
    versions, raced = store.swap({"a.json": b"new"}, {"a.json": None})
    assert raced == set()
    assert (tmp_path / "a.json").read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(tmp_path / "a.json").st_mode) == 0o600
    assert versions["a.json"] == store.signature("a.json")
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("existed", [True, False])
def test_a_file_written_before_the_check_is_kept_and_reported(
    store: Store, tmp_path: Path, existed: bool
) -> None:
    if existed:
        store.write({"a.json": b"old"})
    expected = store.signature("a.json")
    edit(tmp_path / "a.json", b"the person's")
    _, raced = store.swap({"a.json": b"new", "b.json": b"b"}, {"a.json": expected})
    assert raced == {"a.json"}
    assert (tmp_path / "a.json").read_bytes() == b"the person's"
    assert (tmp_path / "b.json").read_bytes() == b"b"
    assert temp_files(tmp_path) == []
    assert not (tmp_path / JOURNAL).exists()


@needs_exchange
@pytest.mark.parametrize("existed", [True, False])
def test_a_file_written_right_after_the_check_is_kept_and_reported(
    store: Store, tmp_path: Path, existed: bool
) -> None:
    if existed:
        store.write({"a.json": b"old"})
    expected = store.signature("a.json")
    with edited_right_after_the_check(tmp_path / "a.json", b"the person's") as done:
        _, raced = store.swap({"a.json": b"new"}, {"a.json": expected})
    assert done, "the edit was not made"
    assert raced == {"a.json"}
    assert (tmp_path / "a.json").read_bytes() == b"the person's"
    assert temp_files(tmp_path) == []


@needs_exchange
def test_a_file_written_twice_within_the_swap_keeps_both_edits(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The swap put the save in place, found an edit, swapped back, and found a second edit."""
    store.write({"a.json": b"old"})
    target = tmp_path / "a.json"

    def raced_twice(new: Any, path: Any, *_: Any) -> int:
        edit(target, b"first edit")  # in place before the swap: it is swapped back there
        os.replace(new, Path(new).with_suffix(".ours"))  # the save's file, overwritten later
        Path(new).write_bytes(b"second edit")  # came back from the second swap
        Path(new).with_suffix(".ours").unlink()
        return 2

    monkeypatch.setattr(exchange, "exchange_checked", raced_twice)
    _, raced = store.swap({"a.json": b"new"}, {"a.json": store.signature("a.json")})
    monkeypatch.undo()
    assert raced == {"a.json"}
    assert target.read_bytes() == b"first edit"
    kept = [path for path in tmp_path.iterdir() if path.name.startswith("a.json.raced-")]
    assert [path.read_bytes() for path in kept] == [b"second edit"]
    assert temp_files(tmp_path) == []


@needs_exchange
def test_an_edit_the_swap_displaced_and_put_back_is_kept(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The C call's own answer 1: the person's file is back, the save's file at the temp."""
    store.write({"a.json": b"old"})
    real = exchange.exchange_checked

    def edited_just_before(new: Any, path: Any, *args: Any) -> int:
        edit(Path(path), b"the person's")
        status: int = real(new, path, *args)
        return status

    monkeypatch.setattr(exchange, "exchange_checked", edited_just_before)
    _, raced = store.swap({"a.json": b"new"}, {"a.json": store.signature("a.json")})
    monkeypatch.undo()
    assert raced == {"a.json"}
    assert (tmp_path / "a.json").read_bytes() == b"the person's"
    assert temp_files(tmp_path) == []
    assert [path.name for path in tmp_path.iterdir() if ".raced-" in path.name] == []


@pytest.mark.parametrize("code", [errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP])
@pytest.mark.parametrize("existed", [True, False])
def test_a_file_system_that_refuses_renameat2_gets_a_plain_rename(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, existed: bool
) -> None:
    if existed:
        store.write({"a.json": b"old"})

    def refused(*_: Any) -> Any:
        raise OSError(code, os.strerror(code))

    if exchange is not None:
        monkeypatch.setattr(exchange, "exchange_checked", refused)
        monkeypatch.setattr(exchange, "rename_noreplace", refused)
    _, raced = store.swap({"a.json": b"new"}, {"a.json": store.signature("a.json")})
    monkeypatch.undo()
    assert raced == set()
    assert (tmp_path / "a.json").read_bytes() == b"new"
    assert temp_files(tmp_path) == []


def test_without_the_c_module_a_swap_is_a_checked_rename(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write({"a.json": b"old"})
    monkeypatch.setattr(store_module, "_exchange", None)
    _, raced = store.swap({"a.json": b"new"}, {"a.json": store.signature("a.json")})
    assert raced == set()
    assert (tmp_path / "a.json").read_bytes() == b"new"
    edit(tmp_path / "a.json", b"the person's")
    _, raced = store.swap({"a.json": b"newer"}, {"a.json": None})
    assert raced == {"a.json"}
    assert (tmp_path / "a.json").read_bytes() == b"the person's"
    assert temp_files(tmp_path) == []


@needs_exchange
@pytest.mark.parametrize("existed", [True, False])
def test_a_failing_swap_is_a_typed_error_and_leaves_the_old_file(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existed: bool
) -> None:
    if existed:
        store.write({"a.json": b"old"})

    def failing(*_: Any) -> Any:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(exchange, "exchange_checked", failing)
    monkeypatch.setattr(exchange, "rename_noreplace", failing)
    with pytest.raises(StateWriteError) as raised:
        store.swap({"a.json": b"new"}, {"a.json": store.signature("a.json")})
    monkeypatch.undo()
    assert raised.value.file == tmp_path.resolve() / "a.json"
    assert raised.value.errno == errno.EIO
    if existed:
        assert (tmp_path / "a.json").read_bytes() == b"old"
    else:
        assert not (tmp_path / "a.json").exists()
    assert temp_files(tmp_path) == []


@needs_exchange
def test_a_failing_swap_in_a_round_is_completed_from_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path)
    store.open()
    store.write({"a.json": b"old a", "b.json": b"old b"})
    expect = {name: store.signature(name) for name in ("a.json", "b.json")}
    real = exchange.exchange_checked

    def failing_for_b(new: Any, path: Any, *args: Any) -> int:
        if str(path).endswith("b.json"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        status: int = real(new, path, *args)
        return status

    monkeypatch.setattr(exchange, "exchange_checked", failing_for_b)
    with pytest.raises(StateWriteError):
        store.swap({"a.json": b"new a", "b.json": b"new b"}, expect)
    monkeypatch.undo()
    store.close()
    store.open()  # the next start-up completes the round
    try:
        assert (tmp_path / "a.json").read_bytes() == b"new a"
        assert (tmp_path / "b.json").read_bytes() == b"new b"
        assert temp_files(tmp_path) == []
    finally:
        store.close()
