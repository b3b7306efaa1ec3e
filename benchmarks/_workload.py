"""The synthetic bot state the benchmarks share: N users with a cart, settings and history.

Every user is a pure function of its id, so a process can rebuild any user to check what it
loaded without keeping a second copy of the whole state.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ("BOT_DATA", "make_state", "make_user", "mutate_user", "pick_users", "user_ids")

_LANGUAGES = ("en", "de", "es", "fr", "it", "pt", "ru", "uk", "tr", "id")
_THEMES = ("light", "dark", "system")
_COMMANDS = ("/start", "/help", "/cart", "/buy", "/settings", "/lang", "/history", "/cancel")
_FIRST_ID = 100_000_000

#: The bot data every round sends along (PTB always calls ``update_bot_data``); unchanged.
BOT_DATA: dict[str, Any] = {
    "version": 3,
    "maintenance": False,
    "admins": [_FIRST_ID, _FIRST_ID + 1],
    "prices": {"A": 1.5, "B": 2.25, "C": 9.99},
}


def user_ids(n: int) -> list[int]:
    """The ids of the first ``n`` users (realistic 9-digit Telegram ids)."""
    return [_FIRST_ID + 7 * index for index in range(n)]


def make_user(user_id: int) -> dict[str, Any]:
    """One user's data: name, language, score, a 5-item cart, settings and a 5-item history."""
    rng = random.Random(user_id)
    return {
        "name": f"user{user_id % 1_000_000}",
        "language": rng.choice(_LANGUAGES),
        "score": rng.randrange(10_000),
        "cart": [{"sku": rng.randrange(10_000), "qty": rng.randrange(1, 5)} for _ in range(5)],
        "settings": {"notify": rng.random() < 0.5, "theme": rng.choice(_THEMES)},
        "history": [rng.choice(_COMMANDS) for _ in range(5)],
    }


def make_state(n: int) -> dict[int, dict[str, Any]]:
    """The user data of ``n`` users, as ``Application.user_data`` holds it."""
    return {user_id: make_user(user_id) for user_id in user_ids(n)}


def mutate_user(user: dict[str, Any], step: int) -> None:
    """Changes a user in place the way a handler would (score, cart, history); keeps sizes."""
    user["score"] += 1
    user["cart"][step % 5]["qty"] += 1
    user["history"] = [*user["history"][1:], _COMMANDS[step % len(_COMMANDS)]]


def pick_users(ids: list[int], k: int, step: int) -> list[int]:
    """``k`` distinct users for round ``step``, deterministic and different from round to round."""
    if k >= len(ids):
        return list(ids)
    return random.Random(step).sample(ids, k)
