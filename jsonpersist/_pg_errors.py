"""The errors of the PostgreSQL backend; importing them imports no database driver."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from jsonpersist._errors import JsonPersistError, StateLockedError

__all__ = ("DatabaseError", "DatabaseLockedError", "redact")


def redact(dsn: str) -> str:
    """A connection string fit for messages and logs: its password left out."""
    if "://" not in dsn:  # key=value form: drop a password=... pair
        return " ".join(part for part in dsn.split() if not part.startswith("password="))
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


class DatabaseError(JsonPersistError, OSError):
    """The database could not be reached, a statement failed, or it did not answer in time.

    Nothing of the round (the transaction) that failed is in the database: the previous round
    is intact. The changes stay in memory and the next round or :meth:`flush` writes them,
    connecting again first.

    Args:
        url (:obj:`str`): The database, without its password.
        name (:obj:`str`): The bot name.
        message (:obj:`str`): What went wrong and what to do.

    Attributes:
        url (:obj:`str`): The database, without its password.
        name (:obj:`str`): The bot name.
    """

    __slots__ = ("name", "url")

    def __init__(self, url: str, name: str, message: str) -> None:
        super().__init__(f"{url} (bot {name!r}): {message}")
        self.url = url
        self.name = name


class DatabaseLockedError(StateLockedError):
    """Another persistence (in this or another process or host) owns the bot name.

    Raised within a second: the name is held with a PostgreSQL advisory lock, which the server
    releases as soon as it sees the holder's connection gone.

    Args:
        url (:obj:`str`): The database, without its password.
        name (:obj:`str`): The bot name.
        holder (:obj:`str`): Who holds it: application name, client address, server pid.
        pid (:obj:`int`, optional): The server process of the holder's connection.

    Attributes:
        url (:obj:`str`): The database, without its password.
        name (:obj:`str`): The bot name.
        holder (:obj:`str`): Who holds it, as found in ``pg_stat_activity``.
        pid (:obj:`int` | :obj:`None`): The server process (``pg_stat_activity.pid``) of the
            holder's connection; ``pg_terminate_backend(pid)`` ends it.
        directory (:obj:`None`): Always :obj:`None` (there is no directory).
    """

    __slots__ = ("holder", "name", "url")

    def __init__(self, url: str, name: str, holder: str, pid: int | None = None) -> None:
        # Not StateLockedError.__init__: its message is about a directory.
        TimeoutError.__init__(
            self,
            f"bot {name!r} in {url} is in use by {holder}; only one persistence may own a bot "
            "name at a time (stop the other bot, or use another name)",
        )
        self.directory = None  # type: ignore[assignment]
        self.pid = pid
        self.url = url
        self.name = name
        self.holder = holder
