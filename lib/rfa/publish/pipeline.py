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
import shutil
from collections.abc import Sequence
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict
from slugify import slugify
from sqlalchemy.engine import Connection

import rfa
from rfa.catalog import ACCOUNT_DASHBOARDS, DASHBOARDS, DashboardName, DashboardSpec
from rfa.config import PROJECT_ROOT, get_settings
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
    extra: dict[str, str | int | float | bool] = {}
    """Further notebook parameters (e.g. knowledge-gap thresholds from a schedule)."""
    team: str | None = None
    """The schedule (team) that asked for the page, if any."""

    @property
    def spec(self) -> DashboardSpec:
        return DASHBOARDS[self.dashboard]

    @property
    def notebook(self) -> Path:
        return get_settings().notebook_dir / f"{self.spec.notebook}.ipynb"

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

    def parameters(self, data_file: Path) -> dict[str, str | int | float | bool]:
        """Notebook parameters (never a database URL or any other secret)."""
        params = {
            "account": self.account_slug,
            "period": self.period,
            "as_of": self.as_of,
            "data_file": str(data_file),
        }
        if self.spec.scope is not None:
            params[self.spec.scope] = self.scope_id or ""
        return {**params, **self.extra}


def ranked_ids(conn: Connection, account_id: str, window, by: str, n: int) -> list[str]:
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
            ids = ranked_ids(conn, info.id, window, "tree_id", n_flows)
            entities = [account_queries.resolve_flow(conn, info.id, i) for i in ids]
        else:
            entities = [account_queries.resolve_flow(conn, info.id, f) for f in flows]
        jobs += [
            PageJob(dashboard="flow", scope_id=e.id, scope_name=e.name, **base) for e in entities
        ]
    if "personal" in dashboards:
        if engineers is None:
            ids = ranked_ids(conn, info.id, window, "user_id", n_engineers)
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


def error_message(exc: BaseException) -> str:
    """One line for a failed page: the failing notebook cell and its exception, if any."""
    ename = getattr(exc, "ename", None)
    if ename:
        cell = getattr(exc, "exec_count", None)
        where = f"cell [{cell}] " if cell is not None else ""
        return f"{where}{ename}: {getattr(exc, 'evalue', '')}"
    return f"{type(exc).__name__}: {exc}"


def run_job(
    job: PageJob,
    publish_dir: Path,
    build_dir: Path,
    renderer: str = "auto",
    *,
    fingerprint: str | None = None,
    fingerprint_parts: dict[str, str] | None = None,
    cell_timeout: float | None = None,
):
    """Execute, render and publish one page; returns its :class:`~rfa.publish.site.PageRecord`.

    The build happens in ``build_dir/<page label>/`` (created afresh); the page
    and its JSON data file replace the published ones only when both exist, each
    by an atomic rename. ``cell_timeout`` (seconds) bounds every notebook cell.
    Raises :class:`PublishError` naming the page, the failing cell and the cause.
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
    parameters = job.parameters(data_file)
    try:
        papermill.execute_notebook(
            str(job.notebook),
            str(executed),
            parameters=parameters,
            kernel_name=rfa.KERNEL_NAME,
            cwd=str(work),
            progress_bar=False,
            log_output=False,
            execution_timeout=cell_timeout,
        )
        used = render(executed, html, job.title, renderer=renderer)
    except Exception as exc:  # noqa: BLE001 - reported per page, the batch goes on
        raise PublishError(f"{job.label}: {error_message(exc)}") from None
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
        team=job.team,
        as_of=job.as_of,
        parameters={k: v for k, v in parameters.items() if k != "data_file"},
        fingerprint=fingerprint,
        fingerprint_parts=fingerprint_parts or {},
    )


def accounts_frame(url: str | None = None) -> pl.DataFrame:
    """Every account (slug, name, timezone) — for the operator's ``rfa accounts``."""
    with connect(url) as conn:
        return account_queries.list_accounts(conn)
