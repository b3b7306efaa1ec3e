"""The bot's state as Python values, read from and written to a PicklePersistence pickle.

The ``jsonpersist`` command line converts between a state directory (``_directory``) and a
pickle through PTB's own :class:`~telegram.ext.PicklePersistence`, with an offline stand-in for
the user's bot (so ``"bot": "current"`` references and PTB's bot placeholder resolve and nothing
goes online). Values the codec cannot store are found, with their key paths, before anything is
written. Nothing here prints or knows exit codes; that is the command line's part.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.ext import ContextTypes, ExtBot, PicklePersistence
from telegram.request import BaseRequest, RequestData

from jsonpersist._categories import CATEGORIES, USER_DATA
from jsonpersist._codec import Codec, TypeRegistry
from jsonpersist._directory import State
from jsonpersist._entries import EntryCodec
from jsonpersist._errors import PickleLoadError, PicklePathError, UnsupportedTypeError

__all__ = ("Options", "clean_state", "offline_bot", "read_pickle", "write_pickle")


class _NoNetwork(BaseRequest):
    """Refuses every Bot API call: the command line's bot only stands in for the user's bot."""

    __slots__ = ()

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(  # noqa: PLR0917 - BaseRequest's signature
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        raise RuntimeError("the jsonpersist command line never contacts Telegram")


def offline_bot() -> ExtBot[None]:
    """A bot that stands in for the user's bot and refuses to contact Telegram.

    Returns:
        :class:`telegram.ext.ExtBot`: The bot, with a dummy token.
    """
    request = _NoNetwork()
    return ExtBot("0:offline", request=request, get_updates_request=request)


@dataclass(slots=True)
class Options:
    """What every command that decodes state needs to know about the user's application."""

    types: TypeRegistry | None = None
    context_types: ContextTypes[Any, Any, Any, Any] | None = None
    bot: ExtBot[None] = field(default_factory=offline_bot)

    def entries(self) -> EntryCodec:
        """The codec of entries with these types, context types and the offline bot.

        Returns:
            :class:`EntryCodec`: Reads and writes state directories as the bot does.
        """
        codec = Codec(bot=self.bot, types=self.types)
        return EntryCodec(codec, self.context_types or ContextTypes())


# ---------------------------------------------------------------------------------- pickle


def _pickle_files(path: Path) -> tuple[bool, list[Path]]:
    """Tells PicklePersistence's single-file form from the multi-file one.

    Returns:
        Whether it is the single file, and the files that exist.
    """
    parts = [Path(f"{path}_{name}") for name in CATEGORIES]
    multi = [part for part in parts if part.is_file()]
    if path.is_file():
        if multi:
            raise PicklePathError(
                f"both {path} (single-file form) and {multi[0]} (multi-file form) exist; "
                "move the one you do not mean out of the way",
                path,
            )
        return True, [path]
    if not multi:
        raise PicklePathError(
            f"found neither {path} nor {path}_user_data, _chat_data, _bot_data, "
            "_callback_data or _conversations; pass the filepath given to PicklePersistence",
            path,
        )
    return False, multi


def _unpickling_failure(path: Path, exc: TypeError) -> PickleLoadError:
    cause = exc.__cause__
    hint = ""
    if isinstance(cause, ModuleNotFoundError):
        hint = (
            f"; the pickle refers to the module {cause.name!r}: run this command from the "
            "bot's directory or put that module on PYTHONPATH"
        )
    elif isinstance(cause, AttributeError) and "__main__" in str(cause):
        hint = (
            "; the pickle refers to a class defined in the bot's main script, which only "
            "exists while that script runs: move the class into a module, import it from "
            "there in the script, and load and save the pickle once with the bot"
        )
    elif isinstance(cause, KeyError):
        hint = f"; it has no {cause} entry, so it is not a PicklePersistence file"
    detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
    return PickleLoadError(f"cannot load {path}: {exc}{detail}{hint}", path)


