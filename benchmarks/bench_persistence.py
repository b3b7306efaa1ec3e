"""JsonPersistence side by side with PTB's persistences and the orjson floor.

Run from the repository root (see docs/benchmarks.md for the method and the latest results)::

    python benchmarks/bench_persistence.py                # N = 1k, 10k, 100k: ~15 minutes
    python benchmarks/bench_persistence.py --quick        # N = 1k, 10k: ~2 minutes
    python benchmarks/bench_persistence.py --sizes 1000,10000 --kinds json,pickle-1
    python benchmarks/bench_persistence.py --conversations --json out.json --plots docs/img

Every (persistence, N) runs in fresh subprocesses so that peak RSS belongs to one
configuration: a *seed* process writes the initial state of N users; a *run* process loads
it as ``Application.initialize`` does (timed: the cold load), then drives update rounds as
``Application.update_persistence`` does: the arguments are deep-copied first (PTB does that
on the loop too, for every persistence alike, so it is reported apart and not timed), then
every ``update_user_data(id, data)`` of the round and ``update_bot_data(bot_data)`` are
awaited together with ``asyncio.gather``. A ticker task sleeping 1 ms records the longest
gap between its wake-ups during the round (the event-loop stall). Bytes written are the
process's ``wchar`` from ``/proc/self/io`` (every ``write()`` of every thread) over the round.
More *load* processes repeat the cold load. The parent prints the tables, the ratios and
one PASS/MISS line per target.

Rounds that PicklePersistence would spend minutes on (it rewrites its whole file for every
changed user) are estimated: a round of ``m`` updates is timed and scaled by ``K/m``.
Estimated values carry a ``~``.

``--conversations`` adds the conversation workload of ``bench_workloads.py``: one handler with
N active conversations for each N, 1 and 100 steps per round, beside both PicklePersistences.
``--json OUT`` keeps the results for ``plot.py``; ``--plots DIR`` draws them.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _measure import GcClock, Ticker, environment, max_rss_mb, mb, med, ms, ratio, wchar
from _workload import BOT_DATA, make_state, make_user, mutate_user, pick_users

KINDS = ("json", "pickle-1", "pickle-n", "dict", "floor", "noop")
LABELS = {
    "json": "JsonPersistence",
    "pickle-1": "Pickle(single_file=True)",
    "pickle-n": "Pickle(single_file=False)",
    "dict": "DictPersistence+file",
    "floor": "floor: orjson+durable",
    "noop": "no-op (PTB's gather only)",
}
PICKLES = ("pickle-1", "pickle-n")
UNCHANGED_USERS = 100  # touched-but-unchanged users sent in the "no changes" round
RESULT = "RESULT "
BOT_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"


# =========================================================================== measuring


def snapshot(directory: Path) -> dict[str, tuple[int, int, int]]:
    return {
        entry.name: (entry.inode(), entry.stat().st_size, entry.stat().st_mtime_ns)
        for entry in os.scandir(directory)
        if entry.is_file()
    }


def changed_files(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(name for name, info in after.items() if before.get(name) != info)


def durable_write(path: Path, data: bytes) -> None:
    """Temp file in the same directory, write, fsync, rename, fsync the directory."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def fingerprint(user_data: dict[int, Any]) -> str:
    raw = orjson.dumps(user_data, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()


# ============================================================================ adapters


def store_data() -> Any:
    from telegram.ext import PersistenceInput

    # PTB only sends update_callback_data with an ExtBot that has a callback data cache.
    return PersistenceInput(callback_data=False)


# Time spent inside JsonPersistence's private steps, filled by the timers json_class() adds.
STEPS: dict[str, float] = {}
# Where each step lives: the rounds and the store today; JsonPersistence itself before the
# adapter was split (so that an older checkout can be measured the same way).
TIMED_STEPS = (
    (
        "jsonpersist._rounds",
        "Rounds",
        {"_save_batch": "batch", "_encode": "encode", "_write": "commit"},
    ),
    ("jsonpersist._store", "Store", {"write": "write"}),
    (
        "jsonpersist._persistence",
        "JsonPersistence",
        {"_save_batch": "batch", "_encode_entries": "encode", "_commit": "commit"},
    ),
)


def json_class() -> type:
    """JsonPersistence, with timers around its private steps (those that exist).

    Each timer only adds two perf_counter calls around a step; the steps themselves are the
    library's. The classes are patched in place: this process only benchmarks.
    """
    import importlib

    from jsonpersist import JsonPersistence

    def timed(name: str, method: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                STEPS[name] = STEPS.get(name, 0.0) + time.perf_counter() - start

        wrapper.timed = True  # type: ignore[attr-defined]
        return wrapper

    for module, class_name, steps in TIMED_STEPS:
        cls = getattr(importlib.import_module(module), class_name, None)
        for attr, name in steps.items():
            method = vars(cls).get(attr) if cls is not None else None
            if method is not None and not getattr(method, "timed", False):
                setattr(cls, attr, timed(name, method))
    return JsonPersistence


class Adapter:
    """Drives one kind of persistence the way Application does."""

    files: tuple[str, ...] = ()

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.persistence: Any = None
        self.prepare()

    def prepare(self) -> None:
        """Imports and the bot: done before the cold load is timed."""
        import telegram.ext

        self.bot = telegram.Bot(BOT_TOKEN)

    async def seed(self, state: dict[int, Any]) -> None:
        await self.load()
        await self.gather(list(state.items()), copy.deepcopy(BOT_DATA))
        await self.close()

    async def load(self) -> dict[int, Any]:
        """A fresh instance's get_user_data (the timed cold load)."""
        raise NotImplementedError

    async def after_load(self) -> None:
        """The rest of Application.initialize (untimed)."""
        await self.persistence.get_chat_data()
        await self.persistence.get_bot_data()

    async def gather(self, args: list[tuple[int, Any]], bot_data: Any) -> None:
        p = self.persistence
        results = await asyncio.gather(
            p.update_bot_data(bot_data),
            *(p.update_user_data(uid, data) for uid, data in args),
            return_exceptions=True,
        )
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            raise errors[0]

    async def round(self, args: list[tuple[int, Any]], bot_data: Any) -> None:
        await self.gather(args, bot_data)

    async def close(self) -> None:
        await self.persistence.flush()


class JsonAdapter(Adapter):
    files = ("user_data.json",)

    def prepare(self) -> None:
        super().prepare()
        self.cls = json_class()

    async def load(self) -> dict[int, Any]:
        self.persistence = self.cls(self.directory, store_data=store_data())
        self.persistence.set_bot(self.bot)
        return await self.persistence.get_user_data()  # type: ignore[no-any-return]


class PickleAdapter(Adapter):
    single_file = True

    def _instance(self, on_flush: bool) -> Any:
        from telegram.ext import PicklePersistence

        p = PicklePersistence(
            self.directory / "state.pickle",
            store_data=store_data(),
            single_file=self.single_file,
            on_flush=on_flush,
        )
        p.set_bot(self.bot)
        return p

    async def seed(self, state: dict[int, Any]) -> None:
        self.persistence = self._instance(on_flush=True)  # one dump instead of N
        await self.persistence.get_user_data()
        await self.after_load()
        await self.gather(list(state.items()), copy.deepcopy(BOT_DATA))
        await self.close()

    async def load(self) -> dict[int, Any]:
        self.persistence = self._instance(on_flush=False)
        return await self.persistence.get_user_data()  # type: ignore[no-any-return]


class PickleFilesAdapter(PickleAdapter):
    single_file = False


class DictAdapter(Adapter):
    """DictPersistence, plus what people hand-roll: its user_data_json to a file per round."""

    @property
    def path(self) -> Path:
        return self.directory / "user_data.json"

    async def seed(self, state: dict[int, Any]) -> None:
        from telegram.ext import DictPersistence

        self.persistence = DictPersistence(store_data=store_data())
        await self.gather(list(state.items()), copy.deepcopy(BOT_DATA))
        durable_write(self.path, self.persistence.user_data_json.encode())

    async def load(self) -> dict[int, Any]:
        from telegram.ext import DictPersistence

        text = self.path.read_text("utf-8")
        self.persistence = DictPersistence(store_data=store_data(), user_data_json=text)
        return await self.persistence.get_user_data()  # type: ignore[no-any-return]

    async def round(self, args: list[tuple[int, Any]], bot_data: Any) -> None:
        await self.gather(args, bot_data)
        durable_write(self.path, self.persistence.user_data_json.encode())

    async def close(self) -> None:
        pass


class FloorAdapter(Adapter):
    """No persistence: orjson.dumps of the application's user data plus a durable write."""

    @property
    def path(self) -> Path:
        return self.directory / "user_data.json"

    async def seed(self, state: dict[int, Any]) -> None:
        durable_write(self.path, orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS))

    async def load(self) -> dict[int, Any]:
        tree = orjson.loads(self.path.read_bytes())
        self.user_data = {int(key): value for key, value in tree.items()}
        return self.user_data

    async def after_load(self) -> None:
        pass

    async def round(self, args: list[tuple[int, Any]], bot_data: Any) -> None:
        start = time.perf_counter()
        data = orjson.dumps(self.user_data, option=orjson.OPT_NON_STR_KEYS)
        STEPS["encode"] = time.perf_counter() - start
        durable_write(self.path, data)
        STEPS["write"] = time.perf_counter() - start - STEPS["encode"]

    async def close(self) -> None:
        pass


class _NoOpPersistence:
    """Accepts every update and does nothing: what PTB's gather costs by itself."""

    async def update_user_data(self, user_id: int, data: Any) -> None:
        return None

    async def update_bot_data(self, data: Any) -> None:
        return None


class NoOpAdapter(FloorAdapter):
    """Loads like the floor, then only awaits the round's update coroutines."""

    async def load(self) -> dict[int, Any]:
        self.persistence = _NoOpPersistence()
        return await super().load()

    async def round(self, args: list[tuple[int, Any]], bot_data: Any) -> None:
        await self.gather(args, bot_data)


ADAPTERS: dict[str, type[Adapter]] = {
    "json": JsonAdapter,
    "pickle-1": PickleAdapter,
    "pickle-n": PickleFilesAdapter,
    "dict": DictAdapter,
    "floor": FloorAdapter,
    "noop": NoOpAdapter,
}


# ============================================================================= workers


async def seed_worker(kind: str, n: int, directory: Path) -> dict[str, Any]:
    state = make_state(n)
    await ADAPTERS[kind](directory).seed(state)
    return {"bytes": sum(p.stat().st_size for p in directory.iterdir() if p.is_file())}


async def load_worker(kind: str, directory: Path) -> dict[str, Any]:
    """A fresh process: orjson.loads of the files (the baseline), then the cold load."""
    out: dict[str, Any] = {}
    if kind == "json":
        start = time.perf_counter()
        tree = orjson.loads((directory / "user_data.json").read_bytes())
        out["orjson_loads"] = time.perf_counter() - start
        del tree
        gc.collect()
    adapter = ADAPTERS[kind](directory)
    start = time.perf_counter()
    user_data = await adapter.load()
    out["load"] = time.perf_counter() - start
    await adapter.after_load()
    await adapter.close()
    out["fingerprint"] = fingerprint(user_data)
    return out


async def timed_round(
    adapter: Adapter, directory: Path, args: list[tuple[int, Any]], bot_data: Any
) -> dict[str, Any]:
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    await asyncio.sleep(0.003)  # the ticker is asleep in the loop before the round starts
    ticker.reset()
    STEPS.clear()
    files_before, written_before = snapshot(directory), wchar()
    with GcClock() as collector:
        start = time.perf_counter()
        await adapter.round(args, bot_data)
        elapsed = time.perf_counter() - start
    written = wchar() - written_before
    STEPS["gc"] = collector.total
    ticker.running = False
    await ticking
    return {
        "time": elapsed,
        "stall": ticker.max_gap,
        "bytes": written,
        "files": changed_files(files_before, snapshot(directory)),
        "steps": dict(STEPS),
    }


def more_rounds(kind: str, done: int, spent: float, reps: int, budget: float) -> bool:
    """Whether to time another round: ``reps`` of them, more (up to 3x) when they are cheap,
    fewer (but 3) when PicklePersistence spends over 3x the budget on them."""
    if kind in PICKLES and done >= 3 and spent >= 3 * budget:
        return False
    return done < reps or (done < 3 * reps and spent < 1.0)


async def run_worker(  # noqa: PLR0915
    kind: str, n: int, directory: Path, *, ks: list[int], reps: int, budget: float
) -> dict[str, Any]:
    adapter = ADAPTERS[kind](directory)
    gc.collect()
    start = time.perf_counter()
    user_data = await adapter.load()
    load_time = time.perf_counter() - start
    await adapter.after_load()
    if len(user_data) != n:
        raise AssertionError(f"{kind} loaded {len(user_data)} users, expected {n}")
    ids = sorted(user_data)
    for uid in ids[:: max(1, n // 50)]:
        if user_data[uid] != make_user(uid):
            raise AssertionError(f"{kind} loaded user {uid} wrongly")
    out: dict[str, Any] = {"load": load_time, "rss_load": max_rss_mb(), "rounds": {}}
    step = 0

    async def one_round(k: int, send: int | None = None, change: bool = True) -> dict[str, Any]:
        nonlocal step
        step += 1
        chosen = pick_users(ids, k, step)
        sent = chosen if send is None else chosen[:send]
        if change:
            for uid in sent:
                mutate_user(user_data[uid], step)
        copy_start = time.perf_counter()
        # PTB deep-copies every touched user's data on the loop; an estimated round copies
        # all K so that memory matches the real round, but sends only the first `send`.
        args = [(uid, copy.deepcopy(user_data[uid])) for uid in chosen]
        bot_data = copy.deepcopy(BOT_DATA)
        copy_time = time.perf_counter() - copy_start
        result = await timed_round(adapter, directory, args[: len(sent)], bot_data)
        result["copy"] = copy_time
        del args
        return result

    await one_round(1)  # warm-up: thread pool, first-use paths; not recorded
    per_update = None
    for k in ks:
        estimate_from = None
        if kind in PICKLES and per_update is not None and k > 1 and k * per_update > budget:
            estimate_from = min(k, max(3, int(budget / per_update)))
        runs: list[dict[str, Any]] = []
        spent = 0.0
        while more_rounds(kind, len(runs), spent, reps, budget):
            result = await one_round(k, send=estimate_from)
            spent += result["time"]
            if estimate_from is not None:
                scale = k / estimate_from
                result["time"] *= scale
                result["stall"] *= scale
                result["bytes"] = round(result["bytes"] * scale)
            runs.append(result)
        if k == 1:
            per_update = statistics.median(r["time"] for r in runs)
        out["rounds"][str(k)] = {"runs": runs, "estimated_from": estimate_from}
    unchanged = [await one_round(min(UNCHANGED_USERS, n), change=False) for _ in range(3)]
    out["rounds"]["unchanged"] = {"runs": unchanged, "estimated_from": None}
    out["rss_peak"] = max_rss_mb()
    await adapter.close()
    out["fingerprint"] = fingerprint(user_data)
    return out


def worker_main(args: argparse.Namespace) -> None:
    directory = Path(args.dir)
    if args.worker == "seed":
        result = asyncio.run(seed_worker(args.kind, args.n, directory))
    elif args.worker == "load":
        result = asyncio.run(load_worker(args.kind, directory))
    else:
        ks = [int(k) for k in args.ks.split(",")]
        result = asyncio.run(
            run_worker(args.kind, args.n, directory, ks=ks, reps=args.reps, budget=args.budget)
        )
    sys.stdout.write(RESULT + json.dumps(result) + "\n")


# ============================================================================== parent


def spawn(worker: str, kind: str, n: int, directory: Path, **extra: Any) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        worker,
        "--kind",
        kind,
        "--n",
        str(n),
        "--dir",
        str(directory),
    ]
    for key, value in extra.items():
        command += [f"--{key}", str(value)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{worker} {kind} N={n} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT) :])  # type: ignore[no-any-return]


