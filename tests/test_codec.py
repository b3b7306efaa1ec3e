"""Tests of the codec: lossless round trips, determinism, the tag format and its errors."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
import struct
import sys
import uuid
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from offline import BOT_TOKEN, OfflineRequest
from strategies import (
    INT_MAX,
    INT_MIN,
    TAG_LIKE,
    CartItem,
    Level,
    Plan,
    Point,
    chats,
    plain_json,
    telegram_objects,
    user_types,
    user_values,
    users,
    values,
)
from telegram import Bot, Chat, Message, TelegramObject, User
from telegram.ext import ExtBot
from telegram.warnings import PTBUserWarning

from jsonpersist import (
    MAX_DEPTH,
    Codec,
    CorruptStateError,
    JsonPersistError,
    TypeRegistry,
    UnsupportedTypeError,
    _codec,
)

# -------------------------------------------------------------------------------- helpers


def _show(value: object) -> str:
    try:
        return repr(value)
    except ValueError:  # an int beyond Python's digit limit
        return f"<{type(value).__name__} too long to print>"


def _multiset(items: Iterable[Hashable]) -> frozenset[tuple[Hashable, int]]:
    return frozenset(Counter(items).items())


def _tz_fingerprint(tz: tzinfo | None) -> Hashable:
    if tz is None:
        return None
    if type(tz) is timezone:
        return (timezone, tz.utcoffset(None))
    if type(tz) is ZoneInfo:
        return (ZoneInfo, tz.key)
    return (type(tz), id(tz))


def fingerprint(value: Any) -> Hashable:  # noqa: PLR0911 - one branch per kind of value
    """A hashable summary that is equal exactly when :func:`assert_identical` would pass."""
    kind = type(value)
    if kind is float:
        return (kind, struct.pack(">d", value))  # tells -0.0 and the sign of NaN apart
    if kind is Decimal:
        return (kind, value.as_tuple())
    if kind is list or kind is tuple:
        return (kind, tuple(map(fingerprint, value)))
    if kind is set or kind is frozenset:
        return (kind, _multiset(map(fingerprint, value)))
    if kind is dict:
        return (kind, _multiset((fingerprint(k), fingerprint(v)) for k, v in value.items()))
    if kind is datetime or kind is time:
        naive = value.replace(tzinfo=None, fold=0)
        return (kind, naive, value.fold, _tz_fingerprint(value.tzinfo))
    if dataclasses.is_dataclass(value):
        return (kind, tuple(fingerprint(getattr(value, f.name)) for f in dataclasses.fields(kind)))
    if isinstance(value, Bot):
        return (Bot, id(value))
    if isinstance(value, TelegramObject):
        return (kind, orjson.dumps(value.to_dict(), option=orjson.OPT_SORT_KEYS))
    return (kind, value)


def assert_identical(actual: Any, expected: Any, path: str = "value") -> None:  # noqa: PLR0912
    """Asserts two values are equal *and* of the same types all the way down.

    Floats compare by sign too (``-0.0``, the sign of NaN), decimals by digits and exponent,
    datetimes and times by wall time, ``fold`` and zone (same ZoneInfo key or same offset), dict
    keys and set elements by their own types (``1`` is not ``True``).
    """
    kind = type(expected)
    assert type(actual) is kind, f"{path}: {type(actual).__name__} instead of {kind.__name__}"
    if kind is float:
        assert math.copysign(1, actual) == math.copysign(1, expected), f"{path}: sign differs"
        if math.isnan(expected):
            assert math.isnan(actual), f"{path}: {actual!r} is not NaN"
        else:
            assert actual == expected, f"{path}: {actual!r} != {expected!r}"
    elif kind is Decimal:
        assert actual.as_tuple() == expected.as_tuple(), f"{path}: {actual!r} != {expected!r}"
    elif kind is list or kind is tuple:
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for index, (item, wanted) in enumerate(zip(actual, expected, strict=True)):
            assert_identical(item, wanted, f"{path}[{index}]")
    elif kind is set or kind is frozenset:
        assert _multiset(map(fingerprint, actual)) == _multiset(map(fingerprint, expected)), (
            f"{path}: {_show(actual)} != {_show(expected)}"
        )
    elif kind is dict:
        assert len(actual) == len(expected), f"{path}: {len(actual)} keys != {len(expected)}"
        keys: dict[Hashable, list[Any]] = defaultdict(list)
        for key in actual:
            keys[fingerprint(key)].append(key)
        for key, wanted in expected.items():
            found = keys.get(fingerprint(key))
            assert found, f"{path}: no key identical to {_show(key)}"
            assert_identical(actual[found.pop()], wanted, f"{path}[{_show(key)}]")
    elif kind is datetime or kind is time:
        assert fingerprint(actual) == fingerprint(expected), f"{path}: {actual!r} != {expected!r}"
    elif dataclasses.is_dataclass(expected):
        for field in dataclasses.fields(kind):
            name = field.name
            assert_identical(getattr(actual, name), getattr(expected, name), f"{path}.{name}")
    elif isinstance(expected, (Bot, enum.Enum)):
        assert actual is expected, f"{path}: {actual!r} is not {expected!r}"
    elif isinstance(expected, TelegramObject):
        assert actual.to_dict() == expected.to_dict(), f"{path}: {actual!r} != {expected!r}"
    else:
        assert actual == expected, f"{path}: {_show(actual)} != {_show(expected)}"


_PADDING = tuple(object() for _ in range(64))


def reordered(value: Any) -> Any:
    """An equal copy of ``value`` whose dicts and sets were filled in another order."""
    kind = type(value)
    if kind is list or kind is tuple:
        return kind(map(reordered, value))
    if kind is dict:
        return {reordered(key): reordered(item) for key, item in reversed(value.items())}
    if kind is set or kind is frozenset:
        # Filling a larger table and emptying it again changes the iteration order.
        bigger = set(_PADDING)
        bigger.update(reordered(item) for item in reversed(list(value)))
        bigger.difference_update(_PADDING)
        return bigger if kind is set else frozenset(reversed(list(bigger)))
    if isinstance(value, CartItem):
        return CartItem(value.sku, value.quantity, reordered(value.extra))
    return value


def nest(wrap: Callable[[Any], Any], levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = wrap(value)
    return value


def new_bot() -> ExtBot[None]:
    request = OfflineRequest()
    return ExtBot(BOT_TOKEN, request=request, get_updates_request=request)


def sample_message() -> Message:
    return Message(
        message_id=7,
        date=datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc),
        chat=Chat(42, Chat.PRIVATE, first_name="Ada"),
        from_user=User(42, "Ada", is_bot=False, language_code="en"),
        text="hello",
    )


# ------------------------------------------------------------------------ the test helpers


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        (True, 1),
        (1.0, 1),
        (-0.0, 0.0),
        (-math.nan, math.nan),
        (Decimal("1.0"), Decimal("1.00")),
        (Decimal("-0"), Decimal("0")),
        ((1,), [1]),
        ({1: "a"}, {True: "a"}),
        ({1, 2}, frozenset({1, 2})),
        ({(1, True)}, {(1, 1)}),
        (datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC"))),
        (
            datetime(2021, 10, 31, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"), fold=1),
            datetime(2021, 10, 31, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        ),
        (time(1, tzinfo=timezone(timedelta(hours=1))), time(1, tzinfo=timezone.utc)),
        (Level.LOW, 1),
        (CartItem("a", 1, (1,)), CartItem("a", 1, [1])),
    ],
)
def test_assert_identical_tells_equal_values_of_another_kind_apart(
    actual: Any, expected: Any
) -> None:
    with pytest.raises(AssertionError):
        assert_identical(actual, expected)


# ------------------------------------------------------------------------------ round trips


@given(values())
def test_every_supported_value_round_trips_identically(value: Any) -> None:
    codec = Codec()
    assert_identical(codec.loads(codec.dumps(value)), value)
    assert_identical(codec.decode(codec.encode(value)), value)


@given(user_values())
def test_registered_types_round_trip_identically_anywhere(value: Any) -> None:
    codec = Codec(types=user_types())
    assert_identical(Codec(types=user_types()).loads(codec.dumps(value)), value)


@given(values())
def test_equal_values_built_in_another_order_give_identical_bytes(value: Any) -> None:
    other = reordered(value)
    assert_identical(other, value)
    assert Codec().dumps(other) == Codec().dumps(value)


@given(plain_json())
def test_plain_json_is_returned_as_it_is_and_written_as_json(value: Any) -> None:
    codec = Codec()
    assert codec.encode(value) is value
    assert_identical(orjson.loads(codec.dumps(value)), json.loads(json.dumps(value)))
    assert_identical(codec.decode(json.loads(json.dumps(value))), value)


@given(
    st.dictionaries(st.text(max_size=8), plain_json(), max_size=4),
    st.sampled_from([key for key in TAG_LIKE if key.startswith("$")])
    | st.text(max_size=4).map(lambda text: "$" + text),
    plain_json(),
)
def test_a_dict_with_a_dollar_key_is_escaped(plain: dict[str, Any], key: str, item: Any) -> None:
    value = {**plain, key: item}
    codec = Codec()
    assert codec.encode(value) == {"$": value}
    assert_identical(codec.loads(codec.dumps(value)), value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ((1, "a"), b'{"$tuple":[1,"a"]}'),
        ({3, 1, 2}, b'{"$set":[1,2,3]}'),
        (frozenset({"b", "a"}), b'{"$frozenset":["a","b"]}'),
        ({1: "a", "b": 2}, b'{"$dict":[[1,"a"]],"b":2}'),
        ({(1, 2): None}, b'{"$dict":[[{"$tuple":[1,2]},null]]}'),
        ({"$x": 1, 2: 3, "y": {4: 5}}, b'{"$dict":[["$x",1],[2,3]],"y":{"$dict":[[4,5]]}}'),
        ({"$dict": 1, "a": 2, 3: 4}, b'{"$dict":[["$dict",1],[3,4]],"a":2}'),
        ({"$x": 1, "y": [2]}, b'{"$":{"$x":1,"y":[2]}}'),
        ({"$": {"$": 1}}, b'{"$":{"$":{"$":{"$":1}}}}'),
        (b"hi", b'{"$bytes":"aGk="}'),
        (2**64, b'{"$int":"18446744073709551616"}'),
        (-(2**63) - 1, b'{"$int":"-9223372036854775809"}'),
        (math.nan, b'{"$float":"nan"}'),
        (-math.inf, b'{"$float":"-inf"}'),
        (datetime(2024, 5, 1, 12, 30), b'{"$datetime":"2024-05-01T12:30:00"}'),
        (
            datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2))),
            b'{"$datetime":"2024-05-01T12:30:00+02:00"}',
        ),
        (
            datetime(2024, 10, 27, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"), fold=1),
            b'{"$datetime":"2024-10-27T02:30:00+01:00[Europe/Berlin]"}',
        ),
        (date(2024, 5, 1), b'{"$date":"2024-05-01"}'),
        (time(9, 0, tzinfo=timezone.utc), b'{"$time":"09:00:00+00:00"}'),
        (timedelta(days=1, microseconds=5), b'{"$timedelta":"86400.000005"}'),
        (timedelta(seconds=-1.5), b'{"$timedelta":"-1.5"}'),
        (Decimal("1.10"), b'{"$decimal":"1.10"}'),
        (Decimal("-0"), b'{"$decimal":"-0"}'),
        (uuid.UUID(int=1), b'{"$uuid":"00000000-0000-0000-0000-000000000001"}'),
        (Point(1, 2), b'{"$obj":"geometry.Point","data":{"x":1,"y":2}}'),
        (Plan.TEAM, b'{"$obj":"Plan","data":{"$tuple":["team",5]}}'),
        (Level.HIGH, b'{"$obj":"Level","data":2}'),
    ],
)
def test_the_format_of_each_tag(value: Any, expected: bytes) -> None:
    codec = Codec(types=user_types())
    assert codec.dumps(value) == expected
    assert_identical(codec.loads(expected), value)


@pytest.mark.parametrize("value", [INT_MIN, INT_MAX, 0, -1])
def test_ints_orjson_keeps_exactly_stay_plain(value: int) -> None:
    assert Codec().encode(value) is value
    assert Codec().encode([value]) == [value]


@pytest.mark.parametrize("value", [INT_MIN - 1, INT_MAX + 1, -(2**64), 2**100])
def test_ints_beyond_64_bits_are_tagged_in_decimal(value: int) -> None:
    assert Codec().encode(value) == {"$int": str(value)}
    assert_identical(Codec().loads(Codec().dumps([value])), [value])


@pytest.mark.parametrize(
    "value", [10**4300, -(10**5000), 2**20000 + 1], ids=["10**4300", "-10**5000", "2**20000+1"]
)
def test_ints_beyond_the_decimal_digit_limit_are_tagged_in_hex(value: int) -> None:
    assert Codec().encode(value) == {"$int": hex(value)}
    assert_identical(Codec().loads(Codec().dumps(value)), value)


def test_the_longest_decimal_int_python_prints_stays_decimal() -> None:
    value = 10**4300 - 1
    assert Codec().encode(value) == {"$int": "9" * 4300}
    assert_identical(Codec().loads(Codec().dumps(value)), value)


# ------------------------------------------------------------------------- Telegram objects


@given(telegram_objects())
def test_telegram_objects_keep_their_data_and_no_bot(obj: TelegramObject) -> None:
    codec = Codec(bot=new_bot())
    tree = codec.encode({"obj": obj})
    assert "bot" not in tree["obj"]
    restored = codec.loads(codec.dumps({"obj": obj}))["obj"]
    assert type(restored) is type(obj)
    assert restored.to_dict() == obj.to_dict()
    with pytest.raises(RuntimeError):
        restored.get_bot()


@given(st.sets(users() | chats(), max_size=4), st.dictionaries(users(), st.integers(), max_size=3))
def test_telegram_objects_as_set_elements_and_dict_keys(
    elements: set[TelegramObject], keyed: dict[User, int]
) -> None:
    codec = Codec()
    assert_identical(codec.loads(codec.dumps(elements)), elements)
    assert_identical(codec.loads(codec.dumps(keyed)), keyed)


def test_a_telegram_object_of_the_current_bot_comes_back_with_the_new_current_bot(
    offline_bot: ExtBot[None],
) -> None:
    message = sample_message()
    message.set_bot(offline_bot)
    writer = Codec(bot=offline_bot)
    tree = writer.encode({"last": message})
    assert tree["last"]["$tg"] == "Message"
    assert tree["last"]["bot"] == "current"

    later = new_bot()
    restored = Codec(bot=later).loads(writer.dumps({"last": message}))["last"]
    assert type(restored) is Message
    assert restored.to_dict() == message.to_dict()
    assert restored.get_bot() is later
    assert restored.from_user is not None
    assert restored.from_user.get_bot() is later


def test_a_telegram_object_without_a_bot_comes_back_without_one(
    offline_bot: ExtBot[None],
) -> None:
    message = sample_message()
    data = Codec(bot=offline_bot).dumps(message)
    assert b'"bot"' not in data
    restored = Codec(bot=new_bot()).loads(data)
    assert restored.to_dict() == message.to_dict()
    with pytest.raises(RuntimeError):
        restored.get_bot()


def test_a_telegram_object_of_an_unknown_bot_is_stored_without_it_and_warns(
    offline_bot: ExtBot[None],
) -> None:
    message = sample_message()
    message.set_bot(new_bot())
    with pytest.warns(PTBUserWarning, match="unknown Bot"):
        data = Codec(bot=offline_bot).dumps({"last": message})
    assert b'"bot"' not in data
    restored = Codec(bot=offline_bot).loads(data)["last"]
    assert restored.to_dict() == message.to_dict()
    with pytest.raises(RuntimeError):
        restored.get_bot()


def test_the_bot_itself_is_stored_as_a_placeholder(offline_bot: ExtBot[None]) -> None:
    writer = Codec(bot=offline_bot)
    assert writer.encode({"bot": offline_bot}) == {"bot": {"$bot": "current"}}
    later = new_bot()
    assert Codec(bot=later).loads(writer.dumps({"bot": offline_bot}))["bot"] is later
    assert Codec().loads(b'{"$bot":"current"}') is None


@pytest.mark.parametrize("current", [None, "other"])
def test_an_unknown_bot_value_is_stored_as_none_and_warns(
    offline_bot: ExtBot[None], current: str | None
) -> None:
    codec = Codec(bot=new_bot() if current else None)
    with pytest.warns(PTBUserWarning, match="unknown Bot"):
        assert codec.encode({"bot": offline_bot}) == {"bot": None}


def test_a_plain_bot_is_a_bot_too() -> None:
    bot = Bot(BOT_TOKEN, request=OfflineRequest(), get_updates_request=OfflineRequest())
    assert Codec(bot=bot).encode(bot) == {"$bot": "current"}


# ----------------------------------------------------------------------------- user types


def test_a_registered_dataclass_round_trips_with_nested_values() -> None:
    item = CartItem("sku-1", 3, {"added": datetime(2024, 5, 1), "tags": {"gift"}, 1: Plan.PRO})
    codec = Codec(types=user_types())
    tree = codec.encode({"cart": [item]})
    assert tree["cart"][0]["$obj"] == "CartItem"
    assert_identical(codec.loads(codec.dumps({"cart": [item]})), {"cart": [item]})


def test_a_registered_int_enum_comes_back_as_the_enum_not_an_int() -> None:
    codec = Codec(types=user_types())
    restored = codec.loads(codec.dumps({"level": Level.HIGH, Level.LOW: "key"}))
    assert restored["level"] is Level.HIGH
    assert type(next(key for key in restored if key != "level")) is Level


def test_a_type_registered_with_its_own_functions_round_trips() -> None:
    types = TypeRegistry()
    types.register(
        Fraction,
        encode=lambda f: [f.numerator, f.denominator],
        decode=lambda pair: Fraction(*pair),
    )
    codec = Codec(types=types)
    assert codec.encode(Fraction(1, 3)) == {"$obj": "Fraction", "data": [1, 3]}
    assert_identical(
        codec.loads(codec.dumps({Fraction(1, 3): (Fraction(2),)})),
        {Fraction(1, 3): (Fraction(2),)},
    )


def test_registering_a_class_or_a_name_twice_is_refused() -> None:
    class Other:
        pass

    types = user_types()
    with pytest.raises(ValueError, match="already registered"):
        types.register_dataclass(CartItem, name="another name")
    with pytest.raises(ValueError, match="already registered"):
        types.register(Other, encode=id, decode=lambda data: Other(), name="CartItem")
    with pytest.raises(ValueError, match="already registered"):
        types.register_enum(Plan)
    with pytest.raises(UnsupportedTypeError):
        Codec(types=types).encode(Other())  # the refused registration left nothing behind


@pytest.mark.parametrize("cls", [Plan, CartItem("a", 1)])
def test_register_dataclass_needs_a_dataclass(cls: Any) -> None:
    with pytest.raises(TypeError, match="not a dataclass"):
        TypeRegistry().register_dataclass(cls)


def test_a_failing_registered_encoder_is_reported_with_its_path() -> None:
    types = TypeRegistry()
    types.register(Fraction, encode=lambda f: 1 / 0, decode=Fraction)
    with pytest.raises(UnsupportedTypeError, match="encoder registered for Fraction") as info:
        Codec(types=types).encode({"a": [Fraction(1)]}, where="chat_data[5]")
    assert info.value.where == "chat_data[5]['a'][0]"
    assert "ZeroDivisionError" in str(info.value)


def test_a_registered_subclass_needs_its_own_registration() -> None:
    @dataclasses.dataclass
    class SpecialItem(CartItem):
        pass

    with pytest.raises(UnsupportedTypeError, match="SpecialItem"):
        Codec(types=user_types()).encode(SpecialItem("a", 1))


# ---------------------------------------------------------------------- unsupported values


class Color(enum.IntEnum):
    RED = 1


class Tagged(str):
    __slots__ = ()


class Utc(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(0)


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (object(), "object"),
        (Color.RED, "Color"),
        (defaultdict(list), "defaultdict"),
        (OrderedDict(a=1), "OrderedDict"),
        (bytearray(b"x"), "bytearray"),
        (1j, "complex"),
        (Tagged("x"), "Tagged"),
        (range(3), "range"),
        (Point(1, 2), "Point"),  # not registered in a plain Codec
        (datetime(2024, 1, 1, tzinfo=Utc()), "Utc"),
        (time(1, tzinfo=ZoneInfo("Europe/Berlin")), "ZoneInfo"),
    ],
)
def test_an_unsupported_value_is_refused_with_its_type_and_path(value: Any, name: str) -> None:
    with pytest.raises(UnsupportedTypeError, match=name) as info:
        Codec().dumps({"user": [1, {"x": value}]}, where="bot_data")
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, JsonPersistError)
    assert info.value.where == "bot_data['user'][1]['x']"
    assert str(info.value).startswith("bot_data['user'][1]['x']: ")


def test_the_path_of_an_unsupported_value_shows_each_key_with_its_type() -> None:
    with pytest.raises(UnsupportedTypeError) as info:
        Codec().encode({123456: {"cart": ["a", (1, 2), object()]}}, where="user_data")
    assert info.value.where == "user_data[123456]['cart'][2]"
    assert "object" in str(info.value)
    with pytest.raises(UnsupportedTypeError) as info:
        Codec(types=user_types()).encode({"$x": (CartItem("a", 1, [object()]),)})
    assert info.value.where == "value['$x'][0]['extra'][0]"


def test_an_unsupported_dict_key_is_refused() -> None:
    key = object()
    with pytest.raises(UnsupportedTypeError, match="object") as info:
        Codec().encode({key: 1})
    assert info.value.where == f"value[{key!r}]"


_WRAPPERS: dict[str, Callable[[Any], Any]] = {
    "list": lambda value: [value],
    "dict": lambda value: {"k": value},
    "escaped dict": lambda value: {"$k": value},
    "int-keyed dict": lambda value: {1: value},
    "tuple": lambda value: (value,),
    "frozenset": lambda value: frozenset([value]),
    "dataclass": lambda value: CartItem("a", 1, value),
    "registered": lambda value: Box(value),  # noqa: PLW0108 - Box is defined below
}


class Box:
    """A registered type whose payload is its content: one level of JSON per Box."""

    __slots__ = ("inner",)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __eq__(self, other: object) -> bool:
        return type(other) is Box and other.inner == self.inner

    __hash__ = None  # type: ignore[assignment]


def _box_types() -> TypeRegistry:
    types = user_types()
    types.register(Box, encode=lambda box: box.inner, decode=Box)
    return types


@pytest.mark.parametrize("wrap", _WRAPPERS.values(), ids=_WRAPPERS.keys())
def test_nesting_10000_deep_is_refused_without_recursion_error(
    wrap: Callable[[Any], Any],
) -> None:
    value = nest(wrap, 10_000)
    with pytest.raises(UnsupportedTypeError, match=f"deeper than {MAX_DEPTH}"):
        Codec(types=_box_types()).dumps(value)


@pytest.mark.parametrize("wrap", _WRAPPERS.values(), ids=_WRAPPERS.keys())
def test_every_value_encode_accepts_is_written_and_read_back(
    wrap: Callable[[Any], Any],
) -> None:
    codec = Codec(types=_box_types())
    deepest = 0
    for levels in range(MAX_DEPTH // 4, MAX_DEPTH + 10):
        value = nest(wrap, levels)
        try:
            data = codec.dumps(value)
        except UnsupportedTypeError:
            continue
        deepest = levels
        assert_identical(codec.loads(data), value)
    assert deepest >= MAX_DEPTH // 4


def test_a_plain_list_10000_deep_is_refused_when_decoding() -> None:
    with pytest.raises(CorruptStateError, match="deeper"):
        Codec().decode(nest(lambda value: [value], 10_000))
    with pytest.raises(CorruptStateError):
        Codec().loads(b"[" * 10_000 + b"]" * 10_000)


# ---------------------------------------------------------------------------- corrupt data


@pytest.mark.parametrize(
    ("tree", "where", "message"),
    [
        ({"$nope": 1}, "value['$nope']", "unknown tag"),
        ({"a": [{"$tuplee": []}]}, "value['a'][0]['$tuplee']", "unknown tag"),
        ({"$tuple": [], "$set": []}, "value", "two tags"),
        ({"$tuple": "abc"}, "value['$tuple']", "expected a list"),
        ({"$tuple": [], "extra": 1}, "value['$tuple']", "unexpected fields"),
        ({"$": [1]}, "value['$']", "escaped dict must hold an object"),
        ({"$set": [[1]]}, "value['$set'][0]", "unhashable"),
        ({"$frozenset": [2, {"$": {"a": 1}}]}, "value['$frozenset'][1]", "unhashable"),
        ({"$dict": {"a": 1}}, "value['$dict']", "expected a list"),
        ({"$dict": [[1, "a"], [1, "b"]]}, "value['$dict']", "appears twice"),
        ({"$dict": [[1, "a"], [1]]}, "value['$dict'][1]", "[key, value] pair"),
        ({"$dict": [[[1], 2]]}, "value['$dict'][0]", "unhashable key"),
        ({"$dict": [["b", 2]], "b": 3}, "value['$dict']", "the key 'b' appears twice"),
        ({"$dict": [[1, 2]], "$x": 3}, "value", "two tags"),
        ({"$dict": [[1, 2]], "a": [{"$int": "x"}]}, "value['a'][0]['$int']", "invalid $int"),
        ({"$dict": [[1, {"$int": "x"}]]}, "value['$dict'][0][1]['$int']", "invalid $int"),
        ({"$obj": "os.system", "data": "echo hi"}, "value['$obj']", "not a registered type"),
        ({"$obj": 5, "data": 1}, "value['$obj']", "registered name"),
        ({"$obj": "CartItem", "data": {"bogus": 1}}, "value['$obj']", "decoder registered"),
        ({"$obj": "CartItem", "data": 1, "bot": "current"}, "value['$obj']", "unexpected"),
        ({"$tg": "os.system", "data": {}}, "value['$tg']", "unknown Telegram type"),
        ({"$tg": "Bot", "data": {}}, "value['$tg']", "unknown Telegram type"),
        ({"$tg": 5, "data": {}}, "value['$tg']", "name of a Telegram type"),
        ({"$tg": "User", "data": []}, "value['$tg']", "must be an object"),
        ({"$tg": "User", "data": {"id": 1}}, "value['$tg']", "cannot rebuild a User"),
        ({"$tg": "User", "bot": "x", "data": {}}, "value['$tg']", "unknown bot placeholder"),
        ({"$bot": "other"}, "value['$bot']", "unknown bot placeholder"),
        ({"$bot": "current", "data": 1}, "value['$bot']", "unexpected fields"),
        ({"$int": "12a"}, "value['$int']", "invalid $int"),
        ({"$int": "1.5"}, "value['$int']", "invalid $int"),
        ({"$int": ""}, "value['$int']", "invalid $int"),
        ({"$int": "0xZZ"}, "value['$int']", "invalid $int"),
        ({"$int": "9" * 5000}, "value['$int']", "invalid $int"),
        ({"$int": 5}, "value['$int']", "expects a string"),
        ({"$float": "1.5"}, "value['$float']", "invalid $float"),
        ({"$float": "NaN"}, "value['$float']", "invalid $float"),
        ({"$bytes": "!!!"}, "value['$bytes']", "invalid $bytes"),
        ({"$bytes": "aGk"}, "value['$bytes']", "invalid $bytes"),
        ({"$bytes": "\u00e9"}, "value['$bytes']", "invalid $bytes"),
        ({"$datetime": "yesterday"}, "value['$datetime']", "invalid $datetime"),
        ({"$datetime": "2024-01-01T00:00:00[UTC]"}, "value['$datetime']", "needs an offset"),
        ({"$datetime": "2024-01-01T00:00:00+00:00[UTC"}, "value['$datetime']", "closing ]"),
        ({"$datetime": "2024-01-01T00:00:00+01:00[Mars/Base]"}, "value['$datetime']", "zone"),
        ({"$datetime": "2024-01-01T00:00+00:00[../../etc/passwd]"}, "value['$datetime']", "zone"),
        ({"$date": "2024-13-01"}, "value['$date']", "invalid $date"),
        ({"$time": "25:00"}, "value['$time']", "invalid $time"),
        ({"$timedelta": "1e-7"}, "value['$timedelta']", "microsecond"),
        ({"$timedelta": "NaN"}, "value['$timedelta']", "finite"),
        ({"$timedelta": "1e30"}, "value['$timedelta']", "invalid $timedelta"),
        ({"$timedelta": "soon"}, "value['$timedelta']", "invalid $timedelta"),
        ({"$decimal": "abc"}, "value['$decimal']", "invalid $decimal"),
        ({"$decimal": None}, "value['$decimal']", "expects a string"),
        ({"$uuid": "not-a-uuid"}, "value['$uuid']", "invalid $uuid"),
    ],
)
def test_corrupt_data_is_reported_with_its_path(tree: Any, where: str, message: str) -> None:
    with pytest.raises(CorruptStateError) as info:
        Codec(types=user_types()).loads(orjson.dumps(tree))
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, JsonPersistError)
    assert info.value.where == where
    assert message in str(info.value)
    assert info.value.file is None


@pytest.mark.parametrize(
    ("tree", "value"),
    [
        ({"$dict": [["b", 2], [1, "a"]]}, {1: "a", "b": 2}),  # as version 1 wrote it
        ({"$dict": [[1, "a"]], "b": 2}, {1: "a", "b": 2}),
        ({"$dict": [], "a": 1}, {"a": 1}),
    ],
    ids=["version 1", "version 2", "no pairs"],
)
def test_a_dict_keeps_its_str_keys_as_members_and_reads_either_form(
    tree: Any, value: dict[Any, Any]
) -> None:
    decoded = Codec().loads(orjson.dumps(tree))
    assert decoded == value
    assert [type(key) for key in sorted(decoded, key=str)] == [
        type(key) for key in sorted(value, key=str)
    ]


def test_a_corrupt_value_deep_inside_is_named_by_its_path() -> None:
    tree = {"users": {"$dict": [[5, {"cart": [1, {"$int": "x"}]}]]}}
    with pytest.raises(CorruptStateError) as info:
        Codec().decode(tree, where="user_data")
    assert info.value.where == "user_data['users']['$dict'][0][1]['cart'][1]['$int']"


@pytest.mark.parametrize("data", [b"{", b'{"a": NaN}', b"", b"\xff"])
def test_text_that_is_not_json_is_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptStateError) as info:
        Codec().loads(data, where="bot_data")
    assert info.value.where == "bot_data"


def test_a_tree_with_a_non_json_type_is_corrupt() -> None:
    with pytest.raises(CorruptStateError, match="tuple is not a JSON type"):
        Codec().decode({"a": [(1, 2)]})


@pytest.mark.parametrize(
    "tree",
    [
        {"$obj": "os.system", "data": "echo pwned"},
        {"$obj": "this.Zen"},
        {"$tg": "os.system", "data": {}},
        {"$tg": "this.Zen", "data": {}},
        {"$tg": "antigravity.geohash", "data": {}},
    ],
)
def test_names_in_the_data_are_never_imported(tree: Any) -> None:
    loaded = set(sys.modules)
    with pytest.raises(CorruptStateError):
        Codec().decode(tree)
    assert set(sys.modules) == loaded


# ------------------------------------------------------------------------------ known bugs
# Each test below fails until the codec is fixed; see the report of the codec review.


def _message_with_text(text: str) -> Message:
    message = sample_message()
    return Message(message.message_id, message.date, message.chat, text=text)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"note": "broken \ud800 emoji"}, "chat_data[1]['note']"),
        ({"ok": 1, "\udc00": 2}, "chat_data[1]['\\udc00']"),
        ({"a": [{"b": "\ud800"}]}, "chat_data[1]['a'][0]['b']"),
        ({"a": ("x", "\ud800")}, "chat_data[1]['a'][1]"),
        ({5: {"$x": "\ud800"}}, "chat_data[1][5]['$x']"),
        ({"set": {"\ud800"}}, "chat_data[1]['set'][0]"),
        ({"\udc00": ()}, "chat_data[1]['\\udc00']"),
        ({"last": _message_with_text("half an emoji \ud83d")}, "chat_data[1]['last']"),
    ],
    ids=["value", "key", "nested", "in a tuple", "int key", "in a set", "tagged key", "message"],
)
def test_lone_surrogates_are_refused_with_their_path(value: Any, where: str) -> None:
    # Python's json (which PTB uses to read updates) turns "\ud800" escapes into lone
    # surrogates, so text can hold them; orjson refuses to write or read them.
    with pytest.raises(UnsupportedTypeError) as refused:
        Codec().dumps(value, where="chat_data[1]")
    assert refused.value.where == where


def test_nan_sign_is_kept() -> None:
    value = [-math.nan, math.nan]
    assert_identical(Codec().loads(Codec().dumps(value)), value)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 1, 1, tzinfo=timezone(timedelta(microseconds=1))),
        datetime(2024, 1, 1, tzinfo=timezone(-timedelta(milliseconds=500))),
        time(1, tzinfo=timezone(timedelta(microseconds=250))),
    ],
)
def test_sub_second_offset_is_kept(value: datetime | time) -> None:
    try:
        data = Codec().dumps(value)
    except UnsupportedTypeError:
        return  # refusing it is fine; silently storing another offset is not
    assert_identical(Codec().loads(data), value)


def test_dict_with_two_nan_keys_gives_identical_bytes_in_any_order() -> None:
    first, second = float("nan"), float("nan")
    assert Codec().dumps({first: 1, second: 2}) == Codec().dumps({second: 2, first: 1})


def test_errors_of_registered_functions_keep_their_cause() -> None:
    # The traceback of the application's own encoder or decoder is what its author needs.
    types = TypeRegistry()
    types.register(Fraction, encode=lambda f: 1 / 0, decode=lambda data: int("x"))
    with pytest.raises(UnsupportedTypeError) as encoding:
        Codec(types=types).encode(Fraction(1))
    with pytest.raises(CorruptStateError) as decoding:
        Codec(types=types).decode({"$obj": "Fraction", "data": 1})
    assert isinstance(encoding.value.__cause__, ZeroDivisionError)
    assert isinstance(decoding.value.__cause__, ValueError)


# ------------------------------------------------------------- what the encoder never writes


MERSENNE_61 = 2**61 - 1


@pytest.mark.parametrize(
    ("tree", "where", "message"),
    [
        ({"$set": [1, 1]}, "value['$set']", "the item 1 appears twice"),
        ({"$set": [1, 1.0]}, "value['$set']", "appears twice"),
        ({"$frozenset": [1, True]}, "value['$frozenset']", "appears twice"),
        ({"$set": [{"$tuple": [1]}, {"$tuple": [1]}]}, "value['$set']", "(1,) appears twice"),
        ({"$dict": [[1, "a"], [1.0, "b"]]}, "value['$dict']", "the key 1.0 appears twice"),
        ({"$int": "\u0663"}, "value['$int']", "ASCII digits"),
        ({"$int": "\uff11\uff12"}, "value['$int']", "ASCII digits"),
        ({"$int": "+5"}, "value['$int']", "ASCII digits"),
        ({"$int": " 5"}, "value['$int']", "ASCII digits"),
        ({"$int": "1_000"}, "value['$int']", "ASCII digits"),
        ({"$int": "0X1f"}, "value['$int']", "ASCII digits"),
        ({"$int": "0x1_f"}, "value['$int']", "ASCII digits"),
        (
            {"$datetime": "2024-07-01T12:00:00+05:00[Europe/Berlin]"},
            "value['$datetime']",
            "not Europe/Berlin's",
        ),
        (
            {"$datetime": "2024-01-01T12:00:00+02:00[Europe/Berlin]"},
            "value['$datetime']",
            "not Europe/Berlin's",
        ),
    ],
)
def test_what_the_encoder_never_writes_is_refused(tree: Any, where: str, message: str) -> None:
    with pytest.raises(CorruptStateError, match=re.escape(message)) as raised:
        Codec().decode(tree)
    assert raised.value.where == where


@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 10, 27, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        datetime(2024, 10, 27, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"), fold=1),
        datetime(2024, 3, 31, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")),  # in the gap
        datetime(2024, 3, 31, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"), fold=1),
        datetime(1800, 1, 1, tzinfo=ZoneInfo("Europe/Berlin")),  # local mean time, +00:53:28
    ],
    ids=["fold-0", "fold-1", "gap-0", "gap-1", "lmt"],
)
def test_every_offset_the_encoder_writes_for_a_zone_loads(value: datetime) -> None:
    assert_identical(Codec().loads(Codec().dumps(value)), value)


@pytest.mark.parametrize("text", ["5", "-5", "0x1f", "-0x1F", "007", str(2**64), hex(-(2**70))])
def test_int_tags_in_ascii_load(text: str) -> None:
    assert Codec().decode({"$int": text}) == int(text, 0 if "x" in text else 10)


def colliding(count: int, wrap: Callable[[int], Any] = lambda number: number) -> list[Any]:
    """``count`` values that all share one hash, built from multiples of 2**61 - 1."""
    return [wrap(k * MERSENNE_61) for k in range(9, 9 + count)]


COLLIDING_KINDS: dict[str, Callable[[int], Any]] = {
    "int": lambda number: number,
    "decimal": Decimal,
    "uuid": lambda number: uuid.UUID(int=number),
    "tuple": lambda number: (number, "x"),
    "frozenset": lambda number: frozenset({number}),
    "user": lambda number: User(number, "a", is_bot=False),
}


@pytest.mark.parametrize("wrap", COLLIDING_KINDS.values(), ids=COLLIDING_KINDS.keys())
def test_items_sharing_one_hash_load_up_to_the_bound(wrap: Callable[[int], Any]) -> None:
    assert len({hash(item) for item in colliding(3, wrap)}) == 1
    at_the_bound = set(colliding(_codec.MAX_SAME_HASH, wrap))
    assert Codec().loads(Codec().dumps(at_the_bound)) == at_the_bound
    keys = dict.fromkeys(colliding(_codec.MAX_SAME_HASH, wrap), 1)
    assert Codec().loads(Codec().dumps(keys)) == keys


@pytest.mark.parametrize("wrap", COLLIDING_KINDS.values(), ids=COLLIDING_KINDS.keys())
@pytest.mark.parametrize("tag", ["$set", "$frozenset", "$dict"])
def test_more_items_sharing_one_hash_are_refused(wrap: Callable[[int], Any], tag: str) -> None:
    bound = _codec.MAX_SAME_HASH
    items = [Codec().encode(item) for item in colliding(bound + 1, wrap)]
    tree = {tag: [[item, 1] for item in items] if tag == "$dict" else items}
    data = orjson.dumps(tree)  # the encoder refuses to write it, see below
    with pytest.raises(CorruptStateError, match="share one hash") as raised:
        Codec().loads(data)
    assert raised.value.where == f"value['{tag}'][{bound}]"


def test_a_probing_ptb_class_is_refused_on_both_sides() -> None:
    """``InputMediaPhoto("/etc/shadow")`` stats the path; tests/test_security.py has them all."""
    with pytest.raises(CorruptStateError, match="file system"):
        Codec().decode({"$tg": "InputMediaPhoto", "data": {"type": "photo", "media": "x"}})
    assert all(issubclass(cls, TelegramObject) for cls in _codec.PROBING_CLASSES)


def test_an_int_beyond_the_digit_limit_is_named_in_errors() -> None:
    with pytest.raises(UnsupportedTypeError) as raised:
        Codec().encode({10**5000: Fraction(1, 3)})
    assert raised.value.where.startswith("value[0x")
    with pytest.raises(UnsupportedTypeError, match="User"):
        Codec().encode(User(10**5000, "a", is_bot=False))


def test_a_telegram_object_with_an_int_beyond_64_bits_keeps_it() -> None:
    """orjson reads such an int from PTB's to_json() as a float; the codec must not."""
    user = User(2**64 + 5, "a", is_bot=False)
    loaded = Codec().loads(Codec().dumps(user))
    assert loaded.id == 2**64 + 5
    assert type(loaded.id) is int


@pytest.mark.parametrize("wrap", COLLIDING_KINDS.values(), ids=COLLIDING_KINDS.keys())
def test_what_loading_would_refuse_is_not_stored(wrap: Callable[[int], Any]) -> None:
    """A set or dict of more items sharing a hash than a load accepts fails its own update."""
    items = colliding(_codec.MAX_SAME_HASH + 1, wrap)
    for value in (set(items), frozenset(items), dict.fromkeys(items, 1)):
        with pytest.raises(UnsupportedTypeError, match="sharing one hash") as raised:
            Codec().encode({"numbers": value})
        assert raised.value.where == "value['numbers']"


def test_a_valid_document_orjson_refuses_for_memory_still_loads() -> None:
    """orjson 3.13.0 says "failed to allocate memory" for this 5 KB document."""
    raw = b'{\n  "v": [' + b",".join([b"[1]"] * 1300) + b"]\n}"
    assert Codec().loads(raw) == {"v": [[1]] * 1300}
