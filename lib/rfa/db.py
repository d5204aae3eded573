"""The ResolutionFlow source schema (METRICS.md §1) and database connections.

The tables mirror the columns the analytics read, with the seeds' own column
names, so the library reads a real ResolutionFlow replica unchanged. Types work
on PostgreSQL and SQLite alike:

* ids are ``Uuid`` (native ``uuid`` on PostgreSQL, ``CHAR(32)`` on SQLite),
  read back as canonical strings;
* JSON columns are ``JSONB`` on PostgreSQL and ``JSON`` (text) on SQLite;
* timestamps are :class:`UTCDateTime`: ``timestamptz`` on PostgreSQL, and on
  SQLite a naive UTC text value; both read back as timezone-aware UTC.

Constraints the product enforces (rating 1–5, unique ratings) are deliberately
*not* declared here: the analytics must survive faulty rows (the demo database
contains some), so the schema records what may be found, not what should be.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
import tenacity
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Connection, Engine, make_url

from rfa.config import DEMO_DB_PATH, get_settings
from rfa.errors import DatabaseUnavailable


class UTCDateTime(sa.types.TypeDecorator):
    """A timezone-aware UTC timestamp on every backend.

    Bind: aware datetimes are converted to UTC; naive ones are taken as UTC.
    Result: always an aware ``datetime`` in UTC (SQLite returns naive text).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


ID = sa.Uuid(as_uuid=False)
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")

metadata = sa.MetaData()

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("slug", sa.String(100), nullable=False, unique=True),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("name", sa.String(255)),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("is_team_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("is_super_admin", sa.Boolean, nullable=False, server_default=sa.false()),
)

