"""One account's bad row fails only the pages that need it (issue 16 §5).

Once an invalid account timezone exited 2 for every team, an account slug ``..`` stopped
``--demo``, and a flow without a name or an engineer without name and email gave a
pydantic traceback for the whole nightly run. Now each bad row fails the pages that need
it — with the reason in the run's summary and, for a page published before, in the
manifest and the index — and every other page publishes.

The bad rows are written the way a replica could hold them: on SQLite by plain updates
(timezone, slug); on PostgreSQL, where the test schema declares ``trees.name`` and
``users.email`` NOT NULL, after dropping those constraints as a replica without them
would have.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli_helpers import run_rfa
from demo_db import ANCHOR
from rfa.db import connect
from rfa.queries import accounts as aq
from rfa.queries import sessions as sq
from rfa.window import make_window

AS_OF = ANCHOR.date().isoformat()
TZ_ERROR = "account 'kiwi-tech' has the timezone 'Mars/Olympus' (accounts.timezone)"
SLUG_ERROR = "has the account slug '..' (accounts.slug)"


@pytest.fixture
def bad_accounts_db(tmp_path, demo_sqlite_url) -> str:
    """The demo database with kiwi-tech's timezone invalid and northwind-it's slug ``..``."""
    path = tmp_path / "bad-accounts.sqlite"
    shutil.copy(sa.engine.make_url(demo_sqlite_url).database, path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE accounts SET timezone = 'Mars/Olympus' WHERE slug = 'kiwi-tech'")
        db.execute("UPDATE accounts SET slug = '..' WHERE slug = 'northwind-it'")
    return f"sqlite:///{path}"


def _events(stdout: str) -> dict[str, str]:
    out = {}
    for line in stdout.splitlines():
        if "event=page " in line:
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            out[fields["page"]] = fields["status"]
    return out


def _failed_lines(stderr: str) -> dict[str, str]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr and lines, stderr
    assert all(line.startswith(("failed ", "rfa: ")) for line in lines), stderr
    return dict(
        line.removeprefix("failed ").split(": ", 1) for line in lines if line.startswith("failed ")
    )


def test_bad_account_rows_fail_only_their_own_pages_in_the_demo_run(bad_accounts_db, tmp_path):
    result = run_rfa(
        ["publish", "--demo", "--as-of", AS_OF, "--dry-run"],
        url=bad_accounts_db,
        publish_dir=tmp_path / "published",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    failed = _failed_lines(result.stderr)
    kiwi = {page: why for page, why in failed.items() if page.startswith("kiwi-tech/")}
    dots = {page: why for page, why in failed.items() if page.startswith("(account '..')/")}
    assert set(kiwi) | set(dots) == set(failed)
    # every dashboard of each bad account fails with its reason, the team page by name
    assert len(kiwi) == 7 and len(dots) == 7, failed
    assert "kiwi-tech/admin/team-30d" in kiwi
    assert all(TZ_ERROR in why and "accepted: an IANA name" in why for why in kiwi.values())
    assert all(SLUG_ERROR in why for why in dots.values())
    # harbour-msp's pages are all planned: 5 account pages, 5 flows, 3 engineers
    planned = _events(result.stdout)
    harbour = [p for p, s in planned.items() if p.startswith("harbour-msp/")]
    assert len(harbour) == 13 and {planned[p] for p in harbour} == {"would-render"}
    assert "failed=14" in result.stdout


def test_a_schedule_of_a_bad_account_fails_alone_and_the_other_publishes(bad_accounts_db, tmp_path):
    schedules = []
    for team, account in (("kiwi-team", "kiwi-tech"), ("harbour-team", "harbour-msp")):
        path = tmp_path / f"{team}.yml"
        path.write_text(
            f"team: {team}\naccount: {account}\nperiods: [30d]\nas_of: today\n"
            "dashboards: [escalations]\n"
        )
        schedules += ["--schedule", str(path)]
    publish_dir = tmp_path / "published"
    result = run_rfa(["publish", *schedules], url=bad_accounts_db, publish_dir=publish_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert _events(result.stdout) == {
        "harbour-msp/staff/escalations-30d": "rendered",
        "kiwi-tech/staff/escalations-30d": "failed",
    }
    failed = _failed_lines(result.stderr)
    assert TZ_ERROR in failed["kiwi-tech/staff/escalations-30d"]
    assert (publish_dir / "harbour-msp/staff/escalations-30d.html").is_file()
    assert not (publish_dir / "kiwi-tech").exists()


# ---------------------------------------------------------------- a flow, an engineer


@pytest.fixture
def nameless_pg(pg_server) -> dict[str, str]:
    """The demo rows on a PostgreSQL database of their own, whose ``trees.name`` and
    ``users.email`` may be NULL; ids of kiwi-tech's busiest flow and engineer."""
    from demo_db import demo_rows
    from rfa.db import init_db
    from rfa.demo import load

    url = pg_server.create_database()
    init_db(url)
    load(url, demo_rows())
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE trees ALTER COLUMN name DROP NOT NULL"))
        conn.execute(sa.text("ALTER TABLE users ALTER COLUMN email DROP NOT NULL"))
    engine.dispose()
    with connect(url) as conn:
        info = aq.resolve_account(conn, "kiwi-tech")
        sessions = sq.sessions_frame(conn, info.id, make_window("30d", ANCHOR, info.timezone))
    try:
        yield {"url": url, "flow": sessions["tree_id"][0], "engineer": sessions["user_id"][0]}
    finally:
        pg_server.drop_database(str(sa.engine.make_url(url).database))


