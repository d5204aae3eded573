"""Honest KPIs on the pages (issue 7): n, intervals, comparisons, small samples and
leaderboards ranked by the interval's lower bound. Reference values come from
statsmodels/scipy directly, so a wiring mistake in rfa.metrics.kpi shows."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

import factories as f
import factories_ai as fa
from rfa import layout, present
from rfa.errors import ParameterError
from rfa.metrics import flow as flow_metrics
from rfa.metrics import flowpilot as fp
from rfa.metrics import kpi
from rfa.metrics import sessions as session_metrics
from rfa.metrics.privacy import protect_flow
from rfa.window import make_window

PERIOD = "previous 30 days"


def _sessions(n: int, completed: int, tree: str = "t1", start: str = "2026-11-01") -> list[tuple]:
    rows = []
    for i in range(n):
        begin = f"{start} 10:00"
        end = f"{start} {10 + (i % 5)}:{(i * 7) % 60:02d}" if i < completed else None
        rows.append((f"{tree}-s{i}", tree, f"u{i % 4}", begin, end, "resolved" if end else None))
    return rows


def _ratings(values: list[int]) -> pl.DataFrame:
    return f.ratings([(f"s{i}", "t1", v, "", "2026-11-01 12:00") for i, v in enumerate(values)])


def test_previous_window_has_equal_length_and_ends_where_the_window_starts():
    window = make_window("30d", "2026-11-21", "Europe/London")
    before = window.previous()
    assert before.end == window.start
    assert before.end - before.start == window.end - window.start
    assert window.previous_label() == "previous 30 days"
    custom = make_window("2026-10-01..2026-10-10", None, "UTC")
    assert custom.previous().end - custom.previous().start == dt.timedelta(days=10)
    assert custom.previous_label() == "previous 10 days"


def test_session_kpis_carry_wilson_t_and_bootstrap_intervals():
    cur = f.sessions(_sessions(50, 40))
    prev = f.sessions(_sessions(60, 30))
    ratings, before = _ratings([5, 4, 4, 3, 1] * 6), _ratings([2, 3] * 15)
    k = kpi.by_key(
        kpi.session_kpis(cur, prev, ratings, before, period_label=PERIOD, engineers=True)
    )
    assert list(k) == [
        "total_sessions",
        "completion_rate",
        "median_duration_minutes",
        "p90_duration_minutes",
        "avg_csat",
        "csat_score",
        "active_engineers",
    ]
    low, high = proportion_confint(40, 50, alpha=0.05, method="wilson")
    rate = k["completion_rate"]
    assert rate.estimate.value == pytest.approx(0.8)
    assert (rate.estimate.low, rate.estimate.high) == pytest.approx((low, high))
    assert rate.estimate.n == 50 and rate.previous.value == pytest.approx(0.5)
    assert rate.change.test == "two-proportion z-test"
    assert rate.change.significant and rate.change.direction == "up"
    values = [5, 4, 4, 3, 1] * 6
    t_low, t_high = stats.t.interval(
        0.95, len(values) - 1, loc=sum(values) / 30, scale=stats.sem(values)
    )
    assert (k["avg_csat"].estimate.low, k["avg_csat"].estimate.high) == pytest.approx(
        (t_low, t_high)
    )
    assert k["csat_score"].estimate.value == pytest.approx(18 / 30)
    assert k["csat_score"].estimate.successes == 18
    durations = session_metrics.durations(cur)
    median = k["median_duration_minutes"]
    assert median.estimate.value == pytest.approx(durations.median())
    assert median.estimate.low <= median.estimate.value <= median.estimate.high
    assert median.change.test == "Mann–Whitney U"
    p90 = k["p90_duration_minutes"].estimate
    assert p90.value == pytest.approx(durations.quantile(0.9, interpolation="linear"))
    assert k["total_sessions"].change.test == "Poisson rate test"
    assert k["active_engineers"].estimate.value == 4


def test_small_samples_are_few_and_never_a_change():
    cur, prev = f.sessions(_sessions(8, 8)), f.sessions(_sessions(8, 0))
    k = kpi.by_key(
        kpi.session_kpis(cur, prev, _ratings([5] * 3), _ratings([1] * 3), period_label=PERIOD)
    )
    rate = k["completion_rate"]
    assert rate.estimate.few and rate.estimate.value == 1.0
    assert not rate.change.significant and rate.change.direction == "none"
    assert "no clear change" in rate.change.label
    chip = layout.change_chip(rate, PERIOD)
    assert (chip.text, chip.tone) == ("few sessions", "muted")
    assert "▲" not in chip.text


def test_change_chip_marks_only_significant_changes():
    big = kpi.rate_kpi("completion_rate", "R", 900, 1000, 500, 1000, period_label=PERIOD)
    assert big.change.significant
    assert layout.change_chip(big, PERIOD).text == "▲ 40 pts"
    assert layout.change_chip(big, PERIOD).tone == "good"
    worse = kpi.rate_kpi("completion_rate", "R", 500, 1000, 900, 1000, period_label=PERIOD)
    assert (layout.change_chip(worse).text, layout.change_chip(worse).tone) == ("▼ 40 pts", "bad")
    same = kpi.rate_kpi("r", "R", 500, 1000, 520, 1000, period_label=PERIOD)
    assert same.change.label == "no clear change"
    flat = layout.change_chip(same, PERIOD)
    assert (flat.text, flat.tone) == ("≈ 52% last period", "flat")
    first = kpi.rate_kpi("r", "R", 500, 1000, 0, 0, period_label=PERIOD)
    assert layout.change_chip(first, PERIOD).text == "no previous data"
    count = kpi.count_kpi("c", "C", 1234, 1200, period_label=PERIOD)
    assert layout.change_chip(count, PERIOD).text == "≈ 1,200 last period"
    assert "±" not in layout.tile_tooltip(count) and "exact count" in layout.tile_tooltip(count)
    median = kpi.quantile_kpi(
        "m", "M", [float(v) for v in range(1, 1235)], [], 0.5, unit="minutes", period_label=PERIOD
    )
    assert "n = 1,234" in layout.tile_tooltip(median)
    assert layout.change_chip(None).text == "withheld"


def test_top_tables_carry_median_and_csat_intervals_within_the_possible_range():
    rows = _sessions(30, 25, tree="t1")
    names = pl.DataFrame({"id": ["t1"], "name": ["Flow one"]})
    ratings = f.ratings([(f"t1-s{i}", "t1", v, "", "2026-11-01 12:00") for i, v in
                         enumerate([5, 5, 4])])  # fmt: skip
    (row,) = session_metrics.ranked(f.sessions(rows), ratings, names, "tree_id", min_n=20)
    minutes = session_metrics.durations(f.sessions(rows)).to_numpy()
    from rfa.metrics import uncertainty as u

    ref = u.quantile(minutes, 0.5, bootstrap_max_n=u.TABLE_BOOTSTRAP_MAX_N)
    assert (row.median_low, row.median_high) == (ref.low, ref.high)
    assert row.median_low <= row.median_duration_minutes <= row.median_high
    assert row.csat_high == 5.0 and 1.0 <= row.csat_low < row.avg_csat  # t cut at 5
    shown = present.ranked_table([row], "Flow").iloc[0]
    assert shown["Median duration"].count("min") == 3  # value (low – high)
    assert shown["Avg CSAT"].endswith(", n=3)") and " – 5.0" in shown["Avg CSAT"]


def test_secondary_tables_flag_rows_below_min_n():
    rows = [fa.ai(f"a{i}", "resolved", domain="net", tree="t1") for i in range(25)]
    rows += [fa.ai(f"b{i}", "escalated", domain="mail", tree="t2") for i in range(3)]
    frame = fa.ai_sessions(rows)
    flags = {r.domain: r.few for r in fp.sessions_by_domain(frame, min_n=20)}
    assert flags == {"net": False, "mail": True}
    cover = {r.domain: r.few for r in fp.coverage_by_domain(frame, min_n=20).domains}
    assert cover == {"net": False, "mail": True}
    flows = fa.flows([("t1", "One", "manual", "manual"), ("t2", "Two", "manual", "manual")])
    quality = {r.flow_id: r.few for r in fp.flow_quality(frame, flows, min_n=20).flows}
    assert quality == {"t1": False, "t2": True}
    assert {r.domain: r.few for r in fp.sessions_by_domain(frame, min_n=3)} == {
        "net": False,
        "mail": False,
    }
    html = present.html_table(present.domain_table(fp.sessions_by_domain(frame, min_n=20)))
    muted = [row for row in html.split("<tr")[2:] if "rfa-few" in row]
    assert len(muted) == 1 and "Mail" in muted[0] and "few sessions" in muted[0]


def test_withheld_csat_leaves_no_csat_kpi():
    cur = f.sessions(_sessions(30, 20))
    keys = [
        k.key
        for k in kpi.session_kpis(
            cur, cur, _ratings([5, 1]), _ratings([5]), period_label=PERIOD, csat=False
        )
    ]
    assert "avg_csat" not in keys and "csat_score" not in keys


def test_no_previous_data_is_said_so():
    cur = f.sessions(_sessions(30, 20))
    empty = cur.clear()
    k = kpi.by_key(
        kpi.session_kpis(cur, empty, _ratings([5] * 25), _ratings([]), period_label=PERIOD)
    )
    for key in ("total_sessions", "completion_rate", "median_duration_minutes", "avg_csat"):
        assert k[key].change.label == "no previous data", key
        assert k[key].previous.n == 0


def test_leaderboard_ranks_by_the_lower_bound_not_the_point_estimate():
    rows = _sessions(2, 2, tree="lucky") + _sessions(100, 90, tree="steady")
    rows += _sessions(300, 200, tree="busy")
    frame = f.sessions(rows)
    names = pl.DataFrame({"id": ["lucky", "steady", "busy"], "name": ["L", "S", "B"]})
    no_ratings = f.ratings([], with_engineer=False)
    plain = session_metrics.ranked(frame, no_ratings, names, "tree_id")
    assert [r.id for r in plain] == ["busy", "steady", "lucky"]  # METRICS.md order
    ranked = session_metrics.ranked(frame, no_ratings, names, "tree_id", min_n=20)
    assert [r.id for r in ranked] == ["steady", "busy", "lucky"]
    lucky = ranked[-1]
    assert lucky.completion_rate == 1.0 and lucky.few
    assert lucky.completion_low == pytest.approx(
        proportion_confint(2, 2, alpha=0.05, method="wilson")[0]
    )
    table = present.ranked_table(ranked, "Flow")
    assert "few sessions" in table.iloc[-1]["Completion"]


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=1, max_value=30),
    st.integers(min_value=2, max_value=6),
    st.integers(min_value=0, max_value=100),
)
def test_same_rate_smaller_n_never_ranks_above_larger_n(n, factor, percent):
    done = round(n * percent / 100)
    rows = _sessions(n, done, tree="small") + _sessions(n * factor, done * factor, tree="large")
    names = pl.DataFrame({"id": ["small", "large"], "name": ["A", "Z"]})
    ranked = session_metrics.ranked(f.sessions(rows), f.ratings([]), names, "tree_id", min_n=20)
    assert [r.id for r in ranked] == ["large", "small"]


def test_step_table_rates_carry_intervals_and_privacy_withholds_them():
    decisions = f.decisions(
        [("s1", None, ["a", "b"]), ("s2", "2026-11-01 11:00", ["a", "b"]), ("s3", None, ["a"])]
    )
    thumbs = f.thumbs([("a", "s1", True), ("a", "s2", False), ("b", "s1", True)])
    steps = flow_metrics.step_table(decisions, thumbs, {"id": "a", "children": [{"id": "b"}]})
    assert all(step.few for step in steps)  # 3 and 2 visits, below the default min_n
    few = flow_metrics.step_table(
        decisions, thumbs, {"id": "a", "children": [{"id": "b"}]}, min_n=3
    )
    assert {s.node_id: s.few for s in few} == {"a": False, "b": True}
    for step in steps:
        assert step.dropoff_low <= step.dropoff_rate <= step.dropoff_high
        assert step.helpful_low <= step.helpful_rate <= step.helpful_high
    low, high = proportion_confint(1, 3, alpha=0.05, method="wilson")
    a = next(s for s in steps if s.node_id == "a")
    assert (a.dropoff_low, a.dropoff_high) == pytest.approx((low, high))
    csat = flow_metrics.csat(f.ratings([]))
    _, _, kept, note = protect_flow(csat, [], steps, 0, {"a": 1, "b": 5}, 3)
    a = next(s for s in kept if s.node_id == "a")
    assert a.helpful_rate is None and a.helpful_low is None and a.helpful_high is None
    assert note.steps_withheld == 1


def test_flow_quality_top_performers_rank_by_the_lower_bound():
    rows = [fa.ai(f"p{i}", "resolved", tree="perfect") for i in range(5)]
    rows += [fa.ai(f"q{i}", "resolved", tree="proven") for i in range(95)]
    rows += [fa.ai(f"e{i}", "escalated", tree="proven") for i in range(5)]
    flows = fa.flows(
        [("perfect", "Perfect", "manual", "manual"), ("proven", "Proven", "manual", "manual")]
    )
    quality = fp.flow_quality(fa.ai_sessions(rows), flows, attention_score=0.0)
    assert [r.flow_id for r in quality.top_performers] == ["proven", "perfect"]
    for row in quality.flows:
        assert row.success_low_pct <= row.success_rate_pct <= row.success_high_pct


def test_a_bad_min_n_is_a_clear_parameter_error(demo_sqlite_url):
    from rfa import dashboards

    with pytest.raises(ParameterError, match="min_n"):
        dashboards.team_page("northwind-it", "30d", min_n=0, url=demo_sqlite_url)


def test_table_rates_carry_wilson_intervals_in_percent():
    from rfa.metrics.uncertainty import wilson_columns

    table = wilson_columns(pl.DataFrame({"k": [0, 3, 10, 0], "n": [10, 7, 10, 0]}), "k", "n", "r")
    for k, n, low, high in table.iter_rows():
        if n == 0:
            assert low is None and high is None
            continue
        ref = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (low, high) == pytest.approx((max(ref[0], 0) * 100, min(ref[1], 1) * 100))
        assert low <= k / n * 100 <= high
    rows = [fa.ai(f"a{i}", "resolved" if i % 3 else "escalated", domain="net") for i in range(9)]
    rows.append(fa.ai("z", "resolved", domain=None))
    frame = fa.ai_sessions(rows)
    (net,) = fp.sessions_by_domain(frame.filter(pl.col("problem_domain").is_not_null()))
    assert net.resolution_low_pct <= net.resolution_rate_pct <= net.resolution_high_pct
    cov = fp.coverage_by_domain(frame).domains[0]
    assert cov.escalation_low_pct <= cov.escalation_rate_pct <= cov.escalation_high_pct
    assert "(" in present.coverage_table([cov]).iloc[0]["Resolution"]
