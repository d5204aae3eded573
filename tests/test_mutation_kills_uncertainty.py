"""Honest numbers (:mod:`rfa.metrics.uncertainty`), pinned down where mutation testing
(``make mutation``) found the tests silent: the exact error messages, the fields of every kind of
:class:`~rfa.metrics.uncertainty.Change`, the all-success / constant-window shortcuts of the
tests, a p-value of exactly α, the ranking key of estimates without an interval, the
order-statistic interval of a handful of values, and the table form of the Wilson interval
(:func:`~rfa.metrics.uncertainty.wilson_columns`).

Expected values are written out by hand (closed forms in the comments) or come from
scipy / statsmodels called directly; the seeded bootstrap is pinned only by properties that do
not re-implement it."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from rfa.metrics import uncertainty as u

pytestmark = pytest.mark.filterwarnings("error")  # no warning may leak onto a page

PERIOD = "previous period"  # the default period label


def _fields(change: u.Change) -> tuple:
    return (
        change.current, change.previous, change.delta, change.p_value, change.test,
        change.significant, change.direction, change.label,
    )  # fmt: skip


# --------------------------------------------------------------------------- error messages


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: u.rate(-1, 2), "successes must not be negative, got -1"),
        (lambda: u.rate(0, -1), "n must not be negative, got -1"),
        (lambda: u.rate(3, 2), "successes (3) must not exceed n (2)"),
        (lambda: u.compare_rates(5, 10, -2, 4), "successes must not be negative, got -2"),
        (lambda: u.compare_rates(5, 10, 1, -4), "n must not be negative, got -4"),
        (lambda: u.count(-1), "n must not be negative, got -1"),
        (lambda: u.compare_counts(-1, 3), "cur must not be negative, got -1"),
        (lambda: u.compare_counts(3, -3), "prev must not be negative, got -3"),
        (lambda: u.mean(np.ones((2, 2))), "values must be one-dimensional, got shape (2, 2)"),
    ],
)
def test_invalid_input_is_refused_with_a_message_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


# --------------------------------------------------------------------------- estimates


def test_an_empty_rate_has_zero_successes_and_the_wilson_method():
    e = u.rate(0, 0)
    assert (e.value, e.n, e.successes, e.method, e.low, e.high) == (
        None, 0, 0, "wilson", None, None
    )  # fmt: skip


def test_a_mean_without_an_interval_still_names_the_t_method():
    assert (u.mean([]).method, u.mean([]).n) == ("t", 0)
    one = u.mean([4.0])
    assert (one.method, one.n, one.value, one.low) == ("t", 1, 4.0, None)


def test_a_mean_cut_only_from_above_keeps_its_lower_t_bound():
    # mean 14/3, s = √(1/3), n = 3: low = 14/3 − t(0.975, 2)·(√(1/3)/√3) = 14/3 − t/3
    e = u.mean([5, 5, 4], bounds=(None, 5.0))
    assert e.low == pytest.approx(14 / 3 - stats.t.ppf(0.975, 2) / 3)
    assert e.high == 5.0


def test_the_order_statistic_interval_of_five_values_spans_min_to_max():
    # Binomial(5, ½): P(B ≤ 0) = 1/32 ≥ 2.5%, so the lower rank is 0 → the 1st order statistic;
    # P(B ≤ 4) = 31/32 < 97.5%, so the upper rank is 5 → the 5th (the maximum).
    e = u.quantile([3.0, 1.0, 5.0, 2.0, 4.0], 0.5, bootstrap_max_n=1)
    assert (e.method, e.value, e.low, e.high) == ("order-statistic", 3.0, 1.0, 5.0)


def test_the_bootstrap_above_ten_thousand_values_runs_and_agrees_with_order_statistics():
    # 10,001 values: above 10,000 the resamples come in smaller batches; the bootstrap is
    # still run, and its interval is close to the distribution-free one (as at 5,000).
    x = np.random.default_rng(1).lognormal(2.0, 1.0, 10_001)
    boot = u.quantile(x, 0.5, bootstrap_max_n=20_000)
    exact = u.quantile(x, 0.5, bootstrap_max_n=10_000)
    assert (boot.method, exact.method) == ("bootstrap", "order-statistic")
    assert boot.low < boot.value < boot.high
    width = exact.high - exact.low
    assert abs(boot.low - exact.low) < 0.1 * width
    assert abs(boot.high - exact.high) < 0.1 * width
    assert u.quantile(x, 0.5, bootstrap_max_n=20_000) == boot  # seeded: the same again


def test_a_level_given_as_float32_gives_the_interval_of_the_same_level_as_a_python_float():
    # the level's value counts, not its type: np.float32(0.9) is 0.89999997615814…, and its
    # interval is that level's, resampled in double precision like every other interval
    values = [3.0, 7.5, 12.0, 4.2, 30.0, 9.9, 15.5, 6.1, 2.4, 44.0, 8.8, 11.1]
    level = np.float32(0.9)
    as_float32 = u.quantiles(values, np.array([0.5, level], dtype=np.float32))
    as_float = u.quantiles(values, [0.5, float(level)])
    assert [(e.low, e.high) for e in as_float32] == [(e.low, e.high) for e in as_float]
    assert as_float[1].low == pytest.approx(10.98, abs=1e-5)  # ≈ the interval of 0.9


# --------------------------------------------------------------------------- changes


def test_without_previous_data_a_change_keeps_both_values_and_their_delta():
    # a count of 0 is a real value (unlike an empty rate): current, previous and delta stay
    assert _fields(u.compare_counts(5, 0)) == (
        5.0, 0.0, 5.0, None, "none", False, "none", "no previous data"
    )  # fmt: skip


def test_with_too_little_data_a_change_keeps_both_values_and_their_delta():
    # Welch needs two values per window; the means are still shown
    assert _fields(u.compare_means([5], [4, 5])) == (
        5.0, 4.5, 0.5, None, "none", False, "none", "not enough data"
    )  # fmt: skip
    empty = u.compare_means([], [4, 5])  # no mean of nothing (and no warning about one)
    assert (empty.current, empty.previous, empty.label) == (None, 4.5, "not enough data")


def test_a_tested_change_keeps_both_values():
    c = u.compare_rates(70, 100, 50, 100)
    assert (c.current, c.previous) == (0.7, 0.5)
    assert c.label == f"up 20.0 pts vs {PERIOD}"


def test_rates_that_are_all_successes_on_both_sides_are_equal_with_p_one():
    assert _fields(u.compare_rates(30, 30, 40, 40)) == (
        1.0, 1.0, 0.0, 1.0, "two-proportion z-test", False, "none", "no clear change"
    )  # fmt: skip


def test_equal_success_counts_of_different_rates_are_tested():
    # 5 of 10 vs 5 of 20: pooled 1/3; z = (½ − ¼) / √(⅓·⅔·(1/10 + 1/20)) = 1.3693
    c = u.compare_rates(5, 10, 5, 20)
    z = 0.25 / math.sqrt(1 / 3 * 2 / 3 * (1 / 10 + 1 / 20))
    assert c.p_value == pytest.approx(2 * stats.norm.sf(z))
    assert c.p_value == pytest.approx(0.17090, abs=1e-5)
    assert (c.delta, c.label) == (0.25, "no clear change (few sessions)")


def test_a_p_value_of_exactly_alpha_is_not_significant():
    # exact Mann–Whitney of 1 value against 39 larger ones: U = 0 has probability 1/40,
    # two-sided p = 2/40 = 0.05 = α, and significance needs p < α
    at_alpha = u.compare_distributions([0.0], list(range(1, 40)), min_n=1)
    assert at_alpha.p_value == 0.05
    assert (at_alpha.significant, at_alpha.direction, at_alpha.label) == (
        False, "none", "no clear change"
    )  # fmt: skip
    # against 79 larger values p = 2/80 = 0.025 < α; the medians are 0 and 40
    below = u.compare_distributions([0.0], list(range(1, 80)), min_n=1)
    assert below.p_value == 0.025
    assert (below.significant, below.label) == (True, f"down 40.0 min vs {PERIOD}")


def test_a_rise_of_durations_is_reported_up_with_the_default_period():
    prev = [12.0, 15.5, 9.0, 20.1, 14.2, 18.0, 11.3, 16.4, 13.0, 17.7,
            19.5, 10.2, 14.8, 21.0, 12.6, 15.1, 16.9, 13.7, 18.8, 11.9]  # fmt: skip
    c = u.compare_distributions([v + 4.0 for v in prev], prev)
    assert (c.direction, c.significant) == ("up", True)
    assert c.label == f"up 4.0 min vs {PERIOD}"


def test_durations_are_compared_from_one_value_per_window():
    # exact Mann–Whitney of 1 value against 2: U = 0 has probability 1/3, two-sided p = 2/3
    c = u.compare_distributions([1.0], [2.0, 3.0])
    assert (c.test, c.label) == ("Mann–Whitney U", "no clear change (few sessions)")
    assert c.p_value == pytest.approx(2 / 3)


def _welch_p_one_constant(constant: float, other: list[float]) -> float:
    """Welch's two-sided p when one window has no spread: t = Δ / (s/√n), df = n − 1."""
    b = np.array(other)
    t = (constant - b.mean()) / (b.std(ddof=1) / math.sqrt(b.size))
    return float(2 * stats.t.sf(abs(t), b.size - 1))


