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
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

import rfa
from rfa.catalog import ACCOUNT_DASHBOARDS, DASHBOARDS, DashboardName, DashboardSpec
from rfa.config import PROJECT_ROOT, get_settings
from rfa.db import connect
from rfa.errors import RFAError
from rfa.metrics.sessions import busiest
from rfa.publish import paths
from rfa.publish.kernels import (  # noqa: F401 - re-exported for the batch and the tests
    BATCH_ENV,
    Kernel,
    kernel_socket_prefix,
    notebook_imports,
    remove_kernel_sockets,
)
from rfa.queries import accounts as account_queries
from rfa.queries import sessions as session_queries
from rfa.window import PERIODS, make_window, parse_as_of

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
    rolling: bool = True
    """The window ends at the run's time (a scheduled page). ``False`` for an explicit
    end (``--as-of`` or a schedule's ``as_of`` date other than today): the page path
    then names the window's end, so the ad-hoc page never replaces the scheduled one."""

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
        """Page path relative to the publish directory (POSIX), in its audience folder.

        Every segment is made safe by :mod:`rfa.publish.paths` (an account slug or a
        flow id holding ``/`` or ``..`` never leaves its folder); raises
        :class:`~rfa.publish.paths.UnsafePathError` for a slug without a letter or digit.
        A page that is not :attr:`rolling` names its window's end
        (``team-30d-to-2026-11-01.html``; a date-range period already names it).
        """
        explicit = not self.rolling and self.period.strip() in PERIODS
        return paths.page_relpath(
            self.account_slug,
            self.spec.folder,
            self.dashboard,
            self.period,
            scope=self.spec.scope,
            scope_name=self.scope_name,
            scope_id=self.scope_id,
            window_end=parse_as_of(self.as_of) if explicit else None,
        )

    @property
    def identity(self) -> tuple:
        """What makes two jobs the same page: account, dashboard, scope id, period and
        window end (for a page that is not rolling)."""
        end = None if self.rolling else self.as_of
        return (self.account_slug, self.dashboard, self.scope_id, self.period, end)

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
    """The ``n`` busiest flows (``by="tree_id"``) or engineers (``"user_id"``) of the window."""
    return busiest(session_queries.sessions_frame(conn, account_id, window), by, n)


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
    rolling: bool | None = None,
) -> list[PageJob]:
    """Validate parameters and list the pages to publish for one account.

    ``flows``/``engineers`` name scopes explicitly (ids, names, emails); when
    ``None`` the ``n_flows`` busiest flows and ``n_engineers`` busiest engineers
    of the window are used. A scope named twice (``--flow NAME --flow ITS-ID``) is
    planned once. ``rolling`` (default: :func:`is_rolling` of ``as_of``) says whether
    the window is the scheduled, rolling one; otherwise the page paths name the
    window's end. Raises :class:`~rfa.errors.RFAError` subclasses for an unknown
    account, flow or engineer, or a bad period / as_of.
    """
    info = account_queries.resolve_account(conn, account)
    paths.safe_segment(info.slug, "account slug")  # refuse a slug like ".." before any work
    end = parse_as_of(as_of).replace(microsecond=0)
    window = make_window(period, end, info.timezone)
    base = {
        "account_slug": info.slug,
        "account_name": info.name,
        "timezone": info.timezone,
        "period": period,
        "as_of": end.isoformat(),
        # a date range never rolls; 7d/30d/90d roll unless the end is explicit
        "rolling": period.strip() in PERIODS
        and (is_rolling(as_of, end) if rolling is None else rolling),
    }
    jobs = [PageJob(dashboard=name, **base) for name in ACCOUNT_DASHBOARDS if name in dashboards]
    scoped = [
        ("flow", flows, "tree_id", n_flows, account_queries.resolve_flow),
        ("personal", engineers, "user_id", n_engineers, account_queries.resolve_engineer),
    ]
    sessions = None  # read once, only when a default scope needs ranking
    for name, names, by, n, resolve in scoped:
        if name not in dashboards:
            continue
        if names is None:
            if sessions is None:
                sessions = session_queries.sessions_frame(conn, info.id, window)
            names = busiest(sessions, by, n)
        seen: set[str] = set()
        for entity in (resolve(conn, info.id, x) for x in names):
            if entity.id not in seen:
                seen.add(entity.id)
                jobs.append(
                    PageJob(dashboard=name, scope_id=entity.id, scope_name=entity.name, **base)
                )
    return jobs


