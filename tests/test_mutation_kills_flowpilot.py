"""Mutation kills for rfa.metrics.flowpilot (issue 21): every field of the returned models.

Expected values are hand-computed, or for the 95% intervals taken from statsmodels
(Wilson, ``proportion_confint``) and scipy (Student t) directly — never from
:mod:`rfa.metrics.uncertainty`. Rates are percentages, confidences fractions.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from factories_ai import ai, ai_sessions, flows, posts, proposals
from rfa.metrics import flowpilot as m
from rfa.window import EARLIEST, Window, make_window

WINDOW = make_window("2026-11-10..2026-11-13", None, "UTC")  # [11-10 00:00, 11-14 00:00)


def wilson_pct(k: int, n: int) -> tuple[float, float]:
    """statsmodels' 95% Wilson interval of k / n, in percent."""
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    return float(low) * 100, float(high) * 100


def t_interval(values: list[float]) -> tuple[float, float]:
    """scipy's 95% Student t interval of the mean of ``values`` (uncut)."""
    x = np.asarray(values, dtype=float)
    low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    return float(low), float(high)


def approx(value):
    return pytest.approx(value, rel=1e-9, abs=1e-9)


# ------------------------------------------------------------- empty window


def test_a_window_without_days_gives_empty_daily_trends():
    # Window.previous() of a window starting at EARLIEST is this zero-length window.
    empty = Window(start=EARLIEST, end=EARLIEST, timezone="UTC", period="previous")
    sessions = ai_sessions([ai("a", "resolved", resolved="2026-11-10 10:30")])
    entry = posts([("p", "a", "time_entry", "success", 0, 1.0, "2026-11-10 11:00")])
    assert m.mttr_trend(sessions, empty) == []
    assert m.psa_metrics(sessions, entry, entry, empty).daily_trend == []


# -------------------------------------------------------- mttr trend intervals


def test_mttr_trend_points_carry_the_t_interval_cut_at_zero_minutes():
    sessions = ai_sessions(
        [
            ai("a", "resolved", created="2026-11-10 10:00", resolved="2026-11-10 10:01"),
            ai("b", "resolved", created="2026-11-10 11:00", resolved="2026-11-10 12:40"),
            ai("c", "resolved", created="2026-11-12 09:00", resolved="2026-11-12 09:20"),
        ]
    )
    _, high = t_interval([1.0, 100.0])  # the low end, 50.5 − 12.71 × 49.5, is negative
    trend = m.mttr_trend(sessions, WINDOW)
    assert [p.model_dump() for p in trend] == [
        {
            "date": dt.date(2026, 11, 10),
            "resolved_sessions": 2,
            "mttr_minutes": 50.5,
            "mttr_low": 0.0,
            "mttr_high": approx(high),
        },
        {
            "date": dt.date(2026, 11, 11),
            "resolved_sessions": 0,
            "mttr_minutes": None,
            "mttr_low": None,
            "mttr_high": None,
        },
        {  # one resolution: no spread, no interval
            "date": dt.date(2026, 11, 12),
            "resolved_sessions": 1,
            "mttr_minutes": 20.0,
            "mttr_low": None,
            "mttr_high": None,
        },
        {
            "date": dt.date(2026, 11, 13),
            "resolved_sessions": 0,
            "mttr_minutes": None,
            "mttr_low": None,
            "mttr_high": None,
        },
    ]
    assert high == approx(50.5 + stats.t.ppf(0.975, 1) * 49.5)


def test_mttr_trend_interval_of_two_close_values_is_not_cut():
    sessions = ai_sessions(
        [
            ai("a", "resolved", created="2026-11-10 10:00", resolved="2026-11-10 10:10"),
            ai("b", "resolved", created="2026-11-10 11:00", resolved="2026-11-10 11:11"),
        ]
    )
    low, high = t_interval([10.0, 11.0])
    point = m.mttr_trend(sessions, WINDOW)[0]
    assert (point.mttr_low, point.mttr_high) == (approx(low), approx(high))
    assert low > 0


# ---------------------------------------------------------- kpi_inputs


def test_kpi_inputs_count_zero_resolved_as_zero():
    sessions = ai_sessions([ai("a", "escalated"), ai("b", "abandoned")])
    inputs = m.kpi_inputs(sessions)
    assert (inputs["total"], inputs["resolved"]) == (2, 0)


