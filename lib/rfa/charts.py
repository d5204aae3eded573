"""Charts built from metric results (never from SQL), in one visual theme.

Every chart function returns a :class:`Chart`: a matplotlib ``Figure`` (SVG, text kept
as text) plus an ``alt`` text written from the same data, shown as ONE HTML output in
Jupyter, Quarto and nbconvert alike. Most charts are drawn twice: for a desktop card and
re-drawn narrow and tall for a phone (≤ 480 px, chosen by the browser with
``<picture>``), so labels stay legible at both sizes.

Design rules (the page design guide): one colour-blind-safe palette (Okabe–Ito), outcomes
always in the same colours; layout managed by matplotlib (``layout="constrained"``);
values beside bars in a column or outside the bar end, never over a bar, whisker or
another label; category labels wrapped, never two equal; legends outside the data area;
no secondary axis (two series in two units are two panels sharing the x axis).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import textwrap
from collections.abc import Callable, Sequence
from functools import cached_property

import matplotlib
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter
from matplotlib.transforms import Bbox

from rfa.labels import humanize
from rfa.metrics.models import CSAT, OUTCOMES, StepRow, Summary, TimeSeriesPoint
from rfa.present import (
    DASH,
    fmt_csat,
    fmt_day,
    fmt_int,
    fmt_minutes,
    fmt_pct,
    fmt_pct100,
    fmt_span,
)

# ── Palette (Okabe & Ito 2008, colour-blind safe) ────────────────────────────

OKABE_ITO: dict[str, str] = {
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "black": "#000000",
}
OUTCOME_COLORS: dict[str, str] = {
    "resolved": OKABE_ITO["bluish green"],
    "workaround": OKABE_ITO["sky blue"],
    "escalated": OKABE_ITO["orange"],
    "unresolved": OKABE_ITO["vermillion"],
    "not completed": "#BBBBBB",
}
"""One colour per outcome, the same on every page (stack order: this dict's order)."""
ACCENT = OKABE_ITO["blue"]
"""A single measure (sessions per day, a rate per category)."""
SECOND = OKABE_ITO["reddish purple"]
"""A second measure in its own panel (hours logged)."""
PREVIOUS = "#8C8C8C"
"""The previous window, beside this one."""
ATTENTION = OKABE_ITO["vermillion"]
INK = "#222222"
MUTED = "#595959"
WHISKER = "#333333"
SEVERITY_COLORS: dict[str, str] = {
    "high": OKABE_ITO["vermillion"],
    "medium": OKABE_ITO["orange"],
    "low": OKABE_ITO["sky blue"],
}
TIER_COLORS: dict[str, str] = {t: ACCENT for t in ("guided", "exploring", "discovery")}

WIDE = (9.0, 3.6)
"""Desktop size (inches) of a full-width time chart."""
SQUARE = (4.8, 3.6)
"""Desktop size (inches) of a chart for a half-width card (~420–680 px wide)."""
PHONE_WIDTH = 3.8
"""Width (inches) of the phone drawing: 365 px, shown at ~310–360 px in a phone card."""
PHONE_MEDIA = "(max-width: 480px)"

_RC: dict[str, object] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica", "Liberation Sans"],
    "font.size": 10.0,
    "axes.titlesize": 10.0,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10.0,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "legend.fontsize": 9.5,
    "legend.frameon": False,
    "legend.handlelength": 1.4,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#8C8C8C",
    "axes.grid": False,
    "axes.axisbelow": True,
    "grid.color": "#E3E3E3",
    "grid.linewidth": 0.8,
    "text.color": INK,
    "axes.labelcolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "figure.dpi": 96,
    "figure.autolayout": False,
    "figure.constrained_layout.use": True,
    "axes.prop_cycle": matplotlib.cycler(color=list(OKABE_ITO.values())),
    "svg.fonttype": "none",
    "svg.hashsalt": "rfa",
}


def use_theme() -> None:
    """Apply the chart theme to pyplot globally (for ad-hoc plots in a notebook). The chart
    functions of this module apply it themselves and do not need this call."""
    plt.rcParams.update(_RC)


class Chart:
    """A chart as a display object: a matplotlib ``figure`` and an ``alt`` text written
    from the same data (plus, optionally, a ``phone`` figure: the same chart re-drawn
    narrow for screens ≤ 480 px).

    In Jupyter, Quarto and nbconvert it is ONE HTML output,
    ``<figure class="rfa-chart"><img src="data:image/svg+xml;base64,…" alt="…"></figure>``
    (with a phone figure, the ``<img>`` sits in a ``<picture>`` whose ``<source>`` holds
    the phone SVG); the alt text is escaped with markupsafe and is also the
    ``text/plain`` fallback. SVG keeps text as text (``svg.fonttype: none``). Attributes
    of the desktop figure (``axes``, ``get_size_inches``…) are reachable on the chart.
    """

    def __init__(self, figure: Figure, alt: str, phone: Figure | None = None) -> None:
        self.figure = figure
        self.alt = alt
        self.phone = phone

    def __getattr__(self, name: str):
        if name in ("figure", "alt", "phone"):  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.figure, name)

    def __repr__(self) -> str:
        return f"Chart({self.alt!r})"

    @staticmethod
    def _svg(figure: Figure) -> bytes:
        buf = io.BytesIO()
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "rfa"}):
            figure.savefig(buf, format="svg", metadata={"Date": None})
        return buf.getvalue()

    @cached_property
    def svg(self) -> bytes:
        """The desktop figure as SVG bytes (text as ``<text>``, no date, stable ids)."""
        return self._svg(self.figure)

    @cached_property
    def phone_svg(self) -> bytes | None:
        """The phone figure as SVG bytes, or None without a phone figure."""
        return None if self.phone is None else self._svg(self.phone)

    @staticmethod
    def _size(figure: Figure) -> tuple[int, int]:
        width, height = figure.get_size_inches()
        return round(width * 96), round(height * 96)

    def _repr_html_(self) -> str:
        def uri(svg: bytes) -> str:
            return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")

        width, height = self._size(self.figure)
        img = Markup(
            '<img src="{}" alt="{}" width="{}" height="{}" style="max-width:100%;height:auto">'
        ).format(uri(self.svg), self.alt, width, height)
        if self.phone is not None and self.phone_svg is not None:
            p_width, p_height = self._size(self.phone)
            source = Markup('<source media="{}" srcset="{}" width="{}" height="{}">').format(
                PHONE_MEDIA, uri(self.phone_svg), p_width, p_height
            )
            img = Markup("<picture>{}{}</picture>").format(source, img)
        return str(Markup('<figure class="rfa-chart">{}</figure>').format(img))

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {"text/html": self._repr_html_(), "text/plain": self.alt}


# ── Building blocks ──────────────────────────────────────────────────────────


def _done(fig: Figure, alt: str = "Chart without a description") -> Chart:
    """Detach ``fig`` from pyplot (a notebook then shows it once: as the chart) and wrap
    it with its alt text."""
    plt.close(fig)
    return Chart(fig, alt)


def _empty(fig: Figure, ax, message: str = "No sessions in this window") -> Chart:
    """Turn ``ax`` into a centred ``message``; the alt text says the same."""
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", color=MUTED, fontsize=11)
    return _done(fig, message + ".")


def _no_data(message: str = "No sessions in this window") -> Chart:
    """A small chart that only says ``message`` (its alt text says the same)."""
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(4.2, 1.1), layout="constrained")
        return _empty(fig, fig.subplots(), message)


