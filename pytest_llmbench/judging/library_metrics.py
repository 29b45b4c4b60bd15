"""Reference metrics from the field's own libraries (the `reference` extra): BLEU, TER and
chrF++ through sacrebleu, ROUGE-1/2 (and ROUGE-L with a stemmer) through rouge-score, CER
through jiwer. Each library is imported on first use, so the core install never needs it;
the config refuses such a metric up front when its library is missing.

Scores are the library's, in 0..1 (sacrebleu's 0..100 divided by 100; TER and CER can
exceed 1). ``sufficient_statistics`` gives what ``results/corpus.py`` sums for
``aggregate: corpus``.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from typing import Any, Protocol

from pytest_llmbench.benchmark.config import MetricConfig

__all__ = ["normalise", "score", "signature", "sufficient_statistics"]

_NON_WORD = re.compile(r"\W+", re.UNICODE)


def normalise(text: str) -> str:
    """The text jiwer's CER (and the hand-made WER) is computed on: lower-cased, every run
    of characters that are not letters, digits or ``_`` (punctuation, whitespace) made one
    space, trimmed."""
    return _NON_WORD.sub(" ", text.lower()).strip()


class _Scorer(Protocol):  # sacrebleu's metrics, as used here
    def sentence_score(self, hypothesis: str, references: list[str]) -> Any: ...

    def get_signature(self) -> Any: ...

    def corpus_score(self, hypotheses: list[str], references: list[list[str]]) -> Any: ...

    def _extract_corpus_statistics(self, hyps: list[str], refs: list[list[str]]) -> Any: ...


@functools.cache
def _sacrebleu(source: str, corpus: bool) -> _Scorer:
    return _new_sacrebleu(source, corpus)


def _new_sacrebleu(source: str, corpus: bool) -> _Scorer:
    import sacrebleu

    if source == "bleu":
        # Sentence BLEU needs effective order (sacrebleu's sentence_bleu); corpus BLEU not.
        return sacrebleu.BLEU(effective_order=not corpus)
    if source == "ter":
        return sacrebleu.TER()
    return sacrebleu.CHRF(word_order=2)  # chrF++


class _Tokenizer:
    """rouge-score's tokenizer interface, keeping every script's letters (its default keeps
    only a-z and 0-9, so Cyrillic text scores 0), optionally stemmed with Snowball."""

    def __init__(self, stemmer: str) -> None:
        self._stem: Any = None
        if stemmer:
            import snowballstemmer

            self._stem = snowballstemmer.stemmer(stemmer)

    def tokenize(self, text: str) -> list[str]:
        words = normalise(text).split()
        return list(self._stem.stemWords(words)) if self._stem is not None else words


_ROUGE_TYPES = {"rouge_1": "rouge1", "rouge_2": "rouge2", "rouge_l": "rougeL"}


@functools.cache
def _rouge(source: str, stemmer: str) -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([_ROUGE_TYPES[source]], tokenizer=_Tokenizer(stemmer))


def score(metric: MetricConfig, hypothesis: str, reference: str) -> float:
    """The sample's score under a library metric (a source in config.LIBRARY_SOURCES, or a
    ROUGE source with a stemmer)."""
    if metric.source in _ROUGE_TYPES:
        result = _rouge(metric.source, metric.stemmer).score(reference, hypothesis)
        return float(result[_ROUGE_TYPES[metric.source]].fmeasure)
    if metric.source == "cer":
        import jiwer

        ref, hyp = normalise(reference), normalise(hypothesis)
        if not ref:
            return 0.0 if not hyp else 1.0
        return float(jiwer.cer(ref, hyp))
    scored = _sacrebleu(metric.source, corpus=False).sentence_score(hypothesis, [reference])
    return float(scored.score) / 100


def sufficient_statistics(source: str, hypothesis: str, reference: str) -> list[float]:
    """sacrebleu's per-sentence statistics for bleu, ter and chrf++: summed over samples
    they give the corpus score (results/corpus.py)."""
    stats = _sacrebleu(source, corpus=True)._extract_corpus_statistics([hypothesis], [[reference]])
    return [float(x) for x in stats[0]]


def signature(metric: MetricConfig) -> str | None:
    """What a reader needs to cite the score: sacrebleu's signature string, or the
    library, version, tokenizer and stemmer for rouge-score and jiwer; None for a metric
    computed by hand without a library."""
    if metric.source in ("bleu", "ter", "chrf++"):
        scorer = _new_sacrebleu(metric.source, corpus=metric.aggregate == "corpus")
        scorer.corpus_score(["x"], [["x"]])  # sacrebleu signs only a metric that has
        return str(scorer.get_signature())  # counted its references (nrefs:1)
    if metric.source in _ROUGE_TYPES and (metric.source != "rouge_l" or metric.stemmer):
        version = importlib.metadata.version("rouge-score")
        return f"rouge-score:{version}|tok:unicode-words|stem:{metric.stemmer or 'no'}"
    if metric.source == "cer":
        return f"jiwer:{importlib.metadata.version('jiwer')}|norm:lower-nonword-space"
    return None
