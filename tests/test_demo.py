"""The demo data generator and loader (``rfa.demo``)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from rfa import db, demo
from rfa.errors import ParameterError, RFAError

ANCHOR = dt.datetime(2026, 3, 15, tzinfo=dt.UTC)
SCALE = 0.03
LAST_30 = ANCHOR - dt.timedelta(days=30)


@pytest.fixture(scope="module")
def data() -> dict[str, list[dict]]:
    return demo.generate(seed=3, scale=SCALE, anchor=ANCHOR)


def _by_id(rows: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in rows}


def _node_ids(node: dict) -> set[str]:
    out = {node["id"]}
    for child in node.get("children", []):
        out |= _node_ids(child)
    return out


def _children(node: dict, acc: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    acc = {} if acc is None else acc
    acc[node["id"]] = {c["id"] for c in node["children"]}
    for child in node["children"]:
        _children(child, acc)
    return acc


def _slug_of_account(data: dict) -> dict[str, str]:
    return {a["id"]: a["slug"] for a in data["accounts"]}


def _session_account(data: dict) -> dict[str, str]:
    tree_acc = {t["id"]: t["account_id"] for t in data["trees"]}
    return {s["id"]: tree_acc[s["tree_id"]] for s in data["sessions"]}


# ------------------------------------------------------------------ determinism


def test_same_inputs_give_identical_data(data):
    again = demo.generate(seed=3, scale=SCALE, anchor=ANCHOR)
    assert again == data
    dump = lambda d: json.dumps(d, default=str, sort_keys=True)  # noqa: E731
    assert dump(again) == dump(data)


def test_a_different_seed_gives_different_data(data):
    other = demo.generate(seed=4, scale=SCALE, anchor=ANCHOR)
    assert other["accounts"][0]["id"] != data["accounts"][0]["id"]
    assert [s["started_at"] for s in other["sessions"][:50]] != [
        s["started_at"] for s in data["sessions"][:50]
    ]


def test_users_and_flows_do_not_depend_on_scale(data):
    bigger = demo.generate(seed=3, scale=0.05, anchor=ANCHOR)
    assert bigger["users"] == data["users"]
    assert [t["name"] for t in bigger["trees"]] == [t["name"] for t in data["trees"]]
    assert len(bigger["sessions"]) > len(data["sessions"])


def test_bad_parameters_are_rejected():
    with pytest.raises(ParameterError, match="scale"):
        demo.generate(scale=0)
    with pytest.raises(ParameterError, match="seed"):
        demo.generate(seed=-1)
    with pytest.raises(ParameterError, match="anchor"):
        demo.generate(anchor="2026-01-01")  # type: ignore[arg-type]


def test_default_anchor_is_today_midnight_utc():
    anchor = demo.default_anchor(dt.date(2026, 2, 3))
    assert anchor == dt.datetime(2026, 2, 3, tzinfo=dt.UTC)


# -------------------------------------------------------------------- structure


def test_tables_come_in_insert_order_with_every_column(data):
    assert list(data) == [t.name for t in db.TABLES]
    for table in db.TABLES:
        cols = {c.name for c in table.columns}
        assert data[table.name], table.name
        assert all(set(row) == cols for row in data[table.name]), table.name


def test_three_accounts_with_distinct_timezones(data):
    slugs = [a["slug"] for a in data["accounts"]]
    assert slugs == ["northwind-it", "harbour-msp", "kiwi-tech"]
    assert slugs == [a.slug for a in demo.DEMO_ACCOUNTS]
    assert len({a["timezone"] for a in data["accounts"]}) == 3
    assert {a["timezone"] for a in data["accounts"]} == {
        "America/New_York",
        "Europe/London",
        "Pacific/Auckland",
    }


def test_role_mix_and_who_runs_sessions(data):
    runs = Counter(s["user_id"] for s in data["sessions"])
    for account in data["accounts"]:
        users = [u for u in data["users"] if u["account_id"] == account["id"]]
        roles = Counter(u["role"] for u in users)
        assert roles["engineer"] >= 4
        assert 1 <= roles["team_admin"] <= 3
        assert 2 <= roles["viewer"] <= 4
        assert roles["super_admin"] <= 1
        assert roles["engineer"] > len(users) / 2
        for u in users:
            assert u["is_team_admin"] == (u["role"] == "team_admin")
            assert u["is_super_admin"] == (u["role"] == "super_admin")
            if u["role"] in ("viewer", "super_admin"):
                assert runs[u["id"]] == 0
    admins = [u["id"] for u in data["users"] if u["role"] == "team_admin"]
    assert sum(runs[a] for a in admins) > 0


def test_names_are_unique_across_accounts(data):
    names = [u["name"] for u in data["users"]]
    assert len(names) == len(set(names))
    flows = [t["name"] for t in data["trees"]]
    assert len(flows) == len(set(flows))
    domains = {a.slug: a.email_domain for a in demo.DEMO_ACCOUNTS}
    slug = _slug_of_account(data)
    for u in data["users"]:
        first, last = u["name"].lower().split(" ", 1)
        local, domain = u["email"].split("@")
        assert domain == domains[slug[u["account_id"]]]
        assert local.startswith(first + ".")
    emails = [(u["account_id"], u["email"]) for u in data["users"]]
    assert len(emails) == len(set(emails))
    comments = {}
    for r in data["session_ratings"]:
        if r["comment"]:
            comments.setdefault(r["comment"], set()).add(r["account_id"])
    assert comments and all(len(accs) == 1 for accs in comments.values())


def test_nothing_is_dated_at_or_after_the_anchor(data):
    start = ANCHOR - dt.timedelta(days=demo.DAYS)
    for name, rows in data.items():
        for row in rows:
            for value in row.values():
                if isinstance(value, dt.datetime):
                    assert value.tzinfo is not None
                    assert value < ANCHOR, (name, row)
    for s in data["sessions"]:
        assert start <= s["started_at"] < ANCHOR
        for d in s["decisions"]:
            assert dt.datetime.fromisoformat(d["at"]) < ANCHOR
    first_session = {}
    for s in data["sessions"]:
        first_session[s["tree_id"]] = min(first_session.get(s["tree_id"], ANCHOR), s["started_at"])
    for t in data["trees"]:
        assert t["created_at"] < first_session.get(t["id"], ANCHOR)


def test_foreign_keys_stay_inside_one_account(data):
    users = {u["id"]: u["account_id"] for u in data["users"]}
    trees = {t["id"]: t["account_id"] for t in data["trees"]}
    sess_acc = _session_account(data)
    sessions = _by_id(data["sessions"])
    for s in data["sessions"]:
        assert users[s["user_id"]] == trees[s["tree_id"]]
    for r in data["session_ratings"]:
        assert users[r["user_id"]] == trees[r["tree_id"]] == sess_acc[r["session_id"]]
        assert r["account_id"] == trees[r["tree_id"]]
        assert sessions[r["session_id"]]["user_id"] == r["user_id"]
        assert sessions[r["session_id"]]["tree_id"] == r["tree_id"]
    for r in data["step_ratings"]:
        assert users[r["user_id"]] == sess_acc[r["session_id"]]
    ai = _by_id(data["ai_sessions"])
    for a in data["ai_sessions"]:
        assert users[a["user_id"]] == a["account_id"]
        if a["tree_id"] is not None:
            assert trees[a["tree_id"]] == a["account_id"]
    for h in data["session_handoffs"]:
        if h["claimed_by"] is not None:
            assert users[h["claimed_by"]] == ai[h["ai_session_id"]]["account_id"]
    for name in ("ai_session_steps", "session_handoffs", "psa_post_logs"):
        assert all(r["ai_session_id"] in ai for r in data[name])
    accounts = {a["id"] for a in data["accounts"]}
    assert all(p["account_id"] in accounts for p in data["flow_proposals"])


def test_trees_and_decisions_are_walks_from_the_root(data):
    trees = _by_id(data["trees"])
    children = {tid: _children(t["tree_structure"]) for tid, t in trees.items()}
    depth_ok = []
    for t in data["trees"]:
        root = t["tree_structure"]
        assert "question" in root and 2 <= len(root["children"]) <= 3
        assert t["tree_type"] in ("troubleshooting", "procedural")
        assert t["origin"] in ("manual", "ai_generated", "ai_enhanced")

        def depth(node: dict) -> int:
            return 1 + max((depth(c) for c in node["children"]), default=0)

        depth_ok.append(4 <= depth(root) <= 9)
    assert all(depth_ok)
    assert Counter(t["usage_count"] for t in data["trees"]).total() == len(data["trees"])
    usage = Counter(s["tree_id"] for s in data["sessions"])
    assert all(t["usage_count"] == usage[t["id"]] for t in data["trees"])
    broken = 0
    for s in data["sessions"]:
        kids = children[s["tree_id"]]
        root_id = trees[s["tree_id"]]["tree_structure"]["id"]
        nodes = [d["node_id"] for d in s["decisions"]]
        ats = [d["at"] for d in s["decisions"]]
        assert ats == sorted(ats)
        if nodes:
            assert nodes[0] == root_id
        if any(b not in kids.get(a, ()) for a, b in zip(nodes, nodes[1:], strict=False)):
            broken += 1
        if s["completed_at"] is None:
            assert s["outcome"] is None
        elif s["outcome"] is not None and nodes:
            assert kids[nodes[-1]] == set()  # completed sessions end at a solution
            assert s["outcome"] in ("resolved", "escalated", "workaround", "unresolved")
    assert broken == 1  # the documented fault


def test_realistic_rates(data):
    sessions = data["sessions"]
    completed = [s for s in sessions if s["completed_at"] is not None]
    assert 0.7 <= len(completed) / len(sessions) <= 0.88
    outcomes = Counter(s["outcome"] for s in completed)
    assert outcomes.most_common(1)[0][0] == "resolved"
    ratings = data["session_ratings"]
    assert 0.22 <= len(ratings) / len(completed) <= 0.38
    assert len({r["session_id"] for r in ratings}) == len(ratings)
    with_comment = [r for r in ratings if r["comment"]]
    assert 0.2 <= len(with_comment) / len(ratings) <= 0.4
    assert all(len(r["comment"]) <= 500 for r in with_comment)
    by_outcome: dict[str, list[int]] = {}
    outcome = {s["id"]: s["outcome"] for s in sessions}
    for r in ratings:
        by_outcome.setdefault(outcome[r["session_id"]], []).append(r["rating"])
    mean = {k: sum(v) / len(v) for k, v in by_outcome.items() if k}
    assert mean["resolved"] > 3.8 > 3.0 > mean["escalated"]
    n_visits = sum(len(s["decisions"]) for s in sessions)
    steps = data["step_ratings"]
    assert 0.08 <= len(steps) / n_visits <= 0.18
    keys = [(r["step_id"], r["user_id"], r["session_id"]) for r in steps]
    assert len(keys) == len(set(keys))
    assert {r["was_helpful"] for r in steps} == {True, False}


def test_sessions_follow_local_working_hours(data):
    tz = {a["id"]: ZoneInfo(a["timezone"]) for a in data["accounts"]}
    sess_acc = _session_account(data)
    per_account: dict[str, list[bool]] = {}
    for s in data["sessions"]:
        local = s["started_at"].astimezone(tz[sess_acc[s["id"]]])
        per_account.setdefault(sess_acc[s["id"]], []).append(
            local.weekday() < 5 and 8 <= local.hour < 18
        )
    for flags in per_account.values():
        assert 0.75 <= sum(flags) / len(flags) < 0.97


def test_data_quality_faults_are_present(data):
    slug = _slug_of_account(data)
    sess_acc = _session_account(data)
    backwards = [
        s
        for s in data["sessions"]
        if s["completed_at"] is not None and s["completed_at"] < s["started_at"]
    ]
    assert len(backwards) >= 2
    assert any(slug[sess_acc[s["id"]]] == "northwind-it" for s in backwards)
    assert all(s["started_at"] >= LAST_30 for s in backwards)
    bad_ratings = [r for r in data["session_ratings"] if not 1 <= r["rating"] <= 5]
    assert {r["rating"] for r in bad_ratings} == {0, 6}
    assert {slug[r["account_id"]] for r in bad_ratings} == {"northwind-it"}
    assert all(r["created_at"] >= LAST_30 for r in bad_ratings)
    null_outcome = [
        s for s in data["sessions"] if s["completed_at"] is not None and s["outcome"] is None
    ]
    assert len(null_outcome) >= 1 and all(s["started_at"] >= LAST_30 for s in null_outcome)
    nodes = {t["id"]: _node_ids(t["tree_structure"]) for t in data["trees"]}
    foreign = [
        s
        for s in data["sessions"]
        if any(d["node_id"] not in nodes[s["tree_id"]] for d in s["decisions"])
    ]
    assert len(foreign) == 1 and foreign[0]["started_at"] >= LAST_30


def test_flowpilot_tables(data):
    ai = data["ai_sessions"]
    assert 0.15 <= len(ai) / len(data["sessions"]) <= 0.3
    assert {a["status"] for a in ai} <= {
        "active",
        "resolved",
        "escalated",
        "requesting_escalation",
        "abandoned",
    }
    assert {"resolved", "escalated", "abandoned"} <= {a["status"] for a in ai}
    assert {a["confidence_tier"] for a in ai} == {"guided", "exploring", "discovery"}
    assert any(a["problem_domain"] is None for a in ai)
    for a in ai:
        assert (a["resolved_at"] is not None) == (a["status"] == "resolved")
        if a["resolved_at"] is not None:
            assert a["resolved_at"] > a["created_at"]
        if a["tree_id"] is None:
            assert a["match_confidence"] is None
        else:
            assert 0 <= a["match_confidence"] <= 1
        assert a["session_rating"] is None or 1 <= a["session_rating"] <= 5
    assert sum(a["psa_ticket_id"] is not None for a in ai) > len(ai) / 2
    for spec, account in zip(demo.DEMO_ACCOUNTS, data["accounts"], strict=True):
        mine = [a for a in ai if a["account_id"] == account["id"]]
        uncovered = [a for a in mine if a["problem_domain"] == spec.uncovered_domain]
        assert uncovered and all(a["tree_id"] is None for a in uncovered)
    names = {t["id"]: t["name"] for t in data["trees"]}
    weak = Counter(
        a["status"]
        for a in ai
        if a["tree_id"] and names[a["tree_id"]] in {s.weak_ai_flow for s in demo.DEMO_ACCOUNTS}
    )
    assert weak["escalated"] + weak["requesting_escalation"] > 2 * weak["resolved"]

    steps: dict[str, list[dt.datetime]] = {}
    for st in data["ai_session_steps"]:
        steps.setdefault(st["ai_session_id"], []).append(st["created_at"])
    assert all(len(v) >= 1 for v in steps.values()) and len(steps) == len(ai)
    handoffs = data["session_handoffs"]
    escalated = {a["id"] for a in ai if a["status"] in ("escalated", "requesting_escalation")}
    assert {h["ai_session_id"] for h in handoffs} == escalated
    unclaimed = [h for h in handoffs if h["claimed_at"] is None]
    assert unclaimed and all(h["claimed_by"] is None for h in unclaimed)
    claimed = [h for h in handoffs if h["claimed_at"] is not None]
    no_action = [
        h for h in claimed if not any(t > h["claimed_at"] for t in steps[h["ai_session_id"]])
    ]
    drift = [
        h
        for h in claimed
        if any(
            dt.timedelta(0) < h["claimed_at"] - t < dt.timedelta(seconds=10)
            for t in steps[h["ai_session_id"]]
        )
    ]
    assert no_action and len(drift) >= 2
    assert all(h["claimed_at"] >= h["created_at"] for h in claimed)

    proposals = data["flow_proposals"]
    assert {p["status"] for p in proposals} == {
        "pending",
        "approved",
        "modified",
        "rejected",
        "dismissed",
    }
    for p in proposals:
        assert (p["reviewed_at"] is None) == (p["status"] == "pending")
        if p["reviewed_at"] is not None:
            assert p["reviewed_at"] > p["created_at"]
    psa = data["psa_post_logs"]
    assert {p["post_type"] for p in psa} == {"ticket_note", "doc", "time_entry"}
    assert {p["status"] for p in psa} == {"success", "failed"}
    assert any(p["status"] == "success" and p["retry_count"] > 0 for p in psa)
    assert all(0 <= p["retry_count"] <= 3 for p in psa)
    for p in psa:
        if p["post_type"] == "time_entry":
            assert 0.25 <= p["hours"] <= 3.0
        else:
            assert p["hours"] is None


def test_smallest_scale_keeps_every_account_usable():
    tiny = demo.generate(seed=11, scale=0.02, anchor=ANCHOR)
    trees = {t["id"]: t["account_id"] for t in tiny["trees"]}
    per_account = Counter(trees[s["tree_id"]] for s in tiny["sessions"])
    assert len(per_account) == 3 and min(per_account.values()) >= 150
    for account in tiny["accounts"]:
        engineers = [
            u for u in tiny["users"] if u["account_id"] == account["id"] and u["role"] == "engineer"
        ]
        assert len(engineers) >= 4
        assert sum(1 for t in tiny["trees"] if t["account_id"] == account["id"]) >= 6


@pytest.mark.slow
def test_full_scale_size():
    began = time.perf_counter()
    full = demo.generate(seed=7, scale=1.0, anchor=ANCHOR)
    elapsed = time.perf_counter() - began
    northwind = full["accounts"][0]
    assert northwind["slug"] == "northwind-it"
    engineers = [
        u for u in full["users"] if u["account_id"] == northwind["id"] and u["role"] == "engineer"
    ]
    flows = {t["id"] for t in full["trees"] if t["account_id"] == northwind["id"]}
    sessions = [s for s in full["sessions"] if s["tree_id"] in flows]
    days = {s["started_at"].date() for s in sessions}
    assert len(engineers) >= 50
    assert len(flows) >= 40
    assert len(sessions) >= 50_000
    assert len(days) >= 120
    assert elapsed < 60


# ---------------------------------------------------------------------- loading


def _read_back(url: str) -> dict[str, object]:
    engine = db.create_engine(url)
    try:
        with engine.connect() as conn:
            counts = {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in db.TABLES
            }
            s = db.sessions.c
            session_ids = conn.execute(sa.select(s.id).order_by(s.id)).scalars().all()
            rating_sum = conn.execute(sa.select(sa.func.sum(db.session_ratings.c.rating))).scalar()
            first = conn.execute(
                sa.select(s.id, s.started_at, s.completed_at, s.outcome, s.decisions)
                .order_by(s.id)
                .limit(3)
            ).all()
            tree = conn.execute(
                sa.select(db.trees.c.tree_structure).order_by(db.trees.c.id).limit(1)
            ).scalar_one()
            hours = conn.execute(sa.select(sa.func.sum(db.psa_post_logs.c.hours))).scalar()
            claimed = (
                conn.execute(
                    sa.select(db.session_handoffs.c.claimed_at)
                    .where(db.session_handoffs.c.claimed_at.is_not(None))
                    .order_by(db.session_handoffs.c.id)
                )
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    return {
        "counts": counts,
        "session_ids": session_ids,
        "rating_sum": int(rating_sum),
        "first": [tuple(r) for r in first],
        "tree": tree,
        "hours": round(float(hours), 6),
        "claimed": claimed,
    }


def _sqlite(tmp_path, data) -> tuple[str, dict[str, int]]:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    db.init_db(url)
    return url, demo.load(url, data)


def test_load_into_sqlite_reads_back_equal(tmp_path, data):
    url, counts = _sqlite(tmp_path, data)
    assert counts == {name: len(rows) for name, rows in data.items()}
    back = _read_back(url)
    assert back["counts"] == counts
    assert back["session_ids"] == sorted(s["id"] for s in data["sessions"])
    assert back["rating_sum"] == sum(r["rating"] for r in data["session_ratings"])
    sessions = _by_id(data["sessions"])
    for sid, started, completed, outcome, decisions in back["first"]:
        src = sessions[sid]
        assert (started, completed, outcome, decisions) == (
            src["started_at"],
            src["completed_at"],
            src["outcome"],
            src["decisions"],
        )


def test_load_refuses_a_non_empty_or_missing_schema(tmp_path, data):
    url, _ = _sqlite(tmp_path, {"accounts": data["accounts"]})
    with pytest.raises(RFAError, match="already holds"):
        demo.load(url, data)
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with pytest.raises(RFAError, match="rfa db init"):
        demo.load(f"sqlite:///{empty}", data)
    with pytest.raises(ParameterError, match="table"):
        demo.load(url, {"nope": []})


def test_run_demo_generates_and_loads(tmp_path):
    url = f"sqlite:///{tmp_path / 'run.sqlite'}"
    db.init_db(url)
    counts = demo.run_demo(url, seed=5, scale=0.02, anchor=ANCHOR)
    assert counts["accounts"] == 3 and counts["sessions"] >= 450


@pytest.mark.postgres
def test_load_into_postgres_matches_sqlite(pg_url, tmp_path, data):
    db.init_db(pg_url)
    counts = demo.load(pg_url, data)
    assert counts == {name: len(rows) for name, rows in data.items()}
    sqlite_url, _ = _sqlite(tmp_path, data)
    pg, lite = _read_back(pg_url), _read_back(sqlite_url)
    assert pg["counts"] == lite["counts"] == counts
    assert pg == lite
