"""The ``jsonpersist`` commands: check, show, import-pickle, export-pickle and snapshot.

Each command reads and writes state directories through ``_directory``, which parses and
encodes exactly as a bot's persistence does (with an offline stand-in for the bot, so
``"bot": "current"`` references resolve and nothing goes online), and pickles through
``_convert``. A command tells the user what happened and returns its exit code; ``_cli``
parses the arguments and turns errors into exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import pprint
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from telegram import Bot, TelegramObject
from telegram.ext import ContextTypes

from jsonpersist._categories import CATEGORIES
from jsonpersist._codec import TypeRegistry
from jsonpersist._convert import Options, clean_state, read_pickle, write_pickle
from jsonpersist._directory import (
    State,
    holds_files,
    install_files,
    read_state,
    round_files,
    undecodable,
    write_state,
)
from jsonpersist._errors import (
    PickleLoadError,
    PicklePathError,
)
from jsonpersist._format import FORMAT_VERSION
from jsonpersist._gitsetup import GitSetupError
from jsonpersist._gitsetup import git_setup as setup_repository
from jsonpersist._merge import merge_files

__all__ = (
    "EXIT_IO",
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_USAGE",
    "Failure",
    "check",
    "export_pickle",
    "import_pickle",
    "show",
    "snapshot",
    "warn",
)

#: The command did what was asked; ``check`` found nothing wrong.
EXIT_OK = 0
#: The state has problems: a file does not decode, values cannot be stored, a key is missing.
EXIT_PROBLEMS = 1
#: The command line is wrong: an unknown option, a path that does not exist, a target that
#: already holds data and no ``--force``.
EXIT_USAGE = 2
#: A running bot owns the directory, or reading or writing a file failed.
EXIT_IO = 3

_PROGRESS_EVERY = 1000
_MAX_LISTED = 100
_WIDTH = 100
T = TypeVar("T")


class Failure(Exception):
    """Ends a command with an exit code and a message that says what to do."""

    __slots__ = ("code",)

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _summary(state: State, name: str) -> str:
    """One category in a few words, e.g. ``2 users`` or ``1 handler, 3 conversations``."""
    if name == "user_data":
        return _count(len(state.user_data), "user")
    if name == "chat_data":
        return _count(len(state.chat_data), "chat")
    if name == "bot_data":
        if not isinstance(state.bot_data, dict):
            return f"a {type(state.bot_data).__name__}"
        return _count(len(state.bot_data), "key")
    if name == "callback_data":
        keyboards, queries = state.callback_data or ([], {})
        return f"{_count(len(keyboards), 'keyboard')}, {_count(len(queries), 'query')}"
    total = sum(len(states) for states in state.conversations.values())
    return f"{_count(len(state.conversations), 'handler')}, {_count(total, 'conversation')}"


def _describe(state: State) -> str:
    """All categories in one line, for the messages of import and export."""
    return "; ".join(f"{name}: {_summary(state, name)}" for name in CATEGORIES)


def _count(number: int, noun: str) -> str:
    plural = "queries" if noun == "query" else f"{noun}s"
    return f"{number:,} {noun if number == 1 else plural}"


def warn(message: str) -> None:
    print(f"jsonpersist: {message}", file=sys.stderr, flush=True)


def _checked(done: int, total: int) -> None:
    """Tells the user on stderr how a long check is going, every 1,000 entries."""
    if done % _PROGRESS_EVERY == 0:
        warn(f"checked {done:,} of {total:,} entries")


# ------------------------------------------------------------------------- paths and options


def _existing_directory(path: Path) -> Path:
    # Checked first because opening a Store creates a missing directory.
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise Failure(EXIT_USAGE, f"{path} {what}; pass the bot's state directory")
    return path


def _holds_data(directory: Path) -> bool:
    """Whether a directory has anything but jsonpersist's own lock and .gitignore files."""
    try:
        return holds_files(directory)
    except NotADirectoryError as exc:
        raise Failure(EXIT_USAGE, str(exc)) from None


def _import_from(spec: str, kind: type[T], option: str) -> T:
    """Imports ``module:attribute`` the way ``python -m`` would, from the current directory."""
    module_name, _, attribute = spec.partition(":")
    if not (module_name and attribute):
        raise Failure(EXIT_USAGE, f"{option} expects MODULE:NAME, e.g. mybot.state:TYPES")
    _add_current_directory()
    try:
        value = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise Failure(
            EXIT_USAGE,
            f"{option} {spec}: {exc}; run from the bot's directory or set PYTHONPATH",
        ) from exc
    if not isinstance(value, kind):
        raise Failure(
            EXIT_USAGE, f"{option} {spec} is a {type(value).__name__}, not a {kind.__name__}"
        )
    return value


