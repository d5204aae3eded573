"""Knowledge gaps: where engineers are least helped (METRICS.md §4, last row).

Inputs (frames of :mod:`rfa.queries.gaps`):

* ``ai_sessions`` — :data:`~rfa.queries.ai_sessions.AI_SESSION_SCHEMA` (at least
  ``ai_session_id``, ``tree_id``, ``status``, ``problem_domain``,
  ``confidence_tier``: String, nullable): the account's FlowPilot sessions created
  in the window;
* ``flows`` — :data:`~rfa.queries.gaps.FLOW_TREE_SCHEMA`: ``tree_id``, ``name``,
  ``tree_structure`` (JSON text) of the account's flows;
* ``pending_proposals`` — :data:`~rfa.queries.gaps.PENDING_PROPOSAL_SCHEMA`:
  ``problem_domain`` (String) and ``pending`` (Int64) per domain;
* ``option_sessions`` — :data:`~rfa.queries.gaps.OPTION_SESSION_SCHEMA`: the
  troubleshooting sessions of every flow started in the window with
  ``completed_at`` (Datetime[us, UTC]), ``outcome`` and ``decisions`` (JSON text
  of ``[{node_id, choice, at}, …]``).

Gap kinds and what triggers them (every rate is a fraction; thresholds are the
fields of :class:`GapThresholds`):

=============================  ==================================================
``domain_without_flows``       a problem domain none of whose AI sessions matched
                               a flow (METRICS.md coverage by domain: flow_count 0)
``domain_high_escalation``     escalated / sessions ≥ ``min_escalation_rate``
``domain_low_guided``          guided-tier / sessions ≤ ``max_guided_rate``
``domain_many_discovery``      discovery-tier / sessions ≥ ``min_discovery_share``
``flow_high_escalation``       AI sessions matched to a flow: escalated / sessions
                               ≥ ``min_flow_escalation_rate``
``flow_option_bad_outcomes``   an option (flow, step, choice) of the flows' decisions:
                               (escalated + unresolved) / ended sessions that took it
                               ≥ ``min_option_bad_outcome_rate`` and at least
                               ``min_option_excess`` above the flow's own rate
=============================  ==================================================

*Escalated* AI sessions have status ``escalated`` or ``requesting_escalation``
(METRICS.md §4). Domain and flow gaps need ``min_sessions`` AI sessions behind
them, option gaps ``min_option_sessions`` *ended* sessions (completed with one of
the four outcomes); nothing is claimed below that. Sessions without a domain are
ignored for domain gaps (they still count for flow gaps). A domain without flows
is not also reported as low-guided or many-discovery (both follow from having
no flow); its evidence carries those counts.

**Severity** (:func:`severity`): *margin* is how far past its threshold the rate
is, as a share of the room beyond the threshold — ``(rate − t) / (1 − t)`` for
"at least" thresholds, ``(t − rate) / t`` for "at most" ones, 1 for a domain
without flows. A gap is *well past* when margin ≥ ``high_margin`` (default 0.5)
and *well supported* when its sessions ≥ ``strong_evidence_factor`` (default 2) ×
its minimum. **high** = well past and well supported; **medium** = one of the
two; **low** = neither (just past the threshold on thin evidence).

**Order**: severity (high first), then sessions behind the gap (descending), then
margin (descending), then kind and subject, so the list is stable.

**Suggested action**: a domain gap with pending proposals for the domain says to
review and approve them (``approve_proposals``), otherwise to write a flow for the
domain (``write_flow``); a flow gap says to review the flow (``review_flow``); an
option gap names the option and step to review (``review_option``). A domain is
written in words (:func:`rfa.labels.humanize`: ``line_of_business`` → "Line of
business"), as every table and chart spells it; ``subject`` keeps the stored name.
"""

from __future__ import annotations

import json
from typing import Literal

import polars as pl
from pydantic import Field

from rfa.labels import humanize
from rfa.metrics.flow import decode_decisions, node_titles
from rfa.metrics.models import OUTCOMES, Result
from rfa.metrics.uncertainty import MIN_N
from rfa.metrics.uncertainty import rate as rate_estimate