def measure(
    kind: str, n: int, *, ks: list[int], reps: int, load_reps: int, budget: float, base: Path
) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-{n}-", dir=base))
    try:
        seeded = spawn("seed", kind, n, directory)
        run = spawn("run", kind, n, directory, ks=",".join(map(str, ks)), reps=reps, budget=budget)
        # The no-op keeps nothing: its load is the floor's, and there is nothing to verify.
        repeat = 0 if kind == "noop" else load_reps - 1
        loads = [spawn("load", kind, n, directory) for _ in range(repeat)]
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    for load in loads:
        if load["fingerprint"] != run["fingerprint"]:
            raise AssertionError(f"{kind} N={n}: a fresh load differs from the saved state")
    run["loads"] = [run["load"]] + [load["load"] for load in loads]
    run["orjson_loads"] = [load["orjson_loads"] for load in loads if "orjson_loads" in load]
    run["seed_bytes"] = seeded["bytes"]
    run["loadavg"] = os.getloadavg()[0]
    return run


# --------------------------------------------------------------------------- reporting


def round_stats(entry: dict[str, Any]) -> dict[str, Any]:
    runs = entry["runs"]
    times = [r["time"] for r in runs]
    steps: dict[str, list[float]] = {}
    for r in runs:
        for name, value in {**r["steps"], **derived_steps(r)}.items():
            steps.setdefault(name, []).append(value)
    return {
        "min": min(times),
        "median": med(times),
        "max": max(times),
        "stall": max(r["stall"] for r in runs),
        "bytes": med([r["bytes"] for r in runs]),
        "files": max(len(r["files"]) for r in runs),
        "copy": med([r["copy"] for r in runs]),
        "reps": len(runs),
        "est": entry["estimated_from"],
        "steps": {name: med(values) for name, values in steps.items()},
    }