def _drawn(draw: Callable[[bool], Figure], alt: str) -> Chart:
    """A chart drawn for the desktop (``draw(False)``) and for a phone (``draw(True)``)."""
    with matplotlib.rc_context(_RC):
        return Chart(draw(False), alt, phone=draw(True))


def _figure(size: tuple[float, float], **subplots) -> tuple[Figure, object]:
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(**subplots)


def _errors(points: Sequence[tuple[float, float | None, float | None]]):
    """``[[below…], [above…]]`` error-bar lengths from (value, low, high); 0 when unknown."""
    below = [max(v - lo, 0.0) if lo is not None else 0.0 for v, lo, _ in points]
    above = [max(hi - v, 0.0) if hi is not None else 0.0 for v, _, hi in points]
    return [below, above]


_ERROR_KW = {"ecolor": WHISKER, "elinewidth": 0.9, "capsize": 2.5, "capthick": 0.9, "zorder": 2}
"""Whiskers: thin, dark, under every label (labels sit in a column beside the panel)."""


def wrap_labels(texts: Sequence[str], width: int, max_lines: int = 3) -> list[str]:
    """Category labels wrapped to ``width`` characters a line and at most ``max_lines``
    lines (the rest cut with "…"); labels that would come out equal get more lines, and
    if they are still equal (equal texts) a number: "… (2)". Never two equal labels."""

    def wrap(text: str, lines: int) -> str:
        text = " ".join(text.split()) or "(untitled)"
        return "\n".join(textwrap.wrap(text, width, max_lines=lines, placeholder=" …"))

    lines = [max_lines] * len(texts)
    out = [wrap(t, n) for t, n in zip(texts, lines, strict=True)]
    for _ in range(12):
        dupes = {label for label in out if out.count(label) > 1}
        if not dupes:
            return out
        for i, label in enumerate(out):
            if label in dupes:
                lines[i] += 1
                out[i] = wrap(texts[i], lines[i])
    seen: dict[str, int] = {}
    dupes = {label for label in out if out.count(label) > 1}
    for i, label in enumerate(out):
        if label in dupes:
            seen[label] = seen.get(label, 0) + 1
            out[i] = f"{label} ({seen[label]})"
    return out


def _value_column(ax: Axes, ys: Sequence[float], texts: Sequence[str], colors=None) -> None:
    """Write ``texts`` in a column just right of ``ax`` (one per y in data units), so a
    value never sits on a bar, a whisker or another value."""
    for i, (y, text) in enumerate(zip(ys, texts, strict=True)):
        ax.annotate(
            text,
            xy=(1.0, y),
            xycoords=ax.get_yaxis_transform(),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            ha="left",
            fontsize=9.5,
            color=INK if colors is None else colors[i],
            annotation_clip=False,
        )


def _value_above(
    ax: Axes, xs: Sequence[float], tops: Sequence[float], texts: Sequence[str], colors=None
) -> None:
    """Write ``texts`` just above each column's top (the bar or its upper whisker, in data
    units), so a value never sits on a bar or a whisker."""
    for i, (x, top, text) in enumerate(zip(xs, tops, texts, strict=True)):
        ax.annotate(
            text,
            xy=(x, top),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=9.5,
            color=INK if colors is None else colors[i],
        )


def _hbar_axes(ax: Axes, ys: Sequence[float], labels: Sequence[str]) -> None:
    ax.set_yticks(list(ys), list(labels))
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(-0.6, len(ys) - 0.4)
    ax.spines["left"].set_visible(False)
    ax.grid(axis="x")


def _row_height(labels: Sequence[str], line: float = 0.19, pad: float = 0.2) -> float:
    """Inches per bar row so the tallest wrapped label fits."""
    return max(0.36, line * max(label.count("\n") + 1 for label in labels) + pad)


