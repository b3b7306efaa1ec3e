"""Instructions per load and per round, counted by valgrind: an A/B that a busy machine can't blur.

Wall-clock A/Bs on a shared 2-core machine move by 20% between runs; instruction counts do not
(the same binary, input and environment give the same count). For each Python given (a virtualenv
per code version, e.g. one installed from a worktree of the old commit), the script seeds N users
of ``benchmarks/_workload.py`` with that version's code, then counts the instructions of a
process that loads them R times, or runs R rounds of K changed users, against one that does the
same zero times: the difference over R is the cost of one. Needs ``valgrind`` (Debian's package).

    python benchmarks/bench_instructions.py --python /tmp/venv-old/bin/python .venv/bin/python

Counts exclude the kernel's work (fsync, rename): compare them with the wall-clock benchmarks,
not instead of them. The interpreters run with ``-P`` (Python 3.11 or later), so that each
imports its own installed jsonpersist, never the checkout's.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

_SEED = """
import asyncio, sys
sys.path.insert(0, sys.argv[3])
from _workload import make_user, user_ids
from jsonpersist import JsonPersistence
async def seed():
    persistence = JsonPersistence(sys.argv[1])
    await persistence.get_user_data()
    ids = user_ids(int(sys.argv[2]))
    await asyncio.gather(*(persistence.update_user_data(i, make_user(i)) for i in ids))
    await persistence.flush()
asyncio.run(seed())
"""
_RUN = """
import asyncio, shutil, sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[5])
from _workload import mutate_user
from jsonpersist import JsonPersistence
kind, changed, times = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
async def run():
    directory = Path(tempfile.mkdtemp()) / "state"
    shutil.copytree(sys.argv[1], directory)
    if kind == "load":
        for _ in range(times):
            await JsonPersistence(directory, read_only=True).get_user_data()
        return
    persistence = JsonPersistence(directory, update_interval=3600)
    users = await persistence.get_user_data()
    for step in range(times):
        ids = list(users)[:changed]
        for user in ids:
            mutate_user(users[user], step)
        await asyncio.gather(*(persistence.update_user_data(i, users[i]) for i in ids))
    await persistence.flush()
asyncio.run(run())
"""


def instructions(python: str, *args: str) -> int:
    """The instructions (valgrind's "I refs") of ``python -c _RUN args``."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            python,
            "-P",  # not this checkout's jsonpersist, the interpreter's own
            "-c",
            _RUN,
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise SystemExit(f"valgrind printed no count:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    """Prints millions of instructions per load and per round for each Python given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", nargs="+", required=True, help="one interpreter per version")
    parser.add_argument("--n", type=int, default=10_000, help="users (default 10,000)")
    parser.add_argument("--k", default="1,100,10000", help="users changed per round")
    args = parser.parse_args()
    print(f"N = {args.n:,} users; millions of instructions per operation (valgrind cachegrind)")
    for python in args.python:
        with tempfile.TemporaryDirectory() as scratch:
            state = str(Path(scratch) / "state")
            subprocess.run([python, "-P", "-c", _SEED, state, str(args.n), str(HERE)], check=True)
            base = instructions(python, state, "load", "0", "0", str(HERE))
            loads = instructions(python, state, "load", "0", "3", str(HERE))
            row = [f"load {(loads - base) / 3e6:.1f}"]
            for k in (int(text) for text in args.k.split(",")):
                times = 2 if k >= args.n else 10
                start = instructions(python, state, "round", str(k), "0", str(HERE))
                total = instructions(python, state, "round", str(k), str(times), str(HERE))
                row.append(f"K={k:,} {(total - start) / times / 1e6:.1f}")
        print(f"{python}: " + ", ".join(row))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
