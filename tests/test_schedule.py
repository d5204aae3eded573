"""Team schedules (params/teams/*.yml): validation, error reporting and planning."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from pathlib import Path

import papermill
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfa.catalog import ACCOUNT_DASHBOARDS, DASHBOARDS
from rfa.config import PROJECT_ROOT
from rfa.db import connect
from rfa.errors import RFAError
from rfa.publish.pipeline import NOTEBOOK_DIR
from rfa.publish.schedule import (
    RESERVED_PARAMETERS,
    SCHEDULE_DIR,
    PlanFailure,
    Schedule,
    ScheduleError,
    load_schedule,
    load_schedules,
    parse_schedule,
    plan_schedule,
    plan_schedules,
    resolve_as_of,
    schedule_files,
)
from rfa.queries import accounts as account_queries
from rfa.queries import sessions as session_queries
from rfa.window import make_window

DEMO_SLUGS = {"northwind-it", "harbour-msp", "kiwi-tech"}
TODAY = dt.datetime.now(dt.UTC).date()
NOON = dt.datetime.combine(TODAY, dt.time(12, 0, 30, 123456), tzinfo=dt.UTC)
"""A run time on the day the test demo history ends (today 00:00 UTC)."""


def write(tmp_path: Path, text: str, name: str = "team.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ScheduleError) as info:
        load_schedule(path)
    assert str(info.value) == "\n".join(info.value.errors)
    return info.value.errors


@pytest.fixture
def conn(demo_sqlite_url) -> Iterator:
    with connect(demo_sqlite_url) as connection:
        yield connection


# --- the demo schedules -----------------------------------------------------------


def test_demo_schedules_validate():
    files = schedule_files()
    assert [f.name for f in files] == sorted(f.name for f in files)
    assert {f.name for f in files} == {
        "harbour-noc.yml",
        "kiwi-helpdesk.yml",
        "northwind-service-desk.yml",
    }
    schedules = load_schedules(files)
    assert {s.account for s in schedules} == DEMO_SLUGS
    assert all(s.team == Path(s.source).stem for s in schedules)
    assert all(set(s.dashboards) == set(DASHBOARDS) for s in schedules)
    assert any(s.flows.names for s in schedules) or any(len(s.periods) > 1 for s in schedules)
    assert any("knowledge_gaps" in s.parameters for s in schedules)


@pytest.mark.parametrize("path", sorted(SCHEDULE_DIR.glob("*.yml")), ids=lambda p: p.name)
def test_every_parameter_a_demo_schedule_sets_is_in_the_notebooks_parameters_cell(path):
    schedule = load_schedule(path)
    for dashboard, values in schedule.parameters.items():
        notebook = NOTEBOOK_DIR / f"{DASHBOARDS[dashboard].notebook}.ipynb"
        declared = papermill.inspect_notebook(str(notebook))
        for name, value in values.items():
            assert name in declared, f"{path.name}: {dashboard}.{name} not in {notebook.name}"
            assert name not in RESERVED_PARAMETERS
            kind = declared[name]["inferred_type_name"]
            assert kind in ("int", "float", "str", "bool")
            assert isinstance(
                value, {"int": int, "float": (int, float), "str": str}.get(kind, bool)
            )


def test_demo_schedules_plan_at_most_45_pages_with_no_failures(conn):
    jobs, failures = plan_schedules(conn, load_schedules(schedule_files()), now=NOON)
    assert failures == []
    assert 0 < len(jobs) <= 45
    assert len({j.page for j in jobs}) == len(jobs)
    by_team: dict[str, int] = {}
    for job in jobs:
        by_team[job.team or ""] = by_team.get(job.team or "", 0) + 1
    # every dashboard of each account: 5 account pages, 5 flows, 3 engineers
    assert by_team == {"harbour-noc": 13, "kiwi-helpdesk": 13, "northwind-service-desk": 13}


# --- errors, all at once -----------------------------------------------------------

BAD = """\
team: bad-team
account: northwind-it
periods: [30d, 31d]
as_of: yesterday
dashboards: [team, teams, flow, personal, knowledge_gaps]
flows:
  busiest: 0