def _percent_axis(axis, scale: float = 1.0) -> None:
    """Plain percent ticks (``0%``…``100%``) for values in [0, ``scale``]."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / scale * 100:.0f}%"))


def _count_axis(axis) -> None:
    axis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _count(n: int, noun: str) -> str:
    """``1 flow``, ``2 flows``, ``1,204 flows``."""
    return f"{fmt_int(n)} {noun}" + ("" if n == 1 else "s")


def _per_day(total: float, days: int) -> str:
    average = total / max(days, 1)
    return f"{average:,.0f}" if average >= 10 else f"{average:.1f}"


def _date_axis(ax: Axes, days: Sequence[dt.date], phone: bool, most: int = 8) -> None:
    """Day ticks as ``6 Nov``, at most ``most`` of them (4 on a phone), no rotation; x
    limits half a day out."""
    lo, hi = min(days), max(days)
    step = -(-((hi - lo).days + 1) // (4 if phone else most))  # ceil
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(step, 1)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_day(mdates.num2date(v).date())))
    ax.set_xlim(mdates.date2num(lo) - 0.6, mdates.date2num(hi) + 0.6)  # whole bars


def _legend_above(fig: Figure, handles, labels, ncols: int) -> None:
    fig.legend(
        handles, labels, loc="outside upper left", ncols=ncols, frameon=False, borderaxespad=0.2
    )


def _quoted(text: str) -> str:
    """A name from the database in quotes, whitespace normalised (never cut: two cut
    names could read the same)."""
    return "“" + (" ".join(text.split()) or "(untitled)") + "”"


def _title(fig: Figure, title: str | None) -> None:
    if title:
        fig.suptitle(title, fontweight="bold", x=0.01, ha="left")


# ── Sessions (team, personal, flow pages) ────────────────────────────────────

_LAYERS = ("resolved", "workaround", "escalated", "unresolved", "not completed")


def _layers(series: Sequence[TimeSeriesPoint]) -> dict[str, list[int]]:
    layers = {o: [getattr(p, o) for p in series] for o in _LAYERS if o in OUTCOMES}
    layers["not completed"] = [p.sessions - sum(getattr(p, o) for o in OUTCOMES) for p in series]
    return layers


def _outcomes_per_day_alt(series: Sequence[TimeSeriesPoint]) -> str:
    total = sum(p.sessions for p in series)
    peak = max(series, key=lambda p: p.sessions)
    shares = {k: sum(v) for k, v in _layers(series).items()}
    top = max(shares, key=lambda k: shares[k])
    return (
        f"Sessions per day by outcome, {fmt_span([p.date for p in series])}: "
        f"{_per_day(total, len(series))} a day on average, peak {fmt_int(peak.sessions)} "
        f"on {fmt_day(peak.date)}; {top} is the largest share ({fmt_pct(shares[top] / total)})."
    )


def outcomes_per_day(series: Sequence[TimeSeriesPoint], title: str | None = None) -> Chart:
    """Sessions started per local day as stacked bars by outcome (resolved, workaround,
    escalated, unresolved, not completed), legend above the plot.

    ``series``: one :class:`TimeSeriesPoint` per day of the window (zero days included).
    Returns a :class:`Chart` whose alt gives the span, the daily average, the peak day
    and the largest outcome share; "No sessions in this window" without sessions."""
    series = list(series)
    if not any(p.sessions for p in series):
        return _no_data("No sessions in this window")
    layers = _layers(series)
    days = [p.date for p in series]
    xs = mdates.date2num(days)  # numbers: no unit conversion per bar

    def draw(phone: bool) -> Figure:
        fig, ax = _figure((PHONE_WIDTH, 3.9) if phone else WIDE)
        bottom = [0] * len(days)
        handles = []
        for name, values in layers.items():
            handles.append(ax.bar(xs, values, bottom=bottom, width=0.8, color=OUTCOME_COLORS[name]))
            bottom = [a + b for a, b in zip(bottom, values, strict=True)]
        _legend_above(fig, handles, list(layers), ncols=2 if phone else 5)
        ax.set_ylabel("sessions")
        _count_axis(ax.yaxis)
        ax.grid(axis="y")
        _date_axis(ax, days, phone)
        _title(fig, title)
        return fig

    return _drawn(draw, _outcomes_per_day_alt(series))


def sessions_per_day(series: Sequence[TimeSeriesPoint], title: str | None = None) -> Chart:
    """Bars of sessions started per local day (zero days shown as gaps at 0).

    ``series``: :class:`TimeSeriesPoint` per day. Alt: span, daily average and peak."""
    series = list(series)
    if not any(p.sessions for p in series):
        return _no_data("No sessions in this window")
    days = [p.date for p in series]
    xs = mdates.date2num(days)  # numbers: no unit conversion per bar
    peak = max(series, key=lambda p: p.sessions)
    alt = (
        f"Sessions started per day, {fmt_span(days)}: "
        f"{_per_day(sum(p.sessions for p in series), len(series))} a day on average, "
        f"peak {fmt_int(peak.sessions)} on {fmt_day(peak.date)}."
    )

    def draw(phone: bool) -> Figure:
        fig, ax = _figure((PHONE_WIDTH, 3.4) if phone else WIDE)
        ax.bar(xs, [p.sessions for p in series], color=ACCENT, width=0.8)
        ax.set_ylabel("sessions")
        _count_axis(ax.yaxis)
        ax.grid(axis="y")
        _date_axis(ax, days, phone)
        _title(fig, title)
        return fig

    return _drawn(draw, alt)


def _outcome_donut_alt(items: Sequence[tuple[str, int]], total: int) -> str:
    parts = ", ".join(
        f"{k} {fmt_pct(v / total)} ({fmt_int(v)})" for k, v in sorted(items, key=lambda i: -i[1])
    )
    return f"Outcome mix of {fmt_int(total)} completed sessions: {parts}."


def outcome_donut(summary: Summary, title: str | None = None) -> Chart:
    """Donut of the outcome breakdown of completed sessions, the completed count in the
    middle, each outcome's count and share in the legend beside it (no labels on the
    ring, so small slices never collide). ``summary``: :class:`Summary`."""
    counts = summary.outcome_breakdown.model_dump()
    total = sum(counts.values())
    if not total:
        return _no_data("No completed sessions in this window")
    items = [(k, counts[k]) for k in _LAYERS if counts.get(k)]

    def draw(phone: bool) -> Figure:
        fig, ax = _figure((PHONE_WIDTH, 4.6) if phone else SQUARE)
        wedges, *_ = ax.pie(
            [v for _, v in items],
            colors=[OUTCOME_COLORS[k] for k, _ in items],
            startangle=90,
            counterclock=False,
            wedgeprops={"width": 0.36, "edgecolor": "white", "linewidth": 1.5},
        )
        ax.text(0, 0.08, fmt_int(total), ha="center", va="center", fontsize=15, weight="bold")
        ax.text(0, -0.18, "completed", ha="center", va="center", fontsize=9.5, color=MUTED)
        ax.set_aspect("equal")
        labels = [f"{k}  {fmt_int(v)} ({fmt_pct(v / total)})" for k, v in items]
        if phone:
            fig.legend(wedges, labels, loc="outside lower center", ncols=1, frameon=False)
        else:
            fig.legend(wedges, labels, loc="outside right center", frameon=False)
        _title(fig, title)
        return fig

    return _drawn(draw, _outcome_donut_alt(items, total))


def _csat_alt(csat: CSAT) -> str:
    n = csat.total_ratings
    counts = {s: csat.distribution.get(s, 0) for s in range(5, 0, -1)}
    happy = counts[5] + counts[4]
    parts = ", ".join(
        f"{s} {'star' if s == 1 else 'stars'}: {fmt_int(c)}" for s, c in counts.items()
    )
    return (
        f"Ratings by score from 1 to 5, {fmt_int(n)} ratings: mean {fmt_csat(csat.avg_csat)}; "
        f"{fmt_pct(happy / n)} gave 4 or 5 ({parts})."
    )


def csat_distribution(csat: CSAT, title: str | None = None) -> Chart:
    """Bars of ratings per score 1–5, each labelled with its count and share above the
    bar; the mean and n under the axis. Withheld (small-group privacy) when the page
    withholds the mean. ``csat``: :class:`CSAT`."""
    if not csat.total_ratings:
        return _no_data("No ratings in this window")
    if csat.avg_csat is None:
        return _no_data("Withheld: too few distinct raters (small-group privacy)")
    scores = list(range(1, 6))
    counts = [csat.distribution.get(s, 0) for s in scores]
    n = csat.total_ratings

    def draw(phone: bool) -> Figure:
        fig, ax = _figure((PHONE_WIDTH, 3.4) if phone else SQUARE)
        bars = ax.bar(scores, counts, color=ACCENT, width=0.7)
        ax.bar_label(
            bars, [f"{fmt_int(c)}\n{fmt_pct(c / n)}" for c in counts], padding=3, fontsize=9.5
        )
        ax.set_xticks(scores, [str(s) for s in scores])
        ax.set_xlabel(f"rating (1–5) · mean {fmt_csat(csat.avg_csat)} from {fmt_int(n)} ratings")
        ax.set_ylabel("ratings")
        _count_axis(ax.yaxis)
        ax.set_ylim(0, max(counts) * 1.3)
        ax.grid(axis="y")
        _title(fig, title)
        return fig

    return _drawn(draw, _csat_alt(csat))


def _step_alt(rows: Sequence[StepRow]) -> str:
    worst = rows[:2]
    parts = "; ".join(
        f"{_quoted(r.node_title)} {fmt_pct(r.dropoff_rate)} "
        f"({fmt_int(r.dropoff_count)} of {fmt_int(r.visit_count)} visits)"
        for r in worst
    )
    rated = [r.helpful_rate for r in rows if r.helpful_rate is not None]
    if not rated:
        helpful = "no step was rated"
    elif len(rated) == 1:
        helpful = f"thumbs-up share {fmt_pct(rated[0])} on the one rated step"
    else:
        helpful = (
            f"thumbs-up share from {fmt_pct(min(rated))} to {fmt_pct(max(rated))} "
            f"on the {len(rated)} rated steps"
        )
    return (
        f"Drop-off rate and thumbs-up share of the "
        f"{'step' if len(rows) == 1 else f'{len(rows)} steps'} where most sessions "
        f"stop: {parts}; {helpful}."
    )


def step_dropoff(steps: Sequence[StepRow], limit: int = 10, title: str | None = None) -> Chart:
    """Per step (worst drop-off first, at most ``limit``): the drop-off rate and the
    thumbs-up share, each a bar with its 95% Wilson interval as a thin whisker, values in
    a column beside each panel ("18% · 47/263", "37% · 19 up, 32 down"). Step titles are
    wrapped, never cut to two equal labels. Desktop: panels side by side; phone: stacked.
    ``steps``: :class:`StepRow` (sorted by the caller)."""
    rows = list(steps[:limit])
    if not rows:
        return _no_data("No decisions recorded in this window")

    def drop_text(sep: str) -> list[str]:
        return [
            f"{fmt_pct(r.dropoff_rate)}{sep}{fmt_int(r.dropoff_count)}/{fmt_int(r.visit_count)}"
            for r in rows
        ]

    def help_text(sep: str) -> list[str]:
        return [
            DASH
            if r.helpful_rate is None
            else f"{fmt_pct(r.helpful_rate)}{sep}{fmt_int(r.helpful_yes)} up, "
            f"{fmt_int(r.helpful_no)} down"
            for r in rows
        ]

    colors = [MUTED if r.few else INK for r in rows]
    top = max(r.dropoff_high if r.dropoff_high is not None else r.dropoff_rate for r in rows)

    def panel(ax: Axes, ys, labels, which: str, phone: bool) -> None:
        _hbar_axes(ax, ys, labels)
        sep = "\n" if phone else " · "
        if which == "drop":
            ax.barh(
                ys,
                [r.dropoff_rate for r in rows],
                color=ACCENT,
                height=0.62,
                xerr=_errors([(r.dropoff_rate, r.dropoff_low, r.dropoff_high) for r in rows]),
                error_kw=_ERROR_KW,
            )
            ax.set_xlim(0, min(1.0, max(top * 1.08, 0.05)))
            ax.set_title("Drop-off rate" if phone else "Drop-off rate (stopped here / visits)")
            _value_column(ax, ys, drop_text(sep), colors)
        else:
            rated = [(y, r) for y, r in zip(ys, rows, strict=True) if r.helpful_rate is not None]
            ax.barh(
                [y for y, _ in rated],
                [r.helpful_rate for _, r in rated],
                color=ACCENT,
                height=0.62,
                xerr=_errors([(r.helpful_rate, r.helpful_low, r.helpful_high) for _, r in rated]),
                error_kw=_ERROR_KW,
            )
            ax.set_xlim(0, 1)
            ax.set_title("Helpful (thumbs-up share)")
            _value_column(ax, ys, help_text(sep), colors)
        _percent_axis(ax.xaxis)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=3 if phone else 4))

    def draw(phone: bool) -> Figure:
        ys = list(range(len(rows)))[::-1]
        if phone:
            labels = wrap_labels([r.node_title for r in rows], 18, 4)
            height = _row_height(labels, 0.17, 0.14) * len(rows)
            fig, (a, b) = _figure((PHONE_WIDTH, 2 * height + 1.3), nrows=2)
            panel(a, ys, labels, "drop", phone)
            panel(b, ys, labels, "help", phone)
        else:
            labels = wrap_labels([r.node_title for r in rows], 34, 3)
            height = _row_height(labels) * len(rows)
            fig, (a, b) = _figure(
                (10.0, height + 0.9), ncols=2, sharey=True, gridspec_kw={"wspace": 0.05}
            )
            panel(a, ys, labels, "drop", phone)
            panel(b, ys, labels, "help", phone)
            b.tick_params(axis="y", labelleft=False)
        _title(fig, title)
        return fig

    return _drawn(draw, _step_alt(rows))


# ── FlowPilot (METRICS.md §4) ────────────────────────────────────────────────


def _mttr_alt(points: Sequence) -> str:
    days = [p.date for p in points]
    known = [p for p in points if p.mttr_minutes is not None and p.resolved_sessions]
    n = sum(p.resolved_sessions for p in known)
    mean = sum(p.mttr_minutes * p.resolved_sessions for p in known) / n
    low = min(known, key=lambda p: p.mttr_minutes)
    high = max(known, key=lambda p: p.mttr_minutes)
    return (
        f"Mean time to resolution per day, {fmt_span(days)}: {fmt_minutes(mean)} on average "
        f"over {fmt_int(n)} resolved AI sessions, from {fmt_minutes(low.mttr_minutes)} "
        f"({fmt_day(low.date)}) to {fmt_minutes(high.mttr_minutes)} ({fmt_day(high.date)}); "
        f"resolved sessions per day below."
    )


def mttr_trend(points: Sequence, title: str | None = None) -> Chart:
    """Two panels sharing the day axis: MTTR per local resolution day (line, gaps on days
    without resolutions) with its 95% t interval as a shaded band (days with 2+
    resolutions), and below it the resolved AI sessions per day (bars). No second y
    axis: each panel names its series. ``points``: :class:`rfa.metrics.flowpilot.MTTRPoint`.
    """
    points = list(points)
    if not any(p.resolved_sessions and p.mttr_minutes is not None for p in points):
        return _no_data("No resolved AI sessions in this window")
    days = [p.date for p in points]
    xs = mdates.date2num(days)  # numbers: no unit conversion per bar
    nan = float("nan")
    values = [nan if p.mttr_minutes is None else p.mttr_minutes for p in points]
    lows = [nan if getattr(p, "mttr_low", None) is None else max(p.mttr_low, 0.0) for p in points]
    highs = [nan if getattr(p, "mttr_high", None) is None else p.mttr_high for p in points]

    def draw(phone: bool) -> Figure:
        fig, (ax, counts) = _figure(
            (PHONE_WIDTH, 4.4) if phone else WIDE,
            nrows=2,
            sharex=True,
            gridspec_kw={"height_ratios": [3, 1]},
        )
        handles = []
        if any(h == h for h in highs):  # NaN-free somewhere: draw the band
            handles.append(ax.fill_between(xs, lows, highs, color=ACCENT, alpha=0.18, linewidth=0))
        (line,) = ax.plot(xs, values, marker="o", markersize=3.5, color=ACCENT, linewidth=1.8)
        handles.insert(0, line)
        names = ["MTTR (mean minutes per day)", "95% interval"][: len(handles)]
        _legend_above(fig, handles, names, ncols=1 if phone else 2)
        ax.set_ylabel("minutes")
        ax.set_ylim(bottom=0)
        ax.grid(axis="y")
        counts.bar(xs, [p.resolved_sessions for p in points], color="#9C9C9C", width=0.8)
        counts.set_title("Resolved AI sessions per day", fontweight="normal", fontsize=9.5)
        counts.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=2))
        counts.grid(axis="y")
        _date_axis(counts, days, phone)
        _title(fig, title)
        return fig

    return _drawn(draw, _mttr_alt(points))


def _domain_alt(rows: Sequence) -> str:
    total = sum(r.total for r in rows)
    most = max(rows, key=lambda r: r.total)
    rated = [r for r in rows if r.resolution_rate_pct is not None]
    text = (
        f"AI sessions by problem domain and outcome, {_count(len(rows), 'domain')}, "
        f"{fmt_int(total)} sessions: most in {humanize(most.domain)} ({fmt_int(most.total)}, "
        f"{fmt_pct100(most.resolution_rate_pct)} resolved)"
    )
    if len(rated) > 1:
        best = max(rated, key=lambda r: r.resolution_rate_pct)
        worst = min(rated, key=lambda r: r.resolution_rate_pct)
        text += (
            f"; highest resolution rate {humanize(best.domain)} "
            f"({fmt_pct100(best.resolution_rate_pct)}), lowest {humanize(worst.domain)} "
            f"({fmt_pct100(worst.resolution_rate_pct)})"
        )
    return text + "."


def domain_outcomes(rows: Sequence, title: str | None = None) -> Chart:
    """Horizontal stacked bars per problem domain: resolved, escalated, abandoned or
    active. The end of the resolved part carries the 95% Wilson interval of the
    resolution rate as a thin whisker (scaled to the domain's sessions); the rate and n
    stand in a column beside the bars ("47% resolved · n=124", muted and marked for few
    sessions). Domain names humanised. ``rows``: :class:`DomainBreakdownRow`."""
    rows = list(rows)
    if not any(r.total for r in rows):
        return _no_data("No AI sessions with a domain in this window")
    resolved = [r.resolved for r in rows]
    escalated = [r.escalated for r in rows]
    other = [r.total - r.resolved - r.escalated for r in rows]

    def texts(sep: str) -> list[str]:
        return [
            f"{fmt_pct100(r.resolution_rate_pct)} resolved{sep}n={fmt_int(r.total)}"
            + (" · few" if getattr(r, "few", False) else "")
            for r in rows
        ]

    colors = [MUTED if getattr(r, "few", False) else INK for r in rows]
    whiskers = _errors(
        [
            (
                r.resolved,
                None if r.resolution_low_pct is None else r.resolution_low_pct / 100 * r.total,
                None if r.resolution_high_pct is None else r.resolution_high_pct / 100 * r.total,
            )
            for r in rows
        ]
    )

    def draw(phone: bool) -> Figure:
        labels = wrap_labels([humanize(r.domain) for r in rows], 12 if phone else 18, 2)
        height = _row_height(labels, pad=0.16) * len(rows) + 1.0
        fig, ax = _figure((PHONE_WIDTH if phone else 5.0, height))
        ys = list(range(len(rows)))[::-1]
        _hbar_axes(ax, ys, labels)
        h = 0.66
        parts = [
            ax.barh(ys, resolved, height=h, color=OUTCOME_COLORS["resolved"]),
            ax.barh(ys, escalated, height=h, left=resolved, color=OUTCOME_COLORS["escalated"]),
            ax.barh(
                ys,
                other,
                height=h,
                left=[a + b for a, b in zip(resolved, escalated, strict=True)],
                color=OUTCOME_COLORS["not completed"],
            ),
        ]
        ax.errorbar(resolved, ys, xerr=whiskers, fmt="none", **_ERROR_KW)
        _legend_above(
            fig, parts, ["resolved", "escalated", "abandoned / active"], ncols=2 if phone else 3
        )
        _value_column(ax, ys, texts("\n"), colors)
        ax.set_xlim(0, max(1, *(r.total for r in rows)) * 1.02)
        _count_axis(ax.xaxis)
        ax.set_xlabel("AI sessions")
        _title(fig, title)
        return fig

    return _drawn(draw, _domain_alt(rows))


def _tier_alt(rows: Sequence) -> str:
    parts = ", ".join(
        f"{r.tier} {fmt_pct100(r.resolution_rate_pct)} (n={fmt_int(r.sessions)}"
        + (", few sessions)" if r.few and r.sessions else ")")
        for r in rows
    )
    return f"Resolution rate by confidence tier: {parts}."


def confidence_tiers(rows: Sequence, title: str | None = None) -> Chart:
    """Resolution rate per confidence tier (bars, 0–100%) with its 95% Wilson interval as a
    thin whisker; above each whisker the rate, its number of ended sessions, and "few
    sessions" for a tier with fewer than the page's ``min_n`` (its ``few`` flag; such a
    bar is drawn pale and hatched). ``rows``: :class:`ConfidenceTierRow`."""
    rows = list(rows)
    if not any(r.sessions for r in rows):
        return _no_data("No ended AI sessions in this window")
    rates = [r.resolution_rate_pct or 0.0 for r in rows]

    def draw(phone: bool) -> Figure:
        fig, ax = _figure((PHONE_WIDTH, 3.6) if phone else SQUARE)
        xs = list(range(len(rows)))
        bars = ax.bar(
            xs,
            rates,
            width=0.6,
            color=[TIER_COLORS.get(r.tier, ACCENT) for r in rows],
            yerr=_errors(
                [
                    (v, r.resolution_low_pct, r.resolution_high_pct)
                    for v, r in zip(rates, rows, strict=True)
                ]
            ),
            error_kw=_ERROR_KW,
        )
        _value_above(
            ax,
            range(len(rows)),
            [max(v, r.resolution_high_pct or 0.0) for v, r in zip(rates, rows, strict=True)],
            [
                f"{fmt_pct100(r.resolution_rate_pct)}\nn={fmt_int(r.sessions)}"
                + ("\nfew sessions" if r.few and r.sessions else "")
                for r in rows
            ],
            [MUTED if r.few else INK for r in rows],
        )
        for x, r in enumerate(rows):
            if r.few:
                bars[x].set_alpha(0.35)
                bars[x].set_hatch("//")
        ax.set_xticks(xs, [humanize(r.tier) for r in rows])
        ax.tick_params(axis="x", length=0)
        lines = [3 if r.few and r.sessions else 2 for r in rows]
        tops = [max(v, r.resolution_high_pct or 0.0) for v, r in zip(rates, rows, strict=True)]
        ax.set_ylim(0, max(105.0, *(t + 12 * n + 4 for t, n in zip(tops, lines, strict=True))))
        ax.set_yticks([0, 25, 50, 75, 100])
        ax.spines["left"].set_bounds(0, 100)
        _percent_axis(ax.yaxis, 100)
        ax.set_ylabel("resolution rate")
        ax.grid(axis="y")
        _title(fig, title)
        return fig

    return _drawn(draw, _tier_alt(rows))


_FUNNEL_STAGES = (
    ("total_sessions", "AI sessions", "AI sessions"),
    ("linked_to_ticket", "linked to a ticket", "linked to a ticket"),
    ("doc_pushed", "… and doc pushed", "doc pushed"),
    ("time_entry_logged", "… and time entry logged", "time entry logged"),
)
"""(field, funnel label, stand-alone label) of the PSA stages, in order."""


def _psa_funnel_alt(counts: Sequence[int]) -> str:
    total, linked, doc, entry = counts
    if not total:
        return "No AI sessions in this window."

    def share(part: int, whole: int) -> str:
        return fmt_pct(part / whole) if whole else DASH

    return (
        f"PSA funnel of the {fmt_int(total)} AI sessions of the window, each stage counting "
        f"the sessions that also reached every earlier stage: {fmt_int(linked)} linked to a "
        f"ticket ({share(linked, total)} of the sessions); {fmt_int(doc)} of them also had a "
        f"doc pushed ({share(doc, linked)} of the linked, {share(doc, total)} of the "
        f"sessions); {fmt_int(entry)} of those also logged a time entry ({share(entry, doc)} "
        f"of the previous stage, {share(entry, total)} of the sessions)."
    )


def psa_funnel(psa, title: str | None = None) -> Chart:
    """The **nested** PSA funnel (METRICS.md §4, issue 20): AI sessions → linked to a ticket
    → … and doc pushed → … and time entry logged, each stage counting the sessions that
    also reached every earlier stage, so the bars only narrow. Bars are counts of AI
    sessions; each bar's whisker is the 95% Wilson interval of its share of all sessions
    (from the data file); the value column gives the count, the share of all sessions
    and the share of the previous stage. ``psa``: :class:`PsaMetrics` (its ``funnel`` and
    intervals); a bare :class:`PsaFunnel` draws without whiskers. The alt text states
    every figure. Per-stage counts taken on their own are :func:`psa_stage_counts`."""
    funnel = getattr(psa, "funnel", psa)
    counts = [getattr(funnel, field) for field, _, _ in _FUNNEL_STAGES]
    total = counts[0]
    if not total:
        return _no_data("No AI sessions in this window")
    bounds = [(None, None)] + [
        (getattr(psa, f"{name}_low_pct", None), getattr(psa, f"{name}_high_pct", None))
        for name in ("ticket_link", "doc_pushed", "time_entry_logged")
    ]
    whiskers = [
        (v, None if lo is None else lo / 100 * total, None if hi is None else hi / 100 * total)
        for v, (lo, hi) in zip(counts, bounds, strict=True)
    ]

    def label(i: int, phone: bool) -> str:
        v = counts[i]
        text = f"{fmt_int(v)}"
        if i:
            text += f" · {fmt_pct(v / total)} of sessions"
        if i > 1:
            previous = counts[i - 1]
            of_previous = fmt_pct(v / previous) if previous else DASH
            text += f"\n{of_previous} of the stage above"
        return text

    def draw(phone: bool) -> Figure:
        fig, ax = _figure((PHONE_WIDTH, 3.4) if phone else (6.4, 3.4))
        ys = list(range(len(counts)))[::-1]
        colors = [PREVIOUS, ACCENT, ACCENT, ACCENT]
        ax.barh(ys, counts, height=0.62, color=colors)
        ax.errorbar(counts[1:], ys[1:], xerr=_errors(whiskers[1:]), fmt="none", **_ERROR_KW)
        labels = [stage for _, stage, _ in _FUNNEL_STAGES]
        _hbar_axes(ax, ys, wrap_labels(labels, 14 if phone else 22))
        _value_column(ax, ys, [label(i, phone) for i in range(len(counts))])
        ax.set_xlim(0, total * 1.02)
        _count_axis(ax.xaxis)
        ax.set_xlabel(
            "AI sessions\n(each stage within the one above)"
            if phone
            else "AI sessions (each stage within the one above)"
        )
        _title(fig, title)
        return fig

    return _drawn(draw, _psa_funnel_alt(counts))


def _psa_stage_alt(counts: Sequence[int]) -> str:
    total = counts[0]
    if not total:
        return "No AI sessions in this window."
    parts = "; ".join(
        f"{stage} {fmt_int(v)} ({fmt_pct(v / total)})"
        for (_, _, stage), v in zip(_FUNNEL_STAGES[1:], counts[1:], strict=True)
    )
    return (
        f"PSA stages of the {fmt_int(total)} AI sessions of the window, each counted on its "
        f"own (not a funnel: a session may log time without a doc, or post without a "
        f"ticket), as a share of all sessions: {parts}."
    )


def psa_stage_counts(psa, title: str | None = None) -> Chart:
    """The PSA stages each counted **on its own** (:class:`PsaStageCounts`): the share of
    all AI sessions of the window that were linked to a ticket, had a doc pushed, or logged
    a time entry — as separate columns on a 0–100% axis with each share's 95% Wilson
    interval, deliberately not drawn as a funnel (a later stage can be larger than an
    earlier one). ``psa``: :class:`PsaMetrics` (its ``stage_counts``) or a bare
    :class:`PsaStageCounts`. The alt text states every figure."""
    from rfa.metrics import uncertainty

    stages = getattr(psa, "stage_counts", psa)
    counts = [getattr(stages, field) for field, _, _ in _FUNNEL_STAGES]
    total = counts[0]
    if not total:
        return _no_data("No AI sessions in this window")
    shares = [v / total * 100 for v in counts[1:]]
    estimates = [uncertainty.rate(v, total) for v in counts[1:]]

    def draw(phone: bool) -> Figure:
        fig, ax = _figure((PHONE_WIDTH, 3.4) if phone else SQUARE)
        xs = list(range(len(shares)))
        ax.bar(
            xs,
            shares,
            width=0.55,
            color=OKABE_ITO["sky blue"],
            yerr=_errors(
                [
                    (
                        v,
                        None if e.low is None else e.low * 100,
                        None if e.high is None else e.high * 100,
                    )
                    for v, e in zip(shares, estimates, strict=True)
                ]
            ),
            error_kw=_ERROR_KW,
        )
        _value_above(
            ax,
            range(len(shares)),
            [max(v, (e.high or 0.0) * 100) for v, e in zip(shares, estimates, strict=True)],
            [f"{fmt_pct100(v)}\n{fmt_int(n)}" for v, n in zip(shares, counts[1:], strict=True)],
        )
        labels = [stage for _, _, stage in _FUNNEL_STAGES[1:]]
        ax.set_xticks(xs, wrap_labels(labels, 10 if phone else 16))
        ax.tick_params(axis="x", length=0)
        ax.set_ylim(0, 125)
        ax.set_yticks([0, 25, 50, 75, 100])
        ax.spines["left"].set_bounds(0, 100)
        _percent_axis(ax.yaxis, 100)
        ax.set_ylabel(f"of {fmt_int(total)} AI sessions")
        ax.grid(axis="y")
        _title(fig, title or "Each stage on its own (not a funnel)")
        return fig

    return _drawn(draw, _psa_stage_alt(counts))


def _psa_daily_alt(points: Sequence) -> str:
    days = [p.date for p in points]
    entries = sum(p.entries for p in points)
    hours = sum(p.hours for p in points)
    busiest = max(points, key=lambda p: (p.entries, p.hours))
    return (
        f"PSA time entries and hours logged per day, {fmt_span(days)}: {fmt_int(entries)} entries "
        f"({_per_day(entries, len(points))} a day on average) and {hours:,.1f} hours; busiest "
        f"day {fmt_day(busiest.date)} ({fmt_int(busiest.entries)} entries, {busiest.hours:,.1f} h)."
    )


def psa_daily(points: Sequence, title: str | None = None) -> Chart:
    """Two panels sharing the day axis: PSA time entries per local day (bars) and hours
    logged per day (bars in a second colour); no second y axis, each panel titled with its
    series. ``points``: :class:`rfa.metrics.flowpilot.PsaDailyPoint`."""
    points = list(points)
    if not any(p.entries for p in points):
        return _no_data("No time entries in this window")
    days = [p.date for p in points]
    xs = mdates.date2num(days)  # numbers: no unit conversion per bar

    def draw(phone: bool) -> Figure:
        fig, (top, bottom) = _figure(
            (PHONE_WIDTH, 4.4) if phone else (5.6, 4.2), nrows=2, sharex=True
        )
        top.bar(xs, [p.entries for p in points], color=ACCENT, width=0.8)
        top.set_title("Time entries per day")
        _count_axis(top.yaxis)
        top.grid(axis="y")
        bottom.bar(xs, [p.hours for p in points], color=SECOND, width=0.8)
        bottom.set_title("Hours logged per day")
        bottom.yaxis.set_major_locator(MaxNLocator(nbins=4))
        bottom.grid(axis="y")
        _date_axis(bottom, days, phone, most=5)
        _title(fig, title)
        return fig

    return _drawn(draw, _psa_daily_alt(points))


def _flow_map_alt(rows: Sequence) -> str:
    rates = [r.success_rate_pct for r in rows if r.success_rate_pct is not None]
    attention = [r for r in rows if r.needs_attention]
    text = f"Success rate against AI sessions matched for {_count(len(rows), 'flow')}: " + (
        f"success rates from {fmt_pct100(min(rates))} to {fmt_pct100(max(rates))}"
        if len(rates) > 1
        else f"success rate {fmt_pct100(rates[0] if rates else None)}"
    )
    if not attention:
        return text + "; no flow needs attention."
    named = "; ".join(
        f"{_quoted(r.name)} ({fmt_pct100(r.success_rate_pct)}, {fmt_int(r.usage_count)} sessions)"
        for r in attention[:3]
    )
    more = f"; and {len(attention) - 3} more" if len(attention) > 3 else ""
    noun = "flow needs" if len(attention) == 1 else "flows need"
    return f"{text}; {len(attention)} {noun} attention: {named}{more}."


def _plain_log_axis(axis) -> None:
    """Log-scale ticks written as plain numbers (1, 2, 5, 10, 20, 50…), not 10¹/10²."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    axis.set_minor_formatter(NullFormatter())


