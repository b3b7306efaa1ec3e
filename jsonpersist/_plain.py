"""Is a value plain JSON? The check the codec runs on every value it encodes.

In C (``jsonpersist/_speedups.c``) where it was built at install, else the same walk in Python,
which is also the C module's reference.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ("MAX_DEPTH", "PLAIN_CHECK", "is_plain")

#: The deepest JSON nesting the codec writes or reads. orjson refuses to write more than 254
#: levels; the margin leaves room for the file around a value.
MAX_DEPTH = 240
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1  # orjson reads and writes the whole u64 range exactly

try:
    from jsonpersist import _speedups
except ImportError:  # installed without a C compiler: the walk below gives the same answers
    _speedups = None  # type: ignore[assignment]

#: Where :func:`is_plain` runs, as ``jsonpersist --version`` shows it.
PLAIN_CHECK = "C" if _speedups is not None else "Python, the C module was not built"


def is_plain(value: object) -> bool:
    """Tells whether ``value`` is plain JSON that the codec writes as it is, with no tags.

    The codec asks this of every value it encodes, so it runs in C where
    ``jsonpersist/_speedups.c`` was built: a walk in Python costs several times what orjson
    needs to write the value.

    Args:
        value: Any value.

    Returns:
        :obj:`bool`: Whether it holds only ``str``-keyed dicts (no key starting with ``$``),
        lists, ``str``, ``bool``, ``None``, ints from -2⁶³ to 2⁶⁴-1 and finite floats, of
        exactly those types, nested at most :data:`MAX_DEPTH` levels.
    """
    if _speedups is not None:
        return _speedups.is_plain(value, MAX_DEPTH)
    return _walk_plain(value)


def _walk_plain(value: object, depth: int = 0) -> bool:  # noqa: PLR0911, PLR0912
    """:func:`is_plain` in Python: the reference for the C version, and its stand-in."""
    if depth > MAX_DEPTH:
        return False
    kind = type(value)
    if kind is dict:
        for key in value:  # type: ignore[attr-defined]
            if type(key) is not str or key[:1] == "$":
                return False
        items: Iterable[object] = value.values()  # type: ignore[attr-defined]
    elif kind is list:
        items = value  # type: ignore[assignment]
    else:
        items = (value,)
        depth -= 1
    for item in items:
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not INT_MIN <= item <= INT_MAX:  # type: ignore[operator]
                return False
        elif kind is float:
            if item - item != 0.0:  # type: ignore[operator]  # NaN and +-inf
                return False
        elif kind is dict or kind is list:
            if not _walk_plain(item, depth + 1):
                return False
        else:
            return False
    return True