def read_pickle(path: Path, options: Options) -> State:
    """Loads a PicklePersistence state with PTB's own loader; its bot becomes ours.

    Unpickling runs code: only load pickles the user's own bot wrote. Ended conversations
    (``None``) are left out, as jsonpersist removes them.

    Args:
        path (:class:`pathlib.Path`): The filepath given to PicklePersistence: the single
            file, or the prefix of ``PATH_user_data``, ``PATH_chat_data``, ...
        options (:class:`Options`): The application's context types and the offline bot.

    Returns:
        :class:`State`: The state as PicklePersistence loads it.

    Raises:
        PicklePathError: ``path`` names neither form of a PicklePersistence state, or both.
        PickleLoadError: A file does not unpickle into a PicklePersistence state.
        OSError: A file cannot be opened.
    """
    persistence = _loaded_pickle(path, options)
    _check_shapes(path, persistence)
    conversations = {
        name: {key: value for key, value in states.items() if value is not None}
        for name, states in (persistence.conversations or {}).items()
    }  # PicklePersistence keeps an ended conversation as None; jsonpersist removes it
    return State(
        user_data=persistence.user_data or {},
        chat_data=persistence.chat_data or {},
        bot_data=persistence.bot_data or {},
        callback_data=persistence.callback_data or None,
        conversations={name: states for name, states in conversations.items() if states},
    )


def _check_shapes(path: Path, persistence: PicklePersistence[Any, Any, Any]) -> None:
    """Refuses a pickle whose categories are not of the shapes PicklePersistence writes."""
    shapes: list[tuple[str, Any, bool]] = [
        ("user_data", persistence.user_data, isinstance(persistence.user_data, dict)),
        ("chat_data", persistence.chat_data, isinstance(persistence.chat_data, dict)),
        ("conversations", persistence.conversations, _conversations_shape(persistence)),
        ("callback_data", persistence.callback_data, _callback_shape(persistence.callback_data)),
    ]
    for name, value, right in shapes:
        if value is not None and not right:
            raise PickleLoadError(
                f"cannot load {path}: its {name} is a {type(value).__name__}, not what "
                "PicklePersistence stores; it is not a PicklePersistence file",
                path,
            )


def _conversations_shape(persistence: PicklePersistence[Any, Any, Any]) -> bool:
    conversations = persistence.conversations
    return isinstance(conversations, dict) and all(
        isinstance(states, dict) for states in conversations.values()
    )


def _callback_shape(data: Any) -> bool:
    """``([(keyboard_id, time, {button: data}), ...], {query: keyboard_id})``, or empty."""
    if isinstance(data, dict) and not data:  # PicklePersistence's default for a missing one
        return True
    if not isinstance(data, (tuple, list)) or len(data) != 2:  # noqa: PLR2004
        return False
    keyboards, queries = data
    triples = all(isinstance(kb, (tuple, list)) and len(kb) == 3 for kb in keyboards)  # noqa: PLR2004
    return isinstance(keyboards, list) and triples and isinstance(queries, dict)


def _loaded_pickle(path: Path, options: Options) -> PicklePersistence[Any, Any, Any]:
    """A PicklePersistence that has loaded every category of the pickle at ``path``."""
    single, files = _pickle_files(path)
    for part in files:
        # PicklePersistence reads any OSError as "no file" and would import an empty state.
        with part.open("rb"):
            pass
    persistence: PicklePersistence[Any, Any, Any] = PicklePersistence(
        path, single_file=single, on_flush=True, context_types=options.context_types
    )
    persistence.set_bot(options.bot)

    async def load() -> None:
        # The attributes, not the deep copies the getters return; in the single-file form the
        # first getter loads every category.
        try:
            await persistence.get_conversations("")
        except AttributeError:
            # A category PTB wrote without loading it first is pickled as None: the getter
            # fails on it after loading every category.
            if not single or persistence.conversations is not None:
                raise
        if not single:
            await persistence.get_user_data()
            await persistence.get_chat_data()
            await persistence.get_bot_data()
            await persistence.get_callback_data()

    try:
        asyncio.run(load())
    except TypeError as exc:
        raise _unpickling_failure(path, exc) from exc
    return persistence


