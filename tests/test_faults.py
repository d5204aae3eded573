"""Faults during a publish (issue 7): the database going away mid-batch, a kernel dying,
the renderer failing, and the publish itself being told to stop (SIGTERM / SIGINT).

Each time the run must report every failure clearly (one line per page, no traceback),
retry what is transient, leave every previously published page byte-identical and no
partial file behind, and leave no worker, kernel or renderer process running: every
process the CLI starts carries the test's mark (``process_helpers``), and none may
survive the CLI by more than a few seconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import run_rfa
from demo_db import ANCHOR
from postgres_server import PostgresNotInstalled, PostgresServer, find_bindir, in_ci
from process_helpers import (
    MARK_ENV,
    kill_marked,
    marked_processes,
    new_mark,
    page_events,
    partial_files,
    published_files,
    survivors,
)
from rfa.publish.pipeline import NOTEBOOK_DIR

pytestmark = pytest.mark.slow

AS_OF = ANCHOR.isoformat()
TWO_PAGES = ["--account", "kiwi-tech", "-d", "team", "-d", "escalations", "--as-of", AS_OF]
TEAM, ESCALATIONS = "kiwi-tech/admin/team-30d", "kiwi-tech/staff/escalations-30d"
ORPHAN_GRACE = 10.0
"""Seconds the CLI's processes may outlive it (they are stopped before it exits)."""


@pytest.fixture
def mark():
    """A unique process mark for this test; afterwards, kill whatever still carries it."""
    value = new_mark()
    yield value
    kill_marked(value)


