"""Crashes: a bot killed with SIGKILL mid-round, the server crashing mid-round and coming back,
a connection cut by the server. A round is one transaction: all of it or none, never older
than what was acknowledged, and the next round works once the server is back.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from crash_child import CONVERSATION, expected
from pg_server import PgServer

from jsonpersist import DatabaseError, DatabaseLockedError, PostgresPersistence

AnyPersistence = PostgresPersistence[Any, Any, Any]
CHILD = Path(__file__).parent.parent / "pg_crash_child.py"


async def _load(url: str) -> dict[str, Any]:
    persistence: AnyPersistence = PostgresPersistence(url)
    started = time.monotonic()
    while True:  # the server frees the killed child's name as soon as it notices
        try:
            state = {
                "user_data": await persistence.get_user_data(),
                "chat_data": await persistence.get_chat_data(),
                "bot_data": await persistence.get_bot_data(),
                "callback_data": await persistence.get_callback_data(),
                "conversations": await persistence.get_conversations(CONVERSATION),
            }
            break
        except DatabaseLockedError:
            assert time.monotonic() - started < 5
            await asyncio.sleep(0.01)
    await persistence.flush()
    return state


def _kill_loop(url: str, cycles: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    acknowledged, counts = 0, {"cycles": 0, "unloadable": 0, "rolled back": 0, "mixed": 0}
    for _ in range(cycles):
        child = subprocess.Popen(
            [sys.executable, str(CHILD), url, str(acknowledged + 1)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        deadline = time.monotonic() + rng.uniform(0.05, 0.6)
        lines: list[str] = []
        while time.monotonic() < deadline or not lines:
            line = child.stdout.readline()
            if not line:
                break
            lines.append(line)
            if time.monotonic() >= deadline:
                break
        time.sleep(rng.uniform(0, 0.05))  # somewhere inside the next round
        os.kill(child.pid, signal.SIGKILL)
        rest = child.stdout.read()
        child.wait()
        said = [int(line.split()[1]) for line in [*lines, *rest.splitlines()] if line.strip()]
        if said:
            acknowledged = said[-1]
        counts["cycles"] += 1
        try:
            state = asyncio.run(_load(url))
        except Exception:
            counts["unloadable"] += 1
            continue
        counter = state["user_data"][1]["n"] if state["user_data"] else 0
        if counter < acknowledged:
            counts["rolled back"] += 1
        if state != expected(counter):
            counts["mixed"] += 1
        acknowledged = counter
    return counts


def test_kill_9_while_saving_every_category(pg_url: str) -> None:
    counts = _kill_loop(pg_url, cycles=8, seed=16)
    assert counts == {"cycles": 8, "unloadable": 0, "rolled back": 0, "mixed": 0}


@pytest.mark.slow
def test_kill_9_long(pg_url: str) -> None:
    counts = _kill_loop(pg_url, cycles=100, seed=1616)
    assert counts == {"cycles": 100, "unloadable": 0, "rolled back": 0, "mixed": 0}


USERS = range(2000)


def _users(n: int) -> dict[int, dict[str, Any]]:
    return {user: {"n": n, "blob": f"{n}:{user}|" * 100} for user in USERS}


async def _save(persistence: AnyPersistence, users: dict[int, dict[str, Any]]) -> None:
    await asyncio.gather(*(persistence.update_user_data(u, d) for u, d in users.items()))


async def test_the_server_crashing_mid_round_keeps_all_or_nothing(own_server: PgServer) -> None:
    url = own_server.url()
    persistence: AnyPersistence = PostgresPersistence(url, timeout=3)
    await persistence.get_user_data()
    await _save(persistence, _users(1))
    crash = threading.Timer(0.02, own_server.stop)  # while round 2 is being written
    started = time.monotonic()
    crash.start()
    try:
        await _save(persistence, _users(2))
        outcome = "saved"
    except DatabaseError:
        outcome = "failed"
    crash.join()
    assert time.monotonic() - started < 10  # a typed error in bounded time, no hang
    with pytest.raises(DatabaseError):  # while the server is down
        await persistence.update_user_data(0, {"n": 3})
    own_server.start()
    # the server is back: this round works and also writes what the failed ones left unsaved
    await persistence.update_user_data(1, {"n": 3})
    await persistence.flush()
    loaded = (await _load(url))["user_data"]
    assert loaded[0] == {"n": 3}
    assert loaded[1] == {"n": 3}
    assert {user: loaded[user] for user in USERS[2:]} == {
        user: value for user, value in _users(2).items() if user >= 2
    }, outcome


async def test_all_or_nothing_after_a_crash_mid_round(own_server: PgServer) -> None:
    url = own_server.url()
    # from before the transaction to after its COMMIT (a round here takes 0.2 to 0.5 s)
    for attempt, delay in enumerate((0.0, 0.1, 0.2, 0.3, 0.45, 0.7)):
        persistence: AnyPersistence = PostgresPersistence(url, timeout=3)
        await persistence.get_user_data()
        await _save(persistence, _users(2 * attempt + 1))
        crash = threading.Timer(delay, own_server.stop)
        crash.start()
        saved = True
        try:
            await _save(persistence, _users(2 * attempt + 2))
        except DatabaseError:
            saved = False
        crash.join()
        own_server.start()
        loaded = (await _load(url))["user_data"]
        numbers = {value["n"] for value in loaded.values()}
        assert len(numbers) == 1, f"a round was half saved: {sorted(numbers)}"
        assert loaded == _users(numbers.pop())
        if saved:
            assert loaded == _users(2 * attempt + 2)


async def test_a_connection_the_server_cut_is_opened_again(pg_url: str) -> None:
    persistence: AnyPersistence = PostgresPersistence(pg_url)
    await persistence.get_user_data()
    await persistence.update_user_data(1, {"n": 1})
    with psycopg.connect(pg_url, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE 'jsonpersist default pid%%'"
        ).fetchall()
    assert ended == [(True,)]
    await asyncio.sleep(0.1)
    await persistence.update_user_data(1, {"n": 2})  # no error: idle loss is retried
    await persistence.flush()
    assert (await _load(pg_url))["user_data"] == {1: {"n": 2}}


async def test_losing_the_name_while_disconnected_is_reported(pg_url: str) -> None:
    persistence: AnyPersistence = PostgresPersistence(pg_url)
    await persistence.get_user_data()
    await persistence.update_user_data(1, {"n": 1})
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE 'jsonpersist default pid%%'"
        )
    await asyncio.sleep(0.1)
    other: AnyPersistence = PostgresPersistence(pg_url)
    await other.get_user_data()  # took the name meanwhile
    with pytest.raises(DatabaseLockedError):
        await persistence.update_user_data(1, {"n": 2})
    await other.update_user_data(1, {"n": "other"})
    await other.flush()
    # the first one takes the name again and writes what it holds (its memory is PTB's)
    await persistence.update_user_data(2, {"n": 2})
    await persistence.flush()
    assert (await _load(pg_url))["user_data"] == {1: {"n": 2}, 2: {"n": 2}}