# ------------------------------------------------------- sessions by domain


SMALL = ai_sessions(
    [
        ai("n1", "resolved", domain="net", tier="guided", tree="F1",
           created="2026-11-10 10:00", resolved="2026-11-10 10:01"),
        ai("n2", "resolved", domain="net", tier="exploring", tree="F1",
           created="2026-11-10 11:00", resolved="2026-11-10 12:40"),
        ai("n3", "escalated", domain="net", tier="guided"),
        ai("m1", "resolved", domain="mail", tier="discovery",
           created="2026-11-11 10:00", resolved="2026-11-11 10:30"),
        ai("x1", "abandoned", tier="exploring"),  # no domain
    ]
)  # fmt: skip


def test_sessions_by_domain_rows_with_wilson_intervals_and_few_below_min_n():
    rows = m.sessions_by_domain(SMALL, min_n=3)
    low2, high2 = wilson_pct(2, 3)
    assert [r.model_dump() for r in rows] == [
        {
            "domain": "net",
            "total": 3,
            "resolved": 2,
            "escalated": 1,
            "resolution_rate_pct": approx(200 / 3),
            "resolution_low_pct": approx(low2),
            "resolution_high_pct": approx(high2),
            "few": False,  # 3 is not below min_n 3
        },
        {
            "domain": "mail",
            "total": 1,
            "resolved": 1,
            "escalated": 0,
            "resolution_rate_pct": 100.0,
            "resolution_low_pct": approx(wilson_pct(1, 1)[0]),
            "resolution_high_pct": 100.0,  # exactly 100 at 1 of 1
            "few": True,
        },
    ]


# ------------------------------------------------------ confidence breakdown


def test_confidence_breakdown_rows_with_intervals_zero_fill_and_few():
    sessions = ai_sessions(
        [
            ai("g1", "resolved", tier="guided"),
            ai("g2", "resolved", tier="guided"),
            ai("g3", "escalated", tier="guided"),
            ai("x1", "abandoned", tier="exploring"),  # not ended: not counted
            ai("d1", "requesting_escalation", tier="discovery"),
        ]
    )
    rows = m.confidence_breakdown(sessions, min_n=3)
    low, high = wilson_pct(2, 3)
    assert [r.model_dump() for r in rows] == [
        {
            "tier": "guided",
            "sessions": 3,
            "resolved": 2,
            "resolution_rate_pct": approx(200 / 3),
            "resolution_low_pct": approx(low),
            "resolution_high_pct": approx(high),
            "few": False,  # 3 is not below min_n 3
        },
        {
            "tier": "exploring",
            "sessions": 0,
            "resolved": 0,  # zero-filled: no resolved session either
            "resolution_rate_pct": None,
            "resolution_low_pct": None,
            "resolution_high_pct": None,
            "few": True,
        },
        {
            "tier": "discovery",
            "sessions": 1,
            "resolved": 0,
            "resolution_rate_pct": 0.0,
            "resolution_low_pct": 0.0,  # exactly 0 at 0 of 1
            "resolution_high_pct": approx(wilson_pct(0, 1)[1]),
            "few": True,
        },
    ]


# -------------------------------------------------------- knowledge coverage


def test_a_pending_proposal_created_at_the_windows_end_is_not_counted():
    props = proposals(
        [
            ("p1", "pending", "new_flow", "voip", "2026-11-13 23:59", None),
            ("p2", "pending", "new_flow", "voip", "2026-11-14 00:00", None),  # the end
        ]
    )
    cov = m.knowledge_coverage(flows([]), props, WINDOW)
    assert cov.proposals_pending == 1


# ------------------------------------------------------- coverage by domain


