"""Security: a state file is data, never code; files keep private modes; links and rivals refused.

* No pickle, marshal, eval, exec or import-by-name anywhere on the load path (the package's
  sources are scanned), and loading never imports the command line (which does use pickle, to
  convert from and to PicklePersistence).
* A crafted file naming ``os.system`` or ``subprocess.Popen`` makes the decoder neither import
  nor call anything: a fresh process audits every import, exec, compile, process and socket
  event while the decoder reads such files.
* New files are 0600 (the directory 0700), an existing file keeps its mode.
* A symlinked state file is refused, on load and on save, and its target is left alone.
* A second process is refused with the holder's PID; a holder killed with SIGKILL frees the
  directory within a second.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from doc_counts import stated
from hostile_cases import CASES
from telegram import Bot, TelegramObject, User
from watch_paths import outside, start_watched, strace

import jsonpersist
from jsonpersist import (
    Codec,
    CorruptStateError,
    JsonPersistence,
    StateLockedError,
    UnsupportedTypeError,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file semantics")

PACKAGE = Path(jsonpersist.__file__).parent
#: The modules a bot runs: everything ``import jsonpersist`` loads, and what
#: ``PostgresPersistence`` adds.
LOAD_PATH = (
    "__init__.py",
    "_categories.py",
    "_codec.py",
    "_decoding.py",
    "_entries.py",
    "_errors.py",
    "_files.py",
    "_format.py",
    "_hashes.py",
    "_journal.py",
    "_persistence.py",
    "_pg_errors.py",
    "_pg_rows.py",
    "_pg_store.py",
    "_plain.py",
    "_postgres.py",
    "_rounds.py",
    "_same.py",
    "_scalars.py",
    "_session.py",
    "_store.py",
    "_telegram.py",
    "_tree.py",
    "_types.py",
    "_v1.py",
    "_version.py",
    "_views.py",
    "_watch.py",
)
#: The command line and its converter, which import pickle for ``jsonpersist import-pickle``
#: and ``export-pickle``, git's merge driver and ``git-setup``, which run git, and ``copy``;
#: a bot never imports them.
TOOLS = (
    "__main__.py",
    "_cli.py",
    "_commands.py",
    "_convert.py",
    "_copy.py",
    "_directory.py",
    "_gitsetup.py",
    "_merge.py",
    "_pg_state.py",
)
FORBIDDEN_MODULES = {
    "pickle",
    "_pickle",
    "cPickle",
    "dill",
    "cloudpickle",
    "shelve",
    "marshal",
    "importlib",
    "imp",
    "pkgutil",
    "runpy",
    "code",
    "codeop",
    "ctypes",
    "subprocess",
    "yaml",
    "jsonpickle",
}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "breakpoint", "input"}
FORBIDDEN_ATTRIBUTES = {"import_module", "find_class", "find_spec", "load_module", "system"}
#: ``(module file, function)`` -> modules it may import lazily.
ALLOWED_LOCAL_IMPORTS = {
    ("_files.py", "full_fsync"): {"fcntl"},
    # PostgresPersistence (and with it psycopg) only when it is asked for
    ("__init__.py", "__getattr__"): {"jsonpersist._postgres"},
}
CHILD = Path(__file__).with_name("crash_child.py")


def parsed(name: str) -> ast.Module:
    return ast.parse((PACKAGE / name).read_text("utf-8"), filename=name)


def imported(node: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(node, ast.ImportFrom):
        return {node.module or ""}
    return {alias.name for alias in node.names}


def test_every_module_is_classified() -> None:
    modules = {path.name for path in PACKAGE.glob("*.py")}
    assert set(LOAD_PATH) <= modules
    assert modules - set(LOAD_PATH) <= set(TOOLS), "classify the new module"


@pytest.mark.parametrize("name", LOAD_PATH)
def test_the_load_path_holds_no_code_loading(name: str) -> None:
    tree = parsed(name)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for module in imported(node):
                if module.split(".")[0] in FORBIDDEN_MODULES:
                    found.append(f"line {node.lineno}: imports {module}")
                if module.removeprefix("jsonpersist.") + ".py" in TOOLS:
                    found.append(f"line {node.lineno}: imports the command line ({module})")
        elif isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Name) and function.id in FORBIDDEN_CALLS:
                found.append(f"line {node.lineno}: calls {function.id}()")
            if isinstance(function, ast.Attribute) and function.attr in FORBIDDEN_ATTRIBUTES:
                found.append(f"line {node.lineno}: calls .{function.attr}()")
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_CALLS | {"__builtins__"}:
            found.append(f"line {node.lineno}: refers to {node.id}")
    assert found == []


@pytest.mark.parametrize("name", LOAD_PATH)
def test_imports_happen_at_module_level_only(name: str) -> None:
    """An import inside a function is an import at run time: only the fcntl one is allowed."""
    found = []
    for function in ast.walk(parsed(name)):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        allowed = ALLOWED_LOCAL_IMPORTS.get((name, function.name), set())
        for node in ast.walk(function):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                extra = imported(node) - allowed
                if extra:
                    found.append(f"{function.name}, line {node.lineno}: imports {extra}")
    assert found == []


AUDITED = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path

    import jsonpersist
    from jsonpersist import Codec, CorruptStateError, JsonPersistence

    cases = json.loads(sys.argv[2])
    directory = Path(sys.argv[1])
    codec = Codec()
    outcomes = []

    async def load(raw):
        (directory / "bot_data.json").write_bytes(raw)
        return await JsonPersistence(directory, read_only=True).get_bot_data()

    # Warm up the paths a harmless file takes, so that only what a crafted file adds is seen.
    asyncio.run(load(b'{"jsonpersist": 1, "category": "bot_data", "data": {"a": [1]}}'))
    codec.loads(b'{"$tuple": [1, {"$set": [2]}]}')

    modules = set(sys.modules)
    events = []
    WATCHED = ("import", "exec", "compile", "os.system", "os.exec", "os.posix_spawn",
               "os.spawn", "os.fork", "os.startfile", "subprocess.Popen", "ctypes.",
               "pickle.find_class", "marshal.load", "socket.connect", "socket.bind",
               "socket.getaddrinfo", "socket.sendto", "urllib.Request",
               "builtins.input", "code.__new__", "object.__setattr__")
    def hook(event, args):
        if event.startswith(WATCHED):
            events.append((event, repr(args)[:120]))
    sys.addaudithook(hook)

    for text in cases:
        tree = json.loads(text)
        raw = json.dumps({"jsonpersist": 1, "category": "bot_data", "data": {"v": tree}})
        for run in (lambda: codec.decode(json.loads(text)), lambda: codec.loads(text),
                    lambda: asyncio.run(load(raw.encode()))):
            try:
                run()
                outcomes.append("decoded " + text)
            except CorruptStateError:
                outcomes.append("refused")
            except Exception as exc:
                outcomes.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"outcomes": outcomes, "events": events,
                      "new_modules": sorted(set(sys.modules) - modules)}))
    """
)
CRAFTED = [
    {"$tg": "os.system", "data": {"command": "touch pwned"}},
    {"$tg": "posix.system", "data": {}},
    {"$tg": "builtins.eval", "data": {}},
    {"$tg": "subprocess.Popen", "bot": "current", "data": {"args": ["ls"]}},
    {"$tg": "telegram.Bot", "data": {"token": "1:x"}},
    {"$tg": "telegram.ext.PicklePersistence", "data": {"filepath": "x"}},
    {"$tg": "jsonpersist._cli.main", "data": {}},
    {"$tg": "__main__.Evil", "data": {}},
    {"$tg": "pickle.loads", "data": {}},
    {"$obj": "os.system", "data": "touch pwned"},
    {"$obj": "subprocess.Popen", "data": ["touch", "pwned"]},
    {"$obj": "builtins.__import__", "data": "os"},
    {"$obj": "importlib.import_module", "data": "os"},
    {"$obj": "pickle.loads", "data": {"$bytes": "gASVAAAAAAAAAAB9lC4="}},
    {"$pickle": "gASVAAAAAAAAAAB9lC4="},
    {"$reduce": ["os.system", ["touch pwned"]]},
    {"$import": "os"},
    {"$eval": "__import__('os').system('touch pwned')"},
    {"$class": "os.system"},
    {"$bot": "os.system"},
    {"$": {"$tg": "os.system", "data": {}}, "$obj": "os.system"},
    {"$decimal": "__import__('os')"},
    {"$uuid": "__import__('os')"},
]


