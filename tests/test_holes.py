"""Issue 21: the holes a planted bug slipped through, each closed by a test whose expected
values are stated by hand (never derived from the code under test).

1. the outcome breakdown counts completed sessions only — fixtures hold *open* sessions
   that already carry an outcome value;
2. a null step thumb is neither "helpful" nor "not helpful", nor a rater;
3. the ▲/▼ direction of a significant change in a quantile KPI (median, p90, p95),
   both ways, and per quantile when the median and the tail move apart;
4. the FlowPilot value boxes are computed from the same sessions as the summary beside
   them (a page loaded from a hand-made database with a previous window, a faulty row
   and another account's sessions);
5. every dashboard is published into its audience folder — an explicit table, checked
   against the catalog and the page paths of :mod:`rfa.publish.paths`.

Each test was seen failing with its bug planted in a copy of lib/ (issue 21).
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest

from factories import decisions, sessions, thumbs
from rfa import dashboards, layout
from rfa.catalog import DASHBOARDS
from rfa.db import connect, init_db
from rfa.demo import load
from rfa.metrics import flow as flow_metrics
from rfa.metrics import kpi as k
from rfa.metrics import sessions as m
from rfa.metrics.models import CSAT
from rfa.metrics.privacy import protect_flow
from rfa.publish.paths import page_relpath
from rfa.publish.pipeline import PageJob
from rfa.queries import ratings as rq
from rfa.window import make_window

# ── 1. outcome breakdown: completed sessions only ─────────────────────────────

OPEN_WITH_OUTCOMES = sessions(
    [
        ("s1", "A", "u1", "2026-11-10 10:00", "2026-11-10 10:30", "resolved"),
        ("s2", "A", "u1", "2026-11-10 11:00", None, "resolved"),  # open, outcome already set
        ("s3", "B", "u2", "2026-11-10 12:00", None, "escalated"),  # open, outcome already set
        ("s4", "B", "u2", "2026-11-11 09:00", "2026-11-11 09:20", "escalated"),
        ("s5", "B", "u3", "2026-11-11 10:00", None, "unresolved"),  # open
        ("s6", "A", "u3", "2026-11-11 11:00", "2026-11-11 11:05", "workaround"),
    ]
)


def test_outcome_breakdown_ignores_open_sessions_that_carry_an_outcome():
    s = m.summary(OPEN_WITH_OUTCOMES)
    assert (s.total_sessions, s.completed_sessions) == (6, 3)
    assert s.outcome_breakdown.model_dump() == {
        "resolved": 1,
        "escalated": 1,
        "workaround": 1,
        "unresolved": 0,
    }


def test_daily_outcomes_ignore_open_sessions_that_carry_an_outcome():
    window = make_window("2026-11-10..2026-11-11", None, "UTC")
    points = {p.date.isoformat(): p.model_dump() for p in m.time_series(OPEN_WITH_OUTCOMES, window)}
    assert points == {
        "2026-11-10": {
            "date": dt.date(2026, 11, 10),
            "sessions": 3,
            "resolved": 1,
            "escalated": 0,
            "workaround": 0,
            "unresolved": 0,
        },
        "2026-11-11": {
            "date": dt.date(2026, 11, 11),
            "sessions": 3,
            "resolved": 0,
            "escalated": 1,
            "workaround": 1,
            "unresolved": 0,
        },
    }


# ── 2. null step thumbs ───────────────────────────────────────────────────────

TREE = {
    "id": "a",
    "question": "Is it plugged in?",
    "children": [{"id": "b", "title": "Restart it"}, {"id": "c", "title": "Call support"}],
}
STEP_DECISIONS = decisions(
    [("d1", "2026-11-10 10:00", ["a", "b"]), ("d2", None, ["a", "c"]), ("d3", None, ["a"])]
)
NULL_THUMBS = thumbs(
    [
        ("a", "d1", True),
        ("a", "d2", None),  # seen, not judged
        ("a", "d3", None),
        ("b", "d1", False),
        ("b", "d2", None),
        ("c", "d2", None),  # only null thumbs: no helpfulness at all
    ]
)


def test_null_thumbs_are_neither_helpful_nor_not_helpful():
    rows = {r.node_id: r for r in flow_metrics.step_table(STEP_DECISIONS, NULL_THUMBS, TREE)}
    assert (rows["a"].helpful_yes, rows["a"].helpful_no, rows["a"].helpful_rate) == (1, 0, 1.0)
    assert (rows["b"].helpful_yes, rows["b"].helpful_no, rows["b"].helpful_rate) == (0, 1, 0.0)
    assert (rows["c"].helpful_yes, rows["c"].helpful_no, rows["c"].helpful_rate) == (0, 0, None)
    assert rows["c"].helpful_low is None and rows["c"].helpful_high is None


def test_a_step_with_only_null_thumbs_is_not_withheld_for_privacy():
    steps = flow_metrics.step_table(STEP_DECISIONS, NULL_THUMBS, TREE)
    csat = CSAT(avg_csat=None, total_ratings=0, distribution={s: 0 for s in range(1, 6)})
    _, _, kept, note = protect_flow(csat, [], steps, raters=0, step_raters={"a": 1, "b": 1}, k=3)
    # a and b have real thumbs from one rater each → withheld; c has none → nothing to withhold
    assert note.steps_withheld == 2
    assert {s.node_id: s.helpful_yes for s in kept} == {"a": None, "b": None, "c": 0}


ACC, OTHER = "10000000-0000-4000-8000-00000000000a", "10000000-0000-4000-8000-00000000000b"
TREE_ID = "30000000-0000-4000-8000-000000000001"
STEP = "50000000-0000-4000-8000-0000000000aa"
USERS = [f"40000000-0000-4000-8000-00000000000{i}" for i in range(1, 5)]


def _uuid(prefix: int, n: int) -> str:
    return f"{prefix}0000000-0000-4000-8000-{n:012d}"


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.fixture
def thumbs_url(tmp_path) -> str:
    """A flow whose step ``STEP`` has thumbs from u1, u2 (real) and u3, u4 (null only)."""
    url = f"sqlite:///{tmp_path / 'thumbs.sqlite'}"
    init_db(url)
    session_ids = [_uuid(5, i) for i in range(4)]
    load(
        url,
        {
            "accounts": [{"id": ACC, "name": "Acme", "slug": "acme", "timezone": "UTC"}],
            "users": [
                {
                    "id": u,
                    "account_id": ACC,
                    "email": f"u{i}@x",
                    "role": "engineer",
                    "is_team_admin": False,
                    "is_super_admin": False,
                }
                for i, u in enumerate(USERS)
            ],
            "trees": [{"id": TREE_ID, "account_id": ACC, "name": "VPN"}],
            "sessions": [
                {
                    "id": sid,
                    "tree_id": TREE_ID,
                    "user_id": USERS[i],
                    "started_at": _t("2026-11-10 10:00"),
                }
                for i, sid in enumerate(session_ids)
            ],
            "step_ratings": [
                {
                    "id": _uuid(6, i),
                    "step_id": STEP,
                    "user_id": USERS[i],
                    "session_id": session_ids[i],
                    "was_helpful": helpful,
                }
                for i, helpful in enumerate([True, False, None, None])
            ],
        },
    )
    return url


def test_null_thumbs_make_nobody_a_rater_of_the_step(thumbs_url):
    window = make_window("2026-11-10..2026-11-10", None, "UTC")
    with connect(thumbs_url) as conn:
        raters, per_step = rq.group_sizes(conn, ACC, window, TREE_ID)
        frame = rq.step_ratings_frame(conn, ACC, window, TREE_ID)
    assert per_step == {STEP: 2}  # u1 and u2; u3 and u4 gave no thumb
    assert raters == 0
    rows = flow_metrics.step_table(decisions([("x", None, [STEP])]), frame, TREE)
    assert (rows[0].helpful_yes, rows[0].helpful_no) == (1, 1)


# ── 3. direction of a significant change in a quantile KPI ─────────────────────


def _durations(minutes: list[int], day: str) -> pl.DataFrame:
    """Completed sessions of the given durations (whole minutes, < 24 h) started ``day``."""
    start = _t(f"{day} 00:00")
    rows = [
        (
            f"{day}-{i}",
            "A",
            f"u{i % 3}",
            start.strftime("%Y-%m-%d %H:%M"),
            (start + dt.timedelta(minutes=d)).strftime("%Y-%m-%d %H:%M"),
            "resolved",
        )
        for i, d in enumerate(minutes)
    ]
    return sessions(rows)


SHORT = list(range(1, 21))  # median 10.5, p90 18.1 (linear interpolation)
LONG = list(range(31, 51))  # median 40.5, p90 48.1
NO_RATINGS = pl.DataFrame(schema={"rating": pl.Int64})


def _session_kpis(current: list[int], previous: list[int]) -> dict[str, k.KPI]:
    kpis = k.session_kpis(
        _durations(current, "2026-11-20"),
        _durations(previous, "2026-11-10"),
        NO_RATINGS,
        NO_RATINGS,
        period_label="previous 30 days",
        csat=False,
    )
    return k.by_key(kpis)


def test_longer_sessions_point_median_and_p90_up():
    kpis = _session_kpis(LONG, SHORT)
    median, p90 = kpis["median_duration_minutes"], kpis["p90_duration_minutes"]
    assert (median.estimate.value, median.previous.value) == pytest.approx((40.5, 10.5))
    assert (p90.estimate.value, p90.previous.value) == pytest.approx((48.1, 18.1))
    for kpi in (median, p90):
        assert kpi.change.significant and kpi.change.direction == "up"
        assert kpi.change.delta == pytest.approx(30.0)
        assert kpi.change.label == "up 30.0 min vs previous 30 days"
        chip = layout.change_chip(kpi)
        assert chip.text.startswith("▲ ") and chip.tone == "bad"  # longer is worse


def test_shorter_sessions_point_median_and_p90_down():
    kpis = _session_kpis(SHORT, LONG)
    for key in ("median_duration_minutes", "p90_duration_minutes"):
        change = kpis[key].change
        assert change.significant and change.direction == "down"
        assert change.delta == pytest.approx(-30.0)
        assert change.label == "down 30.0 min vs previous 30 days"
        chip = layout.change_chip(kpis[key])
        assert chip.text.startswith("▼ ") and chip.tone == "good"


def test_each_quantile_points_its_own_way_when_median_and_tail_move_apart():
    # previous: 16 quick sessions and a tail of four very long ones; current: all
    # mid-length. The whole distribution moved up (Mann–Whitney, U = 320 of 400), the
    # median went up (10.5 → 40.5) but the p90 came down (211.0 → 48.1).
    previous = [*range(1, 17), 200, 210, 220, 230]
    kpis = _session_kpis(LONG, previous)
    median, p90 = kpis["median_duration_minutes"], kpis["p90_duration_minutes"]
    assert median.previous.value == pytest.approx(10.5)  # (10 + 11) / 2
    assert p90.previous.value == pytest.approx(211.0)  # 210 + 0.1 × (220 − 210)
    assert median.change.direction == "up" and median.change.delta == pytest.approx(30.0)
    assert p90.change.direction == "down" and p90.change.delta == pytest.approx(48.1 - 211.0)
    assert p90.change.label == "down 162.9 min vs previous 30 days"
    assert layout.change_chip(median).text.startswith("▲ ")
    assert layout.change_chip(p90).text.startswith("▼ ")


def _escalation_kpis(current: list[float], previous: list[float]) -> dict[str, k.KPI]:
    cur, prev = pl.Series(current, dtype=pl.Float64), pl.Series(previous, dtype=pl.Float64)
    return k.by_key(
        k.escalation_kpis(len(current), cur, len(previous), prev, period_label="previous 7 days")
    )


@pytest.mark.parametrize(
    ("current", "previous", "direction", "delta"),
    [
        (LONG, SHORT, "up", 30.0),  # p95: 49.05 vs 19.05 seconds
        (SHORT, LONG, "down", -30.0),
    ],
)
def test_escalation_median_and_p95_point_the_way_the_lags_moved(
    current, previous, direction, delta
):
    kpis = _escalation_kpis([float(x) for x in current], [float(x) for x in previous])
    median = kpis["median_seconds_to_first_action"]
    p95 = kpis["p95_seconds_to_first_action"]
    assert sorted([p95.estimate.value, p95.previous.value]) == pytest.approx([19.05, 49.05])
    for kpi in (median, p95):
        assert kpi.change.significant and kpi.change.direction == direction
        assert kpi.change.delta == pytest.approx(delta)
        assert kpi.change.label == f"{direction} 30.0 s vs previous 7 days"
        arrow = "▲" if direction == "up" else "▼"
        assert layout.change_chip(kpi).text.startswith(arrow + " ")


def test_an_insignificant_quantile_change_points_nowhere():
    kpis = _session_kpis(SHORT, [x + 1 for x in SHORT])  # a one-minute shift of 20 values
    for key in ("median_duration_minutes", "p90_duration_minutes"):
        change = kpis[key].change
        assert not change.significant and change.direction == "none"
        assert change.label == "no clear change"


# ── 4. FlowPilot value boxes and the summary beside them ───────────────────────


def _ai(n: int, account: str, status: str, created: str, **extra) -> dict:
    return {
        "id": _uuid(7, n),
        "account_id": account,
        "status": status,
        "created_at": _t(created),
        **extra,
    }


@pytest.fixture
def flowpilot_url(tmp_path) -> str:
    """AI sessions of ``acme`` in the 7 days to 2026-11-20 (c*), the 7 days before (p*),
    older ones, and another account's sessions in the window."""
    url = f"sqlite:///{tmp_path / 'flowpilot.sqlite'}"
    init_db(url)
    rows = [
        # this window [2026-11-13, 2026-11-20)
        _ai(
            1,
            ACC,
            "resolved",
            "2026-11-14 10:00",
            resolved_at=_t("2026-11-14 10:30"),
            step_count=4,
            session_rating=5,
        ),
        _ai(
            2,
            ACC,
            "resolved",
            "2026-11-15 09:00",
            resolved_at=_t("2026-11-15 10:00"),
            step_count=6,
            session_rating=4,
        ),
        _ai(3, ACC, "escalated", "2026-11-16 09:00", step_count=9, session_rating=2),
        _ai(4, ACC, "abandoned", "2026-11-17 09:00"),
        # resolved without a resolution time: resolved, but no MTTR (reported as faulty)
        _ai(5, ACC, "resolved", "2026-11-18 12:00", step_count=2),
        # resolved "before" it was created: resolved, but no MTTR (reported as faulty)
        _ai(9, ACC, "resolved", "2026-11-19 10:00", resolved_at=_t("2026-11-19 09:00")),
        # the previous window [2026-11-06, 2026-11-13)
        _ai(
            6,
            ACC,
            "resolved",
            "2026-11-08 10:00",
            resolved_at=_t("2026-11-08 10:20"),
            step_count=3,
            session_rating=3,
        ),
        _ai(7, ACC, "escalated", "2026-11-09 10:00"),
        # before both windows, and another account's sessions in this window
        _ai(
            8,
            ACC,
            "resolved",
            "2026-10-01 10:00",
            resolved_at=_t("2026-10-01 18:00"),
            step_count=50,
            session_rating=1,
        ),
        *[
            _ai(
                20 + i,
                OTHER,
                "resolved",
                "2026-11-15 10:00",
                resolved_at=_t("2026-11-15 16:00"),
                step_count=40,
                session_rating=1,
            )
            for i in range(4)
        ],
    ]
    load(
        url,
        {
            "accounts": [
                {"id": ACC, "name": "Acme", "slug": "acme", "timezone": "UTC"},
                {"id": OTHER, "name": "Other", "slug": "other", "timezone": "UTC"},
            ],
            "ai_sessions": rows,
        },
    )
    return url


