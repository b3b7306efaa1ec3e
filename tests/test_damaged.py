"""Damaged state files: every truncation and 10,000 random byte mutations of real files.

Format version 2 (written by the persistence) gets every sweep; the version-1 files jsonpersist 1
wrote (kept as fixtures, still read) get every truncation.

Each load either succeeds with data of the right shape (that can be saved again) or raises
:class:`~jsonpersist.CorruptStateError` naming the file, never anything else; the file is never
rewritten, and an update of the damaged category raises instead of replacing it.

The representative files are written by the real persistence from values that use every kind
of tag (tuples, sets, int keys, big ints, bytes, datetimes with zones, Decimals, UUIDs,
Telegram objects with the bot placeholder, the ``$`` escape).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from damage import (
    CATEGORIES,
    CONVERSATION,
    MUTATIONS,
    getter,
    mutations,
    representative_values,
    v1_originals,
    write_state,
)
from doc_counts import figures

from jsonpersist import CorruptStateError, JsonPersistence


def updater(persistence: JsonPersistence, name: str) -> Coroutine[Any, Any, None]:
    """An ordinary update of the category, as the application would send it."""
    if name == "user_data":
        return persistence.update_user_data(7, {"new": 1})
    if name == "chat_data":
        return persistence.update_chat_data(-100123, {"new": 1})
    if name == "bot_data":
        return persistence.update_bot_data({"new": 1})
    if name == "callback_data":
        return persistence.update_callback_data(([("kb-2", 1.0, {"b": 1})], {}))
    return persistence.update_conversation(CONVERSATION, (7, 7), "NEW")


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return asyncio.run(write_state(tmp_path_factory.mktemp("originals")))


def test_the_representative_files_round_trip(originals: dict[str, bytes], tmp_path: Path) -> None:
    expected = representative_values()

    async def load() -> dict[str, Any]:
        for name, raw in originals.items():
            (tmp_path / f"{name}.json").write_bytes(raw)
        persistence = JsonPersistence(tmp_path, read_only=True)
        return {name: await getter(persistence, name)() for name in CATEGORIES}

    loaded = asyncio.run(load())
    expected["conversations"] = dict(expected["conversations"])
    assert loaded == expected
    assert all(100 < len(raw) < 3000 for raw in originals.values()), "keep the sweeps fast"
    assert all(raw.startswith(b'[{"jsonpersist":2,') for raw in originals.values())


# --------------------------------------------------------------------------- the checks


def check_shape(name: str, value: Any, persistence: JsonPersistence) -> None:
    """A successful load must give the application what it expects, and be storable again."""
    codec = persistence.codec
    if name in ("user_data", "chat_data"):
        assert type(value) is dict
        for key, entry in value.items():
            assert type(key) is int
            assert isinstance(entry, dict)
            codec.dumps(entry)
    elif name == "bot_data":
        assert isinstance(value, dict)
        codec.dumps(value)
    elif name == "callback_data":
        if value is not None:
            keyboards, queries = value
            for keyboard_id, stamp, buttons in keyboards:
                assert type(keyboard_id) is str
                assert type(stamp) is float
                assert type(buttons) is dict
            assert type(queries) is dict
            codec.dumps(value)
    else:
        assert type(value) is dict
        codec.dumps(value)


class Outcomes:
    """Counts the outcomes; any exception other than CorruptStateError fails the test."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []

    async def load(self, directory: Path, name: str, raw: bytes, label: str) -> bool:
        """Loads ``raw`` as the category's file (read-only); returns whether it loaded."""
        path = directory / f"{name}.json"
        path.write_bytes(raw)
        persistence = JsonPersistence(directory, read_only=True)
        try:
            value = await getter(persistence, name)()
        except CorruptStateError as exc:
            self.counts[f"{name}: CorruptStateError"] += 1
            if exc.file != path or str(path) not in str(exc):
                self.failures.append(f"{label}: the error does not name the file: {exc}")
            return False
        except Exception as exc:
            self.failures.append(f"{label}: {type(exc).__name__}: {exc}"[:300])
            return False
        else:
            self.counts[f"{name}: loaded"] += 1
            try:
                check_shape(name, value, persistence)
            except Exception as exc:
                self.failures.append(f"{label}: loaded a bad shape: {exc!r}"[:300])
            return True
        finally:
            if path.read_bytes() != raw:
                self.failures.append(f"{label}: the file was rewritten")

    async def refuse_update(self, directory: Path, name: str, raw: bytes, label: str) -> None:
        """With a writable persistence: a failed load is followed by a refused update."""
        directory.mkdir(exist_ok=True)
        path = directory / f"{name}.json"
        path.write_bytes(raw)
        persistence = JsonPersistence(directory)
        try:
            try:
                await getter(persistence, name)()
            except CorruptStateError:
                pass
            except Exception as exc:
                self.failures.append(f"{label}: {type(exc).__name__}: {exc}"[:300])
            else:
                return
            try:
                await updater(persistence, name)
            except CorruptStateError:
                self.counts[f"{name}: update refused"] += 1
            except Exception as exc:
                self.failures.append(f"{label}: the update raised {type(exc).__name__}: {exc}")
            else:
                self.failures.append(f"{label}: the update went through")
            if path.read_bytes() != raw:
                self.failures.append(f"{label}: the damaged file was replaced")
        finally:
            await persistence.flush()


# ---------------------------------------------------------------------------- the sweeps


