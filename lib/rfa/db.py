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
import functools
import os
import re
import sys
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar
from urllib.parse import quote, unquote

import sqlalchemy as sa
import tenacity
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Connection, Engine, make_url

from rfa.config import APPLICATION_NAME, DEMO_DB_PATH, Settings, get_settings
from rfa.errors import DatabaseUnavailable, ParameterError


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
    # covering: the session pages' reads (a flow or the account's flows, a window) find
    # every column they select in the index — on SQLite a third of the time at 1M
    # sessions (docs/OPERATIONS.md recommends it for a PostgreSQL replica too)
    sa.Index(
        "ix_sessions_tree_started_cover",
        "tree_id",
        "started_at",
        "user_id",
        "completed_at",
        "outcome",
        "id",
    ),
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


_TRANSIENT_TEXT = (
    "connection refused",
    "connection reset",
    "server closed the connection",
    "no connection to the server",
    "could not connect",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "database is locked",
)
"""Words of a driver's message (psycopg, ADBC/libpq, SQLite) that mark a transient error."""


def _connection_error_types() -> tuple[type[BaseException], ...]:
    """Error classes whose message is searched for :data:`_TRANSIENT_TEXT`: SQLAlchemy's
    and Python's, and ADBC's (``adbc_driver_manager``) when it is loaded — an ADBC error
    cannot exist before it is, so it is never imported for this."""
    types: tuple[type[BaseException], ...] = (sa.exc.OperationalError, ConnectionError)
    adbc = sys.modules.get("adbc_driver_manager")
    if adbc is not None:
        types += (adbc.OperationalError, adbc.InterfaceError)
    return types


def is_transient(exc: BaseException) -> bool:
    """True for database errors that a retry may cure: connection refused or reset, the
    server restarting, a serialization failure or deadlock, SQLite's "database is locked".

    The same for the Arrow (ADBC) connection's errors (:mod:`adbc_driver_manager`, which
    carry the server's ``sqlstate`` too) and for SQLAlchemy errors wrapping them."""
    if isinstance(exc, DatabaseUnavailable):  # raised after connect() already retried
        return False
    connection_errors = _connection_error_types()
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
            return True
        code = getattr(exc, "sqlstate", None)
        if code in TRANSIENT_SQLSTATES:
            return True
        text = str(exc).lower()
        if isinstance(exc, connection_errors) and any(n in text for n in _TRANSIENT_TEXT):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return False


P = ParamSpec("P")
T = TypeVar("T")

RETRY_WAIT_INITIAL_S = 0.5
"""Seconds before the first retry; each further wait doubles it."""
RETRY_WAIT_MAX_S = 10.0
"""Longest wait between two attempts (seconds), jitter included."""
RETRY_JITTER_S = 1.0
"""Up to this many seconds are added to each wait at random, so the workers of a batch
that lost the server together do not all knock again at the same instant."""


def retry_policy(settings: Settings | None = None) -> tenacity.Retrying:
    """The retry policy for transient database errors (:func:`is_transient`), read from
    ``settings`` (default: :func:`rfa.config.get_settings`, i.e. the environment).

    Exponential backoff with jitter (tenacity ``wait_exponential_jitter``: 0.5 s, 1 s,
    2 s … at most :data:`RETRY_WAIT_MAX_S` apart, plus up to :data:`RETRY_JITTER_S` at
    random); no attempt starts once ``RFA_DB_RETRY_BUDGET_S`` seconds (default 90,
    longer than a typical server restart) would have passed since the first, nor after
    ``RFA_DB_RETRIES`` attempts when that is set. Errors that are not transient are
    raised at once. Raises :class:`~rfa.errors.ParameterError` for an invalid setting.
    """
    settings = settings or get_settings()
    stop = tenacity.stop_before_delay(settings.db_retry_budget_s)
    if settings.db_retries is not None:
        stop = stop | tenacity.stop_after_attempt(settings.db_retries)
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_transient),
        wait=tenacity.wait_exponential_jitter(
            multiplier=RETRY_WAIT_INITIAL_S, max=RETRY_WAIT_MAX_S, jitter=RETRY_JITTER_S
        ),
        stop=stop,
        reraise=True,
    )


