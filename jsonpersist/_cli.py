"""The ``jsonpersist`` command line: its arguments, help texts and exit codes.

The commands themselves are in ``_commands``.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

from jsonpersist import __version__, _copy, _plain
from jsonpersist import _commands as commands
from jsonpersist._categories import CATEGORIES
from jsonpersist._commands import (
    EXIT_IO,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    Failure,
    warn,
)
from jsonpersist._errors import (
    CorruptStateError,
    JsonPersistError,
    StateLockedError,
    UnsupportedTypeError,
)

__all__ = ("EXIT_IO", "EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "main")

# -------------------------------------------------------------------------------- parser

_DESCRIPTION = """\
Check, show, convert and snapshot the state directories of jsonpersist, the JSON persistence
for python-telegram-bot."""

_EXIT_CODES = """\
exit codes:
  0  success (check: every file decodes)
  1  the state has problems: a file does not decode, values cannot be stored as JSON,
     the requested entry does not exist
  2  the command line is wrong: an unknown option, a path that does not exist, a target
     that already holds files and no --force
  3  a running bot owns the directory, or reading or writing a file failed

Run `jsonpersist COMMAND --help` for the examples of each command."""

_SECURITY = """\
Unpickling runs code: a pickle can make this command do anything your user account can.
Only import pickles your own bot wrote."""

_COMMANDS: dict[str, tuple[str, str, str]] = {
    "check": (
        "validate every state file",
        "Decodes every state file the way JsonPersistence loads it (format version, JSON, "
        "tags, shapes) without taking the directory from a running bot. Prints one line per "
        "problem on stderr, naming the file and the position or key path.",
        "  jsonpersist check state/\n"
        "  jsonpersist check state/ --types mybot.state:TYPES   # with your registered types",
    ),
    "show": (
        "print the decoded state",
        "Prints the decoded state: Python values as they come back in the bot (tuples, sets, "
        "int keys, datetimes), Telegram objects on one line as Class({fields}) without their "
        "false flags, with `bot=current` when they carry the bot.",
        "  jsonpersist show state/\n"
        "  jsonpersist show state/ user_data\n"
        "  jsonpersist show state/ user_data --key 123456789\n"
        "  jsonpersist show state/ conversations --key checkout",
    ),
    "import-pickle": (
        "convert a PicklePersistence state into a state directory",
        "Loads a PicklePersistence state with PTB's own PicklePersistence (the single file, "
        "or PICKLE_user_data, PICKLE_chat_data, ... when PICKLE itself does not exist) and "
        "saves it with JsonPersistence in one atomic write. References to the bot become the "
        "bot placeholder. Values that cannot be stored are listed with their key paths and "
        "nothing is written, unless --skip-unsupported. Ended conversations (None) are left "
        "out. Modules are imported from the current directory and PYTHONPATH.\n\n" + _SECURITY,
        "  jsonpersist import-pickle bot.pickle state/\n"
        "  jsonpersist import-pickle bot.pickle state/ --types mybot.state:TYPES\n"
        "  jsonpersist import-pickle bot.pickle state/ --skip-unsupported --force",
    ),
    "export-pickle": (
        "convert a state directory into a single-file PicklePersistence state",
        "The way back: writes a single-file PicklePersistence state (PicklePersistence("
        "PICKLE)) with PTB's own PicklePersistence, bot references as its bot placeholder. "
        "The categories are read under the directory's round lock, so a running bot's state "
        "is exported as of one save. The pickle is written to a temporary file and renamed.",
        "  jsonpersist export-pickle state/ bot.pickle\n"
        "  jsonpersist export-pickle state/ bot.pickle --force",
    ),
    "snapshot": (
        "copy the state files consistently, even while the bot runs",
        "Copies the state files and .gitignore of DIR into DEST (created if missing) under "
        "the directory's round lock, so the copy holds all files of one save of a running "
        "bot. Every file is decoded first, as the bot loads it: a state that does not load "
        "is not copied. DEST is written atomically, all files or none, and must not be owned "
        "by a bot.",
        "  jsonpersist snapshot state/ backup/\n"
        "  jsonpersist snapshot state/ backup/ --types mybot.state:TYPES\n"
        "  jsonpersist snapshot state/ state-snapshot/ --force && git add state-snapshot/",
    ),
    "merge": (
        "git's merge driver for state files (run by git, see git-setup)",
        "Merges two versions of a state file entry by entry: git runs it with %O %A %B %P "
        "(BASE OURS THEIRS PATH) for the files git-setup marked. An entry one side changed "
        "takes that side's version; an entry both sides changed differently is written between "
        "conflict markers (its two lines only) and the exit code is 1: keep one line, delete "
        "the markers, run `jsonpersist check`. The result replaces OURS. A side that is not a "
        "state file falls back to git's line merge.",
        "  jsonpersist merge base.json ours.json theirs.json state/user_data.json",
    ),
    "git-setup": (
        "make git merge the state files with jsonpersist merge",
        "Run inside a git work tree: marks the five state files of STATE_DIR (default: the "
        "current directory) merge=jsonpersist in the top-level .gitattributes, and sets "
        "merge.jsonpersist.driver and merge.jsonpersist.name in the repository's config. "
        "Running it again changes nothing. Every clone runs it once (git never takes a merge "
        "driver from the files it checks out).",
        "  jsonpersist git-setup state-snapshot/",
    ),
    "copy": _copy.COPY_HELP,
}
_NO_APP_OPTIONS = frozenset({"merge", "git-setup"})


def _parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="jsonpersist",
        description=_DESCRIPTION,
        epilog=_EXIT_CODES,
        formatter_class=formatter,
    )
    # Says whether the codec's C check was built: without a C compiler at install time,
    # encoding plain JSON costs several times more (see docs/small-hosts.md).
    parser.add_argument(
        "--version",
        action="version",
        version=f"jsonpersist {__version__} (plain-JSON check: {_plain.PLAIN_CHECK})",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    app = argparse.ArgumentParser(add_help=False)
    app.add_argument(
        "--types",
        metavar="MODULE:NAME",
        help="the jsonpersist.TypeRegistry your bot passes as types=, e.g. mybot.state:TYPES",
    )
    app.add_argument(
        "--context-types",
        metavar="MODULE:NAME",
        help="the telegram.ext.ContextTypes your bot uses, if its data classes are custom",
    )
    parsers: dict[str, argparse.ArgumentParser] = {}
    for name, (summary, description, examples) in _COMMANDS.items():
        parsers[name] = subparsers.add_parser(
            name,
            help=summary,
            description="\n\n".join(textwrap.fill(part, 92) for part in description.split("\n\n")),
            epilog=f"examples:\n{examples}\n\n{_EXIT_CODES.split(chr(10) * 2, maxsplit=1)[0]}",
            formatter_class=formatter,
            parents=[] if name in _NO_APP_OPTIONS else [app],
        )
    _reading_arguments(parsers)
    _writing_arguments(parsers)
    return parser


def _reading_arguments(parsers: dict[str, argparse.ArgumentParser]) -> None:
    check = parsers["check"]
    check.add_argument(
        "directories",
        nargs="+",
        type=_copy.location,
        metavar="DIR",
        help="a state directory or postgresql:// URL, or several",
    )
    _copy.add_name_option(check)
    check.set_defaults(run=_copy.check)

    show = parsers["show"]
    show.add_argument(
        "directory", type=_copy.location, metavar="DIR", help="the state directory or URL"
    )
    _copy.add_name_option(show)
    show.add_argument(
        "category",
        nargs="?",
        choices=list(CATEGORIES),
        metavar="CATEGORY",
        help=f"only this category: {', '.join(CATEGORIES)}",
    )
    show.add_argument(
        "--key",
        metavar="ID",
        help="only this entry: a user or chat id, a bot_data key, a callback keyboard id or "
        "a conversation handler's name",
    )
    show.set_defaults(run=_copy.show)


def _writing_arguments(parsers: dict[str, argparse.ArgumentParser]) -> None:
    importer = parsers["import-pickle"]
    importer.add_argument(
        "pickle", type=Path, metavar="PICKLE", help="the filepath given to PicklePersistence"
    )
    importer.add_argument(
        "directory", type=Path, metavar="DIR", help="the state directory (created if missing)"
    )
    importer.add_argument(
        "--skip-unsupported",
        action="store_true",
        help="leave out the values that cannot be stored (they are listed) and import the rest",
    )
    importer.add_argument(
        "--force", action="store_true", help="replace the state of a DIR that holds files"
    )
    importer.set_defaults(run=commands.import_pickle)

    exporter = parsers["export-pickle"]
    exporter.add_argument("directory", type=Path, metavar="DIR", help="the state directory")
    exporter.add_argument("pickle", type=Path, metavar="PICKLE", help="the pickle file to write")
    exporter.add_argument("--force", action="store_true", help="replace an existing PICKLE")
    exporter.set_defaults(run=commands.export_pickle)

    snapshot = parsers["snapshot"]
    snapshot.add_argument("directory", type=Path, metavar="DIR", help="the state directory")
    snapshot.add_argument(
        "dest", type=Path, metavar="DEST", help="the directory to copy to (created if missing)"
    )
    snapshot.add_argument(
        "--force", action="store_true", help="replace the state files of a DEST that holds files"
    )
    snapshot.set_defaults(run=commands.snapshot)

    merge = parsers["merge"]
    for name, text in (("base", "%%O"), ("ours", "%%A: the result goes here"), ("theirs", "%%B")):
        merge.add_argument(name, type=Path, metavar=name.upper(), help=f"git's {text}")
    merge.add_argument("path", nargs="?", metavar="PATH", help="git's %%P: the file's path")
    merge.set_defaults(run=commands.merge)

    setup = parsers["git-setup"]
    setup.add_argument(
        "state_dir",
        nargs="?",
        type=Path,
        default=Path(),
        metavar="STATE_DIR",
        help="the state directory in the work tree (default: the current directory)",
    )
    setup.set_defaults(run=commands.git_setup)

    _copy.add_copy_arguments(parsers["copy"])


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``jsonpersist`` command line.

    Args:
        argv: The arguments, without the program name. Default: ``sys.argv[1:]``.

    Returns:
        The exit code: ``0`` success, ``1`` the state has problems, ``2`` the command line is
        wrong, ``3`` a running bot owns the directory or reading or writing failed.
    """
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except Failure as exc:
        warn(f"error: {exc}")
        return exc.code
    except StateLockedError as exc:
        warn(f"error: {exc}")
        return EXIT_IO
    except (CorruptStateError, UnsupportedTypeError) as exc:
        warn(f"error: {exc}")
        return EXIT_PROBLEMS
    except (OSError, JsonPersistError) as exc:
        warn(f"error: {exc}")
        return EXIT_IO
    except KeyboardInterrupt:
        warn("interrupted")
        return 130
