"""Bad-data screening of every extracted frame (pandera, polars backend).

Every frame a loader extracts goes through :func:`screen` (or a :class:`Screening`,
which screens several frames of one page and adds up their findings) before any
metric sees it. A frame *kind* names one of the query layer's schemas
(:data:`KINDS`); its pandera :class:`~pandera.polars.DataFrameSchema` holds

* the **contract** — every column of the query's ``*_SCHEMA`` with its dtype.
  A missing column or a wrong dtype is a programming error, not a data fault:
  :class:`FrameSchemaError` is raised. In particular every timestamp must be
  ``Datetime("us", "UTC")``: the database layer reads every timestamp as aware
  UTC (a naive SQLite value is taken as UTC there), so a timestamp column
  without a timezone can only come from code that bypassed the query layer, and
  is refused loudly rather than guessed at;
* the **row rules** below, one named pandera check each, evaluated lazily so a
  frame reports every failing row of every rule at once.

A failing row is never an error. Each rule says what is done with it:

``drop``
    the row is removed from the frame: it is in no metric of the page;
``null``
    the faulty value is set to null; the row still counts everywhere else, and
    the metrics read null as "no value" (unrated, no confidence, no decisions);
``keep``
    the row is kept as it is; the metric named in the finding leaves it out by
    its own definition (a negative duration is not a duration, an unknown
    outcome is in no outcome column, …).

Each rule with failing rows gives one :class:`~rfa.metrics.models.DataQualityFinding`
(``check`` = the rule, ``count`` = rows, ``description`` = what they are and what
was done), listed in the page's ``data_quality`` and so in its data file and its
"About these numbers" section. A row failing several rules is counted once: by
the first ``drop`` rule it fails (in the order below), else by every ``null`` /
``keep`` rule it fails. The metric functions trust screened input: they no
longer count faults themselves.

===============  ===================================  ======  ===================================
kind             rule (``check``)                     action  what it would corrupt
===============  ===================================  ======  ===================================
sessions         session_unknown_user [users]         drop    every session number of the page
sessions         completed_before_started             keep    median durations
sessions         completed_without_outcome            keep    outcome breakdown
sessions         unknown_outcome                      keep    outcome breakdown
decisions        decisions_malformed                  null    step table (session still counts)
decisions        decision_unknown_node [nodes]        keep    step titles ('Unknown step')
option_sessions  decisions_malformed                  null    flow options (session still counts)
option_sessions  decision_unknown_node [structures]   keep    step titles ('Unknown step')
option_sessions  completed_without_outcome            keep    option outcome rates
option_sessions  unknown_outcome                      keep    option outcome rates
ratings          rating_orphan [sessions]             drop    CSAT, comments
ratings          rating_out_of_range                  drop    CSAT, distribution, comments
ratings          rating_duplicate                     drop    CSAT (the newest is kept)
step_ratings     step_rating_orphan [sessions]        drop    helpful counts
ai_sessions      ai_unknown_status                    keep    counted in the total only
ai_sessions      ai_resolved_without_resolved_at      keep    MTTR
ai_sessions      ai_resolved_before_created           keep    MTTR
ai_sessions      ai_rating_out_of_range               null    average rating
ai_sessions      ai_confidence_out_of_range           null    confidence means, quality score
ai_sessions      ai_unknown_confidence_tier           keep    confidence breakdown
ai_sessions      ai_unknown_flow [flows]              null    flow quality, coverage (no foreign id)
proposals        proposal_unknown_status              keep    proposal counts
psa_posts        psa_unknown_post_type                keep    per-type pushes
psa_posts        psa_unknown_status                   keep    push success
psa_posts        psa_retry_count_missing              keep    first try vs retry
psa_posts        psa_time_entry_invalid_hours         keep    hours logged
handoffs         handoff_action_before_claim          keep    lag (floored at 0 s)
flows            flow_unknown_origin                  keep    AI-generated flows
flow_trees       flow_structure_malformed             keep    step titles ('Unknown step')
===============  ===================================  ======  ===================================

Values stored with the wrong type (SQLite keeps text in a number or timestamp column)
never reach a frame as text: the queries read them as missing
(:func:`rfa.queries.storage.readable`) — a CSAT rating so read fails
``rating_out_of_range`` — and the loaders count the rows with
``unreadable_*_query`` builders and report them with :meth:`Screening.unreadable`
(:data:`UNREADABLE`: ``rating_unreadable_date``, ``ai_unreadable_value``,
``psa_unreadable_value``, ``proposal_unreadable_date``); a row whose own date cannot be
read is in no window, so it is counted whatever its date.

``comparison_sessions`` (the team page's previous window, read with
:data:`rfa.queries.sessions.COMPARISON_COLUMNS` only) has the first two ``sessions`` rules.

A rule in brackets needs that context argument of :func:`screen` (the parent ids
or node ids the loader has) and is skipped without it:

* ``users`` — user ids of the account (sessions → users);
* ``sessions`` — ids of the parent sessions: for ratings, the account's sessions
  the ratings point at (any start time, :func:`rfa.queries.ratings.rated_sessions_query`);
  for step ratings, the flow's sessions of the window;
* ``nodes`` — node ids of the flow's ``tree_structure`` (None when it has no
  readable one: the flow page reads it as text through a ``flow_trees`` frame,
  so a malformed structure is a finding, not an exception);
* ``structures`` — ``{tree_id: node ids}`` of the account's flows with a readable
  structure (flows without one are not checked);
* ``flows`` — tree ids of the account's flows.

The ``decisions`` and ``option_sessions`` rules read the decoded decisions
(:data:`rfa.metrics.flow.DECODED`, :func:`rfa.metrics.flow.decode_decisions`): a frame
that carries that column (:func:`rfa.metrics.flow.with_decoded`, as the flow page
does, so the step table reuses it) is not decoded again and keeps it; otherwise it is
decoded once per screening and left out of the screened frame.

Orphans that the queries already make impossible are not re-checked: step
ratings and PSA posts are read through their sessions (inner joins), and the
personal page reads ratings through the engineer's sessions. A session dropped
as ``session_unknown_user`` is not chased into other frames (its decisions and
thumbs still feed the flow page's step table). Frames a page reads for names
only (flows on the team and personal pages) are screened ``contract_only``.
Hand-offs come with the first step strictly *after* the claim (METRICS.md §5),
so ``handoff_action_before_claim`` only fires on frames built otherwise. ``users``,
``pending_proposals`` and ``psa_funnel_posts`` (the funnel's posts, which overlap
the window's posts: their faults are reported once, on ``psa_posts``) are
checked against their contract only. Duplicate ratings keep the newest rating
(``created_at``, then the later row of the query's ``created_at, id`` order).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandera.polars as pa
import polars as pl
from pandera.config import ValidationDepth, config_context
from pandera.errors import SchemaErrors

from rfa.metrics.flow import (
    DECISIONS_DTYPE,
    DECODED,
    decode_decisions,
    node_titles,
    parse_decisions,
)
from rfa.metrics.flowpilot import (
    AI_ORIGINS,
    AI_STATUSES,
    CONFIDENCE_TIERS,
    ENDED_STATUSES,
    POST_STATUSES,
    POST_TYPES,
    PROPOSAL_STATUSES,
)
from rfa.metrics.models import OUTCOMES, DataQualityFinding
from rfa.queries.accounts import FLOW_SCHEMA, USER_SCHEMA
from rfa.queries.ai_sessions import AI_SESSION_SCHEMA
from rfa.queries.gaps import FLOW_TREE_SCHEMA, OPTION_SESSION_SCHEMA, PENDING_PROPOSAL_SCHEMA
from rfa.queries.handoffs import HANDOFF_SCHEMA
from rfa.queries.proposals import PROPOSAL_SCHEMA
from rfa.queries.psa import PSA_POST_SCHEMA
from rfa.queries.ratings import RATING_SCHEMA, STEP_RATING_SCHEMA
from rfa.queries.sessions import COMPARISON_COLUMNS, DECISIONS_SCHEMA, SESSION_SCHEMA

Action = Literal["drop", "null", "keep"]
ROW = "__row__"
"""Row-position column available to rule expressions (window rules such as duplicates)."""
Context = Mapping[str, Any]
FLOW_ORIGINS: tuple[str, ...] = ("manual", *AI_ORIGINS)
"""Accepted ``trees.origin`` values (METRICS.md §1)."""


class FrameSchemaError(TypeError):
    """A frame does not have its kind's columns or dtypes (e.g. a timestamp without
    timezone): a programming error in the code that built it, never a data fault."""


@dataclass(frozen=True)
class Rule:
    """One row rule: ``ok(context)`` is a polars expression, true for good rows.

    ``ok`` may be null where the rule does not apply (read as good). ``column`` is
    the value set to null by a ``null`` rule; ``needs`` the context argument
    without which the rule is skipped.
    """

    check: str
    action: Action
    description: str
    ok: Callable[[Context], pl.Expr]
    column: str | None = None
    needs: str | None = None


@dataclass(frozen=True)
class Kind:
    """A frame kind: the query's column schema, optional extra columns, the row key
    (to count a row found in two frames once) and the row rules, in order.

    ``derived`` columns (each also in ``optional``) are read by the rules and computed
    from the frame by their function when the frame does not carry them; they are then
    left out of the screened frame."""

    name: str
    columns: Mapping[str, pl.DataType]
    rules: tuple[Rule, ...] = ()
    key: str | None = None
    optional: Mapping[str, pl.DataType] = field(default_factory=dict)
    derived: Mapping[str, Callable[[pl.DataFrame], pl.Series]] = field(default_factory=dict)
    ids: tuple[str, ...] = ()
    """Id columns that a *compact* frame carries as ``Binary`` (the uuid's 16 bytes, as
    :func:`rfa.queries.sessions.sessions_frame` ``(compact=True)`` reads them on
    PostgreSQL) instead of ``String``: all of them, or none."""


# ------------------------------------------------------------------ helpers


def _ids(values: Iterable[str | bytes | None]) -> pl.Expr:
    """A literal list of ids for ``is_in`` (nulls left out): text ids as ``String``,
    compact ids (a ``Binary`` series, or ``bytes`` values) as ``Binary``."""
    if isinstance(values, pl.Series):
        series = values if values.dtype == pl.Binary else values.cast(pl.String)
        series = series.drop_nulls()
    else:
        kept = [v for v in values if v is not None]
        binary = any(isinstance(v, bytes) for v in kept)
        series = pl.Series(kept, dtype=pl.Binary if binary else pl.String)
    return pl.lit(series.implode())


def _known(column: str, ids: Iterable[str | None]) -> pl.Expr:
    """True when ``column`` is set and one of ``ids`` (never null)."""
    return pl.col(column).is_not_null() & pl.col(column).is_in(_ids(ids)).fill_null(False)


def _one_of(column: str, values: Collection[str]) -> pl.Expr:
    """True when ``column`` is set and one of ``values`` (never null)."""
    return pl.col(column).is_not_null() & pl.col(column).is_in(list(values)).fill_null(False)


def _python(column: str, test: Callable[[Any], bool]) -> pl.Expr:
    """``test`` applied to every value of ``column`` in Python (for JSON text)."""
    return pl.col(column).map_batches(
        lambda s: pl.Series([test(v) for v in s.to_list()], dtype=pl.Boolean),
        return_dtype=pl.Boolean,
    )


def decisions_well_formed(text: str | None) -> bool:
    """True for null decisions and for a JSON list of objects with a ``node_id``
    (see :func:`rfa.metrics.flow.parse_decisions`); False for anything else."""
    return text is None or parse_decisions(text) is not None


def _decisions_well_formed() -> pl.Expr:
    """:func:`decisions_well_formed` of every row, read from the decoded column
    :data:`~rfa.metrics.flow.DECODED` (:func:`rfa.metrics.flow.decode_decisions` reads
    each row as ``parse_decisions``: null exactly when the text is null or malformed)."""
    return pl.col("decisions").is_null() | pl.col(DECODED).is_not_null()


def _decision_nodes_known(nodes: Collection[str]) -> pl.Expr:
    """True unless a well-formed decisions list visits a node outside ``nodes`` (null and
    malformed decisions pass), read from the decoded column
    :data:`~rfa.metrics.flow.DECODED`."""
    known = pl.lit(pl.Series(sorted(nodes), dtype=pl.String).implode())
    node = pl.element().struct.field("node_id")
    return pl.col(DECODED).list.eval(node.is_in(known)).list.all().fill_null(True)


def _decoded(frame: pl.DataFrame) -> pl.Series:
    """The :data:`~rfa.metrics.flow.DECODED` column of a frame that lacks it."""
    return decode_decisions(frame["decisions"])


def _option_nodes_known(structures: Mapping[str, Collection[str]]) -> pl.Expr:
    """True unless a well-formed decisions list visits a node outside its flow's nodes
    (``structures``: ``{tree_id: node ids}``; flows not in it are not checked), read from
    the decoded column :data:`~rfa.metrics.flow.DECODED`."""
    known = pl.DataFrame(
        [(tree, node) for tree, nodes in structures.items() for node in nodes],
        schema={"tree_id": pl.String, "node_id": pl.String},
        orient="row",
    )
    checked = pl.Series(list(structures), dtype=pl.String).implode()

    def test(rows: pl.Series) -> pl.Series:
        steps = (
            rows.struct.unnest()
            .with_row_index("row")
            .filter(pl.col("tree_id").is_in(checked))
            .select(
                "row",
                "tree_id",
                pl.col(DECODED).list.eval(pl.element().struct.field("node_id")).alias("node_id"),
            )
            .explode("node_id")
            .drop_nulls("node_id")
        )
        unknown = steps.join(known, on=["tree_id", "node_id"], how="anti")["row"].implode()
        return ~pl.int_range(rows.len(), dtype=pl.UInt32, eager=True).is_in(unknown)

    return pl.struct("tree_id", DECODED).map_batches(test, return_dtype=pl.Boolean)


def parse_structure(text: str | None) -> dict | None:
    """A ``tree_structure`` JSON text as its node dict; None when absent or not a JSON
    object (``flow_structure_malformed``). Never raises."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def structure_nodes(text: str | None) -> set[str] | None:
    """Node ids of a ``tree_structure`` JSON text; None when absent or not a JSON object."""
    structure = parse_structure(text)
    return None if structure is None else set(node_titles(structure))


