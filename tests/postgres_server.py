"""A throwaway PostgreSQL server for the test session.

The server is created with ``initdb`` in a private temporary directory and run
with ``pg_ctl`` on ``127.0.0.1`` and a free port, with ``trust`` authentication
and durability switched off (``fsync``, ``synchronous_commit``,
``full_page_writes``) for speed. Its socket directory, data directory and log
live in that temporary directory, which is removed when the server stops.

PostgreSQL refuses to run as root; when the tests run as root (as CI does), the
server's processes run as the ``postgres`` system account (or ``nobody``), and
the temporary directory is handed to that account. The database superuser is
always ``postgres``.

:func:`start_session_server` is what the ``pg_server`` fixture uses: it skips
(or, when ``CI`` is set, fails) when no PostgreSQL binaries are installed.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

HOST = "127.0.0.1"
SUPERUSER = "postgres"
SEARCH_GLOB = "/usr/lib/postgresql/*/bin"
RUN_AS_CANDIDATES = ("postgres", "nobody")
"""OS accounts the server runs as when the tests run as root, in order of preference."""

COMMAND_TIMEOUT_S = 120
START_ATTEMPTS = 3


class PostgresNotInstalled(RuntimeError):
    """No ``initdb``/``pg_ctl`` on ``PATH`` nor under ``/usr/lib/postgresql/*/bin``."""


class PostgresStartError(RuntimeError):
    """The server binaries exist but the server could not be created or started."""


def in_ci() -> bool:
    """Whether the ``CI`` environment variable is set to a true-ish value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _version_key(bindir: Path) -> tuple[int, ...]:
    """Sort key for ``/usr/lib/postgresql/<version>/bin``: the version's numbers."""
    return tuple(int(n) for n in re.findall(r"\d+", bindir.parent.name)) or (0,)


def find_bindir() -> Path:
    """Return the directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    Looks on ``PATH`` first (following symlinks, so ``pg_ctl`` finds its
    ``postgres`` beside it), then the highest version under
    ``/usr/lib/postgresql/*/bin``. Raises :class:`PostgresNotInstalled`.
    """
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        bindir = Path(initdb).resolve().parent
        if (bindir / "pg_ctl").exists():
            return bindir
    candidates = [
        Path(p)
        for p in glob.glob(SEARCH_GLOB)
        if (Path(p) / "initdb").exists() and (Path(p) / "pg_ctl").exists()
    ]
    if candidates:
        return max(candidates, key=_version_key)
    raise PostgresNotInstalled(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH nor under "
        f"{SEARCH_GLOB}; install them (Debian: apt-get install postgresql)"
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _run_as_account() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as, or ``None`` when not root."""
    if os.geteuid() != 0:
        return None
    for name in RUN_AS_CANDIDATES:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresStartError(
        "running as root, and none of the accounts "
        f"{', '.join(RUN_AS_CANDIDATES)} exists to run PostgreSQL as"
    )


def _traversable_by_others(path: Path) -> bool:
    """Whether every directory from ``/`` down to ``path`` is world-searchable."""
    for directory in (path, *path.parents):
        try:
            if not directory.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _make_base_dir(account: pwd.struct_passwd | None) -> Path:
    """Create the server's private directory, owned by the account it runs as.

    As root, the directory is made where the server's account can reach it: the
    usual temporary directory when every folder above it is world-searchable
    (not so for pytest's own mode-700 tmp dirs), else ``/tmp``.
    """
    parent: str | None = None
    if account is not None and not _traversable_by_others(Path(tempfile.gettempdir())):
        parent = "/tmp"
    base = Path(tempfile.mkdtemp(prefix="rfa-pg-", dir=parent))
    if account is not None:
        os.chown(base, account.pw_uid, account.pw_gid)
    base.chmod(0o700)
    return base


