"""What the benchmark scripts measure around a round, and how they print it.

A round's time, its event-loop stall (the longest gap between two wake-ups of a task sleeping
1 ms), the garbage collector's passes during it, the bytes the process wrote (``wchar`` of
``/proc/self/io``) and the process's memory. Linux only (``/proc``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gc
import os
import platform
import resource
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = (
    "GcClock",
    "Ticker",
    "environment",
    "max_rss_mb",
    "mb",
    "med",
    "ms",
    "ratio",
    "rss_mb",
    "wchar",
)


def wchar() -> int:
    """Bytes this process (all threads) has passed to write() so far."""
    with open("/proc/self/io", "rb") as file:
        for line in file:
            if line.startswith(b"wchar:"):
                return int(line.split()[1])
    raise RuntimeError("no wchar in /proc/self/io")


def max_rss_mb() -> float:
    """The process's peak resident set size so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_mb() -> float:
    """The process's resident set size now, in MB (``VmRSS``)."""
    with open("/proc/self/status", "rb") as file:
        for line in file:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class GcClock:
    """Records the cyclic garbage collector's passes (in any thread) while installed.

    Attributes:
        total (float): Seconds spent in the collector.
        collections (int): Passes finished.
        passes (list[tuple[float, float, int]]): ``(start, end, generation)`` of each pass, in
            ``time.perf_counter`` seconds.
    """

    def __init__(self) -> None:
        self.total = 0.0
        self.collections = 0
        self.passes: list[tuple[float, float, int]] = []
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            end = time.perf_counter()
            self.total += end - self._start
            self.collections += 1
            self.passes.append((self._start, end, info.get("generation", -1)))

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def within(self, start: float, end: float) -> float:
        """Seconds of collector passes that overlap the window from ``start`` to ``end``.

        The collector holds the GIL, so a pass in any thread keeps the event loop waiting.
        """
        return sum(
            max(0.0, min(end, pass_end) - max(start, pass_start))
            for pass_start, pass_end, _ in self.passes
        )

    def longest(self) -> tuple[float, int]:
        """The longest pass: its seconds and generation (``(0.0, -1)`` when none ran)."""
        if not self.passes:
            return 0.0, -1
        start, end, generation = max(self.passes, key=lambda p: p[1] - p[0])
        return end - start, generation


class Ticker:
    """Sleeps 1 ms in a loop and records the longest gap between two wake-ups.

    Attributes:
        max_gap (float): The longest gap so far, in seconds.
        window (tuple[float, float]): When it began and ended (``time.perf_counter``).
        ticks (int): Wake-ups so far.
    """

    def __init__(self) -> None:
        self.max_gap = 0.0
        self.window = (0.0, 0.0)
        self.ticks = 0
        self.running = True

    def reset(self) -> None:
        """Forgets what was recorded so far (the ticker keeps running)."""
        self.max_gap, self.window, self.ticks = 0.0, (0.0, 0.0), 0

    async def run(self) -> None:
        """Ticks until :attr:`running` is false."""
        last = time.perf_counter()
        while self.running:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.ticks += 1
            if now - last > self.max_gap:
                self.max_gap, self.window = now - last, (last, now)
            last = now


def environment(base: Path) -> list[str]:
    """Lines saying when, on what machine and software, and at which commit a run went."""
    import filelock
    import orjson
    import telegram

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    fs = subprocess.run(
        ["df", "-T", str(base)], capture_output=True, text=True, check=False
    ).stdout.splitlines()[-1:]
    root = Path(__file__).resolve().parent.parent
    head = subprocess.run(
        ["git", "-C", str(root), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--", "jsonpersist"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return [
        f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"jsonpersist at commit {head or '?'}"
        + (" (with uncommitted changes in jsonpersist/)" if dirty else ""),
        f"machine: {os.cpu_count()} CPUs ({cpu}), {platform.platform()}",
        f"python {platform.python_version()}, python-telegram-bot {telegram.__version__}, "
        f"orjson {orjson.__version__}, filelock {filelock.__version__}",
        f"state directory: {base} ({' '.join(fs[0].split()[:2]) if fs else '?'})",
    ]


def med(values: list[float]) -> float:
    """The median."""
    return statistics.median(values)


def ms(seconds: float) -> str:
    """Seconds as milliseconds, with three significant digits or so."""
    value = seconds * 1000
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def mb(count: float) -> str:
    """Bytes as MB (10^6)."""
    return f"{count / 1e6:.2f}" if count < 1e8 else f"{count / 1e6:.0f}"


def ratio(value: float) -> str:
    """A ratio as ``12x``, ``1.5x`` or ``0.25x``."""
    return f"{value:.0f}x" if value >= 100 else f"{value:.1f}x" if value >= 1 else f"{value:.2f}x"


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty one (for results read from JSON)."""
    return value if isinstance(value, dict) else {}