engineers:
  busiest: 3
  active_in_window: true
colour: blue
parameters:
  knowledge_gaps:
    min_sessions: 8
    min_sesions: 4
    account: other-account
  flow: {min_sessions: 2}
"""


def test_a_bad_file_reports_every_error_at_once(tmp_path):
    path = write(tmp_path, BAD, "bad-team.yml")
    lines = errors_of(path)
    source = str(path)
    assert all(line.startswith(f"{source}: ") for line in lines), lines
    assert all(" — accepted: " in line or "; accepted: " in line for line in lines), lines

    def line_for(key: str) -> str:
        hits = [line for line in lines if line.startswith(f"{source}: {key}: ")]
        assert len(hits) == 1, (key, lines)
        return hits[0]

    assert '"31d"' in line_for("periods[1]") and "7d, 30d, 90d" in line_for("periods[1]")
    assert '"yesterday"' in line_for("as_of") and "today" in line_for("as_of")
    assert '"teams"' in line_for("dashboards[1]") and "knowledge_gaps" in line_for("dashboards[1]")
    assert line_for("flows.busiest").endswith(": 0 — accepted: a whole number ≥ 1")
    both = line_for("engineers")
    assert "busiest and active_in_window" in both and "exactly one of" in both
    assert "unknown key" in line_for("colour") and "the keys team, account" in line_for("colour")
    typo = line_for("parameters.knowledge_gaps.min_sesions")
    assert "not a parameter of notebooks/knowledge_gaps.ipynb" in typo
    assert "min_sessions (int, default 10)" in typo
    assert "reserved" in line_for("parameters.knowledge_gaps.account")
    assert "not a parameter of notebooks/flow_analytics.ipynb" in line_for(
        "parameters.flow.min_sessions"
    )
    assert len(lines) == 9
    assert not any("parameters.knowledge_gaps.min_sessions:" in line for line in lines)


def test_errors_are_a_user_error_with_exit_code_2(tmp_path):
    with pytest.raises(RFAError) as info:
        load_schedule(write(tmp_path, "account: x\nperiods: [1w]\n"))
    assert info.value.exit_code == 2


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "account: northwind-it\nperiods: [30d\ndashboards: [team]\n")
    (line,) = errors_of(path)
    assert line.startswith(f"{path}: line 3, column ")
    assert "YAML syntax error" in line


def test_a_key_given_twice_names_its_line(tmp_path):
    (line,) = errors_of(write(tmp_path, "account: a\nperiods: [7d]\naccount: b\n"))
    assert "line 3" in line and '"account" appears twice' in line


@pytest.mark.parametrize("text", ["", "- team\n- flow\n", "just text\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path, text):
    (line,) = errors_of(write(tmp_path, text))
    assert "(top level)" in line and "a mapping of the keys team, account" in line


def test_unreadable_file(tmp_path):
    (line,) = errors_of(tmp_path / "missing.yml")
    assert line.startswith(f"{tmp_path / 'missing.yml'}: cannot read the file")


def test_missing_account_and_empty_lists(tmp_path):
    text = "periods: []\ndashboards: []\nflows: {names: []}\nengineers: {}\n"
    lines = errors_of(write(tmp_path, text))
    keys = {line.split(": ")[1] for line in lines}
    assert {"account", "periods", "dashboards", "flows.names", "engineers"} <= keys
    assert any("account: missing" in line for line in lines)


def test_rules_values_and_cross_checks(tmp_path):
    text = """\
account: kiwi-tech
periods: [30d, 30d]
dashboards: [team, knowledge_gaps]
flows: {names: [a, A]}
engineers: {active_in_window: false}
parameters:
  coverage: {}
  knowledge_gaps: {min_sessions: 2.5, min_escalation_rate: "high", max_guided_rate: [1]}
