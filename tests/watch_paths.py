"""Starting persistences in a child process that records every path it looks at.

Shared by ``tests/test_security.py`` (loading the hostile corpus looks at no file outside its
directory) and ``tests/test_local_attackers.py`` (nor does starting on a directory with planted
lock and journal files).

CPython 3.11 raises audit events for ``open``, ``os.listdir``, ``os.scandir`` and the calls
that change files, but none for ``os.stat``: pathlib's ``is_file()`` (what PTB's input-file
constructors call) and ``os.path`` reach it, so the child also wraps ``os.stat``, ``os.lstat``,
``os.access`` and ``os.readlink``. :func:`strace` watches the same start from outside, every
system call that names a path, C code included.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zoneinfo
from pathlib import Path
from typing import Any

__all__ = ("Outcome", "outside", "start_watched", "strace")

CHILD = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    from pathlib import Path
    from jsonpersist import Codec, CorruptStateError, JsonPersistence, JsonPersistError

    cases, root = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
    persistences = [(JsonPersistence(directory), category) for directory, category in cases]

    async def load(persistence, category):
        try:
            if category == "conversations":
                await persistence.get_conversations("c")
            else:
                await getattr(persistence, f"get_{category}")()
        finally:
            try:
                await persistence.flush()
            except JsonPersistError:
                pass

    # Warm up what a harmless load imports or starts (the loop's worker threads), and what
    # zoneinfo imports to look into the tzdata package, so that only the cases are watched.
    # Both format versions: a version-2 file as written, and a version-1 file.
    loop = asyncio.new_event_loop()
    for name, text in (
        ("warm", b'[{"jsonpersist":2,"category":"bot_data"}\\n,["a",{"$tuple":[1]}]\\n]\\n'),
        ("warm-v1", b'{"jsonpersist": 1, "category": "bot_data", "data": {"a": {"$tuple": [1]}}}'),
    ):
        warm = root / name
        warm.mkdir()
        (warm / "bot_data.json").write_bytes(text)
        loop.run_until_complete(load(JsonPersistence(warm), "bot_data"))
    for zone in ("Mars/Base", "America"):
        try:
            Codec().loads(b'{"$datetime": "2024-01-01T00:00:00+00:00[%s]"}' % zone.encode())
        except CorruptStateError:
            pass

    seen = []
    PATH_EVENTS = ("open", "os.listdir", "os.scandir", "os.mkdir", "os.rename", "os.remove",
                   "os.rmdir", "os.chmod", "os.chown", "os.link", "os.symlink", "os.truncate",
                   "os.utime", "shutil.", "glob.")
    def hook(event, args):
        if event.startswith(PATH_EVENTS) and args and isinstance(args[0], (str, bytes, Path)):
            seen.append([event, os.fsdecode(args[0])])
    def watching(name):
        real = getattr(os, name)
        def call(path, *args, **kwargs):
            if not isinstance(path, int):
                seen.append([f"os.{name}", os.fsdecode(path)])
            return real(path, *args, **kwargs)
        setattr(os, name, call)
    for name in ("stat", "lstat", "access", "readlink"):
        watching(name)
    sys.addaudithook(hook)

    outcomes = []
    marker = "/jsonpersist-watch-"
    os.path.exists(marker + "start")  # for strace
    for persistence, category in persistences:
        started = time.perf_counter()
        try:
            loop.run_until_complete(load(persistence, category))
            outcome = ["loaded", True, None, ""]
        except Exception as exc:
            file = getattr(exc, "file", None)
            outcome = [type(exc).__name__, isinstance(exc, JsonPersistError),
                       None if file is None else str(file), str(exc)]
        outcomes.append(outcome + [time.perf_counter() - started])
    os.path.exists(marker + "end")
    print(json.dumps({"seen": seen, "outcomes": outcomes}))
    """
)


class Outcome:
    """How one start went in the child: the exception (or ``"loaded"``), and how long."""

    __slots__ = ("error", "file", "message", "seconds", "typed")

    def __init__(self, row: list[Any]) -> None:
        self.error: str = row[0]
        self.typed: bool = row[1]
        self.file: str | None = row[2]
        self.message: str = row[3]
        self.seconds: float = row[4]

    def __repr__(self) -> str:
        return f"{self.error}({self.message!r}, file={self.file}, {self.seconds:.3f} s)"


def _arguments(cases: list[tuple[Path, str]], root: Path, scratch: Path) -> list[str]:
    listing = scratch / "cases.json"
    listing.write_text(json.dumps([[str(directory), category] for directory, category in cases]))
    return [sys.executable, "-c", CHILD, str(listing), str(root)]


def start_watched(
    cases: list[tuple[Path, str]], root: Path, scratch: Path, timeout: float = 300
) -> tuple[list[str], list[Outcome]]:
    """Starts a persistence on each directory (loading the category named) in a child.

    ``root`` is a directory holding them all, where the child also warms up. Returns every
    path the child looked at while the cases ran, and each case's outcome.
    """
    done = subprocess.run(
        _arguments(cases, root, scratch),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    result = json.loads(done.stdout)
    return [path for _, path in result["seen"]], [Outcome(row) for row in result["outcomes"]]


_STRACE_PATH = re.compile(r'"((?:[^"\\]|\\.)*)"')


def strace(
    cases: list[tuple[Path, str]], root: Path, scratch: Path, timeout: float = 600
) -> list[str] | None:
    """The paths the system calls of the same starts name, under ``strace``.

    Returns:
        The paths (absolute or relative, as the calls gave them), or :obj:`None` when strace
        is not installed or may not trace here.
    """
    if shutil.which("strace") is None:
        return None
    trace = scratch / "trace"
    done = subprocess.run(
        [
            *("strace", "-f", "-qq", "-s", "4096", "-e", "trace=%file", "-o", str(trace)),
            *_arguments(cases, root, scratch),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0 and "ptrace" in done.stderr:
        return None
    assert done.returncode == 0, done.stderr[-2000:]
    lines = trace.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "/jsonpersist-watch-start" in line)
    end = next(i for i, line in enumerate(lines) if "/jsonpersist-watch-end" in line)
    return [
        match.group(1)
        for line in lines[start:end]
        for match in _STRACE_PATH.finditer(line)
        if match.group(1)  # "" with AT_EMPTY_PATH: the descriptor itself
    ]


def _allowed() -> tuple[str, ...]:
    """Time-zone data: a ``$datetime``'s zone is the one name from a file that is looked up."""
    spec = importlib.util.find_spec("tzdata")
    tzdata = () if spec is None or spec.origin is None else (str(Path(spec.origin).parent),)
    return (*zoneinfo.TZPATH, *tzdata, "/jsonpersist-watch-")


def outside(paths: list[str], root: Path) -> list[str]:
    """The paths that are outside ``root``: not in it, not a directory on its path.

    The directories on its path are looked at by the lock library (which resolves the lock
    file's path) and by the directory check at construction; time-zone data is allowed.
    """
    ancestors = {str(parent) for parent in root.parents}
    # A lazy import during a load (the time-zone data, say) makes the import system look at
    # each directory on sys.path: the interpreter's own paths, never one a state file named.
    importable = {os.path.abspath(entry or os.curdir) for entry in sys.path}
    inside = str(root)
    return sorted(
        {
            path
            for path in paths
            if not (path == inside or path.startswith(inside + os.sep))
            and path not in ancestors
            and path not in importable
            and not path.startswith(_allowed())
        }
    )
