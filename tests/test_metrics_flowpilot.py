"""METRICS.md §4 FlowPilot metrics against hand-computed fixtures (one test per row at least).

Metric functions take screened frames (:mod:`rfa.validation`), so the fixture is
screened first, as a loader does; the findings themselves are tested in
``test_validation.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import polars as pl
import pytest

from factories_ai import ai, ai_sessions, flows, posts, proposals
from rfa.metrics import flowpilot as m
from rfa.metrics import uncertainty as u
from rfa.validation import screen
from rfa.window import make_window

WINDOW = make_window("2026-11-10..2026-11-13", None, "UTC")  # [11-10 00:00, 11-14 00:00)

RAW = ai_sessions(
    [
        ai("a1", "resolved", domain="network", tier="guided", tree="F1", steps=4, rating=5,
           ticket="T1", conf=0.9, created="2026-11-10 10:00", resolved="2026-11-10 10:30"),
        ai("a2", "resolved", domain="network", tier="guided", tree="F1", steps=6, rating=4,
           ticket="T2", conf=0.8, created="2026-11-10 11:00", resolved="2026-11-10 12:00"),
        ai("a3", "escalated", domain="network", tier="exploring", tree="F2", steps=8, rating=2,
           ticket="T3", conf=0.6, created="2026-11-11 09:00"),
        ai("a4", "requesting_escalation", domain="email", tier="discovery", steps=9,
           created="2026-11-11 10:00"),
        ai("a5", "abandoned", domain="email", tier="exploring", steps=2, ticket="T5",
           created="2026-11-12 09:00"),
        ai("a6", "active", steps=1, created="2026-11-12 10:00"),  # no domain, no tier
        ai("a7", "resolved", tier="discovery", steps=5, rating=7, ticket="T7",  # no domain
           created="2026-11-12 13:00", resolved="2026-11-12 13:20"),
        ai("a8", "resolved", domain="email", tier="guided", tree="F3", ticket="T8", conf=0.95,
           created="2026-11-13 08:00", resolved="2026-11-13 07:00"),  # resolved before created
        ai("a9", "resolved", domain="backup", tier="guided", tree="F1", steps=3, rating=3,
           conf=0.7, created="2026-11-13 09:00"),  # resolved without resolved_at
        ai("a10", "escalated", domain="voip", tier="discovery", steps=7, ticket="T10",
           created="2026-11-13 10:00"),  # the domain no flow covers
    ]
)  # fmt: skip
S, S_FINDINGS = screen(RAW, "ai_sessions")  # a7's rating 7 becomes null (unrated)
EMPTY = ai_sessions([])
FLOWS = flows(
    [
        ("F1", "VPN client fails", "troubleshooting", "manual"),
        ("F2", "Switch port down", "troubleshooting", "manual"),
        ("F3", "Shared mailbox missing", "troubleshooting", "ai_generated"),
        ("F4", "Restore a file", "procedural", "ai_enhanced"),
        ("F5", "New starter", "procedural", None),
    ]
)
PROPOSALS = proposals(
    [
        ("p1", "pending", "new_flow", "voip", "2026-10-01 09:00", None),  # old, still pending
        ("p2", "pending", "new_flow", "voip", "2026-11-20 09:00", None),  # after the window
        ("p3", "approved", "new_flow", "email", "2026-11-01 09:00", "2026-11-11 09:00"),
        ("p4", "modified", "enhancement", "network", "2026-11-02 09:00", "2026-11-12 09:00"),
        ("p5", "rejected", "new_flow", "voip", "2026-11-03 09:00", "2026-11-13 23:00"),
        ("p6", "rejected", "new_flow", "voip", "2026-11-03 09:00", "2026-11-09 23:59"),  # before
        ("p7", "dismissed", "enhancement", "email", "2026-11-04 09:00", "2026-11-10 00:00"),
        ("p8", "approved", "new_flow", "backup", "2026-11-05 09:00", "2026-11-14 00:00"),  # end
    ]
)
POSTS = posts(
    [
        ("ps0", "z0", "time_entry", "success", 0, 2.0, "2026-11-09 23:00"),  # before the window
        ("ps1", "a1", "ticket_note", "success", 0, None, "2026-11-10 10:35"),
        ("ps2", "a1", "doc", "success", 0, None, "2026-11-10 10:36"),
        ("ps3", "a1", "time_entry", "success", 0, 0.5, "2026-11-10 10:40"),
        ("ps4", "a2", "ticket_note", "success", 2, None, "2026-11-10 12:10"),
        ("ps5", "a2", "time_entry", "failed", 3, 1.0, "2026-11-10 12:20"),
        ("ps6", "a3", "ticket_note", "failed", 3, None, "2026-11-11 09:30"),
        ("ps7", "a3", "time_entry", "success", 1, 1.25, "2026-11-11 09:45"),
        ("ps8", "a7", "time_entry", "success", 0, 0.75, "2026-11-12 13:30"),
        ("ps9", "a8", "doc", "success", 1, None, "2026-11-13 08:10"),
    ]
)
SESSION_POSTS = pl.concat(
    [
        POSTS.filter(pl.col("post_id") != "ps0"),
        posts(
            [
                ("ps10", "a5", "doc", "success", 0, None, "2026-11-14 09:00"),  # after the end
                ("ps11", "zz", "doc", "success", 0, None, "2026-11-12 09:00"),  # not a session
            ]
        ),
    ]
)
EMPTY_POSTS = posts([])


# ------------------------------------------------------------------ summary


def test_summary_counts_by_status():
    s = m.summary(S)
    assert (s.total_sessions, s.resolved_sessions, s.escalated_sessions) == (10, 5, 3)
    assert (s.abandoned_sessions, s.active_sessions) == (1, 1)


def test_resolution_rate_is_a_percentage():
    assert m.summary(S).resolution_rate_pct == pytest.approx(50.0)  # 5 / 10 × 100


def test_avg_steps_to_resolution_is_the_mean_of_resolved_sessions_ignoring_nulls():
    assert m.summary(S).avg_steps_to_resolution == pytest.approx(4.5)  # 4, 6, 5, 3 (a8 null)


def test_avg_rating_ignores_nulls_and_screened_out_of_range_ratings():
    s = m.summary(S)
    assert s.avg_rating == pytest.approx(3.5)  # 5, 4, 2, 3; a7's 7 nulled by the screening
    assert s.rated_sessions == 4
    assert {f.check: f.count for f in S_FINDINGS}["ai_rating_out_of_range"] == 1


def test_mttr_excludes_negative_and_missing_resolutions():
    s = m.summary(S)
    assert s.mttr_minutes == pytest.approx(110 / 3)  # 30, 60, 20
    assert s.mttr_sessions == 3


def test_zero_ai_sessions_give_zeros_and_nones_not_errors():
    s = m.summary(EMPTY)
    assert (s.total_sessions, s.resolved_sessions, s.escalated_sessions) == (0, 0, 0)
    assert s.resolution_rate_pct == 0.0
    assert s.avg_steps_to_resolution is None and s.avg_rating is None
    assert s.mttr_minutes is None and s.mttr_sessions == 0
    assert [(p.resolved_sessions, p.mttr_minutes) for p in m.mttr_trend(EMPTY, WINDOW)] == [
        (0, None)
    ] * 4
    assert m.sessions_by_domain(EMPTY) == []
    assert [(r.tier, r.sessions, r.resolution_rate_pct) for r in m.confidence_breakdown(EMPTY)] == [
        ("guided", 0, None),
        ("exploring", 0, None),
        ("discovery", 0, None),
    ]
    cov = m.coverage_by_domain(EMPTY)
    assert (cov.domains, cov.unmapped_session_count, cov.uncovered_domains) == ([], 0, [])
    q = m.flow_quality(EMPTY, FLOWS)
    assert (q.flows, q.top_performers, q.needs_attention) == ([], [], [])
    assert q.account_success_rate_pct is None and q.account_avg_confidence is None
    psa = m.psa_metrics(EMPTY, EMPTY_POSTS, EMPTY_POSTS, WINDOW)
    assert psa.ticket_link_rate_pct is None
    assert psa.push_success_first_try_pct is None and psa.push_success_overall_pct is None
    assert (psa.time_entries, psa.hours_logged, psa.avg_hours_per_session) == (0, 0.0, None)
    zeros = {"total_sessions": 0, "linked_to_ticket": 0, "doc_pushed": 0, "time_entry_logged": 0}
    assert psa.funnel.model_dump() == zeros and psa.stage_counts.model_dump() == zeros
    assert [(p.entries, p.hours) for p in psa.daily_trend] == [(0, 0.0)] * 4
    everything = m.flowpilot_metrics(
        EMPTY, flows([]), proposals([]), EMPTY_POSTS, EMPTY_POSTS, WINDOW
    )
    json.dumps(everything.model_dump(mode="json"))


def test_single_resolved_session():
    one = S.filter(pl.col("ai_session_id") == "a1")
    s = m.summary(one)
    assert (s.total_sessions, s.resolution_rate_pct, s.mttr_minutes) == (1, 100.0, 30.0)


# --------------------------------------------------------------- MTTR trend


def test_mttr_trend_has_one_point_per_day_and_none_on_days_without_resolutions():
    trend = m.mttr_trend(S, WINDOW)
    assert [p.date for p in trend] == [dt.date(2026, 11, d) for d in (10, 11, 12, 13)]
    assert [p.resolved_sessions for p in trend] == [2, 0, 1, 0]
    assert [p.mttr_minutes for p in trend] == [45.0, None, 20.0, None]  # None, not 0


def test_mttr_trend_buckets_by_resolved_day_in_the_account_timezone():
    window = make_window("2026-11-10..2026-11-11", None, "America/New_York")
    late = ai_sessions(
        [
            # created 21:00 local Nov 10, resolved 22:30 local Nov 10 (= Nov 11 03:30 UTC)
            ai("x", "resolved", created="2026-11-11 02:00", resolved="2026-11-11 03:30"),
            # created Nov 10 local, resolved 00:10 local Nov 11
            ai("y", "resolved", created="2026-11-11 04:50", resolved="2026-11-11 05:10"),
        ]
    )
    trend = m.mttr_trend(late, window)
    assert [(p.date.day, p.resolved_sessions, p.mttr_minutes) for p in trend] == [
        (10, 1, 90.0),
        (11, 1, 20.0),
    ]


# -------------------------------------------------------- sessions by domain


def test_sessions_by_domain_ordered_by_total_then_domain_and_skipping_null_domain():
    rows = m.sessions_by_domain(S)
    assert [(r.domain, r.total, r.resolved, r.escalated) for r in rows] == [
        ("email", 3, 1, 1),  # ties on total are ordered by domain
        ("network", 3, 2, 1),
        ("backup", 1, 1, 0),
        ("voip", 1, 0, 1),
    ]
    assert [r.resolution_rate_pct for r in rows] == pytest.approx([100 / 3, 200 / 3, 100.0, 0.0])
    assert sum(r.total for r in rows) == 8  # a6 and a7 have no domain


# ----------------------------------------------------- confidence breakdown


def test_confidence_breakdown_counts_only_sessions_that_ended_resolved_or_escalated():
    rows = m.confidence_breakdown(S)
    assert [(r.tier, r.sessions, r.resolved) for r in rows] == [
        ("guided", 4, 4),  # a1, a2, a8, a9
        ("exploring", 1, 0),  # a3 (a5 abandoned is left out)
        ("discovery", 3, 1),  # a4, a7, a10
    ]
    assert [r.resolution_rate_pct for r in rows] == pytest.approx([100.0, 0.0, 100 / 3])


def test_confidence_breakdown_zero_fills_a_tier_without_sessions_with_none():
    rows = m.confidence_breakdown(S.filter(pl.col("confidence_tier") == "guided"))
    assert [(r.tier, r.sessions, r.resolution_rate_pct) for r in rows] == [
        ("guided", 4, 100.0),
        ("exploring", 0, None),
        ("discovery", 0, None),
    ]


# ------------------------------------------------------- knowledge coverage


def test_knowledge_coverage_counts_flows_and_proposals_in_the_window():
    k = m.knowledge_coverage(FLOWS, PROPOSALS, WINDOW)
    assert (k.total_flows, k.ai_generated_flows) == (5, 2)  # F3 ai_generated, F4 ai_enhanced
    assert k.proposals_pending == 1  # p1 (any age); p2 was created after the window
    assert k.proposals_approved_in_window == 2  # p3 approved, p4 modified; p8 at the end
    assert k.proposals_rejected_in_window == 1  # p5; p6 reviewed before the window
    assert k.proposals_dismissed_in_window == 1  # p7 at the start (inclusive)


def test_knowledge_coverage_counts_only_flows_created_before_the_windows_end():
    """Issue 20: a page for a past as_of shows what was true then. F-late was created
    after the window (at its end exactly: the end is exclusive), F-undated has no
    creation time and counts (nothing dates it after the window)."""
    dated = flows(
        [
            ("F-old", "Old", "troubleshooting", "manual", "2025-01-01 00:00"),
            ("F-ai", "AI written", "troubleshooting", "ai_generated", "2026-11-13 23:59"),
            ("F-late", "Later", "troubleshooting", "ai_enhanced", "2026-11-14 00:00"),
            ("F-later", "Much later", "procedural", "manual", "2026-12-01 09:00"),
            ("F-undated", "Undated", "procedural", "ai_enhanced", None),
        ]
    )
    k = m.knowledge_coverage(dated, PROPOSALS, WINDOW)
    assert (k.total_flows, k.ai_generated_flows) == (3, 2)  # F-old, F-ai, F-undated
    later = make_window("2026-12-01..2026-12-01", None, "UTC")  # ends 12-02 00:00
    k = m.knowledge_coverage(dated, PROPOSALS, later)
    assert (k.total_flows, k.ai_generated_flows) == (5, 3)


def test_knowledge_coverage_without_flows_or_proposals():
    k = m.knowledge_coverage(flows([]), proposals([]), WINDOW)
    assert k.model_dump() == {
        "total_flows": 0,
        "ai_generated_flows": 0,
        "proposals_pending": 0,
        "proposals_approved_in_window": 0,
        "proposals_rejected_in_window": 0,
        "proposals_dismissed_in_window": 0,
    }


# ------------------------------------------------------- coverage by domain


def test_coverage_by_domain_counts_distinct_matched_flows_and_rates():
    cov = m.coverage_by_domain(S)
    rows = {r.domain: r for r in cov.domains}
    assert [r.domain for r in cov.domains] == ["email", "network", "backup", "voip"]
    net = rows["network"]
    assert (net.flow_count, net.session_count) == (2, 3)  # F1 twice, F2
    assert net.resolution_rate_pct == pytest.approx(200 / 3)
    assert net.escalation_rate_pct == pytest.approx(100 / 3)
    assert net.guided_rate_pct == pytest.approx(200 / 3)
    assert net.avg_resolution_minutes == pytest.approx(45.0)
    email = rows["email"]
    assert (email.flow_count, email.session_count) == (1, 3)
    assert email.escalation_rate_pct == pytest.approx(100 / 3)  # requesting_escalation counts
    assert email.avg_resolution_minutes is None  # a8 resolved before created
    assert rows["backup"].avg_resolution_minutes is None  # a9 has no resolved_at
    assert (rows["backup"].flow_count, rows["backup"].guided_rate_pct) == (1, 100.0)


def test_coverage_by_domain_flags_domains_without_flows_and_counts_null_domains():
    cov = m.coverage_by_domain(S)
    voip = cov.domains[-1]
    assert (voip.domain, voip.flow_count, voip.uncovered) == ("voip", 0, True)
    assert voip.escalation_rate_pct == 100.0
    assert cov.uncovered_domains == ["voip"]
    assert cov.unmapped_session_count == 2  # a6, a7
    assert cov.total_domains == 4
    assert not any(r.uncovered for r in cov.domains[:-1])


# ------------------------------------------------------------- flow quality


def _score(r: int, n: int, confs: list[float], p0: float, c0: float, n_max: int) -> float:
    """The documented formula, written out by hand with k = 5."""
    s = (r + 5 * p0) / (n + 5)
    c = (sum(confs) + 5 * c0) / (len(confs) + 5)
    u = math.log(1 + n) / math.log(1 + n_max)
    return 100 * (0.60 * s + 0.25 * c + 0.15 * u)


def test_flow_quality_rows_follow_the_documented_formula():
    q = m.flow_quality(S, FLOWS)
    assert [r.flow_id for r in q.flows] == ["F1", "F3", "F2"]
    p0, c0 = 4 / 5, (0.9 + 0.8 + 0.6 + 0.95 + 0.7) / 5
    assert q.account_success_rate_pct == pytest.approx(80.0)
    assert q.account_avg_confidence == pytest.approx(c0)
    f1, f3, f2 = q.flows
    assert (f1.name, f1.tree_type, f1.usage_count, f1.resolved_sessions) == (
        "VPN client fails",
        "troubleshooting",
        3,
        3,
    )
    assert f1.success_rate_pct == 100.0
    assert f1.avg_confidence == pytest.approx(0.8)
    assert f1.last_matched_at == dt.datetime(2026, 11, 13, 9, tzinfo=dt.UTC)
    assert f1.adjusted_success_rate_pct == pytest.approx(100 * 7 / 8)
    assert f1.quality_score == pytest.approx(_score(3, 3, [0.9, 0.8, 0.7], p0, c0, 3))
    assert f3.quality_score == pytest.approx(_score(1, 1, [0.95], p0, c0, 3))
    assert f2.quality_score == pytest.approx(_score(0, 1, [0.6], p0, c0, 3))
    assert f2.success_rate_pct == 0.0
    assert all(0 <= r.quality_score <= 100 for r in q.flows)
    assert q.formula == m.QUALITY_SCORE_FORMULA
    assert "k = 5" in q.formula and "ln(1 + n)" in q.formula


def test_flow_quality_lists_respect_min_usage():
    q = m.flow_quality(S, FLOWS)  # default min_usage 5: no flow qualifies
    assert (q.top_performers, q.needs_attention, q.min_usage, q.limit) == ([], [], 5, 5)
    q = m.flow_quality(S, FLOWS, min_usage=1)
    assert [r.flow_id for r in q.needs_attention] == ["F2"]  # 0 % success
    assert [r.flow_id for r in q.top_performers] == ["F1", "F3"]


QUALITY = ai_sessions(
    [
        ai(f"s{i}", "resolved" if i < 8 else "escalated", tree="SOLID", conf=0.8,
           created=f"2026-11-1{i % 4} 10:0{i}")
        for i in range(10)
    ]
    + [ai("l1", "resolved", tree="LUCKY", conf=1.0, created="2026-11-12 09:00")]
    + [
        ai(f"w{i}", "resolved" if i == 0 else "escalated", tree="WEAK", conf=0.7,
           created=f"2026-11-11 1{i}:00")
        for i in range(6)
    ]
)  # fmt: skip
QUALITY_FLOWS = flows(
    [
        ("SOLID", "Solid flow", "troubleshooting", "manual"),
        ("LUCKY", "Lucky flow", "troubleshooting", "manual"),
        ("WEAK", "Weak flow", "troubleshooting", "manual"),
    ]
)


def test_a_flow_with_one_match_does_not_top_the_quality_list():
    q = m.flow_quality(QUALITY, QUALITY_FLOWS)
    by_id = {r.flow_id: r for r in q.flows}
    assert by_id["LUCKY"].success_rate_pct == 100.0 > by_id["SOLID"].success_rate_pct == 80.0
    assert [r.flow_id for r in q.flows] == ["SOLID", "LUCKY", "WEAK"]
    p0, c0 = 10 / 17, (8 + 1 + 4.2) / 17
    assert by_id["SOLID"].quality_score == pytest.approx(_score(8, 10, [0.8] * 10, p0, c0, 10))
    assert by_id["LUCKY"].quality_score == pytest.approx(_score(1, 1, [1.0], p0, c0, 10))
    assert by_id["LUCKY"].quality_score < by_id["SOLID"].quality_score
    assert [r.flow_id for r in q.top_performers] == ["SOLID"]  # LUCKY is below min usage


def test_needs_attention_flags_low_success_even_with_a_passable_score():
    q = m.flow_quality(QUALITY, QUALITY_FLOWS)
    weak = q.needs_attention[0]
    assert [r.flow_id for r in q.needs_attention] == ["WEAK"]
    assert weak.success_rate_pct == pytest.approx(100 / 6)
    assert weak.quality_score > m.ATTENTION_SCORE  # flagged by its success rate
    assert weak.needs_attention and not q.flows[0].needs_attention
    assert "WEAK" not in [r.flow_id for r in q.top_performers]
    stricter = m.flow_quality(QUALITY, QUALITY_FLOWS, attention_success_pct=10.0)
    assert stricter.needs_attention == []  # 51 > 50 and 16.7 % > 10 %


def test_flow_quality_ties_are_ordered_by_name_then_id_and_unknown_flows_are_named():
    twins = ai_sessions(
        [
            ai("t1", "resolved", tree="B", conf=0.5),
            ai("t2", "resolved", tree="A", conf=0.5),
            ai("t3", "resolved", tree="GONE", conf=0.5),
        ]
    )
    names = flows([("A", "Zulu", None, "manual"), ("B", "Alpha", None, "manual")])
    q = m.flow_quality(twins, names)
    assert [(r.name, r.flow_id) for r in q.flows] == [("Alpha", "B"), ("Zulu", "A")]
    assert "GONE" not in q.model_dump_json()  # not a flow of the account: no id shown
    assert len({r.quality_score for r in q.flows}) == 1


def test_flow_quality_uses_a_neutral_confidence_without_any_and_checks_parameters():
    plain = ai_sessions([ai("n1", "resolved", tree="F1"), ai("n2", "escalated", tree="F1")])
    q = m.flow_quality(plain, FLOWS)
    row = q.flows[0]
    assert row.avg_confidence is None and q.account_avg_confidence is None
    assert row.quality_score == pytest.approx(100 * (0.6 * 0.5 + 0.25 * 0.5 + 0.15 * 1.0))
    with pytest.raises(ValueError, match="prior_sessions"):
        m.flow_quality(plain, FLOWS, prior_sessions=0)
    with pytest.raises(ValueError, match="min_usage"):
        m.flow_quality(plain, FLOWS, min_usage=-1)
    q3 = m.flow_quality(plain, FLOWS, prior_sessions=3)
    assert "k = 3" in q3.formula and q3.prior_sessions == 3


# ---------------------------------------------------------------------- PSA


def test_ticket_link_rate_is_a_percentage_of_sessions():
    psa = m.psa_metrics(S, POSTS, SESSION_POSTS, WINDOW)
    assert psa.ticket_link_rate_pct == pytest.approx(70.0)  # 7 of 10 have a ticket


def test_push_success_first_try_and_after_retry_over_all_pushes_of_the_window():
    psa = m.psa_metrics(S, POSTS, SESSION_POSTS, WINDOW)
    assert psa.total_pushes == 9  # ps0 was posted before the window
    assert psa.push_success_first_try_pct == pytest.approx(400 / 9)  # ps1, ps2, ps3, ps8
    assert psa.push_success_after_retry_pct == pytest.approx(300 / 9)  # ps4, ps7, ps9
    assert psa.push_success_overall_pct == pytest.approx(700 / 9)
    rows = {r.post_type: r for r in psa.pushes_by_type}
    assert list(rows) == ["ticket_note", "doc", "time_entry"]
    note = rows["ticket_note"]
    assert (note.pushes, note.first_try_successes, note.retry_successes, note.failed) == (
        3,
        1,
        1,
        1,
    )
    assert note.success_rate_pct == pytest.approx(200 / 3)
    entry = rows["time_entry"]
    assert (entry.pushes, entry.first_try_successes, entry.retry_successes, entry.failed) == (
        4,
        2,
        1,
        1,
    )


def test_time_entries_and_hours_count_successful_time_entry_posts():
    psa = m.psa_metrics(S, POSTS, SESSION_POSTS, WINDOW)
    assert (psa.time_entries, psa.hours_logged) == (3, pytest.approx(2.5))  # ps3, ps7, ps8
    assert psa.sessions_with_time_entry == 3
    assert psa.avg_hours_per_session == pytest.approx(2.5 / 3)


def test_psa_funnel_is_nested_and_the_stage_counts_are_not():
    psa = m.psa_metrics(S, POSTS, SESSION_POSTS, WINDOW)
    # linked: a1 a2 a3 a5 a7 a8 a10; successful doc before the end: a1, a8 (a5's came
    # after the window, zz is no session of the window); successful time entry: a1, a3,
    # a7 (a2's failed). a3 and a7 are linked with a time entry but no doc: not in the
    # funnel's last stage, which holds a1 alone.
    f = psa.funnel
    assert (f.total_sessions, f.linked_to_ticket, f.doc_pushed, f.time_entry_logged) == (
        10,
        7,
        2,
        1,
    )
    c = psa.stage_counts  # each stage on its own: the time entries outnumber the docs
    assert (c.total_sessions, c.linked_to_ticket, c.doc_pushed, c.time_entry_logged) == (
        10,
        7,
        2,
        3,
    )
    doc, entry = u.rate(2, 10), u.rate(1, 10)  # shares of all sessions, nested counts
    assert (psa.doc_pushed_low_pct, psa.doc_pushed_high_pct) == pytest.approx(
        (doc.low * 100, doc.high * 100)
    )
    assert (psa.time_entry_logged_low_pct, psa.time_entry_logged_high_pct) == pytest.approx(
        (entry.low * 100, entry.high * 100)
    )


def test_psa_funnel_never_widens_and_needs_a_link_first():
    """Hand-computed: s1 linked, doc, entry; s2 linked with a time entry but no doc; s3
    doc and time entry without a ticket; s4 linked, failed doc, entry; s5 nothing."""
    sessions = ai_sessions(
        [
            ai("s1", "resolved", ticket="T1"),
            ai("s2", "escalated", ticket="T2"),
            ai("s3", "resolved"),
            ai("s4", "resolved", ticket=" T4 "),
            ai("s5", "abandoned", ticket="  "),  # blank: not linked
        ]
    )
    session_posts = posts(
        [
            ("d1", "s1", "doc", "success", 0, None, "2026-11-10 11:00"),
            ("e1", "s1", "time_entry", "success", 0, 1.0, "2026-11-10 11:05"),
            ("e2", "s2", "time_entry", "success", 0, 0.5, "2026-11-10 11:10"),
            ("d3", "s3", "doc", "success", 0, None, "2026-11-10 11:20"),
            ("e3", "s3", "time_entry", "success", 2, 0.5, "2026-11-10 11:25"),
            ("d4", "s4", "doc", "failed", 3, None, "2026-11-10 11:30"),
            ("e4", "s4", "time_entry", "success", 0, 0.25, "2026-11-10 11:35"),
        ]
    )
    psa = m.psa_metrics(sessions, session_posts, session_posts, WINDOW)
    f, c = psa.funnel, psa.stage_counts
    assert (f.total_sessions, f.linked_to_ticket, f.doc_pushed, f.time_entry_logged) == (
        5, 3, 1, 1,
    )  # fmt: skip
    assert (c.total_sessions, c.linked_to_ticket, c.doc_pushed, c.time_entry_logged) == (
        5, 3, 2, 4,
    )  # fmt: skip
    stages = [f.total_sessions, f.linked_to_ticket, f.doc_pushed, f.time_entry_logged]
    assert stages == sorted(stages, reverse=True)


def test_psa_daily_trend_is_zero_filled_with_true_zeros():
    trend = m.psa_metrics(S, POSTS, SESSION_POSTS, WINDOW).daily_trend
    assert [(p.date.day, p.entries, p.hours) for p in trend] == [
        (10, 1, 0.5),
        (11, 1, 1.25),
        (12, 1, 0.75),
        (13, 0, 0.0),
    ]


def test_psa_daily_trend_uses_the_account_timezone():
    window = make_window("2026-11-10..2026-11-11", None, "Pacific/Auckland")
    entry = posts([("p", "a1", "time_entry", "success", 0, 1.5, "2026-11-10 12:30")])
    trend = m.psa_metrics(S, entry, entry, window).daily_trend  # 01:30 on Nov 11 in Auckland
    assert [(p.date.day, p.entries, p.hours) for p in trend] == [(10, 0, 0.0), (11, 1, 1.5)]


def test_psa_without_pushes_has_no_rates():
    psa = m.psa_metrics(S, EMPTY_POSTS, EMPTY_POSTS, WINDOW)
    assert psa.total_pushes == 0
    assert psa.push_success_after_retry_pct is None
    assert all(r.success_rate_pct is None for r in psa.pushes_by_type)
    assert psa.ticket_link_rate_pct == pytest.approx(70.0)


# ------------------------------------------------------- screened faulty rows


def test_metrics_handle_the_rows_the_screening_keeps():
    odd, _ = screen(
        ai_sessions(
            [
                ai("o1", "closed", tier="guided"),
                ai("o2", "resolved", tier="expert", resolved="2026-11-10 11:00"),
                ai("o3", "escalated"),  # ended without a tier
                ai("o4", "resolved", tier="guided", tree="GONE", conf=1.7,
                   resolved="2026-11-10 10:10"),
            ]
        ),
        "ai_sessions",
        flows=FLOWS["tree_id"],
    )  # fmt: skip
    bad_posts = posts(
        [
            ("b1", "o2", "time_entry", "success", None, None, "2026-11-10 12:00"),
            ("b2", "o2", "time_entry", "success", 0, -1.0, "2026-11-10 12:00"),
            ("b3", "o2", "fax", "queued", 0, None, "2026-11-10 12:00"),
        ]
    )
    assert [r.sessions for r in m.confidence_breakdown(odd)] == [1, 0, 0]  # o4 only
    assert m.summary(odd).total_sessions == 4  # the unknown status still counts
    psa = m.psa_metrics(odd, bad_posts, bad_posts, WINDOW)
    assert (psa.time_entries, psa.hours_logged) == (2, 0.0)  # null and negative hours are 0
    assert psa.push_success_first_try_pct == pytest.approx(200 / 3)  # null retry_count = 0
    assert odd.filter(pl.col("ai_session_id") == "o4")["tree_id"].item() is None
    assert m.flow_quality(odd, FLOWS).flows == []  # GONE is no flow of the account: nulled


# --------------------------------------------------------------- everything


def test_flowpilot_metrics_bundles_every_row_and_serialises_to_json():
    everything = m.flowpilot_metrics(S, FLOWS, PROPOSALS, POSTS, SESSION_POSTS, WINDOW)
    assert everything.summary == m.summary(S)
    assert everything.mttr_trend == m.mttr_trend(S, WINDOW)
    assert everything.coverage_by_domain == m.coverage_by_domain(S)
    assert everything.flow_quality == m.flow_quality(S, FLOWS)
    assert everything.psa == m.psa_metrics(S, POSTS, SESSION_POSTS, WINDOW)
    data = json.loads(json.dumps(everything.model_dump(mode="json")))
    assert data["mttr_trend"][1] == {
        "date": "2026-11-11",
        "resolved_sessions": 0,
        "mttr_minutes": None,
        "mttr_low": None,  # no interval without resolutions
        "mttr_high": None,
    }
    assert data["flow_quality"]["formula"] == m.QUALITY_SCORE_FORMULA
    assert "data_quality" not in data  # findings come from rfa.validation, on the page
