"""Values SQLite stores with the wrong type: read as missing, and counted (issue 16 §12).

PostgreSQL enforces a column's type; SQLite keeps whatever it is given, so a replica
or a hand-edited file can hold ``'five'`` in an ``INTEGER`` rating column or
``'yesterday'`` in a timestamp column. Read as they are, such values fail the page
(polars cannot put text in an ``Int64`` column; a timestamp that does not parse stops the
read) or — for the timestamp a query filters on — drop out of every window unseen (a
text compares as text with the window's bounds).

Two expressions, used by the query builders of :mod:`rfa.queries`:

* :func:`readable` — the column itself on every backend except SQLite, where a value of
  the wrong storage class reads as ``NULL`` (the screening of :mod:`rfa.validation`
  then treats it as missing: a CSAT rating without a value is dropped as
  ``rating_out_of_range``, an AI session's rating or confidence is unrated, …);
* :func:`unreadable` — true where :func:`readable` would read ``NULL`` from a non-null
  value (always false outside SQLite).

What "readable" means on SQLite, per column type:

* ``Integer``: storage class ``integer``;
* ``Float``: ``integer`` or ``real``;
* :class:`rfa.db.UTCDateTime`: ``text`` that SQLite reads as a time and whose date part
  is a real calendar date (``date(v, '+0 days') = substr(v, 1, 10)``: rejects
  ``yesterday``, ``2026-11-12 25:61:00`` and ``2026-02-31``, which SQLite rolls over to
  March and Python refuses) — the naive UTC text :class:`~rfa.db.UTCDateTime` writes,
  with or without a fraction or a ``T``.

The counts of unreadable rows are queries of their own (``unreadable_*_query`` in the
modules of each table), reported by :meth:`rfa.validation.Screening.unreadable`.
"""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from rfa.db import UTCDateTime
from rfa.queries._fetch import fetch


def _sqlite_ok(column: ColumnElement) -> ColumnElement[bool]:
    """True where SQLite holds ``column``'s value with its declared type (null: true)."""
    kind = sa.func.typeof(column)
    type_ = column.type
    if isinstance(type_, UTCDateTime):
        # date(v, '+0 days') is NULL for text SQLite cannot read as a time, and rolls an
        # impossible day over (2026-02-31 → 2026-03-03), so equality with the text's own
        # date part holds exactly for readable, real dates (coalesce: never NULL)
        same_day = sa.func.date(column, "+0 days") == sa.func.substr(column, 1, 10)
        good = sa.and_(kind == "text", sa.func.coalesce(same_day, False))
    elif isinstance(type_, sa.Float | sa.Numeric):
        good = kind.in_(["integer", "real"])
    elif isinstance(type_, sa.Integer):
        good = kind == "integer"
    else:
        raise TypeError(f"no storage check for a {type_!r} column ({column})")
    return sa.or_(column.is_(None), good)


class _Readable(ColumnElement):
    """``column`` read as ``NULL`` where SQLite stores it with the wrong type."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement) -> None:
        self.column = column
        self.type = column.type

    @property
    def _from_objects(self):
        return self.column._from_objects


class _Unreadable(ColumnElement):
    """True where SQLite stores a non-null ``column`` value with the wrong type."""

    inherit_cache = True
    type = sa.Boolean()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement) -> None:
        self.column = column

    @property
    def _from_objects(self):
        return self.column._from_objects


@compiles(_Readable)
def _readable_default(element: _Readable, compiler, **kw) -> str:
    return compiler.process(element.column, **kw)


@compiles(_Readable, "sqlite")
def _readable_sqlite(element: _Readable, compiler, **kw) -> str:
    column = element.column
    return compiler.process(sa.case((_sqlite_ok(column), column)), **kw)


@compiles(_Unreadable)
def _unreadable_default(element: _Unreadable, compiler, **kw) -> str:
    return compiler.process(sa.false(), **kw)


@compiles(_Unreadable, "sqlite")
def _unreadable_sqlite(element: _Unreadable, compiler, **kw) -> str:
    return compiler.process(sa.not_(_sqlite_ok(element.column)), **kw)


def readable(column: ColumnElement, label: str | None = None) -> ColumnElement:
    """``column`` as a query selects it: itself, except on SQLite, where a value stored
    with the wrong type (module docstring) reads as ``NULL``. Keeps the column's type
    (so its result processing is unchanged) and is labelled ``label`` or the column's
    name. Raises ``TypeError`` for a column type without a storage check."""
    _sqlite_ok(column)  # refuse a type without a check now, not when compiled
    return _Readable(column).label(label or column.name)


def unreadable(*columns: ColumnElement) -> ColumnElement[bool]:
    """True where any of ``columns`` holds a non-null value that :func:`readable` reads as
    ``NULL`` (SQLite only; ``false`` on every other backend)."""
    for column in columns:
        _sqlite_ok(column)
    return sa.or_(*(_Unreadable(column) for column in columns))


UNREADABLE_SCHEMA: dict[str, pl.DataType] = {"unreadable": pl.Int64}
"""Columns of every ``unreadable_*_query``: one row, the count of unreadable rows."""


def count_unreadable(conn: Connection, stmt: sa.Select) -> int:
    """Run an ``unreadable_*_query``; the count (0 on PostgreSQL, where its condition is
    ``false``). Errors: those of :func:`rfa.queries._fetch.fetch`."""
    return int(fetch(conn, stmt, UNREADABLE_SCHEMA)["unreadable"][0] or 0)
