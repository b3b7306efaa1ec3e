"""The promises of ``docs/files.md`` and the tests behind them (see ``tests/promises.py``).

The tests here back what no other test proved: when a file appears, the default
``max_file_size``, an empty callback data cache against none, bot data keys Python takes for
one, and a bot without ``watch`` overwriting a hand edit at its next save.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from promises import on_page

from jsonpersist import CorruptStateError, JsonPersistence

PAGE = "docs/files.md"
ME = "tests/test_promises_files.py"
V2 = "tests/test_format_v2.py"


_p = on_page(PAGE)


PROMISES = [
    _p(
        "A file appears with the first save that has something to write into it.",
        f"{ME}::test_a_file_appears_with_the_first_save_of_its_category",
    ),
    _p(
        "A category switched off in `store_data` is never read or written.",
        "tests/test_application.py::test_a_disabled_category_is_never_read_nor_written",
    ),
    _p(
        "Every example on this page was written by jsonpersist itself, and the tests check "
        "that it still reads and writes them so",
        f"{V2}::test_an_example_of_the_docs_is_what_the_code_reads_and_writes",
        f"{V2}::test_the_docs_show_an_example_of_every_category_and_kind",
    ),
    _p(
        "which must match the file name (a `chat_data.json` copied over `user_data.json` is "
        "refused)",
        "tests/test_format.py::test_file_entries_refuses_another_category",
    ),
    _p(
        "A file of a version jsonpersist does not know is refused with a "
        "[`CorruptStateError`](errors.md#corruptstateerror) that asks you to upgrade "
        "jsonpersist",
        "tests/test_errors.py::test_another_format_version_names_the_version_member",
        "tests/test_format.py::test_file_entries_refuses_another_version",
    ),
    _p(
        "UTF-8 without a byte order mark (text outside ASCII is written as it is, not as `\\u` "
        "escapes). Two equal states give identical files.",
        "tests/test_format.py::test_text_outside_ascii_is_written_as_it_is_not_escaped",
        "tests/test_format.py::test_a_rendered_file_is_canonical",
        "tests/test_codec.py::test_equal_values_built_in_another_order_give_identical_bytes",
    ),
    _p(
        "a change to one user, chat, conversation or bot data key changes exactly its line",
        "tests/test_lines.py::test_one_users_change_is_one_line_out_and_one_in",
        "tests/test_lines.py::test_one_bot_data_key_is_one_line_out_and_one_in",
    ),
    _p(
        "a new entry adds one line and changes none (no neighbour gains a comma)",
        "tests/test_lines.py::test_a_new_user_adds_lines_and_changes_none",
        "tests/test_format.py::test_appending_or_removing_an_entry_changes_no_other_line",
    ),
    _p(
        "a removed entry removes its line and nothing else.",
        "tests/test_lines.py::test_dropping_a_user_and_their_chat_removes_exactly_their_lines",
        "tests/test_lines.py::test_ending_a_conversation_removes_exactly_its_line",
    ),
    _p(
        "signed 64-bit integers, sorted as numbers (`-1001234567890` before `-100123` before "
        "`5` before `42`)",
        "tests/test_categories.py::test_ids_are_sorted_numerically",
    ),
    _p(
        'An id written any other way (`"42"`, `42.0`, `true`) or beyond 64 bits is refused on '
        "load, and such a key on save (`CorruptStateError`, `UnsupportedTypeError`)",
        "tests/test_categories.py::test_parse_id_refuses_anything_else_naming_the_key",
        "tests/test_hostile.py::test_a_user_id_beyond_64_bits_is_named",
        "tests/test_hostile.py::test_an_id_the_file_could_not_hold_is_not_stored",
    ),
    _p(
        "The same id on two lines is refused too.",
        "tests/test_entries.py::test_a_hand_written_id_of_the_wrong_kind_or_twice_is_refused",
    ),
    _p(
        "The lines are sorted: `int` keys as numbers, then string keys, then the other keys by "
        "their JSON.",
        "tests/test_categories.py::test_bot_data_keys_sort_ints_then_strs_then_others_by_their_json",
    ),
    _p(
        "Two keys that Python takes for one (`1` and `1.0` or `true`) on two lines are refused",
        f"{ME}::test_bot_data_keys_python_takes_for_one_are_refused",
    ),
    _p(
        "as is a file of keys built to share one hash",
        f"{V2}::test_bot_data_keys_sharing_a_hash_are_refused_fast",
    ),
    _p(
        'is one line holding just the value, `,[{"$obj":...}]`, with no key.',
        "tests/test_entries.py::test_bot_data_that_is_not_a_dict_is_one_whole_line",
    ),
    _p(
        "keyboards first, in PTB's order (both are least recently used caches, so the order is "
        "kept, not sorted)",
        "tests/test_categories.py::test_callback_data_keeps_ptbs_order",
    ),
    _p(
        "An empty `callback_data.json` is an empty cache; no file at all is no cache (`None`).",
        f"{ME}::test_an_empty_callback_data_file_is_an_empty_cache_and_none_is_no_cache",
    ),
    _p(
        "The lines are sorted by handler name, then the keys made of ints only, as numbers, then "
        "the keys with a string part, part by part (ints as numbers, before strings).",
        "tests/test_categories.py::test_conversations_sort_by_handler_then_key_ints_numerically_before_strs",
    ),
    _p(
        "A conversation step changes one line; an ended conversation removes its line.",
        "tests/test_lines.py::test_ending_a_conversation_removes_exactly_its_line",
        "tests/test_lines.py::test_a_round_encodes_only_the_conversation_that_changed",
    ),
    _p(
        "Any valid JSON of the same entries is accepted on load, in any layout",
        f"{V2}::test_a_hand_reformatted_and_reordered_file_loads_and_is_saved_canonical",
        f"{V2}::test_the_hand_edited_example_holds_the_users_of_the_first",
    ),
    _p(
        "a duplicate key, `NaN` or `Infinity` literals and invalid UTF-8 are errors, and "
        "integers keep every digit",
        "tests/test_format.py::test_strict_tree_refuses_duplicate_keys",
        "tests/test_format.py::test_strict_tree_refuses_nan_and_infinity_literals",
        "tests/test_format.py::test_strict_tree_refuses_invalid_utf8_naming_the_byte",
        "tests/test_format.py::test_strict_tree_keeps_integers_beyond_64_bits_exactly",
    ),
    _p(
        "It is written back in the layout above (sorted, one entry a line) at the next save of "
        "its category.",
        f"{V2}::test_a_hand_reformatted_and_reordered_file_loads_and_is_saved_canonical",
    ),
    _p(
        "the line (`line 3`) in a file laid out one entry a line, else the entry (`entry 2`)",
        f"{V2}::test_a_bad_version_2_file_is_refused_naming_the_file_and_the_entry",
    ),
    _p(
        "naming the lines of each conflict, here lines 3 to 7",
        f"{V2}::test_a_file_with_conflict_markers_is_a_merge_conflict_naming_its_lines",
        f"{V2}::test_an_example_of_the_docs_is_what_the_code_reads_and_writes",
    ),
    _p(
        "without it, a running bot overwrites an edited file with its own state at its next "
        "save of that category",
        f"{ME}::test_without_watch_the_next_save_overwrites_an_edit",
    ),
    _p(
        "Files larger than `max_file_size` (512 MiB by default) are refused on load",
        f"{ME}::test_the_default_max_file_size_is_512_mib",
    ),
    _p(
        "Such files still load, with the values they held, read strictly.",
        f"{V2}::test_version_1_files_load_with_the_values_that_were_stored",
    ),
    _p(
        "Each is written as version 2 at the next save of its category (a save writes the file "
        "even when nothing changed in it); until then it stays as it is.",
        f"{V2}::test_version_1_is_rewritten_as_version_2_at_the_next_save",
        f"{V2}::test_version_1_is_not_rewritten_by_loading_it",
    ),
    _p(
        "`jsonpersist check` says which files it read as version 1.",
        "tests/test_cli.py::test_check_says_which_format_version_it_read_and_rewrites_nothing",
    ),
    _p(
        "New state files get mode `0600`; an existing file keeps its mode across saves. The "
        "directory is created with mode `0700`. The `.gitignore` is `0644`.",
        "tests/test_security.py::test_new_files_are_private_and_existing_modes_are_kept",
    ),
    _p(
        "A state file must be a regular file: a symlink in its place is refused",
        "tests/test_security.py::test_a_symlinked_state_file_is_refused_on_load",
        "tests/test_security.py::test_a_symlink_planted_after_loading_is_refused_on_save",
    ),
]


def state_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("*.json"))


async def test_a_file_appears_with_the_first_save_of_its_category(tmp_path: Path) -> None:
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    await persistence.get_user_data()
    await persistence.get_chat_data()
    await persistence.get_bot_data()
    await persistence.get_callback_data()
    await persistence.get_conversations("talk")
    assert state_files(tmp_path) == []  # loading writes nothing
    await persistence.update_conversation("talk", (1, 1), "ASK")
    assert state_files(tmp_path) == ["conversations.json"]
    await persistence.update_user_data(5, {"lang": "en"})
    assert state_files(tmp_path) == ["conversations.json", "user_data.json"]
    await persistence.flush()
    assert state_files(tmp_path) == ["conversations.json", "user_data.json"]


async def test_bot_data_keys_python_takes_for_one_are_refused(tmp_path: Path) -> None:
    for other in ("1.0", "true"):
        path = tmp_path / "bot_data.json"
        path.write_text(
            f'[{{"jsonpersist":2,"category":"bot_data"}}\n,[1,"a"]\n,[{other},"b"]\n]\n'
        )
        before = path.read_bytes()
        with pytest.raises(CorruptStateError) as caught:
            await JsonPersistence(tmp_path, read_only=True).get_bot_data()
        assert caught.value.file == path.resolve()
        assert path.read_bytes() == before


async def test_an_empty_callback_data_file_is_an_empty_cache_and_none_is_no_cache(
    tmp_path: Path,
) -> None:
    assert await JsonPersistence(tmp_path, read_only=True).get_callback_data() is None
    writer: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    await writer.get_callback_data()
    await writer.update_callback_data(([], {}))
    await writer.flush()
    assert (tmp_path / "callback_data.json").read_text() == (
        '[{"jsonpersist":2,"category":"callback_data"}\n]\n'
    )
    assert await JsonPersistence(tmp_path, read_only=True).get_callback_data() == ([], {})


async def test_without_watch_the_next_save_overwrites_an_edit(tmp_path: Path) -> None:
    persistence: JsonPersistence[Any, Any, Any] = JsonPersistence(tmp_path)
    await persistence.get_user_data()
    await persistence.update_user_data(5, {"lang": "en"})
    users = tmp_path / "user_data.json"
    users.write_text(users.read_text().replace('"en"', '"de"'))  # a person's edit
    await persistence.update_user_data(6, {"lang": "fr"})
    await persistence.flush()
    loaded = await JsonPersistence(tmp_path, read_only=True).get_user_data()
    assert loaded == {5: {"lang": "en"}, 6: {"lang": "fr"}}


async def test_the_default_max_file_size_is_512_mib(tmp_path: Path) -> None:
    users = tmp_path / "user_data.json"
    with users.open("wb") as file:  # sparse: takes no room on disk
        file.truncate(512 * 2**20 + 1)
    with pytest.raises(CorruptStateError) as caught:
        await JsonPersistence(tmp_path, read_only=True).get_user_data()
    assert caught.value.file == users.resolve()
    assert caught.value.reason.startswith(
        "is 536,870,913 bytes, more than max_file_size (536,870,912)"
    )
    os.truncate(users, 2**20)  # far below the default: read, and refused as not JSON
    with pytest.raises(CorruptStateError) as read:
        await JsonPersistence(tmp_path, read_only=True).get_user_data()
    assert read.value.reason.startswith("not valid JSON")
