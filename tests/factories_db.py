"""Tiny hand-made SQLite databases for loader-level regression tests (issues 16 and 20).

:class:`TinyDB` creates the source schema (:func:`rfa.db.init_db`) in a fresh file and
inserts rows through the schema's own types (ids as uuid text, times as aware UTC), with
defaults for every column a test does not care about. :meth:`TinyDB.raw` runs SQL on the
file with ``sqlite3`` to store what the product never would (text in a number column,
an unreadable timestamp), since SQLite keeps whatever it is given.

Ids are made readable: :func:`uid` turns a short label into a stable uuid, so a test can
name rows ``"rater-1"`` and still find their uuid in a page's JSON.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from pathlib import Path

import sqlalchemy as sa

from rfa import db

UTC = dt.UTC


def uid(label: str) -> str:
    """A stable uuid (canonical text) for a short label."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"rfa-test:{label}"))


def at(text: str) -> dt.datetime:
    """``"2026-11-10 10:00"`` → aware UTC datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


class TinyDB:
    """A fresh SQLite file with the source schema; ``url`` for the loaders."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        db.init_db(self.url)
        self._engine = sa.create_engine(self.url)

    def insert(self, table: sa.Table, *rows: dict) -> None:
        """Insert ``rows`` (dicts of column → value) into ``table``."""
        with self._engine.begin() as conn:
            conn.execute(sa.insert(table), list(rows))

    def raw(self, sql: str, *params) -> int:
        """Run one SQL statement on the file with ``sqlite3``; rows changed."""
        with sqlite3.connect(self.path) as conn:
            return conn.execute(sql, params).rowcount

    def set(self, table: str, column: str, value: object, label: str) -> None:
        """Store ``value`` as it is in ``table.column`` of the row with id ``uid(label)``
        (SQLite keeps text in a number or timestamp column)."""
        changed = self.raw(
            f"UPDATE {table} SET {column} = ? WHERE id = ?", value, uid(label).replace("-", "")
        )
        assert changed == 1, (table, column, label)

    def account(self, slug: str, tz: str = "UTC") -> str:
        """An account (id = ``uid(slug)``); returns its id."""
        self.insert(
            db.accounts, {"id": uid(slug), "name": slug.title(), "slug": slug, "timezone": tz}
        )
        return uid(slug)

    def user(self, account: str, label: str) -> str:
        self.insert(
            db.users,
            {"id": uid(label), "account_id": account, "name": label, "email": f"{label}@x.test",
             "role": "engineer"},
        )  # fmt: skip
        return uid(label)

    def flow(
        self, account: str, label: str, *, origin: str = "manual", created: str | None = None
    ) -> str:
        self.insert(
            db.trees,
            {"id": uid(label), "account_id": account, "name": label, "tree_type": "troubleshooting",
             "origin": origin, "tree_structure": {"start": {"title": "Start"}},
             "created_at": at(created) if created else None},
        )  # fmt: skip
        return uid(label)

    def session(
        self, flow: str, user: str, label: str, started: str, outcome: str = "resolved"
    ) -> str:
        start = at(started)
        self.insert(
            db.sessions,
            {"id": uid(label), "tree_id": flow, "user_id": user, "started_at": start,
             "completed_at": start + dt.timedelta(minutes=10), "outcome": outcome,
             "decisions": [{"node_id": "start", "choice": "go"}]},
        )  # fmt: skip
        return uid(label)

    def rating(
        self,
        account: str,
        flow: str,
        session: str,
        rater: str,
        label: str,
        created: str,
        rating: int = 4,
        comment: str | None = None,
    ) -> str:
        self.insert(
            db.session_ratings,
            {"id": uid(label), "session_id": session, "user_id": rater, "tree_id": flow,
             "account_id": account, "rating": rating, "comment": comment,
             "created_at": at(created)},
        )  # fmt: skip
        return uid(label)

    def ai_session(
        self,
        account: str,
        label: str,
        created: str,
        *,
        status: str = "resolved",
        flow: str | None = None,
        user: str | None = None,
        ticket: str | None = None,
        domain: str | None = "network",
    ) -> str:
        start = at(created)
        self.insert(
            db.ai_sessions,
            {"id": uid(label), "account_id": account, "user_id": user, "tree_id": flow,
             "status": status, "problem_domain": domain, "confidence_tier": "guided",
             "step_count": 3, "session_rating": 4, "psa_ticket_id": ticket,
             "match_confidence": 0.8 if flow else None, "created_at": start,
             "resolved_at": start + dt.timedelta(minutes=20) if status == "resolved" else None},
        )  # fmt: skip
        return uid(label)

    def post(
        self,
        ai_session: str,
        label: str,
        post_type: str,
        posted: str,
        *,
        status: str = "success",
        hours: float | None = None,
    ) -> str:
        self.insert(
            db.psa_post_logs,
            {"id": uid(label), "ai_session_id": ai_session, "post_type": post_type,
             "status": status, "retry_count": 0, "hours": hours, "posted_at": at(posted)},
        )  # fmt: skip
        return uid(label)
