"""The PSA charts (issue 20): the nested funnel, and the stages counted on their own drawn
so that they cannot be read as a funnel. Hand-computed figures; real matplotlib."""

from __future__ import annotations

import itertools

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import BarContainer, ErrorbarContainer

from rfa import charts
from rfa.metrics.flowpilot import PsaFunnel, PsaStageCounts


class _Psa:
    """What the charts read of :class:`PsaMetrics`: the funnel, the stage counts and the
    funnel's intervals (percent of all sessions)."""

    def __init__(self) -> None:
        # 40 sessions; 30 linked; 12 linked with a doc; 9 of those with a time entry
        self.funnel = PsaFunnel(
            total_sessions=40, linked_to_ticket=30, doc_pushed=12, time_entry_logged=9
        )
        # on their own: 14 docs (2 unlinked), 25 time entries (many without a doc)
        self.stage_counts = PsaStageCounts(
            total_sessions=40, linked_to_ticket=30, doc_pushed=14, time_entry_logged=25
        )
        self.ticket_link_low_pct, self.ticket_link_high_pct = 59.8, 85.8
        self.doc_pushed_low_pct, self.doc_pushed_high_pct = 18.1, 45.3
        self.time_entry_logged_low_pct, self.time_entry_logged_high_pct = 12.3, 37.5


PSA = _Psa()


def _bars(chart) -> list:
    (bars,) = [c for c in chart.figure.axes[0].containers if isinstance(c, BarContainer)]
    return list(bars)


def _texts_do_not_overlap(figure) -> None:
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [
        t.get_window_extent(renderer)
        for t in figure.findobj(lambda a: hasattr(a, "get_text") and a.get_visible())
        if t.get_text().strip()
    ]
    frame = figure.bbox
    for box in boxes:
        assert box.x0 >= frame.x0 - 1 and box.x1 <= frame.x1 + 1, "text cut at the edge"
        assert box.y0 >= frame.y0 - 1 and box.y1 <= frame.y1 + 1, "text cut at the edge"
    for a, b in itertools.combinations(boxes, 2):
        overlap_x = min(a.x1, b.x1) - max(a.x0, b.x0)
        overlap_y = min(a.y1, b.y1) - max(a.y0, b.y0)
        assert overlap_x <= 1 or overlap_y <= 1, "two texts overlap"


def test_the_funnel_draws_the_nested_counts_and_only_narrows():
    chart = charts.psa_funnel(PSA)
    widths = [bar.get_width() for bar in _bars(chart)]
    assert widths == [40, 30, 12, 9]
    assert widths == sorted(widths, reverse=True)
    errors = [c for c in chart.figure.axes[0].containers if isinstance(c, ErrorbarContainer)]
    assert errors, "each stage's share carries its interval"
    assert chart.alt == (
        "PSA funnel of the 40 AI sessions of the window, each stage counting the sessions "
        "that also reached every earlier stage: 30 linked to a ticket (75% of the "
        "sessions); 12 of them also had a doc pushed (40% of the linked, 30% of the "
        "sessions); 9 of those also logged a time entry (75% of the previous stage, 22% "
        "of the sessions)."
    )


def test_the_stage_counts_are_shares_in_columns_not_a_funnel():
    chart = charts.psa_stage_counts(PSA)
    heights = [bar.get_height() for bar in _bars(chart)]
    assert heights == pytest.approx([75.0, 35.0, 62.5])  # 30, 14, 25 of 40
    assert all(bar.get_width() < 1 for bar in _bars(chart))  # vertical columns
    title = chart.figure.get_suptitle()
    assert "not a funnel" in title
    assert "not a funnel" in chart.alt and "time entry logged 25 (62%)" in chart.alt


@pytest.mark.parametrize("draw", [charts.psa_funnel, charts.psa_stage_counts])
def test_psa_charts_keep_every_text_inside_and_apart_on_desktop_and_phone(draw):
    chart = draw(PSA)
    for figure in (chart.figure, chart.phone):
        _texts_do_not_overlap(figure)
    html = chart._repr_html_()
    assert html.startswith('<figure class="rfa-chart">') and "<picture>" in html


@pytest.mark.parametrize("draw", [charts.psa_funnel, charts.psa_stage_counts])
def test_psa_charts_without_sessions_say_so(draw):
    empty = _Psa()
    empty.funnel = PsaFunnel(
        total_sessions=0, linked_to_ticket=0, doc_pushed=0, time_entry_logged=0
    )
    empty.stage_counts = PsaStageCounts(
        total_sessions=0, linked_to_ticket=0, doc_pushed=0, time_entry_logged=0
    )
    assert draw(empty).alt == "No AI sessions in this window."


def test_a_bare_funnel_draws_without_intervals():
    chart = charts.psa_funnel(PSA.funnel)
    assert [bar.get_width() for bar in _bars(chart)] == [40, 30, 12, 9]
