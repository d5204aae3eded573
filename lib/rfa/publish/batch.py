"""Run a batch of pages: decide what changed, render in parallel, publish, report.

* **Incremental** — a page is skipped when its fingerprint (notebook, library
  version, parameters, source-data stats: :mod:`rfa.publish.fingerprint`) equals
  the one in ``manifest.json`` and the page is still there; ``force`` renders anyway.
* **Parallel and isolated** — each page renders in a separate process (a pebble
  process pool locally, or a Dask distributed cluster), with its own kernel and
  build directory, under a wall-clock timeout. One failing page never stops the
  others; it keeps its last good version and is marked failed in the index.
* **Atomic** — pages, data files, the manifest and the index are written to
  temporary files and renamed into place.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from rfa.config import absolute_sqlite_url, get_settings
from rfa.db import connect, transient_retry
from rfa.publish import fingerprint as fp
from rfa.publish.pipeline import PageJob, PublishError, error_message, run_job
from rfa.publish.site import PageRecord, load_records, save_records, write_index
from rfa.queries.accounts import resolve_account
from rfa.window import make_window

log = logging.getLogger("rfa.publish")

STALE_AFTER = dt.timedelta(hours=36)
"""A page whose window ended longer ago than this is marked stale in the index: the
nightly run did not refresh it (its schedule dropped it, or its renders keep failing)."""
DEFAULT_TIMEOUT = 600.0
"""Wall-clock seconds one page may take (execution + render) before it is failed."""
Status = Literal["rendered", "skipped", "failed"]


class Decision(BaseModel):
    """Whether a page renders, and why."""

    job: PageJob
    render: bool
    reason: str
    fingerprint: str
    parts: dict[str, str]


class Outcome(BaseModel):
    """What happened to one page of the batch."""

    page: str
    label: str
    status: Status
    reason: str = ""
    error: str | None = None
    seconds: float = 0.0


class BatchResult(BaseModel):
    """Every page's outcome, in the order they finished (planning failures first)."""

    outcomes: list[Outcome] = []

    def count(self, status: Status) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0


@transient_retry
def decide(
    jobs: Sequence[PageJob],
    previous: dict[str, PageRecord],
    publish_dir: Path,
    *,
    force: bool = False,
    url: str | None = None,
) -> list[Decision]:
    """Fingerprint every job (one stats query set per account and window) and decide
    which render: new pages, changed parts, missing files, previously failed, or ``force``."""
    stats: dict[tuple[str, str, str], dict] = {}
    decisions = []
    with connect(url) as conn:
        for job in jobs:
            key = (job.account_slug, job.period, job.as_of)
            if key not in stats:
                info = resolve_account(conn, job.account_slug)
                window = make_window(job.period, job.as_of, info.timezone)
                stats[key] = fp.data_stats(conn, info.id, window)
            parts = fp.fingerprint_parts(
                job.dashboard, job.notebook, job.parameters(Path("page.json")), stats[key]
            )
            old = previous.get(job.page)
            changed = fp.changed_parts(old.fingerprint_parts if old else None, parts)
            if force:
                reason, render = "forced", True
            elif changed:
                reason, render = "changed: " + ", ".join(changed), True
            elif old is None or old.status != "ok":
                reason, render = "last render failed", True
            elif not (publish_dir / job.page).exists():
                reason, render = "page missing", True
            else:
                reason, render = "unchanged", False
            decisions.append(
                Decision(
                    job=job,
                    render=render,
                    reason=reason,
                    fingerprint=fp.combine(parts),
                    parts=parts,
                )
            )
    return decisions


@contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Send this process's stderr (and its kernels') to ``path`` while rendering a page,
    so kernel chatter lands in the page's build log instead of the operator's terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def render_page(
    decision: Decision,
    publish_dir: str,
    build_dir: str,
    renderer: str,
    cell_timeout: float | None,
):
    """Worker entry point (local process or Dask worker): render one page.

    The database URL is never an argument (it would travel to Dask workers and into
    their logs): workers read ``RFA_DATABASE_URL`` from their own environment.
    Returns ``(page, record | None, error | None, seconds)``; never raises.
    """
    job, started = decision.job, time.monotonic()
    try:
        with _stderr_to(Path(build_dir) / f"{job.label}.log"):
            record = run_job(
                job,
                Path(publish_dir),
                Path(build_dir),
                renderer,
                fingerprint=decision.fingerprint,
                fingerprint_parts=decision.parts,
                cell_timeout=cell_timeout,
            )
        return job.page, record, None, time.monotonic() - started
    except PublishError as exc:
        return job.page, None, str(exc), time.monotonic() - started
    except Exception as exc:  # noqa: BLE001 - never lose the batch to one page
        detail = traceback.format_exc(limit=2)
        return (
            job.page,
            None,
            f"{job.label}: {error_message(exc)}\n{detail}",
            time.monotonic() - started,
        )


