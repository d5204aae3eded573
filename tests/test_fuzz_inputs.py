"""Bad input, fuzzed (hypothesis): every value ends in a clear error or a correct page.

* ``rfa.window``: any text as ``period``, ``as_of`` or timezone gives a
  :class:`~rfa.window.Window` or a :class:`~rfa.errors.ParameterError` — never an
  ``OverflowError`` or anything else.
* ``rfa.publish.paths``: any account slug, flow or engineer name and id gives a page
  path strictly inside the publish directory, or an :class:`UnsafePathError`.
* ``rfa.publish.schedule``: any YAML document or parsed mapping gives a
  :class:`Schedule` or a :class:`ScheduleError`; valid schedules plan against the
  demo database or fail with an :class:`~rfa.errors.RFAError`.
* The CLI with fuzzed ``--account``, ``--flow``, ``--engineer``, ``--period`` and
  ``--as-of`` (SQL-looking strings, unicode, non-UTF-8 bytes, huge values, path
  separators and ``..``) exits 0 with correct pages, or 2/3 with one ``error:``
  line and no traceback; the database is unchanged and nothing is written outside
  the publish and build directories.
* Names that *do* resolve but hold odd characters (an account slug ``../../x``, a
  flow called ``../../evil/<script>…``) publish strictly inside the publish directory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import shutil
import sqlite3
import tempfile
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from slugify import slugify

from cli_helpers import run_rfa
from demo_db import ANCHOR
from rfa.catalog import DASHBOARDS
from rfa.db import connect
from rfa.errors import NotFoundError, ParameterError, RFAError
from rfa.publish.paths import (
    UnsafePathError,
    check_relative,
    page_path,
    page_relpath,
    safe_segment,
    scope_segment,
)
from rfa.publish.schedule import Schedule, ScheduleError, load_schedule, parse_schedule
from rfa.publish.schedule import plan_schedule as plan_team
from rfa.queries import accounts as aq
from rfa.queries import sessions as sq
from rfa.window import EARLIEST, LATEST, Window, make_window, parse_as_of

AS_OF = ANCHOR.date().isoformat()
NASTY = [
    "'; DROP TABLE sessions; --",
    '" OR 1=1 --',
    "kiwi-tech' OR '1'='1",
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/abs/path",
    "/tmp/rfa-fuzz-abs/evil",
    "..",
    ".",
    "",
    " ",
    "a/b",
    "C:\\evil",
    "<script>alert(1)</script>",
    "[/x] [bold]markup[/bold]",
    "${HOME} $(id) `id`",
    "%s %(account_id)s {0} {account}",
    "Zoë Ångström 日本語 🙂",
    "\u202etxt.exe",
    "a\nb\r\nc\td",
    "\x1b[31mred",
    "9" * 400,
    "x" * 5000,
    "-1",
    "1e309",
    "NaN",
    "0001-01-01",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00+23:59",
    "0001-01-01..0001-01-02",
    "9999-12-31..9999-12-31",
    "2026-02-30..2026-03-01",
    "2026-11-01..2026-10-01",
    "99999d",
    "7d;",
    "30d/../..",
]
"""Hand-picked hostile values; the strategies mix them with generated text."""

PERIODS = ["7d", "30d", "90d", " 30d ", "30D", "0d", "-7d", "1900-01-01..1900-01-03"]
ZONES = ["UTC", "Pacific/Kiritimati", "Etc/GMT+12", "America/New_York", "Pacific/Auckland"]

# Text with any character except lone surrogates (which only argv can carry).
any_text = st.text(max_size=60)
# Also lone surrogates, as Python decodes non-UTF-8 bytes of argv or a file name.
raw_text = st.text(st.characters(exclude_categories=()), max_size=40)
hostile = st.one_of(st.sampled_from(NASTY), any_text, raw_text)


def _offset() -> st.SearchStrategy[dt.timezone]:
    return st.timedeltas(
        min_value=-dt.timedelta(hours=23, minutes=59), max_value=dt.timedelta(hours=23, minutes=59)
    ).map(dt.timezone)


iso_as_of = st.one_of(
    st.dates().map(dt.date.isoformat),
    st.builds(
        lambda d, tz: d.replace(tzinfo=tz).isoformat(),
        st.datetimes(),
        _offset(),
    ),
    st.datetimes().map(lambda d: d.isoformat(sep=" ")),
)
as_of_text = st.one_of(iso_as_of, hostile)
period_text = st.one_of(
    st.sampled_from(PERIODS),
    st.tuples(st.dates(), st.dates()).map(lambda p: f"{p[0]}..{p[1]}"),
    hostile,
)
zone_text = st.one_of(st.sampled_from(ZONES), hostile)


# ------------------------------------------------------------------ windows


def _check_window(window: Window, period: str) -> None:
    assert window.start < window.end
    assert window.start.utcoffset() == dt.timedelta(0) == window.end.utcoffset()
    assert window.period == period.strip()
    days = window.local_days()
    assert days and all((b - a).days == 1 for a, b in zip(days, days[1:], strict=False))
    assert isinstance(window.describe(), str)


@settings(max_examples=300, deadline=None)
@given(as_of=as_of_text)
def test_parse_as_of_gives_a_utc_time_or_a_parameter_error(as_of):
    try:
        value = parse_as_of(as_of)
    except ParameterError as exc:
        assert exc.field == "as_of" and "accepted:" in str(exc)
        return
    assert value.utcoffset() == dt.timedelta(0)
    assert EARLIEST <= value <= LATEST


@settings(max_examples=300, deadline=None)
@given(period=period_text, as_of=as_of_text, zone=zone_text)
def test_make_window_gives_a_window_or_a_parameter_error(period, as_of, zone):
    try:
        window = make_window(period, as_of, zone)
    except ParameterError as exc:
        assert exc.field in ("period", "as_of", "timezone"), exc.field
        assert "accepted:" in str(exc)
        return
    _check_window(window, period)


@pytest.mark.parametrize(
    ("period", "as_of", "zone"),
    [
        ("7d", "0001-01-01", "UTC"),
        ("7d", "0001-01-01T00:00+05:00", "UTC"),
        ("30d", "9999-12-31T23:59:59-05:00", "UTC"),
        ("0001-01-01..0001-01-02", None, "Pacific/Auckland"),
        ("9999-12-31..9999-12-31", None, "UTC"),
        ("7d", None, "x" * 5000),
    ],
)
def test_dates_near_year_1_or_9999_are_a_parameter_error_not_an_overflow(period, as_of, zone):
    with pytest.raises(ParameterError, match="accepted:"):
        make_window(period, as_of, zone)


def test_the_supported_date_limits_still_make_windows():
    for zone in ZONES:
        _check_window(make_window("90d", "1900-01-01", zone), "90d")
        _check_window(make_window("90d", "2200-01-01T00:00Z", zone), "90d")
        _check_window(make_window("1900-01-01..1900-01-01", None, zone), "1900-01-01..1900-01-01")
        _check_window(make_window("2199-12-31..2199-12-31", None, zone), "2199-12-31..2199-12-31")
    whole = "1900-01-01..2199-12-31"
    days = (dt.date(2199, 12, 31) - dt.date(1900, 1, 1)).days + 1
    assert len(make_window(whole, None, "Pacific/Kiritimati").local_days()) == days


# ------------------------------------------------------------------ page paths


_LEGACY_UUIDS = [str(uuid.UUID(int=i * 7919 + 13, version=4)) for i in range(4)]


def _legacy_page(slug, folder, dashboard, period, scope, name, scope_id):
    """The page layout before rfa.publish.paths (PageJob.page of the seed), with the
    scope's whole UUID since issue 16 item 7 (a prefix collides for time-ordered ids)."""
    when = slugify(period)
    base = f"{slug}/{folder}"
    if scope is None:
        return f"{base}/{dashboard.replace('_', '-')}-{when}.html"
    part = f"{slugify(name or '', max_length=48)}-{scope_id}"
    if scope == "flow":
        return f"{base}/flow-{part}-{when}.html"
    return f"{base}/{part}/personal-{when}.html"