def _transient_reason(exc: BaseException) -> str:
    """What made ``exc`` transient, in words chosen here (a driver's raw text can echo
    connection parameters): the matched phrase, the SQLSTATE, or a dropped connection."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        code = getattr(exc, "sqlstate", None)
        if code in TRANSIENT_SQLSTATES:
            return f"SQLSTATE {code}"
        text = str(exc).lower()
        for phrase in _TRANSIENT_TEXT:
            if phrase in text:
                return phrase
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return "connection lost"


def transient_retry(fn: Callable[P, T]) -> Callable[P, T]:
    """Decorator: call ``fn`` under :func:`retry_policy` (read at each call, so the
    settings of the process that runs it apply).

    When the budget runs out on a transient error, raises
    :class:`~rfa.errors.DatabaseUnavailable` (from that error) saying how long and how
    often it was tried; any other error is re-raised as it is."""

    @functools.wraps(fn)
    def retried(*args: P.args, **kwargs: P.kwargs) -> T:
        policy = retry_policy()
        started = time.monotonic()
        try:
            return policy(fn, *args, **kwargs)
        except Exception as exc:
            if not is_transient(exc):
                raise
            attempts = policy.statistics.get("attempt_number", 1)
            raise DatabaseUnavailable(
                f"database unavailable: {_transient_reason(exc)} for "
                f"{time.monotonic() - started:.1f} s ({attempts} attempt"
                f"{'' if attempts == 1 else 's'}; retry budget RFA_DB_RETRY_BUDGET_S="
                f"{get_settings().db_retry_budget_s:g} s)"
            ) from exc

    return retried


_SECRET_KEYS = re.compile(
    r"(?i)\b(\w*(?:passw(?:or)?d|pwd|secret|token))(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;,]+)"
)
"""``password=…`` (query parameters, libpq ``key=value`` strings, ``PGPASSWORD=…``) and
similar secret-looking assignments."""
_URL_TOKEN = re.compile(r"[A-Za-z][\w+.-]*:/+\S+")


def _mask_userinfo(text: str) -> str:
    """``scheme://user:password@host…`` → ``scheme://user:***@host…``.

    The password may hold unescaped ``@``, ``/``, ``?`` or ``:`` characters:
    everything between the first ``:`` of the user part and the *last* ``@`` of the
    text is masked. Over-masking (an ``@`` in a query string hides the host) is
    preferred to showing a fragment of a password.
    """
    match = re.match(r"(?s)([A-Za-z][\w+.-]*:/+)(.*)", text)
    prefix, rest = match.groups() if match else ("", text)
    at = rest.rfind("@")
    if at < 0 or ":" not in rest[:at]:
        return text
    user = rest[:at].split(":", 1)[0]
    return f"{prefix}{user}:***@{rest[at + 1 :]}"


def mask_secrets(text: str) -> str:
    """Mask every password in free ``text`` (an error message, a log line): the password
    part of any ``scheme://user:password@host`` URL and the value of any
    ``password=…``/``secret=…``/``token=…`` assignment become ``***``."""
    text = _URL_TOKEN.sub(lambda m: _mask_userinfo(m.group(0)), text)
    return _SECRET_KEYS.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


def mask_url(url: str | URL) -> str:
    """Render a database URL with its password replaced by ``***``.

    Masks the ``user:password@`` part (even a password with unescaped ``@``, ``:`` or
    ``/`` that SQLAlchemy itself would misparse), ``password=`` (and other
    secret-looking) query parameters, and libpq ``key=value`` connection strings.
    A string that is not a URL at all is returned with those assignments masked.
    """
    if isinstance(url, URL):
        return _SECRET_KEYS.sub(
            lambda m: f"{m.group(1)}{m.group(2)}***", url.render_as_string(hide_password=True)
        )
    text = str(url)
    masked = _mask_userinfo(text)
    return _SECRET_KEYS.sub(lambda m: f"{m.group(1)}{m.group(2)}***", masked)


READ_ONLY_OPTIONS = (
    "-c default_transaction_read_only=on -c statement_timeout={statement_ms} "
    "-c lock_timeout={lock_ms}"
)
"""libpq ``options`` of every read-only PostgreSQL connection (``RFA_STATEMENT_TIMEOUT_MS``,
``RFA_LOCK_TIMEOUT_MS``): read-only transactions and server-side timeouts."""
LIBPQ_DRIVERS = ("psycopg", "psycopg2")


def _sqlite_path(parsed: URL) -> str:
    """The file path of a SQLite URL (plain path or ``file:`` URI form); ``""`` in memory."""
    database = parsed.database or ""
    if database == ":memory:" or parsed.query.get("mode") == "memory":
        return ""
    if database.startswith("file:"):
        return unquote(database.removeprefix("file:").split("?", 1)[0])
    return database


def _sqlite_read_only(parsed: URL) -> URL:
    """The URL opening the same SQLite file read-only (``file:PATH?mode=ro``, ``uri=true``)."""
    database = parsed.database or ""
    query = dict(parsed.query)
    if query.get("uri", "").lower() not in ("true", "1") or not database.startswith("file:"):
        database = "file:" + quote(os.path.abspath(database), safe="/")
    query.update({"mode": "ro", "uri": "true"})
    return parsed.set(database=database, query=query)


def _pg_connect_args(parsed: URL, *, read_only: bool) -> dict[str, object]:
    """libpq parameters: ``application_name``, ``connect_timeout`` (unless the URL sets
    them) and, for read-only engines, the read-only transaction mode and timeouts
    appended to any ``options`` of the URL (ours come last, so they win)."""
    settings = get_settings()
    args: dict[str, object] = {}
    if "application_name" not in parsed.query:
        args["application_name"] = APPLICATION_NAME
    if "connect_timeout" not in parsed.query:
        args["connect_timeout"] = settings.connect_timeout_s
    if read_only:
        ours = READ_ONLY_OPTIONS.format(
            statement_ms=settings.statement_timeout_ms, lock_ms=settings.lock_timeout_ms
        )
        theirs = parsed.query.get("options")
        theirs = " ".join(theirs) if isinstance(theirs, tuple) else theirs
        args["options"] = f"{theirs} {ours}" if theirs else ours
    return args


def _sqlite_query_only(dbapi_connection, _record) -> None:
    """Second lock on a read-only SQLite engine (also covers ``:memory:``)."""
    dbapi_connection.execute("PRAGMA query_only = ON")


# ---------------------------------------------------------------- Arrow (ADBC) connections

_ARROW_ENGINES: weakref.WeakKeyDictionary[Engine, dict[str, object]] = weakref.WeakKeyDictionary()
"""Read-only PostgreSQL engines made by :func:`create_engine` → the libpq ``connect_args``
their connections carry (:func:`_pg_connect_args`); only these get Arrow connections."""
_ARROW_SLOTS: weakref.WeakKeyDictionary[Connection, _ArrowSlot] = weakref.WeakKeyDictionary()
"""The Arrow connection slot of each open :func:`connect` context, by its connection."""
_PSYCOPG_ONLY = frozenset({"context", "autocommit", "prepare_threshold", "row_factory"})
"""Keyword arguments of ``psycopg.connect`` that are not libpq parameters."""


ARROW_DATABASE_OPTIONS = {"adbc.postgresql.type_resolver_mode": "builtin"}
"""ADBC database options: PostgreSQL's built-in types only (every column the queries
read), instead of reading the server's whole type catalog at each connect (~0.1-0.2 s)."""


