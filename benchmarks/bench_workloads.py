"""JsonPersistence beside PicklePersistence on bot_data, conversations and hand edits (watch).

Run from the repository root (see docs/benchmarks.md for the method and the latest results)::

    python benchmarks/bench_workloads.py                  # 1k, 10k, 100k: ~12 minutes
    python benchmarks/bench_workloads.py --quick          # 1k, 10k, fewer rounds: ~2 minutes
    python benchmarks/bench_workloads.py --only conversations --json out.json --plots docs/img
    python benchmarks/bench_workloads.py --from out.json --markdown --compare before.json

Workloads (``--only``, comma-separated):

- ``bot-int``, ``bot-str``: ``bot_data`` holding ``{user_id: small dict}`` for N users, with int
  keys or with str keys. PTB hands ``update_bot_data(deepcopy(bot_data))`` over every round,
  so two rounds: nothing changed, and one key changed. PicklePersistence is driven as PTB does:
  ``get_bot_data()`` at the start (it keeps its own copy), then the application's data.
- ``conversations``: one persistent handler with N active conversations keyed
  ``(chat_id, user_id)``; a round is K ``update_conversation(name, key, new_state)`` calls in
  one gather, K = 1 and 100.
- ``watch``: N users' ``user_data`` with ``JsonPersistence(watch=True)``. A person edits one
  user's line of ``user_data.json`` (the file is rewritten through a temporary file and a
  rename, as an editor saves); then either the next incoming update (PTB's ``refresh_bot_data``,
  ``refresh_chat_data``, ``refresh_user_data`` before a handler) or a round with one other user
  changed. A K = 1 round without an edit is measured beside it, and the same round with
  JsonPersistence(watch=False) and both PicklePersistences.

Every (workload, N, persistence) runs in fresh processes: a *seed* process writes the state, a
*run* process loads it as ``Application.initialize`` does (timed) and drives the rounds, and a
*mem* process repeats the load and 10 rounds under ``tracemalloc``. The round's arguments are
made as PTB makes them (``deepcopy``, on the loop, untimed and the same for every persistence);
the round is one ``asyncio.gather``. A ticker task sleeping 1 ms records the longest gap between
its wake-ups during the round (the stall); ``gc.callbacks`` record the collector's passes, and
the part of the stall they overlap is reported. Bytes written are ``wchar`` of
``/proc/self/io``. The parent prints the tables and PASS/MISS lines for the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _measure import (
    GcClock,
    Ticker,
    environment,
    max_rss_mb,
    mb,
    med,
    ms,
    ratio,
    rss_mb,
    wchar,
)
from _workload import BOT_DATA, make_state, mutate_user, user_ids

WORKLOADS = ("bot-int", "bot-str", "conversations", "watch")
TITLES = {
    "bot-int": "bot_data with int keys ({user_id: small dict})",
    "bot-str": "bot_data with str keys ({str(user_id): small dict})",
    "conversations": "one ConversationHandler with N active conversations",
    "watch": "watch=True: a person edits one line of user_data.json",
}
LABELS = {
    "json": "JsonPersistence",
    "json-watch": "JsonPersistence(watch=True)",
    "pickle-n": "Pickle(single_file=False)",
    "pickle-1": "Pickle(single_file=True)",
}
PICKLES = ("pickle-n", "pickle-1")
#: The rounds of each workload and persistence, in the order they run.
SCENARIOS: dict[str, dict[str, tuple[str, ...]]] = {
    "bot-int": dict.fromkeys(("json", *PICKLES), ("unchanged", "one")),
    "bot-str": dict.fromkeys(("json", *PICKLES), ("unchanged", "one")),
    "conversations": dict.fromkeys(("json", *PICKLES), ("k1", "k100")),
    "watch": {
        "json-watch": ("k1", "edit-refresh", "edit-k1"),
        "json": ("k1",),
        "pickle-n": ("k1",),
        "pickle-1": ("k1",),
    },
}
SCENARIO_LABELS = {
    "unchanged": "nothing changed",
    "one": "one key changed",
    "k1": "K=1",
    "k100": "K=100",
    "edit-refresh": "edit, next update",
    "edit-k1": "edit, K=1 round",
}
#: The rounds the mem process repeats 10 times.
MEM_SCENARIO = {"bot-int": "one", "bot-str": "one", "conversations": "k1", "watch": "k1"}
SIZES = {
    "bot-int": (1_000, 10_000, 100_000),
    "bot-str": (1_000, 10_000, 100_000),
    "conversations": (1_000, 10_000, 100_000),
    "watch": (100_000,),
}
QUICK_SIZES = {
    "bot-int": (1_000, 10_000),
    "bot-str": (1_000, 10_000),
    "conversations": (1_000, 10_000),
    "watch": (10_000,),
}
HANDLER = "shop"
ROUNDS_FOR_MEMORY = 10
ROUNDS_PER_DAY = 1440  # update_interval=60
RESULT = "RESULT "
BOT_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
_LANGUAGES = ("en", "de", "es", "fr", "it", "pt", "ru", "uk", "tr", "id")


# ============================================================================ the state


def bot_entry(user_id: int) -> dict[str, Any]:
    """What a bot keeps per user in ``bot_data``: a small dict, a pure function of the id."""
    return {"score": user_id % 997, "lang": _LANGUAGES[user_id % 10], "seen": 1_700_000_000}


def bot_state(n: int, str_keys: bool) -> dict[Any, Any]:
    """``bot_data`` with one entry per user, keyed by the user's id (an int or its str)."""
    return {(str(uid) if str_keys else uid): bot_entry(uid) for uid in user_ids(n)}