@pytest.mark.parametrize("slug", ["northwind-it", "harbour-msp", "kiwi-tech", "acme.io", "a_b"])
def test_ordinary_names_keep_their_published_paths(slug):
    for spec in DASHBOARDS.values():
        for period in ("7d", "30d", "2026-10-01..2026-10-31"):
            for name, scope_id in (("Outlook profile corruption", _LEGACY_UUIDS[0]),):
                args = (slug, spec.folder, spec.name, period, spec.scope, name, scope_id)
                expected = _legacy_page(*args)
                got = page_relpath(
                    slug,
                    spec.folder,
                    spec.name,
                    period,
                    scope=spec.scope,
                    scope_name=name,
                    scope_id=scope_id,
                )
                assert got == expected


SEGMENT = r"[a-z0-9][a-z0-9._-]*"


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.sampled_from(NASTY), any_text, raw_text, st.from_regex(SEGMENT)))
def test_safe_segment_is_one_plain_segment_or_refused(value):
    try:
        segment = safe_segment(value, "account slug")
    except UnsafePathError as exc:
        assert "account slug" in str(exc) and "accepted:" in str(exc)
        assert not any(c.isalnum() for c in slugify(value))
        return
    assert re.fullmatch(SEGMENT, segment) and len(segment) <= 64, segment
    assert segment not in (".", "..") and "/" not in segment and "\\" not in segment
    assert safe_segment(segment) == segment  # stable: a plain segment is kept
    if segment != value:  # rewritten: never the name of another, plain, account
        assert (
            segment.rsplit("-", 1)[1]
            == hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        )


