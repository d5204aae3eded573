"""Presentation helpers for notebooks: number formats, value boxes, tables and page text.

Pure functions from page models (:mod:`rfa.dashboards`) to display objects, so
notebook cells stay one or two lines. Tables are built as pandas DataFrames of
formatted strings and shown by :func:`html_table` (escaped HTML: text columns left,
number columns right, a focusable scroll container for phones); text sections are
escaped HTML built with :class:`markupsafe.Markup` (database text — names, domains,
comments — never becomes markup). The page header, headline, KPI tiles and details
are in :mod:`rfa.page`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import pandas as pd
from markupsafe import Markup

from rfa.labels import humanize
from rfa.metrics.models import Comment, DataQualityFinding, RankedRow, StepRow

DASH = "—"


def fmt_int(value: int | None) -> str:
    """``1234`` → ``"1,234"``; None → ``"—"``."""
    return DASH if value is None else f"{value:,}"


def _pct_digits(percent: float, digits: int | None) -> int:
    if digits is not None:
        return digits
    return 0 if percent == 0 or abs(percent) >= 10 else 1


def fmt_pct(fraction: float | None, digits: int | None = None) -> str:
    """A fraction in [0, 1] as a percentage: ``0.625`` → ``"62%"``, ``0.034`` → ``"3.4%"``
    (whole numbers from 10%, one decimal below, unless ``digits`` says); None → ``"—"``."""
    if fraction is None:
        return DASH
    percent = fraction * 100
    return f"{percent:.{_pct_digits(percent, digits)}f}%"


def fmt_minutes(minutes: float | None) -> str:
    """Minutes as ``"42 min"``, ``"4.5 min"``, ``"1 h 5 min"``, or seconds under a minute
    (``"45 s"``); None → ``"—"``."""
    if minutes is None:
        return DASH
    if minutes < 1:
        return f"{minutes * 60:.0f} s"
    if minutes < 60:
        return f"{minutes:.0f} min" if minutes >= 10 else f"{minutes:.1f} min"
    hours, rest = divmod(round(minutes), 60)
    return f"{hours} h" if rest == 0 else f"{hours} h {rest} min"


def fmt_csat(value: float | None) -> str:
    """CSAT mean as ``"4.2 / 5"``; None → ``"—"``."""
    return DASH if value is None else f"{value:.1f} / 5"


FEW = " · few sessions"
"""Appended to the n of a table row below the page's ``min_n`` (the row is also muted)."""


def _few(flag: bool) -> str:
    return FEW if flag else ""


def _muted(frame: pd.DataFrame, flags: Sequence[bool]) -> pd.DataFrame:
    """Mark the rows of ``frame`` to show muted (:func:`html_table` reads
    ``frame.attrs["few"]``)."""
    frame.attrs["few"] = [bool(x) for x in flags]
    return frame


def _with_interval(value, low, high, fmt) -> str:
    """``"12 min (9.5 min – 15 min)"``: a value with its 95% interval, or just the value."""
    if value is None or low is None or high is None:
        return fmt(value)
    return f"{fmt(value)} ({fmt(low)} – {fmt(high)})"


def _csat_cell(value: float | None, low: float | None, high: float | None, n: int) -> str:
    """``"4.2 / 5 (3.9 – 4.5, n=12)"``; ``"5.0 / 5 (n=1)"`` without an interval."""
    if value is None:
        return DASH
    ci = "" if low is None or high is None else f"{low:.1f} – {high:.1f}, "
    return f"{fmt_csat(value)} ({ci}n={n:,})"


def ranked_table(rows: Sequence[RankedRow], label: str) -> pd.DataFrame:
    """Top flows / top engineers as display strings; ``label`` names the first column.
    Rates, the median duration and the CSAT carry their 95% interval; rows below the
    page's ``min_n`` say "few sessions" beside the completion rate and are muted."""
    frame = pd.DataFrame(
        [
            {
                label: r.name,
                "Sessions": fmt_int(r.sessions),
                "Completion": fmt_pct(r.completion_rate) + _few(r.few),
                "95% interval": _range(r.completion_low, r.completion_high, fmt_pct),
                "Median duration": _with_interval(
                    r.median_duration_minutes, r.median_low, r.median_high, fmt_minutes
                ),
                "Avg CSAT": _csat_cell(r.avg_csat, r.csat_low, r.csat_high, r.ratings),
            }
            for r in rows
        ],
        columns=[label, "Sessions", "Completion", "95% interval", "Median duration", "Avg CSAT"],
    )
    return _muted(frame, [r.few for r in rows])


