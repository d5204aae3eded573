"""Read-only by construction (docs/SECURITY.md).

* Every engine the library opens for reading is read-only: on PostgreSQL its
  sessions run read-only transactions with ``statement_timeout``, ``lock_timeout``
  and ``application_name``; on SQLite the file is opened ``mode=ro``.
* Only the write paths (``init_db`` and the demo loader) ask for ``read_only=False``.
* The least-privilege role of the README (:func:`rfa.db.least_privilege_sql`) holds
  SELECT on the source tables and nothing else, cannot write, and is enough to run
  the real publish path.

The session's PostgreSQL server uses ``trust`` authentication for its 127.0.0.1
connections (tests/postgres_server.py): a password in a URL is accepted but not
checked. That does not weaken these tests: they are about what a role may *do*
once connected, which the server checks regardless of how it authenticated.
"""

from __future__ import annotations

import ast
import hashlib
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import make_url

from cli_helpers import run_rfa
from demo_db import ANCHOR
from rfa import db
from rfa.config import APPLICATION_NAME, PROJECT_ROOT
from rfa.publish.site import load_records

READ_ONLY_ERROR = r"cannot execute [A-Z ]+ in a read-only transaction"
WRITES = {
    "insert": "INSERT INTO accounts (id, name, slug) "
    "VALUES ('00000000-0000-4000-8000-0000000000ff', 'Intruder', 'intruder')",
    "update": "UPDATE accounts SET name = 'changed'",
    "delete": "DELETE FROM session_ratings",
    "create": "CREATE TABLE rfa_must_not_exist (x integer)",
}
TIMEOUT_VARIABLES = ("RFA_STATEMENT_TIMEOUT_MS", "RFA_LOCK_TIMEOUT_MS")


@pytest.fixture(autouse=True)
def _default_settings(monkeypatch):
    """Defaults for the connection settings, whatever the developer's environment says."""
    for name in (*TIMEOUT_VARIABLES, "RFA_DB_POOL_SIZE", "RFA_DB_MAX_OVERFLOW"):
        monkeypatch.delenv(name, raising=False)


def superuser(pg_server, url: str) -> psycopg.Connection:
    """An autocommit superuser connection to the database of ``url`` (to grant, to check)."""
    return psycopg.connect(
        host=pg_server.host,
        port=pg_server.port,
        user=pg_server.superuser,
        dbname=make_url(url).database,
        autocommit=True,
    )


def _settings(conn: sa.Connection) -> dict[str, str]:
    rows = conn.execute(
        sa.text(
            "SELECT name, setting FROM pg_settings WHERE name IN ('statement_timeout', "
            "'lock_timeout', 'application_name', 'default_transaction_read_only', "
            "'transaction_read_only')"
        )
    )
    return dict(rows.all())


# ---------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
@pytest.mark.parametrize("statement", WRITES.values(), ids=WRITES.keys())
def test_postgres_connection_refuses_writes(demo_pg_url, statement):
    # demo_pg_url names the server's superuser: only the session mode stops the write
    with db.connect(demo_pg_url) as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(db.accounts)).scalar()
        with pytest.raises(sa.exc.DBAPIError, match=READ_ONLY_ERROR):
            conn.execute(sa.text(statement))
        conn.rollback()
        after = conn.execute(sa.select(sa.func.count()).select_from(db.accounts)).scalar()
    assert before == after > 0


@pytest.mark.postgres
def test_postgres_sessions_carry_timeouts_and_application_name(demo_pg_url):
    with db.connect(demo_pg_url) as conn:
        assert _settings(conn) == {
            "statement_timeout": "120000",
            "lock_timeout": "5000",
            "application_name": APPLICATION_NAME,
            "default_transaction_read_only": "on",
            "transaction_read_only": "on",
        }
        assert conn.execute(sa.text("SHOW application_name")).scalar() == APPLICATION_NAME
        assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "2min"
        assert conn.execute(sa.text("SHOW lock_timeout")).scalar() == "5s"


