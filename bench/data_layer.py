"""Data layer at scale: wall time and peak memory of each page's extraction + metrics.

Every measurement runs in a fresh child process (``python -m bench.data_layer measure
…``), so its peak RSS (``VmHWM``; see :func:`_peak_mb` for why not ``ru_maxrss``) is that
page's alone; the RSS right after the imports is recorded as the baseline. In the child,
one warm-up call is followed by ``repeat`` timed calls (fewer when the warm-up shows they
would exceed the time budget); the median and the minimum are reported.

What is measured, always through the library's public functions with a fixed ``as_of``
and the 90-day window:

* ``team`` — :func:`rfa.dashboards.team_page`;
* ``flow`` — :func:`rfa.dashboards.flow_page` of the busiest flow (passed by id, as a
  schedule passes it);
* ``flowpilot`` — :func:`rfa.dashboards.flowpilot_page`;
* ``step_table`` — :func:`rfa.metrics.flow.step_table` alone on the busiest flow's
  decisions frame (:func:`rfa.queries.sessions.decisions_frame`, read untimed);
* ``step_table_all`` — the same function on N sessions of that flow (its decisions and
  thumbs replicated to N sessions), the "step table on N sessions" of issue 6's goal;
* ``seed_team`` / ``seed_flow`` — the seed's pattern (:mod:`bench.seed_pattern`), on
  PostgreSQL only;
* ``team_reads`` — :func:`rfa.dashboards.team_reads` alone: what the team page reads of the
  database (both windows' sessions and ratings), with no screening and no metric — the
  part of the team page that the database and the driver decide.

``python -m bench.data_layer measure --page team --url URL --n 10000`` prints one JSON
object (the measurement) as its last stdout line; ``--profile DIR`` instead saves a
pyinstrument profile (text and HTML) of one call after the warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.generate import AS_OF_TEXT, MAIN_SLUG, PERIOD, REPO, console, label, window_bounds

PAGES = ("team", "flow", "flowpilot")
SEED_PAGES = ("seed_team", "seed_flow")
STEP_PAGES = ("step_table", "step_table_all")
READ_PAGES = ("team_reads",)
CHILD_ENV = {
    # long seed queries at 5M must not hit the library's default 120 s statement timeout
    "RFA_STATEMENT_TIMEOUT_MS": "3600000",
    "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", ""),
}
DEFAULT_BUDGET_S = 600.0
"""Time budget of one measurement's timed calls: repeats are cut to fit it."""
CHILD_TIMEOUT_S = 3 * 3600


