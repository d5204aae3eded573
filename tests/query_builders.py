"""Every query builder of :mod:`rfa.queries`, the schema its frame is fetched with, and
the calls that compare two read paths of :func:`rfa.queries.fetch` (the Arrow path on
PostgreSQL in ``test_fetch_arrow.py``, the column path on SQLite in
``test_fetch_sqlite.py``) against the row path."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from collections.abc import Callable, Iterator
from unittest import mock

import polars as pl
import sqlalchemy as sa

import rfa.queries
from demo_db import ANCHOR
from rfa import db
from rfa.queries import accounts as aq
from rfa.queries import ai_sessions as aiq
from rfa.queries import gaps as gq
from rfa.queries import handoffs as hq
from rfa.queries import proposals as pq
from rfa.queries import psa as psaq
from rfa.queries import ratings as rq
from rfa.queries import sessions as sq
from rfa.queries.storage import UNREADABLE_SCHEMA
from rfa.window import Window, make_window

WINDOW = make_window("90d", ANCHOR, "UTC")
EMPTY_WINDOW = make_window("30d", "2001-01-01", "UTC")
OTHER_ACCOUNT = "00000000-0000-4000-8000-00000000abcd"


def builders(*, qualified: bool = False) -> dict[str, Callable[..., sa.Select]]:
    """Every public ``*_query`` function defined in a module of :mod:`rfa.queries`, by
    name (``qualified``: by ``module.name``)."""
    found = {}
    for info in pkgutil.iter_modules(rfa.queries.__path__):
        module = importlib.import_module(f"rfa.queries.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.endswith("_query") and not name.startswith("_"):
                if fn.__module__ == module.__name__:
                    found[f"{module.__name__}.{name}" if qualified else name] = fn
    return found


BUILDERS = builders()

SCHEMAS: dict[str, Callable[[dict], dict[str, pl.DataType]]] = {
    "accounts_query": lambda kw: aq.ACCOUNT_SCHEMA,
    "flows_query": lambda kw: aq.FLOW_SCHEMA,
    "users_query": lambda kw: aq.USER_SCHEMA,
    "ai_sessions_query": lambda kw: aiq.AI_SESSION_SCHEMA,
    "flow_trees_query": lambda kw: gq.FLOW_TREE_SCHEMA,
    "option_sessions_query": lambda kw: gq.OPTION_SESSION_SCHEMA,
    "pending_proposals_query": lambda kw: gq.PENDING_PROPOSAL_SCHEMA,
    "claimed_handoffs_query": lambda kw: hq.HANDOFF_SCHEMA,
    "unclaimed_count_query": lambda kw: hq.UNCLAIMED_SCHEMA,
    "proposals_query": lambda kw: pq.PROPOSAL_SCHEMA,
    "psa_posts_query": lambda kw: psaq.PSA_POST_SCHEMA,
    "session_psa_posts_query": lambda kw: psaq.PSA_POST_SCHEMA,
    "flow_raters_query": lambda kw: rq.RATER_COUNT_SCHEMA,
    "step_raters_query": lambda kw: rq.STEP_RATER_SCHEMA,
    "unreadable_ratings_query": lambda kw: UNREADABLE_SCHEMA,
    "unreadable_ai_sessions_query": lambda kw: UNREADABLE_SCHEMA,
    "unreadable_psa_posts_query": lambda kw: UNREADABLE_SCHEMA,
    "unreadable_proposals_query": lambda kw: UNREADABLE_SCHEMA,
    "step_ratings_query": lambda kw: rq.STEP_RATING_SCHEMA,
    "rated_sessions_query": lambda kw: rq.RATED_SESSION_SCHEMA,
    "ratings_query": lambda kw: (
        rq.RATING_WITH_ENGINEER_SCHEMA if kw.get("with_engineer") else rq.RATING_SCHEMA
    ),
    "decisions_query": lambda kw: sq.DECISIONS_SCHEMA,
    "sessions_query": lambda kw: sq.SESSION_SCHEMA,
    "busiest_query": lambda kw: sq.BUSIEST_SCHEMA,
}
"""The frame schema each builder's ``*_frame`` function fetches it with."""


