"""Every command of the command line over hostile and damaged state: never a traceback.

Each command (``check``, ``show``, ``show --key``, ``export-pickle``, ``snapshot``, and
``import-pickle`` of the pickle ``export-pickle`` wrote) runs on every case of the hostile
corpus (``tests/hostile_cases.py``), on the damaged files of ``tests/test_damaged.py`` (of
format version 2, and every 5th truncation of the version-1 fixtures) and on hostile pickles.
Each must end with one of the documented exit codes (0 to 3), a message on stderr when it
fails, and no traceback. The commands run in this process through ``jsonpersist._cli.main``
(an exception escaping it is the traceback a user would see); two of the issue's cases also run
as real processes.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import damage as damaged  # the representative files and seeded mutations
import pytest
from doc_counts import stated
from hostile_cases import CASES, CORRUPT, GENERATED, MERSENNE_61
from telegram import InputMediaPhoto
from telegram.ext import ExtBot, PicklePersistence

from jsonpersist import JsonPersistence
from jsonpersist._cli import main

TESTS = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])}
DOCUMENTED = {0, 1, 2, 3}
#: The key ``show --key`` asks for in each category's file.
KEYS = {"user_data": "7", "chat_data": "7", "bot_data": "v", "callback_data": "k",
        "conversations": "c"}  # fmt: skip
#: Every how many bytes a version-1 fixture is cut for the damaged sweep.
V1_STEP = 5
#: The damaged sweep: every truncation of each representative file, and every 10th of the
#: seeded mutations, get the reading commands; every 10th of those the writing ones too.
MUTATION_STEP = 10
WRITING_STEP = 10


@dataclass
class Runs:
    """Runs commands in this process; collects every run that broke the rules."""

    capsys: pytest.CaptureFixture[str]
    count: int = 0
    broken: list[str] = field(default_factory=list)

    def __call__(self, label: str, *args: object) -> int:
        self.count += 1
        argv = [str(arg) for arg in args]
        try:
            code = main(argv)
        except BaseException as exc:  # what would end in a traceback
            self.capsys.readouterr()
            self.broken.append(f"{label}: {argv[0]} ended in {type(exc).__name__}: {exc}"[:400])
            return -1
        out, err = self.capsys.readouterr()
        if code not in DOCUMENTED:
            self.broken.append(f"{label}: {argv[0]} exited {code}")
        if "Traceback" in out + err:
            self.broken.append(f"{label}: {argv[0]} printed a traceback")
        if code != 0 and not err.strip():
            self.broken.append(f"{label}: {argv[0]} exited {code} without a message")
        return code


@pytest.fixture
def runs(capsys: pytest.CaptureFixture[str]) -> Iterator[Runs]:
    collected = Runs(capsys)
    yield collected
    assert collected.broken[:20] == [], "\n".join(collected.broken[:20])


def every_command(runs: Runs, label: str, directory: Path, category: str, write: bool) -> int:
    """Runs each command on one state directory; returns the exit code of ``check``."""
    checked = runs(label, "check", directory)
    runs(label, "show", directory)
    runs(label, "show", directory, category, "--key", KEYS[category])
    if write:
        exported = directory.parent / f"{directory.name}.pickle"
        if runs(label, "export-pickle", directory, exported, "--force") == 0:
            runs(label, "import-pickle", exported, directory.parent / f"{directory.name}-in")
        runs(label, "snapshot", directory, directory.parent / f"{directory.name}-copy", "--force")
    return checked


def test_every_command_on_the_hostile_corpus(runs: Runs, tmp_path: Path) -> None:
    for index, case in enumerate(CASES):
        directory = tmp_path / f"case{index}"
        directory.mkdir()
        (directory / f"{case.category}.json").write_bytes(case.raw)
        checked = every_command(runs, case.id, directory, case.category, write=True)
        if not case.xfail:  # an open finding: the loader's outcome is the wrong one for now
            assert checked == (1 if case.expect is CORRUPT else 0), case.id
    assert runs.count >= 5 * len(CASES)


@pytest.mark.parametrize("generated", GENERATED, ids=[g.id for g in GENERATED])
def test_every_command_on_a_generated_file(runs: Runs, tmp_path: Path, generated: Any) -> None:
    directory = tmp_path / "state"
    directory.mkdir()
    (directory / f"{generated.category}.json").write_bytes(generated.build())
    checked = every_command(runs, generated.id, directory, generated.category, write=True)
    assert checked == (1 if generated.expect == CORRUPT else 0)


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return asyncio.run(damaged.write_state(tmp_path_factory.mktemp("originals")))


def damaged_inputs(originals: dict[str, bytes]) -> list[tuple[str, str, bytes]]:
    """(label, category, bytes): every truncation, and every 10th seeded mutation."""
    inputs = [
        (f"{name}[:{size}]", name, raw[:size])
        for name, raw in originals.items()
        for size in range(len(raw))
    ]
    inputs += [
        (f"v1 {name}[:{size}]", name, raw[:size])
        for name, raw in damaged.v1_originals().items()
        for size in range(0, len(raw) + 1, V1_STEP)
    ]
    mutations = damaged.mutations(originals)
    inputs += [
        (f"mutation {index} of {name}", name, raw)
        for index, (name, raw) in enumerate(mutations)
        if index % MUTATION_STEP == 0
    ]
    return inputs


def test_every_command_on_the_damaged_files(
    runs: Runs, tmp_path: Path, originals: dict[str, bytes]
) -> None:
    inputs = damaged_inputs(originals)
    for index, (label, category, raw) in enumerate(inputs):
        directory = tmp_path / f"d{index}"
        directory.mkdir()
        (directory / f"{category}.json").write_bytes(raw)
        every_command(runs, label, directory, category, write=index % WRITING_STEP == 0)
    assert len(inputs) == DAMAGED_INPUTS


#: How many damaged files the sweep above runs the commands on (stated in the guarantees).
DAMAGED_INPUTS = 1381 + 242 + 10_000 // MUTATION_STEP


# ----------------------------------------------------------------------- hostile pickles


def bot() -> ExtBot[None]:
    return ExtBot("1:offline")


async def pickle_without_get(path: Path) -> None:
    """What PTB writes when categories are updated without a get_* first: None for the rest."""
    persistence = PicklePersistence(path, single_file=True)
    persistence.set_bot(bot())
    await persistence.update_user_data(1, {"a": 1})
    await persistence.flush()


def pickled(path: Path, **categories: Any) -> None:
    state = {"user_data": {}, "chat_data": {}, "bot_data": {}, "callback_data": None,
             "conversations": {}}  # fmt: skip
    state.update(categories)
    path.write_bytes(pickle.dumps(state))


def colliding_set() -> set[int]:
    return {k * MERSENNE_61 for k in range(9, 9 + 40)}


HOSTILE_PICKLES: dict[str, Any] = {
    "user-data-a-list": lambda path: pickled(path, user_data=[1, 2]),
    "conversations-not-dicts": lambda path: pickled(path, conversations={"c": [1]}),
    "callback-data-a-string": lambda path: pickled(path, callback_data="x"),
    "user-id-beyond-i64": lambda path: pickled(path, user_data={2**70: {"a": 1}}),
    "user-id-a-string": lambda path: pickled(path, user_data={"abc": {"a": 1}}),
    "huge-int-value": lambda path: pickled(path, user_data={1: {"n": 10**5000}}),
    "huge-int-key": lambda path: pickled(path, user_data={1: {10**5000: 1}}),
    "colliding-set": lambda path: pickled(path, bot_data={"s": colliding_set()}),
    "conversation-name-an-int": lambda path: pickled(path, conversations={5: {(1,): 1}}),
    "input-media-photo": lambda path: pickled(path, bot_data={"m": InputMediaPhoto("x")}),
    "not-a-pickle": lambda path: path.write_bytes(b"\x80\x05garbage"),
    "a-pickled-list": lambda path: path.write_bytes(pickle.dumps([1, 2, 3])),
}


@pytest.mark.parametrize("make", HOSTILE_PICKLES.values(), ids=HOSTILE_PICKLES.keys())
@pytest.mark.parametrize("skip", [False, True], ids=["", "skip-unsupported"])
def test_import_pickle_of_a_hostile_pickle(
    runs: Runs, tmp_path: Path, make: Any, skip: bool
) -> None:
    source = tmp_path / "bot.pickle"
    make(source)
    target = tmp_path / "state"
    flags = ["--skip-unsupported"] if skip else []
    code = runs("pickle", "import-pickle", source, target, *flags)
    assert code in {0, 1}
    if code == 0:  # what was written loads
        assert runs("pickle", "check", target) == 0


def test_import_pickle_of_categories_written_without_get(runs: Runs, tmp_path: Path) -> None:
    """PTB pickles None for a category it never loaded: the import takes what there is."""
    source = tmp_path / "bot.pickle"
    asyncio.run(pickle_without_get(source))
    assert pickle.loads(source.read_bytes())["conversations"] is None
    assert runs("none", "import-pickle", source, tmp_path / "state") == 0
    loaded = asyncio.run(JsonPersistence(tmp_path / "state", read_only=True).get_user_data())
    assert loaded == {1: {"a": 1}}


def test_the_issues_cases_as_real_processes(tmp_path: Path) -> None:
    """``show`` and ``show --key`` of 10**5000, ``import-pickle`` of None categories."""

    async def store_big() -> None:
        persistence = JsonPersistence(tmp_path / "big")
        await persistence.get_bot_data()
        await persistence.update_bot_data({"big": 10**5000})
        await persistence.flush()

    asyncio.run(store_big())
    asyncio.run(pickle_without_get(tmp_path / "none.pickle"))
    for args in (
        ["show", tmp_path / "big"],
        ["show", tmp_path / "big", "bot_data", "--key", "big"],
        ["import-pickle", tmp_path / "none.pickle", tmp_path / "imported"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "jsonpersist", *map(str, args)],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    show = subprocess.run(
        [sys.executable, "-m", "jsonpersist", "show", str(tmp_path / "big"), "bot_data",
         "--key", "big"],
        capture_output=True, text=True, env=ENV, timeout=60, check=True,
    )  # fmt: skip
    assert int(show.stdout.strip(), 16) == 10**5000


def test_the_guarantees_page_counts_what_was_tried() -> None:
    assert stated("test_every_command_on_the_hostile_corpus") == len(CASES)
    assert stated("test_every_command_on_the_damaged_files") == DAMAGED_INPUTS
    assert stated("test_import_pickle_of_a_hostile_pickle") == len(HOSTILE_PICKLES)
