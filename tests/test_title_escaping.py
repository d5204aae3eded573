"""A page title made of database text (account, flow or engineer name) reaches the page
as text in both renderers, never as markup or a link (issue 16 §1). Quarto parses the
``title`` metadata as Markdown, so the title is written as a Markdown literal."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbformat.v4 import new_code_cell, new_notebook, new_output, new_raw_cell

from rfa.publish import render

HOSTILE = 'Kiwi <img src=x onerror="window.__x=1"> [x](javascript:alert(1)) *em* & `c` \\ $m$'
FRONT = """---
title: "Placeholder"
format:
  dashboard:
    embed-resources: true
    theme: default
execute:
  echo: false
---"""


def _executed(tmp_path: Path) -> Path:
    cell = new_code_cell("1")
    cell.outputs = [new_output("display_data", data={"text/plain": "1"})]
    nb = new_notebook(cells=[new_raw_cell(FRONT), cell])
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python", "language": "python"}
    }
    path = tmp_path / "build" / "page.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path


def test_markdown_literal_escapes_every_ascii_punctuation():
    assert render.markdown_literal("a <b> [x](y) *_ & é") == r"a \<b\> \[x\]\(y\) \*\_ \& é"


def test_the_quarto_front_matter_carries_the_title_as_a_markdown_literal(tmp_path):
    nb = json.loads(_executed(tmp_path).read_text())
    front = render.quarto_notebook(nb, HOSTILE)["cells"][0]
    text = "".join(front["source"])
    assert "<img" not in text.replace("\\<img", "")  # every '<' is escaped
    assert "\\[x\\]\\(javascript\\:" in text


def _check(page: str) -> None:
    soup = BeautifulSoup(page, "html.parser")
    assert not soup.find("img", attrs={"onerror": True}), "title became an <img>"
    assert not soup.find("a", href=re.compile(r"^\s*javascript:", re.I)), "title became a link"
    assert not soup.find("em", string="em"), "title became emphasis"
    assert "window.__x=1" in soup.get_text(" ")  # shown as text


def test_nbconvert_page_shows_a_hostile_title_as_text(tmp_path):
    out = tmp_path / "out" / "page.html"
    render.render_nbconvert(_executed(tmp_path), out, HOSTILE)
    _check(out.read_text())


@pytest.mark.slow
@pytest.mark.quarto
def test_quarto_page_shows_a_hostile_title_as_text(tmp_path, quarto_exe):
    out = tmp_path / "out" / "page.html"
    render.render_quarto(_executed(tmp_path), out, HOSTILE, quarto=quarto_exe)
    _check(out.read_text())
