"""File-system helpers of the store: durable writes, safe opening, the lock's PID, safe parents.

Free functions on paths and descriptors, with no state: the store (``_store``) uses them for
its atomic writes, its locks and the checks of the state directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from jsonpersist._errors import (
    CorruptStateError,
    StateDirectoryError,
    UnsafeDirectoryError,
)

#: What tells one version of a file from another: (inode, size, mtime in ns).
Signature = tuple[int, int, int]
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# Opening a FIFO planted in place of a file without O_NONBLOCK waits for a writer forever.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def full_fsync(fd: int) -> None:
    """Flushes a file to stable storage (on macOS, past the drive's cache too)."""
    if sys.platform == "darwin":
        import fcntl

        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
            return
    os.fsync(fd)


def inode(path: Path) -> int | None:
    try:
        return os.lstat(path).st_ino
    except OSError:
        return None


_IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024) if hasattr(os, "sysconf") else 1


def write_all(fd: int, chunks: Sequence[bytes]) -> None:
    """Writes every chunk, in order, handling short writes."""
    writev = getattr(os, "writev", None)
    for start in range(0, len(chunks), _IOV_MAX):
        batch = chunks[start : start + _IOV_MAX]
        written = writev(fd, batch) if writev is not None else 0
        if written == sum(map(len, batch)):  # the usual case: all of it, no loop in Python
            continue
        for chunk in batch:
            if written >= len(chunk):
                written -= len(chunk)
                continue
            view = memoryview(chunk)[written:]
            written = 0
            while view:
                view = view[os.write(fd, view) :]


def stat_signature(info: os.stat_result) -> Signature:
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def record_pid(path: Path) -> None:
    """Writes the owner's PID into the held lock file, for the error a second owner gets.

    Writing does not touch the flock, which belongs to the lock's own descriptor.

    Raises:
        StateDirectoryError: The lock file was replaced meanwhile by something else than a
            regular file of its own, or cannot be written.
    """
    try:
        fd = os.open(path, os.O_WRONLY | _NOFOLLOW | _NONBLOCK)
        try:
            refuse_special(fd, path)
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode("ascii"))
        finally:
            os.close(fd)
    except OSError as exc:
        raise StateDirectoryError(
            path, f"could not record the owner's PID: {exc.strerror or exc}", exc
        ) from exc


def clear_pid(path: Path) -> None:
    """Empties the lock file before its lock is released, so no rival reads a former owner.

    A PID left behind (the write fails, the process is killed) names a process that no longer
    holds the lock: rivals name a recorded PID only while that process lives.
    """
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | _NOFOLLOW | _NONBLOCK)
        try:
            refuse_special(fd, path)
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)


def refuse_special(fd: int, path: Path) -> None:
    """Refuses a descriptor that is not a regular file with one name (not a hard link)."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        what = _kind(info.st_mode) if not stat.S_ISREG(info.st_mode) else "a hard link"
        raise OSError(
            errno.EPERM,
            f"it is {what}, not jsonpersist's own lock file; someone with write access to the "
            "directory put it there: remove it, and check who else can write here",
            str(path),
        )


def alive(pid: int) -> bool:
    """Whether a process exists (a zombie counts: it exited only just now)."""
    if os.name != "posix":  # Windows' os.kill(pid, 0) would send CTRL_C_EVENT
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def read_own_file(path: Path, limit: int) -> str | None:
    """Reads one of jsonpersist's own small files (the journal, the owner's PID) safely.

    Opened with ``O_NOFOLLOW`` and ``O_NONBLOCK``: a symlink planted there is never followed
    out of the directory, and a FIFO never blocks.

    Returns:
        The text (``latin-1``, which takes any bytes), or :obj:`None` when there is no file.

    Raises:
        CorruptStateError: It is not a regular file, or larger than ``limit`` bytes.
        OSError: It cannot be read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CorruptStateError("is a symlink, not a regular file", file=path) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CorruptStateError(f"is {_kind(info.st_mode)}, not a regular file", file=path)
        if info.st_size > limit:
            raise CorruptStateError(f"is {info.st_size:,} bytes, far too large", file=path)
        chunks = []
        while chunk := os.read(fd, limit + 1):
            chunks.append(chunk)
        return b"".join(chunks).decode("latin-1")
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, for messages."""
    for test, kind in (
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def special_kind(path: Path) -> str | None:
    """What is at ``path`` if it exists and is not a regular file with one name; else None.

    A hard link counts: whatever opens it as a lock file (filelock before 4.2.1 empties the
    file it locks) would reach the linked file elsewhere.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateDirectoryError(path, f"cannot look at it: {exc.strerror}", exc) from exc
    if stat.S_ISREG(info.st_mode):
        return "a hard link" if info.st_nlink > 1 else None
    return _kind(info.st_mode)


def safe_directory(directory: Path) -> Path:
    """Resolves a state directory, creates what is missing of it, and checks who can change it.

    Missing directories (parents too) are created ``0700``: ``Path.mkdir(parents=True)`` would
    create the parents with the umask's mode, ``0777`` under ``umask 0``. On POSIX, the
    directory and every directory above it must belong to this process's user or root, and
    none above it may be writable by others unless it has the sticky bit (as ``/tmp`` has);
    the directory itself may be writable by its group, not by everyone. Otherwise another
    user could swap it for a directory of their own, and the bot would load their state.

    Raises:
        UnsafeDirectoryError: Another user could replace the directory or its files.
        NotADirectoryError: Something on the path is not a directory.
        OSError: A directory cannot be created.
    """
    resolved = directory.resolve()
    if not hasattr(os, "geteuid"):  # Windows: no POSIX owners and modes to check
        resolved.mkdir(mode=0o700, parents=True, exist_ok=True)
        return resolved
    users = {0, os.geteuid()}
    for path in (*reversed(resolved.parents), resolved):
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, 0o700)
            info = os.lstat(path)
        problem = _replaceable(info, users, leaf=path == resolved)
        if problem is not None:
            raise UnsafeDirectoryError(
                resolved,
                path,
                f"{problem}, so another user could replace the state directory {resolved} "
                "(or its files) with their own; fix the owner or mode of this directory, or "
                "keep the state in a directory that only you and root can change",
            )
    return resolved


def _replaceable(info: os.stat_result, users: set[int], leaf: bool) -> str | None:
    """Why another user could replace a directory on a state directory's path, if they can."""
    if stat.S_ISLNK(info.st_mode):
        return "is a symlink that was not there when the path was resolved"
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "is not a directory")
    if info.st_uid not in users:
        return f"belongs to the user with uid {info.st_uid}"
    writable = info.st_mode & (stat.S_IWOTH if leaf else stat.S_IWGRP | stat.S_IWOTH)
    if writable and (leaf or not info.st_mode & stat.S_ISVTX):
        who = "everyone" if writable & stat.S_IWOTH else "its group"
        return f"is writable by {who} (mode {stat.S_IMODE(info.st_mode):04o})"
    return None
