"""Audiences and small-group privacy (issue 5 §3): what members' pages withhold."""

from __future__ import annotations

import datetime as dt

import pytest

from demo_db import ANCHOR, demo_rows
from rfa import dashboards
from rfa.db import connect
from rfa.metrics.models import CSAT, Comment, StepRow
from rfa.metrics.privacy import MIN_GROUP_SIZE, protect_flow
from rfa.queries import accounts as aq
from rfa.queries import ratings as rq
from rfa.window import make_window

AS_OF = ANCHOR.isoformat()
CSAT_4 = CSAT(avg_csat=4.0, total_ratings=3, distribution={1: 0, 2: 0, 3: 1, 4: 1, 5: 1})
COMMENTS = [Comment(rating=4, comment="Fixed it", date=dt.date(2026, 11, 1))]
STEPS = [
    StepRow(
        node_id="a",
        node_title="A",
        visit_count=9,
        dropoff_count=1,
        dropoff_rate=1 / 9,
        helpful_yes=2,
        helpful_no=1,
        helpful_rate=2 / 3,
    ),
    StepRow(
        node_id="b",
        node_title="B",
        visit_count=9,
        dropoff_count=0,
        dropoff_rate=0.0,
        helpful_yes=1,
        helpful_no=0,
        helpful_rate=1.0,
    ),
    StepRow(
        node_id="c",
        node_title="C",
        visit_count=9,
        dropoff_count=0,
        dropoff_rate=0.0,
        helpful_yes=0,
        helpful_no=0,
        helpful_rate=None,
    ),
]


def test_enough_raters_shows_everything():
    csat, comments, steps, note = protect_flow(CSAT_4, COMMENTS, STEPS, 3, {"a": 3, "b": 5})
    assert (csat, comments, steps) == (CSAT_4, COMMENTS, STEPS)
    assert note.csat_shown and note.comments_shown and note.steps_withheld == 0


def test_too_few_raters_withholds_csat_comments_and_thumbs():
    csat, comments, steps, note = protect_flow(CSAT_4, COMMENTS, STEPS, 2, {"a": 3, "b": 1})
    assert csat.avg_csat is None and set(csat.distribution.values()) == {0}
    assert csat.total_ratings == 3  # how much feedback exists is not a secret
    assert comments == []
    assert (steps[0].helpful_yes, steps[0].helpful_rate) == (2, 2 / 3)  # 3 raters: shown
    assert (steps[1].helpful_yes, steps[1].helpful_no, steps[1].helpful_rate) == (None,) * 3
    assert steps[1].visit_count == 9  # visits are not per-person figures
    assert not note.csat_shown and note.steps_withheld == 1 and note.raters == 2


@pytest.mark.parametrize("k", [0, -1])
def test_k_must_be_positive(k):
    with pytest.raises(ValueError):
        protect_flow(CSAT_4, COMMENTS, STEPS, 5, {}, k)


def test_default_k_is_documented():
    assert MIN_GROUP_SIZE == 3
    assert "3" in dashboards.definitions_for("small_group_privacy")["small_group_privacy"]


def test_group_sizes_come_from_the_database_without_ids(demo_sqlite_url):
    with connect(demo_sqlite_url) as conn:
        info = aq.resolve_account(conn, "kiwi-tech")
        window = make_window("90d", ANCHOR, info.timezone)
        flow = aq.list_flows(conn, info.id)["tree_id"][0]
        raters, per_step = rq.group_sizes(conn, info.id, window, flow)
        people = set(aq.list_users(conn, info.id)["user_id"])
    # the same counts straight from the rows the demo inserted (not ">= 0", which
    # could not fail): distinct raters of valid ratings, distinct people behind
    # non-null thumbs on the flow's sessions of the window
    rows = demo_rows()
    in_window = {
        s["id"]
        for s in rows["sessions"]
        if s["tree_id"] == flow and window.start <= s["started_at"] < window.end
    }
    expected_raters = {
        r["user_id"]
        for r in rows["session_ratings"]
        if r["tree_id"] == flow
        and r["account_id"] == info.id
        and 1 <= r["rating"] <= 5
        and window.start <= r["created_at"] < window.end
    }
    expected_steps: dict[str, set[str]] = {}
    for t in rows["step_ratings"]:
        if t["session_id"] in in_window and t.get("was_helpful") is not None:
            expected_steps.setdefault(t["step_id"], set()).add(t["user_id"])
    assert expected_steps  # the demo flow does have thumbs in the window
    assert raters == len(expected_raters)
    assert per_step == {step: len(users) for step, users in expected_steps.items()}
    assert not people & set(per_step)  # keys are node ids, never people


def test_flow_pages_withhold_with_a_large_k_and_show_with_k_1(demo_sqlite_url):
    strict = dashboards.flow_page("kiwi-tech", "", "90d", AS_OF, 10_000, url=demo_sqlite_url)
    assert strict.recent_comments == [] and strict.csat.avg_csat is None
    assert not strict.privacy.comments_shown
    assert all(s.helpful_rate is None for s in strict.steps)
    loose = dashboards.flow_page("kiwi-tech", "", "90d", AS_OF, 1, url=demo_sqlite_url)
    assert loose.privacy.csat_shown and loose.csat.avg_csat is not None
    assert loose.summary == strict.summary  # session figures are never withheld