async def _write_pickle(path: Path, state: State, options: Options) -> None:
    persistence: PicklePersistence[Any, Any, Any] = PicklePersistence(
        path, single_file=True, on_flush=True, context_types=options.context_types
    )
    persistence.set_bot(options.bot)  # so references to it pickle as PTB's bot placeholder
    await persistence.get_user_data()  # as Application.initialize does: sets up every category
    for user, data in state.user_data.items():
        await persistence.update_user_data(user, data)
    for chat, data in state.chat_data.items():
        await persistence.update_chat_data(chat, data)
    await persistence.update_bot_data(state.bot_data)
    if state.callback_data is not None:
        await persistence.update_callback_data(state.callback_data)
    for name, states in state.conversations.items():
        for key, value in states.items():
            await persistence.update_conversation(name, key, value)
    await persistence.flush()
    if not path.exists():  # PicklePersistence.flush() writes nothing for an empty state
        empty: dict[str, Any] = {name: {} for name in CATEGORIES if name != "callback_data"}
        path.write_bytes(pickle.dumps({**empty, "callback_data": None}))


def write_pickle(target: Path, state: State, options: Options) -> None:
    """Writes a single-file PicklePersistence state with PTB's own PicklePersistence.

    The pickle is written to a temporary file next to ``target``, fsynced and renamed over
    it, so ``target`` is the old file or the whole new one. References to the offline bot
    become PTB's bot placeholder.

    Args:
        target (:class:`pathlib.Path`): The pickle file; replaced if it exists.
        state (:class:`State`): The state to write.
        options (:class:`Options`): The application's context types and the offline bot.

    Raises:
        OSError: Writing failed; ``target`` is as it was.
    """
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        written = scratch / target.name
        asyncio.run(_write_pickle(written, state, options))
        with written.open("r+b") as file:
            os.fsync(file.fileno())
        os.replace(written, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch / target.name)
        scratch.rmdir()


# ------------------------------------------------------------------- unsupported values

_SKIP = object()


class _Cleaner:
    """Finds every value the codec cannot store, with its key path, and leaves it out."""

    __slots__ = ("codec", "done", "problems", "progress", "total")

    def __init__(
        self, codec: Codec, total: int, progress: Callable[[int, int], object] | None
    ) -> None:
        self.codec = codec
        self.problems: list[str] = []
        self.done, self.total, self.progress = 0, total, progress

    def tick(self) -> None:
        """Counts one entry checked, for the progress report."""
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def clean(self, value: Any, where: str) -> Any:
        """Returns the value without what cannot be stored, or ``_SKIP`` for none of it."""
        try:
            self.codec.encode(value, where)
        except UnsupportedTypeError as exc:
            found = len(self.problems)
            kind = type(value)
            cleaned: Any = _SKIP
            if kind is dict:
                cleaned = self._clean_dict(value, where)
            elif kind in (list, tuple, set, frozenset):
                items = [self.clean(item, f"{where}[{i!r}]") for i, item in enumerate(value)]
                cleaned = kind(item for item in items if item is not _SKIP)
            if len(self.problems) == found:  # the value as a whole, e.g. nested too deeply
                self.problems.append(str(exc))
                return _SKIP
            return cleaned
        return value

    def key_ok(self, key: Any, path: str) -> bool:
        """Whether a dict key can be stored; a key is left out whole, never shortened."""
        try:
            self.codec.encode(key, f"{path} (the key)")
        except UnsupportedTypeError as exc:
            self.problems.append(str(exc))
            return False
        return True

    def _clean_dict(self, value: dict[Any, Any], where: str) -> dict[Any, Any]:
        out = {}
        for key, item in value.items():
            path = f"{where}[{_shown(key)}]"
            if self.key_ok(key, path):
                cleaned = self.clean(item, path)
                if cleaned is not _SKIP:
                    out[key] = cleaned
        return out


