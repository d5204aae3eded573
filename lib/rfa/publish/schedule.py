"""Scheduled renders per team: ``params/teams/<team>.yml`` → the pages to publish.

A schedule names an account, the dashboards, the scopes of the flow and personal
dashboards (explicit flows / engineers, or rules: the N busiest of the window,
every engineer active in the window), the periods and the end of the window.
The schema is documented in ``params/README.md``.

* :func:`load_schedule` / :func:`load_schedules` validate files (pydantic, plus the
  notebooks' parameters cells read with papermill) *before* anything runs, and
  raise one :class:`ScheduleError` listing every problem of every file, one per
  line: ``file: dotted.key: value — accepted: …``.
* :func:`plan_schedule` turns a schedule into :class:`~rfa.publish.pipeline.PageJob`
  items against the database. An unknown account fails the whole schedule; an
  explicit flow or engineer that does not resolve becomes a :class:`PlanFailure`
  (a failed page) and the rest of the team's pages are still planned.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError
from slugify import slugify
from sqlalchemy.engine import Connection

from rfa.catalog import DASHBOARDS, DashboardName
from rfa.config import PROJECT_ROOT
from rfa.errors import BadRowError, NotFoundError, ParameterError, RFAError
from rfa.metrics.models import Entity
from rfa.publish.paths import UnsafePathError, safe_segment
from rfa.publish.pipeline import (
    DEFAULT_ENGINEERS,
    DEFAULT_FLOWS,
    NOTEBOOK_DIR,
    PageJob,
    is_rolling,
    plan_account,
    ranked_ids,
)
from rfa.publish.planning import account_failures, check_account_row
from rfa.queries import accounts as account_queries
from rfa.window import PERIOD_ACCEPTED, make_window, parse_as_of

SCHEDULE_DIR = PROJECT_ROOT / "params" / "teams"
"""Where the team schedules live (``rfa publish --all-schedules``)."""

RESERVED_PARAMETERS: tuple[str, ...] = (
    "account",
    "period",
    "as_of",
    "flow",
    "engineer",
    "data_file",
)
"""Notebook parameters a schedule sets itself; ``parameters:`` may not override them."""

ParameterValue = str | int | float | bool

_DASHBOARD_LIST = ", ".join(DASHBOARDS)
_AS_OF_ACCEPTED = (
    "today (00:00 UTC of the run's day, the default), now, or an ISO date or datetime "
    "such as 2026-11-01 or 2026-11-01T06:00:00Z"
)
_WHOLE = "a whole number ≥ 1"
_FLOW_RULES = "exactly one of busiest: N (the N busiest flows of the window) or names: [...]"
_ENGINEER_RULES = (
    "exactly one of busiest: N, active_in_window: true (every engineer with a session "
    "in the window) or names: [...]"
)

# What each key accepts, by key pattern ("*" for a list position or a free key).
_ACCEPTED: dict[str, str] = {
    "team": "a non-empty team name (default: the file name without .yml)",
    "account": "an account slug or id, e.g. northwind-it (`rfa accounts` lists them)",
    "periods": f"a non-empty list of distinct periods: {PERIOD_ACCEPTED}",
    "periods.*": PERIOD_ACCEPTED,
    "as_of": _AS_OF_ACCEPTED,
    "dashboards": f"a non-empty list of distinct dashboards: {_DASHBOARD_LIST}",
    "dashboards.*": f"one of {_DASHBOARD_LIST}",
    "flows": f"a mapping with {_FLOW_RULES}",
    "flows.busiest": _WHOLE,
    "flows.names": "a non-empty list of distinct flow ids or exact flow names",
    "flows.names.*": "a flow id or exact flow name (`rfa flows --account SLUG` lists them)",
    "engineers": f"a mapping with {_ENGINEER_RULES}",
    "engineers.busiest": _WHOLE,
    "engineers.active_in_window": "true",
    "engineers.names": "a non-empty list of distinct engineer ids, emails or names",
    "engineers.names.*": "an engineer's id, email or name (`rfa engineers --account SLUG`)",
    "parameters": "a mapping of dashboard → {notebook parameter: value}",
    "parameters.*": "a mapping of notebook parameter → value (a number, a string or true/false)",
    "parameters.*.*": "a finite number, a string or true/false",
}


class ScheduleError(RFAError):
    """One or more schedule files are invalid (or name an unknown account).

    ``errors`` holds one line per problem (``file: key: value — accepted: …``);
    ``str(error)`` is those lines joined by newlines.
    """

    def __init__(self, errors: Sequence[str]):
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


def _invalid(what: str, accepted: str) -> PydanticCustomError:
    return PydanticCustomError(
        "schedule", "{what} — accepted: {accepted}", {"what": what, "accepted": accepted}
    )


def _render(value: object, budget: int, depth: int = 0) -> str:
    """YAML-flow-like text of ``value``, stopping once ``budget`` characters are spent
    (bounded even for huge or self-referencing YAML alias structures)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value[: budget + 1], ensure_ascii=False)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple | set):
        if depth > 3:
            return "…"
        items = value.items() if isinstance(value, Mapping) else value
        parts: list[str] = []
        used = 2
        for item in items:
            if used > budget:
                parts.append("…")
                break
            if isinstance(value, Mapping):
                key, val = item
                text = f"{_render(key, budget - used, depth + 1)}: "
                text += _render(val, budget - used - len(text), depth + 1)
            else:
                text = _render(item, budget - used, depth + 1)
            parts.append(text)
            used += len(text) + 2
        inner = ", ".join(parts)
        return "{" + inner + "}" if isinstance(value, Mapping) else "[" + inner + "]"
    return repr(value)[: budget + 1]


