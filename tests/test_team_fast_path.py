"""The team page's fast read path (issue 6) gives exactly what the plain queries give.

* :func:`rfa.queries.sessions.sessions_frame` (unsorted read, sorted in memory) equals
  the rows of ``sessions_query`` as the database orders them, and
  :func:`rfa.queries.ratings.ratings_frame` (the same way, with every filter) equals the
  rows of ``ratings_query`` — columns, dtypes, values and row order — on SQLite and
  PostgreSQL (Arrow and row paths), with data, for an empty window and for another
  account.
* :func:`rfa.queries.ratings.rated_sessions_of` has the rows of ``rated_sessions_frame``
  when every rated session is in the frame, when some must be looked up by id (also in
  chunks), and above the lookup limit (the join query runs instead).
* ``team_page`` equals, number for number, the page built by the former path
  (``sessions_frame`` + ``ratings_frame`` + ``rated_sessions_frame``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from unittest import mock

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from demo_db import ANCHOR
from rfa import dashboards, db
from rfa.ids import texts, to_compact
from rfa.queries import _fetch
from rfa.queries import accounts as aq
from rfa.queries import ratings as rq
from rfa.queries import sessions as sq
from rfa.validation import Screening
from rfa.window import make_window

WINDOW = make_window("90d", ANCHOR, "UTC")
BOTH = dashboards._both(WINDOW)
EMPTY_WINDOW = make_window("30d", "2001-01-01", "UTC")
OTHER_ACCOUNT = "00000000-0000-4000-8000-00000000abcd"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("arrow", id="postgresql-arrow", marks=pytest.mark.postgres),
    pytest.param("rows", id="postgresql-rows", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch) -> str:
    """Which backend: ``sqlite``, ``arrow`` (PostgreSQL) or ``rows`` (PostgreSQL, no Arrow)."""
    monkeypatch.delenv("RFA_ARROW_FETCH", raising=False)
    if request.param == "rows":
        monkeypatch.setenv("RFA_ARROW_FETCH", "0")
    return request.param


@pytest.fixture
def url(request, backend) -> str:
    """The demo database's URL on ``backend``."""
    return request.getfixturevalue("demo_sqlite_url" if backend == "sqlite" else "demo_pg_url")


def _ordered_sessions(conn, account_id: str, window) -> pl.DataFrame:
    """The reference: ``sessions_query`` (ordered by the database) read as it is."""
    return _fetch.fetch(conn, sq.sessions_query(account_id, window), sq.SESSION_SCHEMA)


def _ordered_ratings(conn, account_id: str, window, **kwargs) -> pl.DataFrame:
    """The reference: ``ratings_query`` (ordered by the database) read as it is."""
    schema = rq.RATING_WITH_ENGINEER_SCHEMA if kwargs.get("with_engineer") else rq.RATING_SCHEMA
    return _fetch.fetch(conn, rq.ratings_query(account_id, window, **kwargs), schema)


def _account(conn, slug: str = "kiwi-tech") -> str:
    return aq.resolve_account(conn, slug).id


# ---------------------------------------------------------------- ids as bytes


def test_ids_from_bytes_gives_the_canonical_text_and_keeps_nulls():
    ids = [uuid.uuid4() for _ in range(3)]
    frame = pl.DataFrame(
        {"a": [ids[0].bytes, ids[1].bytes, None, ids[0].bytes], "b": [ids[2].bytes] * 4},
        schema={"a": pl.Binary, "b": pl.Binary},
    )
    out = sq.ids_from_bytes(frame, ("a", "b"))
    assert out.schema == {"a": pl.String, "b": pl.String}
    assert out["a"].to_list() == [str(ids[0]), str(ids[1]), None, str(ids[0])]
    assert out["b"].to_list() == [str(ids[2])] * 4
    empty = sq.ids_from_bytes(frame.clear(), ("a",))
    assert empty.schema["a"] == pl.String and empty.height == 0


# ---------------------------------------------------------------- frames


