"""The promises of ``docs/migrating.md`` and the tests behind them (see ``tests/promises.py``).

The tests here back what ``tests/test_cli.py`` and ``tests/test_promises_cli.py`` did not: the
pickle is left as it was, the page's refusal is printed as shown, ``--skip-unsupported`` drops
items of lists and tuples and whole users, the exact types pickle stores silently are listed,
and ``export-pickle`` reads under the round lock.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _cli_types import Level, Point, Size
from promises import on_page
from telegram.ext import PicklePersistence
from test_cli import jsonpersist, new_bot, sample_state, write_json, write_pickle

from jsonpersist import JsonPersistence, _store
from jsonpersist._cli import main

PAGE = "docs/migrating.md"
ME = "tests/test_promises_migrating.py"
CLI = "tests/test_cli.py"


_p = on_page(PAGE)


PROMISES = [
    _p(
        "(Loading jsonpersist's JSON files runs no code: see",
        "tests/test_codec.py::test_names_in_the_data_are_never_imported",
        "tests/test_security.py::test_a_crafted_file_makes_the_decoder_neither_import_nor_call_anything",
    ),
    _p(
        "Keep a copy of the pickle; it is not modified.",
        f"{ME}::test_the_pickle_is_left_as_it_was",
    ),
    _p(
        "pass the same `bot.pickle`, and the command finds them (it refuses to guess when both "
        "forms exist)",
        f"{CLI}::test_pickle_import_check_show_export_round_trip",
        "tests/test_promises_cli.py::test_import_refuses_both_pickle_forms",
    ),
    _p(
        "imported bot.pickle into state (user_data: 1,204 users; chat_data: 37 chats; "
        "bot_data: 5 keys; callback_data: 0 keyboards, 0 queries; conversations: 2 handlers, "
        "88 conversations)",
        f"{ME}::test_the_pickle_is_left_as_it_was",
    ),
    _p(
        "so PTB's bot placeholders load as that stand-in",
        f"{CLI}::test_pickle_import_check_show_export_round_trip",
    ),
    _p(
        "checks every value against jsonpersist's codec and lists the ones that cannot be stored",
        f"{CLI}::test_unsupported_values_are_listed_and_nothing_is_written",
    ),
    _p(
        "All files are written in one atomic save: `state/` holds the whole converted state or "
        "nothing new.",
        "tests/test_promises_cli.py::test_import_pickle_writes_everything_in_one_atomic_save",
    ),
    _p(
        "Large imports report their progress on stderr every 1,000 entries.",
        f"{CLI}::test_large_import_shows_progress",
    ),
    _p(
        "the command lists every such value with its key path, writes **nothing**, and exits "
        "with status 1",
        f"{CLI}::test_unsupported_values_are_listed_and_nothing_is_written",
        f"{ME}::test_the_pages_refusal_is_printed_as_shown",
    ),
    _p(
        "jsonpersist: error: nothing was written to state. Register these types (--types "
        "MODULE:NAME, see the supported types page), or pass --skip-unsupported to leave them "
        "out",
        f"{ME}::test_the_pages_refusal_is_printed_as_shown",
    ),
    _p(
        'and in the bot, `JsonPersistence("state/", types=TYPES)`. Pass the same `--types` to '
        "`jsonpersist check` and `show` for this directory.",
        f"{CLI}::test_unsupported_values_are_listed_and_nothing_is_written",
    ),
    _p(
        "the listed values are dropped (a dict entry is removed, an item is removed from its "
        "list, tuple or set; a user whose whole data cannot be stored is left out) and "
        "everything else is imported. The list is printed again as a record.",
        f"{CLI}::test_unsupported_values_are_listed_and_nothing_is_written",
        f"{ME}::test_skip_unsupported_drops_entries_items_and_whole_users",
    ),
    _p(
        "PicklePersistence keeps an ended conversation as a `None` state; jsonpersist removes it.",
        f"{CLI}::test_pickle_import_check_show_export_round_trip",
    ),
    _p(
        "so after a restart a dict's keys come back sorted, not in insertion order",
        "tests/test_promises_format.py::test_a_dict_comes_back_in_sorted_order",
    ),
    _p(
        "Subclasses of `dict`, `int`, `str` (`defaultdict`, `OrderedDict`, `IntEnum` members) "
        "and dataclasses must be registered; pickle stored them silently. The import lists "
        "them.",
        f"{ME}::test_the_exact_types_pickle_stored_silently_are_listed",
    ),
    _p(
        "A `dict` subclass given as `context_types` user, chat or bot data is restored as that "
        "class; pass the same `ContextTypes` to the import with `--context-types "
        "mybot.state:CONTEXT_TYPES`. Other classes must also be registered.",
        "tests/test_promises_cli.py::test_context_types_of_other_classes_than_dict_through_every_command",
        "tests/ptb_contract/test_ptb_context_types.py::test_custom_classes_come_back_after_a_restart",
    ),
    _p(
        "A second bot on the same directory is refused with `StateLockedError`",
        "tests/ptb_contract/test_ptb_differences.py::test_a_second_owner_is_refused_where_pickle_lets_both_write",
        "tests/test_promises_errors.py::test_initialize_raises_on_a_directory_another_bot_owns",
    ),
    _p(
        "**A broken file is an error**, not an empty state",
        "tests/test_persistence.py::test_a_corrupt_file_is_refused_and_never_overwritten",
    ),
    _p(
        "`export-pickle` writes a single-file `PicklePersistence` state from a state directory, "
        "with PTB's own `PicklePersistence`, bot references as PTB's bot placeholder",
        f"{CLI}::test_pickle_import_check_show_export_round_trip",
    ),
    _p(
        "It reads the directory under its round lock, so it can run while the bot does and "
        "exports the state of one save.",
        f"{ME}::test_export_pickle_reads_every_file_under_the_round_lock",
    ),
    _p(
        "a state written by the real `PicklePersistence` (single and multi-file) goes through "
        "`import-pickle`, `check`, `show` and `export-pickle` and is loaded again by "
        "`PicklePersistence` with every type, the conversations and the callback data intact, "
        "and a message attached to the new bot. A state exported and imported again gives "
        "byte-identical files.",
        f"{CLI}::test_pickle_import_check_show_export_round_trip",
        f"{CLI}::test_json_state_check_show_export_and_back_byte_for_byte",
    ),
]


async def pickle_of(path: Path, user_data: dict[int, Any], bot_data: Any = None) -> None:
    persistence: PicklePersistence[Any, Any, Any] = PicklePersistence(path, on_flush=True)
    persistence.set_bot(new_bot())
    await persistence.get_user_data()
    for user, data in user_data.items():
        await persistence.update_user_data(user, data)
    if bot_data is not None:
        await persistence.update_bot_data(bot_data)
    await persistence.flush()


async def test_the_pickle_is_left_as_it_was(tmp_path: Path) -> None:
    bot = new_bot()
    await write_pickle(tmp_path / "bot.pickle", True, bot, sample_state(bot))
    before = (tmp_path / "bot.pickle").read_bytes()
    mtime = (tmp_path / "bot.pickle").stat().st_mtime_ns
    imported = jsonpersist("import-pickle", tmp_path / "bot.pickle", tmp_path / "state")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == (
        f"imported {tmp_path / 'bot.pickle'} into {tmp_path / 'state'} (user_data: 2 users; "
        "chat_data: 1 chat; bot_data: 3 keys; callback_data: 1 keyboard, 1 query; "
        "conversations: 1 handler, 2 conversations)\n"
    )
    assert (tmp_path / "bot.pickle").read_bytes() == before
    assert (tmp_path / "bot.pickle").stat().st_mtime_ns == mtime


async def test_the_pages_refusal_is_printed_as_shown(tmp_path: Path) -> None:
    await pickle_of(
        tmp_path / "bot.pickle", {7: {"where": Point(1, 2)}}, bot_data={"points": [Point(3, 4)]}
    )
    refused = jsonpersist("import-pickle", tmp_path / "bot.pickle", tmp_path / "state")
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "jsonpersist: 2 values cannot be stored as JSON:",
        "  user_data[7]['where']: cannot store a Point (register it, see docs/types.md)",
        "  bot_data['points'][0]: cannot store a Point (register it, see docs/types.md)",
        f"jsonpersist: error: nothing was written to {tmp_path / 'state'}. Register these types "
        "(--types MODULE:NAME, see the supported types page), or pass --skip-unsupported to "
        "leave them out",
    ]
    assert not (tmp_path / "state").exists()


def listed_values(stderr: str) -> list[str]:
    """The values listed, a set item's place (a set's order differs per process) as ``[i]``."""
    lines = [line for line in stderr.splitlines() if line.startswith("  ")]
    return sorted(re.sub(r"\['tags'\]\[\d+\]", "['tags'][i]", line) for line in lines)


async def test_skip_unsupported_drops_entries_items_and_whole_users(tmp_path: Path) -> None:
    await pickle_of(
        tmp_path / "bot.pickle",
        {
            7: {"cart": [1, Point(1, 2), 3], "pair": (Point(0, 0), 5), "tags": {"a", Point(5, 5)}},
            8: Point(3, 3),  # the user's whole data
            9: {"ok": 1},
        },
    )
    refused = jsonpersist("import-pickle", tmp_path / "bot.pickle", tmp_path / "state")
    skipped = jsonpersist(
        "import-pickle", tmp_path / "bot.pickle", tmp_path / "state", "--skip-unsupported"
    )
    assert skipped.returncode == 0, skipped.stderr
    listed = listed_values(refused.stderr)
    assert len(listed) == 4
    assert listed_values(skipped.stderr) == listed  # printed again as a record
    loaded = await JsonPersistence(tmp_path / "state", read_only=True).get_user_data()
    assert loaded == {7: {"cart": [1, 3], "pair": (5,), "tags": {"a"}}, 9: {"ok": 1}}


async def test_the_exact_types_pickle_stored_silently_are_listed(tmp_path: Path) -> None:
    await pickle_of(
        tmp_path / "bot.pickle",
        {
            7: {
                "d": collections.defaultdict(list),
                "o": collections.OrderedDict(a=1),
                "level": Level.LOW,
                "size": Size(1, 2),
            }
        },
    )
    refused = jsonpersist("import-pickle", tmp_path / "bot.pickle", tmp_path / "state")
    assert refused.returncode == 1
    for where, name in (
        ("d", "defaultdict"),
        ("o", "OrderedDict"),
        ("level", "Level"),
        ("size", "Size"),
    ):
        assert f"user_data[7][{where!r}]: cannot store a {name}" in refused.stderr
    assert not (tmp_path / "state").exists()


async def test_export_pickle_reads_every_file_under_the_round_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = new_bot()
    await write_json(tmp_path / "state", bot, sample_state(bot))
    held: list[bool] = []
    reads: list[tuple[str, bool]] = []
    round_lock, read_version = _store.Store.round_lock, _store.Store.read_version

    @contextlib.contextmanager
    def recording_lock(self: _store.Store) -> Iterator[None]:
        with round_lock(self):
            held.append(True)
            try:
                yield
            finally:
                held.pop()

    def recording_read(self: _store.Store, name: str) -> Any:
        reads.append((name, bool(held)))
        return read_version(self, name)

    monkeypatch.setattr(_store.Store, "round_lock", recording_lock)
    monkeypatch.setattr(_store.Store, "read_version", recording_read)
    code = await asyncio.to_thread(
        main, ["export-pickle", str(tmp_path / "state"), str(tmp_path / "bot.pickle")]
    )
    assert code == 0
    state_reads = [locked for name, locked in reads if name.endswith(".json")]
    assert len(state_reads) == 5
    assert all(state_reads), reads
