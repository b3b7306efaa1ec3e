"""Bounds on the work a file can cause when its sets and dicts are built (hash flooding)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, NoReturn

from jsonpersist._tree import Corrupt

__all__ = ("CROWDED", "MAX_SAME_HASH", "check_hashes", "crowded", "duplicate", "unhashable")


#: The most items of one set, frozenset or ``$dict`` that may share a hash. ``hash(int)`` is
#: ``x mod (2**61 - 1)``, so ints (and the Decimals, UUIDs, tuples and Telegram objects made
#: of them) can be chosen to share one: n of them make building the set take n**2 / 2
#: comparisons. Values a bot stores share a hash by chance only, a few at most.
MAX_SAME_HASH = 32


def crowded(items: Iterable[Any]) -> bool:
    """Whether more than :data:`MAX_SAME_HASH` of the items share a hash.

    Raises:
        TypeError: An item cannot be hashed.
    """
    counts = Counter(map(hash, items))
    return max(counts.values(), default=0) > MAX_SAME_HASH


CROWDED = (
    f"cannot store more than {MAX_SAME_HASH} items sharing one hash in one set or dict "
    "(ints chosen as multiples of 2**61 - 1, say): loading them would be refused as hash "
    "flooding, see docs/format.md"
)


def check_hashes(items: list[Any], message: str) -> None:
    """Refuses more than :data:`MAX_SAME_HASH` items sharing one hash, before a set is built.

    Counting by hash first keeps every set and dict a file makes linear to build. (The hashes
    themselves are ints below 2**63, of which only a handful share a hash in turn.) An item
    that cannot be hashed is refused here too, or by building the set (:func:`unhashable`).
    """
    if len(items) <= MAX_SAME_HASH:
        return
    try:
        if not crowded(items):
            return
    except TypeError:
        unhashable(items, message)
    counts: dict[int, int] = {}
    for index, item in enumerate(items):
        digest = hash(item)
        counts[digest] = count = counts.get(digest, 0) + 1
        if count > MAX_SAME_HASH:
            exc = Corrupt(
                f"more than {MAX_SAME_HASH} items share one hash (a hash-flooding attempt: "
                "such a set or dict would take minutes to build)"
            )
            exc.path.append(index)
            raise exc


def unhashable(items: list[Any], message: str) -> NoReturn:
    """Refuses the first item that cannot be hashed (there is one), naming its index."""
    for index, item in enumerate(items):
        try:
            hash(item)
        except TypeError:
            exc = Corrupt(message.format(type(item).__name__))
            exc.path.append(index)
            raise exc from None
    raise AssertionError("no unhashable item")  # pragma: no cover


def duplicate(items: list[Any]) -> Any:
    """The first item equal to an earlier one (there is one; hashes already checked)."""
    seen = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    raise AssertionError("no duplicate")  # pragma: no cover