@pytest.mark.parametrize(
    ("label", "window", "other"),
    [("data", BOTH, False), ("empty-window", EMPTY_WINDOW, False), ("other", BOTH, True)],
)
def test_bulk_frames_equal_the_plain_frames(backend, url, label, window, other):
    with db.connect(url) as conn:
        account_id = OTHER_ACCOUNT if other else _account(conn)
        plain = _ordered_sessions(conn, account_id, window)
        bulk = sq.sessions_frame(conn, account_id, window)
        plain_ratings = _ordered_ratings(conn, account_id, window)
        bulk_ratings = rq.ratings_frame(conn, account_id, window)
        assert (db.arrow_connection(conn) is not None) == (backend == "arrow")
    assert bulk.schema == sq.SESSION_SCHEMA
    assert_frame_equal(bulk, plain, check_exact=True)
    assert bulk_ratings.schema == rq.RATING_SCHEMA
    assert_frame_equal(bulk_ratings, plain_ratings, check_exact=True)
    if label == "data":
        assert bulk.height > 100 and bulk_ratings.height > 20, label
        assert bulk["tree_id"].n_unique() > 1 and bulk["user_id"].n_unique() > 1
    else:
        assert bulk.height == 0 and bulk_ratings.height == 0, label


def _from_compact(frame: pl.DataFrame) -> pl.DataFrame:
    """A compact frame with its ids as text (the reference's form)."""
    return frame.with_columns(texts(frame[c]) for c in frame.columns if c.endswith("_id"))


@pytest.mark.parametrize(
    ("label", "window", "other"),
    [("data", BOTH, False), ("empty-window", EMPTY_WINDOW, False), ("other", BOTH, True)],
)
def test_compact_frames_hold_the_same_rows(backend, url, label, window, other):
    """``compact=True``: the same rows (in no particular order), every id as the uuid's 16
    bytes on PostgreSQL (text on SQLite), ratings without comments; only the asked columns."""
    with db.connect(url) as conn:
        account_id = OTHER_ACCOUNT if other else _account(conn)
        plain = _ordered_sessions(conn, account_id, window)
        compact = sq.sessions_frame(conn, account_id, window, compact=True)
        some = sq.sessions_frame(
            conn, account_id, window, compact=True, columns=sq.COMPARISON_COLUMNS
        )
        plain_ratings = _ordered_ratings(conn, account_id, window)
        compact_ratings = rq.ratings_frame(conn, account_id, window, compact=True)
        as_bytes = sq.compact_ids(conn)
    id_type = pl.Binary if as_bytes else pl.String
    assert as_bytes == (backend != "sqlite")
    assert compact.schema == {**sq.SESSION_SCHEMA, **dict.fromkeys(
        ("session_id", "tree_id", "user_id"), id_type)}  # fmt: skip
    assert list(some.columns) == list(sq.COMPARISON_COLUMNS)
    assert some.schema["session_id"] == some.schema["user_id"] == id_type
    keys = ["started_at", "session_id"]
    assert_frame_equal(_from_compact(compact).sort(keys), plain, check_exact=True)
    assert_frame_equal(
        _from_compact(some).sort(keys), plain.select(sq.COMPARISON_COLUMNS), check_exact=True
    )
    assert "comment" not in compact_ratings.columns
    assert compact_ratings.schema["session_id"] == compact_ratings.schema["tree_id"] == id_type
    assert_frame_equal(
        _from_compact(compact_ratings), plain_ratings.drop("comment"), check_exact=True
    )
    assert (compact.height > 100) == (label == "data")


def test_columns_need_compact_and_known_names(demo_sqlite_url):
    with db.connect(demo_sqlite_url) as conn:
        account_id = _account(conn)
        with pytest.raises(ValueError, match="compact=True"):
            sq.sessions_frame(conn, account_id, WINDOW, columns=["session_id"])
        with pytest.raises(ValueError, match="SESSION_SCHEMA"):
            sq.sessions_frame(conn, account_id, WINDOW, compact=True, columns=["decisions"])


@pytest.mark.parametrize(
    "filters",
    [
        {"with_engineer": True},
        {"tree_id": "busiest"},
        {"engineer_id": "busiest"},
        {"tree_id": "busiest", "with_engineer": True},
    ],
    ids=["with-engineer", "flow", "engineer", "flow-with-engineer"],
)
def test_ratings_frame_with_filters_equals_the_query(backend, url, filters):
    with db.connect(url) as conn:
        account_id = _account(conn)
        sessions = sq.sessions_frame(conn, account_id, BOTH)
        busiest = {
            "tree_id": sessions["tree_id"].mode().sort()[0],
            "engineer_id": sessions["user_id"].mode().sort()[0],
        }
        kwargs = {k: busiest[k] if v == "busiest" else v for k, v in filters.items()}
        frame = rq.ratings_frame(conn, account_id, BOTH, **kwargs)
        plain = _ordered_ratings(conn, account_id, BOTH, **kwargs)
    assert frame.height > 3
    assert frame.schema == plain.schema
    assert_frame_equal(frame, plain, check_exact=True)


