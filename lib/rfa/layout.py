"""The page a stakeholder reads in five seconds: header, headline, KPI tiles, details.

Pure functions from a page model (:mod:`rfa.dashboards`) to HTML display objects, used
by every notebook and identical in Jupyter, Quarto and the nbconvert fallback (each is
ONE ``text/html`` output). Every text is HTML-escaped by Jinja2's autoescape
(templates in ``rfa/templates/page/``): names from the database — account, flow,
engineer — can never become markup.

Anatomy (top to bottom), after the page design guide:

1. **Header** (:func:`page_header`): the account, dashboard and scope; the period in
   words (``Last 30 days · 6 Nov – 5 Dec 2026 · Europe/London``); the data time; the
   audience; a slot the publisher fills with breadcrumbs and related pages
   (``<!--rfa:nav-->``), a slot for a "refresh failed" banner (``<!--rfa:status-->``)
   and a banner the browser shows when the page is older than its schedule promises.
2. **Headline** (:func:`headline`): one sentence naming what changed beyond noise.
3. **KPI tiles** (:func:`kpi_tiles`): label, one big value, one change chip
   (:func:`change_chip`); n and the 95% interval in the tile's tooltip.
4. Charts and tables (:mod:`rfa.charts`, :mod:`rfa.present`).
5. **Details** (:func:`details_html`): "How sure are these numbers?", collapsed.
6. **About** (:func:`about_html`): data quality, definitions, audience.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup, escape

from rfa.present import (
    DASH,
    data_quality_text,
    fmt_day,
    fmt_int,
    fmt_interval,
    fmt_kpi,
    fmt_minutes,
    fmt_seconds,
    fmt_span,
)

FRESH_FOR_HOURS = 36
"""A page whose window ended more than this many hours ago was not refreshed by the
nightly run: the browser shows a "may be out of date" banner (the index uses the same
limit to mark it stale)."""

ROLLING_SLACK = dt.timedelta(hours=26)
"""A window that ended at most this long before the page was generated is the rolling
window of a schedule (``as_of: today`` is 00:00 UTC of the run's day)."""

Tone = Literal["good", "bad", "neutral", "flat", "muted"]
"""How a change chip is coloured: ``good``/``bad`` for a change beyond noise that helps
or hurts the reader, ``neutral`` for a change beyond noise in a volume (more sessions is
neither), ``flat`` for no clear change, ``muted`` for too little data."""

HIGHER_IS_BETTER: frozenset[str] = frozenset(
    {
        "completion_rate",
        "avg_csat",
        "csat_score",
        "resolution_rate_pct",
        "avg_rating",
        "action_conversion_rate",
    }
)
"""KPI keys where a rise is good news (chip green on ▲, red on ▼)."""
LOWER_IS_BETTER: frozenset[str] = frozenset(
    {
        "median_duration_minutes",
        "p90_duration_minutes",
        "mttr_minutes",
        "avg_steps_to_resolution",
        "median_seconds_to_first_action",
        "p95_seconds_to_first_action",
        "uncovered_domains",
        "unmapped_sessions",
        "flows_needing_attention",
        "gaps",
        "high_severity_gaps",
    }
)
"""KPI keys where a fall is good news. Every other KPI (sessions, engineers, ratings,
domains assessed…) is a volume: its chip is coloured ``neutral`` when it changes."""


# ── templates ────────────────────────────────────────────────────────────────


@functools.cache
def _env() -> jinja2.Environment:
    """The page templates (``rfa/templates/page``), HTML-autoescaped."""
    root = importlib.resources.files("rfa").joinpath("templates", "page")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["code"] = code_spans
    return env


_CODE = re.compile(r"`([^`]+)`")


def code_spans(text: str) -> Markup:
    """Escape ``text`` and show its ```backticked``` parts as ``<code>``: the one
    markup our own definition texts use (never applied to database text)."""
    escaped = str(escape(text))
    return Markup(_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", escaped))


@functools.cache
def page_css() -> str:
    """The stylesheet of every page element this module and :mod:`rfa.present` draw."""
    root = importlib.resources.files("rfa").joinpath("templates", "page", "page.css")
    return root.read_text(encoding="utf-8")


def render_template(name: str, **context: Any) -> str:
    """Render ``rfa/templates/page/<name>`` with autoescape; returns HTML text."""
    return _env().get_template(name).render(**context)


class HtmlBlock:
    """An HTML fragment for a notebook cell: Jupyter, Quarto and nbconvert all show it
    from its ``text/html`` representation (``text/plain`` is a short description)."""

    def __init__(self, html: str, text: str = "") -> None:
        self.html = str(html)
        self.text = text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text or "HTML block"

    def __str__(self) -> str:
        return self.html


# ── numbers in words ────────────────────────────────────────────────────────


def fmt_delta(kpi) -> str:
    """The size of a KPI's change in its unit, without sign: ``"4.1 pts"``, ``"12 pts"``,
    ``"2.0 min"``, ``"45 s"``, ``"1,204"``, ``"0.3"``, ``"0.4 steps"``; ``"—"`` without one."""
    delta = kpi.change.delta
    if delta is None:
        return DASH
    size = abs(delta)
    if kpi.unit == "fraction":
        points = size * 100
        return f"{points:.1f} pts" if points < 10 else f"{points:.0f} pts"
    if kpi.unit == "minutes":
        return fmt_minutes(size)
    if kpi.unit == "seconds":
        return fmt_seconds(size)
    if kpi.unit == "count":
        return fmt_int(round(size))
    if kpi.unit == "steps":
        return f"{size:.1f} steps"
    return f"{size:.1f}"


def good_direction(key: str) -> Literal["up", "down"] | None:
    """``"up"`` when a rise of the KPI ``key`` is good, ``"down"`` when a fall is, None
    for volumes (see :data:`HIGHER_IS_BETTER`, :data:`LOWER_IS_BETTER`)."""
    if key in HIGHER_IS_BETTER:
        return "up"
    if key in LOWER_IS_BETTER:
        return "down"
    return None


@dataclass(frozen=True)
class Chip:
    """The small line under a tile's value: ``text`` (e.g. ``"▲ 4.1 pts"``), ``tone``
    (colour), and ``sr`` — the same in words for screen readers."""

    text: str
    tone: Tone
    sr: str


def change_chip(kpi, previous_label: str = "previous period") -> Chip:
    """The change chip of a KPI (:class:`rfa.metrics.kpi.KPI`; None = withheld).

    * withheld (None): muted ``"withheld"``;
    * below ``min_n`` observations: muted ``"few sessions"``;
    * no value now: muted ``"no data"``;
    * change beyond noise: ``"▲ 4.1 pts"`` / ``"▼ 2.0 min"``, green when good for the
      reader, red when bad (a shorter duration is good), blue for a volume;
    * no previous value: flat ``"no previous data"``;
    * otherwise: flat ``"≈ 78% last period"`` (the previous window's value).
    """
    if kpi is None:
        return Chip("withheld", "muted", "withheld to protect the people behind it")
    est, change = kpi.estimate, kpi.change
    if est.value is None:
        return Chip("no data", "muted", "no data in this window")
    if est.few:
        return Chip("few sessions", "muted", f"only {est.n:,} observations: too few to compare")
    if change.significant and change.direction in ("up", "down"):
        arrow = "▲" if change.direction == "up" else "▼"
        good = good_direction(kpi.key)
        tone: Tone = "neutral" if good is None else ("good" if good == change.direction else "bad")
        verb = "up" if change.direction == "up" else "down"
        return Chip(
            f"{arrow} {fmt_delta(kpi)}",
            tone,
            f"{verb} {fmt_delta(kpi)} on the {previous_label}, beyond noise",
        )
    if kpi.previous.value is None:
        return Chip("no previous data", "flat", "nothing to compare with")
    before = fmt_kpi(kpi.previous.value, kpi.unit)
    return Chip(
        f"≈ {before} last period",
        "flat",
        f"no clear change on the {previous_label} ({before})",
    )


def tile_tooltip(kpi, previous_label: str = "previous period") -> str:
    """The tile's tooltip: n, the 95% interval (never for a count: counts are exact)
    and the previous window's value, e.g.
    ``"n = 3,295 · 95% interval 79% – 82% · previous 30 days: 78%"``."""
    if kpi is None:
        return "Withheld: too few people behind this figure."
    est = kpi.estimate
    parts = []
    if kpi.unit == "count":
        parts.append("exact count")
    else:
        parts.append(f"n = {est.n:,}")
        if est.low is not None and est.high is not None:
            parts.append(f"95% interval {fmt_interval(kpi)}")
    parts.append(f"{previous_label}: {fmt_kpi(kpi.previous.value, kpi.unit)}")
    return " · ".join(parts)


# ── headline ────────────────────────────────────────────────────────────────


def _phrase(kpi) -> str:
    """One significant change in words: ``"completion rate rose from 78% to 82%"``;
    durations: ``"median duration is 2.0 min shorter"``."""
    label = kpi.label if kpi.label[:2].isupper() else kpi.label[0].lower() + kpi.label[1:]
    up = kpi.change.direction == "up"
    if kpi.unit in ("minutes", "seconds"):
        return f"{label} is {fmt_delta(kpi)} {'longer' if up else 'shorter'}"
    before = fmt_kpi(kpi.previous.value, kpi.unit)
    after = fmt_kpi(kpi.estimate.value, kpi.unit)
    return f"{label} {'rose' if up else 'fell'} from {before} to {after}"


def headline(kpis: Iterable, previous_label: str = "previous period", limit: int = 3) -> str:
    """One sentence from a page's KPIs: what changed beyond noise against the previous
    window, or that nothing did.

    Examples: ``"Completion rate rose from 78% to 82%; everything else is in line with
    the previous 30 days."``, ``"Nothing changed beyond noise compared with the previous
    30 days."``, ``"No previous data to compare with yet."``. At most ``limit`` changes
    are named, good news and bad news alike, in the order of the KPIs; more are counted.
    """
    kpis = [k for k in kpis if k is not None]
    if not kpis:
        return "No figures for this window."
    if all(k.estimate.value is None for k in kpis):
        return "No data in this window."
    changed = [k for k in kpis if k.change.significant and k.change.direction in ("up", "down")]
    if not changed:
        if all(k.previous.value is None for k in kpis):
            return f"No previous data to compare with yet (the {previous_label} are empty)."
        measured = [k for k in kpis if k.unit != "count"]
        if measured and all(k.estimate.few for k in measured):
            return "Too few sessions in this window to call any change."
        return f"Nothing changed beyond noise compared with the {previous_label}."
    phrases = [_phrase(k) for k in changed[:limit]]
    more = len(changed) - limit
    if more > 0:
        phrases.append(f"{more} more {'figure' if more == 1 else 'figures'} changed (see details)")
    sentence = "; ".join(phrases)
    sentence = sentence[0].upper() + sentence[1:]
    if len(changed) < len(kpis):
        sentence += f"; everything else is in line with the {previous_label}"
    return sentence + "."


# ── header ──────────────────────────────────────────────────────────────────


def period_words(meta) -> str:
    """The period in words: ``"Last 30 days · 6 Nov – 5 Dec 2026 · Europe/London"``
    (a custom range: ``"1 Oct – 31 Oct 2026 · UTC"``)."""
    days = meta.window.local_days()
    from rfa.window import PERIODS

    label = f"Last {PERIODS[meta.period]} days" if meta.period in PERIODS else "Custom range"
    span = fmt_span(days, with_year=True) if days else "empty window"
    return f"{label} · {span} · {meta.account.timezone}"


def data_time_words(meta) -> str:
    """``"data up to 5 Dec, 18:28"`` in the account's timezone, or ``"no data in this
    window"``."""
    if meta.data_time is None:
        return "no data in this window"
    local = meta.data_time.astimezone(ZoneInfo(meta.account.timezone))
    return f"data up to {local.day} {local:%b}, {local:%H:%M}"


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def is_rolling(meta) -> bool:
    """True when the page's window ends at most :data:`ROLLING_SLACK` before it was
    generated (``as_of`` now or ``today``: a page a schedule refreshes); False for a
    window further in the past (an explicit ``as_of`` or date range: a snapshot that
    never goes stale)."""
    gap = _aware(meta.generated_at) - _aware(meta.window.end)
    return gap <= ROLLING_SLACK


def fresh_until(meta) -> dt.datetime | None:
    """When a rolling page stops being current: the window's end plus
    :data:`FRESH_FOR_HOURS` (whole seconds, UTC); None for a snapshot
    (:func:`is_rolling`)."""
    if not is_rolling(meta):
        return None
    end = _aware(meta.window.end).astimezone(dt.UTC).replace(microsecond=0)
    return end + dt.timedelta(hours=FRESH_FOR_HOURS)


_STALE_SCRIPT = (
    "(function(){var b=document.currentScript&&document.currentScript.previousElementSibling;"
    "if(!b)return;var t=Date.parse(b.getAttribute('data-rfa-fresh-until'));"
    "if(t&&Date.now()>t){b.hidden=false;}})();"
)
"""Shows the "may be out of date" banner when the page is opened after its fresh-until
time (static text: its hash is in the page's Content-Security-Policy)."""


def page_header(page) -> HtmlBlock:
    """The page header (HTML): context line (account · dashboard · scope), the period
    in words, data time, audience, the comparison baseline, the headline sentence, and
    the publisher's slots (nav, status) and a stale-page banner. Includes the page
    stylesheet, so the fragment looks the same in Jupyter and both renderers."""
    meta = page.meta
    kpis = getattr(page, "kpis", []) or []
    until = fresh_until(meta)
    html = render_template(
        "header.html.j2",
        css=Markup(page_css()),
        account=meta.account.name,
        dashboard=meta.title,
        scope=meta.scope.name if meta.scope else None,
        period=period_words(meta),
        data_time=data_time_words(meta),
        audience=meta.audience,
        previous_label=meta.previous_label,
        headline=headline(kpis, meta.previous_label),
        fresh_until=until.isoformat().replace("+00:00", "Z") if until else None,
        fresh_until_words=fmt_day(until.date(), True) if until else None,
        period_end=fmt_span(meta.window.local_days()[-1:], with_year=True),
        stale_script=Markup(_STALE_SCRIPT),
    )
    return HtmlBlock(html, f"{meta.title} · {meta.account.name} · {period_words(meta)}")


# ── KPI tiles ───────────────────────────────────────────────────────────────


def kpi_tiles(page, keys: Sequence[str], labels: dict[str, str] | None = None) -> HtmlBlock:
    """The page's KPI tiles, in the order of ``keys`` (KPI keys of ``page.kpis``; a key
    without a KPI is shown as withheld). Each tile: label, one big value with its unit,
    a change chip (:func:`change_chip`), and a tooltip with n and the 95% interval
    (:func:`tile_tooltip`). ``labels`` overrides a tile's label."""
    meta = page.meta
    by_key = {k.key: k for k in getattr(page, "kpis", [])}
    tiles = []
    for key in keys:
        kpi = by_key.get(key)
        chip = change_chip(kpi, meta.previous_label)
        label = (labels or {}).get(key) or (kpi.label if kpi else key.replace("_", " "))
        value = DASH if kpi is None else fmt_kpi(kpi.estimate.value, kpi.unit)
        tiles.append(
            {
                "label": label,
                "value": value,
                "chip": chip,
                "tooltip": tile_tooltip(kpi, meta.previous_label),
                "muted": chip.tone == "muted",
            }
        )
    html = render_template("tiles.html.j2", tiles=tiles)
    text = " · ".join(f"{t['label']}: {t['value']} ({t['chip'].text})" for t in tiles)
    return HtmlBlock(html, text)


# ── details and about ───────────────────────────────────────────────────────

_VERDICT_WORDS = {
    "up": "higher than before, beyond noise",
    "down": "lower than before, beyond noise",
}


def verdict_words(kpi) -> str:
    """The comparison in plain words: ``"higher than before, beyond noise"``,
    ``"no clear change"``, ``"too few sessions to compare"``, ``"no previous data"``."""
    if kpi.estimate.few:
        return "too few sessions to compare"
    if kpi.change.significant and kpi.change.direction in _VERDICT_WORDS:
        return _VERDICT_WORDS[kpi.change.direction]
    if kpi.previous.value is None:
        return "no previous data"
    if kpi.change.label.startswith("not enough"):
        return "too few sessions to compare"
    return "no clear change"


def details_rows(kpis: Iterable) -> list[dict[str, Any]]:
    """Rows of the "How sure are these numbers?" table: figure, value, 95% range
    (``"exact count"`` for counts), observations, previous value, verdict in words and
    whether the row is muted (few sessions). All values are display strings."""
    rows = []
    for k in kpis:
        est = k.estimate
        interval = "exact count" if k.unit == "count" else fmt_interval(k)
        rows.append(
            {
                "figure": k.label,
                "value": fmt_kpi(est.value, k.unit),
                "interval": interval,
                "n": fmt_int(est.n),
                "previous": fmt_kpi(k.previous.value, k.unit),
                "verdict": verdict_words(k),
                "few": bool(est.few),
            }
        )
    return rows


def details_html(page, chart=None, open_: bool = False) -> HtmlBlock:
    """ "How sure are these numbers?": a collapsed section with every KPI's n, 95%
    interval, previous value and verdict in plain words (test names are in the
    glossary). Rows below ``min_n`` are marked "few sessions". ``chart`` (an object with
    ``_repr_html_``, e.g. :func:`rfa.charts.kpi_changes`) is shown under the table."""
    meta = page.meta
    chart_html = Markup(chart._repr_html_()) if chart is not None else None
    html = render_template(
        "details.html.j2",
        rows=details_rows(getattr(page, "kpis", [])),
        previous_label=meta.previous_label,
        previous_span=_span(meta.previous_window),
        min_n=meta.min_n,
        open=open_,
        chart=chart_html,
    )
    return HtmlBlock(html, "How sure are these numbers?")


def _span(window) -> str:
    """A window's local days in words, the year on the last: ``6 Nov – 5 Dec 2026``."""
    return fmt_span(window.local_days(), with_year=True)


def about_html(page) -> HtmlBlock:
    """ "About these numbers": scope, window, data time, audience, the data-quality
    findings and the glossary (every definition of the page), as escaped HTML."""
    meta = page.meta
    findings = getattr(page, "data_quality", None)
    html = render_template(
        "about.html.j2",
        dashboard=meta.title,
        scope=meta.scope.name if meta.scope else None,
        account=meta.account.name,
        period=period_words(meta),
        data_time=data_time_words(meta),
        generated=f"{meta.generated_at:%Y-%m-%d %H:%M} UTC",
        audience=meta.audience,
        findings=None if findings is None else Markup(data_quality_text(findings)),
        definitions=[(key.replace("_", " "), text) for key, text in meta.definitions.items()],
        version=meta.library_version,
    )
    return HtmlBlock(html, "About these numbers")
