"""Render an executed dashboard notebook to ONE self-contained HTML page.

Two renderers, one contract (``render`` below): the notebook was already executed
by papermill; rendering never executes code; the page loads nothing from the
network; the page appears at ``out_html`` only when rendering succeeded (it is
written beside ``out_html`` under a temporary name and renamed into place).

* **Quarto** (preferred, when ``quarto`` is on ``PATH``): the executed notebook is
  prepared (:func:`quarto_notebook`: ``#|`` options checked, the title written into
  the front matter as a Markdown literal, the front matter as a list of lines, every
  ``text/html`` output turned into a pandoc raw HTML block so Quarto adds no
  require.js/jQuery from a CDN) and rendered with ``quarto render <copy>
  --no-execute --output <file>``; many pages at once with one project render
  (:func:`render_quarto_project`). The notebook's front matter drives the format
  (``format: dashboard``, ``theme: default``, ``embed-resources: true``,
  ``html-math-method: plain``), so no ``--to`` is passed. Quarto's ``--output`` takes
  a file *name* only, so Quarto writes beside the notebook, in its own build
  directory, and the result is then written into place atomically.

* **nbconvert** (documented fallback when Quarto is not installed): nbconvert's
  ``HTMLExporter`` with the packaged ``rfa_dashboard`` template (extends the
  built-in ``lab`` template, replaces its ``<head>`` so nothing is loaded from a
  CDN: no require.js, MathJax, mermaid or widget manager) and
  :class:`DashboardPreprocessor`, which turns the Quarto dashboard conventions
  (front matter, ``## Row`` / ``## Column`` / ``# Page`` headings, ``#|`` cell
  options, value boxes) into a clean static page of KPI cards and titled cards.

After either renderer, :func:`harden_page` checks and hardens the page: a page that
would load anything from the network is a failed page (its last good version stays);
Quarto's duplicate colour-scheme stylesheets are dropped; a Content-Security-Policy
``<meta>`` (nothing from the network; scripts only the page's own inline scripts, by
hash) becomes the first element of ``<head>``. ``#|`` options have ONE parser for both
renderers (:func:`split_cell_options`): invalid YAML fails the page, naming the cell.
"""

from __future__ import annotations

import ast
import base64
import copy
import hashlib
import html
import html.parser
import importlib.resources
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

import nbformat
import yaml
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Unicode

from rfa.errors import RFAError
from rfa.publish.site import atomic_write_text

log = logging.getLogger(__name__)

Renderer = Literal["auto", "quarto", "nbconvert"]
"""Which renderer :func:`render` should use (``auto``: Quarto when on PATH, else nbconvert)."""

TEMPLATE_NAME = "rfa_dashboard"
"""The packaged nbconvert template directory under ``rfa/templates/``."""

QUARTO_TIMEOUT_S = 900
"""Seconds one ``quarto render`` may take before it is stopped."""

_STDERR_TAIL_LINES = 25


class RenderError(RFAError):
    """A page could not be rendered; the message says why (Quarto's last lines included)."""

    exit_code = 4


# ---------------------------------------------------------------------------------------------
# Quarto
# ---------------------------------------------------------------------------------------------


def quarto_available() -> str | None:
    """Return the path of the ``quarto`` executable on ``PATH``, or ``None`` if there is none."""
    return shutil.which("quarto")


def _yaml_string(value: str) -> str:
    """``value`` as a YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(str(value), ensure_ascii=False)


def quarto_output_name(notebook: Path) -> str:
    """The file name :func:`render_quarto` asks Quarto to write beside ``notebook``.

    Distinct from any published name so a half-written Quarto output never sits
    where a page is served from.
    """
    return f"{Path(notebook).stem}.rfa-quarto.html"


def quarto_command(
    notebook: Path,
    output_file: str,
    title: str | None = None,
    metadata: dict[str, str] | None = None,
    quarto: str = "quarto",
) -> list[str]:
    """Build the ``quarto render`` command line for an already executed notebook.

    Args:
        notebook: the executed ``.ipynb`` (its raw front-matter cell selects
            ``format: dashboard`` with ``embed-resources: true``).
        output_file: a bare file name (Quarto rejects ``--output`` values with a
            directory); Quarto writes it beside ``notebook``.
        title: page title, passed as ``-M title:"…"`` (overrides the front matter).
        metadata: further ``-M key:value`` pairs, in the given order.
        quarto: the executable to run.

    Returns:
        ``[quarto, "render", notebook, "--no-execute", "--output", output_file,
        "-M", 'title:"…"', …]``: never ``--execute``, never ``--to``. Each value is
        one argument (no shell is involved) and is JSON/YAML-quoted because Quarto
        parses ``-M`` values as YAML.

    Raises:
        RenderError: ``output_file`` contains a directory part, or a metadata key
            is empty or contains ``:`` or ``=``.
    """
    if not output_file or output_file != Path(output_file).name or "\\" in output_file:
        raise RenderError(
            f"quarto --output takes a file name without a directory, got {output_file!r}"
        )
    cmd = [quarto, "render", str(notebook), "--no-execute", "--output", output_file]
    pairs: list[tuple[str, str]] = []
    if title is not None:
        pairs.append(("title", markdown_literal(title)))
    pairs.extend((metadata or {}).items())
    for key, value in pairs:
        if not key or ":" in key or "=" in key or key.strip() != key:
            raise RenderError(f"invalid Quarto metadata key {key!r}: no ':', '=' or spaces")
        cmd += ["-M", f"{key}:{_yaml_string(value)}"]
    return cmd


_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
"""ANSI escape sequences (CSI colour codes and two-byte escapes): ECMA-48."""


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences (Quarto colours its messages)."""
    return _ANSI.sub("", text)


