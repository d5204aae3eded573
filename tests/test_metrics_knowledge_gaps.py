"""Knowledge gaps (METRICS.md §4 last row), hand-computed.

The fixture, with the default thresholds (min 10 sessions; escalation ≥ 0.40; guided
≤ 0.30; discovery ≥ 0.30; flow escalation ≥ 0.50; options: ≥ 8 ended, bad ≥ 0.50 and
≥ 0.10 above the flow):

* email — 10 sessions, 4 escalated (0.40, exactly the threshold: margin 0 → low);
* voip — 12 sessions, none matched a flow (→ without flows, margin 1, 12 < 20 → medium),
  6 escalated (0.50: margin 0.1/0.6 → low); 2 pending proposals;
* network — 9 sessions all escalated: below min_sessions, never a gap;
* printing — 20 sessions, 2 guided (0.10: margin 0.2/0.3 ≥ 0.5 and 20 ≥ 2×10 → high),
  8 discovery (0.40: margin 0.1/0.7 → medium), 1 pending proposal;
* identity — 10 sessions on flow t3, 8 escalated (domain 0.80: margin 0.4/0.6 → medium;
  flow t3: margin 0.3/0.5 → medium);
* 15 sessions without a domain and 3 with an empty one, all escalated: ignored.
"""

from __future__ import annotations

import json

import polars as pl
import pydantic
import pytest

from factories_escalations import (
    ai_sessions,
    flows,
    option_sessions,
    pending,
    repeat_sessions,
)
from rfa.metrics import knowledge_gaps as m

MAIL = {
    "id": "q1",
    "question": "Is mail flowing?",
    "children": [
        {"id": "a1", "option": "Yes", "title": "Check the spam filter", "children": []},
        {
            "id": "q2",
            "option": "No",
            "question": "Is the MX record correct?",
            "children": [
                {"id": "a2", "option": "Yes", "title": "Restart transport"},
                {"id": "a3", "option": "No", "title": "Fix MX"},
            ],
        },
    ],
}
PRINTER = {
    "id": "p1",
    "question": "Is the printer online?",
    "children": [
        {"id": "p2", "option": "Online", "title": "Print a test page"},
        {"id": "p3", "option": "Offline", "title": "Power cycle"},
    ],
}
IDENTITY = {
    "id": "i1",
    "question": "Can the user sign in?",
    "children": [{"id": "i2", "option": "No"}, {"id": "i3", "option": "Yes"}],
}
FLOWS = flows(
    [("t1", "Mail flow", MAIL), ("t2", "Printer flow", PRINTER), ("t3", "Identity flow", IDENTITY)]
)
AI = pl.concat(
    [
        ai_sessions("email", 10, tree="t1", escalated=4, guided=5, discovery=1),
        ai_sessions("voip", 12, escalated=6, discovery=9),
        ai_sessions("network", 9, escalated=9),
        ai_sessions("printing", 20, tree="t2", escalated=2, guided=2, discovery=8),
        ai_sessions("identity", 10, tree="t3", escalated=8, guided=10),
        ai_sessions(None, 15, escalated=15, discovery=15),
        ai_sessions("", 3, escalated=3, discovery=3),
    ]
)
PENDING = pending([("voip", 2), ("printing", 1), (None, 4)])