GapKind = Literal[
    "domain_without_flows",
    "domain_high_escalation",
    "domain_low_guided",
    "domain_many_discovery",
    "flow_high_escalation",
    "flow_option_bad_outcomes",
]
Severity = Literal["high", "medium", "low"]
Action = Literal["write_flow", "approve_proposals", "review_flow", "review_option"]

SEVERITY_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2}
ESCALATED_STATUSES: tuple[str, ...] = ("escalated", "requesting_escalation")
"""AI-session statuses counted as escalated (METRICS.md §4)."""
BAD_OUTCOMES: tuple[str, ...] = ("escalated", "unresolved")
"""Session outcomes that make a flow option's session a bad one."""


class GapThresholds(Result):
    """When a gap is claimed. Rates are fractions in [0, 1].

    Defaults and why:

    * ``min_sessions = 10`` AI sessions behind a domain or flow gap: below that a
      single session moves a rate by more than 10 points;
    * ``min_escalation_rate = 0.40`` — two in five sessions of a domain escalated,
      about twice what a domain with usable flows shows;
    * ``max_guided_rate = 0.30`` — fewer than three in ten sessions of a domain were
      guided by a well-matched flow;
    * ``min_discovery_share = 0.30`` — three in ten or more sessions of a domain
      had no flow to go on (discovery tier);
    * ``min_flow_escalation_rate = 0.50`` — half the AI sessions matched to a flow
      escalated although a flow was found: the flow itself is not helping;
    * ``min_option_sessions = 8`` ended sessions that took a flow option: options
      split a flow's sessions, so the bar is lower than for a domain;
    * ``min_option_bad_outcome_rate = 0.50`` — at least half the sessions that took
      the option ended escalated or unresolved;
    * ``min_option_excess = 0.10`` — and that rate is at least 10 points above the
      flow's own bad-outcome rate (all its ended sessions), so the gap is about the
      option, not a flow that ends badly whatever is chosen (in the full demo a
      third to a half of the options past 50 % are not 10 points worse than their
      flow); None turns the comparison off;
    * ``high_margin = 0.5`` and ``strong_evidence_factor = 2.0`` — the severity rule
      (module docstring): well past = half the room beyond the threshold, well
      supported = twice the minimum sessions.
    """

    min_sessions: int = Field(10, ge=1)
    min_escalation_rate: float = Field(0.40, ge=0.0, le=1.0)
    max_guided_rate: float = Field(0.30, ge=0.0, le=1.0)
    min_discovery_share: float = Field(0.30, ge=0.0, le=1.0)
    min_flow_escalation_rate: float = Field(0.50, ge=0.0, le=1.0)
    min_option_sessions: int = Field(8, ge=1)
    min_option_bad_outcome_rate: float = Field(0.50, ge=0.0, le=1.0)
    min_option_excess: float | None = Field(0.10, ge=0.0, le=1.0)
    high_margin: float = Field(0.5, ge=0.0, le=1.0)
    strong_evidence_factor: float = Field(2.0, ge=1.0)


class GapEvidence(Result):
    """The counts behind a gap; a count that does not apply to the gap's kind is None.

    Domain and flow gaps count AI sessions (``sessions``, ``escalated``,
    ``guided``, ``discovery``, ``matched_flows``; domains also
    ``pending_proposals``). Option gaps count troubleshooting sessions that took
    the option (``sessions``), those that ended with an outcome (``ended``),
    ``escalated``, ``unresolved`` and ``bad_outcomes`` = escalated + unresolved,
    plus the flow's own bad-outcome rate over all its ended sessions
    (``flow_bad_outcome_rate``, a fraction) for comparison.
    """

    sessions: int
    escalated: int
    guided: int | None = None
    discovery: int | None = None
    matched_flows: int | None = None
    pending_proposals: int | None = None
    ended: int | None = None
    unresolved: int | None = None
    bad_outcomes: int | None = None
    flow_bad_outcome_rate: float | None = None


