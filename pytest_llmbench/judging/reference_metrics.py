"""Metrics computed against the sample's reference text, in pure Python (no model).

chrF (Popović 2015: character n-grams up to 6, beta 2), ROUGE-L F1 over words and word
error rate. Values are in 0..1 (WER can exceed 1 when the output is much longer). They
equal sacrebleu's chrF, rouge-score's ROUGE-L with a tokenizer that keeps every script's
letters, and jiwer's WER after library_metrics.normalise (tests/judging prove it); the
metrics of the `reference` extra are computed by library_metrics.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from pytest_llmbench.benchmark.config import LIBRARY_SOURCES, MetricConfig

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def chrf_statistics(hypothesis: str, reference: str, order: int = 6) -> list[float]:
    """Per character n-gram order: [hypothesis n-grams, reference n-grams, matches], as
    sacrebleu's chrF statistics (whitespace removed)."""
    hyp = "".join(hypothesis.split())
    ref = "".join(reference.split())
    stats: list[float] = []
    for n in range(1, order + 1):
        h = Counter(hyp[i : i + n] for i in range(len(hyp) - n + 1))
        r = Counter(ref[i : i + n] for i in range(len(ref) - n + 1))
        stats += [sum(h.values()), sum(r.values()), sum((h & r).values())]
    return stats


def chrf(hypothesis: str, reference: str, order: int = 6, beta: float = 2.0) -> float:
    stats = chrf_statistics(hypothesis, reference, order)
    precisions, recalls = [], []
    for n in range(order):
        h, r, overlap = stats[3 * n : 3 * n + 3]
        if not h or not r:
            continue
        precisions.append(overlap / h)
        recalls.append(overlap / r)
    if not precisions:
        return 0.0
    p = sum(precisions) / len(precisions)
    r_ = sum(recalls) / len(recalls)
    if p == 0 and r_ == 0:
        return 0.0
    b2 = beta * beta
    return (1 + b2) * p * r_ / (b2 * p + r_)


def _lcs(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(hypothesis: str, reference: str) -> float:
    h, r = words(hypothesis), words(reference)
    if not h or not r:
        return 0.0
    lcs = _lcs(h, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(h), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def wer_statistics(hypothesis: str, reference: str) -> list[float]:
    """[word edits, reference words]: summed over samples, the corpus WER's parts."""
    h, r = words(hypothesis), words(reference)
    previous = list(range(len(h) + 1))
    for i, x in enumerate(r, 1):
        current = [i]
        for j, y in enumerate(h, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return [previous[-1], len(r)]


def wer(hypothesis: str, reference: str) -> float:
    edits, length = wer_statistics(hypothesis, reference)
    if not length:
        return 0.0 if not edits else 1.0
    return edits / length


METRICS: dict[str, Callable[[str, str], float]] = {"chrf": chrf, "rouge_l": rouge_l, "wer": wer}
_STATISTICS: dict[str, Callable[[str, str], list[float]]] = {
    "chrf": chrf_statistics,
    "wer": wer_statistics,
}


def _by_library(metric: MetricConfig) -> bool:
    return metric.source in LIBRARY_SOURCES or bool(metric.stemmer)


def compute(metrics: Iterable[MetricConfig], output: str, sample: Any) -> dict[str, float]:
    """Scores of the reference-sourced metrics; none when the sample has no reference."""
    reference = getattr(sample, "reference", None)
    if reference is None:
        return {}
    scores: dict[str, float] = {}
    for m in metrics:
        if _by_library(m):
            from pytest_llmbench.judging import library_metrics

            scores[m.name] = round(library_metrics.score(m, output, str(reference)), 6)
        elif m.source in METRICS:
            scores[m.name] = round(METRICS[m.source](output, str(reference)), 6)
    return scores


def corpus_statistics(
    metrics: Iterable[MetricConfig], output: str, sample: Any
) -> dict[str, list[float]]:
    """Per metric with ``aggregate: corpus``, the sample's sufficient statistics (what
    results/corpus.py sums over samples); none when the sample has no reference."""
    reference = getattr(sample, "reference", None)
    if reference is None:
        return {}
    stats: dict[str, list[float]] = {}
    for m in metrics:
        if m.aggregate != "corpus":
            continue
        if m.source in _STATISTICS:
            stats[m.name] = _STATISTICS[m.source](output, str(reference))
        else:
            from pytest_llmbench.judging import library_metrics

            stats[m.name] = library_metrics.sufficient_statistics(m.source, output, str(reference))
    return stats
