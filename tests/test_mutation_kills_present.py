"""The page text and tables of :mod:`rfa.present` and the words of :mod:`rfa.labels`,
pinned down where mutation testing (``make mutation``) found the tests silent.

Every expected string is written out by hand (what a stakeholder reads on the page),
and database text (names, comments, domains, formulas) carrying markup must come out
escaped. Inputs are the real page models wherever the function takes one."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pandas as pd
import pytest

from rfa import present
from rfa.labels import humanize
from rfa.metrics.escalations import EscalationMetrics
from rfa.metrics.flowpilot import (
    DomainBreakdownRow,
    DomainCoverageRow,
    FlowQuality,
    FlowQualityRow,
    KnowledgeCoverage,
    PsaFunnel,
    PsaMetrics,
    PsaPushTypeRow,
    PsaStageCounts,
)
from rfa.metrics.knowledge_gaps import Gap, GapEvidence, GapThresholds, KnowledgeGapReport
from rfa.metrics.kpi import KPI
from rfa.metrics.models import AccountInfo, Comment, DataQualityFinding, RankedRow, StepRow
from rfa.metrics.privacy import PrivacyNote
from rfa.metrics.uncertainty import Change, Estimate

XSS = "<img src=x onerror=alert(1)>"
XSS_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
UTC = dt.UTC


# ── rfa.labels.humanize ─────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("line_of_business", "Line of business"),
        ("voip", "VoIP"),
        ("VOIP", "VoIP"),  # acronyms are looked up whatever the stored case
        ("hosted_voip", "Hosted VoIP"),
        ("office_m365", "Office M365"),
        ("m365_mail", "M365 mail"),
        ("vpn-setup", "VPN setup"),
        ("remote_vpn", "Remote VPN"),
        ("psa", "PSA"),
        ("ticket_psa", "Ticket PSA"),
        ("ai", "AI"),
        ("email_ai", "Email AI"),
        ("printer__jam", "Printer jam"),  # runs of separators are one space
        ("_wifi-", "Wifi"),
        ("iPhone_sync", "iPhone sync"),  # mixed case is kept as stored
        ("Email", "Email"),
        ("365_mail", "365 mail"),
        ("x", "X"),
        ("", "(none)"),
        ("   ", "(none)"),
        ("_-_", "(none)"),
    ],
)
def test_humanize_writes_machine_names_as_words(name, words):
    assert humanize(name) == words


# ── number formats ──────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (999, "999"), (1234, "1,234"), (1234567, "1,234,567"), (None, "—")],
)
def test_fmt_int_groups_thousands(value, text):
    assert present.fmt_int(value) == text


@pytest.mark.parametrize(
    ("fraction", "digits", "text"),
    [
        (0.62, None, "62%"),
        (0.034, None, "3.4%"),
        (0.1, None, "10%"),  # from 10% whole numbers
        (0.0999, None, "10.0%"),  # 9.99% is below 10%: one decimal
        (0.01, None, "1.0%"),
        (0.0, None, "0%"),
        (1.0, None, "100%"),
        (-0.12, None, "-12%"),  # the size decides, not the sign
        (-0.05, None, "-5.0%"),
        (0.5, 2, "50.00%"),
        (0.034, 0, "3%"),
        (None, None, "—"),
        (None, 2, "—"),
    ],
)
def test_fmt_pct_of_a_fraction(fraction, digits, text):
    assert present.fmt_pct(fraction, digits) == text


@pytest.mark.parametrize(
    ("percent", "digits", "text"),
    [
        (53.4, None, "53%"),
        (3.42, None, "3.4%"),
        (10.0, None, "10%"),
        (9.96, None, "10.0%"),
        (1.0, None, "1.0%"),
        (0.0, None, "0%"),
        (-12.3, None, "-12%"),
        (53.456, 2, "53.46%"),
        (3.42, 0, "3%"),
        (None, None, "—"),
    ],
)
def test_fmt_pct100_of_a_percentage(percent, digits, text):
    assert present.fmt_pct100(percent, digits) == text


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (None, "—"),
        (0, "0 s"),
        (0.5, "30 s"),
        (0.75, "45 s"),
        (1, "1.0 min"),  # a minute is no longer seconds
        (4.5, "4.5 min"),
        (9.96, "10.0 min"),
        (10, "10 min"),  # from 10 minutes whole minutes
        (59.4, "59 min"),
        (60, "1 h"),  # an hour is no longer minutes
        (65, "1 h 5 min"),
        (125.4, "2 h 5 min"),
        (119.6, "2 h"),
    ],
)
def test_fmt_minutes(minutes, text):
    assert present.fmt_minutes(minutes) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (0, "0 s"),
        (45, "45 s"),
        (59.4, "59 s"),
        (60, "1 min 00 s"),
        (125, "2 min 05 s"),
        (3599, "59 min 59 s"),
        (3600, "1 h"),
        (3720, "1 h 2 min"),
        (5400, "1 h 30 min"),
    ],
)
def test_fmt_seconds(seconds, text):
    assert present.fmt_seconds(seconds) == text


@pytest.mark.parametrize(("value", "text"), [(4.16, "4.2 / 5"), (5, "5.0 / 5"), (None, "—")])
def test_fmt_csat(value, text):
    assert present.fmt_csat(value) == text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (None, "count", "—"),
        (None, "steps", "—"),
        (1234.4, "count", "1,234"),
        (1234.6, "count", "1,235"),
        (0.62, "fraction", "62%"),
        (0.5, "minutes", "30 s"),
        (4.5, "minutes", "4.5 min"),
        (125, "seconds", "2 min 05 s"),
        (4.16, "csat", "4.2 / 5"),
        (4.14, "steps", "4.1"),
    ],
)
def test_fmt_kpi_in_its_unit(value, unit, text):
    assert present.fmt_kpi(value, unit) == text


def _estimate(value, low, high, n=25) -> Estimate:
    return Estimate(value=value, n=n, low=low, high=high, method="bootstrap", few=False)


def _kpi(key: str, unit: str, value, low, high) -> KPI:
    est = _estimate(value, low, high)
    change = Change(
        current=value,
        previous=value,
        delta=0.0,
        p_value=None,
        test="none",
        significant=False,
        direction="none",
        label="no clear change",
    )
    return KPI(key=key, label=key, unit=unit, estimate=est, previous=est, change=change)


@pytest.mark.parametrize(
    ("low", "high", "text"),
    [(0.58, 0.66, "58% – 66%"), (None, 0.66, "—"), (0.58, None, "—"), (None, None, "—")],
)
def test_fmt_interval_of_a_kpi(low, high, text):
    assert present.fmt_interval(_kpi("completion_rate", "fraction", 0.62, low, high)) == text


def test_fmt_interval_uses_the_kpis_unit():
    kpi = _kpi("median_seconds_to_first_action", "seconds", 90.0, 60.0, 150.0)
    assert present.fmt_interval(kpi) == "1 min 00 s – 2 min 30 s"


# ── dates ───────────────────────────────────────────────────────────────────


def test_fmt_day_with_and_without_the_year():
    assert present.fmt_day(dt.date(2026, 11, 6)) == "6 Nov"
    assert present.fmt_day(dt.date(2026, 11, 6), with_year=True) == "6 Nov 2026"


@pytest.mark.parametrize(
    ("days", "with_year", "text"),
    [
        ([dt.date(2026, 12, 5), dt.date(2026, 11, 6)], False, "6 Nov – 5 Dec"),  # any order
        ([dt.date(2026, 11, 6), dt.date(2026, 12, 5)], True, "6 Nov – 5 Dec 2026"),
        ([dt.date(2025, 12, 20), dt.date(2026, 1, 5)], False, "20 Dec 2025 – 5 Jan 2026"),
        ([dt.date(2025, 12, 20), dt.date(2026, 1, 5)], True, "20 Dec 2025 – 5 Jan 2026"),
        ([dt.date(2026, 1, 5)], True, "5 Jan 2026"),
        ([dt.date(2026, 1, 5), dt.date(2026, 1, 5)], False, "5 Jan"),
        ([], False, "—"),
    ],
)
def test_fmt_span(days, with_year, text):
    assert present.fmt_span(days, with_year) == text


@pytest.mark.parametrize(
    ("value", "timezone", "text"),
    [
        (None, "UTC", "—"),
        (dt.date(2026, 12, 5), "Europe/Berlin", "5 Dec 2026"),
        (dt.datetime(2026, 12, 5, 23, 30, tzinfo=UTC), "UTC", "5 Dec 2026"),
        (dt.datetime(2026, 12, 5, 23, 30, tzinfo=UTC), "Europe/Berlin", "6 Dec 2026"),
        (dt.datetime(2026, 12, 6, 2, 0, tzinfo=UTC), "America/New_York", "5 Dec 2026"),
    ],
)
def test_fmt_date_takes_the_day_in_the_accounts_timezone(value, timezone, text):
    assert present.fmt_date(value, timezone) == text


# ── tables ──────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("cells", "numeric"),
    [
        (["1,234", "5"], True),
        (["−5"], True),  # a typographic minus
        (["+3"], True),
        (["-2"], True),
        (["—"], True),
        (["—x"], False),  # a dash alone, not a dash starting a word
        (["< 5"], True),
        (["<5"], True),
        (["<  5"], False),
        (["≈ 3"], True),
        (["12 min"], True),
        (["62% (55–69%)"], True),
        (["abc"], False),
        (["x1"], False),
        (["1", "abc"], False),  # every cell must be a number
        (["", "12"], True),  # empty cells do not count
        (["", " "], False),  # nothing but blanks is no number column
    ],
)
def test_numeric_columns_by_their_cells(cells, numeric):
    frame = pd.DataFrame({"Name": ["x"] * len(cells), "Value": cells})
    assert present.numeric_columns(frame) == [False, numeric]


def test_the_first_column_is_text_even_when_it_holds_numbers():
    assert present.numeric_columns(pd.DataFrame({"Count": ["1", "2"]})) == [False]


def test_text_columns_are_forced_to_text():
    frame = pd.DataFrame({"Name": ["x"], "Stars": ["5"], "N": ["7"]})
    frame.attrs["text_columns"] = ["Stars"]
    assert present.numeric_columns(frame) == [False, False, True]


def test_html_table_writes_escaped_cells_aligned_and_muted():
    # object cells, as built by hand: a None cell is left empty (pandas' own string
    # columns would hold NaN; the page's builders only ever write strings)
    frame = pd.DataFrame(
        {"Flow": [XSS, "Mail"], "Sessions": ["1,234", "5"], "Note <b>": ["ok", None]},
        dtype=object,
    )
    frame.attrs["few"] = [True, False]
    assert present.html_table(frame, label="Top <flows>") == (
        '<div class="rfa-scroll" tabindex="0" role="region" aria-label="Top &lt;flows&gt;">'
        '<table class="rfa-table"><thead><tr>'
        '<th scope="col" class="rfa-text">Flow</th>'
        '<th scope="col" class="rfa-num">Sessions</th>'
        '<th scope="col" class="rfa-text">Note &lt;b&gt;</th>'
        "</tr></thead><tbody>"
        '<tr class="rfa-few"><td class="rfa-text">' + XSS_ESCAPED + "</td>"
        '<td class="rfa-num">1,234</td><td class="rfa-text">ok</td></tr>'
        '<tr><td class="rfa-text">Mail</td><td class="rfa-num">5</td>'
        '<td class="rfa-text"></td></tr>'
        "</tbody></table></div>"
    )


def test_html_table_without_few_flags_or_label():
    frame = pd.DataFrame({"Flow": ["A", "B"], "Sessions": ["1", "2"]})
    frame.attrs["few"] = [True]  # fewer flags than rows: the rest are not muted
    assert present.html_table(frame) == (
        '<div class="rfa-scroll" tabindex="0" role="region" aria-label="Table">'
        '<table class="rfa-table"><thead><tr>'
        '<th scope="col" class="rfa-text">Flow</th>'
        '<th scope="col" class="rfa-num">Sessions</th>'
        "</tr></thead><tbody>"
        '<tr class="rfa-few"><td class="rfa-text">A</td><td class="rfa-num">1</td></tr>'
        '<tr><td class="rfa-text">B</td><td class="rfa-num">2</td></tr>'
        "</tbody></table></div>"
    )
    del frame.attrs["few"]
    assert '<tr class="rfa-few">' not in present.html_table(frame)


def test_html_table_of_no_rows_says_so_escaped():
    empty = pd.DataFrame(columns=["Flow", "Sessions"])
    assert present.html_table(empty) == '<p class="rfa-empty">No data in this window.</p>'
    assert present.html_table(empty, XSS) == f'<p class="rfa-empty">{XSS_ESCAPED}</p>'


RANKED_COLUMNS = ["Flow", "Sessions", "Completion", "95% interval", "Median duration", "Avg CSAT"]


def test_ranked_table_rows_with_and_without_intervals():
    rows = [
        RankedRow(
            id="a",
            name="VPN setup",
            sessions=1234,
            completed_sessions=765,
            completion_rate=0.62,
            completion_low=0.58,
            completion_high=0.66,
            median_duration_minutes=12.0,
            median_low=9.5,
            median_high=15.0,
            avg_csat=4.2,
            csat_low=3.9,
            csat_high=4.5,
            ratings=12,
        ),
        RankedRow(
            id="b",
            name="Printer",
            sessions=3,
            completed_sessions=1,
            completion_rate=1 / 3,
            median_duration_minutes=4.5,
            median_high=6.0,
            avg_csat=5.0,
            csat_high=5.0,
            ratings=1,
            few=True,
        ),
        RankedRow(
            id="c",
            name="Mail",
            sessions=2000,
            completed_sessions=0,
            completion_rate=0.0,
            completion_low=0.0,
            median_duration_minutes=None,
            median_low=1.0,
            median_high=2.0,
            avg_csat=None,
            csat_low=None,
            ratings=0,
        ),
        RankedRow(
            id="d",
            name="Wi-Fi",
            sessions=40,
            completed_sessions=36,
            completion_rate=0.9,
            completion_high=0.97,
            median_duration_minutes=30.0,
            median_low=20.0,
            avg_csat=4.0,
            csat_low=3.5,
            ratings=1500,
        ),
    ]
    frame = present.ranked_table(rows, "Flow")
    assert list(frame.columns) == RANKED_COLUMNS
    assert frame.to_dict("records") == [
        {
            "Flow": "VPN setup",
            "Sessions": "1,234",
            "Completion": "62%",
            "95% interval": "58% – 66%",
            "Median duration": "12 min (9.5 min – 15 min)",
            "Avg CSAT": "4.2 / 5 (3.9 – 4.5, n=12)",
        },
        {
            "Flow": "Printer",
            "Sessions": "3",
            "Completion": "33% · few sessions",
            "95% interval": "—",
            "Median duration": "4.5 min",
            "Avg CSAT": "5.0 / 5 (n=1)",
        },
        {
            "Flow": "Mail",
            "Sessions": "2,000",
            "Completion": "0%",
            "95% interval": "—",
            "Median duration": "—",
            "Avg CSAT": "—",
        },
        {
            "Flow": "Wi-Fi",
            "Sessions": "40",
            "Completion": "90%",
            "95% interval": "—",
            "Median duration": "30 min",
            "Avg CSAT": "4.0 / 5 (n=1,500)",
        },
    ]
    assert frame.attrs["few"] == [False, True, False, False]


def test_ranked_table_of_no_rows_keeps_its_columns():
    frame = present.ranked_table([], "Engineer")
    assert frame.empty
    assert list(frame.columns) == ["Engineer", *RANKED_COLUMNS[1:]]


def _step(i: int, **kw) -> StepRow:
    fields = dict(
        node_id=f"n{i}",
        node_title=f"Step {i}",
        visit_count=10,
        dropoff_count=1,
        dropoff_rate=0.1,
        helpful_yes=1,
        helpful_no=1,
        helpful_rate=0.5,
    )
    return StepRow(**(fields | kw))


def test_step_table_rows():
    rows = [
        _step(
            1,
            node_title="Restart router",
            visit_count=1234,
            dropoff_count=56,
            dropoff_rate=0.0454,
            dropoff_low=0.035,
            dropoff_high=0.0587,
            helpful_yes=30,
            helpful_no=10,
            helpful_rate=0.75,
            helpful_low=0.6,
            helpful_high=0.86,
        ),
        _step(
            2,
            node_title="Call ISP",
            visit_count=4,
            dropoff_count=1,
            dropoff_rate=0.25,
            helpful_yes=None,
            helpful_no=None,
            helpful_rate=None,
            few=True,
        ),
    ]
    frame = present.step_table(rows)
    assert list(frame.columns) == [
        "Step",
        "Visits",
        "Drop-offs",
        "Drop-off rate",
        "Thumbs up",
        "Thumbs down",
        "Helpful",
    ]
    assert frame.to_dict("records") == [
        {
            "Step": "Restart router",
            "Visits": "1,234",
            "Drop-offs": "56",
            "Drop-off rate": "4.5% (3.5% – 5.9%)",
            "Thumbs up": "30",
            "Thumbs down": "10",
            "Helpful": "75% (60% – 86%)",
        },
        {
            "Step": "Call ISP",
            "Visits": "4 · few sessions",
            "Drop-offs": "1",
            # the drop-off rate always has one decimal, and says when it has no interval
            "Drop-off rate": "25.0% (—)",
            "Thumbs up": "—",
            "Thumbs down": "—",
            "Helpful": "—",
        },
    ]
    assert frame.attrs["few"] == [False, True]


def test_step_table_shows_the_first_15_steps_unless_told():
    rows = [_step(i, few=(i == 0)) for i in range(16)]
    assert list(present.step_table(rows)["Step"]) == [f"Step {i}" for i in range(15)]
    shown = present.step_table(rows, limit=1)
    assert list(shown["Step"]) == ["Step 0"]
    assert shown.attrs["few"] == [True]


def test_comments_table_stars_and_text_columns():
    rows = [
        Comment(rating=4, comment=XSS, date=dt.date(2026, 12, 1)),
        Comment(rating=1, comment="slow", date=dt.date(2026, 11, 30)),
        Comment(rating=5, comment="great", date=dt.date(2026, 11, 29)),
    ]
    frame = present.comments_table(rows, "UTC")
    assert list(frame.columns) == ["Date", "Rating", "Comment"]
    assert frame.to_dict("records") == [
        {"Date": "1 Dec 2026", "Rating": "★★★★☆", "Comment": XSS},
        {"Date": "30 Nov 2026", "Rating": "★☆☆☆☆", "Comment": "slow"},
        {"Date": "29 Nov 2026", "Rating": "★★★★★", "Comment": "great"},
    ]
    assert frame.attrs["text_columns"] == ["Date", "Rating", "Comment"]


def test_comments_table_of_no_comment_keeps_its_columns():
    frame = present.comments_table([], "UTC")
    assert frame.empty and list(frame.columns) == ["Date", "Rating", "Comment"]


def test_data_quality_text_lists_each_finding_escaped():
    findings = [
        DataQualityFinding(
            check="orphan_ratings",
            count=1234,
            description="ratings of a session not in the account were dropped",
        ),
        DataQualityFinding(check="x<y>", count=1, description=XSS),
    ]
    assert present.data_quality_text(findings) == (
        "<p>Faulty rows found in the data behind this page, and what was done with them; "
        "the numbers above leave them out wherever they would be wrong:</p><ul>"
        "<li><strong>1,234</strong> ratings of a session not in the account were dropped "
        "(orphan_ratings).</li>"
        f"<li><strong>1</strong> {XSS_ESCAPED} (x&lt;y&gt;).</li></ul>"
    )
    assert present.data_quality_text([]) == (
        "<p>No faulty rows were found in the data behind this page.</p>"
    )


def test_domain_table_rows():
    rows = [
        DomainBreakdownRow(
            domain="line_of_business",
            total=1234,
            resolved=700,
            escalated=300,
            resolution_rate_pct=56.7,
            resolution_low_pct=53.9,
            resolution_high_pct=59.4,
        ),
        DomainBreakdownRow(
            domain="voip", total=3, resolved=1, escalated=2, resolution_rate_pct=33.3, few=True
        ),
    ]
    frame = present.domain_table(rows)
    assert list(frame.columns) == [
        "Domain",
        "AI sessions",
        "Resolved",
        "Escalated",
        "Resolution rate",
        "95% interval",
    ]
    assert frame.to_dict("records") == [
        {
            "Domain": "Line of business",
            "AI sessions": "1,234",
            "Resolved": "700",
            "Escalated": "300",
            "Resolution rate": "57%",
            "95% interval": "54% – 59%",
        },
        {
            "Domain": "VoIP",
            "AI sessions": "3 · few sessions",
            "Resolved": "1",
            "Escalated": "2",
            "Resolution rate": "33%",
            "95% interval": "—",
        },
    ]
    assert frame.attrs["few"] == [False, True]


def test_coverage_table_rows():
    rows = [
        DomainCoverageRow(
            domain="m365",
            flow_count=0,
            session_count=1500,
            resolution_rate_pct=62.4,
            escalation_rate_pct=20.0,
            guided_rate_pct=5.5,
            avg_resolution_minutes=42.0,
            uncovered=True,
            resolution_low_pct=55.2,
            resolution_high_pct=69.4,
            escalation_low_pct=15.0,
            escalation_high_pct=25.6,
            guided_low_pct=3.2,
            guided_high_pct=8.1,
            avg_resolution_low=35.4,
            avg_resolution_high=48.7,
        ),
        DomainCoverageRow(
            domain="printers",
            flow_count=2,
            session_count=4,
            resolution_rate_pct=50.0,
            escalation_rate_pct=25.0,
            guided_rate_pct=0.0,
            avg_resolution_minutes=None,
            uncovered=False,
            few=True,
        ),
        DomainCoverageRow(
            domain="vpn",
            flow_count=1,
            session_count=20,
            resolution_rate_pct=10.0,
            escalation_rate_pct=9.5,
            guided_rate_pct=100.0,
            avg_resolution_minutes=0.5,
            uncovered=False,
            resolution_high_pct=30.0,
            escalation_low_pct=2.0,
            guided_low_pct=83.2,
            guided_high_pct=100.0,
            avg_resolution_low=0.2,
        ),
    ]
    frame = present.coverage_table(rows)
    assert list(frame.columns) == [
        "Domain",
        "Flows matched",
        "AI sessions",
        "Resolution",
        "Escalation",
        "Guided",
        "Avg resolution",
    ]
    assert frame.to_dict("records") == [
        {
            "Domain": "M365 ⚠ no flow",
            "Flows matched": "0",
            "AI sessions": "1,500",
            "Resolution": "62% (55–69%)",
            "Escalation": "20% (15–26%)",
            "Guided": "5.5% (3–8%)",
            "Avg resolution": "42 min (35 min – 49 min)",
        },
        {
            "Domain": "Printers",
            "Flows matched": "2",
            "AI sessions": "4 · few sessions",
            "Resolution": "50%",
            "Escalation": "25%",
            "Guided": "0%",
            "Avg resolution": "—",
        },
        {
            "Domain": "VPN",
            "Flows matched": "1",
            "AI sessions": "20",
            "Resolution": "10%",
            "Escalation": "9.5%",
            "Guided": "100% (83–100%)",
            "Avg resolution": "30 s",
        },
    ]
    assert frame.attrs["few"] == [False, True, False]


def _quality_row(**kw) -> FlowQualityRow:
    fields = dict(
        flow_id="f1",
        name="Reset <b>password</b>",
        tree_type=None,
        usage_count=1234,
        resolved_sessions=800,
        success_rate_pct=64.8,
        adjusted_success_rate_pct=63.0,
        last_matched_at=dt.datetime(2026, 12, 5, 23, 30, tzinfo=UTC),
        avg_confidence=0.82,
        confidence_low=0.79,
        confidence_high=0.84,
        quality_score=72.6,
        needs_attention=False,
        success_low_pct=62.1,
        success_high_pct=67.4,
    )
    return FlowQualityRow(**(fields | kw))


def test_quality_table_rows_in_the_accounts_timezone():
    rows = [
        _quality_row(),
        _quality_row(
            flow_id="f2",
            name="Printer",
            usage_count=2,
            resolved_sessions=1,
            success_rate_pct=50.0,
            last_matched_at=dt.datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
            avg_confidence=None,
            confidence_low=None,
            confidence_high=None,
            quality_score=40.0,
            needs_attention=True,
            success_low_pct=None,
            success_high_pct=None,
            few=True,
        ),
    ]
    frame = present.quality_table(rows, "Europe/Berlin")
    assert list(frame.columns) == [
        "Flow",
        "Score",
        "Uses",
        "Success",
        "Avg confidence",
        "Last matched",
    ]
    assert frame.to_dict("records") == [
        {
            "Flow": "Reset <b>password</b>",
            "Score": "73",
            "Uses": "1,234",
            "Success": "65% (62% – 67%)",
            "Avg confidence": "82% (79% – 84%)",
            "Last matched": "6 Dec 2026",  # 23:30 UTC is past midnight in Berlin
        },
        {
            "Flow": "Printer",
            "Score": "40",
            "Uses": "2 · few sessions",
            "Success": "50% (—)",
            "Avg confidence": "—",
            "Last matched": "1 Dec 2026",
        },
    ]
    assert frame.attrs["few"] == [False, True]


def _push_row(post_type: str, pushes: int, first: int, retry: int, **kw) -> PsaPushTypeRow:
    return PsaPushTypeRow(
        post_type=post_type,
        pushes=pushes,
        first_try_successes=first,
        retry_successes=retry,
        failed=pushes - first - retry,
        **kw,
    )


def test_psa_types_table_rows():
    rows = [
        _push_row(
            "time_entry",
            120,
            100,
            15,
            success_rate_pct=95.8,
            success_low_pct=90.4,
            success_high_pct=98.2,
        ),
        _push_row("doc", 3, 1, 1, success_rate_pct=66.7, few=True),
        # a type without pushes is muted but does not claim "few sessions"
        _push_row("ticket_note", 0, 0, 0, success_rate_pct=None, few=True),
    ]
    frame = present.psa_types_table(rows)
    assert list(frame.columns) == [
        "Post type",
        "Pushes",
        "First try",
        "After retry",
        "Failed",
        "Success rate",
    ]
    assert frame.to_dict("records") == [
        {
            "Post type": "Time entry",
            "Pushes": "120",
            "First try": "100",
            "After retry": "15",
            "Failed": "5",
            "Success rate": "96% (90–98%)",
        },
        {
            "Post type": "Doc",
            "Pushes": "3 · few sessions",
            "First try": "1",
            "After retry": "1",
            "Failed": "1",
            "Success rate": "67%",
        },
        {
            "Post type": "Ticket note",
            "Pushes": "0",
            "First try": "0",
            "After retry": "0",
            "Failed": "0",
            "Success rate": "—",
        },
    ]
    assert frame.attrs["few"] == [False, True, True]


# ── knowledge gaps ──────────────────────────────────────────────────────────


def _gap(**kw) -> Gap:
    fields = dict(
        kind="domain_high_escalation",
        severity="high",
        subject="line_of_business",
        metric="escalation_rate",
        rate=0.62,
        threshold=0.4,
        direction="at_least",
        margin=0.37,
        evidence_sessions=1234,
        rate_low=0.48,
        rate_high=0.74,
        evidence=GapEvidence(sessions=1234, escalated=765),
        action="write_flow",
        suggested_action="Write a flow for Line of business",
    )
    return Gap(**(fields | kw))


def test_gap_evidence_in_words():
    assert present.gap_evidence(_gap()) == (
        "62% of 1,234 sessions (95% interval 48% – 74%; threshold 40%)"
    )
    assert present.gap_evidence(_gap(evidence_sessions=5, few=True)) == (
        "62% of 5 sessions · few sessions (95% interval 48% – 74%; threshold 40%)"
    )
    assert present.gap_evidence(_gap(rate_low=None, rate_high=None)) == (
        "62% of 1,234 sessions (95% interval —; threshold 40%)"
    )


def test_gap_evidence_without_a_rate_is_a_count():
    # gap_evidence also reads gaps without a rate (duck-typed: the Gap model always has one)
    gap = SimpleNamespace(rate=None, evidence_sessions=1234, few=False)
    assert present.gap_evidence(gap) == "1,234 sessions"
    gap = SimpleNamespace(rate=None, evidence_sessions=4, few=True)
    assert present.gap_evidence(gap) == "4 sessions · few sessions"


def _action_item(cls: str, severity: str, what: str, evidence: str) -> str:
    return (
        f'<li class="{cls}"><span class="rfa-badge rfa-badge--{severity}">{severity}</span>'
        f'<p class="rfa-action-what">{what}</p>'
        f'<p class="rfa-action-evidence">{evidence}</p></li>'
    )


def test_gaps_actions_html_most_severe_first_and_the_rest_behind_show_all():
    low = _gap(
        kind="flow_option_bad_outcomes",
        severity="low",
        subject="Wi-Fi drops › “No”",
        metric="bad_outcome_rate",
        rate=0.55,
        threshold=0.5,
        rate_low=None,
        rate_high=None,
        evidence_sessions=9,
        few=True,
        action="review_option",
        suggested_action="Review the option",
    )
    medium = _gap(severity="medium", subject="voip", suggested_action="Approve proposals")
    high = _gap(suggested_action=XSS)
    html = present.gaps_actions_html([low, medium, high], shown=2)
    assert html == (
        '<ol class="rfa-actions">'
        + _action_item(
            "rfa-action",
            "high",
            XSS_ESCAPED,
            "Domain high escalation · Line of business · 62% of 1,234 sessions "
            "(95% interval 48% – 74%; threshold 40%)",
        )
        + _action_item(
            "rfa-action",
            "medium",
            "Approve proposals",
            "Domain high escalation · VoIP · 62% of 1,234 sessions "
            "(95% interval 48% – 74%; threshold 40%)",
        )
        + "</ol>"
        '<details class="rfa-details"><summary>Show all 3 gaps</summary>'
        '<ol class="rfa-actions" start="3">'
        + _action_item(
            "rfa-action rfa-few",
            "low",
            "Review the option",
            "Flow option bad outcomes · Wi-Fi drops › “No” · 55% of 9 sessions · few sessions "
            "(95% interval —; threshold 50%)",
        )
        + "</ol></details>"
    )


def test_gaps_actions_html_shows_five_by_default_and_no_details_when_all_fit():
    gaps = [_gap(suggested_action=f"Action {i}") for i in range(6)]
    html = present.gaps_actions_html(gaps)
    assert html.count("<li") == 6
    assert "<summary>Show all 6 gaps</summary>" in html
    assert '<ol class="rfa-actions" start="6">' in html
    assert html.index("Action 4") < html.index("<details") < html.index("Action 5")
    assert "<details" not in present.gaps_actions_html(gaps[:5])
    assert "<details" not in present.gaps_actions_html(gaps[:2], shown=2)


def test_gaps_actions_html_keeps_order_within_a_severity():
    gaps = [_gap(suggested_action=f"Action {i}") for i in (3, 1, 2)]
    html = present.gaps_actions_html(gaps)
    assert html.index("Action 3") < html.index("Action 1") < html.index("Action 2")


def test_a_gap_of_unknown_severity_comes_last_with_a_low_badge():
    odd = SimpleNamespace(
        severity="critical",
        kind="flow_high_escalation",
        subject=XSS,
        rate=None,
        evidence_sessions=12,
        few=False,
        suggested_action="Look",
    )
    html = present.gaps_actions_html([odd, _gap(severity="low")])
    assert html.index('rfa-badge--low">low<') < html.index("Look")
    assert (
        '<li class="rfa-action"><span class="rfa-badge rfa-badge--low">critical</span>'
        '<p class="rfa-action-what">Look</p>'
        f'<p class="rfa-action-evidence">Flow high escalation · {XSS_ESCAPED} · 12 sessions'
        "</p></li>"
    ) in html


def test_no_gap_says_so():
    assert present.gaps_actions_html([]) == (
        '<p class="rfa-empty">No gap passes the thresholds in this window.</p>'
    )


def _thresholds_html(min_sessions: int = 10, excess: str = "0.1") -> str:
    return (
        '<details class="rfa-details"><summary>Thresholds in force</summary><ul>'
        f"<li><code>min_sessions</code> = {min_sessions}</li>"
        "<li><code>min_escalation_rate</code> = 0.4</li>"
        "<li><code>max_guided_rate</code> = 0.3</li>"
        "<li><code>min_discovery_share</code> = 0.3</li>"
        "<li><code>min_flow_escalation_rate</code> = 0.5</li>"
        "<li><code>min_option_sessions</code> = 8</li>"
        "<li><code>min_option_bad_outcome_rate</code> = 0.5</li>"
        f"<li><code>min_option_excess</code> = {excess}</li>"
        "<li><code>high_margin</code> = 0.5</li>"
        "<li><code>strong_evidence_factor</code> = 2.0</li>"
        "</ul><p>They are the notebook's parameters (see the glossary).</p></details>"
    )


def test_thresholds_text_lists_every_threshold_in_a_collapsed_block():
    assert present.thresholds_text(GapThresholds()) == _thresholds_html()
    assert present.thresholds_text(GapThresholds(min_option_excess=None)) == _thresholds_html(
        excess="None"
    )


def test_gap_scope_text():
    report = KnowledgeGapReport(
        thresholds=GapThresholds(min_sessions=12),
        gaps=[],
        domains_assessed=7,
        domains_below_min_sessions=3,
        sessions_without_domain=1234,
        options_assessed=2345,
    )
    assert present.gap_scope_text(report) == (
        '<div class="rfa-text-block"><ul>'
        "<li><strong>7</strong> problem domains had enough AI sessions to judge; "
        "<strong>3</strong> had too few</li>"
        "<li><strong>1,234</strong> AI sessions had no domain and are not judged by domain</li>"
        "<li><strong>2,345</strong> flow options had enough ended sessions</li></ul>"
        + _thresholds_html(min_sessions=12)
        + "</div>"
    )


# ── FlowPilot and coverage text ─────────────────────────────────────────────


def test_coverage_text():
    coverage = KnowledgeCoverage(
        total_flows=1234,
        ai_generated_flows=1001,
        proposals_pending=2345,
        proposals_approved_in_window=3456,
        proposals_rejected_in_window=4567,
        proposals_dismissed_in_window=5678,
    )
    assert present.coverage_text(coverage) == (
        '<ul class="rfa-text-block">'
        "<li><strong>1,234</strong> flows in the account, <strong>1,001</strong> written or "
        "enhanced by AI</li>"
        "<li><strong>2,345</strong> flow proposals waiting for review (any age)</li>"
        "<li>in this window: <strong>3,456</strong> approved or modified, "
        "<strong>4,567</strong> rejected, <strong>5,678</strong> dismissed</li></ul>"
    )


def test_quality_formula_text_escapes_the_formula():
    quality = FlowQuality(
        flows=[],
        top_performers=[],
        needs_attention=[],
        formula="score = 100 × (0.7·S + 0.2·C + 0.1·U) <k=5>",
        account_success_rate_pct=None,
        account_avg_confidence=None,
        prior_sessions=5,
        min_usage=12,
        limit=5,
        attention_success_pct=54.6,
        attention_score=39.6,
    )
    assert present.quality_formula_text(quality) == (
        '<div class="rfa-text-block"><p>A score from 0 to 100: mostly how often AI '
        "sessions matched to the flow were resolved, then how confident the matches were "
        "and how much the flow is used. Flows with few sessions are pulled toward the "
        "account's average, so one lucky session cannot top the list.</p>"
        "<p>Top performers and needs-attention lists only hold flows with at least "
        "<strong>12</strong> AI sessions; a flow needs attention when its success rate is "
        "below <strong>55%</strong> or its score below <strong>40</strong>.</p>"
        '<details class="rfa-details"><summary>Show the formula</summary>'
        "<p>score = 100 × (0.7·S + 0.2·C + 0.1·U) &lt;k=5&gt;</p></details></div>"
    )


PSA_TABLE = (
    '<div class="rfa-scroll" tabindex="0" role="region" aria-label="Table">'
    '<table class="rfa-table"><thead><tr>'
    '<th scope="col" class="rfa-text">Post type</th>'
    '<th scope="col" class="rfa-num">Pushes</th>'
    '<th scope="col" class="rfa-num">First try</th>'
    '<th scope="col" class="rfa-num">After retry</th>'
    '<th scope="col" class="rfa-num">Failed</th>'
    '<th scope="col" class="rfa-num">Success rate</th>'
    "</tr></thead><tbody><tr>"
    '<td class="rfa-text">Doc</td><td class="rfa-num">1,234</td><td class="rfa-num">988</td>'
    '<td class="rfa-num">189</td><td class="rfa-num">57</td>'
    '<td class="rfa-num">95% (94–96%)</td>'
    "</tr></tbody></table></div>"
)


def _psa(**kw) -> PsaMetrics:
    fields = dict(
        ticket_link_rate_pct=45.2,
        ticket_link_low_pct=41.0,
        ticket_link_high_pct=49.4,
        total_pushes=1234,
        push_success_first_try_pct=80.1,
        push_success_first_try_low_pct=77.8,
        push_success_first_try_high_pct=82.3,
        push_success_after_retry_pct=15.3,
        push_success_after_retry_low_pct=13.4,
        push_success_after_retry_high_pct=17.4,
        push_success_overall_pct=95.4,
        pushes_by_type=[
            _push_row(
                "doc",
                1234,
                988,
                189,
                success_rate_pct=95.4,
                success_low_pct=94.1,
                success_high_pct=96.4,
            )
        ],
        time_entries=321,
        hours_logged=1234.56,
        sessions_with_time_entry=300,
        avg_hours_per_session=4.1234,
        funnel=PsaFunnel(
            total_sessions=2500, linked_to_ticket=1130, doc_pushed=900, time_entry_logged=300
        ),
        stage_counts=PsaStageCounts(
            total_sessions=2500, linked_to_ticket=1130, doc_pushed=950, time_entry_logged=321
        ),
        daily_trend=[],
    )
    return PsaMetrics(**(fields | kw))


def test_psa_html_lists_each_rate_with_its_n_and_interval():
    assert present.psa_html(_psa()) == (
        "<ul>"
        "<li>Linked to a PSA ticket: <b>45%</b> of n=2,500 AI sessions "
        "(95% interval 41% – 49%)</li>"
        "<li>Pushes succeeded at the first try: <b>80%</b> (95% interval 78% – 82%), "
        "after retries: <b>15%</b> (95% interval 13% – 17%) (of n=1,234 pushes)</li>"
        "<li>Time entries logged: <b>321</b>, <b>1,234.6 h</b> in all, "
        "4.12 h per session with an entry</li>"
        "</ul>" + PSA_TABLE
    )


def test_psa_html_without_sessions_pushes_or_time_entries():
    psa = _psa(
        ticket_link_rate_pct=None,
        ticket_link_low_pct=None,
        ticket_link_high_pct=None,
        total_pushes=0,
        push_success_first_try_pct=None,
        push_success_first_try_low_pct=None,
        push_success_first_try_high_pct=None,
        push_success_after_retry_pct=None,
        push_success_after_retry_low_pct=None,
        push_success_after_retry_high_pct=None,
        push_success_overall_pct=None,
        pushes_by_type=[],
        time_entries=0,
        hours_logged=0.0,
        sessions_with_time_entry=0,
        avg_hours_per_session=None,
        funnel=PsaFunnel(total_sessions=0, linked_to_ticket=0, doc_pushed=0, time_entry_logged=0),
    )
    assert present.psa_html(psa) == (
        "<ul>"
        "<li>Linked to a PSA ticket: <b>—</b> of n=0 AI sessions (95% interval —)</li>"
        "<li>Pushes succeeded at the first try: <b>—</b> (95% interval —), "
        "after retries: <b>—</b> (95% interval —) (of n=0 pushes)</li>"
        "<li>Time entries logged: <b>0</b>, <b>0.0 h</b> in all</li>"
        "</ul>"
        '<p class="rfa-empty">No PSA pushes.</p>'
    )


# ── escalations ─────────────────────────────────────────────────────────────

ESCALATION_DEFINITION = (
    '<div class="rfa-text-block"><p class="rfa-definition">The time from an engineer '
    "claiming a FlowPilot hand-off to the first AI-session step after the claim: how "
    "quickly work resumes. It is not time saved (the full definition is in the "
    "glossary).</p><ul>"
)


def _escalations(**kw) -> EscalationMetrics:
    fields = dict(
        n_handoffs_claimed=1234,
        n_handoffs_with_action=1200,
        n_handoffs_without_action=34,
        n_handoffs_unclaimed=5678,
        action_conversion_rate=1200 / 1234,
        avg_seconds_to_first_action=125.0,
        median_seconds_to_first_action=90.0,
        p95_seconds_to_first_action=3720.0,
        n_values=1200,
        small_sample=False,
        n_negative_floored=3,
        histogram=[],
        avg_seconds_low=110.0,
        avg_seconds_high=140.0,
    )
    return EscalationMetrics(**(fields | kw))


COUNTS_ITEM = (
    "<li><strong>1,234</strong> hand-offs claimed in the window, <strong>1,200</strong> "
    "followed by an AI-session step, <strong>34</strong> claimed but never acted on; "
    "<strong>5,678</strong> created in the window were never claimed.</li>"
)


def test_escalation_text_without_kpis():
    assert present.escalation_text(_escalations()) == (
        ESCALATION_DEFINITION + COUNTS_ITEM + "<li>Over 1,200 acted-on hand-offs: average "
        "<strong>2 min 05 s</strong> (95% interval 1 min 50 s – 2 min 20 s), "
        "median <strong>1 min 30 s</strong>, p95 <strong>1 h 2 min</strong>.</li>"
        "<li><strong>3</strong> lags below zero (clock drift) were counted as 0 s.</li>"
        "</ul></div>"
    )


def _escalation_kpis() -> list[KPI]:
    return [
        _kpi("median_seconds_to_first_action", "seconds", 90.0, 60.0, 150.0),
        # the p95's bootstrap interval could not be computed: the value alone
        _kpi("p95_seconds_to_first_action", "seconds", 3900.0, None, 4000.0),
        _kpi("n_handoffs_claimed", "count", 1234, 1100, 1400),
    ]


EXPECTED_WITH_KPIS = (
    ESCALATION_DEFINITION + COUNTS_ITEM + "<li>Over 1,200 acted-on hand-offs: average "
    "<strong>2 min 05 s</strong> (95% interval 1 min 50 s – 2 min 20 s), "
    "median <strong>1 min 30 s</strong> (1 min 00 s – 2 min 30 s), "
    "p95 <strong>1 h 5 min</strong>.</li>"
    "<li><strong>3</strong> lags below zero (clock drift) were counted as 0 s.</li>"
    "</ul></div>"
)


def test_escalation_text_takes_the_quantiles_and_their_intervals_from_the_kpis():
    assert present.escalation_text(_escalations(), _escalation_kpis()) == EXPECTED_WITH_KPIS


def test_escalation_text_takes_the_kpis_as_a_dict_too():
    kpis = {k.key: k for k in _escalation_kpis()}
    assert present.escalation_text(_escalations(), kpis) == EXPECTED_WITH_KPIS


def test_escalation_text_with_a_kpi_without_its_upper_bound():
    kpis = [_kpi("median_seconds_to_first_action", "seconds", 95.0, 60.0, None)]
    text = present.escalation_text(_escalations(avg_seconds_high=None), kpis)
    assert (
        "average <strong>2 min 05 s</strong>, median <strong>1 min 35 s</strong>, "
        "p95 <strong>1 h 2 min</strong>.</li>"
    ) in text


def test_escalation_text_average_without_its_lower_bound():
    text = present.escalation_text(_escalations(avg_seconds_low=None))
    assert "average <strong>2 min 05 s</strong>, median" in text


def test_escalation_text_flags_a_small_sample():
    text = present.escalation_text(_escalations(n_values=12, small_sample=True))
    assert (
        "<li>Over 12 acted-on hand-offs: average <strong>2 min 05 s</strong> "
        "(95% interval 1 min 50 s – 2 min 20 s), median <strong>1 min 30 s</strong>, "
        "p95 <strong>1 h 2 min</strong>. Only <strong>12</strong> values back the p95: "
        "read it as indicative.</li>"
    ) in text


def test_escalation_text_without_any_lag():
    metrics = _escalations(
        n_handoffs_claimed=0,
        n_handoffs_with_action=0,
        n_handoffs_without_action=0,
        n_handoffs_unclaimed=0,
        action_conversion_rate=None,
        avg_seconds_to_first_action=None,
        median_seconds_to_first_action=None,
        p95_seconds_to_first_action=None,
        n_values=0,
        small_sample=True,
        n_negative_floored=0,
        avg_seconds_low=None,
        avg_seconds_high=None,
    )
    assert present.escalation_text(metrics) == (
        ESCALATION_DEFINITION + "<li><strong>0</strong> hand-offs claimed in the window, "
        "<strong>0</strong> followed by an AI-session step, <strong>0</strong> claimed but "
        "never acted on; <strong>0</strong> created in the window were never claimed.</li>"
        "<li>Over 0 acted-on hand-offs: average <strong>—</strong>, median <strong>—</strong>, "
        "p95 <strong>—</strong>.</li>"
        "<li><strong>0</strong> lags below zero (clock drift) were counted as 0 s.</li>"
        "</ul></div>"
    )


# ── the flow page's comments ────────────────────────────────────────────────


def _flow_page(comments_shown: bool, comments: list[Comment], raters: int = 5):
    # comments_html reads only these attributes of a FlowPage
    return SimpleNamespace(
        privacy=PrivacyNote(
            min_group_size=3,
            raters=raters,
            csat_shown=comments_shown,
            comments_shown=comments_shown,
            steps_withheld=0,
        ),
        recent_comments=comments,
        meta=SimpleNamespace(
            account=AccountInfo(id="a1", slug="acme", name="Acme", timezone="Europe/Berlin")
        ),
    )


def test_comments_html_withheld_says_why():
    page = _flow_page(False, [Comment(rating=5, comment="x", date=dt.date(2026, 12, 1))], 2)
    assert present.comments_html(page) == (
        '<p class="rfa-empty">Comments withheld: fewer than 3 engineers rated this flow in '
        "the window (2), so a comment could point at one person.</p>"
    )


def test_comments_html_shows_the_comments_escaped():
    page = _flow_page(True, [Comment(rating=4, comment=XSS, date=dt.date(2026, 12, 1))])
    assert present.comments_html(page) == (
        '<div class="rfa-scroll" tabindex="0" role="region" aria-label="Recent comments">'
        '<table class="rfa-table"><thead><tr>'
        '<th scope="col" class="rfa-text">Date</th>'
        '<th scope="col" class="rfa-text">Rating</th>'
        '<th scope="col" class="rfa-text">Comment</th>'
        "</tr></thead><tbody><tr>"
        '<td class="rfa-text">1 Dec 2026</td><td class="rfa-text">★★★★☆</td>'
        f'<td class="rfa-text">{XSS_ESCAPED}</td>'
        "</tr></tbody></table></div>"
    )


def test_comments_html_without_comments():
    assert present.comments_html(_flow_page(True, [])) == (
        '<p class="rfa-empty">No comments in this window.</p>'
    )


# ── database text never becomes markup ──────────────────────────────────────


def _hostile_pages() -> dict[str, str]:
    return {
        "ranked": present.html_table(
            present.ranked_table(
                [
                    RankedRow(
                        id="x",
                        name=XSS,
                        sessions=1,
                        completed_sessions=1,
                        completion_rate=1.0,
                        median_duration_minutes=None,
                        avg_csat=None,
                        ratings=0,
                    )
                ],
                XSS,
            )
        ),
        "domains": present.html_table(
            present.domain_table(
                [
                    DomainBreakdownRow(
                        domain=XSS, total=1, resolved=1, escalated=0, resolution_rate_pct=100.0
                    )
                ]
            )
        ),
        "coverage": present.html_table(
            present.coverage_table(
                [
                    DomainCoverageRow(
                        domain=XSS,
                        flow_count=0,
                        session_count=1,
                        resolution_rate_pct=0.0,
                        escalation_rate_pct=0.0,
                        guided_rate_pct=0.0,
                        avg_resolution_minutes=None,
                        uncovered=True,
                    )
                ]
            )
        ),
        "quality": present.html_table(present.quality_table([_quality_row(name=XSS)], "UTC")),
        "psa types": present.html_table(
            present.psa_types_table([_push_row(XSS, 1, 1, 0, success_rate_pct=100.0)])
        ),
        "steps": present.html_table(present.step_table([_step(1, node_title=XSS)])),
        "gap subject": present.gaps_actions_html([_gap(kind="flow_high_escalation", subject=XSS)]),
        "domain gap subject": present.gaps_actions_html([_gap(subject=XSS)]),
        "comments": present.comments_html(
            _flow_page(True, [Comment(rating=3, comment=XSS, date=dt.date(2026, 1, 2))])
        ),
        "findings": present.data_quality_text(
            [DataQualityFinding(check=XSS, count=1, description=XSS)]
        ),
    }


@pytest.mark.parametrize("name", list(_hostile_pages()))
def test_database_text_comes_out_escaped(name):
    html = _hostile_pages()[name]
    assert "<img" not in html
    assert XSS_ESCAPED in html


# ── found by the first mutation run of this file ────────────────────────────


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        (
            lambda: present.step_table([]),
            [
                "Step",
                "Visits",
                "Drop-offs",
                "Drop-off rate",
                "Thumbs up",
                "Thumbs down",
                "Helpful",
            ],
        ),
        (
            lambda: present.domain_table([]),
            ["Domain", "AI sessions", "Resolved", "Escalated", "Resolution rate", "95% interval"],
        ),
        (
            lambda: present.coverage_table([]),
            [
                "Domain",
                "Flows matched",
                "AI sessions",
                "Resolution",
                "Escalation",
                "Guided",
                "Avg resolution",
            ],
        ),
        (
            lambda: present.quality_table([], "UTC"),
            ["Flow", "Score", "Uses", "Success", "Avg confidence", "Last matched"],
        ),
        (
            lambda: present.psa_types_table([]),
            ["Post type", "Pushes", "First try", "After retry", "Failed", "Success rate"],
        ),
    ],
    ids=["steps", "domains", "coverage", "quality", "psa types"],
)
def test_a_table_of_no_rows_keeps_its_columns(table, columns):
    frame = table()
    assert frame.empty
    assert list(frame.columns) == columns
    assert frame.attrs["few"] == []


def test_fmt_span_leaves_the_year_out_unless_told():
    assert present.fmt_span([dt.date(2026, 11, 6), dt.date(2026, 12, 5)]) == "6 Nov – 5 Dec"
    assert present.fmt_span([dt.date(2026, 1, 5)]) == "5 Jan"


def test_a_post_type_with_one_push_is_few():
    frame = present.psa_types_table([_push_row("doc", 1, 1, 0, success_rate_pct=100.0, few=True)])
    assert frame.iloc[0]["Pushes"] == "1 · few sessions"


def test_the_gaps_behind_show_all_follow_one_another():
    gaps = [_gap(suggested_action=f"Action {i}", subject="vpn") for i in range(3)]
    evidence = "Domain high escalation · VPN · 62% of 1,234 sessions " + (
        "(95% interval 48% – 74%; threshold 40%)"
    )
    assert present.gaps_actions_html(gaps, shown=1) == (
        '<ol class="rfa-actions">'
        + _action_item("rfa-action", "high", "Action 0", evidence)
        + "</ol>"
        '<details class="rfa-details"><summary>Show all 3 gaps</summary>'
        '<ol class="rfa-actions" start="2">'
        + _action_item("rfa-action", "high", "Action 1", evidence)
        + _action_item("rfa-action", "high", "Action 2", evidence)
        + "</ol></details>"
    )