@pytest.mark.parametrize(
    "cur, prev, label",
    [
        ([5.0] * 30, [4.0, 5.0] * 15, f"up 0.50 vs {PERIOD}"),  # all ratings 5 this window
        ([4.0, 5.0] * 15, [5.0] * 30, f"down 0.50 vs {PERIOD}"),  # all 5 in the previous one
    ],
)
def test_one_constant_window_is_still_welch_tested(cur, prev, label):
    # scipy warns about the constant sample (precision loss); the warning stays inside
    c = u.compare_means(cur, prev)
    varied = prev if np.ptp(cur) == 0 else cur
    expected = _welch_p_one_constant(5.0, varied)
    assert c.p_value == pytest.approx(expected, rel=1e-9)
    assert 0 < c.p_value < 1e-4
    assert (c.test, c.label) == ("Welch t-test", label)


def test_two_values_per_window_are_enough_for_welch():
    # [4, 5] vs [3, 4]: t = 1/√(½/2 + ½/2) = √2, df = 2, p = 1 − 1/√2 (t with 2 df: closed form)
    c = u.compare_means([4, 5], [3, 4])
    assert c.p_value == pytest.approx(1 - 1 / math.sqrt(2))
    assert (c.test, c.label) == ("Welch t-test", "no clear change (few sessions)")


