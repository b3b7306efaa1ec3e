"""The promises of ``docs/types.md`` and the tests behind them (see ``tests/promises.py``).

The tests here back what no other test proved: a dataclass that gained or lost a field since
its entries were stored (an ordinary deploy), ``StrEnum`` and ``Flag`` registration, the page's
own example, and the messages its tables list.
"""

# No ``from __future__ import annotations``: tests/promises.py loads this module without
# registering it in sys.modules, where dataclasses look string annotations up.
import dataclasses
import enum
import json
import sys
from datetime import datetime, time
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil import tz
from offline import BOT_TOKEN, OfflineRequest
from promises import on_page
from telegram.ext import Application, ApplicationBuilder, ExtBot

from jsonpersist import (
    Codec,
    CorruptStateError,
    JsonPersistence,
    JsonPersistError,
    TypeRegistry,
    UnsupportedTypeError,
)

PAGE = "docs/types.md"
ME = "tests/test_promises_types.py"
CODEC = "tests/test_codec.py"


_p = on_page(PAGE)


PROMISES = [
    _p(
        "comes back after a restart with the same type, all the way down: a tuple stays a tuple, "
        "an `int` key stays an `int`, a `datetime` keeps its zone",
        f"{CODEC}::test_every_supported_value_round_trips_identically",
        "tests/test_application.py::test_everything_survives_a_restart",
    ),
    _p(
        "| `int`, any size | the same (beyond 64 bits too) |",
        f"{CODEC}::test_every_supported_value_round_trips_identically",
        f"{CODEC}::test_ints_beyond_64_bits_are_tagged_in_decimal",
    ),
    _p(
        "the same, including `-0.0`, `inf` and `-inf`; a NaN comes back as a NaN",
        f"{CODEC}::test_every_supported_value_round_trips_identically",
        f"{CODEC}::test_nan_sign_is_kept",
    ),
    _p(
        "| `set`, `frozenset` | the same type; items must be storable and hashable |",
        f"{CODEC}::test_every_supported_value_round_trips_identically",
    ),
    _p(
        "**insertion order is not kept** (keys come back sorted)",
        "tests/test_promises_format.py::test_a_dict_comes_back_in_sorted_order",
    ),
    _p(
        "with a `zoneinfo.ZoneInfo` zone (the same zone, the same `fold`)",
        f"{CODEC}::test_every_supported_value_round_trips_identically",
        f"{CODEC}::test_every_offset_the_encoder_writes_for_a_zone_loads",
    ),
    _p(
        'the same digits and exponent (`Decimal("1.10")` keeps its trailing zero), `NaN`, '
        "`-0`, `Infinity`",
        f"{CODEC}::test_every_supported_value_round_trips_identically",
        f"{CODEC}::test_the_format_of_each_tag",
    ),
    _p(
        "the same class with the same data; attached to the *current* bot if it was attached to "
        "the persistence's bot when stored",
        f"{CODEC}::test_a_telegram_object_of_the_current_bot_comes_back_with_the_new_current_bot",
        f"{CODEC}::test_a_telegram_object_without_a_bot_comes_back_without_one",
    ),
    _p(
        "| the persistence's `telegram.Bot` | the current bot (the new instance after a "
        "restart) |",
        f"{CODEC}::test_the_bot_itself_is_stored_as_a_placeholder",
    ),
    _p(
        "these are refused unless you register them: `collections.defaultdict`, "
        "`collections.OrderedDict`, `enum.IntEnum` and `enum.StrEnum` members, `bytearray`, "
        "`complex`, dataclasses, and objects of your own classes.",
        f"{CODEC}::test_an_unsupported_value_is_refused_with_its_type_and_path",
        f"{ME}::test_str_enums_dataclasses_and_dateutil_zones_are_refused",
    ),
    _p(
        "Datetimes with a pytz or dateutil `tzinfo` are refused too",
        f"{ME}::test_str_enums_dataclasses_and_dateutil_zones_are_refused",
    ),
    _p(
        "Nesting is limited to `jsonpersist.MAX_DEPTH` (240) levels of JSON",
        f"{CODEC}::test_nesting_10000_deep_is_refused_without_recursion_error",
        "tests/test_plain.py::test_plain_json_nests_at_most_max_depth_levels",
    ),
    _p(
        '{"cart": [{"$obj": "CartItem", "data": {"price": {"$obj": "Fraction", "data": "5/2"}, '
        '"quantity": 2, "sku": "A-1"}}]}',
        f"{ME}::test_the_pages_example_is_stored_as_shown",
    ),
    _p(
        'and `Plan.PRO` as `{"$obj": "Plan", "data": "pro"}`',
        f"{ME}::test_the_pages_example_is_stored_as_shown",
    ),
    _p(
        'To rename or move a class, register it under its old name (`name="CartItem"`).',
        f"{ME}::test_a_class_registered_under_its_old_name_loads_old_files",
    ),
    _p(
        "a file naming a type that is not registered cannot be loaded",
        f"{ME}::test_the_corrupt_state_messages_of_the_table",
    ),
    _p(
        "Registration is for the exact class: a subclass needs its own registration.",
        f"{CODEC}::test_a_registered_subclass_needs_its_own_registration",
    ),
    _p(
        "**Raises** `RegistrationError` (a `ValueError`) if the class or the name is already "
        "registered (the registry is left unchanged).",
        "tests/test_promises_errors.py::test_registering_twice_or_a_non_dataclass_raises_typed_errors",
        f"{CODEC}::test_registering_a_class_or_a_name_twice_is_refused",
    ),
    _p(
        "Stores a dataclass as a dict of its `init` fields (fields with `init=False` are left to "
        "`__init__`/`__post_init__`), and rebuilds it with `cls(**fields)`.",
        f"{ME}::test_a_dataclass_is_its_init_fields",
    ),
    _p(
        "A stored entry with a field the class no longer has is a `CorruptStateError`; a field "
        "added since (with a default) simply takes its default.",
        f"{ME}::test_a_dataclass_that_gained_a_field_with_a_default_starts_the_bot",
        f"{ME}::test_a_dataclass_that_lost_a_field_stops_the_start_with_corrupt_state",
    ),
    _p(
        "**Raises** `UnsupportedTypeError` (a `TypeError`) if `cls` is not a dataclass (an "
        "instance is not enough)",
        f"{CODEC}::test_register_dataclass_needs_a_dataclass",
        "tests/test_promises_errors.py::test_registering_twice_or_a_non_dataclass_raises_typed_errors",
    ),
    _p(
        "Works for `IntEnum`, `StrEnum` and `Flag` too: a registered `IntEnum` member comes back "
        "as the member, not as an `int`. The values must be storable (a tuple value is fine).",
        f"{CODEC}::test_a_registered_int_enum_comes_back_as_the_enum_not_an_int",
        f"{ME}::test_int_str_flag_and_tuple_valued_enums_come_back_as_members",
    ),
    _p(
        "Loading never imports anything a file names",
        f"{CODEC}::test_names_in_the_data_are_never_imported",
    ),
    _p(
        "Every error is a `jsonpersist.JsonPersistError` and also the builtin exception you "
        "would catch anyway.",
        "tests/test_errors.py::test_every_error_is_a_json_persist_error_and_its_documented_builtin",
        "tests/test_promises_errors.py::test_registering_twice_or_a_non_dataclass_raises_typed_errors",
    ),
    _p(
        "The message starts with the key path of the value; the path is also in the `where` "
        "attribute.",
        f"{CODEC}::test_an_unsupported_value_is_refused_with_its_type_and_path",
    ),
    _p(
        "`...: cannot store a datetime with a tzutc; use zoneinfo or a fixed offset`",
        f"{ME}::test_the_unsupported_type_messages_of_the_table",
    ),
    _p(
        "`...: cannot store a time with a ZoneInfo`",
        f"{ME}::test_the_unsupported_type_messages_of_the_table",
    ),
    _p(
        "`...: nested deeper than 240 levels of JSON; flatten it`",
        f"{ME}::test_the_unsupported_type_messages_of_the_table",
    ),
    _p(
        "`...: the encoder registered for Fraction failed: ZeroDivisionError(...)`",
        f"{ME}::test_the_unsupported_type_messages_of_the_table",
    ),
    _p(
        "`...: cannot store more than 32 items sharing one hash in one set or dict ...`",
        f"{CODEC}::test_more_items_sharing_one_hash_are_refused",
    ),
    _p(
        "`...: cannot store a InputMediaPhoto: python-telegram-bot's constructor looks its files "
        "up ...`",
        f"{ME}::test_the_unsupported_type_messages_of_the_table",
    ),
    _p(
        "**Whatever an update accepts loads again.**",
        "tests/test_lose_nothing.py::test_whatever_an_update_accepted_loads_again",
        f"{CODEC}::test_what_loading_would_refuse_is_not_stored",
    ),
    _p(
        "A `Bot` other than the persistence's own is stored as `None` with a "
        "`telegram.warnings.PTBUserWarning`; so is the bot attached to a Telegram object (the "
        "object is stored, without the bot).",
        f"{CODEC}::test_an_unknown_bot_value_is_stored_as_none_and_warns",
        f"{CODEC}::test_a_telegram_object_of_an_unknown_bot_is_stored_without_it_and_warns",
    ),
    _p(
        "`state/user_data.json line 2: user_data[5]['cart'][0]['$int']: invalid $int value 'x': "
        "not an integer (...)`",
        f"{ME}::test_a_corrupt_value_in_a_file_names_the_file_line_and_key_path",
    ),
    _p(
        "The file is left as it is; the persistence does not start with an empty state instead.",
        "tests/test_persistence.py::test_a_corrupt_file_is_refused_and_never_overwritten",
    ),
    _p(
        "| `'CartItem' is not a registered type (register it before loading)` |",
        f"{ME}::test_the_corrupt_state_messages_of_the_table",
    ),
    _p(
        '`the decoder registered for CartItem failed: ValueError("expected a dict with the '
        "fields ['sku', ...]\")`",
        f"{ME}::test_a_dataclass_that_lost_a_field_stops_the_start_with_corrupt_state",
    ),
    _p(
        "`unknown tag '$foo' (written by a newer jsonpersist, or a typo?)`",
        f"{ME}::test_the_corrupt_state_messages_of_the_table",
    ),
    _p("`unknown Telegram type 'Foo'`", f"{ME}::test_the_corrupt_state_messages_of_the_table"),
    _p(
        "`an object has two tags, '$tuple' and '$set'`",
        f"{ME}::test_the_corrupt_state_messages_of_the_table",
    ),
    _p(
        "`the key 1 appears twice` / `a set holds an unhashable value`",
        f"{ME}::test_the_corrupt_state_messages_of_the_table",
    ),
]


