"""One page and a batch of pages: our publish path against the plain path a user would script.

Issue 6, items 3 and 4 (``bench.run`` calls :func:`run`, then :func:`markdown`).

Both renderers are measured: nbconvert always, Quarto when ``quarto`` is on PATH
(``BENCH_RENDERERS=quarto`` or ``=nbconvert`` measures one only). Each renderer's plain
path renders with that renderer's own CLI.

* **One page** — the team page of one demo account and one of its flow pages:
  ``rfa publish --account SLUG --dashboard team --renderer R --force`` (what an operator
  types) against ``papermill NOTEBOOK out.ipynb -k resolutionflow-analytics -p …`` followed
  by ``jupyter nbconvert --to html out.ipynb`` (R = nbconvert) or ``quarto render
  out.ipynb --no-execute`` (R = quarto), each run as a CLI in a subprocess. Runs alternate (ours,
  plain, ours, …) so that a noisy machine slows both alike; medians are reported, with
  our page's phases (kernel, notebook execution, render, publish — from the CLI's
  ``event=page`` log line) and what the CLI spent around the page (start-up, planning,
  deciding, manifest and index).
* **A batch** — pages per minute of ``rfa publish --all-schedules --force --workers W
  --renderer R`` (W = 1, 2, 4) against the plain sequential loop over the same pages
  (papermill CLI + the renderer's CLI per page, with the parameters ``rfa`` plans).
  ``quick`` uses a small schedule (5 pages of one account) instead of the demo schedules
  (39 pages).
* **Kernel start-up** — ``python -X importtime`` of what the notebooks' code cells import,
  the top import costs, and the start time of a bare kernel.

CPU seconds (user + system of every process of the run: CLI, workers, kernels,
renderers) are reported beside wall seconds: on a busy machine they move less.

The demo database is built like the Makefile does (``rfa db init`` + ``rfa demo
--seed 7 --scale 1.0``) into ``bench/data/pages/`` once a day; pages and build folders go
to ``<results_dir>/tmp/pages/`` (removed first).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
"""The virtualenv's ``bin`` (not resolved: ``.venv/bin/python`` may be a symlink)."""
KERNEL = "resolutionflow-analytics"
DATA_DIR = ROOT / "bench" / "data" / "pages"
DEMO_SEED, DEMO_SCALE = 7, 1.0
ONE_PAGE_ACCOUNT = "harbour-msp"
ONE_PAGE_GOAL = 0.6
"""One page: our latency at most this fraction of the plain path's (issue 6)."""
BATCH_GOAL = 2.5
"""A batch: at least this many times the plain sequential loop's pages per minute."""
WORKERS = (1, 2, 4)
QUICK_SCHEDULE = """\
# bench.pages quick mode: 5 pages of one account
team: bench-quick
account: kiwi-tech
periods: [30d]
dashboards: [team, escalations, flow, personal]
flows:
  busiest: 2
engineers:
  busiest: 1
"""
TIMEOUT = 3600


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> dict[str, Any]:
    """Run ``cmd``; wall and CPU seconds (of it and every process it waited for)."""
    cpu, start = _children_cpu(), time.perf_counter()
    proc = subprocess.run(
        cmd,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(cmd[:4])} … failed (exit {proc.returncode}):\n{tail}")
    return {"wall": wall, "cpu": _children_cpu() - cpu, "stdout": proc.stdout}


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else float("nan")


def _env(url: str, work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RFA_DATABASE_URL=url,
        RFA_PUBLISH_DIR=str(work / "published"),
        RFA_BUILD_DIR=str(work / "build"),
        COLUMNS="200",
    )
    return env


def _page_events(stdout: str) -> list[dict[str, str]]:
    """The ``event=page`` key=value lines the CLI prints when stdout is not a terminal."""
    events = []
    for line in stdout.splitlines():
        fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
        if fields.get("event") == "page":
            events.append({k: v.strip('"') for k, v in fields.items()})
    return events