class _ArrowSlot:
    """The one ADBC connection of a :func:`connect` context, opened on first use.

    It is opened from the engine's own URL and libpq parameters (host, user, password or
    ``PGPASSWORD``/``~/.pgpass``, ``sslmode`` …, plus ``application_name``,
    ``connect_timeout`` and the read-only ``options`` with ``statement_timeout`` and
    ``lock_timeout``), in ADBC's default autocommit mode: each statement is its own
    read-only transaction. The low-level ADBC API (``adbc_driver_manager``) is used, not
    its DB-API module, which would import pyarrow and pandas (~2 s in a fresh kernel).
    """

    def __init__(self, engine: Engine, connect_args: dict[str, object], shown: str) -> None:
        self._engine = engine
        self._connect_args = connect_args
        self._shown = shown
        self._database = None
        self._connection = None
        self.unavailable = False
        """Set when ADBC cannot be imported: the row path is used instead."""

    def get(self):
        """The ``adbc_driver_manager.AdbcConnection`` (opened now if needed), or ``None``
        without ADBC.

        Raises :class:`~rfa.errors.DatabaseUnavailable` (password masked) when the server
        cannot be reached within :func:`retry_policy`'s budget.
        """
        if self._connection is None and not self.unavailable:
            try:
                import adbc_driver_manager
                import adbc_driver_postgresql
            except ImportError:
                self.unavailable = True
                return None
            try:
                retry_policy()(self._open, adbc_driver_manager, adbc_driver_postgresql)
            except adbc_driver_manager.Error as exc:
                raise DatabaseUnavailable(
                    f"cannot connect to database {self._shown}: "
                    f"{_connection_problem(exc, self._engine.url)}"
                ) from exc
        return self._connection

    def _open(self, adbc_driver_manager, adbc_driver_postgresql) -> None:
        self.close()
        conninfo = self._conninfo()
        try:
            self._database = adbc_driver_postgresql.connect(
                conninfo, db_kwargs=dict(ARROW_DATABASE_OPTIONS)
            )
        except adbc_driver_manager.NotSupportedError:  # a driver without the option
            self._database = adbc_driver_postgresql.connect(conninfo)
        self._connection = adbc_driver_manager.AdbcConnection(self._database)

    def _conninfo(self) -> str:
        """The libpq connection string psycopg would build for this engine's connections."""
        from psycopg.conninfo import make_conninfo

        _, params = self._engine.dialect.create_connect_args(self._engine.url)
        params = {k: v for k, v in params.items() if k not in _PSYCOPG_ONLY}
        params.update(self._connect_args)
        return make_conninfo("", **params)

    def close(self) -> None:
        """Close the ADBC connection if open (errors closing a broken one are ignored)."""
        for handle in (self._connection, self._database):
            if handle is not None:
                try:
                    handle.close()
                except Exception:  # noqa: BLE001 - a dead connection may fail to close
                    pass
        self._connection = self._database = None


