"""Hypothesis strategies shared by the tests, and the application types they register.

``values()`` draws any value the codec supports, ``user_values()`` adds the registered types of
``user_types()``, ``plain_json()`` draws JSON that needs no tags, and ``telegram_objects()``
draws Telegram objects built from drawn ids and text. ``handler_names()``,
``conversation_keys()`` and ``bot_data_keys()`` draw the keys of the entries of a state file.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st
from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, Message, User

from jsonpersist import TypeRegistry

__all__ = (
    "INT_MAX",
    "INT_MIN",
    "NOT_QUITE_PLAIN",
    "NOT_QUITE_PLAIN_KEYS",
    "TAG_LIKE",
    "CartItem",
    "Level",
    "Plan",
    "Point",
    "bot_data_keys",
    "chats",
    "conversation_keys",
    "handler_names",
    "hashables",
    "inline_keyboards",
    "messages",
    "nearly_plain",
    "plain_json",
    "telegram_objects",
    "user_types",
    "user_values",
    "users",
    "values",
)

#: The ints that stay plain JSON: orjson writes and reads exactly this range.
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1

#: Strings that look like the codec's own tags and field names, as text, keys and set elements.
TAG_LIKE = (
    "$",
    "$$",
    "$$x",
    "$x",
    "$tuple",
    "$set",
    "$frozenset",
    "$dict",
    "$int",
    "$float",
    "$bytes",
    "$datetime",
    "$date",
    "$time",
    "$timedelta",
    "$decimal",
    "$uuid",
    "$tg",
    "$obj",
    "$bot",
    "__type__",
    "data",
    "bot",
    "current",
    "nan",
    "",
)

# Edge ints as (base, exponent, offset), built after drawing: Hypothesis cannot repr an int
# beyond Python's digit limit, and the huge ones should come up only now and then.
_INT_EDGES = (
    (-2, 63, -1),
    (-2, 63, 0),
    (2, 63, -1),
    (2, 63, 0),
    (2, 64, -1),
    (2, 64, 0),
    (-2, 65, 0),
    (10, 4300, -1),  # the most decimal digits Python prints by default
    (10, 4300, 0),  # one digit more: written in hex
    (-10, 5001, -7),
    (2, 20000, 1),
)


def _edge_int(recipe: tuple[int, int, int]) -> int:
    base, exponent, offset = recipe
    return base**exponent + offset


_DECIMAL_EDGES = tuple(
    Decimal(text)
    for text in ("NaN", "-NaN", "NaN123", "Infinity", "-Infinity", "-0", "0E-30", "1E+999999")
)

_AMBIGUOUS_OR_SKIPPED = tuple(
    datetime(*fields, tzinfo=ZoneInfo(zone), fold=fold)
    for zone, fields in (
        ("Europe/Berlin", (2021, 10, 31, 2, 30)),  # fall back: happens twice
        ("Europe/Berlin", (2021, 3, 28, 2, 30)),  # spring forward: never happens
        ("America/New_York", (2022, 11, 6, 1, 15, 5, 123)),
        ("Australia/Lord_Howe", (2022, 4, 3, 1, 45)),  # a 30-minute DST shift
    )
    for fold in (0, 1)
)


# ------------------------------------------------------------------------------------ scalars


def _one_nan(value: float) -> float:
    # A NaN's payload is not part of the format and its sign is checked on its own (see
    # test_nan_sign_is_kept); one shared NaN object keeps dicts and sets from holding several
    # unequal NaNs.
    return math.nan if math.isnan(value) else value


def _significant_fold(value: Any) -> Any:
    """Keeps ``fold=1`` only where it changes the UTC offset; elsewhere it normalizes to 0."""
    if value.fold and (
        not isinstance(value, datetime)
        or value.tzinfo is None
        or value.utcoffset() == value.replace(fold=0).utcoffset()
    ):
        return value.replace(fold=0)
    return value


def _fixed_offsets() -> st.SearchStrategy[tzinfo]:
    # Whole seconds: a sub-second offset is a known loss, see test_sub_second_offset_is_kept.
    minutes = st.integers(-1439, 1439).map(lambda m: timedelta(minutes=m))
    seconds = st.integers(-86399, 86399).map(lambda s: timedelta(seconds=s))
    return st.one_of(st.just(timezone.utc), minutes, seconds).map(
        lambda offset: offset if isinstance(offset, timezone) else timezone(offset)
    )


def _datetimes() -> st.SearchStrategy[datetime]:
    drawn = st.datetimes(timezones=st.none() | _fixed_offsets() | st.timezones())
    return st.one_of(drawn.map(_significant_fold), st.sampled_from(_AMBIGUOUS_OR_SKIPPED))


def _scalars(*, hashable: bool) -> st.SearchStrategy[Any]:
    decimals = st.decimals(allow_nan=True, allow_infinity=True) | st.sampled_from(_DECIMAL_EDGES)
    if hashable:  # a signalling NaN cannot be hashed
        decimals = decimals.filter(lambda d: not d.is_snan())
    else:
        decimals |= st.just(Decimal("sNaN"))
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(INT_MIN, INT_MAX),
        st.sampled_from(_INT_EDGES).map(_edge_int),
        st.floats().map(_one_nan),
        st.text(),
        st.sampled_from(TAG_LIKE),
        st.binary(),
        _datetimes(),
        st.dates(),
        st.times(timezones=st.none() | _fixed_offsets()).map(_significant_fold),
        st.timedeltas(),
        decimals,
        st.uuids(),
    )


# ---------------------------------------------------------------------------------- containers


def hashables(extra: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[Any]:
    """Values that can be set elements and dict keys: scalars, tuples and frozensets of them."""
    leaves = _scalars(hashable=True)
    if extra is not None:
        leaves |= extra
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=3).map(tuple) | st.frozensets(children, max_size=3)
        ),
        max_leaves=6,
    )


def _keys(hashable: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.text(max_size=8), st.sampled_from(TAG_LIKE), hashable)


def _tree(
    leaves: st.SearchStrategy[Any],
    hashable: st.SearchStrategy[Any],
    more: Callable[[st.SearchStrategy[Any]], st.SearchStrategy[Any]] | None = None,
) -> st.SearchStrategy[Any]:
    str_keys = st.text(max_size=8) | st.sampled_from(TAG_LIKE)

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        containers = st.one_of(
            st.lists(children, max_size=4),
            st.lists(children, max_size=4).map(tuple),
            st.sets(hashable, max_size=4),
            st.frozensets(hashable, max_size=4),
            st.dictionaries(str_keys, children, max_size=4),
            st.dictionaries(_keys(hashable), children, max_size=4),
        )
        if more is not None:
            containers |= more(children)
        return containers

    return st.recursive(leaves, extend, max_leaves=24)


def values() -> st.SearchStrategy[Any]:
    """Any value of a built-in type the codec supports, nested in any supported container."""
    return _tree(_scalars(hashable=False), hashables())


# ------------------------------------------------------------------------- the keys of entries

#: Ids near each other and at the ends of the 64-bit range, where text order and numeric order
#: disagree (1, 10, 100, 2; -1, -10).
_NEAR_IDS = (0, 1, 2, 9, 10, 11, 100, 1000, 1001, -1, -2, -10, -100, INT_MIN, 2**63 - 1)


def handler_names() -> st.SearchStrategy[str]:
    """A ``ConversationHandler``'s name: any text UTF-8 can hold, tag-like ones too."""
    return st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(TAG_LIKE)