"""
    lines = errors_of(write(tmp_path, text))
    joined = "\n".join(lines)
    assert 'periods: ["30d", "30d"] — ' not in joined  # says which value repeats
    assert '"30d" is listed twice' in joined
    assert '"A" is listed twice' in joined
    assert "engineers.active_in_window: false — accepted: true" in joined
    assert "parameters.coverage: set, but coverage is not in dashboards" in joined
    assert "min_sessions: 2.5 — accepted: a whole number" in joined
    assert 'min_escalation_rate: "high" — accepted: a number' in joined
    assert "max_guided_rate: [1] — accepted:" in joined


def test_scope_rules_need_their_dashboard(tmp_path):
    text = "account: a\ndashboards: [team]\nflows: {busiest: 2}\nengineers: {busiest: 2}\n"
    lines = errors_of(write(tmp_path, text))
    assert len(lines) == 2
    assert "flows: set, but flow is not in dashboards" in lines[0]
    assert "engineers: set, but personal is not in dashboards" in lines[1]


def test_defaults_and_as_of_forms(tmp_path):
    schedule = load_schedule(write(tmp_path, "account: harbour-msp\n", "night-shift.yml"))
    assert schedule.team == "night-shift"
    assert schedule.periods == ["30d"] and schedule.as_of == "today"
    assert schedule.dashboards == list(DASHBOARDS)
    assert schedule.flows.busiest == 5 and schedule.engineers.busiest == 3
    assert schedule.parameters == {}
    text = "account: a\nas_of: 2026-11-01\nperiods: [2026-10-01..2026-10-31, 7d]\n"
    schedule = load_schedule(write(tmp_path, text))
    assert schedule.as_of == "2026-11-01"
    assert schedule.periods == ["2026-10-01..2026-10-31", "7d"]
    assert load_schedule(write(tmp_path, "account: a\nas_of: NOW\n")).as_of == "now"


def test_load_schedules_lists_every_files_errors_and_duplicate_teams(tmp_path):
    one = write(tmp_path, "account: a\nperiods: [1d]\n", "one.yml")
    two = write(tmp_path, "account: a\ndashboards: [nope]\n", "two.yml")
    ok1 = write(tmp_path, "team: same\naccount: a\n", "three.yml")
    ok2 = write(tmp_path, "team: Same\naccount: b\n", "four.yml")
    with pytest.raises(ScheduleError) as info:
        load_schedules([one, two, ok1, ok2])
    lines = info.value.errors
    assert len(lines) == 3
    assert lines[0].startswith(f"{one}: periods[0]")
    assert lines[1].startswith(f"{two}: dashboards[0]")
    assert lines[2].startswith(f"{ok2}: team:") and str(ok1) in lines[2]


def test_schedule_files(tmp_path):
    with pytest.raises(ScheduleError, match="no schedule files"):
        schedule_files(tmp_path)
    with pytest.raises(ScheduleError, match="no schedule files"):
        schedule_files(tmp_path / "absent")
    for name in ("b.yaml", "a.yml", "c.txt"):
        write(tmp_path, "account: a\n", name)
    assert [p.name for p in schedule_files(tmp_path)] == ["a.yml", "b.yaml"]
    assert SCHEDULE_DIR == PROJECT_ROOT / "params" / "teams"


# --- planning against the demo database ------------------------------------------------


def counts(conn, slug: str, period: str, by: str, as_of: dt.datetime) -> pl.DataFrame:
    info = account_queries.resolve_account(conn, slug)
    window = make_window(period, as_of, info.timezone)
    frame = session_queries.sessions_frame(conn, info.id, window)
    return frame.group_by(by).len().sort(["len", by], descending=[True, False])


def schedule(**fields) -> Schedule:
    return parse_schedule({"team": "t", **fields}, "t.yml")


def test_plan_busiest_flows_and_engineers_per_period(conn):
    plan = schedule(
        account="northwind-it",
        periods=["7d", "30d"],
        flows={"busiest": 4},
        engineers={"busiest": 2},
        parameters={"knowledge_gaps": {"min_sessions": 8}},
    )
    jobs, failures = plan_schedule(conn, plan, now=NOON)
    assert failures == []
    midnight = dt.datetime.combine(TODAY, dt.time(), tzinfo=dt.UTC)
    assert {j.as_of for j in jobs} == {midnight.isoformat()}
    assert {j.team for j in jobs} == {"t"}
    for period in ("7d", "30d"):
        mine = [j for j in jobs if j.period == period]
        assert sorted(j.dashboard for j in mine if j.scope_id is None) == sorted(ACCOUNT_DASHBOARDS)
        flows = counts(conn, "northwind-it", period, "tree_id", midnight)["tree_id"].head(4)
        assert [j.scope_id for j in mine if j.dashboard == "flow"] == flows.to_list()
        people = counts(conn, "northwind-it", period, "user_id", midnight)["user_id"].head(2)
        assert [j.scope_id for j in mine if j.dashboard == "personal"] == people.to_list()
        assert len(mine) == len(ACCOUNT_DASHBOARDS) + 4 + 2
    for job in jobs:
        expected = {"min_sessions": 8} if job.dashboard == "knowledge_gaps" else {}
        assert job.extra == expected
        assert job.parameters(Path("x.json"))["period"] == job.period


def test_plan_active_in_window_takes_every_active_engineer(conn):
    plan = schedule(
        account="harbour-msp",
        dashboards=["personal"],
        engineers={"active_in_window": True},
        periods=["7d"],
    )
    jobs, failures = plan_schedule(conn, plan, now=NOON)
    midnight = dt.datetime.combine(TODAY, dt.time(), tzinfo=dt.UTC)
    active = counts(conn, "harbour-msp", "7d", "user_id", midnight)["user_id"].to_list()
    assert failures == [] and len(active) > 3
    assert [j.scope_id for j in jobs] == active
    assert {j.dashboard for j in jobs} == {"personal"}


def test_as_of_today_plans_identical_jobs_all_day(conn):
    plan = schedule(account="kiwi-tech")
    early = dt.datetime.combine(TODAY, dt.time(0, 0, 1), tzinfo=dt.UTC)
    late = dt.datetime.combine(TODAY, dt.time(23, 59, 59, 999999), tzinfo=dt.UTC)
    first, _ = plan_schedule(conn, plan, now=early)
    again, _ = plan_schedule(conn, plan, now=late)
    assert first and first == again
    tomorrow, _ = plan_schedule(conn, plan, now=late + dt.timedelta(seconds=1))
    assert {j.as_of for j in tomorrow} != {j.as_of for j in first}


def test_resolve_as_of():
    now = dt.datetime(2026, 11, 20, 17, 45, 12, 999, tzinfo=dt.UTC)
    assert resolve_as_of("today", now) == dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    assert resolve_as_of("now", now) == now.replace(microsecond=0)
    assert resolve_as_of("2026-11-01", now) == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert resolve_as_of("2026-11-01T06:00:00+02:00", now) == dt.datetime(
        2026, 11, 1, 4, tzinfo=dt.UTC
    )
    naive = dt.datetime(2026, 11, 20, 23, 30)  # naive = UTC
    assert resolve_as_of("today", naive) == dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def test_an_unknown_explicit_flow_is_a_failed_page_and_the_rest_is_planned(conn):
    info = account_queries.resolve_account(conn, "kiwi-tech")
    flows = account_queries.list_flows(conn, info.id)
    real_name, real_id = flows["name"][0], flows["tree_id"][1]
    plan = schedule(
        account="kiwi-tech",
        periods=["7d", "30d"],
        flows={"names": [real_name, "No such flow", real_id, flows["tree_id"][0]]},
        engineers={"names": ["nobody@example.com"]},
    )
    jobs, failures = plan_schedule(conn, plan, now=NOON)
    for period in ("7d", "30d"):
        mine = [j for j in jobs if j.period == period]
        assert [j.scope_id for j in mine if j.dashboard == "flow"] == [
            flows["tree_id"][0],
            real_id,
        ]  # the first flow's name and id name one flow: one page
        assert not [j for j in mine if j.dashboard == "personal"]
        assert len(mine) == len(ACCOUNT_DASHBOARDS) + 2
    assert [(f.dashboard, f.period, f.scope) for f in failures] == [
        ("flow", "7d", "No such flow"),
        ("personal", "7d", "nobody@example.com"),
        ("flow", "30d", "No such flow"),
        ("personal", "30d", "nobody@example.com"),
    ]
    first = failures[0]
    assert isinstance(first, PlanFailure) and first.team == "t"
    assert "unknown flow 'No such flow'" in first.message and "accepted" in first.message
    assert first.label == "kiwi-tech/members/flow-no-such-flow-7d"
    assert first.page == "kiwi-tech/members/flow-no-such-flow-7d.html"
    assert failures[1].label == "kiwi-tech/engineers/nobody-example-com/personal-7d"
    assert str(first).startswith("kiwi-tech/members/flow-no-such-flow-7d: unknown flow")


def test_an_unknown_account_fails_the_whole_schedule(conn, tmp_path):
    path = write(tmp_path, "account: no-such-account\n")
    with pytest.raises(ScheduleError) as info:
        plan_schedule(conn, load_schedule(path), now=NOON)
    (line,) = info.value.errors
    assert line.startswith(f"{path}: account: unknown account 'no-such-account'")
    assert "northwind-it" in line
    good = schedule(account="kiwi-tech", dashboards=["team"])
    with pytest.raises(ScheduleError) as info:
        plan_schedules(conn, [load_schedule(path), good, load_schedule(path)], now=NOON)
    assert len(info.value.errors) == 2


# --- fuzzing: anything else than a schedule is a ScheduleError, never a crash -----------

KEYS = [*Schedule.model_fields, "busiest", "names", "active_in_window", "extra"]
WORDS = [*KEYS, *DASHBOARDS, "7d", "30d", "today", "now", "min_sessions", "account", "2026-11-01"]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.sampled_from(WORDS)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(WORDS) | st.text(max_size=6) | st.integers(), inner, max_size=4
        )
    ),
    max_leaves=12,
)
documents = (
    st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), values, max_size=8) | values
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_fuzz_parse_schedule_raises_only_schedule_errors(data):
    try:
        result = parse_schedule(data, "fuzz.yml", team="fuzz")
    except ScheduleError as exc:
        assert exc.errors and all(line.startswith("fuzz.yml: ") for line in exc.errors)
    else:
        assert isinstance(result, Schedule)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from([*"abc:-[]{}&*!|>'\"#,? \n\t0127d.", *WORDS]), max_size=40).map(
        "".join
    )
)
def test_fuzz_load_schedule_on_random_text(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.yml"
        path.write_text(text, encoding="utf-8")
        try:
            load_schedule(path)
        except ScheduleError as exc:
            assert exc.errors


def test_two_schedules_of_one_account_plan_each_page_once(conn):
    """Two team files for one account (issue 16 item 3): the run plans each page once,
    and a page the two files plan with different parameters is one conflict line."""
    from rfa.publish.pipeline import dedupe_jobs
    from rfa.publish.schedule import plan_schedules

    north = parse_schedule(
        {"account": "kiwi-tech", "dashboards": ["team", "flow"], "flows": {"busiest": 2}},
        "north.yml",
        team="north",
    )
    south = parse_schedule(
        {"account": "kiwi-tech", "dashboards": ["team", "flow"], "flows": {"busiest": 3}},
        "south.yml",
        team="south",
    )
    jobs, failures = plan_schedules(conn, [north, south])
    assert not failures and len(jobs) == (1 + 2) + (1 + 3)
    kept, conflicts = dedupe_jobs(jobs)
    assert conflicts == [] and len(kept) == len({j.page for j in jobs}) == 1 + 3
    assert kept[0].dashboard == "team" and kept[0].team == "north, south"
    gaps = {"account": "kiwi-tech", "dashboards": ["knowledge_gaps"]}
    east = parse_schedule(
        {**gaps, "parameters": {"knowledge_gaps": {"min_sessions": 5}}}, "east.yml", team="east"
    )
    west = parse_schedule(gaps, "west.yml", team="west")
    jobs, _ = plan_schedules(conn, [east, west])
    kept, conflicts = dedupe_jobs(jobs)
    assert kept == [] and len(conflicts) == 1
    assert "east" in conflicts[0][2] and "west" in conflicts[0][2] and "\n" not in conflicts[0][2]
