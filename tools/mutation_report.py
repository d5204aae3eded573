"""Mutation testing of the library with mutmut 3, one module group at a time (``make mutation``).

Usage::

    python tools/mutation_report.py [GROUP ...]      # default: every group in GROUPS
    python tools/mutation_report.py --report-only [GROUP ...]
    python tools/mutation_report.py --survivors [GROUP ...]   # after adding tests

For each group this

1. lays out a work folder ``build/mutation/work-<group>/``: ``src`` is a symbolic link to
   ``lib`` (so mutmut, which knows ``src/`` layouts, names the mutants ``rfa.window…`` as
   the tests import them), ``tests`` a link to ``tests``, copies of ``conftest.py`` and of
   ``pyproject.toml`` whose ``[tool.mutmut]`` section gets the group's files
   (``only_mutate``) and tests (``pytest_add_cli_args_test_selection``);
2. runs ``mutmut run --max-children 1`` there (mutmut copies the code into ``mutants/``
   of the work folder and never touches ``lib/``);
3. writes ``build/mutation/<group>.md`` and ``.json``: the score, every surviving mutant
   with file:line and its diff, and the survivors listed as equivalent in
   ``tools/mutation_equivalents.toml`` (mutant name → one-line reason);

and finally ``build/mutation/report.md`` with one line per group. The run is slow and not
part of ``make test``; ``make mutation`` runs it with ``nice -n 19``.

Score = killed (incl. timeouts) / (mutants − equivalents). "No tests" mutants (code no
selected test runs) count as survivors. Exit status 0, or 1 when a group's mutmut run
failed (its report then says so).
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "mutation"
EQUIVALENTS = ROOT / "tools" / "mutation_equivalents.toml"
FAST = "not slow and not postgres and not browser"

# group → (files under lib/ to mutate, fast test files that exercise them)
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "window": (
        ["rfa/window.py"],
        ["tests/test_window.py", "tests/test_mutation_kills_window.py"],
    ),
    "privacy": (
        ["rfa/metrics/privacy.py"],
        [
            # the unit tests only: the demo-database tests of test_privacy.py call
            # protect_flow too but take seconds per mutant
            "tests/test_privacy.py::test_enough_raters_shows_everything",
            "tests/test_privacy.py::test_too_few_raters_withholds_csat_comments_and_thumbs",
            "tests/test_privacy.py::test_k_must_be_positive",
            "tests/test_holes.py::test_a_step_with_only_null_thumbs_is_not_withheld_for_privacy",
            "tests/test_mutation_kills_privacy.py",
        ],
    ),
    "catalog": (
        ["rfa/catalog.py"],
        ["tests/test_holes.py", "tests/test_privacy.py"],
    ),
    # lib/rfa/metrics/, one group per module ("metrics" runs them all)
    "sessions": (
        ["rfa/metrics/sessions.py"],
        [
            "tests/test_metrics_sessions.py",
            "tests/test_holes.py",
            "tests/test_mutation_kills_metrics.py",
        ],
    ),
    "flow": (
        ["rfa/metrics/flow.py"],
        ["tests/test_metrics_flow.py", "tests/test_holes.py", "tests/test_mutation_kills_flow.py"],
    ),
    "kpi": (
        ["rfa/metrics/kpi.py"],
        ["tests/test_kpi.py", "tests/test_holes.py", "tests/test_mutation_kills_kpi.py"],
    ),
    "uncertainty": (
        ["rfa/metrics/uncertainty.py"],
        [
            "tests/test_uncertainty.py",
            "tests/test_mutation_kills_metrics.py",
            "tests/test_mutation_kills_uncertainty.py",
        ],
    ),
    "flowpilot": (
        ["rfa/metrics/flowpilot.py"],
        [
            "tests/test_metrics_flowpilot.py",
            "tests/test_holes.py",
            "tests/test_mutation_kills_flowpilot.py",
        ],
    ),
    "escalations": (
        ["rfa/metrics/escalations.py"],
        ["tests/test_metrics_escalations.py", "tests/test_mutation_kills_escalations.py"],
    ),
    "knowledge_gaps": (
        ["rfa/metrics/knowledge_gaps.py"],
        [
            "tests/test_metrics_knowledge_gaps.py",
            "tests/test_mutation_kills_knowledge_gaps.py",
        ],
    ),
    "present": (
        ["rfa/present.py", "rfa/labels.py"],
        [
            "tests/test_honest_pages.py",
            "tests/test_layout.py",
            "tests/test_kpi.py",
            "tests/test_holes.py",
            "tests/test_validation.py",
            "tests/test_mutation_kills_present.py",
        ],
    ),
}


ALIASES: dict[str, list[str]] = {
    "metrics": [
        "privacy",
        "sessions",
        "flow",
        "kpi",
        "uncertainty",
        "flowpilot",
        "escalations",
        "knowledge_gaps",
    ],
}
"""Names that stand for several groups (lib/rfa/metrics/models.py and __init__.py hold
no function: mutmut has nothing to mutate there)."""


PRELOAD = [
    # imported once by mutmut's fork server, before any test runs (nothing here starts
    # polars' thread pool), so a mutant's process starts with them loaded
    "pytest",
    "hypothesis",
    "numpy",
    "pandas",
    "polars",
    "pyarrow",
    "scipy.stats",
    "statsmodels.stats.proportion",
    "pydantic",
    "sqlalchemy",
    "slugify",
    "rfa.window",
    "rfa.catalog",
    "rfa.db",
    "rfa.demo",
    "rfa.metrics.kpi",
    "rfa.metrics.flowpilot",
    "rfa.metrics.knowledge_gaps",
    "rfa.metrics.escalations",
    "rfa.dashboards",
    "rfa.layout",
    "rfa.present",
    "rfa.publish.pipeline",
]


def _mutmut_section(files: list[str], tests: list[str]) -> str:
    """The ``[tool.mutmut]`` table of a group's work folder (JSON strings are TOML strings)."""
    base = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"].get("mutmut", {})
    conf = {
        **base,
        "source_paths": ["src"],
        "only_mutate": [f"src/{f}" for f in files],
        "pytest_add_cli_args_test_selection": [*tests, "-m", FAST],
    }
    lines = ["[tool.mutmut]"]
    for key, value in conf.items():
        lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def _without_mutmut(pyproject: str) -> str:
    """``pyproject.toml`` text without its ``[tool.mutmut]`` table."""
    return re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", pyproject)