def _tail(text: str, lines: int = _STDERR_TAIL_LINES) -> str:
    kept = [line for line in strip_ansi(text).strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def _quarto_env() -> dict[str, str]:
    """The environment of a ``quarto`` process: ours, ``QUARTO_PYTHON`` defaulting to this
    interpreter, and ``NO_COLOR`` (deno's colour switch) so messages come without ANSI."""
    env = dict(os.environ)
    env.setdefault("QUARTO_PYTHON", sys.executable)
    env["NO_COLOR"] = "1"
    return env


def _run_quarto(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run a ``quarto`` command in ``cwd`` (no stdin, output captured as text, its Python
    the one running this code unless ``QUARTO_PYTHON`` says otherwise). Raises
    ``subprocess.TimeoutExpired`` after ``timeout`` seconds and ``OSError``."""
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=_quarto_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )


_QUARTO_DROPPED_MIMES = (
    "application/javascript",
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
)


def _raw_html_block(html_text: str) -> str:
    """``html_text`` as a pandoc raw HTML block, fenced with more backticks than it holds."""
    longest = max((len(run) for run in re.findall(r"`+", html_text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{{=html}}\n{html_text}\n{fence}"


_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def markdown_literal(text: str) -> str:
    """``text`` as pandoc Markdown that reads back as exactly ``text``: every ASCII
    punctuation character backslash-escaped (pandoc's ``all_symbols_escapable``).

    Quarto parses the ``title`` metadata as Markdown, so an account or flow name holding
    ``<img onerror=…>`` or ``[x](javascript:…)`` would otherwise reach the page as raw
    HTML or a live link (stored XSS, issue 16 §1); escaped, pandoc writes it as text."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", str(text))


def _front_matter_cell(front: dict[str, Any]) -> dict[str, Any]:
    """A raw front-matter cell whose source is a LIST of lines (``"---\\n"``, …): Quarto
    reads a notebook's raw cell as front matter only in that form; one string is shown
    as body text in a project render."""
    dumped = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=1000)
    text = f"---\n{dumped}---\n"
    return {"cell_type": "raw", "metadata": {}, "source": text.splitlines(keepends=True)}


def quarto_notebook(nb: dict[str, Any], title: str | None) -> dict[str, Any]:
    """Prepare an executed notebook (nbformat JSON as a dict) for ``quarto render``.

    Pure (``nb`` is not modified). Rules:

    * every code cell's ``#|`` options are parsed by :func:`split_cell_options` (the
      parser the nbconvert renderer uses), so invalid YAML fails here, naming the cell;
    * with ``title``, the raw front-matter cell gets ``title`` (a YAML dump: any title
      stays one plain string); without a front-matter cell one is added; the cell is
      written as a list of lines (:func:`_front_matter_cell`);
    * every ``text/html`` output becomes a ``text/markdown`` output holding a pandoc raw
      HTML block (the page shows the same HTML); ``application/javascript`` and Jupyter
      widget outputs and the notebook's widget state are dropped. Quarto adds require.js
      and jQuery from a CDN to any notebook with a ``text/html`` or JavaScript output
      (quarto-cli ``src/core/jupyter/widgets.ts``); with none, it adds nothing. Image and
      plain-text outputs are kept as they are.

    Returns:
        The new notebook dict.

    Raises:
        RenderError: a cell's ``#|`` options are not a valid YAML mapping.
    """
    nb = copy.deepcopy(nb)
    cells: list[dict[str, Any]] = nb.get("cells", [])
    front_index: int | None = None
    for index, cell in enumerate(cells):
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "raw" and front_index is None:
            if parse_front_matter(text) is not None:
                front_index = index
            continue
        if cell.get("cell_type") != "code":
            continue
        split_cell_options(text, cell=_cell_label(index, cell))
        for output in cell.get("outputs", []):
            data = output.get("data")
            if not isinstance(data, dict):
                continue
            for mime in _QUARTO_DROPPED_MIMES:
                data.pop(mime, None)
            if "text/html" in data:
                html_value = data.pop("text/html")
                html_text = "".join(html_value) if isinstance(html_value, list) else html_value
                plain = data.get("text/plain")
                data.clear()
                data["text/markdown"] = _raw_html_block(str(html_text))
                if plain is not None:
                    data["text/plain"] = plain
    notes = [
        i for i, c in enumerate(cells) if _ANALYST_NOTE in (c.get("metadata", {}).get("tags") or [])
    ]
    for index in reversed(notes):  # Jupyter-only explanations (tools/make_notebooks.py)
        del cells[index]
        if front_index is not None and index < front_index:
            front_index -= 1
    if front_index is not None:
        source = cells[front_index].get("source", "")
        front = parse_front_matter("".join(source) if isinstance(source, list) else source) or {}
        if title is not None:
            front["title"] = markdown_literal(title)
        cells[front_index] = _front_matter_cell(front)
    elif title is not None:
        cells.insert(0, _front_matter_cell({"title": markdown_literal(title)}))
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def quarto_notebook_text(executed: Path, title: str | None) -> str:
    """:func:`quarto_notebook` of the notebook file ``executed``, as JSON text.

    Raises:
        RenderError: the notebook cannot be read, or a cell's options are invalid.
    """
    try:
        nb = json.loads(Path(executed).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RenderError(f"cannot read executed notebook {executed}: {exc}") from exc
    return json.dumps(quarto_notebook(nb, title), ensure_ascii=False)


def render_quarto(
    executed: Path,
    out_html: Path,
    title: str | None,
    *,
    metadata: dict[str, str] | None = None,
    quarto: str | None = None,
    timeout: float = QUARTO_TIMEOUT_S,
) -> Path:
    """Render ``executed`` with Quarto (no execution) and put the page at ``out_html``.

    The notebook is first prepared (:func:`quarto_notebook`: options checked, HTML
    outputs as raw blocks, ``title`` in its front matter: Quarto 1.7 hands a ``-M title``
    value to pandoc as literal text, quotes included) into ``<stem>.rfa-quarto.ipynb``
    beside it; Quarto renders
    that copy with the copy's directory as working directory (each render must have its
    own directory: Quarto's ``*_files`` folders are per input), its output captured.
    ``QUARTO_PYTHON`` defaults to this interpreter. The page is then checked and
    hardened (:func:`harden_page`) and written to ``out_html`` atomically.

    Args:
        executed: the papermill-executed notebook.
        out_html: where the page should appear (parent directories are created).
        title: page title (written into the front matter); ``None`` keeps the notebook's.
        metadata: further ``-M`` metadata.
        quarto: the executable (default: ``quarto`` found on ``PATH``).
        timeout: seconds before the render is stopped.

    Returns:
        ``out_html``.

    Raises:
        RenderError: Quarto is missing, a cell's options are invalid, Quarto fails (the
            message ends with Quarto's last lines, without ANSI codes), times out, writes
            no output, or the page loads something from the network. ``out_html`` is
            then left as it was.
    """
    executed = Path(executed).resolve()
    out_html = Path(out_html)
    exe = quarto or quarto_available()
    if not exe:
        raise RenderError("quarto is not on PATH; install Quarto or use the nbconvert renderer")
    if not executed.is_file():
        raise RenderError(f"no executed notebook at {executed}")
    output_name = quarto_output_name(executed)
    produced = executed.parent / output_name
    prepared = produced.with_suffix(".ipynb")
    produced.unlink(missing_ok=True)
    prepared.write_text(quarto_notebook_text(executed, title), encoding="utf-8")
    cmd = quarto_command(prepared, output_name, None, metadata, quarto=exe)
    log.info("rendering %s with %s", executed.name, exe)
    try:
        try:
            proc = _run_quarto(cmd, executed.parent, timeout)
        except subprocess.TimeoutExpired as exc:
            raise RenderError(
                f"quarto render of {executed.name} took longer than {timeout:g}s"
            ) from exc
        except OSError as exc:
            raise RenderError(f"could not run {exe}: {exc}") from exc
        if proc.returncode != 0:
            detail = _tail(proc.stderr) or _tail(proc.stdout) or "(no output)"
            raise RenderError(
                f"quarto render of {executed.name} failed (exit {proc.returncode}):\n{detail}"
            )
        if not produced.is_file() or produced.stat().st_size == 0:
            detail = _tail(proc.stderr)
            raise RenderError(
                f"quarto render of {executed.name} reported success but wrote no {output_name}"
                + (f":\n{detail}" if detail else "")
            )
        _publish_checked(produced, out_html, executed.name)
    finally:
        produced.unlink(missing_ok=True)
        prepared.unlink(missing_ok=True)
        shutil.rmtree(executed.parent / f"{prepared.stem}_files", ignore_errors=True)
    return out_html


def _publish_checked(produced: Path, out_html: Path, name: str) -> None:
    """Harden the page Quarto wrote at ``produced`` and write it to ``out_html`` atomically.

    Raises:
        RenderError: the page is not self-contained (:func:`harden_page`), or unreadable.
    """
    try:
        page = produced.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RenderError(f"cannot read the page Quarto wrote for {name}: {exc}") from exc
    atomic_write_text(out_html, harden_page(page, name=name))


# ---------------------------------------------------------------------------------------------
# Quarto: many pages with one invocation (a Quarto project)
# ---------------------------------------------------------------------------------------------

QUARTO_PROJECT_FILE = "_quarto.yml"


def retitled_notebook(executed: Path, title: str | None) -> str:
    """``executed`` (JSON text) prepared for Quarto with ``title`` in its front matter.

    In a project render one ``-M title:…`` would apply to every document, so each
    document carries its own title in its raw front-matter cell instead (a YAML dump:
    any title stays one plain string), written as a list of lines so that Quarto reads
    it as front matter. See :func:`quarto_notebook` for the other rules.

    Raises:
        RenderError: the notebook cannot be read, or a cell's options are invalid.
    """
    return quarto_notebook_text(executed, title)


def quarto_project_command(project: Path, quarto: str = "quarto") -> list[str]:
    """``quarto render PROJECT --no-execute``: every document the project lists, rendered
    by one Quarto process (its start-up paid once), never executed."""
    return [quarto, "render", str(project), "--no-execute"]


class QuartoPage(NamedTuple):
    """One page of :func:`render_quarto_project`: ``error`` (``None`` when the page was
    rendered and published) and ``seconds``, the page's own render time (wall clock)."""

    error: str | None
    seconds: float


_PROGRESS = re.compile(r"^\s*\[\s*(\d+)\s*/\s*(\d+)\s*\]\s+(\S+)\s*$")
"""Quarto's progress line for each document of a project render: ``[3/8] page-0002.ipynb``."""


def _run_quarto_timed(
    cmd: list[str], cwd: Path, timeout: float
) -> tuple[int, str, dict[str, float], list[str]]:
    """Run a project render, reading its progress lines as they come.

    Returns:
        ``(exit status, stderr text, {document name: seconds}, names in the order Quarto
        started them)``: a document's seconds run from its ``[i/n] name`` line to the
        next one (the last: to the process's end), so each is that document's own render
        time, not the project's average. Quarto renders the documents one after another,
        so every started document but the last was finished.

    Raises:
        subprocess.TimeoutExpired: after ``timeout`` seconds (the process is killed).
        OSError: ``quarto`` cannot be started.
    """
    began = time.monotonic()
    with subprocess.Popen(
        cmd,
        cwd=cwd,
        env=_quarto_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    ) as proc:
        marks: list[tuple[str, float]] = []
        err: list[str] = []

        def read(stream: Any, keep: list[str] | None) -> None:
            # Quarto prints its progress lines on stderr (on stdout in some versions)
            for line in stream:
                found = _PROGRESS.match(strip_ansi(line))
                if found:
                    marks.append((found.group(3), time.monotonic()))
                if keep is not None:
                    keep.append(line)

        readers = [
            threading.Thread(target=read, args=(proc.stdout, None), daemon=True),
            threading.Thread(target=read, args=(proc.stderr, err), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            status = proc.wait(timeout=timeout)
        except BaseException:  # the timeout, or a signal the batch turned into an exception
            proc.kill()
            proc.wait()
            raise
        finally:
            for reader in readers:
                reader.join(timeout=5)
        ended = time.monotonic()
    seconds: dict[str, float] = {}
    marks.sort(key=lambda mark: mark[1])
    for (name, start), (_, end) in zip(marks, [*marks[1:], ("", ended)], strict=False):
        seconds[Path(name).name] = end - start
    if not marks:  # no progress lines (e.g. one document): the whole process
        seconds[""] = ended - began
    return status, "".join(err), seconds, [Path(name).name for name, _ in marks]


def render_quarto_project(
    items: list[tuple[Path, Path, str | None]],
    workdir: Path,
    *,
    quarto: str | None = None,
    timeout: float = QUARTO_TIMEOUT_S,
) -> dict[Path, QuartoPage]:
    """Render many executed notebooks with ONE ``quarto render`` of a Quarto project.

    ``items`` are ``(executed notebook, page path, title)``. A project is Quarto's
    documented way to render several documents with one command
    (https://quarto.org/docs/projects/quarto-projects.html): a folder with a
    ``_quarto.yml`` whose ``project: render:`` lists the files
    (https://quarto.org/docs/reference/projects/options.html). Here it is a temporary
    folder in ``workdir`` holding each notebook prepared under a neutral name, its title
    in its front matter (:func:`retitled_notebook`); each document's own front matter
    still selects its format (``embed-resources: true``: one self-contained file each).
    Each page written is hardened (:func:`harden_page`) and written into place atomically.

    One bad page never fails the others: every notebook is prepared (options checked)
    before the project render, and one that fails is a failed page, left out of the
    project. When the project render still fails on a page, the pages Quarto finished
    before it are kept, the failing page is rendered alone with :func:`render_quarto` (its
    own error message), and the pages after it get a project render of their own. When it
    fails before any page (or times out), every page is rendered alone. A page that is not
    self-contained fails alone.

    Returns:
        ``{page path: QuartoPage(error or None, the page's own render seconds)}``.

    Raises:
        RenderError: Quarto is not on PATH.
    """
    exe = quarto or quarto_available()
    if not exe:
        raise RenderError("quarto is not on PATH; install Quarto or use the nbconvert renderer")
    results: dict[Path, QuartoPage] = {}
    project = Path(workdir) / f".quarto-project-{uuid.uuid4().hex[:12]}"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    try:
        listed: list[tuple[str, Path, Path, str | None]] = []
        for n, (executed, out_html, title) in enumerate(items):
            name = f"page-{n:04d}.ipynb"
            started = time.monotonic()
            try:
                (project / name).write_text(retitled_notebook(executed, title), encoding="utf-8")
            except (RenderError, OSError) as exc:
                problem = exc if isinstance(exc, RenderError) else RenderError(str(exc))
                results[Path(out_html)] = QuartoPage(str(problem), time.monotonic() - started)
                continue
            listed.append((name, Path(executed), Path(out_html), title))
        seconds: dict[str, float] = {}
        order: list[str] = []
        rendered = False
        if listed:
            config = {"project": {"type": "default", "render": [n for n, *_ in listed]}}
            (project / QUARTO_PROJECT_FILE).write_text(yaml.safe_dump(config), encoding="utf-8")
            log.info("rendering %d pages with one %s project render", len(listed), exe)
            try:
                status, stderr, seconds, order = _run_quarto_timed(
                    quarto_project_command(project, exe), project, timeout
                )
                rendered = status == 0
                if not rendered:
                    log.info("the project render failed: %s", _tail(stderr, 3))
            except (OSError, subprocess.SubprocessError) as exc:
                log.info("the project render failed: %s", strip_ansi(str(exc)))
        finished = {n for n, *_ in listed} if rendered else set(order[:-1])
        for name, executed, out_html, _ in listed:
            produced = project / f"{Path(name).stem}.html"
            if name in finished and produced.is_file() and produced.stat().st_size:
                started = time.monotonic()
                try:
                    _publish_checked(produced, out_html, f"{executed.parent.name}/{executed.name}")
                    error = None
                except (RenderError, OSError) as exc:
                    error = str(exc)
                own = seconds.get(name, seconds.get("", 0.0) if len(listed) == 1 else 0.0)
                took = own + time.monotonic() - started
                results[out_html] = QuartoPage(error, took)
        failing = order[-1] if order and not rendered else None
        after = [
            (executed, out_html, title)
            for name, executed, out_html, title in listed
            if out_html not in results and name not in order
        ]
        if failing is not None and len(after) >= 2:  # the pages after the failing one
            results.update(render_quarto_project(after, workdir, quarto=exe, timeout=timeout))
        for _, executed, out_html, title in listed:  # the rest: one by one
            if out_html not in results:
                started = time.monotonic()
                try:
                    render_quarto(executed, out_html, title, quarto=exe, timeout=timeout)
                    error = None
                except RenderError as exc:
                    error = str(exc)
                results[out_html] = QuartoPage(error, time.monotonic() - started)
    finally:
        shutil.rmtree(project, ignore_errors=True)
    return results


# ---------------------------------------------------------------------------------------------
# nbconvert fallback: the notebook transformation
# ---------------------------------------------------------------------------------------------

_OPTION_LINE = re.compile(r"^\s*#\|\s?(.*)$")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*$")
_ATTRS = re.compile(r"\s*\{[^{}]*\}\s*$")
_FENCE = re.compile(r"^\s*:::+\s*(\{.*\})?\s*$")
_FENCE_TITLE = re.compile(r"""title\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+?))(?=[\s}]|$)""")
_LAYOUT_WORDS = {"", "row", "column", "rows", "columns"}
_ANALYST_NOTE = "rfa-analyst-note"
"""Tag of the markdown cells that explain a section to an analyst in Jupyter
(tools/make_notebooks.py); neither renderer publishes them."""
_HIDE_TAGS = {
    "parameters",
    "injected-parameters",
    "remove-cell",
    "remove_cell",
    _ANALYST_NOTE,
}
_ACCENTS = {"primary", "secondary", "success", "info", "warning", "danger", "light", "dark"}
_ACCENT_ALIASES = {
    "blue": "primary",
    "green": "success",
    "red": "danger",
    "yellow": "warning",
    "orange": "warning",
    "amber": "warning",
    "gray": "secondary",
    "grey": "secondary",
    "teal": "info",
    "cyan": "info",
    "black": "dark",
    "white": "light",
}
_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_MAX_LITERAL = 20_000


def _cell_label(index: int, cell: Mapping[str, Any]) -> str:
    """How an error names a notebook cell: ``cell 7`` (1-based, as Jupyter counts) and the
    cell's ``id`` when it has one."""
    cell_id = cell.get("id")
    return f"cell {index + 1}" + (f" (id {cell_id})" if cell_id else "")


def split_cell_options(source: str, cell: str = "a cell") -> tuple[dict[str, Any], str]:
    """Split Quarto ``#|`` cell options from the top of a code cell: THE option parser of
    both renderers (the Quarto path checks every cell with it before ``quarto render``).

    Args:
        source: the cell source; options are the ``#| key: value`` lines at the
            top (blank lines before them are allowed).
        cell: how an error names the cell (e.g. ``"cell 7"``).

    Returns:
        ``(options, rest)``: the options as a dict (the ``#|`` lines' text read as one
        YAML mapping with ``yaml.safe_load``, as Quarto reads them) and the source
        without any ``#|`` line.

    Raises:
        RenderError: the options are not valid YAML or not a mapping (e.g. an unquoted
            ``title: Rates: this window``); the message names the cell and the bad line.
    """
    lines = source.splitlines()
    option_lines: list[str] = []
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1
    while index < len(lines):
        match = _OPTION_LINE.match(lines[index])
        if not match:
            break
        option_lines.append(match.group(1))
        index += 1
    options: dict[str, Any] = {}
    if option_lines:
        try:
            parsed = yaml.safe_load("\n".join(option_lines))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            line = mark.line if mark is not None and mark.line < len(option_lines) else 0
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise RenderError(
                f"{cell}: invalid #| option line {option_lines[line].strip()!r} "
                f"({problem}); #| options are YAML: quote a value holding ': ' or '#' "
                f'(title: "A: b")'
            ) from None
        if isinstance(parsed, dict):
            options = {str(k): v for k, v in parsed.items()}
        elif parsed is not None:
            raise RenderError(
                f"{cell}: #| options must be 'key: value' lines, got {option_lines[0].strip()!r}"
            )
    rest = "\n".join(line for line in lines[index:] if not _OPTION_LINE.match(line))
    return options, rest


def parse_front_matter(source: str) -> dict[str, Any] | None:
    """Parse a raw cell holding ``---`` delimited YAML front matter.

    Returns:
        The mapping, or ``None`` when ``source`` is not front matter (no leading
        ``---`` line, invalid YAML, or not a mapping).
    """
    text = source.strip()
    if not text.startswith("---"):
        return None
    body = text[3:]
    end = re.search(r"^(---|\.\.\.)\s*$", body, flags=re.MULTILINE)
    if end:
        body = body[: end.start()]
    try:
        data = yaml.safe_load(body) if body.strip() else {}
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def _heading_only(source: str) -> tuple[int, str] | None:
    """``(level, text without {attributes})`` when the cell is one ATX heading line."""
    lines = [line for line in source.strip().splitlines() if line.strip()]
    if len(lines) != 1:
        return None
    match = _HEADING.match(lines[0].strip())
    if not match:
        return None
    text = _ATTRS.sub("", match.group(2)).rstrip("#").strip()
    return len(match.group(1)), text


def _clean_markdown(source: str) -> tuple[str, str | None]:
    """Drop ``:::`` fences and heading ``{…}`` attributes; return ``(markdown, fence title)``."""
    title: str | None = None
    out: list[str] = []
    for line in source.splitlines():
        fence = _FENCE.match(line)
        if fence:
            attrs = fence.group(1) or ""
            found = _FENCE_TITLE.search(attrs)
            if found and title is None:
                title = next(g for g in found.groups() if g is not None)
            continue
        if _HEADING.match(line.strip()):
            line = _ATTRS.sub("", line.rstrip())
        out.append(line)
    return "\n".join(out).strip(), title


def accent_for(color: object) -> tuple[str, str | None]:
    """Map a value-box ``color`` to ``(accent class, inline style or None)``.

    Quarto's aliases (``primary``, ``secondary``, ``success``, ``info``,
    ``warning``, ``danger``, ``light``, ``dark``) and a few colour words map to
    the page's palette; a ``#rgb``/``#rrggbb`` hex colour is used as is (validated,
    so nothing else reaches a ``style`` attribute); anything else is ``primary``.
    """
    name = str(color).strip().lower() if color is not None else ""
    if name in _ACCENTS:
        return name, None
    if name in _ACCENT_ALIASES:
        return _ACCENT_ALIASES[name], None
    if _HEX_COLOR.match(name):
        return "", f"--rfa-accent: {name}"
    return "primary", None


def _plain_text(outputs: list[NotebookNode]) -> str | None:
    for output in outputs:
        if output.get("output_type") in ("execute_result", "display_data"):
            text = output.get("data", {}).get("text/plain")
            if text is not None:
                return "".join(text) if isinstance(text, list) else str(text)
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            return str(output.get("text", ""))
    return None


def _format_value(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value == value else "–"
    return str(value)


def value_box(options: Mapping[str, Any], outputs: list[NotebookNode]) -> dict[str, str]:
    """Build one KPI card from a ``#| content: valuebox`` cell.

    The cell's ``text/plain`` output is the repr of a dict (Quarto's Python form,
    ``dict(value=…, icon=…, color=…)``) parsed with :func:`ast.literal_eval`
    (never ``eval``); its keys win over the ``#|`` options. A non-dict literal is
    the value; text that is not a literal is shown as it is.

    Returns:
        ``{"title", "value", "accent", "style"}`` strings (``style`` may be empty).
    """
    data: dict[str, Any] = {}
    text = _plain_text(outputs)
    if text is not None:
        stripped = text.strip()
        parsed: object = None
        ok = False
        if len(stripped) <= _MAX_LITERAL:
            try:
                parsed = ast.literal_eval(stripped)
                ok = True
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                ok = False
        if ok and isinstance(parsed, dict):
            data = {str(k): v for k, v in parsed.items()}
        elif ok:
            data = {"value": parsed}
        elif stripped:
            data = {"value": stripped}
    merged = {**{k: v for k, v in options.items() if k in ("title", "color", "icon")}, **data}
    accent, style = accent_for(merged.get("color"))
    title = merged.get("title")
    return {
        "title": "" if title is None else str(title),
        "value": _format_value(merged.get("value")),
        "accent": accent,
        "style": style or "",
    }


def _kept_outputs(outputs: list[NotebookNode]) -> list[NotebookNode]:
    """Outputs worth showing a stakeholder: everything but stderr streams (warnings)."""
    return [
        out
        for out in outputs
        if not (out.get("output_type") == "stream" and out.get("name") == "stderr")
    ]


def transform_notebook(
    nb: NotebookNode, title: str | None = None
) -> tuple[NotebookNode, dict[str, Any]]:
    """Turn an executed Quarto-dashboard notebook into a clean static-page notebook.

    Pure: ``nb`` is not modified. Applied rules:

    * the raw ``---`` front-matter cell is dropped (its YAML is returned);
    * ``parameters`` / ``injected-parameters`` / ``remove-cell`` tagged cells,
      cells with ``#| include: false`` or ``#| output: false``, and code cells
      left without output (stderr warnings are dropped) disappear;
    * ``## Row …`` / ``## Column …`` headings disappear and start a new grid row;
      ``# Page {…}`` becomes a section heading without its attributes; any other
      heading-only cell is kept as a sub-section heading;
    * consecutive ``#| content: valuebox`` cells become ONE synthetic cell
      (``metadata.rfa.kind == "valuebox-row"``, ``boxes`` built by :func:`value_box`);
    * other code cells become cards (``metadata.rfa.kind == "card"``, ``title``
      from ``#| title:``) and lose every ``#|`` line from their source;
    * markdown cells lose ``:::`` fences and heading attributes and become text
      cards (a fence's ``title="…"`` becomes the card title);
    * ``nb.metadata.title`` is ``title``, else the front-matter title, else unset;
      ``nb.metadata.rfa_subtitle`` is the front-matter ``subtitle``; widget
      state is removed.

    Returns:
        ``(new notebook, info)`` with ``info = {"front_matter": dict, "title": str | None}``.
    """
    source_nb = copy.deepcopy(nb)
    front: dict[str, Any] = {}
    cells: list[NotebookNode] = []
    boxes: list[dict[str, str]] = []
    pending_break = False
    seen_front = False

    def emit(cell: NotebookNode, meta: dict[str, Any]) -> None:
        nonlocal pending_break
        full_width = meta["kind"] in ("page", "section", "valuebox-row")
        if pending_break and cells and not full_width:
            meta["row_break"] = True
        pending_break = False
        cell.metadata["rfa"] = meta
        cells.append(cell)

    def flush_boxes() -> None:
        nonlocal boxes
        if boxes:
            row = nbformat.v4.new_code_cell(source="")
            row.outputs = []
            emit(row, {"kind": "valuebox-row", "boxes": boxes})
            boxes = []

    for cell_index, cell in enumerate(source_nb.cells):
        kind = cell.get("cell_type")
        tags = set(cell.get("metadata", {}).get("tags", []) or [])
        if kind == "raw":
            fm = parse_front_matter(cell.source) if not seen_front else None
            if fm is not None:
                front, seen_front = fm, True
                continue
            flush_boxes()
            cells.append(cell)
            continue
        if tags & _HIDE_TAGS:
            continue
        if kind == "markdown":
            heading = _heading_only(cell.source)
            if heading is not None:
                level, text = heading
                flush_boxes()
                if level == 1 and text:
                    emit(nbformat.v4.new_markdown_cell(text), {"kind": "page", "title": text})
                elif level >= 2 and text.lower() not in _LAYOUT_WORDS:
                    emit(nbformat.v4.new_markdown_cell(text), {"kind": "section", "title": text})
                else:
                    pending_break = True  # a full-width heading already starts a new row
                continue
            text, fence_title = _clean_markdown(cell.source)
            if not text:
                continue
            flush_boxes()
            cell.source = text
            emit(cell, {"kind": "text", "title": fence_title} if fence_title else {"kind": "text"})
            continue
        if kind != "code":
            flush_boxes()
            cells.append(cell)
            continue
        options, rest = split_cell_options(cell.source, _cell_label(cell_index, cell))
        if options.get("include") is False or options.get("output") is False:
            continue
        outputs = _kept_outputs(list(cell.get("outputs", [])))
        if str(options.get("content", "")).strip().lower() == "valuebox":
            if outputs:
                boxes.append(value_box(options, outputs))
            continue
        if not outputs:
            continue
        flush_boxes()
        cell.source = rest
        cell.outputs = outputs
        meta: dict[str, Any] = {"kind": "card"}
        if options.get("title") is not None:
            meta["title"] = str(options["title"])
        emit(cell, meta)
    flush_boxes()
    _widen_lone_cards(cells)

    source_nb.cells = cells
    page_title = title if title else front.get("title")
    if page_title:
        source_nb.metadata["title"] = str(page_title)
    if front.get("subtitle"):
        source_nb.metadata["rfa_subtitle"] = str(front["subtitle"])
    source_nb.metadata.pop("widgets", None)
    return source_nb, {"front_matter": front, "title": str(page_title) if page_title else None}


def _widen_lone_cards(cells: list[NotebookNode]) -> None:
    """Mark a card that is alone in its dashboard row as full width (``rfa.wide``),
    as Quarto lays out a row with one card."""
    rows: list[list[dict[str, Any]]] = [[]]
    for cell in cells:
        meta = cell.metadata.get("rfa", {})
        kind = meta.get("kind")
        if kind in ("page", "section", "valuebox-row") or meta.get("row_break"):
            rows.append([])
        if kind in ("card", "text"):
            rows[-1].append(meta)
    for row in rows:
        if len(row) == 1:
            row[0]["wide"] = True


class DashboardPreprocessor(Preprocessor):
    """nbconvert preprocessor applying :func:`transform_notebook` (see its rules).

    The optional ``title`` trait overrides the front-matter title. The front
    matter is left in ``resources["rfa"]["front_matter"]``.
    """

    title = Unicode(None, allow_none=True, help="Page title overriding the front matter").tag(
        config=True
    )

    def preprocess(
        self, nb: NotebookNode, resources: dict[str, Any]
    ) -> tuple[NotebookNode, dict[str, Any]]:
        """Return the transformed notebook and ``resources`` with an ``rfa`` entry."""
        new_nb, info = transform_notebook(nb, self.title)
        resources = dict(resources or {})
        resources["rfa"] = info
        return new_nb, resources


def template_root() -> Path:
    """The packaged ``rfa/templates`` directory (found with :mod:`importlib.resources`).

    Raises:
        RenderError: the package's templates are not on the file system (e.g. a
            zipped install) or the ``rfa_dashboard`` template is missing.
    """
    root = importlib.resources.files("rfa").joinpath("templates")
    path = Path(str(root))
    if not (path / TEMPLATE_NAME / "index.html.j2").is_file():
        raise RenderError(
            f"the {TEMPLATE_NAME} nbconvert template is missing from {path}; "
            "reinstall the package (pip install -e .)"
        )
    return path


def dashboard_exporter(
    title: str | None = None, *, preprocessor: DashboardPreprocessor | None = None
) -> HTMLExporter:
    """An ``HTMLExporter`` for stakeholder pages: inputs and prompts hidden, images
    embedded, anchor links off, the ``rfa_dashboard`` template and
    :class:`DashboardPreprocessor` (with ``title``, or ``preprocessor``) registered."""
    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(template_root())],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_anchor_links=True,
        embed_images=True,
    )
    exporter.register_preprocessor(preprocessor or DashboardPreprocessor(title=title), enabled=True)
    return exporter


_shared: dict[str, tuple[HTMLExporter, DashboardPreprocessor]] = {}


def _shared_exporter(title: str | None) -> HTMLExporter:
    """This process's one :func:`dashboard_exporter`, re-titled for each page.

    A new exporter parses and compiles its ~10 Jinja templates on first use (0.2-1 s);
    a batch worker renders many pages, so it keeps one (per template folder) and only
    sets the page title on its :class:`DashboardPreprocessor`."""
    root = str(template_root())
    if root not in _shared:
        pre = DashboardPreprocessor()
        _shared[root] = (dashboard_exporter(preprocessor=pre), pre)
    exporter, pre = _shared[root]
    pre.title = title
    return exporter


def render_nbconvert(executed: Path, out_html: Path, title: str | None) -> Path:
    """Render ``executed`` with nbconvert (the fallback when Quarto is not installed).

    Args:
        executed: the papermill-executed notebook.
        out_html: where the page should appear (written atomically).
        title: page ``<title>`` and ``<h1>``; ``None`` uses the front-matter title,
            then the notebook's file name.

    Returns:
        ``out_html``.

    Raises:
        RenderError: the notebook cannot be read, a cell's ``#|`` options are invalid,
            the conversion fails, or the page is not self-contained (:func:`harden_page`,
            which also gives the page its Content-Security-Policy).
    """
    executed = Path(executed)
    try:
        nb = nbformat.read(executed, as_version=4)
    except (OSError, ValueError, nbformat.ValidationError) as exc:
        raise RenderError(f"cannot read executed notebook {executed}: {exc}") from exc
    exporter = _shared_exporter(title)
    resources = {"metadata": {"name": executed.stem, "path": str(executed.parent)}}
    try:
        body, _ = exporter.from_notebook_node(nb, resources=resources)
    except RenderError:
        raise
    except Exception as exc:  # nbconvert/jinja raise many types; report them as one error
        raise RenderError(f"nbconvert could not render {executed.name}: {exc}") from exc
    atomic_write_text(Path(out_html), harden_page(body, name=executed.name))
    return Path(out_html)


# ---------------------------------------------------------------------------------------------
# Post-render: every page self-contained, deduplicated and under a strict CSP
# ---------------------------------------------------------------------------------------------

CSP_META_ID = "rfa-csp"
"""``id`` of the Content-Security-Policy ``<meta>`` that :func:`harden_page` writes."""

_HEAD_OPEN = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
_CSP_META = re.compile(
    r"""<meta\b[^>]*http-equiv\s*=\s*["']?content-security-policy["']?[^>]*>\s*""", re.IGNORECASE
)
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_ATTR = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
_DATA_URI = re.compile(r"^data:([^,;]*)((?:;[^,;]*)*),(.*)$", re.DOTALL)
_EXTRA_SCHEME_CLASSES = {"quarto-color-scheme-extra", "quarto-color-alternate"}


def _attributes(tag: str) -> dict[str, str]:
    """The attributes of one start tag (``<link …>``), names lower-cased, values unescaped."""
    inner = re.sub(r"^<\w+", "", tag).rstrip(">").rstrip("/")
    out: dict[str, str] = {}
    for match in _ATTR.finditer(inner):
        value = next((g for g in match.groups()[1:] if g is not None), "")
        out.setdefault(match.group(1).lower(), html.unescape(value))
    return out


def _decode_data_uri(uri: str) -> tuple[str, str] | None:
    """``(media type, text)`` of a ``data:`` URI (base64 or percent-encoded), or ``None``."""
    match = _DATA_URI.match(uri.strip())
    if not match:
        return None
    media, params, payload = match.group(1).lower(), match.group(2).lower(), match.group(3)
    try:
        if ";base64" in params:
            raw = base64.b64decode(payload, validate=False)
        else:
            raw = urllib.parse.unquote_to_bytes(payload)
        return media, raw.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def _dedupe_color_schemes(page: str) -> str:
    """Drop Quarto's duplicate colour-scheme stylesheets when the page has one light theme.

    Quarto 1.7 dashboards embed the Bootstrap and highlighting CSS once per colour scheme
    role (``quarto-color-scheme``, ``quarto-color-alternate``,
    ``quarto-color-scheme-extra``; quarto-cli ``src/command/render/pandoc-html.ts``). With
    no dark stylesheet and no scheme toggle, only the primary ones are ever used."""
    links = [(m, _attributes(m.group(0))) for m in _LINK_TAG.finditer(page)]
    if "quarto-color-scheme-toggle" in page or any(a.get("data-mode") == "dark" for _, a in links):
        return page
    drop = [m for m, a in links if _EXTRA_SCHEME_CLASSES & set(a.get("class", "").split())]
    for match in reversed(drop):
        page = page[: match.start()] + page[match.end() :]
    return page


_STYLE = re.compile(r"(<style\b[^>]*>)(.*?)(</style\s*>)", re.IGNORECASE | re.DOTALL)
_ICON_RULE = re.compile(r"\.bi-([a-z0-9-]+)::?before\s*\{[^{}]*\}\s*")


def _prune_icon_rules(page: str) -> str:
    """Drop the Bootstrap Icons rules (``.bi-NAME::before {content: …}``, ~2,000 of them,
    ~100 kB) of icons the page never names. The icon font itself stays; an icon named
    anywhere in the page (its HTML or its scripts: ``bi-NAME``) keeps its rule."""
    match = next(
        (m for m in _STYLE.finditer(page) if 'font-family: "bootstrap-icons"' in m.group(2)),
        None,
    )
    if match is None:
        return page
    elsewhere = page[: match.start()] + page[match.end() :]
    used = set(re.findall(r"\bbi-([a-z0-9-]+)", elsewhere))
    css = _ICON_RULE.sub(lambda m: m.group(0) if m.group(1) in used else "", match.group(2))
    return page[: match.start(2)] + css + page[match.end(2) :]


def _inline_data_resources(page: str) -> str:
    """Turn ``<link rel=stylesheet href="data:text/css,…">`` into ``<style>`` and
    ``<script src="data:…javascript…">`` into inline scripts (same text, smaller than
    percent-encoding or base64, and each script then has a CSP hash). A resource whose
    text would end its element early (``</style``, ``</script``, ``<!--``) stays as it is."""

    def link(match: re.Match[str]) -> str:
        attrs = _attributes(match.group(0))
        if "stylesheet" not in attrs.get("rel", "").split():
            return match.group(0)
        decoded = _decode_data_uri(attrs.get("href", ""))
        if decoded is None or decoded[0] != "text/css" or "</style" in decoded[1].lower():
            return match.group(0)
        keep = "".join(
            f' {k}="{html.escape(attrs[k], quote=True)}"' for k in ("id", "media") if k in attrs
        )
        return f"<style{keep}>{decoded[1]}</style>"

    def script(match: re.Match[str]) -> str:
        attrs = _attributes(f"<script{match.group(1)}>")
        decoded = _decode_data_uri(attrs.get("src", ""))
        if decoded is None or match.group(2).strip() or "javascript" not in decoded[0]:
            return match.group(0)
        text = decoded[1]
        if "</script" in text.lower() or "<!--" in text:
            return match.group(0)
        keep = "".join(
            f' {k}="{html.escape(v, quote=True)}"'
            for k, v in attrs.items()
            if k not in ("src", "integrity", "crossorigin", "defer", "async")
        )
        return f"<script{keep}>{text}</script>"

    return _SCRIPT.sub(script, _LINK_TAG.sub(link, page))


def _script_hashes(page: str) -> tuple[list[str], bool]:
    """``(CSP sha256 sources of every inline script, whether a script loads a data: URI)``.

    The hash is of the script element's text exactly as it appears between its tags
    (what the browser hashes, https://www.w3.org/TR/CSP3/#match-element-to-source-list).
    """
    hashes: list[str] = []
    data_scripts = False
    for match in _SCRIPT.finditer(page):
        src = _attributes(f"<script{match.group(1)}>").get("src")
        if src is not None:
            data_scripts = data_scripts or src.strip().lower().startswith("data:")
            continue
        digest = hashlib.sha256(match.group(2).encode("utf-8")).digest()
        source = f"'sha256-{base64.b64encode(digest).decode('ascii')}'"
        if source not in hashes:
            hashes.append(source)
    return hashes, data_scripts


def content_security_policy(page: str) -> str:
    """The Content-Security-Policy for ``page``: nothing from the network, ever.

    ``default-src 'none'``; images and fonts only from ``data:``; styles inline or
    ``data:``; scripts only the page's own inline scripts, each by its sha256 hash (plus
    ``data:`` only if a script is still a ``data:`` URI); no fetch/XHR/WebSocket
    (``connect-src 'none'``), no form posts, no ``<base>``, no plugins. Inline event
    handlers (``onclick=…``) and ``javascript:`` URLs never run (no ``'unsafe-inline'``
    / ``'unsafe-hashes'`` for scripts).
    """
    hashes, data_scripts = _script_hashes(page)
    scripts = " ".join(hashes + (["data:"] if data_scripts else [])) or "'none'"
    return "; ".join(
        [
            "default-src 'none'",
            "img-src data:",
            "font-src data:",
            "style-src 'unsafe-inline' data:",
            f"script-src {scripts}",
            "connect-src 'none'",
            "form-action 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


def harden_page(page: str, *, name: str = "page") -> str:
    """Check and harden one rendered page (both renderers call it after rendering).

    1. Quarto's duplicate colour-scheme stylesheets are dropped (:func:`_dedupe_color_schemes`),
       ``data:`` stylesheets and scripts become inline (:func:`_inline_data_resources`), and
       the rules of icons the page never uses are dropped (:func:`_prune_icon_rules`).
    2. The page must be self-contained: :func:`find_remote_references` must find nothing.
    3. A ``<meta http-equiv="Content-Security-Policy">`` (:func:`content_security_policy`,
       hashes of exactly the page's inline scripts now) becomes the FIRST element of
       ``<head>`` (a previous one is replaced), so anything added to the page later (a
       script or an inline handler in filled-in text) cannot run.

    Args:
        page: the HTML text of a rendered page.
        name: how to name the page in an error (the notebook or page label).

    Returns:
        The hardened HTML text.

    Raises:
        RenderError: the page loads something from the network (``src``/``href``/
            ``@import``/``url()`` to ``http:``, ``https:`` or ``//``; the first few are
            named), or it has no ``<head>``.
    """
    page = _CSP_META.sub("", page)
    page = _prune_icon_rules(_inline_data_resources(_dedupe_color_schemes(page)))
    remote = find_remote_references(page)
    if remote:
        shown = ", ".join(remote[:3]) + (f" (+{len(remote) - 3} more)" if len(remote) > 3 else "")
        raise RenderError(
            f"{name}: the page is not self-contained, it would load {len(remote)} "
            f"resource(s) from the network: {shown}; it was not published"
        )
    head = _HEAD_OPEN.search(page)
    if head is None:
        raise RenderError(f"{name}: the rendered page has no <head>; it was not published")
    policy = html.escape(content_security_policy(page), quote=False)  # no '"' in it
    meta = f'<meta http-equiv="Content-Security-Policy" id="{CSP_META_ID}" content="{policy}">'
    return page[: head.end()] + meta + page[head.end() :]


# ---------------------------------------------------------------------------------------------
# Checks and dispatch
# ---------------------------------------------------------------------------------------------

_URL_ATTRS = {"src", "href", "data", "poster", "srcset", "action", "formaction"}
_REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
_CSS_REMOTE = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])\s*((?:https?:)?//[^'")\s]+)""", re.I)


class _RemoteFinder(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if value and name in _URL_ATTRS and _REMOTE.match(value):
                if tag == "a" and name == "href":
                    continue  # a plain link is navigation, not a resource the page loads
                self.found.append(f"<{tag} {name}={value}>")
            if value and name == "style":
                self.found.extend(_CSS_REMOTE.findall(value))
            if value and name == "href" and tag == "link":
                decoded = _decode_data_uri(value)  # an embedded stylesheet's own @import/url()
                if decoded is not None and decoded[0] == "text/css":
                    self.found.extend(_CSS_REMOTE.findall(decoded[1]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found.extend(_CSS_REMOTE.findall(data))


def find_remote_references(page: str) -> list[str]:
    """List the network resources an HTML page would load (scripts, styles, images…).

    Plain ``<a href>`` links are not counted. Used to check that a published page
    is self-contained; an empty list means nothing is fetched from the network.
    """
    finder = _RemoteFinder()
    finder.feed(page)
    finder.close()
    return finder.found


def render(
    executed: Path,
    out_html: Path,
    title: str | None,
    renderer: Renderer = "auto",
    *,
    metadata: dict[str, str] | None = None,
) -> str:
    """Render an executed notebook to one self-contained page at ``out_html``.

    Args:
        executed: the papermill-executed notebook (alone in its build directory).
        out_html: the page's path; it appears only if rendering succeeds.
        title: page title (include account and scope); ``None`` keeps the front
            matter's.
        renderer: ``"auto"`` (Quarto if ``quarto`` is on PATH, else nbconvert),
            ``"quarto"`` or ``"nbconvert"``.
        metadata: extra ``-M`` metadata for Quarto (ignored by nbconvert).

    Returns:
        The renderer used: ``"quarto"`` or ``"nbconvert"``.

    Raises:
        RenderError: ``renderer="quarto"`` but Quarto is not installed (the
            message names the nbconvert fallback), an unknown renderer, or the
            render failed.
    """
    if renderer not in ("auto", "quarto", "nbconvert"):
        raise RenderError(f"unknown renderer {renderer!r}; accepted: auto, quarto, nbconvert")
    quarto = quarto_available() if renderer in ("auto", "quarto") else None
    if renderer == "quarto" and not quarto:
        raise RenderError(
            "renderer 'quarto' was requested but the quarto executable is not on PATH; "
            "install Quarto (https://quarto.org/docs/get-started/) or use renderer "
            "'nbconvert' (or 'auto', which falls back to nbconvert)"
        )
    if quarto:
        render_quarto(executed, out_html, title, metadata=metadata, quarto=quarto)
        return "quarto"
    render_nbconvert(executed, out_html, title)
    return "nbconvert"
