"""Escalation time-to-first-action (METRICS.md §5), hand-computed."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pydantic
import pytest

from factories_escalations import handoffs, handoffs_from_lags
from rfa.metrics import escalations as m


def _counts(result: m.EscalationMetrics) -> list[int]:
    return [b.count for b in result.histogram]


def test_zero_handoffs():
    r = m.escalation_metrics(handoffs([]))
    assert (r.n_handoffs_claimed, r.n_handoffs_with_action, r.n_handoffs_without_action) == (
        0,
        0,
        0,
    )
    assert r.action_conversion_rate is None  # 0 claimed: no rate, not 0 %
    assert r.avg_seconds_to_first_action is None
    assert r.median_seconds_to_first_action is None
    assert r.p95_seconds_to_first_action is None
    assert (r.n_values, r.n_negative_floored, r.n_handoffs_unclaimed) == (0, 0, 0)
    assert _counts(r) == [0] * len(m.HISTOGRAM_EDGES_SECONDS)


def test_claimed_but_never_acted_on():
    r = m.escalation_metrics(handoffs_from_lags([None, None, None]), n_unclaimed=2)
    assert (r.n_handoffs_claimed, r.n_handoffs_with_action, r.n_handoffs_without_action) == (
        3,
        0,
        3,
    )
    assert r.action_conversion_rate == 0.0
    assert r.avg_seconds_to_first_action is None
    assert r.median_seconds_to_first_action is None
    assert r.p95_seconds_to_first_action is None
    assert r.n_handoffs_unclaimed == 2
    assert sum(_counts(r)) == 0


def test_hand_computed_avg_median_p95_and_conversion():
    # lags 10, 20, 30, 100 s and one claimed hand-off without a later step
    r = m.escalation_metrics(handoffs_from_lags([10, 20, 30, 100, None]))
    assert (r.n_handoffs_claimed, r.n_handoffs_with_action, r.n_handoffs_without_action) == (
        5,
        4,
        1,
    )
    assert r.action_conversion_rate == pytest.approx(0.8)
    assert r.avg_seconds_to_first_action == pytest.approx(40.0)
    assert r.median_seconds_to_first_action == pytest.approx(25.0)
    # linear: position 0.95 × (4 − 1) = 2.85 → 30 + 0.85 × (100 − 30) = 89.5
    assert r.p95_seconds_to_first_action == pytest.approx(89.5)
    assert r.p95_seconds_to_first_action == pytest.approx(np.percentile([10, 20, 30, 100], 95))
    assert r.small_sample and r.n_values == 4


def test_negative_deltas_are_floored_at_zero_and_counted():
    r = m.escalation_metrics(handoffs_from_lags([-5, -1, 10, 20]))
    assert r.n_negative_floored == 2
    assert r.n_handoffs_with_action == 4  # a drifted step still is an action
    assert r.avg_seconds_to_first_action == pytest.approx(7.5)  # (0 + 0 + 10 + 20) / 4
    assert r.median_seconds_to_first_action == pytest.approx(5.0)
    assert r.p95_seconds_to_first_action == pytest.approx(18.5)  # 10 + 0.85 × 10
    assert _counts(r)[0] == 4  # all below 30 s, the floored ones at 0
    # reported as handoff_action_before_claim by rfa.validation (test_validation.py)


def test_ties():
    r = m.escalation_metrics(handoffs_from_lags([60, 60, 60, 120]))
    assert r.median_seconds_to_first_action == 60.0
    assert r.p95_seconds_to_first_action == pytest.approx(111.0)  # 60 + 0.85 × 60
    assert r.avg_seconds_to_first_action == pytest.approx(75.0)
    # 60 s is the lower edge of the 1–2 min bin and 120 s of the 2–5 min bin: [lower, upper)
    bins = dict(zip([b.label for b in r.histogram], _counts(r), strict=True))
    assert (bins["30 s – 1 min"], bins["1–2 min"], bins["2–5 min"]) == (0, 3, 1)


@pytest.mark.parametrize("n", [1, 2, 7, 19, 20, 41])
def test_p95_matches_numpy_linear_percentile_and_flags_small_samples(n):
    rng = np.random.default_rng(n)
    lags = rng.integers(0, 3600, size=n).astype(float).tolist()
    r = m.escalation_metrics(handoffs_from_lags(lags))
    assert r.p95_seconds_to_first_action == pytest.approx(np.percentile(lags, 95))
    assert r.median_seconds_to_first_action == pytest.approx(np.percentile(lags, 50))
    assert r.avg_seconds_to_first_action == pytest.approx(np.mean(lags))
    assert r.small_sample is (n < m.SMALL_SAMPLE)
    assert r.n_values == n


def test_subsecond_lags_keep_microseconds():
    r = m.escalation_metrics(
        handoffs([("h1", "2026-11-10 09:00:00", "2026-11-10 09:00:00.250000")])
    )
    assert r.avg_seconds_to_first_action == pytest.approx(0.25)


def test_unclaimed_rows_in_the_input_are_excluded():
    frame = handoffs(
        [
            ("h1", "2026-11-10 09:00:00", "2026-11-10 09:01:00"),
            ("h2", None, None),
            ("h3", None, "2026-11-10 09:05:00"),  # a step but never claimed: not counted
        ]
    )
    r = m.escalation_metrics(frame)
    assert (r.n_handoffs_claimed, r.n_handoffs_with_action) == (1, 1)
    assert r.avg_seconds_to_first_action == 60.0


def test_histogram_bins_cover_every_value_once():
    lags = [0, 29.9, 30, 59, 60, 119, 120, 299, 300, 599, 600, 1799, 1800, 3599, 3600, 86_400]
    r = m.escalation_metrics(handoffs_from_lags(lags))
    assert _counts(r) == [2, 2, 2, 2, 2, 2, 2, 2]
    assert [b.label for b in r.histogram] == [
        "< 30 s",
        "30 s – 1 min",
        "1–2 min",
        "2–5 min",
        "5–10 min",
        "10–30 min",
        "30 min – 1 h",
        "≥ 1 h",
    ]
    assert r.histogram[-1].upper_seconds is None
    assert [b.lower_seconds for b in r.histogram] == list(m.HISTOGRAM_EDGES_SECONDS)


def test_custom_histogram_edges_and_invalid_ones():
    r = m.escalation_metrics(handoffs_from_lags([5, 50, 500]), edges=[0, 60])
    assert [(b.label, b.count) for b in r.histogram] == [("< 1 min", 2), ("≥ 1 min", 1)]
    with pytest.raises(ValueError, match="increasing"):
        m.escalation_metrics(handoffs_from_lags([5]), edges=[0, 60, 60])
    with pytest.raises(ValueError):
        m.histogram(pl.Series([5.0]), edges=[])


def test_result_carries_the_definition_and_is_json_serialisable():
    r = m.escalation_metrics(handoffs_from_lags([10, None]), n_unclaimed=1)
    data = json.loads(json.dumps(r.model_dump(mode="json")))
    assert data["metric_definition"] == m.METRIC_DEFINITION
    assert "post-claim activity lag" in m.METRIC_DEFINITION
    assert "NOT minutes recovered" in m.METRIC_DEFINITION
    assert "must not be presented as savings" in m.METRIC_DEFINITION
    assert data["n_handoffs_unclaimed"] == 1
    assert data["histogram"][0] == {
        "lower_seconds": 0.0,
        "upper_seconds": 30.0,
        "label": "< 30 s",
        "count": 1,
    }
    with pytest.raises(pydantic.ValidationError):
        r.n_handoffs_claimed = 5  # frozen