def conversation_state(n: int) -> dict[tuple[int, int], int]:
    """N active conversations of private chats: key ``(chat_id, user_id)``, state 0 to 4."""
    return {(uid, uid): index % 5 for index, uid in enumerate(user_ids(n))}


def store_data(workload: str) -> Any:
    """The categories the workload stores (PTB never calls the others)."""
    from telegram.ext import PersistenceInput

    if workload.startswith("bot-"):
        return PersistenceInput(user_data=False, chat_data=False, callback_data=False)
    if workload == "conversations":
        return PersistenceInput(
            user_data=False, chat_data=False, bot_data=False, callback_data=False
        )
    return PersistenceInput(callback_data=False)


def make_persistence(
    kind: str, workload: str, directory: Path, bot: Any, seeding: bool = False
) -> Any:
    """A fresh persistence of ``kind`` with the bot set, as the application would build it.

    Seeding PicklePersistence uses ``on_flush=True``: one dump instead of one per entry.
    """
    from telegram.ext import PicklePersistence

    from jsonpersist import JsonPersistence

    persistence: Any
    if kind.startswith("json"):
        persistence = JsonPersistence(
            directory, store_data=store_data(workload), watch=kind == "json-watch"
        )
    else:
        persistence = PicklePersistence(
            directory / "state.pickle",
            store_data=store_data(workload),
            single_file=kind == "pickle-1",
            on_flush=seeding,
        )
    persistence.set_bot(bot)
    return persistence


async def gather(*coroutines: Awaitable[Any]) -> None:
    """Awaits a round as ``Application.update_persistence`` does; raises the first error."""
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def pick(keys: list[Any], k: int, step: int, avoid: Iterable[Any] = ()) -> list[Any]:
    """``k`` distinct keys for round ``step``, deterministic, none of ``avoid``."""
    excluded = set(avoid)
    rng = random.Random(step)
    chosen: list[Any] = []
    while len(chosen) < k:
        key = keys[rng.randrange(len(keys))]
        if key not in excluded and key not in chosen:
            chosen.append(key)
    return chosen


def edit_line(path: Path, user_id: int, old: bytes, new: bytes) -> None:
    """Replaces ``old`` by ``new`` in the line of ``path`` holding ``user_id``, as a person would.

    The file's layout is not assumed: the first line holding the id as a whole number and
    ``old`` is changed, and the file is saved as editors save (a temporary file in the same
    directory, renamed over it).
    """
    raw = path.read_bytes()
    for match in re.finditer(rb"(?<![0-9])" + str(user_id).encode() + rb"(?![0-9])", raw):
        start = raw.rfind(b"\n", 0, match.start()) + 1
        end = raw.find(b"\n", match.end())
        end = len(raw) if end < 0 else end
        line = raw[start:end]
        if old in line:
            raw = raw[:start] + line.replace(old, new, 1) + raw[end:]
            break
    else:
        raise AssertionError(f"no line of {path} holds user {user_id} and {old!r}")
    temp = path.with_name(f".{path.name}.edit")
    temp.write_bytes(raw)
    os.replace(temp, path)


def line_of(path: Path, user_id: int) -> bytes:
    """The first line of ``path`` that holds ``user_id`` as a whole number."""
    raw = path.read_bytes()
    match = re.search(rb"(?<![0-9])" + str(user_id).encode() + rb"(?![0-9])", raw)
    if match is None:
        return b""
    start = raw.rfind(b"\n", 0, match.start()) + 1
    end = raw.find(b"\n", match.end())
    return raw[start : len(raw) if end < 0 else end]