def conversation_keys() -> st.SearchStrategy[tuple[int | str, ...]]:
    """A conversation's key as PTB makes it: a tuple of 64-bit ints (ids) and strings."""
    part = st.one_of(
        st.sampled_from(_NEAR_IDS),
        st.integers(INT_MIN, 2**63 - 1),
        st.text(st.characters(codec="utf-8"), max_size=6),
    )
    return st.lists(part, min_size=1, max_size=3).map(tuple)


def bot_data_keys() -> st.SearchStrategy[Any]:
    """A top-level key of bot data: mostly str and int, also any other hashable value."""
    return st.one_of(
        st.text(max_size=8),
        st.sampled_from(TAG_LIKE),
        st.sampled_from(_NEAR_IDS),
        st.integers(),
        hashables(),
    )


# ---------------------------------------------------------------------------------- user types


@dataclasses.dataclass
class CartItem:
    """A registered dataclass whose ``extra`` field holds any storable value."""

    sku: str
    quantity: int
    extra: Any = None


@dataclasses.dataclass(frozen=True)
class Point:
    """A hashable registered dataclass, used as dict key and set element."""

    x: int
    y: int


class Plan(enum.Enum):
    """A registered enum, one member with a tuple value."""

    FREE = "free"
    PRO = "pro"
    TEAM = ("team", 5)


