"""The table of categories: names, files, ids, shapes and the values PTB gets and gives.

Each category is driven on its own with the trees a file parses into and the values PTB hands
over; no file is read or written (the path only names the file in errors).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from telegram.ext import ContextTypes, PersistenceInput

from jsonpersist import CorruptStateError, UnsupportedTypeError
from jsonpersist._categories import (
    BOT_DATA,
    CALLBACK_DATA,
    CATEGORIES,
    CHAT_DATA,
    CONVERSATIONS,
    USER_DATA,
    Category,
)
from jsonpersist._codec import Codec
from jsonpersist._format import WHOLE

PATH = Path("/state/some.json")
PLAIN = ContextTypes()
CODEC = Codec()


class UserDict(dict[Any, Any]):
    """A ``context_types`` class for user data."""


class ChatDict(dict[Any, Any]):
    """A ``context_types`` class for chat data."""


class BotDict(dict[Any, Any]):
    """A ``context_types`` class for bot data."""


CUSTOM = ContextTypes(user_data=UserDict, chat_data=ChatDict, bot_data=BotDict)


def corrupt(call: Any) -> CorruptStateError:
    with pytest.raises(CorruptStateError) as caught:
        call()
    return caught.value


# ---------------------------------------------------------------------------------- the table


def test_the_five_categories_in_ptbs_order_each_with_its_file() -> None:
    assert list(CATEGORIES) == [
        "user_data",
        "chat_data",
        "bot_data",
        "callback_data",
        "conversations",
    ]
    for name, category in CATEGORIES.items():
        assert category.name == name
        assert category.file == f"{name}.json"
    assert list(CATEGORIES.values()) == [
        USER_DATA,
        CHAT_DATA,
        BOT_DATA,
        CALLBACK_DATA,
        CONVERSATIONS,
    ]


def test_only_users_chats_and_conversations_are_keyed() -> None:
    assert {name for name, category in CATEGORIES.items() if category.keyed} == {
        "user_data",
        "chat_data",
        "conversations",
    }


def test_a_category_is_described_once_and_has_no_instance_dict() -> None:
    for category in CATEGORIES.values():
        assert isinstance(category, Category)
        assert not hasattr(category, "__dict__")
    assert repr(USER_DATA) == "<category user_data>"


@pytest.mark.parametrize("off", ["user_data", "chat_data", "bot_data", "callback_data"])
def test_enabled_follows_the_persistence_input(off: str) -> None:
    store_data = PersistenceInput(**{off: False})
    assert {name for name, c in CATEGORIES.items() if not c.enabled(store_data)} == {off}


def test_conversations_are_always_enabled() -> None:
    nothing = PersistenceInput(
        bot_data=False, chat_data=False, user_data=False, callback_data=False
    )
    assert [name for name, c in CATEGORIES.items() if c.enabled(nothing)] == ["conversations"]
    assert all(category.enabled(PersistenceInput()) for category in CATEGORIES.values())


def test_where_names_an_entry_by_its_key() -> None:
    assert USER_DATA.where(123) == "user_data[123]"
    assert BOT_DATA.where("motd") == "bot_data['motd']"
    assert BOT_DATA.where(("a", 1)) == "bot_data[('a', 1)]"
    assert CONVERSATIONS.where(("checkout", (1, 2))) == "conversations['checkout'][(1, 2)]"
    assert CALLBACK_DATA.where(("keyboard", "kb-1")) == "callback_data['keyboard']['kb-1']"
    assert BOT_DATA.where(WHOLE) == "bot_data"


# ------------------------------------------------------------------------------------------ ids


@pytest.mark.parametrize(
    ("text", "number"),
    [("123", 123), ("-100123", -100123), ("0", 0), ("9223372036854775807", 2**63 - 1)],
)
def test_parse_id_accepts_integers_written_plainly(text: str, number: int) -> None:
    assert USER_DATA.parse_id(text, PATH) == number
    assert type(USER_DATA.parse_id(text, PATH)) is int


@pytest.mark.parametrize(
    "text",
    ["042", "+1", " 1", "1 ", "1e3", "1_000", "", "٣", "-0", "1.0", "0x1f", "one", "9" * 5000],
    ids=repr,
)
def test_parse_id_refuses_anything_else_naming_the_key(text: str) -> None:
    error = corrupt(lambda: CHAT_DATA.parse_id(text, PATH))
    assert isinstance(error, ValueError)
    assert error.where == f"chat_data[{text!r}]"
    assert error.file == PATH
    assert "written plainly" in error.reason


# -------------------------------------------------------------------------------- entry keys

KEYS: list[tuple[Category, Any, bytes | None, list[Any]]] = [
    (USER_DATA, 5, b"5", [5]),
    (USER_DATA, -1001234567890, b"-1001234567890", [-1001234567890]),
    (CHAT_DATA, 2**63 - 1, b"9223372036854775807", [2**63 - 1]),
    (CHAT_DATA, -(2**63), b"-9223372036854775808", [-(2**63)]),
    (CONVERSATIONS, ("checkout", (5, 5)), b'"checkout",[5,5]', ["checkout", [5, 5]]),
    (CONVERSATIONS, ("c", (-1, "x")), b'"c",[-1,"x"]', ["c", [-1, "x"]]),
    (CONVERSATIONS, ("", ()), b'"",[]', ["", []]),
    (BOT_DATA, "motd", b'"motd"', ["motd"]),
    (BOT_DATA, 42, b"42", [42]),
    (BOT_DATA, ("a", 1), b'{"$tuple":["a",1]}', [{"$tuple": ["a", 1]}]),
    (BOT_DATA, "$x", b'"$x"', ["$x"]),
    (BOT_DATA, 2**70, b'{"$int":"%d"}' % 2**70, [{"$int": str(2**70)}]),
    (BOT_DATA, WHOLE, None, []),
    (CALLBACK_DATA, ("keyboard", "kb-1"), b'"keyboard","kb-1"', ["keyboard", "kb-1"]),
    (CALLBACK_DATA, ("query", "q"), b'"query","q"', ["query", "q"]),
]


@pytest.mark.parametrize(("category", "key", "json", "parts"), KEYS, ids=repr)
def test_a_key_is_written_as_json_and_read_back(
    category: Category, key: Any, json: bytes | None, parts: list[Any]
) -> None:
    assert category.key_json(key, CODEC) == json
    read = category.key_of(parts, CODEC, PATH, "line 2")
    assert read == key
    assert type(read) is type(key)


BAD_KEYS: list[tuple[Category, list[Any], str]] = [
    (USER_DATA, [], "[id, value]"),
    (USER_DATA, ["5"], "[id, value]"),
    (USER_DATA, [5, 6], "[id, value]"),
    (USER_DATA, [2**63], "[id, value]"),
    (CHAT_DATA, [-(2**63) - 1], "[id, value]"),
    (CHAT_DATA, [1.0], "[id, value]"),
    (CHAT_DATA, [True], "[id, value]"),
    (CHAT_DATA, [None], "[id, value]"),
    (CONVERSATIONS, ["checkout"], "[handler name, [key parts], state]"),
    (CONVERSATIONS, ["checkout", [1.5]], "[handler name, [key parts], state]"),
    (CONVERSATIONS, ["checkout", [True]], "[handler name, [key parts], state]"),
    (CONVERSATIONS, ["checkout", [2**63]], "[handler name, [key parts], state]"),
    (CONVERSATIONS, [1, [1]], "[handler name, [key parts], state]"),
    (CONVERSATIONS, ["checkout", "5,5"], "[handler name, [key parts], state]"),
    (BOT_DATA, ["a", "b"], "[key, value]"),
    (BOT_DATA, [[1]], "must be hashable, not a list"),
    (BOT_DATA, [{"a": 1}], "must be hashable, not a dict"),
    (BOT_DATA, [{"$set": [1]}], "must be hashable, not a set"),
    (CALLBACK_DATA, ["keyboard"], '["keyboard", id, [time, buttons]]'),
    (CALLBACK_DATA, ["kb", "x"], '["keyboard", id, [time, buttons]]'),
    (CALLBACK_DATA, ["query", 5], '["query", id, keyboard id]'),
    (CALLBACK_DATA, [], '["keyboard", id, [time, buttons]]'),
]


@pytest.mark.parametrize(("category", "parts", "reason"), BAD_KEYS, ids=repr)
def test_a_key_of_the_wrong_shape_is_refused_naming_the_line(
    category: Category, parts: list[Any], reason: str
) -> None:
    error = corrupt(lambda: category.key_of(parts, CODEC, PATH, "line 7"))
    assert isinstance(error, ValueError)
    assert error.file == PATH
    assert error.where.startswith("line 7")
    assert reason in error.reason


def test_a_bot_data_key_that_does_not_decode_names_its_line() -> None:
    error = corrupt(lambda: BOT_DATA.key_of([{"$nope": 1}], CODEC, PATH, "line 4"))
    assert error.file == PATH
    assert error.where.startswith("line 4 key")


@pytest.mark.parametrize("category", [USER_DATA, CHAT_DATA], ids=repr)
def test_a_value_category_splits_entries_one_per_id(category: Category) -> None:
    value = {5: {"a": 1}, -7: {}}
    split = category.split(value)
    assert split == value
    assert split is not value


def test_conversations_split_into_one_entry_per_conversation() -> None:
    handlers = {"checkout": {(5, 5): 1, (42, 42): "ASK"}, "settings": {(5, 5): None}, "e": {}}
    entries = CONVERSATIONS.split(handlers)
    assert entries == {
        ("checkout", (5, 5)): 1,
        ("checkout", (42, 42)): "ASK",
        ("settings", (5, 5)): None,
    }
    # and they assemble back (a handler without conversations has no line to come back from)
    assert CONVERSATIONS.assemble(entries, PLAIN, PATH) == {
        "checkout": {(5, 5): 1, (42, 42): "ASK"},
        "settings": {(5, 5): None},
    }


def test_bot_data_splits_into_its_keys() -> None:
    value = {"b": 1, ("a", 1): {"x": (1,)}, 7: None}
    assert BOT_DATA.split(value) == value


@pytest.mark.parametrize("value", [[1, 2], 5, None, "x", (1,)], ids=repr)
def test_a_bot_data_that_is_not_a_dict_is_one_whole_entry(value: Any) -> None:
    split = BOT_DATA.split(value)
    assert list(split) == [WHOLE]
    assert split[WHOLE] is value


def test_callback_data_splits_into_a_line_per_keyboard_and_query_in_ptbs_order() -> None:
    value = (
        [("kb-2", 2.5, {"b": 1}), ("kb-1", 1.5, {})],
        {"q2": "kb-1", "q1": "kb-2"},
    )
    split = CALLBACK_DATA.split(value)
    assert list(split.items()) == [
        (("keyboard", "kb-2"), [2.5, {"b": 1}]),
        (("keyboard", "kb-1"), [1.5, {}]),
        (("query", "q2"), "kb-1"),
        (("query", "q1"), "kb-2"),
    ]
    assert CALLBACK_DATA.assemble(split, PLAIN, PATH) == value


# ------------------------------------------------------------------------------------ ordering


@pytest.mark.parametrize("category", [USER_DATA, CHAT_DATA], ids=repr)
def test_ids_are_sorted_numerically(category: Category) -> None:
    ids = [10, 2, -5, 0, -100123, 2**63 - 1, -(2**63)]
    assert category.sort(ids, CODEC) == [-(2**63), -100123, -5, 0, 2, 10, 2**63 - 1]
    assert category.sorted


def test_conversations_sort_by_handler_then_key_ints_numerically_before_strs() -> None:
    keys = [
        ("b", (1,)),
        ("a", (10,)),
        ("a", ("x",)),
        ("a", (2, "y")),
        ("a", (2, 1)),
        ("a", (2,)),
        ("a", (-3, 5)),
        ("a", ("10",)),
    ]
    # Keys of ints only first, as numbers (PTB's usual keys: compared without building a sort
    # key per part, which halved a load of 100,000 conversations), then keys with a str part.
    assert CONVERSATIONS.sort(keys, CODEC) == [
        ("a", (-3, 5)),
        ("a", (2,)),
        ("a", (2, 1)),
        ("a", (10,)),
        ("a", (2, "y")),
        ("a", ("10",)),
        ("a", ("x",)),
        ("b", (1,)),
    ]


def test_bot_data_keys_sort_ints_then_strs_then_others_by_their_json() -> None:
    keys = ["b", 10, ("a", 1), 2, "a", -3, "é", "B", "10", None, frozenset({1})]
    assert BOT_DATA.sort(keys, CODEC) == [
        -3,
        2,
        10,
        "10",
        "B",
        "a",
        "b",
        "é",
        None,  # null
        frozenset({1}),  # {"$frozenset":[1]}
        ("a", 1),  # {"$tuple":["a",1]}
    ]


def test_a_whole_value_sorts_alone() -> None:
    assert BOT_DATA.sort([WHOLE], CODEC) == [WHOLE]


def test_callback_data_keeps_ptbs_order() -> None:
    keys = [("query", "b"), ("keyboard", "z"), ("keyboard", "a"), ("query", "a")]
    assert not CALLBACK_DATA.sorted
    assert CALLBACK_DATA.sort(keys, CODEC) == keys


# ------------------------------------------------------------------------------------- entries


@pytest.mark.parametrize(
    ("category", "cls"), [(USER_DATA, UserDict), (CHAT_DATA, ChatDict)], ids=repr
)
def test_an_entry_gets_the_context_types_class(category: Category, cls: type) -> None:
    value = {"a": 1, 2: (3,)}
    entry = category.entry(value, CUSTOM, PATH, 5)
    assert type(entry) is cls
    assert entry == value
    assert category.plain_class(CUSTOM) is None


def test_an_entry_of_the_right_class_is_kept_as_it_is() -> None:
    value = UserDict(a=1)
    assert USER_DATA.entry(value, CUSTOM, PATH, 5) is value
    plain = {"a": 1}
    assert USER_DATA.entry(plain, PLAIN, PATH, 5) is plain
    assert USER_DATA.plain_class(PLAIN) is dict


@pytest.mark.parametrize("value", [[1], "x", 5, None, ChatDict()], ids=repr)
def test_an_entry_of_the_wrong_class_is_refused(value: Any) -> None:
    error = corrupt(lambda: USER_DATA.entry(value, CUSTOM, PATH, 5))
    assert error.where == "user_data[5]"
    assert error.file == PATH
    assert "expected a UserDict" in error.reason
    assert type(value).__qualname__ in error.reason


def test_a_plain_user_entry_must_be_a_dict() -> None:
    error = corrupt(lambda: CHAT_DATA.entry([1], PLAIN, PATH, -100))
    assert error.where == "chat_data[-100]"
    assert "expected a dict, found a list" in error.reason


def test_a_conversation_state_is_kept_as_it_is() -> None:
    for state in ("ASK", 1, None, (1, 2), {"step": [1]}):
        assert CONVERSATIONS.entry(state, PLAIN, PATH, ("checkout", (1, 2))) is state
    assert CONVERSATIONS.plain_class(CUSTOM) is None


@pytest.mark.parametrize(
    "key",
    [
        ("checkout", [1, 2]),
        ("checkout", (1.5,)),
        ("checkout", (2**63,)),
        (5, (1,)),
        ("c", (True,)),
    ],
    ids=repr,
)
def test_a_conversation_key_the_file_cannot_hold_is_refused_when_saved(key: Any) -> None:
    with pytest.raises(UnsupportedTypeError) as raised:
        CONVERSATIONS.storable("ASK", PLAIN, key)
    assert raised.value.where == CONVERSATIONS.where(key)
    assert CONVERSATIONS.storable("ASK", PLAIN, ("checkout", (1, "x"))) == "ASK"


# --------------------------------------------------------------------------- assembling values


def test_empty_bot_data_is_a_new_bot_data() -> None:
    made = BOT_DATA.assemble({}, PLAIN, PATH)
    assert made == {}
    assert type(made) is dict
    custom = BOT_DATA.assemble({}, CUSTOM, PATH)
    assert type(custom) is BotDict
    assert custom == {}


def test_bot_data_members_make_a_dict() -> None:
    values = {"a": 1, "b": (2,)}
    made = BOT_DATA.assemble(values, PLAIN, PATH)
    assert made == {"a": 1, "b": (2,)}
    assert type(made) is dict
    custom = BOT_DATA.assemble(dict(values), CUSTOM, PATH)
    assert type(custom) is BotDict
    assert custom == values


def test_whole_bot_data_is_the_value() -> None:
    value = {1: "int key", "$x": 2}
    assert BOT_DATA.assemble({WHOLE: value}, PLAIN, PATH) is value


def test_whole_bot_data_of_another_class_is_refused() -> None:
    error = corrupt(lambda: BOT_DATA.assemble({WHOLE: [1, 2]}, PLAIN, PATH))
    assert error.where == "bot_data"
    assert error.file == PATH


def test_no_callback_data_file_is_none_an_empty_one_an_empty_cache() -> None:
    assert CALLBACK_DATA.assemble({}, PLAIN, PATH, present=False) is None
    assert CALLBACK_DATA.assemble({}, PLAIN, PATH) == ([], {})


def test_callback_data_is_keyboards_and_queries() -> None:
    values = {("keyboard", "kb-1"): [1700000000, {"btn": (1, 2)}], ("query", "q"): "kb-1"}
    keyboards, queries = CALLBACK_DATA.assemble(values, PLAIN, PATH)
    assert keyboards == [("kb-1", 1700000000.0, {"btn": (1, 2)})]
    keyboard = keyboards[0]
    assert type(keyboard) is tuple
    assert [type(part) for part in keyboard] == [str, float, dict]
    assert queries == {"q": "kb-1"}
    assert type(queries) is dict


KB = ("keyboard", "kb")


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({KB: [1.5]}, "['keyboard']['kb']"),
        ({KB: [1.5, {}, "extra"]}, "['keyboard']['kb']"),
        ({KB: "x"}, "['keyboard']['kb']"),
        ({KB: None}, "['keyboard']['kb']"),
        ({KB: ["not a time", {}]}, "['keyboards'][0][1]"),
        ({KB: [None, {}]}, "['keyboards'][0][1]"),
        ({KB: [10**400, {}]}, "['keyboards'][0][1]"),
        ({KB: [1.5, 5]}, "['keyboards'][0][2]"),
        # Once turned into PTB's shape silently (a bool as a time, a list of pairs as a dict):
        ({KB: [True, {}]}, "['keyboards'][0][1]"),
        ({KB: [1.5, [["b", 1]]]}, "['keyboards'][0][2]"),
        ({KB: [1.5, {1: "b"}]}, "['keyboards'][0][2]"),
        ({("query", "q"): 5}, "['queries']"),
        ({("query", "q"): ["kb"]}, "['queries']"),
    ],
    ids=repr,
)
def test_malformed_callback_data_is_refused(values: dict[Any, Any], where: str) -> None:
    error = corrupt(lambda: CALLBACK_DATA.assemble(values, PLAIN, PATH))
    assert error.where == "callback_data" + where
    assert error.file == PATH
    assert error.reason


@pytest.mark.parametrize(
    "value",
    [
        "x",
        (),
        ([("kb", "not a float", {})], {}),
        ([("kb", 1.5)], {}),
        ([(7, 1.5, {})], {}),
        ([("kb", 1.5, {1: "b"})], {}),
        ([], {"q": 5}),
        ([], [("q", "kb")]),
    ],
    ids=repr,
)
def test_callback_data_of_another_shape_is_refused_when_saved(value: Any) -> None:
    with pytest.raises(UnsupportedTypeError) as raised:
        CALLBACK_DATA.storable(value, PLAIN, WHOLE)
    assert raised.value.where.startswith("callback_data")


@pytest.mark.parametrize("category", [USER_DATA, CHAT_DATA], ids=repr)
def test_user_and_chat_values_are_assembled_as_they_are(category: Category) -> None:
    values = {1: {"a": 1}}
    assert category.assemble(values, PLAIN, PATH) is values


# ----------------------------------------------------------------------------------- saving


@pytest.mark.parametrize(
    ("category", "value"),
    [(USER_DATA, UserDict(a=1)), (CHAT_DATA, ChatDict(a=1)), (BOT_DATA, BotDict(a=1))],
    ids=repr,
)
def test_a_context_types_dict_is_stored_as_a_plain_dict(category: Category, value: Any) -> None:
    stored = category.storable(value, CUSTOM, 1)
    assert type(stored) is dict
    assert stored == {"a": 1}


def test_a_plain_dict_is_handed_on_unchanged() -> None:
    plain = {"a": 1}  # it loads back as the context_types class
    assert USER_DATA.storable(plain, CUSTOM, 1) is plain
    assert BOT_DATA.storable(plain, CUSTOM, WHOLE) is plain


@pytest.mark.parametrize(
    ("category", "value", "where"),
    [
        (USER_DATA, ChatDict(a=1), "user_data[1]"),
        (USER_DATA, 1, "user_data[1]"),
        (CHAT_DATA, "x", "chat_data[1]"),
        (BOT_DATA, 5, "bot_data"),
        (BOT_DATA, [1], "bot_data"),
    ],
    ids=repr,
)
def test_a_value_of_another_class_is_refused_when_saved(
    category: Category, value: Any, where: str
) -> None:
    # Stored, it would make the whole category fail to load at the next start.
    with pytest.raises(UnsupportedTypeError) as raised:
        category.storable(value, CUSTOM, 1 if category.keyed else WHOLE)
    assert raised.value.where == where


def test_callback_data_is_stored_as_its_two_parts_and_reads_back() -> None:
    value = ([("kb-1", 1.5, {"btn": (1, 2)})], {"q": "kb-1"})
    stored = CALLBACK_DATA.storable(value, PLAIN, WHOLE)
    assert stored == value
    assert CALLBACK_DATA.assemble(CALLBACK_DATA.split(stored), PLAIN, PATH) == value


def test_conversation_entries_are_independent_of_the_live_handler() -> None:
    # A round encodes the conversations PTB handed over one by one: a later change to the
    # handler's dict touches no entry already split out.
    live = {"checkout": {(1, 2): "ASK"}}
    entries = CONVERSATIONS.split(live)
    live["checkout"][(3, 4)] = "DONE"
    live["checkout"][(1, 2)] = "CHANGED"
    assert entries == {("checkout", (1, 2)): "ASK"}
