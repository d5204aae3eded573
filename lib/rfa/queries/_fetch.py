"""Run a Core statement and return a polars DataFrame with a fixed schema."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

UTC_TS = pl.Datetime("us", "UTC")
"""Dtype of every timestamp column the queries return (aware UTC, microseconds)."""


def fetch(conn: Connection, stmt: sa.Select, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Execute ``stmt`` on ``conn`` and return its rows as a DataFrame of ``schema``.

    The statement's selected labels must equal ``schema``'s keys, in order; the
    explicit schema keeps dtypes stable for empty results and across SQLite and
    PostgreSQL. Raises ``ValueError`` if the labels and schema disagree.
    """
    result = conn.execute(stmt)
    columns = list(result.keys())
    if columns != list(schema):
        raise ValueError(f"query returns {columns}, schema expects {list(schema)}")
    return pl.DataFrame(result.all(), schema=dict(schema), orient="row")
