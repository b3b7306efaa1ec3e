"""A small mutation tester: how many small mistakes in a module do its tests notice?

Each mutant is one small change to one module: a flipped comparison, ``and`` for ``or``, a
dropped ``not``, a changed number, ``True`` for ``False``, a dropped call statement, ``raise``,
``break`` or ``continue``, ``return None`` for a returned value. For each mutant, a copy of
the package gets the changed module and the given tests run against the copy (never against
the checkout, so other work in it is not disturbed); the mutant is *killed* when they fail.

Usage (from the repository's root)::

    python tests/mutation/mutate.py jsonpersist/_store.py \
        --tests tests/test_store.py tests/test_faults.py --json /tmp/store.json

First the tests run once on the unchanged module under a line tracer (``linemap.py``), which
records the lines of the module each test runs. Each mutant then runs only the tests that ran
one of its lines (all of them for a line run on import); a mutant no test runs is reported
``survived (not run)`` without a pytest run. Lines run only in a subprocess are not seen:
``--all-tests`` runs every test for every mutant instead.

``--equivalent FILE`` names mutants that cannot change behaviour (one per line, ``ID  reason``,
IDs as this script prints them); they are listed but left out of the score, and with
``--skip-equivalent`` not even run. ``--lines A-B`` mutates only those lines, ``--ids ID...``
only those mutants; ``--list`` prints the mutants without running anything. It is too slow for
every CI run (each mutant is a pytest run): run it by hand; ``docs/guarantees.md`` records the
scores.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_FLIPPED: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_ARITHMETIC: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
    ast.Mod: ast.Mult,
}


@dataclass(frozen=True)
class Mutant:
    """One change to the module: the source span it replaces and what it puts there."""

    id: str
    line: int
    description: str
    start: tuple[int, int]
    end: tuple[int, int]
    replacement: str


def _span(node: ast.expr | ast.stmt) -> tuple[tuple[int, int], tuple[int, int]]:
    end_line = node.end_lineno if node.end_lineno is not None else node.lineno
    end_col = node.end_col_offset if node.end_col_offset is not None else node.col_offset
    return (node.lineno, node.col_offset), (end_line, end_col)


def _docstrings(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(value))
    return found


def _skipped(tree: ast.AST) -> set[int]:
    """Nodes not worth mutating: docstrings, annotations, ``__all__``, TYPE_CHECKING blocks."""
    skipped = _docstrings(tree)
    for node in ast.walk(tree):
        annotations: list[ast.AST] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotations += [
                a.annotation for a in node.args.args + node.args.kwonlyargs if a.annotation
            ]
            annotations += [node.returns] if node.returns else []
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        elif (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        ) or (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)):
            annotations.append(node)
        for annotation in annotations:
            skipped.update(id(sub) for sub in ast.walk(annotation))
    return skipped


Variants = Iterator[tuple[str, "ast.AST | str"]]


def _compare(node: ast.Compare) -> Variants:
    for index, op in enumerate(node.ops):
        flipped = _FLIPPED.get(type(op))
        if flipped is not None:
            ops = list(node.ops)
            ops[index] = flipped()
            name = f"{type(op).__name__} -> {flipped.__name__}"
            yield name, ast.Compare(node.left, ops, node.comparators)


def _boolean(node: ast.BoolOp) -> Variants:
    other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    yield f"{type(node.op).__name__} -> {type(other).__name__}", ast.BoolOp(other, node.values)


def _arithmetic(node: ast.BinOp | ast.AugAssign) -> Variants:
    other = _ARITHMETIC.get(type(node.op))
    if other is None:
        return
    name = f"{type(node.op).__name__} -> {other.__name__}"
    if isinstance(node, ast.BinOp):
        yield name, ast.BinOp(node.left, other(), node.right)
    else:
        yield f"augmented {name}", ast.AugAssign(node.target, other(), node.value)


def _constant(node: ast.Constant) -> Variants:
    value = node.value
    if isinstance(value, bool):
        yield f"{value} -> {not value}", ast.Constant(not value)
    elif isinstance(value, int):
        yield f"{value} -> {value + 1}", ast.Constant(value + 1)
        if value != 0:
            yield f"{value} -> 0", ast.Constant(0)
    elif isinstance(value, float):
        yield f"{value} -> {value * 2 + 1}", ast.Constant(value * 2 + 1)


def _statement(node: ast.stmt) -> Variants:
    if isinstance(node, ast.Expr) and isinstance(node.value, (ast.Call, ast.Await)):
        yield "call dropped", "pass"
    elif isinstance(node, ast.Raise):
        yield "raise dropped", "pass"
    elif isinstance(node, ast.Break):
        yield "break -> continue", "continue"
    elif isinstance(node, ast.Continue):
        yield "continue -> break", "break"
    elif (
        isinstance(node, ast.Return)
        and node.value is not None
        and not (isinstance(node.value, ast.Constant) and node.value.value is None)
    ):
        yield "return None", "return None"


def _variants(node: ast.AST) -> Variants:
    """(description, replacement node or text) for each mutation of ``node``."""
    if isinstance(node, ast.Compare):
        yield from _compare(node)
    elif isinstance(node, ast.BoolOp):
        yield from _boolean(node)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not dropped", node.operand
    elif isinstance(node, (ast.BinOp, ast.AugAssign)):
        yield from _arithmetic(node)
    elif isinstance(node, ast.Constant):
        yield from _constant(node)
    elif isinstance(node, ast.stmt):
        yield from _statement(node)


def mutants(path: Path, lines: tuple[int, int] | None = None) -> list[Mutant]:
    """Every mutant of the module at ``path`` (within ``lines``, when given)."""
    tree = ast.parse(path.read_text("utf-8"))
    skipped = _skipped(tree)
    found: list[Mutant] = []
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, (ast.expr, ast.stmt)):
            continue
        if lines is not None and not lines[0] <= node.lineno <= lines[1]:
            continue
        start, end = _span(node)
        for description, replacement in _variants(node):
            text = replacement if isinstance(replacement, str) else ast.unparse(replacement)
            if not isinstance(replacement, str) and not isinstance(node, ast.stmt):
                text = f"({text})"
            mutant_id = f"L{start[0]}:C{start[1]}:{description.replace(' ', '')}"
            found.append(Mutant(mutant_id, start[0], description, start, end, text))
    found.sort(key=lambda m: (m.start, m.end, m.id))
    # Nested nodes can start at one column, e.g. both "|" of "a | b | c": number the repeats.
    seen: dict[str, int] = {}
    for index, mutant in enumerate(found):
        seen[mutant.id] = seen.get(mutant.id, 0) + 1
        if seen[mutant.id] > 1:
            found[index] = replace(mutant, id=f"{mutant.id}#{seen[mutant.id]}")
    return found


def apply(source: str, mutant: Mutant) -> str:
    """``source`` with ``mutant``'s span replaced (lines and columns as ``ast`` gives them)."""
    lines = source.splitlines(keepends=True)
    (first, first_col), (last, last_col) = mutant.start, mutant.end
    # ast columns count UTF-8 bytes.
    head = lines[first - 1].encode()[:first_col].decode()
    tail = lines[last - 1].encode()[last_col:].decode()
    return "".join(lines[: first - 1]) + head + mutant.replacement + tail + "".join(lines[last:])


