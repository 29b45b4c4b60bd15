"""Problems are data: the sentences a record stores are rendered from fields that readers
(alerts, verdicts) use directly, and a block read back yields the same problems."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.records import FINGERPRINTS, entry

from pytest_llmbench.benchmark.rules import RegressionRules, UnscoredRules
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results import rederive
from pytest_llmbench.results.problems import Problem, scenario_problems, sentence
from pytest_llmbench.results.schema import SampleRecord, ScenarioRecord
from pytest_llmbench.results.stored_rules import default_rules

scores = st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=0, max_size=12)


def block(values: list[float | None], unjudged: int = 0) -> ScenarioRecord:
    samples: list[SampleRecord] = [entry(p, v) for p, v in enumerate(values)]
    for sample in samples[:unjudged]:
        sample["status"], sample["scores"] = "unscored", {}
        sample["reason"] = "budget exhausted: $0.0100 of $0.01 spent before this sample was judged"
        sample["reason_code"] = "budget_exhausted"
    return record_mod.summarize_scenario(
        "digest", samples, copy.deepcopy(FINGERPRINTS), default_rules(), record_mod.usage(samples, None)
    )


@given(scores, st.integers(0, 3))
def test_stored_sentences_are_the_problems_rendered_from_the_block(
    values: list[float | None], unjudged: int
) -> None:
    scenario = block(values, unjudged)
    assert [sentence(p) for p in scenario_problems("digest", scenario)] == scenario["problems"]


@given(scores, scores)
def test_regression_problems_round_trip_through_the_comparison(
    current: list[float | None], baseline: list[float | None]
) -> None:
    scenario, base = block(current), block(baseline)
    rederive.add_comparison(scenario, base, RegressionRules(min_samples=2), "digest")
    assert [sentence(p) for p in scenario_problems("digest", scenario)] == scenario["problems"]


def test_a_spent_budget_fails_the_scenario_by_its_reason_code() -> None:
    scenario = block([0.9, 0.9, 0.9, 0.9], unjudged=2)
    (budget,) = [p for p in scenario_problems("digest", scenario) if p.kind == "budget"]
    assert (budget.count, budget.severity, scenario["status"]) == (2, "fail", "fail")


def test_a_reason_that_merely_reads_like_the_budget_is_not_the_budget() -> None:
    scenario = block([0.9, 0.9, 0.9])
    first = scenario["samples"][0]
    first["status"], first["reason"] = "unscored", "budget exhausted, said the judge"
    first["reason_code"] = "judge"
    assert [p.kind for p in scenario_problems("digest", scenario)] == ["unscored"]


def test_warn_band_problems_are_minor_and_the_rest_serious() -> None:
    warn = Problem("band", "digest", "warn", metric="accuracy", value=0.75, band="…")
    assert not warn.serious
    assert all(
        Problem(kind, "digest", "fail").serious for kind in ("band", "budget", "no_data")
    )


@given(st.integers(0, 500), st.integers(0, 500), st.floats(0, 0.99) | st.integers(1, 50))
def test_more_samples_without_a_score_never_make_a_better_verdict(
    lost: int, more: int, edge: float
) -> None:
    rank = {"pass": 0, "warn": 1, "fail": 2}
    rules = UnscoredRules(warn=edge / 2, fail=edge)
    selected = 1000
    assert rank[rules.severity(lost, selected)] <= rank[rules.severity(lost + more, selected)]


@pytest.mark.parametrize(
    ("warn", "fail", "lost", "selected", "severity"),
    [
        (0, 0.05, 0, 12, "pass"),
        (0, 0.05, 1, 40, "warn"),  # 1 is over 0, not over 5% of 40 (2)
        (0, 0.05, 3, 40, "fail"),
        (2, 4, 2, 10, "pass"),  # strictly over: a count of 2 allows two
        (2, 4, 3, 10, "warn"),
        (2, 4, 5, 10, "fail"),
        (0.5, 0.5, 6, 12, "pass"),  # exactly half of 12 is not over half
    ],
)
def test_unscored_severity_at_its_edges(
    warn: float, fail: float, lost: int, selected: int, severity: str
) -> None:
    assert UnscoredRules(warn, fail).severity(lost, selected) == severity


# -- the judge's noise against the regression margin --------------------------------------


def repeated_block(spread: float, margin: float) -> ScenarioRecord:
    """Four samples judged three times: means 0.6 .. 0.9, each repeat `spread` either side."""
    samples: list[SampleRecord] = []
    for position, mean in enumerate((0.6, 0.7, 0.8, 0.9)):
        sample = entry(position, mean)
        sample["repeats"] = [
            {"scores": {"accuracy": mean + d}, "status": "scored"} for d in (-spread, 0, spread)
        ]
        samples.append(sample)
    rules = default_rules()
    rules["regression"]["default_margin"] = margin
    return record_mod.summarize_scenario(
        "digest", samples, copy.deepcopy(FINGERPRINTS), rules, record_mod.usage(samples, None)
    )


def test_a_margin_below_the_judges_resolution_is_noted_and_changes_no_verdict() -> None:
    # noise SD 0.05 over 12 judgements: 1.96 * 0.05 * sqrt(2 / 12) = 0.040
    scenario = repeated_block(0.05, margin=0.02)
    metric = scenario["metrics"]["accuracy"]
    assert metric["noise_sd"] == pytest.approx(0.05)
    assert metric["resolution"] == pytest.approx(0.0400, abs=1e-4)
    assert metric["agreement"]["method"] == "ICC(1)"
    assert metric["agreement"]["value"] == pytest.approx(19 / 22)
    assert (metric["agreement"]["samples"], metric["agreement"]["repeats"]) == (4, 3.0)
    assert scenario["problems"][-1] == (
        "accuracy of digest: margin 0.02 is below the judge's noise: this gate cannot tell "
        "(noise SD 0.050; at n = 4 a change under 0.040 is within it: raise the margin, the "
        "samples or repeats:)"
    )
    (noise,) = [p for p in scenario_problems("digest", scenario) if p.kind == "noise"]
    assert (noise.severity, noise.serious) == ("note", False)
    # the same block with a margin the judge can resolve: no note, and the same verdict
    resolved = repeated_block(0.05, margin=0.05)
    assert [p.kind for p in scenario_problems("digest", resolved)] == ["band"]
    assert resolved["status"] == scenario["status"] == "warn"  # 0.75 is in its warn band


def test_a_block_without_repeats_has_no_noise_figures() -> None:
    scenario = block([0.9, 0.8, 0.85])
    assert not {"noise_sd", "agreement", "resolution"} & set(scenario["metrics"]["accuracy"])