_PLACES = [  # (dx, dy in points, ha, va): right-up, right-down, left-up, left-down
    (7, 5, "left", "bottom"),
    (7, -5, "left", "top"),
    (-7, 5, "right", "bottom"),
    (-7, -5, "right", "top"),
]


def _place_labels(fig: Figure, ax: Axes, labels, points, whiskers=()) -> None:
    """Move each point label to the corner (right/left × up/down) where it covers the
    fewest other labels, points and whiskers and stays inside the plot (greedy, in
    ``labels`` order). ``points``: the data coordinates of every point."""
    fig.draw_without_rendering()  # final layout, so display coordinates are right
    to_px = ax.transData.transform
    dots = [Bbox.from_bounds(px - 5, py - 5, 10, 10) for px, py in map(to_px, points)]
    lines = [
        Bbox.from_extents(*segment.min(axis=0) - 1, *segment.max(axis=0) + 1)
        for collection in whiskers
        for segment in (to_px(s) for s in getattr(collection, "get_segments", list)())
    ]
    frame = ax.get_window_extent()
    placed: list[Bbox] = []

    def area(a: Bbox, b: Bbox) -> float:
        both = Bbox.intersection(a, b)
        return 0.0 if both is None else both.width * both.height

    for label in labels:
        best = None
        for dx, dy, ha, va in _PLACES:
            label.set(position=(dx, dy), ha=ha, va=va)
            box = label.get_window_extent()
            outside = box.width * box.height - area(box, frame)
            own = to_px(label.xy)
            cost = (
                20 * outside
                + 10 * sum(area(box, other) for other in placed)
                + 5 * sum(area(box, d) for d in dots if not d.contains(*own))
                + sum(area(box, w) for w in lines)
            )
            if best is None or cost < best[0]:
                best = (cost, dx, dy, ha, va)
        _, dx, dy, ha, va = best
        label.set(position=(dx, dy), ha=ha, va=va)
        placed.append(label.get_window_extent())