@pytest.mark.parametrize(("min_n", "few"), [(2, False), (3, True)])
def test_coverage_by_domain_row_carries_intervals_and_few(min_n, few):
    sessions = SMALL.filter(SMALL["problem_domain"] == "net").head(2)  # n1, n2
    cov = m.coverage_by_domain(sessions, min_n=min_n)
    _, high = t_interval([1.0, 100.0])
    assert [r.model_dump() for r in cov.domains] == [
        {
            "domain": "net",
            "flow_count": 1,
            "session_count": 2,
            "resolution_rate_pct": 100.0,
            "escalation_rate_pct": 0.0,
            "guided_rate_pct": 50.0,
            "avg_resolution_minutes": 50.5,
            "uncovered": False,
            "resolution_low_pct": approx(wilson_pct(2, 2)[0]),
            "resolution_high_pct": 100.0,
            "escalation_low_pct": 0.0,
            "escalation_high_pct": approx(wilson_pct(0, 2)[1]),
            "guided_low_pct": approx(wilson_pct(1, 2)[0]),
            "guided_high_pct": approx(wilson_pct(1, 2)[1]),
            "avg_resolution_low": 0.0,  # the t interval reaches below 0 minutes: cut
            "avg_resolution_high": approx(high),
            "few": few,
        }
    ]
    assert (cov.unmapped_session_count, cov.total_domains, cov.uncovered_domains) == (0, 1, [])


def test_coverage_by_domain_interval_of_close_durations_is_not_cut():
    sessions = ai_sessions(
        [
            ai(
                "a", "resolved", domain="d", created="2026-11-10 10:00", resolved="2026-11-10 10:10"
            ),
            ai(
                "b", "resolved", domain="d", created="2026-11-10 11:00", resolved="2026-11-10 11:11"
            ),
        ]
    )
    low, high = t_interval([10.0, 11.0])
    row = m.coverage_by_domain(sessions).domains[0]
    assert (row.avg_resolution_low, row.avg_resolution_high) == (approx(low), approx(high))
    assert row.few  # 2 < the default min_n 20


# ------------------------------------------------------------- flow quality


def test_flow_quality_row_fields_wilson_success_and_cut_confidence_interval():
    sessions = ai_sessions(
        [
            ai("a", "resolved", tree="F1", conf=0.0, created="2026-11-10 10:00"),
            ai("b", "escalated", tree="F1", conf=1.0, created="2026-11-11 10:00"),
        ]
    )
    q = m.flow_quality(sessions, flows([("F1", None, "procedural", "manual")]), min_n=2)
    low, high = wilson_pct(1, 2)
    # p0 = 0.5, S = (1 + 5·0.5) / 7 = 0.5; c0 = 0.5, C = (1 + 5·0.5) / 7 = 0.5; U = 1
    assert [r.model_dump() for r in q.flows] == [
        {
            "flow_id": "F1",
            "name": "Unnamed flow",
            "tree_type": "procedural",
            "usage_count": 2,
            "resolved_sessions": 1,
            "success_rate_pct": 50.0,
            "adjusted_success_rate_pct": approx(50.0),
            "last_matched_at": dt.datetime(2026, 11, 11, 10, tzinfo=dt.UTC),
            "avg_confidence": 0.5,
            # 0.5 ± 12.71 × 0.5 reaches far outside 0–1: cut to the fraction's range
            "confidence_low": 0.0,
            "confidence_high": 1.0,
            "quality_score": approx(100 * (0.6 * 0.5 + 0.25 * 0.5 + 0.15)),
            "needs_attention": False,  # usage 2 < min_usage 5
            "success_low_pct": approx(low),
            "success_high_pct": approx(high),
            "few": False,  # 2 is not below min_n 2
        }
    ]
    assert m.flow_quality(sessions, flows([("F1", None, None, "manual")]), min_n=3).flows[0].few


def test_flow_quality_confidence_interval_inside_zero_one_is_not_cut():
    confs = [0.5, 0.6, 0.5, 0.6]
    sessions = ai_sessions(
        [ai(f"a{i}", "resolved", tree="F1", conf=c) for i, c in enumerate(confs)]
    )
    low, high = t_interval(confs)
    row = m.flow_quality(sessions, flows([("F1", "One", None, "manual")])).flows[0]
    assert (row.confidence_low, row.confidence_high) == (approx(low), approx(high))
    assert 0 < low < high < 1
    assert row.few  # 2 < the default min_n 20


