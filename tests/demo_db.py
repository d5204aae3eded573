"""The small demo database shared by a test session (built once, read-only afterwards)."""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import shutil
import tempfile
from pathlib import Path

TEST_SEED = 11
TEST_SCALE = 0.03
ANCHOR = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(), tzinfo=dt.UTC)
"""End of the test demo history: today 00:00 UTC, so "now" windows hold data."""


@functools.cache
def demo_rows() -> dict[str, list[dict]]:
    """The generated rows of the test demo (same for SQLite and PostgreSQL)."""
    from rfa.demo import generate

    return generate(seed=TEST_SEED, scale=TEST_SCALE, anchor=ANCHOR)


@functools.cache
def demo_sqlite_path() -> Path:
    """Build the test demo SQLite database once per process; return its path."""
    from rfa.db import init_db
    from rfa.demo import load

    folder = Path(tempfile.mkdtemp(prefix="rfa-demo-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "demo.sqlite"
    url = f"sqlite:///{path}"
    init_db(url)
    load(url, demo_rows())
    return path
