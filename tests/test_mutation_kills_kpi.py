"""Honest KPIs (:mod:`rfa.metrics.kpi`), pinned down where mutation testing (``make mutation``)
found the tests silent: each page builder's exact KPI list, that ``period_label`` and ``min_n``
reach every KPI, the quantile KPIs' estimates, shared Mann–Whitney test and own direction, the
possible range of mean KPIs, and which values count at all.

Expected values are written out by hand (the windows below are built so that medians, p90s,
means and rates are round numbers) or come from numpy / scipy directly."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

import factories as f
from rfa.metrics import kpi

PERIOD = "previous 7 days"
FEW = "no clear change (few sessions)"
START = dt.datetime(2026, 11, 1, 10, 0)


def _session_rows(minutes: list[float | None], users: list[str], prefix: str) -> list[tuple]:
    """One session per entry: completed after ``minutes`` (None: not completed)."""
    rows = []
    for i, (m, user) in enumerate(zip(minutes, users, strict=True)):
        end = None if m is None else (START + dt.timedelta(minutes=m)).isoformat()
        rows.append(
            (f"{prefix}{i}", "t1", user, START.isoformat(), end, "resolved" if end else None)
        )
    return rows


def _ratings(values: list[int]) -> pl.DataFrame:
    return f.ratings([(f"s{i}", "t1", v, "", "2026-11-01 12:00") for i, v in enumerate(values)])


# This window: 60 sessions by 60 engineers, all completed in 30, 31, …, 89 minutes;
# ratings 5, 4, … (mean 4.5, all satisfied).
CUR_MINUTES = [30.0 + i for i in range(60)]
# Previous window: 30 sessions by 15 engineers, 20 completed in 5, 6, …, 24 minutes;
# ratings 2, 1, … (mean 1.5, none satisfied).
PREV_MINUTES = [5.0 + i for i in range(20)]


def _session_inputs():
    cur = f.sessions(_session_rows(CUR_MINUTES, [f"u{i}" for i in range(60)], "c"))
    prev = f.sessions(
        _session_rows(PREV_MINUTES + [None] * 10, [f"u{i % 15}" for i in range(30)], "p")
    )
    return cur, prev, _ratings([5, 4] * 15), _ratings([2, 1] * 15)


def _session_kpis(**kwargs) -> dict[str, kpi.KPI]:
    return kpi.by_key(kpi.session_kpis(*_session_inputs(), period_label=PERIOD, **kwargs))


SESSION_KPIS = [
    ("total_sessions", "Sessions", "count"),
    ("completion_rate", "Completion rate", "fraction"),
    ("median_duration_minutes", "Median duration", "minutes"),
    ("p90_duration_minutes", "p90 duration", "minutes"),
    ("avg_csat", "Average CSAT", "csat"),
    ("csat_score", "CSAT score (4–5)", "fraction"),
]
ENGINEERS_KPI = ("active_engineers", "Active engineers", "count")


def _pinned(kpis: list[kpi.KPI]) -> list[tuple[str, str, str]]:
    return [(k.key, k.label, k.unit) for k in kpis]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, SESSION_KPIS),  # engineers off by default
        ({"engineers": True}, [*SESSION_KPIS, ENGINEERS_KPI]),
        ({"csat": False}, SESSION_KPIS[:4]),
        ({"csat": False, "engineers": True}, [*SESSION_KPIS[:4], ENGINEERS_KPI]),
    ],
)
def test_session_kpis_are_these_keys_labels_and_units_in_display_order(kwargs, expected):
    kpis = kpi.session_kpis(*_session_inputs(), period_label=PERIOD, **kwargs)
    assert _pinned(kpis) == expected


# Every change below is far beyond noise, so each label names the period it compares with.
SESSION_CHANGES = {
    "total_sessions": (60.0, 30.0, "up 100% vs previous 7 days"),
    "completion_rate": (1.0, 20 / 30, "up 33.3 pts vs previous 7 days"),
    "median_duration_minutes": (59.5, 14.5, "up 45.0 min vs previous 7 days"),
    # p90 by linear interpolation: 30 + 0.9 · 59 = 83.1 and 5 + 0.9 · 19 = 22.1
    "p90_duration_minutes": (83.1, 22.1, "up 61.0 min vs previous 7 days"),
    "avg_csat": (4.5, 1.5, "up 3.00 vs previous 7 days"),
    "csat_score": (1.0, 0.0, "up 100.0 pts vs previous 7 days"),
    "active_engineers": (60.0, 15.0, "up 300% vs previous 7 days"),
}


@pytest.mark.parametrize("key", list(SESSION_CHANGES))
def test_every_session_kpi_compares_with_the_named_period(key):
    current, previous, label = SESSION_CHANGES[key]
    k = _session_kpis(engineers=True)[key]
    assert k.estimate.value == pytest.approx(current)
    assert k.previous.value == pytest.approx(previous)
    assert k.change.significant and k.change.direction == "up"
    assert k.change.label == label


def test_session_duration_quantiles_share_one_mann_whitney_test():
    k = _session_kpis()
    p = stats.mannwhitneyu(CUR_MINUTES, PREV_MINUTES, alternative="two-sided").pvalue
    for key in ("median_duration_minutes", "p90_duration_minutes"):
        assert k[key].change.test == "Mann–Whitney U"
        assert k[key].change.p_value == pytest.approx(p)
        assert (k[key].estimate.n, k[key].previous.n) == (60, 20)
    assert k["p90_duration_minutes"].change.delta == pytest.approx(61.0)


@pytest.mark.parametrize("key", [key for key, _, unit in SESSION_KPIS if unit != "count"])
def test_a_larger_min_n_makes_every_session_kpi_few(key):
    # the same windows that are all significant above: with min_n = 1000 each is "few"
    k = _session_kpis(min_n=1000)[key]
    assert k.estimate.few and k.previous.few
    assert not k.change.significant
    assert k.change.label == FEW


def test_counts_are_never_few_whatever_min_n():
    k = _session_kpis(min_n=1000, engineers=True)
    for key in ("total_sessions", "active_engineers"):
        assert not k[key].estimate.few and k[key].change.significant


# ── escalations ──────────────────────────────────────────────────────────

# 80 hand-offs claimed, 70 acted on after 100, 101, …, 169 s; before: 40 claimed, 20 acted
# on after 10, 11, …, 29 s.
CUR_LAGS = [100.0 + i for i in range(70)]
PREV_LAGS = [10.0 + i for i in range(20)]

ESCALATION_KPIS = [
    ("n_handoffs_claimed", "Hand-offs claimed", "count"),
    ("action_conversion_rate", "Acted on after claim", "fraction"),
    ("median_seconds_to_first_action", "Median time to first action", "seconds"),
    ("p95_seconds_to_first_action", "p95 time to first action", "seconds"),
]
ESCALATION_CHANGES = {
    "n_handoffs_claimed": (80.0, 40.0, "up 100% vs previous 7 days"),
    "action_conversion_rate": (70 / 80, 0.5, "up 37.5 pts vs previous 7 days"),
    "median_seconds_to_first_action": (134.5, 19.5, "up 115.0 s vs previous 7 days"),
    # p95 by linear interpolation: 100 + 0.95 · 69 = 165.55 and 10 + 0.95 · 19 = 28.05
    "p95_seconds_to_first_action": (165.55, 28.05, "up 137.5 s vs previous 7 days"),
}


def _escalation_kpis(**kwargs) -> list[kpi.KPI]:
    return kpi.escalation_kpis(
        80, pl.Series(CUR_LAGS), 40, pl.Series(PREV_LAGS), period_label=PERIOD, **kwargs
    )


def test_escalation_kpis_are_these_keys_labels_and_units_in_display_order():
    assert _pinned(_escalation_kpis()) == ESCALATION_KPIS


@pytest.mark.parametrize("key", list(ESCALATION_CHANGES))
def test_every_escalation_kpi_compares_with_the_named_period(key):
    current, previous, label = ESCALATION_CHANGES[key]
    k = kpi.by_key(_escalation_kpis())[key]
    assert k.estimate.value == pytest.approx(current)
    assert k.previous.value == pytest.approx(previous)
    assert k.change.significant and k.change.direction == "up"
    assert k.change.label == label


def test_escalation_lag_quantiles_share_one_mann_whitney_test():
    k = kpi.by_key(_escalation_kpis())
    p = stats.mannwhitneyu(CUR_LAGS, PREV_LAGS, alternative="two-sided").pvalue
    for key in ("median_seconds_to_first_action", "p95_seconds_to_first_action"):
        assert k[key].change.test == "Mann–Whitney U"
        assert k[key].change.p_value == pytest.approx(p)
        assert (k[key].estimate.n, k[key].previous.n) == (70, 20)


@pytest.mark.parametrize("key", [key for key, _, unit in ESCALATION_KPIS if unit != "count"])
def test_a_larger_min_n_makes_every_escalation_kpi_few(key):
    k = kpi.by_key(_escalation_kpis(min_n=1000))[key]
    assert k.estimate.few and k.previous.few
    assert not k.change.significant
    assert k.change.label == FEW


# ── FlowPilot ────────────────────────────────────────────────────────────


def _flowpilot_inputs() -> tuple[dict, dict]:
    current = {
        "total": 80,
        "resolved": 70,
        "mttr": pl.Series([30.0 + i for i in range(70)]),  # mean 64.5
        "steps": pl.Series([6.0, 8.0] * 35),  # mean 7
        "ratings": pl.Series([5.0, 4.0] * 20),  # mean 4.5
    }
    previous = {
        "total": 40,
        "resolved": 20,
        "mttr": pl.Series([5.0 + i for i in range(20)]),  # mean 14.5
        "steps": pl.Series([2.0, 4.0] * 10),  # mean 3
        "ratings": pl.Series([1.0, 2.0] * 10),  # mean 1.5
    }
    return current, previous


FLOWPILOT_KPIS = [
    ("ai_sessions", "AI sessions", "count"),
    ("resolution_rate_pct", "Resolution rate", "fraction"),
    ("mttr_minutes", "MTTR", "minutes"),
    ("avg_steps_to_resolution", "Avg steps to resolution", "steps"),
    ("avg_rating", "Average rating", "csat"),
]
FLOWPILOT_CHANGES = {
    "ai_sessions": (80.0, 40.0, "up 100% vs previous 7 days"),
    "resolution_rate_pct": (70 / 80, 0.5, "up 37.5 pts vs previous 7 days"),
    "mttr_minutes": (64.5, 14.5, "up 50.00 min vs previous 7 days"),
    "avg_steps_to_resolution": (7.0, 3.0, "up 4.00 steps vs previous 7 days"),
    "avg_rating": (4.5, 1.5, "up 3.00 vs previous 7 days"),
}


def test_flowpilot_kpis_are_these_keys_labels_and_units_in_display_order():
    kpis = kpi.flowpilot_kpis(*_flowpilot_inputs(), period_label=PERIOD)
    assert _pinned(kpis) == FLOWPILOT_KPIS


@pytest.mark.parametrize("key", list(FLOWPILOT_CHANGES))
def test_every_flowpilot_kpi_compares_with_the_named_period(key):
    current, previous, label = FLOWPILOT_CHANGES[key]
    k = kpi.by_key(kpi.flowpilot_kpis(*_flowpilot_inputs(), period_label=PERIOD))[key]
    assert k.estimate.value == pytest.approx(current)
    assert k.previous.value == pytest.approx(previous)
    assert k.change.significant and k.change.direction == "up"
    assert k.change.label == label


@pytest.mark.parametrize("key", [key for key, _, unit in FLOWPILOT_KPIS if unit != "count"])
def test_a_larger_min_n_makes_every_flowpilot_kpi_few(key):
    k = kpi.by_key(kpi.flowpilot_kpis(*_flowpilot_inputs(), period_label=PERIOD, min_n=1000))
    assert k[key].estimate.few and k[key].previous.few
    assert not k[key].change.significant
    assert k[key].change.label == FEW


# ── count KPIs ───────────────────────────────────────────────────────────


def test_count_kpis_pair_each_count_with_the_previous_count_of_its_key():
    counts = {"domains": ("Domains", 12), "flows": ("Flows", 30)}
    previous = {"flows": 10, "domains": 12}  # another order: matched by key, not position
    kpis = kpi.count_kpis(counts, previous, period_label=PERIOD)
    assert _pinned(kpis) == [("domains", "Domains", "count"), ("flows", "Flows", "count")]
    assert [(k.estimate.value, k.previous.value) for k in kpis] == [(12.0, 12.0), (30.0, 10.0)]
    assert [k.change.label for k in kpis] == [
        "no clear change",
        "up 200% vs previous 7 days",  # 30 vs 10: p = 0.002 (binomial 30 of 40)
    ]
    assert kpis[1].change.p_value == pytest.approx(stats.binomtest(30, 40).pvalue)


def test_count_kpis_of_nothing_are_no_kpis():
    assert kpi.count_kpis({}, {"flows": 3}, period_label=PERIOD) == []


def test_a_significant_count_change_names_the_period():
    k = kpi.count_kpi("c", "C", 100, 50, period_label=PERIOD)
    assert k.change.label == "up 100% vs previous 7 days"
    assert k.change.p_value == pytest.approx(stats.binomtest(100, 150).pvalue)


# ── rate KPIs ────────────────────────────────────────────────────────────


def test_a_rate_kpi_passes_min_n_to_both_estimates_and_the_test():
    # 10 of 10 against 0 of 10: z = 4.47, p < 0.001 — significant once min_n is 5, not 20
    k = kpi.rate_kpi("r", "R", 10, 10, 0, 10, period_label=PERIOD, min_n=5)
    assert not k.estimate.few and not k.previous.few
    assert k.change.label == "up 100.0 pts vs previous 7 days"
    default = kpi.rate_kpi("r", "R", 10, 10, 0, 10, period_label=PERIOD)
    assert default.estimate.few and default.previous.few
    assert default.change.label == FEW


# ── mean KPIs ────────────────────────────────────────────────────────────


def test_a_csat_mean_interval_is_cut_to_one_to_five_in_both_windows():
    # mean 4, s = 2, n = 4: t interval 4 ± 3.18 = [0.82, 7.18], cut to [1, 5]
    values = [5, 5, 5, 1]
    low, high = stats.t.interval(0.95, 3, loc=4.0, scale=stats.sem(values))
    assert low < 1 and high > 5
    k = kpi.mean_kpi("avg_csat", "CSAT", values, values, unit="csat", period_label=PERIOD)
    assert (k.estimate.low, k.estimate.high) == (1.0, 5.0)
    assert (k.previous.low, k.previous.high) == (1.0, 5.0)


@pytest.mark.parametrize("unit", ["minutes", "seconds", "steps"])
def test_a_duration_or_steps_mean_interval_is_cut_at_zero_only(unit):
    # mean 2, s = 2, n = 4: t interval 2 ± 3.18 = [-1.18, 5.18]: cut at 0, not at 1 or 5
    values = [1.0, 1.0, 1.0, 5.0]
    _, high = stats.t.interval(0.95, 3, loc=2.0, scale=stats.sem(values))
    assert high > 5
    k = kpi.mean_kpi("m", "M", values, values, unit=unit, period_label=PERIOD)
    assert (k.estimate.low, k.estimate.high) == pytest.approx((0.0, high))
    assert (k.previous.low, k.previous.high) == pytest.approx((0.0, high))


def test_a_mean_kpi_passes_min_n_and_the_period_to_estimates_and_test():
    cur, prev = [5.0, 5.0, 4.0, 5.0], [1.0, 2.0, 1.0, 1.0]  # means 4.75 and 1.25
    p = stats.ttest_ind(cur, prev, equal_var=False).pvalue
    assert p < 0.001
    k = kpi.mean_kpi("m", "M", cur, prev, unit="csat", period_label=PERIOD, min_n=3)
    assert not k.estimate.few and not k.previous.few
    assert k.change.p_value == pytest.approx(p)
    assert k.change.label == "up 3.50 vs previous 7 days"
    default = kpi.mean_kpi("m", "M", cur, prev, unit="csat", period_label=PERIOD)
    assert default.estimate.few and default.previous.few
    assert default.change.label == FEW


def test_a_mean_kpi_of_no_values_has_no_value():
    k = kpi.mean_kpi("m", "M", None, [1.0, 2.0], unit="minutes", period_label=PERIOD)
    assert (k.estimate.value, k.estimate.n) == (None, 0)
    assert (k.previous.value, k.previous.n) == (1.5, 2)


# ── quantile KPIs ────────────────────────────────────────────────────────

# 25 values of 1 and 5 of 100: median 1, p90 100 (0.9 · 29 = 26.1 falls among the 100s)
BEFORE = [1.0] * 25 + [100.0] * 5


def test_a_quantile_kpi_carries_its_own_quantiles_and_the_mann_whitney_p_value():
    now = [10.0] * 25 + [120.0] * 5
    k = kpi.quantile_kpi("p90", "p90", now, BEFORE, 0.9, unit="minutes", period_label=PERIOD)
    assert (k.estimate.value, k.previous.value) == (120.0, 100.0)
    assert (k.estimate.value, k.previous.value) == (np.quantile(now, 0.9), np.quantile(BEFORE, 0.9))
    assert (k.estimate.n, k.previous.n) == (30, 30)
    assert (k.change.current, k.change.previous, k.change.delta) == (120.0, 100.0, 20.0)
    assert k.change.test == "Mann–Whitney U"
    assert k.change.p_value == pytest.approx(
        stats.mannwhitneyu(now, BEFORE, alternative="two-sided").pvalue
    )
    assert k.change.label == "up 20.0 min vs previous 7 days"


@pytest.mark.parametrize(
    ("top", "direction", "label"),
    [
        # the whole distribution moved up (median 1 → 10); this quantile's own delta decides
        (100.5, "up", "up 0.5 min vs previous 7 days"),  # a rise below one minute is a rise
        (90.0, "down", "down 10.0 min vs previous 7 days"),  # p90 fell although values rose
        (100.0, "none", "no clear change"),  # p90 did not move at all
    ],
)
def test_a_significant_shift_reads_in_the_direction_of_the_quantiles_own_change(
    top, direction, label
):
    now = [10.0] * 25 + [top] * 5
    assert stats.mannwhitneyu(now, BEFORE, alternative="two-sided").pvalue < 0.001
    k = kpi.quantile_kpi("p90", "p90", now, BEFORE, 0.9, unit="minutes", period_label=PERIOD)
    assert k.change.direction == direction
    assert k.change.significant is (direction != "none")
    assert k.change.label == label
    assert k.change.delta == pytest.approx(top - 100.0)
    median = kpi.quantile_kpi("m", "M", now, BEFORE, 0.5, unit="seconds", period_label=PERIOD)
    assert median.change.label == "up 9.0 s vs previous 7 days"


def test_a_quantile_kpi_passes_min_n_to_its_estimates_and_its_test():
    # 11…20 against 1…10: no overlap, p = 0.0002 (normal approximation)
    now, before = [11.0 + i for i in range(10)], [1.0 + i for i in range(10)]
    assert stats.mannwhitneyu(now, before, alternative="two-sided").pvalue < 0.001
    k = kpi.quantile_kpi("m", "M", now, before, 0.5, unit="minutes", period_label=PERIOD, min_n=5)
    assert not k.estimate.few and not k.previous.few
    assert k.change.label == "up 10.0 min vs previous 7 days"
    default = kpi.quantile_kpi("m", "M", now, before, 0.5, unit="minutes", period_label=PERIOD)
    assert default.estimate.few and default.previous.few
    assert default.change.label == FEW


# ── values ───────────────────────────────────────────────────────────────

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (None, []),
        ((), []),
        ([], []),
        (pl.Series([1.0, None, NAN, INF, -INF, 2.0]), [1.0, 2.0]),
        (pl.Series([3, None, 4]), [3.0, 4.0]),  # Int64 with a null
        (pl.Series([], dtype=pl.Float64), []),
        (np.array([1.0, NAN, -INF, 4.0]), [1.0, 4.0]),
        (np.array([3, 4]), [3.0, 4.0]),  # int array
        (np.array([1.5, 2.5], dtype=np.float32), [1.5, 2.5]),
        ([1, None, NAN, INF, 2], [1.0, 2.0]),
        ([3, 4], [3.0, 4.0]),  # ints only: still floats
        ((5.0, None), [5.0]),
    ],
)
def test_values_are_the_finite_floats_of_any_input(values, expected):
    out = kpi._values(values)
    assert out.dtype == np.float64
    assert out.shape == (len(expected),)
    assert out.tolist() == expected


def test_values_leave_the_input_array_alone():
    array = np.array([1.0, NAN, 3.0])
    kpi._values(array)[0] = 99.0
    assert array[0] == 1.0 and math.isnan(array[1])
