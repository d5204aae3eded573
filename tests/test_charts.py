"""Charts as display objects (issue 18 item 5): one HTML output with an SVG image and an
escaped alt text written from the same data; labels that never collide or read the same.

Alt texts are checked against strings computed by hand from small fixtures; the layout
checks draw every chart of the small demo (desktop and phone drawings) and look at the
text that matplotlib actually draws."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import re

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from rfa import charts, dashboards
from rfa.metrics import kpi as kpi_metrics
from rfa.metrics.escalations import HistogramBin
from rfa.metrics.flowpilot import (
    ConfidenceTierRow,
    DomainBreakdownRow,
    FlowQualityRow,
    MTTRPoint,
    PsaDailyPoint,
)
from rfa.metrics.knowledge_gaps import Gap
from rfa.metrics.models import CSAT, OutcomeBreakdown, StepRow, Summary, TimeSeriesPoint

ACCOUNT = "northwind-it"
D1, D2, D3 = dt.date(2026, 11, 6), dt.date(2026, 11, 7), dt.date(2026, 11, 8)

# ── small fixtures (figures worked out by hand in the tests below) ───────────

SERIES = [
    TimeSeriesPoint(date=D1, sessions=10, resolved=5, escalated=2, workaround=1, unresolved=0),
    TimeSeriesPoint(date=D2),
    TimeSeriesPoint(date=D3, sessions=20, resolved=10, escalated=4, workaround=2, unresolved=1),
]
SUMMARY = Summary(
    total_sessions=120,
    completed_sessions=100,
    completion_rate=100 / 120,
    median_duration_minutes=11.0,
    active_engineers=4,
    outcome_breakdown=OutcomeBreakdown(resolved=61, escalated=25, workaround=10, unresolved=4),
)
RATINGS = CSAT(avg_csat=3.6, total_ratings=10, distribution={1: 1, 2: 1, 3: 2, 4: 3, 5: 3})
QUARANTINE = "Released the message from quarantine and"
STEPS = [
    StepRow(
        node_id="a",
        node_title=f"{QUARANTINE} confirmed the sender is allowed for the whole tenant",
        visit_count=40,
        dropoff_count=10,
        dropoff_rate=0.25,
        helpful_yes=3,
        helpful_no=1,
        helpful_rate=0.75,
        dropoff_low=0.14,
        dropoff_high=0.40,
        helpful_low=0.30,
        helpful_high=0.95,
    ),
    StepRow(
        node_id="b",
        node_title=f"{QUARANTINE} confirmed the sender is allowed for this mailbox only",
        visit_count=50,
        dropoff_count=2,
        dropoff_rate=0.04,
        helpful_yes=None,
        helpful_no=None,
        helpful_rate=None,
        dropoff_low=0.01,
        dropoff_high=0.13,
    ),
]
MTTR = [
    MTTRPoint(date=D1, resolved_sessions=2, mttr_minutes=10.0, mttr_low=5.0, mttr_high=15.0),
    MTTRPoint(date=D2, resolved_sessions=0, mttr_minutes=None),
    MTTRPoint(date=D3, resolved_sessions=3, mttr_minutes=85.0, mttr_low=60.0, mttr_high=110.0),
]
DOMAINS = [
    DomainBreakdownRow(
        domain="network",
        total=40,
        resolved=10,
        escalated=20,
        resolution_rate_pct=25.0,
        resolution_low_pct=14.2,
        resolution_high_pct=40.2,
    ),
    DomainBreakdownRow(
        domain="line_of_business",
        total=20,
        resolved=15,
        escalated=3,
        resolution_rate_pct=75.0,
        resolution_low_pct=53.1,
        resolution_high_pct=88.8,
    ),
]
TIERS = [
    ConfidenceTierRow(
        tier="guided",
        sessions=100,
        resolved=80,
        resolution_rate_pct=80.0,
        resolution_low_pct=71.1,
        resolution_high_pct=86.7,
    ),
    ConfidenceTierRow(
        tier="discovery",
        sessions=5,
        resolved=2,
        resolution_rate_pct=40.0,
        resolution_low_pct=11.8,
        resolution_high_pct=76.9,
        few=True,
    ),
]
PSA_DAYS = [
    PsaDailyPoint(date=D1, entries=3, hours=2.5),
    PsaDailyPoint(date=D2),
    PsaDailyPoint(date=D3, entries=4, hours=1.0),
]


def _flow(name: str, uses: int, rate: float, attention: bool) -> FlowQualityRow:
    return FlowQualityRow(
        flow_id=name,
        name=name,
        tree_type="troubleshooting",
        usage_count=uses,
        resolved_sessions=round(uses * rate / 100),
        success_rate_pct=rate,
        adjusted_success_rate_pct=rate,
        last_matched_at=dt.datetime(2026, 11, 8, tzinfo=dt.UTC),
        avg_confidence=0.7,
        quality_score=rate,
        needs_attention=attention,
        success_low_pct=max(rate - 20, 0),
        success_high_pct=min(rate + 15, 100),
    )


FLOWS = [_flow("Printer offline", 30, 80.0, False), _flow("VPN drops", 12, 25.0, True)]
BINS = [
    HistogramBin(lower_seconds=0, upper_seconds=300, label="< 5 min", count=2),
    HistogramBin(lower_seconds=300, upper_seconds=600, label="5–10 min", count=5),
    HistogramBin(lower_seconds=600, upper_seconds=None, label="≥ 10 min", count=3),
]
GAPS = [
    Gap.model_construct(kind="domain_without_flows", severity="high"),
    Gap.model_construct(kind="flow_option_bad_outcomes", severity="medium"),
    Gap.model_construct(kind="flow_option_bad_outcomes", severity="medium"),
    Gap.model_construct(kind="flow_high_escalation", severity="low"),
]
RATES = [
    kpi_metrics.rate_kpi("completion_rate", "Completion rate", 82, 100, 78, 100, period_label="p"),
    kpi_metrics.count_kpi("total_sessions", "Sessions", 100, 90, period_label="p"),
]

EVERY_CHART = {
    "outcomes_per_day": lambda: charts.outcomes_per_day(SERIES),
    "sessions_per_day": lambda: charts.sessions_per_day(SERIES),
    "outcome_donut": lambda: charts.outcome_donut(SUMMARY),
    "csat_distribution": lambda: charts.csat_distribution(RATINGS),
    "step_dropoff": lambda: charts.step_dropoff(STEPS),
    "mttr_trend": lambda: charts.mttr_trend(MTTR),
    "domain_outcomes": lambda: charts.domain_outcomes(DOMAINS),
    "confidence_tiers": lambda: charts.confidence_tiers(TIERS),
    "psa_daily": lambda: charts.psa_daily(PSA_DAYS),
    "flow_quality_map": lambda: charts.flow_quality_map(FLOWS),
    "escalation_lag_histogram": lambda: charts.escalation_lag_histogram(BINS),
    "duration_distribution": lambda: charts.duration_distribution(BINS),
    "gaps_by_kind": lambda: charts.gaps_by_kind(GAPS),
    "kpi_changes": lambda: charts.kpi_changes(RATES),
}


# ── the display object ───────────────────────────────────────────────────────


def _chart(alt: str) -> charts.Chart:
    fig = Figure(figsize=(4, 3))
    fig.subplots().plot([0, 1], [1, 2])
    return charts.Chart(fig, alt)


def _svgs(html: str) -> list[str]:
    return [
        base64.b64decode(data).decode()
        for data in re.findall(r'data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
    ]


def test_repr_html_is_one_figure_with_an_svg_image_and_escaped_alt():
    hostile = '"><script>alert(1)</script><img src=x onerror=alert(2) alt="'
    html = _chart(hostile)._repr_html_()
    assert html.startswith('<figure class="rfa-chart"><img src="data:image/svg+xml;base64,')
    assert html.endswith("</figure>")
    assert "<script" not in html
    assert html.count("<img") == 1
    alt = re.search(r' alt="([^"]*)"', html).group(1)
    assert alt == (
        "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2) alt=&#34;"
    )
    (svg,) = _svgs(html)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert 'width="384" height="288" style="max-width:100%;height:auto"' in html


def test_mimebundle_has_html_and_the_alt_as_plain_text():
    bundle = _chart("Sessions per day: 12 sessions.")._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}
    assert bundle["text/plain"] == "Sessions per day: 12 sessions."


@pytest.mark.parametrize("name", sorted(EVERY_CHART))
def test_every_chart_returns_a_chart_with_svg_text_and_a_phone_drawing(name):
    chart = EVERY_CHART[name]()
    assert isinstance(chart, charts.Chart) and isinstance(chart.figure, Figure)
    assert len(chart.alt) >= 20 and chart.alt.endswith(".")
    html = chart._repr_html_()
    assert html.startswith('<figure class="rfa-chart"><picture><source media="(max-width: 480px)"')
    assert html.count("<img") == 1 and html.endswith("</picture></figure>")
    desktop, phone = _svgs(html)[::-1]
    for svg in (desktop, phone):
        assert "<svg" in svg and "<text" in svg, "text must stay text (svg.fonttype none)"
        assert "Date" not in svg
    assert chart.phone.get_size_inches()[0] == charts.PHONE_WIDTH
    assert chart.figure.get_layout_engine() is not None, "layout='constrained'"


def test_the_psa_funnel_returns_a_chart_too():
    from rfa.metrics.flowpilot import PsaFunnel

    funnel = PsaFunnel(total_sessions=10, linked_to_ticket=6, doc_pushed=3, time_entry_logged=2)
    chart = charts.psa_funnel(funnel)
    assert isinstance(chart, charts.Chart)
    assert _svgs(chart._repr_html_())


@pytest.mark.parametrize(
    ("chart", "alt"),
    [
        (lambda: charts.outcomes_per_day([]), "No sessions in this window."),
        (
            lambda: charts.outcomes_per_day([TimeSeriesPoint(date=D1)]),
            "No sessions in this window.",
        ),
        (lambda: charts.sessions_per_day([]), "No sessions in this window."),
        (lambda: charts.step_dropoff([]), "No decisions recorded in this window."),
        (lambda: charts.mttr_trend([]), "No resolved AI sessions in this window."),
        (lambda: charts.domain_outcomes([]), "No AI sessions with a domain in this window."),
        (lambda: charts.gaps_by_kind([]), "No gap passes the thresholds."),
        (lambda: charts.kpi_changes(RATES[1:]), "No rates on this page."),
        (
            lambda: charts.csat_distribution(CSAT(avg_csat=None, total_ratings=2, distribution={})),
            "Withheld: too few distinct raters (small-group privacy).",
        ),
    ],
)
def test_empty_data_draws_a_clear_message_and_says_so_in_the_alt(chart, alt):
    drawn = chart()
    assert drawn.alt == alt
    assert alt.rstrip(".") in _svgs(drawn._repr_html_())[0]


# ── alt texts, from the same data ────────────────────────────────────────────


def test_alt_texts_say_what_each_chart_shows_with_its_main_figures():
    # 30 sessions over 3 days; resolved 15 of 30; not completed 2 + 3 = 5.
    assert charts.outcomes_per_day(SERIES).alt == (
        "Sessions per day by outcome, 6 Nov – 8 Nov: 10 a day on average, peak 20 on 8 Nov; "
        "resolved is the largest share (50%)."
    )
    assert charts.sessions_per_day(SERIES).alt == (
        "Sessions started per day, 6 Nov – 8 Nov: 10 a day on average, peak 20 on 8 Nov."
    )
    assert charts.outcome_donut(SUMMARY).alt == (
        "Outcome mix of 100 completed sessions: resolved 61% (61), escalated 25% (25), "
        "workaround 10% (10), unresolved 4.0% (4)."
    )
    assert charts.csat_distribution(RATINGS).alt == (
        "Ratings by score from 1 to 5, 10 ratings: mean 3.6 / 5; 60% gave 4 or 5 "
        "(5 stars: 3, 4 stars: 3, 3 stars: 2, 2 stars: 1, 1 star: 1)."
    )
    assert charts.step_dropoff(STEPS).alt == (
        "Drop-off rate and thumbs-up share of the 2 steps where most sessions stop: "
        f"“{STEPS[0].node_title}” 25% (10 of 40 visits); "
        f"“{STEPS[1].node_title}” 4.0% (2 of 50 visits); "
        "thumbs-up share 75% on the one rated step."
    )
    # (2 × 10 + 3 × 85) / 5 = 55 minutes.
    assert charts.mttr_trend(MTTR).alt == (
        "Mean time to resolution per day, 6 Nov – 8 Nov: 55 min on average over 5 resolved AI "
        "sessions, from 10 min (6 Nov) to 1 h 25 min (8 Nov); resolved sessions per day below."
    )
    assert charts.domain_outcomes(DOMAINS).alt == (
        "AI sessions by problem domain and outcome, 2 domains, 60 sessions: most in Network "
        "(40, 25% resolved); highest resolution rate Line of business (75%), lowest Network "
        "(25%)."
    )
    assert charts.confidence_tiers(TIERS).alt == (
        "Resolution rate by confidence tier: guided 80% (n=100), discovery 40% (n=5, few sessions)."
    )
    assert charts.psa_daily(PSA_DAYS).alt == (
        "PSA time entries and hours logged per day, 6 Nov – 8 Nov: 7 entries (2.3 a day on "
        "average) and 3.5 hours; busiest day 8 Nov (4 entries, 1.0 h)."
    )
    assert charts.flow_quality_map(FLOWS).alt == (
        "Success rate against AI sessions matched for 2 flows: success rates from 25% to 80%; "
        "1 flow needs attention: “VPN drops” (25%, 12 sessions)."
    )
    # 2, 5, 3 of 10: the 5 in 5–10 min is the mode, and the 5th/6th of 10 fall in it.
    assert charts.duration_distribution(BINS).alt == (
        "Completed sessions by duration, 10 sessions: the most common is 5–10 min (5, 50%); "
        "the median is in 5–10 min."
    )
    assert charts.escalation_lag_histogram(BINS).alt == (
        "Claimed hand-offs by time from claim to first action, 10 hand-offs: the most common "
        "is 5–10 min (5, 50%); the median is in 5–10 min."
    )
    assert charts.gaps_by_kind(GAPS).alt == (
        "Knowledge gaps by kind and severity, 4 gaps (1 high, 2 medium, 1 low): Flow option "
        "bad outcomes 2, Domain without flows 1, Flow high escalation 1."
    )
    verdict = RATES[0].change.label
    assert verdict == "no clear change"
    assert charts.kpi_changes(RATES).alt == (
        "Rates in this window and the previous one, with 95% intervals: Completion rate 82% "
        "(previous 78%, no clear change)."
    )


def test_names_from_the_database_are_escaped_in_the_alt_and_in_the_svg():
    hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    step = STEPS[0].model_copy(update={"node_title": hostile})
    flow = FLOWS[1].model_copy(update={"name": hostile})
    for chart in (charts.step_dropoff([step]), charts.flow_quality_map([FLOWS[0], flow])):
        html = chart._repr_html_()
        assert hostile in chart.alt
        assert "<img src=x" not in html and "<script" not in html
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&lt;script&gt;" in html
        for svg in _svgs(html):
            assert "<script" not in svg and "<img" not in svg
            assert "&lt;img" in svg  # the name is drawn, escaped


# ── labels ───────────────────────────────────────────────────────────────────


def test_humanize_domain_names():
    assert charts.humanize("line_of_business") == "Line of business"
    assert charts.humanize("voip") == "VoIP"
    assert charts.humanize("m365") == "M365"
    assert charts.humanize("Network") == "Network"
    assert charts.humanize("") == "(none)"


def test_wrapped_labels_are_never_equal():
    texts = [
        f"{QUARANTINE} confirmed the sender",
        f"{QUARANTINE} confirmed the recipient",
        "Same title",
        "Same title",
        "",
    ]
    for width, lines in ((10, 1), (22, 2), (34, 3)):
        labels = charts.wrap_labels(texts, width, lines)
        assert len(set(labels)) == len(labels), labels
        assert all(len(line) <= width + 4 for label in labels for line in label.split("\n"))
    assert charts.wrap_labels(["Same title", "Same title"], 20) == [
        "Same title (1)",
        "Same title (2)",
    ]


def test_two_steps_with_the_same_start_get_different_labels_in_both_drawings():
    chart = charts.step_dropoff(STEPS)
    for fig in (chart.figure, chart.phone):
        FigureCanvasAgg(fig).draw()
        shown = [
            [t.get_text() for t in ax.get_yticklabels() if t.get_visible() and t.get_text()]
            for ax in fig.axes
        ]
        shown = [labels for labels in shown if labels]
        assert shown
        for labels in shown:
            assert len(labels) == 2 and labels[0] != labels[1], labels
            assert all(label.startswith("Released the") for label in labels)


def _drawn_texts(fig: Figure) -> list[tuple[str, Bbox, bool]]:
    """Every text matplotlib draws (tick labels in view, values, legend, titles) with its
    box in pixels and whether it sits on an opaque box (masking what is under it)."""
    seen: list[Text] = []
    draw = Text.draw

    def spy(self, renderer):
        if self.get_visible() and self.get_text().strip():
            seen.append(self)
        return draw(self, renderer)

    canvas = FigureCanvasAgg(fig)
    Text.draw = spy
    try:
        canvas.draw()
    finally:
        Text.draw = draw
    renderer = canvas.get_renderer()
    return [
        (t.get_text(), t.get_window_extent(renderer), t.get_bbox_patch() is not None) for t in seen
    ]


def _whiskers(fig: Figure) -> list:
    """The display-space boxes of every error-bar line (a bar's whisker, thin)."""
    boxes = []
    for ax in fig.axes:
        for container in ax.containers:
            bars = getattr(container, "errorbar", None) or container
            if not isinstance(bars, ErrorbarContainer):
                continue
            for collection in bars.lines[2]:
                for segment in collection.get_segments():
                    points = ax.transData.transform(segment)
                    boxes.append(Bbox.from_extents(*points.min(axis=0), *points.max(axis=0)))
    return boxes


def _collisions(fig: Figure) -> list[str]:
    texts = _drawn_texts(fig)
    found = []
    for (text, box, masked), whisker in itertools.product(texts, _whiskers(fig)):
        if not masked and box.overlaps(whisker):
            found.append(f"whisker through {text!r}")
    for (a, box_a, _), (b, box_b, _) in itertools.combinations(texts, 2):
        overlap = box_a.intersection(box_a, box_b)
        if overlap is not None and overlap.width > 1 and overlap.height > 1:
            found.append(f"{a!r} over {b!r}")
    frame = fig.bbox
    for text, box, _ in texts:
        if box.x0 < -1 or box.y0 < -1 or box.x1 > frame.x1 + 1 or box.y1 > frame.y1 + 1:
            found.append(f"{text!r} cut at the figure's edge")
    return found


@pytest.fixture(scope="module")
def demo_charts(demo_sqlite_url):
    load = {
        "team": dashboards.team_page,
        "flow": dashboards.flow_page,
        "flowpilot": dashboards.flowpilot_page,
        "coverage": dashboards.coverage_page,
        "gaps": dashboards.knowledge_gaps_page,
        "escalations": dashboards.escalations_page,
    }
    pages = {name: f(ACCOUNT, url=demo_sqlite_url) for name, f in load.items()}
    few = dashboards.flowpilot_page(ACCOUNT, min_n=1_000_000, url=demo_sqlite_url)
    team, fp = pages["team"], pages["flowpilot"]
    return {
        "outcomes_per_day": charts.outcomes_per_day(team.time_series),
        "duration_distribution": charts.duration_distribution(team.duration_distribution),
        "outcome_donut": charts.outcome_donut(team.summary),
        "csat_distribution": charts.csat_distribution(team.csat),
        "kpi_changes": charts.kpi_changes(team.kpis),
        "step_dropoff": charts.step_dropoff(pages["flow"].steps),
        "mttr_trend": charts.mttr_trend(fp.mttr_trend),
        "domain_outcomes": charts.domain_outcomes(fp.sessions_by_domain),
        "domain_outcomes (few)": charts.domain_outcomes(few.sessions_by_domain),
        "confidence_tiers": charts.confidence_tiers(fp.confidence_breakdown),
        "confidence_tiers (few)": charts.confidence_tiers(few.confidence_breakdown),
        "psa_daily": charts.psa_daily(fp.psa.daily_trend),
        "flow_quality_map": charts.flow_quality_map(pages["coverage"].flow_quality.flows),
        "gaps_by_kind": charts.gaps_by_kind(pages["gaps"].report.gaps),
        "escalation_lag_histogram": charts.escalation_lag_histogram(
            pages["escalations"].escalations.histogram
        ),
        **{f"{name} (fixture)": make() for name, make in EVERY_CHART.items()},
    }


def test_no_text_collides_or_is_cut_in_any_demo_chart(demo_charts):
    found = {
        f"{name}/{size}": problems
        for name, chart in demo_charts.items()
        for size, fig in (("desktop", chart.figure), ("phone", chart.phone))
        if fig is not None and (problems := _collisions(fig))
    }
    assert not found


def test_demo_domains_are_humanised_and_no_chart_has_a_second_y_axis(demo_charts):
    domains = demo_charts["domain_outcomes"].figure.axes[0]
    FigureCanvasAgg(domains.figure).draw()
    labels = [t.get_text() for t in domains.get_yticklabels()]
    assert labels and not any("_" in label for label in labels), labels
    for name, chart in demo_charts.items():
        for ax in chart.figure.axes:
            twins = ax.get_shared_x_axes().get_siblings(ax)
            overlaid = [
                o
                for o in twins
                if o is not ax and o.get_position().bounds == ax.get_position().bounds
            ]
            assert not overlaid, f"{name}: a second y axis over the same plot"


def test_coverage_map_ticks_are_plain_numbers(demo_charts):
    ax = demo_charts["flow_quality_map"].figure.axes[0]
    FigureCanvasAgg(ax.figure).draw()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ticks and all(re.fullmatch(r"[\d,]+", t) for t in ticks), ticks


@pytest.mark.parametrize(
    "name", ["outcomes_per_day", "sessions_per_day", "mttr_trend", "psa_daily"]
)
def test_day_charts_show_their_first_and_last_bars_whole(name):
    chart = EVERY_CHART[name]()
    for fig in (chart.figure, chart.phone):
        for ax in fig.axes:
            left, right = ax.get_xlim()
            for bar in ax.patches:
                if bar.get_height():
                    assert left <= bar.get_x() and bar.get_x() + bar.get_width() <= right


def test_alt_texts_count_in_words_for_one_item():
    assert charts.flow_quality_map(FLOWS[1:]).alt.startswith(
        "Success rate against AI sessions matched for 1 flow: success rate 25%; 1 flow needs"
    )
    assert charts.step_dropoff(STEPS[:1]).alt.startswith(
        "Drop-off rate and thumbs-up share of the step where most sessions stop: "
    )


def test_outcome_colours_are_the_same_on_every_outcome_chart():
    per_day = charts.outcomes_per_day(SERIES).figure.axes[0]
    donut = charts.outcome_donut(SUMMARY).figure.axes[0]
    domains = charts.domain_outcomes(DOMAINS).figure.axes[0]
    from matplotlib.colors import to_hex

    day_colours = {to_hex(c.patches[0].get_facecolor()) for c in per_day.containers}
    assert day_colours == {c.lower() for c in charts.OUTCOME_COLORS.values()}
    wedge_colours = [to_hex(w.get_facecolor()) for w in donut.patches]
    assert wedge_colours == [
        charts.OUTCOME_COLORS[k].lower()
        for k in ("resolved", "workaround", "escalated", "unresolved")
    ]
    resolved_bar = to_hex(domains.containers[0].patches[0].get_facecolor())
    assert resolved_bar == charts.OUTCOME_COLORS["resolved"].lower()