def is_rolling(
    as_of: str | dt.datetime | None, end: dt.datetime, now: dt.datetime | None = None
) -> bool:
    """Whether a window ending at ``end`` is the rolling (scheduled) one: no explicit
    ``as_of`` was given, or it names the same end a schedule's ``as_of: today`` gives
    (00:00 UTC of ``now``'s day, default today). Any other end is ad hoc: its pages
    get paths of their own."""
    if as_of is None:
        return True
    current = parse_as_of(now or dt.datetime.now(dt.UTC))
    today = dt.datetime.combine(current.date(), dt.time(), tzinfo=dt.UTC)
    return end == today


def dedupe_jobs(jobs: Sequence[PageJob]) -> tuple[list[PageJob], list[tuple[str, str, str]]]:
    """One job per page path.

    Input: planned jobs (e.g. ``--flow NAME --flow ITS-ID``, or two schedules of one
    account). Output: ``(jobs, failures)``: identical plans of a page are merged (the
    teams that asked are joined, ``"a, b"``); a page planned with different
    parameters (window end, notebook parameters) is a conflict, and two different
    scopes sharing a path a collision: such a page becomes one failure
    ``(page, label, one-line message)`` and is not rendered (its published version
    is left as it is). Order is kept.
    """
    groups: dict[str, list[PageJob]] = {}
    for job in jobs:
        groups.setdefault(job.page, []).append(job)
    kept: list[PageJob] = []
    failures: list[tuple[str, str, str]] = []
    for page, group in groups.items():
        first = group[0]
        label = first.label
        scopes = sorted({(j.dashboard, j.scope_id or "", j.scope_name or "") for j in group})
        if len(scopes) > 1:
            names = " and ".join(f"{d} {n!r} (id {i})" for d, i, n in scopes[:2])
            failures.append(
                (
                    page,
                    label,
                    f"{label}: page path collision: {names} would share it; nothing "
                    "is overwritten — accepted: one scope per page path",
                )
            )
            continue
        variants = {(j.as_of, tuple(sorted(j.extra.items()))) for j in group}
        if len(variants) > 1:
            plans = " and ".join(
                f"{j.team or 'the command line'} (as_of {j.as_of}"
                + "".join(f", {k}={v}" for k, v in sorted(j.extra.items()))
                + ")"
                for j in group[:2]
            )
            failures.append(
                (
                    page,
                    label,
                    f"{label}: planned twice with different parameters: {plans}; "
                    "accepted: one plan per page — give the schedules the same as_of and "
                    "parameters, or drop one",
                )
            )
            continue
        teams = list(dict.fromkeys(j.team for j in group if j.team))
        kept.append(first.model_copy(update={"team": ", ".join(teams) or None}))
    return kept, failures


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


def _last_executed_cell(executed: Path | None) -> int | None:
    """The execution count of the last cell that started running in ``executed``."""
    try:
        cells = json.loads(Path(executed).read_text())["cells"] if executed else []
    except (OSError, ValueError, KeyError, TypeError):
        return None
    counts = [c.get("execution_count") for c in cells if c.get("cell_type") == "code"]
    counts = [n for n in counts if isinstance(n, int)]
    return max(counts) if counts else None