class Gap(Result):
    """One knowledge gap: what, where, how bad, the evidence and what to do."""

    kind: GapKind
    severity: Severity
    subject: str
    """Human name: the domain; the flow's name; or ``Flow › step › "option"``."""
    domain: str | None = None
    tree_id: str | None = None
    flow_name: str | None = None
    node_id: str | None = None
    step_title: str | None = None
    option: str | None = None
    metric: str
    """Which rate triggered it: escalation_rate, guided_rate, discovery_share,
    matched_share or bad_outcome_rate."""
    rate: float
    """The rate (fraction) that crossed the threshold."""
    threshold: float
    direction: Literal["at_least", "at_most"]
    """``at_least``: rate ≥ threshold is a gap; ``at_most``: rate ≤ threshold is."""
    margin: float
    """How far past the threshold, 0–1 (see :func:`severity`)."""
    evidence_sessions: int
    """Sessions behind the rate (its denominator), compared with the minimum."""
    rate_low: float | None = None
    rate_high: float | None = None
    """95% Wilson interval of ``rate`` (fractions) from its counts over
    ``evidence_sessions`` (:func:`rfa.metrics.uncertainty.rate`)."""
    few: bool = False
    """``evidence_sessions`` below the page's ``min_n``: shown muted as "few sessions"."""
    evidence: GapEvidence
    action: Action
    suggested_action: str


class DomainStats(Result):
    """Per problem domain of the window's AI sessions (the domain-gap evidence)."""

    domain: str
    sessions: int
    escalated: int
    guided: int
    discovery: int
    matched_sessions: int
    matched_flows: int
    pending_proposals: int
    escalation_rate: float
    guided_rate: float
    discovery_share: float


class OptionStats(Result):
    """Per flow option (flow, step, choice) taken in the window's sessions."""

    tree_id: str
    flow_name: str
    node_id: str
    step_title: str
    option: str
    sessions: int
    ended: int
    escalated: int
    unresolved: int
    bad_outcomes: int
    bad_outcome_rate: float | None
    """bad_outcomes / ended; None when no session that took it ended."""
    flow_bad_outcome_rate: float | None


class KnowledgeGapReport(Result):
    """The gaps with the thresholds used and how much could be judged at all."""

    thresholds: GapThresholds
    gaps: list[Gap]
    domains_assessed: int
    """Domains with at least ``min_sessions`` AI sessions (the others cannot be gaps)."""
    domains_below_min_sessions: int
    sessions_without_domain: int
    """AI sessions with no problem_domain (ignored by domain gaps)."""
    options_assessed: int
    """Flow options with at least ``min_option_sessions`` ended sessions."""


def margin(rate: float, threshold: float, direction: Literal["at_least", "at_most"]) -> float:
    """How far ``rate`` is past ``threshold`` as a share of the room beyond it, in [0, 1].

    ``at_least``: ``(rate − t) / (1 − t)``; ``at_most``: ``(t − rate) / t``; 1.0
    when there is no room (t = 1 or t = 0 respectively); 0.0 when not past.
    Rounded to 9 decimals so hand-computed boundaries are exact.
    """
    if direction == "at_least":
        room, past = 1.0 - threshold, rate - threshold
    else:
        room, past = threshold, threshold - rate
    if past < 0:
        return 0.0
    # rounded so that e.g. (0.7 − 0.4) / 0.6 is exactly 0.5, not 0.49999999999999994
    return 1.0 if room <= 0 else min(round(past / room, 9), 1.0)


def severity(margin_: float, sessions: int, minimum: int, thresholds: GapThresholds) -> Severity:
    """high / medium / low from how far past the threshold and how many sessions.

    Well past: ``margin_ ≥ high_margin``; well supported: ``sessions ≥
    strong_evidence_factor × minimum``. Both → high, one → medium, neither → low.
    """
    past = margin_ >= thresholds.high_margin
    supported = sessions >= thresholds.strong_evidence_factor * minimum
    if past and supported:
        return "high"
    return "medium" if past or supported else "low"


def _pct(rate: float) -> str:
    return f"{rate:.0%}"


def _int(value) -> int:
    return int(value or 0)


