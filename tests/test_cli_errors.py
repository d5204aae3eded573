"""Bad input ends in one clear message, a non-zero exit, and no page written or overwritten."""

from __future__ import annotations

import os

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
    result = run_rfa(
        ["publish", "--demo"],
        url=url,
        publish_dir=publish_dir,
        timeout=120,
        env={"RFA_DB_RETRY_BUDGET_S": "2"},  # a short retry budget: the test's, not the default
    )
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


# ---------------------------------------------------------------- issue 16 §10: before any work


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        (["--workers", "0"], "invalid value for '--workers'"),
        (["--timeout", "0"], "invalid value for '--timeout'"),
    ],
    ids=["workers-0", "timeout-0"],
)
def test_zero_workers_or_timeout(demo_sqlite_url, publish_dir, option, needle):
    result = run_rfa(
        ["publish", "--account", "northwind-it", *option],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
    )
    _assert_clean_failure(result, publish_dir, needle, "greater than or equal to 1")
    assert not (publish_dir.parent / "build").exists()  # refused before any work


@pytest.mark.parametrize("kind", ["text", "empty", "folder"])
def test_a_database_url_that_is_not_a_database(tmp_path, publish_dir, kind):
    target = tmp_path / "not-a-database"
    if kind == "folder":
        target.mkdir()
    else:
        target.write_text("hello, I am a text file\n" if kind == "text" else "")
    reason = {
        "text": "the file is not a SQLite database",
        "empty": "the file is empty",
        "folder": "it is a folder, not a file",
    }[kind]
    for args in (["publish", "--demo"], ["accounts"]):
        result = run_rfa(args, url=f"sqlite:///{target}", publish_dir=publish_dir)
        _assert_clean_failure(result, publish_dir, "invalid RFA_DATABASE_URL", reason, "accepted:")
    assert not (publish_dir.parent / "build").exists()


def test_renderer_quarto_without_quarto_is_refused_before_any_work(
    demo_sqlite_url, publish_dir, tmp_path
):
    import shutil
    import sys
    from pathlib import Path

    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    assert shutil.which("quarto", path=path) is None
    result = run_rfa(
        ["publish", "--account", "northwind-it", "--renderer", "quarto"],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
        env={"PATH": path},
    )
    _assert_clean_failure(
        result, publish_dir, "--renderer quarto needs the `quarto` command on PATH", "nbconvert"
    )
    assert not (publish_dir.parent / "build").exists()  # no notebook ran