def test_flowpilot_value_boxes_use_the_sessions_of_the_summary(flowpilot_url):
    page = dashboards.flowpilot_page("acme", "7d", "2026-11-20", min_n=1, url=flowpilot_url)
    boxes, s = k.by_key(page.kpis), page.summary
    # hand-computed from the fixture: 1–5 and 9 now, 6–7 before
    assert (s.total_sessions, s.resolved_sessions, s.escalated_sessions) == (6, 4, 1)
    assert s.resolution_rate_pct == pytest.approx(400 / 6)
    assert s.mttr_minutes == pytest.approx(45.0)  # (30 + 60) / 2; 5 and 9 have no valid time
    assert s.avg_steps_to_resolution == pytest.approx(4.0)  # (4 + 6 + 2) / 3; 9 has none
    assert s.avg_rating == pytest.approx(11 / 3)  # (5 + 4 + 2) / 3
    expected_boxes = {
        "ai_sessions": (6, 6, 2),
        "resolution_rate_pct": (4 / 6, 6, 0.5),
        "mttr_minutes": (45.0, 2, 20.0),
        "avg_steps_to_resolution": (4.0, 3, 3.0),
        "avg_rating": (11 / 3, 3, 3.0),
    }
    assert set(boxes) == set(expected_boxes)
    for key, (value, n, previous) in expected_boxes.items():
        got = boxes[key]
        assert (got.estimate.value, got.estimate.n, got.previous.value) == pytest.approx(
            (value, n, previous)
        ), key
    # … and the boxes agree with the summary beside them, figure by figure
    assert boxes["ai_sessions"].estimate.value == s.total_sessions
    assert boxes["resolution_rate_pct"].estimate.value * 100 == pytest.approx(s.resolution_rate_pct)
    assert boxes["resolution_rate_pct"].estimate.successes == s.resolved_sessions
    assert boxes["mttr_minutes"].estimate.value == pytest.approx(s.mttr_minutes)
    assert boxes["mttr_minutes"].estimate.n == s.mttr_sessions
    assert boxes["avg_steps_to_resolution"].estimate.value == pytest.approx(
        s.avg_steps_to_resolution
    )
    assert boxes["avg_rating"].estimate.value == pytest.approx(s.avg_rating)
    assert boxes["avg_rating"].estimate.n == s.rated_sessions