def derived_steps(run: dict[str, Any]) -> dict[str, float]:
    """The parts between the timed steps, per round (medians of differences, not the reverse)."""
    s, out = run["steps"], {}
    if "batch" in s:
        out["loop"] = run["time"] - s["batch"]
        if "encode" in s:
            out["compare"] = s["batch"] - s["encode"] - s.get("commit", 0.0)
    if "commit" in s and "write" in s:
        out["render"] = s["commit"] - s["write"]
    return out


def best_pickle(results: dict[str, Any], pick: Any) -> float | None:
    """The better (smaller) of the two PicklePersistence values."""
    options = [pick(results[kind]) for kind in PICKLES if kind in results]
    options = [option for option in options if option is not None]
    return min(options) if options else None


def print_tables(all_results: dict[int, dict[str, Any]], ks_of: dict[int, list[int]]) -> None:
    print_rounds(all_results, ks_of)
    print_loads(all_results)
    print_breakdown(all_results, ks_of)


def print_rounds(all_results: dict[int, dict[str, Any]], ks_of: dict[int, list[int]]) -> None:
    notes: list[str] = []
    print("\n## Update rounds (ms; min / median / max over repetitions)\n")
    header = (
        f"{'N':>7} {'K':>7}  {'persistence':<26} {'min':>8} {'median':>8} {'max':>8} "
        f"{'stall':>8} {'MB/round':>9} {'files':>5}  {'Pickle-1/x':>10} {'Pickle-N/x':>10}"
        f" {'x/floor':>8}"
    )
    print(header)
    print("-" * len(header))
    for n, results in all_results.items():
        for k in [*map(str, ks_of[n]), "unchanged"]:
            stats = {
                kind: round_stats(res["rounds"][k])
                for kind, res in results.items()
                if k in res["rounds"]
            }
            for kind, st in stats.items():
                mark = "~" if st["est"] else ""
                cells = [
                    f"{mark}{ms(st['min'])}",
                    f"{mark}{ms(st['median'])}",
                    f"{mark}{ms(st['max'])}",
                    f"{mark}{ms(st['stall'])}",
                    f"{mark}{mb(st['bytes'])}",
                ]
                vs = []
                for other in PICKLES:
                    if other in stats and k != "unchanged":
                        o = stats[other]
                        mark_o = "~" if o["est"] or st["est"] else ""
                        vs.append(f"{mark_o}{ratio(o['median'] / st['median'])}")
                    else:
                        vs.append("")
                if "floor" in stats and k != "unchanged":
                    vs.append(ratio(st["median"] / stats["floor"]["median"]))
                else:
                    vs.append("")
                label = k if k != "unchanged" else f"0/{min(UNCHANGED_USERS, n)}"
                print(
                    f"{n:>7} {label:>7}  {LABELS[kind]:<26} {cells[0]:>8} {cells[1]:>8} "
                    f"{cells[2]:>8} {cells[3]:>8} {cells[4]:>9} {st['files']:>5}  "
                    f"{vs[0]:>10} {vs[1]:>10} {vs[2]:>8}"
                )
                if st["est"]:
                    notes.append(
                        f"~ {LABELS[kind]} N={n} K={k}: {st['reps']} round(s) of "
                        f"{st['est']} updates each, scaled by K/{st['est']}"
                    )
            copies = [st["copy"] for st in stats.values() if not st["est"]]
            if copies and k != "unchanged":
                notes.append(
                    f"  N={n} K={k}: PTB's deepcopy of the round's arguments (on the loop, "
                    f"untimed, same for all): {ms(med(copies))} ms"
                )
        print()
    print(
        "Pickle-1/x, Pickle-N/x: how many times faster than PicklePersistence (single_file "
        "True / False); x/floor: round time over the floor's."
    )
    print("stall: the longest gap between two wake-ups of a 1 ms ticker during the round.")
    print(
        "files: state files replaced/modified in the round; MB/round: bytes passed to "
        "write() (median)."
    )
    print("0/100: a round that sends update_bot_data and 100 touched-but-unchanged users.")
    for note in notes:
        print(note)