def test_a_mean_change_label_names_its_unit():
    assert u.compare_means([5] * 30, [4] * 30, unit="min").label == f"up 1.00 min vs {PERIOD}"


def test_an_undefined_welch_p_value_is_no_evidence():
    # sums beyond the float range make Welch's t NaN: read as p = 1, no clear change
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the means themselves overflow
        c = u.compare_means([1.7e308, 1.7e308, 1.6e308], [1.0, 2.0], min_n=1)
    assert c.p_value == 1.0
    assert (c.test, c.significant, c.label) == ("Welch t-test", False, "no clear change")


# --------------------------------------------------------------------------- ranking


def test_rank_key_marks_estimates_without_a_lower_bound_or_without_n_as_missing():
    one_of_one = u.rate(1, 1)  # Wilson low of 1 of 1: 1/(1 + z²) = 0.2065
    negative = u.mean([-3.0, -1.0])  # t interval reaches below 0: low = −2 − t(.975, 1)
    assert one_of_one.low == pytest.approx(1 / (1 + stats.norm.ppf(0.975) ** 2))
    assert negative.low == pytest.approx(-2 - stats.t.ppf(0.975, 1))
    assert u.rank_key(one_of_one) == (False, -one_of_one.low, -1)
    assert u.rank_key(negative) == (False, -negative.low, -2)
    assert u.rank_key(u.count(0)) == (True, 0.0, 0)  # a count of 0 has an interval but no n
    assert u.rank_key(u.mean([5.0])) == (True, 0.0, -1)  # one value: no interval
    ranked = sorted(
        {"count 0": u.count(0), "mean of one": u.mean([5.0]), "1 of 1": one_of_one,
         "negative mean": negative}.items(),
        key=lambda item: u.rank_key(item[1]),
    )  # fmt: skip
    assert [name for name, _ in ranked] == ["1 of 1", "negative mean", "mean of one", "count 0"]