@settings(max_examples=150, deadline=None)
@given(a=st.one_of(st.sampled_from(NASTY), any_text), b=st.one_of(st.sampled_from(NASTY), any_text))
def test_different_slugs_never_share_a_folder(a, b):
    assume(a != b)
    try:
        first, second = safe_segment(a), safe_segment(b)
    except UnsafePathError:
        return
    assert first != second, (a, b)


_PUBLISH_ROOT = Path(tempfile.mkdtemp(prefix="rfa-paths-")) / "deep" / "published"


AUDIENCE_FOLDER = {
    "team": "admin",
    "flowpilot": "admin",
    "coverage": "admin",
    "knowledge_gaps": "admin",
    "escalations": "staff",
    "flow": "members",
    "personal": "engineers",
}


@settings(max_examples=200, deadline=None)
@given(
    slug=hostile,
    dashboard=st.sampled_from(list(DASHBOARDS)),
    period=st.one_of(st.sampled_from(PERIODS[:3]), st.sampled_from(["2026-10-01..2026-10-31"])),
    name=hostile,
    scope_id=st.one_of(st.sampled_from(_LEGACY_UUIDS), hostile),
)
def test_every_page_path_stays_in_its_account_and_audience_folder(
    slug, dashboard, period, name, scope_id
):
    spec = DASHBOARDS[dashboard]
    try:
        relative = page_relpath(
            slug,
            spec.folder,
            dashboard,
            period,
            scope=spec.scope,
            scope_name=name,
            scope_id=scope_id,
        )
    except UnsafePathError:
        with pytest.raises(UnsafePathError):
            safe_segment(slug)
        return
    assert check_relative(relative) == relative
    target = page_path(_PUBLISH_ROOT, relative)
    assert target.resolve().is_relative_to(_PUBLISH_ROOT.resolve())
    parts = relative.split("/")
    # the audience folder written out by hand (not read back from the catalog under test)
    assert parts[:2] == [safe_segment(slug), AUDIENCE_FOLDER[dashboard]]
    assert len(parts) == (4 if spec.scope == "engineer" else 3)
    if spec.scope is not None:
        assert scope_segment(name, scope_id) in relative
    assert relative.endswith(".html")


@pytest.mark.parametrize(
    "relative", ["../x.html", "a/../../x.html", "/etc/passwd", "a//b.html", "a\\..\\b", "", "."]
)
def test_page_path_refuses_paths_that_leave_the_publish_directory(tmp_path, relative):
    with pytest.raises(UnsafePathError, match="accepted:"):
        page_path(tmp_path / "published", relative)


def test_page_path_refuses_a_planted_symlink(tmp_path):
    root = tmp_path / "published"
    (root / "acme").mkdir(parents=True)
    (root / "acme" / "admin").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="outside"):
        page_path(root, "acme/admin/team-30d.html")
    assert page_path(root, "acme/members/x.html") == root / "acme/members/x.html"


# ------------------------------------------------------------------ schedules