def _add_current_directory() -> None:
    # The console script's sys.path starts with its own bin directory, not the current one.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())


def _options(args: argparse.Namespace) -> Options:
    options = Options()
    if args.types:
        options.types = _import_from(args.types, TypeRegistry, "--types")
    if args.context_types:
        options.context_types = _import_from(args.context_types, ContextTypes, "--context-types")
    return options


def _shape_problems(directory: Path, state: State) -> list[str]:
    """What decodes but cannot be what PTB stored: ConversationHandler keys are tuples."""
    problems = []
    for name, states in state.conversations.items():
        for key in states:
            if type(key) is not tuple or not all(type(part) in (int, str) for part in key):
                problems.append(
                    f"{_file(directory.resolve(), 'conversations')} "
                    f"conversations[{name!r}][{key!r}]: "
                    "a conversation key must be a tuple of ints and strings; "
                    "ConversationHandler never looks this one up"
                )
    return problems


# --------------------------------------------------------------------------------- check


def check(args: argparse.Namespace) -> int:
    options = _options(args)
    failed = 0
    for directory in args.directories:
        _existing_directory(directory)
        present = [name for name in CATEGORIES if _present(_file(directory, name))]
        if not present:
            print(f"{directory}: no state files yet")
            continue
        state, errors = read_state(directory, options.entries(), present)
        problems = [str(error) for error in errors.values()] + _shape_problems(directory, state)
        if problems:
            failed += len(problems)
            for problem in problems:
                print(problem, file=sys.stderr)
            continue
        details = "; ".join(f"{name}: {_summary(state, name)}" for name in present)
        print(f"{directory}: OK ({details}); {_versions(state, present)}")
    if failed:
        warn(
            f"{_count(failed, 'problem')} found; the files were left as they are. Fix the "
            "position named above, or restore the file from git or a snapshot"
        )
        return EXIT_PROBLEMS
    return EXIT_OK


def _versions(state: State, names: list[str]) -> str:
    """Which format versions ``check`` read, e.g. ``format version 2``."""
    old = [name for name in names if state.versions.get(name, FORMAT_VERSION) != FORMAT_VERSION]
    if not old:
        return f"format version {FORMAT_VERSION}"
    return (
        f"format version 1 in {', '.join(old)} (the bot writes each as version "
        f"{FORMAT_VERSION} at its next save of it)"
        + ("" if len(old) == len(names) else f", version {FORMAT_VERSION} in the others")
    )


def _file(directory: Path, name: str) -> Path:
    return directory / f"{name}.json"


def _present(path: Path) -> bool:
    # lexists: a dangling symlink in place of a state file is a problem to report, not "no file"
    return os.path.lexists(path)


# ---------------------------------------------------------------------------------- show


class _Shown:
    """Stands in for a value in pretty-printed output with a text of its own."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Shown) and other.text == self.text


def _displayable(value: Any, bot: Bot) -> Any:
    """Replaces bots and Telegram objects by one-line texts, keeping every container's type."""
    if isinstance(value, Bot):
        return _Shown("<the bot>" if value is bot else "<another bot>")
    if isinstance(value, TelegramObject):
        try:
            fields = json.dumps(_without_false(json.loads(value.to_json())), ensure_ascii=False)
        except ValueError as exc:  # an int beyond Python's digit limit in one of its fields
            fields = f"<cannot be shown: {exc}>"
        attached = getattr(value, "_bot", None)
        suffix = "" if attached is None else ", bot=current" if attached is bot else ", bot=?"
        return _Shown(f"{type(value).__name__}({fields}{suffix})")
    kind = type(value)
    if kind is int and _beyond_str(value):
        return _Shown(hex(value))  # as the file holds it (a $int); hex has no digit limit
    if isinstance(value, dict):
        return {_displayable(key, bot): _displayable(item, bot) for key, item in value.items()}
    if kind in (list, tuple, set, frozenset):
        return kind(_displayable(item, bot) for item in value)
    return value


