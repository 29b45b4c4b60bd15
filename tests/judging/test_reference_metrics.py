"""Every reference metric against the library users cite it from, on Russian and English."""

from __future__ import annotations

import jiwer
import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from pytest_llmbench.benchmark.config import MetricConfig
from pytest_llmbench.judging import library_metrics, reference_metrics

PAIRS = [
    ("Кошка сидит на ковре.", "Кошка сидела на ковре"),
    ("Сегодня в Москве идёт сильный дождь", "В Москве сегодня сильный дождь"),
    ("The cat sat on the mat.", "The cat is on the mat"),
    ("A quick brown fox jumps over the dog", "the quick brown fox jumped over the lazy dog"),
]


def metric(source: str, stemmer: str = "") -> MetricConfig:
    return MetricConfig("m", 0.5, 0.4, source=source, stemmer=stemmer)


class _Words:  # rouge-score's tokenizer interface, keeping Cyrillic
    def tokenize(self, text: str) -> list[str]:
        return reference_metrics.words(text)


@pytest.mark.parametrize(("hyp", "ref"), PAIRS)
def test_hand_made_metrics_equal_their_libraries(hyp: str, ref: str) -> None:
    assert reference_metrics.chrf(hyp, ref) == pytest.approx(
        sacrebleu.sentence_chrf(hyp, [ref]).score / 100, abs=1e-12
    )
    rouge = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Words()).score(ref, hyp)
    assert reference_metrics.rouge_l(hyp, ref) == pytest.approx(rouge["rougeL"].fmeasure)
    norm = library_metrics.normalise
    assert reference_metrics.wer(hyp, ref) == pytest.approx(jiwer.wer(norm(ref), norm(hyp)))


@pytest.mark.parametrize(("hyp", "ref"), PAIRS)
def test_library_metrics_are_the_library_scores_in_0_to_1(hyp: str, ref: str) -> None:
    assert library_metrics.score(metric("bleu"), hyp, ref) == pytest.approx(
        sacrebleu.sentence_bleu(hyp, [ref]).score / 100
    )
    assert library_metrics.score(metric("ter"), hyp, ref) == pytest.approx(
        sacrebleu.sentence_ter(hyp, [ref]).score / 100
    )
    assert library_metrics.score(metric("chrf++"), hyp, ref) == pytest.approx(
        sacrebleu.sentence_chrf(hyp, [ref], word_order=2).score / 100
    )
    for source, kind in (("rouge_1", "rouge1"), ("rouge_2", "rouge2")):
        rouge = rouge_scorer.RougeScorer([kind], tokenizer=_Words()).score(ref, hyp)
        assert library_metrics.score(metric(source), hyp, ref) == pytest.approx(
            rouge[kind].fmeasure
        )
    norm = library_metrics.normalise
    assert library_metrics.score(metric("cer"), hyp, ref) == pytest.approx(
        jiwer.cer(norm(ref), norm(hyp))
    )


def test_rouge_keeps_cyrillic_where_the_default_tokenizer_scores_zero() -> None:
    hyp, ref = PAIRS[1]
    default = rouge_scorer.RougeScorer(["rouge1"]).score(ref, hyp)["rouge1"].fmeasure
    assert default == 0.0
    assert library_metrics.score(metric("rouge_1"), hyp, ref) == pytest.approx(10 / 11)


def test_the_russian_stemmer_matches_inflected_forms() -> None:
    hyp, ref = "Кошка сидит на ковре", "Кошки сидели на ковре"
    plain = library_metrics.score(metric("rouge_1"), hyp, ref)
    stemmed = library_metrics.score(metric("rouge_1", "russian"), hyp, ref)
    assert plain == pytest.approx(0.5)
    assert stemmed == pytest.approx(0.75)  # кошк, на, ковр; сид != сидел


def test_compute_dispatches_hand_and_library_metrics_and_rounds() -> None:
    class Sample:
        reference = "The cat is on the mat"

    metrics = [metric("wer"), MetricConfig("b", 0.5, 0.4, source="bleu")]
    scores = reference_metrics.compute(metrics, "The cat sat on the mat.", Sample())
    assert scores == {
        "m": round(1 / 6, 6),
        "b": round(
            sacrebleu.sentence_bleu("The cat sat on the mat.", [Sample.reference]).score / 100, 6
        ),
    }


def test_signatures_are_sacrebleus_and_name_the_library_versions() -> None:
    corpus = MetricConfig("b", 0.3, 0.2, source="bleu", aggregate="corpus")
    assert library_metrics.signature(corpus) == (
        f"nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:{sacrebleu.__version__}"
    )
    assert library_metrics.signature(metric("bleu")) == (
        f"nrefs:1|case:mixed|eff:yes|tok:13a|smooth:exp|version:{sacrebleu.__version__}"
    )
    assert library_metrics.signature(metric("rouge_l")) is None  # by hand, no library
    assert str(library_metrics.signature(metric("rouge_l", "russian"))).endswith(
        "|tok:unicode-words|stem:russian"
    )


texts = st.text(st.sampled_from("аб вгa bc.,"), max_size=30)


@settings(max_examples=60, deadline=None)
@given(texts, texts)
def test_hand_chrf_and_wer_equal_the_libraries_on_any_text(hyp: str, ref: str) -> None:
    assert reference_metrics.chrf(hyp, ref) == pytest.approx(
        sacrebleu.sentence_chrf(hyp, [ref]).score / 100, abs=1e-9
    )
    norm = library_metrics.normalise
    if norm(ref):
        assert reference_metrics.wer(hyp, ref) == pytest.approx(jiwer.wer(norm(ref), norm(hyp)))