_KEYS = list(Schedule.model_fields) + ["busiest", "names", "active_in_window", "unknown"]
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile,
    st.dates(),
    st.sampled_from(list(DASHBOARDS) + PERIODS + ["today", "now", "kiwi-tech"]),
)
documents = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(_KEYS), any_text), children, max_size=5),
    ),
    max_leaves=25,
)
huge_ints = st.one_of(
    st.integers(), st.sampled_from([10**30, 2**64 + 5, 2**63, -1, 0, True, 1.5]), hostile
)
near_valid = st.fixed_dictionaries(
    {"account": st.one_of(st.just("kiwi-tech"), st.just("kiwi-tech"), hostile)},
    optional={
        "team": hostile,
        "periods": st.lists(period_text, max_size=3),
        "as_of": st.one_of(as_of_text, st.dates(), st.sampled_from(["today", "now"])),
        "dashboards": st.lists(st.one_of(st.sampled_from(list(DASHBOARDS)), hostile), max_size=3),
        "flows": st.one_of(
            st.fixed_dictionaries({"names": st.lists(hostile, max_size=3)}),
            st.fixed_dictionaries({"busiest": huge_ints}),
            documents,
        ),
        "engineers": st.one_of(
            st.fixed_dictionaries({"names": st.lists(hostile, max_size=3)}),
            st.just({"active_in_window": True}),
            st.fixed_dictionaries({"busiest": huge_ints}),
            documents,
        ),
        "parameters": st.dictionaries(
            st.one_of(st.sampled_from(list(DASHBOARDS)), hostile),
            st.dictionaries(st.one_of(st.sampled_from(["min_sessions"]), any_text), leaves),
            max_size=2,
        ),
    },
)


def _check_schedule_error(exc: ScheduleError, source: str) -> None:
    assert exc.errors, "a ScheduleError lists its problems"
    for line in exc.errors:
        assert line.startswith(f"{source}:"), line
        assert "accepted" in line, line


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(documents, near_valid))
def test_parse_schedule_gives_a_schedule_or_a_schedule_error(data):
    try:
        schedule = parse_schedule(data, "fuzz.yml", team="fuzz")
    except ScheduleError as exc:
        _check_schedule_error(exc, "fuzz.yml")
        return
    assert isinstance(schedule, Schedule) and schedule.account.strip()
    for period in schedule.periods:
        make_window(period, ANCHOR, "UTC")


_SCHEDULE_DIR = Path(tempfile.mkdtemp(prefix="rfa-schedules-"))


def _yaml_texts() -> st.SearchStrategy[str | bytes]:
    dumped = st.one_of(documents, near_valid).map(
        lambda d: yaml.safe_dump(d, allow_unicode=True, sort_keys=False)
    )
    nasty_yaml = st.sampled_from(
        [
            "a: &a [*a]",  # recursive alias
            "a: &a ['x','x']\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b]\n"
            "account: [*c,*c,*c,*c,*c,*c,*c,*c,*c]",  # alias expansion
            "[" * 5000 + "]" * 5000,
            "!!python/object/apply:os.system ['echo pwned']",
            "account: !!binary aGVsbG8=",
            "account: kiwi-tech\naccount: harbour-msp",
            'account: "kiwi\\0tech"',
            "account: kiwi-tech\nas_of: 0001-01-01",
            "account: kiwi-tech\nperiods: ['0001-01-01..0001-01-02']",
            "account: kiwi-tech\nperiods: [1e400]",
            "account: kiwi-tech\nflows: {busiest: 99999999999999999999999}",
            "account: kiwi-tech\nparameters: {knowledge_gaps: {min_sessions: .nan}}",
            "? [a, b]\n: 1",
            "\t- tab",
            "\ufeffaccount: kiwi-tech",
            "",
            "---\n...\n---",
        ]
    )
    raw = st.one_of(any_text, st.binary(max_size=200))
    return st.one_of(dumped, nasty_yaml, raw)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_yaml_texts())
def test_load_schedule_gives_a_schedule_or_a_schedule_error(text):
    path = _SCHEDULE_DIR / "fuzz.yml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        schedule = load_schedule(path)
    except ScheduleError as exc:
        for line in exc.errors:
            assert "fuzz.yml:" in line and "accepted" in line, line
        return
    assert isinstance(schedule, Schedule)


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory, demo_sqlite_url) -> Path:
    """A private copy of the session's demo SQLite database (tests may alter it)."""
    source = Path(sa.engine.make_url(demo_sqlite_url).database)
    target = tmp_path_factory.mktemp("fuzz-db") / "demo.sqlite"
    shutil.copy(source, target)
    return target