def test_a_crafted_file_makes_the_decoder_neither_import_nor_call_anything(
    tmp_path: Path,
) -> None:
    cases = [json.dumps(case) for case in CRAFTED]
    done = subprocess.run(
        [sys.executable, "-c", AUDITED, str(tmp_path), json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["outcomes"] == ["refused"] * (3 * len(CRAFTED)), result["outcomes"]
    assert result["events"] == []
    assert result["new_modules"] == []
    assert not (tmp_path / "pwned").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bot_data.json"]


ZONES = [
    "os/path",
    "subprocess",
    "Foo.Bar/baz",
    "jsonpersist/_cli",
    "tzdata",
    "__init__",
    "zoneinfo/__init__.py",
    "../../../../etc/passwd",
    "/etc/passwd",
    "Europe/Berlin",
]


def test_a_time_zone_name_can_only_reach_the_tzdata_package(tmp_path: Path) -> None:
    """The one lookup by a name from the file: zoneinfo's fallback to the tzdata package.

    zoneinfo imports ``tzdata.zoneinfo.<area>`` to find a zone that the system lacks; those
    are data-only packages, and nothing outside ``tzdata`` can be named.
    """
    # +01:00: Berlin's offset that day (a zone that exists must agree with the offset)
    cases = [json.dumps({"$datetime": f"2024-01-01T00:00:00+01:00[{zone}]"}) for zone in ZONES]
    done = subprocess.run(
        [sys.executable, "-c", AUDITED, str(tmp_path), json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["outcomes"][:-3] == ["refused"] * (3 * len(ZONES) - 3)
    assert all(outcome.startswith("decoded") for outcome in result["outcomes"][-3:])
    # tzdata's packages, and the fixed machinery zoneinfo uses to read them: none named by
    # the file beyond tzdata.zoneinfo.<area>.
    allowed = ("tzdata", "importlib", "zipfile")
    assert [name for name in result["new_modules"] if not name.startswith(allowed)] == []
    imports = [args.split("'")[1] for event, args in result["events"] if event == "import"]
    assert [name for name in imports if not name.startswith(allowed)] == []
    assert not (tmp_path / "pwned").exists()


def test_loading_never_imports_the_command_line(tmp_path: Path) -> None:
    code = (
        "import asyncio, sys; from jsonpersist import JsonPersistence; "
        f"p = JsonPersistence({str(tmp_path)!r}); asyncio.run(p.get_user_data()); "
        "asyncio.run(p.flush()); "
        "print(sorted(m for m in sys.modules if m.startswith('jsonpersist')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    for tool in TOOLS:
        assert f"jsonpersist.{tool.removesuffix('.py')}'" not in done.stdout
    assert "jsonpersist._persistence" in done.stdout


# ------------------------------------------------------------------------------- modes


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


async def test_new_files_are_private_and_existing_modes_are_kept(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    old_umask = os.umask(0)  # even a permissive umask must not widen the files
    try:
        persistence = JsonPersistence(directory)
        await persistence.get_user_data()
        await persistence.get_conversations("c")
        await asyncio.gather(
            persistence.update_user_data(1, {"a": 1}),
            persistence.update_conversation("c", (1, 1), 1),
        )
        await persistence.update_bot_data({"b": 1})
    finally:
        os.umask(old_umask)
    assert mode(directory) == 0o700
    for name in ("user_data.json", "conversations.json", "bot_data.json"):
        assert mode(directory / name) == 0o600, name
    for name in (".jsonpersist.lock", ".jsonpersist.round.lock"):
        assert mode(directory / name) == 0o600, name
    assert mode(directory / ".gitignore") == 0o644  # not state: meant to be committed

    (directory / "user_data.json").chmod(0o640)
    (directory / "bot_data.json").chmod(0o400)
    await asyncio.gather(
        persistence.update_user_data(1, {"a": 2}),
        persistence.update_conversation("c", (1, 1), 2),
    )
    await persistence.update_bot_data({"b": 2})
    assert mode(directory / "user_data.json") == 0o640
    assert mode(directory / "bot_data.json") == 0o400
    assert mode(directory / "conversations.json") == 0o600
    await persistence.flush()


# ------------------------------------------------------------------------------ symlinks


async def test_a_symlinked_state_file_is_refused_on_load(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_bytes(b'{"jsonpersist": 1, "category": "user_data", "data": {}}')
    directory = tmp_path / "state"
    directory.mkdir()
    (directory / "user_data.json").symlink_to(target)
    persistence = JsonPersistence(directory)
    with pytest.raises(CorruptStateError, match="symlink") as raised:
        await persistence.get_user_data()
    assert raised.value.file == directory / "user_data.json"
    with pytest.raises(CorruptStateError):
        await persistence.update_user_data(1, {"a": 1})
    await persistence.flush()
    assert (directory / "user_data.json").is_symlink()
    assert target.read_bytes() == b'{"jsonpersist": 1, "category": "user_data", "data": {}}'


async def test_a_symlink_planted_after_loading_is_refused_on_save(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    persistence = JsonPersistence(directory)
    await persistence.get_user_data()
    await persistence.update_user_data(1, {"a": 1})
    target = tmp_path / "victim"
    target.write_bytes(b"precious")
    (directory / "user_data.json").unlink()
    (directory / "user_data.json").symlink_to(target)
    with pytest.raises(CorruptStateError, match="symlink"):
        await persistence.update_user_data(1, {"a": 2})
    with pytest.raises(CorruptStateError, match="symlink"):
        await persistence.flush()  # the change is still unsaved, and still refused
    assert (directory / "user_data.json").is_symlink()
    assert target.read_bytes() == b"precious"
    assert [p.name for p in directory.iterdir() if p.name.endswith(".tmp")] == []


async def test_a_journal_naming_files_elsewhere_moves_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    directory.mkdir()
    (tmp_path / "outside.tmp").write_bytes(b"attacker")
    (directory / ".x.tmp").write_bytes(b"attacker")
    for moves in ({"user_data.json": "../outside.tmp"}, {"../escaped.json": ".x.tmp"}):
        (directory / ".jsonpersist.journal").write_text(json.dumps({"moves": moves}))
        persistence = JsonPersistence(directory)
        with pytest.raises(CorruptStateError, match="journal"):
            await persistence.get_user_data()
        await persistence.flush()
    assert not (directory / "user_data.json").exists()
    assert not (tmp_path / "escaped.json").exists()
    assert (tmp_path / "outside.tmp").read_bytes() == b"attacker"


# ------------------------------------------------------------------------------- the lock


async def test_a_rival_is_refused_with_the_pid_and_a_killed_holder_frees_the_directory(
    tmp_path: Path,
) -> None:
    """Kept minimal: tests/test_store.py covers the lock in depth."""
    directory = tmp_path / "state"
    holder = subprocess.Popen(
        [sys.executable, str(CHILD), "pair", str(directory), "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert (await asyncio.to_thread(holder.stdout.readline)).startswith("saved ")
        with pytest.raises(StateLockedError) as raised:
            await JsonPersistence(directory).get_user_data()
        assert raised.value.pid == holder.pid
        assert f"process {holder.pid}" in str(raised.value)
        holder.send_signal(signal.SIGKILL)
        killed = time.perf_counter()
        holder.wait()
        persistence = JsonPersistence(directory)
        while True:
            try:
                await persistence.get_user_data()
                break
            except StateLockedError:
                assert time.perf_counter() - killed < 1.0, "the dead holder still blocks"
                await asyncio.sleep(0.01)
        freed = time.perf_counter() - killed
        print(f"\nthe directory was free {freed * 1000:.1f} ms after the SIGKILL")
        await persistence.flush()
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


# ------------------------------------------------------------- decoding looks at no file


def probing_classes() -> list[type[TelegramObject]]:
    """PTB's classes whose ``__init__`` or ``de_json`` (theirs or a base's) reads the disk.

    Found in PTB's source, so that a class a new PTB adds is caught here: they call
    ``telegram._utils.files.parse_file_input``, whose ``Path(string).is_file()`` stats any
    path a string names (and, outside local mode, opens it).
    """
    uses_files = re.compile(r"parse_file_input|is_local_file|\bPath\(|\bopen\(|\bos\.")
    found, todo, seen = [], [TelegramObject], set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        if issubclass(cls, Bot) or cls.__module__.startswith("jsonpersist"):
            continue
        for base in cls.__mro__[: cls.__mro__.index(TelegramObject)]:
            sources = []
            for name in ("__init__", "de_json"):
                function = getattr(base.__dict__.get(name), "__func__", base.__dict__.get(name))
                if function is not None:
                    sources.append(inspect.getsource(function))
            if any(uses_files.search(source) for source in sources):
                found.append(cls)
                break
    return sorted(found, key=lambda cls: cls.__name__)


PROBING = probing_classes()


def test_ptb_has_classes_that_read_the_disk() -> None:
    """The scan finds what the issue found (and would find a new one)."""
    names = {cls.__name__ for cls in PROBING}
    assert {"InputMediaPhoto", "InputMediaDocument", "InputSticker"} <= names
    assert "Message" not in names
    assert "InputMediaLocation" not in names


@pytest.mark.parametrize("cls", PROBING, ids=lambda cls: cls.__name__)
def test_a_ptb_class_that_reads_the_disk_is_neither_loaded_nor_stored(
    cls: type[TelegramObject],
) -> None:
    name = cls.__name__
    with pytest.raises(CorruptStateError, match="file system") as raised:
        Codec().decode({"$tg": name, "data": {"type": "photo", "media": "/etc/shadow"}})
    assert raised.value.where == "value['$tg']"
    instance = object.__new__(cls)  # its constructor would look at the disk
    with pytest.raises(UnsupportedTypeError, match="file_id"):
        Codec().encode({"media": instance})


def test_a_class_without_files_still_loads() -> None:
    tree = {"$tg": "InputMediaLocation", "data": {"type": "location", "latitude": 1.5}}
    with contextlib.suppress(CorruptStateError):  # PTB may want more fields; never a probe
        Codec().decode(tree)
    user = Codec().decode({"$tg": "User", "data": {"id": 1, "first_name": "a", "is_bot": False}})
    assert isinstance(user, User)


def hostile_directories(tmp_path: Path) -> tuple[Path, list[tuple[Path, str]]]:
    """Every case of the hostile corpus in a state directory of its own."""
    root = tmp_path / "dirs"
    cases = []
    for index, case in enumerate(CASES):
        directory = root / f"case{index}"
        directory.mkdir(parents=True)
        (directory / f"{case.category}.json").write_bytes(case.raw)
        cases.append((directory, case.category))
    return root, cases


def test_loading_the_hostile_corpus_looks_at_no_path_outside_its_directory(
    tmp_path: Path,
) -> None:
    """Every load of the hostile corpus, watched by an audit hook and os.stat's callers.

    Before the fix, ``InputMediaPhoto("/etc/shadow")`` and friends stat-ed the paths they name
    (and the loaded value told which exist). See tests/watch_paths.py for how it is watched.
    """
    root, cases = hostile_directories(tmp_path)
    seen, outcomes = start_watched(cases, root, tmp_path)
    assert any(path.endswith(".jsonpersist.lock") for path in seen), "the watch saw nothing"
    assert outside(seen, root) == []
    assert all(outcome.typed for outcome in outcomes), outcomes


def test_strace_sees_no_path_outside_the_directory(tmp_path: Path) -> None:
    """The same loads under strace: every system call that names a path, C code included."""
    root, cases = hostile_directories(tmp_path)
    named = strace(cases, root, tmp_path)
    if named is None:
        pytest.skip("strace is not installed, or may not trace here")
    assert any(".jsonpersist.lock" in path for path in named)
    assert outside([path for path in named if path.startswith("/")], root) == []
    relative = [path for path in named if not path.startswith("/")]
    assert relative == [], "a relative path: resolved against the working directory"


def test_the_guarantees_page_counts_what_was_tried() -> None:
    assert stated("test_a_ptb_class_that_reads_the_disk_is_neither_loaded_nor_stored") == len(
        PROBING
    )
    assert stated("test_loading_the_hostile_corpus_looks_at_no_path_outside_its_directory") == len(
        CASES
    )
