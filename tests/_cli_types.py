"""Types for tests/test_cli.py that the ``jsonpersist`` subprocesses import by module name."""

from __future__ import annotations

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