def library_hash() -> str:
    """A short hash of the installed ``rfa`` package's source: measurements compared with
    each other must have run the same library (it may be edited while a run goes on)."""
    import hashlib

    import rfa

    digest = hashlib.sha1()
    root = Path(rfa.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    """Peak RSS of this process image: ``VmHWM`` of ``/proc/self/status``.

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: on Linux that carries over the RSS the
    parent had when it forked this child (``exec`` keeps the larger of both), so a child
    started by a parent holding gigabytes of generated data would report the parent's
    size. ``ru_maxrss`` is still recorded (``ru_maxrss_mb``) for reference."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _ru_maxrss_mb()


def _ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ----------------------------------------------------------------------------- inputs


def account_id(url: str) -> str:
    import sqlalchemy as sa

    from rfa import db

    with db.connect(url) as conn:
        return conn.execute(
            sa.select(db.accounts.c.id).where(db.accounts.c.slug == MAIN_SLUG)
        ).scalar_one()


def busiest_flow(url: str) -> tuple[str, int]:
    """The flow with most sessions in the window (ties: smallest id) and its count."""
    import sqlalchemy as sa

    from rfa import db

    s, t = db.sessions.c, db.trees.c
    start, end = window_bounds()
    n = sa.func.count().label("n")
    with db.connect(url) as conn:
        row = conn.execute(
            sa.select(s.tree_id, n)
            .select_from(db.sessions.join(db.trees, s.tree_id == t.id))
            .join(db.accounts, t.account_id == db.accounts.c.id)
            .where(db.accounts.c.slug == MAIN_SLUG, s.started_at >= start, s.started_at < end)
            .group_by(s.tree_id)
            .order_by(n.desc(), s.tree_id)
            .limit(1)
        ).one()
    return row.tree_id, row.n


def _replicated(url: str, flow_id: str, n: int):
    """The busiest flow's decisions and thumbs replicated to ``n`` sessions (fresh session
    ids per copy): the step table of one flow with N sessions, the "step table on N
    sessions" of issue 6's goal (one flow's ~17 nodes, like a real flow page)."""
    import polars as pl

    decisions, thumbs, structure = _flow_inputs(url, flow_id)
    copies = max(1, -(-n // max(decisions.height, 1)))

    def copy(frame: pl.DataFrame, i: int) -> pl.DataFrame:
        return frame.with_columns(pl.concat_str([pl.col("session_id"), pl.lit(f"#{i}")]))

    decisions = pl.concat([copy(decisions, i) for i in range(copies)]).head(n)
    thumbs = pl.concat([copy(thumbs, i) for i in range(copies)])
    thumbs = thumbs.filter(pl.col("session_id").is_in(decisions["session_id"].implode()))
    return decisions, thumbs, structure


def _flow_inputs(url: str, flow_id: str):
    """The busiest flow's decisions, thumbs and tree, read as :func:`flow_page` reads them."""
    from rfa import db
    from rfa.queries import ratings as rating_queries
    from rfa.queries import sessions as session_queries
    from rfa.window import make_window

    aid = account_id(url)
    window = make_window(PERIOD, AS_OF_TEXT, "UTC")
    with db.connect(url) as conn:
        decisions = session_queries.decisions_frame(conn, aid, window, flow_id)
        thumbs = rating_queries.step_ratings_frame(conn, aid, window, flow_id)
        structure = session_queries.flow_structure(conn, aid, flow_id)
    return decisions, thumbs, structure


# ----------------------------------------------------------------------------- the child


def _page_call(page: str, url: str, flow_id: str | None, n: int):
    """A zero-argument callable doing one measured call, and a function turning its result
    into a small JSON-able summary used for checks and comparisons."""
    if page in PAGES:
        from rfa import dashboards

        def dump(result) -> dict:
            data = result.model_dump(mode="json")
            data.pop("meta", None)
            return data

        if page == "team":
            return lambda: dashboards.team_page(MAIN_SLUG, PERIOD, AS_OF_TEXT, url=url), dump
        if page == "flow":
            return (
                lambda: dashboards.flow_page(MAIN_SLUG, flow_id, PERIOD, AS_OF_TEXT, url=url),
                dump,
            )
        return lambda: dashboards.flowpilot_page(MAIN_SLUG, PERIOD, AS_OF_TEXT, url=url), dump
    if page in SEED_PAGES:
        from bench import seed_pattern

        start, end = window_bounds()

        def plain(result) -> dict:
            return json.loads(json.dumps(result, default=str))

        if page == "seed_team":
            aid = account_id(url)
            return lambda: seed_pattern.team(url, aid, start, end), plain
        return lambda: seed_pattern.flow(url, flow_id, start, end), plain
    if page in READ_PAGES:
        from rfa import dashboards, db
        from rfa.queries.accounts import resolve_account
        from rfa.window import make_window

        def reads() -> tuple[int, ...]:
            with db.connect(url) as conn:
                info = resolve_account(conn, MAIN_SLUG)
                window = make_window(PERIOD, AS_OF_TEXT, info.timezone)
                return tuple(f.height for f in dashboards.team_reads(conn, info.id, window))

        def heights(result) -> dict:
            return dict(zip(("sessions", "previous_sessions", "ratings"), result, strict=True))

        return reads, heights
    if page in STEP_PAGES:
        from rfa.metrics.flow import step_table

        if page == "step_table":
            decisions, thumbs, structure = _flow_inputs(url, flow_id)
        else:
            decisions, thumbs, structure = _replicated(url, flow_id, n)

        def rows(result) -> dict:
            return {
                "sessions": decisions.height,
                "thumbs": thumbs.height,
                "nodes": len(result),
                "visits": sum(r.visit_count for r in result),
            }

        return lambda: step_table(decisions, thumbs, structure), rows
    raise SystemExit(f"unknown page {page!r}")


def child(args: argparse.Namespace) -> dict[str, Any]:
    import polars as pl

    import rfa
    import rfa.dashboards  # noqa: F401  (imports are part of the baseline)

    rss_imports = _rss_mb()
    call, summarise = _page_call(args.page, args.url, args.flow, args.n)
    rss_ready = _rss_mb()
    out: dict[str, Any] = {
        "page": args.page,
        "n": args.n,
        "backend": "sqlite" if args.url.startswith("sqlite") else "postgresql",
        "rss_after_imports_mb": round(rss_imports, 1),
        "rss_before_calls_mb": round(rss_ready, 1),
        "polars_threads": pl.thread_pool_size(),
        "rfa_version": rfa.__version__,
        "library": library_hash(),
    }
    t = time.perf_counter()
    result = call()
    out["warmup_s"] = round(time.perf_counter() - t, 4)
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
        call()
        profiler.stop()
        stem = Path(args.profile)
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".txt").write_text(
            profiler.output_text(unicode=True, color=False, show_all=False)
        )
        stem.with_suffix(".html").write_text(profiler.output_html())
        out["profile"] = {
            "text": str(stem.with_suffix(".txt")),
            "html": str(stem.with_suffix(".html")),
        }
        out["peak_rss_mb"] = round(_peak_mb(), 1)
        return out
    repeat = args.repeat
    if out["warmup_s"] > args.budget:
        repeat = 0
        out["warmup_only"] = (
            f"the warm-up took {out['warmup_s']:.0f} s (> budget {args.budget:.0f} s): "
            "its time is the only sample"
        )
    elif out["warmup_s"] * repeat > args.budget:
        repeat = max(1, int(args.budget // max(out["warmup_s"], 1e-9)))
        out["repeat_reduced"] = f"{args.repeat} → {repeat}: warm-up took {out['warmup_s']:.1f} s"
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t)
    times = times or [out["warmup_s"]]
    out.update(
        wall_s=[round(x, 4) for x in times],
        median_s=round(statistics.median(times), 4),
        min_s=round(min(times), 4),
        peak_rss_mb=round(_peak_mb(), 1),
        ru_maxrss_mb=round(_ru_maxrss_mb(), 1),
    )
    out["peak_over_baseline_mb"] = round(out["peak_rss_mb"] - rss_ready, 1)
    out["result"] = summarise(result)
    return out


# ----------------------------------------------------------------------------- the parent


def measure(
    page: str,
    url: str,
    n: int,
    *,
    flow: str | None = None,
    repeat: int = 3,
    budget: float = DEFAULT_BUDGET_S,
    profile: Path | None = None,
) -> dict[str, Any]:
    """Run one measurement in a fresh child process; a dict with ``error`` on failure."""
    cmd = [sys.executable, "-m", "bench.data_layer", "measure", "--page", page, "--url", url,
           "--n", str(n), "--repeat", str(repeat), "--budget", str(budget)]  # fmt: skip
    if flow:
        cmd += ["--flow", flow]
    if profile:
        cmd += ["--profile", str(profile)]
    env = {**os.environ, **{k: v for k, v in CHILD_ENV.items() if v}}
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return {"page": page, "n": n, "error": f"timed out after {CHILD_TIMEOUT_S} s"}
    elapsed = round(time.perf_counter() - started, 1)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        return {"page": page, "n": n, "error": f"exit {proc.returncode}: {tail}",
                "child_s": elapsed}  # fmt: skip
    data = json.loads(lines[-1])
    data["child_s"] = elapsed
    return data


def _short(m: dict) -> str:
    if "error" in m:
        return f"[red]error[/red] {m['error'].splitlines()[-1][:120]}"
    if "skipped" in m:
        return f"skipped: {m['skipped']}"
    if "median_s" not in m:
        return f"profile in {m.get('child_s')} s"
    return f"median {m['median_s']:.3f} s, min {m['min_s']:.3f} s, peak {m['peak_rss_mb']:.0f} MB"


def run_scale(
    n: int,
    urls: dict[str, str],
    *,
    repeat: int = 3,
    budget: float = DEFAULT_BUDGET_S,
    seed: bool = True,
    estimates: dict[str, float] | None = None,
    seed_limit_s: float = 300.0,
    call_limit_s: float = 900.0,
) -> dict[str, Any]:
    """Every measurement of one scale: pages per backend, step tables, the seed pattern on
    PostgreSQL.

    ``estimates`` maps ``"backend page"`` to seconds per session measured at the largest
    scale so far (updated here): a call predicted to take longer than ``seed_limit_s``
    (seed pattern) or ``call_limit_s`` (anything else) is skipped, with the reason."""
    estimates = {} if estimates is None else estimates
    out: dict[str, Any] = {"n": n, "backends": {}}
    for backend, url in urls.items():
        flow_id, flow_sessions = busiest_flow(url)
        entry: dict[str, Any] = {"busiest_flow": flow_id, "busiest_flow_sessions": flow_sessions}
        pages = [*PAGES, *READ_PAGES, *STEP_PAGES]
        if backend == "postgresql" and seed:
            pages += list(SEED_PAGES)
        for page in pages:
            key = f"{backend} {page}"
            predicted = estimates.get(key, 0.0) * n
            limit = seed_limit_s if page in SEED_PAGES else call_limit_s
            if predicted > limit:
                entry[page] = {
                    "page": page,
                    "n": n,
                    "skipped": f"predicted {predicted:.0f} s per call from the previous scale "
                    f"(> {limit:.0f} s)",
                }
            else:
                entry[page] = measure(page, url, n, flow=flow_id, repeat=repeat, budget=budget)
                per_call = entry[page].get("median_s")
                if per_call:
                    estimates[key] = per_call / n
            console.log(f"{label(n)} {backend} {page}: {_short(entry[page])}")
        out["backends"][backend] = entry
    return out


def profile_pages(
    n: int, url: str, flow_id: str, directory: Path, backend: str = "postgresql"
) -> dict[str, Any]:
    """pyinstrument profiles (text + HTML) of the team and flow pages and of the step table
    on N sessions."""
    out = {}
    for page in ("team", "flow", "step_table_all"):
        stem = directory / f"{page}-{label(n)}-{backend}"
        out[page] = measure(page, url, n, flow=flow_id, profile=stem)
        console.log(f"profile {page} {label(n)} {backend}: {_short(out[page])}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.data_layer")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="one measurement in this process (a child)")
    m.add_argument("--page", required=True, choices=(*PAGES, *STEP_PAGES, *SEED_PAGES, *READ_PAGES))
    m.add_argument("--url", required=True)
    m.add_argument("--n", type=int, required=True)
    m.add_argument("--flow")
    m.add_argument("--repeat", type=int, default=3)
    m.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S)
    m.add_argument("--profile", help="save a pyinstrument profile to this path stem")
    args = parser.parse_args(argv)
    print(json.dumps(child(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
