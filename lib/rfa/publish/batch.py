"""Run a batch of pages: decide what changed, render in parallel, publish, report.

* **Incremental** — a page is skipped when its fingerprint (notebook, library
  version, parameters, source-data stats: :mod:`rfa.publish.fingerprint`) equals
  the one in ``manifest.json`` and the page is still there; ``force`` renders anyway.
* **Parallel and isolated** — each page renders in a separate process (a pebble
  process pool locally, or a Dask distributed cluster), with its own kernel and
  build directory, under a wall-clock timeout. One failing page never stops the
  others; it keeps its last good version and is marked failed in the index.
* **Fast, still one fresh kernel per page** — a local worker that renders several pages
  forks each page's kernel from a kernel template that imported the heavy libraries once
  (:mod:`rfa.publish.kernels`); with fewer workers than cores it also starts the next
  page's kernel while a page executes (:func:`_start_spare`); it keeps one nbconvert
  exporter (:mod:`rfa.publish.render`). A kernel is never used for a second page. With
  Quarto, workers only execute and this process renders the executed pages several at
  a time, one Quarto process per project (:func:`_render_executed`). Each page's phases
  (kernel, execute, render, publish) are in its outcome, its log line and its build log.
* **Published by this process** — local workers leave each page rendered in its build
  folder; this process moves it into place and records it at once (a signal waits for
  that), so a page is published if and only if the manifest lists it; pages that
  finished rendering before a signal but were not collected yet are published and
  listed too. (Dask workers publish themselves: the build folder need not be shared.)
* **Atomic** — pages, data files, the manifest and the index are written to
  temporary files and renamed into place.
* **Interruptible, no orphans** — SIGTERM, SIGINT or SIGHUP during a local batch stops
  the worker pool (each worker kills its kernel and renderer before it exits), sweeps
  any process still marked with the batch's :data:`BATCH_ENV` and any temporary file,
  records the pages that did finish, and returns with ``signal`` set (the CLI then
  exits ``128 + signal``). Every process a local batch starts carries
  ``RFA_BATCH_ID=<id>`` in its environment (kernels and kernel templates too; kernels
  started for a page also ``RFA_PAGE=<page label>``).
* **Bounded** — each worker renders at most :data:`MAX_TASKS_PER_WORKER` pages, then
  is replaced, so a long batch's memory does not grow with its length. Database
  connections: a worker holds none; each page's kernel opens one engine per load and
  disposes it, so a batch holds at most ``workers`` connections (+1 while deciding).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import as_completed
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from rfa.catalog import DASHBOARDS
from rfa.config import absolute_sqlite_url, get_settings
from rfa.db import connect, transient_retry
from rfa.publish import fingerprint as fp
from rfa.publish.kernels import use_template
from rfa.publish.paths import page_path
from rfa.publish.pipeline import (
    BATCH_ENV,
    RENDER_LATER,
    Kernel,
    PageJob,
    PublishError,
    dedupe_jobs,
    error_message,
    log_line,
    notebook_imports,
    publish_job,
    remove_kernel_sockets,
    run_job,
)
from rfa.publish.site import (
    PageRecord,
    load_records,
    lock_wait,
    one_line,
    publish_lock,
    refill_pages,
    save_records,
    unvouched,
    write_index,
)
from rfa.queries.accounts import resolve_account
from rfa.window import make_window

log = logging.getLogger("rfa.publish")

STALE_AFTER = dt.timedelta(hours=36)
"""A page whose window ended longer ago than this is marked stale in the index: the
nightly run did not refresh it (its schedule dropped it, or its renders keep failing)."""
DEFAULT_TIMEOUT = 600.0
"""Wall-clock seconds one page may take (execution + render) before it is failed."""
MAX_TASKS_PER_WORKER = 20
"""Pages one local worker process renders before it is replaced by a fresh one (bounds
the memory a long batch can accumulate in a worker: imports, caches, fragmentation)."""
PAGE_ENV = "RFA_PAGE"
"""Environment variable carrying the page label into its kernel and renderer."""
SPARE_PAGE = "(started ahead of use)"
"""``RFA_PAGE`` of a kernel started before its page was known (:func:`_start_spare`)."""
REAP_GRACE = 3.0
"""Seconds a straggler gets after SIGTERM before it is killed."""
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
Status = Literal["rendered", "skipped", "failed", "would-render"]
"""A page's status; ``would-render`` only in a dry run (nothing is rendered)."""


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
    phases: dict[str, float] = {}
    """Seconds of each phase of a rendered page (:data:`rfa.publish.pipeline.PHASES`)."""


