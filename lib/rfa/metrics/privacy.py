"""Small-group privacy for pages read by a whole account (METRICS.md §6).

A comment, a CSAT figure or a step's thumbs are only shown when the group of people
behind them has at least ``k`` members, so nothing on a members' page can be traced
to the one engineer who ran (and rated) a flow. ``k`` is the ``min_group_size``
parameter; its default is :data:`MIN_GROUP_SIZE`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from rfa.metrics.models import CSAT, Comment, StepRow

MIN_GROUP_SIZE = 3
"""Default k: fewer than 3 distinct raters and a figure could point at one person."""


class PrivacyNote(BaseModel):
    """What was withheld on a page, and why (carried in the data file)."""

    model_config = ConfigDict(frozen=True)

    min_group_size: int
    raters: int
    """Distinct engineers behind the CSAT ratings the page shows (the screened ratings of
    the window: orphan and duplicate ratings cannot lift it; issue 16 §4), counted as the
    engineers of the rated sessions (:func:`rfa.queries.ratings.raters_of`)."""
    csat_shown: bool
    comments_shown: bool
    steps_withheld: int
    """Steps whose thumbs were withheld (fewer than k distinct raters)."""


def protect_flow(
    csat: CSAT,
    comments: list[Comment],
    steps: list[StepRow],
    raters: int,
    step_raters: dict[str, int],
    k: int = MIN_GROUP_SIZE,
) -> tuple[CSAT, list[Comment], list[StepRow], PrivacyNote]:
    """Withhold what fewer than ``k`` people stand behind.

    * CSAT mean and distribution and the comments need ``raters >= k`` (the count
      of ratings stays: it says how much feedback exists without saying what it was);
    * a step's thumbs (yes, no, helpful rate) need ``step_raters[node] >= k``.
    Visits and drop-offs are not per-person figures and stay. Raises ``ValueError``
    for ``k < 1``.
    """
    if k < 1:
        raise ValueError("min_group_size must be at least 1")
    enough = raters >= k
    if not enough:
        csat = csat.model_copy(
            update={"avg_csat": None, "distribution": {s: 0 for s in range(1, 6)}}
        )
        comments = []
    withheld = 0
    kept: list[StepRow] = []
    for step in steps:
        if (step.helpful_yes or step.helpful_no) and step_raters.get(step.node_id, 0) < k:
            withheld += 1
            step = step.model_copy(
                update={
                    "helpful_yes": None,
                    "helpful_no": None,
                    "helpful_rate": None,
                    "helpful_low": None,
                    "helpful_high": None,
                }
            )
        kept.append(step)
    note = PrivacyNote(
        min_group_size=k,
        raters=raters,
        csat_shown=enough,
        comments_shown=enough,
        steps_withheld=withheld,
    )
    return csat, comments, kept, note
