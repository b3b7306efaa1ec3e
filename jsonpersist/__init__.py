"""Persistence for python-telegram-bot in plain, readable JSON files."""

from jsonpersist._codec import MAX_DEPTH, Codec, TypeRegistry
from jsonpersist._errors import (
    CorruptStateError,
    JsonPersistError,
    MergeConflictError,
    StateDirectoryError,
    StateLockedError,
    StateWriteError,
    UnsafeDirectoryError,
    UnsupportedTypeError,
)
from jsonpersist._format import FORMAT_VERSION
from jsonpersist._persistence import JsonPersistence

__all__ = (
    "FORMAT_VERSION",
    "MAX_DEPTH",
    "Codec",
    "CorruptStateError",
    "JsonPersistError",
    "JsonPersistence",
    "MergeConflictError",
    "StateDirectoryError",
    "StateLockedError",
    "StateWriteError",
    "TypeRegistry",
    "UnsafeDirectoryError",
    "UnsupportedTypeError",
)
from jsonpersist._version import __version__ as __version__