def _structure_ok(text: str | None) -> bool:
    return text is None or structure_nodes(text) is not None


def _newest_rating(ctx: Context) -> pl.Expr:
    """Not a duplicate: among a session's valid (1–5) ratings, only the newest passes (the
    latest ``created_at``, then the later row).

    Duplicates are rare, so only the rows whose session has another valid rating are
    ranked (a hash count over the frame, then a sort of those few rows): on hundreds of
    thousands of ratings this is what screening them costs."""
    # ``rating_orphan`` comes first and drops every rating of a session that is not the
    # account's, so whether a rating's session is known changes no row this rule counts
    valid = pl.col("rating").is_between(1, 5).fill_null(False)
    candidate = valid & pl.col("session_id").is_not_null()

    def not_superseded(rows: pl.Series) -> pl.Series:
        frame = rows.struct.unnest()
        candidates = frame.filter(pl.col("candidate"))
        shared = candidates.filter(pl.col("session_id").is_duplicated())
        if shared.is_empty():
            return pl.Series(np.ones(rows.len(), dtype=bool))
        newest = shared.group_by("session_id").agg(pl.col(ROW).sort_by("created_at", ROW).last())
        superseded = shared.join(newest, on=[ROW], how="anti")[ROW]
        return ~frame[ROW].is_in(superseded.implode())

    return pl.struct(
        pl.col(ROW), "session_id", "created_at", candidate.alias("candidate")
    ).map_batches(not_superseded, return_dtype=pl.Boolean)