def flow_quality_map(rows: Sequence, title: str | None = None) -> Chart:
    """Each matched flow: uses (log x, plain ticks) against success rate with its 95%
    Wilson interval as a thin vertical whisker, coloured by quality score (cividis,
    colour-blind safe); flows that need attention are ringed in vermillion and named
    (wrapped, placed towards the middle so no name is cut).
    ``rows``: :class:`FlowQualityRow`."""
    rows = list(rows)
    if not rows:
        return _no_data("No flow matched by AI sessions in this window")
    xs = [max(r.usage_count, 1) for r in rows]
    ys = [r.success_rate_pct or 0.0 for r in rows]

    def draw(phone: bool) -> Figure:
        fig, ax = _figure((PHONE_WIDTH, 4.8) if phone else (WIDE[0], 4.0))
        ax.errorbar(
            xs,
            ys,
            yerr=_errors(
                [(y, r.success_low_pct, r.success_high_pct) for y, r in zip(ys, rows, strict=True)]
            ),
            fmt="none",
            ecolor="#A6A6A6",
            elinewidth=0.9,
            capsize=2,
            zorder=1,
        )
        points = ax.scatter(
            xs,
            ys,
            c=[r.quality_score for r in rows],
            cmap="cividis",
            vmin=0,
            vmax=100,
            s=42,
            edgecolors=[ATTENTION if r.needs_attention else "white" for r in rows],
            linewidths=[2.0 if r.needs_attention else 0.8 for r in rows],
            zorder=2,
        )
        ax.set_xscale("log")
        lo, hi = min(xs), max(xs)
        ax.set_xlim(lo / 1.5, hi * 1.5)
        _plain_log_axis(ax.xaxis)
        ax.set_xlabel("AI sessions matched (log scale)")
        ax.set_ylim(-5, 105)
        ax.set_yticks([0, 25, 50, 75, 100])
        _percent_axis(ax.yaxis, 100)
        ax.set_ylabel("success rate")
        ax.grid(axis="both")
        fig.colorbar(
            points,
            ax=ax,
            label="quality score (0–100)",
            location="bottom" if phone else "right",
            pad=0.01,
            aspect=30,
            shrink=0.8 if phone else 1.0,
        )
        labels = [
            ax.annotate(
                "\n".join(
                    textwrap.wrap(r.name, 16 if phone else 26, max_lines=3, placeholder=" …")
                ),
                (x, y),
                xytext=(7, 5),
                textcoords="offset points",
                fontsize=9,
                color=ATTENTION,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.0},
                zorder=4,
            )
            for x, y, r in zip(xs, ys, rows, strict=True)
            if r.needs_attention
        ]
        handles = [
            Line2D(
                [],
                [],
                marker="o",
                linestyle="none",
                markersize=7,
                markerfacecolor="#BFBFBF",
                markeredgecolor=ATTENTION,
                markeredgewidth=2.0,
            ),
            Line2D([], [], color="#A6A6A6", linewidth=0.9),
        ]
        _legend_above(fig, handles, ["needs attention", "95% interval"], ncols=2)
        _title(fig, title)
        _place_labels(fig, ax, labels, list(zip(xs, ys, strict=True)), whiskers=ax.collections)
        return fig

    return _drawn(draw, _flow_map_alt(rows))