def arrow_connection(conn: Connection):
    """The Arrow (ADBC) connection that goes with ``conn`` (an
    ``adbc_driver_manager.AdbcConnection``), or ``None``.

    Only a connection of a :func:`connect` context on a read-only PostgreSQL engine has
    one (one at most, opened here on first use, closed when the context exits), and only
    while ``RFA_ARROW_FETCH`` is on and ``adbc_driver_postgresql`` is importable. Raises
    :class:`~rfa.errors.DatabaseUnavailable` when it cannot be opened.
    """
    slot = _ARROW_SLOTS.get(conn)
    return slot.get() if slot is not None else None


_COLUMN_READS: weakref.WeakSet[Connection] = weakref.WeakSet()
"""The SQLite connections of open :func:`connect` contexts whose results
:func:`rfa.queries.fetch` reads a column at a time (``RFA_ARROW_FETCH`` on when opened)."""


def column_reads(conn: Connection) -> bool:
    """Whether :func:`rfa.queries.fetch` reads ``conn``'s results a column at a time: a
    SQLite connection of a :func:`connect` context opened while ``RFA_ARROW_FETCH`` was
    on (decided once per context, like :func:`arrow_connection` on PostgreSQL)."""
    return conn in _COLUMN_READS


def discard_arrow_connection(conn: Connection) -> None:
    """Close ``conn``'s Arrow connection after an error; the next use opens a new one."""
    slot = _ARROW_SLOTS.get(conn)
    if slot is not None:
        slot.close()


