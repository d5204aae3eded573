"""Every page of the small demo is honest about its numbers (issue 7), checked fast: the
page models are built on the demo SQLite database and their HTML fragments rendered
through :mod:`rfa.present` (no notebook, no Quarto). The slow end-to-end publish test
checks the same on the rendered site; this one says which table or box is wrong."""

from __future__ import annotations

import json
import re

import matplotlib
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.container import BarContainer, ErrorbarContainer
from statsmodels.stats.proportion import proportion_confint

from rfa import charts, dashboards, layout, present
from rfa.definitions import DEFINITIONS
from rfa.metrics import kpi as kpi_metrics

matplotlib.use("Agg")

ACCOUNT = "northwind-it"
HUGE_MIN_N = 1_000_000
"""A ``min_n`` no row of the demo reaches: every rate-like figure is then "few"."""
VERDICTS = ("no clear change", "no previous data", "not enough data")

LOADERS = {
    "team": dashboards.team_page,
    "personal": dashboards.personal_page,
    "flow": dashboards.flow_page,
    "flowpilot": dashboards.flowpilot_page,
    "coverage": dashboards.coverage_page,
    "knowledge_gaps": dashboards.knowledge_gaps_page,
    "escalations": dashboards.escalations_page,
}


@pytest.fixture(scope="module")
def pages(demo_sqlite_url):
    return {name: load(ACCOUNT, url=demo_sqlite_url) for name, load in LOADERS.items()}


@pytest.fixture(scope="module")
def few_pages(demo_sqlite_url):
    return {
        name: load(ACCOUNT, min_n=HUGE_MIN_N, url=demo_sqlite_url) for name, load in LOADERS.items()
    }


def _tables(pages) -> dict[str, str]:
    """Every secondary table of the demo pages, rendered as the notebooks render it."""
    team, flow, fp_page = pages["team"], pages["flow"], pages["flowpilot"]
    cov = pages["coverage"]
    return {
        "top flows": present.ranked_table(team.top_flows, "Flow"),
        "top engineers": present.ranked_table(team.top_engineers, "Engineer"),
        "personal top flows": present.ranked_table(pages["personal"].top_flows, "Flow"),
        "steps": present.step_table(flow.steps),
        "domains": present.domain_table(fp_page.sessions_by_domain),
        "psa types": present.psa_types_table(fp_page.psa.pushes_by_type),
        "coverage": present.coverage_table(cov.coverage_by_domain.domains),
        "flow quality": present.quality_table(cov.flow_quality.flows, "UTC"),
    }


def _body_rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1]
    return re.findall(r"<tr[^>]*>.*?</tr>", body, flags=re.S)


def test_every_tile_shows_one_value_a_chip_and_n_with_the_interval_in_its_tooltip(pages):
    chips = []
    for name, page in pages.items():
        for k in page.kpis:
            chip, tip = layout.change_chip(k, page.meta.previous_label), layout.tile_tooltip(k)
            est = k.estimate
            where = f"{name}: {k.key} → {chip.text!r} / {tip!r}"
            if est.value is None or est.few:
                assert chip.tone == "muted", where
                if est.few and est.value is not None:
                    assert chip.text == "few sessions", where
                continue
            if k.unit == "count":  # counts are exact: no interval anywhere
                assert "exact count" in tip and "interval" not in tip, where
            else:
                assert f"n = {est.n:,}" in tip, where
                if est.margin is not None:
                    assert "95% interval" in tip, where
            arrow = chip.text.startswith(("▲", "▼"))
            assert arrow == k.change.significant, where
            if not arrow:
                assert chip.text.startswith("≈ ") or chip.text == "no previous data", where
            chips.append(chip.text)
    assert any(c.startswith("≈ ") for c in chips)


def test_small_samples_are_shown_muted_with_few_sessions_in_every_table(few_pages):
    tables = _tables(few_pages)
    rows = layout.details_rows(few_pages["team"].kpis)  # counts are exact, never "few"
    assert [r["few"] for r in rows] == [k.estimate.few for k in few_pages["team"].kpis]
    assert any(r["few"] for r in rows) and not all(r["few"] for r in rows)
    for name, frame in tables.items():
        html = present.html_table(frame)
        rows = _body_rows(html)
        assert rows, name
        for row in rows:
            assert 'class="rfa-few"' in row, (name, row)
        if name != "psa types":  # a post type without pushes is muted, not "few sessions"
            assert all("few sessions" in row for row in rows), name
    for page in few_pages.values():
        for k in page.kpis:
            chip = layout.change_chip(k)
            if k.unit != "count" and k.estimate.value is not None:
                assert (chip.text, chip.tone) == ("few sessions", "muted")