def _beyond_str(value: int) -> bool:
    """Whether an int may have more digits than ``str()`` converts (4300 by default)."""
    limit = sys.get_int_max_str_digits()
    return limit > 0 and value.bit_length() > (limit - 1) * math.log2(10)


def _without_false(tree: Any) -> Any:
    """Leaves out the many ``false`` flags of Telegram objects (``is_bot``, ...) for brevity."""
    if isinstance(tree, dict):
        return {
            key: _without_false(item) for key, item in sorted(tree.items()) if item is not False
        }
    if isinstance(tree, list):
        return [_without_false(item) for item in tree]
    return tree


def _entry(label: str, value: Any, bot: Bot) -> str:
    text = pprint.pformat(_displayable(value, bot), width=_WIDTH - 4, sort_dicts=False)
    if "\n" not in text and len(label) + len(text) <= _WIDTH:
        return f"{label} {text}"
    return f"{label}\n{textwrap.indent(text, '    ')}"


def _category_lines(state: State, name: str, bot: Bot) -> Iterator[str]:
    if name == "user_data":
        for key, value in state.user_data.items():
            yield _entry(f"{key}:", value, bot)
    elif name == "chat_data":
        for key, value in state.chat_data.items():
            yield _entry(f"{key}:", value, bot)
    elif name == "bot_data":
        if state.bot_data:
            yield _entry("", state.bot_data, bot).lstrip()
    elif name == "callback_data":
        keyboards, queries = state.callback_data or ([], {})
        for keyboard, created, buttons in keyboards:
            yield _entry(f"keyboard {keyboard!r} (created {_when(created)}):", buttons, bot)
        if queries:
            yield _entry("queries:", queries, bot)
    else:
        for handler, states in state.conversations.items():
            yield _entry(f"{handler!r}:", states, bot)


def _when(stamp: float) -> str:
    """A keyboard's creation time, or the number when no date has it (a hand edit)."""
    try:
        return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):
        return f"at {stamp!r}, not a date"


def _one_entry(state: State, name: str, key: str) -> Any:
    """The value ``show --key`` asks for."""
    if name in ("user_data", "chat_data"):
        try:
            number = int(key)
        except ValueError:
            raise Failure(EXIT_USAGE, f"--key for {name} is a numeric id, not {key!r}") from None
        entries: dict[Any, Any] = getattr(state, name)
        found, value = number in entries, entries.get(number)
    elif name == "bot_data":
        data = state.bot_data if isinstance(state.bot_data, dict) else {}
        found, value = key in data, data.get(key)
    elif name == "callback_data":
        keyboards = {kid: buttons for kid, _, buttons in (state.callback_data or ([], {}))[0]}
        found, value = key in keyboards, keyboards.get(key)
    else:
        found, value = key in state.conversations, state.conversations.get(key)
    if not found:
        raise Failure(EXIT_PROBLEMS, f"{name} has no entry {key!r}")
    return value


def show(args: argparse.Namespace) -> int:
    options = _options(args)
    directory = _existing_directory(args.directory)
    if args.key is not None and args.category is None:
        raise Failure(EXIT_USAGE, "--key needs a CATEGORY, e.g. show state/ user_data --key 42")
    names = [args.category] if args.category else list(CATEGORIES)
    state, errors = read_state(directory, options.entries(), names)
    if args.key is not None:
        if errors:
            raise next(iter(errors.values()))
        value = _displayable(_one_entry(state, names[0], args.key), options.bot)
        print(pprint.pformat(value, width=_WIDTH, sort_dicts=False))
        return EXIT_OK
    for name in names:
        if name in errors or not _present(_file(directory, name)):
            print(f"== {name} ({'does not decode, see below' if name in errors else 'no file'})")
            continue
        print(f"== {name}: {_summary(state, name)}")
        for line in _category_lines(state, name, options.bot):
            print(line)
    for error in errors.values():
        print(error, file=sys.stderr)
    return EXIT_PROBLEMS if errors else EXIT_OK


# ------------------------------------------------------------------------- import-pickle


def _list_problems(problems: list[str]) -> None:
    for problem in problems[:_MAX_LISTED]:
        print(f"  {problem}", file=sys.stderr)
    if len(problems) > _MAX_LISTED:
        print(f"  ... and {len(problems) - _MAX_LISTED:,} more", file=sys.stderr)