def domain_stats(
    ai_sessions: pl.DataFrame, pending_proposals: pl.DataFrame | None = None
) -> list[DomainStats]:
    """Per-domain counts and rates of the window's AI sessions, by sessions then domain.

    Sessions with a null or empty ``problem_domain`` are left out.
    ``escalation_rate`` = escalated / sessions, ``guided_rate`` = guided tier /
    sessions, ``discovery_share`` = discovery tier / sessions (fractions);
    ``matched_flows`` = distinct non-null ``tree_id`` (METRICS.md coverage by
    domain flow_count); ``pending_proposals`` from ``pending_proposals`` (0 if absent).
    """
    pending: dict[str, int] = {}
    if pending_proposals is not None:
        pending = {
            d: _int(n)
            for d, n in pending_proposals.select("problem_domain", "pending").iter_rows()
            if d
        }
    per_domain = (
        ai_sessions.filter(
            pl.col("problem_domain").is_not_null() & (pl.col("problem_domain").str.len_chars() > 0)
        )
        .group_by("problem_domain")
        .agg(
            pl.len().alias("sessions"),
            pl.col("status").is_in(list(ESCALATED_STATUSES)).sum().alias("escalated"),
            (pl.col("confidence_tier") == "guided").sum().alias("guided"),
            (pl.col("confidence_tier") == "discovery").sum().alias("discovery"),
            pl.col("tree_id").is_not_null().sum().alias("matched_sessions"),
            pl.col("tree_id").drop_nulls().n_unique().alias("matched_flows"),
        )
        .sort(["sessions", "problem_domain"], descending=[True, False])
    )
    out = []
    for row in per_domain.iter_rows(named=True):
        n = row["sessions"]
        counts = {k: _int(row[k]) for k in ("escalated", "guided", "discovery")}
        out.append(
            DomainStats(
                domain=row["problem_domain"],
                sessions=n,
                **counts,
                matched_sessions=_int(row["matched_sessions"]),
                matched_flows=_int(row["matched_flows"]),
                pending_proposals=pending.get(row["problem_domain"], 0),
                escalation_rate=counts["escalated"] / n,
                guided_rate=counts["guided"] / n,
                discovery_share=counts["discovery"] / n,
            )
        )
    return out


def _flow_names(flows: pl.DataFrame) -> dict[str, str]:
    return dict(flows.select("tree_id", "name").iter_rows())


def _flow_titles(flows: pl.DataFrame, tree_ids: set[str]) -> dict[str, dict[str, str]]:
    titles: dict[str, dict[str, str]] = {}
    for tree_id, text in flows.select("tree_id", "tree_structure").iter_rows():
        if tree_id not in tree_ids:
            continue
        try:
            structure = json.loads(text) if text else {}
        except ValueError:
            structure = {}
        titles[tree_id] = node_titles(structure if isinstance(structure, dict) else {})
    return titles


