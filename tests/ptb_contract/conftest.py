"""The ``backend`` fixture: each contract test that takes it runs on the files and on PostgreSQL.

The PostgreSQL cases use the session's server (``tests/pg_fixtures.py``, shared with
``tests/postgres``) and one database for all of them, each test with a bot name of its own.
Without PostgreSQL or psycopg they skip, saying why (fail under
``JSONPERSIST_REQUIRE_POSTGRES=1``); the files cases run regardless.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from contract_backends import Backend, FileBackend
from pg_fixtures import pg_server
from pg_server import PgServer

__all__ = ("backend", "contract_database", "pg_server")

_tests = itertools.count(1)
# Bot names may have 256 bytes; the other stores of a test append a label to its name.
_NAME_BYTES = 200


@pytest.fixture(scope="session")
def contract_database(pg_server: PgServer) -> str:
    """The URL of the one database that all the contract tests on PostgreSQL share."""
    return pg_server.new_database()


@pytest.fixture(params=["files", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The test's own store: a state directory, or a bot name in the shared database."""
    if request.param == "files":
        return FileBackend(tmp_path / "state")
    url = request.getfixturevalue("contract_database")
    from contract_postgres import PostgresBackend  # imports psycopg: only now known to be there

    name = f"{next(_tests)} {request.node.name}".encode()[:_NAME_BYTES]
    return PostgresBackend(url, name.decode(errors="ignore"))