class Level(enum.IntEnum):
    """A registered IntEnum: it must come back as a Level, not as an int."""

    LOW = 1
    HIGH = 2


def user_types() -> TypeRegistry:
    """A new registry holding :class:`CartItem`, :class:`Point`, :class:`Plan`, :class:`Level`."""
    types = TypeRegistry()
    types.register_dataclass(CartItem)
    types.register_dataclass(Point, name="geometry.Point")
    types.register_enum(Plan)
    types.register_enum(Level)
    return types


def user_values() -> st.SearchStrategy[Any]:
    """Like :func:`values`, with registered dataclasses and enums mixed in anywhere."""
    small = st.integers(-(2**70), 2**70)
    points = st.builds(Point, small, small)
    members = st.sampled_from(list(Plan)) | st.sampled_from(list(Level))
    hashable = hashables(points | members)
    return _tree(
        _scalars(hashable=False) | points | members,
        hashable,
        lambda children: st.builds(CartItem, st.text(), small, children),
    )


# ----------------------------------------------------------------------------------- plain JSON


def plain_json() -> st.SearchStrategy[Any]:
    """JSON that the codec leaves as it is: no tags, no ``$`` keys, ints orjson keeps exact."""
    keys = st.text(max_size=8).filter(lambda key: not key.startswith("$")) | st.sampled_from(
        [key for key in TAG_LIKE if not key.startswith("$")]
    )
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(INT_MIN, INT_MAX),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
        st.sampled_from(TAG_LIKE),  # "$tuple" is only special as a key
    )
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5)
        ),
        max_leaves=40,
    )


class _Text(str):
    __slots__ = ()


class _Number(int):
    __slots__ = ()


class _Real(float):
    __slots__ = ()


class _Items(list):  # type: ignore[type-arg]
    __slots__ = ()


#: One step from plain JSON: each of these makes a value that holds it need tags (or refused).
NOT_QUITE_PLAIN: tuple[Any, ...] = (
    (),
    (1, "a"),
    set(),
    frozenset({1}),
    b"",
    bytearray(b"x"),
    math.nan,
    -math.nan,
    math.inf,
    -math.inf,
    INT_MIN - 1,
    INT_MAX + 1,
    2**200,
    _Text("text"),
    _Number(1),
    _Real(1.5),
    _Items([1]),
    OrderedDict(a=1),
    defaultdict(list),
    Level.LOW,
    Plan.FREE,
    CartItem("a", 1),
    datetime(2024, 5, 1, 12, 0),
    Decimal("1.5"),
    uuid.UUID(int=1),
    1j,
    ...,
    object(),
)


#: Dict keys that make a dict need tags: not exactly str, or starting with ``$``.
NOT_QUITE_PLAIN_KEYS: tuple[Any, ...] = (0, -1, None, True, 1.5, (1,), _Text("k"), "$", "$a")


