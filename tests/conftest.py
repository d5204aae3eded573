"""Shared fixtures: a real PostgreSQL server for the session (see ``postgres_server.py``).

* ``pg_server`` (session): the running :class:`postgres_server.PostgresServer`
  (``.host``, ``.port``, ``.superuser``, ``.url(dbname)``, ``.create_database(name)``).
  Skipped when PostgreSQL is not installed, a failure instead when ``CI`` is set.
* ``pg_url`` (function): the SQLAlchemy URL of a fresh, empty database, dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from postgres_server import PostgresServer, start_session_server
from sqlalchemy.engine import make_url


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server on 127.0.0.1, stopped and removed at session end."""
    server = start_session_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server (dropped after the test): its URL."""
    url = pg_server.create_database()
    try:
        yield url
    finally:
        pg_server.drop_database(str(make_url(url).database))
