"""The stores the contract tests run on: the state files, and PostgreSQL.

A test that takes the ``backend`` fixture (``conftest.py``) runs once per store, as
``test_x[files]`` and ``test_x[postgres]``. What it gets is a :class:`Backend`: new
persistences over the test's own store (making another one is "the same store again", for a
restart), a second store of its own, and looks at what is stored that take nothing from a
running persistence. Tests that look at the files themselves take ``tmp_path`` instead and run
on the files only.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

import pytest
from contract_app import CountingPersistence, on_disk, snapshot

from jsonpersist import JsonPersistence, TypeRegistry

__all__ = ("CATEGORIES", "GARBAGE", "Backend", "FileBackend", "postgres_differs")

#: The categories of ``store_data``; conversations are always stored.
CATEGORIES = ("user_data", "chat_data", "bot_data", "callback_data")

#: What :meth:`Backend.plant` stores: it does not load.
GARBAGE = "not JSON: a category's garbage that must never be opened"


class Backend(abc.ABC):
    """One test's store, and the persistences over it."""

    @abc.abstractmethod
    def make(self, **options: Any) -> Any:
        """A new persistence over this store, with ``options`` (``store_data``, ``on_flush``...).

        Another one made later is the same store again: a restart.
        """

    @abc.abstractmethod
    def counting(self, **options: Any) -> Any:
        """Like :meth:`make`, one that records PTB's calls (a ``contract_app.Counting``)."""

    @abc.abstractmethod
    def other(self, label: str) -> Backend:
        """A second store of the test's own, apart from this one, named after ``label``."""

    @abc.abstractmethod
    async def stored(self, *handlers: str, types: TypeRegistry | None = None) -> dict[str, Any]:
        """Everything stored now, as a fresh persistence (with ``types``) loads it, without
        taking the store from its owner.

        The keys are the categories; ``"conversations"`` holds those of ``handlers``.
        """

    @abc.abstractmethod
    async def snapshot(self) -> object:
        """Something that changes whenever anything is written, even with the same content."""

    @abc.abstractmethod
    async def categories(self) -> set[str]:
        """The categories something was written for (a file, rows)."""

    @abc.abstractmethod
    async def plant(self, category: str) -> None:
        """Stores :data:`GARBAGE` for ``category``, as a hand edit would: it does not load."""

    @abc.abstractmethod
    async def raw(self, category: str) -> object:
        """What is stored for ``category``, as stored (bytes, rows): to compare, not to read."""


class FileBackend(Backend):
    """The state files of :class:`~jsonpersist.JsonPersistence`, in a directory.

    Args:
        directory: The state directory; the other stores are its siblings.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def make(self, **options: Any) -> JsonPersistence[Any, Any, Any]:
        return JsonPersistence(self.directory, **options)

    def counting(self, **options: Any) -> CountingPersistence:
        return CountingPersistence(self.directory, **options)

    def other(self, label: str) -> FileBackend:
        return FileBackend(self.directory.parent / label)

    async def stored(self, *handlers: str, types: TypeRegistry | None = None) -> dict[str, Any]:
        return await on_disk(self.directory, *handlers, types=types)

    async def snapshot(self) -> object:
        return snapshot(self.directory) if self.directory.exists() else {}

    async def categories(self) -> set[str]:
        return {path.stem for path in self.directory.glob("*.json")}

    async def plant(self, category: str) -> None:
        self.directory.mkdir(exist_ok=True)
        (self.directory / f"{category}.json").write_text(GARBAGE)

    async def raw(self, category: str) -> object:
        path = self.directory / f"{category}.json"
        return path.read_bytes() if path.exists() else None


def postgres_differs(reason: str) -> pytest.MarkDecorator:
    """Runs a test on both stores, the PostgreSQL case expected to fail for ``reason``.

    For a difference of :class:`~jsonpersist.PostgresPersistence` that no document states: the
    test says what the files do, and the strict ``xfail`` turns into a failure once the
    database does the same.
    """
    return pytest.mark.parametrize(
        "backend",
        ["files", pytest.param("postgres", marks=pytest.mark.xfail(strict=True, reason=reason))],
        indirect=True,
    )