def _containers(tree: Any) -> list[Any]:
    if type(tree) is dict:
        return [tree, *(inner for item in tree.values() for inner in _containers(item))]
    if type(tree) is list:
        return [tree, *(inner for item in tree for inner in _containers(item))]
    return []


@st.composite
def nearly_plain(draw: st.DrawFn) -> Any:
    """Plain JSON with at most one flaw somewhere inside: a value of :data:`NOT_QUITE_PLAIN`
    or a key of :data:`NOT_QUITE_PLAIN_KEYS`; the edge the plain-JSON check has to find.
    """
    tree = draw(
        st.lists(plain_json(), max_size=3)
        | st.dictionaries(st.text(max_size=4), plain_json(), max_size=3)
    )
    flaw = draw(st.sampled_from(["none", "value", "key"]))
    if flaw == "none":
        return tree
    container = draw(st.sampled_from(_containers(tree)))
    if flaw == "value":
        bad = draw(st.sampled_from(NOT_QUITE_PLAIN))
        if type(container) is list:
            container.insert(draw(st.integers(0, len(container))), bad)
        else:
            container[draw(st.text(max_size=4).filter(lambda key: not key.startswith("$")))] = bad
        return tree
    dicts = [each for each in _containers(tree) if type(each) is dict] or [container]
    target = draw(st.sampled_from(dicts))
    key = draw(st.sampled_from(NOT_QUITE_PLAIN_KEYS))
    if type(target) is dict:
        target[key] = draw(plain_json())
    else:
        target.append({key: draw(plain_json())})
    return tree


# ------------------------------------------------------------------------------ Telegram objects

_names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=16)
_usernames = st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=5, max_size=12)


def users() -> st.SearchStrategy[User]:
    """A ``telegram.User`` from a drawn id and names."""
    return st.builds(
        User,
        id=st.integers(1, 2**52),
        first_name=_names,
        is_bot=st.booleans(),
        last_name=st.none() | _names,
        username=st.none() | _usernames,
        language_code=st.none() | st.sampled_from(["en", "de", "pt-br"]),
    )


def chats() -> st.SearchStrategy[Chat]:
    """A ``telegram.Chat`` of any type from a drawn id and title."""
    return st.builds(
        Chat,
        id=st.integers(-(10**13), 10**13).filter(bool),
        type=st.sampled_from([Chat.PRIVATE, Chat.GROUP, Chat.SUPERGROUP, Chat.CHANNEL]),
        title=st.none() | _names,
        username=st.none() | _usernames,
    )


def inline_keyboards() -> st.SearchStrategy[InlineKeyboardMarkup]:
    """An ``InlineKeyboardMarkup`` of callback-data and URL buttons."""
    callback = st.builds(InlineKeyboardButton, text=_names, callback_data=st.text(max_size=64))
    link = st.builds(
        InlineKeyboardButton,
        text=_names,
        url=_usernames.map(lambda name: f"https://t.me/{name}"),
    )
    rows = st.lists(st.lists(callback | link, min_size=1, max_size=3), min_size=1, max_size=3)
    return st.builds(InlineKeyboardMarkup, rows)


def messages() -> st.SearchStrategy[Message]:
    """A ``telegram.Message`` with sender, chat, date (UTC, whole seconds), text and keyboard."""
    dates = st.datetimes(datetime(2015, 1, 1), datetime(2100, 1, 1)).map(
        lambda stamp: stamp.replace(microsecond=0, tzinfo=timezone.utc)
    )
    return st.builds(
        Message,
        message_id=st.integers(1, 2**31 - 1),
        date=dates,
        chat=chats(),
        from_user=st.none() | users(),
        text=st.none() | st.text(max_size=64),
        reply_markup=st.none() | inline_keyboards(),
    )


def telegram_objects() -> st.SearchStrategy[Any]:
    """Any of :func:`users`, :func:`chats`, :func:`messages`, :func:`inline_keyboards`."""
    return st.one_of(users(), chats(), messages(), inline_keyboards())
