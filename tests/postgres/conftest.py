"""Fixtures of the PostgreSQL tests: a real server, started once per session, and databases.

The fixtures live in ``tests/pg_fixtures.py``, shared with the contract tests
(``tests/ptb_contract``), which run against PostgreSQL too: one server serves both. Without
PostgreSQL the tests skip, saying why; with ``JSONPERSIST_REQUIRE_POSTGRES=1`` (set by
``.ci/run``) they fail instead, so that CI cannot pass without running them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pg_fixtures import missing_driver, own_server, pg_server, pg_url, require

__all__ = ("own_server", "pg_server", "pg_url")

# The application tests use the contract tests' harness (a real offline Application).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ptb_contract"))

# The test modules import psycopg themselves: without it, none of them can be collected.
_reason = missing_driver()
if _reason is not None:
    require(_reason, allow_module_level=True)