# ------------------------------------------------------------------------ the page's example


@dataclasses.dataclass
class CartItem:
    sku: str
    quantity: int
    price: Fraction


class Plan(enum.Enum):
    FREE = "free"
    PRO = "pro"


def page_types() -> TypeRegistry:
    types = TypeRegistry()
    types.register_dataclass(CartItem)
    types.register_enum(Plan)
    types.register(Fraction, encode=str, decode=Fraction)
    return types


def test_the_pages_example_is_stored_as_shown() -> None:
    codec = Codec(types=page_types())
    value = {"cart": [CartItem("A-1", 2, Fraction(5, 2))]}
    assert json.loads(codec.dumps(value)) == {
        "cart": [
            {
                "$obj": "CartItem",
                "data": {
                    "price": {"$obj": "Fraction", "data": "5/2"},
                    "quantity": 2,
                    "sku": "A-1",
                },
            }
        ]
    }
    assert json.loads(codec.dumps(Plan.PRO)) == {"$obj": "Plan", "data": "pro"}
    assert codec.loads(codec.dumps(value)) == value
    assert codec.loads(codec.dumps(Plan.PRO)) is Plan.PRO


# ----------------------------------------------------------------- dataclasses across a deploy


def application(
    persistence: JsonPersistence[Any, Any, Any],
) -> Application[Any, Any, Any, Any, Any, Any]:
    request = OfflineRequest()
    bot: ExtBot[None] = ExtBot(BOT_TOKEN, request=request, get_updates_request=request)
    return ApplicationBuilder().bot(bot).persistence(persistence).build()