def test_account_success_rate_of_zero_shrinks_toward_zero_and_ignores_unknown_flows():
    sessions = ai_sessions(
        [
            ai("a", "escalated", tree="F1", conf=0.5),
            ai("b", "abandoned", tree="F1", conf=0.5),
            ai("c", "resolved", tree="GONE", conf=0.9),  # no flow of the account
        ]
    )
    q = m.flow_quality(sessions, flows([("F1", "One", None, "manual")]))
    assert q.account_success_rate_pct == 0.0  # 0 of 2: GONE's resolution is not in p₀
    assert q.account_avg_confidence == 0.5
    row = q.flows[0]
    assert (row.success_rate_pct, row.adjusted_success_rate_pct) == (0.0, 0.0)
    assert row.success_low_pct == 0.0
    assert row.quality_score == approx(100 * (0.25 * 0.5 + 0.15))


def test_flow_quality_keeps_the_first_of_duplicate_flow_rows():
    sessions = ai_sessions([ai("a", "resolved", tree="F1", conf=0.5)])
    dup = flows([("F1", "First", "procedural", "manual"), ("F1", "Second", None, "manual")])
    q = m.flow_quality(sessions, dup)
    assert [(r.flow_id, r.name, r.tree_type) for r in q.flows] == [("F1", "First", "procedural")]


def test_flow_quality_parameter_errors_have_exact_messages():
    sessions = ai_sessions([ai("a", "resolved", tree="F1")])
    one = flows([("F1", "One", None, "manual")])
    with pytest.raises(ValueError, match=r"^prior_sessions must be at least 1$"):
        m.flow_quality(sessions, one, prior_sessions=0)
    with pytest.raises(ValueError, match=r"^min_usage and limit must not be negative$"):
        m.flow_quality(sessions, one, limit=-1)
    with pytest.raises(ValueError, match=r"^min_usage and limit must not be negative$"):
        m.flow_quality(sessions, one, min_usage=-1)


def test_flow_quality_accepts_the_smallest_parameters():
    sessions = ai_sessions(
        [ai("a", "resolved", tree="F1", conf=0.5), ai("b", "escalated", tree="F1", conf=0.5)]
    )
    one = flows([("F1", "One", None, "manual")])
    q = m.flow_quality(sessions, one, prior_sessions=1, min_usage=0, limit=0)
    assert (q.prior_sessions, q.min_usage, q.limit) == (1, 0, 0)
    assert "k = 1 sessions" in q.formula
    assert q.flows[0].adjusted_success_rate_pct == approx(50.0)  # (1 + 1·0.5) / 3
    assert (q.top_performers, q.needs_attention) == ([], [])  # limit 0
    q = m.flow_quality(sessions, one, min_usage=0, limit=1, attention_score=101.0)
    assert [r.flow_id for r in q.needs_attention] == ["F1"]  # usage 2 ≥ min_usage 0


def test_quality_score_is_clipped_to_zero_and_one_hundred():
    # Unscreened confidences outside 0–1 push the raw score outside [0, 100]:
    # −1 alone gives 100 × (0 − 0.25 + 0.15) = −10; 3 resolved gives 100 × (0.6 + 0.75 + 0.15).
    low = ai_sessions([ai("a", "escalated", tree="F1", conf=-1.0)])
    high = ai_sessions([ai("a", "resolved", tree="F1", conf=3.0)])
    one = flows([("F1", "One", None, "manual")])
    assert m.flow_quality(low, one).flows[0].quality_score == 0.0
    assert m.flow_quality(high, one).flows[0].quality_score == 100.0


def _uniform(tree: str, n: int, resolved: int, conf: float) -> list[dict]:
    return [
        ai(f"{tree}-{i}", "resolved" if i < resolved else "escalated", tree=tree, conf=conf)
        for i in range(n)
    ]


def test_a_success_rate_of_exactly_the_threshold_does_not_need_attention():
    # 5 of 10 resolved, confidence 1: S = 0.5, C = 1, U = 1 → score 70; raw rate 50.0
    sessions = ai_sessions(_uniform("F1", 10, 5, 1.0))
    one = flows([("F1", "One", None, "manual")])
    q = m.flow_quality(sessions, one)
    row = q.flows[0]
    assert row.success_rate_pct == 50.0 and not row.needs_attention
    assert [r.flow_id for r in q.top_performers] == ["F1"] and q.needs_attention == []


