"""Settings from the environment (or an untracked ``.env`` file).

Secrets (the database URL and its credentials) are read here and nowhere else;
they are never notebook parameters, so papermill never writes them into an
executed notebook.

Environment variables:

``RFA_DATABASE_URL``
    SQLAlchemy URL of the ResolutionFlow database, e.g.
    ``postgresql+psycopg://rfa_reader@db.internal:5432/resolutionflow``.
    Default: the embedded SQLite demo database ``data/demo.sqlite``.
``RFA_PUBLISH_DIR``
    Where pages are published. Default: ``published/`` in the project root.
``RFA_BUILD_DIR``
    Where pages are executed and rendered before publishing. Default: ``build/``.
``RFA_NOTEBOOK_DIR``
    The dashboard notebooks. Default: ``notebooks/`` in the project root.
``RFA_DB_RETRIES``
    Attempts for transient database errors (connection refused or reset,
    serialization failure). Default: 4.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The repository root (``lib/rfa`` is two levels below it)."""

DEMO_DB_PATH = PROJECT_ROOT / "data" / "demo.sqlite"


def demo_database_url(path: Path = DEMO_DB_PATH) -> str:
    """SQLAlchemy URL of the embedded SQLite demo database at ``path``."""
    return f"sqlite:///{path}"


class Settings(BaseSettings):
    """Runtime settings; construct with :func:`get_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="RFA_", env_file=str(PROJECT_ROOT / ".env"), extra="ignore"
    )

    database_url: str = Field(default_factory=demo_database_url)
    publish_dir: Path = PROJECT_ROOT / "published"
    build_dir: Path = PROJECT_ROOT / "build"
    notebook_dir: Path = PROJECT_ROOT / "notebooks"


def absolute_sqlite_url(url: str) -> str:
    """Make a relative SQLite path absolute (from the current directory), so kernels that
    run in a page's build directory open the same file; other URLs are returned as is."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - rfa.db.create_engine reports bad URLs clearly
        return url
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return url
    if Path(database).is_absolute():
        return url
    return parsed.set(database=str(Path(database).resolve())).render_as_string(hide_password=False)


def get_settings() -> Settings:
    """Read the settings afresh from the environment (no caching: tests change it)."""
    return Settings()
