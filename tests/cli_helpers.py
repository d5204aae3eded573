"""Run the ``rfa`` CLI in a subprocess with a chosen database and publish folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_rfa(
    args: list[str],
    *,
    url: str,
    publish_dir: Path,
    build_dir: Path | None = None,
    timeout: float = 900,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m rfa.cli ARGS`` with ``RFA_DATABASE_URL``/``RFA_PUBLISH_DIR`` set
    (and ``env`` added to the environment)."""
    env = {
        **os.environ,
        "RFA_DATABASE_URL": url,
        "RFA_PUBLISH_DIR": str(publish_dir),
        "RFA_BUILD_DIR": str(build_dir or publish_dir.parent / "build"),
        "COLUMNS": "200",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "rfa.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