# ── 5. audience folders ────────────────────────────────────────────────────────

FLOW_ID = "3f1c2b9a-1111-4000-8000-000000000001"
ENGINEER_ID = "9e8d7c6b-2222-4000-8000-000000000002"
EXPECTED_PAGES = {
    # dashboard → (folder, page file) for account "northwind-it", 30 days, written out by
    # hand; ``<id>`` stands for the id part of the scope segment (rfa.publish.paths)
    "team": ("northwind-it/admin", "team-30d.html"),
    "flowpilot": ("northwind-it/admin", "flowpilot-30d.html"),
    "coverage": ("northwind-it/admin", "coverage-30d.html"),
    "knowledge_gaps": ("northwind-it/admin", "knowledge-gaps-30d.html"),
    "escalations": ("northwind-it/staff", "escalations-30d.html"),
    "flow": ("northwind-it/members", "flow-vpn-setup-<id>-30d.html"),
    "personal": ("northwind-it/engineers/jane-doe-<id>", "personal-30d.html"),
}
SCOPES = {"flow": ("VPN setup", FLOW_ID), "personal": ("Jane Doe", ENGINEER_ID)}


def _pattern(folder: str, name: str) -> str:
    """The expected path as a regex: ``<id>`` is the scope id or a part of it."""
    return re.escape(f"{folder}/{name}").replace(re.escape("<id>"), "[0-9a-f]{8}[0-9a-f-]*")


def test_the_table_names_every_dashboard():
    assert set(EXPECTED_PAGES) == set(DASHBOARDS)


@pytest.mark.parametrize("dashboard", sorted(EXPECTED_PAGES))
def test_each_dashboard_is_published_into_its_audience_folder(dashboard):
    name, scope_id = SCOPES.get(dashboard, (None, None))
    job = PageJob(
        dashboard=dashboard,
        account_slug="northwind-it",
        account_name="Northwind IT",
        timezone="UTC",
        period="30d",
        as_of="2026-11-20T00:00:00+00:00",
        scope_id=scope_id,
        scope_name=name,
    )
    expected = _pattern(*EXPECTED_PAGES[dashboard])
    assert re.fullmatch(expected, job.page), (job.page, expected)
    spec = DASHBOARDS[dashboard]
    direct = page_relpath(
        "northwind-it",
        spec.folder,
        dashboard,
        "30d",
        scope=spec.scope,
        scope_name=name,
        scope_id=scope_id,
    )
    assert direct == job.page