def demo_database(data_dir: Path = DATA_DIR) -> str:
    """The day's demo database (built like ``make demo``, kept in ``data_dir``): its URL."""
    today = dt.datetime.now(dt.UTC).date().isoformat()
    target = data_dir / f"demo-{today}.sqlite"
    if not target.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        for old in data_dir.glob("demo-*.sqlite*"):
            old.unlink()
        tmp = target.with_suffix(".sqlite.tmp")
        url = f"sqlite:///{tmp}"
        env = dict(os.environ)
        _run([str(BIN / "rfa"), "db", "init", "--url", url], env)
        demo = ["demo", "--url", url, "--seed", str(DEMO_SEED), "--scale", str(DEMO_SCALE)]
        _run([str(BIN / "rfa"), *demo], env)
        tmp.rename(target)
    return f"sqlite:///{target}"


def _plan(url: str, schedules: list[Path]):
    """The pages ``rfa publish --schedule …`` renders (same planner, same as_of)."""
    from rfa.db import connect
    from rfa.publish.schedule import load_schedules, plan_schedules

    with connect(url) as conn:
        jobs, failures = plan_schedules(conn, load_schedules(schedules))
    if failures:
        raise RuntimeError(f"pages that cannot be planned: {[f.label for f in failures]}")
    return jobs


RENDERERS = ("nbconvert", "quarto")


def _renderers() -> list[str]:
    """The renderers to measure: ``BENCH_RENDERERS`` (comma-separated) or both, Quarto only
    when ``quarto`` is on PATH."""
    wanted = [r.strip() for r in os.environ.get("BENCH_RENDERERS", ",".join(RENDERERS)).split(",")]
    unknown = [r for r in wanted if r not in RENDERERS]
    if unknown:
        raise ValueError(f"BENCH_RENDERERS: unknown {unknown}; accepted: {', '.join(RENDERERS)}")
    return [r for r in wanted if r != "quarto" or shutil.which("quarto")]


# ---------------------------------------------------------------------------------------------
# The two paths
# ---------------------------------------------------------------------------------------------


def plain_page(job, env: dict[str, str], work: Path, renderer: str) -> dict[str, Any]:
    """The plain path for one page: papermill CLI, then the nbconvert or quarto CLI."""
    folder = work / "plain" / job.label
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    executed = folder / "page.ipynb"
    cmd = [str(BIN / "papermill"), "--no-progress-bar", str(job.notebook), str(executed)]
    cmd += ["-k", KERNEL, "--cwd", str(folder)]
    for name, value in job.parameters(folder / "page.json").items():
        if isinstance(value, str):
            cmd += ["-r", name, value]  # raw: a flow id of digits stays a string
        else:
            cmd += ["-p", name, str(value)]
    execute = _run(cmd, env)
    if renderer == "quarto":
        render = _run(["quarto", "render", str(executed), "--no-execute"], env, cwd=folder)
    else:
        render = _run([str(BIN / "jupyter"), "nbconvert", "--to", "html", str(executed)], env)
    return {
        "wall": execute["wall"] + render["wall"],
        "cpu": execute["cpu"] + render["cpu"],
        "papermill": execute["wall"],
        "render": render["wall"],
    }


def _our_page_args(job, renderer: str = "auto") -> list[str]:
    args = ["publish", "--account", job.account_slug, "--dashboard", job.dashboard]
    args += ["--renderer", renderer]
    if job.dashboard == "flow":
        args += ["--flow", job.scope_id or ""]
    elif job.dashboard == "personal":
        args += ["--engineer", job.scope_id or ""]
    return [*args, "--period", job.period, "--as-of", job.as_of, "--force"]


def our_page(job, env: dict[str, str], renderer: str) -> dict[str, Any]:
    """``rfa publish`` of one page: wall, CPU, and the page's phases from the CLI's log."""
    result = _run([str(BIN / "rfa"), *_our_page_args(job, renderer)], env)
    events = _page_events(result["stdout"])
    if len(events) != 1 or events[0].get("status") != "rendered":
        raise RuntimeError(f"expected one rendered page, got {events}")
    event = events[0]
    phases = {
        key.removesuffix("_s"): float(value) for key, value in event.items() if key.endswith("_s")
    }
    page_seconds = float(event.get("seconds", "nan"))
    return {
        "wall": result["wall"],
        "cpu": result["cpu"],
        "phases": phases,
        "page": page_seconds,
        "around_page": result["wall"] - page_seconds,
    }


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------


