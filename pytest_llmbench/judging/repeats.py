"""A sample judged K times (`repeats:`): its K results made one, the mean of their scores.

The sample is scored when at least one repeat is, with the mean over the scored repeats
per metric (every scored repeat returns every judged metric); the repeats that failed keep
their reason in `repeats`, and the record shows each. With none scored, the sample is
unscored with the first repeat's reason. What the calls cost is summed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from pytest_llmbench.judging.result import JudgeResult

__all__ = ["combine"]


def combine(results: Sequence[JudgeResult]) -> JudgeResult:
    """The one result of a sample's repeats, in repeat order (one result: itself)."""
    if len(results) == 1:
        return results[0]
    scored = [r for r in results if r.status == "scored"]
    spent = JudgeResult(
        status="unscored",
        attempts=sum(r.attempts for r in results),
        retries=sum(r.retries for r in results),
        latency_s=max(r.latency_s for r in results),  # made at once: the slowest one
        prompt_tokens=sum(r.prompt_tokens for r in results),
        completion_tokens=sum(r.completion_tokens for r in results),
        cached=all(r.cached for r in results),
        started=any(r.started for r in results),
        claimed=any(r.claimed for r in results),
        repeats=tuple(results),
    )
    if not scored:
        first = results[0]
        return dataclasses.replace(
            spent, reason=first.reason, reason_code=first.reason_code, raw_reply=first.raw_reply
        )
    raw: dict[str, float] | None = None
    if all(r.raw_scores is not None for r in scored):
        raw = _means([r.raw_scores or {} for r in scored])
    return dataclasses.replace(
        spent,
        status="scored",
        scores=_means([r.scores for r in scored]),
        raw_scores=raw,
        reasoning=scored[0].reasoning,
        raw_reply=scored[0].raw_reply,
    )


def _means(each: Sequence[dict[str, float]]) -> dict[str, float]:
    names = sorted(set().union(*each))
    means: dict[str, float] = {}
    for name in names:
        values = sorted(scores[name] for scores in each if name in scores)
        means[name] = math.fsum(values) / len(values)
    return means
