"""Batch progress for people and for schedulers.

On a terminal: a rich progress bar while pages render, then a summary table.
Elsewhere (cron, systemd, CI): one plain ``key=value`` log line per page and a
closing summary line, easy to grep and to ship to a log system.
"""

from __future__ import annotations

import datetime as dt

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rfa.config import get_settings


def _logfmt(**fields: object) -> str:
    parts = []
    for key, value in fields.items():
        text = "" if value is None else str(value)
        if not text:
            continue
        if any(c in text for c in ' "='):
            text = '"' + text.replace('"', "'") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


class Reporter:
    """Receives :func:`rfa.publish.batch.run_batch` callbacks and reports them."""

    def __init__(self, console: Console):
        self.console = console
        self.tty = console.is_terminal
        self.progress: Progress | None = None
        self.task = None

    def _line(self, **fields: object) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.console.print(
            _logfmt(ts=stamp, **fields), soft_wrap=True, highlight=False, markup=False
        )

    def start(self, total: int) -> None:
        """``total`` pages are about to render."""
        if self.tty and total:
            self.progress = Progress(
                TextColumn("rendering"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task("pages", total=total)
        elif not self.tty:
            self._line(event="batch_start", pages=total)

    def outcome(self, outcome) -> None:
        """One page finished (or was skipped, or could not be planned)."""
        if (
            self.progress is not None
            and outcome.status != "skipped"
            and outcome.reason != "not planned"
        ):
            self.progress.advance(self.task)
        if not self.tty:
            error = (outcome.error or "").splitlines()[0] if outcome.error else None
            phases = getattr(outcome, "phases", None) or {}
            self._line(
                event="page",
                page=outcome.label,
                status=outcome.status,
                reason=outcome.reason,
                seconds=outcome.seconds or None,
                **{f"{name}_s": f"{seconds:.2f}" for name, seconds in phases.items()},
                error=error,
            )

    def finish(self, result, *, dry_run: bool = False) -> None:
        """Print the summary: a table on a terminal, a line otherwise."""
        if self.progress is not None:
            self.progress.stop()
        index = get_settings().publish_dir / "index.html"
        # a dry run renders nothing: it counts what would render, never "rendered"
        first = ("would-render", "would_render") if dry_run else ("rendered", "rendered")
        counts = {first[1]: result.count(first[0])}
        counts.update({s: result.count(s) for s in ("skipped", "failed")})
        interrupted = getattr(result, "interrupted", None)
        not_rendered = len(getattr(result, "not_rendered", ()))
        if not self.tty:
            if interrupted:
                self._line(event="batch_interrupted", signal=interrupted, not_rendered=not_rendered)
            self._line(
                event="batch_done",
                dry_run=dry_run,
                index=index,
                **counts,
                interrupted=interrupted,
                not_rendered=not_rendered if interrupted else None,
            )
        else:
            table = Table(title="Would render" if dry_run else "Publish summary")
            for column in ("page", "status", "reason", "seconds", "error"):
                table.add_column(column, overflow="fold")
            styles = {
                "rendered": "green",
                "would-render": "cyan",
                "skipped": "dim",
                "failed": "bold red",
            }
            for o in result.outcomes:
                error = (o.error or "").splitlines()[0] if o.error else ""
                error = error.removeprefix(f"{o.label}: ")
                table.add_row(  # labels and errors quote names: escaped, never markup
                    escape(o.label),
                    f"[{styles[o.status]}]{o.status}[/]",
                    escape(o.reason),
                    f"{o.seconds:.1f}" if o.seconds else "",
                    escape(error),
                )
            self.console.print(table)
            verb = "would render" if dry_run else "rendered"
            stopped = f", {not_rendered} not rendered ({interrupted})" if interrupted else ""
            self.console.print(
                f"{counts[first[1]]} {verb}, {counts['skipped']} skipped (unchanged), "
                f"{counts['failed']} failed{stopped}; index: {index}",
                soft_wrap=True,
                highlight=False,
            )
        for o in result.outcomes:
            if o.status == "failed":
                first = (o.error or "").splitlines()[0] if o.error else "failed"
                first = first.removeprefix(f"{o.label}: ")  # the label is printed already
                Console(stderr=True).print(
                    f"failed {o.label}: {first}", soft_wrap=True, highlight=False, markup=False
                )
