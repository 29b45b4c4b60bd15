"""The PII fuzz corpus (tests/fuzz/pii/): tricky texts and, in expected.json, the kinds the
detectors must find in each, in text order; scrubbing each leaves none of them behind."""

from __future__ import annotations

import pytest
from support.corpus import FUZZ, expected, names

from pytest_llmbench.datasets.pii import Placeholders, find
from pytest_llmbench.datasets.pii.dataset import scrub_text

pytest.importorskip("natasha", reason="the pii extra (natasha) is not installed")


@pytest.mark.parametrize("name", names("pii"))
def test_each_corpus_text_gives_exactly_the_kinds_expected(name: str) -> None:
    text = (FUZZ / "pii" / name).read_text("utf-8")
    assert [span.kind for span in find(text)] == expected("pii")[name]


@pytest.mark.parametrize("name", names("pii"))
def test_each_corpus_text_scrubbed_holds_nothing_found(name: str) -> None:
    text = (FUZZ / "pii" / name).read_text("utf-8")
    values = {text[s.start : s.end] for s in find(text)}
    scrubbed = scrub_text(text, Placeholders(), names=True)
    assert find(scrubbed) == []
    assert not any(value in scrubbed for value in values)


def test_the_corpus_has_an_expectation_for_every_file() -> None:
    assert sorted(expected("pii")) == names("pii")
