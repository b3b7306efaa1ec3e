"""Where jsonpersist differs from PTB's own persistences, by design.

Each test shows jsonpersist's behaviour and, beside it, what PTB's ``PicklePersistence`` or
``DictPersistence`` does in the same situation, so that the difference is a fact, not a claim.
``docs/how-it-works.md`` ("Differences from PTB's persistences") lists them by test name.
jsonpersist's side runs on the files and on PostgreSQL, but where it looks at the files or at
``DictPersistence``'s attributes, which ``PostgresPersistence`` does not have.
"""

from __future__ import annotations

import asyncio
import enum
from pathlib import Path
from typing import Any

import pytest
from contract_app import CHAT, USER, Harness, steps
from contract_backends import CATEGORIES, Backend
from telegram.ext import DictPersistence, PersistenceInput, PicklePersistence

from jsonpersist import (
    CorruptStateError,
    JsonPersistence,
    StateLockedError,
    TypeRegistry,
    UnsupportedTypeError,
)

KEY = (CHAT, USER)
NOT_DATA = b"this is neither JSON nor a pickle"


def pickle_persistence(directory: Path, **kwargs: Any) -> PicklePersistence[Any, Any, Any]:
    return PicklePersistence(directory / "bot.pickle", **kwargs)


async def test_an_ended_conversation_is_removed_where_pickle_keeps_none(tmp_path: Path) -> None:
    async def run(persistence: Any) -> None:
        harness = Harness(persistence, [steps("alpha", last=1)])
        async with harness.app:
            await harness.say("/alpha")
            await harness.app.update_persistence()
            await harness.say("alpha")  # ends it: PTB hands over None
        assert harness.errors == []

    await run(JsonPersistence(tmp_path / "json"))
    ours: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path / "json")
    assert await ours.get_conversations("alpha") == {}
    raw = (tmp_path / "json" / "conversations.json").read_bytes()
    assert b"null" not in raw
    assert raw == b'[{"jsonpersist":2,"category":"conversations"}\n]\n'  # its line is gone
    await ours.flush()

    await run(pickle_persistence(tmp_path))
    assert await pickle_persistence(tmp_path).get_conversations("alpha") == {KEY: None}

    theirs = DictPersistence()
    await theirs.update_conversation("alpha", KEY, 1)
    await theirs.update_conversation("alpha", KEY, None)
    assert await theirs.get_conversations("alpha") == {KEY: None}


@pytest.mark.parametrize("category", CATEGORIES)
async def test_an_unreadable_file_is_a_value_error_where_ptb_raises_type_error(
    backend: Backend, tmp_path: Path, category: str
) -> None:
    await backend.plant(category)  # the file, or a row, does not load
    planted = await backend.raw(category)
    ours = backend.make()
    with pytest.raises(CorruptStateError) as raised:
        await getattr(ours, f"get_{category}")()
    assert isinstance(raised.value, ValueError)
    assert not isinstance(raised.value, TypeError)
    assert category in str(raised.value)
    assert await backend.raw(category) == planted
    await ours.flush()  # releases the store

    # A real Application does not start on it either.
    harness = Harness(backend.make(), [])
    with pytest.raises(CorruptStateError):
        await harness.app.initialize()
    assert await backend.raw(category) == planted

    (tmp_path / f"bot.pickle_{category}").write_bytes(NOT_DATA)
    pickled = pickle_persistence(tmp_path, single_file=False)
    with pytest.raises(TypeError):
        await getattr(pickled, f"get_{category}")()
    with pytest.raises(TypeError):
        DictPersistence(**{f"{category}_json": NOT_DATA.decode()})


async def test_dict_keys_come_back_sorted_where_pickle_keeps_their_order(
    backend: Backend, tmp_path: Path
) -> None:
    data = {"zebra": 1, "apple": 2, "fig": 3}
    for persistence in (backend.make(), pickle_persistence(tmp_path)):
        await persistence.get_user_data()
        await persistence.update_user_data(USER, dict(data))
        await persistence.flush()
    ours = (await backend.stored())["user_data"][USER]
    pickled = (await pickle_persistence(tmp_path).get_user_data())[USER]
    assert ours == pickled == data
    assert list(pickled) == ["zebra", "apple", "fig"]
    assert list(ours) == ["apple", "fig", "zebra"]