def _with_range(percent: float | None, low: float | None, high: float | None) -> str:
    """``"62% (55–69%)"``: a percentage with its 95% interval, or just the value."""
    if percent is None or low is None or high is None:
        return fmt_pct100(percent)
    return f"{fmt_pct100(percent)} ({low:.0f}–{high:.0f}%)"


def _range(low: float | None, high: float | None, fmt) -> str:
    """``"58% – 66%"`` with ``fmt``; ``"—"`` when either end is missing."""
    return DASH if low is None or high is None else f"{fmt(low)} – {fmt(high)}"


def step_table(rows: Sequence[StepRow], limit: int = 15) -> pd.DataFrame:
    """The step table's first ``limit`` rows as display strings; rates with their 95%
    Wilson interval in brackets; steps with fewer visits than ``min_n`` muted as
    "few sessions"."""
    shown = list(rows[:limit])
    frame = pd.DataFrame(
        [
            {
                "Step": r.node_title,
                "Visits": fmt_int(r.visit_count) + _few(r.few),
                "Drop-offs": fmt_int(r.dropoff_count),
                "Drop-off rate": fmt_pct(r.dropoff_rate, 1)
                + f" ({_range(r.dropoff_low, r.dropoff_high, fmt_pct)})",
                "Thumbs up": fmt_int(r.helpful_yes),
                "Thumbs down": fmt_int(r.helpful_no),
                "Helpful": fmt_pct(r.helpful_rate)
                + (
                    f" ({_range(r.helpful_low, r.helpful_high, fmt_pct)})"
                    if r.helpful_rate is not None
                    else ""
                ),
            }
            for r in shown
        ],
        columns=[
            "Step",
            "Visits",
            "Drop-offs",
            "Drop-off rate",
            "Thumbs up",
            "Thumbs down",
            "Helpful",
        ],
    )
    return _muted(frame, [r.few for r in shown])


def comments_table(rows: Sequence[Comment], timezone: str) -> pd.DataFrame:
    """Anonymous comments: date (the local day only — a time of day would help match a
    comment to a session), stars and text (no author column exists)."""
    frame = pd.DataFrame(
        [
            {
                "Date": fmt_date(c.date, timezone),
                "Rating": "★" * c.rating + "☆" * (5 - c.rating),
                "Comment": c.comment,
            }
            for c in rows
        ],
        columns=["Date", "Rating", "Comment"],
    )
    frame.attrs["text_columns"] = ["Date", "Rating", "Comment"]
    return frame


def fmt_day(day: dt.date, with_year: bool = False) -> str:
    """``6 Nov`` (``6 Nov 2026`` with the year)."""
    return f"{day.day} {day:%b}" + (f" {day.year}" if with_year else "")


def fmt_span(days: Sequence[dt.date], with_year: bool = False) -> str:
    """The dates covered in words: ``6 Nov – 5 Dec`` (years on both ends when they
    differ); ``with_year`` puts the year on the last day at least (``6 Nov – 5 Dec
    2026``); one day alone reads ``6 Nov``; no day reads ``"—"``."""
    if not days:
        return DASH
    first, last = min(days), max(days)
    differ = first.year != last.year
    if first == last:
        return fmt_day(first, with_year)
    return f"{fmt_day(first, differ)} – {fmt_day(last, differ or with_year)}"


def fmt_date(value, timezone: str) -> str:
    """A date (or an aware datetime, taken in the account's timezone) as ``"5 Dec 2026"``;
    None → ``"—"``."""
    if value is None:
        return DASH
    if isinstance(value, dt.datetime):
        from zoneinfo import ZoneInfo

        value = value.astimezone(ZoneInfo(timezone)).date()
    return f"{value.day} {value:%b %Y}"


