"""The promises of ``docs/cli.md`` and the tests behind them (see ``tests/promises.py``).

The tests here back what no other test proved: exit code 3 for a file that cannot be read or
written, ``snapshot``'s refusals, its all-or-none copy, its decoding of what it copies, and
``--context-types`` with classes that are not ``dict``. Exit codes come from real processes;
where a fault is injected, the process patches ``os`` before it runs the command line.
"""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _cli_types import CONTEXT_TYPES, TYPES, ChatNotes, Point, Profile
from checks import crash_after_the_journal
from promises import on_page
from telegram.ext import PicklePersistence
from test_cli import (
    ENV,
    STATE_FILES,
    jsonpersist,
    new_bot,
    read_json,
    sample_state,
    state_bytes,
    write_json,
    write_pickle,
)

from jsonpersist import JsonPersistence, StateWriteError
from jsonpersist._cli import main
from jsonpersist._journal import JOURNAL

PAGE = "docs/cli.md"
ME = "tests/test_promises_cli.py"
CLI = "tests/test_cli.py"
GIT = "tests/test_git.py"
PG_COPY = "tests/postgres/test_pg_copy.py"


_p = on_page(PAGE)


PROMISES = [
    _p(
        "a file does not decode (a redo journal that is not a regular file included)",
        f"{ME}::test_a_redo_journal_that_is_not_a_regular_file_is_a_problem_exit_1",
    ),
    _p(
        "`python -m jsonpersist` is the same",
        f"{CLI}::test_help_has_examples_and_exit_codes",
    ),
    _p(
        "No command ends in a Python traceback",
        "tests/test_cli_hostile.py::test_every_command_on_the_hostile_corpus",
        "tests/test_cli_hostile.py::test_every_command_on_the_damaged_files",
    ),
    _p(
        "Every command reads state the way a bot does: with the same parser, codec and category "
        "checks as `JsonPersistence`",
        f"{CLI}::test_check_names_every_damaged_file_and_leaves_it_alone",
        f"{ME}::test_snapshot_refuses_a_source_that_does_not_load",
    ),
    _p(
        "`check`, `show` and `export-pickle` never take the directory from a running bot",
        f"{CLI}::test_snapshot_of_a_running_bot_is_one_save",
    ),
    _p(
        "a save that a crash left half-done (a redo journal) is read as the journal decided it",
        "tests/test_lose_nothing.py::test_show_and_export_read_a_crash_left_round_as_the_journal_decided",
    ),
    _p(
        "| `0` | success; for `check`, every file decodes |",
        f"{CLI}::test_pickle_import_check_show_export_round_trip",
    ),
    _p(
        "values cannot be stored as JSON, the entry asked for with `--key` does not exist",
        f"{CLI}::test_unsupported_values_are_listed_and_nothing_is_written",
        f"{CLI}::test_refusals_and_replacing_with_force",
    ),
    _p(
        "a snapshot source has no state files or an unfinished save",
        f"{ME}::test_snapshot_refuses_a_source_without_state_files",
        f"{ME}::test_snapshot_refuses_an_unfinished_save",
    ),
    _p(
        "a pickle that is not a PicklePersistence state",
        f"{CLI}::test_refusals_and_replacing_with_force",
    ),
    _p(
        "an unknown command or option, a path that does not exist, a target that already holds "
        "files without `--force`",
        f"{CLI}::test_help_has_examples_and_exit_codes",
        f"{CLI}::test_refusals_and_replacing_with_force",
        f"{ME}::test_snapshot_refuses_a_destination_that_holds_files_without_force",
    ),
    _p(
        "a running bot owns the target directory",
        f"{CLI}::test_snapshot_of_a_running_bot_is_one_save",
    ),
    _p(
        "the target cannot be used (another user could replace it: `UnsafeDirectoryError`; a "
        "lock file is not a regular file, or the file system is read-only: "
        "`StateDirectoryError`)",
        f"{ME}::test_a_target_that_cannot_be_used_exits_3",
        "tests/test_local_attackers.py::test_a_read_only_file_system_is_a_typed_error_naming_the_lock",
    ),
    _p(
        "or reading or writing a file failed (`StateWriteError`, other `OSError`s)",
        f"{ME}::test_a_read_failure_exits_3",
        f"{ME}::test_a_write_failure_exits_3",
    ),
    _p(
        "`--context-types MODULE:NAME`: the `telegram.ext.ContextTypes` your bot uses, when its "
        "user, chat or bot data classes are custom.",
        f"{ME}::test_context_types_of_other_classes_than_dict_through_every_command",
    ),
    _p(
        "It reads without taking the directory, so it can check a running bot's state, and it "
        "never changes a file.",
        f"{CLI}::test_snapshot_of_a_running_bot_is_one_save",
        f"{CLI}::test_check_names_every_damaged_file_and_leaves_it_alone",
        f"{CLI}::test_check_says_which_format_version_it_read_and_rewrites_nothing",
    ),
    _p(
        "One line per bad file, naming the file and the position (line and column, or the key "
        "path).",
        f"{CLI}::test_check_names_every_damaged_file_and_leaves_it_alone",
    ),
    _p(
        "A file holding git's conflict markers is reported as a merge conflict, with its lines "
        "and the entries in conflict",
        f"{CLI}::test_check_names_a_merge_conflict_with_its_lines_and_entries",
    ),
    _p(
        "files written by jsonpersist before version 2 read as `format version 1 in user_data, "
        "... (the bot writes each as version 2 at its next save of it)`",
        f"{CLI}::test_check_says_which_format_version_it_read_and_rewrites_nothing",
    ),
    _p(
        "A directory without state files is reported (`no state files yet`) and is not an error.",
        f"{ME}::test_check_of_a_directory_without_state_files",
    ),
    _p(
        "so a tuple shows as a tuple, a set as a set, an `int` key as an `int`",
        f"{CLI}::test_pickle_import_check_show_export_round_trip",
    ),
    _p(
        "with `bot=current` when they are attached to the bot",
        f"{CLI}::test_pickle_import_check_show_export_round_trip",
    ),
    _p(
        "`--key ID` shows one entry of that category, and only its value",
        f"{CLI}::test_pickle_import_check_show_export_round_trip",
    ),
    _p(
        "A category whose file does not decode is listed as such, its error printed on stderr, "
        "and the exit code is `1`; the other categories are still shown.",
        f"{CLI}::test_check_names_every_damaged_file_and_leaves_it_alone",
    ),
    _p(
        "if it does not exist, the multi-file form `PICKLE_user_data`, `PICKLE_chat_data`, "
        "`PICKLE_bot_data`, `PICKLE_callback_data`, `PICKLE_conversations` is used",
        f"{CLI}::test_pickle_import_check_show_export_round_trip",
    ),
    _p(
        "Both forms present is an error (exit code 2).",
        f"{ME}::test_import_refuses_both_pickle_forms",
    ),
    _p(
        "PTB's bot placeholders become jsonpersist's.",
        f"{CLI}::test_pickle_import_check_show_export_round_trip",
    ),
    _p(
        "Values that cannot be stored are listed with their key paths and **nothing is "
        "written** (exit code 1), unless `--skip-unsupported`",
        f"{CLI}::test_unsupported_values_are_listed_and_nothing_is_written",
    ),
    _p(
        "Conversations that ended (a `None` state in the pickle) are not imported.",
        f"{CLI}::test_pickle_import_check_show_export_round_trip",
    ),
    _p(
        "A category PTB pickled as `None` (it writes that for the categories a bot updated "
        "without loading them first) is imported as empty.",
        "tests/test_cli_hostile.py::test_import_pickle_of_categories_written_without_get",
    ),
    _p(
        "A pickle whose categories are not of PicklePersistence's shapes (user data that is a "
        "list, say) is refused with exit code 1.",
        "tests/test_cli_hostile.py::test_import_pickle_of_a_hostile_pickle",
    ),
    _p(
        "then its state is **replaced** by the pickle's (users, chats and conversations that "
        "are not in the pickle are removed)",
        f"{CLI}::test_refusals_and_replacing_with_force",
    ),
    _p(
        "A `DIR` owned by a running bot is refused (exit code 3).",
        f"{CLI}::test_snapshot_of_a_running_bot_is_one_save",
    ),
    _p(
        "Everything is written in one atomic save at the end.",
        f"{ME}::test_import_pickle_writes_everything_in_one_atomic_save",
    ),
    _p(
        "Progress is reported on stderr every 1,000 entries.",
        f"{CLI}::test_large_import_shows_progress",
    ),
    _p(
        "Writes the state of `DIR` as a single-file `PicklePersistence` state "
        "(`PicklePersistence(PICKLE)` loads it)",
        f"{CLI}::test_json_state_check_show_export_and_back_byte_for_byte",
    ),
    _p(
        "The pickle is written to a temporary file in the same directory, fsynced and renamed "
        "over `PICKLE`; an existing `PICKLE` is refused unless `--force`.",
        f"{ME}::test_export_pickle_writes_a_temporary_file_fsyncs_and_renames_it",
        f"{CLI}::test_refusals_and_replacing_with_force",
    ),
    _p(
        "A state that does not decode is not exported (exit code 1).",
        f"{ME}::test_export_pickle_refuses_a_state_that_does_not_decode",
    ),
    _p(
        "under `DIR`'s round lock, so the copy holds every file of one save (the bot's next "
        "save waits for the copy)",
        f"{CLI}::test_snapshot_of_a_running_bot_is_one_save",
    ),
    _p(
        "into `DEST` (created if missing) atomically and durably, all files or none, the way the "
        "bot writes its own files",
        f"{ME}::test_snapshot_writes_the_state_files_and_gitignore_all_or_none",
    ),
    _p(
        "a state file that is no longer in `DIR` is then removed from `DEST`, and the removal "
        "made durable",
        f"{ME}::test_snapshot_removes_a_state_file_gone_from_the_source_durably",
    ),
    _p(
        "Every state file is decoded first, as `check` decodes it: a `DIR` whose state does not "
        "load is not copied (exit code 1, with `check`'s messages)",
        f"{ME}::test_snapshot_refuses_a_source_that_does_not_load",
        f"{ME}::test_snapshot_of_registered_types_needs_the_types",
    ),
    _p(
        "A `DEST` that already holds files is refused unless `--force`.",
        f"{ME}::test_snapshot_refuses_a_destination_that_holds_files_without_force",
    ),
    _p(
        "A `DIR` with an unfinished save (a redo journal a crash left behind) is refused with "
        "exit code 1",
        f"{ME}::test_snapshot_refuses_an_unfinished_save",
    ),
    _p(
        "an entry one side changed takes that side's version; an entry both changed "
        "differently is written between conflict markers, its two lines only.",
        f"{GIT}::test_two_branches_merge_cleanly_with_both_sides_changes",
        f"{GIT}::test_one_entry_changed_differently_conflicts_on_its_lines_only",
    ),
    _p(
        "Running it again changes nothing (it prints `already set up: nothing changed`).",
        f"{GIT}::test_git_setup_twice_changes_nothing",
    ),
    _p(
        "Outside a work tree, or for a path `.gitattributes` cannot name plainly (spaces, "
        "wildcards), it exits with code 2.",
        f"{GIT}::test_git_setup_outside_a_work_tree_is_a_usage_error",
        f"{ME}::test_git_setup_refuses_a_path_gitattributes_cannot_name_plainly",
    ),
    _p(
        "Copies every category of SRC into DST, losslessly.",
        f"{PG_COPY}::test_files_to_database_and_back_is_lossless",
    ),
    _p(
        "only if it holds no state yet unless `--force`, and never while a running bot owns it "
        "(exit code 3)",
        f"{PG_COPY}::test_a_destination_with_state_needs_force",
        f"{PG_COPY}::test_never_into_a_database_a_running_bot_owns",
        f"{PG_COPY}::test_never_into_a_directory_a_running_bot_owns",
    ),
    _p(
        "A SRC with no state is refused (exit code 1), so that a typo cannot empty a destination.",
        f"{PG_COPY}::test_an_empty_source_is_refused",
    ),
    _p(
        "`check` and `show` take a URL (and `--name`) too.",
        f"{PG_COPY}::test_check_and_show_read_a_url",
    ),
    _p(
        "`DEST` is a state directory itself: a bot, `check` and `show` can use it.",
        f"{CLI}::test_snapshot_of_a_running_bot_is_one_save",
        f"{ME}::test_snapshot_writes_the_state_files_and_gitignore_all_or_none",
    ),
]