_COMPLETED = pl.col("completed_at").is_not_null()
_RESOLVED = pl.col("status") == "resolved"
_SUCCESSFUL_ENTRY = (pl.col("post_type") == "time_entry") & (pl.col("status") == "success")


# -------------------------------------------------------------------- rules

_UNKNOWN_OUTCOME = "outcomes other than resolved, escalated, workaround, unresolved"
_MALFORMED = "sessions whose decisions are not a JSON list of steps with a node_id"

_UNKNOWN_USER = Rule(
    "session_unknown_user",
    "drop",
    "sessions whose engineer is not a user of the account; left out of every session number",
    lambda c: _known("user_id", c["users"]),
    needs="users",
)
_BEFORE_STARTED = Rule(
    "completed_before_started",
    "keep",
    "sessions whose completed_at is before started_at; excluded from durations",
    lambda c: ~(_COMPLETED & (pl.col("completed_at") < pl.col("started_at"))),
)

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "sessions",
            SESSION_SCHEMA,
            key="session_id",
            ids=("session_id", "tree_id", "user_id"),
            rules=(
                _UNKNOWN_USER,
                _BEFORE_STARTED,
                Rule(
                    "completed_without_outcome",
                    "keep",
                    "completed sessions with no outcome; excluded from the outcome breakdown",
                    lambda c: ~(_COMPLETED & pl.col("outcome").is_null()),
                ),
                Rule(
                    "unknown_outcome",
                    "keep",
                    f"{_UNKNOWN_OUTCOME}; excluded from the outcome breakdown",
                    lambda c: pl.col("outcome").is_null() | _one_of("outcome", OUTCOMES),
                ),
            ),
        ),
        Kind(
            "comparison_sessions",
            {name: SESSION_SCHEMA[name] for name in COMPARISON_COLUMNS},
            key="session_id",
            ids=("session_id", "user_id"),
            rules=(_UNKNOWN_USER, _BEFORE_STARTED),
        ),
        Kind(
            "decisions",
            DECISIONS_SCHEMA,
            key="session_id",
            optional={DECODED: DECISIONS_DTYPE},
            derived={DECODED: _decoded},
            rules=(
                Rule(
                    "decisions_malformed",
                    "null",
                    f"{_MALFORMED}; counted as sessions, left out of the step table",
                    lambda c: _decisions_well_formed(),
                    column="decisions",
                ),
                Rule(
                    "decision_unknown_node",
                    "keep",
                    "sessions with a decision at a step that is not in the flow; shown as "
                    "'Unknown step'",
                    lambda c: _decision_nodes_known(c["nodes"]),
                    needs="nodes",
                ),
            ),
        ),
        Kind(
            "option_sessions",
            OPTION_SESSION_SCHEMA,
            key="session_id",
            optional={DECODED: DECISIONS_DTYPE},
            derived={DECODED: _decoded},
            rules=(
                Rule(
                    "decisions_malformed",
                    "null",
                    f"{_MALFORMED}; left out of the flow options",
                    lambda c: _decisions_well_formed(),
                    column="decisions",
                ),
                Rule(
                    "decision_unknown_node",
                    "keep",
                    "sessions with a decision at a step that is not in their flow; shown as "
                    "'Unknown step'",
                    lambda c: _option_nodes_known(c["structures"]),
                    needs="structures",
                ),
                Rule(
                    "completed_without_outcome",
                    "keep",
                    "completed sessions with no outcome; not counted as ended in option "
                    "outcome rates",
                    lambda c: ~(_COMPLETED & pl.col("outcome").is_null()),
                ),
                Rule(
                    "unknown_outcome",
                    "keep",
                    f"{_UNKNOWN_OUTCOME}; not counted as ended in option outcome rates",
                    lambda c: pl.col("outcome").is_null() | _one_of("outcome", OUTCOMES),
                ),
            ),
        ),
        Kind(
            "ratings",
            {name: t for name, t in RATING_SCHEMA.items() if name != "comment"},
            optional={"comment": pl.String, "engineer_id": pl.String},
            ids=("session_id", "tree_id", "engineer_id"),
            rules=(
                Rule(
                    "rating_orphan",
                    "drop",
                    "CSAT ratings of a session that is not a session of the account; "
                    "excluded from CSAT and comments",
                    lambda c: _known("session_id", c["sessions"]),
                    needs="sessions",
                ),
                Rule(
                    "rating_out_of_range",
                    "drop",
                    "CSAT ratings missing or outside 1–5 (a rating the database holds as "
                    "text reads as missing); excluded from CSAT and comments",
                    lambda c: pl.col("rating").is_between(1, 5).fill_null(False),
                ),
                Rule(
                    "rating_duplicate",
                    "drop",
                    "extra CSAT ratings of a session rated more than once; only the newest counts",
                    _newest_rating,
                ),
            ),
        ),
        Kind(
            "step_ratings",
            STEP_RATING_SCHEMA,
            rules=(
                Rule(
                    "step_rating_orphan",
                    "drop",
                    "step thumbs of a session that is not one of the flow's sessions; "
                    "excluded from helpfulness",
                    lambda c: _known("session_id", c["sessions"]),
                    needs="sessions",
                ),
            ),
        ),
        Kind(
            "ai_sessions",
            AI_SESSION_SCHEMA,
            key="ai_session_id",
            rules=(
                Rule(
                    "ai_unknown_status",
                    "keep",
                    "AI sessions whose status is not active, resolved, escalated, "
                    "requesting_escalation or abandoned; counted in the total only",
                    lambda c: _one_of("status", AI_STATUSES),
                ),
                Rule(
                    "ai_resolved_without_resolved_at",
                    "keep",
                    "resolved AI sessions with no resolved_at; excluded from MTTR",
                    lambda c: ~(_RESOLVED & pl.col("resolved_at").is_null()),
                ),
                Rule(
                    "ai_resolved_before_created",
                    "keep",
                    "AI sessions whose resolved_at is before created_at; excluded from MTTR",
                    lambda c: ~(_RESOLVED & (pl.col("resolved_at") < pl.col("created_at"))),
                ),
                Rule(
                    "ai_rating_out_of_range",
                    "null",
                    "AI session ratings outside 1–5; read as unrated (excluded from the "
                    "average rating)",
                    lambda c: (
                        pl.col("session_rating").is_null()
                        | pl.col("session_rating").is_between(1, 5)
                    ),
                    column="session_rating",
                ),
                Rule(
                    "ai_confidence_out_of_range",
                    "null",
                    "match_confidence outside 0–1 (or NaN); read as missing (excluded from "
                    "confidence averages and the quality score)",
                    lambda c: (
                        pl.col("match_confidence").is_null()
                        | pl.col("match_confidence").is_between(0.0, 1.0)
                    ),
                    column="match_confidence",
                ),
                Rule(
                    "ai_unknown_confidence_tier",
                    "keep",
                    "ended AI sessions with no confidence tier or one other than guided, "
                    "exploring, discovery; excluded from the confidence breakdown",
                    lambda c: (
                        ~(
                            _one_of("status", ENDED_STATUSES)
                            & ~_one_of("confidence_tier", CONFIDENCE_TIERS)
                        )
                    ),
                ),
                Rule(
                    "ai_unknown_flow",
                    "null",
                    "AI sessions matched to a tree_id that is not a flow of the account "
                    "(another account's or a deleted flow); counted as matched to no flow, "
                    "and the id is shown nowhere",
                    lambda c: pl.col("tree_id").is_null() | _known("tree_id", c["flows"]),
                    column="tree_id",
                    needs="flows",
                ),
            ),
        ),
        Kind(
            "proposals",
            PROPOSAL_SCHEMA,
            key="proposal_id",
            rules=(
                Rule(
                    "proposal_unknown_status",
                    "keep",
                    "flow proposals whose status is not pending, approved, modified, "
                    "rejected or dismissed; not counted",
                    lambda c: _one_of("status", PROPOSAL_STATUSES),
                ),
            ),
        ),
        Kind(
            "psa_posts",
            PSA_POST_SCHEMA,
            key="post_id",
            rules=(
                Rule(
                    "psa_unknown_post_type",
                    "keep",
                    "PSA posts whose post_type is not ticket_note, doc or time_entry; "
                    "counted in push totals only",
                    lambda c: _one_of("post_type", POST_TYPES),
                ),
                Rule(
                    "psa_unknown_status",
                    "keep",
                    "PSA posts whose status is not success or failed; counted as not successful",
                    lambda c: _one_of("status", POST_STATUSES),
                ),
                Rule(
                    "psa_retry_count_missing",
                    "keep",
                    "PSA posts with no retry_count; counted as first try",
                    lambda c: pl.col("retry_count").is_not_null(),
                ),
                Rule(
                    "psa_time_entry_invalid_hours",
                    "keep",
                    "successful time entries with no hours or negative hours; counted as "
                    "entries with 0 hours",
                    lambda c: (
                        ~(
                            _SUCCESSFUL_ENTRY
                            & (pl.col("hours").is_null() | (pl.col("hours") < 0)).fill_null(True)
                        )
                    ),
                ),
            ),
        ),
        Kind("psa_funnel_posts", PSA_POST_SCHEMA, key="post_id"),
        Kind(
            "handoffs",
            HANDOFF_SCHEMA,
            key="handoff_id",
            rules=(
                Rule(
                    "handoff_action_before_claim",
                    "keep",
                    "hand-offs whose first action is dated before the claim (clock drift); "
                    "the lag is counted as 0 s",
                    lambda c: ~(pl.col("first_action_at") < pl.col("claimed_at")),
                ),
            ),
        ),
        Kind(
            "flows",
            FLOW_SCHEMA,
            key="tree_id",
            rules=(
                Rule(
                    "flow_unknown_origin",
                    "keep",
                    "flows whose origin is not manual, ai_generated or ai_enhanced; counted as "
                    "not AI-generated",
                    lambda c: pl.col("origin").is_null() | _one_of("origin", FLOW_ORIGINS),
                ),
            ),
        ),
        Kind(
            "flow_trees",
            FLOW_TREE_SCHEMA,
            key="tree_id",
            rules=(
                Rule(
                    "flow_structure_malformed",
                    "keep",
                    "flows whose tree_structure is not a JSON object; their steps are shown "
                    "as 'Unknown step'",
                    lambda c: _python("tree_structure", _structure_ok),
                ),
            ),
        ),
        Kind("users", USER_SCHEMA, key="user_id"),
        Kind("pending_proposals", PENDING_PROPOSAL_SCHEMA),
    )
}
"""Every frame kind the loaders extract, by name."""


