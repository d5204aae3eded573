"""Flow dashboard metrics: CSAT, the step table and anonymous comments (METRICS.md §3).

Inputs: ratings frames of :data:`rfa.queries.ratings.RATING_SCHEMA`, the
decisions frame of :data:`rfa.queries.sessions.DECISIONS_SCHEMA`, step thumbs of
:data:`rfa.queries.ratings.STEP_RATING_SCHEMA` and the flow's ``tree_structure``.
Frames are screened by :mod:`rfa.validation` first: ratings are 1–5 and one per
session, faulty rows are reported there (``data_quality``), not here. Decisions
are decoded defensively all the same (:func:`parse_decisions`): unreadable JSON
never raises.
"""

from __future__ import annotations

import json

import polars as pl

from rfa.metrics.models import CSAT, Comment, StepRow

RECENT_COMMENTS = 10
DECISIONS_DTYPE = pl.List(pl.Struct({"node_id": pl.String, "choice": pl.String}))
"""Dtype of decoded decisions: a list of ``{node_id, choice}`` (choice null when absent)."""


def parse_decisions(text: str | None) -> list[dict[str, str | None]] | None:
    """One session's ``decisions`` JSON text as ``[{node_id, choice}, …]``.

    Well-formed decisions are a JSON list (JSON ``null`` is an empty one) of
    objects whose ``node_id`` is a non-empty string or an integer (kept as text);
    ``choice`` is optional and kept as text. Returns None for SQL NULL and for
    anything else — invalid JSON, a list of non-objects, a step without a node id
    (:mod:`rfa.validation` reports those as ``decisions_malformed``). Never raises.
    """
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return None
    if value is None:
        return []
    if not isinstance(value, list):
        return None
    steps: list[dict[str, str | None]] = []
    for item in value:
        if not isinstance(item, dict):
            return None
        node = item.get("node_id")
        if isinstance(node, bool) or not isinstance(node, str | int) or node == "":
            return None
        choice = item.get("choice")
        steps.append({"node_id": str(node), "choice": None if choice is None else str(choice)})
    return steps


DECODE_CHUNK = 50_000
"""Rows decoded per bulk ``str.json_decode`` call; a chunk holding a malformed row is
decoded row by row (:func:`parse_decisions`), the others stay in bulk."""
_ODD_NODE = r'"node_id"\s*:\s*(true|false|-?[0-9]+[.eE])'


def _decode_chunk(texts: pl.Series) -> pl.Series:
    try:
        fast = texts.str.json_decode(DECISIONS_DTYPE)
    except pl.exceptions.PolarsError:  # a row is not JSON or not a list of objects
        return pl.Series(
            texts.name, [parse_decisions(t) for t in texts.to_list()], dtype=DECISIONS_DTYPE
        )
    node = pl.element().struct.field("node_id")
    # Rows the bulk decoder reads differently from parse_decisions: a step without a
    # usable node id, a boolean or fractional node id (decoded as "true", "0.5"), and
    # the JSON text null.
    suspicious = (
        fast.list.eval(node.is_null() | (node == "")).list.any().fill_null(False)
        | texts.str.contains(_ODD_NODE).fill_null(False)
        | (texts.str.strip_chars() == "null").fill_null(False)
    )
    if not suspicious.any():
        return fast.rename(texts.name)
    slow = pl.Series(
        texts.name,
        [parse_decisions(t) if odd else None for t, odd in zip(texts, suspicious, strict=True)],
        dtype=DECISIONS_DTYPE,
    )
    return pl.select(pl.when(suspicious).then(slow).otherwise(fast)).to_series().rename(texts.name)


def decode_decisions(texts: pl.Series) -> pl.Series:
    """Decode a String series of decisions JSON into :data:`DECISIONS_DTYPE`, in bulk.

    Same result as :func:`parse_decisions` on every row — null or malformed values
    become null, JSON ``null`` an empty list — but decoded by polars' JSON reader in
    chunks of :data:`DECODE_CHUNK`; only a chunk with a malformed row, and only the
    rows the bulk reader could read differently, go through the row-by-row parser.
    """
    if texts.len() == 0:
        return pl.Series(texts.name, [], dtype=DECISIONS_DTYPE)
    parts = [
        _decode_chunk(texts.slice(start, DECODE_CHUNK))
        for start in range(0, texts.len(), DECODE_CHUNK)
    ]
    return pl.concat(parts) if len(parts) > 1 else parts[0]


def csat(ratings: pl.DataFrame) -> CSAT:
    """Mean and count of the ratings and their distribution (METRICS.md §3 avg_csat,
    total_ratings). ``avg_csat`` is None without ratings.

    ``ratings`` are screened (:mod:`rfa.validation`): 1–5, one per session;
    ratings excluded there are counted in the page's ``data_quality``.
    """
    counts = dict(ratings.group_by("rating").len().iter_rows())
    mean = ratings["rating"].mean()
    return CSAT(
        avg_csat=None if mean is None else float(mean),
        total_ratings=ratings.height,
        distribution={score: counts.get(score, 0) for score in range(1, 6)},
    )


