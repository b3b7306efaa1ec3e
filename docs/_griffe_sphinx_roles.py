"""A griffe extension that turns the docstrings' Sphinx markup into Markdown before parsing.

The docstrings follow python-telegram-bot: Google sections whose types and texts use Sphinx
roles, as in ``name (:obj:`int`): ...`` or ``see :meth:`flush```. griffe's Google parser splits
an entry at its first colon, which is inside the role, so the entry comes apart; and Markdown
shows a role as the raw text. Before griffe parses a docstring, this extension rewrites

- a role in an entry's head (the type of an Args or Attributes entry, the type before the
  colon of a Returns or Raises entry) into the bare name, which griffe parses as an
  expression and mkdocstrings renders as a (cross-referenced) type;
- a role in the text into a code span; when it names an object, the span is wrapped in an
  optional cross-reference, which mkdocstrings turns into a link if the object is rendered
  somewhere (or found in a loaded inventory) and leaves as the plain span otherwise, without
  a warning;
- a ``.. code-block:: python`` directive into a fenced code block;
- the type an annotated property's or attribute's summary starts with
  (``:obj:`str`: The contents of ...``) into nothing: the signature shows the annotation.

Enabled in ``mkdocs.yml`` under the python handler's options:
``extensions: [docs/_griffe_sphinx_roles.py]``.
"""

from __future__ import annotations

import ast
import html
import re
import textwrap
from typing import TYPE_CHECKING, Any

from griffe import Alias, Attribute, Extension, NameResolutionError

if TYPE_CHECKING:
    from griffe import GriffeLoader, Module, Object

__all__ = ("SphinxRoles", "rewrite")

#: ``:role:`content``` and ``:py:role:`content```; the content may wrap onto the next line.
_ROLE = re.compile(r":(?:py:)?(?P<role>[a-z]+):`(?P<content>[^`]+)`")
#: ``title <target>``: a role with an explicit title.
_TITLED = re.compile(r"(?P<title>.+?)\s*<(?P<target>[^<>]+)>", re.DOTALL)
#: Roles that name an object that can be linked to; any other role becomes a code span only.
_LINKED_ROLES = frozenset({"attr", "class", "const", "data", "exc", "func", "meth", "mod", "obj"})
#: Sphinx writes a function or method reference with parentheses, as in ``flush()``.
_CALLABLE_ROLES = frozenset({"func", "meth"})
#: The Google sections whose entries start with a head that griffe splits at the first colon:
#: ``name (type): description`` or ``type: description``.
_ENTRY_SECTIONS = frozenset(
    {
        "args",
        "arguments",
        "attributes",
        "exceptions",
        "keyword args",
        "keyword arguments",
        "other args",
        "other arguments",
        "other parameters",
        "other params",
        "parameters",
        "params",
        "raises",
        "receives",
        "returns",
        "warns",
        "yields",
    }
)
_SECTION_TITLE = re.compile(r"(?P<title>[A-Za-z][A-Za-z ]*):\s*")
_CODE_BLOCK = re.compile(r"\.\. (?:code-block|code|sourcecode)::\s*(?P<language>\S*)\s*")


class SphinxRoles(Extension):
    """Rewrites the Sphinx markup of every docstring in a package once griffe has loaded it."""

    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        """Rewrites the docstrings of the package and everything in it.

        Runs when the whole package is loaded, so that relative names (``:meth:`flush```)
        can be looked up, and before mkdocstrings parses any docstring.

        Args:
            pkg: The package griffe loaded.
            loader: The loader that loaded it.
            **kwargs: For forward compatibility.
        """
        _rewrite_tree(pkg)


def _rewrite_tree(obj: Object) -> None:
    if obj.docstring is not None:
        obj.docstring.value = rewrite(obj.docstring.value, obj)
    for member in obj.members.values():
        if not isinstance(member, Alias):  # an alias's docstring is its target's
            _rewrite_tree(member)


def rewrite(docstring: str, scope: Object | None = None) -> str:
    """Turns the Sphinx markup of one docstring into Markdown that griffe's parser reads.

    Args:
        docstring: The docstring's text, dedented as griffe keeps it.
        scope: The object the docstring belongs to, where relative names such as
            ``:meth:`flush``` are looked up the way Sphinx does (the object, its class, its
            module, the package). Without it only dotted names are cross-referenced.

    Returns:
        The docstring with fenced code blocks, bare names in entry heads, and code spans or
        optional cross-references in the text.
    """
    lines = _fence_code_blocks(docstring.split("\n"))
    if lines and isinstance(scope, Attribute) and scope.annotation is not None:
        lines[0] = _without_type(lines[0])
    text = "\n".join(_bare_entry_heads(lines))
    return _ROLE.sub(lambda match: _markdown(match, scope), text)


