"""Run a Core statement and return a polars DataFrame with a fixed schema.

Two read paths, one result:

* **Arrow** (PostgreSQL, inside :func:`rfa.db.connect`): the statement is compiled for
  PostgreSQL with positional ``$n`` parameters (each cast to its type, each value passed
  through its SQLAlchemy type's bind processing), run on the context's ADBC connection
  (:func:`rfa.db.arrow_connection`: read-only, same timeouts), and its result read as an
  Arrow table — columnar, no Python object per value. When every value is typed data (a
  uuid, timestamp, date, number, boolean or NULL) it is written as a literal under its
  cast, so ADBC streams the result with binary ``COPY`` (twice as fast; ``COPY`` takes no
  parameters); free text is never written into SQL: it keeps the statement bound.
  ``uuid`` and JSON columns are cast to text in SQL, as the row path returns them.
* **Columns** (SQLite, inside :func:`rfa.db.connect`: :func:`rfa.db.column_reads`): the
  statement runs on the SQLAlchemy connection as usual (its
  compilation, bound parameters and error handling), but the driver's raw values are
  read straight from the DBAPI cursor and converted a column at a time by polars —
  ``CHAR(32)`` uuid hex to the canonical text, ``DATETIME`` text to aware UTC — instead of
  one Python object per value through SQLAlchemy's result processors (which made reading
  a million SQLite sessions take minutes). A column of any other type with a result
  processor, or a value that does not parse strictly, sends the statement to the row path.
* **Rows** (any other connection, ``RFA_ARROW_FETCH=0``, ADBC not installed, or a
  parameter value Arrow cannot carry): the statement runs on the SQLAlchemy connection
  and the frame is built from its rows.

Both end with the frame cast to the caller's ``schema``, so dtypes, values and row order
are the same either way (``tests/test_fetch_arrow.py`` compares them query by query).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import math
import re
import uuid
from collections.abc import Mapping, Sequence

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rfa.db import UTCDateTime, arrow_connection, column_reads, discard_arrow_connection

UTC_TS = pl.Datetime("us", "UTC")
"""Dtype of every timestamp column the queries return (aware UTC, microseconds)."""


def fetch(conn: Connection, stmt: sa.Select, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Execute ``stmt`` on ``conn`` and return its rows as a DataFrame of ``schema``.

    The statement's selected labels must equal ``schema``'s keys, in order; the
    explicit schema keeps dtypes stable for empty results and across SQLite and
    PostgreSQL. Raises ``ValueError`` if the labels and schema disagree.

    On PostgreSQL inside :func:`rfa.db.connect` the result is read through Arrow
    (module docstring); errors are raised as the row path raises them
    (``sqlalchemy.exc.DBAPIError`` subclasses wrapping the driver's error).
    """
    if isinstance(stmt, sa.Select):
        arrow = arrow_connection(conn)
        if arrow is not None:
            try:
                sql, params = _compile_for_arrow(stmt)
            except _NotArrowable:
                pass
            else:
                return _fetch_arrow(conn, arrow, sql, params, schema)
        elif column_reads(conn):
            kinds = _sqlite_kinds(stmt, conn.dialect)
            if kinds is not None:
                try:
                    return _fetch_sqlite(conn, stmt, schema, kinds)
                except _NotColumnar:
                    pass
    return _fetch_rows(conn, stmt, schema)


def _check_columns(columns: Sequence[str], schema: Mapping[str, pl.DataType]) -> None:
    if list(columns) != list(schema):
        raise ValueError(f"query returns {list(columns)}, schema expects {list(schema)}")


