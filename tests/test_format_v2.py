"""Format version 2 through a real persistence: version-1 files, refusals, edits and diffs.

The version-1 files are real: ``tests/fixtures/v1`` holds what jsonpersist 7f4ce51 wrote (with
``make_v1.py``, the script that wrote them, whose values are the expected ones here). Every
other file is written by a real :class:`~jsonpersist.JsonPersistence` or by hand, as bytes, in
``tmp_path``. The examples of ``docs/files.md`` are checked here too.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
import shutil
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import ContextTypes, PersistenceInput

from jsonpersist import Codec, CorruptStateError, JsonPersistence, MergeConflictError
from jsonpersist._categories import CATEGORIES
from jsonpersist._entries import EntryCodec
from jsonpersist._format import render

ROOT = Path(__file__).resolve().parent.parent
V1 = ROOT / "tests" / "fixtures" / "v1"
FILES_MD = ROOT / "docs" / "files.md"
NAMES = ("user_data", "chat_data", "bot_data", "callback_data", "conversations")
HANDLERS = ("checkout", "settings")
UTC = timezone.utc
KEYBOARD = "6d1f8a3c0e6b4f0c9a1e2b3c4d5e6f70"
BUTTON = "0c5b2a1d9e8f7a6b5c4d3e2f1a0b9c8d"

#: What make_v1.py stored in tests/fixtures/v1/typical, as PTB gets it back.
TYPICAL: dict[str, Any] = {
    "user_data": {
        5: {"lang": "en", ("last", "message"): "hi", "cart": [("A-1", 2)], "seen": {3, 1, 2}},
        42: {},
        1000: {"score": 10, "when": datetime(2024, 5, 1, 12, 30, tzinfo=UTC)},
        1001: {"score": 11, "price": Decimal("1.10"), "$weird": 1},
    },
    "chat_data": {-1001234567890: {"title": "Friends", "members": {42, 5}}},
    "bot_data": {
        "started": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        "total": 17,
        "motd": "hello",
    },
    "callback_data": (
        [(KEYBOARD, 1714564800.25, {BUTTON: ("buy", "A-1")})],
        {"4432788941210401": KEYBOARD},
    ),
    "checkout": {(42, 42): 0, (5, 5): 1, (1000, 1000): 2, (100, 100): "ASK"},
    "settings": {(5, 5): "ASK_LANGUAGE"},
}

#: The same files as version 2: what the next save of each category writes, byte for byte.
TYPICAL_V2 = {
    "user_data": b'[{"jsonpersist":2,"category":"user_data"}\n'
    b',[5,{"$dict":[[{"$tuple":["last","message"]},"hi"]],"cart":[{"$tuple":["A-1",2]}],'
    b'"lang":"en","seen":{"$set":[1,2,3]}}]\n'
    b",[42,{}]\n"
    b',[1000,{"score":10,"when":{"$datetime":"2024-05-01T12:30:00+00:00"}}]\n'
    b',[1001,{"$":{"$weird":1,"price":{"$decimal":"1.10"},"score":11}}]\n'
    b"]\n",
    "chat_data": b'[{"jsonpersist":2,"category":"chat_data"}\n'
    b',[-1001234567890,{"members":{"$set":[42,5]},"title":"Friends"}]\n'
    b"]\n",
    "bot_data": b'[{"jsonpersist":2,"category":"bot_data"}\n'
    b',["motd","hello"]\n'
    b',["started",{"$datetime":"2024-05-01T12:00:00+00:00"}]\n'
    b',["total",17]\n'
    b"]\n",
    "callback_data": b'[{"jsonpersist":2,"category":"callback_data"}\n'
    b',["keyboard","6d1f8a3c0e6b4f0c9a1e2b3c4d5e6f70",[1714564800.25,'
    b'{"0c5b2a1d9e8f7a6b5c4d3e2f1a0b9c8d":{"$tuple":["buy","A-1"]}}]]\n'
    b',["query","4432788941210401","6d1f8a3c0e6b4f0c9a1e2b3c4d5e6f70"]\n'
    b"]\n",
    "conversations": b'[{"jsonpersist":2,"category":"conversations"}\n'
    b',["checkout",[5,5],1]\n'
    b',["checkout",[42,42],0]\n'
    b',["checkout",[100,100],"ASK"]\n'
    b',["checkout",[1000,1000],2]\n'
    b',["settings",[5,5],"ASK_LANGUAGE"]\n'
    b"]\n",
}
WHOLE_V2 = (
    b'[{"jsonpersist":2,"category":"bot_data"}\n'
    b',[7,"int key"]\n'
    b',["n",1]\n'
    b',[{"$tuple":["a",1]},"tuple key"]\n'
    b"]\n"
)


def files(directory: Path) -> dict[str, bytes]:
    return {name: (directory / f"{name}.json").read_bytes() for name in NAMES}


async def load_all(persistence: JsonPersistence[Any, Any, Any]) -> dict[str, Any]:
    """Every category of the typical fixture, as PTB asks for it."""
    return {
        "user_data": await persistence.get_user_data(),
        "chat_data": await persistence.get_chat_data(),
        "bot_data": await persistence.get_bot_data(),
        "callback_data": await persistence.get_callback_data(),
        **{name: await persistence.get_conversations(name) for name in HANDLERS},
    }


def assert_same_types(loaded: Any, expected: Any) -> None:
    """Equal, and of the same types all the way down (1 == 1.0 == True, {1} == frozenset{1})."""
    assert loaded == expected
    assert type(loaded) is type(expected)
    if isinstance(expected, dict):
        for key, value in expected.items():
            assert type(next(k for k in loaded if k == key)) is type(key)
            assert_same_types(loaded[key], value)
    elif isinstance(expected, (list, tuple)):
        for got, want in zip(loaded, expected, strict=True):
            assert_same_types(got, want)


@pytest.fixture
def typical(tmp_path: Path) -> Path:
    directory = tmp_path / "typical"
    shutil.copytree(V1 / "typical", directory)
    return directory


# ------------------------------------------------------------------- version 1 still loads


def test_the_fixtures_are_version_1_as_jsonpersist_1_wrote_them() -> None:
    for path in [*(V1 / "typical").glob("*.json"), V1 / "bot_data_whole" / "bot_data.json"]:
        tree = json.loads(path.read_bytes())
        assert tree["jsonpersist"] == 1
        assert tree["category"] == path.stem
        assert path.read_bytes().startswith(b'{\n  "jsonpersist": 1,\n')


async def test_version_1_files_load_with_the_values_that_were_stored(typical: Path) -> None:
    before = files(typical)
    persistence = JsonPersistence(typical)
    loaded = await load_all(persistence)
    for name, expected in TYPICAL.items():
        assert_same_types(loaded[name], expected)
    assert files(typical) == before  # loading rewrites nothing
    await persistence.flush()


async def test_version_1_bot_data_laid_out_whole_loads_its_keys_of_every_type(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "whole"
    shutil.copytree(V1 / "bot_data_whole", directory)
    persistence = JsonPersistence(directory, read_only=True)
    assert_same_types(
        await persistence.get_bot_data(), {"n": 1, ("a", 1): "tuple key", 7: "int key"}
    )


async def test_version_1_loads_into_the_context_types_classes(typical: Path) -> None:
    class UserDict(dict[Any, Any]):
        pass

    class BotDict(dict[Any, Any]):
        pass

    context_types = ContextTypes(user_data=UserDict, bot_data=BotDict)
    persistence = JsonPersistence(typical, read_only=True, context_types=context_types)
    users = await persistence.get_user_data()
    assert {type(value) for value in users.values()} == {UserDict}
    assert type(await persistence.get_bot_data()) is BotDict


# --------------------------------------------------------------- rewritten at the next save


async def test_version_1_is_rewritten_as_version_2_at_the_next_save(typical: Path) -> None:
    persistence = JsonPersistence(typical)
    await load_all(persistence)
    await persistence.flush()
    assert files(typical) == TYPICAL_V2
    again = await load_all(JsonPersistence(typical, read_only=True))
    for name, expected in TYPICAL.items():
        assert_same_types(again[name], expected)


async def test_a_rewritten_file_holds_the_new_update_and_the_old_entries(typical: Path) -> None:
    persistence = JsonPersistence(typical, update_interval=60)
    await load_all(persistence)
    await persistence.update_user_data(7, {"new": True})
    await persistence.update_conversation("checkout", (5, 5), 2)
    await persistence.flush()
    users = (typical / "user_data.json").read_bytes().splitlines(keepends=True)
    expected = TYPICAL_V2["user_data"].splitlines(keepends=True)
    assert users == [*expected[:2], b',[7,{"new":true}]\n', *expected[2:]]
    conversations = (typical / "conversations.json").read_bytes()
    assert conversations == TYPICAL_V2["conversations"].replace(
        b'["checkout",[5,5],1]', b'["checkout",[5,5],2]'
    )


async def test_version_1_bot_data_laid_out_whole_is_rewritten_a_line_per_key(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "whole"
    shutil.copytree(V1 / "bot_data_whole", directory)
    only_bot = PersistenceInput(user_data=False, chat_data=False, callback_data=False)
    persistence = JsonPersistence(directory, store_data=only_bot)
    await persistence.get_bot_data()
    await persistence.flush()
    assert (directory / "bot_data.json").read_bytes() == WHOLE_V2


async def test_version_1_is_not_rewritten_by_loading_it(typical: Path) -> None:
    before = files(typical)
    persistence = JsonPersistence(typical, update_interval=60)
    await load_all(persistence)
    await persistence.get_conversations("other")
    assert files(typical) == before  # loaded, not yet saved
    await persistence.flush()
    assert files(typical) == TYPICAL_V2


async def test_version_1_is_never_rewritten_by_a_read_only_persistence(typical: Path) -> None:
    before = files(typical)
    reader = JsonPersistence(typical, read_only=True)
    await load_all(reader)
    await reader.flush()
    assert files(typical) == before


async def test_a_category_the_bot_does_not_store_keeps_its_version_1_file(
    typical: Path,
) -> None:
    before = files(typical)
    no_users = PersistenceInput(user_data=False)
    persistence = JsonPersistence(typical, store_data=no_users, update_interval=60)
    await persistence.get_chat_data()
    await persistence.flush()
    after = files(typical)
    assert after["chat_data"] == TYPICAL_V2["chat_data"]
    assert after["user_data"] == before["user_data"]


# ------------------------------------------------------------------- refused, and named


def v2_file(name: str, *lines: bytes) -> bytes:
    """A canonical-looking version-2 file of ``lines`` (each an entry's JSON)."""
    body = b"".join(b",%b\n" % line for line in lines)
    return b'[{"jsonpersist":2,"category":"%s"}\n%b]\n' % (name.encode(), body)


REFUSED = {
    "same id twice": (
        "user_data",
        v2_file("user_data", b"[5,{}]", b'[5,{"a":1}]'),
        "user_data[5]",
        "appears twice",
    ),
    "same id twice, apart": (
        "user_data",
        v2_file("user_data", b"[5,{}]", b"[6,{}]", b"[5,{}]"),
        "user_data[5]",
        "appears twice",
    ),
    "bot data keys 1 and 1.0": (
        "bot_data",
        v2_file("bot_data", b'[1,"a"]', b'[1.0,"b"]'),
        "bot_data[1",
        "appears twice",
    ),
    "bot data keys 1 and true": (
        "bot_data",
        v2_file("bot_data", b'[1,"a"]', b'[true,"b"]'),
        "bot_data[",
        "appears twice",
    ),
    "the same conversation twice": (
        "conversations",
        v2_file("conversations", b'["c",[1,1],"A"]', b'["c",[1,1],"B"]'),
        "conversations['c'][(1, 1)]",
        "appears twice",
    ),
    "a user id as text": (
        "user_data",
        v2_file("user_data", b"[5,{}]", b'["6",{}]'),
        "line 3",
        "Telegram id",
    ),
    "a user id as a float": (
        "user_data",
        v2_file("user_data", b"[5.0,{}]"),
        "line 2",
        "Telegram id",
    ),
    "a user id beyond 64 bits": (
        "chat_data",
        v2_file("chat_data", b"[9223372036854775808,{}]"),
        "line 2",
        "Telegram id",
    ),
    "a user id beyond 64 bits, laid out otherwise": (
        "chat_data",
        b'[{"jsonpersist": 2, "category": "chat_data"},\n  [18446744073709551616, {}]]',
        "entry 1",
        "Telegram id",
    ),
    "a user entry without its id": (
        "user_data",
        v2_file("user_data", b"[5,{}]", b"[{}]"),
        "line 3",
        "[id, value]",
    ),
    "a conversation without its key": (
        "conversations",
        v2_file("conversations", b'["c","ASK"]'),
        "line 2",
        "[handler name, [key parts], state]",
    ),
    "a conversation key that is not a list": (
        "conversations",
        v2_file("conversations", b'["c",{"$tuple":[1,1]},"ASK"]'),
        "line 2",
        "[handler name, [key parts], state]",
    ),
    "a bot data entry of three elements": (
        "bot_data",
        v2_file("bot_data", b'["a",1,2]'),
        "line 2",
        "[key, value]",
    ),
    "a callback entry of another kind": (
        "callback_data",
        v2_file("callback_data", b'["button","b",1]'),
        "line 2",
        '["keyboard", id, [time, buttons]]',
    ),
    "an entry that is an object": (
        "user_data",
        v2_file("user_data", b'{"5":{}}'),
        "line 2",
        "must be an array",
    ),
    "a header of other keys": (
        "user_data",
        b'[{"jsonpersist":2,"category":"user_data","data":{}}\n]\n',
        "line 1",
        '"jsonpersist" and "category"',
    ),
    "the header after an entry": (
        "user_data",
        b'[[5,{}]\n,{"jsonpersist":2,"category":"user_data"}\n]\n',
        "",
        "first element is the header",
    ),
    "another category's file": (
        "user_data",
        v2_file("chat_data", b"[5,{}]"),
        "line 1",
        "holds 'chat_data', expected 'user_data'",
    ),
    "version 3": (
        "user_data",
        b'[{"jsonpersist":3,"category":"user_data"}\n,[5,{}]\n]\n',
        "line 1",
        "format version 3 is not supported",
    ),
    "a bad tag in a value": (
        "user_data",
        v2_file("user_data", b"[5,{}]", b'[6,{"a":{"$nope":1}}]'),
        "line 3: user_data[6]['a']['$nope']",
        "unknown tag",
    ),
}


@pytest.mark.parametrize(("name", "raw", "where", "reason"), REFUSED.values(), ids=REFUSED.keys())
async def test_a_bad_version_2_file_is_refused_naming_the_file_and_the_entry(
    tmp_path: Path, name: str, raw: bytes, where: str, reason: str
) -> None:
    path = tmp_path / f"{name}.json"
    path.write_bytes(raw)
    persistence = JsonPersistence(tmp_path)
    if name == "conversations":
        load = persistence.get_conversations("c")
    else:
        load = getattr(persistence, f"get_{name}")()
    with pytest.raises(CorruptStateError) as raised:
        await load
    error = raised.value
    assert error.file == path
    assert str(path) in str(error)
    assert error.where.startswith(where)
    assert reason in error.reason
    await persistence.flush()
    assert path.read_bytes() == raw  # never replaced


@pytest.mark.parametrize("count", [33, 20_000])
async def test_bot_data_keys_sharing_a_hash_are_refused_fast(tmp_path: Path, count: int) -> None:
    # Multiples of 2**61 - 1 all hash to 0: a dict of n of them takes n**2 / 2 comparisons.
    keys = [b'{"$int":"%d"}' % (k * (2**61 - 1)) for k in range(9, 9 + count)]
    (tmp_path / "bot_data.json").write_bytes(v2_file("bot_data", *(b"[%b,0]" % k for k in keys)))
    started = time.process_time()  # CPU time: the attack's cost, not the machine's load
    with pytest.raises(CorruptStateError, match="share one hash") as raised:
        await JsonPersistence(tmp_path, read_only=True).get_bot_data()
    assert time.process_time() - started < 1
    assert raised.value.where == "entry 33"


async def test_32_bot_data_keys_sharing_a_hash_load(tmp_path: Path) -> None:
    keys = [k * (2**61 - 1) for k in range(9, 41)]
    lines = [b'[{"$int":"%d"},%d]' % (key, index) for index, key in enumerate(keys)]
    (tmp_path / "bot_data.json").write_bytes(v2_file("bot_data", *lines))
    loaded = await JsonPersistence(tmp_path, read_only=True).get_bot_data()
    assert loaded == {key: index for index, key in enumerate(keys)}


# ----------------------------------------------------------------------- edited by hand


async def saved(directory: Path) -> JsonPersistence[Any, Any, Any]:
    """A persistence that saved some state of every kind into ``directory``."""
    persistence = JsonPersistence(directory, update_interval=60)
    await load_all(persistence)
    await persistence.update_user_data(5, {"lang": "en", ("last", "message"): "hi"})
    await persistence.update_user_data(42, {})
    await persistence.update_user_data(1000, {"score": 10})
    await persistence.update_bot_data({"total": 17, 7: "seven", ("a", 1): "pair"})
    await persistence.update_conversation("checkout", (5, 5), 1)
    await persistence.update_conversation("checkout", (42, 42), "ASK")
    await persistence.flush()
    return persistence


async def test_a_hand_reformatted_and_reordered_file_loads_and_is_saved_canonical(
    tmp_path: Path,
) -> None:
    await saved(tmp_path)
    canonical = (tmp_path / "user_data.json").read_bytes()
    expected = await load_all(JsonPersistence(tmp_path, read_only=True))
    for name in ("user_data", "bot_data", "conversations"):
        path = tmp_path / f"{name}.json"
        tree = json.loads(path.read_bytes())
        header, entries = tree[0], tree[1:]
        edited = json.dumps([header, *reversed(entries)], indent=4, ensure_ascii=False)
        path.write_text(edited + "\n")
    assert (tmp_path / "user_data.json").read_bytes().startswith(b"[\n    {\n")

    persistence = JsonPersistence(tmp_path)
    loaded = await load_all(persistence)
    for name, value in expected.items():
        assert_same_types(loaded[name], value)
    await persistence.update_user_data(42, {"x": 1})
    await persistence.flush()
    # The edited file the bot saved is canonical again: sorted, one entry a line.
    assert (tmp_path / "user_data.json").read_bytes() == canonical.replace(
        b",[42,{}]", b',[42,{"x":1}]'
    )


# ---------------------------------------------------------------- one entry, one line


def changed_lines(before: bytes, after: bytes) -> list[str]:
    """The lines a diff shows: ``-`` removed, ``+`` added."""
    return [
        line.rstrip("\n")
        for line in difflib.ndiff(
            before.decode().splitlines(keepends=True), after.decode().splitlines(keepends=True)
        )
        if line[:1] in "+-"
    ]


async def test_adding_or_removing_an_entry_changes_only_its_line(tmp_path: Path) -> None:
    persistence = await saved(tmp_path)
    users = tmp_path / "user_data.json"
    before = users.read_bytes()

    await persistence.update_user_data(1001, {"new": 1})  # the last line: no comma moves
    await persistence.flush()
    appended = users.read_bytes()
    assert changed_lines(before, appended) == ['+ ,[1001,{"new":1}]']

    await persistence.update_user_data(7, {})  # in the middle
    await persistence.flush()
    assert changed_lines(appended, users.read_bytes()) == ["+ ,[7,{}]"]

    await persistence.drop_user_data(42)
    await persistence.flush()
    dropped = users.read_bytes()
    assert changed_lines(before, dropped) == ["- ,[42,{}]", "+ ,[7,{}]", '+ ,[1001,{"new":1}]']

    conversations = (tmp_path / "conversations.json").read_bytes()
    bot_data = (tmp_path / "bot_data.json").read_bytes()
    await persistence.update_conversation("checkout", (5, 5), 2)
    await persistence.update_bot_data({"total": 18, 7: "seven", ("a", 1): "pair"})
    await persistence.flush()
    assert changed_lines(conversations, (tmp_path / "conversations.json").read_bytes()) == [
        '- ,["checkout",[5,5],1]',
        '+ ,["checkout",[5,5],2]',
    ]
    assert changed_lines(bot_data, (tmp_path / "bot_data.json").read_bytes()) == [
        '- ,["total",17]',
        '+ ,["total",18]',
    ]


# ------------------------------------------------------------------------- git conflicts


async def test_a_file_with_conflict_markers_is_a_merge_conflict_naming_its_lines(
    tmp_path: Path,
) -> None:
    await saved(tmp_path)
    users = tmp_path / "user_data.json"
    lines = users.read_bytes().splitlines(keepends=True)
    ours, theirs = lines[2], lines[2].replace(b"en", b"de")
    conflicted = b"".join(
        [*lines[:2], b"<<<<<<< HEAD\n", ours, b"=======\n", theirs, b">>>>>>> other\n", *lines[3:]]
    )
    users.write_bytes(conflicted)
    persistence = JsonPersistence(tmp_path)
    with pytest.raises(MergeConflictError) as raised:
        await persistence.get_user_data()
    error = raised.value
    assert isinstance(error, CorruptStateError)
    assert error.file == users
    assert error.regions == [(3, 7)]
    assert "merge conflict at lines 3-7" in str(error)
    assert error.where == "line 3"
    await persistence.flush()
    assert users.read_bytes() == conflicted


# ----------------------------------------------------------------- the examples of the docs

#: A fenced JSON example of docs/files.md, with the marker before it that says what it is.
EXAMPLE = re.compile(r"<!-- example: ([a-z0-9 -]+) -->\n+```json\n(.*?)```\n", re.DOTALL)
KINDS = {"canonical", "hand-edited", "version 1", "merge conflict", "refused"}


def examples() -> list[tuple[str, bytes]]:
    text = FILES_MD.read_text("utf-8")
    found = [(kind, body.encode()) for kind, body in EXAMPLE.findall(text)]
    # every fenced JSON block is one of them
    assert text.count("```json") == len(found)
    return found


def test_the_docs_show_an_example_of_every_category_and_kind() -> None:
    found = examples()
    assert {kind for kind, _ in found} == KINDS
    shown = {json.loads(raw)[0]["category"] for kind, raw in found if kind == "canonical"}
    assert shown == set(NAMES)


def test_the_hand_edited_example_holds_the_users_of_the_first() -> None:
    found = examples()
    first = next(raw for kind, raw in found if kind == "canonical")
    edited = next(raw for kind, raw in found if kind == "hand-edited")
    entries = EntryCodec(Codec(), ContextTypes())
    path = Path("/docs/user_data.json")
    canonical = entries.parse(CATEGORIES["user_data"], first, path)
    assert entries.parse(CATEGORIES["user_data"], edited, path).lines == canonical.lines


@pytest.mark.parametrize(
    ("index", "kind", "raw"),
    [(index, kind, raw) for index, (kind, raw) in enumerate(examples())],
    ids=[f"{index}-{kind}" for index, (kind, _) in enumerate(examples())],
)
def test_an_example_of_the_docs_is_what_the_code_reads_and_writes(
    index: int, kind: str, raw: bytes
) -> None:
    entries = EntryCodec(Codec(), ContextTypes())
    path = Path(f"/docs/example-{index}.json")
    if kind == "merge conflict":
        name = re.search(rb'"category":"(\w+)"', raw).group(1).decode()  # type: ignore[union-attr]
        with pytest.raises(MergeConflictError):
            entries.parse(CATEGORIES[name], raw, path)
        return
    tree = json.loads(raw)
    name = tree[0]["category"] if kind != "version 1" else tree["category"]
    category = CATEGORIES[name]
    if kind == "refused":
        with pytest.raises(CorruptStateError):
            entries.parse(category, raw, path)
        return
    parsed = entries.parse(category, raw, path)
    written = render(name, parsed.lines, entries.order(category, parsed.lines))
    assert parsed.version == (1 if kind == "version 1" else 2)
    if kind == "canonical":
        assert written == raw  # byte for byte what the code writes for these values
    else:
        assert written != raw  # the code would write it otherwise
        assert entries.parse(category, written, path).values == parsed.values


def test_the_state_file_example_of_the_value_format_page_is_canonical() -> None:
    text = (ROOT / "docs" / "format.md").read_text("utf-8").split("\n## State files\n", 1)[1]
    raw = re.search(r"```\n(.*?)```\n", text, re.DOTALL).group(1).encode()  # type: ignore[union-attr]
    entries = EntryCodec(Codec(), ContextTypes())
    category = CATEGORIES["user_data"]
    parsed = entries.parse(category, raw, Path("/docs/user_data.json"))
    assert parsed.values == {5: {("last", "message"): "hi", "lang": "en"}, 42: {}}
    assert render("user_data", parsed.lines, entries.order(category, parsed.lines)) == raw


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"jsonpersist": 2, "category": "user_data", "data": {}}', "version 2 is an array"),
        (b'[{"jsonpersist": 1, "category": "user_data"}]', "version 1 is one object"),
    ],
    ids=["version 2 as an object", "version 1 as an array"],
)
async def test_a_file_mixing_the_two_versions_says_what_each_looks_like(
    tmp_path: Path, raw: bytes, reason: str
) -> None:
    (tmp_path / "user_data.json").write_bytes(raw)
    with pytest.raises(CorruptStateError, match=reason) as raised:
        await JsonPersistence(tmp_path, read_only=True).get_user_data()
    assert raised.value.file == tmp_path / "user_data.json"
    assert "upgrade" not in str(raised.value)


