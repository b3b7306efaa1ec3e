"""A request class that answers the Bot API locally, so a real ``ExtBot`` never goes online.

Every call is recorded in :attr:`OfflineRequest.calls`; ``getMe``, ``sendMessage`` and
``getUpdates`` get realistic answers and every other method answers ``true``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

__all__ = ("BOT_ID", "BOT_TOKEN", "BOT_USER", "OfflineRequest")

BOT_ID = 123456
BOT_TOKEN = f"{BOT_ID}:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
BOT_USER: dict[str, Any] = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Offline Bot",
    "username": "offline_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


class OfflineRequest(BaseRequest):
    """Answers Bot API requests without a network and records them.

    Attributes:
        calls (list[tuple[str, dict]]): ``(method name, parameters)`` of each request, in order.
    """

    __slots__ = ("_next_message_id", "calls")

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._next_message_id = 1

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(  # noqa: PLR0917 - the signature is BaseRequest's
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        self.calls.append((endpoint, params))
        result = self._answer(endpoint, params)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def methods(self) -> list[str]:
        """The method names called so far, in order."""
        return [name for name, _ in self.calls]

    def _answer(self, endpoint: str, params: dict[str, Any]) -> Any:
        if endpoint == "getMe":
            return BOT_USER
        if endpoint == "getUpdates":
            return []
        if endpoint == "sendMessage":
            return self._sent_message(params)
        return True

    def _sent_message(self, params: dict[str, Any]) -> dict[str, Any]:
        message_id = self._next_message_id
        self._next_message_id += 1
        chat_id = params.get("chat_id", 0)
        if isinstance(chat_id, str) and not chat_id.lstrip("-").isdigit():
            chat = {"id": -1001, "type": "channel", "username": chat_id.lstrip("@")}
        else:
            chat_id = int(chat_id)
            chat = {"id": chat_id, "type": "private" if chat_id > 0 else "group"}
            if chat_id < 0:
                chat["title"] = "Offline group"
            else:
                chat["first_name"] = "Offline user"
        return {
            "message_id": message_id,
            "from": BOT_USER,
            "chat": chat,
            "date": int(time.time()),
            "text": params.get("text", ""),
        }