def test_valid_fuzzed_schedules_plan_or_fail_clearly(demo_copy):
    url = f"sqlite:///{demo_copy}"
    before = _checksum(demo_copy)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=near_valid)
    @example(data={"account": "kiwi-tech", "flows": {"busiest": 10**30}})
    @example(data={"account": "kiwi-tech", "engineers": {"busiest": 2**64 + 5}})
    @example(data={"account": "kiwi\x00tech"})
    @example(data={"account": "kiwi-tech", "as_of": "1900-01-01", "periods": ["90d"]})
    def plan(data):
        try:
            schedule = parse_schedule(data, "fuzz.yml", team="fuzz")
        except ScheduleError:
            return
        with connect(url) as conn:
            try:
                jobs, failures = plan_team(conn, schedule, now=ANCHOR)
            except RFAError as exc:
                assert str(exc)
                return
        for job in jobs:
            relative = job.page
            check_relative(relative)
            assert relative.startswith(f"{job.account_slug}/")
        for failure in failures:
            check_relative(failure.page)

    plan()
    assert _checksum(demo_copy) == before


@pytest.mark.parametrize("value", ["kiwi\x00tech", "\udcff", "kiwi-tech\udc80", "\x00"])
def test_account_lookup_refuses_text_no_database_can_hold(demo_sqlite_url, value):
    with connect(demo_sqlite_url) as conn:
        with pytest.raises(NotFoundError, match="accepted:"):
            aq.resolve_account(conn, value)
        info = aq.resolve_account(conn, "kiwi-tech")
        for resolve in (aq.resolve_flow, aq.resolve_engineer):
            with pytest.raises(NotFoundError, match="accepted:"):
                resolve(conn, info.id, value)


@pytest.mark.postgres
@pytest.mark.parametrize("value", ["kiwi\x00tech", "\udcff"])
def test_account_lookup_refuses_nul_and_bad_utf8_on_postgresql(demo_pg_url, value):
    with connect(demo_pg_url) as conn:
        with pytest.raises(NotFoundError, match="accepted:"):
            aq.resolve_account(conn, value)


# ------------------------------------------------------------------ the CLI


def _checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def _outside_markers() -> list[Path]:
    return [Path("/abs"), Path("/tmp/rfa-fuzz-abs"), Path("/etc/passwd.html")]


def _assert_clean_error(result, publish_dir: Path) -> None:
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out[-3000:]
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr[-3000:]
    written = (
        [p for p in publish_dir.rglob("*") if p.is_file() and p.name != ".rfa-publish.lock"]
        if publish_dir.exists()
        else []
    )
    assert not written, written


def _assert_published(result, publish_dir: Path, slug_folder: str) -> list[dict]:
    assert "Traceback" not in result.stdout + result.stderr
    manifest = json.loads((publish_dir / "manifest.json").read_text())
    assert manifest
    for record in manifest:
        assert record["status"] == "ok", record
        assert record["page"].startswith(f"{slug_folder}/"), record["page"]
        for key in ("page", "data_file"):
            path = page_path(publish_dir, record[key])
            assert path.is_file() and path.resolve().is_relative_to(publish_dir.resolve())
    return manifest


class _Sandbox:
    """A fresh folder per CLI run, the CLI's working directory, with the publish and
    build directories two levels down (so ``../../x`` would still land inside it)."""

    def __init__(self, base: Path):
        self.root = Path(tempfile.mkdtemp(dir=base))
        self.publish_dir = self.root / "a" / "b" / "published"
        self.build_dir = self.root / "a" / "b" / "build"
        self.publish_dir.parent.mkdir(parents=True)

    def run(self, args: list[str], url: str):
        before = _tree(self.root)
        markers = [m for m in _outside_markers() if not m.exists()]
        with contextlib.chdir(self.root):
            result = run_rfa(
                args,
                url=url,
                publish_dir=self.publish_dir,
                build_dir=self.build_dir,
                timeout=300,
                env={"RFA_DB_RETRIES": "1"},
            )
        allowed = ("a/b/published", "a/b/build")
        new = sorted(
            p
            for p in _tree(self.root) - before
            if not any(p == d or p.startswith(d + "/") for d in allowed)
        )
        assert not new, f"written outside the publish and build directories: {new}"
        assert not [m for m in markers if m.exists()], "written at an absolute path"
        return result


