"""The "may be out of date" banner of a page header shows in a real browser exactly when
the page is opened after its fresh-until time (rfa.layout), and stays hidden before."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from browser_helpers import launch
from rfa import layout
from test_layout import _meta

pytestmark = [pytest.mark.slow, pytest.mark.browser]

BANNER = ".rfa-banner--stale"


def _visible(tmp_path, meta) -> bool:
    html = layout.page_header(SimpleNamespace(meta=meta, kpis=[])).html
    page_file = tmp_path / "page.html"
    page_file.write_text(f"<!doctype html><html lang='en'><body>{html}</body></html>")
    with launch() as browser:
        page = browser.new_page()
        page.goto(page_file.as_uri())
        visible = page.locator(BANNER).is_visible()
        page.close()
    return visible


def test_a_page_past_its_fresh_until_time_says_it_may_be_out_of_date(tmp_path):
    old = _meta(as_of=dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
    old = old.model_copy(update={"generated_at": old.window.end})  # rolling, 3 days ago
    assert layout.fresh_until(old) < dt.datetime.now(dt.UTC)
    assert _visible(tmp_path, old)


def test_a_fresh_page_shows_no_banner(tmp_path):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    fresh = _meta(as_of=now).model_copy(update={"generated_at": now})
    assert layout.fresh_until(fresh) > now
    assert not _visible(tmp_path, fresh)