def error_message(exc: BaseException, executed: Path | None = None) -> str:
    """One line for a failed page: the failing notebook cell and its exception, if any.

    Multi-line messages (a renderer's captured stderr, a driver's detail) are joined
    into that one line, so a log line or the index shows the actual cause. For a kernel
    that died, ``executed`` (papermill's output notebook) tells which cell it died in."""
    ename = getattr(exc, "ename", None)
    if ename:
        cell = getattr(exc, "exec_count", None)
        where = f"cell [{cell}] " if cell is not None else ""
        text = f"{where}{ename}: {getattr(exc, 'evalue', '')}"
    elif type(exc).__name__ == "DeadKernelError":
        cell = _last_executed_cell(executed)
        where = f" in cell [{cell}]" if cell is not None else ""
        text = f"the notebook's kernel died{where} (killed by a signal or out of memory): {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def log_line(text: str) -> None:
    """Write one line to this process's standard error file descriptor: in a batch, the
    page's build log (where its kernel's output goes too), whatever ``sys.stderr`` is."""
    sys.stderr.flush()
    os.write(2, (text.rstrip("\n") + "\n").encode("utf-8", "replace"))


RENDER_LATER = "later"
"""``renderer`` of :func:`run_job` for a page that is executed only: the batch renders
such pages many at a time (one Quarto project, :func:`rfa.publish.render.render_quarto_project`)
and then publishes each with :func:`publish_job`."""
PHASES = ("kernel", "execute", "render", "publish")
"""The timed phases of one page (:func:`run_job`), in seconds: waiting for its kernel to
be ready (start and preloads; little when it was started ahead of use), executing the
notebook, rendering the page, and moving page and data file into place."""


def run_job(
    job: PageJob,
    publish_dir: Path,
    build_dir: Path,
    renderer: str = "auto",
    *,
    fingerprint: str | None = None,
    fingerprint_parts: dict[str, str] | None = None,
    cell_timeout: float | None = None,
    kernel: Kernel | None = None,
    phases: dict[str, float] | None = None,
    on_execute: Callable[[], object] | None = None,
    publish: bool = True,
):
    """Execute, render and publish one page; returns its :class:`~rfa.publish.site.PageRecord`.

    The build happens in ``build_dir/<page label>/`` (created afresh); the page
    and its JSON data file replace the published ones only when both exist, each
    by an atomic rename. ``cell_timeout`` (seconds) bounds every notebook cell.
    Raises :class:`PublishError` naming the page, the failing cell and the cause.

    ``kernel`` is a fresh :class:`Kernel` started ahead of use (it is this page's alone
    and is shut down here, whatever happens); without it one is started now. ``phases``,
    if given, receives the seconds of each of :data:`PHASES`. ``on_execute`` is called
    once the kernel is ready, as the notebook starts executing (the batch starts the
    next page's kernel then). With ``renderer`` :data:`RENDER_LATER` the page is only
    executed (``None`` is returned): render ``page.ipynb`` of its build folder to
    ``page.html`` there, then call :func:`publish_job`. Without ``publish`` the page is
    executed and rendered, and the renderer used is returned: :func:`publish_job` then
    publishes it (a local batch publishes in its main process, so that a page is
    published if and only if the batch records it).
    """
    phases = {} if phases is None else phases
    work = paths.page_path(build_dir, job.label)
    executed = work / "page.ipynb"
    data_file = work / "page.json"
    html = work / "page.html"
    parameters = job.parameters(data_file)
    try:
        try:
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            ahead = kernel is not None
            if kernel is None:
                kernel = Kernel(notebook_imports(job.notebook), cwd=work)
            # imported while the kernel starts (a no-op in a worker that rendered a page)
            import papermill

            from rfa.publish.render import render

            phases["kernel"] = kernel.wait_ready(cwd=work if ahead else None)
            how = "started ahead of use" if ahead else "started for this page"
            kind = "forked from the kernel template, " if kernel.forked else ""
            log_line(f"rfa: kernel pid {kernel.pid} ({kind}{how})")
            if on_execute is not None:
                on_execute()
            started = time.perf_counter()
            papermill.execute_notebook(
                str(job.notebook),
                str(executed),
                parameters=parameters,
                kernel_name=rfa.KERNEL_NAME,
                cwd=str(work),
                progress_bar=False,
                log_output=False,
                execution_timeout=cell_timeout,
                km=kernel.km,
            )
        finally:
            if kernel is not None:
                kernel.shutdown()
        phases["execute"] = time.perf_counter() - started
        if renderer == RENDER_LATER:
            if not data_file.exists():
                raise PublishError(f"{job.label}: the notebook wrote no data file")
            return None
        started = time.perf_counter()
        used = render(executed, html, job.title, renderer=renderer)
        phases["render"] = time.perf_counter() - started
    except PublishError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported per page, the batch goes on
        raise PublishError(f"{job.label}: {error_message(exc, executed)}") from None
    if not publish:
        if not data_file.exists():
            raise PublishError(f"{job.label}: the notebook wrote no data file")
        return used
    return publish_job(
        job,
        publish_dir,
        build_dir,
        used,
        fingerprint=fingerprint,
        fingerprint_parts=fingerprint_parts,
        phases=phases,
    )


