"""Persistence for python-telegram-bot in plain, readable JSON files."""

from typing import TYPE_CHECKING

from jsonpersist._codec import MAX_DEPTH, Codec, TypeRegistry
from jsonpersist._errors import (
    CorruptStateError,
    JsonPersistError,
    MergeConflictError,
    RegistrationError,
    StateDirectoryError,
    StateLockedError,
    StateWriteError,
    UnsafeDirectoryError,
    UnsupportedTypeError,
)
from jsonpersist._format import FORMAT_VERSION
from jsonpersist._persistence import JsonPersistence
from jsonpersist._pg_errors import DatabaseError, DatabaseLockedError

__all__ = (
    "FORMAT_VERSION",
    "MAX_DEPTH",
    "Codec",
    "CorruptStateError",
    "DatabaseError",
    "DatabaseLockedError",
    "JsonPersistError",
    "JsonPersistence",
    "MergeConflictError",
    "PostgresPersistence",
    "RegistrationError",
    "StateDirectoryError",
    "StateLockedError",
    "StateWriteError",
    "TypeRegistry",
    "UnsafeDirectoryError",
    "UnsupportedTypeError",
)
from jsonpersist._version import __version__ as __version__

if TYPE_CHECKING:
    from jsonpersist._postgres import PostgresPersistence


def __getattr__(name: str) -> object:
    # PostgresPersistence imports psycopg (the postgres extra): only when it is asked for.
    if name == "PostgresPersistence":
        from jsonpersist._postgres import PostgresPersistence

        return PostgresPersistence
    raise AttributeError(f"module 'jsonpersist' has no attribute {name!r}")
