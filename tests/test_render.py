"""Tests of rfa.publish.render: the Quarto command line, the nbconvert fallback page,
renderer selection, and the Quarto path with a fake ``quarto`` executable on PATH."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

import rfa
from rfa.errors import RFAError
from rfa.publish import render as render_mod
from rfa.publish.render import (
    DashboardPreprocessor,
    RenderError,
    accent_for,
    find_remote_references,
    quarto_command,
    quarto_output_name,
    render,
    render_nbconvert,
    render_quarto,
    split_cell_options,
    template_root,
    transform_notebook,
    value_box,
)

FIXTURES = Path(__file__).parent / "fixtures"

# A 1x1 PNG.
TINY_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAA"
    "AABJRU5ErkJggg=="
)

FRONT_MATTER = """---
title: "Team analytics"
format:
  dashboard:
    embed-resources: true
    html-math-method: plain
    nav-buttons: []
execute:
  echo: false
jupyter: resolutionflow-analytics
---"""

# Quarto's own parser for -M values (quarto-cli src/command/render/flags.ts).
QUARTO_METADATA_FLAG = re.compile(r"^([^=:]+)[=:](.*)$")


def _valuebox(title: str, value: str, icon: str, color: str, n: int) -> nbformat.NotebookNode:
    cell = new_code_cell(
        f'#| content: valuebox\n#| title: "{title}"\n#| icon: {icon}\n#| color: {color}\n'
        f"dict(value={value!r}, icon={icon!r}, color={color!r})",
        execution_count=n,
    )
    repr_ = repr({"value": value, "icon": icon, "color": color})
    cell.outputs = [new_output("execute_result", data={"text/plain": repr_}, execution_count=n)]
    return cell


def executed_notebook() -> nbformat.NotebookNode:
    """An executed dashboard notebook following the project's conventions."""
    params = new_code_cell('account = "acme"  # account slug', metadata={"tags": ["parameters"]})
    injected = new_code_cell(
        '# Parameters\naccount = "acme-injected"\n', metadata={"tags": ["injected-parameters"]}
    )
    imports = new_code_cell("import pandas as pd  # no output", execution_count=1)
    page = new_markdown_cell('# Overview {orientation="rows"}')
    row1 = new_markdown_cell("## Row {height=20%}")
    boxes = [
        _valuebox("Sessions", "1,234", "people", "primary", 2),
        _valuebox("Average CSAT", "4.6", "star", "success", 3),
        _valuebox("Escalations", "12", "exclamation-triangle", "danger", 4),
    ]
    row2 = new_markdown_cell('## Row {height="80%"}')
    chart = new_code_cell("#| title: Sessions per day\nfig.show()", execution_count=5)
    chart.outputs = [
        new_output("display_data", data={"image/png": TINY_PNG, "text/plain": "<Figure>"}),
        new_output("stream", name="stderr", text="UserWarning: a warning nobody should see\n"),
    ]
    table = new_code_cell("#| title: Top flows\ndf", execution_count=6)
    table.outputs = [
        new_output(
            "execute_result",
            data={
                "text/html": '<table class="dataframe"><thead><tr><th>flow</th>'
                "<th>sessions</th></tr></thead><tbody><tr><td>Password reset</td>"
                "<td>42</td></tr></tbody></table>",
                "text/plain": "df",
            },
            execution_count=6,
        )
    ]
    note = new_code_cell("Markdown('…')", execution_count=7)
    note.outputs = [new_output("display_data", data={"text/markdown": "**Note:** synthetic."})]
    cells = [new_raw_cell(FRONT_MATTER), params, injected, imports, page, row1, *boxes, row2]
    cells += [chart, table, note]
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {
                "name": rfa.KERNEL_NAME,
                "display_name": "ResolutionFlow Analytics",
                "language": "python",
            }
        },
    )
    nbformat.validate(nb)
    return nb


@pytest.fixture
def executed(tmp_path: Path) -> Path:
    build = tmp_path / "build" / "acme-team-30d"
    build.mkdir(parents=True)
    path = build / "page.ipynb"
    nbformat.write(executed_notebook(), path)
    return path


def _without_data_uris(page: str) -> str:
    return re.sub(r"data:[a-z/+.-]+;base64,[A-Za-z0-9+/=]+", "data:…", page)


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# ---------------------------------------------------------------------------------------------
# quarto_command
# ---------------------------------------------------------------------------------------------


def test_quarto_command_exact_list() -> None:
    cmd = quarto_command(
        Path("/build/acme-team-30d/page.ipynb"),
        "page.rfa-quarto.html",
        title="Acme — Team analytics (last 30 days)",
        metadata={"subtitle": "Support team", "lang": "en"},
    )
    assert cmd == [
        "quarto",
        "render",
        "/build/acme-team-30d/page.ipynb",
        "--no-execute",
        "--output",
        "page.rfa-quarto.html",
        "-M",
        'title:"Acme — Team analytics \\\\(last 30 days\\\\)"',  # a Markdown literal
        "-M",
        'subtitle:"Support team"',
        "-M",
        'lang:"en"',
    ]


