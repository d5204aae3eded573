"""Deterministic, vectorised benchmark data: N sessions of one account, on SQLite and PostgreSQL.

One big account (``bench-msp``: 200 flows, 300 users) holds ``N`` troubleshooting sessions
started in the 90-day window ending at :data:`AS_OF` **and** ``N`` more in the 90 days
before it (so the window holds exactly ``N`` and the previous window is real data too).
A tiny second account (``bench-tiny``) makes tenant scoping do real work. In proportion
to the sessions: CSAT ratings (~30 % of completed sessions), step thumbs (~8 % of steps),
FlowPilot AI sessions (20 % of N per window) with their steps, hand-offs and PSA post
logs, and flow proposals. The data is clean (no faulty rows), so the seed pattern and the
library must agree to the last session.

Everything is generated with numpy/polars in chunks of :data:`CHUNK` sessions (no Python
loop over rows), from ``numpy.random.default_rng([seed, stream, chunk])``: the same
``(n, seed, GENERATOR_VERSION)`` always gives the same bytes.

Storage formats. Rows are bulk-written, bypassing SQLAlchemy, so they are written in the
exact formats :mod:`rfa.db` writes (checked by :func:`verify_sqlite_format` on every
SQLite build): on SQLite ids are ``CHAR(32)`` hex without dashes (``sa.Uuid`` on a
non-native backend), timestamps naive UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``
(:class:`rfa.db.UTCDateTime`), booleans 0/1, JSON as ``json.dumps`` text; on PostgreSQL
``COPY … FROM STDIN (FORMAT csv)`` into ``uuid``/``timestamptz``/``jsonb`` columns. Node
ids inside ``decisions`` and ``tree_structure`` are canonical dashed UUIDs, like the demo's.

Caching: SQLite files live in ``bench/data/sqlite/`` and PostgreSQL databases in a
persistent cluster in ``bench/data/pg/`` (one database per key), both keyed by
``n{N}-s{seed}-v{GENERATOR_VERSION}``; a later run reuses them.

CLI: ``python -m bench.generate --n 10000 [--seed 42] [--backend sqlite|postgresql|both]
[--verify]`` builds (or reuses) one scale and, with ``--verify``, checks that the team
page counts exactly N sessions on each backend.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib.util
import io
import json
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rfa import db

GENERATOR_VERSION = 1
"""Bump when the generated data changes: cached databases of other versions are rebuilt."""
CHUNK = 500_000
"""Sessions generated (and loaded) per chunk; part of the data's definition."""
AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
AS_OF_TEXT = "2026-06-01"
PERIOD = "90d"
WINDOW_DAYS = 90
MAIN_SLUG = "bench-msp"
TINY_SLUG = "bench-tiny"
TINY_SESSIONS = 150
"""Sessions of the tiny account per window."""
DEFAULT_SEED = 42

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data"
SQLITE_DIR = DATA_DIR / "sqlite"
PG_DIR = DATA_DIR / "pg"

_US = 1_000_000
_DAY_US = 86_400 * _US
_MIN_US = 60 * _US
UTC_US = pl.Datetime("us", "UTC")
MAIN_SLOTS = 9
"""Nodes on a flow's main path (root question … solution leaf)."""
SIDE_SLOTS = MAIN_SLOTS - 1
"""One side branch (leaf or action) under each non-leaf main node."""
NODES_PER_FLOW = MAIN_SLOTS + SIDE_SLOTS

DOMAINS = (
    "email", "network", "printing", "vpn", "accounts",
    "hardware", "backup", "security", "software", "phones",
)  # fmt: skip
OUTCOMES = ("resolved", "workaround", "escalated", "unresolved")
OUTCOME_P = (0.60, 0.15, 0.17, 0.08)
AI_STATUSES = ("resolved", "escalated", "requesting_escalation", "abandoned", "active")
AI_STATUS_P = (0.55, 0.12, 0.03, 0.15, 0.15)
TIERS = ("guided", "exploring", "discovery")
CHOICES = ("Yes", "No", "Not sure", "Done", "Skipped", "Restarted", "Other")
COMMENTS = (
    "Worked first time",
    "Step 3 was confusing",
    "Saved me a call to the vendor",
    "Needs a screenshot for the admin console",
    "Too many steps for a simple fix",
    "Great flow, clear wording",
    "The registry path is outdated",
    "Escalated anyway, but the checks helped",
    "Customer was happy",
    "Could not find the setting described",
)
PROPOSAL_STATUSES = ("pending", "approved", "modified", "rejected", "dismissed")
PROPOSAL_P = (0.30, 0.30, 0.10, 0.20, 0.10)


@dataclasses.dataclass(frozen=True)
class Spec:
    """One benchmark data set: ``n`` sessions in the window (and ``n`` before it)."""

    n: int
    seed: int = DEFAULT_SEED

    @property
    def key(self) -> str:
        return f"n{self.n}-s{self.seed}-v{GENERATOR_VERSION}"

    @property
    def sqlite_path(self) -> Path:
        return SQLITE_DIR / f"bench-{self.key}.sqlite"

    @property
    def sqlite_url(self) -> str:
        return f"sqlite:///{self.sqlite_path}"

    @property
    def pg_database(self) -> str:
        return "rfa_bench_" + self.key.replace("-", "_")