def _environment(copy: Path) -> dict[str, str]:
    environment = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    # Hypothesis's quick profile (100 examples), unless asked otherwise: a mutant is one run.
    environment.setdefault("HYPOTHESIS_PROFILE", "dev")
    return environment


_PYTEST = ("-P", "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider")


def _run_tests(copy: Path, tests: list[str], timeout: float) -> str:
    command = [sys.executable, *_PYTEST, *tests]
    try:
        result = subprocess.run(
            command,
            cwd=ROOT,
            env=_environment(copy),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    return "survived" if result.returncode == 0 else "killed"


@dataclass(frozen=True)
class LineMap:
    """Which tests run which lines of the module (see ``linemap.py``)."""

    tests: dict[str, list[int]]
    outside: set[int]

    def tests_for(self, mutant: Mutant, every: list[str]) -> list[str]:
        """The tests that run a line of ``mutant`` (``every`` test for a line run on import)."""
        lines = set(range(mutant.start[0], mutant.end[0] + 1))
        if lines & self.outside:
            return every
        return [node for node, ran in self.tests.items() if lines.intersection(ran)]


def _map_lines(copy: Path, target: Path, tests: list[str], timeout: float) -> LineMap | None:
    """Runs the tests once under the line tracer; :obj:`None` if they fail."""
    out = copy / "linemap.json"
    # Beside the package, not a new PYTHONPATH entry: some tests watch what a load looks at.
    shutil.copy(Path(__file__).with_name("linemap.py"), copy / "linemap.py")
    environment = _environment(copy)
    environment.update(MUTATE_TARGET=str(target), MUTATE_LINEMAP=str(out))
    command = [sys.executable, *_PYTEST, "-p", "linemap", *tests]
    result = subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, timeout=timeout * 4, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout.decode(errors="replace")[-3000:])
        return None
    raw = json.loads(out.read_text("utf-8"))
    return LineMap(raw["tests"], set(raw["outside"]))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", type=Path, help="e.g. jsonpersist/_store.py")
    parser.add_argument("--tests", nargs="+", required=True, help="test files or node IDs")
    parser.add_argument("--equivalent", type=Path, help="IDs of equivalent mutants, with reasons")
    parser.add_argument(
        "--skip-equivalent", action="store_true", help="do not run the --equivalent mutants"
    )
    parser.add_argument("--lines", help="only mutate lines A-B")
    parser.add_argument("--ids", nargs="+", help="only these mutants (IDs as --list prints)")
    parser.add_argument("--all-tests", action="store_true", help="run every test for every mutant")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    return parser.parse_args()


