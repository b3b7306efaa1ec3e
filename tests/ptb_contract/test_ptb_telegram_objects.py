"""A ``TelegramObject`` subclass of the application's own, stored in user data.

PicklePersistence keeps any such object whole. The rule here: whatever ``update_*`` accepted
loads again. Either the object comes back faithfully (same class, public and private
attributes, ``api_kwargs``, the current bot), or the save is refused with
``UnsupportedTypeError`` for that user only: the other users' data of the same round is saved,
the refused user keeps the last version that was saved, and the next start works. Each test
runs on the files and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from contract_app import Harness, remembering
from contract_backends import Backend
from telegram import TelegramObject

from jsonpersist import UnsupportedTypeError


class Note(TelegramObject):
    """A public field, and ``api_kwargs`` handled as PTB's own classes handle them."""

    def __init__(self, text: str, *, api_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__(api_kwargs=api_kwargs)
        self.text = text
        self._freeze()


class BareNote(TelegramObject):
    """An ``__init__`` that does not take ``api_kwargs``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self._freeze()


class SecretNote(TelegramObject):
    """A private attribute, which ``to_dict()`` leaves out."""

    def __init__(
        self, text: str, secret: str | None = None, *, api_kwargs: dict[str, Any] | None = None
    ) -> None:
        super().__init__(api_kwargs=api_kwargs)
        self.text = text
        self._secret = secret
        self._freeze()


class SlottedNote(TelegramObject):
    """Slots, as PTB's own classes have, and a nested Telegram object."""

    __slots__ = ("inner", "text")

    def __init__(
        self, text: str, inner: Note | None = None, *, api_kwargs: dict[str, Any] | None = None
    ) -> None:
        super().__init__(api_kwargs=api_kwargs)
        self.text = text
        self.inner = inner
        self._freeze()


def attributes(obj: TelegramObject) -> dict[str, Any]:
    """Every attribute, private ones and ``api_kwargs`` included, the bot left out."""
    found = obj._get_attrs(include_private=True, recursive=True, remove_bot=True)
    found["api_kwargs"] = dict(obj.api_kwargs)
    return found


NOTES: dict[str, Callable[[], TelegramObject]] = {
    "public field": lambda: Note("buy milk"),
    "api_kwargs": lambda: Note("buy milk", api_kwargs={"colour": "red", "size": 3}),
    "no api_kwargs in __init__": lambda: BareNote("buy milk"),
    "private attribute": lambda: SecretNote("buy milk", "s3cret"),
    "private attribute unset": lambda: SecretNote("buy milk"),
    "slots and nesting": lambda: SlottedNote("outer", Note("inner", api_kwargs={"k": 1})),
}


@pytest.mark.parametrize("make", NOTES.values(), ids=NOTES.keys())
async def test_whatever_was_accepted_loads_again(
    backend: Backend, make: Callable[[], TelegramObject]
) -> None:
    first = Harness(backend.make(), [remembering()])
    async with first.app:
        await first.say("hello", user=1, chat=-1)
        await first.app.update_persistence()  # user 1's last good version

        await first.say("hello", user=2, chat=-2)
        note = make()
        note.set_bot(first.app.bot)
        first.app.user_data[1]["note"] = note
        first.app.mark_data_for_update_persistence(user_ids=1)
        await first.app.update_persistence()
        accepted = not first.errors
        if not accepted:
            (error,) = first.errors
            assert isinstance(error, UnsupportedTypeError)
            assert error.where.startswith("user_data[1]"), error.where
            del first.app.user_data[1]["note"]  # so that shutdown's save does not retry it

    second = Harness(backend.make(), [])
    async with second.app:  # the next start works
        assert second.app.user_data[2] == {"said": ["hello"]}
        assert second.app.chat_data[-2] == {"last": "hello"}
        if accepted:
            restored = second.app.user_data[1]["note"]
            assert type(restored) is type(note)
            assert attributes(restored) == attributes(note)
            assert restored.to_dict() == note.to_dict()
            assert restored.get_bot() is second.app.bot
        else:
            assert second.app.user_data[1] == {"said": ["hello"]}
    assert second.errors == []


async def test_a_note_with_api_kwargs_comes_back_whole(backend: Backend) -> None:
    # The rule allows a refusal; this class gives no reason for one.
    note = Note("buy milk", api_kwargs={"colour": "red"})
    saving = backend.make()
    await saving.get_user_data()
    await saving.update_user_data(1, {"note": note, "notes": (note, Note("x"))})
    await saving.flush()
    loaded = (await backend.stored())["user_data"][1]
    assert type(loaded["note"]) is Note
    assert loaded["note"].text == "buy milk"
    assert loaded["note"].api_kwargs == {"colour": "red"}
    assert [attributes(item) for item in loaded["notes"]] == [
        attributes(note),
        attributes(Note("x")),
    ]