def one_page(url: str, work: Path, *, quick: bool, renderer: str) -> dict[str, Any]:
    """Median latency of one page, ours against plain, runs alternating."""
    schedule = work / "one-page.yml"
    schedule.write_text(
        f"account: {ONE_PAGE_ACCOUNT}\ndashboards: [team, flow]\nflows:\n  busiest: 1\n"
    )
    jobs = _plan(url, [schedule])
    kinds = ["team"] if quick else ["team", "flow"]
    runs = 3 if quick else 5
    env = _env(url, work / f"one-page-{renderer}")
    out: dict[str, Any] = {"runs": runs, "goal": ONE_PAGE_GOAL, "pages": []}
    for kind in kinds:
        job = next(j for j in jobs if j.dashboard == kind)
        if not quick:  # warm the disk cache and the byte-code of both paths
            our_page(job, env, renderer)
            plain_page(job, env, work, renderer)
        ours, plain = [], []
        for _ in range(runs):
            ours.append(our_page(job, env, renderer))
            plain.append(plain_page(job, env, work, renderer))
        phases = {
            name: _median([r["phases"].get(name, 0.0) for r in ours]) for name in ours[0]["phases"]
        }
        row = {
            "page": job.label,
            "dashboard": kind,
            "ours_wall": _median([r["wall"] for r in ours]),
            "plain_wall": _median([r["wall"] for r in plain]),
            "ours_cpu": _median([r["cpu"] for r in ours]),
            "plain_cpu": _median([r["cpu"] for r in plain]),
            "ours_phases": phases,
            "ours_around_page": _median([r["around_page"] for r in ours]),
            "plain_papermill": _median([r["papermill"] for r in plain]),
            "plain_render": _median([r["render"] for r in plain]),
            "ours_runs": [round(r["wall"], 2) for r in ours],
            "plain_runs": [round(r["wall"], 2) for r in plain],
        }
        row["ratio"] = round(row["ours_wall"] / row["plain_wall"], 3)
        row["met"] = row["ratio"] <= ONE_PAGE_GOAL
        out["pages"].append(row)
    return out


def batch(url: str, work: Path, *, quick: bool, renderer: str) -> dict[str, Any]:
    """Pages per minute: the plain sequential loop, then ``rfa publish`` with 1, 2, 4 workers."""
    if quick:
        schedule = work / "quick.yml"
        schedule.write_text(QUICK_SCHEDULE)
        schedules = [schedule]
        select = ["--schedule", str(schedule)]
    else:
        from rfa.publish.schedule import schedule_files

        schedules = schedule_files(ROOT / "params" / "teams")
        select = ["--all-schedules"]
    jobs = _plan(url, schedules)
    n = len(jobs)
    rows = []
    env = _env(url, work / f"batch-plain-{renderer}")
    cpu, start = _children_cpu(), time.perf_counter()
    for job in jobs:
        plain_page(job, env, work / f"batch-plain-{renderer}", renderer)
    wall = time.perf_counter() - start
    plain = {"path": "plain sequential loop", "workers": 1, "pages": n, "wall": round(wall, 2)}
    plain["cpu"] = round(_children_cpu() - cpu, 2)
    plain["pages_per_min"] = round(n / wall * 60, 2)
    plain["speedup"] = 1.0
    rows.append(plain)
    for workers in WORKERS:
        env = _env(url, work / f"batch-{renderer}-w{workers}")
        cmd = [str(BIN / "rfa"), "publish", *select, "--force", "--workers", str(workers)]
        cmd += ["--renderer", renderer]
        result = _run(cmd, env, cwd=ROOT)
        events = _page_events(result["stdout"])
        rendered = sum(e.get("status") == "rendered" for e in events)
        if rendered != n:
            raise RuntimeError(f"{workers} workers: {rendered} of {n} pages rendered")
        row = {
            "path": f"rfa publish --workers {workers}",
            "workers": workers,
            "pages": n,
            "wall": round(result["wall"], 2),
            "cpu": round(result["cpu"], 2),
            "pages_per_min": round(n / result["wall"] * 60, 2),
            "page_phases": {
                name: _median([float(e[f"{name}_s"]) for e in events if f"{name}_s" in e])
                for name in ("kernel", "execute", "render", "publish")
            },
        }
        row["speedup"] = round(row["pages_per_min"] / plain["pages_per_min"], 2)
        row["met"] = row["speedup"] >= BATCH_GOAL
        rows.append(row)
    return {"pages": n, "quick": quick, "goal": BATCH_GOAL, "rows": rows}


