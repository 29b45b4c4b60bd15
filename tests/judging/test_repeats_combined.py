"""A sample's repeats made one result (judging/repeats.py): the mean of the scored ones,
each kept, what they cost summed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.judging.repeats import combine
from pytest_llmbench.judging.result import JudgeResult


def scored(coverage: float, accuracy: float, attempts: int = 0, tokens: int = 0) -> JudgeResult:
    return JudgeResult(
        status="scored",
        scores={"coverage": coverage, "accuracy": accuracy},
        attempts=attempts,
        prompt_tokens=tokens,
        completion_tokens=tokens // 2,
    )


def test_one_judgement_is_itself() -> None:
    only = scored(0.5, 0.5)
    assert combine([only]) is only


def test_the_score_is_the_mean_of_the_scored_repeats_and_each_is_kept() -> None:
    results = [
        scored(0.6, 0.9, attempts=1, tokens=10),
        JudgeResult(status="unscored", reason="timed out", attempts=3, retries=2),
        scored(0.8, 0.7, attempts=1, tokens=10),
    ]
    combined = combine(results)
    assert combined.status == "scored"
    assert combined.scores == {"accuracy": pytest.approx(0.8), "coverage": pytest.approx(0.7)}
    assert combined.repeats == tuple(results)
    assert (combined.attempts, combined.retries) == (5, 2)
    assert (combined.prompt_tokens, combined.completion_tokens) == (20, 10)
    assert combined.cached is False


def test_no_scored_repeat_leaves_the_sample_unscored_with_the_first_reason() -> None:
    results = [
        JudgeResult(status="unscored", reason="budget exhausted", reason_code="budget_exhausted"),
        JudgeResult(status="unscored", reason="HTTP 500"),
    ]
    combined = combine(results)
    assert (combined.status, combined.reason, combined.reason_code) == (
        "unscored",
        "budget exhausted",
        "budget_exhausted",
    )
    assert combined.scores == {}
    assert combined.repeats == tuple(results)


def test_all_cached_repeats_are_a_cached_sample() -> None:
    results = [
        JudgeResult(status="scored", scores={"coverage": 0.5}, cached=True),
        JudgeResult(status="scored", scores={"coverage": 0.7}, cached=True),
    ]
    assert combine(results).cached is True
    assert combine([results[0], scored(0.5, 0.5)]).cached is False


@given(st.lists(st.floats(0, 1), min_size=2, max_size=20))
def test_the_mean_lies_within_the_repeats_and_ignores_their_order(values: list[float]) -> None:
    results = [JudgeResult(status="scored", scores={"coverage": v}) for v in values]
    mean = combine(results).scores["coverage"]
    assert min(values) - 1e-12 <= mean <= max(values) + 1e-12
    assert combine(results[::-1]).scores == combine(results).scores
