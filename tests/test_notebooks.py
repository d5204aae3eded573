"""The notebooks' contract with papermill, Quarto and git (nbval executes them separately)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

import rfa
from rfa.catalog import DASHBOARDS
from rfa.metrics.knowledge_gaps import GapThresholds
from rfa.publish.pipeline import NOTEBOOK_DIR, PageJob

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
JOB = {
    "account_slug": "a",
    "account_name": "A",
    "timezone": "UTC",
    "period": "30d",
    "as_of": "2026-11-20T00:00:00+00:00",
}


def test_every_dashboard_has_its_notebook():
    assert sorted(p.stem for p in NOTEBOOKS) == sorted(s.notebook for s in DASHBOARDS.values())


def test_knowledge_gap_threshold_defaults_match_the_library():
    declared = papermill.inspect_notebook(str(NOTEBOOK_DIR / "knowledge_gaps.ipynb"))
    defaults = GapThresholds().model_dump()
    shown = {k: v for k, v in declared.items() if k in defaults}
    assert len(shown) >= 5
    for name, param in shown.items():
        assert float(param["default"]) == defaults[name], name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_front_matter_first_then_parameters(path: Path):
    nb = nbformat.read(path, as_version=4)
    first, second = nb.cells[0], nb.cells[1]
    assert first.cell_type == "raw"
    meta = yaml.safe_load(first.source.strip().strip("-"))
    dashboard = meta["format"]["dashboard"]
    assert dashboard["embed-resources"] is True
    assert dashboard["html-math-method"] == "plain"
    assert meta["execute"]["echo"] is False
    assert meta["jupyter"] == rfa.KERNEL_NAME
    assert nb.metadata["kernelspec"]["name"] == rfa.KERNEL_NAME
    assert "parameters" in second.metadata.get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_are_stripped_in_git(path: Path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_cell_options_sit_at_the_top_of_cells(path: Path):
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.splitlines()
        options = [i for i, line in enumerate(lines) if line.startswith("#|")]
        assert options == list(range(len(options))), cell.source


@pytest.mark.parametrize("dashboard", list(DASHBOARDS))
def test_every_parameter_the_publisher_passes_exists_in_the_notebook(dashboard):
    job = PageJob(dashboard=dashboard, scope_id="x", scope_name="X", **JOB)
    declared = papermill.inspect_notebook(str(job.notebook))
    passed = job.parameters(Path("page.json"))
    assert set(passed) <= set(declared), set(passed) - set(declared)
    assert all(declared[name]["inferred_type_name"] == "str" for name in passed)
    assert not {"url", "database_url", "password"} & set(declared)


@pytest.mark.slow
def test_an_analyst_in_jupyter_sees_cards_titles_and_no_dicts(
    tmp_path, demo_sqlite_url, monkeypatch
):
    """Executed in a plain kernel (no renderer involved), the team notebook shows its KPI
    tiles as HTML cards, each chart as an image with a descriptive alt, each section
    introduced by a markdown note with a visible title — and never a raw dict."""
    monkeypatch.setenv("RFA_DATABASE_URL", demo_sqlite_url)
    out = tmp_path / "team.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK_DIR / "team_analytics.ipynb"),
        str(out),
        parameters={"account": "northwind-it"},
        kernel_name=rfa.KERNEL_NAME,
        progress_bar=False,
    )
    nb = nbformat.read(out, as_version=4)
    html = [
        o["data"]["text/html"]
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "data" in o and "text/html" in o["data"]
    ]
    plain = [
        o["data"].get("text/plain", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "data" in o
    ]
    assert not any(p.lstrip().startswith("{'") for p in plain), plain
    tiles = [h for h in html if 'class="rfa-tiles"' in h]
    assert len(tiles) == 1 and tiles[0].count('class="rfa-tile') >= 7
    charts = [h for h in html if "<figure" in h and "<img" in h]
    assert len(charts) >= 4
    for chart in charts:
        alt = chart.split('alt="', 1)[1].split('"', 1)[0]
        assert len(alt) >= 20, alt
    notes = [c for c in nb.cells if "rfa-analyst-note" in c.metadata.get("tags", [])]
    assert len(notes) >= 5 and all(n.source.startswith("### ") for n in notes)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "tools/make_notebooks.py" in first_code.source