def _break_rows(url: str, flow: str, engineer: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE trees SET name = NULL WHERE id = :id"), {"id": flow})
        conn.execute(
            sa.text("UPDATE users SET name = NULL, email = NULL WHERE id = :id"),
            {"id": engineer},
        )
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_a_nameless_flow_and_engineer_fail_only_their_pages(nameless_pg, tmp_path):
    url, flow, engineer = nameless_pg["url"], nameless_pg["flow"], nameless_pg["engineer"]
    publish_dir = tmp_path / "published"
    base = ["publish", "-a", "kiwi-tech", "--as-of", AS_OF, "--workers", "2"]
    first = run_rfa([*base, "-d", "flow", "--flow", flow], url=url, publish_dir=publish_dir)
    assert first.returncode == 0, first.stdout + first.stderr
    (flow_page,) = _events(first.stdout)  # published under the flow's name

    _break_rows(url, flow, engineer)
    second = run_rfa(
        [
            *base,
            "-d",
            "team",
            "-d",
            "flow",
            "--flow",
            flow,
            "-d",
            "personal",
            "--engineer",
            str(uuid.UUID(engineer)),
        ],
        url=url,
        publish_dir=publish_dir,
    )
    assert second.returncode == 1, second.stdout + second.stderr
    events = _events(second.stdout)
    assert events["kiwi-tech/admin/team-30d"] == "rendered"  # the other page publishes
    assert events[flow_page] == "failed"  # failed under the path it was published at
    failed = _failed_lines(second.stderr)
    assert set(failed) == {p for p, s in events.items() if s == "failed"} and len(failed) == 2
    assert f"flow {flow} has no name (trees.name is empty)" in failed[flow_page]
    (personal,) = [p for p in failed if p != flow_page]
    assert personal.startswith("kiwi-tech/engineers/") and personal.endswith("/personal-30d")
    assert f"engineer {engineer} has neither a name nor an email" in failed[personal]

    manifest = {r["page"]: r for r in json.loads((publish_dir / "manifest.json").read_text())}
    assert manifest["kiwi-tech/admin/team-30d.html"]["status"] == "ok"
    record = manifest[f"{flow_page}.html"]
    assert record["status"] == "failed" and "has no name" in record["error"]
    index = (publish_dir / "index.html").read_text()
    assert "has no name (trees.name is empty)" in index  # the reason, on the index
    assert Path(publish_dir / f"{flow_page}.html").is_file()  # its last good version stays
