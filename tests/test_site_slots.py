"""The publisher's side of the page contract (rfa.publish.site): the nav and status slots
of a rendered page (breadcrumbs, related pages a reader may open, the "refresh failed"
banner), the digest the manifest vouches for a page with, and what the index shows an
operator (issue 16 items 8–9, issue 19 "Operators" and "Ad-hoc pages")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bs4 import BeautifulSoup
from markupsafe import Markup

from rfa.publish.site import (
    PageRecord,
    fill_page,
    fill_slots,
    index_context,
    nav_html,
    page_digest,
    page_name,
    refill_pages,
    related_records,
    render_index,
    status_html,
    unvouched,
)

UTC = dt.UTC
HOSTILE = '<img src=x onerror="alert(1)">'
HEADER = (
    "<html><body><div class='rfa-page-head'>"
    "<!--rfa:status--><!--/rfa:status-->"
    '<nav class="rfa-nav" aria-label="Breadcrumbs and related pages">'
    "<!--rfa:nav--><!--/rfa:nav--></nav>"
    "<p>Body mentions &lt;!--rfa:nav--&gt; as escaped text</p></div></body></html>"
)
"""A synthetic page with the two slots, as present.page_header writes them."""


def rec(dashboard: str, page: str, **overrides: object) -> PageRecord:
    titles = {"team": "Team analytics", "flow": "Flow analytics", "personal": "Personal"}
    values: dict[str, object] = {
        "account_slug": "acme",
        "account_name": "Acme Support",
        "dashboard": dashboard,
        "dashboard_title": titles.get(dashboard, dashboard.title()),
        "scope": "team",
        "audience": "x",
        "period": "30d",
        "window_start": dt.datetime(2026, 11, 6, tzinfo=UTC),
        "window_end": dt.datetime(2026, 12, 6, tzinfo=UTC),
        "timezone": "Europe/London",
        "data_time": dt.datetime(2026, 12, 6, tzinfo=UTC),
        "rendered_at": dt.datetime(2026, 12, 3, 5, 0, tzinfo=UTC),
        "renderer": "quarto",
        "page": page,
        "data_file": page.removesuffix(".html") + ".json",
    }
    values.update(overrides)
    return PageRecord.model_validate(values)


TEAM = rec("team", "acme/admin/team-30d.html")
ESCALATIONS = rec("escalations", "acme/staff/escalations-30d.html")
FLOW = rec(
    "flow", "acme/members/flow-outlook-1-30d.html", scope="Outlook profile corruption"
)
EVIL_FLOW = rec("flow", "acme/members/flow-evil-2-30d.html", scope=HOSTILE)
ANA = rec("personal", "acme/engineers/ana-3/personal-30d.html", scope="Ana Silva")
BEN = rec("personal", "acme/engineers/ben-4/personal-30d.html", scope="Ben Okafor")
OTHER_ACCOUNT = rec("flow", "globex/members/flow-x-5-30d.html", account_slug="globex")
SEVEN_DAYS = rec("flow", "acme/members/flow-outlook-1-7d.html", period="7d", scope="Outlook")
AD_HOC = rec(
    "team",
    "acme/admin/team-30d-to-2026-11-01.html",
    rolling=False,
    window_end=dt.datetime(2026, 11, 1, tzinfo=UTC),
    window_start=dt.datetime(2026, 10, 2, tzinfo=UTC),
)
SITE = [TEAM, ESCALATIONS, FLOW, EVIL_FLOW, ANA, BEN, OTHER_ACCOUNT, SEVEN_DAYS, AD_HOC]


def _nav(record: PageRecord) -> BeautifulSoup:
    return BeautifulSoup(str(nav_html(record, SITE)), "html.parser")


def _related(record: PageRecord) -> set[str]:
    return {r.page for r in related_records(record, SITE)}


# ------------------------------------------------------------------------------ fill_slots


def test_fill_slots_replaces_only_between_the_markers_and_keeps_them():
    html = fill_slots(HEADER, nav=Markup("<a href='x'>X</a>"), status="")
    assert "<!--rfa:nav--><a href='x'>X</a><!--/rfa:nav-->" in html
    assert "<!--rfa:status--><!--/rfa:status-->" in html
    assert "<p>Body mentions &lt;!--rfa:nav--&gt; as escaped text</p>" in html
    again = fill_slots(html, nav=Markup("<b>Y</b>"))  # the markers stay: it can be refilled
    assert "<!--rfa:nav--><b>Y</b><!--/rfa:nav-->" in again and "X</a>" not in again
    assert fill_slots(again, nav=None, status=None) == again  # None leaves a slot alone
    outside = HEADER.replace("<html>", "<html><!-- untouched -->")
    assert fill_slots(outside, nav="").startswith("<html><!-- untouched -->")


def test_fill_slots_escapes_plain_text_and_leaves_pages_without_slots_alone():
    html = fill_slots(HEADER, nav=HOSTILE)
    assert HOSTILE not in html and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    old_page = "<html><body><h1>An old page</h1></body></html>"
    assert fill_slots(old_page, nav=Markup("<a>x</a>"), status=Markup("<b>!</b>")) == old_page
    assert fill_page(FLOW, SITE, old_page) == old_page


def test_the_digest_ignores_what_the_slots_hold():
    filled = fill_page(TEAM, SITE, HEADER)
    assert filled != HEADER
    assert page_digest(filled.encode()) == page_digest(HEADER.encode())
    assert page_digest(HEADER.replace("escaped", "changed").encode()) != page_digest(
        HEADER.encode()
    )


# ------------------------------------------------------------------------------ breadcrumbs


def test_breadcrumbs_link_to_the_index_at_the_page_depth_and_name_the_account():
    soup = _nav(FLOW)
    crumbs = soup.select("ol.rfa-breadcrumbs li")
    assert crumbs[0].a["href"] == "../../index.html"
    assert crumbs[1].a["href"] == "../../index.html#account-acme"
    assert crumbs[1].get_text(strip=True).startswith("Acme Support")
    assert crumbs[2]["aria-current"] == "page"
    assert crumbs[2].get_text() == "Flow — Outlook profile corruption — last 30 days"
    deeper = _nav(ANA).select_one("ol.rfa-breadcrumbs a")
    assert deeper["href"] == "../../../index.html", "engineer pages sit one folder deeper"


def test_related_links_never_reach_a_narrower_audience():
    # admins' team page: the flows (members) and escalations (staff) are broader
    assert _related(TEAM) == {ESCALATIONS.page, FLOW.page, EVIL_FLOW.page}
    # members' flow page: never the team page (admins) or escalations (staff)
    assert _related(FLOW) == {EVIL_FLOW.page}
    # an engineer's page: staff and members pages, never admins', never another engineer's
    assert _related(ANA) == {ESCALATIONS.page, FLOW.page, EVIL_FLOW.page}
    assert BEN.page not in _related(ANA) and ANA.page not in _related(BEN)
    # staff's escalations page: members' flows only
    assert _related(ESCALATIONS) == {FLOW.page, EVIL_FLOW.page}
    # never another account's page, another period or an ad-hoc window of another end
    for record in SITE:
        assert OTHER_ACCOUNT.page not in _related(record) or record is OTHER_ACCOUNT
        assert SEVEN_DAYS.page not in _related(record) or record.period == "7d"
    assert AD_HOC.page not in _related(TEAM) and _related(AD_HOC) == set()


def test_related_links_are_relative_escaped_and_name_the_page():
    soup = _nav(TEAM)
    links = {a.get_text(): a["href"] for a in soup.select("ul.rfa-related a")}
    assert links == {
        "Escalations": "../staff/escalations-30d.html",
        "Flow — Outlook profile corruption": "../members/flow-outlook-1-30d.html",
        f"Flow — {HOSTILE}": "../members/flow-evil-2-30d.html",
    }
    html = str(nav_html(TEAM, SITE))
    assert HOSTILE not in html and "<img" not in html and "<script" not in html
    assert "style=" not in html, "no inline style: the page's CSP may forbid them"
    hostile_account = rec("team", "acme/admin/team-30d.html", account_name=HOSTILE)
    assert "<img" not in str(nav_html(hostile_account, SITE))


def test_page_names_say_what_and_which_window():
    assert page_name(TEAM) == "Team — last 30 days"
    assert page_name(FLOW) == "Flow — Outlook profile corruption — last 30 days"
    assert page_name(ANA, with_period=False) == "Personal — Ana Silva"
    assert page_name(AD_HOC) == "Team — 30 days to 1 Nov 2026"


# ------------------------------------------------------------------------------ status banner


def test_a_failed_refresh_shows_a_banner_on_the_last_good_version():
    failed = TEAM.model_copy(
        update={
            "status": "failed",
            "failed_at": dt.datetime(2026, 12, 6, 5, 10, tzinfo=UTC),
            "error": "cell [4] ValueError: boom",
        }
    )
    banner = BeautifulSoup(str(status_html(failed)), "html.parser").div
    assert banner["role"] == "alert"
    assert banner.get_text() == "Showing the version of 3 Dec: the refresh of 6 Dec failed."
    assert str(status_html(TEAM)) == ""
    html = fill_page(failed, SITE, HEADER)
    assert "<!--rfa:status--><div" in html and "the refresh of 6 Dec failed." in html
    refreshed = fill_page(TEAM, SITE, html)
    assert "<!--rfa:status--><!--/rfa:status-->" in refreshed, "an ok page clears the banner"


def test_refill_pages_rewrites_pages_with_slots_only(tmp_path: Path):
    team, flow = tmp_path / TEAM.page, tmp_path / FLOW.page
    for path in (team, flow):
        path.parent.mkdir(parents=True, exist_ok=True)
    team.write_text(HEADER, encoding="utf-8")
    flow.write_text("<html>an old page without slots</html>", encoding="utf-8")
    assert refill_pages([TEAM, FLOW], tmp_path) == 1
    assert "../members/flow-outlook-1-30d.html" in team.read_text(encoding="utf-8")
    assert flow.read_text(encoding="utf-8") == "<html>an old page without slots</html>"
    assert refill_pages([TEAM, FLOW], tmp_path) == 0, "unchanged pages are not rewritten"
    assert not [p for p in tmp_path.rglob(".*.tmp")]


# ------------------------------------------------------------------------------ vouching


def test_the_manifest_vouches_only_for_the_content_it_recorded(tmp_path: Path):
    page, data = tmp_path / TEAM.page, tmp_path / TEAM.data_file
    page.parent.mkdir(parents=True)
    page.write_text(HEADER, encoding="utf-8")
    data.write_text('{"meta": {}}', encoding="utf-8")
    import hashlib

    record = TEAM.model_copy(
        update={
            "page_sha256": page_digest(HEADER.encode()),
            "data_sha256": hashlib.sha256(b'{"meta": {}}').hexdigest(),
        }
    )
    assert unvouched(record, tmp_path) is None
    page.write_text(fill_page(record, SITE, HEADER), encoding="utf-8")
    assert unvouched(record, tmp_path) is None, "filled slots keep the page vouched for"
    # a newer render moved into place by a run killed before it wrote the manifest
    page.write_text(HEADER.replace("escaped", "newer"), encoding="utf-8")
    assert unvouched(record, tmp_path) == "page not the one the manifest records"
    page.write_text(HEADER, encoding="utf-8")
    data.write_text('{"meta": {"newer": 1}}', encoding="utf-8")
    assert unvouched(record, tmp_path) == "data file not the one the manifest records"
    data.unlink()
    assert unvouched(record, tmp_path) == "data file missing"


# ------------------------------------------------------------------------------ the index


def test_the_index_shows_why_a_page_failed_and_when_it_last_succeeded():
    failed = TEAM.model_copy(
        update={
            "status": "failed",
            "failed_at": dt.datetime(2026, 12, 6, 5, 10, tzinfo=UTC),
            "error": "\x1b[31mcell [4] ValueError: <b>boom</b>\x1b[0m\nTraceback (most recent…",
        }
    )
    soup = BeautifulSoup(render_index([failed, FLOW]), "html.parser")
    row = soup.select_one("tr.row-failed")
    text = row.get_text(" ", strip=True)
    assert row.select_one(".reason").get_text() == "cell [4] ValueError: <b>boom</b>"
    assert "\x1b" not in str(soup) and "[31m" not in str(soup) and "Traceback" not in text
    assert "2026-12-06 05:10 UTC" in text
    assert "last succeeded 2026-12-03 05:00 UTC" in text
    assert soup.find("b") is None, "the reason is escaped"


def test_index_link_texts_name_the_page_and_rolling_pages_come_first():
    soup = BeautifulSoup(render_index([AD_HOC, TEAM, FLOW]), "html.parser")
    names = [a.get_text() for a in soup.select("td.scope a")]
    assert names == [
        "Team — last 30 days",
        "Team — 30 days to 1 Nov 2026",
        "Flow — Outlook profile corruption — last 30 days",
    ]
    rows = index_context([AD_HOC, TEAM])["accounts"][0]["dashboards"][0]["rows"]
    assert [r["page"] for r in rows] == [TEAM.page, AD_HOC.page]
