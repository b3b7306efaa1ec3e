"""Fixtures of a real PostgreSQL server, shared by ``tests/postgres`` and ``tests/ptb_contract``.

One server serves the whole session, whichever directories ask for it: it is kept in the
pytest config's stash, started by the first test that needs it and removed when pytest ends.
Each conftest that wants the fixtures imports them (``from pg_fixtures import pg_server``):
both then reach the same server.

Without PostgreSQL or psycopg the tests that need them skip, saying why; with
``JSONPERSIST_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) they fail instead, so that CI cannot
pass without running them.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import NoReturn

import pytest
from pg_server import PgServer, find_binaries

__all__ = ("REQUIRED", "missing_driver", "own_server", "pg_server", "pg_url", "require")

#: Whether a missing server or driver fails the tests (CI) instead of skipping them.
REQUIRED = os.environ.get("JSONPERSIST_REQUIRE_POSTGRES") == "1"

_SERVER = pytest.StashKey[PgServer]()


def missing_driver() -> str | None:
    """Why the driver is missing (psycopg is not installed), or :obj:`None`."""
    if importlib.util.find_spec("psycopg") is None:
        return "the postgres extra (psycopg) is not installed"
    return None


def require(reason: str, *, allow_module_level: bool = False) -> NoReturn:
    """Skips the test (or the module) for ``reason``; fails it when PostgreSQL is required."""
    if REQUIRED:
        pytest.fail(f"JSONPERSIST_REQUIRE_POSTGRES=1, but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=allow_module_level)


def _new_server() -> PgServer:
    driver = missing_driver()
    if driver is not None:
        require(driver)
    bindir, missing = find_binaries()
    if bindir is None:
        require(missing)
    server = PgServer(bindir)
    try:
        server.start()
    except BaseException:
        server.remove()
        raise
    return server


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> PgServer:
    """One PostgreSQL server for the whole session, on a Unix socket in a temporary directory."""
    config = request.config
    if _SERVER not in config.stash:
        server = _new_server()
        config.stash[_SERVER] = server
        config.add_cleanup(server.remove)
    return config.stash[_SERVER]


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL of a new, empty database on the session's server."""
    return pg_server.new_database()


@pytest.fixture
def own_server() -> Iterator[PgServer]:
    """A server of the test's own, to stop (crash) and start again."""
    server = _new_server()
    yield server
    server.remove()
