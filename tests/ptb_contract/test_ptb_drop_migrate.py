"""``Application.drop_user_data``, ``drop_chat_data`` and ``migrate_chat_data`` reach the store.

PTB turns them into ``drop_*`` and ``update_chat_data`` calls at the next
``update_persistence()``; what they removed must stay removed after a restart, and what they
moved must be found under the new id. Each test runs on the files and on PostgreSQL.
"""

from __future__ import annotations

from contract_app import Harness, remembering
from contract_backends import Backend


async def three_users_in_three_chats(backend: Backend) -> None:
    harness = Harness(backend.make(), [remembering()])
    async with harness.app:
        for user, chat in ((1, -1), (2, -2), (3, -3)):
            await harness.say(f"from {user}", user=user, chat=chat)
    assert harness.errors == []


async def test_dropped_user_data_stays_dropped_after_a_restart(backend: Backend) -> None:
    await three_users_in_three_chats(backend)
    persistence = backend.counting()
    harness = Harness(persistence, [remembering()])
    async with harness.app:
        harness.app.drop_user_data(2)
        assert (await backend.stored())["user_data"].keys() == {1, 2, 3}  # not before the run
        await harness.app.update_persistence()
        assert persistence.first_args("drop_user_data") == [2]
        assert persistence.count("update_user_data") == 0
        saved = await backend.stored()
        assert saved["user_data"] == {1: {"said": ["from 1"]}, 3: {"said": ["from 3"]}}
        assert saved["chat_data"].keys() == {-1, -2, -3}  # the user's chat keeps its data

    again = Harness(backend.make(), [remembering()])
    async with again.app:
        assert set(again.app.user_data) == {1, 3}
        await again.say("back", user=2, chat=-2)
    assert (await backend.stored())["user_data"][2] == {"said": ["back"]}  # starts afresh
    assert harness.errors == again.errors == []


async def test_dropped_chat_data_stays_dropped_after_a_restart(backend: Backend) -> None:
    await three_users_in_three_chats(backend)
    persistence = backend.counting()
    harness = Harness(persistence, [remembering()])
    async with harness.app:
        harness.app.drop_chat_data(-1)
        harness.app.drop_chat_data(-3)
        await harness.app.update_persistence()
        assert sorted(persistence.first_args("drop_chat_data")) == [-3, -1]
        saved = await backend.stored()
        assert saved["chat_data"] == {-2: {"last": "from 2"}}
        assert saved["user_data"].keys() == {1, 2, 3}

    again = Harness(backend.make(), [remembering()])
    async with again.app:
        assert set(again.app.chat_data) == {-2}
    assert harness.errors == again.errors == []


async def test_dropping_an_unknown_id_changes_no_file(backend: Backend) -> None:
    await three_users_in_three_chats(backend)
    persistence = backend.counting()
    harness = Harness(persistence, [remembering()])
    async with harness.app:
        before = await backend.snapshot()
        harness.app.drop_user_data(404)
        harness.app.drop_chat_data(-404)
        await harness.app.update_persistence()
        assert persistence.first_args("drop_user_data") == [404]
        assert persistence.first_args("drop_chat_data") == [-404]
        assert await backend.snapshot() == before
    assert harness.errors == []


async def test_migrated_chat_data_is_found_under_the_new_id(backend: Backend) -> None:
    await three_users_in_three_chats(backend)
    persistence = backend.counting()
    harness = Harness(persistence, [remembering()])
    async with harness.app:
        # -2 already holds data: PTB overwrites it with -1's.
        harness.app.migrate_chat_data(old_chat_id=-1, new_chat_id=-2)
        await harness.app.update_persistence()
        assert persistence.first_args("drop_chat_data") == [-1]
        assert persistence.first_args("update_chat_data") == [-2]
        saved = await backend.stored()
        assert saved["chat_data"] == {-2: {"last": "from 1"}, -3: {"last": "from 3"}}

        # To an id that had nothing, in the same round as other changes.
        harness.app.migrate_chat_data(old_chat_id=-3, new_chat_id=-1003)
        await harness.say("more", user=1, chat=-1003)
        await harness.app.update_persistence()

    again = Harness(backend.make(), [remembering()])
    async with again.app:
        assert dict(again.app.chat_data) == {-2: {"last": "from 1"}, -1003: {"last": "more"}}
        assert again.app.user_data[1] == {"said": ["from 1", "more"]}
    assert harness.errors == again.errors == []