# ------------------------------------------------------------------------- injected faults

#: Runs the command line with one kind of fault: ``read NAME`` (opening NAME fails with EIO)
#: or ``write`` (every fsync fails with ENOSPC).
FAULTY = """
import errno, os, sys
from jsonpersist._cli import main

kind, name, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
real_open = os.open
if kind == "read":
    def failing_open(path, flags, *args, **kwargs):
        if os.path.basename(os.fspath(path)) == name:
            raise OSError(errno.EIO, os.strerror(errno.EIO), os.fspath(path))
        return real_open(path, flags, *args, **kwargs)
    os.open = failing_open
else:
    def failing_fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    os.fsync = failing_fsync
sys.exit(main(argv))
"""


def faulty(kind: str, name: str, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", FAULTY, kind, name, *map(str, args)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        check=False,
    )


async def cli(*args: object) -> int:
    """The exit code of the command line run in this process (where faults are injected)."""
    return await asyncio.to_thread(main, [str(arg) for arg in args])


async def saved_state(directory: Path) -> dict[str, bytes]:
    bot = new_bot()
    await write_json(directory, bot, sample_state(bot))
    return state_bytes(directory)


async def test_a_read_failure_exits_3(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    before = await saved_state(directory)
    for command in (
        ["check", directory],
        ["show", directory],
        ["export-pickle", directory, tmp_path / "bot.pickle"],
        ["snapshot", directory, tmp_path / "copy"],
    ):
        result = faulty("read", "chat_data.json", *command)
        assert result.returncode == 3, (command[0], result.stderr)
        assert "Input/output error" in result.stderr, result.stderr
        assert "chat_data.json" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "bot.pickle").exists()
    assert not any((tmp_path / "copy").glob("*.json"))
    assert state_bytes(directory) == before


