"""jsonpersist's optional C module and its build; everything else is in ``pyproject.toml``.

``jsonpersist/_speedups.c`` is the codec's hot check in C. It is optional: without a C compiler
the install goes on and the codec uses the same check in Python (slower, same answers). It is
declared here rather than in ``pyproject.toml``, where setuptools still calls extension modules
experimental. This ``build_ext`` makes a failed build visible and honest:

* it removes the module of an earlier build before building it again, so a build that fails
  cannot ship the stale module from ``build/`` (or, for ``pip install -e``, from the source
  tree) as if it had just been built;
* a failed build prints a warning that says what it costs and how to fix it;
* ``JSONPERSIST_REQUIRE_C=1`` turns a failed build into a build error, for CI and packagers who
  must not ship the slow check by accident.

pip shows build output only with ``-v``; at run time ``jsonpersist --version`` says which check
is in use.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import BaseError, CCompilerError

#: The environment variable that makes the C module required.
REQUIRE_C = "JSONPERSIST_REQUIRE_C"

_HOW_TO_FIX = (
    "install a C compiler and the Python headers\n"
    "(on Debian or Ubuntu: apt install build-essential python3-dev), then reinstall jsonpersist"
)

_NOT_BUILT = f"""
{"=" * 92}
WARNING: jsonpersist's C {{what}} ({{module}}) was not built:
    {{error}}
{{cost}} To fix it, {_HOW_TO_FIX}.
`jsonpersist --version` shows what is in use. Set {REQUIRE_C}=1 to make a failed build an error
instead of this warning.
{"=" * 92}
"""
# What each optional module is, and what going without it costs.
_MODULES = {
    "jsonpersist._speedups": (
        "check",
        "jsonpersist works without it, but encodes several times slower: the check of every\n"
        "value it saves runs in Python instead.",
    ),
    "jsonpersist._exchange": (
        "swap for watch mode",
        "jsonpersist works without it, but with watch=True an edit saved in the very moment of a\n"
        "save can be overwritten (renameat2 closes that window, see docs/watch.md).",
    ),
}


def _c_is_required() -> bool:
    """Whether the environment asks for the C module to be required.

    Returns:
        :obj:`bool`: Whether ``JSONPERSIST_REQUIRE_C`` is set to anything but empty, ``0``,
        ``false``, ``no`` or ``off``.
    """
    return os.environ.get(REQUIRE_C, "").strip().lower() not in {"", "0", "false", "no", "off"}


class BuildExt(build_ext):
    """``build_ext`` that leaves no stale module behind and says when the C was not built."""

    def run(self) -> None:
        """Builds the extensions, after making them required if the environment asks so."""
        if _c_is_required():
            for ext in self.extensions:
                ext.optional = False
        if self.inplace:
            # The in-place copy (pip install -e) is what the source tree imports: a build that
            # fails must not leave the one of an earlier build there.
            for ext in self.extensions:
                Path(self.get_ext_fullpath(ext.name)).unlink(missing_ok=True)
        super().run()

    def build_extension(self, ext: Extension) -> None:
        """Builds one extension from scratch; warns, or fails, if it cannot be built.

        Args:
            ext: The extension.

        Raises:
            setuptools.errors.BaseError: The extension could not be built and is required
                (``JSONPERSIST_REQUIRE_C``).
        """
        # Without this, a failed build keeps the module of an earlier build in build/ and the
        # wheel ships it; setuptools would even skip the build if that module looks newer.
        output = Path(self.get_ext_fullpath(ext.name))
        output.unlink(missing_ok=True)
        try:
            super().build_extension(ext)
        except (CCompilerError, BaseError) as error:
            output.unlink(missing_ok=True)  # a link that failed half-way may leave a broken file
            if _c_is_required():
                raise BaseError(
                    f"jsonpersist's C {_MODULES.get(ext.name, ('module',))[0]} ({ext.name}) could "
                    f"not be built, and {REQUIRE_C} "
                    f"is set: {error}\nTo fix it, {_HOW_TO_FIX}; or unset {REQUIRE_C} to "
                    "install without it (several times slower)."
                ) from error
            if not ext.optional:
                raise
            what, cost = _MODULES.get(ext.name, ("module", "jsonpersist works without it."))
            sys.stderr.write(_NOT_BUILT.format(what=what, module=ext.name, error=error, cost=cost))
            sys.stderr.flush()


setup(
    ext_modules=[
        Extension("jsonpersist._speedups", sources=["jsonpersist/_speedups.c"], optional=True),
        # Watch mode's saves: a file a person edits during a save is kept (see _store.swap).
        Extension("jsonpersist._exchange", sources=["jsonpersist/_exchange.c"], optional=True),
    ],
    cmdclass={"build_ext": BuildExt},
)