def prepare(group: str, *, fresh: bool = True) -> Path:
    """Lay out (or refresh) the work folder of ``group``; return it. ``fresh``: drop the
    previous run's ``mutants/`` (its results) so every mutant is tested again."""
    files, tests = GROUPS[group]
    tests = [t for t in tests if (ROOT / t.partition("::")[0]).exists()]
    work = OUT / f"work-{group}"
    work.mkdir(parents=True, exist_ok=True)
    for name, target in (("src", ROOT / "lib"), ("tests", ROOT / "tests")):
        link = work / name
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(target, work))
    shutil.copy2(ROOT / "conftest.py", work / "conftest.py")
    (work / "preload.txt").write_text("\n".join(PRELOAD) + "\n", "utf-8")
    text = _without_mutmut((ROOT / "pyproject.toml").read_text("utf-8"))
    (work / "pyproject.toml").write_text(
        text.rstrip() + "\n\n" + _mutmut_section(files, tests), "utf-8"
    )
    if fresh:
        shutil.rmtree(work / "mutants", ignore_errors=True)
    return work


def survivors(group: str) -> list[str]:
    """Names of the mutants the last report of ``group`` lists as surviving."""
    path = OUT / f"{group}.json"
    if not path.exists():
        return []
    return [s["name"] for s in json.loads(path.read_text("utf-8"))["survivors"]]