@pytest.fixture(scope="module")
def published_before(tmp_path_factory, demo_sqlite_url) -> Path:
    """kiwi-tech's team and escalations pages, published once successfully (SQLite demo)."""
    folder = tmp_path_factory.mktemp("before")
    result = run_rfa(
        ["publish", *TWO_PAGES, "--workers", "2"],
        url=demo_sqlite_url,
        publish_dir=folder / "published",
        build_dir=folder / "build",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return folder / "published"


@pytest.fixture
def publish_dir(tmp_path, published_before) -> Path:
    """A private copy of the previously published site."""
    target = tmp_path / "published"
    shutil.copytree(published_before, target)
    return target


TIGHT_RETRY_BUDGET = "3"
"""Seconds of database retries in these tests (the default, 90 s, is for real restarts:
tests/test_db_retry.py shows it rides out a minute-long one)."""


def _env(mark: str, **extra: str) -> dict[str, str]:
    return {MARK_ENV: mark, "RFA_DB_RETRY_BUDGET_S": TIGHT_RETRY_BUDGET, **extra}


_SLOTS = re.compile(rb"(<!--rfa:(status|nav)-->).*?(<!--/rfa:\2-->)", re.S)


def _unslotted(content: bytes | None) -> bytes | None:
    """A page without what the publisher fills in after each run (its status banner and
    navigation slots: a failed refresh rightly adds a banner to the last good page)."""
    return None if content is None else _SLOTS.sub(rb"\1\3", content)


def _assert_clean(publish_dir: Path, before: dict[str, bytes], mark: str, *, changed=()):
    """Previously published pages intact (except ``changed``, and but for their status and
    navigation slots), no partial file, no orphan."""
    after = published_files(publish_dir)
    for path, content in before.items():
        if path.removesuffix(".html").removesuffix(".json") not in changed:
            assert _unslotted(after.get(path)) == _unslotted(content), f"{path} changed"
    assert not partial_files(publish_dir), partial_files(publish_dir)
    manifest = json.loads((publish_dir / "manifest.json").read_text())
    assert manifest, "the manifest must still list the pages"
    assert (publish_dir / "index.html").read_text().rstrip().endswith("</html>")
    left = survivors(mark, ORPHAN_GRACE)
    assert not left, f"processes outlived the publish: {left}"


def _assert_clear_failures(stderr: str, pages: list[str]) -> None:
    """Each failed page has one ``failed <page>: <cause>`` line and there is no traceback."""
    lines = stderr.strip().splitlines()
    assert lines and lines[0].startswith(("failed ", "error: ")), stderr
    assert "Traceback" not in stderr, stderr
    for page in pages:
        assert any(line.startswith(f"failed {page}: ") for line in lines), (page, stderr)


# ---------------------------------------------------------------------------------------------
# PostgreSQL stopped mid-batch (a throwaway server: the session's is shared by other tests)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_pg():
    """A private PostgreSQL server with the test demo rows, which the tests stop and start."""
    from demo_db import demo_rows
    from rfa.db import init_db
    from rfa.demo import load

    try:
        bindir = find_bindir()
    except PostgresNotInstalled as exc:
        if in_ci():
            pytest.fail(f"CI is set and PostgreSQL is required: {exc}", pytrace=False)
        pytest.skip(str(exc))
    server = PostgresServer(bindir=bindir).start()
    try:
        url = server.create_database("rfa_faults")
        init_db(url)
        load(url, demo_rows())
        yield server, url
    finally:
        server.stop()


def _pg_ctl(server: PostgresServer, action: str) -> None:
    args = [server.bindir / "pg_ctl", action, "-D", server.data_dir, "-w", "-t", "60"]
    if action == "stop":
        args += ["-m", "fast"]
    else:
        args += ["-l", server.log_file, "-o", f"-p {server.port}"]
    result = server._run(args)
    assert result.returncode == 0, f"pg_ctl {action}: {result.stdout}{result.stderr}"


def _start_publish(args, *, url, publish_dir, build_dir, env) -> tuple[subprocess.Popen, Path]:
    """Start ``rfa ARGS`` in the background; its stdout goes to a file (returned)."""
    out = build_dir.parent / f"{build_dir.name}.stdout"
    err = build_dir.parent / f"{build_dir.name}.stderr"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rfa.cli", *args],
        env={
            **os.environ,
            "RFA_DATABASE_URL": url,
            "RFA_PUBLISH_DIR": str(publish_dir),
            "RFA_BUILD_DIR": str(build_dir),
            "COLUMNS": "200",
            **env,
        },
        stdin=subprocess.DEVNULL,
        stdout=out.open("w"),
        stderr=err.open("w"),
        start_new_session=True,
    )
    return proc, out


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the publish ended (exit {proc.returncode}) before {what}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _loading_cell_started(build_dir: Path) -> bool:
    """Some page's kernel is running (or ran) the cell that loads the data: papermill saves
    the output notebook as each cell starts."""
    for executed in build_dir.rglob("page.ipynb"):
        try:
            cells = json.loads(executed.read_text())["cells"]
        except (OSError, ValueError, KeyError):
            continue
        for cell in cells:
            status = cell.get("metadata", {}).get("papermill", {}).get("status")
            if "dashboards." in "".join(cell.get("source", "")) and status in (
                "running",
                "completed",
            ):
                return True
    return False


def test_postgres_stopped_mid_batch_fails_each_page_clearly(tmp_path, own_pg, publish_dir, mark):
    server, url = own_pg
    before = published_files(publish_dir)
    build_dir = tmp_path / "build"
    proc, out = _start_publish(
        ["publish", *TWO_PAGES, "--workers", "2", "--force"],
        url=url,
        publish_dir=publish_dir,
        build_dir=build_dir,
        env=_env(mark),
    )
    try:
        _wait_for(lambda: list(build_dir.rglob("page.ipynb")), 120, "a page to execute", proc)
        _pg_ctl(server, "stop")  # and leave it down
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        _pg_ctl(server, "start")
    stdout, stderr = out.read_text(), out.with_suffix(".stderr").read_text()
    # every failure is the database's: exit 3 (database unavailable), not 1 (issue 16 §14)
    assert proc.returncode == 3, stdout + stderr
    events = page_events(stdout)
    assert {p: e["status"] for p, e in events.items()} == {TEAM: "failed", ESCALATIONS: "failed"}
    _assert_clear_failures(stderr, [TEAM, ESCALATIONS])
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: database unavailable: 2 pages failed"), stderr
    assert f"RFA_DB_RETRY_BUDGET_S={TIGHT_RETRY_BUDGET} s" in last
    for page in (TEAM, ESCALATIONS):
        cause = events[page]["error"]
        assert "DatabaseUnavailable: cannot connect to database" in cause, cause
        assert "127.0.0.1" in cause and "the server is running" in cause
    manifest = {r["page"]: r for r in json.loads((publish_dir / "manifest.json").read_text())}
    assert manifest[f"{TEAM}.html"]["status"] == "failed"
    _assert_clean(publish_dir, before, mark)


