"""Planning that survives bad rows: one account's or one scope's unusable row fails only the
pages that need it, and every other page is planned as usual.

A row is *bad* when a page cannot be built from it (:class:`~rfa.errors.BadRowError`):

* an account whose timezone (``accounts.timezone``) is not an IANA name — every window of
  the account needs it, so all of its pages fail;
* an account whose slug (``accounts.slug``) cannot name a folder (``..``, ``/``, empty) —
  all of its pages fail;
* a flow without a name (``trees.name``) — that flow's page fails;
* an engineer with neither a name nor an email (``users.name``, ``users.email``) — that
  engineer's personal page fails.

Each failed page is an :class:`Unplanned` ``(page, label, message)``, the shape
:func:`rfa.publish.batch.run_batch` takes as ``plan_failures``: it is reported in the
run's summary (one ``failed <label>: <message>`` line) and, for a page published before,
marked failed with that message in the manifest and the index.

Bad *input* is still refused before any work (:class:`~rfa.errors.RFAError`, exit 2): an
unknown account, flow or engineer, or a bad period or ``as_of``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from sqlalchemy.engine import Connection

from rfa.catalog import DASHBOARDS, DashboardName
from rfa.config import get_settings
from rfa.errors import BadRowError, ParameterError, RFAError
from rfa.metrics.models import AccountInfo
from rfa.metrics.sessions import busiest
from rfa.publish import paths
from rfa.publish.pipeline import (
    DEFAULT_ENGINEERS,
    DEFAULT_FLOWS,
    PageJob,
    is_rolling,
    plan_account,
)
from rfa.queries import accounts as account_queries
from rfa.queries import sessions as session_queries
from rfa.window import make_window, parse_as_of, parse_timezone

__all__ = [
    "Unplanned",
    "account_failures",
    "check_account_row",
    "plan_account_pages",
    "plan_all_account_pages",
]


class Unplanned(NamedTuple):
    """A page that could not be planned: ``page`` (its path under the publish folder, as
    the manifest keys it), ``label`` (how the run names it), ``message`` (why, and what
    is accepted) and ``dashboard``. ``(page, label, message)`` is what
    :func:`rfa.publish.batch.run_batch` takes as a plan failure."""

    page: str
    label: str
    message: str
    dashboard: str = ""
    """The page's dashboard (``team``, ``flow`` …)."""


_SLUG_ACCEPTED = "a slug with at least one letter or digit"


def check_account_row(info: AccountInfo) -> None:
    """Check that an account's own row can build pages.

    Input: the account as :func:`rfa.queries.accounts.resolve_account` read it.
    Output: ``None``. Raises :class:`~rfa.errors.BadRowError` when its timezone is not
    an IANA name or its slug cannot name its folder under the publish directory.
    """
    try:
        parse_timezone(info.timezone)
    except ParameterError:
        raise BadRowError(
            f"account {info.slug!r}",
            f"has the timezone {info.timezone[:80]!r} (accounts.timezone), which is not an "
            "IANA timezone, so none of its windows can be computed",
            "an IANA name such as Europe/London",
        ) from None
    try:
        paths.safe_segment(info.slug, "account slug")
    except paths.UnsafePathError:
        raise BadRowError(
            f"account {info.id}",
            f"has the account slug {info.slug[:80]!r} (accounts.slug), which cannot name "
            "its folder in the publish directory",
            _SLUG_ACCEPTED,
        ) from None


def _account_folder(info: AccountInfo) -> str:
    """The account's folder, or — for a slug that cannot name one — a label no page path
    can have (parentheses are never in a path segment)."""
    try:
        return paths.safe_segment(info.slug, "account slug")
    except paths.UnsafePathError:
        return _unsafe_folder(info.slug)


def _unsafe_folder(slug: str) -> str:
    return f"(account {slug[:40]!r})"


def _job(
    info: AccountInfo, dashboard: str, period: str, end: dt.datetime, rolling: bool, **scope
) -> PageJob:
    """The job a page would have had (for its path: a failed page is named as it would
    have been published)."""
    return PageJob(
        dashboard=dashboard,
        account_slug=info.slug,
        account_name=info.name,
        timezone=info.timezone,
        period=period,
        as_of=end.isoformat(),
        rolling=rolling,
        **scope,
    )


def _page_of(job: PageJob) -> tuple[str, str]:
    """``(page, label)`` of a job, or made-up ones when its path cannot be built."""
    try:
        page = job.page
    except paths.UnsafePathError:
        name = job.dashboard.replace("_", "-")
        page = f"{_unsafe_folder(job.account_slug)}/{job.spec.folder}/{name}-{job.period}.html"
    return page, page.removesuffix(".html")


class _Published:
    """The pages the publish folder's manifest lists, read once and only when a bad row
    needs them: a failed page is reported under the path it was last published at, so
    the index marks *that* page failed with the reason (a flow that lost its name would
    otherwise get a new path, and its published page would silently go stale)."""

    def __init__(self, publish_dir: Path | None):
        self._dir = publish_dir
        self._records: list | None = None

    def pages(
        self,
        slug: str,
        dashboard: str,
        period: str,
        scope_id: str | None = None,
        *,
        every_scope: bool = False,
    ) -> list[tuple[str, str]]:
        """``(page, label)`` of the rolling pages published for the account ``slug``,
        ``dashboard`` and ``period`` (and, for a scoped dashboard, ``scope_id``, or any
        scope with ``every_scope``)."""
        if self._records is None:
            from rfa.publish.site import load_records

            try:
                folder = self._dir or get_settings().publish_dir
                self._records = load_records(folder)
            except (RFAError, OSError):  # no readable manifest: the paths a plan gives
                self._records = []
        scope = DASHBOARDS[dashboard].scope
        found = []
        for record in self._records:
            if (
                record.account_slug != slug
                or record.dashboard != dashboard
                or record.period != period
                or getattr(record, "rolling", True) is False
            ):
                continue
            theirs = str(record.parameters.get(scope) or "") if scope else ""
            if scope is not None and not every_scope and theirs != (scope_id or ""):
                continue
            found.append((record.page, record.page.removesuffix(".html")))
        return found


