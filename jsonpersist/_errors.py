"""The exceptions jsonpersist raises.

Each one inherits from :class:`JsonPersistError` and from the builtin exception a caller would
catch anyway, and carries the file, category or key path it is about.
"""

from __future__ import annotations

import errno
from pathlib import Path

__all__ = (
    "CorruptStateError",
    "JsonPersistError",
    "MergeConflictError",
    "PickleLoadError",
    "PicklePathError",
    "RegistrationError",
    "StateDirectoryError",
    "StateLockedError",
    "StateWriteError",
    "UnsafeDirectoryError",
    "UnsupportedTypeError",
)


class JsonPersistError(Exception):
    """Base class of every error raised by jsonpersist."""

    __slots__ = ()


class UnsupportedTypeError(JsonPersistError, TypeError):
    """A value cannot be stored: its type is not supported or it is nested too deeply.

    Args:
        message (:obj:`str`): What went wrong and what to do about it.
        where (:obj:`str`): The key path of the value, e.g. ``user_data[123]['cart'][2]``.

    Attributes:
        where (:obj:`str`): The key path of the value that could not be stored.
    """

    __slots__ = ("where",)

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


class CorruptStateError(JsonPersistError, ValueError):
    """Stored data cannot be decoded. The file it came from is left as it is.

    Args:
        message (:obj:`str`): What is wrong.
        file (:class:`pathlib.Path`, optional): The state file, if the data came from one.
        where (:obj:`str`, optional): The key path or position inside the data.

    Attributes:
        file (:class:`pathlib.Path` | :obj:`None`): The state file, if known.
        where (:obj:`str`): The key path or position inside the data.
        reason (:obj:`str`): What is wrong, without the file and position.
    """

    __slots__ = ("file", "reason", "where")

    def __init__(self, message: str, file: Path | None = None, where: str = "") -> None:
        prefix = " ".join(part for part in (str(file) if file else "", where) if part)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.file = file
        self.where = where
        self.reason = message

    def in_file(self, file: Path) -> CorruptStateError:
        """The same error, saying which file the data came from.

        Args:
            file (:class:`pathlib.Path`): The state file.

        Returns:
            :class:`CorruptStateError`: A new error with :attr:`file` set and :attr:`where`
            kept.
        """
        return CorruptStateError(self.reason, file=file, where=self.where)


class MergeConflictError(CorruptStateError):
    """A state file holds git's conflict markers: a merge left it for a person to resolve.

    Args:
        file (:class:`pathlib.Path`): The state file.
        regions (list[tuple[:obj:`int`, :obj:`int`]]): The first and last line of each
            conflict (1-based, markers included).
        entries (list[:obj:`str`]): The entries inside them, as messages name them.

    Attributes:
        regions (list[tuple[:obj:`int`, :obj:`int`]]): The lines of each conflict.
        entries (list[:obj:`str`]): The entries in conflict.
    """

    __slots__ = ("entries", "regions")

    def __init__(self, file: Path, regions: list[tuple[int, int]], entries: list[str]) -> None:
        places = ", ".join(f"lines {first}-{last}" for first, last in regions)
        names = f" ({', '.join(entries)})" if entries else ""
        super().__init__(
            f"merge conflict at {places}{names}: keep one version of each entry (the lines "
            "between <<<<<<< and =======, or between ======= and >>>>>>>), delete the marker "
            "lines, then run `jsonpersist check` again",
            file=file,
            where=f"line {regions[0][0]}",
        )
        self.regions = regions
        self.entries = entries


class StateLockedError(JsonPersistError, TimeoutError):
    """Another persistence (in this or another process) owns the state directory.

    Args:
        directory (:class:`pathlib.Path`): The state directory.
        pid (:obj:`int`, optional): The process id recorded by the holder, if readable.

    Attributes:
        directory (:class:`pathlib.Path`): The state directory.
        pid (:obj:`int` | :obj:`None`): The process id recorded by the holder.
    """

    __slots__ = ("directory", "pid")

    def __init__(self, directory: Path, pid: int | None) -> None:
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(
            f"{directory} is in use by {holder}; only one JsonPersistence may own a state "
            "directory at a time (stop the other bot, or use another directory)"
        )
        self.directory = directory
        self.pid = pid