# ---------------------------------------------------------------- screening


@dataclass
class Result:
    """What :func:`screen_rows` did to one frame: the screened frame and, per rule
    with failing rows, the rule and the row positions (in the input frame) it counts."""

    frame: pl.DataFrame
    failures: list[tuple[Rule, list[int]]]

    @property
    def findings(self) -> list[DataQualityFinding]:
        return [
            DataQualityFinding(check=rule.check, count=len(rows), description=rule.description)
            for rule, rows in self.failures
        ]


def schema(
    kind: str, *, contract_only: bool = False, compact: bool = False, **context: Any
) -> tuple[pa.DataFrameSchema, tuple[Rule, ...]]:
    """The pandera schema of ``kind`` with the rules that ``context`` allows, and those rules
    (none with ``contract_only``: columns and dtypes only). With ``compact`` the kind's
    id columns (:attr:`Kind.ids`) are ``Binary`` instead of ``String``.

    Raises ``KeyError`` naming the accepted kinds for an unknown ``kind``.
    """
    try:
        spec = KINDS[kind]
    except KeyError:
        raise KeyError(f"unknown frame kind {kind!r}; accepted: {', '.join(KINDS)}") from None
    rules = tuple(
        r
        for r in spec.rules
        if not contract_only and (r.needs is None or context.get(r.needs) is not None)
    )

    def dtype_of(name: str, dtype: pl.DataType) -> pl.DataType:
        return pl.Binary if compact and name in spec.ids else dtype

    columns = {
        name: pa.Column(dtype_of(name, dtype), nullable=True)
        for name, dtype in spec.columns.items()
    }
    columns |= {
        name: pa.Column(dtype_of(name, dtype), nullable=True, required=False)
        for name, dtype in spec.optional.items()
    }
    checks = [pa.Check(_vectorised(rule.ok(context)), name=rule.check) for rule in rules]
    return pa.DataFrameSchema(columns, checks=checks, name=kind), rules