def account_failures(
    info: AccountInfo,
    dashboards: Sequence[DashboardName],
    period: str,
    end: dt.datetime,
    error: BadRowError,
    *,
    rolling: bool = True,
    publish_dir: Path | None = None,
) -> list[Unplanned]:
    """The pages an account with a bad row would have had, each failed with ``error``.

    One :class:`Unplanned` per account-wide dashboard in ``dashboards``, in that order and
    before the scoped ones (its real page
    path when the slug can name a folder), and one per scoped dashboard (flow, personal)
    whose label stands for all of its pages (``kiwi-tech/members/flow-*-30d``): which
    flows or engineers would have been busiest cannot be known without the window.
    ``rolling``: whether the window is the scheduled, rolling one (no explicit end); for
    a rolling window, each page the manifest of ``publish_dir`` (default: the settings')
    lists for the account, dashboard and period is failed under its published path
    instead, so the index shows the reason on it.
    """
    failures: list[Unplanned] = []
    folder = _account_folder(info)
    published = _Published(publish_dir)
    for name in sorted(dashboards, key=lambda d: DASHBOARDS[d].scope is not None):
        spec = DASHBOARDS[name]
        if spec.scope is None:
            pages = [_page_of(_job(info, name, period, end, rolling))]
        else:
            pages = published.pages(info.slug, name, period, every_scope=True) if rolling else []
            if not pages:
                label = (
                    f"{folder}/{spec.folder}/flow-*-{period}"
                    if spec.scope == "flow"
                    else f"{folder}/{spec.folder}/*/personal-{period}"
                )
                pages = [(f"{label}.html", label)]
        failures += [Unplanned(page, label, str(error), name) for page, label in pages]
    return failures


def plan_account_pages(
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
    publish_dir: Path | None = None,
    raise_bad_account: bool = False,
) -> tuple[list[PageJob], list[Unplanned]]:
    """:func:`rfa.publish.pipeline.plan_account`, with bad rows failing only their pages.

    Inputs as for ``plan_account`` (``account``: slug or id; ``flows``/``engineers``: ids,
    names or emails, ``None`` for the busiest of the window); ``publish_dir`` (default:
    the settings') is where a failed page was last published (:func:`account_failures`);
    with ``raise_bad_account`` (one account named by the user: none of it can be
    published) a bad account row raises its :class:`~rfa.errors.BadRowError` instead.
    Output: ``(jobs,
    failures)`` — the pages to render, and one :class:`Unplanned` per page a bad row
    keeps from being planned (all of the account's pages for a bad account row).
    Raises :class:`~rfa.errors.RFAError` for bad *input*, before looking at any row: an
    unknown account, flow or engineer, a bad period or ``as_of`` (exit 2).
    """
    info = account_queries.resolve_account(conn, account)
    end = parse_as_of(as_of).replace(microsecond=0)
    make_window(period, end, "UTC")  # the user's period first: bad input, not a bad row
    rolling = is_rolling(as_of, end)
    try:
        check_account_row(info)
    except BadRowError as exc:
        if raise_bad_account:
            raise
        failed = account_failures(
            info, dashboards, period, end, exc, rolling=rolling, publish_dir=publish_dir
        )
        return [], failed
    published = _Published(publish_dir)
    failures: list[Unplanned] = []
    resolved: dict[str, list[str]] = {"flow": [], "personal": []}
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
                window = make_window(period, end, info.timezone)
                sessions = session_queries.sessions_frame(conn, info.id, window)
            names = busiest(sessions, by, n)
        for key in names:
            try:
                resolved[name].append(resolve(conn, info.id, key).id)
            except BadRowError as exc:
                scope_id = exc.row_id or key
                pages = published.pages(info.slug, name, period, scope_id) if rolling else []
                job = _job(info, name, period, end, rolling, scope_id=scope_id, scope_name=None)
                for page, label in pages or [_page_of(job)]:
                    failures.append(Unplanned(page, label, str(exc), name))
    jobs = plan_account(
        conn,
        info.id,
        period=period,
        as_of=end,
        rolling=rolling,
        dashboards=dashboards,
        flows=resolved["flow"],
        engineers=resolved["personal"],
    )
    return jobs, failures


def plan_all_account_pages(
    conn: Connection,
    *,
    period: str = "30d",
    as_of: str | dt.datetime | None = None,
    publish_dir: Path | None = None,
) -> tuple[list[PageJob], list[Unplanned]]:
    """The default publish (:func:`rfa.publish.pipeline.plan_all_accounts`: every
    account's account-wide pages, its 5 busiest flows' and 3 busiest engineers'), each
    account planned by id through :func:`plan_account_pages`: an account whose row is
    bad fails its own pages and no other account's. Output: ``(jobs, failures)``."""
    jobs: list[PageJob] = []
    failures: list[Unplanned] = []
    for account_id in account_queries.list_accounts(conn)["account_id"].to_list():
        more, failed = plan_account_pages(
            conn, account_id, period=period, as_of=as_of, publish_dir=publish_dir
        )
        jobs += more
        failures += failed
    return jobs, failures
