"""Plan, execute, render and publish pages: one page per (account, dashboard, scope, period).

``plan_*`` validate every parameter against the database *before* anything runs
(unknown account / flow / engineer, bad period → :class:`~rfa.errors.RFAError`,
nothing written). :func:`run_job` executes one notebook with papermill into its
own build directory, renders it (Quarto, or the nbconvert fallback) and moves
the page and its JSON data file into ``published/`` atomically. :func:`publish`
runs jobs in separate processes, keeps going when one fails, and rewrites the
manifest and the index.

Published layout (per-audience folders a web server can protect)::

    published/index.html, manifest.json
    published/<account>/admin/team-<period>.html (+ .json)          team admins
    published/<account>/members/flow-<flow>-<period>.html (+ .json) account members
    published/<account>/engineers/<engineer>/personal-<period>.html  that engineer
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import traceback
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict
from slugify import slugify
from sqlalchemy.engine import Connection

import rfa
from rfa.catalog import ACCOUNT_DASHBOARDS, DASHBOARDS, DashboardName, DashboardSpec
from rfa.config import PROJECT_ROOT, absolute_sqlite_url, get_settings
from rfa.dashboards import busiest
from rfa.db import connect
from rfa.errors import RFAError
from rfa.queries import accounts as account_queries
from rfa.queries import sessions as session_queries
from rfa.window import make_window, parse_as_of

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
DEFAULT_FLOWS = 5
"""Flow pages per account in the default publish: the busiest flows of the window."""
DEFAULT_ENGINEERS = 3
"""Personal pages per account in the default publish: the busiest engineers."""


class PublishError(RFAError):
    """A page could not be executed, rendered or published."""


class PageJob(BaseModel):
    """Everything needed to produce one page; picklable for worker processes."""

    model_config = ConfigDict(frozen=True)

    dashboard: DashboardName
    account_slug: str
    account_name: str
    timezone: str
    period: str
    as_of: str
    """End of the window, ISO UTC, fixed when the batch is planned."""
    scope_id: str | None = None
    scope_name: str | None = None

    @property
    def spec(self) -> DashboardSpec:
        return DASHBOARDS[self.dashboard]

    @property
    def notebook(self) -> Path:
        return NOTEBOOK_DIR / f"{self.spec.notebook}.ipynb"

    @property
    def title(self) -> str:
        scope = self.scope_name if self.scope_name else self.account_name
        return f"{self.spec.title} — {scope}"

    @property
    def page(self) -> str:
        """Page path relative to the publish directory (POSIX), in its audience folder."""
        period = slugify(self.period)
        folder = f"{self.account_slug}/{self.spec.folder}"
        if self.spec.scope is None:
            return f"{folder}/{self.dashboard.replace('_', '-')}-{period}.html"
        scope = f"{slugify(self.scope_name or '', max_length=48)}-{(self.scope_id or '')[:8]}"
        if self.spec.scope == "flow":
            return f"{folder}/flow-{scope}-{period}.html"
        return f"{folder}/{scope}/personal-{period}.html"

    @property
    def label(self) -> str:
        return self.page.removesuffix(".html")

    def parameters(self, data_file: Path) -> dict[str, str]:
        """Notebook parameters (never a database URL or any other secret)."""
        params = {
            "account": self.account_slug,
            "period": self.period,
            "as_of": self.as_of,
            "data_file": str(data_file),
        }
        if self.spec.scope is not None:
            params[self.spec.scope] = self.scope_id or ""
        return params


def _ranked_ids(conn: Connection, account_id: str, window, by: str, n: int) -> list[str]:
    sessions = session_queries.sessions_frame(conn, account_id, window)
    if sessions.height == 0:
        return []
    ranked = sessions.group_by(by).len().sort(["len", by], descending=[True, False])
    return ranked[by].head(n).to_list()


def plan_account(
    conn: Connection,
    account: str,
    *,
    period: str = "30d",
    as_of: str | dt.datetime | None = None,
    dashboards: Sequence[DashboardName] = tuple(DASHBOARDS),
    flows: Sequence[str] | None = None,
    engineers: Sequence[str] | None = None,
    n_flows: int = DEFAULT_FLOWS,
    n_engineers: int = DEFAULT_ENGINEERS,
) -> list[PageJob]:
    """Validate parameters and list the pages to publish for one account.

    ``flows``/``engineers`` name scopes explicitly (ids, names, emails); when
    ``None`` the ``n_flows`` busiest flows and ``n_engineers`` busiest engineers
    of the window are used. Raises :class:`~rfa.errors.RFAError` subclasses for
    an unknown account, flow or engineer, or a bad period / as_of.
    """
    info = account_queries.resolve_account(conn, account)
    end = parse_as_of(as_of).replace(microsecond=0)
    window = make_window(period, end, info.timezone)
    base = {
        "account_slug": info.slug,
        "account_name": info.name,
        "timezone": info.timezone,
        "period": period,
        "as_of": end.isoformat(),
    }
    jobs = [PageJob(dashboard=name, **base) for name in ACCOUNT_DASHBOARDS if name in dashboards]
    if "flow" in dashboards:
        if flows is None:
            ids = _ranked_ids(conn, info.id, window, "tree_id", n_flows)
            entities = [account_queries.resolve_flow(conn, info.id, i) for i in ids]
        else:
            entities = [account_queries.resolve_flow(conn, info.id, f) for f in flows]
        jobs += [
            PageJob(dashboard="flow", scope_id=e.id, scope_name=e.name, **base) for e in entities
        ]
    if "personal" in dashboards:
        if engineers is None:
            ids = _ranked_ids(conn, info.id, window, "user_id", n_engineers)
            people = [account_queries.resolve_engineer(conn, info.id, i) for i in ids]
        else:
            people = [account_queries.resolve_engineer(conn, info.id, e) for e in engineers]
        jobs += [
            PageJob(dashboard="personal", scope_id=p.id, scope_name=p.name, **base) for p in people
        ]
    return jobs


def plan_all_accounts(
    conn: Connection, *, period: str = "30d", as_of: str | dt.datetime | None = None
) -> list[PageJob]:
    """The default publish: for every account, its account-wide pages (team, FlowPilot,
    coverage, knowledge gaps, escalations), the 5 busiest flows' pages and the 3
    busiest engineers' personal pages."""
    jobs: list[PageJob] = []
    for slug in account_queries.list_accounts(conn)["slug"].to_list():
        jobs += plan_account(conn, slug, period=period, as_of=as_of)
    return jobs


