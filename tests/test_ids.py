"""Ids in their text and compact forms (rfa.ids, issue 6)."""

from __future__ import annotations

import uuid

import polars as pl
import pytest

from rfa.ids import id_text, texts, to_compact

IDS = [str(uuid.UUID(int=n * 0x1234567890ABCDEF)) for n in (1, 2, 3)]


def test_to_compact_gives_the_uuid_bytes_and_back():
    text = pl.Series("id", [*IDS, None])
    compact = to_compact(text, True)
    assert compact.dtype == pl.Binary
    assert compact.to_list() == [uuid.UUID(v).bytes for v in IDS] + [None]
    assert texts(compact).to_list() == text.to_list()
    assert [id_text(v) for v in compact.to_list()] == [*IDS, None]


def test_text_forms_are_accepted_and_left_alone_on_text_backends():
    upper = pl.Series("id", [v.replace("-", "").upper() for v in IDS])
    assert to_compact(upper, True).to_list() == [uuid.UUID(v).bytes for v in IDS]
    text = pl.Series("id", IDS)
    assert to_compact(text, False) is text  # SQLite: ids stay text
    assert texts(text) is text and id_text("abc") == "abc" and id_text(None) is None
    assert to_compact(to_compact(text, True), True).dtype == pl.Binary


@pytest.mark.parametrize("bad", ["abcd", "00"])
def test_text_that_is_not_a_uuid_is_refused(bad):
    with pytest.raises(pl.exceptions.ComputeError):
        to_compact(pl.Series("id", [bad]), True)
    with pytest.raises(ValueError):
        id_text(b"short")
