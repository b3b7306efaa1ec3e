"""The owner lock names its live holder: a rival's StateLockedError carries the holder's PID.

The holder can only write its PID into the lock file once it has the lock, so a rival that
lost the race by microseconds finds the file empty, or holding the PID of a holder that crashed
before. The rival waits (at most a second) for a live PID; the holder empties the file before
it lets go. Tested with pairs of processes started at the same instant.

On a small machine two processes rarely call ``open()`` within the few microseconds between
the holder's ``flock`` and its PID write (3 of 50 pairs, in a trial of the code before the fix).
So the rivals are slowed down right there, as a holder the scheduler pauses at that moment
would be: each pair hits the window, and the test is not a matter of luck.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from doc_counts import stated

from jsonpersist import StateLockedError, _store
from jsonpersist._store import Store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes and flock")

LOCK = ".jsonpersist.lock"
#: Pairs of processes started together; in half of them the lock file first holds a dead PID.
PAIRS = 50
#: Pairs started at once (each pair on its own directory).
BATCH = 10
#: How long a holder pauses between taking the lock and writing its PID.
PAUSE = 0.2

RACE = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path

    from jsonpersist._store import Store
    from jsonpersist import StateLockedError

    directories, pause, batch = json.loads(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    truncate = os.ftruncate

    def paused(fd, length):  # the holder empties the lock file right before writing its PID
        time.sleep(pause)
        truncate(fd, length)

    def rival(directory, at, answers, release):
        os.ftruncate = paused
        store = Store(Path(directory))
        time.sleep(max(0.0, at - time.time()))  # both rivals of a pair wake at one instant
        try:
            store.open()
        except StateLockedError as exc:
            answer = {"lost": True, "pid": exc.pid, "message": str(exc)}
        else:
            answer = {"lost": False}
        os.write(answers, (json.dumps({"directory": directory, "self": os.getpid(),
                                       **answer}) + "\\n").encode())
        if not answer["lost"]:
            os.read(release, 1)  # the holder lives until every answer of the batch is in
            store.close()

    results = []
    for start in range(0, len(directories), batch):
        group = directories[start : start + batch]
        answers_in, answers_out = os.pipe()
        release_in, release_out = os.pipe()
        at, children = time.time() + 0.1, []
        for directory in group:
            for _ in range(2):  # processes forked from this one: no interpreter start-up
                child = os.fork()
                if child == 0:
                    try:
                        rival(directory, at, answers_out, release_in)
                    finally:
                        os._exit(0)
                children.append(child)
        os.close(answers_out)
        lines = b""
        with os.fdopen(answers_in, "rb") as stream:
            while lines.count(b"\\n") < len(children):
                lines += stream.read1(65536) or b""
        results.extend(json.loads(line) for line in lines.splitlines())
        os.write(release_out, b"x" * len(group))
        for child in children:
            os.waitpid(child, 0)
        os.close(release_in)
        os.close(release_out)
    print(json.dumps(results))
    """
)


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def test_a_rival_started_at_the_same_instant_names_the_live_holder(tmp_path: Path) -> None:
    stale = dead_pid()
    directories = []
    for index in range(PAIRS):
        directory = tmp_path / f"d{index}"
        directory.mkdir()
        (directory / ".gitignore").touch()  # so that the holder's start writes (fsyncs) nothing
        if index % 2:  # a holder that crashed left its PID behind
            (directory / LOCK).write_text(str(stale))
        directories.append(directory)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            RACE,
            json.dumps([str(d) for d in directories]),
            str(PAUSE),
            str(BATCH),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    answers: dict[str, list[dict[str, Any]]] = {}
    for answer in json.loads(done.stdout):
        answers.setdefault(answer["directory"], []).append(answer)
    unnamed, wrong = [], []
    for pair in answers.values():
        assert [answer["lost"] for answer in pair].count(True) == 1, "exclusion failed"
        (loser,) = (answer for answer in pair if answer["lost"])
        (winner,) = (answer["self"] for answer in pair if not answer["lost"])
        if loser["pid"] is None:
            unnamed.append(loser["message"])
        elif loser["pid"] != winner:
            wrong.append((loser["pid"], winner, stale))
    assert len(answers) == PAIRS
    assert unnamed == [], f"{len(unnamed)} of {PAIRS} losers named no holder"
    assert wrong == [], f"named another process than the holder: {wrong}"


def test_closing_empties_the_lock_file(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.open()
    assert (tmp_path / LOCK).read_text() == str(os.getpid())
    store.close()
    assert (tmp_path / LOCK).read_bytes() == b""


def test_a_dead_pid_left_in_the_lock_file_is_never_named(tmp_path: Path) -> None:
    """The lock held (by another instance here) but the file names a process long gone."""
    holder = Store(tmp_path)
    holder.open()
    (tmp_path / LOCK).write_text(str(dead_pid()))
    started = time.perf_counter()
    with pytest.raises(StateLockedError) as raised:
        Store(tmp_path).open()
    waited = time.perf_counter() - started
    assert raised.value.pid is None
    assert "another process" in str(raised.value)
    assert 0.5 < waited < 5, "waits a bounded time for the holder's PID"
    holder.close()


@pytest.mark.parametrize("text", ["", "0", "-1", "abc", "99999999999999999999", "\u0663"])
def test_garbage_in_the_lock_file_is_never_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setattr(_store, "HOLDER_WAIT", 0.1, raising=False)
    holder = Store(tmp_path)
    holder.open()
    (tmp_path / LOCK).write_text(text)
    with pytest.raises(StateLockedError) as raised:
        Store(tmp_path).open()
    assert raised.value.pid is None
    holder.close()


def test_the_holder_in_this_process_is_named_at_once(tmp_path: Path) -> None:
    holder = Store(tmp_path)
    holder.open()
    started = time.perf_counter()
    with pytest.raises(StateLockedError) as raised:
        Store(tmp_path).open()
    assert raised.value.pid == os.getpid()
    assert time.perf_counter() - started < 0.5
    holder.close()


def test_the_guarantees_page_counts_what_was_tried() -> None:
    assert stated("test_a_rival_started_at_the_same_instant_names_the_live_holder") == PAIRS