def label(n: int) -> str:
    """10000 → ``10k``, 1000000 → ``1M``."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def parse_scale(text: str) -> int:
    """``10k`` / ``1M`` / ``5_000_000`` → an int."""
    t = text.strip().lower().replace("_", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def window_bounds(previous: bool = False) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` of the benchmark window (or of the 90 days before it)."""
    end = AS_OF - dt.timedelta(days=WINDOW_DAYS) if previous else AS_OF
    return end - dt.timedelta(days=WINDOW_DAYS), end


# ----------------------------------------------------------------------------- helpers


def _us(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * _US


def uuids(rng: np.random.Generator, n: int) -> pl.Series:
    """``n`` random version-4 UUIDs as canonical dashed strings (vectorised)."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    arr = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(raw)])
    h = pl.Series("id", pl.from_arrow(arr)).bin.encode("hex")
    return pl.select(
        pl.concat_str(
            [h.str.slice(0, 8), h.str.slice(8, 4), h.str.slice(12, 4), h.str.slice(16, 4),
             h.str.slice(20, 12)],
            separator="-",
        ).alias("id")
    ).to_series()  # fmt: skip


def apportion(m: int, weights: np.ndarray) -> np.ndarray:
    """Split ``m`` into integer counts proportional to ``weights`` (largest remainder)."""
    q = m * weights / weights.sum()
    base = np.floor(q).astype(np.int64)
    rest = m - int(base.sum())
    order = np.argsort(-(q - base), kind="stable")
    base[order[:rest]] += 1
    return base


def _assign(rng: np.random.Generator, m: int, weights: np.ndarray) -> np.ndarray:
    """Exactly-apportioned indices into ``weights``, shuffled: rankings have clear gaps."""
    return rng.permutation(np.repeat(np.arange(len(weights)), apportion(m, weights)))


def _ts(values_us: np.ndarray) -> pl.Series:
    return pl.Series(values_us.astype(np.int64)).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _pick(labels: tuple[str, ...], idx: np.ndarray) -> pl.Series:
    return pl.Series(list(labels), dtype=pl.String).gather(idx)


def _lognormal_us(rng: np.random.Generator, median_min: np.ndarray | float, sigma: float, n: int):
    return (np.asarray(median_min) * np.exp(sigma * rng.standard_normal(n)) * _MIN_US).astype(
        np.int64
    )


def _null_where(series: pl.Series, present: np.ndarray) -> pl.Series:
    return pl.select(pl.when(pl.Series(present)).then(series)).to_series().alias(series.name)


def chunk_sizes(n: int) -> list[int]:
    return [CHUNK] * (n // CHUNK) + ([n % CHUNK] if n % CHUNK else [])


# ----------------------------------------------------------------------------- accounts


@dataclasses.dataclass
class Account:
    """One generated account: its static rows and what sessions are drawn from."""

    index: int
    id: str
    slug: str
    n: int  # sessions per window
    user_ids: pl.Series
    runner_idx: np.ndarray  # users who run sessions (not viewers)
    runner_w: np.ndarray
    flow_ids: pl.Series
    flow_w: np.ndarray
    flow_domain: np.ndarray  # index into DOMAINS
    node_ids: pl.Series  # NODES_PER_FLOW per flow: MAIN_SLOTS main nodes, then side nodes
    completion_p: np.ndarray
    duration_min: np.ndarray
    static: dict[str, pl.DataFrame]

    def chunks(self) -> list[tuple[int, int, int]]:
        """``(window, chunk index, sessions)``: window 0 is the benchmark window, 1 before it."""
        return [(w, c, m) for w in (0, 1) for c, m in enumerate(chunk_sizes(self.n))]


def _structure(node_ids: list[str], domain: str, flow_no: int) -> dict:
    """A nested ``tree_structure``: a main path of questions and actions with one side
    branch per node, ``{id, type, question|title, option, children}`` like the demo's."""
    main, side = node_ids[:MAIN_SLOTS], node_ids[MAIN_SLOTS:]

    def side_node(j: int) -> dict:
        return {
            "id": side[j],
            "type": "escalation" if j % 3 == 2 else "solution",
            "title": f"{domain.title()} fix {flow_no}.{j + 1}",
            "option": "No",
            "children": [],
        }

    node: dict = {
        "id": main[-1],
        "type": "solution",
        "title": f"{domain.title()} resolved ({flow_no})",
        "option": "Yes",
        "children": [],
    }
    for j in range(MAIN_SLOTS - 2, -1, -1):
        kind = "question" if j % 2 == 0 else "action"
        text_key = "question" if kind == "question" else "title"
        parent = {
            "id": main[j],
            "type": kind,
            text_key: f"{domain.title()} step {j + 1} of flow {flow_no}",
            "children": [node, side_node(j)],
        }
        if j:
            parent["option"] = "Yes"
        node = parent
    return node


def make_account(spec: Spec, index: int) -> Account:
    """Static rows (account, users, flows, proposals) and the drawing weights."""
    tiny = index == 1
    rng = np.random.default_rng([spec.seed, index, 0])
    id_rng = np.random.default_rng([spec.seed, index, 1])
    n = TINY_SESSIONS if tiny else spec.n
    n_users, n_flows = (6, 3) if tiny else (300, 200)
    slug = TINY_SLUG if tiny else MAIN_SLUG
    account_id = uuids(id_rng, 1)[0]

    user_ids = uuids(id_rng, n_users)
    roles = np.full(n_users, "engineer", dtype=object)
    roles[0] = "super_admin"
    roles[1 : 1 + max(1, n_users // 30)] = "team_admin"
    n_viewers = 1 if tiny else 10
    roles[n_users - n_viewers :] = "viewer"
    runner_idx = np.flatnonzero(roles != "viewer")
    rank = rng.permutation(len(runner_idx))
    runner_w = 1.0 / (rank + 3.0) ** 0.9
    users = pl.DataFrame(
        {
            "id": user_ids,
            "account_id": [account_id] * n_users,
            "name": [f"{slug.split('-')[0].title()} Engineer {i:03d}" for i in range(n_users)],
            "email": [f"engineer{i:03d}@{slug}.example" for i in range(n_users)],
            "role": roles.tolist(),
            "is_team_admin": (roles == "team_admin").tolist(),
            "is_super_admin": (roles == "super_admin").tolist(),
        }
    )

    flow_ids = uuids(id_rng, n_flows)
    node_ids = uuids(id_rng, n_flows * NODES_PER_FLOW)
    flow_rank = rng.permutation(n_flows)
    flow_w = 1.0 / (flow_rank + 1.0)
    flow_domain = rng.integers(0, len(DOMAINS), n_flows)
    completion_p = np.clip(0.8 + 0.08 * rng.standard_normal(n_flows), 0.55, 0.97)
    duration_min = rng.uniform(5.0, 25.0, n_flows)
    # usage_count = sessions per flow over both windows (the apportionment is exact)
    usage = sum(apportion(m, flow_w) for _w, _c, m in _chunks_of(n))
    nodes = node_ids.to_list()
    structures = [
        json.dumps(
            _structure(
                nodes[f * NODES_PER_FLOW : (f + 1) * NODES_PER_FLOW], DOMAINS[flow_domain[f]], f
            )
        )
        for f in range(n_flows)
    ]
    origin = np.array(["manual", "ai_generated", "ai_enhanced"], dtype=object)[
        np.searchsorted(np.cumsum([0.8, 0.12, 0.08]), rng.random(n_flows), side="right").clip(0, 2)
    ]
    created = _us(AS_OF) - 400 * _DAY_US + rng.integers(0, 200 * _DAY_US, n_flows)
    trees = pl.DataFrame(
        {
            "id": flow_ids,
            "account_id": [account_id] * n_flows,
            "name": [
                f"{DOMAINS[flow_domain[f]].title()} troubleshooting {f:03d}" for f in range(n_flows)
            ],
            "tree_type": np.where(rng.random(n_flows) < 0.8, "troubleshooting", "procedural"),
            "origin": origin.tolist(),
            "tree_structure": structures,
            "usage_count": usage.astype(np.int64),
            "created_at": _ts(created),
        }
    )

    n_prop = 6 if tiny else max(40, 2 * n // 5000)
    p_created = _us(AS_OF) - rng.integers(0, 2 * WINDOW_DAYS * _DAY_US, n_prop)
    p_status = rng.choice(len(PROPOSAL_STATUSES), n_prop, p=PROPOSAL_P)
    reviewed = p_created + rng.integers(_DAY_US // 4, 10 * _DAY_US, n_prop)
    reviewed_ok = (p_status != 0) & (reviewed < _us(AS_OF))
    proposals = pl.DataFrame(
        {
            "id": uuids(id_rng, n_prop),
            "account_id": [account_id] * n_prop,
            "status": _pick(PROPOSAL_STATUSES, p_status),
            "proposal_type": np.where(rng.random(n_prop) < 0.7, "new_flow", "flow_update"),
            "problem_domain": _pick(DOMAINS, rng.integers(0, len(DOMAINS), n_prop)),
            "created_at": _ts(p_created),
            "reviewed_at": _null_where(_ts(reviewed), reviewed_ok),
        }
    )
    accounts = pl.DataFrame(
        {
            "id": [account_id],
            "name": ["Bench Tiny IT" if tiny else "Bench MSP"],
            "slug": [slug],
            "timezone": ["UTC"],
        }
    )
    return Account(
        index=index,
        id=account_id,
        slug=slug,
        n=n,
        user_ids=user_ids,
        runner_idx=runner_idx,
        runner_w=runner_w,
        flow_ids=flow_ids,
        flow_w=flow_w,
        flow_domain=flow_domain,
        node_ids=node_ids,
        completion_p=completion_p,
        duration_min=duration_min,
        static={
            "accounts": accounts,
            "users": users,
            "trees": trees,
            "flow_proposals": proposals,
        },
    )


def _chunks_of(n: int) -> list[tuple[int, int, int]]:
    return [(w, c, m) for w in (0, 1) for c, m in enumerate(chunk_sizes(n))]


# ----------------------------------------------------------------------------- sessions


def _decisions(
    rng: np.random.Generator, acc: Account, flow: np.ndarray, steps: np.ndarray, branch: np.ndarray
) -> tuple[pl.Series, dict[str, np.ndarray | pl.Series]]:
    """Decisions JSON text per session (``json.dumps`` format) and the flat decisions.

    A session walks its flow's main path for ``steps`` decisions; a branching session
    ends on the side node of its second-to-last main node instead.
    """
    m, total = len(steps), int(steps.sum())
    offsets = np.concatenate([[0], np.cumsum(steps)[:-1]])
    session = np.repeat(np.arange(m), steps)
    position = np.arange(total) - np.repeat(offsets, steps)
    last = position == np.repeat(steps - 1, steps)
    to_side = np.repeat(branch, steps) & last
    slot = np.where(to_side, MAIN_SLOTS + position - 1, position)
    node = acc.node_ids.gather(np.repeat(flow, steps) * NODES_PER_FLOW + slot)
    choice = _pick(CHOICES, rng.integers(0, len(CHOICES), total))
    frame = pl.DataFrame({"s": session, "node": node, "choice": choice}).select(
        "s",
        pl.concat_str(
            [pl.lit('{"node_id": "'), "node", pl.lit('", "choice": "'), "choice", pl.lit('"}')]
        ).alias("e"),
    )
    text = (
        frame.group_by("s", maintain_order=True)
        .agg(pl.col("e").str.join(", "))
        .select(pl.concat_str([pl.lit("["), "e", pl.lit("]")]).alias("decisions"))
        .to_series()
    )
    return text, {"session": session, "position": position, "node": node}


def session_chunk(spec: Spec, acc: Account, window: int, chunk: int, m: int):
    """All rows that hang off ``m`` sessions of one chunk: a dict of table → frame."""
    rng = np.random.default_rng([spec.seed, acc.index, 100 + window, chunk])
    id_rng = np.random.default_rng([spec.seed, acc.index, 200 + window, chunk])
    start, end = window_bounds(previous=window == 1)
    t0, span = _us(start), _us(end) - _us(start)

    flow = _assign(rng, m, acc.flow_w)
    user = acc.runner_idx[_assign(rng, m, acc.runner_w)]
    started = t0 + rng.integers(0, span, m)
    completed = rng.random(m) < acc.completion_p[flow]
    duration = _lognormal_us(rng, acc.duration_min[flow], 0.7, m) + 30 * _US
    finished = started + duration
    outcome = rng.choice(len(OUTCOMES), m, p=OUTCOME_P)
    steps = rng.integers(3, 9, m)
    branch = rng.random(m) < 0.3
    decisions, flat = _decisions(rng, acc, flow, steps, branch)
    session_ids = uuids(id_rng, m)
    tree_ids = acc.flow_ids.gather(flow)
    user_ids = acc.user_ids.gather(user)
    sessions = pl.DataFrame(
        {
            "id": session_ids,
            "tree_id": tree_ids,
            "user_id": user_ids,
            "started_at": _ts(started),
            "completed_at": _null_where(_ts(finished), completed),
            "outcome": _null_where(_pick(OUTCOMES, outcome), completed),
            "decisions": decisions,
        }
    )

    # CSAT: ~30 % of completed sessions, rated by the engineer who ran it
    rated = np.flatnonzero(completed & (rng.random(m) < 0.3))
    r = len(rated)
    rating = rng.choice(5, r, p=(0.05, 0.07, 0.15, 0.33, 0.40)) + 1
    has_comment = rng.random(r) < 0.25
    ratings = pl.DataFrame(
        {
            "id": uuids(id_rng, r),
            "session_id": session_ids.gather(rated),
            "user_id": user_ids.gather(rated),
            "tree_id": tree_ids.gather(rated),
            "account_id": [acc.id] * r,
            "rating": rating.astype(np.int64),
            "comment": _null_where(_pick(COMMENTS, rng.integers(0, len(COMMENTS), r)), has_comment),
            "created_at": _ts(finished[rated] + rng.integers(10 * _US, 120 * _MIN_US, r)),
        }
    )

    # step thumbs: ~8 % of decisions (one per node and session: no revisits)
    thumb = np.flatnonzero(rng.random(len(flat["session"])) < 0.08)
    t = len(thumb)
    of = flat["session"][thumb]
    step_ratings = pl.DataFrame(
        {
            "id": uuids(id_rng, t),
            "step_id": flat["node"].gather(thumb),
            "user_id": user_ids.gather(of),
            "session_id": session_ids.gather(of),
            "was_helpful": rng.random(t) < 0.72,
            "rating": pl.Series([None] * t, dtype=pl.Int64),
            "created_at": _ts(started[of] + (flat["position"][thumb] + 1) * 45 * _US),
        }
    )
    return {
        "sessions": sessions,
        "session_ratings": ratings,
        "step_ratings": step_ratings,
        **ai_chunk(rng, id_rng, acc, m // 5, t0, span),
    }


def ai_chunk(rng, id_rng, acc: Account, k: int, t0: int, span: int) -> dict[str, pl.DataFrame]:
    """``k`` FlowPilot sessions with their steps, hand-offs and PSA post logs."""
    ids = uuids(id_rng, k)
    matched = rng.random(k) < 0.7
    flow = rng.choice(len(acc.flow_w), k, p=acc.flow_w / acc.flow_w.sum())
    user = acc.runner_idx[rng.choice(len(acc.runner_w), k, p=acc.runner_w / acc.runner_w.sum())]
    status = rng.choice(len(AI_STATUSES), k, p=AI_STATUS_P)
    domain = np.where(matched, acc.flow_domain[flow], rng.integers(0, len(DOMAINS), k))
    has_domain = matched | (rng.random(k) >= 0.05)
    tier = np.where(
        matched,
        rng.choice(3, k, p=(0.6, 0.3, 0.1)),
        rng.choice(3, k, p=(0.2, 0.3, 0.5)),
    )
    step_count = rng.integers(1, 15, k)
    linked = rng.random(k) < 0.45
    created = t0 + rng.integers(0, span, k)
    resolved = status == 0
    resolved_at = created + _lognormal_us(rng, 20.0, 0.8, k) + _MIN_US
    sessions = pl.DataFrame(
        {
            "id": ids,
            "account_id": [acc.id] * k,
            "user_id": acc.user_ids.gather(user),
            "tree_id": _null_where(acc.flow_ids.gather(flow), matched),
            "status": _pick(AI_STATUSES, status),
            "problem_domain": _null_where(_pick(DOMAINS, domain), has_domain),
            "confidence_tier": _pick(TIERS, tier),
            "step_count": step_count.astype(np.int64),
            "session_rating": _null_where(
                pl.Series(rng.integers(1, 6, k), dtype=pl.Int64), rng.random(k) < 0.35
            ),
            "psa_ticket_id": _null_where(
                pl.select(
                    pl.format("T-{}", pl.lit(pl.Series(rng.integers(100_000, 1_000_000, k))))
                ).to_series(),
                linked,
            ),
            "match_confidence": _null_where(pl.Series(rng.beta(5.0, 2.0, k)), matched),
            "created_at": _ts(created),
            "resolved_at": _null_where(_ts(resolved_at), resolved),
        }
    )

    # hand-offs of escalated sessions; most are claimed, and most claims see activity after
    esc = np.flatnonzero((status == 1) | (status == 2))
    h = len(esc)
    h_created = created[esc] + _lognormal_us(rng, 10.0, 0.6, h)
    claimed = rng.random(h) < 0.85
    claimed_at = h_created + _lognormal_us(rng, 4.0, 0.8, h)
    claimer = acc.runner_idx[rng.integers(0, len(acc.runner_idx), h)]
    handoffs = pl.DataFrame(
        {
            "id": uuids(id_rng, h),
            "ai_session_id": ids.gather(esc),
            "created_at": _ts(h_created),
            "claimed_at": _null_where(_ts(claimed_at), claimed),
            "claimed_by": _null_where(acc.user_ids.gather(claimer), claimed),
        }
    )

    # AI session steps: ~30 % of sessions log their steps, plus steps after each claim
    logged = np.flatnonzero(rng.random(k) < 0.3)
    n_logged = np.minimum(step_count[logged], 6)
    acted = np.flatnonzero(claimed & (rng.random(h) < 0.8))
    n_after = rng.integers(1, 4, len(acted))
    owner = np.concatenate([np.repeat(logged, n_logged), np.repeat(esc[acted], n_after)])
    base = np.concatenate(
        [np.repeat(created[logged], n_logged), np.repeat(claimed_at[acted], n_after)]
    )
    counts = np.concatenate([n_logged, n_after])
    gaps = _lognormal_us(rng, 1.5, 0.6, int(counts.sum()))
    run_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    cum = np.cumsum(gaps)
    within = cum - np.repeat(cum[run_start] - gaps[run_start], counts)
    steps = pl.DataFrame(
        {
            "id": uuids(id_rng, len(owner)),
            "ai_session_id": ids.gather(owner),
            "created_at": _ts(base + within),
        }
    )

    # PSA post logs of linked sessions: ticket notes, docs of resolved ones, time entries
    parts = []
    for post_type, p, extra in (
        ("ticket_note", 0.9, None),
        ("doc", 0.6, resolved),
        ("time_entry", 0.55, None),
    ):  # noqa: E501
        sel = linked & (rng.random(k) < p)
        if extra is not None:
            sel &= extra
        idx = np.flatnonzero(sel)
        q = len(idx)
        ok = rng.random(q) < 0.92
        retries = np.where(ok, np.where(rng.random(q) < 0.15, rng.integers(1, 3, q), 0), 3)
        when = np.where(resolved[idx], resolved_at[idx], created[idx]) + rng.integers(
            30 * _US, 30 * _MIN_US, q
        )
        hours = rng.choice(np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0]), q)
        parts.append(
            pl.DataFrame(
                {
                    "id": uuids(id_rng, q),
                    "ai_session_id": ids.gather(idx),
                    "post_type": [post_type] * q,
                    "status": np.where(ok, "success", "failed"),
                    "retry_count": retries.astype(np.int64),
                    "hours": pl.Series(hours if post_type == "time_entry" else [None] * q,
                                       dtype=pl.Float64),
                    "posted_at": _ts(when),
                }
            )
        )  # fmt: skip
    return {
        "ai_sessions": sessions,
        "ai_session_steps": steps,
        "session_handoffs": handoffs,
        "psa_post_logs": pl.concat(parts),
    }


def batches(spec: Spec) -> Iterator[tuple[str, dict[str, pl.DataFrame], int]]:
    """Every row of the data set as ``(label, {table: frame}, sessions in it)`` batches:
    first both accounts' static rows, then the chunks of sessions."""
    accounts = [make_account(spec, 0), make_account(spec, 1)]
    for acc in accounts:
        yield f"{acc.slug} static", acc.static, 0
    for acc in accounts:
        for window, chunk, m in acc.chunks():
            name = f"{acc.slug} {'window' if window == 0 else 'previous'} chunk {chunk}"
            yield name, session_chunk(spec, acc, window, chunk, m), m


def total_sessions(spec: Spec) -> int:
    """Rows of ``sessions`` in the data set (both accounts, both windows)."""
    return 2 * (spec.n + TINY_SESSIONS)


# ----------------------------------------------------------------------------- loaders


def _kind(column: sa.Column) -> str:
    t = column.type
    if isinstance(t, sa.Uuid):
        return "uuid"
    if isinstance(t, db.UTCDateTime):
        return "timestamp"
    return "plain"


def sqlite_frame(table: sa.Table, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` in SQLite's storage format for ``table`` (what SQLAlchemy writes)."""
    exprs = []
    for column in table.columns:
        c = pl.col(column.name)
        kind = _kind(column)
        if kind == "uuid":
            c = c.str.replace_all("-", "", literal=True)
        elif kind == "timestamp":
            c = c.dt.strftime("%Y-%m-%d %H:%M:%S%.6f")
        exprs.append(c)
    return frame.select(exprs)


class SqliteLoader:
    """Bulk-load into a fresh SQLite file made by :func:`rfa.db.init_db`.

    One transaction, ``journal_mode=OFF``, ``synchronous=OFF``; secondary indexes are
    dropped first and rebuilt at the end (with ``ANALYZE``), as their SQL was."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        db.init_db(f"sqlite:///{path}")
        self.con = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "cache_size=-1000000",
            "temp_store=MEMORY",
            "locking_mode=EXCLUSIVE",
        ):
            self.con.execute(f"PRAGMA {pragma}")
        self.indexes = self.con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).fetchall()
        self.con.execute("BEGIN")
        for name, _sql in self.indexes:
            self.con.execute(f'DROP INDEX "{name}"')

    def load(self, tables: dict[str, pl.DataFrame]) -> None:
        for table in db.TABLES:
            frame = tables.get(table.name)
            if frame is None or frame.height == 0:
                continue
            out = sqlite_frame(table, frame)
            cols = ", ".join(out.columns)
            marks = ", ".join("?" * out.width)
            self.con.executemany(
                f"INSERT INTO {table.name} ({cols}) VALUES ({marks})", out.iter_rows()
            )

    def finish(self) -> None:
        for _name, sql in self.indexes:
            self.con.execute(sql)
        self.con.execute("COMMIT")
        self.con.execute("ANALYZE")
        self.con.close()


class PostgresLoader:
    """Bulk-load into a fresh database with ``COPY … FROM STDIN (FORMAT csv)`` (psycopg 3).

    The schema comes from :func:`rfa.db.init_db`; its constraints and indexes are
    dropped before loading and re-created from their own definitions afterwards
    (``pg_get_constraintdef``/``pg_indexes``), then ``VACUUM (ANALYZE)``."""

    CSV_ROWS = 100_000

    def __init__(self, server, database: str) -> None:
        import psycopg

        self.server, self.database = server, database
        server.drop_database(database)
        self.url = server.create_database(database)
        db.init_db(self.url)
        self.conn = psycopg.connect(
            host=server.host, port=server.port, user=server.superuser, dbname=database
        )
        self.conn.execute("SET TIME ZONE 'UTC'")
        self.conn.execute("SET maintenance_work_mem = '1GB'")
        cons = self.conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype "
            "FROM pg_constraint WHERE connamespace = 'public'::regnamespace "
            "AND contype IN ('p', 'u', 'f')"
        ).fetchall()
        owned = {name for _t, name, _d, _k in cons}
        self.indexes = [
            (name, sql)
            for name, sql in self.conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            ).fetchall()
            if name not in owned
        ]
        self.keys = [c for c in cons if c[3] != "f"]
        self.foreign = [c for c in cons if c[3] == "f"]
        for table, name, _d, _k in self.foreign + self.keys:
            self.conn.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        for name, _sql in self.indexes:
            self.conn.execute(f'DROP INDEX "{name}"')

    def load(self, tables: dict[str, pl.DataFrame]) -> None:
        with self.conn.cursor() as cur:
            for table in db.TABLES:
                frame = tables.get(table.name)
                if frame is None or frame.height == 0:
                    continue
                cols = ", ".join(c.name for c in table.columns)
                frame = frame.select([c.name for c in table.columns])
                with cur.copy(f"COPY {table.name} ({cols}) FROM STDIN (FORMAT csv)") as copy:
                    for part in frame.iter_slices(self.CSV_ROWS):
                        buf = io.BytesIO()
                        part.write_csv(
                            buf,
                            include_header=False,
                            datetime_format="%Y-%m-%d %H:%M:%S%.6f+00",
                            null_value="",
                        )
                        copy.write(buf.getbuffer())

    def finish(self) -> None:
        for table, name, definition, _k in self.keys:
            self.conn.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        for _name, sql in self.indexes:
            self.conn.execute(sql)
        for table, name, definition, _k in self.foreign:
            self.conn.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        self.conn.commit()
        self.conn.autocommit = True
        self.conn.execute("VACUUM (ANALYZE)")
        self.conn.execute(f"COMMENT ON DATABASE \"{self.database}\" IS '{COMPLETE_MARK}'")
        self.conn.close()


COMPLETE_MARK = "rfa-bench complete"


# ----------------------------------------------------------------------------- PostgreSQL


def _postgres_module():
    """``tests/postgres_server.py``, imported by path (``tests`` is not a package)."""
    name = "rfa_bench_postgres_server"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "postgres_server.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


PG_SETTINGS = {
    "shared_buffers": "2GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "1GB",
    "effective_cache_size": "12GB",
    "max_wal_size": "16GB",
    "checkpoint_timeout": "30min",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "autovacuum": "on",
}
"""Added to the test server's settings (``fsync=off`` etc., see tests/postgres_server.py):
a cache sized for a 24 GB machine and cheap bulk loads. Queries run with defaults
otherwise (parallel workers, JIT)."""


_LOCK: object | None = None


def lock_data_dir() -> None:
    """Take ``bench/data/.lock`` for this process (idempotent): one benchmark run at a time
    may build caches in ``bench/data`` or run the persistent cluster. Raises
    ``RuntimeError`` naming the holder when another process has it."""
    global _LOCK
    if _LOCK is not None:
        return
    import fcntl

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    handle = open(DATA_DIR / ".lock", "a+")  # noqa: SIM115 (held for the process's life)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise RuntimeError(
            f"another benchmark run (pid {holder}) is using {DATA_DIR}; wait for it to end"
        ) from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    _LOCK = handle


def start_postgres(persistent: bool = True):
    """Start a PostgreSQL server for the benchmark.

    With ``persistent`` the cluster lives in ``bench/data/pg`` and is reused by later runs
    (its databases are the cache); this process must hold :func:`lock_data_dir` (taken
    here), so no two runs share it. A server left running by a run that was killed is
    stopped first. The cluster is never deleted here (``rm -rf bench/data/pg`` does).
    Otherwise the server is a throwaway one, removed on stop. Returns a
    ``PostgresServer`` (``stop()`` keeps a persistent cluster's files).
    """
    mod = _postgres_module()

    class BenchPostgres(mod.PostgresServer):
        keep: bool = False

        def _initdb(self) -> None:
            super()._initdb()
            with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
                conf.write("# rfa bench\n")
                conf.writelines(f"{k} = '{v}'\n" for k, v in PG_SETTINGS.items())

        def _stop_orphan(self) -> None:
            """Stop a server a killed run left on our data directory (we hold the lock)."""
            pid_file = self.data_dir / "postmaster.pid"
            if not pid_file.exists():
                return
            self._run([self.bindir / "pg_ctl", "stop", "-D", self.data_dir, "-m", "fast", "-w"])

        def start_in(self, base: Path) -> BenchPostgres:
            self.account = mod._run_as_account()
            self.keep = True
            fresh = not (base / "data" / "PG_VERSION").exists()
            if fresh:  # never initialised (or initdb was interrupted): nothing to keep
                shutil.rmtree(base, ignore_errors=True)
                base.mkdir(parents=True)
                if self.account is not None:
                    os.chown(base, self.account.pw_uid, self.account.pw_gid)
                base.chmod(0o700)
            self.base_dir = base
            if fresh:
                self._initdb()
            else:
                self._stop_orphan()
            for _attempt in range(3):
                self.port = mod.free_port()
                result = self._run(
                    [self.bindir / "pg_ctl", "start", "-D", self.data_dir, "-l", self.log_file,
                     "-o", f"-p {self.port}", "-w", "-t", "120"]
                )  # fmt: skip
                if result.returncode == 0:
                    self.running = True
                    import atexit

                    atexit.register(self.stop)
                    return self
                if "could not bind" not in self._log_tail():
                    break
            tail = self._log_tail()
            self.base_dir = None
            raise mod.PostgresStartError(
                f"pg_ctl start failed in {base} (remove it to start afresh):\n"
                f"{result.stdout}\n{result.stderr}\n{tail}"
            )

        def stop(self) -> None:
            if not self.keep:
                return super().stop()
            if self.base_dir is None:
                return None
            if self.running:
                self._run([self.bindir / "pg_ctl", "stop", "-D", self.data_dir, "-m", "fast",
                           "-w"])  # fmt: skip
            self.running = False
            self.base_dir = None
            return None

    server = BenchPostgres(bindir=mod.find_bindir())
    if not persistent:
        return server.start()
    lock_data_dir()
    return server.start_in(PG_DIR)


def pg_version(server) -> str:
    with server.admin_connection() as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def _pg_complete(server, database: str) -> bool:
    with server.admin_connection() as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (database,),
        ).fetchone()
    return bool(row) and row[0] == COMPLETE_MARK


def drop_stale_databases(server, keep_versions: tuple[int, ...] = (GENERATOR_VERSION,)) -> None:
    """Drop benchmark databases of other generator versions (and unfinished ones)."""
    with server.admin_connection() as conn:
        rows = conn.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname LIKE 'rfa_bench_%'"
        ).fetchall()
    for name, comment in rows:
        version = name.rsplit("_v", 1)[-1]
        if comment != COMPLETE_MARK or not version.isdigit() or int(version) not in keep_versions:
            server.drop_database(name)


# ----------------------------------------------------------------------------- building


console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} sessions"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def ensure(spec: Spec, backends: tuple[str, ...], server=None) -> dict[str, dict]:
    """Build (or reuse) the data set on each backend; return per backend its URL, whether
    it was cached, and the generation / load / index timings in seconds."""
    lock_data_dir()
    out: dict[str, dict] = {}
    loaders: dict[str, object] = {}
    if "sqlite" in backends:
        info = {"url": spec.sqlite_url, "path": str(spec.sqlite_path), "cached": True}
        if not spec.sqlite_path.exists():
            info["cached"] = False
            loaders["sqlite"] = None
        out["sqlite"] = info
    if "postgresql" in backends:
        assert server is not None, "PostgreSQL needs a running server"
        info = {"url": server.url(spec.pg_database), "database": spec.pg_database, "cached": True}
        if not _pg_complete(server, spec.pg_database):
            info["cached"] = False
            loaders["postgresql"] = None
        out["postgresql"] = info
    for name, info in out.items():
        if info["cached"]:
            t = time.perf_counter()
            added = add_missing_indexes(info["url"])
            if added:
                info["indexes_added"] = added
                info["add_indexes_s"] = round(time.perf_counter() - t, 2)
                console.log(
                    f"n={label(spec.n)} {name}: added {', '.join(added)} to the cached data "
                    f"in {info['add_indexes_s']:.1f} s"
                )
    if not loaders:
        for name, info in out.items():
            info["size_mb"] = _size_mb(name, spec, server)
        return out

    tmp = spec.sqlite_path.with_suffix(".sqlite.tmp")
    timings = {name: {"load_s": 0.0} for name in loaders}
    gen_s = 0.0
    started = time.perf_counter()
    if "sqlite" in loaders:
        loaders["sqlite"] = SqliteLoader(tmp)
    if "postgresql" in loaders:
        loaders["postgresql"] = PostgresLoader(server, spec.pg_database)
    total = total_sessions(spec)
    with _progress() as progress:
        task = progress.add_task(f"n={label(spec.n)} → {', '.join(loaders)}", total=total)
        t = time.perf_counter()
        for _name, tables, m in batches(spec):
            gen_s += time.perf_counter() - t
            for name, loader in loaders.items():
                t = time.perf_counter()
                loader.load(tables)
                timings[name]["load_s"] += time.perf_counter() - t
            progress.advance(task, m)
            t = time.perf_counter()
    for name, loader in loaders.items():
        t = time.perf_counter()
        loader.finish()
        timings[name]["index_s"] = time.perf_counter() - t
    if "sqlite" in loaders:
        t = time.perf_counter()
        verify_sqlite_format(tmp)
        timings["sqlite"]["verify_s"] = time.perf_counter() - t
        tmp.replace(spec.sqlite_path)
    for name in loaders:
        out[name].update({k: round(v, 2) for k, v in timings[name].items()})
        out[name]["generate_s"] = round(gen_s, 2)
    for name, info in out.items():
        info["size_mb"] = _size_mb(name, spec, server)
    console.log(
        f"n={label(spec.n)}: generated in {gen_s:.1f} s, "
        + ", ".join(
            f"{name} load {timings[name]['load_s']:.1f} s"
            f" + indexes {timings[name]['index_s']:.1f} s"
            for name in loaders
        )
        + f" (wall {time.perf_counter() - started:.1f} s)"
    )
    return out


def add_missing_indexes(url: str) -> list[str]:
    """Create the indexes of :data:`rfa.db.metadata` that a cached data set lacks (the
    schema gained one after the set was built, e.g. ``ix_sessions_tree_started_cover``);
    return their names (none: nothing done). Indexes the schema no longer names are left
    in place (the planner ignores what it does not need)."""
    from rfa.db import create_engine, metadata

    engine = create_engine(url, read_only=False)
    added: list[str] = []
    try:
        with engine.begin() as conn:
            for table in metadata.sorted_tables:
                for index in sorted(table.indexes, key=lambda i: i.name or ""):
                    if not conn.dialect.has_index(conn, table.name, index.name):
                        index.create(conn)
                        added.append(index.name)
            if added and conn.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return added


def _size_mb(backend: str, spec: Spec, server) -> float | None:
    if backend == "sqlite":
        return round(spec.sqlite_path.stat().st_size / 2**20, 1)
    with server.admin_connection() as conn:
        size = conn.execute("SELECT pg_database_size(%s)", (spec.pg_database,)).fetchone()[0]
    return round(size / 2**20, 1)


# ----------------------------------------------------------------------------- verification


def verify_sqlite_format(path: Path, sample: int = 3) -> None:
    """Check that bulk-written rows are byte-identical to what SQLAlchemy writes.

    For every table, ``sample`` rows are read raw (``sqlite3``) and through SQLAlchemy
    (decoded by :mod:`rfa.db`'s types), re-inserted through SQLAlchemy into an
    in-memory copy of the schema and read back raw: every value must be identical in
    type and bytes. Raises ``AssertionError`` naming the first difference.
    """
    url = f"sqlite:///{path}"
    source = sa.create_engine(url)
    target = sa.create_engine("sqlite://")
    db.metadata.create_all(target)
    try:
        with source.connect() as src, target.begin() as dst:
            for table in db.TABLES:
                pk = table.primary_key.columns.values()[0]
                rows = src.execute(sa.select(table).order_by(pk).limit(sample)).mappings().all()
                if not rows:
                    continue
                dst.execute(table.insert(), [dict(r) for r in rows])
                order = f"ORDER BY {pk.name} LIMIT {sample}"
                raw_src = src.exec_driver_sql(f"SELECT * FROM {table.name} {order}").all()
                raw_dst = dst.exec_driver_sql(f"SELECT * FROM {table.name} {order}").all()
                for a, b in zip(raw_src, raw_dst, strict=True):
                    for col, x, y in zip(table.columns, a, b, strict=True):
                        if type(x) is not type(y) or x != y:
                            raise AssertionError(
                                f"{table.name}.{col.name}: bulk-written {x!r} differs from "
                                f"SQLAlchemy's {y!r}"
                            )
    finally:
        source.dispose()
        target.dispose()


def verify_team_total(url: str, n: int) -> int:
    """The team page's total_sessions on ``url`` (must equal ``n``); raises if not."""
    from rfa import dashboards

    page = dashboards.team_page(MAIN_SLUG, PERIOD, AS_OF_TEXT, url=url)
    total = page.summary.total_sessions
    if total != n:
        raise AssertionError(f"team page on {db.shown_url(url)} counts {total} sessions, not {n}")
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--n", default="10k", help="sessions in the window (10k, 1M, …)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--verify", action="store_true", help="check the team page counts N")
    args = parser.parse_args(argv)
    spec = Spec(parse_scale(args.n), args.seed)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    server = start_postgres() if "postgresql" in backends else None
    try:
        info = ensure(spec, backends, server)
        for name, item in info.items():
            console.log(f"{name}: {json.dumps(item)}")
            if args.verify:
                verify_team_total(item["url"], spec.n)
                console.log(f"{name}: team page counts exactly {spec.n:,} sessions")
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