_NUMERIC = re.compile(r"^(?:[−+-]?\d|—$|<\s?\d|≈)")


def numeric_columns(frame: pd.DataFrame) -> list[bool]:
    """Which columns of a display frame hold numbers (shown right-aligned): every
    non-empty cell starts with a digit, a sign or is ``"—"``. The first column is always
    text (a name); ``frame.attrs["text_columns"]`` forces columns to text."""
    forced = set(frame.attrs.get("text_columns") or [])
    flags = []
    for i, column in enumerate(frame.columns):
        cells = [str(v) for v in frame[column].tolist() if str(v).strip()]
        flags.append(
            i > 0 and column not in forced and bool(cells) and all(_NUMERIC.match(c) for c in cells)
        )
    return flags


def html_table(
    frame: pd.DataFrame, empty: str = "No data in this window.", label: str | None = None
) -> str:
    """Render a display frame as an HTML table (no index), or ``empty`` when it has no rows.

    Every header and cell is escaped (:func:`markupsafe.escape`). Text columns are
    left-aligned, number columns right-aligned (:func:`numeric_columns`); the table sits
    in a focusable scroll container (``tabindex="0"``, ``role="region"``, labelled
    ``label`` or "Table") so it scrolls inside its card on a phone. Rows flagged in
    ``frame.attrs["few"]`` (rows below the page's ``min_n``) get ``class="rfa-few"``
    (muted and italic; their text says "few sessions")."""
    if frame.empty:
        return str(Markup('<p class="rfa-empty">{}</p>').format(empty))
    numeric = numeric_columns(frame)
    flags = list(frame.attrs.get("few") or [])
    align = ["rfa-num" if n else "rfa-text" for n in numeric]
    head = Markup("").join(
        Markup('<th scope="col" class="{}">{}</th>').format(a, c)
        for a, c in zip(align, frame.columns, strict=True)
    )
    rows = []
    for i, values in enumerate(frame.itertuples(index=False, name=None)):
        cells = Markup("").join(
            Markup('<td class="{}">{}</td>').format(a, "" if v is None else v)
            for a, v in zip(align, values, strict=True)
        )
        few = i < len(flags) and flags[i]
        rows.append(Markup('<tr class="rfa-few">{}</tr>' if few else "<tr>{}</tr>").format(cells))
    return str(
        Markup(
            '<div class="rfa-scroll" tabindex="0" role="region" aria-label="{}">'
            '<table class="rfa-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table></div>'
        ).format(label or "Table", head, Markup("").join(rows))
    )


def data_quality_text(findings: Sequence[DataQualityFinding]) -> str:
    """Data-quality findings (:mod:`rfa.validation`) as escaped HTML: how many rows, what
    they are and what was done with them, with the check's name; or a sentence saying
    there were none. (The page's "About" section shows the same through
    :func:`rfa.page.about_html`.)"""
    if not findings:
        return "<p>No faulty rows were found in the data behind this page.</p>"
    items = Markup("").join(
        Markup("<li><strong>{:,}</strong> {} ({}).</li>").format(f.count, f.description, f.check)
        for f in findings
    )
    return str(
        Markup(
            "<p>Faulty rows found in the data behind this page, and what was done with them; "
            "the numbers above leave them out wherever they would be wrong:</p><ul>{}</ul>"
        ).format(items)
    )


# ── FlowPilot (METRICS.md §4: rates are percentages 0–100) ──────────────────


def fmt_pct100(percent: float | None, digits: int | None = None) -> str:
    """A percentage already in 0–100: ``53.4`` → ``"53%"``, ``3.42`` → ``"3.4%"``;
    None → ``"—"``."""
    return DASH if percent is None else f"{percent:.{_pct_digits(percent, digits)}f}%"


