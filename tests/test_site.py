"""Tests of rfa.publish.site: atomic writes, the manifest and the index page."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from pydantic import ValidationError

from rfa.publish.render import find_remote_references
from rfa.publish.site import (
    PageRecord,
    SiteError,
    atomic_copy,
    atomic_write_bytes,
    atomic_write_text,
    index_context,
    load_records,
    merge_records,
    save_records,
    write_index,
)

UTC = dt.UTC
EVIL = "<script>alert(1)</script>"


def record(**overrides: object) -> PageRecord:
    values: dict[str, object] = {
        "account_slug": "acme",
        "account_name": "Acme Support",
        "dashboard": "team",
        "dashboard_title": "Team analytics",
        "scope": "team",
        "audience": "team admins and super admins",
        "period": "2026-10-01..2026-10-31",
        # America/New_York local October 2026 (EDT, UTC-4), end exclusive.
        "window_start": dt.datetime(2026, 10, 1, 4, tzinfo=UTC),
        "window_end": dt.datetime(2026, 11, 1, 4, tzinfo=UTC),
        "timezone": "America/New_York",
        "data_time": dt.datetime(2026, 11, 1, 3, 55, tzinfo=UTC),
        "rendered_at": dt.datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
        "renderer": "nbconvert",
        "page": "acme/team/2026-10.html",
        "data_file": "acme/team/2026-10.json",
    }
    values.update(overrides)
    return PageRecord.model_validate(values)


def sample_records() -> list[PageRecord]:
    return [
        record(),
        record(
            dashboard="flow",
            dashboard_title="Flow analytics",
            scope=EVIL,
            audience="flow owners",
            page="acme/flow/evil-30d.html",
            data_file="acme/flow/evil-30d.json",
            status="failed",
        ),
        record(
            dashboard="flow",
            dashboard_title="Flow analytics",
            scope="Password reset",
            audience="flow owners",
            period="30d",
            page="acme/flow/password-reset-30d.html",
            data_file="acme/flow/password-reset-30d.json",
            status="stale",
            data_time=None,
        ),
        record(
            account_slug="globex",
            account_name="Globex & Co",
            dashboard="personal",
            dashboard_title="Personal analytics",
            scope="Dana Engineer",
            audience="the engineer and their team admins",
            period="7d",
            timezone="Europe/London",
            page="globex/personal/dana engineer-7d.html",
            data_file="globex/personal/dana engineer-7d.json",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------


def test_atomic_write_text_and_bytes(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "dir" / "page.html"
    assert atomic_write_text(target, "héllo") == target
    assert target.read_text(encoding="utf-8") == "héllo"
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["page.html"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_atomic_write_failure_keeps_old_content_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "page.html"
    target.write_text("old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


def test_atomic_copy(tmp_path: Path) -> None:
    src = tmp_path / "build" / "page.html"
    src.parent.mkdir()
    src.write_bytes(b"x" * 3_000_000)
    dst = tmp_path / "published" / "acme" / "page.html"
    assert atomic_copy(src, dst) == dst
    assert dst.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in dst.parent.iterdir()) == ["page.html"]
    with pytest.raises(FileNotFoundError):
        atomic_copy(tmp_path / "missing.html", dst)
    assert dst.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in dst.parent.iterdir()) == ["page.html"]


# ---------------------------------------------------------------------------------------------
# Records and manifest
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "page", ["/etc/passwd", "../outside.html", "a/../../b.html", "a\\b.html", ""]
)
def test_page_paths_must_stay_inside_the_publish_dir(page: str) -> None:
    with pytest.raises(ValidationError):
        record(page=page)


def test_naive_datetimes_are_utc() -> None:
    rec = record(rendered_at=dt.datetime(2026, 11, 1, 6, 0))
    assert rec.rendered_at.tzinfo is not None
    assert rec.rendered_at == dt.datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def test_manifest_round_trip(tmp_path: Path) -> None:
    records = sample_records()
    path = save_records(records, tmp_path)
    assert path == tmp_path / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, list) and len(data) == 4
    assert {item["page"] for item in data} == {r.page for r in records}
    loaded = load_records(tmp_path)
    assert sorted(loaded, key=lambda r: r.page) == sorted(records, key=lambda r: r.page)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_load_records_without_manifest_and_corrupt_manifest(tmp_path: Path) -> None:
    assert load_records(tmp_path) == []
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(SiteError, match="corrupt manifest"):
        load_records(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps([{"page": "x.html"}]))
    with pytest.raises(SiteError):
        load_records(tmp_path)


def test_merge_records_is_keyed_by_page(tmp_path: Path) -> None:
    old = sample_records()
    newer = record(renderer="quarto", status="ok")
    merged = merge_records(old, [newer])
    assert len(merged) == 4
    by_page = {r.page: r for r in merged}
    assert by_page[newer.page].renderer == "quarto"
    save_records(old + [newer], tmp_path)
    assert len(load_records(tmp_path)) == 4


# ---------------------------------------------------------------------------------------------
# Index page
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def index_soup(tmp_path: Path) -> tuple[BeautifulSoup, str, Path]:
    path = write_index(
        sample_records(), tmp_path, generated_at=dt.datetime(2026, 11, 1, 7, tzinfo=UTC)
    )
    assert path == tmp_path / "index.html"
    page = path.read_text(encoding="utf-8")
    return BeautifulSoup(page, "html.parser"), page, tmp_path


def test_index_lists_accounts_and_groups_pages(index_soup: tuple[BeautifulSoup, str, Path]) -> None:
    soup, _, _ = index_soup
    nav = soup.select("nav.accounts li")
    assert [li.get_text(" ", strip=True).split(" (")[0] for li in nav] == [
        "Acme Support acme",
        "Globex & Co globex",
    ]
    sections = soup.select("section.account")
    assert len(sections) == 2
    acme, globex = sections
    assert [h.get_text() for h in acme.find_all("h3")] == ["Team analytics", "Flow analytics"]
    assert [h.get_text() for h in globex.find_all("h3")] == ["Personal analytics"]
    assert len(acme.select("tbody tr")) == 3 and len(globex.select("tbody tr")) == 1
    team_row = acme.select("tbody tr")[0].get_text(" ", strip=True)
    assert "team admins and super admins" in team_row
    assert "2026-10-01 – 2026-10-31" in team_row, "window shown as local dates, end exclusive"
    assert "America/New_York" in team_row
    assert "2026-11-01 03:55 UTC" in team_row and "2026-11-01 06:00 UTC" in team_row


def test_index_escapes_untrusted_names(index_soup: tuple[BeautifulSoup, str, Path]) -> None:
    soup, page, _ = index_soup
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not soup.find_all("script")
    name = f"Flow — {EVIL} — 1 Oct 2026 – 31 Oct 2026"
    assert any(a.get_text() == name for a in soup.select("td a"))
    assert "Globex &amp; Co" in page


def test_index_marks_failed_and_stale(index_soup: tuple[BeautifulSoup, str, Path]) -> None:
    soup, _, _ = index_soup
    failed = soup.select("tr.row-failed")
    assert len(failed) == 1
    name = f"Flow — {EVIL} — 1 Oct 2026 – 31 Oct 2026"
    assert failed[0].select_one("td.scope a").get_text() == name
    assert failed[0].select_one("td.scope a")["href"] == "acme/flow/evil-30d.html"
    assert "failed" in failed[0].select_one(".status-failed").get_text()
    stale = soup.select("tr.row-stale")
    assert len(stale) == 1 and "stale" in stale[0].get_text()
    assert "1 failed" in soup.select_one(".summary").get_text()


def test_index_links_are_relative(index_soup: tuple[BeautifulSoup, str, Path]) -> None:
    soup, page, publish_dir = index_soup
    hrefs = [a["href"] for a in soup.find_all("a")]
    assert hrefs
    for href in hrefs:
        assert not href.startswith(("/", "http:", "https:", "//", "file:"))
    page_links = {a["href"] for a in soup.select("td.scope a")}
    assert page_links == {
        "acme/team/2026-10.html",
        "acme/flow/evil-30d.html",
        "acme/flow/password-reset-30d.html",
        "globex/personal/dana%20engineer-7d.html",
    }
    data_links = {a["href"] for a in soup.find_all("a") if a.get_text() == "JSON"}
    assert "acme/team/2026-10.json" in data_links and len(data_links) == 4
    anchors = {a["href"] for a in soup.select("nav.accounts a")}
    assert anchors == {"#" + s["id"] for s in soup.select("section.account")}
    assert find_remote_references(page) == []
    assert soup.find("link") is None and "<style>" in page
    assert sorted(p.name for p in publish_dir.iterdir()) == ["index.html"]


def test_index_without_records(tmp_path: Path) -> None:
    page = write_index([], tmp_path).read_text(encoding="utf-8")
    assert "Nothing has been published yet" in page


def test_index_context_orders_dashboards() -> None:
    context = index_context(sample_records())
    acme = context["accounts"][0]
    assert [d["name"] for d in acme["dashboards"]] == ["team", "flow"]
    flow_rows = acme["dashboards"][1]["rows"]
    assert [r["scope"] for r in flow_rows] == [EVIL, "Password reset"]
    assert context["counts"] == {"ok": 2, "failed": 1, "stale": 1}


def test_index_carries_a_csp_that_forbids_every_network_load(
    index_soup: tuple[BeautifulSoup, str, Path],
) -> None:
    soup, _, _ = index_soup
    first = soup.head.find(True)
    assert first.name == "meta" and first.get("http-equiv") == "Content-Security-Policy"
    policy = {d.split()[0]: d.split()[1:] for d in first["content"].split("; ")}
    assert policy["default-src"] == ["'none'"] and policy["script-src"] == ["'none'"]
    assert policy["connect-src"] == ["'none'"] and policy["img-src"] == ["data:"]
    assert not soup.find("script")