def option_stats(option_sessions: pl.DataFrame, flows: pl.DataFrame) -> list[OptionStats]:
    """Per flow option: the sessions that took it and how they ended.

    An option is a decision ``{node_id, choice}`` with a non-empty ``choice``
    (the answer picked at a question step); a session that took it several
    times counts once; a session with null or malformed decisions takes none
    (it still counts in its flow's own rate). *Ended* sessions are completed with one of the four
    outcomes; ``bad_outcome_rate`` = (escalated + unresolved) / ended, None when
    none ended. ``flow_bad_outcome_rate`` is the same rate over all the flow's
    sessions. Flow names and step titles come from ``flows`` ("Unknown flow",
    "Unknown step" when missing). Ordered by bad_outcome_rate (desc, None last),
    ended (desc), then flow, step and option.
    """
    ended = pl.col("completed_at").is_not_null() & pl.col("outcome").is_in(list(OUTCOMES))
    bad = ended & pl.col("outcome").is_in(list(BAD_OUTCOMES))
    taken = (
        option_sessions.with_columns(decode_decisions(option_sessions["decisions"]))
        .explode("decisions")
        .filter(pl.col("decisions").is_not_null())
        .with_columns(
            pl.col("decisions").struct.field("node_id").alias("node_id"),
            pl.col("decisions").struct.field("choice").alias("option"),
        )
        .filter((pl.col("node_id").str.len_chars() > 0) & (pl.col("option").str.len_chars() > 0))
        .unique(["session_id", "tree_id", "node_id", "option"])
    )
    if taken.height == 0:
        return []
    baseline = (
        option_sessions.group_by("tree_id")
        .agg(ended.sum().alias("e"), bad.sum().alias("b"))
        .select("tree_id", pl.when(pl.col("e") > 0).then(pl.col("b") / pl.col("e")).alias("base"))
    )
    per_option = (
        taken.group_by("tree_id", "node_id", "option")
        .agg(
            pl.len().alias("sessions"),
            ended.sum().alias("ended"),
            (ended & (pl.col("outcome") == "escalated")).sum().alias("escalated"),
            (ended & (pl.col("outcome") == "unresolved")).sum().alias("unresolved"),
        )
        .join(baseline, on="tree_id", how="left")
    )
    names = _flow_names(flows)
    titles = _flow_titles(flows, set(per_option["tree_id"].to_list()))
    rows = []
    for r in per_option.iter_rows(named=True):
        n_ended, n_bad = _int(r["ended"]), _int(r["escalated"]) + _int(r["unresolved"])
        rows.append(
            OptionStats(
                tree_id=r["tree_id"],
                flow_name=names.get(r["tree_id"]) or "Unknown flow",
                node_id=r["node_id"],
                step_title=titles.get(r["tree_id"], {}).get(r["node_id"], "Unknown step"),
                option=r["option"],
                sessions=r["sessions"],
                ended=n_ended,
                escalated=_int(r["escalated"]),
                unresolved=_int(r["unresolved"]),
                bad_outcomes=n_bad,
                bad_outcome_rate=n_bad / n_ended if n_ended else None,
                flow_bad_outcome_rate=r["base"],
            )
        )
    rows.sort(
        key=lambda o: (
            o.bad_outcome_rate is None,
            -(o.bad_outcome_rate or 0.0),
            -o.ended,
            o.flow_name,
            o.step_title,
            o.option,
            o.tree_id,
            o.node_id,
        )
    )
    return rows


def _domain_action(d: DomainStats, reason: str) -> tuple[Action, str]:
    if d.pending_proposals:
        n = d.pending_proposals
        proposals = "pending flow proposal" if n == 1 else f"{n} pending flow proposals"
        return (
            "approve_proposals",
            f"Review and approve the {proposals} for {humanize(d.domain)}: {reason}",
        )
    return "write_flow", f"Write a flow for {humanize(d.domain)}: {reason}"


def _interval(successes: int, n: int, min_n: int) -> dict:
    """``rate_low`` / ``rate_high`` (95% Wilson, fractions) and ``few`` of a gap's rate."""
    est = rate_estimate(successes, n, min_n=min_n)
    return {"rate_low": est.low, "rate_high": est.high, "few": est.few}


_DOMAIN_COUNT = {
    "matched_share": "matched_sessions",
    "escalation_rate": "escalated",
    "guided_rate": "guided",
    "discovery_share": "discovery",
}
"""The DomainStats count behind each domain gap's rate (its numerator)."""


