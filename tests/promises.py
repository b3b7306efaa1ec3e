"""Which tests stand behind each promise of README.md and docs/.

Every page has a module ``tests/test_promises_<page>.py`` with a ``PROMISES`` list: the page,
the promise quoted from it word for word, and the tests that would fail if the promise broke.
``tests/test_promise_index.py`` checks that every quote is still on its page and that every
test named exists, so a change to a page shows which tests stand behind the sentence it
touched, and a renamed test cannot leave a promise unbacked.

``python tests/promises.py [PAGE]`` prints the promises and their tests, page by page.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ("ROOT", "Promise", "all_promises", "defined_tests", "normalized", "on_page")

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Promise:
    """One checkable promise of a page and the tests that prove it.

    Attributes:
        page: The page, relative to the repository (``"README.md"``, ``"docs/errors.md"``).
        quote: The promise, copied from the page; whitespace and line breaks may differ.
        tests: Node ids (``"tests/test_x.py::test_y"`` or ``"tests/test_x.py::Class::test_y"``)
            of tests that fail when the promise breaks.
    """

    page: str
    quote: str
    tests: tuple[str, ...]


def on_page(page: str) -> Callable[..., Promise]:
    """A maker of ``page``'s promises: ``promise(quote, *tests)``."""

    def promise(quote: str, *tests: str) -> Promise:
        return Promise(page, quote, tests)

    return promise


def normalized(text: str) -> str:
    """``text`` with each run of whitespace as one space, for finding a quote on its page."""
    return re.sub(r"\s+", " ", text).strip()


def defined_tests(path: Path) -> set[str]:
    """The node ids (without parameters) of the test functions and methods ``path`` defines."""
    tree = ast.parse(path.read_text("utf-8"))
    relative = path.relative_to(ROOT).as_posix()
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.add(f"{relative}::{node.name}")
        elif isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found.add(f"{relative}::{node.name}::{member.name}")
    return found


def all_promises() -> list[Promise]:
    """Every ``PROMISES`` entry of every ``tests/test_promises_*.py`` module."""
    promises: list[Promise] = []
    for path in sorted((ROOT / "tests").glob("test_promises_*.py")):
        name = f"_promises_{path.stem}"
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # as an import does: dataclasses look their module up
            spec.loader.exec_module(module)
        promises.extend(getattr(module, "PROMISES", ()))
    return promises


def main() -> None:
    """Print the promises of each page (or of the page given) with their tests."""
    sys.path.insert(0, str(ROOT / "tests"))
    wanted = sys.argv[1] if len(sys.argv) > 1 else None
    pages: dict[str, list[Promise]] = {}
    for promise in all_promises():
        if wanted is None or promise.page == wanted:
            pages.setdefault(promise.page, []).append(promise)
    for page, promises in sorted(pages.items()):
        print(f"{page}: {len(promises)} promises")
        for promise in promises:
            print(f"  - {normalized(promise.quote)[:100]}")
            for test in promise.tests:
                print(f"      {test}")
    print(f"total: {sum(len(p) for p in pages.values())} promises on {len(pages)} pages")


if __name__ == "__main__":
    main()