def _attach_arrow_slot(conn: Connection, engine: Engine, shown: str) -> _ArrowSlot | None:
    """Give ``conn`` an (unopened) Arrow slot if its engine is a read-only PostgreSQL one
    of :func:`create_engine` and ``RFA_ARROW_FETCH`` is on."""
    connect_args = _ARROW_ENGINES.get(engine)
    if connect_args is None or not get_settings().arrow_fetch:
        return None
    slot = _ARROW_SLOTS[conn] = _ArrowSlot(engine, connect_args, shown)
    return slot


SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""
_DATABASE_ACCEPTED = (
    "a SQLite database file (sqlite:///PATH; `make demo` builds one) or "
    "postgresql+psycopg://USER@HOST:PORT/DB"
)


def _check_sqlite_file(path: Path, shown: str) -> None:
    """Refuse, before any work, a SQLite URL whose path is a folder, an empty file or a
    file that is not a SQLite database (a text file, a typo'd path to some other file):
    :class:`~rfa.errors.ParameterError` (exit 2) naming the path and what is accepted."""
    reason = None
    if path.is_dir():
        reason = "it is a folder, not a file"
    else:
        try:
            with path.open("rb") as handle:
                head = handle.read(len(SQLITE_HEADER))
        except OSError as exc:
            reason = f"the file cannot be read: {exc.strerror or type(exc).__name__}"
        else:
            if not head:
                reason = "the file is empty: it holds no ResolutionFlow tables"
            elif head != SQLITE_HEADER:
                reason = "the file is not a SQLite database"
    if reason:
        raise ParameterError("RFA_DATABASE_URL", shown, _DATABASE_ACCEPTED, reason=reason)


