"""``jsonpersist git-setup``: tells a git repository to merge state files with jsonpersist.

It marks the five state files of one state directory ``merge=jsonpersist`` in the work tree's
top-level ``.gitattributes`` (and nothing else), and sets ``merge.jsonpersist.name`` and
``merge.jsonpersist.driver`` in the repository's own config (``.git/config``; git never takes
a merge driver from the files it checks out). Running it again changes nothing.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from jsonpersist._categories import CATEGORIES

__all__ = ("ATTRIBUTE", "DRIVER_NAME", "GitSetupError", "driver_command", "git_setup")

#: The attribute the state files get.
ATTRIBUTE = "merge=jsonpersist"
#: The driver's description in the config.
DRIVER_NAME = "jsonpersist: merge bot state files entry by entry"
# Characters .gitattributes patterns give a meaning to, or that need quoting.
_SPECIAL = set(' \t"\\*?[]!#')


class GitSetupError(Exception):
    """git-setup cannot configure this repository (not in a work tree, an odd path)."""


def driver_command() -> str:
    """The driver command: this Python running ``jsonpersist merge`` on git's ``%O %A %B %P``.

    The interpreter's absolute path, so that the driver works without an activated
    virtualenv (git runs it from wherever it runs).
    """
    return f"{shlex.quote(sys.executable)} -m jsonpersist merge %O %A %B %P"


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise GitSetupError(done.stderr.strip() or f"git {' '.join(args)} failed")
    return done.stdout.strip()


def git_setup(state_dir: Path) -> list[str]:
    """Configures the repository that holds ``state_dir``; returns what it changed.

    Raises:
        GitSetupError: Not inside a git work tree, or a path ``.gitattributes`` cannot name.
    """
    state_dir = state_dir.resolve()
    probe = state_dir if state_dir.is_dir() else state_dir.parent
    top = Path(_git("rev-parse", "--show-toplevel", cwd=probe)).resolve()
    try:
        relative = state_dir.relative_to(top).as_posix()
    except ValueError:
        raise GitSetupError(f"{state_dir} is not inside the work tree {top}") from None
    if _SPECIAL & set(relative) or not relative.isprintable():
        raise GitSetupError(
            f"the path {relative!r} has characters .gitattributes patterns treat specially; "
            "add the lines by hand (see docs/git.md)"
        )
    prefix = "" if relative == "." else f"/{relative}/"
    wanted = [f"{prefix or '/'}{category.file} {ATTRIBUTE}" for category in CATEGORIES.values()]
    changed = []
    attributes = top / ".gitattributes"
    text = attributes.read_text("utf-8") if attributes.exists() else ""
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in wanted if line not in present]
    if missing:
        block = "".join(f"{line}\n" for line in missing)
        if text and not text.endswith("\n"):
            text += "\n"
        _replace(attributes, text + block)
        changed.append(f"{attributes}: added {len(missing)} line(s)")
    for key, value in (
        ("merge.jsonpersist.name", DRIVER_NAME),
        ("merge.jsonpersist.driver", driver_command()),
    ):
        try:
            current = _git("config", "--local", "--get", key, cwd=top)
        except GitSetupError:
            current = None
        if current != value:
            _git("config", "--local", key, value, cwd=top)
            changed.append(f"git config {key}")
    return changed


def _replace(path: Path, text: str) -> None:
    """Writes a small file through a temporary file and a rename."""
    temporary = path.with_name(f".{path.name}.jsonpersist.tmp")
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
