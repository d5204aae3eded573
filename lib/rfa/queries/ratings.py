"""CSAT ratings (``session_ratings``) and step thumbs (``step_ratings``) of one account.

Source tables: ``session_ratings`` (scoped by its ``account_id`` and, for the
flow filter, by ``trees.account_id``) and ``step_ratings`` (no account column:
scoped through ``sessions`` → ``trees.account_id``). METRICS.md §3.
"""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rfa.db import session_ratings, sessions, step_ratings, trees
from rfa.db import sessions as sessions_table
from rfa.ids import id_text, to_compact
from rfa.queries._fetch import UTC_TS, fetch
from rfa.queries.sessions import id_column, ids_from_bytes
from rfa.queries.storage import readable, unreadable
from rfa.window import Window

RATING_SCHEMA: dict[str, pl.DataType] = {
    "session_id": pl.String,
    "tree_id": pl.String,
    "rating": pl.Int64,
    "comment": pl.String,
    "created_at": UTC_TS,
}
"""Columns of :func:`ratings_frame` without the engineer: no rater id or name."""

RATING_WITH_ENGINEER_SCHEMA: dict[str, pl.DataType] = {**RATING_SCHEMA, "engineer_id": pl.String}
"""Columns with ``engineer_id`` = the rated session's ``user_id`` (team/personal pages)."""

STEP_RATING_SCHEMA: dict[str, pl.DataType] = {
    "step_id": pl.String,
    "session_id": pl.String,
    "was_helpful": pl.Boolean,
}
"""Columns of :func:`step_ratings_frame`: ``step_id`` is the rated node id."""


def _ratings_select(
    account_id: str,
    window: Window,
    tree_id: str | None,
    engineer_id: str | None,
    with_engineer: bool,
    *,
    ids_as_bytes: bool = False,
    session_id_as_bytes: bool = False,
    with_comment: bool = True,
) -> sa.Select:
    """The rows of :func:`ratings_query` **unordered**, with the rating's own id first as
    ``rating_id`` (the order's tie-break). With ``ids_as_bytes`` (PostgreSQL only:
    ``uuid_send``) ``rating_id``, ``tree_id`` and ``engineer_id`` are their 16 bytes, with
    ``session_id_as_bytes`` ``session_id`` too; without ``with_comment`` no ``comment``."""
    r, s, t = session_ratings.c, sessions.c, trees.c
    cols = [
        id_column(r.id, "rating_id", ids_as_bytes),
        id_column(r.session_id, "session_id", session_id_as_bytes),
        id_column(r.tree_id, "tree_id", ids_as_bytes),
        readable(r.rating),  # SQLite text in the column reads as missing (issue 16 §12)
        *([r.comment] if with_comment else []),
        readable(r.created_at),
    ]
    if with_engineer:
        cols.append(id_column(s.user_id, "engineer_id", ids_as_bytes))
    conds = [
        r.account_id == account_id,
        t.account_id == account_id,
        r.created_at >= window.start,
        r.created_at < window.end,
        sa.not_(unreadable(r.created_at)),  # in no window: counted by unreadable_ratings_query
    ]
    if tree_id is not None:
        conds.append(r.tree_id == tree_id)
    if engineer_id is not None:
        conds.append(s.user_id == engineer_id)
    source = session_ratings.join(trees, r.tree_id == t.id)
    if with_engineer or engineer_id is not None:
        source = source.join(sessions, r.session_id == s.id)
    return sa.select(*cols).select_from(source).where(*conds)


def ratings_query(
    account_id: str,
    window: Window,
    *,
    tree_id: str | None = None,
    engineer_id: str | None = None,
    with_engineer: bool = False,
) -> sa.Select:
    """CSAT ratings of the account with ``created_at`` in the window, ordered by
    ``created_at`` then the rating's id.

    ``tree_id`` narrows to one flow; ``engineer_id`` to ratings of sessions that
    engineer ran. ``with_engineer`` adds ``engineer_id`` (the session's user);
    the flow page never asks for it, so no rater identity leaves the database.
    Returns :data:`RATING_SCHEMA` (+ ``engineer_id``).
    """
    r = session_ratings.c
    stmt = _ratings_select(account_id, window, tree_id, engineer_id, with_engineer)
    columns = list(stmt.selected_columns)[1:]  # without rating_id
    return stmt.with_only_columns(*columns, maintain_column_froms=True).order_by(r.created_at, r.id)


