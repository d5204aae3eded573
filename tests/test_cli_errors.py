"""Bad input ends in one clear message, a non-zero exit, and no page written or overwritten."""

from __future__ import annotations

import pytest

from cli_helpers import run_rfa
from demo_db import ANCHOR
from rfa.db import connect
from rfa.queries import accounts as aq

AS_OF = ANCHOR.date().isoformat()


@pytest.fixture
def publish_dir(tmp_path):
    folder = tmp_path / "published"
    (folder / "northwind-it" / "admin").mkdir(parents=True)
    (folder / "northwind-it" / "admin" / "team-30d.html").write_text("previous good page")
    return folder


def _assert_clean_failure(result, publish_dir, *needles: str, code: int = 2):
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error:"), result.stderr
    message = " ".join(result.stderr.split())
    for needle in needles:
        assert needle in message, message
    files = sorted(
        p.relative_to(publish_dir).as_posix()
        for p in publish_dir.rglob("*")
        if p.is_file() and p.name != ".rfa-publish.lock"  # the publish lock, not a page
    )
    assert files == ["northwind-it/admin/team-30d.html"]
    assert (publish_dir / "northwind-it/admin/team-30d.html").read_text() == "previous good page"


def test_unknown_account(demo_sqlite_url, publish_dir):
    result = run_rfa(["publish", "--account", "nope"], url=demo_sqlite_url, publish_dir=publish_dir)
    _assert_clean_failure(
        result, publish_dir, "unknown account 'nope'", "accepted:", "northwind-it"
    )


@pytest.mark.parametrize("period", ["45d", "last month", "2026-13-01..2026-13-02"])
def test_unknown_period(demo_sqlite_url, publish_dir, period):
    result = run_rfa(
        ["publish", "--account", "northwind-it", "--period", period],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
    )
    _assert_clean_failure(result, publish_dir, "invalid period", "7d, 30d, 90d")


def test_bad_as_of(demo_sqlite_url, publish_dir):
    result = run_rfa(
        ["publish", "--account", "northwind-it", "--as-of", "yesterday"],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
    )
    _assert_clean_failure(result, publish_dir, "invalid as_of", "ISO date")


def test_unknown_flow_and_engineer(demo_sqlite_url, publish_dir):
    result = run_rfa(
        ["publish", "--account", "northwind-it", "-d", "flow", "--flow", "No such flow"],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
    )
    _assert_clean_failure(result, publish_dir, "unknown flow 'No such flow'", "accepted:")
    result = run_rfa(
        [
            "publish",
            "--account",
            "northwind-it",
            "-d",
            "personal",
            "--engineer",
            "ghost@example.com",
        ],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
    )
    _assert_clean_failure(result, publish_dir, "unknown engineer 'ghost@example.com'")


def test_flow_of_another_account(demo_sqlite_url, publish_dir):
    with connect(demo_sqlite_url) as conn:
        other = aq.resolve_account(conn, "kiwi-tech")
        flow_id, flow_name = aq.list_flows(conn, other.id).row(0)[:2]
    result = run_rfa(
        ["publish", "--account", "northwind-it", "-d", "flow", "--flow", flow_id],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
    )
    _assert_clean_failure(result, publish_dir, f"unknown flow '{flow_id}' in this account")
    assert flow_name not in result.stderr


def test_unreachable_database_masks_the_password(publish_dir):
    url = "postgresql+psycopg://rfa_reader:s3cret-pw@127.0.0.1:1/resolutionflow"
    result = run_rfa(["publish", "--demo"], url=url, publish_dir=publish_dir, timeout=120)
    _assert_clean_failure(
        result, publish_dir, "cannot connect to database", "rfa_reader:***@127.0.0.1:1", code=3
    )
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_missing_sqlite_file(tmp_path, publish_dir):
    result = run_rfa(
        ["publish", "--demo"], url=f"sqlite:///{tmp_path}/absent.sqlite", publish_dir=publish_dir
    )
    _assert_clean_failure(result, publish_dir, "SQLite database file not found", code=3)


def test_demo_and_account_are_exclusive(demo_sqlite_url, publish_dir):
    result = run_rfa(["publish"], url=demo_sqlite_url, publish_dir=publish_dir)
    _assert_clean_failure(
        result, publish_dir, "exactly one of --schedule FILE, --all-schedules, --demo or --account"
    )