def test_bulk_frames_sort_what_the_database_returns_unordered(demo_sqlite_url):
    """The database is not asked to sort: the frame is sorted in memory, by the same keys
    (a result the database returns reversed comes out in the order of sessions_query)."""
    real_fetch = sq.fetch

    def reversed_fetch(conn, stmt, schema):
        assert stmt._order_by_clauses == ()  # noqa: SLF001 - unordered statement
        return real_fetch(conn, stmt, schema).reverse()

    with db.connect(demo_sqlite_url) as conn:
        account_id = _account(conn)
        plain = _ordered_sessions(conn, account_id, BOTH)
        plain_ratings = _ordered_ratings(conn, account_id, BOTH)
        with (
            mock.patch.object(sq, "fetch", reversed_fetch),
            mock.patch.object(rq, "fetch", reversed_fetch),
        ):
            bulk = sq.sessions_frame(conn, account_id, BOTH)
            bulk_ratings = rq.ratings_frame(conn, account_id, BOTH)
    assert_frame_equal(bulk, plain, check_exact=True)
    assert_frame_equal(bulk_ratings, plain_ratings, check_exact=True)


def test_ratings_ties_keep_the_query_order(demo_sqlite_url):
    """Ratings created at the same instant come in the rating id's order, as ratings_frame
    returns them (the duplicate rule keeps the later row of that order)."""
    with db.connect(demo_sqlite_url) as conn:
        account_id = _account(conn)
        plain = _ordered_ratings(conn, account_id, BOTH)
    stamp = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def tied_fetch(c, stmt, schema):
        return _fetch.fetch(c, stmt, schema).with_columns(
            created_at=pl.lit(stamp).dt.cast_time_unit("us")
        )

    with db.connect(demo_sqlite_url) as conn, mock.patch.object(rq, "fetch", tied_fetch):
        bulk = rq.ratings_frame(conn, account_id, BOTH)
    # every rating tied: the order is the rating id's, not the created_at order
    ids = _rating_ids(demo_sqlite_url, account_id)
    assert bulk["session_id"].to_list() == [sid for _, sid in sorted(ids)]
    assert bulk["session_id"].to_list() != plain["session_id"].to_list()


def _rating_ids(url: str, account_id: str) -> list[tuple[str, str]]:
    import sqlalchemy as sa

    r, t = db.session_ratings.c, db.trees.c
    with db.connect(url) as conn:
        rows = conn.execute(
            sa.select(r.id, r.session_id)
            .select_from(db.session_ratings.join(db.trees, r.tree_id == t.id))
            .where(
                r.account_id == account_id,
                t.account_id == account_id,
                r.created_at >= BOTH.start,
                r.created_at < BOTH.end,
            )
        ).all()
    return [(str(a), str(b)) for a, b in rows]


# ---------------------------------------------------------------- rated sessions


def _rated(conn, account_id, sessions, **patches) -> pl.DataFrame:
    ratings = rq.ratings_frame(conn, account_id, BOTH)
    with mock.patch.multiple(rq, **patches):
        return rq.rated_sessions_of(conn, account_id, BOTH, ratings, sessions).sort("session_id")


@pytest.mark.parametrize(
    "case", ["same-window", "lookups", "chunked-lookups", "above-limit", "no-sessions"]
)
def test_rated_sessions_of_equals_the_join_query(url, case):
    with db.connect(url) as conn:
        account_id = _account(conn)
        expected = rq.rated_sessions_frame(conn, account_id, BOTH)
        sessions = sq.sessions_frame(conn, account_id, BOTH)
        patches: dict = {}
        if case != "same-window":
            # only this window's sessions read: the previous window's rated ones are looked up
            sessions = sessions.filter(pl.col("started_at") >= WINDOW.start)
        if case == "no-sessions":
            sessions = sessions.clear()
        if case == "chunked-lookups":
            patches = {"RATED_LOOKUP_CHUNK": 7}
        if case == "above-limit":
            patches = {"RATED_LOOKUP_LIMIT": 3}
        calls = mock.Mock(wraps=rq.rated_sessions_frame)
        got = _rated(conn, account_id, sessions, rated_sessions_frame=calls, **patches)
        # the same from compact frames (the team page's), ids as bytes on PostgreSQL
        compact = sq.sessions_frame(conn, account_id, BOTH, compact=True)
        compact = compact.join(sessions.select(to_compact(sessions["session_id"],
            sq.compact_ids(conn))), on="session_id", how="semi")  # fmt: skip
        ratings = rq.ratings_frame(conn, account_id, BOTH, compact=True)
        with mock.patch.multiple(rq, rated_sessions_frame=rq.rated_sessions_frame, **patches):
            from_compact = rq.rated_sessions_of(conn, account_id, BOTH, ratings, compact)
    assert got.schema == rq.RATED_SESSION_SCHEMA
    assert_frame_equal(got, expected, check_exact=True)
    assert from_compact.schema["session_id"] == ratings.schema["session_id"]
    assert_frame_equal(_from_compact(from_compact).sort("session_id"), expected, check_exact=True)
    assert expected.height > 20
    missing = set(expected["session_id"]) - set(sessions["session_id"])
    assert bool(missing) == (case != "same-window"), case
    assert calls.called == (case == "above-limit"), case