def ratings_frame(
    conn: Connection,
    account_id: str,
    window: Window,
    *,
    tree_id: str | None = None,
    engineer_id: str | None = None,
    with_engineer: bool = False,
    compact: bool = False,
) -> pl.DataFrame:
    """The rows of :func:`ratings_query`: :data:`RATING_SCHEMA` (+ ``engineer_id`` with
    ``with_engineer``) in its order (``created_at``, then the rating's id).

    Source: ``session_ratings`` joined to ``trees`` (scoped by both ``account_id``s; and
    to ``sessions`` for the engineer). Read for large windows (the team page reads two,
    hundreds of thousands of ratings): the database does not sort (its ``ORDER BY`` made
    PostgreSQL walk the ``created_at`` index row by row) — the frame is sorted here by the
    same keys (a uuid orders as its bytes and as its canonical text), then the id is
    dropped — and on PostgreSQL the ids are read as bytes
    (:func:`rfa.queries.sessions.ids_from_bytes`).

    ``compact=True`` (the team page, which shows no comment) leaves out ``comment`` and
    gives every id (``session_id``, ``tree_id``, ``engineer_id``) in the compact form of
    :func:`rfa.queries.sessions.sessions_frame` ``(compact=True)``; rows keep the order
    above. Errors: those of :func:`rfa.queries._fetch.fetch`.
    """
    as_bytes = conn.dialect.name == "postgresql"
    schema = {
        "rating_id": pl.String,
        **(RATING_WITH_ENGINEER_SCHEMA if with_engineer else RATING_SCHEMA),
    }
    ids = ("tree_id", "engineer_id") if with_engineer else ("tree_id",)
    if compact:
        del schema["comment"]
    if as_bytes:
        schema |= {column: pl.Binary for column in ("rating_id", *ids)}
        if compact:
            schema["session_id"] = pl.Binary
    stmt = _ratings_select(
        account_id,
        window,
        tree_id,
        engineer_id,
        with_engineer,
        ids_as_bytes=as_bytes,
        session_id_as_bytes=as_bytes and compact,
        with_comment=not compact,
    )
    frame = fetch(conn, stmt, schema)
    if as_bytes and not compact:
        frame = ids_from_bytes(frame, ids)
    return frame.sort("created_at", "rating_id").drop("rating_id")


RATED_SESSION_SCHEMA: dict[str, pl.DataType] = {"session_id": pl.String, "user_id": pl.String}
"""Columns of :func:`rated_sessions_frame`: the rated session and who ran it."""

RATED_LOOKUP_CHUNK = 1000
"""Session ids per query of :func:`rated_sessions_of` (bound parameters per statement)."""
RATED_LOOKUP_LIMIT = 20_000
"""Above this many sessions to look up by id, :func:`rated_sessions_of` runs
:func:`rated_sessions_query` instead (one join beats many lookups)."""


def rated_sessions_of(
    conn: Connection,
    account_id: str,
    window: Window,
    ratings: pl.DataFrame,
    sessions: pl.DataFrame,
) -> pl.DataFrame:
    """:func:`rated_sessions_frame` ``(conn, account_id, window)`` — same rows (the
    account's sessions, of any start time, that the window's ratings point at, each once),
    :data:`RATED_SESSION_SCHEMA` — from frames the page already read, so the
    ``sessions`` table is not joined again. Rows are in no particular order (sort by
    ``session_id`` to compare with :func:`rated_sessions_frame`).

    ``ratings`` must be :func:`ratings_frame` of the same
    account and window, unscreened; ``sessions`` unscreened rows of
    :func:`rfa.queries.sessions.sessions_frame` of the account (any window, e.g. the one
    the page read). A rated session found in ``sessions`` takes its ``user_id`` from
    there; the others (started outside that window, another account's, or missing: an
    orphan rating) are looked up by id in ``sessions`` joined to ``trees`` (scoped by
    ``trees.account_id``), :data:`RATED_LOOKUP_CHUNK` ids per query — or, above
    :data:`RATED_LOOKUP_LIMIT` of them, :func:`rated_sessions_frame` is run instead.
    Compact frames (``compact=True`` reads, :mod:`rfa.ids`: ``session_id`` as bytes) give
    compact rows (both columns as bytes). Errors: as :func:`rated_sessions_frame`.
    """
    as_bytes = ratings.schema["session_id"] == pl.Binary  # compact frames (PostgreSQL)
    schema = {name: pl.Binary if as_bytes else pl.String for name in RATED_SESSION_SCHEMA}
    rated = ratings.select(pl.col("session_id").drop_nulls().unique())
    known = sessions.select("session_id", "user_id").join(rated, on="session_id", how="semi")
    found = [known.cast(schema)]
    if known.height == rated.height:  # session ids are unique: every rated session found
        return found[0]
    missing = rated.join(known, on="session_id", how="anti")["session_id"].sort().to_list()
    if len(missing) > RATED_LOOKUP_LIMIT:
        frame = rated_sessions_frame(conn, account_id, window)
        return frame.select(to_compact(frame[name], as_bytes) for name in schema)
    s, t = sessions_table.c, trees.c
    for start in range(0, len(missing), RATED_LOOKUP_CHUNK):
        chunk = [id_text(value) for value in missing[start : start + RATED_LOOKUP_CHUNK]]
        stmt = (
            sa.select(
                id_column(s.id, "session_id", as_bytes), id_column(s.user_id, "user_id", as_bytes)
            )
            .select_from(sessions_table.join(trees, s.tree_id == t.id))
            .where(t.account_id == account_id, s.id.in_(chunk))
        )
        found.append(fetch(conn, stmt, schema))
    return pl.concat(found)