def _vectorised(ok: pl.Expr) -> Callable[[pa.PolarsData], pl.LazyFrame]:
    """A pandera check function: ``ok`` (null read as true) over the frame, which has
    its row position in column :data:`ROW` for rules that compare rows."""
    return lambda data: data.lazyframe.with_row_index(ROW).select(ok.fill_null(True).alias("ok"))


def _compact(frame: pl.DataFrame, kind: str) -> bool:
    """Whether ``frame`` carries its kind's id columns as ``Binary`` (compact ids)."""
    ids = KINDS[kind].ids if kind in KINDS else ()
    return any(frame.schema.get(name) == pl.Binary for name in ids)


def _all_pass(frame: pl.DataFrame, rules: tuple[Rule, ...], context: Context) -> bool:
    """Every row passes every rule (null read as pass), evaluated in one polars pass."""
    checks = [rule.ok(context).fill_null(True).all().alias(rule.check) for rule in rules]
    verdicts = frame.lazy().with_row_index(ROW).select(checks).collect()
    return all(verdicts.row(0))


def _hex_ids(frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    """``frame`` with its kind's ``Binary`` id columns as lowercase hex text."""
    ids = [name for name in KINDS[kind].ids if frame.schema.get(name) == pl.Binary]
    return frame.with_columns(pl.col(ids).bin.encode("hex"))


def _hex_context(context: Context) -> dict[str, Any]:
    """``context`` with ``Binary`` id series and ``bytes`` ids as lowercase hex text."""

    def convert(value: Any) -> Any:
        if isinstance(value, pl.Series) and value.dtype == pl.Binary:
            return value.bin.encode("hex")
        if isinstance(value, list | tuple | set | frozenset) and any(
            isinstance(v, bytes) for v in value
        ):
            return [v.hex() if isinstance(v, bytes) else v for v in value]
        return value

    return {key: convert(value) for key, value in context.items()}


def _failures(
    frame: pl.DataFrame, kind: str, context: Context, contract_only: bool
) -> tuple[tuple[Rule, ...], dict]:
    """Rules checked and ``{check: sorted row positions}`` of the failing rows.

    pandera first checks the contract alone (columns and dtypes, no data read); then the
    rules run in one polars pass (:func:`_all_pass`). Only when a row fails does pandera
    run the rules as its checks and report the failing rows — on a compact frame (its
    :attr:`Kind.ids` as ``Binary``) over a copy with those ids, and the context's, as hex
    text, since pandera's failure report cannot carry bytes (hex text compares as the
    bytes do). Clean frames, the usual case, are read once."""
    compact = _compact(frame, kind)
    pandera_schema, rules = schema(kind, contract_only=contract_only, compact=compact, **context)
    _validate(pandera_schema, frame, kind, set(), ValidationDepth.SCHEMA_ONLY)
    if not rules or _all_pass(frame, rules, context):
        return rules, {}
    if compact:
        frame, context = _hex_ids(frame, kind), _hex_context(context)
        pandera_schema, rules = schema(kind, contract_only=contract_only, **context)
    names = {r.check for r in rules}
    cases = _validate(pandera_schema, frame, kind, names, ValidationDepth.SCHEMA_AND_DATA)
    if cases is None:
        return rules, {}
    rows = {
        check: sorted(set(idx))
        for check, idx in cases.group_by("check").agg(pl.col("index").cast(pl.Int64)).iter_rows()
    }
    return rules, rows


def _validate(
    pandera_schema: pa.DataFrameSchema,
    frame: pl.DataFrame,
    kind: str,
    names: set[str],
    depth: ValidationDepth,
) -> pl.DataFrame | None:
    """pandera's failure cases of ``frame`` at ``depth`` (None when it passes); raises
    :class:`FrameSchemaError` for a failure that is not one of the rules ``names``."""
    with config_context(validation_enabled=True, validation_depth=depth):
        try:
            pandera_schema.validate(frame, lazy=True)
        except SchemaErrors as exc:
            cases = exc.failure_cases
        else:
            return None
    broken = cases.filter(~pl.col("check").is_in(list(names)) | pl.col("index").is_null())
    # a wrong column makes the rules that read it fail too: name the column, not them
    contract = broken.filter(~pl.col("check").is_in(list(names)))
    contract = contract if contract.height else broken
    if contract.height:
        problems = "; ".join(
            f"{col or 'frame'}: {check} (got {case})"
            for col, check, case in contract.select("column", "check", "failure_case")
            .unique(maintain_order=True)
            .iter_rows()
        )
        raise FrameSchemaError(
            f"{kind} frame does not match its query schema ({problems}); timestamps must be "
            "Datetime('us', 'UTC') and every column of the schema present"
        )
    return cases


def screen_rows(
    frame: pl.DataFrame, kind: str, *, contract_only: bool = False, **context: Any
) -> Result:
    """:func:`screen` with the failing row positions of each rule (for :class:`Screening`).

    A derived column of the kind (:class:`Kind`) that ``frame`` lacks is computed once
    for all rules and left out of the result; one that ``frame`` carries is kept."""
    derived = {} if contract_only else KINDS[kind].derived if kind in KINDS else {}
    added = [name for name in derived if name not in frame.columns]
    if added:
        frame = frame.with_columns(derived[name](frame).alias(name) for name in added)
    rules, failing = _failures(frame, kind, context, contract_only)
    dropped: set[int] = set()
    failures: list[tuple[Rule, list[int]]] = []
    nulled: dict[str, set[int]] = {}
    for rule in rules:
        rows = [i for i in failing.get(rule.check, []) if i not in dropped]
        if rule.action == "drop":
            dropped.update(rows)
        elif rule.action == "null" and rule.column:
            nulled.setdefault(rule.column, set()).update(rows)
        if rows:
            failures.append((rule, rows))
    out = frame
    if nulled:
        out = out.with_columns(
            pl.when(pl.Series([i in rows for i in range(frame.height)], dtype=pl.Boolean))
            .then(None)
            .otherwise(pl.col(column))
            .alias(column)
            for column, rows in nulled.items()
        )
    if dropped:
        out = out.filter(pl.Series([i not in dropped for i in range(frame.height)]))
    return Result(out.drop(added), failures)


def screen(
    frame: pl.DataFrame, kind: str, *, contract_only: bool = False, **context: Any
) -> tuple[pl.DataFrame, list[DataQualityFinding]]:
    """Validate ``frame`` as a ``kind`` frame; return it without the rows that would
    corrupt metrics, and one finding per rule with failing rows.

    ``kind`` is a key of :data:`KINDS`; ``context`` the parent ids a rule needs
    (``users``, ``sessions``, ``flows``: iterables of ids; ``nodes``: node ids of the
    flow; ``structures``: ``{tree_id: node ids}``) — a rule whose context is missing
    or None is skipped; ``contract_only`` checks columns and dtypes only (for a
    frame a page reads for names alone). ``drop`` rules remove rows, ``null`` rules
    set the faulty value to null, ``keep`` rules only count (module docstring). Raises
    :class:`FrameSchemaError` when the frame's columns or dtypes are not its kind's
    (e.g. a naive timestamp), never for faulty rows.
    """
    result = screen_rows(frame, kind, contract_only=contract_only, **context)
    return result.frame, result.findings


def flow_nodes(flow_trees: pl.DataFrame) -> dict[str, set[str]]:
    """``{tree_id: node ids}`` of the flows of a ``flow_trees`` frame whose
    ``tree_structure`` is readable (the ``structures`` context of ``option_sessions``)."""
    nodes = {
        tree_id: structure_nodes(text)
        for tree_id, text in flow_trees.select("tree_id", "tree_structure").iter_rows()
    }
    return {tree_id: ids for tree_id, ids in nodes.items() if ids is not None}


UNREADABLE: dict[str, tuple[str, str]] = {
    "ratings": (
        "rating_unreadable_date",
        "CSAT ratings whose created_at is not a readable timestamp (other text in the "
        "database); in no window, left out of every number",
    ),
    "ai_sessions": (
        "ai_unreadable_value",
        "AI sessions with a value the database holds as other text: a created_at that is "
        "not a readable timestamp (any date; in no window, left out), or in the window a "
        "step_count, session_rating, match_confidence or resolved_at that is not a number "
        "or timestamp (read as missing)",
    ),
    "psa_posts": (
        "psa_unreadable_value",
        "PSA posts with a value the database holds as other text: a posted_at that is not "
        "a readable timestamp (any date; in no window or funnel, left out), or in the "
        "window a retry_count or hours that is not a number (read as missing)",
    ),
    "proposals": (
        "proposal_unreadable_date",
        "flow proposals whose created_at or reviewed_at is not a readable timestamp "
        "(other text in the database; any date); left out of the proposal counts",
    ),
}
"""Findings for values stored with the wrong type (SQLite, issue 16 §12), by frame kind:
``(check, description)``. Their rows are counted by the ``unreadable_*_query`` builders
(:mod:`rfa.queries.storage`), not by a row rule: a row whose date cannot be read is in no
window, so no frame of the page holds it. Reported with :meth:`Screening.unreadable`."""


class Screening:
    """Screens the frames of one page and adds up their findings.

    ``frame = screening(frame, kind, **context)`` screens one frame (see
    :func:`screen`); :attr:`findings` lists every rule with failing rows over all
    frames screened so far, in first-seen order. A row that two frames share
    (same kind key, e.g. a PSA post in two frames) is counted once.
    """

    def __init__(self) -> None:
        self._found: dict[str, tuple[str, set]] = {}
        self._frames = 0

    def __call__(
        self, frame: pl.DataFrame, kind: str, *, contract_only: bool = False, **context: Any
    ) -> pl.DataFrame:
        result = screen_rows(frame, kind, contract_only=contract_only, **context)
        key = KINDS[kind].key
        self._frames += 1
        for rule, rows in result.failures:
            keys = frame[key].gather(rows).to_list() if key else [(self._frames, i) for i in rows]
            _, seen = self._found.setdefault(rule.check, (rule.description, set()))
            seen.update((kind, k) for k in keys)
        return result.frame

    def unreadable(self, kind: str, count: int) -> None:
        """Report ``count`` rows of ``kind`` holding values the database stores with the
        wrong type (:data:`UNREADABLE`; counted by an ``unreadable_*_query``). Nothing is
        reported for 0. Raises ``KeyError`` naming the accepted kinds."""
        if kind not in UNREADABLE:
            raise KeyError(
                f"no unreadable-value finding for {kind!r}; accepted: {', '.join(UNREADABLE)}"
            )
        if count > 0:
            check, description = UNREADABLE[kind]
            self._found[check] = (description, {(kind, ("unreadable", i)) for i in range(count)})

    @property
    def findings(self) -> list[DataQualityFinding]:
        return [
            DataQualityFinding(check=check, count=len(rows), description=description)
            for check, (description, rows) in self._found.items()
        ]
