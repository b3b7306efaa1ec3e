"""``jsonpersist copy``, and ``check``/``show`` of a ``postgresql://`` URL.

Either side of ``copy`` is a state directory or a database URL (with ``--name``): this is the
way from the files to PostgreSQL and back. Directories are read and written through
``_directory``, databases through ``_pg_state`` (imported only when a URL is given, so the
file tools never load the database driver). A copy refuses a destination that holds state
unless ``--force``, and a destination that a running bot owns, always.
"""

from __future__ import annotations

import argparse
import pprint
import sys
from pathlib import Path
from typing import Any

from jsonpersist import _commands as commands
from jsonpersist._categories import CATEGORIES
from jsonpersist._commands import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, Failure, warn
from jsonpersist._directory import State, holds_files, read_state, write_state

__all__ = ("add_copy_arguments", "add_name_option", "check", "copy", "is_url", "location", "show")

_SCHEMES = ("postgresql://", "postgres://")
#: The help of ``copy``: summary, description, examples (as ``_cli._COMMANDS`` holds them).
COPY_HELP = (
    "copy a bot's state between a directory and PostgreSQL, either way",
    "Copies every category of SRC into DST, losslessly (the same decoded values, the same "
    "types). Each side is a state directory or a postgresql:// URL; --name picks the bot "
    "name in a database (--dest-name the one in DST, if it differs). SRC is read as of one "
    "round of a running bot. DST is written in one go (one transaction, or one atomic save "
    "of all files), never while a running bot owns it, and only if it holds no state yet "
    "unless --force.",
    "  jsonpersist copy state/ postgresql://bot@db.example/bot\n"
    "  jsonpersist copy postgresql://bot@db.example/bot state/ --force\n"
    "  jsonpersist copy state/ 'postgresql://postgres@/bots?host=/run/postgresql' --name shop",
)


def is_url(place: Any) -> bool:
    """Whether a command-line place is a database URL (else a directory)."""
    return isinstance(place, str) and place.startswith(_SCHEMES)


def location(text: str) -> Path | str:
    """The argparse type of a place: a ``postgresql://`` URL as it is, else a path."""
    return text if text.startswith(_SCHEMES) else Path(text)


def add_name_option(parser: argparse.ArgumentParser) -> None:
    """Adds ``--name``, the bot name in a database."""
    parser.add_argument(
        "--name",
        default="default",
        help="the bot name in a database (PostgresPersistence(name=...)); default: default",
    )


def add_copy_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``copy``."""
    parser.add_argument("source", type=location, metavar="SRC", help="a directory or URL")
    parser.add_argument("dest", type=location, metavar="DST", help="a directory or URL")
    add_name_option(parser)
    parser.add_argument("--dest-name", help="the bot name in DST, if not --name")
    parser.add_argument(
        "--force", action="store_true", help="replace the state that DST already holds"
    )
    parser.set_defaults(run=copy)


def _read(
    place: Path | str, name: str, options: Any, names: list[str] | None = None
) -> tuple[State, dict[str, Exception], bool]:
    """A directory's or a database's state, its problems, and whether there is any state."""
    if is_url(place):
        from jsonpersist._pg_state import read_database

        state, found, present = read_database(str(place), name, options.entries(), names)
        return state, dict(found), present
    directory = Path(place)
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise Failure(EXIT_USAGE, f"{directory} {what}; pass a state directory or a URL")
    state, problems = read_state(
        directory, options.entries(), names or list(CATEGORIES), one_round=True
    )
    present = any((directory / category.file).exists() for category in CATEGORIES.values())
    return state, dict(problems), present


def _shown(place: Path | str, name: str) -> str:
    if not is_url(place):
        return str(place)
    from jsonpersist._pg_errors import redact

    return f"{redact(str(place))} (bot {name!r})"


def copy(args: argparse.Namespace) -> int:
    """``jsonpersist copy SRC DST``."""
    options = commands._options(args)
    dest_name = args.dest_name or args.name
    source, dest = args.source, args.dest
    if source == dest and args.name == dest_name:
        raise Failure(EXIT_USAGE, "SRC and DST are the same")
    state, problems, present = _read(source, args.name, options)
    if problems:
        for problem in problems.values():
            print(problem, file=sys.stderr)
        raise Failure(EXIT_PROBLEMS, f"nothing was copied; fix {_shown(source, args.name)} first")
    if not present:
        raise Failure(
            EXIT_PROBLEMS, f"{_shown(source, args.name)} holds no state; is it the right one?"
        )
    if is_url(dest):
        from jsonpersist._pg_state import write_database

        try:
            errors = write_database(
                str(dest), dest_name, state, options.entries(), force=args.force
            )
        except FileExistsError as exc:
            raise Failure(EXIT_USAGE, f"{exc}; pass --force to replace them") from None
    else:
        try:
            holds = holds_files(Path(dest))
        except NotADirectoryError as exc:
            raise Failure(EXIT_USAGE, str(exc)) from None
        if holds and not args.force:
            raise Failure(EXIT_USAGE, f"{dest} already holds files; pass --force to replace them")
        errors = write_state(Path(dest), state, options.entries())
    if errors:
        for error in errors:
            print(f"  {error}", file=sys.stderr)
        raise Failure(EXIT_PROBLEMS, f"nothing was written to {_shown(dest, dest_name)}")
    print(
        f"copied {_shown(source, args.name)} to {_shown(dest, dest_name)} "
        f"({commands._describe(state)})"
    )
    return EXIT_OK


def check(args: argparse.Namespace) -> int:
    """``jsonpersist check``: directories as before, URLs decoded the same way."""
    urls = [place for place in args.directories if is_url(place)]
    directories = [place for place in args.directories if not is_url(place)]
    code = EXIT_OK
    if directories:
        code = commands.check(argparse.Namespace(**{**vars(args), "directories": directories}))
    options = commands._options(args)
    failed = 0
    for url in urls:
        state, problems, present = _read(url, args.name, options)
        if problems:
            failed += len(problems)
            for problem in problems.values():
                print(problem, file=sys.stderr)
        elif not present:
            print(f"{_shown(url, args.name)}: no state yet")
        else:
            details = "; ".join(f"{name}: {commands._summary(state, name)}" for name in CATEGORIES)
            print(f"{_shown(url, args.name)}: OK ({details})")
    if failed:
        warn(f"{commands._count(failed, 'problem')} found; the rows were left as they are")
        return EXIT_PROBLEMS
    return code


def show(args: argparse.Namespace) -> int:
    """``jsonpersist show``: a directory as before, a URL the same way."""
    if not is_url(args.directory):
        return commands.show(args)
    options = commands._options(args)
    if args.key is not None and args.category is None:
        raise Failure(EXIT_USAGE, "--key needs a CATEGORY, e.g. show URL user_data --key 42")
    names = [args.category] if args.category else list(CATEGORIES)
    state, problems, _ = _read(args.directory, args.name, options, names)
    if args.key is not None:
        if problems:
            raise next(iter(problems.values()))
        value = commands._displayable(commands._one_entry(state, names[0], args.key), options.bot)
        pprint.pprint(value, width=commands._WIDTH, sort_dicts=False)
        return EXIT_OK
    for name in names:
        if name in problems:
            print(f"== {name} (does not decode, see below)")
            continue
        print(f"== {name}: {commands._summary(state, name)}")
        for line in commands._category_lines(state, name, options.bot):
            print(line)
    for problem in problems.values():
        print(problem, file=sys.stderr)
    return EXIT_PROBLEMS if problems else EXIT_OK