def node_titles(tree_structure: dict) -> dict[str, str]:
    """Map every node id of a nested ``tree_structure`` to its ``title`` or ``question``.

    Walks ``children`` depth-first without recursion limits; nodes without a
    title or question are ``"Unnamed step"``.
    """
    titles: dict[str, str] = {}
    stack = [tree_structure] if isinstance(tree_structure, dict) else []
    while stack:
        node = stack.pop()
        node_id = node.get("id")
        if node_id:
            titles[str(node_id)] = node.get("title") or node.get("question") or "Unnamed step"
        stack.extend(c for c in reversed(node.get("children") or []) if isinstance(c, dict))
    return titles


def _visits(decisions: pl.DataFrame) -> pl.DataFrame:
    """One row per decision: ``session_id, completed_at, position, last, node_id``.

    Null or malformed decisions give no row (:func:`decode_decisions`)."""
    return (
        decisions.with_columns(decode_decisions(decisions["decisions"]))
        .with_columns(pl.col("decisions").list.len().alias("n"))
        .explode("decisions")
        .filter(pl.col("decisions").is_not_null())
        .with_columns(
            pl.col("decisions").struct.field("node_id").alias("node_id"),
            pl.int_range(pl.len()).over("session_id").alias("position"),
        )
        .with_columns((pl.col("position") == pl.col("n") - 1).alias("last"))
        .filter(pl.col("node_id").is_not_null() & (pl.col("node_id") != ""))
        .select("session_id", "completed_at", "position", "last", "node_id")
    )


def step_table(
    decisions: pl.DataFrame, step_ratings: pl.DataFrame, tree_structure: dict
) -> list[StepRow]:
    """One row per node visited (METRICS.md §3 step table).

    * ``visit_count`` — decisions whose ``node_id`` is the node (revisits count);
    * ``dropoff_count`` — sessions not completed whose **last** decision is the node;
    * ``dropoff_rate`` — dropoffs / visits (fraction);
    * ``helpful_yes`` / ``helpful_no`` — thumbs in ``step_ratings`` with
      ``step_id`` = the node, on the flow's sessions in the window;
      ``helpful_rate`` = yes / (yes + no), None without thumbs;
    * ``*_low`` / ``*_high`` — 95% Wilson intervals of both rates (issue 7).
    Nodes missing from the tree are titled ``"Unknown step"`` (reported by
    :mod:`rfa.validation` as ``decision_unknown_node``); sessions whose decisions
    are null or malformed add no visit. Sorted by dropoff_rate then visits
    (descending), then title.
    """
    visits = _visits(decisions)
    if visits.height == 0:
        return []
    per_node = visits.group_by("node_id").agg(
        pl.len().alias("visit_count"),
        (pl.col("last") & pl.col("completed_at").is_null()).sum().alias("dropoff_count"),
    )
    thumbs = (
        step_ratings.filter(pl.col("was_helpful").is_not_null())
        .group_by("step_id")
        .agg(
            pl.col("was_helpful").sum().alias("helpful_yes"),
            (~pl.col("was_helpful")).sum().alias("helpful_no"),
        )
    )
    titles = node_titles(tree_structure)
    table = (
        per_node.join(thumbs.rename({"step_id": "node_id"}), on="node_id", how="left")
        .with_columns(
            pl.col("helpful_yes").fill_null(0),
            pl.col("helpful_no").fill_null(0),
            pl.col("node_id").replace_strict(titles, default="Unknown step").alias("node_title"),
            (pl.col("dropoff_count") / pl.col("visit_count")).alias("dropoff_rate"),
        )
        .with_columns(
            pl.when(pl.col("helpful_yes") + pl.col("helpful_no") > 0)
            .then(pl.col("helpful_yes") / (pl.col("helpful_yes") + pl.col("helpful_no")))
            .alias("helpful_rate")
        )
        .sort(
            ["dropoff_rate", "visit_count", "node_title", "node_id"],
            descending=[True, True, False, False],
        )
    )
    from rfa.metrics import uncertainty as u

    rows = []
    base = [f for f in StepRow.model_fields if not f.endswith(("_low", "_high"))]
    for row in table.select(base).iter_rows(named=True):
        drop = u.rate(row["dropoff_count"], row["visit_count"])
        judged = row["helpful_yes"] + row["helpful_no"]
        helpful = u.rate(row["helpful_yes"], judged) if judged else None
        rows.append(
            StepRow(
                **row,
                dropoff_low=drop.low,
                dropoff_high=drop.high,
                helpful_low=helpful.low if helpful else None,
                helpful_high=helpful.high if helpful else None,
            )
        )
    return rows


def recent_comments(ratings: pl.DataFrame, limit: int = RECENT_COMMENTS) -> list[Comment]:
    """The ``limit`` newest non-empty comments: rating, comment, created_at — anonymous.

    METRICS.md §3 recent_comments. Takes screened ratings created in the window;
    ignores blank comments; never returns who wrote them (the input carries no
    rater column for flow pages). Ties on time by session id.
    """
    rows = (
        ratings.filter(pl.col("comment").str.strip_chars().str.len_chars() > 0)
        .sort(["created_at", "session_id"], descending=True)
        .head(limit)
        .select("rating", pl.col("comment").str.strip_chars(), "created_at")
    )
    return [Comment(**row) for row in rows.iter_rows(named=True)]