def test_quarto_command_without_title_and_custom_executable() -> None:
    cmd = quarto_command(Path("nb.ipynb"), "out.html", quarto="/opt/quarto/bin/quarto")
    assert cmd == [
        "/opt/quarto/bin/quarto",
        "render",
        "nb.ipynb",
        "--no-execute",
        "--output",
        "out.html",
    ]


@pytest.mark.parametrize("title", [None, "Team", "--execute", "x --to html"])
def test_quarto_command_never_executes_nor_forces_a_format(title: str | None) -> None:
    cmd = quarto_command(Path("page.ipynb"), "page.html", title=title, metadata={"k": "--execute"})
    assert "--execute" not in cmd
    assert "--to" not in cmd and "-t" not in cmd
    assert "--no-execute" in cmd


@pytest.mark.parametrize(
    "title",
    [
        'Acme "Ops": team — 30d',
        "it's: a 'quoted' title",
        "yes",
        "null",
        "  spaced   out  ",
        "Ünïcødé / 東京 #1 {x}",
    ],
)
def test_quarto_title_stays_one_argument_and_a_plain_string(title: str) -> None:
    cmd = quarto_command(Path("page.ipynb"), "page.html", title=title)
    flag = cmd.index("-M")
    assert len(cmd) == flag + 2, "the title must be exactly one argument after -M"
    match = QUARTO_METADATA_FLAG.match(cmd[flag + 1])
    assert match is not None and match.group(1) == "title"
    # Quarto parses the value as YAML: it must come back as the same string, written as
    # a Markdown literal (Quarto reads the title as Markdown).
    assert yaml.safe_load(match.group(2)) == render_mod.markdown_literal(title)


@pytest.mark.parametrize("bad", ["out/page.html", "/abs/page.html", "..\\page.html", ""])
def test_quarto_command_rejects_output_with_a_directory(bad: str) -> None:
    with pytest.raises(RenderError):
        quarto_command(Path("page.ipynb"), bad)


@pytest.mark.parametrize("key", ["", "a:b", "a=b", " title"])
def test_quarto_command_rejects_bad_metadata_keys(key: str) -> None:
    with pytest.raises(RenderError):
        quarto_command(Path("page.ipynb"), "page.html", metadata={key: "v"})


def test_render_error_is_a_user_facing_error() -> None:
    assert issubclass(RenderError, RFAError)


# ---------------------------------------------------------------------------------------------
# The notebook transformation
# ---------------------------------------------------------------------------------------------


def test_split_cell_options() -> None:
    options, rest = split_cell_options(
        '\n#| content: valuebox\n#| title: "Sessions: all"\n#| color: primary\ndict(value=1)\n#| x'
    )
    assert options == {"content": "valuebox", "title": "Sessions: all", "color": "primary"}
    assert rest == "dict(value=1)"
    assert split_cell_options("x = 1") == ({}, "x = 1")


@pytest.mark.parametrize(
    "source, bad_line",
    [
        ("#| color: red\n#| title: Rates: this window and the previous one\nx", "title: Rates:"),
        ("#| title: a: b: [\n#| color: red\nx", "title: a: b: ["),
        ("#| - just\n#| - a list\nx", "- just"),
    ],
)
def test_invalid_cell_options_fail_loudly_naming_the_cell_and_line(
    source: str, bad_line: str
) -> None:
    with pytest.raises(RenderError) as info:
        split_cell_options(source, "cell 7")
    message = str(info.value)
    assert message.startswith("cell 7: ") and bad_line in message


def test_both_renderers_refuse_invalid_cell_options(tmp_path: Path) -> None:
    """One parser: the nbconvert transformation and the Quarto preparation both raise."""
    nb = executed_notebook()
    nb.cells[-2].source = "#| title: Top flows: by sessions\ndf"  # the 'Top flows' card
    with pytest.raises(RenderError, match=r"cell \d+.*title: Top flows: by sessions"):
        transform_notebook(nb)
    with pytest.raises(RenderError, match=r"cell \d+.*title: Top flows: by sessions"):
        render_mod.quarto_notebook(json.loads(nbformat.writes(nb)), "Acme")
    path = tmp_path / "page.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(RenderError, match="invalid #| option line"):
        render_nbconvert(path, tmp_path / "page.html", "Acme")
    assert not (tmp_path / "page.html").exists()


def test_transform_notebook_structure() -> None:
    nb = executed_notebook()
    before = nbformat.writes(nb)
    new_nb, info = transform_notebook(nb)
    assert nbformat.writes(nb) == before, "the input notebook must not be modified"
    assert info["front_matter"]["format"]["dashboard"]["embed-resources"] is True
    assert info["title"] == "Team analytics" == new_nb.metadata["title"]

    kinds = [c.metadata["rfa"]["kind"] for c in new_nb.cells]
    assert kinds == ["page", "valuebox-row", "card", "card", "card"]
    page = new_nb.cells[0].metadata["rfa"]
    assert page["title"] == "Overview"
    boxes = new_nb.cells[1].metadata["rfa"]["boxes"]
    assert [(b["title"], b["value"], b["accent"]) for b in boxes] == [
        ("Sessions", "1,234", "primary"),
        ("Average CSAT", "4.6", "success"),
        ("Escalations", "12", "danger"),
    ]
    chart = new_nb.cells[2]
    assert chart.metadata["rfa"] == {"kind": "card", "title": "Sessions per day", "row_break": True}
    assert [o.output_type for o in chart.outputs] == ["display_data"], "stderr is dropped"
    assert new_nb.cells[3].metadata["rfa"]["title"] == "Top flows"
    assert "title" not in new_nb.cells[4].metadata["rfa"]
    for cell in new_nb.cells:
        assert "#|" not in cell.source
        assert "parameters" not in cell.metadata.get("tags", [])