def _local(todo, args, workers: int, timeout: float):
    """Yield worker results from a pebble process pool with a per-page wall-clock timeout."""
    from pebble import ProcessExpired, ProcessPool

    with ProcessPool(max_workers=max(1, workers)) as pool:
        futures = {pool.schedule(render_page, args=(d, *args), timeout=timeout): d for d in todo}
        for future in as_completed(futures):
            d = futures[future]
            try:
                yield future.result()
            except FutureTimeout:
                yield d.job.page, None, f"{d.job.label}: timed out after {timeout:.0f} s", timeout
            except ProcessExpired as exc:
                yield d.job.page, None, f"{d.job.label}: the render process died ({exc})", 0.0


def _dask(todo, args, scheduler_address: str):
    """Yield worker results computed on a Dask distributed cluster."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    with Client(scheduler_address) as client:
        futures = [
            client.submit(render_page, d, *args, pure=False, key=f"rfa-{d.job.label}") for d in todo
        ]
        for future in dask_completed(futures):
            yield future.result()


def mark_stale(records: Iterable[PageRecord], now: dt.datetime) -> dict[str, PageRecord]:
    """Records by page, with ``ok`` pages whose window ended more than :data:`STALE_AFTER`
    before ``now`` marked ``stale`` (and stale pages refreshed since marked ``ok``)."""
    out = {}
    for record in records:
        if record.status in ("ok", "stale"):
            status = "stale" if now - record.window_end > STALE_AFTER else "ok"
            record = record.model_copy(update={"status": status})
        out[record.page] = record
    return out


def run_batch(
    jobs: Iterable[PageJob],
    *,
    plan_failures: Sequence[tuple[str, str, str]] = (),
    workers: int | None = None,
    renderer: str = "auto",
    force: bool = False,
    dry_run: bool = False,
    executor: Literal["local", "dask"] = "local",
    scheduler_address: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    publish_dir: Path | None = None,
    build_dir: Path | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> BatchResult:
    """Decide, render and publish ``jobs``; merge the manifest and rewrite the index.

    ``plan_failures`` are ``(page, label, message)`` of pages that could not even be
    planned (e.g. a schedule naming an unknown flow): reported as failed. With
    ``dry_run`` nothing is rendered or written: the outcomes say what would render
    (status ``rendered``/``skipped`` with the reason). ``on_start(n)`` is called with
    the number of pages to render, ``on_outcome`` as each page finishes.
    """
    settings = get_settings()
    database_url = absolute_sqlite_url(settings.database_url)
    publish_dir = Path(publish_dir or settings.publish_dir)
    build_dir = Path(build_dir or settings.build_dir)
    previous = {r.page: r for r in load_records(publish_dir)}
    result = BatchResult()

    def emit(outcome: Outcome) -> None:
        result.outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    for page, label, message in plan_failures:
        emit(Outcome(page=page, label=label, status="failed", reason="not planned", error=message))
    decisions = decide(list(jobs), previous, publish_dir, force=force, url=database_url)
    todo = [d for d in decisions if d.render]
    for d in decisions:
        if not d.render:
            emit(Outcome(page=d.job.page, label=d.job.label, status="skipped", reason=d.reason))
    if dry_run:
        for d in todo:
            emit(
                Outcome(
                    page=d.job.page,
                    label=d.job.label,
                    status="rendered",
                    reason=f"would render ({d.reason})",
                )
            )
        return result
    if on_start:
        on_start(len(todo))
    publish_dir.mkdir(parents=True, exist_ok=True)
    for leftover in publish_dir.rglob(".*.tmp"):  # from a run killed mid-write
        leftover.unlink(missing_ok=True)
    # Local workers inherit the environment; kernels run in each page's build
    # directory, so they get an absolute SQLite path.
    os.environ["RFA_DATABASE_URL"] = database_url
    args = (str(publish_dir), str(build_dir), renderer, timeout)
    if executor == "dask":
        if not scheduler_address:
            raise PublishError("--executor dask needs --scheduler-address tcp://HOST:PORT")
        results = _dask(todo, args, scheduler_address)
    else:
        results = _local(todo, args, workers or os.cpu_count() or 1, timeout)
    reasons = {d.job.page: d for d in todo}
    records: dict[str, PageRecord] = {}
    for page, record, error, seconds in results:
        d = reasons[page]
        if record is not None:
            records[page] = record
            emit(
                Outcome(
                    page=page,
                    label=d.job.label,
                    status="rendered",
                    reason=d.reason,
                    seconds=round(seconds, 1),
                )
            )
        else:
            emit(
                Outcome(
                    page=page,
                    label=d.job.label,
                    status="failed",
                    reason=d.reason,
                    error=error,
                    seconds=round(seconds, 1),
                )
            )
    by_page = dict(previous)
    for outcome in result.outcomes:
        if outcome.status == "failed" and outcome.page in by_page:
            first_line = (outcome.error or "").splitlines()[0] if outcome.error else None
            by_page[outcome.page] = by_page[outcome.page].model_copy(
                update={"status": "failed", "error": first_line}
            )
    by_page.update(records)
    by_page = mark_stale(by_page.values(), dt.datetime.now(dt.UTC))
    ordered = sorted(
        by_page.values(), key=lambda r: (r.account_slug, r.dashboard, r.scope, r.period)
    )
    save_records(ordered, publish_dir)
    write_index(ordered, publish_dir, generated_at=dt.datetime.now(dt.UTC))
    return result
