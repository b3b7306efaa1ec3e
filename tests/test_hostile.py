"""Hostile state files: JSON edge cases, deep nesting, huge numbers and a file of hundreds of MB.

The corpus follows the kinds of cases JSONTestSuite collects (syntax that some parsers accept,
encodings, numbers at the edges of every representation) plus jsonpersist's own: the header
(format version, category), the entries and their keys, git's conflict markers, the envelope of
version 1, the tags, and names of things a file must never reach. Each case either raises
:class:`~jsonpersist.CorruptStateError` naming the file, or loads the one value the JSON
standard gives it; every load is bounded in time, the big files in memory too, and no file that
was refused is ever rewritten (a valid version-1 file is, as version 2, at the flush).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from doc_counts import stated
from hostile_cases import (
    CASES,
    CORRUPT,
    GENERATED,
    MAX_GENERATED_SIZE,
    Case,
    Generated,
    member,
    v2,
)

from jsonpersist import CorruptStateError, JsonPersistence, UnsupportedTypeError

#: The most CPU time one hostile file may take to load or be refused (the issue's bound for any
#: file of up to 1 MB; most take a few milliseconds, the quadratic attacks 5 to 80 s). CPU time
#: of this process, all threads: what the attack costs, not how busy the machine is.
TIME_LIMIT = 1.0


def params() -> list[Any]:
    return [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else [],
        )
        for case in CASES
    ]


async def load(persistence: JsonPersistence, category: str) -> Any:
    if category == "conversations":
        return await persistence.get_conversations("c")
    return await getattr(persistence, f"get_{category}")()


async def update(persistence: JsonPersistence, category: str) -> None:
    if category == "conversations":
        await persistence.update_conversation("c", (1, 1), 1)
    elif category == "callback_data":
        await persistence.update_callback_data(([], {}))
    elif category == "bot_data":
        await persistence.update_bot_data({})
    else:
        await getattr(persistence, f"update_{category}")(1, {})


async def timed_load(persistence: JsonPersistence, category: str) -> Any:
    """Loads a category, failing the test if that took :data:`TIME_LIMIT` or longer."""
    started = time.process_time()
    try:
        return await load(persistence, category)
    finally:
        seconds = time.process_time() - started
        print(f"\n{category}: loaded or refused in {seconds:.3f} s")  # pytest -s shows it
        assert seconds < TIME_LIMIT, f"took {seconds:.2f} s"


@pytest.mark.parametrize("case", params())
async def test_hostile_file(case: Case, tmp_path: Path) -> None:
    path = tmp_path / f"{case.category}.json"
    path.write_bytes(case.raw)
    persistence = JsonPersistence(tmp_path)
    try:
        if case.expect is CORRUPT:
            with pytest.raises(CorruptStateError) as raised:
                await timed_load(persistence, case.category)
            assert raised.value.file == path
            assert str(path) in str(raised.value)
            # ... and it stays: the category refuses updates instead of replacing the file.
            with pytest.raises(CorruptStateError):
                await update(persistence, case.category)
        else:
            value = await timed_load(persistence, case.category)
            if case.category == "bot_data":
                value = value["v"]
            assert value == case.expect
            assert type(value) is type(case.expect)
            if isinstance(value, float):
                assert math.copysign(1, value) == math.copysign(1, case.expect)
    finally:
        await persistence.flush()
    if case.expect is not CORRUPT and case.raw.startswith(b"{"):  # version 1: now version 2
        assert path.read_bytes().startswith(
            b'[{"jsonpersist":2,"category":"%s"}\n' % (case.category.encode())
        )
        again = await timed_load(JsonPersistence(tmp_path, read_only=True), case.category)
        assert (again["v"] if case.category == "bot_data" else again) == case.expect
    else:
        assert path.read_bytes() == case.raw, "a hostile file was rewritten"


@pytest.mark.parametrize("generated", GENERATED, ids=[g.id for g in GENERATED])
async def test_a_file_of_up_to_1_mb_loads_or_is_refused_within_a_second(
    generated: Generated, tmp_path: Path
) -> None:
    """Files built to make loading quadratic: ids, set items and dict keys sharing one hash.

    Python's ``hash(int)`` is ``x mod (2**61 - 1)``; 30,000 user ids that are multiples of it
    took 18 s to load before ids were bounded to 64 bits, 20,000 such set items 2 to 5 s.
    """
    raw = generated.build()
    assert len(raw) <= MAX_GENERATED_SIZE
    path = tmp_path / f"{generated.category}.json"
    path.write_bytes(raw)
    persistence = JsonPersistence(tmp_path, read_only=True)
    if generated.expect == CORRUPT:
        with pytest.raises(CorruptStateError) as raised:
            await timed_load(persistence, generated.category)
        assert raised.value.file == path
        message = str(raised.value)
        assert any(
            reason in message for reason in ("64-bit", "-2**63 to 2**63 - 1", "share one hash")
        )
    else:
        value = await timed_load(persistence, generated.category)
        assert len(value) > 0
    assert path.read_bytes() == raw


@pytest.mark.parametrize("text", ["9223372036854775807", "-9223372036854775808"])
async def test_the_edges_of_the_64_bit_range_are_ids(text: str, tmp_path: Path) -> None:
    (tmp_path / "user_data.json").write_bytes(v2("user_data", b'[%s, {"a": 1}]' % text.encode()))
    assert await JsonPersistence(tmp_path, read_only=True).get_user_data() == {int(text): {"a": 1}}


async def test_a_user_id_beyond_64_bits_is_named(tmp_path: Path) -> None:
    (tmp_path / "user_data.json").write_bytes(v2("user_data", b"[5, {}]", b"[%d, {}]" % 2**64))
    with pytest.raises(CorruptStateError, match=r"-2\*\*63 to 2\*\*63 - 1") as raised:
        await JsonPersistence(tmp_path, read_only=True).get_user_data()
    assert raised.value.where == "entry 2"


async def test_a_user_id_beyond_64_bits_in_a_version_1_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "user_data.json").write_bytes(
        b'{"jsonpersist": 1, "category": "user_data", "data": {"5": {}, "%d": {}}}' % 2**64
    )
    with pytest.raises(CorruptStateError, match="18446744073709551616 is outside") as raised:
        await JsonPersistence(tmp_path, read_only=True).get_user_data()
    assert raised.value.where == "user_data['18446744073709551616']"


def test_a_huge_timedelta_is_refused_quickly(tmp_path: Path) -> None:
    (tmp_path / "bot_data.json").write_bytes(member(b'{"$timedelta": "1e999993"}'))
    result = measure(tmp_path, DEFAULT_LIMIT, timeout=5)
    assert result["outcome"].startswith("CorruptStateError")


def test_the_corpus_covers_the_issue() -> None:
    ids = {case.id for case in CASES}
    for wanted in (
        "depth-100000-arrays",
        "digits-10000",
        "beyond-u64",
        "nan",
        "duplicate-member",
        "bom",
        "invalid-utf8-ff",
        "top-level-array",
        "version-3",
        "merge-conflict",
        "duplicate-bot-key-int-float",
        "bot-data-keys-33-colliding",
        "v1-duplicate-user-id",
        "unknown-tag",
        "lone-high-surrogate",
        "overlong-utf8-slash",
        "user-id-beyond-i64",
        "set-33-colliding-ints",
        "dict-33-colliding-keys",
        "set-duplicate",
        "int-tag-arabic-indic-digits",
        "datetime-offset-not-the-zones",
        "tg-input-media-photo-etc-shadow",
        "tg-input-sticker-home",
    ):
        assert wanted in ids
    assert len(CASES) >= 100


# ----------------------------------------------------- not a regular file, not a small one


async def test_a_directory_in_place_of_a_file(tmp_path: Path) -> None:
    (tmp_path / "bot_data.json").mkdir()
    with pytest.raises(CorruptStateError, match="not a regular file"):
        await JsonPersistence(tmp_path, read_only=True).get_bot_data()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
async def test_a_fifo_in_place_of_a_file_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "bot_data.json")
    with pytest.raises(CorruptStateError, match="not a regular file"):  # not a TimeoutError
        await asyncio.wait_for(JsonPersistence(tmp_path, read_only=True).get_bot_data(), 5)


LOADER = textwrap.dedent(
    """
    import asyncio, json, resource, sys, time
    from jsonpersist import CorruptStateError, JsonPersistence

    directory, limit = sys.argv[1], int(sys.argv[2])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        value = asyncio.run(JsonPersistence(directory, max_file_size=limit, read_only=True)
                            .get_bot_data())
        outcome = "loaded %d keys" % len(value)
    except CorruptStateError as exc:
        outcome = "CorruptStateError: " + str(exc)[:200]
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"outcome": outcome, "seconds": seconds, "rss_before_kb": before,
                      "rss_peak_kb": peak}))
    """
)


def measure(directory: Path, limit: int, timeout: float = 300) -> dict[str, Any]:
    """Loads bot_data.json in a fresh process; returns the outcome, time and peak RSS."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", LOADER, str(directory), str(limit)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"loading {directory.name} took more than {timeout} s")
    result: dict[str, Any] = json.loads(done.stdout)
    result["extra_mb"] = (result["rss_peak_kb"] - result["rss_before_kb"]) / 1024
    print(f"\n{directory.name}: {result}")
    return result