@pytest.mark.postgres
def test_postgres_timeouts_follow_the_settings(demo_pg_url, monkeypatch):
    monkeypatch.setenv("RFA_STATEMENT_TIMEOUT_MS", "4321")
    monkeypatch.setenv("RFA_LOCK_TIMEOUT_MS", "1234")
    with db.connect(demo_pg_url) as conn:
        assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "4321ms"
        assert conn.execute(sa.text("SHOW lock_timeout")).scalar() == "1234ms"


@pytest.mark.postgres
def test_url_options_cannot_switch_read_only_off(demo_pg_url):
    url = f"{demo_pg_url}?options=-c%20default_transaction_read_only%3Doff&application_name=ops"
    with db.connect(url) as conn:
        settings = _settings(conn)
        assert settings["default_transaction_read_only"] == "on"
        assert settings["application_name"] == "ops"  # the URL may rename the session
        with pytest.raises(sa.exc.DBAPIError, match=READ_ONLY_ERROR):
            conn.execute(sa.text(WRITES["insert"]))


@pytest.mark.postgres
def test_runaway_query_is_cancelled_by_statement_timeout(demo_pg_url, monkeypatch):
    monkeypatch.setenv("RFA_STATEMENT_TIMEOUT_MS", "200")
    with db.connect(demo_pg_url) as conn:
        with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
            conn.execute(sa.text("SELECT pg_sleep(5)"))


@pytest.mark.postgres
def test_locked_table_fails_fast_with_lock_timeout(pg_server, pg_url, monkeypatch):
    db.init_db(pg_url)
    monkeypatch.setenv("RFA_LOCK_TIMEOUT_MS", "200")
    with superuser(pg_server, pg_url) as admin, admin.transaction():
        admin.execute("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
        with db.connect(pg_url) as conn:
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                conn.execute(sa.select(sa.func.count()).select_from(db.accounts))


@pytest.mark.postgres
def test_postgres_pool_is_bounded(demo_pg_url, monkeypatch):
    engine = db.create_engine(demo_pg_url)
    try:
        assert (engine.pool.size(), engine.pool._max_overflow, engine.pool._pre_ping) == (
            2,
            2,
            True,
        )
    finally:
        engine.dispose()
    monkeypatch.setenv("RFA_DB_POOL_SIZE", "5")
    monkeypatch.setenv("RFA_DB_MAX_OVERFLOW", "0")
    engine = db.create_engine(demo_pg_url)
    try:
        assert (engine.pool.size(), engine.pool._max_overflow) == (5, 0)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_init_db_and_writable_engines_still_write_on_postgres(pg_url):
    db.init_db(pg_url)  # read_only=False inside
    engine = db.create_engine(pg_url, read_only=False)
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("SHOW transaction_read_only")).scalar() == "off"
            assert conn.execute(sa.text("SHOW application_name")).scalar() == APPLICATION_NAME
            conn.execute(sa.text(WRITES["insert"]))
        with db.connect(pg_url) as conn:
            assert conn.execute(sa.select(db.accounts.c.slug)).scalars().all() == ["intruder"]
    finally:
        engine.dispose()


# ---------------------------------------------------------------- SQLite


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def sqlite_copy(tmp_path, demo_sqlite_url) -> Path:
    """A private copy of the demo SQLite file (in a folder with a space and a #)."""
    folder = tmp_path / "a folder #1"
    folder.mkdir()
    target = folder / "demo.sqlite"
    shutil.copyfile(make_url(demo_sqlite_url).database, target)
    return target


@pytest.mark.parametrize("statement", WRITES.values(), ids=WRITES.keys())
def test_sqlite_connection_refuses_writes_and_leaves_the_file_unchanged(sqlite_copy, statement):
    before = _digest(sqlite_copy)
    with db.connect(f"sqlite:///{sqlite_copy}") as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.accounts)).scalar() > 0
        with pytest.raises(sa.exc.OperationalError, match="attempt to write a readonly database"):
            conn.execute(sa.text(statement))
            conn.commit()
    assert _digest(sqlite_copy) == before
    assert sorted(p.name for p in sqlite_copy.parent.iterdir()) == ["demo.sqlite"]  # no journal