class BatchResult(BaseModel):
    """Every page's outcome, in the order they finished (planning failures first).

    ``signal`` is the number of the signal (SIGTERM, SIGINT, SIGHUP) that interrupted
    the batch, if one did; ``not_rendered`` then lists the labels of the pages that
    were to render but did not finish (they keep their previous version).
    """

    outcomes: list[Outcome] = []
    signal: int | None = None
    not_rendered: list[str] = []
    build_dir: str | None = None
    """This run's build folder (page logs, executed notebooks); ``None`` in a dry run."""

    def count(self, status: Status) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def interrupted(self) -> str | None:
        """The interrupting signal's name (``"SIGTERM"``), or ``None``."""
        return signal.Signals(self.signal).name if self.signal else None

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0 and self.signal is None


class _Interrupted(BaseException):
    """Raised in the main thread by :class:`_SignalGuard` (not an ``Exception``, so no
    ``except Exception`` on the way swallows it)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class _SignalGuard:
    """Turn SIGTERM / SIGINT / SIGHUP into :class:`_Interrupted` while :meth:`armed`, and
    only record them otherwise (e.g. while the manifest is written), so that cleanup is
    never cut short. Installed only from the main thread, and only over the default
    handlers (a signal the caller ignores, e.g. SIGHUP under ``nohup``, stays ignored)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._armed = False
        self._saved: dict[int, object] = {}

    def __enter__(self) -> _SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in HANDLED_SIGNALS:
                current = signal.getsignal(sig)
                if current in (signal.SIG_DFL, signal.default_int_handler):
                    self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved.clear()

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is None:
            self.signum = signum
        if self._armed:
            self._armed = False
            raise _Interrupted(signum)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Inside an armed section: only record signals while the body runs (a page being
        moved into place and recorded is never cut in half), then raise the one recorded."""
        was, self._armed = self._armed, False
        try:
            yield
        finally:
            self._armed = was
        if was and self.signum is not None:
            self._armed = False
            raise _Interrupted(self.signum)

    @contextmanager
    def armed(self) -> Iterator[None]:
        if self.signum is not None:
            raise _Interrupted(self.signum)
        self._armed = True
        try:
            yield
        finally:
            self._armed = False


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
    which render: new pages, changed parts, previously failed, pages or data files the
    manifest does not vouch for (missing, or not the content it recorded:
    :func:`rfa.publish.site.unvouched`), or ``force``."""
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
            elif why := unvouched(old, publish_dir):
                reason, render = why, True  # e.g. a run killed before its manifest write
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
    prestart: bool = False,
    publish: bool = True,
):
    """Worker entry point (local process or Dask worker): render one page.

    The database URL is never an argument (it would travel to Dask workers and into
    their logs): workers read ``RFA_DATABASE_URL`` from their own environment.
    With ``prestart`` (more pages are queued behind this one), the next page's fresh
    kernel is started while this page executes (:func:`_take_spare`). Without
    ``publish`` (local workers), the page is left rendered in its build folder for the
    batch to publish (:func:`rfa.publish.pipeline.publish_job`).
    Returns ``(page, result, error | None, seconds, phases)``; never raises. ``result``
    is the page's record when it was published, the renderer used when it is rendered
    but not published, ``None`` when it failed or is executed only
    (:data:`~rfa.publish.pipeline.RENDER_LATER`).
    """
    job, started = decision.job, time.monotonic()
    # a local worker retires after MAX_TASKS_PER_WORKER pages: no kernel ahead of use then
    _pages_rendered[0] += 1
    prestart = prestart and _pages_rendered[0] < MAX_TASKS_PER_WORKER
    phases: dict[str, float] = {}
    page_log = Path(build_dir) / f"{job.label}.log"
    kernel = _take_spare()
    saved_page = os.environ.get(PAGE_ENV)
    os.environ[PAGE_ENV] = job.label  # inherited by the kernel and the renderer
    try:
        with _stderr_to(page_log):
            record = run_job(
                job,
                Path(publish_dir),
                Path(build_dir),
                renderer,
                fingerprint=decision.fingerprint,
                fingerprint_parts=decision.parts,
                cell_timeout=cell_timeout,
                kernel=kernel,
                phases=phases,
                on_execute=(lambda: _start_spare(job.notebook, build_dir)) if prestart else None,
                publish=publish,
            )
            _log_phases(phases)
        return job.page, record, None, time.monotonic() - started, phases
    except PublishError as exc:
        return job.page, None, str(exc), time.monotonic() - started, phases
    except Exception as exc:  # noqa: BLE001 - never lose the batch to one page
        detail = traceback.format_exc(limit=2)
        return (
            job.page,
            None,
            f"{job.label}: {error_message(exc)}\n{detail}",
            time.monotonic() - started,
            phases,
        )
    finally:
        _move_log(kernel, page_log)  # run_job has stopped it
        if saved_page is None:
            os.environ.pop(PAGE_ENV, None)
        else:
            os.environ[PAGE_ENV] = saved_page