# ── Histograms (escalations, durations) ──────────────────────────────────────


def _histogram_alt(bins: Sequence, what: str, noun: str) -> str:
    total = sum(b.count for b in bins)
    mode = max(bins, key=lambda b: b.count)
    running, median = 0, bins[-1]
    for b in bins:
        running += b.count
        if running >= total / 2:
            median = b
            break
    return (
        f"{what}, {fmt_int(total)} {noun}: the most common is {mode.label} "
        f"({fmt_int(mode.count)}, {fmt_pct(mode.count / total)}); the median is in "
        f"{median.label}."
    )


def _histogram(bins: Sequence, title: str | None, xlabel: str, ylabel: str, alt: str) -> Chart:
    labels = [b.label for b in bins]
    counts = [b.count for b in bins]
    total = sum(counts)

    def draw(phone: bool) -> Figure:
        if phone:  # categories down the side: long bucket names stay on one line
            fig, ax = _figure((PHONE_WIDTH, 0.36 * len(bins) + 1.2))
            ys = list(range(len(bins)))[::-1]
            bars = ax.barh(ys, counts, color=ACCENT, height=0.7)
            _hbar_axes(ax, ys, labels)
            ax.bar_label(bars, [f"{fmt_int(c)}" for c in counts], padding=3, fontsize=9.5)
            ax.set_xlim(0, max(counts) * 1.18)
            _count_axis(ax.xaxis)
            ax.set_xlabel(ylabel)
            ax.set_title(xlabel[:1].upper() + xlabel[1:], fontweight="normal")
        else:
            fig, ax = _figure((WIDE[0], 3.4))
            xs = list(range(len(bins)))
            bars = ax.bar(xs, counts, color=ACCENT, width=0.7)
            ax.bar_label(
                bars,
                [f"{fmt_int(c)} ({fmt_pct(c / total)})" if c else "0" for c in counts],
                padding=3,
                fontsize=9,
            )
            slot = WIDE[0] * 72 * 0.9 / len(bins)  # points per bar, roughly
            ax.set_xticks(xs, wrap_labels(labels, max(6, int(slot / (9.5 * 0.6)) - 1), 2))
            ax.tick_params(axis="x", length=0)
            ax.set_ylim(0, max(counts) * 1.18)
            _count_axis(ax.yaxis)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(axis="y")
        _title(fig, title)
        return fig

    return _drawn(draw, alt)