def _domain_gaps(stats: list[DomainStats], th: GapThresholds, min_n: int = MIN_N) -> list[Gap]:
    gaps = []
    for d in stats:
        if d.sessions < th.min_sessions:
            continue
        evidence = GapEvidence(
            sessions=d.sessions,
            escalated=d.escalated,
            guided=d.guided,
            discovery=d.discovery,
            matched_flows=d.matched_flows,
            pending_proposals=d.pending_proposals,
        )
        of = f"of {d.sessions} sessions"
        checks: list[tuple[GapKind, str, float, float, Literal["at_least", "at_most"], str]] = []
        if d.matched_flows == 0:
            checks.append(
                (
                    "domain_without_flows",
                    "matched_share",
                    d.matched_sessions / d.sessions,
                    0.0,
                    "at_most",
                    f"none of its {d.sessions} sessions matched a flow",
                )
            )
        if d.escalation_rate >= th.min_escalation_rate:
            checks.append(
                (
                    "domain_high_escalation",
                    "escalation_rate",
                    d.escalation_rate,
                    th.min_escalation_rate,
                    "at_least",
                    f"{d.escalated} {of} escalated ({_pct(d.escalation_rate)})",
                )
            )
        if d.matched_flows > 0 and d.guided_rate <= th.max_guided_rate:
            checks.append(
                (
                    "domain_low_guided",
                    "guided_rate",
                    d.guided_rate,
                    th.max_guided_rate,
                    "at_most",
                    f"only {d.guided} {of} were guided by a flow ({_pct(d.guided_rate)})",
                )
            )
        if d.matched_flows > 0 and d.discovery_share >= th.min_discovery_share:
            checks.append(
                (
                    "domain_many_discovery",
                    "discovery_share",
                    d.discovery_share,
                    th.min_discovery_share,
                    "at_least",
                    f"{d.discovery} {of} were discovery-tier ({_pct(d.discovery_share)})",
                )
            )
        for kind, metric, rate, threshold, direction, reason in checks:
            m = 1.0 if kind == "domain_without_flows" else margin(rate, threshold, direction)
            action, text = _domain_action(d, reason)
            gaps.append(
                Gap(
                    kind=kind,
                    severity=severity(m, d.sessions, th.min_sessions, th),
                    subject=d.domain,
                    domain=d.domain,
                    metric=metric,
                    rate=rate,
                    threshold=threshold,
                    direction=direction,
                    margin=m,
                    evidence_sessions=d.sessions,
                    **_interval(getattr(d, _DOMAIN_COUNT[metric]), d.sessions, min_n),
                    evidence=evidence,
                    action=action,
                    suggested_action=text,
                )
            )
    return gaps


def _flow_gaps(
    ai_sessions: pl.DataFrame, flows: pl.DataFrame, th: GapThresholds, min_n: int = MIN_N
) -> list[Gap]:
    per_flow = (
        ai_sessions.filter(pl.col("tree_id").is_not_null())
        .group_by("tree_id")
        .agg(
            pl.len().alias("sessions"),
            pl.col("status").is_in(list(ESCALATED_STATUSES)).sum().alias("escalated"),
            (pl.col("confidence_tier") == "guided").sum().alias("guided"),
            (pl.col("confidence_tier") == "discovery").sum().alias("discovery"),
        )
    )
    names = _flow_names(flows)
    gaps = []
    for r in per_flow.iter_rows(named=True):
        n, esc = r["sessions"], _int(r["escalated"])
        rate = esc / n
        if n < th.min_sessions or rate < th.min_flow_escalation_rate:
            continue
        name = names.get(r["tree_id"]) or "Unknown flow"
        m = margin(rate, th.min_flow_escalation_rate, "at_least")
        gaps.append(
            Gap(
                kind="flow_high_escalation",
                severity=severity(m, n, th.min_sessions, th),
                subject=name,
                tree_id=r["tree_id"],
                flow_name=name,
                metric="escalation_rate",
                rate=rate,
                threshold=th.min_flow_escalation_rate,
                direction="at_least",
                margin=m,
                evidence_sessions=n,
                **_interval(esc, n, min_n),
                evidence=GapEvidence(
                    sessions=n,
                    escalated=esc,
                    guided=_int(r["guided"]),
                    discovery=_int(r["discovery"]),
                ),
                action="review_flow",
                suggested_action=f'Review flow "{name}": {esc} of {n} FlowPilot sessions '
                f"matched to it escalated ({_pct(rate)})",
            )
        )
    return gaps