def _log_phases(phases: dict[str, float]) -> None:
    """One line in the page's build log: where its time went."""
    text = " ".join(f"{name}={seconds:.2f}s" for name, seconds in phases.items())
    log_line(f"rfa: page phases: {text}")


# A worker process's kernel started ahead of use for its next page (at most one).
_spare: Kernel | None = None
_pages_rendered = [0, 0]
"""Pages this worker process was given (local pool workers retire after a number), and
whether its exit stops a kernel started ahead of use."""


def _start_spare(notebook: Path, build_dir: str) -> None:
    """Start a fresh kernel for this worker's next page now, while the current page executes
    (on a machine with a free core, its start and preloads then cost the next page nothing).
    It preloads ``notebook``'s modules (the next page is most likely of the same kind; any
    notebook can use it). Its standard error goes to a file of its own until it has a page
    (:func:`_take_spare`); it is stopped when the worker exits unused (:func:`_discard_spare`)."""
    global _spare
    if _spare is not None:
        return
    from multiprocessing import util

    logs = Path(build_dir) / ".kernels"
    saved = os.environ.get(PAGE_ENV)
    os.environ[PAGE_ENV] = SPARE_PAGE
    try:
        logs.mkdir(parents=True, exist_ok=True)
        _spare = Kernel(
            notebook_imports(notebook),
            cwd=Path(build_dir),
            stderr=logs / f"{uuid.uuid4().hex}.log",
        )
    except Exception:  # noqa: BLE001 - the next page starts its own kernel instead
        log.warning("could not start a kernel ahead of use", exc_info=True)
        return
    finally:
        if saved is None:
            os.environ.pop(PAGE_ENV, None)
        else:
            os.environ[PAGE_ENV] = saved
    if not _pages_rendered[1]:
        # run when the worker retires (max tasks, pool closed) or is stopped by SIGTERM
        util.Finalize(None, _discard_spare, exitpriority=100)
        _pages_rendered[1] = 1


def _take_spare() -> Kernel | None:
    """The kernel started ahead of use, if it is still alive: taken, it is this page's."""
    global _spare
    kernel, _spare = _spare, None
    if kernel is not None and not kernel.is_alive():
        kernel.shutdown()
        _move_log(kernel, None)
        return None
    return kernel


def _move_log(kernel: Kernel | None, page_log: Path | None) -> None:
    """Append a spare kernel's own standard error file to its page's log (once the kernel is
    stopped), then remove the file."""
    if kernel is None or kernel.stderr is None:
        return
    with suppress(OSError):
        if page_log is not None and kernel.stderr.stat().st_size:
            with open(page_log, "ab") as sink, open(kernel.stderr, "rb") as source:
                shutil.copyfileobj(source, sink)
        kernel.stderr.unlink()


def _discard_spare() -> None:
    """Stop an unused kernel started ahead of use (the worker is exiting)."""
    global _spare
    kernel, _spare = _spare, None
    if kernel is not None:
        kernel.shutdown()
        _move_log(kernel, None)


def _kill_tree(procs, grace: float) -> None:
    """SIGTERM ``procs`` (psutil processes), SIGKILL those alive after ``grace`` seconds."""
    import psutil

    for proc in procs:
        with suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace)


