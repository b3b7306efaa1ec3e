"""Code that ``tests/test_store.py`` runs in child processes.

``python tests/_children.py hold DIRECTORY`` opens a :class:`~jsonpersist.JsonPersistence` on
``DIRECTORY``, loads and saves user 1 (``{"held by": <its pid>}``), prints ``ready <pid>``
(flushed) and keeps the directory until its stdin is closed; then it flushes and exits.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from jsonpersist import JsonPersistence


async def hold(directory: str) -> None:
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    await persistence.get_user_data()
    await persistence.update_user_data(1, {"held by": os.getpid()})
    print(f"ready {os.getpid()}", flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await persistence.flush()


if __name__ == "__main__":
    command, directory = sys.argv[1:3]
    if command != "hold":
        raise SystemExit(f"unknown command {command!r}")
    asyncio.run(hold(directory))