def print_loads(all_results: dict[int, dict[str, Any]]) -> None:
    print("\n## Cold load (fresh instance's get_user_data) and memory\n")
    header = (
        f"{'N':>7}  {'persistence':<26} {'load min':>9} {'median':>8} {'max':>8} "
        f"{'vs Pickle':>9} {'RSS load MB':>11} {'RSS peak MB':>11} {'file MB':>8}"
    )
    print(header)
    print("-" * len(header))
    for n, results in all_results.items():
        pickle_load = best_pickle(results, lambda r: med(r["loads"]))
        for kind, res in results.items():
            loads = res["loads"]
            vs = ratio(pickle_load / med(loads)) if pickle_load else ""
            print(
                f"{n:>7}  {LABELS[kind]:<26} {ms(min(loads)):>9} {ms(med(loads)):>8} "
                f"{ms(max(loads)):>8} {vs:>9} {res['rss_load']:>11.0f} {res['rss_peak']:>11.0f}"
                f" {mb(res['seed_bytes']):>8}"
            )
        if "json" in results and results["json"]["orjson_loads"]:
            base = results["json"]["orjson_loads"]
            print(
                f"{n:>7}  {'orjson.loads(user_data.json)':<26} {ms(min(base)):>9} "
                f"{ms(med(base)):>8} {ms(max(base)):>8}"
            )
        print()
    print(
        "load: ms; vs Pickle: the better PicklePersistence's median over this one's. RSS: "
        "ru_maxrss of the run process after loading / after all rounds."
    )


