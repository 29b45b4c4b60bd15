"""The hostile-input corpora (tests/fuzz/configs, datasets, prompts), each file through its
parser: what it reads, or the one-line error expected.json says; never another exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.corpus import expected, names, outcome

CORPORA = ("configs", "datasets", "prompts")
CASES = [(corpus, name) for corpus in CORPORA for name in names(corpus)]


@pytest.mark.parametrize("corpus", CORPORA)
def test_every_corpus_file_has_an_expectation_and_every_expectation_a_file(corpus: str) -> None:
    assert names(corpus) == sorted(expected(corpus))


@pytest.mark.parametrize(("corpus", "name"), CASES, ids=[f"{c}/{n}" for c, n in CASES])
def test_hostile_inputs_from_the_corpus_are_read_as_expected(
    tmp_path: Path, corpus: str, name: str
) -> None:
    assert outcome(tmp_path, corpus, name) == expected(corpus)[name]


@pytest.mark.parametrize(("corpus", "name"), CASES, ids=[f"{c}/{n}" for c, n in CASES])
def test_every_error_in_the_corpus_is_one_line_naming_the_file(corpus: str, name: str) -> None:
    message = expected(corpus)[name].get("error") or expected(corpus)[name].get("render_error")
    if message is None:
        return
    file = {"configs": "benchmarks/", "datasets": "data/", "prompts": "prompts/"}[corpus]
    assert message.startswith(file) and "\n" not in message and len(message) < 400
