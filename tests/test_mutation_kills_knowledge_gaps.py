"""Knowledge gaps: behaviours pinned for mutation testing (issue 21), hand-computed.

Wilson intervals are written out literally: statsmodels
``proportion_confint(k, n, method="wilson")`` (95%), the library the page's
intervals are defined by.
"""

from __future__ import annotations

import polars as pl
import pytest

from factories_escalations import (
    ai_sessions,
    flows,
    option_sessions,
    pending,
    repeat_sessions,
)
from rfa.metrics import knowledge_gaps as m

WILSON = {  # (k, n): (low, high)
    (0, 12): (0.0, 0.24249400665524096),
    (3, 10): (0.10779126740630104, 0.6032218525388546),
    (4, 10): (0.1681803297062361, 0.6873262302663417),
    (5, 10): (0.23659309051256394, 0.7634069094874361),
    (8, 10): (0.49016247153664183, 0.9433178485456247),
    (10, 10): (0.7224672001371106, 1.0),
    (13, 16): (0.5699111903802585, 0.9340840092857186),
}

PRINTER = {
    "id": "p1",
    "question": "Is the printer online?",
    "children": [
        {"id": "p2", "option": "Online", "title": "Print a test page"},
        {"id": "p3", "option": "Offline", "title": "Power cycle"},
    ],
}
SWITCH = {"id": "q", "question": "Is it on?", "children": [{"id": "a", "option": "Y"}]}
FLOWS = flows(
    [
        ("t2", "Printer flow", PRINTER),
        ("t3", "Identity flow", {"id": "i1", "question": "Can the user sign in?"}),
        ("t4", "Half flow", None),
        ("t5", "Quiet flow", None),
    ]
)

# one domain gap of each kind plus three flow gaps (sessions without a domain)
AI = pl.concat(
    [
        ai_sessions("email", 10, tree="t2", escalated=4, guided=5, discovery=1),
        ai_sessions("voip", 12, escalated=2, discovery=12),
        ai_sessions("guide", 10, tree="t5", guided=3, discovery=3),
        ai_sessions(None, 10, tree="t3", escalated=8, guided=3, discovery=2),
        ai_sessions(None, 10, tree="t4", escalated=5),
        ai_sessions(None, 10, tree="t9", escalated=10),
        ai_sessions(None, 10, tree="t5", escalated=4, prefix="q"),
    ]
)
# Printer flow: "Offline" 16 ended, 13 escalated (0.8125); "Online" 16 resolved (flow 0.40625)
PRINTER_SESSIONS = (
    repeat_sessions("pe", "t2", 13, "escalated", [("p1", "Offline")])
    + repeat_sessions("pr", "t2", 3, "resolved", [("p1", "Offline")])
    + repeat_sessions("po", "t2", 16, "resolved", [("p1", "Online")])
)
OPTIONS = option_sessions(PRINTER_SESSIONS)


def _gaps(**kwargs) -> dict[tuple[str, str], m.Gap]:
    gaps = m.knowledge_gaps(AI, FLOWS, pending([]), OPTIONS, **kwargs)
    return {(g.kind, g.subject): g for g in gaps}


def _interval(g: m.Gap) -> tuple:
    return (g.rate_low, g.rate_high, g.few)


# ---------------------------------------------------------------- domain gaps


def test_domain_without_flows_has_threshold_zero_rate_zero_and_margin_one():
    voip = _gaps()[("domain_without_flows", "voip")]
    assert (voip.metric, voip.rate, voip.threshold, voip.direction, voip.margin) == (
        "matched_share",
        0.0,
        0.0,
        "at_most",
        1.0,
    )
    # interval of 0 matched of 12 sessions; 12 < 20 (min_n) → few
    assert _interval(voip) == (0.0, pytest.approx(WILSON[(0, 12)][1]), True)
    assert voip.severity == "medium"  # well past, 12 < 2 × 10 sessions