def registry_of(cls: type) -> TypeRegistry:
    types = TypeRegistry()
    types.register_dataclass(cls, name="Item")
    return types


@dataclasses.dataclass
class ItemBefore:
    sku: str
    quantity: int


@dataclasses.dataclass
class ItemAfter:
    sku: str
    quantity: int
    note: str = "none"
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ItemWithoutQuantity:
    sku: str


async def store_items(directory: Path) -> bytes:
    """What the bot before the deploy saved: user 5's cart of ``ItemBefore``."""
    async with application(JsonPersistence(directory, types=registry_of(ItemBefore))) as app:
        app.user_data[5]["cart"] = [ItemBefore("A-1", 2)]
        app.mark_data_for_update_persistence(user_ids=5)
    return (directory / "user_data.json").read_bytes()


async def test_a_dataclass_that_gained_a_field_with_a_default_starts_the_bot(
    tmp_path: Path,
) -> None:
    stored = await store_items(tmp_path)
    assert b'{"$obj":"Item","data":{"quantity":2,"sku":"A-1"}}' in stored
    async with application(JsonPersistence(tmp_path, types=registry_of(ItemAfter))) as app:
        (item,) = app.user_data[5]["cart"]
        assert type(item) is ItemAfter
        assert item == ItemAfter("A-1", 2, note="none", tags=[])
        item.tags.append("gift")
        app.mark_data_for_update_persistence(user_ids=5)
    assert (tmp_path / "user_data.json").read_bytes() == stored.replace(
        b'"quantity":2,"sku":"A-1"', b'"note":"none","quantity":2,"sku":"A-1","tags":["gift"]'
    )


