"""Tests of the build: the C check's reading of keys, a build without a C compiler, the version.

The build tests copy the project to a temporary folder and build wheels there with the
setuptools of this environment (``--no-build-isolation``, so no network is needed). ``CC=false``
stands in for a machine without a C compiler.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
import warnings
import zipfile
from pathlib import Path

import pytest

import jsonpersist
from jsonpersist import MAX_DEPTH, _plain, _version

PROJECT = Path(__file__).resolve().parents[1]
REQUIRE_C = "JSONPERSIST_REQUIRE_C"

# What the build says when the C check could not be built (setup.py).
NOT_BUILT = "WARNING: jsonpersist's C check (jsonpersist._speedups) was not built"
SLOWER = "encodes several times slower"
SWAP_NOT_BUILT = (
    "WARNING: jsonpersist's C swap for watch mode (jsonpersist._exchange) was not built"
)
HOW_TO_FIX = "apt install build-essential python3-dev"

needs_c = pytest.mark.skipif(
    _plain._speedups is None, reason="the C check was not built (pure-Python install)"
)
needs_a_c_compiler = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None,
    reason="no C compiler (cc or gcc) on this machine: the test first builds the C module",
)
unix_compilers = pytest.mark.skipif(
    sys.platform == "win32", reason="CC=false stands for a missing compiler only on Unix"
)


# ------------------------------------------------------------------ the C check reads keys
# Keys of every str width (1, 2 and 4 bytes a character) with and without a leading "$", and
# look-alikes of "$" that are other characters.
KEYS = [
    "",
    "a",
    "$",
    "$a",
    "a$",
    "\x00",
    "é",
    "$é",
    "ÿ$",
    "Ā",
    "$Ā",
    "€uro",
    "$€",
    "＄",  # noqa: RUF001  # FULLWIDTH DOLLAR SIGN, not "$"
    "﹩",  # SMALL DOLLAR SIGN, not "$"
    "𝄞",
    "$𝄞",
    "𝄞$",
    "\U0010ffff",
    "\ud800",
    "$\udfff",
]


@needs_c
@pytest.mark.parametrize("key", KEYS, ids=ascii)
def test_the_c_check_reads_keys_of_every_width_like_the_python_walk(key: str) -> None:
    expected = not key.startswith("$")
    values = [{key: 1}, [{"é": {key: [1]}}], {"𝄞": None, "Ā": 1.5, key: "x"}]
    for value in values:
        assert _plain._walk_plain(value) is expected
        assert _plain._speedups.is_plain(value, MAX_DEPTH) is expected


def _unreadable_key() -> str:
    """A str the C API fails to read: a not yet "ready" str holding no Unicode character.

    Only Python 3.10 and 3.11 have such strings. Making one ready raises ValueError.
    """
    api = ctypes.PyDLL(None)  # not ctypes.pythonapi: its functions are shared, ours get argtypes
    api.PyUnicode_FromUnicode.restype = ctypes.py_object
    api.PyUnicode_FromUnicode.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
    api.PyUnicode_AsUnicode.restype = ctypes.c_void_p
    api.PyUnicode_AsUnicode.argtypes = [ctypes.py_object]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        key: str = api.PyUnicode_FromUnicode(None, 1)
    ctypes.c_uint32.from_address(api.PyUnicode_AsUnicode(key)).value = 0x110000
    return key


def _dict_with_key(key: str) -> dict[str, int]:
    """A dict holding ``key``, put there with a made-up hash: hashing it would make it ready."""
    api = ctypes.PyDLL(None)
    api._PyDict_SetItem_KnownHash.restype = ctypes.c_int
    api._PyDict_SetItem_KnownHash.argtypes = [ctypes.py_object] * 3 + [ctypes.c_ssize_t]
    value: dict[str, int] = {}
    api._PyDict_SetItem_KnownHash(value, key, 1, 12345)
    return value


@needs_c
@pytest.mark.skipif(
    sys.implementation.name != "cpython" or sys.version_info >= (3, 12),
    reason="only CPython 3.10 and 3.11 have str objects the C API can fail to read",
)
@pytest.mark.skipif(ctypes.sizeof(ctypes.c_wchar) != 4, reason="needs a 4-byte wchar_t")
def test_a_key_the_c_api_cannot_read_raises_its_error_instead_of_an_answer() -> None:
    unreadable = _dict_with_key(_unreadable_key())
    for value in (unreadable, [{"a": unreadable}], {"a": [1, unreadable]}):
        # Before the fix: SystemError, "returned a result with an exception set".
        with pytest.raises(ValueError, match="not in range"):
            _plain._speedups.is_plain(value, MAX_DEPTH)
        with pytest.raises(ValueError, match="not in range"):
            _plain._walk_plain(value)


# ------------------------------------------------------------------------------- the build
def _copy_project(tmp_path: Path) -> Path:
    """A copy of the project without its environments, caches and earlier builds."""
    copy = tmp_path / "project"
    shutil.copytree(
        PROJECT,
        copy,
        ignore=shutil.ignore_patterns(
            ".venv*",
            ".git",
            "build",
            "dist",
            "site",
            "*.egg-info",
            "__pycache__",
            ".hypothesis",
            ".pytest_cache",
            ".mypy_cache",
            ".ruff_cache",
        ),
    )
    return copy


def _run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs a build command with ``env`` on top of this environment (minus REQUIRE_C)."""
    environment = {name: value for name, value in os.environ.items() if name != REQUIRE_C}
    environment.update(PIP_DISABLE_PIP_VERSION_CHECK="1", **env)
    return subprocess.run(
        command,
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _pip_wheel(project: Path, out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Builds a wheel of ``project`` into ``out``, offline, showing the build output (-v)."""
    command = [
        *(sys.executable, "-m", "pip", "wheel", "-v", "--no-deps"),
        *("--no-build-isolation", "--no-index", "-w", str(out), str(project)),
    ]
    return _run(command, project.parent, **env)


def _wheel_names(out: Path) -> tuple[str, list[str]]:
    """The name of the one wheel in ``out`` and the names of the files in it."""
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return wheel.name, archive.namelist()


def _c_modules(names: list[str]) -> list[str]:
    """The compiled modules (``_speedups``, ``_exchange``) among file names (not .pyi or .c)."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    modules = (
        name
        for name in names
        if name.startswith(("jsonpersist/_speedups", "jsonpersist/_exchange"))
    )
    return [name for name in modules if name.endswith(suffixes)]


def _built_modules(project: Path) -> list[str]:
    """The compiled ``_speedups`` modules that setuptools left in ``build/``."""
    built = (project / "build").glob("lib*/jsonpersist/*")
    return _c_modules([f"jsonpersist/{path.name}" for path in built])


@needs_a_c_compiler
@unix_compilers
def test_a_build_without_a_c_compiler_warns_and_ships_no_stale_module(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    with_c = _pip_wheel(project, tmp_path / "with-c")
    assert with_c.returncode == 0, with_c.stdout + with_c.stderr
    assert NOT_BUILT not in with_c.stdout + with_c.stderr
    assert _c_modules(_wheel_names(tmp_path / "with-c")[1])
    assert _built_modules(project)  # the module a build without a compiler must not ship

    without_c = _pip_wheel(project, tmp_path / "without-c", CC="false")
    output = without_c.stdout + without_c.stderr
    assert without_c.returncode == 0, output
    wheel, names = _wheel_names(tmp_path / "without-c")
    assert _c_modules(names) == []
    assert _built_modules(project) == []
    # Every module of the package is shipped, a new one (_v1.py, say) without a change here.
    modules = {f"jsonpersist/{path.name}" for path in (project / "jsonpersist").glob("*.py")}
    assert "jsonpersist/_v1.py" in modules
    assert modules <= set(names), sorted(modules - set(names))
    assert wheel.startswith(f"jsonpersist-{_version.__version__}-")
    for message in (NOT_BUILT, SLOWER, HOW_TO_FIX, REQUIRE_C, SWAP_NOT_BUILT):
        assert message in output


@unix_compilers
def test_require_c_makes_a_build_without_a_c_compiler_fail(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    result = _pip_wheel(project, tmp_path / "out", CC="false", **{REQUIRE_C: "1"})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"C check (jsonpersist._speedups) could not be built, and {REQUIRE_C} is set" in output
    assert HOW_TO_FIX in output
    assert NOT_BUILT not in output  # an error, not the warning of an optional build
    assert not list((tmp_path / "out").glob("*.whl"))


@unix_compilers
def test_a_failed_in_place_build_removes_the_module_of_an_earlier_one(tmp_path: Path) -> None:
    # pip install -e builds in place: the module in the source tree is the one imported.
    project = _copy_project(tmp_path)
    stale = project / "jsonpersist" / f"_speedups{sysconfig.get_config_var('EXT_SUFFIX')}"
    stale.write_bytes(b"the module of an earlier build")
    result = _run([sys.executable, "setup.py", "build_ext", "--inplace"], project, CC="false")
    assert result.returncode == 0, result.stdout + result.stderr
    assert NOT_BUILT in result.stderr
    assert not stale.exists()


def test_the_version_is_defined_once() -> None:
    assert jsonpersist.__version__ == _version.__version__
    assert importlib.metadata.version("jsonpersist") == _version.__version__
