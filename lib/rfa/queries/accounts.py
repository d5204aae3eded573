"""Accounts, flows (``trees``) and users: lookups that turn user input into ids.

Source tables: ``accounts``, ``trees``, ``users`` (METRICS.md §1). Every lookup
other than the account itself is scoped to one account.
"""

from __future__ import annotations

import uuid

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rfa.db import accounts, trees, users
from rfa.errors import BadRowError, NotFoundError, preview
from rfa.metrics.models import AccountInfo, Entity
from rfa.queries._fetch import UTC_TS, fetch
from rfa.queries.storage import readable


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def _storable(value: str) -> bool:
    """Whether ``value`` can be a bound text parameter on every backend: PostgreSQL
    refuses NUL characters, and no driver can encode lone surrogates (what Python
    makes of non-UTF-8 bytes in ``argv``). Such a value matches no account."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def accounts_query() -> sa.Select:
    """All accounts: columns ``account_id, slug, name, timezone`` (for operators only)."""
    a = accounts.c
    return sa.select(a.id.label("account_id"), a.slug, a.name, a.timezone).order_by(a.slug)


ACCOUNT_SCHEMA = {
    "account_id": pl.String,
    "slug": pl.String,
    "name": pl.String,
    "timezone": pl.String,
}


def list_accounts(conn: Connection) -> pl.DataFrame:
    """Every account as a frame of :data:`ACCOUNT_SCHEMA` (all ``String``), by slug."""
    return fetch(conn, accounts_query(), ACCOUNT_SCHEMA)


def resolve_account(conn: Connection, account: str) -> AccountInfo:
    """Find an account by slug or id.

    Raises :class:`~rfa.errors.NotFoundError` naming the accepted slugs (also for
    text no database can hold: a NUL character or invalid UTF-8). A missing
    ``timezone`` is read as ``UTC``, a missing name as the slug. The timezone and slug
    are returned as stored: whether a page can use them is for the planner to check
    (:func:`rfa.publish.planning.check_account_row`), so a listing of a bad account works.
    """
    key = (account or "").strip() if isinstance(account, str) else ""
    a = accounts.c
    row = None
    if _storable(key):
        cond = a.slug == key
        if _is_uuid(key):
            cond = sa.or_(cond, a.id == str(uuid.UUID(key)))
        row = conn.execute(sa.select(a.id, a.slug, a.name, a.timezone).where(cond)).first()
    if row is None:
        slugs = list_accounts(conn)["slug"].to_list()
        raise NotFoundError("account", account, "", f"an account slug or id: {preview(slugs)}")
    return AccountInfo(
        id=row.id,
        slug=row.slug or "",
        name=row.name or row.slug or "",
        timezone=row.timezone or "UTC",
    )


FLOW_SCHEMA = {
    "tree_id": pl.String,
    "name": pl.String,
    "tree_type": pl.String,
    "origin": pl.String,
    "created_at": UTC_TS,
}


def flows_query(account_id: str) -> sa.Select:
    """The account's flows: ``tree_id, name, tree_type, origin, created_at`` by name, id.

    Source: ``trees`` filtered on ``account_id`` (METRICS.md §1; §4 knowledge coverage
    and flow quality read ``tree_type`` and ``origin``).
    """
    t = trees.c
    return (
        # a created_at SQLite holds as other text reads as missing (issue 16 §12)
        sa.select(t.id.label("tree_id"), t.name, t.tree_type, t.origin, readable(t.created_at))
        .where(t.account_id == account_id)
        .order_by(t.name, t.id)
    )


def list_flows(conn: Connection, account_id: str) -> pl.DataFrame:
    """The account's flows as a frame of :data:`FLOW_SCHEMA`."""
    return fetch(conn, flows_query(account_id), FLOW_SCHEMA)


def resolve_flow(conn: Connection, account_id: str, flow: str) -> Entity:
    """Find a flow of the account by id or by name (case-insensitive, exact).

    Raises :class:`~rfa.errors.NotFoundError` when no flow of *this* account
    matches — a flow id of another account is reported as not being a flow of
    this account, without revealing anything about it — and
    :class:`~rfa.errors.BadRowError` for a flow without a name (``trees.name`` empty):
    its page has nothing to call it by, so only that page fails.
    """
    key = (flow or "").strip()
    flows = list_flows(conn, account_id)
    if _is_uuid(key):
        hit = flows.filter(pl.col("tree_id") == str(uuid.UUID(key)))
    else:
        hit = flows.filter(pl.col("name").str.to_lowercase() == key.lower())
    if hit.height == 0:
        raise NotFoundError(
            "flow",
            flow,
            " in this account",
            "a flow id or exact flow name of this account: "
            f"{preview(flows['name'].drop_nulls().to_list())} "
            "(`rfa flows --account SLUG` lists them)",
        )
    if hit.height > 1:
        raise NotFoundError(
            "flow", flow, " (several flows share this name)", "the flow's id instead of its name"
        )
    flow_id, name = hit["tree_id"][0], hit["name"][0]
    if not (name or "").strip():
        raise BadRowError(
            f"flow {flow_id}",
            "has no name (trees.name is empty), so its page cannot be titled",
            "a flow with a name (name it in ResolutionFlow)",
            row_id=flow_id,
        )
    return Entity(id=flow_id, name=name)


USER_SCHEMA = {
    "user_id": pl.String,
    "name": pl.String,
    "email": pl.String,
    "role": pl.String,
    "is_team_admin": pl.Boolean,
}


def users_query(account_id: str) -> sa.Select:
    """The account's users: ``user_id, name, email, role, is_team_admin``."""
    u = users.c
    return (
        sa.select(u.id.label("user_id"), u.name, u.email, u.role, u.is_team_admin)
        .where(u.account_id == account_id)
        .order_by(u.name, u.id)
    )


def list_users(conn: Connection, account_id: str) -> pl.DataFrame:
    """The account's users as a frame of :data:`USER_SCHEMA`."""
    return fetch(conn, users_query(account_id), USER_SCHEMA)


def resolve_engineer(conn: Connection, account_id: str, engineer: str) -> Entity:
    """Find a user of the account by id, email or name (case-insensitive, exact).

    Raises :class:`~rfa.errors.NotFoundError` when none matches in this account.
    A user without a name is shown by email; one with neither (``users.name`` and
    ``users.email`` empty) raises :class:`~rfa.errors.BadRowError`: only their
    personal page fails.
    """
    key = (engineer or "").strip()
    people = list_users(conn, account_id)
    if _is_uuid(key):
        hit = people.filter(pl.col("user_id") == str(uuid.UUID(key)))
    else:
        low = key.lower()
        hit = people.filter(
            (pl.col("email").str.to_lowercase() == low) | (pl.col("name").str.to_lowercase() == low)
        )
    if hit.height != 1:
        reason = " in this account" if hit.height == 0 else " (several users match)"
        raise NotFoundError(
            "engineer",
            engineer,
            reason,
            "an engineer's id or email (or unique name) in this account "
            "(`rfa engineers --account SLUG` lists them)",
        )
    user_id = hit["user_id"][0]
    name = next((v for v in (hit["name"][0], hit["email"][0]) if (v or "").strip()), None)
    if name is None:
        raise BadRowError(
            f"engineer {user_id}",
            "has neither a name nor an email (users.name and users.email are empty), "
            "so their personal page cannot say whose it is",
            "a user with a name or an email",
            row_id=user_id,
        )
    return Entity(id=user_id, name=name)