# ============================================================================ the driver


class Driver:
    """Loads one persistence and runs the rounds of one workload the way PTB does.

    Each round is made in two parts: :meth:`prepare` changes the application's data and makes
    PTB's arguments (untimed), and returns the coroutine factory of the round itself (timed).
    """

    def __init__(self, workload: str, kind: str, n: int, directory: Path) -> None:
        self.workload, self.kind, self.n, self.directory = workload, kind, n, directory
        self.persistence: Any = None
        self.data: Any = None  # the application's data: bot_data, a handler's states, user_data
        self.bot_data: Any = None
        self.chat_data: dict[int, Any] = {}
        self.keys: list[Any] = []
        self.rounds = 0
        self.edited: list[int] = []  # users a person edited, in order
        self.notes: list[str] = []
        # Imports and the bot before the cold load is timed.
        import importlib

        import telegram

        importlib.import_module("telegram.ext")
        importlib.import_module("jsonpersist")
        self.bot = telegram.Bot(BOT_TOKEN)

    # ------------------------------------------------------------------------- seed, load

    async def seed(self) -> None:
        p = make_persistence(self.kind, self.workload, self.directory, self.bot, seeding=True)
        if self.workload.startswith("bot-"):
            await p.get_bot_data()
            await gather(p.update_bot_data(bot_state(self.n, self.workload == "bot-str")))
        elif self.workload == "conversations":
            await p.get_conversations(HANDLER)
            states = conversation_state(self.n)
            await gather(*(p.update_conversation(HANDLER, k, s) for k, s in states.items()))
        else:
            await p.get_user_data()
            await p.get_chat_data()
            await p.get_bot_data()
            users = make_state(self.n)
            await gather(
                p.update_bot_data(copy.deepcopy(BOT_DATA)),
                *(p.update_user_data(uid, data) for uid, data in users.items()),
            )
        await p.flush()

    async def load(self) -> None:
        """The ``get_*`` calls of ``Application.initialize`` for the stored categories."""
        self.persistence = p = make_persistence(self.kind, self.workload, self.directory, self.bot)
        if self.workload.startswith("bot-"):
            self.data = await p.get_bot_data()
        elif self.workload == "conversations":
            self.data = await p.get_conversations(HANDLER)
        else:
            self.data = await p.get_user_data()
            self.chat_data = await p.get_chat_data()
            self.bot_data = await p.get_bot_data()

    def check_loaded(self) -> None:
        if len(self.data) != self.n:
            raise AssertionError(f"{self.kind} loaded {len(self.data)} entries, not {self.n}")
        self.keys = sorted(self.data)

    # ------------------------------------------------------------------------------ rounds

    def prepare(self, scenario: str) -> Callable[[], Awaitable[Any]]:
        """Changes the application's data for one round; returns the round to time."""
        self.rounds += 1
        step, p = self.rounds, self.persistence
        if self.workload.startswith("bot-"):
            if scenario == "one":
                self.data[pick(self.keys, 1, step)[0]]["score"] += 1
            argument = copy.deepcopy(self.data)  # PTB: update_bot_data(deepcopy(bot_data))
            return lambda: gather(p.update_bot_data(argument))
        if self.workload == "conversations":
            chosen = pick(self.keys, 100 if scenario == "k100" else 1, step)
            steps = [(key, (self.data[key] + 1) % 5) for key in chosen]
            for key, state in steps:
                self.data[key] = state
            return lambda: gather(*(p.update_conversation(HANDLER, k, s) for k, s in steps))
        if scenario.startswith("edit-"):
            self.edit(step)
        if scenario == "edit-refresh":
            user = self.edited[-1]
            chat = self.chat_data.setdefault(user, {})
            return lambda: self.refresh(user, chat)
        user = pick(self.keys, 1, step, avoid=self.edited)[0]
        mutate_user(self.data[user], step)
        arguments = (copy.deepcopy(self.bot_data), copy.deepcopy(self.data[user]))
        return lambda: gather(
            p.update_bot_data(arguments[0]), p.update_user_data(user, arguments[1])
        )

    async def refresh(self, user: int, chat: Any) -> None:
        """What PTB calls before a handler of a private chat with ``user`` runs."""
        await self.persistence.refresh_bot_data(self.bot_data)
        await self.persistence.refresh_chat_data(user, chat)
        await self.persistence.refresh_user_data(user, self.data[user])

    def edit(self, step: int) -> None:
        """A person renames one user in ``user_data.json`` (same length, same layout)."""
        user = pick(self.keys, 1, 1_000_000 + step, avoid=self.edited)[0]
        name = self.data[user]["name"]
        edited = "edit" + name[4:]
        edit_line(
            self.directory / "user_data.json", user, f'"{name}"'.encode(), f'"{edited}"'.encode()
        )
        self.edited.append(user)

    async def settle(self, scenario: str) -> None:
        """After an edit round: check the edit survived, hand it to the application (untimed)."""
        if not scenario.startswith("edit-"):
            return
        user = self.edited[-1]
        if scenario == "edit-k1":
            if b'"edit' not in line_of(self.directory / "user_data.json", user):
                self.notes.append(f"the edit of user {user} is not in the file after the round")
            await self.refresh(user, self.chat_data.setdefault(user, {}))
        if not self.data[user]["name"].startswith("edit"):
            self.notes.append(f"the edit of user {user} did not reach the application")

    async def timed(self, scenario: str) -> dict[str, Any]:
        """Prepares and runs one round; returns its measures."""
        run = self.prepare(scenario)
        ticker = Ticker()
        ticking = asyncio.create_task(ticker.run())
        await asyncio.sleep(0.003)  # the ticker is asleep in the loop before the round starts
        ticker.reset()
        written = wchar()
        with GcClock() as collector:
            start = time.perf_counter()
            await run()
            elapsed = time.perf_counter() - start
        written = wchar() - written
        ticker.running = False
        await ticking
        longest, generation = collector.longest()
        await self.settle(scenario)
        return {
            "time": elapsed,
            "stall": ticker.max_gap,
            "gc_in_stall": collector.within(*ticker.window),
            "gc": collector.total,
            "gc_passes": collector.collections,
            "gc_longest": longest,
            "gc_generation": generation,
            "bytes": written,
        }