def domain_table(rows: Sequence) -> pd.DataFrame:
    """AI sessions per problem domain (:class:`DomainBreakdownRow`) as display strings;
    domains with fewer sessions than ``min_n`` muted as "few sessions"."""
    rows = list(rows)
    frame = pd.DataFrame(
        [
            {
                "Domain": humanize(r.domain),
                "AI sessions": fmt_int(r.total) + _few(r.few),
                "Resolved": fmt_int(r.resolved),
                "Escalated": fmt_int(r.escalated),
                "Resolution rate": fmt_pct100(r.resolution_rate_pct),
                "95% interval": _range(r.resolution_low_pct, r.resolution_high_pct, fmt_pct100),
            }
            for r in rows
        ],
        columns=[
            "Domain",
            "AI sessions",
            "Resolved",
            "Escalated",
            "Resolution rate",
            "95% interval",
        ],
    )
    return _muted(frame, [r.few for r in rows])


def coverage_table(rows: Sequence) -> pd.DataFrame:
    """Coverage by domain (:class:`DomainCoverageRow`); uncovered domains are flagged,
    rates and mean minutes carry their 95% interval, domains with fewer sessions than
    ``min_n`` are muted as "few sessions"."""
    rows = list(rows)
    frame = pd.DataFrame(
        [
            {
                "Domain": humanize(r.domain) + (" ⚠ no flow" if r.uncovered else ""),
                "Flows matched": fmt_int(r.flow_count),
                "AI sessions": fmt_int(r.session_count) + _few(r.few),
                "Resolution": _with_range(
                    r.resolution_rate_pct, r.resolution_low_pct, r.resolution_high_pct
                ),
                "Escalation": _with_range(
                    r.escalation_rate_pct, r.escalation_low_pct, r.escalation_high_pct
                ),
                "Guided": _with_range(r.guided_rate_pct, r.guided_low_pct, r.guided_high_pct),
                "Avg resolution": _with_interval(
                    r.avg_resolution_minutes,
                    r.avg_resolution_low,
                    r.avg_resolution_high,
                    fmt_minutes,
                ),
            }
            for r in rows
        ],
        columns=[
            "Domain",
            "Flows matched",
            "AI sessions",
            "Resolution",
            "Escalation",
            "Guided",
            "Avg resolution",
        ],
    )
    return _muted(frame, [r.few for r in rows])


def quality_table(rows: Sequence, timezone: str) -> pd.DataFrame:
    """Flow-quality rows (:class:`FlowQualityRow`) as display strings; flows with fewer
    uses than ``min_n`` muted as "few sessions"."""
    rows = list(rows)
    frame = pd.DataFrame(
        [
            {
                "Flow": r.name,
                "Score": f"{r.quality_score:.0f}",
                "Uses": fmt_int(r.usage_count) + _few(r.few),
                "Success": fmt_pct100(r.success_rate_pct)
                + f" ({_range(r.success_low_pct, r.success_high_pct, fmt_pct100)})",
                "Avg confidence": _with_interval(
                    r.avg_confidence, r.confidence_low, r.confidence_high, fmt_pct
                ),
                "Last matched": fmt_date(r.last_matched_at, timezone),
            }
            for r in rows
        ],
        columns=["Flow", "Score", "Uses", "Success", "Avg confidence", "Last matched"],
    )
    return _muted(frame, [r.few for r in rows])


def psa_types_table(rows: Sequence) -> pd.DataFrame:
    """PSA pushes per post type (:class:`PsaPushTypeRow`) as display strings: the success
    rate with its 95% Wilson interval; types with fewer pushes than ``min_n`` muted."""
    rows = list(rows)
    frame = pd.DataFrame(
        [
            {
                "Post type": humanize(r.post_type),
                "Pushes": fmt_int(r.pushes) + _few(r.few and r.pushes > 0),
                "First try": fmt_int(r.first_try_successes),
                "After retry": fmt_int(r.retry_successes),
                "Failed": fmt_int(r.failed),
                "Success rate": _with_range(
                    r.success_rate_pct, r.success_low_pct, r.success_high_pct
                ),
            }
            for r in rows
        ],
        columns=["Post type", "Pushes", "First try", "After retry", "Failed", "Success rate"],
    )
    return _muted(frame, [r.few for r in rows])