async def test_a_dataclass_that_lost_a_field_stops_the_start_with_corrupt_state(
    tmp_path: Path,
) -> None:
    stored = await store_items(tmp_path)
    app = application(JsonPersistence(tmp_path, types=registry_of(ItemWithoutQuantity)))
    with pytest.raises(CorruptStateError) as caught:
        await app.initialize()
    assert caught.value.file == (tmp_path / "user_data.json").resolve()
    assert caught.value.reason.startswith(
        'the decoder registered for Item failed: ValueError("expected a dict with the fields '
        "['sku']\")"
    )
    assert (tmp_path / "user_data.json").read_bytes() == stored


@dataclasses.dataclass
class Counted:
    name: str
    doubled: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.doubled = 2 * len(self.name)


def test_a_dataclass_is_its_init_fields() -> None:
    types = TypeRegistry()
    types.register_dataclass(Counted)
    codec = Codec(types=types)
    value = Counted("abc")
    assert json.loads(codec.dumps(value)) == {"$obj": "Counted", "data": {"name": "abc"}}
    restored = codec.loads(codec.dumps(value))
    assert type(restored) is Counted
    assert restored.doubled == 6  # set again by __post_init__


class Renamed:
    """``CartItem`` after a rename: old files name it ``CartItem``."""

    __slots__ = ("sku",)

    def __init__(self, sku: str) -> None:
        self.sku = sku


def test_a_class_registered_under_its_old_name_loads_old_files() -> None:
    old = b'{"$obj":"CartItem","data":"A-1"}'
    types = TypeRegistry()
    types.register(Renamed, encode=lambda item: item.sku, decode=Renamed, name="CartItem")
    restored = Codec(types=types).loads(old)
    assert type(restored) is Renamed
    assert restored.sku == "A-1"
    assert Codec(types=types).dumps(restored) == old
    default = TypeRegistry()
    default.register(Renamed, encode=lambda item: item.sku, decode=Renamed)
    assert Codec(types=default).dumps(Renamed("A-1")) == b'{"$obj":"Renamed","data":"A-1"}'
    with pytest.raises(CorruptStateError, match="'CartItem' is not a registered type"):
        Codec(types=default).loads(old)


# ------------------------------------------------------------------------------------- enums


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


if sys.version_info >= (3, 11):

    class Lang(enum.StrEnum):
        EN = "en"
        DE = "de"

else:  # enum.StrEnum is new in Python 3.11; it is a str mixin, as here

    class Lang(str, enum.Enum):
        EN = "en"
        DE = "de"


class Perm(enum.Flag):
    READ = 1
    WRITE = 2


class Corner(enum.Enum):
    TOP_LEFT = (0, 0)
    BOTTOM_RIGHT = (1, 1)


async def test_int_str_flag_and_tuple_valued_enums_come_back_as_members(tmp_path: Path) -> None:
    types = TypeRegistry()
    for cls in (Level, Lang, Perm, Corner):
        types.register_enum(cls)
    value = {
        "level": Level.HIGH,
        "lang": Lang.DE,
        "perm": Perm.READ | Perm.WRITE,
        "corner": Corner.BOTTOM_RIGHT,
        Lang.EN: "a key",
    }
    writer: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path, types=types)
    await writer.get_bot_data()
    await writer.update_bot_data(value)
    await writer.flush()
    text = (tmp_path / "bot_data.json").read_text()
    assert '{"$obj":"Perm","data":3}' in text
    assert '{"$obj":"Corner","data":{"$tuple":[1,1]}}' in text
    loaded = await JsonPersistence(tmp_path, types=types, read_only=True).get_bot_data()
    assert loaded == value
    for key in ("level", "lang", "perm", "corner"):
        assert loaded[key] is value[key]  # the member itself, not an int or a str
    assert [type(key) for key in loaded if loaded[key] == "a key"] == [Lang]