def _error_message(exc: BaseException) -> str:
    """One line for a failed page: the notebook's exception name and message if any."""
    ename = getattr(exc, "ename", None)
    evalue = getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{type(exc).__name__}: {exc}"


def run_job(job: PageJob, publish_dir: Path, build_dir: Path, renderer: str = "auto"):
    """Execute, render and publish one page; returns its :class:`~rfa.publish.site.PageRecord`.

    The build happens in ``build_dir/<page label>/`` (created afresh); the page
    and its JSON data file replace the published ones only when both exist.
    Raises :class:`PublishError` naming the page and the cause.
    """
    import papermill

    from rfa.publish.render import render
    from rfa.publish.site import PageRecord, atomic_copy

    work = build_dir / job.label
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    executed = work / "page.ipynb"
    data_file = work / "page.json"
    html = work / "page.html"
    try:
        papermill.execute_notebook(
            str(job.notebook),
            str(executed),
            parameters=job.parameters(data_file),
            kernel_name=rfa.KERNEL_NAME,
            cwd=str(work),
            progress_bar=False,
            log_output=False,
        )
        used = render(executed, html, job.title, renderer=renderer)
    except Exception as exc:  # noqa: BLE001 - reported per page, the batch goes on
        raise PublishError(f"{job.label}: {_error_message(exc)}") from None
    if not data_file.exists():
        raise PublishError(f"{job.label}: the notebook wrote no data file")
    meta = json.loads(data_file.read_text())["meta"]
    target = publish_dir / job.page
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_copy(data_file, target.with_suffix(".json"))
    atomic_copy(html, target)
    window = meta["window"]
    return PageRecord(
        account_slug=job.account_slug,
        account_name=job.account_name,
        dashboard=job.dashboard,
        dashboard_title=job.spec.title,
        scope=job.scope_name or "team",
        audience=job.spec.audience,
        period=job.period,
        window_start=window["start"],
        window_end=window["end"],
        timezone=job.timezone,
        data_time=meta["data_time"],
        rendered_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
        renderer=used,
        page=job.page,
        data_file=str(Path(job.page).with_suffix(".json").as_posix()),
        status="ok",
    )


