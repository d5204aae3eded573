"""Load (issue 8): a batch of 100 renders with more workers than cores, against PostgreSQL.

The pages are real escalations pages of the demo's kiwi-tech account — the notebook's
loader (``dashboards.escalations_page``: account, window, queries, metrics) and data
file, executed by papermill in a kernel and rendered — over 100 different windows
(``YYYY-MM-DD..YYYY-MM-DD``). To keep the test to a few minutes on two cores the
notebook is cut down to that loader cell (no charts): a page then costs mostly its
kernel's start-up, which is what a batch multiplies.

While the batch runs the test samples, every 0.2 s:

* the database's connections (``pg_stat_activity`` of the batch's own database). The
  documented limit: a worker process holds no connection; each page's kernel opens one
  engine per page load (``rfa.db.connect``), holds one connection while it loads plus
  the context's one Arrow (ADBC) connection once it fetched (``rfa.queries.fetch``), and
  disposes both; the publishing process holds one (and its Arrow one) while it decides,
  before any page renders. So at most ``2 × workers + 1`` (:data:`CONNECTION_LIMIT`) —
  within ``workers × (pool_size + max_overflow) + 1`` (``RFA_DB_POOL_SIZE``,
  ``RFA_DB_MAX_OVERFLOW``), the bound even if every process filled its engine's pool.
  The database's ``CONNECTION LIMIT`` for the batch's role enforces it between samples
  too;
* the publishing process's tree: how many processes, the CLI's RSS and each worker's RSS.

Then: every page rendered, connections within the limit, no process left behind, and
memory that does not grow with the batch (RSS after the last page vs after page 20).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from demo_db import ANCHOR
from process_helpers import MARK_ENV, kill_marked, new_mark, page_events, survivors
from rfa.publish.pipeline import NOTEBOOK_DIR

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PAGES = 100
WORKERS = max(4, (os.cpu_count() or 1) + 2)
"""More workers than cores."""
CONNECTION_LIMIT = 2 * WORKERS + 1
"""Per page load a kernel holds its SQLAlchemy connection and its Arrow (ADBC) one."""
RSS_GROWTH_LIMIT = 100 * 2**20
"""Bytes the publishing process (and any one worker) may grow between page 20 and the end."""


def _minimal_notebooks(target: Path) -> Path:
    """The notebooks, with escalations cut down to its parameters and its loader cell."""
    shutil.copytree(NOTEBOOK_DIR, target)
    path = target / "escalations.ipynb"
    nb = json.loads(path.read_text())
    front, parameters = nb["cells"][0], nb["cells"][1]
    assert front["cell_type"] == "raw" and "parameters" in parameters["metadata"]["tags"]
    nb["cells"] = [
        front,
        parameters,
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": [
                "from rfa import dashboards\n",
                "\n",
                "page = dashboards.escalations_page(account, period, as_of)\n",
                "_ = dashboards.write_data_file(page, data_file)",
            ],
        },
        {"cell_type": "markdown", "metadata": {}, "source": ["## Row\n", "\n", "Load test page."]},
    ]
    path.write_text(json.dumps(nb, indent=1))
    return target


def _schedule(path: Path) -> Path:
    """kiwi-tech's escalations over PAGES different windows ending the day before ANCHOR."""
    last = ANCHOR.date() - dt.timedelta(days=1)
    periods = [f"{last - dt.timedelta(days=29 + i)}..{last}" for i in range(PAGES)]
    path.write_text(
        "team: load\naccount: kiwi-tech\ndashboards: [escalations]\nperiods:\n"
        + "".join(f"  - {p}\n" for p in periods)
    )
    return path


def _connections(admin, dbname: str) -> int:
    return admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (dbname,)
    ).fetchone()[0]


def _pool_limit() -> tuple[int, int]:
    """``(pool_size, max_overflow)`` of every engine (``RFA_DB_POOL_SIZE``,
    ``RFA_DB_MAX_OVERFLOW``)."""
    from rfa.config import get_settings

    settings = get_settings()
    return settings.db_pool_size, settings.db_max_overflow


@pytest.fixture
def load_db(pg_server, pg_url) -> Iterator[str]:
    """A private database with the test demo rows, read by a role of its own through a URL
    the test returns. The database admits at most ``CONNECTION_LIMIT`` connections of that role
    (``CONNECTION LIMIT``; superusers are exempt, hence the role): a batch exceeding the
    limit fails pages ("too many connections"), so the bound is enforced, not sampled."""
    from demo_db import demo_rows
    from rfa.db import init_db
    from rfa.demo import load

    init_db(pg_url)
    load(pg_url, demo_rows())
    url = make_url(pg_url)
    role_name = f"rfa_load_{uuid.uuid4().hex[:12]}"
    role = sql.Identifier(role_name)
    database = sql.Identifier(str(url.database))
    with pg_server.admin_connection() as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
        admin.execute(
            sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(
                database, sql.Literal(CONNECTION_LIMIT)
            )
        )
    with psycopg.connect(
        host=pg_server.host, port=pg_server.port, user=pg_server.superuser,
        dbname=url.database, autocommit=True,
    ) as db:  # fmt: skip
        db.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
        db.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(role))
    try:
        yield url.set(username=role_name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(
            host=pg_server.host, port=pg_server.port, user=pg_server.superuser,
            dbname=url.database, autocommit=True,
        ) as db:  # fmt: skip
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE usename = %s AND pid <> pg_backend_pid()",
                (role_name,),
            )
            db.execute(sql.SQL("DROP OWNED BY {}").format(role))
        with pg_server.admin_connection() as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(role))


