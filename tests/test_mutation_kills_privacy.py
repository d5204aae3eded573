"""Small-group privacy (:func:`rfa.metrics.privacy.protect_flow`), pinned down where
mutation testing (``make mutation``) found the tests silent: the exact bounds of k, the
withheld fields, the note, steps missing from the rater counts. Expected values by hand.
"""

from __future__ import annotations

import datetime as dt

import pytest

from rfa.metrics.models import CSAT, Comment, StepRow
from rfa.metrics.privacy import PrivacyNote, protect_flow

CSAT_4 = CSAT(avg_csat=4.0, total_ratings=3, distribution={1: 0, 2: 0, 3: 1, 4: 1, 5: 1})
COMMENTS = [Comment(rating=4, comment="Fixed it", date=dt.date(2026, 11, 1))]


def _step(node: str, yes: int, no: int) -> StepRow:
    judged = yes + no
    return StepRow(
        node_id=node,
        node_title=node.upper(),
        visit_count=9,
        dropoff_count=1,
        dropoff_rate=1 / 9,
        helpful_yes=yes,
        helpful_no=no,
        helpful_rate=yes / judged if judged else None,
        dropoff_low=0.02,
        dropoff_high=0.43,
        helpful_low=0.1 if judged else None,
        helpful_high=0.9 if judged else None,
    )


UP_ONLY, DOWN_ONLY, MIXED, NONE = (
    _step("u", 2, 0),
    _step("d", 0, 2),
    _step("m", 1, 1),
    _step("n", 0, 0),
)


def _withheld(step: StepRow) -> StepRow:
    """The step as a members' page shows it when too few people gave its thumbs."""
    return StepRow(
        node_id=step.node_id,
        node_title=step.node_title,
        visit_count=9,
        dropoff_count=1,
        dropoff_rate=1 / 9,
        helpful_yes=None,
        helpful_no=None,
        helpful_rate=None,
        dropoff_low=0.02,
        dropoff_high=0.43,
        helpful_low=None,
        helpful_high=None,
    )


def test_k_of_one_is_accepted_and_shows_a_single_rater():
    csat, comments, steps, note = protect_flow(CSAT_4, COMMENTS, [MIXED], 1, {"m": 1}, k=1)
    assert (csat, comments, steps) == (CSAT_4, COMMENTS, [MIXED])
    assert note == PrivacyNote(
        min_group_size=1, raters=1, csat_shown=True, comments_shown=True, steps_withheld=0
    )


@pytest.mark.parametrize("k", [0, -3])
def test_k_below_one_is_refused_with_a_clear_message(k):
    with pytest.raises(ValueError) as info:
        protect_flow(CSAT_4, COMMENTS, [], 5, {}, k)
    assert str(info.value) == "min_group_size must be at least 1"


def test_exactly_k_raters_show_and_k_minus_one_withhold():
    shown = protect_flow(CSAT_4, COMMENTS, [MIXED], 4, {"m": 4}, k=4)
    assert shown[:3] == (CSAT_4, COMMENTS, [MIXED])
    hidden_csat, hidden_comments, hidden_steps, note = protect_flow(
        CSAT_4, COMMENTS, [MIXED], 3, {"m": 3}, k=4
    )
    assert hidden_csat == CSAT(
        avg_csat=None, total_ratings=3, distribution={1: 0, 2: 0, 3: 0, 4: 0, 5: 0}
    )
    assert hidden_comments == []
    assert hidden_steps == [_withheld(MIXED)]
    assert note == PrivacyNote(
        min_group_size=4, raters=3, csat_shown=False, comments_shown=False, steps_withheld=1
    )


def test_every_step_with_thumbs_from_too_few_people_is_withheld_and_counted():
    steps = [UP_ONLY, DOWN_ONLY, MIXED, NONE]
    raters = {"u": 1, "d": 2, "m": 3}  # "n" has no thumbs, so no raters either
    _, _, kept, note = protect_flow(CSAT_4, COMMENTS, steps, 3, raters, k=3)
    assert kept == [_withheld(UP_ONLY), _withheld(DOWN_ONLY), MIXED, NONE]
    assert note.steps_withheld == 2
    assert (note.csat_shown, note.comments_shown, note.raters) == (True, True, 3)


def test_a_step_missing_from_the_rater_counts_has_no_raters():
    _, _, kept, note = protect_flow(CSAT_4, COMMENTS, [UP_ONLY], 1, {}, k=1)
    assert kept == [_withheld(UP_ONLY)] and note.steps_withheld == 1