class BatchResult(BaseModel):
    """Outcome of :func:`publish`: records of the pages made, and failures by page."""

    records: list = []
    failures: dict[str, str] = {}

    @property
    def ok(self) -> bool:
        return not self.failures


@contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Send this process's stderr (and its kernels') to ``path`` while rendering a page,
    so kernel chatter lands in the page's build log instead of the operator's terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _run_in_worker(job: PageJob, publish_dir: str, build_dir: str, renderer: str):
    try:
        with _stderr_to(Path(build_dir) / f"{job.label}.log"):
            return job, run_job(job, Path(publish_dir), Path(build_dir), renderer), None
    except PublishError as exc:
        return job, None, str(exc)
    except Exception as exc:  # noqa: BLE001 - never lose the batch to one page
        return job, None, f"{job.label}: {_error_message(exc)}\n{traceback.format_exc(limit=3)}"


def publish(
    jobs: Iterable[PageJob],
    *,
    workers: int = 2,
    renderer: str = "auto",
    publish_dir: Path | None = None,
    build_dir: Path | None = None,
    on_done=None,
) -> BatchResult:
    """Run ``jobs`` in ``workers`` processes, then merge the manifest and rewrite the index.

    A failing page never stops the others; its previously published version
    stays in place and is marked failed in the index. ``on_done(job, error)``
    is called as each page finishes (for progress output).
    """
    from rfa.publish.site import load_records, save_records, write_index

    settings = get_settings()
    # Kernels run in each page's build directory: give them an absolute SQLite path.
    os.environ["RFA_DATABASE_URL"] = absolute_sqlite_url(settings.database_url)
    publish_dir = Path(publish_dir or settings.publish_dir)
    build_dir = Path(build_dir or settings.build_dir)
    publish_dir.mkdir(parents=True, exist_ok=True)
    jobs = list(jobs)
    result = BatchResult()
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [
            pool.submit(_run_in_worker, j, str(publish_dir), str(build_dir), renderer) for j in jobs
        ]
        for future in as_completed(futures):
            job, record, error = future.result()
            if record is not None:
                result.records.append(record)
            else:
                result.failures[job.page] = error or "unknown error"
            if on_done:
                on_done(job, error)
    by_page = {r.page: r for r in load_records(publish_dir)}
    for page in result.failures:
        if page in by_page:
            by_page[page] = by_page[page].model_copy(update={"status": "failed"})
    by_page.update({r.page: r for r in result.records})
    records = sorted(by_page.values(), key=lambda r: (r.account_slug, r.dashboard, r.scope))
    save_records(records, publish_dir)
    write_index(records, publish_dir)
    return result


def accounts_frame(url: str | None = None) -> pl.DataFrame:
    """Every account (slug, name, timezone) — for the operator's ``rfa accounts``."""
    with connect(url) as conn:
        return account_queries.list_accounts(conn)


__all__ = [
    "PageJob",
    "PublishError",
    "plan_account",
    "plan_all_accounts",
    "run_job",
    "publish",
    "busiest",
]
