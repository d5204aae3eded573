"""``make bench``: the whole benchmark suite, unattended, in one run.

1. For each scale (default 10k, 100k, 1M, 5M sessions in the window): build or reuse the
   data on SQLite and PostgreSQL (:mod:`bench.generate`), then measure the data layer and
   the seed pattern (:mod:`bench.data_layer`), check that the seed's numbers equal ours and
   that both backends agree, and profile the team and flow pages at 1M on each backend
   (or at the largest scale of a smaller run).
2. One page and a batch: :mod:`bench.pages` (another module; imported lazily — when it is
   missing or raises, the error is recorded and the run carries on), for each renderer:
   nbconvert, and Quarto when ``quarto`` is on PATH (``BENCH_RENDERERS=quarto`` measures
   one renderer only).
3. Results: ``bench/results/<UTC timestamp>.json``, ``latest.json``, ``latest.md`` and
   ``scaling.png`` (:mod:`bench.report`).

Options (CLI, or environment for ``make bench``):

* ``--scales 10k,100k`` / ``BENCH_SCALES`` — which scales;
* ``--quick`` / ``BENCH_QUICK=1`` — 10k and 100k only (unless scales are given), and the
  pages module's quick mode;
* ``--repeat`` / ``BENCH_REPEAT`` (3), ``--seed`` / ``BENCH_SEED`` (42),
  ``--backends`` / ``BENCH_BACKENDS`` (``sqlite,postgresql``), ``--no-pages`` /
  ``BENCH_NO_PAGES=1``, ``--no-seed``, ``--throwaway-pg`` (do not keep the PostgreSQL
  cluster in ``bench/data/pg``), ``--call-limit`` / ``BENCH_CALL_LIMIT_S`` (900: a page
  whose call is predicted from the previous scale to take longer is skipped, with the
  reason; the seed pattern's limit is 300 s).

Exit status: 0 when every measurement ran and every compared number was equal; 1 when the
seed's numbers differ from ours, the backends disagree, a page counts the wrong number of
sessions, or a data-layer measurement failed (all recorded in the results).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import math
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import data_layer, report
from bench.generate import (
    AS_OF_TEXT,
    PERIOD,
    PG_SETTINGS,
    REPO,
    Spec,
    console,
    drop_stale_databases,
    ensure,
    label,
    lock_data_dir,
    parse_scale,
    pg_version,
    start_postgres,
)
from bench.seed_pattern import compare_flow, compare_team

DEFAULT_SCALES = (10_000, 100_000, 1_000_000, 5_000_000)
QUICK_SCALES = (10_000, 100_000)
PROFILE_SCALE = 1_000_000


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description="Run the benchmarks.")
    p.add_argument("--scales", default=os.environ.get("BENCH_SCALES", ""))
    p.add_argument("--quick", action="store_true", default=_env_flag("BENCH_QUICK"))
    p.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", "3")))
    p.add_argument("--seed", type=int, default=int(os.environ.get("BENCH_SEED", "42")))
    p.add_argument("--backends", default=os.environ.get("BENCH_BACKENDS", "sqlite,postgresql"))
    p.add_argument("--no-pages", action="store_true", default=_env_flag("BENCH_NO_PAGES"))
    p.add_argument("--no-seed", action="store_true")
    p.add_argument("--throwaway-pg", action="store_true")
    p.add_argument(
        "--call-limit",
        type=float,
        default=float(os.environ.get("BENCH_CALL_LIMIT_S", "900")),
        help="skip a page whose call is predicted (from the previous scale) to take longer",
    )
    p.add_argument("--results", type=Path, default=report.RESULTS_DIR)
    args = p.parse_args(argv)
    if args.scales.strip():
        args.scale_list = sorted({parse_scale(s) for s in args.scales.split(",") if s.strip()})
    else:
        args.scale_list = list(QUICK_SCALES if args.quick else DEFAULT_SCALES)
    args.backend_list = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    unknown = set(args.backend_list) - {"sqlite", "postgresql"}
    if unknown:
        p.error(f"unknown backend(s) {sorted(unknown)}; accepted: sqlite, postgresql")
    return args


# ----------------------------------------------------------------------------- machine


def _version(module: str) -> str:
    try:
        return importlib.import_module(module).__version__
    except Exception:  # noqa: BLE001
        return "?"


def machine_info(server=None) -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    git = "?"
    try:
        git_cmd = ["git", "-C", str(REPO)]
        head = subprocess.run(
            [*git_cmd, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git_cmd, "status", "--porcelain", "lib"], capture_output=True, text=True
        ).stdout.strip()
        git = head + (" + uncommitted changes in lib/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "polars": _version("polars"),
        "numpy": _version("numpy"),
        "sqlalchemy": _version("sqlalchemy"),
        "psycopg": _version("psycopg"),
        "sqlite": sqlite3.sqlite_version,
        "git": git,
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    if server is not None:
        info["postgresql"] = pg_version(server)
        info["postgresql_settings"] = PG_SETTINGS
    return info


# ----------------------------------------------------------------------------- checks


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def checks(n: int, scale: dict) -> tuple[dict[str, list[str]], list[str], list[str]]:
    """Seed-vs-ours and SQLite-vs-PostgreSQL comparisons of one scale; the failures (wrong
    session totals, failed measurements, numbers that differ) and warnings (numbers that
    differ between measurements that ran different library code: ``lib/`` was edited
    during the run, so the comparison says nothing)."""
    backends = scale["backends"]
    failures: list[str] = []
    warnings: list[str] = []
    comp: dict[str, list[str]] = {}
    for backend, entry in backends.items():
        for page, m in entry.items():
            if isinstance(m, dict) and "error" in m:
                failures.append(f"{label(n)} {backend} {page}: {m['error'].splitlines()[-1]}")
        team = (entry.get("team") or {}).get("result")
        if team is not None and team["summary"]["total_sessions"] != n:
            failures.append(
                f"{label(n)} {backend}: team page counts {team['summary']['total_sessions']} "
                f"sessions, not {n}"
            )
        fp = (entry.get("flowpilot") or {}).get("result")
        if fp is not None and fp["summary"]["total_sessions"] != n // 5:
            failures.append(
                f"{label(n)} {backend}: FlowPilot page counts {fp['summary']['total_sessions']} "
                f"AI sessions, not {n // 5}"
            )

    def same_library(x: dict, y: dict) -> bool:
        return x.get("library") == y.get("library")

    def record(kind: str, diffs: list[str], same: bool) -> None:
        comp.setdefault(kind, [])
        for d in diffs:
            if same:
                comp[kind].append(d)
                failures.append(f"{label(n)} numbers differ ({kind}): {d}")
            else:
                warnings.append(f"{label(n)} ({kind}, lib/ changed between the runs): {d}")

    pg = backends.get("postgresql", {})
    for page, compare in (("team", compare_team), ("flow", compare_flow)):
        seed, ours = pg.get(f"seed_{page}") or {}, pg.get(page) or {}
        if seed.get("result") is not None and ours.get("result") is not None:
            record("seed", compare(seed["result"], ours["result"]), True)
    if len(backends) == 2:
        a, b = backends.get("sqlite", {}), backends.get("postgresql", {})
        for page in ("team", "flow", "flowpilot"):
            x, y = a.get(page) or {}, b.get(page) or {}
            if x.get("result") is None or y.get("result") is None:
                continue
            diffs = [
                f"{page}.{key}: SQLite and PostgreSQL disagree"
                for key in x["result"]
                if not _close(x["result"].get(key), y["result"].get(key))
            ]
            record("backends", diffs, same_library(x, y))
    return comp, failures, warnings


def _strip_results(scale: dict) -> None:
    """Keep the JSON small: of a page's result only its summary is kept (the rest was only
    needed for the comparisons); step-table results are small and kept whole."""
    for entry in scale["backends"].values():
        for m in entry.values():
            if not isinstance(m, dict) or not isinstance(m.get("result"), dict):
                continue
            if not m.get("page", "").startswith("step"):
                m["result"] = {"summary": m["result"].get("summary")}


# ----------------------------------------------------------------------------- pages


def run_pages(results_dir: Path, quick: bool) -> tuple[dict, str | None]:
    try:
        pages = importlib.import_module("bench.pages")
    except Exception as exc:  # noqa: BLE001
        return {"error": f"bench.pages not importable: {type(exc).__name__}: {exc}"}, None
    try:
        section = pages.run(results_dir, quick=quick)
    except Exception as exc:  # noqa: BLE001
        tb = traceback.format_exc().strip().splitlines()[-6:]
        return {"error": f"bench.pages.run raised {type(exc).__name__}: {exc}", "trace": tb}, None
    try:
        md = pages.markdown(section)
    except Exception as exc:  # noqa: BLE001
        md = f"_bench.pages.markdown raised {type(exc).__name__}: {exc}_"
    return section, md


# ----------------------------------------------------------------------------- main


def write_results(results: dict, results_dir: Path, stamp: str, pages_md: str | None) -> None:
    results["goals"] = report.goals(results)
    results["scaling"] = report.scaling(results)
    results["pages_markdown"] = pages_md
    results_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, default=str)
    (results_dir / f"{stamp}.json").write_text(text)
    (results_dir / "latest.json").write_text(text)
    (results_dir / "latest.md").write_text(report.markdown(results, pages_md))
    try:
        report.chart(results, results_dir / "scaling.png")
    except Exception as exc:  # noqa: BLE001
        results.setdefault("failures", []).append(f"chart: {type(exc).__name__}: {exc}")


def _interrupt(signum: int, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (and SIGINT, even when inherited as ignored) end the run through the
    # ``finally`` blocks: the child measurement is killed and PostgreSQL stopped
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    started = time.perf_counter()
    start_time = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamp = start_time.strftime("%Y%m%dT%H%M%SZ")
    results_dir: Path = args.results
    profiles_dir = results_dir / "profiles"
    console.rule(f"rfa bench: scales {', '.join(label(n) for n in args.scale_list)}")

    server = None
    try:
        lock_data_dir()
        if "postgresql" in args.backend_list:
            server = start_postgres(persistent=not args.throwaway_pg)
            drop_stale_databases(server)
    except RuntimeError as exc:
        console.log(f"[red]error:[/red] {exc}")
        return 2
    results: dict[str, Any] = {
        "started_at": start_time.isoformat(),
        "machine": machine_info(server),
        "config": {
            "scales": args.scale_list,
            "backends": list(args.backend_list),
            "seed": args.seed,
            "repeat": args.repeat,
            "as_of": AS_OF_TEXT,
            "period": PERIOD,
            "quick": args.quick,
        },
        "data": {},
        "data_layer": {},
        "comparisons": {},
        "profiles": {},
        "failures": [],
        "warnings": [],
    }
    profile_at = PROFILE_SCALE if PROFILE_SCALE in args.scale_list else max(args.scale_list)
    estimates: dict[str, float] = {}
    pages_md = None
    interrupted = ""
    try:
        for n in args.scale_list:
            console.rule(f"{label(n)} sessions")
            spec = Spec(n, args.seed)
            t = time.perf_counter()
            info = ensure(spec, args.backend_list, server)
            results["data"][label(n)] = info
            console.log(f"data ready in {time.perf_counter() - t:.1f} s")
            urls = {b: info[b]["url"] for b in args.backend_list}
            scale = data_layer.run_scale(
                n,
                urls,
                repeat=args.repeat,
                seed=not args.no_seed,
                estimates=estimates,
                call_limit_s=args.call_limit,
            )
            comp, failures, warnings = checks(n, scale)
            results["comparisons"][label(n)] = comp
            results["failures"] += failures
            results["warnings"] += warnings
            for f in failures:
                console.log(f"[red]FAILED[/red] {f}")
            for w in warnings:
                console.log(f"[yellow]warning[/yellow] {w}")
            if n == profile_at:
                for backend, url in urls.items():
                    results["profiles"][backend] = data_layer.profile_pages(
                        n, url, scale["backends"][backend]["busiest_flow"], profiles_dir, backend
                    )
                results["config"]["profile_scale"] = label(n)
            _strip_results(scale)
            results["data_layer"][label(n)] = scale
            # a partial result after every scale, so a long run can be inspected
            write_results(results, results_dir, stamp, pages_md)
        if args.no_pages:
            results["pages"] = {"skipped": "--no-pages"}
        else:
            console.rule("one page and a batch (bench.pages)")
            results["pages"], pages_md = run_pages(results_dir, args.quick)
            if "error" in results["pages"]:
                console.log(f"[yellow]pages section failed:[/yellow] {results['pages']['error']}")
    except KeyboardInterrupt as exc:
        interrupted = str(exc) or "interrupted"
        results["failures"].append(f"run interrupted ({interrupted}); results are partial")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let PostgreSQL stop cleanly
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if server is not None:
            server.stop()
    results["machine"]["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results["finished_at"] = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    results["duration_s"] = round(time.perf_counter() - started, 1)
    write_results(results, results_dir, stamp, pages_md)
    console.rule("goals")
    for g in results["goals"]:
        console.log(f"{g['status']:>12}  {g['goal']}: {g['measured']} (target {g['target']})")
    console.log(f"results: {results_dir / 'latest.md'} ({results['duration_s'] / 60:.1f} min)")
    if results["failures"]:
        console.log(f"[red bold]{len(results['failures'])} failure(s):[/red bold]")
        for f in results["failures"]:
            console.log(f"  {f}")
        if interrupted:
            return 143 if "15" in interrupted else 130
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