def test_rows_with_enough_sessions_are_not_muted(pages):
    muted_somewhere = False
    for name, frame in _tables(pages).items():
        flags = frame.attrs.get("few", [])
        rows = _body_rows(present.html_table(frame)) if len(frame) else []
        assert len(flags) == len(rows), name
        for flag, row in zip(flags, rows, strict=True):
            assert ('class="rfa-few"' in row) == flag, (name, row)
            muted_somewhere |= flag
    assert muted_somewhere  # the small demo has small groups


def test_leaderboards_and_tables_show_intervals_not_bare_averages(pages):
    team = pages["team"]
    frame = present.ranked_table(team.top_flows, "Flow")
    for row, r in zip(frame.to_dict("records"), team.top_flows, strict=True):
        if r.median_low is not None:
            assert r.median_low <= r.median_duration_minutes <= r.median_high
            assert " – " in row["Median duration"], row
        if r.avg_csat is not None:
            assert f"n={r.ratings:,}" in row["Avg CSAT"], row
            if r.csat_low is not None:
                assert 1.0 <= r.csat_low <= r.avg_csat <= r.csat_high <= 5.0
                assert " – " in row["Avg CSAT"], row
    cov = pages["coverage"].coverage_by_domain.domains
    shown = present.coverage_table(cov).to_dict("records")
    assert any(r.avg_resolution_low is not None for r in cov)
    for row, r in zip(shown, cov, strict=True):
        if r.avg_resolution_low is not None:
            assert 0.0 <= r.avg_resolution_low <= r.avg_resolution_minutes
            assert " – " in row["Avg resolution"], row
    psa = pages["flowpilot"].psa
    for row, r in zip(
        present.psa_types_table(psa.pushes_by_type).to_dict("records"),
        psa.pushes_by_type,
        strict=True,
    ):
        if r.pushes:
            assert re.search(r"\(\d+–\d+%\)", row["Success rate"]), row
    text = present.escalation_text(
        pages["escalations"].escalations, kpi_metrics.by_key(pages["escalations"].kpis)
    )
    assert "average" in text and "95% interval" in text and "acted-on hand-offs" in text
    assert "It is not time saved" in text


def _wilson_pct(k: int, n: int) -> tuple[float, float]:
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    return max(low, 0.0) * 100, min(high, 1.0) * 100


def test_data_file_carries_psa_and_gap_intervals(pages, tmp_path):
    path = dashboards.write_data_file(pages["flowpilot"], tmp_path / "flowpilot.json")
    psa = json.loads(path.read_text())["psa"]
    funnel = psa["funnel"]
    assert funnel["total_sessions"] > 0 and psa["total_pushes"] > 0
    assert (psa["ticket_link_low_pct"], psa["ticket_link_high_pct"]) == pytest.approx(
        _wilson_pct(funnel["linked_to_ticket"], funnel["total_sessions"])
    )
    first = sum(t["first_try_successes"] for t in psa["pushes_by_type"])
    assert (psa["push_success_first_try_low_pct"], psa["push_success_first_try_high_pct"]) == (
        pytest.approx(_wilson_pct(first, psa["total_pushes"]))
    )
    for name in ("push_success_after_retry", "push_success_overall"):
        assert psa[f"{name}_low_pct"] <= psa[f"{name}_pct"] <= psa[f"{name}_high_pct"]
    for stage in ("doc_pushed", "time_entry_logged"):
        assert (psa[f"{stage}_low_pct"], psa[f"{stage}_high_pct"]) == pytest.approx(
            _wilson_pct(funnel[stage], funnel["total_sessions"])
        )
    for row in psa["pushes_by_type"]:
        if row["pushes"]:
            successes = row["first_try_successes"] + row["retry_successes"]
            assert (row["success_low_pct"], row["success_high_pct"]) == pytest.approx(
                _wilson_pct(successes, row["pushes"])
            )
    assert "few" in psa["pushes_by_type"][0]

    path = dashboards.write_data_file(pages["knowledge_gaps"], tmp_path / "gaps.json")
    gaps = json.loads(path.read_text())["report"]["gaps"]
    assert gaps
    for gap in gaps:
        assert gap["rate_low"] <= gap["rate"] <= gap["rate_high"], gap
        k = round(gap["rate"] * gap["evidence_sessions"])
        low, high = _wilson_pct(k, gap["evidence_sessions"])
        assert (gap["rate_low"] * 100, gap["rate_high"] * 100) == pytest.approx((low, high))
        assert gap["few"] == (gap["evidence_sessions"] < pages["knowledge_gaps"].meta.min_n)


def test_the_page_reads_intervals_from_the_data_not_from_a_rounded_rate(pages):
    """present.py shows what the data file says: change the stored bounds, the page follows."""
    gap = (
        pages["knowledge_gaps"]
        .report.gaps[0]
        .model_copy(update={"rate_low": 0.123, "rate_high": 0.987})
    )
    assert "12% – 99%" in present.gap_evidence(gap)
    assert "12% – 99%" in present.gaps_actions_html([gap])
    psa = pages["flowpilot"].psa.model_copy(
        update={"ticket_link_low_pct": 1.0, "ticket_link_high_pct": 2.0}
    )
    assert "1.0% – 2.0%" in present.psa_html(psa)  # below 10%: one decimal


