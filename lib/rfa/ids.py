"""Ids in the two forms the query layer reads them in.

Every id in ResolutionFlow is a uuid. Frames read for display carry it as its canonical
text (``String``, lowercase with hyphens). Frames read in bulk with ``compact=True``
(:func:`rfa.queries.sessions.sessions_frame`, :func:`rfa.queries.ratings.ratings_frame`:
the team page's millions of sessions) carry it in the backend's compact form: on
PostgreSQL its 16 bytes (``Binary``; the server writes no text per row and nothing here
converts a million of them), on SQLite the usual text. Ids of the two forms never compare
equal: convert the few lookup ids with :func:`to_compact`, and a shown id with
:func:`id_text`.
"""

from __future__ import annotations

import uuid

import polars as pl


def to_compact(ids: pl.Series, as_bytes: bool) -> pl.Series:
    """Text uuids (``String``: canonical, or without hyphens, any case) in the compact form:
    their 16 bytes (``Binary``) when ``as_bytes`` (PostgreSQL,
    :func:`rfa.queries.sessions.compact_ids`), else unchanged; a ``Binary`` series is
    returned as it is. Nulls stay null. Meant for lookups (users, flows: thousands of ids).
    Raises ``polars.exceptions.ComputeError`` for text that is not 32 hex digits."""
    if not as_bytes or ids.dtype == pl.Binary:
        return ids
    compact = ids.str.replace_all("-", "", literal=True).str.decode("hex")
    wrong = ids.filter(compact.bin.size() != 16)
    if wrong.len():
        raise pl.exceptions.ComputeError(f"{ids.name}: not a uuid: {wrong[0]!r}")
    return compact


def id_text(value: str | bytes | None) -> str | None:
    """A shown id as its canonical text: 16 bytes (a compact id) as ``str(uuid.UUID)``,
    text unchanged, None as None. Raises ``ValueError`` for bytes that are not 16 long."""
    if isinstance(value, bytes):
        return str(uuid.UUID(bytes=value))
    return value


def texts(ids: pl.Series) -> pl.Series:
    """A series of ids as canonical text (``String``): compact ids converted one by one with
    :func:`id_text` (for the few shown rows), text returned as it is."""
    if ids.dtype != pl.Binary:
        return ids
    return pl.Series(ids.name, [id_text(v) for v in ids.to_list()], dtype=pl.String)
