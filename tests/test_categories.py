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
from jsonpersist._format import WHOLE

PATH = Path("/state/some.json")
PLAIN = ContextTypes()


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
    assert CONVERSATIONS.where("checkout") == "conversations['checkout']"
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


def test_members_of_user_data_on_the_fast_path() -> None:
    members = USER_DATA.members({"5": {"a": 1}, "-7": {}}, PATH, strict=False)
    assert members == {5: {"a": 1}, -7: {}}
    assert all(type(key) is int for key in members)


def test_the_fast_path_is_lenient_about_ids_strict_is_not() -> None:
    # The fast path folds "01" into 1; such a file never renders back to its bytes, so the
    # loader goes on to the strict path, which refuses it.
    data = {"1": "a", "01": "b"}
    assert USER_DATA.members(data, PATH, strict=False) == {1: "b"}
    error = corrupt(lambda: USER_DATA.members(data, PATH))
    assert error.where == "user_data['01']"
    assert error.file == PATH


def test_the_fast_path_falls_back_to_strict_for_a_key_int_cannot_read() -> None:
    error = corrupt(lambda: USER_DATA.members({"1": {}, "x": {}}, PATH, strict=False))
    assert error.where == "user_data['x']"


@pytest.mark.parametrize("category", [USER_DATA, CHAT_DATA, CONVERSATIONS], ids=repr)
@pytest.mark.parametrize("data", [[], "x", 1, None], ids=repr)
@pytest.mark.parametrize("strict", [True, False])
def test_keyed_data_must_be_an_object(category: Category, data: Any, strict: bool) -> None:
    error = corrupt(lambda: category.members(data, PATH, strict=strict))
    assert error.reason == '"data" must be an object'
    assert error.file == PATH


def test_conversation_members_are_the_handlers_by_name() -> None:
    data = {"checkout": {"$dict": []}, "1": {}}
    members = CONVERSATIONS.members(data, PATH)
    assert members == data
    assert members is not data


@pytest.mark.parametrize("category", [BOT_DATA, CALLBACK_DATA], ids=repr)
def test_a_plain_value_is_split_into_its_members(category: Category) -> None:
    data = {"b": 1, "a": {"$tuple": [1]}}
    members = category.members(data, PATH)
    assert members == data
    assert members is not data


@pytest.mark.parametrize(
    "data", [{"$dict": [[1, "a"]]}, {"a": 1, "$": {}}, [1, 2], 5, None, "x"], ids=repr
)
def test_a_value_that_is_not_a_plain_object_stays_whole(data: Any) -> None:
    members = BOT_DATA.members(data, PATH)
    assert list(members) == [WHOLE]
    assert members[WHOLE] is data


# ------------------------------------------------------------------------------------ ordering


@pytest.mark.parametrize("category", [USER_DATA, CHAT_DATA], ids=repr)
def test_ids_are_sorted_numerically(category: Category) -> None:
    assert category.sort([10, 2, -5, 0, -100123, 2**64]) == [-100123, -5, 0, 2, 10, 2**64]


@pytest.mark.parametrize("category", [BOT_DATA, CALLBACK_DATA, CONVERSATIONS], ids=repr)
def test_other_keys_are_sorted_as_text(category: Category) -> None:
    assert category.sort(["b", "a", "10", "2", "B", "é"]) == ["10", "2", "B", "a", "b", "é"]


def test_a_whole_value_sorts_alone() -> None:
    assert BOT_DATA.sort([WHOLE]) == [WHOLE]


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


def test_a_handlers_conversations_must_be_a_dict() -> None:
    states = {(1, 2): "ASK"}
    assert CONVERSATIONS.entry(states, PLAIN, PATH, "checkout") is states
    assert CONVERSATIONS.plain_class(CUSTOM) is dict
    for value in ([1], "state", None, UserDict()):
        error = corrupt(lambda value=value: CONVERSATIONS.entry(value, PLAIN, PATH, "checkout"))
        assert error.where == "conversations['checkout']"
        assert error.file == PATH


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