def _show(value: object, limit: int = 60) -> str:
    """A rejected value as YAML would spell it, shortened to ``limit`` characters."""
    text = _render(value, limit)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _distinct(what: str):
    def check(values: list) -> list:
        seen: set = set()
        for value in values:
            key = value.lower() if isinstance(value, str) else value
            if key in seen:
                raise _invalid(f"{_show(value)} is listed twice", f"a list of distinct {what}")
            seen.add(key)
        return values

    return check


def _check_period(value: str) -> str:
    try:
        make_window(value, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), "UTC")
    except ParameterError as exc:
        raise _invalid(_show(value), PERIOD_ACCEPTED) from exc
    return value.strip()


def _as_of_text(value: object) -> object:
    # YAML reads `as_of: 2026-11-01` as a date: keep it as its ISO text.
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _check_as_of(value: str) -> str:
    text = value.strip()
    if text.lower() in ("today", "now"):
        return text.lower()
    try:
        parse_as_of(text)
    except ParameterError as exc:
        raise _invalid(_show(value), _AS_OF_ACCEPTED) from exc
    return text


def _check_scalar(value: object) -> object:
    if isinstance(value, bool | int | str) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise _invalid(_show(value), _ACCEPTED["parameters.*.*"])


def _check_text(value: str) -> str:
    if not value.strip():
        raise _invalid(_show(value), "a non-empty text")
    return value.strip()


