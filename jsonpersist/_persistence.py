"""The :class:`telegram.ext.BasePersistence` adapter: categories, rounds and file layout."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, Generic, cast, overload

import orjson
from telegram.ext import ContextTypes, DictPersistence, PersistenceInput
from telegram.ext._utils.types import BD, CD, UD, CDCData, ConversationDict, ConversationKey

from jsonpersist._codec import MAX_DEPTH, Codec, TypeRegistry, is_plain
from jsonpersist._errors import CorruptStateError, JsonPersistError, UnsupportedTypeError
from jsonpersist._layout import (
    BY_ID,
    DROP,
    FORMAT_VERSION,
    LIVE,
    SORT,
    WHOLE,
    Slot,
    canonical_lines,
    entry_line,
    entry_where,
    render,
    render_chunks,
    replace_contents,
    sorted_keys,
    strict_tree,
)
from jsonpersist._store import DEFAULT_MAX_FILE_SIZE, Signature, Store

__all__ = ("JsonPersistence",)

# JSON nested deeper than MAX_DEPTH has two brackets a level: a shorter line cannot be.
_DEEP_ENOUGH = 2 * (MAX_DEPTH + 2)


class _RoundDone(asyncio.Future[None]):
    """Completes when a round is saved; a cancelled caller does not cancel it for the others.

    Cheaper than wrapping every await in :func:`asyncio.shield`. The caller's task is still
    cancelled, once the round is done.
    """

    def cancel(self, msg: Any = None) -> bool:
        return False


class _Round:
    """The changes staged while one ``asyncio.gather`` of updates runs, saved together."""

    __slots__ = ("done", "errors")

    def __init__(self) -> None:
        self.done = _RoundDone()
        self.errors: dict[tuple[str, Any], BaseException] = {}

    def error_for(self, category: str, key: Any) -> BaseException | None:
        return self.errors.get((category, key)) or self.errors.get((category, WHOLE))


class JsonPersistence(DictPersistence, Generic[UD, CD, BD]):
    """Makes a bot persistent in one readable, crash-safe JSON file per category.

    Each category (``user_data``, ``chat_data``, ``bot_data``, ``callback_data``,
    ``conversations``) lives in ``<directory>/<category>.json``, with one line per user, chat
    or conversation handler. All updates of one :meth:`telegram.ext.Application.
    update_persistence` run are saved together, off the event loop, by writing temporary files,
    fsyncing them and renaming them into place (all or nothing across files). Only the entries
    that changed are encoded again. One persistence owns a directory at a time.

    Values keep their types across restarts (tuples, sets, ``int`` keys, datetimes, Telegram
    objects with the current bot attached, registered types), see ``docs/types.md``.

    Attention:
        The interface provided by this class is intended to be accessed exclusively by
        :class:`~telegram.ext.Application`. Calling any of the methods below manually might
        interfere with the integration of persistence into :class:`~telegram.ext.Application`.

    Examples:
        .. code-block:: python

            persistence = JsonPersistence("state/")
            app = Application.builder().token(TOKEN).persistence(persistence).build()

    Args:
        directory (:obj:`str` | :class:`pathlib.Path`): Where the state files live; created
            (mode 0700) if missing.
        store_data (:class:`telegram.ext.PersistenceInput`, optional): Which kinds of data are
            saved. A disabled category is never read or written. Default: all.
        update_interval (:obj:`int` | :obj:`float`, optional): Seconds between two runs of
            :meth:`telegram.ext.Application.update_persistence`. Default: ``60``.
        context_types (:class:`telegram.ext.ContextTypes`, optional): Custom classes for user,
            chat and bot data. ``dict`` subclasses are restored as such; other classes must be
            registered in :paramref:`types`.
        on_flush (:obj:`bool`, optional): When :obj:`True`, changes are encoded as they come
            but written only by :meth:`flush` (at shutdown). Default: :obj:`False`, every
            update is on disk when its coroutine returns.
        types (:class:`jsonpersist.TypeRegistry`, optional): The application's own types.
        max_file_size (:obj:`int`, optional): State files larger than this many bytes are
            refused on load. Default: 512 MiB.
        watch (:obj:`bool`, optional): Pick up changes that someone else (a person, a script,
            ``git checkout``) makes to the files while the bot runs: before a handler sees user,
            chat or bot data, the data is updated in place from the file; a save never replaces
            a file changed meanwhile without merging it first (an entry the person changed wins
            over the bot's older copy). Costs one ``stat`` per category and handler call.
            Default: :obj:`False`.
        read_only (:obj:`bool`, optional): Read the files without taking the directory (they
            are always whole, so a running bot's state can be read); every update raises
            :exc:`~jsonpersist.JsonPersistError`. For tools and inspection. Default:
            :obj:`False`.

    Attributes:
        directory (:class:`pathlib.Path`): The resolved state directory.
        on_flush (:obj:`bool`): Whether files are written only by :meth:`flush`.
        context_types (:class:`telegram.ext.ContextTypes`): The types of user, chat and bot
            data.
        codec (:class:`jsonpersist.Codec`): The codec converting values to JSON and back.
    """

    __slots__ = (
        "_conversation_states",
        "_load_lock",
        "_next_round",
        "_round_lock",
        "_round_task",
        "_slots",
        "_store",
        "codec",
        "context_types",
        "on_flush",
        "read_only",
        "watch",
    )

    @overload
    def __init__(
        self: JsonPersistence[dict[Any, Any], dict[Any, Any], dict[Any, Any]],
        directory: str | Path,
        *,
        store_data: PersistenceInput | None = None,
        update_interval: float = 60,
        on_flush: bool = False,
        types: TypeRegistry | None = None,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        read_only: bool = False,
        watch: bool = False,
    ) -> None: ...

    @overload
    def __init__(
        self: JsonPersistence[UD, CD, BD],
        directory: str | Path,
        *,
        store_data: PersistenceInput | None = None,
        update_interval: float = 60,
        context_types: ContextTypes[Any, UD, CD, BD] | None = None,
        on_flush: bool = False,
        types: TypeRegistry | None = None,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        read_only: bool = False,
        watch: bool = False,
    ) -> None: ...

    def __init__(
        self,
        directory: str | Path,
        *,
        store_data: PersistenceInput | None = None,
        update_interval: float = 60,
        context_types: ContextTypes[Any, UD, CD, BD] | None = None,
        on_flush: bool = False,
        types: TypeRegistry | None = None,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        read_only: bool = False,
        watch: bool = False,
    ) -> None:
        super().__init__(store_data=store_data, update_interval=update_interval)
        self._store = Store(Path(directory), max_file_size)
        self.codec = Codec(types=types)
        self.on_flush = on_flush
        self.read_only = read_only
        self.watch = watch
        self.context_types: ContextTypes[Any, UD, CD, BD] = cast(
            "ContextTypes[Any, UD, CD, BD]", context_types or ContextTypes()
        )
        self._slots = {
            name: Slot(name, keyed)
            for name, keyed in (
                ("user_data", True),
                ("chat_data", True),
                ("bot_data", False),
                ("callback_data", False),
                ("conversations", True),
            )
        }
        self._conversation_states: dict[str, dict[ConversationKey, object]] | None = None
        self._next_round: _Round | None = None
        self._round_task: asyncio.Task[None] | None = None
        self._round_lock = asyncio.Lock()
        self._load_lock = asyncio.Lock()

    @property
    def directory(self) -> Path:
        """:class:`pathlib.Path`: The resolved state directory."""
        return self._store.directory

    def set_bot(self, bot: Any) -> None:
        """Sets the bot whose references are stored as a placeholder, see the codec docs.

        Args:
            bot (:class:`telegram.Bot`): The bot.
        """
        super().set_bot(bot)
        self.codec.bot = bot

    # ------------------------------------------------------------------------- categories

    def _enabled(self, name: str) -> bool:
        return name == "conversations" or bool(getattr(self.store_data, name))

    def _to_value(self, slot: Slot, where: str, value: Any) -> Any:
        """Turns a decoded entry of a keyed category into what the application expects."""
        if slot.name in BY_ID:
            return self._as_context_type(slot.name, where, value)
        if slot.name == "conversations" and type(value) is not dict:
            raise CorruptStateError(
                "a handler's conversations must be a dict",
                file=self._file("conversations"),
                where=where,
            )
        return value

    def _as_context_type(self, name: str, where: str, value: Any) -> Any:
        """Gives user, chat or bot data the class that ``context_types`` asks for."""
        cls = getattr(self.context_types, name)
        if cls is dict and type(value) is dict:
            return value
        if type(value) is dict and cls is not dict and issubclass(cls, dict):
            restored = cls()
            restored.update(value)
            return restored
        if not isinstance(value, cls):
            raise CorruptStateError(
                f"expected a {cls.__qualname__}, found a {type(value).__qualname__}",
                file=self._file(name),
                where=where,
            )
        return value

    def _to_storable(self, name: str, value: Any) -> Any:
        """Turns what the application hands over into a value the codec takes."""
        if (
            name in ("user_data", "chat_data", "bot_data")
            and type(value) is not dict
            and isinstance(value, dict)
            and type(value) is getattr(self.context_types, name)
        ):
            return dict(value)
        if name == "callback_data":
            keyboards, queries = value
            return {"keyboards": [list(keyboard) for keyboard in keyboards], "queries": queries}
        return value

    def _file(self, name: str) -> Path:
        return self._store.path(f"{name}.json")

    def _key_of(self, slot: Slot, text: str) -> Any:
        if slot.name in BY_ID:
            try:
                number: int | None = int(text)
            except ValueError:  # not a number, or more digits than Python converts
                number = None
            if number is None or str(number) != text:
                raise CorruptStateError(
                    "ids must be integers written plainly (like 123 or -100123)",
                    file=self._file(slot.name),
                    where=f"{slot.name}[{text!r}]",
                )
            return number
        return text

    # ---------------------------------------------------------------------------- loading

    def _parse(self, slot: Slot, raw: bytes) -> tuple[dict[Any, bytes], dict[Any, Any]]:
        """Parses a category file into its lines and decoded values. Runs off the loop."""
        path = self._file(slot.name)
        try:
            tree = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise CorruptStateError(
                f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}, "
                f"byte {exc.pos})",
                file=path,
            ) from None
        data = self._data_of(slot, tree, path)
        members = self._members(slot, data, strict=False)
        try:
            lines = canonical_lines(slot.name, raw, members)
        except orjson.JSONEncodeError:  # orjson reads 1024 levels but writes only 254
            raise CorruptStateError(f"nested deeper than {MAX_DEPTH} levels", file=path) from None
        if lines is not None:
            # The common case, kept lean: a plain dict entry needs neither decoding nor a
            # context type; the key path is only built for the entries that need work.
            as_is = self._entry_class(slot)
            for key, member in members.items():
                value = member
                line = lines[key]
                # Decoding also refuses nesting deeper than the codec writes; only a long line
                # can be that deep, and the C check tells whether it is.
                if b'"$' in line or (len(line) >= _DEEP_ENOUGH and not is_plain(member)):
                    value = self._decode(member, path, entry_where(slot.name, key))
                if type(value) is not as_is:
                    value = self._to_value(slot, entry_where(slot.name, key), value)
                if value is not member:
                    members[key] = value
            self._check_shape(slot, members)
            return lines, members
        # Not what jsonpersist writes (edited by hand, or damaged): parse strictly, then
        # store it canonically from now on.
        members = self._members(slot, self._data_of(slot, strict_tree(raw, path), path))
        values, lines = {}, {}
        for key, member in members.items():
            where = entry_where(slot.name, key)
            value = self._decode(member, path, where)
            lines[key] = entry_line(key, self.codec.dumps(value, where))
            values[key] = self._to_value(slot, where, value)
        self._check_shape(slot, values)
        return lines, values

    def _entry_class(self, slot: Slot) -> type | None:
        """The class a keyed entry comes back as when it needs no conversion."""
        return (
            dict
            if slot.name not in BY_ID or getattr(self.context_types, slot.name) is dict
            else None
        )

    def _check_shape(self, slot: Slot, values: dict[Any, Any]) -> None:
        """Checks that a value category's members make what PTB expects, at load time."""
        if values and slot.name == "bot_data":
            self._assemble(slot, values)
        elif values and slot.name == "callback_data":
            self._callback_data_of(values)

    def _decode(self, tree: Any, path: Path, where: str) -> Any:
        try:
            return self.codec.decode(tree, where)
        except CorruptStateError as exc:
            raise CorruptStateError(str(exc), file=path) from None

    def _data_of(self, slot: Slot, tree: Any, path: Path) -> Any:
        if type(tree) is not dict or set(tree) != {"jsonpersist", "category", "data"}:
            raise CorruptStateError(
                'expected an object with the keys "jsonpersist", "category" and "data"',
                file=path,
            )
        if tree["jsonpersist"] != FORMAT_VERSION or type(tree["jsonpersist"]) is not int:
            raise CorruptStateError(
                f"format version {tree['jsonpersist']!r} is not supported by this jsonpersist "
                f"(it reads version {FORMAT_VERSION}); upgrade jsonpersist",
                file=path,
            )
        if tree["category"] != slot.name:
            raise CorruptStateError(
                f"holds {tree['category']!r}, expected {slot.name!r}", file=path
            )
        return tree["data"]

    def _members(self, slot: Slot, data: Any, strict: bool = True) -> dict[Any, Any]:
        """Splits a category's data into the entries that get a line each."""
        if slot.keyed:
            if type(data) is not dict:
                raise CorruptStateError('"data" must be an object', file=self._file(slot.name))
            if slot.name in BY_ID and strict is False:
                # int() is lenient ("010", " 1"), but such a key cannot render back to the
                # same bytes, which sends the file to the strict path and _key_of.
                try:
                    return {int(key): member for key, member in data.items()}
                except ValueError:
                    pass
            members = {}
            for text, member in data.items():
                key = self._key_of(slot, text)
                if key in members:
                    raise CorruptStateError(
                        "the same id appears twice",
                        file=self._file(slot.name),
                        where=f"{slot.name}[{text!r}]",
                    )
                members[key] = member
            return members
        if type(data) is dict and not any(key[:1] == "$" for key in data):
            return dict(data)
        return {WHOLE: data}

    async def _load(self, slot: Slot) -> dict[Any, Any]:
        """Loads (or, when loaded, re-reads from the saved lines) a category's values."""
        if slot.broken is not None:
            raise slot.broken
        try:
            lines, values, version = await asyncio.to_thread(self._read_and_parse, slot)
        except CorruptStateError as exc:
            slot.broken = exc  # this category is never written again by this instance
            raise
        if not slot.loaded:
            slot.lines, slot.order, slot.loaded, slot.seen = lines, None, True, version
            if self.watch:
                slot.saved = dict(lines)
        return values

    def _read_and_parse(
        self, slot: Slot
    ) -> tuple[dict[Any, bytes], dict[Any, Any], Signature | None]:
        """Takes the directory, reads a category's file and parses it, in one thread hop."""
        if not self.read_only:
            self._store.open()
        if slot.loaded:
            raw: bytes | None = render(slot.name, slot.lines)
            version = slot.seen
        else:
            raw, version = self._store.read_version(slot.file)
        if raw is None:
            return {}, {}, None
        lines, values = self._parse(slot, raw)
        return lines, values, version

    async def _open(self) -> None:
        if not self.read_only and not self._store.is_open:
            # Replaying a journal and writing .gitignore fsync: keep that off the loop.
            await asyncio.to_thread(self._store.open)

    def _assemble(self, slot: Slot, values: dict[Any, Any]) -> Any:
        """Puts a value category laid out one member per line back together."""
        if WHOLE in values:
            values = values[WHOLE]
        if slot.name == "bot_data":
            return self._as_context_type("bot_data", "bot_data", values)
        return values

    # ---------------------------------------------------------------------- get (PTB API)

    async def get_user_data(self) -> dict[int, UD]:  # type: ignore[override]
        """Returns the user data from ``user_data.json`` (empty when there is none).

        Returns:
            dict[:obj:`int`, :obj:`dict`]: The restored user data.

        Raises:
            CorruptStateError: The file cannot be decoded; it is left as it is.
        """
        if not self.store_data.user_data:
            return {}
        return await self._load(self._slots["user_data"])

    async def get_chat_data(self) -> dict[int, CD]:  # type: ignore[override]
        """Returns the chat data from ``chat_data.json`` (empty when there is none).

        Returns:
            dict[:obj:`int`, :obj:`dict`]: The restored chat data.

        Raises:
            CorruptStateError: The file cannot be decoded; it is left as it is.
        """
        if not self.store_data.chat_data:
            return {}
        return await self._load(self._slots["chat_data"])

    async def get_bot_data(self) -> BD:  # type: ignore[override]
        """Returns the bot data from ``bot_data.json``, or a new ``context_types.bot_data()``.

        Returns:
            :obj:`dict` | :attr:`telegram.ext.ContextTypes.bot_data`: The restored bot data.

        Raises:
            CorruptStateError: The file cannot be decoded; it is left as it is.
        """
        slot = self._slots["bot_data"]
        if not self.store_data.bot_data:
            return self.context_types.bot_data()
        values = await self._load(slot)
        if not values:
            return self.context_types.bot_data()
        return cast("BD", self._assemble(slot, values))

    async def get_callback_data(self) -> CDCData | None:
        """Returns the callback data from ``callback_data.json``, or :obj:`None`.

        Returns:
            tuple[list[tuple[:obj:`str`, :obj:`float`, dict[:obj:`str`, :class:`object`]]], \
            dict[:obj:`str`, :obj:`str`]] | :obj:`None`: The restored metadata.

        Raises:
            CorruptStateError: The file cannot be decoded; it is left as it is.
        """
        slot = self._slots["callback_data"]
        if not self.store_data.callback_data:
            return None
        values = await self._load(slot)
        if not values:
            return None
        return self._callback_data_of(values)

    def _callback_data_of(self, values: dict[Any, Any]) -> CDCData:
        data = self._assemble(self._slots["callback_data"], values)
        try:
            keyboards = [
                (str(kid), float(time), dict(buttons)) for kid, time, buttons in data["keyboards"]
            ]
            return keyboards, dict(data["queries"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise CorruptStateError(
                f"not the shape of callback data: {exc!r}", file=self._file("callback_data")
            ) from None

    async def get_conversations(self, name: str) -> ConversationDict:
        """Returns the conversations of the handler ``name`` from ``conversations.json``.

        Args:
            name (:obj:`str`): The handler's name.

        Returns:
            :obj:`dict`: The restored conversations of that handler.

        Raises:
            CorruptStateError: The file cannot be decoded; it is left as it is.
        """
        if self._conversation_states is None:
            self._conversation_states = await self._load(self._slots["conversations"])
        return dict(self._conversation_states.get(name, {}))

    # ------------------------------------------------------------------- update (PTB API)

    async def update_user_data(self, user_id: int, data: UD) -> None:  # type: ignore[override]
        """Saves the data of one user; on disk when this returns (unless :attr:`on_flush`).

        Args:
            user_id (:obj:`int`): The user.
            data (:obj:`dict`): :attr:`telegram.ext.Application.user_data` ``[user_id]``.

        Raises:
            UnsupportedTypeError: The data holds a value that cannot be stored; the user's last
                good version stays on disk.
            StateWriteError: The file could not be written; the previous file is intact.
            CorruptStateError: ``user_data.json`` could not be loaded; it is never overwritten.
        """
        await self._save("user_data", user_id, data)

    async def update_chat_data(self, chat_id: int, data: CD) -> None:  # type: ignore[override]
        """Saves the data of one chat, see :meth:`update_user_data`.

        Args:
            chat_id (:obj:`int`): The chat.
            data (:obj:`dict`): :attr:`telegram.ext.Application.chat_data` ``[chat_id]``.
        """
        await self._save("chat_data", chat_id, data)

    async def update_bot_data(self, data: BD) -> None:  # type: ignore[override]
        """Saves the bot data, see :meth:`update_user_data`.

        Args:
            data (:obj:`dict` | :attr:`telegram.ext.ContextTypes.bot_data`): The bot data.
        """
        await self._save("bot_data", WHOLE, data)

    async def update_callback_data(self, data: CDCData) -> None:
        """Saves the callback data, see :meth:`update_user_data`.

        Args:
            data (:obj:`tuple`): The data of the callback data cache, as
                ``(list[(keyboard_id, time, {button_id: object})], {query_id: keyboard_id})``.
        """
        await self._save("callback_data", WHOLE, data)

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        """Saves the state of one conversation; :obj:`None` ends (removes) it.

        Args:
            name (:obj:`str`): The handler's name.
            key (:obj:`tuple`): The conversation's key.
            new_state (:class:`object`): The new state, or :obj:`None`.
        """
        if self._conversation_states is None:
            self._conversation_states = await self._load(self._slots["conversations"])
        states = self._conversation_states.setdefault(name, {})
        previous = states.get(key)
        if new_state is None:
            states.pop(key, None)
        else:
            states[key] = new_state
        try:
            await self._save("conversations", name, LIVE)
        except UnsupportedTypeError:
            if previous is None:  # keep what was last saved, so later updates still work
                states.pop(key, None)
            else:
                states[key] = previous
            raise

    async def drop_chat_data(self, chat_id: int) -> None:
        """Removes a chat's data, see :meth:`update_user_data`.

        Args:
            chat_id (:obj:`int`): The chat.
        """
        await self._save("chat_data", chat_id, DROP)

    async def drop_user_data(self, user_id: int) -> None:
        """Removes a user's data, see :meth:`update_user_data`.

        Args:
            user_id (:obj:`int`): The user.
        """
        await self._save("user_data", user_id, DROP)

    async def refresh_user_data(self, user_id: int, user_data: UD) -> None:  # type: ignore[override]
        """With ``watch``, updates ``user_data`` in place from an edit of ``user_data.json``.

        Only when someone else changed this user's entry in the file since it was last loaded
        or written; otherwise this costs one ``stat`` and does nothing.

        Args:
            user_id (:obj:`int`): The user.
            user_data (:obj:`dict`): The application's data of that user, updated in place.

        A malformed edit leaves ``user_data`` as it is; the bot goes on with what it has in
        memory, and the next save reports a :exc:`~jsonpersist.CorruptStateError` naming the
        file instead of overwriting it, until the file is fixed.
        """
        self._refresh_entry("user_data", user_id, user_data)

    async def refresh_chat_data(self, chat_id: int, chat_data: CD) -> None:  # type: ignore[override]
        """With ``watch``, updates ``chat_data`` in place, see :meth:`refresh_user_data`.

        Args:
            chat_id (:obj:`int`): The chat.
            chat_data (:obj:`dict`): The application's data of that chat, updated in place.
        """
        self._refresh_entry("chat_data", chat_id, chat_data)

    async def refresh_bot_data(self, bot_data: BD) -> None:  # type: ignore[override]
        """With ``watch``, updates ``bot_data`` in place, see :meth:`refresh_user_data`.

        The bot's callback data cache is refreshed here too, from an edit of
        ``callback_data.json``.

        Args:
            bot_data (:obj:`dict`): The application's bot data, updated in place.
        """
        slot = self._slots["bot_data"]
        if self._pick_up_edits(slot):
            members = self._apply_external(slot)
            replace_contents(bot_data, self._assemble(slot, members) if members else {})
        self._refresh_callback_data()

    def _refresh_callback_data(self) -> None:
        slot = self._slots["callback_data"]
        cache = getattr(self.bot, "callback_data_cache", None) if self.bot else None
        if cache is None or not self._pick_up_edits(slot):
            return
        members = self._apply_external(slot)
        cache.clear_callback_data()
        cache.clear_callback_queries()
        if members:
            cache.load_persistence_data(self._callback_data_of(members))

    def _refresh_entry(self, name: str, key: int, data: Any) -> None:
        slot = self._slots[name]
        if self._pick_up_edits(slot) and key in slot.external:
            value = slot.external.pop(key)
            replace_contents(data, {} if value is DROP else value)

    def _apply_external(self, slot: Slot) -> dict[Any, Any]:
        """Takes a value category's edited members; the whole value is the saved lines."""
        slot.external.clear()
        return self._parse(slot, render(slot.name, slot.lines))[1]

    def _pick_up_edits(self, slot: Slot) -> bool:
        """Loads the file if someone else changed it since it was last loaded or written.

        A malformed edit is only recorded here (the handler goes on with the data in memory);
        the next save of the category refuses to overwrite it and reports it through PTB's
        error handlers.

        Returns:
            :obj:`bool`: Whether edits may be waiting in ``slot.external``.
        """
        if not (self.watch and slot.loaded and slot.broken is None):
            return False
        if self._round_lock.locked():
            # A round owns slot.lines now; it merges any edit itself before writing, and the
            # next refresh hands the application what it found.
            return bool(slot.external)
        version = self._store.signature(slot.file)
        if version != slot.seen:
            with contextlib.suppress(CorruptStateError):
                self._merge_file(slot, version)
        return bool(slot.external)

    def _merge_file(self, slot: Slot, version: Signature | None) -> None:
        """Merges someone else's version of the file into ``slot.lines``.

        An entry that differs between the file and ``slot.saved`` (what this persistence last
        loaded or wrote) was changed by them and wins; the other entries keep this
        persistence's lines, including changes not written yet.
        """
        try:
            raw, version = self._store.read_version(slot.file)
            theirs, values = ({}, {}) if raw is None else self._parse(slot, raw)
        except CorruptStateError as exc:
            slot.seen, slot.held = version, exc
            raise
        slot.seen, slot.held, base, slot.saved = version, None, slot.saved, theirs
        slot.order = None
        for key in base.keys() | theirs.keys():
            if theirs.get(key) != base.get(key):
                if slot.name == "conversations" and key in theirs and key in slot.lines:
                    # Both changed one handler: merge per conversation, the person's first.
                    merged = self._merge_states(key, base.get(key), slot.lines[key], values[key])
                    slot.lines[key] = entry_line(
                        key, self.codec.dumps(merged, entry_where(slot.name, key))
                    )
                    slot.external[key] = merged
                elif key in theirs:
                    slot.lines[key] = theirs[key]
                    slot.external[key] = values[key]
                else:
                    slot.lines.pop(key, None)
                    slot.external[key] = DROP
                slot.unsaved = True
        if slot.name == "conversations" and self._conversation_states is not None:
            # PTB has no hook to hand a running ConversationHandler new states; keep the
            # edited ones here so that the next save of that handler does not undo them.
            for name in list(slot.external):
                states = slot.external.pop(name)
                if states is DROP:
                    self._conversation_states.pop(name, None)
                else:
                    self._conversation_states[name] = states

    def _merge_states(
        self, name: str, base: bytes | None, ours: bytes, theirs: dict[Any, Any]
    ) -> dict[Any, Any]:
        """Three-way merge of one handler's conversations: theirs, plus our other changes."""
        before, mine = (self._line_value(name, line) if line else {} for line in (base, ours))
        merged = dict(theirs)
        for key in before.keys() | mine.keys():
            if mine.get(key) != before.get(key) and theirs.get(key) == before.get(key):
                if key in mine:
                    merged[key] = mine[key]
                else:
                    merged.pop(key, None)
        return merged

    def _line_value(self, key: Any, line: bytes) -> Any:
        prefix = len(entry_line(key, b""))
        return self.codec.decode(orjson.loads(line[prefix:]), entry_where("conversations", key))

    async def flush(self) -> None:
        """Writes whatever is not on disk yet and releases the directory.

        :class:`telegram.ext.Application` calls this at shutdown. The next use of this
        persistence takes the directory again.

        Raises:
            StateWriteError: A file could not be written; the previous file is intact.
        """
        if self._next_round is not None:
            await self._next_round.done
        try:
            async with self._round_lock:
                unsaved = [slot for slot in self._slots.values() if slot.unsaved]
                if unsaved:
                    await asyncio.to_thread(self._commit, unsaved)
        finally:
            self._store.close()

    # ------------------------------------------------------------------------------ rounds

    async def _save(self, name: str, key: Any, value: Any) -> None:
        if not self._enabled(name):
            return
        if self.read_only:
            raise JsonPersistError(f"this persistence of {self.directory} is read-only")
        slot = self._slots[name]
        if not (slot.loaded and self._store.is_open):
            # One caller of a gather takes the directory again after flush() (or fails) and
            # reads the file: never write a file whose other entries we have not read.
            async with self._load_lock:
                await self._open()
                if not slot.loaded and slot.broken is None:
                    await self._load(slot)
        if slot.broken is not None:
            raise slot.broken
        slot.pending[key] = value
        round_ = self._next_round
        if round_ is None:
            round_ = self._next_round = _Round()
            self._round_task = asyncio.create_task(self._run_round(round_))
        await round_.done
        error = round_.error_for(name, key)
        if error is not None:
            raise error

    async def _run_round(self, round_: _Round) -> None:
        # Every coroutine of the gather that started this round stages its change before
        # this task runs; one more turn of the loop lets stragglers in too, and so does
        # waiting for callers that queued behind a first load of their category.
        await asyncio.sleep(0)
        async with self._load_lock:
            pass
        await asyncio.sleep(0)
        batch = {}
        for slot in self._slots.values():
            if slot.pending:
                batch[slot.name], slot.pending = slot.pending, {}
        self._next_round = None
        if "conversations" in batch and self._conversation_states is not None:
            # Staged as names only: copy each changed handler's states once per round, not
            # once per changed conversation.
            states = self._conversation_states
            batch["conversations"] = {
                name: dict(states.get(name, {})) for name in batch["conversations"]
            }
        try:
            async with self._round_lock:
                round_.errors = await asyncio.to_thread(self._save_batch, batch)
        except Exception as exc:
            round_.errors = {(name, WHOLE): exc for name in batch}
        finally:
            round_.done.set_result(None)

    def _save_batch(
        self, batch: dict[str, dict[Any, Any]]
    ) -> dict[tuple[str, Any], BaseException]:
        """Encodes a round's changes and writes the changed files. Runs off the loop."""
        errors: dict[tuple[str, Any], BaseException] = {}
        changed = []
        for name, entries in batch.items():
            slot = self._slots[name]
            self._encode_entries(slot, entries, errors)
            if self.watch and not self._merged_before_write(slot, entries, errors):
                continue
            if slot.unsaved:
                changed.append(slot)
        if changed and not self.on_flush:
            try:
                self._commit(changed)
            except JsonPersistError as exc:
                for slot in changed:
                    errors[(slot.name, WHOLE)] = exc
        return errors

    def _encode_entries(
        self, slot: Slot, entries: dict[Any, Any], errors: dict[tuple[str, Any], BaseException]
    ) -> None:
        """Encodes staged entries into ``slot.lines``, marking the slot unsaved if any changed.

        Only the staged entries are touched, so a round costs what changed, not the category's
        size. An entry that cannot be encoded keeps its last good line.
        """
        lines = slot.lines
        if not slot.keyed:
            try:
                value = self._to_storable(slot.name, entries[WHOLE])
                tree = self.codec.encode(value, slot.name)
            except UnsupportedTypeError as exc:
                errors[(slot.name, WHOLE)] = exc
                return
            members = self._members(slot, tree)
            new = {
                key: entry_line(key, orjson.dumps(item, option=SORT))
                for key, item in members.items()
            }
            if new != lines:
                slot.lines, slot.order, slot.unsaved = new, None, True
            return
        for key, value in entries.items():
            if value is DROP:
                if lines.pop(key, None) is not None:
                    slot.order, slot.unsaved = None, True
                continue
            try:
                line = entry_line(
                    key,
                    self.codec.dumps(
                        self._to_storable(slot.name, value), entry_where(slot.name, key)
                    ),
                )
            except UnsupportedTypeError as exc:
                errors[(slot.name, key)] = exc
                continue
            old = lines.get(key)
            if old != line:
                if old is None:
                    slot.order = None
                lines[key] = line
                slot.unsaved = True

    def _merged_before_write(
        self,
        slot: Slot,
        entries: dict[Any, Any],
        errors: dict[tuple[str, Any], BaseException],
    ) -> bool:
        """Never clobbers a person: merges an edit made since the last load or write.

        Returns:
            :obj:`bool`: Whether the category may be written; not while a malformed edit waits
            to be fixed (its callers get the error, the changes stay in memory).
        """
        version = self._store.signature(slot.file)
        try:
            if version != slot.seen:
                self._merge_file(slot, version)
        except CorruptStateError:
            pass
        if slot.held is None:
            return True
        for key in entries:
            errors[(slot.name, key)] = slot.held
        return False

    def _commit(self, slots: list[Slot]) -> None:
        for slot in slots:
            if slot.order is None:
                slot.order = sorted_keys(slot.name, slot.lines)
        files = {slot.file: render_chunks(slot.name, slot.lines, slot.order) for slot in slots}
        versions = self._store.write(files)
        for slot in slots:
            slot.unsaved, slot.seen = False, versions[slot.file]
            if self.watch:
                slot.saved = dict(slot.lines)

    # --------------------------------------------------------- DictPersistence properties

    def _saved_values(self, name: str) -> dict[Any, Any] | None:
        """Decodes a category's last saved lines again; :obj:`None` before loading."""
        slot = self._slots[name]
        if not slot.loaded:
            return None
        return self._parse(slot, render(name, slot.lines))[1]

    @property
    def user_data(self) -> dict[int, dict[Any, Any]] | None:
        """:obj:`dict`: A decoded copy of the saved user data; :obj:`None` before loading."""
        return self._saved_values("user_data")

    @property
    def chat_data(self) -> dict[int, dict[Any, Any]] | None:
        """:obj:`dict`: A decoded copy of the saved chat data; :obj:`None` before loading."""
        return self._saved_values("chat_data")

    @property
    def bot_data(self) -> dict[Any, Any] | None:
        """:obj:`dict`: A decoded copy of the saved bot data; :obj:`None` before loading."""
        values = self._saved_values("bot_data")
        if values is None:
            return None
        return cast("dict[Any, Any]", self._assemble(self._slots["bot_data"], values))

    @property
    def callback_data(self) -> CDCData | None:
        """The saved callback data, decoded; :obj:`None` when there is none."""
        values = self._saved_values("callback_data")
        return self._callback_data_of(values) if values else None

    @property
    def conversations(self) -> dict[str, ConversationDict] | None:
        """:obj:`dict`: The saved conversations; :obj:`None` before loading."""
        if self._conversation_states is None:
            return None
        return {name: dict(states) for name, states in self._conversation_states.items()}

    def _file_text(self, name: str) -> str:
        raw = self._store.read(f"{name}.json")
        if raw is None:
            raw = render(name, {})
        return raw.decode("utf-8")

    @property
    def user_data_json(self) -> str:
        """:obj:`str`: The contents of ``user_data.json``."""
        return self._file_text("user_data")

    @property
    def chat_data_json(self) -> str:
        """:obj:`str`: The contents of ``chat_data.json``."""
        return self._file_text("chat_data")

    @property
    def bot_data_json(self) -> str:
        """:obj:`str`: The contents of ``bot_data.json``."""
        return self._file_text("bot_data")

    @property
    def callback_data_json(self) -> str:
        """:obj:`str`: The contents of ``callback_data.json``."""
        return self._file_text("callback_data")

    @property
    def conversations_json(self) -> str:
        """:obj:`str`: The contents of ``conversations.json``."""
        return self._file_text("conversations")
