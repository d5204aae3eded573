"""Plain-language definitions of every published metric — one source for pages and JSON.

Keys are the metric names used in the data files; texts say what docs/METRICS.md defines
(§3–§5), in fewer words. A page's glossary prints them: they name no file and link nowhere.
"""

from __future__ import annotations

from rfa.metrics import uncertainty as _u

DEFINITIONS: dict[str, str] = {
    "total_sessions": "Troubleshooting sessions started in the window.",
    "completed_sessions": "Sessions of the window that reached an end (completed_at is set).",
    "completion_rate": (
        "Completed sessions ÷ sessions started. With no session there is no rate: the page "
        "shows “—” and the KPI's value is null (the data file's summary keeps 0, as "
        "ResolutionFlow's own analytics do)."
    ),
    "median_duration_minutes": (
        "Median time from start to completion, in minutes, over completed sessions. "
        "Sessions recorded as completed before they started are excluded and listed "
        "under data quality."
    ),
    "active_engineers": "Distinct engineers who started at least one session in the window.",
    "outcome_breakdown": (
        "Completed sessions by outcome: resolved, escalated, workaround, unresolved."
    ),
    "time_series": (
        "Sessions started per local day (account timezone), every day of the window "
        "shown, with the outcome of those that completed."
    ),
    "top_flows": (
        "The 10 flows with most sessions in the window, with their completion rate, median "
        "duration and average CSAT of ratings given in the window, each with its 95% "
        "interval; listed by the lower end of the completion rate's interval."
    ),
    "top_engineers": (
        "The 10 engineers with most sessions in the window, same columns (each with its "
        "95% interval); CSAT is from ratings of their sessions; listed by the lower end of "
        "the completion rate's interval."
    ),
    "p90_duration_minutes": (
        "90th percentile of the same durations: nine in ten completed sessions took at "
        "most this long (service-desk convention: read it beside the median)."
    ),
    "duration_distribution": (
        "How many completed sessions took 0–5, 5–10 … minutes, up to 2 hours or more "
        "(same durations as the median)."
    ),
    "csat_score": (
        "CSAT score: share of valid ratings that are 4 or 5 (the service-desk "
        "convention), shown beside the 1–5 average."
    ),
    "intervals": (
        "Every figure carries its n and a 95% interval: Wilson for rates, Student t for "
        f"means (CSAT, MTTR, steps), a seeded bootstrap ({_u.BOOTSTRAP_RESAMPLES:,} "
        "resamples) for medians and p90/p95 — above "
        f"{_u.BOOTSTRAP_MAX_N:,} values the equivalent distribution-free order-statistic "
        "interval — and an exact Poisson interval for counts. Tables order leaders by the "
        "interval's lower end, so a flow with 2 of 2 completed cannot top a list on luck."
    ),
    "comparison": (
        "Each KPI is compared with the previous window of the same length. The change is "
        "called up or down only when a test finds it beyond noise at the 5% level: "
        "two-proportion z-test for rates, Mann–Whitney U for durations, Welch t-test for "
        "means, Poisson rate test for counts; otherwise the page says 'no clear change'. "
        "Data-quality findings of the previous window are not reported."
    ),
    "few_sessions": (
        f"A figure resting on fewer observations than the page's min_n (default {_u.MIN_N}) is "
        "shown muted as 'few sessions' and is never called a change: with so few, the "
        "interval is too wide to read."
    ),
    "count_kpis": (
        "Counts of this window (flows matched, domains without a flow, gaps…) with an "
        "exact Poisson interval and the Poisson rate test against the previous window — "
        "an indication only: these are counts of judgements, not of independent events."
    ),
    "avg_csat": (
        "Average flow rating (1–5) of ratings given in the window; ratings outside "
        "1–5 are excluded."
    ),
    "total_ratings": "Valid CSAT ratings (1–5) given in the window.",
    "step_table": (
        "Per step of the flow: visits (decisions at that step), drop-offs (unfinished "
        "sessions whose last decision was that step), drop-off rate = drop-offs ÷ "
        "visits, and thumbs up/down engineers gave the step; helpful rate = up ÷ (up + down)."
    ),
    "recent_comments": (
        "The 10 newest non-empty CSAT comments of the window, shown without their author."
    ),
    "data_quality": "Faulty rows found in the window, how many, and what was excluded.",
    "small_group_privacy": (
        "CSAT, comments and a step's thumbs are only shown when at least k distinct "
        "engineers gave them (k is the min_group_size parameter, default 3), so nothing on "
        "this page can be traced to one person."
    ),
    # FlowPilot (METRICS.md §4): rates are percentages of AI sessions created in the window.
    "ai_sessions": (
        "FlowPilot (AI assistant) sessions created in the window; escalated counts "
        "escalated and requesting_escalation."
    ),
    "resolution_rate_pct": (
        "Resolved AI sessions ÷ AI sessions created in the window. The KPI holds it as a "
        "fraction (0–1) with its interval; the summary and the tables' *_pct fields hold "
        "percent (0–100); pages show a percentage."
    ),
    "avg_steps_to_resolution": "Mean number of steps of the resolved AI sessions.",
    "avg_rating": "Mean engineer rating (1–5) of AI sessions that were rated.",
    "mttr_minutes": (
        "Mean time to resolution: minutes from creation to resolution of resolved AI "
        "sessions. The daily trend is by local resolution day; days without resolutions "
        "show no value (not zero)."
    ),
    "sessions_by_domain": "AI sessions per problem domain, with resolved, escalated and rate.",
    "confidence_breakdown": (
        "Among AI sessions that ended resolved or escalated: sessions and resolution rate "
        "per confidence tier (guided, exploring, discovery), with the rate's 95% interval; "
        "a tier with few sessions is drawn pale and hatched."
    ),
    "knowledge_coverage": (
        "As they stood at the window's end: flows in the account and flows written or "
        "enhanced by AI, counting only flows created before the window's end (a page for a "
        "past date shows what existed then; a flow with no creation date counts), flow "
        "proposals pending review at the window's end (any age), and proposals approved "
        "(or modified) and rejected in the window."
    ),
    "coverage_by_domain": (
        "Per problem domain: flows matched by its AI sessions, sessions, resolution, "
        "escalation and guided rates, and mean minutes to resolution; sessions without a "
        "domain are counted apart. A domain with no matched flow is uncovered."
    ),
    "flow_quality": (
        "Per flow matched by AI sessions: uses, success rate (with its 95% interval), last "
        "match, mean match confidence (with its 95% interval) and a 0–100 quality score "
        "(formula on the page). Top "
        "performers are listed by the lower end of the success rate's interval, flows "
        "needing attention by its upper end (most surely bad first)."
    ),
    "psa": (
        "PSA integration: share of AI sessions linked to a ticket; pushes to the PSA "
        "(posted in the window) that succeeded at the first try or after retries; time "
        "entries logged and their hours. The funnel is nested: each stage counts the AI "
        "sessions of the window that also reached every stage before it — linked to a "
        "ticket; linked and a doc pushed; linked, a doc pushed and a time entry logged "
        "(successful posts only, posted before the window's end) — so it only narrows. "
        "The same stages counted each on its own (a session may log time without a doc) "
        "are shown apart, as shares of all AI sessions, not as a funnel."
    ),
    "knowledge_gaps": (
        "Domains, flows and flow options where engineers are least helped: high "
        "escalation, low guided rate, many discovery-tier sessions, no matching flow, or a "
        "flow option whose sessions mostly end escalated or unresolved. A gap is only "
        "claimed with enough sessions behind it (thresholds on the page); severity grows "
        "with how far past the threshold and how many sessions back it."
    ),
    "escalation_lag": (
        "Seconds from a hand-off being claimed to the first FlowPilot step after the "
        "claim, over hand-offs claimed in the window (unclaimed are excluded). It "
        "measures post-claim activity lag, not minutes recovered, and must not be "
        "presented as savings."
    ),
    "n_handoffs_claimed": (
        "Escalation hand-offs claimed in the window (unclaimed ones are excluded and "
        "reported as context); a count, with an exact Poisson interval."
    ),
    "action_conversion_rate": (
        "Claimed hand-offs followed by an AI-session step after the claim ÷ hand-offs "
        "claimed in the window (a fraction, shown as a percentage, with its Wilson interval)."
    ),
    "median_seconds_to_first_action": (
        "Median seconds from claim to the first AI-session step, over claimed hand-offs "
        "that were acted on (lags below 0 from clock drift count as 0); never-acted-on "
        "hand-offs are excluded (they have no lag)."
    ),
    "p95_seconds_to_first_action": (
        "95th percentile of the same lags: 19 in 20 acted-on hand-offs were acted on within "
        "this time; with fewer than 20 lags it interpolates between the largest values."
    ),
}


def definitions_for(*keys: str) -> dict[str, str]:
    """The definitions of ``keys``, in that order (KeyError for an unknown metric)."""
    return {key: DEFINITIONS[key] for key in keys}