@pytest.mark.parametrize("name", CATEGORIES)
async def test_every_truncation(name: str, originals: dict[str, bytes], tmp_path: Path) -> None:
    raw = originals[name]
    outcomes = Outcomes()
    loaded = []
    for size in range(len(raw)):
        if await outcomes.load(tmp_path, name, raw[:size], f"{name}[:{size}]"):
            loaded.append(size)
    # Only the file without its final newline is still a whole JSON document.
    assert loaded == [len(raw) - 1]
    sample = [size for size in range(0, len(raw), 7) if size != len(raw) - 1]
    for size in sample:
        await outcomes.refuse_update(tmp_path, name, raw[:size], f"{name}[:{size}]")
    assert outcomes.failures == []
    assert outcomes.counts[f"{name}: update refused"] == len(sample)


@pytest.mark.parametrize("name", CATEGORIES)
async def test_every_truncation_of_a_version_1_file(name: str, tmp_path: Path) -> None:
    raw = v1_originals()[name]
    assert raw.startswith(b'{\n  "jsonpersist": 1,')
    outcomes = Outcomes()
    loaded = [
        size
        for size in range(len(raw) + 1)
        if await outcomes.load(tmp_path, name, raw[:size], f"v1 {name}[:{size}]")
    ]
    assert loaded == [len(raw) - 1, len(raw)]
    sample = [size for size in range(0, len(raw), 7) if size != len(raw) - 1]
    for size in sample:
        await outcomes.refuse_update(tmp_path, name, raw[:size], f"v1 {name}[:{size}]")
    assert outcomes.failures == []
    assert outcomes.counts[f"{name}: update refused"] == len(sample)


async def test_random_mutations(originals: dict[str, bytes], tmp_path: Path) -> None:
    outcomes = Outcomes()
    started = time.perf_counter()
    for index, (name, raw) in enumerate(mutations(originals)):
        await outcomes.load(tmp_path, name, raw, f"mutation {index} of {name}")
    seconds = time.perf_counter() - started
    print(f"\n{MUTATIONS} mutations loaded in {seconds:.1f} s:")
    for outcome, count in sorted(outcomes.counts.items()):
        print(f"  {outcome}: {count}")
    assert outcomes.failures[:20] == [], "\n".join(outcomes.failures[:20])
    for name in CATEGORIES:  # the mutations do not just break the syntax
        assert outcomes.counts[f"{name}: loaded"] > 50
    # Seeded, so the same outcome at every run: docs/guarantees.md states it.
    refused = sum(outcomes.counts[f"{name}: CorruptStateError"] for name in CATEGORIES)
    loaded = sum(outcomes.counts[f"{name}: loaded"] for name in CATEGORIES)
    assert figures(r"# raise `CorruptStateError` naming the file, # load") == [refused, loaded]


@pytest.mark.parametrize("name", CATEGORIES)
async def test_random_mutations_are_never_overwritten(
    name: str, originals: dict[str, bytes], tmp_path: Path
) -> None:
    """Every 10th mutation of the category, loaded by a writable persistence, then updated."""
    outcomes = Outcomes()
    damaged = [(i, raw) for i, (kind, raw) in enumerate(mutations(originals)) if kind == name]
    for index, raw in damaged[::10]:
        await outcomes.refuse_update(tmp_path, name, raw, f"mutation {index} of {name}")
    assert outcomes.failures[:20] == [], "\n".join(outcomes.failures[:20])
    assert outcomes.counts[f"{name}: update refused"] > 150


# ------------------------------------------------------------ shapes found after parsing


WRONG_SHAPES = {
    "bot_data": b"[[1,2]]",
    "callback_data": b'["keyboard","kb",[1.5,5]]',
    "user_data": b"[7,[1]]",
    "conversations": b'["conv",[7,7]]',
}
V1_WRONG_SHAPES = {
    "bot_data": b"[1, 2]",
    "callback_data": b'{"keyboards": 5, "queries": {}}',
}


def wrong_shape(label: str) -> tuple[str, bytes]:
    """A valid file of the category that does not hold what PTB expects."""
    version, name = label.split(" ", 1)
    if version == "v1":
        return name, b'{\n  "jsonpersist": 1,\n  "category": "%s",\n  "data": %s\n}\n' % (
            name.encode(),
            V1_WRONG_SHAPES[name],
        )
    return name, b'[{"jsonpersist":2,"category":"%s"}\n,%s\n]\n' % (
        name.encode(),
        WRONG_SHAPES[name],
    )


@pytest.mark.parametrize(
    "label", [f"v2 {name}" for name in WRONG_SHAPES] + [f"v1 {name}" for name in V1_WRONG_SHAPES]
)
async def test_a_valid_file_of_the_wrong_shape_is_never_overwritten(
    label: str, tmp_path: Path
) -> None:
    name, raw = wrong_shape(label)
    outcomes = Outcomes()
    assert not await outcomes.load(tmp_path, name, raw, name)
    await outcomes.refuse_update(tmp_path / "writable", name, raw, name)
    assert outcomes.failures == []


async def test_a_damaged_file_does_not_stop_the_other_categories(
    originals: dict[str, bytes], tmp_path: Path
) -> None:
    """Damage is per file: the other categories still load, and still save."""
    for name, raw in originals.items():
        (tmp_path / f"{name}.json").write_bytes(raw)
    damaged = originals["chat_data"][:-40]
    (tmp_path / "chat_data.json").write_bytes(damaged)
    persistence = JsonPersistence(tmp_path)
    with pytest.raises(CorruptStateError):
        await persistence.get_chat_data()
    assert 7 in await persistence.get_user_data()
    await persistence.update_user_data(7, {"after": "damage"})
    with pytest.raises(CorruptStateError):
        await persistence.update_chat_data(8, {})
    await persistence.flush()
    assert (tmp_path / "chat_data.json").read_bytes() == damaged
    reloaded = await JsonPersistence(tmp_path, read_only=True).get_user_data()
    assert reloaded[7] == {"after": "damage"}