def batch_processes(batch_id: str) -> list:
    """Live processes (psutil) of this user whose environment carries ``RFA_BATCH_ID=batch_id``:
    the kernels and renderers of a local batch (workers are forked, and a forked process's
    environment block is its parent's, so workers are found through the pool instead)."""
    import psutil

    me, uid, found = os.getpid(), os.getuid(), []
    for proc in psutil.process_iter(["uids"]):
        uids = proc.info.get("uids")
        if proc.pid == me or uids is None or uids.real != uid:
            continue
        try:
            if proc.environ().get(BATCH_ENV) == batch_id and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def reap(batch_id: str, grace: float = REAP_GRACE) -> int:
    """Stop every process still marked with ``batch_id`` (SIGTERM, then SIGKILL after
    ``grace`` seconds); returns how many there were."""
    procs = batch_processes(batch_id)
    if procs:
        log.warning("stopping %d leftover process(es) of batch %s", len(procs), batch_id)
        _kill_tree(procs, grace)
    return len(procs)


def _worker_exit(signum: int, frame: object) -> None:
    """A pool worker's SIGTERM handler (pebble sends it on a page timeout and when the pool
    stops): kill this worker's kernel and renderer first, so none outlives it, then exit."""
    import psutil

    with suppress(Exception):
        children = psutil.Process().children(recursive=True)
        for child in children:
            with suppress(psutil.Error):
                child.kill()
        psutil.wait_procs(children, timeout=REAP_GRACE)
    with suppress(Exception):
        remove_kernel_sockets()
    from pebble.common import process_exit

    process_exit(128 + signum)


def _init_worker(build_dir: str, template: bool) -> None:
    """Pool worker initializer: signals are the main process's business (it stops the pool);
    SIGTERM from the pool takes the worker's kernels (and kernel template) down with it.
    With ``template`` (workers render several pages each), the worker starts a kernel
    template now and forks its pages' kernels from it (:mod:`rfa.publish.kernels`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_exit)
    if template:
        use_template(Path(build_dir) / ".kernels", start=True)


def _cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _LocalRunner:
    """Render pages in a pebble process pool, each under a wall-clock timeout.

    :meth:`results` yields ``render_page`` results as pages finish; :meth:`shutdown`
    (always called) closes the pool — or, when ``abort``, stops it at once, killing the
    workers and their kernels — and then reaps any straggler of the batch.
    """

    def __init__(self, todo, args, workers: int, timeout: float, batch_id: str):
        # Forked workers inherit what is imported here: the kernel manager (a worker starts
        # its page's kernel first thing) and, for a batch, papermill and nbconvert (~1.5 s,
        # imported once instead of once per worker). For a page or two per worker they are
        # not: a worker imports them while its first kernel starts, on another core.
        import jupyter_client.manager  # noqa: F401
        from pebble import ProcessPool

        self.todo, self.args, self.timeout, self.batch_id = todo, args, timeout, batch_id
        self.workers = max(1, min(workers, len(todo)))
        # a template costs about what it saves on two kernels: only for 2+ pages a worker
        template = len(todo) >= 2 * self.workers
        if template:
            import papermill  # noqa: F401

            import rfa.publish.render  # noqa: F401
        self.pool = ProcessPool(
            max_workers=self.workers,
            max_tasks=MAX_TASKS_PER_WORKER,
            initializer=_init_worker,
            initargs=(args[1], template),
        )

    def results(self):
        from pebble import ProcessExpired

        # With a core to spare (fewer workers than cores), a worker starts the next page's
        # kernel while a page executes, except for the last pages (one per worker): their
        # workers get no further page. With every core busy it would only add processes.
        last = len(self.todo) - self.workers if self.workers < _cores() else 0
        futures = self.futures = {
            self.pool.schedule(
                render_page, args=(d, *self.args, i < last, False), timeout=self.timeout
            ): d
            for i, d in enumerate(self.todo)
        }
        for future in as_completed(futures):
            d = futures[future]
            try:
                yield future.result()
            except FutureTimeout:
                yield (
                    d.job.page,
                    None,
                    f"{d.job.label}: timed out after {self.timeout:.0f} s",
                    self.timeout,
                    {},
                )
            except ProcessExpired as exc:
                yield d.job.page, None, f"{d.job.label}: the render process died ({exc})", 0.0, {}

    def late_results(self):
        """Results of pages that finished before the batch was stopped but were not
        collected yet (a signal between a worker's result and the main process reading
        it): they are published and listed in the manifest too."""
        for future in getattr(self, "futures", {}):
            if future.done() and not future.cancelled() and future.exception() is None:
                yield future.result()

    def shutdown(self, abort: bool) -> None:
        if abort:
            self.pool.stop()
        else:
            self.pool.close()
        try:
            self.pool.join(timeout=None if abort else 60)
        except TimeoutError:  # pragma: no cover - every task has finished by now
            self.pool.stop()
            self.pool.join()
        reap(self.batch_id)
        remove_kernel_sockets(self.batch_id)  # of workers that were killed (timeout, OOM)
        # kernel templates' logs: kept only when a template said something
        for template_log in (Path(self.args[1]) / ".kernels").glob("template-*.log"):
            with suppress(OSError):
                if not template_log.stat().st_size:
                    template_log.unlink()


class _DaskRunner:
    """Render pages on a Dask distributed cluster; :meth:`shutdown` cancels what is left."""

    def __init__(self, todo, args, scheduler_address: str):
        from distributed import Client

        self.client = Client(scheduler_address)
        self.futures = [
            self.client.submit(render_page, d, *args, pure=False, key=f"rfa-{d.job.label}")
            for d in todo
        ]

    def results(self):
        from distributed import as_completed as dask_completed

        for future in dask_completed(self.futures):
            yield future.result()

    def shutdown(self, abort: bool) -> None:
        try:
            if abort:
                self.client.cancel(self.futures)
        finally:
            self.client.close()


def _sweep_temporary_files(publish_dir: Path) -> None:
    """Remove the temporary files of interrupted atomic writes (``.NAME.XXXX.tmp``)."""
    if publish_dir.is_dir():
        for leftover in publish_dir.rglob(".*.tmp"):
            leftover.unlink(missing_ok=True)


def mark_stale(records: Iterable[PageRecord], now: dt.datetime) -> dict[str, PageRecord]:
    """Records by page, with ``ok`` pages whose window ended more than :data:`STALE_AFTER`
    before ``now`` marked ``stale`` (and stale pages refreshed since marked ``ok``). Only
    rolling pages can be stale: an ad-hoc page's window is fixed, and its name says so."""
    out = {}
    for record in records:
        if record.status in ("ok", "stale") and record.rolling:
            status = "stale" if now - record.window_end > STALE_AFTER else "ok"
            record = record.model_copy(update={"status": status})
        out[record.page] = record
    return out


