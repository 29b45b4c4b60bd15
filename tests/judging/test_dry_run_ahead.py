"""DryRunAhead: stored outputs scored a batch at a time, taken only for the very text."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmbench.benchmark.config import MetricConfig, ScenarioConfig
from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.errors import PromptError
from pytest_llmbench.judging.dry_run_ahead import DryRunAhead, Scored
from pytest_llmbench.judging.result import JudgeResult

DIGEST = ScenarioConfig(
    name="digest",
    dataset=Path("/data/digest.jsonl"),
    dataset_display="data/digest.jsonl",
    prompt="digest_judge@v1",
    judge="default",
    metrics=(MetricConfig("coverage", 0.8, 0.7),),
)
OTHER = ScenarioConfig(**{**DIGEST.__dict__, "name": "other"})


def sample(number: int, output: object = "text") -> Sample:
    return Sample(
        id=f"s-{number}", item_id=f"s-{number}", position=number, line=number, output=output
    )


class Scorer:
    """Scores every text with the length of its sample id; fails where it is told to."""

    def __init__(self, failing: dict[str, Exception] | None = None) -> None:
        self.failing = failing or {}
        self.scored: list[tuple[str, str, str]] = []

    def __call__(self, scenario: ScenarioConfig, one: Sample, text: str) -> Scored:
        self.scored.append((scenario.name, one.id, text))
        if one.id in self.failing:
            raise self.failing[one.id]
        return JudgeResult(status="scored", scores={"coverage": 0.5}), f"hash of {text}"


def test_an_item_takes_what_was_scored_ahead_for_its_very_text_once() -> None:
    scorer = Scorer()
    ahead = DryRunAhead(scorer)
    ahead.score([(DIGEST, sample(1), "text"), (DIGEST, sample(2), "")])
    assert scorer.scored == [("digest", "s-1", "text"), ("digest", "s-2", "")]
    assert ahead.take(DIGEST, sample(1), "text") == (
        JudgeResult(status="scored", scores={"coverage": 0.5}),
        "hash of text",
    )
    assert ahead.take(DIGEST, sample(1), "text") is None  # taken: the item scores again
    assert ahead.take(DIGEST, sample(2), "")[1] == "hash of "  # type: ignore[index]
    assert not ahead.stopped(DIGEST)


def test_a_body_judging_other_text_stops_its_scenario_and_drops_its_batch() -> None:
    ahead = DryRunAhead(Scorer())
    ahead.score(
        [(DIGEST, sample(1), "text"), (DIGEST, sample(2), "text"), (OTHER, sample(3), "text")]
    )
    assert ahead.take(DIGEST, sample(1), "text, edited") is None
    assert ahead.stopped(DIGEST)
    assert not ahead.has(DIGEST, sample(2))
    assert not ahead.stopped(OTHER)
    assert ahead.has(OTHER, sample(3))


def test_a_prompt_error_met_ahead_is_raised_by_its_own_item() -> None:
    error = PromptError("prompts/digest_judge/v1.yaml: user: undefined variable rendering s-2")
    ahead = DryRunAhead(Scorer({"s-2": error}))
    ahead.score([(DIGEST, sample(n), "text") for n in (1, 2, 3)])
    assert ahead.take(DIGEST, sample(1), "text") is not None
    with pytest.raises(PromptError) as raised:
        ahead.take(DIGEST, sample(2), "text")
    assert raised.value is error
    assert ahead.take(DIGEST, sample(3), "text") is not None


def test_any_other_error_leaves_the_sample_to_its_item() -> None:
    ahead = DryRunAhead(Scorer({"s-1": RecursionError("deep")}))
    ahead.score([(DIGEST, sample(1), "text"), (DIGEST, sample(2), "text")])
    assert not ahead.has(DIGEST, sample(1))
    assert ahead.take(DIGEST, sample(1), "text") is None
    assert not ahead.stopped(DIGEST)
    assert ahead.has(DIGEST, sample(2))


def test_a_discarded_sample_is_forgotten() -> None:
    ahead = DryRunAhead(Scorer())
    ahead.score([(DIGEST, sample(1), "text")])
    ahead.discard(DIGEST, sample(1))
    assert not ahead.has(DIGEST, sample(1))
