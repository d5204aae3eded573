"""Charts as display objects: one HTML output with an SVG image and an escaped alt text."""

from __future__ import annotations

import base64
import re

from matplotlib.figure import Figure

from rfa import charts


def _chart(alt: str) -> charts.Chart:
    fig = Figure(figsize=(4, 3))
    fig.subplots().plot([0, 1], [1, 2])
    return charts.Chart(fig, alt)


def test_repr_html_is_one_figure_with_an_svg_image_and_escaped_alt():
    hostile = '"><script>alert(1)</script><img src=x onerror=alert(2) alt="'
    html = _chart(hostile)._repr_html_()
    assert html.startswith('<figure class="rfa-chart"><img src="data:image/svg+xml;base64,')
    assert html.endswith("</figure>")
    assert "<script" not in html
    assert html.count("<img") == 1
    alt = re.search(r' alt="([^"]*)"', html).group(1)
    assert alt == (
        "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2) alt=&#34;"
    )
    data = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', html).group(1)
    svg = base64.b64decode(data).decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert 'style="max-width:100%;height:auto"' in html


def test_mimebundle_has_html_and_the_alt_as_plain_text():
    bundle = _chart("Sessions per day: 12 sessions.")._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}
    assert bundle["text/plain"] == "Sessions per day: 12 sessions."


def test_svg_keeps_text_as_text():
    fig = Figure(figsize=(4, 3))
    fig.subplots().set_title("Hello chart")
    svg = charts.Chart(fig, "x").svg.decode()
    assert "Hello chart" in svg