def test_postgres_restarting_mid_batch_is_retried(tmp_path, own_pg, publish_dir, mark):
    server, url = own_pg
    build_dir = tmp_path / "build"
    proc, out = _start_publish(
        ["publish", *TWO_PAGES, "--workers", "2", "--force"],
        url=url,
        publish_dir=publish_dir,
        build_dir=build_dir,
        # a budget of 30 s (the default is 90 s) outlasts the restart below (a few seconds)
        env={**_env(mark), "RFA_DB_RETRY_BUDGET_S": "30"},
    )
    try:
        _wait_for(lambda: list(build_dir.rglob("page.ipynb")), 120, "a page to execute", proc)
        _pg_ctl(server, "stop")
        # a kernel is now loading its data from a stopped server: let it fail at least once
        _wait_for(lambda: _loading_cell_started(build_dir), 120, "the data to load", proc)
        time.sleep(2.0)
        _pg_ctl(server, "start")
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        if not (server.data_dir / "postmaster.pid").exists():
            _pg_ctl(server, "start")
    stdout, stderr = out.read_text(), out.with_suffix(".stderr").read_text()
    assert proc.returncode == 0, stdout + stderr
    assert {p: e["status"] for p, e in page_events(stdout).items()} == {
        TEAM: "rendered",
        ESCALATIONS: "rendered",
    }
    assert not partial_files(publish_dir)
    assert not survivors(mark, ORPHAN_GRACE)


# ---------------------------------------------------------------------------------------------
# A kernel that dies, a renderer that fails
# ---------------------------------------------------------------------------------------------