def test_a_score_of_exactly_the_attention_score_does_not_need_attention():
    sessions = ai_sessions(_uniform("F1", 10, 5, 1.0))
    one = flows([("F1", "One", None, "manual")])
    score = 100 * (0.60 * 0.5 + 0.25 * 1.0 + 0.15 * 1.0)  # the same float operations
    q = m.flow_quality(sessions, one, attention_score=score)
    assert q.flows[0].quality_score == score
    assert not q.flows[0].needs_attention and q.attention_score == score


def test_needs_attention_is_ordered_by_the_upper_end_of_the_success_interval():
    # X: 4 of 10 (upper end 68.8 %), Y: 2 of 5 (76.9 %): both 40 %, X has the better score
    sessions = ai_sessions(_uniform("X", 10, 4, 0.9) + _uniform("Y", 5, 2, 0.1))
    two = flows([("X", "Ex", None, "manual"), ("Y", "Why", None, "manual")])
    q = m.flow_quality(sessions, two)
    assert [r.flow_id for r in q.flows] == ["X", "Y"]  # by score
    assert [r.flow_id for r in q.needs_attention] == ["X", "Y"]
    assert q.needs_attention[0].success_high_pct == approx(wilson_pct(4, 10)[1])
    assert q.needs_attention[1].success_high_pct == approx(wilson_pct(2, 5)[1])


def test_needs_attention_ties_put_the_busier_flow_first():
    # all resolved (upper end exactly 100) and clipped to a score of 100: only usage differs
    sessions = ai_sessions(_uniform("A", 1, 1, 10.0) + _uniform("B", 2, 2, 10.0))
    two = flows([("A", "Alpha", None, "manual"), ("B", "Bravo", None, "manual")])
    q = m.flow_quality(sessions, two, min_usage=0, attention_score=101.0)
    assert [(r.flow_id, r.quality_score, r.success_high_pct) for r in q.needs_attention] == [
        ("B", 100.0, 100.0),
        ("A", 100.0, 100.0),
    ]


def test_top_performers_are_ordered_by_the_lower_end_of_the_success_interval():
    # P: 19 of 20, confidence 0.5 (lower end 76.4 %); Q: 5 of 5, confidence 1 (56.6 %);
    # p0 = 24/25, c0 = 0.6: Q scores 87.6, P 85.1 — yet P leads the top performers.
    sessions = ai_sessions(_uniform("P", 20, 19, 0.5) + _uniform("Q", 5, 5, 1.0))
    two = flows([("P", "Pe", None, "manual"), ("Q", "Cue", None, "manual")])
    q = m.flow_quality(sessions, two)
    assert [r.flow_id for r in q.flows] == ["Q", "P"]
    assert [r.flow_id for r in q.top_performers] == ["P", "Q"]
    assert q.top_performers[0].success_low_pct == approx(wilson_pct(19, 20)[0])


def test_a_top_performer_without_any_resolution_ranks_at_a_lower_end_of_zero():
    # thresholds 0: nothing needs attention; W (1 of 20, lower end 0.89 %) beats Z (0 of 5, 0)
    sessions = ai_sessions(_uniform("W", 20, 1, 0.5) + _uniform("Z", 5, 0, 0.5))
    two = flows([("W", "Wu", None, "manual"), ("Z", "Ze", None, "manual")])
    q = m.flow_quality(sessions, two, attention_success_pct=0.0, attention_score=0.0)
    assert [r.flow_id for r in q.top_performers] == ["W", "Z"]
    assert q.top_performers[1].success_low_pct == 0.0
    assert q.top_performers[0].success_low_pct == approx(wilson_pct(1, 20)[0])
    assert q.top_performers[0].success_low_pct < 1.0


def test_top_performers_with_the_same_interval_are_ordered_by_score():
    sessions = ai_sessions(_uniform("V1", 5, 5, 0.1) + _uniform("V2", 5, 5, 0.9))
    two = flows([("V1", "One", None, "manual"), ("V2", "Two", None, "manual")])
    q = m.flow_quality(sessions, two)
    assert [r.flow_id for r in q.top_performers] == ["V2", "V1"]  # better confidence first