def _argv(value: str) -> str:
    return value.replace("\x00", "")  # argv cannot carry NUL; the library tests cover it


@pytest.mark.slow
def test_fuzzed_cli_parameters_end_in_a_page_or_one_clear_error(demo_copy, tmp_path_factory):
    url = f"sqlite:///{demo_copy}"
    before = _checksum(demo_copy)
    base = tmp_path_factory.mktemp("cli-fuzz")
    with connect(url) as conn:
        info = aq.resolve_account(conn, "kiwi-tech")
        window = make_window("30d", AS_OF, info.timezone)
        sessions = sq.sessions_frame(conn, info.id, window)
        flow = aq.resolve_flow(conn, info.id, sessions["tree_id"][0]).name
        users = aq.list_users(conn, info.id)
        email = users.filter(users["user_id"] == sessions["user_id"][0])["email"][0]
    huge = st.sampled_from(["x" * 100_000, "9" * 20_000, "../" * 10_000])
    cli_text = st.one_of(
        st.sampled_from(NASTY),
        st.text(st.characters(exclude_characters="\x00"), max_size=40),
        st.text(
            st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF, categories=["Cs"]),
            min_size=1,
            max_size=3,
        ),
        huge,
    )

    def regression(**given_values):
        values = {"account": "kiwi-tech", "flow_arg": None, "engineer": None}
        return example(**{**values, "period": "30d", "as_of": AS_OF, **given_values})

    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        account=st.one_of(st.just("kiwi-tech"), cli_text),
        flow_arg=st.one_of(st.none(), st.just(flow), cli_text),
        engineer=st.one_of(st.none(), st.just(email), cli_text),
        period=st.one_of(st.sampled_from(["7d", "30d"]), cli_text),
        as_of=st.one_of(st.just(AS_OF), cli_text),
    )
    # Bugs this test found (each once a traceback instead of one error line):
    @regression(as_of="0001-01-01")  # OverflowError in the window arithmetic
    @regression(period="9999-12-31..9999-12-31")  # the same, for an explicit range
    @regression(account="\udcff")  # non-UTF-8 argv: UnicodeEncodeError in the driver
    @regression(account="[/x] [bold]markup[/bold]")  # Rich markup in the error line
    @regression(account="'; DROP TABLE sessions; --", flow_arg="../../etc/passwd")
    def run(account, flow_arg, engineer, period, as_of):
        args = ["publish", f"--account={_argv(account)}", "--workers=2"]
        if flow_arg is not None:
            args += ["-d", "flow", f"--flow={_argv(flow_arg)}"]
        if engineer is not None:
            args += ["-d", "personal", f"--engineer={_argv(engineer)}"]
        if flow_arg is None and engineer is None:
            args += ["-d", "escalations"]
        args += [f"--period={_argv(period)}", f"--as-of={_argv(as_of)}"]
        box = _Sandbox(base)
        result = box.run(args, url)
        assert result.returncode in (0, 2, 3), (args[:4], result.stdout[-2000:], result.stderr)
        if result.returncode == 0:
            _assert_published(result, box.publish_dir, "kiwi-tech")
        else:
            _assert_clean_error(result, box.publish_dir)
        assert _checksum(demo_copy) == before

    run()


# ------------------------------------------------------------------ odd names that resolve

EVIL_FLOW = "../../evil/<script>x</script> [/x]"
EVIL_ENGINEER = "..\\..\\evil <b>bold</b>"
EVIL_EMAIL = "../../x@evil.example"
EVIL_SLUG = "../../kiwi/evil"
ABS_SLUG = "/tmp/rfa-fuzz-abs/evil"