def fmt_seconds(seconds: float | None) -> str:
    """Seconds as ``"45 s"``, ``"2 min 05 s"``, or from an hour as :func:`fmt_minutes` writes
    them (``"1 h 2 min"``, ``"1 h"``); None → ``"—"``."""
    if seconds is None:
        return DASH
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest:02d} s"
    return fmt_minutes(seconds / 60)


SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
"""Most severe first."""


def gap_evidence(g) -> str:
    """A gap's evidence in words: ``"62% of 48 sessions (95% interval 48% – 74%;
    threshold 40%)"``, or ``"12 sessions"`` for gaps without a rate."""
    if g.rate is None:
        return f"{g.evidence_sessions:,} sessions{_few(g.few)}"
    return (
        f"{g.rate:.0%} of {g.evidence_sessions:,} sessions{_few(g.few)} "
        f"(95% interval {_range(g.rate_low, g.rate_high, fmt_pct)}; "
        f"threshold {g.threshold:.0%})"
    )


def gap_subject(g) -> str:
    """Where a gap is: a problem domain in words (``line_of_business`` → "Line of
    business") for domain gaps; a flow (and its step and option) as named, untouched."""
    return humanize(g.subject) if g.kind.startswith("domain") else g.subject


def gaps_actions_html(gaps: Sequence, shown: int = 5) -> str:
    """Knowledge gaps as an action list (escaped HTML): a coloured severity badge, the
    suggested action first, where and the evidence second; most severe first (stable
    within a severity), the first ``shown`` visible and the rest behind "Show all N"."""
    ordered = sorted(gaps, key=lambda g: SEVERITY_ORDER.get(g.severity, 3))
    if not ordered:
        return str(
            Markup('<p class="rfa-empty">{}</p>').format(
                "No gap passes the thresholds in this window."
            )
        )

    def item(g) -> Markup:
        return Markup(
            '<li class="rfa-action{}"><span class="rfa-badge rfa-badge--{}">{}</span>'
            '<p class="rfa-action-what">{}</p>'
            '<p class="rfa-action-evidence">{} · {} · {}</p></li>'
        ).format(
            " rfa-few" if g.few else "",
            g.severity if g.severity in SEVERITY_ORDER else "low",
            g.severity,
            g.suggested_action,
            g.kind.replace("_", " ").capitalize(),
            gap_subject(g),
            gap_evidence(g),
        )

    first = Markup("").join(item(g) for g in ordered[:shown])
    html = Markup('<ol class="rfa-actions">{}</ol>').format(first)
    rest = ordered[shown:]
    if rest:
        html += Markup(
            '<details class="rfa-details"><summary>Show all {} gaps</summary>'
            '<ol class="rfa-actions" start="{}">{}</ol></details>'
        ).format(len(ordered), shown + 1, Markup("").join(item(g) for g in rest))
    return str(html)


def thresholds_text(thresholds) -> str:
    """The knowledge-gap thresholds in force, as an escaped HTML list inside a collapsed
    ``<details>`` (parameter names are for analysts, not for the first read)."""
    fields = thresholds.model_dump()
    items = Markup("").join(
        Markup("<li><code>{}</code> = {}</li>").format(name, value)
        for name, value in fields.items()
    )
    return str(
        Markup(
            '<details class="rfa-details"><summary>Thresholds in force</summary>'
            "<ul>{}</ul><p>They are the notebook's parameters (see the glossary).</p></details>"
        ).format(items)
    )


def coverage_text(coverage) -> str:
    """:class:`KnowledgeCoverage` as an HTML list: flows, AI flows and proposals."""
    return str(
        Markup(
            '<ul class="rfa-text-block">'
            "<li><strong>{:,}</strong> flows in the account, <strong>{:,}</strong> written or "
            "enhanced by AI</li>"
            "<li><strong>{:,}</strong> flow proposals waiting for review (any age)</li>"
            "<li>in this window: <strong>{:,}</strong> approved or modified, "
            "<strong>{:,}</strong> rejected, <strong>{:,}</strong> dismissed</li></ul>"
        ).format(
            coverage.total_flows,
            coverage.ai_generated_flows,
            coverage.proposals_pending,
            coverage.proposals_approved_in_window,
            coverage.proposals_rejected_in_window,
            coverage.proposals_dismissed_in_window,
        )
    )