def more_rounds(done: int, spent: float, reps: int) -> bool:
    """``reps`` rounds; up to 3x as many while they are cheap; at least 3 but no more once
    they took 10 s in all (PicklePersistence at 100,000 conversations, K = 100)."""
    if done >= 3 and spent >= 10.0:
        return False
    return done < reps or (done < 3 * reps and spent < 0.5)


async def run_worker(workload: str, kind: str, n: int, directory: Path, reps: int) -> Any:
    driver = Driver(workload, kind, n, directory)
    gc.collect()
    out: dict[str, Any] = {"rss_base": rss_mb()}
    start = time.perf_counter()
    await driver.load()
    out["load"] = time.perf_counter() - start
    driver.check_loaded()
    out["rss_load"] = rss_mb()
    scenarios = SCENARIOS[workload][kind]
    results: dict[str, list[dict[str, Any]]] = {}

    def count() -> None:
        if driver.rounds == ROUNDS_FOR_MEMORY:
            out["rss_10"] = rss_mb()

    await driver.timed(scenarios[-1])  # warm-up: thread pool, first-use paths; not recorded
    count()
    for scenario in scenarios:
        runs: list[dict[str, Any]] = []
        while more_rounds(len(runs), sum(r["time"] for r in runs), reps):
            runs.append(await driver.timed(scenario))
            count()
        results[scenario] = runs
    while driver.rounds < ROUNDS_FOR_MEMORY:
        await driver.timed(MEM_SCENARIO[workload])
        count()
    out["rss_peak"] = max_rss_mb()
    out["rounds"] = results
    out["notes"] = driver.notes
    await driver.persistence.flush()
    return out


async def mem_worker(workload: str, kind: str, n: int, directory: Path) -> Any:
    """The load and 10 rounds again, under tracemalloc (slow: nothing here is timed).

    The peaks of the load and of the rounds are kept apart: a load's transient buffers would
    hide what the rounds allocate.
    """
    driver = Driver(workload, kind, n, directory)
    gc.collect()
    tracemalloc.start()
    await driver.load()
    driver.check_loaded()
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    out = {"traced_load": current, "traced_load_peak": peak}
    tracemalloc.reset_peak()
    while driver.rounds < ROUNDS_FOR_MEMORY:
        await driver.prepare(MEM_SCENARIO[workload])()
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    out.update(traced_10=current, traced_peak=peak)
    tracemalloc.stop()
    await driver.persistence.flush()
    return out


async def seed_worker(workload: str, kind: str, n: int, directory: Path) -> Any:
    await Driver(workload, kind, n, directory).seed()
    return {"bytes": sum(p.stat().st_size for p in directory.iterdir() if p.is_file())}