def test_a_tagged_key_in_another_spelling_is_stored_the_codecs_way(tmp_path: Path) -> None:
    """{"$int":"5"} reads as 5 and its line is made the one the codec writes, so that a merge
    or a later line of 5 never sees two spellings of one key."""
    (tmp_path / "bot_data.json").write_bytes(
        b'[{"jsonpersist":2,"category":"bot_data"}\n,[{"$int":"5"},1]\n]\n'
    )

    async def run() -> Any:
        persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
        data = await persistence.get_bot_data()
        return data, dict(persistence._session.states["bot_data"].lines)

    data, lines = asyncio.run(run())
    assert data == {5: 1}
    assert lines == {5: b",[5,1]\n"}


def test_a_version_1_conversation_key_version_2_cannot_hold_is_corrupt_state(
    tmp_path: Path,
) -> None:
    """Version 1 read any tuple key; version 2 holds ints of 64 bits and strings. A version-1
    key beyond that is a CorruptStateError naming the file, not an UnsupportedTypeError from the
    rewrite (found by fuzz_load_conversations)."""
    big = 2**70
    (tmp_path / "conversations.json").write_text(
        '{"jsonpersist": 1, "category": "conversations", "data": {"checkout": '
        f'{{"$dict": [[{{"$tuple": [42, {{"$int": "{big}"}}]}}, 0]]}}}}}}'
    )

    async def run() -> None:
        with pytest.raises(CorruptStateError) as caught:
            await JsonPersistence(tmp_path, read_only=True).get_conversations("checkout")
        assert caught.value.file is not None
        assert caught.value.file.name == "conversations.json"
        assert "64-bit" in str(caught.value)

    asyncio.run(run())