def _chosen(arguments: argparse.Namespace) -> list[Mutant]:
    """The mutants ``--lines`` and ``--ids`` ask for (all of them by default)."""
    lines = None
    if arguments.lines:
        low, high = arguments.lines.split("-")
        lines = (int(low), int(high))
    found = mutants(arguments.module.resolve(), lines)
    if arguments.ids:
        wanted = set(arguments.ids)
        found = [mutant for mutant in found if mutant.id in wanted]
        unknown = wanted - {mutant.id for mutant in found}
        if unknown:
            raise SystemExit(f"no such mutants: {', '.join(sorted(unknown))}")
    return found


def _equivalent(path: Path | None) -> dict[str, str]:
    equivalent: dict[str, str] = {}
    if path is not None and path.exists():
        for row in path.read_text("utf-8").splitlines():
            if row.strip() and not row.startswith("#"):
                mutant_id, _, reason = row.strip().partition(" ")
                equivalent[mutant_id] = reason.strip()
    return equivalent


def _run_mutants(
    arguments: argparse.Namespace, found: list[Mutant], equivalent: dict[str, str]
) -> list[dict[str, object]] | None:
    """Each mutant's result; :obj:`None` if the tests fail on the unchanged module."""
    module = arguments.module.resolve()
    source = module.read_text("utf-8")
    every = list(arguments.tests)
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="mutate-") as scratch:
        copy = Path(scratch)
        shutil.copytree(
            module.parent, copy / module.parent.name, ignore=shutil.ignore_patterns("__pycache__")
        )
        target = copy / module.parent.name / module.name
        linemap = None
        if arguments.all_tests:
            if _run_tests(copy, every, arguments.timeout) != "survived":
                return None
        else:
            linemap = _map_lines(copy, target, every, arguments.timeout)
            if linemap is None:
                return None
        for number, mutant in enumerate(found, 1):
            mutated = apply(source, mutant)
            try:
                compile(mutated, str(module), "exec")
            except SyntaxError:
                continue
            selected = every if linemap is None else linemap.tests_for(mutant, every)
            if mutant.id in equivalent and arguments.skip_equivalent:
                selected = []
                status = "not run"
            elif selected:
                target.write_text(mutated, "utf-8")
                status = _run_tests(copy, selected, arguments.timeout)
            else:
                status = "survived (not run)"
            if mutant.id in equivalent:
                status = f"equivalent ({status})"
            results.append({**asdict(mutant), "status": status, "tests_run": len(selected)})
            if not status.startswith("killed"):
                shown = mutant.replacement[:70]
                print(f"[{number}/{len(found)}] {status}: {mutant.id}  ->  {shown!r}")
            sys.stdout.flush()
    return results


def main() -> int:
    """Run the mutants of one module against the given tests and print the score."""
    arguments = _arguments()
    found = _chosen(arguments)
    if arguments.list:
        for mutant in found:
            print(f"{mutant.id}\t{mutant.replacement[:60]!r}")
        print(f"{len(found)} mutants")
        return 0
    started = time.monotonic()
    results = _run_mutants(arguments, found, _equivalent(arguments.equivalent))
    if results is None:
        print("the tests fail on the unchanged module: fix that first", file=sys.stderr)
        return 2
    counted = [r for r in results if not str(r["status"]).startswith("equivalent")]
    killed = sum(r["status"] in ("killed", "timeout") for r in counted)
    score = 100.0 * killed / len(counted) if counted else 100.0
    survivors = [r["id"] for r in counted if str(r["status"]).startswith("survived")]
    print(
        f"{arguments.module}: {killed} of {len(counted)} non-equivalent mutants killed "
        f"({score:.1f}%), {len(results) - len(counted)} equivalent, "
        f"{time.monotonic() - started:.0f} s"
    )
    if arguments.json:
        arguments.json.write_text(
            json.dumps(
                {
                    "module": str(arguments.module),
                    "tests": arguments.tests,
                    "score": score,
                    "killed": killed,
                    "counted": len(counted),
                    "survivors": survivors,
                    "results": results,
                },
                indent=1,
            ),
            "utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