def publish_job(
    job: PageJob,
    publish_dir: Path,
    build_dir: Path,
    renderer: str,
    *,
    fingerprint: str | None = None,
    fingerprint_parts: dict[str, str] | None = None,
    phases: dict[str, float] | None = None,
    site: Sequence | None = None,
):
    """Move an executed and rendered page (``page.html`` and ``page.json`` of its build
    folder) into the publish directory; returns its
    :class:`~rfa.publish.site.PageRecord` (``renderer``: the one that rendered it).

    The page and its data file are published together or not at all
    (:func:`rfa.publish.site.atomic_write_many`: both are staged beside their
    targets, then renamed): a full disk leaves the previous pair in place and raises
    ``OSError``. Before that, the page's slots are filled
    (:func:`rfa.publish.site.fill_page`): breadcrumbs, and links to the pages of
    ``site`` (the records known so far: the manifest and this run) its readers may
    open. The record carries the digests the manifest vouches for the pair with.
    Raises :class:`PublishError` when the build folder lacks the data file or page.
    """
    from rfa.publish.site import PageRecord, atomic_write_many, fill_page, page_digest

    started = time.perf_counter()
    work = paths.page_path(build_dir, job.label)
    data_file, html = work / "page.json", work / "page.html"
    parameters = job.parameters(data_file)
    if not data_file.exists():
        raise PublishError(f"{job.label}: the notebook wrote no data file")
    if not html.exists():
        raise PublishError(f"{job.label}: the renderer wrote no page")
    data = data_file.read_bytes()
    page = html.read_bytes()
    meta = json.loads(data)["meta"]
    target = paths.page_path(publish_dir, job.page)
    window = meta["window"]
    record = PageRecord(
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
        renderer=renderer,
        page=job.page,
        data_file=str(Path(job.page).with_suffix(".json").as_posix()),
        status="ok",
        team=job.team,
        as_of=job.as_of,
        rolling=job.rolling,
        parameters={k: v for k, v in parameters.items() if k != "data_file"},
        fingerprint=fingerprint,
        fingerprint_parts=fingerprint_parts or {},
        page_sha256=page_digest(page),
        data_sha256=hashlib.sha256(data).hexdigest(),
    )
    try:
        text = page.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        others = [r for r in (site or ()) if r.page != record.page]
        page = fill_page(record, [*others, record], text).encode("utf-8")
    atomic_write_many([(target.with_suffix(".json"), data), (target, page)])
    if phases is not None:
        phases["publish"] = time.perf_counter() - started
    return record


def accounts_frame(url: str | None = None) -> pl.DataFrame:
    """Every account (slug, name, timezone) — for the operator's ``rfa accounts``."""
    with connect(url) as conn:
        return account_queries.list_accounts(conn)
