"""Types for tests/test_cli.py that the ``jsonpersist`` subprocesses import by module name."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from telegram.ext import CallbackContext, ContextTypes

from jsonpersist import TypeRegistry


class Point:
    """A plain class that jsonpersist cannot store unless it is registered."""

    __slots__ = ("x", "y")

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    def __hash__(self) -> int:
        return hash((self.x, self.y))

    def __repr__(self) -> str:
        return f"Point({self.x}, {self.y})"


TYPES = TypeRegistry()
TYPES.register(Point, encode=lambda p: [p.x, p.y], decode=lambda xy: Point(*xy))


class Profile:
    """User data of a class that is not a ``dict``: stored only when registered."""

    __slots__ = ("visits",)

    def __init__(self, visits: int = 0) -> None:
        self.visits = visits

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Profile) and self.visits == other.visits

    def __hash__(self) -> int:
        return hash(self.visits)

    def __repr__(self) -> str:
        return f"Profile({self.visits})"


class ChatNotes(dict[Any, Any]):
    """Chat data of a ``dict`` subclass: restored as its class without registration."""


TYPES.register(Profile, encode=lambda profile: profile.visits, decode=Profile)
#: The ``ContextTypes`` of a bot whose user data is a ``Profile`` and chat data ``ChatNotes``.
CONTEXT_TYPES = ContextTypes(context=CallbackContext, user_data=Profile, chat_data=ChatNotes)


@dataclasses.dataclass
class Size:
    """A dataclass: pickle stores it silently, jsonpersist only once it is registered."""

    width: int
    height: int


class Level(enum.IntEnum):
    """An ``IntEnum``: an ``int`` subclass, refused unless registered."""

    LOW = 1
