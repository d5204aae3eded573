"""Secrets (docs/SECURITY.md): the database URL comes from the environment or an untracked
``.env``, never a notebook parameter, and its password reaches no artefact or message.

The publish test connects as a role whose password is a unique sentinel. The
session's server uses ``trust`` authentication (tests/postgres_server.py), so the
password is not verified — but it is in ``RFA_DATABASE_URL``, in every worker's and
kernel's environment, which is what these tests are about: it must not come out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from cli_helpers import run_rfa
from demo_db import ANCHOR
from postgres_server import free_port
from rfa import db
from rfa.config import ENV_FILES, PROJECT_ROOT, Settings, get_settings
from rfa.publish.pipeline import PageJob

SENTINEL = f"s3cr3t-{uuid.uuid4().hex}"
"""The password of this module's URLs: unique per run, so any hit is a leak."""
NEEDLES = (SENTINEL, SENTINEL.split("-", 1)[1])
"""The password and its random part (catches an encoded or truncated copy)."""


def _leaks(text: str) -> bool:
    return any(needle in text for needle in NEEDLES)


def _files(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*") if p.is_file())


# ---------------------------------------------------------------- publishing


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory, pg_server, demo_pg_url):
    """Publish kiwi-tech's team and flow pages as a role whose password is SENTINEL."""
    role = f"rfa_secret_{uuid.uuid4().hex[:8]}"
    database = make_url(demo_pg_url).database
    admin = dict(host=pg_server.host, port=pg_server.port, user=pg_server.superuser)
    with psycopg.connect(**admin, dbname=database, autocommit=True) as conn:
        conn.execute(db.least_privilege_sql(role, database))
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(SENTINEL))
        )
    url = make_url(demo_pg_url).set(username=role, password=SENTINEL)
    root = tmp_path_factory.mktemp("secrets")
    publish_dir, build_dir = root / "published", root / "build"
    try:
        result = run_rfa(
            [
                "publish",
                "--account",
                "kiwi-tech",
                "-d",
                "team",
                "-d",
                "flow",
                "--as-of",
                ANCHOR.isoformat(),
                "--workers",
                "2",
            ],
            url=url.render_as_string(hide_password=False),
            publish_dir=publish_dir,
            build_dir=build_dir,
        )
    finally:
        with psycopg.connect(**admin, dbname=database, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    return result, publish_dir, build_dir


@pytest.mark.postgres
@pytest.mark.slow
def test_publish_with_a_password_in_the_url_succeeds(secret_run):
    result, publish_dir, _ = secret_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert (publish_dir / "kiwi-tech" / "admin" / "team-30d.html").exists()
    assert list((publish_dir / "kiwi-tech" / "members").glob("flow-*-30d.html"))


@pytest.mark.postgres
@pytest.mark.slow
def test_no_artefact_holds_the_password(secret_run):
    result, publish_dir, build_dir = secret_run
    files = _files(publish_dir, build_dir)
    names = {p.name for p in files}
    suffixes = {p.suffix for p in files}
    # the search covers every kind of artefact a publish leaves behind
    assert {"manifest.json", "index.html", "page.ipynb", "page.html", "page.json"} <= names
    assert {".html", ".json", ".ipynb", ".log"} <= suffixes
    leaked = [str(p) for p in files if _leaks(p.read_bytes().decode("utf-8", "replace"))]
    assert leaked == []
    assert not _leaks(result.stdout + result.stderr)


@pytest.mark.postgres
@pytest.mark.slow
def test_executed_notebooks_have_no_url_parameter(secret_run):
    _, _, build_dir = secret_run
    notebooks = sorted(build_dir.rglob("page.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        parameters = nb.metadata["papermill"]["parameters"]
        assert set(parameters) <= {"account", "period", "as_of", "data_file", "flow"}, parameters
        assert "postgresql" not in json.dumps(nb.metadata)


def test_page_parameters_never_carry_the_database_url(monkeypatch):
    monkeypatch.setenv("RFA_DATABASE_URL", f"postgresql+psycopg://u:{SENTINEL}@h/db")
    job = PageJob(
        dashboard="flow",
        account_slug="acme",
        account_name="Acme",
        timezone="UTC",
        period="30d",
        as_of=ANCHOR.isoformat(),
        scope_id="t1",
        scope_name="VPN",
    )
    assert not _leaks(json.dumps(job.parameters(Path("page.json"))))
    assert not _leaks(job.model_dump_json())


def test_notebooks_declare_no_database_parameter():
    for path in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(cells) == 1, path.name
        code = [
            line.split("#", 1)[0].lower() for line in cells[0].source.splitlines()
        ]  # comments may mention RFA_DATABASE_URL
        for word in ("url", "database", "password", "dsn", "secret"):
            assert not any(word in line for line in code), (path.name, word)


# ---------------------------------------------------------------- failures


def _assert_masked_failure(result, publish_dir: Path, *needles: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    assert "Traceback" not in output
    message = " ".join(result.stderr.split())
    assert message.startswith("error:"), message
    assert "***" in message
    for needle in needles:
        assert needle in message, message
    assert not _leaks(output)
    assert not publish_dir.exists() or _files(publish_dir) == []


def test_unreachable_server_error_masks_the_password(tmp_path):
    port = free_port()
    url = f"postgresql+psycopg://rfa_reader:{SENTINEL}@127.0.0.1:{port}/resolutionflow"
    publish_dir = tmp_path / "published"
    result = run_rfa(
        ["publish", "--account", "kiwi-tech"],
        url=url,
        publish_dir=publish_dir,
        timeout=120,
        env={"RFA_DB_RETRIES": "1"},
    )
    _assert_masked_failure(
        result, publish_dir, f"rfa_reader:***@127.0.0.1:{port}/resolutionflow", "unreachable"
    )


@pytest.mark.postgres
def test_unknown_database_error_masks_the_password(tmp_path, pg_server):
    name = f"no_such_db_{uuid.uuid4().hex[:8]}"
    user, server = pg_server.superuser, f"{pg_server.host}:{pg_server.port}"
    url = f"postgresql+psycopg://{user}:{SENTINEL}@{server}/{name}"
    publish_dir = tmp_path / "published"
    result = run_rfa(["publish", "--account", "kiwi-tech"], url=url, publish_dir=publish_dir)
    _assert_masked_failure(
        result, publish_dir, f"{user}:***@{server}/{name}", f"database '{name}' does not exist"
    )


@pytest.mark.postgres
def test_unknown_role_error_masks_the_password(tmp_path, pg_server):
    server = f"{pg_server.host}:{pg_server.port}"
    url = f"postgresql+psycopg://nobody_here:{SENTINEL}@{server}/postgres"
    publish_dir = tmp_path / "published"
    result = run_rfa(["accounts"], url=url, publish_dir=publish_dir)
    _assert_masked_failure(result, publish_dir, "nobody_here:***@", "role 'nobody_here' does not")


def test_misparsed_password_is_masked_in_errors(tmp_path):
    # an unescaped '@', '/' and '?' in the password: SQLAlchemy parses host "b", database
    # "c" and a query holding the rest, but the message masks the URL as it was given
    url = f"postgresql+psycopg://rfa:a@b/c?{SENTINEL}@127.0.0.1:{free_port()}/rf"
    result = run_rfa(
        ["accounts"], url=url, publish_dir=tmp_path / "published", env={"RFA_DB_RETRIES": "1"}
    )
    assert result.returncode in (2, 3), result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not _leaks(result.stdout + result.stderr)


def test_listing_commands_mask_the_password_too(tmp_path):
    url = f"postgresql+psycopg://rfa_reader:{SENTINEL}@127.0.0.1:{free_port()}/resolutionflow"
    for args in (["accounts"], ["flows", "-a", "kiwi-tech"]):
        result = run_rfa(
            args, url=url, publish_dir=tmp_path / "published", env={"RFA_DB_RETRIES": "1"}
        )
        _assert_masked_failure(result, tmp_path / "published", "rfa_reader:***@127.0.0.1")


# ---------------------------------------------------------------- mask_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"postgresql+psycopg://rfa:{SENTINEL}@db.internal:5432/rf",
            "postgresql+psycopg://rfa:***@db.internal:5432/rf",
        ),
        (f"postgresql://rfa:{SENTINEL}@[::1]:5432/rf", "postgresql://rfa:***@[::1]:5432/rf"),
        (f"postgresql+psycopg://:{SENTINEL}@h/rf", "postgresql+psycopg://:***@h/rf"),
        (  # percent-encoded characters
            f"postgresql+psycopg://rfa:p%40ss%2F{SENTINEL}@h/rf",
            "postgresql+psycopg://rfa:***@h/rf",
        ),
        (  # unescaped @, / and ? in the password (SQLAlchemy itself misparses these)
            f"postgresql+psycopg://rfa:a@b/c?{SENTINEL}@h:5432/rf",
            "postgresql+psycopg://rfa:***@h:5432/rf",
        ),
        (  # the password as a query parameter, and a unix socket host
            f"postgresql+psycopg://rfa@/rf?host=/run/pg&password={SENTINEL}&sslmode=require",
            "postgresql+psycopg://rfa@/rf?host=/run/pg&password=***&sslmode=require",
        ),
        (  # several hosts: not a URL SQLAlchemy can parse, masked all the same
            f"postgresql+psycopg://rfa:{SENTINEL}@h1:5432,h2:5433/rf",
            "postgresql+psycopg://rfa:***@h1:5432,h2:5433/rf",
        ),
        (  # a libpq key=value string
            f"host=h dbname=rf user=rfa password='{SENTINEL} x' sslmode=require",
            "host=h dbname=rf user=rfa password=*** sslmode=require",
        ),
        ("postgresql+psycopg://rfa@h/rf", "postgresql+psycopg://rfa@h/rf"),
        ("sqlite:////srv/data/demo.sqlite", "sqlite:////srv/data/demo.sqlite"),
    ],
)
def test_mask_url_masks_every_url_form(url, shown):
    assert db.mask_url(url) == shown
    assert not _leaks(db.mask_url(url))


def test_mask_url_masks_sqlalchemy_url_objects():
    url = make_url(f"postgresql+psycopg://rfa:{SENTINEL}@h/rf?password={SENTINEL}")
    assert db.mask_url(url) == "postgresql+psycopg://rfa:***@h/rf?password=***"


def test_mask_secrets_masks_urls_and_assignments_in_free_text():
    text = (
        f"could not reach postgresql+psycopg://rfa:{SENTINEL}@h/rf (PGPASSWORD={SENTINEL}); "
        f"dsn host=h password={SENTINEL}"
    )
    masked = db.mask_secrets(text)
    assert not _leaks(masked)
    assert "postgresql+psycopg://rfa:***@h/rf" in masked
    assert "PGPASSWORD=***" in masked


def test_engine_and_settings_reprs_hide_the_password(monkeypatch):
    url = f"postgresql+psycopg://rfa:{SENTINEL}@127.0.0.1:1/rf"
    monkeypatch.setenv("RFA_DATABASE_URL", url)
    settings = get_settings()
    assert settings.database_url == url
    assert not _leaks(repr(settings)) and not _leaks(str(settings))
    engine = db.create_engine()
    try:
        assert not _leaks(repr(engine)) and not _leaks(str(engine.url))
    finally:
        engine.dispose()


# ---------------------------------------------------------------- .env


def test_settings_read_the_url_from_a_dotenv_file_in_the_current_directory(tmp_path, monkeypatch):
    url = f"postgresql+psycopg://rfa:{SENTINEL}@db.internal:5432/rf"
    (tmp_path / ".env").write_text(f"# local secrets\nRFA_DATABASE_URL={url}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RFA_DATABASE_URL", raising=False)
    assert get_settings().database_url == url
    # the environment wins over .env
    monkeypatch.setenv("RFA_DATABASE_URL", "sqlite:////elsewhere.sqlite")
    assert get_settings().database_url == "sqlite:////elsewhere.sqlite"


def test_settings_read_the_project_root_dotenv_file(tmp_path, monkeypatch):
    assert ENV_FILES[0] == str(PROJECT_ROOT / ".env")
    env_file = tmp_path / "root.env"
    env_file.write_text("RFA_DATABASE_URL=sqlite:////from/root.sqlite\nRFA_LOCK_TIMEOUT_MS=42\n")
    monkeypatch.chdir(tmp_path)
    for name in ("RFA_DATABASE_URL", "RFA_LOCK_TIMEOUT_MS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=(str(env_file), ".env"))
    assert (settings.database_url, settings.lock_timeout_ms) == ("sqlite:////from/root.sqlite", 42)


def test_cli_uses_the_dotenv_url(tmp_path, demo_sqlite_url):
    (tmp_path / ".env").write_text(f"RFA_DATABASE_URL={demo_sqlite_url}\n")
    env = {k: v for k, v in os.environ.items() if k != "RFA_DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "rfa.cli", "accounts"],
        cwd=tmp_path,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kiwi-tech" in result.stdout


def test_dotenv_is_ignored_by_git():
    patterns = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in [p.strip() for p in patterns]
    if (PROJECT_ROOT / ".git").exists():
        for name in (".env", "lib/.env"):
            check = subprocess.run(
                ["git", "-C", str(PROJECT_ROOT), "check-ignore", "-q", name],
                capture_output=True,
                check=False,
            )
            assert check.returncode == 0, (name, check.stderr)
        tracked = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "ls-files", "--", "*.env", ".env"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert tracked.stdout.strip() == ""