def import_pickle(args: argparse.Namespace) -> int:
    options = _options(args)
    target: Path = args.directory
    if _holds_data(target) and not args.force:
        raise Failure(
            EXIT_USAGE,
            f"{target} already holds files; pass --force to replace its state with the "
            "pickle's, or choose an empty directory",
        )
    _add_current_directory()  # the pickle may name the bot's modules
    if args.pickle.is_file() and args.pickle.stat().st_size >= 2**20:
        warn(f"reading {args.pickle} ({args.pickle.stat().st_size / 2**20:,.1f} MiB)")
    try:
        state = read_pickle(args.pickle, options)
    except PicklePathError as exc:
        raise Failure(EXIT_USAGE, str(exc)) from exc
    except PickleLoadError as exc:
        raise Failure(EXIT_PROBLEMS, str(exc)) from exc
    cleaned, problems = clean_state(state, options, _checked)
    if problems and not args.skip_unsupported:
        warn(f"{_count(len(problems), 'value')} cannot be stored as JSON:")
        _list_problems(problems)
        raise Failure(
            EXIT_PROBLEMS,
            f"nothing was written to {target}. Register these types (--types MODULE:NAME, see "
            "the supported types page), or pass --skip-unsupported to leave them out",
        )
    if problems:
        warn(f"left out {_count(len(problems), 'value')} that cannot be stored as JSON:")
        _list_problems(problems)
    total = len(cleaned.user_data) + len(cleaned.chat_data)
    if total >= _PROGRESS_EVERY:
        warn(f"writing {total:,} users and chats to {target}")
    errors = write_state(target, cleaned, options.entries())
    if errors:
        _list_problems([str(error) for error in errors])
        raise Failure(EXIT_PROBLEMS, f"nothing was written to {target}")
    print(f"imported {args.pickle} into {target} ({_describe(cleaned)})")
    return EXIT_OK


# ------------------------------------------------------------------------- export-pickle


def export_pickle(args: argparse.Namespace) -> int:
    options = _options(args)
    directory = _existing_directory(args.directory)
    target: Path = args.pickle
    if target.exists() and not args.force:
        raise Failure(EXIT_USAGE, f"{target} exists; pass --force to replace it")
    state, problems = read_state(directory, options.entries(), one_round=True)
    if problems:
        for problem in problems.values():
            print(problem, file=sys.stderr)
        raise Failure(EXIT_PROBLEMS, f"nothing was exported; fix {directory} first")
    write_pickle(target, state, options)
    print(f"exported {directory} to {target} ({_describe(state)})")
    return EXIT_OK


# ------------------------------------------------------------------------------ snapshot


def snapshot(args: argparse.Namespace) -> int:
    options = _options(args)
    source_dir = _existing_directory(args.directory)
    dest: Path = args.dest
    if dest.resolve() == source_dir.resolve():
        raise Failure(EXIT_USAGE, "DEST must be another directory than DIR")
    names = [f"{name}.json" for name in CATEGORIES]
    if not any(_present(source_dir / name) for name in names):
        raise Failure(EXIT_PROBLEMS, f"{source_dir} holds no state files; is it the right one?")
    if _holds_data(dest) and not args.force:
        raise Failure(EXIT_USAGE, f"{dest} already holds files; pass --force to replace them")
    files = round_files(source_dir)
    # A copy is for starting a bot on, or for git: one that would not load is no copy.
    problems = undecodable(source_dir, files, options.entries())
    if problems:
        for problem in problems.values():
            print(problem, file=sys.stderr)
        raise Failure(
            EXIT_PROBLEMS,
            f"{_count(len(problems), 'problem')} found; nothing was copied to {dest}. Fix the "
            f"position named above (`jsonpersist check {source_dir}`), then retry",
        )
    copied = install_files(dest, files)
    print(f"copied {_count(copied, 'state file')} from {source_dir} to {dest}")
    return EXIT_OK


# ------------------------------------------------------------------------- merge, git-setup


def merge(args: argparse.Namespace) -> int:
    for side in (args.base, args.ours, args.theirs):
        if not side.is_file():
            raise Failure(EXIT_USAGE, f"{side} is not a file")
    return merge_files(args.base, args.ours, args.theirs, args.path)


def git_setup(args: argparse.Namespace) -> int:
    try:
        changed = setup_repository(args.state_dir)
    except GitSetupError as exc:
        raise Failure(EXIT_USAGE, str(exc)) from None
    for change in changed:
        print(change)
    if not changed:
        print("already set up: nothing changed")
    return EXIT_OK