trees = sa.Table(
    "trees",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("tree_type", sa.String(32)),
    sa.Column("origin", sa.String(32), server_default="manual"),
    sa.Column("tree_structure", JSONType),
    sa.Column("usage_count", sa.Integer, server_default="0"),
    sa.Column("created_at", UTCDateTime),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("tree_id", ID, sa.ForeignKey("trees.id"), nullable=False),
    sa.Column("user_id", ID, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("completed_at", UTCDateTime),
    sa.Column("outcome", sa.String(32)),
    sa.Column("decisions", JSONType),
    sa.Index("ix_sessions_tree_started", "tree_id", "started_at"),
    sa.Index("ix_sessions_user_started", "user_id", "started_at"),
)

session_ratings = sa.Table(
    "session_ratings",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("session_id", ID, sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("user_id", ID, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("tree_id", ID, sa.ForeignKey("trees.id"), nullable=False),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("rating", sa.Integer, nullable=False),
    sa.Column("comment", sa.String(500)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_session_ratings_tree_created", "tree_id", "created_at"),
    sa.Index("ix_session_ratings_account_created", "account_id", "created_at"),
)

step_ratings = sa.Table(
    "step_ratings",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("step_id", ID, nullable=False),
    sa.Column("user_id", ID, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("session_id", ID, sa.ForeignKey("sessions.id")),
    sa.Column("was_helpful", sa.Boolean),
    sa.Column("rating", sa.Integer),
    sa.Column("created_at", UTCDateTime),
    sa.Index("ix_step_ratings_session", "session_id"),
)

ai_sessions = sa.Table(
    "ai_sessions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("user_id", ID, sa.ForeignKey("users.id")),
    sa.Column("tree_id", ID, sa.ForeignKey("trees.id")),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("problem_domain", sa.String(64)),
    sa.Column("confidence_tier", sa.String(16)),
    sa.Column("step_count", sa.Integer),
    sa.Column("session_rating", sa.Integer),
    sa.Column("psa_ticket_id", sa.String(64)),
    sa.Column("match_confidence", sa.Float),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
    sa.Index("ix_ai_sessions_account_created", "account_id", "created_at"),
)

ai_session_steps = sa.Table(
    "ai_session_steps",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("ai_session_id", ID, sa.ForeignKey("ai_sessions.id"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_ai_session_steps_session_created", "ai_session_id", "created_at"),
)

session_handoffs = sa.Table(
    "session_handoffs",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("ai_session_id", ID, sa.ForeignKey("ai_sessions.id"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("claimed_at", UTCDateTime),
    sa.Column("claimed_by", ID, sa.ForeignKey("users.id")),
    sa.Index("ix_session_handoffs_session", "ai_session_id"),
)

flow_proposals = sa.Table(
    "flow_proposals",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("proposal_type", sa.String(32)),
    sa.Column("problem_domain", sa.String(64)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("reviewed_at", UTCDateTime),
    sa.Index("ix_flow_proposals_account", "account_id"),
)

psa_post_logs = sa.Table(
    "psa_post_logs",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("ai_session_id", ID, sa.ForeignKey("ai_sessions.id"), nullable=False),
    sa.Column("post_type", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("retry_count", sa.Integer, server_default="0"),
    sa.Column("hours", sa.Float),
    sa.Column("posted_at", UTCDateTime),
    sa.Index("ix_psa_post_logs_session", "ai_session_id"),
)

TABLES: tuple[sa.Table, ...] = tuple(metadata.sorted_tables)
"""Every source table, parents before children (insert order)."""


TRANSIENT_SQLSTATES = frozenset(
    {"40001", "40P01", "57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006"}
)
"""PostgreSQL error codes worth retrying: serialization failure, deadlock, admin or
crash shutdown, cannot connect now, and the connection exception class."""


def is_transient(exc: BaseException) -> bool:
    """True for database errors that a retry may cure: connection refused or reset, the
    server restarting, a serialization failure or deadlock, SQLite's "database is locked"."""
    if isinstance(exc, DatabaseUnavailable):  # raised after connect() already retried
        return False
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
            return True
        code = getattr(exc, "sqlstate", None)
        if code in TRANSIENT_SQLSTATES:
            return True
        text = str(exc).lower()
        if isinstance(exc, sa.exc.OperationalError | ConnectionError) and any(
            needle in text
            for needle in (
                "connection refused",
                "connection reset",
                "server closed the connection",
                "could not connect",
                "terminating connection",
                "database is locked",
            )
        ):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return False


def _retry_attempts() -> int:
    return max(1, int(os.environ.get("RFA_DB_RETRIES", "4")))


def transient_retry(fn):
    """Decorator: retry ``fn`` on :func:`is_transient` errors with exponential backoff
    (tenacity; 0.5 s, 1 s, 2 s …, at most ``RFA_DB_RETRIES`` attempts, default 4), then
    re-raise the last error."""
    return tenacity.retry(
        retry=tenacity.retry_if_exception(is_transient),
        wait=tenacity.wait_exponential(multiplier=0.5, max=8),
        stop=tenacity.stop_after_attempt(_retry_attempts()),
        reraise=True,
    )(fn)


def mask_url(url: str | URL) -> str:
    """Render a database URL with its password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without its body
        return "<unparsable database URL>"


def create_engine(url: str | None = None) -> Engine:
    """Create an engine for ``url`` (default: ``RFA_DATABASE_URL`` or the demo DB).

    Raises :class:`~rfa.errors.DatabaseUnavailable` for a malformed URL, a missing
    driver, or a SQLite file that does not exist (with how to build the demo).
    """
    url = url or get_settings().database_url
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise DatabaseUnavailable(
            "RFA_DATABASE_URL is not a valid SQLAlchemy URL; accepted: "
            "postgresql+psycopg://USER@HOST:PORT/DB or sqlite:///PATH"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).exists():
            hint = " (build it with `make demo`)" if Path(database) == DEMO_DB_PATH else ""
            raise DatabaseUnavailable(f"SQLite database file not found: {database}{hint}")
    try:
        return sa.create_engine(parsed, pool_pre_ping=True)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise DatabaseUnavailable(
            f"cannot use database {mask_url(parsed)}: {type(exc).__name__}; accepted drivers: "
            "postgresql+psycopg, sqlite"
        ) from exc


@contextmanager
def connect(engine_or_url: Engine | str | None = None) -> Iterator[Connection]:
    """Open a connection, turning connection failures into :class:`DatabaseUnavailable`.

    The error message names the database with its password masked, never the
    driver's raw text (which can echo connection parameters).
    """
    owned = not isinstance(engine_or_url, Engine)
    engine = create_engine(engine_or_url) if owned else engine_or_url
    try:
        conn = transient_retry(engine.connect)()
    except sa.exc.OperationalError as exc:
        if owned:
            engine.dispose()
        raise DatabaseUnavailable(
            f"cannot connect to database {mask_url(engine.url)}: the server is unreachable "
            "or refused the connection; check RFA_DATABASE_URL (host, port, user) and that "
            "the server is running"
        ) from exc
    try:
        yield conn
    finally:
        conn.close()
        if owned:
            engine.dispose()


def init_db(url: str) -> None:
    """Create every source table (and its indexes) in the database at ``url``.

    For the demo database and tests; a real ResolutionFlow replica already has them.
    Creates the SQLite file's folder when needed.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        Path(parsed.database).touch(exist_ok=True)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
    except sa.exc.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot create tables in {mask_url(url)}: {exc.orig}") from exc
    finally:
        engine.dispose()
