"""Metrics computed against the sample's reference text, in pure Python (no model).

chrF (Popović 2015: character n-grams up to 6, beta 2), ROUGE-L F1 over words and word
error rate. Values are in 0..1 (WER can exceed 1 when the output is much longer).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from pytest_llmbench.benchmark.config import MetricConfig

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def chrf(hypothesis: str, reference: str, order: int = 6, beta: float = 2.0) -> float:
    hyp = "".join(hypothesis.split())
    ref = "".join(reference.split())
    precisions, recalls = [], []
    for n in range(1, order + 1):
        h = Counter(hyp[i : i + n] for i in range(len(hyp) - n + 1))
        r = Counter(ref[i : i + n] for i in range(len(ref) - n + 1))
        if not h or not r:
            continue
        overlap = sum((h & r).values())
        precisions.append(overlap / sum(h.values()))
        recalls.append(overlap / sum(r.values()))
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


def wer(hypothesis: str, reference: str) -> float:
    h, r = words(hypothesis), words(reference)
    if not r:
        return 0.0 if not h else 1.0
    previous = list(range(len(h) + 1))
    for i, x in enumerate(r, 1):
        current = [i]
        for j, y in enumerate(h, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1] / len(r)


METRICS: dict[str, Callable[[str, str], float]] = {"chrf": chrf, "rouge_l": rouge_l, "wer": wer}


def compute(metrics: Iterable[MetricConfig], output: str, sample: Any) -> dict[str, float]:
    """Scores of the reference-sourced metrics; none when the sample has no reference."""
    reference = getattr(sample, "reference", None)
    if reference is None:
        return {}
    return {
        m.name: round(METRICS[m.source](output, str(reference)), 6)
        for m in metrics
        if m.source in METRICS
    }
