"""The ``rfa`` command line (Typer): database set-up, demo data, listings and publishing.

Every user error ends with one line ``error: …`` naming what was wrong and what
is accepted, and a non-zero exit code (2 bad input, 3 database unavailable,
1 some pages failed); never a bare traceback. The database URL comes from
``RFA_DATABASE_URL`` (or ``--url`` for the set-up commands), never from a
notebook parameter.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rfa.catalog import DASHBOARDS
from rfa.errors import RFAError
from rfa.progress import Reporter

if TYPE_CHECKING:
    from rfa.publish.batch import BatchResult

# no_args_is_help stays off: `rfa` alone is a usage error like any other (one line, a
# hint, exit 2), not a help screen that exits 2 without saying what was wrong.
app = typer.Typer(
    add_completion=False,
    help="ResolutionFlow Analytics: build, query and publish the dashboards.",
)
db_app = typer.Typer(help="Source database set-up (demo and tests).")
app.add_typer(db_app, name="db")
err = Console(stderr=True)
out = Console()

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="SQLAlchemy URL; default: $RFA_DATABASE_URL or the demo database."),
]
AccountOption = Annotated[str, typer.Option("--account", "-a", help="Account slug or id.")]


class Executor(StrEnum):
    local = "local"
    dask = "dask"


class Renderer(StrEnum):
    auto = "auto"
    quarto = "quarto"
    nbconvert = "nbconvert"


DashboardName = StrEnum("DashboardName", {name: name for name in DASHBOARDS})


def _url(url: str | None) -> str:
    from rfa.config import get_settings

    return url or get_settings().database_url


@db_app.command("init")
def db_init(url: UrlOption = None) -> None:
    """Create the ResolutionFlow source tables (for the demo and tests)."""
    from rfa.db import init_db, mask_url

    init_db(_url(url))
    out.print(f"created the source tables in {mask_url(_url(url))}")


@app.command()
def demo(
    url: UrlOption = None,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 7,
    scale: Annotated[
        float,
        typer.Option(min=0.01, max=100.0, help="Session volume multiplier (1.0 = full size)."),
    ] = 1.0,
    as_of: Annotated[
        str | None,
        typer.Option(help="End of the demo history (ISO date, UTC); default: today 00:00 UTC."),
    ] = None,
) -> None:
    """Fill a database (tables already created) with the deterministic demo history."""
    from rfa.db import mask_url
    from rfa.demo import run_demo
    from rfa.window import parse_as_of

    anchor = parse_as_of(as_of) if as_of else None
    counts = run_demo(_url(url), seed=seed, scale=scale, anchor=anchor)
    total = ", ".join(f"{table} {n:,}" for table, n in counts.items())
    out.print(f"loaded demo data into {mask_url(_url(url))}: {total}")


def _listing(title: str, frame, columns: list[str]) -> None:
    # Names come from the database: escaped, so "[/x]" in a flow name is text, not markup.
    table = Table(title=escape(title))
    for column in columns:
        table.add_column(column)
    for row in frame.select(columns).iter_rows():
        table.add_row(*[escape(str(v)) for v in row])
    out.print(table)


@app.command()
def accounts() -> None:
    """List the accounts (slug, name, timezone)."""
    from rfa.publish.pipeline import accounts_frame

    _listing("Accounts", accounts_frame(), ["slug", "name", "timezone"])


@app.command()
def flows(account: AccountOption) -> None:
    """List an account's flows (id and name)."""
    from rfa.db import connect
    from rfa.queries.accounts import list_flows, resolve_account

    with connect() as conn:
        info = resolve_account(conn, account)
        _listing(f"Flows of {info.slug}", list_flows(conn, info.id), ["tree_id", "name"])


@app.command()
def engineers(account: AccountOption) -> None:
    """List an account's users (id, name, email, role)."""
    from rfa.db import connect
    from rfa.queries.accounts import list_users, resolve_account

    with connect() as conn:
        info = resolve_account(conn, account)
        _listing(
            f"Users of {info.slug}", list_users(conn, info.id), ["user_id", "name", "email", "role"]
        )


