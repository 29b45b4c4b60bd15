"""The dry-run judge: scores from the sample's stored ground_truth, with no network."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.judging.result import JudgeResult

__all__ = ["dry_run_score"]


def dry_run_score(sample: Sample, metrics: Sequence[str]) -> JudgeResult:
    """The sample's ground_truth for `metrics`, or unscored naming what is missing."""
    missing = [metric for metric in metrics if metric not in sample.ground_truth]
    if missing:
        names = ", ".join(f'"{metric}"' for metric in missing)
        return JudgeResult(
            status="unscored",
            reason=(
                f'no ground_truth for {names} in sample "{sample.id}"; '
                "the dry-run judge scores only from stored ground_truth"
            ),
        )
    return JudgeResult(
        status="scored",
        scores={metric: float(sample.ground_truth[metric]) for metric in metrics},
    )
