"""Root pytest configuration, shared by tests/ and the nbval run over notebooks/.

Notebook kernels inherit the environment of the pytest process when they
start, which happens while collectors are set up — before any fixture runs. So
when notebooks are collected, the small demo database is built and
``RFA_DATABASE_URL`` pointed at it in ``pytest_collection_finish``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "tests"))

from demo_db import demo_sqlite_path  # noqa: E402


def pytest_collection_finish(session) -> None:
    if any(str(item.fspath).endswith(".ipynb") for item in session.items):
        os.environ["RFA_DATABASE_URL"] = f"sqlite:///{demo_sqlite_path()}"