def unreadable_ratings_query(account_id: str, *, tree_id: str | None = None) -> sa.Select:
    """How many of the account's CSAT ratings (of one flow with ``tree_id``), of any date,
    have a ``created_at`` that is not a readable timestamp (SQLite only,
    :mod:`rfa.queries.storage`; 0 elsewhere). Such a rating is in no window: the rating
    queries leave it out and the pages report it (issue 16 §12). A ``rating`` that is
    not a whole number is read as missing by :func:`ratings_query` and reported by the
    screening (``rating_out_of_range``). Scoped by ``session_ratings.account_id`` and
    ``trees.account_id``. Returns :data:`rfa.queries.storage.UNREADABLE_SCHEMA`."""
    r, t = session_ratings.c, trees.c
    conds = [r.account_id == account_id, t.account_id == account_id, unreadable(r.created_at)]
    if tree_id is not None:
        conds.append(r.tree_id == tree_id)
    return (
        sa.select(sa.func.count().label("unreadable"))
        .select_from(session_ratings.join(trees, r.tree_id == t.id))
        .where(*conds)
    )


def rated_sessions_query(
    account_id: str, window: Window, *, tree_id: str | None = None
) -> sa.Select:
    """The account's sessions, of any start time, that the window's ratings point at.

    The ratings are those of :func:`ratings_query` (same account, window and flow);
    sessions are scoped through ``trees.account_id`` like every session query. A rating
    whose session is not returned is an orphan (``rating_orphan`` of
    :mod:`rfa.validation`); the team page takes the rated engineer from ``user_id``.
    One query (not one per batch of ids): a plain join from the window's ratings, which
    the planner drives from the ratings' index (an ``IN (subquery)`` form made PostgreSQL
    loop over every flow × rating).
    Returns :data:`RATED_SESSION_SCHEMA`, ordered by session id.
    """
    r, s = session_ratings.c, sessions.c
    rating_trees, session_trees = trees.alias("rating_trees"), trees.alias("session_trees")
    conds = [
        r.account_id == account_id,
        rating_trees.c.account_id == account_id,
        session_trees.c.account_id == account_id,
        r.created_at >= window.start,
        r.created_at < window.end,
    ]
    if tree_id is not None:
        conds.append(r.tree_id == tree_id)
    source = (
        session_ratings.join(rating_trees, r.tree_id == rating_trees.c.id)
        .join(sessions, r.session_id == s.id)
        .join(session_trees, s.tree_id == session_trees.c.id)
    )
    return (
        sa.select(s.id.label("session_id"), s.user_id)
        .select_from(source)
        .where(*conds)
        .group_by(s.id, s.user_id)  # a session rated twice is listed once
        .order_by(s.id)
    )


def rated_sessions_frame(
    conn: Connection, account_id: str, window: Window, *, tree_id: str | None = None
) -> pl.DataFrame:
    """Run :func:`rated_sessions_query`; a frame of :data:`RATED_SESSION_SCHEMA`."""
    return fetch(
        conn, rated_sessions_query(account_id, window, tree_id=tree_id), RATED_SESSION_SCHEMA
    )


def step_ratings_query(account_id: str, window: Window, tree_id: str) -> sa.Select:
    """Thumbs up/down on the steps of the flow's sessions started in the window.

    Joined through the flow's sessions (METRICS.md §3 step table: helpful_yes,
    helpful_no). Returns :data:`STEP_RATING_SCHEMA`; no rater id.
    """
    sr, s, t = step_ratings.c, sessions.c, trees.c
    return (
        sa.select(sr.step_id, sr.session_id, sr.was_helpful)
        .select_from(
            step_ratings.join(sessions, sr.session_id == s.id).join(trees, s.tree_id == t.id)
        )
        .where(
            t.account_id == account_id,
            s.tree_id == tree_id,
            s.started_at >= window.start,
            s.started_at < window.end,
        )
        .order_by(sr.session_id, sr.step_id)
    )


def step_ratings_frame(
    conn: Connection, account_id: str, window: Window, tree_id: str
) -> pl.DataFrame:
    """Run :func:`step_ratings_query`; a frame of :data:`STEP_RATING_SCHEMA`."""
    return fetch(conn, step_ratings_query(account_id, window, tree_id), STEP_RATING_SCHEMA)