def test_no_callback_data_is_none() -> None:
    assert CALLBACK_DATA.assemble({}, PLAIN, PATH) is None


def test_callback_data_is_keyboards_and_queries() -> None:
    values = {"keyboards": [["kb-1", 1700000000, {"btn": (1, 2)}]], "queries": {"q": "kb-1"}}
    keyboards, queries = CALLBACK_DATA.assemble(values, PLAIN, PATH)
    assert keyboards == [("kb-1", 1700000000.0, {"btn": (1, 2)})]
    keyboard = keyboards[0]
    assert type(keyboard) is tuple
    assert [type(part) for part in keyboard] == [str, float, dict]
    assert queries == {"q": "kb-1"}
    assert type(queries) is dict


def test_callback_data_laid_out_whole_is_read_the_same() -> None:
    values = {"keyboards": [], "queries": {}}
    assert CALLBACK_DATA.assemble({WHOLE: values}, PLAIN, PATH) == ([], {})


@pytest.mark.parametrize(
    "values",
    [
        {"keyboards": []},
        {"queries": {}},
        {"keyboards": [["kb", "not a time", {}]], "queries": {}},
        {"keyboards": [["kb", 1.5]], "queries": {}},
        {"keyboards": [["kb", 1.5, {}, "extra"]], "queries": {}},
        {"keyboards": [["kb", 1.5, 5]], "queries": {}},
        {"keyboards": [["kb", None, {}]], "queries": {}},
        {"keyboards": 5, "queries": {}},
        {"keyboards": [], "queries": "ab"},
        {"keyboards": [], "queries": 7},
        {WHOLE: [1, 2]},
        {WHOLE: 5},
        # Once turned into PTB's shape silently (str() of an id, a list of pairs as a dict),
        # or kept and then dropped on the next save (an extra key):
        {"keyboards": [[7, 1.5, {}]], "queries": {}},
        {"keyboards": [["kb", True, {}]], "queries": {}},
        {"keyboards": [["kb", 1.5, [["b", 1]]]], "queries": {}},
        {"keyboards": [], "queries": [["q", "kb"]]},
        {"keyboards": [], "queries": {"q": 5}},
        {"keyboards": [], "queries": {}, "extra": 1},
    ],
    ids=repr,
)
def test_malformed_callback_data_is_refused(values: dict[Any, Any]) -> None:
    error = corrupt(lambda: CALLBACK_DATA.assemble(values, PLAIN, PATH))
    assert error.where.startswith("callback_data")
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


@pytest.mark.parametrize("category", [USER_DATA, CHAT_DATA, CONVERSATIONS], ids=repr)
def test_keyed_values_are_assembled_as_they_are(category: Category) -> None:
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


def test_callback_data_is_stored_as_an_object_of_its_two_parts() -> None:
    value = ([("kb-1", 1.5, {"btn": (1, 2)})], {"q": "kb-1"})
    stored = CALLBACK_DATA.storable(value, PLAIN, WHOLE)
    assert stored == {"keyboards": [["kb-1", 1.5, {"btn": (1, 2)}]], "queries": {"q": "kb-1"}}
    assert type(stored["keyboards"][0]) is list
    # and it reads back as PTB handed it over
    assert CALLBACK_DATA.assemble(stored, PLAIN, PATH) == value


def test_a_handlers_live_states_are_copied_when_staged() -> None:
    live = {(1, 2): "ASK"}
    staged = CONVERSATIONS.staged(live)
    live[(3, 4)] = "DONE"
    live[(1, 2)] = "CHANGED"
    assert staged == {(1, 2): "ASK"}
    assert staged is not live


@pytest.mark.parametrize("category", [USER_DATA, BOT_DATA, CALLBACK_DATA], ids=repr)
def test_other_values_are_staged_as_they_are(category: Category) -> None:
    value = {"a": 1}
    assert category.staged(value) is value
