"""What the codec's recursion shares: the error carrying a key path out, how values show."""

from __future__ import annotations

from typing import Any, NoReturn

__all__ = ("Corrupt", "Unsupported", "fail", "format_path", "key_repr", "shown")


class Unsupported(Exception):
    """Internal: carries the key path outwards while the recursion unwinds."""

    __slots__ = ("message", "path")

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[object] = []


class Corrupt(Unsupported):
    __slots__ = ()


def fail(message: str) -> NoReturn:
    raise Corrupt(message)


def format_path(root: str, path: list[object]) -> str:
    keys = [f"[{key_repr(key)}]" for key in reversed(path)]
    if len(keys) > 16:  # noqa: PLR2004 - a path through deep nesting stays readable
        keys[8:-8] = [f"...{len(keys) - 16} more..."]
    return root + "".join(keys)


def key_repr(value: Any) -> str:
    """``repr()``, also of an int (or a tuple of them) beyond Python's digit limit."""
    try:
        return repr(value)
    except ValueError:  # beyond sys.get_int_max_str_digits()
        return hex(value) if type(value) is int else f"<a {type(value).__name__} too long to show>"


def shown(value: Any) -> str:
    """A value's repr for a message: at most 80 characters, even for an int of 10**5000."""
    text = key_repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."  # noqa: PLR2004
