"""The codec's overhead over bare orjson, for a plain-JSON state and a mixed one.

Run from the repository root::

    python benchmarks/bench_codec.py            # N = 100000 users
    python benchmarks/bench_codec.py 10000      # another N

The plain state is ``{str(user_id): user}`` for N users of ``benchmarks/_workload.py`` (name,
language, score, a 5-item cart of dicts, settings, a 5-item history): JSON that needs no tags.
The target is "encoding plus ``orjson.dumps`` within 3x of ``orjson.dumps`` alone"
on the plain state. ``Codec.dumps`` is exactly that (it encodes, then calls ``orjson.dumps``),
so it is what is timed, both on the whole state in one call and once per user, which is how
the persistence calls it (one call per changed entry). Each figure is the best of 7 runs with
the garbage collector off; every ratio is taken within this run.

The codec proves a value plain with ``jsonpersist/_speedups.c`` where it was built. The same
check in Python (its reference and its stand-in without a C compiler) is timed too, so both
are compared in the same run.

The decode side and the mixed state (tuples, sets, datetimes, int keys, Decimal) are for
information. orjson cannot write the mixed state by itself, so its baseline is
``orjson.dumps`` of the already encoded tree: the cost of writing the same bytes.
"""

from __future__ import annotations

import gc
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _workload import make_user, user_ids

from jsonpersist import Codec, _plain

RUNS = 7
TARGET = 3.0
_SORT = orjson.OPT_SORT_KEYS
_BERLIN = ZoneInfo("Europe/Berlin")
_START = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def plain_state(n: int) -> dict[str, Any]:
    """N users as plain JSON: string ids, nothing the codec has to tag."""
    return {str(user_id): make_user(user_id) for user_id in user_ids(n)}


def mixed_state(n: int) -> dict[str, Any]:
    """The plain users with what a real bot adds: tuples, sets, datetimes, int keys, Decimal."""
    state = plain_state(n)
    for index, user in enumerate(state.values()):
        user["seen"] = {index, index + 1, index + 7}
        user["last_command"] = ("/cart", index % 5)
        user["joined"] = (_START + timedelta(minutes=index)).astimezone(_BERLIN)
        user["balance"] = Decimal(index) / 100
        user["votes"] = {index % 97: True, (index + 1) % 97: False}
    return state


def best_of(runs: int, action: Callable[[], object]) -> float:
    """The fastest of ``runs`` timed calls, in seconds, with the garbage collector off."""
    times = []
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            action()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return min(times)


@contextmanager
def python_walk() -> Iterator[None]:
    """Makes the codec prove values plain in Python, as where the C check was not built."""
    built, _plain._speedups = _plain._speedups, None
    try:
        yield
    finally:
        _plain._speedups = built


def each(dumps: Callable[[Any], bytes], users: list[Any]) -> Callable[[], object]:
    return lambda: [dumps(user) for user in users]


def measure_plain(state: dict[str, Any]) -> dict[str, float]:
    """Times ``Codec.dumps`` against ``orjson.dumps``: the whole state, then user by user."""
    codec = Codec()
    if codec.encode(state) is not state or codec.loads(codec.dumps(state)) != state:
        raise AssertionError("the plain state did not stay plain or did not survive")
    users = list(state.values())
    data = orjson.dumps(state, option=_SORT)
    results = {
        "orjson.dumps": best_of(RUNS, lambda: orjson.dumps(state, option=_SORT)),
        "Codec.dumps": best_of(RUNS, lambda: codec.dumps(state)),
        "check alone": best_of(RUNS, lambda: codec.encode(state)),
        "orjson.dumps, each": best_of(RUNS, each(partial(orjson.dumps, option=_SORT), users)),
        "Codec.dumps, each": best_of(RUNS, each(codec.dumps, users)),
        "orjson.loads": best_of(RUNS, lambda: orjson.loads(data)),
        "orjson.loads + decode": best_of(RUNS, lambda: codec.decode(orjson.loads(data))),
        "bytes": float(len(data)),
    }
    with python_walk():
        results["Codec.dumps, Python check"] = best_of(RUNS, lambda: codec.dumps(state))
        results["Codec.dumps, each, Python check"] = best_of(RUNS, each(codec.dumps, users))
    return results