def _option_gaps(options: list[OptionStats], th: GapThresholds, min_n: int = MIN_N) -> list[Gap]:
    gaps = []
    for o in options:
        rate = o.bad_outcome_rate
        if o.ended < th.min_option_sessions or rate is None:
            continue
        if rate < th.min_option_bad_outcome_rate:
            continue
        base = o.flow_bad_outcome_rate
        if th.min_option_excess is not None and base is not None:
            if round(rate - base, 9) < th.min_option_excess:
                continue
        m = margin(rate, th.min_option_bad_outcome_rate, "at_least")
        gaps.append(
            Gap(
                kind="flow_option_bad_outcomes",
                severity=severity(m, o.ended, th.min_option_sessions, th),
                subject=f'{o.flow_name} › {o.step_title} › "{o.option}"',
                tree_id=o.tree_id,
                flow_name=o.flow_name,
                node_id=o.node_id,
                step_title=o.step_title,
                option=o.option,
                metric="bad_outcome_rate",
                rate=rate,
                threshold=th.min_option_bad_outcome_rate,
                direction="at_least",
                margin=m,
                evidence_sessions=o.ended,
                **_interval(o.bad_outcomes, o.ended, min_n),
                evidence=GapEvidence(
                    sessions=o.sessions,
                    escalated=o.escalated,
                    ended=o.ended,
                    unresolved=o.unresolved,
                    bad_outcomes=o.bad_outcomes,
                    flow_bad_outcome_rate=o.flow_bad_outcome_rate,
                ),
                action="review_option",
                suggested_action=f'Review option "{o.option}" at step "{o.step_title}" of flow '
                f'"{o.flow_name}": {o.bad_outcomes} of {o.ended} sessions that took it ended '
                f"escalated or unresolved ({_pct(rate)})",
            )
        )
    return gaps


def sort_gaps(gaps: list[Gap]) -> list[Gap]:
    """Severity (high first), sessions behind the gap (desc), margin (desc), kind, subject."""
    return sorted(
        gaps,
        key=lambda g: (
            SEVERITY_ORDER[g.severity],
            -g.evidence_sessions,
            -g.margin,
            g.kind,
            g.subject,
            g.tree_id or "",
            g.node_id or "",
        ),
    )


def knowledge_gaps(
    ai_sessions: pl.DataFrame,
    flows: pl.DataFrame,
    pending_proposals: pl.DataFrame,
    option_sessions: pl.DataFrame,
    thresholds: GapThresholds | None = None,
    *,
    min_n: int = MIN_N,
) -> list[Gap]:
    """The knowledge gaps of one account and window (METRICS.md §4 "knowledge gaps").

    Inputs as in the module docstring. Returns the domain, flow and option gaps
    that pass ``thresholds`` (default :class:`GapThresholds`), none below the
    minimum sessions, each with evidence counts, the triggering rate (fraction)
    and threshold, a severity and a suggested action; ordered as
    :func:`sort_gaps`. Empty inputs give an empty list. Errors: a frame without
    the documented columns raises ``polars.exceptions.ColumnNotFoundError``;
    malformed ``decisions`` JSON only leaves that session's options out (an
    unreadable ``tree_structure`` only turns step titles into "Unknown step");
    :mod:`rfa.validation` reports both.
    """
    return knowledge_gap_report(
        ai_sessions, flows, pending_proposals, option_sessions, thresholds, min_n=min_n
    ).gaps


def knowledge_gap_report(
    ai_sessions: pl.DataFrame,
    flows: pl.DataFrame,
    pending_proposals: pl.DataFrame,
    option_sessions: pl.DataFrame,
    thresholds: GapThresholds | None = None,
    *,
    min_n: int = MIN_N,
) -> KnowledgeGapReport:
    """:func:`knowledge_gaps` with the thresholds used and what could be assessed.

    Adds the number of domains with / without enough sessions, the AI sessions
    without a domain and the flow options with enough ended sessions, so a page
    can say how much of the window was judged. Every gap carries the 95% Wilson
    interval of its rate (``rate_low`` / ``rate_high``) and ``few`` when fewer than
    ``min_n`` sessions stand behind it (a gap still needs its own minimum sessions).
    """
    th = thresholds or GapThresholds()
    domains = domain_stats(ai_sessions, pending_proposals)
    options = option_stats(option_sessions, flows)
    assessed = sum(d.sessions >= th.min_sessions for d in domains)
    no_domain = ai_sessions.filter(
        pl.col("problem_domain").is_null() | (pl.col("problem_domain").str.len_chars() == 0)
    ).height
    return KnowledgeGapReport(
        thresholds=th,
        gaps=sort_gaps(
            _domain_gaps(domains, th, min_n)
            + _flow_gaps(ai_sessions, flows, th, min_n)
            + _option_gaps(options, th, min_n)
        ),
        domains_assessed=assessed,
        domains_below_min_sessions=len(domains) - assessed,
        sessions_without_domain=no_domain,
        options_assessed=sum(o.ended >= th.min_option_sessions for o in options),
    )