# --------------------------------------------------------------------------- wilson_columns


def _wilson_pct(k: int, n: int) -> tuple[float, float]:
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    return low * 100, high * 100


def test_wilson_columns_adds_the_interval_in_percent_next_to_the_frame():
    frame = pl.DataFrame({"k": [3, 62, 1, 0, 7, 0, 0], "n": [7, 100, 1, 7, 7, 1, 0]})
    out = u.wilson_columns(frame, "k", "n", "res")
    assert out.columns == ["k", "n", "res_low_pct", "res_high_pct"]
    assert out.schema["res_low_pct"] == pl.Float64 and out.schema["res_high_pct"] == pl.Float64
    assert out.select("k", "n").equals(frame)
    rows = out.rows()
    for (k, n, low, high), (ref_low, ref_high) in zip(
        rows[:3], [_wilson_pct(3, 7), _wilson_pct(62, 100), _wilson_pct(1, 1)], strict=True
    ):
        assert (low, high) == pytest.approx((ref_low, ref_high if k < n else 100.0), abs=1e-12)
    assert rows[1][2:] == pytest.approx((52.210, 70.902), abs=1e-3)  # 62 of 100 (known values)
    # 0 of 7 and 7 of 7: the bound is exactly 0 / 100 (statsmodels is off by 1e-17 there)
    assert rows[3][2] == 0.0 and rows[3][3] == pytest.approx(_wilson_pct(0, 7)[1])
    assert rows[4][3] == 100.0 and rows[4][2] == pytest.approx(_wilson_pct(7, 7)[0])
    assert rows[2][3] == 100.0 and rows[5][2] == 0.0  # 1 of 1 and 0 of 1
    assert rows[5][3] == pytest.approx(_wilson_pct(0, 1)[1])
    assert rows[6] == (0, 0, None, None)  # no sessions: no interval (null, not NaN)
    assert out["res_low_pct"].null_count() == 1 and out["res_low_pct"].is_nan().sum() == 0


def test_wilson_columns_scale_and_the_rate_function_agree():
    frame = pl.DataFrame({"ok": [2, 0, 9], "all": [5, 3, 9]})
    out = u.wilson_columns(frame, "ok", "all", "r", scale=1.0)
    for k, n, low, high in out.rows():
        e = u.rate(k, n)
        assert (low, high) == pytest.approx((e.low, e.high), abs=1e-15)
    assert out["r_low_pct"][1] == 0.0 and out["r_high_pct"][2] == 1.0


def test_wilson_columns_reads_unsigned_counts_as_from_a_group_by():
    # pl.len() is UInt32: the counts are read as numbers, not wrapped unsigned integers
    frame = pl.DataFrame({"k": [0, 4], "n": [5, 4]}, schema={"k": pl.UInt32, "n": pl.UInt32})
    out = u.wilson_columns(frame, "k", "n", "x")
    assert out.rows()[0][2:] == pytest.approx((0.0, _wilson_pct(0, 5)[1]))
    assert out.rows()[1][2:] == pytest.approx((_wilson_pct(4, 4)[0], 100.0))


def test_wilson_columns_lets_no_numpy_warning_out():
    # float counts beyond 1e154 overflow n² inside statsmodels; the warning stays inside and
    # the interval of one half is ½ ± 0
    out = u.wilson_columns(pl.DataFrame({"k": [5e199], "n": [1e200]}), "k", "n", "big")
    assert out.rows()[0][2:] == pytest.approx((50.0, 50.0))


def test_wilson_columns_names_a_missing_column():
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        u.wilson_columns(pl.DataFrame({"k": [1]}), "k", "n", "r")
