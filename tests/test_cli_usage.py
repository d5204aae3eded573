"""Usage errors of every ``rfa`` command: one ``error:`` line, one ``hint:`` line, exit 2.

The installed Typer vendors its own copy of Click, so its usage errors
(``NoArgsIsHelpError``, ``MissingParameter``, ``NoSuchOption``, ``BadParameter`` …) are not
``click.ClickException``s: once they escaped ``rfa.cli.main`` as a 60-line Rich traceback
with exit 1, the code the README reserves for "some pages failed" (issue 19).

The walk covers the whole command tree as the app defines it (a new command or option is
covered without editing this file): for every group, no command and an unknown command;
for every command, an unknown option, an unexpected argument, a missing required option,
an option without its value, and values an option's type or limits refuse. The walk runs
in-process (fast); a few of the issue's own commands also run as a real ``rfa`` process.
A dry run says what *would* render.
"""

from __future__ import annotations

import enum
import typing

import pytest
from typer.main import get_command

from cli_helpers import run_rfa
from demo_db import ANCHOR
from rfa import cli

AS_OF = ANCHOR.date().isoformat()


def _commands(command=None, path=()):
    """``(path, command)`` of every group and command of the ``rfa`` app."""
    command = command or get_command(cli.app)
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _commands(sub, (*path, name))


def _bad_values(option) -> list[str]:
    """Values the option's type or limits refuse (none for free text)."""
    descriptor = getattr(option, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    for arg in typing.get_args(annotation) or ():  # list[X] | None → X
        if arg is not type(None):
            annotation = typing.get_args(arg)[0] if typing.get_args(arg) else arg
    bad: list[str] = []
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        bad.append("bogus")
    elif annotation in (int, float):
        bad.append("not-a-number")
        low = getattr(option, "min", None)
        if low is not None:
            bad.append(str(low - 1))
        high = getattr(option, "max", None)
        if high is not None:
            bad.append(str(high + 1))
    return bad


def _usage_cases() -> list[tuple[str, list[str]]]:
    cases: list[tuple[str, list[str]]] = []
    for path, command in _commands():
        base = list(path)
        name = " ".join(["rfa", *path])
        if getattr(command, "commands", None):
            cases += [
                (f"{name}: no command", base),
                (f"{name}: unknown command", [*base, "publsh"]),
                (f"{name}: unknown option", [*base, "--bogus"]),
            ]
            continue
        options = [p for p in command.params if getattr(p, "opts", None) and p.expose_value]
        required = [p for p in options if p.required]
        given = [arg for p in required for arg in (p.opts[0], "x")]  # satisfy the rest
        cases += [
            (f"{name}: unknown option", [*base, *given, "--bogus"]),
            (f"{name}: unexpected argument", [*base, *given, "surplus"]),
        ]
        for option in required:
            others = [a for p in required if p is not option for a in (p.opts[0], "x")]
            cases.append((f"{name}: missing {option.opts[0]}", [*base, *others]))
        for option in options:
            if option.is_flag or option.opts[0] == "--help":
                continue
            cases.append((f"{name}: {option.opts[0]} without a value", [*base, option.opts[0]]))
            for value in _bad_values(option):
                args = [*base, *given, option.opts[0], value]
                cases.append((f"{name}: {option.opts[0]} {value}", args))
    return cases


CASES = _usage_cases()


def test_the_walk_covers_every_command():
    walked = {case.split(":")[0] for case, _ in CASES}
    expected = {" ".join(["rfa", *path]) for path, _ in _commands()}
    assert walked == expected
    assert {"rfa", "rfa db", "rfa db init", "rfa publish", "rfa flows"} <= walked
    # the issue's own examples are among the cases
    described = {case for case, _ in CASES}
    assert {
        "rfa: no command",
        "rfa: unknown command",
        "rfa flows: missing --account",
        "rfa publish: --dashboard bogus",
        "rfa publish: --workers 0",
        "rfa publish: --timeout 0.0",
    } <= described


@pytest.mark.parametrize(("case", "args"), CASES, ids=[c for c, _ in CASES])
def test_every_usage_error_is_one_line_and_a_hint(case, args, capsys, monkeypatch, tmp_path):
    # a command that parsed by mistake must not touch any real database or folder
    monkeypatch.setenv("RFA_DATABASE_URL", f"sqlite:///{tmp_path}/absent.sqlite")
    monkeypatch.setenv("RFA_PUBLISH_DIR", str(tmp_path / "published"))
    monkeypatch.setenv("RFA_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exited:
        cli.main(args)
    out, err = capsys.readouterr()
    assert exited.value.code == 2, (case, out, err)
    assert "Traceback" not in out + err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 2, (case, err)
    assert lines[0].startswith("error: "), err
    assert lines[1].startswith("hint: run 'rfa") and lines[1].endswith(
        "--help' for the accepted commands and options"
    ), err
    assert not out.strip(), out  # no help screen instead of the error


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        ([], ["error: missing command; accepted:", "publish", "hint: run 'rfa --help'"]),
        (["flows"], ["error: missing option '--account'", "hint: run 'rfa flows --help'"]),
        (["publsh"], ["error: no such command 'publsh'", "Did you mean 'publish'?"]),
        (["publish", "-d", "bogus"], ["'bogus' is not one of 'team'", "rfa publish --help"]),
        (["db"], ["error: missing command; accepted: init"]),
    ],
    ids=["rfa", "rfa flows", "rfa publsh", "rfa publish -d bogus", "rfa db"],
)
def test_the_issues_examples_as_real_commands(args, needles, tmp_path):
    result = run_rfa(
        args, url=f"sqlite:///{tmp_path}/absent.sqlite", publish_dir=tmp_path / "published"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert not result.stdout.strip()


def test_help_still_exits_0(capsys):
    try:
        cli.main(["publish", "--help"])
    except SystemExit as exited:
        assert exited.code in (0, None)
    assert "--dry-run" in capsys.readouterr().out


def test_a_dry_run_says_what_would_render(demo_sqlite_url, tmp_path):
    publish_dir = tmp_path / "published"
    result = run_rfa(
        ["publish", "-a", "kiwi-tech", "-d", "escalations", "--as-of", AS_OF, "--dry-run"],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pages = [line for line in result.stdout.splitlines() if "event=page " in line]
    assert len(pages) == 1 and "status=would-render" in pages[0], result.stdout
    assert "reason=" in pages[0]
    done = next(line for line in result.stdout.splitlines() if "event=batch_done" in line)
    assert "would_render=1" in done and "dry_run=True" in done, done
    assert "rendered=" not in done and "status=rendered" not in result.stdout
    written = [p for p in publish_dir.rglob("*") if p.is_file()] if publish_dir.exists() else []
    assert not written, written
