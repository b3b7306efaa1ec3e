"""Cost of ``watch=True`` per incoming update when nothing changed on disk.

PTB calls ``refresh_bot_data``, ``refresh_chat_data`` and ``refresh_user_data`` before each
handler callback. This prints what those three calls cost per update, with and without
``watch``, over a state of N users (default 10,000)::

    python benchmarks/bench_watch.py [N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from jsonpersist import JsonPersistence

ROUNDS = 20_000


async def per_update_cost(directory: Path, watch: bool, users: int) -> list[float]:
    persistence = JsonPersistence(directory, watch=watch)
    await persistence.get_user_data()
    await persistence.get_chat_data()
    await persistence.get_bot_data()
    await asyncio.gather(*(persistence.update_user_data(i, {"n": i}) for i in range(users)))
    await asyncio.gather(*(persistence.update_chat_data(i, {"n": i}) for i in range(users)))
    await persistence.update_bot_data({"total": users})
    user, chat, bot = {"n": 1}, {"n": 1}, {"total": users}
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(ROUNDS):
            await persistence.refresh_bot_data(bot)
            await persistence.refresh_chat_data(1, chat)
            await persistence.refresh_user_data(1, user)
        samples.append((time.perf_counter() - start) / ROUNDS * 1e6)
    await persistence.flush()
    return samples


def main() -> None:
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    print(f"refresh_bot_data + refresh_chat_data + refresh_user_data per update, {users:,} users")
    print(f"{'watch':>6} {'min us':>8} {'median us':>10} {'max us':>8}")
    results = {}
    for watch in (False, True):
        with tempfile.TemporaryDirectory() as directory:
            samples = asyncio.run(per_update_cost(Path(directory), watch, users))
        results[watch] = statistics.median(samples)
        print(f"{watch!s:>6} {min(samples):8.2f} {results[watch]:10.2f} {max(samples):8.2f}")
    print(f"added by watch=True: {results[True] - results[False]:.2f} us per update (3 stats)")


if __name__ == "__main__":
    main()
