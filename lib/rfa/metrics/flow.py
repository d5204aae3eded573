"""Flow dashboard metrics: CSAT, the step table and anonymous comments (METRICS.md §3).

Inputs: ratings frames of :data:`rfa.queries.ratings.RATING_SCHEMA`, the
decisions frame of :data:`rfa.queries.sessions.DECISIONS_SCHEMA`, step thumbs of
:data:`rfa.queries.ratings.STEP_RATING_SCHEMA` and the flow's ``tree_structure``.
Frames are screened by :mod:`rfa.validation` first: ratings are 1–5 and one per
session, faulty rows are reported there (``data_quality``), not here. Decisions
are decoded defensively all the same (:func:`parse_decisions`): unreadable JSON
never raises. A page decodes them once (:func:`with_decoded`): the screening and
:func:`step_table` both read the decoded column :data:`DECODED`.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

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
"""Rows per slice given to one ``str.json_decode`` call; the slices are decoded in
parallel (as many threads as polars has). A slice holding a row polars refuses (not JSON, not a list
of objects) is split in :data:`DECODE_SPLIT` parts, recursively, and slices of at most
:data:`DECODE_ROWS` rows are read row by row (:func:`parse_decisions`); the others stay
in bulk."""
DECODE_SPLIT = 16
DECODE_ROWS = 256
DECODED = "decoded_decisions"
"""Optional column of a decisions frame: :func:`decode_decisions` of its ``decisions``
(:data:`DECISIONS_DTYPE`), added by :func:`with_decoded` so that a page decodes the JSON
once (:mod:`rfa.validation` and :func:`step_table` read it when present)."""
# Values the bulk decoder reads differently from parse_decisions (str() of the Python
# value): a boolean or fractional node id (polars gives "true", "0.5"; parse_decisions
# refuses the row) and a choice that is neither a string nor null (polars gives "true",
# "-0"; Python "True", "-0.0").
_ODD_VALUE = r'"node_id"\s*:\s*(true|false|-?[0-9]+[.eE])|"choice"\s*:\s*[^"\sn]'
# A key written with an escape (it may be either key, unseen by the checks above); only
# looked for in the rows holding an escape.
_ESCAPED_KEY = r'\\u[0-9a-fA-F]{4}[^"]*"\s*:'


def _bulk(texts: pl.LazyFrame) -> pl.LazyFrame:
    """Columns ``text``, ``fast`` (polars' reading of ``text``) and ``suspicious`` (rows
    polars may read differently from :func:`parse_decisions`) of a ``text`` frame."""
    text, fast = pl.col("text"), pl.col("fast")
    node = pl.element().struct.field("node_id")
    steps = fast.list.len()
    suspicious = (
        (fast.is_null() & text.is_not_null())  # JSON null (an empty list for the parser)
        | fast.list.eval(node.is_null() | (node == "")).list.any()  # a step without node id
        | text.str.contains(_ODD_VALUE)
        # a key given twice in one step: polars keeps the first value, Python the last
        | (text.str.count_matches('"node_id"', literal=True) > steps)
        | (text.str.count_matches('"choice"', literal=True) > steps)
    )
    return texts.with_columns(text.str.json_decode(DECISIONS_DTYPE).alias("fast")).select(
        "text",
        "fast",
        suspicious.fill_null(False).alias("suspicious"),
        text.str.contains("\\u", literal=True).fill_null(False).alias("escaped"),
    )


def _settle(part: pl.DataFrame) -> pl.Series:
    """The ``fast`` column of a :func:`_bulk` result, its suspicious rows read by
    :func:`parse_decisions`."""
    odd, escaped = part["suspicious"], part["escaped"]
    if escaped.any():
        rows = escaped.arg_true()
        keyed = part["text"].gather(rows).str.contains(_ESCAPED_KEY)
        odd = odd.scatter(rows.filter(keyed), True)
    if not odd.any():
        return part["fast"]
    slow = pl.Series(
        [parse_decisions(t) for t in part["text"].filter(odd).to_list()], dtype=DECISIONS_DTYPE
    )
    # the n-th odd row takes the n-th slow reading; cum_sum of a Boolean is unsigned, so
    # it is made signed before subtracting (a plain row before the first odd one would
    # wrap round to 2**32 - 1 and fail the gather)
    fixed = slow.gather((odd.cast(pl.Int64).cum_sum() - 1).clip(lower_bound=0))
    return pl.select(pl.when(odd).then(fixed).otherwise(part["fast"])).to_series()


def _decode_slice(texts: pl.Series) -> pl.Series:
    """Decode one slice in bulk; when polars refuses it, decode its parts (row by row
    from :data:`DECODE_ROWS` rows down)."""
    try:
        return _settle(_bulk(texts.to_frame("text").lazy()).collect())
    except pl.exceptions.PolarsError:  # a row is not JSON or not a list of objects
        if texts.len() <= DECODE_ROWS:
            return pl.Series([parse_decisions(t) for t in texts.to_list()], dtype=DECISIONS_DTYPE)
        size = max(DECODE_ROWS, -(-texts.len() // DECODE_SPLIT))
        return pl.concat(
            [_decode_slice(texts.slice(start, size)) for start in range(0, texts.len(), size)]
        )


def decode_decisions(texts: pl.Series) -> pl.Series:
    """Decode a String series of decisions JSON into :data:`DECISIONS_DTYPE`, in bulk.

    Input: the ``decisions`` column of a decisions frame (JSON text, nulls allowed).
    Output: a series of the same name and length, row for row what
    :func:`parse_decisions` returns — null for SQL NULL and malformed values, an empty
    list for JSON ``null`` — but read by polars' JSON reader in slices of
    :data:`DECODE_CHUNK` rows decoded in parallel threads; only the rows the bulk reader could
    read differently (non-string choices, boolean or fractional node ids, repeated keys,
    JSON ``null``) and the rows of small slices it refuses go through the row parser.
    Never raises for bad data.
    """
    if texts.len() == 0:
        return pl.Series(texts.name, [], dtype=DECISIONS_DTYPE)
    slices = [texts.slice(start, DECODE_CHUNK) for start in range(0, texts.len(), DECODE_CHUNK)]
    if len(slices) == 1:
        return _decode_slice(slices[0]).rename(texts.name)
    # polars releases the GIL while it decodes: one thread per slice at a time, each
    # slice falling back on its own when polars refuses it
    with ThreadPoolExecutor(max_workers=pl.thread_pool_size()) as pool:
        parts = list(pool.map(_decode_slice, slices))
    return pl.concat(parts).rename(texts.name)


def with_decoded(decisions: pl.DataFrame) -> pl.DataFrame:
    """``decisions`` (a frame with a ``decisions`` JSON text column, e.g. of
    :data:`rfa.queries.sessions.DECISIONS_SCHEMA`) with column :data:`DECODED` added:
    :func:`decode_decisions` of ``decisions``, so that screening (:mod:`rfa.validation`)
    and :func:`step_table` read the decoded steps instead of decoding the JSON again."""
    return decisions.with_columns(decode_decisions(decisions["decisions"]).alias(DECODED))


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


REPEATS_SHARE = 0.5
""":func:`step_table` on JSON text decodes each distinct text once, weighted by its
sessions, when the distinct texts (HyperLogLog estimate) are at most this share of the
rows; otherwise it decodes every row (grouping would cost more than it saves)."""


def _sessions(decisions: pl.DataFrame) -> pl.DataFrame:
    """``decoded`` (:data:`DECISIONS_DTYPE`), ``sessions`` (sessions with these decisions)
    and ``open`` (those not completed), both Int64, of a decisions frame: one row per
    session, or one per distinct decisions text when the texts repeat a lot."""
    open_ = decisions["completed_at"].is_null().cast(pl.Int64).alias("open")
    one = pl.lit(1, pl.Int64).alias("sessions")
    if DECODED in decisions.columns:
        return pl.DataFrame([decisions[DECODED].alias("decoded"), open_]).with_columns(one)
    texts = decisions["decisions"].alias("text")
    if texts.len() and texts.approx_n_unique() <= REPEATS_SHARE * texts.len():
        groups = (
            pl.DataFrame([texts, open_])
            .group_by("text")
            .agg(pl.len().cast(pl.Int64).alias("sessions"), pl.col("open").sum())
        )
    else:
        groups = pl.DataFrame([texts, open_]).with_columns(one)
    return groups.select(decode_decisions(groups["text"]).alias("decoded"), "sessions", "open")


def _node_counts(decisions: pl.DataFrame) -> pl.DataFrame:
    """``node_id, visit_count, dropoff_count`` (Int64) of every node with a visit.

    Visits are the decisions at the node; drop-offs the sessions not completed whose
    last decision is the node. Null or malformed decisions give no visit
    (:func:`decode_decisions`); the decoded column :data:`DECODED` is used when present.
    """
    usable = pl.col("node_id").is_not_null() & (pl.col("node_id") != "")
    steps = (
        _sessions(decisions)
        .lazy()
        .select(
            pl.col("decoded").list.eval(pl.element().struct.field("node_id")).alias("nodes"),
            "sessions",
            "open",
        )
    )
    visits = (
        steps.select(pl.col("nodes").alias("node_id"), "sessions")
        .explode("node_id")
        .filter(usable)
        .group_by("node_id")
        .agg(pl.col("sessions").sum().alias("visit_count"))
    )
    dropoffs = (
        steps.filter(pl.col("open") > 0)
        .select(pl.col("nodes").list.last().alias("node_id"), "open")
        .filter(usable)
        .group_by("node_id")
        .agg(pl.col("open").sum().alias("dropoff_count"))
    )
    return (
        visits.join(dropoffs, on="node_id", how="left")
        .with_columns(pl.col("dropoff_count").fill_null(0))
        .collect()
    )


def step_table(
    decisions: pl.DataFrame,
    step_ratings: pl.DataFrame,
    tree_structure: dict,
    *,
    min_n: int | None = None,
) -> list[StepRow]:
    """One row per node visited (METRICS.md §3 step table).

    * ``visit_count`` — decisions whose ``node_id`` is the node (revisits count);
    * ``dropoff_count`` — sessions not completed whose **last** decision is the node;
    * ``dropoff_rate`` — dropoffs / visits (fraction);
    * ``helpful_yes`` / ``helpful_no`` — thumbs in ``step_ratings`` with
      ``step_id`` = the node, on the flow's sessions in the window;
      ``helpful_rate`` = yes / (yes + no), None without thumbs;
    * ``*_low`` / ``*_high`` — 95% Wilson intervals of both rates (issue 7);
    * ``few`` — fewer visits than ``min_n`` (default
      :data:`rfa.metrics.uncertainty.MIN_N`): the page shows the row muted.
    Nodes missing from the tree are titled ``"Unknown step"`` (reported by
    :mod:`rfa.validation` as ``decision_unknown_node``); sessions whose decisions
    are null or malformed add no visit. Sorted by dropoff_rate then visits
    (descending), then title.

    ``decisions`` has one row per session with ``completed_at`` (Datetime) and either
    ``decisions`` (JSON text, :data:`rfa.queries.sessions.DECISIONS_SCHEMA`) or the
    decoded column :data:`DECODED` (:data:`DECISIONS_DTYPE`, from :func:`with_decoded`),
    which is read instead of decoding the JSON again when present. ``step_ratings`` has
    ``step_id`` (String) and ``was_helpful`` (Boolean, null ignored).
    """
    per_node = _node_counts(decisions)
    if per_node.height == 0:
        return []
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
    base = [f for f in StepRow.model_fields if not f.endswith(("_low", "_high")) and f != "few"]
    floor = u.MIN_N if min_n is None else min_n
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
                few=row["visit_count"] < floor,
            )
        )
    return rows


def recent_comments(
    ratings: pl.DataFrame, limit: int = RECENT_COMMENTS, timezone: str = "UTC"
) -> list[Comment]:
    """The ``limit`` newest non-empty comments: rating, comment and the local **date** in
    ``timezone`` (no time of day: issue 16 §13) — anonymous.

    METRICS.md §3 recent_comments. Takes screened ratings created in the window;
    ignores blank comments; never returns who wrote them (the input carries no
    rater column for flow pages). Ties on time by session id.
    """
    rows = (
        ratings.filter(pl.col("comment").str.strip_chars().str.len_chars() > 0)
        .sort(["created_at", "session_id"], descending=True)
        .head(limit)
        .select(
            "rating",
            pl.col("comment").str.strip_chars(),
            pl.col("created_at").dt.convert_time_zone(timezone).dt.date().alias("date"),
        )
    )
    return [Comment(**row) for row in rows.iter_rows(named=True)]