def print_breakdown(all_results: dict[int, dict[str, Any]], ks_of: dict[int, list[int]]) -> None:
    print("\n## Where the round time goes (median ms; JsonPersistence's steps run off the loop)\n")
    header = (
        f"{'N':>7} {'K':>7}  {'persistence':<26} {'round':>8} {'batch':>11} "
        f"{'encode':>8} {'compare':>8} {'render':>8} {'write':>8} {'loop+wait':>9} {'gc':>8}"
    )
    print(header)
    print("-" * len(header))
    for n, results in all_results.items():
        for k in [*map(str, ks_of[n]), "unchanged"]:
            for kind in ("json", "floor", "noop"):
                if kind not in results:
                    continue
                st = round_stats(results[kind]["rounds"][k])
                s = st["steps"]
                names = ("batch", "encode", "compare", "render", "write", "loop", "gc")
                text = {name: ms(s[name]) if name in s else "" for name in names}
                label = k if k != "unchanged" else f"0/{min(UNCHANGED_USERS, n)}"
                print(
                    f"{n:>7} {label:>7}  {LABELS[kind]:<26} {ms(st['median']):>8} "
                    f"{text['batch']:>11} {text['encode']:>8} {text['compare']:>8} "
                    f"{text['render']:>8} {text['write']:>8} {text['loop']:>9} {text['gc']:>8}"
                )
    print(
        "JsonPersistence: batch = the round's work in its thread (Rounds._save_batch); "
        "encode = Rounds._encode; compare = the rest of batch (bookkeeping); render = "
        "Rounds._write minus Store.write (laying the files out, the watch check); "
        "write = Store.write "
        "(temp files, fsync, rename, directory fsync); loop+wait = round minus batch "
        "(the coroutines on the loop, the hand-off to the thread). Floor: encode = "
        "orjson.dumps, write = the durable write, both on the loop. gc = time in the cyclic "
        "garbage collector during the round (any thread; part of the other columns)."
    )


