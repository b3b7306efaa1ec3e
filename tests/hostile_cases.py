"""The hostile corpus: state files no parser should trust, shared by the tests that load them.

``CASES`` are small files of the kinds JSONTestSuite collects (syntax that some parsers accept,
encodings, numbers at the edges of every representation) plus jsonpersist's own: the header
and the entries of format version 2 (and the envelope of version 1, still read), git's conflict
markers, the tags, ids, keys and set items chosen to share one hash, names of things a file
must never reach, and Telegram classes whose constructor would look a path up. ``GENERATED``
are files of up to 1 MB built to make a loader quadratic (hash flooding), made on demand.

``tests/test_hostile.py`` loads each one with a persistence; ``tests/test_cli_hostile.py``
runs every command of the command line over them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = (
    "CASES",
    "CORRUPT",
    "GENERATED",
    "LOADS",
    "MAX_GENERATED_SIZE",
    "Case",
    "Generated",
    "canonical_bot_data",
    "envelope",
    "member",
    "nested",
    "v2",
)

CORRUPT = "corrupt"


def v2(category: str, *entries: bytes, version: bytes = b"2") -> bytes:
    """A file of format version 2 as a person might write it (the loader's strict path)."""
    header = b'{"jsonpersist": %s, "category": "%s"}' % (version, category.encode())
    return b"[" + b",\n ".join([header, *entries]) + b"]\n"


def envelope(category: str, data: bytes, version: bytes = b"1") -> bytes:
    """A file of format version 1: one object around the category's data."""
    return b'{"jsonpersist": %s, "category": "%s", "data": %s}' % (
        version,
        category.encode(),
        data,
    )


def member(value: bytes) -> bytes:
    """A bot_data file whose key "v" is ``value``."""
    return v2("bot_data", b'["v", ' + value + b"]")


@dataclass(frozen=True)
class Case:
    id: str
    raw: bytes
    expect: Any = CORRUPT  # or the value of bot_data["v"] (or of the whole category)
    category: str = "bot_data"
    xfail: str = ""


HEAD = b'[{"jsonpersist":2,"category":"%s"}\n'


def canonical_bot_data(value: bytes) -> bytes:
    """A bot_data file laid out exactly as jsonpersist writes it (the loader's fast path)."""
    return HEAD % b"bot_data" + b',["v",%s]\n]\n' % value


def canonical_v1_bot_data(value: bytes) -> bytes:
    """A bot_data file laid out exactly as jsonpersist 1 wrote it."""
    return (
        b'{\n  "jsonpersist": 1,\n  "category": "bot_data",\n  "data": {\n    "v": %s\n  }\n}\n'
        % value
    )


def nested(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return opener * depth + closer * depth


#: Python's ``hash(int)`` is ``x mod (2**61 - 1)``: every multiple of it hashes to 0.
MERSENNE_61 = 2**61 - 1


def canonical(category: str, lines: list[bytes]) -> bytes:
    """A file laid out exactly as jsonpersist writes it (the fast path), from its entries."""
    return HEAD % category.encode() + b"".join(b",%b\n" % line for line in lines) + b"]\n"


def objects(value: Any) -> bytes:
    return json.dumps(value).encode()


def tagged(tag: str, items: list[Any]) -> bytes:
    return json.dumps({tag: items}).encode()


def colliding_ints(count: int) -> list[dict[str, str]]:
    """``count`` ints beyond 64 bits, as ``$int``, that all hash to 0."""
    return [{"$int": str(k * MERSENNE_61)} for k in range(9, 9 + count)]


def colliding_user(user_id: Any) -> dict[str, Any]:
    """A User whose id is ``user_id``: PTB hashes a User by its id."""
    return {"$tg": "User", "data": {"id": user_id, "first_name": "a", "is_bot": False}}


def tg(name: str, data: dict[str, Any]) -> bytes:
    return json.dumps({"$tg": name, "data": data}).encode()


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
    Case("trailing-comma-object", member(b'{"a": 1,}')),
    Case("trailing-comma-entries", v2("bot_data", b'["v", 1]', b"")),
    Case("trailing-comma-array", member(b"[1, 2,]")),
    Case("missing-comma", member(b"[1 2]")),
    Case("single-quotes", v2("bot_data", b"['v', 1]")),
    Case("unquoted-key", member(b"{v: 1}")),
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
    Case("duplicate-member", v2("bot_data", b'["v", 1]', b'["v", 2]')),
    Case("duplicate-nested", member(b'{"a": 1, "a": 1}')),
    Case(
        "duplicate-header-key",
        b'[{"jsonpersist": 2, "category": "bot_data", "category": "bot_data"}]',
    ),
    Case("duplicate-version", b'[{"jsonpersist": 2, "jsonpersist": 1, "category": "bot_data"}]'),
    Case("duplicate-tag", member(b'{"$tuple": [1], "$tuple": [2]}')),
    Case("duplicate-in-escape", member(b'{"$": {"$a": 1, "$a": 2}}')),
    Case("duplicate-user-id", v2("user_data", b"[7, {}]", b'[7, {"a": 1}]'), category="user_data"),
    Case(
        "duplicate-user-id-canonical",
        canonical("user_data", [b"[7,{}]", b"[7,{}]"]),
        category="user_data",
    ),
    Case("duplicate-dict-key", member(b'{"$dict": [[1, "a"], [1, "b"]]}')),
    Case("duplicate-dict-key-and-member", member(b'{"$dict": [["a", 1]], "a": 2}')),
    Case(
        "duplicate-conversation",
        v2("conversations", b'["c", [1, 1], 1]', b'["c", [1, 1], 2]'),
        category="conversations",
    ),
    Case("duplicate-bot-key-int-float", v2("bot_data", b'[1, "a"]', b'[1.0, "b"]')),
    Case("duplicate-bot-key-int-true", v2("bot_data", b'[1, "a"]', b'[true, "b"]')),
    Case("duplicate-bot-key-int-tag", v2("bot_data", b'[5, "a"]', b'[{"$int": "5"}, "b"]')),
    Case("user-id-leading-zero", v2("user_data", b"[7, {}]", b"[07, {}]"), category="user_data"),
    Case("user-id-plus", v2("user_data", b"[+7, {}]"), category="user_data"),
    Case("user-id-string", v2("user_data", b'["7", {}]'), category="user_data"),
    Case("user-id-float", v2("user_data", b"[7.0, {}]"), category="user_data"),
    Case("user-id-float-canonical", canonical("user_data", [b"[7.0,{}]"]), category="user_data"),
    Case("user-id-exponent", v2("user_data", b"[7e0, {}]"), category="user_data"),
    Case("user-id-true", v2("user_data", b"[true, {}]"), category="user_data"),
    Case("user-id-null", v2("user_data", b"[null, {}]"), category="user_data"),
    Case(
        "user-id-arabic-digits",
        v2("user_data", '["\u0667", {}]'.encode()),
        category="user_data",
    ),
    Case("user-id-double-minus", v2("user_data", b"[--5, {}]"), category="user_data"),
    Case("chat-id-double-minus", v2("chat_data", b"[--100, {}]"), category="chat_data"),
    Case("user-id-minus-only", v2("user_data", b"[-, {}]"), category="user_data"),
    Case("user-id-underscore", v2("user_data", b"[1_0, {}]"), category="user_data"),
    Case(
        "user-ids-out-of-order-canonical",
        canonical("user_data", [b"[9,{}]", b"[7,{}]"]),
        {7: {}, 9: {}},
        category="user_data",
    ),
    # ----------------------------------------------------------------------- the header
    Case("top-level-array", b"[]"),
    Case("top-level-null", b"null"),
    Case("top-level-string", b'"bot_data"'),
    Case("top-level-number", b"1"),
    Case("header-missing-category", b'[{"jsonpersist": 2}]'),
    Case("header-missing-version", b'[{"category": "bot_data"}]'),
    Case("header-extra-key", b'[{"jsonpersist": 2, "category": "bot_data", "data": {}}]'),
    Case("header-not-first", b'[["v", 1], {"jsonpersist": 2, "category": "bot_data"}]'),
    Case("header-an-array", b'[["jsonpersist", 2, "category", "bot_data"]]'),
    Case("other-category", v2("chat_data")),
    Case("category-not-a-string", b'[{"jsonpersist": 2, "category": ["bot_data"]}]'),
    Case("version-3", v2("bot_data", version=b"3")),
    Case("version-0", v2("bot_data", version=b"0")),
    Case("version-1-as-an-array", v2("bot_data", version=b"1")),
    Case("version-string", v2("bot_data", version=b'"2"')),
    Case("version-float", v2("bot_data", version=b"2.0")),
    Case("version-true", v2("bot_data", version=b"true")),
    Case("version-huge", v2("bot_data", version=b"2" * 30)),
    Case("entry-an-object", v2("bot_data", b'{"v": 1}')),
    Case("entry-empty", v2("bot_data", b"[]")),
    Case("entry-a-number", v2("bot_data", b"5")),
    Case("bot-data-key-and-two-values", v2("bot_data", b'["v", 1, 2]')),
    Case("bot-data-key-unhashable", v2("bot_data", b"[[1], 2]")),
    Case("bot-data-key-a-set", v2("bot_data", b'[{"$set": [1]}, 2]')),
    Case("bot-data-key-bad-tag", v2("bot_data", b'[{"$nope": 1}, 2]')),
    Case("bot-data-whole-list", v2("bot_data", b"[[1]]")),
    Case("bot-data-whole-and-keyed", v2("bot_data", b"[{}]", b'["v", 1]')),
    Case("user-entry-no-id", v2("user_data", b"[{}]"), category="user_data"),
    Case("user-entry-list", v2("user_data", b"[7, [1]]"), category="user_data"),
    Case(
        "callback-entry-short", v2("callback_data", b'["keyboard", "k"]'), category="callback_data"
    ),
    Case(
        "callback-entry-kind-unknown",
        v2("callback_data", b'["button", "k", [1.0, {}]]'),
        category="callback_data",
    ),
    Case(
        "callback-keyboard-short",
        v2("callback_data", b'["keyboard", "k", [1.0]]'),
        category="callback_data",
    ),
    Case(
        "callback-time-beyond-float",
        v2("callback_data", b'["keyboard", "k", [{"$int": "' + b"9" * 400 + b'"}, {}]]'),
        category="callback_data",
    ),
    Case(
        "callback-query-not-a-string",
        v2("callback_data", b'["query", "q", 5]'),
        category="callback_data",
    ),
    Case("conversation-no-key", v2("conversations", b'["c", [1, 1]]'), category="conversations"),
    Case(
        "conversation-key-a-tuple-tag",
        v2("conversations", b'["c", {"$tuple": [1, 1]}, 1]'),
        category="conversations",
    ),
    Case(
        "conversation-key-unhashable",
        v2("conversations", b'["c", [[1]], 1]'),
        category="conversations",
    ),
    Case(
        "conversation-key-float",
        v2("conversations", b'["c", [1.5], 1]'),
        category="conversations",
    ),
    Case(
        "conversation-handler-not-a-string",
        v2("conversations", b"[1, [1], 1]"),
        category="conversations",
    ),
    # ------------------------------------------------------------- merge conflicts
    Case(
        "merge-conflict",
        HEAD % b"bot_data" + b'<<<<<<< ours\n,["v",1]\n=======\n,["v",2]\n>>>>>>> theirs\n]\n',
    ),
    Case(
        "merge-conflict-unterminated",
        HEAD % b"bot_data" + b'<<<<<<< ours\n,["v",1]\n=======\n',
    ),
    # ------------------------------------------------ version 1, still read (strictly)
    Case("v1-duplicate-member", envelope("bot_data", b'{"v": 1, "v": 2}')),
    Case("v1-duplicate-envelope", envelope("bot_data", b"{}")[:-1] + b', "data": {}}'),
    Case(
        "v1-duplicate-user-id",
        envelope("user_data", b'{"7": {}, "7": {"a": 1}}'),
        category="user_data",
    ),
    Case(
        "v1-user-id-leading-zero",
        envelope("user_data", b'{"7": {}, "07": {}}'),
        category="user_data",
    ),
    Case("v1-user-id-spaces", envelope("user_data", b'{" 7": {}}'), category="user_data"),
    Case(
        "v1-user-id-beyond-i64",
        envelope("user_data", b'{"9223372036854775808": {}}'),
        category="user_data",
    ),
    Case("v1-missing-data", b'{"jsonpersist": 1, "category": "bot_data"}'),
    Case("v1-extra-key", envelope("bot_data", b"{}")[:-1] + b', "extra": 1}'),
    Case("v1-other-category", envelope("chat_data", b"{}")),
    Case("v1-version-2", envelope("bot_data", b"{}", b"2")),
    Case("v1-version-true", envelope("bot_data", b"{}", b"true")),
    Case("v1-user-data-list", envelope("user_data", b"[]"), category="user_data"),
    Case("v1-callback-data-list", envelope("callback_data", b"[]"), category="callback_data"),
    Case(
        "v1-callback-keyboard-short",
        envelope("callback_data", b'{"keyboards": [["k", 1.0]], "queries": {}}'),
        category="callback_data",
    ),
    Case(
        "v1-conversations-list", envelope("conversations", b'{"c": [1]}'), category="conversations"
    ),
    Case(
        "v1-conversation-key-unhashable",
        envelope("conversations", b'{"c": {"$dict": [[[1], 2]]}}'),
        category="conversations",
    ),
    Case("v1-member", envelope("bot_data", b'{"v": {"$tuple": [1, "a"]}}'), (1, "a")),
    Case(
        "v1-set-33-colliding-ints",
        envelope("bot_data", b'{"v": ' + tagged("$set", colliding_ints(33)) + b"}"),
    ),
    Case(
        "v1-user-ids-colliding",
        envelope("user_data", objects({str(k * MERSENNE_61): {} for k in range(5, 8)})),
        category="user_data",
    ),
    Case(
        "v1-conversation-keys-colliding",
        envelope(
            "conversations",
            objects({"c": {"$dict": [[{"$tuple": [key, 1]}, 1] for key in colliding_ints(33)]}}),
        ),
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
    # ------------------------------------------------------- ids beyond Telegram's range
    Case(
        "user-id-beyond-i64", v2("user_data", b"[9223372036854775808, {}]"), category="user_data"
    ),
    Case(
        "user-id-below-i64", v2("user_data", b"[-9223372036854775809, {}]"), category="user_data"
    ),
    Case("chat-id-u64-max", v2("chat_data", b"[18446744073709551615, {}]"), category="chat_data"),
    Case(
        "user-id-beyond-i64-canonical",
        canonical("user_data", [b"[18446744073709551616,{}]"]),
        category="user_data",
    ),
    Case(
        "user-id-u64-max-canonical",
        canonical("user_data", [b"[18446744073709551615,{}]"]),
        category="user_data",
    ),
    Case(
        "user-ids-colliding",
        v2("user_data", *(b"[%d, {}]" % (k * MERSENNE_61) for k in range(5, 8))),
        category="user_data",
    ),
    # ----------------------------------------------- set items and dict keys sharing a hash
    Case("set-33-colliding-ints", member(tagged("$set", colliding_ints(33)))),
    Case(
        "set-32-colliding-ints",
        member(tagged("$set", colliding_ints(32))),
        {k * MERSENNE_61 for k in range(9, 9 + 32)},
    ),
    Case("frozenset-33-colliding-ints", member(tagged("$frozenset", colliding_ints(33)))),
    Case(
        "dict-33-colliding-keys",
        member(tagged("$dict", [[key, 0] for key in colliding_ints(33)])),
    ),
    Case(
        "set-33-colliding-decimals",
        member(tagged("$set", [{"$decimal": str(k * MERSENNE_61)} for k in range(1, 34)])),
    ),
    Case(
        "set-33-colliding-uuids",
        member(
            tagged("$set", [{"$uuid": str(uuid.UUID(int=k * MERSENNE_61))} for k in range(1, 34)])
        ),
    ),
    Case(
        "set-33-colliding-tuples",
        member(tagged("$set", [{"$tuple": [item, "x"]} for item in colliding_ints(33)])),
    ),
    Case(
        "set-33-colliding-frozensets",
        member(tagged("$set", [{"$frozenset": [item]} for item in colliding_ints(33)])),
    ),
    Case(
        "set-33-colliding-users",
        member(tagged("$set", [colliding_user(item) for item in colliding_ints(33)])),
    ),
    Case(
        "conversation-keys-colliding",
        v2("conversations", *(b'["c", [%b, 1], 1]' % objects(key) for key in colliding_ints(33))),
        category="conversations",
    ),
    Case(
        "bot-data-keys-33-colliding",
        v2("bot_data", *(b"[%b, 0]" % objects(key) for key in colliding_ints(33))),
    ),
    Case(
        "bot-data-keys-33-colliding-canonical",
        canonical(
            "bot_data", [b"[%b,0]" % objects(key).replace(b" ", b"") for key in colliding_ints(33)]
        ),
    ),
    Case(
        "bot-data-keys-33-colliding-tuples",
        v2("bot_data", *(b'[{"$tuple": [%b]}, 0]' % objects(key) for key in colliding_ints(33))),
    ),
    # ------------------------------------------------ values the encoder never writes twice
    Case("set-duplicate", member(b'{"$set": [1, 1]}')),
    Case("set-duplicate-int-float", member(b'{"$set": [1, 1.0]}')),
    Case("frozenset-duplicate-one-true", member(b'{"$frozenset": [1, true]}')),
    Case("set-duplicate-tuples", member(b'{"$set": [{"$tuple": [1]}, {"$tuple": [1]}]}')),
    Case("dict-duplicate-int-float-key", member(b'{"$dict": [[1, "a"], [1.0, "b"]]}')),
    # ------------------------------------------------------------- $int spelled otherwise
    Case("int-tag-arabic-indic-digits", member('{"$int": "\u0663"}'.encode())),
    Case("int-tag-fullwidth-digits", member('{"$int": "\uff11\uff12"}'.encode())),
    Case("int-tag-plus", member(b'{"$int": "+18446744073709551616"}')),
    Case("int-tag-underscore", member(b'{"$int": "18_446_744_073_709_551_616"}')),
    Case("int-tag-spaces", member(b'{"$int": " 18446744073709551616 "}')),
    Case("int-tag-hex-capital-x", member(b'{"$int": "0X10000000000000000"}')),
    Case("int-tag-hex-underscore", member(b'{"$int": "0x1_0000_0000_0000_0000"}')),
    Case("int-tag-double-minus-hex", member(b'{"$int": "--0x10000000000000000"}')),
    # ------------------------------------------------- a zone and an offset that disagree
    Case(
        "datetime-offset-not-the-zones",
        member(b'{"$datetime": "2024-07-01T12:00:00+05:00[Europe/Berlin]"}'),
    ),
    Case(
        "datetime-offset-not-the-zones-canonical",
        canonical_bot_data(b'{"$datetime":"2024-07-01T12:00:00+00:00[Europe/Berlin]"}'),
    ),
    # ------------------------------------- Telegram classes whose constructor reads the disk
    Case(
        "tg-input-media-photo-etc-shadow",
        member(tg("InputMediaPhoto", {"type": "photo", "media": "/etc/shadow"})),
    ),
    Case(
        "tg-input-media-document-thumbnail-traversal",
        member(
            tg(
                "InputMediaDocument",
                {"type": "document", "media": "x", "thumbnail": "../../../../etc/hostname"},
            )
        ),
    ),
    Case(
        "tg-input-sticker-home",
        member(
            tg("InputSticker", {"sticker": "~/.bashrc", "emoji_list": ["a"], "format": "static"})
        ),
    ),
    Case(
        "tg-input-paid-media-photo",
        member(tg("InputPaidMediaPhoto", {"type": "photo", "media": "/etc/passwd"})),
    ),
    Case(
        "tg-input-profile-photo-static",
        member(tg("InputProfilePhotoStatic", {"type": "static", "photo": "/etc/passwd"})),
    ),
    Case(
        "tg-input-story-content-photo",
        member(tg("InputStoryContentPhoto", {"type": "photo", "photo": "/etc/passwd"})),
    ),
    # ------------------------------------------------- valid files a parser must not refuse
    Case(
        "orjson-failed-to-allocate",
        canonical_v1_bot_data(b"[" + b",".join([b"[1]"] * 1300) + b"]"),
        [[1]] * 1300,
    ),
    Case(
        "a-thousand-small-arrays-canonical",
        canonical_bot_data(b"[" + b",".join([b"[1]"] * 1300) + b"]"),
        [[1]] * 1300,
    ),
    Case(
        "tg-input-media-in-a-list",
        member(b"[1, " + tg("InputMediaVideo", {"type": "video", "media": "/etc"}) + b"]"),
    ),
]


# ------------------------------------------------------------ files of up to 1 MB, generated

#: The largest generated file: every file up to this size loads or is refused within a second.
MAX_GENERATED_SIZE = 1_000_000
LOADS = "loads"


@dataclass(frozen=True)
class Generated:
    """A file built on demand (too large to keep in the parameters of a test)."""

    id: str
    build: Callable[[], bytes]
    category: str = "bot_data"
    expect: str = CORRUPT  # or LOADS


def filled(
    head: bytes, items: Callable[[int], bytes], tail: bytes, separator: bytes = b","
) -> bytes:
    """``head``, as many ``items(0), items(1)...`` (comma separated) as fit, then ``tail``."""
    parts, size, index = [], len(head) + len(tail), 0
    while True:
        item = items(index)
        if size + len(item) + len(separator) > MAX_GENERATED_SIZE:
            return head + separator.join(parts) + tail
        parts.append(item)
        size += len(item) + len(separator)
        index += 1


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def big_int(index: int, start: int = 9) -> bytes:
    """The ``index``-th multiple of 2**61 - 1 beyond 64 bits, as a ``$int``: one shared hash."""
    return dumps({"$int": str((start + index) * MERSENNE_61)})


def bot_data_set(tag: str, items: Callable[[int], bytes]) -> Callable[[], bytes]:
    head = b'[{"jsonpersist": 2, "category": "bot_data"}, ["v", {"' + tag.encode() + b'": ['
    return lambda: filled(head, items, b"]}]]")


def ids(category: str, sign: int, layout: str = "") -> Callable[[], bytes]:
    """A user or chat data file of ids that all share one hash (k * (2**61 - 1))."""
    if layout == "canonical":  # as jsonpersist writes it: the loader's fast path
        head = HEAD % category.encode()
        line = b",[%d,{}]\n"
        return lambda: filled(head, lambda i: line % (sign * (i + 5) * MERSENNE_61), b"]\n", b"")
    if layout == "v1":
        head = b'{"jsonpersist": 1, "category": "%s", "data": {' % category.encode()
        return lambda: filled(head, lambda i: b'"%d": {}' % (sign * (i + 5) * MERSENNE_61), b"}}")
    head = b'[{"jsonpersist": 2, "category": "%s"}, ' % category.encode()
    return lambda: filled(head, lambda i: b"[%d, {}]" % (sign * (i + 5) * MERSENNE_61), b"]")


def many_sets_at_the_bound() -> bytes:
    """As many sets as fit, each of 32 items sharing a hash: the most the decoder accepts."""
    one_set = tagged("$set", [{"$int": str((9 + i) * MERSENNE_61)} for i in range(32)])
    return bot_data_set("$tuple", lambda i: one_set)()


GENERATED = [
    Generated("user-ids-colliding-1mb", ids("user_data", 1), "user_data"),
    Generated("chat-ids-colliding-1mb", ids("chat_data", -1), "chat_data"),
    Generated("user-ids-colliding-canonical-1mb", ids("user_data", 1, "canonical"), "user_data"),
    Generated("user-ids-colliding-v1-1mb", ids("user_data", 1, "v1"), "user_data"),
    Generated(
        "bot-data-keys-colliding-1mb",
        lambda: filled(
            b'[{"jsonpersist": 2, "category": "bot_data"}, ',
            lambda i: b"[" + big_int(i) + b", 0]",
            b"]",
        ),
    ),
    Generated(
        "bot-data-keys-colliding-canonical-1mb",
        lambda: filled(HEAD % b"bot_data", lambda i: b",[" + big_int(i) + b",0]\n", b"]\n", b""),
    ),
    Generated("set-of-colliding-ints-1mb", bot_data_set("$set", big_int)),
    Generated("frozenset-of-colliding-ints-1mb", bot_data_set("$frozenset", big_int)),
    Generated(
        "dict-of-colliding-int-keys-1mb",
        bot_data_set("$dict", lambda i: b"[" + big_int(i) + b",0]"),
    ),
    Generated(
        "set-of-colliding-decimals-1mb",
        bot_data_set("$set", lambda i: dumps({"$decimal": str((i + 1) * MERSENNE_61)})),
    ),
    Generated(
        "set-of-colliding-uuids-1mb",
        bot_data_set(
            "$set", lambda i: dumps({"$uuid": str(uuid.UUID(int=(i + 1) * MERSENNE_61))})
        ),
    ),
    Generated(
        "set-of-colliding-tuples-1mb",
        bot_data_set("$set", lambda i: b'{"$tuple":[' + big_int(i) + b"]}"),
    ),
    Generated(
        "set-of-colliding-users-1mb",
        bot_data_set("$set", lambda i: dumps(colliding_user(json.loads(big_int(i))))),
    ),
    Generated(
        "conversation-keys-colliding-1mb",
        lambda: filled(
            b'[{"jsonpersist": 2, "category": "conversations"}, ',
            lambda i: b'["c",[' + big_int(i) + b",1],1]",
            b"]",
        ),
        "conversations",
    ),
    Generated(
        "conversation-keys-colliding-v1-1mb",
        lambda: filled(
            b'{"jsonpersist": 1, "category": "conversations", "data": {"c": {"$dict": [',
            lambda i: b'[{"$tuple":[' + big_int(i) + b",1]},1]",
            b"]}}}",
        ),
        "conversations",
    ),
    Generated("sets-of-32-colliding-ints-1mb", many_sets_at_the_bound, expect=LOADS),
    Generated(
        "set-of-distinct-big-ints-1mb",
        bot_data_set("$set", lambda i: dumps({"$int": str(2**64 + i)})),
        expect=LOADS,
    ),
    Generated(
        "user-ids-distinct-1mb",
        lambda: filled(
            b'[{"jsonpersist": 2, "category": "user_data"}, ',
            lambda i: b"[%d, {}]" % (i * 1_000_003),
            b"]",
        ),
        "user_data",
        expect=LOADS,
    ),
    Generated(
        "bot-data-keys-distinct-1mb",
        lambda: filled(HEAD % b"bot_data", lambda i: b',["k%07d",0]\n' % i, b"]\n", b""),
        expect=LOADS,
    ),
]