async def test_json_attributes_before_loading_load_where_dict_persistence_has_null(
    tmp_path: Path,
) -> None:
    ours: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    assert ours.user_data is None
    assert ours.conversations is None
    assert [ours.user_data_json, ours.chat_data_json, ours.bot_data_json] == ["{}"] * 3
    assert ours.conversations_json == "{}"
    assert ours.callback_data_json == "null"
    # DictPersistence says "null", which it cannot load again itself.
    theirs = DictPersistence()
    assert theirs.user_data_json == "null"
    assert theirs.callback_data_json == "null"
    with pytest.raises(TypeError):
        DictPersistence(user_data_json=theirs.user_data_json)
    assert DictPersistence(user_data_json=ours.user_data_json).user_data == {}


async def test_json_attributes_hold_tags_where_dict_persistence_loses_types(
    tmp_path: Path,
) -> None:
    data = {"pair": (1, 2), "nested": {1: "int key"}}
    ours: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    await ours.get_user_data()
    await ours.update_user_data(USER, data)
    loaded = DictPersistence(user_data_json=ours.user_data_json).user_data
    assert loaded is not None
    assert loaded[USER]["pair"] == {"$tuple": [1, 2]}
    assert ours.codec.decode(loaded[USER]) == data
    await ours.flush()

    theirs = DictPersistence()
    await theirs.update_user_data(USER, data)
    assert DictPersistence(user_data_json=theirs.user_data_json).user_data == {
        USER: {"pair": [1, 2], "nested": {"1": "int key"}}
    }


async def test_ids_and_keys_come_back_sorted_where_pickle_keeps_their_order(
    backend: Backend, tmp_path: Path
) -> None:
    for persistence in (backend.make(), pickle_persistence(tmp_path)):
        await persistence.get_user_data()
        await persistence.get_bot_data()
        await persistence.get_conversations("alpha")
        await asyncio.gather(
            *(persistence.update_user_data(user, {}) for user in (30, 4, -200)),
            persistence.update_bot_data({"zz": 1, "b": 2, 10: 3, 2: 4}),
            *(
                persistence.update_conversation("alpha", key, 1)
                for key in ((10, 2), (9, 30), (100, "x"))
            ),
        )
        await persistence.flush()
    ours = await backend.stored("alpha")
    pickled = pickle_persistence(tmp_path)
    assert list(await pickled.get_user_data()) == [30, 4, -200]
    assert list(await pickled.get_bot_data()) == ["zz", "b", 10, 2]
    assert list(await pickled.get_conversations("alpha")) == [(10, 2), (9, 30), (100, "x")]
    assert list(ours["user_data"]) == [-200, 4, 30]
    assert list(ours["bot_data"]) == [2, 10, "b", "zz"]
    assert list(ours["conversations"]["alpha"]) == [(9, 30), (10, 2), (100, "x")]


class Step(enum.IntEnum):
    """Conversation states as PTB's own tests write them."""

    ONE = 1
    TWO = 2


async def test_an_unregistered_enum_state_is_refused_where_pickle_stores_it(
    backend: Backend, tmp_path: Path
) -> None:
    def handlers() -> list[Any]:
        return [steps("alpha", last=2, state=Step)]

    harness = Harness(backend.make(), handlers())
    async with harness.app:
        await harness.say("/alpha")
        await harness.app.update_persistence()
        assert [type(error) for error in harness.errors] == [UnsupportedTypeError]
        assert "Step" in str(harness.errors[0])
    # Never stored in a good version:
    assert (await backend.stored("alpha"))["conversations"] == {"alpha": {}}

    types = TypeRegistry()
    types.register_enum(Step)
    store = backend.other("registered")
    registered = Harness(store.make(types=types), handlers())
    async with registered.app:
        await registered.say("/alpha")
        await registered.say("alpha")
    again = Harness(store.make(types=types), handlers())
    async with again.app:
        pass
    state = (await store.stored("alpha", types=types))["conversations"]["alpha"][KEY]
    assert state is Step.TWO
    assert registered.errors == again.errors == []

    pickled = pickle_persistence(tmp_path)
    await pickled.get_conversations("alpha")
    await pickled.update_conversation("alpha", KEY, Step.TWO)
    assert (await pickle_persistence(tmp_path).get_conversations("alpha"))[KEY] is Step.TWO