def test_sqlite_relative_path_is_opened_read_only(sqlite_copy, monkeypatch):
    monkeypatch.chdir(sqlite_copy.parent.parent)
    with db.connect(f"sqlite:///{sqlite_copy.parent.name}/demo.sqlite") as conn:
        with pytest.raises(sa.exc.OperationalError, match="readonly database"):
            conn.execute(sa.text(WRITES["delete"]))


def test_sqlite_in_memory_engine_is_query_only():
    engine = db.create_engine("sqlite://")
    try:
        with engine.connect() as conn:
            with pytest.raises(sa.exc.OperationalError, match="readonly database"):
                conn.execute(sa.text(WRITES["create"]))
    finally:
        engine.dispose()


def test_missing_sqlite_file_is_still_reported_clearly(tmp_path):
    from rfa.errors import DatabaseUnavailable

    with pytest.raises(DatabaseUnavailable, match="SQLite database file not found"):
        db.create_engine(f"sqlite:///{tmp_path}/absent.sqlite")
    assert not (tmp_path / "absent.sqlite").exists()


def test_init_db_and_writable_engines_still_write_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path}/new/fresh.sqlite"
    db.init_db(url)
    engine = db.create_engine(url, read_only=False)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(WRITES["insert"]))
    finally:
        engine.dispose()
    with db.connect(url) as conn:
        assert conn.execute(sa.select(db.accounts.c.slug)).scalars().all() == ["intruder"]


def _calls(tree: ast.AST, name: str) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called == name:
                yield node


def test_only_the_write_paths_open_writable_engines():
    """Every engine of the library comes from rfa.db.create_engine, read-only unless it
    is one of the two write paths: rfa.db.init_db and the demo loader rfa.demo.load."""
    writable, raw = set(), []
    for path in sorted((PROJECT_ROOT / "lib" / "rfa").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(PROJECT_ROOT / "lib").as_posix()
        for call in _calls(tree, "create_engine"):
            if isinstance(call.func, ast.Attribute) and where != "rfa/db.py":
                raw.append(f"{where}:{call.lineno}")  # sa.create_engine bypasses read-only
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            for call in _calls(function, "create_engine"):
                for kw in call.keywords:
                    if kw.arg == "read_only" and not (
                        isinstance(kw.value, ast.Constant) and kw.value.value is True
                    ):
                        writable.add(f"{where}::{function.name}")
    assert raw == []
    assert writable == {"rfa/db.py::init_db", "rfa/demo.py::load"}


# ---------------------------------------------------------------- least privilege


def test_least_privilege_sql_grants_select_on_every_source_table_only():
    text = db.least_privilege_sql("rfa_reader", "resolutionflow")
    grants = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("GRANT")]
    assert grants == [
        "GRANT CONNECT ON DATABASE resolutionflow TO rfa_reader;",
        "GRANT USAGE ON SCHEMA public TO rfa_reader;",
        "GRANT SELECT ON",
    ]
    listed = re.findall(r"^\s+public\.(\w+),?$", text, flags=re.M)
    assert sorted(listed) == sorted(t.name for t in db.TABLES)
    for bad in ("Reader", "rfa-reader", "x; DROP TABLE users", ""):
        with pytest.raises(ValueError):
            db.least_privilege_sql(bad)


def test_readme_shows_the_same_least_privilege_sql():
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Pointing it at a real ResolutionFlow database", 1)[1]
    section = section.split("\n## ", 1)[0]
    assert db.least_privilege_sql("rfa_reader", "resolutionflow") in section


@pytest.fixture
def reader(pg_server, demo_pg_url) -> Iterator[tuple[str, str]]:
    """A role made with the README's SQL on the demo database: (role, URL with password)."""
    role = f"rfa_reader_{uuid.uuid4().hex[:8]}"
    password = f"pw-{uuid.uuid4().hex}"  # trust auth: in the URL, not verified
    database = make_url(demo_pg_url).database
    with superuser(pg_server, demo_pg_url) as conn:
        conn.execute(db.least_privilege_sql(role, database))
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
        )
    url = make_url(demo_pg_url).set(username=role, password=password)
    try:
        yield role, url.render_as_string(hide_password=False)
    finally:
        with superuser(pg_server, demo_pg_url) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.mark.postgres
