"""The process that ``tests/test_crash.py`` kills with SIGKILL: it saves state in a loop.

Round ``N`` writes the state ``expected(N)``, a value of every category derived from ``N`` alone
(payloads from 1 KB to about 300 KB each), and prints ``saved N`` (flushed) once the update
coroutines of that round have returned. Modes:

``all``
    A real :class:`~jsonpersist.JsonPersistence` updates all five categories in one
    ``asyncio.gather``, the way ``Application.update_persistence`` does.
``pair``
    The same, but a round changes only a conversation state and the user data its handler
    wrote: two files whose counters must always agree.
``pair-split``
    A control: the same two changes saved as two rounds one after the other, which a kill can
    leave half done (a new conversation state beside old user data).
``naive``
    A control: the same payload written in place with ``open(path, "w")`` and ``json.dump``,
    which a kill can leave truncated.

Run as a script (``python tests/crash_child.py MODE DIRECTORY START``) it is an ordinary
subprocess. The test suite starts most children from ``python tests/crash_child.py --serve``
instead, a fork server that has imported PTB and jsonpersist once, so that each of hundreds of
children starts in milliseconds instead of ~0.3 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from jsonpersist import JsonPersistence

__all__ = ("CONVERSATION", "NAIVE_FILE", "expected", "naive_expected", "run", "serve")

CONVERSATION = "conv"
NAIVE_FILE = "state.json"
USERS = (1, 2, 3)
CHATS = (-100, -200)
MIN_PAYLOAD = 1024
MAX_PAYLOAD = 300 * 1024
_EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _blob(counter: int, label: str) -> str:
    """A string of 1 KB to 300 KB that names its round and owner all the way through."""
    size = random.Random(f"{counter}:{label}").randint(MIN_PAYLOAD, MAX_PAYLOAD)
    unit = f"{counter}:{label}|"
    return (unit * (size // len(unit) + 1))[:size]


def _entry(counter: int, label: str) -> dict[Any, Any]:
    """One user's, chat's or the bot's data in round ``counter``: tagged types included."""
    return {
        "n": counter,
        "blob": _blob(counter, label),
        "pair": (counter, label),
        "seen": {counter, counter + 1},
        7: "an int key",
        "at": _EPOCH + timedelta(seconds=counter),
    }


def expected(counter: int, mode: str = "all") -> dict[str, Any]:
    """The state every category holds after round ``counter`` (0: nothing saved yet).

    The values are what the persistence's ``get_*`` methods return, so a loaded state can be
    compared with ``==``.
    """
    if counter == 0:
        return {
            "user_data": {},
            "chat_data": {},
            "bot_data": {},
            "callback_data": None,
            "conversations": {},
        }
    if mode in ("pair", "pair-split"):
        return {
            "user_data": {USERS[0]: _entry(counter, "user")},
            "chat_data": {},
            "bot_data": {},
            "callback_data": None,
            "conversations": {(USERS[0], USERS[0]): counter},
        }
    keyboard = f"kb-{counter}"
    return {
        "user_data": {user: _entry(counter, f"user{user}") for user in USERS},
        "chat_data": {chat: _entry(counter, f"chat{chat}") for chat in CHATS},
        "bot_data": _entry(counter, "bot"),
        "callback_data": (
            [(keyboard, float(counter), {"button": ("pressed", counter, _blob(counter, "cb"))})],
            {f"query-{counter}": keyboard},
        ),
        "conversations": {(user, user): counter for user in USERS},
    }


def naive_expected(counter: int) -> dict[str, Any]:
    """What the naive writer's file holds after round ``counter``: plain JSON only."""
    return {
        "n": counter,
        "blob": _blob(counter, "naive"),
        "items": [{"i": index, "n": counter} for index in range(2000)],
    }


async def _run_persistence(directory: Path, mode: str, start: int) -> None:
    persistence = JsonPersistence(directory)
    # What Application.initialize does: load every category once.
    await persistence.get_user_data()
    await persistence.get_chat_data()
    await persistence.get_bot_data()
    await persistence.get_callback_data()
    await persistence.get_conversations(CONVERSATION)
    counter = start
    while True:
        state = expected(counter, mode)
        updates = [
            persistence.update_conversation(CONVERSATION, key, value)
            for key, value in state["conversations"].items()
        ]
        updates += [persistence.update_user_data(u, d) for u, d in state["user_data"].items()]
        if mode == "all":
            updates += [persistence.update_chat_data(c, d) for c, d in state["chat_data"].items()]
            updates.append(persistence.update_bot_data(state["bot_data"]))
            updates.append(persistence.update_callback_data(state["callback_data"]))
        if mode == "pair-split":
            for update in updates:
                await update
        else:
            await asyncio.gather(*updates)
        print(f"saved {counter}", flush=True)
        counter += 1


def _run_naive(directory: Path, start: int) -> None:
    path = directory / NAIVE_FILE
    counter = start
    while True:
        with open(path, "w", encoding="utf-8") as file:  # truncates first: the flaw on display
            json.dump(naive_expected(counter), file)
        print(f"saved {counter}", flush=True)
        counter += 1


def run(mode: str, directory: Path, start: int) -> None:
    """Saves rounds ``start``, ``start + 1``, ... until killed."""
    if mode == "naive":
        _run_naive(directory, start)
    else:
        asyncio.run(_run_persistence(directory, mode, start))


def _child(mode: str, directory: str, start: int, stdout_path: str) -> None:
    """Runs in a forked child: stdout goes to a file, opened for appending.

    Every line is written with one ``write`` call, so after a SIGKILL the file holds exactly
    the lines the child printed.
    """
    fd = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the server's command pipe is not the child's business
    os.close(null)
    sys.stdout = open(1, "w", encoding="ascii", buffering=1, closefd=False)  # noqa: SIM115
    run(mode, Path(directory), start)


def serve() -> None:
    """A fork server: starts children without importing PTB again for each of them.

    Commands on stdin, one a line, each answered on stdout: ``start MODE DIRECTORY START
    STDOUT_PATH`` forks a child and answers its PID; ``wait PID`` reaps it and answers its
    exit status (``-9`` after a SIGKILL).
    """
    for line in sys.stdin:
        command, *args = line.split()
        if command == "start":
            pid = os.fork()
            if pid == 0:
                try:
                    _child(args[0], args[1], int(args[2]), args[3])
                finally:
                    os._exit(1)
            answer = str(pid)
        else:
            _, status = os.waitpid(int(args[0]), 0)
            answer = str(-os.WTERMSIG(status) if os.WIFSIGNALED(status) else status >> 8)
        print(answer, flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        run(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))