NO_MX = [("q1", "No"), ("q2", "No"), ("a3", None)]
MX_OK = [("q1", "No"), ("q2", "Yes"), ("a2", None)]
OPTIONS = option_sessions(
    # Mail flow, option q1 "No": 8 ended (3 escalated + 2 unresolved + 3 resolved),
    # one open and one completed without outcome → sessions 10, ended 8, bad 5 (0.625).
    repeat_sessions("ne", "t1", 3, "escalated", NO_MX)
    + repeat_sessions("nu", "t1", 2, "unresolved", NO_MX)
    + repeat_sessions("nr", "t1", 2, "resolved", MX_OK)
    + [("revisit", "t1", "2026-11-10 10:00", "resolved", [("q1", "No"), ("q1", "No")] + MX_OK)]
    + [("open", "t1", None, None, [("q1", "No")])]
    + [("nulloutcome", "t1", "2026-11-10 10:00", None, [("q1", "No")])]
    # option q1 "Yes": 12 ended, 1 escalated; an empty choice is not an option
    + repeat_sessions("y", "t1", 11, "resolved", [("q1", "Yes"), ("a1", None)])
    + [("ye", "t1", "2026-11-10 10:00", "escalated", [("q1", "Yes"), ("a1", "")])]
    # Mail flow baseline: 20 ended, 6 bad → 0.30; q1 "No" is 0.325 above it.
    # Printer flow: "Offline" 16 ended, 13 escalated (0.8125); "Online" 16 resolved;
    # baseline 13/32 = 0.40625.
    + repeat_sessions("pe", "t2", 13, "escalated", [("p1", "Offline")])
    + repeat_sessions("pr", "t2", 3, "resolved", [("p1", "Offline")])
    + repeat_sessions("po", "t2", 16, "resolved", [("p1", "Online")])
    # Identity flow ends badly whatever is chosen: "No" 0.6, "Yes" 0.5, flow 0.55.
    + repeat_sessions("ie", "t3", 6, "escalated", [("i1", "No")])
    + repeat_sessions("ir", "t3", 4, "resolved", [("i1", "No")])
    + repeat_sessions("je", "t3", 5, "escalated", [("i1", "Yes")])
    + repeat_sessions("jr", "t3", 5, "workaround", [("i1", "Yes")])
    # a flow that is not (any more) in the account's flows: 8 escalated
    + repeat_sessions("g", "t9", 8, "escalated", [("x1", "Go")])
)


def _gaps(**thresholds) -> list[m.Gap]:
    return m.knowledge_gaps(AI, FLOWS, PENDING, OPTIONS, m.GapThresholds(**thresholds))


def _domain_and_flow(gaps: list[m.Gap]) -> list[tuple]:
    return [(g.kind, g.subject, g.severity) for g in gaps if g.kind != "flow_option_bad_outcomes"]


def test_domain_and_flow_gaps_hand_computed():
    gaps = {(g.kind, g.subject): g for g in _gaps()}
    email = gaps[("domain_high_escalation", "email")]
    assert (email.rate, email.threshold, email.margin, email.severity) == (0.4, 0.4, 0.0, "low")
    assert email.evidence == m.GapEvidence(
        sessions=10, escalated=4, guided=5, discovery=1, matched_flows=1, pending_proposals=0
    )
    voip = gaps[("domain_without_flows", "voip")]
    assert (voip.metric, voip.rate, voip.margin, voip.severity) == ("matched_share", 0, 1, "medium")
    assert (voip.evidence.matched_flows, voip.evidence.discovery) == (0, 9)
    voip_esc = gaps[("domain_high_escalation", "voip")]
    assert voip_esc.margin == pytest.approx(0.1 / 0.6) and voip_esc.severity == "low"
    guided = gaps[("domain_low_guided", "printing")]
    assert (guided.rate, guided.direction, guided.severity) == (0.1, "at_most", "high")
    assert guided.margin == pytest.approx(2 / 3)
    discovery = gaps[("domain_many_discovery", "printing")]
    assert (discovery.rate, discovery.severity) == (0.4, "medium")
    assert discovery.margin == pytest.approx(1 / 7)
    identity = gaps[("domain_high_escalation", "identity")]
    assert (identity.rate, identity.severity) == (0.8, "medium")
    flow = gaps[("flow_high_escalation", "Identity flow")]
    assert (flow.tree_id, flow.rate, flow.margin, flow.severity) == ("t3", 0.8, 0.6, "medium")
    assert flow.evidence.sessions == 10 and flow.evidence.escalated == 8


def test_thresholds_respected_and_order_is_severity_then_evidence():
    assert _domain_and_flow(_gaps()) == [
        ("domain_low_guided", "printing", "high"),
        ("domain_many_discovery", "printing", "medium"),
        ("domain_without_flows", "voip", "medium"),
        ("domain_high_escalation", "identity", "medium"),  # margin 0.67 before the flow's 0.6
        ("flow_high_escalation", "Identity flow", "medium"),
        ("domain_high_escalation", "voip", "low"),
        ("domain_high_escalation", "email", "low"),
    ]
    gaps = _gaps()
    ranks = [(m.SEVERITY_ORDER[g.severity], -g.evidence_sessions) for g in gaps]
    assert ranks == sorted(ranks)