def psa_html(psa) -> str:
    """PSA summary (:class:`PsaMetrics`) as an HTML list followed by the pushes table.
    Every rate shows its n and the 95% Wilson interval carried by the data file."""

    def ci(low: float | None, high: float | None) -> str:
        return f" (95% interval {_range(low, high, fmt_pct100)})"

    sessions = psa.funnel.total_sessions
    items = [
        f"Linked to a PSA ticket: <b>{fmt_pct100(psa.ticket_link_rate_pct)}</b> of "
        f"n={fmt_int(sessions)} AI sessions"
        f"{ci(psa.ticket_link_low_pct, psa.ticket_link_high_pct)}",
        f"Pushes succeeded at the first try: <b>{fmt_pct100(psa.push_success_first_try_pct)}</b>"
        f"{ci(psa.push_success_first_try_low_pct, psa.push_success_first_try_high_pct)},"
        f" after retries: <b>{fmt_pct100(psa.push_success_after_retry_pct)}</b>"
        f"{ci(psa.push_success_after_retry_low_pct, psa.push_success_after_retry_high_pct)}"
        f" (of n={fmt_int(psa.total_pushes)} pushes)",
        f"Time entries logged: <b>{fmt_int(psa.time_entries)}</b>, "
        f"<b>{psa.hours_logged:,.1f} h</b> in all"
        + (
            f", {psa.avg_hours_per_session:.2f} h per session with an entry"
            if psa.avg_hours_per_session is not None
            else ""
        ),
    ]
    listing = "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"
    return listing + html_table(psa_types_table(psa.pushes_by_type), "No PSA pushes.")


def quality_formula_text(quality) -> str:
    """The flow-quality score in plain words, its exact formula behind "Show the
    formula", and the list thresholds, as escaped HTML."""
    return str(
        Markup(
            '<div class="rfa-text-block"><p>A score from 0 to 100: mostly how often AI '
            "sessions matched to the flow were resolved, then how confident the matches were "
            "and how much the flow is used. Flows with few sessions are pulled toward the "
            "account's average, so one lucky session cannot top the list.</p>"
            "<p>Top performers and needs-attention lists only hold flows with at least "
            "<strong>{}</strong> AI sessions; a flow needs attention when its success rate is "
            "below <strong>{:.0f}%</strong> or its score below <strong>{:.0f}</strong>.</p>"
            '<details class="rfa-details"><summary>Show the formula</summary><p>{}</p>'
            "</details></div>"
        ).format(
            quality.min_usage,
            quality.attention_success_pct,
            quality.attention_score,
            quality.formula,
        )
    )


def gap_scope_text(report) -> str:
    """How much of the window the knowledge-gap report could judge, and the thresholds
    in force, as escaped HTML."""
    return str(
        Markup(
            '<div class="rfa-text-block"><ul>'
            "<li><strong>{}</strong> problem domains had enough AI sessions to judge; "
            "<strong>{}</strong> had too few</li>"
            "<li><strong>{:,}</strong> AI sessions had no domain and are not judged by "
            "domain</li>"
            "<li><strong>{:,}</strong> flow options had enough ended sessions</li></ul>{}</div>"
        ).format(
            report.domains_assessed,
            report.domains_below_min_sessions,
            report.sessions_without_domain,
            report.options_assessed,
            Markup(thresholds_text(report.thresholds)),
        )
    )


