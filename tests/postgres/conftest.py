"""Fixtures of the PostgreSQL tests: a real server, started once per session, and databases.

Without PostgreSQL the tests skip, saying why; with ``JSONPERSIST_REQUIRE_POSTGRES=1`` (set by
``.ci/run``) they fail instead, so that CI cannot pass without running them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_server import PgServer, find_binaries

# The application tests use the contract tests' harness (a real offline Application).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ptb_contract"))

REQUIRED = os.environ.get("JSONPERSIST_REQUIRE_POSTGRES") == "1"
try:
    import psycopg  # noqa: F401
except ImportError:
    if REQUIRED:
        pytest.fail("JSONPERSIST_REQUIRE_POSTGRES=1, but psycopg is not installed", pytrace=False)
    pytest.skip("the postgres extra (psycopg) is not installed", allow_module_level=True)


def _server() -> PgServer:
    bindir, reason = find_binaries()
    if bindir is None:
        if REQUIRED:
            pytest.fail(f"JSONPERSIST_REQUIRE_POSTGRES=1, but {reason}")
        pytest.skip(reason)
    server = PgServer(bindir)
    server.start()
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the whole session, on a Unix socket in a temporary directory."""
    server = _server()
    yield server
    server.remove()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL of a new, empty database on the session's server."""
    return pg_server.new_database()


@pytest.fixture
def own_server() -> Iterator[PgServer]:
    """A server of the test's own, to stop (crash) and start again."""
    server = _server()
    yield server
    server.remove()