def test_clipped_score_ties_are_ordered_by_usage_then_name_then_id():
    # none resolved, confidence 10 (unscreened): every score clips to 100
    sessions = ai_sessions(
        _uniform("A", 1, 0, 10.0)
        + _uniform("B", 2, 0, 10.0)
        + _uniform("C1", 1, 0, 10.0)
        + _uniform("C2", 1, 0, 10.0)
    )
    four = flows(
        [
            ("A", "Alpha", None, "manual"),
            ("B", "Bravo", None, "manual"),
            ("C1", "Twin", None, "manual"),
            ("C2", "Twin", None, "manual"),
        ]
    )
    q = m.flow_quality(sessions, four, min_usage=0, attention_success_pct=0.0, attention_score=0.0)
    assert [r.quality_score for r in q.flows] == [100.0] * 4
    assert [r.flow_id for r in q.flows] == ["B", "A", "C1", "C2"]
    assert [r.flow_id for r in q.top_performers] == ["B", "A", "C1", "C2"]


# ---------------------------------------------------------------------- PSA


PSA_SESSIONS = ai_sessions(
    [
        ai("s1", "resolved", ticket="T1"),
        ai("s2", "resolved", ticket="T2"),
        ai("s3", "escalated"),
        ai("s4", "abandoned"),
    ]
)
PSA_POSTS = posts(
    [
        ("n1", "s1", "ticket_note", "success", 0, None, "2026-11-10 09:00"),
        ("n2", "s2", "ticket_note", "success", 2, None, "2026-11-10 09:10"),
        ("n3", "s3", "ticket_note", "failed", 3, None, "2026-11-10 09:20"),
        ("d1", "s1", "doc", "success", 0, None, "2026-11-10 09:30"),
        ("e1", "s1", "time_entry", "success", 0, -2.0, "2026-11-10 10:00"),  # negative: 0
        ("e2", "s2", "time_entry", "success", 1, 3.0, "2026-11-10 11:00"),
        ("e3", "s3", "time_entry", "success", 0, None, "2026-11-11 10:00"),  # null: 0
        ("e4", "s4", "time_entry", "failed", 0, 1.0, "2026-11-11 11:00"),
        ("d2", "s2", "doc", "success", 0, None, "2026-11-14 00:00"),  # at the end: out
    ]
)


def test_psa_rates_carry_their_wilson_intervals():
    psa = m.psa_metrics(PSA_SESSIONS, PSA_POSTS, PSA_POSTS, WINDOW)
    # 8 pushes in the window: first try n1 d1 e1 e3, after retry n2 e2, failed n3 e4
    assert psa.total_pushes == 8
    got = {
        "link": (psa.ticket_link_low_pct, psa.ticket_link_high_pct),
        "first": (psa.push_success_first_try_low_pct, psa.push_success_first_try_high_pct),
        "retry": (psa.push_success_after_retry_low_pct, psa.push_success_after_retry_high_pct),
        "all": (psa.push_success_overall_low_pct, psa.push_success_overall_high_pct),
        "doc": (psa.doc_pushed_low_pct, psa.doc_pushed_high_pct),
        "entry": (psa.time_entry_logged_low_pct, psa.time_entry_logged_high_pct),
    }
    assert got == {
        "link": approx(wilson_pct(2, 4)),
        "first": approx(wilson_pct(4, 8)),
        "retry": approx(wilson_pct(2, 8)),
        "all": approx(wilson_pct(6, 8)),
        "doc": approx(wilson_pct(1, 4)),  # nested: s1 alone
        "entry": approx(wilson_pct(1, 4)),
    }
    assert (psa.ticket_link_rate_pct, psa.push_success_overall_pct) == (50.0, 75.0)


