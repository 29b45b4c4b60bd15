"""The dry-run judge: scores from the sample's stored ground_truth, with no network."""

from __future__ import annotations

from pytest_llmbench.judging.judge_protocol import JudgeRequest
from pytest_llmbench.judging.result import JudgeResult

__all__ = ["DryRunJudge"]


class DryRunJudge:
    """A `Judge` that runs in the item process, in the calling thread: `score` never
    awaits, so the service runs it without an event loop and a dry run starts none."""

    async def score(self, request: JudgeRequest) -> JudgeResult:
        """The request's ground_truth for its metrics, or unscored naming what is missing."""
        missing = [metric for metric in request.metrics if metric not in request.ground_truth]
        if missing:
            names = ", ".join(f'"{metric}"' for metric in missing)
            return JudgeResult(
                status="unscored",
                reason=(
                    f'no ground_truth for {names} in sample "{request.sample_id}"; '
                    "the dry-run judge scores only from stored ground_truth"
                ),
            )
        return JudgeResult(
            status="scored",
            scores={metric: float(request.ground_truth[metric]) for metric in request.metrics},
        )

    async def aclose(self) -> None:
        """Nothing to release."""