def worker_main(args: argparse.Namespace) -> None:
    directory = Path(args.dir)
    result: Any
    if args.worker == "seed":
        result = asyncio.run(seed_worker(args.workload, args.kind, args.n, directory))
    elif args.worker == "mem":
        result = asyncio.run(mem_worker(args.workload, args.kind, args.n, directory))
    else:
        result = asyncio.run(run_worker(args.workload, args.kind, args.n, directory, args.reps))
    sys.stdout.write(RESULT + json.dumps(result) + "\n")


# ============================================================================== parent


def spawn(worker: str, workload: str, kind: str, n: int, directory: Path, *, reps: int) -> Any:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        *("--worker", worker, "--workload", workload, "--kind", kind),
        *("--n", str(n), "--dir", str(directory), "--reps", str(reps)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{worker} {workload} {kind} N={n} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT) :])


def measure(
    workload: str, kind: str, n: int, *, reps: int, base: Path, traced: bool
) -> dict[str, Any]:
    """Seeds, runs and (with ``traced``) traces one configuration in fresh processes."""
    directory = Path(tempfile.mkdtemp(prefix=f"bench-{workload}-{kind}-{n}-", dir=base))
    try:
        seeded = spawn("seed", workload, kind, n, directory, reps=reps)
        result: dict[str, Any] = spawn("run", workload, kind, n, directory, reps=reps)
        if traced:
            result.update(spawn("mem", workload, kind, n, directory, reps=reps))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    result.update(workload=workload, kind=kind, n=n, file_bytes=seeded["bytes"])
    result["loadavg"] = os.getloadavg()[0]
    return result


def run_all(
    workloads: list[str], *, quick: bool, reps: int, base: Path, traced: bool, sizes: Any = None
) -> list[dict[str, Any]]:
    """Measures every configuration of ``workloads``; prints progress as it goes."""
    results = []
    for workload in workloads:
        for n in (sizes or (QUICK_SIZES if quick else SIZES))[workload]:
            for kind in SCENARIOS[workload]:
                started, load_before = time.perf_counter(), os.getloadavg()[0]
                result = measure(workload, kind, n, reps=reps, base=base, traced=traced)
                results.append(result)
                print(
                    f"measured {workload} {LABELS[kind]} N={n} in "
                    f"{time.perf_counter() - started:.0f} s (1-minute load average before: "
                    f"{load_before:.1f}, after: {result['loadavg']:.1f})",
                    flush=True,
                )
    return results


# --------------------------------------------------------------------------- reporting


