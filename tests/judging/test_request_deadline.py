"""timeout_s is a deadline on the whole request (connect, send, the whole body): a reply
dripped a byte at a time is cut there, as a timeout, and retried like one.

Every test runs under a guard (asyncio.wait_for) far above its bound, so that a
regression fails instead of hanging the suite; no assertion is on wall-clock time.
"""

from __future__ import annotations

from support.deadlines import METRICS, guarded, messages, short_judge
from support.judge_server import JudgeServer

from pytest_llmbench.benchmark.judge_config import JudgeConfig
from pytest_llmbench.judging.chat_completions import OpenAIJudge
from pytest_llmbench.judging.judge_protocol import JudgeRequest
from pytest_llmbench.judging.result import JudgeResult


def score_in_process(judge: JudgeConfig, marker: str) -> tuple[JudgeResult, OpenAIJudge]:
    async def go() -> tuple[JudgeResult, OpenAIJudge]:
        async with OpenAIJudge(judge, api_key=None) as engine:
            return await engine.score(JudgeRequest(messages(marker), METRICS)), engine

    return guarded(go)


# -- timeout_s is a deadline on the whole request -------------------------------------------


def test_a_reply_dripped_a_byte_at_a_time_is_cut_at_timeout_s_and_retried() -> None:
    # A byte every 0.25 s keeps any per-read timeout of 1 s happy for minutes.
    with JudgeServer(script=[("drip", 0.25), ("drip", 0.25)]) as srv:
        result, engine = score_in_process(short_judge(srv.url), "s-1")
        assert len(srv.requests) == 2
    assert (result.status, result.reason) == (
        "unscored",
        "judge unavailable after 2 attempts: timed out after 1 s",
    )
    assert engine.stats.transient_errors == {"timeout": 2}


def test_a_dripping_reply_then_a_good_one_scores_on_the_retry() -> None:
    with JudgeServer(script=[("drip", 0.25)]) as srv:
        result, engine = score_in_process(short_judge(srv.url), "s-1")
        assert len(srv.requests) == 2
    assert (result.status, result.scores) == ("scored", {"coverage": 0.9, "accuracy": 0.9})
    assert (result.attempts, result.retries) == (2, 1)
    assert engine.stats.transient_errors == {"timeout": 1}


def test_a_judge_that_never_answers_ends_unscored_after_its_attempts() -> None:
    with JudgeServer(script=[("never",)] * 3) as srv:
        result, _ = score_in_process(short_judge(srv.url, attempts=3), "s-1")
        assert len(srv.requests) == 3
    assert result.reason == "judge unavailable after 3 attempts: timed out after 1 s"


def test_a_call_bound_counts_every_request_a_call_may_make_and_the_waits() -> None:
    judge = short_judge("http://127.0.0.1:1", timeout_s=2, attempts=3)
    # Three attempts and two structured-output downgrades of 2 s, and 1 s of waits.
    assert judge.call_bound_s == 5 * 2 + 1
    pinned = JudgeConfig(
        name="x", kind="openai", timeout_s=2, structured_output="none", retries=judge.retries
    )
    assert pinned.call_bound_s == 3 * 2 + 1
