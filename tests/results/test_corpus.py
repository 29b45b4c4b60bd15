"""Corpus scores from sufficient statistics equal sacrebleu's corpus scores."""

from __future__ import annotations

import jiwer
import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmbench.judging.library_metrics import normalise, sufficient_statistics
from pytest_llmbench.judging.reference_metrics import chrf_statistics, wer_statistics
from pytest_llmbench.results import corpus

HYPS = ["Кошка сидит на ковре.", "The cat sat on the mat", "привет мир", "a quick brown fox"]
REFS = ["Кошка сидела на ковре", "The cat is on the mat", "здравствуй мир", "the quick brown fox"]


def rows(source: str) -> list[list[float]]:
    return [sufficient_statistics(source, h, r) for h, r in zip(HYPS, REFS, strict=True)]


def test_corpus_bleu_is_sacrebleus_and_not_the_mean_of_sentence_bleu() -> None:
    value, ci95 = corpus.corpus_summary("bleu", rows("bleu"))
    assert value is not None
    assert value == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score / 100)
    sentence = [
        sacrebleu.sentence_bleu(h, [r]).score / 100 for h, r in zip(HYPS, REFS, strict=True)
    ]
    assert abs(value - sum(sentence) / len(sentence)) > 0.05
    assert ci95 is not None and ci95[0] <= value <= ci95[1]


def test_corpus_chrf_ter_and_wer_are_the_libraries() -> None:
    assert corpus.corpus_summary("chrf++", rows("chrf++"))[0] == pytest.approx(
        sacrebleu.corpus_chrf(HYPS, [REFS], word_order=2).score / 100
    )
    assert corpus.corpus_summary("ter", rows("ter"))[0] == pytest.approx(
        sacrebleu.corpus_ter(HYPS, [REFS]).score / 100
    )
    chrf_rows = [chrf_statistics(h, r) for h, r in zip(HYPS, REFS, strict=True)]
    assert corpus.corpus_summary("chrf", chrf_rows)[0] == pytest.approx(
        sacrebleu.corpus_chrf(HYPS, [REFS]).score / 100
    )
    wer_rows = [wer_statistics(h, r) for h, r in zip(HYPS, REFS, strict=True)]
    assert corpus.corpus_summary("wer", wer_rows)[0] == pytest.approx(
        jiwer.wer([normalise(r) for r in REFS], [normalise(h) for h in HYPS])
    )


def test_the_interval_is_seeded_and_independent_of_sample_order() -> None:
    forward = corpus.corpus_summary("bleu", rows("bleu"))
    assert corpus.corpus_summary("bleu", rows("bleu")[::-1]) == forward


def test_no_rows_is_no_value_and_one_row_has_no_interval() -> None:
    assert corpus.corpus_summary("ter", []) == (None, None)
    assert corpus.corpus_summary("ter", [[1.0, 4.0]]) == (0.25, None)


def test_rows_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        corpus.corpus_summary("ter", [[1.0, 4.0], [1.0]])


words = st.lists(st.sampled_from(["кот", "сидит", "the", "cat", "mat", "на"]), max_size=8)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(words, words), min_size=1, max_size=5))
def test_corpus_bleu_equals_sacrebleu_on_any_corpus(
    pairs: list[tuple[list[str], list[str]]],
) -> None:
    hyps = [" ".join(h) for h, _ in pairs]
    refs = [" ".join(r) for _, r in pairs]
    stats = [sufficient_statistics("bleu", h, r) for h, r in zip(hyps, refs, strict=True)]
    assert corpus.bleu([sum(c) for c in zip(*stats, strict=True)]) == pytest.approx(
        sacrebleu.corpus_bleu(hyps, [refs]).score / 100, abs=1e-9
    )
