"""Entries: a category file's lines and the values they hold, in both directions.

The one place where the file format, the codec and the category descriptions meet. Loading a
file gives its entry lines (kept for cheap saves) and the decoded values; saving encodes a value
into its entry line. Used alike by the persistence, its rounds, watch mode and the tools.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from jsonpersist._categories import AnyContextTypes, Category
from jsonpersist._codec import MAX_DEPTH, Codec, is_plain
from jsonpersist._errors import CorruptStateError, MergeConflictError, UnsupportedTypeError
from jsonpersist._format import (
    FORMAT_VERSION,
    TAIL,
    WHOLE,
    canonical_line,
    conflict_regions,
    entry_line,
    file_entries,
    head,
    parse_json,
    strict_tree,
)
from jsonpersist._hashes import check_hashes, duplicate
from jsonpersist._plain import _speedups  # type: ignore[attr-defined]
from jsonpersist._same import copies, share_strings
from jsonpersist._tree import Corrupt
from jsonpersist._v1 import V1_VERSION, read_v1

__all__ = ("EntryCodec", "Lines", "Parsed")

#: The encoded line of each entry of a category, by key.
Lines = dict[Any, bytes]
_SORT = orjson.OPT_SORT_KEYS
#: The bytes of an edited file split in one call (watch mode).
_PIECE = 1 << 20
#: Lines decoded in one call of orjson when copies are made.
_BATCH = 8192
# JSON nested deeper than MAX_DEPTH has two brackets a level: a shorter line cannot be.
_DEEP_ENOUGH = 2 * (MAX_DEPTH + 2)


class Parsed:
    """A category file, read: its entry lines, its entries decoded, and its format version.

    Attributes:
        lines (dict): The canonical line of each entry, by key.
        values (dict): Each entry as PTB expects it, by key.
        version (:obj:`int`): The format version the file was written in.
        ordered (:obj:`bool`): Whether :attr:`lines` are in file order (a sorted category's
            order need not be sorted again).
    """

    __slots__ = ("lines", "ordered", "values", "version")

    def __init__(
        self, lines: Lines, values: dict[Any, Any], version: int, ordered: bool = False
    ) -> None:
        self.lines = lines
        self.values = values
        self.version = version
        self.ordered = ordered


class EntryCodec:
    """Turns category files into entry lines and values, and values into entry lines.

    Args:
        codec (:class:`jsonpersist.Codec`): Converts the values.
        context_types (:class:`telegram.ext.ContextTypes`): The classes of user, chat and bot
            data that loaded entries are given.

    Attributes:
        codec (:class:`jsonpersist.Codec`): Converts the values.
        context_types (:class:`telegram.ext.ContextTypes`): The classes of PTB's data.
    """

    __slots__ = ("codec", "context_types")

    def __init__(self, codec: Codec, context_types: AnyContextTypes) -> None:
        self.codec = codec
        self.context_types = context_types

    # ------------------------------------------------------------------------------ loading

    def parse(self, category: Category, raw: bytes, path: Path) -> Parsed:
        """Parses a category file into its entry lines and decoded entries.

        A file that is byte for byte what jsonpersist writes takes a fast path (one orjson
        parse; only entries with a tag are decoded further). Any other file is parsed
        strictly and its lines are made canonical. A version-1 file is read as such; its
        lines are those of version 2.

        Raises:
            CorruptStateError: The file does not decode, naming the position
                (:class:`~jsonpersist.MergeConflictError` for git's conflict markers).
        """
        try:
            tree = parse_json(raw, path)
        except MergeConflictError as exc:
            raise self._conflict(category, raw, exc) from None
        if type(tree) is dict:  # version 1: an object
            values = read_v1(category, strict_tree(raw, path), self, path)
            try:
                old = {key: self.encode_stored(category, key, v) for key, v in values.items()}
            except UnsupportedTypeError as exc:  # decodable, but not storable any more
                raise CorruptStateError(exc.args[0], file=path) from None
            return Parsed(old, self._checked(category, values, path), V1_VERSION)
        elements = file_entries(tree, category.name, path)
        if category.keeps_copies:  # short strings shared: comparing copies is a pointer check
            share_strings(elements)
        lines = _canonical_lines(elements[1:], raw, head(category.name), path)
        if lines is not None:
            parsed = self._fast(category, elements, lines, path)
            if parsed is not None:
                return parsed
        elements = file_entries(strict_tree(raw, path), category.name, path)
        numbered = raw.count(b"\n") == len(elements) + 1  # one entry a line: name lines
        return self._strict(category, elements, path, numbered)

    def parse_changes(  # noqa: PLR0911 - each odd file falls back to parse()
        self, category: Category, raw: bytes, path: Path, base: Lines, known: dict[bytes, Any]
    ) -> tuple[Lines, dict[Any, Any], set[Any]] | None:
        """Reads an edited file by its lines that differ from ``base``; :obj:`None` if it cannot.

        The cheap way to read a file someone edited while the bot runs: lines byte for byte
        equal to a line of ``base`` are not parsed again, only the others are. Works when the
        file still has one entry a line, as jsonpersist writes it (a hand edit of one line,
        another process's save); anything else (reformatted, conflict markers, an older
        version, a key twice) returns :obj:`None`, and :meth:`parse` reads the whole file.

        Args:
            category (:class:`Category`): The file's category (a sorted one).
            raw (:obj:`bytes`): The file.
            path (:class:`pathlib.Path`): The file, for errors.
            base (dict): The lines the file had, by key.
            known (Mapping[:obj:`bytes`, object]): The key of each line of ``base``, the
                line without its newline.

        Returns:
            The lines (canonical) and decoded values of the entries changed or added, and the
            keys of every entry changed, added or removed; or :obj:`None`.

        Raises:
            CorruptStateError: A changed line does not decode, naming its line number.
        """
        start = head(category.name)
        if not category.sorted or not raw.startswith(start) or not raw.endswith(b"\n" + TAIL):
            return None
        # In pieces of about a megabyte, so that no single call holds the GIL for long (the
        # event loop waits): splitting a 28 MB file at once took 30 ms.
        body: list[bytes] = []
        present: set[bytes] = set()
        new: set[bytes] = set()
        first, end = len(start), len(raw) - len(TAIL)
        while first < end:
            last = raw.find(b"\n", min(first + _PIECE, end - 1), end) + 1
            lines_of_piece = raw[first : last - 1].split(b"\n")
            first = last
            body.extend(lines_of_piece)
            piece = set(lines_of_piece)
            present |= piece
            new |= piece.difference(known)  # a dict: looked up per line of the piece
        if len(present) != len(body):
            return None  # a line twice: the whole file names the duplicate
        gone = len(known) - (len(present) - len(new))  # lines of base no longer there
        changed: set[Any] = set()
        lines: Lines = {}
        values: dict[Any, Any] = {}
        replaced = 0
        for line in new:
            place = f"line {body.index(line) + 2}"
            if not line.startswith(b",[") or not line.endswith(b"]"):
                return None
            try:
                element = orjson.loads(line[1:])
            except orjson.JSONDecodeError:
                return None  # the whole file's parse names the position
            if canonical_line(element) != line + b"\n":
                element = strict_tree(line[1:], path)  # duplicate keys, NaN, huge ints
            key = self._key(category, element, path, place)
            if key is WHOLE or key in lines:
                return None  # a key twice, or a whole value beside members
            if key in base:
                if base[key][:-1] in present:
                    return None  # the key's old line is still there too: a key twice
                replaced += 1
            value = self._decode(category, key, element[-1], path, place)
            values[key] = category.entry(value, self.context_types, path, key)
            lines[key] = self.encode_stored(category, key, value)
            changed.add(key)
        if replaced > gone:
            return None
        if replaced < gone:  # entries removed: find them (a scan of every line)
            changed.update(known[line] for line in known.keys() - present)
        return lines, values, changed

    def _conflict(
        self, category: Category, raw: bytes, exc: MergeConflictError
    ) -> MergeConflictError:
        """The conflict error, naming the entries in conflict (those whose lines parse)."""
        names: list[str] = []
        for _, _, lines in conflict_regions(raw):
            for line in lines:
                try:
                    element = orjson.loads(line[1:])
                    key = category.key_of(element[:-1], self.codec, exc.file or Path(), "")
                except (orjson.JSONDecodeError, CorruptStateError, TypeError, IndexError):
                    continue
                name = category.where(key)
                if name not in names:
                    names.append(name)
        return MergeConflictError(exc.file or Path(), exc.regions, names)

    def _fast(
        self, category: Category, elements: list[Any], lines: list[bytes], path: Path
    ) -> Parsed | None:
        """Decodes a canonical file; :obj:`None` if its keys are not in canonical order."""
        keys = self._canonical_keys(category, elements, lines, path)
        if keys is None:
            return None
        values = self._unique(category, keys, [element[-1] for element in elements[1:]], path)
        as_is = category.plain_class(self.context_types)
        line_of = dict(zip(keys, lines, strict=True))
        for number, key in enumerate(keys, 2):
            member = value = values[key]
            line = line_of[key]
            # Decoding also refuses nesting deeper than the codec writes; only a long line
            # can be that deep, and the C check tells whether it is.
            if b'"$' in line or (len(line) >= _DEEP_ENOUGH and not is_plain(member)):
                value = self._decode(category, key, member, path, f"line {number}")
            if type(value) is not as_is:
                value = category.entry(value, self.context_types, path, key)
            if value is not member:
                values[key] = value
        self.assemble(category, values, path)  # refuses a file of the wrong shape now
        return Parsed(line_of, values, FORMAT_VERSION, ordered=True)

    def _canonical_keys(
        self, category: Category, elements: list[Any], lines: list[bytes], path: Path
    ) -> list[Any] | None:
        """The keys of a canonical file's entries; :obj:`None` if not in canonical order.

        A key spelled otherwise than the codec spells it counts as out of order too: the
        strict path rewrites both.

        Raises:
            CorruptStateError: A key is not of the category's shape.
        """
        if category.ids and _speedups is not None:
            ids = _speedups.sorted_ids(elements, 1)
            if ids is not None:  # ints of 64 bits in increasing order: canonical as they are
                return ids
        keys = [
            self._key(category, element, path, f"line {number}")
            for number, element in enumerate(elements[1:], 2)
        ]
        for key, line in zip(keys, lines, strict=True):
            if line.startswith(b',[{"$'):  # a tagged key: is it spelled as the codec spells it?
                spelled = category.key_json(key, self.codec)
                if spelled is None or not line.startswith(b",[%b," % spelled):
                    return None  # another spelling ({"$int":"5"})
        if category.sorted:
            order = category.sort_key(self.codec)
            ranks = list(map(order, keys))
            if any(ranks[index] >= ranks[index + 1] for index in range(len(ranks) - 1)):
                return None  # valid but out of order
        return keys

    def _strict(
        self, category: Category, elements: list[Any], path: Path, numbered: bool
    ) -> Parsed:
        """Decodes a file that is not canonical; its lines become canonical."""
        places = [
            f"line {n}" if numbered else f"entry {n - 1}" for n in range(2, len(elements) + 1)
        ]
        keys = [
            self._key(category, element, path, place)
            for element, place in zip(elements[1:], places, strict=True)
        ]
        trees = self._unique(category, keys, [element[-1] for element in elements[1:]], path)
        values = {
            key: self._decode(category, key, trees[key], path, place)
            for key, place in zip(keys, places, strict=True)
        }
        lines = {key: self.encode_stored(category, key, value) for key, value in values.items()}
        if category.sorted:
            lines = {key: lines[key] for key in self.order(category, lines)}
        return Parsed(lines, self._checked(category, values, path), FORMAT_VERSION, ordered=True)

    def _checked(self, category: Category, values: dict[Any, Any], path: Path) -> dict[Any, Any]:
        """The entries as PTB expects them, the whole checked (it refuses a wrong shape)."""
        for key, value in values.items():
            values[key] = category.entry(value, self.context_types, path, key)
        self.assemble(category, values, path)
        return values

    def _key(self, category: Category, element: Any, path: Path, place: str) -> Any:
        if type(element) is not list or not element:
            raise CorruptStateError(
                "an entry must be an array: its key, then its value", file=path, where=place
            )
        return category.key_of(element[:-1], self.codec, path, place)

    def _unique(
        self, category: Category, keys: list[Any], trees: list[Any], path: Path
    ) -> dict[Any, Any]:
        """The entries by key, refusing a key that appears twice (and hash flooding)."""
        try:
            check_hashes(keys, "an unhashable key of type {}")
        except Corrupt as exc:
            raise CorruptStateError(
                exc.message, file=path, where=f"entry {int(str(exc.path[0])) + 1}"
            ) from None
        entries = dict(zip(keys, trees, strict=True))
        if len(entries) != len(keys):
            key = duplicate(keys)
            raise CorruptStateError(
                "the same key appears twice (on two lines); keep one of them",
                file=path,
                where=category.where(key),
            )
        return entries

    def _decode(self, category: Category, key: Any, tree: Any, path: Path, place: str) -> Any:
        try:
            return self.codec.decode(tree, category.where(key))
        except CorruptStateError as exc:
            raise CorruptStateError(exc.reason, file=path, where=f"{place}: {exc.where}") from None

    def decode_lines(
        self, category: Category, lines: Mapping[Any, bytes], path: Path, present: bool = True
    ) -> Any:
        """Decodes entry lines this codec made (not a file's) into PTB's value of the category.

        Raises:
            CorruptStateError: A line does not decode (only when the types changed since).
        """
        values = {key: self.entry_of(category, key, line, path) for key, line in lines.items()}
        return self.assemble(category, values, path, present)

    def entry_of(self, category: Category, key: Any, line: bytes, path: Path) -> Any:
        """Decodes one entry line this codec made into what PTB expects of that entry."""
        return category.entry(
            self.decode_line(category, key, line, path), self.context_types, path, key
        )

    def decode_line(self, category: Category, key: Any, line: bytes, path: Path) -> Any:
        """Decodes the value of one entry line this codec made."""
        try:
            return self.codec.decode(orjson.loads(line[1:])[-1], category.where(key))
        except CorruptStateError as exc:
            raise exc.in_file(path) from None

    def assemble(
        self, category: Category, values: dict[Any, Any], path: Path, present: bool = True
    ) -> Any:
        """PTB's value of a category from its decoded entries, see :meth:`Category.assemble`."""
        return category.assemble(values, self.context_types, path, present)

    # ------------------------------------------------------------------------------- order

    def order(self, category: Category, keys: Iterable[Any]) -> list[Any]:
        """The keys in the order of the file's lines."""
        return category.sort(keys, self.codec)

    def sort_key(self, category: Category) -> Callable[[Any], Any]:
        """The sort key of a sorted category's lines."""
        return category.sort_key(self.codec)

    # ------------------------------------------------------------------------------- saving

    def encode(self, category: Category, key: Any, value: Any) -> bytes:
        """The entry line of one user's, chat's or conversation's value, as PTB hands it over.

        Raises:
            UnsupportedTypeError: The value cannot be stored, naming its key path.
        """
        return self.encode_stored(category, key, category.storable(value, self.context_types, key))

    def encode_stored(self, category: Category, key: Any, value: Any) -> bytes:
        """The entry line of a value the category's checks already took (or that was loaded).

        Raises:
            UnsupportedTypeError: The value cannot be stored, naming its key path.
        """
        where = category.where(key)
        return entry_line(category.key_json(key, self.codec), self.codec.dumps(value, where))

    def encode_members(self, category: Category, value: Any) -> Lines:
        """The entry lines of a value category (bot or callback data), one per member.

        Raises:
            UnsupportedTypeError: The value cannot be stored, naming its key path.
        """
        members = category.split(category.storable(value, self.context_types, WHOLE))
        return {key: self.encode_stored(category, key, member) for key, member in members.items()}

    def copies(self, category: Category, lines: Mapping[Any, bytes]) -> dict[Any, Any]:
        """Decoded copies of a value category's members, from their lines, by key.

        What a round compares the application's members with to find the changed ones
        (:mod:`jsonpersist._same`). A line that does not decode is left out: it counts as
        changed. Decoded in batches, so that no single call holds the GIL for long.
        """
        out: dict[Any, Any] = {}
        keys = list(lines)
        for start in range(0, len(keys), _BATCH):
            batch = keys[start : start + _BATCH]
            trees = orjson.loads(b"[%b]" % b",".join(lines[key][1:-1] for key in batch))
            for key, element in zip(batch, trees, strict=True):
                tree = element[-1]
                if b'"$' in lines[key] or (len(lines[key]) >= _DEEP_ENOUGH and not is_plain(tree)):
                    try:
                        tree = self.codec.decode(tree, category.where(key))
                    except CorruptStateError:
                        continue
                out[key] = tree
        return copies(out, shared=False)

    def members(self, category: Category, value: Any) -> dict[Any, Any]:
        """A value category's members, as its lines hold them (checked as a save checks).

        Raises:
            UnsupportedTypeError: The value is not of the category's shape.
        """
        return category.split(category.storable(value, self.context_types, WHOLE))


def _canonical_lines(
    entries: list[Any], raw: bytes, start: bytes, path: Path
) -> list[bytes] | None:
    """The entry lines of ``raw`` if it is what jsonpersist writes for ``entries``, else None.

    ``raw`` must be the header ``start``, one line per entry, and the closing bracket, byte for
    byte.

    With the C module, orjson writes the entries as one array and the C code splits it and
    compares it with the file's lines in one pass; without it, each line is written and
    compared. Both give the same answer.

    Raises:
        CorruptStateError: An entry is nested deeper than orjson writes.
    """
    if _speedups is not None and raw.startswith(start):
        try:
            whole = orjson.dumps(entries, option=_SORT)
        except (orjson.JSONEncodeError, TypeError):
            pass  # one level deeper than each entry: the lines one by one tell
        else:
            return _speedups.split_lines(whole, raw, len(start))
    try:
        lines = [canonical_line(entry) for entry in entries]
    except (orjson.JSONEncodeError, TypeError):  # deeper than orjson writes
        raise CorruptStateError(f"nested deeper than {MAX_DEPTH} levels", file=path) from None
    canonical = raw.startswith(start) and raw == start + b"".join(lines) + TAIL
    return lines if canonical else None
