"""What the fuzz targets share: the checks, the instrumented import and the replay fallback.

A target passes an input when it either loads (and the loaded value survives a round trip
through the codec unchanged) or raises :class:`~jsonpersist.CorruptStateError`, naming the file
for a state file. Any other exception is a finding: atheris stops and saves the input.

Without atheris (or with ``--replay``) a target replays files and directories given on the
command line and exits with status 1 at the first finding, so the corpora stay useful anywhere.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import atheris
except ImportError:  # the replay fallback needs nothing else
    atheris = None

FUZZING = (
    atheris is not None
    and "--replay" not in sys.argv
    and Path(sys.argv[0]).name.startswith("fuzz_")
)
if FUZZING:
    # Coverage of jsonpersist's own Python code guides the fuzzer; orjson is native.
    with atheris.instrument_imports(include=["jsonpersist"]):
        import jsonpersist  # noqa: F401 - instrumented here, used below

from jsonpersist import (  # noqa: E402
    MAX_DEPTH,
    Codec,
    CorruptStateError,
    JsonPersistence,
    TypeRegistry,
    _plain,
)

__all__ = ("CATEGORIES", "Color", "Point", "codec_target", "load_target", "main", "types")

#: Substrings (separated by "|") of the messages of findings that are known and reported, so
#: that a long run can look past them: JSONPERSIST_FUZZ_KNOWN="fraction of a second|...".
KNOWN = tuple(part for part in os.environ.get("JSONPERSIST_FUZZ_KNOWN", "").split("|") if part)

CATEGORIES = ("user_data", "chat_data", "bot_data", "callback_data", "conversations")
CONVERSATION = "conv"


@dataclasses.dataclass(frozen=True)
class Point:
    """A registered dataclass, so that ``$obj`` and its decoder's errors are reachable."""

    x: int
    y: int


class Color(enum.Enum):
    """A registered enum."""

    RED = "red"
    BLUE = 2


def types() -> TypeRegistry:
    registry = TypeRegistry()
    registry.register_dataclass(Point)
    registry.register_enum(Color)
    return registry


def round_trip(codec: Codec, value: Any, where: str) -> None:
    """A decoded value encodes, decodes back and encodes again to the same bytes.

    On the way, the codec's plain-JSON check in C must give the answer of its Python reference.

    Bytes are compared rather than values: NaN is not equal to itself, and Telegram objects
    compare by id only.
    """
    if _plain._speedups is not None and _plain._speedups.is_plain(
        value, MAX_DEPTH
    ) is not _plain._walk_plain(value):
        raise AssertionError(f"{where}: the C and the Python plain-JSON checks disagree")
    first = codec.dumps(value, where)
    second = codec.dumps(codec.loads(first, where), where)
    if first != second:
        raise AssertionError(
            f"{where} changes in a round trip:\n{first[:300]!r}\n{second[:300]!r}"
        )


def _known(test_one_input: Callable[[bytes], None]) -> Callable[[bytes], None]:
    if not KNOWN:
        return test_one_input

    def skipping_known(data: bytes) -> None:
        try:
            test_one_input(data)
        except Exception as exc:
            if not any(part in f"{type(exc).__name__}: {exc}" for part in KNOWN):
                raise

    return skipping_known


def load_target(category: str) -> Callable[[bytes], None]:
    """The check for one kind of state file: write the bytes, load them read-only."""
    directory = Path(tempfile.mkdtemp(prefix=f"fuzz-{category}-"))
    path = directory / f"{category}.json"
    loop = asyncio.new_event_loop()
    registry = types()

    async def load(persistence: JsonPersistence) -> Any:
        if category == "conversations":
            return await persistence.get_conversations(CONVERSATION)
        return await getattr(persistence, f"get_{category}")()

    def test_one_input(data: bytes) -> None:
        path.write_bytes(data)
        persistence = JsonPersistence(directory, read_only=True, types=registry)
        try:
            value = loop.run_until_complete(load(persistence))
        except CorruptStateError as exc:
            if exc.file != path:
                raise AssertionError(f"the error does not name the file: {exc}") from exc
            return
        if path.read_bytes() != data:
            raise AssertionError("loading changed the file")
        if category in ("user_data", "chat_data"):
            for key, entry in value.items():
                if type(key) is not int or not isinstance(entry, dict):
                    raise AssertionError(f"{category} entry {key!r}: {type(entry)}")
                round_trip(persistence.codec, entry, f"{category}[{key!r}]")
        elif value is not None:
            round_trip(persistence.codec, value, category)

    return _known(test_one_input)


def codec_target() -> Callable[[bytes], None]:
    """The check for the codec's decoder on arbitrary bytes."""
    codec = Codec(types=types())

    def test_one_input(data: bytes) -> None:
        try:
            value = codec.loads(data)
        except CorruptStateError:
            return
        round_trip(codec, value, "value")

    return _known(test_one_input)


def _replay(test_one_input: Callable[[bytes], None], arguments: list[str]) -> int:
    files: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        files.extend(
            sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        )
    for path in files:
        try:
            test_one_input(path.read_bytes())
        except Exception:
            print(f"finding in {path}:", file=sys.stderr)
            traceback.print_exc()
            return 1
    print(f"replayed {len(files)} inputs, no finding")
    return 0


def main(test_one_input: Callable[[bytes], None]) -> None:
    """Fuzzes with atheris (libFuzzer flags and corpus directories as usual), or replays."""
    arguments = [argument for argument in sys.argv[1:] if argument != "--replay"]
    if not FUZZING:
        if atheris is None:
            print("atheris is not installed: replaying the inputs instead", file=sys.stderr)
        sys.exit(_replay(test_one_input, [a for a in arguments if not a.startswith("-")]))
    atheris.Setup([sys.argv[0], *arguments], test_one_input)
    atheris.Fuzz()
