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