def _collisions(
    jobs: Sequence[PageJob], previous: dict[str, PageRecord]
) -> tuple[list[PageJob], list[tuple[str, str, str]]]:
    """Jobs whose page path the manifest holds for another page (another account,
    dashboard or scope: e.g. a page published before paths carried whole ids) fail
    loudly instead of overwriting it: ``(kept jobs, failures)``."""
    kept, failures = [], []
    for job in jobs:
        old = previous.get(job.page)
        scope = job.spec.scope
        # a record without the scope parameter (an old manifest) cannot tell: not a collision
        theirs = old.parameters.get(scope, job.scope_id) if (old is not None and scope) else None
        if old is not None and (
            old.account_slug != job.account_slug
            or old.dashboard != job.dashboard
            or (scope is not None and str(theirs or "") != (job.scope_id or ""))
        ):
            failures.append(
                (
                    job.page,
                    job.label,
                    f"{job.label}: page path collision: the manifest lists this path for "
                    f"{old.dashboard} {old.scope!r} of {old.account_slug}; nothing is "
                    "overwritten — accepted: one scope per page path",
                )
            )
        else:
            kept.append(job)
    return kept, failures


def _identity(record: PageRecord) -> tuple:
    """What makes two records the same page, whatever its path: account, dashboard, scope
    id, period, and the window's end for a fixed window."""
    spec = DASHBOARDS.get(record.dashboard)
    scope = str(record.parameters.get(spec.scope, "")) if spec and spec.scope else ""
    end = None if record.rolling else record.as_of
    return (record.account_slug, record.dashboard, scope, record.period, record.rolling, end)