def _child_env() -> dict[str, str]:
    """The environment for PostgreSQL commands: ours, less ``PG*`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env.pop("LANG", None)
    return env


@dataclass
class PostgresServer:
    """A PostgreSQL server in its own temporary directory, started with :meth:`start`.

    ``host``, ``port`` and ``superuser`` say how to reach it; :meth:`url` and
    :meth:`create_database` give SQLAlchemy URLs (``postgresql+psycopg``).
    """

    bindir: Path
    host: str = HOST
    superuser: str = SUPERUSER
    port: int = 0
    base_dir: Path | None = None
    account: pwd.struct_passwd | None = None
    running: bool = field(default=False, init=False)

    # -- paths ---------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        assert self.base_dir is not None, "server not created"
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        """The directory holding the server's unix socket."""
        assert self.base_dir is not None, "server not created"
        return self.base_dir / "sock"

    @property
    def log_file(self) -> Path:
        """The server's log file (``pg_ctl -l``)."""
        assert self.base_dir is not None, "server not created"
        return self.base_dir / "postgres.log"

    # -- commands ------------------------------------------------------------
    def _run(self, args: Sequence[str | os.PathLike[str]]) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL command as the server's account, capturing its output."""
        account = self.account
        return subprocess.run(
            [str(a) for a in args],
            cwd=self.base_dir,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )

    def _log_tail(self, lines: int = 30) -> str:
        """The last lines of the server log, for error messages."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _initdb(self) -> None:
        """Create the cluster and append the test settings to ``postgresql.conf``."""
        self.socket_dir.mkdir()
        if self.account is not None:
            os.chown(self.socket_dir, self.account.pw_uid, self.account.pw_gid)
        result = self._run(
            [
                self.bindir / "initdb",
                "-D", self.data_dir,
                "-U", self.superuser,
                "-A", "trust",
                "-E", "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )  # fmt: skip
        if result.returncode != 0:
            raise PostgresStartError(
                f"initdb failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        settings = {
            "listen_addresses": f"'{self.host}'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "logging_collector": "off",
        }
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# rfa test session\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self) -> PostgresServer:
        """Create the cluster and start the server, retrying on a port taken meanwhile.

        On failure everything is cleaned up and :class:`PostgresStartError` is raised
        with the server log's tail.
        """
        self.account = _run_as_account()
        self.base_dir = _make_base_dir(self.account)
        try:
            self._initdb()
            for attempt in range(1, START_ATTEMPTS + 1):
                self.port = free_port()
                result = self._run(
                    [
                        self.bindir / "pg_ctl", "start",
                        "-D", self.data_dir,
                        "-l", self.log_file,
                        "-o", f"-p {self.port}",
                        "-w", "-t", "60",
                    ]
                )  # fmt: skip
                if result.returncode == 0:
                    self.running = True
                    atexit.register(self.stop)
                    return self
                log = self._log_tail()
                if attempt < START_ATTEMPTS and "could not bind" in log:
                    time.sleep(0.2)
                    continue
                raise PostgresStartError(
                    f"pg_ctl start failed ({result.returncode}) on port {self.port}:\n"
                    f"{result.stdout}\n{result.stderr}\n--- server log ---\n{log}"
                )
            raise AssertionError("unreachable")  # pragma: no cover
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``) and remove its directory. Idempotent."""
        if self.base_dir is None:
            return
        try:
            if self.running or (self.data_dir / "postmaster.pid").exists():
                result = self._run(
                    [self.bindir / "pg_ctl", "stop", "-D", self.data_dir, "-m", "fast", "-w"]
                )
                if result.returncode != 0 and (self.data_dir / "postmaster.pid").exists():
                    self._run(
                        [self.bindir / "pg_ctl", "stop", "-D", self.data_dir, "-m", "immediate"]
                    )
        finally:
            self.running = False
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    # -- databases -----------------------------------------------------------
    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of database ``dbname`` on this server."""
        return f"postgresql+psycopg://{self.superuser}@{self.host}:{self.port}/{dbname}"

    def admin_connection(self) -> psycopg.Connection:
        """An autocommit connection to the ``postgres`` database as the superuser."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.superuser,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        )

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a unique ``rfa_test_…`` name by default); return its URL."""
        name = name or f"rfa_test_{uuid.uuid4().hex[:12]}"
        with self.admin_connection() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its open sessions."""
        drop = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
        with self.admin_connection() as conn:
            if conn.info.server_version >= 130000:
                conn.execute(drop + sql.SQL(" WITH (FORCE)"))
                return
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(drop)


def start_session_server() -> PostgresServer:
    """Start the session's server; skip when PostgreSQL is missing, fail instead under CI.

    Must be called from within a pytest fixture (it may call ``pytest.skip``/``fail``).
    """
    import pytest

    try:
        bindir = find_bindir()
    except PostgresNotInstalled as exc:
        if in_ci():
            pytest.fail(f"CI is set and PostgreSQL is required: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    return PostgresServer(bindir=bindir).start()