def measure_mixed(state: dict[str, Any]) -> dict[str, float]:
    """Times encoding and decoding of a state that needs tags; orjson writes the encoded tree."""
    codec = Codec()
    tree = codec.encode(state)
    data = orjson.dumps(tree, option=_SORT)
    if codec.loads(data) != state:
        raise AssertionError("the mixed state did not survive the round trip")
    return {
        "orjson.dumps": best_of(RUNS, lambda: orjson.dumps(tree, option=_SORT)),
        "Codec.dumps": best_of(RUNS, lambda: codec.dumps(state)),
        "orjson.loads": best_of(RUNS, lambda: orjson.loads(data)),
        "orjson.loads + decode": best_of(RUNS, lambda: codec.decode(orjson.loads(data))),
        "bytes": float(len(data)),
    }


def row(label: str, seconds: float, baseline: float | None = None, *, per: int = 1) -> None:
    shown = f"{seconds / per * 1e6:>11.2f} us" if per > 1 else f"{seconds * 1e3:>11.1f} ms"
    ratio = f"{seconds / baseline:>9.2f}x" if baseline else ""
    print(f"  {label:<38}{shown}{ratio}")


def verdict(label: str, ratio: float) -> None:
    print(f"  {'PASS' if ratio <= TARGET else 'MISS'}  {label} within {TARGET:g}x: {ratio:.2f}x")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    check = "C (jsonpersist._speedups)" if _plain._speedups else "Python (the C was not built)"
    print(
        f"jsonpersist codec benchmark: N = {n} users, best of {RUNS} runs, gc off\n"
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"orjson {orjson.__version__}, {platform.machine()} {platform.system()}\n"
        f"the codec's plain-JSON check: {check}"
    )
    plain = measure_plain(plain_state(n))
    whole, per_user = plain["orjson.dumps"], plain["orjson.dumps, each"]
    print(f"\nPlain-JSON state ({plain['bytes'] / 1e6:.1f} MB of JSON), in one call")
    print(f"  {'step':<38}{'best of ' + str(RUNS):>14}{'ratio':>10}")
    row("orjson.dumps", whole)
    row("Codec.dumps (encode + orjson.dumps)", plain["Codec.dumps"], whole)
    row("  of which the plain check (encode)", plain["check alone"], whole)
    row("Codec.dumps with the Python check", plain["Codec.dumps, Python check"], whole)
    row("orjson.loads", plain["orjson.loads"])
    row("orjson.loads + decode", plain["orjson.loads + decode"], plain["orjson.loads"])
    print(f"\nThe same users one call each, as the persistence encodes them (per user, N = {n})")
    row("orjson.dumps", per_user, per=n)
    row("Codec.dumps", plain["Codec.dumps, each"], per_user, per=n)
    row(
        "Codec.dumps with the Python check",
        plain["Codec.dumps, each, Python check"],
        per_user,
        per=n,
    )
    print("\nTarget: encode + orjson.dumps within 3x of orjson.dumps alone, on plain JSON")
    verdict("the whole state in one call", plain["Codec.dumps"] / whole)
    verdict("user by user", plain["Codec.dumps, each"] / per_user)

    mixed = measure_mixed(mixed_state(n))
    print(
        f"\nMixed state, for information ({mixed['bytes'] / 1e6:.1f} MB of JSON; "
        "baseline: orjson.dumps of the encoded tree)"
    )
    row("orjson.dumps", mixed["orjson.dumps"])
    row("Codec.dumps", mixed["Codec.dumps"], mixed["orjson.dumps"])
    row("orjson.loads", mixed["orjson.loads"])
    row("orjson.loads + decode", mixed["orjson.loads + decode"], mixed["orjson.loads"])


if __name__ == "__main__":
    main()