def run(group: str, work: Path, names: list[str] | None = None) -> int:
    """``mutmut run`` in ``work``, one worker (only ``names`` when given); its output goes
    to ``<group>.log``."""
    log = OUT / f"{group}.log"
    # one polars thread: the run is niced on a shared machine and mutmut's CPU-time limit
    # would count the spinning of a whole thread pool
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "POLARS_MAX_THREADS": "1"}
    mutmut = Path(sys.executable).with_name("mutmut")
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.run(
            [str(mutmut), "run", "--max-children", "1", *(names or [])],
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    return proc.returncode


def _has_functions(group: str) -> bool:
    """Whether the group's files define a function or method (what mutmut mutates)."""
    for pattern in GROUPS[group][0]:
        for path in (ROOT / "lib").glob(pattern):
            if path.suffix == ".py" and _function_lines(path.read_text("utf-8")):
                return True
    return False


def _function_lines(source: str) -> dict[str, int]:
    """``{"f": line, "Class.method": line}`` of the first line (decorators included)."""
    lines: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                lines[prefix + child.name] = first
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")

    visit(ast.parse(source), "")
    return lines


def _where(name: str, diff: str, starts: dict[str, int]) -> int | None:
    """The source line a mutant changes: its function's first line + the diff's offset."""
    mangled = name.rpartition(".")[2].partition("__mutmut_")[0]
    if "ǁ" in mangled:
        _, cls, func = mangled.split("ǁ")[:3]
        key = f"{cls}.{func}"
    else:
        key = mangled.removeprefix("x_")
    start = starts.get(key)
    if start is None:
        return None
    old = 0
    for line in diff.splitlines():
        hunk = re.match(r"@@ -(\d+)", line)
        if hunk:
            old = int(hunk.group(1)) - 1
            continue
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("-"):
            return start + old
        if line.startswith("+"):
            return start + old
        old += 1
    return start


def collect(group: str, work: Path, earlier: dict[str, str] | None = None) -> dict:
    """Results of the last run in ``work``: counts, score and every survivor with its diff.
    ``earlier``: statuses of a previous full run, kept for the mutants this run did not
    test again (``--survivors``)."""
    sys.path.insert(0, str(work))
    cwd = os.getcwd()
    os.chdir(work)
    try:
        from mutmut.mutation.data import SourceFileMutationData
        from mutmut.mutation.diff_apply import get_diff_for_mutant
        from mutmut.stats import status_by_exit_code

        equivalents = {}
        if EQUIVALENTS.exists():
            equivalents = tomllib.loads(EQUIVALENTS.read_text("utf-8")).get("equivalent", {})
        counts: dict[str, int] = {}
        statuses: dict[str, str] = {}
        survivors, equivalent = [], []
        files, _ = GROUPS[group]
        paths = sorted(
            p.relative_to(work / "mutants")
            for f in files
            for p in (work / "mutants" / "src").glob(f)
            if p.suffix == ".py"
        )
        for path in paths:
            data = SourceFileMutationData(path=path)
            data.load()
            starts = _function_lines((ROOT / "lib" / path.relative_to("src")).read_text("utf-8"))
            for name, code in sorted(data.exit_code_by_key.items()):
                status = status_by_exit_code[code]
                if code is None and earlier and name in earlier:
                    status = earlier[name]
                statuses[name] = status
                if status in ("survived", "no tests") and name in equivalents:
                    status = "equivalent"
                counts[status] = counts.get(status, 0) + 1
                if status in ("survived", "no tests", "suspicious", "not checked", "equivalent"):
                    diff = get_diff_for_mutant(name, path=path)
                    line = _where(name, diff, starts)
                    entry = {
                        "name": name,
                        "status": status,
                        "where": f"lib/{path.relative_to('src')}:{line or '?'}",
                        "diff": diff,
                    }
                    if status == "equivalent":
                        entry["reason"] = equivalents[name]
                        equivalent.append(entry)
                    else:
                        survivors.append(entry)
    finally:
        os.chdir(cwd)
        sys.path.remove(str(work))
    total = sum(counts.values())
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    judged = total - counts.get("equivalent", 0)
    return {
        "group": group,
        "files": [f"lib/{f}" for f in GROUPS[group][0]],
        "tests": GROUPS[group][1],
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "counts": counts,
        "total": total,
        "killed": killed,
        "score": round(100 * killed / judged, 1) if judged else None,
        "survivors": survivors,
        "equivalent": equivalent,
        "statuses": statuses,
    }


def write_group(result: dict, returncode: int) -> None:
    """``<group>.json`` and a readable ``<group>.md``."""
    group = result["group"]
    (OUT / f"{group}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), "utf-8")
    score = "n/a" if result["score"] is None else f"{result['score']}%"
    md = [
        f"# Mutation testing: {group}",
        "",
        f"- date: {result['date']}",
        f"- files: {', '.join(result['files'])}",
        f'- tests: {" ".join(result["tests"])} (-m "{FAST}")',
        f"- mutmut exit status: {returncode}",
        f"- mutants: {result['total']}; "
        + ", ".join(f"{k}: {v}" for k, v in sorted(result["counts"].items())),
        f"- **score: {score}** killed of the mutants not listed as equivalent",
        "",
    ]
    if result["total"] == 0:
        md += ["No mutants: the files hold no function (data only), mutmut mutates functions.", ""]
    md += [f"## Surviving mutants ({len(result['survivors'])})", ""]
    for s in result["survivors"]:
        md += [f"### {s['where']} — {s['status']} — `{s['name']}`", "", "```diff", s["diff"]]
        md += ["```", ""]
    md += [f"## Equivalent mutants ({len(result['equivalent'])})", ""]
    for s in result["equivalent"]:
        md += [f"- {s['where']} `{s['name']}`: {s['reason']}"]
    (OUT / f"{group}.md").write_text("\n".join(md) + "\n", "utf-8")


def write_summary() -> None:
    """``report.md``: one line per group that has a result."""
    lines = ["# Mutation testing (mutmut): last result per group", ""]
    lines += ["| group | date | mutants | killed | survived | equivalent | score |"]
    lines += ["| --- | --- | --- | --- | --- | --- | --- |"]
    for group in GROUPS:
        path = OUT / f"{group}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text("utf-8"))
        lines.append(
            f"| [{group}]({group}.md) | {r['date']} | {r['total']} | {r['killed']} | "
            f"{len(r['survivors'])} | {len(r['equivalent'])} | "
            f"{'n/a' if r['score'] is None else str(r['score']) + '%'} |"
        )
    (OUT / "report.md").write_text("\n".join(lines) + "\n", "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "groups", nargs="*", help=f"groups to run (default: all; 'metrics' = {ALIASES['metrics']})"
    )
    parser.add_argument("--report-only", action="store_true", help="only rewrite the reports")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="test again only the mutants the last report lists as surviving (after new tests)",
    )
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in GROUPS and g not in ALIASES]
    if unknown:
        print(
            f"error: unknown mutation group {unknown[0]!r}; "
            f"accepted: {', '.join([*GROUPS, *ALIASES])}",
            file=sys.stderr,
        )
        return 2
    groups = [g for name in args.groups or list(GROUPS) for g in ALIASES.get(name, [name])]
    groups = list(dict.fromkeys(groups))
    OUT.mkdir(parents=True, exist_ok=True)
    failed = False
    for group in groups:
        work = OUT / f"work-{group}"
        code = 0
        earlier = None
        if args.report_only and (OUT / f"{group}.json").exists():
            # mutants a --survivors run did not test again have no result in mutants/
            earlier = json.loads((OUT / f"{group}.json").read_text("utf-8")).get("statuses")
        if args.survivors:
            names = survivors(group)
            previous = OUT / f"{group}.json"
            earlier = json.loads(previous.read_text("utf-8")).get("statuses") if names else None
            if names and (work / "mutants").exists():
                prepare(group, fresh=False)
                print(f"mutation: {group}: {len(names)} survivors again …", flush=True)
                code = run(group, work, names)
        elif not args.report_only:
            work = prepare(group)
            if _has_functions(group):
                print(f"mutation: {group} …", flush=True)
                code = run(group, work)
            else:  # mutmut stops with an error when it finds nothing to mutate
                (OUT / f"{group}.log").write_text("no function to mutate\n", "utf-8")
        result = collect(group, work, earlier)
        write_group(result, code)
        failed |= code != 0
        score = "n/a" if result["score"] is None else f"{result['score']}%"
        print(
            f"mutation: {group}: {result['killed']}/{result['total']} killed, "
            f"{len(result['survivors'])} surviving, {len(result['equivalent'])} equivalent, "
            f"score {score} → build/mutation/{group}.md"
        )
    write_summary()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