def test_transform_notebook_title_precedence_and_rows() -> None:
    nb = executed_notebook()
    new_nb, info = transform_notebook(nb, title="Acme — Team")
    assert new_nb.metadata["title"] == info["title"] == "Acme — Team"
    # Two value-box rows separated by a layout heading stay two rows.
    nb.cells.insert(8, new_markdown_cell("## Row"))
    new_nb, _ = transform_notebook(nb)
    rows = [c for c in new_nb.cells if c.metadata["rfa"]["kind"] == "valuebox-row"]
    assert [len(r.metadata["rfa"]["boxes"]) for r in rows] == [2, 1]


def test_transform_keeps_descriptive_headings_and_drops_hidden_cells() -> None:
    hidden = new_code_cell("#| include: false\nsecret()", execution_count=1)
    hidden.outputs = [new_output("stream", name="stdout", text="secret\n")]
    nb = new_notebook(
        cells=[
            new_raw_cell(FRONT_MATTER),
            new_markdown_cell("## Column {width=60%}"),
            new_markdown_cell("### Flows by volume {.tabset}"),
            hidden,
            new_markdown_cell('::: {.card title="About"}\nSome **text**.\n:::'),
        ]
    )
    new_nb, _ = transform_notebook(nb)
    metas = [c.metadata["rfa"] for c in new_nb.cells]
    assert metas == [
        {"kind": "section", "title": "Flows by volume"},
        {"kind": "text", "title": "About", "wide": True},  # alone in its row
    ]
    assert new_nb.cells[1].source == "Some **text**."


def test_value_box_parsing_never_evaluates_code() -> None:
    evil = new_output(
        "execute_result", data={"text/plain": "__import__('os').system('touch /tmp/pwned')"}
    )
    box = value_box({"title": "T"}, [evil])
    assert box["value"] == "__import__('os').system('touch /tmp/pwned')"
    number = new_output("execute_result", data={"text/plain": "1234567"})
    assert value_box({}, [number])["value"] == "1,234,567"
    override = new_output("execute_result", data={"text/plain": "{'value': 3, 'color': 'warning'}"})
    assert value_box({"color": "primary", "title": "X"}, [override]) == {
        "title": "X",
        "value": "3",
        "accent": "warning",
        "style": "",
    }


@pytest.mark.parametrize(
    ("color", "expected"),
    [
        ("primary", ("primary", None)),
        ("DANGER", ("danger", None)),
        ("green", ("success", None)),
        ("#1a2B3c", ("", "--rfa-accent: #1a2b3c")),
        (None, ("primary", None)),
        ('red;" onmouseover="alert(1)', ("primary", None)),
        ("url(http://evil/x.png)", ("primary", None)),
    ],
)
def test_accent_for(color: object, expected: tuple[str, str | None]) -> None:
    assert accent_for(color) == expected


def test_dashboard_preprocessor_is_an_nbconvert_preprocessor() -> None:
    pre = DashboardPreprocessor(title="T")
    nb, resources = pre.preprocess(executed_notebook(), {})
    assert nb.metadata["title"] == "T"
    assert resources["rfa"]["front_matter"]["title"] == "Team analytics"


def test_template_found_through_importlib_resources() -> None:
    root = template_root()
    assert (root / "rfa_dashboard" / "conf.json").is_file()
    assert json.loads((root / "rfa_dashboard" / "conf.json").read_text())["base_template"] == "lab"
    assert (root / "index.html.j2").is_file()


# ---------------------------------------------------------------------------------------------
# The nbconvert page
# ---------------------------------------------------------------------------------------------


def test_nbconvert_page_is_clean_and_self_contained(executed: Path, tmp_path: Path) -> None:
    out = tmp_path / "published" / "acme" / "team" / "30d.html"
    assert render_nbconvert(executed, out, "Acme — Team analytics") == out
    assert out.is_file()
    page = out.read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")

    assert soup.title is not None and soup.title.get_text() == "Acme — Team analytics"
    assert [h.get_text() for h in soup.find_all("h1")] == ["Acme — Team analytics"]
    assert [h.get_text() for h in soup.find_all("h2")] == ["Overview"]

    kpis = soup.select(".rfa-kpis .rfa-kpi")
    assert [k.select_one(".rfa-kpi-title").get_text() for k in kpis] == [
        "Sessions",
        "Average CSAT",
        "Escalations",
    ]
    assert [k.select_one(".rfa-kpi-value").get_text() for k in kpis] == ["1,234", "4.6", "12"]
    assert "rfa-accent-danger" in kpis[2]["class"]
    titles = [h.get_text() for h in soup.select(".rfa-card-title")]
    assert titles == ["Sessions per day", "Top flows"]
    assert soup.find("td", string="Password reset") is not None
    assert "synthetic." in soup.get_text()

    text = soup.get_text()
    assert "#|" not in page
    assert "## Row" not in text and "{height" not in text and "orientation" not in text
    assert "valuebox" not in text and "acme-injected" not in text and "import pandas" not in text
    assert "warning nobody should see" not in text
    assert "In [" not in text and "Out[" not in text
    assert "embed-resources" not in text, "the front matter is not shown"

    images = soup.find_all("img")
    assert images and all(img["src"].startswith("data:image/png;base64,") for img in images)
    assert not soup.find_all("script"), "the page needs no JavaScript"
    for tag in soup.find_all(["link", "script", "iframe"]):
        target = tag.get("href") or tag.get("src") or ""
        assert not re.match(r"(https?:)?//", target)
    stripped = _without_data_uris(page).lower()
    assert "cdn" not in stripped and "mathjax" not in stripped and "require.js" not in stripped
    assert "http://" not in stripped and "https://" not in stripped
    assert find_remote_references(page) == []
    assert _files(out.parent) == ["30d.html"], "no temporary file is left beside the page"


