"""The redo journal of a round of several files: what it records, and what it still asks for.

A round that replaces several files first installs ``.jsonpersist.journal``, naming each
state file's temporary file and the new file's inode; a crash during the renames is completed
from it (``Store._replay_journal``), and readers read the round it decided.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import orjson

from jsonpersist._errors import CorruptStateError, StateWriteError
from jsonpersist._files import Signature, inode, read_own_file

__all__ = ("JOURNAL", "TEMP_SUFFIX", "journal_bytes", "pending_moves")

JOURNAL = ".jsonpersist.journal"
TEMP_SUFFIX = ".tmp"
_JOURNAL_LIMIT = 1024 * 1024


def journal_bytes(temps: Mapping[str, str], versions: Mapping[str, Signature]) -> bytes:
    """The journal of a round: each state file's temporary file, and the new file's inode.

    The inodes tell a replay which renames happened: a swap (``Store.swap``) leaves the file
    it replaced under the temporary name, which must then never be renamed back.
    """
    inodes = {name: versions[name][0] for name in temps}
    return orjson.dumps({"jsonpersist-journal": 1, "moves": dict(temps), "inodes": inodes})


def pending_moves(directory: Path) -> dict[str, str]:
    """The renames a redo journal still asks for: state file name -> temporary file name.

    Empty unless a crash (or a save under way) left a journal. Its round is decided: a reader
    that wants the state as it is now reads each temporary file instead of the state file it
    replaces (or, once renamed meanwhile, the state file).

    Raises:
        CorruptStateError: The journal is unreadable or names a file elsewhere.
        StateWriteError: The journal exists but cannot be read.
    """
    path = directory / JOURNAL
    try:
        raw = read_own_file(path, _JOURNAL_LIMIT)
    except CorruptStateError as exc:
        raise CorruptStateError(
            f"unreadable redo journal: it {exc.reason}; someone with write access to the "
            "directory put it there: move it away and check the state files",
            file=path,
        ) from None
    except OSError as exc:
        raise StateWriteError(path, exc) from exc
    if raw is None:
        return {}
    try:
        journal = orjson.loads(raw)
        pairs = [(str(name), str(temp)) for name, temp in journal["moves"].items()]
        # Each new file's inode: a swap (see Store.swap) leaves the replaced file under the
        # temporary name, which must then never be renamed back.
        inodes = {str(name): int(number) for name, number in journal.get("inodes", {}).items()}
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        # The journal is installed by an atomic rename, so it is whole or absent.
        raise CorruptStateError(f"unreadable redo journal: {exc}", file=path) from exc
    for name, temp in pairs:
        if os.sep in temp or os.sep in name or not temp.endswith(TEMP_SUFFIX):
            raise CorruptStateError("the redo journal names a file elsewhere", file=path)
    return {
        name: temp
        for name, temp in pairs
        if os.path.lexists(directory / temp)
        and (name not in inodes or inode(directory / name) != inodes[name])
    }
