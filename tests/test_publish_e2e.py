"""End to end: the default demo publish (every account: team, 5 flows, 3 engineers, 30d).

Runs the real CLI (papermill kernels, the renderer available here, atomic
publishing) against the session's small demo database, then checks every page,
data file, the index and the manifest — and that no other account's flow names,
engineer names or comments reach any page or data file of an account.
"""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup

from cli_helpers import run_rfa
from demo_db import ANCHOR
from rfa import dashboards
from rfa.db import connect, session_ratings
from rfa.queries import accounts as aq
from rfa.queries import sessions as sq
from rfa.window import make_window

pytestmark = pytest.mark.slow
AS_OF = ANCHOR.isoformat()


@pytest.fixture(scope="module")
def published(tmp_path_factory, demo_sqlite_url):
    root = tmp_path_factory.mktemp("e2e")
    publish_dir = root / "published"
    result = run_rfa(
        ["publish", "--demo", "--workers", "2", "--as-of", AS_OF],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
        build_dir=root / "build",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return publish_dir


def _strings_by_account(url: str) -> dict[str, set[str]]:
    """Every flow name, user name and comment of each account."""
    out: dict[str, set[str]] = {}
    with connect(url) as conn:
        for slug in aq.list_accounts(conn)["slug"]:
            info = aq.resolve_account(conn, slug)
            names = set(aq.list_flows(conn, info.id)["name"])
            names |= {n for n in aq.list_users(conn, info.id)["name"] if n}
            names |= {
                c.strip()
                for (c,) in conn.execute(
                    sa.select(session_ratings.c.comment).where(
                        session_ratings.c.account_id == info.id, session_ratings.c.comment != ""
                    )
                )
                if c and c.strip()
            }
            out[slug] = names
    return out


def _active_in_window(url: str) -> dict[str, tuple[int, int]]:
    """Per account: (flows, engineers) with sessions in the default 30d window."""
    out = {}
    with connect(url) as conn:
        for slug in aq.list_accounts(conn)["slug"]:
            info = aq.resolve_account(conn, slug)
            window = make_window("30d", ANCHOR, info.timezone)
            frame = sq.sessions_frame(conn, info.id, window)
            out[slug] = (frame["tree_id"].n_unique(), frame["user_id"].n_unique())
    return out


def test_every_default_page_and_data_file_is_published(published, demo_sqlite_url):
    active = _active_in_window(demo_sqlite_url)
    manifest = json.loads((published / "manifest.json").read_text())
    assert len(manifest) >= 11 * len(active)
    for slug, (flows, engineers) in active.items():
        pages = [r for r in manifest if r["account_slug"] == slug]
        kinds = sorted(r["dashboard"] for r in pages)
        assert kinds == sorted(
            ["flow"] * min(5, flows)
            + ["personal"] * min(3, engineers)
            + ["team", "flowpilot", "coverage", "knowledge_gaps", "escalations"]
        )
        for record in pages:
            assert record["status"] == "ok"
            assert (published / record["page"]).stat().st_size > 10_000
            assert (published / record["data_file"]).exists()
            assert record["page"].startswith(f"{slug}/")
        for page in (
            "admin/team",
            "admin/flowpilot",
            "admin/coverage",
            "admin/knowledge-gaps",
            "staff/escalations",
        ):
            assert (published / slug / f"{page}-30d.html").exists(), page


def test_pages_are_self_contained_and_read_well(published):
    for page in published.rglob("*.html"):
        html = page.read_text()
        soup = BeautifulSoup(html, "html.parser")
        for tag, attr in (("script", "src"), ("link", "href"), ("img", "src")):
            for node in soup.find_all(tag):
                value = node.get(attr) or ""
                assert not re.match(r"(https?:)?//", value), f"{page}: remote {tag} {value}"
        if page.name == "index.html":
            continue
        text = soup.get_text(" ")
        assert "#|" not in text and "## Row" not in text, page
        assert soup.find("img", src=re.compile(r"^data:image/svg\+xml;base64,")), page
        assert "About these numbers" in text and "Last 30 days · " in text, page
        assert soup.select_one(".rfa-page-head .rfa-headline"), page  # the headline sentence


def test_index_lists_every_page_with_audience_period_and_data_time(published):
    index = (published / "index.html").read_text()
    soup = BeautifulSoup(index, "html.parser")
    links = {a["href"] for a in soup.find_all("a", href=True)}
    manifest = json.loads((published / "manifest.json").read_text())
    for record in manifest:
        assert record["page"] in links
        assert record["data_time"]
    text = soup.get_text(" ")
    assert "team admins" in text and "members of the account" in text
    assert "engineers and admins of the account (not viewers)" in text
    assert "30d" in text


def test_data_files_hold_the_numbers_of_metrics_md(published, demo_sqlite_url):
    data = json.loads((published / "northwind-it/admin/team-30d.json").read_text())
    expected = dashboards.team_page("northwind-it", "30d", AS_OF, url=demo_sqlite_url)
    fresh = json.loads(expected.model_dump_json())
    for key in ("summary", "time_series", "top_flows", "top_engineers", "csat", "data_quality"):
        assert data[key] == fresh[key], key
    assert len(data["time_series"]) in (30, 31)
    assert data["summary"]["total_sessions"] == sum(p["sessions"] for p in data["time_series"])


def test_no_other_account_reaches_a_page_or_data_file(published, demo_sqlite_url):
    strings = _strings_by_account(demo_sqlite_url)
    checked = 0
    for slug, own in strings.items():
        foreign = set().union(*(s for other, s in strings.items() if other != slug)) - own
        foreign = {f for f in foreign if len(f) >= 6}
        assert foreign
        for path in (published / slug).rglob("*"):
            if path.suffix not in (".html", ".json"):
                continue
            text = path.read_text()
            leaked = [f for f in foreign if f in text or json.dumps(f)[1:-1] in text]
            assert not leaked, f"{path}: {leaked[:3]}"
            checked += 1
    manifest = json.loads((published / "manifest.json").read_text())
    assert checked == 2 * len(manifest)


def test_flow_pages_carry_no_rater_identity(published, demo_sqlite_url):
    with connect(demo_sqlite_url) as conn:
        people = {}
        for slug in aq.list_accounts(conn)["slug"]:
            info = aq.resolve_account(conn, slug)
            people[slug] = aq.list_users(conn, info.id)
    (build,) = (published.parent / "build").glob("run-*/")  # the publish's own build folder
    for slug, users in people.items():
        executed = list((build / slug / "members").glob("flow-*/page.ipynb"))
        assert executed, "the executed flow notebooks are checked too"
        for path in [*(published / slug / "members").glob("flow-*"), *executed]:
            text = path.read_text()
            for user_id, name, email in users.select("user_id", "name", "email").iter_rows():
                assert user_id not in text and email not in text
                assert not name or name not in text, f"{path}: {name}"


@pytest.mark.postgres
def test_the_same_publish_runs_against_postgresql(tmp_path, demo_pg_url, published):
    publish_dir = tmp_path / "published"
    result = run_rfa(
        [
            "publish",
            "--account",
            "kiwi-tech",
            "-d",
            "team",
            "-d",
            "flow",
            "--workers",
            "2",
            "--as-of",
            AS_OF,
        ],
        url=demo_pg_url,
        publish_dir=publish_dir,
        build_dir=tmp_path / "build",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pages = sorted(
        p.relative_to(publish_dir).as_posix()
        for p in publish_dir.rglob("*.json")
        if p.name != "manifest.json"
    )
    assert "kiwi-tech/admin/team-30d.json" in pages and len(pages) >= 2
    for page in pages:  # same numbers as the SQLite publish of the same demo data
        pg, lite = (json.loads((d / page).read_text()) for d in (publish_dir, published))
        for data in (pg, lite):
            data["meta"].pop("generated_at")
        assert pg == lite, page


def test_every_page_shows_n_intervals_and_comparisons(published):
    """Issue 7: every KPI of every demo page carries n, a 95% interval and the verdict
    of a documented test against the previous window — in the data file and on the page."""
    manifest = json.loads((published / "manifest.json").read_text())
    tests = {"Poisson rate test", "two-proportion z-test", "Mann–Whitney U", "Welch t-test"}
    for record in manifest:
        data = json.loads((published / record["data_file"]).read_text())
        assert data["kpis"], record["page"]
        assert data["meta"]["previous_window"]["end"] == data["meta"]["window"]["start"]
        for kpi in data["kpis"]:
            est, change = kpi["estimate"], kpi["change"]
            assert est["n"] >= 0 and "few" in est, (record["page"], kpi["key"])
            if est["value"] is not None and est["n"] >= 2:
                assert est["low"] <= est["value"] <= est["high"], (record["page"], kpi)
            assert change["test"] in tests | {"none"}, change
            if change["direction"] != "none":
                assert change["significant"] and change["p_value"] < 0.05
            else:
                assert any(
                    word in change["label"] for word in ("no clear change", "no previous", "not")
                ), change
        text = BeautifulSoup((published / record["page"]).read_text(), "html.parser").get_text(" ")
        assert "How sure are these numbers?" in text and "95% interval" in text, record["page"]
        assert f"compared with the {data['meta']['previous_label']}" in text, record["page"]
        assert all(word in text.lower() for word in ("glossary", "intervals", "comparison"))
        for kpi in data["kpis"]:
            assert kpi["label"] in text, (record["page"], kpi["label"])


def test_every_page_links_back_to_the_index_and_only_to_pages_its_readers_may_open(published):
    """The nav slot the publisher fills (breadcrumbs, related pages): every link resolves
    to a published file, and never to a narrower audience — a members' flow page links to
    no admin, staff or engineer page; an engineer's page to no admin page and no other
    engineer's; links stay in the page's own account."""
    import posixpath

    manifest = json.loads((published / "manifest.json").read_text())
    filled = 0
    for record in manifest:
        page = record["page"]
        soup = BeautifulSoup((published / page).read_text(), "html.parser")
        nav = soup.select_one("nav.rfa-nav")
        if nav is None or "rfa:nav" not in str(nav):
            continue  # a page without the header's slots
        filled += 1
        crumbs = nav.select("ol.rfa-breadcrumbs a")
        assert crumbs and crumbs[0]["href"] == "../" * page.count("/") + "index.html", page
        assert record["account_name"] in nav.get_text()
        assert not nav.find("script") and not nav.find(style=True)
        account, folder = page.split("/")[:2]
        for link in nav.select("ul.rfa-related a"):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(page), link["href"]))
            assert (published / target).is_file(), (page, link["href"])
            t_account, t_folder = target.split("/")[:2]
            assert t_account == account, (page, target)
            if folder == "members":
                assert t_folder == "members", (page, target)
            if folder == "staff":
                assert t_folder in ("staff", "members"), (page, target)
            if folder == "engineers":
                assert t_folder in ("staff", "members"), (page, target)
            assert link.get_text().split(" — ")[0] in (
                "Team",
                "Personal",
                "Flow",
                "FlowPilot",
                "Coverage",
                "Knowledge gaps",
                "Escalations",
            )
        if record["dashboard"] == "team":  # admins: the account's flow pages are linked
            related = {a["href"] for a in nav.select("ul.rfa-related a")}
            assert any(h.startswith("../members/flow-") for h in related), (page, related)
    assert filled == len(manifest), "every page of this publish has the header's slots"