def test_nothing_is_claimed_below_min_sessions():
    assert not any(g.subject == "network" for g in _gaps())  # 9 sessions, all escalated
    assert _gaps(min_sessions=21, min_option_sessions=17) == []
    network = [(g.kind, g.severity) for g in _gaps(min_sessions=9) if g.subject == "network"]
    # both margin 1 but 9 < 2 × 9 sessions → medium; same sessions and margin → by kind
    assert network == [("domain_high_escalation", "medium"), ("domain_without_flows", "medium")]


def test_domain_without_flows_is_not_also_low_guided_or_many_discovery():
    voip = {g.kind for g in _gaps() if g.domain == "voip"}
    assert voip == {"domain_without_flows", "domain_high_escalation"}


def test_null_and_empty_domains_are_ignored_for_domain_gaps():
    gaps = m.knowledge_gaps(
        pl.concat([ai_sessions(None, 30, escalated=30), ai_sessions("", 30, escalated=30)]),
        FLOWS,
        PENDING,
        option_sessions([]),
    )
    assert gaps == []
    report = m.knowledge_gap_report(AI, FLOWS, PENDING, OPTIONS)
    assert report.sessions_without_domain == 18
    assert (report.domains_assessed, report.domains_below_min_sessions) == (4, 1)
    assert all(g.domain not in (None, "") for g in report.gaps if g.kind.startswith("domain"))


def test_suggested_actions():
    """Domain gaps name their domain in words (as the tables do), never the machine name."""
    gaps = {(g.kind, g.subject): g for g in _gaps()}
    email = gaps[("domain_high_escalation", "email")]
    assert email.action == "write_flow"
    assert email.suggested_action == "Write a flow for Email: 4 of 10 sessions escalated (40%)"
    voip = gaps[("domain_without_flows", "voip")]
    assert voip.action == "approve_proposals"
    assert voip.suggested_action == (
        "Review and approve the 2 pending flow proposals for VoIP: "
        "none of its 12 sessions matched a flow"
    )
    printing = gaps[("domain_low_guided", "printing")]
    assert printing.suggested_action == (
        "Review and approve the pending flow proposal for Printing: "
        "only 2 of 20 sessions were guided by a flow (10%)"
    )
    flow = gaps[("flow_high_escalation", "Identity flow")]
    assert flow.action == "review_flow"
    assert flow.suggested_action == (
        'Review flow "Identity flow": 8 of 10 FlowPilot sessions matched to it escalated (80%)'
    )


def test_option_stats_hand_computed():
    stats = {(o.tree_id, o.node_id, o.option): o for o in m.option_stats(OPTIONS, FLOWS)}
    no = stats[("t1", "q1", "No")]
    # revisit counted once; the open and the outcome-less sessions took it but did not end
    assert (no.sessions, no.ended, no.escalated, no.unresolved, no.bad_outcomes) == (
        10,
        8,
        3,
        2,
        5,
    )
    assert no.bad_outcome_rate == 0.625 and no.flow_bad_outcome_rate == pytest.approx(0.3)
    assert (no.flow_name, no.step_title) == ("Mail flow", "Is mail flowing?")
    assert stats[("t1", "q2", "No")].bad_outcome_rate == 1.0
    assert stats[("t1", "q1", "Yes")].ended == 12
    assert ("t1", "a1", "") not in stats and not any(
        o.node_id in ("a2", "a3") for o in stats.values()
    )
    ghost = stats[("t9", "x1", "Go")]
    assert (ghost.flow_name, ghost.step_title) == ("Unknown flow", "Unknown step")


def test_option_gaps_respect_min_sessions_rate_and_excess_over_the_flow():
    options = [g for g in _gaps() if g.kind == "flow_option_bad_outcomes"]
    assert [(g.subject, g.severity) for g in options] == [
        ('Printer flow › Is the printer online? › "Offline"', "high"),
        ('Mail flow › Is mail flowing? › "No"', "low"),
    ]
    printer, mail = options
    assert printer.rate == 0.8125 and printer.margin == 0.625
    assert printer.evidence == m.GapEvidence(
        sessions=16,
        escalated=13,
        ended=16,
        unresolved=0,
        bad_outcomes=13,
        flow_bad_outcome_rate=0.40625,
    )
    assert (mail.rate, mail.margin, mail.evidence_sessions) == (0.625, 0.25, 8)
    assert (mail.tree_id, mail.node_id, mail.step_title, mail.option) == (
        "t1",
        "q1",
        "Is mail flowing?",
        "No",
    )
    assert mail.action == "review_option"
    assert mail.suggested_action.startswith(
        'Review option "No" at step "Is mail flowing?" of flow "Mail flow": 5 of 8 sessions '
        "that took it ended escalated or unresolved"
    )
    # q2 "No" ended badly every time, but only 5 sessions ended: not claimed
    assert not any(g.node_id == "q2" for g in options)


