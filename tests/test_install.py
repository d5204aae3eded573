"""The install split: what each `make` target installs, and what the library may import.

* ``make setup`` / ``make publish`` install the package with its runtime dependencies
  only (``pip install -e .``) and register the Jupyter kernel; ``make test`` (and
  ``setup-dev``, ``lint``, ``bench``) add the ``dev`` extra; ``make lab`` adds the ``lab``
  extra (JupyterLab) and starts it with the project kernel — read from ``make -n`` (what
  make would run), not from the Makefile's text.
* The library (``lib/rfa``) and the notebooks import only packages the runtime
  dependencies bring (directly or through their own dependencies), so the main job runs
  without the dev tools.
* ``environment.yml`` (conda users) lists every runtime dependency and the ``lab`` extra,
  and none of the dev tools.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
RUNTIME = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
EXTRAS = {
    name: [Requirement(r) for r in reqs]
    for name, reqs in PYPROJECT["project"]["optional-dependencies"].items()
}
KERNEL = "resolutionflow-analytics"

CONDA_NAMES = {"tzdata": "python-tzdata", "pandera": "pandera-polars"}
"""PyPI name → conda-forge name where they differ (``pandera[polars]`` is conda-forge's
``pandera-polars``; PyPI's ``tzdata`` is ``python-tzdata`` there)."""


def make_dry_run(target: str, tmp_path: Path, makefile: Path = ROOT / "Makefile") -> str:
    """The commands ``make TARGET`` would run from nothing (``-n -B``), with the virtual
    environment in ``tmp_path`` (nothing is run or written)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "-f", str(makefile), "-n", "-B", target, f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _pip_installs(commands: str) -> list[str]:
    return re.findall(r"pip install (?:--upgrade pip|-e (\S+))", commands)


def test_setup_and_publish_install_the_runtime_only(tmp_path: Path) -> None:
    for target in ("setup", "publish", "demo"):
        commands = make_dry_run(target, tmp_path)
        assert [i for i in _pip_installs(commands) if i] == ["."], (target, commands)
        assert f"ipykernel install --sys-prefix --name {KERNEL}" in commands, target
    assert "rfa publish --all-schedules" in make_dry_run("publish", tmp_path)


def test_make_test_adds_the_dev_extra(tmp_path: Path) -> None:
    for target in ("test", "test-fast", "setup-dev", "lint", "bench"):
        commands = make_dry_run(target, tmp_path)
        assert [i for i in _pip_installs(commands) if i] == [".", "'.[dev]'"], (target, commands)
    assert "-m pytest" in make_dry_run("test", tmp_path)


def test_make_lab_installs_jupyterlab_and_starts_it_with_the_project_kernel(
    tmp_path: Path,
) -> None:
    commands = make_dry_run("lab", tmp_path)
    assert [i for i in _pip_installs(commands) if i] == [".", "'.[lab]'"], commands
    assert f"ipykernel install --sys-prefix --name {KERNEL}" in commands
    assert re.search(rf"/jupyter lab .*default_kernel_name={KERNEL}", commands.replace("\\\n", ""))
    assert any(canonicalize_name(r.name) == "jupyterlab" for r in EXTRAS["lab"])


def test_dev_tools_are_not_runtime_dependencies() -> None:
    runtime = {canonicalize_name(r.name) for r in RUNTIME}
    for tool in ("pytest", "hypothesis", "playwright", "ruff", "pyinstrument", "nbval"):
        assert tool not in runtime
        assert any(canonicalize_name(r.name) == tool for r in EXTRAS["dev"]), tool


# ------------------------------------------------------------- what may be imported


def _runtime_closure() -> set[str]:
    """Canonical names of the installed distributions the runtime dependencies bring,
    their own dependencies included (markers evaluated for this interpreter)."""
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in RUNTIME]
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        seen.add(name)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            sub = Requirement(text)
            envs = [{"extra": ""}, *({"extra": e} for e in extras)]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in envs):
                todo.append((sub, frozenset(sub.extras)))
    return {s for s in seen if "[" not in s}


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = [
        line
        for cell in cells
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if not line.lstrip().startswith(("%", "!"))
    ]
    return "\n".join(lines)


def third_party_imports() -> dict[str, set[str]]:
    """Top-level modules the library and the notebooks import that are neither the
    standard library nor ``rfa``: module → files importing it."""
    found: dict[str, set[str]] = {}
    sources = [(p, p.read_text(encoding="utf-8")) for p in (ROOT / "lib" / "rfa").rglob("*.py")]
    sources += [(p, _notebook_code(p)) for p in (ROOT / "notebooks").glob("*.ipynb")]
    for path, code in sources:
        for module in _imports(ast.parse(code)):
            if module not in sys.stdlib_module_names and module != "rfa":
                found.setdefault(module, set()).add(path.relative_to(ROOT).as_posix())
    return found


def test_the_library_and_notebooks_import_only_what_the_runtime_installs() -> None:
    closure = _runtime_closure()
    dists = metadata.packages_distributions()
    outside = {
        module: sorted(files)
        for module, files in third_party_imports().items()
        if not any(canonicalize_name(d) in closure for d in dists.get(module, []))
    }
    assert not outside, f"imported but not brought by [project] dependencies: {outside}"


# ----------------------------------------------------------------- conda users


def conda_problems(environment: Path) -> list[str]:
    """What ``environment`` (a conda environment file) lacks of the runtime dependencies
    and the ``lab`` extra, and which dev tools it lists."""
    env = yaml.safe_load(environment.read_text(encoding="utf-8"))
    listed = {
        canonicalize_name(re.split(r"[<>=!~ \[]", dep, maxsplit=1)[0])
        for dep in env["dependencies"]
        if isinstance(dep, str)
    }
    pip = next((d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d), [])
    problems = []
    for req in [*RUNTIME, *EXTRAS["lab"]]:
        name = canonicalize_name(CONDA_NAMES.get(req.name, req.name))
        if name not in listed:
            problems.append(f"missing {req} (conda: {name})")
    for req in EXTRAS["dev"]:
        if canonicalize_name(req.name) in listed:
            problems.append(f"dev tool {req.name} listed (dev tools: pip install -e '.[dev]')")
    if "-e .[lab]" not in pip:
        problems.append(f"pip section {pip} does not install -e .[lab]")
    return problems


def test_environment_yml_mirrors_the_runtime_and_the_lab_extra() -> None:
    assert not conda_problems(ROOT / "environment.yml")
