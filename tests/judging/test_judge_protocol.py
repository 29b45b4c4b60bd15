"""The Judge protocol: the dry-run judge, the chat-completions judge and the helper
process's proxy all implement it, and the dry-run judge scores from ground truth alone."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from support.judges import judge_config

from pytest_llmbench.judging.chat_completions import OpenAIJudge
from pytest_llmbench.judging.dry_run import DryRunJudge
from pytest_llmbench.judging.helper_process import JudgeProcess, RemoteJudge
from pytest_llmbench.judging.judge_protocol import Judge, JudgeRequest
from pytest_llmbench.judging.result import JudgeResult

JUDGE = judge_config("http://127.0.0.1:9")


def implementations() -> list[object]:
    return [
        DryRunJudge(),
        OpenAIJudge(JUDGE, api_key=None),
        RemoteJudge(JudgeProcess({"local": JUDGE}, {"local": None}), JUDGE),
    ]


@pytest.mark.parametrize("judge", implementations(), ids=lambda j: type(j).__name__)
def test_each_judge_implements_the_protocol_with_coroutines(judge: object) -> None:
    assert isinstance(judge, Judge)
    # isinstance() checks only that the methods exist: the service awaits both.
    assert inspect.iscoroutinefunction(judge.score)
    assert inspect.iscoroutinefunction(judge.aclose)


def test_an_object_without_aclose_is_not_a_judge() -> None:
    class ScoreOnly:
        async def score(self, request: JudgeRequest) -> JudgeResult:
            return JudgeResult(status="scored")

    assert not isinstance(ScoreOnly(), Judge)


@pytest.mark.parametrize(
    ("ground_truth", "expected"),
    [
        (
            {"coverage": 0.75, "accuracy": 1, "extra": 0.1},
            JudgeResult(status="scored", scores={"coverage": 0.75, "accuracy": 1.0}),
        ),
        (
            {"coverage": 0.75},
            JudgeResult(
                status="unscored",
                reason='no ground_truth for "accuracy" in sample "tg-7"; '
                "the dry-run judge scores only from stored ground_truth",
            ),
        ),
        (
            {},
            JudgeResult(
                status="unscored",
                reason='no ground_truth for "coverage", "accuracy" in sample "tg-7"; '
                "the dry-run judge scores only from stored ground_truth",
            ),
        ),
    ],
)
def test_the_dry_run_judge_returns_the_stored_ground_truth_or_names_what_is_missing(
    ground_truth: dict[str, float], expected: JudgeResult
) -> None:
    request = JudgeRequest(
        [], ("coverage", "accuracy"), sample_id="tg-7", ground_truth=ground_truth
    )
    assert asyncio.run(DryRunJudge().score(request)) == expected