async def test_a_write_failure_exits_3(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    await saved_state(directory)
    bot = new_bot()
    await write_pickle(tmp_path / "bot.pickle", True, bot, sample_state(bot))
    dest = tmp_path / "copy"
    commands = {
        "import-pickle": ["import-pickle", tmp_path / "bot.pickle", tmp_path / "imported"],
        "export-pickle": ["export-pickle", directory, tmp_path / "back.pickle"],
        "snapshot": ["snapshot", directory, dest],
    }
    for name, command in commands.items():
        result = faulty("write", "", *command)
        assert result.returncode == 3, (name, result.stderr)
        assert "No space left on device" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not any((tmp_path / "imported").glob("*.json"))
    assert not (tmp_path / "back.pickle").exists()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []
    assert not any(dest.glob("*.json"))


# -------------------------------------------------------------------------------- snapshot


def gitignore_of(directory: Path) -> bytes:
    return (directory / ".gitignore").read_bytes()


async def test_snapshot_refuses_a_source_that_does_not_load(tmp_path: Path) -> None:
    source, dest = tmp_path / "state", tmp_path / "copy"
    await saved_state(source)
    users = source / "user_data.json"
    users.write_bytes(users.read_bytes()[:-20])  # cut short, as by a naive writer
    before = state_bytes(source)
    refused = jsonpersist("snapshot", source, dest)
    assert refused.returncode == 1
    checked = jsonpersist("check", source)
    assert checked.returncode == 1
    problem = next(line for line in checked.stderr.splitlines() if "not valid JSON" in line)
    assert problem.startswith(str(users.resolve()))
    assert problem in refused.stderr.splitlines()  # the same message as check's
    assert f"1 problem found; nothing was copied to {dest}" in refused.stderr
    assert not dest.exists()
    assert state_bytes(source) == before


async def test_snapshot_of_registered_types_needs_the_types(tmp_path: Path) -> None:
    source = tmp_path / "state"
    writer: JsonPersistence[Any, Any, Any] = JsonPersistence(source, types=TYPES)
    await writer.get_user_data()
    await writer.update_user_data(1, {"at": Point(1, 2)})
    await writer.flush()
    refused = jsonpersist("snapshot", source, tmp_path / "copy")
    assert refused.returncode == 1
    assert "'Point' is not a registered type" in refused.stderr
    copied = jsonpersist("snapshot", source, tmp_path / "copy", "--types", "_cli_types:TYPES")
    assert copied.returncode == 0, copied.stderr
    assert (tmp_path / "copy" / "user_data.json").read_bytes() == (
        source / "user_data.json"
    ).read_bytes()


async def test_snapshot_refuses_a_source_without_state_files(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    refused = jsonpersist("snapshot", tmp_path / "empty", tmp_path / "copy")
    assert refused.returncode == 1
    assert "holds no state files" in refused.stderr
    assert not (tmp_path / "copy").exists()


async def test_snapshot_refuses_a_destination_that_holds_files_without_force(
    tmp_path: Path,
) -> None:
    source, dest = tmp_path / "state", tmp_path / "copy"
    await saved_state(source)
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    refused = jsonpersist("snapshot", source, dest)
    assert refused.returncode == 2
    assert "--force" in refused.stderr
    assert [path.name for path in dest.iterdir()] == ["notes.txt"]
    forced = jsonpersist("snapshot", source, dest, "--force")
    assert forced.returncode == 0, forced.stderr
    assert state_bytes(dest) == state_bytes(source)
    assert (dest / "notes.txt").read_text() == "mine"  # not a state file: left alone


async def crashed_round(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Leaves a redo journal in ``directory``, as a crash between two renames does."""
    writer: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)
    await writer.get_user_data()
    await writer.get_chat_data()
    with crash_after_the_journal(monkeypatch), pytest.raises(StateWriteError):
        await asyncio.gather(
            writer.update_user_data(1, {"n": 2}), writer.update_chat_data(1, {"n": 2})
        )
    writer._session.store.close()  # the crashed process's lock goes with it
    assert (directory / JOURNAL).exists()


async def test_snapshot_refuses_an_unfinished_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, dest = tmp_path / "state", tmp_path / "copy"
    await saved_state(source)
    await crashed_round(source, monkeypatch)
    refused = jsonpersist("snapshot", source, dest)
    assert refused.returncode == 1
    assert "an unfinished save (a redo journal a crash left behind)" in refused.stderr
    assert not dest.exists()
    assert (source / JOURNAL).exists()  # left for the bot to complete


class Recorder:
    """Records unlinks and fsyncs (by path) in this process, and can fail one fsync."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_on: str | None = None) -> None:
        self.events: list[tuple[str, str]] = []
        self.fail_on = fail_on
        real_fsync, real_unlink = os.fsync, os.unlink

        def fsync(fd: int) -> None:
            path = os.readlink(f"/proc/self/fd/{fd}")
            self.events.append(("fsync", path))
            if self.fail_on is not None and os.path.basename(path).startswith(self.fail_on):
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            real_fsync(fd)

        def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
            self.events.append(("unlink", os.fspath(path)))
            real_unlink(path, *args, **kwargs)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "unlink", unlink)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name fds")
async def test_snapshot_writes_the_state_files_and_gitignore_all_or_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source, dest = tmp_path / "state", tmp_path / "copy"
    await saved_state(source)
    assert await cli("snapshot", source, dest) == 0
    old = {**state_bytes(dest), ".gitignore": gitignore_of(dest)}
    # The next save of the bot, and an edited .gitignore, to be copied again.
    bot = new_bot()
    await write_json(source, bot, {**sample_state(bot), "user_data": {5: {"new": True}}})
    (source / ".gitignore").write_bytes(gitignore_of(source) + b"# mine\n")
    new = {**state_bytes(source), ".gitignore": gitignore_of(source)}
    assert new != old
    capsys.readouterr()
    for last in ("..gitignore.", ".user_data.json."):  # a temporary file's fsync fails
        with monkeypatch.context() as faults:
            Recorder(faults, fail_on=last)
            assert await cli("snapshot", source, dest, "--force") == 3
        assert {**state_bytes(dest), ".gitignore": gitignore_of(dest)} == old
        assert sorted(path.name for path in dest.iterdir() if path.name.endswith(".tmp")) == []
    assert "could not save" in capsys.readouterr().err
    assert await cli("snapshot", source, dest, "--force") == 0
    assert {**state_bytes(dest), ".gitignore": gitignore_of(dest)} == new
    assert (await read_json(dest, new_bot()))["user_data"][5] == {"new": True}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name fds")
async def test_snapshot_removes_a_state_file_gone_from_the_source_durably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, dest = tmp_path / "state", tmp_path / "copy"
    await saved_state(dest)  # a callback_data.json the source does not have
    source.mkdir()
    (source / "user_data.json").write_bytes((dest / "user_data.json").read_bytes())
    with monkeypatch.context() as faults:
        recorder = Recorder(faults)
        assert await cli("snapshot", source, dest, "--force") == 0
    assert sorted(path.name for path in dest.glob("*.json")) == ["user_data.json"]
    removed = [
        index
        for index, (kind, path) in enumerate(recorder.events)
        if kind == "unlink" and path.endswith("callback_data.json")
    ]
    assert removed, recorder.events
    synced_after = [path for kind, path in recorder.events[removed[-1] :] if kind == "fsync"]
    assert str(dest.resolve()) in synced_after, recorder.events


# ------------------------------------------------------------------------- import, export


async def test_import_pickle_writes_everything_in_one_atomic_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bot = new_bot()
    state = sample_state(bot)
    await write_pickle(tmp_path / "bot.pickle", True, bot, state)
    directory = tmp_path / "state"
    # A failure at any file's fsync leaves no state file at all.
    for name in STATE_FILES:
        with monkeypatch.context() as faults:
            Recorder(faults, fail_on=f".{name}.")
            assert await cli("import-pickle", tmp_path / "bot.pickle", directory) == 3
        assert sorted(path.name for path in directory.glob("*.json")) == []
        assert (
            sorted(path.name for path in directory.iterdir() if path.name.endswith(".tmp")) == []
        )
    # A crash after the first rename: the journal makes the whole state the next start's.
    with crash_after_the_journal(monkeypatch) as calls:
        assert await cli("import-pickle", tmp_path / "bot.pickle", directory) == 3
    assert len(calls) == 2
    capsys.readouterr()
    assert await cli("show", directory, "user_data", "--key", "8") == 0  # as decided
    assert capsys.readouterr().out == "{}\n"
    started: JsonPersistence[Any, Any, Any] = JsonPersistence(directory)  # completes it
    started.set_bot(bot)
    assert (await started.get_user_data()).keys() == state["user_data"].keys()
    assert (await started.get_chat_data()).keys() == state["chat_data"].keys()
    assert await started.get_conversations("checkout") == state["conversations"]["checkout"]
    await started.flush()
    assert not (directory / JOURNAL).exists()
    assert len(list(directory.glob("*.json"))) == 5


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name fds")
async def test_export_pickle_writes_a_temporary_file_fsyncs_and_renames_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "state"
    await saved_state(directory)
    target = tmp_path / "out" / "bot.pickle"
    target.parent.mkdir()
    target.write_bytes(b"the previous pickle")
    renames: list[tuple[str, str]] = []
    replace = os.replace

    def recording_replace(source: Any, destination: Any) -> None:
        renames.append((os.fspath(source), os.fspath(destination)))
        replace(source, destination)

    with monkeypatch.context() as faults:
        recorder = Recorder(faults)
        faults.setattr(os, "replace", recording_replace)
        assert await cli("export-pickle", directory, target, "--force") == 0
    ((temporary, renamed_to),) = renames
    assert Path(renamed_to) == target
    assert Path(temporary).parent.parent == target.parent  # a temporary place beside it
    assert ("fsync", temporary) in recorder.events
    assert sorted(path.name for path in target.parent.iterdir()) == ["bot.pickle"]
    assert (await PicklePersistence(target).get_user_data()).keys() == {7, 8}
    # A failed rename leaves the previous pickle, and no temporary file.
    target.write_bytes(b"the previous pickle")

    def failing_replace(source: Any, destination: Any) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    with monkeypatch.context() as faults:
        faults.setattr(os, "replace", failing_replace)
        assert await cli("export-pickle", directory, target, "--force") == 3
    assert target.read_bytes() == b"the previous pickle"
    assert sorted(path.name for path in target.parent.iterdir()) == ["bot.pickle"]


async def test_export_pickle_refuses_a_state_that_does_not_decode(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    await saved_state(directory)
    chats = directory / "chat_data.json"
    chats.write_text(chats.read_text().replace('"jsonpersist":2', '"jsonpersist":3'))
    refused = jsonpersist("export-pickle", directory, tmp_path / "bot.pickle")
    assert refused.returncode == 1
    assert "format version 3" in refused.stderr
    assert "nothing was exported" in refused.stderr
    assert not (tmp_path / "bot.pickle").exists()


async def test_import_refuses_both_pickle_forms(tmp_path: Path) -> None:
    bot = new_bot()
    await write_pickle(tmp_path / "bot.pickle", True, bot, sample_state(bot))
    await write_pickle(tmp_path / "bot.pickle", False, bot, sample_state(bot))
    refused = jsonpersist("import-pickle", tmp_path / "bot.pickle", tmp_path / "state")
    assert refused.returncode == 2
    assert "bot.pickle_user_data" in refused.stderr
    assert not (tmp_path / "state").exists()


def test_check_of_a_directory_without_state_files(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    checked = jsonpersist("check", tmp_path / "state")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == f"{tmp_path / 'state'}: no state files yet\n"


# --------------------------------------------------------------------------- context types


async def test_context_types_of_other_classes_than_dict_through_every_command(
    tmp_path: Path,
) -> None:
    bot = new_bot()
    pickled: PicklePersistence[Any, Any, Any] = PicklePersistence(
        tmp_path / "bot.pickle", single_file=True, on_flush=True, context_types=CONTEXT_TYPES
    )
    pickled.set_bot(bot)
    await pickled.get_user_data()
    await pickled.update_user_data(7, Profile(3))
    await pickled.update_chat_data(-5, ChatNotes(topic="cats"))
    await pickled.flush()
    options = ["--types", "_cli_types:TYPES", "--context-types", "_cli_types:CONTEXT_TYPES"]
    directory = tmp_path / "state"

    imported = jsonpersist("import-pickle", tmp_path / "bot.pickle", directory, *options)
    assert imported.returncode == 0, imported.stderr
    assert '[7,{"$obj":"Profile","data":3}]' in (directory / "user_data.json").read_text()
    checked = jsonpersist("check", directory, *options)
    assert checked.returncode == 0, checked.stderr
    assert "user_data: 1 user; chat_data: 1 chat" in checked.stdout
    shown = jsonpersist("show", directory, "user_data", "--key", "7", *options)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == "Profile(3)\n"
    # Without them, a Profile is not a registered type, and not the dict user data must be.
    assert jsonpersist("check", directory).returncode == 1
    assert jsonpersist("check", directory, "--types", "_cli_types:TYPES").returncode == 1
    copied = jsonpersist("snapshot", directory, tmp_path / "copy", *options)
    assert copied.returncode == 0, copied.stderr
    exported = jsonpersist("export-pickle", directory, tmp_path / "back.pickle", *options)
    assert exported.returncode == 0, exported.stderr

    back: PicklePersistence[Any, Any, Any] = PicklePersistence(
        tmp_path / "back.pickle", context_types=CONTEXT_TYPES
    )
    users, chats = await back.get_user_data(), await back.get_chat_data()
    assert users == {7: Profile(3)}
    assert chats == {-5: {"topic": "cats"}}
    assert type(chats[-5]) is ChatNotes
    loaded = await read_json(tmp_path / "copy", bot, types=TYPES, context_types=CONTEXT_TYPES)
    assert loaded["user_data"] == {7: Profile(3)}
    assert type(loaded["chat_data"][-5]) is ChatNotes
    wrong = jsonpersist("check", directory, "--context-types", "_cli_types:TYPES")
    assert wrong.returncode == 2
    assert "is a TypeRegistry, not a ContextTypes" in wrong.stderr


async def test_a_target_that_cannot_be_used_exits_3(tmp_path: Path) -> None:
    source = tmp_path / "state"
    await saved_state(source)
    bot = new_bot()
    await write_pickle(tmp_path / "bot.pickle", True, bot, sample_state(bot))
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # anyone could rename the target away and put their own there
    for command in (
        ["snapshot", source, shared / "copy"],
        ["import-pickle", tmp_path / "bot.pickle", shared / "imported"],
    ):
        refused = jsonpersist(*command)
        assert refused.returncode == 3, refused.stderr
        assert f"{shared}: is writable by everyone (mode 0777)" in refused.stderr
    assert list(shared.iterdir()) == []
    planted = tmp_path / "planted"
    (planted / ".jsonpersist.lock").mkdir(parents=True)  # a lock that is not a regular file
    refused = jsonpersist("snapshot", source, planted, "--force")
    assert refused.returncode == 3, refused.stderr
    assert ".jsonpersist.lock" in refused.stderr
    assert sorted(path.name for path in planted.iterdir()) == [".jsonpersist.lock"]


@pytest.mark.parametrize("name", ["state dir", "state*"])
def test_git_setup_refuses_a_path_gitattributes_cannot_name_plainly(
    tmp_path: Path, name: str
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / name).mkdir()
    refused = subprocess.run(
        [sys.executable, "-m", "jsonpersist", "git-setup", name],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2, refused.stderr
    assert not (tmp_path / ".gitattributes").exists()


async def test_a_redo_journal_that_is_not_a_regular_file_is_a_problem_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "state"
    before = await saved_state(directory)
    (directory / JOURNAL).mkdir()  # planted where the journal would be
    for command in (["check", directory], ["show", directory]):
        assert await cli(*command) == 1, command
        assert JOURNAL in capsys.readouterr().err
    assert state_bytes(directory) == before
    assert (directory / JOURNAL).is_dir()