# ------------------------------------------------------------------------------ the messages


@dataclasses.dataclass
class Unregistered:
    x: int


def test_str_enums_dataclasses_and_dateutil_zones_are_refused() -> None:
    for value, name in (
        (Lang.EN, "Lang"),
        (Unregistered(1), "Unregistered"),
        (datetime(2024, 1, 1, tzinfo=tz.tzutc()), "tzutc"),
        (datetime(2024, 1, 1, tzinfo=tz.gettz("Europe/Berlin")), "tzfile"),
    ):
        with pytest.raises(UnsupportedTypeError, match=name) as caught:
            Codec().dumps({"v": value}, where="user_data[1]")
        assert caught.value.where == "user_data[1]['v']"


def _failing(fraction: Fraction) -> Any:
    raise ZeroDivisionError("no")


def _deep(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


def test_the_unsupported_type_messages_of_the_table() -> None:
    from telegram import InputMediaPhoto

    failing = TypeRegistry()
    failing.register(Fraction, encode=_failing, decode=Fraction)
    cases: list[tuple[Codec, Any, str]] = [
        (
            Codec(),
            datetime(2024, 1, 1, tzinfo=tz.tzutc()),
            "cannot store a datetime with a tzutc; use zoneinfo or a fixed offset",
        ),
        (
            Codec(),
            time(9, tzinfo=ZoneInfo("Europe/Berlin")),
            "cannot store a time with a ZoneInfo",
        ),
        (Codec(), _deep(300), "nested deeper than 240 levels of JSON; flatten it"),
        (
            Codec(types=failing),
            Fraction(1, 2),
            "the encoder registered for Fraction failed: ZeroDivisionError(",
        ),
        (
            Codec(),
            InputMediaPhoto("AgADBAAD"),
            "cannot store a InputMediaPhoto: python-telegram-bot's constructor looks its files up",
        ),
        (Codec(), Fraction(1, 2), "cannot store a Fraction (register it, see docs/types.md)"),
    ]
    for codec, value, message in cases:
        with pytest.raises(UnsupportedTypeError) as caught:
            codec.dumps({"v": value}, where="user_data[123456]")
        assert str(caught.value).startswith("user_data[123456]['v']"), str(caught.value)
        assert message in str(caught.value), str(caught.value)
        assert isinstance(caught.value, TypeError)


def test_the_corrupt_state_messages_of_the_table() -> None:
    cases = [
        (
            {"$obj": "CartItem", "data": {}},
            "'CartItem' is not a registered type (register it before loading)",
        ),
        ({"$foo": 1}, "unknown tag '$foo' (written by a newer jsonpersist, or a typo?)"),
        ({"$tg": "Foo", "data": {}}, "unknown Telegram type 'Foo'"),
        ({"$tuple": [1], "$set": [1]}, "an object has two tags, '$tuple' and '$set'"),
        ({"$dict": [[1, "a"], [1, "b"]]}, "the key 1 appears twice"),
        ({"$set": [[1]]}, "a set holds an unhashable value"),
    ]
    for tree, message in cases:
        with pytest.raises(CorruptStateError) as caught:
            Codec().decode(tree)
        assert message in str(caught.value), str(caught.value)
        assert isinstance(caught.value, ValueError)
        assert isinstance(caught.value, JsonPersistError)


async def test_a_corrupt_value_in_a_file_names_the_file_line_and_key_path(tmp_path: Path) -> None:
    users = tmp_path / "user_data.json"
    users.write_text(
        '[{"jsonpersist":2,"category":"user_data"}\n,[5,{"cart":[{"$int":"x"}]}]\n]\n'
    )
    with pytest.raises(CorruptStateError) as caught:
        await JsonPersistence(tmp_path).get_user_data()
    assert str(caught.value).startswith(
        f"{users.resolve()} line 2: user_data[5]['cart'][0]['$int']: invalid $int value 'x': "
        "not an integer ("
    )
    assert caught.value.file == users.resolve()
    assert caught.value.where == "line 2: user_data[5]['cart'][0]['$int']"
