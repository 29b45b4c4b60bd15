"""Corpus scores (``aggregate: corpus``) from the samples' sufficient statistics, with a
seeded bootstrap interval over samples.

Corpus BLEU is not the mean of sentence BLEU: n-gram matches and lengths are summed over
the samples first, then the score is computed once. The formulas are sacrebleu's
(``BLEU.compute_bleu`` with exp smoothing, ``CHRF._compute_f_score``, ``TER``), written
out so that a record can be aggregated, merged and re-reported without the library
(tests prove they equal sacrebleu's corpus scores). Scores are in 0..1 (TER and WER can
exceed 1).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from pytest_llmbench.results.statistics import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, percentile

__all__ = ["CORPUS_SCORES", "bleu", "chrf", "corpus_summary", "edit_rate"]

Stats = Sequence[float]
_BLEU_ORDER = 4


def bleu(stats: Stats) -> float:
    """[hyp length, ref length, matches 1..4, hyp n-grams 1..4] summed -> corpus BLEU."""
    sys_len, ref_len = stats[0], stats[1]
    correct = stats[2 : 2 + _BLEU_ORDER]
    total = stats[2 + _BLEU_ORDER : 2 + 2 * _BLEU_ORDER]
    if not any(correct):
        return 0.0
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    smooth, logs = 1.0, []
    for c, t in zip(correct, total, strict=True):
        if t == 0:
            return 0.0  # an order the system never reached: sacrebleu's log(0) term
        if c == 0:
            smooth *= 2
            logs.append(math.log(1 / (smooth * t)))
        else:
            logs.append(math.log(c / t))
    return bp * math.exp(math.fsum(logs) / _BLEU_ORDER)


def chrf(stats: Stats, beta: float = 2.0) -> float:
    """[hyp, ref, matches] per order (characters, then words for chrF++) summed -> chrF."""
    precision = recall = 0.0
    effective = 0
    for i in range(len(stats) // 3):
        n_hyp, n_ref, n_match = stats[3 * i : 3 * i + 3]
        if n_hyp > 0 and n_ref > 0:
            precision += n_match / n_hyp
            recall += n_match / n_ref
            effective += 1
    if effective == 0:
        return 0.0
    precision, recall = precision / effective, recall / effective
    if precision + recall == 0:
        return 0.0
    b2 = beta * beta
    return (1 + b2) * precision * recall / (b2 * precision + recall)


def edit_rate(stats: Stats) -> float:
    """[edits, reference length] summed -> TER or WER."""
    edits, length = stats[0], stats[1]
    if length > 0:
        return edits / length
    return 1.0 if edits > 0 else 0.0


CORPUS_SCORES: dict[str, Callable[[Stats], float]] = {
    "bleu": bleu,
    "chrf": chrf,
    "chrf++": chrf,
    "ter": edit_rate,
    "wer": edit_rate,
}


def _summed(rows: Sequence[Stats]) -> list[float]:
    return [math.fsum(column) for column in zip(*rows, strict=True)]


def corpus_summary(
    source: str, rows: Sequence[Stats]
) -> tuple[float | None, tuple[float, float] | None]:
    """The corpus score of the samples' statistics and its 95% percentile-bootstrap
    interval over samples (seeded: the same rows give the same interval, in any order);
    (None, None) with no rows, no interval with one. Raises ValueError for rows of
    different lengths or a source without a corpus score."""
    formula = CORPUS_SCORES[source]
    ordered = sorted(tuple(float(x) for x in row) for row in rows)
    if not ordered:
        return None, None
    if len({len(row) for row in ordered}) != 1:
        raise ValueError("the samples' statistics differ in length")
    value = formula(_summed(ordered))
    if len(ordered) == 1:
        return value, None
    rng = random.Random(BOOTSTRAP_SEED)
    n = len(ordered)
    draws = sorted(
        formula(_summed([ordered[rng.randrange(n)] for _ in range(n)]))
        for _ in range(BOOTSTRAP_RESAMPLES)
    )
    return value, (percentile(draws, 0.025), percentile(draws, 0.975))
