"""Publishing that survives hostile names, duplicate plans, a full disk and another run
(issue 16 items 2, 3, 6, 7, 8; issue 19 "Ad-hoc pages must not replace scheduled ones").

Fast tests: no notebook runs. The end-to-end runs are in ``test_batch.py``."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import resource
import signal
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from rfa.publish.batch import _prune_builds, run_batch, run_build_folder
from rfa.publish.paths import (
    RESERVED_NAMES,
    UnsafePathError,
    check_relative,
    page_path,
    page_relpath,
    safe_segment,
)
from rfa.publish.pipeline import PageJob, dedupe_jobs, is_rolling, publish_job
from rfa.publish.site import (
    LOCK_NAME,
    PageRecord,
    PublishBusy,
    SiteError,
    atomic_write_many,
    load_records,
    publish_lock,
    save_records,
)

UTC = dt.UTC
BASE = {
    "account_slug": "kiwi-tech",
    "account_name": "Kiwi Tech Support",
    "timezone": "Pacific/Auckland",
    "period": "30d",
    "as_of": "2026-11-01T00:00:00+00:00",
}


def uuid7_like(prefix: str, n: int) -> str:
    """Time-ordered UUIDs (v7) made within weeks of each other share their first 8 digits."""
    return str(uuid.UUID(f"{prefix}-7abc-7def-8000-{n:012x}"))


# ------------------------------------------------------------------ reserved names (item 6)


@pytest.mark.parametrize("slug", sorted(RESERVED_NAMES - {LOCK_NAME}))
def test_an_account_named_like_a_site_file_gets_a_folder_of_its_own(slug):
    segment = safe_segment(slug, "account slug")
    assert segment != slug and segment not in RESERVED_NAMES
    page = page_relpath(slug, "admin", "team", "30d")
    assert page.split("/")[0] == segment


@pytest.mark.parametrize(
    "relative",
    [
        "manifest.json/admin/team-30d.html",
        "index.html/admin/team-30d.html",
        ".rfa-publish.lock",
        ".hidden/admin/team-30d.html",
        "acme/.git/config",
        "acme/admin/.team-30d.html",
    ],
)
def test_page_paths_never_take_a_site_file_or_a_hidden_name(tmp_path, relative):
    with pytest.raises(UnsafePathError, match="accepted:"):
        check_relative(relative)
    with pytest.raises(UnsafePathError):
        page_path(tmp_path, relative)


# ------------------------------------------------------------------ unique paths (item 7)


def test_scopes_whose_names_slugify_alike_and_ids_share_a_prefix_get_their_own_paths():
    a, b = uuid7_like("0190a1b2", 1), uuid7_like("0190a1b2", 2)
    first = PageJob(dashboard="flow", scope_id=a, scope_name="VPN issue", **BASE)
    second = PageJob(dashboard="flow", scope_id=b, scope_name="VPN  Issue!", **BASE)
    assert first.page != second.page
    assert a in first.page and b in second.page
    ana = PageJob(dashboard="personal", scope_id=a, scope_name="Ana", **BASE)
    other_ana = PageJob(dashboard="personal", scope_id=b, scope_name="Ana", **BASE)
    assert Path(ana.page).parent != Path(other_ana.page).parent, "one folder per engineer"


def test_a_path_two_scopes_would_share_fails_loudly_and_renders_neither():
    one = PageJob(dashboard="flow", scope_id="SAME-ID", scope_name="VPN", **BASE)
    two = PageJob(dashboard="flow", scope_id="same-id", scope_name="VPN", **BASE)
    # ids that differ in case only: hashed, but equal after slugify? make them share a path
    two = two.model_copy(update={"scope_id": one.scope_id, "scope_name": "vpn"})
    assert one.page == two.page and one.scope_name != two.scope_name
    kept, failures = dedupe_jobs([one, two])
    assert kept == []
    (page, label, message), = failures
    assert page == one.page and "collision" in message and "\n" not in message


def test_a_page_the_manifest_holds_for_another_scope_is_not_overwritten(
    tmp_path, monkeypatch, demo_sqlite_url
):
    publish_dir = tmp_path / "published"
    job = PageJob(dashboard="flow", scope_id=uuid7_like("0190a1b2", 1), scope_name="VPN", **BASE)
    other = PageRecord(
        account_slug="kiwi-tech",
        account_name="Kiwi Tech Support",
        dashboard="flow",
        dashboard_title="Flow analytics",
        scope="Another flow",
        audience="members",
        period="30d",
        window_start=dt.datetime(2026, 10, 2, tzinfo=UTC),
        window_end=dt.datetime(2026, 11, 1, tzinfo=UTC),
        timezone="UTC",
        data_time=None,
        rendered_at=dt.datetime(2026, 11, 1, tzinfo=UTC),
        renderer="nbconvert",
        page=job.page,
        data_file=job.page.removesuffix(".html") + ".json",
        parameters={"flow": "someone-else"},
    )
    save_records([other], publish_dir)
    monkeypatch.setenv("RFA_DATABASE_URL", demo_sqlite_url)
    result = run_batch([job], dry_run=True, publish_dir=publish_dir)
    (outcome,) = result.outcomes
    assert outcome.status == "failed" and "collision" in (outcome.error or "")
    assert load_records(publish_dir) == [other]


# ------------------------------------------------------------------ duplicate plans (item 3)


def test_a_page_planned_twice_alike_is_planned_once():
    flow = PageJob(dashboard="flow", scope_id="f1", scope_name="VPN", team="north", **BASE)
    team = PageJob(dashboard="team", team="north", **BASE)
    kept, failures = dedupe_jobs([flow, team, flow.model_copy(update={"team": "south"}), team])
    assert failures == []
    assert [j.page for j in kept] == [flow.page, team.page]
    assert kept[0].team == "north, south"


def test_a_page_planned_twice_differently_is_one_line_conflict():
    gaps = PageJob(dashboard="knowledge_gaps", team="north", extra={"min_sessions": 5}, **BASE)
    other = gaps.model_copy(update={"team": "south", "extra": {"min_sessions": 9}})
    kept, failures = dedupe_jobs([gaps, other])
    assert kept == []
    (page, _, message), = failures
    assert page == gaps.page and "\n" not in message
    assert "north" in message and "south" in message and "min_sessions=9" in message


# ------------------------------------------------------------------ ad-hoc pages (issue 19)


def test_an_explicit_window_end_gets_a_path_beside_the_rolling_page():
    today = dt.datetime.combine(dt.datetime.now(UTC).date(), dt.time(), tzinfo=UTC)
    assert is_rolling(None, today) and is_rolling(today.isoformat(), today)
    past = dt.datetime(2026, 11, 1, tzinfo=UTC)
    assert not is_rolling("2026-11-01", past, now=dt.datetime(2026, 12, 6, tzinfo=UTC))
    rolling = PageJob(dashboard="team", **BASE)
    ad_hoc = rolling.model_copy(update={"rolling": False})
    assert rolling.page == "kiwi-tech/admin/team-30d.html"
    assert ad_hoc.page == "kiwi-tech/admin/team-30d-to-2026-11-01.html"
    flow = PageJob(dashboard="flow", scope_id="f1", scope_name="VPN", rolling=False, **BASE)
    assert flow.page.endswith("flow-vpn-f1-30d-to-2026-11-01.html")
    late = ad_hoc.model_copy(update={"as_of": "2026-11-01T06:30:00+00:00"})
    assert late.page.endswith("team-30d-to-2026-11-01t0630z.html")
    ranged = rolling.model_copy(update={"period": "2026-10-01..2026-10-31", "rolling": False})
    assert ranged.page == "kiwi-tech/admin/team-2026-10-01-2026-10-31.html"


# ------------------------------------------------------------------ full disk (item 8)


@contextmanager
def file_size_limit(limit: int):
    """Writes beyond ``limit`` bytes fail with EFBIG (a full disk, as far as a write
    can tell): RLIMIT_FSIZE with SIGXFSZ ignored."""
    saved = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, saved[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, saved)
        signal.signal(signal.SIGXFSZ, handler)


def test_a_page_and_its_data_file_are_published_together_or_not_at_all(tmp_path):
    published = tmp_path / "published"
    page, data = published / "a/page.html", published / "a/page.json"
    page.parent.mkdir(parents=True)
    page.write_text("old page")
    data.write_text("old data")
    with file_size_limit(10_000), pytest.raises(OSError):
        atomic_write_many([(data, b"{}" * 100), (page, b"x" * 50_000)])
    assert page.read_text() == "old page" and data.read_text() == "old data"
    assert sorted(p.name for p in page.parent.iterdir()) == ["page.html", "page.json"]
    atomic_write_many([(data, b"new data"), (page, b"new page")])
    assert page.read_bytes() == b"new page" and data.read_bytes() == b"new data"


def test_publish_job_on_a_full_disk_publishes_neither_file(tmp_path):
    build, published = tmp_path / "build", tmp_path / "published"
    job = PageJob(dashboard="team", **BASE)
    work = build / job.label
    work.mkdir(parents=True)
    window = {"start": "2026-10-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"}
    (work / "page.json").write_text(json.dumps({"meta": {"window": window, "data_time": None}}))
    (work / "page.html").write_bytes(b"<html>" + b"x" * 60_000 + b"</html>")
    target = published / job.page
    target.parent.mkdir(parents=True)
    target.write_text("previous page")
    target.with_suffix(".json").write_text("previous data")
    with file_size_limit(20_000), pytest.raises(OSError):
        publish_job(job, published, build, "nbconvert")
    assert target.read_text() == "previous page"
    assert target.with_suffix(".json").read_text() == "previous data"
    record = publish_job(job, published, build, "nbconvert")
    assert record.page_sha256 and record.data_sha256
    assert target.read_bytes().startswith(b"<html>x")


def test_a_failed_manifest_write_keeps_the_previous_manifest_and_says_why(tmp_path):
    record = PageRecord(
        account_slug="acme",
        account_name="Acme",
        dashboard="team",
        dashboard_title="Team analytics",
        scope="team",
        audience="admins",
        period="30d",
        window_start=dt.datetime(2026, 10, 2, tzinfo=UTC),
        window_end=dt.datetime(2026, 11, 1, tzinfo=UTC),
        timezone="UTC",
        data_time=None,
        rendered_at=dt.datetime(2026, 11, 1, tzinfo=UTC),
        renderer="nbconvert",
        page="acme/admin/team-30d.html",
        data_file="acme/admin/team-30d.json",
    )
    save_records([record], tmp_path)
    before = (tmp_path / "manifest.json").read_bytes()
    many = [
        record.model_copy(update={"page": f"acme/admin/p{i}.html", "scope": "x" * 200})
        for i in range(200)
    ]
    with file_size_limit(len(before) + 100), pytest.raises(SiteError) as caught:
        save_records(many, tmp_path)
    message = str(caught.value)
    assert "\n" not in message and "manifest" in message and "File too large" in message
    assert "previous manifest is kept" in message and caught.value.exit_code == 4
    assert (tmp_path / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


# ------------------------------------------------------------------ the publish lock (item 2)


def _hold_lock(folder: str, ready, release) -> None:
    with publish_lock(Path(folder), wait=0):
        ready.set()
        release.wait(30)


def test_a_second_run_waits_for_the_lock_then_gives_up_with_its_own_exit_code(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        lines: list[str] = []
        started = time.monotonic()
        with pytest.raises(PublishBusy) as caught, publish_lock(tmp_path, 1.0, lines.append):
            pass
        waited = time.monotonic() - started
        assert 0.9 <= waited < 10
        assert caught.value.exit_code == 75 and "\n" not in str(caught.value)
        assert "another publish" in str(caught.value) and "RFA_PUBLISH_LOCK_WAIT_S" in str(
            caught.value
        )
        assert len(lines) == 1 and "waiting up to 1 s" in lines[0]
    finally:
        release.set()
        holder.join(30)
    with publish_lock(tmp_path, 0):  # free again once the other run ends
        pass


def test_a_killed_run_releases_the_lock(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(30)
    holder.kill()  # kill -9
    holder.join(30)
    with publish_lock(tmp_path, 5):
        pass


# ------------------------------------------------------------------ build folders (item 2)


def test_each_run_builds_in_a_folder_of_its_own_and_running_ones_are_never_pruned(tmp_path):
    build = tmp_path / "build"
    with run_build_folder(build) as first:
        time.sleep(1.1)
        with run_build_folder(build) as second:
            assert first != second and first.parent == second.parent == build
            (first / "page.log").write_text("first")
            _prune_builds(build, keep=0)  # both runs are still going: neither is removed
            assert first.is_dir() and second.is_dir()
    assert (first / "page.log").read_text() == "first"
    for n in range(4):
        (build / f"run-20000101T00000{n}Z-1").mkdir()
    _prune_builds(build, keep=3)
    runs = sorted(p.name for p in build.glob("run-*") if p.is_dir())
    assert runs == ["run-20000101T000003Z-1", first.name, second.name]


def test_fixed_windows_are_never_marked_stale():
    from rfa.publish.batch import mark_stale

    now = dt.datetime(2026, 12, 6, tzinfo=UTC)
    old = PageRecord(
        account_slug="acme",
        account_name="Acme",
        dashboard="team",
        dashboard_title="Team analytics",
        scope="team",
        audience="admins",
        period="30d",
        window_start=dt.datetime(2026, 10, 2, tzinfo=UTC),
        window_end=dt.datetime(2026, 11, 1, tzinfo=UTC),
        timezone="UTC",
        data_time=None,
        rendered_at=dt.datetime(2026, 11, 1, tzinfo=UTC),
        renderer="nbconvert",
        page="acme/admin/team-30d.html",
        data_file="acme/admin/team-30d.json",
    )
    ad_hoc = old.model_copy(
        update={"rolling": False, "page": "acme/admin/team-30d-to-2026-11-01.html"}
    )
    marked = mark_stale([old, ad_hoc], now)
    assert marked[old.page].status == "stale", "the nightly page was not refreshed"
    assert marked[ad_hoc.page].status == "ok", "an ad-hoc window is fixed: never stale"


def test_a_page_published_under_its_old_path_is_retired_once_it_moves(tmp_path):
    """Paths now carry the whole scope id: the flow page published before under
    ``flow-<name>-<8 hex>-30d.html`` is removed with its record once its new page is
    published, instead of staying in the index beside it; other pages stay."""
    from rfa.publish.batch import retire_moved_pages

    flow_id = uuid7_like("0190a1b2", 1)
    job = PageJob(dashboard="flow", scope_id=flow_id, scope_name="VPN", **BASE)

    def record(page: str, flow: str) -> PageRecord:
        return PageRecord(
            account_slug="kiwi-tech",
            account_name="Kiwi Tech Support",
            dashboard="flow",
            dashboard_title="Flow analytics",
            scope="VPN",
            audience="members",
            period="30d",
            window_start=dt.datetime(2026, 10, 2, tzinfo=UTC),
            window_end=dt.datetime(2026, 11, 1, tzinfo=UTC),
            timezone="UTC",
            data_time=None,
            rendered_at=dt.datetime(2026, 11, 1, tzinfo=UTC),
            renderer="nbconvert",
            page=page,
            data_file=page.removesuffix(".html") + ".json",
            parameters={"flow": flow, "account": "kiwi-tech"},
        )

    legacy = record(f"kiwi-tech/members/flow-vpn-{flow_id[:8]}-30d.html", flow_id)
    other = record("kiwi-tech/members/flow-other-0000-30d.html", "another-flow")
    new = record(job.page, flow_id)
    for rec in (legacy, other, new):
        for relative in (rec.page, rec.data_file):
            (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / relative).write_text("x")
    by_page = {r.page: r for r in (legacy, other, new)}
    assert retire_moved_pages(by_page, {new.page: new}, tmp_path) == [legacy.page]
    assert set(by_page) == {other.page, new.page}
    assert not (tmp_path / legacy.page).exists() and not (tmp_path / legacy.data_file).exists()
    assert (tmp_path / other.page).exists() and (tmp_path / new.page).exists()
