"""Settings from the environment (or an untracked ``.env`` file).

Secrets (the database URL and its credentials) are read here and nowhere else;
they are never notebook parameters, so papermill never writes them into an
executed notebook.

Environment variables:

``RFA_DATABASE_URL``
    SQLAlchemy URL of the ResolutionFlow database, e.g.
    ``postgresql+psycopg://rfa_reader@db.internal:5432/resolutionflow``.
    Default: the embedded SQLite demo database ``data/demo.sqlite``.
``RFA_PUBLISH_DIR``
    Where pages are published. Default: ``published/`` in the project root.
``RFA_BUILD_DIR``
    Where pages are executed and rendered before publishing. Default: ``build/``.
``RFA_NOTEBOOK_DIR``
    The dashboard notebooks. Default: ``notebooks/`` in the project root.
``RFA_DB_RETRY_BUDGET_S``
    Seconds a transient database error (connection refused or reset, the server
    restarting or shutting down, a serialization failure, SQLite's "database is
    locked") is retried before the page fails with "database unavailable": attempts
    follow an exponential backoff with jitter (0.5 s, 1 s, 2 s … up to 10 s apart, plus
    up to 1 s at random, so many workers do not retry in step). Default: 90 — rides out
    a typical server restart or failover (about a minute). Keep it below ``--timeout``.
``RFA_DB_RETRIES``
    At most this many attempts within that budget (e.g. ``1``: never retry). Default:
    no limit but the budget.
``RFA_STATEMENT_TIMEOUT_MS``
    PostgreSQL ``statement_timeout`` of every read-only connection: a query
    running longer is cancelled by the server. Default: 120000 (2 minutes).
``RFA_LOCK_TIMEOUT_MS``
    PostgreSQL ``lock_timeout`` of every read-only connection: a query waiting
    longer for a lock is cancelled. Default: 5000 (5 seconds).
``RFA_CONNECT_TIMEOUT_S``
    Seconds to wait for a PostgreSQL server to accept a connection. Default: 10.
``RFA_DB_POOL_SIZE`` / ``RFA_DB_MAX_OVERFLOW``
    Connections a PostgreSQL engine keeps open / may open beyond that, per
    process (every page renders in its own process). Defaults: 2 and 2.
``RFA_ARROW_FETCH``
    Read query results a column at a time instead of row by row: on PostgreSQL
    through an Arrow-native connection (ADBC, ``adbc-driver-postgresql``), on SQLite
    from the driver's raw values converted by polars. ``1`` (default) or ``0`` to
    read every result row by row through SQLAlchemy's result processing.

Every variable may also be set in a ``.env`` file (``KEY=value`` lines) in the
project root or in the current directory (the latter wins); real environment
variables win over both. ``.env`` is in ``.gitignore``: never commit it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The repository root (``lib/rfa`` is two levels below it)."""

DEMO_DB_PATH = PROJECT_ROOT / "data" / "demo.sqlite"


def demo_database_url(path: Path = DEMO_DB_PATH) -> str:
    """SQLAlchemy URL of the embedded SQLite demo database at ``path``."""
    return f"sqlite:///{path}"


ENV_FILES: tuple[str, ...] = (str(PROJECT_ROOT / ".env"), ".env")
"""``.env`` files read, in order (later ones win): the project root's, then the current
directory's. Environment variables win over both."""

APPLICATION_NAME = "resolutionflow-analytics"
"""PostgreSQL ``application_name`` of every connection (``pg_stat_activity``, server logs)."""


class Settings(BaseSettings):
    """Runtime settings; construct with :func:`get_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="RFA_", env_file=ENV_FILES, env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(default_factory=demo_database_url, repr=False)
    publish_dir: Path = PROJECT_ROOT / "published"
    build_dir: Path = PROJECT_ROOT / "build"
    notebook_dir: Path = PROJECT_ROOT / "notebooks"
    statement_timeout_ms: int = Field(default=120_000, ge=1)
    lock_timeout_ms: int = Field(default=5_000, ge=1)
    connect_timeout_s: int = Field(default=10, ge=1)
    db_retry_budget_s: float = Field(default=90.0, gt=0, le=86_400)
    db_retries: int | None = Field(default=None, ge=1)
    db_pool_size: int = Field(default=2, ge=1)
    db_max_overflow: int = Field(default=2, ge=0)
    arrow_fetch: bool = True


def absolute_sqlite_url(url: str) -> str:
    """Make a relative SQLite path absolute (from the current directory), so kernels that
    run in a page's build directory open the same file; other URLs are returned as is."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - rfa.db.create_engine reports bad URLs clearly
        return url
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return url
    if Path(database).is_absolute():
        return url
    return parsed.set(database=str(Path(database).resolve())).render_as_string(hide_password=False)


def get_settings() -> Settings:
    """Read the settings afresh from the environment (no caching: tests change it).

    Raises :class:`~rfa.errors.ParameterError` naming the first invalid variable
    (e.g. ``RFA_STATEMENT_TIMEOUT_MS=abc``) and what it accepts.
    """
    from pydantic import ValidationError

    from rfa.errors import ParameterError

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first.get("loc") else "?"
        shown = "***" if name == "database_url" else first.get("input")
        raise ParameterError(
            f"setting RFA_{name.upper()}", shown, f"{first['msg'].lower()} (environment or .env)"
        ) from None
