"""Scheduled-render machinery: incremental skips, isolated failures, atomic publishing,
retries and timeouts, the Dask executor (issue 4)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli_helpers import run_rfa
from demo_db import ANCHOR
from rfa.db import is_transient, transient_retry
from rfa.publish import fingerprint as fp
from rfa.publish.batch import run_batch
from rfa.publish.pipeline import NOTEBOOK_DIR, PageJob
from rfa.publish.site import page_digest

AS_OF = ANCHOR.isoformat()
pytestmark = pytest.mark.slow


@pytest.fixture
def copied_db(tmp_path, demo_sqlite_url):
    """A private copy of the test demo database that a test may change."""
    source = demo_sqlite_url.removeprefix("sqlite:///")
    target = tmp_path / "demo.sqlite"
    shutil.copy(source, target)
    return f"sqlite:///{target}"


KIWI_30D = {
    "account_slug": "kiwi-tech",
    "account_name": "Kiwi Tech Support",
    "timezone": "Pacific/Auckland",
    "period": "30d",
    "as_of": AS_OF,
}
"""The demo pages the batch tests publish: kiwi-tech, 30 days to AS_OF."""


def _publish(url, publish_dir, *extra, env=None):
    args = [
        "publish",
        "--account",
        "kiwi-tech",
        "-d",
        "team",
        "-d",
        "escalations",
        "--as-of",
        AS_OF,
        "--workers",
        "2",
        *extra,
    ]
    return run_rfa(args, url=url, publish_dir=publish_dir, env=env)


def _statuses(stdout: str) -> dict[str, str]:
    """page → status from the plain log lines printed when not on a terminal."""
    out = {}
    for line in stdout.splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if fields.get("event") == "page":
            out[fields["page"]] = fields["status"]
    return out


def test_second_run_skips_and_changed_data_rerenders_only_that_account(tmp_path, copied_db):
    publish_dir = tmp_path / "published"
    other = ["publish", "--account", "harbour-msp", "-d", "team", "--as-of", AS_OF]
    assert run_rfa(other, url=copied_db, publish_dir=publish_dir).returncode == 0
    first = _publish(copied_db, publish_dir)
    assert first.returncode == 0, first.stdout + first.stderr
    assert set(_statuses(first.stdout).values()) == {"rendered"}
    team_page = publish_dir / "kiwi-tech/admin/team-30d.html"
    before = team_page.stat().st_mtime_ns

    second = _publish(copied_db, publish_dir)
    assert second.returncode == 0
    assert set(_statuses(second.stdout).values()) == {"skipped"}
    assert team_page.stat().st_mtime_ns == before

    dry = _publish(copied_db, publish_dir, "--dry-run", "--force")
    assert set(_statuses(dry.stdout).values()) == {"would-render"}
    assert "reason=forced" in dry.stdout and "rendered=" not in dry.stdout
    assert team_page.stat().st_mtime_ns == before  # a dry run writes nothing

    # one more rating for kiwi-tech: its team page changes, escalations does not
    with sqlite3.connect(copied_db.removeprefix("sqlite:///")) as db:
        row = db.execute(
            "SELECT r.id, r.session_id, r.user_id, r.tree_id, r.account_id, r.created_at "
            "FROM session_ratings r JOIN accounts a ON a.id = r.account_id "
            "WHERE a.slug = 'kiwi-tech' ORDER BY r.created_at DESC LIMIT 1"
        ).fetchone()
        db.execute(
            "INSERT INTO session_ratings (id, session_id, user_id, tree_id, account_id,"
            " rating, comment, created_at) VALUES (?, ?, ?, ?, ?, 5, NULL, ?)",
            ("f" * 32, *row[1:]),
        )
    again = run_rfa(other, url=copied_db, publish_dir=publish_dir)
    assert _statuses(again.stdout) == {"harbour-msp/admin/team-30d": "skipped"}
    third = _publish(copied_db, publish_dir)
    statuses = _statuses(third.stdout)
    assert statuses == {
        "kiwi-tech/admin/team-30d": "rendered",
        "kiwi-tech/staff/escalations-30d": "skipped",
    }, third.stdout
    manifest = json.loads((publish_dir / "manifest.json").read_text())
    team = next(r for r in manifest if r["page"] == "kiwi-tech/admin/team-30d.html")
    assert team["fingerprint"] and team["fingerprint_parts"]["library"]
    assert team["parameters"]["account"] == "kiwi-tech" and "data_file" not in team["parameters"]


def test_a_failing_page_keeps_its_last_good_version_and_others_publish(tmp_path, copied_db):
    publish_dir = tmp_path / "published"
    assert _publish(copied_db, publish_dir).returncode == 0
    team_page = publish_dir / "kiwi-tech/admin/team-30d.html"
    good = team_page.read_bytes()
    # the team notebook now raises in its setup cell; escalations is unaffected
    notebooks = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, notebooks)
    team_nb = json.loads((notebooks / "team_analytics.ipynb").read_text())
    team_nb["cells"][2]["source"] = ["raise RuntimeError('injected failure')\n"]
    (notebooks / "team_analytics.ipynb").write_text(json.dumps(team_nb))
    result = _publish(copied_db, publish_dir, "--force", env={"RFA_NOTEBOOK_DIR": str(notebooks)})
    assert result.returncode == 1
    statuses = _statuses(result.stdout)
    assert statuses["kiwi-tech/admin/team-30d"] == "failed"
    assert statuses["kiwi-tech/staff/escalations-30d"] == "rendered"
    assert "RuntimeError: injected failure" in result.stderr
    assert "cell [" in result.stderr  # the failing cell is named
    # the last good version stays: the same page, its banner now saying the refresh failed
    kept = team_page.read_bytes()
    assert page_digest(kept) == page_digest(good)
    assert (b'role="alert">Showing the version of ' in kept) == (b"<!--rfa:status-->" in good)
    manifest = {r["page"]: r for r in json.loads((publish_dir / "manifest.json").read_text())}
    assert manifest["kiwi-tech/admin/team-30d.html"]["status"] == "failed"
    assert "injected failure" in manifest["kiwi-tech/admin/team-30d.html"]["error"]
    index = (publish_dir / "index.html").read_text()
    assert "failed" in index
    leftovers = [p for p in publish_dir.rglob("*") if p.name.startswith(".") or "tmp" in p.name]
    assert [p.name for p in leftovers] == [".rfa-publish.lock"]


def test_transient_errors_are_retried_with_backoff(monkeypatch):
    monkeypatch.setenv("RFA_DB_RETRIES", "3")
    calls = []

    @transient_retry
    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise sa.exc.OperationalError("SELECT 1", {}, ConnectionError("connection refused"))
        return "ok"

    assert flaky() == "ok" and len(calls) == 3

    @transient_retry
    def broken_sql():
        calls.append(1)
        raise sa.exc.ProgrammingError("SELEC", {}, Exception("syntax error"))

    calls.clear()
    with pytest.raises(sa.exc.ProgrammingError):
        broken_sql()
    assert len(calls) == 1  # not transient: no retry


def test_is_transient_classifies_sqlstates():
    class Serialization(Exception):
        sqlstate = "40001"

    assert is_transient(sa.exc.OperationalError("x", {}, Serialization()))
    assert not is_transient(ValueError("nope"))


def test_fingerprint_parts_change_with_what_a_page_depends_on(tmp_path):
    nb = tmp_path / "n.ipynb"
    nb.write_text("{}")
    stats = {"sessions": [1, "t"], "trees": [2], "users": [3], "session_ratings": [0, None]}
    base = fp.fingerprint_parts("team", nb, {"account": "a", "data_file": "x"}, stats)
    assert base == fp.fingerprint_parts("team", nb, {"account": "a", "data_file": "y"}, stats)
    assert fp.changed_parts(base, fp.fingerprint_parts("team", nb, {"account": "b"}, stats)) == [
        "parameters"
    ]
    assert fp.changed_parts(
        base, fp.fingerprint_parts("team", nb, {"account": "a"}, {**stats, "sessions": [2, "t"]})
    ) == ["data"]
    # escalations does not read sessions: its data part ignores them
    esc = fp.fingerprint_parts("escalations", nb, {}, stats)
    assert esc == fp.fingerprint_parts("escalations", nb, {}, {**stats, "sessions": [9]})
    nb.write_text('{"cells": []}')
    assert fp.changed_parts(base, fp.fingerprint_parts("team", nb, {"account": "a"}, stats)) == [
        "notebook"
    ]


def test_dask_executor_renders_the_same_pages_as_local(tmp_path, demo_sqlite_url, monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv("RFA_DATABASE_URL", demo_sqlite_url)
    jobs = [
        PageJob(
            dashboard="escalations",
            account_slug="kiwi-tech",
            account_name="Kiwi Tech Support",
            timezone="Pacific/Auckland",
            period="30d",
            as_of=AS_OF,
        )
    ]
    local_dir, dask_dir = tmp_path / "local", tmp_path / "dask"
    local = run_batch(jobs, workers=1, publish_dir=local_dir, build_dir=tmp_path / "b1")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = run_batch(
            jobs,
            executor="dask",
            scheduler_address=cluster.scheduler_address,
            publish_dir=dask_dir,
            build_dir=tmp_path / "b2",
        )
    assert [o.status for o in local.outcomes] == [o.status for o in remote.outcomes] == ["rendered"]
    page = jobs[0].page
    a, b = (json.loads((d / page).with_suffix(".json").read_text()) for d in (local_dir, dask_dir))
    a["meta"].pop("generated_at")
    b["meta"].pop("generated_at")
    assert a == b
    assert sys.modules.get("distributed") is not None


def test_pages_not_refreshed_for_a_day_and_a_half_are_marked_stale():
    import datetime as dt

    from rfa.publish.batch import mark_stale
    from rfa.publish.site import PageRecord

    now = dt.datetime(2026, 11, 21, 6, tzinfo=dt.UTC)

    def record(page, end, status="ok"):
        return PageRecord(
            account_slug="a",
            account_name="A",
            dashboard="team",
            dashboard_title="Team",
            scope="team",
            audience="x",
            period="30d",
            window_start=end - dt.timedelta(days=30),
            window_end=end,
            timezone="UTC",
            data_time=None,
            rendered_at=end,
            renderer="nbconvert",
            page=page,
            data_file=page.replace(".html", ".json"),
            status=status,
        )

    marked = mark_stale(
        [
            record("a/fresh.html", now - dt.timedelta(hours=6)),
            record("a/old.html", now - dt.timedelta(days=3)),
            record("a/broken.html", now - dt.timedelta(days=3), "failed"),
        ],
        now,
    )
    assert {p: r.status for p, r in marked.items()} == {
        "a/fresh.html": "ok",
        "a/old.html": "stale",
        "a/broken.html": "failed",
    }


def test_a_bad_flow_in_a_schedule_fails_only_its_page(tmp_path, demo_sqlite_url):
    schedule = tmp_path / "kiwi.yml"
    schedule.write_text(
        "account: kiwi-tech\n"
        "dashboards: [escalations, flow]\n"
        "as_of: " + ANCHOR.date().isoformat() + "\n"
        "flows:\n  names: [No such flow, EFTPOS terminal offline at cafe counter]\n"
    )
    publish_dir = tmp_path / "published"
    result = run_rfa(
        ["publish", "--schedule", str(schedule), "--workers", "2"],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    statuses = _statuses(result.stdout)
    assert statuses["kiwi-tech/members/flow-no-such-flow-30d"] == "failed"
    assert statuses["kiwi-tech/staff/escalations-30d"] == "rendered"
    assert sum(s == "rendered" for s in statuses.values()) == 2
    assert "unknown flow 'No such flow'" in result.stderr
    assert "Traceback" not in result.stderr
    manifest = json.loads((publish_dir / "manifest.json").read_text())
    assert {r["team"] for r in manifest} == {"kiwi"}


def test_schedule_errors_are_reported_before_anything_runs(tmp_path, demo_sqlite_url):
    schedule = tmp_path / "broken.yml"
    schedule.write_text("account: kiwi-tech\nperiods: [45d]\ndashboards: [team, nope]\n")
    publish_dir = tmp_path / "published"
    result = run_rfa(
        ["publish", "--schedule", str(schedule)], url=demo_sqlite_url, publish_dir=publish_dir
    )
    assert result.returncode == 2
    assert "periods" in result.stderr and "dashboards" in result.stderr
    assert "Traceback" not in result.stderr
    assert not publish_dir.exists() or not any(publish_dir.rglob("*.html"))


def test_a_publish_killed_midway_leaves_no_partial_file(tmp_path, demo_sqlite_url):
    import os
    import signal
    import subprocess
    import time

    publish_dir, build_dir = tmp_path / "published", tmp_path / "build"
    env = {
        **os.environ,
        "RFA_DATABASE_URL": demo_sqlite_url,
        "RFA_PUBLISH_DIR": str(publish_dir),
        "RFA_BUILD_DIR": str(build_dir),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rfa.cli",
            "publish",
            "--account",
            "kiwi-tech",
            "--as-of",
            AS_OF,
            "--workers",
            "2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(publish_dir.rglob("*.html")):
        time.sleep(0.2)  # kill once the first pages are landing and others are rendering
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    leftovers = [
        p
        for p in publish_dir.rglob("*")
        if p.is_file() and p.suffix not in (".html", ".json") and p.name != ".rfa-publish.lock"
    ]
    assert not leftovers, leftovers
    for page in publish_dir.rglob("*.html"):
        assert page.read_text().rstrip().endswith("</html>"), page
    for data in publish_dir.rglob("*.json"):
        json.loads(data.read_text())


def test_notebook_imports_lists_the_modules_its_code_cells_import(tmp_path):
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    from rfa.publish.pipeline import notebook_imports

    nb = new_notebook(
        cells=[
            new_code_cell("import secret_param_module", metadata={"tags": ["parameters"]}),
            new_markdown_cell("import not_code"),
            new_code_cell("%matplotlib inline"),
            new_code_cell("import colorsys, json as j\nfrom xml.dom import minidom\nx = 1"),
            new_code_cell("from . import rel\nfrom xml.dom import minidom\ndef f():\n import os"),
        ]
    )
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    assert notebook_imports(path) == ("colorsys", "json", "xml.dom", "xml.dom.minidom")
    assert notebook_imports(tmp_path / "missing.ipynb") == ()


def test_a_preloading_kernel_leaves_the_notebook_a_fresh_namespace(tmp_path):
    """Preloads import modules while the kernel starts, in a throwaway namespace: the
    notebook sees the same globals and execution count as in a plain kernel."""
    from jupyter_client import BlockingKernelClient

    from rfa.publish.pipeline import Kernel

    probe = (
        "import os, sys\n"
        "print(sorted(k for k in globals() if not k.startswith('_') and k not in ('os', 'sys')),"
        " 'xml.dom.minidom' in sys.modules, os.getcwd())"
    )
    outputs = []
    for preload in ((), ("colorsys", "xml.dom.minidom", "no_such_module_rfa")):
        kernel = Kernel(preload, cwd=tmp_path)
        try:
            kernel.wait_ready(cwd=tmp_path / "..")
            client = BlockingKernelClient()
            client.load_connection_info(kernel.km.get_connection_info())
            client.start_channels()
            try:
                seen = []
                reply = client.execute_interactive(
                    probe, timeout=60, output_hook=lambda m, seen=seen: seen.append(m)
                )
            finally:
                client.stop_channels()
            text = "".join(m["content"].get("text", "") for m in seen)
            outputs.append((reply["content"]["execution_count"], text))
            assert kernel.is_alive()
        finally:
            kernel.shutdown()
        assert not kernel.is_alive()
    (count_plain, plain), (count_preloaded, preloaded) = outputs
    assert count_plain == count_preloaded == 1
    names = plain.split("]")[0]
    assert preloaded.split("]")[0] == names and "colorsys" not in names
    assert "False" in plain and "True" in preloaded
    assert str(tmp_path.parent) in preloaded


def test_pages_use_kernels_started_ahead_of_use_and_none_survives(
    tmp_path, demo_sqlite_url, monkeypatch
):
    """One worker, three pages: each page's kernel is a fork of the worker's kernel
    template, and the second and third pages get theirs started while the page before them
    executed — a different process for every page, none left over."""
    import re

    from process_helpers import MARK_ENV, new_mark, survivors
    from rfa.publish import batch

    mark = new_mark()
    monkeypatch.setenv(MARK_ENV, mark)
    monkeypatch.setenv("RFA_DATABASE_URL", demo_sqlite_url)
    monkeypatch.setattr(batch, "_cores", lambda: 8)  # a core to spare, as on most machines
    base = KIWI_30D
    jobs = [PageJob(dashboard=d, **base) for d in ("escalations", "team", "flowpilot")]
    result = run_batch(
        jobs, workers=1, publish_dir=tmp_path / "published", build_dir=tmp_path / "build"
    )
    assert [o.status for o in result.outcomes] == ["rendered"] * 3, result.outcomes
    build = tmp_path / "build" / Path(result.build_dir or "").name  # this run's folder
    assert build.parent == tmp_path / "build" and build.name.startswith("run-")
    for outcome in result.outcomes:
        assert set(outcome.phases) == {"kernel", "execute", "render", "publish"}
    kernels = []
    for job in jobs:
        log = (build / f"{job.label}.log").read_text()
        found = re.findall(r"rfa: kernel pid (\d+) \((?:forked from [^,]*, )?([^)]*)\)", log)
        assert len(found) == 1, log
        assert "forked from the kernel template" in log, "a batch worker forks its kernels"
        kernels.append(found[0])
        assert "rfa: page phases: kernel=" in log
    assert [how for _, how in kernels] == [
        "started for this page",
        "started ahead of use",
        "started ahead of use",
    ]
    assert len({pid for pid, _ in kernels}) == 3, "never one kernel for two pages"
    assert not list((build / ".kernels").glob("*")), "a spare kernel's log is moved to its page"
    assert not survivors(mark, 10.0)


@pytest.fixture
def default_signal_handlers():
    """SIGTERM / SIGINT / SIGHUP at their default handlers for the test, as in a shell's
    foreground job (a background job of a non-interactive shell, e.g. CI started with
    ``&``, ignores SIGINT, and the guard rightly leaves an ignored signal ignored)."""
    import signal

    from rfa.publish.batch import HANDLED_SIGNALS

    saved = {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS}
    for sig in HANDLED_SIGNALS:
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_a_signal_during_a_held_section_waits_for_its_end(default_signal_handlers):
    """The main process publishes a page and records it in one held section: a signal
    arriving in between is raised only after both are done (never a page on disk that
    the manifest does not list)."""
    import os
    import signal

    from rfa.publish.batch import _Interrupted, _SignalGuard

    done = []
    with _SignalGuard() as guard, pytest.raises(_Interrupted) as stopped:
        with guard.armed():
            with guard.held():
                os.kill(os.getpid(), signal.SIGTERM)
                done.append("published")
                done.append("recorded")
            done.append("next page")  # never reached: the held signal is raised first
    assert stopped.value.signum == signal.SIGTERM
    assert done == ["published", "recorded"]
    # outside a held section an armed guard raises at once
    with _SignalGuard() as guard, pytest.raises(_Interrupted), guard.armed():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("not reached")
    assert done == ["published", "recorded"]


def test_a_page_built_by_a_worker_is_published_only_by_the_batch(
    tmp_path, demo_sqlite_url, monkeypatch
):
    """Local workers execute and render (``publish=False``); the page reaches
    ``published/`` only through the main process's ``publish_job``."""
    from rfa.config import absolute_sqlite_url
    from rfa.db import connect
    from rfa.publish.batch import Decision, render_page
    from rfa.publish.pipeline import PublishError, plan_account, publish_job

    url = absolute_sqlite_url(demo_sqlite_url)
    monkeypatch.setenv("RFA_DATABASE_URL", url)
    publish_dir, build_dir = tmp_path / "published", tmp_path / "build"
    with connect(url) as conn:
        (job,) = plan_account(conn, "kiwi-tech", as_of=AS_OF, dashboards=["escalations"])
    with pytest.raises(PublishError, match="no data file"):
        publish_job(job, publish_dir, build_dir, "nbconvert")
    page, used, error, _, phases = render_page(
        Decision(job=job, render=True, reason="test", fingerprint="", parts={}),
        str(publish_dir),
        str(build_dir),
        "nbconvert",
        None,
        False,  # no kernel started ahead of use
        False,  # not published by the worker
    )
    assert error is None and used == "nbconvert" and page == job.page, error
    assert set(phases) == {"kernel", "execute", "render"}
    assert not list(publish_dir.rglob("*.html")), "a staged page must not be published yet"
    record = publish_job(job, publish_dir, build_dir, used)
    target = publish_dir / record.page
    assert target.read_text().rstrip().endswith("</html>")
    assert json.loads(target.with_suffix(".json").read_text())["meta"]