def test_guided_rate_exactly_at_its_maximum_and_discovery_exactly_at_its_minimum_are_gaps():
    """3 of 10 guided = 0.30 ≤ 0.30 and 3 of 10 discovery = 0.30 ≥ 0.30: both are gaps,
    margin 0, low (10 sessions < 2 × 10)."""
    gaps = _gaps()
    guided = gaps[("domain_low_guided", "guide")]
    assert (guided.rate, guided.threshold, guided.margin, guided.severity) == (0.3, 0.3, 0.0, "low")
    assert _interval(guided) == (*map(pytest.approx, WILSON[(3, 10)]), True)
    discovery = gaps[("domain_many_discovery", "guide")]
    assert (discovery.rate, discovery.margin, discovery.severity) == (0.3, 0.0, "low")
    assert _interval(discovery) == (*map(pytest.approx, WILSON[(3, 10)]), True)
    assert {k for k, s in gaps if s == "guide"} == {"domain_low_guided", "domain_many_discovery"}


def test_domain_gap_carries_the_wilson_interval_of_its_counts():
    email = _gaps()[("domain_high_escalation", "email")]
    assert _interval(email) == (*map(pytest.approx, WILSON[(4, 10)]), True)


# ---------------------------------------------------------------- flow gaps


def test_flow_gaps_subjects_names_metric_rates_margins_and_order():
    flow_gaps = [
        g
        for g in m.knowledge_gaps(AI, FLOWS, pending([]), OPTIONS)
        if g.kind == "flow_high_escalation"
    ]
    # t9 is not among the account's flows; t4 escalates exactly half (0.50 ≥ 0.50);
    # t5 (4 of 20, 0.20) is below. Medium ones first, then by margin: 1.0 before 0.6.
    assert [
        (g.subject, g.flow_name, g.tree_id, g.metric, g.rate, g.margin, g.severity)
        for g in flow_gaps
    ] == [
        ("Unknown flow", "Unknown flow", "t9", "escalation_rate", 1.0, 1.0, "medium"),
        ("Identity flow", "Identity flow", "t3", "escalation_rate", 0.8, 0.6, "medium"),
        ("Half flow", "Half flow", "t4", "escalation_rate", 0.5, 0.0, "low"),
    ]
    unknown = flow_gaps[0]
    assert unknown.suggested_action == (
        'Review flow "Unknown flow": 10 of 10 FlowPilot sessions matched to it escalated (100%)'
    )


def test_flow_gap_evidence_counts_guided_and_discovery_sessions_of_the_flow():
    identity = _gaps()[("flow_high_escalation", "Identity flow")]
    # 10 sessions: 8 escalated, 3 guided, 2 discovery (the other 5 exploring)
    assert identity.evidence == m.GapEvidence(sessions=10, escalated=8, guided=3, discovery=2)
    assert _interval(identity) == (*map(pytest.approx, WILSON[(8, 10)]), True)
    half = _gaps()[("flow_high_escalation", "Half flow")]
    assert _interval(half) == (*map(pytest.approx, WILSON[(5, 10)]), True)
    unknown = _gaps()[("flow_high_escalation", "Unknown flow")]
    assert _interval(unknown) == (pytest.approx(WILSON[(10, 10)][0]), 1.0, True)


# ---------------------------------------------------------------- option gaps


def test_option_gap_names_its_flow_metric_and_interval():
    offline = _gaps()[
        ("flow_option_bad_outcomes", 'Printer flow › Is the printer online? › "Offline"')
    ]
    assert (offline.flow_name, offline.metric, offline.rate, offline.threshold) == (
        "Printer flow",
        "bad_outcome_rate",
        0.8125,
        0.5,
    )
    assert _interval(offline) == (*map(pytest.approx, WILSON[(13, 16)]), True)


@pytest.mark.parametrize(
    ("min_n", "expected_few"),
    [
        ({}, {10: True, 12: True, 16: True}),  # default min_n = 20
        ({"min_n": 10}, {10: False, 12: False, 16: False}),
        ({"min_n": 13}, {10: True, 12: True, 16: False}),
    ],
)
def test_min_n_reaches_every_gap_few_flag(min_n, expected_few):
    """few = evidence sessions < min_n; the gaps stand on 10 (domains, flows), 12 (voip)
    and 16 (the printer option) sessions."""
    for gaps in (
        m.knowledge_gaps(AI, FLOWS, pending([]), OPTIONS, **min_n),
        m.knowledge_gap_report(AI, FLOWS, pending([]), OPTIONS, **min_n).gaps,
    ):
        assert len(gaps) == 8
        assert {g.kind for g in gaps} == {
            "domain_without_flows",
            "domain_high_escalation",
            "domain_low_guided",
            "domain_many_discovery",
            "flow_high_escalation",
            "flow_option_bad_outcomes",
        }
        assert all(g.few == expected_few[g.evidence_sessions] for g in gaps)


