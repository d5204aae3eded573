"""Charts built from metric results (never from SQL), in one visual theme.

Every function returns a matplotlib ``Figure`` with an explicit size (inches),
so Quarto and nbconvert lay it out predictably; call :func:`use_theme` once per
notebook. Colours: one per outcome, consistent on every page.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from functools import cached_property

import matplotlib
import matplotlib.pyplot as plt
import seaborn as sns
from markupsafe import Markup
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


class Chart:
    """A chart as a display object: a matplotlib ``Figure`` and an ``alt`` text written
    from the same data.

    In Jupyter, Quarto and nbconvert it is one HTML output,
    ``<figure class="rfa-chart"><img src="data:image/svg+xml;base64,…" alt="…"></figure>``
    (alt escaped with markupsafe; SVG with text kept as text), with the alt text as its
    ``text/plain`` fallback. Attributes of the figure (``axes``, ``get_size_inches``…)
    are reachable on the chart itself for inspection.
    """

    def __init__(self, figure: Figure, alt: str) -> None:
        self.figure = figure
        self.alt = alt

    def __getattr__(self, name: str):
        if name == "figure":  # not set yet (e.g. during unpickling)
            raise AttributeError(name)
        return getattr(self.figure, name)

    def __repr__(self) -> str:
        return f"Chart({self.alt!r})"

    @cached_property
    def svg(self) -> bytes:
        """The figure as SVG bytes: text as ``<text>`` (font type none), no date, stable ids."""
        buf = io.BytesIO()
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "rfa"}):
            self.figure.savefig(buf, format="svg", metadata={"Date": None})
        return buf.getvalue()

    def _repr_html_(self) -> str:
        width, height = (round(v * 96) for v in self.figure.get_size_inches())
        data = base64.b64encode(self.svg).decode("ascii")
        return str(
            Markup(
                '<figure class="rfa-chart"><img src="data:image/svg+xml;base64,{}" alt="{}"'
                ' width="{}" height="{}" style="max-width:100%;height:auto"></figure>'
            ).format(data, self.alt, width, height)
        )

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {"text/html": self._repr_html_(), "text/plain": self.alt}


def _done(fig: Figure, alt: str = "Chart") -> Chart:
    """Detach ``fig`` from pyplot (so a notebook shows it once: as the chart) and wrap it."""
    plt.close(fig)
    return Chart(fig, alt)


def _empty(fig: Figure, ax, message: str = "No sessions in this window") -> Chart:
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", color="#666666")
    return _done(fig, message + ".")


def _errors(points: Sequence[tuple[float, float | None, float | None]]):
    """``[[below…], [above…]]`` error-bar lengths from (value, low, high); 0 when unknown."""
    below = [max(v - lo, 0.0) if lo is not None else 0.0 for v, lo, _ in points]
    above = [max(hi - v, 0.0) if hi is not None else 0.0 for v, _, hi in points]
    return [below, above]


def outcomes_per_day(series: Sequence[TimeSeriesPoint], title: str | None = None) -> Chart:
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
    return _done(
        fig,
        f"Sessions per day by outcome: {sum(p.sessions for p in series):,} sessions.",
    )


def sessions_per_day(series: Sequence[TimeSeriesPoint], title: str | None = None) -> Chart:
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
    return _done(
        fig,
        f"Sessions started per day: {sum(p.sessions for p in series):,} sessions.",
    )


def outcome_donut(summary: Summary, title: str | None = None) -> Chart:
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
    return _done(
        fig,
        f"Outcome mix of {sum(counts.values()):,} completed sessions: "
        + ", ".join(f"{k} {v:,}" for k, v in items)
        + ".",
    )


def csat_distribution(csat: CSAT, title: str | None = None) -> Chart:
    """Bars of ratings per score 1–5 with the mean marked."""
    fig, ax = plt.subplots(figsize=SQUARE)
    if not csat.total_ratings:
        return _empty(fig, ax, "No ratings in this window")
    if csat.avg_csat is None:
        return _empty(fig, ax, "Withheld: too few distinct raters (small-group privacy)")
    scores = list(range(1, 6))
    palette = sns.color_palette("RdYlGn", 5)
    ax.bar(scores, [csat.distribution.get(s, 0) for s in scores], color=palette)
    ax.set_xticks(scores)
    ax.set_xlabel("rating")
    ax.set_ylabel("ratings")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{title or 'Ratings'}: mean {csat.avg_csat:.2f}, n={csat.total_ratings:,}")
    return _done(
        fig,
        f"Ratings per score from 1 to 5: {csat.total_ratings:,} ratings, mean {csat.avg_csat:.1f}.",
    )


def step_dropoff(steps: Sequence[StepRow], limit: int = 10, title: str | None = None) -> Chart:
    """Two panels per step (worst drop-off first): drop-off rate and helpful rate, each
    with its 95% Wilson interval as an error bar."""
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
        return _done(fig, "No decisions recorded in this window.")
    labels = [r.node_title if len(r.node_title) <= 42 else r.node_title[:40] + "…" for r in rows]
    ys = list(range(len(rows)))[::-1]
    left.barh(
        ys,
        [r.dropoff_rate for r in rows],
        color=OUTCOME_COLORS["unresolved"],
        xerr=_errors([(r.dropoff_rate, r.dropoff_low, r.dropoff_high) for r in rows]),
        error_kw={"ecolor": "#444444", "capsize": 2, "elinewidth": 0.8},
    )
    left.set_yticks(ys, labels)
    left.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    left.set_title("drop-off rate")
    for y, r in zip(ys, rows, strict=True):
        left.text(
            r.dropoff_rate, y, f" {r.dropoff_count:,}/{r.visit_count:,}", va="center", fontsize=7
        )
    rated = [(y, r) for y, r in zip(ys, rows, strict=True) if r.helpful_rate is not None]
    right.barh(
        [y for y, _ in rated],
        [r.helpful_rate for _, r in rated],
        color=OUTCOME_COLORS["resolved"],
        xerr=_errors([(r.helpful_rate, r.helpful_low, r.helpful_high) for _, r in rated]),
        error_kw={"ecolor": "#444444", "capsize": 2, "elinewidth": 0.8},
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
    return _done(fig, f"Drop-off and helpful rate of the {len(rows)} steps with the most drop-off.")


# ── FlowPilot (METRICS.md §4) ────────────────────────────────────────────────

TIER_COLORS = {"guided": "#2a9d8f", "exploring": "#e9c46a", "discovery": "#e76f51"}


def mttr_trend(points: Sequence, title: str | None = None) -> Chart:
    """MTTR per local resolution day (line, gaps on days without resolutions) with its 95%
    t interval as a shaded band (days with 2+ resolutions), over bars of resolved AI
    sessions. ``points``: :class:`rfa.metrics.flowpilot.MTTRPoint`."""
    fig, ax = plt.subplots(figsize=WIDE)
    if not any(p.resolved_sessions for p in points):
        return _empty(fig, ax, "No resolved AI sessions in this window")
    days = [p.date for p in points]
    counts = ax.twinx()
    counts.bar(days, [p.resolved_sessions for p in points], color="#dfe5ec", width=0.8)
    counts.set_ylabel("resolved sessions", color="#7a8594")
    counts.grid(False)
    ax.set_zorder(counts.get_zorder() + 1)
    ax.patch.set_visible(False)
    values = [float("nan") if p.mttr_minutes is None else p.mttr_minutes for p in points]
    nan = float("nan")
    lows = [nan if getattr(p, "mttr_low", None) is None else max(p.mttr_low, 0.0) for p in points]
    highs = [nan if getattr(p, "mttr_high", None) is None else p.mttr_high for p in points]
    if any(h == h for h in highs):  # NaN-free somewhere: draw the band
        ax.fill_between(
            days, lows, highs, color=ACCENT, alpha=0.15, linewidth=0, label="95% interval"
        )
        ax.legend(loc="upper left", fontsize="small", frameon=False)
    ax.plot(days, values, marker="o", markersize=3, color=ACCENT, linewidth=1.6)
    ax.set_ylabel("MTTR (minutes)")
    ax.set_ylim(bottom=0)
    if title:
        ax.set_title(title)
    fig.autofmt_xdate()
    return _done(
        fig,
        f"Mean time to resolution per day, {len(points)} days.",
    )


def domain_outcomes(rows: Sequence, title: str | None = None) -> Chart:
    """Horizontal stacked bars per problem domain: resolved, escalated, other. The end of
    the resolved part carries the 95% Wilson interval of the resolution rate as an error
    bar (scaled to the domain's sessions) and the label says rate, interval and n.
    ``rows``: :class:`rfa.metrics.flowpilot.DomainBreakdownRow`."""
    rows = list(rows)
    fig, ax = plt.subplots(figsize=(WIDE[0] / 2, 0.42 * max(len(rows), 3) + 1.0))
    if not rows:
        return _empty(fig, ax, "No AI sessions with a domain")
    ys = list(range(len(rows)))[::-1]
    resolved = [r.resolved for r in rows]
    escalated = [r.escalated for r in rows]
    other = [r.total - r.resolved - r.escalated for r in rows]
    ax.barh(ys, resolved, color=OUTCOME_COLORS["resolved"], label="resolved")
    ax.barh(ys, escalated, left=resolved, color=OUTCOME_COLORS["escalated"], label="escalated")
    ax.barh(
        ys,
        other,
        left=[a + b for a, b in zip(resolved, escalated, strict=True)],
        color=OUTCOME_COLORS["not completed"],
        label="abandoned / active",
    )
    ax.errorbar(
        resolved,
        ys,
        xerr=_errors(
            [
                (
                    r.resolved,
                    None if r.resolution_low_pct is None else r.resolution_low_pct / 100 * r.total,
                    None
                    if r.resolution_high_pct is None
                    else r.resolution_high_pct / 100 * r.total,
                )
                for r in rows
            ]
        ),
        fmt="none",
        ecolor="#444444",
        capsize=2,
        elinewidth=0.8,
    )
    ax.set_yticks(ys, [r.domain for r in rows])
    for y, r in zip(ys, rows, strict=True):
        ci = (
            ""
            if r.resolution_low_pct is None or r.resolution_high_pct is None
            else f" ({r.resolution_low_pct:.0f}–{r.resolution_high_pct:.0f}%)"
        )
        ax.text(
            r.total,
            y,
            f" {r.resolution_rate_pct:.0f}%{ci}, n={r.total:,}",
            va="center",
            fontsize=7,
            color="#8a94a3" if getattr(r, "few", False) else "#222222",
        )
    ax.set_xlim(0, max(r.total for r in rows) * 1.45)
    ax.set_xlabel("AI sessions")
    ax.legend(loc="lower right", fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    return _done(fig, f"AI sessions by problem domain and outcome, {len(rows)} domains.")


def confidence_tiers(rows: Sequence, title: str | None = None) -> Chart:
    """Resolution rate per confidence tier with its 95% Wilson interval as an error bar,
    and its number of ended sessions; a tier with fewer than the page's ``min_n`` (its
    ``few`` flag) is drawn pale and hatched and labelled "few sessions".
    ``rows``: :class:`rfa.metrics.flowpilot.ConfidenceTierRow`."""
    fig, ax = plt.subplots(figsize=SQUARE)
    if not any(r.sessions for r in rows):
        return _empty(fig, ax, "No ended AI sessions")
    tiers = [r.tier for r in rows]
    rates = [r.resolution_rate_pct or 0.0 for r in rows]
    bars = ax.bar(
        tiers,
        rates,
        color=[TIER_COLORS.get(t, ACCENT) for t in tiers],
        yerr=_errors(
            [
                (v, r.resolution_low_pct, r.resolution_high_pct)
                for v, r in zip(rates, rows, strict=True)
            ]
        ),
        error_kw={"ecolor": "#444444", "capsize": 3, "elinewidth": 0.8},
    )
    for x, r in enumerate(rows):
        label = "—" if r.resolution_rate_pct is None else f"{r.resolution_rate_pct:.0f}%"
        top = r.resolution_high_pct if r.resolution_high_pct is not None else rates[x]
        few = "\nfew sessions" if r.few and r.sessions else ""
        ax.text(x, top, f"{label}\nn={r.sessions:,}{few}", ha="center", va="bottom", fontsize=8)
        if r.few:
            bars[x].set_alpha(0.35)
            bars[x].set_hatch("//")
    ax.set_ylim(0, 115)
    ax.set_ylabel("resolution rate (%)")
    if title:
        ax.set_title(title)
    return _done(
        fig,
        "Resolution rate per confidence tier: "
        + ", ".join(f"{r.tier} {r.resolution_rate_pct or 0:.0f}%" for r in rows)
        + ".",
    )


def psa_funnel(psa, title: str | None = None) -> Chart:
    """AI sessions → linked to a ticket → doc pushed → time entry logged (independent
    counts, each a share of all AI sessions, with the share's 95% Wilson interval as an
    error bar and in the label). ``psa``: :class:`PsaMetrics` (its ``funnel`` and the
    intervals); a bare :class:`PsaFunnel` draws the counts without intervals."""
    funnel = getattr(psa, "funnel", psa)
    fig, ax = plt.subplots(figsize=SQUARE)
    stages = [
        ("AI sessions", funnel.total_sessions),
        ("linked to ticket", funnel.linked_to_ticket),
        ("doc pushed", funnel.doc_pushed),
        ("time entry", funnel.time_entry_logged),
    ]
    if not funnel.total_sessions:
        return _empty(fig, ax, "No AI sessions in this window")
    total = funnel.total_sessions
    bounds = [(None, None)] + [
        (getattr(psa, f"{name}_low_pct", None), getattr(psa, f"{name}_high_pct", None))
        for name in ("ticket_link", "doc_pushed", "time_entry_logged")
    ]
    ys = list(range(len(stages)))[::-1]
    ax.barh(
        ys,
        [v for _, v in stages],
        color=[ACCENT, "#2a9d8f", "#8ab17d", "#e9c46a"],
        xerr=_errors(
            [
                (
                    v,
                    None if lo is None else lo / 100 * total,
                    None if hi is None else hi / 100 * total,
                )
                for (_, v), (lo, hi) in zip(stages, bounds, strict=True)
            ]
        ),
        error_kw={"ecolor": "#444444", "capsize": 2, "elinewidth": 0.8},
    )
    ax.set_yticks(ys, [s for s, _ in stages])
    for y, (_, v), (lo, hi) in zip(ys, stages, bounds, strict=True):
        ci = "" if lo is None or hi is None else f", {lo:.0f}–{hi:.0f}%"
        right = v if hi is None else max(v, hi / 100 * total)
        ax.text(right, y, f" {v:,} ({v / total:.0%}{ci})", va="center", fontsize=8)
    ax.set_xlim(0, total * 1.6)
    ax.set_xlabel("AI sessions")
    if title:
        ax.set_title(title)
    return _done(fig)


def psa_daily(points: Sequence, title: str | None = None) -> Chart:
    """Time entries per local day (bars) and hours logged (line).
    ``points``: :class:`rfa.metrics.flowpilot.PsaDailyPoint`."""
    fig, ax = plt.subplots(figsize=WIDE)
    if not any(p.entries for p in points):
        return _empty(fig, ax, "No time entries in this window")
    days = [p.date for p in points]
    ax.bar(days, [p.entries for p in points], color="#8ab17d", width=0.8, label="time entries")
    ax.set_ylabel("time entries")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    hours = ax.twinx()
    hours.plot(days, [p.hours for p in points], color=ACCENT, linewidth=1.5, label="hours")
    hours.set_ylabel("hours logged")
    hours.set_ylim(bottom=0)
    hours.grid(False)
    if title:
        ax.set_title(title)
    fig.autofmt_xdate()
    return _done(
        fig, f"Time entries and hours logged per day: {sum(p.entries for p in points):,} entries."
    )


def flow_quality_map(rows: Sequence, title: str | None = None) -> Chart:
    """Each matched flow: uses (log x) against success rate with its 95% Wilson interval
    as a vertical error bar, coloured by quality score; flows that need attention are
    outlined in red. ``rows``: :class:`FlowQualityRow`."""
    rows = list(rows)
    fig, ax = plt.subplots(figsize=WIDE)
    if not rows:
        return _empty(fig, ax, "No flow matched by AI sessions in this window")
    ax.errorbar(
        [r.usage_count for r in rows],
        [r.success_rate_pct for r in rows],
        yerr=_errors([(r.success_rate_pct, r.success_low_pct, r.success_high_pct) for r in rows]),
        fmt="none",
        ecolor="#9aa5b1",
        elinewidth=0.8,
        capsize=2,
        zorder=1,
    )
    points = ax.scatter(
        [r.usage_count for r in rows],
        [r.success_rate_pct for r in rows],
        c=[r.quality_score for r in rows],
        cmap="RdYlGn",
        vmin=0,
        vmax=100,
        s=46,
        edgecolors=["#c0392b" if r.needs_attention else "white" for r in rows],
        linewidths=1.4,
        zorder=2,
    )
    ax.set_xscale("log")
    ax.set_xlabel("AI sessions matched (log scale)")
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(-5, 105)
    fig.colorbar(points, ax=ax, label="quality score", pad=0.01)
    for r in rows:
        if r.needs_attention:
            ax.annotate(
                r.name[:28],
                (r.usage_count, r.success_rate_pct),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
                color="#c0392b",
            )
    if title:
        ax.set_title(title)
    return _done(fig, f"Success rate against uses for {len(rows)} flows matched by AI sessions.")


def escalation_lag_histogram(bins: Sequence, title: str | None = None) -> Chart:
    """Claimed hand-offs per bucket of seconds to first action (post-claim activity lag).
    ``bins``: :class:`rfa.metrics.escalations.HistogramBin`."""
    fig, ax = plt.subplots(figsize=WIDE)
    if not any(b.count for b in bins):
        return _empty(fig, ax, "No claimed hand-off was acted on in this window")
    labels = [b.label for b in bins]
    ax.bar(labels, [b.count for b in bins], color=ACCENT)
    ax.set_xlabel("time from claim to first action")
    ax.set_ylabel("hand-offs")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        ax.set_title(title)
    return _done(
        fig,
        f"Hand-offs by time from claim to first action: {sum(b.count for b in bins):,} hand-offs.",
    )


SEVERITY_COLORS = {"high": "#e76f51", "medium": "#e9c46a", "low": "#8ab17d"}


def gaps_by_kind(gaps: Sequence, title: str | None = None) -> Chart:
    """Knowledge gaps per kind, stacked by severity. ``gaps``: :class:`Gap`."""
    fig, ax = plt.subplots(figsize=SQUARE)
    if not gaps:
        return _empty(fig, ax, "No gap passes the thresholds")
    kinds = sorted({g.kind for g in gaps})
    ys = list(range(len(kinds)))[::-1]
    left = [0] * len(kinds)
    for level in ("high", "medium", "low"):
        counts = [sum(1 for g in gaps if g.kind == k and g.severity == level) for k in kinds]
        ax.barh(ys, counts, left=left, color=SEVERITY_COLORS[level], label=level)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.set_yticks(ys, [k.replace("_", " ") for k in kinds])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("gaps")
    ax.legend(fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    return _done(fig, f"Knowledge gaps by kind and severity: {len(gaps):,} gaps.")


def duration_distribution(bins: Sequence, title: str | None = None) -> Chart:
    """Completed sessions per duration bucket (``bins``:
    :class:`rfa.metrics.escalations.HistogramBin` in seconds, labelled in minutes)."""
    fig, ax = plt.subplots(figsize=WIDE)
    if not any(b.count for b in bins):
        return _empty(fig, ax, "No completed session in this window")
    ax.bar([b.label for b in bins], [b.count for b in bins], color=ACCENT)
    ax.set_xlabel("time from start to completion")
    ax.set_ylabel("completed sessions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        ax.set_title(title)
    return _done(fig, f"Completed sessions by duration: {sum(b.count for b in bins):,} sessions.")


def kpi_changes(kpis: Sequence, title: str | None = None) -> Chart:
    """Rates of this window beside the previous one, with 95% Wilson error bars
    (``kpis``: :class:`rfa.metrics.kpi.KPI`; only those whose unit is a fraction)."""
    rates = [k for k in kpis if k.unit == "fraction"]
    fig, ax = plt.subplots(figsize=(4.6, 0.55 * max(len(rates), 2) + 1.0))
    if not rates:
        return _empty(fig, ax, "No rates on this page")
    ys = list(range(len(rates)))[::-1]
    for offset, attr, colour, name in (
        (0.18, "estimate", ACCENT, "this window"),
        (-0.18, "previous", "#b8c0cc", "previous window"),
    ):
        est = [getattr(k, attr) for k in rates]
        shown = [(y + offset, e) for y, e in zip(ys, est, strict=True) if e.value is not None]
        ax.errorbar(
            [e.value for _, e in shown],
            [y for y, _ in shown],
            xerr=_errors([(e.value, e.low, e.high) for _, e in shown]),
            fmt="o",
            color=colour,
            capsize=3,
            label=name,
        )
    ax.set_yticks(ys, [k.label for k in rates])
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.legend(loc="lower left", fontsize=7, frameon=False)
    if title:
        ax.set_title(title)
    return _done(
        fig, "Rates of this window and the previous one: " + ", ".join(k.label for k in rates) + "."
    )
