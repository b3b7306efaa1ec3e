"""Hostile state files: JSON edge cases, deep nesting, huge numbers and a file of hundreds of MB.

The corpus follows the kinds of cases JSONTestSuite collects (syntax that some parsers accept,
encodings, numbers at the edges of every representation) plus jsonpersist's own: the envelope
(format version, category), the tags, and names of things a file must never reach. Each case
either raises :class:`~jsonpersist.CorruptStateError` naming the file, or loads the one value
the JSON standard gives it; every load is bounded in time, the big files in memory too, and no
file is ever rewritten.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jsonpersist import CorruptStateError, JsonPersistence

CORRUPT = "corrupt"
#: Generous for one load of a small file on a slow, busy CI machine.
TIME_LIMIT = 2.0


def envelope(category: str, data: bytes, version: bytes = b"1") -> bytes:
    return b'{"jsonpersist": %s, "category": "%s", "data": %s}' % (
        version,
        category.encode(),
        data,
    )


def member(value: bytes) -> bytes:
    """A bot_data file whose member "v" is ``value``."""
    return envelope("bot_data", b'{"v": ' + value + b"}")


@dataclass(frozen=True)
class Case:
    id: str
    raw: bytes
    expect: Any = CORRUPT  # or the value of bot_data["v"] (or of the whole category)
    category: str = "bot_data"
    xfail: str = ""


def canonical_bot_data(value: bytes) -> bytes:
    """A bot_data file laid out exactly as jsonpersist writes it (the loader's fast path)."""
    return (
        b'{\n  "jsonpersist": 1,\n  "category": "bot_data",\n  "data": {\n    "v": %s\n  }\n}\n'
        % value
    )


def nested(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return opener * depth + closer * depth


CASES = [
    # ------------------------------------------------------------------- not JSON at all
    Case("empty", b""),
    Case("whitespace", b" \n\t "),
    Case("nul-bytes", b"\x00" * 64),
    Case("bom", b"\xef\xbb\xbf" + member(b"1")),
    Case("utf-16", member(b"1").decode().encode("utf-16")),
    Case("utf-32", member(b"1").decode().encode("utf-32-le")),
    Case("trailing-garbage", member(b"1") + b"x"),
    Case("two-documents", member(b"1") + member(b"2")),
    Case("line-comment", b"// c\n" + member(b"1")),
    Case("block-comment", member(b"/* c */ 1")),
    Case("trailing-comma-object", envelope("bot_data", b'{"v": 1,}')),
    Case("trailing-comma-array", member(b"[1, 2,]")),
    Case("missing-comma", member(b"[1 2]")),
    Case("single-quotes", envelope("bot_data", b"{'v': 1}")),
    Case("unquoted-key", envelope("bot_data", b"{v: 1}")),
    Case("unclosed-string", member(b'"abc')),
    Case("unclosed-object", member(b'{"a": 1')),
    # ---------------------------------------------------------------- strings and bytes
    Case("control-char-in-string", member(b'"a\x01b"')),
    Case("raw-newline-in-string", member(b'"a\nb"')),
    Case("raw-tab-in-string", member(b'"a\tb"')),
    Case("bad-escape", member(b'"\\x41"')),
    Case("lone-high-surrogate", member(b'"\\ud800"')),
    Case("lone-low-surrogate", member(b'"\\udc00"')),
    Case("reversed-surrogates", member(b'"\\udc00\\ud800"')),
    Case("surrogate-pair", member(b'"\\ud83d\\ude00"'), "\U0001f600"),
    Case("invalid-utf8-ff", member(b'"\xff"')),
    Case("overlong-utf8-slash", member(b'"\xc0\xaf"')),
    Case("overlong-utf8-nul", member(b'"\xc0\x80"')),
    Case("utf8-encoded-surrogate", member(b'"\xed\xa0\x80"')),
    Case("truncated-utf8", member(b'"\xe2\x82"')),
    Case("utf8-beyond-unicode", member(b'"\xf4\x90\x80\x80"')),
    Case("escaped-nul", member(b'"\\u0000"'), "\x00"),
    Case("noncharacter", member(b'"\\uffff"'), "\uffff"),
    # ------------------------------------------------------------------------- numbers
    Case("nan", member(b"NaN")),
    Case("nan-lower", member(b"nan")),
    Case("infinity", member(b"Infinity")),
    Case("minus-infinity", member(b"-Infinity")),
    Case("leading-zero", member(b"01")),
    Case("minus-leading-zero", member(b"-01")),
    Case("plus-sign", member(b"+1")),
    Case("leading-dot", member(b".5")),
    Case("trailing-dot", member(b"1.")),
    Case("bare-exponent", member(b"1e")),
    Case("hex-number", member(b"0x10")),
    Case("underscore-number", member(b"1_000")),
    Case("huge-exponent", member(b"1e400")),
    Case("huge-negative-exponent", member(b"-1e400")),
    Case("digits-10000", member(b"1" * 10_000)),
    Case("negative-digits-10000", member(b"-" + b"9" * 10_000)),
    Case("underflow-to-zero", member(b"1e-400"), 0.0),
    Case("minus-zero-int", member(b"-0"), 0),
    Case("minus-zero-float", member(b"-0.0"), -0.0),
    Case("u64-max", member(b"18446744073709551615"), 2**64 - 1),
    Case("beyond-u64", member(b"18446744073709551616"), 2**64),
    Case("below-i64", member(b"-9223372036854775809"), -(2**63) - 1),
    Case("int-300-digits", member(b"7" * 300), int("7" * 300)),
    Case("fraction-10000-digits", member(b"0." + b"3" * 10_000), 1 / 3),
    # ------------------------------------------------------------------------- nesting
    Case("depth-100000-arrays", member(nested(100_000))),
    Case("depth-100000-objects", member(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)),
    Case("depth-100000-unclosed", member(b"[" * 100_000)),
    Case("depth-1000", member(nested(1000))),
    Case("depth-300", member(nested(300))),
    Case("depth-245", member(nested(245))),
    Case("depth-200", member(nested(200)), json.loads(nested(200))),
    # Laid out as jsonpersist writes, a plain value skips decoding; the depth still counts.
    Case("depth-241-canonical", canonical_bot_data(nested(241)), json.loads(nested(241))),
    Case("depth-242-canonical", canonical_bot_data(nested(242))),
    Case("depth-250-objects-canonical", canonical_bot_data(b'{"a":' * 250 + b"1" + b"}" * 250)),
    # ---------------------------------------------------------------- duplicate keys
    Case("duplicate-member", envelope("bot_data", b'{"v": 1, "v": 2}')),
    Case("duplicate-nested", member(b'{"a": 1, "a": 1}')),
    Case("duplicate-envelope", envelope("bot_data", b"{}")[:-1] + b', "data": {}}'),
    Case(
        "duplicate-version",
        b'{"jsonpersist": 1, "jsonpersist": 2, "category": "bot_data", "data": {}}',
    ),
    Case("duplicate-tag", member(b'{"$tuple": [1], "$tuple": [2]}')),
    Case("duplicate-in-escape", member(b'{"$": {"$a": 1, "$a": 2}}')),
    Case(
        "duplicate-user-id",
        envelope("user_data", b'{"7": {}, "7": {"a": 1}}'),
        category="user_data",
    ),
    Case("duplicate-dict-key", member(b'{"$dict": [[1, "a"], [1, "b"]]}')),
    Case(
        "duplicate-handler",
        envelope("conversations", b'{"c": {}, "c": {}}'),
        category="conversations",
    ),
    Case(
        "user-id-leading-zero", envelope("user_data", b'{"7": {}, "07": {}}'), category="user_data"
    ),
    Case("user-id-plus", envelope("user_data", b'{"+7": {}}'), category="user_data"),
    Case("user-id-spaces", envelope("user_data", b'{" 7": {}}'), category="user_data"),
    Case(
        "user-id-arabic-digits",
        envelope("user_data", '{"\u0667": {}}'.encode()),
        category="user_data",
    ),
    Case(
        "user-id-double-minus",
        envelope("user_data", b'{"--5": {}}'),
        category="user_data",
    ),
    Case(
        "chat-id-double-minus",
        envelope("chat_data", b'{"--100": {}}'),
        category="chat_data",
    ),
    Case("user-id-minus-only", envelope("user_data", b'{"-": {}}'), category="user_data"),
    Case("user-id-underscore", envelope("user_data", b'{"1_0": {}}'), category="user_data"),
    # --------------------------------------------------------------------- the envelope
    Case("top-level-array", b"[]"),
    Case("top-level-null", b"null"),
    Case("top-level-string", b'"bot_data"'),
    Case("top-level-number", b"1"),
    Case("missing-data", b'{"jsonpersist": 1, "category": "bot_data"}'),
    Case("extra-key", envelope("bot_data", b"{}")[:-1] + b', "extra": 1}'),
    Case("other-category", envelope("chat_data", b"{}")),
    Case("category-not-a-string", b'{"jsonpersist": 1, "category": ["bot_data"], "data": {}}'),
    Case("version-2", envelope("bot_data", b"{}", b"2")),
    Case("version-0", envelope("bot_data", b"{}", b"0")),
    Case("version-string", envelope("bot_data", b"{}", b'"1"')),
    Case("version-float", envelope("bot_data", b"{}", b"1.0")),
    Case("version-true", envelope("bot_data", b"{}", b"true")),
    Case("version-huge", envelope("bot_data", b"{}", b"1" * 30)),
    Case("bot-data-list", envelope("bot_data", b"[1]")),
    Case("user-data-list", envelope("user_data", b"[]"), category="user_data"),
    Case("user-entry-list", envelope("user_data", b'{"7": [1]}'), category="user_data"),
    Case(
        "callback-data-list",
        envelope("callback_data", b"[]"),
        category="callback_data",
    ),
    Case(
        "callback-keyboard-short",
        envelope("callback_data", b'{"keyboards": [["k", 1.0]], "queries": {}}'),
        category="callback_data",
    ),
    Case(
        "callback-time-beyond-float",
        envelope(
            "callback_data",
            b'{"keyboards": [["k", {"$int": "' + b"9" * 400 + b'"}, {}]], "queries": {}}',
        ),
        category="callback_data",
    ),
    Case("conversations-list", envelope("conversations", b'{"c": [1]}'), category="conversations"),
    Case(
        "conversation-key-unhashable",
        envelope("conversations", b'{"c": {"$dict": [[[1], 2]]}}'),
        category="conversations",
    ),
    # -------------------------------------------------------------------------- tags
    Case("unknown-tag", member(b'{"$nope": 1}')),
    Case("two-tags", member(b'{"$tuple": [], "$set": []}')),
    Case("tag-extra-field", member(b'{"$tuple": [1], "x": 2}')),
    Case("escape-not-object", member(b'{"$": 5}')),
    Case("int-tag-not-string", member(b'{"$int": 5}')),
    Case("int-tag-not-digits", member(b'{"$int": "12a"}')),
    Case("int-tag-4301-digits", member(b'{"$int": "' + b"1" * 4301 + b'"}')),
    Case("float-tag-bad", member(b'{"$float": "1.5"}')),
    Case("bytes-tag-bad", member(b'{"$bytes": "***"}')),
    Case("datetime-bad", member(b'{"$datetime": "yesterday"}')),
    Case(
        "datetime-zone-unknown", member(b'{"$datetime": "2024-01-01T00:00:00+00:00[Mars/Base]"}')
    ),
    Case(
        "datetime-zone-traversal",
        member(b'{"$datetime": "2024-01-01T00:00:00+00:00[../../../../etc/passwd]"}'),
    ),
    Case(
        "datetime-zone-directory",
        member(b'{"$datetime": "2024-01-01T00:00:00+00:00[America]"}'),
    ),
    Case(
        "datetime-fractional-offset",
        member(b'{"$datetime": "2025-03-31T02:30:00+01:00:00.5"}'),
    ),
    Case(
        "datetime-fractional-offset-canonical",
        canonical_bot_data(b'{"$datetime":"2025-03-31T02:30:00+01:00:00.500000"}'),
    ),
    Case("time-fractional-offset", member(b'{"$time": "02:30:00+01:00:00.5"}')),
    Case("timedelta-nan", member(b'{"$timedelta": "NaN"}')),
    Case("timedelta-too-precise", member(b'{"$timedelta": "1e-7"}')),
    Case("timedelta-beyond-range", member(b'{"$timedelta": "1e20"}')),
    Case("uuid-bad", member(b'{"$uuid": "not-a-uuid"}')),
    Case("decimal-bad", member(b'{"$decimal": "one"}')),
    Case("set-unhashable", member(b'{"$set": [[1]]}')),
    Case("dict-pair-short", member(b'{"$dict": [[1]]}')),
    Case("dict-not-list", member(b'{"$dict": {"a": 1}}')),
    Case("tuple-not-list", member(b'{"$tuple": "ab"}')),
    Case("bot-placeholder-other", member(b'{"$bot": "other"}')),
    Case("tg-os-system", member(b'{"$tg": "os.system", "data": {}}')),
    Case("tg-bot", member(b'{"$tg": "Bot", "data": {"token": "1:x"}}')),
    Case("tg-extbot", member(b'{"$tg": "telegram.ext.ExtBot", "data": {}}')),
    Case("tg-data-not-object", member(b'{"$tg": "User", "data": [1]}')),
    Case("tg-missing-fields", member(b'{"$tg": "User", "data": {}}')),
    Case("tg-unknown-bot-field", member(b'{"$tg": "User", "bot": "mine", "data": {}}')),
    Case("obj-os-system", member(b'{"$obj": "os.system", "data": "echo pwned"}')),
    Case("obj-subprocess", member(b'{"$obj": "subprocess.Popen", "data": ["ls"]}')),
    Case("obj-builtins-eval", member(b'{"$obj": "builtins.eval", "data": "1"}')),
    Case("obj-not-a-string", member(b'{"$obj": {"a": 1}, "data": 1}')),
]


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


@pytest.mark.parametrize("case", params())
async def test_hostile_file(case: Case, tmp_path: Path) -> None:
    path = tmp_path / f"{case.category}.json"
    path.write_bytes(case.raw)
    persistence = JsonPersistence(tmp_path)
    started = time.perf_counter()
    try:
        if case.expect is CORRUPT:
            with pytest.raises(CorruptStateError) as raised:
                await load(persistence, case.category)
            assert raised.value.file == path
            assert str(path) in str(raised.value)
            # ... and it stays: the category refuses updates instead of replacing the file.
            with pytest.raises(CorruptStateError):
                await update(persistence, case.category)
        else:
            value = (await load(persistence, case.category))["v"]
            assert value == case.expect
            assert type(value) is type(case.expect)
            if isinstance(value, float):
                assert math.copysign(1, value) == math.copysign(1, case.expect)
    finally:
        await persistence.flush()
    assert time.perf_counter() - started < TIME_LIMIT
    assert path.read_bytes() == case.raw, "a hostile file was rewritten"


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
        "version-2",
        "unknown-tag",
        "lone-high-surrogate",
        "overlong-utf8-slash",
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
    started = time.perf_counter()
    with pytest.raises(CorruptStateError, match="not a regular file"):
        await asyncio.wait_for(JsonPersistence(tmp_path, read_only=True).get_bot_data(), 5)
    assert time.perf_counter() - started < TIME_LIMIT


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
        file.write(
            b'{\n  "jsonpersist": 1,\n  "category": "bot_data",\n  "data": {\n    "blob": "'
        )
        for _ in range(megabytes):
            file.write(chunk)
        file.write(b'"\n  }\n}\n')
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