def _fetch_rows(conn: Connection, stmt, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    result = conn.execute(stmt)
    _check_columns(list(result.keys()), schema)
    return pl.DataFrame(result.all(), schema=dict(schema), orient="row")


# ---------------------------------------------------------------- the column path (SQLite)


class _NotColumnar(Exception):
    """A column or value the column path does not convert: use the row path."""


_SQLITE_TS_FORMAT = "%Y-%m-%d %H:%M:%S%.f"
"""How SQLAlchemy's SQLite dialect stores a ``DATETIME`` (fraction optional)."""


def _sqlite_kinds(stmt: sa.Select, dialect: sa.engine.Dialect) -> dict[str, str] | None:
    """How each selected column of ``stmt`` is converted on the column path: ``"uuid"``
    (``CHAR(32)`` hex → canonical text), ``"utc"`` (:class:`rfa.db.UTCDateTime` text →
    aware UTC), ``"raw"`` (no result processor: the driver's value is the row path's
    value; booleans are 0/1 and cast by the schema); ``None`` when a column has any other
    result processor (the row path reads the statement)."""
    kinds: dict[str, str] = {}
    for key, column in stmt.selected_columns.items():
        type_ = column.type
        if isinstance(type_, UTCDateTime):
            kinds[key] = "utc"
        elif isinstance(type_, sa.Uuid) and not type_.as_uuid:
            kinds[key] = "uuid"
        elif isinstance(type_, sa.Boolean):
            kinds[key] = "raw"
        elif type_.dialect_impl(dialect).result_processor(dialect, None) is None:
            kinds[key] = "raw"
        else:
            return None
    return kinds


SQLITE_BATCH_ROWS = 100_000
"""Rows taken from the SQLite cursor at a time: each batch becomes a typed frame before
the next is fetched, so memory holds one batch of Python values, not the whole result
(10M rows as Python tuples took 11 GB)."""


def _fetch_sqlite(
    conn: Connection, stmt: sa.Select, schema: Mapping[str, pl.DataType], kinds: dict[str, str]
) -> pl.DataFrame:
    result = conn.execute(stmt)
    try:
        columns = list(result.keys())
        _check_columns(columns, schema)
        raw = {
            name: pl.String if kinds[name] != "raw" else _raw_dtype(schema[name])
            for name in columns
        }
        dbapi = conn.dialect.loaded_dbapi
        frames = []
        while True:
            try:
                rows = result.cursor.fetchmany(SQLITE_BATCH_ROWS)
            except dbapi.Error as exc:  # sqlite3 runs the query while rows are fetched
                raise sa.exc.DBAPIError.instance(
                    str(stmt), None, exc, dbapi.Error, dialect=conn.dialect
                ) from exc
            if not rows and frames:
                break
            frames.append(_typed(pl.DataFrame(rows, schema=raw, orient="row"), kinds, schema))
            if len(rows) < SQLITE_BATCH_ROWS:
                break
    finally:
        result.close()
    return frames[0] if len(frames) == 1 else pl.concat(frames, rechunk=True)


def _typed(
    frame: pl.DataFrame, kinds: dict[str, str], schema: Mapping[str, pl.DataType]
) -> pl.DataFrame:
    """A batch of raw SQLite values converted column by column and cast to ``schema``."""
    converted = []
    for name in frame.columns:
        if kinds[name] == "uuid":
            converted.append(_uuid_text(frame[name]))
        elif kinds[name] == "utc":
            converted.append(_utc_timestamps(frame[name]))
    return frame.with_columns(converted).cast(dict(schema))


def _raw_dtype(dtype: pl.DataType) -> pl.DataType:
    """The dtype the driver's raw values are read as for a target ``dtype``: SQLite
    booleans are integers."""
    return pl.Int64() if dtype == pl.Boolean else dtype


def _uuid_text(values: pl.Series) -> pl.Series:
    """``CHAR(32)`` uuid hex (or any text ``uuid.UUID`` accepts as 32 hex digits with
    optional hyphens) → lowercase canonical text, as the row path's ``uuid.UUID`` gives.
    Raises :class:`_NotColumnar` for anything else (the row path then raises as before)."""
    hexes = values.str.replace_all("-", "", literal=True).str.to_lowercase()
    if not hexes.drop_nulls().str.contains(r"^[0-9a-f]{32}$").all():
        raise _NotColumnar(values.name)
    parts = [hexes.str.slice(a, b - a) for a, b in ((0, 8), (8, 12), (12, 16), (16, 20))]
    pieces = [*parts, hexes.str.slice(20)]
    return pl.select(pl.concat_str(pieces, separator="-").alias(values.name)).to_series()


def _utc_timestamps(values: pl.Series) -> pl.Series:
    """SQLite ``DATETIME`` text (naive, UTC by :class:`rfa.db.UTCDateTime`'s contract) →
    ``Datetime("us", "UTC")``; :class:`_NotColumnar` when a value does not parse."""
    try:
        return values.str.to_datetime(_SQLITE_TS_FORMAT, time_unit="us", time_zone="UTC")
    except pl.exceptions.PolarsError as exc:
        raise _NotColumnar(values.name) from exc


# ---------------------------------------------------------------- the Arrow path


class _NotArrowable(Exception):
    """A parameter value has no Arrow type here: run the statement on the row path."""


@functools.cache
def _pg_dialect() -> sa.engine.Dialect:
    """The psycopg dialect with ``$n`` parameters: it renders ``$1::UUID``-style casts
    (``render_bind_cast``), so a text parameter compares with a ``uuid`` column."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    return PGDialect_psycopg(paramstyle="numeric_dollar")


def _as_text(column: sa.ColumnElement) -> bool:
    """Columns the row path returns as text but ADBC would not: ``uuid`` (an Arrow UUID
    extension type) and JSON (the row path's JSON columns are cast in the builders)."""
    type_ = column.type
    if isinstance(type_, sa.types.TypeDecorator):
        type_ = type_.impl_instance
    return isinstance(type_, sa.Uuid | sa.JSON)


def _uuid_bytes(column: sa.ColumnElement) -> sa.ColumnElement | None:
    """The ``uuid`` column inside a selected ``uuid_send(column)`` (its 16 bytes, as
    :func:`rfa.queries.sessions.id_column` reads ids as bytes), else ``None``."""
    element = column.element if isinstance(column, sa.Label) else column
    if isinstance(element, sa.sql.functions.Function) and element.name == "uuid_send":
        (argument,) = element.clauses.clauses
        return argument
    return None


def _textual_ids(stmt: sa.Select) -> sa.Select:
    """``stmt`` with every uuid/JSON column selected as ``CAST(… AS TEXT)`` under its own
    label, and every ``uuid_send(column)`` as the bare uuid ``column`` (ADBC reads a uuid
    as exactly the 16 bytes ``uuid_send`` gives, without a function call per row in the
    server); FROM, WHERE, GROUP BY and ORDER BY (by the original columns) unchanged."""
    columns = list(stmt.selected_columns.items())
    if not any(_as_text(column) or _uuid_bytes(column) is not None for _, column in columns):
        return stmt
    rewritten = []
    for key, column in columns:
        raw = _uuid_bytes(column)
        if raw is not None:
            rewritten.append(raw.label(key))
        elif _as_text(column):
            rewritten.append(sa.cast(column, sa.Text).label(key))
        else:
            rewritten.append(column)
    return stmt.with_only_columns(*rewritten, maintain_column_froms=True)


def _compile_for_arrow(stmt: sa.Select) -> tuple[str, pl.DataFrame | None]:
    """The PostgreSQL SQL text of ``stmt`` with ``$n`` placeholders (IN lists expanded)
    and its parameters as a one-row frame (column ``pN`` = ``$N``), each value after its
    SQLAlchemy type's bind processing (e.g. :class:`rfa.db.UTCDateTime` → aware UTC);
    ``None`` without parameters.

    When every value is a typed literal (:func:`_typed_literal`:
    a uuid, timestamp, date, number, boolean or NULL — never free text), the values are
    written into the text in place of their ``$n`` (each keeps its ``::TYPE`` cast) and no
    parameters are returned: ADBC then streams the result with PostgreSQL's binary
    ``COPY``, which takes no parameters and reads a million sessions about twice as fast
    as a bound statement. Any other value (a name, a slug, an outcome) keeps the whole
    statement bound.
    """
    dialect = _pg_dialect()
    compiled = _textual_ids(stmt).compile(dialect=dialect)
    state = compiled.construct_expanded_state()
    values = []
    names = state.positiontup or ()
    for name, value in zip(names, state.positional_parameters, strict=True):
        process = state.processors.get(name)
        if process is None and name in compiled.binds:
            type_ = compiled.binds[name].type
            process = type_.dialect_impl(dialect).bind_processor(dialect)
        values.append(process(value) if process is not None else value)
    sql = state.statement
    if not values:
        return sql, None
    literals = [_typed_literal(value) for value in values]
    if all(literal is not None for literal in literals):
        return _PLACEHOLDER.sub(lambda m: literals[int(m.group(1)) - 1], sql), None
    columns = []
    for number, value in enumerate(values, start=1):
        value, dtype = _arrow_param(value)
        columns.append(pl.Series(f"p{number}", [value], dtype=dtype))
    return sql, pl.DataFrame(columns)


_PLACEHOLDER = re.compile(r"\$(\d+)(?!\d)")
"""A ``$n`` parameter of the compiled PostgreSQL text."""

_UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def _typed_literal(value: object) -> str | None:
    """``value`` as SQL literal text when it is typed data whose text cannot leave a
    literal — ``NULL``, a boolean, a finite number, a uuid (an ``uuid.UUID`` or text of
    exactly the canonical 8-4-4-4-12 hex form), a date or a datetime (ISO 8601) —
    else ``None`` (free text is never written into SQL; it stays a bound parameter).
    The SQL casts each placeholder to its column's type (``$1::UUID``), so the literal
    takes that type."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"({value})" if -(2**63) <= value < 2**63 else None
    if isinstance(value, float):
        return f"({value!r})" if math.isfinite(value) else None
    if isinstance(value, uuid.UUID):
        return f"'{value}'"
    if isinstance(value, str):
        return f"'{value}'" if _UUID_TEXT.fullmatch(value) else None
    if isinstance(value, dt.datetime | dt.date):
        return f"'{value.isoformat()}'"
    return None


def _arrow_param(value: object) -> tuple[object, pl.DataType]:
    """``(value, polars dtype)`` binding one value; :class:`_NotArrowable` otherwise.

    ``None`` is bound as a text NULL (the SQL casts it to the column's type); a UUID as
    its text (cast to ``uuid`` in the SQL); a Decimal as its exact text (cast to numeric).
    """
    if value is None:
        return None, pl.String()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value), pl.String()
    if isinstance(value, bool):
        return value, pl.Boolean()
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise _NotArrowable(value)
        return value, pl.Int64()
    if isinstance(value, float):
        return value, pl.Float64()
    if isinstance(value, str):
        return value, pl.String()
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value, pl.Datetime("us")
        return value.astimezone(dt.UTC), pl.Datetime("us", "UTC")
    if isinstance(value, dt.date):
        return value, pl.Date()
    raise _NotArrowable(type(value).__name__)


def _fetch_arrow(
    conn: Connection,
    arrow,
    sql: str,
    params: pl.DataFrame | None,
    schema: Mapping[str, pl.DataType],
) -> pl.DataFrame:
    import adbc_driver_manager
    from adbc_driver_manager._reader import AdbcRecordBatchReader

    try:
        statement = adbc_driver_manager.AdbcStatement(arrow)
        try:
            statement.set_sql_query(sql)
            if params is not None:
                statement.bind_stream(params)
            stream, _ = statement.execute_query()
            # ADBC's reader (as its DB-API cursor reads): an error while streaming (a COPY
            # cancelled by statement_timeout) is raised as an ADBC error with its sqlstate
            with AdbcRecordBatchReader._import_from_c(stream.address) as reader:
                frame = pl.from_arrow(reader.read_all())
        finally:
            statement.close()
    except adbc_driver_manager.Error as exc:
        # the connection may be broken (server restart): the next fetch opens a new one
        discard_arrow_connection(conn)
        values = tuple(params.row(0)) if params is not None else ()
        error_class = _error_class(exc)
        if error_class is not None:
            raise error_class(sql, values, exc) from exc
        raise sa.exc.DBAPIError.instance(sql, values, exc, adbc_driver_manager.Error) from exc
    _check_columns(frame.columns, schema)
    return frame.cast(dict(schema))


def _error_class(exc: BaseException) -> type[sa.exc.DBAPIError] | None:
    """The SQLAlchemy error class the row path raises for the server's ``sqlstate`` of an
    ADBC error (psycopg's PEP 249 class of that code: a lock timeout is an
    ``OperationalError`` there, while ADBC names it after its own status); ``None`` when
    the error has no known ``sqlstate`` (connection failures)."""
    import psycopg.errors

    sqlstate = getattr(exc, "sqlstate", None)
    if not sqlstate:
        return None
    try:
        driver_class = psycopg.errors.lookup(sqlstate)
    except KeyError:
        return None
    for klass in driver_class.__mro__:
        found = getattr(sa.exc, klass.__name__, None)
        if isinstance(found, type) and issubclass(found, sa.exc.DBAPIError):
            return found
    return None
