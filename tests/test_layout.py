"""The page a stakeholder reads (rfa.layout, rfa.present): headline sentence, change
chips, tiles, header and details — expected strings written by hand — and escaping of
every text that can come from the database, through every HTML helper."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest

from rfa import layout, present
from rfa.dashboards import PageMeta
from rfa.metrics import kpi
from rfa.metrics.models import (
    AccountInfo,
    Comment,
    DataQualityFinding,
    Entity,
    RankedRow,
    StepRow,
)
from rfa.window import make_window

PERIOD = "previous 30 days"
HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>[x](javascript:alert(3)) *em*'
NOW = dt.datetime(2026, 12, 6, 0, 0, tzinfo=dt.UTC)


def _rate(key: str, cur: tuple[int, int], prev: tuple[int, int], label: str = "Completion rate"):
    return kpi.rate_kpi(key, label, *cur, *prev, period_label=PERIOD)


def _minutes(key: str, label: str, cur: list[float], prev: list[float]):
    return kpi.quantile_kpi(key, label, cur, prev, 0.5, unit="minutes", period_label=PERIOD)


# ── headline ────────────────────────────────────────────────────────────────


def test_headline_names_a_significant_rise_and_says_the_rest_is_in_line():
    up = _rate("completion_rate", (820, 1000), (780, 1000))  # 82% vs 78%: z ≈ 2.2, p < .05
    flat = kpi.count_kpi("total_sessions", "Sessions", 1000, 1000, period_label=PERIOD)
    assert up.change.significant and up.change.direction == "up"
    assert (
        layout.headline([flat, up], PERIOD)
        == "Completion rate rose from 78% to 82%; everything else is in line with the "
        "previous 30 days."
    )


def test_headline_says_a_shorter_duration_in_minutes():
    shorter = _minutes("median_duration_minutes", "Median duration", [10.0] * 200, [12.0] * 200)
    assert shorter.change.direction == "down"
    assert layout.headline([shorter], PERIOD) == "Median duration is 2.0 min shorter."


def test_headline_when_a_rate_falls_and_an_acronym_keeps_its_case():
    down = _rate("resolution_rate_pct", (500, 1000), (700, 1000), label="AI resolution rate")
    assert layout.headline([down], PERIOD) == "AI resolution rate fell from 70% to 50%."


def test_headline_when_nothing_changed_beyond_noise():
    same = _rate("completion_rate", (500, 1000), (505, 1000))
    assert layout.headline([same], PERIOD) == (
        "Nothing changed beyond noise compared with the previous 30 days."
    )


def test_headline_with_few_sessions_and_with_no_previous_data():
    few = _rate("completion_rate", (8, 8), (0, 8))
    assert few.estimate.few
    assert layout.headline([few], PERIOD) == "Too few sessions in this window to call any change."
    first = _rate("completion_rate", (500, 1000), (0, 0))
    assert layout.headline([first], PERIOD).startswith("No previous data to compare with yet")
    assert layout.headline([], PERIOD) == "No figures for this window."


def test_headline_names_at_most_three_changes_and_counts_the_rest():
    ups = [_rate(f"k{i}", (900, 1000), (500, 1000), label=f"Rate {i}") for i in range(5)]
    text = layout.headline(ups, PERIOD)
    assert text.count("rose from 50% to 90%") == 3
    assert text.endswith("; 2 more figures changed (see details).")


# ── change chips ───────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("key", "cur", "prev", "text", "tone"),
    [
        ("completion_rate", (900, 1000), (500, 1000), "▲ 40 pts", "good"),
        ("completion_rate", (500, 1000), (900, 1000), "▼ 40 pts", "bad"),
        ("total_sessions", None, None, "▲ 800", "neutral"),
        ("completion_rate", (500, 1000), (520, 1000), "≈ 52% last period", "flat"),
        ("completion_rate", (8, 8), (0, 8), "few sessions", "muted"),
        ("completion_rate", (500, 1000), (0, 0), "no previous data", "flat"),
    ],
)
def test_change_chip(key, cur, prev, text, tone):
    if key == "total_sessions":
        k = kpi.count_kpi(key, "Sessions", 1800, 1000, period_label=PERIOD)
    else:
        k = _rate(key, cur, prev)
    chip = layout.change_chip(k, PERIOD)
    assert (chip.text, chip.tone) == (text, tone)


def test_a_shorter_duration_is_good_news_and_a_longer_one_bad():
    shorter = _minutes("median_duration_minutes", "Median duration", [10.0] * 200, [12.0] * 200)
    longer = _minutes("median_duration_minutes", "Median duration", [12.0] * 200, [10.0] * 200)
    assert (layout.change_chip(shorter).text, layout.change_chip(shorter).tone) == (
        "▼ 2.0 min",
        "good",
    )
    assert (layout.change_chip(longer).text, layout.change_chip(longer).tone) == (
        "▲ 2.0 min",
        "bad",
    )


def test_counts_are_exact_no_interval_in_tooltip_or_details():
    count = kpi.count_kpi("gaps", "Gaps", 40, 38, period_label=PERIOD)
    assert count.estimate.low is not None  # the model keeps its Poisson interval…
    assert layout.tile_tooltip(count, PERIOD) == "exact count · previous 30 days: 38"
    (row,) = layout.details_rows([count])  # …the page never shows it
    assert row["interval"] == "exact count" and row["value"] == "40"


def test_tiles_put_n_and_interval_in_the_tooltip_not_in_the_value():
    rate = _rate("completion_rate", (820, 1000), (780, 1000))
    page = SimpleNamespace(kpis=[rate], meta=SimpleNamespace(previous_label=PERIOD))
    html = layout.kpi_tiles(page, ["completion_rate", "missing"]).html
    values = re.findall(r'<p class="rfa-tile-value">(.*?)</p>', html)
    assert values == ["82%", "—"]
    assert 'title="n = 1,000 · 95% interval 79% – 84% · previous 30 days: 78%"' in html
    assert "withheld" in html  # a KPI the page does not have (privacy) is withheld


# ── header, period, staleness ───────────────────────────────────────────────


def _meta(name: str = "Northwind IT", scope: str | None = None, as_of=NOW) -> PageMeta:
    window = make_window("30d", as_of, "Europe/London")
    return PageMeta(
        dashboard="team",
        title="Team analytics",
        audience="team admins",
        account=AccountInfo(id="a1", slug="northwind", name=name, timezone="Europe/London"),
        scope=None if scope is None else Entity(id="f1", name=scope),
        period="30d",
        window=window,
        window_label=window.describe(),
        data_time=dt.datetime(2026, 12, 5, 18, 28, tzinfo=dt.UTC),
        generated_at=NOW + dt.timedelta(hours=2),
        library_version="0",
        definitions={"total_sessions": "Sessions started; see `sessions.started_at`."},
        previous_window=window.previous(),
        previous_label=window.previous_label(),
        min_n=20,
    )


def test_period_in_words():
    assert layout.period_words(_meta()) == "Last 30 days · 6 Nov – 5 Dec 2026 · Europe/London"
    assert layout.data_time_words(_meta()) == "data up to 5 Dec, 18:28"


def test_a_rolling_page_carries_its_fresh_until_time_and_a_snapshot_does_not():
    rolling = _meta()
    assert layout.fresh_until(rolling) == dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    snapshot = _meta(as_of=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    assert layout.fresh_until(snapshot) is None
    page = SimpleNamespace(meta=rolling, kpis=[])
    html = layout.page_header(page).html
    assert 'data-rfa-fresh-until="2026-12-07T12:00:00Z"' in html
    assert "<!--rfa:nav--><!--/rfa:nav-->" in html and "<!--rfa:status--><!--/rfa:status-->" in html
    snap_html = layout.page_header(SimpleNamespace(meta=snapshot, kpis=[])).html
    assert "data-rfa-fresh-until" not in snap_html


def test_header_and_about_escape_database_names():
    meta = _meta(name=HOSTILE, scope=HOSTILE)
    page = SimpleNamespace(
        meta=meta,
        kpis=[],
        data_quality=[DataQualityFinding(check="x", count=1, description=HOSTILE)],
    )
    for html in (layout.page_header(page).html, layout.about_html(page).html):
        assert "<img" not in html and "<script>alert" not in html, html
        assert "&lt;img src=x onerror=" in html
    about = layout.about_html(page).html
    assert "<code>sessions.started_at</code>" in about  # our own definitions' code spans


# ── tables: every helper escapes what it is given ──────────────────────────


def _hostile_tables() -> dict[str, str]:
    ranked = RankedRow(
        id="x",
        name=HOSTILE,
        sessions=30,
        completed_sessions=20,
        completion_rate=0.5,
        median_duration_minutes=12.0,
        avg_csat=4.0,
        ratings=5,
    )
    step = StepRow(
        node_id="n",
        node_title=HOSTILE,
        visit_count=10,
        dropoff_count=1,
        dropoff_rate=0.1,
        helpful_yes=1,
        helpful_no=1,
        helpful_rate=0.5,
    )
    comment = Comment(rating=4, comment=HOSTILE, date=dt.date(2026, 12, 1))
    domain = SimpleNamespace(
        domain=HOSTILE,
        total=10,
        few=False,
        resolved=5,
        escalated=2,
        resolution_rate_pct=50.0,
        resolution_low_pct=20.0,
        resolution_high_pct=80.0,
    )
    gap = SimpleNamespace(
        severity="high",
        kind="no_flow",
        subject=HOSTILE,
        rate=None,
        evidence_sessions=12,
        few=False,
        suggested_action=HOSTILE,
        rate_low=None,
        rate_high=None,
        threshold=0.4,
    )
    return {
        "ranked": present.html_table(present.ranked_table([ranked], "Flow")),
        "steps": present.html_table(present.step_table([step])),
        "comments": present.html_table(present.comments_table([comment], "UTC")),
        "domains": present.html_table(present.domain_table([domain])),
        "gap actions": present.gaps_actions_html([gap]),
        "empty": present.html_table(present.ranked_table([], "Flow"), HOSTILE),
    }


@pytest.mark.parametrize("name", list(_hostile_tables()))
def test_every_table_helper_escapes_markup(name):
    html = _hostile_tables()[name]
    assert "<img" not in html and "<script>" not in html, html
    assert "&lt;img src=x onerror=" in html or "&lt;img src=x onerror=&#34;" in html


def test_tables_align_text_left_and_numbers_right_and_scroll_on_a_phone():
    ranked = RankedRow(
        id="x",
        name="365 mail flow",
        sessions=1234,
        completed_sessions=20,
        completion_rate=0.5,
        median_duration_minutes=12.0,
        avg_csat=4.0,
        ratings=5,
    )
    html = present.html_table(present.ranked_table([ranked], "Flow"), label="Top flows")
    assert html.startswith(
        '<div class="rfa-scroll" tabindex="0" role="region" aria-label="Top flows">'
    )
    cells = re.findall(r'<td class="(rfa-\w+)">([^<]*)</td>', html)
    assert cells[0] == ("rfa-text", "365 mail flow")  # the name column is text even if digits
    assert ("rfa-num", "1,234") in cells


def test_comments_carry_the_date_only():
    comment = Comment(rating=5, comment="ok", date=dt.date(2026, 12, 1))
    frame = present.comments_table([comment], "Europe/London")
    assert frame.iloc[0]["Date"] == "1 Dec 2026"


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.82, "82%"), (0.034, "3.4%"), (0.0, "0%"), (None, "—"), (0.1, "10%")],
)
def test_percent_format(value, text):
    assert present.fmt_pct(value) == text


@pytest.mark.parametrize(
    ("minutes", "text"),
    [(0.75, "45 s"), (4.5, "4.5 min"), (11.2, "11 min"), (85, "1 h 25 min"), (120, "2 h")],
)
def test_duration_format(minutes, text):
    assert present.fmt_minutes(minutes) == text


def test_headline_of_a_page_of_counts_only_is_not_about_few_sessions():
    counts = [kpi.count_kpi("gaps", "Gaps", 19, 26, period_label=PERIOD)]
    assert not counts[0].change.significant
    assert layout.headline(counts, PERIOD) == (
        "Nothing changed beyond noise compared with the previous 30 days."
    )


@pytest.mark.parametrize(
    ("days", "with_year", "text"),
    [
        ([dt.date(2026, 11, 6), dt.date(2026, 12, 5)], False, "6 Nov – 5 Dec"),
        ([dt.date(2026, 11, 6), dt.date(2026, 12, 5)], True, "6 Nov – 5 Dec 2026"),
        ([dt.date(2025, 12, 20), dt.date(2026, 1, 5)], False, "20 Dec 2025 – 5 Jan 2026"),
        ([dt.date(2026, 1, 5)], False, "5 Jan"),
        ([], True, "—"),
    ],
)
def test_span_in_words(days, with_year, text):
    assert present.fmt_span(days, with_year) == text


def test_domain_gaps_name_their_domain_in_words_and_flow_gaps_keep_the_flow_name():
    domain = SimpleNamespace(kind="domain_high_escalation", subject="line_of_business")
    flow = SimpleNamespace(kind="flow_option_bad_outcomes", subject="Wi-Fi drops › “No”")
    assert present.gap_subject(domain) == "Line of business"
    assert present.gap_subject(flow) == "Wi-Fi drops › “No”"