def test_options_of_a_uniformly_weak_flow_need_the_excess_to_be_turned_off():
    subjects = {
        g.subject for g in _gaps(min_option_excess=None) if g.kind == "flow_option_bad_outcomes"
    }
    assert subjects == {
        'Printer flow › Is the printer online? › "Offline"',
        'Mail flow › Is mail flowing? › "No"',
        'Identity flow › Can the user sign in? › "No"',  # 0.6, only 0.05 above its flow
        'Identity flow › Can the user sign in? › "Yes"',  # exactly 0.50
        'Unknown flow › Unknown step › "Go"',
    }


def test_margin_and_severity_rule():
    th = m.GapThresholds()
    assert m.margin(0.7, 0.4, "at_least") == 0.5
    assert m.margin(0.15, 0.3, "at_most") == 0.5
    assert m.margin(0.3, 0.4, "at_least") == 0.0
    assert m.margin(1.0, 1.0, "at_least") == 1.0 and m.margin(0.0, 0.0, "at_most") == 1.0
    assert m.severity(0.5, 20, 10, th) == "high"
    assert m.severity(0.49, 20, 10, th) == "medium"
    assert m.severity(0.5, 19, 10, th) == "medium"
    assert m.severity(0.49, 19, 10, th) == "low"
    strict = m.GapThresholds(high_margin=0.8, strong_evidence_factor=3)
    assert m.severity(0.7, 29, 10, strict) == "low"


def test_thresholds_are_validated_and_documented():
    with pytest.raises(pydantic.ValidationError):
        m.GapThresholds(min_escalation_rate=1.5)
    with pytest.raises(pydantic.ValidationError):
        m.GapThresholds(min_sessions=0)
    defaults = m.GapThresholds()
    assert (defaults.min_sessions, defaults.min_option_sessions) == (10, 8)
    for name in m.GapThresholds.model_fields:
        assert name in m.GapThresholds.__doc__


def test_empty_inputs_give_no_gaps():
    empty_ai = ai_sessions("x", 0)
    assert m.knowledge_gaps(empty_ai, flows([]), pending([]), option_sessions([])) == []
    assert m.option_stats(option_sessions([]), flows([])) == []
    assert m.domain_stats(empty_ai) == []
    report = m.knowledge_gap_report(empty_ai, flows([]), pending([]), option_sessions([]))
    assert (report.domains_assessed, report.options_assessed, report.gaps) == (0, 0, [])


def test_report_is_json_serialisable_with_fractions():
    report = m.knowledge_gap_report(AI, FLOWS, PENDING, OPTIONS)
    data = json.loads(json.dumps(report.model_dump(mode="json")))
    assert data["thresholds"]["min_escalation_rate"] == 0.4
    assert len(data["gaps"]) == len(_gaps())
    assert all(0.0 <= g["rate"] <= 1.0 and 0.0 <= g["margin"] <= 1.0 for g in data["gaps"])
    assert report.options_assessed == 7  # q1 No/Yes, p1 Offline/Online, i1 No/Yes, x1 Go


def test_a_multi_word_domain_is_written_in_words_in_the_action():
    """The action text reaches the page and the data file: it must read "Line of
    business", not the stored machine name; ``subject`` keeps the stored name."""
    ai = ai_sessions("line_of_business", 10, escalated=8, discovery=10)
    report_gaps = m.knowledge_gaps(ai, FLOWS, pending([]), option_sessions([]), m.GapThresholds())
    gap = next(g for g in report_gaps if g.kind == "domain_without_flows")
    assert gap.subject == "line_of_business"
    assert gap.suggested_action == (
        "Write a flow for Line of business: none of its 10 sessions matched a flow"
    )
    assert "line_of_business" not in " ".join(g.suggested_action for g in report_gaps)