def test_every_kpi_of_every_page_is_in_its_glossary(pages):
    for name, page in pages.items():
        glossary = page.meta.definitions
        for k in page.kpis:
            assert k.key in glossary or (k.unit == "count" and "count_kpis" in glossary), (
                name,
                k.key,
            )
    escalations = pages["escalations"].meta.definitions
    for key in (
        "n_handoffs_claimed",
        "action_conversion_rate",
        "median_seconds_to_first_action",
        "p95_seconds_to_first_action",
    ):
        assert key in escalations


def test_glossary_texts_match_what_the_pages_show():
    empty = kpi_metrics.rate_kpi("completion_rate", "C", 0, 0, 0, 0, period_label="p")
    assert present.fmt_kpi(empty.estimate.value, empty.unit) == present.DASH
    assert layout.change_chip(empty).text == "no data"
    assert "0%" not in DEFINITIONS["completion_rate"] and "—" in DEFINITIONS["completion_rate"]
    assert "fraction" in DEFINITIONS["resolution_rate_pct"]
    for key in ("top_flows", "top_engineers", "flow_quality"):
        assert "lower end" in DEFINITIONS[key], key


def test_rate_charts_draw_their_intervals(pages):
    fp_page, cov = pages["flowpilot"], pages["coverage"]

    def errorbars(fig) -> list:
        ax = fig.axes[0]
        found = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        found += [c.errorbar for c in ax.containers if isinstance(c, BarContainer) and c.errorbar]
        return found

    assert errorbars(charts.flow_quality_map(cov.flow_quality.flows))
    assert errorbars(charts.domain_outcomes(fp_page.sessions_by_domain))
    assert errorbars(charts.psa_funnel(fp_page.psa))
    assert any(p.mttr_low is not None for p in fp_page.mttr_trend)
    trend = charts.mttr_trend(fp_page.mttr_trend)
    assert any(isinstance(c, PolyCollection) for ax in trend.axes for c in ax.collections), (
        "no interval band"
    )
    assert tuple(trend.get_size_inches()) == charts.WIDE


def test_flow_quality_shows_the_mean_confidence_with_its_interval(pages):
    flows = pages["coverage"].flow_quality.flows
    shown = present.quality_table(flows, "UTC").to_dict("records")
    with_interval = [r for r in flows if r.confidence_low is not None]
    assert with_interval
    for row, r in zip(shown, flows, strict=True):
        if r.confidence_low is None:
            assert " – " not in row["Avg confidence"], row
            continue
        assert 0.0 <= r.confidence_low <= r.avg_confidence <= r.confidence_high <= 1.0
        low, high = (f"{100 * v:.0f}%" for v in (r.confidence_low, r.confidence_high))
        assert row["Avg confidence"].endswith(f"({low} – {high})"), row


def test_confidence_tiers_with_few_sessions_are_drawn_pale_and_labelled(pages, few_pages):
    def drawn(rows):
        ax = charts.confidence_tiers(rows).axes[0]
        bars = next(c for c in ax.containers if isinstance(c, BarContainer))
        labels = [t.get_text() for t in ax.texts]
        return [(b.get_alpha(), b.get_hatch()) for b in bars], labels

    rows = pages["flowpilot"].confidence_breakdown
    assert not all(r.few for r in rows)
    styles, labels = drawn(rows)
    for (alpha, hatch), label, r in zip(styles, labels, rows, strict=True):
        assert (hatch == "//") == r.few and (alpha == 0.35) == r.few, r
        assert ("few sessions" in label) == (r.few and r.sessions > 0), label
    few_rows = few_pages["flowpilot"].confidence_breakdown
    styles, labels = drawn(few_rows)
    assert all(hatch == "//" for _, hatch in styles)
    assert all(
        "few sessions" in label for label, r in zip(labels, few_rows, strict=True) if r.sessions
    )


def test_gap_actions_are_muted_exactly_when_few(pages, few_pages):
    for page_set in (pages, few_pages):
        gaps = page_set["knowledge_gaps"].report.gaps
        items = re.findall(
            r'<li class="rfa-action( rfa-few)?">(.*?)</li>',
            present.gaps_actions_html(gaps, shown=len(gaps)),
            flags=re.S,
        )
        assert len(items) == len(gaps) > 0
        ordered = sorted(gaps, key=lambda g: present.SEVERITY_ORDER[g.severity])
        for (few, body), g in zip(items, ordered, strict=True):
            assert bool(few) == g.few and (("few sessions" in body) == g.few), body
