"""Charts built from metric results (never from SQL), in one visual theme.

Every function returns a matplotlib ``Figure`` with an explicit size (inches),
so Quarto and nbconvert lay it out predictably; call :func:`use_theme` once per
notebook. Colours: one per outcome, consistent on every page.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from rfa.metrics.models import CSAT, OUTCOMES, StepRow, Summary, TimeSeriesPoint

OUTCOME_COLORS: dict[str, str] = {
    "resolved": "#2a9d8f",
    "workaround": "#8ab17d",
    "escalated": "#e9c46a",
    "unresolved": "#e76f51",
    "not completed": "#b8c0cc",
}
ACCENT = "#264653"
WIDE = (9.0, 3.2)
SQUARE = (4.2, 3.2)


def use_theme() -> None:
    """Apply the project's theme: seaborn white grid, compact fonts, PNG at 110 dpi."""
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.85)
    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 110,
            "axes.titleweight": "bold",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "figure.autolayout": True,
        }
    )


def _done(fig: Figure) -> Figure:
    """Detach ``fig`` from pyplot so a notebook shows it once: as the cell's value."""
    plt.close(fig)
    return fig


def _empty(fig: Figure, ax, message: str = "No sessions in this window") -> Figure:
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", color="#666666")
    return _done(fig)


def outcomes_per_day(series: Sequence[TimeSeriesPoint], title: str | None = None) -> Figure:
    """Stacked area of outcomes per local day, plus sessions not (yet) completed."""
    fig, ax = plt.subplots(figsize=WIDE)
    if not series or not any(p.sessions for p in series):
        return _empty(fig, ax)
    days = [p.date for p in series]
    layers = {o: [getattr(p, o) for p in series] for o in OUTCOMES}
    layers["not completed"] = [p.sessions - sum(getattr(p, o) for o in OUTCOMES) for p in series]
    ax.stackplot(
        days,
        *layers.values(),
        labels=list(layers),
        colors=[OUTCOME_COLORS[k] for k in layers],
        alpha=0.9,
        linewidth=0,
    )
    if title:
        ax.set_title(title)
    ax.set_ylabel("sessions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", ncols=5, fontsize="small", frameon=False)
    ax.margins(x=0)
    fig.autofmt_xdate()
    return _done(fig)


def sessions_per_day(series: Sequence[TimeSeriesPoint], title: str | None = None) -> Figure:
    """Bars of sessions started per local day (zero days shown as gaps at 0)."""
    fig, ax = plt.subplots(figsize=WIDE)
    if not series or not any(p.sessions for p in series):
        return _empty(fig, ax)
    ax.bar([p.date for p in series], [p.sessions for p in series], color=ACCENT, width=0.8)
    if title:
        ax.set_title(title)
    ax.set_ylabel("sessions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.autofmt_xdate()
    return _done(fig)


def outcome_donut(summary: Summary, title: str | None = None) -> Figure:
    """Donut of the outcome breakdown, with the completed count in the middle."""
    fig, ax = plt.subplots(figsize=SQUARE)
    counts = summary.outcome_breakdown.model_dump()
    if not sum(counts.values()):
        return _empty(fig, ax, "No completed sessions")
    items = [(k, v) for k, v in counts.items() if v]
    ax.pie(
        [v for _, v in items],
        labels=[f"{k}\n{v:,}" for k, v in items],
        colors=[OUTCOME_COLORS[k] for k, _ in items],
        startangle=90,
        counterclock=False,
        wedgeprops={"width": 0.38, "edgecolor": "white"},
        textprops={"fontsize": 8},
    )
    ax.text(
        0,
        0,
        f"{sum(counts.values()):,}\ncompleted",
        ha="center",
        va="center",
        fontsize=9,
        fontweight="bold",
    )
    if title:
        ax.set_title(title)
    ax.set_aspect("equal")
    return _done(fig)


def csat_distribution(csat: CSAT, title: str | None = None) -> Figure:
    """Bars of ratings per score 1–5 with the mean marked."""
    fig, ax = plt.subplots(figsize=SQUARE)
    if not csat.total_ratings:
        return _empty(fig, ax, "No ratings in this window")
    scores = list(range(1, 6))
    palette = sns.color_palette("RdYlGn", 5)
    ax.bar(scores, [csat.distribution.get(s, 0) for s in scores], color=palette)
    ax.set_xticks(scores)
    ax.set_xlabel("rating")
    ax.set_ylabel("ratings")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{title or 'Ratings'}: mean {csat.avg_csat:.2f}, n={csat.total_ratings:,}")
    return _done(fig)


def step_dropoff(steps: Sequence[StepRow], limit: int = 10, title: str | None = None) -> Figure:
    """Two panels per step (worst drop-off first): drop-off rate and helpful rate."""
    rows = list(steps[:limit])
    fig, (left, right) = plt.subplots(
        1,
        2,
        figsize=(9.0, 0.45 * max(len(rows), 3) + 1.0),
        sharey=True,
        gridspec_kw={"width_ratios": [3, 2]},
    )
    if not rows:
        left.axis("off")
        right.axis("off")
        left.text(0.5, 0.5, "No decisions recorded in this window", ha="center", va="center")
        return _done(fig)
    labels = [r.node_title if len(r.node_title) <= 42 else r.node_title[:40] + "…" for r in rows]
    ys = list(range(len(rows)))[::-1]
    left.barh(ys, [r.dropoff_rate for r in rows], color=OUTCOME_COLORS["unresolved"])
    left.set_yticks(ys, labels)
    left.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    left.set_title("drop-off rate")
    for y, r in zip(ys, rows, strict=True):
        left.text(
            r.dropoff_rate, y, f" {r.dropoff_count:,}/{r.visit_count:,}", va="center", fontsize=7
        )
    rated = [(y, r) for y, r in zip(ys, rows, strict=True) if r.helpful_rate is not None]
    right.barh(
        [y for y, _ in rated], [r.helpful_rate for _, r in rated], color=OUTCOME_COLORS["resolved"]
    )
    right.set_xlim(0, 1)
    right.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    right.set_title("helpful (thumbs up share)")
    for y, r in rated:
        right.text(
            r.helpful_rate, y, f" {r.helpful_yes} up / {r.helpful_no} down", va="center", fontsize=7
        )
    if title:
        fig.suptitle(title, fontweight="bold")
    return _done(fig)