def create_engine(url: str | URL | None = None, *, read_only: bool = True) -> Engine:
    """Create an engine for ``url`` (default: ``RFA_DATABASE_URL`` or the demo DB).

    **Read-only by default.** Every connection of a ``read_only`` engine

    * on PostgreSQL (psycopg) starts with ``default_transaction_read_only=on``,
      ``statement_timeout`` (``RFA_STATEMENT_TIMEOUT_MS``, default 120000) and
      ``lock_timeout`` (``RFA_LOCK_TIMEOUT_MS``, default 5000); a write fails with
      "cannot execute … in a read-only transaction";
    * on SQLite opens the file with ``mode=ro`` (and ``PRAGMA query_only``); a write
      fails with "attempt to write a readonly database".

    Only the write paths (:func:`init_db`, the demo loader) pass ``read_only=False``.
    Every PostgreSQL connection carries ``application_name=resolutionflow-analytics``
    and ``connect_timeout`` (``RFA_CONNECT_TIMEOUT_S``) unless the URL sets them; the
    pool is bounded (``RFA_DB_POOL_SIZE`` default 2, ``RFA_DB_MAX_OVERFLOW`` default 2)
    and pre-pinged. A URL without a password lets libpq find it in ``PGPASSWORD`` or
    ``~/.pgpass`` (``PGPASSFILE``). A read-only PostgreSQL engine's :func:`connect`
    contexts may open one Arrow (ADBC) connection each with the same parameters
    (:func:`arrow_connection`).

    Raises :class:`~rfa.errors.DatabaseUnavailable` for a malformed URL, a missing
    or unsupported driver, or a SQLite file that does not exist (with how to build
    the demo); :class:`~rfa.errors.ParameterError` (bad input) when a read-only SQLite
    URL names a folder, an empty file or a file that is not a SQLite database.
    """
    url = url or get_settings().database_url
    shown = shown_url(url)
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise DatabaseUnavailable(
            "RFA_DATABASE_URL is not a valid SQLAlchemy URL; accepted: "
            "postgresql+psycopg://USER@HOST:PORT/DB or sqlite:///PATH"
        ) from exc
    backend = parsed.get_backend_name()
    options: dict[str, object] = {"pool_pre_ping": True}
    connect_args: dict[str, object] = {}
    if backend == "sqlite":
        path = _sqlite_path(parsed)
        if path and not Path(path).exists():
            hint = " (build it with `make demo`)" if Path(path) == DEMO_DB_PATH else ""
            raise DatabaseUnavailable(f"SQLite database file not found: {path}{hint}")
        if path and read_only:
            _check_sqlite_file(Path(path), shown)
        if read_only and path:
            parsed = _sqlite_read_only(parsed)
    elif backend == "postgresql":
        if parsed.get_driver_name() not in LIBPQ_DRIVERS:
            raise DatabaseUnavailable(
                f"cannot use database {shown}: driver "
                f"{parsed.get_driver_name()!r} is not supported; accepted drivers: "
                "postgresql+psycopg, sqlite"
            )
        settings = get_settings()
        connect_args = _pg_connect_args(parsed, read_only=read_only)
        options.update(
            connect_args=connect_args,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
    try:
        engine = sa.create_engine(parsed, **options)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise DatabaseUnavailable(
            f"cannot use database {shown}: {type(exc).__name__}; accepted drivers: "
            "postgresql+psycopg, sqlite"
        ) from exc
    if backend == "sqlite" and read_only:
        sa.event.listen(engine, "connect", _sqlite_query_only)
    if backend == "postgresql" and read_only:
        _ARROW_ENGINES[engine] = dict(connect_args)
    return engine


def _connection_problem(exc: BaseException, url: URL) -> str:
    """Why a connection failed, in words chosen here — never the driver's raw text."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    user, database = url.username or "(default user)", url.database or "(default)"
    if "password authentication failed" in text or "no password supplied" in text:
        return (
            f"authentication failed for user {user!r}; check the password (RFA_DATABASE_URL, "
            "PGPASSWORD, ~/.pgpass or .env)"
        )
    if "role" in text and "does not exist" in text:
        return f"role {user!r} does not exist on the server"
    if "database" in text and "does not exist" in text:
        return f"database {database!r} does not exist on the server"
    if "permission denied for database" in text or "not permitted to log in" in text:
        return f"role {user!r} may not connect to database {database!r} (GRANT CONNECT, LOGIN)"
    if "unable to open database file" in text:
        return "the SQLite file cannot be opened (permissions, or not a database file)"
    return (
        "the server is unreachable or refused the connection; check RFA_DATABASE_URL "
        "(host, port, user) and that the server is running"
    )


def shown_url(url: str | URL) -> str:
    """``url`` as messages show it: password masked (:func:`mask_url`), and a SQLite file
    by its path (not the ``file:…?mode=ro`` URI form a read-only engine uses)."""
    masked = mask_url(url)
    try:
        parsed = make_url(masked)
    except (sa.exc.ArgumentError, ValueError):
        return masked
    if parsed.get_backend_name() == "sqlite" and _sqlite_path(parsed):
        return f"sqlite:///{_sqlite_path(parsed)}"
    return masked


@contextmanager
def connect(engine_or_url: Engine | str | None = None) -> Iterator[Connection]:
    """Open a connection, turning connection failures into :class:`DatabaseUnavailable`.

    Given a URL (or nothing: ``RFA_DATABASE_URL``), the engine is created read-only
    (:func:`create_engine`) and disposed afterwards; a given engine is used as is.
    The error message names the database with its password masked, never the
    driver's raw text (which can echo connection parameters).

    On a read-only PostgreSQL engine the context may also hold one Arrow (ADBC)
    connection for :func:`rfa.queries.fetch` (:func:`arrow_connection`: same server,
    credentials, read-only mode and timeouts, opened on first use); it is closed when
    the context exits. So a context holds at most two server connections.
    """
    owned = not isinstance(engine_or_url, Engine)
    engine = create_engine(engine_or_url) if owned else engine_or_url
    # the URL as given (SQLAlchemy may misparse an unescaped password): masked
    shown = shown_url(engine_or_url or get_settings().database_url if owned else engine.url)
    policy, started = retry_policy(), time.monotonic()
    try:
        conn = policy(engine.connect)
    except sa.exc.OperationalError as exc:
        if owned:
            engine.dispose()
        tried = ""
        if is_transient(exc):
            attempts = policy.statistics.get("attempt_number", 1)
            tried = (
                f" (tried {attempts} time{'' if attempts == 1 else 's'} over "
                f"{time.monotonic() - started:.1f} s; RFA_DB_RETRY_BUDGET_S sets how long)"
            )
        raise DatabaseUnavailable(
            f"cannot connect to database {shown}: {_connection_problem(exc, engine.url)}{tried}"
        ) from exc
    slot = None
    try:
        slot = _attach_arrow_slot(conn, engine, shown)
        if engine.dialect.name == "sqlite" and get_settings().arrow_fetch:
            _COLUMN_READS.add(conn)
        yield conn
    finally:
        if slot is not None:
            slot.close()
            _ARROW_SLOTS.pop(conn, None)
        _COLUMN_READS.discard(conn)
        conn.close()
        if owned:
            engine.dispose()


def init_db(url: str) -> None:
    """Create every source table (and its indexes) in the database at ``url``.

    For the demo database and tests; a real ResolutionFlow replica already has them.
    Creates the SQLite file's folder when needed. The one write path besides the demo
    loader: its engine is ``read_only=False``.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        Path(parsed.database).touch(exist_ok=True)
    engine = create_engine(url, read_only=False)
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
    except sa.exc.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot create tables in {mask_url(url)}: {_connection_problem(exc, engine.url)}"
        ) from exc
    finally:
        engine.dispose()