def test_nbconvert_title_defaults_to_front_matter(executed: Path, tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    render_nbconvert(executed, out, None)
    soup = BeautifulSoup(out.read_text(encoding="utf-8"), "html.parser")
    assert soup.title is not None and soup.title.get_text() == "Team analytics"


def test_nbconvert_escapes_untrusted_titles(executed: Path, tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    render_nbconvert(executed, out, "Flow <script>alert(1)</script>")
    page = out.read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_pages_rendered_one_after_another_each_carry_their_own_title(
    executed: Path, tmp_path: Path
) -> None:
    """A worker keeps one exporter for every page it renders (its templates are compiled
    once); only the title changes, and no page shows another page's title."""
    titles = ["Acme — Team analytics", "Globex — Flow", None, "Initech — Personal"]
    pages = []
    for n, title in enumerate(titles):
        out = tmp_path / f"page{n}.html"
        render_nbconvert(executed, out, title)
        pages.append(BeautifulSoup(out.read_text(encoding="utf-8"), "html.parser"))
    shown = [soup.title.get_text() for soup in pages]
    assert shown == ["Acme — Team analytics", "Globex — Flow", "Team analytics", titles[3]]
    for soup, title in zip(pages, shown, strict=True):
        assert [h.get_text() for h in soup.find_all("h1")] == [title]
    assert len(render_mod._shared) == 1
    exporter = render_mod.dashboard_exporter("Globex — Flow")
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    again = tmp_path / "again.html"
    render_nbconvert(executed, again, "Globex — Flow")
    expected = render_mod.harden_page(body)
    assert again.read_text(encoding="utf-8") == expected, "the same page as a new exporter's"


def test_nbconvert_unreadable_notebook_raises(tmp_path: Path) -> None:
    bad = tmp_path / "page.ipynb"
    bad.write_text("{ not json")
    with pytest.raises(RenderError, match="cannot read"):
        render_nbconvert(bad, tmp_path / "page.html", None)
    assert not (tmp_path / "page.html").exists()


def test_find_remote_references() -> None:
    page = (
        '<html><head><script src="https://cdn.example/x.js"></script>'
        '<link rel="stylesheet" href="//fonts.example/f.css">'
        "<style>@import 'https://x.example/a.css'; .a{background:url(http://x/y.png)}</style>"
        '</head><body><a href="https://example.org">a link is fine</a>'
        '<img src="data:image/png;base64,AAAA"><img src="local.png"></body></html>'
    )
    found = find_remote_references(page)
    assert len(found) == 4
    assert find_remote_references("<p>nothing</p>") == []


# ---------------------------------------------------------------------------------------------
# Renderer selection
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def no_quarto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert render_mod.quarto_available() is None


def test_auto_falls_back_to_nbconvert_without_quarto(
    executed: Path, tmp_path: Path, no_quarto: None
) -> None:
    out = tmp_path / "out" / "page.html"
    assert render(executed, out, "Acme", renderer="auto") == "nbconvert"
    assert out.is_file()


def test_requested_quarto_missing_names_the_fallback(
    executed: Path, tmp_path: Path, no_quarto: None
) -> None:
    out = tmp_path / "out" / "page.html"
    with pytest.raises(RenderError, match="nbconvert") as info:
        render(executed, out, "Acme", renderer="quarto")
    assert "not on PATH" in str(info.value)
    assert not out.exists()


def test_unknown_renderer(executed: Path, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="accepted"):
        render(executed, tmp_path / "p.html", None, renderer="pdf")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The Quarto path with a fake quarto
# ---------------------------------------------------------------------------------------------

FAKE_QUARTO = """#!{python}
import json, os, sys
with open({record!r}, "w") as f:
    json.dump({{"argv": sys.argv, "cwd": os.getcwd(),
               "quarto_python": os.environ.get("QUARTO_PYTHON")}}, f)
if {fail!r}:
    sys.stderr.write("Starting python3 kernel...\\n\\x1b[31mERROR: YAMLError: bad front matter"
                     " at line 3\\x1b[39m\\n")
    sys.exit(1)
if {write!r}:
    out = sys.argv[sys.argv.index("--output") + 1]
    with open(out, "w") as f:
        f.write("<html><head></head><body>rendered by fake quarto</body></html>")
"""


def install_fake_quarto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, fail: bool = False, write: bool = True
) -> tuple[Path, Path]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "quarto-call.json"
    script = bindir / "quarto"
    script.write_text(
        FAKE_QUARTO.format(python=sys.executable, record=str(record), fail=fail, write=write)
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.delenv("QUARTO_PYTHON", raising=False)
    return script, record


def test_quarto_used_when_on_path(
    executed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, record = install_fake_quarto(tmp_path, monkeypatch)
    out = tmp_path / "published" / "acme" / "team.html"
    used = render(executed, out, 'Acme "Ops" — Team', metadata={"subtitle": "30 days"})
    assert used == "quarto"
    call = json.loads(record.read_text())
    expected = quarto_command(
        executed.resolve().parent / quarto_output_name(executed).replace(".html", ".ipynb"),
        quarto_output_name(executed),
        None,  # the title is in the prepared copy's front matter (not -M: see render_quarto)
        {"subtitle": "30 days"},
        quarto=str(script),
    )
    assert call["argv"] == expected
    assert Path(call["cwd"]).resolve() == executed.parent.resolve()
    assert call["quarto_python"] == sys.executable
    page = out.read_text()
    assert page.startswith('<html><head><meta http-equiv="Content-Security-Policy"')
    assert page.endswith("<body>rendered by fake quarto</body></html>")
    assert _files(out.parent) == ["team.html"]
    assert _files(executed.parent) == ["page.ipynb"], "intermediates removed"


def test_failing_quarto_raises_with_its_stderr_and_leaves_no_page(
    executed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_quarto(tmp_path, monkeypatch, fail=True)
    out = tmp_path / "published" / "acme" / "team.html"
    with pytest.raises(RenderError) as info:
        render(executed, out, "Acme", renderer="quarto")
    message = str(info.value)
    assert "ERROR: YAMLError: bad front matter at line 3" in message
    assert "exit 1" in message and "\x1b" not in message, "no ANSI codes"
    assert not out.exists()
    assert _files(out.parent) == []
    assert not (executed.parent / quarto_output_name(executed)).exists()


def test_failing_quarto_keeps_the_previous_page(
    executed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_quarto(tmp_path, monkeypatch, fail=True)
    out = tmp_path / "published" / "team.html"
    out.parent.mkdir(parents=True)
    out.write_text("previous page")
    with pytest.raises(RenderError):
        render_quarto(executed, out, "Acme")
    assert out.read_text() == "previous page"
    assert _files(out.parent) == ["team.html"]


def test_quarto_success_without_output_is_an_error(
    executed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_quarto(tmp_path, monkeypatch, write=False)
    out = tmp_path / "published" / "team.html"
    with pytest.raises(RenderError, match="wrote no"):
        render(executed, out, "Acme")
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# End to end: papermill executes the fixture notebook, nbconvert renders it
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_fixture_notebook_executes_and_renders(tmp_path: Path) -> None:
    papermill = pytest.importorskip("papermill")
    from jupyter_client.kernelspec import find_kernel_specs

    if rfa.KERNEL_NAME not in find_kernel_specs():
        if os.environ.get("CI"):
            pytest.fail(f"kernel {rfa.KERNEL_NAME} is not installed (make setup)")
        pytest.skip(f"kernel {rfa.KERNEL_NAME} is not installed (make setup)")
    work = tmp_path / "build"
    work.mkdir()
    executed_path = work / "page.ipynb"
    papermill.execute_notebook(
        str(FIXTURES / "dashboard_minimal.ipynb"),
        str(executed_path),
        parameters={"account": "globex", "sessions": 98765},
        kernel_name=rfa.KERNEL_NAME,
        cwd=str(work),
        progress_bar=False,
    )
    out = tmp_path / "page.html"
    render_nbconvert(executed_path, out, "Globex — Fixture dashboard")
    page = out.read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")
    values = [v.get_text() for v in soup.select(".rfa-kpi-value")]
    assert values == ["98,765", "4.6", "12"]
    assert [t.get_text() for t in soup.select(".rfa-card-title")] == [
        "Sessions per day",
        "Top flows",
        "Notes",
    ]
    assert soup.find("td", string="Password reset") is not None
    assert "Account globex: synthetic fixture data." in soup.get_text(" ", strip=True).replace(
        " :", ":"
    )
    assert all(i["src"].startswith("data:image/png;base64,") for i in soup.find_all("img"))
    assert "#|" not in page and not soup.find_all("script")
    assert find_remote_references(page) == []


def test_a_card_alone_in_its_row_is_full_width_like_quarto():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    def card(title: str):
        cell = new_code_cell(f"#| title: {title}\nx")
        cell.outputs = [new_output("execute_result", data={"text/plain": "1"}, execution_count=1)]
        return cell

    nb = new_notebook(
        cells=[
            new_markdown_cell("## Row"),
            card("alone"),
            new_markdown_cell("## Row"),
            card("left"),
            card("right"),
            new_markdown_cell("## Row"),
            card("last"),
        ]
    )
    out, _ = transform_notebook(nb)
    wide = {c.metadata["rfa"]["title"]: c.metadata["rfa"].get("wide", False) for c in out.cells}
    assert wide == {"alone": True, "left": False, "right": False, "last": True}


# ---------------------------------------------------------------------------------------------
# Many pages with one Quarto invocation (a Quarto project), with a fake quarto
# ---------------------------------------------------------------------------------------------

FAKE_QUARTO_PROJECT = """#!{python}
import json, os, sys, time
import yaml
with open({record!r}, "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd()}}) + "\\n")
target = sys.argv[2]
if os.path.isdir(target):  # quarto render PROJECT --no-execute
    assert sys.argv[3:] == ["--no-execute"], sys.argv
    if {fail_project!r}:
        sys.stderr.write("ERROR: the project failed\\n")
        sys.exit(1)
    config = yaml.safe_load(open(os.path.join(target, "_quarto.yml")))
    names = config["project"]["render"]
    for n, name in enumerate(names):
        # Quarto's progress line, on stderr as the real one prints it with NO_COLOR
        sys.stderr.write(f"\\x1b[1m[{{n + 1}}/{{len(names)}}] {{name}}\\x1b[22m\\n")
        sys.stderr.flush()
        time.sleep(0.4 * n)  # page n takes 0.4 n seconds
        source = json.load(open(os.path.join(target, name)))["cells"][0]["source"]
        source = source if isinstance(source, str) else "".join(source)
        title = yaml.safe_load(source.split("---")[1])["title"]
        if title == {bad!r}:
            sys.stderr.write("ERROR: " + name + " has a bad page\\n")
            sys.exit(1)
        with open(os.path.join(target, name[: -len(".ipynb")] + ".html"), "w") as f:
            f.write("<html><head><title>" + title + "</title></head></html>")
else:  # quarto render NOTEBOOK --no-execute --output NAME
    source = json.load(open(target))["cells"][0]["source"]
    title = yaml.safe_load("".join(source).split("---")[1])["title"]
    if title == {bad!r}:
        sys.stderr.write("ERROR: this page is bad\\n")
        sys.exit(1)
    with open(sys.argv[sys.argv.index("--output") + 1], "w") as f:
        f.write("<html><head><title>" + title + "</title></head></html>")
"""


def install_fake_project_quarto(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    fail_project=False,
    bad=None,
    keep_path=False,
) -> Path:
    """A fake ``quarto`` that records its calls (returned: the JSON-lines file) and writes
    each page with its title; alone on PATH, or first on it with ``keep_path``."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "quarto-calls.jsonl"
    script = bindir / "quarto"
    script.write_text(
        FAKE_QUARTO_PROJECT.format(
            python=sys.executable, record=str(record), fail_project=fail_project, bad=bad
        )
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv(
        "PATH", os.pathsep.join([str(bindir)] + ([os.environ["PATH"]] if keep_path else []))
    )
    return record


def _project_items(executed: Path, tmp_path: Path, titles):
    items = []
    for n, title in enumerate(titles):
        build = tmp_path / "build" / f"page{n}"
        build.mkdir(parents=True)
        (build / "page.ipynb").write_bytes(executed.read_bytes())
        items.append((build / "page.ipynb", tmp_path / "published" / f"page{n}.html", title))
    return items


PROJECT_TITLES = ["Acme — Team analytics", 'Globex: "Flow" — yes', None]


def test_retitled_notebook_sets_the_front_matter_title_only(executed: Path) -> None:
    original = json.loads(executed.read_text())
    for title in ('Globex: "Flow" — yes', "no", "- [x]", "#1 {a}", None):
        nb = json.loads(render_mod.retitled_notebook(executed, title))
        source = nb["cells"][0]["source"]
        # a list of lines: Quarto reads one string as body text in a project render
        assert isinstance(source, list) and source[0] == "---\n" and source[-1] == "---\n"
        assert all(line.endswith("\n") and line.count("\n") == 1 for line in source)
        front = render_mod.parse_front_matter("".join(source))
        expected = render_mod.markdown_literal(title) if title else "Team analytics"
        assert front is not None and front["title"] == expected
        assert front["format"]["dashboard"]["embed-resources"] is True
        assert [c["source"] for c in nb["cells"][1:]] == [
            c["source"] for c in original["cells"][1:]
        ]


def test_quarto_notebook_turns_html_outputs_into_raw_html_blocks(executed: Path) -> None:
    """No text/html or JavaScript output reaches Quarto (it would add require.js and
    jQuery from a CDN); the same HTML is shown through a pandoc raw block; images stay."""
    nb = json.loads(executed.read_text())
    table = next(c for c in nb["cells"] if "Top flows" in "".join(c["source"]))
    html_text = table["outputs"][0]["data"]["text/html"]
    html_text = "".join(html_text) if isinstance(html_text, list) else html_text
    table["outputs"][0]["data"]["application/javascript"] = "alert(1)"
    table["outputs"][0]["data"]["text/html"] = html_text + "<pre>```</pre>"
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    out = render_mod.quarto_notebook(nb, "Acme")
    mimes = {m for c in out["cells"] for o in c.get("outputs", []) for m in o.get("data", {})}
    assert not mimes & {"text/html", "application/javascript"}
    assert "widgets" not in out["metadata"]
    table = next(c for c in out["cells"] if "Top flows" in "".join(c["source"]))
    markdown = table["outputs"][0]["data"]["text/markdown"]
    assert markdown == f"````{{=html}}\n{html_text}<pre>```</pre>\n````"
    chart = next(c for c in out["cells"] if "Sessions per day" in "".join(c["source"]))
    assert chart["outputs"][0]["data"]["image/png"] == TINY_PNG
    assert "text/html" in nb["cells"][-2]["outputs"][0]["data"], "the input is not modified"


def test_a_quarto_project_renders_every_page_with_one_invocation(
    executed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = install_fake_project_quarto(tmp_path, monkeypatch)
    items = _project_items(executed, tmp_path, PROJECT_TITLES)
    work = tmp_path / "work"
    results = render_mod.render_quarto_project(items, work)
    assert {out: r.error for out, r in results.items()} == {out: None for _, out, _ in items}
    # each page's own render time (the fake takes 0, 0.4 and 0.8 s), not the average
    took = [results[out].seconds for _, out, _ in items]
    assert took[0] < 0.35 and 0.35 < took[1] < 0.75 and took[2] > 0.75, took
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(calls) == 1, "one Quarto process for every page"
    project = Path(calls[0]["argv"][1])
    assert calls[0]["argv"] == ["render", str(project), "--no-execute"]
    assert project.parent == work and Path(calls[0]["cwd"]) == project
    shown = [BeautifulSoup(out.read_text(), "html.parser") for _, out, _ in items]
    titles = [render_mod.markdown_literal(t) if t else "Team analytics" for t in PROJECT_TITLES]
    assert [s.title.string for s in shown] == titles
    assert all(s.head.contents[0]["http-equiv"] == "Content-Security-Policy" for s in shown)
    assert _files(work) == [], "the project folder is removed"
    assert _files(tmp_path / "published") == ["page0.html", "page1.html", "page2.html"]


def test_a_failing_project_render_renders_page_by_page(
    executed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = install_fake_project_quarto(tmp_path, monkeypatch, fail_project=True)
    items = _project_items(executed, tmp_path, PROJECT_TITLES[:2])
    results = render_mod.render_quarto_project(items, tmp_path / "work")
    assert {out: r.error for out, r in results.items()} == {out: None for _, out, _ in items}
    calls = [json.loads(line)["argv"] for line in record.read_text().splitlines()]
    assert len(calls) == 3 and Path(calls[0][1]).name.startswith(".quarto-project-")
    prepared = [i[0].resolve().parent / "page.rfa-quarto.ipynb" for i in items]
    assert [Path(c[1]) for c in calls[1:]] == prepared


def test_one_bad_page_of_a_quarto_project_fails_alone(
    executed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quarto stops the project at the bad page: the pages it finished are kept, the bad
    page is rendered alone (its own error), the pages after it in one more project."""
    titles = ["Acme", "Bad", "Globex", "Initech", "Umbrella"]
    record = install_fake_project_quarto(
        tmp_path, monkeypatch, bad=render_mod.markdown_literal(titles[1])
    )
    items = _project_items(executed, tmp_path, titles)
    results = render_mod.render_quarto_project(items, tmp_path / "work")
    errors = {out.name: r.error for out, r in results.items()}
    assert [errors[f"page{n}.html"] is None for n in range(5)] == [True, False, True, True, True]
    assert "failed (exit 1)" in errors["page1.html"]
    assert "ERROR: this page is bad" in errors["page1.html"]
    assert not items[1][1].exists() and all(items[n][1].is_file() for n in (0, 2, 3, 4))
    calls = [json.loads(line)["argv"] for line in record.read_text().splitlines()]
    kinds = ["project" if Path(c[1]).name.startswith(".quarto-project-") else "page" for c in calls]
    assert sorted(kinds) == ["page", "project", "project"], calls  # not 1 + 4 page renders
    assert kinds[0] == "project"


# ---------------------------------------------------------------------------------------------
# harden_page: self-contained, deduplicated, under a strict CSP (both renderers)
# ---------------------------------------------------------------------------------------------

CSS = "body{color:#123}"
JS = "window.x = 1;"


def _quarto_like_page() -> str:
    """The shape of a Quarto 1.7 dashboard's <head>: one light theme embedded once per
    colour-scheme role, a data: module script, an inline script."""
    css_uri = "data:text/css," + CSS.replace("{", "%7B").replace("}", "%7D").replace("#", "%23")
    links = "".join(
        f'<link href="{css_uri}" rel="stylesheet" class="{cls}" id="quarto-bootstrap" '
        'data-mode="light">'
        for cls in (
            "quarto-color-scheme",
            "quarto-color-scheme quarto-color-alternate",
            "quarto-color-scheme-extra",
        )
    )
    js_uri = "data:application/javascript;base64," + base64.b64encode(JS.encode()).decode()
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>T</title>'
        f'{links}<script src="{js_uri}" type="module"></script>'
        "<script>console.log('inline');</script></head><body><p>ok</p></body></html>"
    )


def test_harden_page_dedupes_inlines_and_adds_the_csp_first() -> None:
    page = render_mod.harden_page(_quarto_like_page())
    soup = BeautifulSoup(page, "html.parser")
    first = next(el for el in soup.head.children if el.name)
    assert first.name == "meta" and first["http-equiv"] == "Content-Security-Policy"
    assert soup.find_all("link") == [], "data: stylesheets become <style>"
    assert [s.string for s in soup.find_all("style")] == [CSS], "embedded once"
    scripts = soup.find_all("script")
    assert [s.string for s in scripts] == [JS, "console.log('inline');"]
    assert scripts[0]["type"] == "module" and not scripts[0].get("src")
    policy = dict((part.split(" ", 1) + [""])[:2] for part in first["content"].split("; "))
    expected = {
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in (JS, "console.log('inline');")
    }
    assert set(policy["script-src"].split()) == expected, "exactly the page's inline scripts"
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'none'"
    assert policy["img-src"] == "data:" and policy["font-src"] == "data:"
    assert policy["style-src"] == "'unsafe-inline' data:"
    assert policy["form-action"] == policy["base-uri"] == policy["object-src"] == "'none'"
    assert render_mod.harden_page(page) == page, "idempotent: one CSP meta, same hashes"


def test_a_page_without_scripts_allows_none() -> None:
    page = render_mod.harden_page("<html><head><title>x</title></head><body></body></html>")
    assert "script-src 'none'" in page


@pytest.mark.parametrize(
    "reference",
    [
        '<script src="https://cdnjs.cloudflare.com/require.min.js"></script>',
        '<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Lato">',
        "<style>@import url(https://fonts.googleapis.com/css2?family=Lato);</style>",
        "<style>@import 'https://x.test/a.css';</style>",
        '<link rel="stylesheet" href="data:text/css,%40import%20%22https%3A//x.test/a.css%22%3B">',
        '<div style="background: url(http://x.test/bg.png)"></div>',
        '<img alt="" src="HTTP://x.test/a.png">',
    ],
)
def test_harden_page_refuses_a_page_that_loads_from_the_network(reference: str) -> None:
    with pytest.raises(RenderError, match="not self-contained"):
        render_mod.harden_page(f"<html><head></head><body>{reference}</body></html>", name="p")


def test_an_nbconvert_page_that_is_not_self_contained_is_not_published(
    executed: Path, tmp_path: Path
) -> None:
    nb = executed_notebook()
    table = next(c for c in nb.cells if c.source.startswith("#| title: Top flows"))
    table.outputs[0]["data"]["text/html"] = '<img alt="x" src="https://x.test/track.png">'
    path = tmp_path / "remote.ipynb"
    nbformat.write(nb, path)
    out = tmp_path / "page.html"
    out.write_text("the last good version")
    with pytest.raises(RenderError, match=r"not self-contained.*https://x.test/track.png"):
        render_nbconvert(path, out, "Acme")
    assert out.read_text() == "the last good version"


def test_every_notebook_has_valid_cell_options_and_no_web_font_theme() -> None:
    """The generated notebooks (tools/make_notebooks.py) pass the one option parser: a
    card title holding ': ' is quoted; their theme imports no web fonts."""
    notebooks = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
    assert len(notebooks) == 7
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for index, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "code":
                split_cell_options("".join(cell["source"]), f"{path.name} cell {index + 1}")
        front = render_mod.parse_front_matter("".join(nb["cells"][0]["source"]))
        assert front is not None
        assert front["format"]["dashboard"].get("theme") == "default", path.name


def test_an_interrupted_project_render_stops_quarto_at_once(
    executed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal the batch turns into an exception while Quarto renders a project (SIGTERM
    on the publisher) stops the Quarto process instead of waiting for it to finish."""
    import signal
    import time

    bindir = tmp_path / "bin"
    bindir.mkdir()
    pid_file = tmp_path / "quarto.pid"
    script = bindir / "quarto"
    script.write_text(
        f"#!{sys.executable}\nimport os, time\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))

    class Stop(BaseException):
        pass

    def stop(signum, frame):
        raise Stop

    previous = signal.signal(signal.SIGALRM, stop)
    started = time.monotonic()
    try:
        signal.setitimer(signal.ITIMER_REAL, 2.0)
        with pytest.raises(Stop):
            render_mod.render_quarto_project(
                _project_items(executed, tmp_path, ["A", "B"]), tmp_path / "work"
            )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 20, "it waited for Quarto to finish"
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert _files(tmp_path / "work") == [], "the project folder is removed"


def test_harden_page_keeps_only_the_icon_rules_the_page_uses() -> None:
    icons = (
        '@font-face { font-family: "bootstrap-icons"; src: url(data:font/woff;base64,AAAA); }\n'
        '.bi::before { font-family: "bootstrap-icons" !important; }\n'
        '.bi-people::before { content: "\\f4cf"; }\n'
        '.bi-star::before { content: "\\f588"; }\n'
        '.bi-x-lg::before { content: "\\f659"; }\n'
    )
    page = (
        f"<html><head><style>{icons}</style><script>el.classList.add('bi-x-lg')</script>"
        '</head><body><i class="bi bi-people"></i></body></html>'
    )
    css = BeautifulSoup(render_mod.harden_page(page), "html.parser").style.string
    assert ".bi-people::before" in css and ".bi-x-lg::before" in css, "used in HTML / script"
    assert ".bi-star" not in css
    assert "@font-face" in css and ".bi::before" in css
