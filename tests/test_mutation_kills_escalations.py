"""Escalation time-to-first-action (:mod:`rfa.metrics.escalations`), pinned down where
mutation testing (``make mutation``) found the tests silent. Expected values by hand."""

from __future__ import annotations

import polars as pl
import pytest
from scipy import stats

from factories_escalations import handoffs_from_lags
from rfa.metrics import escalations as m


def test_a_lag_of_exactly_zero_or_under_a_second_is_not_clock_drift():
    r = m.escalation_metrics(handoffs_from_lags([0.0, 0.5, 10.0]))
    assert r.n_negative_floored == 0
    assert m.escalation_metrics(handoffs_from_lags([-0.5, 0.0])).n_negative_floored == 1


def test_the_mean_lag_carries_its_t_interval():
    r = m.escalation_metrics(handoffs_from_lags([10.0, 20.0, 30.0, 40.0]))
    low, high = stats.t.interval(0.95, 3, loc=25.0, scale=stats.sem([10, 20, 30, 40]))
    assert r.avg_seconds_to_first_action == 25.0
    assert (r.avg_seconds_low, r.avg_seconds_high) == pytest.approx((low, high))
    assert (low, high) == pytest.approx((4.46, 45.54), abs=0.01)


def test_the_mean_lags_interval_never_goes_below_zero_seconds():
    r = m.escalation_metrics(handoffs_from_lags([0.0, 0.0, 100.0]))  # 33.3 ± 143.4
    assert r.avg_seconds_low == 0.0
    assert r.avg_seconds_high == pytest.approx(33.333 + 143.41, abs=0.05)


def test_lags_are_floored_at_zero_and_named_lag():
    frame = handoffs_from_lags([-5.0, 10.0, None])
    assert m.raw_lags(frame).name == "lag"
    assert m.raw_lags(frame).to_list() == [-5.0, 10.0]
    assert m.lags(frame).to_list() == [0.0, 10.0]


def test_values_below_the_first_edge_fall_in_the_first_bin():
    bins = m.histogram(pl.Series([-5.0, 0.0, 10.0, 40.0]), edges=[0, 30])
    assert [(b.label, b.count) for b in bins] == [("< 30 s", 3), ("≥ 30 s", 1)]


def test_a_bin_starting_at_one_second_is_labelled_by_its_range():
    bins = m.histogram(pl.Series([0.5, 2.0, 7.0]), edges=[0, 1, 5])
    assert [(b.label, b.count) for b in bins] == [("< 1 s", 1), ("1–5 s", 1), ("≥ 5 s", 1)]
