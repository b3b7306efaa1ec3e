"""Files on disk: the directory lock, atomic durable replacement and the redo journal.

This module knows nothing about Telegram or the codec: it reads and writes named byte strings.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from filelock import FileLock, Timeout

try:
    from jsonpersist import _exchange
except ImportError:  # not built (no C compiler): saves rename, with the window that leaves
    _exchange = None  # type: ignore[assignment]
from jsonpersist._errors import (
    CorruptStateError,
    StateDirectoryError,
    StateLockedError,
    StateWriteError,
)
from jsonpersist._files import (
    Signature,
    alive,
    clear_pid,
    full_fsync,
    read_own_file,
    record_pid,
    safe_directory,
    special_kind,
    stat_signature,
    write_all,
)
from jsonpersist._journal import JOURNAL, TEMP_SUFFIX, journal_bytes, pending_moves

__all__ = ("BOOKKEEPING", "DEFAULT_MAX_FILE_SIZE", "Signature", "Store")


OWNER_LOCK = ".jsonpersist.lock"
ROUND_LOCK = ".jsonpersist.round.lock"
GITIGNORE = ".gitignore"
GITIGNORE_TEXT = (
    "# Written by jsonpersist: its lock, journal and temporary files are not state.\n"
    ".jsonpersist.*\n"
    ".*.tmp\n"
)
#: The files jsonpersist keeps beside the state files for itself.
BOOKKEEPING = frozenset({GITIGNORE, OWNER_LOCK, ROUND_LOCK})
#: Larger state files are refused on load instead of exhausting a small host's memory.
DEFAULT_MAX_FILE_SIZE = 512 * 1024 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# Opening a FIFO planted in place of a file without O_NONBLOCK waits for a writer forever.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
#: How long a second owner waits for the holder of the owner lock to record its PID.
HOLDER_WAIT = 1.0
# What _exchange.exchange_checked() did: placed the file, or swapped back what someone wrote.
_PLACED, _RACED_TWICE = 0, 2
# renameat2's refusals that mean "not here": not Linux, or a file system without support.
_NO_EXCHANGE = frozenset(
    {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}
)


#: How much a read asks for at a time when a file grows while it is read.
_GROWTH_PIECE = 1 << 20


class Store:
    """A directory of state files that one :class:`Store` owns at a time.

    Args:
        directory (:class:`pathlib.Path`): Created (mode 0700, missing parents too) if missing
            and ``create``.
        max_file_size (:obj:`int`, optional): Larger files are refused on load.
        create (:obj:`bool`, optional): Whether to create a missing directory, and to check
            that no other user can replace it. Default: :obj:`True`; readers pass :obj:`False`.

    Attributes:
        directory (:class:`pathlib.Path`): The resolved state directory.

    Raises:
        UnsafeDirectoryError: With ``create``: another user could replace the directory.
    """

    __slots__ = ("_owner", "_paths", "_round", "directory", "max_file_size")

    def __init__(
        self, directory: Path, max_file_size: int = DEFAULT_MAX_FILE_SIZE, create: bool = True
    ) -> None:
        self.directory = safe_directory(directory) if create else directory.resolve()
        self.max_file_size = max_file_size
        self._owner: FileLock | None = None
        self._paths: dict[str, str] = {}  # str paths for signature(): it runs per update
        self._round = FileLock(
            self.directory / ROUND_LOCK, mode=0o600, thread_local=False, preserve_lock_file=True
        )

    # ------------------------------------------------------------------------- ownership

    @property
    def is_open(self) -> bool:
        """:obj:`bool`: Whether this store holds the directory's owner lock."""
        return self._owner is not None

    def open(self) -> None:
        """Takes ownership of the directory and finishes what a crash left behind.

        Replays a complete redo journal, removes stale temporary files and writes the
        ``.gitignore``.

        Raises:
            StateLockedError: Another store (any process) owns the directory.
            StateDirectoryError: A lock file cannot be used (see :meth:`round_lock`).
            CorruptStateError: The redo journal is not a regular file or is unreadable.
        """
        if self._owner is not None:
            return
        owner = FileLock(
            self.directory / OWNER_LOCK,
            mode=0o600,
            thread_local=False,
            preserve_lock_file=True,  # unlinking a held lock file lets a second owner in
        )
        # The holder records its PID only after it has the lock: a rival that lost the race
        # by a few microseconds finds no PID yet, or the dead one of a crashed holder.
        deadline = time.monotonic() + HOLDER_WAIT
        while not self._take(owner, OWNER_LOCK, timeout=0):
            pid = self._holder_pid()
            if pid is not None or time.monotonic() >= deadline:
                raise StateLockedError(self.directory, pid)
            time.sleep(0.01)
        try:
            record_pid(self.path(OWNER_LOCK))
        except BaseException:
            owner.release()
            raise
        self._owner = owner
        with self.round_lock():
            self._replay_journal()
            self._sweep_temp_files()
        if not os.path.lexists(self.path(GITIGNORE)):  # a symlink there is not followed
            self.write({GITIGNORE: GITIGNORE_TEXT.encode()}, mode=0o644)

    def close(self) -> None:
        """Gives up ownership of the directory (the lock file itself stays, by design)."""
        if self._owner is not None:
            clear_pid(self.path(OWNER_LOCK))
            self._owner.release()
            self._owner = None

    def _holder_pid(self) -> int | None:
        """The PID recorded in the owner lock, if that process is alive."""
        try:
            text = read_own_file(self.path(OWNER_LOCK), 32)
        except (OSError, CorruptStateError):
            return None
        digits = (text or "").strip()
        if not (digits.isascii() and digits.isdigit() and len(digits) < 10):  # noqa: PLR2004
            return None
        pid = int(digits)
        return pid if pid > 0 and alive(pid) else None

    def _take(self, lock: FileLock, name: str, timeout: float) -> bool:
        """Acquires one of the directory's locks; :obj:`False` if it is held (``timeout``).

        Raises:
            StateDirectoryError: The lock file is not a regular file, or cannot be opened.
        """
        path = self.path(name)
        kind = special_kind(path)
        if kind is not None:
            raise StateDirectoryError(
                path,
                f"is {kind}, not jsonpersist's lock file; someone with write access to the "
                "directory put it there: remove it, and check who else can write here",
            )
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            return False
        except OSError as exc:
            raise StateDirectoryError(
                path,
                f"cannot take the lock: {exc.strerror or exc}"
                + (
                    "; a read-only directory can only be read (read_only=True, or the "
                    "jsonpersist commands check and show)"
                    if exc.errno == errno.EROFS
                    else ""
                ),
                exc,
            ) from exc
        return True

    @contextlib.contextmanager
    def round_lock(self) -> Iterator[None]:
        """Holds the lock under which a round's files are replaced.

        A snapshot taken under this lock sees every file of a round or none of them.

        Raises:
            StateDirectoryError: The lock file is a directory, a symlink or another special
                file, or the file system refuses to open it (read-only, no permission).
        """
        self._take(self._round, ROUND_LOCK, timeout=-1)
        try:
            yield
        finally:
            self._round.release()

    # ------------------------------------------------------------------------------ reading

    def path(self, name: str) -> Path:
        """The path of a state file."""
        return self.directory / name

    def read(self, name: str) -> bytes | None:
        """Reads a whole state file; :obj:`None` when it does not exist.

        Raises:
            CorruptStateError: The file is a symlink, not a regular file, or too large.
            OSError: The file exists but cannot be read.
        """
        return self.read_version(name)[0]

    def signature(self, name: str) -> Signature | None:
        """The :data:`Signature` of a state file now; :obj:`None` when it does not exist."""
        path = self._paths.get(name)
        if path is None:
            path = self._paths[name] = str(self.path(name))
        try:
            return stat_signature(os.lstat(path))
        except FileNotFoundError:
            return None

    def read_version(self, name: str) -> tuple[bytes | None, Signature | None]:
        """Reads a whole state file and the :data:`Signature` of the version read.

        Raises:
            CorruptStateError: The file is a symlink, not a regular file, or too large.
            OSError: The file exists but cannot be read.
        """
        path = self.path(name)
        try:
            # O_NONBLOCK: a FIFO planted in place of a state file must not hang the load
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            if exc.errno == errno.ELOOP or path.is_symlink():
                raise CorruptStateError(
                    "is a symlink; jsonpersist replaces state files atomically and would "
                    "replace the link, not its target. Move the real file here, or point the "
                    "persistence at the directory that holds it",
                    file=path,
                ) from None
            raise
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # before fdopen, which refuses a directory itself
            os.close(fd)
            raise CorruptStateError("is not a regular file", file=path)
        with os.fdopen(fd, "rb") as file:
            if info.st_size > self.max_file_size:
                raise CorruptStateError(
                    f"is {info.st_size:,} bytes, more than max_file_size "
                    f"({self.max_file_size:,}); raise the limit if the file is expected",
                    file=path,
                )
            return self._read_capped(file, info.st_size, path), stat_signature(info)

    def _read_capped(self, file: BinaryIO, size: int, path: Path) -> bytes:
        """Reads a file of ``size`` bytes (as fstat said), refusing one that grew too large.

        Reading ``max_file_size + 1`` bytes at once would allocate that much (512 MiB) for
        every read, whatever the file's size: a small host without overcommit fails there.

        Raises:
            CorruptStateError: The file grew beyond ``max_file_size`` while it was read.
        """
        data = file.read(size + 1)
        while size < len(data) <= self.max_file_size:  # it grew since fstat: read on
            size = len(data)
            data += file.read(min(_GROWTH_PIECE, self.max_file_size + 1 - size))
        if len(data) > self.max_file_size:
            raise CorruptStateError(
                f"grew beyond max_file_size ({self.max_file_size:,}) while it was read",
                file=path,
            )
        return data

    # ------------------------------------------------------------------------------ writing

    def write(
        self, files: Mapping[str, bytes | Sequence[bytes]], mode: int = 0o600
    ) -> dict[str, Signature]:
        """Replaces one or more files atomically and durably, all or nothing.

        A file's contents are given as bytes or as a sequence of pieces written one after the
        other (so a large file never has to exist as one buffer).

        Each file is written to a temporary file in the same directory and fsynced. One file is
        then renamed over its target; several are first named in a redo journal, so that a
        crash during the renames is completed at the next :meth:`open`. The directory is
        fsynced last. A new file gets :paramref:`mode`; an existing file keeps its own.

        Returns:
            dict[:obj:`str`, :data:`Signature`]: The signature of each file written.

        Raises:
            StateWriteError: A step failed; every file keeps its previous contents and no
                temporary file is left (a failure while renaming several files is completed
                from the journal at the next :meth:`write` or :meth:`open`).
        """
        return self._write(files, mode, None)[0]

    def swap(
        self, files: Mapping[str, bytes | Sequence[bytes]], expect: Mapping[str, Signature | None]
    ) -> tuple[dict[str, Signature], set[str]]:
        """:meth:`write`, but never over a file someone wrote since the caller looked.

        A file that is not the version the caller expected is left as it is, not written,
        and named in the result, for the caller to merge it and write again. On Linux the
        check cannot be raced: each file is swapped in with ``renameat2(RENAME_EXCHANGE)``
        (or created with ``RENAME_NOREPLACE``), and if the file it replaced turns out not to be
        the one expected, the two are swapped back at once. Where that is not available
        (another system, a file system that refuses it) this is :meth:`write` after a check,
        with the window between the check and the rename.

        Args:
            files: As for :meth:`write`.
            expect (Mapping[:obj:`str`, :data:`Signature` | :obj:`None`]): The version of each
                file the caller last saw (:obj:`None`: no file).

        Returns:
            The signature of each file written, and the names of the files not written.

        Raises:
            StateWriteError: As for :meth:`write`.
        """
        return self._write(files, 0o600, expect)

    def _write(
        self,
        files: Mapping[str, bytes | Sequence[bytes]],
        mode: int,
        expect: Mapping[str, Signature | None] | None,
    ) -> tuple[dict[str, Signature], set[str]]:
        raced: set[str] = set()
        with self.round_lock():
            self._replay_journal()
            temps, versions = self._prepare(files, mode)
            for name, temp in temps.items():
                # With a journal, a failed rename leaves the temps for the replay to finish.
                keep_temp = len(temps) > 1
                if expect is None:
                    self._install(name, temp, keep_temp)
                elif not self._swap_in(name, temp, expect.get(name), keep_temp, versions[name][0]):
                    raced.add(name)
            self._sync_directory(replaced=True)
            if len(temps) > 1:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.directory / JOURNAL)
        return versions, raced

    def _prepare(
        self, files: Mapping[str, bytes | Sequence[bytes]], mode: int
    ) -> tuple[dict[str, str], dict[str, Signature]]:
        """Writes every file's temporary file and, for several, the journal naming them.

        Until this returns the round has not happened: on any failure the temporary files
        are removed and the state files are untouched.

        Returns:
            The temporary file of each file, and the signature each keeps once renamed.
        """
        temps: dict[str, str] = {}
        versions: dict[str, Signature] = {}
        try:
            for name, data in files.items():
                temps[name], versions[name] = self._write_temp(name, data, mode)
            if len(temps) > 1:
                journal = journal_bytes(temps, versions)
                self._install(JOURNAL, self._write_temp(JOURNAL, journal, 0o600)[0])
                self._sync_directory()  # from now on the round is decided
        except BaseException:
            for temp in temps.values():
                with contextlib.suppress(OSError):
                    os.unlink(self.directory / temp)
            raise
        return temps, versions

    def _write_temp(
        self, name: str, data: bytes | Sequence[bytes], mode: int
    ) -> tuple[str, Signature]:
        """Writes ``data`` to a new fsynced temporary file beside ``name``.

        Returns:
            The temporary file's name and the signature it keeps once renamed.
        """
        target = self.path(name)
        try:
            current = os.lstat(target)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StateWriteError(target, exc) from exc
        else:
            if stat.S_ISLNK(current.st_mode):
                raise CorruptStateError(
                    "is a symlink; refusing to replace the link (see the symlink policy in "
                    "docs/guarantees.md)",
                    file=target,
                )
            mode = stat.S_IMODE(current.st_mode)
        fd, temp = -1, ""
        try:
            fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=TEMP_SUFFIX, dir=self.directory)
            write_all(fd, [data] if isinstance(data, bytes) else data)
            os.fchmod(fd, mode)
            full_fsync(fd)
            version = stat_signature(os.fstat(fd))  # a rename keeps inode, size and mtime
        except OSError as exc:
            if temp:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
            raise StateWriteError(target, exc) from exc
        finally:
            if fd >= 0:
                os.close(fd)
        return os.path.basename(temp), version

    def _install(self, name: str, temp: str, keep_temp: bool = False) -> None:
        try:
            os.replace(self.directory / temp, self.path(name))
        except OSError as exc:
            if not keep_temp:
                with contextlib.suppress(OSError):
                    os.unlink(self.directory / temp)
            raise StateWriteError(self.path(name), exc) from exc

    def _swap_in(
        self, name: str, temp: str, expected: Signature | None, keep_temp: bool, ours: int
    ) -> bool:
        """Renames ``temp`` (inode ``ours``) to ``name`` if ``name`` is the version expected.

        Returns:
            :obj:`bool`: Whether ``temp`` is in place now (else it was removed, and ``name``
            holds what someone wrote).
        """
        source, target = self.directory / temp, self.path(name)
        if self.signature(name) != expected:
            self._discard(source)
            return False
        try:
            if _exchange is None:
                raise OSError(errno.ENOSYS, "renameat2 is not available")
            if expected is None:
                _exchange.rename_noreplace(source, target)  # FileExistsError: someone made it
                return True
            # Swapped in, checked and (if someone wrote it since the look above) swapped back,
            # in one call that holds no lock of Python's: their file is away for microseconds.
            status = _exchange.exchange_checked(source, target, *expected, ours)
        except FileExistsError:
            self._discard(source)
            return False
        except OSError as exc:
            if exc.errno not in _NO_EXCHANGE:
                if not keep_temp:
                    self._discard(source)
                raise StateWriteError(target, exc) from exc
            self._install(name, temp, keep_temp)  # a plain rename, with its window
            return True
        if status == _RACED_TWICE:
            # Someone replaced the file twice within those microseconds: the earlier of their
            # two files is back in place, the later one is kept beside it, never deleted.
            os.replace(source, self.path(f"{name}.raced-{time.time_ns()}"))
        else:
            self._discard(source)  # the file replaced (0), or this save's own file (1)
        return status == _PLACED

    @staticmethod
    def _discard(path: Path) -> None:
        with contextlib.suppress(OSError):
            os.unlink(path)

    def _sync_directory(self, replaced: bool = False) -> None:
        try:
            fd = os.open(self.directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as exc:
            raise StateWriteError(self.directory, exc, replaced) from exc
        try:
            os.fsync(fd)
        except OSError as exc:  # never retried: after a failed fsync the page cache lies
            raise StateWriteError(self.directory, exc, replaced) from exc
        finally:
            os.close(fd)

    # ----------------------------------------------------------------------------- recovery

    def pending_moves(self) -> dict[str, str]:
        """The renames a redo journal still asks for: state file name -> temporary file name.

        Empty unless a crash (or a save under way) left a journal. Its round is decided: a
        reader that wants the state as it is now reads each temporary file instead of the
        state file it replaces (or, once renamed meanwhile, the state file).

        Raises:
            CorruptStateError: The journal is unreadable or names a file elsewhere.
            StateWriteError: The journal exists but cannot be read.
        """
        return pending_moves(self.directory)

    def _replay_journal(self) -> None:
        """Completes the renames of a round that a crash interrupted."""
        path = self.path(JOURNAL)
        if not os.path.lexists(path):
            return
        for name, temp in self.pending_moves().items():
            self._install(name, temp, keep_temp=True)
        self._sync_directory(replaced=True)
        try:
            os.unlink(path)  # os's, not pathlib's (on 3.10 pathlib holds its own reference)
        except OSError as exc:
            raise StateWriteError(path, exc, replaced=True) from exc

    def _sweep_temp_files(self) -> None:
        for entry in os.scandir(self.directory):
            if not (entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX)):
                continue
            if entry.is_dir(follow_symlinks=False):
                continue  # never one of jsonpersist's temporary files, and never read
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StateDirectoryError(
                    Path(entry.path),
                    f"cannot remove this stale temporary file: {exc.strerror}",
                    exc,
                ) from exc