Text = Annotated[StrictStr, AfterValidator(_check_text)]
Period = Annotated[StrictStr, AfterValidator(_check_period)]
AsOf = Annotated[StrictStr, BeforeValidator(_as_of_text), AfterValidator(_check_as_of)]
Count = Annotated[StrictInt, Field(ge=1)]
Scalar = Annotated[ParameterValue, BeforeValidator(_check_scalar)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FlowRule(_Strict):
    """Which flows get a flow page: ``busiest: N`` or ``names: [...]`` (exactly one)."""

    busiest: Count | None = None
    """The N busiest flows of the window (most sessions; ties by id)."""
    names: Annotated[list[Text], Field(min_length=1), AfterValidator(_distinct("names"))] | None = (
        None
    )
    """Explicit flow ids or exact flow names."""

    @model_validator(mode="after")
    def _exactly_one(self) -> FlowRule:
        given = [k for k in ("busiest", "names") if getattr(self, k) is not None]
        if len(given) != 1:
            what = (
                "neither busiest nor names given" if not given else "both busiest and names given"
            )
            raise _invalid(what, _FLOW_RULES)
        return self


class EngineerRule(_Strict):
    """Which engineers get a personal page: ``busiest: N``, ``active_in_window: true``
    or ``names: [...]`` (exactly one)."""

    busiest: Count | None = None
    """The N busiest engineers of the window (most sessions; ties by id)."""
    active_in_window: Literal[True] | None = None
    """Every engineer with at least one session in the window."""
    names: Annotated[list[Text], Field(min_length=1), AfterValidator(_distinct("names"))] | None = (
        None
    )
    """Explicit engineer ids, emails or names."""

    @model_validator(mode="after")
    def _exactly_one(self) -> EngineerRule:
        keys = ("busiest", "active_in_window", "names")
        given = [k for k in keys if getattr(self, k) is not None]
        if len(given) != 1:
            what = (
                "none of busiest, active_in_window, names given"
                if not given
                else f"{' and '.join(given)} given together"
            )
            raise _invalid(what, _ENGINEER_RULES)
        return self


class Schedule(_Strict):
    """One team's scheduled renders (a validated ``params/teams/<team>.yml``)."""

    team: Text
    """The team the pages are for; default (set by :func:`load_schedule`): the file stem."""
    account: Text
    """Account slug or id."""
    periods: Annotated[list[Period], Field(min_length=1), AfterValidator(_distinct("periods"))] = [
        "30d"
    ]
    as_of: AsOf = "today"
    """``today`` (00:00 UTC of the run's day), ``now`` or an ISO date / datetime."""
    dashboards: Annotated[
        list[DashboardName], Field(min_length=1), AfterValidator(_distinct("dashboards"))
    ] = list(DASHBOARDS)
    flows: FlowRule = FlowRule(busiest=DEFAULT_FLOWS)
    """Scopes of the flow dashboard."""
    engineers: EngineerRule = EngineerRule(busiest=DEFAULT_ENGINEERS)
    """Scopes of the personal dashboard."""
    parameters: dict[DashboardName, dict[str, Scalar]] = {}
    """Further notebook parameters per dashboard (checked against the notebooks)."""

    _source: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> str:
        """The file the schedule was read from (as shown in messages), or ``<schedule>``."""
        return self._source or "<schedule>"


_FIELDS_OF = {
    (): Schedule.model_fields,
    ("flows",): FlowRule.model_fields,
    ("engineers",): EngineerRule.model_fields,
}


_LISTS = ("periods", "dashboards", "names")


def _key(loc: Sequence[object]) -> str:
    """``("flows", "names", 2)`` → ``flows.names[2]`` (list positions count from 0)."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int) and i > 0 and loc[i - 1] in _LISTS:
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _pattern(loc: Sequence[object]) -> str:
    parts = []
    for i, part in enumerate(loc):
        free = isinstance(part, int) or (i > 0 and loc[0] == "parameters")
        parts.append("*" if free else str(part))
    return ".".join(parts)


def _pydantic_lines(source: str, error: ValidationError) -> list[str]:
    lines: list[str] = []
    for err in error.errors(include_url=False):
        loc = list(err["loc"])
        kind = err["type"]
        ctx = err.get("ctx") or {}
        bad_key = kind not in ("extra_forbidden", "invalid_key", "schedule", "missing")
        if bad_key and len(loc) >= 2 and loc[-1] == "[key]":  # a mapping key was rejected
            loc = loc[:-1]
            if loc and loc[0] == "parameters" and len(loc) == 2:
                what, accepted = f"{_show(loc[1])} is not a dashboard", f"one of {_DASHBOARD_LIST}"
            else:
                what, accepted = f"key {_show(loc[-1])}", "text keys"
        elif kind == "schedule":
            what, accepted = ctx["what"], ctx["accepted"]
        elif kind in ("extra_forbidden", "invalid_key"):
            fields = _FIELDS_OF.get(tuple(loc[:-1]), {})
            what, accepted = "unknown key", "the keys " + ", ".join(fields)
        elif kind == "missing":
            what, accepted = "missing", _ACCEPTED.get(_pattern(loc), err["msg"])
        else:
            what = _show(err.get("input"))
            accepted = _ACCEPTED.get(_pattern(loc), err["msg"])
            if kind == "too_short":
                what = f"{what} (empty)"
        lines.append(f"{source}: {_key(loc)}: {what} — accepted: {accepted}")
    return lines


@functools.cache
def notebook_parameters(dashboard: str) -> dict[str, dict[str, Any]]:
    """The parameters cell of ``dashboard``'s notebook, as papermill inspects it.

    Input: a dashboard name of :data:`rfa.catalog.DASHBOARDS`. Output: parameter
    name → ``{"inferred_type_name", "default", "help", …}``. Raises ``KeyError``
    for an unknown dashboard and papermill's errors for an unreadable notebook.
    """
    import papermill

    path = NOTEBOOK_DIR / f"{DASHBOARDS[dashboard].notebook}.ipynb"
    return dict(papermill.inspect_notebook(str(path)))


def _type_ok(kind: str | None, value: object) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    return True


_TYPE_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "str": "a string",
    "bool": "true/false",
}


def _parameter_lines(source: str, raw: Mapping[Any, Any]) -> list[str]:
    """Cross-checks pydantic cannot express: parameters against the dashboards listed
    and their notebooks, and scope rules given for a dashboard that is not listed."""
    lines: list[str] = []
    listed = raw.get("dashboards", list(DASHBOARDS))
    # Checks against the dashboards listed only when that list itself is valid.
    valid = isinstance(listed, list) and bool(listed)
    valid = valid and all(isinstance(d, str) and d in DASHBOARDS for d in listed)
    dashboards = list(listed) if valid else None
    if dashboards is not None:
        for key, dashboard in (("flows", "flow"), ("engineers", "personal")):
            if key in raw and dashboard not in dashboards:
                lines.append(
                    f"{source}: {key}: set, but {dashboard} is not in dashboards — accepted: "
                    f"{key} only when dashboards lists {dashboard}"
                )
    parameters = raw.get("parameters")
    if not isinstance(parameters, Mapping):
        return lines
    for dashboard, values in parameters.items():
        if not isinstance(dashboard, str) or dashboard not in DASHBOARDS:
            continue  # reported by pydantic
        key = f"parameters.{dashboard}"
        if dashboards is not None and dashboard not in dashboards:
            lines.append(
                f"{source}: {key}: set, but {dashboard} is not in dashboards — accepted: "
                f"parameters of the listed dashboards ({', '.join(dashboards) or 'none'})"
            )
            continue
        if not isinstance(values, Mapping):
            continue
        notebook = f"notebooks/{DASHBOARDS[dashboard].notebook}.ipynb"
        try:
            declared = notebook_parameters(dashboard)
        except Exception as exc:  # noqa: BLE001 - reported as a schedule error
            lines.append(f"{source}: {key}: cannot read {notebook} ({exc}) — accepted: none")
            continue
        free = {n: p for n, p in declared.items() if n not in RESERVED_PARAMETERS}
        accepted = (
            ", ".join(
                f"{n} ({p.get('inferred_type_name')}, default {p.get('default')})"
                for n, p in free.items()
            )
            if free
            else f"none ({notebook} has no parameters beyond the ones a schedule sets itself)"
        )
        for name, value in values.items():
            if not isinstance(name, str):
                continue  # reported by pydantic
            if name in RESERVED_PARAMETERS:
                lines.append(
                    f"{source}: {key}.{name}: {_show(value)} — reserved (set by the schedule "
                    f"itself: {', '.join(RESERVED_PARAMETERS)}); accepted: {accepted}"
                )
            elif name not in declared:
                lines.append(
                    f"{source}: {key}.{name}: not a parameter of {notebook} — accepted: {accepted}"
                )
            else:
                kind = declared[name].get("inferred_type_name")
                scalar = isinstance(value, bool | int | str) or (
                    isinstance(value, float) and math.isfinite(value)
                )
                if scalar and not _type_ok(kind, value):
                    lines.append(
                        f"{source}: {key}.{name}: {_show(value)} — accepted: "
                        f"{_TYPE_WORDS.get(kind or '', kind)} ({notebook} declares "
                        f"{name}: {kind} = {declared[name].get('default')})"
                    )
    return lines


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that rejects a key given twice in one mapping."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:
            continue  # unhashable: construct_mapping reports it
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {_show(key)} appears twice", key_node.start_mark
            )
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# Dates stay text (``as_of: 2026-11-01``): validated by rfa.window, never a YAML crash.
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def parse_schedule(data: object, source: str = "<schedule>", team: str | None = None) -> Schedule:
    """Validate an already-parsed YAML document as a schedule.

    Inputs: ``data`` (what ``yaml.safe_load`` returned), ``source`` (the file name
    shown in messages) and ``team`` (the default team name, usually the file stem).
    Output: the :class:`Schedule`. Raises :class:`ScheduleError` listing every
    problem at once.
    """
    if not isinstance(data, Mapping):
        raise ScheduleError(
            [
                f"{source}: (top level): {_show(data)} — accepted: a mapping of the keys "
                + ", ".join(Schedule.model_fields)
                + " (see params/README.md)"
            ]
        )
    raw = dict(data)
    if team is not None and "team" not in raw:
        raw["team"] = team
    lines: list[str] = []
    schedule: Schedule | None = None
    try:
        schedule = Schedule.model_validate(raw)
    except ValidationError as exc:
        lines += _pydantic_lines(source, exc)
    lines += _parameter_lines(source, raw)
    if lines or schedule is None:
        raise ScheduleError(lines)
    schedule._source = source
    return schedule


def load_schedule(path: str | Path) -> Schedule:
    """Read and validate one schedule file.

    Input: the path of a ``.yml`` file. Output: the :class:`Schedule` (its ``team``
    defaults to the file stem). Raises :class:`ScheduleError` listing every problem
    of the file at once (unreadable file, YAML syntax error with its line, unknown
    keys, bad values, notebook parameters the notebook does not declare).
    """
    path = Path(path)
    source = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ScheduleError(
            [f"{source}: cannot read the file ({reason}) — accepted: a readable UTF-8 YAML file"]
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise ScheduleError(
            [f"{source}: YAML nested too deeply — accepted: a YAML mapping of schedule keys"]
        ) from None
    except Exception as exc:  # noqa: BLE001 - yaml.YAMLError, or a constructor's ValueError
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        what = f"{context}, {problem}" if context else problem
        raise ScheduleError(
            [
                f"{source}: {where}YAML syntax error: {what} — accepted: "
                "a YAML mapping of schedule keys"
            ]
        ) from None
    return parse_schedule(data, source, team=path.stem)


def load_schedules(paths: Iterable[str | Path]) -> list[Schedule]:
    """Validate every file of ``paths`` before anything runs.

    Output: the schedules in the order given. Raises one :class:`ScheduleError`
    listing every problem of every file (and team names used by two files).
    """
    schedules: list[Schedule] = []
    lines: list[str] = []
    for path in paths:
        try:
            schedules.append(load_schedule(path))
        except ScheduleError as exc:
            lines += exc.errors
    teams: dict[str, str] = {}
    for schedule in schedules:
        other = teams.setdefault(schedule.team.lower(), schedule.source)
        if other != schedule.source:
            lines.append(
                f"{schedule.source}: team: {_show(schedule.team)} — also the team of {other}; "
                "accepted: a team name used by one schedule only"
            )
    if lines:
        raise ScheduleError(lines)
    return schedules


def schedule_files(directory: str | Path = SCHEDULE_DIR) -> list[Path]:
    """The schedule files of ``directory`` (``*.yml`` and ``*.yaml``), sorted by name.

    Raises :class:`ScheduleError` when the directory is missing or holds none.
    """
    folder = Path(directory)
    files = (
        sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
        if folder.is_dir()
        else []
    )
    if not files:
        raise ScheduleError(
            [
                f"{_display(folder)}: no schedule files — accepted: a folder of "
                "<team>.yml files (see params/README.md)"
            ]
        )
    return files


class PlanFailure(BaseModel):
    """A page of a schedule that cannot be planned: an explicit flow or engineer that
    does not resolve in the account. Reported as a failed page; the rest goes on."""

    model_config = ConfigDict(frozen=True)

    team: str
    account_slug: str
    dashboard: DashboardName
    period: str
    scope: str
    """The flow or engineer as the schedule names it."""
    message: str
    """Why it failed and what is accepted."""
    page_label: str | None = None
    """The page's label when it is known (a page of an account whose own row is bad:
    :func:`rfa.publish.planning.account_failures`); otherwise :attr:`label` makes one."""

    @property
    def label(self) -> str:
        """Where the page would have been published (without the scope's id, unknown);
        the account folder is the one :mod:`rfa.publish.paths` gives the slug."""
        if self.page_label is not None:
            return self.page_label
        spec = DASHBOARDS[self.dashboard]
        scope = slugify(self.scope, max_length=48) or "unknown"
        try:
            account = safe_segment(self.account_slug, "account slug")
        except UnsafePathError:
            account = "unknown"
        folder = f"{account}/{spec.folder}"
        if spec.scope == "engineer":
            return f"{folder}/{scope}/personal-{slugify(self.period)}"
        return f"{folder}/{self.dashboard.replace('_', '-')}-{scope}-{slugify(self.period)}"

    @property
    def page(self) -> str:
        """:attr:`label` as a page path (``….html``), for the index and the manifest."""
        return f"{self.label}.html"

    def __str__(self) -> str:
        return f"{self.label}: {self.message}"


def resolve_as_of(as_of: str, now: dt.datetime | None = None) -> dt.datetime:
    """The end of the schedule's windows as an aware UTC datetime (whole seconds).

    ``today`` → 00:00 UTC of ``now``'s UTC day (a rerun the same day plans the
    same pages); ``now`` → ``now``; anything else is parsed as an ISO date or
    datetime (naive = UTC). ``now`` defaults to the current time (naive = UTC).
    Raises :class:`~rfa.errors.ParameterError` for a malformed value.
    """
    current = parse_as_of(now or dt.datetime.now(dt.UTC))
    key = as_of.strip().lower()
    if key == "today":
        return dt.datetime.combine(current.date(), dt.time(), tzinfo=dt.UTC)
    if key == "now":
        return current.replace(microsecond=0)
    return parse_as_of(as_of).replace(microsecond=0)


def _resolve_names(resolve, conn: Connection, account_id: str, names: Sequence[str]):
    """Resolve each name once: ``[(name, Entity | None, error message | None)]`` (an
    unknown name, or a flow / engineer whose row is bad: :class:`~rfa.errors.BadRowError`)."""
    out: list[tuple[str, Entity | None, str | None]] = []
    for name in names:
        try:
            out.append((name, resolve(conn, account_id, name), None))
        except (NotFoundError, BadRowError) as exc:
            out.append((name, None, str(exc)))
    return out


_EVERY = 10**9
"""More scopes than any account has: ``busiest: N`` above it (``busiest: 1e30`` is a valid
whole number) means every scope, and polars is never asked for more rows than it can count."""


def plan_schedule(
    conn: Connection, schedule: Schedule, now: dt.datetime | None = None
) -> tuple[list[PageJob], list[PlanFailure]]:
    """List the pages of one team's schedule.

    Inputs: an open connection, a validated :class:`Schedule` and ``now`` (the
    run's time, default the current time; it fixes ``as_of: today|now``).
    Output: ``(jobs, failures)`` — one :class:`~rfa.publish.pipeline.PageJob` per
    period × dashboard × scope (with ``team`` and the schedule's notebook
    ``parameters`` in ``extra``), and one :class:`PlanFailure` per period for
    each explicit flow / engineer that does not resolve. Rules use each period's
    window: ``busiest: N`` the N scopes with most sessions (ties by id),
    ``active_in_window`` every engineer with a session. A bad row fails only the
    pages that need it (:mod:`rfa.publish.planning`): an account whose timezone or
    slug is unusable gives one failure per period × dashboard and no job; a flow
    without a name or an engineer with neither name nor email, a failure for that
    scope's page. Raises :class:`ScheduleError` for an unknown account, and
    :class:`~rfa.errors.DatabaseUnavailable` when the database cannot be read.
    """
    try:
        info = account_queries.resolve_account(conn, schedule.account)
    except NotFoundError as exc:
        raise ScheduleError([f"{schedule.source}: account: {exc}"]) from None
    try:
        end = resolve_as_of(schedule.as_of, now)
    except ParameterError as exc:  # validated on load; a hand-built Schedule may still be bad
        raise ScheduleError([f"{schedule.source}: as_of: {exc}"]) from None

    wanted = schedule.dashboards
    try:  # a bad account row (timezone, slug) fails this account's pages only
        check_account_row(info)
    except BadRowError as exc:
        rolling = schedule.as_of in ("today", "now") or is_rolling(end, end)
        return [], [
            PlanFailure(
                team=schedule.team,
                account_slug=info.slug,
                dashboard=failure.dashboard,
                period=period,
                scope="",
                message=failure.message,
                page_label=failure.label,
            )
            for period in schedule.periods
            for failure in account_failures(info, wanted, period, end, exc, rolling=rolling)
        ]
    named: dict[str, list[tuple[str, Entity | None, str | None]]] = {}
    if "flow" in wanted and schedule.flows.names:
        named["flow"] = _resolve_names(
            account_queries.resolve_flow, conn, info.id, schedule.flows.names
        )
    if "personal" in wanted and schedule.engineers.names:
        named["personal"] = _resolve_names(
            account_queries.resolve_engineer, conn, info.id, schedule.engineers.names
        )

    jobs: list[PageJob] = []
    failures: list[PlanFailure] = []
    for period in schedule.periods:
        window = make_window(period, end, info.timezone)
        scopes: dict[str, list[tuple[str, Entity | None, str | None]]] = dict(named)
        if "flow" in wanted and schedule.flows.busiest is not None:
            n = min(schedule.flows.busiest, _EVERY)
            ids = ranked_ids(conn, info.id, window, "tree_id", n)
            scopes["flow"] = _resolve_names(account_queries.resolve_flow, conn, info.id, ids)
        if "personal" in wanted and schedule.engineers.names is None:
            n = min(schedule.engineers.busiest or _EVERY, _EVERY)  # active_in_window: every one
            ids = ranked_ids(conn, info.id, window, "user_id", n)
            scopes["personal"] = _resolve_names(
                account_queries.resolve_engineer, conn, info.id, ids
            )
        resolved: dict[str, list[str]] = {}
        for dashboard, items in scopes.items():
            ids_seen: list[str] = []
            for name, entity, error in items:
                if entity is None:
                    failures.append(
                        PlanFailure(
                            team=schedule.team,
                            account_slug=info.slug,
                            dashboard=dashboard,
                            period=period,
                            scope=name,
                            message=error or "not found",
                        )
                    )
                elif entity.id not in ids_seen:
                    ids_seen.append(entity.id)
            resolved[dashboard] = ids_seen
        planned = plan_account(
            conn,
            info.slug,
            period=period,
            as_of=end,
            dashboards=wanted,
            flows=resolved.get("flow", []),
            engineers=resolved.get("personal", []),
            # today / now: the rolling window (the pages' usual paths); another end is ad hoc
            rolling=True if schedule.as_of in ("today", "now") else None,
        )
        jobs += [
            job.model_copy(
                update={
                    "team": schedule.team,
                    "extra": dict(schedule.parameters.get(job.dashboard, {})),
                }
            )
            for job in planned
        ]
    return jobs, failures


def plan_schedules(
    conn: Connection, schedules: Sequence[Schedule], now: dt.datetime | None = None
) -> tuple[list[PageJob], list[PlanFailure]]:
    """:func:`plan_schedule` for several schedules with one ``now``; every unknown
    account is reported in one :class:`ScheduleError` before any page is planned."""
    now = now or dt.datetime.now(dt.UTC)
    jobs: list[PageJob] = []
    failures: list[PlanFailure] = []
    lines: list[str] = []
    for schedule in schedules:
        try:
            more, failed = plan_schedule(conn, schedule, now)
        except ScheduleError as exc:
            lines += exc.errors
            continue
        jobs += more
        failures += failed
    if lines:
        raise ScheduleError(lines)
    return jobs, failures


__all__ = [
    "RESERVED_PARAMETERS",
    "SCHEDULE_DIR",
    "EngineerRule",
    "FlowRule",
    "PlanFailure",
    "Schedule",
    "ScheduleError",
    "load_schedule",
    "load_schedules",
    "notebook_parameters",
    "parse_schedule",
    "plan_schedule",
    "plan_schedules",
    "resolve_as_of",
    "schedule_files",
]
