"""Telegram objects in the codec: their stored names, classes never stored, faithful rebuilds."""

from __future__ import annotations

from typing import Any

import telegram
from telegram import Bot, TelegramObject

__all__ = ("PROBES", "PROBING_CLASSES", "lost_attributes", "telegram_class", "telegram_name")


_TELEGRAM_CLASSES: dict[str, type[TelegramObject]] = {}
#: PTB's classes whose constructor looks a string up on the file system
#: (``telegram._utils.files.parse_file_input``: ``Path(media).is_file()``). Decoding one from a
#: file would stat any path the file names, and the value would tell which exist: they are
#: neither stored nor loaded.
PROBING_CLASSES: tuple[type[TelegramObject], ...] = tuple(
    cls
    for name in (
        "InputMedia",
        "InputMediaSticker",
        "InputPaidMedia",
        "InputProfilePhoto",
        "InputSticker",
        "InputStoryContent",
    )
    if isinstance(cls := getattr(telegram, name, None), type)
)
PROBES = (
    "python-telegram-bot's constructor looks its files up on the file system, which loading "
    "must never do; store the file_id (a str) and build the object when you send it"
)
_TELEGRAM_NAMES: dict[type, str] = {}


def _telegram_name(cls: type) -> str:
    """The stable name of a TelegramObject subclass: its name in ``telegram``, else its path."""
    name: str = cls.__name__
    if getattr(telegram, name, None) is cls:
        return name
    return f"{cls.__module__}.{cls.__qualname__}"


def telegram_name(cls: type) -> str:
    """The name a Telegram object's class is stored under (see :func:`_telegram_name`)."""
    name = _TELEGRAM_NAMES.get(cls)
    if name is None:
        _refresh_telegram_classes()
        name = _TELEGRAM_NAMES[cls]
    return name


def telegram_class(name: str) -> type[TelegramObject] | None:
    """The Telegram object class stored under ``name``; :obj:`None` if none is loaded."""
    cls = _TELEGRAM_CLASSES.get(name)
    if cls is None:
        _refresh_telegram_classes()
        cls = _TELEGRAM_CLASSES.get(name)
    return cls


def _refresh_telegram_classes() -> None:
    """Indexes every TelegramObject subclass loaded so far. Nothing is imported."""
    todo: list[type[TelegramObject]] = [TelegramObject]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if not issubclass(cls, Bot) and cls not in _TELEGRAM_NAMES:
            name = _telegram_name(cls)
            _TELEGRAM_NAMES[cls] = name
            _TELEGRAM_CLASSES.setdefault(name, cls)


def lost_attributes(original: TelegramObject, rebuilt: Any) -> str:
    """Which attributes of a Telegram object differ once rebuilt; empty when none do."""
    if type(rebuilt) is not type(original):
        return f"class ({type(rebuilt).__qualname__} instead)"
    before = original._get_attrs(include_private=True, recursive=True, remove_bot=True)
    after = rebuilt._get_attrs(include_private=True, recursive=True, remove_bot=True)
    lost = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    return f"attribute{'s' if len(lost) > 1 else ''} {', '.join(lost)}" if lost else ""
