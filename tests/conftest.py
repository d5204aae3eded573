"""Shared fixtures: a real PostgreSQL server for the session and the small demo database.

* ``pg_server`` (session): the running :class:`postgres_server.PostgresServer`
  (``.host``, ``.port``, ``.superuser``, ``.url(dbname)``, ``.create_database(name)``).
  Skipped when PostgreSQL is not installed, a failure instead when ``CI`` is set.
* ``pg_url`` (function): the SQLAlchemy URL of a fresh, empty database, dropped afterwards.
* ``demo_sqlite_url`` / ``demo_pg_url`` (session): the same small demo history
  (``demo_db.py``: seed 11, scale 0.03, ending today 00:00 UTC) on SQLite and on
  the PostgreSQL server.
* ``quarto`` (marker) / ``quarto_exe`` (session fixture): a test marked ``quarto`` needs
  the real Quarto CLI on PATH (quarto.org or conda-forge; ``.ci/run`` builds one with the
  Quarto test kit and puts it on PATH). Without it the test is skipped locally and FAILS
  when ``CI`` is set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from postgres_server import PostgresServer, start_session_server


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


@pytest.fixture(scope="session")
def demo_sqlite_url() -> str:
    """URL of the session's small demo database on SQLite (see ``demo_db.py``)."""
    from demo_db import demo_sqlite_path

    return f"sqlite:///{demo_sqlite_path()}"


@pytest.fixture(scope="session")
def demo_pg_url(pg_server: PostgresServer) -> str:
    """The same demo rows loaded (by COPY) into a PostgreSQL database of the session."""
    from demo_db import demo_rows
    from rfa.db import init_db
    from rfa.demo import load

    url = pg_server.create_database("rfa_demo")
    init_db(url)
    load(url, demo_rows())
    return url


QUARTO_MISSING = (
    "quarto is not on PATH (install Quarto 1.7 from quarto.org or conda-forge; "
    ".ci/run builds one with the Quarto test kit)"
)


def _quarto_or_skip() -> str:
    """The ``quarto`` on PATH; else skip, or fail when ``CI`` is set (CI must render)."""
    exe = shutil.which("quarto")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail(f"{QUARTO_MISSING}; CI is set, so the Quarto tests must run", pytrace=False)
        pytest.skip(QUARTO_MISSING)
    return exe


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``quarto`` run only with a real ``quarto`` (see the module docstring)."""
    if item.get_closest_marker("quarto") is not None:
        _quarto_or_skip()


@pytest.fixture(scope="session")
def quarto_exe() -> str:
    """Path of the real ``quarto`` executable (skip/fail as for the ``quarto`` marker)."""
    return _quarto_or_skip()
