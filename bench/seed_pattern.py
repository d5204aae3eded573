"""The seed's own analytics, ported faithfully: the baseline the library is measured against.

Source: ``resolutionflow/backend/app/api/endpoints/analytics.py`` in
``../shared/seeds/002_*.txt`` — ``_build_summary`` (separate count, count-completed,
percentile_cont, count-distinct and outcome queries), ``_build_time_series`` (one GROUP BY
``started_at::date`` with CASE sums), the team endpoint's top flows and top engineers
(one grouped query with ``percentile_cont`` per group, then **one more query per flow and
per engineer** for its completed count) and the flow endpoint (summary, time series,
CSAT, and the step drop-off table computed by a **Python loop over every session's
decoded ``decisions``**, then the 10 newest comments).

The query shapes, their order and the loops are the seed's. What had to change, and why:

* **Synchronous SQLAlchemy Core** on psycopg 3 instead of the async ORM session (the
  models ``Session``, ``Tree``, ``User``, ``SessionRating`` are the Core tables of
  :mod:`rfa.db`, which carry the seed's column names); results are plain dicts instead of
  the pydantic response models, and the endpoints' permission checks are left out.
* **The window is passed in**: ``started_at >= start AND started_at < end`` (our
  :func:`rfa.window.make_window` ``("90d", as_of, "UTC")`` bounds) instead of
  ``started_at >= now() - 90 days`` with no upper bound; the same upper bound is added
  wherever the seed filtered on the period start (the per-flow and per-engineer
  completed counts, the flow's CSAT ratings, the step drop-off sessions).
* **Days are UTC days**: every connection runs ``SET TIME ZONE 'UTC'`` so that
  ``CAST(started_at AS DATE)`` buckets like the account's timezone (UTC); the seed relied
  on the server's default time zone.
* The account of the team endpoint is a parameter (the seed took ``current_user``'s).

Everything else is kept, including what :doc:`METRICS.md` fixes elsewhere (no zero-filled
days, helpful_yes/no left at 0, comments without a window): those parts are not compared.
:func:`compare` checks the numbers both compute and returns every difference.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Date, case, cast, func, select

from rfa import db

Session = db.sessions.c
Tree = db.trees.c
User = db.users.c
SessionRating = db.session_ratings.c
S, T, U, R = db.sessions, db.trees, db.users, db.session_ratings


def _duration_minutes():
    return func.extract("epoch", Session.completed_at - Session.started_at) / 60


def _utc(conn: sa.Connection) -> None:
    conn.exec_driver_sql("SET TIME ZONE 'UTC'")


def build_summary(conn: sa.Connection, base_filters: list, join_tree: bool = False) -> dict:
    """``_build_summary``: five separate queries over the base set."""

    def _base_query():
        q = select(func.count()).select_from(S)
        if join_tree:
            q = q.join(T, Session.tree_id == Tree.id)
        return q

    total = conn.execute(_base_query().where(*base_filters)).scalar() or 0
    completed = (
        conn.execute(_base_query().where(*base_filters, Session.completed_at.isnot(None))).scalar()
        or 0
    )
    duration_base = select(func.percentile_cont(0.5).within_group(_duration_minutes())).select_from(
        S
    )
    if join_tree:
        duration_base = duration_base.join(T, Session.tree_id == Tree.id)
    raw_median = conn.execute(
        duration_base.where(*base_filters, Session.completed_at.isnot(None))
    ).scalar()
    median_duration = round(float(raw_median), 1) if raw_median is not None else 0.0
    active_base = select(func.count(func.distinct(Session.user_id))).select_from(S)
    if join_tree:
        active_base = active_base.join(T, Session.tree_id == Tree.id)
    active_engineers = conn.execute(active_base.where(*base_filters)).scalar() or 0
    outcome_base = select(Session.outcome, func.count()).select_from(S)
    if join_tree:
        outcome_base = outcome_base.join(T, Session.tree_id == Tree.id)
    outcomes = dict(
        conn.execute(
            outcome_base.where(
                *base_filters, Session.completed_at.isnot(None), Session.outcome.isnot(None)
            ).group_by(Session.outcome)
        ).all()
    )
    return {
        "total_sessions": total,
        "completed_sessions": completed,
        "completion_rate": round(completed / total, 3) if total > 0 else 0.0,
        "median_duration_minutes": median_duration,
        "active_engineers": active_engineers,
        "outcome_breakdown": {
            o: outcomes.get(o, 0) for o in ("resolved", "escalated", "workaround", "unresolved")
        },
    }


def build_time_series(conn: sa.Connection, base_filters: list, join_tree: bool = False):
    """``_build_time_series``: one GROUP BY day with CASE sums (days without sessions absent)."""
    day = cast(Session.started_at, Date)
    q = select(
        day.label("date"),
        func.count().label("sessions"),
        func.sum(case((Session.outcome == "resolved", 1), else_=0)).label("resolved"),
        func.sum(case((Session.outcome == "escalated", 1), else_=0)).label("escalated"),
        func.sum(case((Session.outcome == "workaround", 1), else_=0)).label("workaround"),
        func.sum(case((Session.outcome == "unresolved", 1), else_=0)).label("unresolved"),
    ).select_from(S)
    if join_tree:
        q = q.join(T, Session.tree_id == Tree.id)
    rows = conn.execute(q.where(*base_filters).group_by(day).order_by(day))
    return [
        {
            "date": str(row.date),
            "sessions": row.sessions,
            "resolved": int(row.resolved or 0),
            "escalated": int(row.escalated or 0),
            "workaround": int(row.workaround or 0),
            "unresolved": int(row.unresolved or 0),
        }
        for row in rows.all()
    ]


def team_analytics(
    conn: sa.Connection, account_id: str, start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    """``get_team_analytics`` (without the permission check and engineer filter)."""
    _utc(conn)
    base_filters = [
        Session.started_at >= start,
        Session.started_at < end,
        Tree.account_id == account_id,
    ]
    summary = build_summary(conn, base_filters, join_tree=True)
    time_series = build_time_series(conn, base_filters, join_tree=True)

    top_flows_q = conn.execute(
        select(
            Tree.id,
            Tree.name,
            func.count(Session.id).label("sessions"),
            func.percentile_cont(0.5).within_group(_duration_minutes()).label("median_duration"),
        )
        .select_from(S)
        .join(T, Session.tree_id == Tree.id)
        .where(Session.started_at >= start, Session.started_at < end, Tree.account_id == account_id)
        .group_by(Tree.id, Tree.name)
        .order_by(func.count(Session.id).desc())
        .limit(10)
    )
    top_flows = []
    for row in top_flows_q.all():
        completed_count = (
            conn.execute(
                select(func.count())
                .select_from(S)
                .where(
                    Session.tree_id == row.id,
                    Session.started_at >= start,
                    Session.started_at < end,
                    Session.completed_at.isnot(None),
                )
            ).scalar()
            or 0
        )
        completion_rate = round(completed_count / row.sessions, 3) if row.sessions > 0 else 0.0
        top_flows.append(
            {
                "tree_id": str(row.id),
                "name": row.name,
                "sessions": row.sessions,
                "completion_rate": completion_rate,
                "median_duration_minutes": round(float(row.median_duration or 0), 1),
            }
        )

    top_engineers_q = conn.execute(
        select(
            User.id,
            User.name,
            func.count(Session.id).label("sessions"),
            func.percentile_cont(0.5).within_group(_duration_minutes()).label("median_duration"),
        )
        .select_from(S)
        .join(U, Session.user_id == User.id)
        .join(T, Session.tree_id == Tree.id)
        .where(Session.started_at >= start, Session.started_at < end, Tree.account_id == account_id)
        .group_by(User.id, User.name)
        .order_by(func.count(Session.id).desc())
        .limit(10)
    )
    top_engineers = []
    for row in top_engineers_q.all():
        completed_count = (
            conn.execute(
                select(func.count())
                .select_from(S)
                .join(T, Session.tree_id == Tree.id)
                .where(
                    Session.user_id == row.id,
                    Session.started_at >= start,
                    Session.started_at < end,
                    Tree.account_id == account_id,
                    Session.completed_at.isnot(None),
                )
            ).scalar()
            or 0
        )
        completion_rate = round(completed_count / row.sessions, 3) if row.sessions > 0 else 0.0
        top_engineers.append(
            {
                "user_id": str(row.id),
                "name": row.name or "Unknown",
                "sessions": row.sessions,
                "completion_rate": completion_rate,
                "median_duration_minutes": round(float(row.median_duration or 0), 1),
            }
        )
    return {
        "summary": summary,
        "time_series": time_series,
        "top_flows": top_flows,
        "top_engineers": top_engineers,
    }


def flow_analytics(
    conn: sa.Connection, tree_id: str, start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    """``get_flow_analytics``: summary, time series, CSAT, the step loop, comments."""
    _utc(conn)
    tree = conn.execute(select(T).where(Tree.id == tree_id)).first()
    if tree is None:
        raise LookupError("Flow not found")
    base_filters = [
        Session.started_at >= start,
        Session.started_at < end,
        Session.tree_id == tree_id,
    ]
    summary = build_summary(conn, base_filters, join_tree=False)
    time_series = build_time_series(conn, base_filters, join_tree=False)

    csat_row = conn.execute(
        select(func.avg(SessionRating.rating), func.count()).where(
            SessionRating.tree_id == tree_id,
            SessionRating.created_at >= start,
            SessionRating.created_at < end,
        )
    ).one()
    avg_csat = round(float(csat_row[0]), 1) if csat_row[0] else None
    total_ratings = csat_row[1]

    # Step dropoff analysis from session decisions JSONB: a Python loop over every session
    sessions_data = conn.execute(
        select(Session.decisions, Session.completed_at).where(
            Session.tree_id == tree_id, Session.started_at >= start, Session.started_at < end
        )
    ).all()
    node_visits: dict[str, int] = {}
    node_dropoffs: dict[str, int] = {}
    for sess in sessions_data:
        decisions = sess.decisions or []
        for decision in decisions:
            node_id = decision.get("node_id", "")
            if node_id:
                node_visits[node_id] = node_visits.get(node_id, 0) + 1
        if not sess.completed_at and decisions:
            last_decision = decisions[-1]
            last_node = last_decision.get("node_id", "")
            if last_node:
                node_dropoffs[last_node] = node_dropoffs.get(last_node, 0) + 1
    node_title_map = _extract_node_titles(tree.tree_structure)
    step_feedback = []
    for node_id in sorted(node_visits.keys()):
        visits = node_visits.get(node_id, 0)
        dropoffs = node_dropoffs.get(node_id, 0)
        step_feedback.append(
            {
                "node_id": node_id,
                "node_title": node_title_map.get(node_id, "Unknown Step"),
                "helpful_yes": 0,
                "helpful_no": 0,
                "helpful_rate": 0.0,
                "visit_count": visits,
                "dropoff_count": dropoffs,
                "dropoff_rate": round(dropoffs / visits, 3) if visits > 0 else 0.0,
            }
        )
    step_feedback.sort(key=lambda x: x["dropoff_rate"], reverse=True)

    comments = conn.execute(
        select(SessionRating.rating, SessionRating.comment, SessionRating.created_at)
        .where(
            SessionRating.tree_id == tree_id,
            SessionRating.comment.isnot(None),
            SessionRating.comment != "",
        )
        .order_by(SessionRating.created_at.desc())
        .limit(10)
    ).all()
    recent_comments = [
        {"rating": row.rating, "comment": row.comment, "created_at": row.created_at}
        for row in comments
    ]
    return {
        "summary": summary,
        "avg_csat": avg_csat,
        "total_ratings": total_ratings,
        "time_series": time_series,
        "step_feedback": step_feedback,
        "recent_comments": recent_comments,
    }


def _extract_node_titles(tree_structure: dict) -> dict[str, str]:
    """Recursively extract node_id -> title/question from tree structure."""
    titles = {}

    def walk(node):
        if not isinstance(node, dict):
            return
        node_id = node.get("id", "")
        title = node.get("title") or node.get("question") or "Unnamed"
        if node_id:
            titles[node_id] = title
        for child in node.get("children", []):
            walk(child)

    walk(tree_structure)
    return titles


def team(url: str, account_id: str, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """One team request: a connection from a fresh engine (as the library's loaders do)."""
    with db.connect(url) as conn:
        return team_analytics(conn, account_id, start, end)


def flow(url: str, tree_id: str, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """One flow request: a connection from a fresh engine (as the library's loaders do)."""
    with db.connect(url) as conn:
        return flow_analytics(conn, tree_id, start, end)


# ----------------------------------------------------------------------------- comparison


def _r(value: float | None, digits: int) -> float:
    return round(float(value or 0.0), digits)


def _near_boundary(value: float | None, digits: int) -> bool:
    """Whether ``value`` lies within float noise of a rounding boundary (x.x5 for 1 digit):
    the database's and polars' arithmetic may then round to different sides."""
    if value is None:
        return False
    scaled = float(value) * 10**digits
    return abs(scaled - int(scaled) - 0.5) < 1e-6


def _same_rounded(seed: float, ours: float | None, digits: int) -> bool:
    return seed == _r(ours, digits) or _near_boundary(ours, digits)


def _summary_diffs(where: str, seed: dict, ours: dict) -> list[str]:
    out = []
    for key in ("total_sessions", "completed_sessions", "active_engineers"):
        if seed[key] != ours[key]:
            out.append(f"{where} {key}: seed {seed[key]} ≠ ours {ours[key]}")
    if seed["completion_rate"] != _r(ours["completion_rate"], 3):
        out.append(
            f"{where} completion_rate: seed {seed['completion_rate']} ≠ ours "
            f"{ours['completion_rate']} (rounded {_r(ours['completion_rate'], 3)})"
        )
    if not _same_rounded(seed["median_duration_minutes"], ours["median_duration_minutes"], 1):
        out.append(
            f"{where} median_duration_minutes: seed {seed['median_duration_minutes']} ≠ ours "
            f"{ours['median_duration_minutes']}"
        )
    if seed["outcome_breakdown"] != {
        k: ours["outcome_breakdown"][k] for k in seed["outcome_breakdown"]
    }:
        out.append(
            f"{where} outcome_breakdown: seed {seed['outcome_breakdown']} ≠ ours "
            f"{ours['outcome_breakdown']}"
        )
    return out


def _series_diffs(where: str, seed: list[dict], ours: list[dict]) -> list[str]:
    keys = ("sessions", "resolved", "escalated", "workaround", "unresolved")
    a = {p["date"]: tuple(p[k] for k in keys) for p in seed}
    b = {str(p["date"]): tuple(p[k] for k in keys) for p in ours if p["sessions"]}
    if a == b:
        return []
    days = sorted(d for d in a.keys() | b.keys() if a.get(d) != b.get(d))
    shown = ", ".join(f"{d}: seed {a.get(d)} ours {b.get(d)}" for d in days[:3])
    return [f"{where} time_series: {len(days)} day(s) differ ({shown})"]


def _ranked_diffs(where: str, seed: list[dict], ours: list[dict], key: str) -> list[str]:
    """Top-10 tables as {id: (sessions, completion_rate, median)}; rows tied on sessions
    at the cut may be different ids (the seed orders ties arbitrarily)."""
    a = {r[key]: (r["sessions"], r["completion_rate"], r["median_duration_minutes"]) for r in seed}
    b = {
        r["id"]: (r["sessions"], _r(r["completion_rate"], 3), r["median_duration_minutes"])
        for r in ours
    }
    out = []
    if sorted((v[0] for v in a.values()), reverse=True) != sorted(
        (v[0] for v in b.values()), reverse=True
    ):
        out.append(f"{where}: session counts differ: seed {sorted(v[0] for v in a.values())} "
                   f"ours {sorted(v[0] for v in b.values())}")  # fmt: skip
    cut = min((v[0] for v in a.values()), default=0)
    for ident in a.keys() ^ b.keys():
        count = (a.get(ident) or b.get(ident))[0]
        if count != cut:
            out.append(f"{where}: {ident} only in {'seed' if ident in a else 'ours'}")
    for ident in a.keys() & b.keys():
        (s_n, s_rate, s_med), (o_n, o_rate, o_med) = a[ident], b[ident]
        if (s_n, s_rate) != (o_n, o_rate) or not _same_rounded(s_med, o_med, 1):
            out.append(f"{where} {ident}: seed {a[ident]} ≠ ours {b[ident]}")
    return out


def compare_team(seed: dict, ours: dict) -> list[str]:
    """Differences between :func:`team_analytics` and ``rfa.dashboards.team_page(...)``
    (``model_dump(mode="json")``); empty when every compared number is equal."""
    return [
        *_summary_diffs("team summary", seed["summary"], ours["summary"]),
        *_series_diffs("team", seed["time_series"], ours["time_series"]),
        *_ranked_diffs("team top_flows", seed["top_flows"], ours["top_flows"], "tree_id"),
        *_ranked_diffs("team top_engineers", seed["top_engineers"], ours["top_engineers"],
                       "user_id"),
    ]  # fmt: skip


def compare_flow(seed: dict, ours: dict) -> list[str]:
    """Differences between :func:`flow_analytics` and ``rfa.dashboards.flow_page(...)``:
    summary, time series, CSAT (when the page shows it) and the step table's visits,
    drop-offs and drop-off rates per node."""
    out = [
        *_summary_diffs("flow summary", seed["summary"], ours["summary"]),
        *_series_diffs("flow", seed["time_series"], ours["time_series"]),
    ]
    csat = ours.get("csat") or {}
    if csat.get("avg_csat") is not None:
        if not _same_rounded(seed["avg_csat"] or 0.0, csat["avg_csat"], 1):
            out.append(f"flow avg_csat: seed {seed['avg_csat']} ≠ ours {csat['avg_csat']}")
        if seed["total_ratings"] != csat["total_ratings"]:
            out.append(
                f"flow total_ratings: seed {seed['total_ratings']} ≠ ours {csat['total_ratings']}"
            )
    a = {
        s["node_id"]: (s["visit_count"], s["dropoff_count"], s["dropoff_rate"])
        for s in seed["step_feedback"]
    }
    b = {
        s["node_id"]: (s["visit_count"], s["dropoff_count"], _r(s["dropoff_rate"], 3))
        for s in ours["steps"]
    }
    if a != b:
        nodes = sorted(n for n in a.keys() | b.keys() if a.get(n) != b.get(n))
        shown = ", ".join(f"{n}: seed {a.get(n)} ours {b.get(n)}" for n in nodes[:3])
        out.append(f"flow step table: {len(nodes)} node(s) differ ({shown})")
    return out
