"""The bot process that ``tests/postgres/test_pg_crash.py`` kills with SIGKILL.

``python tests/pg_crash_child.py URL START`` saves the state ``expected(N)`` of
``tests/crash_child.py`` (every category, payloads up to 300 KB) for N = START, START + 1, ...
through a :class:`~jsonpersist.PostgresPersistence`, each round one ``asyncio.gather`` as
``Application.update_persistence`` does it, and prints ``saved N`` once its updates returned.
"""

from __future__ import annotations

import asyncio
import sys

from crash_child import CONVERSATION, expected

from jsonpersist import PostgresPersistence


async def _run(url: str, start: int) -> None:
    persistence: PostgresPersistence[dict[int, object], dict[int, object], dict[object, object]]
    persistence = PostgresPersistence(url)
    await persistence.get_user_data()
    await persistence.get_chat_data()
    await persistence.get_bot_data()
    await persistence.get_callback_data()
    await persistence.get_conversations(CONVERSATION)
    counter = start
    while True:
        state = expected(counter)
        updates = [
            persistence.update_conversation(CONVERSATION, key, value)
            for key, value in state["conversations"].items()
        ]
        updates += [persistence.update_user_data(u, d) for u, d in state["user_data"].items()]
        updates += [persistence.update_chat_data(c, d) for c, d in state["chat_data"].items()]
        updates.append(persistence.update_bot_data(state["bot_data"]))
        updates.append(persistence.update_callback_data(state["callback_data"]))
        await asyncio.gather(*updates)
        print(f"saved {counter}", flush=True)
        counter += 1


if __name__ == "__main__":
    asyncio.run(_run(sys.argv[1], int(sys.argv[2])))