def check_targets(  # noqa: PLR0912, PLR0915
    all_results: dict[int, dict[str, Any]], ks_of: dict[int, list[int]]
) -> list[str]:
    lines: list[str] = []

    def verdict(ok: bool | None, text: str) -> None:
        tag = "SKIP" if ok is None else "PASS" if ok else "MISS"
        lines.append(f"{tag}  {text}")

    def rounds(n: int, kind: str, k: int | str) -> dict[str, Any] | None:
        res = all_results.get(n, {}).get(kind)
        if res is None or str(k) not in res["rounds"]:
            return None
        return round_stats(res["rounds"][str(k)])

    def vs_pickle(n: int, k: int, factor: float) -> None:
        json_r = rounds(n, "json", k)
        pickles = [(r, kind) for kind in PICKLES if (r := rounds(n, kind, k)) is not None]
        if json_r is None or not pickles:
            verdict(None, f"round >= {factor:.0f}x faster than Pickle at N={n}, K={k}: not run")
            return
        best, kind = min(pickles, key=lambda item: item[0]["median"])
        mark = "~" if best["est"] else ""
        speedup = best["median"] / json_r["median"]
        verdict(
            speedup >= factor,
            f"round >= {factor:.0f}x faster than Pickle at N={n}, K={k}: {mark}{ratio(speedup)} "
            f"(JsonPersistence {ms(json_r['median'])} ms, {LABELS[kind]} {mark}"
            f"{ms(best['median'])} ms)",
        )

    vs_pickle(10_000, 100, 100)
    vs_pickle(100_000, 1, 5)

    for n in all_results:
        limit = 1.5 if n == 100_000 else 2.0
        parts, ok = [], True
        for k in ks_of[n]:
            json_r, floor_r = rounds(n, "json", k), rounds(n, "floor", k)
            if json_r is None or floor_r is None:
                continue
            value = json_r["median"] / floor_r["median"]
            ok = ok and value <= limit
            noop_r = rounds(n, "noop", k)
            noop = f", no-op gather {ms(noop_r['median'])}" if noop_r else ""
            parts.append(
                f"K={k}: {value:.2f}x ({ms(json_r['median'])} vs {ms(floor_r['median'])} ms{noop})"
            )
        if parts:
            verdict(ok, f"round within {limit}x of the floor at N={n}: " + ", ".join(parts))

    if 100_000 in all_results and "json" in all_results[100_000]:
        stalls = {k: rounds(100_000, "json", k) for k in ks_of[100_000]}
        noops = {k: rounds(100_000, "noop", k) for k in ks_of[100_000]}
        text = ", ".join(
            f"K={k}: {ms(r['stall'])} ms"
            + (f" (no-op gather: {ms(idle['stall'])} ms)" if (idle := noops[k]) else "")
            for k, r in stalls.items()
            if r
        )
        worst = max(r["stall"] for r in stalls.values() if r)
        verdict(worst <= 0.050, f"event-loop stall <= 50 ms at N=100000 (max): {text}")
    else:
        verdict(None, "event-loop stall <= 50 ms at N=100000: not run")

    for n, results in all_results.items():
        if "json" not in results:
            continue
        json_load = med(results["json"]["loads"])
        pickle_load = best_pickle(results, lambda r: med(r["loads"]))
        if pickle_load is not None:
            verdict(
                json_load <= pickle_load,
                f"cold load no slower than Pickle at N={n}: {ms(json_load)} ms vs "
                f"{ms(pickle_load)} ms ({ratio(pickle_load / json_load)} faster)",
            )
        base = results["json"]["orjson_loads"]
        if base:
            verdict(
                json_load <= 2 * med(base),
                f"cold load within 2x of orjson.loads at N={n}: {ms(json_load)} ms vs "
                f"{ms(med(base))} ms ({json_load / med(base):.2f}x)",
            )

    big = all_results.get(100_000, {})
    pickle_rss = best_pickle(big, lambda r: r["rss_peak"])
    if "json" in big and pickle_rss:
        rss = big["json"]["rss_peak"]
        verdict(
            rss <= 1.5 * pickle_rss,
            f"peak RSS at N=100000 <= 1.5x Pickle's: {rss:.0f} MB vs {pickle_rss:.0f} MB "
            f"({rss / pickle_rss:.2f}x)",
        )
    else:
        verdict(None, "peak RSS at N=100000 <= 1.5x Pickle's: not run")

    encode = {}
    for k in (1, 100):
        r = rounds(100_000, "json", k)
        if r is not None and "encode" in r["steps"]:
            encode[k] = r["steps"]["encode"]
    if len(encode) == 2:
        small = {n: rounds(n, "json", 1) for n in all_results}
        by_n = {n: r["steps"]["encode"] for n, r in small.items() if r and "encode" in r["steps"]}
        per_n = ", ".join(f"N={n}: {ms(seconds)} ms" for n, seconds in by_n.items())
        growth = encode[100] / encode[1]
        # K=1 is mostly the round's fixed work (bot_data, the callback data), so 100x the
        # users cannot cost 100x; it must cost clearly more, while 100x N must not.
        flat = max(by_n.values()) / min(by_n.values())
        verdict(
            growth >= 3 and flat <= 2,
            f"encoding grows with K, not N (N=100000): K=1 {ms(encode[1])} ms, K=100 "
            f"{ms(encode[100])} ms ({growth:.1f}x for 100x the users, at least 3x); "
            f"K=1 by N: {per_n} ({flat:.1f}x from the smallest N to the largest, at most 2x)",
        )
    else:
        verdict(None, "encoding time at N=100000, K=1 vs K=100: not run")

    written = []
    for n, results in all_results.items():
        if "json" in results:
            r = round_stats(results["json"]["rounds"]["unchanged"])
            written.append((n, r["bytes"], r["files"]))
    if written:
        verdict(
            all(b == 0 and f == 0 for _, b, f in written),
            "no write for a round with no changes: "
            + ", ".join(f"N={n}: {b:.0f} bytes, {f} files" for n, b, f in written),
        )
    return lines