def test_a_hundred_renders_with_more_workers_than_cores(tmp_path, pg_server, load_db):
    mark = new_mark()
    publish_dir, build_dir = tmp_path / "published", tmp_path / "build"
    notebooks = _minimal_notebooks(tmp_path / "notebooks")
    schedule = _schedule(tmp_path / "load.yml")
    dbname = str(make_url(load_db).database)
    stdout_file = tmp_path / "stdout.log"
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rfa.cli", "publish", "--schedule", str(schedule)]
        + ["--workers", str(WORKERS)],
        env={
            **os.environ,
            "RFA_DATABASE_URL": load_db,
            "RFA_PUBLISH_DIR": str(publish_dir),
            "RFA_BUILD_DIR": str(build_dir),
            "RFA_NOTEBOOK_DIR": str(notebooks),
            MARK_ENV: mark,
        },
        stdin=subprocess.DEVNULL,
        stdout=stdout_file.open("w"),
        stderr=subprocess.PIPE,
        text=True,
    )
    cli = psutil.Process(proc.pid)
    peak_connections = peak_processes = 0
    rss_at: dict[int, int] = {}  # pages finished → CLI RSS
    worker_rss: dict[int, list[int]] = {}  # worker pid → RSS samples over its life
    try:
        with pg_server.admin_connection() as admin:
            while proc.poll() is None:
                peak_connections = max(peak_connections, _connections(admin, dbname))
                try:
                    tree = cli.children(recursive=True)
                    rss = cli.memory_info().rss
                    workers = [(p.pid, p.memory_info().rss) for p in cli.children()]
                except psutil.Error:
                    break  # the CLI just exited
                peak_processes = max(peak_processes, len(tree))
                done = len(page_events(stdout_file.read_text()))
                rss_at[done] = rss
                for pid, value in workers:
                    worker_rss.setdefault(pid, []).append(value)
                time.sleep(0.2)
        stderr = proc.communicate(timeout=300)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_marked(mark)
    seconds = time.monotonic() - started
    stdout = stdout_file.read_text()
    events = page_events(stdout)
    assert proc.returncode == 0, stdout[-3000:] + stderr
    assert len(events) == PAGES and {e["status"] for e in events.values()} == {"rendered"}
    assert len(list(publish_dir.rglob("escalations-*.html"))) == PAGES

    pool_size, max_overflow = _pool_limit()
    documented = WORKERS * (pool_size + max_overflow) + 1
    first = min(n for n in rss_at if n >= 20)
    last = max(rss_at)
    # a worker's growth over its life (after its first page's warm-up: its first 5 s)
    worker_growth = max((s[-1] - s[min(25, len(s) - 1)] for s in worker_rss.values()), default=0)
    peak_worker = max((max(s) for s in worker_rss.values()), default=0)
    print(
        f"\nload: {PAGES} pages, {WORKERS} workers on {os.cpu_count()} cores in {seconds:.0f} s; "
        f"peak connections {peak_connections} (limit {CONNECTION_LIMIT}, documented bound "
        f"{documented}); peak processes under the CLI {peak_processes}; CLI RSS "
        f"{rss_at[first] / 2**20:.0f} MiB after {first} pages, {rss_at[last] / 2**20:.0f} MiB "
        f"after {last}; peak worker RSS {peak_worker / 2**20:.0f} MiB, worker growth "
        f"{worker_growth / 2**20:.0f} MiB; {len(worker_rss)} worker processes in all"
    )
    assert 0 < peak_connections <= CONNECTION_LIMIT <= documented
    # per worker at most: the worker, its kernel template, one kernel (no kernel started
    # ahead of use: more workers than cores), and a short-lived renderer or replacement
    assert peak_processes <= 4 * WORKERS
    assert rss_at[last] - rss_at[first] < RSS_GROWTH_LIMIT
    assert worker_growth < RSS_GROWTH_LIMIT
    assert not survivors(mark, 10.0)
    assert not [
        p
        for p in publish_dir.rglob("*")
        if p.name.startswith(".") and p.name != ".rfa-publish.lock"
    ]