def test_psa_rows_per_post_type_with_intervals_and_few():
    psa = m.psa_metrics(PSA_SESSIONS, PSA_POSTS, PSA_POSTS, WINDOW, min_n=3)
    assert [r.model_dump() for r in psa.pushes_by_type] == [
        {
            "post_type": "ticket_note",
            "pushes": 3,
            "first_try_successes": 1,
            "retry_successes": 1,
            "failed": 1,
            "success_rate_pct": approx(200 / 3),
            "success_low_pct": approx(wilson_pct(2, 3)[0]),
            "success_high_pct": approx(wilson_pct(2, 3)[1]),
            "few": False,  # 3 is not below min_n 3
        },
        {
            "post_type": "doc",
            "pushes": 1,
            "first_try_successes": 1,
            "retry_successes": 0,
            "failed": 0,
            "success_rate_pct": 100.0,
            "success_low_pct": approx(wilson_pct(1, 1)[0]),
            "success_high_pct": 100.0,
            "few": True,
        },
        {
            "post_type": "time_entry",
            "pushes": 4,
            "first_try_successes": 2,
            "retry_successes": 1,
            "failed": 1,
            "success_rate_pct": 75.0,
            "success_low_pct": approx(wilson_pct(3, 4)[0]),
            "success_high_pct": approx(wilson_pct(3, 4)[1]),
            "few": False,
        },
    ]


def test_psa_daily_hours_count_null_and_negative_hours_as_zero():
    psa = m.psa_metrics(PSA_SESSIONS, PSA_POSTS, PSA_POSTS, WINDOW)
    assert [(p.date.day, p.entries, p.hours) for p in psa.daily_trend] == [
        (10, 2, 3.0),  # e1 (−2 → 0) and e2
        (11, 1, 0.0),  # e3 (null → 0); e4 failed
        (12, 0, 0.0),
        (13, 0, 0.0),
    ]
    assert (psa.time_entries, psa.hours_logged, psa.sessions_with_time_entry) == (3, 3.0, 3)


def test_a_session_post_at_the_windows_end_is_not_counted():
    psa = m.psa_metrics(PSA_SESSIONS, PSA_POSTS, PSA_POSTS, WINDOW)
    c = psa.stage_counts  # d2 (s2's doc) was posted exactly at the end
    assert (c.total_sessions, c.linked_to_ticket, c.doc_pushed, c.time_entry_logged) == (
        4,
        2,
        1,
        3,
    )


# --------------------------------------------------------------- everything


def test_flowpilot_metrics_passes_every_parameter_on():
    sessions = SMALL
    fl = flows([("F1", "One", None, "manual")])
    everything = m.flowpilot_metrics(
        sessions,
        fl,
        proposals([]),
        PSA_POSTS,
        PSA_POSTS,
        WINDOW,
        prior_sessions=3,
        min_usage=1,
        limit=0,
        min_n=1,
    )
    assert [r.few for r in everything.sessions_by_domain] == [False, False]
    # guided n3 (escalated) and discovery m1 ended; exploring n2 resolved: all ≥ 1
    assert [r.few for r in everything.confidence_breakdown] == [False, False, False]
    assert [r.few for r in everything.coverage_by_domain.domains] == [False, False]
    fq = everything.flow_quality
    assert (fq.prior_sessions, fq.min_usage, fq.limit) == (3, 1, 0)
    assert [r.few for r in fq.flows] == [False]
    assert [r.few for r in everything.psa.pushes_by_type] == [False, False, False]
    # with the defaults min_n 20 every row is few, min_usage 5, limit 5
    default = m.flowpilot_metrics(sessions, fl, proposals([]), PSA_POSTS, PSA_POSTS, WINDOW)
    assert [r.few for r in default.sessions_by_domain] == [True, True]
    fq = default.flow_quality
    assert (fq.prior_sessions, fq.min_usage, fq.limit, fq.flows[0].few) == (5, 5, 5, True)


def test_flowpilot_metrics_limit_and_min_usage_shape_the_lists():
    sessions = ai_sessions(_uniform("A", 2, 0, 0.5) + _uniform("B", 3, 0, 0.5))
    two = flows([("A", "Alpha", None, "manual"), ("B", "Bravo", None, "manual")])
    everything = m.flowpilot_metrics(
        sessions, two, proposals([]), posts([]), posts([]), WINDOW, min_usage=2, limit=1
    )
    assert len(everything.flow_quality.needs_attention) == 1  # two flagged, cut to 1
    # prior k = 1: S = (0 + 1·0) / (3 + 1) = 0 either way; the formula states k
    k1 = m.flowpilot_metrics(
        sessions, two, proposals([]), posts([]), posts([]), WINDOW, prior_sessions=1
    )
    assert "k = 1 sessions" in k1.flow_quality.formula