def main() -> None:  # noqa: PLR0915
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated N (default 1000,10000,100000)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="subset of " + ",".join(KINDS))
    parser.add_argument("--quick", action="store_true", help="N=1k,10k, fewer repetitions")
    parser.add_argument("--reps", type=int, help="rounds per (N, K); default 5 (quick: 3)")
    parser.add_argument("--load-reps", type=int, help="cold loads per N; default 3 (quick: 2)")
    parser.add_argument(
        "--budget",
        type=float,
        help="seconds a Pickle round may take before it is estimated; default 15 (quick: 1.5)",
    )
    parser.add_argument("--dir", help="where the state directories go (default: the temp dir)")
    parser.add_argument(
        "--conversations",
        action="store_true",
        help="also run the conversation workload of bench_workloads.py: one handler with N "
        "active conversations for each N, 1 and 100 steps per round, JsonPersistence beside "
        "both PicklePersistences (alone: bench_workloads.py --only conversations)",
    )
    parser.add_argument("--json", help="also write the results to this file (for plot.py)")
    parser.add_argument("--plots", help="draw the plots (SVG) into this directory")
    parser.add_argument("--worker", choices=("seed", "run", "load"), help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ks", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return

    sizes = [
        int(s)
        for s in (args.sizes or ("1000,10000" if args.quick else "1000,10000,100000")).split(",")
    ]
    kinds = [kind for kind in args.kinds.split(",") if kind]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds: {sorted(unknown)}")
    reps = args.reps or (3 if args.quick else 5)
    load_reps = args.load_reps or (2 if args.quick else 3)
    budget = args.budget or (1.5 if args.quick else 15.0)
    base = Path(args.dir or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)

    header = [
        "# JsonPersistence vs PTB persistences (benchmarks/bench_persistence.py)",
        *environment(base),
        f"command: {' '.join([Path(sys.executable).name, *sys.argv])}",
        f"repetitions: {reps} rounds per (N, K) (Pickle: at least 3, more only within "
        f"3x{budget:g} s), {load_reps} cold loads; Pickle rounds over {budget:g} s estimated",
    ]
    print("\n".join(header) + "\n", flush=True)

    started = time.perf_counter()
    all_results: dict[int, dict[str, Any]] = {}
    ks_of: dict[int, list[int]] = {}
    for n in sizes:
        ks_of[n] = sorted({1, min(100, n), n})
        all_results[n] = {}
        for kind in kinds:
            t0, load_before = time.perf_counter(), os.getloadavg()[0]
            all_results[n][kind] = measure(
                kind, n, ks=ks_of[n], reps=reps, load_reps=load_reps, budget=budget, base=base
            )
            print(
                f"measured {LABELS[kind]} N={n} in {time.perf_counter() - t0:.0f} s "
                f"(1-minute load average before: {load_before:.1f}, after: "
                f"{all_results[n][kind]['loadavg']:.1f})",
                flush=True,
            )
    conversations = []
    if args.conversations:
        import bench_workloads

        sized = {"conversations": tuple(sizes)}
        conversations = bench_workloads.run_all(
            ["conversations"], quick=args.quick, reps=reps, base=base, traced=True, sizes=sized
        )
    print_tables(all_results, ks_of)
    print("\n## Targets\n")
    for line in check_targets(all_results, ks_of):
        print(line)
    if conversations:
        bench_workloads.report(conversations)
    print(f"\ntotal time: {time.perf_counter() - started:.0f} s")
    document = {
        "script": "bench_persistence",
        "header": header,
        "ks_of": ks_of,
        "results": all_results,
        "conversations": conversations,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(document, indent=1) + "\n")
    if args.plots:
        import plot

        for path in plot.persistence_plots(document, Path(args.plots)):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