def escalation_text(metrics, kpis=None) -> str:
    """The escalation metric's definition and its counts (METRICS.md §5) as escaped
    HTML; the average with its 95% t interval, the median and p95 with their bootstrap
    intervals when the page's KPIs (``kpis``: a list of KPIs or
    :func:`rfa.metrics.kpi.by_key`'s dict) are given, and the n behind them."""
    if kpis is not None and not isinstance(kpis, dict):
        kpis = {k.key: k for k in kpis}
    kpis = kpis or {}

    def quantile(key: str, value: float | None) -> Markup:
        kpi = kpis.get(key)
        if kpi is None:
            return Markup("<strong>{}</strong>").format(fmt_seconds(value))
        est = kpi.estimate
        if est.low is not None and est.high is not None:
            return Markup("<strong>{}</strong> ({} – {})").format(
                fmt_seconds(est.value), fmt_seconds(est.low), fmt_seconds(est.high)
            )
        return Markup("<strong>{}</strong>").format(fmt_seconds(est.value))

    average = Markup("<strong>{}</strong>").format(fmt_seconds(metrics.avg_seconds_to_first_action))
    if metrics.avg_seconds_low is not None and metrics.avg_seconds_high is not None:
        average += Markup(" (95% interval {} – {})").format(
            fmt_seconds(metrics.avg_seconds_low), fmt_seconds(metrics.avg_seconds_high)
        )
    sample = (
        Markup(" Only <strong>{}</strong> values back the p95: read it as indicative.").format(
            metrics.n_values
        )
        if metrics.small_sample and metrics.n_values
        else ""
    )
    return str(
        Markup(
            '<div class="rfa-text-block"><p class="rfa-definition">The time from an engineer '
            "claiming a FlowPilot hand-off to the first AI-session step after the claim: how "
            "quickly work resumes. It is not time saved (the full definition is in the "
            "glossary).</p><ul>"
            "<li><strong>{:,}</strong> hand-offs claimed in the window, <strong>{:,}</strong> "
            "followed by an AI-session step, <strong>{:,}</strong> claimed but never acted on; "
            "<strong>{:,}</strong> created in the window were never claimed.</li>"
            "<li>Over {:,} acted-on hand-offs: average {}, median {}, p95 {}.{}</li>"
            "<li><strong>{}</strong> lags below zero (clock drift) were counted as 0 s.</li>"
            "</ul></div>"
        ).format(
            metrics.n_handoffs_claimed,
            metrics.n_handoffs_with_action,
            metrics.n_handoffs_without_action,
            metrics.n_handoffs_unclaimed,
            metrics.n_values,
            average,
            quantile("median_seconds_to_first_action", metrics.median_seconds_to_first_action),
            quantile("p95_seconds_to_first_action", metrics.p95_seconds_to_first_action),
            sample,
            metrics.n_negative_floored,
        )
    )


def comments_html(page) -> str:
    """The flow page's anonymous comments (date only), or why there are none (none in
    the window, or withheld because fewer than k engineers rated the flow)."""
    privacy = page.privacy
    if not privacy.comments_shown:
        return str(
            Markup(
                '<p class="rfa-empty">Comments withheld: fewer than {} engineers rated this '
                "flow in the window ({}), so a comment could point at one person.</p>"
            ).format(privacy.min_group_size, privacy.raters)
        )
    table = comments_table(page.recent_comments, page.meta.account.timezone)
    return html_table(table, "No comments in this window.", "Recent comments")


# ── KPI values (issue 7: tiles and details are drawn by rfa.page) ─────────


def fmt_kpi(value: float | None, unit: str) -> str:
    """A KPI value in its unit: count ``"1,234"``, fraction ``"62%"``, minutes, seconds,
    CSAT ``"4.2 / 5"``, steps ``"4.1"``; None → ``"—"``."""
    if value is None:
        return DASH
    if unit == "count":
        return fmt_int(round(value))
    if unit == "fraction":
        return fmt_pct(value)
    if unit == "minutes":
        return fmt_minutes(value)
    if unit == "seconds":
        return fmt_seconds(value)
    if unit == "csat":
        return fmt_csat(value)
    return f"{value:.1f}"


def fmt_interval(kpi) -> str:
    """``"58% – 66%"`` (the 95% interval in the KPI's unit) or ``"—"``."""
    est = kpi.estimate
    if est.low is None or est.high is None:
        return DASH
    return f"{fmt_kpi(est.low, kpi.unit)} – {fmt_kpi(est.high, kpi.unit)}"