def _notebook_import_statement() -> str:
    """The import statements of the notebooks' code cells (parameters cells aside)."""
    import ast

    from rfa.config import get_settings

    lines: dict[str, None] = {}
    for notebook in sorted(get_settings().notebook_dir.glob("*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            tags = cell.get("metadata", {}).get("tags", [])
            if cell["cell_type"] != "code" or "parameters" in tags:
                continue
            try:
                tree = ast.parse("".join(cell["source"]))
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, ast.Import | ast.ImportFrom):
                    lines[ast.unparse(node)] = None
    return "; ".join(lines)


def _importtime(statement: str, env: dict[str, str]) -> tuple[float, list[dict[str, Any]]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            depth = len(match.group(3)) // 2
            rows.append({"module": match.group(4), "cumulative_s": int(match.group(2)) / 1e6})
            rows[-1]["depth"] = depth
    total = sum(r["cumulative_s"] for r in rows if r["depth"] == 0)
    return total, rows


def imports_and_kernel(url: str, *, quick: bool) -> dict[str, Any]:
    """What the notebooks import (python -X importtime) and a bare kernel's start time."""
    statement = _notebook_import_statement()
    env = dict(os.environ, RFA_DATABASE_URL=url)
    # the least disturbed of a few runs (imports are CPU-bound; other work only adds)
    total, rows = min(
        (_importtime(statement, env) for _ in range(2 if quick else 3)), key=lambda r: r[0]
    )
    top = sorted((r for r in rows if r["depth"] <= 1), key=lambda r: -r["cumulative_s"])
    seen, notable = set(), []
    for row in top:
        if row["module"].split(".")[0] in seen and row["depth"] == 1:
            continue
        seen.add(row["module"])
        notable.append({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
        if len(notable) == 12:
            break
    heavy = {}
    for name in (
        "seaborn",
        "scipy.stats",
        "matplotlib.pyplot",
        "pandas",
        "pandera",
        "polars",
        "sqlalchemy",
        "pyarrow",
        "numpy",
    ):
        found = [r["cumulative_s"] for r in rows if r["module"] == name]
        if found:
            heavy[name] = round(found[0], 3)
    from jupyter_client.manager import start_new_kernel

    starts = []
    for _ in range(2 if quick else 3):
        began = time.perf_counter()
        km, kc = start_new_kernel(kernel_name=KERNEL, startup_timeout=120)
        starts.append(time.perf_counter() - began)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return {
        "statement": statement,
        "import_s": round(total, 3),
        "top": notable,
        "heavy": heavy,
        "kernel_start_s": round(min(starts), 3),
    }


def profiles(url: str, work: Path, profile_dir: Path) -> dict[str, str]:
    """pyinstrument profiles (text) of one team page: the ``rfa publish`` process, and the
    notebook's code run in one plain Python process (what its kernel spends time on)."""
    profile_dir.mkdir(parents=True, exist_ok=True)
    env = _env(url, work / "profile")
    schedule = work / "one-page.yml"
    job = next(j for j in _plan(url, [schedule]) if j.dashboard == "team")
    out = {}
    cli = profile_dir / "one-page-cli.txt"
    _run([str(BIN / "pyinstrument"), "-o", str(cli), "-m", "rfa.cli", *_our_page_args(job)], env)
    out["cli"] = str(cli.relative_to(ROOT) if cli.is_relative_to(ROOT) else cli)
    script = work / "team_cells.py"
    nb = json.loads(job.notebook.read_text())
    params = job.parameters(work / "profile-page.json")
    cells = []
    for cell in nb["cells"]:  # as papermill runs it: defaults, then the page's values
        if cell["cell_type"] == "code":
            cells.append("".join(cell["source"]))
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                cells.append("\n".join(f"{k} = {v!r}" for k, v in params.items()))
    # an IPython shell with the inline backend formats every output as the kernel does
    script.write_text(
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "class Shell(InteractiveShell):\n"
        "    def enable_gui(self, gui=None):\n"
        "        pass\n"
        "shell = Shell.instance()\n"
        "shell.enable_matplotlib('inline')\n"
        f"for code in {cells!r}:\n"
        "    shell.run_cell(code, store_history=True).raise_error()\n"
    )
    kernel = profile_dir / "one-page-notebook-code.txt"
    _run([str(BIN / "pyinstrument"), "-o", str(kernel), str(script)], env, cwd=work)
    out["notebook_code"] = str(kernel.relative_to(ROOT) if kernel.is_relative_to(ROOT) else kernel)
    return out


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def goals(section: dict) -> list[dict[str, Any]]:
    """The goals of every measured renderer: each one-page row (ours ≤ 0.6× plain) and the
    best batch row (≥ 2.5× the plain loop), as ``bench.report`` lists them."""
    out: list[dict[str, Any]] = []
    for renderer, part in section["by_renderer"].items():
        one = part["one_page"]
        for row in one["pages"]:
            detail = f"ours {row['ours_wall']:.2f} s, plain {row['plain_wall']:.2f} s"
            if not row["met"]:
                detail += f"; over by {row['ratio'] - one['goal']:.2f}× of plain"
            out.append(
                {
                    "goal": f"one page ({row['dashboard']}, {renderer}) vs the plain path",
                    "target": f"≤ {one['goal']}× plain",
                    "measured": f"{row['ratio']:.2f}×",
                    "met": row["met"],
                    "detail": detail,
                }
            )
        b = part["batch"]
        rows = [r for r in b["rows"] if "met" in r]
        if rows:
            best = max(rows, key=lambda r: r["speedup"])
            detail = f"{b['pages']} pages; best {best['path']}: {best['pages_per_min']} pages/min"
            if not best["met"]:
                detail += f"; short by {b['goal'] - best['speedup']:.2f}×"
            out.append(
                {
                    "goal": f"batch ({renderer}) vs the plain sequential loop",
                    "target": f"≥ {b['goal']}× pages/min",
                    "measured": f"{best['speedup']:.2f}×",
                    "met": best["met"],
                    "detail": detail,
                }
            )
    return out


def run(results_dir: Path, *, quick: bool = False) -> dict:
    """Run every measurement; returns a JSON-serialisable section for ``bench.run``.

    ``by_renderer`` holds each renderer's ``one_page`` and ``batch``; ``one_page`` /
    ``batch`` / ``renderer`` at the top are the first renderer's (older reports read them).
    """
    results_dir = Path(results_dir)
    work = results_dir / "tmp" / "pages"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    url = demo_database()
    renderers = _renderers()
    section: dict[str, Any] = {
        "quick": quick,
        "renderers": renderers,
        "cores": os.cpu_count(),
        "started": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    if "quarto" not in renderers and "quarto" in os.environ.get("BENCH_RENDERERS", "quarto"):
        section["quarto_skipped"] = "quarto is not on PATH"
    section["imports"] = imports_and_kernel(url, quick=quick)
    section["by_renderer"] = {}
    for renderer in renderers:
        section["by_renderer"][renderer] = {
            "one_page": one_page(url, work, quick=quick, renderer=renderer),
            "batch": batch(url, work, quick=quick, renderer=renderer),
        }
    first = section["by_renderer"][renderers[0]]
    section.update(renderer=renderers[0], one_page=first["one_page"], batch=first["batch"])
    section["goals"] = goals(section)
    missed = not all(g["met"] for g in section["goals"])
    section["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    if missed or not quick:
        try:
            section["profiles"] = profiles(url, work, results_dir / "profiles")
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            section["profiles_error"] = str(exc)
    profile = next(
        (v for v in (section.get("profiles") or {}).values() if isinstance(v, str)), None
    )
    for goal in section["goals"]:
        if not goal["met"]:
            goal["profile"] = profile  # a missed goal names the profile of where time goes
    return section


def _f(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


def _renderer_markdown(renderer: str, one: dict, b: dict) -> list[str]:
    """The one-page and batch tables of one renderer."""
    out = [
        f"**One page, {renderer}** (median of {one['runs']} alternating runs; goal: ours ≤ "
        f"{one['goal']}× plain)\n",
        "| page | ours (s) | plain (s) | ours / plain | goal met | ours CPU (s) | plain CPU (s) |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for p in one["pages"]:
        out.append(
            f"| {p['page']} | {_f(p['ours_wall'])} | {_f(p['plain_wall'])} | "
            f"{_f(p['ratio'])} | {'yes' if p['met'] else 'no'} | {_f(p['ours_cpu'])} | "
            f"{_f(p['plain_cpu'])} |"
        )
    out.append("")
    out.append(
        "| page | ours: kernel | execute | render | publish | CLI around the page "
        "| plain: papermill CLI | render CLI |"
    )
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for p in one["pages"]:
        ph = p["ours_phases"]
        out.append(
            f"| {p['page']} | {_f(ph.get('kernel', 0))} | {_f(ph.get('execute', 0))} | "
            f"{_f(ph.get('render', 0))} | {_f(ph.get('publish', 0))} | "
            f"{_f(p['ours_around_page'])} | {_f(p['plain_papermill'])} | "
            f"{_f(p['plain_render'])} |"
        )
    which = "quick subset" if b["quick"] else "demo schedules (`params/teams/*.yml`)"
    out.append("")
    out.append(
        f"**Batch, {renderer}** — {b['pages']} pages, {which}; goal ≥ {b['goal']}× the plain loop\n"
    )
    out.append(
        "| path | wall (s) | CPU (s) | pages / min | × plain | goal met "
        "| median page: kernel / execute / render (s) |"
    )
    out.append("|---|---:|---:|---:|---:|---|---|")
    for r in b["rows"]:
        met = "" if "met" not in r else ("yes" if r["met"] else "no")
        ph = r.get("page_phases") or {}
        phases = " / ".join(_f(ph[k]) for k in ("kernel", "execute", "render") if k in ph)
        out.append(
            f"| {r['path']} | {_f(r['wall'], 1)} | {_f(r['cpu'], 1)} | "
            f"{_f(r['pages_per_min'], 1)} | {_f(r['speedup'])} | {met} | {phases} |"
        )
    out.append("")
    return out


def markdown(section: dict) -> str:
    """Markdown tables of :func:`run`'s section (one pair of tables per renderer)."""
    out = []
    load = section.get("load_average_start"), section.get("load_average_end")
    out.append(
        f"{section['cores']} cores; 1-minute load average {load[0][0] if load[0] else '?'} "
        f"at the start, {load[1][0] if load[1] else '?'} at the end (other work on the "
        "machine slows both paths; CPU seconds move less than wall seconds).\n"
    )
    by_renderer = section.get("by_renderer") or {
        section.get("renderer", "?"): {"one_page": section["one_page"], "batch": section["batch"]}
    }
    for renderer, part in by_renderer.items():
        out += _renderer_markdown(renderer, part["one_page"], part["batch"])
    if section.get("quarto_skipped"):
        out.append(f"Quarto not measured: {section['quarto_skipped']}.\n")
    imp = section["imports"]
    out.append(
        f"**Kernel start-up** (best of a few runs) — a bare kernel starts in "
        f"{_f(imp['kernel_start_s'])} s; the notebooks' imports (`{imp['statement']}`, "
        f"`python -X importtime`) take {_f(imp['import_s'])} s:\n"
    )
    out.append("| module (cumulative) | seconds |")
    out.append("|---|---:|")
    for row in imp["top"]:
        indent = "&nbsp;&nbsp;" * row["depth"]
        out.append(f"| {indent}`{row['module']}` | {_f(row['cumulative_s'], 3)} |")
    if section.get("profiles"):
        out.append("")
        files = ", ".join(f"`{p}`" for p in section["profiles"].values())
        out.append(f"Profiles (pyinstrument): {files}.")
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover - ``python -m bench.pages [--quick]``
    results = ROOT / "bench" / "results"
    data = run(results, quick="--quick" in sys.argv)
    print(json.dumps(data, indent=2, default=str))
    print(markdown(data))