def test_orphan_ratings_are_not_rated_sessions(demo_sqlite_url):
    """A rating whose session is not the account's gives no row (rating_orphan): the
    looked-up id is not found."""
    with db.connect(demo_sqlite_url) as conn:
        account_id = _account(conn)
        sessions = sq.sessions_frame(conn, account_id, BOTH)
        ratings = rq.ratings_frame(conn, account_id, BOTH)
        ghost = str(uuid.uuid4())
        fake = pl.concat([ratings, ratings.head(1).with_columns(session_id=pl.lit(ghost))])
        got = rq.rated_sessions_of(conn, account_id, BOTH, fake, sessions)
        expected = rq.rated_sessions_frame(conn, account_id, BOTH)
    assert ghost not in got["session_id"].to_list()
    assert_frame_equal(got.sort("session_id"), expected, check_exact=True)


# ---------------------------------------------------------------- the page


def _former_team_frames(conn, info, window, check, users):
    """The team page's frames as read before the fast path (the reference)."""
    both = dashboards._both(window)
    sessions = sq.sessions_frame(conn, info.id, both)
    ratings = rq.ratings_frame(conn, info.id, both)
    rated = rq.rated_sessions_frame(conn, info.id, both)
    engineers = rated.rename({"user_id": "engineer_id"})

    def screened(part, rates, screen):
        rates = screen(rates, "ratings", sessions=rated["session_id"])
        return (
            screen(part, "sessions", users=users["user_id"]),
            rates.join(engineers, on="session_id", how="left"),
        )

    now, before = dashboards._split(sessions, "started_at", window)
    rates_now, rates_before = dashboards._split(ratings, "created_at", window)
    return screened(now, rates_now, check), screened(before, rates_before, Screening())


def _dump(page) -> dict:
    data = page.model_dump(mode="json")
    data["meta"].pop("generated_at")
    return data


@pytest.mark.parametrize(("slug", "period"), [("kiwi-tech", "90d"), ("northwind-it", "30d")])
def test_team_page_equals_the_former_path(url, slug, period):
    as_of = ANCHOR.date().isoformat()
    fast = dashboards.team_page(slug, period, as_of, url=url)
    with mock.patch.object(dashboards, "_team_frames", _former_team_frames):
        former = dashboards.team_page(slug, period, as_of, url=url)
    assert _dump(fast) == _dump(former)
    assert fast.summary.total_sessions > 0 and fast.csat.total_ratings > 0
    if slug == "kiwi-tech":
        assert fast.data_quality  # the demo's faulty rows are found the same way


def test_team_page_with_orphan_ratings_equals_the_former_path(url):
    """Ratings of sessions the account does not have (a ghost id, and a session of
    another account) are dropped as ``rating_orphan`` by both paths alike."""
    as_of = ANCHOR.date().isoformat()
    with db.connect(url) as conn:
        foreign = sq.sessions_frame(conn, _account(conn, "northwind-it"), WINDOW)
    strays = [str(uuid.uuid4()), foreign["session_id"][0]]

    def with_strays(read):
        def wrapper(conn, account_id, window, **kwargs):
            frame = read(conn, account_id, window, **kwargs)
            ids = to_compact(pl.Series(strays), frame.schema["session_id"] == pl.Binary)
            extra = frame.tail(len(strays)).with_columns(session_id=ids)  # newest: this window
            return pl.concat([frame, extra])

        return wrapper

    with mock.patch.object(rq, "ratings_frame", with_strays(rq.ratings_frame)):
        fast = dashboards.team_page("kiwi-tech", "90d", as_of, url=url)
        with mock.patch.object(dashboards, "_team_frames", _former_team_frames):
            former = dashboards.team_page("kiwi-tech", "90d", as_of, url=url)
    assert _dump(fast) == _dump(former)
    orphans = {f.check: f.count for f in fast.data_quality}.get("rating_orphan")
    assert orphans == len(strays)