def retire_moved_pages(
    by_page: dict[str, PageRecord], new: dict[str, PageRecord], publish_dir: Path
) -> list[str]:
    """Drop from ``by_page`` (and from disk) the records of pages this run published
    under another path: a page published before paths carried the scope's whole id
    (``flow-<name>-<8 hex>-30d.html``) is the same page as its new record, and would
    otherwise stay in the index, stale, beside it. Only a record of the same account,
    dashboard, scope id, period and window is retired. Returns the retired paths."""
    fresh = {_identity(record): page for page, record in new.items()}
    retired = []
    for page, record in list(by_page.items()):
        moved_to = fresh.get(_identity(record))
        if moved_to is None or moved_to == page or page in new:
            continue
        for relative in (record.page, record.data_file):
            with suppress(OSError):
                page_path(publish_dir, relative).unlink(missing_ok=True)
        del by_page[page]
        retired.append(page)
    return retired


BUILDS_KEPT = 3
"""Build folders of finished runs kept in the build directory (the newest; a running
run's folder is never removed): each run builds in ``<build dir>/run-<UTC time>-<pid>/``."""


@contextmanager
def run_build_folder(build_dir: Path) -> Iterator[Path]:
    """A build folder for this run alone, ``<build_dir>/run-<YYYYmmddTHHMMSSZ>-<pid>``,
    held with a file lock (``….lock`` beside it) while the run lasts, so no other run
    (of any publish folder) builds in it or removes it. On exit, finished runs' folders
    beyond the newest :data:`BUILDS_KEPT` are removed (never one whose lock is held).
    Yields the folder's path."""
    import filelock

    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = build_dir / f"run-{stamp}-{os.getpid()}"
    lock = filelock.FileLock(folder.with_name(folder.name + ".lock"), timeout=0)
    lock.acquire()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
    finally:
        lock.release()
        _prune_builds(build_dir, keep=BUILDS_KEPT)