RATER_COUNT_SCHEMA: dict[str, pl.DataType] = {"raters": pl.Int64}
STEP_RATER_SCHEMA: dict[str, pl.DataType] = {"step_id": pl.String, "raters": pl.Int64}
"""Group sizes for small-group privacy: how many distinct people stand behind the
flow's ratings / each step's thumbs. Counts only — never who they are."""


def flow_raters_query(account_id: str, window: Window, tree_id: str) -> sa.Select:
    """Distinct engineers behind the flow's CSAT ratings that a page shows: the engineers
    (``sessions.user_id``) of the account's sessions with a valid (1–5) rating of the
    flow created in the window.

    Counted on exactly the rows the flow page shows after :mod:`rfa.validation` (issue
    16 §4): an orphan rating (its session is not a session of the account — scoped
    through ``trees.account_id`` as :func:`rated_sessions_query` is) has no session and
    is not counted; duplicate ratings of one session are one session, hence one engineer,
    whatever ``session_ratings.user_id`` they carry; a rating outside 1–5 is not counted.
    The flow page counts the same set in memory from its screened rows
    (:func:`raters_of`); this query gives the count without reading any row.
    Source: ``session_ratings`` → ``sessions`` → ``trees`` (METRICS.md §3, §6). Returns
    :data:`RATER_COUNT_SCHEMA` — one row, a count, no ids.
    """
    r, s = session_ratings.c, sessions.c
    rating_trees, session_trees = trees.alias("rating_trees"), trees.alias("session_trees")
    source = (
        session_ratings.join(rating_trees, r.tree_id == rating_trees.c.id)
        .join(sessions, r.session_id == s.id)
        .join(session_trees, s.tree_id == session_trees.c.id)
    )
    return (
        sa.select(sa.func.count(sa.distinct(s.user_id)).label("raters"))
        .select_from(source)
        .where(
            r.account_id == account_id,
            rating_trees.c.account_id == account_id,
            session_trees.c.account_id == account_id,
            r.tree_id == tree_id,
            r.rating.between(1, 5),
            r.created_at >= window.start,
            r.created_at < window.end,
        )
    )


def raters_of(shown: pl.DataFrame, rated: pl.DataFrame) -> int:
    """Distinct engineers behind the ratings a page shows (issue 16 §4).

    ``shown``: screened ratings (:data:`RATING_SCHEMA`, at least ``session_id``) — the
    rows whose CSAT and comments the page would show; ``rated``: :func:`rated_sessions_frame`
    of the same account and window (``session_id``, ``user_id``). A rating counts its
    session's engineer; a rating whose session is not in ``rated`` (an orphan, which
    screening already dropped) counts nobody. Returns a count, never who.
    """
    engineers = shown.select("session_id").join(
        rated.select("session_id", "user_id"), on="session_id", how="inner"
    )
    return int(engineers["user_id"].drop_nulls().n_unique())


def step_raters_query(account_id: str, window: Window, tree_id: str) -> sa.Select:
    """Distinct engineers behind each step's thumbs on the flow's sessions of the window.

    A thumb counts the engineer who ran its session (``sessions.user_id``), so several
    thumbs on one session — whatever ``step_ratings.user_id`` they carry — are one
    person (issue 16 §4). The rows are those of :func:`step_ratings_query` with a thumb
    (``was_helpful`` not null): the ones the step table counts.
    Returns :data:`STEP_RATER_SCHEMA` (``step_id`` is a node id, never a person).
    """
    sr, s, t = step_ratings.c, sessions.c, trees.c
    return (
        sa.select(sr.step_id, sa.func.count(sa.distinct(s.user_id)).label("raters"))
        .select_from(
            step_ratings.join(sessions, sr.session_id == s.id).join(trees, s.tree_id == t.id)
        )
        .where(
            t.account_id == account_id,
            s.tree_id == tree_id,
            sr.was_helpful.is_not(None),
            s.started_at >= window.start,
            s.started_at < window.end,
        )
        .group_by(sr.step_id)
        .order_by(sr.step_id)
    )


def group_sizes(
    conn: Connection, account_id: str, window: Window, tree_id: str
) -> tuple[int, dict[str, int]]:
    """Run both group-size queries: (distinct CSAT raters, {step_id: distinct thumbs raters})."""
    raters = fetch(conn, flow_raters_query(account_id, window, tree_id), RATER_COUNT_SCHEMA)
    steps = fetch(conn, step_raters_query(account_id, window, tree_id), STEP_RATER_SCHEMA)
    return int(raters["raters"][0]), dict(steps.iter_rows())