def _shown(value: Any) -> str:
    """A key's repr for a message, even of an int beyond Python's digit limit."""
    try:
        text = repr(value)
    except ValueError:
        return f"<an int of {value.bit_length():,} bits>"
    return text if len(text) <= 80 else f"{text[:77]}..."  # noqa: PLR2004


def _storable(value: Any, cls: type) -> Any:
    """A ``context_types`` dict subclass is stored as the plain dict the persistence writes."""
    if type(value) is cls and cls is not dict and isinstance(value, dict):
        return dict(value)
    return value


def clean_state(
    state: State, options: Options, progress: Callable[[int, int], object] | None = None
) -> tuple[State, list[str]]:
    """Checks every entry against the codec and leaves out what it cannot store.

    Args:
        state (:class:`State`): The state, e.g. from :func:`read_pickle`.
        options (:class:`Options`): The application's types and the offline bot.
        progress (Callable, optional): Called after each entry with the number of entries
            checked and their total.

    Returns:
        tuple[:class:`State`, list[:obj:`str`]]: What can be stored, and one message per
        value left out, naming its key path.
    """
    context = options.context_types or ContextTypes()
    keyboards: list[Any] = (state.callback_data or ([], {}))[0]
    conversations = sum(len(states) for states in state.conversations.values())
    total = len(state.user_data) + len(state.chat_data) + 1 + len(keyboards) + conversations
    cleaner = _Cleaner(Codec(bot=options.bot, types=options.types), total, progress)
    out = State()
    for name in ("user_data", "chat_data"):
        setattr(out, name, _clean_ids(cleaner, getattr(state, name), name, context))
    out.bot_data = cleaner.clean(_storable(state.bot_data, context.bot_data), "bot_data")
    if out.bot_data is _SKIP:
        out.bot_data = {}
    cleaner.tick()
    if state.callback_data is not None:
        out.callback_data = _clean_callback_data(cleaner, state.callback_data)
    out.conversations = _clean_conversations(cleaner, state.conversations)
    return out, cleaner.problems


def _clean_ids(
    cleaner: _Cleaner,
    entries: dict[int, Any],
    name: str,
    context: ContextTypes[Any, Any, Any, Any],
) -> dict[int, Any]:
    cls, out = getattr(context, name), {}
    category = CATEGORIES[name]
    for key, value in entries.items():
        if type(key) is not int or not USER_DATA.min_id <= key <= USER_DATA.max_id:
            cleaner.problems.append(
                f"{name}[{_shown(key)}]: not a Telegram id (an int from -2**63 to 2**63 - 1); "
                f"{category.file} holds only those"
            )
            cleaner.tick()
            continue
        cleaned = cleaner.clean(_storable(value, cls), f"{name}[{key!r}]")
        if cleaned is not _SKIP:
            out[key] = cleaned
        cleaner.tick()
    return out


def _clean_callback_data(cleaner: _Cleaner, data: Any) -> Any:
    keyboards, queries = data
    kept = []
    for keyboard, created, buttons in keyboards:
        cleaned = cleaner.clean(buttons, f"callback_data[{keyboard!r}]")
        kept.append((keyboard, created, {} if cleaned is _SKIP else cleaned))
        cleaner.tick()
    cleaned_queries = cleaner.clean(queries, "callback_data['queries']")
    return kept, {} if cleaned_queries is _SKIP else cleaned_queries


def _clean_conversations(
    cleaner: _Cleaner, conversations: dict[str, dict[Any, Any]]
) -> dict[str, dict[Any, Any]]:
    out: dict[str, dict[Any, Any]] = {}
    for name, states in conversations.items():
        if type(name) is not str:
            cleaner.problems.append(
                f"conversations[{_shown(name)}]: a ConversationHandler's name is a str"
            )
            continue
        for key, value in states.items():
            path = f"conversations[{name!r}][{_shown(key)}]"
            if cleaner.key_ok(key, path):
                cleaned = cleaner.clean(value, path)
                if cleaned is not _SKIP:
                    out.setdefault(name, {})[key] = cleaned
            cleaner.tick()
    return out