MIB = 1024 * 1024
DEFAULT_LIMIT = 512 * MIB


@pytest.fixture
def big_directory(tmp_path: Path) -> Iterator[Path]:
    """A directory for one big file, removed afterwards (pytest keeps its last three runs)."""
    directory = tmp_path / "big"
    directory.mkdir()
    yield directory
    shutil.rmtree(directory)


def sparse(path: Path, head: bytes, size: int) -> None:
    """A file of ``size`` bytes: ``head``, then NUL bytes that take no disk space."""
    with path.open("wb") as file:
        file.write(head)
        file.truncate(size)


def test_a_file_beyond_max_file_size_is_refused_without_reading_it(big_directory: Path) -> None:
    directory = big_directory
    sparse(directory / "bot_data.json", member(b'"'), 600 * MIB)
    result = measure(directory, DEFAULT_LIMIT)
    assert result["outcome"].startswith("CorruptStateError")
    assert "max_file_size" in result["outcome"]
    assert str(directory / "bot_data.json") in result["outcome"]
    assert result["seconds"] < 1
    assert result["extra_mb"] < 50


def test_a_file_of_hundreds_of_mb_within_the_limit_is_bounded(big_directory: Path) -> None:
    """300 MB of NUL bytes after a valid start: read once, refused at the first bad byte."""
    directory = big_directory
    sparse(directory / "bot_data.json", member(b'"'), 300 * MIB)
    result = measure(directory, DEFAULT_LIMIT)
    assert result["outcome"].startswith("CorruptStateError")
    assert "not valid JSON" in result["outcome"]
    assert result["seconds"] < 10
    # The bytes read, and orjson's copy of the document as text in its JSONDecodeError.
    assert result["extra_mb"] < 2.5 * 300