_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")

LEAST_PRIVILEGE_SQL = """\
-- A login role that can read the tables the analytics read, and nothing else.
CREATE ROLE {role} LOGIN;
ALTER ROLE {role} SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE {database} TO {role};
GRANT USAGE ON SCHEMA {schema} TO {role};
GRANT SELECT ON
{tables}
  TO {role};
"""
"""Template of :func:`least_privilege_sql` (README "Least-privilege role")."""


def least_privilege_sql(
    role: str = "rfa_reader", database: str = "resolutionflow", schema: str = "public"
) -> str:
    """The SQL creating a least-privilege PostgreSQL role for the analytics: ``LOGIN``,
    read-only by default, ``CONNECT`` on ``database``, ``USAGE`` on ``schema`` and
    ``SELECT`` on each table of :data:`TABLES` — no other privilege. No password: set
    it with psql's ``\\password ROLE`` (never in a file or the server log).

    Names must be plain lower-case SQL identifiers (``[a-z_][a-z0-9_]*``); anything
    else raises :class:`ValueError` (so nothing needs quoting).
    """
    for kind, name in (("role", role), ("database", database), ("schema", schema)):
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"{kind} {name!r} is not a plain identifier ([a-z_][a-z0-9_]*)")
    tables = ",\n".join(f"  {schema}.{t.name}" for t in TABLES)
    return LEAST_PRIVILEGE_SQL.format(role=role, database=database, schema=schema, tables=tables)