def calls(name: str, ids: dict[str, str]) -> Iterator[tuple[str, dict]]:
    """``(label, kwargs)`` of the calls compared for one builder: with data (required
    arguments only, and every optional one set), an empty window, another account."""
    fn = BUILDERS[name]
    hints = typing.get_type_hints(fn)
    params = inspect.signature(fn).parameters
    values = {
        "account_id": ids["account_id"],
        "tree_id": ids["tree_id"],
        "user_id": ids["user_id"],
        "engineer_id": ids["user_id"],
        "with_engineer": True,
        "by": "user_id",
        "n": 3,
    }
    required, everything = {}, {}
    for pname, param in params.items():
        value = WINDOW if hints.get(pname) is Window else values[pname]
        everything[pname] = value
        if param.default is inspect.Parameter.empty:
            required[pname] = value
    yield "data", required
    if everything != required:
        yield "data-all-options", everything
        if "tree_id" in everything:
            yield "data-flow", {**required, "tree_id": ids["tree_id"]}
    if "window" in params:
        yield "empty-window", {**required, "window": EMPTY_WINDOW}
    if "account_id" in params:
        yield "other-account", {**everything, "account_id": OTHER_ACCOUNT}


def demo_ids(url: str) -> dict[str, str]:
    """kiwi-tech's id, its busiest flow and its busiest engineer in WINDOW."""
    s, t = db.sessions.c, db.trees.c
    with db.connect(url) as conn:
        account_id = aq.resolve_account(conn, "kiwi-tech").id
        scoped = (
            sa.select(sa.func.count())
            .select_from(db.sessions.join(db.trees, s.tree_id == t.id))
            .where(t.account_id == account_id, s.started_at >= WINDOW.start)
        )
        tree_id = conn.execute(
            scoped.add_columns(s.tree_id).group_by(s.tree_id).order_by(sa.func.count().desc())
        ).first()[1]
        user_id = conn.execute(
            scoped.add_columns(s.user_id).group_by(s.user_id).order_by(sa.func.count().desc())
        ).first()[1]
    return {"account_id": account_id, "tree_id": tree_id, "user_id": user_id}


Compared = dict[str, list[tuple[str, pl.DataFrame, pl.DataFrame]]]
"""Per builder: ``(call label, frame by the path under test, frame by the row path)``."""


def compare_with_rows(url: str, ids: dict[str, str]) -> Compared:
    """Run every builder's calls (:func:`calls`) on ``url`` through
    :func:`rfa.queries.fetch` — checked not to enter the row path — and through the row
    path, in one :func:`rfa.db.connect` context."""
    from rfa.queries import _fetch, fetch

    results: Compared = {}
    with db.connect(url) as conn:
        for name in sorted(BUILDERS):
            for label, kwargs in calls(name, ids):
                stmt = BUILDERS[name](**kwargs)
                schema = SCHEMAS[name](kwargs)
                with mock.patch.object(_fetch, "_fetch_rows", side_effect=AssertionError):
                    frame = fetch(conn, stmt, schema)
                rows = _fetch._fetch_rows(conn, stmt, schema)
                results.setdefault(name, []).append((label, frame, rows))
    return results


def assert_same_frames(compared: Compared, name: str) -> None:
    """Both paths gave ``name``'s builder the same frames: schema, values, NULLs, order."""
    from polars.testing import assert_frame_equal

    assert compared[name], name
    for label, frame, rows in compared[name]:
        assert frame.schema == rows.schema, label
        assert_frame_equal(frame, rows, check_exact=True)


def assert_the_comparison_covers_enough(compared: Compared) -> None:
    """Every builder that can return several rows does; nearly every one also returns an
    empty frame; NULLs of every main dtype are compared; some hundreds of rows in all."""
    with_rows = {n for n, results in compared.items() for _, a, _ in results if a.height > 1}
    # kiwi-tech's domains with pending proposals depend on the demo's day (one on some days)
    single_row = {"flow_raters_query", "unclaimed_count_query", "pending_proposals_query"}
    single_row |= {name for name in SCHEMAS if name.startswith("unreadable_")}  # a count
    assert with_rows >= set(SCHEMAS) - single_row, set(SCHEMAS) - single_row - with_rows
    empty = {n for n, results in compared.items() for _, a, _ in results if a.height == 0}
    assert len(empty) >= len(SCHEMAS) - 1 - len(single_row)  # accounts_query has no filter
    nulls: set[str] = set()
    for results in compared.values():
        for _, frame, _ in results:
            for column in frame.columns:
                if frame.height and frame[column].null_count():
                    nulls.add(str(frame[column].dtype.base_type()))
    assert {"String", "Datetime", "Int64", "Float64"} <= nulls, nulls
    assert sum(a.height for results in compared.values() for _, a, _ in results) > 300
