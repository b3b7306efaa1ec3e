"""Entries: a category file's lines and the values they hold, in both directions.

The one place where the file format, the codec and the category descriptions meet. Loading a
file gives its entry lines (kept for cheap saves) and the decoded values; saving encodes a value
into its entry line. Used alike by the persistence, its rounds, watch mode and the tools.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from jsonpersist._categories import AnyContextTypes, Category
from jsonpersist._codec import MAX_DEPTH, Codec, is_plain
from jsonpersist._errors import CorruptStateError, UnsupportedTypeError
from jsonpersist._format import (
    WHOLE,
    canonical_lines,
    entry_line,
    entry_value,
    envelope_data,
    parse_json,
    strict_tree,
)

__all__ = ("EntryCodec", "Lines")

#: The encoded line of each entry of a category, by key.
Lines = dict[Any, bytes]
_SORT = orjson.OPT_SORT_KEYS
# JSON nested deeper than MAX_DEPTH has two brackets a level: a shorter line cannot be.
_DEEP_ENOUGH = 2 * (MAX_DEPTH + 2)


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

    def parse(self, category: Category, raw: bytes, path: Path) -> tuple[Lines, dict[Any, Any]]:
        """Parses a category file into its entry lines and decoded entries.

        A file that is byte for byte what jsonpersist writes takes a fast path (one orjson
        parse; only entries with a tag are decoded further). Any other file is parsed
        strictly and its lines are made canonical.

        Returns:
            The line of each entry, and each entry as PTB expects it (see
            :meth:`Category.entry`); :meth:`assemble` puts a value category together.

        Raises:
            CorruptStateError: The file does not decode, naming the position.
        """
        members = category.members(
            envelope_data(parse_json(raw, path), category.name, path), path, strict=False
        )
        try:
            lines = canonical_lines(category.name, raw, members, category.sort(members))
        except orjson.JSONEncodeError:  # orjson reads 1024 levels but writes only 254
            raise CorruptStateError(f"nested deeper than {MAX_DEPTH} levels", file=path) from None
        if lines is not None:
            values = self._decode_canonical(category, members, lines, path)
        else:
            # Not what jsonpersist writes (edited by hand, or damaged): parse strictly, then
            # store it canonically from now on.
            members = category.members(
                envelope_data(strict_tree(raw, path), category.name, path), path
            )
            lines, values = self._decode_strict(category, members, path)
        self.assemble(category, values, path)  # refuses a file of the wrong shape now
        return lines, values

    def _decode_canonical(
        self, category: Category, members: dict[Any, Any], lines: Lines, path: Path
    ) -> dict[Any, Any]:
        """Decodes the members of a canonical file in place; plain entries stay as parsed."""
        as_is = category.plain_class(self.context_types)
        for key, member in members.items():
            value = member
            line = lines[key]
            # Decoding also refuses nesting deeper than the codec writes; only a long line
            # can be that deep, and the C check tells whether it is.
            if b'"$' in line or (len(line) >= _DEEP_ENOUGH and not is_plain(member)):
                value = self._decode(category, key, member, path)
            if type(value) is not as_is:
                value = category.entry(value, self.context_types, path, key)
            if value is not member:
                members[key] = value
        return members

    def _decode_strict(
        self, category: Category, members: dict[Any, Any], path: Path
    ) -> tuple[Lines, dict[Any, Any]]:
        lines, values = {}, {}
        for key, member in members.items():
            value = self._decode(category, key, member, path)
            lines[key] = entry_line(key, self.codec.dumps(value, category.where(key)))
            values[key] = category.entry(value, self.context_types, path, key)
        return lines, values

    def _decode(self, category: Category, key: Any, tree: Any, path: Path) -> Any:
        try:
            return self.codec.decode(tree, category.where(key))
        except CorruptStateError as exc:
            raise exc.in_file(path) from None

    def decode_lines(self, category: Category, lines: Mapping[Any, bytes], path: Path) -> Any:
        """Decodes entry lines this codec made (not a file's) into PTB's value of the category.

        Raises:
            CorruptStateError: A line does not decode (only when the types changed since).
        """
        values = {
            key: category.entry(
                self.decode_line(category, key, line, path), self.context_types, path, key
            )
            for key, line in lines.items()
        }
        return self.assemble(category, values, path)

    def entry_of(self, category: Category, key: Any, line: bytes, path: Path) -> Any:
        """Decodes one entry line this codec made into what PTB expects of that entry."""
        return category.entry(
            self.decode_line(category, key, line, path), self.context_types, path, key
        )

    def decode_line(self, category: Category, key: Any, line: bytes, path: Path) -> Any:
        """Decodes one entry line this codec made."""
        return self._decode(category, key, orjson.loads(entry_value(key, line)), path)

    def assemble(self, category: Category, values: dict[Any, Any], path: Path) -> Any:
        """PTB's value of a category from its decoded entries, see :meth:`Category.assemble`."""
        return category.assemble(values, self.context_types, path)

    # ------------------------------------------------------------------------------- saving

    def encode(self, category: Category, key: Any, value: Any) -> bytes:
        """The entry line of one user's, chat's or handler's value (or a value's member).

        Raises:
            UnsupportedTypeError: The value cannot be stored, naming its key path.
        """
        # A member of a value category is a part of what storable() already took apart.
        storable = category.storable(value, self.context_types, key) if category.keyed else value
        encoded = self.codec.dumps(storable, category.where(key))
        try:
            return entry_line(key, encoded)
        except orjson.JSONEncodeError:  # a handler's name with a lone surrogate
            raise UnsupportedTypeError(
                "cannot store a name UTF-8 cannot hold (it has a lone surrogate)",
                category.where(key),
            ) from None

    def encode_members(self, category: Category, value: Any) -> Lines:
        """The entry lines of a value category (bot or callback data), one per member.

        Raises:
            UnsupportedTypeError: The value cannot be stored, naming its key path.
        """
        storable = category.storable(value, self.context_types, WHOLE)
        tree = self.codec.encode(storable, category.name)
        try:
            return {
                key: entry_line(key, orjson.dumps(member, option=_SORT))
                for key, member in category.members(tree, Path(category.file)).items()
            }
        except orjson.JSONEncodeError as exc:  # a string UTF-8 cannot hold (a lone surrogate)
            self.codec.dumps(storable, category.name)  # raises the error that names its path
            raise UnsupportedTypeError(f"cannot store this value: {exc}", category.name) from exc