def stats(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Min / median of a scenario's rounds; the stall's median and max."""
    times = [r["time"] for r in runs]
    stalls = [r["stall"] for r in runs]
    return {
        "min": min(times),
        "median": med(times),
        "stall": med(stalls),
        "stall_max": max(stalls),
        "gc_in_stall": med([r["gc_in_stall"] for r in runs]),
        "gc_longest": max(r["gc_longest"] for r in runs),
        "bytes": med([r["bytes"] for r in runs]),
        "reps": len(runs),
    }


def versus(mine: float, theirs: float) -> str:
    """How JsonPersistence's time compares with another's: ``3.1x faster`` or ``2.0x slower``."""
    if mine <= theirs:
        return f"{ratio(theirs / mine)} faster"
    return f"{ratio(mine / theirs)} slower"


def find(results: list[dict[str, Any]], workload: str, kind: str, n: int) -> dict[str, Any] | None:
    for result in results:
        if (result["workload"], result["kind"], result["n"]) == (workload, kind, n):
            return result
    return None


def scenario_stats(
    results: list[dict[str, Any]], workload: str, kind: str, n: int, scenario: str
) -> dict[str, Any] | None:
    result = find(results, workload, kind, n)
    if result is None or scenario not in result["rounds"]:
        return None
    return stats(result["rounds"][scenario])


def sizes_of(results: list[dict[str, Any]], workload: str) -> list[int]:
    return sorted({r["n"] for r in results if r["workload"] == workload})


def round_rows(results: list[dict[str, Any]], workload: str) -> list[list[str]]:
    """The cells of a workload's round table: one row per (N, round, persistence)."""
    rows = []
    for n in sizes_of(results, workload):
        scenarios = dict.fromkeys(s for kinds in SCENARIOS[workload].values() for s in kinds)
        for scenario in scenarios:
            pickle = scenario_stats(results, workload, "pickle-n", n, scenario)
            for kind in SCENARIOS[workload]:
                st = scenario_stats(results, workload, kind, n, scenario)
                if st is None:
                    continue
                rows.append(
                    [
                        f"{n:,}",
                        SCENARIO_LABELS[scenario],
                        LABELS[kind],
                        ms(st["min"]),
                        ms(st["median"]),
                        ms(st["stall"]),
                        ms(st["stall_max"]),
                        ms(st["gc_in_stall"]),
                        mb(st["bytes"]),
                        f"{st['bytes'] * ROUNDS_PER_DAY / 1e9:.2f}",
                        ratio(pickle["median"] / st["median"]) if pickle else "",
                    ]
                )
    return rows


ROUND_COLUMNS = (
    "N",
    "round",
    "persistence",
    "min",
    "median",
    "stall",
    "max",
    "gc",
    "MB/round",
    "GB/day",
    "PickleN/x",
)
ROUND_LEGEND = (
    "Times in ms. min, median: the round (one gather) over its repetitions; stall: the "
    "longest gap between two wake-ups of a 1 ms ticker during the round, median (and max) over "
    "the repetitions; gc: the part of that gap the cyclic garbage collector ran in (median); "
    "MB/round: bytes passed to write() (median); GB/day: that, 1,440 times "
    "(update_interval=60, every round like this one); PickleN/x: how many times faster "
    "than Pickle(single_file=False)."
)


def memory_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    """The cells of the memory table: one row per configuration."""
    rows = []
    for r in results:
        traced = (
            [
                f"{r['traced_load'] / 1e6:.1f}",
                f"{r['traced_10'] / 1e6:.1f}",
                f"{r['traced_peak'] / 1e6:.1f}" if "traced_load_peak" in r else "",
            ]
            if "traced_load" in r
            else ["", "", ""]
        )
        rows.append(
            [
                r["workload"],
                f"{r['n']:,}",
                LABELS[r["kind"]],
                ms(r["load"]),
                f"{r['rss_base']:.0f}",
                f"{r['rss_load']:.0f}",
                f"{r.get('rss_10', 0):.0f}",
                f"{r['rss_peak']:.0f}",
                *traced,
                mb(r["file_bytes"]),
            ]
        )
    return rows


MEMORY_COLUMNS = (
    "workload",
    "N",
    "persistence",
    "load ms",
    "RSS base",
    "load",
    "10 rounds",
    "peak",
    "traced load",
    "10 rounds",
    "rounds' peak",
    "file MB",
)
MEMORY_LEGEND = (
    "MB. RSS (the run process, VmRSS): base = after imports, before the load; load = after "
    "it; 10 rounds = after 10 rounds; peak = ru_maxrss at the end. traced (the mem process, "
    "tracemalloc, after a gc.collect()): memory allocated since just before the load and "
    "still held, the application's own data included; rounds' peak = the most held at any "
    "time during the 10 rounds (not the load's)."
)


def table(columns: tuple[str, ...], rows: list[list[str]], markdown: bool) -> str:
    """Rows as aligned text, or as a Markdown table (text columns left, numbers right).

    A column empty in every row (a measure an older results file lacks) is left out.
    """
    keep = [i for i in range(len(columns)) if any(row[i] for row in rows)]
    columns = tuple(columns[i] for i in keep)
    rows = [[row[i] for i in keep] for row in rows]
    numeric = [all(_numeric(row[i]) for row in rows) for i in range(len(columns))]
    if markdown:
        lines = ["| " + " | ".join(columns) + " |"]
        lines.append("|" + "|".join("---:" if num else "---" for num in numeric) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]

    def line(cells: Iterable[str]) -> str:
        return " ".join(
            cell.rjust(width) if num else cell.ljust(width)
            for cell, width, num in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    head = line(columns)
    return "\n".join([head, "-" * len(head), *(line(row) for row in rows)])


def _numeric(cell: str) -> bool:
    return cell == "" or cell.rstrip("x").replace(",", "").replace(".", "").isdigit()


def print_rounds(
    results: list[dict[str, Any]], workloads: list[str], markdown: bool = False
) -> None:
    for workload in workloads:
        rows = round_rows(results, workload)
        if rows:
            print(f"\n## {TITLES[workload]}: rounds\n")
            print(table(ROUND_COLUMNS, rows, markdown))
    print("\n" + ROUND_LEGEND)


def print_memory(results: list[dict[str, Any]], markdown: bool = False) -> None:
    print("\n## Cold load and memory\n")
    print(table(MEMORY_COLUMNS, memory_rows(results), markdown))
    print("\n" + MEMORY_LEGEND)


def check_targets(results: list[dict[str, Any]]) -> list[str]:  # noqa: PLR0912, PLR0915
    """One PASS / MISS / SKIP line per target, JsonPersistence beside Pickle of the same run."""
    lines: list[str] = []

    def verdict(ok: bool | None, text: str) -> None:
        lines.append(f"{'SKIP' if ok is None else 'PASS' if ok else 'MISS'}  {text}")

    for workload in ("bot-int", "bot-str"):
        sizes = sizes_of(results, workload)
        if not sizes:
            continue
        n = sizes[-1]
        for scenario in ("unchanged", "one"):
            mine = scenario_stats(results, workload, "json", n, scenario)
            theirs = scenario_stats(results, workload, "pickle-n", n, scenario)
            if mine is None or theirs is None:
                continue
            verdict(
                mine["median"] <= theirs["median"],
                f"{workload} N={n}, {SCENARIO_LABELS[scenario]}: round <= Pickle(single_file="
                f"False)'s: {ms(mine['median'])} ms vs {ms(theirs['median'])} ms "
                f"({versus(mine['median'], theirs['median'])})",
            )
            verdict(
                mine["stall"] <= 0.020,
                f"{workload} N={n}, {SCENARIO_LABELS[scenario]}: stall <= 20 ms: "
                f"{ms(mine['stall'])} ms (max {ms(mine['stall_max'])}, "
                f"collector {ms(mine['gc_in_stall'])})",
            )

    sizes = sizes_of(results, "conversations")
    if sizes:
        for n in sizes:
            mine = scenario_stats(results, "conversations", "json", n, "k1")
            theirs = scenario_stats(results, "conversations", "pickle-n", n, "k1")
            if mine is None or theirs is None:
                continue
            verdict(
                mine["median"] < theirs["median"],
                f"conversations N={n}, 1 step: round < Pickle(single_file=False)'s: "
                f"{ms(mine['median'])} ms vs {ms(theirs['median'])} ms "
                f"({versus(mine['median'], theirs['median'])})",
            )
        parts, ok = [], True
        for scenario in ("k1", "k100"):
            by_n = {
                n: scenario_stats(results, "conversations", "json", n, scenario) for n in sizes
            }
            medians = {n: st["median"] for n, st in by_n.items() if st}
            if len(medians) < 2:
                continue
            growth = medians[max(medians)] / medians[min(medians)]
            ok = ok and growth <= 2
            parts.append(
                f"{SCENARIO_LABELS[scenario]}: "
                + ", ".join(f"N={n} {ms(t)} ms" for n, t in medians.items())
                + f" ({growth:.1f}x for {max(medians) // min(medians)}x the conversations)"
            )
        k_growth = []
        for n in sizes:
            one = scenario_stats(results, "conversations", "json", n, "k1")
            hundred = scenario_stats(results, "conversations", "json", n, "k100")
            if one and hundred:
                k_growth.append(f"N={n} {hundred['median'] / one['median']:.1f}x")
        if parts:
            verdict(
                ok,
                "conversations: the round grows with the steps, not with the active "
                "conversations (at most 2x from the smallest N to the largest): "
                + "; ".join(parts)
                + "; K=100 over K=1: "
                + ", ".join(k_growth),
            )

    sizes = sizes_of(results, "watch")
    if sizes:
        n = sizes[-1]
        for scenario in ("edit-refresh", "edit-k1"):
            mine = scenario_stats(results, "watch", "json-watch", n, scenario)
            if mine is None:
                continue
            verdict(
                mine["stall"] <= 0.050,
                f"watch N={n}, {SCENARIO_LABELS[scenario]}: stall <= 50 ms: "
                f"{ms(mine['stall'])} ms (max {ms(mine['stall_max'])}, collector "
                f"{ms(mine['gc_in_stall'])}); the round {ms(mine['median'])} ms",
            )

    over = []
    rows = 0
    for r in results:
        if not r["kind"].startswith("json"):
            continue
        for scenario, runs in r["rounds"].items():
            st = stats(runs)
            rows += 1
            if st["stall"] > 0.020:
                over.append(
                    f"{r['workload']} N={r['n']} {SCENARIO_LABELS[scenario]} {LABELS[r['kind']]}"
                    f" {ms(st['stall'])} ms (collector {ms(st['gc_in_stall'])})"
                )
    if rows:
        verdict(
            not over,
            f"stall <= 20 ms in every JsonPersistence row (all have K <= 100): "
            f"{rows - len(over)} of {rows} rows" + (": over: " + "; ".join(over) if over else ""),
        )
    return lines


def compare(results: list[dict[str, Any]], before: list[dict[str, Any]]) -> list[str]:
    """Same-run ratios (JsonPersistence over Pickle(single_file=False)) against an older run.

    A row that got slower by more than 10% relative to Pickle of its own run is a MISS.
    """
    lines = []
    for r in results:
        if not r["kind"].startswith("json"):
            continue
        for scenario in r["rounds"]:
            now = scenario_stats(results, r["workload"], r["kind"], r["n"], scenario)
            now_p = scenario_stats(results, r["workload"], "pickle-n", r["n"], scenario)
            old = scenario_stats(before, r["workload"], r["kind"], r["n"], scenario)
            old_p = scenario_stats(before, r["workload"], "pickle-n", r["n"], scenario)
            if not (now and old):
                continue
            label = f"{r['workload']} N={r['n']} {SCENARIO_LABELS[scenario]} {LABELS[r['kind']]}"
            if now_p and old_p:
                change = (now["median"] / now_p["median"]) / (old["median"] / old_p["median"])
                before_ratio = old["median"] / old_p["median"]
                lines.append(
                    f"{'MISS' if change > 1.10 else 'PASS'}  {label}: x/Pickle "
                    f"{before_ratio:.3f} -> {now['median'] / now_p['median']:.3f}"
                    f" ({change:.2f}x; {ms(old['median'])} -> {ms(now['median'])} ms)"
                )
            else:
                lines.append(
                    f"INFO  {label}: {ms(old['median'])} -> {ms(now['median'])} ms "
                    f"(no Pickle row to compare within the run)"
                )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 1k, 10k; watch at 10k")
    parser.add_argument("--reps", type=int, help="rounds per scenario; default 5 (quick: 3)")
    parser.add_argument("--only", help="comma-separated subset of " + ",".join(WORKLOADS))
    parser.add_argument("--sizes", help="comma-separated N for every workload chosen")
    parser.add_argument("--dir", help="where the state directories go (default: the temp dir)")
    parser.add_argument("--json", help="also write the results to this file (for plot.py)")
    parser.add_argument("--plots", help="draw the plots (SVG) into this directory")
    parser.add_argument("--compare", help="a results file of an earlier run: print ratios")
    parser.add_argument(
        "--from",
        dest="source",
        help="run nothing: report (and plot) the results file of an earlier run",
    )
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="skip the mem processes (tracemalloc)"
    )
    parser.add_argument("--worker", choices=("seed", "run", "mem"), help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args)
        return
    if args.source:
        document = json.loads(Path(args.source).read_text())
        print("\n".join(document["header"]))
        finish(args, document, None)
        return
    workloads = args.only.split(",") if args.only else list(WORKLOADS)
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {sorted(unknown)}")
    reps = args.reps or (3 if args.quick else 5)
    base = Path(args.dir or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    sizes = None
    if args.sizes:
        chosen = tuple(int(s) for s in args.sizes.split(","))
        sizes = dict.fromkeys(WORKLOADS, chosen)

    header = ["# JsonPersistence beside PicklePersistence (benchmarks/bench_workloads.py)"]
    header += environment(base)
    header.append(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    header.append(
        f"repetitions: {reps} rounds per scenario (up to 3x as many while they take under "
        "0.5 s in all; 3 once they took 10 s), one untimed warm-up round first"
    )
    print("\n".join(header) + "\n", flush=True)
    started = time.perf_counter()
    results = run_all(
        workloads,
        quick=args.quick,
        reps=reps,
        base=base,
        traced=not args.no_tracemalloc,
        sizes=sizes,
    )
    document = {"script": "bench_workloads", "header": header, "results": results}
    finish(args, document, time.perf_counter() - started)


def finish(args: argparse.Namespace, document: dict[str, Any], seconds: float | None) -> None:
    """Prints the report of a run, compares, and writes its results file and plots."""
    results = document["results"]
    report(results, args.markdown)
    if args.compare:
        before = json.loads(Path(args.compare).read_text())["results"]
        print(f"\n## Against {args.compare} (same-run ratios)\n")
        print("\n".join(compare(results, before)))
    if seconds is not None:
        print(f"\ntotal time: {seconds:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(document, indent=1) + "\n")
    if args.plots:
        import plot

        for path in plot.workload_plots(results, Path(args.plots)):
            print(f"wrote {path}")


def report(results: list[dict[str, Any]], markdown: bool = False) -> None:
    """Prints the tables (aligned text, or Markdown) and the targets of a run."""
    workloads = list(dict.fromkeys(r["workload"] for r in results))
    print_rounds(results, workloads, markdown)
    print_memory(results, markdown)
    print("\n## Targets\n")
    print("\n".join(check_targets(results)))
    for r in results:
        for note in r.get("notes", []):
            print(f"NOTE  {r['workload']} {LABELS[r['kind']]} N={r['n']}: {note}")


if __name__ == "__main__":
    main()
