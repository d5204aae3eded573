"""Turn a benchmark run (the dict :mod:`bench.run` writes as JSON) into goals, markdown and
the scaling chart.

* :func:`scaling` — per backend × page, wall time against sessions and the log-log slope
  (least squares over every scale, and between the two largest scales — the one the
  linearity goal is judged on, since fixed costs flatten the small end);
* :func:`goals` — issue 6's goals, each with its measured value, met / missed and by how
  much, and the profile that explains a miss;
* :func:`markdown` — ``latest.md``;
* :func:`chart` — ``scaling.png``.

``python -m bench.report [results.json]`` re-renders ``latest.md`` and ``scaling.png``
from a saved run (default ``bench/results/latest.json``).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from bench.generate import BENCH_DIR, label

RESULTS_DIR = BENCH_DIR / "results"
PAGE_TITLES = {
    "team": "team page",
    "team_reads": "team page: its database reads alone",
    "flow": "flow page (busiest flow)",
    "flowpilot": "FlowPilot page",
    "step_table": "step table, busiest flow",
    "step_table_all": "step table, N sessions of one flow",
    "seed_team": "seed pattern, team",
    "seed_flow": "seed pattern, flow",
}
SCALING_PAGES = ("team", "flow", "flowpilot")
LINEAR_SLOPE = 1.1
TEAM_WALL_S = 2.0
TEAM_PEAK_MB = 2048.0
SEED_RATIO = 8.0
STEP_TABLE_S = 2.0
GOAL_SCALE = 1_000_000


def _m(results: dict, n: int, backend: str, page: str) -> dict | None:
    scale = results.get("data_layer", {}).get(label(n))
    if not scale:
        return None
    return scale.get("backends", {}).get(backend, {}).get(page)


def _median(m: dict | None) -> float | None:
    return None if not m or "median_s" not in m else float(m["median_s"])


def _slope(points: list[tuple[int, float]]) -> float | None:
    if len(points) < 2:
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(s) for _, s in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else None


def scaling(results: dict) -> dict[str, dict]:
    """``{"postgresql team": {points, slope_fit, slope_top}}`` for every measured series."""
    out: dict[str, dict] = {}
    scales = sorted(results.get("config", {}).get("scales", []))
    for backend in ("postgresql", "sqlite"):
        for page in (*SCALING_PAGES, "step_table_all", "seed_team", "seed_flow"):
            points = [(n, _median(_m(results, n, backend, page))) for n in scales]
            points = [(n, s) for n, s in points if s]
            if not points:
                continue
            out[f"{backend} {page}"] = {
                "backend": backend,
                "page": page,
                "points": points,
                "slope_fit": _slope(points),
                "slope_top": _slope(points[-2:]),
            }
    return out


def _profiles(results: dict) -> dict[str, dict]:
    """``{backend: {page: measurement}}`` (a flat ``{page: …}`` is PostgreSQL's)."""
    prof = results.get("profiles") or {}
    if any(k in prof for k in ("team", "flow")):
        return {"postgresql": prof}
    return prof


def _profile_of(results: dict, page: str, backend: str = "postgresql") -> str | None:
    prof = _profiles(results).get(backend, {}).get(page, {})
    return (prof.get("profile") or {}).get("html")


def _goal(goal: str, target: str, measured: Any, met: bool | None, detail: str = "",
          profile: str | None = None) -> dict:  # fmt: skip
    return {
        "goal": goal,
        "target": target,
        "measured": measured,
        "status": "not measured" if met is None else "met" if met else "missed",
        "detail": detail,
        "profile": profile if met is False else None,
    }


def _by(measured: float, target: float, unit: str, *, higher_is_better: bool = False) -> str:
    if higher_is_better:
        return f"short by {target - measured:.2f}{unit} ({measured / target:.2f}× the target)"
    return f"over by {measured - target:.2f}{unit} ({measured / target:.2f}× the target)"


def goals(results: dict) -> list[dict]:
    """Issue 6's goals with measured values (PostgreSQL, 1M sessions in the window)."""
    out = []
    n = GOAL_SCALE
    team = _m(results, n, "postgresql", "team")
    wall = _median(team)
    team_profile = _profile_of(results, "team")
    if wall is None:
        out.append(_goal("team page, 1M sessions, PostgreSQL: wall", f"≤ {TEAM_WALL_S} s",
                         None, None, "1M not in this run's scales or failed"))  # fmt: skip
    else:
        ok = wall <= TEAM_WALL_S
        detail = "" if ok else _by(wall, TEAM_WALL_S, " s")
        reads = _median(_m(results, n, "postgresql", "team_reads"))
        if reads is not None:
            detail += (f"{'; ' if detail else ''}its database reads alone (both windows' "
                       f"sessions and ratings, `team_reads`): {reads:.2f} s, "
                       f"{reads / wall:.0%} of the page")  # fmt: skip
        out.append(_goal("team page, 1M sessions, PostgreSQL: wall", f"≤ {TEAM_WALL_S} s",
                         f"{wall:.2f} s", ok, detail, team_profile))  # fmt: skip
    peak = None if not team or "peak_rss_mb" not in team else float(team["peak_rss_mb"])
    if peak is None:
        out.append(_goal("team page, 1M sessions, PostgreSQL: peak memory",
                         f"≤ {TEAM_PEAK_MB / 1024:.0f} GB", None, None))  # fmt: skip
    else:
        ok = peak <= TEAM_PEAK_MB
        detail = (
            f"process peak RSS; {team.get('peak_over_baseline_mb')} MB over the RSS before the call"
        )
        if not ok:
            detail = _by(peak, TEAM_PEAK_MB, " MB") + "; " + detail
        out.append(_goal("team page, 1M sessions, PostgreSQL: peak memory",
                         f"≤ {TEAM_PEAK_MB / 1024:.0f} GB", f"{peak:.0f} MB", ok, detail,
                         team_profile))  # fmt: skip
    seed = _median(_m(results, n, "postgresql", "seed_team"))
    if seed is None or wall is None:
        out.append(_goal("team page vs the seed pattern (1M, PostgreSQL)", f"≥ {SEED_RATIO:.0f}×",
                         None, None))  # fmt: skip
    else:
        ratio = seed / wall
        ok = ratio >= SEED_RATIO
        detail = f"seed {seed:.2f} s / ours {wall:.2f} s"
        if not ok:
            detail += f"; {_by(ratio, SEED_RATIO, '×', higher_is_better=True)}"
            reads = _median(_m(results, n, "postgresql", "team_reads"))
            if reads:
                detail += (f"; the page's database reads alone are {seed / reads:.1f}× "
                           "faster than the seed pattern")  # fmt: skip
        out.append(_goal("team page vs the seed pattern (1M, PostgreSQL)", f"≥ {SEED_RATIO:.0f}×",
                         f"{ratio:.1f}×", ok, detail, team_profile))  # fmt: skip
    step = _median(_m(results, n, "postgresql", "step_table_all"))
    if step is None:
        out.append(_goal("flow step table on 1M sessions", f"≤ {STEP_TABLE_S} s", None, None))
    else:
        ok = step <= STEP_TABLE_S
        detail = "rfa.metrics.flow.step_table on 1M sessions of the busiest flow (replicated)"
        if not ok:
            detail += "; " + _by(step, STEP_TABLE_S, " s")
        out.append(
            _goal(
                "flow step table on 1M sessions",
                f"≤ {STEP_TABLE_S} s",
                f"{step:.2f} s",
                ok,
                detail,
                _profile_of(results, "step_table_all") or _profile_of(results, "flow"),
            )
        )
    scales = sorted(results.get("config", {}).get("scales", []))
    span = f"{label(scales[0])}→{label(scales[-1])}" if scales else ""
    for name, series in scaling(results).items():
        if series["page"] not in SCALING_PAGES:
            continue
        top = series["slope_top"]
        if top is None:
            out.append(_goal(f"linear scaling, {name}", f"slope ≤ {LINEAR_SLOPE}", None, None))
            continue
        ok = top <= LINEAR_SLOPE
        (n1, _), (n2, _) = series["points"][-2], series["points"][-1]
        detail = (f"log-log slope {label(n1)}→{label(n2)}; fit over {span}: "
                  f"{series['slope_fit']:.2f}")  # fmt: skip
        if not ok:
            detail += f"; over by {top - LINEAR_SLOPE:.2f}"
        page = series["page"]
        profile = (
            _profile_of(results, page, series["backend"]) if page in ("team", "flow") else None
        )
        out.append(_goal(f"linear scaling, {name}", f"slope ≤ {LINEAR_SLOPE}", f"{top:.2f}", ok,
                         detail, profile))  # fmt: skip
    out += pages_goals(results.get("pages") or {})
    return out


def pages_goals(section: dict) -> list[dict]:
    """Goals of the pages section (:mod:`bench.pages`): its own ``goals`` list when it has
    one, else derived from its ``one_page`` rows and its best ``batch`` row."""
    if not isinstance(section, dict) or "error" in section:
        err = section.get("error") if isinstance(section, dict) else None
        return [_goal("one page and batch (bench.pages)", "", None, None, err or "")]
    if isinstance(section.get("goals"), list):
        return [
            {
                "goal": g.get("goal"),
                "target": g.get("target", ""),
                "measured": g.get("measured"),
                "status": g.get("status") or ("met" if g.get("met") else "missed"),
                "detail": g.get("detail", ""),
                "profile": g.get("profile"),
            }
            for g in section["goals"]
            if isinstance(g, dict)
        ]
    out = []
    profiles = section.get("profiles") or {}
    profile = next((v for v in profiles.values() if isinstance(v, str)), None)
    one = section.get("one_page") or {}
    for row in one.get("pages", []):
        target = one.get("goal", 0.6)
        ratio = row.get("ratio")
        if ratio is None:
            continue
        met = ratio <= target
        detail = f"ours {row.get('ours_wall', 0):.2f} s, plain {row.get('plain_wall', 0):.2f} s"
        if not met:
            detail += f"; over by {ratio - target:.2f}× of plain"
        out.append(_goal(f"one page ({row.get('dashboard', row.get('page'))}) vs the plain path",
                         f"≤ {target}× plain", f"{ratio:.2f}×", met, detail, profile))  # fmt: skip
    batch = section.get("batch") or {}
    rows = [r for r in batch.get("rows", []) if r.get("workers") and "met" in r]
    if rows:
        best = max(rows, key=lambda r: r.get("speedup", 0))
        target = batch.get("goal", 2.5)
        met = best["speedup"] >= target
        detail = (f"{batch.get('pages')} pages; best {best['path']}: "
                  f"{best['pages_per_min']} pages/min")  # fmt: skip
        if not met:
            detail += f"; short by {target - best['speedup']:.2f}×"
        out.append(_goal("batch vs the plain sequential loop", f"≥ {target}× pages/min",
                         f"{best['speedup']:.2f}×", met, detail, profile))  # fmt: skip
    return out


# ----------------------------------------------------------------------------- markdown


def _cell(m: dict | None, key: str, fmt: str = "{:.3f}") -> str:
    if not m:
        return "–"
    if "error" in m:
        return "error"
    if "skipped" in m:
        return "skipped"
    value = m.get(key)
    return "–" if value is None else fmt.format(value)


def _rel(path: str | None) -> str:
    if not path:
        return ""
    try:
        return str(Path(path).resolve().relative_to(BENCH_DIR.parent))
    except ValueError:
        return path


def machine_markdown(machine: dict) -> str:
    keys = ("cpu", "cores", "ram_gb", "os", "python", "polars", "numpy", "sqlalchemy",
            "psycopg", "postgresql", "sqlite", "git", "load_before", "load_after")  # fmt: skip
    rows = [f"| {k} | {machine[k]} |" for k in keys if k in machine]
    return "\n".join(["| machine | |", "|---|---|", *rows])


def data_layer_markdown(results: dict) -> str:
    lines = [
        "| sessions | backend | page | median s | min s | peak RSS MB | over baseline MB | runs |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for n in sorted(results.get("config", {}).get("scales", [])):
        for backend in ("postgresql", "sqlite"):
            for page in (*SCALING_PAGES, "team_reads", "step_table", "step_table_all"):
                m = _m(results, n, backend, page)
                if m is None:
                    continue
                runs = len(m.get("wall_s", [])) if "wall_s" in m else "–"
                lines.append(
                    f"| {label(n)} | {backend} | {PAGE_TITLES[page]} | {_cell(m, 'median_s')} | "
                    f"{_cell(m, 'min_s')} | {_cell(m, 'peak_rss_mb', '{:.0f}')} | "
                    f"{_cell(m, 'peak_over_baseline_mb', '{:.0f}')} | {runs} |"
                )
    return "\n".join(lines)


def seed_markdown(results: dict) -> str:
    lines = [
        "| sessions | seed team s | ours team s | ratio | seed flow s | ours flow s | ratio "
        "| numbers |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n in sorted(results.get("config", {}).get("scales", [])):
        cells = []
        for page in ("team", "flow"):
            seed = _m(results, n, "postgresql", f"seed_{page}")
            ours = _m(results, n, "postgresql", page)
            a, b = _median(seed), _median(ours)
            ratio = f"{a / b:.1f}×" if a and b else "–"
            cells += [_cell(seed, "median_s"), _cell(ours, "median_s"), ratio]
        comp = results.get("comparisons", {}).get(label(n), {})
        diffs = comp.get("seed")
        verdict = ("–" if diffs is None else "equal" if not diffs
                   else f"**{len(diffs)} difference(s)**")  # fmt: skip
        if seed is None and _m(results, n, "postgresql", "seed_team") is None:
            continue
        lines.append(f"| {label(n)} | " + " | ".join(cells) + f" | {verdict} |")
    return "\n".join(lines)


def step_markdown(results: dict) -> str:
    lines = [
        "| sessions | backend | busiest flow: sessions | step table s | N sessions of one flow: "
        "step table s |",
        "|---:|---|---:|---:|---:|",
    ]
    for n in sorted(results.get("config", {}).get("scales", [])):
        scale = results.get("data_layer", {}).get(label(n), {})
        for backend, entry in scale.get("backends", {}).items():
            lines.append(
                f"| {label(n)} | {backend} | {entry.get('busiest_flow_sessions', '–'):,} | "
                f"{_cell(entry.get('step_table'), 'median_s')} | "
                f"{_cell(entry.get('step_table_all'), 'median_s')} |"
            )
    return "\n".join(lines)


def scaling_markdown(results: dict) -> str:
    lines = ["| series | points | slope, two largest scales | slope, fit over all |",
             "|---|---:|---:|---:|"]  # fmt: skip
    for name, s in scaling(results).items():
        top = "–" if s["slope_top"] is None else f"{s['slope_top']:.2f}"
        fit = "–" if s["slope_fit"] is None else f"{s['slope_fit']:.2f}"
        lines.append(f"| {name} | {len(s['points'])} | {top} | {fit} |")
    return "\n".join(lines)


def data_markdown(results: dict) -> str:
    lines = ["| sessions | backend | cached | generate s | load s | indexes s | size MB |",
             "|---:|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for key, per in results.get("data", {}).items():
        for backend, info in per.items():
            lines.append(
                f"| {key} | {backend} | {'yes' if info.get('cached') else 'no'} | "
                f"{info.get('generate_s', '–')} | {info.get('load_s', '–')} | "
                f"{info.get('index_s', '–')} | {info.get('size_mb', '–')} |"
            )
    return "\n".join(lines)


def goals_markdown(items: list[dict]) -> str:
    lines = ["| goal | target | measured | status | detail |", "|---|---|---|---|---|"]
    for g in items:
        status = {"met": "met", "missed": "**missed**"}.get(g["status"], g["status"])
        detail = g.get("detail") or ""
        if g.get("profile"):
            detail += f" — profile: `{_rel(g['profile'])}`"
        lines.append(f"| {g['goal']} | {g['target']} | {g['measured'] or '–'} | {status} | "
                     f"{detail} |")  # fmt: skip
    return "\n".join(lines)


def markdown(results: dict, pages_markdown: str | None = None) -> str:
    cfg = results.get("config", {})
    parts = [
        "# Benchmark results",
        "",
        f"Run {results.get('started_at', '?')} – {results.get('finished_at', '?')} "
        f"({results.get('duration_s', 0) / 60:.1f} min); scales "
        f"{', '.join(label(n) for n in cfg.get('scales', []))}; seed {cfg.get('seed')}; "
        f"as_of {cfg.get('as_of')}, period {cfg.get('period')}; median of "
        f"{cfg.get('repeat')} timed calls after one warm-up, each page in a fresh process. "
        "Wall time and peak RSS are the Python process's (the PostgreSQL server's own memory "
        "is not included).",
        "",
        machine_markdown(results.get("machine", {})),
        "",
        "## Data layer: extraction + all metrics of a page (90d window)",
        "",
        data_layer_markdown(results),
        "",
        "## Against the seed's pattern (PostgreSQL, same data)",
        "",
        seed_markdown(results),
        "",
    ]
    diffs = {
        k: v
        for k, v in results.get("comparisons", {}).items()
        if v.get("seed") or v.get("backends")
    }
    if diffs:
        parts += ["**Numbers differ:**", ""]
        for key, comp in diffs.items():
            for d in [*comp.get("seed", []), *comp.get("backends", [])][:20]:
                parts.append(f"- {key}: {d}")
        parts.append("")
    parts += [
        "## Step table (`rfa.metrics.flow.step_table` alone)",
        "",
        step_markdown(results),
        "",
        "## Scaling (log-log slope of wall time against sessions; 1 = linear)",
        "",
        scaling_markdown(results),
        "",
        "![scaling](scaling.png)",
        "",
        "## Data generation",
        "",
        data_markdown(results),
        "",
        "## One page and a batch",
        "",
        pages_markdown or "_(not run)_",
        "",
        "## Goals (issue 6)",
        "",
        goals_markdown(results.get("goals", [])),
        "",
    ]
    prof = _profiles(results)
    if prof:
        at = cfg.get("profile_scale", "")
        parts += ["## Profiles (pyinstrument)", ""]
        for backend, pages in prof.items():
            for page, m in pages.items():
                p = m.get("profile") or {}
                if p:
                    parts.append(
                        f"- {PAGE_TITLES.get(page, page)}, {at} sessions, {backend}: "
                        f"`{_rel(p.get('text'))}`, `{_rel(p.get('html'))}`"
                    )
                else:
                    parts.append(f"- {page} page, {backend}: {m.get('error', 'no profile')}")
        parts.append("")
    failures = results.get("failures", [])
    if failures:
        parts += ["## Failures", "", *[f"- {f}" for f in failures], ""]
    warnings = results.get("warnings", [])
    if warnings:
        parts += ["## Warnings", "", *[f"- {w}" for w in warnings], ""]
    return "\n".join(parts)


# ----------------------------------------------------------------------------- chart


def chart(results: dict, path: Path) -> Path | None:
    """Wall time against sessions, log-log, one line per backend × page, a dashed linear
    reference through the first PostgreSQL team point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = scaling(results)
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    colors = {"team": "C0", "flow": "C1", "flowpilot": "C2", "step_table_all": "C4",
              "seed_team": "C3", "seed_flow": "C5"}  # fmt: skip
    for name, s in series.items():
        xs = [n for n, _ in s["points"]]
        ys = [t for _, t in s["points"]]
        style = "-" if s["backend"] == "postgresql" else "--"
        marker = "o" if s["backend"] == "postgresql" else "s"
        if s["page"].startswith("seed"):
            style = ":"
        ax.plot(xs, ys, style, marker=marker, color=colors.get(s["page"], "k"), label=name,
                linewidth=1.5, markersize=4)  # fmt: skip
    ref = series.get("postgresql team") or next(iter(series.values()))
    (n0, t0) = ref["points"][0]
    n_max = max(n for s in series.values() for n, _ in s["points"])
    ax.plot([n0, n_max], [t0, t0 * n_max / n0], color="grey", linestyle=(0, (6, 4)),
            linewidth=1, label="linear reference (slope 1)")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sessions in the 90-day window")
    ax.set_ylabel("wall time, s (median)")
    machine = results.get("machine", {})
    ax.set_title(f"Data layer scaling — {machine.get('cores', '?')} cores, "
                 f"{machine.get('cpu', '')[:40]}", fontsize=10)  # fmt: skip
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    source = Path(argv[0]) if argv else RESULTS_DIR / "latest.json"
    results = json.loads(source.read_text())
    results["goals"] = goals(results)
    pages_md = results.get("pages_markdown")
    (RESULTS_DIR / "latest.md").write_text(markdown(results, pages_md))
    chart(results, RESULTS_DIR / "scaling.png")
    print(RESULTS_DIR / "latest.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
