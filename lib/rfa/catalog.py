"""The dashboards: one entry per page kind — its notebook, title, audience and folder.

The single source for who may read what (METRICS.md §6), where a page is
published (one folder per audience, so a web server can protect each) and
which scope parameter the notebook takes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

DashboardName = Literal[
    "team", "personal", "flow", "flowpilot", "coverage", "knowledge_gaps", "escalations"
]


class DashboardSpec(BaseModel):
    """One kind of page."""

    model_config = ConfigDict(frozen=True)

    name: DashboardName
    title: str
    notebook: str
    """Notebook file stem under ``notebooks/``."""
    audience: str
    """Who may read it, in words (METRICS.md §6)."""
    folder: Literal["admin", "staff", "members", "engineers"]
    """Audience folder under ``published/<account>/``: ``admin`` team admins and
    super admins; ``staff`` engineers and admins (not viewers); ``members`` every
    member of the account; ``engineers/<engineer>`` that engineer only."""
    scope: Literal["flow", "engineer"] | None = None
    """The notebook parameter naming the page's scope, if any."""


_ADMINS = "team admins and super admins of the account"

DASHBOARDS: dict[str, DashboardSpec] = {
    spec.name: spec
    for spec in (
        DashboardSpec(
            name="team",
            title="Team analytics",
            notebook="team_analytics",
            audience=_ADMINS,
            folder="admin",
        ),
        DashboardSpec(
            name="personal",
            title="Personal analytics",
            notebook="personal_analytics",
            audience="the engineer the page is about",
            folder="engineers",
            scope="engineer",
        ),
        DashboardSpec(
            name="flow",
            title="Flow analytics",
            notebook="flow_analytics",
            audience="members of the account (comments are anonymous)",
            folder="members",
            scope="flow",
        ),
        DashboardSpec(
            name="flowpilot",
            title="FlowPilot",
            notebook="flowpilot",
            audience=_ADMINS,
            folder="admin",
        ),
        DashboardSpec(
            name="coverage",
            title="Coverage and flow quality",
            notebook="coverage",
            audience=_ADMINS,
            folder="admin",
        ),
        DashboardSpec(
            name="knowledge_gaps",
            title="Knowledge gaps",
            notebook="knowledge_gaps",
            audience=_ADMINS,
            folder="admin",
        ),
        DashboardSpec(
            name="escalations",
            title="Escalations",
            notebook="escalations",
            audience="engineers and admins of the account (not viewers)",
            folder="staff",
        ),
    )
}
"""Every dashboard by name, in the order the index lists them."""

ACCOUNT_DASHBOARDS: tuple[str, ...] = tuple(n for n, s in DASHBOARDS.items() if s.scope is None)
"""Dashboards with one page per account (no flow or engineer scope)."""