def test_only_admin_pages_carry_an_engineer_leaderboard():
    from rfa.catalog import DASHBOARDS

    with_leaderboard = [
        name
        for name, page in (
            ("team", dashboards.TeamPage),
            ("personal", dashboards.PersonalPage),
            ("flow", dashboards.FlowPage),
            ("flowpilot", dashboards.FlowPilotPage),
            ("coverage", dashboards.CoveragePage),
            ("knowledge_gaps", dashboards.KnowledgeGapsPage),
            ("escalations", dashboards.EscalationsPage),
        )
        if "top_engineers" in page.model_fields
    ]
    assert with_leaderboard == ["team"]
    assert DASHBOARDS["team"].folder == "admin"


def test_personal_pages_hold_only_that_engineers_data(demo_sqlite_url):
    with connect(demo_sqlite_url) as conn:
        info = aq.resolve_account(conn, "northwind-it")
        users = aq.list_users(conn, info.id)
    page = dashboards.personal_page("northwind-it", "", "30d", AS_OF, url=demo_sqlite_url)
    text = page.model_dump_json()
    others = [
        (u, n) for u, n in users.select("user_id", "name").iter_rows() if u != page.meta.scope.id
    ]
    assert page.meta.scope.id in text
    for user_id, name in others:
        assert user_id not in text and (not name or name not in text)


# ------------------------------------------- k counted on the rows shown (issue 16 §4)


def _one_real_rater(tmp_path, extra: str):
    """A flow with one engineer's rated session (and a comment), plus ``extra``:
    ``"orphans"`` — two ratings by two other users of sessions that do not exist;
    ``"duplicates"`` — two more ratings of that same session by two other users."""
    from factories_db import TinyDB, uid

    tiny = TinyDB(tmp_path / f"{extra}.sqlite")
    acc = tiny.account("acct-k")
    flow = tiny.flow(acc, "vpn-flow")
    u1, u2, u3 = (tiny.user(acc, f"k-user-{i}") for i in (1, 2, 3))
    s1 = tiny.session(flow, u1, "k-s1", "2026-11-10 09:00")
    tiny.rating(acc, flow, s1, u1, "k-r1", "2026-11-10 09:30", 5, "Only I wrote this")
    for i, rater in enumerate((u2, u3)):
        session = uid(f"k-ghost-{i}") if extra == "orphans" else s1
        tiny.rating(acc, flow, session, rater, f"k-x{i}", f"2026-11-10 1{i}:00", 4, "x")
    return tiny


@pytest.mark.parametrize("extra", ["orphans", "duplicates"])
def test_orphan_or_duplicate_ratings_cannot_lift_the_rater_count(tmp_path, extra):
    tiny = _one_real_rater(tmp_path, extra)
    page = dashboards.flow_page("acct-k", "vpn-flow", "30d", "2026-11-20", url=tiny.url)
    assert page.privacy.raters == 1
    assert not page.privacy.comments_shown and page.recent_comments == []
    assert page.csat.avg_csat is None
    assert "Only I wrote this" not in page.model_dump_json()
    found = {f.check: f.count for f in page.data_quality}
    assert found == ({"rating_orphan": 2} if extra == "orphans" else {"rating_duplicate": 2})
    with connect(tiny.url) as conn:  # the SQL count agrees with the rows shown
        info = aq.resolve_account(conn, "acct-k")
        window = make_window("30d", "2026-11-20", info.timezone)
        raters, _ = rq.group_sizes(conn, info.id, window, page.meta.scope.id)
    assert raters == 1


def test_anonymous_comments_carry_their_local_date_only(tmp_path):
    """Issue 16 §13: a comment's minute (or second) in the data file let a reader match it
    to one session; the data file now holds the account's local date and nothing finer."""
    import json

    from factories_db import TinyDB

    tiny = TinyDB(tmp_path / "comments.sqlite")
    acc = tiny.account("acct-c", tz="Pacific/Auckland")  # UTC+13 in November
    flow = tiny.flow(acc, "mail-flow")
    for i in range(3):
        user = tiny.user(acc, f"c-user-{i}")
        session = tiny.session(flow, user, f"c-s{i}", f"2026-11-10 1{i}:00")
        tiny.rating(
            acc, flow, session, user, f"c-r{i}", f"2026-11-10 1{i + 1}:30:45", 4, f"note {i}"
        )
    page = dashboards.flow_page("acct-c", "mail-flow", "30d", "2026-11-20", url=tiny.url)
    data = json.loads(page.model_dump_json())
    assert [c["comment"] for c in data["recent_comments"]] == ["note 2", "note 1", "note 0"]
    for comment in data["recent_comments"]:
        assert set(comment) == {"rating", "comment", "date"}
        assert comment["date"] == "2026-11-11"  # 10 Nov 11:30–13:30 UTC: the local day
    assert ":30" not in json.dumps(data["recent_comments"])