def _flow_sessions(tree: str, rows: list[tuple[str, int, str | None]]) -> list[tuple]:
    """Sessions of one flow at node "n1": (choice, count, outcome)."""
    out = []
    for choice, n, outcome in rows:
        done = None if outcome is None else "2026-11-10 10:00"  # no outcome: still open
        out += repeat_sessions(
            f"{tree}{choice}{outcome}", tree, n, outcome, [("n1", choice)], completed=done
        )
    return out


def test_option_exactly_ten_points_above_its_flow_is_a_gap():
    """ "A" 6 of 10 bad (0.6), flow 10 of 20 (0.5): 0.6 − 0.5 is 0.09999999999999998 in
    floating point but exactly the 0.10 excess: a gap, margin 0.1 / 0.5 = 0.2."""
    sessions = option_sessions(
        _flow_sessions(
            "tE",
            [
                ("A", 6, "escalated"),
                ("A", 4, "resolved"),
                ("B", 4, "unresolved"),
                ("B", 6, "resolved"),
            ],
        )
    )
    gaps = m.knowledge_gaps(ai_sessions("x", 0), flows([]), pending([]), sessions)
    assert [(g.subject, g.rate, g.margin, g.severity) for g in gaps] == [
        ('Unknown flow › Unknown step › "A"', 0.6, 0.2, "low")
    ]


@pytest.mark.parametrize(
    ("excess", "claimed"),
    [(0.29166666695, True), (0.2916666671, False)],
)
def test_option_excess_is_compared_at_nine_decimals(excess, claimed):
    """ "X" 5 of 8 bad (0.625), flow 5 of 15 (1/3): excess 0.291666666…, compared as
    0.291666667 (nine decimals, as margins are): at least 0.29166666695 although the
    unrounded excess is below it (and 0.2916666667 at ten decimals would be too);
    below 0.2916666671."""
    sessions = option_sessions(
        _flow_sessions("tR", [("X", 5, "escalated"), ("X", 3, "resolved"), ("Z", 7, "resolved")])
    )
    gaps = m.knowledge_gaps(
        ai_sessions("x", 0),
        flows([]),
        pending([]),
        sessions,
        m.GapThresholds(min_option_excess=excess),
    )
    assert [g.option for g in gaps] == (["X"] if claimed else [])


# ---------------------------------------------------------------- margin


def test_margin_is_rounded_to_nine_decimals_and_never_above_one():
    assert m.margin(0.6, 0.4, "at_least") == 0.333333333  # 0.2 / 0.6
    assert m.margin(0.2, 0.3, "at_most") == 0.333333333  # 0.1 / 0.3
    assert m.margin(1.5, 0.5, "at_least") == 1.0  # 1.0 / 0.5 = 2, capped
    assert m.margin(-0.3, 0.3, "at_most") == 1.0  # 0.6 / 0.3 = 2, capped


# ---------------------------------------------------------------- domain_stats


def test_domain_stats_without_pending_proposals_and_one_letter_domains():
    ai = pl.concat(
        [
            ai_sessions("a", 3, tree="t1", escalated=1, guided=1, discovery=1),
            ai_sessions("a", 2, discovery=1),
        ]
    )
    assert m.domain_stats(ai) == [
        m.DomainStats(
            domain="a",
            sessions=5,
            escalated=1,
            guided=1,
            discovery=2,
            matched_sessions=3,
            matched_flows=1,
            pending_proposals=0,
            escalation_rate=0.2,
            guided_rate=0.2,
            discovery_share=0.4,
        )
    ]


def test_domain_stats_order_is_sessions_descending_then_domain_ascending():
    ai = pl.concat(
        [
            ai_sessions("c", 2),
            ai_sessions("d", 1),
            ai_sessions("b", 3),
            ai_sessions("a", 2),
        ]
    )
    assert [d.domain for d in m.domain_stats(ai, pending([]))] == ["b", "a", "c", "d"]


# ---------------------------------------------------------------- option_stats


