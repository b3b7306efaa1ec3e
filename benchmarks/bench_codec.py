"""The codec's overhead over bare orjson, for a plain-JSON state and a mixed one.

Run from the repository root::

    python benchmarks/bench_codec.py            # N = 100000 users
    python benchmarks/bench_codec.py 10000      # another N

The plain state is ``{str(user_id): user}`` for N users of ``benchmarks/_workload.py`` (name,
language, score, a 5-item cart of dicts, settings, a 5-item history): JSON that needs no tags.
Each figure is the best of 5 runs with the garbage collector off. The target of the issue is
"encoding plus ``orjson.dumps`` within 3x of ``orjson.dumps`` alone" on the plain state; the
decode side and the mixed state (tuples, sets, datetimes, int keys, Decimal) are for
information. orjson cannot write the mixed state by itself, so its baseline is
``orjson.dumps`` of the already encoded tree: the cost of writing the same bytes.
"""

from __future__ import annotations

import gc
import platform
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _workload import make_user, user_ids

from jsonpersist import Codec

RUNS = 5
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


def measure(state: dict[str, Any]) -> dict[str, float]:
    """Times encoding and decoding of ``state`` with and without the codec."""
    codec = Codec()
    tree = codec.encode(state)  # the state itself when it is plain JSON
    data = orjson.dumps(tree, option=_SORT)
    if codec.loads(data) != state:
        raise AssertionError("the state did not survive the round trip")
    return {
        "orjson.dumps": best_of(RUNS, lambda: orjson.dumps(tree, option=_SORT)),
        "encode": best_of(RUNS, lambda: codec.encode(state)),
        "encode + orjson.dumps": best_of(
            RUNS, lambda: orjson.dumps(codec.encode(state), option=_SORT)
        ),
        "orjson.loads": best_of(RUNS, lambda: orjson.loads(data)),
        "orjson.loads + decode": best_of(RUNS, lambda: codec.decode(orjson.loads(data))),
        "bytes": float(len(data)),
    }


def print_table(title: str, results: dict[str, float], *, target: bool) -> None:
    """Prints one state's timings, the two ratios and, for the target, PASS or MISS."""
    encode_ratio = results["encode + orjson.dumps"] / results["orjson.dumps"]
    decode_ratio = results["orjson.loads + decode"] / results["orjson.loads"]
    print(f"\n{title} ({results['bytes'] / 1e6:.1f} MB of JSON)")
    print(f"  {'step':<26}{'best of ' + str(RUNS):>14}{'ratio':>10}")
    print(f"  {'orjson.dumps':<26}{results['orjson.dumps'] * 1e3:>11.1f} ms")
    print(f"  {'encode alone':<26}{results['encode'] * 1e3:>11.1f} ms")
    print(
        f"  {'encode + orjson.dumps':<26}{results['encode + orjson.dumps'] * 1e3:>11.1f} ms"
        f"{encode_ratio:>9.2f}x"
    )
    print(f"  {'orjson.loads':<26}{results['orjson.loads'] * 1e3:>11.1f} ms")
    print(
        f"  {'orjson.loads + decode':<26}{results['orjson.loads + decode'] * 1e3:>11.1f} ms"
        f"{decode_ratio:>9.2f}x"
    )
    if target:
        verdict = "PASS" if encode_ratio <= TARGET else "MISS"
        print(
            f"  target: encode + orjson.dumps within {TARGET:g}x of orjson.dumps: "
            f"{encode_ratio:.2f}x {verdict}"
        )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(
        f"jsonpersist codec benchmark: N = {n} users, best of {RUNS} runs, gc off\n"
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"orjson {orjson.__version__}, {platform.machine()} {platform.system()}"
    )
    print_table("Plain-JSON state", measure(plain_state(n)), target=True)
    print_table(
        "Mixed state, for information (baseline: orjson.dumps of the encoded tree)",
        measure(mixed_state(n)),
        target=False,
    )


if __name__ == "__main__":
    main()
