"""A cached benchmark data set gains the indexes the schema added after it was built
(``bench.generate.add_missing_indexes``), so ``make bench`` measures today's schema."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.generate import add_missing_indexes  # noqa: E402

from rfa.db import init_db  # noqa: E402


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
        return {name for (name,) in rows}


def test_a_cached_database_gains_the_schemas_new_index_once(tmp_path):
    path = tmp_path / "cached.sqlite"
    url = f"sqlite:///{path}"
    init_db(url)
    assert "ix_sessions_tree_started_cover" in _indexes(path)
    with sqlite3.connect(path) as conn:  # as built before the index joined the schema
        conn.execute("DROP INDEX ix_sessions_tree_started_cover")
    assert "ix_sessions_tree_started_cover" not in _indexes(path)
    assert add_missing_indexes(url) == ["ix_sessions_tree_started_cover"]
    assert "ix_sessions_tree_started_cover" in _indexes(path)
    assert add_missing_indexes(url) == []


def test_the_session_pages_read_from_the_covering_index(tmp_path):
    """The team/flow pages' session read is answered from the index alone on SQLite."""
    import sqlalchemy as sa

    from rfa.queries.sessions import _sessions_select
    from rfa.window import make_window

    path = tmp_path / "plan.sqlite"
    init_db(f"sqlite:///{path}")
    engine = sa.create_engine(f"sqlite:///{path}")
    stmt = _sessions_select("a" * 32, make_window("90d", "2026-06-01", "UTC"), None, None)
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        plan = " ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    engine.dispose()
    assert "COVERING INDEX ix_sessions_tree_started_cover" in plan, plan
