"""The bot's state as Python values, read from and written to a state directory or a pickle.

The ``jsonpersist`` command line converts between the two formats through their own classes:
a state directory through :class:`~jsonpersist.JsonPersistence`, a pickle through PTB's
:class:`~telegram.ext.PicklePersistence`, both with an offline stand-in for the user's bot
(so ``"bot": "current"`` references and PTB's bot placeholder resolve and nothing goes
online). Values the codec cannot store are found, with their key paths, before anything is
written. Nothing here prints or knows exit codes; that is the command line's part.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import tempfile
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.ext import ContextTypes, ExtBot, PicklePersistence
from telegram.request import BaseRequest, RequestData

from jsonpersist._codec import Codec, TypeRegistry
from jsonpersist._errors import CorruptStateError, UnsupportedTypeError
from jsonpersist._persistence import JsonPersistence
from jsonpersist._store import Store

__all__ = (
    "CATEGORIES",
    "Options",
    "PickleLoadError",
    "PicklePathError",
    "State",
    "clean_state",
    "offline_bot",
    "read_json_state",
    "read_pickle",
    "write_json_state",
    "write_pickle",
)

CATEGORIES = ("user_data", "chat_data", "bot_data", "callback_data", "conversations")


class PicklePathError(Exception):
    """The path names no PicklePersistence state, or both its single- and multi-file forms.

    Args:
        message (:obj:`str`): What was found and what to pass instead.
        path (:class:`pathlib.Path`): The path given for the pickle.

    Attributes:
        path (:class:`pathlib.Path`): The path given for the pickle.
    """

    __slots__ = ("path",)

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


class PickleLoadError(Exception):
    """PicklePersistence cannot load the pickle.

    The file is damaged, is not PicklePersistence's, or refers to a module or class that
    cannot be imported here.

    Args:
        message (:obj:`str`): What went wrong and what to do about it.
        path (:class:`pathlib.Path`): The pickle file.

    Attributes:
        path (:class:`pathlib.Path`): The pickle file.
    """

    __slots__ = ("path",)

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


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

    def persistence(self, directory: Path, **kwargs: Any) -> JsonPersistence[Any, Any, Any]:
        """A persistence for the directory with these types and the offline bot.

        Args:
            directory (:class:`pathlib.Path`): The state directory.
            **kwargs: More arguments of :class:`~jsonpersist.JsonPersistence`.

        Returns:
            :class:`~jsonpersist.JsonPersistence`: The persistence, not loaded yet.
        """
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(
            directory, types=self.types, context_types=self.context_types, **kwargs
        )
        persistence.set_bot(self.bot)
        return persistence


@dataclass(slots=True)
class State:
    """The five categories, decoded."""

    user_data: dict[int, Any] = field(default_factory=dict)
    chat_data: dict[int, Any] = field(default_factory=dict)
    bot_data: Any = field(default_factory=dict)
    callback_data: Any = None
    conversations: dict[str, dict[Any, Any]] = field(default_factory=dict)


# ------------------------------------------------------------------------- state directory


async def _read_category(
    persistence: JsonPersistence[Any, Any, Any], state: State, name: str
) -> None:
    if name == "user_data":
        state.user_data = await persistence.get_user_data()
    elif name == "chat_data":
        state.chat_data = await persistence.get_chat_data()
    elif name == "bot_data":
        state.bot_data = await persistence.get_bot_data()
    elif name == "callback_data":
        state.callback_data = await persistence.get_callback_data()
    else:
        await persistence.get_conversations("")  # decodes the whole file, every handler
        state.conversations = {
            handler: dict(states) for handler, states in (persistence.conversations or {}).items()
        }


def read_json_state(
    directory: Path,
    options: Options,
    names: Sequence[str] = CATEGORIES,
    *,
    one_save: bool = False,
) -> tuple[State, dict[str, CorruptStateError]]:
    """Decodes the categories of a state directory without taking it from a running bot.

    Args:
        directory (:class:`pathlib.Path`): The state directory.
        options (:class:`Options`): The application's types and the offline bot.
        names (Sequence[:obj:`str`], optional): The categories to read. Default: all.
        one_save (:obj:`bool`, optional): Read under the directory's round lock, so that the
            categories of a running bot are read as of one save. Default: :obj:`False`.

    Returns:
        tuple[:class:`State`, dict[:obj:`str`, :class:`~jsonpersist.CorruptStateError`]]:
        The decoded state and the error of each category that does not decode.
    """
    state, problems = State(), {}

    async def read_all(persistence: JsonPersistence[Any, Any, Any]) -> None:
        for name in names:
            try:
                await _read_category(persistence, state, name)
            except CorruptStateError as exc:
                problems[name] = exc

    with Store(directory).round_lock() if one_save else contextlib.nullcontext():
        asyncio.run(read_all(options.persistence(directory, read_only=True)))
    return state, problems


async def _write_json_state(
    persistence: JsonPersistence[Any, Any, Any], state: State
) -> list[BaseException]:
    try:
        old_users = await persistence.get_user_data()
        old_chats = await persistence.get_chat_data()
        await persistence.get_bot_data()
        old_callback = await persistence.get_callback_data()
        await persistence.get_conversations("")
    except BaseException:
        await persistence.flush()  # nothing is staged yet: this only releases the directory
        raise
    old_conversations = persistence.conversations or {}

    updates: list[Coroutine[Any, Any, None]] = []
    for user, data in state.user_data.items():
        updates.append(persistence.update_user_data(user, data))
    updates.extend(persistence.drop_user_data(u) for u in old_users if u not in state.user_data)
    for chat, data in state.chat_data.items():
        updates.append(persistence.update_chat_data(chat, data))
    updates.extend(persistence.drop_chat_data(c) for c in old_chats if c not in state.chat_data)
    updates.append(persistence.update_bot_data(state.bot_data))
    if state.callback_data is not None:
        updates.append(persistence.update_callback_data(state.callback_data))
    elif old_callback is not None:
        updates.append(persistence.update_callback_data(([], {})))
    for name, states in old_conversations.items():
        for key in states.keys() - state.conversations.get(name, {}).keys():
            updates.append(persistence.update_conversation(name, key, None))
    for name, states in state.conversations.items():
        for key, value in states.items():
            updates.append(persistence.update_conversation(name, key, value))
    # One gather is one round, as when PTB saves: with on_flush every update is only encoded
    # here, and flush() writes all files together.
    results = await asyncio.gather(*updates, return_exceptions=True)
    errors = [result for result in results if isinstance(result, BaseException)]
    if errors:
        persistence._store.close()  # without flushing: nothing staged reaches the disk
    else:
        await persistence.flush()
    return errors


def write_json_state(directory: Path, state: State, options: Options) -> list[BaseException]:
    """Makes a state directory hold exactly ``state``, in one atomic save at the end.

    Args:
        directory (:class:`pathlib.Path`): The state directory, created if missing.
        state (:class:`State`): What it is to hold; values the codec stores (see
            :func:`clean_state`).
        options (:class:`Options`): The application's types and the offline bot.

    Returns:
        list[:class:`BaseException`]: The errors of the updates; when there are any, nothing
        was written.

    Raises:
        StateLockedError: A running bot owns the directory.
        CorruptStateError: A state file in the directory does not decode.
    """
    persistence = options.persistence(directory, on_flush=True)
    return asyncio.run(_write_json_state(persistence, state))


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
        await persistence.get_conversations("")
        if not single:
            await persistence.get_user_data()
            await persistence.get_chat_data()
            await persistence.get_bot_data()
            await persistence.get_callback_data()

    try:
        asyncio.run(load())
    except TypeError as exc:
        raise _unpickling_failure(path, exc) from exc
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
            (scratch / target.name).unlink()
        scratch.rmdir()


# ------------------------------------------------------------------- unsupported values

_SKIP = object()


class _Cleaner:
    """Finds every value the codec cannot store, with its key path, and leaves it out."""

    __slots__ = ("codec", "problems")

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.problems: list[str] = []

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
            path = f"{where}[{key!r}]"
            if self.key_ok(key, path):
                cleaned = self.clean(item, path)
                if cleaned is not _SKIP:
                    out[key] = cleaned
        return out


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
    cleaner = _Cleaner(Codec(bot=options.bot, types=options.types))
    context = options.context_types or ContextTypes()
    keyboards, queries = state.callback_data or ([], {})
    conversations = sum(len(states) for states in state.conversations.values())
    total = len(state.user_data) + len(state.chat_data) + 1 + len(keyboards) + conversations
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    out = State()
    for name in ("user_data", "chat_data"):
        cls = getattr(context, name)
        entries: dict[int, Any] = getattr(out, name)
        for key, value in getattr(state, name).items():
            cleaned = cleaner.clean(_storable(value, cls), f"{name}[{key!r}]")
            if cleaned is not _SKIP:
                entries[key] = cleaned
            tick()
    out.bot_data = cleaner.clean(_storable(state.bot_data, context.bot_data), "bot_data")
    if out.bot_data is _SKIP:
        out.bot_data = {}
    tick()
    if state.callback_data is not None:
        kept = []
        for keyboard, created, buttons in keyboards:
            cleaned = cleaner.clean(buttons, f"callback_data[{keyboard!r}]")
            kept.append((keyboard, created, {} if cleaned is _SKIP else cleaned))
            tick()
        cleaned_queries = cleaner.clean(queries, "callback_data['queries']")
        out.callback_data = (kept, {} if cleaned_queries is _SKIP else cleaned_queries)
    for name, states in state.conversations.items():
        for key, value in states.items():
            path = f"conversations[{name!r}][{key!r}]"
            if cleaner.key_ok(key, path):
                cleaned = cleaner.clean(value, path)
                if cleaned is not _SKIP:
                    out.conversations.setdefault(name, {})[key] = cleaned
            tick()
    return out, cleaner.problems
