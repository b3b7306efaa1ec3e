"""Files on disk: the directory lock, atomic durable replacement and the redo journal.

This module knows nothing about Telegram or the codec: it reads and writes named byte strings.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import orjson
from filelock import FileLock, Timeout

from jsonpersist._errors import (
    CorruptStateError,
    JsonPersistError,
    StateLockedError,
    StateWriteError,
)

__all__ = ("BOOKKEEPING", "DEFAULT_MAX_FILE_SIZE", "Signature", "Store")

#: What tells one version of a file from another: (inode, size, mtime in ns).
Signature = tuple[int, int, int]

OWNER_LOCK = ".jsonpersist.lock"
ROUND_LOCK = ".jsonpersist.round.lock"
JOURNAL = ".jsonpersist.journal"
TEMP_SUFFIX = ".tmp"
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


def _full_fsync(fd: int) -> None:
    """Flushes a file to stable storage (on macOS, past the drive's cache too)."""
    if sys.platform == "darwin":
        import fcntl

        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
            return
    os.fsync(fd)


class Store:
    """A directory of state files that one :class:`Store` owns at a time.

    Args:
        directory (:class:`pathlib.Path`): Created (mode 0700) if missing and ``create``.
        max_file_size (:obj:`int`, optional): Larger files are refused on load.
        create (:obj:`bool`, optional): Whether to create a missing directory. Default:
            :obj:`True`; readers pass :obj:`False`.

    Attributes:
        directory (:class:`pathlib.Path`): The resolved state directory.
    """

    __slots__ = ("_owner", "_paths", "_round", "directory", "max_file_size")

    def __init__(
        self, directory: Path, max_file_size: int = DEFAULT_MAX_FILE_SIZE, create: bool = True
    ) -> None:
        if create:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory = directory.resolve()
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
        """
        if self._owner is not None:
            return
        owner = FileLock(
            self.directory / OWNER_LOCK,
            mode=0o600,
            thread_local=False,
            preserve_lock_file=True,  # unlinking a held lock file lets a second owner in
        )
        try:
            owner.acquire(timeout=0)
        except Timeout:
            raise StateLockedError(self.directory, self._holder_pid()) from None
        self._owner = owner
        _record_pid(self.directory / OWNER_LOCK)
        with self.round_lock():
            self._replay_journal()
            self._sweep_temp_files()
        gitignore = self.directory / GITIGNORE
        if not gitignore.exists():
            self.write({GITIGNORE: GITIGNORE_TEXT.encode()}, mode=0o644)

    def close(self) -> None:
        """Gives up ownership of the directory (the lock file itself stays, by design)."""
        if self._owner is not None:
            self._owner.release()
            self._owner = None

    def _holder_pid(self) -> int | None:
        try:
            text = (self.directory / OWNER_LOCK).read_text("ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return int(text) if text.isdigit() else None

    @contextlib.contextmanager
    def round_lock(self) -> Iterator[None]:
        """Holds the lock under which a round's files are replaced.

        A snapshot taken under this lock sees every file of a round or none of them.
        """
        with self._round:
            yield

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
            return _signature(os.lstat(path))
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
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
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
            return file.read(self.max_file_size + 1), _signature(info)

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
        with self.round_lock():
            self._replay_journal()
            temps, versions = self._prepare(files, mode)
            for name, temp in temps.items():
                # With a journal, a failed rename leaves the temps for the replay to finish.
                self._install(name, temp, keep_temp=len(temps) > 1)
            self._sync_directory(replaced=True)
            if len(temps) > 1:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.directory / JOURNAL)
        return versions

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
                journal = orjson.dumps({"jsonpersist-journal": 1, "moves": temps})
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
            _write_all(fd, [data] if isinstance(data, bytes) else data)
            os.fchmod(fd, mode)
            _full_fsync(fd)
            version = _signature(os.fstat(fd))  # a rename keeps inode, size and mtime
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
        path = self.path(JOURNAL)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StateWriteError(path, exc) from exc
        try:
            moves = orjson.loads(raw)["moves"]
            pairs = [(str(name), str(temp)) for name, temp in moves.items()]
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            # The journal is installed by an atomic rename, so it is whole or absent.
            raise CorruptStateError(f"unreadable redo journal: {exc}", file=path) from exc
        for name, temp in pairs:
            if os.sep in temp or os.sep in name or not temp.endswith(TEMP_SUFFIX):
                raise CorruptStateError("the redo journal names a file elsewhere", file=path)
        return {name: temp for name, temp in pairs if (self.directory / temp).exists()}

    def _replay_journal(self) -> None:
        """Completes the renames of a round that a crash interrupted."""
        path = self.path(JOURNAL)
        if not os.path.lexists(path):
            return
        for name, temp in self.pending_moves().items():
            self._install(name, temp, keep_temp=True)
        self._sync_directory(replaced=True)
        try:
            path.unlink()
        except OSError as exc:
            raise StateWriteError(path, exc, replaced=True) from exc

    def _sweep_temp_files(self) -> None:
        for entry in os.scandir(self.directory):
            if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


_IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024) if hasattr(os, "sysconf") else 1


def _write_all(fd: int, chunks: Sequence[bytes]) -> None:
    """Writes every chunk, in order, handling short writes."""
    writev = getattr(os, "writev", None)
    for start in range(0, len(chunks), _IOV_MAX):
        batch = chunks[start : start + _IOV_MAX]
        written = writev(fd, batch) if writev is not None else 0
        for chunk in batch:
            if written >= len(chunk):
                written -= len(chunk)
                continue
            view = memoryview(chunk)[written:]
            written = 0
            while view:
                view = view[os.write(fd, view) :]


def _signature(info: os.stat_result) -> Signature:
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _record_pid(path: Path) -> None:
    """Writes the owner's PID into the held lock file, for the error a second owner gets.

    Writing does not touch the flock, which belongs to the lock's own descriptor.
    """
    try:
        fd = os.open(path, os.O_WRONLY | _NOFOLLOW)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode("ascii"))
        finally:
            os.close(fd)
    except OSError as exc:
        raise JsonPersistError(f"could not record the owner's PID in {path}: {exc}") from exc
