"""Issue 6, item 2 and the results' goals: what ``make bench`` checks, run small in ``make test``.

* The seed's own pattern (``bench/seed_pattern.py``) and our team and flow pages, called
  exactly as the bench calls them (``bench.data_layer._page_call``), give the same numbers
  on a small generated data set on the session's real PostgreSQL server — and the
  comparison the bench relies on does report a number that differs.
* Every goal the committed results mark missed says by how much and names a profile that
  is in ``bench/results/profiles/``.

No timing is asserted here (speed is ``make bench``'s business).
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402
from bench.data_layer import _page_call, busiest_flow  # noqa: E402
from bench.generate import PostgresLoader, Spec, batches  # noqa: E402
from bench.seed_pattern import compare_flow, compare_team  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SPEC = Spec(n=4_000, seed=3)
DATABASE = "rfa_bench_numbers"


@pytest.fixture(scope="module")
def bench_pg_url(pg_server) -> str:
    """The bench generator's data set of ``SPEC`` loaded like ``make bench`` loads it."""
    loader = PostgresLoader(pg_server, DATABASE)
    for _label, tables, _sessions in batches(SPEC):
        loader.load(tables)
    loader.finish()
    try:
        yield loader.url
    finally:
        pg_server.drop_database(DATABASE)


def _both(page: str, url: str, flow_id: str | None = None) -> tuple[dict, dict]:
    """``(seed pattern's result, our page's result)`` as the bench records them."""
    results = []
    for name in (f"seed_{page}", page):
        call, dump = _page_call(name, url, flow_id, SPEC.n)
        results.append(json.loads(json.dumps(dump(call()), default=str)))
    return results[0], results[1]


def test_the_seed_pattern_and_our_team_page_give_the_same_numbers(bench_pg_url):
    seed, ours = _both("team", bench_pg_url)
    assert ours["summary"]["total_sessions"] == SPEC.n
    assert seed["summary"]["total_sessions"] == SPEC.n
    assert compare_team(seed, ours) == []


def test_the_seed_pattern_and_our_flow_page_give_the_same_numbers(bench_pg_url):
    flow_id, sessions = busiest_flow(bench_pg_url)
    seed, ours = _both("flow", bench_pg_url, flow_id)
    assert ours["summary"]["total_sessions"] == sessions > 0
    assert compare_flow(seed, ours) == []


def test_the_comparison_reports_a_number_that_differs(bench_pg_url):
    seed, ours = _both("team", bench_pg_url)
    changed = copy.deepcopy(ours)
    changed["summary"]["total_sessions"] += 1
    assert any("total_sessions" in d for d in compare_team(seed, changed))


def test_every_missed_goal_says_by_how_much_and_names_its_profile():
    results = json.loads((RESULTS / "latest.json").read_text(encoding="utf-8"))
    goals = report.goals(results)
    missed = [g for g in goals if g["status"] == "missed"]
    assert {g["status"] for g in goals} <= {"met", "missed", "not measured"}
    for goal in missed:
        assert "over by" in goal["detail"] or "short by" in goal["detail"], goal
        assert goal["profile"], goal
        assert (RESULTS / "profiles" / Path(goal["profile"]).name).is_file(), goal
    assert not [g for g in goals if g["status"] == "met" and g["profile"]]