@app.command()
def publish(
    schedule: Annotated[
        list[Path] | None,
        typer.Option("--schedule", "-s", help="A team schedule YAML (repeatable)."),
    ] = None,
    all_schedules: Annotated[
        bool, typer.Option("--all-schedules", help="Every schedule in params/teams/.")
    ] = False,
    demo_: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Every account's default pages: account dashboards, 5 busiest flows, "
            "3 busiest engineers.",
        ),
    ] = False,
    account: Annotated[
        str | None, typer.Option("--account", "-a", help="Publish one account (slug or id).")
    ] = None,
    dashboard: Annotated[
        list[DashboardName] | None,
        typer.Option(
            "--dashboard", "-d", help="Dashboards to publish (repeatable); default: all of them."
        ),
    ] = None,
    flow: Annotated[
        list[str] | None,
        typer.Option("--flow", help="Flow id or exact name (repeatable); default: the 5 busiest."),
    ] = None,
    engineer: Annotated[
        list[str] | None,
        typer.Option(
            "--engineer", help="Engineer id, email or name (repeatable); default: the 3 busiest."
        ),
    ] = None,
    period: Annotated[str, typer.Option(help="7d, 30d, 90d or YYYY-MM-DD..YYYY-MM-DD.")] = "30d",
    as_of: Annotated[
        str | None, typer.Option(help="End of the window (ISO date/datetime, UTC); default: now.")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Pages rendered in parallel processes; default: cores.")
    ] = (os.cpu_count() or 1),
    renderer: Annotated[
        Renderer, typer.Option(help="quarto (needs `quarto` on PATH), nbconvert, or auto.")
    ] = Renderer.auto,
    force: Annotated[bool, typer.Option(help="Render even pages whose inputs are unchanged.")] = (
        False
    ),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would render and why; write nothing.")
    ] = False,
    executor: Annotated[
        Executor, typer.Option(help="local processes, or a Dask distributed cluster.")
    ] = Executor.local,
    scheduler_address: Annotated[
        str | None, typer.Option(help="Dask scheduler, e.g. tcp://10.0.0.5:8786.")
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1.0, help="Wall-clock seconds one page may take.")
    ] = 600.0,
) -> None:
    """Execute, render and publish dashboards into published/ with an index and manifest.

    Pages whose notebook, library, parameters and source data are unchanged since
    their last render are skipped (--force renders them anyway).
    """
    from rfa.db import connect
    from rfa.publish.batch import run_batch
    from rfa.publish.planning import plan_account_pages, plan_all_account_pages

    modes = [bool(schedule), all_schedules, demo_, account is not None]
    if sum(modes) != 1:
        raise RFAError(
            "pass exactly one of --schedule FILE, --all-schedules, --demo or --account SLUG"
        )
    _check_render_options(renderer, executor, scheduler_address)
    failures: list[tuple[str, str, str]] = []
    if schedule or all_schedules:
        from rfa.publish.schedule import load_schedules, plan_schedules, schedule_files

        schedules = load_schedules(schedule or schedule_files())
        with connect() as conn:
            jobs, not_planned = plan_schedules(conn, schedules)
        failures = [(f.page, f.label, f.message) for f in not_planned]
    else:
        with connect() as conn:
            if demo_:
                jobs, unplanned = plan_all_account_pages(conn, period=period, as_of=as_of)
            else:
                kinds = [d.value for d in dashboard] if dashboard else list(DASHBOARDS)
                jobs, unplanned = plan_account_pages(
                    conn,
                    account,
                    period=period,
                    as_of=as_of,
                    dashboards=kinds,
                    flows=flow or None,
                    engineers=engineer or None,
                    raise_bad_account=True,  # nothing asked for can be published: exit 2
                )
        failures = [(u.page, u.label, u.message) for u in unplanned]
    if not jobs and not failures:
        raise RFAError(
            "nothing to publish: no sessions in the window for the default scopes; "
            "pass --flow/--engineer or another --period/--as-of"
        )
    reporter = Reporter(out)
    result = run_batch(
        jobs,
        plan_failures=failures,
        workers=workers,
        renderer=renderer.value,
        force=force,
        dry_run=dry_run,
        executor=executor.value,
        scheduler_address=scheduler_address,
        timeout=timeout,
        on_start=reporter.start,
        on_outcome=reporter.outcome,
    )
    reporter.finish(result, dry_run=dry_run)
    if result.interrupted:
        left = len(result.not_rendered)
        err.print(
            f"[bold red]error:[/bold red] interrupted by {result.interrupted}: "
            f"{left} page{'' if left == 1 else 's'} not rendered (they keep their previous "
            "version); workers and kernels stopped, no partial file left",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(128 + (result.signal or 0))
    if not result.ok:
        raise typer.Exit(_failure_code(result))


def _check_render_options(
    renderer: Renderer, executor: Executor, scheduler_address: str | None
) -> None:
    """Refuse, before any work, a renderer or executor this machine cannot use."""
    if renderer is Renderer.quarto:
        from rfa.publish.render import quarto_available

        if quarto_available() is None:
            raise RFAError(
                "--renderer quarto needs the `quarto` command on PATH, and there is none; "
                "accepted: install Quarto and put it on PATH, --renderer nbconvert, or "
                "--renderer auto (Quarto when it is installed, nbconvert otherwise)"
            )
    if executor is Executor.dask and not scheduler_address:
        raise RFAError(
            "--executor dask needs --scheduler-address; accepted: tcp://HOST:PORT of a "
            "running Dask scheduler, or --executor local"
        )


def _failure_code(result: BatchResult) -> int:
    """Exit code of a run with failed pages: 3 when every failure is a database outage
    (the database stayed unreachable for the whole retry budget; printed as one
    ``error:`` line), 1 otherwise."""
    from rfa.config import get_settings
    from rfa.errors import is_database_outage

    failed = [o for o in result.outcomes if o.status == "failed"]
    if failed and all(is_database_outage(o.error, o.label) for o in failed):
        budget = get_settings().db_retry_budget_s
        n = len(failed)
        err.print(
            f"[bold red]error:[/bold red] database unavailable: {n} page"
            f"{'' if n == 1 else 's'} failed because the database could not be reached "
            f"within the retry budget (RFA_DB_RETRY_BUDGET_S={budget:g} s); they keep "
            "their previous version",
            highlight=False,
            soft_wrap=True,
        )
        return 3
    return 1


def _command_path(args: list[str]) -> str:
    """``rfa`` and the (sub)commands named in ``args`` (``rfa db init``), for a hint when
    the error carries no context."""
    import typer.main

    command, path = typer.main.get_command(app), ["rfa"]
    for arg in args:
        commands = getattr(command, "commands", None)
        if not commands or arg not in commands:
            break
        command, path = commands[arg], [*path, arg]
    return " ".join(path)


def _usage_error(exc: Exception, args: list[str]) -> None:
    """Print a usage error (Click's or Typer's own copy of Click) as one ``error:`` line
    and one ``hint:`` line, and exit 2 (bad input)."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" or str(exc).strip() == "Missing command.":
        accepted = ", ".join(ctx.command.list_commands(ctx)) if ctx is not None else "see --help"
        message = f"missing command; accepted: {accepted}"
    else:
        message = " ".join(exc.format_message().split()).removesuffix(".")
        message = message.replace(": Value error, ", ": ")
    message = message[:1].lower() + message[1:]
    path = ctx.command_path if ctx is not None else _command_path(args)
    err.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True)
    err.print(
        f"hint: run '{escape(path)} --help' for the accepted commands and options",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    sys.exit(2)


def main(args: list[str] | None = None) -> None:
    """Entry point: run the Typer app (``args``, default ``sys.argv[1:]``).

    Every error a user can cause ends in one ``error: …`` line and an exit code, never a
    traceback: :class:`RFAError` with its own code (2 bad input, 3 database unavailable);
    a usage error of any command (unknown command or option, missing or invalid value;
    Click's exceptions, or the copy of Click that Typer vendors) with a ``hint:`` line
    and exit 2.
    """
    import click

    args = sys.argv[1:] if args is None else list(args)
    try:
        code = app(args=args, prog_name="rfa", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except RFAError as exc:
        # The message quotes user input and database names: never read as Rich markup.
        message = escape(str(exc))
        err.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except (typer.TyperException, click.ClickException) as exc:
        # the installed Typer raises its own copy of Click's exceptions (not click's)
        _usage_error(exc, args)


if __name__ == "__main__":
    main()