def _prune_builds(build_dir: Path, keep: int) -> None:
    """Remove run folders of ``build_dir`` beyond the newest ``keep``, skipping any whose
    run still holds its lock."""
    import filelock

    runs = sorted((p for p in build_dir.glob("run-*") if p.is_dir()), key=lambda p: p.name)
    for old in runs[: max(len(runs) - keep, 0)]:
        lock = filelock.FileLock(old.with_name(old.name + ".lock"), timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            continue  # a run still building there
        try:
            shutil.rmtree(old, ignore_errors=True)
        finally:
            lock.release()
        old.with_name(old.name + ".lock").unlink(missing_ok=True)


def _waiting(line: str) -> None:
    print(f"rfa: {line}", file=sys.stderr, flush=True)


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
    planned (e.g. a schedule naming an unknown flow): reported as failed. Jobs are
    de-duplicated first (:func:`~rfa.publish.pipeline.dedupe_jobs`): a page planned
    twice alike renders once; planned with different parameters, or a path two
    scopes (or the manifest and a job) would share, it fails with a one-line reason
    and nothing is overwritten. With ``dry_run`` nothing is rendered or written: the
    outcomes say what would render (status ``would-render``/``skipped`` with the reason).
    ``on_start(n)`` is called with the number of pages to render, ``on_outcome`` as
    each page finishes.

    Except in a dry run, the run holds the publish folder's lock
    (:func:`~rfa.publish.site.publish_lock`) from reading the manifest to writing the
    index, and builds in a folder of its own (:func:`run_build_folder`). Raises
    :class:`~rfa.publish.site.PublishBusy` (exit code 75) when another run holds the
    lock longer than ``RFA_PUBLISH_LOCK_WAIT_S``, and
    :class:`~rfa.publish.site.SiteError` when the manifest or index cannot be written
    (the previous one is kept).
    """
    settings = get_settings()
    database_url = absolute_sqlite_url(settings.database_url)
    publish_dir = Path(publish_dir or settings.publish_dir)
    jobs, conflicts = dedupe_jobs(list(jobs))
    builds = Path(build_dir or settings.build_dir)
    with ExitStack() as held:
        run: Path | None = None
        if not dry_run:
            held.enter_context(publish_lock(publish_dir, lock_wait(), on_wait=_waiting))
            run = held.enter_context(run_build_folder(builds))
        return _run_locked(
            jobs,
            [*plan_failures, *conflicts],
            publish_dir=publish_dir,
            build_dir=run,
            database_url=database_url,
            workers=workers,
            renderer=renderer,
            force=force,
            dry_run=dry_run,
            executor=executor,
            scheduler_address=scheduler_address,
            timeout=timeout,
            on_outcome=on_outcome,
            on_start=on_start,
        )


def _run_locked(
    jobs: list[PageJob],
    plan_failures: Sequence[tuple[str, str, str]],
    *,
    publish_dir: Path,
    build_dir: Path | None,
    database_url: str,
    workers: int | None,
    renderer: str,
    force: bool,
    dry_run: bool,
    executor: str,
    scheduler_address: str | None,
    timeout: float,
    on_outcome: Callable[[Outcome], None] | None,
    on_start: Callable[[int], None] | None,
) -> BatchResult:
    """:func:`run_batch` once the publish lock is held (or for a dry run)."""
    previous = {r.page: r for r in load_records(publish_dir)}
    jobs, collisions = _collisions(jobs, previous)
    plan_failures = [*plan_failures, *collisions]
    result = BatchResult(build_dir=str(build_dir) if build_dir else None)

    def emit(outcome: Outcome) -> None:
        result.outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    with _SignalGuard() as guard:
        for page, label, message in plan_failures:
            failure = Outcome(
                page=page, label=label, status="failed", reason="not planned", error=message
            )
            emit(failure)
        try:
            with guard.armed():
                decisions = decide(jobs, previous, publish_dir, force=force, url=database_url)
        except _Interrupted as exc:  # nothing rendered, nothing written
            result.signal, result.not_rendered = exc.signum, [j.label for j in jobs]
            return result
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
                        status="would-render",
                        reason=d.reason,
                    )
                )
            return result
        assert build_dir is not None
        if executor == "dask" and not scheduler_address:
            raise PublishError("--executor dask needs --scheduler-address tcp://HOST:PORT")
        if on_start:
            on_start(len(todo))
        publish_dir.mkdir(parents=True, exist_ok=True)
        _sweep_temporary_files(publish_dir)  # from a run killed mid-write
        records = _render_all(
            todo,
            guard,
            result,
            emit,
            args=(str(publish_dir), str(build_dir), renderer, timeout),
            database_url=database_url,
            executor=executor,
            scheduler_address=scheduler_address,
            workers=workers or os.cpu_count() or 1,
            timeout=timeout,
            site=previous,
        )
        if executor != "dask":
            _sweep_temporary_files(publish_dir)  # a worker stopped mid-write (interrupted)
        # From here on signals are only recorded: the manifest and index are written whole.
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        by_page = dict(previous)
        for outcome in result.outcomes:
            if outcome.status == "failed" and outcome.page in by_page:
                by_page[outcome.page] = by_page[outcome.page].model_copy(
                    update={"status": "failed", "error": one_line(outcome.error), "failed_at": now}
                )
        by_page.update(records)
        retire_moved_pages(by_page, records, publish_dir)
        by_page = mark_stale(by_page.values(), now)
        ordered = sorted(
            by_page.values(), key=lambda r: (r.account_slug, r.dashboard, r.scope, r.period)
        )
        # every page's navigation and banner, so earlier pages link to later ones
        refill_pages(ordered, publish_dir, on_error=_waiting)
        save_records(ordered, publish_dir)
        write_index(ordered, publish_dir, generated_at=now)
        if result.signal is None and guard.signum is not None:
            result.signal = guard.signum  # arrived while the manifest was being written
    return result


QUARTO_PROJECT_PAGES = 8
"""Executed pages rendered together by one Quarto process (while workers execute more)."""


def _quarto_renders(renderer: str) -> bool:
    """Whether ``renderer`` means Quarto here (``auto`` with ``quarto`` on PATH)."""
    from rfa.publish.render import quarto_available

    return renderer in ("auto", "quarto") and quarto_available() is not None


def _render_executed(
    executed: list[tuple[Decision, float, dict[str, float]]],
    args: tuple,
    finish: Callable[..., None],
) -> None:
    """Render executed pages with one Quarto project render; ``finish`` publishes and
    reports each (a rendered page is handed over with its renderer, ``"quarto"``)."""
    from rfa.publish.render import QuartoPage, RenderError, render_quarto_project

    build_dir = Path(args[1])
    items = []
    for d, _, _ in executed:
        work = page_path(build_dir, d.job.label)
        items.append((work / "page.ipynb", work / "page.html", d.job.title))
    try:
        results = render_quarto_project(items, build_dir)
    except RenderError as exc:
        results = {html: QuartoPage(str(exc), 0.0) for _, html, _ in items}
    for (d, seconds, phases), (notebook, html, _) in zip(executed, items, strict=True):
        outcome = results.get(html) or QuartoPage("quarto did not report this page", 0.0)
        phases = {**phases, "render": outcome.seconds}  # the page's own render time
        seconds += outcome.seconds
        problem = outcome.error
        if problem is not None:
            message = error_message(RenderError(problem), notebook)
            finish(d.job.page, None, f"{d.job.label}: {message}", seconds, phases)
        else:
            finish(d.job.page, "quarto", None, seconds, phases)


def _render_all(
    todo: list[Decision],
    guard: _SignalGuard,
    result: BatchResult,
    emit: Callable[[Outcome], None],
    *,
    args: tuple,
    database_url: str,
    executor: str,
    scheduler_address: str | None,
    workers: int,
    timeout: float,
    site: dict[str, PageRecord] | None = None,
) -> dict[str, PageRecord]:
    """Render ``todo`` (locally or on Dask), emitting each page's outcome as it finishes;
    returns the new records. On a signal: stop the renders, reap their processes, set
    ``result.signal`` and ``result.not_rendered``. ``site``: the manifest's records,
    for the related links a page gets as it is published."""
    # Local workers inherit the environment; kernels run in each page's build
    # directory, so they get an absolute SQLite path.
    os.environ["RFA_DATABASE_URL"] = database_url
    batch_id = uuid.uuid4().hex[:16]
    saved_batch = os.environ.get(BATCH_ENV)
    pending = {d.job.page: d for d in todo}
    records: dict[str, PageRecord] = {}
    runner: _LocalRunner | _DaskRunner | None = None
    aborted = True
    # With Quarto, local workers only execute; pages are rendered here, many per Quarto
    # process (a Quarto project), while the workers execute the next pages.
    later = executor != "dask" and len(todo) > 1 and _quarto_renders(args[2])
    if later:
        args = (*args[:2], RENDER_LATER, *args[3:])
    executed: list[tuple[Decision, float, dict[str, float]]] = []

    def finish(page, record, error, seconds, phases) -> None:
        with guard.held():  # a signal now waits until the page is published and recorded
            _finish(page, record, error, seconds, phases)

    def _finish(page, record, error, seconds, phases) -> None:
        d = pending[page]
        if isinstance(record, str):  # rendered by a local worker: published here
            try:
                record = publish_job(
                    d.job,
                    Path(args[0]),
                    Path(args[1]),
                    record,
                    fingerprint=d.fingerprint,
                    fingerprint_parts=d.parts,
                    phases=phases,
                    site=[*(site or {}).values(), *records.values()],
                )
            except PublishError as exc:
                record, error = None, str(exc)
            except (OSError, ValueError, KeyError) as exc:
                record, error = None, f"{d.job.label}: {error_message(exc)}"
            seconds += phases.get("publish", 0.0)
        del pending[page]
        if record is not None:
            records[page] = record
        emit(
            Outcome(
                page=page,
                label=d.job.label,
                status="rendered" if record is not None else "failed",
                reason=d.reason,
                error=None if record is not None else error,
                seconds=round(seconds, 1),
                phases={k: round(v, 2) for k, v in phases.items()},
            )
        )

    try:
        with guard.armed():
            if executor == "dask":
                runner = _DaskRunner(todo, args, scheduler_address or "")
            else:
                os.environ[BATCH_ENV] = batch_id
                runner = _LocalRunner(todo, args, workers, timeout, batch_id)
            for page, record, error, seconds, phases in runner.results():
                if later and record is None and error is None:  # executed, to render
                    executed.append((pending[page], seconds, phases))
                    if len(executed) >= QUARTO_PROJECT_PAGES:
                        _render_executed(executed, args, finish)
                        executed = []
                    continue
                finish(page, record, error, seconds, phases)
            if executed:
                _render_executed(executed, args, finish)
        aborted = False
    except _Interrupted as exc:
        result.signal = exc.signum
    finally:
        try:
            if runner is not None:
                runner.shutdown(abort=aborted)
        finally:
            if saved_batch is None:
                os.environ.pop(BATCH_ENV, None)
            else:
                os.environ[BATCH_ENV] = saved_batch
    if result.signal is not None and isinstance(runner, _LocalRunner):
        for page, record, error, seconds, phases in runner.late_results():
            if page in pending and record is not None and error is None:
                finish(page, record, error, seconds, phases)
    if result.signal is not None:
        result.not_rendered = [d.job.label for d in pending.values()]
    return records
