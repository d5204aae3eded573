"""Values stored with the wrong type on SQLite (issue 16 §12): which ones
:func:`rfa.queries.storage.readable` reads and which it reads as missing, on a real SQLite
file; and that PostgreSQL's SQL is the plain column."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from factories_db import TinyDB, at
from rfa import db
from rfa.queries.storage import readable, unreadable

VALUES = {
    # column: [(stored value, readable?)]
    # '4' is stored as the integer 4 (SQLite's column affinity), so it reads as 4
    "rating": [(4, True), ("five", False), ("4", True), (4.5, False)],
    "match_confidence": [(0.5, True), (1, True), ("high", False), (None, True)],
    "created_at": [
        ("2026-11-12 10:00:00.000000", True),
        ("2026-11-12 10:00:00", True),
        ("2026-11-12T10:00:00", True),
        ("yesterday", False),
        ("2026-11-12 25:61:00", False),
        ("2026-02-31 10:00:00", False),  # SQLite would roll it to March; Python refuses
        (1763000000, False),  # a Unix time: not what the schema stores
    ],
}


def _read(tiny: TinyDB, table: sa.Table, column: str, value) -> tuple[object, bool]:
    tiny.raw(f"UPDATE {table.name} SET {column} = ?", value)
    col = table.c[column]
    with db.connect(tiny.url) as conn:
        row = conn.execute(sa.select(readable(col), unreadable(col).label("bad"))).one()
    return row[0], bool(row[1])


def test_values_of_the_wrong_type_read_as_missing_and_count_as_unreadable(tmp_path):
    tiny = TinyDB(tmp_path / "storage.sqlite")
    acc = tiny.account("acct-s")
    flow = tiny.flow(acc, "s-flow")
    user = tiny.user(acc, "s-user")
    session = tiny.session(flow, user, "s-s", "2026-11-12 09:00")
    tiny.rating(acc, flow, session, user, "s-r", "2026-11-12 10:00")
    tiny.ai_session(acc, "s-ai", "2026-11-12 10:00", flow=flow)
    for column, cases in VALUES.items():
        table = db.session_ratings if column in ("rating", "created_at") else db.ai_sessions
        for value, ok in cases:
            read, bad = _read(tiny, table, column, value)
            assert bad is (not ok), (column, value)
            if not ok or value is None:
                assert read is None, (column, value)
            elif column == "created_at":
                assert read == at("2026-11-12 10:00"), value
            else:
                assert read == float(value), (column, value)


def test_postgresql_reads_the_plain_column():
    r = db.session_ratings.c
    stmt = sa.select(readable(r.rating), readable(r.created_at)).where(
        sa.not_(unreadable(r.created_at))
    )
    sql = str(stmt.compile(dialect=postgresql.dialect()))
    assert "typeof" not in sql and "CASE" not in sql
    assert "session_ratings.rating AS rating" in sql