def big_string_file(path: Path, megabytes: int) -> int:
    """A valid bot_data file holding one string of ``megabytes`` MB; returns its size."""
    chunk = b"a" * MIB
    with path.open("wb") as file:
        file.write(b'[{"jsonpersist":2,"category":"bot_data"}\n,["blob","')
        for _ in range(megabytes):
            file.write(chunk)
        file.write(b'"]\n]\n')
    return path.stat().st_size


def test_a_valid_file_of_50_mb_loads_in_bounded_time_and_memory(big_directory: Path) -> None:
    directory = big_directory
    size = big_string_file(directory / "bot_data.json", 50)
    refused = measure(directory, size - 1)
    assert "max_file_size" in refused["outcome"]
    loaded = measure(directory, DEFAULT_LIMIT)
    assert loaded["outcome"] == "loaded 1 keys"
    assert loaded["seconds"] < 10
    assert loaded["extra_mb"] < 6 * size / MIB


@pytest.mark.slow
def test_a_valid_file_of_400_mb_loads_in_bounded_time_and_memory(big_directory: Path) -> None:
    directory = big_directory
    size = big_string_file(directory / "bot_data.json", 400)
    loaded = measure(directory, DEFAULT_LIMIT)
    assert loaded["outcome"] == "loaded 1 keys"
    assert loaded["seconds"] < 60
    assert loaded["extra_mb"] < 6 * size / MIB


def test_the_guarantees_page_counts_what_was_tried() -> None:
    assert stated("test_hostile_file") == len(CASES)
    assert stated("test_a_file_of_up_to_1_mb_loads_or_is_refused_within_a_second") == len(
        GENERATED
    )
    seeds = Path(__file__).resolve().parent.parent / "fuzz" / "corpus" / "load_time"
    assert stated("fuzz_load_time.py") == len(list(seeds.iterdir()))


@pytest.mark.parametrize(
    "key",
    [2**63, -(2**63) - 1, 10**5000, "7", True],
    ids=["2**63", "-2**63-1", "10**5000", "str", "bool"],
)
async def test_an_id_the_file_could_not_hold_is_not_stored(key: Any, tmp_path: Path) -> None:
    """Stored, it would make the whole file unloadable at the next start."""
    persistence = JsonPersistence(tmp_path)
    await persistence.get_user_data()
    with pytest.raises(UnsupportedTypeError, match="not a Telegram id"):
        await persistence.update_user_data(key, {"a": 1})
    await persistence.update_user_data(2**63 - 1, {"b": 2})
    await persistence.flush()
    loaded = await JsonPersistence(tmp_path, read_only=True).get_user_data()
    assert loaded == {2**63 - 1: {"b": 2}}
