"""Find (and, after a failed test, stop) the processes a test's ``rfa publish`` started.

A test gives the CLI it runs a unique value of :data:`MARK_ENV` in its environment.
Every process the CLI starts carries it: pebble workers are forked (their environment
block is the CLI's), kernels and renderers are started with a copy of the environment.
So "no orphan" means: once the CLI has exited, no live process carries the mark.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import psutil

MARK_ENV = "RFA_TEST_PROCESS_MARK"


def new_mark() -> str:
    return uuid.uuid4().hex


def marked_processes(mark: str) -> list[psutil.Process]:
    """Live processes (not zombies, not this one) whose environment holds ``MARK_ENV=mark``."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.environ().get(MARK_ENV) == mark and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def describe(procs: list[psutil.Process]) -> list[str]:
    out = []
    for proc in procs:
        try:
            out.append(f"{proc.pid} {' '.join(proc.cmdline())[:160]}")
        except psutil.Error:
            out.append(f"{proc.pid} (gone)")
    return out


def survivors(mark: str, timeout: float = 10.0) -> list[str]:
    """Wait up to ``timeout`` seconds for every marked process to be gone; describe the rest."""
    deadline = time.monotonic() + timeout
    while True:
        left = marked_processes(mark)
        if not left or time.monotonic() > deadline:
            return describe(left)
        time.sleep(0.2)


def kill_marked(mark: str) -> None:
    """Clean-up after a failed test, so one failure does not slow down the next tests."""
    procs = marked_processes(mark)
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)


def published_files(publish_dir: Path) -> dict[str, bytes]:
    """Every published page and data file (not the manifest or the index): path → bytes."""
    return {
        p.relative_to(publish_dir).as_posix(): p.read_bytes()
        for p in sorted(publish_dir.rglob("*"))
        if p.is_file() and p.suffix in (".html", ".json") and p.parent != publish_dir
    }


def partial_files(publish_dir: Path) -> list[Path]:
    """Temporary or hidden files left in the publish directory (a half-finished write)."""
    return [
        p
        for p in publish_dir.rglob("*")
        if p.is_file()
        and (p.name.startswith(".") or p.name.endswith(".tmp"))
        and p.name != ".rfa-publish.lock"  # the publish lock (rfa.publish.site.LOCK_NAME)
    ]


def page_events(stdout: str) -> dict[str, dict[str, str]]:
    """page label → fields of its ``event=page`` log line (plain output, not a terminal)."""
    import shlex

    out = {}
    for line in stdout.splitlines():
        try:
            fields = dict(part.split("=", 1) for part in shlex.split(line) if "=" in part)
        except ValueError:
            continue
        if fields.get("event") == "page":
            out[fields["page"]] = fields
    return out
