"""PostgresPersistence beside JsonPersistence and PicklePersistence: a round's cost (issue 16).

Run from the repository root, with PostgreSQL's binaries installed (see docs/postgres.md)::

    python benchmarks/bench_postgres.py                  # N = 10k and 100k: ~5 minutes
    python benchmarks/bench_postgres.py --sizes 10000 --rounds 3

It starts its own PostgreSQL server (``tests/pg_server.py``: a temporary directory, a Unix
socket, ``fsync`` on, default ``synchronous_commit``), seeds N users of
``benchmarks/_workload.py`` into each persistence, and then times rounds as
``Application.update_persistence`` runs them: K users changed, their data deep-copied (not
timed, PTB does it for every persistence alike), and every ``update_user_data`` of the round
plus ``update_bot_data`` awaited in one ``asyncio.gather``, after one untimed round.
PicklePersistence rewrites its whole file for every changed user: its rounds of K updates are
timed on ``m = min(K, 3)`` updates and scaled by ``K/m`` (marked ``~``).

Target: the round cost of PostgresPersistence grows with K, not N: the median round at
N = 100k is within 2x of the one at N = 10k for the same K (PASS/MISS).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
sys.path.insert(2, str(Path(__file__).resolve().parent.parent / "tests"))

from _workload import BOT_DATA, make_state, mutate_user, pick_users
from pg_server import PgServer, find_binaries
from telegram.ext import PersistenceInput, PicklePersistence

from jsonpersist import JsonPersistence, PostgresPersistence

KINDS = ("postgres", "json", "pickle")
LABELS = {
    "postgres": "PostgresPersistence",
    "json": "JsonPersistence",
    "pickle": "PicklePersistence(single_file)",
}
ONLY_USERS_AND_BOT = PersistenceInput(chat_data=False, callback_data=False)
PICKLE_SAMPLE = 3


def make(kind: str, where: str, *, on_flush: bool = False) -> Any:
    if kind == "postgres":
        return PostgresPersistence(
            where, name="bench", store_data=ONLY_USERS_AND_BOT, on_flush=on_flush
        )
    if kind == "json":
        return JsonPersistence(where, store_data=ONLY_USERS_AND_BOT, on_flush=on_flush)
    return PicklePersistence(
        Path(where) / "bot.pickle", store_data=ONLY_USERS_AND_BOT, on_flush=on_flush
    )


async def seed(kind: str, where: str, state: dict[int, Any]) -> float:
    """Writes N users once (all in one round, written at flush); returns seconds."""
    started = time.perf_counter()
    persistence = make(kind, where, on_flush=True)
    await persistence.get_user_data()
    await persistence.get_bot_data()
    await asyncio.gather(
        *(persistence.update_user_data(u, d) for u, d in state.items()),
        persistence.update_bot_data(BOT_DATA),
    )
    await persistence.flush()
    return time.perf_counter() - started


async def rounds(kind: str, where: str, state: dict[int, Any], k: int, count: int) -> list[float]:
    """The seconds of ``count`` rounds of ``k`` changed users (scaled for pickle), after one."""
    persistence = make(kind, where)
    loaded = await persistence.get_user_data()
    assert len(loaded) == len(state), (kind, len(loaded))
    await persistence.get_bot_data()
    ids = list(state)
    times = []
    for step in range(count + 1):  # the first round warms up (threads, prepared statements)
        chosen = pick_users(ids, k, 1000 * k + step)
        for user in chosen:
            mutate_user(state[user], step)
        sample = chosen[:PICKLE_SAMPLE] if kind == "pickle" else chosen
        copies = {user: copy.deepcopy(state[user]) for user in sample}
        bot_data = copy.deepcopy(BOT_DATA)
        started = time.perf_counter()
        await asyncio.gather(
            *(persistence.update_user_data(u, d) for u, d in copies.items()),
            persistence.update_bot_data(bot_data),
        )
        spent = time.perf_counter() - started
        if step:
            times.append(spent * len(chosen) / len(sample))
    await persistence.flush()
    return times


def ms(seconds: float, estimated: bool = False) -> str:
    return f"{'~' if estimated else ''}{seconds * 1000:,.1f}"


def print_ratios(
    medians: dict[tuple[str, int, int], float], sizes: list[int], ks: list[int], kinds: list[str]
) -> None:
    """The round cost at the largest N over the smallest, per K, and the PASS/MISS line."""
    if len(sizes) < 2:
        return
    small, large = min(sizes), max(sizes)
    print(f"\nround cost at N={large:,} / at N={small:,} (same K):")
    for kind in kinds:
        ratios = [medians[(kind, large, k)] / medians[(kind, small, k)] for k in ks]
        text = ", ".join(f"K={k}: {r:.2f}x" for k, r in zip(ks, ratios, strict=True))
        verdict = ""
        if kind == "postgres":
            verdict = " PASS" if all(r < 2 for r in ratios) else " MISS"
            verdict += " (round cost grows with K, not N)"
        print(f"  {LABELS[kind]:<31} {text}{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="values of N, comma-separated")
    parser.add_argument("--ks", default="1,100", help="values of K, comma-separated")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per (N, K); median")
    parser.add_argument("--kinds", default=",".join(KINDS), help="persistences to run")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    ks = [int(k) for k in args.ks.split(",")]
    kinds = args.kinds.split(",")
    bindir, reason = find_binaries()
    if bindir is None and "postgres" in kinds:
        raise SystemExit(reason)
    server = PgServer(bindir) if bindir is not None else None
    if server is not None:
        server.start(durable=True)
    base = Path(tempfile.mkdtemp(prefix="jsonpersist-bench-"))
    print(f"python {platform.python_version()}, {platform.machine()}, {platform.system()}")
    print(f"rounds per (N, K): {args.rounds}, median; milliseconds; ~ = estimated (pickle)")
    medians: dict[tuple[str, int, int], float] = {}
    try:
        for n in sizes:
            state = make_state(n)
            for kind in kinds:
                if kind == "postgres":
                    assert server is not None
                    where = server.new_database()
                else:
                    where = str(base / f"{kind}-{n}")
                    Path(where).mkdir()
                seeded = asyncio.run(seed(kind, where, state))
                line = [f"N={n:>7,} {LABELS[kind]:<31} seed {ms(seeded):>10}"]
                for k in ks:
                    times = asyncio.run(rounds(kind, where, state, k, args.rounds))
                    median = statistics.median(times)
                    p90 = sorted(times)[int(0.9 * (len(times) - 1))]
                    medians[(kind, n, k)] = median
                    guess = kind == "pickle"
                    line.append(
                        f"K={k:<4} median {ms(median, guess):>10}  p90 {ms(p90, guess):>10}"
                    )
                print("  ".join(line), flush=True)
    finally:
        if server is not None:
            server.remove()
        shutil.rmtree(base, ignore_errors=True)
    print_ratios(medians, sizes, ks, kinds)


if __name__ == "__main__":
    main()