def test_a_single_one_letter_decision_is_an_option_with_its_step_title():
    """One session, one decision (node "q", choice "Y"), ended escalated: flow rate 1/1.
    An unused flow listed first does not hide the used flow's step titles."""
    fl = flows([("t0", "Other flow", PRINTER), ("t1", "Switch flow", SWITCH)])
    sessions = option_sessions([("s1", "t1", "2026-11-10 10:00", "escalated", [("q", "Y")])])
    assert m.option_stats(sessions, fl) == [
        m.OptionStats(
            tree_id="t1",
            flow_name="Switch flow",
            node_id="q",
            step_title="Is it on?",
            option="Y",
            sessions=1,
            ended=1,
            escalated=1,
            unresolved=0,
            bad_outcomes=1,
            bad_outcome_rate=1.0,
            flow_bad_outcome_rate=1.0,
        )
    ]


def test_flow_without_tree_structure_gives_unknown_steps():
    fl = flows([("t1", "Bare flow", None)])
    sessions = option_sessions([("s1", "t1", "2026-11-10 10:00", "resolved", [("q", "Y")])])
    (stats,) = m.option_stats(sessions, fl)
    assert (stats.flow_name, stats.step_title, stats.bad_outcome_rate) == (
        "Bare flow",
        "Unknown step",
        0.0,
    )


def test_options_of_a_flow_with_no_ended_session_have_no_rates():
    sessions = option_sessions(
        repeat_sessions("o", "t1", 2, None, [("q", "Y")], completed=None)
        + [("c", "t1", "2026-11-10 10:00", None, [("q", "Y")])]  # completed, no outcome
    )
    (stats,) = m.option_stats(sessions, flows([]))
    assert (stats.sessions, stats.ended, stats.bad_outcome_rate, stats.flow_bad_outcome_rate) == (
        3,
        0,
        None,
        None,
    )


def test_option_stats_order_rate_descending_then_ended_descending_none_last():
    sessions = option_sessions(
        _flow_sessions(
            "tS",
            [
                ("E", 2, None),  # open: no rate
                ("D", 9, "resolved"),  # 0 of 9
                ("C", 5, "escalated"),
                ("C", 5, "resolved"),  # 5 of 10
                ("B", 6, "unresolved"),
                ("B", 6, "workaround"),  # 6 of 12
                ("A", 8, "escalated"),  # 8 of 8
            ],
        )
    )
    stats = m.option_stats(sessions, flows([]))
    assert [(o.option, o.ended, o.bad_outcome_rate) for o in stats] == [
        ("A", 8, 1.0),
        ("B", 12, 0.5),
        ("C", 10, 0.5),
        ("D", 9, 0.0),
        ("E", 0, None),
    ]


# ---------------------------------------------------------------- sort_gaps


def _gap(kind: str, subject: str, tree_id: str | None, node_id: str | None) -> m.Gap:
    return m.Gap(
        kind=kind,
        severity="low",
        subject=subject,
        tree_id=tree_id,
        node_id=node_id,
        metric="escalation_rate",
        rate=0.5,
        threshold=0.5,
        direction="at_least",
        margin=0.0,
        evidence_sessions=10,
        evidence=m.GapEvidence(sessions=10, escalated=5),
        action="review_flow",
        suggested_action="Review it",
    )


def test_sort_gaps_breaks_full_ties_by_tree_id_then_node_id_missing_first():
    """Same severity, sessions, margin, kind and subject (two flows of the same name;
    two steps of the same title): tree id, then node id, a missing one first ("" < "A")."""
    flow_gaps = [
        _gap("flow_high_escalation", "Same", "t2", None),
        _gap("flow_high_escalation", "Same", "A", None),
        _gap("flow_high_escalation", "Same", None, None),
        _gap("flow_high_escalation", "Same", "t1", None),
    ]
    assert [g.tree_id for g in m.sort_gaps(flow_gaps)] == [None, "A", "t1", "t2"]
    option_gaps = [
        _gap("flow_option_bad_outcomes", "F › S › O", "t1", "n2"),
        _gap("flow_option_bad_outcomes", "F › S › O", "t1", "A"),
        _gap("flow_option_bad_outcomes", "F › S › O", "t1", None),
        _gap("flow_option_bad_outcomes", "F › S › O", "t1", "n1"),
    ]
    assert [g.node_id for g in m.sort_gaps(option_gaps)] == [None, "A", "n1", "n2"]