def test_with_quarto_a_batch_renders_its_executed_pages_in_one_project(
    tmp_path, demo_sqlite_url, monkeypatch
):
    """With ``quarto`` on PATH, workers only execute; the batch renders the executed pages
    with one Quarto project render, then publishes and records each as rendered by Quarto."""
    from test_render import install_fake_project_quarto

    calls = install_fake_project_quarto(tmp_path, monkeypatch, keep_path=True)
    monkeypatch.setenv("RFA_DATABASE_URL", demo_sqlite_url)
    base = KIWI_30D
    jobs = [PageJob(dashboard=d, **base) for d in ("escalations", "flowpilot")]
    publish_dir = tmp_path / "published"
    result = run_batch(jobs, workers=1, publish_dir=publish_dir, build_dir=tmp_path / "build")
    assert [o.status for o in result.outcomes] == ["rendered"] * 2, result.outcomes
    argv = [json.loads(line)["argv"] for line in calls.read_text().splitlines()]
    assert len(argv) == 1 and argv[0][0] == "render" and argv[0][2:] == ["--no-execute"]
    manifest = json.loads((publish_dir / "manifest.json").read_text())
    assert {r["renderer"] for r in manifest} == {"quarto"}
    for job in jobs:
        page = (publish_dir / job.page).read_text()
        from rfa.publish.render import markdown_literal  # the fake copies the front matter's

        assert f"<title>{markdown_literal(job.title)}</title>" in page
        assert '<head><meta http-equiv="Content-Security-Policy"' in page  # harden_page ran
        assert json.loads((publish_dir / job.page).with_suffix(".json").read_text())["meta"]