def escalation_lag_histogram(bins: Sequence, title: str | None = None) -> Chart:
    """Claimed hand-offs per bucket of time to first action (post-claim activity lag),
    each bar labelled with its count and share. ``bins``:
    :class:`rfa.metrics.escalations.HistogramBin` (seconds, labelled)."""
    bins = list(bins)
    if not any(b.count for b in bins):
        return _no_data("No claimed hand-off was acted on in this window")
    return _histogram(
        bins,
        title,
        "time from claim to first action",
        "hand-offs",
        _histogram_alt(bins, "Claimed hand-offs by time from claim to first action", "hand-offs"),
    )


def duration_distribution(bins: Sequence, title: str | None = None) -> Chart:
    """Completed sessions per duration bucket, each bar labelled with its count and share.
    ``bins``: :class:`rfa.metrics.escalations.HistogramBin` (seconds, labelled in minutes)."""
    bins = list(bins)
    if not any(b.count for b in bins):
        return _no_data("No completed session in this window")
    return _histogram(
        bins,
        title,
        "time from start to completion",
        "completed sessions",
        _histogram_alt(bins, "Completed sessions by duration", "sessions"),
    )


# ── Knowledge gaps ───────────────────────────────────────────────────────────


def _gaps_alt(gaps: Sequence, kinds: Sequence[str]) -> str:
    levels = ", ".join(
        f"{sum(1 for g in gaps if g.severity == s)} {s}"
        for s in SEVERITY_COLORS
        if any(g.severity == s for g in gaps)
    )
    per_kind = ", ".join(
        f"{humanize(k)} {sum(1 for g in gaps if g.kind == k)}"
        for k in sorted(kinds, key=lambda k: -sum(1 for g in gaps if g.kind == k))
    )
    noun = "gap" if len(gaps) == 1 else "gaps"
    return f"Knowledge gaps by kind and severity, {len(gaps)} {noun} ({levels}): {per_kind}."