class StateWriteError(JsonPersistError, OSError):
    """Saving a state file failed.

    Usually the previous version of the file is left intact. When only the final fsync of the
    directory failed, the new version is already in place but may not survive a power loss;
    :attr:`replaced` says which case it is.

    Args:
        file (:class:`pathlib.Path`): The state file (or directory) that could not be written.
        cause (:class:`OSError`): The underlying operating-system error.
        replaced (:obj:`bool`, optional): Whether the new version is already in place.

    Attributes:
        file (:class:`pathlib.Path`): The state file (or directory) that could not be written.
        replaced (:obj:`bool`): Whether the new version is already in place (not durable).
    """

    __slots__ = ("file", "replaced")

    def __init__(self, file: Path, cause: OSError, replaced: bool = False) -> None:
        outcome = (
            "the new version is in place but may not survive a power loss"
            if replaced
            else "the previous version is intact"
        )
        super().__init__(
            cause.errno,
            f"could not save {file}: {cause.strerror or cause}; {outcome}, and the next save "
            "will try again",
        )
        self.file = file
        self.replaced = replaced


class StateDirectoryError(JsonPersistError, OSError):
    """The state directory cannot be used: a file jsonpersist keeps there cannot be opened.

    Raised for the lock files (``.jsonpersist.lock``, ``.jsonpersist.round.lock``) when
    something else than a regular file is in their place (a directory, a symlink, a FIFO), a
    lock file has another hard link, or the file system refuses to open them (a read-only
    mount, missing permissions); and for a stale temporary file that cannot be removed.

    Args:
        file (:class:`pathlib.Path`): The file (or directory) it is about.
        message (:obj:`str`): What is wrong and what to do.
        cause (:class:`OSError`, optional): The operating system's error, if there was one.

    Attributes:
        file (:class:`pathlib.Path`): The file (or directory) it is about.
    """

    __slots__ = ("file",)

    def __init__(self, file: Path, message: str, cause: OSError | None = None) -> None:
        text = f"{file}: {message}"
        if cause is not None and cause.errno is not None:
            super().__init__(cause.errno, text)
        else:
            super().__init__(text)
        self.file = file


class UnsafeDirectoryError(StateDirectoryError, PermissionError):
    """Another user could replace the state directory, or the state in it.

    The directory, or a directory above it, is writable by others (without the sticky bit
    that ``/tmp`` has) or owned by another user than this process's and root: they could swap
    the state directory for one of their own, and the bot would load their state.

    Args:
        directory (:class:`pathlib.Path`): The state directory.
        file (:class:`pathlib.Path`): The directory on its path that others can change.
        message (:obj:`str`): What is wrong with it and what to do.

    Attributes:
        directory (:class:`pathlib.Path`): The state directory.
        file (:class:`pathlib.Path`): The directory on its path that others can change.
    """

    __slots__ = ("directory",)

    def __init__(self, directory: Path, file: Path, message: str) -> None:
        super().__init__(file, message, PermissionError(errno.EACCES, message))
        self.directory = directory


class RegistrationError(JsonPersistError, ValueError):
    """A type cannot be registered: the class or the name is registered already.

    Args:
        message (:obj:`str`): What is registered already and what to do.
        cls (:obj:`type`): The class being registered.
        name (:obj:`str`): The name it was to be registered under.

    Attributes:
        cls (:obj:`type`): The class being registered.
        name (:obj:`str`): The name it was to be registered under.
    """

    __slots__ = ("cls", "name")

    def __init__(self, message: str, cls: type, name: str) -> None:
        super().__init__(message)
        self.cls = cls
        self.name = name


class PicklePathError(JsonPersistError, ValueError):
    """The path names no PicklePersistence state, or both its single- and multi-file forms.

    Args:
        message (:obj:`str`): What was found and what to pass instead.
        path (:class:`pathlib.Path`): The path given for the pickle.

    Attributes:
        path (:class:`pathlib.Path`): The path given for the pickle.
    """

    __slots__ = ("path",)

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


class PickleLoadError(JsonPersistError, ValueError):
    """PicklePersistence cannot load the pickle.

    The file is damaged, is not PicklePersistence's, or refers to a module or class that
    cannot be imported here.

    Args:
        message (:obj:`str`): What went wrong and what to do about it.
        path (:class:`pathlib.Path`): The pickle file.

    Attributes:
        path (:class:`pathlib.Path`): The pickle file.
    """

    __slots__ = ("path",)

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path