# ------------------------------------------------------------------ issue 16 items 2, 3, 6, 9
# and issue 19 (ad-hoc pages beside scheduled ones; the navigation the publisher fills)

EFTPOS = "EFTPOS terminal offline at cafe counter"
"""A kiwi-tech flow of the demo database."""


def _manifest(publish_dir) -> dict[str, dict]:
    return {r["page"]: r for r in json.loads((publish_dir / "manifest.json").read_text())}


def _pages_on_disk(publish_dir) -> set[str]:
    return {
        p.relative_to(publish_dir).as_posix()
        for p in publish_dir.rglob("*.html")
        if p.name != "index.html"
    }


def test_two_runs_at_once_on_one_folder_both_publish_and_ad_hoc_pages_sit_beside(
    tmp_path, demo_sqlite_url
):
    """Two publishes started together into one folder (a nightly rolling window and an
    ad-hoc --as-of a month back): the second waits for the first's lock, both exit 0,
    the manifest lists every page on disk, and the ad-hoc page has its own path."""
    import datetime as dt
    import os
    import subprocess

    from bs4 import BeautifulSoup

    publish_dir, build_dir = tmp_path / "published", tmp_path / "build"
    past = (ANCHOR - dt.timedelta(days=35)).date().isoformat()
    env = {
        **os.environ,
        "RFA_DATABASE_URL": demo_sqlite_url,
        "RFA_PUBLISH_DIR": str(publish_dir),
        "RFA_BUILD_DIR": str(build_dir),
    }
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rfa.cli",
                "publish",
                "-a",
                "kiwi-tech",
                "-d",
                "team",
                "--as-of",
                as_of,
                "--workers",
                "1",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for as_of in (AS_OF, past)
    ]
    outputs = [run.communicate(timeout=900) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out + err
    rolling, ad_hoc = "kiwi-tech/admin/team-30d.html", f"kiwi-tech/admin/team-30d-to-{past}.html"
    manifest = _manifest(publish_dir)
    assert set(manifest) == {rolling, ad_hoc} == _pages_on_disk(publish_dir)
    assert any("is running; waiting up to" in err for _, err in outputs), outputs
    assert manifest[rolling]["rolling"] and not manifest[ad_hoc]["rolling"]
    assert manifest[ad_hoc]["window_end"] < manifest[rolling]["window_end"]
    builds = sorted(p.name for p in build_dir.glob("run-*") if p.is_dir())
    assert len(builds) == 2, "each run builds in a folder of its own"
    index = BeautifulSoup((publish_dir / "index.html").read_text(), "html.parser")
    links = [(a.get_text(), a["href"]) for a in index.select("td.scope a")]
    assert links[0] == ("Team — last 30 days", rolling), "the rolling page is listed first"
    assert links[1][1] == ad_hoc and links[1][0].startswith("Team — 30 days to ")
    page = (publish_dir / rolling).read_text()
    if "<!--rfa:nav-->" in page:  # the page header carries the publisher's slots
        nav = BeautifulSoup(page, "html.parser").select_one("nav.rfa-nav")
        assert nav.select_one("ol.rfa-breadcrumbs a")["href"] == "../../index.html"
        assert "Kiwi Tech Support" in nav.get_text()


def test_a_run_waits_for_the_lock_then_exits_75_in_one_line(tmp_path, demo_sqlite_url):
    from rfa.publish.site import publish_lock

    publish_dir = tmp_path / "published"
    with publish_lock(publish_dir, wait=0):  # another publish is running
        result = _publish(demo_sqlite_url, publish_dir, env={"RFA_PUBLISH_LOCK_WAIT_S": "1"})
    assert result.returncode == 75, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "another publish into" in errors[0], result.stderr
    assert "waiting up to 1 s" in result.stderr and "Traceback" not in result.stderr
    assert not (publish_dir / "manifest.json").exists() and not _pages_on_disk(publish_dir)
    bad = _publish(demo_sqlite_url, publish_dir, env={"RFA_PUBLISH_LOCK_WAIT_S": "soon"})
    assert bad.returncode == 2 and "RFA_PUBLISH_LOCK_WAIT_S" in bad.stderr


def test_a_flow_named_twice_renders_once_and_a_page_the_manifest_does_not_vouch_for_renders_again(
    tmp_path, demo_sqlite_url
):
    """``--flow NAME --flow ITS-ID`` crashed with KeyError (item 3). After a run killed
    between moving a page into place and writing the manifest (item 9: the page on disk
    is newer than its record), the next run renders that page again."""
    db = sqlite3.connect(demo_sqlite_url.removeprefix("sqlite:///"))
    (flow_id,) = db.execute(
        "SELECT t.id FROM trees t JOIN accounts a ON a.id = t.account_id "
        "WHERE a.slug = 'kiwi-tech' AND t.name = ?",
        (EFTPOS,),
    ).fetchone()
    db.close()
    publish_dir = tmp_path / "published"
    args = [
        "publish",
        "-a",
        "kiwi-tech",
        "-d",
        "flow",
        "--flow",
        EFTPOS,
        "--flow",
        str(flow_id),
        "--as-of",
        AS_OF,
    ]
    first = run_rfa(args, url=demo_sqlite_url, publish_dir=publish_dir)
    assert first.returncode == 0, first.stdout + first.stderr
    (page,) = _pages_on_disk(publish_dir)
    assert set(_manifest(publish_dir)) == {page}
    assert list(_statuses(first.stdout).values()) == ["rendered"]
    # a newer render moved into place by a run that was then killed with -9
    path = publish_dir / page
    path.write_text(path.read_text().replace("</body>", "<p>newer render</p></body>"))
    dry = run_rfa([*args, "--dry-run"], url=demo_sqlite_url, publish_dir=publish_dir)
    assert list(_statuses(dry.stdout).values()) == ["would-render"], dry.stdout
    assert "page not the one the manifest records" in dry.stdout
    again = run_rfa(args, url=demo_sqlite_url, publish_dir=publish_dir)
    assert list(_statuses(again.stdout).values()) == ["rendered"], again.stdout
    assert "newer render" not in path.read_text()
    last = run_rfa(args, url=demo_sqlite_url, publish_dir=publish_dir)
    assert list(_statuses(last.stdout).values()) == ["skipped"], "vouched for again"


@pytest.mark.parametrize("slug", ["manifest.json", "index.html"])
def test_an_account_slug_named_like_a_site_file_publishes_beside_it(tmp_path, copied_db, slug):
    with sqlite3.connect(copied_db.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE accounts SET slug = ? WHERE slug = 'kiwi-tech'", (slug,))
    publish_dir = tmp_path / "published"
    args = ["publish", "-a", slug, "-d", "escalations", "--as-of", AS_OF]
    for _ in range(2):  # the run after it too (it used to fail with IsADirectoryError)
        result = run_rfa(args, url=copied_db, publish_dir=publish_dir)
        assert result.returncode == 0, result.stdout + result.stderr
    assert (publish_dir / "manifest.json").is_file() and (publish_dir / "index.html").is_file()
    (page,) = _manifest(publish_dir)
    assert page.split("/")[0].startswith(slug.replace(".", "-") + "-")