def test_a_killed_kernel_fails_its_page_only(tmp_path, demo_sqlite_url, publish_dir, mark):
    before = published_files(publish_dir)
    notebooks = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, notebooks)
    path = notebooks / "escalations.ipynb"
    nb = json.loads(path.read_text())
    setup = next(i for i, c in enumerate(nb["cells"]) if "dashboards." in "".join(c["source"]))
    nb["cells"].insert(
        setup + 1,
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": ["import os, signal\n", "os.kill(os.getpid(), signal.SIGKILL)"],
        },
    )
    path.write_text(json.dumps(nb))
    result = run_rfa(
        ["publish", *TWO_PAGES, "--workers", "2", "--force"],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
        build_dir=tmp_path / "build",
        env=_env(mark, RFA_NOTEBOOK_DIR=str(notebooks)),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    events = page_events(result.stdout)
    assert events[TEAM]["status"] == "rendered"
    assert events[ESCALATIONS]["status"] == "failed"
    _assert_clear_failures(result.stderr, [ESCALATIONS])
    assert "kernel died in cell [" in events[ESCALATIONS]["error"], events[ESCALATIONS]
    _assert_clean(publish_dir, before, mark, changed=[TEAM])


def test_a_failing_renderer_fails_every_page_naming_its_message(
    tmp_path, demo_sqlite_url, publish_dir, mark
):
    before = published_files(publish_dir)
    index_before = (publish_dir / "index.html").read_bytes()
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "quarto").write_text(
        "#!/bin/sh\necho 'ERROR: quarto exploded on purpose (fault test)' >&2\nexit 1\n"
    )
    (fake / "quarto").chmod(0o755)
    result = run_rfa(
        ["publish", *TWO_PAGES, "--workers", "2", "--force", "--renderer", "quarto"],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
        build_dir=tmp_path / "build",
        env=_env(mark, PATH=f"{fake}{os.pathsep}{os.environ['PATH']}"),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    events = page_events(result.stdout)
    assert {p: e["status"] for p, e in events.items()} == {TEAM: "failed", ESCALATIONS: "failed"}
    _assert_clear_failures(result.stderr, [TEAM, ESCALATIONS])
    for line in result.stderr.splitlines():  # Quarto's own message, on the page's one line
        assert "quarto render of page.ipynb failed (exit 1)" in line, line
        assert "ERROR: quarto exploded on purpose (fault test)" in line, line
    assert (publish_dir / "index.html").read_bytes() != index_before  # marks them failed
    _assert_clean(publish_dir, before, mark)


def test_a_page_over_its_timeout_is_stopped_with_its_kernel(
    tmp_path, demo_sqlite_url, publish_dir, mark
):
    before = published_files(publish_dir)
    notebooks = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, notebooks)
    path = notebooks / "escalations.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"].append(
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": ["import time\n", "time.sleep(600)"],
        }
    )
    path.write_text(json.dumps(nb))
    args = ["publish", "-a", "kiwi-tech", "-d", "escalations", "--as-of", AS_OF, "--force"]
    result = run_rfa(
        [*args, "--timeout", "20"],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
        build_dir=tmp_path / "build",
        env=_env(mark, RFA_NOTEBOOK_DIR=str(notebooks)),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    _assert_clear_failures(result.stderr, [ESCALATIONS])
    assert "timed out after 20 s" in page_events(result.stdout)[ESCALATIONS]["error"]
    _assert_clean(publish_dir, before, mark)


# ---------------------------------------------------------------------------------------------
# The publish told to stop
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signalled_publish_stops_cleanly(tmp_path, demo_sqlite_url, publish_dir, mark, signum):
    """The signal goes to the CLI process only (not its group, as a service manager or an
    operator's ``kill`` would): it must stop its workers and their kernels itself."""
    before = published_files(publish_dir)
    build_dir = tmp_path / "build"
    proc, out = _start_publish(
        # every demo page (39), 2 at a time: most are still to render at the signal, even on
        # a loaded machine where pages finish in bunches (13 pages of one account were all
        # done before the signal once, with other jobs hogging both cores)
        ["publish", "--demo", "--as-of", AS_OF, "--workers", "2", "--force"],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
        build_dir=build_dir,
        env=_env(mark),
    )
    try:

        def kernels_running():
            return [
                p for p in marked_processes(mark) if "ipykernel_launcher" in " ".join(p.cmdline())
            ]

        _wait_for(lambda: page_events(out.read_text()), 240, "the first page", proc)
        _wait_for(kernels_running, 120, "kernels to run", proc)
        os.kill(proc.pid, signum)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    stdout, stderr = out.read_text(), out.with_suffix(".stderr").read_text()
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, stdout + stderr
    assert "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith(f"error: interrupted by {name}: "), stderr
    assert "pages not rendered" in stderr or "page not rendered" in stderr
    assert f"event=batch_interrupted signal={name}" in stdout, stdout
    rendered = [p for p, e in page_events(stdout).items() if e["status"] == "rendered"]
    assert rendered, stdout
    _assert_clean(publish_dir, before, mark, changed=rendered)
    # pages that did render are complete; the manifest lists exactly those as new
    after = published_files(publish_dir)
    for page in rendered:
        assert after[f"{page}.html"].rstrip().endswith(b"</html>")
        json.loads(after[f"{page}.json"])
    manifest = {
        r["page"].removesuffix(".html")
        for r in json.loads((publish_dir / "manifest.json").read_text())
    }
    assert set(rendered) | {TEAM, ESCALATIONS} == manifest
    # nothing half-published: every page file belongs to a page of the manifest
    assert {p.removesuffix(".html").removesuffix(".json") for p in after} <= manifest