def gaps_by_kind(gaps: Sequence, title: str | None = None) -> Chart:
    """Knowledge gaps per kind (humanised), stacked by severity (high, medium, low), the
    total at each bar's end; legend above. ``gaps``: :class:`Gap`."""
    gaps = list(gaps)
    if not gaps:
        return _no_data("No gap passes the thresholds")
    kinds = sorted({g.kind for g in gaps}, key=lambda k: (-sum(g.kind == k for g in gaps), k))
    levels = [s for s in SEVERITY_COLORS if any(g.severity == s for g in gaps)]

    def draw(phone: bool) -> Figure:
        labels = wrap_labels([humanize(k) for k in kinds], 14 if phone else 22, 3)
        fig, ax = _figure(
            (PHONE_WIDTH if phone else SQUARE[0], _row_height(labels) * len(kinds) + 1.1)
        )
        ys = list(range(len(kinds)))[::-1]
        _hbar_axes(ax, ys, labels)
        left = [0] * len(kinds)
        handles = []
        bars = None
        for level in levels:
            counts = [sum(1 for g in gaps if g.kind == k and g.severity == level) for k in kinds]
            bars = ax.barh(ys, counts, left=left, color=SEVERITY_COLORS[level], height=0.62)
            handles.append(bars)
            left = [a + b for a, b in zip(left, counts, strict=True)]
        ax.bar_label(bars, [str(t) for t in left], padding=4, fontsize=9.5)
        ax.set_xlim(0, max(left) * 1.15)
        _count_axis(ax.xaxis)
        ax.set_xlabel("gaps")
        _legend_above(fig, handles, [f"{s} severity" for s in levels], ncols=2 if phone else 3)
        _title(fig, title)
        return fig

    return _drawn(draw, _gaps_alt(gaps, kinds))


# ── Rates of this window and the previous one ────────────────────────────────


def _kpi_alt(rates: Sequence) -> str:
    parts = "; ".join(
        f"{k.label} {fmt_pct(k.estimate.value)} (previous {fmt_pct(k.previous.value)}, "
        f"{k.change.label})"
        for k in rates
    )
    return f"Rates in this window and the previous one, with 95% intervals: {parts}."


def kpi_changes(kpis: Sequence, title: str | None = None) -> Chart:
    """Rates of this window beside the previous one (dots, 95% Wilson whiskers), the
    values in a column beside the plot ("80% · was 80%"), the x range fitted to the data
    so no dot sits on the edge, the legend above. ``kpis``: :class:`rfa.metrics.kpi.KPI`;
    only those whose unit is a fraction are drawn."""
    rates = [k for k in kpis if k.unit == "fraction"]
    if not rates:
        return _no_data("No rates on this page")
    ends = [
        v
        for k in rates
        for e in (k.estimate, k.previous)
        for v in (e.value, e.low, e.high)
        if v is not None
    ] or [0.0, 1.0]
    lo, hi = min(ends), max(ends)
    pad = max((hi - lo) * 0.12, 0.02)
    xlim = (max(0.0, lo - pad), min(1.0, hi + pad))
    texts = [f"{fmt_pct(k.estimate.value)} · was {fmt_pct(k.previous.value)}" for k in rates]

    def draw(phone: bool) -> Figure:
        labels = wrap_labels([k.label for k in rates], 12 if phone else 22, 2)
        fig, ax = _figure(
            (PHONE_WIDTH if phone else 6.4, max(_row_height(labels), 0.6) * len(rates) + 1.1)
        )
        ys = list(range(len(rates)))[::-1]
        _hbar_axes(ax, ys, labels)
        handles = []
        for offset, attr, colour, face in (
            (0.14, "estimate", ACCENT, ACCENT),
            (-0.14, "previous", PREVIOUS, "white"),
        ):
            shown = [
                (y + offset, getattr(k, attr))
                for y, k in zip(ys, rates, strict=True)
                if getattr(k, attr).value is not None
            ]
            container = ax.errorbar(
                [e.value for _, e in shown],
                [y for y, _ in shown],
                xerr=_errors([(e.value, e.low, e.high) for _, e in shown]),
                fmt="o",
                color=colour,
                markerfacecolor=face,
                markersize=7,
                elinewidth=1.0,
                capsize=3,
                zorder=3,
            )
            for artist in (
                container.lines[0:1] + tuple(container.lines[1]) + tuple(container.lines[2])
            ):
                if artist is not None:
                    artist.set_clip_on(False)
            handles.append(container)
        ax.set_xlim(*xlim)
        _percent_axis(ax.xaxis)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4 if phone else 6))
        _value_column(ax, ys, texts)
        _legend_above(fig, handles, ["this window", "previous window"], ncols=2)
        _title(fig, title)
        return fig

    return _drawn(draw, _kpi_alt(rates))
