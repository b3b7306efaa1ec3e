"""The promises of ``docs/format.md`` and the tests behind them (see ``tests/promises.py``).

Most are proven by ``tests/test_codec.py``; the tests here back the order a dict comes back
in, how nesting depth is counted, and what is not kept of a ``datetime.timezone``.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from promises import on_page

from jsonpersist import MAX_DEPTH, Codec, CorruptStateError, UnsupportedTypeError

PAGE = "docs/format.md"
ME = "tests/test_promises_format.py"
CODEC = "tests/test_codec.py"


_p = on_page(PAGE)


PROMISES = [
    _p(
        "Reading `$datetime`, `$date` and `$time` takes what `isoformat()` writes with any "
        "precision",
        f"{ME}::test_iso_texts_are_read_as_isoformat_writes_them_on_every_python",
    ),
    _p(
        "A `dict` with `str` keys, `list`, `str`, `int` in the range orjson keeps exactly, "
        "finite `float`, `bool` and `None` are written as they are.",
        f"{CODEC}::test_plain_json_is_returned_as_it_is_and_written_as_json",
    ),
    _p(
        '**A dict of your own with a key starting with `$` is escaped** as `{"$": {...}}`',
        f"{CODEC}::test_a_dict_with_a_dollar_key_is_escaped",
    ),
    _p(
        "**Equal values give identical bytes**: keys, set elements and `$dict` entries are "
        "sorted.",
        f"{CODEC}::test_equal_values_built_in_another_order_give_identical_bytes",
    ),
    _p(
        "Each example is what `Codec().dumps(value)` writes (`tests/test_codec.py` checks them).",
        f"{CODEC}::test_the_format_of_each_tag",
    ),
    _p(
        'an item that cannot be hashed, an item that appears twice (`{"$set": [1, 1]}`, also '
        "`[1, 1.0]` or `[1, true]`, which Python takes for one) and more items sharing one hash "
        "than [the bound](#items-sharing-a-hash) are errors.",
        f"{CODEC}::test_what_the_encoder_never_writes_is_refused",
        f"{CODEC}::test_more_items_sharing_one_hash_are_refused",
    ),
    _p(
        "Its `str` keys that do not start with `$` stay members of the object",
        f"{CODEC}::test_a_dict_keeps_its_str_keys_as_members_and_reads_either_form",
    ),
    _p(
        'Key types are kept: `{1: "a"}` and `{True: "a"}` are written differently.',
        f"{CODEC}::test_every_supported_value_round_trips_identically",
    ),
    _p(
        "The form of format version 1, where every key was a pair "
        '(`{"$dict":[["b",2],[1,"a"]]}`), is still read.',
        f"{CODEC}::test_a_dict_keeps_its_str_keys_as_members_and_reads_either_form",
    ),
    _p(
        "ints from -2⁶³ to 2⁶⁴-1 (the range orjson reads and writes exactly) are plain JSON "
        "numbers; any other int is a string.",
        f"{CODEC}::test_ints_orjson_keeps_exactly_stay_plain",
        f"{CODEC}::test_ints_beyond_64_bits_are_tagged_in_decimal",
    ),
    _p(
        'then hexadecimal with a `0x` prefix (`"0x1f"`, `"-0x1f"`), which has no such limit',
        f"{CODEC}::test_ints_beyond_the_decimal_digit_limit_are_tagged_in_hex",
        f"{CODEC}::test_the_longest_decimal_int_python_prints_stays_decimal",
    ),
    _p(
        '`int()` would also take `+`, spaces, `_` and the digits of every script (`"٣"` is '
        '3), which the encoder never writes, so they are errors. Leading zeros (`"007"`) are '
        "read as the number they spell.",
        f"{CODEC}::test_what_the_encoder_never_writes_is_refused",
        f"{CODEC}::test_int_tags_in_ascii_load",
    ),
    _p(
        "written in the shortest form that reads back as the same float (so `-0.0` stays `-0.0`)",
        f"{CODEC}::test_every_supported_value_round_trips_identically",
    ),
    _p(
        "The sign of a NaN is kept (`-nan` for a NaN with the sign bit set); its payload bits "
        "are not.",
        f"{CODEC}::test_nan_sign_is_kept",
    ),
    _p(
        "standard base64 (RFC 4648, `+/`, padded). Reading takes only that spelling, as "
        "`base64.b64encode()` writes it, and refuses any other",
        f"{CODEC}::test_the_format_of_each_tag",
        f"{CODEC}::test_corrupt_data_is_reported_with_its_path",
        f"{ME}::test_bytes_are_read_only_as_b64encode_writes_them",
    ),
    _p(
        "so times in a DST fold or gap come back exactly",
        f"{CODEC}::test_every_offset_the_encoder_writes_for_a_zone_loads",
        f"{CODEC}::test_every_supported_value_round_trips_identically",
    ),
    _p(
        "An offset that is neither of the zone's offsets for that wall time "
        '(`"2024-07-01T12:00:00+05:00[Europe/Berlin]"`: Berlin is at +02:00 that day) is an '
        "error",
        f"{CODEC}::test_what_the_encoder_never_writes_is_refused",
    ),
    _p(
        "Other `tzinfo` classes (pytz, dateutil) are refused when writing",
        f"{CODEC}::test_an_unsupported_value_is_refused_with_its_type_and_path",
        "tests/test_promises_types.py::test_str_enums_dataclasses_and_dateutil_zones_are_refused",
    ),
    _p(
        "The name of a `timezone(offset, name)` is not kept. Offsets with a fraction of a "
        "second are not supported.",
        f"{ME}::test_a_timezones_name_is_not_kept_and_a_sub_second_offset_is_refused",
    ),
    _p(
        "a `time` with a `ZoneInfo` is refused (a zone needs a date to know its offset)",
        f"{CODEC}::test_an_unsupported_value_is_refused_with_its_type_and_path",
    ),
    _p(
        "the total number of seconds as a decimal string, up to six decimals (microseconds), "
        "trailing zeros dropped",
        f"{CODEC}::test_the_format_of_each_tag",
        f"{CODEC}::test_every_supported_value_round_trips_identically",
    ),
    _p(
        '`"1.10"` stays two decimals, `"-0"`, `"NaN"`, `"sNaN"` and `"-Infinity"` '
        "come back as they were.",
        f"{CODEC}::test_every_supported_value_round_trips_identically",
    ),
    _p(
        "read back as the bot of the *reading* codec: after a restart, the new `Bot` instance.",
        f"{CODEC}::test_the_bot_itself_is_stored_as_a_placeholder",
    ),
    _p(
        "Any other `Bot` instance is written as `null`, with a `telegram.warnings.PTBUserWarning`",
        f"{CODEC}::test_an_unknown_bot_value_is_stored_as_none_and_warns",
    ),
    _p(
        "`bot` is present only when the object was attached to the persistence's bot",
        f"{CODEC}::test_a_telegram_object_of_the_current_bot_comes_back_with_the_new_current_bot",
        f"{CODEC}::test_a_telegram_object_without_a_bot_comes_back_without_one",
        f"{CODEC}::test_a_telegram_object_of_an_unknown_bot_is_stored_without_it_and_warns",
    ),
    _p(
        "nothing is ever imported because a file names it, and `Bot` classes cannot be named",
        f"{CODEC}::test_names_in_the_data_are_never_imported",
    ),
    _p(
        "Storing one raises `UnsupportedTypeError`, reading one `CorruptStateError`.",
        f"{CODEC}::test_a_probing_ptb_class_is_refused_on_both_sides",
        "tests/test_security.py::test_a_ptb_class_that_reads_the_disk_is_neither_loaded_nor_stored",
    ),
    _p(
        'a file naming anything else (`{"$obj": "os.system"}`) is an error and nothing is '
        "imported",
        f"{CODEC}::test_names_in_the_data_are_never_imported",
    ),
    _p(
        "may hold at most **32 items (keys) that share a hash**",
        f"{CODEC}::test_items_sharing_one_hash_load_up_to_the_bound",
        f"{CODEC}::test_more_items_sharing_one_hash_are_refused",
    ),
    _p(
        "a file holding another id is refused with `CorruptStateError` naming it",
        "tests/test_hostile.py::test_a_user_id_beyond_64_bits_is_named",
    ),
    _p(
        "With both bounds, a file of up to 1 MB built to be slow loads or is refused within a "
        "second",
        "tests/test_hostile.py::test_a_file_of_up_to_1_mb_loads_or_is_refused_within_a_second",
    ),
    _p(
        '`{"$": {"$": 1}}` (a dict of yours) is written `{"$":{"$":{"$":{"$":1}}}}`',
        f"{CODEC}::test_the_format_of_each_tag",
    ),
    _p(
        "**the insertion order of a dict is not kept**. After loading, a dict's keys come in "
        "sorted order (of their JSON text; for a `$dict`, the keys of its pairs first, then "
        "its members)",
        f"{ME}::test_a_dict_comes_back_in_sorted_order",
    ),
    _p(
        "Depth is counted in JSON: a list or dict adds one level, a tuple or set two (the tag "
        "object and its array), a `$dict` entry three, an escaped dict two.",
        f"{ME}::test_depth_is_counted_in_json",
    ),
    _p(
        "A value nested deeper raises `UnsupportedTypeError` when it is stored and a file "
        "holding one raises `CorruptStateError`; neither ever ends in a `RecursionError`.",
        f"{CODEC}::test_nesting_10000_deep_is_refused_without_recursion_error",
        f"{CODEC}::test_a_plain_list_10000_deep_is_refused_when_decoding",
    ),
    _p(
        "whose message and `where` attribute give the key path of the value",
        f"{CODEC}::test_an_unsupported_value_is_refused_with_its_type_and_path",
    ),
    _p(
        "`...user_data.json line 2: user_data[5]['cart'][0]['$int']: invalid $int value 'x': "
        "not an integer (...)`",
        "tests/test_promises_types.py::test_a_corrupt_value_in_a_file_names_the_file_line_and_key_path",
    ),
    _p(
        "A new entry adds a line, a changed entry changes its line, a removed entry removes its "
        "line, and no other line changes.",
        "tests/test_format_v2.py::test_adding_or_removing_an_entry_changes_only_its_line",
        "tests/test_lines.py::test_one_users_change_is_one_line_out_and_one_in",
    ),
    _p(
        'Files of format version 1 (one object with a `"data"` member) are still read, and '
        "written as version 2 at the next save of their category.",
        "tests/test_format_v2.py::test_version_1_files_load_with_the_values_that_were_stored",
        "tests/test_format_v2.py::test_version_1_is_rewritten_as_version_2_at_the_next_save",
    ),
    _p(
        ',[5,{"$dict":[[{"$tuple":["last","message"]},"hi"]],"lang":"en"}]',
        "tests/test_format_v2.py::test_the_state_file_example_of_the_value_format_page_is_canonical",
    ),
]


def test_a_dict_comes_back_in_sorted_order() -> None:
    codec = Codec()
    plain = codec.loads(codec.dumps({"b": 1, "a": 2, "c": 3}))
    assert list(plain) == ["a", "b", "c"]
    mixed = codec.loads(codec.dumps({"b": 1, 10: "x", "a": 2, (1,): "y", 2: "z", "$z": 3}))
    # The keys of the $dict pairs by their JSON text, then the str members.
    assert list(mixed) == ["$z", 10, 2, (1,), "a", "b"]


def nest(wrap: Any, levels: int, leaf: Any = 0) -> Any:
    value = leaf
    for _ in range(levels):
        value = wrap(value)
    return value


@pytest.mark.parametrize(
    ("wrap", "per_level"),
    [
        (lambda value: (value,), 2),
        (lambda value: frozenset([value]), 2),
        (lambda value: {1: value}, 3),
        (lambda value: {"$x": value}, 2),
    ],
    ids=["tuple", "frozenset", "dict entry", "escaped dict"],
)
def test_depth_is_counted_in_json(wrap: Any, per_level: int) -> None:
    codec = Codec()
    fits = MAX_DEPTH // per_level
    assert codec.loads(codec.dumps(nest(wrap, fits))) == nest(wrap, fits)
    with pytest.raises(UnsupportedTypeError, match=f"nested deeper than {MAX_DEPTH} levels"):
        codec.dumps(nest(wrap, fits + 1))


def test_the_same_depth_is_taken_plain_or_tagged() -> None:
    codec = Codec()
    lists = nest(lambda value: [value], MAX_DEPTH + 1)
    codec.dumps(lists)  # 241 JSON arrays: taken
    tuples = nest(lambda value: (value,), MAX_DEPTH // 2, leaf=[0])  # 241 JSON arrays/objects
    assert codec.loads(codec.dumps(tuples)) == tuples


def test_a_timezones_name_is_not_kept_and_a_sub_second_offset_is_refused() -> None:
    codec = Codec()
    named = datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=1), "CET"))
    assert codec.dumps(named) == b'{"$datetime":"2024-05-01T12:00:00+01:00"}'
    restored = codec.loads(codec.dumps(named))
    assert restored == named
    assert restored.tzname() == "UTC+01:00"
    fraction = datetime(2024, 5, 1, tzinfo=timezone(timedelta(seconds=1, microseconds=500)))
    with pytest.raises(UnsupportedTypeError, match="fraction of a second"):
        codec.dumps(fraction)


@pytest.mark.parametrize(
    ("tag", "text", "loads"),
    [
        ("$datetime", "2024-05-01T12:30", True),
        ("$datetime", "2024-05-01 12:30:00.123+02:00", True),
        ("$datetime", "2024-05-01", True),
        ("$time", "09", True),
        ("$datetime", "2024-05-01T12:30:00Z", False),  # 3.11's fromisoformat takes these
        ("$datetime", "20240501T123000", False),
        ("$date", "2024-W18-3", False),
        ("$date", "20240501", False),
        ("$time", "0930", False),
        ("$datetime", "\uff12\uff10\uff12\uff14-05-01", False),  # fullwidth digits
    ],
)
def test_iso_texts_are_read_as_isoformat_writes_them_on_every_python(
    tag: str, text: str, loads: bool
) -> None:
    codec = Codec()
    document = orjson.dumps({tag: text})
    if loads:
        codec.loads(document)
    else:
        with pytest.raises(CorruptStateError, match="as isoformat\\(\\) writes it"):
            codec.loads(document)


@pytest.mark.parametrize(
    ("text", "loads"),
    [
        ("AP9iaW5hcnk=", True),
        ("AA==", True),
        ("", True),
        ("AP9iiaW5hcnk=", False),  # excess padding: Python 3.11 took it, 3.13 refuses it
        ("AP9iaW5k=", False),
        ("AB==", False),  # bits beyond the last byte
        ("AA", False),  # no padding
        ("AA==\n", False),
    ],
)
def test_bytes_are_read_only_as_b64encode_writes_them(text: str, loads: bool) -> None:
    document = orjson.dumps({"$bytes": text})
    if loads:
        assert Codec().loads(document) == base64.b64decode(text)
    else:
        with pytest.raises(CorruptStateError, match=r"\$bytes"):
            Codec().loads(document)