async def test_a_disabled_category_is_inert_where_pickle_reads_and_writes_it(
    backend: Backend, tmp_path: Path
) -> None:
    no_users = PersistenceInput(user_data=False)
    for persistence in (
        backend.make(store_data=no_users),
        pickle_persistence(tmp_path, store_data=no_users, single_file=False),
    ):
        await persistence.update_user_data(1, {"a": 1})
        await persistence.flush()
    assert "user_data" not in await backend.categories()
    assert (tmp_path / "bot.pickle_user_data").exists()

    await backend.plant("user_data")
    ours = backend.make(store_data=no_users)
    assert await ours.get_user_data() == {}
    await ours.flush()
    pickled = pickle_persistence(tmp_path, store_data=no_users, single_file=False)
    assert await pickled.get_user_data() == {1: {"a": 1}}


async def test_a_keyboard_time_comes_back_a_float_where_pickle_keeps_an_int(
    backend: Backend, tmp_path: Path
) -> None:
    # PTB's own tests store the time 1000; the cache itself always writes time.time().
    data = ([("kb", 1000, {"b": "x"})], {"q": "kb"})
    for persistence in (backend.make(), pickle_persistence(tmp_path)):
        await persistence.get_callback_data()
        await persistence.update_callback_data(data)  # type: ignore[arg-type]
        await persistence.flush()
    ours = (await backend.stored())["callback_data"]
    pickled = await pickle_persistence(tmp_path).get_callback_data()
    assert ours == pickled == data
    assert ours is not None
    assert pickled is not None
    assert type(ours[0][0][1]) is float
    assert type(pickled[0][0][1]) is int


async def test_a_value_of_the_wrong_shape_is_refused_where_pickle_stores_it(
    backend: Backend, tmp_path: Path
) -> None:
    ours = backend.make()
    await ours.get_user_data()
    with pytest.raises(UnsupportedTypeError):
        await ours.update_user_data(1, 1)
    await ours.flush()
    assert (await backend.stored())["user_data"] == {}

    pickled = pickle_persistence(tmp_path)
    await pickled.update_user_data(1, 1)  # as PTB's test_filepath_argument_types does
    assert (await pickle_persistence(tmp_path).get_user_data()) == {1: 1}


async def test_a_second_owner_is_refused_where_pickle_lets_both_write(
    backend: Backend, tmp_path: Path
) -> None:
    first = Harness(backend.make(), [steps("alpha")])
    second = Harness(backend.make(), [steps("alpha")])
    async with first.app:
        await first.say("/alpha")
        with pytest.raises(StateLockedError) as raised:
            await second.app.initialize()
        assert isinstance(raised.value, TimeoutError)
    assert (await backend.stored("alpha"))["conversations"] == {"alpha": {KEY: 1}}

    one, two = pickle_persistence(tmp_path), pickle_persistence(tmp_path)
    await one.get_user_data()
    await two.get_user_data()
    await one.update_user_data(1, {"from": "one"})
    await two.update_user_data(2, {"from": "two"})
    assert await pickle_persistence(tmp_path).get_user_data() == {2: {"from": "two"}}


async def test_a_persistence_used_again_reads_the_files_again_where_pickle_does_not(
    backend: Backend, tmp_path: Path
) -> None:
    async def used_twice(make: Any) -> dict[int, Any]:
        """One persistence saves and flushes, another one saves and flushes, the first one
        is used again: what does it see, and what does it leave on disk?
        """
        again = make()
        await again.get_user_data()
        await again.update_user_data(1, {"from": "first"})
        await again.flush()
        other = make()
        await other.get_user_data()
        await other.update_user_data(2, {"from": "other"})
        await other.flush()
        seen: dict[int, Any] = await again.get_user_data()
        await again.update_user_data(1, {"from": "first, again"})
        await again.flush()
        return seen

    seen = await used_twice(backend.make)
    assert seen == {1: {"from": "first"}, 2: {"from": "other"}}
    assert (await backend.stored())["user_data"] == {
        1: {"from": "first, again"},
        2: {"from": "other"},
    }

    seen = await used_twice(lambda: pickle_persistence(tmp_path))
    assert seen == {1: {"from": "first"}}
    assert await pickle_persistence(tmp_path).get_user_data() == {1: {"from": "first, again"}}