@pytest.fixture(scope="module")
def nasty_db(tmp_path_factory, demo_sqlite_url) -> dict[str, str]:
    """A copy of the demo database whose names try to escape: kiwi-tech's busiest flow
    and engineer renamed, kiwi-tech's slug ``../../kiwi/evil``, harbour-msp's an
    absolute path and northwind-it's ``..``."""
    source = Path(sa.engine.make_url(demo_sqlite_url).database)
    path = tmp_path_factory.mktemp("nasty-db") / "nasty.sqlite"
    shutil.copy(source, path)
    url = f"sqlite:///{path}"
    with connect(url) as conn:
        info = aq.resolve_account(conn, "kiwi-tech")
        window = make_window("30d", AS_OF, info.timezone)
        sessions = sq.sessions_frame(conn, info.id, window)
        tree_id, user_id = sessions["tree_id"][0], sessions["user_id"][0]
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE trees SET name = ? WHERE id = ?", (EVIL_FLOW, uuid.UUID(tree_id).hex))
        db.execute(
            "UPDATE users SET name = ?, email = ? WHERE id = ?",
            (EVIL_ENGINEER, EVIL_EMAIL, uuid.UUID(user_id).hex),
        )
        for old, new in (
            ("kiwi-tech", EVIL_SLUG),
            ("harbour-msp", ABS_SLUG),
            ("northwind-it", ".."),
        ):
            assert db.execute("UPDATE accounts SET slug = ? WHERE slug = ?", (new, old)).rowcount
    return {"url": url, "path": str(path), "tree_id": tree_id, "user_id": user_id}


@pytest.mark.slow
def test_odd_names_that_resolve_publish_inside_the_publish_directory(nasty_db, tmp_path):
    before = _checksum(Path(nasty_db["path"]))
    box = _Sandbox(tmp_path)
    result = box.run(
        [
            "publish",
            f"--account={EVIL_SLUG}",
            "-d",
            "flow",
            f"--flow={EVIL_FLOW}",
            "-d",
            "personal",
            f"--engineer={EVIL_EMAIL}",
            "--workers=2",
            f"--as-of={AS_OF}",
        ],
        nasty_db["url"],
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    folder = safe_segment(EVIL_SLUG)
    assert folder.startswith("kiwi-evil-")
    manifest = _assert_published(result, box.publish_dir, folder)
    expected = {
        page_relpath(
            EVIL_SLUG,
            "members",
            "flow",
            "30d",
            scope="flow",
            scope_name=EVIL_FLOW,
            scope_id=nasty_db["tree_id"],
        ),
        page_relpath(
            EVIL_SLUG,
            "engineers",
            "personal",
            "30d",
            scope="engineer",
            scope_name=EVIL_ENGINEER,
            scope_id=nasty_db["user_id"],
        ),
    }
    assert {r["page"] for r in manifest} == expected
    flow_page = next(r for r in manifest if r["dashboard"] == "flow")
    html = (box.publish_dir / flow_page["page"]).read_text()
    assert "<script>x</script>" not in html, "the flow name reached the page unescaped"
    assert _checksum(Path(nasty_db["path"])) == before

    box = _Sandbox(tmp_path)
    result = box.run(
        ["publish", f"--account={ABS_SLUG}", "-d", "escalations", f"--as-of={AS_OF}"],
        nasty_db["url"],
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    _assert_published(result, box.publish_dir, safe_segment(ABS_SLUG))
    assert not Path(ABS_SLUG).exists()


@pytest.mark.slow
def test_an_account_slug_that_cannot_name_a_folder_is_refused(nasty_db, tmp_path):
    box = _Sandbox(tmp_path)
    result = box.run(["publish", "--account=..", "-d", "team", f"--as-of={AS_OF}"], nasty_db["url"])
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    _assert_clean_error(result, box.publish_dir)
    assert "account slug '..'" in result.stderr


@pytest.mark.slow
def test_errors_quoting_odd_names_stay_one_clean_line(nasty_db, tmp_path):
    """The not-found message lists the account's flow names, one of them Rich markup."""
    box = _Sandbox(tmp_path)
    for args in (
        ["publish", f"--account={EVIL_SLUG}", "-d", "flow", "--flow=no such flow"],
        ["publish", "--account=[/x] nope", "-d", "team"],
    ):
        result = box.run(args, nasty_db["url"])
        assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
        _assert_clean_error(result, box.publish_dir)
    assert "[/x]" in result.stderr
    listing = box.run(["flows", f"--account={EVIL_SLUG}"], nasty_db["url"])
    assert listing.returncode == 0, listing.stderr[-3000:]
    assert "[/x]" in listing.stdout and "Traceback" not in listing.stderr