def test_least_privilege_role_holds_nothing_but_select(pg_server, demo_pg_url, reader):
    role, _ = reader
    database = make_url(demo_pg_url).database
    with superuser(pg_server, demo_pg_url) as conn:
        grants = conn.execute(
            "SELECT table_schema, table_name, privilege_type "
            "FROM information_schema.role_table_grants WHERE grantee = %s",
            (role,),
        ).fetchall()
        assert sorted(grants) == sorted(("public", t.name, "SELECT") for t in db.TABLES)
        attributes = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, "
            "rolcanlogin FROM pg_roles WHERE rolname = %s",
            (role,),
        ).fetchone()
        assert attributes == (False, False, False, False, False, True)
        member_of = conn.execute(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
            "WHERE r.rolname = %s",
            (role,),
        ).fetchone()
        assert member_of == (0,)
        assert conn.execute(
            "SELECT has_database_privilege(%s, %s, 'CREATE')", (role, database)
        ).fetchone() == (False,)
        if conn.info.server_version >= 150000:  # older servers: README's REVOKE on public
            assert conn.execute(
                "SELECT has_schema_privilege(%s, 'public', 'CREATE')", (role,)
            ).fetchone() == (False,)


@pytest.mark.postgres
def test_least_privilege_role_cannot_write(pg_server, reader):
    role, url = reader
    params = make_url(url)
    with psycopg.connect(
        host=pg_server.host,
        port=pg_server.port,
        user=role,
        password=params.password,
        dbname=params.database,
        autocommit=True,
    ) as conn:
        # the role's own default: read-only transactions, even outside the library
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(WRITES["insert"])
        # a session that switches that off still lacks the privileges
        conn.execute("SET default_transaction_read_only = off")
        for name, statement in WRITES.items():
            expected = "for schema public" if name == "create" else "for table"
            if name == "create" and conn.info.server_version < 150000:
                continue
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=expected):
                conn.execute(statement)


@pytest.mark.postgres
@pytest.mark.slow
def test_publish_runs_as_the_least_privilege_role(tmp_path, reader):
    _, url = reader
    publish_dir = tmp_path / "published"
    result = run_rfa(
        [
            "publish",
            "--account",
            "kiwi-tech",
            "-d",
            "team",
            "-d",
            "flowpilot",
            "--as-of",
            ANCHOR.isoformat(),
            "--workers",
            "2",
        ],
        url=url,
        publish_dir=publish_dir,
        build_dir=tmp_path / "build",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    records = load_records(publish_dir)
    pages = sorted(r.page for r in records)
    assert pages == ["kiwi-tech/admin/flowpilot-30d.html", "kiwi-tech/admin/team-30d.html"]
    assert {r.status for r in records} == {"ok"}
    for page in pages:
        assert (publish_dir / page).stat().st_size > 0
        assert (publish_dir / page).with_suffix(".json").exists()


def test_invalid_connection_setting_is_one_clear_error(tmp_path, demo_sqlite_url):
    result = run_rfa(
        ["accounts"],
        url=demo_sqlite_url,
        publish_dir=tmp_path / "published",
        env={"RFA_STATEMENT_TIMEOUT_MS": "soon"},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: invalid setting RFA_STATEMENT_TIMEOUT_MS 'soon'")


# ---------------------------------------------------------------- the threat model


def test_security_md_names_only_tests_that_exist():
    text = (PROJECT_ROOT / "docs" / "SECURITY.md").read_text()
    named = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text))
    assert len(named) > 40
    missing = []
    for file, name in sorted(named):
        path = PROJECT_ROOT / file
        functions = (
            {
                n.name
                for n in ast.walk(ast.parse(path.read_text()))
                if isinstance(n, ast.FunctionDef)
            }
            if path.exists()
            else set()
        )
        if name not in functions:
            missing.append(f"{file}::{name}")
    assert missing == []
    this = ("tests/test_readonly.py", "test_security_md_names_only_tests_that_exist")
    ours = {
        (f"tests/{path.name}", n.name)
        for path in (Path(__file__), Path(__file__).with_name("test_secrets.py"))
        for n in ast.parse(path.read_text()).body
        if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
    }
    assert sorted(ours - named - {this}) == []  # every security test is in the table