def _without_type(summary: str) -> str:
    """Leaves out the type a property's summary starts with, as in ``:obj:`str`: The ...``.

    Only called for an annotated property or attribute, whose signature already shows the type.
    """
    masked = _ROLE.sub(lambda match: "_" * len(match[0]), summary)
    head, colon, _ = masked.partition(":")
    if not colon or _ROLE.search(summary[: len(head)]) is None:
        return summary
    try:
        ast.parse(_bare(summary[: len(head)]).strip(), mode="eval")
    except SyntaxError:  # prose before a colon, not a type
        return summary
    return summary[len(head) + 1 :].lstrip()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _fence_code_blocks(lines: list[str]) -> list[str]:
    """Replaces ``.. code-block:: LANGUAGE`` and its indented body by a fenced block."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        directive = _CODE_BLOCK.fullmatch(lines[index].strip())
        if directive is None:
            out.append(lines[index])
            index += 1
            continue
        margin = lines[index][: _indent(lines[index])]
        end = index + 1
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > len(margin)):
            end += 1
        while end > index + 1 and not lines[end - 1].strip():
            end -= 1  # blank lines after the body stay outside the fence
        body = textwrap.dedent("\n".join(lines[index + 1 : end])).strip("\n").split("\n")
        out.append(f"{margin}```{directive['language']}")
        out.extend(f"{margin}{line}" if line.strip() else "" for line in body)
        out.append(f"{margin}```")
        index = end
    return out


def _bare_entry_heads(lines: list[str]) -> list[str]:
    """Replaces the roles before the first colon of each entry of an Args, Returns, ... section.

    ``name (:obj:`str` | :class:`pathlib.Path`): text`` becomes ``name (str | pathlib.Path):
    text``, which griffe splits into name, type and description.
    """
    out: list[str] = []
    section: int | None = None  # the indentation of the current section's title
    entries: int | None = None  # the indentation of its entries' first lines
    for line in lines:
        blank = not line.strip()
        if not blank and section is not None and _indent(line) <= section:
            section = entries = None
        if section is None:
            title = _SECTION_TITLE.fullmatch(line.strip())
            if title is not None and title["title"].lower() in _ENTRY_SECTIONS:
                section = _indent(line)
        elif not blank:
            entries = _indent(line) if entries is None else entries
            if _indent(line) == entries:
                line = _bare_head(line)  # noqa: PLW2901
        out.append(line)
    return out


def _bare_head(line: str) -> str:
    # Roles are masked first: their own colons do not end the head.
    masked = _ROLE.sub(lambda match: "_" * len(match[0]), line)
    colon = masked.find(":")
    if colon < 0:
        return line
    return _bare(line[:colon]) + line[colon:]


def _bare(text: str) -> str:
    """Replaces each role by the name it refers to, for griffe to parse as a type."""
    return _ROLE.sub(lambda match: _parts(match)[1], text)


def _parts(match: re.Match[str]) -> tuple[str, str, bool]:
    """Splits a role into what Sphinx shows, the target's name, and whether it may link.

    Follows Sphinx: ``title <target>`` shows the title, ``~a.b.c`` shows ``c``, ``!name``
    does not link, a leading ``.`` is dropped, functions and methods get ``()``.
    """
    role, content = match["role"], match["content"]
    titled = _TITLED.fullmatch(content)
    target = "".join((titled["target"] if titled else content).split())
    link = role in _LINKED_ROLES and not target.startswith("!")
    target = target.lstrip("!~.")
    if titled:
        return " ".join(titled["title"].split()), target, link
    shown = target.rpartition(".")[2] if content.lstrip().startswith(("~", "!~")) else target
    return (f"{shown}()" if role in _CALLABLE_ROLES else shown), target, link


def _markdown(match: re.Match[str], scope: Object | None) -> str:
    shown, target, link = _parts(match)
    span = f"`{shown}`"
    identifier = _identifier(target, scope) if link else None
    if identifier is None:
        return span
    return f'<autoref identifier="{html.escape(identifier)}" optional>{span}</autoref>'


def _identifier(target: str, scope: Object | None) -> str | None:
    """The full path of what a role names, looked up from the docstring's object outwards.

    Returns:
        The path, the dotted name as written when its first part is not known in the scope
        (``telegram.ext.Application``), or ``None`` for an unknown bare name (``int``,
        ``None``): a builtin, which nothing in the package renders.
    """
    first, _, rest = target.partition(".")
    unknown = target if rest else None
    if scope is None:
        return unknown
    try:
        resolved = scope.resolve(first)
    except NameResolutionError:
        return unknown
    return f"{resolved}.{rest}" if rest else resolved
